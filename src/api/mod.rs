//! The inbound HTTP API: what outside tools (n8n, scripts, a FastAPI-style client) use to
//! make agents act and to watch them, served beside `/mcp` on `mcp.http_bind` behind the
//! same guard (Origin check, bearer tokens or OIDC; see `mcp::http`).
//!
//! - `POST /v1/intents[?wait=true&timeout_s=N]`: dispatch `{"agent_id", "text"}` through the
//!   runtime (checked and audited like every dispatch); 202 with the id, or with `wait` the
//!   outcome (`intents.rs`).
//! - `GET /v1/intents/{id}`: an intent's status and outcome, from a bounded table fed by the
//!   runtime's events (`tracker.rs`).
//! - `GET /v1/events[?agent_id=]`: the runtime's events as Server-Sent Events (`events.rs`).
//! - `GET /v1/openapi.json`: the OpenAPI 3.1 document of these routes (`openapi.json`, one
//!   file for the docs and the code).
//!
//! Every error is JSON `{"error": "..."}` (`error.rs`), except the guard's 401 and its
//! Origin 403, which are the same plain answers `/mcp` gives.
//!
//! Roles ([`ROUTE_ROLES`], checked by the guard before a handler runs): dispatching needs
//! `operator`; an intent's status, the event stream and the document need `viewer`. A
//! refusal is 403 `{"error", "needed", "role"}`, audited with the caller and subject.

mod error;
mod events;
mod intents;
mod tracker;

use std::sync::Arc;

use axum::Router;
use axum::http::{Method, header};
use axum::response::IntoResponse;
use axum::routing::{MethodRouter, get, post};
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use crate::agent::Runtime;
use crate::roles::Role;

pub use tracker::{IntentStatus, IntentView, MAX_TRACKED, MAX_TRACKED_BYTES, Tracker};

/// Every API path starts with this (the guard authenticates everything under it).
pub const PREFIX: &str = "/v1/";

/// The OpenAPI 3.1 document, served as it is.
pub const OPENAPI: &str = include_str!("openapi.json");

const INTENTS: &str = "/v1/intents";
const INTENT: &str = "/v1/intents/{id}";
const EVENTS: &str = "/v1/events";
const OPENAPI_PATH: &str = "/v1/openapi.json";

/// Every path the router serves, in OpenAPI's template syntax (axum's is the same); the
/// router is built from this list, so a test can hold it against the document.
pub const PATHS: [&str; 4] = [INTENTS, INTENT, EVENTS, OPENAPI_PATH];

/// Every route with its method, the role it needs, and the audit action of a refusal.
pub const ROUTE_ROLES: [(Method, &str, Role, &str); 4] = [
    (Method::POST, INTENTS, Role::Operator, "dispatch_intent"),
    (Method::GET, INTENT, Role::Viewer, "intent_status"),
    (Method::GET, EVENTS, Role::Viewer, "watch_events"),
    (Method::GET, OPENAPI_PATH, Role::Viewer, "openapi"),
];

/// The role a request to `path` with `method` needs, and the audit action of a refusal. A
/// route that does not exist needs a viewer (and is answered 404 or 405).
pub fn route_role(method: &Method, path: &str) -> (Role, &'static str) {
    ROUTE_ROLES
        .iter()
        .find(|(m, template, _, _)| m == method && fits(template, path))
        .map_or((Role::Viewer, "http_api"), |(_, _, role, action)| {
            (*role, *action)
        })
}

/// Whether `path` is an instance of `template` (`{…}` stands for one non-empty segment).
fn fits(template: &str, path: &str) -> bool {
    let (mut t, mut p) = (template.split('/'), path.split('/'));
    loop {
        match (t.next(), p.next()) {
            (None, None) => return true,
            (Some(ts), Some(ps)) if ts.starts_with('{') && ts.ends_with('}') => {
                if ps.is_empty() {
                    return false;
                }
            }
            (Some(ts), Some(ps)) if ts == ps => {}
            _ => return false,
        }
    }
}

/// What every handler shares.
pub(crate) struct Api {
    pub(crate) runtime: Runtime,
    pub(crate) tracker: Arc<Tracker>,
    /// Fires when the server stops: open event streams end, so shutdown does not wait on them.
    pub(crate) cancel: CancellationToken,
    /// The owner's tracker: an intent's outcome is recorded by a task the shutdown waits for.
    pub(crate) tasks: TaskTracker,
}

/// The routes, for any outer router state. Starts the intent table, which follows the
/// runtime's events until `cancel`; every task runs on `tasks`.
pub fn router<S: Clone + Send + Sync + 'static>(
    runtime: Runtime,
    cancel: CancellationToken,
    tasks: &TaskTracker,
) -> Router<S> {
    let tracker = Arc::new(Tracker::new(MAX_TRACKED, MAX_TRACKED_BYTES));
    tracker::follow(tracker.clone(), runtime.subscribe(), cancel.clone(), tasks);
    let api = Arc::new(Api {
        runtime,
        tracker,
        cancel,
        tasks: tasks.clone(),
    });
    PATHS
        .iter()
        .fold(Router::new(), |router, path| {
            router.route(path, handler(path))
        })
        .with_state(api)
}

/// The methods served at `path`.
fn handler(path: &str) -> MethodRouter<Arc<Api>> {
    match path {
        INTENTS => post(intents::create),
        INTENT => get(intents::status),
        EVENTS => get(events::stream),
        OPENAPI_PATH => get(openapi),
        // A path listed without a handler answers 405 to everything (and fails the tests).
        _ => MethodRouter::new(),
    }
}

async fn openapi() -> impl IntoResponse {
    ([(header::CONTENT_TYPE, "application/json")], OPENAPI)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_document_is_json_and_names_every_path() {
        let doc: serde_json::Value = serde_json::from_str(OPENAPI).expect("openapi.json parses");
        assert_eq!(doc["openapi"], "3.1.0");
        for path in PATHS {
            assert!(doc["paths"].get(path).is_some(), "{path} missing");
        }
        assert_eq!(doc["paths"].as_object().map(|p| p.len()), Some(PATHS.len()));
    }

    #[test]
    fn every_route_has_a_role_and_dispatching_needs_an_operator() {
        let doc: serde_json::Value = serde_json::from_str(OPENAPI).unwrap();
        // One row per operation of the document, and no row without one.
        let mut operations = 0;
        for path in PATHS {
            for (method, _) in doc["paths"][path].as_object().unwrap() {
                operations += 1;
                let m = Method::from_bytes(method.to_ascii_uppercase().as_bytes()).unwrap();
                assert!(
                    ROUTE_ROLES
                        .iter()
                        .any(|(rm, p, _, _)| *rm == m && *p == path),
                    "{method} {path} has no row in ROUTE_ROLES"
                );
            }
        }
        assert_eq!(operations, ROUTE_ROLES.len());
        assert_eq!(
            route_role(&Method::POST, "/v1/intents"),
            (Role::Operator, "dispatch_intent")
        );
        assert_eq!(
            route_role(&Method::GET, "/v1/intents/0193-abc"),
            (Role::Viewer, "intent_status")
        );
        assert_eq!(route_role(&Method::GET, "/v1/events").0, Role::Viewer);
        assert_eq!(route_role(&Method::GET, "/v1/intents/").0, Role::Viewer);
        assert_eq!(route_role(&Method::DELETE, "/v1/intents").1, "http_api");
    }
}
