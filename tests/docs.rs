//! The documentation holds to the code and to itself: docs/tui.md's key table is the
//! keymap's own (`Keymap::markdown_table`), every docs/*.md is linked from the README, and
//! every relative link in README.md and docs/*.md points to a file (and heading) that exists.
//!
//! When the keymap changes, rewrite the table with
//! `AIOS_UPDATE_DOCS=1 cargo test --test docs`.

use std::collections::BTreeSet;
use std::fs;
use std::path::{Path, PathBuf};

use aios::tui::Keymap;

const BEGIN: &str = "<!-- keys:begin -->";
const END: &str = "<!-- keys:end -->";
const UPDATE: &str = "AIOS_UPDATE_DOCS";

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn docs() -> Vec<PathBuf> {
    let mut docs: Vec<PathBuf> = fs::read_dir(root().join("docs"))
        .expect("docs/ exists")
        .map(|e| e.expect("a docs/ entry").path())
        .filter(|p| p.extension().is_some_and(|e| e == "md"))
        .collect();
    docs.sort();
    docs
}

fn read(path: &Path) -> String {
    fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

#[test]
fn the_key_table_in_docs_tui_is_the_keymap() {
    let path = root().join("docs/tui.md");
    let doc = read(&path);
    let (Some(b), Some(e)) = (doc.find(BEGIN), doc.find(END)) else {
        panic!("docs/tui.md has no {BEGIN} … {END} markers around the key table");
    };
    assert!(b < e, "docs/tui.md: {END} comes before {BEGIN}");
    let start = b + BEGIN.len();
    let written = &doc[start..e];
    let wanted = format!("\n{}", Keymap::default().markdown_table());
    if written == wanted {
        return;
    }
    if std::env::var_os(UPDATE).is_some_and(|v| v == "1") {
        let updated = format!("{}{wanted}{}", &doc[..start], &doc[e..]);
        fs::write(&path, updated).expect("write docs/tui.md");
        eprintln!("docs/tui.md: key table rewritten from the keymap");
        return;
    }
    let first = written
        .lines()
        .zip(wanted.lines())
        .position(|(w, k)| w != k)
        .unwrap_or_else(|| written.lines().count().min(wanted.lines().count()));
    // `written` starts on the marker's line.
    let line = doc[..b].matches('\n').count() + 1 + first;
    panic!(
        "docs/tui.md's key table differs from the keymap (src/tui/keymap.rs) at line \
         {line}:\n  docs:   {:?}\n  keymap: {:?}\nRewrite it from the keymap with:\n  \
         {UPDATE}=1 cargo test --test docs",
        written.lines().nth(first).unwrap_or("<end>"),
        wanted.lines().nth(first).unwrap_or("<end>"),
    );
}

#[test]
fn every_doc_is_linked_from_the_readme() {
    let readme = read(&root().join("README.md"));
    let linked: BTreeSet<String> = links(&readme)
        .into_iter()
        .map(|l| l.split('#').next().unwrap_or("").to_string())
        .collect();
    let missing: Vec<String> = docs()
        .iter()
        .map(|p| format!("docs/{}", p.file_name().unwrap().to_string_lossy()))
        .filter(|d| !linked.contains(d))
        .collect();
    assert!(
        missing.is_empty(),
        "README.md links to no {missing:?}: add each to its Documentation list"
    );
}

#[test]
fn relative_links_point_to_files_and_headings_that_exist() {
    let mut files = vec![root().join("README.md")];
    files.extend(docs());
    let mut broken = Vec::new();
    for file in &files {
        let text = read(file);
        let dir = file.parent().unwrap();
        for link in links(&text) {
            if link.contains("://") || link.starts_with("mailto:") {
                continue;
            }
            let (target, anchor) = match link.split_once('#') {
                Some((t, a)) => (t, Some(a)),
                None => (link.as_str(), None),
            };
            let target = if target.is_empty() {
                file.clone()
            } else {
                dir.join(target)
            };
            let name = file.strip_prefix(root()).unwrap().display().to_string();
            if !target.exists() {
                broken.push(format!("{name}: ({link}): no such file"));
                continue;
            }
            if let Some(anchor) = anchor
                && target.extension().is_some_and(|e| e == "md")
                && !anchors(&read(&target)).contains(anchor)
            {
                broken.push(format!("{name}: ({link}): no such heading"));
            }
        }
    }
    assert!(broken.is_empty(), "broken links:\n{}", broken.join("\n"));
}

/// The text outside fenced code blocks and inline code spans.
fn prose(text: &str) -> String {
    let mut out = String::new();
    let mut fenced = false;
    for line in text.lines() {
        if line.trim_start().starts_with("```") {
            fenced = !fenced;
            continue;
        }
        if fenced {
            continue;
        }
        // Drop code spans (`…`, ``…``), keeping the rest of the line.
        let mut rest = line;
        while let Some(i) = rest.find('`') {
            out.push_str(&rest[..i]);
            let ticks = rest[i..].chars().take_while(|c| *c == '`').count();
            let after = &rest[i + ticks..];
            match after.find(&"`".repeat(ticks)) {
                Some(j) => rest = &after[j + ticks..],
                None => {
                    rest = after;
                    break;
                }
            }
        }
        out.push_str(rest);
        out.push('\n');
    }
    out
}

/// The targets of the inline links `[text](target)` in a Markdown text.
fn links(text: &str) -> Vec<String> {
    let prose = prose(text);
    let mut out = Vec::new();
    let mut rest = prose.as_str();
    while let Some(i) = rest.find("](") {
        let after = &rest[i + 2..];
        match after.find(')') {
            Some(j) => {
                let target = after[..j].trim();
                if !target.is_empty() && !target.contains(char::is_whitespace) {
                    out.push(target.to_string());
                }
                rest = &after[j + 1..];
            }
            None => break,
        }
    }
    out
}

/// The anchors GitHub gives a Markdown file's headings: lower case, punctuation dropped,
/// spaces as `-`, `-1`, `-2`, … on repeats.
fn anchors(text: &str) -> BTreeSet<String> {
    let mut seen = BTreeSet::new();
    let mut fenced = false;
    for line in text.lines() {
        if line.trim_start().starts_with("```") {
            fenced = !fenced;
            continue;
        }
        if fenced || !line.starts_with('#') {
            continue;
        }
        let heading = line.trim_start_matches('#');
        if !heading.starts_with(' ') {
            continue;
        }
        let slug: String = heading
            .trim()
            .to_lowercase()
            .chars()
            .filter(|c| c.is_alphanumeric() || *c == '-' || *c == '_' || *c == ' ')
            .map(|c| if c == ' ' { '-' } else { c })
            .collect();
        let mut anchor = slug.clone();
        let mut n = 0;
        while seen.contains(&anchor) {
            n += 1;
            anchor = format!("{slug}-{n}");
        }
        seen.insert(anchor);
    }
    seen
}

#[test]
fn anchors_follow_github() {
    let a = anchors(
        "# Roles: viewer, operator, admin\n## The control center (`aios tui`)\n# X\n# X\n```\n# not\n```\n",
    );
    assert!(a.contains("roles-viewer-operator-admin"), "{a:?}");
    assert!(a.contains("the-control-center-aios-tui"), "{a:?}");
    assert!(a.contains("x") && a.contains("x-1"), "{a:?}");
    assert!(!a.contains("not"), "{a:?}");
    assert_eq!(
        links("[a](b.md) `[c](d.md)` [`e`](f.md#g)\n```\n[h](i)\n```\n"),
        ["b.md", "f.md#g"]
    );
}
