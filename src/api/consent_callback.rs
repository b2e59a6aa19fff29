//! `GET /api/consent/callback`: where Entra sends the consumer's admin after consent.
//! Implemented by the pipeline issue.

use axum::http::StatusCode;

use super::Problem;

/// Not available yet: says so instead of pretending the consent was recorded.
pub async fn consent_callback() -> Problem {
    Problem::new(
        StatusCode::SERVICE_UNAVAILABLE,
        "not-implemented",
        "Consent handling is not available yet",
        "this deployment cannot record consent yet",
    )
    .at("/api/consent/callback")
}
