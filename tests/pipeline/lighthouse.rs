//! The `lighthouse` strategy against the simulator: the delegation deployed from Microsoft's
//! template, a VM created by the consumer's own principal with its own tenant's token, the
//! delegation gone at the end of its lifetime, and the preflight refusals.

use azure_sim::{Scenario, scenario::demo};
use reqwest::Method;
use serde_json::Value;

use crate::harness::Harness;

fn scenario_with_owner_operator() -> Scenario {
    local_run::lighthouse::scenario()
}

fn lighthouse_document() -> Value {
    local_run::lighthouse::request(Some(1))
}

/// An ARM call as the Fabrikam admin, with a token from Fabrikam's own tenant only.
async fn as_consumer(h: &Harness, method: Method, path: &str) -> (u16, Value) {
    local_run::lighthouse::as_consumer(&h.transport, method, path, None)
        .await
        .unwrap()
}

fn count_of(h: &Harness, kind: &str) -> usize {
    h.sim.state().resources_of_type(kind).len()
}

fn deployment_puts(h: &Harness) -> usize {
    h.sim
        .requests()
        .iter()
        .filter(|r| {
            r.method == "PUT"
                && r.path_and_query
                    .contains("/providers/Microsoft.Resources/deployments/")
        })
        .count()
}

#[tokio::test]
async fn two_lighthouse_requests_share_one_delegation_the_consumer_creates_a_vm_and_at_expiry_it_is_gone()
 {
    let h = Harness::start(scenario_with_owner_operator(), &[]).await;
    let image = format!("{}?api-version=2024-03-03", demo::IMAGE_VERSION_ID);
    let (before, _) = as_consumer(&h, Method::GET, &image).await;
    assert_eq!(
        before, 401,
        "Fabrikam cannot read Contoso's image before the delegation"
    );

    let first = h.submit(&lighthouse_document()).await;
    let second = h.submit(&lighthouse_document()).await;
    let delegated = h
        .run_all_until(&[first, second], |all| {
            all.iter()
                .all(|s| s["state"] == "Delegated" || crate::harness::is_terminal(s))
        })
        .await;
    for s in &delegated {
        assert_eq!(s["state"], "Delegated", "{s:#}");
        assert_eq!(s["nextAction"]["actor"], "consumer-admin");
        assert!(
            s["nextAction"]["command"]
                .as_str()
                .unwrap()
                .contains(demo::IMAGE_VERSION_ID)
        );
        assert!(s["delegation"]["expiresAt"].is_string(), "{s:#}");
        assert!(s.get("vm").is_none(), "a delegation names no VM: {s:#}");
    }
    assert_eq!(
        deployment_puts(&h),
        1,
        "one deployment PUT for both requests"
    );
    assert_eq!(
        count_of(&h, "Microsoft.ManagedServices/registrationDefinitions"),
        1
    );
    assert_eq!(
        count_of(&h, "Microsoft.ManagedServices/registrationAssignments"),
        1
    );
    assert_eq!(
        delegated[0]["delegation"]["registrationAssignmentId"],
        delegated[1]["delegation"]["registrationAssignmentId"]
    );
    let mails = h
        .sim
        .outbox(demo::CONTOSO_TENANT)
        .iter()
        .filter(|m| {
            m.content.contains("Shared images") && m.content.contains(demo::IMAGE_VERSION_ID)
        })
        .count();
    assert_eq!(mails, 2, "each request's admin is told once");

    // The consumer's principal, with its own tenant's token only, reads the image and creates
    // a VM from it in its own subscription.
    let (status, body) = as_consumer(&h, Method::GET, &image).await;
    assert_eq!(status, 200, "{body}");
    let (status, body) = local_run::lighthouse::consumer_creates_vm(&h.transport, "vm-lh")
        .await
        .unwrap();
    assert!(
        status == 200 || status == 201,
        "the delegated principal creates the VM: {status} {body}"
    );

    // A day later (the simulator's clock), the scheduled EndDelegation removes it.
    let ended = h
        .run_all_until(&[first, second], |all| {
            all.iter().all(crate::harness::is_terminal)
        })
        .await;
    for s in &ended {
        assert_eq!(s["state"], "Completed", "{s:#}");
    }
    let removed: Vec<Value> = ended
        .iter()
        .flat_map(|s| {
            s["delegation"]["removed"]
                .as_array()
                .cloned()
                .unwrap_or_default()
        })
        .collect();
    assert_eq!(
        removed.len(),
        2,
        "the last request removes the assignment and the definition: {removed:#?}"
    );
    assert!(removed.iter().all(|r| r["serviceRequestId"].is_string()));
    assert_eq!(
        count_of(&h, "Microsoft.ManagedServices/registrationDefinitions"),
        0
    );
    assert_eq!(
        count_of(&h, "Microsoft.ManagedServices/registrationAssignments"),
        0
    );
    let (after, body) = as_consumer(&h, Method::GET, &image).await;
    assert_eq!(after, 401, "the delegation is gone: {body}");
}

#[tokio::test]
async fn a_lighthouse_request_is_refused_when_the_gallery_group_holds_an_image_outside_the_catalog()
{
    let mut scenario = scenario_with_owner_operator();
    let mut other = scenario.gallery_images[0].clone();
    other.id = other.id.replace("ubuntu-hardened", "internal-only");
    scenario.gallery_images.push(other);
    let h = Harness::start(scenario, &[]).await;
    let id = h.submit(&lighthouse_document()).await;
    let failed = h.run_until(id, crate::harness::is_terminal).await;
    assert_eq!(failed["state"], "Failed", "{failed:#}");
    let reason = failed["failure"].as_str().unwrap();
    assert!(reason.contains("internal-only"), "{reason}");
    assert!(
        reason.contains("IMAGESHARE_LIGHTHOUSE_ALLOW_OTHER_RESOURCES"),
        "{reason}"
    );
    assert_eq!(deployment_puts(&h), 0, "nothing was deployed");
}

#[tokio::test]
async fn a_lighthouse_request_names_the_actions_the_operator_identity_lacks() {
    // The plain demo: the operator has Reader and RBAC Administrator on the gallery's group only.
    let h = Harness::start(Scenario::demo(), &[]).await;
    let id = h.submit(&lighthouse_document()).await;
    let failed = h.run_until(id, crate::harness::is_terminal).await;
    assert_eq!(failed["state"], "Failed", "{failed:#}");
    let reason = failed["failure"].as_str().unwrap();
    for action in [
        "Microsoft.Resources/deployments/write",
        "Microsoft.ManagedServices/registrationDefinitions/write",
    ] {
        assert!(reason.contains(action), "{reason}");
    }
    assert_eq!(deployment_puts(&h), 0, "nothing was deployed");
}

#[tokio::test]
async fn revoking_a_delegated_request_removes_the_delegation_and_ends_it_revoked() {
    let h = Harness::start(scenario_with_owner_operator(), &[]).await;
    let id = h.submit(&lighthouse_document()).await;
    h.until_state(id, "Delegated").await;
    assert_eq!(
        count_of(&h, "Microsoft.ManagedServices/registrationAssignments"),
        1
    );
    let response = h
        .client
        .delete(format!(
            "{}/api/share-requests/{id}?deleteResources=true",
            h.url
        ))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 202);
    let revoked = h
        .run_until(id, |s| {
            s["state"] == "Revoked" || crate::harness::is_terminal(s)
        })
        .await;
    assert_eq!(revoked["state"], "Revoked", "{revoked:#}");
    assert_eq!(
        revoked["revocation"]["deleteResources"], false,
        "a delegation made nothing in the consumer's tenant to delete: {revoked:#}"
    );
    assert_eq!(
        count_of(&h, "Microsoft.ManagedServices/registrationAssignments"),
        0
    );
    assert_eq!(
        count_of(&h, "Microsoft.ManagedServices/registrationDefinitions"),
        0
    );
}

#[tokio::test]
async fn the_consumers_done_link_ends_the_delegation_at_once_and_works_only_once() {
    let h = Harness::start(scenario_with_owner_operator(), &[]).await;
    // Thirty days: only the link can end it within the test.
    let id = h.submit(&local_run::lighthouse::request(Some(30))).await;
    let delegated = h.until_state(id, "Delegated").await;
    let link = local_run::lighthouse::done_link_from_mail(&h.sim, &id.to_string())
        .expect("the notice carries a done link");
    let secret = link
        .query_pairs()
        .find(|(k, _)| k == "state")
        .map(|(_, v)| v.into_owned())
        .unwrap();
    assert!(
        !delegated.to_string().contains(&secret),
        "the link's state is in the mail only, never in the status document"
    );

    // Opening the page changes nothing (mail scanners open links).
    let page = h.client.get(link.as_str()).send().await.unwrap();
    assert_eq!(page.status(), 200);
    assert!(
        page.text()
            .await
            .unwrap()
            .contains("We are done: end the delegation now")
    );
    assert_eq!(h.status(id).await["state"], "Delegated");

    let forged = format!("{id}.{}", "A".repeat(43));
    let refused = h
        .client
        .post(format!("{}/api/delegation/done", h.url))
        .form(&[("state", forged.as_str())])
        .send()
        .await
        .unwrap();
    assert_eq!(refused.status(), 400, "a forged state is refused");
    assert_eq!(h.status(id).await["state"], "Delegated");

    let confirmed = local_run::lighthouse::done_in_browser(&h.transport, &link)
        .await
        .unwrap();
    assert_eq!(confirmed.status, 200, "{}", confirmed.html);
    let ended = h.run_until(id, crate::harness::is_terminal).await;
    assert_eq!(ended["state"], "Completed", "{ended:#}");
    let kinds: Vec<&str> = ended["history"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|e| e["event"].as_str())
        .collect();
    assert!(kinds.contains(&"consumer-done"), "{kinds:?}");
    assert_eq!(ended["delegation"]["removed"].as_array().unwrap().len(), 2);
    assert_eq!(
        count_of(&h, "Microsoft.ManagedServices/registrationAssignments"),
        0
    );
    let (after, _) = as_consumer(
        &h,
        Method::GET,
        &format!("{}?api-version=2024-03-03", demo::IMAGE_VERSION_ID),
    )
    .await;
    assert_eq!(after, 401, "the delegation is gone");

    // The link works once.
    let again = h
        .client
        .post(format!("{}/api/delegation/done", h.url))
        .form(&[("state", secret.as_str())])
        .send()
        .await
        .unwrap();
    assert_eq!(again.status(), 410);
}
