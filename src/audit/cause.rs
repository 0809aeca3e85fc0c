//! What a call is made on behalf of: the intent, its chain (trace) and what caused it.
//!
//! The intent driver and the hook worker run their work inside [`scope`]; every audit
//! record written in it carries the cause, however deep the call that wrote it, with no
//! parameter threaded through the ContextHub, the tools and the approvals.

use std::future::Future;

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CallCause {
    pub intent_id: Option<String>,
    pub trace_id: Option<String>,
    /// The intent or event that led to this one.
    pub parent_id: Option<String>,
}

tokio::task_local! {
    static CAUSE: CallCause;
}

/// Run `f` with `cause` in force for every record it writes.
pub async fn scope<F: Future>(cause: CallCause, f: F) -> F::Output {
    CAUSE.scope(cause, f).await
}

/// The same for a synchronous piece of work.
pub fn sync_scope<R>(cause: CallCause, f: impl FnOnce() -> R) -> R {
    CAUSE.sync_scope(cause, f)
}

/// The cause in force here; empty outside any scope.
pub fn current() -> CallCause {
    CAUSE.try_with(Clone::clone).unwrap_or_default()
}
