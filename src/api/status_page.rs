//! The status of a request as a page for a person: `GET /api/share-requests/{id}` asked for
//! by a browser (`Accept: text/html`). Built from the same status document as the JSON, so it
//! shows nothing the JSON does not, and never a secret.

use axum::{
    http::{HeaderMap, header},
    response::{Html, IntoResponse, Response},
};
use serde_json::Value;

use crate::html::{document, escape, secure};

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
    // A failure's text is Azure's own (resource ids, the owner tenant's internals): whoever
    // holds this page's link gets a generic reason and the id to quote; the JSON keeps the
    // detail for the operator.
    match (text(status, "/state"), text(status, "/failure")) {
        (Some("Failed"), Some(_)) => body.push_str(&format!(
            "<p><b>Why:</b> the request could not be completed. Quote request <code>{}</code> to the image owner, who can see the reason.</p>",
            escape(id)
        )),
        (_, Some(failure)) => {
            body.push_str(&format!("<p><b>Why:</b> {}</p>", escape(failure)));
        }
        _ => {}
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

#[cfg(test)]
mod tests {
    use super::*;

    async fn body_of(response: Response) -> String {
        let bytes = axum::body::to_bytes(response.into_body(), usize::MAX)
            .await
            .unwrap_or_default();
        String::from_utf8_lossy(&bytes).into_owned()
    }

    #[tokio::test]
    async fn a_failed_requests_page_shows_a_generic_reason_and_the_id_not_azures_message() {
        let status = serde_json::json!({
            "id": "5b0c2f7e-0000-4000-8000-000000000001",
            "state": "Failed",
            "failure": "ARM said: /subscriptions/1a1a/resourceGroups/rg-images/providers/Microsoft.Compute/galleries/g is forbidden",
        });
        let page = body_of(render(&status)).await;
        assert!(!page.contains("rg-images"), "{page}");
        assert!(
            page.contains("5b0c2f7e-0000-4000-8000-000000000001"),
            "{page}"
        );
    }

    #[tokio::test]
    async fn a_declined_requests_page_shows_the_admins_reason_escaped() {
        let status = serde_json::json!({
            "id": "5b0c2f7e-0000-4000-8000-000000000002",
            "state": "Declined",
            "failure": "The consumer's admin declined this request: <script>x</script>",
        });
        let page = body_of(render(&status)).await;
        assert!(page.contains("&lt;script&gt;x"), "{page}");
        assert!(!page.contains("<script>"), "{page}");
    }
}
