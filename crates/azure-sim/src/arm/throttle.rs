//! ARM's request budgets per principal and subscription (reads, writes, deletes), reported
//! in `x-ms-ratelimit-remaining-subscription-*` and enforced with 429 + `Retry-After`; and
//! Compute's own per-operation quotas (`x-ms-ratelimit-remaining-resource`).

use std::collections::{HashMap, VecDeque};

use http::StatusCode;
use time::{Duration, OffsetDateTime};

use super::{ArmError, reply::RateClass};
use crate::{context::World, scenario::ArmThrottling};

/// Request times per (subscription, principal, class), and Compute quota use.
#[derive(Debug, Default)]
pub struct Usage {
    requests: HashMap<(String, String, &'static str), VecDeque<OffsetDateTime>>,
    resource: HashMap<(String, &'static str), VecDeque<OffsetDateTime>>,
}

fn prune(log: &mut VecDeque<OffsetDateTime>, window: Duration, now: OffsetDateTime) {
    while log.front().is_some_and(|t| *t + window <= now) {
        log.pop_front();
    }
}

/// Charges one request; the remaining budget, or 429 when it is spent (a refused request
/// is not charged: ARM does not process it).
pub fn charge(
    world: &mut World,
    budget: &ArmThrottling,
    subscription: &str,
    principal: &str,
    class: RateClass,
    now: OffsetDateTime,
) -> Result<u32, ArmError> {
    let limit = match class {
        RateClass::Reads => budget.reads,
        RateClass::Writes => budget.writes,
        RateClass::Deletes => budget.deletes,
    };
    let window = Duration::seconds(i64::from(budget.window_seconds.max(1)));
    let log = world
        .arm
        .usage
        .requests
        .entry((
            subscription.to_ascii_lowercase(),
            principal.to_ascii_lowercase(),
            class.word(),
        ))
        .or_default();
    prune(log, window, now);
    let used = u32::try_from(log.len()).unwrap_or(u32::MAX);
    if used >= limit {
        let oldest = log.front().copied().unwrap_or(now);
        let wait = ((oldest + window) - now).whole_seconds().max(1);
        let kind = class.word().trim_end_matches('s');
        return Err(ArmError::new(
            StatusCode::TOO_MANY_REQUESTS,
            "SubscriptionRequestsThrottled",
            format!(
                "Number of '{kind}' requests for subscription '{subscription}' actor '{principal}' exceeded. Please try again after '{wait}' seconds after additional tokens are available. Refer to https://aka.ms/arm-throttling for additional information."
            ),
        )
        .header("retry-after", wait.to_string()));
    }
    log.push_back(now);
    Ok(limit - used - 1)
}

/// A Compute operation quota: `(policy, per 3 minutes, per 30 minutes)`.
pub type ComputePolicy = (&'static str, u32, u32);

/// `Microsoft.Compute/PutVM`: 240 per 3 min, 1200 per 30 min (recorded 237/1182 after a few).
pub const PUT_VM: ComputePolicy = ("PutVM", 240, 1200);
/// `Microsoft.Compute/PostShareGallery`: 10 per 3 min, 60 per 30 min (recorded 9/59 after one).
pub const SHARE_GALLERY: ComputePolicy = ("PostShareGallery", 10, 60);
/// `Microsoft.Compute/CreateUpdateGallery`: 50 / 300 (recorded 49/298).
pub const CREATE_GALLERY: ComputePolicy = ("CreateUpdateGallery", 50, 300);

/// Charges a Compute operation; the `x-ms-ratelimit-remaining-resource` value, or 429.
pub fn charge_compute(
    world: &mut World,
    subscription: &str,
    policy: ComputePolicy,
    now: OffsetDateTime,
) -> Result<String, ArmError> {
    let (name, short, long) = policy;
    let log = world
        .arm
        .usage
        .resource
        .entry((subscription.to_ascii_lowercase(), name))
        .or_default();
    prune(log, Duration::minutes(30), now);
    let in_3 = u32::try_from(
        log.iter()
            .filter(|t| **t + Duration::minutes(3) > now)
            .count(),
    )
    .unwrap_or(u32::MAX);
    let in_30 = u32::try_from(log.len()).unwrap_or(u32::MAX);
    if in_3 >= short || in_30 >= long {
        let (window, minutes) = if in_3 >= short {
            ("3Min", 3)
        } else {
            ("30Min", 30)
        };
        let oldest = log
            .iter()
            .find(|t| **t + Duration::minutes(minutes) > now)
            .copied()
            .unwrap_or(now);
        let wait = ((oldest + Duration::minutes(minutes)) - now)
            .whole_seconds()
            .max(1);
        // Compute's wording for an exhausted operation group (observed in public reports).
        return Err(ArmError::new(
            StatusCode::TOO_MANY_REQUESTS,
            "OperationNotAllowed",
            format!(
                "The server rejected the request because too many requests have been received for this subscription. Policy: Microsoft.Compute/{name}{window}."
            ),
        )
        .header("retry-after", wait.to_string())
        .header(
            "x-ms-ratelimit-remaining-resource",
            format!(
                "Microsoft.Compute/{name}3Min;{},Microsoft.Compute/{name}30Min;{}",
                short.saturating_sub(in_3),
                long.saturating_sub(in_30)
            ),
        ));
    }
    log.push_back(now);
    Ok(format!(
        "Microsoft.Compute/{name}3Min;{},Microsoft.Compute/{name}30Min;{}",
        short - in_3 - 1,
        long - in_30 - 1
    ))
}
