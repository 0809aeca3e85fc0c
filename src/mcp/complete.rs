//! `completion/complete`: the `agent_id` of the `aios://agents/{agent_id}/…` templates and
//! the agent-naming arguments of the prompts, completed from the agent catalog. Pure.

use rmcp::model::{ArgumentInfo, CompletionInfo, Reference};

use super::prompts::HANDOFF_ARG;

/// The completion of `argument` of `reference` among `agent_ids` (catalog order). A
/// reference or argument that names no agent completes to nothing.
pub fn complete(
    agent_ids: &[&str],
    reference: &Reference,
    argument: &ArgumentInfo,
) -> CompletionInfo {
    let names_agents = match reference {
        Reference::Resource(r) => {
            r.uri.starts_with("aios://agents/{agent_id}/") && argument.name == "agent_id"
        }
        Reference::Prompt(p) => {
            agent_ids.contains(&p.name.as_str()) && argument.name == HANDOFF_ARG
        }
        _ => false,
    };
    if !names_agents {
        return empty();
    }
    // A prompt's agent does not hand off to itself.
    let own = match reference {
        Reference::Prompt(p) => Some(p.name.as_str()),
        _ => None,
    };
    let typed = argument.value.trim().to_ascii_lowercase();
    let candidates = agent_ids.iter().copied().filter(|id| Some(*id) != own);
    // Ids that start with what was typed first, then ids that contain it.
    let mut values: Vec<String> = candidates
        .clone()
        .filter(|id| id.starts_with(&typed))
        .chain(candidates.filter(|id| !id.starts_with(&typed) && id.contains(&typed)))
        .map(str::to_string)
        .collect();
    let total = values.len();
    values.truncate(CompletionInfo::MAX_VALUES);
    let has_more = total > values.len();
    CompletionInfo::with_pagination(values, u32::try_from(total).ok(), has_more)
        .unwrap_or_else(|_| empty())
}

fn empty() -> CompletionInfo {
    CompletionInfo::with_all_values(Vec::new()).unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;
    use rmcp::model::{PromptReference, ResourceTemplateReference};

    const IDS: [&str; 4] = ["ops-agent", "sec-agent", "secops-agent", "support-agent"];

    fn resource(uri: &str) -> Reference {
        Reference::Resource(ResourceTemplateReference::new(uri))
    }

    #[test]
    fn template_agent_ids_complete_by_prefix_then_substring() {
        let r = resource("aios://agents/{agent_id}/goals");
        let c = complete(&IDS, &r, &ArgumentInfo::new("agent_id", "sec"));
        assert_eq!(c.values, ["sec-agent", "secops-agent"]);
        assert_eq!((c.total, c.has_more), (Some(2), Some(false)));
        let c = complete(&IDS, &r, &ArgumentInfo::new("agent_id", "ops"));
        assert_eq!(c.values, ["ops-agent", "secops-agent"]);
        let c = complete(&IDS, &r, &ArgumentInfo::new("agent_id", ""));
        assert_eq!(c.values.len(), 4);
        // Another argument or another URI names no agent.
        assert!(
            complete(&IDS, &r, &ArgumentInfo::new("part", "g"))
                .values
                .is_empty()
        );
        let other = resource("test://template/{id}/data");
        assert!(
            complete(&IDS, &other, &ArgumentInfo::new("agent_id", "s"))
                .values
                .is_empty()
        );
    }

    #[test]
    fn a_prompt_completes_the_agents_it_may_hand_off_to() {
        let p = Reference::Prompt(PromptReference::new("sec-agent"));
        let c = complete(&IDS, &p, &ArgumentInfo::new(HANDOFF_ARG, "sec"));
        assert_eq!(c.values, ["secops-agent"]);
        let unknown = Reference::Prompt(PromptReference::new("test_prompt_with_arguments"));
        let c = complete(&IDS, &unknown, &ArgumentInfo::new("arg1", "test"));
        assert!(c.values.is_empty());
    }
}
