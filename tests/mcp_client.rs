//! Tools from outside MCP servers: a real rmcp server (`tests/support/mcp_echo.rs`) as a
//! child process on stdio and in-process over Streamable HTTP, in both protocol revisions.
//! Its tools appear namespaced in the registry, calls return its results, a killed server
//! is restarted (calls fail clearly meanwhile), `tools/list_changed` re-lists, the token
//! goes as a bearer header and never into a status, a hanging call times out, and a bad
//! config is refused at load.

#[path = "support/mcp_echo.rs"]
mod mcp_echo;

use mcp_echo::echo_server_bin;

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use aios::agent::registry::Registry;
use aios::agent::turn::Origin;
use aios::mcp_client::{Env, McpServerConfig, McpServers, Phase, ServerStatus, ToolCallError};
use axum::extract::{Request, State};
use axum::http::StatusCode;
use axum::middleware::{Next, from_fn_with_state};
use axum::response::{IntoResponse, Response};
use rmcp::transport::streamable_http_server::session::local::LocalSessionManager;
use rmcp::transport::streamable_http_server::{StreamableHttpServerConfig, StreamableHttpService};
use serde_json::{Value, json};
use tokio_util::sync::CancellationToken;

const TOKEN: &str = "s3cret-echo-token";

/// aios's environment as the servers see it: the test's own, plus the token.
fn env_with(vars: &[(&str, &str)]) -> Env {
    let vars: BTreeMap<String, String> = vars
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    Arc::new(move |var: &str| vars.get(var).cloned().or_else(|| std::env::var(var).ok()))
}

fn server(toml_text: &str) -> McpServerConfig {
    toml::from_str(toml_text).unwrap_or_else(|e| panic!("{toml_text}: {e}"))
}

fn stdio(protocol: &str) -> McpServerConfig {
    server(&format!(
        "command = {:?}\nprotocol = \"{protocol}\"\ntimeout_ms = 20000\n",
        echo_server_bin().display().to_string()
    ))
}

fn status_of(servers: &McpServers, name: &str) -> ServerStatus {
    servers
        .status()
        .into_iter()
        .find(|s| s.name == name)
        .unwrap_or_else(|| panic!("no status for {name}"))
}

/// Wait (up to 60 s: a loaded machine) until `check` holds.
async fn until(what: &str, mut check: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(60);
    while !check() {
        assert!(Instant::now() < deadline, "never: {what}");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

async fn ready(servers: &McpServers, name: &str) -> ServerStatus {
    until(&format!("{name} ready"), || {
        status_of(servers, name).state == Phase::Ready
    })
    .await;
    status_of(servers, name)
}

fn text_of(result: &Value) -> &str {
    result["content"][0]["text"].as_str().unwrap_or_default()
}

/// The checks both transports share: tools namespaced with the server's schemas, calls
/// and their results, odd names mapped back, a tool error as a result, a huge result
/// capped, bad arguments refused, `tools/list_changed` re-listed.
async fn exercise(servers: &McpServers, registry: &Registry, name: &str) {
    let listed = registry.resolve(&[name.to_string()]);
    let mut names: Vec<String> = listed.tools.iter().map(|t| t.name.clone()).collect();
    names.sort();
    let expected: Vec<String> = ["big", "echo", "fail", "get_weather", "grow", "hang", "pid"]
        .iter()
        .map(|t| format!("{name}__{t}"))
        .collect();
    assert_eq!(names, expected);
    let echo = registry.get(&format!("{name}__echo")).unwrap();
    assert_eq!(echo.origin, Origin::Mcp);
    assert_eq!(echo.source, format!("mcp:{name}"));
    assert_eq!(echo.description, "Say the text back.");
    assert_eq!(echo.parameters["required"], json!(["text"]));
    // No schema gets `type: object`; a `type: string` one is replaced.
    let pid = registry.get(&format!("{name}__pid")).unwrap();
    assert_eq!(pid.parameters, json!({"type": "object"}));
    let weather = registry.get(&format!("{name}__get_weather")).unwrap();
    assert_eq!(weather.parameters, json!({"type": "object"}));
    assert_eq!(status_of(servers, name).tools, 7);

    let r = servers
        .call(&format!("{name}__echo"), json!({"text": "hello"}))
        .await
        .unwrap();
    assert_eq!(
        r,
        json!({
            "content": [{"type": "text", "text": "echo: hello"}],
            "isError": false,
            "structuredContent": {"text": "hello"},
        })
    );
    let weather = format!("{name}__get_weather");
    assert_eq!(
        servers.describe(&weather),
        Some((name.to_string(), "get.weather".to_string()))
    );
    let r = servers.call(&weather, Value::Null).await.unwrap();
    assert_eq!(text_of(&r), "sunny");
    let r = servers
        .call(&format!("{name}__fail"), json!({}))
        .await
        .unwrap();
    assert_eq!(r["isError"], true);
    assert_eq!(text_of(&r), "the ticket system is down");
    let r = servers
        .call(&format!("{name}__big"), json!({"bytes": 300_000}))
        .await
        .unwrap();
    assert!(serde_json::to_string(&r).unwrap().len() <= aios::mcp_client::MAX_RESULT_BYTES);
    assert!(text_of(&r).ends_with("[… truncated]"));
    assert!(r["truncated"].as_str().unwrap().contains("300"));
    let e = servers
        .call(&format!("{name}__echo"), json!("hello"))
        .await
        .unwrap_err();
    assert!(
        e.to_string()
            .contains("must be a JSON object, got a string"),
        "{e}"
    );
    let e = servers
        .call(&format!("{name}__nope"), json!({}))
        .await
        .unwrap_err();
    assert_eq!(e, ToolCallError::NoSuchTool(format!("{name}__nope")));
    assert_eq!(
        e.to_string(),
        format!("no MCP server has a tool {name}__nope")
    );
    assert_eq!(servers.describe(&format!("{name}__nope")), None);

    // The server adds a tool and says so: it is re-listed.
    assert!(registry.get(&format!("{name}__extra")).is_none());
    servers
        .call(&format!("{name}__grow"), json!({}))
        .await
        .unwrap();
    until("the grown tool listed", || {
        registry.get(&format!("{name}__extra")).is_some()
    })
    .await;
    let r = servers
        .call(&format!("{name}__extra"), json!({}))
        .await
        .unwrap();
    assert_eq!(text_of(&r), "extra");
    assert_eq!(status_of(servers, name).tools, 8);
}

/// After `cancel`, every server is stopped, its tools gone, a child process reaped.
async fn shut_down(servers: &McpServers, registry: &Registry, cancel: &CancellationToken) {
    cancel.cancel();
    tokio::time::timeout(Duration::from_secs(60), servers.stopped())
        .await
        .expect("servers stop");
    assert!(
        registry.all().iter().all(|t| t.origin != Origin::Mcp),
        "MCP tools left after shutdown"
    );
}

/// Neither running nor a zombie: `/proc/<pid>` is gone once the child is reaped.
fn gone(pid: u32) -> bool {
    !std::path::Path::new(&format!("/proc/{pid}")).exists()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stdio_server_is_listed_called_restarted_and_reaped() {
    let registry = Arc::new(Registry::builtin());
    let cancel = CancellationToken::new();
    let mut config = BTreeMap::new();
    config.insert("helpdesk".to_string(), stdio("2025-11-25"));
    let servers = McpServers::start(&config, registry.clone(), cancel.clone());
    let status = ready(&servers, "helpdesk").await;
    assert_eq!(status.transport, "stdio");
    assert_eq!(status.protocol, "2025-11-25");
    assert_eq!(status.restarts, 0);
    exercise(&servers, &registry, "helpdesk").await;

    // The pid the status names is the server's own.
    let pid = status.pid.expect("a stdio server has a pid");
    let r = servers.call("helpdesk__pid", json!({})).await.unwrap();
    assert_eq!(text_of(&r), pid.to_string());

    // Killed: its tools leave the registry, calls say why and when, then it is back.
    let killed = std::process::Command::new("kill")
        .args(["-9", &pid.to_string()])
        .status()
        .unwrap();
    assert!(killed.success());
    let mut seen: Option<String> = None;
    let mut removed = false;
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        removed |= registry.get("helpdesk__echo").is_none();
        match servers.call("helpdesk__echo", json!({"text": "x"})).await {
            Err(e) if e.to_string().contains("is restarting") => seen = Some(e.to_string()),
            Ok(_) if seen.is_some() => break,
            _ => {}
        }
        assert!(Instant::now() < deadline, "never restarted");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let e = seen.unwrap();
    assert!(
        e.starts_with("MCP server helpdesk is restarting (last error: ")
            && (e.contains("), next attempt in ") || e.ends_with("), reconnecting now")),
        "{e}"
    );
    assert!(removed, "the tools were never removed while it was down");
    let status = ready(&servers, "helpdesk").await;
    assert_eq!(status.restarts, 1);
    let new_pid = status.pid.unwrap();
    assert_ne!(new_pid, pid);
    assert!(registry.get("helpdesk__echo").is_some());
    until("the killed child reaped", || gone(pid)).await;

    shut_down(&servers, &registry, &cancel).await;
    assert!(gone(new_pid), "the child {new_pid} outlived the shutdown");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stdio_server_speaks_2026_07_28_too() {
    let registry = Arc::new(Registry::builtin());
    let cancel = CancellationToken::new();
    let mut config = BTreeMap::new();
    config.insert("desk".to_string(), stdio("2026-07-28"));
    let servers = McpServers::start(&config, registry.clone(), cancel.clone());
    let status = ready(&servers, "desk").await;
    assert_eq!(status.protocol, "2026-07-28");
    exercise(&servers, &registry, "desk").await;
    shut_down(&servers, &registry, &cancel).await;
    assert!(gone(status.pid.unwrap()));
}

/// An in-process Streamable HTTP server that wants `Authorization: Bearer TOKEN` and
/// records every Authorization header it is sent.
async fn http_server(cancel: CancellationToken) -> (String, Arc<Mutex<Vec<String>>>) {
    let echo = mcp_echo::Echo::default();
    let service: StreamableHttpService<mcp_echo::Echo, LocalSessionManager> =
        StreamableHttpService::new(
            move || Ok(echo.clone()),
            Arc::new(LocalSessionManager::default()),
            StreamableHttpServerConfig::default().with_cancellation_token(cancel.child_token()),
        );
    let seen: Arc<Mutex<Vec<String>>> = Arc::default();
    async fn check(
        State(seen): State<Arc<Mutex<Vec<String>>>>,
        request: Request,
        next: Next,
    ) -> Response {
        let auth = request
            .headers()
            .get("authorization")
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_string();
        seen.lock().unwrap().push(auth.clone());
        if auth != format!("Bearer {TOKEN}") {
            return (StatusCode::UNAUTHORIZED, "bad token").into_response();
        }
        next.run(request).await
    }
    let router = axum::Router::new()
        .nest_service("/mcp", service)
        .layer(from_fn_with_state(seen.clone(), check));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/mcp", listener.local_addr().unwrap());
    tokio::spawn(async move {
        axum::serve(listener, router)
            .with_graceful_shutdown(cancel.cancelled_owned())
            .await
            .unwrap();
    });
    (url, seen)
}

fn http(url: &str, protocol: &str, token_var: &str, timeout_ms: u32) -> McpServerConfig {
    server(&format!(
        "url = {url:?}\ntoken = \"env:{token_var}\"\nprotocol = \"{protocol}\"\n\
         timeout_ms = {timeout_ms}\n"
    ))
}

async fn http_case(protocol: &str) {
    let http_cancel = CancellationToken::new();
    let (url, seen) = http_server(http_cancel.clone()).await;
    let registry = Arc::new(Registry::builtin());
    let cancel = CancellationToken::new();
    let mut config = BTreeMap::new();
    config.insert("crm".to_string(), http(&url, protocol, "CRM_TOKEN", 20_000));
    config.insert("quick".to_string(), http(&url, protocol, "CRM_TOKEN", 300));
    config.insert(
        "wrong".to_string(),
        http(&url, protocol, "WRONG_TOKEN", 20_000),
    );
    config.insert(
        "unset".to_string(),
        http(&url, protocol, "NO_SUCH_TOKEN", 20_000),
    );
    let mut off = http(&url, protocol, "CRM_TOKEN", 20_000);
    off.enabled = false;
    config.insert("off".to_string(), off);
    let env = env_with(&[("CRM_TOKEN", TOKEN), ("WRONG_TOKEN", "not-the-token")]);
    let servers = McpServers::start_with_env(&config, registry.clone(), cancel.clone(), env);

    let status = ready(&servers, "crm").await;
    assert_eq!(status.transport, "http");
    assert_eq!(status.pid, None);
    exercise(&servers, &registry, "crm").await;

    // The token went as a bearer header on every request of the good servers.
    assert!(
        seen.lock()
            .unwrap()
            .iter()
            .any(|h| h == &format!("Bearer {TOKEN}"))
    );

    // A tool that never answers: a clear error after `timeout_ms`.
    ready(&servers, "quick").await;
    let e = servers.call("quick__hang", json!({})).await.unwrap_err();
    assert!(matches!(e, ToolCallError::Timeout { ms: 300, .. }), "{e}");
    assert_eq!(
        e.to_string(),
        "MCP server quick: tool hang did not answer within 300 ms"
    );
    // The connection lives on.
    let r = servers
        .call("quick__echo", json!({"text": "still here"}))
        .await
        .unwrap();
    assert_eq!(text_of(&r), "echo: still here");

    // A refused token: restarting with the reason, calls told so, the token never shown.
    until("the wrong token refused", || {
        let s = status_of(&servers, "wrong");
        s.state == Phase::Restarting && s.last_error.is_some()
    })
    .await;
    let e = servers
        .call("wrong__echo", json!({}))
        .await
        .unwrap_err()
        .to_string();
    assert!(e.starts_with("MCP server wrong is "), "{e}");
    // A secret that is not set: failed, not retried, named by its variable.
    until("the unset token failed", || {
        status_of(&servers, "unset").state == Phase::Failed
    })
    .await;
    let unset = status_of(&servers, "unset");
    assert_eq!(
        unset.last_error.as_deref(),
        Some("token: the environment variable NO_SUCH_TOKEN is not set in aios's environment")
    );
    let e = servers
        .call("unset__echo", json!({}))
        .await
        .unwrap_err()
        .to_string();
    assert!(e.starts_with("MCP server unset failed: token: "), "{e}");
    // A disabled server is not started.
    assert!(servers.status().iter().all(|s| s.name != "off"));

    let shown = serde_json::to_string(&servers.status()).unwrap();
    assert!(
        !shown.contains(TOKEN) && !shown.contains("not-the-token"),
        "{shown}"
    );
    assert!(!format!("{config:?}").contains(TOKEN));

    shut_down(&servers, &registry, &cancel).await;
    http_cancel.cancel();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_http_server_speaking_2026_07_28_with_a_token() {
    http_case("2026-07-28").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_http_server_speaking_2025_11_25_with_a_token() {
    http_case("2025-11-25").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_command_that_does_not_start_is_retried_and_calls_say_so() {
    let registry = Arc::new(Registry::builtin());
    let cancel = CancellationToken::new();
    let mut config = BTreeMap::new();
    config.insert(
        "ghost".to_string(),
        server("command = \"/nonexistent/mcp-server\"\n"),
    );
    // Built in code, past the config checks: refused all the same, never started.
    config.insert("a__b".to_string(), server("command = \"x\"\n"));
    let servers = McpServers::start(&config, registry.clone(), cancel.clone());
    until("the bad name refused", || {
        status_of(&servers, "a__b").state == Phase::Failed
    })
    .await;
    assert!(
        status_of(&servers, "a__b")
            .last_error
            .is_some_and(|e| e.contains("holds `__`"))
    );
    until("a failed start seen", || {
        let s = status_of(&servers, "ghost");
        s.state == Phase::Restarting && s.next_attempt_s.is_some()
    })
    .await;
    let s = status_of(&servers, "ghost");
    assert!(
        s.last_error
            .as_deref()
            .is_some_and(|e| e.starts_with("`/nonexistent/mcp-server` did not start: ")),
        "{s:?}"
    );
    let e = servers
        .call("ghost__anything", json!({}))
        .await
        .unwrap_err()
        .to_string();
    assert!(
        e.starts_with(
            "MCP server ghost is restarting (last error: `/nonexistent/mcp-server` did not start: "
        ),
        "{e}"
    );
    shut_down(&servers, &registry, &cancel).await;
}

#[test]
fn bad_mcp_server_configs_are_refused_at_load() {
    for (text, key, expected) in [
        (
            "[mcp_servers.help__desk]\ncommand = \"x\"\n",
            "mcp_servers.help__desk",
            "holds `__`",
        ),
        (
            "[mcp_servers.\"help desk\"]\ncommand = \"x\"\n",
            "mcp_servers.help desk",
            "not a server name",
        ),
        (
            "[mcp_servers.crm]\nurl = \"ftp://crm.lan/mcp\"\n",
            "mcp_servers.crm.url",
            "not an http(s) URL",
        ),
        (
            "[mcp_servers.crm]\nurl = \"http://crm.lan/mcp\"\ncommand = \"x\"\n",
            "mcp_servers.crm",
            "both `command` and `url`",
        ),
        (
            "[mcp_servers.crm]\nurl = \"http://crm.lan/mcp\"\ntimeout_ms = 10\n",
            "mcp_servers.crm.timeout_ms",
            "between 100",
        ),
    ] {
        let err = aios::config::parse_str(text, "config.toml", &[])
            .unwrap_err()
            .to_string();
        assert!(err.contains(&format!("key {key}")), "{text}: {err}");
        assert!(err.contains(expected), "{text}: {err}");
    }
    // A closed model API is refused by the open-models policy, as every URL key is.
    let err = aios::config::parse_str(
        "[mcp_servers.crm]\nurl = \"https://api.openai.com/mcp\"\n",
        "config.toml",
        &[],
    )
    .unwrap_err()
    .to_string();
    assert!(err.contains("mcp_servers.crm.url = "), "{err}");
    assert!(err.contains("closed hosted API (OpenAI)"), "{err}");
    // A secret pasted in place of a reference is refused and not repeated.
    let err = aios::config::parse_str(
        "[mcp_servers.crm]\nurl = \"http://crm.lan/mcp\"\ntoken = \"sk-live-abc\"\n",
        "config.toml",
        &[],
    )
    .unwrap_err()
    .to_string();
    assert!(err.contains("env:VAR_NAME"), "{err}");
    assert!(!err.contains("sk-live-abc"), "{err}");
    // A good one loads.
    let config = aios::config::parse_str(
        "[mcp_servers.helpdesk]\ncommand = \"helpdesk-mcp\"\nargs = [\"--stdio\"]\n\
         env = { HELPDESK_TOKEN = \"env:HELPDESK_TOKEN\" }\n",
        "config.toml",
        &[],
    )
    .unwrap();
    assert_eq!(config.mcp_servers["helpdesk"].args, ["--stdio"]);
}

#[test]
fn the_commented_examples_in_config_toml_load() {
    let start = aios::config::DEFAULT_CONFIG_TOML
        .find("# [mcp_servers.helpdesk]")
        .expect("a commented stdio example");
    let text: String = aios::config::DEFAULT_CONFIG_TOML[start..]
        .lines()
        .map_while(|l| l.strip_prefix('#'))
        .map(|l| format!("{}\n", l.strip_prefix(' ').unwrap_or(l)))
        .collect();
    let config = aios::config::parse_str(&text, "config.toml", &[])
        .unwrap_or_else(|e| panic!("{text}\n{e}"));
    let helpdesk = &config.mcp_servers["helpdesk"];
    assert!(helpdesk.command.is_some());
    let crm = &config.mcp_servers["crm"];
    assert!(crm.url.is_some() && crm.token.is_some());
}

/// A real server: `AIOS_TEST_MCP_SERVER_URL` (and `AIOS_TEST_MCP_SERVER_TOKEN` if it
/// wants one) over Streamable HTTP, 2025-11-25 unless `AIOS_TEST_MCP_SERVER_PROTOCOL`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn live_mcp_server() {
    let Ok(url) = std::env::var("AIOS_TEST_MCP_SERVER_URL") else {
        eprintln!("skipped: set AIOS_TEST_MCP_SERVER_URL to list and call a real MCP server");
        return;
    };
    let protocol =
        std::env::var("AIOS_TEST_MCP_SERVER_PROTOCOL").unwrap_or_else(|_| "2025-11-25".into());
    let mut text = format!("url = {url:?}\nprotocol = \"{protocol}\"\n");
    if std::env::var("AIOS_TEST_MCP_SERVER_TOKEN").is_ok() {
        text.push_str("token = \"env:AIOS_TEST_MCP_SERVER_TOKEN\"\n");
    }
    let registry = Arc::new(Registry::builtin());
    let cancel = CancellationToken::new();
    let mut config = BTreeMap::new();
    config.insert("live".to_string(), server(&text));
    let servers = McpServers::start(&config, registry.clone(), cancel.clone());
    let status = ready(&servers, "live").await;
    assert!(
        status.tools > 0,
        "the live server lists no tools: {status:?}"
    );
    let listed = registry.resolve(&["live".to_string()]);
    for tool in &listed.tools {
        assert!(tool.name.starts_with("live__") && tool.name.len() <= 64);
        assert_eq!(tool.parameters["type"], "object");
        assert!(servers.describe(&tool.name).is_some());
    }
    shut_down(&servers, &registry, &cancel).await;
}
