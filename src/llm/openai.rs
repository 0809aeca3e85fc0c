//! The OpenAI-compatible runner (vLLM, LM Studio, llama.cpp server): `POST
//! {url}/chat/completions` streamed as SSE, tool calls assembled from their pieces.

use std::collections::{BTreeMap, VecDeque};

use async_trait::async_trait;
use serde::Deserialize;
use serde_json::{Value, json};
use tokio::time::Instant;

use super::sse::SseFramer;
use super::transport::{Decoder, Endpoint, Timeouts, flatten, json_error, token_stream};
use super::{
    ChatMessage, ChatRequest, LlmError, LlmRunner, Role, TokenCounter, TokenEvent, TokenStream,
    ToolCall, Usage,
};

/// A runner backed by a server speaking the OpenAI chat-completions API.
#[derive(Debug, Clone)]
pub struct OpenAiRunner {
    endpoint: Endpoint,
}

impl OpenAiRunner {
    /// `url` is the API base, ending in `/v1`. A closed hosted API is refused here too, not
    /// only by config validation, so no code path can reach one. No connection is made.
    pub fn new(url: &str, timeouts: Timeouts) -> Result<Self, LlmError> {
        crate::config::check_open_model_url("llm.openai.url", url)
            .map_err(|v| LlmError::Runner(v.to_string()))?;
        Ok(Self {
            endpoint: Endpoint::new("openai", url, timeouts)?,
        })
    }

    pub fn url(&self) -> &str {
        self.endpoint.base()
    }
}

#[async_trait]
impl LlmRunner for OpenAiRunner {
    fn name(&self) -> &'static str {
        "openai"
    }

    async fn chat(&self, request: ChatRequest) -> Result<TokenStream, LlmError> {
        let started = Instant::now();
        let body = chat_body(&request);
        let url = self.endpoint.url("/chat/completions");
        let resp = self
            .endpoint
            .send(
                |c| c.post(&url).json(&body),
                self.endpoint.timeouts.first_token,
            )
            .await?;
        let decoder = OpenAiDecoder::new(self.endpoint.base());
        Ok(token_stream(&self.endpoint, resp, decoder, started))
    }
}

/// The JSON body of `/chat/completions` for `request` (public for tests and benches).
pub fn chat_body(request: &ChatRequest) -> Value {
    let mut body = json!({
        "model": request.model,
        "messages": request.messages.iter().map(wire_message).collect::<Vec<_>>(),
        "stream": true,
        "stream_options": {"include_usage": true},
    });
    if !request.tools.is_empty() {
        body["tools"] = request
            .tools
            .iter()
            .map(|t| {
                json!({"type": "function", "function": {
                    "name": t.name, "description": t.description, "parameters": t.parameters}})
            })
            .collect();
    }
    if let Some(t) = request.options.temperature {
        body["temperature"] = t.into();
    }
    if let Some(n) = request.options.max_tokens {
        body["max_tokens"] = n.into();
    }
    body
}

fn wire_message(m: &ChatMessage) -> Value {
    let mut v = json!({"role": m.role, "content": m.content});
    if !m.tool_calls.is_empty() {
        v["tool_calls"] = m
            .tool_calls
            .iter()
            .map(|c| {
                json!({"id": c.id, "type": "function", "function": {
                    "name": c.name, "arguments": c.arguments.to_string()}})
            })
            .collect();
        if m.content.is_empty() {
            v["content"] = Value::Null;
        }
    }
    if m.role == Role::Tool
        && let Some(id) = &m.tool_call_id
    {
        v["tool_call_id"] = json!(id);
    }
    v
}

#[derive(Debug, Deserialize)]
struct Chunk {
    #[serde(default)]
    choices: Option<Vec<Choice>>,
    #[serde(default)]
    usage: Option<WireUsage>,
    /// llama.cpp's server reports its own timings.
    #[serde(default)]
    timings: Option<Timings>,
}

#[derive(Debug, Deserialize)]
struct Choice {
    #[serde(default)]
    index: u32,
    #[serde(default)]
    delta: Option<Delta>,
    #[serde(default)]
    finish_reason: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
struct Delta {
    #[serde(default)]
    content: Option<String>,
    #[serde(default)]
    reasoning_content: Option<String>,
    #[serde(default)]
    reasoning: Option<String>,
    #[serde(default)]
    tool_calls: Option<Vec<DeltaCall>>,
}

impl Delta {
    /// Whether this delta carries a generated token: text, reasoning or a tool-call piece.
    fn generated_something(&self) -> bool {
        let text = |t: &Option<String>| t.as_deref().is_some_and(|t| !t.is_empty());
        text(&self.content)
            || text(&self.reasoning_content)
            || text(&self.reasoning)
            || self.tool_calls.as_ref().is_some_and(|c| !c.is_empty())
    }
}

#[derive(Debug, Deserialize)]
struct DeltaCall {
    #[serde(default)]
    index: Option<usize>,
    #[serde(default)]
    id: Option<String>,
    #[serde(default)]
    function: Option<DeltaFunction>,
}

#[derive(Debug, Deserialize)]
struct DeltaFunction {
    #[serde(default)]
    name: Option<String>,
    #[serde(default)]
    arguments: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
struct WireUsage {
    #[serde(default)]
    prompt_tokens: u64,
    #[serde(default)]
    completion_tokens: u64,
}

#[derive(Debug, Default, Deserialize)]
struct Timings {
    #[serde(default)]
    prompt_ms: f64,
    #[serde(default)]
    predicted_ms: f64,
}

#[derive(Debug, Default)]
struct PartialCall {
    id: String,
    name: String,
    arguments: String,
}

/// Decodes an OpenAI-compatible SSE chat stream into token events.
#[derive(Debug)]
pub struct OpenAiDecoder {
    framer: SseFramer,
    url: String,
    calls: BTreeMap<usize, PartialCall>,
    finish_reason: Option<String>,
    usage: Usage,
    /// The runner sent a usage object with a completion count.
    usage_reported: bool,
    /// Chunks that carried generated text or tool-call pieces: one token each on every
    /// OpenAI-compatible server, so the count when the server reports none.
    deltas: u64,
    done: bool,
}

impl OpenAiDecoder {
    pub fn new(url: &str) -> Self {
        Self {
            framer: SseFramer::new(),
            url: url.to_string(),
            calls: BTreeMap::new(),
            finish_reason: None,
            usage: Usage::default(),
            usage_reported: false,
            deltas: 0,
            done: false,
        }
    }

    fn fail(&mut self, out: &mut VecDeque<Result<TokenEvent, LlmError>>, e: LlmError) {
        self.done = true;
        out.push_back(Err(e));
    }

    fn event(&mut self, data: &[u8], out: &mut VecDeque<Result<TokenEvent, LlmError>>) {
        if self.done {
            return;
        }
        if data.trim_ascii() == b"[DONE]" {
            self.complete(out);
            return;
        }
        let v: Value = match serde_json::from_slice(data) {
            Ok(v) => v,
            Err(e) => {
                let shown: String = String::from_utf8_lossy(data).chars().take(120).collect();
                let msg = format!(
                    "openai at {} sent an event that is not JSON ({e}): {}",
                    self.url,
                    flatten(&shown)
                );
                return self.fail(out, LlmError::Runner(msg));
            }
        };
        if let Some(e) = json_error(&v) {
            return self.fail(
                out,
                LlmError::Runner(format!("openai at {}: {e}", self.url)),
            );
        }
        let chunk: Chunk = match serde_json::from_value(v) {
            Ok(c) => c,
            Err(e) => {
                let msg = format!(
                    "openai at {} sent a chunk of the wrong shape: {e}",
                    self.url
                );
                return self.fail(out, LlmError::Runner(msg));
            }
        };
        if let Some(u) = chunk.usage {
            self.usage.prompt_tokens = u.prompt_tokens;
            self.usage.completion_tokens = u.completion_tokens;
            self.usage_reported |= u.completion_tokens > 0;
        }
        if let Some(t) = chunk.timings {
            self.usage.prompt_eval_ms = t.prompt_ms;
            self.usage.eval_ms = t.predicted_ms;
        }
        for choice in chunk.choices.unwrap_or_default() {
            // One answer is asked for; other choices (n > 1) are not ours.
            if choice.index != 0 {
                continue;
            }
            let delta = choice.delta.unwrap_or_default();
            if delta.generated_something() {
                self.deltas += 1;
            }
            for text in [delta.reasoning_content, delta.reasoning]
                .into_iter()
                .flatten()
            {
                if !text.is_empty() {
                    out.push_back(Ok(TokenEvent::Thinking { text }));
                }
            }
            if let Some(text) = delta.content.filter(|t| !t.is_empty()) {
                out.push_back(Ok(TokenEvent::Content { text }));
            }
            for (i, piece) in delta.tool_calls.unwrap_or_default().into_iter().enumerate() {
                let call = self.calls.entry(piece.index.unwrap_or(i)).or_default();
                if let Some(id) = piece.id.filter(|s| !s.is_empty()) {
                    call.id = id;
                }
                if let Some(f) = piece.function {
                    if let Some(name) = f.name.filter(|s| !s.is_empty()) {
                        call.name = name;
                    }
                    if let Some(args) = f.arguments {
                        call.arguments.push_str(&args);
                    }
                }
            }
            if let Some(reason) = choice.finish_reason {
                self.finish_reason = Some(reason);
                self.emit_calls(out);
            }
        }
    }

    /// The assembled tool calls, once their pieces are all in.
    fn emit_calls(&mut self, out: &mut VecDeque<Result<TokenEvent, LlmError>>) {
        for (n, call) in std::mem::take(&mut self.calls) {
            let text = call.arguments.trim();
            let arguments = if text.is_empty() {
                Ok(Value::Object(Default::default()))
            } else {
                serde_json::from_str::<Value>(text)
            };
            let name = call.name;
            match arguments {
                Ok(arguments) if arguments.is_object() => {
                    let id = if call.id.is_empty() {
                        format!("call_{n}")
                    } else {
                        call.id
                    };
                    out.push_back(Ok(TokenEvent::ToolCall {
                        call: ToolCall {
                            id,
                            name,
                            arguments,
                        },
                    }));
                }
                Ok(other) => {
                    let msg = format!(
                        "openai at {}: tool call `{name}` has arguments that are not an object: {other}",
                        self.url
                    );
                    return self.fail(out, LlmError::Runner(msg));
                }
                Err(e) => {
                    let shown: String = text.chars().take(120).collect();
                    let msg = format!(
                        "openai at {}: tool call `{name}` has arguments that are not JSON ({e}): {}",
                        self.url,
                        flatten(&shown)
                    );
                    return self.fail(out, LlmError::Runner(msg));
                }
            }
        }
    }

    fn complete(&mut self, out: &mut VecDeque<Result<TokenEvent, LlmError>>) {
        self.emit_calls(out);
        if self.done {
            return;
        }
        self.done = true;
        let mut usage = std::mem::take(&mut self.usage);
        if !self.usage_reported && self.deltas > 0 {
            usage.completion_tokens = self.deltas;
            usage.counted_by = TokenCounter::Aios;
        }
        usage.done_reason = self.finish_reason.take().unwrap_or_else(|| "stop".into());
        out.push_back(Ok(TokenEvent::Done { usage }));
    }
}

impl Decoder for OpenAiDecoder {
    fn feed(&mut self, bytes: &[u8], out: &mut VecDeque<Result<TokenEvent, LlmError>>) {
        let mut events = Vec::new();
        if let Err(e) = self.framer.push(bytes, |d| events.push(d.to_vec())) {
            return self.fail(
                out,
                LlmError::Runner(format!("openai at {}: {e}", self.url)),
            );
        }
        for e in events {
            self.event(&e, out);
        }
    }

    fn finish(&mut self, out: &mut VecDeque<Result<TokenEvent, LlmError>>) {
        let mut events = Vec::new();
        self.framer.finish(|d| events.push(d.to_vec()));
        for e in events {
            self.event(&e, out);
        }
        if self.done {
            return;
        }
        // Some servers close without `[DONE]`; an answer that said why it finished is whole.
        if self.finish_reason.is_some() {
            self.complete(out);
        } else {
            let msg = format!("openai at {} ended the stream before `[DONE]`", self.url);
            self.fail(out, LlmError::Interrupted(msg));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::llm::ToolSpec;

    fn decode(chunks: &[&str]) -> Vec<Result<TokenEvent, LlmError>> {
        let mut d = OpenAiDecoder::new("http://v:8000/v1");
        let mut out = VecDeque::new();
        for c in chunks {
            d.feed(c.as_bytes(), &mut out);
        }
        d.finish(&mut out);
        out.into_iter().collect()
    }

    #[test]
    fn content_reasoning_split_tool_calls_and_usage() {
        let events = decode(&[
            ": ping\n\ndata: {\"choices\":[{\"index\":0,\"delta\":{\"role\":\"assistant\",\"content\":\"\"}}]}\n\n",
            "data: {\"choices\":[{\"index\":0,\"delta\":{\"reasoning_content\":\"think\"}}]}\n\ndata: {\"choices\":[{\"index\":0,\"delta\":{\"content\":\"Hi\"}}]}\n\n",
            "data: {\"choices\":[{\"index\":0,\"delta\":{\"tool_calls\":[{\"index\":0,\"id\":\"call_a\",\"type\":\"function\",\"function\":{\"name\":\"recall\",\"arguments\":\"\"}}]}}]}\n\n",
            "data: {\"choices\":[{\"index\":0,\"delta\":{\"tool_calls\":[{\"index\":0,\"function\":{\"arguments\":\"{\\\"que\"}}]}}]}\n\n",
            "data: {\"choices\":[{\"index\":0,\"delta\":{\"tool_calls\":[{\"index\":0,\"function\":{\"arguments\":\"ry\\\": \\\"x\\\"}\"}}]}}]}\n\n",
            "data: {\"choices\":[{\"index\":0,\"delta\":{},\"finish_reason\":\"tool_calls\"}]}\n\n",
            "data: {\"choices\":[],\"usage\":{\"prompt_tokens\":12,\"completion_tokens\":7,\"total_tokens\":19}}\n\ndata: [DONE]\n\n",
        ]);
        let events: Vec<TokenEvent> = events.into_iter().map(Result::unwrap).collect();
        assert_eq!(
            events[0],
            TokenEvent::Thinking {
                text: "think".into()
            }
        );
        assert_eq!(events[1], TokenEvent::Content { text: "Hi".into() });
        assert_eq!(
            events[2],
            TokenEvent::ToolCall {
                call: ToolCall {
                    id: "call_a".into(),
                    name: "recall".into(),
                    arguments: json!({"query": "x"})
                }
            }
        );
        let TokenEvent::Done { usage } = &events[3] else {
            panic!("{events:?}")
        };
        assert_eq!((usage.prompt_tokens, usage.completion_tokens), (12, 7));
        assert_eq!(usage.done_reason, "tool_calls");
        assert_eq!(events.len(), 4);
    }

    #[test]
    fn choices_null_or_missing_are_tolerated() {
        let events = decode(&[
            "data: {\"choices\":null}\n\ndata: {\"id\":\"x\"}\n\ndata: {\"choices\":[{\"delta\":{\"reasoning\":\"r\",\"content\":\"a\"},\"finish_reason\":\"stop\"}]}\n\ndata: [DONE]\n\n",
        ]);
        assert_eq!(events.len(), 3, "{events:?}");
        assert!(
            matches!(&events[2], Ok(TokenEvent::Done { usage }) if usage.done_reason == "stop")
        );
    }

    #[test]
    fn invalid_tool_arguments_are_a_clear_error() {
        let events = decode(&[
            "data: {\"choices\":[{\"delta\":{\"tool_calls\":[{\"index\":0,\"id\":\"c\",\"function\":{\"name\":\"recall\",\"arguments\":\"{oops\"}}]},\"finish_reason\":\"tool_calls\"}]}\n\n",
        ]);
        let Err(LlmError::Runner(m)) = &events[0] else {
            panic!("{events:?}")
        };
        assert!(m.contains("`recall`") && m.contains("not JSON"), "{m}");
        assert_eq!(events.len(), 1);
    }

    #[test]
    fn an_error_event_mid_stream_is_an_error() {
        let events = decode(&[
            "data: {\"choices\":[{\"delta\":{\"content\":\"a\"}}]}\n\ndata: {\"error\":{\"message\":\"CUDA out of memory\",\"code\":500}}\n\n",
        ]);
        assert!(matches!(&events[1], Err(LlmError::Runner(m)) if m.contains("CUDA out of memory")));
    }

    #[test]
    fn an_end_without_done_or_finish_reason_is_interrupted() {
        let events = decode(&["data: {\"choices\":[{\"delta\":{\"content\":\"a\"}}]}\n\n"]);
        assert!(matches!(&events[1], Err(LlmError::Interrupted(_))));
    }

    #[test]
    fn the_request_has_stream_usage_tools_and_tool_turns() {
        let call = ToolCall {
            id: "call_a".into(),
            name: "recall".into(),
            arguments: json!({"query": "x"}),
        };
        let mut req = ChatRequest::new(
            "m",
            vec![
                ChatMessage::assistant_calls("", vec![call.clone()]),
                ChatMessage::tool_result(&call, "found"),
            ],
        );
        req.tools = vec![ToolSpec {
            name: "recall".into(),
            description: "d".into(),
            parameters: json!({"type": "object"}),
        }];
        req.options.max_tokens = Some(5);
        let b = chat_body(&req);
        assert_eq!(b["stream_options"], json!({"include_usage": true}));
        assert_eq!(b["max_tokens"], json!(5));
        assert_eq!(b["tools"][0]["function"]["name"], json!("recall"));
        assert_eq!(b["messages"][0]["content"], Value::Null);
        assert_eq!(
            b["messages"][0]["tool_calls"][0]["function"]["arguments"],
            json!("{\"query\":\"x\"}")
        );
        assert_eq!(b["messages"][1]["tool_call_id"], json!("call_a"));
    }

    #[test]
    fn a_closed_api_url_is_refused() {
        let e = OpenAiRunner::new("https://api.openai.com/v1", Timeouts::default()).unwrap_err();
        assert!(e.to_string().contains("open models only"), "{e}");
    }
}
