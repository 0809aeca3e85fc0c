//! From a model's tool call to the approval prompt on screen: a runtime whose model calls an
//! HTTP action; timed from the moment the runner hands the call over to the frame (drawn on
//! a TestBackend at 160×48) that shows the approvals view with the call's exact request.
//!
//! Peer, in the same run: the same model calling one of aios's own tools that runs without
//! asking, timed from the call to the UI's "tool called" event. The ratio is what the gate
//! (preview, keeping the approval on disk, audit, the event, a frame) adds before a person
//! can decide.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use aios::agent::{Runtime, RuntimeOptions};
use aios::approvals::DecisionInput;
use aios::bus::LocalBus;
use aios::config::{AgentOverride, Config};
use aios::context::Caller;
use aios::event::RuntimeEvent;
use aios::llm::{ChatRequest, LlmError, LlmRunner, Role, TokenEvent, TokenStream, ToolCall, Usage};
use aios::tui::{Action, App, draw};
use async_trait::async_trait;
use criterion::{Criterion, criterion_group, criterion_main};
use ratatui::Terminal;
use ratatui::backend::TestBackend;
use serde_json::json;

/// Calls `tool` on the first turn (noting when), answers on the next.
struct Caller1 {
    tool: &'static str,
    called_at: Arc<Mutex<Option<Instant>>>,
}

#[async_trait]
impl LlmRunner for Caller1 {
    fn name(&self) -> &'static str {
        "bench"
    }

    async fn chat(&self, request: ChatRequest) -> Result<TokenStream, LlmError> {
        let answered = request.messages.iter().any(|m| m.role == Role::Tool);
        let mut events = Vec::new();
        if answered {
            events.push(TokenEvent::Content { text: "ok".into() });
        } else {
            *self.called_at.lock().unwrap() = Some(Instant::now());
            events.push(TokenEvent::ToolCall {
                call: ToolCall {
                    id: "c1".into(),
                    name: self.tool.into(),
                    arguments: if self.tool == "remember" {
                        json!({"text": "a fact"})
                    } else {
                        json!({"email": "ada@example.com"})
                    },
                },
            });
        }
        events.push(TokenEvent::Done {
            usage: Usage::default(),
        });
        Ok(Box::pin(futures::stream::iter(events.into_iter().map(Ok))))
    }
}

fn config(dir: &std::path::Path) -> Config {
    let mut c = Config::default();
    c.runtime.data_dir = dir.to_path_buf();
    c.bus.backend = aios::config::BusBackend::Memory;
    c.memory.backend = aios::config::MemoryBackend::Local;
    c.memory.embedder = aios::config::EmbedderKind::Hash;
    c.llm.runner = aios::config::RunnerKind::Sim;
    c.mcp.http_bind = String::new();
    c.actions.insert(
        "n8n_new_lead".into(),
        toml::from_str(
            r#"
description = "Start the n8n lead-intake workflow"
method = "POST"
url = "http://127.0.0.1:9/webhook/new-lead"
args = { type = "object", properties = { email = { type = "string" } } }
"#,
        )
        .unwrap(),
    );
    c.agents.insert(
        "sales-agent".into(),
        AgentOverride {
            tools: Some(vec!["n8n".into(), "remember".into()]),
            ..AgentOverride::default()
        },
    );
    c
}

async fn start(
    dir: &std::path::Path,
    tool: &'static str,
) -> (Runtime, Arc<Mutex<Option<Instant>>>) {
    let called_at = Arc::new(Mutex::new(None));
    let rt = Runtime::start(RuntimeOptions {
        bus: Some(Arc::new(LocalBus::new(1024 * 1024))),
        runner: Some(Arc::new(Caller1 {
            tool,
            called_at: called_at.clone(),
        })),
        ..RuntimeOptions::owning(config(dir)).expect("data dir lock")
    })
    .await
    .unwrap();
    (rt, called_at)
}

fn screen(term: &mut Terminal<TestBackend>, app: &App) -> String {
    term.draw(|f| draw(f, app)).unwrap();
    let buf = term.backend().buffer();
    let area = buf.area;
    (0..area.height)
        .map(|y| {
            (0..area.width)
                .map(|x| buf[(x, y)].symbol())
                .collect::<String>()
        })
        .collect::<Vec<_>>()
        .join("\n")
}

fn approval_on_screen(c: &mut Criterion) {
    let rt_tokio = tokio::runtime::Runtime::new().unwrap();
    let mut g = c.benchmark_group("approval_latency");
    g.sample_size(30);
    g.measurement_time(Duration::from_secs(10));

    g.bench_function("tool_call_to_approval_on_screen", |b| {
        let dir = tempfile::tempdir().unwrap();
        let (rt, called_at) = rt_tokio.block_on(start(dir.path(), "n8n_new_lead"));
        let mut app = App::from_parts(
            rt.info().clone(),
            aios::agent::Catalog::builtin().agents().to_vec(),
            HashMap::new(),
            1000,
        );
        let mut term = Terminal::new(TestBackend::new(160, 48)).unwrap();
        app.update(Action::Key(ratatui::crossterm::event::KeyEvent::new(
            ratatui::crossterm::event::KeyCode::Char('a'),
            ratatui::crossterm::event::KeyModifiers::NONE,
        )));
        b.iter_custom(|iters| {
            let mut total = Duration::ZERO;
            for _ in 0..iters {
                rt_tokio.block_on(async {
                    let mut events = rt.subscribe();
                    let ticket = rt
                        .dispatch(
                            &Caller::operator("bench"),
                            "sales-agent",
                            "lead",
                            None,
                            None,
                        )
                        .await
                        .unwrap();
                    let id = loop {
                        if let Ok(ev) = events.recv().await {
                            let asked = match &ev {
                                RuntimeEvent::ApprovalAsked { approval } => {
                                    Some(approval.id.clone())
                                }
                                _ => None,
                            };
                            app.update(Action::Runtime(Box::new(ev)));
                            if let Some(id) = asked {
                                break id;
                            }
                        }
                    };
                    let s = screen(&mut term, &app);
                    let shown = called_at.lock().unwrap().take().unwrap().elapsed();
                    assert!(s.contains("POST http://127.0.0.1:9/webhook/new-lead"));
                    total += shown;
                    rt.approvals()
                        .unwrap()
                        .decide(
                            &Caller::operator("bench"),
                            &id,
                            DecisionInput {
                                approve: false,
                                reason: Some("bench".into()),
                                arguments: None,
                                always: false,
                            },
                        )
                        .unwrap();
                    ticket.outcome.await.unwrap().unwrap();
                    while let Ok(ev) = events.try_recv() {
                        app.update(Action::Runtime(Box::new(ev)));
                    }
                });
            }
            total
        });
        rt_tokio.block_on(rt.shutdown());
    });

    g.bench_function("tool_call_to_tool_started_without_gate", |b| {
        let dir = tempfile::tempdir().unwrap();
        let (rt, called_at) = rt_tokio.block_on(start(dir.path(), "remember"));
        b.iter_custom(|iters| {
            let mut total = Duration::ZERO;
            for _ in 0..iters {
                rt_tokio.block_on(async {
                    let mut events = rt.subscribe();
                    let ticket = rt
                        .dispatch(
                            &Caller::operator("bench"),
                            "sales-agent",
                            "fact",
                            None,
                            None,
                        )
                        .await
                        .unwrap();
                    loop {
                        if let Ok(RuntimeEvent::ToolCalled { .. }) = events.recv().await {
                            break;
                        }
                    }
                    total += called_at.lock().unwrap().take().unwrap().elapsed();
                    ticket.outcome.await.unwrap().unwrap();
                });
            }
            total
        });
        rt_tokio.block_on(rt.shutdown());
    });
    g.finish();
}

criterion_group!(benches, approval_on_screen);
criterion_main!(benches);
