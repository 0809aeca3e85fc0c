//! The arguments' JSON Schema: checked in shape at load, and every call's arguments are
//! checked against it before any request is built. A small subset on purpose (required
//! keys, unknown keys, top-level types, `enum`): enough to refuse a wrong call clearly,
//! without a JSON Schema engine.

use std::collections::BTreeMap;

use serde_json::{Map, Value};

use super::ActionError;
use super::template::is_arg_name;

/// A JSON type a top-level argument may be declared as.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum JsonType {
    String,
    Integer,
    Number,
    Boolean,
    Object,
    Array,
    /// No `type` written: any value but `null`.
    Any,
}

impl JsonType {
    fn parse(name: &str) -> Option<JsonType> {
        Some(match name {
            "string" => JsonType::String,
            "integer" => JsonType::Integer,
            "number" => JsonType::Number,
            "boolean" => JsonType::Boolean,
            "object" => JsonType::Object,
            "array" => JsonType::Array,
            _ => return None,
        })
    }

    fn matches(self, value: &Value) -> bool {
        match self {
            JsonType::String => value.is_string(),
            JsonType::Integer => value.is_i64() || value.is_u64(),
            JsonType::Number => value.is_number(),
            JsonType::Boolean => value.is_boolean(),
            JsonType::Object => value.is_object(),
            JsonType::Array => value.is_array(),
            JsonType::Any => !value.is_null(),
        }
    }

    fn name(self) -> &'static str {
        match self {
            JsonType::String => "a string",
            JsonType::Integer => "an integer",
            JsonType::Number => "a number",
            JsonType::Boolean => "true or false",
            JsonType::Object => "an object",
            JsonType::Array => "an array",
            JsonType::Any => "a value",
        }
    }
}

/// What a JSON value is, for an error message.
pub(crate) fn kind_of(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(n) if n.is_f64() => "a fractional number",
        Value::Number(_) => "an integer",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

#[derive(Debug, Clone)]
struct Property {
    kind: JsonType,
    /// `enum`: the only values allowed, when written.
    allowed: Option<Vec<Value>>,
}

/// The compiled argument schema of one action.
#[derive(Debug, Clone)]
pub(crate) struct ArgSchema {
    /// The schema handed to the model: as written, with `additionalProperties = false`
    /// (unknown arguments are refused, so the model is told so).
    schema: Value,
    properties: BTreeMap<String, Property>,
    required: Vec<String>,
}

/// Why an action's `args` schema is refused; `got` is the JSON kind written instead.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub(crate) enum SchemaError {
    #[error("must be a table (a JSON Schema with type = \"object\"), got {got}")]
    NotATable { got: &'static str },
    #[error("must say type = \"object\": the arguments are one JSON object")]
    NotAnObject,
    #[error("additionalProperties can only be false: unknown arguments are always refused")]
    AdditionalProperties,
    #[error("properties must be a table of argument name = schema, got {got}")]
    PropertiesNotATable { got: &'static str },
    #[error("property `{name}` is not an argument name (letters, digits, `_` and `-`, at most 64)")]
    BadName { name: String },
    #[error("properties.{name} must be a table such as {{ type = \"string\" }}, got {got}")]
    PropertyNotATable { name: String, got: &'static str },
    #[error(
        "properties.{name}.type `{ty}` is not one of string, integer, number, boolean, \
         object, array"
    )]
    UnknownType { name: String, ty: String },
    #[error("properties.{name}.type must be one type name, got {got}")]
    TypeNotOneName { name: String, got: &'static str },
    #[error("properties.{name}.enum must be a non-empty list of the allowed values")]
    BadEnum { name: String },
    #[error("required names `{name}`, which is not in properties")]
    RequiredUnknown { name: String },
    #[error("required must be a list of property names")]
    RequiredNotNames,
    #[error("required must be a list of property names, got {got}")]
    RequiredNotAList { got: &'static str },
}

impl ArgSchema {
    /// Checks the shape of `args` (the TOML table); `Err` is the config error's message.
    pub(crate) fn compile(args: &Value) -> Result<ArgSchema, SchemaError> {
        let Value::Object(root) = args else {
            return Err(SchemaError::NotATable { got: kind_of(args) });
        };
        if root.get("type") != Some(&Value::String("object".into())) {
            return Err(SchemaError::NotAnObject);
        }
        if let Some(extra) = root.get("additionalProperties")
            && extra != &Value::Bool(false)
        {
            return Err(SchemaError::AdditionalProperties);
        }
        let empty = Map::new();
        let props = match root.get("properties") {
            None => &empty,
            Some(Value::Object(props)) => props,
            Some(other) => {
                return Err(SchemaError::PropertiesNotATable {
                    got: kind_of(other),
                });
            }
        };
        let mut properties = BTreeMap::new();
        for (name, schema) in props {
            if !is_arg_name(name) {
                return Err(SchemaError::BadName { name: name.clone() });
            }
            let Value::Object(schema) = schema else {
                return Err(SchemaError::PropertyNotATable {
                    name: name.clone(),
                    got: kind_of(schema),
                });
            };
            let kind = match schema.get("type") {
                None => JsonType::Any,
                Some(Value::String(t)) => {
                    JsonType::parse(t).ok_or_else(|| SchemaError::UnknownType {
                        name: name.clone(),
                        ty: t.clone(),
                    })?
                }
                Some(other) => {
                    return Err(SchemaError::TypeNotOneName {
                        name: name.clone(),
                        got: kind_of(other),
                    });
                }
            };
            let allowed = match schema.get("enum") {
                None => None,
                Some(Value::Array(values)) if !values.is_empty() => Some(values.clone()),
                Some(_) => {
                    return Err(SchemaError::BadEnum { name: name.clone() });
                }
            };
            properties.insert(name.clone(), Property { kind, allowed });
        }
        let required = match root.get("required") {
            None => Vec::new(),
            Some(Value::Array(names)) => {
                let mut out = Vec::new();
                for name in names {
                    match name.as_str() {
                        Some(n) if properties.contains_key(n) => out.push(n.to_string()),
                        Some(n) => {
                            return Err(SchemaError::RequiredUnknown {
                                name: n.to_string(),
                            });
                        }
                        None => return Err(SchemaError::RequiredNotNames),
                    }
                }
                out
            }
            Some(other) => {
                return Err(SchemaError::RequiredNotAList {
                    got: kind_of(other),
                });
            }
        };
        let mut schema = root.clone();
        schema.insert("additionalProperties".into(), Value::Bool(false));
        schema
            .entry("properties")
            .or_insert_with(|| Value::Object(Map::new()));
        Ok(ArgSchema {
            schema: Value::Object(schema),
            properties,
            required,
        })
    }

    pub(crate) fn schema(&self) -> &Value {
        &self.schema
    }

    pub(crate) fn has(&self, name: &str) -> bool {
        self.properties.contains_key(name)
    }

    pub(crate) fn is_required(&self, name: &str) -> bool {
        self.required.iter().any(|r| r == name)
    }

    /// The arguments as an object, or the first reason they do not fit the schema.
    pub(crate) fn check<'a>(
        &self,
        action: &str,
        args: &'a Value,
    ) -> Result<&'a Map<String, Value>, ActionError> {
        let Value::Object(map) = args else {
            return Err(ActionError::InvalidArguments {
                action: action.to_string(),
                reason: format!("the arguments must be a JSON object, got {}", kind_of(args)),
            });
        };
        let invalid = |reason: String| ActionError::InvalidArguments {
            action: action.to_string(),
            reason,
        };
        for name in map.keys() {
            if !self.properties.contains_key(name) {
                let known: Vec<&str> = self.properties.keys().map(String::as_str).collect();
                return Err(invalid(format!(
                    "unknown argument `{}`; the arguments are: {}",
                    crate::sanitize::one_line(&shorten(name)),
                    if known.is_empty() {
                        "none".to_string()
                    } else {
                        known.join(", ")
                    }
                )));
            }
        }
        for name in &self.required {
            if !map.contains_key(name) {
                return Err(invalid(format!("missing required argument `{name}`")));
            }
        }
        for (name, value) in map {
            let Some(prop) = self.properties.get(name) else {
                continue;
            };
            if !prop.kind.matches(value) {
                return Err(invalid(format!(
                    "argument `{name}` must be {}, got {}",
                    prop.kind.name(),
                    kind_of(value)
                )));
            }
            if let Some(allowed) = &prop.allowed
                && !allowed.contains(value)
            {
                let list: Vec<String> = allowed.iter().map(Value::to_string).collect();
                return Err(invalid(format!(
                    "argument `{name}` must be one of {}",
                    list.join(", ")
                )));
            }
        }
        Ok(map)
    }
}

/// A name from the model, cut for an error message (it may be huge).
fn shorten(text: &str) -> String {
    const MAX: usize = 64;
    match text.char_indices().nth(MAX) {
        Some((i, _)) => format!("{}…", &text[..i]),
        None => text.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn schema() -> ArgSchema {
        ArgSchema::compile(&json!({
            "type": "object",
            "properties": {
                "customer": {"type": "string", "description": "who"},
                "qty": {"type": "integer"},
                "price": {"type": "number"},
                "paid": {"type": "boolean"},
                "items": {"type": "array"},
                "meta": {"type": "object"},
                "any": {},
                "mode": {"type": "string", "enum": ["draft", "submit"]},
            },
            "required": ["customer"],
        }))
        .unwrap()
    }

    #[test]
    fn the_model_sees_the_schema_with_unknown_keys_refused() {
        let s = schema();
        assert_eq!(s.schema()["additionalProperties"], json!(false));
        assert_eq!(s.schema()["properties"]["customer"]["description"], "who");
        let empty = ArgSchema::compile(&json!({"type": "object"})).unwrap();
        assert_eq!(empty.schema()["properties"], json!({}));
    }

    #[test]
    fn arguments_are_checked() {
        let s = schema();
        for (args, expected) in [
            (json!({"customer": "a"}), None),
            (
                json!({"customer": "a", "qty": 2, "price": 1.5, "paid": true, "items": [],
                       "meta": {}, "any": 3, "mode": "draft"}),
                None,
            ),
            (json!({"customer": "a", "price": 2}), None),
            (json!([1]), Some("must be a JSON object, got an array")),
            (json!({}), Some("missing required argument `customer`")),
            (
                json!({"customer": 1}),
                Some("`customer` must be a string, got an integer"),
            ),
            (
                json!({"customer": "a", "qty": 1.5}),
                Some("`qty` must be an integer, got a fractional number"),
            ),
            (
                json!({"customer": "a", "qty": "1"}),
                Some("must be an integer, got a string"),
            ),
            (
                json!({"customer": "a", "paid": "yes"}),
                Some("must be true or false"),
            ),
            (
                json!({"customer": "a", "any": null}),
                Some("must be a value, got null"),
            ),
            (
                json!({"customer": "a", "mode": "x"}),
                Some("must be one of \"draft\", \"submit\""),
            ),
            (
                json!({"customer": "a", "extra": 1}),
                Some("unknown argument `extra`"),
            ),
        ] {
            let got = s.check("act", &args).err().map(|e| e.to_string());
            match (expected, got) {
                (None, None) => {}
                (Some(want), Some(got)) => assert!(got.contains(want), "{args}: {got}"),
                (want, got) => panic!("{args}: expected {want:?}, got {got:?}"),
            }
        }
    }

    #[test]
    fn a_huge_unknown_key_is_shortened_in_the_error() {
        let key = "k".repeat(100_000);
        let err = schema()
            .check("act", &json!({ key: 1, "customer": "a" }))
            .unwrap_err()
            .to_string();
        assert!(err.len() < 400, "{}", err.len());
    }

    #[test]
    fn bad_schemas_are_refused() {
        for (args, expected) in [
            (json!("x"), "must be a table"),
            (json!({"properties": {}}), "type = \"object\""),
            (json!({"type": "array"}), "type = \"object\""),
            (
                json!({"type": "object", "additionalProperties": true}),
                "can only be false",
            ),
            (
                json!({"type": "object", "properties": []}),
                "properties must be a table",
            ),
            (
                json!({"type": "object", "properties": {"a b": {}}}),
                "not an argument name",
            ),
            (
                json!({"type": "object", "properties": {"a": "string"}}),
                "must be a table such as",
            ),
            (
                json!({"type": "object", "properties": {"a": {"type": "date"}}}),
                "`date` is not one of",
            ),
            (
                json!({"type": "object", "properties": {"a": {"type": ["string", "null"]}}}),
                "must be one type name",
            ),
            (
                json!({"type": "object", "properties": {"a": {"enum": []}}}),
                "non-empty list",
            ),
            (
                json!({"type": "object", "required": ["a"]}),
                "`a`, which is not in properties",
            ),
            (json!({"type": "object", "required": "a"}), "must be a list"),
        ] {
            let err = ArgSchema::compile(&args).unwrap_err().to_string();
            assert!(err.contains(expected), "{args}: {err}");
        }
        assert_eq!(
            ArgSchema::compile(&json!({"type": "object", "properties": {"a": {"type": "date"}}}))
                .unwrap_err(),
            SchemaError::UnknownType {
                name: "a".into(),
                ty: "date".into()
            }
        );
        assert_eq!(
            ArgSchema::compile(&json!({"type": "object", "required": [1]})).unwrap_err(),
            SchemaError::RequiredNotNames
        );
        assert_eq!(
            ArgSchema::compile(&json!(["x"])).unwrap_err().to_string(),
            "must be a table (a JSON Schema with type = \"object\"), got an array"
        );
    }
}
