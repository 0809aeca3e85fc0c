//! The client side of the control socket, used by CLI commands while an owner runs.

use std::path::Path;
use std::time::Duration;

use futures::{SinkExt, StreamExt};
use tokio::net::UnixStream;
use tokio_util::codec::{Framed, LinesCodec, LinesCodecError};

use crate::context::Caller;

use super::protocol::{Reply, Request, RequestLine, Streamed};
use super::server::MAX_LINE;

/// Why a call over the control socket brought no result.
#[derive(Debug, thiserror::Error)]
pub enum CallError {
    /// The request could not be written as JSON.
    #[error("{0}")]
    Encode(#[source] serde_json::Error),
    /// Writing or reading the socket failed, or a line was longer than the protocol allows.
    #[error("control socket: {0}")]
    Socket(#[source] LinesCodecError),
    #[error("the owning aios process closed the connection")]
    Closed,
    #[error("bad reply from the owner: {0}")]
    BadReply(#[source] serde_json::Error),
    /// The owner answered with an error: the text of its [`super::HandleError`].
    #[error("{0}")]
    Refused(String),
}

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
    ) -> Result<serde_json::Value, CallError> {
        let id = self.next_id;
        self.next_id += 1;
        let line = serde_json::to_string(&RequestLine {
            id,
            caller: self.caller.to_string(),
            request,
        })
        .map_err(CallError::Encode)?;
        self.framed.send(line).await.map_err(CallError::Socket)?;
        loop {
            let line = match self.framed.next().await {
                Some(Ok(l)) => l,
                Some(Err(e)) => return Err(CallError::Socket(e)),
                None => return Err(CallError::Closed),
            };
            let reply: Reply = serde_json::from_str(&line).map_err(CallError::BadReply)?;
            if reply.id != id && reply.id != 0 {
                continue;
            }
            if let Some(ev) = reply.event {
                on_event(ev);
            } else if let Some(e) = reply.error {
                return Err(CallError::Refused(e));
            } else {
                return Ok(reply.result.unwrap_or(serde_json::Value::Null));
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A client on one end of a socket pair; the test plays the owner on the other.
    fn pair() -> (ControlClient, Framed<UnixStream, LinesCodec>) {
        let (a, b) = UnixStream::pair().unwrap();
        let client = ControlClient {
            framed: Framed::new(a, LinesCodec::new_with_max_length(MAX_LINE)),
            next_id: 1,
            caller: Caller::cli(),
        };
        (client, Framed::new(b, LinesCodec::new()))
    }

    #[tokio::test]
    async fn each_failure_has_its_variant_and_text() {
        let (mut client, mut owner) = pair();
        let owner = tokio::spawn(async move {
            owner.next().await;
            let refusal = r#"{"id":1,"error":"unknown agent `x`"}"#;
            owner.send(refusal.to_string()).await.unwrap();
            owner.next().await;
            owner.send("not json".to_string()).await.unwrap();
            // The third request is read, then the owner goes away.
            owner.next().await;
        });
        let e = client.call(Request::Info, |_| {}).await.unwrap_err();
        assert!(matches!(&e, CallError::Refused(text) if text == "unknown agent `x`"));
        assert_eq!(e.to_string(), "unknown agent `x`");
        let e = client.call(Request::Info, |_| {}).await.unwrap_err();
        assert!(matches!(e, CallError::BadReply(_)));
        assert!(
            e.to_string().starts_with("bad reply from the owner: "),
            "{e}"
        );
        let e = client.call(Request::Info, |_| {}).await.unwrap_err();
        assert!(matches!(e, CallError::Closed), "{e}");
        assert_eq!(
            e.to_string(),
            "the owning aios process closed the connection"
        );
        owner.await.unwrap();
    }
}
