//! ARCHITECTURE.md and the code map in `src/lib.rs` say what is true: every source file is
//! in the code map, every module in lib.rs's map, and every test an invariant cites exists.

use std::path::{Path, PathBuf};

fn repo(path: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join(path)
}

fn read(path: &str) -> String {
    std::fs::read_to_string(repo(path)).unwrap_or_else(|e| panic!("{path}: {e}"))
}

/// The code map's rows: (the paths in the first cell, the text of the second).
fn code_map(arch: &str) -> Vec<(Vec<String>, String)> {
    arch.lines()
        .filter_map(|line| {
            let cells: Vec<&str> = line.strip_prefix('|')?.split(" | ").collect();
            if cells.len() < 2 {
                return None;
            }
            let paths: Vec<String> = cells[0]
                .split(',')
                .map(|p| p.trim().trim_matches('`').to_string())
                .filter(|p| p.starts_with("src/") || p.ends_with(".rs"))
                .collect();
            (!paths.is_empty()).then(|| (paths, cells[1..].join(" | ")))
        })
        .collect()
}

fn sources(dir: &Path, out: &mut Vec<String>) {
    for entry in std::fs::read_dir(dir).unwrap().flatten() {
        let path = entry.path();
        if path.is_dir() {
            sources(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            let rel = path.strip_prefix(env!("CARGO_MANIFEST_DIR")).unwrap();
            out.push(rel.display().to_string());
        }
    }
}

/// Whether `file` is named by a row: its own path (or a bare file name in a row of the same
/// folder), or its folder's row naming it (or the subfolder it is in). A folder's `mod.rs`
/// and `tests.rs` are the folder's.
fn mapped(file: &str, rows: &[(Vec<String>, String)]) -> bool {
    let folder_of = |p: &str| p.rsplit_once('/').map(|(d, _)| format!("{d}/"));
    // A folder mapped file by file: its `mod.rs` is the folder's.
    if file.ends_with("/mod.rs") {
        let folder = folder_of(file).unwrap_or_default();
        if rows
            .iter()
            .any(|(paths, _)| paths.iter().any(|p| p.starts_with(&folder)))
        {
            return true;
        }
    }
    rows.iter().any(|(paths, text)| {
        let first_folder = paths.first().and_then(|p| folder_of(p));
        paths.iter().any(|path| {
            if path == file {
                return true;
            }
            // `src/control/lock.rs`, `protocol.rs`: a bare name is in the first's folder.
            if !path.starts_with("src/")
                && first_folder
                    .as_deref()
                    .map(|f| format!("{f}{path}"))
                    .as_deref()
                    == Some(file)
            {
                return true;
            }
            let Some(rest) = path
                .ends_with('/')
                .then(|| file.strip_prefix(path.as_str()))
                .flatten()
            else {
                return false;
            };
            if rest == "mod.rs" || rest == "tests.rs" {
                return true;
            }
            let first = rest.split('/').next().unwrap_or(rest);
            let stem = first.trim_end_matches(".rs");
            text.contains(&format!("`{first}`"))
                || text.contains(&format!("`{stem}/"))
                || text.contains(&format!("`{stem}.rs"))
                || text.contains(&format!("{first} "))
                || text.contains(&format!("{first},"))
                || text.contains(&format!("{first};"))
        })
    })
}

#[test]
fn every_source_file_is_in_the_code_map() {
    let arch = read("ARCHITECTURE.md");
    let rows = code_map(&arch);
    let mut files = Vec::new();
    sources(&repo("src"), &mut files);
    files.sort();
    let missing: Vec<&String> = files
        .iter()
        .filter(|f| f.as_str() != "src/main.rs" && f.as_str() != "src/lib.rs")
        .filter(|f| !mapped(f, &rows))
        .collect();
    assert!(
        missing.is_empty(),
        "ARCHITECTURE.md's code map does not name: {missing:#?}"
    );
}

#[test]
fn every_module_is_in_the_lib_code_map() {
    let lib = read("src/lib.rs");
    let modules: Vec<&str> = lib
        .lines()
        .filter_map(|l| l.strip_prefix("pub mod ")?.strip_suffix(';'))
        .collect();
    assert!(modules.len() > 20, "{modules:?}");
    for module in modules {
        assert!(
            lib.contains(&format!("[`{module}`]")),
            "src/lib.rs's code map does not name `{module}`"
        );
    }
}

#[test]
fn every_test_an_invariant_cites_exists() {
    let arch = read("ARCHITECTURE.md");
    let invariants = &arch[arch.find("## Invariants").expect("an Invariants section")..];
    let invariants = &invariants[..invariants[3..]
        .find("\n## ")
        .map_or(invariants.len(), |i| i + 3)];
    let mut cited = 0;
    // "`tests/x.rs` `a_test_name`" (a name may follow a file on the next line).
    let words: Vec<&str> = invariants
        .split(|c: char| c.is_whitespace() || c == '(' || c == ')' || c == ',')
        .filter(|w| !w.is_empty())
        .collect();
    // A cited test is the backticked name right after its file.
    for pair in words.windows(2) {
        let file = pair[0].trim_matches('`');
        if !(file.starts_with("tests/") && file.ends_with(".rs")) {
            continue;
        }
        assert!(
            repo(file).is_file(),
            "ARCHITECTURE.md cites {file}, which does not exist"
        );
        let name = pair[1];
        if !(name.starts_with('`') && name.ends_with('`')) {
            continue;
        }
        let name = name.trim_matches('`');
        if name
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_')
        {
            assert!(
                read(file).contains(&format!("fn {name}(")),
                "ARCHITECTURE.md cites {file} `{name}`, which is not a test there"
            );
            cited += 1;
        }
    }
    assert!(cited >= 8, "only {cited} tests cited");
}

/// The signatures of the public functions and type aliases of `text` (`pub` and
/// `pub(crate)`), each up to its body or `;`, on one line.
fn public_signatures(text: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut rest = text;
    while let Some(at) = rest.find("pub") {
        let item = &rest[at..];
        rest = &rest[at + 3..];
        let after_vis = item
            .strip_prefix("pub(crate)")
            .or_else(|| item.strip_prefix("pub"))
            .unwrap_or_default()
            .trim_start();
        let after_async = after_vis.strip_prefix("async ").unwrap_or(after_vis);
        if !(after_async.starts_with("fn ") || after_async.starts_with("type ")) {
            continue;
        }
        let end = item.find(['{', ';']).unwrap_or(item.len());
        let end = item[..end].find(" where").unwrap_or(end);
        out.push(item[..end].split_whitespace().collect::<Vec<_>>().join(" "));
    }
    out
}

/// Whether a signature's result is `Result<_, String>`.
fn returns_string_error(signature: &str) -> bool {
    let result = match signature.rsplit_once("->") {
        Some((_, result)) => result,
        // A type alias: its definition.
        None => signature.split_once('=').map_or("", |(_, def)| def),
    };
    let result = result.trim();
    result.starts_with("Result<") && result.replace(' ', "").ends_with(",String>")
}

#[test]
fn no_public_function_returns_a_string_error() {
    // The parser itself, on the shapes it must and must not catch.
    let caught = public_signatures(
        "pub fn a(x: &str)\n    -> Result<(String, String), String> {}\n\
         pub(crate) async fn b() -> Result<u8, String>;\npub type C = Result<(), String>;\n\
         pub fn d() -> Result<String, MyError> {}\npub struct E;\nfn f() -> Result<(), String> {}",
    );
    let flagged: Vec<&String> = caught.iter().filter(|s| returns_string_error(s)).collect();
    assert_eq!(flagged.len(), 3, "{caught:#?}");

    let mut files = Vec::new();
    sources(&repo("src"), &mut files);
    let mut found = Vec::new();
    for file in files {
        let text = read(&file);
        // Test modules may use strings freely.
        let text = text.split("#[cfg(test)]\nmod ").next().unwrap_or_default();
        for signature in public_signatures(text) {
            if returns_string_error(&signature) {
                found.push(format!("{file}: {signature}"));
            }
        }
    }
    assert!(
        found.is_empty(),
        "library errors are thiserror types, not strings (STYLE.md): {found:#?}"
    );
}
