//! Entra ID (`login.microsoftonline.com`) and the App Service managed identity endpoint.

pub mod authcode;
pub mod consent;
mod discovery;
pub mod errors;
pub mod msi;
pub mod password;
pub mod redeem;
pub mod scopes;
mod token;

use axum::response::Response;
use http::{Method, StatusCode};

use crate::{
    context::SimContext,
    request::{HostFamily, HostRequest, family, plain},
    service::HostService,
};

/// The simulated `login.microsoftonline.com`.
#[derive(Debug, Default)]
pub struct Entra;

#[async_trait::async_trait]
impl HostService for Entra {
    fn name(&self) -> &'static str {
        "entra"
    }

    fn serves(&self, host: &str) -> bool {
        family(host) == HostFamily::Entra
    }

    async fn handle(&self, ctx: SimContext, req: HostRequest) -> Response {
        let segments: Vec<String> = req.segments().iter().map(|s| (*s).to_owned()).collect();
        let parts: Vec<&str> = segments.iter().map(String::as_str).collect();
        match (&req.method, parts.as_slice()) {
            (&Method::GET, ["common", "discovery", "instance"]) => discovery::instance(&req),
            (&Method::GET, ["common", "userrealm", username]) => {
                let domain = username
                    .rsplit_once('@')
                    .map(|(_, d)| d)
                    .unwrap_or_default();
                let known = ctx
                    .world()
                    .directory
                    .tenant(domain)
                    .map(|t| t.domain.clone());
                discovery::user_realm(&req, known.as_deref())
            }
            (&Method::GET, [tenant, "v2.0", ".well-known", "openid-configuration"]) => {
                // `organizations` and `common` have their own document, whose issuer holds
                // the literal `{tenantid}` placeholder.
                let id = if password::is_multi_tenant_authority(tenant) {
                    Some((*tenant).to_owned())
                } else {
                    ctx.world().directory.tenant(tenant).map(|t| t.id.clone())
                };
                match id {
                    Some(id) => discovery::openid_configuration(&req, &id),
                    None => errors::response(
                        StatusCode::BAD_REQUEST,
                        "invalid_tenant",
                        90002,
                        &format!("Tenant '{tenant}' not found."),
                        &req.request_id,
                        ctx.now(),
                    ),
                }
            }
            (&Method::GET | &Method::POST, ["redeem"]) => redeem::handle(&ctx, &req),
            (&Method::POST, [tenant, "oauth2", "v2.0", "token"]) => {
                token::token(&ctx, &req, tenant)
            }
            (&Method::GET | &Method::POST, [tenant, "v2.0", "adminconsent"]) => consent::handle(
                &ctx,
                &req,
                tenant,
                consent::Flow::AdminConsentV2,
                "adminconsent",
            ),
            (&Method::GET | &Method::POST, [tenant, "adminconsent"]) => consent::handle(
                &ctx,
                &req,
                tenant,
                consent::Flow::AdminConsentV1,
                "adminconsent",
            ),
            (&Method::GET | &Method::POST, [tenant, "oauth2", "authorize"]) => {
                consent::handle(&ctx, &req, tenant, consent::Flow::Authorize, "authorize")
            }
            (&Method::GET | &Method::POST, [tenant, "oauth2", "v2.0", "authorize"]) => {
                consent::handle(&ctx, &req, tenant, consent::Flow::AuthorizeV2, "authorize")
            }
            _ => plain(
                StatusCode::NOT_FOUND,
                format!(
                    "azure-sim: {} {} is not simulated on login.microsoftonline.com",
                    req.method, req.path
                ),
            ),
        }
    }
}
