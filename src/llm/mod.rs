//! Model runners: the `LlmRunner` seam, the token events it streams, and the scripted
//! `sim` runner that needs no model at all (always labelled `sim` wherever a model is named).

mod sim;

use std::pin::Pin;

use async_trait::async_trait;
use futures::Stream;
use serde::{Deserialize, Serialize};

pub use sim::SimRunner;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    System,
    User,
    Assistant,
    Tool,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ChatMessage {
    pub role: Role,
    pub content: String,
}

impl ChatMessage {
    pub fn new(role: Role, content: impl Into<String>) -> Self {
        Self {
            role,
            content: content.into(),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ChatRequest {
    pub model: String,
    pub messages: Vec<ChatMessage>,
}

/// Token counts and timings of one finished generation.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Usage {
    pub prompt_tokens: u64,
    pub completion_tokens: u64,
    /// Time to the first token, in milliseconds.
    pub first_token_ms: f64,
    pub total_ms: f64,
    /// Why it stopped: `stop`, `length`, `cancelled`, …
    pub done_reason: String,
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
    ToolCall {
        name: String,
        arguments: serde_json::Value,
    },
    Done {
        usage: Usage,
    },
}

#[derive(Debug, thiserror::Error)]
pub enum LlmError {
    #[error("model runner `{runner}` at {url} is unreachable: {message}")]
    Unreachable {
        runner: String,
        url: String,
        message: String,
    },
    #[error("model runner error: {0}")]
    Runner(String),
    #[error("the model stopped mid-answer: {0}")]
    Interrupted(String),
}

pub type TokenStream = Pin<Box<dyn Stream<Item = Result<TokenEvent, LlmError>> + Send>>;

/// Streams a chat completion. Dropping the stream cancels the generation.
#[async_trait]
pub trait LlmRunner: Send + Sync {
    /// `sim`, `ollama`, `openai`.
    fn name(&self) -> &'static str;
    async fn chat(&self, request: ChatRequest) -> Result<TokenStream, LlmError>;
}
