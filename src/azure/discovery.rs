//! Facts about a consumer that can be checked before anything is created, with no consent:
//! whether its tenant exists, and which tenant a subscription belongs to.

use reqwest::Method;
use url::Url;

use super::{ApiCall, AzureError, HttpStack, Service};
use crate::domain::TenantId;

/// Whether `tenant` exists. Entra publishes every tenant's OpenID configuration without
/// authentication and answers AADSTS90002 ("Tenant '...' not found") for one that does not.
pub async fn tenant_exists(http: &HttpStack, tenant: TenantId) -> Result<bool, AzureError> {
    let url = Url::parse(&format!(
        "https://login.microsoftonline.com/{tenant}/v2.0/.well-known/openid-configuration"
    ))
    .map_err(|e| AzureError::Unexpected {
        service: Service::Entra,
        detail: e.to_string(),
    })?;
    match http
        .send(&ApiCall::new(Service::Entra, Method::GET, url))
        .await
    {
        Ok(_) => Ok(true),
        Err(AzureError::Api {
            status: 400,
            message,
            ..
        }) if message.contains("90002") => Ok(false),
        Err(e) => Err(e),
    }
}

/// Where a subscription lives, as Resource Manager tells a caller from another tenant.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum SubscriptionHome {
    /// It trusts this tenant.
    Tenant(String),
    /// It trusts the caller's own tenant (the token was accepted).
    CallersTenant,
    /// There is no such subscription.
    NotFound,
}

/// Reads the tenant of the subscription a `GET /subscriptions/{id}` answer names: Resource
/// Manager refuses a token from another tenant with `InvalidAuthenticationTokenTenant`,
/// "It must match the tenant 'https://sts.windows.net/{tenant}/' associated with this
/// subscription", and an unknown subscription with `SubscriptionNotFound`.
pub fn subscription_home(answer: Result<(), AzureError>) -> Result<SubscriptionHome, AzureError> {
    match answer {
        Ok(()) => Ok(SubscriptionHome::CallersTenant),
        Err(e) if e.has_code("SubscriptionNotFound") => Ok(SubscriptionHome::NotFound),
        Err(e) if e.has_code("AuthorizationFailed") => Ok(SubscriptionHome::CallersTenant),
        Err(e) if e.has_code("InvalidAuthenticationTokenTenant") => {
            let AzureError::Api { message, .. } = &e else {
                return Err(e);
            };
            message
                .split("must match the tenant 'https://sts.windows.net/")
                .nth(1)
                .and_then(|rest| rest.split(['/', '\'']).next())
                .filter(|t| !t.is_empty())
                .map(|t| SubscriptionHome::Tenant(t.to_owned()))
                .ok_or(e)
        }
        Err(e) => Err(e),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn arm(status: u16, code: &str, message: &str) -> AzureError {
        AzureError::Api {
            service: Service::ResourceManager,
            status,
            code: code.into(),
            message: message.into(),
            retry_after: None,
            details: Vec::new(),
            request_id: None,
        }
    }

    #[test]
    fn the_tenant_of_a_foreign_subscription_is_read_from_arms_refusal() {
        let refusal = arm(
            401,
            "InvalidAuthenticationTokenTenant",
            "The access token is from the wrong issuer 'https://sts.windows.net/1111/'. It must match the tenant 'https://sts.windows.net/22222222-2222-4222-8222-222222222222/' associated with this subscription. Please use the authority (URL) 'https://login.windows.net/22222222-2222-4222-8222-222222222222' to get the token.",
        );
        // The first sts.windows.net names the caller's issuer; the subscription's follows it.
        assert_eq!(
            subscription_home(Err(refusal)).unwrap(),
            SubscriptionHome::Tenant("22222222-2222-4222-8222-222222222222".into())
        );
    }

    #[test]
    fn an_unknown_subscription_is_not_found_and_a_readable_one_is_the_callers() {
        assert_eq!(
            subscription_home(Err(arm(404, "SubscriptionNotFound", "x"))).unwrap(),
            SubscriptionHome::NotFound
        );
        assert_eq!(
            subscription_home(Ok(())).unwrap(),
            SubscriptionHome::CallersTenant
        );
        assert!(subscription_home(Err(arm(503, "ServiceUnavailable", "x"))).is_err());
    }
}
