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
//!
//! `lighthouse` names no `vm` (the consumer's operators create it) but the principals the
//! delegation is for, and optionally its lifetime:
//!
//! ```json
//! {
//!   "strategy": "lighthouse",
//!   "consumer": {"tenantId": "...", "subscriptionId": "...", "resourceGroup": "...", "adminEmail": "...",
//!                "principals": [{"objectId": "...", "displayName": "VM operators", "kind": "group"}]},
//!   "image": {"name": "ubuntu-hardened"},
//!   "delegation": {"days": 7}
//! }
//! ```
//!
//! `direct-share` names no principals (the whole tenant is shared with), optionally its
//! lifetime (`"share": {"days": 30}`), and optionally a `vm`: with one, imageshare creates
//! the VM from the shared image after the consumer's admin approved and consented, as for
//! `app-consent`; without, the consumer's users create VMs themselves.

use serde_json::{Map, Value};

use super::FieldProblem;
use crate::domain::{
    AdminUsername, Consumer, ConsumerPrincipal, DISPLAY_NAME_MAX_CHARS, EmailAddress, ImageCatalog,
    ImageRef, ImageVersionId, Invalid, Location, PrincipalKind, ResourceGroupName, SshPublicKey,
    Strategy, SubnetId, SubscriptionId, TenantId, VmName, VmSize, VmSpec,
};

/// The most principals one delegation names. Each becomes two authorizations (Reader and
/// the Delete Role); a short list stays reviewable by the owner, and the docs recommend a
/// group over many users.
pub const MAX_PRINCIPALS: usize = 10;

/// A structurally valid document (the image not yet checked against the catalog).
pub(super) struct Document {
    pub(super) strategy: Strategy,
    pub(super) consumer: Consumer,
    pub(super) image: ImageRef,
    /// `app-consent` (required) and `direct-share` (optional).
    pub(super) vm: Option<VmSpec>,
    /// `lighthouse`: who gets the delegation, and the lifetime asked for (days).
    pub(super) principals: Vec<ConsumerPrincipal>,
    pub(super) days: Option<u32>,
    /// `rbac-guest`: the user to invite (address, optional display name).
    pub(super) guest: Option<(EmailAddress, Option<String>)>,
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
    w.no_unknown_fields(
        doc,
        "",
        &[
            "strategy",
            "consumer",
            "image",
            "vm",
            "delegation",
            "share",
            "guest",
        ],
    );

    let strategy = w
        .string(doc, "", "strategy", false, |s| match s {
            "app-consent" => Ok(Strategy::AppConsent),
            "lighthouse" => Ok(Strategy::Lighthouse),
            "direct-share" => Ok(Strategy::DirectShare),
            "rbac-guest" => Ok(Strategy::RbacGuest),
            _ => Err(Invalid(format!(
                "unknown strategy '{s}'; use 'app-consent', 'lighthouse', 'direct-share' or 'rbac-guest'"
            ))),
        })
        .unwrap_or_default();
    let lighthouse = strategy == Strategy::Lighthouse;
    let direct = strategy == Strategy::DirectShare;
    let guest_strategy = strategy == Strategy::RbacGuest;

    let mut principals = Vec::new();
    let consumer = w.object(doc.get("consumer"), "/consumer").and_then(|c| {
        w.no_unknown_fields(
            c,
            "/consumer",
            &[
                "tenantId",
                "subscriptionId",
                "resourceGroup",
                "adminEmail",
                "principals",
            ],
        );
        if lighthouse {
            principals = consumer_principals(&mut w, c.get("principals"));
        } else if c.contains_key("principals") {
            w.problem(
                "/consumer/principals",
                "is only for strategy 'lighthouse' (the delegation's principals)",
            );
        }
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

    let mut days = None;
    if lighthouse {
        if doc.contains_key("vm") {
            w.problem(
                "/vm",
                "is not used by strategy 'lighthouse': the consumer's operators create the VM from the delegated image",
            );
        }
        if let Some(d) = doc.get("delegation") {
            days = lifetime_days(&mut w, d, "/delegation");
        }
    } else if doc.contains_key("delegation") {
        w.problem("/delegation", "is only for strategy 'lighthouse'");
    }
    if direct {
        if let Some(s) = doc.get("share") {
            days = lifetime_days(&mut w, s, "/share");
        }
    } else if doc.contains_key("share") {
        w.problem("/share", "is only for strategy 'direct-share'");
    }
    let mut guest = None;
    if guest_strategy {
        if doc.contains_key("vm") {
            w.problem(
                "/vm",
                "is not used by strategy 'rbac-guest': the invited user creates the VM, signed in to both tenants (the notice says how)",
            );
        }
        match doc.get("guest") {
            None => w.problem(
                "/guest",
                "is required for strategy 'rbac-guest': {\"email\": the consumer's user to invite}",
            ),
            Some(g) => {
                if let Some((email, name, d)) = guest_section(&mut w, g) {
                    guest = Some((email, name));
                    days = d;
                }
            }
        }
    } else if doc.contains_key("guest") {
        w.problem("/guest", "is only for strategy 'rbac-guest'");
    }
    // `direct-share` takes a `vm` section or not: with one, imageshare creates the VM after
    // the admin's approval; without, the consumer's users do.
    let no_vm = lighthouse || guest_strategy || (direct && !doc.contains_key("vm"));
    let vm_section = if no_vm { None } else { doc.get("vm") };
    let vm = (!no_vm)
        .then(|| w.object(vm_section, "/vm"))
        .flatten()
        .and_then(|v| {
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

    match (consumer, image) {
        (Some(consumer), Some(image)) if w.problems.is_empty() && (no_vm || vm.is_some()) => {
            Ok(Document {
                strategy,
                consumer,
                image,
                vm,
                principals,
                days,
                guest,
            })
        }
        _ => Err(w.problems),
    }
}

/// `consumer.principals`: a non-empty list of `{objectId, displayName, kind}`, each object id
/// once.
fn consumer_principals(w: &mut Walk, value: Option<&Value>) -> Vec<ConsumerPrincipal> {
    const AT: &str = "/consumer/principals";
    let items = match value {
        None => {
            w.problem(
                AT,
                "is required for strategy 'lighthouse': the users, groups or service principals of your tenant that get Reader on the image",
            );
            return Vec::new();
        }
        Some(Value::Array(items)) => items,
        Some(other) => {
            w.problem(AT, format!("must be an array, not {}", type_name(other)));
            return Vec::new();
        }
    };
    if items.is_empty() || items.len() > MAX_PRINCIPALS {
        w.problem(
            AT,
            format!("must name 1 to {MAX_PRINCIPALS} principals (a group is best for many people)"),
        );
        return Vec::new();
    }
    let mut out: Vec<ConsumerPrincipal> = Vec::new();
    for (i, item) in items.iter().enumerate() {
        let at = format!("{AT}/{i}");
        let Some(p) = w.object(Some(item), &at) else {
            continue;
        };
        w.no_unknown_fields(p, &at, &["objectId", "displayName", "kind"]);
        let object_id = w.string(p, &at, "objectId", true, |s| {
            uuid::Uuid::parse_str(s.trim())
                .map_err(|_| Invalid::new("must be an object id (a GUID)"))
        });
        let kind = w.string(p, &at, "kind", true, |s| match s {
            "user" => Ok(PrincipalKind::User),
            "group" => Ok(PrincipalKind::Group),
            "servicePrincipal" => Ok(PrincipalKind::ServicePrincipal),
            _ => Err(Invalid::new(
                "must be 'user', 'group' or 'servicePrincipal'",
            )),
        });
        let display_name = w.string(p, &at, "displayName", true, |s| Ok(s.to_owned()));
        let (Some(object_id), Some(kind), Some(name)) = (object_id, kind, display_name) else {
            continue;
        };
        match ConsumerPrincipal::new(object_id, &name, kind) {
            Ok(principal) if out.iter().any(|o| o.object_id == principal.object_id) => {
                w.problem(
                    &format!("{at}/objectId"),
                    "names a principal already listed",
                );
            }
            Ok(principal) => out.push(principal),
            Err(e) => w.problem(&format!("{at}/displayName"), e.0),
        }
    }
    out
}

/// `guest`: `{email, displayName?, days?}`.
fn guest_section(
    w: &mut Walk,
    value: &Value,
) -> Option<(EmailAddress, Option<String>, Option<u32>)> {
    let map = w.object(Some(value), "/guest")?;
    w.no_unknown_fields(map, "/guest", &["email", "displayName", "days"]);
    let email = w.string(map, "/guest", "email", true, EmailAddress::parse);
    let name = w.string(map, "/guest", "displayName", false, |s| {
        let s = s.trim();
        if s.is_empty()
            || s.chars().count() > DISPLAY_NAME_MAX_CHARS
            || s.chars().any(char::is_control)
        {
            Err(Invalid::new(format!(
                "must be one line of 1 to {DISPLAY_NAME_MAX_CHARS} characters"
            )))
        } else {
            Ok(s.to_owned())
        }
    });
    if map.get("displayName").is_some_and(|v| !v.is_null()) && name.is_none() {
        return None;
    }
    let days = days_of(w, map, "/guest");
    Some((email?, name, days))
}

/// `delegation` or `share` (at `pointer`): `{days}`, a whole number of days (the maximum is
/// checked with the settings).
fn lifetime_days(w: &mut Walk, value: &Value, pointer: &str) -> Option<u32> {
    let map = w.object(Some(value), pointer)?;
    w.no_unknown_fields(map, pointer, &["days"]);
    days_of(w, map, pointer)
}

/// `days` of the object at `pointer`: absent, or a whole number of days, at least 1.
fn days_of(w: &mut Walk, map: &Map<String, Value>, pointer: &str) -> Option<u32> {
    let at = format!("{pointer}/days");
    match map.get("days") {
        None | Some(Value::Null) => None,
        Some(Value::Number(n)) => match n.as_u64().and_then(|d| u32::try_from(d).ok()) {
            Some(d) if d >= 1 => Some(d),
            _ => {
                w.problem(&at, "must be a whole number of days, at least 1");
                None
            }
        },
        Some(other) => {
            w.problem(&at, format!("must be a number, not {}", type_name(other)));
            None
        }
    }
}
