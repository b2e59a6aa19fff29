//! The status of a request as a page for a person: `GET /api/share-requests/{id}` asked for
//! by a browser (`Accept: text/html`). Built from the same status document as the JSON, so it
//! shows nothing the JSON does not, and never a secret.

use axum::{
    http::{HeaderMap, header},
    response::{Html, IntoResponse, Response},
};
use serde_json::Value;

use super::html::{document, escape, secure};

/// Whether the client prefers HTML to JSON: a browser's `Accept` names `text/html` before any
/// JSON type; automation sends `application/json`, `*/*` or nothing and gets JSON.
pub fn wants_html(headers: &HeaderMap) -> bool {
    let Some(accept) = headers.get(header::ACCEPT).and_then(|v| v.to_str().ok()) else {
        return false;
    };
    let position = |needle: &str| accept.find(needle);
    match (position("text/html"), position("json")) {
        (Some(html), Some(json)) => html < json,
        (Some(_), None) => true,
        _ => false,
    }
}

fn text<'a>(value: &'a Value, pointer: &str) -> Option<&'a str> {
    value.pointer(pointer).and_then(Value::as_str)
}

fn row(label: &str, value: Option<&str>) -> String {
    value.map_or_else(String::new, |v| {
        format!(
            "<tr><th scope=\"row\">{}</th><td>{}</td></tr>",
            escape(label),
            escape(v)
        )
    })
}

/// The page for a status (or rejection) document.
pub fn render(status: &Value) -> Response {
    let id = text(status, "/id").unwrap_or("");
    let mut body = format!(
        "<p class=\"state\">State: {}</p><p>{}</p>",
        escape(text(status, "/state").unwrap_or("unknown")),
        escape(text(status, "/summary").unwrap_or(""))
    );
    if let Some(failure) = text(status, "/failure") {
        body.push_str(&format!("<p><b>Why:</b> {}</p>", escape(failure)));
    }
    if let Some(waiting) = text(status, "/waitingFor") {
        body.push_str(&format!("<p>Waiting for {}.</p>", escape(waiting)));
    }
    if let Some(action) = status.get("nextAction").filter(|a| a.is_object()) {
        body.push_str("<h2>What to do next</h2>");
        body.push_str(&format!(
            "<p>{}</p>",
            escape(text(action, "/description").unwrap_or(""))
        ));
        if let Some(url) = text(action, "/url") {
            body.push_str(&format!(
                "<p><a href=\"{}\">Open the link</a></p>",
                escape(url)
            ));
        }
        if let Some(command) = text(action, "/command") {
            body.push_str(&format!("<p>or run <code>{}</code></p>", escape(command)));
        }
    }
    if let Some(errors) = status.get("errors").and_then(Value::as_array) {
        body.push_str("<h2>Problems</h2><ul>");
        for error in errors {
            body.push_str(&format!(
                "<li><code>{}</code>: {}</li>",
                escape(text(error, "/pointer").unwrap_or("")),
                escape(text(error, "/detail").unwrap_or(""))
            ));
        }
        body.push_str("</ul>");
    }
    body.push_str("<h2>Details</h2><table>");
    for (label, pointer) in [
        ("Consumer tenant", "/consumer/tenantId"),
        ("Subscription", "/consumer/subscriptionId"),
        ("Resource group", "/consumer/resourceGroup"),
        ("Consumer admin", "/consumer/adminEmail"),
        ("Image", "/image/name"),
        ("App (client id)", "/app/appId"),
        ("VM", "/vm/name"),
        ("VM size", "/vm/size"),
        ("Region", "/vm/location"),
        ("VM resource id", "/vm/id"),
        ("Created", "/createdAt"),
        ("Received", "/receivedAt"),
        ("Last change", "/updatedAt"),
    ] {
        body.push_str(&row(label, text(status, pointer)));
    }
    body.push_str("</table>");
    if let Some(steps) = status.get("steps").and_then(Value::as_object) {
        body.push_str(
            "<h2>Steps</h2><table><tr><th scope=\"col\">Step</th><th scope=\"col\">Started</th>\
             <th scope=\"col\">Completed</th><th scope=\"col\">Runs</th></tr>",
        );
        for (name, step) in steps {
            body.push_str(&format!(
                "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
                escape(name),
                escape(text(step, "/startedAt").unwrap_or("")),
                escape(text(step, "/completedAt").unwrap_or("")),
                step.get("runs").and_then(Value::as_u64).unwrap_or(0)
            ));
        }
        body.push_str("</table>");
    }
    let mut response = Html(document(&format!("Share request {id}"), &body)).into_response();
    secure(response.headers_mut());
    response
}
