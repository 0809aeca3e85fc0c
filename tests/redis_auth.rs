//! Redis with a password and with an ACL user, end to end on a real redis-server: the bus,
//! the state store, the audit mirror and a watcher (`--attach`) all authenticate from the
//! URL; a wrong password is a clear error at start; the password never shows — not in the
//! error, the status line, `doctor` or the audit log.

mod support;

use aios::agent::{Runtime, RuntimeOptions};
use aios::audit::{mirror_key, read_dir, read_mirror};
use aios::config::BusBackend;
use aios::context::Caller;
use support::redis_server::RedisServer;

const PASSWORD: &str = "pw-7c1e9a";

/// Keys matching `pattern`, by SCAN (KEYS is a dangerous command an ACL user may lack).
async fn keys(url: &str, pattern: &str) -> Vec<String> {
    let mut conn = redis::Client::open(url)
        .expect("client")
        .get_multiplexed_async_connection()
        .await
        .expect("connect with the password");
    let mut found = Vec::new();
    let mut cursor = 0u64;
    loop {
        let (next, batch): (u64, Vec<String>) = redis::cmd("SCAN")
            .arg(cursor)
            .arg("MATCH")
            .arg(pattern)
            .query_async(&mut conn)
            .await
            .expect("scan");
        found.extend(batch);
        if next == 0 {
            return found;
        }
        cursor = next;
    }
}

/// A runtime on `url`, an intent through it, a watcher on the same URL: state, mirror and
/// the watcher all work, and the password is nowhere to be seen.
async fn runs_on(url: &str, prefix: &str) {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut config = support::config_in(dir.path());
    config.bus.backend = BusBackend::Redis;
    config.bus.url = url.into();
    config.bus.prefix = prefix.to_string();
    let rt = Runtime::start(support::options(config.clone()))
        .await
        .expect("runtime starts on the authenticated Redis");
    assert_eq!(rt.info().store, "redis");
    rt.dispatch_and_wait(
        &Caller::operator("alice"),
        "support-agent",
        "Customer 42 cannot log in",
    )
    .await
    .expect("dispatch");

    let watcher_dir = tempfile::tempdir().expect("tempdir");
    let mut watch = support::config_in(watcher_dir.path());
    watch.bus = config.bus.clone();
    let watcher = Runtime::start(RuntimeOptions {
        watch_only: true,
        ..support::options(watch)
    })
    .await
    .expect("a watcher attaches with the same URL");
    let shown = watcher.info().attached.clone().expect("attached");
    assert!(
        !shown.contains(PASSWORD),
        "the status bar would show {shown}"
    );
    watcher.shutdown().await;
    rt.shutdown().await;

    assert!(
        !keys(url, &format!("{prefix}aios:agent:support-agent:*"))
            .await
            .is_empty(),
        "the agent's state is in Redis"
    );
    let mut conn = redis::Client::open(url)
        .expect("client")
        .get_connection_manager()
        .await
        .expect("connect");
    let mirrored = read_mirror(&mut conn, &mirror_key(prefix))
        .await
        .expect("mirror");
    let on_disk = read_dir(&config.audit_dir()).expect("audit").records;
    assert_eq!(mirrored.len(), on_disk.len(), "the mirror has every record");
    let audit_text = std::fs::read_to_string(config.audit_dir().join(aios::audit::segment_name(1)))
        .expect("audit file");
    assert!(
        !audit_text.contains(PASSWORD),
        "the audit log holds the password"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_password_protected_redis_serves_bus_store_mirror_and_watcher() {
    let redis = RedisServer::start_with(&["--requirepass", PASSWORD]);
    let url = format!("redis://:{PASSWORD}@127.0.0.1:{}", redis.port);
    runs_on(&url, "pw:").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_acl_user_limited_to_its_prefix_is_enough() {
    // The default user is off: only `aios`, with its password, on keys and channels of
    // its own prefix.
    let password = format!(">{PASSWORD}");
    let mut args = vec![
        "--user", "default", "off", "--user", "aios", "on", &password,
    ];
    // Keys and channels under its prefix; PSUBSCRIBE patterns are matched literally by
    // ACLs, so the one a watcher uses is named as it is.
    args.extend([
        "~acl:*",
        "&acl:*",
        "&acl:aios.agents.activity",
        "+@all",
        "-@dangerous",
        "+info",
    ]);
    let redis = RedisServer::start_with(&args);
    let url = format!("redis://aios:{PASSWORD}@127.0.0.1:{}", redis.port);
    runs_on(&url, "acl:").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_wrong_password_is_a_clear_error_that_does_not_repeat_it() {
    let redis = RedisServer::start_with(&["--requirepass", PASSWORD]);
    let dir = tempfile::tempdir().expect("tempdir");
    let mut config = support::config_in(dir.path());
    config.bus.backend = BusBackend::Redis;
    config.bus.url = format!("redis://:not-{PASSWORD}-x@127.0.0.1:{}", redis.port).into();
    let err = Runtime::start(support::options(config))
        .await
        .err()
        .expect("refused")
        .to_string();
    assert!(!err.contains(PASSWORD), "{err}");
    assert!(
        err.contains("WRONGPASS") || err.to_lowercase().contains("auth"),
        "{err}"
    );

    let out = support::aios(dir.path(), &dir.path().join("data"))
        .env("AIOS_BUS_BACKEND", "redis")
        .env(
            "AIOS_BUS_URL",
            format!("redis://:{PASSWORD}@127.0.0.1:{}", redis.port),
        )
        .arg("doctor")
        .output()
        .expect("doctor");
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(text.contains("bus"), "{text}");
    assert!(
        !text.contains(PASSWORD),
        "doctor printed the password:\n{text}"
    );
}

/// `rediss://` to a redis-server that speaks only TLS, its certificate from a throwaway CA
/// that `SSL_CERT_FILE` names: a dispatch runs on it (bus, state store, audit mirror), and
/// `audit verify --against-mirror` reads the mirror back over TLS.
#[test]
fn rediss_with_a_private_ca_carries_bus_store_and_mirror() {
    let Some((redis, ca)) = RedisServer::start_tls() else {
        return;
    };
    let dir = tempfile::tempdir().expect("tempdir");
    let data = dir.path().join("data");
    let run = |args: &[&str]| {
        let out = support::aios(dir.path(), &data)
            .env("AIOS_BUS_BACKEND", "redis")
            .env("AIOS_BUS_URL", redis.url())
            .env("AIOS_BUS_PREFIX", "tls:")
            .env("SSL_CERT_FILE", &ca)
            .args(args)
            .output()
            .expect("run aios");
        let text = format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        (out.status.success(), text)
    };
    let (ok, text) = run(&["dispatch", "support-agent", "Customer 42 cannot log in"]);
    assert!(ok, "{text}");
    let (ok, text) = run(&["audit", "verify", "--against-mirror"]);
    assert!(ok, "{text}");
    assert!(text.contains("audit mirror `tls:aios:audit`"), "{text}");

    // Without the CA, the server's certificate is not trusted: a clear refusal.
    let out = support::aios(dir.path(), &dir.path().join("other"))
        .env("AIOS_BUS_BACKEND", "redis")
        .env("AIOS_BUS_URL", redis.url())
        .env("SSL_CERT_FILE", dir.path().join("no-such-ca.crt"))
        .args(["dispatch", "support-agent", "x"])
        .output()
        .expect("run aios");
    assert!(!out.status.success());
}
