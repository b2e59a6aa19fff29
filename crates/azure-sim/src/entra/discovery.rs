//! The metadata MSAL-based clients fetch before the token call (instance discovery and
//! OpenID configuration), answered as recorded. Nothing requires a client to call them.

use axum::response::Response;
use http::StatusCode;
use serde_json::json;

use crate::request::{HostRequest, json};

fn headers(req: &HostRequest) -> Vec<(&'static str, String)> {
    vec![
        ("cache-control", "max-age=86400, private".to_owned()),
        ("access-control-allow-origin", "*".to_owned()),
        ("access-control-allow-methods", "GET, OPTIONS".to_owned()),
        ("x-ms-request-id", req.request_id.clone()),
        ("x-content-type-options", "nosniff".to_owned()),
    ]
}

/// `GET /common/discovery/instance?api-version=1.1&authorization_endpoint=...`
pub fn instance(req: &HostRequest) -> Response {
    let endpoint = req
        .query_param("authorization_endpoint")
        .unwrap_or_default();
    let tenant = endpoint
        .strip_prefix("https://login.microsoftonline.com/")
        .and_then(|rest| rest.split('/').next())
        .unwrap_or("common");
    let body = json!({
        "tenant_discovery_endpoint": format!("https://login.microsoftonline.com/{tenant}/v2.0/.well-known/openid-configuration"),
        "api-version": "1.1",
        "metadata": [
            {"preferred_network": "login.microsoftonline.com", "preferred_cache": "login.windows.net",
             "aliases": ["login.microsoftonline.com", "login.windows.net", "login.microsoft.com", "sts.windows.net"]},
        ],
    });
    json(
        StatusCode::OK,
        "application/json; charset=utf-8",
        headers(req),
        &body,
    )
}

/// `GET /{tenant}/v2.0/.well-known/openid-configuration`
pub fn openid_configuration(req: &HostRequest, tenant_id: &str) -> Response {
    let base = format!("https://login.microsoftonline.com/{tenant_id}");
    let body = json!({
        "token_endpoint": format!("{base}/oauth2/v2.0/token"),
        "token_endpoint_auth_methods_supported": ["client_secret_post", "private_key_jwt", "client_secret_basic"],
        "jwks_uri": format!("{base}/discovery/v2.0/keys"),
        "response_modes_supported": ["query", "fragment", "form_post"],
        "subject_types_supported": ["pairwise"],
        "id_token_signing_alg_values_supported": ["RS256"],
        "response_types_supported": ["code", "id_token", "code id_token", "id_token token"],
        "scopes_supported": ["openid", "profile", "email", "offline_access"],
        "issuer": if super::password::is_multi_tenant_authority(tenant_id) {
            "https://login.microsoftonline.com/{tenantid}/v2.0".to_owned()
        } else {
            format!("{base}/v2.0")
        },
        "request_uri_parameter_supported": false,
        "userinfo_endpoint": "https://graph.microsoft.com/oidc/userinfo",
        "authorization_endpoint": format!("{base}/oauth2/v2.0/authorize"),
        "device_authorization_endpoint": format!("{base}/oauth2/v2.0/devicecode"),
        "http_logout_supported": true,
        "frontchannel_logout_supported": true,
        "end_session_endpoint": format!("{base}/oauth2/v2.0/logout"),
        "claims_supported": ["sub", "iss", "cloud_instance_name", "cloud_instance_host_name", "cloud_graph_host_name", "msgraph_host", "aud", "exp", "iat", "auth_time", "acr", "nonce", "preferred_username", "name", "tid", "ver", "at_hash", "c_hash", "email"],
        "kerberos_endpoint": format!("{base}/kerberos"),
        "tenant_region_scope": "NA",
        "cloud_instance_name": "microsoftonline.com",
        "cloud_graph_host_name": "graph.windows.net",
        "msgraph_host": "graph.microsoft.com",
        "rbac_url": "https://pas.windows.net",
    });
    json(
        StatusCode::OK,
        "application/json; charset=utf-8",
        headers(req),
        &body,
    )
}

/// `GET /common/userrealm/{username}?api-version=1.0`: user-realm discovery, which MSAL
/// calls before a username/password grant to learn whether the domain is federated (then it
/// would talk WS-Trust to the federation server) or managed (then it posts the password to
/// the token endpoint). Every simulated domain is managed (cloud-only accounts); a domain the
/// directory does not know is `Unknown`, the answer Entra gives for it.
pub fn user_realm(req: &HostRequest, managed_domain: Option<&str>) -> Response {
    let body = match managed_domain {
        Some(domain) => json!({
            "ver": "1.0",
            "account_type": "Managed",
            "domain_name": domain,
            "cloud_instance_name": "microsoftonline.com",
            "cloud_audience_urn": "urn:federation:MicrosoftOnline",
        }),
        None => json!({
            "ver": "1.0",
            "account_type": "Unknown",
            "cloud_instance_name": "microsoftonline.com",
        }),
    };
    json(
        StatusCode::OK,
        "application/json; charset=utf-8",
        headers(req),
        &body,
    )
}
