//! Intents and how an agent handles one: recall → prompt → stream → run the tools the model
//! asks for and feed their results back, until it answers → new context version → episodic
//! memory → trace. Every step goes through the ContextHub (audited) and is told to the UI as
//! a `RuntimeEvent`.

use futures::StreamExt;
use serde::{Deserialize, Serialize};
use tokio::sync::broadcast;
use tokio_util::sync::CancellationToken;

use crate::bus::{Bus, Delivery, Envelope, Source, channels, kinds};
use crate::context::{Caller, Cause, ContextHub, now_rfc3339};
use crate::event::{AgentStatus, RuntimeEvent};
use crate::llm::{ChatMessage, ChatRequest, LlmRunner, TokenEvent, ToolCall, Usage};

use super::dispatcher::Dispatcher;
use super::pending::Pending;
use super::prompt::{Handled, PromptInput, build_request, next_context, short_id};
use super::tools::{self, ToolScope};

/// A request for an agent to act.
#[derive(Debug)]
pub struct Intent {
    /// UUIDv7: also the idempotency key.
    pub id: String,
    pub agent_id: String,
    pub text: String,
    /// Who asked (the audit `caller` of the dispatch).
    pub from: Caller,
    pub trace_id: String,
    pub parent_id: Option<String>,
    /// How many handoffs led here (0 for an operator's intent).
    pub depth: u32,
    /// The bus delivery to acknowledge once handled; `None` for intents not from the bus.
    pub delivery: Option<Delivery>,
}

/// The outcome of a handled intent.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct IntentReply {
    pub intent_id: String,
    pub agent_id: String,
    pub reply: String,
    pub context_version: u64,
    pub context_id: String,
    pub runner: String,
    pub model: String,
    pub usage: Usage,
}

/// Chat turns carried into a prompt.
const CHAT_IN_PROMPT: usize = 6;

/// What an agent's task needs to handle intents.
pub struct AgentWorker {
    pub hub: ContextHub,
    pub runner: std::sync::Arc<dyn LlmRunner>,
    pub model: String,
    pub recall_k: usize,
    pub events: broadcast::Sender<RuntimeEvent>,
    pub status: super::runtime::StatusBoard,
    pub bus: std::sync::Arc<dyn Bus>,
    pub pending: Pending,
    pub node: String,
    pub dispatcher: Dispatcher,
    pub max_tool_rounds: u32,
    /// The runtime-wide token: tells a shutdown from an operator's stop of one intent.
    pub shutdown: CancellationToken,
}

/// What one streamed model turn produced.
struct Turn {
    content: String,
    calls: Vec<ToolCall>,
    usage: Usage,
}

/// Longest tool arguments or result shown in a `RuntimeEvent`.
const SHOWN: usize = 300;

fn shortened(text: &str) -> String {
    let mut s: String = text.chars().take(SHOWN).collect();
    if s.len() < text.len() {
        s.push('…');
    }
    s
}

/// Token counts add up over the turns of one intent; the first turn's time to first token
/// is the one the operator waited for, the last turn's done reason is how it ended.
fn add_usage(total: &mut Usage, turn: &Usage, first: bool) {
    total.prompt_tokens += turn.prompt_tokens;
    total.completion_tokens += turn.completion_tokens;
    total.total_ms += turn.total_ms;
    total.prompt_eval_ms += turn.prompt_eval_ms;
    total.eval_ms += turn.eval_ms;
    total.load_ms += turn.load_ms;
    // One turn counted by aios makes the sum partly aios's own count: say so.
    if !turn.counted_by.is_runner() {
        total.counted_by = turn.counted_by;
    }
    if first {
        total.first_token_ms = turn.first_token_ms;
    }
    total.done_reason = turn.done_reason.clone();
}

/// What the results channel carries for each intent.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct IntentResult {
    pub intent_id: String,
    pub agent_id: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reply: Option<IntentReply>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

impl IntentResult {
    pub fn into_outcome(self) -> Result<IntentReply, String> {
        match (self.reply, self.error) {
            (Some(r), _) => Ok(r),
            (None, Some(e)) => Err(e),
            (None, None) => Err("the handling node sent an empty result".into()),
        }
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

    /// Handle one intent to its end; errors come back as text for the reply channel.
    pub async fn handle(
        &self,
        intent: &Intent,
        cancel: &CancellationToken,
    ) -> Result<IntentReply, String> {
        let agent_id = intent.agent_id.as_str();
        let me = Caller::agent(agent_id);
        let hub = &self.hub;

        self.set_status(agent_id, AgentStatus::Recalling);
        let recalled = hub
            .recall(&me, agent_id, &intent.text, self.recall_k, None)
            .await
            .map_err(|e| e.to_string())?;

        self.set_status(agent_id, AgentStatus::Thinking);
        let state = hub
            .get_agent(&me, agent_id)
            .await
            .map_err(|e| e.to_string())?;
        let previous = hub
            .get_context(&me, agent_id, None)
            .await
            .map_err(|e| e.to_string())?;
        // The spec's `chat_history` (support-agent): the conversation goes into the prompt
        // and each exchange is kept, in whatever store the runtime uses (Redis when shared).
        let keeps_chat = state.spec.memory_schema.contains_key("chat_history");
        let history = if keeps_chat {
            hub.chat_history(&me, agent_id, CHAT_IN_PROMPT)
                .await
                .map_err(|e| e.to_string())?
        } else {
            Vec::new()
        };
        let model = if state.spec.model.is_empty() {
            self.model.clone()
        } else {
            state.spec.model.clone()
        };
        let request = build_request(&PromptInput {
            spec: &state.spec,
            goals: &state.goals,
            persona_traits: &state.persona_traits,
            hooks: &state.protocol_hooks,
            recalled: &recalled,
            context: previous.as_ref().map(|c| c.text.as_str()),
            history: &history,
            intent: &intent.text,
            model: &model,
        });

        let (reply, usage) = self.converse(intent, request, cancel).await?;

        let at = now_rfc3339();
        let text = next_context(
            agent_id,
            &state.goals,
            previous.as_ref().map(|c| c.text.as_str()),
            &Handled {
                intent_id: &intent.id,
                from: intent.from.as_str(),
                text: &intent.text,
                reply: &reply,
                at: &at,
            },
        );
        let first_line: String = intent
            .text
            .lines()
            .next()
            .unwrap_or("")
            .chars()
            .take(60)
            .collect();
        let version = hub
            .update_context(
                &me,
                agent_id,
                text,
                format!("intent {}: {first_line}", short_id(&intent.id)),
                Cause {
                    caller: intent.from.0.clone(),
                    intent_id: Some(intent.id.clone()),
                    tool: None,
                },
            )
            .await
            .map_err(|e| e.to_string())?;
        if keeps_chat {
            for (role, text) in [
                ("user", intent.text.as_str()),
                ("assistant", reply.as_str()),
            ] {
                hub.append_chat(&me, agent_id, role, text, Some(&intent.id))
                    .await
                    .map_err(|e| e.to_string())?;
            }
        }
        let outcome: String = reply.chars().take(400).collect();
        hub.remember(
            &me,
            agent_id,
            "episodic",
            &format!("Intent: {}\nOutcome: {outcome}", intent.text),
            vec![format!("intent:{}", intent.id)],
        )
        .await
        .map_err(|e| e.to_string())?;
        hub.append_trace(
            &me,
            agent_id,
            "intent.handled",
            &format!("{first_line} → context v{}", version.version),
            Some(&intent.id),
        )
        .await
        .map_err(|e| e.to_string())?;

        Ok(IntentReply {
            intent_id: intent.id.clone(),
            agent_id: agent_id.to_string(),
            reply,
            context_version: version.version,
            context_id: version.context_id,
            runner: self.runner.name().to_string(),
            model: if self.runner.name() == "sim" {
                "sim".into()
            } else {
                model
            },
            usage,
        })
    }

    /// Stream the model, run the tools it calls and feed their results back, until it
    /// answers without calling one; after `max_tool_rounds` rounds it is offered no tools and
    /// must answer.
    async fn converse(
        &self,
        intent: &Intent,
        mut request: ChatRequest,
        cancel: &CancellationToken,
    ) -> Result<(String, Usage), String> {
        let agent_id = intent.agent_id.as_str();
        let scope = ToolScope {
            hub: &self.hub,
            dispatcher: &self.dispatcher,
            agent_id,
            intent_id: &intent.id,
            trace_id: &intent.trace_id,
            depth: intent.depth,
        };
        request.tools = tools::specs();
        let mut usage = Usage::default();
        for round in 0..=self.max_tool_rounds {
            if round == self.max_tool_rounds {
                request.tools.clear();
            }
            let turn = self.stream_turn(intent, &request, cancel).await?;
            add_usage(&mut usage, &turn.usage, round == 0);
            crate::metrics::model_turn(agent_id, &turn.usage, round == 0);
            if turn.calls.is_empty() || request.tools.is_empty() {
                return Ok((turn.content, usage));
            }
            request.messages.push(ChatMessage::assistant_calls(
                turn.content,
                turn.calls.clone(),
            ));
            for call in &turn.calls {
                self.set_status(agent_id, AgentStatus::CallingTool);
                let _ = self.events.send(RuntimeEvent::ToolCalled {
                    agent_id: agent_id.to_string(),
                    intent_id: intent.id.clone(),
                    call_id: call.id.clone(),
                    name: call.name.clone(),
                    arguments: shortened(&call.arguments.to_string()),
                });
                let result = tools::run(&scope, call).await;
                crate::metrics::tool_called(agent_id, tools::label(&call.name), result.is_ok());
                let content = match &result {
                    Ok(v) => v.to_string(),
                    Err(e) => serde_json::json!({ "error": e }).to_string(),
                };
                let _ = self.events.send(RuntimeEvent::ToolFinished {
                    agent_id: agent_id.to_string(),
                    intent_id: intent.id.clone(),
                    call_id: call.id.clone(),
                    name: call.name.clone(),
                    ok: result.is_ok(),
                    summary: shortened(&content),
                });
                request
                    .messages
                    .push(ChatMessage::tool_result(call, content));
            }
            self.set_status(agent_id, AgentStatus::Thinking);
        }
        Err("the model kept calling tools and never answered".into())
    }

    /// One streamed turn: content as tokens to the UI, tool calls collected.
    async fn stream_turn(
        &self,
        intent: &Intent,
        request: &ChatRequest,
        cancel: &CancellationToken,
    ) -> Result<Turn, String> {
        let mut stream = tokio::select! {
            s = self.runner.chat(request.clone()) => s.map_err(|e| e.to_string())?,
            () = cancel.cancelled() => return Err(self.stop_reason()),
        };
        self.set_status(&intent.agent_id, AgentStatus::Streaming);
        let mut content = String::new();
        let mut calls = Vec::new();
        loop {
            let next = tokio::select! {
                next = stream.next() => next,
                () = cancel.cancelled() => return Err(self.stop_reason()),
            };
            match next {
                Some(Ok(TokenEvent::Content { text })) => {
                    content.push_str(&text);
                    self.token(intent, text, false);
                }
                Some(Ok(TokenEvent::Thinking { text })) => self.token(intent, text, true),
                Some(Ok(TokenEvent::ToolCall { call })) => calls.push(call),
                Some(Ok(TokenEvent::Done { usage })) => {
                    return Ok(Turn {
                        content,
                        calls,
                        usage,
                    });
                }
                Some(Err(e)) => return Err(e.to_string()),
                None => return Err("the model stream ended without a final event".into()),
            }
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
        let agent_id = intent.agent_id.clone();
        let started = std::time::Instant::now();
        let outcome = std::panic::AssertUnwindSafe(self.handle(&intent, cancel));
        let outcome = match futures::FutureExt::catch_unwind(outcome).await {
            Ok(r) => r,
            Err(_) => Err("the agent task panicked while handling this intent".into()),
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
                    error: e.clone(),
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

/// Tell every node the outcome of an intent (on `aios.intents.results`).
pub async fn publish_result(
    bus: &dyn Bus,
    node: &str,
    intent: &Intent,
    outcome: Result<IntentReply, String>,
) {
    let (reply, error) = match outcome {
        Ok(r) => (Some(r), None),
        Err(e) => (None, Some(e)),
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
