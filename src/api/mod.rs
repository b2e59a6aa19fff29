//! The HTTP functions, served on their original paths (the host forwards them as they are).

mod answers;
mod approval;
mod consent_callback;
mod consent_link;
mod delegation_done;
mod one_visit;
mod openapi;
mod plain_errors;
mod principal;
mod problem;
mod revoke;
mod share_requests;
mod status_page;

pub use approval::{FORM_MAX_BYTES as APPROVAL_FORM_MAX_BYTES, answer_approval, approval_page};
pub use consent_callback::consent_callback;
pub use consent_link::resend_consent_link;
pub use delegation_done::{
    FORM_MAX_BYTES as DELEGATION_DONE_FORM_MAX_BYTES, answer_delegation_done, delegation_done_page,
};
pub use openapi::{OPENAPI_DOCUMENT, openapi};
pub use plain_errors::problem_for_plain_errors;
pub use principal::{ApiCaller, PrincipalError, Role};
pub use problem::Problem;
pub use revoke::revoke_share_request;
pub use share_requests::{get_share_request, submit_share_request};
