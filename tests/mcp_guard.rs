//! The HTTP server's guard and bounds against the real binary: the generated token and the
//! loopback opt-out, local browser origins and CORS preflights, malformed bodies, the
//! session bound, text caps, the `tail_audit` byte cap, and `logging/setLevel` and
//! `completion/complete`.

// `logging/setLevel` is deprecated by 2026-07-28 (SEP-2577); 2025-11-25 clients still send it.
#![allow(deprecated)]

#[path = "support/mcp.rs"]
mod mcp_support;
mod support;

use std::os::unix::fs::PermissionsExt;

use mcp_support::{Rev, Serve, connect_http};
use rmcp::model::{
    ArgumentInfo, CompleteRequestParams, LoggingLevel, PromptReference, Reference,
    ResourceTemplateReference, SetLevelRequestParams,
};
use serde_json::{Value, json};
use support::aios;

fn initialize(name: &str) -> String {
    json!({"jsonrpc": "2.0", "id": 1, "method": "initialize", "params": {
        "protocolVersion": "2025-11-25", "capabilities": {},
        "clientInfo": {"name": name, "version": "1"}}})
    .to_string()
}

/// A raw POST to the MCP endpoint.
fn post(
    http: &reqwest::Client,
    url: &str,
    token: Option<&str>,
    origin: Option<&str>,
    session: Option<&str>,
    body: String,
) -> reqwest::RequestBuilder {
    let mut r = http
        .post(url)
        .header("Accept", "application/json, text/event-stream")
        .header("Content-Type", "application/json")
        .body(body);
    if let Some(t) = token {
        r = r.header("Authorization", format!("Bearer {t}"));
    }
    if let Some(o) = origin {
        r = r.header("Origin", o);
    }
    if let Some(s) = session {
        r = r
            .header("Mcp-Session-Id", s)
            .header("MCP-Protocol-Version", "2025-11-25");
    }
    r
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_configured_tokens_the_generated_token_is_required() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    let serve = Serve::start(tmp.path(), &data, &[]);
    let path = data.join("mcp.token");
    let token = serve
        .token()
        .expect("serve generated mcp.token")
        .to_string();
    assert_eq!(token.len(), 64);
    let mode = std::fs::metadata(&path).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode, 0o600, "mcp.token mode {mode:o}");

    let http = reqwest::Client::new();
    let none = post(&http, &serve.url, None, None, None, initialize("x"));
    assert_eq!(none.send().await.unwrap().status(), 401);
    let wrong = post(
        &http,
        &serve.url,
        Some("not-the-token"),
        None,
        None,
        initialize("x"),
    );
    assert_eq!(wrong.send().await.unwrap().status(), 401);
    let right = post(&http, &serve.url, Some(&token), None, None, initialize("x"));
    assert_eq!(right.send().await.unwrap().status(), 200);
    let (client, _) = connect_http(&serve.url, Rev::Modern, "with-token", Some(&token)).await;
    mcp_support::ok(&client, "list_agents", json!({})).await;
    client.cancel().await.unwrap();
    serve.stop();

    // A restart keeps the token, so configured clients keep working.
    let again = Serve::start(tmp.path(), &data, &[]);
    assert_eq!(again.token(), Some(token.as_str()));
    let right = post(&http, &again.url, Some(&token), None, None, initialize("x"));
    assert_eq!(right.send().await.unwrap().status(), 200);
    again.stop();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_loopback_opt_in_serves_without_a_token() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    let serve = Serve::start(
        tmp.path(),
        &data,
        &[("AIOS_MCP_LOOPBACK_WITHOUT_AUTH", "true")],
    );
    assert!(!data.join("mcp.token").exists());
    let http = reqwest::Client::new();
    let plain = post(&http, &serve.url, None, None, None, initialize("open"));
    assert_eq!(plain.send().await.unwrap().status(), 200);
    serve.stop();
    let log = std::fs::read_dir(data.join("logs"))
        .unwrap()
        .filter_map(|e| std::fs::read_to_string(e.unwrap().path()).ok())
        .collect::<String>();
    assert!(
        log.contains("without authentication"),
        "the opt-in is logged"
    );
}

#[test]
fn the_opt_in_on_a_public_bind_is_a_config_error() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    let out = aios(tmp.path(), &data)
        .arg("serve")
        .env("AIOS_MCP_HTTP_BIND", "0.0.0.0:0")
        .env("AIOS_MCP_LOOPBACK_WITHOUT_AUTH", "true")
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("mcp.loopback_without_auth"), "{err}");
    assert!(err.contains("only allowed on a loopback bind"), "{err}");

    let config = "[mcp]\nhttp_bind = \"192.0.2.1:8765\"\nloopback_without_auth = true\n";
    let e = aios::config::parse_str(config, "config.toml", &[]).unwrap_err();
    assert!(e.to_string().contains("loopback_without_auth"), "{e}");
    let ok = "[mcp]\nhttp_bind = \"127.0.0.1:8765\"\nloopback_without_auth = true\n";
    assert!(aios::config::parse_str(ok, "config.toml", &[]).is_ok());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn local_origins_pass_on_loopback_with_cors_and_the_rest_get_403() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    let serve = Serve::start(tmp.path(), &data, &[]);
    let token = serve.token().unwrap().to_string();
    let http = reqwest::Client::new();
    for origin in [
        "http://localhost:6274",
        "http://127.0.0.1:3000",
        "http://[::1]:8080",
    ] {
        let r = post(
            &http,
            &serve.url,
            Some(&token),
            Some(origin),
            None,
            initialize("b"),
        )
        .send()
        .await
        .unwrap();
        assert_eq!(r.status(), 200, "{origin}");
        assert_eq!(r.headers()["access-control-allow-origin"], origin);
        let exposed = r.headers()["access-control-expose-headers"]
            .to_str()
            .unwrap();
        assert!(exposed.contains("mcp-session-id"), "{exposed}");
        // The token still applies to a local page.
        let r = post(&http, &serve.url, None, Some(origin), None, initialize("b"));
        assert_eq!(r.send().await.unwrap().status(), 401, "{origin}");
    }
    for origin in ["http://evil.example", "http://localhost.evil.example:6274"] {
        let r = post(
            &http,
            &serve.url,
            Some(&token),
            Some(origin),
            None,
            initialize("b"),
        );
        assert_eq!(r.send().await.unwrap().status(), 403, "{origin}");
    }

    // A browser's preflight carries no token; an allowed origin gets the CORS answer.
    let preflight = |origin: &str| {
        http.request(reqwest::Method::OPTIONS, &serve.url)
            .header("Origin", origin)
            .header("Access-Control-Request-Method", "POST")
            .header(
                "Access-Control-Request-Headers",
                "authorization, content-type, mcp-session-id",
            )
            .send()
    };
    let r = preflight("http://localhost:6274").await.unwrap();
    assert!(r.status().is_success(), "{}", r.status());
    let h = r.headers();
    assert_eq!(h["access-control-allow-origin"], "http://localhost:6274");
    let methods = h["access-control-allow-methods"].to_str().unwrap();
    assert!(
        methods.contains("POST") && methods.contains("DELETE"),
        "{methods}"
    );
    let allowed = h["access-control-allow-headers"].to_str().unwrap();
    for name in ["authorization", "content-type", "mcp-session-id"] {
        assert!(allowed.contains(name), "{allowed}");
    }
    let r = preflight("http://evil.example").await.unwrap();
    assert_eq!(r.status(), 403);
    serve.stop();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn malformed_bodies_get_400_and_a_json_rpc_error() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    let serve = Serve::start(tmp.path(), &data, &[]);
    let token = serve.token().unwrap().to_string();
    let http = reqwest::Client::new();
    for (body, code) in [
        ("{\"jsonrpc\": \"2.0\", \"id\": 1, \"method\":", -32700),
        ("not json at all", -32700),
        (
            "{\"jsonrpc\": \"2.0\", \"id\": 5, \"nothing\": true}",
            -32600,
        ),
    ] {
        let r = post(&http, &serve.url, Some(&token), None, None, body.into())
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 400, "{body}");
        let answer: Value = r.json().await.unwrap();
        assert_eq!(answer["jsonrpc"], "2.0");
        assert_eq!(answer["error"]["code"], json!(code), "{body}: {answer}");
    }
    // The server lives on.
    let r = post(
        &http,
        &serve.url,
        Some(&token),
        None,
        None,
        initialize("after"),
    );
    assert_eq!(r.send().await.unwrap().status(), 200);
    serve.stop();
}

/// Open a 2025-11-25 session by hand: its id.
async fn open_session(http: &reqwest::Client, serve: &Serve, name: &str) -> reqwest::Response {
    post(
        http,
        &serve.url,
        serve.token(),
        None,
        None,
        initialize(name),
    )
    .send()
    .await
    .unwrap()
}

fn session_id(r: &reqwest::Response) -> String {
    r.headers()["mcp-session-id"].to_str().unwrap().to_string()
}

async fn ping(http: &reqwest::Client, serve: &Serve, session: &str) -> u16 {
    let body = json!({"jsonrpc": "2.0", "id": 2, "method": "ping"}).to_string();
    let r = post(http, &serve.url, serve.token(), None, Some(session), body);
    r.send().await.unwrap().status().as_u16()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sessions_are_bounded_evicting_the_longest_idle_then_refusing() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    let serve = Serve::start(tmp.path(), &data, &[("AIOS_MCP_MAX_SESSIONS", "3")]);
    let http = reqwest::Client::new();
    let mut ids = Vec::new();
    for i in 0..3 {
        let r = open_session(&http, &serve, &format!("s{i}")).await;
        assert_eq!(r.status(), 200);
        ids.push(session_id(&r));
    }
    // s1 and s2 were used after s0: s0 is idle the longest.
    assert_eq!(ping(&http, &serve, &ids[1]).await, 200);
    assert_eq!(ping(&http, &serve, &ids[2]).await, 200);
    let r = open_session(&http, &serve, "s3").await;
    assert_eq!(r.status(), 200);
    ids.push(session_id(&r));
    assert_eq!(ping(&http, &serve, &ids[0]).await, 404, "s0 was evicted");
    for id in &ids[1..] {
        assert_eq!(ping(&http, &serve, id).await, 200);
    }

    // Every session holds an open stream: none is idle, so a new one is refused.
    let mut streams = Vec::new();
    for id in &ids[1..] {
        let mut get = http
            .get(&serve.url)
            .header("Accept", "text/event-stream")
            .header("Mcp-Session-Id", id.as_str())
            .header("MCP-Protocol-Version", "2025-11-25");
        if let Some(t) = serve.token() {
            get = get.header("Authorization", format!("Bearer {t}"));
        }
        let stream = get.send().await.unwrap();
        assert_eq!(stream.status(), 200);
        streams.push(stream);
    }
    let r = open_session(&http, &serve, "s4").await;
    assert_eq!(r.status(), 503);
    assert!(r.headers().contains_key("retry-after"));
    let text = r.text().await.unwrap();
    assert!(text.contains("mcp.max_sessions"), "{text}");

    // A stream ends: its session is idle again, and makes room.
    drop(streams.pop());
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    loop {
        let r = open_session(&http, &serve, "s5").await;
        if r.status() == 200 {
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "no room after a stream ended"
        );
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    drop(streams);
    serve.stop();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn text_fields_are_capped_and_the_refusal_does_not_record_the_text() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    let serve = Serve::start(tmp.path(), &data, &[("AIOS_MCP_MAX_TEXT_BYTES", "1024")]);
    let (client, _) = connect_http(&serve.url, Rev::Legacy, "big", serve.token()).await;
    let big = "x".repeat(4096);
    let e = mcp_support::err(
        &client,
        "remember",
        json!({"agent_id": "ops-agent", "text": big}),
    )
    .await;
    assert!(
        e.contains("`text` holds 4096 bytes of text; the limit is 1024 bytes (mcp.max_text_bytes)"),
        "{e}"
    );
    let e = mcp_support::err(
        &client,
        "append_trace",
        json!({"agent_id": "ops-agent", "kind": "note", "summary": big}),
    )
    .await;
    assert!(e.contains("`summary` holds 4096 bytes"), "{e}");
    let e = mcp_support::err(
        &client,
        "set_goals",
        json!({"agent_id": "ops-agent", "goals": ["a".repeat(600), "b".repeat(600)]}),
    )
    .await;
    assert!(e.contains("`goals` holds 1200 bytes"), "{e}");
    let e = mcp_support::err(
        &client,
        "dispatch_intent",
        json!({"agent_id": "ops-agent", "text": big, "wait": false}),
    )
    .await;
    assert!(e.contains("`text`"), "{e}");
    // Under the limit, the same calls work.
    mcp_support::ok(
        &client,
        "remember",
        json!({"agent_id": "ops-agent", "text": "x".repeat(1000)}),
    )
    .await;
    let memory = mcp_support::ok(&client, "get_agent", json!({"agent_id": "ops-agent"})).await;
    assert_eq!(memory["memory_count"], json!(1));
    client.cancel().await.unwrap();
    serve.stop();
    // Refused calls are audited, without the text.
    let records = aios::audit::read_dir(&data.join("audit")).unwrap().records;
    let refused: Vec<_> = records
        .iter()
        .filter(|r| r.caller == "mcp:big" && r.error.is_some())
        .collect();
    assert_eq!(refused.len(), 4, "{refused:?}");
    for r in refused {
        let input = serde_json::to_string(&r.input).unwrap();
        assert!(
            !input.contains(&"x".repeat(2000)),
            "text recorded: {input:.200}"
        );
        assert!(input.contains("not recorded"), "{input:.300}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tail_audit_caps_the_bytes_it_returns_and_says_so() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    let serve = Serve::start(tmp.path(), &data, &[("AIOS_MCP_MAX_TAIL_BYTES", "8192")]);
    let (client, _) = connect_http(&serve.url, Rev::Legacy, "tail", serve.token()).await;
    for i in 0..30 {
        mcp_support::ok(
            &client,
            "remember",
            json!({"agent_id": "ops-agent", "text": format!("{i:02} {}", "y".repeat(900))}),
        )
        .await;
    }
    let tail = mcp_support::ok(&client, "tail_audit", json!({"limit": 500})).await;
    assert_eq!(tail["truncated"], json!(true), "{tail:.300}");
    assert!(
        tail["note"]
            .as_str()
            .unwrap()
            .contains("mcp.max_tail_bytes")
    );
    let records = tail["records"].as_array().unwrap();
    assert!(!records.is_empty());
    // Records travel twice (text and structured content): together under the cap.
    let bytes: usize = records.iter().map(|r| r.to_string().len()).sum();
    assert!(bytes * 2 <= 8192, "{bytes} bytes of records returned");
    // Newest last: the last remember call is there, the first is cut.
    let text = serde_json::to_string(records).unwrap();
    assert!(text.contains("29 yyy"), "newest kept");
    assert!(!text.contains("00 yyy"), "oldest cut");
    // A small tail is not cut.
    let tail = mcp_support::ok(&client, "tail_audit", json!({"limit": 2})).await;
    assert!(tail.get("truncated").is_none(), "{tail}");
    assert_eq!(tail["records"].as_array().map(Vec::len), Some(2));
    client.cancel().await.unwrap();
    serve.stop();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn set_level_is_accepted_and_completion_names_agents() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    let serve = Serve::start(tmp.path(), &data, &[]);
    for rev in [Rev::Legacy, Rev::Modern] {
        let (client, _) = connect_http(&serve.url, rev, "completer", serve.token()).await;
        let caps = client
            .peer_info()
            .map(|i| i.capabilities.clone())
            .expect("server info");
        assert!(caps.logging.is_some(), "{rev:?}: logging capability");
        assert!(
            caps.completions.is_some(),
            "{rev:?}: completions capability"
        );
        client
            .set_level(SetLevelRequestParams::new(LoggingLevel::Warning))
            .await
            .unwrap_or_else(|e| panic!("{rev:?}: logging/setLevel: {e}"));

        let template = Reference::Resource(ResourceTemplateReference::new(
            "aios://agents/{agent_id}/goals",
        ));
        let c = client
            .complete(CompleteRequestParams::new(
                template,
                ArgumentInfo::new("agent_id", "sec"),
            ))
            .await
            .unwrap_or_else(|e| panic!("{rev:?}: completion/complete: {e}"));
        assert!(
            c.completion.values.contains(&"sec-agent".to_string()),
            "{c:?}"
        );
        assert!(
            c.completion.values.iter().all(|v| v.contains("sec")),
            "{c:?}"
        );

        let prompts = client.list_all_prompts().await.unwrap();
        let arg = prompts[0].arguments.as_ref().and_then(|a| a.first());
        assert_eq!(arg.map(|a| a.name.as_str()), Some("handoff_to"));
        let prompt = Reference::Prompt(PromptReference::new("support-agent"));
        let c = client
            .complete(CompleteRequestParams::new(
                prompt,
                ArgumentInfo::new("handoff_to", "sec"),
            ))
            .await
            .unwrap();
        assert_eq!(
            c.completion.values.first().map(String::as_str),
            Some("sec-agent")
        );
        client.cancel().await.unwrap();
    }
    serve.stop();
}
