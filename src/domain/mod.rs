//! The share request and the validated values it is made of.
//!
//! Every type here checks its invariant when it is built and cannot hold an invalid value
//! afterwards: the rest of the code never re-validates.

mod caller;
mod delegation;
mod direct_share;
mod email;
mod guest;
mod guid;
mod history;
mod image;
mod outbox;
mod progress;
mod rejected;
mod resource_id;
mod revocation;
mod share_request;
mod ssh;
mod state;
mod step_message;
mod strategy;
mod vm;

pub use caller::Caller;
pub use delegation::{
    ConsumerPrincipal, DISPLAY_NAME_MAX_CHARS, DelegationPlan, DelegationRecord, PrincipalKind,
};
pub use direct_share::{DirectSharePlan, DirectShareRecord};
pub use email::EmailAddress;
pub use guest::{GuestPlan, GuestRecord};
pub use guid::{RequestId, SubscriptionId, TenantId};
pub use history::{Actor, HistoryEntry};
pub use image::{ImageCatalog, ImageRef, NotAllowed};
pub use outbox::{Outbox, PendingMessage};
pub use progress::{
    AccessRecord, AdminGrant, AppRecord, CallbackRecord, ConsentRecord, CredentialRecord, Delivery,
    Intent, LastError, NetworkOperation, OneVisit, Progress, Rechecks, VmChecks, VmRecord,
    superseded,
};
pub use rejected::{FieldIssue, RejectedRequest};
pub use resource_id::{ImageVersionId, ResourceGroupName, ResourceId, SubnetId};
pub use revocation::{
    AccessRelease, Kept, Removable, Removal, RemovalOutcome, RemovalService, RevocationRecord,
};
pub use share_request::{Consumer, EventContext, Origin, ShareRequest, Submission, VmSpec};
pub use ssh::SshPublicKey;
pub use state::{IllegalTransition, State, Step, StepTimes};
pub use step_message::StepMessage;
pub use strategy::{Machine, Strategy};
pub use vm::{AdminUsername, Location, VmName, VmSize};

/// Why a value was refused. The message is written for the person who sent it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct Invalid(pub String);

impl Invalid {
    pub(crate) fn new(message: impl Into<String>) -> Self {
        Self(message.into())
    }
}
