//! The audit mirror on a real redis-server: every record in order with its exact bytes, so
//! the chain verifies on the stream; it keeps up with new records and resynchronises after
//! Redis restarts empty.

mod support;

use std::time::{Duration, Instant};

use aios::audit::{
    AuditEntry, AuditLog, AuditMirror, AuditOptions, GENESIS_HASH, Outcome, line_hash, mirror_key,
    read_mirror,
};
use support::redis_server::RedisServer;
use tokio_util::sync::CancellationToken;

fn entry(i: usize) -> AuditEntry {
    AuditEntry {
        agent_id: Some("ops-agent".into()),
        action: "update_context".into(),
        input: serde_json::json!({"i": i, "ratio": i as f64 / 7.0}),
        context_id: None,
        caller: "test".into(),
        outcome: Outcome::Ok,
        error: None,
        duration_ms: i as f64 * 0.013,
    }
}

async fn connect(url: &str) -> redis::aio::ConnectionManager {
    redis::Client::open(url)
        .unwrap()
        .get_connection_manager()
        .await
        .unwrap()
}

/// Wait until the stream holds `n` records; panics after a bounded time.
async fn wait_for(
    conn: &mut redis::aio::ConnectionManager,
    key: &str,
    n: usize,
) -> Vec<(u64, String)> {
    let started = Instant::now();
    loop {
        if let Ok(rows) = read_mirror(conn, key).await
            && rows.len() >= n
        {
            return rows;
        }
        assert!(
            started.elapsed() < Duration::from_secs(30),
            "the mirror did not reach {n} records"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// The stream's records form one unbroken hash chain from the first record.
fn assert_chain(rows: &[(u64, String)]) {
    let mut prev = GENESIS_HASH.to_string();
    for (i, (seq, raw)) in rows.iter().enumerate() {
        assert_eq!(*seq, i as u64, "records in order, none missing");
        let record: serde_json::Value = serde_json::from_str(raw).unwrap();
        assert_eq!(
            record["prev_hash"],
            prev.as_str(),
            "record {seq} links to the one before"
        );
        let hash = line_hash(&prev, raw.as_bytes()).expect("a hash field");
        assert_eq!(record["hash"], hash.as_str(), "record {seq} is unaltered");
        prev = hash;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_mirror_carries_the_chain_and_survives_a_redis_restart() {
    let mut redis = RedisServer::start();
    let dir = tempfile::tempdir().unwrap();
    let log = AuditLog::open(AuditOptions::new(dir.path().to_path_buf())).unwrap();
    for i in 0..1000 {
        log.append(entry(i)).unwrap();
    }
    log.flush().await.unwrap();

    let key = mirror_key("test:");
    let cancel = CancellationToken::new();
    let mirror = AuditMirror {
        dir: dir.path().to_path_buf(),
        conn: connect(&redis.url()).await,
        key: key.clone(),
        max_len: 100_000,
    };
    let task = tokio::spawn(mirror.run(log.subscribe(), cancel.clone()));

    let mut reader = connect(&redis.url()).await;
    let rows = wait_for(&mut reader, &key, 1000).await;
    assert_chain(&rows);

    for i in 1000..1500 {
        log.append(entry(i)).unwrap();
    }
    let rows = wait_for(&mut reader, &key, 1500).await;
    assert_eq!(rows.len(), 1500);
    assert_chain(&rows);

    // Redis restarts with nothing (no persistence here): the mirror puts it all back.
    redis.restart();
    log.append(entry(1500)).unwrap();
    let mut reader = connect(&redis.url()).await;
    let rows = wait_for(&mut reader, &key, 1501).await;
    assert_eq!(rows.len(), 1501);
    assert_chain(&rows);

    cancel.cancel();
    task.await.unwrap();
    log.close().await.unwrap();
}
