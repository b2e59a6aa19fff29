//! ShareGallery: add the consumer's tenant to the gallery's sharing profile (`POST
//! {gallery}/share`, `operationType: Add`, an `AADTenants` group of that tenant only), follow
//! the operation, confirm the tenant is in the profile, then tell the consumer's admin.
//!
//! `Submitted`: under the (gallery, tenant) lock, the preflight runs and the Add is posted
//! unless the tenant is already there (an Add of a tenant already shared with changes
//! nothing, so two requests of one tenant make one entry). `Sharing`: each re-check reads the
//! gallery; the tenant in its profile decides.

use serde_json::Value;

use super::{
    KIND, Outcome, POLL, Run, StepError, already_done,
    gallery::{self, GALLERY_API},
    lifetime, lock, notice, preflight, rechecks, record,
};
use crate::{
    azure::arm::{ArmIdentity, Operation},
    domain::{DirectShareRecord, ShareRequest, State, Step},
};

pub(super) async fn run(run: &Run<'_>) -> Result<Outcome, StepError> {
    let ctx = run.ctx;
    let Some(stored) = record::load(ctx, run.message.request_id).await? else {
        return Ok(Outcome::Stale("no such request".into()));
    };
    let request = stored.request;
    match request.state() {
        State::Submitted | State::Sharing => {}
        State::Shared => return notify_once(run, &request).await,
        s => return Ok(Outcome::Stale(format!("the request is {s}"))),
    }
    if let Some(stale) = rechecks::superseded(run, &request) {
        return Ok(stale);
    }
    if request.state() == State::Submitted {
        start(run, &request).await?;
    }
    follow(run, request.id).await
}

/// Preflight and the Add, under the lock; then `Sharing`.
async fn start(run: &Run<'_>, request: &ShareRequest) -> Result<(), StepError> {
    let ctx = run.ctx;
    let id = gallery::gallery_id(request);
    let tenant = request.consumer.tenant_id.to_string();
    let add = async {
        let found = preflight::check(run, request).await?;
        let unique_name = gallery::unique_name(&found).unwrap_or_default().to_owned();
        let location = found["location"].as_str().unwrap_or_default().to_owned();
        let operation = if gallery::shares_with_tenant(&found, &tenant) {
            None
        } else {
            let started = run
                .cloud()?
                .arm
                .post_action(
                    &ArmIdentity::Operator,
                    &format!("{id}/share"),
                    GALLERY_API,
                    gallery::share_body("Add", &tenant),
                )
                .await
                .map_err(|e| refused(request, e))?;
            started.poll_url().map(ToString::to_string)
        };
        let begin = lifetime::Begin {
            to: State::Sharing,
            event: "sharing",
            step: Step::ShareGallery,
        };
        let detail = format!(
            "Sharing the gallery {id} with tenant {tenant} (an AADTenants group of the gallery's sharing profile)."
        );
        let first = DirectShareRecord {
            unique_name,
            location,
            operation,
            ..DirectShareRecord::default()
        };
        lifetime::begin(run, request.id, &KIND, &begin, &detail, first).await
    };
    let subject = lock::Subject::gallery_share(&id, &tenant);
    lock::with(ctx, &subject, request.id, add).await
}

/// The share call's refusals that no retry changes, with what to do; others as they are.
fn refused(request: &ShareRequest, error: crate::azure::AzureError) -> StepError {
    if error.has_code("SubscriptionNotRegisteredForFeature") {
        return preflight::not_registered(request, "not registered (the share call says so)");
    }
    if error.status() == Some(400) && error.has_code("OperationNotAllowed") {
        return StepError::terminal(format!(
            "Azure refused to share the gallery with tenant {}: {error}",
            request.consumer.tenant_id
        ));
    }
    error.into()
}

/// Reads the gallery: the tenant in its sharing profile → `Shared`; the operation failed →
/// the request fails with ARM's reason; otherwise look again.
async fn follow(run: &Run<'_>, id: crate::domain::RequestId) -> Result<Outcome, StepError> {
    let Some(stored) = record::load(run.ctx, id).await? else {
        return Ok(Outcome::Stale("no such request".into()));
    };
    let request = stored.request;
    if request.state() != State::Sharing {
        return already_done(run, &request, None).await;
    }
    let arm = &run.cloud()?.arm;
    let gallery_id = gallery::gallery_id(&request);
    let tenant = request.consumer.tenant_id.to_string();
    let found: Value = gallery::read(run, &gallery_id)
        .await?
        .ok_or_else(|| StepError::terminal(format!("The gallery {gallery_id} is gone.")))?;
    if !gallery::shares_with_tenant(&found, &tenant) {
        let record = request.progress.direct_share.clone().unwrap_or_default();
        if let Some(url) = record
            .operation
            .as_deref()
            .and_then(|u| url::Url::parse(u).ok())
        {
            match arm.poll(&ArmIdentity::Operator, &url).await? {
                Operation::Failed { code, message } => {
                    return Err(StepError::terminal(format!(
                        "Sharing the gallery {gallery_id} with tenant {tenant} failed: {code} {message}"
                    )));
                }
                Operation::Running(_) | Operation::Succeeded => {}
            }
        }
        return rechecks::again(run, POLL, "the gallery's share operation to finish".into()).await;
    }
    let unique_name = gallery::unique_name(&found).unwrap_or_default().to_owned();
    let (image, version) = (request.image.image(), request.image.version());
    let consumer = request.consumer.tenant_id;
    let hold = lifetime::Hold {
        from: State::Sharing,
        event: "shared",
        days: |r| r.direct_share.as_ref().map_or(0, |d| d.lifetime_days),
        end: Step::UnshareGallery,
    };
    let request = lifetime::hold(run, request.id, &KIND, &hold, |record, now, expires| {
        if !unique_name.is_empty() {
            record.unique_name.clone_from(&unique_name);
        }
        record.operation = None;
        record.shared_at = Some(now);
        record.expires_at = Some(expires);
        format!(
            "Shared: tenant {consumer} is in the sharing profile of {gallery_id}; its users can create VMs from {} until {}.",
            record.shared_image_id(image, version),
            lifetime::rfc3339(expires)
        )
    })
    .await?;
    notify_once(run, &request).await?;
    Ok(Outcome::Done)
}

/// Sends the admin's notice once.
async fn notify_once(run: &Run<'_>, request: &ShareRequest) -> Result<Outcome, StepError> {
    let text = lifetime::NoticeText {
        label: "direct share notice",
        event: "direct-share-notice",
        sent: "The consumer's admin was sent the portal path, the az vm create command and the expiry.",
    };
    lifetime::notice_once(
        run,
        request,
        &KIND,
        &text,
        |_| {},
        || notice::send(run, request),
    )
    .await
}
