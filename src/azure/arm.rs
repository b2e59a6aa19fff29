//! Azure Resource Manager: role assignments, permissions, resources and long-running
//! operations, with the auxiliary-token header for cross-tenant references.

use std::{sync::Arc, time::Duration};

use reqwest::Method;
use serde::Deserialize;
use serde_json::{Value, json};
use url::Url;
use uuid::Uuid;

use super::{
    AccessToken, ApiCall, ApiResponse, AppCredential, AzureError, HttpStack, Service, Tokens,
    scopes,
};
use crate::domain::TenantId;

const ARM: &str = "https://management.azure.com";

/// api-versions, one per provider, pinned.
pub mod api_versions {
    /// Microsoft.Authorization.
    pub const AUTHORIZATION: &str = "2022-04-01";
    /// Microsoft.Compute virtual machines.
    pub const COMPUTE: &str = "2024-07-01";
    /// Microsoft.Compute galleries.
    pub const GALLERY: &str = "2024-03-03";
    /// Microsoft.Network.
    pub const NETWORK: &str = "2024-05-01";
}

/// Built-in role definition ids.
pub mod roles {
    /// Reader.
    pub const READER: &str = "acdd72a7-3385-48ef-bd42-f606fba81ae7";
    /// Contributor.
    pub const CONTRIBUTOR: &str = "b24988ac-6180-42a0-ab88-20f7382dd24c";
    /// Virtual Machine Contributor: VMs, disks, NICs, joining subnets and NSGs.
    pub const VM_CONTRIBUTOR: &str = "9980e02c-c2be-4d73-94e8-173b1dc7cf3c";
    /// Network Contributor: `Microsoft.Network/*` (the VNet and NSG imageshare makes).
    pub const NETWORK_CONTRIBUTOR: &str = "4d97b98b-1d4f-4787-a291-c67834d212e7";
}

/// Who calls ARM.
#[derive(Clone, Debug)]
pub enum ArmIdentity {
    /// The operator's managed identity (owner tenant).
    Operator,
    /// The share app in `tenant`, optionally with an auxiliary token from `aux_tenant`.
    App {
        /// Client id.
        app_id: String,
        /// Its credential.
        credential: AppCredential,
        /// The tenant of the primary token.
        tenant: TenantId,
        /// The tenant of the auxiliary token (the image owner's), if the call needs one.
        aux_tenant: Option<TenantId>,
    },
    /// A person's delegated token (the consumer's admin in one visit): their own rights
    /// decide. Held in memory for the calls it serves only.
    Delegated(AccessToken),
}

/// One entry of the permissions API: actions minus notActions.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Permission {
    /// Allowed actions (wildcards).
    #[serde(default)]
    pub actions: Vec<String>,
    /// Excluded actions (wildcards).
    #[serde(default)]
    pub not_actions: Vec<String>,
}

/// Case-insensitive wildcard match (`*` matches any run of characters).
fn wildcard_match(pattern: &str, action: &str) -> bool {
    let (p, a) = (pattern.to_ascii_lowercase(), action.to_ascii_lowercase());
    let parts: Vec<&str> = p.split('*').collect();
    if parts.len() == 1 {
        return p == a;
    }
    let mut rest = a.as_str();
    for (i, part) in parts.iter().enumerate() {
        if i == 0 {
            let Some(r) = rest.strip_prefix(part) else {
                return false;
            };
            rest = r;
        } else if i == parts.len() - 1 {
            return rest.ends_with(part);
        } else {
            let Some(pos) = rest.find(part) else {
                return false;
            };
            rest = &rest[pos + part.len()..];
        }
    }
    true
}

/// Whether `permissions` allow `action` (ARM's rule: some entry grants it and that same
/// entry does not exclude it).
pub fn allows(permissions: &[Permission], action: &str) -> bool {
    permissions.iter().any(|p| {
        p.actions.iter().any(|a| wildcard_match(a, action))
            && !p.not_actions.iter().any(|n| wildcard_match(n, action))
    })
}

/// Where a started long-running operation can be followed.
#[derive(Clone, Debug)]
pub struct Started {
    /// The immediate answer's body (the resource, usually `provisioningState` not final).
    pub body: Value,
    /// `Azure-AsyncOperation`, preferred.
    pub async_operation: Option<Url>,
    /// `Location`, the fallback.
    pub location: Option<Url>,
    /// When to poll first.
    pub retry_after: Option<Duration>,
}

impl Started {
    /// The URL to poll, if the operation is still running.
    pub fn poll_url(&self) -> Option<&Url> {
        self.async_operation.as_ref().or(self.location.as_ref())
    }

    /// `provisioningState` of the immediate answer.
    pub fn provisioning_state(&self) -> Option<&str> {
        self.body
            .pointer("/properties/provisioningState")
            .and_then(Value::as_str)
    }
}

/// The state of a long-running operation.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Operation {
    /// Still going; poll again after the given time.
    Running(Option<Duration>),
    /// Done.
    Succeeded,
    /// Ended in failure, with ARM's error code and message.
    Failed {
        /// `error.code`.
        code: String,
        /// `error.message`.
        message: String,
    },
}

/// Resource Manager.
#[derive(Clone, Debug)]
pub struct ArmClient {
    http: HttpStack,
    tokens: Arc<Tokens>,
}

fn arm_url(path: &str, api_version: &str) -> Result<Url, AzureError> {
    let mut url = Url::parse(&format!("{ARM}{path}")).map_err(|e| AzureError::Unexpected {
        service: Service::ResourceManager,
        detail: format!("bad id {path}: {e}"),
    })?;
    url.query_pairs_mut()
        .append_pair("api-version", api_version);
    Ok(url)
}

/// A PUT of `body` to resource `id`.
fn put_call(id: &str, api_version: &str, body: Value) -> Result<ApiCall, AzureError> {
    Ok(ApiCall::new(
        Service::ResourceManager,
        Method::PUT,
        arm_url(id, api_version)?,
    )
    .json(body))
}

/// The deterministic role assignment name: UUIDv5 of scope, principal and role, as the RBAC
/// docs advise, so a re-run targets the same assignment.
pub fn role_assignment_name(scope: &str, principal_id: &str, role_id: &str) -> Uuid {
    let key = format!(
        "{}|{}|{}",
        scope.to_ascii_lowercase(),
        principal_id.to_ascii_lowercase(),
        role_id.to_ascii_lowercase()
    );
    Uuid::new_v5(&Uuid::NAMESPACE_URL, key.as_bytes())
}

impl ArmClient {
    /// A client.
    pub fn new(http: HttpStack, tokens: Arc<Tokens>) -> Self {
        Self { http, tokens }
    }

    async fn authorize(&self, who: &ArmIdentity, call: ApiCall) -> Result<ApiCall, AzureError> {
        match who {
            ArmIdentity::Operator => {
                let token = self.tokens.operator(scopes::ARM).await?;
                Ok(call.header("authorization", &token.bearer()))
            }
            ArmIdentity::Delegated(token) => Ok(call.header("authorization", &token.bearer())),
            ArmIdentity::App {
                app_id,
                credential,
                tenant,
                aux_tenant,
            } => {
                let token: AccessToken = self
                    .tokens
                    .app(app_id, *tenant, credential, scopes::ARM)
                    .await?;
                let call = call.header("authorization", &token.bearer());
                match aux_tenant {
                    Some(aux) => {
                        let aux_token = self
                            .tokens
                            .app(app_id, *aux, credential, scopes::ARM)
                            .await?;
                        Ok(call.header("x-ms-authorization-auxiliary", &aux_token.bearer()))
                    }
                    None => Ok(call),
                }
            }
        }
    }

    async fn send(&self, who: &ArmIdentity, call: ApiCall) -> Result<ApiResponse, AzureError> {
        let call = self.authorize(who, call).await?;
        self.http.send(&call).await
    }

    /// Grants `role_id` to `principal_id` at `scope`. Already granted (under this or another
    /// name) is success.
    pub async fn assign_role(
        &self,
        who: &ArmIdentity,
        scope: &str,
        role_id: &str,
        principal_id: &str,
    ) -> Result<String, AzureError> {
        self.assign_role_to(who, scope, role_id, principal_id, "ServicePrincipal")
            .await
    }

    /// As [`ArmClient::assign_role`], for a principal of `principal_type` (`User` for a guest).
    pub async fn assign_role_to(
        &self,
        who: &ArmIdentity,
        scope: &str,
        role_id: &str,
        principal_id: &str,
        principal_type: &str,
    ) -> Result<String, AzureError> {
        let name = role_assignment_name(scope, principal_id, role_id);
        let id = format!("{scope}/providers/Microsoft.Authorization/roleAssignments/{name}");
        let subscription = scope.split('/').nth(2).unwrap_or_default();
        let body = json!({"properties": {
            "roleDefinitionId": format!("/subscriptions/{subscription}/providers/Microsoft.Authorization/roleDefinitions/{role_id}"),
            "principalId": principal_id,
            // Sent always: it lets ARM accept a principal Entra has not replicated yet.
            "principalType": principal_type,
        }});
        let call = ApiCall::new(
            Service::ResourceManager,
            Method::PUT,
            arm_url(&id, api_versions::AUTHORIZATION)?,
        )
        .json(body);
        match self.send(who, call).await {
            Ok(_) => Ok(id),
            Err(e) if e.has_code("RoleAssignmentExists") => Ok(id),
            Err(e) => Err(e),
        }
    }

    /// The caller's permissions at a resource group (all pages).
    pub async fn permissions(
        &self,
        who: &ArmIdentity,
        resource_group_id: &str,
    ) -> Result<Vec<Permission>, AzureError> {
        #[derive(Deserialize)]
        #[serde(rename_all = "camelCase")]
        struct Page {
            value: Vec<Permission>,
            next_link: Option<String>,
        }
        let mut url = arm_url(
            &format!("{resource_group_id}/providers/Microsoft.Authorization/permissions"),
            api_versions::AUTHORIZATION,
        )?;
        let mut all = Vec::new();
        for _ in 0..50 {
            let page: Page = self
                .send(
                    who,
                    ApiCall::new(Service::ResourceManager, Method::GET, url.clone()),
                )
                .await?
                .json(Service::ResourceManager)?;
            all.extend(page.value);
            match page.next_link.and_then(|l| Url::parse(&l).ok()) {
                Some(next) => url = next,
                None => return Ok(all),
            }
        }
        Ok(all)
    }

    /// Which tenant `subscription` belongs to, asked as the operator (see
    /// [`super::discovery::subscription_home`]).
    pub async fn subscription_home(
        &self,
        subscription: &str,
    ) -> Result<super::discovery::SubscriptionHome, AzureError> {
        // Microsoft.Resources subscriptions, stable since 2021-01-01 (subscriptions.json).
        let call = ApiCall::new(
            Service::ResourceManager,
            Method::GET,
            arm_url(&format!("/subscriptions/{subscription}"), "2021-01-01")?,
        );
        super::discovery::subscription_home(
            self.send(&ArmIdentity::Operator, call).await.map(|_| ()),
        )
    }

    /// GETs a resource; `None` when it does not exist.
    pub async fn get(
        &self,
        who: &ArmIdentity,
        id: &str,
        api_version: &str,
    ) -> Result<Option<Value>, AzureError> {
        let call = ApiCall::new(
            Service::ResourceManager,
            Method::GET,
            arm_url(id, api_version)?,
        );
        match self.send(who, call).await {
            Ok(r) => r.json(Service::ResourceManager).map(Some),
            Err(e) if e.status() == Some(404) && !e.has_code("GalleryImageNotFound") => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// DELETEs a resource. Resource Manager answers 200 (deleted), 204 (there was nothing to
    /// delete) or 202 (accepted: follow `running`).
    pub async fn delete(
        &self,
        who: &ArmIdentity,
        id: &str,
        api_version: &str,
    ) -> Result<super::deletion::Deleted, AzureError> {
        let call = ApiCall::new(
            Service::ResourceManager,
            Method::DELETE,
            arm_url(id, api_version)?,
        )
        .idempotent(true);
        super::deletion::read(
            Service::ResourceManager,
            self.send(who, call).await,
            Some(204),
        )
    }

    /// PUTs a resource (create or update; idempotent) and returns how to follow it.
    pub async fn put(
        &self,
        who: &ArmIdentity,
        id: &str,
        api_version: &str,
        body: Value,
    ) -> Result<Started, AzureError> {
        self.start(who, put_call(id, api_version, body)?).await
    }

    /// POSTs an action on a resource (`{id}/{action}`) and returns how to follow it. Only for
    /// actions whose repeat changes nothing (a gallery's `share` Add or Remove of the same
    /// ids): it may be retried.
    pub async fn post_action(
        &self,
        who: &ArmIdentity,
        id: &str,
        api_version: &str,
        body: Value,
    ) -> Result<Started, AzureError> {
        let call = ApiCall::new(
            Service::ResourceManager,
            Method::POST,
            arm_url(id, api_version)?,
        )
        .json(body)
        .idempotent(true);
        self.start(who, call).await
    }

    /// PUTs a resource only if none exists at `id` (`If-None-Match: *`); an existing one
    /// answers 412 `PreconditionFailed` and is left as it is. Only for providers whose spec
    /// declares the header on that PUT (Compute's VMs do); others may ignore it.
    pub async fn create_only(
        &self,
        who: &ArmIdentity,
        id: &str,
        api_version: &str,
        body: Value,
    ) -> Result<Started, AzureError> {
        let call = put_call(id, api_version, body)?.header("if-none-match", "*");
        self.start(who, call).await
    }

    async fn start(&self, who: &ArmIdentity, call: ApiCall) -> Result<Started, AzureError> {
        let response = self.send(who, call).await?;
        let body = if response.body.is_empty() {
            Value::Null
        } else {
            response.json(Service::ResourceManager)?
        };
        Ok(Started {
            async_operation: response.url_header("azure-asyncoperation"),
            location: response.url_header("location"),
            retry_after: response.retry_after(),
            body,
        })
    }

    /// Polls an operation URL exactly as given (Compute adds a `p=` parameter).
    pub async fn poll(&self, who: &ArmIdentity, url: &Url) -> Result<Operation, AzureError> {
        let response = self
            .send(
                who,
                ApiCall::new(Service::ResourceManager, Method::GET, url.clone()),
            )
            .await?;
        if response.status == 202 {
            return Ok(Operation::Running(response.retry_after()));
        }
        let body: Value = if response.body.is_empty() {
            Value::Null
        } else {
            response.json(Service::ResourceManager)?
        };
        let status = body.get("status").and_then(Value::as_str);
        let error = |b: &Value| {
            let code = b
                .pointer("/error/code")
                .and_then(Value::as_str)
                .unwrap_or("OperationFailed")
                .to_owned();
            let message = b
                .pointer("/error/message")
                .and_then(Value::as_str)
                .unwrap_or("")
                .to_owned();
            Operation::Failed { code, message }
        };
        Ok(match status {
            Some(s) if s.eq_ignore_ascii_case("Succeeded") => Operation::Succeeded,
            Some(s) if s.eq_ignore_ascii_case("Failed") || s.eq_ignore_ascii_case("Canceled") => {
                error(&body)
            }
            Some(_) => Operation::Running(response.retry_after()),
            // A Location poll answering 200 with the resource (or nothing) means done.
            None => Operation::Succeeded,
        })
    }

    /// Waits for a quick operation (network resources) within `budget`, polling inline.
    /// Returns `Running` if it is still going when the budget is spent.
    pub async fn wait(
        &self,
        who: &ArmIdentity,
        started: &Started,
        budget: Duration,
    ) -> Result<Operation, AzureError> {
        if matches!(started.provisioning_state(), Some("Succeeded") | None)
            && started.poll_url().is_none()
        {
            return Ok(Operation::Succeeded);
        }
        let Some(url) = started.poll_url() else {
            return Ok(Operation::Succeeded);
        };
        let deadline = tokio::time::Instant::now() + budget;
        let mut wait = started
            .retry_after
            .unwrap_or(Duration::from_secs(1))
            .min(Duration::from_secs(5));
        loop {
            match self.poll(who, url).await? {
                Operation::Running(after) => {
                    if tokio::time::Instant::now() + wait > deadline {
                        return Ok(Operation::Running(after));
                    }
                    tokio::time::sleep(wait).await;
                    wait = after.unwrap_or(wait).min(Duration::from_secs(5));
                }
                done => return Ok(done),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn perm(actions: &[&str], not_actions: &[&str]) -> Permission {
        Permission {
            actions: actions.iter().map(|s| (*s).to_owned()).collect(),
            not_actions: not_actions.iter().map(|s| (*s).to_owned()).collect(),
        }
    }

    #[test]
    fn contributor_allows_vm_writes_but_not_role_assignments() {
        let contributor = [perm(
            &["*"],
            &[
                "Microsoft.Authorization/*/Delete",
                "Microsoft.Authorization/*/Write",
                "Microsoft.Authorization/elevateAccess/Action",
            ],
        )];
        assert!(allows(
            &contributor,
            "Microsoft.Compute/virtualMachines/write"
        ));
        assert!(allows(
            &contributor,
            "Microsoft.Network/networkInterfaces/join/action"
        ));
        assert!(!allows(
            &contributor,
            "Microsoft.Authorization/roleAssignments/write"
        ));
    }

    #[test]
    fn reader_allows_reads_only() {
        let reader = [perm(&["*/read"], &[])];
        assert!(allows(
            &reader,
            "Microsoft.Compute/galleries/images/versions/read"
        ));
        assert!(!allows(&reader, "Microsoft.Compute/virtualMachines/write"));
    }

    #[test]
    fn a_not_action_in_one_entry_does_not_cancel_another_entry() {
        let perms = [
            perm(&["*"], &["Microsoft.Compute/*"]),
            perm(&["Microsoft.Compute/virtualMachines/*"], &[]),
        ];
        assert!(allows(&perms, "microsoft.compute/virtualmachines/WRITE"));
    }

    #[test]
    fn wildcards_match_in_the_middle() {
        assert!(wildcard_match(
            "Microsoft.Network/*/join/action",
            "Microsoft.Network/networkInterfaces/join/action"
        ));
        assert!(!wildcard_match(
            "Microsoft.Network/*/join/action",
            "Microsoft.Network/networkInterfaces/write"
        ));
    }

    #[test]
    fn role_assignment_names_are_deterministic_and_case_insensitive() {
        let a = role_assignment_name("/subscriptions/S/resourceGroups/RG", "P", roles::READER);
        let b = role_assignment_name("/subscriptions/s/resourcegroups/rg", "p", roles::READER);
        assert_eq!(a, b);
        assert_ne!(
            a,
            role_assignment_name(
                "/subscriptions/s/resourcegroups/rg",
                "p",
                roles::CONTRIBUTOR
            )
        );
    }
}
