//! The control center's cost: one frame at 200×60 with every pane full (target p99 < 2 ms),
//! and bus ingest at 100,000 messages/s — ten seconds' worth (1,000,000 messages) folded in
//! with a frame drawn every 1/30 s of traffic, reporting the slowest frame and the RSS
//! growth (targets: no frame over 50 ms, growth under 20 MB).

#[path = "support/rss.rs"]
mod rss;
use rss::rss_kib as rss_kb;

use std::hint::black_box;
use std::sync::Arc;
use std::time::{Duration, Instant};

use aios::agent::{Catalog, RuntimeInfo};
use aios::audit::{AuditRecord, GENESIS_HASH, Outcome};
use aios::bus::{Envelope, Received, Source, channels, kinds};
use aios::context::diff_texts;
use aios::event::{AgentStatus, RuntimeEvent};
use aios::tui::{Action, App, Pane, draw};
use criterion::{Criterion, criterion_group, criterion_main};
use ratatui::Terminal;
use ratatui::backend::TestBackend;

fn info() -> RuntimeInfo {
    RuntimeInfo {
        node: "bench".into(),
        data_dir: "/tmp/x".into(),
        bus: "redis".into(),
        store: "redis".into(),
        memory: "local".into(),
        embedder: "hash".into(),
        runner: "sim".into(),
        model: "sim".into(),
        agents: 30,
        warnings: Vec::new(),
        attached: None,
    }
}

fn message(i: usize) -> Received {
    let ch = [channels::INTENTS, channels::MEMORY, channels::CONTEXT][i % 3];
    Received::Message {
        channel: ch.into(),
        envelope: Arc::new(Envelope::new(
            kinds::MEMORY,
            Source {
                node: "n".into(),
                agent_id: Some("ops-agent".into()),
                operator: None,
            },
            Some("sec-agent"),
            serde_json::json!({"text": format!("message {i} about the staging rollout"), "tags": ["x"]}),
        )),
    }
}

fn full_app() -> App {
    let mut app = App::from_parts(
        info(),
        Catalog::builtin().agents().to_vec(),
        Default::default(),
        10_000,
    );
    app.take_effects();
    for a in app.agents().to_vec() {
        app.update(Action::Runtime(Box::new(RuntimeEvent::Status {
            agent_id: a.id.clone(),
            status: AgentStatus::Streaming,
        })));
    }
    for i in 0..10_000 {
        app.update(Action::Bus(message(i)));
    }
    let mut prev = GENESIS_HASH.to_string();
    for seq in 0..10_000u64 {
        let mut r = AuditRecord {
            seq,
            id: seq.to_string(),
            timestamp: "2026-11-24T12:00:00.000Z".into(),
            agent_id: Some("ops-agent".into()),
            action: "update_context".into(),
            input: serde_json::json!({}),
            context_id: None,
            caller: "bench".into(),
            outcome: Outcome::Ok,
            error: None,
            duration_ms: 1.0,
            intent_id: None,
            trace_id: None,
            parent_id: None,
            prev_hash: prev,
            hash: String::new(),
        };
        r.seal();
        prev = r.hash.clone();
        app.update(Action::Audit(Arc::new(r)));
    }
    for i in 0..5_000 {
        app.update(Action::Runtime(Box::new(RuntimeEvent::Token {
            agent_id: "ops-agent".into(),
            intent_id: "i".into(),
            text: format!("token{i} "),
            thinking: i % 10 == 0,
        })));
    }
    let old: String = (0..400)
        .map(|i| format!("line {i} of the context\n"))
        .collect();
    let new: String = (0..400)
        .map(|i| {
            if i % 20 == 0 {
                format!("line {i} was changed here\n")
            } else {
                format!("line {i} of the context\n")
            }
        })
        .collect();
    app.update(Action::Diff(Box::new(diff_texts(
        "ops-agent",
        1,
        &old,
        2,
        &new,
    ))));
    app.update(Action::Focus(Pane::Channels));
    app
}

/// Ten seconds of 100,000 messages/s: how slow the slowest frame is and how much memory
/// grows once the buffers are full.
fn ingest_report() {
    let mut app = full_app();
    let mut term = Terminal::new(TestBackend::new(200, 60)).expect("backend");
    let msgs: Vec<Received> = (0..3_333).map(message).collect();
    let before = rss_kb();
    let mut worst = Duration::ZERO;
    let start = Instant::now();
    // 30 frames a second: a frame after every 3,333 messages.
    for _frame in 0..300 {
        for m in &msgs {
            app.update(Action::Bus(m.clone()));
        }
        let t = Instant::now();
        term.draw(|f| draw(f, &app)).expect("draw");
        worst = worst.max(t.elapsed());
    }
    let took = start.elapsed();
    let after = rss_kb();
    println!(
        "tui ingest: 999,900 messages + 300 frames in {:.2} s ({:.0} msg/s of headroom); \
         slowest frame {:.2} ms; RSS {} → {} KB (growth {} KB)",
        took.as_secs_f64(),
        999_900.0 / took.as_secs_f64(),
        worst.as_secs_f64() * 1000.0,
        before,
        after,
        after.saturating_sub(before)
    );
}

fn bench(c: &mut Criterion) {
    ingest_report();
    let app = full_app();
    let mut term = Terminal::new(TestBackend::new(200, 60)).expect("backend");
    c.bench_function("frame 200x60, every pane full", |b| {
        b.iter(|| {
            term.draw(|f| draw(f, black_box(&app))).expect("draw");
        })
    });
    let mut app = full_app();
    let m = message(1);
    c.bench_function("ingest one bus message (buffers full)", |b| {
        b.iter(|| app.update(Action::Bus(black_box(m.clone()))))
    });
}

criterion_group!(benches, bench);
criterion_main!(benches);
