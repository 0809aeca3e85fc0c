//! `GET /v1/events[?agent_id=]`: the runtime's events as Server-Sent Events. Each event is
//! one SSE event named as the event (`intent_done`, `token`, …) with its JSON in `data:`; a
//! comment every 15 s keeps proxies from closing a quiet stream. A client that reads too
//! slowly misses events instead of holding up the runtime, and is told how many with a
//! `lagged` event (`{"dropped": N}`). The stream ends when the server stops.

use std::convert::Infallible;
use std::sync::Arc;

use axum::extract::rejection::QueryRejection;
use axum::extract::{Query, State};
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::response::{IntoResponse, Response};
use futures::{Stream, StreamExt};
use serde::Deserialize;
use serde_json::{Value, json};
use tokio::sync::broadcast::{self, error::RecvError};

use crate::event::RuntimeEvent;

use super::Api;
use super::error::ApiError;

/// The SSE event a lagging client gets.
pub const LAGGED: &str = "lagged";

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct EventsQuery {
    #[serde(default)]
    agent_id: Option<String>,
}

/// `GET /v1/events`.
pub(super) async fn stream(
    State(api): State<Arc<Api>>,
    query: Result<Query<EventsQuery>, QueryRejection>,
) -> Response {
    let agent_id = match query {
        Ok(Query(q)) => q.agent_id,
        Err(e) => {
            return ApiError::bad_request(format!(
                "bad query: {}; expected agent_id=<agent>",
                e.body_text()
            ))
            .into_response();
        }
    };
    if let Some(agent) = &agent_id
        && let Err(e) = api.runtime.hub().spec(agent)
    {
        return ApiError::not_found(e.to_string()).into_response();
    }
    let events = sse_events(api.runtime.subscribe(), agent_id)
        .take_until(api.cancel.clone().cancelled_owned());
    Sse::new(events)
        .keep_alive(KeepAlive::default())
        .into_response()
}

/// The runtime's events (those of `agent_id` when given) as SSE events, until the runtime
/// is gone.
fn sse_events(
    rx: broadcast::Receiver<RuntimeEvent>,
    agent_id: Option<String>,
) -> impl Stream<Item = Result<Event, Infallible>> + Send + 'static {
    futures::stream::unfold(rx, move |mut rx| {
        let agent_id = agent_id.clone();
        async move {
            loop {
                match rx.recv().await {
                    Ok(event) => {
                        if agent_id
                            .as_deref()
                            .is_some_and(|a| event.agent_id() != Some(a))
                        {
                            continue;
                        }
                        if let Some(sse) = to_sse(&event) {
                            return Some((Ok(sse), rx));
                        }
                    }
                    Err(RecvError::Lagged(n)) => {
                        let lagged = Event::default()
                            .event(LAGGED)
                            .data(json!({ "dropped": n }).to_string());
                        return Some((Ok(lagged), rx));
                    }
                    Err(RecvError::Closed) => return None,
                }
            }
        }
    })
}

/// One event: named by its `event` field, its JSON as the data.
fn to_sse(event: &RuntimeEvent) -> Option<Event> {
    let value = serde_json::to_value(event).ok()?;
    let name = value.get("event").and_then(Value::as_str)?.to_string();
    // serde_json writes no raw newline, so the data is one `data:` line.
    Some(Event::default().event(name).data(value.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn events_are_named_filtered_and_lag_is_reported() {
        let (tx, rx) = broadcast::channel(2);
        let mut stream = Box::pin(sse_events(rx, Some("ops-agent".into())));
        let ev = |agent: &str| RuntimeEvent::IntentFailed {
            agent_id: agent.into(),
            intent_id: "i".into(),
            error: "e".into(),
        };
        // Three into a channel of two: the first is lost.
        for agent in ["ops-agent", "seo-agent", "ops-agent"] {
            tx.send(ev(agent)).unwrap();
        }
        let first = format!("{:?}", stream.next().await.unwrap().unwrap());
        assert!(
            first.contains(LAGGED) && first.contains("dropped"),
            "{first}"
        );
        // seo-agent's event is filtered out; ops-agent's comes through, named.
        let second = format!("{:?}", stream.next().await.unwrap().unwrap());
        assert!(second.contains("intent_failed"), "{second}");
        drop(tx);
        assert!(stream.next().await.is_none());
    }
}
