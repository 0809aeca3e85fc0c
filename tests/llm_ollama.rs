//! The Ollama runner and API against the in-test Ollama (`tests/support/ollama_server.rs`),
//! byte-exact wire scripts included; the `live_*` tests run against a real Ollama when
//! `AIOS_TEST_OLLAMA_URL` is set (model: `AIOS_TEST_OLLAMA_MODEL`, default `llama3`).

mod support;

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use aios::llm::ollama_api::OllamaApi;
use aios::llm::{
    ChatMessage, ChatRequest, LlmError, LlmRunner, OllamaRunner, Role, Timeouts, TokenEvent,
    ToolCall, ToolSpec,
};
use aios::memory::{Embedder, OllamaEmbedder};
use futures::StreamExt;
use serde_json::json;
use support::http_script::{Action, Reply};
use support::ollama_server::{self, NDJSON};
use support::scripted_runner::{collect, text};

fn fast() -> Timeouts {
    Timeouts {
        connect: Duration::from_millis(500),
        first_token: Duration::from_millis(600),
        idle: Duration::from_millis(400),
        retries: 2,
    }
}

fn request() -> ChatRequest {
    ChatRequest::new(
        "llama3",
        vec![
            ChatMessage::new(Role::System, "You are terse."),
            ChatMessage::new(Role::User, "Say hi"),
        ],
    )
}

#[tokio::test]
async fn split_lines_and_two_events_in_one_chunk_stream_in_order_with_usage() {
    let s = ollama_server::start().await;
    let a = ollama_server::content("Hel");
    let (a1, a2) = a.split_at(25);
    let two = format!(
        "{}{}",
        ollama_server::content("lo"),
        ollama_server::content(" there")
    );
    s.reply(
        "POST",
        "/api/chat",
        Reply::new(200, NDJSON)
            .chunk(a1)
            .chunk(a2)
            .chunk(two)
            .chunk(ollama_server::done(3).trim_end().to_string()),
    );
    let runner = OllamaRunner::new(&s.url(), fast()).unwrap();
    let events = collect(&runner, request()).await.unwrap();
    assert_eq!(text(&events), "Hello there");
    let Some(TokenEvent::Done { usage }) = events.last() else {
        panic!("{events:?}")
    };
    assert_eq!((usage.prompt_tokens, usage.completion_tokens), (26, 3));
    assert_eq!(usage.done_reason, "stop");
    assert_eq!(
        (usage.total_ms, usage.eval_ms, usage.prompt_eval_ms),
        (5000.0, 500.0, 100.0)
    );
    assert!(usage.first_token_ms > 0.0);
    assert_eq!(usage.tokens_per_second(), Some(6.0));

    let sent = s.requests_to("/api/chat");
    assert_eq!(sent.len(), 1);
    let body = sent[0].json();
    assert_eq!(body["model"], json!("llama3"));
    assert_eq!(body["stream"], json!(true));
    assert_eq!(
        body["messages"][1],
        json!({"role": "user", "content": "Say hi"})
    );
}

#[tokio::test]
async fn thinking_and_whole_tool_calls_are_events_and_tools_are_sent() {
    let s = ollama_server::start().await;
    s.reply(
        "POST",
        "/api/chat",
        Reply::new(200, NDJSON)
            .chunk(ollama_server::thinking("User wants memory."))
            .chunk(ollama_server::tool_calls(&[
                ("recall", json!({"query": "login"})),
                ("remember", json!({"text": "x", "tags": ["a"]})),
            ]))
            .chunk(ollama_server::done(5)),
    );
    let runner = OllamaRunner::new(&s.url(), fast()).unwrap();
    let mut req = request();
    req.tools = vec![ToolSpec {
        name: "recall".into(),
        description: "Search memory".into(),
        parameters: json!({"type": "object", "properties": {"query": {"type": "string"}}}),
    }];
    let call = ToolCall {
        id: "call_0".into(),
        name: "recall".into(),
        arguments: json!({"query": "before"}),
    };
    req.messages
        .push(ChatMessage::assistant_calls("", vec![call.clone()]));
    req.messages
        .push(ChatMessage::tool_result(&call, "nothing"));
    let events = collect(&runner, req).await.unwrap();
    assert_eq!(
        events[0],
        TokenEvent::Thinking {
            text: "User wants memory.".into()
        }
    );
    let calls: Vec<&ToolCall> = events
        .iter()
        .filter_map(|e| match e {
            TokenEvent::ToolCall { call } => Some(call),
            _ => None,
        })
        .collect();
    assert_eq!(calls.len(), 2);
    assert_eq!(
        (calls[0].id.as_str(), calls[0].name.as_str()),
        ("call_0", "recall")
    );
    assert_eq!(calls[0].arguments, json!({"query": "login"}));
    assert_eq!(calls[1].id, "call_1");
    let body = s.requests_to("/api/chat")[0].json();
    assert_eq!(body["tools"][0]["function"]["name"], json!("recall"));
    assert_eq!(body["messages"][3]["role"], json!("tool"));
    assert_eq!(body["messages"][3]["tool_name"], json!("recall"));
    assert_eq!(
        body["messages"][2]["tool_calls"][0]["function"]["arguments"],
        json!({"query": "before"})
    );
}

#[tokio::test]
async fn an_error_line_mid_stream_ends_it_with_that_error() {
    let s = ollama_server::start().await;
    s.reply(
        "POST",
        "/api/chat",
        Reply::new(200, NDJSON)
            .chunk(ollama_server::content("Hi"))
            .chunk(ollama_server::error("llama runner process has terminated")),
    );
    let runner = OllamaRunner::new(&s.url(), fast()).unwrap();
    let err = collect(&runner, request()).await.unwrap_err();
    let msg = err.to_string();
    assert!(
        msg.contains("llama runner process has terminated") && msg.contains(&s.url()),
        "{msg}"
    );
}

#[tokio::test]
async fn a_stream_that_ends_without_done_is_interrupted() {
    let s = ollama_server::start().await;
    s.reply(
        "POST",
        "/api/chat",
        Reply::new(200, NDJSON).chunk(ollama_server::content("Hi")),
    );
    let runner = OllamaRunner::new(&s.url(), fast()).unwrap();
    assert!(matches!(
        collect(&runner, request()).await,
        Err(LlmError::Interrupted(_))
    ));
}

#[tokio::test]
async fn a_slow_first_token_is_a_timeout() {
    let s = ollama_server::start().await;
    s.reply(
        "POST",
        "/api/chat",
        Reply::new(200, NDJSON).chunk_after(Duration::from_secs(5), ollama_server::content("late")),
    );
    let runner = OllamaRunner::new(&s.url(), fast()).unwrap();
    let started = Instant::now();
    let err = collect(&runner, request()).await.unwrap_err();
    assert!(
        matches!(&err, LlmError::Timeout { message, .. } if message.contains("first token")),
        "{err}"
    );
    assert!(err.to_string().contains(&s.url()));
    assert!(started.elapsed() < Duration::from_secs(3));
}

#[tokio::test]
async fn an_idle_gap_mid_answer_is_a_timeout() {
    let s = ollama_server::start().await;
    s.reply(
        "POST",
        "/api/chat",
        Reply::new(200, NDJSON)
            .chunk(ollama_server::content("Hi"))
            .chunk_after(Duration::from_secs(5), ollama_server::done(1)),
    );
    let runner = OllamaRunner::new(&s.url(), fast()).unwrap();
    let mut stream = runner.chat(request()).await.unwrap();
    assert!(matches!(
        stream.next().await,
        Some(Ok(TokenEvent::Content { .. }))
    ));
    let err = stream.next().await.unwrap().unwrap_err();
    assert!(
        matches!(&err, LlmError::Timeout { message, .. } if message.contains("mid-answer")),
        "{err}"
    );
    assert!(stream.next().await.is_none());
}

#[tokio::test]
async fn connection_refused_is_retried_then_a_fast_error_naming_the_url() {
    let port = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    };
    let url = format!("http://127.0.0.1:{port}");
    let runner = OllamaRunner::new(
        &url,
        Timeouts {
            first_token: Duration::from_secs(120),
            ..fast()
        },
    )
    .unwrap();
    let started = Instant::now();
    let err = collect(&runner, request()).await.unwrap_err();
    let took = started.elapsed();
    let msg = err.to_string();
    assert!(matches!(err, LlmError::Unreachable { .. }), "{msg}");
    assert!(
        msg.contains(&url) && msg.contains("after 3 attempts"),
        "{msg}"
    );
    assert!(!msg.contains('\n'));
    // Two backoffs (100 + 200 ms), nowhere near the first-token timeout.
    assert!(
        took >= Duration::from_millis(300) && took < Duration::from_secs(3),
        "{took:?}"
    );
}

#[tokio::test]
async fn a_hangup_before_any_byte_is_retried() {
    let s = ollama_server::start().await;
    s.route(
        "POST",
        "/api/chat",
        vec![
            Action::Hangup,
            Action::Hangup,
            Action::Reply(ollama_server::chat_reply(&["ok"])),
        ],
    );
    let runner = OllamaRunner::new(&s.url(), fast()).unwrap();
    let events = collect(&runner, request()).await.unwrap();
    assert_eq!(text(&events), "ok");
    assert_eq!(s.requests_to("/api/chat").len(), 3);
}

#[tokio::test]
async fn a_half_streamed_answer_is_never_retried() {
    let s = ollama_server::start().await;
    s.reply(
        "POST",
        "/api/chat",
        Reply::new(200, NDJSON)
            .chunk(ollama_server::content("Hi"))
            .cut(),
    );
    let runner = OllamaRunner::new(&s.url(), fast()).unwrap();
    let err = collect(&runner, request()).await.unwrap_err();
    assert!(matches!(err, LlmError::Interrupted(_)), "{err}");
    assert_eq!(s.requests_to("/api/chat").len(), 1);
}

#[tokio::test]
async fn http_404_names_the_model_and_the_pull_command_and_500_carries_the_body() {
    let s = ollama_server::start().await;
    s.reply(
        "POST",
        "/api/chat",
        Reply::json(
            404,
            &json!({"error": "model \"mixtral\" not found, try pulling it first"}),
        ),
    );
    let runner = OllamaRunner::new(&s.url(), fast()).unwrap();
    let mut req = request();
    req.model = "mixtral".into();
    let msg = collect(&runner, req).await.unwrap_err().to_string();
    assert_eq!(
        msg,
        format!(
            "model mixtral is not pulled on {}; run `aios models pull mixtral`",
            s.url()
        )
    );

    s.reply(
        "POST",
        "/api/chat",
        Reply::json(500, &json!({"error": "out of memory"})),
    );
    let err = collect(&runner, request()).await.unwrap_err();
    assert!(
        matches!(&err, LlmError::Http { status: 500, message, .. } if message == "out of memory"),
        "{err}"
    );
    assert_eq!(
        s.requests_to("/api/chat").len(),
        2,
        "an HTTP error is not retried"
    );
}

#[tokio::test]
async fn dropping_the_stream_closes_the_connection() {
    let s = ollama_server::start().await;
    s.reply(
        "POST",
        "/api/chat",
        Reply::new(200, NDJSON)
            .chunk(ollama_server::content("Hi"))
            .chunk_after(Duration::from_secs(30), ollama_server::done(1)),
    );
    let runner = OllamaRunner::new(
        &s.url(),
        Timeouts {
            idle: Duration::from_secs(60),
            ..fast()
        },
    )
    .unwrap();
    let mut stream = runner.chat(request()).await.unwrap();
    assert!(matches!(
        stream.next().await,
        Some(Ok(TokenEvent::Content { .. }))
    ));
    drop(stream);
    assert!(
        s.client_hung_up(Duration::from_secs(3)).await,
        "the server saw no hang-up"
    );
}

#[tokio::test]
async fn tags_ps_and_version() {
    let s = ollama_server::start().await;
    s.reply(
        "GET",
        "/api/tags",
        ollama_server::tags(&[
            ("llama3:latest", "llama", "8.0B", "Q4_K_M"),
            ("mistral:7b", "llama", "7.2B", "Q4_0"),
        ]),
    );
    s.reply(
        "GET",
        "/api/ps",
        Reply::json(
            200,
            &json!({"models": [{"name": "llama3:latest", "model": "llama3:latest",
            "size": 5_137_025_024u64, "size_vram": 5_137_025_024u64, "digest": "x",
            "details": {"format": "gguf", "family": "llama", "parameter_size": "8.0B",
                "quantization_level": "Q4_K_M"}, "expires_at": "2026-11-24T12:05:00Z"}]}),
        ),
    );
    let api = OllamaApi::new(&s.url(), fast()).unwrap();
    assert_eq!(api.version().await.unwrap(), "0.12.6");
    let tags = api.tags().await.unwrap();
    assert_eq!(tags.len(), 2);
    assert_eq!(tags[0].details.quantization_level, "Q4_K_M");
    assert_eq!(tags[0].details.format, "gguf");
    assert_eq!(tags[1].details.parameter_size, "7.2B");
    let ps = api.ps().await.unwrap();
    assert_eq!(ps[0].size_vram, 5_137_025_024);
}

#[tokio::test]
async fn pull_reports_progress_until_success_and_an_error_line_fails_it() {
    let s = ollama_server::start().await;
    let l = |v: serde_json::Value| ollama_server::line(&v);
    s.reply(
        "POST",
        "/api/pull",
        Reply::new(200, NDJSON)
            .chunk(l(json!({"status": "pulling manifest"})))
            .chunk(format!(
                "{}{}",
                l(json!({"status": "pulling 6a0746a1ec1a", "digest": "sha256:6a07", "total": 1000, "completed": 250})),
                l(json!({"status": "pulling 6a0746a1ec1a", "digest": "sha256:6a07", "total": 1000, "completed": 1000}))
            ))
            .chunk(l(json!({"status": "verifying sha256 digest"})))
            .chunk(l(json!({"status": "success"}))),
    );
    let api = OllamaApi::new(&s.url(), fast()).unwrap();
    let mut seen = Vec::new();
    api.pull("zephyr", |p| seen.push((p.status.clone(), p.completed)))
        .await
        .unwrap();
    assert_eq!(seen.len(), 5);
    assert_eq!(seen[2], ("pulling 6a0746a1ec1a".to_string(), Some(1000)));
    assert_eq!(
        s.requests_to("/api/pull")[0].json()["model"],
        json!("zephyr")
    );

    s.reply(
        "POST",
        "/api/pull",
        Reply::new(200, NDJSON)
            .chunk(l(json!({"status": "pulling manifest"})))
            .chunk(l(
                json!({"error": "pull model manifest: file does not exist"}),
            )),
    );
    let err = api.pull("nope", |_| {}).await.unwrap_err();
    assert!(err.to_string().contains("file does not exist"), "{err}");
}

#[tokio::test]
async fn create_pushes_the_adapter_blob_then_creates_from_the_base() {
    let s = ollama_server::start().await;
    let dir = tempfile::tempdir().unwrap();
    let adapter = dir.path().join("adapter.gguf");
    std::fs::write(&adapter, b"GGUF fake lora weights").unwrap();
    let digest = {
        use sha2::Digest;
        format!(
            "sha256:{}",
            hex::encode(sha2::Sha256::digest(b"GGUF fake lora weights"))
        )
    };
    let blob_path = format!("/api/blobs/{digest}");
    s.reply("HEAD", &blob_path, Reply::new(404, "text/plain"));
    s.reply("POST", &blob_path, Reply::new(201, "text/plain"));
    s.reply(
        "POST",
        "/api/create",
        Reply::new(200, NDJSON)
            .chunk(ollama_server::line(
                &json!({"status": "using existing layer sha256:abc"}),
            ))
            .chunk(ollama_server::line(&json!({"status": "writing manifest"})))
            .chunk(ollama_server::line(&json!({"status": "success"}))),
    );
    let api = OllamaApi::new(&s.url(), fast()).unwrap();
    let pushed = api.push_blob(&adapter).await.unwrap();
    assert_eq!(pushed, digest);
    let upload = &s.requests_to(&blob_path)[1];
    assert_eq!(upload.method, "POST");
    assert_eq!(upload.body, b"GGUF fake lora weights");

    let mut adapters = BTreeMap::new();
    adapters.insert("adapter.gguf".to_string(), pushed);
    let mut statuses = Vec::new();
    api.create("support-llama3", "llama3", &adapters, |p| {
        statuses.push(p.status.clone())
    })
    .await
    .unwrap();
    assert_eq!(statuses.last().map(String::as_str), Some("success"));
    let body = s.requests_to("/api/create")[0].json();
    assert_eq!(body["model"], json!("support-llama3"));
    assert_eq!(body["from"], json!("llama3"));
    assert_eq!(body["adapters"], json!({"adapter.gguf": digest}));

    // Already on the server: not uploaded again.
    s.reply("HEAD", &blob_path, Reply::new(200, "text/plain"));
    api.push_blob(&adapter).await.unwrap();
    assert_eq!(
        s.requests_to(&blob_path)
            .iter()
            .filter(|r| r.method == "POST")
            .count(),
        1
    );
}

#[tokio::test]
async fn the_embedder_batches_and_checks_dimensions() {
    let s = ollama_server::start().await;
    s.route(
        "POST",
        "/api/embed",
        vec![
            Action::Reply(Reply::json(
                200,
                &json!({"model": "all-minilm", "embeddings": [[0.1, 0.2, 0.3]]}),
            )),
            Action::Reply(Reply::json(
                200,
                &json!({"model": "all-minilm", "embeddings": [[1.0, 0.0, 0.0], [0.0, 1.0, 0.0]]}),
            )),
        ],
    );
    let e = OllamaEmbedder::open(&s.url(), "all-minilm", 3, fast())
        .await
        .unwrap();
    assert_eq!(e.name(), "ollama:all-minilm");
    let v = e.embed(&["a".into(), "b".into()]).await.unwrap();
    assert_eq!(v, vec![vec![1.0, 0.0, 0.0], vec![0.0, 1.0, 0.0]]);
    let sent = s.requests_to("/api/embed");
    assert_eq!(sent[0].json()["input"], json!(["dimension probe"]));
    assert_eq!(
        sent[1].json(),
        json!({"model": "all-minilm", "input": ["a", "b"]})
    );

    s.reply(
        "POST",
        "/api/embed",
        Reply::json(
            200,
            &json!({"model": "all-minilm", "embeddings": [[0.1, 0.2, 0.3]]}),
        ),
    );
    let err = OllamaEmbedder::open(&s.url(), "all-minilm", 384, fast())
        .await
        .unwrap_err();
    let msg = err.to_string();
    assert!(
        msg.contains("3-dimensional") && msg.contains("memory.dims = 384"),
        "{msg}"
    );
}

// ---- against a real Ollama, when one is named ----

fn live() -> Option<(String, String)> {
    match std::env::var("AIOS_TEST_OLLAMA_URL") {
        Ok(url) if !url.is_empty() => {
            let model = std::env::var("AIOS_TEST_OLLAMA_MODEL").unwrap_or_else(|_| "llama3".into());
            Some((url, model))
        }
        _ => {
            eprintln!(
                "skipped: set AIOS_TEST_OLLAMA_URL (and AIOS_TEST_OLLAMA_MODEL) to run against a real Ollama"
            );
            None
        }
    }
}

#[tokio::test]
async fn live_chat_streams_tokens_and_usage() {
    let Some((url, model)) = live() else { return };
    let runner = OllamaRunner::new(&url, Timeouts::default()).unwrap();
    let mut req = request();
    req.model = model;
    req.options.max_tokens = Some(16);
    let events = collect(&runner, req).await.unwrap();
    assert!(!text(&events).is_empty());
    let Some(TokenEvent::Done { usage }) = events.last() else {
        panic!("{events:?}")
    };
    assert!(usage.completion_tokens > 0 && usage.eval_ms > 0.0);
}

#[tokio::test]
async fn live_tags_version_and_missing_model() {
    let Some((url, _)) = live() else { return };
    let api = OllamaApi::new(&url, Timeouts::default()).unwrap();
    assert!(!api.version().await.unwrap().is_empty());
    api.tags().await.unwrap();
    let runner = OllamaRunner::new(&url, Timeouts::default()).unwrap();
    let mut req = request();
    req.model = "aios-no-such-model-xyz".into();
    let err = collect(&runner, req).await.unwrap_err();
    assert!(matches!(err, LlmError::ModelNotFound { .. }), "{err}");
}
