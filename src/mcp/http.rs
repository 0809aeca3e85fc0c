//! Streamable HTTP at `mcp.http_bind`, path `/mcp` (rmcp's service: sessions and SSE for
//! 2025-11-25, stateless requests for 2026-07-28), behind one guard that runs first:
//! a foreign `Origin` gets 403 (DNS-rebinding defence), a missing or wrong bearer token
//! 401 with `WWW-Authenticate`. With OIDC, the OAuth protected-resource metadata (RFC 9728)
//! is served at `/.well-known/oauth-protected-resource[/mcp]` and named in the challenge.

use std::net::SocketAddr;
use std::sync::Arc;

use axum::Router;
use axum::extract::{Request, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::middleware::{Next, from_fn_with_state};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::serve::ListenerExt;
use rmcp::transport::streamable_http_server::session::local::LocalSessionManager;
use rmcp::transport::streamable_http_server::{StreamableHttpServerConfig, StreamableHttpService};
use serde_json::json;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

use crate::config::McpConfig;

use super::auth::{Auth, Refusal};
use super::caller::AuthSubject;
use super::oidc::{OidcError, OidcVerifier};
use super::server::AiosMcp;

/// The MCP endpoint's path.
pub const MCP_PATH: &str = "/mcp";
const METADATA_PATH: &str = "/.well-known/oauth-protected-resource";

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
    #[error(transparent)]
    Oidc(#[from] OidcError),
}

/// A running HTTP server.
pub struct HttpServer {
    pub addr: SocketAddr,
    /// `http://ADDR/mcp`.
    pub url: String,
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

/// What the guard needs for each request.
struct Guard {
    auth: Auth,
    /// Allowed origins, lower case, no trailing slash.
    origins: Vec<String>,
}

/// Bind and serve until `cancel`. Errors (bad address, port taken, unsafe setup) are
/// reported before anything is served.
pub async fn serve_http(
    mcp: AiosMcp,
    config: &McpConfig,
    cancel: CancellationToken,
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
        )?)
    };
    let auth = Auth::new(&config.tokens, oidc);
    let loopback = addr.ip().is_loopback();
    if !loopback && !auth.required() {
        return Err(McpHttpError::Unprotected(addr.to_string()));
    }
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
    let mut rmcp_config = StreamableHttpServerConfig::default()
        .with_cancellation_token(cancel.child_token())
        .with_allowed_origins(origins.clone())
        .enforce_origin_validation()
        // A stateless (2026-07-28) call that answers in one message gets a plain JSON
        // body instead of a one-event SSE stream; a call that notifies first still streams.
        .with_json_response(true);
    if !loopback {
        // Clients reach a public bind by names we cannot know; auth guards it instead.
        rmcp_config = rmcp_config.disable_allowed_hosts();
    }
    let service: StreamableHttpService<AiosMcp, LocalSessionManager> = StreamableHttpService::new(
        move || Ok(mcp.connection()),
        Arc::new(LocalSessionManager::default()),
        rmcp_config,
    );
    let guard = Arc::new(Guard { auth, origins });
    let router = Router::new()
        .nest_service(MCP_PATH, service)
        .route(METADATA_PATH, get(metadata))
        .route(&format!("{METADATA_PATH}{MCP_PATH}"), get(metadata))
        .layer(from_fn_with_state(guard.clone(), check))
        .with_state(guard);
    let listener = without_nagle(listener);
    let handle = tokio::spawn(async move {
        axum::serve(listener, router)
            .with_graceful_shutdown(cancel.cancelled_owned())
            .await
    });
    let url = format!("http://{bound}{MCP_PATH}");
    tracing::info!(%url, auth = guard_label(config), "MCP HTTP listening");
    Ok(HttpServer {
        addr: bound,
        url,
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

fn guard_label(config: &McpConfig) -> &'static str {
    match (config.tokens.is_empty(), config.oidc_issuer.is_empty()) {
        (true, true) => "none",
        (false, true) => "tokens",
        (true, false) => "oidc",
        (false, false) => "tokens+oidc",
    }
}

/// `scheme://host[:port]` in lower case, or `null`; `None` when it is not an origin.
fn normalize_origin(origin: &str) -> Option<String> {
    let o = origin.trim().trim_end_matches('/').to_ascii_lowercase();
    if o == "null" {
        return Some(o);
    }
    let (scheme, rest) = o.split_once("://")?;
    let ok = matches!(scheme, "http" | "https")
        && !rest.is_empty()
        && !rest.contains('/')
        && !rest.contains('@');
    ok.then_some(o)
}

/// The guard in front of every route.
async fn check(State(guard): State<Arc<Guard>>, mut request: Request, next: Next) -> Response {
    if let Some(origin) = request.headers().get(header::ORIGIN) {
        let allowed = origin
            .to_str()
            .ok()
            .and_then(normalize_origin)
            .is_some_and(|o| guard.origins.contains(&o));
        if !allowed {
            return (
                StatusCode::FORBIDDEN,
                "Forbidden: Origin not allowed (mcp.allowed_origins)\n",
            )
                .into_response();
        }
    }
    if request.uri().path().starts_with(MCP_PATH) {
        let presented = request
            .headers()
            .get(header::AUTHORIZATION)
            .and_then(|h| h.to_str().ok());
        match guard.auth.check(presented).await {
            Ok(Some(subject)) => {
                request.extensions_mut().insert(AuthSubject(subject));
            }
            Ok(None) => {}
            Err(refusal) => return unauthorized(&guard, request.headers(), &refusal),
        }
    }
    next.run(request).await
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
            Refusal::Invalid(_) => "Unauthorized: the bearer token is not accepted\n",
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
    fn origins_are_normalized() {
        assert_eq!(
            normalize_origin("HTTP://LocalHost:3000/").as_deref(),
            Some("http://localhost:3000")
        );
        assert_eq!(normalize_origin("null").as_deref(), Some("null"));
        assert_eq!(normalize_origin("localhost:3000"), None);
        assert_eq!(normalize_origin("http://a/b"), None);
        assert_eq!(normalize_origin("ftp://a"), None);
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
