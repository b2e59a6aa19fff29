//! The chain bound: the least time the run could take if imageshare's own work took none.
//!
//! The throttling bound says what Azure's budgets allow; it is 0 when no budget binds. What
//! then sets a share's time is its chain: two people and Azure's provisioning. Request `r`
//! of tenant `T` can end no sooner than
//!
//! ```text
//! max(created_r + approve_r, min over T's requests (created + approve) + grant_T) + build
//! ```
//!
//! where `approve_r` is the pause its admin took before approving (the script draws it when
//! the mail arrives; here it counts from the submission, as if the mail took no time),
//! `grant_T` the pause before granting the app Contributor (once per tenant, after its first
//! approval), and `build` the fastest CreateVm of the run, from its first message to its
//! result (the recorded operations' `InProgress` answers at their `Retry-After`, and what
//! CreateVm did in between). The bound is the latest such end, counted from the run's start.
//! Everything imageshare does between those moments (issuing the credentials, sending the
//! mail, noticing the grant, queueing behind other invocations) is what the run's time spends
//! above it.

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
}

/// The bound and how it was found.
#[derive(Clone, Debug, PartialEq)]
pub struct ChainBound {
    /// Seconds from the run's start to the latest least end.
    pub seconds: f64,
    /// The fastest CreateVm of the run, in seconds.
    pub build_seconds: f64,
    /// Requests that went into it (completed, with an approval pause on record).
    pub requests: usize,
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
) -> Option<ChainBound> {
    let build = fastest_build(statuses)?;
    let by_tenant: HashMap<&str, &Pauses> = pauses.iter().map(|p| (p.tenant.as_str(), p)).collect();
    // Each completed request's earliest approval, grouped by tenant.
    let mut approvals: HashMap<&str, Vec<OffsetDateTime>> = HashMap::new();
    for s in statuses.iter().filter(|s| s["state"] == "Completed") {
        let (Some(id), Some(tenant), Some(created)) = (
            s["id"].as_str(),
            s["consumer"]["tenantId"].as_str(),
            time_at(&s["createdAt"]),
        ) else {
            continue;
        };
        let Some(pause) = by_tenant.get(tenant).and_then(|p| p.approve.get(id)) else {
            continue;
        };
        approvals.entry(tenant).or_default().push(created + *pause);
    }
    let mut latest = started;
    let mut requests = 0;
    for (tenant, approved) in &approvals {
        let Some(first) = approved.iter().min() else {
            continue;
        };
        let granted = *first + by_tenant[tenant].grant.unwrap_or_default();
        for a in approved {
            latest = latest.max((*a).max(granted) + build);
            requests += 1;
        }
    }
    Some(ChainBound {
        seconds: (latest - started).as_seconds_f64(),
        build_seconds: build.as_secs_f64(),
        requests,
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
            "consumer": {"tenantId": tenant},
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
        }];
        let bound = chain_bound(t0, &statuses, &pauses).unwrap();
        // a approved at 30 s, the grant at 30 + 45 = 75 s; b approved at 70 s: both wait for
        // the grant, and end at 75 + 80 = 155 s. The failed request counts for nothing.
        assert_eq!(bound.seconds, 155.0);
        assert_eq!(bound.build_seconds, 80.0);
        assert_eq!(bound.requests, 2);
    }

    #[test]
    fn without_a_completed_request_there_is_no_bound() {
        assert_eq!(chain_bound(OffsetDateTime::UNIX_EPOCH, &[], &[]), None);
    }
}
