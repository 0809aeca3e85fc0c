//! How an action's JSON body is built from the arguments: all of them as one object, or
//! a template whose `"{arg}"` string leaves become the argument's JSON value.

use serde_json::{Map, Value};

use super::template::{Template, TemplateError};
use super::{ActionError, scalar_text};

/// The most bytes of JSON body an action sends; a larger one is refused before any request.
pub const MAX_BODY_BYTES: usize = 1024 * 1024;

/// Why a `body` template is refused; `at` is where in the body (`body.items.0.q`).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub(crate) enum BodyError {
    /// TOML has no null: a null here was a `nan` or `inf`.
    #[error("{at} is nan or inf, which JSON cannot hold")]
    NotANumber { at: String },
    #[error("{at}: {source}")]
    Template { at: String, source: TemplateError },
}

#[derive(Debug, Clone)]
pub(crate) enum BodyPlan {
    /// No body (GET, and DELETE without a `body`).
    None,
    /// Every argument, as the object the model gave.
    AllArgs,
    Template(BodyTemplate),
}

/// A JSON value whose strings may hold templates.
#[derive(Debug, Clone)]
pub(crate) enum BodyTemplate {
    /// A number, boolean or string without templates.
    Literal(Value),
    /// A string that is exactly `"{arg}"`: the argument's JSON value (any type). An
    /// optional argument left out leaves its key out of the object (`null` in an array).
    Whole(String),
    /// A string with templates inside text: the arguments' text spliced in.
    Text(Template),
    Array(Vec<BodyTemplate>),
    Object(Vec<(String, BodyTemplate)>),
}

impl BodyTemplate {
    /// Compiles the config's `body`; `Err` is the config error's message.
    pub(crate) fn compile(value: &Value, path: &mut Vec<String>) -> Result<Self, BodyError> {
        Ok(match value {
            // TOML has no null: a null here was a `nan` or `inf`, which JSON cannot hold.
            Value::Null => {
                return Err(BodyError::NotANumber {
                    at: where_in_body(path),
                });
            }
            Value::Bool(_) | Value::Number(_) => BodyTemplate::Literal(value.clone()),
            Value::String(text) => {
                let template = Template::parse(text).map_err(|source| BodyError::Template {
                    at: where_in_body(path),
                    source,
                })?;
                if let Some(name) = template.whole_arg() {
                    BodyTemplate::Whole(name.to_string())
                } else if let Some(literal) = template.as_literal() {
                    BodyTemplate::Literal(Value::String(literal))
                } else {
                    BodyTemplate::Text(template)
                }
            }
            Value::Array(items) => {
                let mut out = Vec::with_capacity(items.len());
                for (i, item) in items.iter().enumerate() {
                    path.push(i.to_string());
                    out.push(Self::compile(item, path)?);
                    path.pop();
                }
                BodyTemplate::Array(out)
            }
            Value::Object(map) => {
                let mut out = Vec::with_capacity(map.len());
                for (key, item) in map {
                    path.push(key.clone());
                    out.push((key.clone(), Self::compile(item, path)?));
                    path.pop();
                }
                BodyTemplate::Object(out)
            }
        })
    }

    /// Every argument the template uses, and whether it is spliced into text (which
    /// cannot be done without it) rather than standing for a whole value.
    pub(crate) fn args(&self, out: &mut Vec<(String, bool)>) {
        match self {
            BodyTemplate::Literal(_) => {}
            BodyTemplate::Whole(name) => out.push((name.clone(), false)),
            BodyTemplate::Text(t) => out.extend(t.args().map(|a| (a.to_string(), true))),
            BodyTemplate::Array(items) => items.iter().for_each(|i| i.args(out)),
            BodyTemplate::Object(fields) => fields.iter().for_each(|(_, i)| i.args(out)),
        }
    }

    /// The JSON value for these arguments; `None` for a `Whole` argument left out.
    pub(crate) fn render(
        &self,
        action: &str,
        args: &Map<String, Value>,
    ) -> Result<Option<Value>, ActionError> {
        Ok(match self {
            BodyTemplate::Literal(v) => Some(v.clone()),
            BodyTemplate::Whole(name) => args.get(name).cloned(),
            BodyTemplate::Text(t) => {
                Some(Value::String(t.render(|name| {
                    scalar_text(action, name, args, "the body")
                })?))
            }
            BodyTemplate::Array(items) => {
                let mut out = Vec::with_capacity(items.len());
                for item in items {
                    out.push(item.render(action, args)?.unwrap_or(Value::Null));
                }
                Some(Value::Array(out))
            }
            BodyTemplate::Object(fields) => {
                let mut out = Map::new();
                for (key, item) in fields {
                    if let Some(v) = item.render(action, args)? {
                        out.insert(key.clone(), v);
                    }
                }
                Some(Value::Object(out))
            }
        })
    }
}

fn where_in_body(path: &[String]) -> String {
    if path.is_empty() {
        "the body".to_string()
    } else {
        format!("body.{}", path.join("."))
    }
}

impl BodyPlan {
    /// The body's bytes for these (already checked) arguments.
    pub(crate) fn render(
        &self,
        action: &str,
        args: &Map<String, Value>,
    ) -> Result<Option<Vec<u8>>, ActionError> {
        let value = match self {
            BodyPlan::None => return Ok(None),
            BodyPlan::AllArgs => Value::Object(args.clone()),
            BodyPlan::Template(t) => t.render(action, args)?.unwrap_or(Value::Null),
        };
        // Serialising a `Value` cannot fail (its keys are strings).
        let bytes = serde_json::to_vec(&value).unwrap_or_default();
        if bytes.len() > MAX_BODY_BYTES {
            return Err(ActionError::InvalidArguments {
                action: action.to_string(),
                reason: format!(
                    "the request body would be {} bytes, more than {MAX_BODY_BYTES}",
                    bytes.len()
                ),
            });
        }
        Ok(Some(bytes))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn render(body: Value, args: Value) -> Result<Value, String> {
        let t = BodyTemplate::compile(&body, &mut Vec::new()).map_err(|e| e.to_string())?;
        let Value::Object(map) = args else {
            unreachable!()
        };
        let bytes = BodyPlan::Template(t)
            .render("act", &map)
            .map_err(|e| e.to_string())?
            .unwrap();
        Ok(serde_json::from_slice(&bytes).unwrap())
    }

    #[test]
    fn templates_fill_leaves_with_json_values() {
        for (body, args, expected) in [
            (
                json!({"customer": "{customer}", "items": [{"item_code": "{item}", "qty": "{qty}"}]}),
                json!({"customer": "ACME", "item": "WIDGET-1", "qty": 3}),
                json!({"customer": "ACME", "items": [{"item_code": "WIDGET-1", "qty": 3}]}),
            ),
            (
                json!({"note": "Invoice for {customer} ({qty})", "fixed": true, "n": 1.5}),
                json!({"customer": "ACME", "qty": 3}),
                json!({"note": "Invoice for ACME (3)", "fixed": true, "n": 1.5}),
            ),
            (
                json!({"a": "{a}", "b": "{b}", "list": ["{b}"]}),
                json!({"a": {"deep": [1, 2]}}),
                json!({"a": {"deep": [1, 2]}, "list": [null]}),
            ),
            ("{a}".into(), json!({"a": [1, "x"]}), json!([1, "x"])),
            (
                json!({"literal": "{{not a template}}"}),
                json!({}),
                json!({"literal": "{not a template}"}),
            ),
            (
                json!({"s": "{a}"}),
                json!({"a": "\"}, \"admin\": true, {\""}),
                json!({"s": "\"}, \"admin\": true, {\""}),
            ),
        ] {
            assert_eq!(render(body.clone(), args).unwrap(), expected, "{body}");
        }
    }

    #[test]
    fn text_templates_need_scalars() {
        let err = render(json!({"s": "x {a}"}), json!({"a": [1]})).unwrap_err();
        assert!(err.contains("`a` is an array"), "{err}");
        let err = render(json!({"s": "x {a}"}), json!({})).unwrap_err();
        assert!(err.contains("missing argument `a`"), "{err}");
    }

    #[test]
    fn huge_bodies_are_refused() {
        let err = render(json!("{a}"), json!({"a": "x".repeat(MAX_BODY_BYTES)})).unwrap_err();
        assert!(err.contains("more than 1048576"), "{err}");
    }

    #[test]
    fn bad_body_templates_name_their_place() {
        let err =
            BodyTemplate::compile(&json!({"items": [{"q": "{a"}]}), &mut Vec::new()).unwrap_err();
        assert!(matches!(&err, BodyError::Template { at, .. } if at == "body.items.0.q"));
        let err = err.to_string();
        assert!(err.starts_with("body.items.0.q: "), "{err}");
        let err = BodyTemplate::compile(&json!({"x": null}), &mut Vec::new()).unwrap_err();
        assert_eq!(
            err,
            BodyError::NotANumber {
                at: "body.x".into()
            }
        );
        assert!(err.to_string().contains("body.x is nan or inf"), "{err}");
    }
}
