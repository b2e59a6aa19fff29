//! Azurite for the table store's tests and benches: `local_run::azurite` (which the local run
//! also uses), started from the repository's `tools/azurite` with scratch files under the
//! target directory. Tests in one binary share one emulator through [`shared`].
//!
//! Missing Node.js or npm is a test failure with a message saying so, never a skip. (Each
//! binary that includes this uses a part of it, hence the allowances.)

#![allow(dead_code, unused_imports, clippy::expect_used, clippy::unwrap_used)]

use std::{path::PathBuf, sync::OnceLock};

pub use local_run::azurite::{Azurite, DEV_ACCOUNT, DEV_KEY};

/// Installs (once) and starts an emulator of its own; panics saying why it could not.
pub fn start() -> Azurite {
    let tools = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tools/azurite");
    let scratch = PathBuf::from(env!("CARGO_TARGET_TMPDIR"));
    Azurite::start(&tools, &scratch).unwrap_or_else(|e| panic!("{e}"))
}

/// The emulator all tests of this binary share.
pub fn shared() -> &'static Azurite {
    static SHARED: OnceLock<Azurite> = OnceLock::new();
    SHARED.get_or_init(start)
}
