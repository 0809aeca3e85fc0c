//! Streamable HTTP at `mcp.http_bind`, path `/mcp` (rmcp's service: sessions and SSE for
//! 2025-11-25, stateless requests for 2026-07-28), behind one guard that runs first:
//! a foreign `Origin` gets 403 (DNS-rebinding defence), an allowed one its CORS headers
//! and preflight; a missing or wrong bearer token 401 with `WWW-Authenticate`; a body that
//! is not JSON-RPC 400 (rmcp says 415); a new session when all are busy 503. With no
//! token configured, a loopback bind requires the generated one in `<data dir>/mcp.token`
//! unless `mcp.loopback_without_auth`. With OIDC, the OAuth protected-resource metadata
//! (RFC 9728) is served at `/.well-known/oauth-protected-resource[/mcp]` and named in the
//! challenge. The inbound HTTP API (`crate::api`, `/v1/...`) is mounted here too: same
//! Origin check, same tokens, its own JSON answers.
//!
//! Every request let through carries an [`AuthGrant`] (subject and role) in its
//! extensions. A valid token that grants no aios role gets 403; an API route the role may
//! not use gets 403 naming the role needed and the caller's (MCP checks its own table, in
//! `server.rs`). Both refusals are audited with the caller and subject.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use axum::Router;
use axum::body::{Body, Bytes};
use axum::extract::{Request, State};
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, header};
use axum::middleware::{Next, from_fn_with_state};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::serve::ListenerExt;
use rmcp::model::ClientJsonRpcMessage;
use rmcp::transport::streamable_http_server::{StreamableHttpServerConfig, StreamableHttpService};
use serde_json::{Value, json};
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use crate::config::McpConfig;
use crate::context::{Call, ContextHub, Door};
use crate::roles::{Denied, Role};

use super::auth::{Auth, AuthGrant, Refusal};
use super::caller::http_caller;
use super::oidc::{OidcError, OidcVerifier, RoleClaims};
use super::origin::{self, LOCAL_ORIGIN_PATTERNS, Origins, normalize_origin};
use super::server::AiosMcp;
use super::sessions::{self, BoundedSessions};
use super::token::{self, TokenError};

/// The MCP endpoint's path.
pub const MCP_PATH: &str = "/mcp";
const METADATA_PATH: &str = "/.well-known/oauth-protected-resource";
/// Largest request body (rmcp's default, set explicitly since the guard reads it too).
const MAX_BODY_BYTES: usize = 4 * 1024 * 1024;

#[derive(Debug, thiserror::Error)]
pub enum McpHttpError {
    #[error(
        "mcp.http_bind `{0}` is not a socket address: expected IP:PORT such as 127.0.0.1:8765, or \"\" to turn it off"
    )]
    BadBind(String),
    #[error("cannot serve MCP over HTTP on {addr}: {source}")]
    Bind {
        addr: String,
        source: std::io::Error,
    },
    #[error(
        "refusing to serve MCP on {0} without authentication: set mcp.tokens (or AIOS_MCP_TOKENS) or mcp.oidc_issuer, or bind a loopback address such as 127.0.0.1"
    )]
    Unprotected(String),
    #[error(
        "mcp.oidc_issuer is set but mcp.oidc_audience is empty: name the audience tokens must carry"
    )]
    NoAudience,
    #[error(
        "mcp.allowed_origins item `{0}` is not an origin: expected SCHEME://HOST[:PORT] such as http://localhost:3000"
    )]
    BadOrigin(String),
    #[error("mcp.{0}: {1}")]
    Config(&'static str, String),
    #[error(transparent)]
    Oidc(#[from] OidcError),
    #[error(transparent)]
    Token(#[from] TokenError),
}

/// A running HTTP server.
pub struct HttpServer {
    pub addr: SocketAddr,
    /// `http://ADDR/mcp`.
    pub url: String,
    /// How clients authenticate.
    pub access: Access,
    handle: JoinHandle<std::io::Result<()>>,
}

impl HttpServer {
    /// Wait for the server to finish after its cancellation token fired.
    pub async fn join(self) {
        match self.handle.await {
            Ok(Err(e)) => tracing::warn!(error = %e, "MCP HTTP server stopped with an error"),
            Err(e) => tracing::warn!(error = %e, "MCP HTTP server task failed"),
            Ok(Ok(())) => {}
        }
    }
}

/// How HTTP clients authenticate.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Access {
    /// `mcp.tokens` and/or OIDC, as configured.
    Configured,
    /// The generated token in this file (loopback, nothing configured).
    TokenFile(PathBuf),
    /// No token (loopback, `mcp.loopback_without_auth`).
    Open,
}

impl Access {
    /// Pure: what a configuration asks for on a bind that is (or is not) loopback.
    fn decide(config: &McpConfig, loopback: bool, data_dir: &Path) -> Result<Access, String> {
        let configured =
            config.static_tokens().is_ok_and(|t| !t.is_empty()) || !config.oidc_issuer.is_empty();
        if configured {
            Ok(Access::Configured)
        } else if !loopback {
            // Validation refuses loopback_without_auth here already; a generated token is
            // no answer either: remote clients could not read the file.
            Err("no authentication".into())
        } else if config.loopback_without_auth {
            Ok(Access::Open)
        } else {
            Ok(Access::TokenFile(token::token_path(data_dir)))
        }
    }

    fn label(&self) -> &'static str {
        match self {
            Access::Configured => "configured tokens or OIDC",
            Access::TokenFile(_) => "generated token file",
            Access::Open => "none (mcp.loopback_without_auth)",
        }
    }
}

/// What the guard needs for each request.
struct Guard {
    auth: Auth,
    origins: Origins,
    max_sessions: usize,
    /// Where refusals are audited.
    hub: ContextHub,
}

/// Bind and serve until `cancel`. Errors (bad address, port taken, unsafe setup, token
/// file not writable) are reported before anything is served.
/// `secrets` answers the `vault:` tokens, as they are at each request.
pub async fn serve_http(
    mcp: AiosMcp,
    config: &McpConfig,
    secrets: &crate::secrets::Secrets,
    data_dir: &Path,
    cancel: CancellationToken,
    tasks: &TaskTracker,
) -> Result<HttpServer, McpHttpError> {
    let addr: SocketAddr = config
        .http_bind
        .parse()
        .map_err(|_| McpHttpError::BadBind(config.http_bind.clone()))?;
    let origins = config
        .allowed_origins
        .iter()
        .map(|o| normalize_origin(o).ok_or_else(|| McpHttpError::BadOrigin(o.clone())))
        .collect::<Result<Vec<_>, _>>()?;
    let oidc = if config.oidc_issuer.is_empty() {
        None
    } else if config.oidc_audience.is_empty() {
        return Err(McpHttpError::NoAudience);
    } else {
        Some(OidcVerifier::new(
            &config.oidc_issuer,
            &config.oidc_audience,
            &config.oidc_jwks_url,
            RoleClaims {
                names: config.roles.clone(),
                client: config.oidc_client().to_string(),
            },
        )?)
    };
    if let Some((key, message)) = config.roles.problem() {
        return Err(McpHttpError::Config(key, message));
    }
    let loopback = addr.ip().is_loopback();
    let access = Access::decide(config, loopback, data_dir)
        .map_err(|_| McpHttpError::Unprotected(addr.to_string()))?;
    let mut tokens = config
        .static_tokens()
        .map_err(|(key, message)| McpHttpError::Config(key, message))?;
    match &access {
        // The generated token is the owner's: admin.
        Access::TokenFile(path) => tokens.push((token::load_or_create(path)?, Role::Admin)),
        Access::Open => tracing::warn!(
            "MCP HTTP serves without authentication (mcp.loopback_without_auth = true): any \
             local user can call every tool"
        ),
        Access::Configured => {}
    }
    let auth = Auth::new(&tokens, secrets.clone(), oidc);
    let listener = tokio::net::TcpListener::bind(addr)
        .await
        .map_err(|source| McpHttpError::Bind {
            addr: addr.to_string(),
            source,
        })?;
    let bound = listener.local_addr().map_err(|source| McpHttpError::Bind {
        addr: addr.to_string(),
        source,
    })?;

    // rmcp checks Origin too (set, so its check is on: an empty list turns it off unless
    // enforced) and Host on loopback binds; our guard has already answered foreign origins.
    let mut rmcp_origins = origins.clone();
    if loopback {
        rmcp_origins.extend(LOCAL_ORIGIN_PATTERNS.iter().map(|o| o.to_string()));
    }
    let mut rmcp_config = StreamableHttpServerConfig::default()
        .with_cancellation_token(cancel.child_token())
        .with_allowed_origins(rmcp_origins)
        .enforce_origin_validation()
        .with_max_request_body_bytes(MAX_BODY_BYTES)
        // A stateless (2026-07-28) call that answers in one message gets a plain JSON
        // body instead of a one-event SSE stream; a call that notifies first still streams.
        .with_json_response(true);
    if !loopback {
        // Clients reach a public bind by names we cannot know; auth guards it instead.
        rmcp_config = rmcp_config.disable_allowed_hosts();
    }
    let max_sessions = config.max_sessions.max(1) as usize;
    let runtime = mcp.runtime().clone();
    let hub = runtime.hub().clone();
    let service: StreamableHttpService<AiosMcp, BoundedSessions> = StreamableHttpService::new(
        move || Ok(mcp.connection()),
        Arc::new(BoundedSessions::new(max_sessions)),
        rmcp_config,
    );
    let guard = Arc::new(Guard {
        auth,
        origins: Origins::new(origins, loopback),
        max_sessions,
        hub,
    });
    let router = Router::new()
        .nest_service(MCP_PATH, service)
        .route(METADATA_PATH, get(metadata))
        .route(&format!("{METADATA_PATH}{MCP_PATH}"), get(metadata))
        // The inbound HTTP API (`/v1/...`) shares the listener, the guard and the tokens.
        .merge(crate::api::router(runtime, cancel.child_token(), tasks))
        .layer(from_fn_with_state(guard.clone(), check))
        .with_state(guard);
    let listener = without_nagle(listener);
    let handle = tokio::spawn(async move {
        axum::serve(listener, router)
            .with_graceful_shutdown(cancel.cancelled_owned())
            .await
    });
    let url = format!("http://{bound}{MCP_PATH}");
    match &access {
        Access::TokenFile(path) => {
            tracing::info!(%url, auth = access.label(), token_file = %path.display(), "MCP HTTP listening");
        }
        _ => tracing::info!(%url, auth = access.label(), "MCP HTTP listening"),
    }
    Ok(HttpServer {
        addr: bound,
        url,
        access,
        handle,
    })
}

/// An SSE answer goes out as several small writes (headers, the priming event, the
/// message): with Nagle's algorithm on, the last waits for the client's delayed ACK — 40 ms
/// a call for any client that does not set TCP_NODELAY itself (measured: 1,130 calls/s
/// with, about 11,000 without, benches/mcp).
fn without_nagle(
    listener: tokio::net::TcpListener,
) -> impl axum::serve::Listener<Io = tokio::net::TcpStream, Addr = std::net::SocketAddr> {
    listener.tap_io(|tcp| {
        if let Err(e) = tcp.set_nodelay(true) {
            tracing::debug!(error = %e, "TCP_NODELAY not set on an MCP connection");
        }
    })
}

/// The guard in front of every route: Origin, then CORS preflight, then the token, then
/// the shape of the request.
async fn check(State(guard): State<Arc<Guard>>, request: Request, next: Next) -> Response {
    let origin = request.headers().get(header::ORIGIN).cloned();
    if let Some(o) = &origin
        && !o.to_str().is_ok_and(|o| guard.origins.allows(o))
    {
        return (
            StatusCode::FORBIDDEN,
            "Forbidden: Origin not allowed (mcp.allowed_origins; local origins on a loopback bind)\n",
        )
            .into_response();
    }
    let on_mcp = request.uri().path().starts_with(MCP_PATH);
    let on_api = request.uri().path().starts_with(crate::api::PREFIX);
    if let (Some(o), true, &Method::OPTIONS) = (&origin, on_mcp || on_api, request.method()) {
        // A browser asks before it sends Authorization: the preflight carries no token.
        let mut response = StatusCode::NO_CONTENT.into_response();
        origin::preflight_headers(response.headers_mut(), o);
        return response;
    }
    let mut response = if on_mcp {
        guarded(&guard, request, next).await
    } else if on_api {
        match authenticate(&guard, request).await {
            Ok(request) => match api_refusal(&guard, &request) {
                None => next.run(request).await,
                Some(refused) => refused,
            },
            Err(refused) => refused,
        }
    } else {
        next.run(request).await
    };
    if let Some(o) = &origin {
        origin::cors_headers(response.headers_mut(), o);
    }
    response
}

/// The bearer token (static or OIDC); the grant (subject and role) goes into the request's
/// extensions, for the role checks and the audit record's caller.
async fn authenticate(guard: &Guard, mut request: Request) -> Result<Request, Response> {
    let presented = request
        .headers()
        .get(header::AUTHORIZATION)
        .and_then(|h| h.to_str().ok());
    match guard.auth.check(presented).await {
        Ok(grant) => {
            request.extensions_mut().insert(grant);
        }
        Err(Refusal::NoRole { subject }) => return Err(no_role(guard, &request, &subject)),
        Err(refusal) => return Err(unauthorized(guard, request.headers(), &refusal)),
    }
    Ok(request)
}

/// The door a request came through, for its audit caller: `mcp` or `http` (the API).
fn door(request: &Request) -> Door {
    if request.uri().path().starts_with(MCP_PATH) {
        Door::Mcp
    } else {
        Door::Http
    }
}

/// Audit a refusal at the door (before any handler ran).
fn audit_refusal(
    guard: &Guard,
    request: &Request,
    subject: Option<&str>,
    action: &str,
    fields: Value,
    error: String,
) {
    let caller = http_caller(door(request), request.headers(), subject);
    let mut input = json!({"method": request.method().as_str(), "path": request.uri().path()});
    if let (Some(map), Value::Object(fields)) = (input.as_object_mut(), fields) {
        map.extend(fields);
    }
    let recorded = guard.hub.record(
        &caller,
        Call {
            agent_id: None,
            action,
            input,
            context_id: None,
            result: Err(error),
            started: std::time::Instant::now(),
        },
    );
    if let Err(e) = recorded {
        tracing::error!(error = %e, "could not audit a refused HTTP request");
    }
}

/// 403 with `{"error", "needed", "role"}`.
fn forbidden(error: &str, needed: Role, role: Option<Role>) -> Response {
    (
        StatusCode::FORBIDDEN,
        axum::Json(json!({"error": error, "needed": needed, "role": role})),
    )
        .into_response()
}

/// A valid token that grants no aios role: 403, audited. Never a silent viewer: a token
/// the identity provider issued for something else must not read the agents.
fn no_role(guard: &Guard, request: &Request, subject: &str) -> Response {
    let error = "no aios role was granted: the token names none of the roles of mcp.roles \
                 in realm_access.roles, resource_access.<client>.roles or groups";
    tracing::info!(subject, "a valid token without an aios role was refused");
    audit_refusal(
        guard,
        request,
        Some(subject),
        "authorize",
        json!({"needed": Role::Viewer, "role": null}),
        error.to_string(),
    );
    forbidden(error, Role::Viewer, None)
}

/// An API route the caller's role may not use: 403 naming both roles, audited; `None`
/// when the role may.
fn api_refusal(guard: &Guard, request: &Request) -> Option<Response> {
    let grant = request.extensions().get::<AuthGrant>();
    // `authenticate` puts a grant on every request it lets through.
    let role = grant.map_or(Role::Viewer, |g| g.role);
    let (needed, action) = crate::api::route_role(request.method(), request.uri().path());
    let denied = role.check(needed).err()?;
    let Denied { needed, has } = denied;
    audit_refusal(
        guard,
        request,
        grant.and_then(|g| g.subject.as_deref()),
        action,
        denied.fields(),
        denied.to_string(),
    );
    Some(forbidden(&denied.to_string(), needed, Some(has)))
}

/// `/mcp`: the token, then what rmcp answers in ways clients cannot use.
async fn guarded(guard: &Guard, request: Request, next: Next) -> Response {
    let request = match authenticate(guard, request).await {
        Ok(r) => r,
        Err(refused) => return refused,
    };
    if request.method() != Method::POST {
        return next.run(request).await;
    }
    let json_body = request
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|h| h.to_str().ok())
        .is_some_and(|h| {
            h.split(';')
                .next()
                .is_some_and(|e| e.trim().eq_ignore_ascii_case("application/json"))
        });
    let (parts, body) = request.into_parts();
    // Kept (a cheap clone of the buffer) to say what is wrong with a body rmcp refuses.
    let bytes = match axum::body::to_bytes(body, MAX_BODY_BYTES).await {
        Ok(b) => b,
        Err(e) if e.to_string().contains("length limit") => {
            return (
                StatusCode::PAYLOAD_TOO_LARGE,
                format!("Payload Too Large: request body exceeds {MAX_BODY_BYTES} bytes\n"),
            )
                .into_response();
        }
        Err(e) => {
            return (
                StatusCode::BAD_REQUEST,
                format!("Bad Request: the request body could not be read: {e}\n"),
            )
                .into_response();
        }
    };
    let request = Request::from_parts(parts, Body::from(bytes.clone()));
    let (response, refused) = sessions::admit(next.run(request)).await;
    if refused {
        let mut response = (
            StatusCode::SERVICE_UNAVAILABLE,
            format!(
                "Service Unavailable: all {} MCP sessions (mcp.max_sessions) are busy; retry \
                 later, or end an idle session (HTTP DELETE)\n",
                guard.max_sessions
            ),
        )
            .into_response();
        response
            .headers_mut()
            .insert(header::RETRY_AFTER, HeaderValue::from_static("5"));
        return response;
    }
    // rmcp answers 415 to a JSON body it cannot parse; for a client that is a malformed
    // request (400), with the JSON-RPC error that says which kind.
    if response.status() == StatusCode::UNSUPPORTED_MEDIA_TYPE && json_body {
        return malformed(&bytes);
    }
    response
}

/// 400 with JSON-RPC -32700 (not JSON) or -32600 (JSON, but not a JSON-RPC message).
fn malformed(body: &Bytes) -> Response {
    let (id, code, message) = match serde_json::from_slice::<Value>(body) {
        Err(e) => (
            Value::Null,
            -32700,
            format!("Parse error: the body is not JSON: {e}"),
        ),
        Ok(value) => {
            let why = serde_json::from_value::<ClientJsonRpcMessage>(value.clone())
                .err()
                .map_or_else(|| "unsupported message".to_string(), |e| e.to_string());
            let id = value
                .get("id")
                .filter(|id| id.is_string() || id.is_number())
                .cloned()
                .unwrap_or(Value::Null);
            (
                id,
                -32600,
                format!("Invalid Request: not a JSON-RPC 2.0 message this server takes: {why}"),
            )
        }
    };
    (
        StatusCode::BAD_REQUEST,
        axum::Json(
            json!({"jsonrpc": "2.0", "id": id, "error": {"code": code, "message": message}}),
        ),
    )
        .into_response()
}

fn unauthorized(guard: &Guard, headers: &HeaderMap, refusal: &Refusal) -> Response {
    let mut challenge = String::from("Bearer realm=\"aios\"");
    if let Refusal::Invalid(reason) = refusal {
        tracing::info!(reason, "MCP HTTP request with a rejected token");
        challenge.push_str(", error=\"invalid_token\"");
    }
    if guard.auth.oidc().is_some() {
        challenge.push_str(&format!(
            ", resource_metadata=\"{}{METADATA_PATH}{MCP_PATH}\"",
            base_url(headers)
        ));
    }
    let mut response = (
        StatusCode::UNAUTHORIZED,
        match refusal {
            Refusal::Missing => "Unauthorized: send Authorization: Bearer <token>\n",
            Refusal::Invalid(_) | Refusal::NoRole { .. } => {
                "Unauthorized: the bearer token is not accepted\n"
            }
        },
    )
        .into_response();
    if let Ok(v) = HeaderValue::from_str(&challenge) {
        response.headers_mut().insert(header::WWW_AUTHENTICATE, v);
    }
    response
}

/// The URL clients used to reach us (behind a TLS proxy, its forwarded scheme).
fn base_url(headers: &HeaderMap) -> String {
    let host = headers
        .get(header::HOST)
        .and_then(|h| h.to_str().ok())
        .filter(|h| !h.is_empty() && h.chars().all(|c| c.is_ascii_graphic()))
        .unwrap_or("localhost");
    let scheme = headers
        .get("x-forwarded-proto")
        .and_then(|h| h.to_str().ok())
        .filter(|s| *s == "https")
        .unwrap_or("http");
    format!("{scheme}://{host}")
}

/// OAuth 2.0 Protected Resource Metadata (RFC 9728), which the MCP authorization spec
/// points clients to for finding the authorization server.
async fn metadata(State(guard): State<Arc<Guard>>, headers: HeaderMap) -> Response {
    let Some(oidc) = guard.auth.oidc() else {
        return (StatusCode::NOT_FOUND, "no OIDC configured\n").into_response();
    };
    axum::Json(json!({
        "resource": format!("{}{MCP_PATH}", base_url(&headers)),
        "authorization_servers": [oidc.issuer()],
        "bearer_methods_supported": ["header"],
        "resource_name": "aios MCP server",
    }))
    .into_response()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn access_follows_config_and_bind() {
        let dir = Path::new("/data");
        let mut c = McpConfig::default();
        assert_eq!(
            Access::decide(&c, true, dir),
            Ok(Access::TokenFile(dir.join("mcp.token")))
        );
        assert!(Access::decide(&c, false, dir).is_err());
        c.loopback_without_auth = true;
        assert_eq!(Access::decide(&c, true, dir), Ok(Access::Open));
        assert!(Access::decide(&c, false, dir).is_err());
        c.tokens = vec!["t".into()];
        assert_eq!(Access::decide(&c, false, dir), Ok(Access::Configured));
        c.tokens = vec![String::new()];
        c.oidc_issuer = "https://sso.example".into();
        assert_eq!(Access::decide(&c, true, dir), Ok(Access::Configured));
        c.oidc_issuer.clear();
        c.role_tokens.viewer = vec!["v".into()];
        assert_eq!(Access::decide(&c, false, dir), Ok(Access::Configured));
    }

    #[tokio::test]
    async fn malformed_bodies_get_400_with_the_json_rpc_code() {
        for (body, code, id) in [
            ("{not json", -32700, Value::Null),
            (r#"{"jsonrpc":"2.0","id":7,"nothing":1}"#, -32600, json!(7)),
        ] {
            let r = malformed(&Bytes::from_static(body.as_bytes()));
            assert_eq!(r.status(), StatusCode::BAD_REQUEST);
            let bytes = axum::body::to_bytes(r.into_body(), 4096).await.unwrap();
            let answer: Value = serde_json::from_slice(&bytes).unwrap();
            assert_eq!(answer["error"]["code"], json!(code), "{answer}");
            assert_eq!(answer["id"], id);
        }
    }

    #[tokio::test]
    async fn mcp_connections_send_small_writes_at_once() {
        use axum::serve::Listener;
        let tcp = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = tcp.local_addr().unwrap();
        let mut listener = without_nagle(tcp);
        let client = tokio::spawn(tokio::net::TcpStream::connect(addr));
        let (io, _) = listener.accept().await;
        assert!(io.nodelay().unwrap());
        drop(client.await);
    }
}
