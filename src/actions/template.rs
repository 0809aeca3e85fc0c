//! `{arg}` templates: parsed once at load, rendered per call with a function that turns an
//! argument into text (percent-encoded for a URL, checked for line breaks for a header).

/// One part of a template.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Piece {
    /// Written as is (`{{` and `}}` already read as one brace).
    Text(String),
    /// `{name}`: the argument of that name.
    Arg(String),
}

/// A parsed template such as `/api/resource/{doctype}?limit={limit}`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Template {
    pieces: Vec<Piece>,
}

/// Whether `name` can be written inside `{…}`: the names a tool argument usually has.
pub(crate) fn is_arg_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 64
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
}

/// Why a template text does not parse; the text quotes the template.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub(crate) enum TemplateError {
    #[error("a lone `}}` in `{text}`: write `}}}}` for a literal brace")]
    LoneClose { text: String },
    #[error("`{{` without its `}}` in `{text}`: write `{{{{` for a literal brace")]
    Unclosed { text: String },
    #[error(
        "`{{{name}}}` in `{text}` is not an argument name (letters, digits, `_` and `-`); \
         write `{{{{` for a literal brace"
    )]
    NotArgName { name: String, text: String },
}

impl Template {
    /// Parses `text`; `Err` says what is wrong, for the config error.
    pub(crate) fn parse(text: &str) -> Result<Template, TemplateError> {
        let mut pieces = Vec::new();
        let mut literal = String::new();
        let mut rest = text;
        while let Some(i) = rest.find(['{', '}']) {
            literal.push_str(&rest[..i]);
            let after = &rest[i + 1..];
            if rest[i..].starts_with("{{") || rest[i..].starts_with("}}") {
                literal.push_str(&rest[i..=i]);
                rest = &after[1..];
                continue;
            }
            if rest[i..].starts_with('}') {
                return Err(TemplateError::LoneClose {
                    text: text.to_string(),
                });
            }
            let Some(end) = after.find('}') else {
                return Err(TemplateError::Unclosed {
                    text: text.to_string(),
                });
            };
            let name = &after[..end];
            if !is_arg_name(name) {
                return Err(TemplateError::NotArgName {
                    name: name.to_string(),
                    text: text.to_string(),
                });
            }
            if !literal.is_empty() {
                pieces.push(Piece::Text(std::mem::take(&mut literal)));
            }
            pieces.push(Piece::Arg(name.to_string()));
            rest = &after[end + 1..];
        }
        literal.push_str(rest);
        if !literal.is_empty() {
            pieces.push(Piece::Text(literal));
        }
        Ok(Template { pieces })
    }

    pub(crate) fn pieces(&self) -> &[Piece] {
        &self.pieces
    }

    /// The argument names the template uses, in order (repeats included).
    pub(crate) fn args(&self) -> impl Iterator<Item = &str> {
        self.pieces.iter().filter_map(|p| match p {
            Piece::Arg(name) => Some(name.as_str()),
            Piece::Text(_) => None,
        })
    }

    /// The argument when the whole template is exactly `{name}`.
    pub(crate) fn whole_arg(&self) -> Option<&str> {
        match self.pieces.as_slice() {
            [Piece::Arg(name)] => Some(name),
            _ => None,
        }
    }

    /// The literal text when the template has no argument.
    pub(crate) fn as_literal(&self) -> Option<String> {
        self.args().next().is_none().then(|| {
            self.pieces
                .iter()
                .map(|p| match p {
                    Piece::Text(t) => t.as_str(),
                    Piece::Arg(_) => "",
                })
                .collect()
        })
    }

    /// The text with every `{name}` replaced by `value(name)`.
    pub(crate) fn render<E>(
        &self,
        mut value: impl FnMut(&str) -> Result<String, E>,
    ) -> Result<String, E> {
        let mut out = String::new();
        for piece in &self.pieces {
            match piece {
                Piece::Text(t) => out.push_str(t),
                Piece::Arg(name) => out.push_str(&value(name)?),
            }
        }
        Ok(out)
    }
}

/// `text` with every byte outside RFC 3986's unreserved set (`A-Z a-z 0-9 - . _ ~`)
/// percent-encoded: a value can then never add a path segment (`/`), start a query (`?`)
/// or a fragment (`#`), split a query pair (`&`, `=`), or be read as a space (`+`).
pub(crate) fn encode_component(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for b in text.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~') {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn arg(name: &str) -> Piece {
        Piece::Arg(name.into())
    }

    fn text(t: &str) -> Piece {
        Piece::Text(t.into())
    }

    #[test]
    fn templates_parse() {
        for (input, pieces) in [
            ("", vec![]),
            ("/plain", vec![text("/plain")]),
            ("{a}", vec![arg("a")]),
            (
                "/x/{a}?q={b_c}&r=1",
                vec![text("/x/"), arg("a"), text("?q="), arg("b_c"), text("&r=1")],
            ),
            ("{{a}}", vec![text("{a}")]),
            ("{{{a}}}", vec![text("{"), arg("a"), text("}")]),
            ("{a}{b}", vec![arg("a"), arg("b")]),
        ] {
            assert_eq!(Template::parse(input).unwrap().pieces, pieces, "{input}");
        }
    }

    #[test]
    fn bad_templates_are_refused_with_the_fix() {
        for (input, expected) in [
            ("/x/{a", "without its `}`"),
            ("/x/a}", "lone `}`"),
            ("{}", "is not an argument name"),
            ("{a b}", "is not an argument name"),
            ("{a/b}", "is not an argument name"),
            ("{\"json\": 1}", "is not an argument name"),
        ] {
            let err = Template::parse(input).unwrap_err().to_string();
            assert!(err.contains(expected), "{input}: {err}");
        }
        assert_eq!(
            Template::parse("{a b}"),
            Err(TemplateError::NotArgName {
                name: "a b".into(),
                text: "{a b}".into()
            })
        );
        assert_eq!(
            Template::parse("/x/{a").unwrap_err().to_string(),
            "`{` without its `}` in `/x/{a`: write `{{` for a literal brace"
        );
        assert_eq!(
            Template::parse("{}").unwrap_err().to_string(),
            "`{}` in `{}` is not an argument name (letters, digits, `_` and `-`); write `{{` \
             for a literal brace"
        );
    }

    #[test]
    fn render_replaces_each_arg() {
        let t = Template::parse("/a/{x}/{y}/{x}").unwrap();
        assert_eq!(t.args().collect::<Vec<_>>(), ["x", "y", "x"]);
        let out: Result<String, ()> = t.render(|n| Ok(n.to_uppercase()));
        assert_eq!(out.unwrap(), "/a/X/Y/X");
        assert_eq!(Template::parse("{x}").unwrap().whole_arg(), Some("x"));
        assert_eq!(Template::parse("a{x}").unwrap().whole_arg(), None);
        assert_eq!(
            Template::parse("a{{b").unwrap().as_literal().as_deref(),
            Some("a{b")
        );
    }

    #[test]
    fn encoding_leaves_only_unreserved_bytes() {
        for (input, encoded) in [
            ("Sales Invoice", "Sales%20Invoice"),
            ("a/b", "a%2Fb"),
            ("a?b#c", "a%3Fb%23c"),
            ("..", ".."),
            ("k=v&x=y+z", "k%3Dv%26x%3Dy%2Bz"),
            ("a\r\nb", "a%0D%0Ab"),
            ("%2F", "%252F"),
            ("ü", "%C3%BC"),
            ("a\\b", "a%5Cb"),
            ("~-._", "~-._"),
        ] {
            assert_eq!(encode_component(input), encoded, "{input}");
        }
    }
}
