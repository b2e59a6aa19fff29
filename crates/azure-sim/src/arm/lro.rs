//! Long-running operations in each provider's recorded style:
//! - Compute: `.../Microsoft.Compute/locations/{loc}/operations/{id}?p={guid}&api-version=`,
//!   `{startTime,status,name}` then `{startTime,endTime,status,name}`;
//! - Compute Gallery: `.../capsOperations/{id}` (and a `monitor=true` Location that answers an
//!   empty 200 when done);
//! - Network: `.../Microsoft.Network/locations/{loc}/operations/{id}`, `{"status":...}` only;
//! - Lighthouse: `.../Microsoft.ManagedServices/operationStatuses/{opaque base64}`;
//! - Deployments: `.../deployments/{name}/operationStatuses/{id}`, `Running` then `Succeeded`.
//!
//! An operation answers `InProgress` a set number of times, then ends. A GET of the resource it
//! provisions counts as an observation too, so a client that polls the resource also sees it end.

use base64::{Engine, engine::general_purpose::URL_SAFE_NO_PAD};
use http::StatusCode;
use serde_json::{Value, json};
use time::OffsetDateTime;

use super::{ArmError, Call, Reply, path, reply::compute_time};
use crate::context::World;

/// How an operation is addressed and reported.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Style {
    /// Compute (VMs): `operations/{id}?p={p}`.
    Compute {
        /// The `p` query parameter.
        p: String,
    },
    /// Compute Gallery: `capsOperations/{id}`.
    Caps,
    /// Network: `operations/{id}` and `operationResults/{id}`.
    Network,
    /// Lighthouse: `{scope}/providers/Microsoft.ManagedServices/operationStatuses/{token}`.
    ManagedServices {
        /// The scope the registration lives at.
        scope: String,
    },
    /// Deployments: `{deployment id}/operationStatuses/{id}`.
    Deployment {
        /// The deployment's id.
        deployment: String,
    },
    /// Resource Manager itself (resource group deletion): `/subscriptions/{s}/operationresults/{id}`.
    Subscription,
}

/// A running or finished operation.
#[derive(Debug, Clone)]
pub struct Operation {
    /// The id in its URL.
    pub id: String,
    /// Its style.
    pub style: Style,
    /// Subscription.
    pub subscription: String,
    /// Region in its URL.
    pub location: String,
    /// `api-version` of the request that started it.
    pub api_version: String,
    /// The resource it provisions or deletes.
    pub resource: Option<String>,
    /// Start time.
    pub started: OffsetDateTime,
    /// End time, once ended.
    pub ended: Option<OffsetDateTime>,
    /// `InProgress` answers left before it ends.
    pub remaining: u32,
    /// Polls answered so far.
    pub polls: u32,
    /// The body the resource gets when it succeeds (absent: provisioningState Succeeded).
    pub success_body: Option<Value>,
    /// `{"code","message"}` when it is to end Failed.
    pub failure: Option<Value>,
    /// The body the resource gets when it fails (absent: provisioningState Failed).
    pub failure_body: Option<Value>,
}

/// The URLs a client polls.
#[derive(Debug, Clone)]
pub struct Urls {
    /// `Azure-AsyncOperation`.
    pub async_operation: String,
    /// `Location` (a monitor URL).
    pub location: String,
}

const HOST: &str = "https://management.azure.com";

impl Operation {
    /// A new operation for `resource`.
    pub fn new(
        call: &Call<'_>,
        style: Style,
        location: &str,
        resource: Option<&str>,
        polls: u32,
    ) -> Self {
        let id = match &style {
            Style::ManagedServices { .. } => URL_SAFE_NO_PAD.encode(
                json!({
                    "fullyQualifiedResourceId": resource.unwrap_or_default(),
                    "jobId": format!("RegistrationAssignmentProvisioningJob:{}", uuid::Uuid::new_v4().simple()),
                })
                .to_string(),
            ),
            Style::Subscription => {
                URL_SAFE_NO_PAD.encode(format!("RGDELETE:{}", uuid::Uuid::new_v4().simple()))
            }
            Style::Deployment { .. } => {
                // Deployment operation ids are 20-digit numbers.
                let n = uuid::Uuid::new_v4().as_u128() % 100_000_000_000_000_000_000;
                format!("{n:020}")
            }
            _ => uuid::Uuid::new_v4().to_string(),
        };
        Self {
            id,
            style,
            subscription: call.path.subscription.clone().unwrap_or_default(),
            location: location.to_ascii_lowercase().replace(' ', ""),
            api_version: call.api_version.clone(),
            resource: resource.map(str::to_owned),
            started: call.now,
            ended: None,
            remaining: polls,
            polls: 0,
            success_body: None,
            failure: None,
            failure_body: None,
        }
    }

    /// Ends Failed with this error instead of Succeeded.
    #[must_use]
    pub fn failing(mut self, error: Option<Value>) -> Self {
        self.failure = error;
        self
    }

    /// The polling URLs.
    pub fn urls(&self) -> Urls {
        let (s, loc, id, v) = (
            &self.subscription,
            &self.location,
            &self.id,
            &self.api_version,
        );
        match &self.style {
            Style::Compute { p } => {
                let base = format!(
                    "{HOST}/subscriptions/{s}/providers/Microsoft.Compute/locations/{loc}/operations/{id}"
                );
                Urls {
                    async_operation: format!("{base}?p={p}&api-version={v}"),
                    location: format!("{base}?p={p}&monitor=true&api-version={v}"),
                }
            }
            Style::Caps => {
                let base = format!(
                    "{HOST}/subscriptions/{s}/providers/Microsoft.Compute/locations/{loc}/capsOperations/{id}"
                );
                Urls {
                    async_operation: format!("{base}?api-version={v}"),
                    location: format!("{base}?monitor=true&api-version={v}"),
                }
            }
            Style::Network => Urls {
                async_operation: format!(
                    "{HOST}/subscriptions/{s}/providers/Microsoft.Network/locations/{loc}/operations/{id}?api-version={v}"
                ),
                location: format!(
                    "{HOST}/subscriptions/{s}/providers/Microsoft.Network/locations/{loc}/operationResults/{id}?api-version={v}"
                ),
            },
            Style::ManagedServices { scope } => {
                let url = format!(
                    "{HOST}{scope}/providers/Microsoft.ManagedServices/operationStatuses/{id}?api-version={v}"
                );
                Urls {
                    async_operation: url.clone(),
                    location: url,
                }
            }
            Style::Deployment { deployment } => {
                let url = format!("{HOST}{deployment}/operationStatuses/{id}?api-version={v}");
                Urls {
                    async_operation: url,
                    location: format!("{HOST}{deployment}?api-version={v}"),
                }
            }
            Style::Subscription => {
                let url = format!("{HOST}/subscriptions/{s}/operationresults/{id}?api-version={v}");
                Urls {
                    async_operation: url.clone(),
                    location: url,
                }
            }
        }
    }

    fn status_word(&self) -> &'static str {
        match (self.ended, &self.failure, &self.style) {
            (None, _, Style::Deployment { .. }) => "Running",
            (None, _, _) => "InProgress",
            (Some(_), Some(_), _) => "Failed",
            (Some(_), None, _) => "Succeeded",
        }
    }

    /// The status body in the operation's style.
    pub fn status_body(&self) -> Value {
        let status = self.status_word();
        let mut body = match &self.style {
            Style::Compute { .. } | Style::Caps => {
                let mut b = json!({"startTime": compute_time(self.started)});
                if let Some(end) = self.ended {
                    b["endTime"] = json!(compute_time(end));
                }
                b["status"] = json!(status);
                b["name"] = json!(self.id);
                b
            }
            _ => json!({"status": status}),
        };
        if self.ended.is_some()
            && let Some(e) = &self.failure
        {
            body["error"] = e.clone();
        }
        body
    }
}

/// Registers an operation and marks its resource as being provisioned by it.
pub fn start(world: &mut World, op: Operation) -> Urls {
    let urls = op.urls();
    if let Some(r) = op.resource.as_deref().and_then(|id| world.arm.get_mut(id)) {
        r.operation = Some(op.id.clone());
    }
    world.arm.operations.insert(op.id.to_ascii_lowercase(), op);
    urls
}

/// Ends an operation now: its resource gets its final body (or provisioningState Failed).
pub fn complete(world: &mut World, id: &str, now: OffsetDateTime) {
    let Some(op) = world.arm.operations.get_mut(&id.to_ascii_lowercase()) else {
        return;
    };
    if op.ended.is_some() {
        return;
    }
    op.ended = Some(now);
    let (resource, success, failure, failure_body) = (
        op.resource.clone(),
        op.success_body.clone(),
        op.failure.clone(),
        op.failure_body.clone(),
    );
    let Some(r) = resource.as_deref().and_then(|rid| world.arm.get_mut(rid)) else {
        return;
    };
    if r.operation
        .as_deref()
        .is_some_and(|o| !o.eq_ignore_ascii_case(id))
    {
        return;
    }
    r.operation = None;
    match (failure, success) {
        (Some(_), _) if failure_body.is_some() => r.body = failure_body.unwrap_or_default(),
        (Some(_), _) => {
            if r.body["properties"].is_object() {
                r.body["properties"]["provisioningState"] = json!("Failed");
            }
        }
        (None, Some(body)) => r.body = body,
        (None, None) => {
            if r.body["properties"].is_object() {
                r.body["properties"]["provisioningState"] = json!("Succeeded");
            }
        }
    }
}

/// One observation of an operation: counts down, and ends it when no `InProgress` is left.
pub fn observe(world: &mut World, id: &str, now: OffsetDateTime) -> Option<Operation> {
    let k = id.to_ascii_lowercase();
    let op = world.arm.operations.get_mut(&k)?;
    op.polls += 1;
    if op.ended.is_none() {
        if op.remaining == 0 {
            complete(world, id, now);
        } else {
            op.remaining -= 1;
        }
    }
    world.arm.operations.get(&k).cloned()
}

/// A GET of a resource being provisioned counts as an observation of its operation.
pub fn observe_resource(world: &mut World, resource_id: &str, now: OffsetDateTime) {
    let op = world.arm.get(resource_id).and_then(|r| r.operation.clone());
    if let Some(op) = op {
        observe(world, &op, now);
    }
}

/// Ends at once any operation provisioning `resource_id` (it is being deleted or replaced).
pub fn settle(world: &mut World, resource_id: &str, now: OffsetDateTime) {
    let op = world.arm.get(resource_id).and_then(|r| r.operation.clone());
    if let Some(op) = op {
        complete(world, &op, now);
    }
}

fn not_found(call: &Call<'_>) -> ArmError {
    ArmError::not_found(
        "NotFound",
        format!(
            "The operation '{}' could not be found.",
            path::last_name(&call.req.path)
        ),
    )
}

/// `GET` of an operation status or monitor URL. Any principal the subscription's tenant
/// (or a delegation) admits may poll: ARM does not apply RBAC to operation results.
pub fn status(call: &Call<'_>, world: &mut World) -> Result<Reply, ArmError> {
    let id = call.path.name().unwrap_or_default().to_owned();
    let results = call
        .path
        .full_type()
        .to_ascii_lowercase()
        .ends_with("operationresults");
    status_of(call, world, &id, results)
}

/// Answers a poll of operation `id`; `results`: a Location-style URL (202 until done).
pub fn status_of(
    call: &Call<'_>,
    world: &mut World,
    id: &str,
    results: bool,
) -> Result<Reply, ArmError> {
    let key_id = id.to_ascii_lowercase();
    let Some(before) = world.arm.operations.get(&key_id).cloned() else {
        return Err(not_found(call));
    };
    if !before
        .subscription
        .eq_ignore_ascii_case(call.path.subscription.as_deref().unwrap_or_default())
    {
        return Err(not_found(call));
    }
    let first_poll = before.polls == 0;
    let Some(op) = observe(world, id, call.now) else {
        return Err(not_found(call));
    };
    let monitor = call
        .req
        .query_param("monitor")
        .is_some_and(|m| m.eq_ignore_ascii_case("true"));
    let running = op.ended.is_none();
    let quota = match op.style {
        Style::Compute { .. } => Some(
            "Microsoft.Compute/GetOperation3Min;14999,Microsoft.Compute/GetOperation30Min;29999",
        ),
        Style::Caps => Some(
            "Microsoft.Compute/GetOperationStatus3Min;1199,Microsoft.Compute/GetOperationStatus30Min;4199",
        ),
        _ => None,
    };
    // Compute's remaining quota; Network's own id of the call.
    let network = op.style == Style::Network;
    let decorate = |r: Reply| {
        let r = if network {
            r.header(
                super::network::SERVICE_REQUEST_ID,
                crate::request::new_request_id(),
            )
        } else {
            r
        };
        match quota {
            Some(q) => r.header("x-ms-ratelimit-remaining-resource", q),
            None => r,
        }
    };
    if monitor || results {
        if running {
            return Ok(decorate(
                Reply::empty(StatusCode::ACCEPTED)
                    .header("location", call.req.azure_url())
                    .header("retry-after", call.retry_after(10)),
            ));
        }
        if let Some(e) = &op.failure {
            return Ok(decorate(Reply::ok(json!({"error": e}))));
        }
        return Ok(decorate(if results && op.style == Style::Network {
            Reply::empty(StatusCode::NO_CONTENT)
        } else {
            Reply::empty(StatusCode::OK)
        }));
    }
    let mut reply = Reply::ok(op.status_body());
    if running {
        let recorded = match op.style {
            Style::Compute { .. } if first_poll => Some(50),
            Style::Network if first_poll => Some(10),
            _ => None,
        };
        let value = call.ctx.scenario.arm.retry_after_seconds.or(recorded);
        if let Some(v) = value {
            reply = reply.header("retry-after", v.to_string());
        }
    }
    Ok(decorate(reply))
}
