//! Taking a share back (DESIGN §8): what a revocation was asked to do and what it removed,
//! and what was released when a request ended. Ids and the services' own request ids only.

use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

use super::{Caller, Intent, State};

/// What was removed (or found gone).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Removable {
    /// The Reader role assignment on the image definition.
    RoleAssignment,
    /// The app's federated identity credential.
    FederatedCredential,
    /// The app's client secret.
    ClientSecret,
    /// The Key Vault secret holding the client secret.
    KeyVaultSecret,
    /// The app's service principal in the owner's tenant (the one the Reader grant names).
    ServicePrincipal,
    /// The app registration.
    Application,
    /// The VM in the consumer's tenant (its OS disk goes with it).
    VirtualMachine,
    /// Its network interface.
    NetworkInterface,
    /// The virtual network imageshare made.
    VirtualNetwork,
    /// The network security group imageshare made.
    NetworkSecurityGroup,
    /// A Lighthouse registration assignment (the delegation of a resource group).
    RegistrationAssignment,
    /// A Lighthouse registration definition (the offer the assignment used).
    RegistrationDefinition,
    /// The consumer's tenant in a gallery's sharing profile (`direct-share`).
    GalleryShare,
    /// The guest user imageshare invited into the owner's tenant (`rbac-guest`).
    GuestUser,
}

impl Removable {
    /// What a person calls it.
    pub fn label(self) -> &'static str {
        match self {
            Self::RoleAssignment => "Reader role assignment",
            Self::FederatedCredential => "federated identity credential",
            Self::ClientSecret => "client secret",
            Self::KeyVaultSecret => "Key Vault secret",
            Self::ServicePrincipal => "service principal",
            Self::Application => "app registration",
            Self::VirtualMachine => "virtual machine",
            Self::NetworkInterface => "network interface",
            Self::VirtualNetwork => "virtual network",
            Self::NetworkSecurityGroup => "network security group",
            Self::RegistrationAssignment => "Lighthouse registration assignment",
            Self::RegistrationDefinition => "Lighthouse registration definition",
            Self::GalleryShare => "gallery's share with the tenant",
            Self::GuestUser => "guest user",
        }
    }
}

/// How a removal ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum RemovalOutcome {
    /// The call removed it.
    Removed,
    /// It was already gone.
    Absent,
    /// It could not be removed (the reason is in `detail`); someone must remove it by hand.
    NotRemoved,
}

/// The service a removal called.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum RemovalService {
    /// Microsoft Graph (its `request-id`).
    Graph,
    /// Azure Resource Manager (its `x-ms-correlation-request-id`).
    Arm,
    /// Key Vault (its `x-ms-request-id`).
    KeyVault,
}

/// One removal, as the history and the status document show it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Removal {
    /// What.
    pub what: Removable,
    /// Its id (resource id, object id, credential name).
    pub id: String,
    /// When.
    #[serde(with = "time::serde::rfc3339")]
    pub at: OffsetDateTime,
    /// How it ended.
    pub outcome: RemovalOutcome,
    /// The service called.
    pub service: RemovalService,
    /// The service's id of the call, for its support and its logs.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub service_request_id: Option<String>,
    /// Why it was not removed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub detail: Option<String>,
}

impl Removal {
    /// A line for the history.
    pub fn describe(&self) -> String {
        let outcome = match self.outcome {
            RemovalOutcome::Removed => "removed",
            RemovalOutcome::Absent => "already gone",
            RemovalOutcome::NotRemoved => "NOT removed",
        };
        let call = self
            .service_request_id
            .as_deref()
            .map(|id| {
                let name = match self.service {
                    RemovalService::Graph => "Graph request-id",
                    RemovalService::Arm => "ARM x-ms-correlation-request-id",
                    RemovalService::KeyVault => "Key Vault x-ms-request-id",
                };
                format!(" ({name} {id})")
            })
            .unwrap_or_default();
        let detail = self
            .detail
            .as_deref()
            .map(|d| format!(": {d}"))
            .unwrap_or_default();
        format!("{} {} {outcome}{call}{detail}", self.what.label(), self.id)
    }
}

/// Something a revocation left in place, and why.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Kept {
    /// What.
    pub what: Removable,
    /// Its id.
    pub id: String,
    /// Why (another request needs it, a setting keeps it).
    pub reason: String,
}

/// A revocation: asked for, and what it did.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RevocationRecord {
    /// When it was asked for.
    #[serde(with = "time::serde::rfc3339")]
    pub requested_at: OffsetDateTime,
    /// Who asked.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub requested_by: Option<Caller>,
    /// Also delete the VM and network made in the consumer's tenant.
    pub delete_resources: bool,
    /// The state the request was in when revoked.
    pub from_state: State,
    /// How many revocations started (a failed one may be asked for again); numbers the
    /// RevokeAccess message chain, so duplicate detection keeps them apart.
    pub number: u32,
    /// The consumer-side deletions are done (or there were none to do).
    #[serde(default)]
    pub consumer_done: bool,
    /// What was removed, in order.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub removed: Vec<Removal>,
    /// What was left in place.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub kept: Vec<Kept>,
    /// The notice to the consumer's admin was about to be sent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub notice_intent: Option<Intent>,
    /// When the notice was sent.
    #[serde(
        default,
        with = "time::serde::rfc3339::option",
        skip_serializing_if = "Option::is_none"
    )]
    pub notice_sent_at: Option<OffsetDateTime>,
}

impl RevocationRecord {
    /// Whether this revocation still needs the app's credential (to delete in the consumer's
    /// tenant): another request's revocation or release must not remove it meanwhile.
    pub fn needs_credential(&self) -> bool {
        self.delete_resources && !self.consumer_done
    }
}

/// The owner-side credential released when the request ended.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct AccessRelease {
    /// When.
    #[serde(with = "time::serde::rfc3339")]
    pub at: OffsetDateTime,
    /// What was removed.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub removed: Vec<Removal>,
    /// What stayed, and why.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub kept: Vec<Kept>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_removal_names_the_service_call_that_made_it() {
        let removal = Removal {
            what: Removable::RoleAssignment,
            id: "/subscriptions/s/providers/Microsoft.Authorization/roleAssignments/a".into(),
            at: OffsetDateTime::UNIX_EPOCH,
            outcome: RemovalOutcome::Removed,
            service: RemovalService::Arm,
            service_request_id: Some("c0ffee".into()),
            detail: None,
        };
        assert_eq!(
            removal.describe(),
            "Reader role assignment /subscriptions/s/providers/Microsoft.Authorization/roleAssignments/a removed (ARM x-ms-correlation-request-id c0ffee)"
        );
        let json = serde_json::to_value(&removal).unwrap();
        assert_eq!(json["what"], "role-assignment");
        assert_eq!(json["serviceRequestId"], "c0ffee");
    }
}
