//! Typed configuration: the contract of `config.toml` and its `AIOS_*` overrides.
//!
//! The repo's `config.toml` is the documented default and is built into the binary; the
//! serde defaults below must agree with it (a test holds them together).

mod env;
mod load;
mod locate;
mod policy;
mod redis_url;
mod spans;
pub mod url;
mod validate;

pub use load::{ConfigError, ConfigSource, LoadOptions, Origin, load, parse_str};
pub use policy::{PolicyViolation, check_open_model_url, closed_api_provider};
pub use redis_url::RedisUrl;

use std::collections::BTreeMap;
use std::path::PathBuf;

use serde::{Deserialize, Serialize};

/// The embedded default configuration, identical to the repo's `config.toml`.
pub const DEFAULT_CONFIG_TOML: &str = include_str!("../../config.toml");

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
#[serde(default, deny_unknown_fields)]
pub struct Config {
    pub runtime: RuntimeConfig,
    pub bus: BusConfig,
    pub memory: MemoryConfig,
    pub llm: LlmConfig,
    pub mcp: McpConfig,
    pub audit: AuditConfig,
    pub tui: TuiConfig,
    pub metrics: MetricsConfig,
    /// `[approvals]`: the gate before tool calls with effects.
    pub approvals: crate::approvals::ApprovalsConfig,
    /// `[agents.<id>]`: overrides of catalog agents, or new agents.
    pub agents: BTreeMap<String, AgentOverride>,
    /// `[actions.<name>]`: HTTP actions agents may call as tools.
    pub actions: BTreeMap<String, crate::actions::ActionConfig>,
    /// `[mcp_servers.<name>]`: outside MCP servers whose tools agents may call. Left out
    /// when empty, so it is no section of the `AIOS_*` variables (section names have no
    /// `_`; a server is configured in the file).
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub mcp_servers: BTreeMap<String, crate::mcp_client::McpServerConfig>,
    /// `[hooks]`: signing, retries and schedules of protocol hook deliveries.
    pub hooks: crate::hooks::HooksConfig,
    /// `[recorder]`: the flight recording that `aios replay` and `aios why` read.
    pub recorder: crate::recorder::RecorderConfig,
    /// `[vault]`: where `vault:` references are read from.
    pub vault: VaultConfig,
    /// The resolved secrets: not configuration but what it points to, filled by
    /// `secrets::resolve_config` and shared by every clone of this config.
    #[serde(skip)]
    pub secrets: crate::secrets::Secrets,
}

impl Config {
    /// The node name: `runtime.node`, or the host name when empty.
    pub fn node_name(&self) -> String {
        if self.runtime.node.is_empty() {
            gethostname::gethostname().to_string_lossy().into_owned()
        } else {
            self.runtime.node.clone()
        }
    }

    /// The data dir: `runtime.data_dir`, or the platform data dir when empty.
    pub fn data_dir(&self) -> PathBuf {
        if self.runtime.data_dir.as_os_str().is_empty() {
            default_data_dir()
        } else {
            self.runtime.data_dir.clone()
        }
    }

    /// The audit dir: `audit.dir`, or `<data_dir>/audit` when empty.
    pub fn audit_dir(&self) -> PathBuf {
        if self.audit.dir.as_os_str().is_empty() {
            self.data_dir().join("audit")
        } else {
            self.audit.dir.clone()
        }
    }
}

/// `<platform data dir>/aios`, e.g. `~/.local/share/aios` on Linux.
pub fn default_data_dir() -> PathBuf {
    directories::BaseDirs::new()
        .map(|d| d.data_dir().join("aios"))
        .unwrap_or_else(|| PathBuf::from(".aios"))
}

/// `<platform config dir>/aios/config.toml`, e.g. `~/.config/aios/config.toml`.
pub fn default_config_path() -> Option<PathBuf> {
    directories::BaseDirs::new().map(|d| d.config_dir().join("aios").join("config.toml"))
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct RuntimeConfig {
    /// Node name shown in the UI and on the bus; empty = host name.
    pub node: String,
    /// Where state, audit log, socket and logs live; empty = platform data dir.
    pub data_dir: PathBuf,
    /// How many context versions to keep per agent (older ones are pruned).
    pub context_versions: u32,
    /// How many behavioral traces to keep per agent.
    pub trace_limit: u32,
    /// Depth of each agent's intent queue.
    pub queue_depth: u32,
    /// Memory items recalled into each prompt.
    pub recall_k: u32,
    /// How many times a model may call tools and see their results before it must answer.
    pub max_tool_rounds: u32,
    /// How long a chain of handoffs may grow (an operator's intent is depth 0).
    pub max_handoff_depth: u32,
    /// Seconds without a token after which a working agent is marked stalled in the TUI
    /// (it needs a look); 0 = never.
    pub stall_s: u32,
}

impl Default for RuntimeConfig {
    fn default() -> Self {
        Self {
            node: String::new(),
            data_dir: PathBuf::new(),
            context_versions: 100,
            trace_limit: 1000,
            queue_depth: 64,
            recall_k: 3,
            max_tool_rounds: 6,
            max_handoff_depth: 3,
            stall_s: 60,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum BusBackend {
    #[default]
    Auto,
    Redis,
    Memory,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct BusConfig {
    pub backend: BusBackend,
    /// Shown masked wherever it is printed ([`RedisUrl`]).
    pub url: RedisUrl,
    /// Prefix for every channel and key, so several deployments can share one Redis.
    pub prefix: String,
    /// Larger messages are rejected (counted, kept for display, never fatal); 1 KiB..=512 MiB.
    pub max_message_bytes: u32,
    /// An intent a node took but did not finish for this long is taken over by another;
    /// 100 ms..=1 day.
    pub claim_idle_ms: u32,
    /// A taken-over intent delivered this many times goes to the dead-letter stream; 1..=1000.
    pub max_deliveries: u32,
    /// Most intents an intent stream holds: handled ones are trimmed to make room; when
    /// unhandled ones fill it, new intents are refused (answered, audited), never dropped;
    /// 100..=10^9.
    pub stream_max_len: u32,
    /// Messages kept while Redis is unreachable; more are refused with an error.
    pub outbox: u32,
    /// How often a node publishes its heartbeat on `aios.nodes`; 100 ms..=10 min.
    pub heartbeat_ms: u32,
}

impl Default for BusConfig {
    fn default() -> Self {
        Self {
            backend: BusBackend::Auto,
            url: "redis://127.0.0.1:6379".into(),
            prefix: String::new(),
            max_message_bytes: 1024 * 1024,
            claim_idle_ms: 30_000,
            max_deliveries: 5,
            stream_max_len: 100_000,
            outbox: 10_000,
            heartbeat_ms: 5_000,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum MemoryBackend {
    #[default]
    Auto,
    Qdrant,
    Local,
    /// Chroma's v2 REST API at `[memory.chroma] url` (`chromadb`, the spec's word, or
    /// `chroma`).
    #[serde(rename = "chromadb", alias = "chroma")]
    Chroma,
    /// Weaviate's REST v1 API at `[memory.weaviate] url`.
    Weaviate,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum EmbedderKind {
    /// MiniLM when its directory is found, else Ollama when it answers, else hash.
    #[default]
    Auto,
    /// all-MiniLM-L6-v2 in process, from `embedding_model_dir` or the Hugging Face cache.
    Minilm,
    Ollama,
    /// Feature hashing: needs nothing, matches words, not meaning.
    Hash,
}

/// `[memory.chroma]`: Chroma's HTTP server (v2 REST API).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ChromaConfig {
    pub url: String,
}

impl Default for ChromaConfig {
    fn default() -> Self {
        Self {
            url: "http://127.0.0.1:8000".into(),
        }
    }
}

/// `[memory.weaviate]`: Weaviate's REST endpoint.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct WeaviateConfig {
    pub url: String,
}

impl Default for WeaviateConfig {
    fn default() -> Self {
        Self {
            url: "http://127.0.0.1:8080".into(),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct MemoryConfig {
    pub backend: MemoryBackend,
    pub url: String,
    pub collection: String,
    pub embedder: EmbedderKind,
    pub embedding_model: String,
    /// The all-MiniLM-L6-v2 directory (Hugging Face layout); empty = the Hugging Face cache.
    pub embedding_model_dir: String,
    pub dims: u32,
    pub chroma: ChromaConfig,
    pub weaviate: WeaviateConfig,
}

impl Default for MemoryConfig {
    fn default() -> Self {
        Self {
            backend: MemoryBackend::Auto,
            url: "http://127.0.0.1:6334".into(),
            collection: "aios_memory".into(),
            embedder: EmbedderKind::Auto,
            embedding_model: "all-minilm".into(),
            embedding_model_dir: String::new(),
            dims: 384,
            chroma: ChromaConfig::default(),
            weaviate: WeaviateConfig::default(),
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum RunnerKind {
    #[default]
    Auto,
    Ollama,
    Openai,
    Sim,
}

impl RunnerKind {
    pub fn as_str(self) -> &'static str {
        match self {
            RunnerKind::Auto => "auto",
            RunnerKind::Ollama => "ollama",
            RunnerKind::Openai => "openai",
            RunnerKind::Sim => "sim",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct LlmConfig {
    pub runner: RunnerKind,
    pub model: String,
    /// TCP connect timeout per attempt.
    pub connect_timeout_ms: u32,
    /// Longest wait from sending a request to the first token (includes loading the model).
    pub first_token_timeout_ms: u32,
    /// Longest gap between two tokens once an answer streams.
    pub idle_timeout_ms: u32,
    /// Extra attempts after a connection failure (refused, reset before any answer).
    pub retries: u32,
    pub ollama: EndpointConfig,
    pub openai: EndpointConfig,
    pub sim: SimConfig,
}

impl Default for LlmConfig {
    fn default() -> Self {
        Self {
            runner: RunnerKind::Auto,
            model: "llama3".into(),
            connect_timeout_ms: 3_000,
            first_token_timeout_ms: 120_000,
            idle_timeout_ms: 60_000,
            retries: 2,
            ollama: EndpointConfig {
                url: "http://127.0.0.1:11434".into(),
            },
            openai: EndpointConfig {
                url: "http://127.0.0.1:8000/v1".into(),
            },
            sim: SimConfig::default(),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
#[serde(default, deny_unknown_fields)]
pub struct EndpointConfig {
    pub url: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct SimConfig {
    /// Streaming rate of the scripted runner; 0 streams as fast as it can.
    pub tokens_per_second: u32,
}

impl Default for SimConfig {
    fn default() -> Self {
        Self {
            tokens_per_second: 120,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct McpConfig {
    /// Address of the Streamable HTTP server (`aios serve`); empty = none.
    pub http_bind: String,
    /// Bearer tokens accepted by the HTTP server, each with the role admin; empty (and no
    /// other tokens, no OIDC) = a token generated into `<data dir>/mcp.token` (admin) is
    /// required instead.
    pub tokens: Vec<String>,
    /// Serve HTTP with no token at all: allowed on a loopback bind only, and logged. Any
    /// local user can then steer the agents, so it is an explicit opt-in.
    pub loopback_without_auth: bool,
    /// Browser origins allowed to call the HTTP server; any other `Origin` gets 403. On a
    /// loopback bind, `http://localhost:<port>`, `http://127.0.0.1:<port>` and
    /// `http://[::1]:<port>` are allowed too (the token still applies).
    pub allowed_origins: Vec<String>,
    /// OIDC issuer whose JWTs are accepted as bearer tokens (Keycloak realm, Authentik
    /// application URL); empty = no OIDC.
    pub oidc_issuer: String,
    /// The `aud` a JWT must carry; required with `oidc_issuer`.
    pub oidc_audience: String,
    /// JWKS URL; empty = the `jwks_uri` of the issuer's OpenID configuration.
    pub oidc_jwks_url: String,
    /// The client whose roles (`resource_access.<client>.roles`) count; empty =
    /// `oidc_audience`.
    pub oidc_client: String,
    /// Most HTTP sessions (2025-11-25 clients) held at once; a new one evicts the session
    /// idle the longest, and is refused with 503 when every session is busy.
    pub max_sessions: u32,
    /// Most bytes of text in one tool argument (a string, or all strings of a list), e.g.
    /// `remember`'s `text` or `append_trace`'s `summary`. The context document of
    /// `update_context` has its own limit of 1 MiB.
    pub max_text_bytes: u32,
    /// Most bytes of one `tail_audit` answer; older records are left out, and it says so.
    pub max_tail_bytes: u32,
    /// `[mcp.role_tokens]`: static bearer tokens by role (`viewer = ["…"]`, `operator`,
    /// `admin`).
    pub role_tokens: crate::roles::RoleTokens,
    /// `[mcp.roles]`: the claim value (Keycloak realm or client role, Authentik group) that
    /// grants each role.
    pub roles: crate::roles::RoleNames,
}

impl Default for McpConfig {
    fn default() -> Self {
        Self {
            http_bind: "127.0.0.1:8765".into(),
            tokens: Vec::new(),
            loopback_without_auth: false,
            allowed_origins: Vec::new(),
            oidc_issuer: String::new(),
            oidc_audience: String::new(),
            oidc_jwks_url: String::new(),
            oidc_client: String::new(),
            max_sessions: 256,
            max_text_bytes: 64 * 1024,
            max_tail_bytes: 1024 * 1024,
            role_tokens: crate::roles::RoleTokens::default(),
            roles: crate::roles::RoleNames::default(),
        }
    }
}

impl McpConfig {
    /// Every configured static token with its role (`tokens` are admin); a token given two
    /// roles is the error (key, message).
    pub fn static_tokens(
        &self,
    ) -> Result<Vec<(String, crate::roles::Role)>, (&'static str, String)> {
        crate::roles::static_tokens(&self.tokens, &self.role_tokens)
    }

    /// The client whose roles count: `oidc_client`, or the audience when that is empty.
    pub fn oidc_client(&self) -> &str {
        if self.oidc_client.is_empty() {
            &self.oidc_audience
        } else {
            &self.oidc_client
        }
    }

    /// The first problem of the `[mcp]` values beyond their types, as (key, message).
    pub fn problem(&self) -> Option<(&'static str, String)> {
        let range = |key: &'static str, value: u32, min: u32, max: u32| {
            (!(min..=max).contains(&value))
                .then(|| (key, format!("must be between {min} and {max}, got {value}")))
        };
        if self.loopback_without_auth
            && let Ok(addr) = self.http_bind.parse::<std::net::SocketAddr>()
            && !addr.ip().is_loopback()
        {
            return Some((
                "loopback_without_auth",
                format!(
                    "is only allowed on a loopback bind, and mcp.http_bind is {addr}: bind \
                     127.0.0.1, or set mcp.tokens (or mcp.oidc_issuer) and turn this off"
                ),
            ));
        }
        if let Err(problem) = self.static_tokens() {
            return Some(problem);
        }
        if let Some(problem) = self.roles.problem() {
            return Some(problem);
        }
        range("max_sessions", self.max_sessions, 1, 100_000)
            .or_else(|| range("max_text_bytes", self.max_text_bytes, 256, 16 * 1024 * 1024))
            .or_else(|| {
                range(
                    "max_tail_bytes",
                    self.max_tail_bytes,
                    4096,
                    256 * 1024 * 1024,
                )
            })
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct AuditConfig {
    /// Empty = `<data_dir>/audit`.
    pub dir: PathBuf,
    /// A file is rotated once it grows past this many MiB.
    pub rotate_mb: u32,
    /// Regexes whose matches are masked before anything is written (audit, stores, logs),
    /// on top of the built-in patterns, which always apply: this list only adds.
    pub redact: Vec<String>,
    /// Longest time a record waits in memory before it is written and fsynced.
    pub flush_ms: u32,
    /// Ed25519 private key file (`aios audit keygen` makes one) that signs a checkpoint
    /// every `sign_every` records and at shutdown; empty = no signing.
    pub signing_key: PathBuf,
    /// Records between two signed checkpoints (1..=1000000).
    pub sign_every: u32,
}

impl Default for AuditConfig {
    fn default() -> Self {
        Self {
            dir: PathBuf::new(),
            rotate_mb: 64,
            redact: default_redactions(),
            flush_ms: 100,
            signing_key: PathBuf::new(),
            sign_every: 1000,
        }
    }
}

/// The patterns `audit.redact` adds by default: none. The common secrets (bearer tokens,
/// `password=`, AWS and GitHub keys, credentials in URLs, …) are built in
/// (`audit::redact::BUILTIN_PATTERNS`) and cannot be turned off.
pub fn default_redactions() -> Vec<String> {
    Vec::new()
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct TuiConfig {
    pub theme: String,
    pub fps: u32,
    pub max_lines: u32,
    /// Key name → action name, on top of the default keymap (`"x" = "none"` unbinds).
    pub keys: BTreeMap<String, String>,
    /// Intents kept in the prompt's history file (`<data_dir>/tui_history`); 0 = none kept.
    pub history: u32,
    /// When an agent newly needs a person: `off`, `bell` (the terminal bell) or `osc9` (a
    /// desktop notification through terminals that support OSC 9, with the bell as well).
    pub notify: Notify,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum Notify {
    #[default]
    Off,
    Bell,
    Osc9,
}

impl Default for TuiConfig {
    fn default() -> Self {
        Self {
            theme: "default".into(),
            fps: 30,
            max_lines: 10_000,
            keys: BTreeMap::new(),
            history: 500,
            notify: Notify::Off,
        }
    }
}

/// How aios logs in to Vault / OpenBao.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum VaultAuthKind {
    #[default]
    Auto,
    Token,
    Approle,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct VaultConfig {
    /// `http(s)://host:port`; empty = `VAULT_ADDR`.
    pub addr: String,
    pub namespace: String,
    pub auth: VaultAuthKind,
    /// A file holding the token; empty = `~/.vault-token` (`VAULT_TOKEN` wins over both).
    pub token_file: String,
    pub approle_mount: String,
    pub role_id: String,
    pub secret_id_file: String,
    pub refresh_s: u32,
    pub timeout_ms: u32,
}

impl Default for VaultConfig {
    fn default() -> Self {
        VaultConfig {
            addr: String::new(),
            namespace: String::new(),
            auth: VaultAuthKind::Auto,
            token_file: String::new(),
            approle_mount: "approle".into(),
            role_id: String::new(),
            secret_id_file: String::new(),
            refresh_s: 300,
            timeout_ms: 10_000,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
#[serde(default, deny_unknown_fields)]
pub struct MetricsConfig {
    /// e.g. "127.0.0.1:9464"; empty = no metrics endpoint.
    pub bind: String,
}

/// `[agents.<id>]`: every field optional; set fields replace the catalog's.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
#[serde(default, deny_unknown_fields)]
pub struct AgentOverride {
    pub name: Option<String>,
    pub category: Option<String>,
    pub role: Option<String>,
    pub goals: Option<Vec<String>>,
    pub persona_traits: Option<Vec<String>>,
    pub tools: Option<Vec<String>>,
    pub model: Option<String>,
    pub runner: Option<RunnerKind>,
    /// Pin the agent to the node of this name (`runtime.node`); other nodes leave it alone.
    pub node: Option<String>,
    pub memory_schema: Option<BTreeMap<String, serde_json::Value>>,
    /// `[{ name = "…", on = "intent.done", action = "webhook:…" }, …]`: hooks that fire
    /// for this agent besides those added over MCP.
    pub protocol_hooks: Option<Vec<crate::context::ProtocolHook>>,
}
