//! Where the requests spent their time: each step's span (its first message to its result,
//! from the status documents' `steps`) and its runs, across the run's requests.

use std::collections::BTreeMap;

use serde_json::Value;
use time::{OffsetDateTime, format_description::well_known::Rfc3339};

/// One step across the run's requests.
#[derive(Clone, Debug, PartialEq)]
pub struct StepTimes {
    /// The step (`create-vm`, ...).
    pub step: String,
    /// Requests whose step finished.
    pub finished: usize,
    /// The median span, in seconds.
    pub median: f64,
    /// The 90th percentile span, in seconds.
    pub p90: f64,
    /// The longest span, in seconds.
    pub max: f64,
    /// Runs that recorded something (results and re-checks), on average.
    pub mean_runs: f64,
}

/// A status document's RFC 3339 time.
pub(super) fn time_at(v: &Value) -> Option<OffsetDateTime> {
    v.as_str()
        .and_then(|s| OffsetDateTime::parse(s, &Rfc3339).ok())
}

/// The value at `share` (0 to 1) of sorted `values`, nearest rank.
fn percentile(sorted: &[f64], share: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    let rank = (share * sorted.len() as f64).ceil() as usize;
    sorted[rank.clamp(1, sorted.len()) - 1]
}

/// Every step found in `statuses`, in the order of the steps' names.
pub fn step_times(statuses: &[Value]) -> Vec<StepTimes> {
    let mut spans: BTreeMap<String, (Vec<f64>, u64)> = BTreeMap::new();
    for status in statuses {
        let Some(steps) = status["steps"].as_object() else {
            continue;
        };
        for (step, times) in steps {
            let (Some(started), Some(completed)) =
                (time_at(&times["startedAt"]), time_at(&times["completedAt"]))
            else {
                continue;
            };
            let entry = spans.entry(step.clone()).or_default();
            entry.0.push((completed - started).as_seconds_f64());
            entry.1 += times["runs"].as_u64().unwrap_or(0);
        }
    }
    spans
        .into_iter()
        .map(|(step, (mut seconds, runs))| {
            seconds.sort_by(f64::total_cmp);
            StepTimes {
                finished: seconds.len(),
                median: percentile(&seconds, 0.5),
                p90: percentile(&seconds, 0.9),
                max: seconds.last().copied().unwrap_or(0.0),
                mean_runs: runs as f64 / seconds.len().max(1) as f64,
                step,
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn each_step_gets_its_median_90th_percentile_largest_span_and_mean_runs() {
        let statuses: Vec<Value> = (1..=10)
            .map(|i| {
                json!({"steps": {
                    "create-vm": {
                        "startedAt": "2026-12-07T08:00:00Z",
                        "completedAt": format!("2026-12-07T08:00:{:02}Z", i * 5),
                        "runs": i,
                    },
                    // Not finished: no span.
                    "release-access": {"startedAt": "2026-12-07T08:00:00Z", "runs": 0},
                }})
            })
            .collect();
        let times = step_times(&statuses);
        assert_eq!(times.len(), 1, "{times:?}");
        let vm = &times[0];
        assert_eq!(vm.step, "create-vm");
        assert_eq!(vm.finished, 10);
        assert_eq!((vm.median, vm.p90, vm.max), (25.0, 45.0, 50.0));
        assert_eq!(vm.mean_runs, 5.5);
    }
}
