//! Who is calling: the audit record's `caller` for an MCP request, `mcp:<client name>`.
//!
//! The client's name comes from `initialize` (2025-11-25) or from the request's `_meta`
//! clientInfo (2026-07-28); rmcp's `RequestContext::client_info` reads whichever applies.
//! Over HTTP with OIDC, the token's subject is appended (`mcp:<client>@<subject>`) so a
//! record names the person as well as the program.

use rmcp::RoleServer;
use rmcp::service::RequestContext;

use crate::context::Caller;

/// Longest client name kept in a caller string.
const MAX_NAME: usize = 64;

/// The subject an HTTP request was authenticated as; put in the request's extensions by
/// the auth layer and read back here through the HTTP parts rmcp hands to handlers.
#[derive(Debug, Clone)]
pub struct AuthSubject(pub String);

/// The caller of one request.
pub fn caller_of(ctx: &RequestContext<RoleServer>) -> Caller {
    let client = ctx.client_info().map(|i| i.name).unwrap_or_default();
    let subject = ctx
        .extensions
        .get::<axum::http::request::Parts>()
        .and_then(|parts| parts.extensions.get::<AuthSubject>())
        .map(|s| s.0.clone());
    Caller(caller_name(&client, subject.as_deref()))
}

/// `mcp:<name>[@<subject>]`, keeping only characters that are safe in a log line and on a
/// terminal (the name is chosen by the client, so it is untrusted).
pub fn caller_name(client: &str, subject: Option<&str>) -> String {
    caller_name_via("mcp", client, subject)
}

/// `<via>:<name>[@<subject>]`, cleaned as [`caller_name`]: the same shape for every door a
/// remote client comes through (`mcp`, `http` for the inbound API).
pub fn caller_name_via(via: &str, client: &str, subject: Option<&str>) -> String {
    let name = clean(client);
    let name = if name.is_empty() {
        "unnamed-client".to_string()
    } else {
        name
    };
    match subject.map(clean).filter(|s| !s.is_empty()) {
        Some(s) => format!("{via}:{name}@{s}"),
        None => format!("{via}:{name}"),
    }
}

fn clean(text: &str) -> String {
    text.chars()
        .filter(|c| c.is_alphanumeric() || matches!(c, '-' | '_' | '.' | ' ' | '/' | '+'))
        .take(MAX_NAME)
        .collect::<String>()
        .trim()
        .to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_prefixed_and_cleaned() {
        assert_eq!(caller_name("claude-desktop", None), "mcp:claude-desktop");
        assert_eq!(caller_name("evil\u{1b}[2Jname\n", None), "mcp:evil2Jname");
        assert_eq!(caller_name("", None), "mcp:unnamed-client");
        assert_eq!(caller_name("ide", Some("alice")), "mcp:ide@alice");
        assert_eq!(caller_name(&"x".repeat(500), None).len(), 4 + MAX_NAME);
        assert_eq!(caller_name_via("http", "n8n", Some("bob")), "http:n8n@bob");
    }
}
