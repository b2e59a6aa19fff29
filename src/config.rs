//! Settings, read from the app settings the Functions host passes as environment variables.
//!
//! Reading goes through [`Env`] so tests build settings from a map and never touch the
//! process environment.

use std::collections::HashMap;

use url::Url;

use crate::domain::ImageCatalog;

/// Where settings come from.
#[derive(Clone, Debug)]
pub enum Env {
    /// The process environment (production).
    Process,
    /// A fixed map (tests).
    Map(HashMap<String, String>),
}

impl Env {
    /// A map-backed environment.
    pub fn from_pairs<'a>(pairs: impl IntoIterator<Item = (&'a str, &'a str)>) -> Self {
        Self::Map(
            pairs
                .into_iter()
                .map(|(k, v)| (k.to_owned(), v.to_owned()))
                .collect(),
        )
    }

    /// A variable's value; empty counts as unset.
    pub fn var(&self, name: &str) -> Option<String> {
        let value = match self {
            Self::Process => std::env::var(name).ok(),
            Self::Map(map) => map.get(name).cloned(),
        };
        value.filter(|v| !v.trim().is_empty())
    }
}

/// A setting that is missing or wrong. The message names the setting and what it expects.
#[derive(Debug, thiserror::Error)]
#[error("setting {name}: {problem}")]
pub struct ConfigError {
    /// The setting.
    pub name: &'static str,
    /// What is wrong with it.
    pub problem: String,
}

/// The handler's settings.
#[derive(Clone, Debug)]
pub struct Settings {
    /// The loopback port the host chose.
    pub port: u16,
    /// Images this deployment may share.
    pub catalog: ImageCatalog,
    /// The app's public base URL, for absolute links (Location, consent redirect).
    pub public_base_url: Option<Url>,
}

/// The port the host picks: `FUNCTIONS_CUSTOMHANDLER_PORT`, or the legacy name.
pub const PORT_VARIABLES: [&str; 2] = ["FUNCTIONS_CUSTOMHANDLER_PORT", "FUNCTIONS_HTTPWORKER_PORT"];
/// The operator's image catalog (JSON object of name to image version id).
pub const IMAGE_CATALOG: &str = "IMAGESHARE_IMAGE_CATALOG";
/// The app's public base URL.
pub const PUBLIC_BASE_URL: &str = "IMAGESHARE_PUBLIC_BASE_URL";

impl Settings {
    /// Reads and checks every setting.
    pub fn from_env(env: &Env) -> Result<Self, ConfigError> {
        let port = PORT_VARIABLES
            .iter()
            .find_map(|name| env.var(name).map(|v| (*name, v)))
            .ok_or(ConfigError {
                name: PORT_VARIABLES[0],
                problem: "not set; the Functions host sets it when it starts the handler".into(),
            })
            .and_then(|(name, v)| {
                v.trim().parse::<u16>().map_err(|_| ConfigError {
                    name: if name == PORT_VARIABLES[0] {
                        PORT_VARIABLES[0]
                    } else {
                        PORT_VARIABLES[1]
                    },
                    problem: format!("'{v}' is not a TCP port"),
                })
            })?;

        let catalog = env
            .var(IMAGE_CATALOG)
            .ok_or(ConfigError {
                name: IMAGE_CATALOG,
                problem: "not set; it lists the images this deployment may share".into(),
            })
            .and_then(|text| {
                ImageCatalog::from_json(&text).map_err(|e| ConfigError {
                    name: IMAGE_CATALOG,
                    problem: e.to_string(),
                })
            })?;
        if catalog.is_empty() {
            return Err(ConfigError {
                name: IMAGE_CATALOG,
                problem: "is empty; every request would be refused".into(),
            });
        }

        let public_base_url = env
            .var(PUBLIC_BASE_URL)
            .map(|v| {
                Url::parse(&v)
                    .ok()
                    .filter(|u| matches!(u.scheme(), "https" | "http") && u.host().is_some())
                    .ok_or(ConfigError {
                        name: PUBLIC_BASE_URL,
                        problem: format!("'{v}' is not an absolute http(s) URL"),
                    })
            })
            .transpose()?;

        Ok(Self {
            port,
            catalog,
            public_base_url,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const CATALOG: &str = r#"{"ubuntu-hardened":"/subscriptions/1a1a1a1a-1111-4111-8111-111111111111/resourceGroups/rg-images/providers/Microsoft.Compute/galleries/contosoGallery/images/ubuntu-hardened/versions/1.0.0"}"#;

    #[test]
    fn the_legacy_port_variable_is_a_fallback() {
        let env = Env::from_pairs([
            ("FUNCTIONS_HTTPWORKER_PORT", "7072"),
            (IMAGE_CATALOG, CATALOG),
        ]);
        assert_eq!(Settings::from_env(&env).unwrap().port, 7072);
        let env = Env::from_pairs([
            ("FUNCTIONS_CUSTOMHANDLER_PORT", "7071"),
            ("FUNCTIONS_HTTPWORKER_PORT", "7072"),
            (IMAGE_CATALOG, CATALOG),
        ]);
        assert_eq!(Settings::from_env(&env).unwrap().port, 7071);
    }

    #[test]
    fn missing_and_malformed_settings_are_named() {
        let err = Settings::from_env(&Env::from_pairs([(IMAGE_CATALOG, CATALOG)])).unwrap_err();
        assert_eq!(err.name, "FUNCTIONS_CUSTOMHANDLER_PORT");
        let err = Settings::from_env(&Env::from_pairs([("FUNCTIONS_CUSTOMHANDLER_PORT", "7071")]))
            .unwrap_err();
        assert_eq!(err.name, IMAGE_CATALOG);
        let err = Settings::from_env(&Env::from_pairs([
            ("FUNCTIONS_CUSTOMHANDLER_PORT", "7071"),
            (IMAGE_CATALOG, "{}"),
        ]))
        .unwrap_err();
        assert!(err.problem.contains("empty"));
        let err = Settings::from_env(&Env::from_pairs([
            ("FUNCTIONS_CUSTOMHANDLER_PORT", "7071"),
            (IMAGE_CATALOG, CATALOG),
            (PUBLIC_BASE_URL, "example.com"),
        ]))
        .unwrap_err();
        assert_eq!(err.name, PUBLIC_BASE_URL);
    }
}
