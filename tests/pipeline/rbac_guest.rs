//! The `rbac-guest` strategy against the simulator: the consumer's user invited once as a
//! guest, one Reader assignment (principal type User) for it, the guest — signed in to both
//! tenants with its own account — creating a VM from the owner's image, and at the end the
//! Reader grant and the guest imageshare invited removed.

use azure_sim::{Scenario, scenario::demo};
use serde_json::Value;

use crate::harness::{Harness, is_terminal};

fn guests(h: &Harness) -> usize {
    h.sim
        .state()
        .guests
        .iter()
        .filter(|g| g.mail.eq_ignore_ascii_case(demo::FABRIKAM_ADMIN_UPN))
        .count()
}

fn user_readers(h: &Harness) -> usize {
    h.sim
        .state()
        .role_assignments
        .iter()
        .filter(|a| a.principal_type == "User" && a.role_name == "Reader")
        .count()
}

fn invitations(h: &Harness) -> usize {
    h.sim
        .requests()
        .iter()
        .filter(|r| r.method == "POST" && r.path_and_query.starts_with("/v1.0/invitations"))
        .count()
}

async fn guest_vm(h: &Harness, name: &str) -> (u16, Value) {
    local_run::rbac_guest::guest_creates_vm(&h.transport, name)
        .await
        .unwrap()
}

#[tokio::test]
async fn two_guest_shares_invite_once_grant_one_reader_the_guest_builds_a_vm_and_at_expiry_both_are_removed()
 {
    let h = Harness::start(local_run::rbac_guest::scenario(), &[]).await;
    let document = local_run::rbac_guest::request(Some(2));
    let first = h.submit(&document).await;
    let second = h.submit(&document).await;
    let granted = h
        .run_all_until(&[first, second], |all| {
            all.iter()
                .all(|s| s["state"] == "Granted" || is_terminal(s))
        })
        .await;
    for s in &granted {
        assert_eq!(s["state"], "Granted", "{s:#}");
        assert_eq!(s["nextAction"]["actor"], "consumer-user");
        assert!(
            s["nextAction"]["description"]
                .as_str()
                .unwrap()
                .contains(&format!("az login --tenant {}", demo::CONTOSO_TENANT))
        );
    }
    assert_eq!(guests(&h), 1, "one guest for both requests");
    assert_eq!(invitations(&h), 1, "the second request reuses the guest");
    assert_eq!(user_readers(&h), 1, "one Reader assignment for the guest");
    let created: Vec<bool> = granted
        .iter()
        .map(|s| s["guest"]["created"].as_bool().unwrap())
        .collect();
    assert!(created.contains(&true), "{created:?}");
    let steps = h
        .sim
        .outbox(demo::CONTOSO_TENANT)
        .iter()
        .filter(|m| m.subject.contains("guest access") && m.content.contains("az vm create"))
        .count();
    assert_eq!(steps, 2, "each request's steps go to the guest once");

    let (before, body) = guest_vm(&h, "vm-unredeemed").await;
    assert_ne!(
        before / 100,
        2,
        "before redeeming, no guest sign-in: {body}"
    );
    h.sim
        .redeem(demo::CONTOSO_TENANT, demo::FABRIKAM_ADMIN_UPN)
        .unwrap();
    // Role assignments take effect within minutes (the portal says up to 10).
    h.sim.advance_clock(std::time::Duration::from_secs(11 * 60));
    let (status, body) = guest_vm(&h, "vm-guest").await;
    assert!(
        status == 200 || status == 201,
        "signed in to both tenants, the guest creates the VM: {status} {body}"
    );

    let ended = h
        .run_all_until(&[first, second], |all| all.iter().all(is_terminal))
        .await;
    for s in &ended {
        assert_eq!(s["state"], "Completed", "{s:#}");
    }
    assert_eq!(user_readers(&h), 0, "the Reader grant is removed");
    assert_eq!(guests(&h), 0, "the guest imageshare invited is removed");
    let (after, body) = guest_vm(&h, "vm-after").await;
    assert_ne!(after / 100, 2, "the access is gone: {body}");
}

#[tokio::test]
async fn a_guest_that_was_there_before_is_reused_and_kept_when_the_access_is_revoked() {
    let h = Harness::start(local_run::rbac_guest::scenario(), &[]).await;
    // Someone in Contoso invited the Fabrikam admin before imageshare did.
    let token = {
        let req = h
            .transport
            .client()
            .get(format!(
                "{}?api-version=2019-08-01&resource=https://graph.microsoft.com&client_id={}",
                h.sim.identity_endpoint(),
                demo::OPERATOR_CLIENT_ID
            ))
            .header("X-IDENTITY-HEADER", demo::IDENTITY_HEADER)
            .build()
            .unwrap();
        let answer: Value = h
            .transport
            .execute(req)
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        answer["access_token"].as_str().unwrap().to_owned()
    };
    let req = h
        .transport
        .client()
        .post("https://graph.microsoft.com/v1.0/invitations")
        .bearer_auth(&token)
        .json(&serde_json::json!({"invitedUserEmailAddress": demo::FABRIKAM_ADMIN_UPN, "inviteRedirectUrl": "https://myapps.microsoft.com"}))
        .build()
        .unwrap();
    assert_eq!(h.transport.execute(req).await.unwrap().status(), 201);

    let id = h.submit(&local_run::rbac_guest::request(None)).await;
    let granted = h.until_state(id, "Granted").await;
    assert_eq!(granted["guest"]["created"], false, "{granted:#}");
    assert_eq!(granted["guest"]["lifetimeDays"], 30, "the default lifetime");
    let response = h
        .client
        .delete(format!("{}/api/share-requests/{id}", h.url))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 202);
    let revoked = h
        .run_until(id, |s| s["state"] == "Revoked" || is_terminal(s))
        .await;
    assert_eq!(revoked["state"], "Revoked", "{revoked:#}");
    assert_eq!(user_readers(&h), 0, "the Reader grant is removed");
    assert_eq!(guests(&h), 1, "a guest imageshare did not invite stays");
}

#[tokio::test]
async fn a_guest_share_without_the_graph_permissions_fails_naming_them() {
    let h = Harness::start(Scenario::demo(), &[]).await;
    let id = h.submit(&local_run::rbac_guest::request(None)).await;
    let failed = h.run_until(id, is_terminal).await;
    assert_eq!(failed["state"], "Failed", "{failed:#}");
    let reason = failed["failure"].as_str().unwrap();
    assert!(
        reason.contains("User.Invite.All") && reason.contains("rbacGuest=true"),
        "{reason}"
    );
    assert_eq!(guests(&h), 0, "nobody was invited");
}

#[tokio::test]
async fn a_guest_share_revoked_while_granting_leaves_no_reader_grant_and_no_guest() {
    let h = Harness::start(local_run::rbac_guest::scenario(), &[]).await;
    // Entra has not replicated the new guest to Resource Manager yet: the grant waits.
    h.sim.add_fault(
        azure_sim::Fault::arm_error(
            "*/providers/Microsoft.Authorization/roleAssignments/*",
            400,
            "PrincipalNotFound",
            "Principal 2332b492190643a0bdb90a167b2992f6 does not exist in the directory 11111111-1111-4111-8111-111111111111.",
        )
        .method("PUT")
        .times(2),
    );
    let id = h.submit(&local_run::rbac_guest::request(None)).await;
    let granting = h
        .run_until(id, |s| s["state"] == "Granting" || is_terminal(s))
        .await;
    assert_eq!(granting["state"], "Granting", "{granting:#}");
    let response = h
        .client
        .delete(format!("{}/api/share-requests/{id}", h.url))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 202);
    let revoked = h
        .run_until(id, |s| s["state"] == "Revoked" || is_terminal(s))
        .await;
    assert_eq!(revoked["state"], "Revoked", "{revoked:#}");
    // The grant's retry, delivered after the revocation, must not leave a Reader behind.
    h.sim.advance_clock(std::time::Duration::from_secs(60));
    while let Some(q) = h.queue.take_due(h.sim.now()) {
        h.deliver(&q).await;
    }
    assert_eq!(user_readers(&h), 0, "no Reader grant is left");
    assert_eq!(guests(&h), 0, "the guest imageshare invited is removed");
}
