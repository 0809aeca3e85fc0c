//! `aios mcp` on stdio against the real binary, with rmcp's client on both protocol
//! revisions: in-process when no owner runs, piped to the owner's `mcp.sock` when one does.

// rmcp marks resources/subscribe deprecated because 2026-07-28 replaced it; 2025-11-25
// clients still use it, and these tests check that aios answers them.
#![allow(deprecated)]

#[path = "support/mcp.rs"]
mod mcp_support;
mod support;

use std::time::Duration;

use mcp_support::{AUDITED, BOTH, Rev, Serve, connect_http, connect_stdio, exercise_everything};
use std::sync::Arc;

use rmcp::model::{SubscribeRequestParams, SubscriptionFilter};
use support::aios;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stdio_without_an_owner_serves_in_process() {
    for rev in BOTH {
        let tmp = tempfile::tempdir().unwrap();
        let data = tmp.path().join("data");
        let name = format!("stdio-alone-{rev:?}");
        let (client, _) = connect_stdio(tmp.path(), &data, rev, &name).await;
        exercise_everything(&client, "ops-agent").await;

        // `aios mcp` owns the data dir now: another invocation reaches it.
        let out = aios(tmp.path(), &data)
            .args(["agents", "--json"])
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );

        // Closing stdin ends the server in order: the audit log is complete.
        client.cancel().await.unwrap();
        mcp_support::wait_for_audit(&data, &format!("mcp:{name}"), &AUDITED);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stdio_goes_through_a_running_owner() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    let serve = Serve::start(tmp.path(), &data, &[]);
    for (rev, agent) in [(Rev::Legacy, "infra-agent"), (Rev::Modern, "dev-agent")] {
        let name = format!("stdio-piped-{rev:?}");
        let (client, _) = connect_stdio(tmp.path(), &data, rev, &name).await;
        exercise_everything(&client, agent).await;
        client.cancel().await.unwrap();
        mcp_support::wait_for_audit(&data, &format!("mcp:{name}"), &AUDITED);
    }
    // Nothing but the owner opened the store: the owner still runs and stops cleanly.
    serve.stop();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stdio_subscriber_hears_an_http_clients_update() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    let serve = Serve::start(tmp.path(), &data, &[]);
    let (writer, _) = connect_http(&serve.url, Rev::Legacy, "http-writer", serve.token()).await;
    let writer = Arc::new(writer);
    let uri = "aios://agents/seo-agent/context";

    // 2025-11-25: resources/subscribe, then notifications/resources/updated.
    let (legacy, mut heard) = connect_stdio(tmp.path(), &data, Rev::Legacy, "stdio-sub").await;
    legacy
        .subscribe(SubscribeRequestParams::new(uri))
        .await
        .expect("resources/subscribe");
    {
        let _churn = mcp_support::churn(writer.clone(), "seo-agent");
        mcp_support::hear(&mut heard, uri).await;
    }
    legacy.cancel().await.unwrap();

    // 2026-07-28: subscriptions/listen; the update arrives on the listen stream.
    let (modern, _) = connect_stdio(tmp.path(), &data, Rev::Modern, "stdio-listen").await;
    let mut sub = modern
        .listen(
            SubscriptionFilter::builder()
                .resource_subscription(uri)
                .build(),
        )
        .await
        .expect("subscriptions/listen");
    {
        let _churn = mcp_support::churn(writer.clone(), "seo-agent");
        mcp_support::hear_on(&mut sub, uri).await;
    }
    let _ = tokio::time::timeout(Duration::from_secs(5), sub.cancel()).await;
    modern.cancel().await.unwrap();
    serve.stop();
}
