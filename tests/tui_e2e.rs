//! The real binary in a real terminal (tmux): type an intent, see it on the channels pane,
//! its token stream and the new context diff, quit with `q`, exit status 0, and the
//! terminal back to the shell's screen. Skipped, with the reason printed, without tmux.

mod support;

use std::path::Path;

use support::tmux::{Tmux, available as tmux_available, wait_exit as wait_exit_file};

fn start(dir: &Path, w: u16, h: u16) -> Tmux {
    let data = dir.join("data");
    let exit = dir.join("exit");
    let script = format!(
        "cd {dir} && env -u TMUX HOME={dir} AIOS_BUS_BACKEND=memory AIOS_LLM_RUNNER=sim \
         AIOS_LLM_SIM_TOKENS_PER_SECOND=200 {bin} --data-dir {data} tui; \
         echo $? > {exit}; echo SHELL-SCREEN-BACK; sleep 60",
        dir = dir.display(),
        bin = env!("CARGO_BIN_EXE_aios"),
        data = data.display(),
        exit = exit.display(),
    );
    Tmux::start("e2e", w, h, &script)
}

fn wait_exit(dir: &Path) -> String {
    wait_exit_file(&dir.join("exit"))
}

#[test]
fn an_operator_dispatches_an_intent_and_sees_it_everywhere() {
    if !tmux_available() {
        eprintln!("skipped: tmux is not installed");
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let t = start(dir.path(), 120, 40);
    t.wait_for(&["1 Agents", "ops-agent", "runner sim"]);
    t.send(&["i"]);
    t.wait_for(&["Intent", "@ops-agent"]);
    t.send(&["-l", "ship the e2e build"]);
    t.send(&["Enter"]);
    // The token stream (pane 5 is on screen by default).
    t.wait_for(&["done: stop", "ship the e2e build"]);
    t.send(&["3"]);
    t.wait_for(&["3 Channels", "intent", "→ ops-agent: ship the e2e build"]);
    t.send(&["4"]);
    t.wait_for(&["4 Context diff", "v0 → v1", "> ship the e2e build"]);
    t.send(&["6"]);
    t.wait_for(&["chain verified", "dispatch_intent"]);
    t.send(&["q"]);
    assert_eq!(wait_exit(dir.path()), "0");
    // The alternate screen is gone: the shell's own screen is back.
    let s = t.wait_for(&["SHELL-SCREEN-BACK"]);
    assert!(!s.contains("1 Agents"), "terminal not restored:\n{s}");
}

#[test]
fn a_small_terminal_is_told_so_and_q_still_quits() {
    if !tmux_available() {
        eprintln!("skipped: tmux is not installed");
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let t = start(dir.path(), 70, 20);
    t.wait_for(&["terminal too small: 70×20"]);
    t.send(&["q"]);
    assert_eq!(wait_exit(dir.path()), "0");
}
