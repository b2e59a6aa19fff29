//! Preview features (Azure Feature Exposure Control, `Microsoft.Features`):
//! `GET /subscriptions/{s}/providers/Microsoft.Features/providers/{ns}/features[/{name}]`,
//! `GET /subscriptions/{s}/providers/Microsoft.Features/features`, and
//! `POST .../features/{name}/register|unregister` — what `az feature show|list|register`
//! send. The answer is the shape `az feature register` prints (Azure/azure-cli#29263):
//! `{"id", "name": "{ns}/{name}", "properties": {"state"}, "type":
//! "Microsoft.Features/providers/features"}`.
//!
//! A subscription's registrations come from the scenario (`registeredFeatures`); every other
//! known feature is `NotRegistered`. `Microsoft.Compute/SIGSharing` is the feature behind the
//! direct shared gallery preview: the docs gate publishing behind a request form
//! (<https://aka.ms/directsharedgallery-preview>), and a registration without that approval
//! stays `Pending`, so `register` answers `Pending` for it (an assumption: the docs do not show
//! the state); other known features register at once (assumed).

use http::Method;
use serde_json::{Value, json};

use super::{ArmError, Call, Reply, method_not_allowed};
use crate::context::World;

/// `state` of a registered feature.
pub const REGISTERED: &str = "Registered";
/// `state` of a feature never registered.
pub const NOT_REGISTERED: &str = "NotRegistered";
/// The direct shared gallery preview (`az feature register --namespace Microsoft.Compute
/// --name SIGSharing`). Without it Compute answers "Subscription {id} is not registered for
/// feature Microsoft.Compute/SIGSharing" to a gallery created with `permissions: Groups`.
pub const SIG_SHARING: &str = "Microsoft.Compute/SIGSharing";

/// Features the simulator knows besides the scenario's: the Compute Gallery previews the
/// docs and issue threads name (`SIGSharing`, `SIGEncryption`, `SIGSoftDelete`,
/// `CommunityGalleries`).
const CATALOG: &[&str] = &[
    SIG_SHARING,
    "Microsoft.Compute/SIGEncryption",
    "Microsoft.Compute/SIGSoftDelete",
    "Microsoft.Compute/CommunityGalleries",
];

/// Features whose registration waits for an approval the simulator never gives.
const APPROVAL_REQUIRED: &[&str] = &[SIG_SHARING];

/// The state key of `feature` (`{ns}/{name}`) in `subscription`.
pub fn key(subscription: &str, feature: &str) -> String {
    format!(
        "{}|{}",
        subscription.to_ascii_lowercase(),
        feature.to_ascii_lowercase()
    )
}

/// The feature's state in the subscription (`NotRegistered` when never registered).
pub fn state(world: &World, subscription: &str, feature: &str) -> String {
    world
        .arm
        .features
        .get(&key(subscription, feature))
        .cloned()
        .unwrap_or_else(|| NOT_REGISTERED.to_owned())
}

/// True when the feature is `Registered` in the subscription.
pub fn is_registered(world: &World, subscription: &str, feature: &str) -> bool {
    state(world, subscription, feature) == REGISTERED
}

/// The known feature `{ns}/{name}` as it is spelled, if known.
fn known(call: &Call<'_>, feature: &str) -> Option<String> {
    CATALOG
        .iter()
        .map(|f| (*f).to_owned())
        .chain(
            call.ctx
                .scenario
                .subscriptions
                .iter()
                .flat_map(|s| s.registered_features.iter().cloned()),
        )
        .find(|f| f.eq_ignore_ascii_case(feature))
}

/// Every known feature, once each, in catalog then scenario order.
fn all_known(call: &Call<'_>) -> Vec<String> {
    let mut out: Vec<String> = vec![];
    for f in CATALOG.iter().map(|f| (*f).to_owned()).chain(
        call.ctx
            .scenario
            .subscriptions
            .iter()
            .flat_map(|s| s.registered_features.iter().cloned()),
    ) {
        if !out.iter().any(|o| o.eq_ignore_ascii_case(&f)) {
            out.push(f);
        }
    }
    out
}

fn body(subscription: &str, feature: &str, state: &str) -> Value {
    let (ns, name) = feature.split_once('/').unwrap_or(("", feature));
    json!({
        "id": format!("/subscriptions/{subscription}/providers/Microsoft.Features/providers/{ns}/features/{name}"),
        "name": feature,
        "properties": {"state": state},
        "type": "Microsoft.Features/providers/features",
    })
}

fn not_found(name: &str) -> ArmError {
    ArmError::not_found(
        "FeatureNotFound",
        format!("The feature '{name}' could not be found."),
    )
}

/// True for a path this module serves.
pub fn serves(call: &Call<'_>) -> bool {
    call.path
        .scope
        .to_ascii_lowercase()
        .ends_with("/providers/microsoft.features")
        || call
            .path
            .full_type()
            .eq_ignore_ascii_case("Microsoft.Features/features")
}

/// Routes `Microsoft.Features` calls.
pub fn route(call: &Call<'_>, world: &mut World) -> Result<Reply, ArmError> {
    let Some(p) = &call.path.provider else {
        return Err(method_not_allowed(call));
    };
    let sub = call.path.subscription.clone().unwrap_or_default();
    let root = format!("/subscriptions/{sub}");
    let types: Vec<String> = p.types.iter().map(|t| t.to_ascii_lowercase()).collect();
    let types: Vec<&str> = types.iter().map(String::as_str).collect();
    let list_all = p.namespace.eq_ignore_ascii_case("Microsoft.Features");
    match (types.as_slice(), p.names.as_slice(), &call.req.method) {
        (["features"], [], &Method::GET) => {
            call.authorize(world, "Microsoft.Features/features/read", &root)?;
            let items = all_known(call)
                .into_iter()
                .filter(|f| {
                    list_all
                        || f.split_once('/')
                            .is_some_and(|(ns, _)| ns.eq_ignore_ascii_case(&p.namespace))
                })
                .map(|f| body(&sub, &f, &state(world, &sub, &f)))
                .collect();
            Ok(Reply::ok(super::resources::page(call, items)))
        }
        (["features"], [name], &Method::GET) if !list_all => {
            call.authorize(world, "Microsoft.Features/providers/features/read", &root)?;
            let feature =
                known(call, &format!("{}/{name}", p.namespace)).ok_or_else(|| not_found(name))?;
            Ok(Reply::ok(body(
                &sub,
                &feature,
                &state(world, &sub, &feature),
            )))
        }
        (["features", action @ ("register" | "unregister")], [name], &Method::POST)
            if !list_all =>
        {
            call.authorize(
                world,
                &format!("Microsoft.Features/providers/features/{action}/action"),
                &root,
            )?;
            let feature =
                known(call, &format!("{}/{name}", p.namespace)).ok_or_else(|| not_found(name))?;
            let before = state(world, &sub, &feature);
            let after = match *action {
                "register" if before == REGISTERED => REGISTERED,
                "register" if APPROVAL_REQUIRED.contains(&feature.as_str()) => "Pending",
                "register" => REGISTERED,
                _ => "Unregistered",
            };
            world
                .arm
                .features
                .insert(key(&sub, &feature), after.to_owned());
            Ok(Reply::ok(body(&sub, &feature, after)))
        }
        _ => Err(method_not_allowed(call)),
    }
}
