//! Shared test harness: configs in temp dirs and a way to run the real `aios` binary
//! hermetically (no user config, no user data dir, no AIOS_* from the outside).
#![allow(dead_code)]

pub mod http_script;
pub mod ollama_server;
pub mod openai_server;
pub mod redis_server;
pub mod scripted_runner;
pub mod serve;
pub mod tmux;

use std::path::Path;
use std::process::Command;

use aios::agent::{Runtime, RuntimeOptions};
use aios::config::Config;

/// Defaults, with everything under `dir`, the sim runner streaming without delay, the
/// in-process bus (`auto` would find a Redis on 6379, which tests never touch) and the local
/// vector memory (`auto` would probe Qdrant on 6334).
/// Where no server answers: the discard port, closed on any sane machine.
pub const CLOSED_URL: &str = "http://127.0.0.1:9";

pub fn config_in(dir: &Path) -> Config {
    let mut c = Config::default();
    c.runtime.data_dir = dir.to_path_buf();
    c.llm.sim.tokens_per_second = 0;
    c.bus.backend = aios::config::BusBackend::Memory;
    c.memory.backend = aios::config::MemoryBackend::Local;
    // `auto` would probe Ollama / an OpenAI-compatible server on their default ports; a
    // test that wants a runner or an embedder sets one on purpose.
    c.llm.runner = aios::config::RunnerKind::Sim;
    c.memory.embedder = aios::config::EmbedderKind::Hash;
    // The catalog's spec schemas name Qdrant (strategy-agent) and Chroma (content-agent):
    // never a server that happens to run on this machine.
    c.memory.url = CLOSED_URL.into();
    c.memory.chroma.url = CLOSED_URL.into();
    c.memory.weaviate.url = CLOSED_URL.into();
    // Never the default 8765: tests run side by side.
    c.mcp.http_bind = "127.0.0.1:0".into();
    c
}

/// The options of a runtime on `config`, holding its data dir's lock (a runtime cannot
/// start without one).
pub fn options(config: Config) -> RuntimeOptions {
    RuntimeOptions::owning(config).expect("the data dir is free")
}

pub async fn runtime_in(dir: &Path) -> Runtime {
    Runtime::start(options(config_in(dir)))
        .await
        .expect("runtime starts")
}

/// The `aios` binary with a clean environment, run from `cwd` (so no ./config.toml is
/// picked up by accident) on the data dir `data`.
pub fn aios(cwd: &Path, data: &Path) -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_aios"));
    for (k, _) in std::env::vars() {
        if k.starts_with("AIOS_") {
            cmd.env_remove(k);
        }
    }
    cmd.current_dir(cwd)
        .env("HOME", cwd)
        .env("XDG_CONFIG_HOME", cwd.join(".config"))
        .env("AIOS_LLM_SIM_TOKENS_PER_SECOND", "0")
        // `auto` would find a Redis on 6379, which tests never touch.
        .env("AIOS_BUS_BACKEND", "memory")
        // `auto` would probe Qdrant on 6334.
        .env("AIOS_MEMORY_BACKEND", "local")
        // `auto` would probe model servers on their default ports.
        .env("AIOS_LLM_RUNNER", "sim")
        .env("AIOS_MEMORY_EMBEDDER", "hash")
        .env("AIOS_MEMORY_URL", CLOSED_URL)
        .env("AIOS_MEMORY_CHROMA_URL", CLOSED_URL)
        .env("AIOS_MEMORY_WEAVIATE_URL", CLOSED_URL)
        // The user's Hugging Face cache is not the tests' business.
        .env_remove("HF_HOME")
        .env_remove("HF_HUB_CACHE")
        // Nor is the user's Vault: a test that wants one sets these.
        .env_remove("VAULT_ADDR")
        .env_remove("VAULT_TOKEN")
        .env_remove("VAULT_NAMESPACE")
        .env_remove("VAULT_ROLE_ID")
        .env_remove("VAULT_SECRET_ID")
        // No MCP HTTP server unless a test asks (never the default 8765: tests run side by
        // side); MCP tests set 127.0.0.1:0.
        .env("AIOS_MCP_HTTP_BIND", "")
        .env("NO_COLOR", "1")
        .arg("--data-dir")
        .arg(data);
    cmd
}

/// The lines a child writes to its piped stdout, as they come.
pub fn stdout_lines(child: &mut std::process::Child) -> std::sync::mpsc::Receiver<String> {
    use std::io::{BufRead, BufReader};
    let (tx, rx) = std::sync::mpsc::channel();
    let stdout = child.stdout.take().expect("stdout is piped");
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    rx
}

/// A drawn buffer as text: one line per row, trailing blanks trimmed.
pub fn buffer_text(buf: &ratatui::buffer::Buffer) -> String {
    let area = buf.area;
    (area.y..area.y + area.height)
        .map(|y| {
            (area.x..area.x + area.width)
                .map(|x| buf[(x, y)].symbol().to_string())
                .collect::<String>()
                .trim_end()
                .to_string()
        })
        .collect::<Vec<_>>()
        .join("\n")
}
