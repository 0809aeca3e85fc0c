//! The audit mirror on a real redis-server: every record in order with its exact bytes, so
//! the chain verifies on the stream; it keeps up with new records and resynchronises after
//! Redis restarts empty. `aios audit verify` compares the files with it, so files rewritten
//! with a recomputed, valid chain are caught.

mod support;

use std::time::{Duration, Instant};

use aios::audit::{
    AuditEntry, AuditLog, AuditMirror, AuditOptions, AuditRecord, GENESIS_HASH, Head, Outcome,
    line_hash, mirror_key, read_mirror, segment_name, verify_dir,
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
        cause: Default::default(),
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

/// Rewrite the one audit file as a forger would: change the record at `seq` and recompute
/// every hash from there on, and `HEAD` with them, so the chain itself verifies.
fn forge(dir: &std::path::Path, seq: u64) {
    let file = dir.join(segment_name(1));
    let text = std::fs::read_to_string(&file).unwrap();
    let mut out = Vec::new();
    let mut prev = GENESIS_HASH.to_string();
    let mut last = None;
    for line in text.lines() {
        let mut record: AuditRecord = serde_json::from_str(line).unwrap();
        if record.seq == seq {
            record.input = serde_json::json!({"i": "nothing to see here"});
        }
        record.prev_hash = prev.clone();
        out.extend(record.seal());
        prev = record.hash.clone();
        last = Some(record.seq);
    }
    std::fs::write(&file, out).unwrap();
    let head = Head {
        seq: last.unwrap(),
        hash: prev,
        file: segment_name(1),
    };
    std::fs::write(
        dir.join(aios::audit::HEAD_FILE),
        serde_json::to_vec(&head).unwrap(),
    )
    .unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn verify_compares_the_files_with_the_mirror_and_names_the_first_rewritten_seq() {
    let redis = RedisServer::start();
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    let audit_dir = data.join("audit");
    let prefix = "verify:";
    let log = AuditLog::open(AuditOptions::new(&audit_dir)).unwrap();
    let cancel = CancellationToken::new();
    let mirror = AuditMirror {
        dir: audit_dir.clone(),
        conn: connect(&redis.url()).await,
        key: mirror_key(prefix),
        max_len: 100_000,
    };
    let task = tokio::spawn(mirror.run(log.subscribe(), cancel.clone()));
    for i in 0..20 {
        log.append(entry(i)).unwrap();
    }
    log.flush().await.unwrap();
    let mut reader = connect(&redis.url()).await;
    wait_for(&mut reader, &mirror_key(prefix), 20).await;
    cancel.cancel();
    task.await.unwrap();
    log.close().await.unwrap();

    let verify = |args: &[&str], backend: &str| {
        support::aios(tmp.path(), &data)
            .env("AIOS_BUS_BACKEND", backend)
            .env("AIOS_BUS_URL", redis.url())
            .env("AIOS_BUS_PREFIX", prefix)
            .args(args)
            .output()
            .unwrap()
    };
    let ok = verify(&["audit", "verify", "--against-mirror"], "memory");
    let said = String::from_utf8_lossy(&ok.stdout).to_string();
    assert!(
        ok.status.success(),
        "{said}{}",
        String::from_utf8_lossy(&ok.stderr)
    );
    assert!(
        said.contains("20 record(s) match the Redis mirror"),
        "{said}"
    );

    forge(&audit_dir, 7);
    assert!(
        verify_dir(&audit_dir).unwrap().is_ok(),
        "the forged chain verifies on its own"
    );
    for (args, backend) in [
        (&["audit", "verify", "--against-mirror"][..], "memory"),
        // By default too, when Redis is configured.
        (&["audit", "verify"][..], "redis"),
    ] {
        let out = verify(args, backend);
        assert!(!out.status.success(), "{args:?} on {backend} passed");
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(
            err.contains("differ from the Redis mirror at seq 7"),
            "{args:?}: {err}"
        );
    }
    // Without Redis configured, only the chain is checked, and it holds.
    assert!(verify(&["audit", "verify"], "memory").status.success());
}
