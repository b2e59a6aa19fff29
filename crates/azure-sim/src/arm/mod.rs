//! Azure Resource Manager (`management.azure.com`): subscriptions, resource groups, RBAC,
//! Compute Gallery (with direct sharing), network resources, virtual machines, Lighthouse
//! and subscription deployments, with ARM's authentication, authorization, linked
//! (cross-tenant) authorization, api-versions, long-running operations, paging and throttling.

pub mod admin;
pub mod apiversions;
pub mod auxiliary;
pub mod compute;
pub mod concurrency;
pub mod deployments;
pub mod features;
pub mod jsonc;
pub mod lighthouse;
pub mod lro;
pub mod network;
pub mod path;
pub mod providers;
pub mod rbac;
pub mod reply;
pub mod resources;
pub mod state;
pub mod template;
pub mod throttle;

use axum::response::Response;
use http::{Method, StatusCode};
use serde_json::{Map, Value};
use time::OffsetDateTime;

pub use reply::{ArmError, Reply};
pub use state::{ArmState, Resource};

use crate::{
    context::{SimContext, World},
    faults::Fault,
    request::{HostFamily, HostRequest, family},
    service::HostService,
    tokens::{AuthError, Claims},
};
use path::ArmPath;
use rbac::evaluate::{self, Principal};
use reply::{RateClass, Remaining};

/// The audiences ARM accepts.
pub const AUDIENCES: [&str; 2] = [
    "https://management.azure.com",
    "https://management.core.windows.net",
];

/// The simulated Resource Manager.
#[derive(Debug, Default)]
pub struct Arm;

/// The authenticated caller.
#[derive(Debug, Clone)]
pub struct Caller {
    /// Tenant of the token.
    pub tenant: String,
    /// Object id.
    pub object_id: String,
    /// Client (application) id.
    pub app_id: String,
    /// Sign-in name, for users (a guest's home address, its token having no `upn`).
    pub upn: Option<String>,
}

impl Caller {
    /// From validated claims.
    pub fn from_claims(c: &Claims) -> Self {
        Self {
            tenant: c.tid.clone(),
            object_id: c.oid.clone(),
            app_id: c.appid.clone(),
            // A guest's token has no `upn`; its home address (`unique_name`) names it.
            upn: c.user_name().map(str::to_owned),
        }
    }

    /// What ARM calls "the client" in messages: the UPN of a user, the app id of an app.
    pub fn client_name(&self) -> &str {
        self.upn.as_deref().unwrap_or(&self.app_id)
    }

    /// As an RBAC principal.
    pub fn principal(&self) -> Principal<'_> {
        Principal {
            tenant: &self.tenant,
            object_id: &self.object_id,
        }
    }
}

/// One ARM request being served.
#[derive(Debug)]
pub struct Call<'a> {
    /// Shared state.
    pub ctx: &'a SimContext,
    /// The request.
    pub req: &'a HostRequest,
    /// Simulated time of the call.
    pub now: OffsetDateTime,
    /// Who calls.
    pub caller: Caller,
    /// The `api-version` query parameter.
    pub api_version: String,
    /// The parsed path.
    pub path: ArmPath,
    /// Validated auxiliary tokens (`x-ms-authorization-auxiliary`).
    pub aux: Vec<Claims>,
}

impl Call<'_> {
    /// The body as a JSON object (empty body: empty object); unknown fields are kept.
    pub fn body(&self) -> Result<Map<String, Value>, ArmError> {
        if self.req.body.iter().all(u8::is_ascii_whitespace) {
            return Ok(Map::new());
        }
        // What strict JSON refuses, Json.NET may still read (comments, bare names).
        let parsed = serde_json::from_slice::<Value>(&self.req.body).or_else(|e| {
            std::str::from_utf8(&self.req.body)
                .ok()
                .and_then(|text| serde_json::from_str::<Value>(&jsonc::to_strict(text)).ok())
                .ok_or(e)
        });
        match parsed {
            Ok(Value::Object(map)) => Ok(map),
            Ok(_) => Err(ArmError::bad_request(
                "InvalidRequestContent",
                "The request content was invalid and could not be deserialized: 'Expected a JSON object.'.",
            )),
            Err(e) => Err(ArmError::bad_request(
                "InvalidRequestContent",
                format!("The request content was invalid and could not be deserialized: '{e}'."),
            )),
        }
    }

    /// 403 `AuthorizationFailed` unless the caller may perform `action` at `scope`.
    pub fn authorize(&self, world: &World, action: &str, scope: &str) -> Result<(), ArmError> {
        if evaluate::allowed(world, self.now, self.caller.principal(), action, scope) {
            return Ok(());
        }
        Err(authorization_failed(&self.caller, action, scope))
    }

    /// A `Retry-After` value: the scenario's override, or ARM's own.
    pub fn retry_after(&self, recorded: u32) -> String {
        self.ctx
            .scenario
            .arm
            .retry_after_seconds
            .unwrap_or(recorded)
            .to_string()
    }

    /// The fault that matched this request without answering it (provisioning failures).
    pub fn fault(&self) -> Option<&Fault> {
        self.req.fault.as_ref()
    }

    /// The tenant a subscription trusts.
    pub fn subscription_tenant(&self, subscription: &str) -> Option<String> {
        self.ctx
            .scenario
            .subscriptions
            .iter()
            .find(|s| s.id.eq_ignore_ascii_case(subscription))
            .map(|s| s.tenant.clone())
    }
}

/// The 403 ARM answers when RBAC does not allow an action.
pub fn authorization_failed(caller: &Caller, action: &str, scope: &str) -> ArmError {
    ArmError::new(
        StatusCode::FORBIDDEN,
        "AuthorizationFailed",
        format!(
            "The client '{}' with object id '{}' does not have authorization to perform action '{action}' over scope '{}' or the scope is invalid. If access was recently granted, please refresh your credentials.",
            caller.client_name(),
            caller.object_id,
            path::message_scope(scope)
        ),
    )
}

/// ARM's `12/13/2018 7:25:27 AM` (.NET general date) form.
fn dotnet_time(t: OffsetDateTime) -> String {
    let (h, ampm) = match t.hour() {
        0 => (12, "AM"),
        h @ 1..=11 => (h, "AM"),
        12 => (12, "PM"),
        h => (h - 12, "PM"),
    };
    format!(
        "{}/{}/{} {h}:{:02}:{:02} {ampm}",
        u8::from(t.month()),
        t.day(),
        t.year(),
        t.minute(),
        t.second()
    )
}

fn www_authenticate(tenant: &str, description: &str) -> String {
    format!(
        "Bearer authorization_uri=\"https://login.windows.net/{tenant}\", error=\"invalid_token\", error_description=\"{description}\""
    )
}

/// Maps a token problem to ARM's 401 answers.
pub fn unauthenticated(e: &AuthError, now: OffsetDateTime) -> ArmError {
    let (code, message, description) = match e {
        AuthError::Missing => (
            "AuthenticationFailed",
            "Authentication failed. The 'Authorization' header is missing.".to_owned(),
            "The authentication failed because of missing 'Authorization' header.".to_owned(),
        ),
        AuthError::Expired { exp } => {
            let message = format!(
                "The access token expiry UTC time '{}' is earlier than current UTC time '{}'.",
                dotnet_time(OffsetDateTime::from_unix_timestamp(*exp).unwrap_or(now)),
                dotnet_time(now)
            );
            ("ExpiredAuthenticationToken", message.clone(), message)
        }
        AuthError::WrongAudience { found } => (
            "InvalidAuthenticationTokenAudience",
            format!(
                "The access token has been obtained for wrong audience or resource '{found}'. It should exactly match with one of the allowed audiences 'https://management.core.windows.net/','https://management.core.windows.net','https://management.azure.com/','https://management.azure.com'."
            ),
            "The access token has been obtained from wrong audience or resource.".to_owned(),
        ),
        AuthError::Malformed
        | AuthError::BadSignature
        | AuthError::NotYetValid
        | AuthError::WrongTenant { .. } => (
            "InvalidAuthenticationToken",
            "The access token is invalid.".to_owned(),
            "The access token is invalid.".to_owned(),
        ),
    };
    ArmError::new(StatusCode::UNAUTHORIZED, code, message)
        .header("www-authenticate", www_authenticate("", &description))
}

/// 401 for a token from a tenant the subscription does not trust.
pub fn wrong_tenant(claims: &Claims, tenant: &str) -> ArmError {
    ArmError::new(
        StatusCode::UNAUTHORIZED,
        "InvalidAuthenticationTokenTenant",
        format!(
            "The access token is from the wrong issuer '{}'. It must match the tenant 'https://sts.windows.net/{tenant}/' associated with this subscription. Please use the authority (URL) 'https://login.windows.net/{tenant}' to get the token. Note, if the subscription is transferred to another tenant there is no impact to the services, but information about new tenant could take time to propagate (up to an hour). If you just transferred your subscription and see this error message, please try back later.",
            claims.iss
        ),
    )
    .header(
        "www-authenticate",
        www_authenticate(tenant, "The access token is from the wrong issuer."),
    )
}

fn rate_class(method: &Method) -> RateClass {
    match *method {
        Method::GET | Method::HEAD => RateClass::Reads,
        Method::DELETE => RateClass::Deletes,
        _ => RateClass::Writes,
    }
}

#[async_trait::async_trait]
impl HostService for Arm {
    fn name(&self) -> &'static str {
        "arm"
    }

    fn serves(&self, host: &str) -> bool {
        family(host) == HostFamily::ResourceManager
    }

    async fn handle(&self, ctx: SimContext, mut req: HostRequest) -> Response {
        let now = ctx.now();
        reply::ensure_correlation_id(&mut req);
        let mut remaining = None;
        let outcome = serve(&ctx, &req, now, &mut remaining);
        match outcome {
            Ok(reply) => reply::assemble(
                reply.status,
                reply.body.as_ref(),
                reply::standard_headers(&req, now, remaining),
                &reply.headers,
            ),
            Err(e) => reply::error_response(&e, &req, now, remaining),
        }
    }
}

fn serve(
    ctx: &SimContext,
    req: &HostRequest,
    now: OffsetDateTime,
    remaining: &mut Option<Remaining>,
) -> Result<Reply, ArmError> {
    let claims = ctx
        .authenticate(req, &AUDIENCES, None)
        .map_err(|e| unauthenticated(&e, now))?;
    let api_version = apiversions::require(req)?;
    let path = ArmPath::parse(&req.path);
    let aux = auxiliary::validate(ctx, req, now)?;
    let caller = Caller::from_claims(&claims);
    let call = Call {
        ctx,
        req,
        now,
        caller,
        api_version,
        path,
        aux,
    };
    let mut world = ctx.world();
    if let Some(sub) = call.path.subscription.clone() {
        let Some(tenant) = call.subscription_tenant(&sub) else {
            return Err(ArmError::not_found(
                "SubscriptionNotFound",
                format!("The subscription '{sub}' could not be found."),
            ));
        };
        if !tenant.eq_ignore_ascii_case(&claims.tid)
            && !evaluate::tenant_is_delegated(&world, now, &sub, &claims.tid)
        {
            return Err(wrong_tenant(&claims, &tenant));
        }
    }
    let class = rate_class(&req.method);
    let scope_key = call
        .path
        .subscription
        .clone()
        .unwrap_or_else(|| format!("tenant:{}", claims.tid));
    *remaining = Some(match &ctx.scenario.arm.regional_throttling {
        Some(regional) => throttle::charge_regional(
            &mut world,
            regional,
            &claims.tid,
            call.path.subscription.as_deref(),
            &claims.oid,
            class,
            now,
        )?,
        None => Remaining {
            class,
            left: throttle::charge(
                &mut world,
                &ctx.scenario.arm.throttling,
                &scope_key,
                &claims.oid,
                class,
                now,
            )?,
            global: None,
            tenant_level: false,
        },
    });
    apiversions::check_supported(&call)?;
    route(&call, &mut world)
}

/// Dispatches a call to the provider of its type (also used for resources a template deploys).
pub(crate) fn route(call: &Call<'_>, world: &mut World) -> Result<Reply, ArmError> {
    let ty = call.path.full_type().to_ascii_lowercase();
    let item = call.path.is_item();
    let m = &call.req.method;
    let provider_only = call.path.provider.as_ref().filter(|p| p.types.is_empty());
    if let Some(p) = provider_only {
        if *m != Method::GET {
            return Err(method_not_allowed(call));
        }
        return providers::show(call, &p.namespace);
    }
    if features::serves(call) {
        return features::route(call, world);
    }
    match ty.as_str() {
        "" => resources::route(call, world),
        "microsoft.compute/locations/vmsizes" if *m == Method::GET && !item => {
            let location = call
                .path
                .provider
                .as_ref()
                .and_then(|p| p.names.first().cloned())
                .unwrap_or_default();
            compute::discovery::vm_sizes(call, world, &location)
        }
        "microsoft.compute/skus" if *m == Method::GET && !item => {
            compute::discovery::skus(call, world)
        }
        "microsoft.authorization/roleassignments" => rbac::assignments::route(call, world),
        "microsoft.authorization/roledefinitions" => resources::role_definitions(call, world),
        "microsoft.authorization/permissions" if *m == Method::GET && !item => {
            resources::permissions(call, world)
        }
        "microsoft.compute/locations/operations"
        | "microsoft.compute/locations/capsoperations"
        | "microsoft.network/locations/operations"
        | "microsoft.network/locations/operationresults"
        | "microsoft.managedservices/operationstatuses"
        | "microsoft.resources/deployments/operationstatuses" => lro::status(call, world),
        t if t.starts_with("microsoft.compute/locations/sharedgalleries") => {
            compute::shared::route(call, world)
        }
        t if t.starts_with("microsoft.compute/locations/sharedgallerysubscriptions")
            || t.starts_with(
                "microsoft.compute/locations/tenantlevelsharedgallerysubscriptions",
            ) =>
        {
            compute::invites::route(call, world)
        }
        t if t.starts_with("microsoft.compute/galleries") || t == "microsoft.compute/images" => {
            compute::gallery::route(call, world)
        }
        "microsoft.compute/virtualmachines" => compute::vm::route(call, world),
        "microsoft.compute/virtualmachines/instanceview" if *m == Method::GET && !item => {
            let vm = path::parent_of(&call.path.item_id());
            call.authorize(world, "Microsoft.Compute/virtualMachines/read", &vm)?;
            world
                .arm
                .get(&vm)
                .map(|r| Reply::ok(compute::instance_view::of(&r.body)))
                .ok_or_else(|| resources::resource_not_found(&vm))
        }
        t if t.starts_with("microsoft.network/") => network::route(call, world),
        "microsoft.managedservices/registrationdefinitions"
        | "microsoft.managedservices/registrationassignments" => lighthouse::route(call, world),
        "microsoft.resources/deployments" => deployments::route(call, world),
        "microsoft.resources/deployments/validate" => deployments::route_validate(call, world),
        _ => Err(ArmError::bad_request(
            "InvalidResourceType",
            format!(
                "The resource type '{}' could not be found in the namespace '{}' for api version '{}'.",
                call.path
                    .provider
                    .as_ref()
                    .map(|p| p.types.join("/"))
                    .unwrap_or_default(),
                call.path
                    .provider
                    .as_ref()
                    .map(|p| p.namespace.clone())
                    .unwrap_or_default(),
                call.api_version
            ),
        )),
    }
}

/// 405 for a method a resource type does not support.
pub fn method_not_allowed(call: &Call<'_>) -> ArmError {
    ArmError::new(
        StatusCode::METHOD_NOT_ALLOWED,
        "MethodNotAllowed",
        format!(
            "The requested method '{}' is not allowed on '{}'.",
            call.req.method, call.req.path
        ),
    )
}

#[cfg(test)]
mod tests {
    #[test]
    fn dotnet_times_use_a_twelve_hour_clock() {
        let t = time::macros::datetime!(2018-12-13 19:34:47 UTC);
        assert_eq!(super::dotnet_time(t), "12/13/2018 7:34:47 PM");
        let t = time::macros::datetime!(2018-12-13 00:05:07 UTC);
        assert_eq!(super::dotnet_time(t), "12/13/2018 12:05:07 AM");
    }
}
