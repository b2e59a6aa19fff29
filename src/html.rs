//! What every HTML page and mail of the app shares: escaping and the security headers. The pages are
//! for people (the consumer's admin, an operator following a request) and hold links with
//! single-use state, so they are never cached, framed, sniffed or sent on as a referrer, and
//! run no script.

use axum::http::{HeaderMap, HeaderValue, header};

/// Escapes text for HTML element content and quoted attribute values.
pub fn escape(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
        .replace('\'', "&#39;")
}

/// The one style sheet, inline (the CSP allows inline styles and nothing else).
pub const STYLE: &str = "body{font-family:system-ui,sans-serif;max-width:44rem;margin:3rem auto;padding:0 1rem;line-height:1.5;color:#1b1b1b;background:#fff}\
code{background:#f3f3f3;padding:.1rem .3rem;word-break:break-all}\
table{border-collapse:collapse}textarea{width:100%;min-height:4rem}form{margin:1rem 0}button{font:inherit;padding:.4rem 1rem}td,th{text-align:left;padding:.2rem .8rem .2rem 0;vertical-align:top}\
.state{font-weight:600}";

/// The policy of every page: no script, no frames, no forms, no external anything, only the
/// inline style.
const POLICY: &str = "default-src 'none'; style-src 'unsafe-inline'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'";
/// The approval page's: the same, except that its forms may post back to this app.
const POLICY_WITH_FORMS: &str = "default-src 'none'; style-src 'unsafe-inline'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'";

/// Adds the headers every page sends.
pub fn secure(headers: &mut HeaderMap) {
    secure_with(headers, POLICY);
}

/// Adds the headers of a page whose forms post back to this app (the approval page).
pub fn secure_with_forms(headers: &mut HeaderMap) {
    secure_with(headers, POLICY_WITH_FORMS);
}

fn secure_with(headers: &mut HeaderMap, policy: &'static str) {
    let set = |headers: &mut HeaderMap, name, value: &'static str| {
        headers.insert(name, HeaderValue::from_static(value));
    };
    set(headers, header::CACHE_CONTROL, "no-store");
    set(headers, header::CONTENT_SECURITY_POLICY, policy);
    set(headers, header::X_CONTENT_TYPE_OPTIONS, "nosniff");
    set(headers, header::X_FRAME_OPTIONS, "DENY");
    // The callback URL carries the consent state: no other site may see it.
    set(headers, header::REFERRER_POLICY, "no-referrer");
}

/// A complete page: `title` as the title and heading, then `body_html`.
pub fn document(title: &str, body_html: &str) -> String {
    format!(
        "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\">\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\
         <title>{t}</title><style>{STYLE}</style></head>\
         <body><h1>{t}</h1>{body_html}</body></html>",
        t = escape(title)
    )
}
