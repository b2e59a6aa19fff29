//! `GET /api/consent/callback`: where Entra sends the consumer's admin after the admin-consent
//! page, or with a `code` after the one-visit sign-in (`one_visit`). The redirect proves nothing by itself (its `tenant` is never trusted, reference
//! §2.1): it is recorded, a consent check is queued at once, and the admin is told exactly
//! what is left to do.

use std::convert::Infallible;

use axum::{
    extract::{Query, State},
    http::StatusCode,
    response::Response,
};
use time::format_description::well_known::Rfc3339;
use tracing::info;

use super::answers::{
    self, Open, Via, already_used, announce, answerable, approve, bounded_reason, decline,
    declined_page, invalid_link, page, remaining, single_valued, store_error, unavailable,
};
use crate::{
    context::AppContext,
    domain::{Actor, CallbackRecord, EventContext, RequestId},
    html::escape,
    invocation::InvocationId,
    store::{self, Change, StoreError},
};

/// The longest `error` code or `tenant` accepted; anything longer is not from Entra.
const TOKEN_MAX_CHARS: usize = 64;
/// The longest authorization code accepted (Entra's are around a kilobyte).
const CODE_MAX_CHARS: usize = 4096;

/// Whether `value` could be an Entra error code or a tenant (GUID or domain): short, and
/// made of the characters those use.
fn token_like(value: &str) -> bool {
    !value.is_empty()
        && value.len() <= TOKEN_MAX_CHARS
        && value
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'-' | b'.'))
}

/// `GET /api/consent/callback?admin_consent=True&tenant=..&state=..` (or `error=..`).
pub async fn consent_callback(
    State(ctx): State<AppContext>,
    InvocationId(invocation_id): InvocationId,
    Query(pairs): Query<Vec<(String, String)>>,
) -> Response {
    let Some(query) = single_valued(pairs) else {
        return invalid_link();
    };
    let error = query.get("error");
    let tenant = query.get("tenant");
    if error.is_some_and(|e| !token_like(e)) || tenant.is_some_and(|t| !token_like(t)) {
        return invalid_link();
    }
    let Open {
        request,
        consent,
        hash,
    } = match answers::open(&ctx, query.get("state")).await {
        Ok(open) => open,
        Err(page) => return page,
    };
    let id = request.id;
    // Entra names the tenant the admin signed in to; one that is not the request's is not an
    // answer for this request, whatever else the redirect says.
    if tenant.is_some_and(|t| !t.eq_ignore_ascii_case(&request.consumer.tenant_id.to_string())) {
        return page(
            StatusCode::BAD_REQUEST,
            "This answer is for another tenant",
            &format!(
                "<p>The link was answered from a different tenant than the one this request is for. Nothing was changed. Sign in as an administrator of tenant <code>{}</code> and open the link again.</p>",
                request.consumer.tenant_id
            ),
        );
    }

    let event = EventContext {
        at: ctx.clock.now(),
        actor: Actor::ConsumerAdmin,
        caller: None,
        invocation_id,
    };
    if let Some(error) = error {
        let description = bounded_reason(
            query
                .get("error_description")
                .map(String::as_str)
                .unwrap_or(""),
        );
        if error == "access_denied" {
            return match decline(
                &ctx,
                id,
                &hash,
                &description,
                &Via::ConsentPage {
                    reported_tenant: None,
                },
                &event,
            )
            .await
            {
                Ok(Some(request)) => declined_page(&request),
                Ok(None) => already_used(false),
                Err(e) => unavailable(&e),
            };
        }
        if let Err(e) = record_error(&ctx, id, &hash, error, &description, &event).await {
            return unavailable(&e);
        }
        info!(request_id = %id, %error, "Entra reported an error on the consent page");
        let expires = consent.expires_at.format(&Rfc3339).unwrap_or_default();
        return page(
            StatusCode::OK,
            "Consent was not given",
            &format!(
                "<p>Entra reported <code>{}</code>: {}</p><p>Nothing was changed. If this was a mistake, open the link again (it works until {}).</p>",
                escape(error),
                escape(&description),
                escape(&expires)
            ),
        );
    }
    // The one-visit sign-in comes back with a code to redeem.
    if let Some(code) = query.get("code") {
        if code.is_empty() || code.len() > CODE_MAX_CHARS {
            return invalid_link();
        }
        let open = Open {
            request,
            consent,
            hash,
        };
        return super::one_visit::answer(&ctx, open, code, &event).await;
    }
    if !query
        .get("admin_consent")
        .is_some_and(|v| v.eq_ignore_ascii_case("true"))
    {
        return invalid_link();
    }

    let via = Via::ConsentPage {
        reported_tenant: tenant.cloned(),
    };
    match approve(&ctx, id, &hash, &via, &event).await {
        Ok(Some(request)) => page(
            StatusCode::OK,
            "Thank you: consent recorded",
            &format!(
                "<p>imageshare is checking the consent in your tenant <code>{}</code> now.</p>{}",
                request.consumer.tenant_id,
                remaining(&request)
            ),
        ),
        Ok(None) => already_used(false),
        Err(e) => unavailable(&e),
    }
}

/// Records an Entra error other than a decline (the admin may open the link again): bounded,
/// overwriting the last one, and noted in the history only when it differs from it, so
/// replays cannot grow the record.
async fn record_error(
    ctx: &AppContext,
    id: RequestId,
    hash: &str,
    error: &str,
    description: &str,
    event: &EventContext,
) -> Result<(), StoreError> {
    let text = format!("{error}: {description}");
    let applied = store::change(ctx.store.as_ref(), id, |request| {
        if !answerable(request, hash) {
            return Ok::<_, Infallible>(Change::Keep(()));
        }
        let Some(consent) = request.progress.consent.as_mut() else {
            return Ok(Change::Keep(()));
        };
        let repeat = consent
            .callback
            .as_ref()
            .is_some_and(|c| c.error.as_deref() == Some(text.as_str()));
        if repeat {
            return Ok(Change::Keep(()));
        }
        consent.callback = Some(CallbackRecord {
            at: event.at,
            consented: false,
            error: Some(text.clone()),
            reported_tenant: None,
        });
        let detail = format!("The consent page reported an error: {text}");
        Ok(Change::Save(
            vec![request.note("consent-error", detail, event)],
            (),
        ))
    })
    .await
    .map_err(store_error)?;
    announce(ctx, &applied.request, &applied.entries).await;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pairs(list: &[(&str, &str)]) -> Vec<(String, String)> {
        list.iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect()
    }

    #[test]
    fn a_query_parameter_given_twice_makes_the_link_invalid() {
        assert!(single_valued(pairs(&[("state", "a"), ("state", "b")])).is_none());
        let query = single_valued(pairs(&[("state", "a"), ("tenant", "t")])).unwrap();
        assert_eq!(query["state"], "a");
    }
}
