//! Newline-delimited JSON framing: bytes as they come off the socket → whole lines.
//!
//! A line may be split across chunks anywhere (even inside a UTF-8 character), several
//! lines may share a chunk, the last line may lack its `\n`, and lines may end in `\r\n`.

use super::transport::FrameTooLong;

/// Collects bytes and hands out complete lines (without their line ending).
#[derive(Debug, Default)]
pub struct NdjsonFramer {
    buf: Vec<u8>,
    /// Bytes of `buf` already searched for `\n`: a long line split into many chunks is
    /// scanned once, not once per chunk.
    scanned: usize,
}

/// Longest line kept; beyond it the stream is not NDJSON from a model server.
pub const MAX_LINE: usize = 16 * 1024 * 1024;

impl NdjsonFramer {
    pub fn new() -> Self {
        Self::default()
    }

    /// Add `bytes`; every line they complete goes to `line`, in order. Empty lines are
    /// skipped. Errors when a line grows past [`MAX_LINE`].
    pub fn push(&mut self, bytes: &[u8], mut line: impl FnMut(&[u8])) -> Result<(), FrameTooLong> {
        self.buf.extend_from_slice(bytes);
        let mut start = 0;
        let mut from = self.scanned;
        while let Some(pos) = memchr(b'\n', &self.buf[from..]) {
            let end = from + pos;
            emit(&self.buf[start..end], &mut line);
            start = end + 1;
            from = start;
        }
        self.buf.drain(..start);
        self.scanned = self.buf.len();
        if self.buf.len() > MAX_LINE {
            return Err(FrameTooLong {
                what: "a line",
                limit: MAX_LINE,
            });
        }
        Ok(())
    }

    /// The end of the stream: a last line without `\n` is still a line.
    pub fn finish(&mut self, mut line: impl FnMut(&[u8])) {
        let rest = std::mem::take(&mut self.buf);
        self.scanned = 0;
        emit(&rest, &mut line);
    }
}

fn emit(raw: &[u8], line: &mut impl FnMut(&[u8])) {
    let raw = raw.strip_suffix(b"\r").unwrap_or(raw);
    if !raw.iter().all(u8::is_ascii_whitespace) {
        line(raw);
    }
}

fn memchr(needle: u8, hay: &[u8]) -> Option<usize> {
    hay.iter().position(|&b| b == needle)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn frame(chunks: &[&[u8]]) -> Vec<String> {
        let mut f = NdjsonFramer::new();
        let mut out = Vec::new();
        for c in chunks {
            f.push(c, |l| out.push(String::from_utf8_lossy(l).into_owned()))
                .unwrap();
        }
        f.finish(|l| out.push(String::from_utf8_lossy(l).into_owned()));
        out
    }

    #[test]
    fn a_line_split_across_chunks_is_joined() {
        assert_eq!(
            frame(&[b"{\"a\":", b"1}\n{\"b\"", b":2}\n"]),
            ["{\"a\":1}", "{\"b\":2}"]
        );
    }

    #[test]
    fn several_lines_in_one_chunk_come_out_in_order() {
        assert_eq!(frame(&[b"1\n2\n3\n"]), ["1", "2", "3"]);
    }

    #[test]
    fn a_trailing_line_without_newline_is_kept() {
        assert_eq!(frame(&[b"1\n", b"2"]), ["1", "2"]);
    }

    #[test]
    fn crlf_and_blank_lines_are_handled() {
        assert_eq!(frame(&[b"1\r", b"\n\r\n\n2\r\n"]), ["1", "2"]);
    }

    #[test]
    fn a_character_split_mid_utf8_survives() {
        let text = "{\"t\":\"é\"}\n".as_bytes();
        let (a, b) = text.split_at(7); // inside the two bytes of é
        assert_eq!(frame(&[a, b]), ["{\"t\":\"é\"}"]);
    }

    #[test]
    fn byte_by_byte_is_the_same_as_whole() {
        let text = b"{\"a\":1}\r\n{\"b\":2}\n{\"c\":3}";
        let chunks: Vec<&[u8]> = text.chunks(1).collect();
        assert_eq!(frame(&chunks), frame(&[text]));
    }
}
