//! The real `aios` binary with a model runner: `dispatch` through the in-test Ollama (the
//! streamed reply is printed and becomes the context), a runner that is down fails fast
//! naming its URL, and `aios models` list / pull / create.

mod support;

use std::process::{Command, Output};
use std::time::{Duration, Instant};

use serde_json::json;
use support::aios;
use support::http_script::Reply;
use support::ollama_server::{self, NDJSON};
use support::openai_server;

async fn run(mut cmd: Command) -> Output {
    tokio::task::spawn_blocking(move || cmd.output().expect("aios runs"))
        .await
        .unwrap()
}

fn ok(out: &Output) -> String {
    assert!(
        out.status.success(),
        "exit {:?}\nstdout: {}\nstderr: {}",
        out.status.code(),
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn closed_url() -> String {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    format!("http://127.0.0.1:{port}")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dispatch_streams_the_ollama_reply_and_it_becomes_the_context() {
    let s = ollama_server::start().await;
    s.reply(
        "POST",
        "/api/chat",
        ollama_server::chat_reply(&["Reset", " the", " password", " via", " SSO."]),
    );
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    let with_ollama = |args: &[&str]| {
        let mut c = aios(tmp.path(), &data);
        c.env("AIOS_LLM_RUNNER", "ollama")
            .env("AIOS_LLM_OLLAMA_URL", s.url())
            .env("AIOS_LLM_MODEL", "mistral")
            .args(args);
        c
    };
    let reply = ok(&run(with_ollama(&[
        "dispatch",
        "support-agent",
        "Customer 42 cannot log in",
    ]))
    .await);
    assert!(reply.contains("Reset the password via SSO."), "{reply}");
    let sent = s.requests_to("/api/chat");
    assert!(!sent.is_empty());
    let body = sent[0].json();
    assert_eq!(body["model"], json!("mistral"));
    let last = body["messages"].as_array().unwrap().last().unwrap().clone();
    assert_eq!(last["content"], json!("Customer 42 cannot log in"));

    let ctx = ok(&run(with_ollama(&["context", "support-agent"])).await);
    assert!(ctx.contains("Reset the password via SSO."), "{ctx}");
}

/// llama.cpp's server ignores `stream_options.include_usage`: the reply still carries a
/// token count, aios's own, and says whose it is.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dispatch_json_counts_tokens_when_the_server_reports_none() {
    let s = openai_server::start().await;
    s.reply(
        "POST",
        "/v1/chat/completions",
        openai_server::chat_reply_without_usage(&["Reset", " the", " password", "."]),
    );
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    let mut c = aios(tmp.path(), &data);
    c.env("AIOS_LLM_RUNNER", "openai")
        .env("AIOS_LLM_OPENAI_URL", format!("{}/v1", s.url()))
        .env("AIOS_LLM_MODEL", "tiny")
        .args([
            "dispatch",
            "--json",
            "support-agent",
            "Customer 42 cannot log in",
        ]);
    let out = ok(&run(c).await);
    let reply: serde_json::Value = serde_json::from_str(&out).expect("dispatch --json is JSON");
    assert_eq!(reply["reply"], json!("Reset the password."), "{reply}");
    assert_eq!(reply["usage"]["completion_tokens"], json!(4), "{reply}");
    assert_eq!(reply["usage"]["counted_by"], json!("aios"), "{reply}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dispatch_with_the_runner_down_fails_fast_naming_the_url() {
    let url = closed_url();
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    let mut c = aios(tmp.path(), &data);
    c.env("AIOS_LLM_RUNNER", "ollama")
        .env("AIOS_LLM_OLLAMA_URL", &url)
        .args(["dispatch", "support-agent", "hello"]);
    let started = Instant::now();
    let out = run(c).await;
    let took = started.elapsed();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    assert!(stderr.contains(&url), "{stderr}");
    assert_eq!(stderr.trim_end().lines().count(), 1, "{stderr}");
    // The first-token timeout is 120 s; a refused connection is known at once.
    assert!(took < Duration::from_secs(20), "{took:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn models_lists_each_runner_and_says_which_is_down() {
    let s = ollama_server::start().await;
    s.reply(
        "GET",
        "/api/tags",
        ollama_server::tags(&[
            ("llama3:latest", "llama", "8.0B", "Q4_K_M"),
            ("zephyr:latest", "llama", "7.2B", "Q4_0"),
        ]),
    );
    let down = format!("{}/v1", closed_url());
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    let cmd = |json: bool| {
        let mut c = aios(tmp.path(), &data);
        c.env("AIOS_LLM_RUNNER", "auto")
            .env("AIOS_LLM_OLLAMA_URL", s.url())
            .env("AIOS_LLM_OPENAI_URL", &down)
            .arg("models");
        if json {
            c.arg("--json");
        }
        c
    };
    let table = ok(&run(cmd(false)).await);
    assert!(
        table.contains("llama3:latest") && table.contains("Q4_K_M") && table.contains("GGUF"),
        "{table}"
    );
    assert!(
        table.contains("8.0B") && table.contains("version 0.12.6"),
        "{table}"
    );
    assert!(
        table
            .lines()
            .any(|l| l.starts_with("openai") && l.contains(&down) && l.contains("unreachable")),
        "{table}"
    );

    let listed: serde_json::Value = serde_json::from_str(&ok(&run(cmd(true)).await)).unwrap();
    assert_eq!(listed[0]["runner"], json!("ollama"));
    assert_eq!(listed[0]["models"][1]["quantization"], json!("Q4_0"));
    assert_eq!(listed[1]["reachable"], json!(false));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn models_pull_and_create_with_an_adapter() {
    let s = ollama_server::start().await;
    let l = |v: serde_json::Value| ollama_server::line(&v);
    let mut pull = Reply::new(200, NDJSON).chunk(l(json!({"status": "pulling manifest"})));
    for done in [0u64, 300, 600, 1000] {
        pull = pull.chunk(l(json!({"status": "pulling 3f1a", "digest": "sha256:3f1a", "total": 1000, "completed": done})));
    }
    s.reply(
        "POST",
        "/api/pull",
        pull.chunk(l(json!({"status": "success"}))),
    );
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    let mut c = aios(tmp.path(), &data);
    c.env("AIOS_LLM_OLLAMA_URL", s.url())
        .args(["models", "pull", "openchat"]);
    let out = ok(&run(c).await);
    assert!(
        out.contains("pulling 3f1a 30%") && out.contains("pulling 3f1a 100%"),
        "{out}"
    );
    assert!(!out.contains('\r'), "no redraws on a pipe: {out:?}");
    assert!(
        out.trim_end()
            .ends_with(&format!("pulled openchat on {}", s.url())),
        "{out}"
    );
    assert_eq!(
        s.requests_to("/api/pull")[0].json()["model"],
        json!("openchat")
    );

    let adapter = tmp.path().join("support-lora.gguf");
    std::fs::write(&adapter, b"lora").unwrap();
    let digest = {
        use sha2::Digest;
        format!("sha256:{}", hex::encode(sha2::Sha256::digest(b"lora")))
    };
    s.reply(
        "HEAD",
        &format!("/api/blobs/{digest}"),
        Reply::new(404, "text/plain"),
    );
    s.reply(
        "POST",
        &format!("/api/blobs/{digest}"),
        Reply::new(201, "text/plain"),
    );
    s.reply(
        "POST",
        "/api/create",
        Reply::new(200, NDJSON).chunk(l(json!({"status": "success"}))),
    );
    let mut c = aios(tmp.path(), &data);
    c.env("AIOS_LLM_OLLAMA_URL", s.url()).args([
        "models",
        "create",
        "support-llama3",
        "--from",
        "llama3",
        "--adapter",
        adapter.to_str().unwrap(),
    ]);
    let out = ok(&run(c).await);
    assert!(out.contains("created support-llama3 from llama3"), "{out}");
    let body = s.requests_to("/api/create")[0].json();
    assert_eq!(body["adapters"], json!({"support-lora.gguf": digest}));
    assert_eq!(body["from"], json!("llama3"));
}
