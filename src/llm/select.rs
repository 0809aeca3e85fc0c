//! Which runner serves an agent: `auto` probes Ollama, then the OpenAI-compatible server,
//! then takes `sim`; an explicit kind is opened without probing (a server that is down is
//! an error naming its URL at the first request, not a silent fallback).

use std::sync::Arc;
use std::time::Duration;

use super::ollama_api::OllamaApi;
use super::openai_api::OpenAiApi;
use super::transport::Timeouts;
use super::{LlmError, LlmRunner, OllamaRunner, OpenAiRunner, SimRunner};
use crate::config::{LlmConfig, RunnerKind};

/// How long `auto` waits for each server to answer.
pub const PROBE_TIMEOUT: Duration = Duration::from_millis(800);

/// An opened runner and one line saying which it is and why.
#[derive(Clone)]
pub struct SelectedRunner {
    pub runner: Arc<dyn LlmRunner>,
    pub note: String,
}

impl std::fmt::Debug for SelectedRunner {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SelectedRunner")
            .field("runner", &self.runner.name())
            .field("note", &self.note)
            .finish()
    }
}

/// The runner `llm.runner` asks for.
pub async fn select_runner(config: &LlmConfig) -> Result<SelectedRunner, LlmError> {
    open_runner(config, config.runner).await
}

/// The runner of `kind` (an agent's `runner` override, or `llm.runner`). `auto` probes,
/// so callers opening many agents should open it once and share it.
pub async fn open_runner(config: &LlmConfig, kind: RunnerKind) -> Result<SelectedRunner, LlmError> {
    let timeouts = Timeouts::from_config(config);
    let sim = || -> Arc<dyn LlmRunner> { Arc::new(SimRunner::new(config.sim.tokens_per_second)) };
    let ollama = || -> Result<Arc<dyn LlmRunner>, LlmError> {
        Ok(Arc::new(OllamaRunner::new(&config.ollama.url, timeouts)?))
    };
    let openai = || -> Result<Arc<dyn LlmRunner>, LlmError> {
        Ok(Arc::new(OpenAiRunner::new(&config.openai.url, timeouts)?))
    };
    Ok(match kind {
        RunnerKind::Sim => SelectedRunner {
            runner: sim(),
            note: "sim: the scripted local runner (runner = \"sim\")".into(),
        },
        RunnerKind::Ollama => SelectedRunner {
            runner: ollama()?,
            note: format!("ollama at {} (runner = \"ollama\")", config.ollama.url),
        },
        RunnerKind::Openai => SelectedRunner {
            runner: openai()?,
            note: format!(
                "openai-compatible at {} (runner = \"openai\")",
                config.openai.url
            ),
        },
        RunnerKind::Auto => {
            let ollama_probe = probe_ollama(&config.ollama.url).await;
            if let Ok(version) = &ollama_probe {
                SelectedRunner {
                    runner: ollama()?,
                    note: format!(
                        "auto → ollama at {} (version {version} answered)",
                        config.ollama.url
                    ),
                }
            } else {
                let openai_probe = probe_openai(&config.openai.url).await;
                match (openai_probe, ollama_probe) {
                    (Ok(n), _) => SelectedRunner {
                        runner: openai()?,
                        note: format!(
                            "auto → openai-compatible at {} ({n} model{} served; no Ollama at {})",
                            config.openai.url,
                            if n == 1 { "" } else { "s" },
                            config.ollama.url
                        ),
                    },
                    (Err(b), Err(a)) => SelectedRunner {
                        runner: sim(),
                        note: format!(
                            "auto → sim: no Ollama at {} ({a}), no OpenAI-compatible server at {} ({b})",
                            config.ollama.url, config.openai.url
                        ),
                    },
                    (Err(_), Ok(_)) => unreachable!("handled by the first branch"),
                }
            }
        }
    })
}

fn probe_timeouts() -> Timeouts {
    Timeouts {
        connect: PROBE_TIMEOUT,
        first_token: PROBE_TIMEOUT,
        idle: PROBE_TIMEOUT,
        retries: 0,
    }
}

/// Why a model server did not answer a probe: the runner's error, shown as the reason
/// alone (the notes that show it name the runner and the URL already).
#[derive(Debug)]
pub struct Unanswered(pub LlmError);

impl std::fmt::Display for Unanswered {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match &self.0 {
            LlmError::Unreachable { message, .. } | LlmError::Timeout { message, .. } => {
                f.write_str(message)
            }
            LlmError::Http {
                status, message, ..
            } => write!(f, "HTTP {status}: {message}"),
            other => other.fmt(f),
        }
    }
}

impl std::error::Error for Unanswered {}

/// `GET /api/version` within [`PROBE_TIMEOUT`]: the version, or why not.
pub async fn probe_ollama(url: &str) -> Result<String, Unanswered> {
    let api = OllamaApi::new(url, probe_timeouts()).map_err(Unanswered)?;
    api.version().await.map_err(Unanswered)
}

/// `GET {url}/models` within [`PROBE_TIMEOUT`]: how many models, or why not.
pub async fn probe_openai(url: &str) -> Result<usize, Unanswered> {
    let api = OpenAiApi::new(url, probe_timeouts()).map_err(Unanswered)?;
    api.models().await.map(|m| m.len()).map_err(Unanswered)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn closed_port() -> String {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let port = l.local_addr().unwrap().port();
        drop(l);
        format!("http://127.0.0.1:{port}")
    }

    #[tokio::test]
    async fn auto_with_nothing_listening_takes_sim_and_says_why() {
        let mut c = LlmConfig::default();
        c.ollama.url = closed_port();
        c.openai.url = format!("{}/v1", closed_port());
        let s = select_runner(&c).await.unwrap();
        assert_eq!(s.runner.name(), "sim");
        assert!(s.note.starts_with("auto → sim"), "{}", s.note);
        assert!(
            s.note.contains(&c.ollama.url) && s.note.contains(&c.openai.url),
            "{}",
            s.note
        );
    }

    #[tokio::test]
    async fn explicit_kinds_do_not_probe() {
        let mut c = LlmConfig::default();
        c.ollama.url = closed_port();
        let s = open_runner(&c, RunnerKind::Ollama).await.unwrap();
        assert_eq!(s.runner.name(), "ollama");
        let s = open_runner(&c, RunnerKind::Openai).await.unwrap();
        assert_eq!(s.runner.name(), "openai");
    }
}
