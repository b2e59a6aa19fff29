//! Admitting a validated submission: store it (once per idempotency key) with its first step
//! message and `submitted` event in its outbox, then send them. Shared by the HTTP API and the
//! `share-requests` queue.

use tracing::info;

use super::{
    Accepted,
    claim::{self, Claimed},
};
use crate::{
    context::AppContext,
    domain::{Actor, Caller, EventContext, Origin, RequestId, ShareRequest, TenantId},
    outbox,
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
    /// The consumer tenant is the owner's own tenant. Sharing an image inside one tenant needs
    /// no cross-tenant app, and running this pipeline there would skip the consumer admin's
    /// consent entirely (the owner's operator identity already has its own access), so such a
    /// request is refused rather than given a path nobody approves.
    #[error(
        "the consumer tenant {0} is the image owner's own tenant; imageshare shares images with other tenants only (within one tenant, grant Reader on the gallery image and create the VM directly)"
    )]
    SameTenant(TenantId),
    /// Storage failed: nothing was stored (retry).
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// Stores `accepted` as a request (or finds the one `key` made) and sends its outbox: the first
/// step's message and the `submitted` event. Once stored, the request cannot be lost: what
/// fails to send stays in the outbox for the reconciler. Safe to repeat with the same key.
pub async fn admit(
    ctx: &AppContext,
    accepted: Accepted,
    origin: Origin,
    key: Option<&str>,
    actor: Actor,
    caller: Option<Caller>,
    invocation_id: Option<String>,
) -> Result<Admission, AdmitError> {
    let tenant = accepted.submission.consumer.tenant_id;
    if tenant == ctx.settings.owner_tenant {
        info!(%tenant, "share request refused: the consumer tenant is the owner's tenant");
        return Err(AdmitError::SameTenant(tenant));
    }
    let id = match (&origin, key) {
        (Origin::Http { .. }, Some(key)) => RequestId::for_http_idempotency_key(key),
        (Origin::Queue { .. }, Some(key)) => RequestId::for_idempotency_key(key),
        (_, None) => RequestId::new_random(),
    };
    let event = EventContext {
        at: ctx.clock.now(),
        actor,
        caller,
        invocation_id,
    };
    // One active request per VM. A request already stored under this id (a replay, or a
    // reused key) took or never needed the claim; only a new one claims.
    if let Some(vm_id) = claim::vm_resource_id(&accepted.submission)
        && ctx.store.get(id).await?.is_none()
        && let Claimed::Held(holder) = claim::claim_vm(ctx, &vm_id, id).await?
    {
        info!(request_id = %id, %holder, "share request refused: its VM is another active request's");
        return Err(AdmitError::VmBusy { vm_id, holder });
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
    // On a replay this repairs a crash between the store write and the send or publish;
    // duplicate detection drops what was already sent.
    let flushed = outbox::flush(ctx, admission.request(), std::slice::from_ref(&first)).await;
    if flushed.pending {
        info!(request_id = %id, "admitted; its first message or event waits in the outbox");
    }
    Ok(admission)
}
