//! The status document: what a person (or automation) sees of a request. Never a secret.

use serde::Serialize;
use time::OffsetDateTime;
use url::Url;

use crate::{
    context::AppContext,
    domain::{
        FieldIssue, HistoryEntry, Origin, RejectedRequest, RequestId, ShareRequest, State,
        StepTimes, Strategy,
    },
};

/// Something a person has to do for the request to go on.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct NextAction {
    /// Who: `consumer-admin` or `operator`.
    pub actor: &'static str,
    /// What, in a sentence.
    pub description: String,
    /// Where to do it, when there is a link.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub url: Option<String>,
    /// The same as an Azure CLI command, when there is one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub command: Option<String>,
}

/// `GET /api/share-requests/{id}`.
#[derive(Clone, Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct StatusDocument {
    /// The request id.
    pub id: RequestId,
    /// Where it stands.
    pub state: State,
    /// What is happening now, in a sentence.
    pub summary: String,
    /// What a person must do next, if anything.
    pub next_action: Option<NextAction>,
    /// What the last re-check was waiting for, while a step waits (consent, a role grant, the VM).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub waiting_for: Option<String>,
    /// The current step's last transient failure, while it is retried.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub last_error: Option<LastErrorView>,
    /// When the current step must be done by (the consent deadline while the consumer's admin
    /// is waited for).
    #[serde(
        with = "time::serde::rfc3339::option",
        skip_serializing_if = "Option::is_none"
    )]
    pub deadline: Option<OffsetDateTime>,
    /// Why it failed or expired.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub failure: Option<String>,
    /// How the image is shared.
    pub strategy: Strategy,
    /// The consumer.
    pub consumer: ConsumerView,
    /// The image.
    pub image: ImageView,
    /// The share app in the owner's tenant, once it exists.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub app: Option<AppView>,
    /// The admin-consent link, while the consumer's admin has not used it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub consent: Option<ConsentView>,
    /// The VM imageshare creates (`app-consent`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub vm: Option<VmView>,
    /// The Lighthouse delegation (`lighthouse`): to whom, until when, and its resources.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub delegation: Option<DelegationView>,
    /// The direct share (`direct-share`): the gallery, the consumer's image id, until when.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub direct_share: Option<DirectShareView>,
    /// The guest (`rbac-guest`): who, the Reader grant, until when.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub guest: Option<GuestView>,
    /// The revocation, once asked for: what it removed, what it kept, and what only the
    /// consumer's admin can remove.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub revocation: Option<RevocationView>,
    /// The owner-side credential released when the request ended.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub access_release: Option<crate::domain::AccessRelease>,
    /// When it was created.
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: OffsetDateTime,
    /// When it last changed.
    #[serde(with = "time::serde::rfc3339")]
    pub updated_at: OffsetDateTime,
    /// Per-step timestamps.
    pub steps: StepTimes,
    /// Everything that happened, oldest first (omitted in events: the events are the history).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub history: Option<Vec<HistoryEntry>>,
    /// Related URLs.
    pub links: Links,
}

/// A step's last transient failure.
#[derive(Clone, Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct LastErrorView {
    /// The step that failed.
    pub step: crate::domain::Step,
    /// When.
    #[serde(with = "time::serde::rfc3339")]
    pub at: OffsetDateTime,
    /// What went wrong.
    pub message: String,
    /// Failures in a row.
    pub retries: u32,
}

/// The consumer part of the status document.
#[derive(Clone, Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ConsumerView {
    tenant_id: String,
    subscription_id: String,
    resource_group: String,
    admin_email: String,
}

/// The image part of the status document.
#[derive(Clone, Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ImageView {
    name: String,
    id: String,
}

/// Microsoft's shared-image troubleshooting guidance, for the warning a revocation carries.
pub const REIMAGE_WARNING: &str = "VMs created from a shared gallery image keep needing read access to the image: reimaging them and scaling out a scale set fail once that access is removed (Microsoft, 'Troubleshoot shared images in Azure', https://learn.microsoft.com/troubleshoot/azure/virtual-machines/windows/troubleshoot-shared-images). Recreate such VMs from an image in the consumer's own subscription first if they must keep working.";

/// Something only the consumer's admin can remove, with how.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ConsumerAction {
    /// What, in a sentence.
    pub what: String,
    /// Where in the portal.
    pub portal: String,
    /// The Azure CLI command.
    pub command: String,
}

/// The roles the admin granted through imageshare's one visit, for the removal notice: the
/// app itself may never remove role assignments (its roles exclude
/// `Microsoft.Authorization/*/Delete`), so the admin is told.
fn granted_in_one_visit(request: &ShareRequest) -> String {
    let grants = &request.progress.access.granted_by_admin;
    if grants.is_empty() {
        return String::new();
    }
    let roles: Vec<&str> = grants.iter().map(|g| g.role.as_str()).collect();
    format!(
        " ({}, granted with your sign-in on imageshare's approval page; the app may not remove role assignments itself)",
        roles.join(" and ")
    )
}

/// What only the consumer's admin can remove once the request's app was consented in their
/// tenant: its enterprise application (service principal) there, and its role grant.
pub fn consumer_actions(request: &ShareRequest) -> Vec<ConsumerAction> {
    let consented = request.progress.access.consent_confirmed_at.is_some()
        || request
            .progress
            .consent
            .as_ref()
            .and_then(|c| c.callback.as_ref())
            .is_some_and(|c| c.consented);
    let Some(app) = request.progress.app.as_ref().filter(|_| consented) else {
        return Vec::new();
    };
    let tenant = request.consumer.tenant_id;
    let scope = format!(
        "/subscriptions/{}/resourceGroups/{}",
        request.consumer.subscription_id, request.consumer.resource_group
    );
    vec![
        ConsumerAction {
            what: format!(
                "The enterprise application (service principal) of app {} in your tenant, made by your consent.",
                app.app_id
            ),
            portal: format!(
                "Microsoft Entra admin center (https://entra.microsoft.com/#@{tenant}) > Enterprise applications > All applications > search {} > Properties > Delete",
                app.app_id
            ),
            command: format!("az ad sp delete --id {}", app.app_id),
        },
        ConsumerAction {
            what: format!(
                "The app's role assignment on resource group {}{}.",
                request.consumer.resource_group,
                granted_in_one_visit(request)
            ),
            portal: format!(
                "https://portal.azure.com/#@{tenant}/resource{scope}/users > Role assignments > the app {} > Remove",
                app.app_id
            ),
            command: format!(
                "az role assignment delete --assignee {} --scope {scope}",
                app.app_id
            ),
        },
    ]
}

/// A revocation as the status document shows it.
#[derive(Clone, Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct RevocationView {
    /// The record (when, who, what was removed and kept).
    #[serde(flatten)]
    pub record: RevocationFacts,
    /// What only the consumer's admin can remove.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub consumer_actions: Vec<ConsumerAction>,
    /// The reimage warning.
    pub warning: &'static str,
}

/// The parts of the revocation record a reader needs (not the notice's bookkeeping).
#[derive(Clone, Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct RevocationFacts {
    /// When it was asked for.
    #[serde(with = "time::serde::rfc3339")]
    pub requested_at: OffsetDateTime,
    /// Who asked.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub requested_by: Option<crate::domain::Caller>,
    /// Whether the consumer-side VM and network were to be deleted.
    pub delete_resources: bool,
    /// The state the request was in.
    pub from_state: State,
    /// What was removed.
    pub removed: Vec<crate::domain::Removal>,
    /// What was kept, and why.
    pub kept: Vec<crate::domain::Kept>,
}

impl RevocationView {
    fn of(request: &ShareRequest) -> Option<Self> {
        let r = request.progress.revocation.as_ref()?;
        Some(Self {
            record: RevocationFacts {
                requested_at: r.requested_at,
                requested_by: r.requested_by.clone(),
                delete_resources: r.delete_resources,
                from_state: r.from_state,
                removed: r.removed.clone(),
                kept: r.kept.clone(),
            },
            consumer_actions: consumer_actions(request),
            warning: REIMAGE_WARNING,
        })
    }
}

/// The share app (ids only).
#[derive(Clone, Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct AppView {
    /// Client id: what the consumer's admin sees on the consent page.
    app_id: String,
    /// `federated` or `secret`.
    credential: &'static str,
}

/// The consent link while it is waiting to be used.
#[derive(Clone, Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ConsentView {
    /// The admin-consent URL: only where the deployment delivers it here
    /// (`IMAGESHARE_NOTIFY=status`), and never in an event.
    #[serde(skip_serializing_if = "Option::is_none")]
    url: Option<String>,
    /// When it stops working.
    #[serde(with = "time::serde::rfc3339")]
    expires_at: OffsetDateTime,
    /// `mail`, `webhook` or `status`.
    delivery: crate::domain::Delivery,
    /// When it was delivered.
    #[serde(
        with = "time::serde::rfc3339::option",
        skip_serializing_if = "Option::is_none"
    )]
    delivered_at: Option<OffsetDateTime>,
    /// A delivery was interrupted and may or may not have reached the admin (a mail is never
    /// sent twice): give them the link from here if they did not get it.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    delivery_uncertain: bool,
}

/// The VM part of the status document.
#[derive(Clone, Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct VmView {
    name: String,
    size: String,
    location: String,
    admin_username: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    subnet_id: Option<String>,
    /// The VM's resource id, once its creation was accepted.
    #[serde(skip_serializing_if = "Option::is_none")]
    id: Option<String>,
}

/// The delegation part of the status document (`lighthouse`).
#[derive(Clone, Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct DelegationView {
    principals: Vec<crate::domain::ConsumerPrincipal>,
    lifetime_days: u32,
    /// The delegated resource group (the gallery's).
    scope: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    deployment_id: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    registration_definition_id: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    registration_assignment_id: Option<String>,
    /// When the delegation is removed.
    #[serde(
        with = "time::serde::rfc3339::option",
        skip_serializing_if = "Option::is_none"
    )]
    expires_at: Option<OffsetDateTime>,
    /// What was removed when it ended.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    removed: Vec<crate::domain::Removal>,
}

impl DelegationView {
    fn of(request: &ShareRequest) -> Option<Self> {
        let plan = request.delegation.as_ref()?;
        let record = request.progress.delegation.clone().unwrap_or_default();
        let known = |s: String| (!s.is_empty()).then_some(s);
        Some(Self {
            principals: plan.principals.clone(),
            lifetime_days: plan.lifetime_days,
            scope: request.image.as_resource_id().resource_group_id(),
            deployment_id: known(record.deployment_id),
            registration_definition_id: known(record.definition_id),
            registration_assignment_id: known(record.assignment_id),
            expires_at: record.expires_at,
            removed: record.removed,
        })
    }
}

/// The direct-share part of the status document (`direct-share`).
#[derive(Clone, Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct DirectShareView {
    lifetime_days: u32,
    /// The shared gallery.
    gallery_id: String,
    /// The id the consumer creates VMs from (`imageReference.sharedGalleryImageId`), once the
    /// gallery's unique name is known.
    #[serde(skip_serializing_if = "Option::is_none")]
    shared_gallery_image_id: Option<String>,
    /// When the tenant was confirmed in the sharing profile.
    #[serde(
        with = "time::serde::rfc3339::option",
        skip_serializing_if = "Option::is_none"
    )]
    shared_at: Option<OffsetDateTime>,
    /// When the tenant is removed again.
    #[serde(
        with = "time::serde::rfc3339::option",
        skip_serializing_if = "Option::is_none"
    )]
    expires_at: Option<OffsetDateTime>,
    /// What was removed when it ended.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    removed: Vec<crate::domain::Removal>,
}

impl DirectShareView {
    fn of(request: &ShareRequest) -> Option<Self> {
        let plan = request.direct_share.as_ref()?;
        let record = request.progress.direct_share.clone().unwrap_or_default();
        Some(Self {
            lifetime_days: plan.lifetime_days,
            gallery_id: request.image.gallery_id().to_string(),
            shared_gallery_image_id: (!record.unique_name.is_empty())
                .then(|| record.shared_image_id(request.image.image(), request.image.version())),
            shared_at: record.shared_at,
            expires_at: record.expires_at,
            removed: record.removed,
        })
    }
}

/// The guest part of the status document (`rbac-guest`).
#[derive(Clone, Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct GuestView {
    /// The invited address.
    email: String,
    lifetime_days: u32,
    /// The guest's object id in the owner's tenant, once invited.
    #[serde(skip_serializing_if = "Option::is_none")]
    user_id: Option<String>,
    /// Whether this request's invitation created the guest (only such a guest is deleted).
    created: bool,
    /// The Reader role assignment on the image definition, once granted.
    #[serde(skip_serializing_if = "Option::is_none")]
    role_assignment_id: Option<String>,
    /// When the access ends.
    #[serde(
        with = "time::serde::rfc3339::option",
        skip_serializing_if = "Option::is_none"
    )]
    expires_at: Option<OffsetDateTime>,
    /// What was removed when it ended.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    removed: Vec<crate::domain::Removal>,
}

impl GuestView {
    fn of(request: &ShareRequest) -> Option<Self> {
        let plan = request.guest.as_ref()?;
        let record = request.progress.guest.clone().unwrap_or_default();
        let known = |s: String| (!s.is_empty()).then_some(s);
        Some(Self {
            email: plan.email.as_str().to_owned(),
            lifetime_days: plan.lifetime_days,
            user_id: known(record.user_id),
            created: record.created,
            role_assignment_id: known(record.role_assignment_id),
            expires_at: record.expires_at,
            removed: record.removed,
        })
    }
}

/// Related URLs.
#[derive(Clone, Debug, Serialize)]
pub struct Links {
    /// This document.
    #[serde(rename = "self")]
    pub self_: String,
}

fn summary(request: &ShareRequest) -> &'static str {
    if request.strategy == Strategy::Lighthouse {
        return match request.state() {
            State::Submitted => {
                "Accepted; checking the gallery's resource group before delegating it."
            }
            State::Delegating => {
                "Delegating the gallery's resource group to the consumer's tenant (Azure Lighthouse)."
            }
            State::Delegated => {
                "Delegated: the consumer's principals can create VMs from the image until 'delegation.expiresAt'; see 'nextAction'."
            }
            State::Completed => {
                "Done: the delegation ended and is removed; see 'delegation.removed'."
            }
            State::Revoked => "Revoked: the delegation is removed; see 'delegation.removed'.",
            state => summary_of(state),
        };
    }
    if request.strategy == Strategy::RbacGuest {
        return match request.state() {
            State::Submitted => {
                "Accepted; inviting the consumer's user as a guest of the image owner's tenant."
            }
            State::Granting => {
                "Invited; granting the guest Reader on the image definition (Entra's replication can take minutes)."
            }
            State::Granted => {
                "Granted: the guest can create VMs from the image, signed in to both tenants, until 'guest.expiresAt'; see 'nextAction'."
            }
            State::Completed => "Done: the guest's Reader grant is removed; see 'guest.removed'.",
            State::Revoked => "Revoked: the guest's access is removed; see 'guest.removed'.",
            state => summary_of(state),
        };
    }
    if request.strategy == Strategy::DirectShare {
        let with_vm = request.vm.is_some();
        return match request.state() {
            State::Submitted if with_vm => {
                "Accepted; checking the gallery, then creating the app the consumer's admin approves and consents to."
            }
            State::Shared if with_vm => {
                "Shared: the VM is running; the tenant keeps the share until 'directShare.expiresAt' for its reimage, scale-out and more VMs of its own; see 'nextAction'."
            }
            State::Submitted => "Accepted; checking the gallery before sharing it with the tenant.",
            State::Sharing => {
                "Sharing the gallery directly with the consumer's tenant (its sharing profile)."
            }
            State::CreatingVm => {
                "Shared with the tenant; creating the VM from the shared image (sharedGalleryImageId)."
            }
            State::Shared => {
                "Shared: the consumer's users can create VMs from 'directShare.sharedGalleryImageId' until 'directShare.expiresAt'; see 'nextAction'."
            }
            State::Completed => {
                "Done: the share ended and the tenant is removed from the gallery's sharing profile."
            }
            State::Revoked => {
                "Revoked: the tenant is removed from the gallery's sharing profile; see 'directShare.removed'."
            }
            state => summary_of(state),
        };
    }
    summary_of(request.state())
}

fn summary_of(state: State) -> &'static str {
    match state {
        State::Submitted => "Accepted; creating the app credentials in the image owner's tenant.",
        State::CredentialsIssued => {
            "App credentials ready; sending the consent link to the consumer's admin."
        }
        State::AwaitingConsent => "Waiting for the consumer's admin to consent to the app.",
        State::AwaitingRoleGrant => {
            "Consent given; waiting for the role grant on the consumer's resource group."
        }
        State::CreatingVm => {
            "Access confirmed; creating the network and the VM in the consumer's tenant."
        }
        State::Completed => "Done: the VM exists in the consumer's tenant.",
        State::Failed => "Stopped: see 'failure' for the reason.",
        State::Expired => "Stopped: the consumer's admin did not act before the deadline.",
        State::Rejected => "Refused: the request could not be processed.",
        State::Declined => {
            "Stopped: the consumer's admin declined this request; nothing was created."
        }
        State::Revoking => "Revoking: removing what this request created; see 'revocation'.",
        State::Revoked => {
            "Revoked: what this request created is removed; see 'revocation' for what only the consumer's admin can remove."
        }
        State::Delegating => "Delegating the image's resource group (Azure Lighthouse).",
        State::Delegated => "Delegated: the consumer's principals can use the image.",
        State::Sharing => "Sharing the image's gallery with the consumer's tenant.",
        State::Shared => "Shared: the consumer's tenant can create VMs from the image.",
        State::Granting => "Inviting the consumer's user as a guest and granting it Reader.",
        State::Granted => "Granted: the invited guest can create VMs from the image.",
    }
}

/// The az command and portal link that grant the app Contributor on the target group.
pub fn role_grant(request: &ShareRequest) -> Option<(String, String)> {
    let app = request.progress.app.as_ref()?;
    let scope = format!(
        "/subscriptions/{}/resourceGroups/{}",
        request.consumer.subscription_id, request.consumer.resource_group
    );
    let command = format!(
        "az role assignment create --assignee {} --role Contributor --scope {scope}",
        app.app_id
    );
    let portal = format!(
        "https://portal.azure.com/#@{}/resource{scope}/users",
        request.consumer.tenant_id
    );
    Some((command, portal))
}

fn next_action(ctx: &AppContext, request: &ShareRequest, with_link: bool) -> Option<NextAction> {
    match request.state() {
        State::AwaitingConsent => {
            let consent = request.progress.consent.as_ref()?;
            let url = consent
                .status_link
                .as_deref()
                .filter(|_| with_link)
                .and_then(|l| Url::parse(l).ok())
                .map(|u| ctx.browser_link(&u));
            Some(NextAction {
                actor: "consumer-admin",
                description: format!(
                    "An administrator of tenant {} opens the approval link and approves (on Microsoft's consent page too when the tenant has not consented to the app yet); then grants the app Contributor on resource group {}.",
                    request.consumer.tenant_id, request.consumer.resource_group
                ),
                url,
                command: None,
            })
        }
        State::AwaitingRoleGrant => {
            let (command, portal) = role_grant(request)?;
            let missing = &request.progress.access.missing_actions;
            let detail = if missing.is_empty() {
                String::new()
            } else {
                format!(" Missing: {}.", missing.join(", "))
            };
            Some(NextAction {
                actor: "consumer-admin",
                description: format!(
                    "Grant the app Contributor on resource group {} in subscription {} (role changes can take up to 10 minutes to apply).{detail}",
                    request.consumer.resource_group, request.consumer.subscription_id
                ),
                url: Some(portal),
                command: Some(command),
            })
        }
        State::Delegated => crate::steps::lighthouse::next_action(ctx, request),
        State::Shared => crate::steps::direct_share::next_action(ctx, request),
        State::Granted => crate::steps::rbac_guest::next_action(ctx, request),
        _ => None,
    }
}

impl StatusDocument {
    /// The document of `request` with its history, as `GET` serves it.
    pub fn build(ctx: &AppContext, request: &ShareRequest, history: Vec<HistoryEntry>) -> Self {
        let mut document = Self::without_history(ctx, request, true);
        document.history = Some(history);
        document
    }

    /// The document without history and without the consent link, as events carry it: an
    /// event goes to every subscriber of the topic, none of whom may use the admin's state.
    pub fn for_event(ctx: &AppContext, request: &ShareRequest) -> Self {
        Self::without_history(ctx, request, false)
    }

    fn without_history(ctx: &AppContext, request: &ShareRequest, with_link: bool) -> Self {
        let self_url = ctx
            .settings
            .public_base_url
            .join(&format!("/api/share-requests/{}", request.id))
            .map_or_else(
                |_| format!("/api/share-requests/{}", request.id),
                |u| u.to_string(),
            );
        let consent = request
            .progress
            .consent
            .as_ref()
            .filter(|c| request.state() == State::AwaitingConsent && c.state_used_at.is_none());
        Self {
            id: request.id,
            state: request.state(),
            summary: summary(request).to_owned(),
            next_action: next_action(ctx, request, with_link),
            waiting_for: request
                .progress
                .rechecks
                .waiting_for
                .clone()
                .filter(|_| !request.state().is_terminal()),
            last_error: request
                .progress
                .last_error
                .as_ref()
                .filter(|_| !request.state().is_terminal())
                .map(|e| LastErrorView {
                    step: e.step,
                    at: e.at,
                    message: e.message.clone(),
                    retries: e.retries,
                }),
            deadline: match request.state() {
                State::AwaitingConsent | State::AwaitingRoleGrant => {
                    request.progress.consent.as_ref().map(|c| c.expires_at)
                }
                _ => crate::steps::deadline::due(&ctx.settings.pipeline, request),
            },
            failure: request.failure.clone(),
            strategy: request.strategy,
            consumer: ConsumerView {
                tenant_id: request.consumer.tenant_id.to_string(),
                subscription_id: request.consumer.subscription_id.to_string(),
                resource_group: request.consumer.resource_group.to_string(),
                admin_email: request.consumer.admin_email.to_string(),
            },
            image: ImageView {
                name: request.image_name.clone(),
                id: request.image.to_string(),
            },
            app: request.progress.app.as_ref().map(|a| AppView {
                app_id: a.app_id.clone(),
                credential: match a.credential {
                    crate::domain::CredentialRecord::Federated { .. } => "federated",
                    crate::domain::CredentialRecord::Secret { .. } => "secret",
                },
            }),
            consent: consent.map(|c| ConsentView {
                url: c
                    .status_link
                    .as_deref()
                    .filter(|_| with_link)
                    .and_then(|l| Url::parse(l).ok())
                    .map(|u| ctx.browser_link(&u)),
                expires_at: c.expires_at,
                delivery: c.delivery,
                delivered_at: c.delivered_at,
                delivery_uncertain: c.delivery_uncertain,
            }),
            vm: request.vm.as_ref().map(|vm| VmView {
                name: vm.name.to_string(),
                size: vm.size.to_string(),
                location: vm.location.to_string(),
                admin_username: vm.admin_username.to_string(),
                subnet_id: vm.subnet_id.as_ref().map(ToString::to_string),
                id: request.progress.vm.vm_id.clone(),
            }),
            delegation: DelegationView::of(request),
            direct_share: DirectShareView::of(request),
            guest: GuestView::of(request),
            revocation: RevocationView::of(request),
            access_release: request.progress.access_release.clone(),
            created_at: request.created_at,
            updated_at: request.updated_at,
            steps: request.steps.clone(),
            history: None,
            links: Links { self_: self_url },
        }
    }
}

/// The status document of a rejected submission: why, field by field.
#[derive(Clone, Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct RejectedDocument {
    /// The id its idempotency key gives.
    pub id: RequestId,
    /// Always `Rejected`.
    pub state: State,
    /// What happened, in a sentence.
    pub summary: String,
    /// Why.
    pub failure: String,
    /// Each problem, with a JSON Pointer into the submitted document.
    pub errors: Vec<FieldIssue>,
    /// The message's idempotency key (its `Idempotency-Key` property or MessageId).
    pub idempotency_key: Option<String>,
    /// When it was received.
    #[serde(with = "time::serde::rfc3339")]
    pub received_at: OffsetDateTime,
    /// Its one history entry.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub history: Option<Vec<HistoryEntry>>,
    /// Related URLs.
    pub links: Links,
}

impl RejectedDocument {
    /// The document of `rejected`.
    pub fn build(
        ctx: &AppContext,
        rejected: &RejectedRequest,
        history: Option<Vec<HistoryEntry>>,
    ) -> Self {
        let self_url = ctx
            .settings
            .public_base_url
            .join(&format!("/api/share-requests/{}", rejected.id))
            .map_or_else(
                |_| format!("/api/share-requests/{}", rejected.id),
                |u| u.to_string(),
            );
        Self {
            id: rejected.id,
            state: State::Rejected,
            summary: summary_of(State::Rejected).to_owned(),
            failure: rejected.reason.clone(),
            errors: rejected.problems.clone(),
            idempotency_key: match &rejected.origin {
                Origin::Queue {
                    idempotency_key, ..
                } => Some(idempotency_key.clone()),
                Origin::Http { idempotency_key } => idempotency_key.clone(),
            },
            received_at: rejected.received_at,
            history,
            links: Links { self_: self_url },
        }
    }
}
