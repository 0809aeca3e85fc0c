//! One way to connect to the Redis that holds aios's bus, agent state, audit mirror and hook
//! outbox: RESP3 (push messages, and the resubscription the connection manager relies on),
//! TLS-ready through [`crate::tls::redis_client`], one reconnect backoff and one set of
//! timeouts, so a Redis that goes away is noticed alike by every part.

use std::time::Duration;

use redis::aio::{ConnectionManager, ConnectionManagerConfig};
use redis::{Client, ConnectionInfo, IntoConnectionInfo, ProtocolVersion, RedisResult};

use crate::config::RedisUrl;

/// One TCP (and TLS) connect attempt.
pub const CONNECT_ATTEMPT: Duration = Duration::from_secs(2);
/// One command's reply (a blocking read is bounded by its own call instead).
pub const RESPONSE: Duration = Duration::from_secs(5);
/// Reconnect attempts after the first, 50 ms apart and doubling up to 500 ms (plus
/// jitter): a dead Redis is an error within about a second, so the bus buffers and the
/// store's caller is told, and the next call tries again.
const RETRIES: usize = 2;
const MIN_DELAY: Duration = Duration::from_millis(50);
const MAX_DELAY: Duration = Duration::from_millis(500);

/// The connection info of `url`, speaking RESP3 whatever the URL says.
pub fn info(url: &RedisUrl) -> RedisResult<ConnectionInfo> {
    let info = url.expose().into_connection_info()?;
    let settings = info
        .redis_settings()
        .clone()
        .set_protocol(ProtocolVersion::RESP3);
    Ok(info.set_redis_settings(settings))
}

/// A client for `url` (RESP3, TLS-ready).
pub fn client(url: &RedisUrl) -> RedisResult<Client> {
    crate::tls::redis_client(info(url)?)
}

/// The one connection manager configuration; `response` bounds each command, `None` for a
/// connection that waits in blocking reads bounded by their own timeout.
pub fn manager_config(response: Option<Duration>) -> ConnectionManagerConfig {
    ConnectionManagerConfig::new()
        .set_connection_timeout(Some(CONNECT_ATTEMPT))
        .set_response_timeout(response)
        .set_number_of_retries(RETRIES)
        .set_min_delay(MIN_DELAY)
        .set_max_delay(MAX_DELAY)
        .set_exponent_base(2.0)
}

/// A self-reconnecting connection of `client`, configured as [`manager_config`].
pub async fn manager(
    client: &Client,
    response: Option<Duration>,
) -> RedisResult<ConnectionManager> {
    client
        .get_connection_manager_with_config(manager_config(response))
        .await
}
