//! `<FunctionName>/function.json`: one folder per function, folder name = function name.

use std::path::{Path, PathBuf};

use serde_json::{Map, Value};

use crate::{error::ConfigError, json_ci, settings::strip_bom};

/// A binding's direction.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Direction {
    /// `in` (triggers and input bindings).
    In,
    /// `out`.
    Out,
    /// `inout`.
    InOut,
}

/// A binding's `dataType`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DataType {
    /// `string` (or absent).
    String,
    /// `binary`.
    Binary,
    /// `stream`.
    Stream,
}

/// One entry of `bindings`.
#[derive(Clone, Debug, PartialEq)]
pub struct BindingDef {
    /// `type`, e.g. `serviceBusTrigger`.
    pub kind: String,
    /// `direction`.
    pub direction: Direction,
    /// `name`.
    pub name: String,
    /// `dataType`, if given.
    pub data_type: Option<DataType>,
    /// Every property as written, for the binding-specific ones.
    pub props: Map<String, Value>,
}

impl BindingDef {
    /// True for `*Trigger` bindings.
    pub fn is_trigger(&self) -> bool {
        self.kind.to_ascii_lowercase().ends_with("trigger")
    }

    /// True when `type` equals `kind` case-insensitively.
    pub fn is(&self, kind: &str) -> bool {
        self.kind.eq_ignore_ascii_case(kind)
    }

    /// A string property.
    pub fn string(&self, key: &str) -> Option<String> {
        json_ci::string(&self.props, key)
    }

    /// A boolean property.
    pub fn boolean(&self, key: &str) -> Option<bool> {
        json_ci::boolean(&self.props, key)
    }
}

/// A function: its folder name and bindings.
#[derive(Clone, Debug, PartialEq)]
pub struct FunctionDef {
    /// The folder name, case preserved: the path the handler is invoked on.
    pub name: String,
    /// The function's folder.
    pub dir: PathBuf,
    /// `bindings` in order.
    pub bindings: Vec<BindingDef>,
}

impl FunctionDef {
    /// The single trigger binding.
    pub fn trigger(&self) -> Option<&BindingDef> {
        self.bindings.iter().find(|b| b.is_trigger())
    }

    /// Output bindings in order.
    pub fn outputs(&self) -> impl Iterator<Item = &BindingDef> {
        self.bindings
            .iter()
            .filter(|b| matches!(b.direction, Direction::Out | Direction::InOut))
    }

    /// H `FunctionMetadataExtensions.IsHttpInAndOutFunction`: exactly one input binding,
    /// an httpTrigger, and exactly one output binding, of type http.
    pub fn is_http_in_and_out(&self) -> bool {
        let inputs: Vec<_> = self
            .bindings
            .iter()
            .filter(|b| b.direction == Direction::In)
            .collect();
        let outputs: Vec<_> = self
            .bindings
            .iter()
            .filter(|b| b.direction == Direction::Out)
            .collect();
        inputs.len() == 1
            && inputs[0].is("httpTrigger")
            && outputs.len() == 1
            && outputs[0].is("http")
    }

    /// Reads `<dir>/function.json`; `Ok(None)` when the folder has none (not a function).
    pub fn read(dir: &Path) -> Result<Option<Self>, ConfigError> {
        let path = dir.join("function.json");
        let text = match std::fs::read_to_string(&path) {
            Ok(t) => t,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(source) => return Err(ConfigError::Read { path, source }),
        };
        let name = dir
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        let json: Value = serde_json::from_str(strip_bom(&text))
            .map_err(|source| ConfigError::Json { path, source })?;
        let root = json.as_object().cloned().unwrap_or_default();
        Self::from_json(name, dir.to_path_buf(), &root).map(Some)
    }

    /// Parses function.json content for the function `name`.
    pub fn from_json(
        name: String,
        dir: PathBuf,
        root: &Map<String, Value>,
    ) -> Result<Self, ConfigError> {
        let invalid = |message: String| ConfigError::Binding {
            function: name.clone(),
            message,
        };
        let raw = json_ci::get(root, "bindings")
            .and_then(Value::as_array)
            .cloned()
            .unwrap_or_default();
        let mut bindings = Vec::with_capacity(raw.len());
        for (i, entry) in raw.into_iter().enumerate() {
            let Value::Object(props) = entry else {
                return Err(invalid(format!("binding {i} is not an object")));
            };
            let kind = json_ci::string(&props, "type")
                .ok_or_else(|| invalid(format!("binding {i} has no type")))?;
            let binding_name = json_ci::string(&props, "name")
                .ok_or_else(|| invalid(format!("binding {i} ({kind}) has no name")))?;
            let direction = match json_ci::string(&props, "direction")
                .unwrap_or_default()
                .to_ascii_lowercase()
                .as_str()
            {
                "in" => Direction::In,
                "out" => Direction::Out,
                "inout" => Direction::InOut,
                other => {
                    return Err(invalid(format!(
                        "binding '{binding_name}' has direction '{other}'"
                    )));
                }
            };
            let data_type = match json_ci::string(&props, "dataType")
                .map(|s| s.to_ascii_lowercase())
                .as_deref()
            {
                None | Some("") => None,
                Some("string") => Some(DataType::String),
                Some("binary") => Some(DataType::Binary),
                Some("stream") => Some(DataType::Stream),
                Some(other) => {
                    return Err(invalid(format!(
                        "binding '{binding_name}' has dataType '{other}'"
                    )));
                }
            };
            bindings.push(BindingDef {
                kind,
                direction,
                name: binding_name,
                data_type,
                props,
            });
        }
        let triggers = bindings.iter().filter(|b| b.is_trigger()).count();
        if triggers != 1 {
            return Err(invalid(format!(
                "needs exactly one trigger, has {triggers}"
            )));
        }
        Ok(Self {
            name,
            dir,
            bindings,
        })
    }
}

/// Every function in the app directory, sorted by name. Folders without function.json
/// are not functions and are skipped.
pub fn discover(app_dir: &Path) -> Result<Vec<FunctionDef>, ConfigError> {
    let entries = std::fs::read_dir(app_dir).map_err(|source| ConfigError::Read {
        path: app_dir.to_path_buf(),
        source,
    })?;
    let mut functions = Vec::new();
    for entry in entries {
        let entry = entry.map_err(|source| ConfigError::Read {
            path: app_dir.to_path_buf(),
            source,
        })?;
        if !entry.path().is_dir() {
            continue;
        }
        if let Some(function) = FunctionDef::read(&entry.path())? {
            functions.push(function);
        }
    }
    functions.sort_by(|a, b| a.name.cmp(&b.name));
    Ok(functions)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn def(v: &Value) -> Result<FunctionDef, ConfigError> {
        FunctionDef::from_json("F".to_owned(), PathBuf::new(), v.as_object().unwrap())
    }

    #[test]
    fn forwarding_needs_exactly_one_http_trigger_and_one_http_output() {
        let f = def(&json!({"bindings":[
            {"type":"httpTrigger","direction":"in","name":"req"},
            {"type":"http","direction":"out","name":"res"}]}))
        .unwrap();
        assert!(f.is_http_in_and_out());
        let g = def(&json!({"bindings":[
            {"type":"httpTrigger","direction":"in","name":"req"},
            {"type":"http","direction":"out","name":"res"},
            {"type":"serviceBus","direction":"out","name":"out","queueName":"q"}]}))
        .unwrap();
        assert!(!g.is_http_in_and_out());
    }

    #[test]
    fn a_function_without_a_trigger_is_refused() {
        assert!(
            def(&json!({"bindings":[{"type":"http","direction":"out","name":"res"}]})).is_err()
        );
    }

    #[test]
    fn data_type_is_read() {
        let f = def(&json!({"bindings":[{"type":"serviceBusTrigger","direction":"in","name":"msg","dataType":"binary","queueName":"q"}]})).unwrap();
        assert_eq!(f.trigger().unwrap().data_type, Some(DataType::Binary));
    }
}
