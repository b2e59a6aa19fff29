//! Microsoft Entra B2B guests: the image owner's operator invites the consumer's user into
//! the owner's tenant through Graph `POST /invitations`, the person redeems the invitation
//! and signs in to the owner's tenant with the home credentials, Resource Manager authorizes
//! the guest's own token by its role assignments, and the guest's token serves as the
//! auxiliary token of a VM PUT in the consumer's subscription.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use azure_sim::{Replication, Scenario, Sim, scenario::demo};
use common::{
    AZURE_CLI, Answer, Api, READER, arm_as_fabrikam_admin, arm_as_operator, claims, fabrikam_rg,
    form, graph_as_operator, header, role_assignment, token_request, transport, vnet_and_nic,
};
use reqwest::Method;
use serde_json::{Value, json};

const REDIRECT: &str = "https://myapp.contoso.com";
const ARM_USER_SCOPE: &str =
    "https://management.core.windows.net//.default offline_access openid profile";
const GUEST_UPN: &str = "admin_fabrikam.onmicrosoft.com#EXT#@contoso.onmicrosoft.com";

/// The immediately consistent demo whose operator holds `User.Invite.All` and `User.ReadWrite.All`.
fn inviting_scenario() -> Scenario {
    Scenario::demo()
        .with_replication(Replication::none())
        .with_operator_graph_permissions(&["User.Invite.All", "User.ReadWrite.All"])
}

async fn start_inviting() -> Sim {
    Sim::start(inviting_scenario()).await.unwrap()
}

/// The operator invites the Fabrikam admin into Contoso.
async fn invite_fabrikam_admin(sim: &Sim) -> Answer {
    graph_as_operator(sim)
        .await
        .post(
            "/invitations",
            json!({"invitedUserEmailAddress": demo::FABRIKAM_ADMIN_UPN, "inviteRedirectUrl": REDIRECT}),
        )
        .await
}

/// Invites the Fabrikam admin and answers the guest's object id.
async fn invited_guest(sim: &Sim) -> String {
    let (status, _, body) = invite_fabrikam_admin(sim).await;
    assert_eq!(status, 201, "{body}");
    body["invitedUser"]["id"].as_str().unwrap().to_owned()
}

/// A password grant of the Fabrikam admin's home credentials at `tenant` through the CLI.
async fn fabrikam_admin_signs_in_at(sim: &Sim, tenant: &str, password: &str) -> Answer {
    token_request(
        sim,
        tenant,
        &[
            ("client_id", AZURE_CLI),
            ("grant_type", "password"),
            ("username", demo::FABRIKAM_ADMIN_UPN),
            ("password", password),
            ("scope", ARM_USER_SCOPE),
            ("client_info", "1"),
        ],
    )
    .await
}

/// The guest's Resource Manager token in Contoso (the invitation must be redeemed).
async fn guest_arm_token(sim: &Sim) -> String {
    let (status, _, body) =
        fabrikam_admin_signs_in_at(sim, demo::CONTOSO_TENANT, demo::FABRIKAM_ADMIN_PASSWORD).await;
    assert_eq!(status, 200, "{body}");
    body["access_token"].as_str().unwrap().to_owned()
}

async fn guest_user(sim: &Sim, id: &str, select: &str) -> Value {
    let (status, _, user) = graph_as_operator(sim)
        .await
        .get(&format!("/users/{id}?$select={select}"))
        .await;
    assert_eq!(status, 200, "{user}");
    user
}

fn image_definition_reader(principal: &str, principal_type: Option<&str>) -> Value {
    common::assignment_body(READER, principal, principal_type)
}

fn image_version_url() -> String {
    format!("{}?api-version=2023-07-03", demo::IMAGE_VERSION_ID)
}

#[tokio::test]
async fn an_invitation_answers_201_with_the_documented_shape_and_creates_a_guest_with_an_ext_upn() {
    let sim = start_inviting().await;
    let (status, headers, inv) = invite_fabrikam_admin(&sim).await;
    assert_eq!(status, 201, "{inv}");
    assert!(
        headers["content-type"]
            .to_str()
            .unwrap()
            .starts_with("application/json;odata.metadata=minimal")
    );
    let id = inv["id"].as_str().unwrap();
    let guest = inv["invitedUser"]["id"].as_str().unwrap();
    assert!(uuid::Uuid::parse_str(id).is_ok() && uuid::Uuid::parse_str(guest).is_ok());
    assert_eq!(
        inv["@odata.context"],
        "https://graph.microsoft.com/v1.0/$metadata#invitations/$entity"
    );
    let redeem = inv["inviteRedeemUrl"].as_str().unwrap();
    assert!(
        redeem.starts_with(&format!(
            "https://login.microsoftonline.com/redeem?rd=https%3a%2f%2finvitations.microsoft.com%2fredeem%2f%3ftenant%3d{}%26user%3d{id}%26ticket%3d",
            demo::CONTOSO_TENANT
        )),
        "{redeem}"
    );
    assert!(redeem.ends_with("%26ver%3d2.0"), "{redeem}");
    let expected = json!({
        "invitedUserDisplayName": null,
        "invitedUserType": "Guest",
        "invitedUserEmailAddress": demo::FABRIKAM_ADMIN_UPN,
        "sendInvitationMessage": false,
        "resetRedemption": false,
        "inviteRedirectUrl": REDIRECT,
        "status": "PendingAcceptance",
        "invitedUserMessageInfo": {"messageLanguage": null, "customizedMessageBody": null,
                                   "ccRecipients": [{"emailAddress": {"name": null, "address": null}}]},
    });
    for (k, v) in expected.as_object().unwrap() {
        assert_eq!(&inv[k], v, "{k}");
    }

    let user = guest_user(
        &sim,
        guest,
        "id,userPrincipalName,userType,mail,otherMails,externalUserState,creationType,identities",
    )
    .await;
    assert_eq!(user["userPrincipalName"], GUEST_UPN);
    assert_eq!(user["userType"], "Guest");
    assert_eq!(user["mail"], demo::FABRIKAM_ADMIN_UPN);
    assert_eq!(user["otherMails"], json!([demo::FABRIKAM_ADMIN_UPN]));
    assert_eq!(user["externalUserState"], "PendingAcceptance");
    assert_eq!(user["creationType"], "Invitation");
    assert_eq!(
        user["identities"],
        json!([{"signInType": "userPrincipalName", "issuer": demo::CONTOSO_DOMAIN, "issuerAssignedId": GUEST_UPN}])
    );
    assert_eq!(
        user["@odata.context"],
        "https://graph.microsoft.com/v1.0/$metadata#users(id,userPrincipalName,userType,mail,otherMails,externalUserState,creationType,identities)/$entity"
    );
    // Without $select: Graph's default property set, which leaves userType out.
    let (_, _, default) = graph_as_operator(&sim)
        .await
        .get(&format!("/users/{guest}"))
        .await;
    assert_eq!(default["mail"], demo::FABRIKAM_ADMIN_UPN);
    assert!(default.get("userType").is_none(), "{default}");
    // The #EXT# UPN names the user too (percent-encoded in the path).
    let (status, _, by_upn) = graph_as_operator(&sim)
        .await
        .get(&format!("/users/{}", GUEST_UPN.replace('#', "%23")))
        .await;
    assert_eq!(status, 200, "{by_upn}");
    assert_eq!(by_upn["id"], guest);
}

#[tokio::test]
async fn guests_are_found_by_mail_upn_user_type_and_other_mails_filters() {
    let sim = start_inviting().await;
    let guest = invited_guest(&sim).await;
    let operator = graph_as_operator(&sim).await;
    for filter in [
        format!("mail eq '{}'", demo::FABRIKAM_ADMIN_UPN),
        "userType eq 'Guest'".to_owned(),
        "startswith(userPrincipalName,'admin_fabrikam')".to_owned(),
        format!("otherMails/any(x:x eq '{}')", demo::FABRIKAM_ADMIN_UPN),
        format!("userPrincipalName eq '{}'", GUEST_UPN.replace('#', "%23")),
    ] {
        let (status, _, list) = operator.get(&format!("/users?$filter={filter}")).await;
        assert_eq!(status, 200, "{filter}: {list}");
        let ids: Vec<&str> = list["value"]
            .as_array()
            .unwrap()
            .iter()
            .map(|u| u["id"].as_str().unwrap())
            .collect();
        assert_eq!(ids, vec![guest.as_str()], "{filter}");
    }
    // Form-encoded (`+` for spaces), with `and` and `$select`, as url's query_pairs_mut writes it.
    let query = url::form_urlencoded::Serializer::new(String::new())
        .append_pair(
            "$filter",
            &format!(
                "mail eq '{}' and userType eq 'Guest'",
                demo::FABRIKAM_ADMIN_UPN
            ),
        )
        .append_pair("$select", "id,userPrincipalName")
        .finish();
    let (status, _, list) = operator.get(&format!("/users?{query}")).await;
    assert_eq!(status, 200, "{list}");
    assert_eq!(
        list["value"],
        json!([{"id": guest, "userPrincipalName": GUEST_UPN}])
    );
    assert_eq!(
        list["@odata.context"],
        "https://graph.microsoft.com/v1.0/$metadata#users(id,userPrincipalName)"
    );
    let (_, _, members) = operator.get("/users?$filter=userType eq 'Member'").await;
    assert!(
        members["value"]
            .as_array()
            .unwrap()
            .iter()
            .all(|u| u["id"] != guest.as_str())
    );
}

#[tokio::test]
async fn inviting_the_same_address_twice_keeps_one_guest() {
    let sim = start_inviting().await;
    let (_, _, first) = invite_fabrikam_admin(&sim).await;
    let (status, _, second) = invite_fabrikam_admin(&sim).await;
    assert_eq!(status, 201, "{second}");
    assert_eq!(first["invitedUser"]["id"], second["invitedUser"]["id"]);
    assert_ne!(
        first["id"], second["id"],
        "a new invitation for the same user"
    );
    assert_eq!(sim.state().guests.len(), 1);
    let (_, _, list) = graph_as_operator(&sim)
        .await
        .get(&format!(
            "/users?$filter=mail eq '{}'",
            demo::FABRIKAM_ADMIN_UPN
        ))
        .await;
    assert_eq!(list["value"].as_array().unwrap().len(), 1);
}

#[tokio::test]
async fn without_user_invite_all_the_operator_is_refused_with_403() {
    // The demo's operator holds Application.ReadWrite.OwnedBy and Mail.Send only.
    let sim = common::start_demo().await;
    let (status, _, body) = invite_fabrikam_admin(&sim).await;
    assert_eq!(status, 403, "{body}");
    assert_eq!(body["error"]["code"], "Authorization_RequestDenied");
    assert_eq!(
        body["error"]["message"],
        "Insufficient privileges to complete the operation."
    );
    assert!(sim.state().guests.is_empty());
}

#[tokio::test]
async fn an_invitation_missing_a_required_property_or_naming_a_member_is_refused_with_400() {
    let sim = start_inviting().await;
    let operator = graph_as_operator(&sim).await;
    for body in [
        json!({"inviteRedirectUrl": REDIRECT}),
        json!({"invitedUserEmailAddress": demo::FABRIKAM_ADMIN_UPN}),
        json!({"invitedUserEmailAddress": "not-an-address", "inviteRedirectUrl": REDIRECT}),
        json!({"invitedUserEmailAddress": demo::CONTOSO_ADMIN_UPN, "inviteRedirectUrl": REDIRECT}),
    ] {
        let (status, _, answer) = operator.post("/invitations", body.clone()).await;
        assert_eq!(status, 400, "{body}: {answer}");
        assert_eq!(answer["error"]["code"], "BadRequest", "{answer}");
    }
    assert!(sim.state().guests.is_empty());
}

#[tokio::test]
async fn sending_the_invitation_message_mails_the_redeem_url_to_the_invited_address() {
    let sim = start_inviting().await;
    let (status, _, inv) = graph_as_operator(&sim)
        .await
        .post(
            "/invitations",
            json!({"invitedUserEmailAddress": demo::FABRIKAM_ADMIN_UPN, "inviteRedirectUrl": REDIRECT,
                   "invitedUserDisplayName": "Fabrikam Admin", "sendInvitationMessage": true,
                   "invitedUserMessageInfo": {"customizedMessageBody": "Welcome"}}),
        )
        .await;
    assert_eq!(status, 201, "{inv}");
    assert_eq!(inv["invitedUserDisplayName"], "Fabrikam Admin");
    assert_eq!(
        inv["invitedUserMessageInfo"]["customizedMessageBody"],
        "Welcome"
    );
    let mail = sim.outbox(demo::CONTOSO_TENANT);
    assert_eq!(mail.len(), 1);
    assert_eq!(mail[0].to, vec![demo::FABRIKAM_ADMIN_UPN.to_owned()]);
    assert!(
        mail[0]
            .content
            .contains(inv["inviteRedeemUrl"].as_str().unwrap())
    );
    assert!(mail[0].content.contains("Welcome"));
}

#[tokio::test]
async fn a_guest_cannot_sign_in_before_redemption_and_signs_in_as_the_guest_after() {
    let sim = start_inviting().await;
    let guest = invited_guest(&sim).await;
    let (status, _, refused) =
        fabrikam_admin_signs_in_at(&sim, demo::CONTOSO_TENANT, demo::FABRIKAM_ADMIN_PASSWORD).await;
    assert_eq!(
        (status, refused["error"].as_str()),
        (400, Some("invalid_grant"))
    );
    assert_eq!(refused["error_codes"][0], 50034);
    assert!(
        refused["error_description"].as_str().unwrap().starts_with(&format!(
            "AADSTS50034: The user account {{EmailHidden}} does not exist in the {} directory. To sign into this application, the account must be added to the directory.",
            demo::CONTOSO_TENANT
        )),
        "{refused}"
    );

    let redeemed = sim
        .redeem(demo::CONTOSO_TENANT, demo::FABRIKAM_ADMIN_UPN)
        .unwrap();
    assert_eq!(redeemed.external_user_state, "Accepted");
    let user = guest_user(&sim, &guest, "externalUserState,identities").await;
    assert_eq!(user["externalUserState"], "Accepted");
    assert_eq!(user["identities"][0]["issuer"], "ExternalAzureAD");

    let (status, _, token) =
        fabrikam_admin_signs_in_at(&sim, demo::CONTOSO_TENANT, demo::FABRIKAM_ADMIN_PASSWORD).await;
    assert_eq!(status, 200, "{token}");
    let c = claims(token["access_token"].as_str().unwrap());
    assert_eq!(c["tid"], demo::CONTOSO_TENANT);
    assert_eq!(c["oid"], guest.as_str());
    assert_eq!(
        c["iss"],
        format!("https://sts.windows.net/{}/", demo::CONTOSO_TENANT)
    );
    assert_eq!(
        c["idp"],
        format!("https://sts.windows.net/{}/", demo::FABRIKAM_TENANT)
    );
    assert_eq!(c["unique_name"], demo::FABRIKAM_ADMIN_UPN);
    assert_eq!(c["idtyp"], "user");
    assert!(c.get("upn").is_none(), "guest tokens carry no upn: {c}");

    let (status, _, wrong) = fabrikam_admin_signs_in_at(&sim, demo::CONTOSO_TENANT, "wrong").await;
    assert_eq!(
        (status, wrong["error_codes"][0].as_u64()),
        (400, Some(50126))
    );
    // The member keeps signing in at home as before.
    let (status, _, home) =
        fabrikam_admin_signs_in_at(&sim, demo::FABRIKAM_TENANT, demo::FABRIKAM_ADMIN_PASSWORD)
            .await;
    assert_eq!(status, 200, "{home}");
    let c = claims(home["access_token"].as_str().unwrap());
    assert_eq!(
        (c["tid"].as_str(), c["oid"].as_str(), c["upn"].as_str()),
        (
            Some(demo::FABRIKAM_TENANT),
            Some(demo::FABRIKAM_ADMIN_ID),
            Some(demo::FABRIKAM_ADMIN_UPN)
        )
    );
}

#[tokio::test]
async fn a_home_refresh_token_reaches_the_owner_tenant_only_once_the_guest_has_redeemed() {
    let sim = start_inviting().await;
    let guest = invited_guest(&sim).await;
    let (_, _, home) =
        fabrikam_admin_signs_in_at(&sim, demo::FABRIKAM_TENANT, demo::FABRIKAM_ADMIN_PASSWORD)
            .await;
    let refresh = home["refresh_token"].as_str().unwrap().to_owned();
    let form = [
        ("client_id", AZURE_CLI),
        ("grant_type", "refresh_token"),
        ("refresh_token", refresh.as_str()),
        ("scope", "https://management.core.windows.net//.default"),
    ];
    let redeem_refresh = || token_request(&sim, demo::CONTOSO_TENANT, &form);
    let (status, _, refused) = redeem_refresh().await;
    assert_eq!(
        (status, refused["error_codes"][0].as_u64()),
        (400, Some(50020))
    );
    sim.redeem(demo::CONTOSO_DOMAIN, demo::FABRIKAM_ADMIN_UPN)
        .unwrap();
    let (status, _, token) = redeem_refresh().await;
    assert_eq!(status, 200, "{token}");
    let c = claims(token["access_token"].as_str().unwrap());
    assert_eq!(
        (c["tid"].as_str(), c["oid"].as_str()),
        (Some(demo::CONTOSO_TENANT), Some(guest.as_str()))
    );
}

#[tokio::test]
async fn the_redeem_url_page_signs_the_invited_person_in_and_accepting_redeems() {
    let sim = start_inviting().await;
    let (_, _, inv) = invite_fabrikam_admin(&sim).await;
    let url = inv["inviteRedeemUrl"].as_str().unwrap();
    let t = transport(&sim);
    let get = t
        .execute(t.client().get(url).build().unwrap())
        .await
        .unwrap();
    assert_eq!(get.status(), 200);
    let html = get.text().await.unwrap();
    let submit = |fields: Vec<(String, String)>| {
        let t = transport(&sim);
        async move {
            let target = "https://login.microsoftonline.com/redeem";
            let r = t
                .execute(t.client().post(target).form(&fields).build().unwrap())
                .await
                .unwrap();
            (
                r.status().as_u16(),
                header(&r, "location"),
                r.text().await.unwrap(),
            )
        }
    };
    let (action, fields) = form(&html, "signin");
    assert_eq!(action, "redeem");
    let with = |login: &str, password: &str| {
        let mut f = fields.clone();
        f.push(("login".into(), login.into()));
        f.push(("passwd".into(), password.into()));
        f
    };
    // Another person's (valid) account cannot redeem it.
    let (status, _, other) =
        submit(with(demo::CONTOSO_ADMIN_UPN, demo::CONTOSO_ADMIN_PASSWORD)).await;
    assert_eq!(status, 200);
    assert!(other.contains("id=\"error\""), "{other}");
    let (status, _, review) = submit(with(
        demo::FABRIKAM_ADMIN_UPN,
        demo::FABRIKAM_ADMIN_PASSWORD,
    ))
    .await;
    assert_eq!(status, 200);
    let (_, accept) = form(&review, "accept");
    let (status, location, _) = submit(accept).await;
    assert_eq!(status, 302);
    assert_eq!(location.as_deref(), Some(REDIRECT));
    let guest = inv["invitedUser"]["id"].as_str().unwrap();
    let user = guest_user(&sim, guest, "externalUserState").await;
    assert_eq!(user["externalUserState"], "Accepted");
}

#[tokio::test]
async fn the_admin_redeem_route_accepts_the_invitation_over_http() {
    let sim = start_inviting().await;
    let guest = invited_guest(&sim).await;
    let r = reqwest::Client::new()
        .post(format!("{}/_sim/redeem", sim.url()))
        .json(&json!({"tenant": demo::CONTOSO_TENANT, "email": demo::FABRIKAM_ADMIN_UPN}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let view: Value = r.json().await.unwrap();
    assert_eq!(view["id"], guest.as_str());
    assert_eq!(view["externalUserState"], "Accepted");
    assert_eq!(view["homeTenant"], demo::FABRIKAM_TENANT);
    let unknown = reqwest::Client::new()
        .post(format!("{}/_sim/redeem", sim.url()))
        .json(&json!({"tenant": demo::CONTOSO_TENANT, "email": "nobody@fabrikam.onmicrosoft.com"}))
        .send()
        .await
        .unwrap();
    assert_eq!(unknown.status(), 400);
}

#[tokio::test]
async fn reader_on_the_image_definition_lets_the_guest_read_the_image_version_with_its_own_token() {
    let sim = start_inviting().await;
    let guest = invited_guest(&sim).await;
    sim.redeem(demo::CONTOSO_TENANT, demo::FABRIKAM_ADMIN_UPN)
        .unwrap();
    let as_guest = Api::arm(&sim, guest_arm_token(&sim).await);
    let (status, _, refused) = as_guest.get(&image_version_url()).await;
    assert_eq!(status, 403, "{refused}");
    assert_eq!(refused["error"]["code"], "AuthorizationFailed");
    assert!(
        refused["error"]["message"]
            .as_str()
            .unwrap()
            .starts_with(&format!(
                "The client '{}' with object id '{guest}' does not have authorization",
                demo::FABRIKAM_ADMIN_UPN
            )),
        "{refused}"
    );
    let (status, _, assignment) = arm_as_operator(&sim)
        .await
        .put(
            &role_assignment(demo::IMAGE_DEFINITION_ID, uuid::Uuid::new_v4()),
            image_definition_reader(&guest, Some("User")),
        )
        .await;
    assert_eq!(status, 201, "{assignment}");
    assert_eq!(assignment["properties"]["principalType"], "User");
    let (status, _, version) = as_guest.get(&image_version_url()).await;
    assert_eq!(status, 200, "{version}");
    assert_eq!(version["id"], demo::IMAGE_VERSION_ID);
}

#[tokio::test]
async fn a_new_guest_is_principal_not_found_without_principal_type_while_it_replicates() {
    let scenario = inviting_scenario().with_replication(Replication {
        arm_principal_seconds: demo::ARM_PRINCIPAL_SECONDS,
        ..Replication::none()
    });
    let sim = Sim::start(scenario).await.unwrap();
    let guest = invited_guest(&sim).await;
    let operator = arm_as_operator(&sim).await;
    let (status, _, refused) = operator
        .put(
            &role_assignment(demo::IMAGE_DEFINITION_ID, uuid::Uuid::new_v4()),
            image_definition_reader(&guest, None),
        )
        .await;
    assert_eq!(status, 400, "{refused}");
    assert_eq!(refused["error"]["code"], "PrincipalNotFound");
    assert_eq!(
        refused["error"]["message"],
        format!(
            "Principal {} does not exist in the directory {}. Check that you have the correct principal ID. If you are creating this principal and then immediately assigning a role, this error might be related to a replication delay. In this case, set the role assignment principalType property to a value, such as ServicePrincipal, User, or Group.  See https://aka.ms/docs-principaltype",
            guest.replace('-', ""),
            demo::CONTOSO_TENANT
        )
    );
    // principalType lets it through at once, as ARM advises.
    let (status, _, typed) = operator
        .put(
            &role_assignment(demo::IMAGE_DEFINITION_ID, uuid::Uuid::new_v4()),
            image_definition_reader(&guest, Some("User")),
        )
        .await;
    assert_eq!(status, 201, "{typed}");
    sim.advance_clock(std::time::Duration::from_secs(u64::from(
        demo::ARM_PRINCIPAL_SECONDS,
    )));
    let (status, _, later) = operator
        .put(
            &role_assignment(demo::GALLERY_ID, uuid::Uuid::new_v4()),
            image_definition_reader(&guest, None),
        )
        .await;
    assert_eq!(status, 201, "{later}");
    assert_eq!(later["properties"]["principalType"], "User");
}

fn vm_body(nic: &str) -> Value {
    json!({"location": "eastus", "properties": {
        "hardwareProfile": {"vmSize": "Standard_D2s_v5"},
        "storageProfile": {
            "imageReference": {"id": demo::IMAGE_VERSION_ID},
            "osDisk": {"createOption": "FromImage", "managedDisk": {"storageAccountType": "Standard_LRS"}}},
        "osProfile": {"computerName": "vm1", "adminUsername": "azureuser", "linuxConfiguration": {
            "disablePasswordAuthentication": true,
            "ssh": {"publicKeys": [{"path": "/home/azureuser/.ssh/authorized_keys", "keyData": "ssh-rsa AAAAB3NzaC1yc2E test"}]}}},
        "networkProfile": {"networkInterfaces": [{"id": nic, "properties": {"primary": true}}]}}})
}

#[tokio::test]
async fn a_vm_from_the_owner_image_with_the_guest_token_as_auxiliary_succeeds_until_its_reader_assignment_is_deleted()
 {
    let sim = start_inviting().await;
    let guest = invited_guest(&sim).await;
    sim.redeem(demo::CONTOSO_TENANT, demo::FABRIKAM_ADMIN_UPN)
        .unwrap();
    let aux = format!("Bearer {}", guest_arm_token(&sim).await);
    let fabrikam = arm_as_fabrikam_admin(&sim).await;
    let nic = vnet_and_nic(&fabrikam, &fabrikam_rg(), "10.4").await;
    let nic_id = nic["id"].as_str().unwrap();
    let vm = |name: &str| {
        format!(
            "{}/providers/Microsoft.Compute/virtualMachines/{name}?api-version=2024-07-01",
            fabrikam_rg()
        )
    };
    let put_vm = |name: &str| {
        let url = vm(name);
        let (fabrikam, aux) = (&fabrikam, &aux);
        async move {
            fabrikam
                .send(
                    Method::PUT,
                    &url,
                    Some(vm_body(nic_id)),
                    &[("x-ms-authorization-auxiliary", aux)],
                )
                .await
        }
    };
    let linked_refusal = |body: &Value| {
        assert_eq!(body["error"]["code"], "LinkedAuthorizationFailed", "{body}");
        let message = body["error"]["message"].as_str().unwrap();
        assert!(
            message.starts_with(&format!(
                "The client '{}' with object id '{guest}' has permission to perform action 'Microsoft.Compute/virtualMachines/write'",
                demo::FABRIKAM_ADMIN_UPN
            )),
            "{message}"
        );
        assert!(message.contains(
            "does not have permission to perform action 'Microsoft.Compute/galleries/images/versions/read' on the linked scope(s)"
        ));
    };
    let (status, _, before) = put_vm("before").await;
    assert_eq!(status, 403, "{before}");
    linked_refusal(&before);

    let name = uuid::Uuid::new_v4();
    let assignment = role_assignment(demo::IMAGE_DEFINITION_ID, name);
    let operator = arm_as_operator(&sim).await;
    let (status, _, created) = operator
        .put(&assignment, image_definition_reader(&guest, Some("User")))
        .await;
    assert_eq!(status, 201, "{created}");
    let (status, _, vm1) = put_vm("vm1").await;
    assert_eq!(status, 201, "{vm1}");
    assert_eq!(
        vm1["properties"]["storageProfile"]["imageReference"]["id"],
        demo::IMAGE_VERSION_ID
    );

    let (status, _, _) = operator.delete(&assignment).await;
    assert_eq!(status, 200);
    let (status, _, after) = put_vm("vm2").await;
    assert_eq!(status, 403, "{after}");
    linked_refusal(&after);
    // Without the guest's token the home token alone cannot reach Contoso's subscription.
    let (status, _, alone) = fabrikam.put(&vm("vm3"), vm_body(nic_id)).await;
    assert_eq!(status, 403, "{alone}");
    assert!(
        alone["error"]["message"]
            .as_str()
            .unwrap()
            .contains("is not authorized to access linked subscription")
    );
}

#[tokio::test]
async fn deleting_the_guest_removes_it_and_its_sign_in_is_refused_again() {
    let sim = start_inviting().await;
    let guest = invited_guest(&sim).await;
    sim.redeem(demo::CONTOSO_TENANT, demo::FABRIKAM_ADMIN_UPN)
        .unwrap();
    guest_arm_token(&sim).await;
    let operator = graph_as_operator(&sim).await;
    let (status, _, body) = operator.delete(&format!("/users/{guest}")).await;
    assert_eq!(status, 204, "{body}");
    let (status, _, gone) = operator.get(&format!("/users/{guest}")).await;
    assert_eq!(status, 404);
    assert_eq!(gone["error"]["code"], "Request_ResourceNotFound");
    assert!(sim.state().guests.is_empty());
    let (status, _, refused) =
        fabrikam_admin_signs_in_at(&sim, demo::CONTOSO_TENANT, demo::FABRIKAM_ADMIN_PASSWORD).await;
    assert_eq!(
        (status, refused["error_codes"][0].as_u64()),
        (400, Some(50034))
    );
    // The home account is untouched.
    let (status, _, _) =
        fabrikam_admin_signs_in_at(&sim, demo::FABRIKAM_TENANT, demo::FABRIKAM_ADMIN_PASSWORD)
            .await;
    assert_eq!(status, 200);
}

#[tokio::test]
async fn deleting_a_user_needs_user_readwrite_all_and_app_only_cannot_delete_an_administrator() {
    let scenario = Scenario::demo()
        .with_replication(Replication::none())
        .with_operator_graph_permissions(&["User.Invite.All"]);
    let sim = Sim::start(scenario).await.unwrap();
    let guest = invited_guest(&sim).await;
    let operator = graph_as_operator(&sim).await;
    let (status, _, refused) = operator.delete(&format!("/users/{guest}")).await;
    assert_eq!(status, 403, "{refused}");
    assert_eq!(refused["error"]["code"], "Authorization_RequestDenied");
    assert_eq!(sim.state().guests.len(), 1);

    let sim = start_inviting().await;
    let operator = graph_as_operator(&sim).await;
    let (status, _, refused) = operator
        .delete(&format!("/users/{}", demo::CONTOSO_ADMIN_ID))
        .await;
    assert_eq!(status, 403, "a Global Administrator: {refused}");
    let (status, _, admin) = operator
        .get(&format!("/users/{}", demo::CONTOSO_ADMIN_UPN))
        .await;
    assert_eq!(status, 200, "{admin}");
}
