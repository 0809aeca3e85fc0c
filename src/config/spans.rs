//! Where in a config file a key was written: toml's byte spans turned into keys and lines.

use toml::de::{DeTable, DeValue};

/// The 1-based line of a byte offset in `text`.
pub(crate) fn line_of(text: &str, offset: usize) -> usize {
    let end = offset.min(text.len());
    text.as_bytes()[..end]
        .iter()
        .filter(|b| **b == b'\n')
        .count()
        + 1
}

/// The key path whose key or value covers `offset`, e.g. `["bus", "backend"]`. Works on
/// documents with syntax errors too, as far as toml can recover them.
pub(crate) fn key_at(text: &str, offset: usize) -> Option<Vec<String>> {
    let (root, _errors) = DeTable::parse_recoverable(text);
    let mut path = Vec::new();
    find_offset(root.get_ref(), offset, &mut path).then_some(path)
}

fn find_offset(table: &DeTable<'_>, offset: usize, path: &mut Vec<String>) -> bool {
    for (key, value) in table.iter() {
        path.push(key.get_ref().to_string());
        // The innermost key wins, so children are searched before the entry itself.
        let in_child = match value.get_ref() {
            DeValue::Table(child) => find_offset(child, offset, path),
            DeValue::Array(items) => items.iter().any(|item| match item.get_ref() {
                DeValue::Table(child) => find_offset(child, offset, path),
                _ => false,
            }),
            _ => false,
        };
        if in_child || key.span().contains(&offset) || value.span().contains(&offset) {
            return true;
        }
        path.pop();
    }
    false
}

/// The 1-based line where the key at `path` is written, if the file writes it.
pub(crate) fn key_line(text: &str, path: &[String]) -> Option<usize> {
    let (root, _errors) = DeTable::parse_recoverable(text);
    let mut table = root.get_ref();
    let (last, parents) = path.split_last()?;
    for segment in parents {
        let (_, value) = table.iter().find(|(k, _)| k.get_ref() == segment)?;
        match value.get_ref() {
            DeValue::Table(child) => table = child,
            _ => return None,
        }
    }
    let (key, _) = table.iter().find(|(k, _)| k.get_ref() == last)?;
    Some(line_of(text, key.span().start))
}

#[cfg(test)]
mod tests {
    use super::*;

    const TEXT: &str = "\
# comment
[bus]
backend = \"redis\"

[llm]
ollama.url = \"http://x\"

[agents.support-agent]
goals = [\"a\", 2]
";

    fn path(p: &[&str]) -> Vec<String> {
        p.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn offsets_map_to_lines_and_keys() {
        let at = |needle: &str| TEXT.find(needle).unwrap();
        assert_eq!(line_of(TEXT, 0), 1);
        assert_eq!(line_of(TEXT, at("backend")), 3);
        assert_eq!(
            key_at(TEXT, at("\"redis\"")),
            Some(path(&["bus", "backend"]))
        );
        assert_eq!(
            key_at(TEXT, at("\"http")),
            Some(path(&["llm", "ollama", "url"]))
        );
        assert_eq!(
            key_at(TEXT, at("2]")),
            Some(path(&["agents", "support-agent", "goals"]))
        );
        assert_eq!(key_at(TEXT, 2), None);
    }

    #[test]
    fn keys_map_to_lines() {
        assert_eq!(key_line(TEXT, &path(&["bus", "backend"])), Some(3));
        assert_eq!(key_line(TEXT, &path(&["llm", "ollama", "url"])), Some(6));
        assert_eq!(key_line(TEXT, &path(&["agents", "support-agent"])), Some(8));
        assert_eq!(key_line(TEXT, &path(&["bus", "url"])), None);
        assert_eq!(line_of(TEXT, usize::MAX), TEXT.lines().count() + 1);
    }
}
