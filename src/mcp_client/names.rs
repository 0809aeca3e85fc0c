//! The names and shapes a server's tools are shown to the model under.
//!
//! OpenAI-style function names allow `[A-Za-z0-9_-]`, at most 64 characters; MCP tool
//! names allow more (dots, slashes, any length). Each tool is exposed as
//! `<server>__<tool>` with other characters mapped to `_`; a name too long, or one that
//! two tools would share after mapping, gets a short hash of the real name instead of
//! its tail. The mapping depends on the tool list alone (sorted by real name), so the
//! same list always gives the same names.

use std::collections::BTreeMap;

use serde_json::{Map, Value};
use sha2::{Digest, Sha256};

/// The longest function name a model API accepts.
pub const MAX_NAME: usize = 64;
/// Most tools taken from one server; a longer list is cut (and the cut is logged).
pub const MAX_TOOLS: usize = 256;
/// Longest description passed to the model, in bytes.
pub const MAX_DESCRIPTION: usize = 4096;
/// Largest schema passed to the model, serialized, in bytes.
pub const MAX_SCHEMA: usize = 64 * 1024;

/// A server's tools as exposed: exposed name → real name, and what was odd on the way.
#[derive(Debug, Default, Clone, PartialEq)]
pub struct Naming {
    pub names: BTreeMap<String, String>,
    /// One line per renamed or dropped tool, for the log.
    pub notes: Vec<String>,
}

/// Expose `real` tool names of `server` (a valid server name, see `config`).
pub fn expose(server: &str, real: &[String]) -> Naming {
    let mut sorted: Vec<&String> = real.iter().collect();
    sorted.sort();
    sorted.dedup();
    let mut out = Naming::default();
    if sorted.len() > MAX_TOOLS {
        out.notes.push(format!(
            "{} tools listed, only the first {MAX_TOOLS} (by name) are used",
            sorted.len()
        ));
        sorted.truncate(MAX_TOOLS);
    }
    for name in sorted {
        let plain = format!("{server}__{}", sanitize(name));
        let mut exposed = plain.clone();
        if exposed.len() > MAX_NAME || out.names.contains_key(&exposed) {
            exposed = hashed(&plain, name);
            out.notes.push(format!(
                "tool `{name}` is exposed as `{exposed}` ({})",
                if plain.len() > MAX_NAME {
                    "its name is longer than 64 characters"
                } else {
                    "another tool has the same name once mapped to letters, digits, `_` and `-`"
                }
            ));
        } else if exposed != format!("{server}__{name}") {
            out.notes.push(format!(
                "tool `{name}` is exposed as `{exposed}` (only letters, digits, `_` and `-` \
                 are allowed in a function name)"
            ));
        }
        if out.names.contains_key(&exposed) {
            out.notes
                .push(format!("tool `{name}` is left out: its name collides"));
            continue;
        }
        out.names.insert(exposed, name.clone());
    }
    out
}

/// Every character outside `[A-Za-z0-9_-]` becomes `_`.
pub fn sanitize(name: &str) -> String {
    name.chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '_' || c == '-' {
                c
            } else {
                '_'
            }
        })
        .collect()
}

/// `plain` cut to fit with `_` and 8 hex digits of the real name's SHA-256.
fn hashed(plain: &str, real: &str) -> String {
    let digest = hex::encode(Sha256::digest(real.as_bytes()));
    let keep = MAX_NAME - 9;
    // `plain` is ASCII (sanitized), so any byte index is a char boundary.
    let head = &plain[..plain.len().min(keep)];
    format!("{head}_{}", &digest[..8])
}

/// The tool's argument schema as the model gets it: a JSON object of `type: object`.
/// No schema, another type, or one too big gives `{"type": "object"}` and a note.
pub fn schema(raw: &Map<String, Value>) -> (Value, Option<String>) {
    let fallback = || serde_json::json!({ "type": "object" });
    match raw.get("type") {
        None | Some(Value::String(_)) => {}
        Some(_) => {
            return (
                fallback(),
                Some("its schema's `type` is not a string".into()),
            );
        }
    }
    if let Some(t) = raw.get("type").and_then(Value::as_str)
        && t != "object"
    {
        return (
            fallback(),
            Some(format!("its schema has type `{t}`, not `object`")),
        );
    }
    let size = serde_json::to_string(raw).map(|s| s.len()).unwrap_or(0);
    if size > MAX_SCHEMA {
        return (
            fallback(),
            Some(format!(
                "its schema is {size} bytes, more than {MAX_SCHEMA}"
            )),
        );
    }
    let mut schema = raw.clone();
    schema
        .entry("type")
        .or_insert_with(|| Value::String("object".into()));
    (Value::Object(schema), None)
}

/// The description as the model gets it: at most [`MAX_DESCRIPTION`] bytes.
pub fn description(raw: Option<&str>, title: Option<&str>) -> String {
    let text = raw.or(title).unwrap_or_default();
    cut(text, MAX_DESCRIPTION).to_string()
}

/// The longest prefix of `text` of at most `max` bytes that ends on a char boundary.
pub use crate::sanitize::cut_bytes as cut;

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn list(names: &[&str]) -> Vec<String> {
        names.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn plain_names_are_prefixed_and_odd_ones_mapped() {
        let n = expose(
            "helpdesk",
            &list(&["create_ticket", "get.weather", "a/b c"]),
        );
        assert_eq!(n.names["helpdesk__create_ticket"], "create_ticket");
        assert_eq!(n.names["helpdesk__get_weather"], "get.weather");
        assert_eq!(n.names["helpdesk__a_b_c"], "a/b c");
        assert_eq!(n.notes.len(), 2, "{:?}", n.notes);
        assert!(n.notes[0].contains("only letters, digits"));
    }

    #[test]
    fn collisions_and_long_names_get_a_stable_hash() {
        let long = "x".repeat(80);
        let tools = list(&["get.weather", "get_weather", &long]);
        let n = expose("s", &tools);
        assert_eq!(n.names.len(), 3);
        // Sorted by real name: `get.weather` < `get_weather`, so the first keeps the plain name.
        assert_eq!(n.names["s__get_weather"], "get.weather");
        let by_real: BTreeMap<&str, &str> = n
            .names
            .iter()
            .map(|(e, r)| (r.as_str(), e.as_str()))
            .collect();
        let second = by_real["get_weather"];
        assert!(second.starts_with("s__get_weather_"), "{second}");
        assert_eq!(second.len(), "s__get_weather_".len() + 8);
        assert_eq!(by_real[long.as_str()].len(), MAX_NAME);
        assert!(n.names.keys().all(|k| k.len() <= MAX_NAME));
        assert!(n.names.keys().all(|k| {
            k.chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
        }));
        // The same list in another order gives the same names.
        let mut reversed = tools.clone();
        reversed.reverse();
        assert_eq!(expose("s", &reversed), n);
        assert!(n.notes.iter().any(|l| l.contains("longer than 64")));
        assert!(n.notes.iter().any(|l| l.contains("same name once mapped")));
    }

    #[test]
    fn too_many_tools_are_cut_and_said() {
        let tools: Vec<String> = (0..300).map(|i| format!("t{i:03}")).collect();
        let n = expose("s", &tools);
        assert_eq!(n.names.len(), MAX_TOOLS);
        assert!(n.notes[0].contains("300 tools listed"));
    }

    #[test]
    fn schemas_are_objects() {
        let obj = |v: Value| v.as_object().unwrap().clone();
        let (s, note) = schema(&obj(json!({"type": "object", "properties": {"a": {}}})));
        assert_eq!(s["properties"]["a"], json!({}));
        assert_eq!(note, None);
        let (s, note) = schema(&obj(json!({"properties": {"a": {}}})));
        assert_eq!(s["type"], "object");
        assert_eq!(note, None);
        let (s, note) = schema(&obj(json!({"type": "string"})));
        assert_eq!(s, json!({"type": "object"}));
        assert!(note.unwrap().contains("type `string`"));
        let (s, note) = schema(&obj(json!({"type": ["object", "null"]})));
        assert_eq!(s, json!({"type": "object"}));
        assert!(note.is_some());
        let big = json!({"type": "object", "description": "d".repeat(MAX_SCHEMA)});
        let (s, note) = schema(&obj(big));
        assert_eq!(s, json!({"type": "object"}));
        assert!(note.unwrap().contains("bytes"));
    }

    #[test]
    fn descriptions_are_capped_on_a_char_boundary() {
        assert_eq!(description(None, Some("title")), "title");
        assert_eq!(description(Some("d"), Some("title")), "d");
        assert_eq!(description(None, None), "");
        let long = "é".repeat(MAX_DESCRIPTION);
        let d = description(Some(&long), None);
        assert!(d.len() <= MAX_DESCRIPTION && d.len() >= MAX_DESCRIPTION - 1);
    }
}
