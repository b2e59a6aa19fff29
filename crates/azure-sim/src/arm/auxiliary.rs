//! `x-ms-authorization-auxiliary`: up to three tokens from other tenants
//! (`Bearer <t1>, Bearer <t2>`; azure-cli's older path joins with `;`), each of which must be
//! valid and unexpired, or ARM answers 401 naming the token's client and tenant.

use http::StatusCode;
use time::OffsetDateTime;

use super::{AUDIENCES, ArmError};
use crate::{
    context::SimContext,
    request::HostRequest,
    tokens::{AuthError, Claims, decode_unverified},
};

/// The header name.
pub const HEADER: &str = "x-ms-authorization-auxiliary";
/// ARM accepts at most this many auxiliary tokens.
pub const MAX_TOKENS: usize = 3;

fn refused(message: String) -> ArmError {
    ArmError::new(
        StatusCode::UNAUTHORIZED,
        "InvalidAuthenticationToken",
        message,
    )
}

/// The validated auxiliary tokens (none when the header is absent).
pub fn validate(
    ctx: &SimContext,
    req: &HostRequest,
    now: OffsetDateTime,
) -> Result<Vec<Claims>, ArmError> {
    let Some(header) = req.header(HEADER) else {
        return Ok(vec![]);
    };
    let parts: Vec<&str> = header
        .split([',', ';'])
        .map(str::trim)
        .filter(|p| !p.is_empty())
        .collect();
    if parts.len() > MAX_TOKENS {
        // Wording assumed: the documented limit is three tokens.
        return Err(refused(format!(
            "The '{HEADER}' header carries {} tokens; at most {MAX_TOKENS} are allowed.",
            parts.len()
        )));
    }
    let mut out = Vec::with_capacity(parts.len());
    for part in parts {
        let (scheme, token) = part.split_once(' ').unwrap_or((part, ""));
        let token = token.trim();
        if !scheme.eq_ignore_ascii_case("bearer") || token.is_empty() {
            return Err(refused(format!(
                "The auxiliary token in the '{HEADER}' header is not a bearer token this service can read."
            )));
        }
        let hint = decode_unverified(token).ok();
        let who = hint.as_ref().map_or_else(
            || "an unknown client".to_owned(),
            |c| format!("client '{}' of tenant '{}'", c.appid, c.tid),
        );
        match ctx.validate_token(token, &AUDIENCES, None) {
            Ok(claims) => out.push(claims),
            Err(AuthError::Expired { exp }) => {
                return Err(ArmError::new(
                    StatusCode::UNAUTHORIZED,
                    "ExpiredAuthenticationToken",
                    format!(
                        "The auxiliary access token of {who} in the '{HEADER}' header expired at '{}' (current UTC time '{}').",
                        crate::arm::reply::arm_time(
                            OffsetDateTime::from_unix_timestamp(exp).unwrap_or(now)
                        ),
                        crate::arm::reply::arm_time(now)
                    ),
                ));
            }
            Err(AuthError::WrongAudience { found }) => {
                return Err(ArmError::new(
                    StatusCode::UNAUTHORIZED,
                    "InvalidAuthenticationTokenAudience",
                    format!(
                        "The auxiliary access token of {who} has been obtained for wrong audience or resource '{found}'."
                    ),
                ));
            }
            Err(_) => {
                return Err(refused(format!(
                    "The auxiliary access token of {who} in the '{HEADER}' header is invalid."
                )));
            }
        }
    }
    Ok(out)
}

/// The auxiliary token issued by `tenant`, if one was sent.
pub fn for_tenant<'a>(aux: &'a [Claims], tenant: &str) -> Option<&'a Claims> {
    aux.iter().find(|c| c.tid.eq_ignore_ascii_case(tenant))
}
