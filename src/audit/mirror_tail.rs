//! Following the audit mirror stream (`{prefix}aios:audit`) from another machine: the
//! newest records first, then each new one as the runtime that owns the log mirrors it.
//! This is how a TUI attached through Redis shows an audit log it cannot read from disk.

use std::time::Duration;

use redis::aio::ConnectionManager;

use crate::config::RedisUrl;

use super::mirror::{MirrorError, connect_stream, entry_of, mirror_key};
use super::record::AuditRecord;

/// A stream entry as the tail hands it out: the record, or why its line is unreadable.
pub type TailEntry = (u64, Result<AuditRecord, UnreadableEntry>);

/// A mirrored line that is not an audit record (written by another version, or damaged).
#[derive(Debug, thiserror::Error)]
#[error("audit record {seq} on the stream is unreadable: {source}")]
pub struct UnreadableEntry {
    pub seq: u64,
    pub source: serde_json::Error,
}

pub struct MirrorTail {
    conn: ConnectionManager,
    key: String,
    /// The stream id of the last entry handed out; `$` before the first read.
    last_id: String,
    block: Duration,
}

type Rows = Vec<(String, Vec<(String, String)>)>;

impl MirrorTail {
    /// Connect to the Redis at `url`; `block` is how long one `next` waits for news.
    pub async fn connect(
        url: &RedisUrl,
        prefix: &str,
        block: Duration,
    ) -> Result<MirrorTail, MirrorError> {
        // A blocking read answers after `block` at the latest.
        let conn = connect_stream(url, "audit stream", block + Duration::from_secs(5)).await?;
        Ok(MirrorTail {
            conn,
            key: mirror_key(prefix),
            last_id: "$".into(),
            block,
        })
    }

    /// The newest `count` records, oldest first; `next` goes on after them.
    pub async fn recent(&mut self, count: usize) -> redis::RedisResult<Vec<TailEntry>> {
        let mut rows: Rows = redis::cmd("XREVRANGE")
            .arg(&self.key)
            .arg("+")
            .arg("-")
            .arg("COUNT")
            .arg(count.max(1))
            .query_async(&mut self.conn)
            .await?;
        rows.reverse();
        // An empty stream: wait for the first entry ever, not only those after now.
        self.last_id = rows.last().map_or_else(|| "0".into(), |(id, _)| id.clone());
        Ok(entries(rows))
    }

    /// The records mirrored since the last read; empty when none came within `block`.
    pub async fn next(&mut self) -> redis::RedisResult<Vec<TailEntry>> {
        let reply: Option<Vec<(String, Rows)>> = redis::cmd("XREAD")
            .arg("COUNT")
            .arg(1024)
            .arg("BLOCK")
            .arg(self.block.as_millis() as u64)
            .arg("STREAMS")
            .arg(&self.key)
            .arg(&self.last_id)
            .query_async(&mut self.conn)
            .await?;
        let rows: Rows = reply
            .into_iter()
            .flatten()
            .flat_map(|(_, rows)| rows)
            .collect();
        if let Some((id, _)) = rows.last() {
            self.last_id = id.clone();
        }
        Ok(entries(rows))
    }
}

fn entries(rows: Rows) -> Vec<TailEntry> {
    rows.into_iter()
        .filter_map(|(_, fields)| entry_of(&fields))
        .map(|(seq, raw)| {
            let record = serde_json::from_str::<AuditRecord>(&raw)
                .map_err(|source| UnreadableEntry { seq, source });
            (seq, record)
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_unreadable_line_is_named_by_its_sequence_number() {
        let row = |seq: &str, record: &str| {
            (
                format!("{seq}-0"),
                vec![
                    ("seq".to_string(), seq.to_string()),
                    ("record".to_string(), record.to_string()),
                ],
            )
        };
        let got = entries(vec![row("7", "{not json")]);
        let [(7, Err(e))] = got.as_slice() else {
            panic!("{got:?}");
        };
        assert_eq!(e.seq, 7);
        assert!(
            e.to_string()
                .starts_with("audit record 7 on the stream is unreadable: "),
            "{e}"
        );
    }
}
