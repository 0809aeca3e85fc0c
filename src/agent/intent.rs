//! Intents and how an agent handles one: recall → prompt → stream → run the tools the model
//! asks for and feed their results back, until it answers → new context version → episodic
//! memory → trace. Every step goes through the ContextHub (audited) and is told to the UI as
//! a `RuntimeEvent`.

use futures::StreamExt;
use tokio::sync::broadcast;
use tokio_util::sync::CancellationToken;

use crate::bus::{Bus, Envelope, Source, channels, kinds};
use crate::context::{Call, Caller, ContextHub};
use crate::event::{AgentStatus, RuntimeEvent};
use crate::llm::{LlmRunner, TokenEvent, TokenStream};

use super::dispatcher::Dispatcher;
use super::pending::Pending;
use super::registry::Registry;
use super::tools::{self, ToolScope};
use super::turn::{Attention, Decision, Effect, Event, LOOP_REPEATS, Origin, Setup, Turn};
use super::turn_record::{self, TurnRecord};
use super::types::{Intent, IntentFailure, IntentReply, IntentResult, StatusBoard, TurnFailure};
use crate::approvals::{Approvals, Rule, verdict};
use crate::llm::ToolCall;

/// What an agent's task needs to handle intents.
pub struct AgentWorker {
    pub hub: ContextHub,
    pub runner: std::sync::Arc<dyn LlmRunner>,
    pub model: String,
    pub recall_k: usize,
    pub events: broadcast::Sender<RuntimeEvent>,
    pub status: StatusBoard,
    pub bus: std::sync::Arc<dyn Bus>,
    pub pending: Pending,
    pub node: String,
    pub dispatcher: Dispatcher,
    pub max_tool_rounds: u32,
    /// The runtime-wide token: tells a shutdown from an operator's stop of one intent.
    pub shutdown: CancellationToken,
    /// Every tool there is; each agent gets those its list names.
    pub registry: std::sync::Arc<Registry>,
    /// The HTTP actions, and the client that sends them (no redirects, no proxy).
    pub actions: std::sync::Arc<crate::actions::Actions>,
    pub http: reqwest::Client,
    /// The calls waiting for a person, and the rules of the gate (`[[approvals.rules]]`).
    pub approvals: Approvals,
    pub rules: std::sync::Arc<Vec<Rule>>,
    /// The outside MCP servers whose tools agents call.
    pub mcp: crate::mcp_client::McpServers,
    /// What only the turn knows goes on record here: recall, the model request, tool calls.
    pub recorder: crate::recorder::Recorder,
}

/// Takes an approval off the list when its wait ends any other way than a decision (the
/// intent was stopped while it waited): nobody should approve a call that no longer waits.
struct Withdraw<'a> {
    approvals: &'a Approvals,
    id: String,
}

impl Drop for Withdraw<'_> {
    fn drop(&mut self) {
        self.approvals
            .withdraw(&self.id, "aios", "the intent stopped while it waited");
    }
}

impl AgentWorker {
    fn stop_reason(&self) -> String {
        if self.shutdown.is_cancelled() {
            "stopped: the runtime is shutting down".into()
        } else {
            "stopped by the operator".into()
        }
    }

    fn set_status(&self, agent_id: &str, status: AgentStatus) {
        self.status.set(agent_id, status);
        let _ = self.events.send(RuntimeEvent::Status {
            agent_id: agent_id.to_string(),
            status,
        });
    }

    /// The turn machine for an intent, with this worker's tools and gate.
    pub fn turn(&self, intent: &Intent) -> Turn {
        Turn::new(Setup {
            intent_id: intent.id.clone(),
            agent_id: intent.agent_id.clone(),
            text: intent.text.clone(),
            from: intent.from.to_string(),
            default_model: self.model.clone(),
            runner: self.runner.name().to_string(),
            recall_k: self.recall_k,
            max_tool_rounds: self.max_tool_rounds,
            tools: self.tools_of(&intent.agent_id),
            gate: {
                // Operator-added rules ("always allow") first, then the configured ones.
                let mut rules = self.approvals.added_rules();
                rules.extend(self.rules.iter().cloned());
                let agent_id = intent.agent_id.clone();
                Box::new(move |call, origin| {
                    verdict(&rules, &agent_id, &call.name, &call.arguments, origin)
                })
            },
        })
    }

    /// The tools an agent may call: its list resolved against the registry, now.
    fn tools_of(&self, agent_id: &str) -> Vec<(crate::llm::ToolSpec, Origin)> {
        let Ok(spec) = self.hub.spec(agent_id) else {
            return Vec::new();
        };
        self.registry
            .resolve(&spec.tools)
            .tools
            .into_iter()
            .map(|t| (t.spec(), t.origin))
            .collect()
    }

    /// Handle one intent to its end.
    ///
    /// A thin driver: the [`Turn`] machine decides, this loop performs its effects and
    /// feeds the results back, and reads the model stream while one is open.
    pub async fn handle(
        &self,
        intent: &Intent,
        cancel: &CancellationToken,
    ) -> Result<IntentReply, TurnFailure> {
        let mut turn = self.turn(intent);
        let mut effects = turn.step(Event::Start);
        let mut stream: Option<TokenStream> = None;
        let mut record = TurnRecord::new(&self.recorder, &intent.agent_id, &intent.id);
        loop {
            let mut waited = None;
            for effect in effects.drain(..) {
                if effect.awaits() {
                    waited = Some(effect);
                    continue;
                }
                if let Effect::Finish(outcome) = effect {
                    return *outcome;
                }
                if let Effect::ToolRefused { call, reason } = &effect {
                    record.refused(call, reason);
                }
                self.tell(intent, effect);
            }
            let event = match waited {
                Some(Effect::Chat(request)) => {
                    record.request(&request);
                    tokio::select! {
                        s = self.runner.chat(*request) => match s {
                            Ok(s) => {
                                stream = Some(s);
                                Event::StreamOpened
                            }
                            Err(e) => Event::Failed(e.to_string()),
                        },
                        () = cancel.cancelled() => Event::Cancelled(self.stop_reason()),
                    }
                }
                Some(effect) => {
                    let about = turn_record::Pending::of(&effect);
                    let event = tokio::select! {
                        ev = self.perform(intent, effect) => ev,
                        () = cancel.cancelled() => Event::Cancelled(self.stop_reason()),
                    };
                    record.outcome(about, &event);
                    event
                }
                None if turn.is_streaming() => {
                    let Some(s) = stream.as_mut() else {
                        return Err(TurnFailure::Internal(
                            "the turn streams with no stream open".into(),
                        ));
                    };
                    let event = tokio::select! {
                        next = s.next() => match next {
                            // The hot path: the machine keeps the text, the UI gets it.
                            Some(Ok(TokenEvent::Content { text })) if turn.token(&text, false) => {
                                self.token(intent, text, false);
                                continue;
                            }
                            Some(Ok(TokenEvent::Thinking { text })) if turn.token(&text, true) => {
                                self.token(intent, text, true);
                                continue;
                            }
                            other => stream_event(other),
                        },
                        () = cancel.cancelled() => Event::Cancelled(self.stop_reason()),
                    };
                    if !matches!(event, Event::Token { .. } | Event::ToolCallRequested(_)) {
                        stream = None;
                    }
                    record.usage(&event);
                    event
                }
                None => {
                    return Err(TurnFailure::Internal("the turn waits for nothing".into()));
                }
            };
            turn.step_into(event, &mut effects);
        }
    }

    /// Perform an effect nobody waits for: status, tokens, UI events, metrics, audit.
    fn tell(&self, intent: &Intent, effect: Effect) {
        let agent_id = intent.agent_id.as_str();
        match effect {
            Effect::Status(status) => self.set_status(agent_id, status),
            Effect::Token { text, thinking } => self.token(intent, text, thinking),
            Effect::ModelTurn { usage, first } => {
                crate::metrics::model_turn(agent_id, &usage, first);
            }
            Effect::ToolCalled { call, shown } => {
                let _ = self.events.send(RuntimeEvent::ToolCalled {
                    agent_id: agent_id.to_string(),
                    intent_id: intent.id.clone(),
                    call_id: call.id,
                    name: call.name,
                    arguments: shown,
                });
            }
            Effect::ToolFinished { call, ok, shown } => {
                // A label from a closed set: the registry's names (the model may say anything).
                let label = match self.registry.get(&call.name) {
                    Some(_) => call.name.as_str(),
                    None => "unknown",
                };
                crate::metrics::tool_called(agent_id, label, ok);
                let _ = self.events.send(RuntimeEvent::ToolFinished {
                    agent_id: agent_id.to_string(),
                    intent_id: intent.id.clone(),
                    call_id: call.id,
                    name: call.name,
                    ok,
                    summary: shown,
                });
            }
            Effect::ToolRefused { call, reason } => {
                tracing::info!(agent = %agent_id, intent = %intent.id, tool = %call.name, %reason, "tool call refused");
                // On the audit chain: who asked for what, and why it did not run.
                self.record_tool(
                    intent,
                    "tool_refused",
                    serde_json::json!({"tool": call.name, "arguments": call.arguments}),
                    Err(reason),
                    std::time::Instant::now(),
                );
            }
            Effect::Attention(why) => {
                let reason = match why {
                    Attention::Looping { tool } => format!(
                        "looping: called {tool} with the same arguments {LOOP_REPEATS} times (stopped)"
                    ),
                };
                tracing::warn!(agent = %agent_id, intent = %intent.id, %reason, "agent needs attention");
                let _ = self.events.send(RuntimeEvent::Attention {
                    agent_id: agent_id.to_string(),
                    intent_id: intent.id.clone(),
                    reason,
                });
            }
            // Awaited effects and Finish never reach here (see `handle`).
            other => {
                tracing::error!(agent = %agent_id, effect = ?other, "an awaited effect was told");
            }
        }
    }

    /// Put a call up for approval with a preview of what it will do, and wait for the
    /// decision; no decision within the timeout is a denial.
    async fn ask(&self, intent: &Intent, call: &ToolCall, origin: Origin) -> Decision {
        let preview = self.preview(&intent.agent_id, call, origin).await;
        let asked =
            self.approvals
                .ask(&intent.agent_id, &intent.id, call, origin.as_str(), preview);
        let (pending, decided) = match asked {
            Ok(x) => x,
            Err(e) => {
                return Decision::Deny {
                    by: "aios".into(),
                    reason: format!("cannot keep the approval: {e}"),
                };
            }
        };
        let _withdraw = Withdraw {
            approvals: &self.approvals,
            id: pending.id.clone(),
        };
        let timeout = self.approvals.timeout();
        tokio::select! {
            d = decided => d.unwrap_or_else(|_| Decision::Deny {
                by: "aios".into(),
                reason: "the approval was dropped".into(),
            }),
            () = tokio::time::sleep(timeout) => {
                let reason = format!("no decision within {} s", timeout.as_secs());
                self.approvals.withdraw(&pending.id, "timeout", &reason);
                Decision::Deny { by: "timeout".into(), reason }
            }
        }
    }

    /// What a call will do, for the person who decides; secrets masked.
    async fn preview(&self, agent_id: &str, call: &ToolCall, origin: Origin) -> String {
        let text = match origin {
            Origin::Http => match self.actions.get(&call.name) {
                Some(action) => {
                    match action.prepare(&call.arguments, &|n| self.actions.secret(n)) {
                        Ok(request) => request.to_text(),
                        Err(e) => format!("will not be sent: {e}"),
                    }
                }
                None => format!("there is no HTTP action `{}`", call.name),
            },
            Origin::Mcp => {
                let (server, tool) = self
                    .mcp
                    .describe(&call.name)
                    .unwrap_or_else(|| ("(not connected)".into(), call.name.clone()));
                format!(
                    "MCP server: {server}\ntool: {tool}\narguments:\n{}",
                    serde_json::to_string_pretty(&call.arguments).unwrap_or_default()
                )
            }
            Origin::Builtin => tools::dry_run(&self.hub, agent_id, call).await,
        };
        self.hub.audit_log().redactor().redact(&text).into_owned()
    }

    /// One tool step on the audit chain, as the agent, tied to its intent. It follows what
    /// already happened (a call ran, or was refused), so a record that cannot be written is
    /// logged loudly rather than pretending the step did not happen.
    fn record_tool(
        &self,
        intent: &Intent,
        action: &str,
        mut input: serde_json::Value,
        result: Result<(), String>,
        started: std::time::Instant,
    ) {
        let agent_id = intent.agent_id.as_str();
        input["intent_id"] = serde_json::json!(intent.id);
        let recorded = self.hub.record(
            &Caller::agent(agent_id),
            Call {
                agent_id: Some(agent_id),
                action,
                input,
                context_id: None,
                result,
                started,
            },
        );
        if let Err(e) = recorded {
            tracing::error!(agent = %agent_id, intent = %intent.id, action, error = %e, "a tool step could not be audited");
        }
    }

    /// Call a tool of an outside MCP server; its result (a tool error included) is the
    /// model's to read, and the call is on the audit chain as `mcp_tool`.
    async fn run_mcp(&self, intent: &Intent, call: &ToolCall) -> Result<serde_json::Value, String> {
        // Write-ahead, as for every call that changes something: no record, no call.
        if let Err(e) = self.hub.audit_log().ready() {
            return Err(format!("not called: {e}"));
        }
        let started = std::time::Instant::now();
        let (server, tool) = self
            .mcp
            .describe(&call.name)
            .unwrap_or_else(|| (String::new(), call.name.clone()));
        let result = self
            .mcp
            .call(&call.name, call.arguments.clone())
            .await
            .map_err(|e| e.to_string());
        self.record_tool(
            intent,
            "mcp_tool",
            serde_json::json!({
                "server": server,
                "tool": tool,
                "arguments": call.arguments,
                "is_error": result.as_ref().ok().and_then(|v| v.get("isError")).cloned(),
            }),
            result.as_ref().map(|_| ()).map_err(Clone::clone),
            started,
        );
        result
    }

    /// Send an HTTP action's request; its answer (any status) is the model's to read, and
    /// the call is on the audit chain with the request as previewed (secrets masked).
    async fn run_action(
        &self,
        intent: &Intent,
        call: &ToolCall,
    ) -> Result<serde_json::Value, String> {
        let Some(action) = self.actions.get(&call.name) else {
            return Err(format!("there is no HTTP action `{}`", call.name));
        };
        // Write-ahead, as for every call that changes something: no record, no request.
        if let Err(e) = self.hub.audit_log().ready() {
            return Err(format!("not sent: {e}"));
        }
        let started = std::time::Instant::now();
        let prepared = action
            .prepare(&call.arguments, &|n| self.actions.secret(n))
            .map_err(|e| e.to_string());
        let outcome = match prepared {
            Ok(request) => {
                let preview = request.preview();
                let sent = action
                    .execute(&self.http, request)
                    .await
                    .map_err(|e| e.to_string());
                (Some(preview), sent)
            }
            Err(e) => (None, Err(e)),
        };
        let (preview, sent) = outcome;
        let status = sent.as_ref().ok().map(|o| o.status);
        self.record_tool(
            intent,
            "http_action",
            serde_json::json!({"action": call.name, "request": preview, "status": status}),
            sent.as_ref().map(|_| ()).map_err(Clone::clone),
            started,
        );
        sent.and_then(|o| serde_json::to_value(o).map_err(|e| e.to_string()))
    }

    /// Perform an effect the turn waits for, and turn its outcome into the next event.
    async fn perform(&self, intent: &Intent, effect: Effect) -> Event {
        let agent_id = intent.agent_id.as_str();
        let me = Caller::agent(agent_id);
        let hub = &self.hub;
        let failed = |e: crate::context::HubError| Event::Failed(e.to_string());
        match effect {
            Effect::Recall { query, k } => match hub.recall(&me, agent_id, &query, k, None).await {
                Ok(items) => Event::Recalled(items),
                Err(e) => failed(e),
            },
            Effect::LoadState => {
                let state = match hub.get_agent(&me, agent_id).await {
                    Ok(s) => s,
                    Err(e) => return failed(e),
                };
                match hub.get_context(&me, agent_id, None).await {
                    Ok(previous) => Event::StateLoaded {
                        state: Box::new(state),
                        previous: previous.map(Box::new),
                    },
                    Err(e) => failed(e),
                }
            }
            Effect::LoadChat { limit } => match hub.chat_history(&me, agent_id, limit).await {
                Ok(h) => Event::ChatLoaded(h),
                Err(e) => failed(e),
            },
            Effect::RunTool { call, origin } => {
                let result = match origin {
                    Origin::Builtin => {
                        let scope = ToolScope {
                            hub: &self.hub,
                            dispatcher: &self.dispatcher,
                            agent_id,
                            intent_id: &intent.id,
                            trace_id: &intent.trace_id,
                            depth: intent.depth,
                        };
                        tools::run(&scope, &call).await.map_err(|e| e.to_string())
                    }
                    Origin::Http => self.run_action(intent, &call).await,
                    Origin::Mcp => self.run_mcp(intent, &call).await,
                };
                Event::ToolResult {
                    call_id: call.id,
                    result,
                }
            }
            Effect::AskApproval { call, origin } => {
                let decision = self.ask(intent, &call, origin).await;
                Event::ApprovalDecided {
                    call_id: call.id,
                    decision,
                }
            }
            Effect::WriteContext {
                text,
                summary,
                cause,
            } => match hub
                .update_context(&me, agent_id, text, summary, cause)
                .await
            {
                Ok(v) => Event::ContextWritten(Box::new(v)),
                Err(e) => failed(e),
            },
            Effect::Record(record) => {
                for (role, text) in &record.chat {
                    if let Err(e) = hub
                        .append_chat(&me, agent_id, role, text, Some(&intent.id))
                        .await
                    {
                        return failed(e);
                    }
                }
                if let Err(e) = hub
                    .remember(
                        &me,
                        agent_id,
                        "episodic",
                        &record.memory,
                        record.memory_tags,
                    )
                    .await
                {
                    return failed(e);
                }
                match hub
                    .append_trace(
                        &me,
                        agent_id,
                        "intent.handled",
                        &record.trace,
                        Some(&intent.id),
                    )
                    .await
                {
                    Ok(_) => Event::Recorded,
                    Err(e) => failed(e),
                }
            }
            other => Event::Failed(format!("internal: {other:?} is not awaited")),
        }
    }

    fn token(&self, intent: &Intent, text: String, thinking: bool) {
        let _ = self.events.send(RuntimeEvent::Token {
            agent_id: intent.agent_id.clone(),
            intent_id: intent.id.clone(),
            text,
            thinking,
        });
    }

    /// Handle an intent, report its outcome to the UI, to whoever waits (here or on another
    /// node) and acknowledge it on the bus. An intent stopped by shutdown is not
    /// acknowledged, so another node (or this one, restarted) takes it over.
    pub async fn run(&self, intent: Intent, cancel: &CancellationToken) {
        // Every record this intent's handling writes names it, its chain and its parent.
        let cause = crate::audit::cause::CallCause {
            intent_id: Some(intent.id.clone()),
            trace_id: Some(intent.trace_id.clone()),
            parent_id: intent.parent_id.clone(),
        };
        crate::audit::cause::scope(cause, self.run_caused(intent, cancel)).await;
    }

    async fn run_caused(&self, intent: Intent, cancel: &CancellationToken) {
        let agent_id = intent.agent_id.clone();
        let started = std::time::Instant::now();
        let outcome = std::panic::AssertUnwindSafe(self.handle(&intent, cancel));
        let outcome = match futures::FutureExt::catch_unwind(outcome).await {
            Ok(r) => r.map_err(IntentFailure::Turn),
            Err(_) => Err(IntentFailure::Panicked),
        };
        match &outcome {
            Ok(r) => {
                crate::metrics::intent_handled(&agent_id, started.elapsed());
                self.set_status(&agent_id, AgentStatus::Idle);
                let _ = self.events.send(RuntimeEvent::IntentDone {
                    agent_id: agent_id.clone(),
                    intent_id: intent.id.clone(),
                    reply: r.reply.clone(),
                    context_version: r.context_version,
                    runner: r.runner.clone(),
                    model: r.model.clone(),
                    tokens: r.usage.completion_tokens,
                });
            }
            Err(e) => {
                tracing::warn!(agent = %agent_id, intent = %intent.id, error = %e, "intent failed");
                crate::metrics::intent_failed(&agent_id);
                self.set_status(&agent_id, AgentStatus::Error);
                let _ = self.events.send(RuntimeEvent::IntentFailed {
                    agent_id: agent_id.clone(),
                    intent_id: intent.id.clone(),
                    error: e.to_string(),
                });
            }
        }
        self.status.intent_finished();
        // Only a shutdown leaves the intent for another node; an operator's stop is final.
        let stopped = outcome.is_err() && self.shutdown.is_cancelled();
        self.pending.resolve(&intent.id, outcome.clone());
        if stopped {
            return;
        }
        publish_result(self.bus.as_ref(), &self.node, &intent, outcome).await;
        if let Some(d) = &intent.delivery
            && let Err(e) = self.bus.ack(d).await
        {
            tracing::warn!(intent = %intent.id, error = %e, "could not acknowledge the intent");
        }
    }
}

/// The turn event for one item of the model stream.
pub fn stream_event(next: Option<Result<TokenEvent, crate::llm::LlmError>>) -> Event {
    match next {
        Some(Ok(TokenEvent::Content { text })) => Event::Token {
            text,
            thinking: false,
        },
        Some(Ok(TokenEvent::Thinking { text })) => Event::Token {
            text,
            thinking: true,
        },
        Some(Ok(TokenEvent::ToolCall { call })) => Event::ToolCallRequested(call),
        Some(Ok(TokenEvent::Done { usage })) => Event::TurnDone(Box::new(usage)),
        Some(Err(e)) => Event::Failed(e.to_string()),
        None => Event::Failed("the model stream ended without a final event".into()),
    }
}

/// Tell every node the outcome of an intent (on `aios.intents.results`).
pub async fn publish_result(
    bus: &dyn Bus,
    node: &str,
    intent: &Intent,
    outcome: Result<IntentReply, IntentFailure>,
) {
    // The channel carries text: nodes of other versions read it.
    let (reply, error) = match outcome {
        Ok(r) => (Some(r), None),
        Err(e) => (None, Some(e.to_string())),
    };
    let result = IntentResult {
        intent_id: intent.id.clone(),
        agent_id: intent.agent_id.clone(),
        reply,
        error,
    };
    let Ok(payload) = serde_json::to_value(&result) else {
        return;
    };
    let mut env = Envelope::new(
        kinds::RESULT,
        Source {
            node: node.to_string(),
            agent_id: Some(intent.agent_id.clone()),
            operator: None,
        },
        Some(&intent.agent_id),
        payload,
    );
    env.trace_id = Some(intent.trace_id.clone());
    env.parent_id = Some(intent.id.clone());
    if let Err(e) = bus.publish(channels::RESULTS, &env).await {
        tracing::warn!(intent = %intent.id, error = %e, "could not publish the intent's result");
    }
}
