//! The Redis bus against a real `redis-server`: pub/sub, rejections, patterns, the durable
//! intent queue (exactly-once claiming, takeover, dead letters, pinning), prefixes and
//! reconnection after a restart.

mod support;

use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use std::time::{Duration, Instant};

use aios::bus::{
    Bus, BusError, BusState, DEAD_LETTER_STREAM, Delivery, Envelope, INTENT_STREAM, IntentPayload,
    Received, RedisBus, RedisBusOptions, Rejection, Source, channels, kinds,
};
use support::redis_server::RedisServer;
use tokio::sync::broadcast;

/// Every wait in these tests is bounded by this.
const PATIENCE: Duration = Duration::from_secs(15);

fn options(url: &str, node: &str) -> RedisBusOptions {
    RedisBusOptions {
        url: url.into(),
        prefix: String::new(),
        node: node.to_string(),
        max_message_bytes: 64 * 1024,
        claim_idle: Duration::from_secs(30),
        max_deliveries: 5,
        stream_max_len: 100_000,
        outbox: 100,
        pins: HashMap::new(),
        claim_ttl: Duration::from_secs(3600),
    }
}

async fn bus(opts: RedisBusOptions) -> RedisBus {
    RedisBus::connect(opts).await.expect("the bus connects")
}

fn intent(agent: &str, text: &str) -> Envelope {
    Envelope::new(
        kinds::INTENT,
        Source {
            node: "test".into(),
            agent_id: None,
            operator: Some("alice".into()),
        },
        Some(agent),
        serde_json::json!({ "text": text }),
    )
}

/// A plain client, as redis-cli or a script would be.
async fn plain(url: &str) -> redis::aio::MultiplexedConnection {
    redis::Client::open(url)
        .expect("url")
        .get_multiplexed_async_connection()
        .await
        .expect("a plain connection")
}

async fn raw_publish(url: &str, channel: &str, bytes: &[u8]) {
    let mut con = plain(url).await;
    redis::cmd("PUBLISH")
        .arg(channel)
        .arg(bytes)
        .query_async::<i64>(&mut con)
        .await
        .expect("PUBLISH");
}

/// The next received item matching `want`, skipping others; panics after PATIENCE.
async fn next_matching(
    rx: &mut broadcast::Receiver<Received>,
    mut want: impl FnMut(&Received) -> bool,
) -> Received {
    let deadline = tokio::time::Instant::now() + PATIENCE;
    loop {
        match tokio::time::timeout_at(deadline, rx.recv()).await {
            Ok(Ok(r)) if want(&r) => return r,
            Ok(Ok(_)) => {}
            Ok(Err(broadcast::error::RecvError::Lagged(_))) => {}
            Ok(Err(e)) => panic!("subscription closed: {e}"),
            Err(_) => panic!("nothing matching arrived within {PATIENCE:?}"),
        }
    }
}

fn text_of(r: &Received) -> Option<String> {
    match r {
        Received::Message { envelope, .. } => {
            envelope.payload_as::<IntentPayload>().ok().map(|p| p.text)
        }
        Received::Rejected(_) => None,
    }
}

/// Take until `n` deliveries arrived (acknowledging none), or PATIENCE runs out.
async fn take_n(bus: &RedisBus, n: usize) -> Vec<Delivery> {
    let deadline = Instant::now() + PATIENCE;
    let mut got = Vec::new();
    while got.len() < n && Instant::now() < deadline {
        got.extend(
            bus.take_intents(n - got.len(), Duration::from_millis(200))
                .await
                .expect("take"),
        );
    }
    got
}

async fn wait_for(what: &str, mut check: impl FnMut() -> bool) {
    let deadline = Instant::now() + PATIENCE;
    while !check() {
        assert!(Instant::now() < deadline, "{what} within {PATIENCE:?}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[tokio::test]
async fn round_trip_on_the_seed_channels() {
    let redis = RedisServer::start();
    let a = bus(options(&redis.url(), "a")).await;
    let b = bus(options(&redis.url(), "b")).await;
    let mut rx = b.subscribe();
    for ch in [channels::INTENTS, channels::MEMORY, channels::CONTEXT] {
        a.publish(ch, &intent("ops-agent", ch)).await.unwrap();
    }
    for ch in [channels::INTENTS, channels::MEMORY, channels::CONTEXT] {
        let r = next_matching(&mut rx, |_| true).await;
        match r {
            Received::Message { channel, envelope } => {
                assert_eq!(channel, ch);
                assert_eq!(envelope.payload_as::<IntentPayload>().unwrap().text, ch);
            }
            other => panic!("{other:?}"),
        }
    }
    assert_eq!(a.name(), "redis");
    assert_eq!(a.state(), BusState::Connected);
    assert_eq!(a.stats().channels[channels::MEMORY].published, 1);
    assert_eq!(b.stats().channels[channels::MEMORY].received, 1);
}

#[tokio::test]
async fn an_envelope_published_by_a_plain_client_is_decoded() {
    let redis = RedisServer::start();
    let a = bus(options(&redis.url(), "a")).await;
    let mut rx = a.subscribe();
    let raw = r#"{"v":1,"id":"0193a","ts":"2026-11-24T12:00:00.000Z","kind":"context",
        "source":{"node":"edge-1","agent_id":null,"operator":"alice"},
        "agent_id":"support-agent","trace_id":"t","parent_id":null,
        "payload":{"version":3,"context_id":"c","summary":"new goal"}}"#;
    raw_publish(&redis.url(), channels::CONTEXT, raw.as_bytes()).await;
    match next_matching(&mut rx, |_| true).await {
        Received::Message { channel, envelope } => {
            assert_eq!(channel, channels::CONTEXT);
            assert_eq!(envelope.id, "0193a");
            assert_eq!(envelope.source.node, "edge-1");
        }
        other => panic!("{other:?}"),
    }
}

#[tokio::test]
async fn the_minimal_form_is_taken_on_every_seed_channel() {
    let redis = RedisServer::start();
    let a = bus(options(&redis.url(), "a")).await;
    let mut rx = a.subscribe();
    // As n8n or a shell script publishes: plain JSON, no envelope.
    for (channel, kind) in [
        (channels::INTENTS, kinds::INTENT),
        (channels::MEMORY, kinds::MEMORY),
        (channels::CONTEXT, kinds::CONTEXT),
    ] {
        let text = format!("plain on {channel}");
        let raw = serde_json::json!({"agent_id": "ops-agent", "text": text, "operator": "n8n"});
        raw_publish(&redis.url(), channel, raw.to_string().as_bytes()).await;
        let heard = next_matching(&mut rx, |r| r.channel() == channel).await;
        let Received::Message { envelope, .. } = heard else {
            panic!("rejected on {channel}: {heard:?}")
        };
        assert_eq!(envelope.kind, kind);
        assert_eq!(envelope.agent_id.as_deref(), Some("ops-agent"));
        assert_eq!(envelope.source.node, "external");
        assert_eq!(envelope.summary().trim_start_matches("v0 "), text);
    }
    assert!(a.stats().rejected.is_empty(), "{:?}", a.stats().rejected);
    // And what is not even JSON is said in words.
    raw_publish(&redis.url(), channels::MEMORY, br#"{"agent_id":x}"#).await;
    let Received::Rejected(r) =
        next_matching(&mut rx, |r| matches!(r, Received::Rejected(_))).await
    else {
        unreachable!()
    };
    assert_eq!(
        r.to_string(),
        "rejected: not JSON at byte 12: expected value"
    );
}

#[tokio::test]
async fn a_minimal_intent_heard_by_two_nodes_is_queued_once() {
    let redis = RedisServer::start();
    let a = bus(options(&redis.url(), "a")).await;
    let b = bus(options(&redis.url(), "b")).await;
    let (mut rxa, mut rxb) = (a.subscribe(), b.subscribe());
    raw_publish(
        &redis.url(),
        channels::INTENTS,
        br#"{"agent_id":"support-agent","text":"from redis-cli"}"#,
    )
    .await;
    // Both nodes hear it, completed the same way.
    let ea = next_matching(&mut rxa, |r| matches!(r, Received::Message { .. })).await;
    let eb = next_matching(&mut rxb, |r| matches!(r, Received::Message { .. })).await;
    let (Received::Message { envelope: ea, .. }, Received::Message { envelope: eb, .. }) = (ea, eb)
    else {
        unreachable!()
    };
    assert_eq!(ea.id, eb.id);
    assert_eq!(ea.source.node, "external");

    let first = take_n(&a, 1).await;
    let mut all = first.clone();
    // Whatever either node can still take within a while: nothing.
    for _ in 0..3 {
        all.extend(
            a.take_intents(10, Duration::from_millis(100))
                .await
                .unwrap(),
        );
        all.extend(
            b.take_intents(10, Duration::from_millis(100))
                .await
                .unwrap(),
        );
    }
    assert_eq!(all.len(), 1, "queued exactly once: {all:?}");
    assert_eq!(all[0].envelope.id, ea.id);
    assert_eq!(all[0].attempts, 1);
    assert_eq!(
        all[0].envelope.payload_as::<IntentPayload>().unwrap().text,
        "from redis-cli"
    );
}

#[tokio::test]
async fn bad_input_is_rejected_counted_and_traffic_goes_on() {
    let redis = RedisServer::start();
    let mut opts = options(&redis.url(), "a");
    opts.max_message_bytes = 256;
    let a = bus(opts).await;
    let mut rx = a.subscribe();
    a.publish_raw(channels::MEMORY, b"not json").await.unwrap();
    a.publish_raw(channels::MEMORY, br#"{"v":9,"id":"a","kind":"k"}"#)
        .await
        .unwrap();
    a.publish_raw(channels::MEMORY, &[b'x'; 300]).await.unwrap();
    a.publish(channels::MEMORY, &intent("ops-agent", "still here"))
        .await
        .unwrap();
    let mut reasons = Vec::new();
    loop {
        match next_matching(&mut rx, |_| true).await {
            Received::Rejected(r) => reasons.push(r.reason),
            Received::Message { envelope, .. } => {
                assert_eq!(
                    envelope.payload_as::<IntentPayload>().unwrap().text,
                    "still here"
                );
                break;
            }
        }
    }
    assert!(
        matches!(reasons[0], Rejection::NotJson { .. }),
        "{reasons:?}"
    );
    assert_eq!(reasons[1], Rejection::UnknownVersion { version: 9 });
    assert_eq!(
        reasons[2],
        Rejection::TooLarge {
            bytes: 300,
            max: 256
        }
    );
    let stats = a.stats();
    assert_eq!(stats.channels[channels::MEMORY].rejected, 3);
    assert_eq!(stats.channels[channels::MEMORY].received, 1);
    assert_eq!(stats.rejected.len(), 3);
    // Too large to send is refused before it leaves.
    let big = intent("ops-agent", &"y".repeat(300));
    assert!(matches!(
        a.publish(channels::MEMORY, &big).await,
        Err(BusError::Rejected(Rejection::TooLarge { .. }))
    ));
}

#[tokio::test]
async fn a_pattern_added_at_runtime_is_heard() {
    let redis = RedisServer::start();
    let a = bus(options(&redis.url(), "a")).await;
    let mut rx = a.subscribe();
    a.add_pattern("ops.*").await.unwrap();
    // Overlapping subscriptions still deliver each message once.
    a.add_pattern("ops.dep*").await.unwrap();
    a.add_pattern("agent.*").await.unwrap();
    a.publish("ops.deploy", &intent("ops-agent", "deploy"))
        .await
        .unwrap();
    a.publish("sec.audit", &intent("sec-agent", "not heard"))
        .await
        .unwrap();
    a.publish(channels::MEMORY, &intent("ops-agent", "seed"))
        .await
        .unwrap();
    let mut heard = Vec::new();
    while heard.len() < 2 {
        let r = next_matching(&mut rx, |_| true).await;
        if let Received::Message { channel, .. } = &r {
            heard.push((channel.clone(), text_of(&r).unwrap()));
        }
    }
    // A marker after everything: nothing else arrived before it.
    a.publish("ops.marker", &intent("ops-agent", "marker"))
        .await
        .unwrap();
    let r = next_matching(&mut rx, |_| true).await;
    heard.push((String::new(), text_of(&r).unwrap()));
    assert_eq!(
        heard,
        vec![
            ("ops.deploy".to_string(), "deploy".to_string()),
            (channels::MEMORY.to_string(), "seed".to_string()),
            (String::new(), "marker".to_string()),
        ]
    );
}

#[tokio::test]
async fn an_intent_sent_while_no_node_runs_is_taken_later() {
    let redis = RedisServer::start();
    let env = intent("ops-agent", "while nobody listens");
    {
        let sender = bus(options(&redis.url(), "cli")).await;
        sender.send_intent(&env).await.unwrap();
        // The same id again is not queued twice.
        sender.send_intent(&env).await.unwrap();
    }
    let later = bus(options(&redis.url(), "node-1")).await;
    let got = take_n(&later, 1).await;
    assert_eq!(got.len(), 1);
    assert_eq!(got[0].envelope, env);
    later.ack(&got[0]).await.unwrap();
    assert!(
        later
            .take_intents(10, Duration::from_millis(100))
            .await
            .unwrap()
            .is_empty()
    );
}

#[tokio::test]
async fn an_unacknowledged_intent_is_taken_over_after_claim_idle() {
    let redis = RedisServer::start();
    let mut opts = options(&redis.url(), "dies");
    opts.claim_idle = Duration::from_millis(200);
    let env = intent("ops-agent", "half done");
    {
        let dies = bus(opts.clone()).await;
        dies.send_intent(&env).await.unwrap();
        let got = take_n(&dies, 1).await;
        assert_eq!(got.len(), 1);
        assert_eq!(got[0].attempts, 1);
        // Dropped without ack: the node died mid-intent.
    }
    opts.node = "survives".into();
    let survivor = bus(opts).await;
    let got = take_n(&survivor, 1).await;
    assert_eq!(got.len(), 1, "taken over");
    assert_eq!(got[0].envelope.id, env.id);
    assert_eq!(got[0].attempts, 2);
    survivor.ack(&got[0]).await.unwrap();
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert!(
        survivor
            .take_intents(10, Duration::from_millis(100))
            .await
            .unwrap()
            .is_empty(),
        "acknowledged: never again"
    );
}

/// The delivery count of every pending entry of the intent stream.
async fn delivery_counts(url: &str) -> Vec<i64> {
    let mut con = plain(url).await;
    let pending: Vec<(String, String, i64, i64)> = redis::cmd("XPENDING")
        .arg(INTENT_STREAM)
        .arg("runtime")
        .arg("-")
        .arg("+")
        .arg(1000)
        .query_async(&mut con)
        .await
        .unwrap();
    pending.into_iter().map(|p| p.3).collect()
}

#[tokio::test]
async fn a_node_never_takes_over_what_it_still_holds() {
    let redis = RedisServer::start();
    let mut opts = options(&redis.url(), "slow");
    opts.claim_idle = Duration::from_millis(200);
    opts.max_deliveries = 2;
    let slow = bus(opts.clone()).await;
    for i in 0..3 {
        slow.send_intent(&intent("ops-agent", &format!("queued {i}")))
            .await
            .unwrap();
    }
    let held = take_n(&slow, 3).await;
    assert_eq!(held.len(), 3);
    opts.node = "idle".into();
    let other = bus(opts).await;
    // Held for many times claim_idle (a slow runner, a long queue): neither this node nor
    // another takes them again, and no delivery is counted towards the dead letters.
    let until = Instant::now() + Duration::from_millis(1500);
    while Instant::now() < until {
        for b in [&slow, &other] {
            let again = b.take_intents(10, Duration::from_millis(50)).await.unwrap();
            assert!(again.is_empty(), "{} took {again:?}", b.node());
        }
    }
    assert_eq!(delivery_counts(&redis.url()).await, vec![1, 1, 1]);
    for d in &held {
        slow.ack(d).await.unwrap();
    }
    assert!(delivery_counts(&redis.url()).await.is_empty());
    assert_eq!(slow.dead_lettered() + other.dead_lettered(), 0);
}

#[tokio::test]
async fn a_restarted_node_takes_back_its_own_unfinished_intents_at_once() {
    let redis = RedisServer::start();
    // claim_idle far beyond the test: only the restarted node itself may take them now.
    let opts = options(&redis.url(), "edge-1");
    let sent = [intent("ops-agent", "one"), intent("dev-agent", "two")];
    {
        let before = bus(opts.clone()).await;
        for env in &sent {
            before.send_intent(env).await.unwrap();
        }
        assert_eq!(take_n(&before, 2).await.len(), 2);
        // Killed: nothing acknowledged.
    }
    let after = bus(opts).await;
    let started = Instant::now();
    let got = take_n(&after, 2).await;
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "{:?}",
        started.elapsed()
    );
    let mut ids: Vec<_> = got.iter().map(|d| d.envelope.id.clone()).collect();
    ids.sort();
    let mut want: Vec<_> = sent.iter().map(|e| e.id.clone()).collect();
    want.sort();
    assert_eq!(ids, want);
    assert!(got.iter().all(|d| d.attempts == 2), "{got:?}");
    for d in &got {
        after.ack(d).await.unwrap();
    }
    assert!(
        after
            .take_intents(10, Duration::from_millis(100))
            .await
            .unwrap()
            .is_empty()
    );
}

#[tokio::test]
async fn poison_intents_go_to_the_dead_letters() {
    let redis = RedisServer::start();
    let mut opts = options(&redis.url(), "dies");
    opts.claim_idle = Duration::from_millis(200);
    opts.max_deliveries = 1;
    {
        let dies = bus(opts.clone()).await;
        dies.send_intent(&intent("ops-agent", "poison"))
            .await
            .unwrap();
        assert_eq!(take_n(&dies, 1).await.len(), 1);
    }
    opts.node = "survives".into();
    let survivor = bus(opts).await;
    // An entry that is not an envelope at all, written by something else.
    let mut con = plain(&redis.url()).await;
    redis::cmd("XADD")
        .arg(INTENT_STREAM)
        .arg("*")
        .arg("envelope")
        .arg("garbage")
        .query_async::<String>(&mut con)
        .await
        .unwrap();
    let deadline = Instant::now() + PATIENCE;
    let mut delivered = Vec::new();
    while survivor.dead_lettered() < 2 && Instant::now() < deadline {
        delivered.extend(
            survivor
                .take_intents(10, Duration::from_millis(100))
                .await
                .unwrap(),
        );
    }
    assert!(delivered.is_empty(), "{delivered:?}");
    assert_eq!(survivor.dead_lettered(), 2);
    let dead: i64 = redis::cmd("XLEN")
        .arg(DEAD_LETTER_STREAM)
        .query_async(&mut con)
        .await
        .unwrap();
    assert_eq!(dead, 2);
    let pending: redis::Value = redis::cmd("XPENDING")
        .arg(INTENT_STREAM)
        .arg("runtime")
        .query_async(&mut con)
        .await
        .unwrap();
    let redis::Value::Array(summary) = pending else {
        panic!("{pending:?}")
    };
    assert_eq!(summary[0], redis::Value::Int(0), "nothing left pending");
    assert_eq!(survivor.stats().channels[INTENT_STREAM].rejected, 1);
}

#[tokio::test]
async fn after_a_redis_restart_the_same_bus_works_again() {
    let mut redis = RedisServer::start();
    let a = bus(options(&redis.url(), "a")).await;
    let mut rx = a.subscribe();
    a.add_pattern("ops.*").await.unwrap();

    redis.stop();
    wait_for("the state shows reconnecting", || {
        matches!(a.state(), BusState::Reconnecting { .. })
    })
    .await;
    // Sent while Redis is away: kept, in order, and visible in the state.
    // A pattern added now is subscribed once the connection is back.
    a.add_pattern("sec.*").await.unwrap();
    let env = intent("ops-agent", "sent during the outage");
    a.send_intent(&env).await.unwrap();
    match a.state() {
        BusState::Reconnecting { buffered, attempt } => {
            assert_eq!(buffered, 1);
            assert!(attempt >= 1);
        }
        other => panic!("{other:?}"),
    }
    assert!(
        a.take_intents(1, Duration::from_millis(50))
            .await
            .unwrap()
            .is_empty()
    );

    let restarted = Instant::now();
    redis.restart();
    wait_for("connected again", || a.state() == BusState::Connected).await;
    eprintln!(
        "recovered {:?} after redis-server answered again",
        restarted.elapsed()
    );
    assert!(a.stats().reconnects >= 1);

    // The buffered intent reached the (new, empty) stream.
    let got = take_n(&a, 1).await;
    assert_eq!(got.len(), 1);
    assert_eq!(got[0].envelope.id, env.id);
    a.ack(&got[0]).await.unwrap();

    // Subscriptions, seed and pattern, are back.
    let other = bus(options(&redis.url(), "b")).await;
    other
        .publish(channels::MEMORY, &intent("ops-agent", "after"))
        .await
        .unwrap();
    other
        .publish("ops.deploy", &intent("ops-agent", "pattern after"))
        .await
        .unwrap();
    next_matching(&mut rx, |r| text_of(r).as_deref() == Some("after")).await;
    next_matching(&mut rx, |r| text_of(r).as_deref() == Some("pattern after")).await;
    other
        .publish("sec.audit", &intent("sec-agent", "added while away"))
        .await
        .unwrap();
    next_matching(&mut rx, |r| {
        text_of(r).as_deref() == Some("added while away")
    })
    .await;

    // And the queue works for new intents.
    let env2 = intent("ops-agent", "new");
    other.send_intent(&env2).await.unwrap();
    let got = take_n(&a, 1).await;
    assert_eq!(got.len(), 1);
    assert_eq!(got[0].envelope.id, env2.id);
}

#[tokio::test]
async fn the_outbox_is_bounded() {
    let mut redis = RedisServer::start();
    let mut opts = options(&redis.url(), "a");
    opts.outbox = 2;
    let a = bus(opts).await;
    redis.stop();
    wait_for("the state shows reconnecting", || {
        matches!(a.state(), BusState::Reconnecting { .. })
    })
    .await;
    let env = intent("ops-agent", "x");
    a.publish(channels::MEMORY, &env).await.unwrap();
    a.publish(channels::MEMORY, &env).await.unwrap();
    assert!(matches!(
        a.publish(channels::MEMORY, &env).await,
        Err(BusError::BufferFull(2))
    ));
}

#[tokio::test]
async fn connect_fails_fast_naming_the_url() {
    let mut redis = RedisServer::start();
    let url = redis.url();
    redis.stop();
    let started = Instant::now();
    let err = match RedisBus::connect(options(&url, "a")).await {
        Ok(_) => panic!("connected to nothing"),
        Err(e) => e.to_string(),
    };
    assert!(err.contains(&url), "{err}");
    assert!(started.elapsed() < Duration::from_secs(10));
}

#[tokio::test]
async fn two_nodes_take_a_thousand_intents_exactly_once() {
    const N: usize = 1000;
    let redis = RedisServer::start();
    let a = Arc::new(bus(options(&redis.url(), "a")).await);
    let b = Arc::new(bus(options(&redis.url(), "b")).await);
    let sender = bus(options(&redis.url(), "sender")).await;
    let mut sent = HashSet::new();
    for i in 0..N {
        let env = intent("ops-agent", &format!("job {i}"));
        sent.insert(env.id.clone());
        sender.send_intent(&env).await.unwrap();
    }
    let worker = |bus: Arc<RedisBus>| {
        tokio::spawn(async move {
            let mut ids = Vec::new();
            let deadline = Instant::now() + Duration::from_secs(60);
            let mut idle = 0;
            while Instant::now() < deadline && idle < 5 {
                let got = bus
                    .take_intents(25, Duration::from_millis(100))
                    .await
                    .unwrap();
                if got.is_empty() {
                    idle += 1;
                }
                for d in got {
                    idle = 0;
                    bus.ack(&d).await.unwrap();
                    ids.push(d.envelope.id);
                }
            }
            ids
        })
    };
    let (ta, tb) = (worker(a.clone()), worker(b.clone()));
    let (ia, ib) = (ta.await.unwrap(), tb.await.unwrap());
    let mut seen = HashSet::new();
    for id in ia.iter().chain(&ib) {
        assert!(seen.insert(id.clone()), "{id} taken twice");
    }
    assert_eq!(seen, sent, "every intent taken");
    eprintln!("node a took {}, node b took {}", ia.len(), ib.len());
}

#[tokio::test]
async fn a_pinned_agents_intent_is_taken_only_by_its_node() {
    let redis = RedisServer::start();
    let pins: HashMap<String, String> = [("ops-agent".to_string(), "node-a".to_string())].into();
    let mut oa = options(&redis.url(), "node-a");
    oa.pins = pins.clone();
    let mut ob = options(&redis.url(), "node-b");
    ob.pins = pins;
    let a = bus(oa).await;
    let b = bus(ob).await;
    // One sent by a pinned-aware node, one by a tool that knows no pins.
    let unaware = bus(options(&redis.url(), "cli")).await;
    let pinned = intent("ops-agent", "pinned");
    let unpinned_sender = intent("ops-agent", "from a node without the pin");
    let free = intent("seo-agent", "anyone");
    b.send_intent(&pinned).await.unwrap();
    unaware.send_intent(&unpinned_sender).await.unwrap();
    b.send_intent(&free).await.unwrap();

    let mut by_b = Vec::new();
    for _ in 0..3 {
        by_b.extend(
            b.take_intents(10, Duration::from_millis(100))
                .await
                .unwrap(),
        );
    }
    let by_b: Vec<&str> = by_b.iter().map(|d| d.envelope.id.as_str()).collect();
    assert!(!by_b.contains(&pinned.id.as_str()));
    assert!(!by_b.contains(&unpinned_sender.id.as_str()));

    let mut by_a = take_n(&a, 2).await;
    by_a.extend(
        a.take_intents(10, Duration::from_millis(100))
            .await
            .unwrap(),
    );
    let by_a: HashSet<&str> = by_a.iter().map(|d| d.envelope.id.as_str()).collect();
    assert!(by_a.contains(pinned.id.as_str()));
    assert!(by_a.contains(unpinned_sender.id.as_str()));
    // The free intent went to exactly one of them.
    assert_eq!(
        usize::from(by_a.contains(free.id.as_str()))
            + usize::from(by_b.contains(&free.id.as_str())),
        1
    );
}

#[tokio::test]
async fn prefixes_isolate_deployments() {
    let redis = RedisServer::start();
    let mut op = options(&redis.url(), "n");
    op.prefix = "prod:".into();
    let mut os = options(&redis.url(), "n");
    os.prefix = "staging:".into();
    let prod = bus(op).await;
    let staging = bus(os).await;
    let (mut rp, mut rs) = (prod.subscribe(), staging.subscribe());
    prod.add_pattern("ops.*").await.unwrap();
    staging.add_pattern("ops.*").await.unwrap();

    prod.publish(channels::MEMORY, &intent("ops-agent", "prod only"))
        .await
        .unwrap();
    prod.publish("ops.x", &intent("ops-agent", "prod pattern"))
        .await
        .unwrap();
    prod.send_intent(&intent("ops-agent", "prod intent"))
        .await
        .unwrap();
    staging
        .publish(channels::MEMORY, &intent("ops-agent", "staging only"))
        .await
        .unwrap();

    let mut heard_prod = Vec::new();
    for _ in 0..3 {
        heard_prod.push(text_of(&next_matching(&mut rp, |_| true).await).unwrap());
    }
    assert_eq!(heard_prod, ["prod only", "prod pattern", "prod intent"]);
    // Staging hears its own message first and nothing of prod's.
    let r = next_matching(&mut rs, |_| true).await;
    assert_eq!(text_of(&r).as_deref(), Some("staging only"));
    assert!(
        staging
            .take_intents(10, Duration::from_millis(200))
            .await
            .unwrap()
            .is_empty()
    );
    assert_eq!(take_n(&prod, 1).await.len(), 1);
    let r = tokio::time::timeout(Duration::from_millis(300), rs.recv()).await;
    assert!(r.is_err(), "staging heard {r:?}");

    let mut con = plain(&redis.url()).await;
    let len: i64 = redis::cmd("XLEN")
        .arg(format!("prod:{INTENT_STREAM}"))
        .query_async(&mut con)
        .await
        .unwrap();
    assert_eq!(len, 1);
}

#[tokio::test]
async fn a_waiting_take_wakes_for_a_new_intent_and_does_not_hold_up_publishing() {
    let redis = RedisServer::start();
    let a = Arc::new(bus(options(&redis.url(), "a")).await);
    let mut rx = a.subscribe();
    let waiter = {
        let a = a.clone();
        tokio::spawn(async move { a.take_intents(1, Duration::from_secs(10)).await })
    };
    // While the take waits in XREADGROUP BLOCK, publishing goes through.
    a.publish(channels::MEMORY, &intent("ops-agent", "meanwhile"))
        .await
        .unwrap();
    next_matching(&mut rx, |r| text_of(r).as_deref() == Some("meanwhile")).await;
    let env = intent("ops-agent", "late");
    a.send_intent(&env).await.unwrap();
    let got = waiter.await.unwrap().unwrap();
    assert_eq!(got.len(), 1);
    assert_eq!(got[0].envelope.id, env.id);
}

#[tokio::test]
async fn a_full_stream_refuses_out_loud_and_makes_room_as_intents_are_handled() {
    let redis = RedisServer::start();
    let mut opts = options(&redis.url(), "n1");
    opts.stream_max_len = 2;
    let n1 = bus(opts).await;
    let mut refusals = n1
        .refusals()
        .expect("the Redis bus gives its refusals once");
    assert!(n1.refusals().is_none());
    let mut heard = n1.subscribe();
    for text in ["one", "two"] {
        n1.send_intent(&intent("ops-agent", text)).await.unwrap();
    }
    // A dispatch through this node is refused at once, with the reason.
    let err = n1
        .send_intent(&intent("ops-agent", "three"))
        .await
        .unwrap_err();
    assert!(
        matches!(
            err,
            BusError::Rejected(Rejection::BacklogFull {
                unhandled: 2,
                max: 2
            })
        ),
        "{err:?}"
    );
    // One an outside tool publishes is refused, shown as a rejection, and handed over to
    // be answered.
    raw_publish(
        &redis.url(),
        channels::INTENTS,
        br#"{"agent_id":"ops-agent","text":"from outside"}"#,
    )
    .await;
    let refused = tokio::time::timeout(PATIENCE, refusals.recv())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(refused.envelope.source.node, "external");
    assert_eq!(
        refused.reason.to_string(),
        "refused: 2 intents are already waiting to be handled (bus.stream_max_len = 2); \
         publish it again later"
    );
    let shown = next_matching(&mut heard, |r| matches!(r, Received::Rejected(_))).await;
    let Received::Rejected(shown) = shown else {
        unreachable!()
    };
    assert_eq!(shown.channel, channels::INTENTS);
    assert_eq!(shown.reason, refused.reason);
    // Handled (acknowledged) entries are trimmed to make room; unhandled ones never are.
    let taken = take_n(&n1, 2).await;
    n1.ack(&taken[0]).await.unwrap();
    n1.send_intent(&intent("ops-agent", "four")).await.unwrap();
    assert!(
        n1.send_intent(&intent("ops-agent", "five")).await.is_err(),
        "still two unhandled"
    );
    n1.ack(&taken[1]).await.unwrap();
    let rest = take_n(&n1, 1).await;
    assert_eq!(text_of_delivery(&rest[0]), "four");
}

fn text_of_delivery(d: &Delivery) -> String {
    d.envelope.payload_as::<IntentPayload>().unwrap().text
}

#[tokio::test]
async fn a_subscriber_redis_cuts_off_reconnects_says_so_and_hears_again() {
    let redis = RedisServer::start();
    let n1 = bus(options(&redis.url(), "n1")).await;
    let mut rx = n1.subscribe();
    let mut con = plain(&redis.url()).await;
    // What Redis does to a subscriber past its client-output-buffer-limit.
    let killed: i64 = redis::cmd("CLIENT")
        .arg("KILL")
        .arg("TYPE")
        .arg("pubsub")
        .query_async(&mut con)
        .await
        .unwrap();
    assert_eq!(killed, 2, "the intents link and the other channels' link");
    wait_for("a reconnection counted", || n1.stats().reconnects >= 1).await;
    assert_eq!(n1.state(), BusState::Connected);
    for ch in [channels::INTENTS, channels::MEMORY] {
        let text = format!("after the cut on {ch}");
        let env = intent("ops-agent", &text);
        n1.publish(ch, &env).await.unwrap();
        let got = next_matching(&mut rx, |r| text_of(r).as_deref() == Some(text.as_str())).await;
        assert_eq!(got.channel(), ch);
    }
}

#[tokio::test]
async fn of_two_nodes_one_answers_a_refusal_and_a_retry_is_taken_once_there_is_room() {
    let redis = RedisServer::start();
    let mut opts = options(&redis.url(), "a");
    opts.stream_max_len = 1;
    let a = bus(opts.clone()).await;
    opts.node = "b".into();
    let b = bus(opts).await;
    let (mut ra, mut rb) = (a.refusals().unwrap(), b.refusals().unwrap());
    a.send_intent(&intent("ops-agent", "fills the stream"))
        .await
        .unwrap();
    let raw = br#"{"agent_id":"ops-agent","text":"refused, then retried"}"#;
    raw_publish(&redis.url(), channels::INTENTS, raw).await;
    let mut answered = 0;
    let until = Instant::now() + Duration::from_millis(1500);
    while Instant::now() < until {
        tokio::select! {
            Some(_) = ra.recv() => answered += 1,
            Some(_) = rb.recv() => answered += 1,
            () = tokio::time::sleep(Duration::from_millis(50)) => {}
        }
    }
    assert_eq!(answered, 1, "both nodes heard it, one answered");
    // Room again: the retry (the same bytes, the same id) is taken, once.
    let first = take_n(&a, 1).await;
    a.ack(&first[0]).await.unwrap();
    raw_publish(&redis.url(), channels::INTENTS, raw).await;
    let mut got = Vec::new();
    let until = Instant::now() + Duration::from_millis(1500);
    while Instant::now() < until {
        for n in [&a, &b] {
            got.extend(n.take_intents(10, Duration::from_millis(50)).await.unwrap());
        }
    }
    assert_eq!(got.len(), 1, "{got:?}");
    assert_eq!(text_of_delivery(&got[0]), "refused, then retried");
    assert!(
        ra.try_recv().is_err() && rb.try_recv().is_err(),
        "no refusal this time"
    );
}

#[tokio::test]
async fn a_heard_intent_goes_on_the_stream_with_its_secrets_masked() {
    let redis = RedisServer::start();
    let n1 = bus(options(&redis.url(), "n1")).await;
    raw_publish(
        &redis.url(),
        channels::INTENTS,
        br#"{"agent_id":"ops-agent","text":"deploy with AKIAIOSFODNN7EXAMPLE now"}"#,
    )
    .await;
    let got = take_n(&n1, 1).await;
    assert_eq!(got.len(), 1);
    let text = text_of_delivery(&got[0]);
    assert!(!text.contains("AKIAIOSFODNN7EXAMPLE"), "{text}");
    assert!(text.starts_with("deploy with "), "{text}");
    let mut con = plain(&redis.url()).await;
    let raw: redis::Value = redis::cmd("XRANGE")
        .arg(INTENT_STREAM)
        .arg("-")
        .arg("+")
        .query_async(&mut con)
        .await
        .unwrap();
    assert!(!format!("{raw:?}").contains("AKIAIOSFODNN7EXAMPLE"));
}
