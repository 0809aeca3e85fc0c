//! Callers waiting for intents, by intent id. An outcome arrives either from this node's
//! own agent task or, when another node handled the intent, from the results channel;
//! whichever comes first answers, the other finds nobody waiting.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use tokio::sync::oneshot;

use super::types::{IntentFailure, IntentReply};

pub type Outcome = Result<IntentReply, IntentFailure>;

#[derive(Clone, Default)]
pub struct Pending {
    waiters: Arc<Mutex<HashMap<String, oneshot::Sender<Outcome>>>>,
}

impl Pending {
    /// Wait for the outcome of `intent_id`.
    pub fn register(&self, intent_id: &str) -> oneshot::Receiver<Outcome> {
        let (tx, rx) = oneshot::channel();
        if let Ok(mut w) = self.waiters.lock() {
            // Callers that stopped waiting leave closed senders behind; drop them here so
            // the map stays as small as the set of live waiters.
            w.retain(|_, s| !s.is_closed());
            w.insert(intent_id.to_string(), tx);
        }
        rx
    }

    /// Answer whoever waits for `intent_id`; false when nobody does.
    pub fn resolve(&self, intent_id: &str, outcome: Outcome) -> bool {
        let waiter = self
            .waiters
            .lock()
            .ok()
            .and_then(|mut w| w.remove(intent_id));
        match waiter {
            Some(tx) => tx.send(outcome).is_ok(),
            None => false,
        }
    }

    /// Answer everyone still waiting (shutdown).
    pub fn fail_all(&self, why: &IntentFailure) {
        let all: Vec<_> = self
            .waiters
            .lock()
            .map(|mut w| w.drain().collect())
            .unwrap_or_default();
        for (_, tx) in all {
            let _ = tx.send(Err(why.clone()));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn the_first_outcome_wins() {
        let p = Pending::default();
        let rx = p.register("a");
        assert!(p.resolve("a", Err(IntentFailure::Refused("x".into()))));
        assert!(!p.resolve("a", Err(IntentFailure::Refused("y".into()))));
        assert_eq!(
            rx.await.unwrap().unwrap_err(),
            IntentFailure::Refused("x".into())
        );
    }

    #[tokio::test]
    async fn abandoned_waiters_are_dropped() {
        let p = Pending::default();
        drop(p.register("a"));
        let _b = p.register("b");
        assert_eq!(p.waiters.lock().unwrap().len(), 1);
    }
}
