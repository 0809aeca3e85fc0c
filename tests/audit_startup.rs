//! Starting on an audit log whose chain does not verify: `aios serve` warns on stderr and in
//! its log file, and `aios doctor` names the break, before anything new is written.

mod support;

use std::io::Read;
use std::path::Path;
use std::process::Command;

use aios::audit::{AuditEntry, AuditLog, AuditOptions, Outcome, segment_name};
use support::aios;
use support::serve::start_serve;

/// Five records in `data/audit`, then the third one edited.
async fn tampered_log(data: &Path) {
    let dir = data.join("audit");
    let log = AuditLog::open(AuditOptions::new(&dir)).unwrap();
    for i in 0..5 {
        log.append(AuditEntry {
            agent_id: Some("ops-agent".into()),
            action: format!("step-{i}"),
            input: serde_json::Value::Null,
            context_id: None,
            caller: "cli".into(),
            outcome: Outcome::Ok,
            error: None,
            duration_ms: 0.5,
            cause: Default::default(),
        })
        .unwrap();
    }
    log.close().await.unwrap();
    let file = dir.join(segment_name(1));
    let text = std::fs::read_to_string(&file).unwrap();
    std::fs::write(&file, text.replacen("step-2", "step-9", 1)).unwrap();
}

#[tokio::test]
async fn doctor_names_a_broken_chain_and_an_intact_one_is_ok() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    let doctor = || {
        let out = aios(tmp.path(), &data).arg("doctor").output().unwrap();
        String::from_utf8_lossy(&out.stdout).to_string()
    };
    let said = doctor();
    assert!(said.contains("chain verified: 0 record(s)"), "{said}");

    tampered_log(&data).await;
    let said = doctor();
    let line = said
        .lines()
        .find(|l| l.contains("chain does not verify"))
        .unwrap_or_else(|| panic!("no audit chain warning: {said}"));
    assert!(line.starts_with("audit") && line.contains("warn"), "{line}");
    assert!(line.contains("seq 2") && line.contains("edited"), "{line}");
}

#[tokio::test]
async fn serve_warns_when_it_starts_on_a_broken_chain() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    tampered_log(&data).await;

    let mut serve = start_serve(&mut aios(tmp.path(), &data), &data);
    let pid = serve.0.id().to_string();
    let _ = Command::new("kill").args(["-TERM", &pid]).status();
    let _ = serve.0.wait();
    let mut stderr = String::new();
    serve
        .0
        .stderr
        .take()
        .unwrap()
        .read_to_string(&mut stderr)
        .unwrap();
    assert!(
        stderr.contains("aios serve: warning: the audit chain does not verify")
            && stderr.contains("seq 2"),
        "{stderr}"
    );

    let mut logged = String::new();
    for entry in std::fs::read_dir(data.join("logs")).unwrap() {
        logged.push_str(&std::fs::read_to_string(entry.unwrap().path()).unwrap_or_default());
    }
    assert!(
        logged.contains("starting on an audit log that does not verify")
            && logged.contains("seq 2"),
        "{logged}"
    );
}
