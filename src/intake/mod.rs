//! Turning a submitted share-request document into a [`Submission`], or into a precise list of
//! what is wrong with it. The HTTP API and the `share-requests` queue share this, so both
//! accept exactly the same documents.

mod admit;
pub mod claim;
mod document;
mod duplicates;
mod fingerprint;
pub mod queue;

use crate::{
    config::Settings,
    domain::{DelegationPlan, DirectSharePlan, GuestPlan, NotAllowed, Strategy, Submission},
};

pub use admit::{Admission, AdmitError, admit};
pub use fingerprint::fingerprint;

/// Largest accepted document. A valid one is well under 4 KiB (an RSA-4096 key is ~750 bytes).
pub const MAX_DOCUMENT_BYTES: usize = 16 * 1024;

/// One thing wrong with the document, located by a JSON Pointer (RFC 6901).
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub struct FieldProblem {
    /// Where, e.g. `#/consumer/tenantId`.
    pub pointer: String,
    /// What is wrong, for a person.
    pub detail: String,
}

impl FieldProblem {
    pub(crate) fn new(pointer: &str, detail: impl Into<String>) -> Self {
        Self {
            pointer: format!("#{pointer}"),
            detail: detail.into(),
        }
    }
}

/// Why a document was refused.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum IntakeError {
    /// Not JSON by its content type.
    #[error("the content type must be application/json, not '{0}'")]
    UnsupportedContentType(String),
    /// Over [`MAX_DOCUMENT_BYTES`].
    #[error("the document is {size} bytes; the limit is {MAX_DOCUMENT_BYTES}")]
    TooLarge {
        /// Its size.
        size: usize,
    },
    /// No body at all.
    #[error("the request has no body")]
    Empty,
    /// Not UTF-8 text, so not JSON (RFC 8259 §8.1).
    #[error(
        "the document is not UTF-8 text: the byte at offset {offset} does not start a UTF-8 character"
    )]
    NotUtf8 {
        /// Where the first invalid byte is.
        offset: usize,
    },
    /// Not parseable JSON.
    #[error("the document is not valid JSON: {0}")]
    Malformed(String),
    /// JSON, but fields are missing, of the wrong type, invalid or unknown.
    #[error("the document has {} problem(s)", .0.len())]
    Invalid(Vec<FieldProblem>),
    /// Valid, but the image is not one this deployment shares.
    #[error("{}", .0.detail)]
    NotAllowed(FieldProblem),
}

impl IntakeError {
    /// The field-level problems, if any.
    pub fn problems(&self) -> Vec<FieldProblem> {
        match self {
            Self::Invalid(problems) => problems.clone(),
            Self::NotAllowed(problem) => vec![problem.clone()],
            _ => Vec::new(),
        }
    }
}

/// A document that passed every check.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Accepted {
    /// The validated submission.
    pub submission: Submission,
    /// Its fingerprint (to compare retries under one idempotency key).
    pub fingerprint: String,
}

/// Checks a content type: `application/json` or a `+json` type, any charset that is UTF-8.
pub fn check_content_type(content_type: Option<&str>) -> Result<(), IntakeError> {
    let raw = content_type.unwrap_or("").trim();
    let mut parts = raw.split(';').map(str::trim);
    let essence = parts.next().unwrap_or("").to_ascii_lowercase();
    let json = essence == "application/json"
        || (essence.starts_with("application/") && essence.ends_with("+json"));
    let utf8 = parts.all(|p| {
        p.split_once('=').is_none_or(|(k, v)| {
            !k.trim().eq_ignore_ascii_case("charset")
                || v.trim().trim_matches('"').eq_ignore_ascii_case("utf-8")
        })
    });
    if json && utf8 {
        Ok(())
    } else {
        Err(IntakeError::UnsupportedContentType(if raw.is_empty() {
            "(none)".into()
        } else {
            raw.to_owned()
        }))
    }
}

/// Parses and validates a document against the catalog.
pub fn parse(body: &[u8], settings: &Settings) -> Result<Accepted, IntakeError> {
    let catalog = &settings.catalog;
    if body.len() > MAX_DOCUMENT_BYTES {
        return Err(IntakeError::TooLarge { size: body.len() });
    }
    if body.iter().all(u8::is_ascii_whitespace) {
        return Err(IntakeError::Empty);
    }
    // Checked before parsing so the answer says what is wrong, not which JSON token failed.
    if let Err(e) = std::str::from_utf8(body) {
        return Err(IntakeError::NotUtf8 {
            offset: e.valid_up_to(),
        });
    }
    let value: serde_json::Value =
        serde_json::from_slice(body).map_err(|e| IntakeError::Malformed(e.to_string()))?;
    // `Value` keeps the last of two equal keys; which one counts must not be ours to guess.
    let duplicates = duplicates::duplicate_keys(body);
    if !duplicates.is_empty() {
        return Err(IntakeError::Invalid(
            duplicates
                .iter()
                .map(|pointer| {
                    FieldProblem::new(
                        pointer,
                        "appears more than once in its object; give each field once",
                    )
                })
                .collect(),
        ));
    }
    let document = document::validate(&value).map_err(IntakeError::Invalid)?;
    let (image, image_name) = catalog.resolve(&document.image).map_err(|e| {
        let pointer = match e {
            NotAllowed::UnknownName(_) => "/image/name",
            NotAllowed::NotInCatalog(_) => "/image/id",
        };
        IntakeError::NotAllowed(FieldProblem::new(pointer, e.to_string()))
    })?;
    let lifetime = |asked: Option<u32>, (default, max): (u32, u32), pointer: &str, what: &str| {
        let days = asked.unwrap_or(default);
        if days > max {
            return Err(IntakeError::Invalid(vec![FieldProblem::new(
                pointer,
                format!("must be at most {max} days, this deployment's longest {what}"),
            )]));
        }
        Ok(days)
    };
    let (mut delegation, mut direct_share, mut guest) = (None, None, None);
    match document.strategy {
        Strategy::Lighthouse => {
            let l = &settings.lighthouse;
            delegation = Some(DelegationPlan {
                principals: document.principals,
                lifetime_days: lifetime(
                    document.days,
                    (l.default_days, l.max_days),
                    "/delegation/days",
                    "delegation",
                )?,
            });
        }
        Strategy::DirectShare => {
            let d = &settings.direct_share;
            direct_share = Some(DirectSharePlan {
                lifetime_days: lifetime(
                    document.days,
                    (d.default_days, d.max_days),
                    "/share/days",
                    "direct share",
                )?,
            });
        }
        Strategy::RbacGuest => {
            let g = &settings.rbac_guest;
            if let Some((email, display_name)) = document.guest {
                guest = Some(GuestPlan {
                    email,
                    display_name,
                    lifetime_days: lifetime(
                        document.days,
                        (g.default_days, g.max_days),
                        "/guest/days",
                        "guest access",
                    )?,
                });
            }
        }
        Strategy::AppConsent => {}
    }
    let submission = Submission {
        strategy: document.strategy,
        consumer: document.consumer,
        image,
        image_name,
        vm: document.vm,
        delegation,
        direct_share,
        guest,
    };
    let fingerprint = fingerprint(&submission);
    Ok(Accepted {
        submission,
        fingerprint,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn json_content_types_are_accepted_with_a_utf8_charset() {
        for ok in [
            "application/json",
            "application/json; charset=utf-8",
            "Application/JSON",
            "application/merge-patch+json",
            "application/json;charset=\"UTF-8\"",
        ] {
            assert!(check_content_type(Some(ok)).is_ok(), "{ok}");
        }
        for bad in [
            None,
            Some(""),
            Some("text/plain"),
            Some("application/x-www-form-urlencoded"),
            Some("application/json; charset=latin1"),
            Some("text/json"),
        ] {
            assert!(check_content_type(bad).is_err(), "{bad:?}");
        }
    }
}
