//! host.json: the parts the host acts on (custom handler, timeouts, Service Bus, HTTP).

use std::{path::Path, time::Duration};

use serde_json::{Map, Value};

use crate::{
    error::ConfigError,
    json_ci,
    settings::strip_bom,
    timespan::{self, TimeSpan},
};

/// `customHandler` (H `HttpWorkerOptions`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CustomHandlerConfig {
    /// `description.defaultExecutablePath` as written (before resolution).
    pub default_executable_path: String,
    /// `description.arguments`.
    pub arguments: Vec<String>,
    /// `description.defaultWorkerPath`.
    pub default_worker_path: Option<String>,
    /// `description.workerArguments`.
    pub worker_arguments: Vec<String>,
    /// `description.workingDirectory`.
    pub working_directory: Option<String>,
    /// `enableForwardingHttpRequest`.
    pub enable_forwarding_http_request: bool,
    /// `initializationTimeout` (default 30 s).
    pub initialization_timeout: Duration,
}

/// `extensions.serviceBus` (SB `ServiceBusOptions`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ServiceBusOptions {
    /// `maxConcurrentCalls` (default 16 x CPU count), per function.
    pub max_concurrent_calls: usize,
    /// `maxAutoLockRenewalDuration` (default 5 min); `None` = renew without limit.
    pub max_auto_lock_renewal_duration: Option<Duration>,
    /// `autoCompleteMessages` (default true).
    pub auto_complete_messages: bool,
}

/// The parts of host.json the local host honours.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct HostConfig {
    /// `customHandler`.
    pub custom_handler: CustomHandlerConfig,
    /// `functionTimeout`; `None` = unbounded (`-1`).
    pub function_timeout: Option<Duration>,
    /// `extensions.serviceBus`.
    pub service_bus: ServiceBusOptions,
    /// `extensions.http.routePrefix` (default `api`).
    pub route_prefix: String,
}

/// The prefix of app settings that override host.json.
pub const OVERRIDE_PREFIX: &str = "AzureFunctionsJobHost__";

/// Applies `AzureFunctionsJobHost__a__b` settings to `root` (values stay strings, which the
/// readers accept as configuration binding does).
fn apply_overrides<'a>(
    root: &mut Map<String, Value>,
    settings: impl IntoIterator<Item = (&'a str, &'a str)>,
) {
    for (name, value) in settings {
        let Some(path) = name
            .get(..OVERRIDE_PREFIX.len())
            .filter(|p| p.eq_ignore_ascii_case(OVERRIDE_PREFIX))
            .map(|_| &name[OVERRIDE_PREFIX.len()..])
        else {
            continue;
        };
        let keys: Vec<&str> = path.split("__").filter(|k| !k.is_empty()).collect();
        set_path(root, &keys, value);
    }
}

/// Sets `keys` (a path of object keys, matched without regard to case) to `value`.
fn set_path(node: &mut Map<String, Value>, keys: &[&str], value: &str) {
    let Some((first, rest)) = keys.split_first() else {
        return;
    };
    let key = node
        .keys()
        .find(|k| k.eq_ignore_ascii_case(first))
        .cloned()
        .unwrap_or_else(|| (*first).to_owned());
    if rest.is_empty() {
        node.insert(key, Value::String(value.to_owned()));
        return;
    }
    let child = node.entry(key).or_insert_with(|| Value::Object(Map::new()));
    if !child.is_object() {
        *child = Value::Object(Map::new());
    }
    if let Some(object) = child.as_object_mut() {
        set_path(object, rest, value);
    }
}

/// Dedicated/Premium/Flex default (`ScriptJobHostOptionsSetup`); Consumption would be 5 min.
pub const DEFAULT_FUNCTION_TIMEOUT: Duration = Duration::from_secs(30 * 60);
const DEFAULT_INITIALIZATION_TIMEOUT: Duration = Duration::from_secs(30);
const DEFAULT_LOCK_RENEWAL: Duration = Duration::from_secs(5 * 60);

impl HostConfig {
    /// Reads `<app_dir>/host.json`.
    pub fn read(app_dir: &Path) -> Result<Self, ConfigError> {
        Self::read_with_overrides(app_dir, std::iter::empty())
    }

    /// Reads `<app_dir>/host.json` with the app settings that override it applied first, as
    /// the real host's configuration does: a setting named
    /// `AzureFunctionsJobHost__extensions__serviceBus__maxConcurrentCalls` replaces (or adds)
    /// `extensions.serviceBus.maxConcurrentCalls`, keys compared without regard to case. Other
    /// settings are ignored.
    pub fn read_with_overrides<'a>(
        app_dir: &Path,
        settings: impl IntoIterator<Item = (&'a str, &'a str)>,
    ) -> Result<Self, ConfigError> {
        let path = app_dir.join("host.json");
        let text = std::fs::read_to_string(&path).map_err(|source| ConfigError::Read {
            path: path.clone(),
            source,
        })?;
        let mut json: Value = serde_json::from_str(strip_bom(&text))
            .map_err(|source| ConfigError::Json { path, source })?;
        if let Some(root) = json.as_object_mut() {
            apply_overrides(root, settings);
        }
        Self::from_json(json.as_object().unwrap_or(&Map::new()))
    }

    /// Parses host.json content.
    pub fn from_json(root: &Map<String, Value>) -> Result<Self, ConfigError> {
        let empty = Map::new();
        let handler = json_ci::object(root, "customHandler").unwrap_or(&empty);
        let description = json_ci::object(handler, "description").unwrap_or(&empty);
        let default_executable_path = json_ci::string(description, "defaultExecutablePath")
            .filter(|s| !s.trim().is_empty())
            .ok_or(ConfigError::NoExecutable)?;
        let custom_handler = CustomHandlerConfig {
            default_executable_path,
            arguments: json_ci::strings(description, "arguments"),
            default_worker_path: json_ci::string(description, "defaultWorkerPath")
                .filter(|s| !s.is_empty()),
            worker_arguments: json_ci::strings(description, "workerArguments"),
            working_directory: json_ci::string(description, "workingDirectory")
                .filter(|s| !s.is_empty()),
            enable_forwarding_http_request: json_ci::boolean(
                handler,
                "enableForwardingHttpRequest",
            )
            .unwrap_or(false),
            initialization_timeout: timespan_setting(handler, "initializationTimeout")?
                .and_then(TimeSpan::bounded)
                .unwrap_or(DEFAULT_INITIALIZATION_TIMEOUT),
        };

        let function_timeout = match timespan_setting(root, "functionTimeout")? {
            None => Some(DEFAULT_FUNCTION_TIMEOUT),
            Some(span) => span.bounded(),
        };

        let extensions = json_ci::object(root, "extensions").unwrap_or(&empty);
        let sb = json_ci::object(extensions, "serviceBus").unwrap_or(&empty);
        let cpus = std::thread::available_parallelism().map_or(1, usize::from);
        let max_concurrent_calls = match json_ci::get(sb, "maxConcurrentCalls") {
            None => 16 * cpus,
            Some(v) => v
                .as_u64()
                .or_else(|| v.as_str().and_then(|s| s.trim().parse().ok()))
                .filter(|n| *n > 0)
                .and_then(|n| usize::try_from(n).ok())
                .ok_or_else(|| ConfigError::InvalidSetting {
                    setting: "extensions.serviceBus.maxConcurrentCalls".to_owned(),
                    value: v.to_string(),
                })?,
        };
        let service_bus = ServiceBusOptions {
            max_concurrent_calls,
            max_auto_lock_renewal_duration: match timespan_setting(
                sb,
                "maxAutoLockRenewalDuration",
            )? {
                None => Some(DEFAULT_LOCK_RENEWAL),
                Some(span) => span.bounded(),
            },
            auto_complete_messages: json_ci::boolean(sb, "autoCompleteMessages").unwrap_or(true),
        };

        let http = json_ci::object(extensions, "http").unwrap_or(&empty);
        let route_prefix = json_ci::string(http, "routePrefix")
            .map_or_else(|| "api".to_owned(), |p| p.trim_matches('/').to_owned());

        Ok(Self {
            custom_handler,
            function_timeout,
            service_bus,
            route_prefix,
        })
    }
}

fn timespan_setting(
    object: &Map<String, Value>,
    key: &str,
) -> Result<Option<TimeSpan>, ConfigError> {
    let Some(raw) = json_ci::string(object, key) else {
        return Ok(None);
    };
    timespan::parse(&raw)
        .map(Some)
        .ok_or(ConfigError::InvalidSetting {
            setting: key.to_owned(),
            value: raw,
        })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn parse(v: &Value) -> Result<HostConfig, ConfigError> {
        HostConfig::from_json(v.as_object().unwrap())
    }

    #[test]
    fn defaults_follow_the_host() {
        let c = parse(&json!({"version":"2.0","customHandler":{"description":{"defaultExecutablePath":"handler"}}})).unwrap();
        assert_eq!(c.function_timeout, Some(DEFAULT_FUNCTION_TIMEOUT));
        assert_eq!(c.route_prefix, "api");
        assert!(!c.custom_handler.enable_forwarding_http_request);
        assert_eq!(
            c.custom_handler.initialization_timeout,
            Duration::from_secs(30)
        );
        assert_eq!(
            c.service_bus.max_auto_lock_renewal_duration,
            Some(Duration::from_secs(300))
        );
        assert!(c.service_bus.max_concurrent_calls >= 16);
    }

    #[test]
    fn keys_bind_case_insensitively_and_minus_one_is_unbounded() {
        let c = parse(&json!({
            "FunctionTimeout": "-1",
            "customhandler": {"Description": {"DefaultExecutablePath": "bin/h", "Arguments": ["-v"]},
                              "EnableForwardingHttpRequest": true, "initializationTimeout": "00:00:05"},
            "extensions": {"serviceBus": {"maxConcurrentCalls": 2, "maxAutoLockRenewalDuration": "-00:00:00.0010000"},
                           "http": {"routePrefix": "/v1/"}}
        }))
        .unwrap();
        assert_eq!(c.function_timeout, None);
        assert_eq!(c.custom_handler.default_executable_path, "bin/h");
        assert_eq!(c.custom_handler.arguments, vec!["-v".to_owned()]);
        assert!(c.custom_handler.enable_forwarding_http_request);
        assert_eq!(
            c.custom_handler.initialization_timeout,
            Duration::from_secs(5)
        );
        assert_eq!(c.service_bus.max_concurrent_calls, 2);
        assert_eq!(c.service_bus.max_auto_lock_renewal_duration, None);
        assert_eq!(c.route_prefix, "v1");
    }

    #[test]
    fn a_missing_executable_is_an_error() {
        assert!(matches!(
            parse(&json!({"customHandler":{}})),
            Err(ConfigError::NoExecutable)
        ));
    }

    #[test]
    fn an_azure_functions_job_host_setting_overrides_host_json() {
        let mut root = json!({
            "customHandler": {"description": {"defaultExecutablePath": "handler"}},
            "extensions": {"serviceBus": {"maxConcurrentCalls": 8}}
        });
        apply_overrides(
            root.as_object_mut().unwrap(),
            [
                (
                    "AzureFunctionsJobHost__extensions__ServiceBus__maxConcurrentCalls",
                    "32",
                ),
                ("azurefunctionsjobhost__extensions__http__routePrefix", "v2"),
                ("IMAGESHARE_STORE", "table"),
            ],
        );
        let c = parse(&root).unwrap();
        assert_eq!(c.service_bus.max_concurrent_calls, 32);
        assert_eq!(c.route_prefix, "v2");
        assert_eq!(
            root["extensions"]["serviceBus"].as_object().unwrap().len(),
            1,
            "the existing key was replaced, not joined by a second spelling"
        );
    }
}
