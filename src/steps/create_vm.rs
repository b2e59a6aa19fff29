//! CreateVm: in the consumer's resource group, the network (the given subnet, or a VNet with
//! an NSG), a NIC, and the VM from the owner's image — the VM PUT carrying the owner tenant's
//! auxiliary token. Provisioning is followed by scheduled re-checks, not by waiting.

use std::time::Duration;

use serde_json::{Value, json};

use super::{
    Outcome, Run, StepError, already_done,
    confirm_consent::app_credential,
    rechecks,
    record::{self, Write},
};
use crate::{
    azure::{
        AzureError,
        arm::{ArmIdentity, Operation, Started, api_versions},
    },
    domain::{Location, ShareRequest, State, Step},
};

/// How long a role just granted may still be refused before we call it a real refusal
/// (RBAC changes "can take up to 10 minutes").
const RBAC_GRACE: Duration = Duration::from_secs(15 * 60);
/// Inline wait for quick network operations before handing over to a re-check.
const INLINE_BUDGET: Duration = Duration::from_secs(30);
/// Re-check interval while the VM provisions.
const POLL: Duration = Duration::from_secs(15);

fn ids(request: &ShareRequest) -> (String, String, String, String, String) {
    let group = format!(
        "/subscriptions/{}/resourceGroups/{}",
        request.consumer.subscription_id, request.consumer.resource_group
    );
    let name = request.vm.name.as_str();
    (
        format!("{group}/providers/Microsoft.Compute/virtualMachines/{name}"),
        format!("{group}/providers/Microsoft.Network/networkInterfaces/{name}-nic"),
        format!("{group}/providers/Microsoft.Network/virtualNetworks/{name}-vnet"),
        format!("{group}/providers/Microsoft.Network/networkSecurityGroups/{name}-nsg"),
        group,
    )
}

/// What the image definition says about the OS.
struct ImageFacts {
    regions: Vec<String>,
    specialized: bool,
    trusted_launch: bool,
    linux: bool,
}

async fn image_facts(
    run: &Run<'_>,
    request: &ShareRequest,
    identity: &ArmIdentity,
) -> Result<ImageFacts, AzureError> {
    let cloud = run.cloud().map_err(|e| AzureError::Unexpected {
        service: crate::azure::Service::ResourceManager,
        detail: e.to_string(),
    })?;
    let version = cloud
        .arm
        .get(identity, &request.image.to_string(), api_versions::GALLERY)
        .await?
        .unwrap_or(Value::Null);
    let definition = cloud
        .arm
        .get(
            identity,
            &request.image.image_definition_id().to_string(),
            api_versions::GALLERY,
        )
        .await?
        .unwrap_or(Value::Null);
    let regions = version
        .pointer("/properties/publishingProfile/targetRegions")
        .and_then(Value::as_array)
        .map(|rs| {
            rs.iter()
                .filter_map(|r| r.get("name")?.as_str().map(str::to_owned))
                .collect()
        })
        .unwrap_or_default();
    let features = definition
        .pointer("/properties/features")
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default();
    let trusted_launch = features.iter().any(|f| {
        f.get("name").and_then(Value::as_str) == Some("SecurityType")
            && f.get("value").and_then(Value::as_str) == Some("TrustedLaunch")
    });
    Ok(ImageFacts {
        regions,
        specialized: definition
            .pointer("/properties/osState")
            .and_then(Value::as_str)
            == Some("Specialized"),
        trusted_launch,
        linux: definition
            .pointer("/properties/osType")
            .and_then(Value::as_str)
            .is_none_or(|t| t.eq_ignore_ascii_case("Linux")),
    })
}

fn vm_body(request: &ShareRequest, nic: &str, image: &ImageFacts) -> Value {
    let user = request.vm.admin_username.as_str();
    let mut properties = json!({
        "hardwareProfile": {"vmSize": request.vm.size.as_str()},
        "storageProfile": {
            "imageReference": {"id": request.image.to_string()},
            "osDisk": {"createOption": "FromImage", "deleteOption": "Delete", "managedDisk": {"storageAccountType": "StandardSSD_LRS"}}
        },
        "networkProfile": {"networkInterfaces": [{"id": nic, "properties": {"primary": true, "deleteOption": "Delete"}}]},
    });
    // A specialized image keeps its own OS profile: ARM refuses one.
    if !image.specialized {
        properties["osProfile"] = json!({
            "computerName": request.vm.name.as_str(),
            "adminUsername": user,
            "linuxConfiguration": {
                "disablePasswordAuthentication": true,
                "ssh": {"publicKeys": [{"path": format!("/home/{user}/.ssh/authorized_keys"), "keyData": request.vm.ssh_public_key.as_str()}]}
            }
        });
    }
    if image.trusted_launch {
        properties["securityProfile"] = json!({"securityType": "TrustedLaunch", "uefiSettings": {"secureBootEnabled": true, "vTpmEnabled": true}});
    }
    json!({
        "location": request.vm.location.as_str(),
        "tags": {"imageshare-request": request.id.to_string()},
        "properties": properties,
    })
}

/// What to do about a failed VM creation: stop for good, or try again later.
enum Verdict {
    Terminal(String),
    Later(Duration, String),
}

fn classify(
    run: &Run<'_>,
    request: &ShareRequest,
    code: &str,
    message: &str,
    status: Option<u16>,
    retry_after: Option<Duration>,
) -> Verdict {
    let lower = code.to_ascii_lowercase();
    let vm = &request.vm;
    match lower.as_str() {
        "galleryimagenotfound" => Verdict::Terminal(format!(
            "The image is not available in {}: {message}",
            vm.location
        )),
        "skunotavailable" | "vmsizenotsupported" => Verdict::Terminal(format!(
            "Size {} is not available in {}: {message}",
            vm.size, vm.location
        )),
        "operationnotallowed" | "quotaexceeded"
            if lower == "quotaexceeded" || message.to_ascii_lowercase().contains("quota") =>
        {
            Verdict::Terminal(format!(
                "The consumer subscription's quota does not allow this VM: {message}"
            ))
        }
        "linkedauthorizationfailed" | "authorizationfailed" => {
            let since = request
                .progress
                .access
                .role_confirmed_at
                .unwrap_or(request.updated_at);
            if run.ctx.clock.now() - since < RBAC_GRACE {
                Verdict::Later(
                    Duration::from_secs(60),
                    format!("role assignments to take effect ({code})"),
                )
            } else {
                Verdict::Terminal(format!("Azure refused the VM creation: {code}: {message}"))
            }
        }
        _ if status == Some(429) => Verdict::Later(
            retry_after.unwrap_or(Duration::from_secs(30)),
            "Resource Manager throttling".into(),
        ),
        _ if status.is_none_or(|s| s >= 500) => Verdict::Later(
            Duration::from_secs(30),
            format!("Resource Manager to recover ({code})"),
        ),
        _ if status.is_some_and(|s| (400..500).contains(&s)) => {
            Verdict::Terminal(format!("Azure refused the VM: {code}: {message}"))
        }
        _ => Verdict::Later(Duration::from_secs(30), format!("{code}: {message}")),
    }
}

async fn verdict(
    run: &Run<'_>,
    request: &ShareRequest,
    verdict: Verdict,
) -> Result<Outcome, StepError> {
    match verdict {
        Verdict::Terminal(reason) => Err(StepError::terminal(reason)),
        Verdict::Later(delay, why) => rechecks::again(run, delay, why).await,
    }
    .map(|o| {
        tracing::debug!(request_id = %request.id, outcome = ?o, "VM creation deferred");
        o
    })
}

fn azure_verdict(run: &Run<'_>, request: &ShareRequest, e: &AzureError) -> Verdict {
    match e {
        AzureError::Api {
            code,
            message,
            status,
            retry_after,
            ..
        } => classify(run, request, code, message, Some(*status), *retry_after),
        AzureError::Token { .. } if !e.is_retryable() => {
            Verdict::Later(Duration::from_secs(60), format!("a token for the app: {e}"))
        }
        other => Verdict::Later(Duration::from_secs(30), other.to_string()),
    }
}

pub(super) async fn run(run: &Run<'_>) -> Result<Outcome, StepError> {
    let ctx = run.ctx;
    let Some(stored) = record::load(ctx, run.message.request_id).await? else {
        return Ok(Outcome::Stale("no such request".into()));
    };
    let request = stored.request;
    match request.state() {
        State::CreatingVm => {}
        State::Completed => return already_done(run, &request, None).await,
        s if s.is_terminal() => return Ok(Outcome::Stale(format!("the request is {s}"))),
        s => return Ok(Outcome::Stale(format!("the request is still {s}"))),
    }
    if let Some(stale) = rechecks::superseded(run, &request) {
        return Ok(stale);
    }
    let app = request
        .progress
        .app
        .clone()
        .ok_or_else(|| StepError::Retryable(anyhow::anyhow!("no app recorded")))?;
    let credential = app_credential(run, &app).await?;
    let cloud = run.cloud()?;
    let owner = ctx.settings.owner_tenant;
    let consumer = ArmIdentity::App {
        app_id: app.app_id.clone(),
        credential: credential.clone(),
        tenant: request.consumer.tenant_id,
        aux_tenant: Some(owner),
    };
    let (vm_id, nic_id, vnet_id, nsg_id, _) = ids(&request);

    if let Some(operation) = request.progress.vm.operation_url.clone() {
        let url = url::Url::parse(&operation).map_err(|e| StepError::Retryable(e.into()))?;
        return match cloud.arm.poll(&consumer, &url).await {
            Ok(Operation::Running(after)) => {
                rechecks::again(
                    run,
                    after.unwrap_or(POLL).max(Duration::from_secs(5)),
                    "the VM to finish provisioning".into(),
                )
                .await
            }
            Ok(Operation::Succeeded) => finish(run, &request, &consumer, &vm_id).await,
            Ok(Operation::Failed { code, message }) => {
                let v = classify(run, &request, &code, &message, None, None);
                if matches!(v, Verdict::Later(..)) {
                    // Start over with a fresh PUT next time.
                    record::update(ctx, request.id, |r| {
                        r.progress.vm.operation_url = None;
                        Ok(Write::Save(Vec::new(), ()))
                    })
                    .await?;
                }
                verdict(run, &request, v).await
            }
            Err(e) => verdict(run, &request, azure_verdict(run, &request, &e)).await,
        };
    }

    // The image must be replicated where the VM goes (read with the owner tenant's token).
    let reader = ArmIdentity::App {
        app_id: app.app_id.clone(),
        credential,
        tenant: owner,
        aux_tenant: None,
    };
    let image = match image_facts(run, &request, &reader).await {
        Ok(facts) => facts,
        Err(e) => return verdict(run, &request, azure_verdict(run, &request, &e)).await,
    };
    if !image.linux {
        return Err(StepError::terminal(
            "The image is not a Linux image; imageshare creates Linux VMs with SSH keys.",
        ));
    }
    let replicated = image
        .regions
        .iter()
        .filter_map(|r| Location::from_display_name(r))
        .any(|l| l == request.vm.location);
    if !replicated {
        return Err(StepError::terminal(format!(
            "The image version {} is not replicated to {}; it is replicated to {}. Ask the image owner to replicate it there, or choose one of those regions.",
            request.image.version(),
            request.vm.location,
            if image.regions.is_empty() {
                "no region".to_owned()
            } else {
                image.regions.join(", ")
            }
        )));
    }

    let location = request.vm.location.as_str();
    let subnet_id = if let Some(subnet) = &request.vm.subnet_id {
        subnet.to_string()
    } else {
        let nsg = json!({"location": location, "tags": {"imageshare-request": request.id.to_string()}, "properties": {"securityRules": []}});
        if let Some(outcome) = put_and_wait(
            run,
            &request,
            &consumer,
            &nsg_id,
            api_versions::NETWORK,
            nsg,
        )
        .await?
        {
            return Ok(outcome);
        }
        let vnet = json!({
            "location": location,
            "tags": {"imageshare-request": request.id.to_string()},
            "properties": {
                "addressSpace": {"addressPrefixes": ["10.0.0.0/16"]},
                "subnets": [{"name": "default", "properties": {"addressPrefix": "10.0.0.0/24", "networkSecurityGroup": {"id": nsg_id}}}]
            }
        });
        if let Some(outcome) = put_and_wait(
            run,
            &request,
            &consumer,
            &vnet_id,
            api_versions::NETWORK,
            vnet,
        )
        .await?
        {
            return Ok(outcome);
        }
        format!("{vnet_id}/subnets/default")
    };
    let nic = json!({
        "location": location,
        "tags": {"imageshare-request": request.id.to_string()},
        "properties": {"ipConfigurations": [{"name": "ipconfig1", "properties": {"subnet": {"id": subnet_id}, "privateIPAllocationMethod": "Dynamic"}}]}
    });
    if let Some(outcome) = put_and_wait(
        run,
        &request,
        &consumer,
        &nic_id,
        api_versions::NETWORK,
        nic,
    )
    .await?
    {
        return Ok(outcome);
    }

    let started = match cloud
        .arm
        .put(
            &consumer,
            &vm_id,
            api_versions::COMPUTE,
            vm_body(&request, &nic_id, &image),
        )
        .await
    {
        Ok(started) => started,
        Err(e) => return verdict(run, &request, azure_verdict(run, &request, &e)).await,
    };
    let operation = started.poll_url().map(ToString::to_string);
    let event = run.event();
    let detail = format!(
        "VM creation accepted by Resource Manager: {vm_id} ({}), from image {}.",
        request.vm.size, request.image
    );
    record::update(ctx, request.id, |r| {
        if r.state() != State::CreatingVm {
            return Ok(Write::Keep(()));
        }
        let first_time = r.progress.vm.vm_id.is_none();
        r.progress.vm.subnet_id = Some(subnet_id.clone());
        r.progress.vm.nic_id = Some(nic_id.clone());
        r.progress.vm.vm_id = Some(vm_id.clone());
        r.progress.vm.operation_url.clone_from(&operation);
        let entries = if first_time {
            vec![r.note("vm-creation-started", detail.clone(), &event)]
        } else {
            Vec::new()
        };
        Ok(Write::Save(entries, ()))
    })
    .await?;
    if operation.is_none() {
        return finish(run, &request, &consumer, &vm_id).await;
    }
    rechecks::again(
        run,
        started
            .retry_after
            .unwrap_or(POLL)
            .max(Duration::from_secs(5)),
        "the VM to finish provisioning".into(),
    )
    .await
}

/// PUTs a network resource and waits briefly; `Some(outcome)` when the step must stop here.
async fn put_and_wait(
    run: &Run<'_>,
    request: &ShareRequest,
    who: &ArmIdentity,
    id: &str,
    api_version: &str,
    body: Value,
) -> Result<Option<Outcome>, StepError> {
    let cloud = run.cloud()?;
    let started: Started = match cloud.arm.put(who, id, api_version, body).await {
        Ok(s) => s,
        Err(e) => {
            return verdict(run, request, azure_verdict(run, request, &e))
                .await
                .map(Some);
        }
    };
    match cloud.arm.wait(who, &started, INLINE_BUDGET).await {
        Ok(Operation::Succeeded) => Ok(None),
        Ok(Operation::Running(_)) => rechecks::again(
            run,
            Duration::from_secs(10),
            format!("{id} to be provisioned"),
        )
        .await
        .map(Some),
        Ok(Operation::Failed { code, message }) => verdict(
            run,
            request,
            classify(run, request, &code, &message, None, None),
        )
        .await
        .map(Some),
        Err(e) => verdict(run, request, azure_verdict(run, request, &e))
            .await
            .map(Some),
    }
}

/// The operation finished: confirm the VM, then complete the request.
async fn finish(
    run: &Run<'_>,
    request: &ShareRequest,
    who: &ArmIdentity,
    vm_id: &str,
) -> Result<Outcome, StepError> {
    let cloud = run.cloud()?;
    let vm = match cloud.arm.get(who, vm_id, api_versions::COMPUTE).await {
        Ok(Some(vm)) => vm,
        Ok(None) => return rechecks::again(run, POLL, "the VM to appear".into()).await,
        Err(e) => return verdict(run, request, azure_verdict(run, request, &e)).await,
    };
    match vm
        .pointer("/properties/provisioningState")
        .and_then(Value::as_str)
    {
        Some("Succeeded") | None => {}
        Some("Failed") => {
            return Err(StepError::terminal(format!(
                "The VM {vm_id} ended in provisioning state Failed."
            )));
        }
        Some(other) => {
            return rechecks::again(
                run,
                POLL,
                format!("the VM to finish provisioning ({other})"),
            )
            .await;
        }
    }
    let event = run.event();
    record::update(run.ctx, request.id, |r| {
        if r.state() != State::CreatingVm {
            return Ok(Write::Keep(()));
        }
        r.progress.vm.operation_url = None;
        r.progress.vm.vm_id = Some(vm_id.to_owned());
        r.steps.ran(Step::CreateVm);
        r.steps.completed(Step::CreateVm, event.at);
        let entry = r.transition(
            State::Completed,
            "completed",
            format!("VM {vm_id} is running in the consumer's tenant."),
            &event,
        )?;
        Ok(Write::Save(vec![entry], ()))
    })
    .await?;
    Ok(Outcome::Done)
}
