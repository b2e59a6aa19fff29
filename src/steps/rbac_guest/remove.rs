//! RemoveGuest: at the end of the access's lifetime (a scheduled message, the reconciler
//! behind it) or on a revocation, remove the guest's Reader assignment on the image
//! definition and, when this deployment's invitation created the guest and no other active
//! request uses it, the guest user; the request ends `Completed` (or `Revoked`) with each
//! removal in its history. Under the guest's lock; already-gone counts as removed.

use std::time::Duration;

use super::{
    Outcome, Run, StepError, guest_key, lock, rechecks,
    record::{self, Write},
    removal,
};
use crate::{
    azure::arm::ArmIdentity,
    domain::{Kept, Removable, Removal, RemovalService, ShareRequest, State, Strategy},
};

/// `Microsoft.Authorization` role assignments' api-version.
const AUTHORIZATION_API: &str = "2022-04-01";

pub(super) async fn run(run: &Run<'_>) -> Result<Outcome, StepError> {
    let ctx = run.ctx;
    let Some(stored) = record::load(ctx, run.message.request_id).await? else {
        return Ok(Outcome::Stale("no such request".into()));
    };
    let request = stored.request;
    let now = ctx.clock.now();
    match request.state() {
        State::Granted => {
            let record = request.progress.guest.clone().unwrap_or_default();
            if !record.end_is_due(now) {
                // Early (clock skew, a redelivery): look again at the expiry.
                let wait = record
                    .expires_at
                    .map_or(time::Duration::ZERO, |at| at - now);
                return rechecks::again(
                    run,
                    Duration::try_from(wait).unwrap_or_default(),
                    "the guest's access to end".into(),
                )
                .await;
            }
        }
        State::Revoking => {
            if let Some(stale) = rechecks::superseded(run, &request) {
                return Ok(stale);
            }
        }
        s => return Ok(Outcome::Stale(format!("the request is {s}"))),
    }

    let subject = lock::Subject::guest(&guest_key(&request));
    let (removed, kept) = lock::with(ctx, &subject, request.id, remove(run, &request)).await?;

    let event = run.event();
    record::update(ctx, request.id, |r| {
        let to = match r.state() {
            State::Granted => State::Completed,
            State::Revoking => State::Revoked,
            _ => return Ok(Write::Keep(())),
        };
        let mut entries: Vec<_> = removed
            .iter()
            .map(|m| r.note("removed", m.describe(), &event))
            .collect();
        for k in &kept {
            entries.push(r.note(
                "kept",
                format!("The {} {} stays: {}", k.what.label(), k.id, k.reason),
                &event,
            ));
        }
        let (name, detail) = if to == State::Completed {
            (
                "guest-access-ended",
                "The guest's access is over; its Reader grant is removed.",
            )
        } else {
            ("revoked", "Revoked: the guest's Reader grant is removed.")
        };
        entries.push(r.transition(to, name, detail, &event)?);
        if let Some(g) = r.progress.guest.as_mut() {
            g.removed.extend(removed.iter().cloned());
        }
        if let Some(rev) = r.progress.revocation.as_mut() {
            rev.removed.extend(removed.iter().cloned());
            rev.kept.extend(kept.iter().cloned());
        }
        Ok(Write::Save(entries, ()))
    })
    .await?;
    Ok(Outcome::Done)
}

async fn remove(
    run: &Run<'_>,
    request: &ShareRequest,
) -> Result<(Vec<Removal>, Vec<Kept>), StepError> {
    let record = request.progress.guest.clone().unwrap_or_default();
    let cloud = run.cloud()?;
    let others = other_users(run, request, &record.user_id).await?;
    let mut removed = Vec::new();
    let mut kept = Vec::new();
    // The assignment is one per (guest, image definition); another request of the same guest
    // and image still needs it.
    let same_image = others
        .iter()
        .find(|r| r.image.image_definition_id() == request.image.image_definition_id());
    if !record.role_assignment_id.is_empty() {
        if let Some(other) = same_image {
            kept.push(Kept {
                what: Removable::RoleAssignment,
                id: record.role_assignment_id.clone(),
                reason: format!("request {} still uses it", other.id),
            });
        } else {
            let deleted = cloud
                .arm
                .delete(
                    &ArmIdentity::Operator,
                    &record.role_assignment_id,
                    AUTHORIZATION_API,
                )
                .await?;
            removed.push(removal::of(
                run,
                Removable::RoleAssignment,
                &record.role_assignment_id,
                RemovalService::Arm,
                &deleted,
            ));
        }
    }
    if record.created && !record.user_id.is_empty() {
        if let Some(other) = others.first() {
            kept.push(Kept {
                what: Removable::GuestUser,
                id: record.user_id.clone(),
                reason: format!("request {} still uses the guest", other.id),
            });
        } else {
            let deleted = cloud.graph.delete_user(&record.user_id).await?;
            removed.push(removal::of(
                run,
                Removable::GuestUser,
                &record.user_id,
                RemovalService::Graph,
                &deleted,
            ));
        }
    }
    Ok((removed, kept))
}

/// The other active `rbac-guest` requests of the same guest.
async fn other_users(
    run: &Run<'_>,
    request: &ShareRequest,
    user_id: &str,
) -> Result<Vec<ShareRequest>, StepError> {
    let all = run
        .ctx
        .store
        .list_for_consumer(request.consumer.tenant_id)
        .await
        .map_err(StepError::from)?;
    Ok(all
        .into_iter()
        .map(|s| s.request)
        .filter(|r| {
            r.id != request.id
                && r.strategy == Strategy::RbacGuest
                && matches!(
                    r.state(),
                    State::Submitted | State::Granting | State::Granted
                )
                && (guest_key(r) == guest_key(request)
                    || r.progress
                        .guest
                        .as_ref()
                        .is_some_and(|g| g.user_id.eq_ignore_ascii_case(user_id)))
        })
        .collect())
}
