//! What Resource Manager holds: resources by id (case-insensitive), running operations, and
//! request budgets. Role assignments live in [`crate::context::World::role_assignments`],
//! shared with the Key Vault and Service Bus data planes.

use std::collections::{BTreeMap, HashMap};

use serde_json::Value;
use time::OffsetDateTime;

use super::{lro::Operation, path::key, throttle::Usage};
use crate::scenario::Scenario;

/// One resource: the JSON ARM answers for it, plus simulator-private data.
#[derive(Debug, Clone)]
pub struct Resource {
    /// The id with the casing it was created with.
    pub id: String,
    /// `Microsoft.Compute/virtualMachines`.
    pub kind: String,
    /// The body ARM returns on GET.
    pub body: Value,
    /// Private data (sharing groups, allocated addresses); never returned.
    pub internal: Value,
    /// When it was created.
    pub created_at: OffsetDateTime,
    /// The operation still provisioning it, if any.
    pub operation: Option<String>,
}

impl Resource {
    /// A resource created now with this body.
    pub fn new(id: &str, kind: &str, body: Value, now: OffsetDateTime) -> Self {
        Self {
            id: id.to_owned(),
            kind: kind.to_owned(),
            body,
            internal: Value::Null,
            created_at: now,
            operation: None,
        }
    }

    /// `properties.provisioningState`.
    pub fn provisioning_state(&self) -> Option<&str> {
        self.body["properties"]["provisioningState"].as_str()
    }

    /// `location`.
    pub fn location(&self) -> Option<&str> {
        self.body["location"].as_str()
    }
}

/// Resource Manager's state.
#[derive(Debug, Default)]
pub struct ArmState {
    /// Resources by lower-case id (resource groups included).
    pub resources: BTreeMap<String, Resource>,
    /// Long-running operations by lower-case id.
    pub operations: HashMap<String, Operation>,
    /// Request budgets.
    pub usage: Usage,
    /// Preview feature states (`Registered`, `Pending`, ...) by [`super::features::key`];
    /// absent: `NotRegistered`.
    pub features: BTreeMap<String, String>,
    /// Direct share invitations a consumer answered (`Accepted` / `Rejected`) by
    /// [`super::compute::shared::invitation_key`]; absent: pending.
    pub invitations: BTreeMap<String, String>,
}

impl ArmState {
    /// The resources a scenario declares: resource groups, galleries, images, versions.
    pub fn from_scenario(scenario: &Scenario, now: OffsetDateTime) -> Self {
        let mut state = Self::default();
        for sub in &scenario.subscriptions {
            for rg in &sub.resource_groups {
                let id = format!("/subscriptions/{}/resourceGroups/{}", sub.id, rg.name);
                state.insert(Resource::new(
                    &id,
                    "Microsoft.Resources/resourceGroups",
                    super::resources::resource_group_body(&id, &rg.name, &rg.location, None),
                    now,
                ));
            }
        }
        for r in super::compute::gallery::seed(scenario, now) {
            state.insert(r);
        }
        for sub in &scenario.subscriptions {
            for feature in &sub.registered_features {
                state.features.insert(
                    super::features::key(&sub.id, feature),
                    super::features::REGISTERED.to_owned(),
                );
            }
        }
        state
    }

    /// A resource by id.
    pub fn get(&self, id: &str) -> Option<&Resource> {
        self.resources.get(&key(id))
    }

    /// A resource by id, to change.
    pub fn get_mut(&mut self, id: &str) -> Option<&mut Resource> {
        self.resources.get_mut(&key(id))
    }

    /// Stores a resource (replacing one with the same id).
    pub fn insert(&mut self, r: Resource) {
        self.resources.insert(key(&r.id), r);
    }

    /// Removes a resource and everything nested under it.
    pub fn remove(&mut self, id: &str) -> Option<Resource> {
        let k = key(id);
        let prefix = format!("{k}/");
        self.resources
            .retain(|other, _| !other.starts_with(&prefix));
        self.resources.remove(&k)
    }

    /// Resources of `kind` whose parent is `parent`, in id order.
    pub fn children(&self, parent: &str, kind: &str) -> Vec<&Resource> {
        let parent = key(parent);
        self.resources
            .values()
            .filter(|r| {
                r.kind.eq_ignore_ascii_case(kind) && key(&super::path::parent_of(&r.id)) == parent
            })
            .collect()
    }
}
