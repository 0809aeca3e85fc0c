//! One intent's turn as a pure state machine: `step(Event) -> Vec<Effect>`.
//!
//! The machine decides (what to ask the model, which tool call may run, when to ask a person,
//! when a loop must stop, what the context becomes); the driver in `intent.rs` performs the
//! effects (hub calls, the model stream, tools, approvals) and feeds their results back as
//! events. No I/O, no async, no clock: every decision can be tested with plain values, and a
//! recorded run can be replayed through it.
//!
//! The contract with the driver: each `step` returns at most one effect that waits for an
//! answer ([`Effect::awaits`]); the rest are told and forgotten (status, tokens, UI events).
//! While a model stream is open the driver feeds its tokens, calls and end as events.

use std::collections::BTreeMap;

use serde_json::{Value, json};

use crate::context::{AgentState, Cause, ChatTurn, ContextVersion, now_rfc3339};
use crate::event::AgentStatus;
use crate::llm::{ChatMessage, ChatRequest, ToolCall, ToolSpec, Usage};
use crate::memory::ScoredItem;

use super::prompt::{Handled, PromptInput, build_request, next_context, short_id};
use super::types::{IntentReply, TurnFailure};

/// Chat turns carried into a prompt.
const CHAT_IN_PROMPT: usize = 6;
/// The same call (tool and arguments) this many times in one intent is a loop.
pub const LOOP_REPEATS: u32 = 3;
/// Longest tool arguments or result shown in a UI event.
const SHOWN: usize = 300;

/// Where a tool comes from: what decides its default approval.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Origin {
    /// One of aios's own state tools (through the ContextHub): allowed by default.
    Builtin,
    /// A tool of an outside MCP server: asks a person by default.
    Mcp,
    /// An HTTP action: asks a person by default.
    Http,
}

/// What the gate says about one call.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    Allow,
    Ask,
    Deny(String),
}

impl Origin {
    pub fn as_str(self) -> &'static str {
        match self {
            Origin::Builtin => "builtin",
            Origin::Mcp => "mcp",
            Origin::Http => "http",
        }
    }
}

/// A person's (or the timeout's) answer to an approval request.
#[derive(Debug, Clone, PartialEq)]
pub enum Decision {
    /// Run the call, with edited arguments when given.
    Approve {
        by: String,
        arguments: Option<Value>,
    },
    Deny {
        by: String,
        reason: String,
    },
}

/// The approval verdict for a call of an allowed tool (pure: the rules are values).
pub type Gate = Box<dyn Fn(&ToolCall, Origin) -> Verdict + Send + Sync>;

/// Everything the machine needs that is fixed for the turn.
pub struct Setup {
    pub intent_id: String,
    pub agent_id: String,
    pub text: String,
    /// Who asked (the audit caller of the dispatch).
    pub from: String,
    /// The runtime's model, used when the agent's spec names none.
    pub default_model: String,
    pub runner: String,
    pub recall_k: usize,
    pub max_tool_rounds: u32,
    /// The tools this agent may call (its allowlist, resolved), with their origin.
    pub tools: Vec<(ToolSpec, Origin)>,
    /// The approval verdict for a call of an allowed tool.
    pub gate: Gate,
}

/// What happened: the answers to effects, and the model's stream.
#[derive(Debug, Clone)]
pub enum Event {
    Start,
    Recalled(Vec<ScoredItem>),
    /// Boxed, as the other large events: every token's event is the size of the largest.
    StateLoaded {
        state: Box<AgentState>,
        previous: Option<Box<ContextVersion>>,
    },
    ChatLoaded(Vec<ChatTurn>),
    StreamOpened,
    Token {
        text: String,
        thinking: bool,
    },
    ToolCallRequested(ToolCall),
    TurnDone(Box<Usage>),
    ToolResult {
        call_id: String,
        result: Result<Value, String>,
    },
    ApprovalDecided {
        call_id: String,
        decision: Decision,
    },
    ContextWritten(Box<ContextVersion>),
    Recorded,
    /// The effect being waited for failed (a hub error, the model, a stall).
    Failed(String),
    /// The operator stopped the intent, or the runtime is shutting down.
    Cancelled(String),
}

/// What the driver should do.
#[derive(Debug, Clone, PartialEq)]
pub enum Effect {
    Status(AgentStatus),
    Recall {
        query: String,
        k: usize,
    },
    LoadState,
    LoadChat {
        limit: usize,
    },
    /// Open the model stream for this request.
    Chat(Box<ChatRequest>),
    Token {
        text: String,
        thinking: bool,
    },
    /// Metrics for one finished model turn.
    ModelTurn {
        usage: Usage,
        first: bool,
    },
    /// Tell the UI a call starts (arguments shortened).
    ToolCalled {
        call: ToolCall,
        shown: String,
    },
    RunTool {
        call: ToolCall,
        origin: Origin,
    },
    /// A person must decide: show what the call will do and wait.
    AskApproval {
        call: ToolCall,
        origin: Origin,
    },
    /// A call was refused without running (not allowed, denied, a loop): audit it.
    ToolRefused {
        call: ToolCall,
        reason: String,
    },
    ToolFinished {
        call: ToolCall,
        ok: bool,
        shown: String,
    },
    /// The agent needs a person's attention for this reason.
    Attention(Attention),
    WriteContext {
        text: String,
        summary: String,
        cause: Cause,
    },
    /// Keep the exchange: chat turns (agents with a chat history), the episodic memory and
    /// the trace.
    Record(Box<Record>),
    /// Boxed: the rare, large effect must not make every token's effect large.
    Finish(Box<Result<IntentReply, TurnFailure>>),
}

/// The records written once the context has its new version.
#[derive(Debug, Clone, PartialEq)]
pub struct Record {
    pub chat: Vec<(String, String)>,
    pub memory: String,
    pub memory_tags: Vec<String>,
    pub trace: String,
}

/// Why an agent needs a person.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Attention {
    /// It called the same tool with the same arguments [`LOOP_REPEATS`] times.
    Looping { tool: String },
}

impl Effect {
    /// Whether the driver must answer this effect with an event before the next step.
    pub fn awaits(&self) -> bool {
        matches!(
            self,
            Effect::Recall { .. }
                | Effect::LoadState
                | Effect::LoadChat { .. }
                | Effect::Chat(_)
                | Effect::RunTool { .. }
                | Effect::AskApproval { .. }
                | Effect::WriteContext { .. }
                | Effect::Record(_)
        )
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Phase {
    Idle,
    Recalling,
    Loading,
    LoadingChat,
    Opening,
    Streaming,
    /// Waiting for the result of `calls[next - 1]`, or for its approval.
    Tool,
    Approving,
    Writing,
    Recording,
    Done,
}

/// One intent's turn.
pub struct Turn {
    setup: Setup,
    phase: Phase,
    recalled: Vec<ScoredItem>,
    state: Option<(Box<AgentState>, Option<Box<ContextVersion>>)>,
    model: String,
    request: ChatRequest,
    round: u32,
    usage: Usage,
    content: String,
    calls: Vec<ToolCall>,
    /// The call being run or decided: index into `calls`.
    current: usize,
    seen: BTreeMap<(String, String), u32>,
    reply: String,
    version: Option<Box<ContextVersion>>,
}

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

impl Turn {
    pub fn new(setup: Setup) -> Turn {
        Turn {
            setup,
            phase: Phase::Idle,
            recalled: Vec::new(),
            state: None,
            model: String::new(),
            request: ChatRequest {
                model: String::new(),
                messages: Vec::new(),
                tools: Vec::new(),
                options: Default::default(),
            },
            round: 0,
            usage: Usage::default(),
            content: String::new(),
            calls: Vec::new(),
            current: 0,
            seen: BTreeMap::new(),
            reply: String::new(),
            version: None,
        }
    }

    /// Whether the turn has finished (a `Finish` effect was returned).
    pub fn is_done(&self) -> bool {
        self.phase == Phase::Done
    }

    /// Whether the driver should read the model stream for the next event.
    pub fn is_streaming(&self) -> bool {
        self.phase == Phase::Streaming
    }

    pub fn agent_id(&self) -> &str {
        &self.setup.agent_id
    }

    pub fn step(&mut self, event: Event) -> Vec<Effect> {
        let mut out = Vec::new();
        self.step_into(event, &mut out);
        out
    }

    /// A streamed token, the hot path (once per token): the same decision as
    /// `step(Event::Token)` (the answer text grows; the token is to be shown), without
    /// building an event and an effect. Returns whether the driver shows it; false when the
    /// turn is not streaming (the driver then steps the event to fail the turn).
    #[inline]
    pub fn token(&mut self, text: &str, thinking: bool) -> bool {
        if self.phase != Phase::Streaming {
            return false;
        }
        if !thinking {
            self.content.push_str(text);
        }
        true
    }

    /// [`Turn::step`] into a buffer the caller reuses: a streamed token then costs no
    /// allocation (the driver's hot path, once per token).
    pub fn step_into(&mut self, event: Event, out: &mut Vec<Effect>) {
        if self.phase == Phase::Done {
            return;
        }
        if let Event::Token { text, thinking } = event {
            if self.token(&text, thinking) {
                out.push(Effect::Token { text, thinking });
                return;
            }
            out.extend(self.internal("the turn got a token while not streaming".into()));
            return;
        }
        let effects = self.decide(event);
        out.extend(effects);
    }

    fn decide(&mut self, event: Event) -> Vec<Effect> {
        match (self.phase, event) {
            (_, Event::Cancelled(reason)) => self.fail(TurnFailure::Stopped(reason)),
            (_, Event::Failed(reason)) => self.fail(TurnFailure::Failed(reason)),
            (Phase::Idle, Event::Start) => {
                self.phase = Phase::Recalling;
                vec![
                    Effect::Status(AgentStatus::Recalling),
                    Effect::Recall {
                        query: self.setup.text.clone(),
                        k: self.setup.recall_k,
                    },
                ]
            }
            (Phase::Recalling, Event::Recalled(items)) => {
                self.recalled = items;
                self.phase = Phase::Loading;
                vec![Effect::Status(AgentStatus::Thinking), Effect::LoadState]
            }
            (Phase::Loading, Event::StateLoaded { state, previous }) => {
                // The spec's `chat_history` (support-agent): the conversation goes into the
                // prompt and each exchange is kept.
                let keeps_chat = state.spec.memory_schema.contains_key("chat_history");
                self.model = if state.spec.model.is_empty() {
                    self.setup.default_model.clone()
                } else {
                    state.spec.model.clone()
                };
                self.state = Some((state, previous));
                if keeps_chat {
                    self.phase = Phase::LoadingChat;
                    vec![Effect::LoadChat {
                        limit: CHAT_IN_PROMPT,
                    }]
                } else {
                    self.open(&[])
                }
            }
            (Phase::LoadingChat, Event::ChatLoaded(history)) => self.open(&history),
            (Phase::Opening, Event::StreamOpened) => {
                self.phase = Phase::Streaming;
                vec![Effect::Status(AgentStatus::Streaming)]
            }
            (Phase::Streaming, Event::ToolCallRequested(call)) => {
                self.calls.push(call);
                Vec::new()
            }
            (Phase::Streaming, Event::TurnDone(usage)) => self.turn_done(*usage),
            (Phase::Tool, Event::ToolResult { call_id, result }) => {
                self.tool_result(&call_id, result)
            }
            (Phase::Approving, Event::ApprovalDecided { call_id, decision }) => {
                self.decided(&call_id, decision)
            }
            (Phase::Writing, Event::ContextWritten(version)) => self.record(version),
            (Phase::Recording, Event::Recorded) => self.finish(),
            (phase, event) => self.internal(format!(
                "the turn got {} while {phase:?}",
                event_name(&event)
            )),
        }
    }

    fn fail(&mut self, failure: TurnFailure) -> Vec<Effect> {
        self.phase = Phase::Done;
        vec![Effect::Finish(Box::new(Err(failure)))]
    }

    /// A bug: the machine was fed what it cannot be in. The intent fails saying so.
    fn internal(&mut self, what: String) -> Vec<Effect> {
        self.fail(TurnFailure::Internal(what))
    }

    /// Build the request and open the first model turn.
    fn open(&mut self, history: &[ChatTurn]) -> Vec<Effect> {
        let Some((state, previous)) = &self.state else {
            return self.internal("no agent state before the prompt".into());
        };
        let offered: Vec<ToolSpec> = self.setup.tools.iter().map(|(s, _)| s.clone()).collect();
        let names: Vec<String> = offered.iter().map(|s| s.name.clone()).collect();
        let mut request = build_request(&PromptInput {
            spec: &state.spec,
            goals: &state.goals,
            persona_traits: &state.persona_traits,
            hooks: &state.protocol_hooks,
            recalled: &self.recalled,
            context: previous.as_ref().map(|c| c.text.as_str()),
            history,
            intent: &self.setup.text,
            model: &self.model,
            tools: &names,
        });
        request.tools = offered;
        self.request = request;
        self.chat()
    }

    fn chat(&mut self) -> Vec<Effect> {
        if self.round == self.setup.max_tool_rounds {
            // Out of rounds: offered no tools, the model must answer.
            self.request.tools.clear();
        }
        self.content.clear();
        self.calls.clear();
        self.current = 0;
        self.phase = Phase::Opening;
        vec![Effect::Chat(Box::new(self.request.clone()))]
    }

    fn turn_done(&mut self, usage: Usage) -> Vec<Effect> {
        let first = self.round == 0;
        add_usage(&mut self.usage, &usage, first);
        let mut out = vec![Effect::ModelTurn { usage, first }];
        if self.calls.is_empty() || self.request.tools.is_empty() {
            self.reply = std::mem::take(&mut self.content);
            out.extend(self.write_context());
            return out;
        }
        self.request.messages.push(ChatMessage::assistant_calls(
            self.content.clone(),
            self.calls.clone(),
        ));
        out.extend(self.next_call());
        out
    }

    /// Decide the next call of this model turn, or ask the model again when all are done.
    fn next_call(&mut self) -> Vec<Effect> {
        let mut out = Vec::new();
        while self.current < self.calls.len() {
            let call = self.calls[self.current].clone();
            let origin = self.origin(&call.name);
            let refusal = match origin {
                None => Some(format!(
                    "the tool `{}` is not one you may call; your tools are: {}",
                    call.name,
                    self.tool_names()
                )),
                Some(origin) => {
                    let key = (call.name.clone(), call.arguments.to_string());
                    let seen = self.seen.entry(key).or_insert(0);
                    *seen += 1;
                    if *seen >= LOOP_REPEATS {
                        out.push(Effect::Attention(Attention::Looping {
                            tool: call.name.clone(),
                        }));
                        Some(format!(
                            "stopped: you called `{}` with the same arguments {} times in this \
                             request; use the results you have and answer",
                            call.name, *seen
                        ))
                    } else {
                        match (self.setup.gate)(&call, origin) {
                            Verdict::Allow => {
                                out.extend(self.run(call, origin));
                                return out;
                            }
                            Verdict::Ask => {
                                self.phase = Phase::Approving;
                                out.push(Effect::Status(AgentStatus::Waiting));
                                out.push(Effect::AskApproval { call, origin });
                                return out;
                            }
                            Verdict::Deny(reason) => Some(format!("denied by a rule: {reason}")),
                        }
                    }
                }
            };
            if let Some(reason) = refusal {
                out.extend(self.refuse(call, reason));
            }
        }
        // Every call of this model turn answered: ask the model again.
        self.round += 1;
        out.push(Effect::Status(AgentStatus::Thinking));
        out.extend(self.chat());
        out
    }

    /// The origin of a tool the agent may call; `None` for any other.
    fn origin(&self, name: &str) -> Option<Origin> {
        self.setup
            .tools
            .iter()
            .find(|(s, _)| s.name == name)
            .map(|(_, o)| *o)
    }

    /// The agent's tools, sorted, for a refusal the model reads.
    fn tool_names(&self) -> String {
        let mut names: Vec<&str> = self
            .setup
            .tools
            .iter()
            .map(|(s, _)| s.name.as_str())
            .collect();
        if names.is_empty() {
            return "none".into();
        }
        names.sort_unstable();
        names.join(", ")
    }

    fn run(&mut self, call: ToolCall, origin: Origin) -> Vec<Effect> {
        self.phase = Phase::Tool;
        vec![
            Effect::Status(AgentStatus::CallingTool),
            Effect::ToolCalled {
                shown: shortened(&call.arguments.to_string()),
                call: call.clone(),
            },
            Effect::RunTool { call, origin },
        ]
    }

    /// Answer a call without running it: the model reads why, the driver audits it.
    fn refuse(&mut self, call: ToolCall, reason: String) -> Vec<Effect> {
        let content = json!({ "error": reason }).to_string();
        self.request
            .messages
            .push(ChatMessage::tool_result(&call, content.clone()));
        self.current += 1;
        vec![
            Effect::ToolRefused {
                call: call.clone(),
                reason,
            },
            Effect::ToolFinished {
                call,
                ok: false,
                shown: shortened(&content),
            },
        ]
    }

    fn tool_result(&mut self, call_id: &str, result: Result<Value, String>) -> Vec<Effect> {
        let Some(call) = self.calls.get(self.current).cloned() else {
            return self.internal("a tool result with no call".into());
        };
        if call.id != call_id {
            return self.internal(format!(
                "result for call {call_id}, waiting for {}",
                call.id
            ));
        }
        let content = match &result {
            Ok(v) => v.to_string(),
            Err(e) => json!({ "error": e }).to_string(),
        };
        self.request
            .messages
            .push(ChatMessage::tool_result(&call, content.clone()));
        self.current += 1;
        let mut out = vec![Effect::ToolFinished {
            call,
            ok: result.is_ok(),
            shown: shortened(&content),
        }];
        out.extend(self.next_call());
        out
    }

    fn decided(&mut self, call_id: &str, decision: Decision) -> Vec<Effect> {
        let Some(mut call) = self.calls.get(self.current).cloned() else {
            return self.internal("a decision with no call".into());
        };
        if call.id != call_id {
            return self.internal(format!(
                "decision for call {call_id}, waiting for {}",
                call.id
            ));
        }
        match decision {
            Decision::Approve { arguments, .. } => {
                if let Some(edited) = arguments {
                    // The model is told what actually ran.
                    call.arguments = edited;
                    self.calls[self.current] = call.clone();
                    if let Some(last) = self.request.messages.last_mut() {
                        last.tool_calls = self.calls.clone();
                    }
                }
                let origin = self.origin(&call.name).unwrap_or(Origin::Builtin);
                self.run(call, origin)
            }
            Decision::Deny { by, reason } => {
                let mut out = self.refuse(call, format!("denied by {by}: {reason}"));
                out.extend(self.next_call());
                out
            }
        }
    }

    fn write_context(&mut self) -> Vec<Effect> {
        let Some((state, previous)) = &self.state else {
            return self.internal("no agent state to write".into());
        };
        let at = now_rfc3339();
        let text = next_context(
            &self.setup.agent_id,
            &state.goals,
            previous.as_ref().map(|c| c.text.as_str()),
            &Handled {
                intent_id: &self.setup.intent_id,
                from: &self.setup.from,
                text: &self.setup.text,
                reply: &self.reply,
                at: &at,
            },
        );
        self.phase = Phase::Writing;
        vec![Effect::WriteContext {
            text,
            summary: format!(
                "intent {}: {}",
                short_id(&self.setup.intent_id),
                self.first_line()
            ),
            cause: Cause {
                caller: self.setup.from.clone(),
                intent_id: Some(self.setup.intent_id.clone()),
                tool: None,
            },
        }]
    }

    fn first_line(&self) -> String {
        self.setup
            .text
            .lines()
            .next()
            .unwrap_or("")
            .chars()
            .take(60)
            .collect()
    }

    fn record(&mut self, version: Box<ContextVersion>) -> Vec<Effect> {
        let keeps_chat = self
            .state
            .as_ref()
            .is_some_and(|(s, _)| s.spec.memory_schema.contains_key("chat_history"));
        let chat = if keeps_chat {
            vec![
                ("user".to_string(), self.setup.text.clone()),
                ("assistant".to_string(), self.reply.clone()),
            ]
        } else {
            Vec::new()
        };
        let outcome: String = self.reply.chars().take(400).collect();
        let record = Record {
            chat,
            memory: format!("Intent: {}\nOutcome: {outcome}", self.setup.text),
            memory_tags: vec![format!("intent:{}", self.setup.intent_id)],
            trace: format!("{} → context v{}", self.first_line(), version.version),
        };
        self.version = Some(version);
        self.phase = Phase::Recording;
        vec![Effect::Record(Box::new(record))]
    }

    fn finish(&mut self) -> Vec<Effect> {
        let Some(version) = self.version.take() else {
            return self.internal("finished without a context version".into());
        };
        self.phase = Phase::Done;
        let model = crate::llm::model_shown(&self.setup.runner, &self.model);
        vec![Effect::Finish(Box::new(Ok(IntentReply {
            intent_id: self.setup.intent_id.clone(),
            agent_id: self.setup.agent_id.clone(),
            reply: std::mem::take(&mut self.reply),
            context_version: version.version,
            context_id: version.context_id,
            runner: self.setup.runner.clone(),
            model,
            usage: std::mem::take(&mut self.usage),
        })))]
    }
}

fn event_name(event: &Event) -> &'static str {
    match event {
        Event::Start => "start",
        Event::Recalled(_) => "recalled",
        Event::StateLoaded { .. } => "state",
        Event::ChatLoaded(_) => "chat history",
        Event::StreamOpened => "stream opened",
        Event::Token { .. } => "a token",
        Event::ToolCallRequested(_) => "a tool call",
        Event::TurnDone(_) => "turn done",
        Event::ToolResult { .. } => "a tool result",
        Event::ApprovalDecided { .. } => "a decision",
        Event::ContextWritten(_) => "context written",
        Event::Recorded => "recorded",
        Event::Failed(_) => "failed",
        Event::Cancelled(_) => "cancelled",
    }
}

#[cfg(test)]
mod tests {
    //! The machine with plain values: no async runtime, no hub, no model.

    use super::*;
    use crate::agent::Catalog;

    fn spec(name: &str) -> ToolSpec {
        ToolSpec {
            name: name.into(),
            description: format!("the {name} tool"),
            parameters: json!({"type": "object"}),
        }
    }

    fn setup(max_tool_rounds: u32) -> Setup {
        Setup {
            intent_id: "0190-intent".into(),
            agent_id: "ops-agent".into(),
            text: "deploy the release".into(),
            from: "operator:alice".into(),
            default_model: "llama3.2".into(),
            runner: "ollama".into(),
            recall_k: 5,
            max_tool_rounds,
            tools: vec![
                (spec("remember"), Origin::Builtin),
                (spec("helpdesk__create_ticket"), Origin::Mcp),
                (spec("deploy"), Origin::Http),
            ],
            gate: Box::new(|call, origin| match (origin, call.name.as_str()) {
                (Origin::Builtin, _) => Verdict::Allow,
                (_, "deploy") => Verdict::Ask,
                (Origin::Mcp, _) if call.arguments["priority"] == "urgent" => {
                    Verdict::Deny("urgent tickets go through a person".into())
                }
                _ => Verdict::Allow,
            }),
        }
    }

    fn state(chat: bool) -> Box<AgentState> {
        let mut spec = Catalog::builtin().get("ops-agent").unwrap().clone();
        if chat {
            spec.memory_schema
                .insert("chat_history".into(), json!("local"));
        }
        Box::new(AgentState {
            goals: vec!["keep it running".into()],
            persona_traits: vec![],
            protocol_hooks: vec![],
            memory_count: 0,
            context_version: None,
            context_id: None,
            spec,
        })
    }

    fn call(id: &str, name: &str, args: Value) -> ToolCall {
        ToolCall {
            id: id.into(),
            name: name.into(),
            arguments: args,
        }
    }

    fn version(v: u64) -> ContextVersion {
        ContextVersion {
            agent_id: "ops-agent".into(),
            version: v,
            context_id: format!("ctx-{v}"),
            created_at: "2026-11-30T00:00:00Z".into(),
            summary: String::new(),
            cause: Cause {
                caller: "operator:alice".into(),
                intent_id: None,
                tool: None,
            },
            text: String::new(),
        }
    }

    fn awaited(effects: &[Effect]) -> Option<&Effect> {
        let waits: Vec<_> = effects.iter().filter(|e| e.awaits()).collect();
        assert!(
            waits.len() <= 1,
            "more than one awaited effect: {effects:?}"
        );
        waits.first().copied()
    }

    /// Start a turn and bring it to its first open stream; returns the Chat request.
    fn to_stream(turn: &mut Turn) -> ChatRequest {
        let e = turn.step(Event::Start);
        assert!(matches!(awaited(&e), Some(Effect::Recall { k: 5, .. })));
        let e = turn.step(Event::Recalled(vec![]));
        assert_eq!(awaited(&e), Some(&Effect::LoadState));
        let e = turn.step(Event::StateLoaded {
            state: state(false),
            previous: None,
        });
        let Some(Effect::Chat(request)) = awaited(&e) else {
            panic!("no chat: {e:?}")
        };
        let request = (**request).clone();
        turn.step(Event::StreamOpened);
        assert!(turn.is_streaming());
        request
    }

    /// Answer `text` and drive the rest of the turn; returns the finished outcome.
    fn answer(turn: &mut Turn, text: &str) -> Result<IntentReply, TurnFailure> {
        let e = turn.step(Event::Token {
            text: text.into(),
            thinking: false,
        });
        assert!(matches!(&e[..], [Effect::Token { .. }]));
        let e = turn.step(Event::TurnDone(Box::default()));
        assert!(matches!(awaited(&e), Some(Effect::WriteContext { .. })));
        let e = turn.step(Event::ContextWritten(Box::new(version(7))));
        assert!(matches!(awaited(&e), Some(Effect::Record(_))));
        finish(turn.step(Event::Recorded))
    }

    fn finish(effects: Vec<Effect>) -> Result<IntentReply, TurnFailure> {
        match effects.into_iter().last() {
            Some(Effect::Finish(outcome)) => *outcome,
            other => panic!("not finished: {other:?}"),
        }
    }

    fn tool_message(request: &ChatRequest, call_id: &str) -> String {
        request
            .messages
            .iter()
            .find(|m| m.tool_call_id.as_deref() == Some(call_id))
            .map(|m| m.content.clone())
            .unwrap_or_else(|| panic!("no result for {call_id}"))
    }

    /// Stream one model turn that asks for `calls`.
    fn calls(turn: &mut Turn, calls: Vec<ToolCall>) -> Vec<Effect> {
        for c in calls {
            assert!(turn.step(Event::ToolCallRequested(c)).is_empty());
        }
        turn.step(Event::TurnDone(Box::default()))
    }

    #[test]
    fn an_answer_without_tools_writes_context_records_and_finishes() {
        let mut turn = Turn::new(setup(4));
        let request = to_stream(&mut turn);
        assert_eq!(request.model, "llama3.2");
        let names: Vec<_> = request.tools.iter().map(|t| t.name.as_str()).collect();
        assert_eq!(names, ["remember", "helpdesk__create_ticket", "deploy"]);
        let system = &request.messages[0].content;
        assert!(
            system.contains("Tools: remember, helpdesk__create_ticket, deploy\n"),
            "the prompt names the callable tools only: {system}"
        );
        let reply = answer(&mut turn, "Deployed.").unwrap();
        assert_eq!(reply.reply, "Deployed.");
        assert_eq!(reply.context_version, 7);
        assert_eq!(reply.context_id, "ctx-7");
        assert!(turn.is_done());
        assert!(
            turn.step(Event::Recorded).is_empty(),
            "nothing after the end"
        );
    }

    #[test]
    fn a_tool_round_runs_the_call_and_feeds_the_result_back() {
        let mut turn = Turn::new(setup(4));
        to_stream(&mut turn);
        let e = calls(
            &mut turn,
            vec![call("c1", "remember", json!({"text": "release 7 is out"}))],
        );
        assert!(e.contains(&Effect::Status(AgentStatus::CallingTool)));
        assert!(matches!(
            awaited(&e),
            Some(Effect::RunTool { call, origin: Origin::Builtin }) if call.id == "c1"
        ));
        let e = turn.step(Event::ToolResult {
            call_id: "c1".into(),
            result: Ok(json!({"stored": "m1"})),
        });
        assert!(
            e.iter()
                .any(|e| matches!(e, Effect::ToolFinished { ok: true, .. }))
        );
        let Some(Effect::Chat(request)) = awaited(&e) else {
            panic!("model not asked again: {e:?}")
        };
        assert_eq!(tool_message(request, "c1"), r#"{"stored":"m1"}"#);
        assert!(!request.tools.is_empty());
        turn.step(Event::StreamOpened);
        assert_eq!(answer(&mut turn, "Noted.").unwrap().reply, "Noted.");
    }

    #[test]
    fn after_max_rounds_the_model_is_offered_no_tools_and_its_answer_is_final() {
        let mut turn = Turn::new(setup(1));
        to_stream(&mut turn);
        calls(
            &mut turn,
            vec![call("c1", "remember", json!({"text": "a"}))],
        );
        let e = turn.step(Event::ToolResult {
            call_id: "c1".into(),
            result: Ok(json!({})),
        });
        let Some(Effect::Chat(request)) = awaited(&e) else {
            panic!("{e:?}")
        };
        assert!(request.tools.is_empty(), "out of rounds: no tools offered");
        turn.step(Event::StreamOpened);
        // A model that calls anyway is not obeyed: its text is the answer.
        turn.step(Event::ToolCallRequested(call("c2", "remember", json!({}))));
        turn.step(Event::Token {
            text: "Done.".into(),
            thinking: false,
        });
        let e = turn.step(Event::TurnDone(Box::default()));
        assert!(matches!(awaited(&e), Some(Effect::WriteContext { .. })));
    }

    #[test]
    fn a_tool_outside_the_allowlist_is_refused_audited_and_reported() {
        let mut turn = Turn::new(setup(4));
        to_stream(&mut turn);
        let e = calls(
            &mut turn,
            vec![call("c1", "shell_exec", json!({"cmd": "rm -rf /"}))],
        );
        assert!(
            e.iter()
                .any(|e| matches!(e, Effect::ToolRefused { call, reason }
                if call.name == "shell_exec" && reason.contains("not one you may call"))),
            "refusal is audited: {e:?}"
        );
        assert!(!e.iter().any(|e| matches!(e, Effect::RunTool { .. })));
        let Some(Effect::Chat(request)) = awaited(&e) else {
            panic!("{e:?}")
        };
        let told = tool_message(request, "c1");
        assert!(told.contains("not one you may call"), "{told}");
        assert!(
            told.contains("deploy, helpdesk__create_ticket, remember"),
            "{told}"
        );
    }

    #[test]
    fn a_rule_that_denies_refuses_without_asking() {
        let mut turn = Turn::new(setup(4));
        to_stream(&mut turn);
        let e = calls(
            &mut turn,
            vec![call(
                "c1",
                "helpdesk__create_ticket",
                json!({"priority": "urgent"}),
            )],
        );
        assert!(!e.iter().any(|e| matches!(e, Effect::AskApproval { .. })));
        let Some(Effect::Chat(request)) = awaited(&e) else {
            panic!("{e:?}")
        };
        assert!(tool_message(request, "c1").contains("urgent tickets go through a person"));
    }

    #[test]
    fn an_approved_call_runs_with_the_edited_arguments_and_the_model_sees_them() {
        let mut turn = Turn::new(setup(4));
        to_stream(&mut turn);
        let e = calls(
            &mut turn,
            vec![call("c1", "deploy", json!({"env": "prod"}))],
        );
        assert!(e.contains(&Effect::Status(AgentStatus::Waiting)));
        assert!(matches!(
            awaited(&e),
            Some(Effect::AskApproval {
                origin: Origin::Http,
                ..
            })
        ));
        let e = turn.step(Event::ApprovalDecided {
            call_id: "c1".into(),
            decision: Decision::Approve {
                by: "operator:alice".into(),
                arguments: Some(json!({"env": "staging"})),
            },
        });
        let Some(Effect::RunTool { call, .. }) = awaited(&e) else {
            panic!("{e:?}")
        };
        assert_eq!(call.arguments, json!({"env": "staging"}));
        let e = turn.step(Event::ToolResult {
            call_id: "c1".into(),
            result: Ok(json!({"status": 200})),
        });
        let Some(Effect::Chat(request)) = awaited(&e) else {
            panic!("{e:?}")
        };
        let asked = request
            .messages
            .iter()
            .find(|m| !m.tool_calls.is_empty())
            .unwrap();
        assert_eq!(asked.tool_calls[0].arguments, json!({"env": "staging"}));
    }

    #[test]
    fn a_denied_call_tells_the_model_who_denied_it_and_why() {
        let mut turn = Turn::new(setup(4));
        to_stream(&mut turn);
        calls(
            &mut turn,
            vec![call("c1", "deploy", json!({"env": "prod"}))],
        );
        let e = turn.step(Event::ApprovalDecided {
            call_id: "c1".into(),
            decision: Decision::Deny {
                by: "operator:bob".into(),
                reason: "freeze until Monday".into(),
            },
        });
        assert!(!e.iter().any(|e| matches!(e, Effect::RunTool { .. })));
        assert!(e.iter().any(|e| matches!(e, Effect::ToolRefused { .. })));
        let Some(Effect::Chat(request)) = awaited(&e) else {
            panic!("{e:?}")
        };
        let told = tool_message(request, "c1");
        assert!(
            told.contains("denied by operator:bob: freeze until Monday"),
            "{told}"
        );
    }

    #[test]
    fn an_approval_timeout_is_a_denial_the_model_reads() {
        let mut turn = Turn::new(setup(4));
        to_stream(&mut turn);
        calls(&mut turn, vec![call("c1", "deploy", json!({}))]);
        let e = turn.step(Event::ApprovalDecided {
            call_id: "c1".into(),
            decision: Decision::Deny {
                by: "timeout".into(),
                reason: "no decision within 300 s".into(),
            },
        });
        let Some(Effect::Chat(request)) = awaited(&e) else {
            panic!("{e:?}")
        };
        assert!(tool_message(request, "c1").contains("denied by timeout"));
    }

    #[test]
    fn the_same_call_three_times_is_a_loop_that_is_stopped() {
        let mut turn = Turn::new(setup(10));
        to_stream(&mut turn);
        let same = || call("c", "remember", json!({"text": "again"}));
        for round in 0..2 {
            let e = calls(&mut turn, vec![same()]);
            assert!(
                matches!(awaited(&e), Some(Effect::RunTool { .. })),
                "round {round}"
            );
            turn.step(Event::ToolResult {
                call_id: "c".into(),
                result: Ok(json!({})),
            });
            turn.step(Event::StreamOpened);
        }
        let e = calls(&mut turn, vec![same()]);
        assert!(e.contains(&Effect::Attention(Attention::Looping {
            tool: "remember".into()
        })));
        assert!(!e.iter().any(|e| matches!(e, Effect::RunTool { .. })));
        let Some(Effect::Chat(request)) = awaited(&e) else {
            panic!("{e:?}")
        };
        let told = request.messages.last().unwrap().content.clone();
        assert!(told.contains("same arguments 3 times"), "{told}");
    }

    #[test]
    fn cancellation_mid_stream_finishes_with_the_reason_and_writes_nothing() {
        let mut turn = Turn::new(setup(4));
        to_stream(&mut turn);
        turn.step(Event::Token {
            text: "Deplo".into(),
            thinking: false,
        });
        let e = turn.step(Event::Cancelled("stopped by the operator".into()));
        assert_eq!(
            e,
            vec![Effect::Finish(Box::new(Err(TurnFailure::Stopped(
                "stopped by the operator".into()
            ))))]
        );
        assert!(turn.is_done());
        assert!(turn.step(Event::TurnDone(Box::default())).is_empty());
    }

    #[test]
    fn a_model_failure_fails_the_intent_with_its_message() {
        let mut turn = Turn::new(setup(4));
        to_stream(&mut turn);
        let out = finish(turn.step(Event::Failed(
            "no token for 30 s (llm.stall_timeout_ms)".into(),
        )));
        let err = out.unwrap_err();
        assert_eq!(
            err,
            TurnFailure::Failed("no token for 30 s (llm.stall_timeout_ms)".into())
        );
        assert_eq!(err.to_string(), "no token for 30 s (llm.stall_timeout_ms)");
    }

    #[test]
    fn agents_with_a_chat_history_load_it_and_keep_the_exchange() {
        let mut turn = Turn::new(setup(4));
        turn.step(Event::Start);
        turn.step(Event::Recalled(vec![]));
        let e = turn.step(Event::StateLoaded {
            state: state(true),
            previous: None,
        });
        assert_eq!(awaited(&e), Some(&Effect::LoadChat { limit: 6 }));
        let e = turn.step(Event::ChatLoaded(vec![]));
        assert!(matches!(awaited(&e), Some(Effect::Chat(_))));
        turn.step(Event::StreamOpened);
        turn.step(Event::Token {
            text: "Hi.".into(),
            thinking: false,
        });
        turn.step(Event::TurnDone(Box::default()));
        let e = turn.step(Event::ContextWritten(Box::new(version(2))));
        let Some(Effect::Record(record)) = awaited(&e) else {
            panic!("{e:?}")
        };
        assert_eq!(
            record.chat,
            vec![
                ("user".to_string(), "deploy the release".to_string()),
                ("assistant".to_string(), "Hi.".to_string())
            ]
        );
        assert!(record.trace.ends_with("→ context v2"));
    }

    #[test]
    fn an_event_out_of_order_fails_the_turn_instead_of_panicking() {
        let mut turn = Turn::new(setup(4));
        let out = finish(turn.step(Event::Recorded));
        let err = out.unwrap_err();
        assert!(matches!(err, TurnFailure::Internal(_)));
        assert!(err.to_string().starts_with("internal: "), "{err}");
    }

    #[test]
    fn thinking_tokens_are_shown_but_not_part_of_the_reply() {
        let mut turn = Turn::new(setup(4));
        to_stream(&mut turn);
        let e = turn.step(Event::Token {
            text: "hmm".into(),
            thinking: true,
        });
        assert_eq!(
            e,
            vec![Effect::Token {
                text: "hmm".into(),
                thinking: true
            }]
        );
        assert_eq!(answer(&mut turn, "Yes.").unwrap().reply, "Yes.");
    }

    #[test]
    fn the_token_hot_path_is_the_same_decision_and_refuses_outside_a_stream() {
        let mut turn = Turn::new(setup(4));
        assert!(!turn.token("early", false), "no stream open yet");
        to_stream(&mut turn);
        assert!(turn.token("Dep", false));
        assert!(turn.token("thinking…", true));
        assert!(turn.token("loyed.", false));
        turn.step(Event::TurnDone(Box::default()));
        turn.step(Event::ContextWritten(Box::new(version(3))));
        let reply = finish(turn.step(Event::Recorded)).unwrap();
        assert_eq!(
            reply.reply, "Deployed.",
            "thinking is not part of the reply"
        );
        assert!(!turn.token("late", false));
        let mut turn = Turn::new(setup(4));
        let out = finish(turn.step(Event::Token {
            text: "x".into(),
            thinking: false,
        }));
        assert!(out.unwrap_err().to_string().contains("not streaming"));
    }
}
