//! Approvals of a running `aios serve`, from outside: a model (an in-test OpenAI-compatible
//! server) calls an HTTP action (an in-test n8n webhook); the waiting call is listed by
//! `aios approvals` and over MCP (`list_approvals`), approved with edited arguments from the
//! CLI, and the webhook receives exactly those.

#[path = "support/mcp.rs"]
mod mcp_support;
mod support;

use std::process::Output;
use std::time::{Duration, Instant};

use mcp_support::{Rev, Serve, connect_http, err, ok};
use serde_json::json;
use support::http_script::{Action, Reply, ScriptServer};
use support::openai_server::{self, chat_reply, tool_call_reply};

fn text(out: &Output) -> String {
    format!(
        "exit {:?}\nstdout: {}\nstderr: {}",
        out.status.code(),
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

#[tokio::test(flavor = "multi_thread")]
async fn a_waiting_call_is_listed_by_cli_and_mcp_and_approved_with_edited_arguments() {
    let model = openai_server::start().await;
    // First turn: call the action; second: answer.
    let call = tool_call_reply("call_1", "n8n_new_lead", r#"{"email":"ada@example.com"}"#);
    model.route(
        "POST",
        "/v1/chat/completions",
        vec![
            Action::Reply(call),
            Action::Reply(chat_reply(&["Lead ", "sent."])),
        ],
    );
    let n8n = ScriptServer::start().await;
    n8n.reply(
        "POST",
        "/webhook/new-lead",
        Reply::json(200, &json!({"message": "Workflow was started"})),
    );

    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    std::fs::write(
        tmp.path().join("config.toml"),
        format!(
            r#"
[llm]
runner = "openai"
model = "m"

[actions.n8n_new_lead]
description = "Start the n8n lead-intake workflow"
method = "POST"
url = "{}/webhook/new-lead"
args = {{ type = "object", properties = {{ email = {{ type = "string" }} }}, required = ["email"] }}

[agents.sales-agent]
tools = ["n8n", "remember"]
"#,
            n8n.url()
        ),
    )
    .unwrap();
    let openai_url = format!("{}/v1", model.url());
    // The harness pins the sim runner by environment; this test wants the model server.
    let env = [
        ("AIOS_LLM_OPENAI_URL", openai_url.as_str()),
        ("AIOS_LLM_RUNNER", "openai"),
    ];
    let serve = Serve::start(tmp.path(), &data, &env);
    let aios = |args: &[&str]| {
        let mut cmd = support::aios(tmp.path(), &data);
        cmd.envs(env);
        cmd.args(args).output().unwrap()
    };

    let out = aios(&["dispatch", "sales-agent", "a lead came in", "--no-wait"]);
    assert!(out.status.success(), "{}", text(&out));

    // The call waits: listed by the CLI, with the exact request it will send.
    let deadline = Instant::now() + Duration::from_secs(20);
    let listed = loop {
        let out = aios(&["approvals", "--json"]);
        assert!(out.status.success(), "{}", text(&out));
        let v: Vec<serde_json::Value> = serde_json::from_slice(&out.stdout).unwrap();
        if !v.is_empty() {
            break v;
        }
        assert!(Instant::now() < deadline, "no approval was asked");
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    assert_eq!(listed.len(), 1);
    let id = listed[0]["id"].as_str().unwrap().to_string();
    assert_eq!(listed[0]["tool"], "n8n_new_lead");
    let preview = listed[0]["preview"].as_str().unwrap();
    assert!(
        preview.starts_with(&format!("POST {}/webhook/new-lead\n", n8n.url())),
        "{preview}"
    );
    let human = aios(&["approvals"]);
    assert!(
        String::from_utf8_lossy(&human.stdout)
            .contains(&format!("{id}  sales-agent  n8n_new_lead (http)")),
        "{}",
        text(&human)
    );

    // Over MCP too; a denial without a reason is refused.
    let (client, _) = connect_http(&serve.url, Rev::Legacy, "approver", serve.token()).await;
    let v = ok(&client, "list_approvals", json!({})).await;
    assert_eq!(v["approvals"][0]["id"], json!(id));
    let e = err(
        &client,
        "decide_approval",
        json!({"id": id, "approve": false}),
    )
    .await;
    assert!(e.contains("needs a reason"), "{e}");
    client.cancel().await.ok();

    // Approved from the CLI with edited arguments: the webhook gets exactly those.
    let out = aios(&["approve", &id, "--args", r#"{"email": "ada@corp.example"}"#]);
    assert!(out.status.success(), "{}", text(&out));
    assert!(String::from_utf8_lossy(&out.stdout).contains("approved n8n_new_lead"));
    let deadline = Instant::now() + Duration::from_secs(20);
    while n8n.requests_to("/webhook/new-lead").is_empty() {
        assert!(Instant::now() < deadline, "the webhook was never called");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(
        n8n.requests_to("/webhook/new-lead")[0].json(),
        json!({"email": "ada@corp.example"})
    );

    // Decided once only; bad input is a clear error.
    let again = aios(&["approve", &id]);
    assert!(!again.status.success());
    assert!(
        String::from_utf8_lossy(&again.stderr).contains("no pending approval"),
        "{}",
        text(&again)
    );
    let bad = aios(&["approve", "x", "--args", "[1]"]);
    assert!(
        String::from_utf8_lossy(&bad.stderr).contains("JSON object"),
        "{}",
        text(&bad)
    );
    let bad = aios(&["deny", "x", "--reason", " "]);
    assert!(
        String::from_utf8_lossy(&bad.stderr).contains("say why"),
        "{}",
        text(&bad)
    );
    serve.stop();
}
