//! One attempt at one delivery: the only place hooks reach the world. Each target kind
//! ends in an [`Attempt`] the retry policy reads.

use std::time::Duration;

use serde_json::{Value, json};

use super::Inner;
use super::event::{HookEvent, arguments, fill};
use super::outbox::Delivery;
use super::retry::Attempt;
use super::sign::{DELIVERY_HEADER, EVENT_HEADER, SIGNATURE_HEADER, signature};
use super::spec::Target;
use crate::context::Caller;

/// Most of a receiver's answer read (and dropped), so the connection can be reused.
const MAX_ANSWER_BYTES: usize = 64 * 1024;

/// The webhook body: the delivery id (also `X-Aios-Delivery`), the hook, and the event.
pub(crate) fn webhook_body(d: &Delivery) -> Vec<u8> {
    let ev = &d.event;
    let body = json!({
        "id": d.id,
        "event": ev.event,
        "hook": d.hook,
        "agent_id": ev.agent_id,
        "ts": ev.ts,
        "node": ev.node,
        "intent_id": ev.intent_id,
        "data": ev.data,
    });
    serde_json::to_vec(&body).unwrap_or_default()
}

/// One attempt, and how long the receiver asked to be left alone (`Retry-After`).
pub(crate) async fn attempt(
    inner: &Inner,
    d: &Delivery,
    target: &Target,
) -> (Attempt, Option<Duration>) {
    let timeout = Duration::from_millis(inner.opts.config.timeout_ms);
    let attempt = match target {
        Target::Webhook(url) => return webhook(inner, d, url, timeout).await,
        Target::Action(name) => action(inner, &d.event, name).await,
        Target::Intent { agent_id, template } => {
            let ev = &d.event;
            let from = Caller::hook(&d.agent_id, &d.hook);
            let text = fill(template, ev);
            match inner
                .opts
                .targets
                .intents
                .send_intent(
                    &from,
                    agent_id,
                    &text,
                    ev.trace_id.clone().or_else(|| ev.intent_id.clone()),
                    ev.intent_id.clone(),
                    // A hook's intent is one step further down the chain that caused it.
                    if ev.intent_id.is_some() {
                        ev.depth + 1
                    } else {
                        0
                    },
                )
                .await
            {
                Ok(_) => Attempt::Done,
                Err((true, e)) => Attempt::Failed(e),
                Err((false, e)) => Attempt::Refused(e),
            }
        }
        Target::Mcp { server, tool } => {
            let exposed = format!("{server}__{tool}");
            let args = Value::Object(arguments(&d.event));
            match tokio::time::timeout(timeout, inner.opts.targets.mcp.call(&exposed, args)).await {
                Err(_) => Attempt::Failed(format!("{exposed} did not answer within {timeout:?}")),
                Ok(Err(e)) => Attempt::Failed(e.to_string()),
                Ok(Ok(result)) if result.get("isError").and_then(Value::as_bool) == Some(true) => {
                    Attempt::Refused(format!(
                        "{exposed} answered with an error: {}",
                        short(&result)
                    ))
                }
                Ok(Ok(_)) => Attempt::Done,
            }
        }
    };
    (attempt, None)
}

async fn webhook(
    inner: &Inner,
    d: &Delivery,
    url: &reqwest::Url,
    timeout: Duration,
) -> (Attempt, Option<Duration>) {
    let body = webhook_body(d);
    let t = inner.opts.clock.now().timestamp();
    let sent = inner
        .opts
        .targets
        .http
        .post(url.clone())
        .timeout(timeout)
        .header(reqwest::header::CONTENT_TYPE, "application/json")
        .header(
            reqwest::header::USER_AGENT,
            concat!("aios/", env!("CARGO_PKG_VERSION")),
        )
        .header(EVENT_HEADER, &d.event.event)
        .header(DELIVERY_HEADER, &d.id)
        .header(
            SIGNATURE_HEADER,
            signature(&inner.opts.secrets.current(), t, &body),
        )
        .body(body)
        .send()
        .await;
    match sent {
        Ok(mut resp) => {
            let status = resp.status().as_u16();
            let retry_after = if matches!(status, 429 | 503) {
                resp.headers()
                    .get(reqwest::header::RETRY_AFTER)
                    .and_then(|v| v.to_str().ok())
                    .and_then(|v| super::retry::parse_retry_after(v, inner.opts.clock.now()))
            } else {
                None
            };
            let mut read = 0;
            while read < MAX_ANSWER_BYTES {
                match resp.chunk().await {
                    Ok(Some(c)) => read += c.len(),
                    _ => break,
                }
            }
            (Attempt::Status(status), retry_after)
        }
        // The URL may carry a token in its query: errors are told without it, with their
        // cause ("connection refused"), which reqwest keeps in the source chain.
        Err(e) => (
            Attempt::Failed(crate::actions::execute::error_chain(&e.without_url())),
            None,
        ),
    }
}

async fn action(inner: &Inner, ev: &HookEvent, name: &str) -> Attempt {
    let Some(action) = inner.opts.targets.actions.get(name) else {
        return Attempt::Refused(format!("no HTTP action `{name}` is configured"));
    };
    // Only the arguments the action declares: the event carries more than it takes.
    let params = action.parameters();
    let declared = params.get("properties").and_then(Value::as_object);
    let args: serde_json::Map<String, Value> = arguments(ev)
        .into_iter()
        .filter(|(k, _)| declared.is_some_and(|p| p.contains_key(k)))
        .collect();
    let prepared = match action.prepare(&Value::Object(args), &|n| {
        inner.opts.targets.actions.secret(n)
    }) {
        Ok(p) => p,
        Err(e) => return Attempt::Refused(e.to_string()),
    };
    match action.execute(&inner.opts.targets.http, prepared).await {
        Ok(outcome) => Attempt::Status(outcome.status),
        Err(e) => Attempt::Failed(e.to_string()),
    }
}

fn short(v: &Value) -> String {
    let text = v.to_string();
    match text.char_indices().nth(200) {
        Some((i, _)) => format!("{}…", &text[..i]),
        None => text,
    }
}
