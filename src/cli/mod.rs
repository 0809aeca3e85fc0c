//! The command line: argument definitions (clap) and one module per subcommand.

#[macro_use]
pub mod out;
mod agents;
mod approvals;
pub mod audit;
mod compose;
mod context;
mod dispatch;
mod doctor;
mod health;
pub mod hooks;
mod mcp;
mod memory;
mod models;
mod reembed;
mod replay;
mod serve;
mod session;
mod tools;
mod watch;
pub mod why;

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};
use color_eyre::eyre::Result;

use crate::config::{Config, ConfigSource, LoadOptions};

pub use session::Session;

#[derive(Debug, Parser)]
#[command(
    name = "aios",
    version,
    about = "Terminal control center for the AI ∞ OS multi-agent runtime",
    long_about = "aios embeds the whole multi-agent runtime (30 agents, the MCP context hub, \
                  the audit log) and draws it live in the terminal. Run without a command to \
                  open the control center.",
    after_help = "Configuration: --config, then $AIOS_CONFIG, ./config.toml, ~/.config/aios/config.toml; \
                  every key can be set as AIOS_<SECTION>_<KEY>."
)]
pub struct Cli {
    /// Configuration file (default: $AIOS_CONFIG, ./config.toml, then the platform config dir).
    #[arg(long, global = true, value_name = "PATH")]
    pub config: Option<PathBuf>,
    /// Data dir: state store, audit log, control socket and logs (overrides runtime.data_dir).
    #[arg(long, global = true, value_name = "PATH")]
    pub data_dir: Option<PathBuf>,
    #[command(subcommand)]
    pub command: Option<Command>,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Open the control center (the default).
    Tui {
        /// Watch and steer a runtime that runs elsewhere (an `aios serve` on a server)
        /// through its Redis alone, e.g. redis://server:6379.
        #[arg(long, value_name = "REDIS_URL")]
        attach: Option<String>,
        /// Watch only: the keys that change anything (intents, stop, goals, approvals) are
        /// hidden from the help and refused.
        #[arg(long)]
        read_only: bool,
    },
    /// Run the runtime headless (logs to a file), serving the control socket.
    Serve,
    /// Send an intent to an agent and print its streamed reply.
    Dispatch(dispatch::DispatchArgs),
    /// List the agents, grouped by category.
    Agents {
        /// Print JSON instead of a table.
        #[arg(long)]
        json: bool,
    },
    /// List the tool calls waiting for a person, with what each will do.
    Approvals {
        /// Print JSON instead of text.
        #[arg(long)]
        json: bool,
    },
    /// Approve a waiting tool call (`aios approvals` lists them).
    Approve {
        /// The approval's id.
        id: String,
        /// Run it with these arguments instead (a JSON object).
        #[arg(long, value_name = "JSON")]
        args: Option<String>,
        /// Also allow this tool for this agent from now on without asking (a rule, audited).
        #[arg(long)]
        always: bool,
    },
    /// Deny a waiting tool call; the reason is told to the agent's model.
    Deny {
        /// The approval's id.
        id: String,
        #[arg(long)]
        reason: String,
    },
    /// List each agent's protocol hooks with their latest deliveries; `hooks retry ID`
    /// sends a dead-lettered delivery again.
    Hooks(hooks::HooksArgs),
    /// List each agent's tools (or one agent's) and where each comes from.
    Tools {
        /// Only this agent.
        agent: Option<String>,
        /// Print JSON instead of a table.
        #[arg(long)]
        json: bool,
        /// The outside MCP servers instead: state, tool count, restarts, last error.
        #[arg(long, conflicts_with = "agent")]
        servers: bool,
    },
    /// Show an agent's context, its versions, or the diff of two versions.
    Context(context::ContextArgs),
    /// Search an agent's memory as recall does (`memory search`); rebuild the vector
    /// stores with the embedder configured now (`memory reembed`).
    Memory(memory::MemoryArgs),
    /// Read, verify or export the audit log (works while another process owns the data dir).
    Audit {
        #[command(subcommand)]
        cmd: audit::AuditCommand,
    },
    /// Open the control center on a recording: scrub through what happened, ask "why?"
    /// of any row; `--check` verifies it, `--diff A B` compares two causal chains.
    Replay(replay::ReplayArgs),
    /// Serve MCP on stdin/stdout (for MCP clients that launch a command); through the
    /// running owner of the data dir when there is one.
    Mcp,
    /// Live bus traffic, one line per message (for SSH sessions without the TUI).
    Watch(watch::WatchArgs),
    /// List the models each runner serves; pull a model; create one with a LoRA adapter.
    Models(models::ModelsArgs),
    /// Check configuration, policy and every backend (and, next to a compose file, every
    /// service of that deployment).
    Doctor {
        /// Print JSON instead of a table.
        #[arg(long)]
        json: bool,
        /// Compose file whose services must all answer (default: a compose file in the
        /// current directory, where a service that is down is only a warning).
        #[arg(long, value_name = "PATH")]
        compose: Option<PathBuf>,
    },
    /// Why did this happen? The causal chain of an intent (or an audit record's) as a
    /// tree: who asked, recall, the prompt, tokens, tool calls and approvals, the context
    /// diff, and what it caused. Reads the flight recording; works while another process
    /// owns the data dir.
    Why(why::WhyArgs),
    /// Exit 0 when the owner of the data dir answers on its control socket (for container
    /// healthchecks); never starts a runtime itself.
    Health,
}

/// Load the configuration as the global flags say.
pub fn load_config(cli: &Cli) -> Result<(Config, ConfigSource), crate::config::ConfigError> {
    let opts = LoadOptions {
        config_path: cli.config.clone(),
        data_dir: cli.data_dir.clone(),
        env: None,
    };
    crate::config::load(&opts)
}

/// The data dir and (when elsewhere) the audit dir, created private or made private.
fn private_dirs(config: &Config) -> Vec<String> {
    let data_dir = config.data_dir();
    let audit_dir = config.audit_dir();
    let mut warnings = crate::file_modes::secure_data_dir(&data_dir);
    if !audit_dir.starts_with(&data_dir) {
        warnings.extend(crate::file_modes::secure_dir(&audit_dir));
    }
    warnings
}

/// Run the parsed command line; errors are printed by `main` as one line.
pub async fn run(cli: Cli) -> Result<ExitCode> {
    if let Some(Command::Doctor { json, compose }) = &cli.command {
        return doctor::run(&cli, *json, compose.as_deref()).await;
    }
    let (mut config, _source) = load_config(&cli)?;
    // Vault references are read before the log file opens, so that the values read join
    // its redaction patterns; commands that read only local files need no Vault.
    let offline = match &cli.command {
        Some(Command::Health | Command::Why(_) | Command::Replay(_)) => true,
        // The audit commands read files; only the mirror comparison needs the bus URL.
        Some(Command::Audit { .. }) => !crate::secrets::is_vault_ref(config.bus.url.expose()),
        _ => false,
    };
    if !offline {
        crate::secrets::resolve_config(&mut config)
            .await
            .map_err(|e| color_eyre::eyre::eyre!("{e}"))?;
    }
    // Before the log file: a healthcheck runs every few seconds and has nothing to log.
    if let Some(Command::Health) = &cli.command {
        return health::run(&config).await;
    }
    let loose = private_dirs(&config);
    let tui = match &cli.command {
        None | Some(Command::Tui { .. }) => true,
        Some(Command::Replay(a)) => !a.check && a.diff.is_none(),
        _ => false,
    };
    let _log = crate::telemetry::init(&config.data_dir(), &config.audit.redact, &config.secrets);
    for warning in &loose {
        tracing::warn!("{warning}");
        // The control center's screen would hide it; its log keeps it.
        if !tui {
            eprintln!("aios: warning: {warning}");
        }
    }
    match cli.command.unwrap_or(Command::Tui {
        attach: None,
        read_only: false,
    }) {
        Command::Tui { attach, read_only } => crate::tui::run(config, attach, read_only).await,
        Command::Serve => serve::run(config).await,
        Command::Dispatch(args) => dispatch::run(config, args).await,
        Command::Agents { json } => agents::run(config, json).await,
        Command::Tools {
            servers: true,
            json,
            ..
        } => tools::servers(config, json).await,
        Command::Tools { agent, json, .. } => tools::run(config, agent, json).await,
        Command::Approvals { json } => approvals::list(config, json).await,
        Command::Hooks(args) => hooks::run(config, args).await,
        Command::Replay(args) => replay::run(config, args).await,
        Command::Approve { id, args, always } => {
            approvals::approve(config, id, args.as_deref(), always).await
        }
        Command::Deny { id, reason } => approvals::deny(config, id, reason).await,
        Command::Context(args) => context::run(config, args).await,
        Command::Memory(args) => memory::run(config, args).await,
        Command::Watch(args) => watch::run(config, args).await,
        Command::Models(args) => models::run(config, args).await,
        Command::Mcp => mcp::run(config).await,
        Command::Audit { cmd } => audit::run(&config, cmd).await.map(|()| ExitCode::SUCCESS),
        Command::Why(args) => Ok(why::run(&config, args)),
        Command::Doctor { .. } | Command::Health => unreachable!("handled above"),
    }
}
