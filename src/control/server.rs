//! The owner's side of the control socket: a Unix socket in the data dir, readable only by
//! its user, one task per connection, requests answered concurrently.

use std::path::Path;

use futures::{SinkExt, StreamExt};
use tokio::net::{UnixListener, UnixStream};
use tokio::sync::mpsc;
use tokio_util::codec::{Framed, LinesCodec};
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use crate::agent::Runtime;
use crate::context::Caller;

use super::handler::handle;
use super::protocol::{Reply, RequestLine};

/// Bind a Unix socket at `path` that only this user can open (0600), replacing a stale
/// socket file; the caller must hold the data-dir lock, which is what makes removing it
/// safe. `what` names the socket in errors and logs.
pub fn bind_private(path: &Path, what: &str) -> std::io::Result<UnixListener> {
    // sun_path holds 108 bytes on Linux, 104 on macOS.
    if path.as_os_str().len() > 100 {
        return Err(std::io::Error::other(format!(
            "{what} socket path {} is too long for a Unix socket; use a shorter --data-dir",
            path.display()
        )));
    }
    let _ = std::fs::remove_file(path);
    let listener = UnixListener::bind(path)?;
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600))?;
    }
    tracing::info!(socket = %path.display(), "{what} socket listening");
    Ok(listener)
}

/// Accept connections on a private socket at `path` (see `bind_private`) until `cancel`,
/// handing each to `handle`; the socket file is removed at the end.
pub async fn serve_private(
    path: &Path,
    what: &str,
    cancel: &CancellationToken,
    mut handle: impl FnMut(UnixStream),
) -> std::io::Result<()> {
    let listener = bind_private(path, what)?;
    loop {
        let accepted = tokio::select! {
            () = cancel.cancelled() => break,
            a = listener.accept() => a,
        };
        match accepted {
            Ok((stream, _)) => handle(stream),
            Err(e) => tracing::warn!(error = %e, "{what} socket accept failed"),
        }
    }
    let _ = std::fs::remove_file(path);
    Ok(())
}

/// Longest request line accepted (an intent is at most 64 KiB).
pub const MAX_LINE: usize = 1024 * 1024;

/// Listen on `path` until `cancel`, each connection a task on `tasks`; the caller must hold
/// the data-dir lock (which is what makes removing a stale socket file safe).
pub async fn serve(
    rt: Runtime,
    path: &Path,
    cancel: CancellationToken,
    tasks: &TaskTracker,
) -> std::io::Result<()> {
    serve_private(path, "control", &cancel, |stream| {
        let rt = rt.clone();
        let cancel = cancel.clone();
        tasks.spawn(async move {
            let framed = Framed::new(stream, LinesCodec::new_with_max_length(MAX_LINE));
            connection(rt, framed, cancel).await;
        });
    })
    .await
}

async fn connection(
    rt: Runtime,
    framed: Framed<tokio::net::UnixStream, LinesCodec>,
    cancel: CancellationToken,
) {
    let (mut sink, mut lines) = framed.split();
    let (out_tx, mut out_rx) = mpsc::channel::<Reply>(256);
    let writer = tokio::spawn(async move {
        while let Some(reply) = out_rx.recv().await {
            let Ok(line) = serde_json::to_string(&reply) else {
                continue;
            };
            if sink.send(line).await.is_err() {
                break;
            }
        }
    });
    loop {
        let line = tokio::select! {
            () = cancel.cancelled() => break,
            l = lines.next() => l,
        };
        let line = match line {
            Some(Ok(l)) => l,
            Some(Err(e)) => {
                let _ = out_tx
                    .send(Reply {
                        id: 0,
                        event: None,
                        result: None,
                        error: Some(format!("bad request line: {e}")),
                    })
                    .await;
                break;
            }
            None => break,
        };
        let req: RequestLine = match serde_json::from_str(&line) {
            Ok(r) => r,
            Err(e) => {
                let _ = out_tx
                    .send(Reply {
                        id: 0,
                        event: None,
                        result: None,
                        error: Some(format!("bad request: {e}")),
                    })
                    .await;
                continue;
            }
        };
        let rt = rt.clone();
        let out = out_tx.clone();
        tokio::spawn(async move {
            let id = req.id;
            let (ev_tx, mut ev_rx) = mpsc::channel(256);
            let forward_out = out.clone();
            let forward = tokio::spawn(async move {
                while let Some(ev) = ev_rx.recv().await {
                    let _ = forward_out
                        .send(Reply {
                            id,
                            event: Some(ev),
                            result: None,
                            error: None,
                        })
                        .await;
                }
            });
            let result = handle(&rt, &Caller::parse(&req.caller), req.request, &ev_tx).await;
            drop(ev_tx);
            let _ = forward.await;
            let reply = match result {
                Ok(v) => Reply {
                    id,
                    event: None,
                    result: Some(v),
                    error: None,
                },
                Err(e) => Reply {
                    id,
                    event: None,
                    result: None,
                    error: Some(e.to_string()),
                },
            };
            let _ = out.send(reply).await;
        });
    }
    drop(out_tx);
    let _ = writer.await;
}
