//! Built-in role definitions with their real ids, actions and notActions (from the
//! Azure built-in roles reference, MicrosoftDocs/azure-docs `built-in-roles/*.md`).

use serde_json::{Value, json};

/// A built-in role definition.
#[derive(Debug, PartialEq, Eq)]
pub struct RoleDefinition {
    /// The GUID (`acdd72a7-3385-48ef-bd42-f606fba81ae7`).
    pub id: &'static str,
    /// `roleName`.
    pub name: &'static str,
    /// `description`.
    pub description: &'static str,
    /// `permissions[0].actions`.
    pub actions: &'static [&'static str],
    /// `permissions[0].notActions`.
    pub not_actions: &'static [&'static str],
    /// `permissions[0].dataActions`.
    pub data_actions: &'static [&'static str],
    /// `permissions[0].notDataActions`.
    pub not_data_actions: &'static [&'static str],
    /// `createdOn` (Reader's is recorded; the others are representative).
    pub created_on: &'static str,
    /// `updatedOn`.
    pub updated_on: &'static str,
}

/// Reader.
pub const READER: &str = "acdd72a7-3385-48ef-bd42-f606fba81ae7";
/// Contributor.
pub const CONTRIBUTOR: &str = "b24988ac-6180-42a0-ab88-20f7382dd24c";
/// Owner.
pub const OWNER: &str = "8e3af657-a8ff-443c-a75c-2fe8c4bcb635";
/// User Access Administrator.
pub const USER_ACCESS_ADMINISTRATOR: &str = "18d7d88d-d35e-4fb5-a5c3-7773c20a72d9";
/// Role Based Access Control Administrator.
pub const RBAC_ADMINISTRATOR: &str = "f58310d9-a9f6-439a-9e8d-f62e7b41a168";
/// Managed Services Registration assignment Delete Role.
pub const MSP_ASSIGNMENT_DELETE: &str = "91c1777a-f3dc-4fae-b103-61d183457e46";

const KV_READS: &[&str] = &[
    "Microsoft.Authorization/*/read",
    "Microsoft.Insights/alertRules/*",
    "Microsoft.Resources/deployments/*",
    "Microsoft.Resources/subscriptions/resourceGroups/read",
    "Microsoft.Support/*",
    "Microsoft.KeyVault/checkNameAvailability/read",
    "Microsoft.KeyVault/deletedVaults/read",
    "Microsoft.KeyVault/locations/*/read",
    "Microsoft.KeyVault/vaults/*/read",
    "Microsoft.KeyVault/operations/read",
];
const SB_READS: &[&str] = &[
    "Microsoft.ServiceBus/*/queues/read",
    "Microsoft.ServiceBus/*/topics/read",
    "Microsoft.ServiceBus/*/topics/subscriptions/read",
];

/// Virtual Machine Contributor.
pub const VM_CONTRIBUTOR: &str = "9980e02c-c2be-4d73-94e8-173b1dc7cf3c";
/// Network Contributor.
pub const NETWORK_CONTRIBUTOR: &str = "4d97b98b-1d4f-4787-a291-c67834d212e7";
const NONE: &[&str] = &[];
const CREATED: &str = "2015-02-02T21:55:09.8806423Z";

/// Every built-in role the simulator knows.
pub const BUILT_IN: &[RoleDefinition] = &[
    RoleDefinition {
        id: READER,
        name: "Reader",
        description: "View all resources, but does not allow you to make any changes.",
        actions: &["*/read"],
        not_actions: NONE,
        data_actions: NONE,
        not_data_actions: NONE,
        created_on: CREATED,
        updated_on: "2021-11-11T20:13:47.8628684Z",
    },
    RoleDefinition {
        id: CONTRIBUTOR,
        name: "Contributor",
        description: "Grants full access to manage all resources, but does not allow you to assign roles in Azure RBAC, manage assignments in Azure Blueprints, or share image galleries.",
        actions: &["*"],
        not_actions: &[
            "Microsoft.Authorization/*/Delete",
            "Microsoft.Authorization/*/Write",
            "Microsoft.Authorization/elevateAccess/Action",
            "Microsoft.Blueprint/blueprintAssignments/write",
            "Microsoft.Blueprint/blueprintAssignments/delete",
            "Microsoft.Compute/galleries/share/action",
            "Microsoft.Purview/consents/write",
            "Microsoft.Purview/consents/delete",
            "Microsoft.Resources/deploymentStacks/manageDenySetting/action",
            "Microsoft.Subscription/cancel/action",
            "Microsoft.Subscription/enable/action",
        ],
        data_actions: NONE,
        not_data_actions: NONE,
        created_on: CREATED,
        updated_on: "2024-10-01T00:00:00.0000000Z",
    },
    // The actions of the built-in roles reference (Compute and Networking categories,
    // learn.microsoft.com/azure/role-based-access-control/built-in-roles), as listed there.
    RoleDefinition {
        id: VM_CONTRIBUTOR,
        name: "Virtual Machine Contributor",
        description: "Create and manage virtual machines, manage disks, install and run software, reset password of the root user of the virtual machine using VM extensions, and manage local user accounts using VM extensions. This role does not grant you management access to the virtual network or storage account the virtual machines are connected to. This role does not allow you to assign roles in Azure RBAC.",
        actions: &[
            "Microsoft.Authorization/*/read",
            "Microsoft.Compute/availabilitySets/*",
            "Microsoft.Compute/locations/*",
            "Microsoft.Compute/virtualMachines/*",
            "Microsoft.Compute/virtualMachineScaleSets/*",
            "Microsoft.Compute/cloudServices/*",
            "Microsoft.Compute/disks/write",
            "Microsoft.Compute/disks/read",
            "Microsoft.Compute/disks/delete",
            "Microsoft.DevTestLab/schedules/*",
            "Microsoft.Insights/alertRules/*",
            "Microsoft.Network/applicationGateways/backendAddressPools/join/action",
            "Microsoft.Network/loadBalancers/backendAddressPools/join/action",
            "Microsoft.Network/loadBalancers/inboundNatPools/join/action",
            "Microsoft.Network/loadBalancers/inboundNatRules/join/action",
            "Microsoft.Network/loadBalancers/probes/join/action",
            "Microsoft.Network/loadBalancers/read",
            "Microsoft.Network/locations/*",
            "Microsoft.Network/networkInterfaces/*",
            "Microsoft.Network/networkSecurityGroups/join/action",
            "Microsoft.Network/networkSecurityGroups/read",
            "Microsoft.Network/publicIPAddresses/join/action",
            "Microsoft.Network/publicIPAddresses/read",
            "Microsoft.Network/virtualNetworks/read",
            "Microsoft.Network/virtualNetworks/subnets/join/action",
            "Microsoft.RecoveryServices/locations/*",
            "Microsoft.RecoveryServices/Vaults/backupFabrics/backupProtectionIntent/write",
            "Microsoft.RecoveryServices/Vaults/backupFabrics/protectionContainers/protectedItems/*/read",
            "Microsoft.RecoveryServices/Vaults/backupFabrics/protectionContainers/protectedItems/read",
            "Microsoft.RecoveryServices/Vaults/backupFabrics/protectionContainers/protectedItems/write",
            "Microsoft.RecoveryServices/Vaults/backupPolicies/read",
            "Microsoft.RecoveryServices/Vaults/backupPolicies/write",
            "Microsoft.RecoveryServices/Vaults/read",
            "Microsoft.RecoveryServices/Vaults/usages/read",
            "Microsoft.RecoveryServices/Vaults/write",
            "Microsoft.ResourceHealth/availabilityStatuses/read",
            "Microsoft.Resources/deployments/*",
            "Microsoft.Resources/subscriptions/resourceGroups/read",
            "Microsoft.SerialConsole/serialPorts/connect/action",
            "Microsoft.SqlVirtualMachine/*",
            "Microsoft.Storage/storageAccounts/listKeys/action",
            "Microsoft.Storage/storageAccounts/read",
            "Microsoft.Support/*",
        ],
        not_actions: NONE,
        data_actions: NONE,
        not_data_actions: NONE,
        created_on: "2015-06-02T00:18:27.3542698Z",
        updated_on: "2025-02-06T01:34:42.0000000Z",
    },
    RoleDefinition {
        id: NETWORK_CONTRIBUTOR,
        name: "Network Contributor",
        description: "Lets you manage networks, but not access to them. This role does not grant you permission to deploy or manage Virtual Machines.",
        actions: &[
            "Microsoft.Authorization/*/read",
            "Microsoft.Insights/alertRules/*",
            "Microsoft.Network/*",
            "Microsoft.ResourceHealth/availabilityStatuses/read",
            "Microsoft.Resources/deployments/*",
            "Microsoft.Resources/subscriptions/resourceGroups/read",
            "Microsoft.Support/*",
        ],
        not_actions: NONE,
        data_actions: NONE,
        not_data_actions: NONE,
        created_on: "2015-06-02T00:18:27.3542698Z",
        updated_on: "2022-09-06T19:50:53.0000000Z",
    },
    RoleDefinition {
        id: OWNER,
        name: "Owner",
        description: "Grants full access to manage all resources, including the ability to assign roles in Azure RBAC.",
        actions: &["*"],
        not_actions: NONE,
        data_actions: NONE,
        not_data_actions: NONE,
        created_on: CREATED,
        updated_on: "2021-11-11T20:13:45.8978856Z",
    },
    RoleDefinition {
        id: USER_ACCESS_ADMINISTRATOR,
        name: "User Access Administrator",
        description: "Lets you manage user access to Azure resources.",
        actions: &["*/read", "Microsoft.Authorization/*", "Microsoft.Support/*"],
        not_actions: NONE,
        data_actions: NONE,
        not_data_actions: NONE,
        created_on: CREATED,
        updated_on: "2021-11-11T20:13:48.5478889Z",
    },
    RoleDefinition {
        id: RBAC_ADMINISTRATOR,
        name: "Role Based Access Control Administrator",
        description: "Manage access to Azure resources by assigning roles using Azure RBAC. This role does not allow you to manage access using other ways, such as Azure Policy.",
        actions: &[
            "Microsoft.Authorization/roleAssignments/write",
            "Microsoft.Authorization/roleAssignments/delete",
            "*/read",
            "Microsoft.Support/*",
        ],
        not_actions: NONE,
        data_actions: NONE,
        not_data_actions: NONE,
        created_on: "2022-09-07T02:29:29.6592395Z",
        updated_on: "2023-04-13T18:46:09.4530193Z",
    },
    RoleDefinition {
        id: MSP_ASSIGNMENT_DELETE,
        name: "Managed Services Registration assignment Delete Role",
        description: "Managed Services Registration Assignment Delete Role allows the managing tenant users to delete the registration assignment assigned to their tenant.",
        actions: &[
            "Microsoft.ManagedServices/registrationAssignments/read",
            "Microsoft.ManagedServices/registrationAssignments/delete",
            "Microsoft.ManagedServices/operationStatuses/read",
        ],
        not_actions: NONE,
        data_actions: NONE,
        not_data_actions: NONE,
        created_on: "2019-10-23T22:33:33.1183469Z",
        updated_on: "2021-11-11T20:13:57.2266659Z",
    },
    RoleDefinition {
        id: "1ef6a3be-d0ac-425d-8c01-acb62866290b",
        name: "Compute Gallery Sharing Admin",
        description: "This role allows user to share gallery to another subscription/tenant or share it to the public.",
        actions: &["Microsoft.Compute/galleries/share/action"],
        not_actions: NONE,
        data_actions: NONE,
        not_data_actions: NONE,
        created_on: "2022-09-30T00:00:00.0000000Z",
        updated_on: "2022-09-30T00:00:00.0000000Z",
    },
    RoleDefinition {
        id: "b86a8fe4-44ce-4948-aee5-eccb2c155cd7",
        name: "Key Vault Secrets Officer",
        description: "Perform any action on the secrets of a key vault, except manage permissions. Only works for key vaults that use the 'Azure role-based access control' permission model.",
        actions: KV_READS,
        not_actions: NONE,
        data_actions: &["Microsoft.KeyVault/vaults/secrets/*"],
        not_data_actions: NONE,
        created_on: "2020-05-19T17:52:47.0099249Z",
        updated_on: "2021-11-11T20:13:55.2839788Z",
    },
    RoleDefinition {
        id: "4633458b-17de-408a-b874-0445c86b69e6",
        name: "Key Vault Secrets User",
        description: "Read secret contents. Only works for key vaults that use the 'Azure role-based access control' permission model.",
        actions: NONE,
        not_actions: NONE,
        data_actions: &[
            "Microsoft.KeyVault/vaults/secrets/getSecret/action",
            "Microsoft.KeyVault/vaults/secrets/readMetadata/action",
        ],
        not_data_actions: NONE,
        created_on: "2020-05-19T17:52:47.0099249Z",
        updated_on: "2021-11-11T20:13:55.4239803Z",
    },
    RoleDefinition {
        id: "00482a5a-887f-4fb3-b363-3b7fe8e74483",
        name: "Key Vault Administrator",
        description: "Perform all data plane operations on a key vault and all objects in it, including certificates, keys, and secrets. Cannot manage key vault resources or manage role assignments. Only works for key vaults that use the 'Azure role-based access control' permission model.",
        actions: KV_READS,
        not_actions: NONE,
        data_actions: &["Microsoft.KeyVault/vaults/*"],
        not_data_actions: NONE,
        created_on: "2020-05-19T17:52:46.2349235Z",
        updated_on: "2021-11-11T20:13:55.0439769Z",
    },
    RoleDefinition {
        id: "090c5cfd-751d-490a-894a-3ce6f1109419",
        name: "Azure Service Bus Data Owner",
        description: "Allows for full access to Azure Service Bus resources.",
        actions: &["Microsoft.ServiceBus/*"],
        not_actions: NONE,
        data_actions: &["Microsoft.ServiceBus/*"],
        not_data_actions: NONE,
        created_on: "2019-04-16T21:33:36.7445745Z",
        updated_on: "2021-11-11T20:13:43.0779087Z",
    },
    RoleDefinition {
        id: "69a216fc-b8fb-44d8-bc22-1f3c2cd27a39",
        name: "Azure Service Bus Data Sender",
        description: "Allows for send access to Azure Service Bus resources.",
        actions: SB_READS,
        not_actions: NONE,
        data_actions: &["Microsoft.ServiceBus/*/send/action"],
        not_data_actions: NONE,
        created_on: "2019-04-16T21:34:49.0581092Z",
        updated_on: "2021-11-11T20:13:43.2529088Z",
    },
    RoleDefinition {
        id: "4f6d3b9b-027b-4f4c-9142-0e5a2a2247e0",
        name: "Azure Service Bus Data Receiver",
        description: "Allows for receive access to Azure Service Bus resources.",
        actions: SB_READS,
        not_actions: NONE,
        data_actions: &["Microsoft.ServiceBus/*/receive/action"],
        not_data_actions: NONE,
        created_on: "2019-04-16T21:33:36.7445745Z",
        updated_on: "2021-11-11T20:13:43.1629089Z",
    },
];

/// The bare GUID of a role definition id (`/subscriptions/s/providers/.../roleDefinitions/{guid}` or the GUID).
pub fn guid_of(id: &str) -> &str {
    id.trim_end_matches('/').rsplit('/').next().unwrap_or(id)
}

/// A built-in role by GUID, full id, or role name.
pub fn resolve(name_or_id: &str) -> Option<&'static RoleDefinition> {
    let guid = guid_of(name_or_id);
    BUILT_IN
        .iter()
        .find(|r| r.id.eq_ignore_ascii_case(guid) || r.name.eq_ignore_ascii_case(name_or_id.trim()))
}

/// The role definition as ARM answers it, with an id under `scope` (`/subscriptions/{s}`) or
/// tenant-level (`/providers/...`) when `scope` is empty.
pub fn json(role: &RoleDefinition, subscription_scope: &str) -> Value {
    json!({
        "properties": {
            "roleName": role.name,
            "type": "BuiltInRole",
            "description": role.description,
            "assignableScopes": ["/"],
            "permissions": [{
                "actions": role.actions,
                "notActions": role.not_actions,
                "dataActions": role.data_actions,
                "notDataActions": role.not_data_actions,
            }],
            "createdOn": role.created_on,
            "updatedOn": role.updated_on,
            "createdBy": null,
            "updatedBy": null,
        },
        "id": format!("{subscription_scope}/providers/Microsoft.Authorization/roleDefinitions/{}", role.id),
        "type": "Microsoft.Authorization/roleDefinitions",
        "name": role.id,
    })
}
