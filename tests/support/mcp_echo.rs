//! A small MCP server (rmcp) for the MCP client tests, spoken to on stdio (as the child
//! process `examples/mcp_echo_server.rs`) or over Streamable HTTP (in-process). It answers
//! both protocol revisions: `notifications/tools/list_changed` goes on the session
//! (2025-11-25) or on a `subscriptions/listen` stream (2026-07-28).
//!
//! Tools: `echo {text}`, `fail` (a tool-level error), `hang` (never answers), `big
//! {bytes}` (a huge text), `grow` (adds the tool `extra` and says the list changed),
//! `pid` (the process id), and `get.weather`, whose name and schema (`type: string`) a
//! model API would refuse as they are.
#![allow(dead_code)]

use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, OnceLock};

use rmcp::model::{
    CallToolRequestParams, CallToolResponse, CallToolResult, ContentBlock, Implementation,
    ListToolsResult, PaginatedRequestParams, ProtocolVersion, ServerCapabilities, ServerConfig,
    SubscriptionFilter, Tool,
};
use rmcp::service::{RequestContext, SubscriptionContext};
use rmcp::{ErrorData, RoleServer, ServerHandler};
use serde_json::{Value, json};
use tokio::sync::broadcast;

/// One server's state, shared by its sessions.
pub struct Shared {
    extra: AtomicBool,
    changed: broadcast::Sender<()>,
}

#[derive(Clone)]
pub struct Echo {
    shared: Arc<Shared>,
}

impl Default for Echo {
    fn default() -> Self {
        Echo {
            shared: Arc::new(Shared {
                extra: AtomicBool::new(false),
                changed: broadcast::channel(16).0,
            }),
        }
    }
}

fn schema(v: Value) -> Arc<serde_json::Map<String, Value>> {
    Arc::new(v.as_object().cloned().unwrap_or_default())
}

fn text(t: impl Into<String>) -> Vec<ContentBlock> {
    vec![ContentBlock::text(t)]
}

impl Echo {
    fn tools(&self) -> Vec<Tool> {
        let mut tools = vec![
            Tool::new(
                "echo",
                "Say the text back.",
                schema(json!({
                    "type": "object",
                    "properties": {"text": {"type": "string"}},
                    "required": ["text"],
                })),
            ),
            Tool::new("fail", "Always fails.", schema(json!({"type": "object"}))),
            Tool::new("hang", "Never answers.", schema(json!({"type": "object"}))),
            Tool::new(
                "big",
                "A text of `bytes` bytes.",
                schema(json!({"type": "object", "properties": {"bytes": {"type": "integer"}}})),
            ),
            Tool::new(
                "grow",
                "Adds the tool `extra`.",
                schema(json!({"type": "object"})),
            ),
            Tool::new("pid", "This server's process id.", schema(json!({}))),
            Tool::new(
                "get.weather",
                "An odd name and an odd schema.",
                schema(json!({"type": "string"})),
            ),
        ];
        if self.shared.extra.load(Ordering::SeqCst) {
            tools.push(Tool::new(
                "extra",
                "Added by grow.",
                schema(json!({"type": "object"})),
            ));
        }
        tools
    }
}

impl ServerHandler for Echo {
    fn get_info(&self) -> ServerConfig {
        ServerConfig::new(
            ServerCapabilities::builder()
                .enable_tools()
                .enable_tool_list_changed()
                .build(),
        )
        .with_server_info(Implementation::new("mcp-echo", "1.0.0"))
    }

    async fn list_tools(
        &self,
        _request: Option<PaginatedRequestParams>,
        _context: RequestContext<RoleServer>,
    ) -> Result<ListToolsResult, ErrorData> {
        Ok(ListToolsResult::with_all_items(self.tools()))
    }

    async fn call_tool(
        &self,
        request: CallToolRequestParams,
        context: RequestContext<RoleServer>,
    ) -> Result<CallToolResponse, ErrorData> {
        let args = request.arguments.clone().unwrap_or_default();
        let result = match request.name.as_ref() {
            "echo" => {
                let t = args.get("text").and_then(Value::as_str).unwrap_or_default();
                let mut r = CallToolResult::success(text(format!("echo: {t}")));
                r.structured_content = Some(json!({ "text": t }));
                r
            }
            "fail" => CallToolResult::error(text("the ticket system is down")),
            "hang" => {
                std::future::pending::<()>().await;
                unreachable!()
            }
            "big" => {
                let n = args.get("bytes").and_then(Value::as_u64).unwrap_or(0) as usize;
                CallToolResult::success(text("x".repeat(n)))
            }
            "grow" => {
                self.shared.extra.store(true, Ordering::SeqCst);
                if context.protocol_version() == Some(ProtocolVersion::V_2026_07_28) {
                    let _ = self.shared.changed.send(());
                } else {
                    let _ = context.peer.notify_tool_list_changed().await;
                }
                CallToolResult::success(text("grown"))
            }
            "pid" => CallToolResult::success(text(std::process::id().to_string())),
            "get.weather" => CallToolResult::success(text("sunny")),
            "extra" if self.shared.extra.load(Ordering::SeqCst) => {
                CallToolResult::success(text("extra"))
            }
            other => {
                return Err(ErrorData::invalid_params(format!("no tool {other}"), None));
            }
        };
        Ok(CallToolResponse::Complete(result))
    }

    fn accepted_subscription_filter(
        &self,
        requested: &SubscriptionFilter,
    ) -> Option<SubscriptionFilter> {
        let mut accepted = SubscriptionFilter::builder();
        if requested.tools_list_changed == Some(true) {
            accepted = accepted.tools_list_changed();
        }
        Some(accepted.build())
    }

    async fn listen(&self, context: SubscriptionContext) -> Result<(), ErrorData> {
        let mut rx = self.shared.changed.subscribe();
        loop {
            tokio::select! {
                () = context.cancelled() => return Ok(()),
                r = rx.recv() => match r {
                    Ok(()) | Err(broadcast::error::RecvError::Lagged(_)) => {
                        if context.sink().notify_tool_list_changed().await.is_err() {
                            return Ok(());
                        }
                    }
                    Err(broadcast::error::RecvError::Closed) => return Ok(()),
                },
            }
        }
    }
}

/// Serve on stdio until the client goes away.
pub async fn serve_stdio() {
    use rmcp::ServiceExt;
    let server = Echo::default()
        .serve(rmcp::transport::stdio())
        .await
        .expect("stdio handshake");
    let _ = server.waiting().await;
}

/// `target/debug/examples/mcp_echo_server`, built once per test run (`cargo test --test
/// mcp_client` does not build examples by itself).
pub fn echo_server_bin() -> PathBuf {
    static BIN: OnceLock<PathBuf> = OnceLock::new();
    BIN.get_or_init(|| {
        let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
        let mut build = std::process::Command::new(cargo);
        build
            .args(["build", "--quiet", "--example", "mcp_echo_server"])
            .current_dir(env!("CARGO_MANIFEST_DIR"));
        // Cargo sets these for the test it runs; some build scripts (ring's) rerun when
        // they differ, which would rebuild half the tree twice per run.
        for (var, _) in std::env::vars_os() {
            let var = var.to_string_lossy();
            let set_for_the_test = var.starts_with("CARGO_PKG_")
                || var.starts_with("CARGO_MANIFEST_")
                || matches!(
                    var.as_ref(),
                    "CARGO_CRATE_NAME"
                        | "CARGO_PRIMARY_PACKAGE"
                        | "CARGO_TARGET_TMPDIR"
                        | "OUT_DIR"
                );
            if set_for_the_test {
                build.env_remove(var.as_ref());
            }
        }
        let status = build.status().expect("cargo runs");
        assert!(status.success(), "the example mcp_echo_server builds");
        let exe = std::env::current_exe().unwrap();
        let debug = exe.parent().and_then(|deps| deps.parent()).unwrap();
        let bin = debug.join("examples").join("mcp_echo_server");
        assert!(bin.exists(), "{} exists", bin.display());
        bin
    })
    .clone()
}
