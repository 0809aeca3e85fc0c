//! The audit log end to end: records on disk, the hash chain and what breaks it, crash recovery, rotation, redaction and durability.

use std::path::{Path, PathBuf};
use std::time::Duration;

use aios::audit::{
    AuditEntry, AuditError, AuditLog, AuditOptions, Breach, Follower, GENESIS_HASH, LineRead,
    Outcome, ProblemKind, REDACTED, VerifyWarning, list_segments, read_dir, segment_name,
    verify_dir,
};
use serde_json::{Value, json};

fn options(dir: &Path) -> AuditOptions {
    AuditOptions::new(dir)
}

/// Options whose timer never fires within a test, so only `flush`, `close` or a drop
/// can have put records on disk.
fn lazy_options(dir: &Path) -> AuditOptions {
    AuditOptions {
        flush_interval: Duration::from_secs(3600),
        ..AuditOptions::new(dir)
    }
}

fn entry(i: usize) -> AuditEntry {
    AuditEntry {
        agent_id: Some(format!("agent-{}", i % 3)),
        action: "update_context".into(),
        input: json!({"text": format!("step {i}"), "n": i}),
        context_id: Some(format!("ctx-{i}")),
        caller: "cli".into(),
        outcome: Outcome::Ok,
        error: None,
        duration_ms: 1.5,
        cause: Default::default(),
    }
}

async fn write_records(opts: AuditOptions, count: usize) {
    let log = AuditLog::open(opts).unwrap();
    for i in 0..count {
        log.append(entry(i)).unwrap();
    }
    log.close().await.unwrap();
}

fn first_file(dir: &Path) -> PathBuf {
    dir.join(segment_name(1))
}

fn lines_of(path: &Path) -> Vec<String> {
    std::fs::read_to_string(path)
        .unwrap()
        .lines()
        .map(str::to_string)
        .collect()
}

fn rewrite_lines(path: &Path, edit: impl FnOnce(&mut Vec<String>)) {
    let mut lines = lines_of(path);
    edit(&mut lines);
    let mut text = lines.join("\n");
    text.push('\n');
    std::fs::write(path, text).unwrap();
}

#[tokio::test]
async fn records_carry_the_contract_fields() {
    let dir = tempfile::tempdir().unwrap();
    write_records(options(dir.path()), 2).await;

    let lines = lines_of(&first_file(dir.path()));
    assert_eq!(lines.len(), 2);
    let first: Value = serde_json::from_str(&lines[0]).unwrap();
    for field in [
        "timestamp",
        "agent_id",
        "action",
        "input",
        "context_id",
        "seq",
        "id",
        "caller",
        "outcome",
        "duration_ms",
        "prev_hash",
        "hash",
    ] {
        assert!(first.get(field).is_some(), "missing {field} in {first}");
    }
    assert_eq!(first["agent_id"], json!("agent-0"));
    assert_eq!(first["action"], json!("update_context"));
    assert_eq!(first["input"], json!({"text": "step 0", "n": 0}));
    assert_eq!(first["context_id"], json!("ctx-0"));
    assert_eq!(first["caller"], json!("cli"));
    assert_eq!(first["outcome"], json!("ok"));
    assert_eq!(first["seq"], json!(0));
    assert_eq!(first["prev_hash"], json!(GENESIS_HASH));
    assert!(first.get("error").is_none(), "error is omitted when absent");

    let timestamp = first["timestamp"].as_str().unwrap();
    assert!(
        chrono::NaiveDateTime::parse_from_str(timestamp, "%Y-%m-%dT%H:%M:%S%.3fZ").is_ok(),
        "{timestamp}"
    );
    assert_eq!(timestamp.len(), "2026-11-24T12:00:00.000Z".len());
    let id = uuid::Uuid::parse_str(first["id"].as_str().unwrap()).unwrap();
    assert_eq!(id.get_version_num(), 7);

    let second: Value = serde_json::from_str(&lines[1]).unwrap();
    assert_eq!(second["seq"], json!(1));
    assert_eq!(second["prev_hash"], first["hash"]);
}

#[tokio::test]
async fn error_outcomes_keep_their_message() {
    let dir = tempfile::tempdir().unwrap();
    let log = AuditLog::open(options(dir.path())).unwrap();
    log.append(AuditEntry {
        outcome: Outcome::Error,
        error: Some("context version conflict".into()),
        ..entry(0)
    })
    .unwrap();
    log.close().await.unwrap();
    let read = read_dir(dir.path()).unwrap();
    assert_eq!(read.records[0].outcome, Outcome::Error);
    assert_eq!(
        read.records[0].error.as_deref(),
        Some("context version conflict")
    );
    assert!(verify_dir(dir.path()).unwrap().is_ok());
}

#[tokio::test]
async fn chain_verifies() {
    let dir = tempfile::tempdir().unwrap();
    write_records(options(dir.path()), 20).await;
    let report = verify_dir(dir.path()).unwrap();
    assert!(report.is_ok(), "{:?}", report.first_bad);
    assert_eq!(report.records, 20);
    assert_eq!(report.files, 1);
    assert!(report.warnings.is_empty(), "{:?}", report.warnings);
    assert_eq!(report.last.map(|(seq, _)| seq), Some(19));
}

#[tokio::test]
async fn verify_names_an_edited_record() {
    let dir = tempfile::tempdir().unwrap();
    write_records(options(dir.path()), 10).await;
    rewrite_lines(&first_file(dir.path()), |lines| {
        // One byte of one value: "step 5" becomes "step 6".
        lines[5] = lines[5].replacen("step 5", "step 6", 1);
    });
    let report = verify_dir(dir.path()).unwrap();
    let bad = report.first_bad.expect("the edit is caught");
    assert_eq!(bad.seq, Some(5));
    assert_eq!(bad.line, 6);
    assert_eq!(bad.file, first_file(dir.path()));
    assert_eq!(bad.reason, Breach::Edited);
    let message = bad.to_string();
    assert!(
        message.contains("seq 5") && message.contains("edited"),
        "{message}"
    );
}

#[tokio::test]
async fn verify_sees_an_edit_that_leaves_the_json_equal() {
    let dir = tempfile::tempdir().unwrap();
    write_records(options(dir.path()), 5).await;
    rewrite_lines(&first_file(dir.path()), |lines| {
        lines[2] = lines[2].replacen("\"seq\":2", "\"seq\": 2", 1);
    });
    let bad = verify_dir(dir.path()).unwrap().first_bad.expect("caught");
    assert_eq!((bad.seq, bad.reason), (Some(2), Breach::Edited));
}

#[tokio::test]
async fn verify_names_the_record_after_a_deletion() {
    let dir = tempfile::tempdir().unwrap();
    write_records(options(dir.path()), 10).await;
    rewrite_lines(&first_file(dir.path()), |lines| {
        lines.remove(4);
    });
    let bad = verify_dir(dir.path()).unwrap().first_bad.expect("caught");
    assert_eq!(bad.seq, Some(5));
    assert_eq!(bad.line, 5);
    assert_eq!(
        bad.reason,
        Breach::Gap {
            expected: 4,
            found: 5,
            moved_to: None
        }
    );
    assert!(bad.to_string().contains("seq 4 is missing"), "{bad}");
}

#[tokio::test]
async fn verify_names_a_reordered_pair() {
    let dir = tempfile::tempdir().unwrap();
    write_records(options(dir.path()), 10).await;
    rewrite_lines(&first_file(dir.path()), |lines| lines.swap(3, 4));
    let bad = verify_dir(dir.path()).unwrap().first_bad.expect("caught");
    assert_eq!(bad.seq, Some(4));
    assert_eq!(bad.line, 4);
    match &bad.reason {
        Breach::Gap {
            expected: 3,
            found: 4,
            moved_to: Some((file, 5)),
        } => assert_eq!(file, &first_file(dir.path())),
        other => panic!("unexpected {other:?}"),
    }
    assert!(bad.to_string().contains("reordered"), "{bad}");
}

#[tokio::test]
async fn verify_catches_records_cut_off_the_end() {
    let dir = tempfile::tempdir().unwrap();
    write_records(options(dir.path()), 10).await;
    rewrite_lines(&first_file(dir.path()), |lines| lines.truncate(8));
    let bad = verify_dir(dir.path()).unwrap().first_bad.expect("caught");
    assert_eq!(
        bad.reason,
        Breach::Truncated {
            head_seq: 9,
            last_seq: Some(7)
        }
    );
    assert_eq!(bad.line, 9);
}

#[tokio::test]
async fn writer_reopened_after_a_cut_keeps_the_gap_visible() {
    let dir = tempfile::tempdir().unwrap();
    write_records(options(dir.path()), 10).await;
    rewrite_lines(&first_file(dir.path()), |lines| lines.truncate(8));
    write_records(options(dir.path()), 2).await;
    let bad = verify_dir(dir.path()).unwrap().first_bad.expect("caught");
    assert_eq!(bad.seq, Some(10));
    assert!(matches!(
        bad.reason,
        Breach::Gap {
            expected: 8,
            found: 10,
            ..
        }
    ));
}

#[tokio::test]
async fn torn_last_line_is_reported_and_the_chain_goes_on() {
    let dir = tempfile::tempdir().unwrap();
    write_records(options(dir.path()), 5).await;
    // A crash in the middle of writing the sixth record.
    let file = first_file(dir.path());
    let whole = lines_of(&file);
    let mut bytes = std::fs::read(&file).unwrap();
    bytes.extend_from_slice(&whole[4].as_bytes()[..40]);
    std::fs::write(&file, &bytes).unwrap();

    let read = read_dir(dir.path()).unwrap();
    assert_eq!(read.records.len(), 5);
    assert_eq!(read.problems.len(), 1);
    assert_eq!(read.problems[0].kind, ProblemKind::TornTail);
    assert_eq!(read.problems[0].line, 6);
    assert_eq!(read.problems[0].file, file);

    let report = verify_dir(dir.path()).unwrap();
    assert!(report.is_ok(), "{:?}", report.first_bad);
    assert!(matches!(&report.warnings[..], [VerifyWarning::Torn(p)] if p.line == 6));

    write_records(options(dir.path()), 3).await;
    // The torn line is left alone; writing went on in a new file.
    assert_eq!(std::fs::read(&file).unwrap(), bytes);
    assert_eq!(list_segments(dir.path()).unwrap().len(), 2);
    let read = read_dir(dir.path()).unwrap();
    let seqs: Vec<u64> = read.records.iter().map(|r| r.seq).collect();
    assert_eq!(seqs, (0..8).collect::<Vec<_>>());
    assert_eq!(read.records[5].prev_hash, read.records[4].hash);
    let report = verify_dir(dir.path()).unwrap();
    assert!(report.is_ok(), "{:?}", report.first_bad);
    assert_eq!(report.records, 8);
    assert_eq!(report.warnings.len(), 1, "the torn line is still reported");
}

#[tokio::test]
async fn malformed_line_inside_a_file_is_reported_not_fatal() {
    let dir = tempfile::tempdir().unwrap();
    write_records(options(dir.path()), 4).await;
    rewrite_lines(&first_file(dir.path()), |lines| {
        lines[1] = "{\"seq\":1, broken".into();
    });
    let read = read_dir(dir.path()).unwrap();
    assert_eq!(read.records.len(), 3);
    assert_eq!(read.problems.len(), 1);
    assert_eq!(read.problems[0].kind, ProblemKind::Malformed);
    assert_eq!(read.problems[0].line, 2);
    let bad = verify_dir(dir.path()).unwrap().first_bad.expect("caught");
    assert_eq!(bad.line, 2);
    assert!(matches!(bad.reason, Breach::Unreadable { .. }));
}

#[tokio::test]
async fn rotation_spreads_the_chain_over_files_and_still_verifies() {
    let dir = tempfile::tempdir().unwrap();
    let opts = AuditOptions {
        rotate_bytes: 1024,
        ..options(dir.path())
    };
    write_records(opts, 40).await;
    let segments = list_segments(dir.path()).unwrap();
    assert!(segments.len() >= 4, "{} files", segments.len());
    for (i, segment) in segments.iter().enumerate() {
        assert_eq!(segment.number, i as u64 + 1);
    }
    // The first record of each file links to the last of the one before.
    let mut previous_last: Option<Value> = None;
    for segment in &segments {
        let lines = lines_of(&segment.path);
        let first: Value = serde_json::from_str(&lines[0]).unwrap();
        if let Some(last) = &previous_last {
            assert_eq!(first["prev_hash"], last["hash"]);
            assert_eq!(first["seq"].as_u64(), last["seq"].as_u64().map(|s| s + 1));
        }
        previous_last = Some(serde_json::from_str(lines.last().unwrap()).unwrap());
    }
    let report = verify_dir(dir.path()).unwrap();
    assert!(report.is_ok(), "{:?}", report.first_bad);
    assert_eq!(report.records, 40);
    assert_eq!(report.files, segments.len());
}

#[tokio::test]
async fn removing_a_whole_file_is_caught() {
    let dir = tempfile::tempdir().unwrap();
    let opts = AuditOptions {
        rotate_bytes: 1024,
        ..options(dir.path())
    };
    write_records(opts, 40).await;
    let segments = list_segments(dir.path()).unwrap();
    let first_of_third: Value = serde_json::from_str(&lines_of(&segments[2].path)[0]).unwrap();
    std::fs::remove_file(&segments[1].path).unwrap();
    let bad = verify_dir(dir.path()).unwrap().first_bad.expect("caught");
    assert_eq!(bad.file, segments[2].path);
    assert_eq!(bad.line, 1);
    assert_eq!(bad.seq, first_of_third["seq"].as_u64());
    assert!(matches!(bad.reason, Breach::Gap { .. }));
}

#[tokio::test]
async fn redaction_masks_secrets_before_writing() {
    let dir = tempfile::tempdir().unwrap();
    let log = AuditLog::open(options(dir.path())).unwrap();
    log.append(AuditEntry {
        input: json!({
            "headers": {"Authorization": "Bearer eyJhbGciOiJIUzI1NiJ9.secretpart"},
            "command": "deploy --api_key=AKIA1234SECRET now",
            "list": ["plain", "password: hunter2"],
            "api_key": "sk-live-0123456789abcdef",
        }),
        error: Some("upstream said: token=tok_99999 rejected".into()),
        outcome: Outcome::Error,
        ..entry(0)
    })
    .unwrap();
    log.close().await.unwrap();

    let text = std::fs::read_to_string(first_file(dir.path())).unwrap();
    for secret in [
        "eyJhbGciOiJIUzI1NiJ9",
        "AKIA1234SECRET",
        "hunter2",
        "sk-live-0123456789abcdef",
        "tok_99999",
    ] {
        assert!(!text.contains(secret), "{secret} leaked: {text}");
    }
    let record = &read_dir(dir.path()).unwrap().records[0];
    assert_eq!(record.input["headers"]["Authorization"], json!(REDACTED));
    assert_eq!(record.input["command"], json!("deploy --[REDACTED] now"));
    assert_eq!(record.input["list"][0], json!("plain"));
    assert_eq!(record.input["api_key"], json!(REDACTED));
    assert_eq!(
        record.error.as_deref(),
        Some("upstream said: [REDACTED] rejected")
    );
    // Redaction happens before hashing: the chain holds the masked record.
    assert!(verify_dir(dir.path()).unwrap().is_ok());
}

#[tokio::test]
async fn bad_redaction_pattern_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let opts = AuditOptions {
        redact: vec!["(?i)bearer\\s+\\S+".into(), "[unclosed".into()],
        ..options(dir.path())
    };
    match AuditLog::open(opts) {
        Err(AuditError::BadPattern { pattern, .. }) => assert_eq!(pattern, "[unclosed"),
        other => panic!("unexpected {other:?}"),
    }
}

#[tokio::test]
async fn flush_makes_records_visible_on_disk() {
    let dir = tempfile::tempdir().unwrap();
    let log = AuditLog::open(lazy_options(dir.path())).unwrap();
    for i in 0..10 {
        log.append(entry(i)).unwrap();
    }
    log.flush().await.unwrap();
    assert_eq!(read_dir(dir.path()).unwrap().records.len(), 10);
    assert_eq!(log.written(), 10);
    log.append(entry(10)).unwrap();
    log.flush().await.unwrap();
    assert_eq!(read_dir(dir.path()).unwrap().records.len(), 11);
    assert!(verify_dir(dir.path()).unwrap().is_ok());
    log.close().await.unwrap();
}

#[tokio::test]
async fn dropping_the_last_handle_flushes() {
    let dir = tempfile::tempdir().unwrap();
    let log = AuditLog::open(lazy_options(dir.path())).unwrap();
    let other = log.clone();
    for i in 0..5 {
        log.append(entry(i)).unwrap();
    }
    drop(log);
    other.append(entry(5)).unwrap();
    drop(other);
    let read = read_dir(dir.path()).unwrap();
    assert_eq!(read.records.len(), 6);
    // The dir is free again.
    write_records(options(dir.path()), 1).await;
    assert!(verify_dir(dir.path()).unwrap().is_ok());
}

#[tokio::test]
async fn close_stops_later_appends() {
    let dir = tempfile::tempdir().unwrap();
    let log = AuditLog::open(lazy_options(dir.path())).unwrap();
    log.append(entry(0)).unwrap();
    log.close().await.unwrap();
    assert_eq!(read_dir(dir.path()).unwrap().records.len(), 1);
    assert!(matches!(log.append(entry(1)), Err(AuditError::Closed)));
    log.close().await.unwrap();
    log.flush().await.unwrap();
}

#[tokio::test]
async fn a_second_writer_on_the_same_dir_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let log = AuditLog::open(options(dir.path())).unwrap();
    assert!(matches!(
        AuditLog::open(options(dir.path())),
        Err(AuditError::Locked { .. })
    ));
    log.close().await.unwrap();
    AuditLog::open(options(dir.path())).unwrap();
}

#[tokio::test]
async fn the_chain_survives_reopening() {
    let dir = tempfile::tempdir().unwrap();
    write_records(options(dir.path()), 3).await;
    write_records(options(dir.path()), 3).await;
    let read = read_dir(dir.path()).unwrap();
    let seqs: Vec<u64> = read.records.iter().map(|r| r.seq).collect();
    assert_eq!(seqs, vec![0, 1, 2, 3, 4, 5]);
    assert_eq!(read.records[3].prev_hash, read.records[2].hash);
    assert_eq!(read.files, 1, "a cleanly closed file is appended to");
    assert!(verify_dir(dir.path()).unwrap().is_ok());
}

#[tokio::test]
async fn subscribers_see_each_record_as_it_is_appended() {
    let dir = tempfile::tempdir().unwrap();
    let log = AuditLog::open(lazy_options(dir.path())).unwrap();
    let mut live = log.subscribe();
    for i in 0..3 {
        log.append(entry(i)).unwrap();
    }
    // No flush yet: a live pane does not wait for the disk.
    let seen: Vec<_> = (0..3).map(|_| live.try_recv().unwrap()).collect();
    let seqs: Vec<u64> = seen.iter().map(|r| r.seq).collect();
    assert_eq!(seqs, vec![0, 1, 2]);
    log.flush().await.unwrap();
    let on_disk = read_dir(dir.path()).unwrap().records;
    let seen: Vec<_> = seen.iter().map(|r| (**r).clone()).collect();
    assert_eq!(seen, on_disk, "subscribers see exactly what is written");
    log.close().await.unwrap();
}

#[tokio::test]
async fn follower_reads_on_across_rotation() {
    let dir = tempfile::tempdir().unwrap();
    let log = AuditLog::open(AuditOptions {
        rotate_bytes: 1024,
        ..lazy_options(dir.path())
    })
    .unwrap();
    let mut follower = Follower::from_start(dir.path());
    assert!(follower.poll().unwrap().is_empty());
    let mut seen = Vec::new();
    for round in 0..3 {
        for i in 0..8 {
            log.append(entry(round * 8 + i)).unwrap();
        }
        log.flush().await.unwrap();
        for item in follower.poll().unwrap() {
            match item {
                LineRead::Record { record, .. } => seen.push(record.seq),
                LineRead::Problem(p) => panic!("unexpected {p}"),
            }
        }
    }
    assert_eq!(seen, (0..24).collect::<Vec<_>>());
    assert!(list_segments(dir.path()).unwrap().len() > 1);
    log.close().await.unwrap();
}

#[tokio::test]
async fn floats_in_input_do_not_look_like_edits() {
    let dir = tempfile::tempdir().unwrap();
    let log = AuditLog::open(options(dir.path())).unwrap();
    // Values whose shortest decimal form serde_json's default parser reads back a bit off.
    let mut x: u64 = 0x9e37_79b9_7f4a_7c15;
    for i in 0..200 {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        let f = (x >> 11) as f64 / (1u64 << 53) as f64 * 5000.0;
        log.append(AuditEntry {
            input: json!({"score": f}),
            duration_ms: f,
            cause: Default::default(),
            ..entry(i)
        })
        .unwrap();
    }
    log.close().await.unwrap();
    let report = verify_dir(dir.path()).unwrap();
    assert!(report.is_ok(), "{:?}", report.first_bad);
    assert_eq!(report.records, 200);
}

#[tokio::test]
async fn records_reach_disk_on_the_timer_alone() {
    let dir = tempfile::tempdir().unwrap();
    let log = AuditLog::open(AuditOptions {
        flush_interval: Duration::from_millis(10),
        ..options(dir.path())
    })
    .unwrap();
    log.append(entry(0)).unwrap();
    // Liveness, not timing: wait as long as it takes (bounded only so a broken timer
    // fails the test instead of hanging it).
    let mut on_disk = 0;
    for _ in 0..1000 {
        on_disk = read_dir(dir.path()).unwrap().records.len();
        if on_disk == 1 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert_eq!(
        on_disk, 1,
        "no flush was asked for, yet the record is on disk"
    );
    log.close().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_appends_form_one_chain() {
    let dir = tempfile::tempdir().unwrap();
    let log = AuditLog::open(AuditOptions {
        rotate_bytes: 64 * 1024,
        ..options(dir.path())
    })
    .unwrap();
    let tasks: Vec<_> = (0..8)
        .map(|t| {
            let log = log.clone();
            tokio::spawn(async move {
                for i in 0..500 {
                    log.append(entry(t * 1000 + i)).unwrap();
                    if i % 100 == 0 {
                        tokio::task::yield_now().await;
                    }
                }
            })
        })
        .collect();
    for task in tasks {
        task.await.unwrap();
    }
    log.close().await.unwrap();
    let report = verify_dir(dir.path()).unwrap();
    assert!(report.is_ok(), "{:?}", report.first_bad);
    assert_eq!(report.records, 4000);
    let read = read_dir(dir.path()).unwrap();
    let mut ids: Vec<&str> = read.records.iter().map(|r| r.id.as_str()).collect();
    ids.sort_unstable();
    ids.dedup();
    assert_eq!(ids.len(), 4000, "ids are unique");
}

#[tokio::test]
async fn a_complete_last_line_missing_its_newline_is_kept() {
    let dir = tempfile::tempdir().unwrap();
    write_records(options(dir.path()), 3).await;
    let file = first_file(dir.path());
    let mut bytes = std::fs::read(&file).unwrap();
    assert_eq!(bytes.pop(), Some(b'\n'));
    std::fs::write(&file, &bytes).unwrap();

    let read = read_dir(dir.path()).unwrap();
    assert_eq!(read.records.len(), 3);
    assert!(read.problems.is_empty(), "{:?}", read.problems);

    write_records(options(dir.path()), 2).await;
    // Nothing is glued onto the unterminated line: writing went on in a new file.
    assert_eq!(std::fs::read(&file).unwrap(), bytes);
    let read = read_dir(dir.path()).unwrap();
    let seqs: Vec<u64> = read.records.iter().map(|r| r.seq).collect();
    assert_eq!(seqs, vec![0, 1, 2, 3, 4]);
    assert!(verify_dir(dir.path()).unwrap().is_ok());
}

#[tokio::test]
async fn verify_of_a_fresh_log_is_ok() {
    let dir = tempfile::tempdir().unwrap();
    let report = verify_dir(&dir.path().join("never-created")).unwrap();
    assert!(report.is_ok());
    assert_eq!((report.records, report.files), (0, 0));
    let report = verify_dir(dir.path()).unwrap();
    assert!(report.is_ok());
}

#[tokio::test]
async fn records_without_head_fail() {
    let dir = tempfile::tempdir().unwrap();
    write_records(options(dir.path()), 10).await;
    // Cut the tail and remove HEAD, which would have told.
    rewrite_lines(&first_file(dir.path()), |lines| lines.truncate(8));
    std::fs::remove_file(dir.path().join(aios::audit::HEAD_FILE)).unwrap();
    let report = verify_dir(dir.path()).unwrap();
    let bad = report.first_bad.expect("a missing HEAD is a failure");
    assert_eq!(bad.reason, Breach::NoHead { last_seq: 7 });
    assert!(bad.to_string().contains("HEAD file is missing"), "{bad}");
}

#[tokio::test]
async fn records_with_a_garbage_head_fail() {
    let dir = tempfile::tempdir().unwrap();
    write_records(options(dir.path()), 10).await;
    rewrite_lines(&first_file(dir.path()), |lines| lines.truncate(8));
    for garbage in [&b"not json"[..], b"", b"{\"seq\":"] {
        std::fs::write(dir.path().join(aios::audit::HEAD_FILE), garbage).unwrap();
        let bad = verify_dir(dir.path())
            .unwrap()
            .first_bad
            .expect("an unreadable HEAD is a failure");
        assert!(
            matches!(bad.reason, Breach::UnreadableHead { .. }),
            "{garbage:?}: {bad}"
        );
        assert!(bad.to_string().contains("HEAD is not readable"), "{bad}");
    }
}

#[tokio::test]
async fn head_without_records_fails() {
    let dir = tempfile::tempdir().unwrap();
    write_records(options(dir.path()), 3).await;
    for segment in list_segments(dir.path()).unwrap() {
        std::fs::remove_file(segment.path).unwrap();
    }
    let report = verify_dir(dir.path()).unwrap();
    assert_eq!(report.records, 0);
    let bad = report.first_bad.expect("HEAD says there were records");
    assert_eq!(
        bad.reason,
        Breach::Truncated {
            head_seq: 2,
            last_seq: None
        }
    );
    // Garbage in HEAD with no records at all is no better.
    std::fs::write(dir.path().join(aios::audit::HEAD_FILE), b"garbage").unwrap();
    let bad = verify_dir(dir.path()).unwrap().first_bad.expect("caught");
    assert!(matches!(bad.reason, Breach::UnreadableHead { .. }), "{bad}");
}
