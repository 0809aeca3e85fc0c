//! Writing to stdout, handled at the write: `aios audit export | head` closes stdout early,
//! and then the command ends quietly with the status a shell reports for a process ended
//! by SIGPIPE (128 + 13), as `cat` and `grep` do (Rust ignores SIGPIPE, so a plain
//! `println!` would panic instead). Any other write error is one line on stderr.
//!
//! Also the one line a failed command ends with ([`error_line`]).

use std::io::Write;

/// The exit status of a command whose stdout was closed.
pub const CLOSED_STDOUT: i32 = 141;

/// Write `args` (and a newline when `newline`) to stdout, or end the process as above.
pub fn write(args: std::fmt::Arguments<'_>, newline: bool) {
    let mut out = std::io::stdout().lock();
    let written = out.write_fmt(args).and_then(|()| {
        if newline {
            out.write_all(b"\n")
        } else {
            Ok(())
        }
    });
    if let Err(e) = written {
        closed(&e);
    }
}

/// End the process for a write to stdout that failed with `e`.
pub fn closed(e: &std::io::Error) -> ! {
    if e.kind() == std::io::ErrorKind::BrokenPipe {
        std::process::exit(CLOSED_STDOUT);
    }
    eprintln!("aios: cannot write to stdout: {e}");
    std::process::exit(1);
}

/// An error and its sources as one line, `outer: inner: …`. A source whose text the line
/// already holds is left out: many errors say their source in their own message (`hook
/// `h`: on: …`), and the line would otherwise repeat it.
pub fn error_line(chain: impl IntoIterator<Item = String>) -> String {
    let mut line = String::new();
    for text in chain {
        if line.contains(&text) {
            continue;
        }
        if !line.is_empty() {
            line.push_str(": ");
        }
        line.push_str(&text);
    }
    line.replace('\n', " ")
}

/// `println!` for the CLI's output: see the module doc.
macro_rules! outln {
    () => {
        $crate::cli::out::write(format_args!(""), true)
    };
    ($($arg:tt)*) => {
        $crate::cli::out::write(format_args!($($arg)*), true)
    };
}

/// `print!` for the CLI's output: see the module doc.
macro_rules! out {
    ($($arg:tt)*) => {
        $crate::cli::out::write(format_args!($($arg)*), false)
    };
}

#[cfg(test)]
mod tests {
    use super::error_line;

    #[test]
    fn an_error_line_joins_sources_and_never_repeats_one() {
        let line = |chain: &[&str]| error_line(chain.iter().map(|s| s.to_string()));
        assert_eq!(
            line(&["cannot open the store", "disk full"]),
            "cannot open the store: disk full"
        );
        // The message already ends with its source's text.
        assert_eq!(
            line(&[
                "tui.keys.x: unknown action \"boom\"",
                "unknown action \"boom\""
            ]),
            "tui.keys.x: unknown action \"boom\""
        );
        assert_eq!(line(&["two\nlines"]), "two lines");
    }
}
