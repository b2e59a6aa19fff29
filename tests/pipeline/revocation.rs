//! Access that ends: a revocation in any state puts the simulator back as it was before the
//! request (apart from what only the consumer's admin can remove, which the notice lists),
//! twice at once changes nothing more, a tenant's other requests keep what they need, and a
//! request that ends releases the credential that let us act in the consumer's tenant.

use std::collections::BTreeSet;

use azure_sim::{Scenario, Sim, scenario::demo};
use imageshare::domain::RequestId;
use serde_json::Value;

use crate::harness::{Harness, document};

/// What imageshare can create in the owner's tenant and the consumer's subscription, by id:
/// apps (with their credentials), service principals, role assignments and resources.
fn world(sim: &Sim) -> BTreeSet<String> {
    let state = sim.state();
    let mut ids = BTreeSet::new();
    for app in &state.applications {
        ids.insert(format!("app {}", app.id));
        for fic in &app.federated_identity_credentials {
            ids.insert(format!("fic {} {}", app.id, fic.name));
        }
        for secret in &app.password_credentials {
            ids.insert(format!("secret {} {}", app.id, secret.key_id));
        }
    }
    for sp in &state.service_principals {
        ids.insert(format!("sp {} {}", sp.tenant, sp.id));
    }
    for a in &state.role_assignments {
        ids.insert(format!("role {}", a.id.to_ascii_lowercase()));
    }
    for r in &state.resources {
        ids.insert(format!("resource {}", r.id.to_ascii_lowercase()));
    }
    ids
}

/// `DELETE /api/share-requests/{id}`: status and body.
async fn revoke(h: &Harness, id: RequestId, query: &str) -> (u16, Value) {
    let response = h
        .client
        .delete(format!("{}/api/share-requests/{id}{query}", h.url))
        .send()
        .await
        .unwrap();
    let status = response.status().as_u16();
    (status, response.json().await.unwrap())
}

async fn until_revoked(h: &Harness, id: RequestId) -> Value {
    h.run_until(id, |s| s["state"] == "Revoked" || s["state"] == "Failed")
        .await
}

async fn completed(h: &Harness) -> RequestId {
    let id = h.submit(&document()).await;
    h.admin_consents_and_grants(id).await;
    let done = h.run_until(id, |s| s["state"] == "Completed").await;
    assert_eq!(done["state"], "Completed", "{done:#}");
    id
}

fn removed_of(status: &Value, what: &str) -> Vec<Value> {
    status["revocation"]["removed"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|r| r["what"] == what)
        .cloned()
        .collect()
}

/// A token for the demo share app in the consumer's tenant, asked with the Function App's
/// managed identity as the federated assertion, exactly as the handler asks it.
pub(crate) async fn consumer_token_status(h: &Harness, app_id: &str) -> (u16, Value) {
    let mi: Value = reqwest::Client::new()
        .get(format!(
            "{}?api-version=2019-08-01&resource=api://AzureADTokenExchange&client_id={}",
            h.sim.identity_endpoint(),
            demo::OPERATOR_CLIENT_ID
        ))
        .header("x-identity-header", demo::IDENTITY_HEADER)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let assertion = mi["access_token"].as_str().unwrap();
    let request = h
        .transport
        .client()
        .post(format!(
            "https://login.microsoftonline.com/{}/oauth2/v2.0/token",
            demo::FABRIKAM_TENANT
        ))
        .form(&[
            ("client_id", app_id),
            (
                "client_assertion_type",
                "urn:ietf:params:oauth:client-assertion-type:jwt-bearer",
            ),
            ("client_assertion", assertion),
            ("grant_type", "client_credentials"),
            ("scope", "https://management.azure.com/.default"),
        ])
        .build()
        .unwrap();
    let response = h.transport.execute(request).await.unwrap();
    let status = response.status().as_u16();
    (status, response.json().await.unwrap())
}

#[tokio::test]
async fn revoking_a_request_that_waits_for_consent_leaves_the_simulator_as_it_was_before() {
    let h = Harness::start(Scenario::demo(), &[]).await;
    let before = world(&h.sim);
    let id = h.submit(&document()).await;
    h.until_state(id, "AwaitingConsent").await;
    assert_ne!(world(&h.sim), before, "the request created nothing");

    let (status, body) = revoke(&h, id, "").await;
    assert_eq!(status, 202, "{body:#}");
    assert_eq!(body["state"], "Revoking");
    let done = until_revoked(&h, id).await;
    assert_eq!(done["state"], "Revoked", "{done:#}");
    assert_eq!(world(&h.sim), before, "{done:#}");

    // Each removal names the service's id of the call that made it.
    for what in [
        "role-assignment",
        "federated-credential",
        "service-principal",
        "application",
    ] {
        let removals = removed_of(&done, what);
        assert_eq!(removals.len(), 1, "{what}: {done:#}");
        assert_eq!(removals[0]["outcome"], "removed", "{done:#}");
        assert!(
            removals[0]["serviceRequestId"].is_string(),
            "{what} has no service request id: {done:#}"
        );
    }
    let history = done["history"].as_array().unwrap();
    let events: Vec<&str> = history.iter().filter_map(|e| e["event"].as_str()).collect();
    assert!(
        events.contains(&"revoking") && events.ends_with(&["revoked"]),
        "{events:?}"
    );
    assert_eq!(events.iter().filter(|e| **e == "removed").count(), 4);
    // Never consented: nothing of the request is in the consumer's tenant to tell them about.
    assert!(done["revocation"]["consumerActions"].is_null(), "{done:#}");

    // Revoked is the end: a repeat answers 200 and changes nothing.
    let (status, again) = revoke(&h, id, "").await;
    assert_eq!(status, 200);
    assert_eq!(again["history"], done["history"]);
}

#[tokio::test]
async fn revoking_a_completed_request_with_its_resources_deletes_the_vm_and_network_and_lists_the_admins_part()
 {
    let h = Harness::start(Scenario::demo(), &[]).await;
    let before = world(&h.sim);
    let id = completed(&h).await;
    let vm = h.status(id).await["vm"]["id"].as_str().unwrap().to_owned();

    let (status, _) = revoke(&h, id, "?deleteResources=true").await;
    assert_eq!(status, 202);
    let done = until_revoked(&h, id).await;
    assert_eq!(done["state"], "Revoked", "{done:#}");

    let after = world(&h.sim);
    let left: Vec<&String> = after.difference(&before).collect();
    // What is left is exactly the consumer's part: the enterprise app their consent made in
    // their tenant, and the role grant they made on their resource group.
    let consumer_sp = format!("sp {}", demo::FABRIKAM_TENANT);
    assert!(
        left.iter().all(|l| l.starts_with(&consumer_sp)
            || (l.starts_with("role ") && l.contains(demo::FABRIKAM_SUBSCRIPTION))),
        "left behind: {left:#?}"
    );
    assert_eq!(left.len(), 2, "left behind: {left:#?}");
    assert!(!after.contains(&format!("resource {}", vm.to_ascii_lowercase())));
    assert_eq!(removed_of(&done, "virtual-machine").len(), 1, "{done:#}");

    let actions = done["revocation"]["consumerActions"].as_array().unwrap();
    assert_eq!(actions.len(), 2, "{done:#}");
    let app_id = done["app"]["appId"].as_str().unwrap();
    assert_eq!(
        actions[0]["command"],
        format!("az ad sp delete --id {app_id}")
    );
    assert!(
        actions[1]["command"]
            .as_str()
            .unwrap()
            .starts_with("az role assignment delete")
    );
    assert!(
        done["revocation"]["warning"]
            .as_str()
            .unwrap()
            .contains("reimag")
    );
    // The admin was mailed what only they can remove.
    let mails = h.sim.outbox(demo::CONTOSO_TENANT);
    let notice = mails
        .iter()
        .find(|m| m.content.contains("revoked"))
        .expect("a revocation notice");
    assert!(
        notice
            .content
            .contains(&format!("az ad sp delete --id {app_id}"))
    );
}

#[tokio::test]
async fn two_revocations_at_once_end_the_same_and_remove_each_thing_once() {
    let h = Harness::start(Scenario::demo(), &[]).await;
    let before = world(&h.sim);
    let id = h.submit(&document()).await;
    h.until_state(id, "AwaitingConsent").await;
    h.set_concurrent_duplicates(true);

    let (a, b) = tokio::join!(revoke(&h, id, ""), revoke(&h, id, ""));
    assert_eq!((a.0, b.0), (202, 202), "{a:#?} {b:#?}");
    let done = until_revoked(&h, id).await;
    assert_eq!(done["state"], "Revoked", "{done:#}");
    assert_eq!(world(&h.sim), before);

    let history = done["history"].as_array().unwrap();
    let count = |event: &str| history.iter().filter(|e| e["event"] == event).count();
    assert_eq!((count("revoking"), count("revoked")), (1, 1), "{done:#}");
    // The simulator saw one successful delete of the app.
    let app_deletes = h
        .sim
        .requests()
        .iter()
        .filter(|r| {
            r.method == "DELETE"
                && r.host == "graph.microsoft.com"
                && r.path_and_query.starts_with("/v1.0/applications/")
                && !r.path_and_query.contains("federatedIdentityCredentials")
                && r.status == 204
        })
        .count();
    assert_eq!(app_deletes, 1);
}

#[tokio::test]
async fn a_revocation_keeps_what_another_request_of_the_tenant_still_needs() {
    let h = Harness::start(Scenario::demo(), &[]).await;
    let first = h.submit(&document()).await;
    h.until_state(first, "AwaitingConsent").await;
    let mut second_doc = document();
    second_doc["vm"]["name"] = "vm-fabrikam-02".into();
    let second = h.submit(&second_doc).await;
    h.until_state(second, "AwaitingConsent").await;

    revoke(&h, first, "").await;
    let done = until_revoked(&h, first).await;
    assert_eq!(done["state"], "Revoked", "{done:#}");
    let kept: Vec<&str> = done["revocation"]["kept"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|k| k["what"].as_str())
        .collect();
    assert_eq!(
        kept,
        ["role-assignment", "federated-credential", "application"],
        "{done:#}"
    );
    assert!(done["revocation"]["removed"].is_array());

    // The other request goes on to its VM with the app it shares.
    h.consent().await;
    let waiting = h.until_state(second, "AwaitingRoleGrant").await;
    h.grant_contributor(waiting["app"]["appId"].as_str().unwrap())
        .await;
    let other = h.run_until(second, |s| s["state"] == "Completed").await;
    assert_eq!(other["state"], "Completed", "{other:#}");
}

#[tokio::test]
async fn after_a_request_completes_the_operator_can_no_longer_get_a_token_in_the_consumer_tenant() {
    let h = Harness::start(Scenario::demo(), &[]).await;
    let id = completed(&h).await;
    let status = h.run_until(id, |s| s["accessRelease"].is_object()).await;
    let app_id = status["app"]["appId"].as_str().unwrap().to_owned();
    let removed = status["accessRelease"]["removed"].as_array().unwrap();
    assert_eq!(removed.len(), 1, "{status:#}");
    assert_eq!(removed[0]["what"], "federated-credential");
    assert_eq!(removed[0]["outcome"], "removed");

    // Entra: "No matching federated identity record found for presented assertion"
    // (AADSTS70021, a 400 invalid_request when the app has no record left; 700211,
    // invalid_client, when no record has the assertion's issuer).
    let (code, body) = consumer_token_status(&h, &app_id).await;
    assert!(matches!(code, 400 | 401), "{code} {body:#}");
    assert!(
        matches!(
            body["error"].as_str(),
            Some("invalid_request" | "invalid_client")
        ),
        "{body:#}"
    );
    let codes = body["error_codes"].as_array().unwrap();
    assert!(
        codes.contains(&70021.into()) || codes.contains(&700_211.into()),
        "{body:#}"
    );
    // The app and its Reader grant stay: the VM needs the image for reimage.
    assert!(
        h.sim
            .state()
            .applications
            .iter()
            .any(|a| a.app_id == app_id),
        "the app went with the credential"
    );
}

#[tokio::test]
async fn with_the_setting_a_completed_request_keeps_its_credential() {
    let h = Harness::start(
        Scenario::demo(),
        &[("IMAGESHARE_KEEP_ACCESS_AFTER_END", "true")],
    )
    .await;
    let id = completed(&h).await;
    let status = h.run_until(id, |s| s["accessRelease"].is_object()).await;
    let app_id = status["app"]["appId"].as_str().unwrap().to_owned();
    let (code, body) = consumer_token_status(&h, &app_id).await;
    assert_eq!(code, 200, "{body:#}");
    // Recorded as kept by the setting: nothing is pending for the reconciler.
    let kept = &status["accessRelease"]["kept"];
    assert_eq!(kept.as_array().map(Vec::len), Some(1), "{status:#}");
    assert!(
        kept[0]["reason"]
            .as_str()
            .is_some_and(|r| r.contains("IMAGESHARE_KEEP_ACCESS_AFTER_END")),
        "{status:#}"
    );
    let removed = &status["accessRelease"]["removed"];
    assert!(
        removed.is_null() || removed.as_array().is_some_and(Vec::is_empty),
        "{status:#}"
    );
}

#[tokio::test]
async fn revoking_while_the_vm_is_created_stops_the_pipeline_and_deletes_what_it_made() {
    let h = Harness::start(Scenario::demo(), &[]).await;
    let before = world(&h.sim);
    let id = h.submit(&document()).await;
    h.admin_consents_and_grants(id).await;
    let creating = h.until_state(id, "CreatingVm").await;
    assert_eq!(creating["state"], "CreatingVm", "{creating:#}");

    let (status, _) = revoke(&h, id, "?deleteResources=true").await;
    assert_eq!(status, 202);
    let done = until_revoked(&h, id).await;
    assert_eq!(done["state"], "Revoked", "{done:#}");
    // Late CreateVm messages found the request revoked and made nothing more.
    let after = world(&h.sim);
    let left: Vec<&String> = after.difference(&before).collect();
    assert!(
        left.iter()
            .all(|l| !l.contains("microsoft.compute/virtualmachines")
                && !l.contains("microsoft.network/")),
        "left behind: {left:#?}"
    );
    assert_eq!(left.len(), 2, "left behind: {left:#?}");
}

#[tokio::test]
async fn a_bad_parameter_is_refused_and_an_unknown_request_is_not_found() {
    let h = Harness::start(Scenario::demo(), &[]).await;
    let id = h.submit(&document()).await;
    let (status, body) = revoke(&h, id, "?deleteResources=maybe").await;
    assert_eq!(status, 400, "{body:#}");
    assert_eq!(body["status"], 400);
    let unknown = RequestId::new_random();
    let (status, _) = revoke(&h, unknown, "").await;
    assert_eq!(status, 404);
}

#[tokio::test]
async fn a_release_that_keeps_the_credential_for_another_request_does_not_wait_for_the_tenants_lock()
 {
    use imageshare::store::{RequestStore, VmClaim};

    let h = Harness::start(Scenario::demo(), &[]).await;
    let first = h.submit(&document()).await;
    let second = h.submit(&crate::approval::second_document()).await;
    h.admin_consents_and_grants(first).await;
    let done = h.run_until(first, |s| s["state"] == "Completed").await;
    assert!(done["accessRelease"].is_null(), "{done:#}");
    assert_ne!(h.status(second).await["state"], "Completed");

    // Another request of the tenant holds the share app's lock (a release or an issue in
    // flight) for its whole lease.
    let app_id = done["app"]["appId"].as_str().unwrap();
    let unique_name = h
        .sim
        .state()
        .applications
        .iter()
        .find(|a| a.app_id == app_id)
        .and_then(|a| a.unique_name.clone())
        .expect("the share app has a uniqueName");
    let holder = VmClaim {
        key: VmClaim::key_for(&format!("tenant-access/{unique_name}")),
        request: RequestId::new_random(),
        claimed_at: h.sim.now(),
    };
    let held = match h.store.get_claim(&holder.key).await.unwrap() {
        Some((_, etag)) => h.store.put_claim(&holder, Some(&etag)).await,
        None => h.store.put_claim(&holder, None).await,
    };
    held.unwrap();

    let before = h.sim.now();
    let released = h.run_until(first, |s| s["accessRelease"].is_object()).await;
    let waited = h.sim.now() - before;
    assert!(
        waited < time::Duration::seconds(1),
        "the release waited {waited} for a lock it does not need: {released:#}"
    );
    let kept = &released["accessRelease"]["kept"];
    assert!(
        kept[0]["reason"]
            .as_str()
            .is_some_and(|r| r.contains(&second.to_string())),
        "{released:#}"
    );
    let (code, body) = consumer_token_status(&h, app_id).await;
    assert_eq!(
        code, 200,
        "the second request still needs the credential: {body:#}"
    );
}
