//! The share-request document, field by field, collecting every problem rather than the first.
//!
//! ```json
//! {
//!   "strategy": "app-consent",
//!   "consumer": {"tenantId": "...", "subscriptionId": "...", "resourceGroup": "...", "adminEmail": "..."},
//!   "image": {"name": "ubuntu-hardened"}            // or {"id": "/subscriptions/.../versions/1.0.0"}
//!   "vm": {"name": "...", "size": "Standard_D2s_v5", "location": "eastus",
//!          "adminUsername": "azureuser", "sshPublicKey": "ssh-ed25519 ...", "subnetId": "..."}
//! }
//! ```

use serde_json::{Map, Value};

use super::FieldProblem;
use crate::domain::{
    AdminUsername, Consumer, EmailAddress, ImageCatalog, ImageRef, ImageVersionId, Invalid,
    Location, ResourceGroupName, SshPublicKey, Strategy, SubnetId, SubscriptionId, TenantId,
    VmName, VmSize, VmSpec,
};

/// A structurally valid document (the image not yet checked against the catalog).
pub(super) struct Document {
    pub(super) strategy: Strategy,
    pub(super) consumer: Consumer,
    pub(super) image: ImageRef,
    pub(super) vm: VmSpec,
}

/// Collects problems while walking the document.
#[derive(Default)]
struct Walk {
    problems: Vec<FieldProblem>,
}

fn type_name(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

impl Walk {
    fn problem(&mut self, pointer: &str, detail: impl Into<String>) {
        self.problems.push(FieldProblem::new(pointer, detail));
    }

    /// The object at `pointer`, or a problem.
    fn object<'a>(
        &mut self,
        value: Option<&'a Value>,
        pointer: &str,
    ) -> Option<&'a Map<String, Value>> {
        match value {
            Some(Value::Object(map)) => Some(map),
            None => {
                self.problem(pointer, "is required");
                None
            }
            Some(other) => {
                self.problem(
                    pointer,
                    format!("must be an object, not {}", type_name(other)),
                );
                None
            }
        }
    }

    /// Reports every key of `map` not in `allowed`.
    fn no_unknown_fields(&mut self, map: &Map<String, Value>, pointer: &str, allowed: &[&str]) {
        for key in map.keys().filter(|k| !allowed.contains(&k.as_str())) {
            let hint = allowed
                .iter()
                .find(|a| a.eq_ignore_ascii_case(key))
                .map(|a| format!(" (did you mean '{a}'?)"))
                .unwrap_or_default();
            self.problem(
                &format!("{pointer}/{}", escape(key)),
                format!("is not a known field{hint}"),
            );
        }
    }

    /// A string field parsed by `parse`; `None` when absent (and optional) or invalid.
    fn string<T>(
        &mut self,
        map: &Map<String, Value>,
        pointer: &str,
        key: &str,
        required: bool,
        parse: impl FnOnce(&str) -> Result<T, Invalid>,
    ) -> Option<T> {
        let at = format!("{pointer}/{key}");
        match map.get(key) {
            None | Some(Value::Null) if !required => None,
            None => {
                self.problem(&at, "is required");
                None
            }
            Some(Value::String(s)) => match parse(s) {
                Ok(v) => Some(v),
                Err(e) => {
                    self.problem(&at, e.0);
                    None
                }
            },
            Some(other) => {
                self.problem(&at, format!("must be a string, not {}", type_name(other)));
                None
            }
        }
    }
}

/// JSON Pointer escaping of a key (RFC 6901 §3).
pub(super) fn escape(key: &str) -> String {
    key.replace('~', "~0").replace('/', "~1")
}

/// Validates the whole document, reporting every problem.
pub(super) fn validate(root: &Value) -> Result<Document, Vec<FieldProblem>> {
    let mut w = Walk::default();
    let Some(doc) = w.object(Some(root), "") else {
        return Err(w.problems);
    };
    w.no_unknown_fields(doc, "", &["strategy", "consumer", "image", "vm"]);

    let strategy = w
        .string(doc, "", "strategy", false, |s| match s {
            "app-consent" => Ok(Strategy::AppConsent),
            "lighthouse" | "direct-share" | "rbac-guest" => Err(Invalid(format!(
                "strategy '{s}' is not available yet; use 'app-consent'"
            ))),
            _ => Err(Invalid(format!(
                "unknown strategy '{s}'; use 'app-consent'"
            ))),
        })
        .unwrap_or_default();

    let consumer = w.object(doc.get("consumer"), "/consumer").and_then(|c| {
        w.no_unknown_fields(
            c,
            "/consumer",
            &["tenantId", "subscriptionId", "resourceGroup", "adminEmail"],
        );
        let tenant_id = w.string(c, "/consumer", "tenantId", true, TenantId::parse);
        let subscription_id = w.string(
            c,
            "/consumer",
            "subscriptionId",
            true,
            SubscriptionId::parse,
        );
        let resource_group = w.string(
            c,
            "/consumer",
            "resourceGroup",
            true,
            ResourceGroupName::parse,
        );
        let admin_email = w.string(c, "/consumer", "adminEmail", true, EmailAddress::parse);
        Some(Consumer {
            tenant_id: tenant_id?,
            subscription_id: subscription_id?,
            resource_group: resource_group?,
            admin_email: admin_email?,
        })
    });

    let image = w.object(doc.get("image"), "/image").and_then(|i| {
        w.no_unknown_fields(i, "/image", &["id", "name"]);
        match (i.contains_key("id"), i.contains_key("name")) {
            (true, true) => {
                w.problem("/image", "give either 'id' or 'name', not both");
                None
            }
            (false, false) => {
                w.problem(
                    "/image",
                    "give 'id' (an image version resource id) or 'name' (a catalog name)",
                );
                None
            }
            (true, false) => w
                .string(i, "/image", "id", true, ImageVersionId::parse)
                .map(ImageRef::Id),
            (false, true) => w
                .string(i, "/image", "name", true, ImageCatalog::parse_name)
                .map(ImageRef::Catalog),
        }
    });

    let vm = w.object(doc.get("vm"), "/vm").and_then(|v| {
        w.no_unknown_fields(
            v,
            "/vm",
            &[
                "name",
                "size",
                "location",
                "adminUsername",
                "sshPublicKey",
                "subnetId",
            ],
        );
        let name = w.string(v, "/vm", "name", true, VmName::parse);
        let size = w.string(v, "/vm", "size", true, VmSize::parse);
        let location = w.string(v, "/vm", "location", true, Location::parse);
        let admin_username = w.string(v, "/vm", "adminUsername", true, AdminUsername::parse);
        let ssh_public_key = w.string(v, "/vm", "sshPublicKey", true, SshPublicKey::parse);
        let subnet_id = w.string(v, "/vm", "subnetId", false, SubnetId::parse);
        if v.get("subnetId").is_some_and(|s| !s.is_null()) && subnet_id.is_none() {
            return None;
        }
        Some(VmSpec {
            name: name?,
            size: size?,
            location: location?,
            admin_username: admin_username?,
            ssh_public_key: ssh_public_key?,
            subnet_id,
        })
    });

    // A NIC must live in the subscription of the VNet it joins, and the VM in the NIC's.
    if let (Some(c), Some(v)) = (&consumer, &vm)
        && let Some(subnet) = &v.subnet_id
        && subnet.as_resource_id().subscription() != c.subscription_id
    {
        w.problem(
            "/vm/subnetId",
            format!(
                "the subnet must be in the consumer subscription {}, where the VM is created",
                c.subscription_id
            ),
        );
    }

    match (consumer, image, vm) {
        (Some(consumer), Some(image), Some(vm)) if w.problems.is_empty() => Ok(Document {
            strategy,
            consumer,
            image,
            vm,
        }),
        _ => Err(w.problems),
    }
}
