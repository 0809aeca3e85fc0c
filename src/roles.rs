//! Roles: what a caller may do. Three, ordered: `viewer` (read state, the audit log, watch)
//! < `operator` (dispatch, stop, approve or deny) < `admin` (goals, persona, hooks,
//! approval rules, memory and context writes).
//!
//! A remote caller's role comes from its bearer token: a static token's configured role
//! (`[mcp.role_tokens]`; `mcp.tokens` and the generated `mcp.token` are admin), or what an
//! OIDC token's claims grant (`[mcp.roles]` names the claim values). Local callers (the
//! control socket, `aios mcp` on stdio, the TUI) are the data dir's owner: admin. A handle
//! with a role can be lowered, never raised ([`Role::lowered`]): that is how a read-only
//! control center is a viewer to the runtime it shows.
//!
//! Which role each door needs is decided beside the door, in one table each: the MCP
//! tools, resources and prompts in `mcp/access.rs`, the HTTP API in `api/mod.rs`, the
//! runtime's own calls in `agent/runtime.rs` and `context/hub.rs`.

use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

/// A caller's role; the derived order is the order of power.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    /// Reads agent state and the audit log, watches events.
    Viewer,
    /// A viewer who also makes agents act: dispatch, hand off, stop, approve or deny.
    Operator,
    /// An operator who also changes what agents are: goals, persona, hooks, approval rules,
    /// memory and context.
    Admin,
}

impl Role {
    /// Every role, weakest first.
    pub const ALL: [Role; 3] = [Role::Viewer, Role::Operator, Role::Admin];

    pub fn as_str(self) -> &'static str {
        match self {
            Role::Viewer => "viewer",
            Role::Operator => "operator",
            Role::Admin => "admin",
        }
    }

    /// `Ok` when this role may do what `needed` may; else the refusal to give.
    pub fn check(self, needed: Role) -> Result<(), Denied> {
        if self >= needed {
            Ok(())
        } else {
            Err(Denied { needed, has: self })
        }
    }

    /// This role, or `to` when that is lower: a caller can give up power, never gain it.
    pub fn lowered(self, to: Role) -> Role {
        self.min(to)
    }
}

impl std::fmt::Display for Role {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

impl std::str::FromStr for Role {
    type Err = String;

    fn from_str(s: &str) -> Result<Role, String> {
        Role::ALL
            .into_iter()
            .find(|r| r.as_str() == s)
            .ok_or_else(|| format!("unknown role `{s}`: expected viewer, operator or admin"))
    }
}

/// A call refused for want of a role: what it needs and what the caller has. Its text is
/// the refusal every door gives ("needs role operator; caller has viewer").
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("needs role {needed}; caller has {has}")]
pub struct Denied {
    pub needed: Role,
    pub has: Role,
}

impl Denied {
    /// The fields a refusal carries in an answer body and an audit record's input.
    pub fn fields(&self) -> Value {
        json!({"needed": self.needed, "role": self.has})
    }
}

/// `[mcp.roles]`: the claim value that grants each role, looked for in a token's Keycloak
/// realm roles (`realm_access.roles`), its client roles (`resource_access.<client>.roles`)
/// and its groups (`groups`, as Authentik sends them).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct RoleNames {
    pub viewer: String,
    pub operator: String,
    pub admin: String,
}

impl Default for RoleNames {
    fn default() -> Self {
        Self {
            viewer: "viewer".into(),
            operator: "operator".into(),
            admin: "admin".into(),
        }
    }
}

impl RoleNames {
    /// The claim value that grants `role`.
    pub fn name(&self, role: Role) -> &str {
        match role {
            Role::Viewer => &self.viewer,
            Role::Operator => &self.operator,
            Role::Admin => &self.admin,
        }
    }

    /// The highest role any of `values` grants; `None` when none names a role.
    pub fn highest<'a>(&self, values: impl IntoIterator<Item = &'a str>) -> Option<Role> {
        values
            .into_iter()
            .filter_map(|v| Role::ALL.into_iter().find(|r| self.name(*r) == v))
            .max()
    }

    /// The first problem, as (key under `[mcp]`, message): an empty name, or one name for
    /// two roles (a token could not say which it means).
    pub fn problem(&self) -> Option<(&'static str, String)> {
        for role in Role::ALL {
            let name = self.name(role);
            if name.trim().is_empty() {
                return Some((
                    roles_key(role),
                    "must name the claim value (role or group) that grants it, e.g. \
                     \"viewer\""
                        .into(),
                ));
            }
            if let Some(other) = Role::ALL
                .into_iter()
                .find(|r| *r < role && self.name(*r) == name)
            {
                return Some((
                    roles_key(role),
                    format!("`{name}` already grants {other}: each role needs its own name"),
                ));
            }
        }
        None
    }
}

fn roles_key(role: Role) -> &'static str {
    match role {
        Role::Viewer => "roles.viewer",
        Role::Operator => "roles.operator",
        Role::Admin => "roles.admin",
    }
}

/// `[mcp.role_tokens]`: static bearer tokens by role. Keyed by role, so a token is never a
/// key (keys are named in errors; values are not), and each list has its variable
/// (`AIOS_MCP_ROLE_TOKENS_VIEWER=tok1,tok2`), as `mcp.tokens` has `AIOS_MCP_TOKENS`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(default, deny_unknown_fields)]
pub struct RoleTokens {
    pub viewer: Vec<String>,
    pub operator: Vec<String>,
    pub admin: Vec<String>,
}

impl RoleTokens {
    pub fn of(&self, role: Role) -> &[String] {
        match role {
            Role::Viewer => &self.viewer,
            Role::Operator => &self.operator,
            Role::Admin => &self.admin,
        }
    }

    fn key(role: Role) -> &'static str {
        match role {
            Role::Viewer => "role_tokens.viewer",
            Role::Operator => "role_tokens.operator",
            Role::Admin => "role_tokens.admin",
        }
    }
}

/// Every static token with its role: `admin_tokens` (`mcp.tokens`) are admin, the rest as
/// `[mcp.role_tokens]` says; empty ones are left out. A token listed under two roles is an
/// error (key under `[mcp]`, message) that names the keys, never the token.
pub fn static_tokens(
    admin_tokens: &[String],
    by_role: &RoleTokens,
) -> Result<Vec<(String, Role)>, (&'static str, String)> {
    let mut listed: Vec<(&'static str, String, Role)> = admin_tokens
        .iter()
        .map(|t| ("tokens", t.clone(), Role::Admin))
        .collect();
    for role in Role::ALL {
        listed.extend(
            by_role
                .of(role)
                .iter()
                .map(|t| (RoleTokens::key(role), t.clone(), role)),
        );
    }
    listed.retain(|(_, t, _)| !t.is_empty());
    let mut out: Vec<(String, Role)> = Vec::with_capacity(listed.len());
    for (i, (key, token, role)) in listed.iter().enumerate() {
        if let Some((first, _, other)) =
            listed[..i].iter().find(|(_, t, r)| t == token && r != role)
        {
            return Err((
                key,
                format!(
                    "lists a token that mcp.{first} already gives the role {other}: each token \
                     has one role"
                ),
            ));
        }
        if !out.iter().any(|(t, _)| t == token) {
            out.push((token.clone(), *role));
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn roles_are_ordered_and_only_lowered() {
        assert!(Role::Viewer < Role::Operator && Role::Operator < Role::Admin);
        assert_eq!(Role::Admin.check(Role::Operator), Ok(()));
        let denied = Role::Viewer.check(Role::Operator).unwrap_err();
        assert_eq!(denied.to_string(), "needs role operator; caller has viewer");
        assert_eq!(
            denied.fields(),
            json!({"needed": "operator", "role": "viewer"})
        );
        assert_eq!(Role::Admin.lowered(Role::Viewer), Role::Viewer);
        assert_eq!(Role::Viewer.lowered(Role::Admin), Role::Viewer);
        assert_eq!("operator".parse(), Ok(Role::Operator));
        assert!("root".parse::<Role>().is_err());
    }

    #[test]
    fn the_highest_named_role_wins_with_configurable_names() {
        let names = RoleNames::default();
        assert_eq!(
            names.highest(["viewer", "offline_access"]),
            Some(Role::Viewer)
        );
        assert_eq!(names.highest(["admin", "viewer"]), Some(Role::Admin));
        assert_eq!(names.highest(["uma_authorization"]), None);
        let custom = RoleNames {
            viewer: "aios-readers".into(),
            operator: "aios-ops".into(),
            admin: "aios-admins".into(),
        };
        assert_eq!(custom.highest(["aios-ops"]), Some(Role::Operator));
        assert_eq!(custom.highest(["admin"]), None);
        assert_eq!(custom.problem(), None);
    }

    #[test]
    fn role_names_must_be_set_and_distinct() {
        let mut names = RoleNames {
            operator: " ".into(),
            ..RoleNames::default()
        };
        assert_eq!(names.problem().unwrap().0, "roles.operator");
        names.operator = "viewer".into();
        let (key, message) = names.problem().unwrap();
        assert_eq!(key, "roles.operator");
        assert!(message.contains("already grants viewer"), "{message}");
    }

    #[test]
    fn static_tokens_get_one_role_each() {
        let by_role = RoleTokens {
            viewer: vec!["v1".into(), String::new()],
            operator: vec!["o1".into()],
            admin: vec!["a1".into(), "legacy".into()],
        };
        let tokens = static_tokens(&["legacy".into()], &by_role).unwrap();
        assert_eq!(
            tokens,
            vec![
                ("legacy".into(), Role::Admin),
                ("v1".into(), Role::Viewer),
                ("o1".into(), Role::Operator),
                ("a1".into(), Role::Admin),
            ]
        );
        let clash = RoleTokens {
            viewer: vec!["s3cret".into()],
            ..RoleTokens::default()
        };
        let (key, message) = static_tokens(&["s3cret".into()], &clash).unwrap_err();
        assert_eq!(key, "role_tokens.viewer");
        assert!(message.contains("mcp.tokens") && !message.contains("s3cret"));
    }
}
