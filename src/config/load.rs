//! Finding, parsing, overriding (AIOS_*) and validating the configuration.
//! (Skeleton: the full loader replaces this.)

use std::path::PathBuf;

use super::Config;

/// Where the configuration came from, for `doctor` and the status bar.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ConfigSource {
    /// No file found: the built-in defaults.
    Embedded,
    File(PathBuf),
}

/// What the command line and the process environment say about where to look.
#[derive(Debug, Clone, Default)]
pub struct LoadOptions {
    /// `--config PATH`.
    pub config_path: Option<PathBuf>,
    /// `--data-dir PATH` (wins over file and environment).
    pub data_dir: Option<PathBuf>,
    /// The environment to read `AIOS_*` from; `None` = the process environment.
    pub env: Option<Vec<(String, String)>>,
}

#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("{0}")]
    Invalid(String),
}

pub fn load(opts: &LoadOptions) -> Result<(Config, ConfigSource), ConfigError> {
    let mut config = Config::default();
    if let Some(dir) = &opts.data_dir {
        config.runtime.data_dir = dir.clone();
    }
    Ok((config, ConfigSource::Embedded))
}

pub fn parse_str(
    text: &str,
    origin: &str,
    env: &[(String, String)],
) -> Result<Config, ConfigError> {
    let _ = (origin, env);
    toml::from_str(text).map_err(|e| ConfigError::Invalid(e.to_string()))
}
