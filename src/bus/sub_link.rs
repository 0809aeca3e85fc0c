//! The Redis subscription link: one plain multiplexed RESP3 connection whose pushed
//! messages are handed to a sink on the connection's own reader.
//!
//! Not a `ConnectionManager`: the manager puts an unbounded queue and a task between the
//! reader and the sink, so a subscriber that falls behind grows that queue without limit.
//! Read straight off the socket, a slow sink slows the socket instead, and Redis's
//! output-buffer limit for pub/sub clients bounds what waits on its side. The price is
//! that reconnecting is ours: the bus's supervisor calls `reconnect` and then subscribes
//! again to everything it had.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use redis::aio::{AsyncPushSender, MultiplexedConnection};
use redis::{AsyncConnectionConfig, RedisError};

pub(crate) struct SubLink {
    client: redis::Client,
    config: AsyncConnectionConfig,
    current: Mutex<Option<MultiplexedConnection>>,
}

fn not_connected() -> RedisError {
    std::io::Error::new(
        std::io::ErrorKind::NotConnected,
        "the subscription connection is being re-established",
    )
    .into()
}

impl SubLink {
    pub(crate) fn new(
        client: redis::Client,
        sink: Arc<dyn AsyncPushSender>,
        timeout: Duration,
    ) -> SubLink {
        let config = AsyncConnectionConfig::new()
            .set_connection_timeout(Some(timeout))
            .set_response_timeout(Some(timeout))
            .set_push_sender(sink);
        SubLink {
            client,
            config,
            current: Mutex::new(None),
        }
    }

    /// A new connection in place of the old one (which closes when its last clone drops).
    /// Nothing is subscribed on it yet.
    pub(crate) async fn reconnect(&self) -> Result<MultiplexedConnection, RedisError> {
        if let Ok(mut c) = self.current.lock() {
            c.take();
        }
        let con = self
            .client
            .get_multiplexed_async_connection_with_config(&self.config)
            .await?;
        if let Ok(mut c) = self.current.lock() {
            *c = Some(con.clone());
        }
        Ok(con)
    }

    /// The live connection, or a connection error while there is none.
    pub(crate) fn get(&self) -> Result<MultiplexedConnection, RedisError> {
        self.current
            .lock()
            .ok()
            .and_then(|c| c.clone())
            .ok_or_else(not_connected)
    }

    /// A round trip on the link: fails when the connection is gone.
    pub(crate) async fn ping(&self) -> Result<(), RedisError> {
        let mut con = self.get()?;
        redis::cmd("PING")
            .query_async::<redis::Value>(&mut con)
            .await
            .map(|_| ())
    }
}
