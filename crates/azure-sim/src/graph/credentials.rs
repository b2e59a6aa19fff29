//! Application credentials: `addPassword`, `removePassword` and `federatedIdentityCredentials`.

use axum::response::Response;
use http::{Method, StatusCode};
use rand::Rng;
use serde_json::{Value, json};

use super::{
    Call, READ,
    applications::{Key, in_tenant, with_writable},
    errors,
};
use crate::{
    directory::{Application, FederatedCredential, PasswordCredential},
    secrets::SecretKind,
    timefmt,
};

/// Graph allows at most 20 federated identity credentials per application.
const MAX_FEDERATED: usize = 20;

/// 40 characters like Entra's: three, the `8Q~` marker, then 34 of `[A-Za-z0-9._~-]`.
fn new_secret_text() -> String {
    const ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789._~-";
    const ALNUM: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";
    let mut rng = rand::rng();
    let mut s: String = (0..3)
        .map(|_| char::from(ALNUM[rng.random_range(0..ALNUM.len())]))
        .collect();
    s.push_str("8Q~");
    s.extend((0..34).map(|_| char::from(ALPHABET[rng.random_range(0..ALPHABET.len())])));
    s
}

/// Answers with `f` on the caller-readable application named by `key`.
fn with_readable(call: &Call<'_>, key: &Key, f: impl FnOnce(&Application) -> Response) -> Response {
    let (req, now) = (call.req, call.now);
    if !call.caller.has_any(&READ) {
        return errors::denied(req, now);
    }
    let world = call.ctx.world();
    match in_tenant(&world.directory.applications, &call.caller.tenant, key) {
        Some(app) => f(app),
        None => errors::not_found(key.text(), req, now),
    }
}

pub(super) fn add_password(call: &Call<'_>, key: &Key) -> Response {
    let (req, now) = (call.req, call.now);
    let body = match call.body() {
        Ok(b) => b,
        Err(r) => return r,
    };
    let requested = body
        .get("passwordCredential")
        .cloned()
        .unwrap_or(Value::Null);
    let text = |name: &str| {
        requested
            .get(name)
            .and_then(Value::as_str)
            .map(str::to_owned)
    };
    let (start, start_text) = match text("startDateTime") {
        Some(t) => match timefmt::parse_iso(&t) {
            Some(d) => (d, t),
            None => {
                return errors::bad_request(
                    "Invalid value specified for property 'startDateTime'.",
                    req,
                    now,
                );
            }
        },
        None => (now, timefmt::graph_precise(now)),
    };
    let default_end = start + time::Duration::days(730);
    let end_text = text("endDateTime").unwrap_or_else(|| timefmt::graph_precise(default_end));
    let Some(end) = timefmt::parse_iso(&end_text) else {
        return errors::bad_request(
            "Invalid value specified for property 'endDateTime'.",
            req,
            now,
        );
    };
    if end <= start {
        return errors::bad_request("Key credential end date is invalid.", req, now);
    }
    let secret = new_secret_text();
    let credential = PasswordCredential {
        key_id: uuid::Uuid::new_v4().to_string(),
        display_name: text("displayName"),
        hint: secret.chars().take(3).collect(),
        secret: secret.clone(),
        start,
        end,
        start_text,
        end_text,
        added_at: now,
    };
    let response = json!({
        "@odata.context": "https://graph.microsoft.com/v1.0/$metadata#microsoft.graph.passwordCredential",
        "customKeyIdentifier": null,
        "displayName": credential.display_name,
        "endDateTime": credential.end_text,
        "hint": credential.hint,
        "keyId": credential.key_id,
        "secretText": secret,
        "startDateTime": credential.start_text,
    });
    match with_writable(call, key, |app| {
        app.passwords.push(credential);
        Ok(())
    }) {
        Ok(()) => {
            call.ctx.secrets.add(SecretKind::ClientSecret, &secret);
            // Graph answers addPassword with the bare host as Location (recorded).
            errors::ok(
                StatusCode::OK,
                &response,
                Some("https://graph.microsoft.com".to_owned()),
                req,
                now,
            )
        }
        Err(r) => r,
    }
}

pub(super) fn remove_password(call: &Call<'_>, key: &Key) -> Response {
    let (req, now) = (call.req, call.now);
    let body = match call.body() {
        Ok(b) => b,
        Err(r) => return r,
    };
    let Some(key_id) = body.get("keyId").and_then(Value::as_str).map(str::to_owned) else {
        return errors::bad_request("Property 'keyId' is required.", req, now);
    };
    match with_writable(call, key, |app| {
        let before = app.passwords.len();
        app.passwords
            .retain(|p| !p.key_id.eq_ignore_ascii_case(&key_id));
        if app.passwords.len() == before {
            return Err(errors::bad_request(
                &format!(
                    "No password credential with keyId '{key_id}' was found on the application."
                ),
                req,
                now,
            ));
        }
        Ok(())
    }) {
        Ok(()) => errors::empty(StatusCode::NO_CONTENT, req, now),
        Err(r) => r,
    }
}

fn fic_json(app_id: &str, f: &FederatedCredential, entity: bool) -> Value {
    let mut v = json!({
        "audiences": f.audiences,
        "description": f.description,
        "id": f.id,
        "issuer": f.issuer,
        "name": f.name,
        "subject": f.subject,
    });
    if entity && let Some(o) = v.as_object_mut() {
        o.insert(
            "@odata.context".into(),
            format!("https://graph.microsoft.com/v1.0/$metadata#applications('{app_id}')/federatedIdentityCredentials/$entity").into(),
        );
    }
    v
}

pub(super) fn federated(call: &Call<'_>, key: &Key, rest: &[&str]) -> Response {
    let (req, now) = (call.req, call.now);
    match (&req.method, rest) {
        (&Method::GET, []) => with_readable(call, key, |app| {
            let value: Vec<Value> = app
                .federated
                .iter()
                .map(|f| fic_json(&app.id, f, false))
                .collect();
            errors::ok(
                StatusCode::OK,
                &json!({
                    "@odata.context": format!("https://graph.microsoft.com/v1.0/$metadata#applications('{}')/federatedIdentityCredentials", app.id),
                    "value": value,
                }),
                None,
                req,
                now,
            )
        }),
        (&Method::GET, [id]) => with_readable(call, key, |app| {
            match app
                .federated
                .iter()
                .find(|f| f.id.eq_ignore_ascii_case(id) || f.name == *id)
            {
                Some(f) => errors::ok(StatusCode::OK, &fic_json(&app.id, f, true), None, req, now),
                None => errors::not_found(id, req, now),
            }
        }),
        (&Method::POST, []) => {
            let body = match call.body() {
                Ok(b) => b,
                Err(r) => return r,
            };
            let field = |n: &str| body.get(n).and_then(Value::as_str).map(str::to_owned);
            let (Some(name), Some(issuer), Some(subject)) =
                (field("name"), field("issuer"), field("subject"))
            else {
                return errors::bad_request(
                    "Properties 'name', 'issuer' and 'subject' are required.",
                    req,
                    now,
                );
            };
            let audiences: Vec<String> = body
                .get("audiences")
                .and_then(Value::as_array)
                .map(|a| {
                    a.iter()
                        .filter_map(|v| v.as_str().map(str::to_owned))
                        .collect()
                })
                .unwrap_or_default();
            if audiences.len() != 1 {
                return errors::bad_request(
                    "Property 'audiences' must contain exactly one value.",
                    req,
                    now,
                );
            }
            if name.len() < 3 || name.len() > 120 {
                return errors::bad_request(
                    "Property 'name' must be between 3 and 120 characters.",
                    req,
                    now,
                );
            }
            let credential = FederatedCredential {
                id: uuid::Uuid::new_v4().to_string(),
                name,
                issuer,
                subject,
                audiences,
                description: field("description"),
            };
            match with_writable(call, key, |app| {
                if app
                    .federated
                    .iter()
                    .any(|f| f.name.eq_ignore_ascii_case(&credential.name))
                {
                    return Err(errors::error(
                        StatusCode::CONFLICT,
                        "Request_MultipleObjectsWithSameKeyValue",
                        &format!(
                            "FederatedIdentityCredential with name {} already exists.",
                            credential.name
                        ),
                        None,
                        req,
                        now,
                    ));
                }
                if app
                    .federated
                    .iter()
                    .any(|f| f.issuer == credential.issuer && f.subject == credential.subject)
                {
                    return Err(errors::error(
                        StatusCode::CONFLICT,
                        "Request_MultipleObjectsWithSameKeyValue",
                        "FederatedIdentityCredential with the same issuer and subject already exists.",
                        None,
                        req,
                        now,
                    ));
                }
                if app.federated.len() >= MAX_FEDERATED {
                    return Err(errors::bad_request(
                        "Maximum number of federated identity credentials (20) reached for this application.",
                        req,
                        now,
                    ));
                }
                let json = fic_json(&app.id, &credential, true);
                app.federated.push(credential);
                Ok(json)
            }) {
                Ok(json) => errors::ok(StatusCode::CREATED, &json, None, req, now),
                Err(r) => r,
            }
        }
        (&Method::DELETE, [id]) => match with_writable(call, key, |app| {
            let before = app.federated.len();
            app.federated
                .retain(|f| !(f.id.eq_ignore_ascii_case(id) || f.name == *id));
            if app.federated.len() == before {
                return Err(errors::not_found(id, req, now));
            }
            Ok(())
        }) {
            Ok(()) => errors::empty(StatusCode::NO_CONTENT, req, now),
            Err(r) => r,
        },
        _ => errors::method_not_allowed(req, now),
    }
}
