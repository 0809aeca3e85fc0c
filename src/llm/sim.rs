//! The `sim` runner: a deterministic scripted "model" for zero-setup runs and tests.
//!
//! It reads the prompt the agent built (role, goals, recalled memory, the request) and
//! answers with a structured plan, streamed word by word at a fixed rate, so every pane and
//! every code path behind a real model can be exercised with no model installed.

use std::time::{Duration, Instant};

use async_trait::async_trait;
use futures::stream;

use super::{ChatRequest, LlmError, LlmRunner, Role, TokenEvent, TokenStream, Usage};

#[derive(Debug, Clone)]
pub struct SimRunner {
    /// Zero streams without delay.
    tokens_per_second: u32,
}

impl SimRunner {
    pub fn new(tokens_per_second: u32) -> Self {
        Self { tokens_per_second }
    }
}

/// A `key: value` line from the system prompt (the prompt builder writes them).
fn field<'a>(system: &'a str, key: &str) -> Option<&'a str> {
    system
        .lines()
        .find_map(|l| l.strip_prefix(key).map(str::trim))
}

/// The scripted answer for a request: the same request always gets the same answer.
pub fn script(request: &ChatRequest) -> String {
    let system = request
        .messages
        .iter()
        .find(|m| m.role == Role::System)
        .map(|m| m.content.as_str())
        .unwrap_or("");
    let ask = request
        .messages
        .iter()
        .rev()
        .find(|m| m.role == Role::User)
        .map(|m| m.content.trim())
        .unwrap_or("");
    let agent = field(system, "Agent:").unwrap_or("agent");
    let role = field(system, "Role:").unwrap_or("general work");
    let goals: Vec<&str> = field(system, "Goals:")
        .map(|g| {
            g.split(',')
                .map(str::trim)
                .filter(|s| !s.is_empty())
                .collect()
        })
        .unwrap_or_default();
    let recalled = field(system, "Recalled:")
        .and_then(|n| n.split_whitespace().next())
        .and_then(|n| n.parse::<usize>().ok())
        .unwrap_or(0);
    let summary: String = ask.chars().take(120).collect();

    let mut out = format!("Acknowledged: \"{summary}\".\n");
    out.push_str(&format!("As {agent} ({role}), my plan:\n"));
    if goals.is_empty() {
        out.push_str("1. Clarify the request and its owner.\n");
    }
    for (i, goal) in goals.iter().enumerate().take(3) {
        out.push_str(&format!("{}. Advance `{goal}` on this request.\n", i + 1));
    }
    out.push_str(&format!(
        "Memory: {recalled} related item{} recalled.\n",
        if recalled == 1 { "" } else { "s" }
    ));
    out.push_str("Next step: record the outcome in my context and report back.");
    out
}

/// Split into word tokens that keep their leading whitespace, as model tokens do.
fn tokens(text: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut cur = String::new();
    for ch in text.chars() {
        if ch.is_whitespace() && !cur.trim().is_empty() {
            out.push(std::mem::take(&mut cur));
        }
        cur.push(ch);
    }
    if !cur.is_empty() {
        out.push(cur);
    }
    out
}

#[async_trait]
impl LlmRunner for SimRunner {
    fn name(&self) -> &'static str {
        super::SIM_RUNNER
    }

    async fn chat(&self, request: ChatRequest) -> Result<TokenStream, LlmError> {
        let answer = script(&request);
        let prompt_tokens: u64 = request
            .messages
            .iter()
            .map(|m| m.content.split_whitespace().count() as u64)
            .sum();
        let pieces = tokens(&answer);
        let gap = match self.tokens_per_second {
            0 => Duration::ZERO,
            n => Duration::from_secs_f64(1.0 / f64::from(n)),
        };
        let started = Instant::now();
        let total = pieces.len() as u64;
        let state = (pieces.into_iter(), false, None::<f64>);
        let s = stream::unfold(state, move |(mut it, done, mut first)| async move {
            if done {
                return None;
            }
            match it.next() {
                Some(text) => {
                    if !gap.is_zero() {
                        tokio::time::sleep(gap).await;
                    }
                    first.get_or_insert_with(|| started.elapsed().as_secs_f64() * 1000.0);
                    Some((Ok(TokenEvent::Content { text }), (it, false, first)))
                }
                None => {
                    let usage = Usage {
                        prompt_tokens,
                        completion_tokens: total,
                        first_token_ms: first.unwrap_or(0.0),
                        total_ms: started.elapsed().as_secs_f64() * 1000.0,
                        done_reason: "stop".into(),
                        ..Usage::default()
                    };
                    Some((Ok(TokenEvent::Done { usage }), (it, true, first)))
                }
            }
        });
        Ok(Box::pin(s))
    }
}

#[cfg(test)]
mod tests {
    use futures::StreamExt;

    use super::*;
    use crate::llm::ChatMessage;

    fn request() -> ChatRequest {
        ChatRequest::new(
            "sim",
            vec![
                ChatMessage::new(
                    Role::System,
                    "Agent: support-agent\nRole: FAQ\nGoals: resolve_faq, triage_issues\nRecalled: 2 items",
                ),
                ChatMessage::new(Role::User, "Customer 42 cannot log in"),
            ],
        )
    }

    #[tokio::test]
    async fn streams_the_script_then_usage() {
        let mut s = SimRunner::new(0).chat(request()).await.unwrap();
        let mut text = String::new();
        let mut usage = None;
        while let Some(ev) = s.next().await {
            match ev.unwrap() {
                TokenEvent::Content { text: t } => text.push_str(&t),
                TokenEvent::Done { usage: u } => usage = Some(u),
                other => panic!("unexpected {other:?}"),
            }
        }
        assert_eq!(text, script(&request()));
        assert!(text.contains("`resolve_faq`"));
        assert!(text.contains("2 related items"));
        let usage = usage.unwrap();
        assert_eq!(usage.done_reason, "stop");
        assert_eq!(usage.completion_tokens as usize, tokens(&text).len());
    }

    #[test]
    fn tokens_rejoin_to_the_text() {
        let t = "a  b\nc d";
        assert_eq!(tokens(t).concat(), t);
    }
}
