//! Who called the HTTP API, as recorded on the history entries the call caused.

use serde::{Deserialize, Serialize};

/// How an API call was authorised, kept with the change it made ("who did it").
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "kebab-case")]
pub enum Caller {
    /// A function key (`x-functions-key` or `code`): the key names no person or app.
    FunctionKey,
    /// A principal App Service Authentication signed in (`X-MS-CLIENT-PRINCIPAL`).
    #[serde(rename_all = "camelCase")]
    Principal {
        /// The Entra object id of the user or service principal.
        object_id: String,
        /// Its name (UPN, display name or app name) as the identity provider gave it.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        name: Option<String>,
    },
}
