//! RemoveGuest: at the end of the access's lifetime (a scheduled message, the reconciler
//! behind it) or on a revocation, remove the guest's Reader assignment on the image
//! definition and, when this deployment's invitation created the guest and no other active
//! request uses it, the guest user; the request ends `Completed` (or `Revoked`) with each
//! removal in its history. Under the guest's lock; already-gone counts as removed.

use super::{KIND, Outcome, Run, StepError, guest_key, lifetime, lock, record, removal};
use crate::{
    azure::arm::{ArmIdentity, role_assignment_name, roles},
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
    if let Some(outcome) =
        lifetime::end_may_go(run, &request, &KIND, "the guest's access to end").await?
    {
        return Ok(outcome);
    }

    let subject = lock::Subject::guest(&guest_key(&request));
    let (removed, kept) = lock::with(ctx, &subject, request.id, remove(run, &request)).await?;

    let text = lifetime::EndText {
        completed: (
            "guest-access-ended",
            "The guest's access is over; its Reader grant is removed.".to_owned(),
        ),
        revoked: "Revoked: the guest's Reader grant is removed.",
        kept: "Another request of the guest still uses it; that request removes it when it ends.",
    };
    lifetime::finish(run, request.id, &KIND, &removed, &kept, &text).await
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
    // A revocation while Granting: the assignment's name is deterministic, so it is removed
    // even when its id was never recorded (a DELETE of none answers 204).
    let assignment_id = if record.role_assignment_id.is_empty() && !record.user_id.is_empty() {
        let scope = request.image.image_definition_id().to_string();
        format!(
            "{scope}/providers/Microsoft.Authorization/roleAssignments/{}",
            role_assignment_name(&scope, &record.user_id, roles::READER)
        )
    } else {
        record.role_assignment_id.clone()
    };
    if !assignment_id.is_empty() {
        if let Some(other) = same_image {
            kept.push(Kept {
                what: Removable::RoleAssignment,
                id: assignment_id.clone(),
                reason: format!("request {} still uses it", other.id),
            });
        } else {
            let deleted = cloud
                .arm
                .delete(&ArmIdentity::Operator, &assignment_id, AUTHORIZATION_API)
                .await?;
            removed.push(removal::of(
                run,
                Removable::RoleAssignment,
                &assignment_id,
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
