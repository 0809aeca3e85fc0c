//! `AIOS_<SECTION>_<KEY>` environment overrides, derived from the configuration's own shape.
//!
//! The variable names come from serializing `Config::default()`: every leaf key gets one
//! (nested tables joined by `_`, upper case), so a new key gets its variable without a list
//! to keep in step. `[agents.<id>]` fields are `AIOS_AGENTS_<ID>_<FIELD>`, the id with `-`
//! written as `_`. A value is parsed by the type of its key; lists are comma-separated, or a
//! TOML array (`["a,b", "c"]`) when an item needs a comma. Variables whose second word is
//! not a config section (`AIOS_CONFIG`, `AIOS_LOG`, …) are not config keys and are skipped.

use std::collections::{BTreeMap, BTreeSet};

use toml::{Table, Value};

use super::load::{Origin, Origins, plain_serde_message};
use super::{AgentOverride, Config, ConfigError, RunnerKind};
use crate::agent::catalog::Catalog;

const PREFIX: &str = "AIOS_";

/// What a variable's text is parsed as, after the type of its key's default value.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    String,
    Integer,
    Float,
    Bool,
    List,
    /// Anything else (tables, dates): written as a TOML value.
    Toml,
}

impl Kind {
    fn of(value: &Value) -> Kind {
        match value {
            Value::String(_) => Kind::String,
            Value::Integer(_) => Kind::Integer,
            Value::Float(_) => Kind::Float,
            Value::Boolean(_) => Kind::Bool,
            Value::Array(_) => Kind::List,
            Value::Datetime(_) | Value::Table(_) => Kind::Toml,
        }
    }

    /// Parses a variable's text as a value of this kind; `Err` says what is allowed.
    fn parse(self, text: &str) -> Result<Value, String> {
        match self {
            Kind::String => Ok(Value::String(text.to_string())),
            Kind::Integer => text
                .trim()
                .parse::<i64>()
                .map(Value::Integer)
                .map_err(|_| "expected an integer".to_string()),
            Kind::Float => text
                .trim()
                .parse::<f64>()
                .map(Value::Float)
                .map_err(|_| "expected a number".to_string()),
            Kind::Bool => match text.trim().to_ascii_lowercase().as_str() {
                "true" | "1" | "yes" | "on" => Ok(Value::Boolean(true)),
                "false" | "0" | "no" | "off" => Ok(Value::Boolean(false)),
                _ => Err("expected true or false".to_string()),
            },
            Kind::List if text.trim_start().starts_with('[') => match toml_value(text) {
                Some(list @ Value::Array(_)) => Ok(list),
                _ => Err(
                    "expected a comma-separated list, or a TOML array such as [\"a\", \"b\"]"
                        .to_string(),
                ),
            },
            Kind::List => Ok(Value::Array(
                text.split(',')
                    .map(str::trim)
                    .filter(|item| !item.is_empty())
                    .map(|item| Value::String(item.to_string()))
                    .collect(),
            )),
            Kind::Toml => {
                toml_value(text).ok_or_else(|| "expected a TOML value such as { a = \"b\" }".into())
            }
        }
    }
}

/// `text` read as a TOML value (`[1, 2]`, `{ a = "b" }`, …).
fn toml_value(text: &str) -> Option<Value> {
    let mut table: Table = toml::from_str(&format!("value = {text}")).ok()?;
    table.remove("value")
}

/// A settable key and its variable.
#[derive(Debug)]
struct Leaf {
    path: Vec<String>,
    var: String,
    kind: Kind,
}

/// Every variable the configuration answers to, derived from its defaults.
#[derive(Debug)]
struct Schema {
    /// Top-level tables, e.g. `bus`, `llm`, `agents`.
    sections: Vec<String>,
    /// Every leaf key outside `[agents]`.
    leaves: Vec<Leaf>,
    /// The fields of `[agents.<id>]`.
    agent_fields: Vec<(String, Kind)>,
}

/// Every field of `AgentOverride` set, so that its serialization names them all. No
/// `..Default::default()` here: a new field must be added, and thereby gets a variable.
fn agent_override_with_every_field() -> AgentOverride {
    AgentOverride {
        name: Some(String::new()),
        category: Some(String::new()),
        role: Some(String::new()),
        goals: Some(Vec::new()),
        persona_traits: Some(Vec::new()),
        tools: Some(Vec::new()),
        model: Some(String::new()),
        runner: Some(RunnerKind::Auto),
        node: Some(String::new()),
        memory_schema: Some(BTreeMap::new()),
        protocol_hooks: Some(Vec::new()),
    }
}

fn env_name(path: &[String]) -> String {
    format!(
        "{PREFIX}{}",
        path.join("_").replace('-', "_").to_ascii_uppercase()
    )
}

impl Schema {
    fn new() -> Schema {
        // Serializing plain structs of strings, numbers and lists cannot fail; an empty
        // schema (no overrides) would be the harmless outcome if it ever did.
        let defaults = Table::try_from(Config::default()).unwrap_or_default();
        let mut sections: Vec<String> = defaults.keys().cloned().collect();
        if !sections.iter().any(|s| s == "agents") {
            sections.push("agents".into());
        }
        let mut leaves = Vec::new();
        for (section, value) in &defaults {
            if section != "agents" {
                flatten(vec![section.clone()], value, &mut leaves);
            }
        }
        let agent_fields = Table::try_from(agent_override_with_every_field())
            .unwrap_or_default()
            .iter()
            .map(|(field, value)| (field.clone(), Kind::of(value)))
            .collect();
        Schema {
            sections,
            leaves,
            agent_fields,
        }
    }

    /// The key a variable sets and how to parse its value; `Ok(None)` when the variable is
    /// not a config key at all.
    fn resolve(
        &self,
        var: &str,
        value: &str,
        known_ids: &BTreeSet<String>,
    ) -> Result<Option<(Vec<String>, Kind)>, ConfigError> {
        let Some(rest) = var.strip_prefix(PREFIX) else {
            return Ok(None);
        };
        let section = self.sections.iter().find(|s| {
            let upper = s.to_ascii_uppercase();
            rest == upper
                || rest
                    .strip_prefix(&upper)
                    .is_some_and(|r| r.starts_with('_'))
        });
        let Some(section) = section else {
            return Ok(None);
        };
        if section == "agents" {
            return self.resolve_agent(var, value, known_ids).map(Some);
        }
        if let Some(leaf) = self.leaves.iter().find(|l| l.var == var) {
            return Ok(Some((leaf.path.clone(), leaf.kind)));
        }
        let known: Vec<String> = self
            .leaves
            .iter()
            .filter(|l| l.path[0] == *section)
            .map(|l| format!("{} ({})", l.path[1..].join("."), l.var))
            .collect();
        Err(env_error(
            var,
            value,
            None,
            format!(
                "no such key in [{section}]; its keys are {}",
                known.join(", ")
            ),
        ))
    }

    /// `AIOS_AGENTS_<ID>_<FIELD>`: the longest field name that ends the variable, preferring
    /// a split whose id is already known (in the file or the catalog).
    fn resolve_agent(
        &self,
        var: &str,
        value: &str,
        known_ids: &BTreeSet<String>,
    ) -> Result<(Vec<String>, Kind), ConfigError> {
        let rest = var
            .strip_prefix(PREFIX)
            .and_then(|r| r.strip_prefix("AGENTS_"))
            .unwrap_or_default();
        let candidates: Vec<(String, &str, Kind)> = self
            .agent_fields
            .iter()
            .filter_map(|(field, kind)| {
                let id = rest
                    .strip_suffix(&field.to_ascii_uppercase())?
                    .strip_suffix('_')?;
                (!id.is_empty()).then(|| {
                    (
                        id.to_ascii_lowercase().replace('_', "-"),
                        field.as_str(),
                        *kind,
                    )
                })
            })
            .collect();
        let best = candidates
            .iter()
            .filter(|(id, _, _)| known_ids.contains(id))
            .max_by_key(|(_, field, _)| field.len())
            .or_else(|| candidates.iter().max_by_key(|(_, field, _)| field.len()));
        match best {
            Some((id, field, kind)) => Ok((
                vec!["agents".to_string(), id.clone(), field.to_string()],
                *kind,
            )),
            None => {
                let fields: Vec<String> = self
                    .agent_fields
                    .iter()
                    .map(|(f, _)| f.to_ascii_uppercase())
                    .collect();
                Err(env_error(
                    var,
                    value,
                    None,
                    format!(
                        "expected AIOS_AGENTS_<ID>_<FIELD> (e.g. AIOS_AGENTS_SUPPORT_AGENT_MODEL \
                         for [agents.support-agent] model) with FIELD one of {}",
                        fields.join(", ")
                    ),
                ))
            }
        }
    }
}

fn flatten(path: Vec<String>, value: &Value, leaves: &mut Vec<Leaf>) {
    match value {
        Value::Table(table) => {
            for (key, child) in table {
                let mut child_path = path.clone();
                child_path.push(key.clone());
                flatten(child_path, child, leaves);
            }
        }
        _ => leaves.push(Leaf {
            var: env_name(&path),
            path,
            kind: Kind::of(value),
        }),
    }
}

fn env_error(var: &str, value: &str, key: Option<&[String]>, message: String) -> ConfigError {
    ConfigError::Invalid {
        origin: Origin::Env {
            var: var.to_string(),
            value: value.to_string(),
        },
        key: key.map(|k| k.join(".")),
        message,
    }
}

/// Applies every `AIOS_<SECTION>_…` variable of `env` to `config`, recording each key's
/// origin; variables are applied in name order, and a later duplicate wins.
pub(crate) fn apply(
    config: &mut Config,
    env: &[(String, String)],
    origins: &mut Origins,
) -> Result<(), ConfigError> {
    let mut vars: Vec<&(String, String)> =
        env.iter().filter(|(k, _)| k.starts_with(PREFIX)).collect();
    if vars.is_empty() {
        return Ok(());
    }
    vars.sort_by(|a, b| a.0.cmp(&b.0));
    let schema = Schema::new();
    let mut known_ids: BTreeSet<String> = config.agents.keys().cloned().collect();
    known_ids.extend(Catalog::builtin().agents().iter().map(|a| a.id.clone()));

    for (var, text) in vars {
        let Some((path, kind)) = schema.resolve(var, text, &known_ids)? else {
            continue;
        };
        let value = kind
            .parse(text)
            .map_err(|message| env_error(var, text, Some(&path), message))?;
        let new_agent = path[0] == "agents" && !config.agents.contains_key(&path[1]);
        set_key(config, &path, value)
            .map_err(|message| env_error(var, text, Some(&path), message))?;
        let origin = Origin::Env {
            var: var.clone(),
            value: text.clone(),
        };
        if new_agent {
            origins.record(path[..2].to_vec(), origin.clone());
        }
        origins.record(path, origin);
    }
    Ok(())
}

/// Sets the key at `path` to `value` by way of the TOML form, so the value is checked by the
/// same deserializer as the file (enum names, integer ranges, …).
fn set_key(config: &mut Config, path: &[String], value: Value) -> Result<(), String> {
    let mut root = Table::try_from(&*config).map_err(|e| e.to_string())?;
    let (last, parents) = path.split_last().ok_or("empty key")?;
    let mut table = &mut root;
    for segment in parents {
        let entry = table
            .entry(segment.clone())
            .or_insert_with(|| Value::Table(Table::new()));
        table = entry
            .as_table_mut()
            .ok_or_else(|| format!("{segment} is not a table"))?;
    }
    table.insert(last.clone(), value);
    *config = root
        .try_into::<Config>()
        .map_err(|e| plain_serde_message(e.message()))?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_leaf_has_one_variable() {
        let schema = Schema::new();
        let vars: BTreeSet<&str> = schema.leaves.iter().map(|l| l.var.as_str()).collect();
        assert_eq!(vars.len(), schema.leaves.len(), "two keys share a variable");
        for var in [
            "AIOS_BUS_BACKEND",
            "AIOS_BUS_URL",
            "AIOS_LLM_OLLAMA_URL",
            "AIOS_LLM_OPENAI_URL",
            "AIOS_LLM_SIM_TOKENS_PER_SECOND",
            "AIOS_MCP_TOKENS",
            "AIOS_RUNTIME_DATA_DIR",
            "AIOS_TUI_FPS",
            "AIOS_AUDIT_REDACT",
            "AIOS_METRICS_BIND",
        ] {
            assert!(vars.contains(var), "{var}");
        }
        // Section names have no `_`, so the word after AIOS_ names the section unambiguously.
        assert!(!schema.sections.iter().any(|s| s.contains('_')));
    }

    #[test]
    fn agent_variables_split_on_the_longest_field() {
        let schema = Schema::new();
        let none = BTreeSet::new();
        let resolve = |var: &str, ids: &BTreeSet<String>| {
            schema
                .resolve_agent(var, "x", ids)
                .map(|(path, kind)| (path.join("."), kind))
        };
        assert_eq!(
            resolve("AIOS_AGENTS_SUPPORT_AGENT_MODEL", &none).unwrap(),
            ("agents.support-agent.model".into(), Kind::String)
        );
        assert_eq!(
            resolve("AIOS_AGENTS_LEAD_ROUTER_AGENT_PERSONA_TRAITS", &none).unwrap(),
            ("agents.lead-router-agent.persona_traits".into(), Kind::List)
        );
        assert_eq!(
            resolve("AIOS_AGENTS_X_MEMORY_SCHEMA", &none).unwrap(),
            ("agents.x.memory_schema".into(), Kind::Toml)
        );
        assert!(resolve("AIOS_AGENTS_MODEL", &none).is_err());
        assert!(resolve("AIOS_AGENTS_SUPPORT_AGENT_COLOUR", &none).is_err());
    }

    #[test]
    fn values_parse_by_kind() {
        assert_eq!(Kind::Integer.parse(" 42 "), Ok(Value::Integer(42)));
        assert!(Kind::Integer.parse("fast").is_err());
        assert_eq!(Kind::Bool.parse("Yes"), Ok(Value::Boolean(true)));
        let list = |items: &[&str]| {
            Value::Array(items.iter().map(|s| Value::String(s.to_string())).collect())
        };
        assert_eq!(Kind::List.parse("a, b,,c "), Ok(list(&["a", "b", "c"])));
        assert_eq!(Kind::List.parse(""), Ok(list(&[])));
        assert_eq!(
            Kind::List.parse(r#"["a{2,}", "b"]"#),
            Ok(list(&["a{2,}", "b"]))
        );
        assert!(Kind::List.parse("[unclosed").is_err());
        assert!(Kind::Toml.parse("{ vector_store = \"qdrant\" }").is_ok());
    }
}
