//! The recorder end to end on a temp dir: the chain across files and restarts, rotation
//! and pruning, gaps, redaction, and tampering found.

use std::time::Duration;

use serde_json::json;

use super::*;

fn opts(dir: &Path) -> RecorderOptions {
    RecorderOptions {
        dir: dir.to_path_buf(),
        segment_bytes: 64 * 1024 * 1024,
        segment_age: Duration::from_secs(3600),
        keep_bytes: 0,
        redact: Vec::new(),
        secrets: Default::default(),
    }
}

async fn write(o: RecorderOptions, n: usize) {
    let rec = Recorder::open(o).unwrap();
    for i in 0..n {
        rec.note(
            Kind::ToolCall,
            "ops-agent",
            Some("i-1"),
            json!({"n": i, "pad": "x".repeat(200)}),
        );
    }
    rec.close().await;
}

fn kinds(entries: &[Entry]) -> Vec<Kind> {
    entries.iter().map(|e| e.kind).collect()
}

#[tokio::test]
async fn the_chain_runs_across_restarts_and_verifies() {
    let dir = tempfile::tempdir().unwrap();
    write(opts(dir.path()), 3).await;
    write(opts(dir.path()), 2).await;
    let rec = read(dir.path(), Range::default()).unwrap();
    assert_eq!(rec.files.len(), 2, "a new file per process");
    let seqs: Vec<u64> = rec.entries.iter().map(|e| e.seq).collect();
    assert_eq!(
        seqs,
        (0..7).collect::<Vec<_>>(),
        "3 + stop, 2 + stop, one chain"
    );
    assert_eq!(
        kinds(&rec.entries),
        [
            Kind::ToolCall,
            Kind::ToolCall,
            Kind::ToolCall,
            Kind::Stop,
            Kind::ToolCall,
            Kind::ToolCall,
            Kind::Stop
        ]
    );
    let checked = verify(dir.path()).unwrap();
    assert!(checked.first_bad.is_none(), "{:?}", checked.first_bad);
    assert_eq!(checked.entries, 7);
}

#[tokio::test]
async fn files_rotate_by_size_and_the_oldest_are_pruned() {
    let dir = tempfile::tempdir().unwrap();
    let mut o = opts(dir.path());
    o.segment_bytes = 4 * 1024;
    o.keep_bytes = 12 * 1024;
    let rec = Recorder::open(o).unwrap();
    for i in 0..200 {
        rec.note(
            Kind::ToolCall,
            "ops-agent",
            None,
            json!({"n": i, "pad": "x".repeat(200)}),
        );
        // Batches small enough to rotate often.
        if i % 10 == 9 {
            rec.flush().await;
        }
    }
    rec.close().await;
    let files = list_segments(dir.path()).unwrap();
    assert!(files.len() >= 2, "rotated: {files:?}");
    assert!(files[0].0 > 1, "the oldest were pruned: {files:?}");
    let total: u64 = files
        .iter()
        .map(|(_, p)| std::fs::metadata(p).unwrap().len())
        .sum();
    assert!(
        total <= 12 * 1024 + 8 * 1024,
        "kept about keep_bytes, got {total}"
    );
    let checked = verify(dir.path()).unwrap();
    assert!(checked.first_bad.is_none(), "{:?}", checked.first_bad);
    assert!(
        checked.first_seq.unwrap() > 0,
        "anchored on the first kept entry"
    );
}

#[tokio::test]
async fn lost_entries_are_said_by_a_gap_entry() {
    let dir = tempfile::tempdir().unwrap();
    let rec = Recorder::open(opts(dir.path())).unwrap();
    rec.lost(5);
    rec.note(Kind::Recall, "ops-agent", None, json!({}));
    rec.close().await;
    let entries = read(dir.path(), Range::default()).unwrap().entries;
    assert_eq!(kinds(&entries), [Kind::Gap, Kind::Recall, Kind::Stop]);
    assert_eq!(entries[0].body["lost"], 5);
}

#[tokio::test]
async fn secrets_are_masked_before_they_are_written() {
    let dir = tempfile::tempdir().unwrap();
    let rec = Recorder::open(opts(dir.path())).unwrap();
    rec.note(
        Kind::ToolCall,
        "ops-agent",
        None,
        json!({"arguments": {"header": "Authorization: Bearer s3cr3t-t0ken-value"}}),
    );
    rec.close().await;
    let text = std::fs::read_to_string(&list_segments(dir.path()).unwrap()[0].1).unwrap();
    assert!(!text.contains("s3cr3t-t0ken-value"), "{text}");
    assert!(text.contains(crate::audit::REDACTED));
    assert!(verify(dir.path()).unwrap().first_bad.is_none());
}

#[tokio::test]
async fn an_edited_or_deleted_entry_breaks_the_chain() {
    let dir = tempfile::tempdir().unwrap();
    write(opts(dir.path()), 5).await;
    let file = list_segments(dir.path()).unwrap()[0].1.clone();
    let text = std::fs::read_to_string(&file).unwrap();
    let lines: Vec<&str> = text.lines().collect();

    let edited = text.replacen("\"n\":2", "\"n\":7", 1);
    std::fs::write(&file, &edited).unwrap();
    let bad = verify(dir.path())
        .unwrap()
        .first_bad
        .expect("an edit is found");
    assert_eq!((bad.line, bad.seq), (3, Some(2)));
    assert!(bad.why.contains("edited"), "{bad}");

    let mut deleted = lines.clone();
    deleted.remove(1);
    std::fs::write(&file, deleted.join("\n") + "\n").unwrap();
    let bad = verify(dir.path())
        .unwrap()
        .first_bad
        .expect("a deletion is found");
    assert_eq!(bad.seq, Some(2));
    assert!(bad.why.contains("deleted"), "{bad}");
}

#[tokio::test]
async fn a_torn_last_line_is_passed_over_and_the_chain_goes_on() {
    let dir = tempfile::tempdir().unwrap();
    write(opts(dir.path()), 2).await;
    let file = list_segments(dir.path()).unwrap()[0].1.clone();
    let mut text = std::fs::read_to_string(&file).unwrap();
    text.push_str("{\"seq\":3,\"t\":\"2026-");
    std::fs::write(&file, &text).unwrap();
    assert!(
        verify(dir.path()).unwrap().first_bad.is_none(),
        "a crash, not a break"
    );
    write(opts(dir.path()), 1).await;
    let entries = read(dir.path(), Range::default()).unwrap().entries;
    assert_eq!(
        entries.last().unwrap().seq,
        4,
        "resumed after the last whole entry"
    );
    let checked = verify(dir.path()).unwrap();
    assert!(checked.first_bad.is_none(), "{:?}", checked.first_bad);
    assert_eq!(checked.torn, vec![file], "the crash is said");
}

/// A full disk: the torn write is cut back, the chain rewound, the lost entries counted;
/// when space returns the recording goes on with a gap entry and the chain holds.
#[tokio::test]
async fn a_full_disk_loses_entries_out_loud_and_never_breaks_the_chain() {
    use std::sync::Arc;
    use std::sync::atomic::{AtomicBool, Ordering};
    let dir = tempfile::tempdir().unwrap();
    let full = Arc::new(AtomicBool::new(false));
    let disk = crate::audit::writer_tests::FillingDisk(full.clone());
    let rec = Recorder::open_on(opts(dir.path()), Box::new(disk)).unwrap();
    rec.note(Kind::Recall, "ops-agent", None, json!({"n": "before"}));
    rec.flush().await;
    full.store(true, Ordering::SeqCst);
    for i in 0..3 {
        rec.note(Kind::Recall, "ops-agent", None, json!({"n": i}));
    }
    rec.flush().await;
    full.store(false, Ordering::SeqCst);
    rec.note(Kind::Recall, "ops-agent", None, json!({"n": "after"}));
    rec.close().await;
    let entries = read(dir.path(), Range::default()).unwrap();
    assert!(entries.unreadable.is_empty(), "{:?}", entries.unreadable);
    assert_eq!(
        kinds(&entries.entries),
        [Kind::Recall, Kind::Gap, Kind::Recall, Kind::Stop]
    );
    assert_eq!(entries.entries[1].body["lost"], 3);
    assert_eq!(entries.entries[2].body["n"], "after");
    let checked = verify(dir.path()).unwrap();
    assert!(checked.first_bad.is_none(), "{:?}", checked.first_bad);
    assert!(checked.torn.is_empty());
}

#[tokio::test]
async fn a_recorder_that_is_off_writes_nothing() {
    let rec = Recorder::off();
    rec.note(Kind::Recall, "ops-agent", None, json!({}));
    rec.flush().await;
    rec.close().await;
    assert!(!rec.is_on());
    assert_eq!(rec.written(), 0);
}
