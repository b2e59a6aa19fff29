//! A share request: what was asked, where it stands, and how it got there.

use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

use super::{
    Actor, AdminUsername, EmailAddress, HistoryEntry, IllegalTransition, ImageVersionId, Location,
    Outbox, Progress, Rechecks, RequestId, ResourceGroupName, SshPublicKey, State, StepMessage,
    StepTimes, Strategy, SubnetId, SubscriptionId, TenantId, VmName, VmSize,
    delegation::DelegationPlan,
};

/// The consumer tenant and where its VM goes (for `lighthouse`, where the consumer's
/// operators create it).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Consumer {
    /// The consumer's Entra tenant.
    pub tenant_id: TenantId,
    /// The subscription the VM is created in.
    pub subscription_id: SubscriptionId,
    /// The resource group the VM is created in (it must exist).
    pub resource_group: ResourceGroupName,
    /// The admin who receives the consent link.
    pub admin_email: EmailAddress,
}

/// The VM to create from the image.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct VmSpec {
    /// VM (and computer) name.
    pub name: VmName,
    /// VM size.
    pub size: VmSize,
    /// Region; the image must be replicated there.
    pub location: Location,
    /// Linux admin account.
    pub admin_username: AdminUsername,
    /// The admin's SSH public key.
    pub ssh_public_key: SshPublicKey,
    /// An existing subnet to attach to; without one a VNet is created in the resource group.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub subnet_id: Option<SubnetId>,
}

/// Where the request came from, and what the sender asked us to echo back.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", tag = "kind")]
pub enum Origin {
    /// `POST /api/share-requests`.
    Http {
        /// The `Idempotency-Key` header, if one was sent.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        idempotency_key: Option<String>,
    },
    /// A message on the `share-requests` queue.
    Queue {
        /// The idempotency key: the message's `Idempotency-Key` property or its MessageId.
        idempotency_key: String,
        /// The message's `ReplyTo`, copied onto events.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        reply_to: Option<String>,
        /// The message's `CorrelationId`, copied onto events.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        correlation_id: Option<String>,
    },
}

/// The validated content of a submission, before it becomes a request.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Submission {
    /// How to share.
    pub strategy: Strategy,
    /// The consumer.
    pub consumer: Consumer,
    /// The resolved, allowed image version.
    pub image: ImageVersionId,
    /// The image's name in the operator's catalog.
    pub image_name: String,
    /// The VM imageshare creates (`app-consent`).
    pub vm: Option<VmSpec>,
    /// The delegation (`lighthouse`).
    pub delegation: Option<DelegationPlan>,
    /// The direct share (`direct-share`).
    pub direct_share: Option<super::DirectSharePlan>,
    /// The guest (`rbac-guest`).
    pub guest: Option<super::GuestPlan>,
}

/// Context for a history entry: when, who, under which invocation.
#[derive(Clone, Debug)]
pub struct EventContext {
    /// When.
    pub at: OffsetDateTime,
    /// Who.
    pub actor: Actor,
    /// The API caller, when the HTTP API made the change.
    pub caller: Option<super::Caller>,
    /// The Functions invocation id, when there is one.
    pub invocation_id: Option<String>,
}

/// One share request.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ShareRequest {
    /// The request's id.
    pub id: RequestId,
    /// How the image is shared.
    pub strategy: Strategy,
    /// The consumer.
    pub consumer: Consumer,
    /// The image version to share.
    pub image: ImageVersionId,
    /// Its catalog name.
    pub image_name: String,
    /// The VM to create (`app-consent`; with `lighthouse` the consumer creates it).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub vm: Option<VmSpec>,
    /// What to delegate, to whom, for how long (`lighthouse`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub delegation: Option<DelegationPlan>,
    /// How long to share the gallery with the tenant (`direct-share`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub direct_share: Option<super::DirectSharePlan>,
    /// Whom to invite as a guest, for how long (`rbac-guest`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub guest: Option<super::GuestPlan>,
    /// Where the request came from.
    pub origin: Origin,
    /// The API caller who submitted it (absent for queued requests): the consumer's admin is
    /// told who asked before approving.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub requested_by: Option<super::Caller>,
    /// SHA-256 of the normalised submission, to tell a retry from a different request that
    /// reuses an idempotency key.
    pub fingerprint: String,
    /// Where it stands. Changed only through [`ShareRequest::transition`].
    state: State,
    /// Why it failed or expired, for a person.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub failure: Option<String>,
    /// When it was created.
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: OffsetDateTime,
    /// When it last changed.
    #[serde(with = "time::serde::rfc3339")]
    pub updated_at: OffsetDateTime,
    /// Per-step timestamps.
    #[serde(default)]
    pub steps: StepTimes,
    /// What the steps found or made.
    #[serde(default)]
    pub progress: Progress,
    /// Number of history entries written so far; the next one gets `history_len + 1`.
    history_len: u32,
    /// What this request's changes still have to send.
    #[serde(default)]
    pub outbox: Outbox,
}

impl ShareRequest {
    /// Who asked for the share, as the consumer's admin reads it before approving (mail,
    /// webhook and the approval page).
    pub fn requested_by_text(&self) -> String {
        use super::Caller;
        match (&self.origin, &self.requested_by) {
            (Origin::Queue { .. }, _) => {
                "the image owner's automation (a queued request)".to_owned()
            }
            (Origin::Http { .. }, Some(Caller::Principal { object_id, name })) => match name {
                Some(name) => format!("the image owner's API, by {name} (object id {object_id})"),
                None => format!("the image owner's API, by object id {object_id}"),
            },
            (Origin::Http { .. }, _) => "the image owner's API (with a function key)".to_owned(),
        }
    }

    /// A new request in state `Submitted`, with its first history entry.
    pub fn submit(
        id: RequestId,
        submission: Submission,
        origin: Origin,
        fingerprint: String,
        ctx: &EventContext,
    ) -> (Self, HistoryEntry) {
        let Submission {
            strategy,
            consumer,
            image,
            image_name,
            vm,
            delegation,
            direct_share,
            guest,
        } = submission;
        let mut request = Self {
            id,
            strategy,
            consumer,
            image,
            image_name,
            vm,
            delegation,
            direct_share,
            guest,
            origin,
            requested_by: ctx.caller.clone(),
            fingerprint,
            state: State::Submitted,
            failure: None,
            created_at: ctx.at,
            updated_at: ctx.at,
            steps: StepTimes::default(),
            progress: Progress::default(),
            history_len: 0,
            outbox: Outbox::default(),
        };
        let detail = match (&request.vm, &request.delegation) {
            (Some(vm), _) => format!(
                "Share of image '{}' with tenant {} requested; VM '{}' in {}/{}.",
                request.image_name,
                request.consumer.tenant_id,
                vm.name,
                request.consumer.subscription_id,
                request.consumer.resource_group
            ),
            (None, Some(plan)) => format!(
                "Share of image '{}' with tenant {} requested through an Azure Lighthouse delegation to {} principal(s) for {} days.",
                request.image_name,
                request.consumer.tenant_id,
                plan.principals.len(),
                plan.lifetime_days
            ),
            (None, None) => match (&request.direct_share, &request.guest) {
                (Some(plan), _) => format!(
                    "Share of image '{}' with tenant {} requested by sharing its gallery directly with the tenant for {} days.",
                    request.image_name, request.consumer.tenant_id, plan.lifetime_days
                ),
                (None, Some(plan)) => format!(
                    "Share of image '{}' with tenant {} requested by inviting {} as a guest with Reader on the image for {} days.",
                    request.image_name,
                    request.consumer.tenant_id,
                    plan.email.as_str(),
                    plan.lifetime_days
                ),
                (None, None) => format!(
                    "Share of image '{}' with tenant {} requested.",
                    request.image_name, request.consumer.tenant_id
                ),
            },
        };
        let first = request.machine().first_step();
        request.steps.queued(first, ctx.at);
        request.progress.rechecks.next_run_at = Some(ctx.at);
        request.outbox.send(StepMessage::first(id, first), None);
        let entry = request.append("submitted", detail, ctx);
        (request, entry)
    }

    /// Where the request stands.
    pub fn state(&self) -> State {
        self.state
    }

    /// The request's state machine: its strategy's, shaped by whether it creates a VM.
    pub fn machine(&self) -> super::Machine {
        self.strategy.machine(self.vm.is_some())
    }

    /// Whether the app's credential has nothing more to do for this request: it ended, or
    /// (a direct share with a VM) its VM exists and only the share's lifetime is left.
    pub fn app_work_is_over(&self) -> bool {
        self.state.releases_access() || self.state == State::Shared
    }

    /// The step that moves the request on from where it stands, in its machine.
    pub fn current_step(&self) -> Option<super::Step> {
        self.machine().current_step(self.state)
    }

    /// Number of history entries written.
    pub fn history_len(&self) -> u32 {
        self.history_len
    }

    /// Moves to `to`, or refuses if the state machine does not allow it.
    pub fn transition(
        &mut self,
        to: State,
        event: &str,
        detail: impl Into<String>,
        ctx: &EventContext,
    ) -> Result<HistoryEntry, IllegalTransition> {
        let from = self.state;
        let machine = self.machine();
        if !machine.can_become(from, to) {
            return Err(IllegalTransition { from, to });
        }
        // A new step starts its own message chain: its first message is attempt 0, so the
        // previous step's re-check count must not make it look superseded.
        if machine.current_step(from) != machine.current_step(to) {
            self.progress.rechecks = Rechecks {
                next_run_at: Some(ctx.at),
                ..Rechecks::default()
            };
            self.progress.last_error = None;
        }
        let over_before = self.app_work_is_over();
        self.state = to;
        // An end releases the owner-side credential this request used (the ReleaseAccess
        // step decides whether another request still needs it, or a setting keeps it); a
        // revocation that failed did its own removals.
        if !over_before
            && self.app_work_is_over()
            && from != State::Revoking
            && self.progress.app.is_some()
        {
            self.outbox.send(
                StepMessage::first(self.id, super::Step::ReleaseAccess),
                None,
            );
            self.progress.release_queued_at = Some(ctx.at);
        }
        Ok(self.append(event, detail.into(), ctx))
    }

    /// Starts revoking the request: from any state but Rejected, Revoking and Revoked. The
    /// RevokeAccess step does the removals; a revocation asked for again after one failed
    /// starts a fresh chain (its number numbers the messages).
    pub fn revoke(
        &mut self,
        delete_resources: bool,
        ctx: &EventContext,
    ) -> Result<HistoryEntry, IllegalTransition> {
        let from = self.state;
        // Only a request with a `vm` section made resources in the consumer's tenant; the
        // VMs made under a delegation, share or guest grant are the consumer's own.
        let delete_resources = delete_resources && self.vm.is_some();
        let machine = self.machine();
        let step = machine.revoke_step();
        // The number is the chain's first message attempt. When the revocation's step is the
        // one the request was waiting in (a delegation's EndDelegation, scheduled for its
        // expiry as attempt 0), the chain starts past that message, which becomes superseded:
        // a MessageId is never reused.
        let first = u32::from(machine.current_step(from) == Some(step));
        let number = self
            .progress
            .revocation
            .as_ref()
            .map_or(first, |r| r.number + 1);
        let detail = format!(
            "Revocation asked for in state {from}{}: removing what this request created in the owner's tenant, unless another request still needs it.",
            if delete_resources {
                ", with its VM and network in the consumer's tenant"
            } else {
                ""
            }
        );
        let entry = self.transition(State::Revoking, "revoking", detail, ctx)?;
        self.failure = None;
        // The revocation removes what the request holds; a release still pending has
        // nothing left to do.
        self.progress.release_queued_at = None;
        self.progress.revocation = Some(super::RevocationRecord {
            requested_at: ctx.at,
            requested_by: ctx.caller.clone(),
            delete_resources,
            from_state: from,
            number,
            consumer_done: !delete_resources,
            removed: Vec::new(),
            kept: Vec::new(),
            notice_intent: None,
            notice_sent_at: None,
        });
        self.progress.rechecks.latest = number;
        self.steps.restarted(step, ctx.at);
        self.outbox
            .send(StepMessage::attempt(self.id, step, number), None);
        Ok(entry)
    }

    /// Queues a run of the current waiting `step` now, superseding its scheduled re-checks:
    /// attempt `latest + 2`, a number no scheduled message of the chain can have yet (they
    /// are at most `latest + 1`), so Service Bus's duplicate detection lets it through, it
    /// runs at once, and the scheduled one finds itself superseded. Sent through the outbox
    /// after this change is written, so it sees what the change recorded (an approval).
    pub fn check_now(&mut self, step: super::Step, at: OffsetDateTime) {
        let attempt = self.progress.rechecks.latest + 2;
        self.progress.rechecks.latest = attempt;
        self.progress.rechecks.next_run_at = Some(at);
        self.send_after_write(StepMessage::attempt(self.id, step, attempt), None);
    }

    /// Queues `message` to be sent after this change is written (the outbox), visible from
    /// `not_before` if given.
    pub fn send_after_write(&mut self, message: StepMessage, not_before: Option<OffsetDateTime>) {
        self.outbox.send(message, not_before);
    }

    /// History seqs whose events are not published yet.
    pub fn pending_events(&self) -> std::ops::RangeInclusive<u32> {
        (self.outbox.events_through + 1)..=self.history_len
    }

    /// Whether the reconciler must look at this request: it is still active, or it ended
    /// with messages or events still to send.
    pub fn needs_reconciling(&self) -> bool {
        !self.state.is_terminal()
            || !self.outbox.messages.is_empty()
            || self.outbox.events_through < self.history_len
            || self.release_pending()
    }

    /// Whether the request's end queued ReleaseAccess and its result is not recorded yet:
    /// a release whose messages were lost or rested must not leave the credential behind.
    pub fn release_pending(&self) -> bool {
        self.progress.release_queued_at.is_some() && self.progress.access_release.is_none()
    }

    /// Stops the request with a reason a person can act on.
    pub fn fail(
        &mut self,
        reason: impl Into<String>,
        ctx: &EventContext,
    ) -> Result<HistoryEntry, IllegalTransition> {
        let reason = reason.into();
        let entry = self.transition(State::Failed, "failed", reason.clone(), ctx)?;
        self.failure = Some(reason);
        Ok(entry)
    }

    /// Records something that happened without changing state (a re-check, a link sent).
    pub fn note(
        &mut self,
        event: &str,
        detail: impl Into<String>,
        ctx: &EventContext,
    ) -> HistoryEntry {
        self.append(event, detail.into(), ctx)
    }

    fn append(&mut self, event: &str, detail: String, ctx: &EventContext) -> HistoryEntry {
        self.history_len += 1;
        self.updated_at = ctx.at;
        HistoryEntry {
            seq: self.history_len,
            at: ctx.at,
            event: event.to_owned(),
            state: self.state,
            actor: ctx.actor,
            caller: ctx.caller.clone(),
            detail,
            invocation_id: ctx.invocation_id.clone(),
        }
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    fn ctx() -> EventContext {
        EventContext {
            at: OffsetDateTime::UNIX_EPOCH,
            actor: Actor::Pipeline,
            caller: None,
            invocation_id: Some("inv-1".into()),
        }
    }

    fn submitted() -> ShareRequest {
        ShareRequest::submit(
            RequestId::new_random(),
            crate::store::contract::submission(),
            Origin::Http {
                idempotency_key: None,
            },
            "fp".into(),
            &ctx(),
        )
        .0
    }

    #[test]
    fn history_entries_are_numbered_in_order_and_carry_the_invocation() {
        let mut r = submitted();
        let e = r
            .transition(
                State::CredentialsIssued,
                "credentials-issued",
                "done",
                &ctx(),
            )
            .unwrap();
        assert_eq!(
            (e.seq, e.state, e.invocation_id.as_deref()),
            (2, State::CredentialsIssued, Some("inv-1"))
        );
        assert_eq!(r.note("recheck", "later", &ctx()).seq, 3);
    }

    #[test]
    fn an_illegal_transition_changes_nothing() {
        let mut r = submitted();
        let before = r.clone();
        let err = r
            .transition(State::Completed, "completed", "", &ctx())
            .unwrap_err();
        assert_eq!(
            err,
            IllegalTransition {
                from: State::Submitted,
                to: State::Completed
            }
        );
        assert_eq!(r, before);
    }

    #[test]
    fn failing_records_the_reason() {
        let mut r = submitted();
        r.fail("image not replicated to westus", &ctx()).unwrap();
        assert_eq!(
            (r.state(), r.failure.as_deref()),
            (State::Failed, Some("image not replicated to westus"))
        );
        assert!(
            r.fail("again", &ctx()).is_err(),
            "a failed request failed twice"
        );
    }

    #[test]
    fn a_request_round_trips_through_json() {
        let r = submitted();
        let back: ShareRequest = serde_json::from_str(&serde_json::to_string(&r).unwrap()).unwrap();
        assert_eq!(back, r);
    }
}
