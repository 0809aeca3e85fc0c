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
fn an_intent_submitted_just_before_quitting_is_kept_in_the_history() {
    if !tmux_available() {
        eprintln!("skipped: tmux is not installed");
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let t = start(dir.path(), 120, 40);
    t.wait_for(&["1 Agents", "ops-agent"]);
    t.send(&["i"]);
    t.wait_for(&["Intent", "@ops-agent"]);
    t.send(&["-l", "keep me in the history"]);
    // Submitted and quit in one burst: the save runs on the owner's tracker, and the
    // owner's shutdown waits for it.
    t.send(&["Enter", "q"]);
    assert_eq!(wait_exit(dir.path()), "0");
    let history = std::fs::read_to_string(dir.path().join("data").join("tui_history"))
        .expect("the history was written");
    assert!(history.contains("keep me in the history"), "{history}");
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

/// A model (in-test OpenAI-compatible server) calls an HTTP action (in-test n8n webhook):
/// the agent waits, the status bar says so, `a` shows the exact request, `y` approves, the
/// webhook gets it and the agent finishes.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_operator_approves_a_waiting_http_action_from_the_keyboard() {
    use serde_json::json;
    use support::http_script::{Action, Reply, ScriptServer};
    use support::openai_server::{self, chat_reply, tool_call_reply};

    if !tmux_available() {
        eprintln!("skipped: tmux is not installed");
        return;
    }
    let model = openai_server::start().await;
    let call = tool_call_reply("call_1", "n8n_new_lead", r#"{"email":"ada@example.com"}"#);
    model.route(
        "POST",
        "/v1/chat/completions",
        vec![
            Action::Reply(call),
            Action::Reply(chat_reply(&["Lead ", "handed ", "to ", "n8n."])),
        ],
    );
    let n8n = ScriptServer::start().await;
    n8n.reply("POST", "/webhook/new-lead", Reply::json(200, &json!({})));

    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    std::fs::write(
        d.join("config.toml"),
        format!(
            "[llm]\nrunner = \"openai\"\nmodel = \"m\"\n\n\
             [actions.n8n_new_lead]\ndescription = \"Start the n8n lead-intake workflow\"\n\
             method = \"POST\"\nurl = \"{}/webhook/new-lead\"\n\
             args = {{ type = \"object\", properties = {{ email = {{ type = \"string\" }} }}, required = [\"email\"] }}\n\n\
             [agents.sales-agent]\ntools = [\"n8n\"]\n",
            n8n.url()
        ),
    )
    .unwrap();
    let exit = d.join("exit");
    let script = format!(
        "cd {dir} && env -u TMUX HOME={dir} AIOS_BUS_BACKEND=memory AIOS_LLM_RUNNER=openai \
         AIOS_LLM_OPENAI_URL={api}/v1 AIOS_MEMORY_EMBEDDER=hash {bin} --data-dir {data} tui; \
         echo $? > {exit}; sleep 60",
        dir = d.display(),
        api = model.url(),
        bin = env!("CARGO_BIN_EXE_aios"),
        data = d.join("data").display(),
        exit = exit.display(),
    );
    let t = Tmux::start("approve", 120, 40, &script);
    t.wait_for(&["1 Agents", "sales-agent"]);
    t.send(&["i"]);
    t.wait_for(&["Intent"]);
    t.send(&["-l", "@sales-agent a lead came in"]);
    t.send(&["Enter"]);
    t.wait_for(&["1 waiting for approval (a)"]);
    t.send(&["a"]);
    let screen = t.wait_for(&[
        "Approvals (1)",
        "n8n_new_lead",
        &format!("POST {}/webhook/new-lead", n8n.url()),
        r#"{"email":"ada@example.com"}"#,
    ]);
    assert!(n8n.requests().is_empty(), "sent before approval:\n{screen}");
    t.send(&["y"]);
    t.wait_for(&["approved n8n_new_lead for sales-agent"]);
    t.send(&["Escape"]);
    t.wait_for(&["Lead handed to n8n."]);
    assert_eq!(n8n.requests_to("/webhook/new-lead").len(), 1);
    t.send(&["q"]);
    assert_eq!(wait_exit_file(&exit), "0");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_hooks_delivery_status_shows_in_the_goals_pane_after_an_intent() {
    use support::http_script::{Reply, ScriptServer};

    if !tmux_available() {
        eprintln!("skipped: tmux is not installed");
        return;
    }
    let receiver = ScriptServer::start().await;
    receiver.reply("POST", "/hook", Reply::new(204, "text/plain"));
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    std::fs::write(
        d.join("config.toml"),
        format!(
            "[agents.support-agent]\nprotocol_hooks = [\n  \
             {{ name = \"tell-n8n\", on = \"intent.done\", action = \"webhook:{}/hook\" }},\n  \
             {{ name = \"down\", on = \"intent.done\", action = \"webhook:http://127.0.0.1:9/x\" }},\n]\n",
            receiver.url()
        ),
    )
    .unwrap();
    let exit = d.join("exit");
    let script = format!(
        "cd {dir} && env -u TMUX HOME={dir} AIOS_BUS_BACKEND=memory AIOS_LLM_RUNNER=sim \
         AIOS_LLM_SIM_TOKENS_PER_SECOND=0 AIOS_MEMORY_BACKEND=local AIOS_MEMORY_EMBEDDER=hash \
         AIOS_MCP_HTTP_BIND= {bin} --data-dir {data} tui; echo $? > {exit}; sleep 60",
        dir = d.display(),
        bin = env!("CARGO_BIN_EXE_aios"),
        data = d.join("data").display(),
        exit = exit.display(),
    );
    let t = Tmux::start("hooks", 160, 48, &script);
    t.wait_for(&["1 Agents", "support-agent"]);
    t.send(&["i"]);
    t.wait_for(&["Intent"]);
    t.send(&["-l", "@support-agent Customer 42 cannot log in"]);
    t.send(&["Enter"]);
    // The goals pane, zoomed so a delivery's error fits on its line.
    t.send(&["2"]);
    t.send(&["z"]);
    t.wait_for(&[
        "Goals support-agent",
        "tell-n8n: on intent.done",
        "last: delivered 1 attempt · HTTP 204",
        "last: pending",
        "Connection refused",
    ]);
    assert_eq!(receiver.requests_to("/hook").len(), 1);
    t.send(&["q"]);
    assert_eq!(wait_exit_file(&exit), "0");
}

/// Record a session (two intents, one of them handing off), quit, open `aios replay`, scrub
/// back to the handoff's audit record and ask "why?" of it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_recorded_session_is_replayed_scrubbed_and_asked_why() {
    use support::http_script::Action;
    use support::openai_server::{self, chat_reply, tool_call_reply};

    if !tmux_available() {
        eprintln!("skipped: tmux is not installed");
        return;
    }
    let model = openai_server::start().await;
    model.route(
        "POST",
        "/v1/chat/completions",
        vec![
            Action::Reply(tool_call_reply(
                "call_1",
                "handoff",
                r#"{"agent_id":"content-agent","text":"Write the launch announcement"}"#,
            )),
            Action::Reply(chat_reply(&["Handed ", "on."])),
        ],
    );
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let data = d.join("data");
    let exit = d.join("exit");
    let env = format!(
        "env -u TMUX HOME={dir} AIOS_BUS_BACKEND=memory AIOS_LLM_RUNNER=openai \
         AIOS_LLM_OPENAI_URL={url}/v1 AIOS_LLM_MODEL=m AIOS_MEMORY_BACKEND=local \
         AIOS_MEMORY_EMBEDDER=hash AIOS_MCP_HTTP_BIND=",
        dir = d.display(),
        url = model.url(),
    );
    let script = format!(
        "cd {dir} && {env} {bin} --data-dir {data} tui; echo $? > {exit}; sleep 60",
        dir = d.display(),
        bin = env!("CARGO_BIN_EXE_aios"),
        data = data.display(),
        exit = exit.display(),
    );
    let t = Tmux::start("record", 160, 48, &script);
    t.wait_for(&["1 Agents", "strategy-agent"]);
    for (intent, seen) in [
        (
            "@strategy-agent Plan the product launch",
            "intent tui:operator → strategy",
        ),
        (
            "@ops-agent Check the deploy queue",
            "intent tui:operator → ops-agen",
        ),
    ] {
        t.send(&["i"]);
        t.wait_for(&["Intent"]);
        t.send(&["-l", intent]);
        t.send(&["Enter"]);
        t.wait_for(&[seen]);
    }
    // The handoff, on the channels pane.
    t.wait_for(&["intent strategy-agent → conten"]);
    // Both intents and the handed-on one are answered before quitting.
    for _ in 0..100 {
        if model.requests_to("/v1/chat/completions").len() >= 4 {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    std::thread::sleep(std::time::Duration::from_millis(500));
    t.send(&["q"]);
    assert_eq!(wait_exit_file(&exit), "0");

    // The handoff's audit record, as the shell sees it.
    let audit: Vec<serde_json::Value> = std::fs::read_dir(data.join("audit"))
        .unwrap()
        .filter_map(Result::ok)
        .filter(|e| e.path().extension().is_some_and(|x| x == "jsonl"))
        .flat_map(|e| {
            std::fs::read_to_string(e.path())
                .unwrap()
                .lines()
                .filter_map(|l| serde_json::from_str(l).ok())
                .collect::<Vec<_>>()
        })
        .collect();
    let handoff = audit
        .iter()
        .find(|r| r["action"] == "handoff")
        .expect("the handoff was audited");
    let seq = handoff["seq"].as_u64().unwrap();

    let exit2 = d.join("exit2");
    let script = format!(
        "cd {dir} && {env} {bin} --data-dir {data} replay; echo $? > {exit}; sleep 60",
        dir = d.display(),
        bin = env!("CARGO_BIN_EXE_aios"),
        data = data.display(),
        exit = exit2.display(),
    );
    let r = Tmux::start("replay", 160, 48, &script);
    r.wait_for(&["REPLAY", "0/"]);
    // To the end (10 s at a time), then back to the handoff's record.
    for _ in 0..6 {
        r.send(&[">"]);
    }
    r.wait_for(&["ops-agent", "Check the deploy queue"]);
    r.send(&[":"]);
    r.send(&["-l", &format!("seq {seq}")]);
    r.send(&["Enter"]);
    r.wait_for(&["6 Audit", "handoff"]);
    let scrubbed = r.screen();
    assert!(
        !scrubbed.contains("Check the deploy queue"),
        "scrubbed back before the second intent:\n{scrubbed}"
    );
    r.send(&["w"]);
    r.wait_for(&[
        "Why?",
        "strategy-agent",
        "Plan the product launch",
        "handoff",
        "content-agent",
    ]);
    r.send(&["Escape"]);
    r.send(&["q"]);
    assert_eq!(wait_exit_file(&exit2), "0");
}
