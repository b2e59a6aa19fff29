//! The Entra directory shared by the token endpoint, the consent pages and Graph: tenants,
//! users (members and B2B guests), applications with their credentials, service principals,
//! guest invitations, and sent mail.

mod guests;
mod views;

use std::fmt;

use serde::Serialize;
use serde_json::{Map, Value};
use time::{Duration, OffsetDateTime};

use crate::{
    graph::model,
    scenario::{Replication, Scenario},
    state::AdminError,
    timefmt,
};

pub use guests::{ExternalUserState, Guest, GuestView, HomeAccount, Invitation};
pub use views::{ApplicationView, CredentialView, ServicePrincipalView};

/// An Entra tenant.
#[derive(Debug, Clone)]
pub struct Tenant {
    /// Tenant id.
    pub id: String,
    /// Verified domain.
    pub domain: String,
    /// Display name.
    pub display_name: String,
}

/// A user.
#[derive(Clone)]
pub struct User {
    /// Object id.
    pub id: String,
    /// Home tenant.
    pub tenant: String,
    /// Sign-in name.
    pub upn: String,
    /// Display name.
    pub display_name: String,
    /// Password for the sign-in page.
    pub password: Option<String>,
    /// Directory roles.
    pub roles: Vec<String>,
    /// When the object was created (scenario users: long before the start).
    pub created_at: OffsetDateTime,
    /// `mail` (a guest's invited address; `None` for the scenario's members).
    pub mail: Option<String>,
    /// `userType`: `Member` or `Guest`.
    pub user_type: String,
    /// B2B collaboration state, for users created by an invitation.
    pub guest: Option<Guest>,
}

impl fmt::Debug for User {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("User")
            .field("id", &self.id)
            .field("upn", &self.upn)
            .finish_non_exhaustive()
    }
}

/// Directory roles that may grant tenant-wide admin consent.
pub const ADMIN_ROLES: [&str; 4] = [
    "Global Administrator",
    "Privileged Role Administrator",
    "Cloud Application Administrator",
    "Application Administrator",
];

impl User {
    /// True when the user holds a role that can consent for the tenant.
    pub fn is_admin(&self) -> bool {
        self.roles
            .iter()
            .any(|r| ADMIN_ROLES.iter().any(|a| a.eq_ignore_ascii_case(r)))
    }

    /// True when the user holds one of `roles` (directory role names).
    pub fn has_role(&self, roles: &[&str]) -> bool {
        self.roles
            .iter()
            .any(|r| roles.iter().any(|a| a.eq_ignore_ascii_case(r)))
    }

    /// True for a user an invitation created (an external user of this tenant).
    pub fn is_external(&self) -> bool {
        self.guest.is_some()
    }
}

/// A client secret.
#[derive(Clone)]
pub struct PasswordCredential {
    /// Credential id.
    pub key_id: String,
    /// Display name.
    pub display_name: Option<String>,
    /// First three characters of the secret.
    pub hint: String,
    /// The secret (held to check token requests).
    pub secret: String,
    /// Start of validity.
    pub start: OffsetDateTime,
    /// End of validity.
    pub end: OffsetDateTime,
    /// `startDateTime` as Graph echoes it.
    pub start_text: String,
    /// `endDateTime` as Graph echoes it.
    pub end_text: String,
    /// When it was added (replication to the token endpoint counts from here).
    pub added_at: OffsetDateTime,
}

impl fmt::Debug for PasswordCredential {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PasswordCredential")
            .field("key_id", &self.key_id)
            .field("hint", &self.hint)
            .finish_non_exhaustive()
    }
}

/// A federated identity credential.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct FederatedCredential {
    /// Id (GUID).
    pub id: String,
    /// Unique name on the app.
    pub name: String,
    /// Expected issuer.
    pub issuer: String,
    /// Expected subject.
    pub subject: String,
    /// Expected audiences.
    pub audiences: Vec<String>,
    /// Description.
    pub description: Option<String>,
}

/// An application registration.
#[derive(Debug, Clone)]
pub struct Application {
    /// Object id.
    pub id: String,
    /// Client id.
    pub app_id: String,
    /// Home tenant.
    pub tenant: String,
    /// When it was created.
    pub created_at: OffsetDateTime,
    /// Graph properties other than ids, dates and credentials.
    pub props: Map<String, Value>,
    /// Owner object ids.
    pub owners: Vec<String>,
    /// Client secrets.
    pub passwords: Vec<PasswordCredential>,
    /// Federated identity credentials.
    pub federated: Vec<FederatedCredential>,
}

impl Application {
    /// A string property.
    pub fn prop(&self, name: &str) -> Option<&str> {
        self.props.get(name).and_then(Value::as_str)
    }

    /// Display name.
    pub fn display_name(&self) -> &str {
        self.prop("displayName").unwrap_or_default()
    }

    /// True unless the app is single-tenant.
    pub fn is_multi_tenant(&self) -> bool {
        !matches!(self.prop("signInAudience"), Some("AzureADMyOrg"))
    }

    /// The redirect URIs of the web platform (a confidential client's).
    pub fn web_redirect_uris(&self) -> Vec<String> {
        self.props
            .get("web")
            .and_then(|w| w.get("redirectUris"))
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .filter_map(|v| v.as_str().map(str::to_owned))
            .collect()
    }

    /// Every registered redirect URI (web, SPA, public client).
    pub fn redirect_uris(&self) -> Vec<String> {
        ["web", "spa", "publicClient"]
            .iter()
            .filter_map(|k| self.props.get(*k)?.get("redirectUris")?.as_array())
            .flatten()
            .filter_map(|v| v.as_str().map(str::to_owned))
            .collect()
    }
}

/// A service principal.
#[derive(Debug, Clone)]
pub struct ServicePrincipal {
    /// Object id.
    pub id: String,
    /// Client id of its application.
    pub app_id: String,
    /// Tenant it lives in.
    pub tenant: String,
    /// When it was created.
    pub created_at: OffsetDateTime,
    /// Graph properties other than ids and dates.
    pub props: Map<String, Value>,
    /// Granted Graph application permissions.
    pub graph_permissions: Vec<String>,
    /// Owner object ids.
    pub owners: Vec<String>,
}

/// A sent mail, as the outbox keeps it.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Mail {
    /// Sender's tenant.
    pub tenant: String,
    /// Sender UPN.
    pub from: String,
    /// Recipient addresses.
    pub to: Vec<String>,
    /// Subject.
    pub subject: String,
    /// `Text` or `HTML`.
    pub content_type: String,
    /// Body content.
    pub content: String,
    /// When it was sent.
    #[serde(with = "time::serde::rfc3339")]
    pub sent_at: OffsetDateTime,
    /// The `message` object as posted.
    pub message: Value,
}

/// The directory.
#[derive(Debug, Default)]
pub struct Directory {
    /// Tenants.
    pub tenants: Vec<Tenant>,
    /// Users.
    pub users: Vec<User>,
    /// Applications.
    pub applications: Vec<Application>,
    /// Service principals.
    pub service_principals: Vec<ServicePrincipal>,
    /// Sent mail.
    pub mail: Vec<Mail>,
    /// B2B invitations created through Graph (`POST /invitations`).
    pub invitations: Vec<Invitation>,
    /// Invited people signed in on a redemption page, not yet decided.
    pub redemption_sessions: crate::entra::redeem::RedemptionSessions,
    /// Replication windows.
    pub replication: Replication,
    /// Signed-in admins looking at a consent page.
    pub consent_sessions: crate::entra::consent::ConsentSessions,
    /// Authorization codes the authorize endpoint issued.
    pub authorization_codes: crate::entra::authcode::AuthorizationCodes,
    /// Delegated permission grants (user consent, and admin consent for the organization).
    pub delegated_grants: crate::entra::scopes::DelegatedGrants,
}

fn parse_end(text: Option<&str>, start: OffsetDateTime) -> (OffsetDateTime, String) {
    if let Some(v) = text.and_then(|t| timefmt::parse_iso(t).map(|d| (d, t.to_owned()))) {
        return v;
    }
    let end = start + Duration::days(730);
    (end, timefmt::graph_seconds(end))
}

impl Directory {
    /// Builds the directory a scenario declares. Declared objects are fully replicated.
    pub fn from_scenario(scenario: &Scenario, now: OffsetDateTime) -> Self {
        let long_ago = now - Duration::days(30);
        let mut d = Self {
            tenants: scenario
                .tenants
                .iter()
                .map(|t| Tenant {
                    id: t.id.clone(),
                    domain: t.domain.clone(),
                    display_name: t.display_name.clone(),
                })
                .collect(),
            users: scenario
                .users
                .iter()
                .map(|u| User {
                    id: u.id.clone(),
                    tenant: u.tenant.clone(),
                    upn: u.user_principal_name.clone(),
                    display_name: u.display_name.clone(),
                    password: u.password.clone(),
                    roles: u.directory_roles.clone(),
                    created_at: long_ago,
                    mail: None,
                    user_type: "Member".to_owned(),
                    guest: None,
                })
                .collect(),
            replication: scenario.replication,
            ..Self::default()
        };
        for a in &scenario.applications {
            let publisher = d
                .tenant(&a.tenant)
                .map(|t| t.domain.clone())
                .unwrap_or_default();
            let mut body = Map::new();
            body.insert("displayName".into(), a.display_name.clone().into());
            body.insert("signInAudience".into(), a.sign_in_audience.clone().into());
            body.insert(
                "web".into(),
                serde_json::json!({"redirectUris": a.redirect_uris}),
            );
            if let Some(u) = &a.unique_name {
                body.insert("uniqueName".into(), u.clone().into());
            }
            d.applications.push(Application {
                id: a.id.clone(),
                app_id: a.app_id.clone(),
                tenant: a.tenant.clone(),
                created_at: long_ago,
                props: model::new_application_props(&body, &publisher),
                owners: a.owners.clone(),
                passwords: a
                    .password_credentials
                    .iter()
                    .map(|p| {
                        let (end, end_text) = parse_end(p.end_date_time.as_deref(), long_ago);
                        PasswordCredential {
                            key_id: p.key_id.clone(),
                            display_name: p.display_name.clone(),
                            hint: p.secret_text.chars().take(3).collect(),
                            secret: p.secret_text.clone(),
                            start: long_ago,
                            end,
                            start_text: timefmt::graph_seconds(long_ago),
                            end_text,
                            added_at: long_ago,
                        }
                    })
                    .collect(),
                federated: a
                    .federated_identity_credentials
                    .iter()
                    .map(|f| FederatedCredential {
                        id: uuid::Uuid::new_v4().to_string(),
                        name: f.name.clone(),
                        issuer: f.issuer.clone(),
                        subject: f.subject.clone(),
                        audiences: f.audiences.clone(),
                        description: None,
                    })
                    .collect(),
            });
        }
        for s in &scenario.service_principals {
            if let Some(app) = d
                .applications
                .iter()
                .find(|a| a.app_id == s.app_id)
                .cloned()
            {
                let sp = d.new_service_principal(&app, &s.tenant, long_ago, &[]);
                let sp = ServicePrincipal {
                    id: s.id.clone(),
                    graph_permissions: s.graph_permissions.clone(),
                    ..sp
                };
                d.service_principals.push(sp);
            }
        }
        d
    }

    /// A tenant by id or verified domain.
    pub fn tenant(&self, id_or_domain: &str) -> Option<&Tenant> {
        self.tenants.iter().find(|t| {
            t.id.eq_ignore_ascii_case(id_or_domain) || t.domain.eq_ignore_ascii_case(id_or_domain)
        })
    }

    /// A user of `tenant` (member or guest) by object id or UPN.
    pub fn user(&self, tenant: &str, id_or_upn: &str) -> Option<&User> {
        self.users.iter().find(|u| {
            u.tenant.eq_ignore_ascii_case(tenant)
                && (u.id.eq_ignore_ascii_case(id_or_upn) || u.upn.eq_ignore_ascii_case(id_or_upn))
        })
    }

    /// An application by client id (any tenant).
    pub fn application_by_app_id(&self, app_id: &str) -> Option<&Application> {
        self.applications
            .iter()
            .find(|a| a.app_id.eq_ignore_ascii_case(app_id))
    }

    /// The service principal of `app_id` in `tenant`.
    pub fn service_principal(&self, tenant: &str, app_id: &str) -> Option<&ServicePrincipal> {
        self.service_principals.iter().find(|s| {
            s.tenant.eq_ignore_ascii_case(tenant) && s.app_id.eq_ignore_ascii_case(app_id)
        })
    }

    /// A new (not yet stored) service principal for `app` in `tenant`.
    pub fn new_service_principal(
        &self,
        app: &Application,
        tenant: &str,
        now: OffsetDateTime,
        owners: &[String],
    ) -> ServicePrincipal {
        ServicePrincipal {
            id: uuid::Uuid::new_v4().to_string(),
            app_id: app.app_id.clone(),
            tenant: tenant.to_owned(),
            created_at: now,
            props: model::new_service_principal_props(app),
            graph_permissions: vec![],
            owners: owners.to_vec(),
        }
    }

    /// True when the object created at `at` has replicated to the token endpoint.
    pub fn replicated(&self, at: OffsetDateTime, seconds: u32, now: OffsetDateTime) -> bool {
        at + Duration::seconds(i64::from(seconds)) <= now
    }

    /// Consent by an admin of `tenant` to `app_id`: creates the service principal (if absent).
    pub fn admin_consent(
        &mut self,
        tenant: &str,
        app_id: &str,
        admin: &str,
        now: OffsetDateTime,
    ) -> Result<ServicePrincipalView, AdminError> {
        let tenant_id = self
            .tenant(tenant)
            .map(|t| t.id.clone())
            .ok_or_else(|| AdminError::UnknownTenant(tenant.to_owned()))?;
        let user = self
            .user(&tenant_id, admin)
            .ok_or_else(|| AdminError::UnknownUser(admin.to_owned()))?;
        if !user.is_admin() {
            return Err(AdminError::NotAnAdmin(admin.to_owned()));
        }
        let app = self
            .application_by_app_id(app_id)
            .cloned()
            .ok_or_else(|| AdminError::UnknownApplication(app_id.to_owned()))?;
        if !app.tenant.eq_ignore_ascii_case(&tenant_id) && !app.is_multi_tenant() {
            return Err(AdminError::NotMultiTenant(app_id.to_owned()));
        }
        if let Some(sp) = self.service_principal(&tenant_id, app_id) {
            return Ok(views::service_principal(sp));
        }
        let sp = self.new_service_principal(&app, &tenant_id, now, &[]);
        let view = views::service_principal(&sp);
        self.service_principals.push(sp);
        Ok(view)
    }

    /// Consent to delegated `scopes` of `app_id` in `tenant` by the user `user_id` — for
    /// itself, or (`for_organization`) for every user of the tenant — as the authorize
    /// endpoint's consent page records it: the app's service principal is created there when
    /// absent (consent is what instantiates a multi-tenant app in a tenant).
    pub fn consent_delegated(
        &mut self,
        tenant: &str,
        app_id: &str,
        user_id: &str,
        for_organization: bool,
        scopes: &crate::entra::scopes::Scopes,
        now: OffsetDateTime,
    ) -> Result<(), AdminError> {
        let tenant_id = self
            .tenant(tenant)
            .map(|t| t.id.clone())
            .ok_or_else(|| AdminError::UnknownTenant(tenant.to_owned()))?;
        let user = self
            .user(&tenant_id, user_id)
            .cloned()
            .ok_or_else(|| AdminError::UnknownUser(user_id.to_owned()))?;
        if for_organization && !user.is_admin() {
            return Err(AdminError::NotAnAdmin(user.upn));
        }
        let app = self
            .application_by_app_id(app_id)
            .cloned()
            .ok_or_else(|| AdminError::UnknownApplication(app_id.to_owned()))?;
        if !app.tenant.eq_ignore_ascii_case(&tenant_id) && !app.is_multi_tenant() {
            return Err(AdminError::NotMultiTenant(app_id.to_owned()));
        }
        if self.service_principal(&tenant_id, app_id).is_none() {
            let sp = self.new_service_principal(&app, &tenant_id, now, &[]);
            self.service_principals.push(sp);
        }
        let principal = (!for_organization).then_some(user.id.as_str());
        self.delegated_grants
            .grant(&tenant_id, &app.app_id, principal, scopes, now);
        Ok(())
    }

    /// Mail sent by users of `tenant` (id or domain).
    pub fn outbox(&self, tenant: &str) -> Vec<Mail> {
        let Some(id) = self.tenant(tenant).map(|t| t.id.clone()) else {
            return vec![];
        };
        self.mail
            .iter()
            .filter(|m| m.tenant.eq_ignore_ascii_case(&id))
            .cloned()
            .collect()
    }

    /// Mail sent from users of `tenant` after the first `seen` of them.
    pub fn outbox_since(&self, tenant: &str, seen: usize) -> Vec<Mail> {
        let Some(id) = self.tenant(tenant).map(|t| t.id.clone()) else {
            return vec![];
        };
        self.mail
            .iter()
            .filter(|m| m.tenant.eq_ignore_ascii_case(&id))
            .skip(seen)
            .cloned()
            .collect()
    }
}
