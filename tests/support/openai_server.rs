//! An in-test OpenAI-compatible server (as vLLM, LM Studio and llama.cpp serve it): SSE
//! chat chunks with `data:` lines, tool calls in pieces, the usage chunk with `choices: []`,
//! `[DONE]`; `/v1/models` and `/v1/embeddings`.

use serde_json::{Value, json};

use super::http_script::{Reply, ScriptServer};

pub const SSE: &str = "text/event-stream";

/// A server whose API base is `{url}/v1`; routes are scripted per test.
pub async fn start() -> ScriptServer {
    let s = ScriptServer::start().await;
    s.reply(
        "GET",
        "/v1/models",
        Reply::json(
            200,
            &json!({"object": "list", "data": [
            {"id": "mistral-7b-instruct", "object": "model", "owned_by": "vllm"}]}),
        ),
    );
    s
}

pub fn event(v: &Value) -> String {
    format!("data: {v}\n\n")
}

pub fn delta(d: Value) -> String {
    event(
        &json!({"id": "chatcmpl-1", "object": "chat.completion.chunk", "model": "m",
        "choices": [{"index": 0, "delta": d, "finish_reason": null}]}),
    )
}

pub fn content(text: &str) -> String {
    delta(json!({"content": text}))
}

pub fn reasoning(text: &str) -> String {
    delta(json!({"reasoning_content": text}))
}

/// The first piece of tool call `index`: id and name, empty arguments.
pub fn tool_start(index: u32, id: &str, name: &str) -> String {
    delta(
        json!({"tool_calls": [{"index": index, "id": id, "type": "function",
        "function": {"name": name, "arguments": ""}}]}),
    )
}

/// A later piece: a fragment of the arguments string.
pub fn tool_args(index: u32, fragment: &str) -> String {
    delta(json!({"tool_calls": [{"index": index, "function": {"arguments": fragment}}]}))
}

pub fn finish(reason: &str) -> String {
    event(
        &json!({"id": "chatcmpl-1", "object": "chat.completion.chunk", "model": "m",
        "choices": [{"index": 0, "delta": {}, "finish_reason": reason}]}),
    )
}

pub fn usage(prompt: u64, completion: u64) -> String {
    event(
        &json!({"id": "chatcmpl-1", "object": "chat.completion.chunk", "model": "m",
        "choices": [], "usage": {"prompt_tokens": prompt, "completion_tokens": completion,
        "total_tokens": prompt + completion}}),
    )
}

pub const DONE: &str = "data: [DONE]\n\n";

/// A whole streamed answer, one chunk per token, then finish, usage and `[DONE]`.
pub fn chat_reply(tokens: &[&str]) -> Reply {
    let mut r = Reply::new(200, SSE).chunk(": keep-alive\n\n");
    for t in tokens {
        r = r.chunk(content(t));
    }
    r.chunk(finish("stop"))
        .chunk(usage(12, tokens.len() as u64))
        .chunk(DONE)
}

/// A whole streamed answer as llama.cpp's server sends it: one chunk per token, then finish
/// and `[DONE]`, with no usage chunk although the request asked for one.
pub fn chat_reply_without_usage(tokens: &[&str]) -> Reply {
    let mut r = Reply::new(200, SSE);
    for t in tokens {
        r = r.chunk(content(t));
    }
    r.chunk(finish("stop")).chunk(DONE)
}

/// A streamed turn that calls one tool with `arguments` (sent in two pieces, as servers do).
pub fn tool_call_reply(id: &str, name: &str, arguments: &str) -> Reply {
    let (a, b) = arguments.split_at(arguments.len() / 2);
    Reply::new(200, SSE)
        .chunk(tool_start(0, id, name))
        .chunk(tool_args(0, a))
        .chunk(tool_args(0, b))
        .chunk(finish("tool_calls"))
        .chunk(DONE)
}
