//! Where a run spends its time above the chain bound: the lags between the moments a request
//! could move on and the moments it did, from the final status documents and the admins'
//! pauses. The chain bound (`fleet::chain`) counts only people and provisioning; each lag
//! here is imageshare's (or the host's) share of the rest:
//!
//! - `mail`: submission to the approval mail sent (`consent-requested`); the bound counts the
//!   admin's pause from the submission, as if the mail took no time.
//! - `page`: the admin's answer recorded (`consent-reported` through Microsoft's consent page,
//!   `approved` through imageshare's approval page) after the mail plus the pause the admin
//!   took: the pages' own time.
//! - `confirm`: access confirmed (`access-confirmed`) after both the answer and the tenant's
//!   grant applied (when the admin made it, or its first answer plus the admin's grant pause,
//!   plus the time a role assignment takes to apply): ConfirmConsent's cadence.
//! - `queue`: CreateVm's first run after access was confirmed.
//! - `build`: CreateVm's span beyond the fastest of the run.
//! - `finish`: the request completed after CreateVm's result.

use std::{collections::HashMap, time::Duration};

use serde_json::Value;
use time::OffsetDateTime;

use super::{chain::Pauses, step_times::time_at};

/// The lags, in their order along a request.
pub const LAGS: [&str; 6] = ["mail", "page", "confirm", "queue", "build", "finish"];

/// One request's lags, in seconds, in the order of [`LAGS`].
#[derive(Clone, Debug, PartialEq)]
pub struct RequestLags {
    /// The request.
    pub id: String,
    /// When it completed, in seconds from the run's start.
    pub completed: f64,
    /// Its lags.
    pub seconds: [f64; 6],
    /// Its moments, in seconds from the run's start: submitted, mailed, answered, its
    /// tenant's grant applied, access confirmed, CreateVm started, built, completed.
    pub moments: [f64; 8],
}

/// The lags across the run: each lag's median, 90th percentile and longest, and the request
/// that completed last.
#[derive(Clone, Debug, PartialEq)]
pub struct Lags {
    /// Requests measured (completed, with their pauses on record).
    pub requests: usize,
    /// Per lag of [`LAGS`]: median, 90th percentile, longest.
    pub spread: [(f64, f64, f64); 6],
    /// The request that completed last.
    pub latest: Option<RequestLags>,
}

/// The first of `events` in the request's history.
fn event_at(status: &Value, events: &[&str]) -> Option<OffsetDateTime> {
    status["history"]
        .as_array()?
        .iter()
        .find(|e| events.iter().any(|name| e["event"] == *name))
        .and_then(|e| time_at(&e["at"]))
}

fn seconds(d: time::Duration) -> f64 {
    d.as_seconds_f64().max(0.0)
}

fn to_time(d: Duration) -> time::Duration {
    time::Duration::try_from(d).unwrap_or(time::Duration::ZERO)
}

/// One request's moments: what [`lags`] measures between.
struct Moments {
    tenant: String,
    created: OffsetDateTime,
    mailed: OffsetDateTime,
    answered: OffsetDateTime,
    confirmed: OffsetDateTime,
    build_started: OffsetDateTime,
    built: OffsetDateTime,
    completed: OffsetDateTime,
    approve_pause: time::Duration,
}

fn moments(status: &Value, pauses: &HashMap<&str, &Pauses>) -> Option<(String, Moments)> {
    if status["state"] != "Completed" {
        return None;
    }
    let id = status["id"].as_str()?.to_owned();
    let tenant = status["consumer"]["tenantId"].as_str()?.to_owned();
    let approve_pause = to_time(*pauses.get(tenant.as_str())?.approve.get(&id)?);
    let vm = &status["steps"]["create-vm"];
    Some((
        id,
        Moments {
            tenant,
            created: time_at(&status["createdAt"])?,
            mailed: event_at(status, &["consent-requested"])?,
            answered: event_at(status, &["consent-reported", "approved"])?,
            confirmed: event_at(status, &["access-confirmed"])?,
            build_started: time_at(&vm["startedAt"])?,
            built: time_at(&vm["completedAt"])?,
            completed: event_at(status, &["completed"])?,
            approve_pause,
        },
    ))
}

fn spread(mut values: Vec<f64>) -> (f64, f64, f64) {
    values.sort_by(f64::total_cmp);
    let at = |share: f64| {
        let rank = (share * values.len() as f64).ceil() as usize;
        values
            .get(rank.clamp(1, values.len().max(1)) - 1)
            .copied()
            .unwrap_or(0.0)
    };
    (at(0.5), at(0.9), values.last().copied().unwrap_or(0.0))
}

/// The lags of the completed requests among `statuses` of a run that started at `started`;
/// `None` without one.
pub fn lags(
    started: OffsetDateTime,
    statuses: &[Value],
    pauses: &[Pauses],
    applies: Duration,
) -> Option<Lags> {
    let by_tenant: HashMap<&str, &Pauses> = pauses.iter().map(|p| (p.tenant.as_str(), p)).collect();
    let all: Vec<(String, Moments)> = statuses
        .iter()
        .filter_map(|s| moments(s, &by_tenant))
        .collect();
    let fastest = all.iter().map(|(_, m)| m.built - m.build_started).min()?;
    // A tenant's grant comes its grant pause after the admin's first answer.
    let mut granted: HashMap<&str, OffsetDateTime> = HashMap::new();
    for (_, m) in &all {
        let first = granted.entry(m.tenant.as_str()).or_insert(m.answered);
        *first = (*first).min(m.answered);
    }
    for (tenant, at) in &mut granted {
        let pauses = by_tenant.get(tenant);
        // When the admin made it, or, without that, the pause after the first answer.
        *at = match pauses.and_then(|p| p.granted_at) {
            Some(made) => made,
            None => {
                *at + pauses
                    .and_then(|p| p.grant)
                    .map_or(time::Duration::ZERO, to_time)
            }
        } + to_time(applies);
    }
    let measured: Vec<RequestLags> = all
        .iter()
        .map(|(id, m)| {
            let grant = granted
                .get(m.tenant.as_str())
                .copied()
                .unwrap_or(m.answered);
            let at = |t: OffsetDateTime| seconds(t - started);
            RequestLags {
                id: id.clone(),
                completed: at(m.completed),
                moments: [
                    at(m.created),
                    at(m.mailed),
                    at(m.answered),
                    at(grant),
                    at(m.confirmed),
                    at(m.build_started),
                    at(m.built),
                    at(m.completed),
                ],
                seconds: [
                    seconds(m.mailed - m.created),
                    seconds(m.answered - (m.mailed + m.approve_pause)),
                    seconds(m.confirmed - m.answered.max(grant)),
                    seconds(m.build_started - m.confirmed),
                    seconds((m.built - m.build_started) - fastest),
                    seconds(m.completed - m.built),
                ],
            }
        })
        .collect();
    let spread = std::array::from_fn(|i| spread(measured.iter().map(|r| r.seconds[i]).collect()));
    Some(Lags {
        requests: measured.len(),
        spread,
        latest: measured
            .iter()
            .max_by(|a, b| a.completed.total_cmp(&b.completed))
            .cloned(),
    })
}

impl Lags {
    /// The report's lines.
    pub fn render(&self) -> Vec<String> {
        let mut out = vec![format!(
            "lags above the chain, over {} completed requests (median / 90th percentile / longest; the last to complete):",
            self.requests
        )];
        for (i, name) in LAGS.iter().enumerate() {
            let (median, p90, max) = self.spread[i];
            let latest = self
                .latest
                .as_ref()
                .map_or_else(String::new, |r| format!("; last {:.1} s", r.seconds[i]));
            out.push(format!(
                "  {name:<8} {median:>7.1} / {p90:>6.1} / {max:>6.1} s{latest}"
            ));
        }
        if let Some(r) = &self.latest {
            let [
                submitted,
                mailed,
                answered,
                granted,
                confirmed,
                building,
                built,
                completed,
            ] = r.moments;
            out.push(format!(
                "  the last to complete: {} (s from the start: submitted {submitted:.1}, mailed {mailed:.1}, answered {answered:.1}, its tenant's grant applied {granted:.1}, access confirmed {confirmed:.1}, CreateVm {building:.1} to {built:.1}, completed {completed:.1})",
                r.id
            ));
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;
    use time::macros::datetime;

    use super::*;

    fn status(id: &str, answered: &str, confirmed: &str, vm: (&str, &str)) -> Value {
        json!({
            "id": id, "state": "Completed", "createdAt": "2026-12-07T08:00:00Z",
            "consumer": {"tenantId": "t1", "subscriptionId": "s1"},
            "steps": {"create-vm": {"startedAt": vm.0, "completedAt": vm.1}},
            "history": [
                {"event": "consent-requested", "at": "2026-12-07T08:00:04Z"},
                {"event": if id == "a" { "consent-reported" } else { "approved" }, "at": answered},
                {"event": "access-confirmed", "at": confirmed},
                {"event": "completed", "at": vm.1},
            ],
        })
    }

    #[test]
    fn each_lag_is_measured_from_the_moment_the_request_could_have_moved_on() {
        let t0 = datetime!(2026-12-07 08:00:00 UTC);
        let statuses = [
            // Mailed at 4 s, a 20 s pause: answered at 25 s is 1 s of page. The grant comes at
            // 25 + 30 = 55 s, seen at 60 s: 5 s of confirm; CreateVm 2 s later, 90 s long.
            status(
                "a",
                "2026-12-07T08:00:25Z",
                "2026-12-07T08:01:00Z",
                ("2026-12-07T08:01:02Z", "2026-12-07T08:02:32Z"),
            ),
            // Answered after the grant: its confirm lag counts from its own answer (70 s);
            // its build of 100 s is 10 s above the fastest.
            status(
                "b",
                "2026-12-07T08:01:10Z",
                "2026-12-07T08:01:20Z",
                ("2026-12-07T08:01:20Z", "2026-12-07T08:03:00Z"),
            ),
        ];
        let pauses = [Pauses {
            tenant: "t1".into(),
            approve: HashMap::from([
                ("a".into(), Duration::from_secs(20)),
                ("b".into(), Duration::from_secs(60)),
            ]),
            grant: Some(Duration::from_secs(30)),
            granted_at: None,
        }];
        let lags = lags(t0, &statuses, &pauses, Duration::ZERO).unwrap();
        assert_eq!(lags.requests, 2);
        let latest = lags.latest.unwrap();
        assert_eq!(latest.id, "b");
        assert_eq!(latest.completed, 180.0);
        assert_eq!(latest.seconds, [4.0, 6.0, 10.0, 0.0, 10.0, 0.0]);
        assert_eq!(
            latest.moments,
            [0.0, 4.0, 70.0, 55.0, 80.0, 80.0, 180.0, 180.0]
        );
        // confirm: a 5 s, b 10 s; queue: a 2 s, b 0 s.
        assert_eq!(lags.spread[2], (5.0, 10.0, 10.0));
        assert_eq!(lags.spread[3], (0.0, 2.0, 2.0));

        // The grant made at 58 s (the script's own clock), applying 1 s later: a's confirm
        // lag is 1 s; b, answered after it, keeps its 10 s.
        let mut made = pauses;
        made[0].granted_at = Some(datetime!(2026-12-07 08:00:58 UTC));
        let lags = super::lags(t0, &statuses, &made, Duration::from_secs(1)).unwrap();
        assert_eq!(lags.spread[2], (1.0, 10.0, 10.0));
    }
}
