//! `aios serve`'s Streamable HTTP MCP server against the real binary, with rmcp's client on
//! both protocol revisions: every tool and resource, subscriptions across clients, bearer
//! tokens, Origin checks, unsafe setups refused, and a bounded load test.

// rmcp marks resources/subscribe deprecated because 2026-07-28 replaced it; 2025-11-25
// clients still use it, and these tests check that aios answers them.
#![allow(deprecated)]

#[path = "support/mcp.rs"]
mod mcp_support;
mod support;

use std::sync::Arc;
use std::time::{Duration, Instant};

use mcp_support::{AUDITED, Rev, Serve, connect_http, exercise_everything};
use rmcp::model::{SubscribeRequestParams, SubscriptionFilter};
use serde_json::json;
use support::aios;

const TOKENS: (&str, &str) = ("AIOS_MCP_TOKENS", "tok-alpha,tok-beta");

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn both_revisions_call_every_tool_and_read_every_resource() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    let serve = Serve::start(tmp.path(), &data, &[TOKENS]);
    for (rev, agent) in [(Rev::Legacy, "ops-agent"), (Rev::Modern, "infra-agent")] {
        let name = format!("http-{rev:?}");
        let (client, _) = connect_http(&serve.url, rev, &name, Some("tok-beta")).await;
        exercise_everything(&client, agent).await;
        client.cancel().await.unwrap();
        mcp_support::wait_for_audit(&data, &format!("mcp:{name}"), &AUDITED);
    }
    serve.stop();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn subscribers_hear_changes_made_by_other_clients() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    let serve = Serve::start(tmp.path(), &data, &[]);
    let (writer, _) = connect_http(&serve.url, Rev::Modern, "writer", serve.token()).await;
    let writer = Arc::new(writer);

    // 2025-11-25 over SSE: resources/subscribe on a session.
    let ctx = "aios://agents/campaign-agent/context";
    let goals = "aios://agents/campaign-agent/goals";
    let (legacy, mut heard) =
        connect_http(&serve.url, Rev::Legacy, "sub-legacy", serve.token()).await;
    for uri in [ctx, goals] {
        legacy
            .subscribe(SubscribeRequestParams::new(uri))
            .await
            .expect("resources/subscribe");
    }
    {
        let _churn = mcp_support::churn(writer.clone(), "campaign-agent");
        mcp_support::hear(&mut heard, ctx).await;
    }
    mcp_support::ok(
        &writer,
        "set_goals",
        json!({"agent_id": "campaign-agent", "goals": ["Launch the spring campaign"]}),
    )
    .await;
    mcp_support::hear(&mut heard, goals).await;
    // A subscription to something that does not exist is refused, the session lives on.
    assert!(
        legacy
            .subscribe(SubscribeRequestParams::new("aios://agents/nobody/context"))
            .await
            .is_err()
    );

    // 2026-07-28: subscriptions/listen on a POST stream.
    let (modern, _) = connect_http(&serve.url, Rev::Modern, "sub-modern", serve.token()).await;
    let mut sub = modern
        .listen(
            SubscriptionFilter::builder()
                .resource_subscriptions([ctx, goals])
                .build(),
        )
        .await
        .expect("subscriptions/listen");
    {
        let _churn = mcp_support::churn(writer.clone(), "campaign-agent");
        mcp_support::hear_on(&mut sub, ctx).await;
    }
    let _ = tokio::time::timeout(Duration::from_secs(5), sub.cancel()).await;
    modern.cancel().await.unwrap();
    legacy.cancel().await.unwrap();
    serve.stop();
}

fn initialize() -> serde_json::Value {
    json!({"jsonrpc": "2.0", "id": 1, "method": "initialize", "params": {
        "protocolVersion": "2025-11-25", "capabilities": {},
        "clientInfo": {"name": "raw", "version": "1"}}})
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tokens_and_origins_are_checked() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    let serve = Serve::start(
        tmp.path(),
        &data,
        &[
            TOKENS,
            ("AIOS_MCP_ALLOWED_ORIGINS", "http://localhost:3000"),
        ],
    );
    let http = reqwest::Client::new();
    let post = |token: Option<&str>, origin: Option<&str>| {
        let mut r = http
            .post(&serve.url)
            .header("Accept", "application/json, text/event-stream")
            .header("Content-Type", "application/json")
            .body(initialize().to_string());
        if let Some(t) = token {
            r = r.header("Authorization", format!("Bearer {t}"));
        }
        if let Some(o) = origin {
            r = r.header("Origin", o);
        }
        r.send()
    };

    let none = post(None, None).await.unwrap();
    assert_eq!(none.status(), 401);
    let challenge = none.headers()["www-authenticate"]
        .to_str()
        .unwrap()
        .to_string();
    assert!(challenge.starts_with("Bearer"), "{challenge}");

    let bad = post(Some("tok-gamma"), None).await.unwrap();
    assert_eq!(bad.status(), 401);
    let challenge = bad.headers()["www-authenticate"]
        .to_str()
        .unwrap()
        .to_string();
    assert!(challenge.contains("invalid_token"), "{challenge}");

    let foreign = post(Some("tok-alpha"), Some("http://evil.example"))
        .await
        .unwrap();
    assert_eq!(foreign.status(), 403);
    // Origin is checked before the token: a rebinding page learns nothing about tokens.
    let foreign = post(None, Some("http://evil.example")).await.unwrap();
    assert_eq!(foreign.status(), 403);

    let allowed = post(Some("tok-alpha"), Some("http://localhost:3000"))
        .await
        .unwrap();
    assert_eq!(allowed.status(), 200);
    let plain = post(Some("tok-beta"), None).await.unwrap();
    assert_eq!(plain.status(), 200);
    assert!(plain.headers().contains_key("mcp-session-id"));

    // No OIDC: no protected-resource metadata.
    let meta = http
        .get(
            serve
                .url
                .replace("/mcp", "/.well-known/oauth-protected-resource"),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(meta.status(), 404);
    serve.stop();
}

#[test]
fn unsafe_or_impossible_setups_are_refused_with_one_line() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    let out = aios(tmp.path(), &data)
        .arg("serve")
        .env("AIOS_MCP_HTTP_BIND", "0.0.0.0:0")
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("refusing to serve MCP on 0.0.0.0:0 without authentication"),
        "{err}"
    );
    assert_eq!(err.trim().lines().count(), 1, "{err}");

    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = taken.local_addr().unwrap().to_string();
    let out = aios(tmp.path(), &data)
        .arg("serve")
        .env("AIOS_MCP_HTTP_BIND", &addr)
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains(&format!("cannot serve MCP over HTTP on {addr}")),
        "{err}"
    );
    assert_eq!(err.trim().lines().count(), 1, "{err}");
}

/// 50 concurrent sessions × 200 `get_context` calls, no error. Figures (calls/s, p99)
/// come from `benches/mcp_load.rs`; this only bounds the run.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fifty_sessions_of_two_hundred_calls_all_succeed() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    let serve = Serve::start(tmp.path(), &data, &[TOKENS]);
    let (seed, _) = connect_http(&serve.url, Rev::Legacy, "seed", Some("tok-alpha")).await;
    mcp_support::ok(
        &seed,
        "update_context",
        json!({"agent_id": "support-agent", "context": "ticket queue: 3 open"}),
    )
    .await;
    let started = Instant::now();
    let mut sessions = Vec::new();
    for i in 0..50 {
        let url = serve.url.clone();
        sessions.push(tokio::spawn(async move {
            let (client, _) =
                connect_http(&url, Rev::Legacy, &format!("load-{i}"), Some("tok-alpha")).await;
            let mut failures = 0;
            for _ in 0..200 {
                let r =
                    mcp_support::call(&client, "get_context", json!({"agent_id": "support-agent"}))
                        .await;
                if r.is_error == Some(true) || !mcp_support::text(&r).contains("ticket queue") {
                    failures += 1;
                }
            }
            client.cancel().await.unwrap();
            failures
        }));
    }
    let mut failures = 0;
    for s in sessions {
        failures += s.await.expect("session task");
    }
    assert_eq!(failures, 0, "failed calls");
    eprintln!(
        "load (debug build, not a measurement): 10000 calls in {:?}",
        started.elapsed()
    );
    seed.cancel().await.unwrap();
    serve.stop();
}
