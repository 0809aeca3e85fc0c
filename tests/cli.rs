//! The real `aios` binary from a shell's point of view: agents, dispatch, context and its
//! diff, audit verify, one-line errors, and a second terminal reaching a running owner.

mod support;

use std::process::Stdio;
use std::time::{Duration, Instant};

use support::aios;
use support::serve::{Killed, start_serve};

fn run_ok(cmd: &mut std::process::Command) -> String {
    let out = cmd.output().expect("aios runs");
    assert!(
        out.status.success(),
        "exit {:?}\nstdout: {}\nstderr: {}",
        out.status.code(),
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

#[test]
fn agents_json_lists_thirty() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    let out = run_ok(aios(tmp.path(), &data).args(["agents", "--json"]));
    let agents: Vec<serde_json::Value> = serde_json::from_str(&out).unwrap();
    assert_eq!(agents.len(), 30);
    assert!(
        agents
            .iter()
            .any(|a| a["id"] == "lead-router-agent" && a["status"] == "idle")
    );
    let table = run_ok(aios(tmp.path(), &data).arg("agents"));
    assert!(
        table.contains("Core system (6)") && table.contains("30 agents"),
        "{table}"
    );
}

#[test]
fn dispatch_context_and_diff_from_a_shell() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    let reply = run_ok(aios(tmp.path(), &data).args([
        "dispatch",
        "support-agent",
        "Customer 42 cannot log in",
    ]));
    assert!(reply.contains("Customer 42 cannot log in"), "{reply}");

    let ctx = run_ok(aios(tmp.path(), &data).args(["context", "support-agent"]));
    assert!(ctx.starts_with("support-agent context v1 "), "{ctx}");
    assert!(ctx.contains("> Customer 42 cannot log in"), "{ctx}");

    run_ok(aios(tmp.path(), &data).args(["dispatch", "support-agent", "Reset their password"]));
    let diff = run_ok(aios(tmp.path(), &data).args(["context", "support-agent", "--diff", "1..2"]));
    assert!(diff.contains("--- support-agent v1"), "{diff}");
    assert!(diff.contains("+> Reset their password"), "{diff}");
    assert!(diff.contains("-> Customer 42 cannot log in"), "{diff}");

    let versions =
        run_ok(aios(tmp.path(), &data).args(["context", "support-agent", "--versions", "--json"]));
    let versions: Vec<serde_json::Value> = serde_json::from_str(&versions).unwrap();
    assert_eq!(versions.len(), 2);

    let json = run_ok(aios(tmp.path(), &data).args(["dispatch", "ops-agent", "deploy", "--json"]));
    let reply: serde_json::Value = serde_json::from_str(&json).unwrap();
    assert_eq!(reply["model"], "sim");
    assert_eq!(reply["context_version"], 1);
}

#[test]
fn errors_are_one_line_and_non_zero() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    let out = aios(tmp.path(), &data)
        .args(["dispatch", "suport-agent", "hi"])
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(err.trim_end().lines().count(), 1, "{err}");
    assert!(
        err.starts_with("aios: ") && err.contains("did you mean `support-agent`"),
        "{err}"
    );

    let out = aios(tmp.path(), &data)
        .args(["context", "support-agent", "--diff", "x..2"])
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("not a version number"));
}

#[test]
fn a_reader_that_stops_early_ends_the_command_quietly() {
    let dir = tempfile::tempdir().unwrap();
    let mut child = aios(dir.path(), &dir.path().join("data"))
        .arg("agents")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    // `| head -0`: the pipe is closed before the command writes its table.
    drop(child.stdout.take());
    let out = child.wait_with_output().unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!err.contains("panicked"), "{err}");
    assert_eq!(out.status.code(), Some(141), "{err}");
}

#[test]
fn version_and_help() {
    let tmp = tempfile::tempdir().unwrap();
    let v = run_ok(aios(tmp.path(), tmp.path()).arg("--version"));
    assert!(v.starts_with("aios "), "{v}");
    let help = run_ok(aios(tmp.path(), tmp.path()).arg("--help"));
    for cmd in ["tui", "serve", "dispatch", "agents", "context", "doctor"] {
        assert!(help.contains(cmd), "help lacks {cmd}: {help}");
    }
}

#[test]
fn a_second_terminal_reaches_a_running_serve() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    let mut serve = start_serve(&mut aios(tmp.path(), &data), &data);
    let socket = data.join("aios.sock");
    let reply = run_ok(aios(tmp.path(), &data).args(["dispatch", "sec-agent", "Audit the tokens"]));
    assert!(reply.contains("Audit the tokens"), "{reply}");
    let ctx = run_ok(aios(tmp.path(), &data).args(["context", "sec-agent"]));
    assert!(ctx.starts_with("sec-agent context v1 "), "{ctx}");
    let id = run_ok(aios(tmp.path(), &data).args(["dispatch", "sec-agent", "again", "--no-wait"]));
    assert_eq!(id.trim().len(), 36, "an intent id: {id}");
    let tail = run_ok(aios(tmp.path(), &data).args(["audit", "tail", "--agent", "sec-agent"]));
    assert!(tail.contains("dispatch_intent"), "{tail}");
    let agents = run_ok(aios(tmp.path(), &data).args(["agents", "--json"]));
    assert_eq!(
        serde_json::from_str::<Vec<serde_json::Value>>(&agents)
            .unwrap()
            .len(),
        30
    );

    // A second owner is refused with the holder named.
    let out = aios(tmp.path(), &data).arg("serve").output().unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("already owned by pid"));

    // SIGTERM: orderly shutdown, exit 0, socket removed.
    let pid = serve.0.id().to_string();
    assert!(
        std::process::Command::new("kill")
            .args(["-TERM", &pid])
            .status()
            .unwrap()
            .success()
    );
    let status = serve.0.wait().unwrap();
    assert!(status.success(), "serve exit: {status:?}");
    assert!(!socket.exists());
    // The no-wait intent was either handled or answered; the context moved on to v2
    // unless shutdown came first — either way the store is readable by the next owner.
    let ctx =
        run_ok(aios(tmp.path(), &data).args(["context", "sec-agent", "--versions", "--json"]));
    let versions: Vec<serde_json::Value> = serde_json::from_str(&ctx).unwrap();
    assert!(!versions.is_empty());
}

#[test]
fn tools_lists_each_agents_tools_their_source_and_what_maps_to_nothing() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    let out = run_ok(aios(tmp.path(), &data).args(["tools", "strategy-agent", "--json"]));
    let rows: Vec<serde_json::Value> = serde_json::from_str(&out).unwrap();
    assert_eq!(rows.len(), 1);
    let names: Vec<&str> = rows[0]["tools"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["name"].as_str().unwrap())
        .collect();
    // The spec's `vector_db` is the memory tools; `langchain` maps to nothing.
    assert_eq!(
        names,
        [
            "remember",
            "recall",
            "set_goals",
            "update_context",
            "broadcast",
            "handoff"
        ]
    );
    assert_eq!(rows[0]["tools"][0]["source"], "aios");
    assert_eq!(rows[0]["tools"][0]["origin"], "builtin");
    assert_eq!(rows[0]["unmapped"], serde_json::json!(["langchain"]));

    let all = run_ok(aios(tmp.path(), &data).arg("tools"));
    assert!(all.contains("ops-agent\n  remember "), "{all}");
    assert!(all.contains("listed, maps to no tool: fastapi"), "{all}");

    let out = aios(tmp.path(), &data)
        .args(["tools", "no-such-agent"])
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("unknown agent"));

    let doctor = run_ok(aios(tmp.path(), &data).arg("doctor"));
    let line = doctor.lines().find(|l| l.starts_with("tools")).unwrap();
    assert!(line.contains("warn"), "{line}");
    assert!(line.contains("strategy-agent: langchain"), "{line}");
}

#[test]
fn doctor_reports_backends_and_refuses_closed_apis() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    let out = run_ok(aios(tmp.path(), &data).arg("doctor"));
    for check in [
        "config", "policy", "data dir", "store", "bus", "memory", "llm",
    ] {
        assert!(
            out.lines().any(|l| l.starts_with(check)),
            "no `{check}` line in:\n{out}"
        );
    }
    assert!(!out.contains("FAIL"), "{out}");

    let out = aios(tmp.path(), &data)
        .arg("doctor")
        .env("AIOS_LLM_OPENAI_URL", "https://api.openai.com/v1")
        .output()
        .unwrap();
    assert!(!out.status.success());
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.starts_with("policy     FAIL"), "{text}");
    assert!(text.contains("closed hosted API"), "{text}");

    let config = tmp.path().join("bad.toml");
    std::fs::write(&config, "[tui]\nfps = 30\nfsp = 2\n").unwrap();
    let out = aios(tmp.path(), &data)
        .args(["doctor", "--config"])
        .arg(&config)
        .output()
        .unwrap();
    assert!(!out.status.success());
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.contains("line 3") && text.contains("tui.fsp"),
        "{text}"
    );

    // Every other command refuses a bad configuration the same way, as one line.
    let out = aios(tmp.path(), &data)
        .args(["agents", "--config"])
        .arg(&config)
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.starts_with("aios: config error in ") && err.contains("line 3"),
        "{err}"
    );
}

#[test]
fn audit_verify_passes_then_names_the_edited_record() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    run_ok(aios(tmp.path(), &data).args([
        "dispatch",
        "support-agent",
        "Customer 42 cannot log in",
    ]));
    let ok = run_ok(aios(tmp.path(), &data).args(["audit", "verify"]));
    assert!(ok.starts_with("audit chain OK: "), "{ok}");

    let tail = run_ok(aios(tmp.path(), &data).args([
        "audit",
        "tail",
        "--action",
        "update_context",
        "--json",
    ]));
    let record: serde_json::Value = serde_json::from_str(tail.lines().next().unwrap()).unwrap();
    for field in ["timestamp", "agent_id", "action", "input", "context_id"] {
        assert!(record.get(field).is_some(), "{field} missing: {record}");
    }
    assert_eq!(record["agent_id"], "support-agent");
    assert_eq!(record["caller"], "agent:support-agent");

    // Change one byte inside one record's text.
    let file = data.join("audit").join("audit-000001.jsonl");
    let mut bytes = std::fs::read(&file).unwrap();
    let at = bytes
        .windows(8)
        .position(|w| w == b"Customer")
        .expect("the intent is in the log");
    bytes[at] = b'K';
    std::fs::write(&file, bytes).unwrap();
    let out = aios(tmp.path(), &data)
        .args(["audit", "verify"])
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("audit chain broken at") && err.contains("seq "),
        "{err}"
    );
    assert_eq!(err.trim_end().lines().count(), 1, "{err}");
}

#[test]
fn watch_shows_live_traffic_one_line_per_message() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");

    let out = aios(tmp.path(), &data).arg("watch").output().unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("nothing to watch"));

    let _serve = start_serve(&mut aios(tmp.path(), &data), &data);
    let mut watch = Killed(
        aios(tmp.path(), &data)
            .args(["watch", "--channel", "agent.*"])
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap(),
    );
    let rx = support::stdout_lines(&mut watch.0);
    // The watch subscribes asynchronously: dispatch until its line shows up.
    let deadline = Instant::now() + Duration::from_secs(30);
    let mut lines = Vec::new();
    'outer: while Instant::now() < deadline {
        run_ok(aios(tmp.path(), &data).args([
            "dispatch",
            "support-agent",
            "Customer 42 cannot log in",
        ]));
        while let Ok(line) = rx.recv_timeout(Duration::from_millis(500)) {
            lines.push(line);
            let intents = lines
                .iter()
                .any(|l| l.contains("agent.action.intents") && l.contains("Customer 42"));
            let memory = lines.iter().any(|l| l.contains("agent.broadcast.memory"));
            if intents && memory {
                break 'outer;
            }
        }
    }
    assert!(
        lines.iter().any(|l| l.contains("agent.action.intents")
            && l.contains("intent")
            && l.contains("support-agent")),
        "{lines:#?}"
    );
    assert!(
        lines.iter().any(|l| l.contains("agent.broadcast.memory")),
        "{lines:#?}"
    );
    assert!(
        !lines.iter().any(|l| l.contains("mcp.update.context")),
        "--channel agent.* filters: {lines:#?}"
    );
}

/// `aios` without a terminal (`ssh host aios` without `-t`, cron, a pipe) panicked with a
/// backtrace and exit 101 after writing an escape sequence to stdout.
#[test]
fn the_control_center_without_a_terminal_says_so_and_exits_2() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    for args in [&[][..], &["tui"][..]] {
        for stdin in [Stdio::null(), Stdio::piped()] {
            let out = aios(tmp.path(), &data)
                .args(args)
                .env("RUST_BACKTRACE", "1")
                .stdin(stdin)
                .stdout(Stdio::piped())
                .stderr(Stdio::piped())
                .output()
                .unwrap();
            let err = String::from_utf8_lossy(&out.stderr);
            assert_eq!(out.status.code(), Some(2), "{args:?}: {err}");
            assert!(out.stdout.is_empty(), "{args:?}: stdout {:?}", out.stdout);
            assert!(err.contains("needs a terminal"), "{err}");
            assert!(
                err.contains("ssh -t") && err.contains("aios serve"),
                "{err}"
            );
            assert!(
                !err.contains("panicked") && !err.contains("acktrace"),
                "{err}"
            );
        }
    }
}

/// `aios doctor` printed the Redis password in clear.
#[test]
fn doctor_never_shows_a_password() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    for backend in ["redis", "auto"] {
        for json in [false, true] {
            let mut cmd = aios(tmp.path(), &data);
            cmd.arg("doctor")
                .env("AIOS_BUS_BACKEND", backend)
                // Port 1: nothing answers, so every bus line names the URL.
                .env("AIOS_BUS_URL", "redis://admin:s3cretPW@127.0.0.1:1/0");
            if json {
                cmd.arg("--json");
            }
            let out = cmd.output().unwrap();
            let text = format!(
                "{}{}",
                String::from_utf8_lossy(&out.stdout),
                String::from_utf8_lossy(&out.stderr)
            );
            assert!(!text.contains("s3cretPW"), "{backend} json={json}: {text}");
            assert!(
                text.contains("redis://admin:***@127.0.0.1:1/0"),
                "{backend} json={json}: {text}"
            );
        }
    }
}

#[test]
fn tools_servers_shows_each_mcp_servers_state() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    let none = run_ok(aios(tmp.path(), &data).args(["tools", "--servers"]));
    assert!(none.contains("no MCP server is configured"), "{none}");

    std::fs::write(
        tmp.path().join("config.toml"),
        "[mcp_servers.helpdesk]\ncommand = \"/nonexistent/helpdesk-mcp\"\n",
    )
    .unwrap();
    let out = run_ok(aios(tmp.path(), &data).args(["tools", "--servers", "--json"]));
    let rows: Vec<serde_json::Value> = serde_json::from_str(&out).unwrap();
    assert_eq!(rows.len(), 1, "{out}");
    assert_eq!(rows[0]["name"], "helpdesk");
    assert_eq!(rows[0]["transport"], "stdio");
    assert!(
        ["starting", "restarting"].contains(&rows[0]["state"].as_str().unwrap()),
        "{out}"
    );
    assert_eq!(rows[0]["tools"], 0);
    let bad = aios(tmp.path(), &data)
        .args(["tools", "ops-agent", "--servers"])
        .output()
        .unwrap();
    assert!(
        !bad.status.success(),
        "an agent and --servers do not go together"
    );
}
