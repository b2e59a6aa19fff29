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
        "vm": {
            "name": s.vm.name.as_str().to_ascii_lowercase(),
            "size": s.vm.size.as_str().to_ascii_lowercase(),
            "location": s.vm.location,
            "adminUsername": s.vm.admin_username,
            "sshPublicKey": s.vm.ssh_public_key,
            "subnetId": s.vm.subnet_id.as_ref().map(|id| id.as_resource_id().canonical()),
        },
    });
    let digest = Sha256::digest(normal.to_string().as_bytes());
    digest.iter().map(|b| format!("{b:02x}")).collect()
}
