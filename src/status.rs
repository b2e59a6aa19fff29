//! The status document: what a person (or automation) sees of a request. Never a secret.

use serde::Serialize;
use time::OffsetDateTime;

use crate::domain::{HistoryEntry, RequestId, ShareRequest, State, StepTimes};

/// Something a person has to do for the request to go on.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct NextAction {
    /// Who: `consumer-admin` or `operator`.
    pub actor: &'static str,
    /// What, in a sentence.
    pub description: String,
    /// Where to do it, when there is a link.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub url: Option<String>,
}

/// `GET /api/share-requests/{id}`.
#[derive(Clone, Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct StatusDocument {
    /// The request id.
    pub id: RequestId,
    /// Where it stands.
    pub state: State,
    /// What is happening now, in a sentence.
    pub summary: String,
    /// What a person must do next, if anything.
    pub next_action: Option<NextAction>,
    /// Why it failed or expired.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub failure: Option<String>,
    /// How the image is shared.
    pub strategy: crate::domain::Strategy,
    /// The consumer.
    pub consumer: ConsumerView,
    /// The image.
    pub image: ImageView,
    /// The VM.
    pub vm: VmView,
    /// When it was created.
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: OffsetDateTime,
    /// When it last changed.
    #[serde(with = "time::serde::rfc3339")]
    pub updated_at: OffsetDateTime,
    /// Per-step timestamps.
    pub steps: StepTimes,
    /// Everything that happened, oldest first.
    pub history: Vec<HistoryEntry>,
    /// Related URLs.
    pub links: Links,
}

/// The consumer part of the status document.
#[derive(Clone, Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ConsumerView {
    tenant_id: String,
    subscription_id: String,
    resource_group: String,
    admin_email: String,
}

/// The image part of the status document.
#[derive(Clone, Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ImageView {
    name: String,
    id: String,
}

/// The VM part of the status document.
#[derive(Clone, Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct VmView {
    name: String,
    size: String,
    location: String,
    admin_username: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    subnet_id: Option<String>,
}

/// Related URLs.
#[derive(Clone, Debug, Serialize)]
pub struct Links {
    /// This document.
    #[serde(rename = "self")]
    pub self_: String,
}

fn summary(state: State) -> &'static str {
    match state {
        State::Submitted => "Accepted; creating the app credentials in the image owner's tenant.",
        State::CredentialsIssued => {
            "App credentials ready; sending the consent link to the consumer's admin."
        }
        State::AwaitingConsent => "Waiting for the consumer's admin to consent to the app.",
        State::AwaitingRoleGrant => {
            "Consent given; waiting for the role grant on the consumer's resource group."
        }
        State::CreatingVm => {
            "Access confirmed; creating the network and the VM in the consumer's tenant."
        }
        State::Completed => "Done: the VM exists in the consumer's tenant.",
        State::Failed => "Stopped: see 'failure' for the reason.",
        State::Expired => "Stopped: the consumer's admin did not act before the deadline.",
        State::Rejected => "Refused: the request could not be processed.",
    }
}

impl StatusDocument {
    /// Builds the document of `request`; `self_url` is where it is served.
    pub fn build(request: &ShareRequest, history: Vec<HistoryEntry>, self_url: String) -> Self {
        Self {
            id: request.id,
            state: request.state(),
            summary: summary(request.state()).to_owned(),
            next_action: None,
            failure: request.failure.clone(),
            strategy: request.strategy,
            consumer: ConsumerView {
                tenant_id: request.consumer.tenant_id.to_string(),
                subscription_id: request.consumer.subscription_id.to_string(),
                resource_group: request.consumer.resource_group.to_string(),
                admin_email: request.consumer.admin_email.to_string(),
            },
            image: ImageView {
                name: request.image_name.clone(),
                id: request.image.to_string(),
            },
            vm: VmView {
                name: request.vm.name.to_string(),
                size: request.vm.size.to_string(),
                location: request.vm.location.to_string(),
                admin_username: request.vm.admin_username.to_string(),
                subnet_id: request.vm.subnet_id.as_ref().map(ToString::to_string),
            },
            created_at: request.created_at,
            updated_at: request.updated_at,
            steps: request.steps.clone(),
            history,
            links: Links { self_: self_url },
        }
    }
}
