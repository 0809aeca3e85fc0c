//! `aios models`: what each configured runner serves (Ollama's pulled models with family,
//! size and quantization; the OpenAI-compatible server's `/models`), `models pull NAME`
//! with a progress bar, and `models create NAME --from BASE --adapter PATH` (a LoRA
//! adapter on a base model, through Ollama's blobs and create API).

use std::collections::BTreeMap;
use std::io::{IsTerminal, Write};
use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Args, Subcommand};
use color_eyre::eyre::{Result, eyre};
use serde::Serialize;

use crate::config::{Config, RunnerKind};
use crate::llm::Timeouts;
use crate::llm::ollama_api::{LocalModel, OllamaApi, Progress};
use crate::llm::openai_api::{OpenAiApi, ServedModel};
use crate::sanitize::for_terminal;

#[derive(Debug, Args)]
pub struct ModelsArgs {
    /// Print JSON instead of a table.
    #[arg(long)]
    pub json: bool,
    #[command(subcommand)]
    pub cmd: Option<ModelsCommand>,
}

#[derive(Debug, Subcommand)]
pub enum ModelsCommand {
    /// Pull a model into Ollama (e.g. mistral, mixtral, llama2, llama3, openchat, zephyr).
    Pull { name: String },
    /// Create an Ollama model from a base model plus a LoRA adapter file.
    Create {
        name: String,
        /// The base model, e.g. llama3.
        #[arg(long)]
        from: String,
        /// A LoRA adapter (GGUF or safetensors) to apply to the base model.
        #[arg(long, value_name = "PATH")]
        adapter: Option<PathBuf>,
    },
}

pub async fn run(config: Config, args: ModelsArgs) -> Result<ExitCode> {
    let timeouts = Timeouts::from_config(&config.llm);
    match args.cmd {
        None => list(&config, timeouts, args.json).await,
        Some(ModelsCommand::Pull { name }) => {
            let api = OllamaApi::new(&config.llm.ollama.url, timeouts)?;
            let mut bar = ProgressLine::new();
            api.pull(&name, |p| bar.show(p))
                .await
                .inspect_err(|_| bar.end())?;
            bar.end();
            outln!("pulled {} on {}", for_terminal(&name), api.url());
            Ok(ExitCode::SUCCESS)
        }
        Some(ModelsCommand::Create {
            name,
            from,
            adapter,
        }) => {
            let api = OllamaApi::new(&config.llm.ollama.url, timeouts)?;
            let mut adapters = BTreeMap::new();
            if let Some(path) = adapter {
                let file = path
                    .file_name()
                    .map(|f| f.to_string_lossy().into_owned())
                    .ok_or_else(|| eyre!("--adapter {} is not a file", path.display()))?;
                if !path.is_file() {
                    return Err(eyre!("--adapter {}: no such file", path.display()));
                }
                outln!("uploading {} …", path.display());
                let digest = api.push_blob(&path).await?;
                adapters.insert(file, digest);
            }
            let mut bar = ProgressLine::new();
            api.create(&name, &from, &adapters, |p| bar.show(p))
                .await
                .inspect_err(|_| bar.end())?;
            bar.end();
            outln!(
                "created {} from {} on {}",
                for_terminal(&name),
                for_terminal(&from),
                api.url()
            );
            Ok(ExitCode::SUCCESS)
        }
    }
}

#[derive(Debug, Serialize)]
struct RunnerListing {
    runner: &'static str,
    url: String,
    /// The runner `llm.runner` names (or `auto` may choose).
    configured: bool,
    reachable: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    error: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    version: Option<String>,
    models: Vec<ModelRow>,
}

#[derive(Debug, Serialize)]
struct ModelRow {
    name: String,
    family: String,
    parameter_size: String,
    format: String,
    quantization: String,
    size_bytes: u64,
}

impl From<LocalModel> for ModelRow {
    fn from(m: LocalModel) -> Self {
        Self {
            name: m.name,
            family: m.details.family,
            parameter_size: m.details.parameter_size,
            format: m.details.format,
            quantization: m.details.quantization_level,
            size_bytes: m.size,
        }
    }
}

impl From<ServedModel> for ModelRow {
    fn from(m: ServedModel) -> Self {
        Self {
            name: m.id,
            family: String::new(),
            parameter_size: String::new(),
            format: String::new(),
            quantization: String::new(),
            size_bytes: 0,
        }
    }
}

async fn list(config: &Config, timeouts: Timeouts, json: bool) -> Result<ExitCode> {
    let kind = config.llm.runner;
    let ollama = async {
        let url = config.llm.ollama.url.clone();
        let configured = matches!(kind, RunnerKind::Auto | RunnerKind::Ollama);
        let api = OllamaApi::new(&url, timeouts)?;
        let listing = match tokio::try_join!(api.version(), api.tags()) {
            Ok((version, tags)) => RunnerListing {
                runner: "ollama",
                url,
                configured,
                reachable: true,
                error: None,
                version: Some(version),
                models: tags.into_iter().map(ModelRow::from).collect(),
            },
            Err(e) => down("ollama", url, configured, e.to_string()),
        };
        Ok::<_, crate::llm::LlmError>(listing)
    };
    let openai = async {
        let url = config.llm.openai.url.clone();
        let configured = matches!(kind, RunnerKind::Auto | RunnerKind::Openai);
        let api = OpenAiApi::new(&url, timeouts)?;
        let listing = match api.models().await {
            Ok(models) => RunnerListing {
                runner: "openai",
                url,
                configured,
                reachable: true,
                error: None,
                version: None,
                models: models.into_iter().map(ModelRow::from).collect(),
            },
            Err(e) => down("openai", url, configured, e.to_string()),
        };
        Ok::<_, crate::llm::LlmError>(listing)
    };
    let (ollama, openai) = tokio::join!(ollama, openai);
    let listings = vec![ollama?, openai?];
    if json {
        outln!("{}", serde_json::to_string_pretty(&listings)?);
    } else {
        if kind == RunnerKind::Sim {
            outln!("llm.runner = sim: agents use the scripted local runner (no model)");
        }
        for l in &listings {
            print_listing(l);
        }
    }
    let any = listings.iter().any(|l| l.reachable);
    Ok(if any || kind == RunnerKind::Sim {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}

fn down(runner: &'static str, url: String, configured: bool, error: String) -> RunnerListing {
    RunnerListing {
        runner,
        url,
        configured,
        reachable: false,
        error: Some(error),
        version: None,
        models: Vec::new(),
    }
}

fn print_listing(l: &RunnerListing) {
    let head = match (&l.error, &l.version) {
        (Some(e), _) => format!("unreachable: {e}"),
        (None, Some(v)) => format!("version {v}, {} model(s)", l.models.len()),
        (None, None) => format!("{} model(s)", l.models.len()),
    };
    outln!("{:<7} {}  {}", l.runner, l.url, for_terminal(&head));
    if l.models.is_empty() {
        return;
    }
    let width = l
        .models
        .iter()
        .map(|m| m.name.chars().count())
        .max()
        .unwrap_or(4)
        .max(4);
    if l.runner == "ollama" {
        outln!(
            "  {:<width$}  {:<8} {:<7} {:<6} {:<8} {:>8}",
            "NAME",
            "FAMILY",
            "PARAMS",
            "FORMAT",
            "QUANT",
            "SIZE"
        );
        for m in &l.models {
            outln!(
                "  {:<width$}  {:<8} {:<7} {:<6} {:<8} {:>8}",
                for_terminal(&m.name),
                for_terminal(&m.family),
                for_terminal(&m.parameter_size),
                for_terminal(&m.format.to_uppercase()),
                for_terminal(&m.quantization),
                human_bytes(m.size_bytes)
            );
        }
    } else {
        for m in &l.models {
            outln!("  {}", for_terminal(&m.name));
        }
    }
}

fn human_bytes(n: u64) -> String {
    let n = n as f64;
    if n >= 1e9 {
        format!("{:.1} GB", n / 1e9)
    } else if n >= 1e6 {
        format!("{:.1} MB", n / 1e6)
    } else {
        format!("{n} B")
    }
}

/// Progress of a pull or create: one line redrawn with `\r` on a terminal; on a pipe, a
/// line per new status or per 10 % step, so logs stay short.
struct ProgressLine {
    tty: bool,
    drawn: bool,
    last: (String, u64),
}

impl ProgressLine {
    fn new() -> Self {
        Self {
            tty: std::io::stdout().is_terminal(),
            drawn: false,
            last: (String::new(), u64::MAX),
        }
    }

    fn show(&mut self, p: &Progress) {
        let status = for_terminal(&p.status).into_owned();
        let pct = match (p.completed, p.total) {
            (Some(c), Some(t)) if t > 0 => Some((c.min(t) * 100 / t, c, t)),
            _ => None,
        };
        let mut out = std::io::stdout();
        if self.tty {
            let line = match pct {
                Some((pct, c, t)) => {
                    let filled = (pct / 5) as usize;
                    format!(
                        "{status} [{}{}] {pct:>3}% {}/{}",
                        "#".repeat(filled),
                        " ".repeat(20 - filled),
                        human_bytes(c),
                        human_bytes(t)
                    )
                }
                None => status,
            };
            let _ = write!(out, "\r\x1b[2K{line}");
            self.drawn = true;
        } else {
            let step = pct.map_or(u64::MAX, |(p, _, _)| p / 10);
            if self.last.0 != status || self.last.1 != step {
                let _ = match pct {
                    Some((pct, c, t)) => writeln!(
                        out,
                        "{status} {pct}% ({}/{})",
                        human_bytes(c),
                        human_bytes(t)
                    ),
                    None => writeln!(out, "{status}"),
                };
                self.last = (status, step);
            }
        }
        let _ = out.flush();
    }

    fn end(&mut self) {
        if self.drawn {
            outln!();
            self.drawn = false;
        }
    }
}
