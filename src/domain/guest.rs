//! What an `rbac-guest` request shares, with whom and for how long (the seed's "RBAC で共有す
//! る方法"), and what it became in Azure: the consumer's user invited into the owner's tenant
//! as a B2B guest, and Reader for that guest on the image definition.

use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

use super::{EmailAddress, Intent, Removal};

/// The guest an `rbac-guest` request invites.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct GuestPlan {
    /// The consumer's user, by the address the invitation goes to.
    pub email: EmailAddress,
    /// How the owner's directory names the guest (Graph `invitedUserDisplayName`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub display_name: Option<String>,
    /// How long the guest keeps Reader on the image, in days.
    pub lifetime_days: u32,
}

/// What the GrantGuest and RemoveGuest steps found or made.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct GuestRecord {
    /// The guest user's object id in the owner's tenant.
    pub user_id: String,
    /// Its user principal name (`{local}_{domain}#EXT#@{owner's domain}`).
    #[serde(default)]
    pub user_principal_name: String,
    /// True when this request's invitation created the guest (a guest already there is
    /// reused and never deleted by imageshare).
    #[serde(default)]
    pub created: bool,
    /// The Reader role assignment's resource id, once granted.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub role_assignment_id: String,
    /// When Reader was confirmed.
    #[serde(
        with = "time::serde::rfc3339::option",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub granted_at: Option<OffsetDateTime>,
    /// When the access ends (the lifetime from `granted_at`).
    #[serde(
        with = "time::serde::rfc3339::option",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub expires_at: Option<OffsetDateTime>,
    /// A notice delivery under way (a mail is not sent twice).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub notice_intent: Option<Intent>,
    /// When the consumer's steps went out.
    #[serde(
        with = "time::serde::rfc3339::option",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub notice_sent_at: Option<OffsetDateTime>,
    /// What was removed when it ended.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub removed: Vec<Removal>,
}
