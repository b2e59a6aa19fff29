//! Key Vault secrets (`{vault}.vault.azure.net`, RBAC authorization): the 401 challenge,
//! set (PUT 200), get latest or by version, delete (deleted-secret bundle), purge, with
//! Key Vault's headers, epoch timestamps and error shapes.

use axum::response::Response;
use http::{Method, StatusCode};
use serde_json::{Value, json};

mod model;

use model::{Deleted, Secret, Version, bundle, deleted_bundle};
pub use model::{Vault, latest_value, seed};

use crate::{
    context::SimContext,
    rbac,
    request::{HostFamily, HostRequest, family, respond},
    secrets::SecretKind,
    service::HostService,
    tokens::{AuthError, Claims},
};

/// Key Vault's audience.
pub const AUDIENCE: &str = "https://vault.azure.net";

/// The simulated Key Vault data plane.
#[derive(Debug, Default)]
pub struct KeyVault;

fn headers(req: &HostRequest) -> Vec<(&'static str, String)> {
    let mut h = vec![
        ("cache-control", "no-cache".to_owned()),
        ("pragma", "no-cache".to_owned()),
        ("content-type", "application/json; charset=utf-8".to_owned()),
        ("expires", "-1".to_owned()),
        (
            "strict-transport-security",
            "max-age=31536000;includeSubDomains".to_owned(),
        ),
        ("x-content-type-options", "nosniff".to_owned()),
        (
            "x-ms-keyvault-network-info",
            "conn_type=Ipv4;addr=127.0.0.1;act_addr_fam=InterNetwork;".to_owned(),
        ),
        ("x-ms-keyvault-region", "eastus".to_owned()),
        ("x-ms-keyvault-service-version", "1.9.0.0".to_owned()),
        ("x-ms-request-id", req.request_id.clone()),
    ];
    if let Some(id) = req.header("x-ms-client-request-id") {
        h.push(("x-ms-client-request-id", id.to_owned()));
    }
    h
}

fn answer(
    status: StatusCode,
    req: &HostRequest,
    extra: &[(&'static str, String)],
    body: &Value,
) -> Response {
    let mut h = headers(req);
    h.extend_from_slice(extra);
    respond(status, &h, body.to_string())
}

fn error(
    status: StatusCode,
    code: &str,
    message: &str,
    inner: Option<&str>,
    req: &HostRequest,
) -> Response {
    let mut error = json!({"code": code, "message": message});
    if let (Some(inner), Some(o)) = (inner, error.as_object_mut()) {
        o.insert("innererror".into(), json!({"code": inner}));
    }
    answer(status, req, &[], &json!({ "error": error }))
}

fn challenge(tenant: &str, message: &str, req: &HostRequest) -> Response {
    let www = format!(
        "Bearer authorization=\"https://login.windows.net/{tenant}\", resource=\"{AUDIENCE}\""
    );
    answer(
        StatusCode::UNAUTHORIZED,
        req,
        &[("www-authenticate", www)],
        &json!({"error": {"code": "Unauthorized", "message": message}}),
    )
}

fn auth_message(e: &AuthError, tenant: &str) -> String {
    match e {
        AuthError::Missing => "AKV10000: Request is missing a Bearer or PoP token.".to_owned(),
        AuthError::WrongAudience { found } => {
            format!("AKV10022: Invalid audience. Expected {AUDIENCE}, found: {found}.")
        }
        AuthError::WrongTenant { found } => format!(
            "AKV10032: Invalid issuer. Expected one of https://sts.windows.net/{tenant}/, found {found}."
        ),
        // Key Vault's exact wording for these is not in the recordings.
        AuthError::Expired { .. } | AuthError::NotYetValid => {
            "AKV10021: Token is expired or not yet valid.".to_owned()
        }
        AuthError::Malformed | AuthError::BadSignature => {
            "AKV10040: Token signature or format is invalid.".to_owned()
        }
    }
}

fn valid_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 127
        && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
}

#[derive(Clone, Copy)]
enum Action {
    Get,
    Set,
    Delete,
    Purge,
}

impl Action {
    fn data_action(self) -> &'static str {
        match self {
            Self::Get => "Microsoft.KeyVault/vaults/secrets/getSecret/action",
            Self::Set => "Microsoft.KeyVault/vaults/secrets/setSecret/action",
            Self::Delete => "Microsoft.KeyVault/vaults/secrets/delete",
            Self::Purge => "Microsoft.KeyVault/vaults/deletedSecrets/purge/action",
        }
    }
    fn roles(self) -> &'static [&'static str] {
        match self {
            Self::Get => &[
                "Key Vault Secrets User",
                "Key Vault Secrets Officer",
                "Key Vault Administrator",
            ],
            _ => &["Key Vault Secrets Officer", "Key Vault Administrator"],
        }
    }
}

fn forbidden(
    claims: &Claims,
    action: Action,
    resource: &str,
    vault: &str,
    req: &HostRequest,
) -> Response {
    let message = format!(
        "Caller is not authorized to perform action on resource.\r\nIf role assignments, deny assignments or role definitions were changed recently, please observe propagation time.\r\nCaller: appid={};oid={};iss={}\r\nAction: '{}'\r\nResource: '{}'\r\nAssignment: (not found)\r\nDenyAssignmentId: null\r\nDecisionReason: null \r\nVault: {vault};location=eastus\r\n",
        claims.appid,
        claims.oid,
        claims.iss,
        action.data_action(),
        resource.to_ascii_lowercase()
    );
    error(
        StatusCode::FORBIDDEN,
        "Forbidden",
        &message,
        Some("ForbiddenByRbac"),
        req,
    )
}

fn not_found(name: &str, req: &HostRequest) -> Response {
    error(
        StatusCode::NOT_FOUND,
        "SecretNotFound",
        &format!(
            "A secret with (name/id) {name} was not found in this key vault. If you recently deleted this secret you may be able to recover it using the correct recovery command. For help resolving this issue, please see https://go.microsoft.com/fwlink/?linkid=2125182"
        ),
        None,
        req,
    )
}

#[async_trait::async_trait]
impl HostService for KeyVault {
    fn name(&self) -> &'static str {
        "keyvault"
    }

    fn serves(&self, host: &str) -> bool {
        matches!(family(host), HostFamily::KeyVault(_))
    }

    async fn handle(&self, ctx: SimContext, req: HostRequest) -> Response {
        let HostFamily::KeyVault(vault_name) = family(&req.host) else {
            return error(
                StatusCode::NOT_FOUND,
                "NotFound",
                "Not a Key Vault host.",
                None,
                &req,
            );
        };
        let Some((tenant, resource_id)) = ctx
            .world()
            .vaults
            .get(&vault_name)
            .map(|v| (v.spec.tenant.clone(), v.spec.resource_id.clone()))
        else {
            return crate::request::plain(
                StatusCode::NOT_FOUND,
                format!("azure-sim: no Key Vault named '{vault_name}' in the scenario"),
            );
        };
        // Key Vault challenges before anything else: the recorded clients send the first call bare.
        let claims = match ctx.authenticate(&req, &[AUDIENCE], Some(&tenant)) {
            Ok(c) => c,
            Err(e) => return challenge(&tenant, &auth_message(&e, &tenant), &req),
        };
        if req.query_param("api-version").is_none() {
            return error(
                StatusCode::BAD_REQUEST,
                "BadParameter",
                "The api-version query parameter is missing.",
                None,
                &req,
            );
        }
        let segments = req.segments();
        let (action, name, version) = match (&req.method, segments.as_slice()) {
            (&Method::PUT, ["secrets", name]) => (Action::Set, *name, None),
            (&Method::GET, ["secrets", name] | ["secrets", name, ""]) => (Action::Get, *name, None),
            (&Method::GET, ["secrets", name, version]) => (Action::Get, *name, Some(*version)),
            (&Method::DELETE, ["secrets", name]) => (Action::Delete, *name, None),
            (&Method::GET, ["deletedsecrets", name]) => (Action::Get, *name, Some("$deleted")),
            (&Method::DELETE, ["deletedsecrets", name]) => (Action::Purge, *name, None),
            _ => {
                return error(
                    StatusCode::BAD_REQUEST,
                    "BadParameter",
                    &format!(
                        "azure-sim: {} {} is not a simulated Key Vault operation.",
                        req.method, req.path
                    ),
                    None,
                    &req,
                );
            }
        };
        if !valid_name(name) {
            return error(
                StatusCode::BAD_REQUEST,
                "BadParameter",
                &format!("The request URI contains an invalid name: {name}"),
                None,
                &req,
            );
        }
        let secret_resource = format!("{resource_id}/secrets/{name}");
        let Some(assignment) = rbac::find_assignment(
            &ctx.world().role_assignments,
            &claims.oid,
            &secret_resource,
            action.roles(),
            ctx.now(),
        )
        .cloned() else {
            return forbidden(&claims, action, &secret_resource, &vault_name, &req);
        };
        let assignment_id = assignment.name;
        let mut response = operate(&ctx, &req, &vault_name, name, action, version);
        if let Ok(value) = http::HeaderValue::from_str(&assignment_id) {
            response
                .headers_mut()
                .insert("x-ms-keyvault-rbac-assignment-id", value);
        }
        response
    }
}

/// Performs an authorized secret operation.
fn operate(
    ctx: &SimContext,
    req: &HostRequest,
    vault_name: &str,
    name: &str,
    action: Action,
    version: Option<&str>,
) -> Response {
    {
        let now = ctx.now().unix_timestamp();
        let mut world = ctx.world();
        let Some(vault) = world.vaults.get_mut(vault_name) else {
            return not_found(name, req);
        };
        let key = name.to_ascii_lowercase();
        match (action, version) {
            (Action::Set, _) => {
                let body: Value = serde_json::from_slice(&req.body).unwrap_or(Value::Null);
                let Some(value) = body.get("value").and_then(Value::as_str) else {
                    return error(
                        StatusCode::BAD_REQUEST,
                        "BadParameter",
                        "Property 'value' is required.",
                        None,
                        req,
                    );
                };
                if vault.deleted.contains_key(&key) {
                    return error(
                        StatusCode::CONFLICT,
                        "Conflict",
                        &format!(
                            "Secret {name} is currently in a deleted but recoverable state, and its name cannot be reused; in this state, the secret can only be recovered or purged."
                        ),
                        Some("ObjectIsDeletedButRecoverable"),
                        req,
                    );
                }
                let attrs = body.get("attributes");
                let version = Version {
                    version: uuid::Uuid::new_v4().simple().to_string(),
                    value: value.to_owned(),
                    content_type: body
                        .get("contentType")
                        .and_then(Value::as_str)
                        .map(str::to_owned),
                    enabled: attrs
                        .and_then(|a| a.get("enabled"))
                        .and_then(Value::as_bool)
                        .unwrap_or(true),
                    nbf: attrs.and_then(|a| a.get("nbf")).and_then(Value::as_i64),
                    exp: attrs.and_then(|a| a.get("exp")).and_then(Value::as_i64),
                    created: now,
                    updated: now,
                    tags: body.get("tags").cloned().filter(|t| !t.is_null()),
                };
                ctx.secrets.add(SecretKind::KeyVaultSecret, value);
                let secret = vault.secrets.entry(key).or_insert_with(|| Secret {
                    name: name.to_owned(),
                    versions: vec![],
                });
                secret.versions.push(version.clone());
                let out = bundle(vault_name, &secret.name, &version, true);
                answer(StatusCode::OK, req, &[], &out)
            }
            (Action::Get, Some("$deleted")) => match vault.deleted.get(&key) {
                Some(d) => {
                    let Some(latest) = d.secret.versions.last() else {
                        return not_found(name, req);
                    };
                    answer(
                        StatusCode::OK,
                        req,
                        &[],
                        &deleted_bundle(vault_name, d, latest),
                    )
                }
                None => error(
                    StatusCode::NOT_FOUND,
                    "SecretNotFound",
                    &format!("Deleted Secret not found: {name}"),
                    None,
                    req,
                ),
            },
            (Action::Get, version) => {
                let Some(secret) = vault.secrets.get(&key) else {
                    return not_found(name, req);
                };
                let found = match version {
                    None => secret.versions.last(),
                    Some(v) => secret
                        .versions
                        .iter()
                        .find(|x| x.version.eq_ignore_ascii_case(v)),
                };
                let Some(found) = found else {
                    return not_found(&format!("{name}/{}", version.unwrap_or_default()), req);
                };
                if !found.enabled {
                    return error(
                        StatusCode::FORBIDDEN,
                        "Forbidden",
                        "Operation get is not allowed on a disabled secret.",
                        Some("SecretDisabled"),
                        req,
                    );
                }
                answer(
                    StatusCode::OK,
                    req,
                    &[],
                    &bundle(vault_name, &secret.name, found, true),
                )
            }
            (Action::Delete, _) => {
                let Some(secret) = vault.secrets.remove(&key) else {
                    return not_found(name, req);
                };
                let deleted = Deleted {
                    secret,
                    deleted: now,
                };
                let Some(latest) = deleted.secret.versions.last().cloned() else {
                    return not_found(name, req);
                };
                let out = deleted_bundle(vault_name, &deleted, &latest);
                vault.deleted.insert(key, deleted);
                answer(StatusCode::OK, req, &[], &out)
            }
            (Action::Purge, _) => {
                if vault.deleted.remove(&key).is_none() {
                    return error(
                        StatusCode::NOT_FOUND,
                        "SecretNotFound",
                        &format!("Deleted Secret not found: {name}"),
                        None,
                        req,
                    );
                }
                let mut h = headers(req);
                h.retain(|(k, _)| *k != "content-type");
                respond(StatusCode::NO_CONTENT, &h, Vec::<u8>::new())
            }
        }
    }
}
