//! `[approvals]` and `[[approvals.rules]]`: which tool calls run, which wait for a person,
//! which are refused. Pure: a verdict is a function of the rules and the call.
//!
//! Rules are tried in order; the first that matches decides. With none matching, a call
//! with an effect outside aios (an MCP server's tool, an HTTP action) asks, and aios's own
//! state tools run: they are audited and versioned, and can be undone.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::agent::turn::{Origin, Verdict};

/// Longest an approval waits before it counts as denied, by default.
pub const DEFAULT_TIMEOUT_S: u64 = 300;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ApprovalsConfig {
    /// Seconds a call waits for a decision; then it is denied ("timed out").
    pub timeout_s: u64,
    pub rules: Vec<Rule>,
}

impl Default for ApprovalsConfig {
    fn default() -> Self {
        Self {
            timeout_s: DEFAULT_TIMEOUT_S,
            rules: Vec::new(),
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum RuleDecision {
    Allow,
    Ask,
    Deny,
}

/// One rule: patterns use `*` (any run of characters) and `?` (one character).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Rule {
    /// Agent id pattern; default every agent.
    #[serde(default = "any")]
    pub agent: String,
    /// Tool name pattern; default every tool.
    #[serde(default = "any")]
    pub tool: String,
    /// Argument patterns: each named argument (its text, or its JSON for non-strings) must
    /// match. A missing argument does not match.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub args: BTreeMap<String, String>,
    pub decision: RuleDecision,
    /// Told to the model when the rule denies.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
}

fn any() -> String {
    "*".into()
}

impl Rule {
    pub fn matches(&self, agent_id: &str, tool: &str, arguments: &Value) -> bool {
        glob(&self.agent, agent_id)
            && glob(&self.tool, tool)
            && self
                .args
                .iter()
                .all(|(name, pattern)| match arguments.get(name) {
                    Some(Value::String(s)) => glob(pattern, s),
                    Some(v) => glob(pattern, &v.to_string()),
                    None => false,
                })
    }

    /// A problem with the rule, for config validation.
    pub fn problem(&self) -> Option<String> {
        if self.agent.is_empty() || self.tool.is_empty() {
            return Some("agent and tool patterns must not be empty (use \"*\")".into());
        }
        None
    }
}

/// The verdict for a call: the first matching rule of `rules` (operator-added rules are
/// passed first by the caller), else the default by origin.
pub fn verdict<'a>(
    rules: impl IntoIterator<Item = &'a Rule>,
    agent_id: &str,
    tool: &str,
    arguments: &Value,
    origin: Origin,
) -> Verdict {
    for rule in rules {
        if rule.matches(agent_id, tool, arguments) {
            return match rule.decision {
                RuleDecision::Allow => Verdict::Allow,
                RuleDecision::Ask => Verdict::Ask,
                RuleDecision::Deny => Verdict::Deny(
                    rule.reason
                        .clone()
                        .unwrap_or_else(|| format!("`{tool}` is not allowed for {agent_id}")),
                ),
            };
        }
    }
    match origin {
        Origin::Builtin => Verdict::Allow,
        Origin::Mcp | Origin::Http => Verdict::Ask,
    }
}

/// `*` and `?` wildcards, whole-string match; iterative with one backtrack point, so a
/// hostile pattern costs at most O(pattern × text).
pub fn glob(pattern: &str, text: &str) -> bool {
    let p: Vec<char> = pattern.chars().collect();
    let t: Vec<char> = text.chars().collect();
    let (mut pi, mut ti) = (0, 0);
    let mut star: Option<(usize, usize)> = None;
    while ti < t.len() {
        if pi < p.len() && (p[pi] == '?' || p[pi] == t[ti]) {
            pi += 1;
            ti += 1;
        } else if pi < p.len() && p[pi] == '*' {
            star = Some((pi, ti));
            pi += 1;
        } else if let Some((sp, st)) = star {
            pi = sp + 1;
            ti = st + 1;
            star = Some((sp, st + 1));
        } else {
            return false;
        }
    }
    p[pi..].iter().all(|c| *c == '*')
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn glob_matches_whole_strings_with_wildcards() {
        for (p, t, want) in [
            ("*", "", true),
            ("*", "anything", true),
            ("erpnext_*", "erpnext_invoice", true),
            ("erpnext_*", "my_erpnext_invoice", false),
            ("*__create_*", "helpdesk__create_ticket", true),
            ("ops-agent", "ops-agent", true),
            ("ops-agent", "ops-agents", false),
            ("?ps-agent", "ops-agent", true),
            ("a*b*c", "axxbyyc", true),
            ("a*b*c", "axxbyy", false),
            ("", "", true),
            ("", "x", false),
        ] {
            assert_eq!(glob(p, t), want, "{p} vs {t}");
        }
        // No blow-up on a hostile pattern.
        let long = "a".repeat(5000);
        assert!(!glob(&"*a".repeat(50).replace("a", "a*b"), &long));
    }

    fn rule(agent: &str, tool: &str, decision: RuleDecision) -> Rule {
        Rule {
            agent: agent.into(),
            tool: tool.into(),
            args: BTreeMap::new(),
            decision,
            reason: None,
        }
    }

    #[test]
    fn defaults_ask_for_outside_effects_and_allow_state_tools() {
        let none: Vec<Rule> = Vec::new();
        let v = |tool, origin| verdict(&none, "ops-agent", tool, &json!({}), origin);
        assert_eq!(v("remember", Origin::Builtin), Verdict::Allow);
        assert_eq!(v("helpdesk__create_ticket", Origin::Mcp), Verdict::Ask);
        assert_eq!(v("erpnext_invoice", Origin::Http), Verdict::Ask);
    }

    #[test]
    fn the_first_matching_rule_decides_and_arguments_can_narrow_it() {
        let mut deny_prod = rule("ops-agent", "deploy", RuleDecision::Deny);
        deny_prod.args.insert("env".into(), "prod*".into());
        deny_prod.reason = Some("prod needs a change ticket".into());
        let rules = vec![
            deny_prod,
            rule("ops-agent", "deploy", RuleDecision::Allow),
            rule("*", "set_goals", RuleDecision::Ask),
        ];
        let v = |agent, tool, args: Value, origin| verdict(&rules, agent, tool, &args, origin);
        assert_eq!(
            v(
                "ops-agent",
                "deploy",
                json!({"env": "production"}),
                Origin::Http
            ),
            Verdict::Deny("prod needs a change ticket".into())
        );
        assert_eq!(
            v(
                "ops-agent",
                "deploy",
                json!({"env": "staging"}),
                Origin::Http
            ),
            Verdict::Allow
        );
        // A missing argument does not match the narrowed rule.
        assert_eq!(
            v("ops-agent", "deploy", json!({}), Origin::Http),
            Verdict::Allow
        );
        assert_eq!(
            v("dev-agent", "deploy", json!({}), Origin::Http),
            Verdict::Ask,
            "other agents: the default"
        );
        assert_eq!(
            v("dev-agent", "set_goals", json!({}), Origin::Builtin),
            Verdict::Ask
        );
        let mut by_number = rule("*", "refund", RuleDecision::Deny);
        by_number.args.insert("amount".into(), "1????".into());
        let rules = [by_number];
        assert!(matches!(
            verdict(
                &rules,
                "billing-agent",
                "refund",
                &json!({"amount": 12000}),
                Origin::Http
            ),
            Verdict::Deny(_)
        ));
    }
}
