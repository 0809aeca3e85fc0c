//! Secrets are masked before they are written anywhere: the audit log, the stores (redb
//! here; the hub masks before any store), the memory, the log file; the built-in patterns
//! apply even when the configured list is empty.

mod support;

use aios::context::{Caller, Cause};

/// One secret of each kind the built-in patterns know, as text an agent might be handed.
const SECRETS: &[&str] = &[
    "AKIAIOSFODNN7EXAMPLE",
    "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY",
    "hunter2-json",
    "hunter3-passwd",
    "ghp_0123456789abcdefghijABCDEFGHIJ012345",
    "pgpw-4242",
    "redispw-4343",
];

fn secret_text() -> String {
    format!(
        "keys {} then aws_secret_access_key={} and {{\"password\": \"{}\"}} passwd: {} \
         token {} db postgres://admin:{}@db:5432/app cache redis://:{}@cache:6379",
        SECRETS[0], SECRETS[1], SECRETS[2], SECRETS[3], SECRETS[4], SECRETS[5], SECRETS[6]
    )
}

fn assert_masked(what: &str, text: &str) {
    for secret in SECRETS {
        assert!(!text.contains(secret), "{what} holds {secret}: {text}");
    }
}

/// All of these reached the audit log and the stores in clear; and an empty
/// `AIOS_AUDIT_REDACT` (an empty list) turned the rest off too.
#[tokio::test]
async fn the_hub_masks_before_audit_store_and_memory() {
    let dir = tempfile::tempdir().unwrap();
    let mut config = support::config_in(dir.path());
    config.audit.redact = Vec::new();
    let rt = aios::agent::Runtime::start(support::options(config))
        .await
        .unwrap();
    let hub = rt.hub();
    let me = Caller::operator("test");
    let text = secret_text();
    let cause = Cause {
        caller: "operator:test".into(),
        intent_id: None,
        tool: None,
    };
    let v = hub
        .update_context(&me, "support-agent", text.clone(), text.clone(), cause)
        .await
        .unwrap();
    assert_masked("context", &v.text);
    assert_masked("context summary", &v.summary);
    assert!(
        v.text.contains("postgres://admin:[REDACTED]@db:5432/app"),
        "{}",
        v.text
    );
    let item = hub
        .remember(&me, "support-agent", "fact", &text, vec![text.clone()])
        .await
        .unwrap();
    assert_masked("memory", &item.text);
    assert_masked("memory tags", &item.tags.join(" "));
    let found = hub
        .recall(&me, "support-agent", "keys", 5, None)
        .await
        .unwrap();
    assert_masked("recalled memory", &format!("{found:?}"));
    hub.append_trace(&me, "support-agent", "note", &text, None)
        .await
        .unwrap();
    hub.append_chat(&me, "support-agent", "user", &text, None)
        .await
        .unwrap();
    hub.set_goals(&me, "support-agent", vec![text.clone()])
        .await
        .unwrap();
    let traces = hub.traces(&me, "support-agent", 10).await.unwrap();
    assert_masked("traces", &format!("{traces:?}"));
    let goals = hub.get_goals(&me, "support-agent").await.unwrap();
    assert_masked("goals", &format!("{goals:?}"));
    let chat = hub.chat_history(&me, "support-agent", 10).await.unwrap();
    assert_masked("chat", &format!("{chat:?}"));
    rt.shutdown().await;

    // On disk: the redb store, the memory files and the audit log hold no secret.
    let mut todo = vec![dir.path().to_path_buf()];
    let mut files = 0;
    while let Some(path) = todo.pop() {
        if path.is_dir() {
            todo.extend(std::fs::read_dir(&path).unwrap().map(|e| e.unwrap().path()));
        } else {
            let bytes = std::fs::read(&path).unwrap();
            assert_masked(
                &path.display().to_string(),
                &String::from_utf8_lossy(&bytes),
            );
            files += 1;
        }
    }
    assert!(files >= 3, "state, memory and audit files were written");
    assert!(dir.path().join("state.redb").exists());
}

/// ESC and newlines from outside input (a bus message's `agent_id`) reached the log file,
/// and a secret in a logged URL was written in clear.
#[test]
fn the_log_file_gets_one_safe_line_per_event() {
    let dir = tempfile::tempdir().unwrap();
    let guard =
        aios::telemetry::init(dir.path(), &[], &Default::default()).expect("logging starts");
    let agent_id = "evil\u{1b}]0;pwned\u{7}\u{1b}[2J\nFORGED INFO line\r";
    // `%` (Display) and the message itself carry the text raw; `?` fields are escaped by
    // Debug already.
    tracing::warn!(
        agent_id = %agent_id,
        url = %"redis://:redispw-4343@cache:6379",
        "bus: rejected an intent for {agent_id}"
    );
    drop(guard);
    let logs = aios::telemetry::log_dir(dir.path());
    let text: String = std::fs::read_dir(&logs)
        .unwrap()
        .map(|e| std::fs::read_to_string(e.unwrap().path()).unwrap())
        .collect();
    // Other tests of this binary run beside this one and log through the same (global)
    // subscriber: only this test's event is counted, and no line may begin with its
    // forged text.
    let ours = text
        .lines()
        .filter(|l| l.contains("bus: rejected an intent"))
        .count();
    assert_eq!(ours, 1, "{text:?}");
    assert!(!text.lines().any(|l| l.starts_with("FORGED")), "{text:?}");
    assert!(
        !text.contains('\u{1b}') && !text.contains('\u{7}') && !text.contains('\r'),
        "{text:?}"
    );
    // The field as this layer escapes it (the formatter itself escapes ESC in messages).
    let escaped = "agent_id=evil\\u{1b}]0;pwned\\u{7}\\u{1b}[2J\\nFORGED INFO line\\r";
    assert!(text.contains(escaped), "{text:?}");
    assert_eq!(
        text.matches("\\nFORGED INFO line\\r").count(),
        2,
        "{text:?}"
    );
    assert!(!text.contains("redispw-4343"), "{text}");
    assert!(text.contains("redis://:[REDACTED]@cache:6379"), "{text}");
}

/// Whatever aios puts on the bus (an intent's text, a memory, a result) went out in clear.
#[test]
fn nothing_goes_on_the_bus_unmasked() {
    use aios::bus::{Envelope, Source};
    let text = secret_text();
    let envelope = Envelope::new(
        "intent",
        Source {
            node: "n1".into(),
            agent_id: None,
            operator: Some("test".into()),
        },
        Some("support-agent"),
        serde_json::json!({"text": text, "nested": {"note": text}}),
    );
    let bytes = envelope.to_bytes(1 << 20).unwrap();
    let wire = String::from_utf8(bytes).unwrap();
    assert_masked("bus message", &wire);
    let back: serde_json::Value = serde_json::from_str(&wire).unwrap();
    assert_eq!(
        back["id"],
        serde_json::json!(envelope.id),
        "the envelope is intact"
    );
    assert!(
        back["payload"]["text"]
            .as_str()
            .unwrap()
            .contains("[REDACTED]")
    );
}
