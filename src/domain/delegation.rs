//! What a `lighthouse` request delegates, to whom and for how long, and what the delegation
//! became in Azure.

use serde::{Deserialize, Serialize};
use time::OffsetDateTime;
use uuid::Uuid;

use super::{Intent, Invalid, Removal};

/// What kind of principal of the consumer's tenant receives the delegation (Lighthouse's
/// `authorizations[].principalId` takes users, groups and service principals alike; the
/// docs recommend groups).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum PrincipalKind {
    /// A user.
    User,
    /// A security group.
    Group,
    /// A service principal (automation).
    ServicePrincipal,
}

/// The longest display name kept: Lighthouse's `principalIdDisplayName` is free text shown in
/// the portal; Entra's own limit for display names is 256 characters.
pub const DISPLAY_NAME_MAX_CHARS: usize = 256;

/// One principal of the consumer's tenant the delegation is for (the seed's 操作者).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ConsumerPrincipal {
    /// Its object id in the consumer's tenant.
    pub object_id: Uuid,
    /// How the portal names it on the delegation.
    pub display_name: String,
    /// User, group or service principal.
    pub kind: PrincipalKind,
}

impl ConsumerPrincipal {
    /// Checks the display name: present, one line, not too long.
    pub fn new(object_id: Uuid, display_name: &str, kind: PrincipalKind) -> Result<Self, Invalid> {
        let name = display_name.trim();
        if name.is_empty() {
            return Err(Invalid::new("must not be empty"));
        }
        if name.chars().count() > DISPLAY_NAME_MAX_CHARS {
            return Err(Invalid::new(format!(
                "must be at most {DISPLAY_NAME_MAX_CHARS} characters"
            )));
        }
        if name.chars().any(char::is_control) {
            return Err(Invalid::new("must be one line of text"));
        }
        if object_id.is_nil() {
            return Err(Invalid::new("objectId must not be the nil GUID"));
        }
        Ok(Self {
            object_id,
            display_name: name.to_owned(),
            kind,
        })
    }
}

/// The delegation a `lighthouse` request asks for.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct DelegationPlan {
    /// Who in the consumer's tenant gets Reader (and the right to remove the delegation).
    pub principals: Vec<ConsumerPrincipal>,
    /// How long the delegation may live, in days.
    pub lifetime_days: u32,
}

/// What the Delegate and EndDelegation steps found or made.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct DelegationRecord {
    /// The subscription-scope deployment's resource id.
    pub deployment_id: String,
    /// The registration definition's resource id (deterministic, from the template's guid()).
    pub definition_id: String,
    /// The registration assignment's resource id.
    pub assignment_id: String,
    /// The delegated resource group's id (the gallery's).
    pub scope: String,
    /// When the registration assignment was confirmed `Succeeded`.
    #[serde(
        with = "time::serde::rfc3339::option",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub confirmed_at: Option<OffsetDateTime>,
    /// When the delegation is removed (the lifetime from its confirmation).
    #[serde(
        with = "time::serde::rfc3339::option",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub expires_at: Option<OffsetDateTime>,
    /// A notice delivery under way (a mail is not sent twice).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub notice_intent: Option<Intent>,
    /// When the admin's notice went out.
    #[serde(
        with = "time::serde::rfc3339::option",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub notice_sent_at: Option<OffsetDateTime>,
    /// SHA-256 of the notice's "we are done" link secret (`consent_state`'s shape): the
    /// value lives only in the message to the consumer's admin.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub done_link_hash: Option<String>,
    /// When the consumer's admin said, through that link, that they are done: the delegation
    /// ends then instead of at `expires_at` (the link works once).
    #[serde(
        with = "time::serde::rfc3339::option",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub done_at: Option<OffsetDateTime>,
    /// What was removed when it ended.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub removed: Vec<Removal>,
}

impl DelegationRecord {
    /// Whether the delegation's end is due at `now`: its lifetime is over, or the consumer
    /// said they are done.
    pub fn end_is_due(&self, now: OffsetDateTime) -> bool {
        self.done_at.is_some() || self.expires_at.is_none_or(|at| now >= at)
    }
}
