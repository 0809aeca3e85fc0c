//! Tracing to a file, never to the terminal the TUI owns.
