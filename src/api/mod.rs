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
//! Every error is JSON `{"error": "..."}` (`error.rs`), except the guard's 401/403, which
//! are the same plain answers `/mcp` gives.

mod error;
mod events;
mod intents;
mod tracker;

use std::sync::Arc;

use axum::Router;
use axum::http::header;
use axum::response::IntoResponse;
use axum::routing::{MethodRouter, get, post};
use tokio_util::sync::CancellationToken;

use crate::agent::Runtime;

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

/// What every handler shares.
pub(crate) struct Api {
    pub(crate) runtime: Runtime,
    pub(crate) tracker: Arc<Tracker>,
    /// Fires when the server stops: open event streams end, so shutdown does not wait on them.
    pub(crate) cancel: CancellationToken,
}

/// The routes, for any outer router state. Starts the tracker, which follows the runtime's
/// events until `cancel`.
pub fn router<S: Clone + Send + Sync + 'static>(
    runtime: Runtime,
    cancel: CancellationToken,
) -> Router<S> {
    let tracker = Arc::new(Tracker::new(MAX_TRACKED, MAX_TRACKED_BYTES));
    tracker::follow(tracker.clone(), runtime.subscribe(), cancel.clone());
    let api = Arc::new(Api {
        runtime,
        tracker,
        cancel,
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
}
