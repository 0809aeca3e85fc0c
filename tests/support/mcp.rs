//! Harness for the MCP tests: the real `aios` binary (`aios serve` with HTTP on a free
//! port, or `aios mcp` on stdio), rmcp's own client on either protocol revision, and the
//! checks every transport must pass (`exercise_everything`).
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::{Duration, Instant};

use rmcp::model::{
    CallToolRequestParams, CallToolResult, ClientCapabilities, ClientConfig,
    GetPromptRequestParams, Implementation, ProtocolVersion, ReadResourceRequestParams,
    ResourceContents, ResourceUpdatedNotificationParam,
};
use rmcp::service::{NotificationContext, RunningService};
use rmcp::transport::streamable_http_client::StreamableHttpClientTransportConfig;
use rmcp::transport::{StreamableHttpClientTransport, TokioChildProcess};
use rmcp::{ClientHandler, ClientLifecycleMode, ClientServiceExt, RoleClient};
use serde_json::{Value, json};
use tokio::sync::mpsc;

use crate::support::aios;
use crate::support::serve::{Killed, start_serve_announcing};

/// The protocol revision a client speaks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Rev {
    /// `2025-11-25`: initialize handshake, sessions, `resources/subscribe`.
    Legacy,
    /// `2026-07-28`: stateless, `server/discover`, `subscriptions/listen`.
    Modern,
}

pub const BOTH: [Rev; 2] = [Rev::Legacy, Rev::Modern];

impl Rev {
    fn lifecycle(self) -> ClientLifecycleMode {
        match self {
            Rev::Legacy => ClientLifecycleMode::Initialize,
            Rev::Modern => ClientLifecycleMode::Discover {
                preferred_versions: vec![ProtocolVersion::V_2026_07_28],
            },
        }
    }
}

/// The tools aios serves.
pub const TOOLS: [&str; 15] = [
    "add_protocol_hook",
    "append_trace",
    "decide_approval",
    "diff_context",
    "dispatch_intent",
    "get_agent",
    "get_context",
    "handoff",
    "list_agents",
    "list_approvals",
    "recall",
    "remember",
    "set_goals",
    "tail_audit",
    "update_context",
];

/// A client handler that names itself and passes on `resources/updated` URIs.
#[derive(Clone)]
pub struct Probe {
    name: String,
    updates: mpsc::UnboundedSender<String>,
}

impl ClientHandler for Probe {
    fn get_info(&self) -> ClientConfig {
        ClientConfig::new(
            ClientCapabilities::default(),
            Implementation::new(self.name.clone(), "1.0.0"),
        )
        .with_protocol_version(ProtocolVersion::V_2025_11_25)
    }

    async fn on_resource_updated(
        &self,
        params: ResourceUpdatedNotificationParam,
        _context: NotificationContext<RoleClient>,
    ) {
        let _ = self.updates.send(params.uri);
    }
}

pub type Client = RunningService<RoleClient, Probe>;

fn probe(name: &str) -> (Probe, mpsc::UnboundedReceiver<String>) {
    let (tx, rx) = mpsc::unbounded_channel();
    (
        Probe {
            name: name.into(),
            updates: tx,
        },
        rx,
    )
}

/// Connect to `url` (Streamable HTTP).
pub async fn connect_http(
    url: &str,
    rev: Rev,
    name: &str,
    token: Option<&str>,
) -> (Client, mpsc::UnboundedReceiver<String>) {
    let mut config = StreamableHttpClientTransportConfig::with_uri(url.to_string());
    if let Some(t) = token {
        config = config.auth_header(t.to_string());
    }
    let transport = StreamableHttpClientTransport::from_config(config);
    let (p, rx) = probe(name);
    let client = p
        .serve_with_lifecycle(transport, rev.lifecycle())
        .await
        .unwrap_or_else(|e| panic!("{name} connects over HTTP ({rev:?}): {e}"));
    (client, rx)
}

/// Launch `aios mcp` on `data` and connect to it on stdio.
pub async fn connect_stdio(
    cwd: &Path,
    data: &Path,
    rev: Rev,
    name: &str,
) -> (Client, mpsc::UnboundedReceiver<String>) {
    let mut cmd = aios(cwd, data);
    cmd.arg("mcp");
    let (transport, _) = TokioChildProcess::builder(tokio::process::Command::from(cmd))
        .stderr(Stdio::null())
        .spawn()
        .expect("aios mcp starts");
    let (p, rx) = probe(name);
    let client = p
        .serve_with_lifecycle(transport, rev.lifecycle())
        .await
        .unwrap_or_else(|e| panic!("{name} connects on stdio ({rev:?}): {e}"));
    (client, rx)
}

/// `aios serve` with its MCP HTTP server on a free port; killed when dropped.
pub struct Serve {
    child: Killed,
    pub url: String,
    pub data: PathBuf,
    /// The token serve generated into `<data>/mcp.token` (none when tokens were
    /// configured or `mcp.loopback_without_auth` is on).
    pub token: Option<String>,
}

impl Serve {
    /// Start on `data` with extra environment (e.g. tokens) and wait for the HTTP line.
    pub fn start(cwd: &Path, data: &Path, env: &[(&str, &str)]) -> Serve {
        let mut cmd = aios(cwd, data);
        cmd.env("AIOS_MCP_HTTP_BIND", "127.0.0.1:0");
        for (k, v) in env {
            cmd.env(k, v);
        }
        let (child, url) = start_serve_announcing(&mut cmd, data, "mcp http listening on ");
        let deadline = Instant::now() + Duration::from_secs(10);
        while !data.join("mcp.sock").exists() {
            assert!(Instant::now() < deadline, "no mcp.sock");
            std::thread::sleep(Duration::from_millis(20));
        }
        let token = std::fs::read_to_string(data.join("mcp.token"))
            .ok()
            .map(|t| t.trim().to_string());
        Serve {
            child,
            url,
            data: data.to_path_buf(),
            token,
        }
    }

    /// The generated token, for tests that configure none.
    pub fn token(&self) -> Option<&str> {
        self.token.as_deref()
    }

    /// SIGTERM and wait: an orderly stop, audit log flushed.
    pub fn stop(self) {
        self.child.stop();
    }
}

/// Call a tool; a protocol error fails the test (tool errors come back as results).
pub async fn call(client: &Client, tool: &str, args: Value) -> CallToolResult {
    let Value::Object(args) = args else {
        panic!("arguments are an object")
    };
    client
        .call_tool(CallToolRequestParams::new(tool.to_string()).with_arguments(args))
        .await
        .unwrap_or_else(|e| panic!("{tool}: protocol error {e}"))
}

pub fn text(r: &CallToolResult) -> String {
    r.content
        .iter()
        .filter_map(|c| c.as_text().map(|t| t.text.clone()))
        .collect::<Vec<_>>()
        .join("\n")
}

/// A successful call's JSON.
pub async fn ok(client: &Client, tool: &str, args: Value) -> Value {
    let r = call(client, tool, args.clone()).await;
    assert_ne!(
        r.is_error,
        Some(true),
        "{tool}({args}) failed: {}",
        text(&r)
    );
    serde_json::from_str(&text(&r))
        .unwrap_or_else(|e| panic!("{tool}: not JSON ({e}): {}", text(&r)))
}

/// A failed call's message.
pub async fn err(client: &Client, tool: &str, args: Value) -> String {
    let r = call(client, tool, args.clone()).await;
    assert_eq!(
        r.is_error,
        Some(true),
        "{tool}({args}) should fail: {}",
        text(&r)
    );
    text(&r)
}

/// Read a resource as JSON.
pub async fn read(client: &Client, uri: &str) -> Value {
    let r = client
        .read_resource(ReadResourceRequestParams::new(uri))
        .await
        .unwrap_or_else(|e| panic!("read {uri}: {e}"));
    let Some(ResourceContents::TextResourceContents { text, .. }) = r.contents.first() else {
        panic!("{uri}: no text contents")
    };
    serde_json::from_str(text).unwrap_or_else(|e| panic!("{uri}: not JSON: {e}"))
}

/// Audit actions `exercise_everything` leaves under the client's caller.
pub const AUDITED: [&str; 20] = [
    // An unknown tool, refused before any tool ran.
    "call_tool",
    "list_agents",
    "get_agent",
    "set_goals",
    "add_protocol_hook",
    "append_trace",
    "update_context",
    "get_context",
    "diff_context",
    "remember",
    "recall",
    "dispatch_intent",
    "handoff",
    "tail_audit",
    "list_approvals",
    "decide_approval",
    "get_goals",
    "get_persona_traits",
    "get_protocol_hooks",
    "get_traces",
];

/// List everything, call every tool, read every resource kind, and make bad calls that
/// must come back as tool errors with the session still up. `agent` is used for writes.
pub async fn exercise_everything(client: &Client, agent: &str) {
    // Listings.
    let mut tools: Vec<String> = client
        .list_all_tools()
        .await
        .expect("tools/list")
        .into_iter()
        .map(|t| {
            assert!(
                t.description.as_deref().is_some_and(|d| d.len() > 20),
                "{} needs a description",
                t.name
            );
            assert_eq!(t.input_schema.get("type"), Some(&json!("object")));
            t.name.to_string()
        })
        .collect();
    tools.sort();
    assert_eq!(tools, TOOLS);
    let resources = client.list_all_resources().await.expect("resources/list");
    assert!(resources.iter().any(|r| r.uri == "aios://agents"));
    let templates = client
        .list_all_resource_templates()
        .await
        .expect("resources/templates/list");
    let mut parts: Vec<String> = templates
        .iter()
        .map(|t| {
            t.uri_template
                .strip_prefix("aios://agents/{agent_id}/")
                .expect("agent template")
                .to_string()
        })
        .collect();
    parts.sort();
    assert_eq!(
        parts,
        [
            "behavioral_traces",
            "context",
            "goals",
            "memory_embeddings",
            "persona_traits",
            "protocol_hooks"
        ]
    );
    let prompts = client.list_all_prompts().await.expect("prompts/list");
    assert_eq!(prompts.len(), 30);
    assert!(prompts.iter().any(|p| p.name == agent));

    // Every tool.
    let agents = ok(client, "list_agents", json!({})).await;
    assert_eq!(agents["agents"].as_array().map(Vec::len), Some(30));
    let state = ok(client, "get_agent", json!({"agent_id": agent})).await;
    assert_eq!(state["spec"]["id"], json!(agent));
    let goals = ok(
        client,
        "set_goals",
        json!({"agent_id": agent, "goals": ["Keep uptime above 99.9%", " Patch weekly "]}),
    )
    .await;
    assert_eq!(
        goals["goals"],
        json!(["Keep uptime above 99.9%", "Patch weekly"])
    );
    let hooks = ok(
        client,
        "add_protocol_hook",
        json!({"agent_id": agent, "name": "escalate", "on": "intent.failed", "action": "intent:sec-agent Look into: {error}"}),
    )
    .await;
    assert!(
        hooks["protocol_hooks"]
            .as_array()
            .unwrap()
            .iter()
            .any(|h| h["name"] == "escalate")
    );
    let trace = ok(
        client,
        "append_trace",
        json!({"agent_id": agent, "kind": "review.note", "summary": "checked by MCP"}),
    )
    .await;
    assert!(trace["seq"].is_u64());
    let v1 = ok(
        client,
        "update_context",
        json!({"agent_id": agent, "context": "line one\nline two\n", "summary": "first"}),
    )
    .await["version"]
        .as_u64()
        .unwrap();
    let v2 = ok(
        client,
        "update_context",
        json!({"agent_id": agent, "context": "line one\nline three\n"}),
    )
    .await["version"]
        .as_u64()
        .unwrap();
    assert_eq!(v2, v1 + 1);
    let latest = ok(client, "get_context", json!({"agent_id": agent})).await;
    assert_eq!(latest["context"]["version"], json!(v2));
    assert_eq!(latest["context"]["text"], json!("line one\nline three\n"));
    let old = ok(
        client,
        "get_context",
        json!({"agent_id": agent, "version": v1}),
    )
    .await;
    assert_eq!(old["context"]["text"], json!("line one\nline two\n"));
    let diff = ok(
        client,
        "diff_context",
        json!({"agent_id": agent, "from": v1, "to": v2}),
    )
    .await;
    assert!(diff.to_string().contains("line three"), "{diff}");
    let item = ok(
        client,
        "remember",
        json!({"agent_id": agent, "text": "The VPN gateway lives in rack 7", "tags": ["infra"]}),
    )
    .await;
    assert_eq!(item["kind"], json!("fact"));
    let found = ok(
        client,
        "recall",
        json!({"agent_id": agent, "query": "where is the VPN gateway", "k": 3}),
    )
    .await;
    assert!(found.to_string().contains("rack 7"), "{found}");
    let reply = ok(
        client,
        "dispatch_intent",
        json!({"agent_id": agent, "text": "Check the VPN gateway"}),
    )
    .await;
    assert!(
        reply["reply"].as_str().is_some_and(|r| !r.is_empty()),
        "{reply}"
    );
    assert!(reply["context_version"].as_u64().unwrap() > v2);
    let queued = ok(
        client,
        "dispatch_intent",
        json!({"agent_id": agent, "text": "Later", "wait": false}),
    )
    .await;
    assert_eq!(queued["intent_id"].as_str().map(str::len), Some(36));
    let handed = ok(
        client,
        "handoff",
        json!({"from_agent": agent, "to_agent": "sec-agent", "text": "Review the VPN keys",
               "trace_id": reply["trace_id"], "parent_id": reply["intent_id"]}),
    )
    .await;
    assert_eq!(handed["agent_id"], json!("sec-agent"));
    assert_eq!(handed["trace_id"], reply["trace_id"]);
    let waiting = ok(client, "list_approvals", json!({})).await;
    assert_eq!(
        waiting["approvals"],
        json!([]),
        "nothing waits: sim calls no tools"
    );
    let e = err(
        client,
        "decide_approval",
        json!({"id": "nope", "approve": true}),
    )
    .await;
    assert!(e.contains("no pending approval `nope`"), "{e}");
    let tail = ok(client, "tail_audit", json!({"limit": 5})).await;
    let records = tail["records"].as_array().unwrap();
    assert_eq!(records.len(), 5);
    assert!(records.iter().all(|r| r["caller"].is_string()));

    // Every resource kind.
    let all = read(client, "aios://agents").await;
    assert_eq!(all.as_array().map(Vec::len), Some(30));
    let goals = read(client, &format!("aios://agents/{agent}/goals")).await;
    assert_eq!(goals, json!(["Keep uptime above 99.9%", "Patch weekly"]));
    let traits = read(client, &format!("aios://agents/{agent}/persona_traits")).await;
    assert!(!traits.as_array().unwrap().is_empty());
    let hooks = read(client, &format!("aios://agents/{agent}/protocol_hooks")).await;
    assert_eq!(hooks[0]["name"], json!("escalate"));
    let traces = read(client, &format!("aios://agents/{agent}/behavioral_traces")).await;
    assert!(traces.to_string().contains("checked by MCP"), "{traces}");
    let memory = read(client, &format!("aios://agents/{agent}/memory_embeddings")).await;
    assert!(memory["count"].as_u64().unwrap() >= 1, "{memory}");
    assert!(memory.to_string().contains("rack 7"), "{memory}");
    assert!(
        !memory.to_string().contains("vector"),
        "no raw vectors: {memory}"
    );
    let context = read(client, &format!("aios://agents/{agent}/context")).await;
    assert!(context["version"].as_u64().unwrap() > v2);

    // The prompt carries persona and the goals as stored now.
    let prompt = client
        .get_prompt(GetPromptRequestParams::new(agent))
        .await
        .expect("prompts/get");
    let prompt = serde_json::to_string(&prompt.messages).unwrap();
    assert!(prompt.contains("Keep uptime above 99.9%"), "{prompt}");

    // Bad calls: clear tool errors, and the session lives on.
    let e = err(client, "get_agent", json!({"agent_id": "no-such-agent"})).await;
    assert!(e.contains("unknown agent `no-such-agent`"), "{e}");
    let e = err(client, "get_agent", json!({"agent_id": "sec-agnt"})).await;
    assert!(e.contains("did you mean `sec-agent`"), "{e}");
    let e = err(
        client,
        "diff_context",
        json!({"agent_id": agent, "from": v1, "to": 9999}),
    )
    .await;
    assert!(e.contains("no context version 9999"), "{e}");
    let e = err(
        client,
        "set_goals",
        json!({"agent_id": agent, "goals": "not a list"}),
    )
    .await;
    assert!(
        e.to_lowercase().contains("goals") || e.contains("invalid type"),
        "{e}"
    );
    let e = err(client, "get_context", json!({"agent_id": 42})).await;
    assert!(e.contains("invalid type"), "{e}");
    let e = err(
        client,
        "recall",
        json!({"agent_id": agent, "query": "x", "k": 0}),
    )
    .await;
    assert!(e.contains("k must be between 1 and 100"), "{e}");
    let e = err(
        client,
        "handoff",
        json!({"from_agent": "nobody", "to_agent": "sec-agent", "text": "x"}),
    )
    .await;
    assert!(e.contains("from_agent"), "{e}");
    assert!(
        client
            .read_resource(ReadResourceRequestParams::new("aios://agents/nobody/goals"))
            .await
            .is_err()
    );
    assert!(
        client
            .call_tool(CallToolRequestParams::new("no_such_tool"))
            .await
            .is_err()
    );
    let again = ok(client, "list_agents", json!({})).await;
    assert_eq!(again["agents"].as_array().map(Vec::len), Some(30));
}

/// Wait until the audit log under `data` holds a record of each action by `caller`.
pub fn wait_for_audit(data: &Path, caller: &str, actions: &[&str]) {
    let deadline = Instant::now() + Duration::from_secs(15);
    loop {
        let records = ::aios::audit::read_dir(&data.join("audit"))
            .map(|o| o.records)
            .unwrap_or_default();
        let missing: Vec<&str> = actions
            .iter()
            .copied()
            .filter(|a| !records.iter().any(|r| r.action == *a && r.caller == caller))
            .collect();
        // Arguments of the wrong type never reach the hub, and are audited all the same.
        let refused = !actions.contains(&"call_tool")
            || records.iter().any(|r| {
                r.caller == caller
                    && r.action == "set_goals"
                    && r.error
                        .as_deref()
                        .is_some_and(|e| e.contains("failed to deserialize parameters"))
            });
        if missing.is_empty() && refused {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "no audit record by {caller} of: {missing:?} (refused call audited: {refused})"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// Writes `agent`'s context through `writer` every 200 ms until dropped: a subscription set
/// up just before may not be live at the first change, so a test waits for any of them.
pub struct Churn {
    stop: std::sync::Arc<std::sync::atomic::AtomicBool>,
}

pub fn churn(writer: std::sync::Arc<Client>, agent: &'static str) -> Churn {
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let flag = stop.clone();
    tokio::spawn(async move {
        let mut n = 0u64;
        while !flag.load(std::sync::atomic::Ordering::Relaxed) {
            n += 1;
            ok(
                &writer,
                "update_context",
                json!({"agent_id": agent, "context": format!("draft {n}")}),
            )
            .await;
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    });
    Churn { stop }
}

impl Drop for Churn {
    fn drop(&mut self) {
        self.stop.store(true, std::sync::atomic::Ordering::Relaxed);
    }
}

/// Wait (up to 20 s) until `heard` delivers `uri`.
pub async fn hear(heard: &mut mpsc::UnboundedReceiver<String>, uri: &str) {
    let found = tokio::time::timeout(Duration::from_secs(20), async {
        while let Some(u) = heard.recv().await {
            if u == uri {
                return true;
            }
        }
        false
    })
    .await;
    assert_eq!(found, Ok(true), "never heard resources/updated for {uri}");
}

/// Wait (up to 20 s) until a 2026-07-28 subscription delivers an update of `uri`.
pub async fn hear_on(sub: &mut rmcp::service::Subscription, uri: &str) {
    let found = tokio::time::timeout(Duration::from_secs(20), async {
        loop {
            match sub.next().await {
                Ok(Some(rmcp::model::ServerNotification::ResourceUpdatedNotification(u))) => {
                    if u.params.uri == uri {
                        return true;
                    }
                }
                Ok(Some(_)) => {}
                Ok(None) | Err(_) => return false,
            }
        }
    })
    .await;
    assert_eq!(
        found,
        Ok(true),
        "never heard resources/updated for {uri} on the listen stream"
    );
}
