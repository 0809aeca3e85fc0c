//! The approval gate, end to end in a runtime: a scripted model calls an HTTP action (an
//! n8n webhook trigger on an in-test server), the call waits with a preview of the exact
//! request, and a person approves, edits, denies, lets it time out or always allows it; a
//! restart never leaves one pending silently; a state tool's preview is its diff.

#[path = "support/mcp_echo.rs"]
mod mcp_echo;
mod support;

use std::sync::Arc;
use std::time::Duration;

use aios::agent::{Runtime, RuntimeOptions};
use aios::approvals::{DecisionInput, PendingApproval, Rule, RuleDecision};
use aios::bus::LocalBus;
use aios::config::{AgentOverride, Config};
use aios::context::Caller;
use aios::event::{AgentStatus, RuntimeEvent};
use serde_json::json;
use support::http_script::{Reply, ScriptServer};
use support::scripted_runner::{ScriptedRunner, call, say, tool_results};

/// An n8n Webhook trigger node ("Respond: Immediately").
fn n8n_action(base: &str) -> aios::actions::ActionConfig {
    toml::from_str(&format!(
        r#"
description = "Start the n8n lead-intake workflow"
method = "POST"
url = "{base}/webhook/new-lead"
args = {{ type = "object", properties = {{ email = {{ type = "string" }}, source = {{ type = "string" }} }}, required = ["email"] }}
"#
    ))
    .unwrap()
}

fn config(dir: &std::path::Path, base: &str) -> Config {
    let mut c = support::config_in(dir);
    c.actions.insert("n8n_new_lead".into(), n8n_action(base));
    c.agents.insert(
        "sales-agent".into(),
        AgentOverride {
            tools: Some(vec!["n8n".into(), "remember".into(), "set_goals".into()]),
            ..AgentOverride::default()
        },
    );
    c
}

/// Calls the action once, then answers with what the tool said.
fn model() -> ScriptedRunner {
    ScriptedRunner::new(|req| match tool_results(req).first() {
        None => vec![call(
            "c1",
            "n8n_new_lead",
            json!({"email": "ada@example.com", "source": "webinar"}),
        )],
        Some(result) => vec![say(&format!("tool said: {result}"))],
    })
}

async fn start(config: Config, runner: ScriptedRunner) -> Runtime {
    Runtime::start(RuntimeOptions {
        bus: Some(Arc::new(LocalBus::new(1024 * 1024))),
        runner: Some(Arc::new(runner)),
        ..support::options(config)
    })
    .await
    .unwrap()
}

/// Dispatch an intent and wait (bounded) for the approval its call asks.
async fn ask(
    rt: &Runtime,
    who: &Caller,
    agent: &str,
    text: &str,
) -> (aios::agent::Ticket, PendingApproval) {
    let mut events = rt.subscribe();
    let ticket = rt.dispatch(who, agent, text, None, None).await.unwrap();
    (ticket, asked(&mut events).await)
}

/// Wait (bounded) for the next approval to be asked.
async fn asked(events: &mut tokio::sync::broadcast::Receiver<RuntimeEvent>) -> PendingApproval {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    loop {
        match tokio::time::timeout_at(deadline, events.recv()).await {
            Ok(Ok(RuntimeEvent::ApprovalAsked { approval })) => return *approval,
            Ok(Ok(_)) => {}
            other => panic!("no approval asked: {other:?}"),
        }
    }
}

fn audited(rt: &Runtime, action: &str) -> Vec<serde_json::Value> {
    let dir = rt.info().data_dir.join("audit");
    let mut out = Vec::new();
    for entry in std::fs::read_dir(dir).unwrap().flatten() {
        if entry.path().extension().is_some_and(|e| e == "jsonl") {
            for line in std::fs::read_to_string(entry.path()).unwrap().lines() {
                let r: serde_json::Value = serde_json::from_str(line).unwrap();
                if r["action"] == action {
                    out.push(r);
                }
            }
        }
    }
    out
}

fn approve(args: Option<serde_json::Value>, always: bool) -> DecisionInput {
    DecisionInput {
        approve: true,
        reason: None,
        arguments: args,
        always,
    }
}

#[tokio::test]
async fn an_approved_action_shows_its_exact_request_then_runs_and_the_agent_finishes() {
    let server = ScriptServer::start().await;
    server.reply(
        "POST",
        "/webhook/new-lead",
        Reply::json(200, &json!({"message": "Workflow was started"})),
    );
    let dir = tempfile::tempdir().unwrap();
    let rt = start(config(dir.path(), &server.url()), model()).await;
    let alice = Caller::operator("alice");
    let (ticket, p) = ask(&rt, &alice, "sales-agent", "a new lead came in").await;
    assert_eq!(p.agent_id, "sales-agent");
    assert_eq!(p.tool, "n8n_new_lead");
    assert_eq!(p.origin, "http");
    let base = server.url();
    let host = base.trim_start_matches("http://");
    assert!(
        p.preview
            .starts_with(&format!("POST {base}/webhook/new-lead\n")),
        "{}",
        p.preview
    );
    assert!(
        p.preview.contains(&format!("Host: {host}")),
        "{}",
        p.preview
    );
    assert!(
        p.preview
            .contains(r#"{"email":"ada@example.com","source":"webinar"}"#),
        "{}",
        p.preview
    );
    assert_eq!(rt.status("sales-agent").0, AgentStatus::Waiting);
    assert!(server.requests().is_empty(), "nothing sent before approval");
    assert_eq!(rt.approvals().unwrap().list(), vec![p.clone()]);

    rt.approvals()
        .unwrap()
        .decide(&alice, &p.id, approve(None, false))
        .unwrap();
    let reply = ticket.outcome.await.unwrap().unwrap();
    assert!(
        reply.reply.contains("Workflow was started"),
        "{}",
        reply.reply
    );
    assert!(reply.reply.contains(r#""status":200"#), "{}", reply.reply);
    let sent = server.requests_to("/webhook/new-lead");
    assert_eq!(sent.len(), 1);
    assert_eq!(
        sent[0].json(),
        json!({"email": "ada@example.com", "source": "webinar"})
    );
    assert!(rt.approvals().unwrap().list().is_empty());

    rt.shutdown().await;
    let asked = audited(&rt, "approval_asked");
    assert_eq!(asked.len(), 1);
    assert_eq!(asked[0]["caller"], "agent:sales-agent");
    let decided = audited(&rt, "approval_decided");
    assert_eq!(decided[0]["caller"], "operator:alice");
    assert_eq!(decided[0]["input"]["approved"], true);
    let ran = audited(&rt, "http_action");
    assert_eq!(ran[0]["input"]["status"], 200);
}

#[tokio::test]
async fn edited_arguments_are_what_runs_and_what_the_model_is_told() {
    let server = ScriptServer::start().await;
    server.reply("POST", "/webhook/new-lead", Reply::json(200, &json!({})));
    let dir = tempfile::tempdir().unwrap();
    let runner = model();
    let requests = runner.requests.clone();
    let rt = start(config(dir.path(), &server.url()), runner).await;
    let alice = Caller::operator("alice");
    let (ticket, p) = ask(&rt, &alice, "sales-agent", "lead").await;
    let edited = json!({"email": "ada@corp.example", "source": "edited"});
    rt.approvals()
        .unwrap()
        .decide(&alice, &p.id, approve(Some(edited.clone()), false))
        .unwrap();
    ticket.outcome.await.unwrap().unwrap();
    assert_eq!(server.requests_to("/webhook/new-lead")[0].json(), edited);
    let last = requests.lock().unwrap().last().unwrap().clone();
    let asked_for = last
        .messages
        .iter()
        .find(|m| !m.tool_calls.is_empty())
        .unwrap();
    assert_eq!(asked_for.tool_calls[0].arguments, edited);
    rt.shutdown().await;
    assert_eq!(
        audited(&rt, "approval_decided")[0]["input"]["edited_arguments"],
        edited
    );
}

#[tokio::test]
async fn a_denial_sends_nothing_and_the_model_reads_who_and_why() {
    let server = ScriptServer::start().await;
    let dir = tempfile::tempdir().unwrap();
    let rt = start(config(dir.path(), &server.url()), model()).await;
    let bob = Caller::operator("bob");
    let (ticket, p) = ask(&rt, &bob, "sales-agent", "lead").await;
    rt.approvals()
        .unwrap()
        .decide(
            &bob,
            &p.id,
            DecisionInput {
                approve: false,
                reason: Some("not a real lead".into()),
                arguments: None,
                always: false,
            },
        )
        .unwrap();
    let reply = ticket.outcome.await.unwrap().unwrap();
    assert!(
        reply
            .reply
            .contains("denied by operator:bob: not a real lead"),
        "{}",
        reply.reply
    );
    assert!(server.requests().is_empty());
    // Deciding twice is an error naming the id, not a panic.
    let again = rt
        .approvals()
        .unwrap()
        .decide(&bob, &p.id, approve(None, false))
        .unwrap_err();
    assert!(
        matches!(&again, aios::approvals::ApprovalError::NotPending(id) if *id == p.id),
        "{again}"
    );
    assert!(again.to_string().contains(&p.id), "{again}");
    rt.shutdown().await;
}

/// On a paused clock: the runtime idles while the approval waits, so the clock jumps to
/// the timeout instead of the test sleeping through it.
#[tokio::test(start_paused = true)]
async fn no_decision_within_the_timeout_is_a_denial() {
    let server = ScriptServer::start().await;
    let dir = tempfile::tempdir().unwrap();
    let mut c = config(dir.path(), &server.url());
    c.approvals.timeout_s = 1;
    let rt = start(c, model()).await;
    let reply = rt
        .dispatch_and_wait(&Caller::operator("alice"), "sales-agent", "lead")
        .await
        .unwrap();
    assert!(
        reply
            .reply
            .contains("denied by timeout: no decision within 1 s"),
        "{}",
        reply.reply
    );
    assert!(server.requests().is_empty());
    assert!(rt.approvals().unwrap().list().is_empty());
    rt.shutdown().await;
    assert_eq!(
        audited(&rt, "approval_decided")[0]["input"]["by"],
        "timeout"
    );
}

#[tokio::test]
async fn always_allow_writes_a_rule_that_outlives_a_restart() {
    let server = ScriptServer::start().await;
    server.reply("POST", "/webhook/new-lead", Reply::json(200, &json!({})));
    let dir = tempfile::tempdir().unwrap();
    let rt = start(config(dir.path(), &server.url()), model()).await;
    let alice = Caller::operator("alice");
    let (ticket, p) = ask(&rt, &alice, "sales-agent", "lead").await;
    rt.approvals()
        .unwrap()
        .decide(&alice, &p.id, approve(None, true))
        .unwrap();
    ticket.outcome.await.unwrap().unwrap();
    rt.shutdown().await;
    assert_eq!(audited(&rt, "approval_decided")[0]["input"]["always"], true);
    drop(rt);

    let rt = start(config(dir.path(), &server.url()), model()).await;
    assert_eq!(
        rt.approvals().unwrap().added_rules(),
        vec![Rule {
            agent: "sales-agent".into(),
            tool: "n8n_new_lead".into(),
            args: Default::default(),
            decision: RuleDecision::Allow,
            reason: None,
        }]
    );
    rt.dispatch_and_wait(&alice, "sales-agent", "another lead")
        .await
        .unwrap();
    assert_eq!(server.requests_to("/webhook/new-lead").len(), 2);
    rt.shutdown().await;
    assert_eq!(audited(&rt, "approval_asked").len(), 1, "asked once only");
}

#[tokio::test]
async fn a_restart_denies_what_was_pending_with_the_reason_restarted() {
    let server = ScriptServer::start().await;
    let dir = tempfile::tempdir().unwrap();
    let rt = start(config(dir.path(), &server.url()), model()).await;
    let (_ticket, p) = ask(&rt, &Caller::operator("alice"), "sales-agent", "lead").await;
    // A crash: the process is gone without withdrawing anything. The file keeps it.
    let file = dir.path().join("approvals.json");
    let kept = std::fs::read(&file).unwrap();
    rt.shutdown().await;
    drop(rt);
    std::fs::write(&file, kept).unwrap();

    let rt = start(config(dir.path(), &server.url()), model()).await;
    assert!(rt.approvals().unwrap().list().is_empty());
    rt.shutdown().await;
    let decided: Vec<_> = audited(&rt, "approval_decided")
        .into_iter()
        .filter(|r| r["input"]["reason"] == "restarted")
        .collect();
    assert_eq!(decided.len(), 1, "{decided:?}");
    assert_eq!(decided[0]["input"]["approval_id"], json!(p.id));
    assert!(server.requests().is_empty());
}

#[tokio::test]
async fn a_state_tool_under_an_ask_rule_previews_its_diff() {
    let dir = tempfile::tempdir().unwrap();
    let mut c = config(dir.path(), "http://127.0.0.1:9");
    c.approvals.rules.push(Rule {
        agent: "sales-agent".into(),
        tool: "set_goals".into(),
        args: Default::default(),
        decision: RuleDecision::Ask,
        reason: None,
    });
    let runner = ScriptedRunner::new(|req| match tool_results(req).first() {
        None => vec![call(
            "g",
            "set_goals",
            json!({"goals": ["close_enterprise_deals", "qualify_leads"]}),
        )],
        Some(r) => vec![say(r)],
    });
    let rt = start(c, runner).await;
    let alice = Caller::operator("alice");
    let before = rt
        .hub()
        .get_agent(&alice, "sales-agent")
        .await
        .unwrap()
        .goals;
    let (ticket, p) = ask(&rt, &alice, "sales-agent", "refocus").await;
    assert_eq!(p.origin, "builtin");
    for old in &before {
        if old != "qualify_leads" {
            assert!(p.preview.contains(&format!("-{old}")), "{}", p.preview);
        }
    }
    assert!(
        p.preview.contains("+close_enterprise_deals"),
        "{}",
        p.preview
    );
    assert_eq!(
        rt.hub()
            .get_agent(&alice, "sales-agent")
            .await
            .unwrap()
            .goals,
        before,
        "the preview changed nothing"
    );
    rt.approvals()
        .unwrap()
        .decide(&alice, &p.id, approve(None, false))
        .unwrap();
    ticket.outcome.await.unwrap().unwrap();
    assert_eq!(
        rt.hub()
            .get_agent(&alice, "sales-agent")
            .await
            .unwrap()
            .goals,
        ["close_enterprise_deals", "qualify_leads"]
    );
    rt.shutdown().await;
}

/// An outside MCP server's tool (the echo server, a child process on stdio): the agent's list
/// names the server, the call asks (MCP tools have effects outside aios), its preview names
/// the server, tool and arguments, and once approved the server's result reaches the model.
#[tokio::test(flavor = "multi_thread")]
async fn an_mcp_servers_tool_is_approved_called_and_its_result_fed_back() {
    let dir = tempfile::tempdir().unwrap();
    let mut c = config(dir.path(), "http://127.0.0.1:9");
    c.mcp_servers.insert(
        "helpdesk".into(),
        toml::from_str(&format!(
            "command = {:?}",
            mcp_echo::echo_server_bin().display().to_string()
        ))
        .unwrap(),
    );
    c.agents.get_mut("sales-agent").unwrap().tools = Some(vec!["helpdesk".into()]);
    let runner = ScriptedRunner::new(|req| match tool_results(req).first() {
        None => vec![call("m1", "helpdesk__echo", json!({"text": "ticket 42"}))],
        Some(r) => vec![say(&format!("the helpdesk said {r}"))],
    });
    let rt = start(c, runner).await;
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    while rt.registry().get("helpdesk__echo").is_none() {
        assert!(
            tokio::time::Instant::now() < deadline,
            "the server's tools never appeared"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let alice = Caller::operator("alice");
    let (ticket, p) = ask(&rt, &alice, "sales-agent", "open a ticket").await;
    assert_eq!(p.origin, "mcp");
    assert!(
        p.preview
            .starts_with("MCP server: helpdesk\ntool: echo\narguments:"),
        "{}",
        p.preview
    );
    assert!(p.preview.contains("\"ticket 42\""), "{}", p.preview);
    rt.approvals()
        .unwrap()
        .decide(&alice, &p.id, approve(None, false))
        .unwrap();
    let reply = ticket.outcome.await.unwrap().unwrap();
    assert!(reply.reply.contains("echo: ticket 42"), "{}", reply.reply);
    rt.shutdown().await;
    let called = audited(&rt, "mcp_tool");
    assert_eq!(called.len(), 1);
    assert_eq!(called[0]["input"]["server"], "helpdesk");
    assert_eq!(called[0]["input"]["tool"], "echo");
}

/// An attached TUI elsewhere (a watcher runtime on the same bus) sees the call wait, with
/// its preview, and its decision is applied by the node that holds it, on record as the
/// watcher's operator at the watcher's node.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_watcher_elsewhere_sees_the_waiting_call_and_decides_it_through_the_bus() {
    let server = ScriptServer::start().await;
    server.reply("POST", "/webhook/new-lead", Reply::json(200, &json!({})));
    let bus = Arc::new(LocalBus::new(1024 * 1024));
    let (a, b) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let mut owner_config = config(a.path(), &server.url());
    owner_config.runtime.node = "edge-1".into();
    let owner = Runtime::start(RuntimeOptions {
        bus: Some(bus.clone()),
        runner: Some(Arc::new(model())),
        ..support::options(owner_config)
    })
    .await
    .unwrap();
    let mut watcher_config = config(b.path(), &server.url());
    watcher_config.runtime.node = "laptop".into();
    let watcher = Runtime::start(RuntimeOptions {
        bus: Some(bus.clone()),
        watch_only: true,
        ..support::options(watcher_config)
    })
    .await
    .unwrap();
    assert!(
        watcher.approvals().is_none(),
        "a watcher keeps no approvals"
    );
    let mut seen = watcher.subscribe();
    let ticket = owner
        .dispatch(
            &Caller::operator("alice"),
            "sales-agent",
            "lead",
            None,
            None,
        )
        .await
        .unwrap();
    let p = asked(&mut seen).await;
    assert!(p.preview.contains("/webhook/new-lead"), "{}", p.preview);
    assert_eq!(p.node, "edge-1");

    let said = watcher
        .request_decision(&Caller::operator("carol"), &p.id, approve(None, false))
        .await
        .unwrap();
    assert!(said.contains("sent"), "{said}");
    let reply = ticket.outcome.await.unwrap().unwrap();
    assert!(reply.reply.contains(r#""status":200"#), "{}", reply.reply);
    assert_eq!(server.requests_to("/webhook/new-lead").len(), 1);
    watcher.shutdown().await;
    owner.shutdown().await;
    let decided = audited(&owner, "approval_decided");
    assert_eq!(decided[0]["caller"], "operator:carol@laptop");
}
