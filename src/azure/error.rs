//! Errors from Azure services, typed from their envelopes and classified for retrying.

use std::{fmt, time::Duration};

/// The service a call went to.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Service {
    /// `login.microsoftonline.com` and the managed identity endpoint.
    Entra,
    /// Microsoft Graph.
    Graph,
    /// Azure Resource Manager.
    ResourceManager,
    /// Key Vault.
    KeyVault,
    /// Service Bus.
    ServiceBus,
    /// A notification webhook.
    Webhook,
}

impl fmt::Display for Service {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Entra => "Microsoft Entra ID",
            Self::Graph => "Microsoft Graph",
            Self::ResourceManager => "Azure Resource Manager",
            Self::KeyVault => "Key Vault",
            Self::ServiceBus => "Service Bus",
            Self::Webhook => "the notification webhook",
        })
    }
}

/// A failed call to Azure.
#[derive(Debug, thiserror::Error)]
pub enum AzureError {
    /// The service answered with an error status and (usually) an error envelope.
    #[error("{service} answered {status} {code}: {message}")]
    Api {
        /// Which service.
        service: Service,
        /// HTTP status.
        status: u16,
        /// `error.code` (Graph, ARM, Key Vault), or the status text when there was none.
        code: String,
        /// `error.message`.
        message: String,
        /// `Retry-After`, when sent.
        retry_after: Option<Duration>,
        /// Codes in `error.details[]` (Graph's `NoBackingApplicationObject` hides there).
        details: Vec<String>,
        /// The service's id of the call (Graph `request-id`, ARM
        /// `x-ms-correlation-request-id`, Key Vault `x-ms-request-id`), for its support.
        request_id: Option<String>,
    },
    /// Entra refused a token.
    #[error("Entra refused a token for tenant {tenant}: {message}")]
    Token {
        /// The tenant asked.
        tenant: String,
        /// AADSTS codes (e.g. 700016).
        codes: Vec<u32>,
        /// `error_description`, which Entra writes for people.
        message: String,
        /// HTTP status, when the failure was an HTTP answer.
        status: Option<u16>,
    },
    /// The service could not be reached or the connection broke.
    #[error("could not reach {service}: {detail}")]
    Transport {
        /// Which service.
        service: Service,
        /// What happened.
        detail: String,
    },
    /// The service answered something we do not understand.
    #[error("unexpected answer from {service}: {detail}")]
    Unexpected {
        /// Which service.
        service: Service,
        /// What was wrong with it.
        detail: String,
    },
}

/// Entra codes that mean "try again later", not "wrong".
const TRANSIENT_AADSTS: [u32; 2] = [90055, 50196];

impl AzureError {
    /// Whether a later identical call may succeed.
    pub fn is_retryable(&self) -> bool {
        match self {
            Self::Api { status, .. } => matches!(status, 408 | 429 | 500..=599),
            Self::Token { codes, status, .. } => {
                codes.iter().any(|c| TRANSIENT_AADSTS.contains(c))
                    || status.is_none_or(|s| s == 429 || s >= 500)
            }
            Self::Transport { .. } => true,
            Self::Unexpected { .. } => false,
        }
    }

    /// The service's error code (`RoleAssignmentExists`, or the AADSTS number as text).
    pub fn code(&self) -> Option<String> {
        match self {
            Self::Api { code, .. } => Some(code.clone()),
            Self::Token { codes, .. } => codes.first().map(ToString::to_string),
            _ => None,
        }
    }

    /// True when this is an API error with `code` (case-insensitive), as its main code or
    /// in its details.
    pub fn has_code(&self, code: &str) -> bool {
        match self {
            Self::Api {
                code: c, details, ..
            } => {
                c.eq_ignore_ascii_case(code) || details.iter().any(|d| d.eq_ignore_ascii_case(code))
            }
            _ => false,
        }
    }

    /// True when Entra answered with this AADSTS code.
    pub fn has_aadsts(&self, code: u32) -> bool {
        matches!(self, Self::Token { codes, .. } if codes.contains(&code))
    }

    /// The service's id of the failed call, when it sent one.
    pub fn service_request_id(&self) -> Option<&str> {
        match self {
            Self::Api { request_id, .. } => request_id.as_deref(),
            _ => None,
        }
    }

    /// The HTTP status of an API error.
    pub fn status(&self) -> Option<u16> {
        match self {
            Self::Api { status, .. } => Some(*status),
            Self::Token { status, .. } => *status,
            _ => None,
        }
    }

    /// `Retry-After`, when the service sent one.
    pub fn retry_after(&self) -> Option<Duration> {
        match self {
            Self::Api { retry_after, .. } => *retry_after,
            _ => None,
        }
    }
}
