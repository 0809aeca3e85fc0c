//! A lossless tap on the Redis bus for one reader that is not a terminal (`aios watch` into
//! a pipe or a file): a plain blocking pub/sub connection read only as fast as the reader
//! takes each message.
//!
//! The bus's own subscription fans out through a bounded broadcast, where a slow reader
//! loses the oldest messages — right for a terminal, which cannot show 200k lines a second
//! anyway, wrong for a script that counts them. Here nothing sits between the socket and
//! the reader: a slow writer leaves bytes in the socket, TCP slows Redis down, and Redis's
//! own output-buffer limit for pub/sub clients is the only bound (if Redis cuts us off
//! there, `run` returns the error and the caller says so).

use std::ops::ControlFlow;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use crate::config::RedisUrl;

use super::envelope::{channels, decode};
use super::stats::StatsBook;
use super::{BusError, Received, pattern_matches};

/// How long opening the connection may take before the URL is named as unreachable.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);

/// What to listen to.
#[derive(Debug, Clone)]
pub struct TapOptions {
    pub url: RedisUrl,
    /// `bus.prefix`: stripped from channel names, as the bus does.
    pub prefix: String,
    /// Also (and then only) channels matching this glob.
    pub pattern: Option<String>,
    pub max_message_bytes: usize,
}

/// An open connection, not yet subscribed.
pub struct Tap {
    con: redis::Connection,
    opts: TapOptions,
    shown: String,
}

impl Tap {
    /// Connect; fails within seconds, naming the URL without its password.
    pub fn open(opts: TapOptions) -> Result<Tap, BusError> {
        let shown = opts.url.to_string();
        let fail = |e: &dyn std::fmt::Display| BusError::Backend(format!("Redis at {shown}: {e}"));
        let client = crate::tls::redis_client(opts.url.expose()).map_err(|e| fail(&e))?;
        let con = client
            .get_connection_with_timeout(CONNECT_TIMEOUT)
            .map_err(|e| fail(&e))?;
        Ok(Tap { con, opts, shown })
    }

    /// Subscribe and hand every message to `on_message`, one at a time, until it breaks,
    /// `stop` is found set after a message, or the connection fails. Blocks: run it on a
    /// thread of its own. No read timeout: one in the middle of a reply would lose the
    /// parser's place; a caller that must stop while nothing arrives leaves the thread
    /// behind as the process ends.
    pub fn listen(
        &mut self,
        stop: &AtomicBool,
        mut on_message: impl FnMut(Received) -> ControlFlow<()>,
    ) -> Result<(), BusError> {
        let shown = &self.shown;
        let fail = |e: &dyn std::fmt::Display| BusError::Backend(format!("Redis at {shown}: {e}"));
        let opts = &self.opts;
        let mut sub = self.con.as_pubsub();
        let seed: Vec<String> = channels::SEED
            .iter()
            .map(|c| format!("{}{c}", opts.prefix))
            .collect();
        sub.subscribe(&seed).map_err(|e| fail(&e))?;
        if let Some(p) = &opts.pattern {
            sub.psubscribe(format!("{}{p}", opts.prefix))
                .map_err(|e| fail(&e))?;
        }
        // Counts and previews exactly as the bus makes them; this book is the tap's own.
        let book = StatsBook::default();
        while !stop.load(Ordering::Relaxed) {
            let msg = sub.get_message().map_err(|e| fail(&e))?;
            let raw_channel = msg.get_channel_name();
            let channel = raw_channel
                .strip_prefix(opts.prefix.as_str())
                .unwrap_or(raw_channel)
                .to_string();
            let wanted = opts
                .pattern
                .as_deref()
                .is_none_or(|p| pattern_matches(p, &channel));
            // A seed channel that also matches the pattern arrives twice: keep the plain copy.
            let duplicate = msg.from_pattern() && channels::SEED.contains(&channel.as_str());
            if !wanted || duplicate {
                continue;
            }
            let payload = msg.get_payload_bytes();
            let received = match decode(&channel, payload, opts.max_message_bytes) {
                Ok(envelope) => Received::Message {
                    channel,
                    envelope: Arc::new(envelope),
                },
                Err(reason) => Received::Rejected(book.rejected(&channel, reason, payload)),
            };
            if on_message(received).is_break() {
                break;
            }
        }
        Ok(())
    }
}
