//! Many consumers of one image owner, for load runs: the demo's owner (Contoso, its operator
//! identity, gallery, vault and namespace) and `count` generated consumer tenants, each set up
//! as the demo's Fabrikam is — a verified domain, a subscription with a resource group for
//! VMs, and an admin who signs in with a password, is a Global Administrator and Owner of the
//! subscription — so the consent, approval and role-grant flows work for each of them.
//!
//! Every id is a function of the consumer's number (1-based), so two runs of one size see the
//! same tenants and a test can name them ([`consumer`]). The demo scenario is unchanged:
//! [`Scenario::with_consumers`] adds to whatever scenario it is given.

use super::{
    ArmRegionalThrottling, GalleryImageVersionSpec, GraphIdentityThrottling, ResourceGroupSpec,
    RoleAssignmentSpec, Scenario, SubscriptionSpec, TenantSpec, UserSpec, demo,
};

/// One generated consumer tenant.
#[derive(Clone, PartialEq, Eq)]
pub struct Consumer {
    /// Its number, from 1.
    pub index: usize,
    /// Tenant id (`7e000000-0000-4000-8000-{index:012}`).
    pub tenant: String,
    /// Verified domain (`consumer001.onmicrosoft.com`).
    pub domain: String,
    /// Display name (`Consumer 001`).
    pub display_name: String,
    /// Subscription id (`5b000000-0000-4000-8000-{index:012}`).
    pub subscription: String,
    /// The resource group for VMs (`rg-consumer001-vms`, eastus).
    pub resource_group: String,
    /// The admin's sign-in name (`admin@consumer001.onmicrosoft.com`).
    pub admin_upn: String,
    /// The admin's object id (`ad000000-0000-4000-8000-{index:012}`).
    pub admin_id: String,
    /// The admin's password (generated, not a secret of any real system).
    pub admin_password: String,
}

impl std::fmt::Debug for Consumer {
    /// Everything but the password.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Consumer")
            .field("index", &self.index)
            .field("tenant", &self.tenant)
            .field("domain", &self.domain)
            .field("subscription", &self.subscription)
            .field("resource_group", &self.resource_group)
            .field("admin_upn", &self.admin_upn)
            .finish_non_exhaustive()
    }
}

/// The generated consumer number `index` (1-based; up to 999,999 distinct ids).
pub fn consumer(index: usize) -> Consumer {
    let name = format!("consumer{index:03}");
    let domain = format!("{name}.onmicrosoft.com");
    Consumer {
        index,
        tenant: format!("7e000000-0000-4000-8000-{index:012}"),
        display_name: format!("Consumer {index:03}"),
        subscription: format!("5b000000-0000-4000-8000-{index:012}"),
        resource_group: format!("rg-{name}-vms"),
        admin_upn: format!("admin@{domain}"),
        admin_id: format!("ad000000-0000-4000-8000-{index:012}"),
        admin_password: format!("{name}-admin-password"),
        domain,
    }
}

/// The first `count` generated consumers.
pub fn consumers(count: usize) -> Vec<Consumer> {
    (1..=count).map(consumer).collect()
}

/// The id of the demo image's version number `n` (`1.0.{n}`; `n = 0` is the demo's own
/// [`demo::IMAGE_VERSION_ID`]).
pub fn image_version_id(n: usize) -> String {
    format!("{}/versions/1.0.{n}", demo::IMAGE_DEFINITION_ID)
}

impl Scenario {
    /// The demo with `count` generated consumer tenants added ([`consumer`] describes each).
    pub fn fleet(count: usize) -> Self {
        Self::demo().with_consumers(count)
    }

    /// The same scenario with the first `count` generated consumer tenants added: tenant,
    /// admin (Global Administrator, Owner of the subscription), subscription with its VM
    /// resource group, and the demo Fabrikam's VM sizes.
    #[must_use]
    pub fn with_consumers(mut self, count: usize) -> Self {
        let sizes: Vec<String> = demo::FABRIKAM_VM_SIZES
            .iter()
            .map(|s| (*s).to_owned())
            .collect();
        for c in consumers(count) {
            self.tenants.push(TenantSpec {
                id: c.tenant.clone(),
                domain: c.domain.clone(),
                display_name: c.display_name.clone(),
            });
            self.users.push(UserSpec {
                id: c.admin_id.clone(),
                tenant: c.tenant.clone(),
                user_principal_name: c.admin_upn.clone(),
                display_name: format!("{} Admin", c.display_name),
                password: Some(c.admin_password.clone()),
                directory_roles: vec!["Global Administrator".into()],
            });
            self.subscriptions.push(SubscriptionSpec {
                id: c.subscription.clone(),
                display_name: format!("{} Workloads", c.display_name),
                tenant: c.tenant.clone(),
                resource_groups: vec![ResourceGroupSpec {
                    name: c.resource_group.clone(),
                    location: "eastus".into(),
                }],
                vm_sizes: [
                    ("eastus".to_owned(), sizes.clone()),
                    ("westeurope".to_owned(), sizes.clone()),
                ]
                .into_iter()
                .collect(),
                registered_features: vec![],
            });
            self.role_assignments.push(RoleAssignmentSpec {
                principal_id: c.admin_id.clone(),
                role: "Owner".into(),
                scope: format!("/subscriptions/{}", c.subscription),
                ..RoleAssignmentSpec::default()
            });
        }
        self
    }

    /// The same scenario with versions `1.0.1` to `1.0.{count - 1}` of the demo image added
    /// beside `1.0.0` (each like it), so a run can share "a new version" several times.
    #[must_use]
    pub fn with_image_versions(mut self, count: usize) -> Self {
        let Some(first) = self
            .gallery_image_versions
            .iter()
            .find(|v| v.id == demo::IMAGE_VERSION_ID)
            .cloned()
        else {
            return self;
        };
        for n in 1..count {
            let id = image_version_id(n);
            if !self.gallery_image_versions.iter().any(|v| v.id == id) {
                self.gallery_image_versions.push(GalleryImageVersionSpec {
                    id,
                    ..first.clone()
                });
            }
        }
        self
    }

    /// The same scenario with Resource Manager's regional token buckets and Microsoft Graph's
    /// identity and access limits on, at their documented figures.
    #[must_use]
    pub fn with_documented_throttling(mut self) -> Self {
        self.arm.regional_throttling = Some(ArmRegionalThrottling::default());
        self.graph_identity_throttling = Some(GraphIdentityThrottling::default());
        self
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generated_consumers_have_distinct_deterministic_ids() {
        let a = consumers(50);
        assert_eq!(a, consumers(50));
        let tenants: std::collections::BTreeSet<_> = a.iter().map(|c| &c.tenant).collect();
        let subscriptions: std::collections::BTreeSet<_> =
            a.iter().map(|c| &c.subscription).collect();
        assert_eq!((tenants.len(), subscriptions.len()), (50, 50));
        assert_eq!(a[0].tenant, "7e000000-0000-4000-8000-000000000001");
        assert_eq!(a[49].admin_upn, "admin@consumer050.onmicrosoft.com");
        assert!(uuid_like(&a[49].admin_id));
    }

    fn uuid_like(s: &str) -> bool {
        let parts: Vec<usize> = s.split('-').map(str::len).collect();
        parts == [8, 4, 4, 4, 12] && s.chars().all(|c| c == '-' || c.is_ascii_hexdigit())
    }

    #[test]
    fn a_fleet_is_a_valid_scenario_that_keeps_the_demo_as_it_is() {
        let fleet = Scenario::fleet(5).with_image_versions(3);
        fleet.validate().unwrap();
        let demo = Scenario::demo();
        assert_eq!(fleet.tenants.len(), demo.tenants.len() + 5);
        assert_eq!(&fleet.tenants[..2], &demo.tenants[..]);
        assert_eq!(fleet.gallery_image_versions.len(), 3);
        assert_eq!(fleet.gallery_image_versions[2].id, image_version_id(2));
        let text = serde_json::to_string(&fleet).unwrap();
        assert_eq!(Scenario::from_json(&text).unwrap(), fleet);
    }

    #[test]
    fn each_consumer_admin_owns_its_subscription() {
        let fleet = Scenario::fleet(3);
        for c in consumers(3) {
            assert!(
                fleet
                    .role_assignments
                    .iter()
                    .any(|a| a.principal_id == c.admin_id
                        && a.role == "Owner"
                        && a.scope == format!("/subscriptions/{}", c.subscription))
            );
            let admin = fleet.users.iter().find(|u| u.id == c.admin_id).unwrap();
            assert_eq!(admin.directory_roles, ["Global Administrator"]);
            assert_eq!(admin.password.as_deref(), Some(c.admin_password.as_str()));
        }
    }

    #[test]
    fn documented_throttling_turns_both_models_on() {
        let s = Scenario::fleet(1).with_documented_throttling();
        assert_eq!(
            s.arm.regional_throttling,
            Some(ArmRegionalThrottling::default())
        );
        assert!(s.graph_identity_throttling.is_some());
        assert!(Scenario::fleet(1).arm.regional_throttling.is_none());
    }
}
