//! Which config file to read: `--config`, then `$AIOS_CONFIG`, then `./config.toml`, then
//! the platform config dir; none of them means the built-in defaults.

use std::path::{Path, PathBuf};

use super::ConfigError;

/// The config file to read, or `None` for the built-in defaults. A file named by `--config`
/// or `$AIOS_CONFIG` must exist; the two conventional places are used only when they do.
pub(crate) fn find_config_file(
    explicit: Option<&Path>,
    env: &[(String, String)],
    cwd: Option<&Path>,
    platform: Option<&Path>,
) -> Result<Option<PathBuf>, ConfigError> {
    if let Some(path) = explicit {
        return must_exist(path, "--config ");
    }
    let from_env = env
        .iter()
        .rev()
        .find(|(k, _)| k == "AIOS_CONFIG")
        .map(|(_, v)| v.as_str())
        .filter(|v| !v.is_empty());
    if let Some(path) = from_env {
        return must_exist(Path::new(path), "AIOS_CONFIG=");
    }
    let conventional = cwd
        .map(|dir| dir.join("config.toml"))
        .into_iter()
        .chain(platform.map(Path::to_path_buf));
    Ok(conventional.into_iter().find(|p| p.is_file()))
}

fn must_exist(path: &Path, via: &'static str) -> Result<Option<PathBuf>, ConfigError> {
    if path.exists() {
        Ok(Some(path.to_path_buf()))
    } else {
        Err(ConfigError::NotFound {
            via,
            path: path.to_path_buf(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    struct Dirs {
        _tmp: tempfile::TempDir,
        cwd: PathBuf,
        platform: PathBuf,
        explicit: PathBuf,
        from_env: PathBuf,
    }

    fn dirs() -> Dirs {
        let tmp = tempfile::tempdir().unwrap();
        let cwd = tmp.path().join("cwd");
        std::fs::create_dir(&cwd).unwrap();
        Dirs {
            platform: tmp.path().join("platform.toml"),
            explicit: tmp.path().join("explicit.toml"),
            from_env: tmp.path().join("env.toml"),
            cwd,
            _tmp: tmp,
        }
    }

    fn env_for(path: &Path) -> Vec<(String, String)> {
        vec![("AIOS_CONFIG".into(), path.display().to_string())]
    }

    #[test]
    fn lookup_order() {
        let d = dirs();
        let find = |explicit: Option<&Path>, env: &[(String, String)]| {
            find_config_file(explicit, env, Some(&d.cwd), Some(&d.platform)).unwrap()
        };
        assert_eq!(find(None, &[]), None, "nothing found: embedded defaults");

        std::fs::write(&d.platform, "").unwrap();
        assert_eq!(find(None, &[]), Some(d.platform.clone()));

        let local = d.cwd.join("config.toml");
        std::fs::write(&local, "").unwrap();
        assert_eq!(
            find(None, &[]),
            Some(local.clone()),
            "./config.toml over platform"
        );

        std::fs::write(&d.from_env, "").unwrap();
        assert_eq!(find(None, &env_for(&d.from_env)), Some(d.from_env.clone()));
        assert_eq!(
            find(None, &[("AIOS_CONFIG".into(), String::new())]),
            Some(local),
            "an empty AIOS_CONFIG is unset"
        );

        std::fs::write(&d.explicit, "").unwrap();
        assert_eq!(
            find(Some(&d.explicit), &env_for(&d.from_env)),
            Some(d.explicit.clone())
        );
    }

    #[test]
    fn named_files_must_exist() {
        let d = dirs();
        std::fs::write(d.cwd.join("config.toml"), "").unwrap();
        let err = find_config_file(Some(&d.explicit), &[], Some(&d.cwd), None).unwrap_err();
        assert_eq!(
            err.to_string(),
            format!(
                "config error: --config {} does not exist",
                d.explicit.display()
            )
        );
        let err = find_config_file(None, &env_for(&d.from_env), Some(&d.cwd), None).unwrap_err();
        assert_eq!(
            err.to_string(),
            format!(
                "config error: AIOS_CONFIG={} does not exist",
                d.from_env.display()
            )
        );
    }
}
