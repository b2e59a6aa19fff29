//! The built-in demo scenario (`Scenario::demo()`, `--scenario demo`): Contoso shares a
//! gallery image with Fabrikam. The ids are fixed (the handler's local run is configured with
//! them) and listed in the crate README.

use super::{
    ArmSettings, EntitySpec, GalleryImageSpec, GalleryImageVersionSpec, GallerySpec,
    ImageFeatureSpec, KeyVaultSpec, ManagedIdentitySpec, NamespaceSpec, Replication,
    ResourceGroupSpec, RoleAssignmentSpec, SasPolicySpec, Scenario, SubscriptionSpec, TenantSpec,
    TopicSpec, UserSpec, default_token_lifetime,
};

/// Owner tenant (Contoso).
pub const CONTOSO_TENANT: &str = "11111111-1111-4111-8111-111111111111";
/// Contoso's verified domain.
pub const CONTOSO_DOMAIN: &str = "contoso.onmicrosoft.com";
/// Contoso's subscription.
pub const CONTOSO_SUBSCRIPTION: &str = "1a1a1a1a-1111-4111-8111-111111111111";
/// Operator managed identity resource id.
pub const OPERATOR_RESOURCE_ID: &str = "/subscriptions/1a1a1a1a-1111-4111-8111-111111111111/resourceGroups/rg-imageshare/providers/Microsoft.ManagedIdentity/userAssignedIdentities/id-imageshare";
/// Operator managed identity client id.
pub const OPERATOR_CLIENT_ID: &str = "3c3c3c3c-3333-4333-8333-333333333333";
/// Operator managed identity principal (object) id.
pub const OPERATOR_PRINCIPAL_ID: &str = "3d3d3d3d-3333-4333-8333-333333333333";
/// `IDENTITY_HEADER` of the demo managed identity endpoint.
pub const IDENTITY_HEADER: &str = "demo-identity-header";
/// Contoso's resource group holding the gallery.
pub const IMAGES_RESOURCE_GROUP: &str = "rg-images";
/// Contoso's resource group holding the Function App's identity.
pub const IMAGESHARE_RESOURCE_GROUP: &str = "rg-imageshare";
/// The gallery.
pub const GALLERY_ID: &str = "/subscriptions/1a1a1a1a-1111-4111-8111-111111111111/resourceGroups/rg-images/providers/Microsoft.Compute/galleries/contosoGallery";
/// The preview feature a publisher of a direct shared gallery needs (registered in the Contoso
/// subscription, not in Fabrikam's).
pub const SIG_SHARING_FEATURE: &str = "Microsoft.Compute/SIGSharing";
/// The gallery's `identifier.uniqueName` (the name consumers of a direct share use).
pub const GALLERY_UNIQUE_NAME: &str = "1a1a1a1a-1111-4111-8111-111111111111-CONTOSOGALLERY";
/// The image definition.
pub const IMAGE_DEFINITION_ID: &str = "/subscriptions/1a1a1a1a-1111-4111-8111-111111111111/resourceGroups/rg-images/providers/Microsoft.Compute/galleries/contosoGallery/images/ubuntu-hardened";
/// The gallery image version to share.
pub const IMAGE_VERSION_ID: &str = "/subscriptions/1a1a1a1a-1111-4111-8111-111111111111/resourceGroups/rg-images/providers/Microsoft.Compute/galleries/contosoGallery/images/ubuntu-hardened/versions/1.0.0";
/// Key Vault name.
pub const KEY_VAULT: &str = "kv-imageshare-demo";
/// Service Bus namespace name.
pub const SERVICE_BUS_NAMESPACE: &str = "sb-imageshare-demo";
/// SAS policy name.
pub const SAS_POLICY: &str = "RootManageSharedAccessKey";
/// SAS key (demo only).
pub const SAS_KEY: &str = "ZGVtby1zZXJ2aWNlLWJ1cy1rZXktbm90LWEtc2VjcmV0";
/// Queues.
pub const QUEUES: [&str; 13] = [
    "share-requests",
    "issue-credentials",
    "send-consent-link",
    "confirm-consent",
    "create-vm",
    "revoke-access",
    "release-access",
    "delegate",
    "end-delegation",
    "share-gallery",
    "unshare-gallery",
    "grant-guest",
    "remove-guest",
];
/// Topic and its subscription.
pub const TOPIC: &str = "share-events";
/// The topic's subscription.
pub const TOPIC_SUBSCRIPTION: &str = "all";
/// Sender of consent mails.
pub const MAILBOX_UPN: &str = "imageshare@contoso.onmicrosoft.com";
/// Its object id.
pub const MAILBOX_ID: &str = "5e5e5e5e-5555-4555-8555-555555555555";
/// Consumer tenant (Fabrikam).
pub const FABRIKAM_TENANT: &str = "22222222-2222-4222-8222-222222222222";
/// Fabrikam's verified domain.
pub const FABRIKAM_DOMAIN: &str = "fabrikam.onmicrosoft.com";
/// Fabrikam's subscription.
pub const FABRIKAM_SUBSCRIPTION: &str = "2b2b2b2b-2222-4222-8222-222222222222";
/// Fabrikam's resource group for VMs.
pub const FABRIKAM_RESOURCE_GROUP: &str = "rg-fabrikam-vms";
/// Fabrikam's admin.
pub const FABRIKAM_ADMIN_UPN: &str = "admin@fabrikam.onmicrosoft.com";
/// Its object id.
pub const FABRIKAM_ADMIN_ID: &str = "4f4f4f4f-4444-4444-8444-444444444444";
/// Its password (demo only).
pub const FABRIKAM_ADMIN_PASSWORD: &str = "demo-admin-password";
/// Contoso's admin.
pub const CONTOSO_ADMIN_UPN: &str = "admin@contoso.onmicrosoft.com";
/// Its object id.
pub const CONTOSO_ADMIN_ID: &str = "6a6a6a6a-6666-4666-8666-666666666666";
/// Its password (demo only).
pub const CONTOSO_ADMIN_PASSWORD: &str = "demo-admin-password";
/// A Fabrikam user without any admin role, Reader on the Fabrikam subscription — in the
/// scenario only after [`Scenario::with_fabrikam_reader`].
pub const FABRIKAM_READER_UPN: &str = "reader@fabrikam.onmicrosoft.com";
/// Its object id.
pub const FABRIKAM_READER_ID: &str = "7c7c7c7c-7777-4777-8777-777777777777";
/// Its password (demo only).
pub const FABRIKAM_READER_PASSWORD: &str = "demo-reader-password";
/// VM sizes Fabrikam may use in eastus and westeurope.
pub const FABRIKAM_VM_SIZES: [&str; 3] = ["Standard_B2s", "Standard_D2s_v5", "Standard_D4s_v5"];
/// Seconds before a new role assignment takes effect.
pub const ROLE_ASSIGNMENT_SECONDS: u32 = 10;
/// Seconds before Resource Manager knows a new principal.
pub const ARM_PRINCIPAL_SECONDS: u32 = 5;

fn entity(name: &str) -> EntitySpec {
    EntitySpec {
        name: name.to_owned(),
        lock_duration: "PT30S".to_owned(),
        max_delivery_count: 10,
        duplicate_detection_window: Some("PT10M".to_owned()),
    }
}

impl Scenario {
    /// The built-in demo: Contoso shares an image with Fabrikam (ids in [`demo`]).
    pub fn demo() -> Self {
        let contoso_sub = format!("/subscriptions/{CONTOSO_SUBSCRIPTION}");
        let imageshare_rg = format!("{contoso_sub}/resourceGroups/rg-imageshare");
        let vault_id = format!("{imageshare_rg}/providers/Microsoft.KeyVault/vaults/{KEY_VAULT}");
        let namespace_id = format!(
            "{imageshare_rg}/providers/Microsoft.ServiceBus/namespaces/{SERVICE_BUS_NAMESPACE}"
        );
        let images_rg = format!("{contoso_sub}/resourceGroups/rg-images");
        let assign = |role: &str, scope: &str, principal: &str| RoleAssignmentSpec {
            principal_id: principal.to_owned(),
            role: role.to_owned(),
            scope: scope.to_owned(),
            ..RoleAssignmentSpec::default()
        };
        let fabrikam_sizes = || FABRIKAM_VM_SIZES.iter().map(|s| (*s).to_owned()).collect();
        Self {
            tenants: vec![
                TenantSpec {
                    id: CONTOSO_TENANT.into(),
                    domain: CONTOSO_DOMAIN.into(),
                    display_name: "Contoso".into(),
                },
                TenantSpec {
                    id: FABRIKAM_TENANT.into(),
                    domain: FABRIKAM_DOMAIN.into(),
                    display_name: "Fabrikam".into(),
                },
            ],
            users: vec![
                UserSpec {
                    id: MAILBOX_ID.into(),
                    tenant: CONTOSO_TENANT.into(),
                    user_principal_name: MAILBOX_UPN.into(),
                    display_name: "imageshare".into(),
                    password: None,
                    directory_roles: vec![],
                },
                UserSpec {
                    id: FABRIKAM_ADMIN_ID.into(),
                    tenant: FABRIKAM_TENANT.into(),
                    user_principal_name: FABRIKAM_ADMIN_UPN.into(),
                    display_name: "Fabrikam Admin".into(),
                    password: Some(FABRIKAM_ADMIN_PASSWORD.into()),
                    directory_roles: vec!["Global Administrator".into()],
                },
                UserSpec {
                    id: CONTOSO_ADMIN_ID.into(),
                    tenant: CONTOSO_TENANT.into(),
                    user_principal_name: CONTOSO_ADMIN_UPN.into(),
                    display_name: "Contoso Admin".into(),
                    password: Some(CONTOSO_ADMIN_PASSWORD.into()),
                    directory_roles: vec!["Global Administrator".into()],
                },
            ],
            applications: vec![],
            service_principals: vec![],
            managed_identities: vec![ManagedIdentitySpec {
                name: "id-imageshare".into(),
                resource_id: OPERATOR_RESOURCE_ID.into(),
                client_id: OPERATOR_CLIENT_ID.into(),
                principal_id: OPERATOR_PRINCIPAL_ID.into(),
                tenant: CONTOSO_TENANT.into(),
                graph_permissions: vec!["Application.ReadWrite.OwnedBy".into(), "Mail.Send".into()],
            }],
            identity_header: IDENTITY_HEADER.into(),
            subscriptions: vec![
                SubscriptionSpec {
                    id: CONTOSO_SUBSCRIPTION.into(),
                    display_name: "Contoso Images".into(),
                    tenant: CONTOSO_TENANT.into(),
                    resource_groups: vec![
                        ResourceGroupSpec {
                            name: IMAGESHARE_RESOURCE_GROUP.into(),
                            location: "eastus".into(),
                        },
                        ResourceGroupSpec {
                            name: IMAGES_RESOURCE_GROUP.into(),
                            location: "eastus".into(),
                        },
                    ],
                    vm_sizes: Default::default(),
                    registered_features: vec![SIG_SHARING_FEATURE.into()],
                },
                SubscriptionSpec {
                    id: FABRIKAM_SUBSCRIPTION.into(),
                    display_name: "Fabrikam Workloads".into(),
                    tenant: FABRIKAM_TENANT.into(),
                    resource_groups: vec![ResourceGroupSpec {
                        name: FABRIKAM_RESOURCE_GROUP.into(),
                        location: "eastus".into(),
                    }],
                    vm_sizes: [
                        ("eastus".to_owned(), fabrikam_sizes()),
                        ("westeurope".to_owned(), fabrikam_sizes()),
                    ]
                    .into_iter()
                    .collect(),
                    registered_features: vec![],
                },
            ],
            role_assignments: vec![
                assign(
                    "Role Based Access Control Administrator",
                    &images_rg,
                    OPERATOR_PRINCIPAL_ID,
                ),
                assign("Reader", &images_rg, OPERATOR_PRINCIPAL_ID),
                assign(
                    "Key Vault Secrets Officer",
                    &vault_id,
                    OPERATOR_PRINCIPAL_ID,
                ),
                assign(
                    "Azure Service Bus Data Owner",
                    &namespace_id,
                    OPERATOR_PRINCIPAL_ID,
                ),
                assign(
                    "Owner",
                    &format!("/subscriptions/{FABRIKAM_SUBSCRIPTION}"),
                    FABRIKAM_ADMIN_ID,
                ),
                assign("Owner", &contoso_sub, CONTOSO_ADMIN_ID),
            ],
            galleries: vec![GallerySpec {
                id: GALLERY_ID.into(),
                location: "eastus".into(),
                unique_name: Some(GALLERY_UNIQUE_NAME.into()),
                sharing_permissions: "Private".into(),
                shared_with_subscriptions: vec![],
                shared_with_tenants: vec![],
            }],
            gallery_images: vec![GalleryImageSpec {
                id: IMAGE_DEFINITION_ID.into(),
                location: None,
                os_type: "Linux".into(),
                os_state: "Generalized".into(),
                hyper_v_generation: "V2".into(),
                publisher: "Contoso".into(),
                offer: "ubuntu-hardened".into(),
                sku: "22_04".into(),
                features: vec![ImageFeatureSpec {
                    name: "SecurityType".into(),
                    value: "TrustedLaunchSupported".into(),
                }],
                architecture: "x64".into(),
            }],
            gallery_image_versions: vec![GalleryImageVersionSpec {
                id: IMAGE_VERSION_ID.into(),
                location: "eastus".into(),
                target_regions: vec!["East US".into(), "West Europe".into()],
                os_type: "Linux".into(),
                os_state: "Generalized".into(),
                os_disk_size_gb: Some(30),
                data_disk_sizes_gb: vec![],
                disk_encryption_set_id: None,
            }],
            managed_images: vec![],
            platform_images: vec![],
            arm: ArmSettings::default(),
            key_vaults: vec![KeyVaultSpec {
                name: KEY_VAULT.into(),
                tenant: CONTOSO_TENANT.into(),
                resource_id: vault_id,
            }],
            service_bus_namespaces: vec![NamespaceSpec {
                name: SERVICE_BUS_NAMESPACE.into(),
                tenant: CONTOSO_TENANT.into(),
                resource_id: namespace_id,
                sas_policies: vec![SasPolicySpec {
                    name: SAS_POLICY.into(),
                    primary_key: SAS_KEY.into(),
                    secondary_key: None,
                    rights: vec!["Manage".into(), "Send".into(), "Listen".into()],
                }],
                queues: QUEUES.iter().map(|q| entity(q)).collect(),
                topics: vec![TopicSpec {
                    name: TOPIC.into(),
                    duplicate_detection_window: Some("PT10M".into()),
                    subscriptions: vec![entity(TOPIC_SUBSCRIPTION)],
                }],
            }],
            replication: Replication {
                new_application_seconds: 2,
                new_secret_seconds: 5,
                new_service_principal_seconds: 5,
                role_assignment_seconds: ROLE_ASSIGNMENT_SECONDS,
                arm_principal_seconds: ARM_PRINCIPAL_SECONDS,
            },
            token_lifetime_seconds: default_token_lifetime(),
            graph_throttling: None,
            graph_identity_throttling: None,
            faults: vec![],
        }
    }
}

#[cfg(test)]
mod tests {
    use crate::scenario::Scenario;

    /// The ids the handler's local run is configured with (`/work/notes/demo-ids.md`).
    #[test]
    fn the_demo_scenario_has_the_documented_ids() {
        let text = serde_json::to_string(&Scenario::demo()).unwrap();
        for id in [
            "11111111-1111-4111-8111-111111111111",
            "contoso.onmicrosoft.com",
            "1a1a1a1a-1111-4111-8111-111111111111",
            "Contoso Images",
            "/subscriptions/1a1a1a1a-1111-4111-8111-111111111111/resourceGroups/rg-imageshare/providers/Microsoft.ManagedIdentity/userAssignedIdentities/id-imageshare",
            "3c3c3c3c-3333-4333-8333-333333333333",
            "3d3d3d3d-3333-4333-8333-333333333333",
            "demo-identity-header",
            "/subscriptions/1a1a1a1a-1111-4111-8111-111111111111/resourceGroups/rg-images/providers/Microsoft.Compute/galleries/contosoGallery/images/ubuntu-hardened/versions/1.0.0",
            "kv-imageshare-demo",
            "sb-imageshare-demo",
            "RootManageSharedAccessKey",
            "ZGVtby1zZXJ2aWNlLWJ1cy1rZXktbm90LWEtc2VjcmV0",
            "share-requests",
            "issue-credentials",
            "send-consent-link",
            "confirm-consent",
            "create-vm",
            "revoke-access",
            "release-access",
            "delegate",
            "end-delegation",
            "share-events",
            "imageshare@contoso.onmicrosoft.com",
            "5e5e5e5e-5555-4555-8555-555555555555",
            "22222222-2222-4222-8222-222222222222",
            "fabrikam.onmicrosoft.com",
            "2b2b2b2b-2222-4222-8222-222222222222",
            "Fabrikam Workloads",
            "rg-fabrikam-vms",
            "admin@fabrikam.onmicrosoft.com",
            "4f4f4f4f-4444-4444-8444-444444444444",
            "demo-admin-password",
            "Global Administrator",
            "admin@contoso.onmicrosoft.com",
            "6a6a6a6a-6666-4666-8666-666666666666",
            "1a1a1a1a-1111-4111-8111-111111111111-CONTOSOGALLERY",
            "TrustedLaunchSupported",
            "Standard_D2s_v5",
            "Standard_D4s_v5",
            "Standard_B2s",
            "westeurope",
        ] {
            assert!(text.contains(id), "demo scenario lacks {id}");
        }
        let demo = Scenario::demo();
        let mi = &demo.managed_identities[0];
        assert_eq!(
            mi.graph_permissions,
            ["Application.ReadWrite.OwnedBy", "Mail.Send"]
        );
        let queues = &demo.service_bus_namespaces[0].queues;
        let names: Vec<&str> = queues.iter().map(|q| q.name.as_str()).collect();
        assert_eq!(names, super::QUEUES);
        assert!(queues.iter().all(|q| q.lock_duration == "PT30S"
            && q.max_delivery_count == 10
            && q.duplicate_detection_window.as_deref() == Some("PT10M")));
        assert_eq!(
            demo.service_bus_namespaces[0].topics[0].subscriptions[0].name,
            "all"
        );
    }
}
