//! The process's TLS provider. reqwest, tonic and redis-rs all use rustls, and between them
//! both of its crypto back ends are built in, so rustls cannot pick one for a `ClientConfig`
//! built without naming it — which redis-rs does for `rediss://`, and would panic. Naming
//! aws-lc-rs (reqwest's) once, before any Redis connection, settles it. Certificates are
//! the platform's roots; `SSL_CERT_FILE` names a private CA's. Every Redis client is made
//! by [`redis_client`], so no connection path can miss it.

/// Install aws-lc-rs as the process default, unless one is already installed.
pub fn ensure_provider() {
    if rustls::crypto::CryptoProvider::get_default().is_none() {
        // Another thread may have won the race: either way, one is installed.
        let _ = rustls::crypto::aws_lc_rs::default_provider().install_default();
    }
}

/// A Redis client for `info` (a URL or connection info), TLS-ready.
pub fn redis_client<T: redis::IntoConnectionInfo>(info: T) -> redis::RedisResult<redis::Client> {
    ensure_provider();
    redis::Client::open(info)
}
