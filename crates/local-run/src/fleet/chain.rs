//! The chain bound: the least time the run could take if imageshare's own work took none.
//!
//! The throttling bound says what Azure's budgets allow; it is 0 when no budget binds. What
//! then sets a share's time is its chain: two people and Azure's provisioning. Request `r`
//! of tenant `T` can end no sooner than
//!
//! ```text
//! max(created_r + approve_r, min over T's requests (created + approve) + grant_T + applies) + build
//! ```
//!
//! where `approve_r` is the pause its admin took before approving (the script draws it when
//! the mail arrives; here it counts from the submission, as if the mail took no time),
//! `grant_T` the pause before granting the app Contributor (once per tenant, after its first
//! approval), `applies` the time a new role assignment takes before Resource Manager's
//! authorization sees it (the scenario's `replication.roleAssignmentSeconds`: no check can
//! see a grant sooner), and `build` the fastest CreateVm of the run, from its first message to its
//! result (the recorded operations' `InProgress` answers at their `Retry-After`, and what
//! CreateVm did in between). The bound is the latest such end, counted from the run's start.
//! Everything imageshare does between those moments (issuing the credentials, sending the
//! mail, noticing the grant, queueing behind other invocations) is what the run's time spends
//! above it.
//!
//! Where Compute's `PutVM3Min` binds, neither bound alone is the least time: the throttling
//! bound counts only the PUTs (the 241st of a subscription three minutes after the first),
//! the chain bound only the pauses. Both at once: each request is ready for its VM PUT at its
//! chain's end minus the build, plus the fastest lead from CreateVm's first message to the
//! PUT Resource Manager accepted (`vm-creation-started`); per subscription, the PUTs go in
//! the order they are ready, each as soon as the window allows (`size` in any `window`:
//! the k-th no sooner than the (k - size)-th plus the window); each ends the fastest tail
//! after (from the accepted PUT to `Completed`) later. In that order each PUT is as early as
//! any order allows, so the latest end is a bound no schedule can beat.

use std::{collections::HashMap, time::Duration};

use serde_json::Value;
use time::OffsetDateTime;

use super::step_times::time_at;

/// What one admin script took: its pauses by request, and its grant pause.
#[derive(Clone, Debug, Default)]
pub struct Pauses {
    /// The tenant.
    pub tenant: String,
    /// The approval pause of each request the admin answered, by request id.
    pub approve: HashMap<String, Duration>,
    /// The pause before the Contributor grant (the first, if ever more than one).
    pub grant: Option<Duration>,
    /// When that grant was made (the lags measure from it; the bound from the pauses).
    pub granted_at: Option<OffsetDateTime>,
}

/// The bound and how it was found.
#[derive(Clone, Debug, PartialEq)]
pub struct ChainBound {
    /// Seconds from the run's start to the latest least end.
    pub seconds: f64,
    /// The fastest CreateVm of the run, in seconds.
    pub build_seconds: f64,
    /// The time a grant took to apply, in seconds.
    pub applies_seconds: u64,
    /// Requests that went into it (completed, with an approval pause on record).
    pub requests: usize,
    /// The same with Compute's limit on VM PUTs per subscription, when one is given: seconds
    /// from the run's start to the latest end.
    pub with_put_window: Option<f64>,
}

/// A limit on an operation per sliding window and subscription (Compute's `PutVM3Min`).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct PutWindow {
    /// Operations allowed in any window.
    pub size: usize,
    /// The window.
    pub window: Duration,
}

/// The fastest lead (CreateVm's first message to the accepted PUT) and tail (the accepted
/// PUT to the result) among the completed `statuses`.
fn fastest_lead_and_tail(statuses: &[Value]) -> Option<(Duration, Duration)> {
    let mut lead: Option<Duration> = None;
    let mut tail: Option<Duration> = None;
    for s in statuses.iter().filter(|s| s["state"] == "Completed") {
        let step = &s["steps"]["create-vm"];
        let accepted = s["history"].as_array().and_then(|h| {
            h.iter()
                .find(|e| e["event"] == "vm-creation-started")
                .and_then(|e| time_at(&e["at"]))
        });
        let (Some(started), Some(accepted), Some(done)) = (
            time_at(&step["startedAt"]),
            accepted,
            time_at(&step["completedAt"]),
        ) else {
            continue;
        };
        let (Ok(l), Ok(t)) = (
            Duration::try_from(accepted - started),
            Duration::try_from(done - accepted),
        ) else {
            continue;
        };
        lead = Some(lead.map_or(l, |x| x.min(l)));
        tail = Some(tail.map_or(t, |x| x.min(t)));
    }
    Some((lead?, tail?))
}

/// The latest end when each subscription's PUTs, ready at `ready`, go in order as soon as
/// `limit` allows and each ends `tail` later.
fn windowed_end(
    ready: HashMap<&str, Vec<OffsetDateTime>>,
    limit: PutWindow,
    tail: Duration,
) -> Option<OffsetDateTime> {
    let mut latest: Option<OffsetDateTime> = None;
    for (_, mut times) in ready {
        times.sort();
        let mut put: Vec<OffsetDateTime> = Vec::with_capacity(times.len());
        for (k, at) in times.iter().enumerate() {
            let allowed = match k.checked_sub(limit.size.max(1)) {
                Some(earlier) => (*at).max(put[earlier] + limit.window),
                None => *at,
            };
            put.push(allowed);
            latest = latest.max(Some(allowed + tail));
        }
    }
    latest
}

/// The fastest CreateVm among `statuses`, from its first message to its result.
fn fastest_build(statuses: &[Value]) -> Option<Duration> {
    statuses
        .iter()
        .filter(|s| s["state"] == "Completed")
        .filter_map(|s| {
            let step = &s["steps"]["create-vm"];
            let took = time_at(&step["completedAt"])? - time_at(&step["startedAt"])?;
            Duration::try_from(took).ok()
        })
        .min()
}

/// The chain bound of a run that started at `started` (the simulator's clock), from the
/// final status documents and the admins' pauses; `None` without a completed request.
pub fn chain_bound(
    started: OffsetDateTime,
    statuses: &[Value],
    pauses: &[Pauses],
    applies: Duration,
    put_window: Option<PutWindow>,
) -> Option<ChainBound> {
    let build = fastest_build(statuses)?;
    let by_tenant: HashMap<&str, &Pauses> = pauses.iter().map(|p| (p.tenant.as_str(), p)).collect();
    // Each completed request's earliest approval, grouped by tenant.
    let mut approvals: HashMap<&str, Vec<(OffsetDateTime, &str)>> = HashMap::new();
    for s in statuses.iter().filter(|s| s["state"] == "Completed") {
        let (Some(id), Some(tenant), Some(created), Some(subscription)) = (
            s["id"].as_str(),
            s["consumer"]["tenantId"].as_str(),
            time_at(&s["createdAt"]),
            s["consumer"]["subscriptionId"].as_str(),
        ) else {
            continue;
        };
        let Some(pause) = by_tenant.get(tenant).and_then(|p| p.approve.get(id)) else {
            continue;
        };
        approvals
            .entry(tenant)
            .or_default()
            .push((created + *pause, subscription));
    }
    let lead_and_tail = fastest_lead_and_tail(statuses);
    let mut latest = started;
    let mut requests = 0;
    // When each request may start CreateVm, by its subscription.
    let mut ready: HashMap<&str, Vec<OffsetDateTime>> = HashMap::new();
    for (tenant, approved) in &approvals {
        let Some(first) = approved.iter().map(|(a, _)| *a).min() else {
            continue;
        };
        let granted = first + by_tenant[tenant].grant.unwrap_or_default() + applies;
        for (a, subscription) in approved {
            let start = (*a).max(granted);
            latest = latest.max(start + build);
            requests += 1;
            if let Some((lead, _)) = lead_and_tail {
                ready.entry(subscription).or_default().push(start + lead);
            }
        }
    }
    let with_put_window = match (put_window, lead_and_tail) {
        (Some(limit), Some((_, tail))) => {
            windowed_end(ready, limit, tail).map(|end| (end.max(latest) - started).as_seconds_f64())
        }
        _ => None,
    };
    Some(ChainBound {
        seconds: (latest - started).as_seconds_f64(),
        build_seconds: build.as_secs_f64(),
        applies_seconds: applies.as_secs(),
        requests,
        with_put_window,
    })
}

#[cfg(test)]
mod tests {
    use serde_json::json;
    use time::macros::datetime;

    use super::*;

    fn status(id: &str, tenant: &str, created: &str, vm: (&str, &str)) -> Value {
        json!({
            "id": id, "state": "Completed", "createdAt": created,
            "consumer": {"tenantId": tenant, "subscriptionId": "s1"},
            "steps": {"create-vm": {"startedAt": vm.0, "completedAt": vm.1}},
        })
    }

    #[test]
    fn the_bound_is_the_latest_request_after_its_admins_pauses_and_the_fastest_build() {
        let t0 = datetime!(2026-12-07 08:00:00 UTC);
        let statuses = [
            // Builds of 100 s and 80 s: the bound uses 80.
            status(
                "a",
                "t1",
                "2026-12-07T08:00:00Z",
                ("2026-12-07T08:02:00Z", "2026-12-07T08:03:40Z"),
            ),
            status(
                "b",
                "t1",
                "2026-12-07T08:00:10Z",
                ("2026-12-07T08:03:00Z", "2026-12-07T08:04:20Z"),
            ),
            json!({"id": "c", "state": "Failed", "createdAt": "2026-12-07T08:00:00Z",
                   "consumer": {"tenantId": "t1"}}),
        ];
        let pauses = [Pauses {
            tenant: "t1".into(),
            approve: HashMap::from([
                ("a".into(), Duration::from_secs(30)),
                ("b".into(), Duration::from_secs(60)),
                ("c".into(), Duration::from_secs(5)),
            ]),
            grant: Some(Duration::from_secs(45)),
            granted_at: None,
        }];
        let bound = chain_bound(t0, &statuses, &pauses, Duration::ZERO, None).unwrap();
        // a approved at 30 s, the grant at 30 + 45 = 75 s; b approved at 70 s: both wait for
        // the grant, and end at 75 + 80 = 155 s. The failed request counts for nothing.
        assert_eq!(bound.seconds, 155.0);
        assert_eq!(bound.build_seconds, 80.0);
        assert_eq!(bound.requests, 2);
        // A grant that applies 10 s after it is made moves both ends by 10 s.
        let applying = chain_bound(t0, &statuses, &pauses, Duration::from_secs(10), None).unwrap();
        assert_eq!(applying.seconds, 165.0);
    }

    #[test]
    fn with_a_put_window_the_third_put_of_two_per_window_waits_a_window_and_its_tail() {
        let t0 = datetime!(2026-12-07 08:00:00 UTC);
        let statuses: Vec<Value> = ["a", "b", "c"]
            .iter()
            .map(|id| {
                let mut s = status(
                    id,
                    "t1",
                    "2026-12-07T08:00:00Z",
                    ("2026-12-07T08:00:30Z", "2026-12-07T08:01:40Z"),
                );
                s["history"] = json!([
                    {"event": "access-confirmed", "at": "2026-12-07T08:00:30Z"},
                    {"event": "vm-creation-started", "at": "2026-12-07T08:00:40Z"},
                ]);
                s
            })
            .collect();
        let pauses = [Pauses {
            tenant: "t1".into(),
            approve: ["a", "b", "c"]
                .iter()
                .map(|id| ((*id).to_owned(), Duration::ZERO))
                .collect(),
            grant: Some(Duration::from_secs(30)),
            granted_at: None,
        }];
        let window = PutWindow {
            size: 2,
            window: Duration::from_secs(180),
        };
        let bound = chain_bound(t0, &statuses, &pauses, Duration::ZERO, Some(window)).unwrap();
        // Each may start CreateVm at 30 s and build in 70 s: 100 s without the window.
        assert_eq!(bound.seconds, 100.0);
        // a and b PUT at 30 + 10 s; c only at 40 + 180 s, and ends its 60 s tail later.
        assert_eq!(bound.with_put_window, Some(280.0));
        // Without the window's limit binding, it is the plain chain bound.
        let roomy = PutWindow { size: 3, ..window };
        let bound = chain_bound(t0, &statuses, &pauses, Duration::ZERO, Some(roomy)).unwrap();
        assert_eq!(bound.with_put_window, Some(100.0));
    }

    #[test]
    fn without_a_completed_request_there_is_no_bound() {
        assert_eq!(
            chain_bound(OffsetDateTime::UNIX_EPOCH, &[], &[], Duration::ZERO, None),
            None
        );
    }
}
