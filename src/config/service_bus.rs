//! How the app reaches its Service Bus namespace, as the Functions bindings allow: a
//! connection string (SAS) or the managed identity. A setting, parsed here; the client in
//! `azure::service_bus` uses it.

use url::Url;

use crate::secret::Secret;

/// How to reach the namespace.
#[derive(Clone)]
pub enum ServiceBusConnection {
    /// A connection string's namespace and shared access key.
    SharedKey {
        /// Namespace name (`{ns}` of `{ns}.servicebus.windows.net`).
        namespace: String,
        /// `SharedAccessKeyName`.
        key_name: String,
        /// `SharedAccessKey`.
        key: Secret,
    },
    /// The managed identity (`ServiceBusConnection__fullyQualifiedNamespace`).
    Identity {
        /// Namespace name.
        namespace: String,
    },
}

impl std::fmt::Debug for ServiceBusConnection {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::SharedKey {
                namespace,
                key_name,
                ..
            } => f
                .debug_struct("SharedKey")
                .field("namespace", namespace)
                .field("key_name", key_name)
                .finish_non_exhaustive(),
            Self::Identity { namespace } => f
                .debug_struct("Identity")
                .field("namespace", namespace)
                .finish(),
        }
    }
}

/// Why a connection setting was refused.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct ConnectionError(String);

fn namespace_of(host: &str) -> Result<String, ConnectionError> {
    host.strip_suffix(".servicebus.windows.net")
        .filter(|ns| !ns.is_empty() && !ns.contains('.'))
        .map(str::to_owned)
        .ok_or_else(|| {
            ConnectionError(format!(
                "'{host}' is not a Service Bus namespace host ({{ns}}.servicebus.windows.net)"
            ))
        })
}

impl ServiceBusConnection {
    /// Parses `Endpoint=sb://{ns}.servicebus.windows.net/;SharedAccessKeyName=..;SharedAccessKey=..`.
    pub fn from_connection_string(text: &str) -> Result<Self, ConnectionError> {
        let mut endpoint = None;
        let mut key_name = None;
        let mut key = None;
        for part in text.split(';').map(str::trim).filter(|p| !p.is_empty()) {
            let (k, v) = part.split_once('=').ok_or_else(|| {
                ConnectionError("a connection string is Key=Value pairs separated by ';'".into())
            })?;
            match k.to_ascii_lowercase().as_str() {
                "endpoint" => endpoint = Some(v.to_owned()),
                "sharedaccesskeyname" => key_name = Some(v.to_owned()),
                "sharedaccesskey" => key = Some(v.to_owned()),
                _ => {}
            }
        }
        let endpoint = endpoint
            .ok_or_else(|| ConnectionError("the connection string has no Endpoint".into()))?;
        let host = Url::parse(&endpoint)
            .ok()
            .and_then(|u| u.host_str().map(str::to_owned))
            .ok_or_else(|| ConnectionError("the Endpoint is not an sb:// URL".into()))?;
        Ok(Self::SharedKey {
            namespace: namespace_of(&host)?,
            key_name: key_name.ok_or_else(|| {
                ConnectionError("the connection string has no SharedAccessKeyName".into())
            })?,
            key: Secret::new(key.ok_or_else(|| {
                ConnectionError("the connection string has no SharedAccessKey".into())
            })?),
        })
    }

    /// From `ServiceBusConnection__fullyQualifiedNamespace`.
    pub fn from_namespace_host(host: &str) -> Result<Self, ConnectionError> {
        Ok(Self::Identity {
            namespace: namespace_of(host.trim().trim_end_matches('/'))?,
        })
    }

    /// The namespace's name.
    pub fn namespace(&self) -> &str {
        match self {
            Self::SharedKey { namespace, .. } | Self::Identity { namespace } => namespace,
        }
    }
}
