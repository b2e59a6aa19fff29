//! GrantGuest: invite the consumer's user into the owner's tenant as a guest (or reuse the
//! guest the address already has), grant it Reader on the image definition, then send the
//! consumer's steps.
//!
//! `Submitted`: under the guest's lock, find or invite the guest and move to `Granting`.
//! `Granting`: grant Reader with `principalType: User` (a deterministic assignment name, so a
//! rerun or a second request converges on one assignment); `PrincipalNotFound` means Entra
//! has not replicated the new guest to Resource Manager yet, and the grant is tried again.

use super::{
    KIND, Outcome, POLL, Run, StepError, already_done, guest_key, lifetime, lock, notice, rechecks,
    record,
};
use crate::{
    azure::arm::{ArmIdentity, roles},
    domain::{GuestRecord, RequestId, ShareRequest, State, Step, Strategy},
};

pub(super) async fn run(run: &Run<'_>) -> Result<Outcome, StepError> {
    let ctx = run.ctx;
    let Some(stored) = record::load(ctx, run.message.request_id).await? else {
        return Ok(Outcome::Stale("no such request".into()));
    };
    let request = stored.request;
    match request.state() {
        State::Submitted | State::Granting => {}
        State::Granted => return notify_once(run, &request).await,
        s => return Ok(Outcome::Stale(format!("the request is {s}"))),
    }
    if let Some(stale) = rechecks::superseded(run, &request) {
        return Ok(stale);
    }
    if request.guest.is_none() {
        return Err(StepError::terminal(
            "The request names no guest; strategy 'rbac-guest' needs guest.email.",
        ));
    }
    if request.state() == State::Submitted {
        invite(run, &request).await?;
    }
    grant(run, request.id).await
}

/// Finds or invites the guest, under the guest's lock; then `Granting`.
async fn invite(run: &Run<'_>, request: &ShareRequest) -> Result<(), StepError> {
    let ctx = run.ctx;
    let Some(plan) = request.guest.clone() else {
        return Ok(());
    };
    let work = async {
        let graph = &run.cloud()?.graph;
        let email = plan.email.as_str();
        // A guest one of our own requests invited stays ours to remove; any other was there
        // before imageshare and is never deleted by it.
        let (user_id, upn, created) =
            if let Some(existing) = graph.guest_by_mail(email).await.map_err(graph_refusal)? {
                let ours = invited_by_us(run, request, &existing.id).await?;
                (existing.id, existing.user_principal_name, ours)
            } else {
                let message = notice::invitation_message(request);
                let redirect = format!("https://portal.azure.com/{}", ctx.settings.owner_tenant);
                let invited = graph
                    .invite(email, plan.display_name.as_deref(), &redirect, &message)
                    .await
                    .map_err(graph_refusal)?;
                (invited.user_id, String::new(), true)
            };
        let begin = lifetime::Begin {
            to: State::Granting,
            event: "guest-invited",
            step: Step::GrantGuest,
        };
        let detail = if created {
            format!(
                "Invited {email} as a guest of the owner's tenant (user {user_id}); Invitations mails them the redemption link."
            )
        } else {
            format!(
                "{email} is already a guest of the owner's tenant (user {user_id}): reused, not invited again."
            )
        };
        let first = GuestRecord {
            user_id,
            user_principal_name: upn,
            created,
            ..GuestRecord::default()
        };
        lifetime::begin(run, request.id, &KIND, &begin, &detail, first).await
    };
    let subject = lock::Subject::guest(&guest_key(request));
    lock::with(ctx, &subject, request.id, work).await
}

/// Graph's 403 in plain words: which permissions the operator identity needs.
fn graph_refusal(e: crate::azure::AzureError) -> StepError {
    if e.status() == Some(403) {
        StepError::terminal(format!(
            "The operator identity may not find or invite guests: {e}. Grant it Microsoft Graph User.Invite.All and User.ReadWrite.All (to find a guest by address and remove the guests it invited): infra rbacGuest=true."
        ))
    } else {
        e.into()
    }
}

/// Whether another request of this deployment recorded that its invitation created `user_id`.
async fn invited_by_us(
    run: &Run<'_>,
    request: &ShareRequest,
    user_id: &str,
) -> Result<bool, StepError> {
    let all = run
        .ctx
        .store
        .list_for_consumer(request.consumer.tenant_id)
        .await
        .map_err(StepError::from)?;
    Ok(all.into_iter().map(|s| s.request).any(|r| {
        r.id != request.id
            && r.strategy == Strategy::RbacGuest
            && r.progress
                .guest
                .as_ref()
                .is_some_and(|g| g.created && g.user_id.eq_ignore_ascii_case(user_id))
    }))
}

/// Grants Reader on the image definition; then `Granted`, the end scheduled, the steps sent.
async fn grant(run: &Run<'_>, id: RequestId) -> Result<Outcome, StepError> {
    let Some(stored) = record::load(run.ctx, id).await? else {
        return Ok(Outcome::Stale("no such request".into()));
    };
    let request = stored.request;
    if request.state() != State::Granting {
        return already_done(run, &request, None).await;
    }
    let record = request.progress.guest.clone().unwrap_or_default();
    let scope = request.image.image_definition_id().to_string();
    // Under the guest's lock, and only while still Granting: a revocation's RemoveGuest (under
    // the same lock) then either finds the assignment or never sees one made after it.
    let assign = async {
        let still = record::load(run.ctx, id).await?;
        if still.is_none_or(|s| s.request.state() != State::Granting) {
            return Ok(None);
        }
        let answer = run
            .cloud()?
            .arm
            .assign_role_to(
                &ArmIdentity::Operator,
                &scope,
                roles::READER,
                &record.user_id,
                "User",
            )
            .await;
        Ok(Some(answer))
    };
    let subject = lock::Subject::guest(&guest_key(&request));
    let Some(assigned) = lock::with(run.ctx, &subject, request.id, assign).await? else {
        return Ok(Outcome::Stale("the request is no longer granting".into()));
    };
    let assignment = match assigned {
        Ok(id) => id,
        Err(e) if e.has_code("PrincipalNotFound") => {
            return rechecks::again(
                run,
                POLL,
                "the guest to replicate to Resource Manager".into(),
            )
            .await;
        }
        Err(e) if e.status() == Some(403) => {
            return Err(StepError::terminal(format!(
                "The operator identity may not grant the guest Reader on {scope}: {e}. Deploy infra with rbacGuest=true (Role Based Access Control Administrator may then assign Reader to users as well as to service principals)."
            )));
        }
        Err(e) => return Err(e.into()),
    };
    let hold = lifetime::Hold {
        from: State::Granting,
        event: "granted",
        days: |r| r.guest.as_ref().map_or(0, |g| g.lifetime_days),
        end: Step::RemoveGuest,
    };
    let request = lifetime::hold(run, request.id, &KIND, &hold, |g, now, expires| {
        g.role_assignment_id.clone_from(&assignment);
        g.granted_at = Some(now);
        g.expires_at = Some(expires);
        format!(
            "Granted: the guest {} holds Reader on {scope} ({assignment}) until {}.",
            g.user_id,
            lifetime::rfc3339(expires)
        )
    })
    .await?;
    notify_once(run, &request).await?;
    Ok(Outcome::Done)
}

/// Sends the consumer's steps once.
async fn notify_once(run: &Run<'_>, request: &ShareRequest) -> Result<Outcome, StepError> {
    let text = lifetime::NoticeText {
        label: "guest steps",
        event: "guest-notice",
        sent: "The consumer was sent the steps: accept the invitation, sign in to both tenants, az vm create.",
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
