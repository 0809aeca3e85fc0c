//! Building what a model sees (system prompt from persona, goals, memory and context) and
//! the agent's next context document from an intent and its reply. Pure functions.

use crate::context::{ChatTurn, ProtocolHook};
use crate::llm::{ChatMessage, ChatRequest, Role};
use crate::memory::ScoredItem;

use super::spec::AgentSpec;

/// History lines kept in a context document.
const HISTORY_KEPT: usize = 20;
/// Characters of the previous context carried into a prompt.
const CONTEXT_IN_PROMPT: usize = 4000;

/// Everything a prompt is made of.
pub struct PromptInput<'a> {
    pub spec: &'a AgentSpec,
    pub goals: &'a [String],
    pub persona_traits: &'a [String],
    pub hooks: &'a [ProtocolHook],
    pub recalled: &'a [ScoredItem],
    pub context: Option<&'a str>,
    /// Recent conversation, for agents that keep a chat history; oldest first.
    pub history: &'a [ChatTurn],
    pub intent: &'a str,
    pub model: &'a str,
    /// The tools the agent can call (its allowlist, resolved): the only ones named.
    pub tools: &'a [String],
}

pub fn build_request(p: &PromptInput<'_>) -> ChatRequest {
    let mut system = String::new();
    system.push_str(&format!("Agent: {}\n", p.spec.id));
    system.push_str(&format!("Name: {}\n", p.spec.name));
    system.push_str(&format!("Role: {}\n", p.spec.role));
    system.push_str(&format!("Goals: {}\n", p.goals.join(", ")));
    system.push_str(&format!("Persona: {}\n", p.persona_traits.join(", ")));
    system.push_str(&format!("Tools: {}\n", p.tools.join(", ")));
    system.push_str(&format!("Recalled: {} items\n", p.recalled.len()));
    for hook in p.hooks {
        system.push_str(&format!("Hook: on {} do {}\n", hook.on, hook.action));
    }
    system.push_str(
        "\nYou are one agent of the AI ∞ OS runtime. Act within your role, advance your \
         goals, and answer concisely with a plan and the next step.\n",
    );
    if !p.recalled.is_empty() {
        system.push_str("\nRelevant memory:\n");
        for item in p.recalled {
            system.push_str(&format!("- ({:.2}) {}\n", item.score, item.item.text));
        }
    }
    if let Some(ctx) = p.context {
        let cut: String = ctx.chars().take(CONTEXT_IN_PROMPT).collect();
        system.push_str("\nYour current context:\n");
        system.push_str(&cut);
        system.push('\n');
    }
    let mut messages = vec![ChatMessage::new(Role::System, system)];
    for turn in p.history {
        let role = if turn.role == "assistant" {
            Role::Assistant
        } else {
            Role::User
        };
        messages.push(ChatMessage::new(role, turn.text.clone()));
    }
    messages.push(ChatMessage::new(Role::User, p.intent));
    ChatRequest::new(p.model, messages)
}

/// One intent as the context document records it.
pub struct Handled<'a> {
    pub intent_id: &'a str,
    pub from: &'a str,
    pub text: &'a str,
    pub reply: &'a str,
    pub at: &'a str,
}

/// The agent's next context: goals, the latest intent and reply, and a bounded history
/// carried over from the previous version.
pub fn next_context(
    agent_id: &str,
    goals: &[String],
    previous: Option<&str>,
    h: &Handled<'_>,
) -> String {
    let mut history: Vec<String> = previous.map(history_of).unwrap_or_default();
    let first_line = h
        .text
        .lines()
        .next()
        .unwrap_or("")
        .chars()
        .take(80)
        .collect::<String>();
    history.push(format!(
        "- {} {}: {}",
        h.at,
        short_id(h.intent_id),
        first_line
    ));
    let skip = history.len().saturating_sub(HISTORY_KEPT);

    let mut out = format!("# {agent_id} context\n\n## Goals\n");
    for g in goals {
        out.push_str(&format!("- {g}\n"));
    }
    out.push_str("\n## Latest intent\n");
    out.push_str(&format!("id: {}\nfrom: {}\n", h.intent_id, h.from));
    for line in h.text.lines() {
        out.push_str(&format!("> {line}\n"));
    }
    out.push_str("\n## Latest reply\n");
    out.push_str(h.reply.trim_end());
    out.push_str("\n\n## History\n");
    for line in history.iter().skip(skip) {
        out.push_str(line);
        out.push('\n');
    }
    out
}

/// The `## History` lines of a context document.
fn history_of(context: &str) -> Vec<String> {
    context
        .lines()
        .skip_while(|l| l.trim() != "## History")
        .skip(1)
        .take_while(|l| !l.starts_with("## "))
        .filter(|l| l.starts_with("- "))
        .map(str::to_string)
        .collect()
}

/// The first 8 characters of an id, for history lines and summaries.
pub fn short_id(id: &str) -> &str {
    id.get(..8).unwrap_or(id)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn handled<'a>(id: &'a str, text: &'a str) -> Handled<'a> {
        Handled {
            intent_id: id,
            from: "operator:alice",
            text,
            reply: "done",
            at: "2026-11-24T12:00:00.000Z",
        }
    }

    #[test]
    fn history_carries_over_and_is_bounded() {
        let goals = vec!["resolve_faq".to_string()];
        let mut ctx = next_context("a", &goals, None, &handled("00000000-1", "first"));
        assert!(ctx.contains("## History\n- 2026-11-24T12:00:00.000Z 00000000: first\n"));
        for i in 0..30 {
            let text = format!("intent {i}");
            ctx = next_context("a", &goals, Some(&ctx), &handled("11111111-2", &text));
        }
        assert_eq!(history_of(&ctx).len(), HISTORY_KEPT);
        assert!(ctx.contains("intent 29"));
        assert!(!ctx.contains(": first"));
    }
}
