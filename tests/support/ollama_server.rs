//! An in-test Ollama: the scripted HTTP server with Ollama's wire format (NDJSON chat
//! chunks, the final `done` message with nanosecond durations, `/api/tags`, `/api/pull`
//! status lines, …). Tests script each route; these helpers write the exact lines.

use serde_json::{Value, json};

use super::http_script::{Reply, ScriptServer};

pub const NDJSON: &str = "application/x-ndjson";

/// A server that answers `/api/version` (as `auto` probes it); everything else is scripted
/// per test.
pub async fn start() -> ScriptServer {
    let s = ScriptServer::start().await;
    s.reply(
        "GET",
        "/api/version",
        Reply::json(200, &json!({"version": "0.12.6"})),
    );
    s
}

/// One streamed chat chunk carrying `text`, with its `\n`.
pub fn content(text: &str) -> String {
    line(
        &json!({"model": "llama3", "created_at": "2026-11-24T12:00:00Z",
        "message": {"role": "assistant", "content": text}, "done": false}),
    )
}

pub fn thinking(text: &str) -> String {
    line(
        &json!({"model": "llama3", "created_at": "2026-11-24T12:00:00Z",
        "message": {"role": "assistant", "content": "", "thinking": text}, "done": false}),
    )
}

/// A chunk with whole tool calls, `arguments` as objects (Ollama's form).
pub fn tool_calls(calls: &[(&str, Value)]) -> String {
    let calls: Vec<Value> = calls
        .iter()
        .map(|(name, args)| json!({"function": {"name": name, "arguments": args}}))
        .collect();
    line(
        &json!({"model": "llama3", "created_at": "2026-11-24T12:00:00Z",
        "message": {"role": "assistant", "content": "", "tool_calls": calls}, "done": false}),
    )
}

/// The final chunk: 26 prompt tokens in 0.1 s, `eval_count` tokens in 0.5 s, 5 s in all.
pub fn done(eval_count: u64) -> String {
    line(
        &json!({"model": "llama3", "created_at": "2026-11-24T12:00:01Z",
        "message": {"role": "assistant", "content": ""}, "done": true, "done_reason": "stop",
        "total_duration": 5_000_000_000u64, "load_duration": 3_000_000u64,
        "prompt_eval_count": 26, "prompt_eval_duration": 100_000_000u64,
        "eval_count": eval_count, "eval_duration": 500_000_000u64}),
    )
}

pub fn error(message: &str) -> String {
    line(&json!({"error": message}))
}

/// A whole streamed answer, one chunk per token, then `done`.
pub fn chat_reply(tokens: &[&str]) -> Reply {
    let mut r = Reply::new(200, NDJSON);
    for t in tokens {
        r = r.chunk(content(t));
    }
    r.chunk(done(tokens.len() as u64))
}

pub fn line(v: &Value) -> String {
    format!("{v}\n")
}

/// `/api/tags` with models as Ollama lists them.
pub fn tags(models: &[(&str, &str, &str, &str)]) -> Reply {
    let models: Vec<Value> = models
        .iter()
        .map(|(name, family, size, quant)| {
            json!({"name": name, "model": name, "modified_at": "2026-11-01T10:00:00Z",
                "size": 4_661_224_676u64, "digest": "365c0bd3c000",
                "details": {"parent_model": "", "format": "gguf", "family": family,
                    "families": [family], "parameter_size": size, "quantization_level": quant}})
        })
        .collect();
    Reply::json(200, &json!({ "models": models }))
}
