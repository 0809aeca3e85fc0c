//! Where the MiniLM model directory is: `memory.embedding_model_dir` when set, else the
//! Hugging Face hub cache, where `huggingface-cli download
//! sentence-transformers/all-MiniLM-L6-v2` puts it (`$HF_HUB_CACHE`, else `$HF_HOME/hub`,
//! else `~/.cache/huggingface/hub`, then
//! `models--sentence-transformers--all-MiniLM-L6-v2/snapshots/<revision>`).
//!
//! Pure over its inputs ([`Places`]) so the search order is tested without touching the
//! user's home.

use std::path::{Path, PathBuf};

use super::model::REQUIRED_FILES;

/// The hub cache folder of the model.
const HUB_FOLDER: &str = "models--sentence-transformers--all-MiniLM-L6-v2";

/// What the search looks at: the configured directory and the environment.
#[derive(Debug, Clone, Default)]
pub struct Places {
    pub configured: Option<PathBuf>,
    pub hf_hub_cache: Option<PathBuf>,
    pub hf_home: Option<PathBuf>,
    pub home: Option<PathBuf>,
}

impl Places {
    /// From `memory.embedding_model_dir` (empty = unset) and this process's environment.
    pub fn from_env(configured: &str) -> Self {
        let var = |name: &str| {
            std::env::var_os(name)
                .filter(|v| !v.is_empty())
                .map(PathBuf::from)
        };
        Self {
            configured: (!configured.trim().is_empty()).then(|| PathBuf::from(configured)),
            hf_hub_cache: var("HF_HUB_CACHE"),
            hf_home: var("HF_HOME"),
            home: var("HOME"),
        }
    }

    /// The hub cache directory the search reads.
    fn hub(&self) -> Option<PathBuf> {
        self.hf_hub_cache
            .clone()
            .or_else(|| self.hf_home.as_ref().map(|h| h.join("hub")))
            .or_else(|| {
                self.home
                    .as_ref()
                    .map(|h| h.join(".cache").join("huggingface").join("hub"))
            })
    }
}

/// Why no model directory was found: each place looked at, with what was wrong there.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NotFound {
    pub looked: Vec<(PathBuf, String)>,
}

impl std::fmt::Display for NotFound {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "no all-MiniLM-L6-v2 model directory")?;
        for (i, (path, why)) in self.looked.iter().enumerate() {
            let sep = if i == 0 { ": " } else { "; " };
            write!(f, "{sep}{} ({why})", path.display())?;
        }
        Ok(())
    }
}

/// The model directory, or every place looked at and why it did not do. A configured
/// directory is the only place looked at: naming one and silently taking another would
/// hide a typo.
pub fn find(places: &Places) -> Result<PathBuf, NotFound> {
    if let Some(dir) = &places.configured {
        return match missing(dir) {
            None => Ok(dir.clone()),
            Some(why) => Err(NotFound {
                looked: vec![(dir.clone(), format!("memory.embedding_model_dir: {why}"))],
            }),
        };
    }
    let Some(hub) = places.hub() else {
        return Err(NotFound {
            looked: vec![(
                PathBuf::from("~/.cache/huggingface/hub"),
                "neither HF_HUB_CACHE, HF_HOME nor HOME is set".into(),
            )],
        });
    };
    let snapshots = hub.join(HUB_FOLDER).join("snapshots");
    let mut found: Vec<PathBuf> = match std::fs::read_dir(&snapshots) {
        Ok(entries) => entries.flatten().map(|e| e.path()).collect(),
        Err(e) => {
            return Err(NotFound {
                looked: vec![(snapshots, e.to_string())],
            });
        }
    };
    // The revision `refs/main` names first, then any complete one (newest name last is
    // arbitrary, so sort for a stable choice).
    found.sort();
    let main = std::fs::read_to_string(hub.join(HUB_FOLDER).join("refs").join("main"))
        .ok()
        .map(|r| snapshots.join(r.trim()));
    if let Some(main) = main.filter(|m| found.contains(m)) {
        found.retain(|f| f != &main);
        found.insert(0, main);
    }
    let mut looked = Vec::new();
    for dir in found {
        match missing(&dir) {
            None => return Ok(dir),
            Some(why) => looked.push((dir, why)),
        }
    }
    if looked.is_empty() {
        looked.push((snapshots, "no snapshot in it".into()));
    }
    Err(NotFound { looked })
}

/// What a directory lacks, if anything.
fn missing(dir: &Path) -> Option<String> {
    if !dir.is_dir() {
        return Some("not a directory".into());
    }
    let absent: Vec<&str> = REQUIRED_FILES
        .iter()
        .copied()
        .filter(|f| !dir.join(f).is_file())
        .collect();
    (!absent.is_empty()).then(|| format!("missing {}", absent.join(", ")))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn complete(dir: &Path) {
        std::fs::create_dir_all(dir.join("1_Pooling")).expect("mkdir");
        for f in REQUIRED_FILES {
            std::fs::write(dir.join(f), "{}").expect("write");
        }
    }

    #[test]
    fn a_configured_directory_is_the_only_place_looked_at() {
        let root = tempfile::tempdir().expect("tempdir");
        let hub = root.path().join("hub");
        complete(&hub.join(HUB_FOLDER).join("snapshots").join("abc"));
        let places = Places {
            configured: Some(root.path().join("nope")),
            hf_hub_cache: Some(hub),
            ..Places::default()
        };
        let err = find(&places).expect_err("configured dir is missing");
        assert_eq!(err.looked.len(), 1);
        assert!(
            err.to_string().contains("memory.embedding_model_dir"),
            "{err}"
        );
    }

    #[test]
    fn the_hub_cache_is_found_through_each_variable_in_order() {
        let root = tempfile::tempdir().expect("tempdir");
        let snap = |base: &Path| base.join(HUB_FOLDER).join("snapshots").join("rev1");
        complete(&snap(&root.path().join("home/.cache/huggingface/hub")));
        complete(&snap(&root.path().join("hfhome/hub")));
        complete(&snap(&root.path().join("cache")));
        let mut places = Places {
            home: Some(root.path().join("home")),
            ..Places::default()
        };
        assert_eq!(
            find(&places).expect("home"),
            snap(&root.path().join("home/.cache/huggingface/hub"))
        );
        places.hf_home = Some(root.path().join("hfhome"));
        assert_eq!(
            find(&places).expect("hf_home"),
            snap(&root.path().join("hfhome/hub"))
        );
        places.hf_hub_cache = Some(root.path().join("cache"));
        assert_eq!(
            find(&places).expect("hub cache"),
            snap(&root.path().join("cache"))
        );
    }

    #[test]
    fn an_incomplete_snapshot_is_skipped_and_said() {
        let root = tempfile::tempdir().expect("tempdir");
        let snapshots = root.path().join(HUB_FOLDER).join("snapshots");
        std::fs::create_dir_all(snapshots.join("aaa")).expect("mkdir");
        std::fs::write(snapshots.join("aaa").join("config.json"), "{}").expect("write");
        let places = Places {
            hf_hub_cache: Some(root.path().to_path_buf()),
            ..Places::default()
        };
        let err = find(&places).expect_err("incomplete");
        assert!(err.to_string().contains("missing tokenizer.json"), "{err}");
        complete(&snapshots.join("bbb"));
        assert_eq!(find(&places).expect("bbb"), snapshots.join("bbb"));
    }

    #[test]
    fn refs_main_is_preferred() {
        let root = tempfile::tempdir().expect("tempdir");
        let base = root.path().join(HUB_FOLDER);
        complete(&base.join("snapshots").join("aaa"));
        complete(&base.join("snapshots").join("zzz"));
        std::fs::create_dir_all(base.join("refs")).expect("mkdir");
        std::fs::write(base.join("refs").join("main"), "zzz\n").expect("write");
        let places = Places {
            hf_hub_cache: Some(root.path().to_path_buf()),
            ..Places::default()
        };
        assert_eq!(
            find(&places).expect("found"),
            base.join("snapshots").join("zzz")
        );
    }
}
