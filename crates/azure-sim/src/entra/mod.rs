//! Entra ID (`login.microsoftonline.com`) and the App Service managed identity endpoint.

pub mod errors;
pub mod msi;
