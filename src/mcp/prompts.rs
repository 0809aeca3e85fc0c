//! One prompt per agent: its persona and goals as a system prompt, for a client that wants
//! its own model to act as that agent.

use rmcp::model::{GetPromptResult, Prompt, PromptArgument, PromptMessage, Role};

use crate::agent::AgentSpec;
use crate::context::AgentState;

/// The optional prompt argument naming an agent to hand work to (completed from the
/// catalog by `completion/complete`).
pub const HANDOFF_ARG: &str = "handoff_to";

/// The prompt list: one entry per agent, named by its id.
pub fn list(agents: &[AgentSpec]) -> Vec<Prompt> {
    agents
        .iter()
        .map(|a| {
            Prompt::new(
                a.id.clone(),
                Some(format!(
                    "System prompt for {} ({}): persona and current goals. {}",
                    a.name,
                    a.category.as_str(),
                    a.role
                )),
                Some(vec![
                    PromptArgument::new(HANDOFF_ARG)
                        .with_title("Hand off to")
                        .with_description(
                            "Another agent's id, e.g. sec-agent: the prompt then says to hand \
                             work outside this agent's role to it",
                        )
                        .with_required(false),
                ]),
            )
            .with_title(format!("Act as {}", a.name))
        })
        .collect()
}

/// The system prompt of an agent as it is now (goals and traits as stored, not defaults).
pub fn system_prompt(state: &AgentState) -> String {
    let spec = &state.spec;
    let mut text = format!(
        "You are {} ({}), an agent of the AI ∞ OS runtime.\nRole: {}\n",
        spec.name, spec.id, spec.role
    );
    push_list(&mut text, "Goals", &state.goals);
    push_list(&mut text, "Persona traits", &state.persona_traits);
    if !state.protocol_hooks.is_empty() {
        text.push_str("Protocol hooks:\n");
        for h in &state.protocol_hooks {
            text.push_str(&format!("- on {}: {}\n", h.on, h.action));
        }
    }
    if !spec.tools.is_empty() {
        text.push_str(&format!("Tools you may use: {}\n", spec.tools.join(", ")));
    }
    text.push_str(
        "Act within your role, advance your goals, and answer concisely with a plan and the \
         next step.\n",
    );
    text
}

fn push_list(text: &mut String, title: &str, items: &[String]) {
    if items.is_empty() {
        return;
    }
    text.push_str(&format!("{title}:\n"));
    for item in items {
        text.push_str(&format!("- {item}\n"));
    }
}

/// The `prompts/get` answer. MCP prompt messages have no system role, so the system prompt
/// travels as the first user message, and the description says what it is. `handoff_to`
/// is a known agent (checked by the caller).
pub fn get(state: &AgentState, handoff_to: Option<&str>) -> GetPromptResult {
    let mut text = system_prompt(state);
    if let Some(peer) = handoff_to {
        text.push_str(&format!(
            "Work outside your role goes to {peer}: hand it over with the handoff tool.\n"
        ));
    }
    GetPromptResult::new(vec![PromptMessage::new_text(Role::User, text)]).with_description(format!(
        "System prompt of {}: persona and goals as stored now",
        state.spec.id
    ))
}
