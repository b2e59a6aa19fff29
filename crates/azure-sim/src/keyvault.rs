//! Key Vault secrets (filled in by the Key Vault part).

use crate::scenario::KeyVaultSpec;

/// One vault.
#[derive(Debug)]
pub struct Vault {
    /// Its declaration.
    pub spec: KeyVaultSpec,
}

impl Vault {
    /// An empty vault.
    pub fn new(spec: &KeyVaultSpec) -> Self {
        Self { spec: spec.clone() }
    }
}
