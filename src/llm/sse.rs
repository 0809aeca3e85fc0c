//! Server-sent events framing: bytes as they come off the socket → the `data` of each event.
//!
//! Follows the WHATWG event-stream rules that matter for model servers: lines end in `\n`,
//! `\r\n` or `\r`; `:` lines are comments; `data:` (one optional space after the colon)
//! lines accumulate, joined by `\n`; a blank line ends the event; other fields (`event`,
//! `id`, `retry`) are ignored. A line may be split across chunks anywhere.

use super::transport::FrameTooLong;

/// Collects bytes and hands out the data of each complete event.
#[derive(Debug, Default)]
pub struct SseFramer {
    line: Vec<u8>,
    data: Vec<u8>,
    has_data: bool,
    /// The previous chunk ended in `\r`: a `\n` that starts the next one belongs to it.
    after_cr: bool,
}

/// Longest event kept; beyond it the stream is not SSE from a model server.
pub const MAX_EVENT: usize = 16 * 1024 * 1024;

impl SseFramer {
    pub fn new() -> Self {
        Self::default()
    }

    /// Add `bytes`; the data of every event they complete goes to `event`, in order.
    pub fn push(&mut self, bytes: &[u8], mut event: impl FnMut(&[u8])) -> Result<(), FrameTooLong> {
        let mut rest = bytes;
        if self.after_cr {
            self.after_cr = false;
            rest = rest.strip_prefix(b"\n").unwrap_or(rest);
        }
        while let Some(pos) = rest.iter().position(|&b| b == b'\n' || b == b'\r') {
            self.line.extend_from_slice(&rest[..pos]);
            let ending = rest[pos];
            rest = &rest[pos + 1..];
            if ending == b'\r' {
                match rest.first() {
                    Some(b'\n') => rest = &rest[1..],
                    None => self.after_cr = true,
                    Some(_) => {}
                }
            }
            self.end_line(&mut event);
        }
        self.line.extend_from_slice(rest);
        if self.line.len() + self.data.len() > MAX_EVENT {
            return Err(FrameTooLong {
                what: "an event",
                limit: MAX_EVENT,
            });
        }
        Ok(())
    }

    /// The end of the stream: an event the server did not close with a blank line still
    /// counts (some servers end with `data: [DONE]` and no blank line).
    pub fn finish(&mut self, mut event: impl FnMut(&[u8])) {
        if !self.line.is_empty() {
            self.end_line(&mut event);
        }
        self.dispatch(&mut event);
    }

    fn end_line(&mut self, event: &mut impl FnMut(&[u8])) {
        let line = std::mem::take(&mut self.line);
        if line.is_empty() {
            self.dispatch(event);
            return;
        }
        if line[0] == b':' {
            return;
        }
        let (field, value) = match line.iter().position(|&b| b == b':') {
            Some(i) => {
                let v = &line[i + 1..];
                (&line[..i], v.strip_prefix(b" ").unwrap_or(v))
            }
            None => (&line[..], &b""[..]),
        };
        if field == b"data" {
            if self.has_data {
                self.data.push(b'\n');
            }
            self.data.extend_from_slice(value);
            self.has_data = true;
        }
        self.line = line;
        self.line.clear();
    }

    fn dispatch(&mut self, event: &mut impl FnMut(&[u8])) {
        if self.has_data {
            event(&self.data);
            self.data.clear();
            self.has_data = false;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn frame(chunks: &[&[u8]]) -> Vec<String> {
        let mut f = SseFramer::new();
        let mut out = Vec::new();
        for c in chunks {
            f.push(c, |e| out.push(String::from_utf8_lossy(e).into_owned()))
                .unwrap();
        }
        f.finish(|e| out.push(String::from_utf8_lossy(e).into_owned()));
        out
    }

    #[test]
    fn data_lines_split_anywhere_are_joined() {
        assert_eq!(
            frame(&[b"da", b"ta: {\"a\"", b":1}\n", b"\ndata:{\"b\":2}\n\n"]),
            ["{\"a\":1}", "{\"b\":2}"]
        );
    }

    #[test]
    fn comments_and_other_fields_are_skipped() {
        assert_eq!(
            frame(&[b": keep-alive\n\nevent: x\nid: 3\ndata: 1\nretry: 5\n\n"]),
            ["1"]
        );
    }

    #[test]
    fn multi_line_data_is_joined_with_newlines() {
        assert_eq!(frame(&[b"data: a\ndata: b\n\n"]), ["a\nb"]);
    }

    #[test]
    fn crlf_and_cr_line_endings_work_even_split() {
        assert_eq!(
            frame(&[b"data: 1\r", b"\n\r", b"\ndata: 2\r\rdata: 3\r\n\r\n"]),
            ["1", "2", "3"]
        );
    }

    #[test]
    fn a_last_event_without_blank_line_counts() {
        assert_eq!(frame(&[b"data: 1\n\ndata: [DONE]"]), ["1", "[DONE]"]);
    }

    #[test]
    fn byte_by_byte_is_the_same_as_whole() {
        let text = b": hi\r\ndata: {\"x\":1}\r\n\r\ndata: [DONE]\r\n\r\n";
        let chunks: Vec<&[u8]> = text.chunks(1).collect();
        assert_eq!(frame(&chunks), frame(&[text]));
        assert_eq!(frame(&[text]), ["{\"x\":1}", "[DONE]"]);
    }
}
