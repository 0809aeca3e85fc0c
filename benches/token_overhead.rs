//! Per-token overhead of the real runners, from bytes on the socket to a `TokenEvent`:
//! recorded NDJSON (Ollama) and SSE (OpenAI-compatible) answers fed through framer and
//! decoder in the chunk sizes a socket delivers, and the same Ollama answer end to end
//! through reqwest from a loopback server. Target: < 20 µs per token.
//!
//! `turn_machine`: what the agent turn adds per token once a token is decoded. `direct` is
//! the worker's path before the turn became a state machine (append to the reply, send the
//! UI event); `machine` is today's (the machine's `step`, its effect performed by the same
//! send). Target: `machine` within 10% of `direct`.

use std::collections::VecDeque;
use std::hint::black_box;
use std::time::Duration;

use aios::agent::Catalog;
use aios::agent::intent::stream_event;
use aios::agent::turn::{Effect, Event, Setup, Turn, Verdict};
use aios::context::AgentState;
use aios::event::RuntimeEvent;
use aios::llm::ollama::OllamaDecoder;
use aios::llm::openai::OpenAiDecoder;
use aios::llm::transport::Decoder;
use aios::llm::{ChatMessage, ChatRequest, LlmRunner, OllamaRunner, Role, Timeouts, TokenEvent};
use criterion::{BatchSize, Criterion, Throughput, criterion_group, criterion_main};
use futures::StreamExt;
use serde_json::json;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::sync::broadcast;

const TOKENS: usize = 1000;

fn words() -> impl Iterator<Item = String> {
    (0..TOKENS).map(|i| format!(" word{}", i % 97))
}

fn ndjson_answer() -> Vec<u8> {
    let mut out = String::new();
    for w in words() {
        out.push_str(
            &json!({"model":"llama3","created_at":"2026-11-24T12:00:00.000000Z",
            "message":{"role":"assistant","content": w},"done":false})
            .to_string(),
        );
        out.push('\n');
    }
    out.push_str(&json!({"model":"llama3","created_at":"2026-11-24T12:00:01Z","message":{"role":"assistant","content":""},
        "done":true,"done_reason":"stop","total_duration":5_000_000_000u64,"load_duration":1,
        "prompt_eval_count":26,"prompt_eval_duration":1,"eval_count":TOKENS,"eval_duration":1}).to_string());
    out.push('\n');
    out.into_bytes()
}

fn sse_answer() -> Vec<u8> {
    let mut out = String::new();
    for w in words() {
        let v = json!({"id":"chatcmpl-1","object":"chat.completion.chunk","created":1,"model":"m",
            "choices":[{"index":0,"delta":{"content": w},"finish_reason":null}]});
        out.push_str(&format!("data: {v}\n\n"));
    }
    out.push_str(&format!(
        "data: {}\n\n",
        json!({"choices":[{"index":0,"delta":{},"finish_reason":"stop"}]})
    ));
    out.push_str(&format!(
        "data: {}\n\n",
        json!({"choices":[],"usage":{"prompt_tokens":1,"completion_tokens":TOKENS}})
    ));
    out.push_str("data: [DONE]\n\n");
    out.into_bytes()
}

/// Feed `bytes` in `chunk`-sized pieces; returns the number of content events.
fn decode(mut d: impl Decoder, bytes: &[u8], chunk: usize) -> usize {
    let mut out = VecDeque::new();
    let mut n = 0;
    for piece in bytes.chunks(chunk) {
        d.feed(piece, &mut out);
        n += out
            .drain(..)
            .filter(|e| matches!(e, Ok(TokenEvent::Content { .. })))
            .count();
    }
    d.finish(&mut out);
    n + out.len() - 1
}

fn framing(c: &mut Criterion) {
    let nd = ndjson_answer();
    let sse = sse_answer();
    let mut g = c.benchmark_group("token_overhead");
    g.throughput(Throughput::Elements(TOKENS as u64));
    // 1400 ≈ one TCP segment; 16 KiB ≈ a loaded read.
    for chunk in [1400usize, 16 * 1024] {
        g.bench_function(format!("ollama_ndjson_decode/{chunk}B_chunks"), |b| {
            b.iter(|| {
                black_box(decode(
                    OllamaDecoder::new("http://o"),
                    black_box(&nd),
                    chunk,
                ))
            })
        });
        g.bench_function(format!("openai_sse_decode/{chunk}B_chunks"), |b| {
            b.iter(|| {
                black_box(decode(
                    OpenAiDecoder::new("http://o/v1"),
                    black_box(&sse),
                    chunk,
                ))
            })
        });
    }
    g.finish();
}

/// A loopback Ollama that answers every request with `body` (chunked per 64 lines, as a
/// model server flushes often).
async fn loopback(body: Vec<u8>) -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move {
        while let Ok((mut sock, _)) = listener.accept().await {
            let body = body.clone();
            tokio::spawn(async move {
                sock.set_nodelay(true).ok();
                let mut buf = vec![0u8; 64 * 1024];
                let mut got = Vec::new();
                loop {
                    let n = sock.read(&mut buf).await.unwrap_or(0);
                    if n == 0 {
                        return;
                    }
                    got.extend_from_slice(&buf[..n]);
                    if let Some(i) = got.windows(4).position(|w| w == b"\r\n\r\n") {
                        let head = String::from_utf8_lossy(&got[..i]).to_ascii_lowercase();
                        let len: usize = head
                            .lines()
                            .find_map(|l| l.strip_prefix("content-length:"))
                            .and_then(|v| v.trim().parse().ok())
                            .unwrap_or(0);
                        if got.len() >= i + 4 + len {
                            break;
                        }
                    }
                }
                let _ = sock
                    .write_all(b"HTTP/1.1 200 OK\r\nContent-Type: application/x-ndjson\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n")
                    .await;
                let lines: Vec<&[u8]> = body.split_inclusive(|&b| b == b'\n').collect();
                for group in lines.chunks(64) {
                    let data = group.concat();
                    let framed =
                        [format!("{:x}\r\n", data.len()).as_bytes(), &data, b"\r\n"].concat();
                    let _ = sock.write_all(&framed).await;
                }
                let _ = sock.write_all(b"0\r\n\r\n").await;
            });
        }
    });
    url
}

fn end_to_end(c: &mut Criterion) {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let url = rt.block_on(loopback(ndjson_answer()));
    let timeouts = Timeouts {
        connect: Duration::from_secs(2),
        first_token: Duration::from_secs(10),
        idle: Duration::from_secs(10),
        retries: 0,
    };
    let runner = OllamaRunner::new(&url, timeouts).unwrap();
    let request = ChatRequest::new("llama3", vec![ChatMessage::new(Role::User, "hi")]);
    let mut g = c.benchmark_group("token_overhead");
    g.throughput(Throughput::Elements(TOKENS as u64));
    g.sample_size(30);
    g.bench_function("ollama_loopback_end_to_end", |b| {
        b.iter(|| {
            rt.block_on(async {
                let mut s = runner.chat(request.clone()).await.unwrap();
                let mut n = 0;
                while let Some(ev) = s.next().await {
                    if let TokenEvent::Content { .. } = ev.unwrap() {
                        n += 1;
                    }
                }
                assert_eq!(n, TOKENS);
            })
        })
    });
    g.finish();
}

/// A turn brought to its open stream, through its public events only.
fn streaming_turn() -> Turn {
    let spec = Catalog::builtin().get("ops-agent").unwrap().clone();
    let mut turn = Turn::new(Setup {
        intent_id: "0190-intent".into(),
        agent_id: spec.id.clone(),
        text: "deploy".into(),
        from: "operator:bench".into(),
        default_model: "m".into(),
        runner: "bench".into(),
        recall_k: 5,
        max_tool_rounds: 4,
        tools: Vec::new(),
        gate: Box::new(|_, _| Verdict::Allow),
    });
    turn.step(Event::Start);
    turn.step(Event::Recalled(Vec::new()));
    turn.step(Event::StateLoaded {
        state: Box::new(AgentState {
            goals: spec.goals.clone(),
            persona_traits: spec.persona_traits.clone(),
            protocol_hooks: Vec::new(),
            memory_count: 0,
            context_version: None,
            context_id: None,
            spec,
        }),
        previous: None,
    });
    turn.step(Event::StreamOpened);
    assert!(turn.is_streaming());
    turn
}

fn turn_machine(c: &mut Criterion) {
    // What the model stream yields, as the worker reads it.
    let tokens: Vec<TokenEvent> = words().map(|text| TokenEvent::Content { text }).collect();
    let (events, _keep) = broadcast::channel::<RuntimeEvent>(8192);
    let agent_id = "ops-agent".to_string();
    let intent_id = "0190-intent".to_string();
    let send = |text: String, thinking: bool| {
        let _ = events.send(RuntimeEvent::Token {
            agent_id: agent_id.clone(),
            intent_id: intent_id.clone(),
            text,
            thinking,
        });
    };
    let mut g = c.benchmark_group("turn_machine");
    g.throughput(Throughput::Elements(TOKENS as u64));
    // The worker's loop before the machine: match the stream item, keep the text, tell the UI.
    g.bench_function("direct", |b| {
        b.iter(|| {
            let mut content = String::new();
            for t in &tokens {
                match t.clone() {
                    TokenEvent::Content { text } => {
                        content.push_str(&text);
                        send(text, false);
                    }
                    TokenEvent::Thinking { text } => send(text, true),
                    _ => {}
                }
            }
            black_box(content)
        })
    });
    // Today's: the stream item becomes an event, the machine steps, its effect is told.
    g.bench_function("machine", |b| {
        b.iter_batched(
            streaming_turn,
            |mut turn| {
                // As the worker drives it: tokens take the machine's hot path, anything
                // else becomes an event stepped into a reused effect buffer.
                let mut effects = Vec::new();
                for t in &tokens {
                    match t.clone() {
                        TokenEvent::Content { text } if turn.token(&text, false) => {
                            send(text, false)
                        }
                        TokenEvent::Thinking { text } if turn.token(&text, true) => {
                            send(text, true)
                        }
                        other => {
                            turn.step_into(stream_event(Some(Ok(other))), &mut effects);
                            for effect in effects.drain(..) {
                                if let Effect::Token { text, thinking } = effect {
                                    send(text, thinking);
                                }
                            }
                        }
                    }
                }
                black_box(turn)
            },
            BatchSize::SmallInput,
        )
    });
    g.finish();
}

criterion_group!(benches, framing, end_to_end, turn_machine);
criterion_main!(benches);
