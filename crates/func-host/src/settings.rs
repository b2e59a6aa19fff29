//! App settings: what the handler sees as environment and what bindings resolve
//! `connection` names and `%Expressions%` against.

use std::{collections::BTreeMap, fmt, path::Path};

use serde_json::Value;

use crate::error::ConfigError;

/// App settings (name -> value). Values often hold connection strings, so Debug shows
/// names only.
#[derive(Clone, Default)]
pub struct AppSettings(BTreeMap<String, String>);

impl fmt::Debug for AppSettings {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AppSettings")
            .field("names", &self.0.keys().collect::<Vec<_>>())
            .finish_non_exhaustive()
    }
}

impl AppSettings {
    /// Settings from explicit pairs.
    pub fn from_pairs<I, K, V>(pairs: I) -> Self
    where
        I: IntoIterator<Item = (K, V)>,
        K: Into<String>,
        V: Into<String>,
    {
        Self(
            pairs
                .into_iter()
                .map(|(k, v)| (k.into(), v.into()))
                .collect(),
        )
    }

    /// The value of a setting. Names compare case-insensitively, as environment lookups
    /// do on the Windows hosts the configuration system was written for.
    pub fn get(&self, name: &str) -> Option<&str> {
        self.0
            .get(name)
            .or_else(|| {
                self.0
                    .iter()
                    .find(|(k, _)| k.eq_ignore_ascii_case(name))
                    .map(|(_, v)| v)
            })
            .map(String::as_str)
    }

    /// Sets a setting, replacing any previous value.
    pub fn insert(&mut self, name: impl Into<String>, value: impl Into<String>) {
        self.0.insert(name.into(), value.into());
    }

    /// Sets a setting only when it is not there yet (how `func start` treats
    /// local.settings.json against the real environment).
    pub fn insert_if_absent(&mut self, name: &str, value: &str) -> bool {
        if self.0.contains_key(name) {
            return false;
        }
        self.0.insert(name.to_owned(), value.to_owned());
        true
    }

    /// All settings, for the child process environment.
    pub fn iter(&self) -> impl Iterator<Item = (&str, &str)> {
        self.0.iter().map(|(k, v)| (k.as_str(), v.as_str()))
    }

    /// Expands `%NAME%` references; unset references are removed, as the host does for
    /// worker command lines (`DefaultWorkerProcessFactory`).
    pub fn expand(&self, input: &str) -> String {
        let mut out = String::with_capacity(input.len());
        let mut rest = input;
        while let Some(start) = rest.find('%') {
            out.push_str(&rest[..start]);
            let after = &rest[start + 1..];
            match after.find('%') {
                Some(end) if end > 0 => {
                    let name = &after[..end];
                    if let Some(value) = self.get(name) {
                        out.push_str(value);
                    }
                    rest = &after[end + 1..];
                }
                _ => {
                    out.push('%');
                    rest = after;
                }
            }
        }
        out.push_str(rest);
        out
    }

    /// Resolves a binding expression such as `%QueueName%` against the settings; other
    /// text is kept. Unlike [`AppSettings::expand`], an unknown setting is an error,
    /// as in the Functions binding resolver.
    pub fn resolve_binding_expression(&self, input: &str) -> Result<String, ConfigError> {
        let trimmed = input.trim();
        if trimmed.len() > 2 && trimmed.starts_with('%') && trimmed.ends_with('%') {
            let name = &trimmed[1..trimmed.len() - 1];
            return self
                .get(name)
                .map(str::to_owned)
                .ok_or_else(|| ConfigError::UnresolvedSetting(name.to_owned()));
        }
        Ok(input.to_owned())
    }
}

/// Reads `local.settings.json` `Values` (as `func start` does). A missing file is no settings.
pub fn read_local_settings(path: &Path) -> Result<Vec<(String, String)>, ConfigError> {
    let text = match std::fs::read_to_string(path) {
        Ok(text) => text,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(source) => {
            return Err(ConfigError::Read {
                path: path.to_path_buf(),
                source,
            });
        }
    };
    let json: Value =
        serde_json::from_str(strip_bom(&text)).map_err(|source| ConfigError::Json {
            path: path.to_path_buf(),
            source,
        })?;
    let values = json
        .as_object()
        .and_then(|o| crate::json_ci::object(o, "Values"))
        .cloned()
        .unwrap_or_default();
    Ok(values
        .into_iter()
        .filter_map(|(k, v)| match v {
            Value::String(s) => Some((k, s)),
            Value::Number(n) => Some((k, n.to_string())),
            Value::Bool(b) => Some((k, b.to_string())),
            _ => None,
        })
        .collect())
}

/// Strips a UTF-8 byte order mark, which the host tolerates in its JSON files.
pub fn strip_bom(text: &str) -> &str {
    text.strip_prefix('\u{feff}').unwrap_or(text)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percent_references_expand_and_unset_ones_disappear() {
        let s = AppSettings::from_pairs([("HOME_DIR", "/home/x")]);
        assert_eq!(
            s.expand("%HOME_DIR%/bin/%NOPE%handler"),
            "/home/x/bin/handler"
        );
        assert_eq!(s.expand("100%"), "100%");
    }

    #[test]
    fn binding_expressions_resolve_or_fail() {
        let s = AppSettings::from_pairs([("QueueName", "orders")]);
        assert_eq!(
            s.resolve_binding_expression("%QueueName%").unwrap(),
            "orders"
        );
        assert_eq!(s.resolve_binding_expression("plain").unwrap(), "plain");
        assert!(s.resolve_binding_expression("%Missing%").is_err());
    }

    #[test]
    fn debug_output_never_shows_values() {
        let s = AppSettings::from_pairs([("Conn", "SharedAccessKey=secret")]);
        let shown = format!("{s:?}");
        assert!(shown.contains("Conn"));
        assert!(!shown.contains("secret"));
    }
}
