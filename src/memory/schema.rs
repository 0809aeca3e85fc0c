//! An agent's `memory_schema`: which backend keeps each part of its memory. The spec's
//! parts are `vector_store` and `persona_profile` (a vector store: `qdrant`, `weaviate`,
//! `chromadb` or `local`), `chat_history` and `content_trace` (`redis` or `local`). Other
//! keys (`embedding_model`, `escalation_tags`, …) are the agent's own notes and pass
//! through. A value outside these is a configuration error naming the agent and key.

use std::collections::BTreeMap;

use serde_json::Value;

/// Items of this kind are the agent's persona profile and live in its `persona_profile`
/// store.
pub const PERSONA_KIND: &str = "persona";

/// A vector store an agent's schema can name.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum VectorStoreKind {
    Qdrant,
    Weaviate,
    Chroma,
    Local,
}

impl VectorStoreKind {
    pub fn as_str(self) -> &'static str {
        match self {
            VectorStoreKind::Qdrant => "qdrant",
            VectorStoreKind::Weaviate => "weaviate",
            VectorStoreKind::Chroma => "chromadb",
            VectorStoreKind::Local => "local",
        }
    }

    fn parse(s: &str) -> Option<Self> {
        match s {
            "qdrant" => Some(Self::Qdrant),
            "weaviate" => Some(Self::Weaviate),
            "chromadb" | "chroma" => Some(Self::Chroma),
            "local" => Some(Self::Local),
            _ => None,
        }
    }
}

/// Where a list part (chat turns, traces) is kept.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum StateStoreKind {
    /// The runtime's Redis (the shared truth of every node); the embedded store when the
    /// runtime runs without Redis.
    Redis,
    /// This node's embedded store, even when the runtime runs on Redis.
    Local,
}

impl StateStoreKind {
    pub fn as_str(self) -> &'static str {
        match self {
            StateStoreKind::Redis => "redis",
            StateStoreKind::Local => "local",
        }
    }
}

/// The parts of a schema that choose a backend; `None` = the runtime's default.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct MemorySchema {
    pub vector_store: Option<VectorStoreKind>,
    pub persona_profile: Option<VectorStoreKind>,
    pub chat_history: Option<StateStoreKind>,
    pub content_trace: Option<StateStoreKind>,
    /// Written by the operator (`[agents.<id>] memory_schema`) rather than the catalog's
    /// spec default: a store it names that cannot be had is a visible warning, where the
    /// spec's defaults fall back quietly (logged, and said by `doctor`), as `auto` does.
    pub explicit: bool,
}

impl MemorySchema {
    /// Whether this schema puts any part of the agent's memory in a store of `kind`.
    pub fn uses(&self, kind: VectorStoreKind) -> bool {
        self.vector_store == Some(kind) || self.persona_profile == Some(kind)
    }
}

const VECTOR_VALUES: &str = "qdrant, weaviate, chromadb or local";
const STATE_VALUES: &str = "redis or local";

/// A schema part naming no backend of its kind; the text names
/// `agents.<id>.memory_schema.<key>`, the value and what is allowed.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum SchemaError {
    /// `vector_store` or `persona_profile` is not a vector store.
    #[error(
        "agents.{agent_id}.memory_schema.{key} = {value} is not a backend: expected {allowed}",
        allowed = VECTOR_VALUES
    )]
    NotAVectorStore {
        agent_id: String,
        key: String,
        value: Value,
    },
    /// `chat_history` or `content_trace` is neither `redis` nor `local`.
    #[error(
        "agents.{agent_id}.memory_schema.{key} = {value} is not a backend: expected {allowed}",
        allowed = STATE_VALUES
    )]
    NotAStateStore {
        agent_id: String,
        key: String,
        value: Value,
    },
}

/// Read the backend-choosing parts of `schema`; an error names `agents.<id>.memory_schema.<key>`.
pub fn parse(
    agent_id: &str,
    schema: &BTreeMap<String, Value>,
) -> Result<MemorySchema, SchemaError> {
    let mut out = MemorySchema::default();
    for (key, value) in schema {
        match key.as_str() {
            "vector_store" | "persona_profile" => {
                let kind = value
                    .as_str()
                    .and_then(VectorStoreKind::parse)
                    .ok_or_else(|| SchemaError::NotAVectorStore {
                        agent_id: agent_id.to_string(),
                        key: key.clone(),
                        value: value.clone(),
                    })?;
                if key == "vector_store" {
                    out.vector_store = Some(kind);
                } else {
                    out.persona_profile = Some(kind);
                }
            }
            "chat_history" | "content_trace" => {
                let kind = match value.as_str() {
                    Some("redis") => StateStoreKind::Redis,
                    Some("local") => StateStoreKind::Local,
                    _ => {
                        return Err(SchemaError::NotAStateStore {
                            agent_id: agent_id.to_string(),
                            key: key.clone(),
                            value: value.clone(),
                        });
                    }
                };
                if key == "chat_history" {
                    out.chat_history = Some(kind);
                } else {
                    out.content_trace = Some(kind);
                }
            }
            _ => {}
        }
    }
    Ok(out)
}

/// Every agent's schema, parsed, each marked `explicit` when the configuration wrote it
/// (config validation has already refused bad ones; the catalog's own are the spec's).
pub fn of_catalog(
    config: &crate::config::Config,
    catalog: &crate::agent::Catalog,
) -> Result<Vec<(String, MemorySchema)>, SchemaError> {
    catalog
        .agents()
        .iter()
        .map(|a| {
            let mut schema = parse(&a.id, &a.memory_schema)?;
            schema.explicit = config
                .agents
                .get(&a.id)
                .is_some_and(|o| o.memory_schema.is_some());
            Ok((a.id.clone(), schema))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn schema(pairs: &[(&str, Value)]) -> BTreeMap<String, Value> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.clone()))
            .collect()
    }

    #[test]
    fn the_spec_schemas_parse() {
        let s = parse(
            "content-agent",
            &schema(&[
                ("persona_profile", json!("chromadb")),
                ("content_trace", json!("redis")),
            ]),
        )
        .expect("valid");
        assert_eq!(s.persona_profile, Some(VectorStoreKind::Chroma));
        assert_eq!(s.content_trace, Some(StateStoreKind::Redis));
        let s = parse(
            "support-agent",
            &schema(&[
                ("chat_history", json!("redis")),
                ("escalation_tags", json!(["billing"])),
            ]),
        )
        .expect("valid");
        assert_eq!(s.chat_history, Some(StateStoreKind::Redis));
        assert_eq!(s.vector_store, None);
    }

    #[test]
    fn unknown_values_name_the_agent_and_key() {
        let err = parse(
            "strategy-agent",
            &schema(&[("vector_store", json!("pinecone"))]),
        )
        .expect_err("unknown store");
        assert!(matches!(
            &err,
            SchemaError::NotAVectorStore { agent_id, key, value }
                if agent_id == "strategy-agent" && key == "vector_store" && *value == json!("pinecone")
        ));
        assert_eq!(
            err.to_string(),
            "agents.strategy-agent.memory_schema.vector_store = \"pinecone\" is not a backend: \
             expected qdrant, weaviate, chromadb or local"
        );
        let err = err.to_string();
        assert!(
            err.contains("agents.strategy-agent.memory_schema.vector_store")
                && err.contains("pinecone")
                && err.contains("chromadb"),
            "{err}"
        );
        let err = parse("support-agent", &schema(&[("chat_history", json!(true))]))
            .expect_err("not a string");
        assert!(matches!(&err, SchemaError::NotAStateStore { key, .. } if key == "chat_history"));
        assert_eq!(
            err.to_string(),
            "agents.support-agent.memory_schema.chat_history = true is not a backend: \
             expected redis or local"
        );
        let err = err.to_string();
        assert!(
            err.contains("chat_history") && err.contains("redis or local"),
            "{err}"
        );
    }
}
