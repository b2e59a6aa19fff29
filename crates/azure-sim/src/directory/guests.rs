//! Microsoft Entra B2B collaboration: guest users an invitation creates in the inviting
//! (resource) tenant, their redemption by the invited person's home account, and which
//! account a person signs in as in a tenant.
//!
//! Sources: Graph v1.0 "Create invitation" (`invitation-post.md`) and the invitation and user
//! resources; Entra "Properties of a B2B guest user" (`external-id/user-properties.md`): the
//! account exists from the invitation on, `externalUserState` is `PendingAcceptance` until
//! redemption and `Accepted` after it, the UPN carries `#EXT#`, and the **Identities** are the
//! host's domain until redemption, then `ExternalAzureAD` for a guest from another Entra
//! organization.

use serde::Serialize;
use serde_json::{Value, json};
use time::OffsetDateTime;

use super::{Directory, Tenant, User};
use crate::{state::AdminError, timefmt};

/// `externalUserState` of an invited user.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ExternalUserState {
    /// Invited, not yet redeemed: the person cannot sign in to the tenant.
    PendingAcceptance,
    /// Redeemed with a home account.
    Accepted,
}

impl ExternalUserState {
    /// Graph's value.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::PendingAcceptance => "PendingAcceptance",
            Self::Accepted => "Accepted",
        }
    }
}

/// The home account a guest redeemed with.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HomeAccount {
    /// Home tenant id.
    pub tenant: String,
    /// Object id of the user in the home tenant.
    pub user_id: String,
}

/// What an invitation adds to a user object.
#[derive(Debug, Clone)]
pub struct Guest {
    /// The invited address (`mail`, `otherMails`).
    pub invited_address: String,
    /// `externalUserState`.
    pub state: ExternalUserState,
    /// `externalUserStateChangeDateTime`.
    pub state_changed_at: OffsetDateTime,
    /// Set by redemption.
    pub home: Option<HomeAccount>,
}

/// One `POST /invitations`.
#[derive(Debug, Clone)]
pub struct Invitation {
    /// Invitation id (also the `user` of the redemption URL, as in Graph's example).
    pub id: String,
    /// Inviting tenant id.
    pub tenant: String,
    /// The invited user object.
    pub user_id: String,
    /// `invitedUserEmailAddress`.
    pub address: String,
    /// `inviteRedirectUrl`.
    pub redirect_url: String,
    /// The opaque ticket of the redemption URL.
    pub ticket: String,
    /// When it was created.
    pub created_at: OffsetDateTime,
}

/// A guest user as the state view and the admin API show it.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct GuestView {
    /// Object id in the inviting tenant.
    pub id: String,
    /// Inviting tenant id.
    pub tenant: String,
    /// `userPrincipalName` (`{local}_{domain}#EXT#@{tenant domain}`).
    pub user_principal_name: String,
    /// `mail`.
    pub mail: String,
    /// `userType`.
    pub user_type: String,
    /// `externalUserState`.
    pub external_user_state: String,
    /// Home tenant, once redeemed.
    pub home_tenant: Option<String>,
    /// Home object id, once redeemed.
    pub home_user_id: Option<String>,
}

/// `admin@fabrikam.onmicrosoft.com` invited to `contoso.onmicrosoft.com` ->
/// `admin_fabrikam.onmicrosoft.com#EXT#@contoso.onmicrosoft.com`.
pub fn guest_upn(address: &str, tenant_domain: &str) -> String {
    format!("{}#EXT#@{tenant_domain}", address.replace('@', "_"))
}

/// Percent-encodes everything but RFC 3986's unreserved characters, with lower-case hex
/// digits, as Graph's `inviteRedeemUrl` example does (`https%3a%2f%2finvitations...`).
fn encode_lower(s: &str) -> String {
    let mut out = String::with_capacity(s.len() * 3);
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~') {
            out.push(char::from(b));
        } else {
            out.push_str(&format!("%{b:02x}"));
        }
    }
    out
}

impl Invitation {
    /// `inviteRedeemUrl`, shaped like Graph's example:
    /// `https://login.microsoftonline.com/redeem?rd=https%3a%2f%2finvitations.microsoft.com%2fredeem%2f%3ftenant%3d{tenant}%26user%3d{id}%26ticket%3d{ticket}%26ver%3d2.0`.
    pub fn redeem_url(&self) -> String {
        let inner = format!(
            "https://invitations.microsoft.com/redeem/?tenant={}&user={}&ticket={}&ver=2.0",
            self.tenant, self.id, self.ticket
        );
        format!(
            "https://login.microsoftonline.com/redeem?rd={}",
            encode_lower(&inner)
        )
    }
}

fn same(a: &str, b: &str) -> bool {
    a.eq_ignore_ascii_case(b)
}

impl User {
    /// `identities` as Graph shows them: the tenant's own `userPrincipalName` identity, and for
    /// a redeemed guest from another Entra organization `federated` / `ExternalAzureAD` first
    /// (with a null `issuerAssignedId`, as Microsoft's support article on converting external
    /// users shows).
    pub fn identities(&self, tenant_domain: &str) -> Value {
        let own = json!({"signInType": "userPrincipalName", "issuer": tenant_domain,
                         "issuerAssignedId": self.upn});
        match &self.guest {
            Some(g) if g.state == ExternalUserState::Accepted => json!([
                {"signInType": "federated", "issuer": "ExternalAzureAD", "issuerAssignedId": null},
                own
            ]),
            _ => json!([own]),
        }
    }

    /// The state view of a guest (`None` for members).
    pub fn guest_view(&self) -> Option<GuestView> {
        let g = self.guest.as_ref()?;
        Some(GuestView {
            id: self.id.clone(),
            tenant: self.tenant.clone(),
            user_principal_name: self.upn.clone(),
            mail: g.invited_address.clone(),
            user_type: self.user_type.clone(),
            external_user_state: g.state.as_str().to_owned(),
            home_tenant: g.home.as_ref().map(|h| h.tenant.clone()),
            home_user_id: g.home.as_ref().map(|h| h.user_id.clone()),
        })
    }

    /// `externalUserStateChangeDateTime` as Graph writes it.
    pub fn external_state_changed(&self) -> Option<String> {
        self.guest
            .as_ref()
            .map(|g| timefmt::graph_seconds(g.state_changed_at))
    }
}

impl Directory {
    /// The account an address names in its own (home) tenant: a member whose UPN or mail is
    /// the address.
    pub fn home_account(&self, address: &str) -> Option<&User> {
        self.users.iter().find(|u| {
            !u.is_external()
                && (same(&u.upn, address) || u.mail.as_deref().is_some_and(|m| same(m, address)))
        })
    }

    /// A member of `tenant` (not a guest) whose UPN or mail is `address`.
    pub fn member_by_address(&self, tenant: &str, address: &str) -> Option<&User> {
        self.users.iter().find(|u| {
            same(&u.tenant, tenant)
                && !u.is_external()
                && (same(&u.upn, address) || u.mail.as_deref().is_some_and(|m| same(m, address)))
        })
    }

    /// The guest of `tenant` invited with `address`.
    pub fn guest_by_address(&self, tenant: &str, address: &str) -> Option<&User> {
        self.users.iter().find(|u| {
            same(&u.tenant, tenant)
                && u.guest
                    .as_ref()
                    .is_some_and(|g| same(&g.invited_address, address))
        })
    }

    /// Creates (and stores) the guest user an invitation of `address` adds to `tenant`.
    pub fn add_guest(
        &mut self,
        tenant: &Tenant,
        address: &str,
        display_name: Option<&str>,
        user_type: &str,
        now: OffsetDateTime,
    ) -> User {
        // Without invitedUserDisplayName, the address's local part (an assumption: Graph's
        // docs do not say what the display name defaults to).
        let display_name = display_name
            .map(str::to_owned)
            .unwrap_or_else(|| address.split('@').next().unwrap_or(address).to_owned());
        let user = User {
            id: uuid::Uuid::new_v4().to_string(),
            tenant: tenant.id.clone(),
            upn: guest_upn(address, &tenant.domain),
            display_name,
            password: None,
            roles: vec![],
            created_at: now,
            mail: Some(address.to_owned()),
            user_type: user_type.to_owned(),
            guest: Some(Guest {
                invited_address: address.to_owned(),
                state: ExternalUserState::PendingAcceptance,
                state_changed_at: now,
                home: None,
            }),
        };
        self.users.push(user.clone());
        user
    }

    /// Redeems the invitation of `address` into `tenant` with the address's home account:
    /// the guest becomes `Accepted` and is linked to that account (signing in to `tenant`
    /// with it now works).
    pub fn redeem(
        &mut self,
        tenant: &str,
        address: &str,
        now: OffsetDateTime,
    ) -> Result<GuestView, AdminError> {
        let tenant_id = self
            .tenant(tenant)
            .map(|t| t.id.clone())
            .ok_or_else(|| AdminError::UnknownTenant(tenant.to_owned()))?;
        let home = self
            .home_account(address)
            .filter(|h| !same(&h.tenant, &tenant_id))
            .map(|h| HomeAccount {
                tenant: h.tenant.clone(),
                user_id: h.id.clone(),
            })
            .ok_or_else(|| AdminError::NoHomeAccount(address.to_owned()))?;
        let guest = self
            .users
            .iter_mut()
            .find(|u| {
                same(&u.tenant, &tenant_id)
                    && u.guest
                        .as_ref()
                        .is_some_and(|g| same(&g.invited_address, address))
            })
            .ok_or_else(|| AdminError::NoInvitation(address.to_owned()))?;
        if let Some(g) = guest.guest.as_mut() {
            if g.state != ExternalUserState::Accepted {
                g.state = ExternalUserState::Accepted;
                g.state_changed_at = now;
            }
            g.home = Some(home);
        }
        guest
            .guest_view()
            .ok_or_else(|| AdminError::NoInvitation(address.to_owned()))
    }

    /// The person behind a token subject: `(home tenant, home object id)` — the guest's
    /// home account for a guest, the user itself otherwise.
    pub fn person_of(&self, tenant: &str, object_id: &str) -> (String, String) {
        match self
            .user(tenant, object_id)
            .and_then(|u| u.guest.as_ref()?.home.clone())
        {
            Some(h) => (h.tenant, h.user_id),
            None => (tenant.to_owned(), object_id.to_owned()),
        }
    }

    /// The account `person` (home tenant, home object id) signs in as in `tenant`: the home
    /// user itself there, or the guest that person redeemed in `tenant` (a pending guest
    /// does not count).
    pub fn account_in(&self, tenant: &str, person: (&str, &str)) -> Option<&User> {
        let (home_tenant, home_id) = person;
        if same(tenant, home_tenant) {
            return self
                .user(tenant, home_id)
                .filter(|u| same(&u.id, home_id) && !u.is_external());
        }
        self.users.iter().find(|u| {
            same(&u.tenant, tenant)
                && u.guest.as_ref().is_some_and(|g| {
                    g.state == ExternalUserState::Accepted
                        && g.home.as_ref().is_some_and(|h| {
                            same(&h.tenant, home_tenant) && same(&h.user_id, home_id)
                        })
                })
        })
    }

    /// Guests of every tenant.
    pub fn guest_views(&self) -> Vec<GuestView> {
        self.users.iter().filter_map(User::guest_view).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_guest_upn_joins_the_address_with_ext_and_the_inviting_domain() {
        assert_eq!(
            guest_upn("admin@fabrikam.onmicrosoft.com", "contoso.onmicrosoft.com"),
            "admin_fabrikam.onmicrosoft.com#EXT#@contoso.onmicrosoft.com"
        );
    }

    #[test]
    fn the_redeem_url_encodes_the_invitations_link_in_lower_case_hex() {
        let i = Invitation {
            id: "i1".into(),
            tenant: "t1".into(),
            user_id: "u1".into(),
            address: "a@b".into(),
            redirect_url: "https://x".into(),
            ticket: "k".into(),
            created_at: OffsetDateTime::UNIX_EPOCH,
        };
        assert_eq!(
            i.redeem_url(),
            "https://login.microsoftonline.com/redeem?rd=https%3a%2f%2finvitations.microsoft.com%2fredeem%2f%3ftenant%3dt1%26user%3di1%26ticket%3dk%26ver%3d2.0"
        );
    }
}
