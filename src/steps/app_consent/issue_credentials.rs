//! IssueCredentials: in the owner's tenant, upsert the multi-tenant share app (one per
//! consumer tenant), its service principal, a credential, and Reader on the image definition
//! (not for a direct share, whose gallery is checked first instead).

use std::{collections::BTreeMap, time::Duration};

use serde_json::{Value, json};

use super::{
    Outcome, Run, StepError,
    access::holders,
    already_done, direct_share, lock, rechecks,
    record::{self, Write},
    schedule,
};
use crate::{
    azure::{
        AzureError,
        arm::{ArmIdentity, roles},
        discovery::SubscriptionHome,
        graph::{Application, FederatedCredential},
    },
    config::{CredentialMode, DeploymentId},
    domain::{
        AppRecord, CredentialRecord, Intent, Machine, ShareRequest, State, Step, StepMessage,
        TenantId,
    },
};

/// The name of the federated credential trusting the Function App's identity.
pub const FEDERATED_CREDENTIAL_NAME: &str = "imageshare-function-app";
/// Microsoft Graph's app id and its delegated `User.Read` scope: the portal adds it to new
/// apps, and it gives `/.default` admin consent something to grant.
const GRAPH_APP_ID: &str = "00000003-0000-0000-c000-000000000000";
const USER_READ: &str = "e1fe6dd8-ba31-4d61-89e7-88639da4683d";
/// Replication re-checks before giving up (about 15 minutes with the backoff below).
const MAX_REPLICATION_CHECKS: u32 = 20;

/// The app's `uniqueName`: one app per deployment and consumer tenant, so two deployments in
/// one owner tenant (staging, production) never overwrite each other's redirect URI and
/// federated credential. Without a deployment id, the name deployments made before it used.
pub fn app_unique_name(deployment: Option<&DeploymentId>, consumer: TenantId) -> String {
    match deployment {
        Some(id) => format!("imageshare-{}-{consumer}", id.as_str()),
        None => format!("imageshare-{consumer}"),
    }
}

/// The Key Vault secret holding a consumer tenant's app secret (named like the app, for the
/// same reason).
pub fn vault_secret_name(deployment: Option<&DeploymentId>, consumer: TenantId) -> String {
    app_unique_name(deployment, consumer)
}

/// `sha256:` + hex of the app's name and document: the same for every request of a tenant
/// while the deployment's settings (the callback URL) stay as they are.
fn fingerprint(unique_name: &str, body: &Value) -> String {
    use sha2::{Digest, Sha256};
    let digest = Sha256::digest(format!("{unique_name}\n{body}").as_bytes());
    let hex: String = digest.iter().map(|b| format!("{b:02x}")).collect();
    format!("sha256:{hex}")
}

fn app_body(request: &ShareRequest, callback: &str) -> Value {
    json!({
        "displayName": format!("imageshare for tenant {}", request.consumer.tenant_id),
        "description": "Lets imageshare create VMs from shared gallery images in this tenant.",
        "signInAudience": "AzureADMultipleOrgs",
        "web": {"redirectUris": [callback]},
        "requiredResourceAccess": [{
            "resourceAppId": GRAPH_APP_ID,
            "resourceAccess": [{"id": USER_READ, "type": "Scope"}]
        }],
        "tags": ["imageshare"],
    })
}

/// Failures that need the operator to change the deployment: retrying cannot help.
fn operator_must_fix(error: &AzureError, what: &str) -> Option<StepError> {
    (error.status() == Some(403)).then(|| {
        StepError::terminal(format!(
            "The Function App's identity is not allowed to {what}: {error}. Grant it the missing permission and submit the request again."
        ))
    })
}

/// Re-runs this step after a replication delay, or gives up after many tries.
async fn retry_later(run: &Run<'_>, why: &str) -> Result<Outcome, StepError> {
    let attempt = run.message.attempt + 1;
    if attempt > MAX_REPLICATION_CHECKS {
        return Err(StepError::terminal(format!(
            "{why}, and still not after {MAX_REPLICATION_CHECKS} checks"
        )));
    }
    let delay = schedule::backoff(
        attempt,
        Duration::from_secs(2),
        2.0,
        Duration::from_secs(120),
    );
    rechecks::again(run, delay, why.to_owned()).await
}

pub(super) async fn run(run: &Run<'_>) -> Result<Outcome, StepError> {
    let ctx = run.ctx;
    let Some(stored) = record::load(ctx, run.message.request_id).await? else {
        return Ok(Outcome::Stale("no such request".into()));
    };
    let request = stored.request;
    match request.state() {
        State::Submitted => {}
        s if s.pipeline_is_over() => return Ok(Outcome::Stale(format!("the request is {s}"))),
        _ => return already_done(run, &request, Some(Step::SendConsentLink)).await,
    }
    if let Some(stale) = rechecks::superseded(run, &request) {
        return Ok(stale);
    }
    let settings = &ctx.settings;
    let unique_name = app_unique_name(settings.deployment_id.as_ref(), request.consumer.tenant_id);
    // One change to the tenant's app at a time: a revocation or release of another request
    // of this tenant must not remove the app or credential between our upsert and our record.
    let subject = lock::Subject::share_app(&unique_name);
    // While another request holds it, waiting costs one read, not the tenant's list.
    lock::busy(ctx, &subject, request.id).await?;
    let federated = settings.credential == CredentialMode::Federated;
    let unchecked = request.progress.consumer_checked_at.is_none();
    // The tenant's other requests, read once and outside the lock: they answer whether the
    // consumer was checked lately and what may be reused. The list grows with the tenant's
    // requests, so reading it under the lock would make a wave of them queue behind it.
    let others = if federated || unchecked {
        tenant_requests(ctx, request.consumer.tenant_id).await?
    } else {
        Vec::new()
    };
    if unchecked {
        // A direct share's gallery is checked before anything is created or anyone mailed:
        // an admin must not approve a share the gallery cannot make.
        if request.machine() == Machine::DirectShareWithVm {
            direct_share::preflight(run, &request).await?;
        }
        if !checked_by_another(run, &request, &others).await? {
            check_consumer(run, &request).await?;
        }
    }

    let callback = settings.consent_callback_url().to_string();
    let body = app_body(&request, &callback);
    let fingerprint = fingerprint(&unique_name, &body);
    let seen = if federated {
        holders::reusable(&request, &unique_name, &fingerprint, &others)
    } else {
        None
    };
    let app = Planned {
        unique_name: &unique_name,
        body,
        fingerprint,
    };
    lock::with(ctx, &subject, request.id, issue(run, &request, app, seen)).await
}

/// The tenant's requests as stored now.
async fn tenant_requests(
    ctx: &crate::context::AppContext,
    tenant: TenantId,
) -> Result<Vec<ShareRequest>, StepError> {
    Ok(ctx
        .store
        .list_for_consumer(tenant)
        .await?
        .into_iter()
        .map(|s| s.request)
        .collect())
}

/// The app this request needs: its name, document and the document's fingerprint.
struct Planned<'a> {
    unique_name: &'a str,
    body: Value,
    fingerprint: String,
}

/// What may be reused, decided under the lock. What the list read before it showed is read
/// again from its witnesses only (a few point reads instead of the tenant's whole list): a
/// witness that still holds keeps the app from removal, since removals take this lock and
/// keep what a request holds. Only when none holds any more is the whole list read again.
async fn reusable_now(
    ctx: &crate::context::AppContext,
    request: &ShareRequest,
    app: &Planned<'_>,
    seen: Option<&holders::Reusable>,
) -> Result<Option<holders::Reusable>, StepError> {
    if let Some(seen) = seen {
        let mut witnesses = Vec::with_capacity(seen.witnesses.len());
        for id in &seen.witnesses {
            if let Some(stored) = record::load(ctx, *id).await? {
                witnesses.push(stored.request);
            }
        }
        // A subset of the holders can only show less (a credential or grant made sure of
        // again), never something no one holds.
        if let Some(held) =
            holders::reusable(request, app.unique_name, &app.fingerprint, &witnesses)
        {
            return Ok(Some(held));
        }
    }
    let others = tenant_requests(ctx, request.consumer.tenant_id).await?;
    Ok(holders::reusable(
        request,
        app.unique_name,
        &app.fingerprint,
        &others,
    ))
}

/// The upserts, under the tenant's lock.
async fn issue(
    run: &Run<'_>,
    request: &ShareRequest,
    planned: Planned<'_>,
    seen: Option<holders::Reusable>,
) -> Result<Outcome, StepError> {
    let ctx = run.ctx;
    let settings = &ctx.settings;
    let cloud = run.cloud()?;
    // Read again under the lock: a revocation that ran before we took it found nothing of
    // ours to remove, so nothing may be created now.
    match record::load(ctx, request.id)
        .await?
        .map(|s| s.request.state())
    {
        Some(State::Submitted) => {}
        Some(s) => return Ok(Outcome::Stale(format!("the request is {s}"))),
        None => return Ok(Outcome::Stale("no such request".into())),
    }
    // What another request of the tenant made and still holds is not made again.
    let reusable = match settings.credential {
        CredentialMode::Federated => reusable_now(ctx, request, &planned, seen.as_ref()).await?,
        CredentialMode::Secret => None,
    };
    let Planned {
        unique_name,
        body,
        fingerprint,
    } = planned;
    let unique_name = unique_name.to_owned();

    let (app_object_id, app_id, sp_id, application) = if let Some(known) = &reusable {
        (
            known.app.object_id.clone(),
            known.app.app_id.clone(),
            known.app.service_principal_id.clone(),
            None,
        )
    } else {
        let app = match cloud.graph.upsert_application(&unique_name, body).await {
            Ok(app) => app,
            Err(e) => {
                return Err(operator_must_fix(
                    &e,
                    "create or update applications in Microsoft Graph (Application.ReadWrite.OwnedBy)",
                )
                .unwrap_or_else(|| e.into()));
            }
        };
        let sp = match cloud.graph.upsert_service_principal(&app.app_id).await {
            Ok(sp) => sp,
            Err(e) if e.has_code("NoBackingApplicationObject") || e.status() == Some(404) => {
                return retry_later(run, "the new app has not replicated in Entra yet").await;
            }
            Err(e) => return Err(e.into()),
        };
        (app.id.clone(), app.app_id.clone(), sp.id, Some(app))
    };

    let credential = match settings.credential {
        CredentialMode::Federated => {
            if !reusable.as_ref().is_some_and(|k| k.credential) {
                let subject = cloud.operator_principal_id().await?;
                let fic = FederatedCredential {
                    name: FEDERATED_CREDENTIAL_NAME.to_owned(),
                    issuer: format!(
                        "https://login.microsoftonline.com/{}/v2.0",
                        settings.owner_tenant
                    ),
                    subject,
                    audiences: vec![settings.federated_audience.clone()],
                };
                cloud
                    .graph
                    .ensure_federated_credential(&app_object_id, &fic)
                    .await?;
            }
            CredentialRecord::Federated {
                name: FEDERATED_CREDENTIAL_NAME.to_owned(),
            }
        }
        CredentialMode::Secret => match &application {
            Some(app) => ensure_secret(run, request, app).await?,
            None => {
                return Err(StepError::Retryable(anyhow::anyhow!(
                    "a client secret needs the app read from Graph"
                )));
            }
        },
    };

    // A direct share needs no Reader grant: the share lets the consumer's tenant read the
    // image, and the VM is created from `sharedGalleryImageId` without the owner's token.
    let reader = match (request.machine(), reusable.and_then(|k| k.reader)) {
        (Machine::DirectShareWithVm, _) => None,
        (_, Some(held)) => Some(Granted::Yes(held)),
        _ => Some(grant_reader(run, request, &sp_id).await?),
    };
    let reader = match reader {
        None => None,
        Some(Granted::Yes(id)) => Some(id),
        Some(Granted::Later(outcome)) => return Ok(outcome),
    };

    let app_record = AppRecord {
        unique_name,
        object_id: app_object_id,
        app_id,
        service_principal_id: sp_id,
        credential,
        reader_assignment_id: reader,
        fingerprint: Some(fingerprint),
    };
    let event = run.event();
    let (request, done) = record::update(ctx, request.id, |r| {
        if r.state() == State::Revoking && r.progress.app.is_none() {
            // Revoked while we were creating: record what exists, so the revocation (which
            // waits for our lock) removes it.
            r.progress.app = Some(app_record.clone());
            return Ok(Write::Save(Vec::new(), false));
        }
        if r.state() != State::Submitted {
            return Ok(Write::Keep(false));
        }
        r.progress.app = Some(app_record.clone());
        r.progress.password_intent = None;
        r.steps.ran(Step::IssueCredentials);
        r.steps.completed(Step::IssueCredentials, event.at);
        r.steps.queued(Step::SendConsentLink, event.at);
        r.send_after_write(StepMessage::first(r.id, Step::SendConsentLink), None);
        let credential = match app_record.credential {
            CredentialRecord::Federated { .. } => "federated",
            CredentialRecord::Secret { .. } => "client secret",
        };
        let reader = match app_record.reader_assignment_id {
            Some(_) => format!(" and Reader on image definition '{}'", r.image.image()),
            None => String::new(),
        };
        let detail = format!(
            "App {} ('{}') with its service principal{} a {credential} credential{reader} are ready in the owner's tenant.",
            app_record.app_id,
            app_record.unique_name,
            if reader.is_empty() { " and" } else { "," },
        );
        let entry = r.transition(State::CredentialsIssued, "credentials-issued", detail, &event)?;
        Ok(Write::Save(vec![entry], true))
    })
    .await?;
    if request.state() == State::Revoking {
        return Ok(Outcome::Stale("the request is being revoked".into()));
    }
    if !done {
        return already_done(run, &request, Some(Step::SendConsentLink)).await;
    }
    Ok(Outcome::Done)
}

/// A Reader grant made, or the outcome of a re-check when the new service principal has not
/// reached Resource Manager yet.
enum Granted {
    Yes(String),
    Later(Outcome),
}

/// Reader for the app's service principal on the image definition.
async fn grant_reader(
    run: &Run<'_>,
    request: &ShareRequest,
    principal: &str,
) -> Result<Granted, StepError> {
    let scope = request.image.image_definition_id().to_string();
    match run
        .cloud()?
        .arm
        .assign_role(&ArmIdentity::Operator, &scope, roles::READER, principal)
        .await
    {
        Ok(id) => Ok(Granted::Yes(id)),
        Err(e) if e.has_code("PrincipalNotFound") => retry_later(
            run,
            "the app's service principal has not replicated to Resource Manager yet",
        )
        .await
        .map(Granted::Later),
        Err(e) => {
            Err(operator_must_fix(&e, &format!("assign roles on {scope}"))
                .unwrap_or_else(|| e.into()))
        }
    }
}

/// How long another request's check of the same tenant and subscription stands for this one.
const CHECK_REUSE: time::Duration = time::Duration::hours(1);

/// Whether another request of the tenant found, less than [`CHECK_REUSE`] ago, that the
/// tenant exists and the subscription is its own: then this one records that check as its
/// own instead of asking Entra and Resource Manager again.
async fn checked_by_another(
    run: &Run<'_>,
    request: &ShareRequest,
    others: &[ShareRequest],
) -> Result<bool, StepError> {
    let now = run.ctx.clock.now();
    let Some(at) = others
        .iter()
        .filter(|o| {
            o.id != request.id && o.consumer.subscription_id == request.consumer.subscription_id
        })
        .filter_map(|o| o.progress.consumer_checked_at)
        .filter(|at| *at <= now && now - *at < CHECK_REUSE)
        .max()
    else {
        return Ok(false);
    };
    record::update(run.ctx, request.id, |r| {
        r.progress.consumer_checked_at.get_or_insert(at);
        Ok(Write::Save(Vec::new(), ()))
    })
    .await?;
    Ok(true)
}

/// Before anything is created: the consumer's tenant must exist and the subscription must
/// belong to it. Both are answers, not outages: a request naming a tenant that does not exist
/// ends `Failed` at once with the reason, instead of waiting for a consent that cannot come.
async fn check_consumer(run: &Run<'_>, request: &ShareRequest) -> Result<(), StepError> {
    let cloud = run.cloud()?;
    let consumer = &request.consumer;
    let tenant = consumer.tenant_id;
    let subscription = consumer.subscription_id.to_string();
    if !crate::azure::discovery::tenant_exists(&cloud.http, tenant).await? {
        return Err(StepError::terminal(format!(
            "The consumer tenant {tenant} does not exist (Entra answers AADSTS90002 'Tenant not found'). Check the tenant id: it is the Directory (tenant) ID shown on the consumer's Microsoft Entra overview page."
        )));
    }
    let owner = run.ctx.settings.owner_tenant.to_string();
    let home = match cloud.arm.subscription_home(&subscription).await? {
        SubscriptionHome::NotFound => {
            return Err(StepError::terminal(format!(
                "The subscription {subscription} does not exist (Resource Manager answers SubscriptionNotFound). Check the consumer's subscription id."
            )));
        }
        SubscriptionHome::Tenant(home) => home,
        SubscriptionHome::CallersTenant => owner,
    };
    if !home.eq_ignore_ascii_case(&tenant.to_string()) {
        return Err(StepError::terminal(format!(
            "The subscription {subscription} belongs to tenant {home}, not to the consumer tenant {tenant}. Give the subscription of the consumer's own tenant, or the tenant that subscription belongs to."
        )));
    }
    let now = run.ctx.clock.now();
    record::update(run.ctx, request.id, |r| {
        r.progress.consumer_checked_at.get_or_insert(now);
        Ok(Write::Save(Vec::new(), ()))
    })
    .await?;
    Ok(())
}

/// A client secret for the app, kept in Key Vault: reuse a valid one, or create one.
///
/// `addPassword` has no natural key, so the intent is recorded on the request before the
/// call, and afterwards the app is reconciled: every imageshare secret but the one Key Vault
/// holds is removed, so concurrent or crashed runs leave exactly one live secret.
async fn ensure_secret(
    run: &Run<'_>,
    request: &ShareRequest,
    app: &Application,
) -> Result<CredentialRecord, StepError> {
    let ctx = run.ctx;
    let cloud = run.cloud()?;
    let vault = cloud
        .key_vault
        .as_ref()
        .ok_or_else(|| StepError::terminal("client secrets are configured but no Key Vault is"))?;
    let name = vault_secret_name(
        ctx.settings.deployment_id.as_ref(),
        request.consumer.tenant_id,
    );
    let now = ctx.clock.now();
    let live: Vec<&str> = app
        .password_credentials
        .iter()
        .map(|p| p.key_id.as_str())
        .collect();

    if let Some(existing) = vault.get(&name).await? {
        let key_id = existing.tags.get("keyId").cloned().unwrap_or_default();
        let fresh = existing
            .expires
            .is_some_and(|e| e > now + time::Duration::days(1));
        if fresh && live.contains(&key_id.as_str()) {
            return Ok(CredentialRecord::Secret {
                key_id,
                vault_secret: name,
                expires_at: existing.expires.unwrap_or(now),
            });
        }
    }

    let label = format!("imageshare-{}", request.id);
    record::update(ctx, request.id, |r| {
        r.progress.password_intent = Some(Intent {
            at: now,
            label: label.clone(),
        });
        Ok(Write::Save(Vec::new(), ()))
    })
    .await?;

    let lifetime =
        time::Duration::try_from(ctx.settings.secret_lifetime).unwrap_or(time::Duration::days(30));
    let created = cloud
        .graph
        .add_password(&app.id, &label, now + lifetime)
        .await?;
    let tags = BTreeMap::from([
        ("keyId".to_owned(), created.key_id.clone()),
        ("appId".to_owned(), app.app_id.clone()),
    ]);
    vault
        .set(&name, &created.secret, created.end, &tags)
        .await?;
    cloud.tokens.forget_app(&app.app_id);

    // Reconcile: the secret Key Vault holds now wins; every other imageshare secret goes.
    let winner = vault.get(&name).await?.ok_or_else(|| {
        StepError::Retryable(anyhow::anyhow!("the secret just set is not in Key Vault"))
    })?;
    let keep = winner.tags.get("keyId").cloned().unwrap_or_default();
    let current = cloud.graph.application_by_id(&app.id).await?;
    for stale in current.password_credentials.iter().filter(|p| {
        p.key_id != keep
            && p.display_name
                .as_deref()
                .is_some_and(|d| d.starts_with("imageshare-"))
    }) {
        cloud.graph.remove_password(&app.id, &stale.key_id).await?;
    }
    Ok(CredentialRecord::Secret {
        key_id: keep,
        vault_secret: name,
        expires_at: winner.expires.unwrap_or(created.end),
    })
}
