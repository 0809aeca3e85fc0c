//! The MCP server: the ContextHub served over the Model Context Protocol (rmcp), so any MCP
//! client reads and steers the agents through the same audited calls the agents make.
//!
//! Layout:
//! - `server.rs`: `AiosMcp`, the `ServerHandler` (capabilities, resources, prompts,
//!   subscriptions of both protocol revisions); `tools.rs`: the tools and their arguments;
//!   `resources.rs`: `aios://` URIs; `prompts.rs`: one prompt per agent; `caller.rs`: the
//!   audit `caller` of a request and its role; `updates.rs`: which resources changed, whoever changed them.
//!   `complete.rs`: `completion/complete` from the catalog; `limits.rs`: text and
//!   `tail_audit` byte bounds; `access.rs`: the role each tool, resource and prompt needs.
//! - Transports: `socket.rs` (`mcp.sock` in the data dir, the stdio transport over a Unix
//!   socket, and the pipe `aios mcp` uses to reach it); `owner.rs` (what an owner starts);
//!   `http.rs` (Streamable HTTP behind the guard); `origin.rs` (allowed origins, CORS);
//!   `sessions.rs` (the bounded session count); `auth.rs` (tokens and the role they
//!   grant); `token.rs` (the generated `mcp.token`); `oidc.rs` (JWTs via JWKS, and the
//!   role their claims grant).

mod access;
mod auth;
mod caller;
mod complete;
mod http;
mod limits;
mod oidc;
mod origin;
mod owner;
mod prompts;
mod resources;
mod server;
mod sessions;
mod socket;
pub mod token;
mod tools;
mod updates;

pub use access::{PROMPT_ROLE, PROTOCOL_ROLE, RESOURCE_ROLES, TOOL_ROLES, tool_role};
pub use auth::AuthGrant;
pub use caller::{http_caller, remote};
pub use http::{Access, HttpServer, McpHttpError, serve_http};
pub use limits::Limits;
pub use oidc::{Identity, OidcError, OidcVerifier, RoleClaims, role_from_claims};
pub use owner::{OwnerServers, http_url_file};
pub use resources::{PARTS, ResourceUri};
pub use server::AiosMcp;
pub use socket::{pipe_stdio, serve_socket, socket_path};
pub use token::token_path;
pub use updates::Updates;
