//! The MCP servers of a data dir's owner (`aios serve`, the TUI, `aios mcp` when it owns
//! the dir): the `mcp.sock` socket always, Streamable HTTP when asked and configured.

use std::path::PathBuf;

use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use crate::agent::Runtime;
use crate::config::Config;

use super::http::{Access, McpHttpError, serve_http};
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
    tasks: TaskTracker,
    /// The HTTP endpoint's URL and how its clients authenticate, when HTTP is served.
    http: Option<(String, Access)>,
    url_file: Option<PathBuf>,
}

impl OwnerServers {
    /// Serve `mcp.sock`, and HTTP at `mcp.http_bind` when `with_http` and it is not empty,
    /// until `stop`, every task on `tasks`. An HTTP setup that is unsafe or cannot bind is
    /// an error, and nothing keeps running.
    pub async fn start(
        runtime: &Runtime,
        config: &Config,
        with_http: bool,
        stop: &CancellationToken,
        tasks: &TaskTracker,
    ) -> Result<OwnerServers, McpHttpError> {
        // A child: a failed start stops what it began, not the caller's other servers.
        let mine = stop.child_token();
        let mcp = AiosMcp::new(
            runtime.clone(),
            Updates::start(runtime, mine.clone(), tasks),
            Limits::from_config(&config.mcp),
        );
        let data_dir = config.data_dir();
        let http = if with_http && !config.mcp.http_bind.is_empty() {
            match serve_http(
                mcp.connection(),
                &config.mcp,
                &config.secrets,
                &data_dir,
                mine.clone(),
                tasks,
            )
            .await
            {
                Ok(h) => {
                    let shown = (h.url.clone(), h.access.clone());
                    tasks.spawn(h.join());
                    Some(shown)
                }
                Err(e) => {
                    mine.cancel();
                    return Err(e);
                }
            }
        } else {
            None
        };
        let url_file = http.as_ref().and_then(|(url, _)| {
            let path = http_url_file(&data_dir);
            match std::fs::write(&path, format!("{url}\n")) {
                Ok(()) => Some(path),
                Err(e) => {
                    tracing::warn!(error = %e, path = %path.display(), "cannot record the MCP URL");
                    None
                }
            }
        });
        tasks.spawn({
            let mcp = mcp.connection();
            let path = socket_path(&data_dir);
            let (stop, tasks) = (mine.clone(), tasks.clone());
            async move {
                if let Err(e) = serve_socket(mcp, &path, stop, &tasks).await {
                    tracing::error!(error = %e, "MCP socket stopped");
                }
            }
        });
        Ok(OwnerServers {
            mcp,
            stop: mine,
            tasks: tasks.clone(),
            http,
            url_file,
        })
    }

    /// `http://ADDR/mcp` when HTTP is served.
    pub fn http_url(&self) -> Option<&str> {
        self.http.as_ref().map(|(url, _)| url.as_str())
    }

    /// How HTTP clients authenticate, when HTTP is served.
    pub fn http_access(&self) -> Option<&Access> {
        self.http.as_ref().map(|(_, access)| access)
    }

    /// A server for one more in-process connection (stdio of `aios mcp`).
    pub fn server(&self) -> AiosMcp {
        self.mcp.connection()
    }

    /// Stop serving, wait for every task on the tracker the servers were started on (their
    /// connections included), and remove the URL file.
    pub async fn stop(self) {
        self.stop.cancel();
        self.tasks.close();
        self.tasks.wait().await;
        if let Some(path) = self.url_file {
            let _ = std::fs::remove_file(path);
        }
    }
}
