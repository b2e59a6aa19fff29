//! What each step found or made, recorded on the request so a re-run knows what is done.
//! Ids and references only: secret values never live here (a client secret is in Key Vault,
//! named by `vault_secret`).

use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

/// The share app in the owner's tenant.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct AppRecord {
    /// `uniqueName` (one app per consumer tenant).
    pub unique_name: String,
    /// Application object id.
    pub object_id: String,
    /// Client id.
    pub app_id: String,
    /// Its service principal in the owner's tenant.
    pub service_principal_id: String,
    /// How it authenticates.
    pub credential: CredentialRecord,
    /// The Reader role assignment on the image definition; none for a direct share, where
    /// the share itself lets the consumer's tenant read the image.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reader_assignment_id: Option<String>,
    /// A digest of the app document IssueCredentials upserted (`sha256:` + hex), so a later
    /// request of the tenant reuses the app only while the document is the same (absent in
    /// records written before it existed: they are never reused).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fingerprint: Option<String>,
}

/// What the one-visit sign-in of a request needs between the approval page and the callback.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct OneVisit {
    /// The PKCE `code_verifier` (RFC 7636: 43 characters of base64url).
    pub verifier: crate::secret::Secret,
    /// The OpenID Connect `nonce` the ID token must carry back.
    pub nonce: String,
}

/// A role assignment the consumer's admin made through imageshare, with their own sign-in.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct AdminGrant {
    /// The role assignment's id.
    pub assignment_id: String,
    /// The role's name (`Virtual Machine Contributor`, `Network Contributor`).
    pub role: String,
    /// Who made it (the admin's sign-in name, from the ID token).
    pub by: String,
    /// When.
    #[serde(with = "time::serde::rfc3339")]
    pub at: OffsetDateTime,
}

/// The share app's credential.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", tag = "kind")]
pub enum CredentialRecord {
    /// A federated identity credential trusting the Function App's managed identity.
    Federated {
        /// The credential's name on the app.
        name: String,
    },
    /// A client secret kept in Key Vault.
    Secret {
        /// The secret's `keyId` on the app.
        key_id: String,
        /// The Key Vault secret holding the value.
        vault_secret: String,
        /// When it expires.
        #[serde(with = "time::serde::rfc3339")]
        expires_at: OffsetDateTime,
    },
}

/// Intent recorded before a call with no natural key (addPassword, sendMail), so a re-run
/// after a crash knows the call may have happened.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Intent {
    /// When the call was about to be made.
    #[serde(with = "time::serde::rfc3339")]
    pub at: OffsetDateTime,
    /// A label identifying the call's result (the password's display name).
    pub label: String,
}

/// How the consent link reaches the consumer's admin.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Delivery {
    /// Graph `sendMail`.
    Mail,
    /// A webhook POST.
    Webhook,
    /// Only shown in the status document.
    Status,
}

/// What the admin's browser brought back to the consent callback.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct CallbackRecord {
    /// When.
    #[serde(with = "time::serde::rfc3339")]
    pub at: OffsetDateTime,
    /// `admin_consent=True` without `error`.
    pub consented: bool,
    /// `error` and `error_description`, when the admin declined or Entra failed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    /// The `tenant` the redirect claimed (recorded, never trusted).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reported_tenant: Option<String>,
}

#[allow(clippy::trivially_copy_pass_by_ref)] // serde passes a reference
fn is_zero(n: &u32) -> bool {
    *n == 0
}

/// The admin-consent link and its delivery.
/// How many replaced states a request remembers, so a re-sent link's predecessors answer
/// "superseded" without the record growing with every re-send.
const SUPERSEDED_KEPT: usize = 8;

/// `earlier` with `replaced` added, oldest dropped past [`SUPERSEDED_KEPT`].
pub fn superseded(earlier: &[String], replaced: &str) -> Vec<String> {
    let mut kept: Vec<String> = earlier.to_vec();
    // An empty hash is a state already retired by a re-send request: nothing to remember.
    if !replaced.is_empty() {
        kept.push(replaced.to_owned());
    }
    let drop = kept.len().saturating_sub(SUPERSEDED_KEPT);
    kept.drain(..drop);
    kept
}

impl ConsentRecord {
    /// Retires the current link so a fresh one can be sent (an operator's re-send, the
    /// reminder): the old state stops working now, not when the new one is delivered (no
    /// state matches an empty hash), and is remembered as superseded. Returns the re-send's
    /// number, which numbers its SendConsentLink message.
    pub fn retire_link(&mut self) -> u32 {
        self.superseded_hashes = superseded(&self.superseded_hashes, &self.state_hash);
        self.state_hash.clear();
        self.status_link = None;
        self.resends += 1;
        self.resend_pending = true;
        self.delivering = None;
        self.delivered_at = None;
        // The uncertainty was about the old link's delivery; the new one starts afresh.
        self.delivery_uncertain = false;
        self.resends
    }
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ConsentRecord {
    /// The link itself, kept only where the deployment delivers it in the status document
    /// (`IMAGESHARE_NOTIFY=status`): everywhere else only the state's hash is stored, so the
    /// table, the API and the events never hold a usable state.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status_link: Option<String>,
    /// SHA-256 (hex) of the state's random part; the state itself is only in the link.
    pub state_hash: String,
    /// Hashes of states this request sent earlier and replaced (a re-sent link), newest last
    /// and bounded: one of them comes back as "superseded", never as a forgery.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub superseded_hashes: Vec<String>,
    /// How many times the operator asked for a fresh link (`POST .../consent-link`); numbers
    /// the SendConsentLink message of each re-send, so duplicate detection keeps them apart.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub resends: u32,
    /// A re-send was asked for and its link is not delivered yet.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub resend_pending: bool,
    /// When the reminder before the deadline was sent (once per request).
    #[serde(
        default,
        with = "time::serde::rfc3339::option",
        skip_serializing_if = "Option::is_none"
    )]
    pub reminded_at: Option<OffsetDateTime>,
    /// The one-visit sign-in's PKCE verifier and OpenID nonce, made with the state: the
    /// approval page sends their challenge and nonce to Entra, the callback redeems the code
    /// with the verifier. Kept only until the state is used; never in the status document.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub one_visit: Option<OneVisit>,
    /// When the state stops being accepted.
    #[serde(with = "time::serde::rfc3339")]
    pub expires_at: OffsetDateTime,
    /// How it is delivered.
    pub delivery: Delivery,
    /// Delivery was about to happen (set before the call).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub delivering: Option<Intent>,
    /// When it was delivered.
    #[serde(
        default,
        with = "time::serde::rfc3339::option",
        skip_serializing_if = "Option::is_none"
    )]
    pub delivered_at: Option<OffsetDateTime>,
    /// A delivery was interrupted (a crash, a lost answer) and may not have reached the
    /// admin; a mail is not sent twice, so the status says so instead.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub delivery_uncertain: bool,
    /// What the admin's browser brought back, latest first.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub callback: Option<CallbackRecord>,
    /// When a successful callback consumed the state.
    #[serde(
        default,
        with = "time::serde::rfc3339::option",
        skip_serializing_if = "Option::is_none"
    )]
    pub state_used_at: Option<OffsetDateTime>,
}

/// Re-checks of a waiting step: only the latest scheduled message may go on.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Rechecks {
    /// Attempt number of the newest message sent for the current step.
    pub latest: u32,
    /// When the last check ran.
    #[serde(
        default,
        with = "time::serde::rfc3339::option",
        skip_serializing_if = "Option::is_none"
    )]
    pub last_checked_at: Option<OffsetDateTime>,
    /// What the last check was waiting for, for a person.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub waiting_for: Option<String>,
    /// When the current step is due to run next (its message's delivery time). Past this by
    /// more than the reconciler's grace, the step's message chain is taken as lost.
    #[serde(
        default,
        with = "time::serde::rfc3339::option",
        skip_serializing_if = "Option::is_none"
    )]
    pub next_run_at: Option<OffsetDateTime>,
}

/// The last transient failure of the current step, so the status says why it is waiting and
/// a deadline failure can name it. Never holds a secret: Azure's own error text, bounded.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct LastError {
    /// When it happened.
    #[serde(with = "time::serde::rfc3339")]
    pub at: OffsetDateTime,
    /// The step that failed.
    pub step: super::Step,
    /// What went wrong, for a person.
    pub message: String,
    /// How many times in a row the step failed this way.
    pub retries: u32,
}

impl LastError {
    /// The longest message kept: Azure's errors are a few hundred characters; anything longer
    /// is cut so a status document stays small.
    pub const MAX_MESSAGE_CHARS: usize = 600;

    /// A bounded record of `message`.
    pub fn new(at: OffsetDateTime, step: super::Step, message: &str, retries: u32) -> Self {
        let mut chars = message.chars();
        let mut kept: String = chars.by_ref().take(Self::MAX_MESSAGE_CHARS).collect();
        if chars.next().is_some() {
            kept.push('…');
        }
        Self {
            at,
            step,
            message: kept,
            retries,
        }
    }
}

/// The consumer-side checks.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct AccessRecord {
    /// When a token in the consumer tenant first worked (consent done).
    #[serde(
        default,
        with = "time::serde::rfc3339::option",
        skip_serializing_if = "Option::is_none"
    )]
    pub consent_confirmed_at: Option<OffsetDateTime>,
    /// When the resource group permissions were first sufficient.
    #[serde(
        default,
        with = "time::serde::rfc3339::option",
        skip_serializing_if = "Option::is_none"
    )]
    pub role_confirmed_at: Option<OffsetDateTime>,
    /// Actions still missing at the last check.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub missing_actions: Vec<String>,
    /// Role assignments the consumer's admin made for this request in one visit.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub granted_by_admin: Vec<AdminGrant>,
}

/// The VM and its network.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct VmRecord {
    /// The subnet the NIC joins.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub subnet_id: Option<String>,
    /// The NIC.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub nic_id: Option<String>,
    /// The VM's resource id (set when its creation was accepted).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub vm_id: Option<String>,
    /// The creation's `Azure-AsyncOperation` URL while it runs.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub operation_url: Option<String>,
    /// What the first run found before building anything, so that the re-checks while the
    /// network is built do not read the image and the VM name again.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub checked: Option<VmChecks>,
    /// A network resource whose creation is still running, followed by re-checks (an
    /// invocation does not wait for it).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub network_operation: Option<NetworkOperation>,
    /// Network resources found ours and provisioned: not read again.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub network_ready: Vec<String>,
}

/// The facts CreateVm checked before building, as the VM body needs them.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct VmChecks {
    /// The image is specialized (no OS profile in the VM body).
    pub specialized: bool,
    /// The image definition asks for Trusted Launch.
    pub trusted_launch: bool,
    /// A VM of the request's name was ours already (else the name was free).
    pub vm_was_ours: bool,
}

/// A network resource's creation while it runs.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct NetworkOperation {
    /// The resource.
    pub id: String,
    /// Its `Azure-AsyncOperation` (or `Location`) URL.
    pub url: String,
}

/// Everything the steps recorded.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Progress {
    /// IssueCredentials' result.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub app: Option<AppRecord>,
    /// An addPassword about to happen.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub password_intent: Option<Intent>,
    /// SendConsentLink's link, and the callback.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub consent: Option<ConsentRecord>,
    /// ConfirmConsent's findings.
    #[serde(default)]
    pub access: AccessRecord,
    /// CreateVm's resources.
    #[serde(default)]
    pub vm: VmRecord,
    /// Re-check bookkeeping of the current step.
    #[serde(default)]
    pub rechecks: Rechecks,
    /// When the consumer's tenant and subscription were found to exist and belong together
    /// (checked before anything is created).
    #[serde(
        default,
        with = "time::serde::rfc3339::option",
        skip_serializing_if = "Option::is_none"
    )]
    pub consumer_checked_at: Option<OffsetDateTime>,
    /// The current step's last transient failure.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_error: Option<LastError>,
    /// The revocation, once one was asked for.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub revocation: Option<super::RevocationRecord>,
    /// The owner-side credential released when the request ended.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub access_release: Option<super::AccessRelease>,
    /// When the request's end queued ReleaseAccess: until `access_release` is recorded, the
    /// release is pending and the reconciler sees the request (records written before this
    /// field never queue it again).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub release_queued_at: Option<time::OffsetDateTime>,
    /// What the `lighthouse` steps found or made.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub delegation: Option<super::DelegationRecord>,
    /// What the `direct-share` steps found or made.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub direct_share: Option<super::DirectShareRecord>,
    /// What the `rbac-guest` steps found or made.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub guest: Option<super::GuestRecord>,
}
