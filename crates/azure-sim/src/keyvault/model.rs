//! What a vault holds: secrets with their versions, and soft-deleted secrets; and the JSON
//! bundles Key Vault answers with.

use std::collections::BTreeMap;

use serde_json::{Map, Value, json};

use crate::{context::SimContext, scenario::KeyVaultSpec, secrets::SecretKind};

/// Soft-delete retention the recorded vault reports.
pub(super) const RECOVERABLE_DAYS: i64 = 7;

/// One version of a secret.
#[derive(Clone)]
pub(super) struct Version {
    pub(super) version: String,
    pub(super) value: String,
    pub(super) content_type: Option<String>,
    pub(super) enabled: bool,
    pub(super) nbf: Option<i64>,
    pub(super) exp: Option<i64>,
    pub(super) created: i64,
    pub(super) updated: i64,
    pub(super) tags: Option<Value>,
}

impl std::fmt::Debug for Version {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Version")
            .field("version", &self.version)
            .finish_non_exhaustive()
    }
}

#[derive(Debug, Clone)]
pub(super) struct Secret {
    pub(super) name: String,
    pub(super) versions: Vec<Version>,
}

#[derive(Debug, Clone)]
pub(super) struct Deleted {
    pub(super) secret: Secret,
    pub(super) deleted: i64,
}

/// One vault.
#[derive(Debug)]
pub struct Vault {
    /// Its declaration.
    pub spec: KeyVaultSpec,
    pub(super) secrets: BTreeMap<String, Secret>,
    pub(super) deleted: BTreeMap<String, Deleted>,
}

impl Vault {
    /// An empty vault.
    pub fn new(spec: &KeyVaultSpec) -> Self {
        Self {
            spec: spec.clone(),
            secrets: BTreeMap::new(),
            deleted: BTreeMap::new(),
        }
    }
}

pub(super) fn bundle(vault: &str, name: &str, v: &Version, with_value: bool) -> Value {
    let mut attributes = json!({
        "enabled": v.enabled,
        "created": v.created,
        "updated": v.updated,
        "recoveryLevel": "CustomizedRecoverable+Purgeable",
        "recoverableDays": RECOVERABLE_DAYS,
    });
    if let Some(a) = attributes.as_object_mut() {
        if let Some(exp) = v.exp {
            a.insert("exp".into(), exp.into());
        }
        if let Some(nbf) = v.nbf {
            a.insert("nbf".into(), nbf.into());
        }
    }
    let mut out = Map::new();
    if with_value {
        out.insert("value".into(), v.value.clone().into());
    }
    out.insert(
        "id".into(),
        format!(
            "https://{vault}.vault.azure.net/secrets/{name}/{}",
            v.version
        )
        .into(),
    );
    out.insert("attributes".into(), attributes);
    // contentType and tags are omitted, not null, when never set (recorded).
    if let Some(ct) = &v.content_type {
        out.insert("contentType".into(), ct.clone().into());
    }
    if let Some(tags) = &v.tags {
        out.insert("tags".into(), tags.clone());
    }
    Value::Object(out)
}

pub(super) fn deleted_bundle(vault: &str, d: &Deleted, latest: &Version) -> Value {
    let mut out = bundle(vault, &d.secret.name, latest, false);
    if let Some(o) = out.as_object_mut() {
        o.insert(
            "recoveryId".into(),
            format!(
                "https://{vault}.vault.azure.net/deletedsecrets/{}",
                d.secret.name
            )
            .into(),
        );
        o.insert("deletedDate".into(), d.deleted.into());
        o.insert(
            "scheduledPurgeDate".into(),
            (d.deleted + RECOVERABLE_DAYS * 86_400).into(),
        );
    }
    out
}

/// The latest value of a secret, for tests that seed or inspect a vault.
pub fn latest_value(ctx: &SimContext, vault: &str, name: &str) -> Option<String> {
    let world = ctx.world();
    let v = world.vaults.get(&vault.to_ascii_lowercase())?;
    v.secrets
        .get(&name.to_ascii_lowercase())?
        .versions
        .last()
        .map(|v| v.value.clone())
}

/// Stores a secret directly (scenario seeding for tests), as a new version.
pub fn seed(ctx: &SimContext, vault: &str, name: &str, value: &str) -> bool {
    let now = ctx.now().unix_timestamp();
    ctx.secrets.add(SecretKind::KeyVaultSecret, value);
    let mut world = ctx.world();
    let Some(v) = world.vaults.get_mut(&vault.to_ascii_lowercase()) else {
        return false;
    };
    v.secrets
        .entry(name.to_ascii_lowercase())
        .or_insert_with(|| Secret {
            name: name.to_owned(),
            versions: vec![],
        })
        .versions
        .push(Version {
            version: uuid::Uuid::new_v4().simple().to_string(),
            value: value.to_owned(),
            content_type: None,
            enabled: true,
            nbf: None,
            exp: None,
            created: now,
            updated: now,
            tags: None,
        });
    true
}
