//! Who still needs what a request shares with others of its consumer tenant. One app (with
//! its credential) serves every request of a tenant, and one Reader assignment every request
//! of that tenant and image, so a removal must leave them while another request needs them:
//!
//! - the credential: a request still in progress, or a revocation still deleting in the
//!   consumer's tenant (it signs in there with it);
//! - the app: all of those, and a Completed request (its VM needs the image for reimage and
//!   scale-out, through the app's Reader grant) or a Shared one (a direct share whose VM the
//!   app made: a revocation deletes it with the app);
//! - the Reader grant: a request in progress or Completed, for the same image.

use crate::{
    context::AppContext,
    domain::{AppRecord, CredentialRecord, Machine, RequestId, ShareRequest, State},
    store::StoreError,
};

/// What the other requests of the tenant still need.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub(in crate::steps) struct StillNeeded {
    /// A request that needs the credential, if any.
    pub credential: Option<String>,
    /// A request that needs the app, if any.
    pub app: Option<String>,
    /// A request that needs the Reader grant on this image, if any.
    pub reader: Option<String>,
}

fn in_progress(state: State) -> bool {
    matches!(
        state,
        State::Submitted
            | State::CredentialsIssued
            | State::AwaitingConsent
            | State::AwaitingRoleGrant
            | State::Sharing
            | State::CreatingVm
    )
}

/// Whether `other` uses the same app as `app` (a request not issued yet will use the app of
/// its tenant's name, which is this one); requests of machines without an app never do.
fn same_app(other: &ShareRequest, app: &AppRecord) -> bool {
    other.machine().uses_share_app()
        && other
            .progress
            .app
            .as_ref()
            .is_none_or(|a| a.object_id.eq_ignore_ascii_case(&app.object_id))
}

/// What the other requests of `me`'s consumer tenant, as stored now, still need of `me`'s app
/// and grant. Read under the tenant lock, so no request of the tenant moves past it meanwhile.
pub(in crate::steps) async fn in_tenant(
    ctx: &AppContext,
    me: &ShareRequest,
    app: &AppRecord,
) -> Result<StillNeeded, StoreError> {
    let others: Vec<ShareRequest> = ctx
        .store
        .list_for_consumer(me.consumer.tenant_id)
        .await?
        .into_iter()
        .map(|s| s.request)
        .collect();
    Ok(still_needed(me, app, &others))
}

/// What `others` (the tenant's other requests) still need of `me`'s app and grant.
pub(in crate::steps) fn still_needed(
    me: &ShareRequest,
    app: &AppRecord,
    others: &[ShareRequest],
) -> StillNeeded {
    let image = me.image.image_definition_id().to_string();
    let mut needed = StillNeeded::default();
    for other in others.iter().filter(|o| o.id != me.id && same_app(o, app)) {
        let state = other.state();
        let revoking_there = state == State::Revoking
            && other
                .progress
                .revocation
                .as_ref()
                .is_some_and(crate::domain::RevocationRecord::needs_credential);
        let id = || Some(other.id.to_string());
        if in_progress(state) || revoking_there {
            needed.credential = needed.credential.or_else(id);
        }
        if in_progress(state) || revoking_there || matches!(state, State::Completed | State::Shared)
        {
            needed.app = needed.app.or_else(id);
        }
        let same_image = other
            .image
            .image_definition_id()
            .to_string()
            .eq_ignore_ascii_case(&image);
        let has_reader = other.machine() == Machine::AppConsent;
        if same_image && has_reader && (in_progress(state) || state == State::Completed) {
            needed.reader = needed.reader.or_else(id);
        }
    }
    needed
}

/// What another request of the tenant already made and still holds, so a new request's
/// IssueCredentials need not make it again: read under the tenant's lock, so nothing of it
/// is removed meanwhile (a removal takes the same lock and keeps what a request holds).
#[derive(Clone, Debug, PartialEq, Eq)]
pub(in crate::steps) struct Reusable {
    /// The app and its service principal, as that request recorded them.
    pub app: AppRecord,
    /// Whether a request still in progress holds the federated credential: it has not been
    /// released since that request made sure of it.
    pub credential: bool,
    /// A Reader assignment on this request's image definition that a request in progress or
    /// Completed holds.
    pub reader: Option<String>,
    /// The requests whose records this rests on (at most three: the app's, the credential's
    /// and the Reader grant's holder). Read again, they alone show it still holds.
    pub witnesses: Vec<RequestId>,
}

/// What `others` (the tenant's requests, read under its lock) hold of the app named
/// `unique_name` that was made from the same app document (`fingerprint`): a request in
/// progress, Completed or Shared keeps the app and its service principal from removal; one in
/// progress keeps the credential too; one in progress or Completed for the same image keeps
/// the Reader grant. A federated credential only: a client secret is read from Key Vault
/// and reconciled on every issue. `None` when no such request exists.
pub(in crate::steps) fn reusable(
    me: &ShareRequest,
    unique_name: &str,
    fingerprint: &str,
    others: &[ShareRequest],
) -> Option<Reusable> {
    let image = me.image.image_definition_id().to_string();
    let holding: Vec<(&ShareRequest, &AppRecord)> = others
        .iter()
        .filter(|o| o.id != me.id && o.machine().uses_share_app())
        .filter(|o| in_progress(o.state()) || matches!(o.state(), State::Completed | State::Shared))
        .filter_map(|o| o.progress.app.as_ref().map(|a| (o, a)))
        .filter(|(_, a)| {
            a.unique_name == unique_name
                && a.fingerprint.as_deref() == Some(fingerprint)
                && matches!(a.credential, CredentialRecord::Federated { .. })
        })
        .collect();
    let (_, first) = holding.first()?;
    // Every holder names the same app (one per tenant's name); a different object means the
    // app was made again since: only what the newest made is reused, so nothing is mixed.
    let same = |a: &AppRecord| a.object_id.eq_ignore_ascii_case(&first.object_id);
    if !holding.iter().all(|(_, a)| same(a)) {
        return None;
    }
    let mut witnesses = vec![holding[0].0.id];
    let credential_holder = holding.iter().find(|(o, _)| in_progress(o.state()));
    let reader_holder = holding.iter().find(|(o, a)| {
        o.machine() == Machine::AppConsent
            && (in_progress(o.state()) || o.state() == State::Completed)
            && o.image
                .image_definition_id()
                .to_string()
                .eq_ignore_ascii_case(&image)
            && a.reader_assignment_id.is_some()
    });
    for (o, _) in credential_holder.iter().chain(reader_holder.iter()) {
        if !witnesses.contains(&o.id) {
            witnesses.push(o.id);
        }
    }
    Some(Reusable {
        app: (*first).clone(),
        credential: credential_holder.is_some(),
        reader: reader_holder.and_then(|(_, a)| a.reader_assignment_id.clone()),
        witnesses,
    })
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use time::macros::datetime;

    use super::*;
    use crate::domain::{Actor, EventContext};

    const NAME: &str = "imageshare-22222222-2222-4222-8222-222222222222";
    const FINGERPRINT: &str = "sha256:00";

    fn at() -> EventContext {
        EventContext {
            at: datetime!(2026-12-07 12:00 UTC),
            actor: Actor::Pipeline,
            caller: None,
            invocation_id: None,
        }
    }

    /// A request of the demo tenant that recorded the tenant's app and walked to `to`.
    fn holding(to: &[State], reader: Option<&str>) -> ShareRequest {
        let (mut request, _) = crate::store::contract::new_request("holders");
        request.progress.app = Some(AppRecord {
            unique_name: NAME.into(),
            object_id: "11111111-aaaa-4aaa-8aaa-aaaaaaaaaaaa".into(),
            app_id: "22222222-bbbb-4bbb-8bbb-bbbbbbbbbbbb".into(),
            service_principal_id: "33333333-cccc-4ccc-8ccc-cccccccccccc".into(),
            credential: CredentialRecord::Federated {
                name: "imageshare-function-app".into(),
            },
            reader_assignment_id: reader.map(str::to_owned),
            fingerprint: Some(FINGERPRINT.into()),
        });
        for state in to {
            request.transition(*state, "test", "", &at()).unwrap();
        }
        request
    }

    const TO_COMPLETED: [State; 5] = [
        State::CredentialsIssued,
        State::AwaitingConsent,
        State::AwaitingRoleGrant,
        State::CreatingVm,
        State::Completed,
    ];

    #[test]
    fn what_the_witnesses_alone_show_is_what_the_whole_tenant_shows() {
        let me = crate::store::contract::new_request("me").0;
        let done = holding(&TO_COMPLETED, None);
        let waiting = holding(&TO_COMPLETED[..2], Some("/reader/1"));
        let idle = holding(&TO_COMPLETED, None);
        let all = [done.clone(), waiting.clone(), idle, done.clone()];

        let seen = reusable(&me, NAME, FINGERPRINT, &all).unwrap();
        assert_eq!(seen.witnesses, vec![done.id, waiting.id]);
        assert!(seen.credential);
        assert_eq!(seen.reader.as_deref(), Some("/reader/1"));

        let again = reusable(&me, NAME, FINGERPRINT, &[done, waiting]).unwrap();
        assert_eq!(again, seen);
    }

    #[test]
    fn witnesses_that_hold_nothing_any_more_show_nothing_to_reuse() {
        let me = crate::store::contract::new_request("me").0;
        let mut done = holding(&TO_COMPLETED, Some("/reader/1"));
        let seen = reusable(&me, NAME, FINGERPRINT, std::slice::from_ref(&done)).unwrap();
        assert_eq!(seen.witnesses, vec![done.id]);

        done.transition(State::Revoking, "revocation-requested", "", &at())
            .unwrap();
        assert_eq!(reusable(&me, NAME, FINGERPRINT, &[done]), None);
    }
}
