//! Which role each MCP request needs, in one table: every tool, every resource, the
//! prompts and the rest of the protocol. `server.rs` checks it in one place per request
//! kind, before anything runs; a refusal is a JSON-RPC error naming the role needed and the
//! caller's, and is audited. A tool added without a row here fails a test.

use rmcp::ErrorData;
use rmcp::model::ErrorCode;
use serde_json::{Map, Value};

use super::resources::ResourceUri;
use crate::roles::{Denied, Role};

/// Every tool and the role it needs. `decide_approval` with `always` also adds an approval
/// rule, which is an admin's (see [`tool_role`]).
pub const TOOL_ROLES: [(&str, Role); 15] = [
    // Reading state and the audit log.
    ("list_agents", Role::Viewer),
    ("get_agent", Role::Viewer),
    ("get_context", Role::Viewer),
    ("diff_context", Role::Viewer),
    ("recall", Role::Viewer),
    ("list_approvals", Role::Viewer),
    ("tail_audit", Role::Viewer),
    // Making agents act, and deciding what they asked.
    ("dispatch_intent", Role::Operator),
    ("handoff", Role::Operator),
    ("decide_approval", Role::Operator),
    // Changing what an agent is: goals, hooks, its context, memory and record.
    ("set_goals", Role::Admin),
    ("add_protocol_hook", Role::Admin),
    ("update_context", Role::Admin),
    ("remember", Role::Admin),
    ("append_trace", Role::Admin),
];

/// Every resource and the role that reads it: the agent list and each part of an agent.
pub const RESOURCE_ROLES: [(&str, Role); 7] = [
    ("agents", Role::Viewer),
    ("goals", Role::Viewer),
    ("persona_traits", Role::Viewer),
    ("protocol_hooks", Role::Viewer),
    ("behavioral_traces", Role::Viewer),
    ("memory_embeddings", Role::Viewer),
    ("context", Role::Viewer),
];

/// Listing and getting prompts (an agent's persona and goals as a system prompt).
pub const PROMPT_ROLE: Role = Role::Viewer;

/// The rest of the protocol: listing tools, resources and templates, subscribing to
/// resources (watching), completion, the log level.
pub const PROTOCOL_ROLE: Role = Role::Viewer;

/// The role a call of `tool` with `arguments` needs; `None` for a tool that does not exist
/// (refused as unknown, whoever asks).
pub fn tool_role(tool: &str, arguments: Option<&Map<String, Value>>) -> Option<Role> {
    let base = TOOL_ROLES
        .iter()
        .find(|(name, _)| *name == tool)
        .map(|(_, role)| *role)?;
    let adds_rule = tool == "decide_approval"
        && arguments
            .and_then(|a| a.get("always"))
            .and_then(Value::as_bool)
            .unwrap_or(false);
    Some(if adds_rule { Role::Admin } else { base })
}

/// The role that reads `uri`.
pub fn resource_role(uri: &ResourceUri) -> Role {
    let part = match uri {
        ResourceUri::Agents => "agents",
        ResourceUri::Part { part, .. } => part,
    };
    RESOURCE_ROLES
        .iter()
        .find(|(name, _)| *name == part)
        .map_or(Role::Admin, |(_, role)| *role)
}

/// The JSON-RPC error of a refusal: Invalid Request, its message naming both roles, the
/// roles again as data for programs.
pub fn refusal(denied: &Denied) -> ErrorData {
    ErrorData::new(
        ErrorCode::INVALID_REQUEST,
        denied.to_string(),
        Some(denied.fields()),
    )
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeSet;

    use serde_json::json;

    use super::*;
    use crate::mcp::resources::PARTS;
    use crate::mcp::server::AiosMcp;

    #[test]
    fn every_tool_has_exactly_one_row() {
        let served: BTreeSet<String> = AiosMcp::tool_router()
            .list_all()
            .into_iter()
            .map(|t| t.name.to_string())
            .collect();
        let rows: BTreeSet<String> = TOOL_ROLES.iter().map(|(t, _)| t.to_string()).collect();
        assert_eq!(rows.len(), TOOL_ROLES.len(), "a tool has two rows");
        assert_eq!(
            served, rows,
            "every tool needs a row in TOOL_ROLES, and every row a tool"
        );
    }

    #[test]
    fn every_resource_has_a_row() {
        let rows: BTreeSet<&str> = RESOURCE_ROLES.iter().map(|(p, _)| *p).collect();
        let served: BTreeSet<&str> = PARTS.iter().copied().chain(["agents"]).collect();
        assert_eq!(served, rows);
        assert_eq!(resource_role(&ResourceUri::Agents), Role::Viewer);
        let goals = ResourceUri::parse("aios://agents/ops-agent/goals").unwrap();
        assert_eq!(resource_role(&goals), Role::Viewer);
    }

    #[test]
    fn reads_watch_act_and_change_need_rising_roles() {
        let args = |v: Value| v.as_object().cloned();
        assert_eq!(tool_role("get_agent", None), Some(Role::Viewer));
        assert_eq!(tool_role("tail_audit", None), Some(Role::Viewer));
        assert_eq!(tool_role("dispatch_intent", None), Some(Role::Operator));
        let approve = args(json!({"id": "x", "approve": true}));
        assert_eq!(
            tool_role("decide_approval", approve.as_ref()),
            Some(Role::Operator)
        );
        let always = args(json!({"id": "x", "approve": true, "always": true}));
        assert_eq!(
            tool_role("decide_approval", always.as_ref()),
            Some(Role::Admin)
        );
        assert_eq!(tool_role("set_goals", None), Some(Role::Admin));
        assert_eq!(tool_role("remember", None), Some(Role::Admin));
        assert_eq!(tool_role("no_such_tool", None), None);
        assert_eq!(PROMPT_ROLE, Role::Viewer);
        assert_eq!(PROTOCOL_ROLE, Role::Viewer);
    }

    #[test]
    fn a_refusal_names_both_roles() {
        let e = refusal(&Denied {
            needed: Role::Operator,
            has: Role::Viewer,
        });
        assert_eq!(e.code, ErrorCode::INVALID_REQUEST);
        assert_eq!(e.message, "needs role operator; caller has viewer");
        assert_eq!(
            e.data,
            Some(json!({"needed": "operator", "role": "viewer"}))
        );
    }
}
