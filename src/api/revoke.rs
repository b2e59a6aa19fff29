//! `DELETE /api/share-requests/{id}[?deleteResources=true]`: revokes a share. Like a
//! Resource Manager DELETE: `202 Accepted` with `Location` and `Retry-After` while the
//! RevokeAccess step removes things, `200` once the request is `Revoked` (a repeat changes
//! nothing). The request's record stays, with what was removed, for the audit.

use axum::{
    Json,
    extract::{Path, RawQuery, State},
    http::{HeaderValue, StatusCode, header},
    response::{IntoResponse, Response},
};

use super::{ApiCaller, Problem, Role, share_requests::store_problem};
use crate::{
    context::AppContext,
    domain::{Actor, EventContext, RequestId, State as RequestState},
    invocation::InvocationId,
    status::StatusDocument,
    store::{self, Change, ChangeError},
};

/// The pause a client should leave between polls of a revocation.
const RETRY_AFTER_SECONDS: &str = "10";

/// Reads `deleteResources` (`true` or `false`, default `false`); other parameters are
/// ignored, as Azure's own APIs do.
fn delete_resources(query: Option<&str>) -> Result<bool, String> {
    let mut value = None;
    for (name, v) in url::form_urlencoded::parse(query.unwrap_or_default().as_bytes()) {
        if name == "deleteResources" {
            if value.is_some() {
                return Err("'deleteResources' is given more than once".into());
            }
            value = Some(match v.to_ascii_lowercase().as_str() {
                "true" => true,
                "false" => false,
                _ => {
                    let shown: String = v.chars().take(40).collect();
                    return Err(format!(
                        "'deleteResources' must be 'true' or 'false', not '{shown}'"
                    ));
                }
            });
        }
    }
    Ok(value.unwrap_or(false))
}

/// What the change found.
#[derive(Debug)]
enum Found {
    /// The revocation started now.
    Started,
    /// One is already running (its own choice of `deleteResources` stands).
    Running,
    /// The request is revoked already.
    Revoked,
}

/// `DELETE /api/share-requests/{id}`.
pub async fn revoke_share_request(
    State(ctx): State<AppContext>,
    InvocationId(invocation_id): InvocationId,
    Path(id): Path<String>,
    RawQuery(query): RawQuery,
    caller: ApiCaller,
) -> Result<Response, Problem> {
    let path = format!("/api/share-requests/{id}");
    caller.require(Role::Revoke, &path)?;
    let delete = delete_resources(query.as_deref()).map_err(|detail| {
        Problem::new(
            StatusCode::BAD_REQUEST,
            "invalid-parameter",
            "Invalid query parameter",
            detail,
        )
        .at(&path)
    })?;
    let not_found = || Problem::not_found(format!("there is no share request '{id}'")).at(&path);
    let Ok(id) = RequestId::parse(&id) else {
        return Err(not_found());
    };
    let event = EventContext {
        at: ctx.clock.now(),
        actor: Actor::Api,
        invocation_id,
        caller: Some(caller.caller),
    };
    let applied = store::change(ctx.store.as_ref(), id, |r| match r.state() {
        RequestState::Revoked => Ok(Change::Keep(Found::Revoked)),
        RequestState::Revoking => Ok(Change::Keep(Found::Running)),
        _ => {
            let entry = r.revoke(delete, &event)?;
            Ok::<_, crate::domain::IllegalTransition>(Change::Save(vec![entry], Found::Started))
        }
    })
    .await;
    let applied = match applied {
        Ok(applied) => applied,
        Err(ChangeError::Store(store::StoreError::NotFound(_))) => {
            return Err(match ctx.store.get_rejected(id).await {
                Ok(Some(_)) => Problem::new(
                    StatusCode::CONFLICT,
                    "not-revocable",
                    "Nothing to revoke",
                    "the request was rejected when it was submitted; it never created anything",
                )
                .at(&path),
                Ok(None) => not_found(),
                Err(e) => store_problem(&e),
            });
        }
        Err(ChangeError::Refused(illegal)) => {
            return Err(Problem::new(
                StatusCode::CONFLICT,
                "not-revocable",
                "The request cannot be revoked",
                illegal.to_string(),
            )
            .at(&path));
        }
        Err(ChangeError::Store(e)) => return Err(store_problem(&e)),
    };
    crate::outbox::flush(&ctx, &applied.request, &applied.entries).await;
    let history = ctx.store.history(id).await.map_err(|e| store_problem(&e))?;
    let document = StatusDocument::build(&ctx, &applied.request, history);
    let status = match applied.value {
        Found::Revoked => StatusCode::OK,
        Found::Started | Found::Running => StatusCode::ACCEPTED,
    };
    let mut response = (status, Json(document)).into_response();
    let headers = response.headers_mut();
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    if status == StatusCode::ACCEPTED {
        headers.insert(
            header::RETRY_AFTER,
            HeaderValue::from_static(RETRY_AFTER_SECONDS),
        );
        if let Ok(location) = HeaderValue::from_str(&format!("/api/share-requests/{id}")) {
            headers.insert(header::LOCATION, location);
        }
    }
    Ok(response)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn delete_resources_is_true_false_or_absent_and_nothing_else() {
        assert_eq!(delete_resources(None), Ok(false));
        assert_eq!(delete_resources(Some("deleteResources=true")), Ok(true));
        assert_eq!(delete_resources(Some("deleteResources=False")), Ok(false));
        assert_eq!(delete_resources(Some("code=abc")), Ok(false));
        assert!(delete_resources(Some("deleteResources=yes")).is_err());
        assert!(delete_resources(Some("deleteResources=true&deleteResources=false")).is_err());
        let long = format!("deleteResources={}", "x".repeat(5000));
        assert!(delete_resources(Some(&long)).unwrap_err().len() < 120);
    }
}
