//! Where the table service is and how to sign for it, from Functions-style settings.
//!
//! `AzureWebJobsStorage` holds a storage connection string
//! (`DefaultEndpointsProtocol=https;AccountName=..;AccountKey=..;EndpointSuffix=..`, optionally
//! `TableEndpoint=..`, or `UseDevelopmentStorage=true`). Identity-based connections instead set
//! `AzureWebJobsStorage__accountName` or `AzureWebJobsStorage__tableServiceUri`.
//!
//! Errors never quote the connection string: it holds the account key.

use url::Url;

use super::auth::SharedKey;

/// The emulator's account and published key (from the Azurite and Azure Storage docs).
const DEV_ACCOUNT: &str = "devstoreaccount1";
const DEV_KEY: &str =
    "Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw==";
const DEV_TABLE_ENDPOINT: &str = "http://127.0.0.1:10002/devstoreaccount1";

/// A table store setting that cannot be used.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum TableConfigError {
    /// The connection string lacks a setting it needs.
    #[error("the storage connection string has no {0}")]
    Missing(&'static str),
    /// A `key=value` pair of the connection string is malformed.
    #[error(
        "the storage connection string is malformed (expected key=value pairs separated by ';')"
    )]
    Malformed,
    /// The connection string uses something this store does not support.
    #[error("the storage connection string uses {0}, which the table store does not support")]
    Unsupported(&'static str),
    /// The account key is not base64.
    #[error("the storage account key in the connection string is not valid base64")]
    InvalidKey,
    /// An endpoint is not an absolute http(s) URL.
    #[error("the table endpoint '{0}' is not an absolute http:// or https:// URL")]
    InvalidEndpoint(String),
    /// The account name breaks Azure's naming rule.
    #[error("'{0}' is not a storage account name (3-24 lowercase letters and digits)")]
    InvalidAccount(String),
    /// The table name breaks Azure's naming rule.
    #[error("'{0}' is not a table name (3-63 letters and digits, not starting with a digit)")]
    InvalidTable(String),
}

/// A parsed connection string: the table endpoint and the Shared Key to sign with.
#[derive(Debug)]
pub struct ConnectionString {
    /// The table service endpoint, e.g. `https://acct.table.core.windows.net`.
    pub endpoint: Url,
    /// The key to sign with.
    pub key: SharedKey,
}

impl ConnectionString {
    /// Parses a storage connection string.
    pub fn parse(s: &str) -> Result<Self, TableConfigError> {
        let mut pairs = Vec::new();
        for part in s.split(';').map(str::trim).filter(|p| !p.is_empty()) {
            let (k, v) = part.split_once('=').ok_or(TableConfigError::Malformed)?;
            pairs.push((k.trim().to_ascii_lowercase(), v.trim()));
        }
        let get = |name: &str| {
            pairs
                .iter()
                .find(|(k, _)| k == name)
                .map(|(_, v)| *v)
                .filter(|v| !v.is_empty())
        };

        if get("usedevelopmentstorage").is_some_and(|v| v.eq_ignore_ascii_case("true")) {
            if get("developmentstorageproxyuri").is_some() {
                return Err(TableConfigError::Unsupported("DevelopmentStorageProxyUri"));
            }
            return Ok(Self {
                endpoint: endpoint(DEV_TABLE_ENDPOINT)?,
                key: SharedKey::new(DEV_ACCOUNT, DEV_KEY)
                    .map_err(|_| TableConfigError::InvalidKey)?,
            });
        }

        let account = get("accountname").ok_or(TableConfigError::Missing("AccountName"))?;
        let Some(key) = get("accountkey") else {
            return Err(if get("sharedaccesssignature").is_some() {
                TableConfigError::Unsupported("SharedAccessSignature")
            } else {
                TableConfigError::Missing("AccountKey")
            });
        };
        let key = SharedKey::new(account, key).map_err(|_| TableConfigError::InvalidKey)?;
        let endpoint = if let Some(explicit) = get("tableendpoint") {
            endpoint(explicit)?
        } else {
            let protocol = get("defaultendpointsprotocol").unwrap_or("https");
            let suffix = get("endpointsuffix").unwrap_or("core.windows.net");
            endpoint(&format!("{protocol}://{account}.table.{suffix}"))?
        };
        Ok(Self { endpoint, key })
    }
}

/// Validates an endpoint URL (`TableEndpoint`, `__tableServiceUri`).
pub fn endpoint(s: &str) -> Result<Url, TableConfigError> {
    let invalid = || TableConfigError::InvalidEndpoint(s.to_owned());
    let url = Url::parse(s.trim()).map_err(|_| invalid())?;
    if !matches!(url.scheme(), "http" | "https")
        || url.cannot_be_a_base()
        || url.host_str().is_none()
        || url.query().is_some()
    {
        return Err(invalid());
    }
    Ok(url)
}

/// The public-cloud table endpoint of an account (`AzureWebJobsStorage__accountName`).
pub fn endpoint_for_account(account: &str) -> Result<Url, TableConfigError> {
    let valid = (3..=24).contains(&account.len())
        && account
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit());
    if !valid {
        return Err(TableConfigError::InvalidAccount(account.to_owned()));
    }
    endpoint(&format!("https://{account}.table.core.windows.net"))
}

/// Checks a table name against the service's rule (`^[A-Za-z][A-Za-z0-9]{2,62}$`).
pub fn table_name(name: &str) -> Result<&str, TableConfigError> {
    let valid = (3..=63).contains(&name.len())
        && name.bytes().all(|b| b.is_ascii_alphanumeric())
        && name.as_bytes()[0].is_ascii_alphabetic();
    if valid {
        Ok(name)
    } else {
        Err(TableConfigError::InvalidTable(name.to_owned()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const KEY: &str = "AAECAwQFBgcICQoLDA0ODw==";

    #[test]
    fn an_account_connection_string_points_at_the_public_table_endpoint() {
        let c = ConnectionString::parse(&format!(
            "DefaultEndpointsProtocol=https;AccountName=contosofn;AccountKey={KEY};EndpointSuffix=core.windows.net"
        ))
        .unwrap();
        assert_eq!(
            c.endpoint.as_str(),
            "https://contosofn.table.core.windows.net/"
        );
        assert_eq!(c.key.account(), "contosofn");
    }

    #[test]
    fn an_explicit_table_endpoint_wins_and_keys_are_case_insensitive() {
        let c = ConnectionString::parse(&format!(
            "defaultendpointsprotocol=http;accountname=devstoreaccount1;accountkey={KEY};TableEndpoint=http://127.0.0.1:41234/devstoreaccount1;"
        ))
        .unwrap();
        assert_eq!(
            c.endpoint.as_str(),
            "http://127.0.0.1:41234/devstoreaccount1"
        );
    }

    #[test]
    fn development_storage_means_azurite_on_its_default_port() {
        let c = ConnectionString::parse("UseDevelopmentStorage=true").unwrap();
        assert_eq!(
            (c.endpoint.as_str(), c.key.account()),
            (
                "http://127.0.0.1:10002/devstoreaccount1",
                "devstoreaccount1"
            )
        );
    }

    #[test]
    fn a_key_ending_in_padding_keeps_its_equals_signs() {
        let c = ConnectionString::parse(&format!("AccountName=abc;AccountKey={KEY}")).unwrap();
        assert_eq!(c.key.account(), "abc");
    }

    #[test]
    fn unusable_connection_strings_are_refused_without_quoting_the_key() {
        let cases = [
            (
                format!("AccountKey={KEY}"),
                TableConfigError::Missing("AccountName"),
            ),
            (
                "AccountName=abc".to_owned(),
                TableConfigError::Missing("AccountKey"),
            ),
            (
                "AccountName=abc;SharedAccessSignature=sv=2019&sig=x".to_owned(),
                TableConfigError::Unsupported("SharedAccessSignature"),
            ),
            (
                "AccountName=abc;AccountKey=s3cr3t!!".to_owned(),
                TableConfigError::InvalidKey,
            ),
            ("garbage".to_owned(), TableConfigError::Malformed),
        ];
        for (input, expected) in cases {
            let err = ConnectionString::parse(&input).unwrap_err();
            assert_eq!(err, expected, "{input}");
            assert!(!err.to_string().contains("s3cr3t"));
        }
    }

    #[test]
    fn account_and_table_names_follow_azure_rules() {
        assert!(endpoint_for_account("contosofn").is_ok());
        assert!(endpoint_for_account("Contoso").is_err());
        assert!(endpoint_for_account("ab").is_err());
        assert!(table_name("ShareRequests").is_ok());
        assert!(table_name("1abc").is_err());
        assert!(table_name("share-requests").is_err());
        assert!(table_name("ab").is_err());
    }
}
