//! `ReceiveShareRequest`: share requests dropped on the `share-requests` queue by automation.
//!
//! The same document, validation and allow-list as `POST /api/share-requests`. The message's
//! `Idempotency-Key` property, or else its MessageId, is the idempotency key, so a redelivered
//! or re-sent message never starts a second request. A message that can never succeed is
//! stored as a `Rejected` request with its reasons, announced, and completed; only transient
//! failures are left to Service Bus redelivery.

use axum::{body::Bytes, extract::State, response::Response};
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
    let Some(key) = key else {
        warn!(
            "a queued share request has neither an Idempotency-Key property nor a usable MessageId"
        );
        return InvocationReply::with_logs(vec![
            "ReceiveShareRequest: no idempotency key; message dropped".into(),
        ])
        .done();
    };
    let origin = Origin::Queue {
        idempotency_key: key.clone(),
        reply_to: message.reply_to.clone(),
        correlation_id: message.correlation_id.clone(),
    };

    let parsed = match message.content_type.as_deref() {
        // Automation may leave ContentType unset; the body must still be JSON.
        Some(content_type) => check_content_type(Some(content_type))
            .and_then(|()| parse(&message.body, &ctx.settings.catalog)),
        None => parse(&message.body, &ctx.settings.catalog),
    };
    match parsed {
        Ok(accepted) => match admit(
            &ctx,
            accepted,
            origin.clone(),
            Some(&key),
            Actor::Queue,
            invocation_id.clone(),
        )
        .await
        {
            Ok(admission) => {
                let id = admission.request().id;
                info!(request_id = %id, "queued share request admitted");
                InvocationReply::with_logs(vec![format!(
                    "ReceiveShareRequest: request {id} admitted"
                )])
                .done()
            }
            // Another active request holds the VM: that never changes for this message, so
            // it is recorded as a rejection with the reason (Service Bus is not asked again).
            Err(e @ AdmitError::VmBusy { .. }) => {
                let refusal = Refusal {
                    reason: e.to_string(),
                    problems: vec![FieldIssue {
                        pointer: "#/vm/name".into(),
                        detail: e.to_string(),
                    }],
                };
                recorded_rejection(&ctx, &key, origin, &refusal, invocation_id).await
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
        },
        Err(error) => {
            recorded_rejection(&ctx, &key, origin, &Refusal::of(&error), invocation_id).await
        }
    }
}

/// Why a queued document is rejected, as the rejection record keeps it.
struct Refusal {
    reason: String,
    problems: Vec<FieldIssue>,
}

impl Refusal {
    fn of(error: &IntakeError) -> Self {
        let mut problems: Vec<FieldIssue> = error
            .problems()
            .into_iter()
            .map(|p| FieldIssue {
                pointer: p.pointer,
                detail: p.detail,
            })
            .collect();
        if problems.is_empty() {
            problems.push(FieldIssue {
                pointer: "#".into(),
                detail: error.to_string(),
            });
        }
        Self {
            reason: error.to_string(),
            problems,
        }
    }
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
            info!(request_id = %id, reason = %refusal.reason, "queued share request rejected");
            InvocationReply::with_logs(vec![format!(
                "ReceiveShareRequest: request {id} rejected: {}",
                refusal.reason
            )])
            .done()
        }
        Err(e) => {
            warn!(error = %e, "could not record a rejection; it will be redelivered");
            InvocationReply::with_logs(vec![format!("ReceiveShareRequest: {e}")]).retry()
        }
    }
}

/// Stores and announces a rejection. Repeats (redeliveries) store nothing new.
async fn reject(
    ctx: &AppContext,
    key: &str,
    origin: Origin,
    refusal: &Refusal,
    invocation_id: Option<String>,
) -> Result<RequestId, anyhow::Error> {
    let id = RequestId::for_idempotency_key(key);
    let now = ctx.clock.now();
    let rejected = RejectedRequest {
        id,
        origin,
        received_at: now,
        reason: refusal.reason.clone(),
        problems: refusal.problems.clone(),
    };
    let entry = HistoryEntry {
        seq: 1,
        at: now,
        event: "rejected".into(),
        state: RequestState::Rejected,
        actor: Actor::Queue,
        detail: format!("The queued share request was rejected: {}", refusal.reason),
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
