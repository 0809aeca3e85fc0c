//! A scripted model for agent-loop tests: a function of the request decides the turn, so a
//! test can make a model call tools, read their results and answer, like a real one would.

#![allow(dead_code)]

use std::sync::{Arc, Mutex};

use aios::llm::{ChatRequest, LlmError, LlmRunner, Role, TokenEvent, TokenStream, ToolCall, Usage};
use async_trait::async_trait;

type Script = dyn Fn(&ChatRequest) -> Vec<TokenEvent> + Send + Sync;

pub struct ScriptedRunner {
    script: Box<Script>,
    /// Every request it was sent, in order.
    pub requests: Arc<Mutex<Vec<ChatRequest>>>,
}

impl ScriptedRunner {
    pub fn new(script: impl Fn(&ChatRequest) -> Vec<TokenEvent> + Send + Sync + 'static) -> Self {
        Self {
            script: Box::new(script),
            requests: Arc::new(Mutex::new(Vec::new())),
        }
    }
}

#[async_trait]
impl LlmRunner for ScriptedRunner {
    fn name(&self) -> &'static str {
        "scripted"
    }

    async fn chat(&self, request: ChatRequest) -> Result<TokenStream, LlmError> {
        let mut events = (self.script)(&request);
        self.requests.lock().unwrap().push(request);
        let completion = events.len() as u64;
        events.push(TokenEvent::Done {
            usage: Usage {
                completion_tokens: completion,
                done_reason: "stop".into(),
                ..Usage::default()
            },
        });
        Ok(Box::pin(futures::stream::iter(events.into_iter().map(Ok))))
    }
}

/// The launch chain: strategy-agent hands off to content-agent, which answers; strategy
/// then answers too. Any other agent reports on the deploy queue.
pub fn launch_handoff() -> ScriptedRunner {
    ScriptedRunner::new(|req| match agent_of(req).as_str() {
        "strategy-agent" if tool_results(req).is_empty() => vec![
            say("Planning the launch. "),
            call(
                "c1",
                "handoff",
                serde_json::json!({"agent_id": "content-agent", "text": "Write the launch announcement"}),
            ),
        ],
        "strategy-agent" => vec![say("Content-agent is writing the announcement.")],
        "content-agent" => vec![say("Announcing our launch on 1 December!")],
        other => vec![say(&format!(
            "{other} checked the deploy queue: all green."
        ))],
    })
}

/// The agent id the prompt is for (the prompt builder writes `Agent: <id>`).
pub fn agent_of(request: &ChatRequest) -> String {
    request
        .messages
        .iter()
        .find(|m| m.role == Role::System)
        .and_then(|m| m.content.lines().find_map(|l| l.strip_prefix("Agent: ")))
        .unwrap_or("")
        .trim()
        .to_string()
}

/// The results of tool calls fed back so far in this conversation.
pub fn tool_results(request: &ChatRequest) -> Vec<String> {
    request
        .messages
        .iter()
        .filter(|m| m.role == Role::Tool)
        .map(|m| m.content.clone())
        .collect()
}

pub fn call(id: &str, name: &str, arguments: serde_json::Value) -> TokenEvent {
    TokenEvent::ToolCall {
        call: ToolCall {
            id: id.into(),
            name: name.into(),
            arguments,
        },
    }
}

pub fn say(text: &str) -> TokenEvent {
    TokenEvent::Content { text: text.into() }
}

/// Every event of a chat, or the error that ended it.
pub async fn collect(
    runner: &dyn LlmRunner,
    req: ChatRequest,
) -> Result<Vec<TokenEvent>, LlmError> {
    use futures::StreamExt;
    let mut stream = runner.chat(req).await?;
    let mut out = Vec::new();
    while let Some(ev) = stream.next().await {
        out.push(ev?);
    }
    Ok(out)
}

/// The content text of a chat's events.
pub fn text(events: &[TokenEvent]) -> String {
    events
        .iter()
        .filter_map(|e| match e {
            TokenEvent::Content { text } => Some(text.as_str()),
            _ => None,
        })
        .collect()
}
