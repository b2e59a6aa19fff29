//! Two deployments (staging and production) in one owner tenant, sharing with the same
//! consumer tenant: each has its own share app, so neither overwrites the other's redirect URI
//! or federated credential.

use azure_sim::{Scenario, scenario::demo};

use crate::harness::{Harness, document};

#[tokio::test]
async fn two_deployments_in_one_owner_tenant_make_two_apps_for_one_consumer_tenant() {
    let staging =
        Harness::start(Scenario::demo(), &[("IMAGESHARE_DEPLOYMENT_ID", "staging")]).await;
    let production = Harness::start_on(
        staging.sim.clone(),
        &[("IMAGESHARE_DEPLOYMENT_ID", "production")],
    )
    .await;

    let first = staging.submit(&document()).await;
    let second = production.submit(&document()).await;
    let staged = staging.until_state(first, "AwaitingConsent").await;
    let produced = production.until_state(second, "AwaitingConsent").await;

    let state = staging.sim.state();
    let named = |deployment: &str| {
        let unique_name = format!("imageshare-{deployment}-{}", demo::FABRIKAM_TENANT);
        state
            .applications
            .iter()
            .filter(|a| a.unique_name.as_deref() == Some(unique_name.as_str()))
            .cloned()
            .collect::<Vec<_>>()
    };
    let (staging_apps, production_apps) = (named("staging"), named("production"));
    assert_eq!(staging_apps.len(), 1, "{:#?}", state.applications);
    assert_eq!(production_apps.len(), 1, "{:#?}", state.applications);
    assert_ne!(staging_apps[0].app_id, production_apps[0].app_id);
    assert_eq!(staged["app"]["appId"], staging_apps[0].app_id.as_str());
    assert_eq!(produced["app"]["appId"], production_apps[0].app_id.as_str());
    for app in [&staging_apps[0], &production_apps[0]] {
        assert_eq!(
            app.federated_identity_credentials.len(),
            1,
            "each deployment's credential stays on its own app"
        );
    }
    let legacy = format!("imageshare-{}", demo::FABRIKAM_TENANT);
    assert!(
        state
            .applications
            .iter()
            .all(|a| a.unique_name.as_deref() != Some(legacy.as_str())),
        "no app under the name without a deployment id"
    );
}
