//! Who may send or receive: SAS tokens checked against the namespace's policies, or Entra
//! tokens checked against the Azure Service Bus Data roles.

use axum::response::Response;
use http::StatusCode;
use time::OffsetDateTime;

use super::{
    broker::Namespace,
    http::error,
    sas::{self, SasError},
};
use crate::{context::SimContext, rbac, request::HostRequest, timefmt, tokens::AuthError};

/// Entra audience of Service Bus.
const AUDIENCE: &str = "https://servicebus.azure.net";

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Right {
    /// Send messages.
    Send,
    /// Receive and settle messages.
    Listen,
}

impl Right {
    fn as_str(self) -> &'static str {
        match self {
            Self::Send => "Send",
            Self::Listen => "Listen",
        }
    }
    fn data_roles(self) -> &'static [&'static str] {
        match self {
            Self::Send => &[
                "Azure Service Bus Data Owner",
                "Azure Service Bus Data Sender",
            ],
            Self::Listen => &[
                "Azure Service Bus Data Owner",
                "Azure Service Bus Data Receiver",
            ],
        }
    }
}

pub(super) fn authorize(
    ctx: &SimContext,
    req: &HostRequest,
    namespace: &str,
    right: Right,
    now: OffsetDateTime,
) -> Result<(), Response> {
    let world = ctx.world();
    let Some(ns) = world.namespaces.get(namespace) else {
        return Err(error(
            StatusCode::NOT_FOUND,
            "The messaging namespace could not be found.",
            req,
            now,
        ));
    };
    let target = format!("{}{}", req.host, req.path);
    let unauthorized = |detail: String| error(StatusCode::UNAUTHORIZED, &detail, req, now);
    let claim_missing = || {
        unauthorized(format!(
            "Unauthorized access. '{}' claim(s) are required to perform this operation. Resource: 'sb://{}'.",
            right.as_str(),
            target
        ))
    };
    let Some(header) = req.header("authorization") else {
        return Err(unauthorized(
            "MissingToken: The authorization header was not found.".to_owned(),
        ));
    };
    if header.starts_with("SharedAccessSignature") {
        let token = sas::parse(header).map_err(|_| {
            unauthorized("MalformedToken: The credentials contained in the authorization header are not in the SharedAccessSignature format.".to_owned())
        })?;
        return match sas::verify(&token, &ns.policies, &target, now.unix_timestamp()) {
            Ok(policy) if sas::grants(policy, right.as_str()) => Ok(()),
            Ok(_) => Err(claim_missing()),
            Err(SasError::Expired(se)) => {
                let at = OffsetDateTime::from_unix_timestamp(se).unwrap_or(now);
                Err(unauthorized(format!(
                    "ExpiredToken: The token is expired. Expiration time: '{}'.",
                    timefmt::entra_timestamp(at)
                )))
            }
            Err(SasError::WrongAudience(sr)) => Err(unauthorized(format!(
                "InvalidAudience: The token audience '{sr}' does not match the resource."
            ))),
            Err(SasError::InvalidSignature | SasError::UnknownKeyName) => Err(unauthorized(
                "InvalidSignature: The token has an invalid signature.".to_owned(),
            )),
            Err(SasError::Malformed) => Err(unauthorized(
                "MalformedToken: The token is not in the SharedAccessSignature format.".to_owned(),
            )),
        };
    }
    let namespace_audience = format!("https://{}", req.host);
    let claims = ctx
        .authenticate(req, &[AUDIENCE, &namespace_audience], Some(&ns.tenant))
        .map_err(|e| {
            unauthorized(match e {
                AuthError::Expired { exp } => format!(
                    "ExpiredToken: The token is expired. Expiration time: '{}'.",
                    timefmt::entra_timestamp(OffsetDateTime::from_unix_timestamp(exp).unwrap_or(now))
                ),
                AuthError::WrongAudience { found } => {
                    format!("InvalidAudience: The token audience '{found}' is not valid for this resource.")
                }
                AuthError::WrongTenant { found } => {
                    format!("InvalidIssuer: Token issuer '{found}' is invalid.")
                }
                AuthError::Missing | AuthError::Malformed => {
                    "MalformedToken: The token could not be parsed.".to_owned()
                }
                AuthError::BadSignature | AuthError::NotYetValid => {
                    "InvalidSignature: The token has an invalid signature.".to_owned()
                }
            })
        })?;
    let entity_id = entity_resource_id(ns, &req.path);
    if rbac::find_assignment(
        &world.role_assignments,
        &claims.oid,
        &entity_id,
        right.data_roles(),
        now,
    )
    .is_none()
    {
        return Err(claim_missing());
    }
    Ok(())
}

/// `{namespace id}/queues/{q}` or `/topics/{t}` for the addressed entity (RBAC scope).
fn entity_resource_id(ns: &Namespace, path: &str) -> String {
    let first = path
        .trim_start_matches('/')
        .split('/')
        .next()
        .unwrap_or_default();
    let kind = if ns.is_topic(first) {
        "topics"
    } else {
        "queues"
    };
    format!("{}/{kind}/{first}", ns.resource_id)
}
