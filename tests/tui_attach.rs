//! `aios tui --attach REDIS_URL` in a real terminal (tmux), watching an `aios serve` that
//! runs as another process with another data dir, sharing only a Redis (a private
//! redis-server): the status bar names the node, an intent typed here is handled there and
//! its token stream, channel line, context diff and the node's audit records show here.
//! Skipped, with the reason printed, without tmux.

mod support;

use std::path::Path;

use support::redis_server::RedisServer;
use support::serve::{Killed, start_serve};
use support::tmux::{Tmux, available, wait_exit};

fn start_node(cwd: &Path, data: &Path, url: &str) -> Killed {
    let mut cmd = support::aios(cwd, data);
    cmd.env("AIOS_BUS_BACKEND", "redis")
        .env("AIOS_BUS_URL", url)
        .env("AIOS_BUS_PREFIX", "far:")
        .env("AIOS_BUS_HEARTBEAT_MS", "1000")
        .env("AIOS_RUNTIME_NODE", "edge-1")
        .env("AIOS_LLM_SIM_TOKENS_PER_SECOND", "200");
    start_serve(&mut cmd, data)
}

#[test]
fn an_attached_tui_watches_and_steers_a_node_elsewhere() {
    if !available() {
        eprintln!("skipped: tmux is not installed");
        return;
    }
    let redis = RedisServer::start();
    let dir = tempfile::tempdir().unwrap();
    let _node = start_node(dir.path(), &dir.path().join("server"), &redis.url());
    let exit = dir.path().join("exit");
    let script = format!(
        "cd {dir} && env -u TMUX HOME={dir} AIOS_BUS_PREFIX=far: AIOS_MEMORY_BACKEND=local \
         AIOS_MEMORY_EMBEDDER=hash NO_COLOR=1 {bin} --data-dir {data} tui --attach {url}; \
         echo $? > {exit}; sleep 60",
        dir = dir.path().display(),
        bin = env!("CARGO_BIN_EXE_aios"),
        data = dir.path().join("laptop").display(),
        url = redis.url(),
        exit = exit.display(),
    );
    let t = Tmux::start("attach", 160, 48, &script);
    t.wait_for(&[
        "attached redis://",
        "nodes edge-1",
        "runner sim",
        "ops-agent",
    ]);
    t.send(&["i"]);
    t.wait_for(&["Intent", "@ops-agent"]);
    t.send(&["-l", "ship it from afar"]);
    t.send(&["Enter"]);
    // At 160×48 every pane is on screen: the token stream, the diff of
    // the version the node wrote (read from the shared store) and the node's audit records
    // (from its mirror stream).
    t.wait_for(&[
        "Acknowledged: \"ship it from afar\"",
        "tok/s",
        "v0 → v1",
        "update_context",
    ]);
    // The channel line is cut at this width: zoom the channels pane to read it whole.
    t.send(&["3"]);
    t.send(&["z"]);
    t.wait_for(&["intent tui:operator → ops-agent: ship it from afar"]);
    t.send(&["z"]);
    t.send(&["q"]);
    assert_eq!(wait_exit(&exit), "0");
    // The watcher kept its own data dir: it never wrote into the node's.
    assert!(dir.path().join("laptop/attached/audit").exists());
}

#[test]
fn attaching_to_nothing_is_a_clear_error_before_the_terminal_is_taken() {
    let dir = tempfile::tempdir().unwrap();
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let out = support::aios(dir.path(), &dir.path().join("d"))
        .args(["tui", "--attach", &format!("redis://127.0.0.1:{port}")])
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains(&format!("attaching to redis://127.0.0.1:{port}")),
        "{err}"
    );

    let out = support::aios(dir.path(), &dir.path().join("d"))
        .args(["tui", "--attach", "http://example.com"])
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("--attach takes a Redis URL"), "{err}");
}
