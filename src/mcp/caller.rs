//! Who is calling, and with which role: the audit record's `caller` for an MCP request,
//! `mcp:<client name>`, and the role the request was authenticated with.
//!
//! The client's name comes from `initialize` (2025-11-25) or from the request's `_meta`
//! clientInfo (2026-07-28); rmcp's `RequestContext::client_info` reads whichever applies.
//! Over HTTP with OIDC, the token's subject is appended (`mcp:<client>:<subject>`) so a
//! record names the person as well as the program. The client's name cannot hold a `:`
//! (it is cleaned), so the text splits one way only.

use rmcp::RoleServer;
use rmcp::service::RequestContext;

use super::auth::AuthGrant;
use crate::context::{Caller, Door};
use crate::roles::Role;

/// Longest client name kept in a caller string.
const MAX_NAME: usize = 64;

/// The caller of one request.
pub fn caller_of(ctx: &RequestContext<RoleServer>) -> Caller {
    access_of(ctx).0
}

/// The caller of one request and its role. A request that came over HTTP carries the
/// guard's grant; one without HTTP parts came over stdio or the owner's socket, from the
/// data dir's owner: admin. HTTP parts without a grant cannot happen (the guard puts one
/// on every request it lets through); if they did, the caller would be a viewer.
pub fn access_of(ctx: &RequestContext<RoleServer>) -> (Caller, Role) {
    let client = ctx.client_info().map(|i| i.name).unwrap_or_default();
    let (subject, role) = match ctx.extensions.get::<axum::http::request::Parts>() {
        None => (None, Role::Admin),
        Some(parts) => match parts.extensions.get::<AuthGrant>() {
            Some(grant) => (grant.subject.clone(), grant.role),
            None => (None, Role::Viewer),
        },
    };
    (remote(Door::Mcp, &client, subject.as_deref()), role)
}

/// The caller of a request seen at the HTTP door (the inbound API, or a refusal before
/// MCP ran): `<via>:<client>[:<subject>]`, the client named by the first product of its
/// User-Agent (`n8n`, `curl`, `python-requests`).
pub fn http_caller(via: Door, headers: &axum::http::HeaderMap, subject: Option<&str>) -> Caller {
    let agent = headers
        .get(axum::http::header::USER_AGENT)
        .and_then(|h| h.to_str().ok())
        .unwrap_or("");
    let product = agent
        .split_whitespace()
        .next()
        .and_then(|p| p.split('/').next())
        .unwrap_or("");
    remote(via, product, subject)
}

/// A client that came through `door`, keeping only characters of its name and subject that
/// are safe in a log line and on a terminal (the client chooses its name, so it is
/// untrusted): the same shape for every door (`mcp`, `http` for the inbound API).
pub fn remote(door: Door, client: &str, subject: Option<&str>) -> Caller {
    let name = clean(client);
    let client = if name.is_empty() {
        "unnamed-client".to_string()
    } else {
        name
    };
    let subject = subject.map(clean).filter(|s| !s.is_empty());
    Caller::Remote {
        door,
        client,
        subject,
    }
}

/// Letters, digits and `-_. /+@` (a subject is often an e-mail address); never `:`.
fn clean(text: &str) -> String {
    text.chars()
        .filter(|c| c.is_alphanumeric() || matches!(c, '-' | '_' | '.' | ' ' | '/' | '+' | '@'))
        .take(MAX_NAME)
        .collect::<String>()
        .trim()
        .to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn caller_name(client: &str, subject: Option<&str>) -> String {
        remote(Door::Mcp, client, subject).to_string()
    }

    #[test]
    fn names_are_prefixed_and_cleaned() {
        assert_eq!(caller_name("claude-desktop", None), "mcp:claude-desktop");
        assert_eq!(caller_name("evil\u{1b}[2Jname\n", None), "mcp:evil2Jname");
        assert_eq!(caller_name("", None), "mcp:unnamed-client");
        assert_eq!(caller_name("ide", Some("alice")), "mcp:ide:alice");
        assert_eq!(
            caller_name("ide:x", Some("bob@example.com:admin")),
            "mcp:idex:bob@example.comadmin"
        );
        assert_eq!(caller_name(&"x".repeat(500), None).len(), 4 + MAX_NAME);
        assert_eq!(
            remote(Door::Http, "n8n", Some("bob")).to_string(),
            "http:n8n:bob"
        );
        // Read back from an audit record, it is the same caller.
        let c = remote(Door::Mcp, "ide", Some("bob@example.com"));
        assert_eq!(Caller::parse(&c.to_string()), c);
    }
}
