//! Signed audit checkpoints: a forger who edits a record and recomputes every hash (and
//! `HEAD`) gets a chain that `aios audit verify` accepts, but `verify --key` catches it;
//! so too a log stripped of its checkpoints and a key that is not the signer's. An orderly
//! shutdown leaves no record unsigned.

mod support;

use std::os::unix::fs::PermissionsExt;
use std::path::Path;

use aios::audit::signing::{
    CHECKPOINT_ACTION, check_checkpoints, keygen, public_path, read_public,
};
use aios::audit::{
    AuditEntry, AuditLog, AuditOptions, AuditRecord, GENESIS_HASH, Head, Outcome, read_dir,
    segment_name,
};

fn entry(i: usize) -> AuditEntry {
    AuditEntry {
        agent_id: Some("ops-agent".into()),
        action: "update_context".into(),
        input: serde_json::json!({"i": i}),
        context_id: None,
        caller: "test".into(),
        outcome: Outcome::Ok,
        error: None,
        duration_ms: 0.5,
        cause: Default::default(),
    }
}

/// 35 records signed every 10 into `audit_dir`, closed; returns the public key file.
async fn signed_log(root: &Path, audit_dir: &Path) -> std::path::PathBuf {
    let key = root.join("audit.key");
    keygen(&key).expect("keygen");
    let log = AuditLog::open(AuditOptions {
        signing_key: Some(key.clone().into()),
        sign_every: 10,
        ..AuditOptions::new(audit_dir)
    })
    .expect("open");
    for i in 0..35 {
        log.append(entry(i)).expect("append");
    }
    log.close().await.expect("close");
    public_path(&key)
}

/// Rewrite the one audit file as a forger would: change the record at `seq`, drop the
/// checkpoints when asked, and recompute every hash and `HEAD`, so the chain verifies.
fn forge(dir: &Path, seq: u64, drop_checkpoints: bool) {
    let file = dir.join(segment_name(1));
    let text = std::fs::read_to_string(&file).expect("read");
    let mut out = Vec::new();
    let mut prev = GENESIS_HASH.to_string();
    let mut next_seq = 0;
    for line in text.lines() {
        let mut record: AuditRecord = serde_json::from_str(line).expect("record");
        if drop_checkpoints && record.action == CHECKPOINT_ACTION {
            continue;
        }
        if record.seq == seq {
            record.input = serde_json::json!({"i": "nothing to see here"});
        }
        record.seq = next_seq;
        next_seq += 1;
        record.prev_hash = prev.clone();
        out.extend(record.seal());
        prev = record.hash.clone();
    }
    std::fs::write(&file, out).expect("write");
    let head = Head {
        seq: next_seq - 1,
        hash: prev,
        file: segment_name(1),
    };
    std::fs::write(
        dir.join(aios::audit::HEAD_FILE),
        serde_json::to_vec(&head).expect("head"),
    )
    .expect("write head");
}

fn verify(cwd: &Path, data: &Path, key: Option<&Path>) -> (bool, String) {
    let mut cmd = support::aios(cwd, data);
    cmd.args(["audit", "verify"]);
    if let Some(k) = key {
        cmd.arg("--key").arg(k);
    }
    let out = cmd.output().expect("run aios");
    (
        out.status.success(),
        format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        ),
    )
}

#[test]
fn keygen_makes_a_private_key_and_a_public_one_and_never_overwrites() {
    let dir = tempfile::tempdir().expect("tempdir");
    let key = dir.path().join("k");
    let public = keygen(&key).expect("keygen");
    let mode = std::fs::metadata(&key).expect("key").permissions().mode() & 0o777;
    assert_eq!(mode, 0o600);
    assert_eq!(
        std::fs::read_to_string(public_path(&key))
            .expect("pub")
            .trim(),
        public
    );
    read_public(&public).expect("hex form");
    read_public(&public_path(&key).display().to_string()).expect("file form");
    let err = keygen(&key).expect_err("exists");
    assert!(err.to_string().contains("not overwritten"), "{err}");
}

#[tokio::test]
async fn checkpoints_cover_every_record_after_close() {
    let root = tempfile::tempdir().expect("tempdir");
    let audit = root.path().join("audit");
    let public = signed_log(root.path(), &audit).await;
    let records = read_dir(&audit).expect("read").records;
    let checkpoints: Vec<u64> = records
        .iter()
        .filter(|r| r.action == CHECKPOINT_ACTION)
        .map(|r| r.seq)
        .collect();
    assert_eq!(
        checkpoints,
        [10, 21, 32, 38],
        "every 10 records and at close"
    );
    let key = read_public(&public.display().to_string()).expect("key");
    let report = check_checkpoints(&records, &key);
    assert_eq!(report.failure, None);
    assert_eq!(
        (report.checkpoints, report.covered_to, report.unsigned_tail),
        (4, Some(37), 0)
    );
}

#[tokio::test]
async fn a_rewrite_with_recomputed_hashes_passes_the_chain_but_not_the_key() {
    let root = tempfile::tempdir().expect("tempdir");
    let data = root.path().join("data");
    let audit = data.join("audit");
    let public = signed_log(root.path(), &audit).await;
    let (ok, out) = verify(root.path(), &data, Some(&public));
    assert!(ok, "{out}");
    assert!(
        out.contains("audit signatures OK: 4 checkpoints cover every record to seq 37"),
        "{out}"
    );

    forge(&audit, 3, false);
    let (ok, out) = verify(root.path(), &data, None);
    assert!(ok, "the forged chain verifies on its own: {out}");
    let (ok, out) = verify(root.path(), &data, Some(&public));
    assert!(!ok, "{out}");
    assert!(
        out.contains("checkpoint at seq 10") && out.contains("record 9 was signed with hash"),
        "{out}"
    );

    // Another key is not the signer's.
    let other = root.path().join("other.key");
    keygen(&other).expect("keygen");
    let (ok, out) = verify(root.path(), &data, Some(&public_path(&other)));
    assert!(!ok && out.contains("signed by another key"), "{out}");
}

#[tokio::test]
async fn a_log_stripped_of_its_checkpoints_fails() {
    let root = tempfile::tempdir().expect("tempdir");
    let data = root.path().join("data");
    let audit = data.join("audit");
    let public = signed_log(root.path(), &audit).await;
    forge(&audit, 3, true);
    let (ok, out) = verify(root.path(), &data, None);
    assert!(ok, "{out}");
    let (ok, out) = verify(root.path(), &data, Some(&public));
    assert!(!ok && out.contains("no signed checkpoint"), "{out}");
}

#[test]
fn a_runtime_with_a_signing_key_signs_its_log_and_a_loose_key_is_refused() {
    let root = tempfile::tempdir().expect("tempdir");
    let data = root.path().join("data");
    let key = root.path().join("audit.key");
    keygen(&key).expect("keygen");
    let out = support::aios(root.path(), &data)
        .env("AIOS_AUDIT_SIGNING_KEY", &key)
        .args(["dispatch", "ops-agent", "deploy staging"])
        .output()
        .expect("dispatch");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let (ok, out) = verify(root.path(), &data, Some(&public_path(&key)));
    assert!(ok, "{out}");
    assert!(
        !out.contains("not covered"),
        "an orderly shutdown signs the tail: {out}"
    );

    std::fs::set_permissions(&key, std::fs::Permissions::from_mode(0o644)).expect("chmod");
    let out = support::aios(root.path(), &data)
        .env("AIOS_AUDIT_SIGNING_KEY", &key)
        .args(["dispatch", "ops-agent", "deploy staging"])
        .output()
        .expect("dispatch");
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    assert!(
        err.contains("audit.signing_key") && err.contains("chmod 600"),
        "{err}"
    );
}
