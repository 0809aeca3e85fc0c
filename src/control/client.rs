//! The client side of the control socket, used by CLI commands while an owner runs.

use std::path::Path;
use std::time::Duration;

use futures::{SinkExt, StreamExt};
use tokio::net::UnixStream;
use tokio_util::codec::{Framed, LinesCodec};

use crate::context::Caller;

use super::protocol::{Reply, Request, RequestLine, Streamed};
use super::server::MAX_LINE;

pub struct ControlClient {
    framed: Framed<UnixStream, LinesCodec>,
    next_id: u64,
    caller: Caller,
}

impl ControlClient {
    /// Connect, retrying briefly: an owner that just took the lock may not listen yet.
    pub async fn connect(path: &Path, caller: Caller) -> std::io::Result<ControlClient> {
        let mut last = None;
        for _ in 0..40 {
            match UnixStream::connect(path).await {
                Ok(stream) => {
                    return Ok(ControlClient {
                        framed: Framed::new(stream, LinesCodec::new_with_max_length(MAX_LINE)),
                        next_id: 1,
                        caller,
                    });
                }
                Err(e) => last = Some(e),
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        Err(last.unwrap_or_else(|| std::io::Error::other("could not connect")))
    }

    /// Send a request; events before the result go to `on_event`.
    pub async fn call(
        &mut self,
        request: Request,
        mut on_event: impl FnMut(Streamed),
    ) -> Result<serde_json::Value, String> {
        let id = self.next_id;
        self.next_id += 1;
        let line = serde_json::to_string(&RequestLine {
            id,
            caller: self.caller.to_string(),
            request,
        })
        .map_err(|e| e.to_string())?;
        self.framed
            .send(line)
            .await
            .map_err(|e| format!("control socket: {e}"))?;
        loop {
            let line = match self.framed.next().await {
                Some(Ok(l)) => l,
                Some(Err(e)) => return Err(format!("control socket: {e}")),
                None => return Err("the owning aios process closed the connection".into()),
            };
            let reply: Reply = serde_json::from_str(&line)
                .map_err(|e| format!("bad reply from the owner: {e}"))?;
            if reply.id != id && reply.id != 0 {
                continue;
            }
            if let Some(ev) = reply.event {
                on_event(ev);
            } else if let Some(e) = reply.error {
                return Err(e);
            } else {
                return Ok(reply.result.unwrap_or(serde_json::Value::Null));
            }
        }
    }
}
