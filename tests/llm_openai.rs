//! The OpenAI-compatible runner and API against the in-test server
//! (`tests/support/openai_server.rs`); the `live_*` tests run against a real vLLM / LM
//! Studio / llama.cpp server when `AIOS_TEST_OPENAI_URL` (the `/v1` base) is set.

mod support;

use std::time::{Duration, Instant};

use aios::llm::openai_api::OpenAiApi;
use aios::llm::{
    ChatMessage, ChatRequest, LlmError, LlmRunner, OpenAiRunner, Role, Timeouts, TokenCounter,
    TokenEvent, ToolCall,
};
use futures::StreamExt;
use serde_json::json;
use support::http_script::Reply;
use support::openai_server::{self, SSE};
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
        "mistral-7b-instruct",
        vec![ChatMessage::new(Role::User, "Say hi")],
    )
}

#[tokio::test]
async fn split_events_two_in_a_chunk_reasoning_and_usage() {
    let s = openai_server::start().await;
    let hel = openai_server::content("Hel");
    let (a, b) = hel.split_at(9);
    s.reply(
        "POST",
        "/v1/chat/completions",
        Reply::new(200, SSE)
            .chunk(": ping\r\n\r\n")
            .chunk(openai_server::reasoning("thinking"))
            .chunk(a)
            .chunk(b)
            .chunk(format!(
                "{}{}",
                openai_server::content("lo"),
                openai_server::content("!")
            ))
            .chunk(openai_server::finish("stop"))
            .chunk(format!(
                "{}{}",
                openai_server::usage(12, 3),
                openai_server::DONE
            )),
    );
    let runner = OpenAiRunner::new(&format!("{}/v1", s.url()), fast()).unwrap();
    let events = collect(&runner, request()).await.unwrap();
    assert_eq!(
        events[0],
        TokenEvent::Thinking {
            text: "thinking".into()
        }
    );
    assert_eq!(text(&events), "Hello!");
    let Some(TokenEvent::Done { usage }) = events.last() else {
        panic!("{events:?}")
    };
    assert_eq!((usage.prompt_tokens, usage.completion_tokens), (12, 3));
    assert_eq!(usage.done_reason, "stop");
    let body = s.requests_to("/v1/chat/completions")[0].json();
    assert_eq!(body["stream"], json!(true));
    assert_eq!(body["stream_options"], json!({"include_usage": true}));
    assert_eq!(body["model"], json!("mistral-7b-instruct"));
}

#[tokio::test]
async fn a_server_that_reports_no_usage_gets_aios_s_own_count() {
    let s = openai_server::start().await;
    s.reply(
        "POST",
        "/v1/chat/completions",
        openai_server::chat_reply_without_usage(&["Re", "set", " the", " pass", "word"]),
    );
    let runner = OpenAiRunner::new(&format!("{}/v1", s.url()), fast()).unwrap();
    let events = collect(&runner, request()).await.unwrap();
    assert_eq!(text(&events), "Reset the password");
    let Some(TokenEvent::Done { usage }) = events.last() else {
        panic!("no Done: {events:?}");
    };
    assert_eq!(usage.completion_tokens, 5, "one token per streamed delta");
    assert_eq!(usage.counted_by, TokenCounter::Aios);
    assert!(usage.tokens_per_second().is_some(), "{usage:?}");
    // Said in the JSON that `dispatch --json`, the audit and the results channel carry.
    let shown = serde_json::to_value(usage).unwrap();
    assert_eq!(shown["counted_by"], json!("aios"), "{shown}");

    // A server that does report usage keeps its own figures, and says nothing extra.
    s.reply(
        "POST",
        "/v1/chat/completions",
        openai_server::chat_reply(&["Hi", "!"]),
    );
    let events = collect(&runner, request()).await.unwrap();
    let Some(TokenEvent::Done { usage }) = events.last() else {
        panic!("no Done: {events:?}");
    };
    assert_eq!((usage.prompt_tokens, usage.completion_tokens), (12, 2));
    assert_eq!(usage.counted_by, TokenCounter::Runner);
    assert!(
        serde_json::to_value(usage)
            .unwrap()
            .get("counted_by")
            .is_none()
    );
}

#[tokio::test]
async fn tool_calls_split_over_chunks_are_assembled() {
    let s = openai_server::start().await;
    s.reply(
        "POST",
        "/v1/chat/completions",
        Reply::new(200, SSE)
            .chunk(openai_server::tool_start(0, "call_9", "recall"))
            .chunk(openai_server::tool_start(1, "call_10", "set_goals"))
            .chunk(openai_server::tool_args(0, "{\"query\": \"lo"))
            .chunk(openai_server::tool_args(1, "{\"goals\": [\"a\"]}"))
            .chunk(openai_server::tool_args(0, "gin\"}"))
            .chunk(openai_server::finish("tool_calls"))
            .chunk(openai_server::usage(40, 20))
            .chunk(openai_server::DONE),
    );
    let runner = OpenAiRunner::new(&format!("{}/v1", s.url()), fast()).unwrap();
    let events = collect(&runner, request()).await.unwrap();
    let calls: Vec<&ToolCall> = events
        .iter()
        .filter_map(|e| match e {
            TokenEvent::ToolCall { call } => Some(call),
            _ => None,
        })
        .collect();
    assert_eq!(calls.len(), 2);
    assert_eq!(calls[0].id, "call_9");
    assert_eq!(calls[0].arguments, json!({"query": "login"}));
    assert_eq!(calls[1].name, "set_goals");
    assert_eq!(calls[1].arguments, json!({"goals": ["a"]}));
    assert!(
        matches!(events.last(), Some(TokenEvent::Done { usage }) if usage.done_reason == "tool_calls")
    );
}

#[tokio::test]
async fn an_error_event_mid_stream_and_an_error_body_are_errors() {
    let s = openai_server::start().await;
    s.reply(
        "POST",
        "/v1/chat/completions",
        Reply::new(200, SSE)
            .chunk(openai_server::content("Hi"))
            .chunk(openai_server::event(
                &json!({"error": {"message": "KV cache is full", "type": "server_error"}}),
            )),
    );
    let runner = OpenAiRunner::new(&format!("{}/v1", s.url()), fast()).unwrap();
    let err = collect(&runner, request()).await.unwrap_err();
    assert!(err.to_string().contains("KV cache is full"), "{err}");

    s.reply(
        "POST",
        "/v1/chat/completions",
        Reply::json(404, &json!({"error": {"message": "The model `zephyr` does not exist.", "type": "NotFoundError", "code": 404}})),
    );
    let err = collect(&runner, request()).await.unwrap_err();
    let msg = err.to_string();
    assert!(matches!(err, LlmError::Http { status: 404, .. }), "{msg}");
    assert!(
        msg.contains("does not exist") && msg.contains(&s.url()),
        "{msg}"
    );
}

#[tokio::test]
async fn slow_first_token_times_out_and_refused_is_fast() {
    let s = openai_server::start().await;
    s.reply(
        "POST",
        "/v1/chat/completions",
        Reply::new(200, SSE).chunk_after(Duration::from_secs(5), openai_server::content("late")),
    );
    let runner = OpenAiRunner::new(&format!("{}/v1", s.url()), fast()).unwrap();
    let err = collect(&runner, request()).await.unwrap_err();
    assert!(
        matches!(&err, LlmError::Timeout { message, .. } if message.contains("first token")),
        "{err}"
    );

    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let url = format!("http://127.0.0.1:{port}/v1");
    let runner = OpenAiRunner::new(&url, fast()).unwrap();
    let started = Instant::now();
    let err = collect(&runner, request()).await.unwrap_err();
    assert!(
        matches!(err, LlmError::Unreachable { .. }) && err.to_string().contains(&url),
        "{err}"
    );
    assert!(started.elapsed() < Duration::from_secs(3));
}

#[tokio::test]
async fn dropping_the_stream_closes_the_connection() {
    let s = openai_server::start().await;
    s.reply(
        "POST",
        "/v1/chat/completions",
        Reply::new(200, SSE)
            .chunk(openai_server::content("Hi"))
            .chunk_after(Duration::from_secs(30), openai_server::DONE),
    );
    let runner = OpenAiRunner::new(
        &format!("{}/v1", s.url()),
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
    assert!(s.client_hung_up(Duration::from_secs(3)).await);
}

#[tokio::test]
async fn models_and_embeddings() {
    let s = openai_server::start().await;
    s.reply(
        "POST",
        "/v1/embeddings",
        Reply::json(
            200,
            &json!({"object": "list", "data": [
            {"object": "embedding", "index": 1, "embedding": [0.0, 1.0]},
            {"object": "embedding", "index": 0, "embedding": [1.0, 0.0]}], "model": "e"}),
        ),
    );
    let api = OpenAiApi::new(&format!("{}/v1", s.url()), fast()).unwrap();
    let models = api.models().await.unwrap();
    assert_eq!(models[0].id, "mistral-7b-instruct");
    let v = api
        .embeddings("e", &["a".into(), "b".into()])
        .await
        .unwrap();
    assert_eq!(v, vec![vec![1.0, 0.0], vec![0.0, 1.0]]);
    assert_eq!(
        s.requests_to("/v1/embeddings")[0].json(),
        json!({"model": "e", "input": ["a", "b"]})
    );
}

// ---- against a real server, when one is named ----

fn live() -> Option<(String, String)> {
    match std::env::var("AIOS_TEST_OPENAI_URL") {
        Ok(url) if !url.is_empty() => Some((
            url,
            std::env::var("AIOS_TEST_OPENAI_MODEL").unwrap_or_default(),
        )),
        _ => {
            eprintln!(
                "skipped: set AIOS_TEST_OPENAI_URL (the /v1 base) and AIOS_TEST_OPENAI_MODEL to run against a real server"
            );
            None
        }
    }
}

#[tokio::test]
async fn live_models_and_chat() {
    let Some((url, model)) = live() else { return };
    let api = OpenAiApi::new(&url, Timeouts::default()).unwrap();
    let models = api.models().await.unwrap();
    let model = if model.is_empty() {
        models
            .first()
            .map(|m| m.id.clone())
            .expect("the server serves a model")
    } else {
        model
    };
    let runner = OpenAiRunner::new(&url, Timeouts::default()).unwrap();
    let mut req = request();
    req.model = model;
    req.options.max_tokens = Some(16);
    let events = collect(&runner, req).await.unwrap();
    assert!(!text(&events).is_empty());
    assert!(matches!(events.last(), Some(TokenEvent::Done { .. })));
}
