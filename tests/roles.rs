//! Roles end to end (issue 17): viewer < operator < admin, granted by OIDC tokens shaped as
//! Keycloak (realm and client roles) and Authentik (groups) send them, from an in-test
//! JWKS issuer, and by static tokens (`[mcp.role_tokens]`; `mcp.tokens` are admin). Each
//! role is allowed and refused a read, a dispatch, an approval and a goal change, over MCP
//! and the HTTP API of a served runtime; a refusal names the role needed and the caller's,
//! and is audited with the caller and its subject. A token that grants no aios role is
//! refused. A lowered runtime handle (what `aios tui --read-only` calls through) is a
//! viewer whatever it is asked.

#[path = "support/oidc/issuer.rs"]
mod issuer;
#[path = "support/mcp.rs"]
mod mcp_support;
mod support;

use std::collections::BTreeSet;
use std::sync::Arc;
use std::time::Duration;

use aios::agent::{Runtime, RuntimeOptions};
use aios::approvals::{DecisionInput, PendingApproval, Rule, RuleDecision};
use aios::audit::AuditRecord;
use aios::bus::LocalBus;
use aios::config::{AgentOverride, Config};
use aios::context::Caller;
use aios::event::RuntimeEvent;
use aios::mcp::{OwnerServers, TOOL_ROLES};
use aios::roles::Role;
use mcp_support::{Client, Rev, Serve, connect_http};
use rmcp::model::CallToolRequestParams;
use serde_json::{Value, json};
use support::scripted_runner::{ScriptedRunner, agent_of, call, say, tool_results};

const AUDIENCE: &str = "aios";
/// The User-Agent of this test's plain HTTP requests: `http:<this>:<subject>` on record.
const UA: &str = "roles-test/1.0";

/// sales-agent sets its goals (a call that waits for approval, by the rule below) and then
/// answers; every other agent answers at once.
fn model() -> ScriptedRunner {
    ScriptedRunner::new(|req| {
        if agent_of(req) == "sales-agent" && tool_results(req).is_empty() {
            vec![call(
                "c1",
                "set_goals",
                json!({"goals": ["Follow up every lead within a day"]}),
            )]
        } else {
            vec![say("done")]
        }
    })
}

fn config(dir: &std::path::Path, issuer: &str) -> Config {
    let mut c = support::config_in(dir);
    c.mcp.oidc_issuer = issuer.to_string();
    c.mcp.oidc_audience = AUDIENCE.into();
    c.mcp.role_tokens.viewer = vec!["static-viewer-token".into()];
    c.agents.insert(
        "sales-agent".into(),
        AgentOverride {
            tools: Some(vec!["set_goals".into()]),
            ..AgentOverride::default()
        },
    );
    c.approvals.rules.push(Rule {
        agent: "sales-agent".into(),
        tool: "set_goals".into(),
        args: Default::default(),
        decision: RuleDecision::Ask,
        reason: None,
    });
    c
}

/// A runtime with the scripted model, serving MCP and the API over HTTP on a free port.
async fn serve(config: Config) -> (Runtime, OwnerServers, String) {
    let rt = Runtime::start(RuntimeOptions {
        bus: Some(Arc::new(LocalBus::new(1024 * 1024))),
        runner: Some(Arc::new(model())),
        ..support::options(config.clone())
    })
    .await
    .expect("runtime starts");
    let servers = OwnerServers::start(
        &rt,
        &config,
        true,
        &tokio_util::sync::CancellationToken::new(),
        &tokio_util::task::TaskTracker::new(),
    )
    .await
    .expect("HTTP serves");
    let url = servers.http_url().expect("HTTP is on").to_string();
    (rt, servers, url)
}

/// A call waiting for approval: sales-agent asked to set its goals.
async fn pending(rt: &Runtime) -> PendingApproval {
    let mut events = rt.subscribe();
    rt.dispatch(
        &Caller::operator("test"),
        "sales-agent",
        "a new lead came in",
        None,
        None,
    )
    .await
    .expect("dispatched");
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    loop {
        match tokio::time::timeout_at(deadline, events.recv()).await {
            Ok(Ok(RuntimeEvent::ApprovalAsked { approval })) => return *approval,
            Ok(Ok(_)) | Ok(Err(tokio::sync::broadcast::error::RecvError::Lagged(_))) => {}
            other => panic!("no approval asked: {other:?}"),
        }
    }
}

/// A tool call the server refuses with a JSON-RPC error: its message and data.
async fn refused(client: &Client, tool: &str, args: Value) -> (String, Value) {
    let Value::Object(args) = args else {
        panic!("arguments are an object")
    };
    match client
        .call_tool(CallToolRequestParams::new(tool.to_string()).with_arguments(args))
        .await
    {
        Err(rmcp::ServiceError::McpError(e)) => {
            assert_eq!(e.code, rmcp::model::ErrorCode::INVALID_REQUEST, "{e:?}");
            (e.message.to_string(), e.data.unwrap_or(Value::Null))
        }
        other => panic!("{tool} should be refused: {other:?}"),
    }
}

/// Either the tool's JSON (allowed) or the refusal's message (refused), by role.
async fn allowed_or_refused(
    client: &Client,
    tool: &str,
    args: Value,
    has: Role,
    needed: Role,
) -> Option<Value> {
    if has >= needed {
        Some(mcp_support::ok(client, tool, args).await)
    } else {
        let (message, data) = refused(client, tool, args).await;
        assert_eq!(message, format!("needs role {needed}; caller has {has}"));
        assert_eq!(data, json!({"needed": needed, "role": has}));
        None
    }
}

fn http() -> reqwest::Client {
    reqwest::Client::builder().user_agent(UA).build().unwrap()
}

fn api(url: &str, path: &str) -> String {
    url.replace("/mcp", path)
}

/// One caller: how it authenticates, its role, and its name on the audit record.
struct Who {
    token: String,
    role: Role,
    /// The OIDC subject (preferred username); none for a static token.
    subject: Option<String>,
    /// The MCP client name it connects as.
    client: String,
}

impl Who {
    fn mcp_caller(&self) -> String {
        match &self.subject {
            Some(s) => format!("mcp:{}:{s}", self.client),
            None => format!("mcp:{}", self.client),
        }
    }

    fn http_caller(&self) -> String {
        match &self.subject {
            Some(s) => format!("http:roles-test:{s}"),
            None => "http:roles-test".into(),
        }
    }
}

/// Everything one caller may and may not do, over MCP (`rev`) and the API.
async fn exercise(rt: &Runtime, url: &str, who: &Who, rev: Rev) {
    let role = who.role;
    let (client, _) = connect_http(url, rev, &who.client, Some(&who.token)).await;

    // tools/list offers exactly what the role may call.
    let listed: BTreeSet<String> = client
        .list_all_tools()
        .await
        .unwrap()
        .into_iter()
        .map(|t| t.name.to_string())
        .collect();
    let expected: BTreeSet<String> = TOOL_ROLES
        .iter()
        .filter(|(_, needed)| role >= *needed)
        .map(|(t, _)| t.to_string())
        .collect();
    assert_eq!(listed, expected, "{role}");

    // A read: every role.
    let agent = mcp_support::ok(&client, "get_agent", json!({"agent_id": "ops-agent"})).await;
    assert_eq!(agent["spec"]["id"], "ops-agent");
    mcp_support::read(&client, "aios://agents/ops-agent/goals").await;
    mcp_support::ok(&client, "tail_audit", json!({"limit": 1})).await;
    let status = http()
        .get(api(url, "/v1/intents/no-such-intent"))
        .bearer_auth(&who.token)
        .send()
        .await
        .unwrap();
    assert_eq!(
        status.status(),
        404,
        "{role}: past the guard, an unknown intent"
    );

    // A dispatch: operator and admin, over MCP and the API.
    let sent = allowed_or_refused(
        &client,
        "dispatch_intent",
        json!({"agent_id": "ops-agent", "text": "How is the deploy queue?", "wait": false}),
        role,
        Role::Operator,
    )
    .await;
    if let Some(sent) = sent {
        assert!(sent["intent_id"].is_string(), "{sent}");
    }
    let posted = http()
        .post(api(url, "/v1/intents"))
        .bearer_auth(&who.token)
        .json(&json!({"agent_id": "ops-agent", "text": "And now?"}))
        .send()
        .await
        .unwrap();
    if role >= Role::Operator {
        assert_eq!(posted.status(), 202, "{role}");
    } else {
        assert_eq!(posted.status(), 403, "{role}");
        let body: Value = posted.json().await.unwrap();
        assert_eq!(
            body,
            json!({"error": format!("needs role operator; caller has {role}"),
                   "needed": "operator", "role": role})
        );
    }

    // An approval: operator and admin decide; "always" (a new approval rule) is an admin's.
    let p = pending(rt).await;
    let approve = json!({"id": p.id, "approve": true});
    let always = json!({"id": p.id, "approve": true, "always": true});
    if role < Role::Admin {
        let (message, _) = refused(&client, "decide_approval", always).await;
        assert_eq!(message, format!("needs role admin; caller has {role}"));
    }
    let decided =
        allowed_or_refused(&client, "decide_approval", approve, role, Role::Operator).await;
    match decided {
        Some(d) => assert_eq!(d["decided"], json!(p.id)),
        // Still waiting: decided here, so sales-agent is free for the next caller.
        None => {
            assert!(rt.approvals().unwrap().holds(&p.id));
            rt.approvals()
                .unwrap()
                .decide(
                    &Caller::operator("test"),
                    &p.id,
                    DecisionInput {
                        approve: false,
                        reason: Some("not decided by a viewer".into()),
                        arguments: None,
                        always: false,
                    },
                )
                .unwrap();
        }
    }

    // A goal change: admin only.
    let goals = json!({"agent_id": "ops-agent", "goals": [format!("Set by {}", who.client)]});
    let set = allowed_or_refused(&client, "set_goals", goals, role, Role::Admin).await;
    if let Some(set) = set {
        assert_eq!(set["goals"], json!([format!("Set by {}", who.client)]));
    }
    client.cancel().await.unwrap();
}

/// The audit records of `caller` that refused for want of a role.
fn refusals(records: &[AuditRecord], caller: &str) -> Vec<(String, String)> {
    records
        .iter()
        .filter(|r| r.caller == caller)
        .filter_map(|r| {
            let e = r.error.as_deref()?;
            e.starts_with("needs role")
                .then(|| (r.action.clone(), e.to_string()))
        })
        .collect()
}

async fn records(rt: &Runtime) -> Vec<AuditRecord> {
    rt.hub().audit_log().flush().await.unwrap();
    aios::audit::read_dir(&rt.info().data_dir.join("audit"))
        .unwrap()
        .records
}

fn expected_refusals(role: Role, http: bool) -> Vec<(String, String)> {
    let r = |action: &str, needed: Role| {
        (
            action.to_string(),
            format!("needs role {needed}; caller has {role}"),
        )
    };
    match (role, http) {
        (Role::Viewer, false) => vec![
            r("dispatch_intent", Role::Operator),
            r("decide_approval", Role::Admin),
            r("decide_approval", Role::Operator),
            r("set_goals", Role::Admin),
        ],
        (Role::Operator, false) => vec![
            r("decide_approval", Role::Admin),
            r("set_goals", Role::Admin),
        ],
        (Role::Viewer, true) => vec![r("dispatch_intent", Role::Operator)],
        _ => vec![],
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn keycloak_and_authentik_roles_are_enforced_on_mcp_and_the_api() {
    let issuer = issuer::identity_provider().await;
    let dir = tempfile::tempdir().unwrap();
    let (rt, servers, url) = serve(config(dir.path(), &issuer)).await;

    let kc = |user: &str, realm: &[&str], client: &[&str]| {
        issuer::signed(issuer::keycloak(
            &issuer, AUDIENCE, user, realm, AUDIENCE, client,
        ))
    };
    let ak = |user: &str, groups: &[&str]| {
        issuer::signed(issuer::authentik(&issuer, AUDIENCE, user, groups))
    };
    let who = |token: String, role: Role, subject: &str, client: &str| Who {
        token,
        role,
        subject: Some(subject.into()),
        client: client.into(),
    };
    let callers = [
        // Keycloak: a realm role; a client role; both, the higher winning.
        (
            who(
                kc("kc-vera", &["viewer"], &[]),
                Role::Viewer,
                "kc-vera",
                "kc-viewer",
            ),
            Rev::Legacy,
        ),
        (
            who(
                kc("kc-otto", &[], &["operator"]),
                Role::Operator,
                "kc-otto",
                "kc-operator",
            ),
            Rev::Legacy,
        ),
        (
            who(
                kc("kc-ada", &["viewer"], &["admin"]),
                Role::Admin,
                "kc-ada",
                "kc-admin",
            ),
            Rev::Legacy,
        ),
        // Authentik: groups, among others that mean nothing to aios.
        (
            who(
                ak("ak-vera", &["viewer"]),
                Role::Viewer,
                "ak-vera",
                "ak-viewer",
            ),
            Rev::Modern,
        ),
        (
            who(
                ak("ak-otto", &["staff", "operator"]),
                Role::Operator,
                "ak-otto",
                "ak-operator",
            ),
            Rev::Modern,
        ),
        (
            who(ak("ak-ada", &["admin"]), Role::Admin, "ak-ada", "ak-admin"),
            Rev::Modern,
        ),
    ];
    for (w, rev) in &callers {
        exercise(&rt, &url, w, *rev).await;
    }

    // Every refusal is on record, with the caller's client and subject.
    let all = records(&rt).await;
    for (w, _) in &callers {
        assert_eq!(
            refusals(&all, &w.mcp_caller()),
            expected_refusals(w.role, false),
            "{}",
            w.mcp_caller()
        );
        assert_eq!(
            refusals(&all, &w.http_caller()),
            expected_refusals(w.role, true),
            "{}",
            w.http_caller()
        );
    }
    // What the allowed ones did is on record under the same names.
    let did = |caller: &str, action: &str| {
        all.iter()
            .any(|r| r.caller == caller && r.action == action && r.error.is_none())
    };
    assert!(did("mcp:kc-admin:kc-ada", "set_goals"));
    assert!(did("mcp:ak-operator:ak-otto", "dispatch_intent"));
    assert!(did("mcp:ak-operator:ak-otto", "approval_decided"));
    assert!(did("http:roles-test:kc-otto", "dispatch_intent"));
    assert!(did("mcp:kc-viewer:kc-vera", "get_agent"));

    servers.stop().await;
    rt.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_valid_token_without_an_aios_role_is_refused_and_audited() {
    let issuer = issuer::identity_provider().await;
    let dir = tempfile::tempdir().unwrap();
    let (rt, servers, url) = serve(config(dir.path(), &issuer)).await;
    let nobody = issuer::signed(issuer::keycloak(
        &issuer,
        AUDIENCE,
        "nobody",
        &["offline_access"],
        AUDIENCE,
        &["reader"],
    ));
    let initialize = json!({"jsonrpc": "2.0", "id": 1, "method": "initialize", "params": {
        "protocolVersion": "2025-11-25", "capabilities": {},
        "clientInfo": {"name": "raw", "version": "1"}}});
    let on_mcp = http()
        .post(&url)
        .header("Accept", "application/json, text/event-stream")
        .bearer_auth(&nobody)
        .json(&initialize)
        .send()
        .await
        .unwrap();
    let on_api = http()
        .get(api(&url, "/v1/events"))
        .bearer_auth(&nobody)
        .send()
        .await
        .unwrap();
    for response in [on_mcp, on_api] {
        assert_eq!(response.status(), 403);
        let body: Value = response.json().await.unwrap();
        assert_eq!(body["needed"], "viewer");
        assert_eq!(body["role"], Value::Null);
        let error = body["error"].as_str().unwrap();
        assert!(error.starts_with("no aios role was granted"), "{error}");
    }
    // A token of the same user with a role is let in.
    let viewer = issuer::signed(issuer::keycloak(
        &issuer,
        AUDIENCE,
        "nobody",
        &["viewer"],
        AUDIENCE,
        &[],
    ));
    let (client, _) = connect_http(&url, Rev::Legacy, "raw", Some(&viewer)).await;
    mcp_support::ok(&client, "list_agents", json!({})).await;
    client.cancel().await.unwrap();

    let all = records(&rt).await;
    for caller in ["mcp:roles-test:nobody", "http:roles-test:nobody"] {
        let r = all
            .iter()
            .find(|r| r.caller == caller && r.action == "authorize")
            .unwrap_or_else(|| panic!("no refusal of {caller} on record"));
        assert!(r.error.as_deref().unwrap().starts_with("no aios role"));
        assert_eq!(r.input["needed"], "viewer");
    }
    servers.stop().await;
    rt.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn static_tokens_carry_the_role_they_are_listed_under() {
    // The static tokens of `aios serve`, from the environment as compose sets them.
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    let serve = Serve::start(
        tmp.path(),
        &data,
        &[
            ("AIOS_MCP_TOKENS", "tok-admin"),
            ("AIOS_MCP_ROLE_TOKENS_VIEWER", "tok-view-1,tok-view-2"),
            ("AIOS_MCP_ROLE_TOKENS_OPERATOR", "tok-op"),
        ],
    );
    let who = |token: &str, role: Role, client: &str| Who {
        token: token.into(),
        role,
        subject: None,
        client: client.into(),
    };
    for w in [
        who("tok-view-2", Role::Viewer, "static-viewer"),
        who("tok-op", Role::Operator, "static-operator"),
        who("tok-admin", Role::Admin, "static-admin"),
    ] {
        let (client, _) = connect_http(&serve.url, Rev::Legacy, &w.client, Some(&w.token)).await;
        mcp_support::ok(&client, "get_agent", json!({"agent_id": "sec-agent"})).await;
        allowed_or_refused(
            &client,
            "dispatch_intent",
            json!({"agent_id": "sec-agent", "text": "scan", "wait": false}),
            w.role,
            Role::Operator,
        )
        .await;
        allowed_or_refused(
            &client,
            "set_goals",
            json!({"agent_id": "sec-agent", "goals": ["Patch weekly"]}),
            w.role,
            Role::Admin,
        )
        .await;
        client.cancel().await.unwrap();
        let posted = http()
            .post(api(&serve.url, "/v1/intents"))
            .bearer_auth(&w.token)
            .json(&json!({"agent_id": "sec-agent", "text": "scan again"}))
            .send()
            .await
            .unwrap();
        let expected = if w.role >= Role::Operator { 202 } else { 403 };
        assert_eq!(posted.status(), expected, "{}", w.client);
    }
    // The refusals are on record under the client's name.
    mcp_support::wait_for_audit(
        &data,
        "mcp:static-viewer",
        &["dispatch_intent", "set_goals"],
    );
    mcp_support::wait_for_audit(&data, "mcp:static-operator", &["set_goals"]);
    mcp_support::wait_for_audit(&data, "http:roles-test", &["dispatch_intent"]);
    let all = aios::audit::read_dir(&data.join("audit")).unwrap().records;
    assert_eq!(
        refusals(&all, "mcp:static-viewer"),
        vec![
            (
                "dispatch_intent".to_string(),
                "needs role operator; caller has viewer".to_string()
            ),
            (
                "set_goals".to_string(),
                "needs role admin; caller has viewer".to_string()
            ),
        ]
    );
    serve.stop();
}

#[test]
fn role_config_errors_name_the_key_and_never_the_token() {
    let parse = |text: &str, env: &[(&str, &str)]| {
        let env: Vec<(String, String)> = env
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        aios::config::parse_str(text, "config.toml", &env)
    };
    let defaults = parse("", &[]).unwrap();
    assert_eq!(defaults.mcp.roles.name(Role::Operator), "operator");
    assert_eq!(defaults.mcp.oidc_client(), "");

    let custom = parse(
        "[mcp]\noidc_audience = \"aios-api\"\n[mcp.roles]\nviewer = \"aios-readers\"\n\
         [mcp.role_tokens]\noperator = [\"tok-op\"]\n",
        &[("AIOS_MCP_ROLES_ADMIN", "aios-admins")],
    )
    .unwrap();
    assert_eq!(custom.mcp.roles.viewer, "aios-readers");
    assert_eq!(custom.mcp.roles.admin, "aios-admins");
    assert_eq!(custom.mcp.oidc_client(), "aios-api");
    assert_eq!(
        custom.mcp.static_tokens().unwrap(),
        vec![("tok-op".to_string(), Role::Operator)]
    );

    for (text, env, key) in [
        (
            "[mcp.role_tokens]\nsuperuser = [\"t\"]\n",
            vec![],
            "mcp.role_tokens",
        ),
        ("[mcp.roles]\nroot = \"x\"\n", vec![], "mcp.roles"),
        ("[mcp.roles]\nviewer = \"\"\n", vec![], "mcp.roles.viewer"),
        (
            "[mcp.roles]\nadmin = \"operator\"\n",
            vec![],
            "mcp.roles.admin",
        ),
        (
            "",
            vec![
                ("AIOS_MCP_TOKENS", "s3cret-token"),
                ("AIOS_MCP_ROLE_TOKENS_VIEWER", "s3cret-token"),
            ],
            "mcp.role_tokens.viewer",
        ),
    ] {
        let err = parse(text, &env).expect_err(text).to_string();
        assert!(err.contains(key), "{text:?}: {err}");
        assert!(!err.contains("s3cret-token"), "{err}");
    }
}

#[tokio::test]
async fn a_lowered_runtime_is_a_viewer_whatever_it_is_asked() {
    let dir = tempfile::tempdir().unwrap();
    let owner = Runtime::start(RuntimeOptions {
        bus: Some(Arc::new(LocalBus::new(1024 * 1024))),
        runner: Some(Arc::new(model())),
        ..support::options(config(dir.path(), ""))
    })
    .await
    .unwrap();
    // What `aios tui --read-only` gets; raising it again changes nothing.
    let rt = owner.lowered(Role::Viewer).lowered(Role::Admin);
    assert_eq!(rt.role(), Role::Viewer);
    assert_eq!(owner.role(), Role::Admin);
    let me = Caller::Tui("alice".into());

    // Reads work.
    rt.hub().get_agent(&me, "ops-agent").await.unwrap();
    // Dispatch, stop, decide and a goal change are refused with the role needed.
    let p = pending(&owner).await;
    let refusals = [
        rt.dispatch(&me, "ops-agent", "go", None, None)
            .await
            .err()
            .map(|e| e.to_string()),
        rt.request_stop(&me, "sales-agent")
            .await
            .err()
            .map(|e| e.to_string()),
        rt.request_decision(
            &me,
            &p.id,
            DecisionInput {
                approve: true,
                reason: None,
                arguments: None,
                always: false,
            },
        )
        .await
        .err()
        .map(|e| e.to_string()),
        rt.hub()
            .set_goals(&me, "ops-agent", vec!["Hijacked".into()])
            .await
            .err()
            .map(|e| e.to_string()),
    ];
    assert_eq!(
        refusals,
        [
            Some("needs role operator; caller has viewer".to_string()),
            Some("needs role operator; caller has viewer".to_string()),
            Some("needs role operator; caller has viewer".to_string()),
            Some("needs role admin; caller has viewer".to_string()),
        ]
    );
    // Nothing happened: the approval still waits, the goals are the catalog's.
    assert!(owner.approvals().unwrap().holds(&p.id));
    let goals = owner.hub().get_goals(&me, "ops-agent").await.unwrap();
    assert!(!goals.contains(&"Hijacked".to_string()));
    // An operator's handle may decide, not change goals.
    let operator = owner.lowered(Role::Operator);
    operator
        .request_decision(
            &me,
            &p.id,
            DecisionInput {
                approve: true,
                reason: None,
                arguments: None,
                always: false,
            },
        )
        .await
        .unwrap();

    let all = records(&owner).await;
    let refused = refusals_of(&all, "tui:alice");
    assert_eq!(
        refused,
        ["dispatch_intent", "stop", "decide_approval", "set_goals"]
    );
    owner.shutdown().await;
}

fn refusals_of(records: &[AuditRecord], caller: &str) -> Vec<String> {
    refusals(records, caller)
        .into_iter()
        .map(|(action, _)| action)
        .collect()
}
