//! The Ollama runner: `POST /api/chat` streamed as NDJSON, with tools, thinking and the
//! final `done` message's counts and timings.

use std::collections::VecDeque;

use async_trait::async_trait;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use tokio::time::Instant;

use super::ndjson::NdjsonFramer;
use super::transport::{Decoder, Endpoint, Timeouts, flatten, json_error, token_stream};
use super::{
    ChatMessage, ChatRequest, LlmError, LlmRunner, Role, TokenEvent, TokenStream, ToolCall, Usage,
};

/// A runner backed by an Ollama server.
#[derive(Debug, Clone)]
pub struct OllamaRunner {
    endpoint: Endpoint,
}

impl OllamaRunner {
    /// No connection is made here: an unreachable server is an error at the first request,
    /// naming the URL.
    pub fn new(url: &str, timeouts: Timeouts) -> Result<Self, LlmError> {
        Ok(Self {
            endpoint: Endpoint::new("ollama", url, timeouts)?,
        })
    }

    pub fn url(&self) -> &str {
        self.endpoint.base()
    }
}

#[async_trait]
impl LlmRunner for OllamaRunner {
    fn name(&self) -> &'static str {
        "ollama"
    }

    async fn chat(&self, request: ChatRequest) -> Result<TokenStream, LlmError> {
        let started = Instant::now();
        let body = chat_body(&request);
        let url = self.endpoint.url("/api/chat");
        let resp = self
            .endpoint
            .send_raw(
                |c| c.post(&url).json(&body),
                self.endpoint.timeouts.first_token,
            )
            .await?;
        if resp.status() == reqwest::StatusCode::NOT_FOUND {
            return Err(LlmError::ModelNotFound {
                model: request.model,
                url: self.endpoint.base().to_string(),
            });
        }
        if !resp.status().is_success() {
            return Err(self.endpoint.http_error(resp).await);
        }
        let decoder = OllamaDecoder::new(self.endpoint.base());
        Ok(token_stream(&self.endpoint, resp, decoder, started))
    }
}

#[derive(Debug, Serialize)]
struct WireRequest<'a> {
    model: &'a str,
    messages: Vec<WireMessage<'a>>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    tools: Vec<Value>,
    stream: bool,
    #[serde(skip_serializing_if = "serde_json::Map::is_empty")]
    options: serde_json::Map<String, Value>,
    #[serde(skip_serializing_if = "Option::is_none")]
    keep_alive: Option<&'a str>,
}

#[derive(Debug, Serialize)]
struct WireMessage<'a> {
    role: Role,
    content: &'a str,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    tool_calls: Vec<Value>,
    #[serde(skip_serializing_if = "Option::is_none")]
    tool_name: Option<&'a str>,
}

/// The JSON body of `/api/chat` for `request` (public for tests and benches).
pub fn chat_body(request: &ChatRequest) -> Value {
    let o = &request.options;
    let mut options = serde_json::Map::new();
    if let Some(t) = o.temperature {
        options.insert("temperature".into(), t.into());
    }
    if let Some(n) = o.num_ctx {
        options.insert("num_ctx".into(), n.into());
    }
    if let Some(n) = o.max_tokens {
        options.insert("num_predict".into(), n.into());
    }
    let wire = WireRequest {
        model: &request.model,
        messages: request.messages.iter().map(wire_message).collect(),
        tools: request
            .tools
            .iter()
            .map(|t| {
                serde_json::json!({"type": "function", "function": {
                    "name": t.name, "description": t.description, "parameters": t.parameters}})
            })
            .collect(),
        stream: true,
        options,
        keep_alive: o.keep_alive.as_deref(),
    };
    serde_json::to_value(wire).unwrap_or(Value::Null)
}

fn wire_message(m: &ChatMessage) -> WireMessage<'_> {
    WireMessage {
        role: m.role,
        content: &m.content,
        tool_calls: m
            .tool_calls
            .iter()
            .map(|c| serde_json::json!({"function": {"name": c.name, "arguments": c.arguments}}))
            .collect(),
        tool_name: m.tool_name.as_deref(),
    }
}

#[derive(Debug, Deserialize)]
struct Chunk {
    #[serde(default)]
    message: Option<ChunkMessage>,
    #[serde(default)]
    done: bool,
    #[serde(default)]
    done_reason: Option<String>,
    #[serde(default)]
    error: Option<Value>,
    #[serde(default)]
    prompt_eval_count: u64,
    #[serde(default)]
    eval_count: u64,
    #[serde(default)]
    total_duration: u64,
    #[serde(default)]
    load_duration: u64,
    #[serde(default)]
    prompt_eval_duration: u64,
    #[serde(default)]
    eval_duration: u64,
}

#[derive(Debug, Deserialize)]
struct ChunkMessage {
    #[serde(default)]
    content: Option<String>,
    #[serde(default)]
    thinking: Option<String>,
    #[serde(default)]
    tool_calls: Option<Vec<WireCall>>,
}

#[derive(Debug, Deserialize)]
struct WireCall {
    #[serde(default)]
    id: Option<String>,
    function: WireFunction,
}

#[derive(Debug, Deserialize)]
struct WireFunction {
    name: String,
    #[serde(default)]
    arguments: Value,
}

/// Decodes Ollama's NDJSON chat stream into token events.
#[derive(Debug)]
pub struct OllamaDecoder {
    framer: NdjsonFramer,
    url: String,
    done: bool,
    calls: usize,
}

impl OllamaDecoder {
    pub fn new(url: &str) -> Self {
        Self {
            framer: NdjsonFramer::new(),
            url: url.to_string(),
            done: false,
            calls: 0,
        }
    }

    fn line(&mut self, line: &[u8], out: &mut VecDeque<Result<TokenEvent, LlmError>>) {
        if self.done {
            return;
        }
        let chunk: Chunk = match serde_json::from_slice(line) {
            Ok(c) => c,
            Err(e) => {
                let shown: String = String::from_utf8_lossy(line).chars().take(120).collect();
                self.done = true;
                out.push_back(Err(LlmError::Runner(format!(
                    "ollama at {} sent a line that is not a chat chunk ({e}): {}",
                    self.url,
                    flatten(&shown)
                ))));
                return;
            }
        };
        if let Some(e) = chunk
            .error
            .as_ref()
            .and_then(|e| json_error(&serde_json::json!({ "error": e })))
        {
            self.done = true;
            out.push_back(Err(LlmError::Runner(format!(
                "ollama at {}: {e}",
                self.url
            ))));
            return;
        }
        if let Some(m) = chunk.message {
            if let Some(text) = m.thinking.filter(|t| !t.is_empty()) {
                out.push_back(Ok(TokenEvent::Thinking { text }));
            }
            if let Some(text) = m.content.filter(|t| !t.is_empty()) {
                out.push_back(Ok(TokenEvent::Content { text }));
            }
            for call in m.tool_calls.unwrap_or_default() {
                match self.tool_call(call) {
                    Ok(call) => out.push_back(Ok(TokenEvent::ToolCall { call })),
                    Err(e) => {
                        self.done = true;
                        out.push_back(Err(e));
                        return;
                    }
                }
            }
        }
        if chunk.done {
            self.done = true;
            let ms = |ns: u64| ns as f64 / 1e6;
            out.push_back(Ok(TokenEvent::Done {
                usage: Usage {
                    prompt_tokens: chunk.prompt_eval_count,
                    completion_tokens: chunk.eval_count,
                    first_token_ms: 0.0,
                    total_ms: ms(chunk.total_duration),
                    done_reason: chunk.done_reason.unwrap_or_else(|| "stop".into()),
                    prompt_eval_ms: ms(chunk.prompt_eval_duration),
                    eval_ms: ms(chunk.eval_duration),
                    load_ms: ms(chunk.load_duration),
                    // Ollama always reports its counts.
                    counted_by: crate::llm::TokenCounter::Runner,
                },
            }));
        }
    }

    fn tool_call(&mut self, call: WireCall) -> Result<ToolCall, LlmError> {
        let n = self.calls;
        self.calls += 1;
        let name = call.function.name;
        // Ollama sends an object; a JSON string or nothing is tolerated from look-alikes.
        let arguments = match call.function.arguments {
            Value::Null => Value::Object(Default::default()),
            Value::String(s) if s.trim().is_empty() => Value::Object(Default::default()),
            Value::String(s) => serde_json::from_str(&s).map_err(|e| {
                LlmError::Runner(format!(
                    "ollama at {}: tool call `{name}` has arguments that are not JSON: {e}",
                    self.url
                ))
            })?,
            v => v,
        };
        if !arguments.is_object() {
            return Err(LlmError::Runner(format!(
                "ollama at {}: tool call `{name}` has arguments that are not an object: {arguments}",
                self.url
            )));
        }
        Ok(ToolCall {
            id: call
                .id
                .filter(|i| !i.is_empty())
                .unwrap_or_else(|| format!("call_{n}")),
            name,
            arguments,
        })
    }
}

impl Decoder for OllamaDecoder {
    fn feed(&mut self, bytes: &[u8], out: &mut VecDeque<Result<TokenEvent, LlmError>>) {
        let mut lines = Vec::new();
        if let Err(e) = self.framer.push(bytes, |l| lines.push(l.to_vec())) {
            self.done = true;
            out.push_back(Err(LlmError::Runner(format!(
                "ollama at {}: {e}",
                self.url
            ))));
            return;
        }
        for l in lines {
            self.line(&l, out);
        }
    }

    fn finish(&mut self, out: &mut VecDeque<Result<TokenEvent, LlmError>>) {
        let mut last = None;
        self.framer.finish(|l| last = Some(l.to_vec()));
        if let Some(l) = last {
            self.line(&l, out);
        }
        if !self.done {
            self.done = true;
            out.push_back(Err(LlmError::Interrupted(format!(
                "ollama at {} ended the stream without its final `done` message",
                self.url
            ))));
        }
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;
    use crate::llm::{GenerateOptions, ToolSpec};

    fn decode(chunks: &[&str]) -> Vec<Result<TokenEvent, LlmError>> {
        let mut d = OllamaDecoder::new("http://o:11434");
        let mut out = VecDeque::new();
        for c in chunks {
            d.feed(c.as_bytes(), &mut out);
        }
        d.finish(&mut out);
        out.into_iter().collect()
    }

    #[test]
    fn content_thinking_tool_calls_and_usage() {
        let events = decode(&[
            "{\"message\":{\"role\":\"assistant\",\"content\":\"\",\"thinking\":\"hmm\"},\"done\":false}\n{\"message\":{\"content\":\"Hi\"},",
            "\"done\":false}\n{\"message\":{\"content\":\"\",\"tool_calls\":[{\"function\":{\"name\":\"recall\",\"arguments\":{\"query\":\"x\"}}}]},\"done\":false}\n",
            "{\"message\":{\"content\":\"\"},\"done\":true,\"done_reason\":\"stop\",\"total_duration\":5000000000,\"load_duration\":1000000,\"prompt_eval_count\":26,\"prompt_eval_duration\":2000000,\"eval_count\":10,\"eval_duration\":500000000}",
        ]);
        let events: Vec<TokenEvent> = events.into_iter().map(Result::unwrap).collect();
        assert_eq!(events[0], TokenEvent::Thinking { text: "hmm".into() });
        assert_eq!(events[1], TokenEvent::Content { text: "Hi".into() });
        assert_eq!(
            events[2],
            TokenEvent::ToolCall {
                call: ToolCall {
                    id: "call_0".into(),
                    name: "recall".into(),
                    arguments: json!({"query": "x"})
                }
            }
        );
        let TokenEvent::Done { usage } = &events[3] else {
            panic!("{events:?}")
        };
        assert_eq!((usage.prompt_tokens, usage.completion_tokens), (26, 10));
        assert_eq!(usage.total_ms, 5000.0);
        assert_eq!(usage.eval_ms, 500.0);
        assert_eq!(usage.load_ms, 1.0);
        assert_eq!(usage.prompt_eval_ms, 2.0);
        assert_eq!(usage.tokens_per_second(), Some(20.0));
    }

    #[test]
    fn an_error_line_mid_stream_is_an_error_event() {
        let events = decode(&[
            "{\"message\":{\"content\":\"a\"},\"done\":false}\n{\"error\":\"out of memory\"}\n",
        ]);
        assert!(matches!(&events[0], Ok(TokenEvent::Content { .. })));
        let Err(LlmError::Runner(m)) = &events[1] else {
            panic!("{events:?}")
        };
        assert!(
            m.contains("out of memory") && m.contains("http://o:11434"),
            "{m}"
        );
        assert_eq!(events.len(), 2);
    }

    #[test]
    fn a_stream_without_done_is_interrupted() {
        let events = decode(&["{\"message\":{\"content\":\"a\"},\"done\":false}\n"]);
        assert!(matches!(&events[1], Err(LlmError::Interrupted(m)) if m.contains("done")));
    }

    #[test]
    fn garbage_is_a_clear_error_not_a_panic() {
        let events = decode(&["not json\n"]);
        assert!(matches!(&events[0], Err(LlmError::Runner(m)) if m.contains("not a chat chunk")));
    }

    #[test]
    fn the_request_carries_tools_tool_turns_options_and_keep_alive() {
        let call = ToolCall {
            id: "call_0".into(),
            name: "recall".into(),
            arguments: json!({"query": "x"}),
        };
        let mut req = ChatRequest::new(
            "llama3",
            vec![
                ChatMessage::new(Role::User, "hi"),
                ChatMessage::assistant_calls("", vec![call.clone()]),
                ChatMessage::tool_result(&call, "found"),
            ],
        );
        req.tools = vec![ToolSpec {
            name: "recall".into(),
            description: "search memory".into(),
            parameters: json!({"type": "object"}),
        }];
        req.options = GenerateOptions {
            temperature: Some(0.5),
            num_ctx: Some(8192),
            max_tokens: Some(100),
            keep_alive: Some("5m".into()),
        };
        let body = chat_body(&req);
        assert_eq!(body["stream"], json!(true));
        assert_eq!(body["keep_alive"], json!("5m"));
        assert_eq!(
            body["options"],
            json!({"temperature": 0.5, "num_ctx": 8192, "num_predict": 100})
        );
        assert_eq!(body["tools"][0]["type"], json!("function"));
        assert_eq!(body["tools"][0]["function"]["name"], json!("recall"));
        assert_eq!(
            body["messages"][1]["tool_calls"][0]["function"]["arguments"],
            json!({"query": "x"})
        );
        assert_eq!(body["messages"][2]["role"], json!("tool"));
        assert_eq!(body["messages"][2]["tool_name"], json!("recall"));
        assert!(body["messages"][0].get("tool_calls").is_none());
    }
}
