//! One runtime on a real Redis: state in Redis, and after an orderly shutdown the audit
//! mirror holds every record the files hold.

mod support;

use aios::agent::Runtime;
use aios::audit::{mirror_key, read_dir, read_mirror};
use aios::config::BusBackend;
use aios::context::Caller;
use support::redis_server::RedisServer;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn state_lives_in_redis_and_the_mirror_misses_no_record() {
    let redis = RedisServer::start();
    let dir = tempfile::tempdir().unwrap();
    let mut config = support::config_in(dir.path());
    config.bus.backend = BusBackend::Redis;
    config.bus.url = redis.url().into();
    config.bus.prefix = "t1:".into();
    let rt = Runtime::start(support::options(config.clone()))
        .await
        .unwrap();
    assert_eq!(
        (rt.info().bus.as_str(), rt.info().store.as_str()),
        ("redis", "redis")
    );
    let reply = rt
        .dispatch_and_wait(
            &Caller::operator("alice"),
            "support-agent",
            "Customer 42 cannot log in",
        )
        .await
        .unwrap();
    assert_eq!(reply.context_version, 1);
    rt.shutdown().await;

    let on_disk = read_dir(&config.audit_dir()).unwrap().records;
    let mut conn = redis::Client::open(redis.url())
        .unwrap()
        .get_connection_manager()
        .await
        .unwrap();
    let mirrored = read_mirror(&mut conn, &mirror_key("t1:")).await.unwrap();
    let seqs: Vec<u64> = mirrored.iter().map(|(s, _)| *s).collect();
    assert_eq!(seqs, on_disk.iter().map(|r| r.seq).collect::<Vec<_>>());
    assert!(
        on_disk.len() >= 6,
        "dispatch, recall, reads, update, remember, trace"
    );

    // A second runtime on the same Redis but a fresh data dir sees the context.
    let other = tempfile::tempdir().unwrap();
    let mut config2 = support::config_in(other.path());
    config2.bus = config.bus.clone();
    let rt2 = Runtime::start(support::options(config2)).await.unwrap();
    let ctx = rt2
        .hub()
        .get_context(&Caller::operator("bob"), "support-agent", None)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(ctx.context_id, reply.context_id);
    rt2.shutdown().await;
}
