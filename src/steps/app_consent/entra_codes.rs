//! What the consumer tenant's token endpoint means by its AADSTS codes (reference
//! azure-facts §5-§6). A credential fault is not "consent not yet given": waiting seven days
//! for it would expire the request with the wrong reason.

use std::time::Duration;

use time::OffsetDateTime;

use crate::{azure::AzureError, domain::ShareRequest};

/// The app is not (yet) instantiated in the tenant: no consent, or its enterprise app was
/// deleted.
const NOT_CONSENTED: [u32; 3] = [700016, 7000229, 65001];
/// The app's own credential is refused: a wrong or expired secret (7000215, 7000222), or no
/// federated credential matching the assertion (70021, 700213 and the audience, issuer and
/// subject variants).
const CREDENTIAL_REFUSED: [u32; 8] = [
    7000215, 7000222, 70021, 700213, 700211, 7002121, 700227, 700236,
];

/// A new federated credential or secret "takes time to be propagated throughout a region"
/// (workload-identity-federation-considerations): minutes, so ten is generous.
pub(super) const CREDENTIAL_PROPAGATION: Duration = Duration::from_secs(10 * 60);

/// What a refused token means.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum TokenFault {
    /// Not consented in the tenant (or the consent was removed).
    NotConsented(u32),
    /// The app's credential is refused; may still be propagating if it is new.
    CredentialRefused(u32),
    /// Anything else (classified by the error itself).
    Other,
}

/// Classifies a token failure.
pub(super) fn classify(error: &AzureError) -> TokenFault {
    if let Some(code) = NOT_CONSENTED.into_iter().find(|c| error.has_aadsts(*c)) {
        return TokenFault::NotConsented(code);
    }
    if let Some(code) = CREDENTIAL_REFUSED
        .into_iter()
        .find(|c| error.has_aadsts(*c))
    {
        return TokenFault::CredentialRefused(code);
    }
    TokenFault::Other
}

/// Whether the app's credential is recent enough that a refusal may be propagation.
pub(super) fn credential_may_be_propagating(request: &ShareRequest, now: OffsetDateTime) -> bool {
    let issued = request
        .steps
        .get(crate::domain::Step::IssueCredentials)
        .and_then(|t| t.completed_at)
        .unwrap_or(request.created_at);
    now - issued < CREDENTIAL_PROPAGATION
}

/// The terminal reason for a credential Entra keeps refusing.
pub(super) fn credential_reason(request: &ShareRequest, code: u32, error: &AzureError) -> String {
    let kind = match request.progress.app.as_ref().map(|a| &a.credential) {
        Some(crate::domain::CredentialRecord::Secret { .. }) => "client secret",
        _ => "federated credential (trusting the Function App's managed identity)",
    };
    let app = request
        .progress
        .app
        .as_ref()
        .map_or_else(String::new, |a| format!(" of app {}", a.app_id));
    format!(
        "Entra refuses the {kind}{app} with AADSTS{code}, and still after {} minutes: the credential on the app no longer matches what the Function App presents. Check the app's credentials in the owner's tenant (or submit a new request, which re-issues them). Entra said: {error}",
        CREDENTIAL_PROPAGATION.as_secs() / 60
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn token(code: u32) -> AzureError {
        AzureError::Token {
            tenant: "t".into(),
            codes: vec![code],
            message: format!("AADSTS{code}: ..."),
            status: Some(400),
        }
    }

    #[test]
    fn a_missing_app_means_no_consent_and_a_refused_credential_means_a_credential_fault() {
        assert_eq!(classify(&token(700016)), TokenFault::NotConsented(700016));
        assert_eq!(classify(&token(7000229)), TokenFault::NotConsented(7000229));
        assert_eq!(
            classify(&token(70021)),
            TokenFault::CredentialRefused(70021)
        );
        assert_eq!(
            classify(&token(7000215)),
            TokenFault::CredentialRefused(7000215)
        );
        assert_eq!(classify(&token(90002)), TokenFault::Other);
    }
}
