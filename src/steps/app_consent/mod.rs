//! The `app-consent` strategy (the seed's method 1, アプリ登録): a multi-tenant app in the
//! owner's tenant with a federated credential and Reader on the image, the consumer admin's
//! approval and consent, their role grant, and the VM created with the owner tenant's
//! auxiliary token. Its steps, in order: IssueCredentials, SendConsentLink, ConfirmConsent,
//! CreateVm; after the end, ReleaseAccess; on DELETE, RevokeAccess.

mod access;
mod confirm_consent;
mod create_vm;
mod entra_codes;
mod grant_seen;
mod issue_credentials;
mod release_access;
mod revoke_access;
pub(crate) mod send_consent_link;

/// Ends a request whose admin did not answer in time (the reconciler's `Expire`).
pub(super) use confirm_consent::expire;

/// The VM section of an app-consent request. Intake requires one for this strategy, so a
/// request without it is a record this version cannot act on.
fn vm_of(request: &crate::domain::ShareRequest) -> Result<&crate::domain::VmSpec, StepError> {
    request.vm.as_ref().ok_or_else(|| {
        StepError::terminal(
            "The request has no 'vm' section; app-consent creates a VM and needs one.",
        )
    })
}

// The shared step machinery, under the names the steps below use (`super::Run`, ...).
use super::{
    Outcome, Run, StepError, already_done, direct_share, lock, notify, rechecks, record, schedule,
};
use crate::domain::Step;

/// Runs one of this strategy's steps.
pub(super) async fn run(step: Step, run: &Run<'_>) -> Result<Outcome, StepError> {
    match step {
        Step::IssueCredentials => issue_credentials::run(run).await,
        Step::SendConsentLink => send_consent_link::run(run).await,
        Step::ConfirmConsent => confirm_consent::run(run).await,
        Step::CreateVm => create_vm::run(run).await,
        Step::RevokeAccess => revoke_access::run(run).await,
        Step::ReleaseAccess => release_access::run(run).await,
        other => Ok(Outcome::Stale(format!(
            "{} is a step of another strategy",
            other.queue()
        ))),
    }
}
