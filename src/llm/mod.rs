//! Model runners: the `LlmRunner` seam, the token events it streams, the Ollama and
//! OpenAI-compatible runners, and the scripted `sim` runner that needs no model at all
//! (always labelled `sim` wherever a model is named).

pub mod ndjson;
pub mod ollama;
pub mod ollama_api;
pub mod openai;
pub mod openai_api;
pub mod select;
mod sim;
pub mod sse;
pub mod transport;

use std::pin::Pin;

use async_trait::async_trait;
use futures::Stream;
use serde::{Deserialize, Serialize};

pub use ollama::OllamaRunner;
pub use openai::OpenAiRunner;
pub use select::{SelectedRunner, open_runner, select_runner};
pub use sim::SimRunner;
pub use transport::Timeouts;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    System,
    User,
    Assistant,
    Tool,
}

/// A tool the model may call: its name, what it does, and a JSON Schema of its arguments.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ToolSpec {
    pub name: String,
    pub description: String,
    /// A JSON Schema object (`{"type":"object","properties":{…},"required":[…]}`).
    pub parameters: serde_json::Value,
}

/// A call the model asked for.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ToolCall {
    /// The runner's id for the call, or a generated `call_<n>` when the runner gives none
    /// (Ollama), so a tool result can always name the call it answers.
    pub id: String,
    pub name: String,
    /// Always a JSON object.
    pub arguments: serde_json::Value,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ChatMessage {
    pub role: Role,
    pub content: String,
    /// Assistant turns that called tools.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub tool_calls: Vec<ToolCall>,
    /// `role = tool`: which call this answers (OpenAI-compatible servers need it).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tool_call_id: Option<String>,
    /// `role = tool`: the tool's name (Ollama needs it).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tool_name: Option<String>,
}

impl ChatMessage {
    pub fn new(role: Role, content: impl Into<String>) -> Self {
        Self {
            role,
            content: content.into(),
            tool_calls: Vec::new(),
            tool_call_id: None,
            tool_name: None,
        }
    }

    /// The result of running `call`, as the `tool` turn that answers it.
    pub fn tool_result(call: &ToolCall, content: impl Into<String>) -> Self {
        Self {
            role: Role::Tool,
            content: content.into(),
            tool_calls: Vec::new(),
            tool_call_id: Some(call.id.clone()),
            tool_name: Some(call.name.clone()),
        }
    }

    /// An assistant turn that asked for `calls` (with whatever text came with them).
    pub fn assistant_calls(content: impl Into<String>, calls: Vec<ToolCall>) -> Self {
        Self {
            role: Role::Assistant,
            content: content.into(),
            tool_calls: calls,
            tool_call_id: None,
            tool_name: None,
        }
    }
}

/// Sampling and serving options; `None` leaves the runner's own default.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct GenerateOptions {
    pub temperature: Option<f64>,
    /// Context window in tokens (Ollama's `num_ctx`; OpenAI-compatible servers fix it at load).
    pub num_ctx: Option<u32>,
    /// Most tokens to generate (Ollama's `num_predict`, OpenAI's `max_tokens`).
    pub max_tokens: Option<u32>,
    /// How long Ollama keeps the model loaded after the request, e.g. `"5m"`, `"-1"`.
    pub keep_alive: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ChatRequest {
    pub model: String,
    pub messages: Vec<ChatMessage>,
    /// Tools offered to the model; empty = none.
    #[serde(default)]
    pub tools: Vec<ToolSpec>,
    #[serde(default)]
    pub options: GenerateOptions,
}

impl ChatRequest {
    /// A request with no tools and the runner's default options.
    pub fn new(model: impl Into<String>, messages: Vec<ChatMessage>) -> Self {
        Self {
            model: model.into(),
            messages,
            tools: Vec::new(),
            options: GenerateOptions::default(),
        }
    }
}

/// Token counts and timings of one finished generation; a timing the runner did not report
/// is 0.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct Usage {
    pub prompt_tokens: u64,
    pub completion_tokens: u64,
    /// Time to the first token, in milliseconds.
    pub first_token_ms: f64,
    pub total_ms: f64,
    /// Why it stopped: `stop`, `length`, `tool_calls`, `cancelled`, …
    pub done_reason: String,
    /// Time spent reading the prompt, in milliseconds.
    pub prompt_eval_ms: f64,
    /// Time spent generating the answer, in milliseconds.
    pub eval_ms: f64,
    /// Time spent loading the model, in milliseconds.
    pub load_ms: f64,
    /// Who counted `completion_tokens`: the runner, or aios from the streamed deltas when
    /// the runner reported no usage (llama.cpp's server ignores `include_usage`).
    #[serde(skip_serializing_if = "TokenCounter::is_runner")]
    pub counted_by: TokenCounter,
}

/// Whose count `Usage::completion_tokens` is.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TokenCounter {
    /// The model runner reported it.
    #[default]
    Runner,
    /// The runner reported none: aios counted the streamed deltas, one token each.
    Aios,
}

impl TokenCounter {
    pub fn is_runner(&self) -> bool {
        *self == TokenCounter::Runner
    }
}

impl Usage {
    /// Generation speed: completion tokens over generation time, or over the time after the
    /// first token when the runner reports no generation time; `None` when unknown.
    pub fn tokens_per_second(&self) -> Option<f64> {
        let ms = if self.eval_ms > 0.0 {
            self.eval_ms
        } else {
            self.total_ms - self.first_token_ms
        };
        (self.completion_tokens > 0 && ms > 0.0)
            .then(|| self.completion_tokens as f64 * 1000.0 / ms)
    }
}

/// One event of a streamed generation.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum TokenEvent {
    Content {
        text: String,
    },
    Thinking {
        text: String,
    },
    /// A complete tool call (runners assemble streamed pieces before emitting it).
    ToolCall {
        call: ToolCall,
    },
    Done {
        usage: Usage,
    },
}

/// Why a generation failed; every message is one line naming the runner and its URL where
/// there is one.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum LlmError {
    /// Nothing answered (connection refused, reset, DNS), after the configured retries.
    #[error("model runner `{runner}` at {url} is unreachable: {message}")]
    Unreachable {
        runner: String,
        url: String,
        message: String,
    },
    /// The server answered the request with an error status.
    #[error("model runner `{runner}` at {url} answered HTTP {status}: {message}")]
    Http {
        runner: String,
        url: String,
        status: u16,
        message: String,
    },
    /// The model is not available on that server.
    #[error("model {model} is not pulled on {url}; run `aios models pull {model}`")]
    ModelNotFound { model: String, url: String },
    /// No first token, or no next token, within the configured time.
    #[error("model runner `{runner}` at {url} timed out: {message}")]
    Timeout {
        runner: String,
        url: String,
        message: String,
    },
    /// The server reported an error, or sent something that is not its protocol.
    #[error("model runner error: {0}")]
    Runner(String),
    /// The stream ended, or broke, before the final event.
    #[error("the model stopped mid-answer: {0}")]
    Interrupted(String),
}

pub type TokenStream = Pin<Box<dyn Stream<Item = Result<TokenEvent, LlmError>> + Send>>;

/// The name of the runner that makes its answers up (demos, tests, no model at hand).
pub const SIM_RUNNER: &str = "sim";

/// Streams a chat completion. Dropping the stream cancels the generation.
#[async_trait]
pub trait LlmRunner: Send + Sync {
    /// `sim`, `ollama`, `openai`.
    fn name(&self) -> &'static str;
    /// Whether the answers are made up rather than a model's: then the model is named
    /// `sim` wherever one is shown, never the configured model's name.
    fn simulated(&self) -> bool {
        is_simulated(self.name())
    }
    async fn chat(&self, request: ChatRequest) -> Result<TokenStream, LlmError>;
}

/// Whether a runner named `runner` (in a heartbeat, a record, runtime info) is the
/// simulated one.
pub fn is_simulated(runner: &str) -> bool {
    runner == SIM_RUNNER
}

/// The model a runner's answers are shown under: `sim` for the simulated runner, whatever
/// model the config names.
pub fn model_shown(runner: &str, model: &str) -> String {
    if is_simulated(runner) {
        SIM_RUNNER.to_string()
    } else {
        model.to_string()
    }
}

/// A runner and its model as the control center shows them: `sim (simulated)`, or the
/// runner and the model joined by `sep`; both cleaned for the terminal.
pub fn runner_shown(runner: &str, model: &str, sep: &str) -> String {
    if is_simulated(runner) {
        format!("{SIM_RUNNER} (simulated)")
    } else {
        format!(
            "{}{sep}{}",
            crate::sanitize::one_line(runner),
            crate::sanitize::one_line(model)
        )
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn plain_messages_serialize_without_tool_fields() {
        let m = ChatMessage::new(Role::User, "hi");
        assert_eq!(
            serde_json::to_value(&m).unwrap(),
            json!({"role": "user", "content": "hi"})
        );
        let back: ChatMessage =
            serde_json::from_value(json!({"role":"user","content":"hi"})).unwrap();
        assert_eq!(back, m);
    }

    #[test]
    fn a_tool_result_names_the_call_it_answers() {
        let call = ToolCall {
            id: "call_0".into(),
            name: "recall".into(),
            arguments: json!({"query": "login"}),
        };
        let asked = ChatMessage::assistant_calls("", vec![call.clone()]);
        assert_eq!(asked.role, Role::Assistant);
        assert_eq!(asked.tool_calls, vec![call.clone()]);
        let answer = ChatMessage::tool_result(&call, "2 items");
        assert_eq!(answer.role, Role::Tool);
        assert_eq!(answer.tool_call_id.as_deref(), Some("call_0"));
        assert_eq!(answer.tool_name.as_deref(), Some("recall"));
    }

    #[test]
    fn tokens_per_second_prefers_the_generation_time() {
        let mut u = Usage {
            completion_tokens: 100,
            eval_ms: 2000.0,
            total_ms: 9000.0,
            first_token_ms: 1000.0,
            ..Usage::default()
        };
        assert_eq!(u.tokens_per_second(), Some(50.0));
        u.eval_ms = 0.0;
        assert_eq!(u.tokens_per_second(), Some(12.5));
        u.completion_tokens = 0;
        assert_eq!(u.tokens_per_second(), None);
        assert_eq!(Usage::default().tokens_per_second(), None);
    }
}
