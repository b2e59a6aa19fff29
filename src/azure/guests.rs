//! Microsoft Graph's B2B guests in the owner's tenant (`rbac-guest`): invite the consumer's
//! user (`POST /invitations`), find a guest already there by address, and delete one.
//! Graph v1.0 "Create invitation", "List users" (`$filter=mail eq`), "Delete user".

use super::{
    ApiCall, AzureError, Service,
    graph::{GraphClient, url},
};
use reqwest::Method;
use serde::Deserialize;
use serde_json::json;

/// A guest user in the owner's tenant.
#[derive(Clone, Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Guest {
    /// Object id (what the role assignment names).
    pub id: String,
    /// `{local}_{domain}#EXT#@{tenant's domain}`.
    #[serde(default)]
    pub user_principal_name: String,
}

/// What an invitation answered.
#[derive(Debug)]
pub struct Invited {
    /// The guest user (new, or the one the address already had).
    pub user_id: String,
    /// The link the invited person redeems the invitation with (their message carries it).
    pub redeem_url: String,
}

impl GraphClient {
    /// The guest user the address already has in the tenant, if any.
    pub async fn guest_by_mail(&self, email: &str) -> Result<Option<Guest>, AzureError> {
        #[derive(Deserialize)]
        struct Page {
            value: Vec<Guest>,
        }
        let mut call_url = url("/users")?;
        call_url
            .query_pairs_mut()
            .append_pair(
                "$filter",
                &format!(
                    "mail eq '{}' and userType eq 'Guest'",
                    email.replace('\'', "''")
                ),
            )
            .append_pair("$select", "id,userPrincipalName");
        let page: Page = self
            .call(ApiCall::new(Service::Graph, Method::GET, call_url))
            .await?
            .json(Service::Graph)?;
        Ok(page.value.into_iter().next())
    }

    /// Invites `email` as a guest; Graph sends the invitation message itself
    /// (`sendInvitationMessage`) with `message` and the redeem link, and answers the existing
    /// guest when the address has one.
    pub async fn invite(
        &self,
        email: &str,
        display_name: Option<&str>,
        redirect: &str,
        message: &str,
    ) -> Result<Invited, AzureError> {
        #[derive(Deserialize)]
        #[serde(rename_all = "camelCase")]
        struct Invitation {
            invite_redeem_url: String,
            invited_user: Guest,
        }
        let mut body = json!({
            "invitedUserEmailAddress": email,
            "inviteRedirectUrl": redirect,
            "sendInvitationMessage": true,
            "invitedUserMessageInfo": {"customizedMessageBody": message},
        });
        if let Some(name) = display_name {
            body["invitedUserDisplayName"] = json!(name);
        }
        // An invitation of the same address answers the same user: safe to repeat.
        let call = ApiCall::new(Service::Graph, Method::POST, url("/invitations")?)
            .json(body)
            .idempotent(true);
        let invitation: Invitation = self.call(call).await?.json(Service::Graph)?;
        Ok(Invited {
            user_id: invitation.invited_user.id,
            redeem_url: invitation.invite_redeem_url,
        })
    }

    /// Deletes a user (Graph moves it to deleted items for 30 days).
    pub async fn delete_user(&self, id: &str) -> Result<super::deletion::Deleted, AzureError> {
        let call = ApiCall::new(
            Service::Graph,
            Method::DELETE,
            url(&format!("/users/{id}"))?,
        )
        .idempotent(true);
        super::deletion::read(Service::Graph, self.call(call).await, None)
    }
}
