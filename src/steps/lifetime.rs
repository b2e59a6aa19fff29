//! The part every strategy with a lifetime shares (`lighthouse`, `direct-share`,
//! `rbac-guest`): once access is in place (the strategy's *held* state) the consumer is told
//! once, the end step waits for the expiry (a scheduled message, the reconciler behind it),
//! and the end records what it removed or kept and moves the request to `Completed` (or
//! `Revoked`). Each strategy names its held state and its record; the steps keep only what
//! is theirs (what to create, what to remove).

use std::{future::Future, time::Duration};

use time::OffsetDateTime;

use super::{
    Outcome, Run, StepError, rechecks,
    record::{self, Write},
};
use crate::{
    azure::AzureError,
    config::NotifySettings,
    domain::{
        DelegationRecord, DirectShareRecord, GuestRecord, Intent, Kept, Removal, RequestId,
        ShareRequest, State, Step, StepMessage,
    },
};

/// A strategy's progress record, as the shared lifecycle uses it.
pub(in crate::steps) trait Record: Clone + Default {
    /// The notice's intent and when it was sent.
    fn notice(&mut self) -> (&mut Option<Intent>, &mut Option<OffsetDateTime>);
    /// What was removed when the access ended.
    fn removed(&mut self) -> &mut Vec<Removal>;
    /// When the access ends (none: at once).
    fn expires_at(&self) -> Option<OffsetDateTime>;
    /// Whether the end is due at `now` (the expiry passed, or the consumer said so).
    fn end_is_due(&self, now: OffsetDateTime) -> bool {
        self.expires_at().is_none_or(|at| now >= at)
    }
}

impl Record for DelegationRecord {
    fn notice(&mut self) -> (&mut Option<Intent>, &mut Option<OffsetDateTime>) {
        (&mut self.notice_intent, &mut self.notice_sent_at)
    }
    fn removed(&mut self) -> &mut Vec<Removal> {
        &mut self.removed
    }
    fn expires_at(&self) -> Option<OffsetDateTime> {
        self.expires_at
    }
    fn end_is_due(&self, now: OffsetDateTime) -> bool {
        Self::end_is_due(self, now)
    }
}

impl Record for DirectShareRecord {
    fn notice(&mut self) -> (&mut Option<Intent>, &mut Option<OffsetDateTime>) {
        (&mut self.notice_intent, &mut self.notice_sent_at)
    }
    fn removed(&mut self) -> &mut Vec<Removal> {
        &mut self.removed
    }
    fn expires_at(&self) -> Option<OffsetDateTime> {
        self.expires_at
    }
}

impl Record for GuestRecord {
    fn notice(&mut self) -> (&mut Option<Intent>, &mut Option<OffsetDateTime>) {
        (&mut self.notice_intent, &mut self.notice_sent_at)
    }
    fn removed(&mut self) -> &mut Vec<Removal> {
        &mut self.removed
    }
    fn expires_at(&self) -> Option<OffsetDateTime> {
        self.expires_at
    }
}

/// A strategy's held state and where its record lives on the request.
pub(in crate::steps) struct Kind<R> {
    /// The state while the consumer has access (`Delegated`, `Shared`, `Granted`).
    pub held: State,
    /// The record on the request, to change.
    pub record: fn(&mut ShareRequest) -> &mut Option<R>,
    /// The record on the request, to read.
    pub read: fn(&ShareRequest) -> Option<&R>,
}

impl<R: Record> Kind<R> {
    fn current(&self, request: &ShareRequest) -> R {
        (self.read)(request).cloned().unwrap_or_default()
    }
}

/// The first move of a strategy's own work: out of `Submitted` into its working state,
/// under which event name, and which step carries on.
pub(in crate::steps) struct Begin {
    /// `Delegating`, `Sharing`, `Granting`.
    pub to: State,
    /// The history entry's event name.
    pub event: &'static str,
    /// The step that carries on (its timing is recorded as queued).
    pub step: Step,
}

/// Moves a `Submitted` request into the working state in one write, with the strategy's
/// first record (what it started in Azure) and `detail`. A request an earlier step already
/// moved there (a direct share with a VM enters `Sharing` on the admin's approval) gets the
/// record and `detail` as a note. A request elsewhere, or with the record already (another
/// delivery got there first, or it was revoked), is left as it is.
pub(in crate::steps) async fn begin<R: Record>(
    run: &Run<'_>,
    id: RequestId,
    kind: &Kind<R>,
    begin: &Begin,
    detail: &str,
    first: R,
) -> Result<(), StepError> {
    let event = run.event();
    record::update(run.ctx, id, |r| {
        let entry = match r.state() {
            State::Submitted => r.transition(begin.to, begin.event, detail.to_owned(), &event)?,
            s if s == begin.to && (kind.read)(r).is_none() => {
                r.note(begin.event, detail.to_owned(), &event)
            }
            _ => return Ok(Write::Keep(())),
        };
        *(kind.record)(r) = Some(first.clone());
        r.steps.queued(begin.step, event.at);
        Ok(Write::Save(vec![entry], ()))
    })
    .await
    .map(|_| ())
}

/// How access is taken up: from which state, under which event name, for how many days, and
/// which step ends it.
pub(in crate::steps) struct Hold {
    /// The state the request must be in (`Delegating`, `Sharing`, `Granting`).
    pub from: State,
    /// The history entry's event name.
    pub event: &'static str,
    /// The lifetime the request asked for, in days.
    pub days: fn(&ShareRequest) -> u32,
    /// The step that ends the access.
    pub end: Step,
}

/// Moves the request into the held state in one write: `fill` records what the step found
/// on the strategy's record (given the expiry) and returns the history detail; the end is a
/// scheduled message at the expiry, with the reconciler behind it. The request as written.
pub(in crate::steps) async fn hold<R: Record>(
    run: &Run<'_>,
    id: RequestId,
    kind: &Kind<R>,
    hold: &Hold,
    fill: impl Fn(&mut R, OffsetDateTime, OffsetDateTime) -> String,
) -> Result<ShareRequest, StepError> {
    let event = run.event();
    let (request, ()) = record::update(run.ctx, id, |r| {
        if r.state() != hold.from {
            return Ok(Write::Keep(()));
        }
        let expires = event.at + time::Duration::days(i64::from((hold.days)(r)));
        let detail = fill(
            (kind.record)(r).get_or_insert_with(R::default),
            event.at,
            expires,
        );
        let entry = r.transition(kind.held, hold.event, detail, &event)?;
        r.progress.rechecks.next_run_at = Some(expires);
        r.send_after_write(StepMessage::first(r.id, hold.end), Some(expires));
        Ok(Write::Save(vec![entry], ()))
    })
    .await?;
    Ok(request)
}

/// An instant as RFC 3339, for history details.
pub(in crate::steps) fn rfc3339(t: OffsetDateTime) -> String {
    t.format(&time::format_description::well_known::Rfc3339)
        .unwrap_or_default()
}

/// What a notice says in the history.
pub(in crate::steps) struct NoticeText {
    /// The intent's label.
    pub label: &'static str,
    /// The history entry's event name.
    pub event: &'static str,
    /// Its detail once sent.
    pub sent: &'static str,
}

/// Sends the consumer's notice once, in the held state: an intent is recorded first (with
/// whatever `prepare` adds to the record), so a crash after it never sends a second mail; the
/// status document's `nextAction` carries the same. With `status` notifications nothing is
/// sent.
pub(in crate::steps) async fn notice_once<R, F, Fut>(
    run: &Run<'_>,
    request: &ShareRequest,
    kind: &Kind<R>,
    text: &NoticeText,
    prepare: impl Fn(&mut R),
    send: F,
) -> Result<Outcome, StepError>
where
    R: Record,
    F: FnOnce() -> Fut,
    Fut: Future<Output = Result<(), AzureError>>,
{
    let mut current = kind.current(request);
    let (intent, sent_at) = current.notice();
    if sent_at.is_some()
        || intent.is_some()
        || matches!(run.ctx.settings.notify, NotifySettings::StatusOnly)
    {
        return Ok(Outcome::AlreadyDone);
    }
    let at = run.ctx.clock.now();
    let (_, go) = record::update(run.ctx, request.id, |r| {
        let held = r.state() == kind.held;
        let Some(d) = (kind.record)(r).as_mut() else {
            return Ok(Write::Keep(false));
        };
        let (intent, _) = d.notice();
        if intent.is_some() || !held {
            return Ok(Write::Keep(false));
        }
        *intent = Some(Intent {
            at,
            label: text.label.into(),
        });
        prepare(d);
        Ok(Write::Save(Vec::new(), true))
    })
    .await?;
    if !go {
        return Ok(Outcome::AlreadyDone);
    }
    let sent = send().await;
    let event = run.event();
    record::update(run.ctx, request.id, |r| {
        let detail = match &sent {
            Ok(()) => text.sent.to_owned(),
            Err(e) => format!(
                "The notice could not be sent ({e}); the status document's nextAction has the same steps."
            ),
        };
        let entry = r.note(text.event, detail, &event);
        if let Some(d) = (kind.record)(r).as_mut()
            && sent.is_ok()
        {
            *d.notice().1 = Some(event.at);
        }
        Ok(Write::Save(vec![entry], ()))
    })
    .await?;
    Ok(Outcome::Done)
}

/// Whether the end step may go on: in the held state only once the end is due (early, it
/// looks again at the expiry: Service Bus's clock and ours may differ, a redelivery can come
/// at any time), in `Revoking` unless a newer chain superseded this message; otherwise the
/// outcome to answer.
pub(in crate::steps) async fn end_may_go<R: Record>(
    run: &Run<'_>,
    request: &ShareRequest,
    kind: &Kind<R>,
    waiting_for: &str,
) -> Result<Option<Outcome>, StepError> {
    let now = run.ctx.clock.now();
    match request.state() {
        s if s == kind.held => {
            let record = kind.current(request);
            if record.end_is_due(now) {
                return Ok(None);
            }
            let wait = record
                .expires_at()
                .map_or(time::Duration::ZERO, |at| at - now);
            rechecks::again(
                run,
                Duration::try_from(wait).unwrap_or_default(),
                waiting_for.to_owned(),
            )
            .await
            .map(Some)
        }
        State::Revoking => Ok(rechecks::superseded(run, request)),
        s => Ok(Some(Outcome::Stale(format!("the request is {s}")))),
    }
}

/// How an end reads in the history.
pub(in crate::steps) struct EndText {
    /// The event and detail of `Completed`.
    pub completed: (&'static str, String),
    /// The detail of `Revoked`.
    pub revoked: &'static str,
    /// Added when something stays for another request.
    pub kept: &'static str,
}

/// Records the end: one entry per removal and per kept resource, then `Completed` (from the
/// held state) or `Revoked`, the removals on the strategy's record and the revocation's.
pub(in crate::steps) async fn finish<R: Record>(
    run: &Run<'_>,
    id: RequestId,
    kind: &Kind<R>,
    removed: &[Removal],
    kept: &[Kept],
    text: &EndText,
) -> Result<Outcome, StepError> {
    let event = run.event();
    record::update(run.ctx, id, |r| {
        let to = match r.state() {
            s if s == kind.held => State::Completed,
            State::Revoking => State::Revoked,
            _ => return Ok(Write::Keep(())),
        };
        let mut entries: Vec<_> = removed
            .iter()
            .map(|m| r.note("removed", m.describe(), &event))
            .collect();
        for k in kept {
            entries.push(r.note(
                "kept",
                format!("The {} {} stays: {}", k.what.label(), k.id, k.reason),
                &event,
            ));
        }
        let (name, detail) = if to == State::Completed {
            (text.completed.0, text.completed.1.clone())
        } else {
            ("revoked", text.revoked.to_owned())
        };
        let detail = if kept.is_empty() {
            detail
        } else {
            format!("{detail} {}", text.kept)
        };
        entries.push(r.transition(to, name, detail, &event)?);
        if let Some(d) = (kind.record)(r).as_mut() {
            d.removed().extend(removed.iter().cloned());
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
