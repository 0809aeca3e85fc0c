//! Neutralising text before it reaches a terminal: a model's or a bus message's text must
//! never move the cursor, change colours, set the window title or ring the bell.

use std::borrow::Cow;

/// Remove ANSI escape sequences (CSI, OSC, and two-byte ESC forms) and every control
/// character except newline and tab. Carriage returns become nothing, so a line cannot
/// overwrite itself.
pub fn for_terminal(text: &str) -> Cow<'_, str> {
    if !text
        .chars()
        .any(|c| c.is_control() && c != '\n' && c != '\t')
    {
        return Cow::Borrowed(text);
    }
    let mut out = String::with_capacity(text.len());
    let mut chars = text.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '\u{1b}' => skip_escape(&mut chars),
            // C1 CSI and OSC introducers behave like ESC [ and ESC ].
            '\u{9b}' => skip_csi(&mut chars),
            '\u{9d}' => skip_osc(&mut chars),
            '\n' | '\t' => out.push(c),
            c if c.is_control() => {}
            c => out.push(c),
        }
    }
    Cow::Owned(out)
}

/// One line for a table cell or a status bar: sanitized, with newlines and tabs as spaces.
pub fn one_line(text: &str) -> String {
    for_terminal(text)
        .chars()
        .map(|c| if c == '\n' || c == '\t' { ' ' } else { c })
        .collect()
}

/// `text` in at most `max` characters, ending in `…` when cut.
pub fn ellipsize(text: &str, max: usize) -> String {
    if text.chars().count() <= max {
        return text.to_string();
    }
    let mut out: String = text.chars().take(max.saturating_sub(1)).collect();
    out.push('…');
    out
}

/// The longest prefix of `text` of at most `max` bytes that ends on a char boundary.
pub fn cut_bytes(text: &str, max: usize) -> &str {
    if text.len() <= max {
        return text;
    }
    let mut end = max;
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    &text[..end]
}

fn skip_escape(chars: &mut std::iter::Peekable<std::str::Chars<'_>>) {
    match chars.next() {
        Some('[') => skip_csi(chars),
        Some(']') | Some('P') | Some('X') | Some('^') | Some('_') => skip_osc(chars),
        // Two-byte sequences (ESC c, ESC 7, …): the byte after ESC is consumed.
        _ => {}
    }
}

/// CSI: parameters and intermediates up to a final byte in 0x40..=0x7e.
fn skip_csi(chars: &mut std::iter::Peekable<std::str::Chars<'_>>) {
    for c in chars.by_ref() {
        if ('\u{40}'..='\u{7e}').contains(&c) {
            break;
        }
    }
}

/// OSC/DCS-like strings: up to BEL or ST (ESC \\).
fn skip_osc(chars: &mut std::iter::Peekable<std::str::Chars<'_>>) {
    while let Some(c) = chars.next() {
        match c {
            '\u{7}' | '\u{9c}' => break,
            '\u{1b}' => {
                if chars.peek() == Some(&'\\') {
                    chars.next();
                }
                break;
            }
            _ => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plain_text_is_untouched_and_borrowed() {
        assert!(matches!(for_terminal("hello\n\tworld"), Cow::Borrowed(_)));
    }

    #[test]
    fn escape_sequences_and_controls_are_removed() {
        let nasty = "a\u{1b}[31mred\u{1b}[0m b\u{1b}]0;title\u{7} c\u{7}\r d\u{1b}c e\u{9b}2J f";
        assert_eq!(for_terminal(nasty), "ared b c d e f");
    }

    #[test]
    fn unterminated_sequences_do_not_panic() {
        assert_eq!(for_terminal("x\u{1b}"), "x");
        assert_eq!(for_terminal("x\u{1b}[12"), "x");
        assert_eq!(for_terminal("x\u{1b}]title"), "x");
    }

    #[test]
    fn one_line_flattens() {
        assert_eq!(one_line("a\nb\tc"), "a b c");
    }
}
