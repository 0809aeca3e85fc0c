//! The MCP tools: each one a ContextHub or runtime call made as the requesting client, so
//! it is audited like any agent's call. A failed call (unknown agent, missing version, bad
//! arguments) is a tool result with `isError` and a message a model can act on; the
//! session stays up.

use std::time::{Duration, Instant};

use rmcp::handler::server::wrapper::Parameters;
use rmcp::model::{CallToolResult, ContentBlock};
use rmcp::service::RequestContext;
use rmcp::{RoleServer, tool, tool_router};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use crate::agent::Lineage;
use crate::audit::{LineRead, SegmentReader, list_segments};
use crate::context::{Call, Caller, Cause, ProtocolHook};

use super::caller::caller_of;
use super::limits::TailWindow;
use super::server::AiosMcp;

/// Longest wait for an intent's reply.
const MAX_WAIT_SECS: u64 = 600;
/// Most records `tail_audit` returns.
const MAX_TAIL: usize = 500;

#[derive(Debug, Deserialize, JsonSchema)]
pub struct AgentArgs {
    /// The agent's id in kebab-case, e.g. `support-agent`; `list_agents` lists them all.
    pub agent_id: String,
}

#[derive(Debug, Deserialize, JsonSchema)]
pub struct SetGoalsArgs {
    /// The agent's id, e.g. `support-agent`.
    pub agent_id: String,
    /// The complete new list of goals (replaces the current one); at most 64, each at most
    /// 500 characters; blank entries are dropped.
    pub goals: Vec<String>,
}

#[derive(Debug, Deserialize, JsonSchema)]
pub struct AddHookArgs {
    /// The agent's id, e.g. `support-agent`.
    pub agent_id: String,
    /// A name unique among this agent's hooks, e.g. `escalate-outage`.
    pub name: String,
    /// The event that fires the hook: `intent.done`, `intent.failed`, `context.updated`,
    /// `goals.changed`, `memory.broadcast`, `tool.called:<tool>`, `approval.asked` or
    /// `schedule:<cron>` (five fields, or `@hourly`, `@daily`, …).
    pub on: String,
    /// What happens then: `webhook:<url>` (the event POSTed as signed JSON),
    /// `action:<name>` (an HTTP action), `intent:<agent> <text, {reply} etc. filled from the
    /// event>` or `mcp:<server>.<tool>`. A bad `on` or `action` is refused with the reason.
    pub action: String,
}

#[derive(Debug, Deserialize, JsonSchema)]
pub struct AppendTraceArgs {
    /// The agent's id, e.g. `support-agent`.
    pub agent_id: String,
    /// What kind of behaviour this records, e.g. `tool.call`, `review.note`.
    pub kind: String,
    /// One line saying what happened.
    pub summary: String,
    /// The intent this trace belongs to, if any.
    #[serde(default)]
    pub intent_id: Option<String>,
}

#[derive(Debug, Deserialize, JsonSchema)]
pub struct GetContextArgs {
    /// The agent's id, e.g. `support-agent`.
    pub agent_id: String,
    /// A version number (1, 2, …); omitted = the latest. Old versions are pruned, so only
    /// the newest ones are kept.
    #[serde(default)]
    pub version: Option<u64>,
}

#[derive(Debug, Deserialize, JsonSchema)]
pub struct UpdateContextArgs {
    /// The agent's id, e.g. `support-agent`.
    pub agent_id: String,
    /// The whole new context document (replaces the text; the old version is kept for
    /// diffs). At most 1 MiB.
    pub context: String,
    /// One line saying what changed; default "updated over MCP".
    #[serde(default)]
    pub summary: Option<String>,
}

#[derive(Debug, Deserialize, JsonSchema)]
pub struct DiffContextArgs {
    /// The agent's id, e.g. `support-agent`.
    pub agent_id: String,
    /// The older version; 0 is the empty context before version 1.
    pub from: u64,
    /// The newer version.
    pub to: u64,
}

#[derive(Debug, Deserialize, JsonSchema)]
pub struct RememberArgs {
    /// The agent whose memory gets the item, e.g. `support-agent`.
    pub agent_id: String,
    /// The text to remember; it is embedded for similarity search.
    pub text: String,
    /// A kind such as `fact`, `episodic`, `preference`; default `fact`.
    #[serde(default)]
    pub kind: Option<String>,
    /// Free-form tags.
    #[serde(default)]
    pub tags: Vec<String>,
}

#[derive(Debug, Deserialize, JsonSchema)]
pub struct RecallArgs {
    /// The agent whose memory is searched, e.g. `support-agent`.
    pub agent_id: String,
    /// What to look for, in words.
    pub query: String,
    /// How many items to return, closest first (1..=100, default 5).
    #[serde(default)]
    pub k: Option<u32>,
    /// Only items of this kind.
    #[serde(default)]
    pub kind: Option<String>,
}

#[derive(Debug, Deserialize, JsonSchema)]
pub struct DispatchArgs {
    /// The agent that should act, e.g. `support-agent`.
    pub agent_id: String,
    /// The request in words, e.g. "Customer 42 cannot log in".
    pub text: String,
    /// Wait for the agent's reply (default true); false returns the intent id at once.
    #[serde(default)]
    pub wait: Option<bool>,
    /// Longest wait in seconds (default 120, at most 600).
    #[serde(default)]
    pub timeout_secs: Option<u64>,
    /// Join an existing trace (the trace_id of an earlier intent); default a new trace.
    #[serde(default)]
    pub trace_id: Option<String>,
}

#[derive(Debug, Deserialize, JsonSchema)]
pub struct HandoffArgs {
    /// The agent handing the work over, e.g. `support-agent`.
    pub from_agent: String,
    /// The agent taking it, e.g. `sec-agent`.
    pub to_agent: String,
    /// What the receiving agent should do, with whatever it needs to know.
    pub text: String,
    /// The trace the work belongs to (keeps the hand-off in the same trace); default new.
    #[serde(default)]
    pub trace_id: Option<String>,
    /// The intent that led to the hand-off, recorded as the new intent's parent.
    #[serde(default)]
    pub parent_id: Option<String>,
    /// Wait for the receiving agent's reply (default true).
    #[serde(default)]
    pub wait: Option<bool>,
    /// Longest wait in seconds (default 120, at most 600).
    #[serde(default)]
    pub timeout_secs: Option<u64>,
}

#[derive(Debug, Deserialize, JsonSchema)]
pub struct TailAuditArgs {
    /// How many records, newest last (1..=500, default 20).
    #[serde(default)]
    pub limit: Option<u32>,
    /// Only records about this agent.
    #[serde(default)]
    pub agent_id: Option<String>,
    /// Only records of this action, e.g. `update_context`.
    #[serde(default)]
    pub action: Option<String>,
}

#[derive(Debug, Deserialize, JsonSchema)]
pub struct DecideApprovalArgs {
    /// The approval's id, from `list_approvals`.
    pub id: String,
    #[serde(flatten)]
    pub decision: crate::approvals::DecisionInput,
}

/// A successful result: the value as pretty JSON text, and as structured content.
fn ok<T: Serialize>(value: T) -> CallToolResult {
    match serde_json::to_value(value) {
        Ok(v) => {
            let text = serde_json::to_string_pretty(&v).unwrap_or_else(|_| v.to_string());
            let mut result = CallToolResult::success(vec![ContentBlock::text(text)]);
            if v.is_object() {
                result.structured_content = Some(v);
            }
            result
        }
        Err(e) => fail(format!("the result could not be encoded: {e}")),
    }
}

/// As `ok`, with compact JSON text: for answers whose size is bounded (`tail_audit`).
fn ok_compact(value: Value) -> CallToolResult {
    let mut result = CallToolResult::success(vec![ContentBlock::text(value.to_string())]);
    if value.is_object() {
        result.structured_content = Some(value);
    }
    result
}

fn fail(message: impl std::fmt::Display) -> CallToolResult {
    CallToolResult::error(vec![ContentBlock::text(message.to_string())])
}

fn done<T: Serialize, E: std::fmt::Display>(r: Result<T, E>) -> CallToolResult {
    match r {
        Ok(v) => ok(v),
        Err(e) => fail(e),
    }
}

fn wait_for(secs: Option<u64>) -> Duration {
    Duration::from_secs(secs.unwrap_or(120).clamp(1, MAX_WAIT_SECS))
}

#[tool_router(vis = "pub(super)")]
impl AiosMcp {
    #[tool(
        description = "List every agent of the runtime: id, name, category, role, default goals, persona traits and allowed tools.",
        annotations(read_only_hint = true)
    )]
    async fn list_agents(&self, ctx: RequestContext<RoleServer>) -> CallToolResult {
        let r = self.hub().list_agents(&caller_of(&ctx)).await;
        done(r.map(|agents| json!({ "agents": agents })))
    }

    #[tool(
        description = "Everything about one agent now: spec, current goals, persona traits, protocol hooks, memory item count and latest context version.",
        annotations(read_only_hint = true)
    )]
    async fn get_agent(
        &self,
        Parameters(a): Parameters<AgentArgs>,
        ctx: RequestContext<RoleServer>,
    ) -> CallToolResult {
        done(self.hub().get_agent(&caller_of(&ctx), &a.agent_id).await)
    }

    #[tool(
        description = "Replace an agent's goals with a new list. Returns the goals as stored (trimmed, blanks dropped). Subscribers of aios://agents/{agent_id}/goals are notified.",
        annotations(idempotent_hint = true, destructive_hint = false)
    )]
    async fn set_goals(
        &self,
        Parameters(a): Parameters<SetGoalsArgs>,
        ctx: RequestContext<RoleServer>,
    ) -> CallToolResult {
        let r = self
            .hub()
            .set_goals(&caller_of(&ctx), &a.agent_id, a.goals)
            .await;
        done(r.map(|goals| json!({ "agent_id": a.agent_id, "goals": goals })))
    }

    #[tool(
        description = "Add a protocol hook to an agent: when `on` happens, the agent does `action`. A hook of the same name is an error. Returns all of the agent's hooks.",
        annotations(destructive_hint = false)
    )]
    async fn add_protocol_hook(
        &self,
        Parameters(a): Parameters<AddHookArgs>,
        ctx: RequestContext<RoleServer>,
    ) -> CallToolResult {
        let hook = ProtocolHook {
            name: a.name,
            on: a.on,
            action: a.action,
        };
        let r = self
            .hub()
            .add_protocol_hook(&caller_of(&ctx), &a.agent_id, hook)
            .await;
        done(r.map(|hooks| json!({ "agent_id": a.agent_id, "protocol_hooks": hooks })))
    }

    #[tool(
        description = "Append a behavioral trace entry to an agent (a record of something it did, kept for review). Returns its sequence number.",
        annotations(destructive_hint = false)
    )]
    async fn append_trace(
        &self,
        Parameters(a): Parameters<AppendTraceArgs>,
        ctx: RequestContext<RoleServer>,
    ) -> CallToolResult {
        let r = self
            .hub()
            .append_trace(
                &caller_of(&ctx),
                &a.agent_id,
                &a.kind,
                &a.summary,
                a.intent_id.as_deref(),
            )
            .await;
        done(r.map(|seq| json!({ "agent_id": a.agent_id, "seq": seq })))
    }

    #[tool(
        description = "Read an agent's context document: the latest version, or `version`. Returns null `context` when the agent has none yet.",
        annotations(read_only_hint = true)
    )]
    async fn get_context(
        &self,
        Parameters(a): Parameters<GetContextArgs>,
        ctx: RequestContext<RoleServer>,
    ) -> CallToolResult {
        let r = self
            .hub()
            .get_context(&caller_of(&ctx), &a.agent_id, a.version)
            .await;
        done(r.map(|c| json!({ "agent_id": a.agent_id, "context": c })))
    }

    #[tool(
        description = "Write a new version of an agent's context document (the whole text). Returns the new version number and context_id. Subscribers of aios://agents/{agent_id}/context are notified.",
        annotations(destructive_hint = false)
    )]
    async fn update_context(
        &self,
        Parameters(a): Parameters<UpdateContextArgs>,
        ctx: RequestContext<RoleServer>,
    ) -> CallToolResult {
        let caller = caller_of(&ctx);
        let cause = Cause {
            caller: caller.to_string(),
            intent_id: None,
            tool: Some("update_context".into()),
        };
        let summary = a
            .summary
            .filter(|s| !s.trim().is_empty())
            .unwrap_or_else(|| "updated over MCP".into());
        let r = self
            .hub()
            .update_context(&caller, &a.agent_id, a.context, summary, cause)
            .await;
        done(r.map(|v| {
            json!({"agent_id": v.agent_id, "version": v.version, "context_id": v.context_id,
                   "created_at": v.created_at, "summary": v.summary})
        }))
    }

    #[tool(
        description = "Line diff between two kept versions of an agent's context (version 0 = empty). Errors name the versions that are kept.",
        annotations(read_only_hint = true)
    )]
    async fn diff_context(
        &self,
        Parameters(a): Parameters<DiffContextArgs>,
        ctx: RequestContext<RoleServer>,
    ) -> CallToolResult {
        done(
            self.hub()
                .diff_context(&caller_of(&ctx), &a.agent_id, a.from, a.to)
                .await,
        )
    }

    #[tool(
        description = "Store a memory item for an agent (embedded for similarity search). Returns the stored item with its id.",
        annotations(destructive_hint = false)
    )]
    async fn remember(
        &self,
        Parameters(a): Parameters<RememberArgs>,
        ctx: RequestContext<RoleServer>,
    ) -> CallToolResult {
        let kind = a.kind.unwrap_or_default();
        done(
            self.hub()
                .remember(&caller_of(&ctx), &a.agent_id, &kind, &a.text, a.tags)
                .await,
        )
    }

    #[tool(
        description = "Search an agent's memory by meaning: the k items closest to `query`, closest first, with similarity scores.",
        annotations(read_only_hint = true)
    )]
    async fn recall(
        &self,
        Parameters(a): Parameters<RecallArgs>,
        ctx: RequestContext<RoleServer>,
    ) -> CallToolResult {
        let k = a.k.unwrap_or(5);
        if !(1..=100).contains(&k) {
            return fail(format!("k must be between 1 and 100, got {k}"));
        }
        let r = self
            .hub()
            .recall(
                &caller_of(&ctx),
                &a.agent_id,
                &a.query,
                k as usize,
                a.kind.as_deref(),
            )
            .await;
        done(r.map(|items| json!({ "agent_id": a.agent_id, "items": items })))
    }

    #[tool(
        description = "Ask an agent to act on a request (an intent). With wait (default) returns the agent's reply and its new context version; without, returns the intent id and trace id at once.",
        annotations(destructive_hint = false, open_world_hint = true)
    )]
    async fn dispatch_intent(
        &self,
        Parameters(a): Parameters<DispatchArgs>,
        ctx: RequestContext<RoleServer>,
    ) -> CallToolResult {
        let caller = caller_of(&ctx);
        let wait = a.wait.unwrap_or(true).then(|| wait_for(a.timeout_secs));
        self.send_intent(
            &caller,
            &a.agent_id,
            &a.text,
            Sending::Dispatch(a.trace_id),
            wait,
        )
        .await
    }

    #[tool(
        description = "Hand work from one agent to another: the receiving agent gets `text` as an intent in the same trace (pass trace_id to keep it). With wait (default) returns its reply.",
        annotations(destructive_hint = false, open_world_hint = true)
    )]
    async fn handoff(
        &self,
        Parameters(a): Parameters<HandoffArgs>,
        ctx: RequestContext<RoleServer>,
    ) -> CallToolResult {
        let caller = caller_of(&ctx);
        let started = Instant::now();
        if let Err(e) = self.hub().spec(&a.from_agent) {
            // Audited like every refused call.
            let _ = self.hub().record(
                &caller,
                Call {
                    agent_id: None,
                    action: "handoff",
                    input: json!({"from_agent": a.from_agent, "to_agent": a.to_agent}),
                    context_id: None,
                    result: Err(e.to_string()),
                    started,
                },
            );
            return fail(format!("from_agent: {e}"));
        }
        let wait = a.wait.unwrap_or(true).then(|| wait_for(a.timeout_secs));
        let text = format!("[handoff from {}] {}", a.from_agent, a.text);
        // One step down a chain, like an agent's own handoff: audited by the runtime as
        // `handoff`, and subject to runtime.max_handoff_depth.
        let lineage = Lineage {
            trace_id: a.trace_id,
            parent_id: a.parent_id,
            depth: 1,
        };
        self.send_intent(&caller, &a.to_agent, &text, Sending::Handoff(lineage), wait)
            .await
    }

    #[tool(
        description = "The tool calls agents are waiting to have approved, oldest first, each with a preview of what it will do (the exact HTTP request, the context or goal diff, the MCP call; secrets masked).",
        annotations(read_only_hint = true)
    )]
    async fn list_approvals(&self, ctx: RequestContext<RoleServer>) -> CallToolResult {
        let caller = caller_of(&ctx);
        let listed = self.runtime().approvals().map(|a| a.list()).ok_or(
            "this server watches a runtime elsewhere; approvals are listed where the agents run",
        );
        let _ = self.hub().record(
            &caller,
            Call {
                agent_id: None,
                action: "list_approvals",
                input: json!({}),
                context_id: None,
                result: listed.as_ref().map(|_| ()).map_err(|e| e.to_string()),
                started: Instant::now(),
            },
        );
        done(listed.map(|items| json!({ "approvals": items })))
    }

    #[tool(
        description = "Decide a waiting tool call: approve (optionally with edited arguments, or always for this agent and tool) or deny with a reason the agent's model reads.",
        annotations(destructive_hint = true, open_world_hint = true)
    )]
    async fn decide_approval(
        &self,
        Parameters(a): Parameters<DecideApprovalArgs>,
        ctx: RequestContext<RoleServer>,
    ) -> CallToolResult {
        let caller = caller_of(&ctx);
        let decision = a.decision;
        let approve = decision.approve;
        if !approve
            && decision
                .reason
                .as_deref()
                .is_none_or(|r| r.trim().is_empty())
        {
            return fail("a denial needs a reason: the agent's model reads it");
        }
        let decided = match self.runtime().approvals() {
            // Audited by the approvals as `approval_decided`, with the caller.
            Some(approvals) => approvals
                .decide(&caller, &a.id, decision)
                .map_err(|e| e.to_string()),
            None => {
                Err("this server watches a runtime elsewhere; decide where the agents run".into())
            }
        };
        if let Err(e) = &decided {
            let _ = self.hub().record(
                &caller,
                Call {
                    agent_id: None,
                    action: "decide_approval",
                    input: json!({"id": a.id}),
                    context_id: None,
                    result: Err(e.clone()),
                    started: Instant::now(),
                },
            );
        }
        done(decided.map(|p| json!({"decided": p.id, "approved": approve, "agent_id": p.agent_id, "tool": p.tool})))
    }

    #[tool(
        description = "The newest audit records (who called what, on which agent, with what outcome), newest last; optionally only one agent's or one action's. Cut to mcp.max_tail_bytes of JSON: `truncated` then says older records were left out.",
        annotations(read_only_hint = true)
    )]
    async fn tail_audit(
        &self,
        Parameters(a): Parameters<TailAuditArgs>,
        ctx: RequestContext<RoleServer>,
    ) -> CallToolResult {
        let caller = caller_of(&ctx);
        let started = Instant::now();
        let limit = a.limit.unwrap_or(20) as usize;
        let result = if (1..=MAX_TAIL).contains(&limit) {
            self.tail(limit, a.agent_id.as_deref(), a.action.as_deref())
                .await
        } else {
            Err(format!(
                "limit must be between 1 and {MAX_TAIL}, got {limit}"
            ))
        };
        let audited = self.hub().record(
            &caller,
            Call {
                agent_id: None,
                action: "tail_audit",
                input: json!({"limit": limit, "agent_id": a.agent_id, "action": a.action}),
                context_id: None,
                result: result.as_ref().map(|_| ()).map_err(Clone::clone),
                started,
            },
        );
        match (result, audited) {
            (Ok(tail), Ok(())) if tail.cut => ok_compact(json!({
                "records": tail.records,
                "truncated": true,
                "note": format!(
                    "older records were left out: the answer is kept under {} bytes (mcp.max_tail_bytes); ask for fewer, or filter by agent_id or action",
                    self.limits().tail_bytes
                ),
            })),
            (Ok(tail), Ok(())) => ok_compact(json!({ "records": tail.records })),
            (Err(e), _) => fail(e),
            (_, Err(e)) => fail(e),
        }
    }
}

/// How an intent is sent: an operator's dispatch (optionally into a trace), or a handoff.
enum Sending {
    Dispatch(Option<String>),
    Handoff(Lineage),
}

impl AiosMcp {
    /// The one place MCP sends an intent (dispatch_intent and handoff): through the
    /// runtime, as the calling client, so the runtime's own checks (and its audit record)
    /// apply to both.
    async fn send_intent(
        &self,
        caller: &Caller,
        agent_id: &str,
        text: &str,
        how: Sending,
        wait: Option<Duration>,
    ) -> CallToolResult {
        let sent = match how {
            Sending::Dispatch(trace_id) => {
                self.runtime()
                    .dispatch(caller, agent_id, text, trace_id, None)
                    .await
            }
            Sending::Handoff(lineage) => {
                self.runtime()
                    .handoff(caller, agent_id, text, lineage)
                    .await
            }
        };
        let ticket = match sent {
            Ok(t) => t,
            Err(e) => return fail(e),
        };
        let ids = json!({"intent_id": ticket.intent_id, "trace_id": ticket.trace_id, "agent_id": agent_id});
        let Some(limit) = wait else {
            return ok(ids);
        };
        match tokio::time::timeout(limit, ticket.outcome).await {
            Ok(Ok(Ok(reply))) => ok(json!({
                "intent_id": ticket.intent_id, "trace_id": ticket.trace_id,
                "agent_id": reply.agent_id, "reply": reply.reply,
                "context_version": reply.context_version, "context_id": reply.context_id,
                "runner": reply.runner, "model": reply.model,
            })),
            Ok(Ok(Err(e))) => fail(format!("{agent_id} could not handle the intent: {e}")),
            Ok(Err(_)) => fail("the runtime stopped before the intent was handled"),
            Err(_) => fail(format!(
                "no reply within {}s; the intent {} is still queued or running",
                limit.as_secs(),
                ticket.intent_id
            )),
        }
    }

    /// The newest `limit` matching audit records, newest last, within the byte budget.
    /// Flushes first so the files hold every record written so far. Holds at most the
    /// records it returns (and one file's worth of lines, read one at a time).
    async fn tail(
        &self,
        limit: usize,
        agent_id: Option<&str>,
        action: Option<&str>,
    ) -> Result<Tail, String> {
        let log = self.hub().audit_log();
        log.flush().await.map_err(|e| e.to_string())?;
        let dir = log.dir().to_path_buf();
        let agent_id = agent_id.map(str::to_string);
        let action = action.map(str::to_string);
        let budget = self.limits().tail_record_budget();
        tokio::task::spawn_blocking(move || {
            let segments = list_segments(&dir).map_err(|e| e.to_string())?;
            // Newest file first; each file's window takes what is left of count and bytes.
            let mut newest_first: Vec<Vec<Value>> = Vec::new();
            let (mut count, mut bytes, mut cut) = (0, 0, false);
            for segment in segments.iter().rev() {
                if count >= limit || cut {
                    break;
                }
                let mut window = TailWindow::new(limit - count, budget - bytes);
                let mut reader = SegmentReader::open(&segment.path).map_err(|e| e.to_string())?;
                while let Some(line) = reader.next_line(true).map_err(|e| e.to_string())? {
                    if let LineRead::Record { record, .. } = line {
                        let wanted = agent_id
                            .as_deref()
                            .is_none_or(|a| record.agent_id.as_deref() == Some(a))
                            && action.as_deref().is_none_or(|x| record.action == x);
                        if wanted {
                            let value = serde_json::to_value(&record).map_err(|e| e.to_string())?;
                            let size = serde_json::to_vec(&value).map_or(0, |v| v.len());
                            window.push(value, size);
                        }
                    }
                }
                count += window.len();
                bytes += window.bytes();
                cut = window.cut();
                newest_first.push(window.into_records());
            }
            let records = newest_first.into_iter().rev().flatten().collect();
            Ok(Tail { records, cut })
        })
        .await
        .map_err(|e| e.to_string())?
    }
}

/// What `tail_audit` found: records oldest first, and whether the byte budget cut some.
struct Tail {
    records: Vec<Value>,
    cut: bool,
}
