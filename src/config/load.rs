//! Loading the configuration: find the file, parse it over the defaults, apply `AIOS_*`
//! variables and `--data-dir`, then validate; every error names the key and where it came from.

use std::collections::HashMap;
use std::fmt;
use std::path::{Path, PathBuf};

use super::{Config, env, locate, spans, validate};

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

/// Where a configuration value came from; every error names one.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Origin {
    /// A config file (or the origin given to [`parse_str`]), with the 1-based line if known.
    File { name: String, line: Option<usize> },
    /// An `AIOS_*` environment variable and the value it held.
    Env { var: String, value: String },
    /// A command-line flag and its value, e.g. `--data-dir /srv/aios`.
    Flag { flag: &'static str, value: String },
    /// Nothing set it: the built-in default.
    Default,
}

impl fmt::Display for Origin {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Origin::File {
                name,
                line: Some(line),
            } => write!(f, "{name} line {line}"),
            Origin::File { name, line: None } => write!(f, "{name}"),
            // A token's or secret's variable says where, never what (`AIOS_MCP_TOKENS`,
            // `AIOS_MCP_ROLE_TOKENS_VIEWER`, `AIOS_HOOKS_SECRET`).
            Origin::Env { var, .. }
                if ["TOKEN", "SECRET", "PASSWORD"]
                    .iter()
                    .any(|s| var.to_ascii_uppercase().contains(s)) =>
            {
                write!(f, "{var}=<hidden>")
            }
            // A variable's value may be a secret (`AIOS_BUS_URL=redis://:pw@…`).
            Origin::Env { var, value } => {
                write!(f, "{var}={}", crate::audit::builtin().redact(value))
            }
            Origin::Flag { flag, value } => write!(f, "{flag} {value}"),
            Origin::Default => write!(f, "the built-in defaults"),
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// `--config` or `$AIOS_CONFIG` names a file that is not there.
    #[error("config error: {via}{} does not exist", path.display())]
    NotFound {
        /// `"--config "` or `"AIOS_CONFIG="`, written just before the path.
        via: &'static str,
        path: PathBuf,
    },
    /// The file is there but cannot be read.
    #[error("config error: cannot read {}: {error}", path.display())]
    Read {
        path: PathBuf,
        error: std::io::Error,
    },
    /// The file is larger than any config file (`--config /dev/zero` would never end).
    #[error(
        "config error: {} is larger than {} KiB, the most a config file may hold; \
         is it the right file?",
        path.display(),
        MAX_CONFIG_BYTES / 1024
    )]
    TooLarge { path: PathBuf },
    /// An unknown key, a bad value or a syntax error.
    #[error("config error in {origin}{}: {message}", key.as_ref().map(|k| format!(", key {k}")).unwrap_or_default())]
    Invalid {
        origin: Origin,
        /// The dotted key, e.g. `bus.backend`, when one is concerned.
        key: Option<String>,
        /// What is wrong and what is allowed.
        message: String,
    },
    /// A URL key points at a closed hosted model API.
    #[error("config error in {origin}: {violation}")]
    ClosedApi {
        origin: Origin,
        violation: super::PolicyViolation,
    },
}

/// Finds the config file (`--config`, `$AIOS_CONFIG`, `./config.toml`, the platform config
/// dir), layers it over the defaults, applies `AIOS_*` variables and `--data-dir`, validates.
pub fn load(opts: &LoadOptions) -> Result<(Config, ConfigSource), ConfigError> {
    let env = match &opts.env {
        Some(env) => env.clone(),
        None => process_env(),
    };
    let cwd = std::env::current_dir().ok();
    let platform = super::default_config_path();
    let found = locate::find_config_file(
        opts.config_path.as_deref(),
        &env,
        cwd.as_deref(),
        platform.as_deref(),
    )?;
    let data_dir = opts.data_dir.as_deref();
    match found {
        Some(path) => {
            let text = read_capped(&path)?;
            let file = FileText {
                name: path.display().to_string(),
                text,
            };
            let config = build(Some(file), &env, data_dir)?;
            Ok((config, ConfigSource::File(path)))
        }
        None => Ok((build(None, &env, data_dir)?, ConfigSource::Embedded)),
    }
}

/// The largest config file read: far above any real one (the documented default is about
/// 10 KiB), small enough that a wrong path (a device, a log) cannot exhaust memory.
pub const MAX_CONFIG_BYTES: u64 = 1024 * 1024;

/// The file's text, read up to [`MAX_CONFIG_BYTES`]: a larger file (or an endless one such
/// as `/dev/zero`) is refused after reading one byte past the limit.
fn read_capped(path: &Path) -> Result<String, ConfigError> {
    use std::io::Read;
    let read_err = |error| ConfigError::Read {
        path: path.to_path_buf(),
        error,
    };
    let file = std::fs::File::open(path).map_err(read_err)?;
    let mut bytes = Vec::new();
    file.take(MAX_CONFIG_BYTES + 1)
        .read_to_end(&mut bytes)
        .map_err(read_err)?;
    if bytes.len() as u64 > MAX_CONFIG_BYTES {
        return Err(ConfigError::TooLarge {
            path: path.to_path_buf(),
        });
    }
    String::from_utf8(bytes).map_err(|e| {
        read_err(std::io::Error::new(
            std::io::ErrorKind::InvalidData,
            format!("not UTF-8 text (byte {})", e.utf8_error().valid_up_to()),
        ))
    })
}

/// Parses config text over the defaults, applies the `AIOS_*` variables in `env` and
/// validates; `origin` names the text in errors (usually its path).
pub fn parse_str(
    text: &str,
    origin: &str,
    env: &[(String, String)],
) -> Result<Config, ConfigError> {
    let file = FileText {
        name: origin.to_string(),
        text: text.to_string(),
    };
    build(Some(file), env, None)
}

fn process_env() -> Vec<(String, String)> {
    std::env::vars_os()
        .map(|(k, v)| {
            (
                k.to_string_lossy().into_owned(),
                v.to_string_lossy().into_owned(),
            )
        })
        .collect()
}

fn build(
    file: Option<FileText>,
    env: &[(String, String)],
    data_dir: Option<&Path>,
) -> Result<Config, ConfigError> {
    let mut config = match &file {
        Some(file) => parse_file(file)?,
        None => Config::default(),
    };
    let mut origins = Origins {
        file,
        set: HashMap::new(),
    };
    validate::check_schema_numbers(&config, &origins)?;
    env::apply(&mut config, env, &mut origins)?;
    if let Some(dir) = data_dir {
        config.runtime.data_dir = dir.to_path_buf();
        origins.record(
            key_path(&["runtime", "data_dir"]),
            Origin::Flag {
                flag: "--data-dir",
                value: dir.display().to_string(),
            },
        );
    }
    validate::validate(&config, &origins)?;
    Ok(config)
}

fn parse_file(file: &FileText) -> Result<Config, ConfigError> {
    toml::from_str::<Config>(&file.text).map_err(|e| {
        let span = e.span();
        let line = span.as_ref().map(|s| spans::line_of(&file.text, s.start));
        let key = span
            .and_then(|s| spans::key_at(&file.text, s.start))
            .map(|path| path.join("."));
        ConfigError::Invalid {
            origin: Origin::File {
                name: file.name.clone(),
                line,
            },
            key,
            message: plain_serde_message(e.message()),
        }
    })
}

/// Serde speaks of Rust types; say what a config author writes instead.
pub(crate) fn plain_serde_message(message: &str) -> String {
    message
        .trim_end()
        .replace(
            "expected u32",
            "expected a non-negative integer (at most 4294967295)",
        )
        .replace("expected path string", "expected a path string")
}

/// A config file's name and text, kept to find the line of a key when an error needs it.
pub(crate) struct FileText {
    pub(crate) name: String,
    pub(crate) text: String,
}

/// Who set which key: the file, an `AIOS_*` variable or a flag; the rest are defaults.
pub(crate) struct Origins {
    pub(crate) file: Option<FileText>,
    set: HashMap<Vec<String>, Origin>,
}

impl Origins {
    /// Records that something other than the file set the key at `path`.
    pub(crate) fn record(&mut self, path: Vec<String>, origin: Origin) {
        self.set.insert(path, origin);
    }

    /// Where the value of the key at `path` came from.
    pub(crate) fn of(&self, path: &[String]) -> Origin {
        if let Some(origin) = self.set.get(path) {
            return origin.clone();
        }
        match &self.file {
            Some(file) => match spans::key_line(&file.text, path) {
                Some(line) => Origin::File {
                    name: file.name.clone(),
                    line: Some(line),
                },
                None => Origin::Default,
            },
            None => Origin::Default,
        }
    }

    /// An error about the value of the key at `path`, naming where the value came from.
    pub(crate) fn invalid(&self, path: &[String], message: impl Into<String>) -> ConfigError {
        ConfigError::Invalid {
            origin: self.of(path),
            key: Some(path.join(".")),
            message: message.into(),
        }
    }
}

/// `["bus", "url"]` as owned segments.
pub(crate) fn key_path(segments: &[&str]) -> Vec<String> {
    segments.iter().map(|s| s.to_string()).collect()
}
