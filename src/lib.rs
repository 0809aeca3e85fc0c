//! aios: a terminal control center for a multi-agent AI runtime (AI ∞ OS).
//!
//! Code map (one folder per seam; a vendor crate is imported only where it is wrapped):
//!
//! - [`config`]: typed `config.toml`, `AIOS_*` environment overrides, validation and the
//!   open-models-only policy.
//! - [`agent`]: the 30-agent catalog, agent specs, the runtime supervisor and intent handling.
//! - [`approvals`]: the approval gate: rules (allow, ask, deny) and the calls waiting for a
//!   person, kept across restarts.
//! - [`bus`]: the spec's channels, the envelope contract, the durable intent queue; the
//!   `Bus` seam, its in-process backend and the Redis one (pub/sub, streams, the dead
//!   letter, per-channel stats).
//! - [`context`]: the [`context::ContextHub`], the one door to agent state (the MCP core);
//!   the `Store` seam and its backends (embedded redb, Redis, routed per agent schema);
//!   versioned contexts and their diffs.
//! - [`memory`]: the `VectorMemory` and `Embedder` seams; stores (local, Qdrant, Chroma,
//!   Weaviate) routed per agent schema; embedders (MiniLM in process, Ollama, hash).
//! - [`llm`]: the `LlmRunner` seam, token events and tool calls; the Ollama and
//!   OpenAI-compatible runners (vLLM, LM Studio, llama.cpp) and the scripted `sim` runner.
//! - [`audit`]: the hash-chained JSONL audit log: writer, reader, verification, redaction.
//! - [`chain`]: the hash chain of JSON lines the audit log and the recording share.
//! - [`recorder`]: the flight recording (runtime events, bus, audit, the turn's recall,
//!   model requests and tool calls), hash-chained, that `aios replay` and `aios why` read.
//! - [`why`]: the causal chain of an intent as a tree (who asked, recall, prompt, tokens,
//!   tool calls and approvals, the context diff, what it caused), built from the recording.
//! - [`control`]: data-dir ownership (one lock, one owner) and the local control socket
//!   through which other invocations reach the owner.
//! - [`owner`]: the one owner of a data dir: lock, runtime, control socket, MCP and metrics
//!   under one cancellation token and one task tracker, stopped in order.
//! - [`mcp`]: the MCP server over the ContextHub (rmcp): tools, resources, prompts; stdio,
//!   the owner's `mcp.sock`, and Streamable HTTP with Origin checks, tokens and OIDC.
//! - [`secrets`]: `env:` and `vault:<mount>/<path>#<key>` references: resolved from Vault or
//!   OpenBao at start (token or AppRole), refreshed, masked by every redactor.
//! - [`roles`]: viewer < operator < admin: the role type, the claim names that grant each,
//!   static tokens by role, and the refusal every door gives.
//! - [`api`]: the inbound HTTP API beside `/mcp`: `POST /v1/intents`, intent status, runtime
//!   events as SSE, and its OpenAPI document.
//! - [`actions`]: HTTP actions (`[actions.<name>]`): argument checks, the exact request with
//!   its secret-masked preview, and sending it with a timeout, retries and a response cap.
//! - [`mcp_client`]: outside MCP servers (`[mcp_servers.<name>]`, stdio or Streamable HTTP)
//!   supervised with restarts, their tools namespaced `<server>__<tool>` in the registry.
//! - [`hooks`]: protocol hooks that fire: event patterns and schedules → signed webhooks,
//!   HTTP actions, intents or MCP tools, through a durable outbox with retries.
//! - [`replay`]: a recording turned back into the app's actions, and the player that
//!   moves one time cursor through them (checkpoints keep a seek short).
//! - [`cli`]: the command line (clap) and one module per subcommand.
//! - [`tui`]: the ratatui control center; the only module that touches the terminal.
//! - [`shutdown`]: SIGINT/SIGTERM, for an orderly stop.
//! - [`telemetry`]: tracing to a file, never to the terminal.
//! - [`metrics`]: Prometheus metrics (names, recorder, the `/metrics` endpoint at `metrics.bind`).
//! - [`segments`]: the numbered files the audit log and the recording rotate through.
//! - [`tls`]: the one rustls crypto provider, and every Redis client made through it.
//! - [`sanitize`]: neutralising escape sequences and control characters before display.
//! - [`file_modes`]: umask 077 and a private data dir (0700 dirs, 0600 files).
//! - [`redis_conn`]: one way to connect to Redis (RESP3, TLS, one backoff, one set of
//!   timeouts) for the bus, the store, the audit mirror and the hook outbox.
//! - [`redb_file`]: a redb file reopened on its own after an I/O error (a full disk).
//! - [`event`]: the `RuntimeEvent` vocabulary every background task speaks to the UI.
#![forbid(unsafe_code)]

pub mod actions;
pub mod agent;
pub mod api;
pub mod approvals;
pub mod audit;
pub mod bus;
pub mod chain;
pub mod cli;
pub mod config;
pub mod context;
pub mod control;
pub mod event;
pub mod file_modes;
pub mod hooks;
pub mod llm;
pub mod mcp;
pub mod mcp_client;
pub mod memory;
pub mod metrics;
pub mod owner;
pub mod recorder;
pub mod redb_file;
pub mod redis_conn;
pub mod replay;
pub mod roles;
pub mod sanitize;
pub mod secrets;
pub mod segments;
pub mod shutdown;
pub mod telemetry;
pub mod tls;
pub mod tui;
pub mod why;
