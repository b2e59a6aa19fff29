//! Redeeming an authorization code (OAuth 2.0 authorization code flow with PKCE, Microsoft
//! identity platform `v2-oauth2-auth-code-flow`): the share app, a confidential client, posts
//! the code with its `code_verifier` and its own authentication (the federated credential's
//! client assertion, or a client secret) to the consumer tenant's token endpoint and gets a
//! delegated Resource Manager token of the admin who signed in. The token lives only in memory
//! for the few calls it serves; nothing here logs or stores it.

use reqwest::Method;
use serde::Deserialize;
use url::Url;

use super::{AccessToken, ApiCall, AzureError, HttpStack, Secret, Service};
use crate::domain::TenantId;

/// The delegated scope of Azure Resource Manager the admin's sign-in asks for.
pub const ARM_USER_IMPERSONATION: &str = "https://management.azure.com/user_impersonation";

/// How the app authenticates at the token endpoint.
#[derive(Debug)]
pub enum ClientAuth {
    /// `client_assertion` (the operator identity's token, which the app's federated credential
    /// trusts).
    Assertion(Secret),
    /// `client_secret`.
    Secret(Secret),
}

/// What one redemption asks for.
pub struct Redemption<'a> {
    /// The consumer's tenant (the authority the code came from).
    pub tenant: TenantId,
    /// The share app's client id.
    pub client_id: &'a str,
    /// The code from the redirect.
    pub code: &'a str,
    /// The redirect URI of the authorize request, exactly.
    pub redirect_uri: &'a str,
    /// The PKCE verifier whose S256 challenge the authorize request sent.
    pub verifier: &'a Secret,
    /// How the app authenticates.
    pub auth: ClientAuth,
}

/// The admin's delegated token and who they are, from the ID token.
#[derive(Debug)]
pub struct Delegated {
    /// The Resource Manager token (delegated: the admin's rights decide).
    pub token: AccessToken,
    /// The ID token's `nonce`.
    pub nonce: Option<String>,
    /// The ID token's `tid`.
    pub tenant: Option<String>,
    /// The admin's sign-in name (`preferred_username`, else `upn`/`name`).
    pub user: String,
}

impl std::fmt::Debug for Redemption<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // The code is a one-time credential: never printed.
        f.debug_struct("Redemption")
            .field("tenant", &self.tenant)
            .field("client_id", &self.client_id)
            .finish_non_exhaustive()
    }
}

/// Entra's refusal of a code, with its AADSTS codes (54005 already redeemed, 70008 expired,
/// 501481 verifier mismatch, 50148 no verifier, 500112 redirect mismatch, ...).
#[derive(Debug, thiserror::Error)]
pub enum CodeRefused {
    /// Entra answered an OAuth error for the code.
    #[error("Entra refused the sign-in's code ({error}, AADSTS{codes:?})")]
    Refused {
        /// The OAuth `error` (`invalid_grant`, `invalid_client`, ...).
        error: String,
        /// The AADSTS codes.
        codes: Vec<u32>,
    },
    /// Entra could not be asked (or answered something else).
    #[error(transparent)]
    Azure(#[from] AzureError),
}

#[derive(Deserialize)]
struct TokenAnswer {
    access_token: String,
    #[serde(default)]
    id_token: Option<String>,
}

#[derive(Deserialize)]
struct ErrorAnswer {
    error: String,
    #[serde(default)]
    error_codes: Vec<u32>,
}

/// Redeems the code at `https://login.microsoftonline.com/{tenant}/oauth2/v2.0/token`.
pub async fn redeem(http: &HttpStack, r: Redemption<'_>) -> Result<Delegated, CodeRefused> {
    let url = Url::parse(&format!(
        "https://login.microsoftonline.com/{}/oauth2/v2.0/token",
        r.tenant
    ))
    .map_err(|e| AzureError::Unexpected {
        service: Service::Entra,
        detail: e.to_string(),
    })?;
    let body = form_body(&r);
    // A code is single use: a resend after an ambiguous failure would be refused as
    // redeemed, so the call is not idempotent.
    let call = ApiCall::new(Service::Entra, Method::POST, url)
        .raw("application/x-www-form-urlencoded", body);
    let answer = match http.send(&call).await {
        Ok(answer) => answer,
        Err(AzureError::Api {
            status, message, ..
        }) if (400..500).contains(&status) => return Err(refusal(&message)),
        Err(e) => return Err(e.into()),
    };
    let tokens: TokenAnswer = answer.json(Service::Entra)?;
    let token = AccessToken::new(Secret::new(tokens.access_token));
    let claim = |name: &str| {
        tokens
            .id_token
            .as_deref()
            .and_then(|t| super::tokens::jwt_claim(t, name))
            .and_then(|v| v.as_str().map(str::to_owned))
    };
    Ok(Delegated {
        nonce: claim("nonce"),
        tenant: claim("tid"),
        user: claim("preferred_username")
            .or_else(|| token.unverified_claim("upn"))
            .or_else(|| claim("name"))
            .unwrap_or_else(|| "the consumer's admin".to_owned()),
        token,
    })
}

/// The token request's form (built apart: the serializer must not live across an await).
fn form_body(r: &Redemption<'_>) -> String {
    let mut form = url::form_urlencoded::Serializer::new(String::new());
    form.append_pair("client_id", r.client_id)
        .append_pair("grant_type", "authorization_code")
        .append_pair("code", r.code)
        .append_pair("redirect_uri", r.redirect_uri)
        .append_pair("code_verifier", r.verifier.expose())
        .append_pair("scope", &format!("{ARM_USER_IMPERSONATION} openid profile"));
    match &r.auth {
        ClientAuth::Assertion(assertion) => form
            .append_pair(
                "client_assertion_type",
                "urn:ietf:params:oauth:client-assertion-type:jwt-bearer",
            )
            .append_pair("client_assertion", assertion.expose()),
        ClientAuth::Secret(secret) => form.append_pair("client_secret", secret.expose()),
    };
    form.finish()
}

/// The OAuth error of a token endpoint answer (its body, as the HTTP stack kept it).
fn refusal(body: &str) -> CodeRefused {
    match serde_json::from_str::<ErrorAnswer>(body) {
        Ok(e) => CodeRefused::Refused {
            error: e.error,
            codes: e.error_codes,
        },
        Err(_) => CodeRefused::Refused {
            error: "invalid_request".to_owned(),
            codes: aadsts_codes(body),
        },
    }
}

/// The `AADSTSnnnn` codes named in a text.
fn aadsts_codes(text: &str) -> Vec<u32> {
    text.split("AADSTS")
        .skip(1)
        .filter_map(|rest| {
            let digits: String = rest.chars().take_while(char::is_ascii_digit).collect();
            digits.parse().ok()
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_refusal_names_its_oauth_error_and_aadsts_codes() {
        let body = r#"{"error":"invalid_grant","error_description":"AADSTS54005: OAuth2 Authorization code was already redeemed","error_codes":[54005]}"#;
        match refusal(body) {
            CodeRefused::Refused { error, codes } => {
                assert_eq!(error, "invalid_grant");
                assert_eq!(codes, [54005]);
            }
            CodeRefused::Azure(e) => panic!("{e}"),
        }
        assert_eq!(
            aadsts_codes("x AADSTS501481: y AADSTS70008"),
            [501481, 70008]
        );
    }
}
