//! Admitting a validated submission: store it (once per idempotency key), queue the first
//! step and announce it. Shared by the HTTP API and the `share-requests` queue.

use tracing::info;

use super::{
    Accepted,
    claim::{self, Claimed},
};
use crate::{
    context::AppContext,
    domain::{Actor, EventContext, Origin, RequestId, ShareRequest, State, Step},
    events::{self, PublishError},
    steps::{QueueError, StepMessage},
    store::{Created, StoreError},
};

/// A submission that is now a request.
#[derive(Debug)]
pub enum Admission {
    /// A new request.
    New(ShareRequest),
    /// The request this idempotency key already made, with the same content.
    Replay(ShareRequest),
}

impl Admission {
    /// The request.
    pub fn request(&self) -> &ShareRequest {
        match self {
            Self::New(r) | Self::Replay(r) => r,
        }
    }
}

/// Why a valid submission was not admitted.
#[derive(Debug, thiserror::Error)]
pub enum AdmitError {
    /// The idempotency key was used for a different submission.
    #[error("the idempotency key was already used for a different share request")]
    KeyReused(RequestId),
    /// Another request, still active, is creating the same VM.
    #[error(
        "share request {holder} is still active for the VM {vm_id}; submit again once it has ended"
    )]
    VmBusy {
        /// The VM's resource id.
        vm_id: String,
        /// The active request that holds it.
        holder: RequestId,
    },
    /// Storage failed (retry).
    #[error(transparent)]
    Store(#[from] StoreError),
    /// Queueing the first step failed (retry with the same key).
    #[error(transparent)]
    Queue(#[from] QueueError),
    /// Announcing it failed (retry with the same key).
    #[error(transparent)]
    Publish(#[from] PublishError),
}

/// Stores `accepted` as a request (or finds the one `key` made), queues its first step and
/// publishes its `submitted` event. Every part is safe to repeat with the same key.
pub async fn admit(
    ctx: &AppContext,
    accepted: Accepted,
    origin: Origin,
    key: Option<&str>,
    actor: Actor,
    invocation_id: Option<String>,
) -> Result<Admission, AdmitError> {
    let id = key.map_or_else(RequestId::new_random, RequestId::for_idempotency_key);
    let event = EventContext {
        at: ctx.clock.now(),
        actor,
        invocation_id,
    };
    // One active request per VM. A request already stored under this id (a replay, or a
    // reused key) took or never needed the claim; only a new one claims.
    if ctx.store.get(id).await?.is_none() {
        let vm_id = claim::vm_resource_id(&accepted.submission);
        if let Claimed::Held(holder) = claim::claim_vm(ctx, &vm_id, id).await? {
            info!(request_id = %id, %holder, "share request refused: its VM is another active request's");
            return Err(AdmitError::VmBusy { vm_id, holder });
        }
    }
    let (request, first) = ShareRequest::submit(
        id,
        accepted.submission,
        origin,
        accepted.fingerprint,
        &event,
    );
    let admission = match ctx
        .store
        .create(&request, std::slice::from_ref(&first))
        .await?
    {
        Created::New(_) => {
            info!(request_id = %id, "share request admitted");
            Admission::New(request)
        }
        Created::Existing(existing) if existing.request.fingerprint == request.fingerprint => {
            info!(request_id = %id, "idempotent replay of a share request");
            Admission::Replay(existing.request)
        }
        Created::Existing(_) | Created::Rejected => return Err(AdmitError::KeyReused(id)),
    };
    let request = admission.request();
    // On a replay this repairs a crash between the store write and the send or publish;
    // duplicate detection drops what was already sent.
    if request.state() == State::Submitted {
        ctx.queue
            .send(
                &StepMessage::first(request.id, Step::IssueCredentials),
                None,
            )
            .await?;
        events::publish(ctx, request, std::slice::from_ref(&first)).await?;
    }
    Ok(admission)
}
