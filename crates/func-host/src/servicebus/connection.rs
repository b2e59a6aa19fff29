//! Service Bus connection strings from app settings.

use std::fmt;

use crate::{error::ConfigError, settings::AppSettings};

/// `Endpoint=sb://{ns}.servicebus.windows.net/;SharedAccessKeyName=…;SharedAccessKey=…`.
#[derive(Clone, PartialEq, Eq)]
pub struct ConnectionString {
    /// The namespace name (`{ns}` of `{ns}.servicebus.windows.net`).
    pub namespace: String,
    /// SharedAccessKeyName.
    pub key_name: String,
    key: String,
}

impl fmt::Debug for ConnectionString {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ConnectionString")
            .field("namespace", &self.namespace)
            .field("key_name", &self.key_name)
            .finish_non_exhaustive()
    }
}

const SUFFIX: &str = ".servicebus.windows.net";

impl ConnectionString {
    /// The SharedAccessKey (a secret: never log it).
    pub fn key(&self) -> &str {
        &self.key
    }

    /// Parses a connection string; errors never contain the key.
    pub fn parse(name: &str, text: &str) -> Result<Self, ConfigError> {
        let err = |message: &str| ConfigError::Connection {
            name: name.to_owned(),
            message: message.to_owned(),
        };
        let mut endpoint = None;
        let mut key_name = None;
        let mut key = None;
        for part in text.split(';').map(str::trim).filter(|p| !p.is_empty()) {
            let Some((k, v)) = part.split_once('=') else {
                return Err(err("a part has no '='"));
            };
            match k.trim().to_ascii_lowercase().as_str() {
                "endpoint" => endpoint = Some(v.trim().to_owned()),
                "sharedaccesskeyname" => key_name = Some(v.trim().to_owned()),
                "sharedaccesskey" => key = Some(v.trim().to_owned()),
                _ => {}
            }
        }
        let endpoint = endpoint.ok_or_else(|| err("no Endpoint"))?;
        let host = url::Url::parse(&endpoint)
            .ok()
            .and_then(|u| u.host_str().map(str::to_ascii_lowercase))
            .ok_or_else(|| err("Endpoint is not a URL"))?;
        let namespace = host
            .strip_suffix(SUFFIX)
            .filter(|ns| !ns.is_empty() && !ns.contains('.'))
            .ok_or_else(|| err("Endpoint must be sb://{namespace}.servicebus.windows.net/"))?
            .to_owned();
        Ok(Self {
            namespace,
            key_name: key_name.ok_or_else(|| err("no SharedAccessKeyName (identity-based connections are not supported by the local host)"))?,
            key: key.ok_or_else(|| err("no SharedAccessKey"))?,
        })
    }

    /// Looks up function.json `connection` (default `AzureWebJobsServiceBus`) in the app
    /// settings, also as `AzureWebJobs{name}` like the WebJobs SDK does.
    pub fn from_settings(
        connection: Option<&str>,
        settings: &AppSettings,
    ) -> Result<Self, ConfigError> {
        let name = connection
            .filter(|c| !c.trim().is_empty())
            .unwrap_or("AzureWebJobsServiceBus");
        let value = settings
            .get(name)
            .or_else(|| settings.get(&format!("AzureWebJobs{name}")))
            .filter(|v| !v.trim().is_empty());
        match value {
            Some(text) => Self::parse(name, text),
            None if settings.get(&format!("{name}__fullyQualifiedNamespace")).is_some() => {
                Err(ConfigError::Connection {
                    name: name.to_owned(),
                    message: "identity-based connections are not supported by the local host; use a connection string".to_owned(),
                })
            }
            None => Err(ConfigError::Connection {
                name: name.to_owned(),
                message: "no app setting with this name".to_owned(),
            }),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn namespace_and_key_are_read_and_the_key_stays_out_of_debug() {
        let c = ConnectionString::parse(
            "Sb",
            "Endpoint=sb://imageshare.servicebus.windows.net/;SharedAccessKeyName=RootManageSharedAccessKey;SharedAccessKey=c2VjcmV0a2V5PQ==",
        )
        .unwrap();
        assert_eq!(c.namespace, "imageshare");
        assert_eq!(c.key_name, "RootManageSharedAccessKey");
        assert_eq!(c.key(), "c2VjcmV0a2V5PQ==");
        assert!(!format!("{c:?}").contains("c2VjcmV0"));
    }

    #[test]
    fn other_endpoints_are_refused() {
        assert!(
            ConnectionString::parse(
                "Sb",
                "Endpoint=sb://x.example.com/;SharedAccessKeyName=a;SharedAccessKey=b"
            )
            .is_err()
        );
    }

    #[test]
    fn the_azure_web_jobs_prefix_is_a_fallback() {
        let s = AppSettings::from_pairs([(
            "AzureWebJobsSb",
            "Endpoint=sb://ns.servicebus.windows.net/;SharedAccessKeyName=a;SharedAccessKey=b",
        )]);
        assert_eq!(
            ConnectionString::from_settings(Some("Sb"), &s)
                .unwrap()
                .namespace,
            "ns"
        );
    }
}
