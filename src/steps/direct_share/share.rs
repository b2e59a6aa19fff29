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
    lifetime, lock, notice, preflight, rechecks,
    record::{self, Write},
};
use crate::{
    azure::arm::{ArmIdentity, Operation},
    domain::{DirectShareRecord, Machine, ShareRequest, State, Step, StepMessage},
};

pub(super) async fn run(run: &Run<'_>) -> Result<Outcome, StepError> {
    let ctx = run.ctx;
    let Some(stored) = record::load(ctx, run.message.request_id).await? else {
        return Ok(Outcome::Stale("no such request".into()));
    };
    let request = stored.request;
    let with_vm = request.machine() == Machine::DirectShareWithVm;
    match request.state() {
        State::Submitted if !with_vm => {}
        State::Sharing => {}
        State::Shared if !with_vm => return notify_once(run, &request).await,
        s => return Ok(Outcome::Stale(format!("the request is {s}"))),
    }
    if let Some(stale) = rechecks::superseded(run, &request) {
        return Ok(stale);
    }
    // A request with a `vm` section enters Sharing on the admin's approval, before anything
    // is shared: its first run starts the share.
    if request.state() == State::Submitted || request.progress.direct_share.is_none() {
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
    if request.vm.is_some() {
        return create_vm_next(run, &request, &unique_name).await;
    }
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

/// With a `vm` section: the tenant is in the profile, so the VM comes next (the share's
/// lifetime starts once the VM exists, when the request is Shared).
async fn create_vm_next(
    run: &Run<'_>,
    request: &ShareRequest,
    unique_name: &str,
) -> Result<Outcome, StepError> {
    let event = run.event();
    let gallery_id = gallery::gallery_id(request);
    let (request, moved) = record::update(run.ctx, request.id, |r| {
        if r.state() != State::Sharing {
            return Ok(Write::Keep(false));
        }
        let shared_id = {
            let d = r.progress.direct_share.get_or_insert_with(DirectShareRecord::default);
            if !unique_name.is_empty() {
                d.unique_name = unique_name.to_owned();
            }
            d.operation = None;
            d.shared_at = Some(event.at);
            d.shared_image_id(r.image.image(), r.image.version())
        };
        r.steps.ran(Step::ShareGallery);
        r.steps.completed(Step::ShareGallery, event.at);
        r.steps.queued(Step::CreateVm, event.at);
        r.send_after_write(StepMessage::first(r.id, Step::CreateVm), None);
        let detail = format!(
            "Shared: tenant {} is in the sharing profile of {gallery_id}; creating the VM from {shared_id}.",
            r.consumer.tenant_id
        );
        let entry = r.transition(State::CreatingVm, "shared", detail, &event)?;
        Ok(Write::Save(vec![entry], true))
    })
    .await?;
    if !moved {
        return already_done(run, &request, Some(Step::CreateVm)).await;
    }
    Ok(Outcome::Done)
}

/// With a `vm` section, once the VM exists: the request is held `Shared` for the share's
/// lifetime (VMs made from a shared image need it for reimage and scale-out), with
/// UnshareGallery scheduled at its end. The request as written.
pub(in crate::steps) async fn hold_after_vm(
    run: &Run<'_>,
    id: crate::domain::RequestId,
    vm_id: &str,
) -> Result<ShareRequest, StepError> {
    let hold = lifetime::Hold {
        from: State::CreatingVm,
        event: "shared",
        days: |r| r.direct_share.as_ref().map_or(0, |d| d.lifetime_days),
        end: Step::UnshareGallery,
    };
    lifetime::hold(run, id, &KIND, &hold, |record, _, expires| {
        record.expires_at = Some(expires);
        format!(
            "VM {vm_id} is running in the consumer's tenant; the tenant keeps the share until {} for its reimage and scale-out, and for more VMs of its own.",
            lifetime::rfc3339(expires)
        )
    })
    .await
}

/// Sends the admin's notice once, in `Shared` (with a `vm` section, once the VM exists).
pub(in crate::steps) async fn notify_once(
    run: &Run<'_>,
    request: &ShareRequest,
) -> Result<Outcome, StepError> {
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
