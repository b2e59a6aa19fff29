//! The caller of the HTTP API: a principal App Service Authentication signed in, or a
//! function key; and the app roles a principal needs for each operation.
//!
//! App Service Authentication passes the signed-in principal as `X-MS-CLIENT-PRINCIPAL`:
//! base64 of `{"auth_typ", "claims": [{"typ", "val"}], "name_typ", "role_typ"}` (App Service
//! docs, "Work with user identities"). The platform strips client-sent copies of the header
//! only while authentication is enabled, so the header is read only then
//! (`WEBSITE_AUTH_ENABLED`); otherwise anyone could name themselves.

use axum::{
    extract::FromRequestParts,
    http::{HeaderMap, StatusCode, request::Parts},
};
use base64::{Engine, engine::general_purpose::STANDARD};
use serde::Deserialize;
use tracing::info;

use super::Problem;
use crate::{context::AppContext, domain::Caller};

const PRINCIPAL: &str = "x-ms-client-principal";
const PRINCIPAL_ID: &str = "x-ms-client-principal-id";
const PRINCIPAL_NAME: &str = "x-ms-client-principal-name";
/// App Service keeps headers far below this; more is not a principal it made.
const MAX_PRINCIPAL_BYTES: usize = 32 * 1024;
/// Names are kept in the history: long enough for any UPN or display name.
const MAX_NAME_CHARS: usize = 256;
/// Claim types of the object id: App Service's default mapping, and the token's own name.
const OBJECT_ID_CLAIMS: [&str; 2] = [
    "http://schemas.microsoft.com/identity/claims/objectidentifier",
    "oid",
];
/// Claim types of app roles when the header names none (`role_typ`).
const ROLE_CLAIMS: [&str; 2] = [
    "roles",
    "http://schemas.microsoft.com/ws/2008/06/identity/claims/role",
];
/// Claim types of a name when `name_typ`'s claim is absent.
const NAME_CLAIMS: [&str; 3] = [
    "name",
    "preferred_username",
    "http://schemas.xmlsoap.org/ws/2005/05/identity/claims/name",
];

/// An Entra app role of the Function App's App Service Authentication app registration.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Role {
    /// Submit share requests.
    Submit,
    /// Read their status.
    Read,
    /// Revoke them.
    Revoke,
}

impl Role {
    /// The role's `value` in the app registration (and in the token's `roles` claim).
    pub fn value(self) -> &'static str {
        match self {
            Self::Submit => "ShareRequests.Submit",
            Self::Read => "ShareRequests.Read",
            Self::Revoke => "ShareRequests.Revoke",
        }
    }
}

/// Who is calling, and what they may do.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ApiCaller {
    /// What the history records.
    pub caller: Caller,
    /// The principal's app roles; `None` for a function key (the key is the permission).
    roles: Option<Vec<String>>,
}

impl ApiCaller {
    /// Refuses a principal without `role` (403); a function key may do everything.
    pub fn require(&self, role: Role, instance: &str) -> Result<(), Problem> {
        match &self.roles {
            Some(roles) if !roles.iter().any(|r| r == role.value()) => {
                info!(
                    role = role.value(),
                    "API call refused: the principal lacks the app role"
                );
                Err(Problem::new(
                    StatusCode::FORBIDDEN,
                    "missing-role",
                    "Missing app role",
                    format!(
                        "this operation needs the app role '{}'; ask an administrator of this deployment to assign it to you",
                        role.value()
                    ),
                )
                .at(instance))
            }
            _ => Ok(()),
        }
    }

    /// Reads the caller from the headers; `trust_principal` says whether App Service
    /// Authentication is on.
    pub fn from_headers(
        headers: &HeaderMap,
        trust_principal: bool,
    ) -> Result<Self, PrincipalError> {
        let key = Self {
            caller: Caller::FunctionKey,
            roles: None,
        };
        if !trust_principal {
            return Ok(key);
        }
        let Some(encoded) = headers.get(PRINCIPAL) else {
            // Anonymous requests allowed by the platform still need a function key.
            return Ok(key);
        };
        let encoded = encoded.as_bytes();
        if encoded.len() > MAX_PRINCIPAL_BYTES {
            return Err(PrincipalError::TooLarge);
        }
        let decoded = STANDARD
            .decode(encoded.trim_ascii())
            .map_err(|_| PrincipalError::NotBase64)?;
        let principal: ClientPrincipal =
            serde_json::from_slice(&decoded).map_err(|_| PrincipalError::NotJson)?;
        let object_id = principal
            .claim(&OBJECT_ID_CLAIMS)
            .map(str::to_owned)
            .or_else(|| header_text(headers, PRINCIPAL_ID))
            .and_then(|id| uuid::Uuid::parse_str(id.trim()).ok())
            .ok_or(PrincipalError::NoObjectId)?;
        let name = principal
            .name_typ
            .as_deref()
            .and_then(|typ| principal.claim(&[typ]))
            .or_else(|| principal.claim(&NAME_CLAIMS))
            .map(str::to_owned)
            .or_else(|| header_text(headers, PRINCIPAL_NAME))
            .map(|n| bounded(&n))
            .filter(|n| !n.is_empty());
        let role_types: Vec<&str> = match principal.role_typ.as_deref() {
            Some(typ) => std::iter::once(typ).chain(ROLE_CLAIMS).collect(),
            None => ROLE_CLAIMS.to_vec(),
        };
        let roles = principal
            .claims
            .iter()
            .filter(|c| role_types.contains(&c.typ.as_str()))
            .map(|c| c.val.clone())
            .collect();
        Ok(Self {
            caller: Caller::Principal {
                object_id: object_id.hyphenated().to_string(),
                name,
            },
            roles: Some(roles),
        })
    }
}

/// Why an `X-MS-CLIENT-PRINCIPAL` header was not understood.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum PrincipalError {
    /// Larger than any the platform sends.
    #[error("the X-MS-CLIENT-PRINCIPAL header is too large")]
    TooLarge,
    /// Not base64.
    #[error("the X-MS-CLIENT-PRINCIPAL header is not base64")]
    NotBase64,
    /// Not the documented JSON.
    #[error("the X-MS-CLIENT-PRINCIPAL header is not the client principal JSON")]
    NotJson,
    /// No object id claim (nor `X-MS-CLIENT-PRINCIPAL-ID`) that is a GUID.
    #[error("the X-MS-CLIENT-PRINCIPAL header names no object id")]
    NoObjectId,
}

/// The decoded header (only what is read).
#[derive(Deserialize)]
struct ClientPrincipal {
    #[serde(default)]
    claims: Vec<Claim>,
    #[serde(default)]
    name_typ: Option<String>,
    #[serde(default)]
    role_typ: Option<String>,
}

#[derive(Deserialize)]
struct Claim {
    typ: String,
    val: String,
}

impl ClientPrincipal {
    /// The first claim of one of `types`, in the order of `types`.
    fn claim(&self, types: &[&str]) -> Option<&str> {
        types.iter().find_map(|typ| {
            self.claims
                .iter()
                .find(|c| c.typ == *typ)
                .map(|c| c.val.as_str())
        })
    }
}

fn header_text(headers: &HeaderMap, name: &str) -> Option<String> {
    headers
        .get(name)
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned)
}

/// A name as it is kept: no control characters, at most [`MAX_NAME_CHARS`].
fn bounded(name: &str) -> String {
    name.chars()
        .filter(|c| !c.is_control())
        .take(MAX_NAME_CHARS)
        .collect::<String>()
        .trim()
        .to_owned()
}

impl FromRequestParts<AppContext> for ApiCaller {
    type Rejection = Problem;

    async fn from_request_parts(parts: &mut Parts, ctx: &AppContext) -> Result<Self, Problem> {
        Self::from_headers(&parts.headers, ctx.settings.app_service_auth).map_err(|e| {
            info!(error = %e, "API call refused: unreadable client principal");
            Problem::new(
                StatusCode::UNAUTHORIZED,
                "unauthenticated",
                "Caller not identified",
                e.to_string(),
            )
            .at(parts.uri.path())
        })
    }
}

#[cfg(test)]
mod tests {
    use axum::http::HeaderValue;
    use serde_json::json;

    use super::*;

    const OID: &str = "7f3c2b1a-5d4e-4f60-8a9b-0c1d2e3f4a5b";

    fn headers(principal: &serde_json::Value) -> HeaderMap {
        let mut headers = HeaderMap::new();
        let encoded = STANDARD.encode(principal.to_string());
        headers.insert(PRINCIPAL, HeaderValue::from_str(&encoded).unwrap());
        headers
    }

    fn user(roles: &[&str]) -> serde_json::Value {
        let mut claims = vec![
            json!({"typ": OBJECT_ID_CLAIMS[0], "val": OID}),
            json!({"typ": "name", "val": "Ada Operator"}),
        ];
        claims.extend(roles.iter().map(|r| json!({"typ": "roles", "val": r})));
        json!({"auth_typ": "aad", "claims": claims, "name_typ": "name", "role_typ": "roles"})
    }

    #[test]
    fn a_principal_is_read_only_while_app_service_authentication_is_on() {
        let h = headers(&user(&[]));
        assert_eq!(
            ApiCaller::from_headers(&h, false).unwrap().caller,
            Caller::FunctionKey
        );
        assert_eq!(
            ApiCaller::from_headers(&h, true).unwrap().caller,
            Caller::Principal {
                object_id: OID.into(),
                name: Some("Ada Operator".into())
            }
        );
    }

    #[test]
    fn a_principal_without_the_role_is_refused_and_one_with_it_is_not() {
        let with =
            ApiCaller::from_headers(&headers(&user(&["ShareRequests.Submit"])), true).unwrap();
        let without =
            ApiCaller::from_headers(&headers(&user(&["ShareRequests.Read"])), true).unwrap();
        assert!(with.require(Role::Submit, "/").is_ok());
        assert_eq!(without.require(Role::Submit, "/").unwrap_err().status, 403);
        let key = ApiCaller::from_headers(&HeaderMap::new(), true).unwrap();
        assert!(
            key.require(Role::Revoke, "/").is_ok(),
            "a function key is not limited by roles"
        );
    }

    #[test]
    fn an_unreadable_principal_is_an_error_not_a_function_key() {
        let mut h = HeaderMap::new();
        h.insert(PRINCIPAL, HeaderValue::from_static("%%%"));
        assert_eq!(
            ApiCaller::from_headers(&h, true),
            Err(PrincipalError::NotBase64)
        );
        let no_oid = json!({"claims": [{"typ": "name", "val": "x"}]});
        assert_eq!(
            ApiCaller::from_headers(&headers(&no_oid), true),
            Err(PrincipalError::NoObjectId)
        );
    }

    #[test]
    fn a_name_loses_control_characters_and_is_bounded() {
        let long = format!("a\u{7}b{}", "c".repeat(400));
        assert_eq!(bounded(&long).chars().count(), MAX_NAME_CHARS);
        assert!(bounded(&long).starts_with("abc"));
    }
}
