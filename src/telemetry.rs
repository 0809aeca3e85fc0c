//! Tracing to a daily-rolled file under the data dir, never to the terminal the TUI owns.
//! The filter comes from `AIOS_LOG` (e.g. `debug`, `aios=trace`), default `info`.
//!
//! Field values often come from outside (a bus message's `agent_id`, a model's text, a
//! URL): every line is written through [`LogLine`], which masks secrets and escapes control
//! characters, so an outside value can neither forge a log line (a newline), drive the
//! terminal of whoever reads the file (ESC), nor leave a password in it.

use std::io::Write;
use std::path::{Path, PathBuf};

use tracing_appender::non_blocking::WorkerGuard;
use tracing_subscriber::EnvFilter;
use tracing_subscriber::fmt::MakeWriter;

use crate::audit::Redactor;

pub fn log_dir(data_dir: &Path) -> PathBuf {
    data_dir.join("logs")
}

/// Start logging; keep the guard alive for the process's life (it flushes on drop).
/// `redact` adds patterns to the built-in ones (`audit.redact`). Returns `None` when the
/// log dir cannot be made: a command still runs, just unlogged.
pub fn init(
    data_dir: &Path,
    redact: &[String],
    secrets: &crate::secrets::Secrets,
) -> Option<WorkerGuard> {
    let dir = log_dir(data_dir);
    std::fs::create_dir_all(&dir).ok()?;
    let appender = tracing_appender::rolling::Builder::new()
        .rotation(tracing_appender::rolling::Rotation::DAILY)
        .filename_prefix("aios")
        .filename_suffix("log")
        .max_log_files(14)
        .build(&dir)
        .ok()?;
    let (writer, guard) = tracing_appender::non_blocking(appender);
    // A bad extra pattern was refused by config validation; the built-ins remain anyway.
    let redactor = Redactor::new(redact)
        .unwrap_or_else(|_| crate::audit::builtin().clone())
        .with_secrets(secrets.clone());
    let filter = EnvFilter::try_from_env("AIOS_LOG").unwrap_or_else(|_| EnvFilter::new("info"));
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(SafeLines {
            inner: writer,
            redactor,
        })
        .with_ansi(false)
        .try_init()
        .ok()?;
    Some(guard)
}

/// A [`MakeWriter`] whose writers pass every log line through [`safe_line`].
#[derive(Clone)]
pub struct SafeLines<M> {
    pub inner: M,
    pub redactor: Redactor,
}

impl<'a, M: MakeWriter<'a>> MakeWriter<'a> for SafeLines<M> {
    type Writer = LogLine<'a, M::Writer>;

    fn make_writer(&'a self) -> Self::Writer {
        LogLine {
            inner: self.inner.make_writer(),
            redactor: &self.redactor,
        }
    }
}

/// One event's writer: the formatter hands it the whole formatted line in one write.
pub struct LogLine<'a, W> {
    inner: W,
    redactor: &'a Redactor,
}

impl<W: Write> Write for LogLine<'_, W> {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        let text = String::from_utf8_lossy(buf);
        let masked = self.redactor.redact(&text);
        self.inner.write_all(safe_line(&masked).as_bytes())?;
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        self.inner.flush()
    }
}

/// `text` as one log line: a final newline is kept, every other control character
/// (newline, carriage return, ESC, BEL, C1 controls, DEL) and the bidirectional overrides
/// that reorder what a reader sees are written as escapes (`\n`, `\u{1b}`).
pub fn safe_line(text: &str) -> std::borrow::Cow<'_, str> {
    let (body, end) = match text.strip_suffix('\n') {
        Some(body) => (body, "\n"),
        None => (text, ""),
    };
    if !body.chars().any(needs_escape) {
        return std::borrow::Cow::Borrowed(text);
    }
    let mut out = String::with_capacity(text.len() + 16);
    for c in body.chars() {
        match c {
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if needs_escape(c) => out.push_str(&c.escape_unicode().to_string()),
            c => out.push(c),
        }
    }
    out.push_str(end);
    std::borrow::Cow::Owned(out)
}

fn needs_escape(c: char) -> bool {
    c.is_control() || matches!(c, '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_line_keeps_its_end_and_nothing_else_breaks_it() {
        assert_eq!(safe_line("plain line\n"), "plain line\n");
        assert_eq!(
            safe_line("agent_id=a\u{1b}[31mb\nFAKE line\r\u{7}\n"),
            "agent_id=a\\u{1b}[31mb\\nFAKE line\\r\\u{7}\n"
        );
        assert_eq!(safe_line("x\u{202e}y"), "x\\u{202e}y");
    }

    #[test]
    fn lines_are_masked_and_escaped_on_the_way_to_the_file() {
        let sink = std::sync::Arc::new(std::sync::Mutex::new(Vec::<u8>::new()));
        #[derive(Clone)]
        struct Sink(std::sync::Arc<std::sync::Mutex<Vec<u8>>>);
        impl Write for Sink {
            fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
                self.0.lock().unwrap().extend_from_slice(buf);
                Ok(buf.len())
            }
            fn flush(&mut self) -> std::io::Result<()> {
                Ok(())
            }
        }
        let handle = sink.clone();
        let lines = SafeLines {
            inner: move || Sink(handle.clone()),
            redactor: crate::audit::builtin().clone(),
        };
        let mut w = lines.make_writer();
        w.write_all(b"url=redis://:pw@h agent=\x1b]0;x\x07\n")
            .unwrap();
        let text = String::from_utf8(sink.lock().unwrap().clone()).unwrap();
        assert_eq!(text, "url=redis://:[REDACTED]@h agent=\\u{1b}]0;x\\u{7}\n");
    }
}
