//! `ReceiveShareRequest`: share requests dropped on the `share-requests` queue by automation.
//!
//! The same document, validation and allow-list as `POST /api/share-requests`. The message's
//! `Idempotency-Key` property, or else its MessageId, is the idempotency key, so a redelivered
//! or re-sent message never starts a second request. A message that can never succeed is
//! stored as a `Rejected` request with its reasons, announced, and completed; only transient
//! failures are left to Service Bus redelivery. A message without a usable key is one of
//! those: it is rejected under the stand-in key `sha256:<hex of its body>`.

use axum::{body::Bytes, extract::State, response::Response};
use sha2::{Digest, Sha256};
use tracing::{info, warn};

use super::{AdmitError, IntakeError, admit, check_content_type, parse};
use crate::{
    context::AppContext,
    domain::{
        Actor, FieldIssue, HistoryEntry, Origin, RejectedRequest, RequestId, State as RequestState,
    },
    events,
    functions::QUEUE_BINDING,
    invocation::{
        BodyEncoding, InvocationId, InvocationReply, InvocationRequest, ServiceBusMessage,
    },
    store::RejectedCreated,
};

/// The application property automation may set instead of relying on MessageId.
pub const IDEMPOTENCY_PROPERTY: &str = "Idempotency-Key";

fn valid_key(key: &str) -> bool {
    (1..=255).contains(&key.len()) && key.bytes().all(|b| b.is_ascii_graphic())
}

/// Handles `POST /ReceiveShareRequest`.
pub async fn receive(
    State(ctx): State<AppContext>,
    InvocationId(invocation_id): InvocationId,
    body: Bytes,
) -> Response {
    let message = match InvocationRequest::from_slice(&body).and_then(|envelope| {
        ServiceBusMessage::decode(&envelope, QUEUE_BINDING, BodyEncoding::Binary)
    }) {
        Ok(message) => message,
        Err(e) => {
            // The host's envelope itself is unreadable: not the sender's fault, not ours to
            // drop. Failing lets Service Bus dead-letter it for a person to look at.
            warn!(error = %e, "undecodable ReceiveShareRequest invocation");
            return InvocationReply::with_logs(vec![format!("ReceiveShareRequest: {e}")]).retry();
        }
    };
    let key = message
        .property(IDEMPOTENCY_PROPERTY)
        .filter(|k| valid_key(k))
        .or_else(|| message.message_id.clone().filter(|k| valid_key(k)));
    let missing_key = key.is_none().then(|| missing_key_reason(&message));
    // Without a key a redelivery could not be told from a new request, so the message can
    // never start one; it is rejected under a key its own bytes give, so that every
    // delivery of it finds the same record (README, "Submitting a share request (Service Bus)").
    let key = key.unwrap_or_else(|| body_key(&message.body));
    let origin = Origin::Queue {
        idempotency_key: key.clone(),
        reply_to: message.reply_to.clone(),
        correlation_id: message.correlation_id.clone(),
    };

    let parsed = match message.content_type.as_deref() {
        // Automation may leave ContentType unset; the body must still be JSON.
        Some(content_type) => check_content_type(Some(content_type))
            .and_then(|()| parse(&message.body, &ctx.settings)),
        None => parse(&message.body, &ctx.settings),
    };
    let refusal = match (missing_key, parsed) {
        (None, Ok(accepted)) => {
            return admit_queued(&ctx, accepted, origin, &key, invocation_id).await;
        }
        (None, Err(document)) => Refusal::Document(document),
        (Some(reason), document) => Refusal::NoKey {
            reason,
            document: document.err(),
        },
    };
    recorded_rejection(&ctx, &key, origin, &refusal, invocation_id).await
}

/// Records a rejection and answers the host: done once recorded, retried if the record
/// could not be written.
async fn recorded_rejection(
    ctx: &AppContext,
    key: &str,
    origin: Origin,
    refusal: &Refusal,
    invocation_id: Option<String>,
) -> Response {
    match reject(ctx, key, origin, refusal, invocation_id).await {
        Ok(id) => {
            info!(request_id = %id, error = %refusal, "queued share request rejected");
            InvocationReply::with_logs(vec![format!(
                "ReceiveShareRequest: request {id} rejected: {refusal}"
            )])
            .done()
        }
        Err(e) => {
            warn!(error = %e, "could not record a rejection; it will be redelivered");
            InvocationReply::with_logs(vec![format!("ReceiveShareRequest: {e}")]).retry()
        }
    }
}

/// Why a message has no usable idempotency key, for its sender.
fn missing_key_reason(message: &ServiceBusMessage) -> String {
    if message
        .shadowed_keys
        .iter()
        .any(|k| k.eq_ignore_ascii_case("MessageId"))
    {
        return format!(
            "the body has a top-level field named MessageId, which the Functions host copies over the message's own MessageId, so neither can be trusted as the idempotency key; set the '{IDEMPOTENCY_PROPERTY}' application property"
        );
    }
    format!(
        "the message has neither an '{IDEMPOTENCY_PROPERTY}' application property nor a MessageId of 1 to 255 visible ASCII characters"
    )
}

/// The stand-in key of a message without one: `sha256:` and the hex digest of its body.
/// Stable across redeliveries, computable by the sender, and never a valid key's twin by
/// accident (a sender would have to choose exactly this text as a MessageId).
fn body_key(body: &[u8]) -> String {
    let digest = Sha256::digest(body);
    let hex: String = digest.iter().map(|b| format!("{b:02x}")).collect();
    format!("sha256:{hex}")
}

/// Why a queued message is rejected.
#[derive(Debug, thiserror::Error)]
enum Refusal {
    /// The document is at fault.
    #[error(transparent)]
    Document(IntakeError),
    /// There is no idempotency key (and perhaps the document is at fault as well).
    #[error("{reason}{}", document.as_ref().map(|d| format!("; also, {d}")).unwrap_or_default())]
    NoKey {
        reason: String,
        document: Option<IntakeError>,
    },
    /// Another active request holds the VM: that never changes for this message.
    #[error("{0}")]
    VmBusy(String),
    /// The consumer tenant is the owner's: that never changes for this message.
    #[error("{0}")]
    SameTenant(String),
}

impl Refusal {
    /// The field-level problems, the message-level one (`#`) last.
    fn problems(&self) -> Vec<FieldIssue> {
        let issue = |pointer: String, detail: String| FieldIssue { pointer, detail };
        let (document, whole) = match self {
            Self::Document(d) => (Some(d), None),
            Self::NoKey { reason, document } => (document.as_ref(), Some(reason.clone())),
            Self::VmBusy(reason) => return vec![issue("#/vm/name".into(), reason.clone())],
            Self::SameTenant(reason) => {
                return vec![issue("#/consumer/tenantId".into(), reason.clone())];
            }
        };
        let mut problems: Vec<FieldIssue> = document
            .map(IntakeError::problems)
            .unwrap_or_default()
            .into_iter()
            .map(|p| issue(p.pointer, p.detail))
            .collect();
        if let Some(d) = document.filter(|d| d.problems().is_empty()) {
            problems.push(issue("#".into(), d.to_string()));
        }
        if let Some(reason) = whole {
            problems.push(issue("#".into(), reason));
        }
        problems
    }
}

/// Admits a valid, keyed document; only a key reused for another document is final.
async fn admit_queued(
    ctx: &AppContext,
    accepted: super::Accepted,
    origin: Origin,
    key: &str,
    invocation_id: Option<String>,
) -> Response {
    match admit(
        ctx,
        accepted,
        origin.clone(),
        Some(key),
        Actor::Queue,
        None,
        invocation_id.clone(),
    )
    .await
    {
        Ok(admission) => {
            let id = admission.request().id;
            info!(request_id = %id, "queued share request admitted");
            InvocationReply::with_logs(vec![format!("ReceiveShareRequest: request {id} admitted")])
                .done()
        }
        Err(e @ AdmitError::VmBusy { .. }) => {
            let refusal = Refusal::VmBusy(e.to_string());
            recorded_rejection(ctx, key, origin, &refusal, invocation_id).await
        }
        Err(e @ AdmitError::SameTenant(_)) => {
            let refusal = Refusal::SameTenant(e.to_string());
            recorded_rejection(ctx, key, origin, &refusal, invocation_id).await
        }
        Err(AdmitError::KeyReused(id)) => {
            warn!(request_id = %id, "a queued share request reuses the key of a different one");
            InvocationReply::with_logs(vec![format!(
                "ReceiveShareRequest: key '{key}' already names request {id} with different content; message dropped"
            )])
            .done()
        }
        Err(e) => {
            warn!(error = %e, "could not admit a queued share request; it will be redelivered");
            InvocationReply::with_logs(vec![format!("ReceiveShareRequest: {e}")]).retry()
        }
    }
}

/// Stores and announces a rejection. Repeats (redeliveries) store nothing new.
async fn reject(
    ctx: &AppContext,
    key: &str,
    origin: Origin,
    error: &Refusal,
    invocation_id: Option<String>,
) -> Result<RequestId, anyhow::Error> {
    let id = RequestId::for_idempotency_key(key);
    let problems = error.problems();
    let now = ctx.clock.now();
    let rejected = RejectedRequest {
        id,
        origin,
        received_at: now,
        reason: error.to_string(),
        problems,
    };
    let entry = HistoryEntry {
        seq: 1,
        at: now,
        event: "rejected".into(),
        state: RequestState::Rejected,
        actor: Actor::Queue,
        caller: None,
        detail: format!("The queued share request was rejected: {error}"),
        invocation_id,
    };
    match ctx.store.create_rejected(&rejected, &entry).await? {
        RejectedCreated::New => events::publish_rejected(ctx, &rejected, &entry).await?,
        // A redelivery: announce again (dropped as a duplicate if it went out).
        RejectedCreated::Existing(existing) => {
            let history = ctx.store.history(id).await?;
            if let Some(first) = history.first() {
                events::publish_rejected(ctx, &existing, first).await?;
            }
        }
        RejectedCreated::Taken => {
            warn!(request_id = %id, "an invalid queued document reuses the key of a valid request");
        }
    }
    Ok(id)
}
