//! The TUI's stop key: `Runtime::stop` ends one agent's generation; the intent fails with
//! "stopped by the operator".

mod support;

use aios::agent::Runtime;
use aios::context::Caller;
use aios::event::RuntimeEvent;

#[tokio::test]
async fn stop_ends_the_running_generation_only() {
    let dir = tempfile::tempdir().unwrap();
    let mut config = support::config_in(dir.path());
    config.llm.runner = aios::config::RunnerKind::Sim;
    config.llm.sim.tokens_per_second = 5;
    let rt = Runtime::start(support::options(config)).await.unwrap();
    assert!(!rt.stop("ops-agent"), "nothing runs yet");
    let mut events = rt.subscribe();
    let ticket = rt
        .dispatch(
            &Caller::operator("t"),
            "ops-agent",
            "a long answer please",
            None,
            None,
        )
        .await
        .unwrap();
    loop {
        if let RuntimeEvent::Token { agent_id, .. } = events.recv().await.unwrap()
            && agent_id == "ops-agent"
        {
            break;
        }
    }
    assert!(rt.stop("ops-agent"));
    let outcome = tokio::time::timeout(std::time::Duration::from_secs(10), ticket.outcome)
        .await
        .unwrap()
        .unwrap();
    let err = outcome.unwrap_err();
    assert_eq!(
        err,
        aios::agent::IntentFailure::Turn(aios::agent::TurnFailure::Stopped(
            "stopped by the operator".into()
        ))
    );
    assert_eq!(err.to_string(), "stopped by the operator");
    // Nothing is left running for that agent: the worker forgets the generation right
    // after answering it (cancelling it again meanwhile is harmless).
    let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(5);
    while rt.stop("ops-agent") {
        assert!(
            tokio::time::Instant::now() < deadline,
            "the stopped generation is still registered as running"
        );
        tokio::task::yield_now().await;
    }
    rt.shutdown().await;
}
