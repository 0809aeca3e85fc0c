//! Mirroring the audit log to a bounded Redis stream (`{prefix}aios:audit`) so a TUI
//! attached through Redis can tail it. The mirror follows the files themselves, so it
//! carries each record's exact bytes (the chain verifies on the stream as on disk), has no
//! gap however far it falls behind, and after a Redis outage resumes from the last
//! sequence number the stream holds.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use redis::aio::ConnectionManager;
use tokio::sync::broadcast;
use tokio_util::sync::CancellationToken;

use crate::config::RedisUrl;

use super::reader::{Follower, LineRead};
use super::record::AuditRecord;

/// The stream key for a bus prefix.
pub fn mirror_key(prefix: &str) -> String {
    format!("{prefix}aios:audit")
}

/// Poll the files at least this often, even without a wake-up.
const POLL: Duration = Duration::from_millis(250);
/// Pause after a Redis error before resynchronising.
const RETRY: Duration = Duration::from_secs(1);
/// Records sent to Redis per round trip.
const BATCH: usize = 512;

pub struct AuditMirror {
    pub dir: PathBuf,
    pub conn: ConnectionManager,
    pub key: String,
    /// Approximate length the stream is trimmed to.
    pub max_len: usize,
}

impl AuditMirror {
    /// Connect to the Redis at `url`; the stream is `{prefix}aios:audit`.
    pub async fn connect(
        dir: PathBuf,
        url: &RedisUrl,
        prefix: &str,
        max_len: usize,
    ) -> Result<AuditMirror, MirrorError> {
        let conn = connect_stream(url, "audit mirror", Duration::from_secs(5)).await?;
        Ok(AuditMirror {
            dir,
            conn,
            key: mirror_key(prefix),
            max_len,
        })
    }

    /// Run until `cancel`; `written` wakes the mirror when records are appended.
    pub async fn run(
        mut self,
        mut written: broadcast::Receiver<Arc<AuditRecord>>,
        cancel: CancellationToken,
    ) {
        let mut follower: Option<Follower> = None;
        let mut last: Option<u64> = None;
        // Once the log is gone there is nothing to wake us: timed polls only.
        let mut notified = true;
        loop {
            if follower.is_none() {
                match self.last_mirrored().await {
                    Ok(seq) => {
                        last = seq;
                        follower = Some(Follower::from_start(&self.dir));
                    }
                    Err(e) => {
                        tracing::warn!(error = %e, "audit mirror: Redis unreachable; retrying");
                        if pause(&cancel, RETRY).await {
                            return;
                        }
                        continue;
                    }
                }
            }
            let lines = match follower.as_mut().map(Follower::poll) {
                Some(Ok(lines)) => lines,
                Some(Err(e)) => {
                    tracing::warn!(error = %e, "audit mirror: reading the audit files failed");
                    Vec::new()
                }
                None => Vec::new(),
            };
            for chunk in unsent(lines, last).chunks(BATCH) {
                match self.send(chunk).await {
                    Ok(()) => last = chunk.last().map(|(seq, _)| *seq),
                    Err(e) => {
                        tracing::warn!(error = %e, "audit mirror: XADD failed; will resync");
                        // Start over from what the stream holds once Redis is back.
                        follower = None;
                        break;
                    }
                }
            }
            if follower.is_none() {
                if pause(&cancel, RETRY).await {
                    return;
                }
                continue;
            }
            tokio::select! {
                () = cancel.cancelled() => {
                    // One last pass so records written just before shutdown are mirrored.
                    if let Some(Ok(lines)) = follower.as_mut().map(Follower::poll) {
                        for chunk in unsent(lines, last).chunks(BATCH) {
                            if self.send(chunk).await.is_err() {
                                break;
                            }
                        }
                    }
                    return;
                }
                r = written.recv(), if notified => {
                    if matches!(r, Err(broadcast::error::RecvError::Closed)) {
                        notified = false;
                    }
                    // Records reach the files in batches: one poll serves every
                    // notification already waiting, not one poll per record.
                    while written.try_recv().is_ok() {}
                }
                () = tokio::time::sleep(POLL) => {}
            }
        }
    }

    /// The highest sequence number on the stream, if any.
    async fn last_mirrored(&mut self) -> redis::RedisResult<Option<u64>> {
        let rows: Vec<(String, Vec<(String, String)>)> = redis::cmd("XREVRANGE")
            .arg(&self.key)
            .arg("+")
            .arg("-")
            .arg("COUNT")
            .arg(1)
            .query_async(&mut self.conn)
            .await?;
        Ok(rows
            .first()
            .and_then(|(_, fields)| fields.iter().find(|(k, _)| k == "seq"))
            .and_then(|(_, v)| v.parse().ok()))
    }

    async fn send(&mut self, records: &[(u64, String)]) -> redis::RedisResult<()> {
        let mut pipe = redis::pipe();
        for (seq, raw) in records {
            pipe.cmd("XADD")
                .arg(&self.key)
                .arg("MAXLEN")
                .arg("~")
                .arg(self.max_len)
                .arg("*")
                .arg("seq")
                .arg(*seq)
                .arg("record")
                .arg(raw)
                .ignore();
        }
        pipe.query_async(&mut self.conn).await
    }
}

/// The records among `lines` past the last mirrored sequence number, as (seq, raw line).
fn unsent(lines: Vec<LineRead>, last: Option<u64>) -> Vec<(u64, String)> {
    lines
        .into_iter()
        .filter_map(|l| match l {
            LineRead::Record { record, raw, .. } if last.is_none_or(|s| record.seq > s) => {
                Some((record.seq, raw))
            }
            _ => None,
        })
        .collect()
}

/// Sleep unless cancelled; true when cancelled.
async fn pause(cancel: &CancellationToken, d: Duration) -> bool {
    tokio::select! {
        () = cancel.cancelled() => true,
        () = tokio::time::sleep(d) => false,
    }
}

/// Why a mirror stream (the mirror itself, a tail, a check) cannot be had; `what` names
/// the use (`audit mirror`, `audit stream`, `hook outbox`).
#[derive(Debug, thiserror::Error)]
pub enum MirrorError {
    /// The URL is not one the Redis client takes.
    #[error("{what}: {source}")]
    Url {
        what: &'static str,
        source: redis::RedisError,
    },
    #[error("{what}: cannot reach Redis: {source}")]
    Unreachable {
        what: &'static str,
        source: redis::RedisError,
    },
    #[error("{what}: no answer from Redis within {} s", within.as_secs())]
    Timeout {
        what: &'static str,
        within: Duration,
    },
    #[error("{what}: reading {key}: {source}")]
    Read {
        what: &'static str,
        key: String,
        source: redis::RedisError,
    },
}

/// A self-reconnecting connection to the Redis at `url` for the mirror stream; `what`
/// names it in errors, `response` bounds each command (a blocking read included).
pub(crate) async fn connect_stream(
    url: &RedisUrl,
    what: &'static str,
    response: Duration,
) -> Result<ConnectionManager, MirrorError> {
    let client =
        crate::redis_conn::client(url).map_err(|source| MirrorError::Url { what, source })?;
    crate::redis_conn::manager(&client, Some(response))
        .await
        .map_err(|source| MirrorError::Unreachable { what, source })
}

/// The records on a mirror stream, oldest first, as (seq, raw line): for readers and tests.
pub async fn read_mirror(
    conn: &mut ConnectionManager,
    key: &str,
) -> redis::RedisResult<Vec<(u64, String)>> {
    let rows: Vec<(String, Vec<(String, String)>)> = redis::cmd("XRANGE")
        .arg(key)
        .arg("-")
        .arg("+")
        .query_async(conn)
        .await?;
    Ok(rows
        .into_iter()
        .filter_map(|(_, fields)| entry_of(&fields))
        .collect())
}

/// A stream entry's (seq, raw record line), when it is one the mirror wrote.
pub(crate) fn entry_of(fields: &[(String, String)]) -> Option<(u64, String)> {
    let get = |name: &str| {
        fields
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.clone())
    };
    Some((get("seq")?.parse().ok()?, get("record")?))
}
