//! `aios memory reembed [AGENT]`: rebuild the vector stores (all, or those AGENT's memory
//! uses) from their stored text with the embedder configured now. It takes the data dir's
//! lock, since a running owner would be writing the stores it rebuilds; every store rebuilt
//! is audited as `memory_reembed`.

use std::io::IsTerminal;
use std::path::Path;
use std::process::ExitCode;
use std::time::Instant;

use color_eyre::eyre::{Result, bail, eyre};

use crate::agent::Catalog;
use crate::audit::{AuditEntry, AuditLog, AuditOptions, Outcome};
use crate::config::Config;
use crate::control::{Acquired, DataDirLock};
use crate::memory::MemoryError;
use crate::memory::reembed::{self, Rebuilt};
use crate::memory::schema::{self, VectorStoreKind};
use crate::memory::stores;

pub async fn run(config: Config, agent: Option<String>) -> Result<ExitCode> {
    let data_dir = config.data_dir();
    let _lock = match DataDirLock::try_acquire(&data_dir)? {
        Acquired::Owner(lock) => lock,
        Acquired::HeldBy(holder) => bail!(
            "the data dir {} is owned by {holder}: stop it first (reembed rewrites the vector \
             stores it is using)",
            data_dir.display()
        ),
    };
    let catalog = Catalog::from_config(&config).map_err(|e| eyre!(e))?;
    let schemas = schema::of_catalog(&config, &catalog).map_err(|e| eyre!(e))?;
    // A store only the spec's defaults prefer may well not run here: not reaching it is
    // no failure (the runtime keeps those agents' memory in the default store).
    let explicit = |kind: VectorStoreKind| schemas.iter().any(|(_, s)| s.explicit && s.uses(kind));
    let default = stores::default_kind(&config.memory).await;
    let kinds: Vec<VectorStoreKind> = match &agent {
        Some(id) => {
            let Some((_, s)) = schemas.iter().find(|(a, _)| a == id) else {
                bail!("no agent `{id}` (aios agents lists them)");
            };
            let mut k = vec![s.vector_store.unwrap_or(default)];
            k.extend(s.persona_profile);
            k.dedup();
            k
        }
        None => {
            let mut k = vec![default];
            k.extend(stores::named_kinds(&schemas));
            k.sort();
            k.dedup();
            k
        }
    };

    let chosen = crate::memory::open_embedder(&config).await?;
    eprintln!("embedder: {}", chosen.note);
    let embedder = chosen.embedder;
    let audit = AuditLog::open(AuditOptions::from_config(&config))?;
    let mut failed = false;
    let tty = std::io::stderr().is_terminal();
    for kind in kinds {
        let label = stores::location(kind, &config.memory, &data_dir);
        let dump = dump_path(&data_dir, kind);
        let started = Instant::now();
        let result = reembed::rebuild(
            &label,
            |space| {
                let memory = config.memory.clone();
                let data_dir = data_dir.clone();
                async move { stores::open_store(kind, &memory, &data_dir, &space).await }
            },
            &*embedder,
            &dump,
            |done, total| {
                // A progress line for a person watching; nothing for a pipe or a log.
                if tty {
                    eprint!("\r{label}: {done}/{total} items");
                }
            },
        )
        .await;
        if tty
            && matches!(
                &result,
                Ok(Rebuilt { items: 1.., .. }) | Err(reembed::ReembedError::Interrupted { .. })
            )
        {
            eprintln!();
        }
        let elapsed = started.elapsed();
        match &result {
            Ok(r) => outln!("{}", describe(r, elapsed.as_secs_f64())),
            Err(reembed::ReembedError::Memory(MemoryError::Unreachable { .. }))
                if kind != default && !explicit(kind) =>
            {
                outln!(
                    "{label}: skipped, not reachable (only the spec's defaults prefer it; the \
                     runtime keeps those agents' memory in the default store)"
                );
                continue;
            }
            Err(e) => {
                eprintln!("{label}: {e}");
                failed = true;
            }
        }
        audit_rebuild(&audit, &label, &result, elapsed.as_secs_f64() * 1000.0);
    }
    audit.close().await?;
    Ok(if failed {
        ExitCode::FAILURE
    } else {
        ExitCode::SUCCESS
    })
}

/// Where a store's items wait while it is rebuilt (private: the data dir is).
fn dump_path(data_dir: &Path, kind: VectorStoreKind) -> std::path::PathBuf {
    data_dir
        .join("memory-reembed")
        .join(format!("{}.jsonl", kind.as_str()))
}

fn describe(r: &Rebuilt, seconds: f64) -> String {
    match &r.from {
        None => format!("{}: already built with {}; nothing to do", r.store, r.to),
        Some(from) => format!(
            "{}: {} items rebuilt with {} (was {}){} in {seconds:.1} s",
            r.store,
            r.items,
            r.to,
            from,
            if r.resumed {
                ", resumed from the dump of an interrupted run"
            } else {
                ""
            }
        ),
    }
}

fn audit_rebuild(
    audit: &AuditLog,
    store: &str,
    result: &Result<Rebuilt, reembed::ReembedError>,
    duration_ms: f64,
) {
    let (input, outcome, error) = match result {
        Ok(r) => (
            serde_json::json!({
                "store": store,
                "from": r.from.as_ref().map(|s| s.to_string()),
                "to": r.to.to_string(),
                "items": r.items,
                "resumed": r.resumed,
            }),
            Outcome::Ok,
            None,
        ),
        Err(e) => (
            serde_json::json!({"store": store}),
            Outcome::Error,
            Some(e.to_string()),
        ),
    };
    let entry = AuditEntry {
        agent_id: None,
        action: "memory_reembed".into(),
        input,
        context_id: None,
        caller: crate::context::Caller::cli().to_string(),
        outcome,
        error,
        duration_ms,
        cause: Default::default(),
    };
    if let Err(e) = audit.append(entry) {
        eprintln!("audit: {e}");
    }
}
