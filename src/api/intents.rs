//! `POST /v1/intents` (make an agent act, optionally waiting for its reply) and
//! `GET /v1/intents/{id}` (where an intent is). The dispatch goes through the runtime like
//! every other, so its checks and its audit record apply; the caller is
//! `http:<client>[:<subject>]`, the client named by its User-Agent. The guard has checked
//! the role (operator to dispatch) before these run.

use std::sync::Arc;
use std::time::Duration;

use axum::Json;
use axum::extract::rejection::QueryRejection;
use axum::extract::{Path, Query, Request, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use serde_json::json;

use crate::agent::dispatcher::text_problem;
use crate::agent::{MAX_INTENT_BYTES, RuntimeError};
use crate::context::{Caller, Door, HubError};
use crate::mcp::{AuthGrant, http_caller};

use super::Api;
use super::error::ApiError;

/// Largest request body: room for the longest text escaped as JSON (a control character
/// takes six bytes) and the other fields; more is refused before it is read.
pub const MAX_BODY_BYTES: usize = 6 * MAX_INTENT_BYTES + 16 * 1024;
/// How long `?wait=true` waits when `timeout_s` is not given.
pub const DEFAULT_WAIT_S: u64 = 30;
/// The longest `timeout_s` taken.
pub const MAX_WAIT_S: u64 = 300;
/// Longest `trace_id` / `parent_id`.
const MAX_ID_BYTES: usize = 128;

/// The minimal intent form, the same one `agent.action.intents` takes from outside tools.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct IntentRequest {
    agent_id: String,
    text: String,
    #[serde(default)]
    trace_id: Option<String>,
    #[serde(default)]
    parent_id: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct WaitQuery {
    #[serde(default)]
    wait: Option<bool>,
    #[serde(default)]
    timeout_s: Option<u64>,
}

/// `POST /v1/intents`.
pub(super) async fn create(
    State(api): State<Arc<Api>>,
    query: Result<Query<WaitQuery>, QueryRejection>,
    request: Request,
) -> Response {
    match dispatch(&api, query, request).await {
        Ok(response) => response,
        Err(e) => e.into_response(),
    }
}

async fn dispatch(
    api: &Api,
    query: Result<Query<WaitQuery>, QueryRejection>,
    request: Request,
) -> Result<Response, ApiError> {
    let Query(query) = query.map_err(|e| {
        ApiError::bad_request(format!(
            "bad query: {}; expected wait=true|false and timeout_s=<seconds, 1..={MAX_WAIT_S}>",
            e.body_text()
        ))
    })?;
    let wait = match (query.wait.unwrap_or(false), query.timeout_s) {
        (_, Some(s)) if s == 0 || s > MAX_WAIT_S => {
            return Err(ApiError::bad_request(format!(
                "timeout_s must be between 1 and {MAX_WAIT_S}, got {s}"
            )));
        }
        (true, s) => Some(Duration::from_secs(s.unwrap_or(DEFAULT_WAIT_S))),
        (false, _) => None,
    };
    let caller = caller_of(request.headers(), request.extensions().get::<AuthGrant>());
    let body = read_json(request).await?;
    let form: IntentRequest = serde_json::from_slice(&body).map_err(|e| {
        ApiError::bad_request(format!(
            "the body is not an intent: {e}; expected {{\"agent_id\": \"…\", \"text\": \"…\"}} \
             with optional trace_id and parent_id"
        ))
    })?;
    for (name, value) in [("trace_id", &form.trace_id), ("parent_id", &form.parent_id)] {
        if let Some(v) = value
            && let Some(problem) = id_problem(v)
        {
            return Err(ApiError::bad_request(format!("{name} {problem}")));
        }
    }

    let ticket = api
        .runtime
        .dispatch(
            &caller,
            &form.agent_id,
            &form.text,
            form.trace_id.clone(),
            form.parent_id.clone(),
        )
        .await
        .map_err(|e| refused(e, &form.text))?;
    let id = ticket.intent_id.clone();
    let view = api
        .tracker
        .dispatched(&id, &form.agent_id, &ticket.trace_id);

    // The outcome is recorded whether or not this request is still waiting for it.
    let (tx, rx) = tokio::sync::oneshot::channel();
    let tracker = api.tracker.clone();
    let agent_id = form.agent_id.clone();
    let outcome = ticket.outcome;
    let recorded_id = id.clone();
    // Not cut short by the shutdown: the runtime answers every intent as it stops.
    api.tasks.spawn(async move {
        let outcome = outcome
            .await
            .unwrap_or(Err(crate::agent::IntentFailure::Unanswered));
        tracker.settle(&recorded_id, &agent_id, outcome);
        let _ = tx.send(());
    });

    let Some(limit) = wait else {
        return Ok(accepted(&view));
    };
    let _ = tokio::time::timeout(limit, rx).await;
    match api.tracker.get(&id) {
        Some(view) if view.status.is_final() => Ok((StatusCode::OK, Json(view)).into_response()),
        Some(view) => Ok(accepted(&view)),
        // Pushed out of a full table while we waited: say what we know.
        None => Ok(accepted(&view)),
    }
}

/// 202 with where to look: the id, the status so far and the status URL.
fn accepted(view: &super::IntentView) -> Response {
    let location = format!("/v1/intents/{}", view.intent_id);
    let mut body = serde_json::to_value(view).unwrap_or_else(|_| json!({}));
    if let Some(map) = body.as_object_mut() {
        map.insert("status_url".into(), json!(location));
    }
    let mut response = (StatusCode::ACCEPTED, Json(body)).into_response();
    if let Ok(v) = header::HeaderValue::from_str(&location) {
        response.headers_mut().insert(header::LOCATION, v);
    }
    response
}

/// The body, if it is JSON and not too large.
async fn read_json(request: Request) -> Result<axum::body::Bytes, ApiError> {
    let content_type = request
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|h| h.to_str().ok())
        .unwrap_or("");
    let essence = content_type.split(';').next().unwrap_or("").trim();
    if !essence.eq_ignore_ascii_case("application/json") {
        return Err(ApiError::new(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            format!(
                "the body must be JSON, sent with Content-Type: application/json (got {})",
                if content_type.is_empty() {
                    "none".to_string()
                } else {
                    format!("`{}`", content_type.chars().take(100).collect::<String>())
                }
            ),
        ));
    }
    axum::body::to_bytes(request.into_body(), MAX_BODY_BYTES)
        .await
        .map_err(|e| {
            if e.to_string().contains("length limit") {
                ApiError::new(
                    StatusCode::PAYLOAD_TOO_LARGE,
                    format!("the request body is over {MAX_BODY_BYTES} bytes"),
                )
            } else {
                ApiError::bad_request(format!("the request body could not be read: {e}"))
            }
        })
}

/// What a refused dispatch answers.
fn refused(e: RuntimeError, text: &str) -> ApiError {
    match e {
        RuntimeError::Hub(HubError::UnknownAgent { .. }) => ApiError::not_found(e.to_string()),
        RuntimeError::Hub(HubError::Forbidden(_)) => {
            ApiError::new(StatusCode::FORBIDDEN, e.to_string())
        }
        RuntimeError::Rejected(reason) => match text_problem(text) {
            Some(_) if text.len() > MAX_INTENT_BYTES => {
                ApiError::new(StatusCode::PAYLOAD_TOO_LARGE, reason)
            }
            Some(_) => ApiError::bad_request(reason),
            // Not the text: the bus refused it.
            None => ApiError::new(
                StatusCode::SERVICE_UNAVAILABLE,
                format!("the intent could not be queued: {reason}"),
            ),
        },
        RuntimeError::ShuttingDown => ApiError::new(StatusCode::SERVICE_UNAVAILABLE, e.to_string()),
        other => {
            tracing::error!(error = %other, "an API dispatch failed");
            ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, other.to_string())
        }
    }
}

/// Why `id` cannot be a trace or parent id, if it cannot: it goes into the bus envelope and
/// the audit log, so it is short and printable.
fn id_problem(id: &str) -> Option<String> {
    if id.is_empty() || id.len() > MAX_ID_BYTES {
        return Some(format!("must be 1 to {MAX_ID_BYTES} bytes long"));
    }
    (!id.chars().all(|c| c.is_ascii_graphic()))
        .then(|| "may hold only printable ASCII characters, no spaces".to_string())
}

/// `http:<client>[:<subject>]`: the client is the User-Agent's first product (`n8n`,
/// `curl`, `python-requests`), the subject an OIDC token's.
fn caller_of(headers: &HeaderMap, grant: Option<&AuthGrant>) -> Caller {
    http_caller(
        Door::Http,
        headers,
        grant.and_then(|g| g.subject.as_deref()),
    )
}

/// `GET /v1/intents/{id}`.
pub(super) async fn status(State(api): State<Arc<Api>>, Path(id): Path<String>) -> Response {
    match api.tracker.get(&id) {
        Some(view) => Json(view).into_response(),
        None => ApiError::not_found(format!(
            "no intent `{}` is known here: the API keeps the latest {} intents of this \
             runtime since it started (the audit log has them all)",
            id.chars().take(MAX_ID_BYTES).collect::<String>(),
            super::MAX_TRACKED
        ))
        .into_response(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_caller_names_the_client_and_the_subject() {
        let mut h = HeaderMap::new();
        assert_eq!(caller_of(&h, None).to_string(), "http:unnamed-client");
        h.insert(header::USER_AGENT, "n8n".parse().unwrap());
        assert_eq!(caller_of(&h, None).to_string(), "http:n8n");
        h.insert(header::USER_AGENT, "curl/8.5.0".parse().unwrap());
        let alice = AuthGrant {
            subject: Some("alice".into()),
            role: crate::roles::Role::Operator,
        };
        assert_eq!(caller_of(&h, Some(&alice)).to_string(), "http:curl:alice");
    }

    #[test]
    fn ids_are_short_and_printable() {
        assert!(id_problem("0193-abc").is_none());
        assert!(id_problem("").is_some());
        assert!(id_problem("a b").is_some());
        assert!(id_problem("x\u{1b}[2J").is_some());
        assert!(id_problem(&"x".repeat(129)).is_some());
    }

    #[test]
    fn refusals_map_to_statuses() {
        let unknown = RuntimeError::Hub(HubError::UnknownAgent {
            id: "nobody".into(),
            hint: None,
        });
        assert_eq!(refused(unknown, "hi").status, StatusCode::NOT_FOUND);
        let empty = RuntimeError::Rejected("the intent text is empty".into());
        assert_eq!(refused(empty, " ").status, StatusCode::BAD_REQUEST);
        let long = "x".repeat(MAX_INTENT_BYTES + 1);
        let big = RuntimeError::Rejected("too long".into());
        assert_eq!(refused(big, &long).status, StatusCode::PAYLOAD_TOO_LARGE);
        let bus = RuntimeError::Rejected("redis down".into());
        assert_eq!(refused(bus, "hi").status, StatusCode::SERVICE_UNAVAILABLE);
        assert_eq!(
            refused(RuntimeError::ShuttingDown, "hi").status,
            StatusCode::SERVICE_UNAVAILABLE
        );
    }
}
