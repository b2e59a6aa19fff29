//! ARM's request budgets per principal and subscription (reads, writes, deletes), reported
//! in `x-ms-ratelimit-remaining-subscription-*` and enforced with 429 + `Retry-After`; and
//! Compute's own per-operation quotas (`x-ms-ratelimit-remaining-resource`).
//!
//! Two ARM models: the hourly windows of [`ArmThrottling`] (always on, the figures behind
//! the recorded headers) and, when `arm.regionalThrottling` is set, the regional token
//! buckets of 2024 ([`charge_regional`]). Every 429 is logged in `world.throttling`.

use std::collections::{HashMap, VecDeque};

use http::StatusCode;
use time::{Duration, OffsetDateTime};

use super::{
    ArmError,
    reply::{RateClass, Remaining},
};
use crate::{
    context::World,
    scenario::{ArmRegionalThrottling, ArmThrottling},
    throttling::TokenBucket,
};

/// Request times per (subscription, principal, class), Compute quota use, and the regional
/// token buckets by key.
#[derive(Debug, Default)]
pub struct Usage {
    requests: HashMap<(String, String, &'static str), VecDeque<OffsetDateTime>>,
    resource: HashMap<(String, &'static str), VecDeque<OffsetDateTime>>,
    buckets: HashMap<String, TokenBucket>,
}

/// Charges one request to the regional token buckets: the principal's bucket for its
/// subscription (or, without a subscription in the path, for its tenant) and operation type,
/// and the subscription's global bucket for that type. What remains, or 429 with
/// `Retry-After` (whole seconds until a token is back in every empty bucket). A refused
/// request takes no token: "your request isn't processed".
pub fn charge_regional(
    world: &mut World,
    cfg: &ArmRegionalThrottling,
    tenant: &str,
    subscription: Option<&str>,
    principal: &str,
    class: RateClass,
    now: OffsetDateTime,
) -> Result<Remaining, ArmError> {
    let figures = match (subscription.is_some(), class) {
        (true, RateClass::Reads) => cfg.reads,
        (true, RateClass::Writes) => cfg.writes,
        (true, RateClass::Deletes) => cfg.deletes,
        (false, RateClass::Reads) => cfg.tenant_reads,
        (false, RateClass::Writes) => cfg.tenant_writes,
        (false, RateClass::Deletes) => cfg.tenant_deletes,
    };
    let word = class.word();
    let own_key = format!(
        "arm/{}/{}/{}/{word}",
        tenant.to_ascii_lowercase(),
        subscription.map_or_else(|| "tenant".to_owned(), str::to_ascii_lowercase),
        principal.to_ascii_lowercase()
    );
    world.throttling.observe(&own_key, now);
    let size = figures.bucket;
    let rate = f64::from(figures.refill_per_second);
    let global = subscription.map(|sub| {
        (
            format!("arm/global/{}/{word}", sub.to_ascii_lowercase()),
            figures.bucket.saturating_mul(cfg.global_multiplier),
            f64::from(
                figures
                    .refill_per_second
                    .saturating_mul(cfg.global_multiplier),
            ),
        )
    });
    let buckets = &mut world.arm.usage.buckets;
    let mut own = *buckets
        .entry(own_key.clone())
        .or_insert_with(|| TokenBucket::full(size, now));
    own.refill(size, rate, now);
    let mut global_bucket = global.as_ref().map(|(key, gsize, grate)| {
        let mut b = *buckets
            .entry(key.clone())
            .or_insert_with(|| TokenBucket::full(*gsize, now));
        b.refill(*gsize, *grate, now);
        (key.clone(), b, *grate)
    });
    let own_empty = !own.has(1.0);
    let global_empty = global_bucket.as_ref().is_some_and(|(_, b, _)| !b.has(1.0));
    if own_empty || global_empty {
        let mut wait = 1;
        if own_empty {
            wait = wait.max(own.seconds_until(1.0, rate));
        }
        if let Some((_, b, grate)) = global_bucket.as_ref().filter(|_| global_empty) {
            wait = wait.max(b.seconds_until(1.0, *grate));
        }
        buckets.insert(own_key.clone(), own);
        if let Some((key, b, _)) = global_bucket {
            buckets.insert(key, b);
        }
        world.throttling.throttled("arm", own_key, wait, now);
        let kind = word.trim_end_matches('s');
        // ARM's wording as real 429s quote it; the global and tenant variants are assumed.
        let (code, message) = match subscription {
            Some(sub) if own_empty => (
                "SubscriptionRequestsThrottled",
                format!(
                    "Number of '{kind}' requests for subscription '{sub}' actor '{principal}' exceeded. Please try again after '{wait}' seconds after additional tokens are available. Refer to https://aka.ms/arm-throttling for additional information."
                ),
            ),
            Some(sub) => (
                "SubscriptionRequestsThrottled",
                format!(
                    "Number of '{kind}' requests for subscription '{sub}' exceeded the global limit. Please try again after '{wait}' seconds after additional tokens are available. Refer to https://aka.ms/arm-throttling for additional information."
                ),
            ),
            None => (
                "TenantRequestsThrottled",
                format!(
                    "Number of '{kind}' requests for tenant '{tenant}' actor '{principal}' exceeded. Please try again after '{wait}' seconds after additional tokens are available. Refer to https://aka.ms/arm-throttling for additional information."
                ),
            ),
        };
        let remaining = Remaining {
            class,
            left: own.remaining(),
            global: global_bucket_remaining(world, global.as_ref()),
            tenant_level: subscription.is_none(),
        };
        let mut e = ArmError::new(StatusCode::TOO_MANY_REQUESTS, code, message)
            .header("retry-after", wait.to_string());
        for (name, value) in remaining.headers() {
            e = e.header(name, value);
        }
        return Err(e);
    }
    own.take(1.0);
    buckets.insert(own_key, own);
    let global_left = global_bucket.as_mut().map(|(key, b, _)| {
        b.take(1.0);
        let left = b.remaining();
        buckets.insert(key.clone(), *b);
        left
    });
    Ok(Remaining {
        class,
        left: own.remaining(),
        global: global_left,
        tenant_level: subscription.is_none(),
    })
}

fn global_bucket_remaining(world: &World, global: Option<&(String, u32, f64)>) -> Option<u32> {
    let (key, _, _) = global?;
    world.arm.usage.buckets.get(key).map(TokenBucket::remaining)
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
    let bucket = format!(
        "arm/{}/{}/{}",
        subscription.to_ascii_lowercase(),
        principal.to_ascii_lowercase(),
        class.word()
    );
    if used >= limit {
        let oldest = log.front().copied().unwrap_or(now);
        let wait = ((oldest + window) - now).whole_seconds().max(1);
        world.throttling.observe(&bucket, now);
        world.throttling.throttled("arm", bucket, wait, now);
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
    world.throttling.observe(&bucket, now);
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
    let bucket = format!("compute/{}/{name}", subscription.to_ascii_lowercase());
    world.throttling.observe(&bucket, now);
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
        world.throttling.throttled("compute", bucket, wait, now);
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
