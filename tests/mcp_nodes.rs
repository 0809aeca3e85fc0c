//! MCP subscribers on one node hear of changes made on another: goals and context changed
//! through node A's hub become `resources/updated` URIs on node B, which shares only the bus.

mod support;

use std::sync::Arc;
use std::time::Duration;

use aios::agent::{Runtime, RuntimeOptions};
use aios::bus::{Bus, LocalBus};
use aios::context::{Caller, Cause, ProtocolHook};
use aios::mcp::Updates;
use tokio_util::sync::CancellationToken;

async fn node(bus: &Arc<LocalBus>, dir: &std::path::Path, name: &str) -> Runtime {
    let mut config = support::config_in(dir);
    config.runtime.node = name.into();
    Runtime::start(RuntimeOptions {
        bus: Some(bus.clone() as Arc<dyn Bus>),
        ..support::options(config)
    })
    .await
    .unwrap()
}

async fn next_uri(rx: &mut tokio::sync::broadcast::Receiver<String>, want: &str) {
    tokio::time::timeout(Duration::from_secs(10), async {
        while let Ok(uri) = rx.recv().await {
            if uri == want {
                return;
            }
        }
    })
    .await
    .unwrap_or_else(|_| panic!("no update for {want}"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn goal_and_context_changes_on_one_node_update_subscribers_on_another() {
    let bus = Arc::new(LocalBus::new(1 << 20));
    let (da, db) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let a = node(&bus, da.path(), "edge-a").await;
    let b = node(&bus, db.path(), "edge-b").await;
    let cancel = CancellationToken::new();
    let updates = Updates::start(&b, cancel.clone(), &tokio_util::task::TaskTracker::new());
    let mut rx = updates.subscribe();

    a.hub()
        .set_goals(
            &Caller::operator("alice"),
            "billing-agent",
            vec!["close the books".into()],
        )
        .await
        .unwrap();
    next_uri(&mut rx, "aios://agents/billing-agent/goals").await;

    a.hub()
        .add_protocol_hook(
            &Caller::operator("alice"),
            "billing-agent",
            ProtocolHook {
                name: "on_invoice".into(),
                on: "intent.done".into(),
                action: "intent:account-agent Update the account: {reply}".into(),
            },
        )
        .await
        .unwrap();
    next_uri(&mut rx, "aios://agents/billing-agent/protocol_hooks").await;

    a.hub()
        .update_context(
            &Caller::operator("alice"),
            "billing-agent",
            "ledger: balanced\n".into(),
            "audit".into(),
            Cause::default(),
        )
        .await
        .unwrap();
    next_uri(&mut rx, "aios://agents/billing-agent/context").await;
    cancel.cancel();
    a.shutdown().await;
    b.shutdown().await;
}
