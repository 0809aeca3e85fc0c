//! A bound on the HTTP sessions (2025-11-25 clients) held in memory: rmcp's local session
//! manager, with at most `mcp.max_sessions` sessions. A new session evicts the one idle the
//! longest (no request running, no open stream); when every session is busy it is refused,
//! and the HTTP guard answers 503 (`admit`).

use std::cell::Cell;
use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Instant;

use futures::{Stream, StreamExt};
use rmcp::model::{ClientJsonRpcMessage, ServerJsonRpcMessage};
use rmcp::transport::streamable_http_server::SessionManager;
use rmcp::transport::streamable_http_server::session::ServerSseMessage;
use rmcp::transport::streamable_http_server::session::local::{
    LocalSessionManager, LocalSessionManagerError,
};
use rmcp::transport::streamable_http_server::{RestoreOutcome, SessionId};

tokio::task_local! {
    /// Set by `create_session` when it refused a session because all are busy, read by
    /// the HTTP guard around the same request (rmcp itself would answer 500).
    static REFUSED: Cell<bool>;
}

/// Run one HTTP request; true when it was refused a session because all are busy.
pub async fn admit<F: Future>(request: F) -> (F::Output, bool) {
    REFUSED
        .scope(Cell::new(false), async {
            let out = request.await;
            (out, REFUSED.with(Cell::get))
        })
        .await
}

#[derive(Debug, thiserror::Error)]
pub enum SessionsError {
    #[error("all {0} MCP sessions (mcp.max_sessions) are busy")]
    Full(usize),
    #[error(transparent)]
    Local(#[from] LocalSessionManagerError),
}

/// What the bound knows of one session.
struct Entry {
    last_used: Instant,
    /// Requests running and streams open on it; > 0 = busy, never evicted.
    open: Arc<AtomicUsize>,
}

#[derive(Default)]
struct Table {
    sessions: HashMap<SessionId, Entry>,
    /// Sessions being created (counted against the bound before they have an id).
    creating: usize,
}

pub struct BoundedSessions {
    inner: LocalSessionManager,
    max: usize,
    table: Mutex<Table>,
    warned: AtomicBool,
}

/// Keeps a session busy while a request or stream on it lives.
struct Busy(Arc<AtomicUsize>);

impl Drop for Busy {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::Relaxed);
    }
}

/// One session being created, counted against the bound until it is in the table or has
/// failed — also when the request is dropped half-way (the client went away).
struct Reservation<'a> {
    sessions: &'a BoundedSessions,
    done: bool,
}

impl Reservation<'_> {
    /// The session exists: it takes the reserved place.
    fn fill(mut self, id: SessionId) {
        let mut table = self.sessions.table();
        table.creating -= 1;
        table.sessions.insert(
            id,
            Entry {
                last_used: Instant::now(),
                open: Arc::default(),
            },
        );
        self.done = true;
    }
}

impl Drop for Reservation<'_> {
    fn drop(&mut self) {
        if !self.done {
            self.sessions.table().creating -= 1;
        }
    }
}

/// Pick the session to evict: the one idle the longest, or none when all are busy. Pure.
fn victim<'a>(
    sessions: impl Iterator<Item = (&'a SessionId, Instant, usize)>,
) -> Option<SessionId> {
    sessions
        .filter(|(_, _, open)| *open == 0)
        .min_by_key(|(_, last_used, _)| *last_used)
        .map(|(id, _, _)| id.clone())
}

impl BoundedSessions {
    pub fn new(max: usize) -> BoundedSessions {
        BoundedSessions {
            inner: LocalSessionManager::default(),
            max: max.max(1),
            table: Mutex::default(),
            warned: AtomicBool::new(false),
        }
    }

    fn table(&self) -> std::sync::MutexGuard<'_, Table> {
        // A panic while holding the lock leaves plain data behind: keep using it.
        self.table.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Mark a session used now and busy until the returned guard drops.
    fn busy(&self, id: &SessionId) -> Option<Busy> {
        let mut table = self.table();
        let entry = table.sessions.get_mut(id)?;
        entry.last_used = Instant::now();
        entry.open.fetch_add(1, Ordering::Relaxed);
        Some(Busy(entry.open.clone()))
    }

    fn touch(&self, id: &SessionId) {
        if let Some(entry) = self.table().sessions.get_mut(id) {
            entry.last_used = Instant::now();
        }
    }

    /// Make room for one more session: nothing to do under the bound; else evict the
    /// session idle the longest, or refuse when all are busy.
    fn reserve(&self) -> Result<(Reservation<'_>, Option<SessionId>), SessionsError> {
        let mut table = self.table();
        let evict = if table.sessions.len() + table.creating >= self.max {
            let id = victim(
                table
                    .sessions
                    .iter()
                    .map(|(id, e)| (id, e.last_used, e.open.load(Ordering::Relaxed))),
            )
            .ok_or(SessionsError::Full(self.max))?;
            table.sessions.remove(&id);
            Some(id)
        } else {
            None
        };
        table.creating += 1;
        let reservation = Reservation {
            sessions: self,
            done: false,
        };
        Ok((reservation, evict))
    }

    /// Tracks one stream of a session: the session is busy while the stream is open.
    fn tracked<S>(&self, id: &SessionId, stream: S) -> impl Stream<Item = S::Item> + use<S>
    where
        S: Stream,
    {
        let busy = self.busy(id);
        stream.map(move |item| {
            let _held = &busy;
            item
        })
    }
}

impl SessionManager for BoundedSessions {
    type Error = SessionsError;
    type Transport = <LocalSessionManager as SessionManager>::Transport;

    async fn create_session(&self) -> Result<(SessionId, Self::Transport), Self::Error> {
        let (reservation, evict) = match self.reserve() {
            Ok(r) => r,
            Err(e) => {
                let _ = REFUSED.try_with(|r| r.set(true));
                tracing::warn!(
                    max = self.max,
                    "refused an MCP session: every session is busy"
                );
                return Err(e);
            }
        };
        if let Some(id) = evict {
            if !self.warned.swap(true, Ordering::Relaxed) {
                tracing::warn!(
                    max = self.max,
                    "MCP sessions reached mcp.max_sessions: new ones evict the one idle the longest"
                );
            }
            tracing::debug!(session = %id, "evicting the MCP session idle the longest");
            if let Err(e) = self.inner.close_session(&id).await {
                tracing::debug!(error = %e, "closing an evicted MCP session");
            }
        }
        let (id, transport) = self.inner.create_session().await?;
        reservation.fill(id.clone());
        Ok((id, transport))
    }

    async fn initialize_session(
        &self,
        id: &SessionId,
        message: ClientJsonRpcMessage,
    ) -> Result<ServerJsonRpcMessage, Self::Error> {
        let _busy = self.busy(id);
        Ok(self.inner.initialize_session(id, message).await?)
    }

    async fn has_session(&self, id: &SessionId) -> Result<bool, Self::Error> {
        let known = self.table().sessions.contains_key(id);
        Ok(known && self.inner.has_session(id).await?)
    }

    async fn close_session(&self, id: &SessionId) -> Result<(), Self::Error> {
        self.table().sessions.remove(id);
        Ok(self.inner.close_session(id).await?)
    }

    async fn create_stream(
        &self,
        id: &SessionId,
        message: ClientJsonRpcMessage,
    ) -> Result<impl Stream<Item = ServerSseMessage> + Send + Sync + 'static, Self::Error> {
        let stream = self.inner.create_stream(id, message).await?;
        Ok(self.tracked(id, stream))
    }

    async fn accept_message(
        &self,
        id: &SessionId,
        message: ClientJsonRpcMessage,
    ) -> Result<(), Self::Error> {
        self.touch(id);
        Ok(self.inner.accept_message(id, message).await?)
    }

    async fn create_standalone_stream(
        &self,
        id: &SessionId,
    ) -> Result<impl Stream<Item = ServerSseMessage> + Send + Sync + 'static, Self::Error> {
        let stream = self.inner.create_standalone_stream(id).await?;
        Ok(self.tracked(id, stream))
    }

    async fn resume(
        &self,
        id: &SessionId,
        last_event_id: String,
    ) -> Result<impl Stream<Item = ServerSseMessage> + Send + Sync + 'static, Self::Error> {
        let stream = self.inner.resume(id, last_event_id).await?;
        Ok(self.tracked(id, stream))
    }

    async fn restore_session(
        &self,
        _id: SessionId,
    ) -> Result<RestoreOutcome<Self::Transport>, Self::Error> {
        // No external session store: nothing to restore.
        Ok(RestoreOutcome::NotSupported)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn the_longest_idle_session_is_the_victim_and_busy_ones_never_are() {
        let now = Instant::now();
        let ids: Vec<SessionId> = ["a", "b", "c"].into_iter().map(Into::into).collect();
        let old = now - Duration::from_secs(60);
        let older = now - Duration::from_secs(120);
        let rows = [(&ids[0], old, 0), (&ids[1], older, 1), (&ids[2], now, 0)];
        assert_eq!(victim(rows.into_iter()).as_deref(), Some("a"));
        let all_busy = [(&ids[0], old, 2), (&ids[1], older, 1)];
        assert_eq!(victim(all_busy.into_iter()), None);
    }

    #[tokio::test]
    async fn sessions_beyond_the_bound_evict_or_are_refused() {
        let sessions = BoundedSessions::new(2);
        let (a, _ta) = sessions.create_session().await.unwrap();
        let (b, _tb) = sessions.create_session().await.unwrap();
        // `a` is idle the longest: the third session takes its place.
        sessions.touch(&b);
        let (c, _tc) = sessions.create_session().await.unwrap();
        assert!(!sessions.has_session(&a).await.unwrap());
        assert!(sessions.has_session(&b).await.unwrap());
        assert!(sessions.has_session(&c).await.unwrap());
        // Both busy: the next one is refused, and the guard learns why.
        let _busy_b = sessions.busy(&b);
        let _busy_c = sessions.busy(&c);
        let (refused, full) = admit(sessions.create_session()).await;
        assert!(matches!(refused, Err(SessionsError::Full(2))));
        assert!(full);
        drop(_busy_c);
        let (d, _) = admit(sessions.create_session()).await;
        let (d, _td) = d.unwrap();
        assert!(!sessions.has_session(&c).await.unwrap());
        assert!(sessions.has_session(&d).await.unwrap());

        // A creation dropped half-way gives its place back.
        drop(_busy_b);
        {
            let (reservation, evicted) = sessions.reserve().unwrap();
            assert!(evicted.is_some());
            drop(reservation);
        }
        assert_eq!(sessions.table().creating, 0);
    }
}
