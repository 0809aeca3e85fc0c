//! Protocol hooks fire: webhooks signed in Stripe's scheme (checked here by an HMAC written
//! from RFC 2104 over sha2, not aios's), retried after 5xx, dead-lettered after
//! `hooks.max_attempts`, sent again on `retry`, still delivered after a `kill -9`, once per
//! event with two nodes on one Redis, schedules fired once across nodes on an injected
//! clock, intent hooks stopped at `max_handoff_depth`, and bad hooks refused when added.

mod support;

use std::collections::BTreeSet;
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use aios::agent::{Runtime, RuntimeOptions};
use aios::config::{AgentOverride, BusBackend, Config};
use aios::context::{Caller, ProtocolHook};
use aios::hooks::outbox::redis::RedisOutbox;
use aios::hooks::{Clock, Hooks, HooksOptions, IntentSink, Targets};
use chrono::{DateTime, TimeZone, Utc};
use sha2::{Digest, Sha256};
use support::http_script::{Reply, ScriptServer};
use support::redis_server::RedisServer;

/// HMAC-SHA256 as RFC 2104 defines it: H((K ^ opad) || H((K ^ ipad) || m)).
fn hmac_sha256(key: &[u8], msg: &[u8]) -> [u8; 32] {
    let mut k = [0u8; 64];
    if key.len() > 64 {
        k[..32].copy_from_slice(&Sha256::digest(key));
    } else {
        k[..key.len()].copy_from_slice(key);
    }
    let ipad: Vec<u8> = k.iter().map(|b| b ^ 0x36).collect();
    let opad: Vec<u8> = k.iter().map(|b| b ^ 0x5c).collect();
    let inner = Sha256::new()
        .chain_update(&ipad)
        .chain_update(msg)
        .finalize();
    Sha256::new()
        .chain_update(&opad)
        .chain_update(inner)
        .finalize()
        .into()
}

/// What a receiver does: the signature holds for `secret` over the raw body.
fn verify(header: &str, body: &[u8], secret: &str) -> bool {
    let mut t = None;
    let mut sigs = Vec::new();
    for part in header.split(',') {
        match part.split_once('=') {
            Some(("t", v)) => t = Some(v.to_string()),
            Some(("v1", v)) => sigs.push(v.to_string()),
            _ => {}
        }
    }
    let Some(t) = t else { return false };
    let mut msg = format!("{t}.").into_bytes();
    msg.extend_from_slice(body);
    let expected: String = hmac_sha256(secret.as_bytes(), &msg)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    sigs.contains(&expected)
}

#[test]
fn the_test_hmac_matches_rfc_4231() {
    let mac = hmac_sha256(b"Jefe", b"what do ya want for nothing?");
    let hex: String = mac.iter().map(|b| format!("{b:02x}")).collect();
    assert_eq!(
        hex,
        "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"
    );
}

fn header<'a>(r: &'a support::http_script::Recorded, name: &str) -> Option<&'a str> {
    r.headers
        .iter()
        .find(|(k, _)| k.eq_ignore_ascii_case(name))
        .map(|(_, v)| v.as_str())
}

fn hook(name: &str, on: &str, action: &str) -> ProtocolHook {
    ProtocolHook {
        name: name.into(),
        on: on.into(),
        action: action.into(),
    }
}

/// A config whose support-agent has `hooks`, fast retries, and the given secrets.
fn config_with(dir: &Path, hooks: Vec<ProtocolHook>) -> Config {
    let mut c = support::config_in(dir);
    c.hooks.secret = vec!["old-secret".into(), "new-secret".into()];
    c.hooks.backoff_ms = 20;
    c.hooks.timeout_ms = 2_000;
    c.agents.insert(
        "support-agent".into(),
        AgentOverride {
            protocol_hooks: Some(hooks),
            ..Default::default()
        },
    );
    c
}

async fn wait_for<T>(what: &str, within: Duration, mut f: impl AsyncFnMut() -> Option<T>) -> T {
    let start = Instant::now();
    loop {
        if let Some(v) = f().await {
            return v;
        }
        assert!(start.elapsed() < within, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// A runtime on `config` that has handled one intent for support-agent.
async fn started_after_one_intent(config: Config) -> Runtime {
    let rt = Runtime::start(support::options(config)).await.unwrap();
    rt.dispatch_and_wait(&Caller::operator("alice"), "support-agent", "hi")
        .await
        .unwrap();
    rt
}

/// Wait until `hook`'s latest delivery is in `state`.
async fn wait_state(
    rt: &Runtime,
    hook: &str,
    state: &str,
    within: Duration,
) -> aios::hooks::DeliveryRow {
    wait_for(&format!("{hook} {state}"), within, async || {
        delivery_state(rt, hook).await.filter(|d| d.state == state)
    })
    .await
}

async fn delivery_state(rt: &Runtime, hook: &str) -> Option<aios::hooks::DeliveryRow> {
    let rows = rt
        .hooks()
        .unwrap()
        .report(Some("support-agent"))
        .await
        .unwrap();
    rows.into_iter()
        .find(|h| h.name == hook)
        .and_then(|h| h.deliveries.into_iter().next())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_done_intent_posts_a_signed_webhook_a_receiver_can_verify() {
    let server = ScriptServer::start().await;
    server.reply("POST", "/hook", Reply::new(204, "text/plain"));
    let dir = tempfile::tempdir().unwrap();
    let url = format!("webhook:{}/hook", server.url());
    let config = config_with(dir.path(), vec![hook("notify", "intent.done", &url)]);
    let rt = Runtime::start(support::options(config)).await.unwrap();
    let reply = rt
        .dispatch_and_wait(&Caller::operator("alice"), "support-agent", "Customer 42")
        .await
        .unwrap();
    let req = wait_for("the webhook", Duration::from_secs(10), async || {
        server.requests_to("/hook").into_iter().next()
    })
    .await;

    let sig = header(&req, "x-aios-signature").expect("signed");
    assert!(verify(sig, &req.body, "old-secret"), "{sig}");
    assert!(verify(sig, &req.body, "new-secret"), "{sig}");
    assert!(!verify(sig, &req.body, "other"), "{sig}");
    let mut tampered = req.body.clone();
    tampered.push(b' ');
    assert!(!verify(sig, &tampered, "new-secret"));
    let t: i64 = sig
        .split(',')
        .find_map(|p| p.strip_prefix("t="))
        .unwrap()
        .parse()
        .unwrap();
    assert!((Utc::now().timestamp() - t).abs() < 60);

    let body = req.json();
    let id = header(&req, "x-aios-delivery").unwrap();
    assert_eq!(body["id"], id);
    assert_eq!(header(&req, "x-aios-event"), Some("intent.done"));
    assert_eq!(header(&req, "content-type"), Some("application/json"));
    assert_eq!(body["event"], "intent.done");
    assert_eq!(body["hook"], "notify");
    assert_eq!(body["agent_id"], "support-agent");
    assert_eq!(body["intent_id"], reply.intent_id.as_str());
    assert_eq!(body["data"]["reply"], reply.reply.as_str());

    let d = wait_state(&rt, "notify", "delivered", Duration::from_secs(5)).await;
    assert_eq!((d.attempts, d.status), (1, Some(204)));
    // Audited.
    rt.hub().audit_log().flush().await.unwrap();
    let records = aios::audit::read_dir(&dir.path().join("audit"))
        .unwrap()
        .records;
    let audited = records
        .iter()
        .find(|r| r.action == "hook_delivery" && r.input["delivery_id"] == id)
        .expect("the delivery is audited");
    assert_eq!(audited.caller, "hook:support-agent.notify");
    assert_eq!(audited.input["state"], "delivered");
    rt.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_500s_are_retried_with_the_same_delivery_id_then_delivered() {
    let server = ScriptServer::start().await;
    server.route(
        "POST",
        "/hook",
        vec![
            support::http_script::Action::Reply(Reply::new(500, "text/plain")),
            support::http_script::Action::Reply(Reply::new(502, "text/plain")),
            support::http_script::Action::Reply(Reply::new(200, "text/plain")),
        ],
    );
    let dir = tempfile::tempdir().unwrap();
    let url = format!("webhook:{}/hook", server.url());
    let rt = started_after_one_intent(config_with(
        dir.path(),
        vec![hook("notify", "intent.done", &url)],
    ))
    .await;
    let d = wait_state(&rt, "notify", "delivered", Duration::from_secs(10)).await;
    assert_eq!((d.attempts, d.status), (3, Some(200)));
    let reqs = server.requests_to("/hook");
    assert_eq!(reqs.len(), 3);
    let ids: BTreeSet<&str> = reqs
        .iter()
        .map(|r| header(r, "x-aios-delivery").unwrap())
        .collect();
    assert_eq!(ids.len(), 1, "one idempotency key for every attempt");
    // Each attempt is signed afresh and verifies.
    for r in &reqs {
        assert!(verify(
            header(r, "x-aios-signature").unwrap(),
            &r.body,
            "new-secret"
        ));
    }
    rt.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn out_of_attempts_is_a_dead_letter_that_retry_sends_again_and_4xx_is_not_retried() {
    let server = ScriptServer::start().await;
    server.reply("POST", "/down", Reply::new(503, "text/plain"));
    server.reply("POST", "/gone", Reply::new(410, "text/plain"));
    let dir = tempfile::tempdir().unwrap();
    let mut config = config_with(
        dir.path(),
        vec![
            hook(
                "down",
                "intent.done",
                &format!("webhook:{}/down", server.url()),
            ),
            hook(
                "gone",
                "intent.done",
                &format!("webhook:{}/gone", server.url()),
            ),
        ],
    );
    config.hooks.max_attempts = 3;
    let rt = started_after_one_intent(config).await;
    let dead = wait_state(&rt, "down", "dead", Duration::from_secs(10)).await;
    assert_eq!(dead.attempts, 3);
    assert!(
        dead.error
            .as_deref()
            .unwrap()
            .contains("gave up after 3 attempts"),
        "{dead:?}"
    );
    let gone = wait_state(&rt, "gone", "dead", Duration::from_secs(5)).await;
    assert_eq!((gone.attempts, gone.status), (1, Some(410)));
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(
        server.requests_to("/down").len(),
        3,
        "no attempt after the last"
    );
    assert_eq!(server.requests_to("/gone").len(), 1, "a 4xx is not retried");

    // The receiver is back; `hooks retry` sends the dead letter again, same id.
    server.reply("POST", "/down", Reply::new(200, "text/plain"));
    let again = rt.hooks().unwrap().retry(&dead.id).await.unwrap();
    assert_eq!(again.state, "pending");
    let d = wait_state(&rt, "down", "delivered", Duration::from_secs(5)).await;
    assert_eq!(d.id, dead.id);
    let last = server.requests_to("/down").pop().unwrap();
    assert_eq!(header(&last, "x-aios-delivery"), Some(dead.id.as_str()));
    // Only a dead delivery can be retried.
    let e = rt.hooks().unwrap().retry(&dead.id).await.unwrap_err();
    assert!(matches!(e, aios::hooks::OutboxError::NotDead { .. }), "{e}");
    assert!(e.to_string().contains("only a dead delivery"), "{e}");
    rt.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_hook_with_a_bad_pattern_or_target_is_refused_when_added() {
    let dir = tempfile::tempdir().unwrap();
    let in_config = hook("nightly", "schedule:@daily", "intent:ops-agent Report");
    let rt = Runtime::start(support::options(config_with(dir.path(), vec![in_config])))
        .await
        .unwrap();
    let hub = rt.hub();
    let who = Caller::operator("alice");
    for (on, action, says) in [
        ("intent.received", "webhook:http://x/y", "not an event"),
        (
            "schedule:99 * * * *",
            "webhook:http://x/y",
            "not a cron schedule",
        ),
        ("intent.done", "handoff:sec-agent", "not a hook target"),
        ("intent.done", "action:nope", "no configured HTTP action"),
        ("intent.done", "intent:nobody hi", "no agent `nobody`"),
        (
            "intent.done",
            "mcp:helpdesk.open",
            "no MCP server `helpdesk`",
        ),
        ("intent.done", "webhook:ftp://x/y", "http or https"),
    ] {
        let e = hub
            .add_protocol_hook(&who, "ops-agent", hook("h", on, action))
            .await
            .unwrap_err()
            .to_string();
        assert!(e.contains(says), "{on} / {action}: {e}");
    }
    // A name config owns cannot be taken over MCP, even by a valid hook.
    let e = hub
        .add_protocol_hook(
            &who,
            "support-agent",
            hook("nightly", "intent.done", "intent:ops-agent Check {reply}"),
        )
        .await
        .unwrap_err()
        .to_string();
    assert!(
        e.contains(
            "a hook named `nightly` comes from config ([agents.support-agent] protocol_hooks)"
        ),
        "{e}"
    );
    hub.add_protocol_hook(
        &who,
        "ops-agent",
        hook("ok", "schedule:@daily", "intent:ops-agent Report"),
    )
    .await
    .unwrap();
    rt.shutdown().await;
}

#[test]
fn a_bad_hook_in_config_is_a_config_error_naming_the_key() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("config.toml");
    std::fs::write(
        &path,
        "[agents.support-agent]\nprotocol_hooks = [{ name = \"x\", on = \"intent.done\", action = \"webhook:nope\" }]\n",
    )
    .unwrap();
    let out = support::aios(dir.path(), &dir.path().join("data"))
        .arg("--config")
        .arg(&path)
        .arg("agents")
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("agents.support-agent.protocol_hooks"), "{err}");
    assert!(err.contains("not a URL"), "{err}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn intent_hooks_continue_the_chain_and_stop_at_max_handoff_depth() {
    let dir = tempfile::tempdir().unwrap();
    let mut config = config_with(
        dir.path(),
        vec![hook(
            "again",
            "intent.done",
            "intent:support-agent Follow up on: {reply}",
        )],
    );
    config.runtime.max_handoff_depth = 2;
    let rt = Runtime::start(support::options(config)).await.unwrap();
    let mut events = rt.subscribe();
    let first = rt
        .dispatch_and_wait(&Caller::operator("alice"), "support-agent", "start")
        .await
        .unwrap();
    // depth 0 (the operator's), 1 and 2 run; the hook of depth 2 would make depth 3.
    let dead = wait_for("the refused hook", Duration::from_secs(15), async || {
        let rows = rt
            .hooks()
            .unwrap()
            .report(Some("support-agent"))
            .await
            .unwrap();
        rows.into_iter()
            .flat_map(|h| h.deliveries)
            .find(|d| d.state == "dead")
    })
    .await;
    assert!(
        dead.error.as_deref().unwrap().contains("max_handoff_depth"),
        "{dead:?}"
    );
    let mut done = Vec::new();
    while let Ok(ev) = events.try_recv() {
        if let aios::event::RuntimeEvent::IntentDone { intent_id, .. } = ev {
            done.push(intent_id);
        }
    }
    assert_eq!(
        done.len(),
        3,
        "the operator's intent and two hook intents: {done:?}"
    );
    assert_eq!(done[0], first.intent_id);
    rt.shutdown().await;
}

// ---- two nodes on one Redis -------------------------------------------------------------

fn redis_config(dir: &Path, url: &str, node: &str, hooks: Vec<ProtocolHook>) -> Config {
    let mut c = config_with(dir, hooks);
    c.bus.backend = BusBackend::Redis;
    c.bus.url = url.into();
    c.bus.prefix = "hooks-test:".into();
    c.runtime.node = node.into();
    c
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_nodes_deliver_each_event_exactly_once() {
    let redis = RedisServer::start();
    let server = ScriptServer::start().await;
    server.reply("POST", "/hook", Reply::new(200, "text/plain"));
    let url = format!("webhook:{}/hook", server.url());
    let (a, b) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let hooks = vec![hook("notify", "intent.done", &url)];
    let n1 = Runtime::start(support::options(redis_config(
        a.path(),
        &redis.url(),
        "n1",
        hooks.clone(),
    )))
    .await
    .unwrap();
    let n2 = Runtime::start(support::options(redis_config(
        b.path(),
        &redis.url(),
        "n2",
        hooks,
    )))
    .await
    .unwrap();
    let mut intents = BTreeSet::new();
    for i in 0..20 {
        let node = if i % 2 == 0 { &n1 } else { &n2 };
        let t = node
            .dispatch(
                &Caller::operator("alice"),
                "support-agent",
                &format!("case {i}"),
                None,
                None,
            )
            .await
            .unwrap();
        intents.insert(t.intent_id);
    }
    wait_for("20 deliveries", Duration::from_secs(30), async || {
        (server.requests_to("/hook").len() >= 20).then_some(())
    })
    .await;
    // Both workers keep polling the shared outbox: no second delivery of anything.
    tokio::time::sleep(Duration::from_millis(800)).await;
    let reqs = server.requests_to("/hook");
    assert_eq!(reqs.len(), 20, "one delivery per event");
    let ids: BTreeSet<String> = reqs
        .iter()
        .map(|r| header(r, "x-aios-delivery").unwrap().to_string())
        .collect();
    assert_eq!(ids.len(), 20);
    let delivered: BTreeSet<String> = reqs
        .iter()
        .map(|r| r.json()["intent_id"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(delivered, intents);
    n1.shutdown().await;
    n2.shutdown().await;
}

/// A clock the test moves.
struct ManualClock(Mutex<DateTime<Utc>>);

impl Clock for ManualClock {
    fn now(&self) -> DateTime<Utc> {
        *self.0.lock().unwrap()
    }
}

/// Records intents instead of sending them.
#[derive(Default)]
struct Intents(Mutex<Vec<(String, String)>>);

#[async_trait::async_trait]
impl IntentSink for Intents {
    async fn send_intent(
        &self,
        _from: &Caller,
        agent_id: &str,
        text: &str,
        _trace_id: Option<String>,
        _parent_id: Option<String>,
        _depth: u32,
    ) -> Result<String, (bool, String)> {
        self.0.lock().unwrap().push((agent_id.into(), text.into()));
        Ok("i".into())
    }
}

/// A node's hooks on `rt`'s state, with the outbox on `redis` and the test's clock.
async fn scheduler_node(
    rt: &Runtime,
    config: &Config,
    redis: &str,
    clock: Arc<ManualClock>,
    intents: Arc<Intents>,
) -> Hooks {
    let outbox = RedisOutbox::connect(&redis.into(), "sched:").await.unwrap();
    Hooks::new(HooksOptions {
        config: config.hooks.clone(),
        secrets: aios::hooks::SigningSecrets::fixed(vec!["s".into()]),
        node: config.runtime.node.clone(),
        outbox: Arc::new(outbox),
        hub: rt.hub().clone(),
        known: aios::hooks::known_of(config),
        targets: Targets {
            http: aios::actions::http_client().unwrap(),
            actions: Arc::new(aios::actions::Actions::default()),
            mcp: rt.mcp_servers().clone(),
            intents,
        },
        approvals: None,
        rules: Arc::new(Vec::new()),
        events: tokio::sync::broadcast::channel(16).0,
        clock,
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_schedule_fires_once_across_two_nodes_and_catches_up_at_most_once() {
    let redis = RedisServer::start();
    let (a, b) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let hooks = vec![hook(
        "every-5",
        "schedule:*/5 * * * *",
        "intent:support-agent Check the queue at {scheduled_for}",
    )];
    let mut ca = redis_config(a.path(), &redis.url(), "n1", hooks.clone());
    let mut cb = redis_config(b.path(), &redis.url(), "n2", hooks);
    for c in [&mut ca, &mut cb] {
        c.hooks.timezone = aios::hooks::schedule::Zone::Utc;
        c.hooks.catch_up = 1;
    }
    let ra = Runtime::start(support::options(ca.clone())).await.unwrap();
    let rb = Runtime::start(support::options(cb.clone())).await.unwrap();
    let at = |h, m, s| Utc.with_ymd_and_hms(2026, 11, 30, h, m, s).unwrap();
    let clock = Arc::new(ManualClock(Mutex::new(at(10, 1, 0))));
    let sent = Arc::new(Intents::default());
    let na = scheduler_node(&ra, &ca, &redis.url(), clock.clone(), sent.clone()).await;
    let nb = scheduler_node(&rb, &cb, &redis.url(), clock.clone(), sent.clone()).await;

    // First sight at 10:01: nothing is due, nothing missed.
    assert_eq!(na.tick_schedules().await + nb.tick_schedules().await, 0);
    // 10:05:00.4 on both nodes at once: one delivery between them.
    *clock.0.lock().unwrap() = at(10, 5, 0) + chrono::Duration::milliseconds(400);
    let (x, y) = tokio::join!(na.tick_schedules(), nb.tick_schedules());
    assert_eq!(x + y, 1, "one fire for 10:05 across the nodes");
    let (x, y) = tokio::join!(na.deliver_due(), nb.deliver_due());
    assert_eq!(x + y, 1);
    assert_eq!(
        *sent.0.lock().unwrap(),
        vec![(
            "support-agent".to_string(),
            "Check the queue at 2026-11-30T10:05:00Z".to_string()
        )]
    );
    // The same minute again: nothing new.
    assert_eq!(na.tick_schedules().await + nb.tick_schedules().await, 0);

    // Both nodes down from 10:06 to 11:02:10: eleven fire times missed, one catches up.
    *clock.0.lock().unwrap() = at(11, 2, 10);
    assert_eq!(na.tick_schedules().await + nb.tick_schedules().await, 1);
    na.deliver_due().await;
    nb.deliver_due().await;
    let texts: Vec<String> = sent
        .0
        .lock()
        .unwrap()
        .iter()
        .map(|(_, t)| t.clone())
        .collect();
    assert_eq!(texts.len(), 2);
    assert!(texts[1].ends_with("11:00:00Z"), "{texts:?}");

    // `aios hooks` says when it fires next.
    let rows = na.report(Some("support-agent")).await.unwrap();
    assert_eq!(rows[0].next_fire.as_deref(), Some("2026-11-30T11:05:00Z"));
    ra.shutdown().await;
    rb.shutdown().await;
}

// ---- kill -9 ----------------------------------------------------------------------------

#[test]
fn a_pending_delivery_survives_kill_9_and_goes_out_after_restart() {
    let rt = tokio::runtime::Runtime::new().unwrap();
    let server = rt.block_on(ScriptServer::start());
    server.reply("POST", "/hook", Reply::new(503, "text/plain"));
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let cfg = dir.path().join("config.toml");
    std::fs::write(
        &cfg,
        format!(
            "[hooks]\nsecret = \"env:HOOK_SECRET\"\nbackoff_ms = 4000\n\n\
             [agents.support-agent]\nprotocol_hooks = [{{ name = \"notify\", on = \"intent.done\", action = \"webhook:{}/hook\" }}]\n",
            server.url()
        ),
    )
    .unwrap();
    let cli = || {
        let mut cmd = support::aios(dir.path(), &data);
        cmd.arg("--config").arg(&cfg).env("HOOK_SECRET", "s3cret");
        cmd
    };
    let start = || support::serve::start_serve(&mut cli(), &data);
    let serve = start();
    let out = cli()
        .args(["dispatch", "support-agent", "hello"])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let deadline = Instant::now() + Duration::from_secs(10);
    while server.requests_to("/hook").is_empty() {
        assert!(Instant::now() < deadline, "no first attempt");
        std::thread::sleep(Duration::from_millis(20));
    }
    // The first attempt failed and is written back; the retry is seconds away. Kill -9.
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let out = cli()
            .args(["hooks", "support-agent", "--json"])
            .output()
            .unwrap();
        let rows: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap_or_default();
        let d = &rows[0]["deliveries"][0];
        if d["state"] == "pending" && d["attempts"] == 1 {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the failed attempt was not written back: {rows}"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    let mut serve = serve;
    serve.0.kill().unwrap();
    serve.0.wait().unwrap();
    drop(serve);
    let first = server.requests_to("/hook")[0].clone();
    server.reply("POST", "/hook", Reply::new(200, "text/plain"));

    let serve = start();
    let deadline = Instant::now() + Duration::from_secs(20);
    while server.requests_to("/hook").len() < 2 {
        assert!(
            Instant::now() < deadline,
            "the pending delivery never went out after the restart"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    let second = server.requests_to("/hook")[1].clone();
    assert_eq!(
        header(&first, "x-aios-delivery"),
        header(&second, "x-aios-delivery"),
        "the same delivery, not a new one"
    );
    assert!(verify(
        header(&second, "x-aios-signature").unwrap(),
        &second.body,
        "s3cret"
    ));

    // `aios hooks` shows it delivered, after two attempts.
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let out = cli()
            .args(["hooks", "support-agent", "--json"])
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let rows: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
        let d = &rows[0]["deliveries"][0];
        if d["state"] == "delivered" {
            assert_eq!(d["attempts"], 2);
            break;
        }
        assert!(Instant::now() < deadline, "not delivered: {rows}");
        std::thread::sleep(Duration::from_millis(100));
    }
    serve.stop();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_ask_rule_holds_a_hook_for_a_person_and_an_action_gets_the_events_fields() {
    let server = ScriptServer::start().await;
    server.reply(
        "POST",
        "/ticket",
        Reply::new(201, "application/json").chunk("{}"),
    );
    let dir = tempfile::tempdir().unwrap();
    let mut config = config_with(
        dir.path(),
        vec![hook("to-ticket", "intent.done", "action:ticket")],
    );
    config.actions.insert(
        "ticket".into(),
        serde_json::from_value(serde_json::json!({
            "description": "Open a ticket",
            "method": "POST",
            "url": format!("{}/ticket", server.url()),
            "args": {
                "type": "object",
                "properties": {"agent_id": {"type": "string"}, "reply": {"type": "string"}},
                "required": ["reply"]
            }
        }))
        .unwrap(),
    );
    config.approvals.rules = vec![aios::approvals::Rule {
        agent: "*".into(),
        tool: "hook:to-ticket".into(),
        args: Default::default(),
        decision: aios::approvals::RuleDecision::Ask,
        reason: None,
    }];
    let rt = Runtime::start(support::options(config)).await.unwrap();
    let reply = rt
        .dispatch_and_wait(&Caller::operator("alice"), "support-agent", "Customer 7")
        .await
        .unwrap();
    let approvals = rt.approvals().unwrap();
    let waiting = wait_for("the approval", Duration::from_secs(10), async || {
        approvals
            .list()
            .into_iter()
            .find(|p| p.tool == "hook:to-ticket")
    })
    .await;
    assert!(
        waiting.preview.contains("action ticket"),
        "{}",
        waiting.preview
    );
    // The approval is listed a moment before the outbox row says it waits for it.
    wait_for(
        "the delivery to wait",
        Duration::from_secs(10),
        async || {
            delivery_state(&rt, "to-ticket")
                .await
                .filter(|d| d.state == "waiting")
        },
    )
    .await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert!(
        server.requests_to("/ticket").is_empty(),
        "nothing is sent before the decision"
    );

    approvals
        .decide(
            &Caller::operator("bob"),
            &waiting.id,
            aios::approvals::DecisionInput {
                approve: true,
                reason: None,
                arguments: None,
                always: false,
            },
        )
        .unwrap();
    let req = wait_for("the action", Duration::from_secs(10), async || {
        server.requests_to("/ticket").into_iter().next()
    })
    .await;
    // Only the fields the action declares, taken from the event.
    assert_eq!(
        req.json(),
        serde_json::json!({"agent_id": "support-agent", "reply": reply.reply})
    );
    let d = wait_state(&rt, "to-ticket", "delivered", Duration::from_secs(5)).await;
    assert_eq!(d.status, Some(201));
    rt.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_tool_called_hook_fires_for_the_matching_tool_only() {
    use support::scripted_runner::{ScriptedRunner, call, say, tool_results};
    let server = ScriptServer::start().await;
    server.reply("POST", "/hook", Reply::new(200, "text/plain"));
    let dir = tempfile::tempdir().unwrap();
    let url = format!("webhook:{}/hook", server.url());
    let config = config_with(
        dir.path(),
        vec![
            hook("on-remember", "tool.called:remem*", &url),
            hook("on-goals", "tool.called:set_goals", &url),
        ],
    );
    let runner = ScriptedRunner::new(|req| match tool_results(req).first() {
        None => vec![call(
            "r1",
            "remember",
            serde_json::json!({"text": "VIP customer"}),
        )],
        Some(_) => vec![say("noted")],
    });
    let rt = Runtime::start(RuntimeOptions {
        runner: Some(Arc::new(runner)),
        ..support::options(config)
    })
    .await
    .unwrap();
    let reply = rt
        .dispatch_and_wait(&Caller::operator("alice"), "support-agent", "remember this")
        .await
        .unwrap();
    let req = wait_for("the tool hook", Duration::from_secs(10), async || {
        server.requests_to("/hook").into_iter().next()
    })
    .await;
    let body = req.json();
    assert_eq!(body["event"], "tool.called");
    assert_eq!(body["hook"], "on-remember");
    assert_eq!(body["data"]["tool"], "remember");
    assert_eq!(body["intent_id"], reply.intent_id.as_str());
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(
        server.requests_to("/hook").len(),
        1,
        "set_goals was not called"
    );
    rt.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_delivery_waiting_for_a_person_ends_on_record_after_a_restart() {
    let dir = tempfile::tempdir().unwrap();
    let mut config = config_with(
        dir.path(),
        vec![hook(
            "ask-me",
            "intent.done",
            "webhook:http://127.0.0.1:9/never",
        )],
    );
    config.approvals.rules = vec![aios::approvals::Rule {
        agent: "*".into(),
        tool: "hook:*".into(),
        args: Default::default(),
        decision: aios::approvals::RuleDecision::Ask,
        reason: None,
    }];
    let rt = started_after_one_intent(config.clone()).await;
    let waiting = wait_state(&rt, "ask-me", "waiting", Duration::from_secs(10)).await;
    rt.shutdown().await;
    drop(rt);

    let rt = Runtime::start(support::options(config)).await.unwrap();
    let dead = wait_state(&rt, "ask-me", "dead", Duration::from_secs(10)).await;
    assert_eq!(dead.id, waiting.id);
    assert!(
        dead.error.as_deref().unwrap().contains("restarted"),
        "{dead:?}"
    );
    rt.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_429_with_retry_after_waits_as_long_as_the_receiver_asks() {
    let server = ScriptServer::start().await;
    server.route(
        "POST",
        "/hook",
        vec![
            support::http_script::Action::Reply(
                Reply::new(429, "text/plain").header("Retry-After", "2"),
            ),
            support::http_script::Action::Reply(Reply::new(200, "text/plain")),
        ],
    );
    let dir = tempfile::tempdir().unwrap();
    let url = format!("webhook:{}/hook", server.url());
    // The backoff alone would retry after 20 ms.
    let rt = started_after_one_intent(config_with(
        dir.path(),
        vec![hook("notify", "intent.done", &url)],
    ))
    .await;
    wait_for("the first attempt", Duration::from_secs(10), async || {
        (!server.requests_to("/hook").is_empty()).then_some(())
    })
    .await;
    let first = Instant::now();
    wait_state(&rt, "notify", "delivered", Duration::from_secs(10)).await;
    let waited = first.elapsed();
    assert!(
        waited >= Duration::from_millis(1_800),
        "retried after {waited:?}, before the 2 s the receiver asked for"
    );
    assert_eq!(server.requests_to("/hook").len(), 2);
    rt.shutdown().await;
}
