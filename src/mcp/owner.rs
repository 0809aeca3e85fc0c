//! The MCP servers of a data dir's owner (`aios serve`, the TUI, `aios mcp` when it owns
//! the dir): the `mcp.sock` socket always, Streamable HTTP when asked and configured.

use std::path::PathBuf;

use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

use crate::agent::Runtime;
use crate::config::Config;

use super::http::{Access, HttpServer, McpHttpError, serve_http};
use super::limits::Limits;
use super::server::AiosMcp;
use super::socket::{serve_socket, socket_path};
use super::updates::Updates;

/// The file an owner writes its HTTP endpoint's URL to, so scripts (and tests) can find a
/// server bound to port 0.
pub fn http_url_file(data_dir: &std::path::Path) -> PathBuf {
    data_dir.join("mcp-http.url")
}

pub struct OwnerServers {
    mcp: AiosMcp,
    stop: CancellationToken,
    socket: JoinHandle<()>,
    http: Option<HttpServer>,
    url_file: Option<PathBuf>,
}

impl OwnerServers {
    /// Serve `mcp.sock`, and HTTP at `mcp.http_bind` when `with_http` and it is not empty.
    /// An HTTP setup that is unsafe or cannot bind is an error, and nothing keeps running.
    pub async fn start(
        runtime: &Runtime,
        config: &Config,
        with_http: bool,
    ) -> Result<OwnerServers, McpHttpError> {
        let stop = CancellationToken::new();
        let mcp = AiosMcp::new(
            runtime.clone(),
            Updates::start(runtime, stop.clone()),
            Limits::from_config(&config.mcp),
        );
        let data_dir = config.data_dir();
        let http = if with_http && !config.mcp.http_bind.is_empty() {
            match serve_http(
                mcp.connection(),
                &config.mcp,
                &config.secrets,
                &data_dir,
                stop.clone(),
            )
            .await
            {
                Ok(h) => Some(h),
                Err(e) => {
                    stop.cancel();
                    return Err(e);
                }
            }
        } else {
            None
        };
        let url_file = http.as_ref().and_then(|h| {
            let path = http_url_file(&data_dir);
            match std::fs::write(&path, format!("{}\n", h.url)) {
                Ok(()) => Some(path),
                Err(e) => {
                    tracing::warn!(error = %e, path = %path.display(), "cannot record the MCP URL");
                    None
                }
            }
        });
        let socket = tokio::spawn({
            let mcp = mcp.connection();
            let path = socket_path(&data_dir);
            let stop = stop.clone();
            async move {
                if let Err(e) = serve_socket(mcp, &path, stop).await {
                    tracing::error!(error = %e, "MCP socket stopped");
                }
            }
        });
        Ok(OwnerServers {
            mcp,
            stop,
            socket,
            http,
            url_file,
        })
    }

    /// `http://ADDR/mcp` when HTTP is served.
    pub fn http_url(&self) -> Option<&str> {
        self.http.as_ref().map(|h| h.url.as_str())
    }

    /// How HTTP clients authenticate, when HTTP is served.
    pub fn http_access(&self) -> Option<&Access> {
        self.http.as_ref().map(|h| &h.access)
    }

    /// A server for one more in-process connection (stdio of `aios mcp`).
    pub fn server(&self) -> AiosMcp {
        self.mcp.connection()
    }

    /// Stop serving and wait for the servers to finish.
    pub async fn stop(self) {
        self.stop.cancel();
        let _ = self.socket.await;
        if let Some(h) = self.http {
            h.join().await;
        }
        if let Some(path) = self.url_file {
            let _ = std::fs::remove_file(path);
        }
    }
}
