//! `AiosMcp`: the ServerHandler over the ContextHub. One value per connection (stdio,
//! socket) or HTTP session; they share the runtime, the tool router and the update feed.

// `logging/setLevel` is deprecated by the 2026-07-28 revision (SEP-2577); 2025-11-25 clients
// still send it, and the conformance suite checks it.
#![allow(deprecated)]

use std::collections::HashSet;
use std::sync::{Arc, Mutex};
use std::time::Instant;

use rmcp::handler::server::router::tool::ToolRouter;
use rmcp::handler::server::tool::ToolCallContext;
use rmcp::model::{
    CallToolRequestParams, CallToolResponse, CallToolResult, CompleteRequestParams, CompleteResult,
    ContentBlock, GetPromptRequestParams, GetPromptResponse, Implementation, ListPromptsResult,
    ListResourceTemplatesResult, ListResourcesResult, ListToolsResult, LoggingLevel,
    PaginatedRequestParams, ReadResourceRequestParams, ReadResourceResponse, ReadResourceResult,
    ResourceUpdatedNotificationParam, ServerCapabilities, ServerConfig, SetLevelRequestParams,
    SubscribeRequestParams, SubscriptionFilter, UnsubscribeRequestParams,
};
use rmcp::service::{RequestContext, SubscriptionContext, SubscriptionSendError};
use rmcp::{ErrorData, RoleServer, ServerHandler, tool_handler};
use serde_json::json;
use tokio::sync::broadcast::error::RecvError;

use crate::agent::Runtime;
use crate::context::{Call, Caller, ContextHub, HubError};
use crate::roles::Role;

use super::access::{self, PROMPT_ROLE, PROTOCOL_ROLE};
use super::caller::access_of;
use super::complete::complete;
use super::limits::Limits;
use super::prompts::{self, HANDOFF_ARG};
use super::resources::{self, ResourceUri};
use super::updates::Updates;

const INSTRUCTIONS: &str = "aios: the ContextHub of a multi-agent runtime. Agents have goals, \
persona traits, protocol hooks, behavioral traces, a vector memory and a versioned context \
document. Start with list_agents; read state with get_agent, get_context, recall or the \
aios://agents/{agent_id}/{part} resources; steer with set_goals, update_context, \
add_protocol_hook, remember; make an agent act with dispatch_intent or handoff. Every call \
is audited under your client's name (tail_audit shows the log). Your role (viewer, operator \
or admin) decides which tools you may call; tools/list shows those.";

/// What every connection shares.
struct Shared {
    runtime: Runtime,
    updates: Updates,
    tools: ToolRouter<AiosMcp>,
    limits: Limits,
}

/// The MCP server of one connection or session.
#[derive(Clone)]
pub struct AiosMcp {
    shared: Arc<Shared>,
    /// `resources/subscribe` (2025-11-25) subscriptions of this connection.
    legacy: Arc<Mutex<Legacy>>,
    /// The level this connection's client asked for with `logging/setLevel`: kept for
    /// log notifications (aios sends none yet; its log goes to a file).
    log_level: Arc<Mutex<Option<LoggingLevel>>>,
}

#[derive(Default)]
struct Legacy {
    uris: HashSet<String>,
    forwarding: bool,
}

impl AiosMcp {
    pub fn new(runtime: Runtime, updates: Updates, limits: Limits) -> AiosMcp {
        AiosMcp {
            shared: Arc::new(Shared {
                runtime,
                updates,
                tools: Self::tool_router(),
                limits,
            }),
            legacy: Arc::default(),
            log_level: Arc::default(),
        }
    }

    /// A server for a new connection or session: same runtime, its own subscriptions.
    pub fn connection(&self) -> AiosMcp {
        AiosMcp {
            shared: self.shared.clone(),
            legacy: Arc::default(),
            log_level: Arc::default(),
        }
    }

    pub(super) fn limits(&self) -> Limits {
        self.shared.limits
    }

    /// The level set by `logging/setLevel` on this connection, if any.
    pub fn log_level(&self) -> Option<LoggingLevel> {
        self.log_level.lock().ok().and_then(|l| *l)
    }

    pub(super) fn hub(&self) -> &ContextHub {
        self.shared.runtime.hub()
    }

    pub(super) fn runtime(&self) -> &Runtime {
        &self.shared.runtime
    }

    /// A URI this server can serve: well-formed and naming a known agent.
    fn check_uri(&self, uri: &str) -> Result<ResourceUri, ErrorData> {
        let parsed = ResourceUri::parse(uri)
            .map_err(|e| ErrorData::resource_not_found(e.to_string(), None))?;
        if let ResourceUri::Part { agent_id, .. } = &parsed {
            self.hub()
                .spec(agent_id)
                .map_err(|e| ErrorData::resource_not_found(e.to_string(), None))?;
        }
        Ok(parsed)
    }

    /// `Ok` when `role` may do what `needed` may; else the refusal, audited under `caller`
    /// as `action` with `input` and both roles, as the JSON-RPC error to answer.
    fn admit(
        &self,
        caller: &Caller,
        role: Role,
        needed: Role,
        action: &str,
        agent_id: Option<&str>,
        mut input: serde_json::Value,
    ) -> Result<(), ErrorData> {
        let Err(denied) = role.check(needed) else {
            return Ok(());
        };
        if let (Some(map), serde_json::Value::Object(fields)) =
            (input.as_object_mut(), denied.fields())
        {
            map.extend(fields);
        }
        let recorded = self.hub().record(
            caller,
            Call {
                agent_id,
                action,
                input,
                context_id: None,
                result: Err(denied.to_string()),
                started: Instant::now(),
            },
        );
        if let Err(e) = recorded {
            tracing::error!(error = %e, "could not audit a refusal");
        }
        Err(access::refusal(&denied))
    }

    /// Audit a subscription request (it reads nothing, but who watches what is on record).
    fn audit_subscribe(&self, caller: &Caller, uris: &[String], result: Result<(), String>) {
        let agent = match uris {
            [one] => match ResourceUri::parse(one) {
                Ok(ResourceUri::Part { agent_id, .. }) if self.hub().spec(&agent_id).is_ok() => {
                    Some(agent_id)
                }
                _ => None,
            },
            _ => None,
        };
        let recorded = self.hub().record(
            caller,
            Call {
                agent_id: agent.as_deref(),
                action: "subscribe",
                input: json!({ "uris": uris }),
                context_id: None,
                result,
                started: Instant::now(),
            },
        );
        if let Err(e) = recorded {
            tracing::error!(error = %e, "could not audit a subscription");
        }
    }

    /// Forward changes of this connection's subscribed URIs to its client, until the
    /// client is gone.
    fn start_forwarding(&self, peer: rmcp::Peer<RoleServer>) {
        let mut rx = self.shared.updates.subscribe();
        let legacy = self.legacy.clone();
        self.shared.updates.spawn_until_stopped(async move {
            loop {
                let uri = match rx.recv().await {
                    Ok(uri) => uri,
                    Err(RecvError::Lagged(_)) => continue,
                    Err(RecvError::Closed) => break,
                };
                if peer.is_transport_closed() {
                    break;
                }
                let wanted = legacy
                    .lock()
                    .map(|l| l.uris.contains(&uri))
                    .unwrap_or(false);
                if wanted
                    && peer
                        .notify_resource_updated(ResourceUpdatedNotificationParam::new(uri))
                        .await
                        .is_err()
                {
                    break;
                }
            }
        });
    }
}

fn hub_error(e: HubError) -> ErrorData {
    match e {
        HubError::UnknownAgent { .. } | HubError::NotFound(_) => {
            ErrorData::resource_not_found(e.to_string(), None)
        }
        HubError::BadRequest(_) => ErrorData::invalid_params(e.to_string(), None),
        HubError::Forbidden(denied) => access::refusal(&denied),
        other => ErrorData::internal_error(other.to_string(), None),
    }
}

#[tool_handler(router = self.shared.tools)]
impl ServerHandler for AiosMcp {
    fn get_info(&self) -> ServerConfig {
        ServerConfig::new(
            ServerCapabilities::builder()
                .enable_completions()
                .enable_logging()
                .enable_prompts()
                .enable_resources()
                .enable_resources_subscribe()
                .enable_tools()
                .build(),
        )
        .with_server_info(
            Implementation::new(env!("CARGO_PKG_NAME"), env!("CARGO_PKG_VERSION"))
                .with_title("aios ContextHub"),
        )
        .with_instructions(INSTRUCTIONS)
    }

    /// Route to the tool, and audit the calls that never reach one: arguments of the wrong
    /// shape (a tool error for the client) and unknown tools (a protocol error).
    async fn call_tool(
        &self,
        request: CallToolRequestParams,
        context: RequestContext<RoleServer>,
    ) -> Result<CallToolResponse, ErrorData> {
        let (caller, role) = access_of(&context);
        let tool = request.name.to_string();
        let started = Instant::now();
        let known = self.shared.tools.get(&tool).is_some();
        let limits = self.limits();
        // What the audit record shows of the arguments, whatever happens next.
        let arguments = request
            .arguments
            .as_ref()
            .map(|a| limits.recordable(&tool, a));
        // The role first: a refused caller learns nothing about its arguments.
        if let Some(needed) = access::tool_role(&tool, request.arguments.as_ref()) {
            let agent = request
                .arguments
                .as_ref()
                .and_then(|a| a.get("agent_id"))
                .and_then(|a| a.as_str())
                .filter(|a| self.hub().spec(a).is_ok())
                .map(str::to_string);
            self.admit(
                &caller,
                role,
                needed,
                &tool,
                agent.as_deref(),
                json!({"tool": tool, "arguments": arguments}),
            )?;
        }
        // Text beyond the limit is refused before it is parsed further, stored or recorded.
        let oversized = request
            .arguments
            .as_ref()
            .and_then(|a| limits.oversized(&tool, a));
        let result = match &oversized {
            Some(why) => Ok(CallToolResponse::Complete(CallToolResult::error(vec![
                ContentBlock::text(format!("{tool}: {why}")),
            ]))),
            None => {
                self.shared
                    .tools
                    .call(ToolCallContext::new(self, request, context))
                    .await
            }
        };
        let refused = match &result {
            _ if oversized.is_some() => oversized,
            Err(e) => Some(e.message.to_string()),
            Ok(CallToolResponse::Complete(r)) if r.is_error == Some(true) => r
                .content
                .first()
                .and_then(|c| c.as_text())
                .map(|t| t.text.clone())
                .filter(|t| t.starts_with("failed to deserialize parameters")),
            Ok(_) => None,
        };
        if let Some(error) = refused {
            let recorded = self.hub().record(
                &caller,
                Call {
                    agent_id: None,
                    action: if known { &tool } else { "call_tool" },
                    input: json!({"tool": tool, "arguments": arguments}),
                    context_id: None,
                    result: Err(error),
                    started,
                },
            );
            if let Err(e) = recorded {
                tracing::error!(error = %e, "could not audit a refused tool call");
            }
        }
        result
    }

    /// The tools this caller's role may call (a viewer is not offered what it would be
    /// refused); a private answer, since it depends on who asks.
    async fn list_tools(
        &self,
        _request: Option<PaginatedRequestParams>,
        context: RequestContext<RoleServer>,
    ) -> Result<ListToolsResult, ErrorData> {
        let (caller, role) = access_of(&context);
        self.admit(&caller, role, PROTOCOL_ROLE, "list_tools", None, json!({}))?;
        let tools = self
            .shared
            .tools
            .list_all()
            .into_iter()
            .filter(|t| access::tool_role(&t.name, None).is_some_and(|needed| role >= needed))
            .collect();
        Ok(ListToolsResult::with_all_items(tools))
    }

    async fn list_resources(
        &self,
        _request: Option<PaginatedRequestParams>,
        context: RequestContext<RoleServer>,
    ) -> Result<ListResourcesResult, ErrorData> {
        let (caller, role) = access_of(&context);
        self.admit(
            &caller,
            role,
            PROTOCOL_ROLE,
            "list_resources",
            None,
            json!({}),
        )?;
        Ok(ListResourcesResult::with_all_items(resources::list()))
    }

    async fn list_resource_templates(
        &self,
        _request: Option<PaginatedRequestParams>,
        context: RequestContext<RoleServer>,
    ) -> Result<ListResourceTemplatesResult, ErrorData> {
        let (caller, role) = access_of(&context);
        self.admit(
            &caller,
            role,
            PROTOCOL_ROLE,
            "list_resource_templates",
            None,
            json!({}),
        )?;
        Ok(ListResourceTemplatesResult::with_all_items(
            resources::templates(),
        ))
    }

    async fn read_resource(
        &self,
        request: ReadResourceRequestParams,
        context: RequestContext<RoleServer>,
    ) -> Result<ReadResourceResponse, ErrorData> {
        let (caller, role) = access_of(&context);
        // A malformed URI is refused before the hub sees it; the hub audits the rest,
        // including unknown agents.
        let parsed = ResourceUri::parse(&request.uri)
            .map_err(|e| ErrorData::resource_not_found(e.to_string(), None))?;
        self.admit(
            &caller,
            role,
            access::resource_role(&parsed),
            "read_resource",
            None,
            json!({"uri": request.uri}),
        )?;
        let value = resources::read(self.hub(), &caller, &parsed)
            .await
            .map_err(hub_error)?;
        Ok(ReadResourceResult::new(vec![resources::contents(&request.uri, &value)]).into())
    }

    async fn subscribe(
        &self,
        request: SubscribeRequestParams,
        context: RequestContext<RoleServer>,
    ) -> Result<(), ErrorData> {
        let (caller, role) = access_of(&context);
        let uris = vec![request.uri.clone()];
        self.admit(
            &caller,
            role,
            PROTOCOL_ROLE,
            "subscribe",
            None,
            json!({"uris": uris}),
        )?;
        if let Err(e) = self.check_uri(&request.uri) {
            self.audit_subscribe(&caller, &uris, Err(e.message.to_string()));
            return Err(e);
        }
        self.audit_subscribe(&caller, &uris, Ok(()));
        let start = {
            let mut legacy = self
                .legacy
                .lock()
                .map_err(|_| ErrorData::internal_error("subscription state poisoned", None))?;
            legacy.uris.insert(request.uri);
            !std::mem::replace(&mut legacy.forwarding, true)
        };
        if start {
            self.start_forwarding(context.peer.clone());
        }
        Ok(())
    }

    async fn unsubscribe(
        &self,
        request: UnsubscribeRequestParams,
        _context: RequestContext<RoleServer>,
    ) -> Result<(), ErrorData> {
        if let Ok(mut legacy) = self.legacy.lock() {
            legacy.uris.remove(&request.uri);
        }
        Ok(())
    }

    fn accepted_subscription_filter(
        &self,
        requested: &SubscriptionFilter,
    ) -> Option<SubscriptionFilter> {
        // Resource updates only, for URIs this server can serve; the list notifications
        // never fire (agents, tools and prompts are fixed while the runtime runs).
        let uris: Vec<String> = requested
            .resource_subscriptions
            .iter()
            .flatten()
            .filter(|uri| self.check_uri(uri).is_ok())
            .cloned()
            .collect();
        Some(
            SubscriptionFilter::builder()
                .resource_subscriptions(uris)
                .build(),
        )
    }

    async fn listen(&self, context: SubscriptionContext) -> Result<(), ErrorData> {
        let (caller, role) = access_of(context.request_context());
        self.admit(&caller, role, PROTOCOL_ROLE, "subscribe", None, json!({}))?;
        let accepted: HashSet<String> = context
            .accepted()
            .resource_subscriptions
            .iter()
            .flatten()
            .cloned()
            .collect();
        let mut listed: Vec<String> = accepted.iter().cloned().collect();
        listed.sort();
        self.audit_subscribe(&caller, &listed, Ok(()));
        let mut rx = self.shared.updates.subscribe();
        loop {
            let uri = tokio::select! {
                () = context.cancelled() => return Ok(()),
                r = rx.recv() => match r {
                    Ok(uri) => uri,
                    Err(RecvError::Lagged(_)) => continue,
                    Err(RecvError::Closed) => return Ok(()),
                },
            };
            if !accepted.contains(&uri) {
                continue;
            }
            match context.sink().notify_resource_updated(uri).await {
                Ok(()) | Err(SubscriptionSendError::NotificationNotAccepted(_)) => {}
                Err(_) => return Ok(()),
            }
        }
    }

    async fn list_prompts(
        &self,
        _request: Option<PaginatedRequestParams>,
        context: RequestContext<RoleServer>,
    ) -> Result<ListPromptsResult, ErrorData> {
        let (caller, role) = access_of(&context);
        self.admit(&caller, role, PROMPT_ROLE, "list_prompts", None, json!({}))?;
        let agents = self.hub().list_agents(&caller).await.map_err(hub_error)?;
        Ok(ListPromptsResult::with_all_items(prompts::list(&agents)))
    }

    async fn get_prompt(
        &self,
        request: GetPromptRequestParams,
        context: RequestContext<RoleServer>,
    ) -> Result<GetPromptResponse, ErrorData> {
        let (caller, role) = access_of(&context);
        self.admit(
            &caller,
            role,
            PROMPT_ROLE,
            "get_prompt",
            None,
            json!({"name": request.name}),
        )?;
        let state = self
            .hub()
            .get_agent(&caller, &request.name)
            .await
            .map_err(|e| match e {
                HubError::UnknownAgent { .. } => {
                    ErrorData::invalid_params(format!("no prompt `{}`: {e}", request.name), None)
                }
                other => hub_error(other),
            })?;
        let handoff_to = match request.arguments.as_ref().and_then(|a| a.get(HANDOFF_ARG)) {
            None | Some(serde_json::Value::Null) => None,
            Some(serde_json::Value::String(s)) if s.trim().is_empty() => None,
            Some(serde_json::Value::String(peer)) => {
                let spec = self.hub().spec(peer.trim()).map_err(|e| {
                    ErrorData::invalid_params(format!("argument `{HANDOFF_ARG}`: {e}"), None)
                })?;
                Some(spec.id.clone())
            }
            Some(other) => {
                return Err(ErrorData::invalid_params(
                    format!("argument `{HANDOFF_ARG}` must be an agent id, got {other}"),
                    None,
                ));
            }
        };
        Ok(prompts::get(&state, handoff_to.as_deref()).into())
    }

    async fn set_level(
        &self,
        request: SetLevelRequestParams,
        context: RequestContext<RoleServer>,
    ) -> Result<(), ErrorData> {
        let (caller, role) = access_of(&context);
        self.admit(&caller, role, PROTOCOL_ROLE, "set_level", None, json!({}))?;
        if let Ok(mut level) = self.log_level.lock() {
            *level = Some(request.level);
        }
        Ok(())
    }

    async fn complete(
        &self,
        request: CompleteRequestParams,
        context: RequestContext<RoleServer>,
    ) -> Result<CompleteResult, ErrorData> {
        let (caller, role) = access_of(&context);
        self.admit(&caller, role, PROTOCOL_ROLE, "complete", None, json!({}))?;
        let ids: Vec<&str> = self
            .hub()
            .catalog()
            .agents()
            .iter()
            .map(|a| a.id.as_str())
            .collect();
        Ok(CompleteResult::new(complete(
            &ids,
            &request.r#ref,
            &request.argument,
        )))
    }
}
