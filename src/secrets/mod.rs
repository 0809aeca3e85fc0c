//! Secrets the config points to instead of holding: `env:VAR` (read at use) and
//! `vault:<mount>/<path>#<key>` (Vault or OpenBao KV v2, read at start and again before
//! its lease or `vault.refresh_s` ends).
//!
//! [`resolve_config`] reads every `vault:` value of a config at start: one that cannot be
//! read stops the start with an error naming the reference and its key, never an empty
//! value. The values live in [`Secrets`], a handle shared by every clone of the config;
//! what reads a secret per use (HTTP actions, webhook signing, MCP servers as they start)
//! asks it each time and so sees a refreshed value, as does the MCP HTTP server's token
//! check. `bus.url` is needed once, to connect, and is replaced in the config itself; the
//! audit signing key is read once at start (a new key mid-log would split the signatures). The redactor of the audit log, the
//! stores, the recording and the log file masks every value held (and the one a refresh
//! replaced), so even an echo of one is masked; the values are never made into patterns,
//! which a config or options dump could show.

mod reference;
mod refs;
mod settings;
mod vault;

pub use reference::{
    SecretRef, SecretRefError, VaultRef, VaultRefError, is_env_name, is_vault_ref,
};
pub use refs::{BadReference, ConfigRef, config_refs, refs_by_reference};
pub use settings::{FileError, SettingsError, Sources, read_private_file, settings};
pub use vault::{Read, VaultAuth, VaultClient, VaultError, VaultSettings};

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, RwLock};
use std::time::{Duration, Instant};

use tokio_util::sync::CancellationToken;

use crate::config::{Config, RedisUrl};

/// After a failed refresh, the next try comes at most this long after.
const RETRY: Duration = Duration::from_secs(30);
/// Values shorter than this are not masked outside their own use: masking every short
/// word that happens to equal a secret would hide more than it protects.
const MIN_REDACT_LEN: usize = 6;

/// The values of the config's references. Cheap to clone; clones share the values.
#[derive(Clone, Default)]
pub struct Secrets(Arc<Inner>);

#[derive(Default)]
struct Inner {
    state: RwLock<State>,
    refreshing: AtomicBool,
    /// How many values there are, readable without the lock.
    count: AtomicUsize,
    /// Reads after the first, done or failed: what a test or `doctor` can watch.
    refreshes: AtomicU64,
}

#[derive(Default)]
struct State {
    client: Option<Arc<VaultClient>>,
    /// How long a value without a lease is used before it is read again.
    period: Duration,
    entries: BTreeMap<VaultRef, Entry>,
}

struct Entry {
    value: String,
    due: Instant,
    /// The value before the last change: an echo of it is still masked.
    previous: Option<String>,
    /// What the redactors mask: each value long enough to be worth it (the current one
    /// first) beside its JSON-escaped form, made when a value changes rather than at every
    /// record the audit log writes.
    masks: Vec<(String, String)>,
}

impl Entry {
    fn new(value: String, due: Instant) -> Entry {
        let mut entry = Entry {
            value,
            due,
            previous: None,
            masks: Vec::new(),
        };
        entry.remask();
        entry
    }

    /// A new value read; the old one is kept as `previous`.
    fn replace(&mut self, value: String) {
        self.previous = Some(std::mem::replace(&mut self.value, value));
        self.remask();
    }

    fn remask(&mut self) {
        self.masks = std::iter::once(&self.value)
            .chain(self.previous.as_ref())
            .filter(|v| v.chars().count() >= MIN_REDACT_LEN)
            .map(|v| (v.clone(), json_escaped(v)))
            .collect();
    }

    /// The texts to mask, the current value first.
    fn masked(&self) -> impl Iterator<Item = &str> {
        self.masks.iter().map(|(v, _)| v.as_str())
    }
}

/// A value as it appears inside a JSON string (quotes, backslashes and control characters
/// escaped), without the surrounding quotes.
fn json_escaped(value: &str) -> String {
    let quoted = serde_json::to_string(value).unwrap_or_default();
    quoted
        .strip_prefix('"')
        .and_then(|q| q.strip_suffix('"'))
        .unwrap_or_default()
        .to_string()
}

/// A config holds this handle; it is not part of the configuration's value.
impl PartialEq for Secrets {
    fn eq(&self, _: &Self) -> bool {
        true
    }
}

/// Never the values: how many there are.
impl std::fmt::Debug for Secrets {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let n = self.read_state().entries.len();
        write!(f, "Secrets({n} from Vault)")
    }
}

/// Why the config's secrets could not be resolved.
#[derive(Debug, thiserror::Error)]
#[error("{}", .0.join("; "))]
pub struct SecretError(pub Vec<String>);

fn due_after(period: Duration, lease: Option<Duration>) -> Instant {
    // Two thirds into a lease, so a slow or failed read still has time to be retried.
    Instant::now() + lease.map_or(period, |l| (l * 2 / 3).max(Duration::from_secs(1)))
}

impl Secrets {
    fn read_state(&self) -> std::sync::RwLockReadGuard<'_, State> {
        self.0.state.read().unwrap_or_else(|e| e.into_inner())
    }

    fn write_state(&self) -> std::sync::RwLockWriteGuard<'_, State> {
        self.0.state.write().unwrap_or_else(|e| e.into_inner())
    }

    /// The value of a secrets lookup name ([`SecretRef::name`]): a Vault reference from
    /// what was read, anything else from the environment. `None` when there is none.
    pub fn lookup(&self, name: &str) -> Option<String> {
        if is_vault_ref(name) {
            let reference = VaultRef::parse(name).ok()?;
            self.get(&reference)
        } else {
            std::env::var(name).ok().filter(|v| !v.is_empty())
        }
    }

    /// The value read for `reference`, if it was.
    pub fn get(&self, reference: &VaultRef) -> Option<String> {
        self.read_state()
            .entries
            .get(reference)
            .map(|e| e.value.clone())
    }

    /// Whether anything was read from Vault.
    pub fn is_empty(&self) -> bool {
        !self.has_values()
    }

    /// Whether any value was read: one atomic load, for the redactor's fast path.
    pub fn has_values(&self) -> bool {
        self.0.count.load(Ordering::Relaxed) > 0
    }

    /// Whether a value read (or the one it replaced) appears in `text`.
    pub fn appears_in(&self, text: &str) -> bool {
        self.has_values()
            && self
                .read_state()
                .entries
                .values()
                .any(|e| e.masked().any(|v| text.contains(v)))
    }

    /// As [`Secrets::appears_in`], in serialized JSON (where a value may be escaped).
    pub fn appears_in_json(&self, json: &str) -> bool {
        self.has_values()
            && self.read_state().entries.values().any(|e| {
                e.masks
                    .iter()
                    .any(|(v, escaped)| json.contains(v) || json.contains(escaped))
            })
    }

    /// `text` with every value read (and each one it replaced) put as `mask`, longest first
    /// so that a value inside another is not left half shown.
    pub fn mask_in(&self, text: &str, mask: &str) -> String {
        let state = self.read_state();
        let mut values: Vec<&str> = state.entries.values().flat_map(Entry::masked).collect();
        values.sort_by_key(|v| std::cmp::Reverse(v.len()));
        let mut out = text.to_string();
        for v in values {
            if out.contains(v) {
                out = out.replace(v, mask);
            }
        }
        out
    }

    /// How many reads were made after the first ones (refreshes, done or failed).
    pub fn refreshes(&self) -> u64 {
        self.0.refreshes.load(Ordering::Relaxed)
    }

    fn install(
        &self,
        client: Arc<VaultClient>,
        period: Duration,
        entries: BTreeMap<VaultRef, Entry>,
    ) {
        let mut state = self.write_state();
        state.client = Some(client);
        state.period = period;
        self.0.count.store(entries.len(), Ordering::Relaxed);
        state.entries = entries;
    }

    /// Read again every value whose time has come by `now`. A failed read keeps the value
    /// read before (and is logged, naming the reference): a Vault that is down for a moment
    /// does not take secrets away from a running runtime.
    pub async fn refresh_due(&self, now: Instant) {
        let (client, period, due) = {
            let state = self.read_state();
            let Some(client) = state.client.clone() else {
                return;
            };
            let due: Vec<VaultRef> = state
                .entries
                .iter()
                .filter(|(_, e)| e.due <= now)
                .map(|(r, _)| r.clone())
                .collect();
            (client, state.period, due)
        };
        if let Err(e) = client.keep_alive().await {
            tracing::warn!(addr = client.addr(), "Vault login: {e}");
        }
        for reference in due {
            let read = client.read(&reference).await;
            self.0.refreshes.fetch_add(1, Ordering::Relaxed);
            // Logged only once the lock is let go: the log's own redactor reads the values.
            let changed = {
                let mut state = self.write_state();
                let Some(entry) = state.entries.get_mut(&reference) else {
                    continue;
                };
                match read {
                    Ok(read) => {
                        entry.due = due_after(period, read.lease);
                        let changed = read.value != entry.value;
                        if changed {
                            entry.replace(read.value);
                        }
                        Ok(changed)
                    }
                    Err(e) => {
                        entry.due = Instant::now() + period.min(RETRY);
                        Err(e)
                    }
                }
            };
            match changed {
                Ok(true) => {
                    tracing::info!(reference = %reference, "a Vault secret changed; the new value is in use")
                }
                Ok(false) => {}
                Err(e) => {
                    tracing::warn!(reference = %reference, "cannot read a Vault secret again, keeping the value read before: {}", e.detail())
                }
            }
        }
    }

    /// A handle holding these values, as if read from Vault (unit tests of its users).
    #[cfg(test)]
    pub(crate) fn with_values(values: &[(&str, &str)]) -> Secrets {
        let secrets = Secrets::default();
        {
            let mut state = secrets.write_state();
            for (reference, value) in values {
                let r = VaultRef::parse(reference).expect("a reference");
                state
                    .entries
                    .insert(r, Entry::new(value.to_string(), Instant::now()));
            }
            secrets
                .0
                .count
                .store(state.entries.len(), Ordering::Relaxed);
        }
        secrets
    }

    /// Change one value as a refresh would.
    #[cfg(test)]
    pub(crate) fn set_for_test(&self, reference: &str, value: &str) {
        let r = VaultRef::parse(reference).expect("a reference");
        let mut state = self.write_state();
        if let Some(e) = state.entries.get_mut(&r) {
            e.replace(value.to_string());
        }
    }

    /// When the next value (or the login) is due.
    async fn next_due(&self) -> Option<Instant> {
        let (client, first) = {
            let state = self.read_state();
            (
                state.client.clone(),
                state.entries.values().map(|e| e.due).min(),
            )
        };
        let login = match client {
            Some(c) => c.renew_due().await,
            None => None,
        };
        match (first, login) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
    }

    /// Keep the values fresh until `cancel`: one task per handle, however often called.
    /// Needs a Tokio runtime; does nothing when no value came from Vault.
    pub fn start_refresh(&self, cancel: CancellationToken) {
        if self.is_empty() || self.0.refreshing.swap(true, Ordering::SeqCst) {
            return;
        }
        let me = self.clone();
        tokio::spawn(async move {
            loop {
                let Some(next) = me.next_due().await else {
                    break;
                };
                tokio::select! {
                    () = cancel.cancelled() => break,
                    () = tokio::time::sleep_until(next.into()) => {}
                }
                me.refresh_due(Instant::now()).await;
            }
            me.0.refreshing.store(false, Ordering::SeqCst);
        });
    }
}

/// The Vault settings for this process: `[vault]` over the process environment.
pub fn process_settings(config: &Config, needed_by: &str) -> Result<VaultSettings, SettingsError> {
    let home = directories::BaseDirs::new().map(|d| d.home_dir().to_path_buf());
    settings(
        &config.vault,
        &Sources {
            var: &|name| std::env::var(name).ok(),
            file: &read_private_file,
            home,
        },
        needed_by,
    )
}

/// Read every `vault:` value of `config` into its [`Secrets`], and put `bus.url`'s in
/// place. Nothing to do (and no Vault needed) when the config has no
/// reference. Every reference that cannot be read is named in the error.
pub async fn resolve_config(config: &mut Config) -> Result<(), SecretError> {
    let refs = config_refs(config);
    let Some(first) = refs.first() else {
        return Ok(());
    };
    if !config.secrets.is_empty() {
        return Ok(());
    }
    let settings =
        process_settings(config, &first.label).map_err(|e| SecretError(vec![e.to_string()]))?;
    let client =
        Arc::new(VaultClient::new(settings).map_err(|e| SecretError(vec![e.to_string()]))?);
    let period = Duration::from_secs(u64::from(config.vault.refresh_s.max(1)));

    // One read per reference, however many keys use it.
    let users = refs_by_reference(config).map_err(|e| SecretError(vec![e.to_string()]))?;
    let mut entries = BTreeMap::new();
    let mut errors = Vec::new();
    for (reference, labels) in users {
        match client.read(&reference).await {
            Ok(read) => {
                entries.insert(
                    reference,
                    Entry::new(read.value, due_after(period, read.lease)),
                );
            }
            // The server or the login fails every reference alike: say it once.
            Err(e @ (VaultError::Unreachable { .. } | VaultError::Login { .. })) => {
                errors.push(format!("{reference} ({}): {e}", labels.join(", ")));
                break;
            }
            Err(e) => errors.push(format!(
                "{reference} ({}): {}",
                labels.join(", "),
                e.detail()
            )),
        }
    }
    if !errors.is_empty() {
        return Err(SecretError(errors));
    }
    // The bus URL is needed once, to connect: it is put in place. (The MCP tokens are read
    // through the handle at each check, so a rotation applies without a restart.)
    if is_vault_ref(config.bus.url.expose())
        && let Some(entry) = VaultRef::parse(config.bus.url.expose())
            .ok()
            .and_then(|r| entries.get(&r))
    {
        config.bus.url = RedisUrl::new(entry.value.clone());
    }
    config.secrets.install(client, period, entries);
    Ok(())
}

/// What `doctor` says of one reference: `found`, or why not. Never the value.
pub async fn check(client: &VaultClient, reference: &VaultRef) -> Result<(), VaultError> {
    client.read(reference).await.map(|_| ())
}
