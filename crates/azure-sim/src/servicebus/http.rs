//! The Service Bus REST surface: send, peek-lock, receive-and-delete and lock operations,
//! with SAS or Entra authorization, answered in Service Bus' own shapes.

use std::time::Duration as StdDuration;

use axum::response::Response;
use bytes::Bytes;
use http::{Method, StatusCode};
use time::OffsetDateTime;

use super::{
    auth::{self, Right},
    broker::{BrokerError, Incoming, LockAction, Message, ReceiveMode},
};
use crate::{
    context::SimContext,
    request::{HostFamily, HostRequest, family, respond},
    service::HostService,
    timefmt,
};

/// The simulated Service Bus data plane.
#[derive(Debug, Default)]
pub struct ServiceBus;

/// Service Bus answers a receive with no `timeout` after this long.
const DEFAULT_TIMEOUT_SECONDS: i64 = 60;

enum Operation {
    Send { entity: String },
    Receive { entity: String, mode: ReceiveMode },
    Lock(LockRef),
}

/// A lock URI's parts and what to do with it.
struct LockRef {
    entity: String,
    message: String,
    token: String,
    action: LockAction,
}

/// Splits `/{entity...}/messages[/head | /{id}/{lock}]` into an operation.
fn parse(method: &Method, path: &str) -> Option<Operation> {
    let segments: Vec<&str> = path.trim_matches('/').split('/').collect();
    let n = segments.len();
    let entity = |upto: usize| (upto > 0).then(|| segments[..upto].join("/"));
    if n >= 2 && segments[n - 1].eq_ignore_ascii_case("messages") && *method == Method::POST {
        return Some(Operation::Send {
            entity: entity(n - 1)?,
        });
    }
    if n >= 3
        && segments[n - 2].eq_ignore_ascii_case("messages")
        && segments[n - 1].eq_ignore_ascii_case("head")
    {
        let mode = match *method {
            Method::POST => ReceiveMode::PeekLock,
            Method::DELETE => ReceiveMode::ReceiveAndDelete,
            _ => return None,
        };
        return Some(Operation::Receive {
            entity: entity(n - 2)?,
            mode,
        });
    }
    if n >= 4 && segments[n - 3].eq_ignore_ascii_case("messages") {
        let action = match *method {
            Method::DELETE => LockAction::Complete,
            Method::PUT => LockAction::Abandon,
            Method::POST => LockAction::Renew,
            _ => return None,
        };
        return Some(Operation::Lock(LockRef {
            entity: entity(n - 3)?,
            message: segments[n - 2].to_owned(),
            token: segments[n - 1].to_owned(),
            action,
        }));
    }
    None
}

/// Service Bus' error body: `<Error><Code>..</Code><Detail>..</Detail></Error>`.
pub(super) fn error(
    status: StatusCode,
    detail: &str,
    req: &HostRequest,
    now: OffsetDateTime,
) -> Response {
    let body = format!(
        "<Error><Code>{}</Code><Detail>{} TrackingId:{}_G0, SystemTracker:{}:{}, Timestamp:{}</Detail></Error>",
        status.as_u16(),
        xml_escape(detail),
        req.request_id,
        req.host,
        xml_escape(req.path.trim_start_matches('/')),
        timefmt::graph_seconds(now).trim_end_matches('Z'),
    );
    respond(
        status,
        &[
            ("content-type", "application/xml; charset=utf-8".to_owned()),
            ("server", "Microsoft-HTTPAPI/2.0".to_owned()),
            ("strict-transport-security", "max-age=31536000".to_owned()),
            ("date", timefmt::rfc1123(now)),
        ],
        body,
    )
}

fn xml_escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}

fn etag(now: OffsetDateTime) -> String {
    // .NET ticks of the time, as Service Bus' ETag shows.
    let ticks = (now.unix_timestamp_nanos() / 100) + 621_355_968_000_000_000;
    ticks.to_string()
}

fn empty(status: StatusCode, now: OffsetDateTime) -> Response {
    respond(
        status,
        &[
            ("content-type", "application/xml; charset=utf-8".to_owned()),
            ("etag", etag(now)),
            ("server", "Microsoft-HTTPAPI/2.0".to_owned()),
            ("strict-transport-security", "max-age=31536000".to_owned()),
            ("date", timefmt::rfc1123(now)),
        ],
        Bytes::new(),
    )
}

/// Headers that are transport or protocol, not custom message properties.
fn is_custom_property(name: &str) -> bool {
    !matches!(
        name,
        "authorization"
            | "brokerproperties"
            | "content-type"
            | "content-length"
            | "host"
            | "user-agent"
            | "accept"
            | "accept-encoding"
            | "connection"
            | "transfer-encoding"
            | "te"
            | "expect"
            | "date"
            | "cookie"
            | "traceparent"
            | "tracestate"
            | "request-id"
            | "keep-alive"
    ) && !name.starts_with("x-ms-")
        && !name.starts_with("x-forwarded-")
}

impl ServiceBus {
    fn send(
        ctx: &SimContext,
        req: &HostRequest,
        namespace: &str,
        entity: &str,
        now: OffsetDateTime,
    ) -> Response {
        let properties = match req.header("brokerproperties") {
            None => serde_json::Map::new(),
            Some(text) => match serde_json::from_str::<serde_json::Value>(text) {
                Ok(serde_json::Value::Object(map)) => map,
                _ => {
                    return error(
                        StatusCode::BAD_REQUEST,
                        "The value of the BrokerProperties header is not a valid JSON object.",
                        req,
                        now,
                    );
                }
            },
        };
        let custom = req
            .headers
            .iter()
            .filter(|(name, _)| is_custom_property(name.as_str()))
            .filter_map(|(name, value)| {
                Some((name.as_str().to_owned(), value.to_str().ok()?.to_owned()))
            })
            .collect();
        let incoming = Incoming {
            body: req.body.clone(),
            content_type: req.header("content-type").map(str::to_owned),
            properties,
            custom,
        };
        let result = {
            let mut world = ctx.world();
            match world.namespaces.get_mut(namespace) {
                Some(ns) => ns.send(entity, incoming, now),
                None => Err(BrokerError::NoSuchEntity(entity.to_owned())),
            }
        };
        match result {
            Ok(_) => {
                ctx.broker_changed.changed(namespace, entity);
                empty(StatusCode::CREATED, now)
            }
            Err(e) => broker_error(&e, req, namespace, now, false),
        }
    }

    async fn receive(
        ctx: &SimContext,
        req: &HostRequest,
        namespace: &str,
        entity: &str,
        mode: ReceiveMode,
    ) -> Response {
        let timeout = req
            .query_param("timeout")
            .and_then(|t| t.parse::<i64>().ok())
            .unwrap_or(DEFAULT_TIMEOUT_SECONDS)
            .clamp(0, 3600);
        let deadline = ctx.now() + time::Duration::seconds(timeout);
        let signal = ctx.broker_changed.of(namespace, entity);
        loop {
            let broker_changed = signal.notified();
            let clock_changed = ctx.clock.changed().notified();
            tokio::pin!(broker_changed, clock_changed);
            broker_changed.as_mut().enable();
            clock_changed.as_mut().enable();
            let now = ctx.now();
            let result = {
                let mut world = ctx.world();
                match world.namespaces.get_mut(namespace) {
                    Some(ns) => ns.receive(entity, mode, now),
                    None => Err(BrokerError::NoSuchEntity(entity.to_owned())),
                }
            };
            match result {
                Ok(Some(message)) => return delivered(&message, namespace, entity, mode, now),
                Ok(None) => {}
                Err(e) => return broker_error(&e, req, namespace, now, false),
            }
            let remaining = deadline - now;
            if remaining <= time::Duration::ZERO {
                return empty(StatusCode::NO_CONTENT, now);
            }
            // Re-check at least every second: locks expire and schedules come due with time.
            let wait = StdDuration::from_millis(
                u64::try_from(remaining.whole_milliseconds().clamp(1, 1000)).unwrap_or(1000),
            );
            tokio::select! {
                () = &mut broker_changed => {}
                () = &mut clock_changed => {}
                () = tokio::time::sleep(wait) => {}
            }
        }
    }

    fn lock(
        ctx: &SimContext,
        req: &HostRequest,
        namespace: &str,
        lock: &LockRef,
        now: OffsetDateTime,
    ) -> Response {
        let LockRef {
            entity,
            message,
            token,
            action,
        } = lock;
        let action = *action;
        let result = {
            let mut world = ctx.world();
            match world.namespaces.get_mut(namespace) {
                Some(ns) => ns.lock_action(entity, message, token, action, now),
                None => Err(BrokerError::NoSuchEntity(entity.to_owned())),
            }
        };
        match result {
            Ok(_) => {
                if action == LockAction::Abandon {
                    ctx.broker_changed.changed(namespace, entity);
                }
                empty(StatusCode::OK, now)
            }
            Err(e) => broker_error(&e, req, namespace, now, true),
        }
    }
}

fn broker_error(
    e: &BrokerError,
    req: &HostRequest,
    namespace: &str,
    now: OffsetDateTime,
    lock_op: bool,
) -> Response {
    match e {
        BrokerError::NoSuchEntity(path) => error(
            // Lock operations report a missing entity as 410 Gone (REST reference).
            if lock_op {
                StatusCode::GONE
            } else {
                StatusCode::NOT_FOUND
            },
            &format!(
                "The messaging entity 'sb://{namespace}.servicebus.windows.net/{path}' could not be found. To know more visit https://aka.ms/sbResourceMgrExceptions."
            ),
            req,
            now,
        ),
        BrokerError::LockLost => error(
            StatusCode::NOT_FOUND,
            "The lock supplied is invalid. Either the lock expired, or the message has already been removed from the queue.",
            req,
            now,
        ),
        BrokerError::ReceiveFromTopic => error(
            StatusCode::BAD_REQUEST,
            "Cannot receive messages from a topic; receive from one of its subscriptions.",
            req,
            now,
        ),
        BrokerError::SendNotAllowed(path) => error(
            StatusCode::BAD_REQUEST,
            &format!("Cannot send messages to '{path}'."),
            req,
            now,
        ),
    }
}

fn delivered(
    message: &Message,
    namespace: &str,
    entity: &str,
    mode: ReceiveMode,
    now: OffsetDateTime,
) -> Response {
    let mut headers: Vec<(&str, String)> = vec![
        ("brokerproperties", message.broker_properties()),
        (
            "content-type",
            message
                .content_type
                .clone()
                .unwrap_or_else(|| "application/atom+xml;type=entry;charset=utf-8".to_owned()),
        ),
        ("etag", etag(now)),
        ("server", "Microsoft-HTTPAPI/2.0".to_owned()),
        ("strict-transport-security", "max-age=31536000".to_owned()),
        ("date", timefmt::rfc1123(now)),
    ];
    if let (ReceiveMode::PeekLock, Some(lock)) = (mode, &message.lock) {
        headers.push((
            "location",
            format!(
                "https://{namespace}.servicebus.windows.net/{}/messages/{}/{}",
                entity.trim_matches('/'),
                message.sequence_number,
                lock.token
            ),
        ));
    }
    let mut response = respond(
        if mode == ReceiveMode::PeekLock {
            StatusCode::CREATED
        } else {
            StatusCode::OK
        },
        &headers,
        message.body.clone(),
    );
    for (name, value) in &message.custom {
        if let (Ok(name), Ok(value)) = (
            http::HeaderName::from_bytes(name.as_bytes()),
            http::HeaderValue::from_str(value),
        ) {
            response.headers_mut().append(name, value);
        }
    }
    response
}

#[async_trait::async_trait]
impl HostService for ServiceBus {
    fn name(&self) -> &'static str {
        "servicebus"
    }

    fn serves(&self, host: &str) -> bool {
        matches!(family(host), HostFamily::ServiceBus(_))
    }

    async fn handle(&self, ctx: SimContext, req: HostRequest) -> Response {
        let now = ctx.now();
        let HostFamily::ServiceBus(namespace) = family(&req.host) else {
            return error(StatusCode::NOT_FOUND, "Not a Service Bus host.", &req, now);
        };
        let Some(operation) = parse(&req.method, &req.path) else {
            return error(
                StatusCode::BAD_REQUEST,
                "azure-sim serves only message operations (send, peek-lock, receive-and-delete, lock URIs); declare entities in the scenario.",
                &req,
                now,
            );
        };
        let right = match operation {
            Operation::Send { .. } => Right::Send,
            _ => Right::Listen,
        };
        if let Err(response) = auth::authorize(&ctx, &req, &namespace, right, now) {
            return response;
        }
        match operation {
            Operation::Send { entity } => Self::send(&ctx, &req, &namespace, &entity, now),
            Operation::Receive { entity, mode } => {
                Self::receive(&ctx, &req, &namespace, &entity, mode).await
            }
            Operation::Lock(lock) => Self::lock(&ctx, &req, &namespace, &lock, now),
        }
    }
}
