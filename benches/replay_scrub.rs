//! Replay of a one-hour recording with 1,000,000 entries: loading it, playing it at 100×
//! with a frame drawn at 200×60 every 1/30 s (targets: frame p99 < 2 ms), and seeking to
//! random points (target: < 100 ms each).
//!
//! The recording is made here: a day's traffic pattern of 30 agents (intents, statuses,
//! gathered tokens, audit records, bus messages, context versions), sealed into the real
//! chain format with times spread over one hour.
//!
//! `cargo bench --bench replay_scrub`; AIOS_BENCH_ENTRIES sets the size (default 1,000,000).

#[path = "support/rss.rs"]
mod rss;
use rss::rss_mib;

use std::hint::black_box;
use std::io::Write;
use std::sync::Arc;
use std::time::{Duration, Instant};

use aios::audit::{AuditRecord, GENESIS_HASH, Outcome};
use aios::bus::{Envelope, Received, Source, channels, kinds};
use aios::event::{AgentStatus, RuntimeEvent};
use aios::recorder::{Entry, Kind, Range};
use aios::replay::{Player, Timeline};
use aios::tui::{Action, draw};
use chrono::{DateTime, Utc};
use ratatui::Terminal;
use ratatui::backend::TestBackend;
use serde_json::{Value, json};

#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn pct(v: &mut [f64], p: f64) -> f64 {
    v.sort_by(f64::total_cmp);
    v[((v.len() as f64 - 1.0) * p).round() as usize]
}

struct Writer {
    out: std::io::BufWriter<std::fs::File>,
    seq: u64,
    prev: String,
    start: DateTime<Utc>,
    span_us: i64,
    total: u64,
}

impl Writer {
    fn put(&mut self, kind: Kind, agent: Option<&str>, intent: Option<&str>, body: Value) {
        let t = self.start
            + chrono::Duration::microseconds(self.span_us * self.seq as i64 / self.total as i64);
        let mut e = Entry {
            seq: self.seq,
            t: aios::recorder::timestamp(t),
            kind,
            agent_id: agent.map(str::to_string),
            intent_id: intent.map(str::to_string),
            body,
            prev_hash: std::mem::take(&mut self.prev),
            hash: String::new(),
        };
        let line = e.seal();
        self.out.write_all(&line).expect("write");
        self.prev = e.hash;
        self.seq += 1;
    }

    fn event(&mut self, ev: RuntimeEvent) {
        let agent = ev.agent_id().map(str::to_string);
        let intent = ev.intent_id().map(str::to_string);
        let body = serde_json::to_value(&ev).expect("json");
        self.put(Kind::Event, agent.as_deref(), intent.as_deref(), body);
    }
}

/// A one-hour recording of `total` entries in `dir`.
fn make(dir: &std::path::Path, total: u64) {
    let catalog = aios::agent::Catalog::builtin();
    let agents: Vec<_> = catalog.agents().to_vec();
    let file = std::fs::File::create(dir.join(aios::recorder::segment_name(1))).expect("file");
    let start = Utc::now() - chrono::Duration::hours(1);
    let mut w = Writer {
        out: std::io::BufWriter::with_capacity(1 << 20, file),
        seq: 0,
        prev: GENESIS_HASH.to_string(),
        start,
        span_us: 3_600_000_000,
        total,
    };
    let info = json!({"node": "edge-1", "data_dir": "/var/lib/aios", "bus": "redis", "store": "redis",
        "memory": "qdrant", "embedder": "minilm", "runner": "ollama", "model": "llama3", "agents": 30});
    w.put(
        Kind::Start,
        None,
        None,
        json!({"source": "owner", "info": info, "agents": agents, "status": {}}),
    );
    let mut audit_seq = 0u64;
    let mut versions = std::collections::HashMap::new();
    let mut i = 0u64;
    while w.seq < total {
        let spec = &agents[(i % agents.len() as u64) as usize];
        let agent = spec.id.as_str();
        let intent = format!("01a2{i:028x}");
        w.event(RuntimeEvent::IntentQueued {
            agent_id: agent.into(),
            intent_id: intent.clone(),
            text: format!("intent {i}: check the staging rollout and report"),
            operator: "tui:alice".into(),
            trace_id: Some(intent.clone()),
            depth: 0,
        });
        let env = Envelope::new(
            kinds::INTENT,
            Source::node("edge-1"),
            Some(agent),
            json!({"text": "check the staging rollout"}),
        );
        let bus = serde_json::to_value(Received::Message {
            channel: channels::INTENTS.into(),
            envelope: Arc::new(env),
        })
        .expect("json");
        w.put(Kind::Bus, Some(agent), None, bus);
        for action in ["dispatch_intent", "recall", "get_agent", "get_context"] {
            let r = AuditRecord {
                seq: audit_seq,
                id: format!("01a3{audit_seq:028x}"),
                timestamp: "2026-12-01T10:00:00.000Z".into(),
                agent_id: Some(agent.into()),
                action: action.into(),
                input: json!({"agent_id": agent}),
                context_id: None,
                caller: format!("agent:{agent}"),
                outcome: Outcome::Ok,
                error: None,
                duration_ms: 0.4,
                intent_id: Some(intent.clone()),
                trace_id: Some(intent.clone()),
                parent_id: None,
                prev_hash: GENESIS_HASH.into(),
                hash: "0".repeat(64),
            };
            audit_seq += 1;
            w.put(
                Kind::Audit,
                Some(agent),
                Some(&intent),
                serde_json::to_value(&r).expect("json"),
            );
        }
        for status in [AgentStatus::Thinking, AgentStatus::Streaming] {
            w.event(RuntimeEvent::Status {
                agent_id: agent.into(),
                status,
            });
        }
        for k in 0..30 {
            w.event(RuntimeEvent::Token {
                agent_id: agent.into(),
                intent_id: intent.clone(),
                text: format!("step {k}: the rollout of build {i} looks healthy; "),
                thinking: false,
            });
        }
        let v = versions.entry(agent.to_string()).or_insert(0u64);
        *v += 1;
        w.event(RuntimeEvent::IntentDone {
            agent_id: agent.into(),
            intent_id: intent.clone(),
            reply: "The rollout looks healthy.".into(),
            context_version: *v,
            runner: "ollama".into(),
            model: "llama3".into(),
            tokens: 240,
        });
        w.event(RuntimeEvent::ContextUpdated {
            agent_id: agent.into(),
            version: *v,
            context_id: format!("01a4{i:028x}"),
            summary: format!("intent {i}"),
        });
        w.put(Kind::ContextVersion, Some(agent), None, json!({
            "agent_id": agent, "version": *v, "context_id": format!("01a4{i:028x}"),
            "created_at": "2026-12-01T10:00:00.000Z", "summary": format!("intent {i}"),
            "cause": {"caller": format!("agent:{agent}"), "intent_id": intent},
            "text": format!("# {agent} context\n\n## Latest intent\nintent {i}\n\n## Latest reply\nThe rollout of build {i} looks healthy.\n"),
        }));
        w.event(RuntimeEvent::Status {
            agent_id: agent.into(),
            status: AgentStatus::Idle,
        });
        i += 1;
    }
    w.out.flush().expect("flush");
}

fn main() {
    let total: u64 = std::env::var("AIOS_BENCH_ENTRIES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(1_000_000);
    let dir = tempfile::tempdir().expect("temp dir");
    let t = Instant::now();
    make(dir.path(), total);
    let bytes = std::fs::metadata(dir.path().join(aios::recorder::segment_name(1)))
        .map(|m| m.len())
        .unwrap_or(0);
    println!(
        "recording made:        {total} entries, {:.0} MiB, in {:.1} s",
        bytes as f64 / 1048576.0,
        t.elapsed().as_secs_f64()
    );

    let rss0 = rss_mib();
    let t = Instant::now();
    let rec = aios::recorder::read(dir.path(), Range::default()).expect("read");
    let read_s = t.elapsed().as_secs_f64();
    let t = Instant::now();
    let checked = aios::recorder::verify(dir.path()).expect("verify");
    assert!(checked.first_bad.is_none());
    let verify_s = t.elapsed().as_secs_f64();
    let t = Instant::now();
    let tl = Arc::new(Timeline::build(&rec.entries));
    drop(rec);
    let build_s = t.elapsed().as_secs_f64();
    let (w, h) = (200u16, 60u16);
    let mut template = aios::tui::replay_loop::template_app(&tl, 500);
    template.update(Action::Resize(w, h));
    let rss_timeline = rss_mib();
    let t = Instant::now();
    let mut player = Player::new(tl.clone(), template);
    let checkpoints_s = t.elapsed().as_secs_f64();
    println!(
        "load: read {read_s:.1} s, verify {verify_s:.1} s, timeline {build_s:.1} s, checkpoints {checkpoints_s:.1} s"
    );
    println!(
        "RSS: {rss0:.0} MiB before, {rss_timeline:.0} MiB with the timeline, {:.0} MiB with the checkpoints",
        rss_mib()
    );

    // Play at 100× from the start, a frame every 1/30 s of real time.
    let mut term = Terminal::new(TestBackend::new(w, h)).expect("terminal");
    player.set_speed(100.0);
    player.control(aios::tui::ReplayControl::PlayPause);
    let frame = Duration::from_secs_f64(1.0 / 30.0);
    let (mut apply, mut paint, mut whole) = (Vec::new(), Vec::new(), Vec::new());
    // As many frames as the recording lasts at 100×.
    let span_s =
        (tl.last_time().expect("entries") - tl.first_time().expect("entries")).num_seconds();
    let frames = (span_s as f64 * 30.0 / 100.0) as usize;
    for _ in 0..frames {
        let t0 = Instant::now();
        player.advance(frame);
        let t1 = Instant::now();
        term.draw(|f| draw(f, &player.app)).expect("draw");
        black_box(term.backend().buffer());
        let t2 = Instant::now();
        apply.push((t1 - t0).as_secs_f64() * 1e3);
        paint.push((t2 - t1).as_secs_f64() * 1e3);
        whole.push((t2 - t0).as_secs_f64() * 1e3);
    }
    println!(
        "played {frames} frames at 100× ({:.0} s of recording, {} entries applied)",
        frames as f64 * 100.0 / 30.0,
        player.position()
    );
    println!(
        "frame draw at {w}×{h}:   p50 {:.2} ms, p99 {:.2} ms (target p99 < 2 ms)",
        pct(&mut paint, 0.5),
        pct(&mut paint, 0.99)
    );
    println!(
        "events applied per frame: p50 {:.2} ms, p99 {:.2} ms",
        pct(&mut apply, 0.5),
        pct(&mut apply, 0.99)
    );
    println!(
        "whole frame:              p50 {:.2} ms, p99 {:.2} ms",
        pct(&mut whole, 0.5),
        pct(&mut whole, 0.99)
    );

    // Seek to random points, back and forth.
    let first = tl.first_time().expect("entries");
    let span = (tl.last_time().expect("entries") - first).num_milliseconds();
    let mut seeks = Vec::new();
    let mut x: u64 = 0x2545_f491_4f6c_dd1d;
    for _ in 0..200 {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        let at = first + chrono::Duration::milliseconds((x % span as u64) as i64);
        let t = Instant::now();
        player.seek_time(at);
        term.draw(|f| draw(f, &player.app)).expect("draw");
        seeks.push(t.elapsed().as_secs_f64() * 1e3);
    }
    println!(
        "seek + draw, 200 random: p50 {:.1} ms, p99 {:.1} ms, max {:.1} ms (target < 100 ms)",
        pct(&mut seeks, 0.5),
        pct(&mut seeks, 0.99),
        pct(&mut seeks, 1.0)
    );
}
