//! Delegated permissions as the authorize and token endpoints read them, and the consent a
//! user or an admin gave (Entra's `oauth2PermissionGrants`).
//!
//! A `scope` parameter is a space-separated list of OpenID Connect scopes (`openid`,
//! `profile`, `email`, `offline_access`) and resource scopes, each `{resource}/{name}` or a bare
//! Microsoft Graph name (`User.Read`). "For the /authorize leg of the request, this parameter
//! can cover multiple resources"; at the token endpoint "the scopes must all be from a single
//! resource" (Microsoft identity platform and OAuth 2.0 authorization code flow,
//! MicrosoftDocs/entra-docs `docs/identity-platform/v2-oauth2-auth-code-flow.md`).
//!
//! The simulator knows three resources: Resource Manager (`https://management.azure.com` or
//! `https://management.core.windows.net/`, one delegated scope, `user_impersonation`; its
//! `.default` means that scope), Microsoft Graph and Key Vault (`https://vault.azure.net`,
//! `user_impersonation`). Another resource is AADSTS500011 (reference-error-codes.md:
//! "InvalidResourceServicePrincipalNotFound - The resource principal named {name} wasn't
//! found in the tenant").
//!
//! Admin-restricted permissions: the auth code flow doc says "Some permissions are
//! admin-restricted, for example, writing data to an organization's directory by using
//! `Directory.ReadWrite.All`". Graph's permissions reference marks each one; the simulator
//! approximates its table (**assumed** rule): a Graph permission ending in `.All` other than
//! `User.ReadBasic.All`, and Graph's `.default`, need an admin; Resource Manager's and Key
//! Vault's `user_impersonation` do not (a user may consent to them for themselves).

use std::collections::BTreeSet;

use time::OffsetDateTime;

/// Resource Manager's identifiers (one service principal, both audiences).
pub const ARM_RESOURCES: [&str; 2] = [
    "https://management.azure.com",
    "https://management.core.windows.net",
];
/// Microsoft Graph.
pub const GRAPH_RESOURCE: &str = "https://graph.microsoft.com";
/// Key Vault.
pub const KEY_VAULT_RESOURCE: &str = "https://vault.azure.net";
/// The OpenID Connect scopes, which name no resource.
pub const OIDC_SCOPES: [&str; 4] = ["openid", "profile", "email", "offline_access"];

/// One delegated permission asked for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Permission {
    /// The resource as the request named it (`https://management.azure.com`,
    /// `https://management.core.windows.net/`): the token's audience.
    pub resource: String,
    /// The scope's name on that resource (`user_impersonation`, `User.Read`), `.default`
    /// resolved where the simulator knows what it means.
    pub name: String,
}

impl Permission {
    /// The resource compared case-insensitively and without a trailing `/`, Resource
    /// Manager's two identifiers as one.
    pub fn resource_key(&self) -> String {
        resource_key(&self.resource)
    }

    /// What consent is recorded under: `{resource key}/{name}` in lower case.
    pub fn key(&self) -> String {
        format!("{}/{}", self.resource_key(), self.name.to_ascii_lowercase())
    }

    /// As Entra lists it in a token answer's `scope`: `{resource}/{name}`.
    pub fn uri(&self) -> String {
        format!("{}/{}", self.resource.trim_end_matches('/'), self.name)
    }

    /// True for a Resource Manager permission.
    pub fn is_arm(&self) -> bool {
        is_arm(&self.resource)
    }

    /// True when only an admin may consent to it (the assumed rule in the module doc).
    pub fn needs_admin(&self) -> bool {
        self.resource_key() == GRAPH_RESOURCE
            && (self.name == ".default"
                || (self.name.ends_with(".All")
                    && !self.name.eq_ignore_ascii_case("User.ReadBasic.All")))
    }
}

/// True for one of Resource Manager's identifiers.
pub fn is_arm(resource: &str) -> bool {
    crate::tokens::audience_matches(resource, &ARM_RESOURCES)
}

fn resource_key(resource: &str) -> String {
    if is_arm(resource) {
        return ARM_RESOURCES[0].to_owned();
    }
    resource.trim_end_matches('/').to_ascii_lowercase()
}

/// A `scope` parameter, read.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Scopes {
    /// The OpenID Connect scopes asked for, in order.
    pub oidc: Vec<String>,
    /// The resource permissions asked for, in order, without repeats.
    pub permissions: Vec<Permission>,
}

/// Why a scope was refused: an unknown resource, or a name the resource does not have.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ScopeError {
    /// AADSTS500011: no such resource in the simulated clouds.
    UnknownResource(String),
    /// AADSTS70011: the resource has no scope of that name.
    InvalidScope(String),
}

impl Scopes {
    /// Reads a space-separated `scope` value.
    pub fn parse(scope: &str) -> Result<Self, ScopeError> {
        let mut out = Self::default();
        for word in scope.split_whitespace() {
            if OIDC_SCOPES.iter().any(|o| o.eq_ignore_ascii_case(word)) {
                let word = word.to_ascii_lowercase();
                if !out.oidc.contains(&word) {
                    out.oidc.push(word);
                }
                continue;
            }
            let (resource, name) = if word.contains("://") {
                word.rsplit_once('/')
                    .filter(|(r, n)| !n.is_empty() && !r.ends_with(':') && !r.ends_with(":/"))
                    .ok_or_else(|| ScopeError::InvalidScope(word.to_owned()))?
            } else {
                (GRAPH_RESOURCE, word)
            };
            let key = resource_key(resource);
            let name = if key == ARM_RESOURCES[0] || key == KEY_VAULT_RESOURCE {
                if name == ".default" || name.eq_ignore_ascii_case("user_impersonation") {
                    "user_impersonation"
                } else {
                    return Err(ScopeError::InvalidScope(word.to_owned()));
                }
            } else if key == GRAPH_RESOURCE {
                name
            } else {
                return Err(ScopeError::UnknownResource(resource.to_owned()));
            };
            let permission = Permission {
                resource: resource.to_owned(),
                name: name.to_owned(),
            };
            if !out.permissions.iter().any(|p| p.key() == permission.key()) {
                out.permissions.push(permission);
            }
        }
        Ok(out)
    }

    /// True when `name` (`openid`, `offline_access`) was asked for.
    pub fn has_oidc(&self, name: &str) -> bool {
        self.oidc.iter().any(|o| o == name)
    }

    /// The distinct resources asked for (by key), in order.
    pub fn resources(&self) -> Vec<String> {
        let mut out: Vec<String> = vec![];
        for p in &self.permissions {
            let key = p.resource_key();
            if !out.contains(&key) {
                out.push(key);
            }
        }
        out
    }

    /// True when some permission needs an admin's consent.
    pub fn needs_admin(&self) -> bool {
        self.permissions.iter().any(Permission::needs_admin)
    }

    /// What the consent page lists: the OpenID Connect scopes in words, then each permission.
    pub fn descriptions(&self) -> Vec<String> {
        let mut out: Vec<String> = self
            .oidc
            .iter()
            .map(|o| match o.as_str() {
                "openid" => "Sign you in (openid)".to_owned(),
                "profile" => "View your basic profile (profile)".to_owned(),
                "email" => "View your email address (email)".to_owned(),
                _ => "Maintain access to data you have given it access to (offline_access)"
                    .to_owned(),
            })
            .collect();
        for p in &self.permissions {
            out.push(if p.is_arm() {
                format!("Access Azure Service Management as you ({})", p.uri())
            } else {
                p.uri()
            });
        }
        out
    }
}

/// A delegated permission grant of a client in a tenant: for one user, or (`principal`
/// `None`, "Consent on behalf of your organization") for every user of the tenant.
#[derive(Debug, Clone)]
pub struct DelegatedGrant {
    /// Tenant id.
    pub tenant: String,
    /// The client (application) id.
    pub client_id: String,
    /// The user's object id; `None`: `AllPrincipals`.
    pub principal: Option<String>,
    /// Permission keys ([`Permission::key`]).
    pub scopes: BTreeSet<String>,
    /// When it was (last) given.
    pub granted_at: OffsetDateTime,
}

/// Every delegated grant.
#[derive(Debug, Default)]
pub struct DelegatedGrants(pub Vec<DelegatedGrant>);

impl DelegatedGrants {
    /// True when the grants of `client_id` in `tenant` for `user` (its own and the
    /// organization's) cover every permission in `scopes`.
    pub fn cover(&self, tenant: &str, client_id: &str, user: &str, scopes: &Scopes) -> bool {
        let granted: BTreeSet<&str> = self
            .0
            .iter()
            .filter(|g| {
                g.tenant.eq_ignore_ascii_case(tenant)
                    && g.client_id.eq_ignore_ascii_case(client_id)
                    && g.principal
                        .as_deref()
                        .is_none_or(|p| p.eq_ignore_ascii_case(user))
            })
            .flat_map(|g| g.scopes.iter().map(String::as_str))
            .collect();
        scopes
            .permissions
            .iter()
            .all(|p| granted.contains(p.key().as_str()))
    }

    /// Records consent to `scopes` (merged into an existing grant of the same principal).
    pub fn grant(
        &mut self,
        tenant: &str,
        client_id: &str,
        principal: Option<&str>,
        scopes: &Scopes,
        now: OffsetDateTime,
    ) {
        let keys = scopes.permissions.iter().map(Permission::key);
        if let Some(g) = self.0.iter_mut().find(|g| {
            g.tenant.eq_ignore_ascii_case(tenant)
                && g.client_id.eq_ignore_ascii_case(client_id)
                && match (&g.principal, principal) {
                    (None, None) => true,
                    (Some(a), Some(b)) => a.eq_ignore_ascii_case(b),
                    _ => false,
                }
        }) {
            g.scopes.extend(keys);
            g.granted_at = now;
            return;
        }
        self.0.push(DelegatedGrant {
            tenant: tenant.to_owned(),
            client_id: client_id.to_owned(),
            principal: principal.map(str::to_owned),
            scopes: keys.collect(),
            granted_at: now,
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn resource_manager_s_default_scope_means_user_impersonation_under_either_identifier() {
        let a = Scopes::parse("https://management.azure.com/.default openid").unwrap();
        let b = Scopes::parse("https://management.core.windows.net//user_impersonation").unwrap();
        assert_eq!(a.permissions[0].name, "user_impersonation");
        assert_eq!(a.permissions[0].key(), b.permissions[0].key());
        assert_eq!(
            b.permissions[0].resource,
            "https://management.core.windows.net/"
        );
        assert_eq!(a.oidc, ["openid"]);
        assert!(!a.needs_admin());
    }

    #[test]
    fn bare_names_are_graph_permissions_and_directory_writes_need_an_admin() {
        let s = Scopes::parse("User.Read Directory.ReadWrite.All").unwrap();
        assert_eq!(s.resources(), [GRAPH_RESOURCE]);
        assert!(!s.permissions[0].needs_admin());
        assert!(s.permissions[1].needs_admin());
    }

    #[test]
    fn an_unknown_resource_and_an_unknown_arm_scope_are_refused() {
        assert_eq!(
            Scopes::parse("https://example.com/read"),
            Err(ScopeError::UnknownResource("https://example.com".into()))
        );
        assert!(matches!(
            Scopes::parse("https://management.azure.com/write"),
            Err(ScopeError::InvalidScope(_))
        ));
    }

    #[test]
    fn a_user_s_grant_does_not_cover_another_user_but_the_organization_s_does() {
        let now = OffsetDateTime::now_utc();
        let arm = Scopes::parse("https://management.azure.com/user_impersonation").unwrap();
        let mut grants = DelegatedGrants::default();
        grants.grant("t", "c", Some("u1"), &arm, now);
        assert!(grants.cover("t", "c", "u1", &arm));
        assert!(!grants.cover("t", "c", "u2", &arm));
        assert!(!grants.cover("t", "other-client", "u1", &arm));
        grants.grant("t", "c", None, &arm, now);
        assert!(grants.cover("t", "c", "u2", &arm));
    }
}
