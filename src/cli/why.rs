//! `aios why`: the causal chain of an intent (or an audit record) as a tree, read from the
//! flight recording, and the side-by-side comparison `aios replay --diff` prints.
//!
//! No lock is taken: the recording and the audit log are only appended to, so this works
//! while another process owns the data dir.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use serde::Serialize;

use crate::config::Config;
use crate::recorder::{RecorderOptions, list_segments};
use crate::why::{self, Node, Target};

/// Width of the side-by-side comparison when `$COLUMNS` does not say.
const DEFAULT_WIDTH: usize = 160;

#[derive(Debug, Clone, clap::Args)]
#[command(after_help = "Examples:\n  \
    aios why 01a22f6e-00cf-7728-813e-0368a724a7c6   the intent: who asked, what it did, what it caused\n  \
    aios why 01a22f6e                               a unique prefix of an intent id is enough\n  \
    aios why 42 --expand                            audit record #42's intent, with prompts, results and diffs\n  \
    aios why 42 --json                              the tree as JSON\n  \
    aios why 01a22f6e --recording backup/recording  from another recording dir or rec-*.jsonl file")]
pub struct WhyArgs {
    /// An audit record's seq (`aios audit tail` shows them) or an intent id (or a unique
    /// prefix of one).
    #[arg(value_name = "AUDIT-SEQ | INTENT-ID")]
    pub target: String,
    /// Print the tree as JSON.
    #[arg(long)]
    pub json: bool,
    /// Read this data dir, recording dir or recording file instead of the data dir's.
    #[arg(long, value_name = "PATH")]
    pub recording: Option<PathBuf>,
    /// Show each step's whole text beneath it: the prompt, tool results, the diff.
    #[arg(long)]
    pub expand: bool,
}

/// What `aios why` reads by default: the recording (wherever `recorder.dir` puts it),
/// else the data dir (whose audit log is the fallback), else an audit dir kept elsewhere.
pub fn default_path(config: &Config) -> PathBuf {
    let recording = RecorderOptions::from_config(config).dir;
    if list_segments(&recording).is_ok_and(|s| !s.is_empty()) {
        return recording;
    }
    let data_dir = config.data_dir();
    let audit_dir = config.audit_dir();
    if !audit_dir.starts_with(&data_dir) {
        return audit_dir;
    }
    data_dir
}

/// Run `aios why`.
pub fn run(config: &Config, args: WhyArgs) -> ExitCode {
    let path = args
        .recording
        .clone()
        .unwrap_or_else(|| default_path(config));
    let tree =
        why::load(&path).and_then(|entries| why::build(&entries, &Target::parse(&args.target)));
    match tree {
        Ok(tree) if args.json => print_json(&tree),
        Ok(tree) => {
            out!("{}", why::render(&tree, args.expand));
            ExitCode::SUCCESS
        }
        Err(e) => fail(&e),
    }
}

#[derive(Serialize)]
struct Compared<'a> {
    a: &'a Node,
    b: &'a Node,
    rows: Vec<why::Row>,
}

/// `aios replay --diff A B`: the trees of specs `a` and `b` (intent ids, or time ranges
/// `FROM..TO` whose intents are compared pairwise in order) side by side, differing rows
/// marked `≠`. `path` is a data dir, a recording dir or a recording file
/// ([`default_path`] gives the configured one).
pub fn diff_command(path: &Path, a: &str, b: &str, json: bool) -> ExitCode {
    let loaded = why::load(path).and_then(|entries| {
        Ok((
            why::resolve_spec(&entries, a)?,
            why::resolve_spec(&entries, b)?,
        ))
    });
    let (left, right) = match loaded {
        Ok(trees) => trees,
        Err(e) => return fail(&e),
    };
    if left.len() != right.len() {
        eprintln!(
            "aios: note: {a} holds {} intent{} and {b} {}; comparing the first {}",
            left.len(),
            if left.len() == 1 { "" } else { "s" },
            right.len(),
            left.len().min(right.len())
        );
    }
    let pairs: Vec<Compared<'_>> = left
        .iter()
        .zip(&right)
        .map(|(a, b)| Compared {
            a,
            b,
            rows: why::compare(a, b),
        })
        .collect();
    if json {
        return print_json(&pairs);
    }
    let width = std::env::var("COLUMNS")
        .ok()
        .and_then(|c| c.parse().ok())
        .filter(|w: &usize| *w >= 40)
        .unwrap_or(DEFAULT_WIDTH);
    for (i, p) in pairs.iter().enumerate() {
        if i > 0 {
            outln!();
        }
        let differing = p.rows.iter().filter(|r| r.differs).count();
        outln!(
            "{} row{} differ{}",
            differing,
            if differing == 1 { "" } else { "s" },
            if differing == 1 { "s" } else { "" }
        );
        out!("{}", why::render_compare(&p.rows, width));
    }
    ExitCode::SUCCESS
}

fn print_json(value: &impl Serialize) -> ExitCode {
    match serde_json::to_string_pretty(value) {
        Ok(text) => {
            outln!("{text}");
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("aios: cannot write the tree as JSON: {e}");
            ExitCode::FAILURE
        }
    }
}

fn fail(e: &why::WhyError) -> ExitCode {
    eprintln!("aios: {e}");
    ExitCode::FAILURE
}
