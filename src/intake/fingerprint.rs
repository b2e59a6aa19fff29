//! A stable digest of a validated submission.

use sha2::{Digest, Sha256};

use crate::domain::Submission;

/// SHA-256 (hex) over the normalised submission: the same request written with other
/// whitespace, key order or GUID case gives the same fingerprint.
pub fn fingerprint(s: &Submission) -> String {
    let normal = serde_json::json!({
        "strategy": s.strategy,
        "consumer": {
            "tenantId": s.consumer.tenant_id,
            "subscriptionId": s.consumer.subscription_id,
            "resourceGroup": s.consumer.resource_group.as_str().to_lowercase(),
            "adminEmail": s.consumer.admin_email.as_str().to_ascii_lowercase(),
        },
        "image": s.image.as_resource_id().canonical(),
        "vm": s.vm.as_ref().map(|vm| serde_json::json!({
            "name": vm.name.as_str().to_ascii_lowercase(),
            "size": vm.size.as_str().to_ascii_lowercase(),
            "location": vm.location,
            "adminUsername": vm.admin_username,
            "sshPublicKey": vm.ssh_public_key,
            "subnetId": vm.subnet_id.as_ref().map(|id| id.as_resource_id().canonical()),
        })),
        "delegation": s.delegation.as_ref().map(|d| serde_json::json!({
            "principals": d.principals.iter().map(|p| serde_json::json!({
                "objectId": p.object_id,
                "displayName": p.display_name,
                "kind": p.kind,
            })).collect::<Vec<_>>(),
            "days": d.lifetime_days,
        })),
        "directShare": s.direct_share.as_ref().map(|d| serde_json::json!({"days": d.lifetime_days})),
        "guest": s.guest.as_ref().map(|g| serde_json::json!({
            "email": g.email.as_str().to_ascii_lowercase(),
            "displayName": g.display_name,
            "days": g.lifetime_days,
        })),
    });
    let digest = Sha256::digest(normal.to_string().as_bytes());
    digest.iter().map(|b| format!("{b:02x}")).collect()
}
