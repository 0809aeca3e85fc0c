//! Starting a node's protocol hooks: the outbox on the bus's Redis when there is one
//! (shared by the nodes, each delivery attempted by one), else in `<data>/hooks.redb`;
//! the signing secrets; the check every added hook passes.

use std::path::Path;
use std::sync::Arc;

use tokio::sync::broadcast;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use crate::approvals::{Approvals, Rule};
use crate::config::Config;
use crate::context::ContextHub;
use crate::event::RuntimeEvent;
use crate::hooks::outbox::{local::LocalOutbox, redis::RedisOutbox};
use crate::hooks::spec::HookRefused;
use crate::hooks::{Hooks, HooksOptions, Outbox, SystemClock, Targets};

use super::dispatcher::Dispatcher;
use super::runtime::RuntimeInfo;
use super::types::RuntimeError;

/// The runtime's parts the hooks act through.
pub(crate) struct HookParts {
    pub dispatcher: Dispatcher,
    pub actions: Arc<crate::actions::Actions>,
    pub mcp: crate::mcp_client::McpServers,
    pub http: reqwest::Client,
    pub approvals: Option<Approvals>,
    pub rules: Arc<Vec<Rule>>,
    pub events: broadcast::Sender<RuntimeEvent>,
}

pub(crate) async fn start_hooks(
    config: &Config,
    data_dir: &Path,
    info: &RuntimeInfo,
    hub: &ContextHub,
    parts: HookParts,
    tasks: &TaskTracker,
    cancel: CancellationToken,
) -> Result<Hooks, RuntimeError> {
    let open_err = |message: String| RuntimeError::Open {
        what: "the hook outbox".into(),
        message,
    };
    let outbox: Arc<dyn Outbox> = if info.bus == "redis" {
        Arc::new(
            RedisOutbox::connect(&config.bus.url, &config.bus.prefix)
                .await
                .map_err(|e| open_err(e.to_string()))?,
        )
    } else {
        Arc::new(
            LocalOutbox::open(&data_dir.join("hooks.redb")).map_err(|e| open_err(e.to_string()))?,
        )
    };
    let secrets = crate::hooks::signing_secrets(&config.hooks, &config.secrets, data_dir)
        .map_err(|e| RuntimeError::Config(e.to_string()))?;
    let known = crate::hooks::known_of(config);
    // Hooks added over MCP pass the same check as those in config.
    let check_known = known.clone();
    let config_hooks: std::collections::BTreeMap<String, Vec<String>> = hub
        .catalog()
        .agents()
        .iter()
        .map(|a| {
            (
                a.id.clone(),
                a.protocol_hooks.iter().map(|h| h.name.clone()).collect(),
            )
        })
        .collect();
    hub.set_hook_check(Arc::new(move |agent_id, hook| {
        if config_hooks
            .get(agent_id)
            .is_some_and(|names| names.contains(&hook.name))
        {
            return Err(HookRefused::FromConfig {
                name: hook.name.clone(),
                agent_id: agent_id.to_string(),
            });
        }
        crate::hooks::spec::check(&hook.on, &hook.action, &check_known)?;
        Ok(())
    }));
    Ok(Hooks::start(
        HooksOptions {
            config: config.hooks.clone(),
            secrets,
            node: info.node.clone(),
            outbox,
            hub: hub.clone(),
            known,
            targets: Targets {
                http: parts.http,
                actions: parts.actions,
                mcp: parts.mcp,
                intents: Arc::new(parts.dispatcher),
            },
            approvals: parts.approvals,
            rules: parts.rules,
            events: parts.events,
            clock: Arc::new(SystemClock),
        },
        tasks,
        cancel,
    ))
}
