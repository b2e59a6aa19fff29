//! The one-visit approval: the consumer's admin signs in once (authorization code with PKCE)
//! and that sign-in approves, consents and lets imageshare grant the app its roles on the
//! resource group with the admin's own rights.

use azure_sim::{ConsentChoice, Scenario, scenario::demo};
use local_run::{browser::Browser, demo as admin};
use serde_json::Value;

use crate::harness::{Harness, document, is_terminal};

const VM_CONTRIBUTOR: &str = "9980e02c-c2be-4d73-94e8-173b1dc7cf3c";
const NETWORK_CONTRIBUTOR: &str = "4d97b98b-1d4f-4787-a291-c67834d212e7";

/// Role assignments of `role` on the Fabrikam resource group, as the simulator holds them.
fn assignments(h: &Harness, role: &str) -> usize {
    let group = format!(
        "/subscriptions/{}/resourceGroups/{}",
        demo::FABRIKAM_SUBSCRIPTION,
        demo::FABRIKAM_RESOURCE_GROUP
    );
    h.sim
        .state()
        .role_assignments
        .iter()
        .filter(|a| a.scope.eq_ignore_ascii_case(&group) && a.role_definition_id.ends_with(role))
        .count()
}

fn events(status: &Value) -> Vec<String> {
    status["history"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["event"].as_str().unwrap().to_owned())
        .collect()
}

/// The approval page's one-visit link for the newest mailed request.
async fn one_visit_link(h: &Harness) -> String {
    let link = admin::consent_link_from_mail(&h.sim).expect("an approval mail");
    let browser = Browser::new(h.transport.clone()).unwrap();
    let page = browser.open(&link).await.unwrap();
    page.link("one-visit").unwrap().to_string()
}

/// Signs in as the Fabrikam admin at `authorize` and answers our callback with what Entra
/// sent back: (status, page).
async fn come_back(h: &Harness, authorize: &str) -> (u16, String, String) {
    let answer = h
        .sim
        .sign_in_and_consent(
            authorize,
            demo::FABRIKAM_ADMIN_UPN,
            demo::FABRIKAM_ADMIN_PASSWORD,
            ConsentChoice::AcceptForOrganization,
        )
        .unwrap();
    let back = answer.location().to_owned();
    let response = h.client.get(&back).send().await.unwrap();
    let status = response.status().as_u16();
    (status, response.text().await.unwrap(), back)
}

#[tokio::test]
async fn one_sign_in_approves_consents_and_grants_and_the_request_completes_with_nothing_else() {
    let h = Harness::start(Scenario::demo(), &[]).await;
    let id = h.submit(&document()).await;
    h.until_state(id, "AwaitingConsent").await;
    let link = admin::consent_link_from_mail(&h.sim).unwrap();
    let page = admin::approve_in_one_visit(&h.transport, &link)
        .await
        .unwrap();
    assert!(
        page.contains("Virtual Machine Contributor") && page.contains("Network Contributor"),
        "{page}"
    );
    let done = h.run_until(id, is_terminal).await;
    assert_eq!(done["state"], "Completed", "{done:#}");
    assert!(
        events(&done).contains(&"roles-granted".to_owned()),
        "{done:#}"
    );
    assert_eq!(assignments(&h, VM_CONTRIBUTOR), 1);
    assert_eq!(assignments(&h, NETWORK_CONTRIBUTOR), 1);
    let text = done.to_string();
    assert!(!text.contains("eyJ"), "no token in the status: {text}");

    // A second share of the tenant: one sign-in again (no consent page this time), and the
    // same assignments serve it.
    let mut second = document();
    second["vm"]["name"] = "vm-fabrikam-02".into();
    let id2 = h.submit(&second).await;
    h.until_state(id2, "AwaitingConsent").await;
    let link = admin::consent_link_from_mail(&h.sim).unwrap();
    admin::approve_in_one_visit(&h.transport, &link)
        .await
        .unwrap();
    let done = h.run_until(id2, is_terminal).await;
    assert_eq!(done["state"], "Completed", "{done:#}");
    assert_eq!(
        assignments(&h, VM_CONTRIBUTOR),
        1,
        "one assignment serves both"
    );
}

#[tokio::test]
async fn an_admin_who_may_not_grant_roles_is_told_in_plain_words_and_the_request_waits() {
    let h = Harness::start(Scenario::demo().with_fabrikam_reader(), &[]).await;
    let id = h.submit(&document()).await;
    h.until_state(id, "AwaitingConsent").await;
    let link = admin::consent_link_from_mail(&h.sim).unwrap();
    let page = admin::approve_in_one_visit_as(
        &h.transport,
        &link,
        demo::FABRIKAM_READER_UPN,
        demo::FABRIKAM_READER_PASSWORD,
    )
    .await
    .unwrap();
    assert!(
        page.contains("Microsoft.Authorization/roleAssignments/write")
            && page.contains("User Access Administrator"),
        "{page}"
    );
    let waiting = h.until_state(id, "AwaitingRoleGrant").await;
    assert_eq!(
        waiting["state"], "AwaitingRoleGrant",
        "waits, not Failed: {waiting:#}"
    );
    assert_eq!(assignments(&h, VM_CONTRIBUTOR), 0);
    // The manual path still works.
    h.grant_contributor(waiting["app"]["appId"].as_str().unwrap())
        .await;
    let done = h.until_state(id, "Completed").await;
    assert_eq!(done["state"], "Completed", "{done:#}");
}

#[tokio::test]
async fn a_replayed_answer_a_forged_state_and_a_wrong_verifier_are_refused_and_change_nothing() {
    let h = Harness::start(Scenario::demo(), &[]).await;
    let id = h.submit(&document()).await;
    h.until_state(id, "AwaitingConsent").await;
    let authorize = one_visit_link(&h).await;

    // A wrong PKCE verifier: the same sign-in with another challenge; our redemption sends
    // the request's verifier, which does not match it.
    let forged_challenge = regex_free_replace(&authorize, "code_challenge=", "code_challenge=A");
    let (status, page, _) = come_back(&h, &forged_challenge).await;
    assert_eq!(status, 400, "{page}");
    assert!(page.contains("AADSTS501481"), "{page}");
    assert_eq!(h.status(id).await["state"], "AwaitingConsent");

    // A forged state with a code: refused before anything is redeemed.
    let forged = format!(
        "{}/api/consent/callback?code=abc&state={id}.AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA",
        h.url
    );
    let response = h.client.get(&forged).send().await.unwrap();
    assert_eq!(response.status(), 400);

    // The real sign-in works once; replaying its answer is refused.
    let (status, page, back) = come_back(&h, &authorize).await;
    assert_eq!(status, 200, "{page}");
    let replay = h.client.get(&back).send().await.unwrap();
    assert_eq!(replay.status(), 410);
    assert_eq!(
        assignments(&h, VM_CONTRIBUTOR),
        1,
        "nothing more was created"
    );

    // A redirect URI the app does not have: Entra shows its error page, nothing comes back.
    let mismatched = regex_free_replace(
        &authorize,
        "redirect_uri=",
        "redirect_uri=https%3A%2F%2Fevil.example%2F",
    );
    let refused = h.sim.sign_in_and_consent(
        &mismatched,
        demo::FABRIKAM_ADMIN_UPN,
        demo::FABRIKAM_ADMIN_PASSWORD,
        ConsentChoice::Accept,
    );
    assert!(refused.is_err(), "AADSTS50011 is a page, never a redirect");
}

/// `url` with `prefix` replaced by `with` once (the next value is kept after it).
fn regex_free_replace(url: &str, prefix: &str, with: &str) -> String {
    url.replacen(prefix, with, 1)
}
