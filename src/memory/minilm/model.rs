//! The sentence-transformers pipeline of all-MiniLM-L6-v2, synchronously: WordPiece
//! tokens truncated at the model's `max_seq_length`, BERT's forward pass (candle), mean
//! pooling over the attention mask, L2 normalisation — the modules its `modules.json`
//! lists, in order, so the vectors are the Python model's.
//!
//! Loading reads the Hugging Face layout directory: `config.json` (BERT's shape),
//! `tokenizer.json`, `model.safetensors` (read into memory rather than mapped, so the crate
//! keeps `forbid(unsafe_code)`; the buffer is dropped once the tensors are built),
//! `1_Pooling/config.json` (must say mean pooling: anything else would give other vectors
//! under the same name) and `sentence_bert_config.json` (`max_seq_length`, 256 here; the
//! `tokenizer.json` of this model says 128 and pads to a fixed 128, which
//! sentence-transformers overrides — so do we).

use std::path::{Path, PathBuf};

use candle_core::{DType, Device, Tensor};
use candle_nn::VarBuilder;
use candle_transformers::models::bert::{BertModel, Config as BertConfig};
use sha2::{Digest, Sha256};

use crate::chain::lower_hex;
use tokenizers::{Tokenizer, TruncationParams};

/// Why a pass over a batch of texts failed.
#[derive(Debug, thiserror::Error)]
pub enum PassError {
    #[error("tokenizing: {0}")]
    Tokenizing(String),
    #[error("forward pass: {0}")]
    Forward(candle_core::Error),
    /// The model panicked; the thread that runs it goes on with the next pass.
    #[error("the forward pass panicked")]
    Panicked,
}

/// Texts per forward pass: sentence-transformers' default batch size. Larger batches pad
/// more (every row is as long as the longest) for little gain on a CPU.
pub const BATCH: usize = 32;

/// Bytes of a text given to the tokenizer. 256 WordPiece tokens never need more than about
/// 26 KiB (a token is at most 100 characters, `max_input_chars_per_word`), so cutting at
/// 64 KiB changes no vector of sane text and keeps a megabyte paste from being tokenised
/// whole only to be truncated.
const MAX_TEXT_BYTES: usize = 64 * 1024;

/// SHA-256 of the official `model.safetensors` of sentence-transformers/all-MiniLM-L6-v2:
/// a directory holding exactly these weights gets the model's own name, anything else a
/// name carrying its hash, so vectors of another model never pass for this one's.
const OFFICIAL_SHA256: &str = "53aa51172d142c89d9012cce15ae4d6cc0ca6895895114379cacb4fab128d9db";

/// The files a model directory must hold.
pub const REQUIRED_FILES: [&str; 4] = [
    "config.json",
    "tokenizer.json",
    "model.safetensors",
    "1_Pooling/config.json",
];

/// A loaded model: `Send + Sync`, used from the blocking pool.
pub struct MiniLm {
    model: BertModel,
    tokenizer: Tokenizer,
    dims: usize,
    /// `all-MiniLM-L6-v2`, or `<dir>@<hash>` for other weights.
    label: String,
    dir: PathBuf,
    /// Bytes of weights held (4 per f32 parameter).
    weight_bytes: usize,
}

#[derive(Debug, thiserror::Error)]
pub enum LoadError {
    #[error("{path}: {message}")]
    File { path: PathBuf, message: String },
    #[error("{dir}: {message}")]
    Model { dir: PathBuf, message: String },
}

#[derive(serde::Deserialize)]
struct Pooling {
    word_embedding_dimension: usize,
    #[serde(default)]
    pooling_mode_cls_token: bool,
    #[serde(default)]
    pooling_mode_mean_tokens: bool,
    #[serde(default)]
    pooling_mode_max_tokens: bool,
    #[serde(default)]
    pooling_mode_mean_sqrt_len_tokens: bool,
}

#[derive(serde::Deserialize)]
struct SentenceBertConfig {
    max_seq_length: Option<usize>,
}

impl MiniLm {
    /// Load the model in `dir`. Every failure names the file and what is wrong with it.
    pub fn load(dir: &Path) -> Result<Self, LoadError> {
        let file_error = |name: &str, message: String| LoadError::File {
            path: dir.join(name),
            message,
        };
        let read =
            |name: &str| std::fs::read(dir.join(name)).map_err(|e| file_error(name, e.to_string()));
        let json = |name: &str| -> Result<serde_json::Value, LoadError> {
            serde_json::from_slice(&read(name)?).map_err(|e| file_error(name, e.to_string()))
        };

        let config: BertConfig = serde_json::from_value(json("config.json")?)
            .map_err(|e| file_error("config.json", format!("not a BERT config: {e}")))?;
        let pooling: Pooling = serde_json::from_value(json("1_Pooling/config.json")?)
            .map_err(|e| file_error("1_Pooling/config.json", e.to_string()))?;
        if !pooling.pooling_mode_mean_tokens
            || pooling.pooling_mode_cls_token
            || pooling.pooling_mode_max_tokens
            || pooling.pooling_mode_mean_sqrt_len_tokens
        {
            return Err(file_error(
                "1_Pooling/config.json",
                "only mean pooling is supported (pooling_mode_mean_tokens alone)".into(),
            ));
        }
        // Optional: without it, sentence-transformers keeps the tokenizer's own limit; the
        // model's position table is the hard bound either way.
        let max_seq = match dir.join("sentence_bert_config.json").is_file() {
            true => {
                serde_json::from_value::<SentenceBertConfig>(json("sentence_bert_config.json")?)
                    .map_err(|e| file_error("sentence_bert_config.json", e.to_string()))?
                    .max_seq_length
            }
            false => None,
        }
        .unwrap_or(config.max_position_embeddings)
        .min(config.max_position_embeddings);

        let mut tokenizer = Tokenizer::from_bytes(read("tokenizer.json")?)
            .map_err(|e| file_error("tokenizer.json", e.to_string()))?;
        tokenizer
            .with_truncation(Some(TruncationParams {
                max_length: max_seq,
                ..TruncationParams::default()
            }))
            .map_err(|e| file_error("tokenizer.json", e.to_string()))?;
        // Padding is done per length-sorted batch below, not by the tokenizer.
        tokenizer.with_padding(None);

        let weights = read("model.safetensors")?;
        let hash = lower_hex(&Sha256::digest(&weights));
        let label = if hash == OFFICIAL_SHA256 {
            "all-MiniLM-L6-v2".to_string()
        } else {
            let name = dir
                .file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_else(|| "model".into());
            format!("{name}@{}", &hash[..12])
        };
        let weight_bytes = weights.len();
        let vb = VarBuilder::from_buffered_safetensors(weights, DType::F32, &Device::Cpu)
            .map_err(|e| file_error("model.safetensors", e.to_string()))?;
        let model = BertModel::load(vb, &config).map_err(|e| LoadError::Model {
            dir: dir.to_path_buf(),
            message: format!("the weights do not fit config.json: {e}"),
        })?;
        if pooling.word_embedding_dimension != config.hidden_size {
            return Err(file_error(
                "1_Pooling/config.json",
                format!(
                    "word_embedding_dimension {} differs from the model's hidden_size {}",
                    pooling.word_embedding_dimension, config.hidden_size
                ),
            ));
        }
        Ok(Self {
            model,
            tokenizer,
            dims: config.hidden_size,
            label,
            dir: dir.to_path_buf(),
            weight_bytes,
        })
    }

    pub fn dims(&self) -> usize {
        self.dims
    }

    pub fn label(&self) -> &str {
        &self.label
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Bytes of the weights file the model was built from (its tensors hold as much).
    pub fn weight_bytes(&self) -> usize {
        self.weight_bytes
    }

    /// One unit-length vector per text, in order. Texts are sorted by token count and run
    /// [`BATCH`] at a time, so each pass pads to near its own length (as
    /// sentence-transformers does); an empty text is `[CLS] [SEP]`, like theirs.
    pub fn embed(&self, texts: &[&str]) -> Result<Vec<Vec<f32>>, PassError> {
        let clipped: Vec<&str> = texts.iter().map(|t| clip(t)).collect();
        let encodings = self
            .tokenizer
            .encode_batch(clipped, true)
            .map_err(|e| PassError::Tokenizing(e.to_string()))?;
        let mut order: Vec<usize> = (0..encodings.len()).collect();
        order.sort_by_key(|&i| std::cmp::Reverse(encodings[i].get_ids().len()));
        let mut out = vec![Vec::new(); texts.len()];
        for chunk in order.chunks(BATCH) {
            let rows: Vec<&[u32]> = chunk.iter().map(|&i| encodings[i].get_ids()).collect();
            let vectors = self.forward(&rows).map_err(PassError::Forward)?;
            for (&i, v) in chunk.iter().zip(vectors) {
                out[i] = v;
            }
        }
        Ok(out)
    }

    /// BERT over one padded batch, then mean pooling and L2 normalisation.
    fn forward(&self, rows: &[&[u32]]) -> candle_core::Result<Vec<Vec<f32>>> {
        let batch = rows.len();
        let len = rows.iter().map(|r| r.len()).max().unwrap_or(0).max(1);
        let mut ids = vec![0u32; batch * len];
        let mut mask = vec![0u32; batch * len];
        for (b, row) in rows.iter().enumerate() {
            ids[b * len..b * len + row.len()].copy_from_slice(row);
            mask[b * len..b * len + row.len()].fill(1);
        }
        let device = &self.model.device;
        let ids = Tensor::from_vec(ids, (batch, len), device)?;
        let mask = Tensor::from_vec(mask, (batch, len), device)?;
        let types = ids.zeros_like()?;
        let hidden = self.model.forward(&ids, &types, Some(&mask))?;
        let mask = mask.to_dtype(DType::F32)?.unsqueeze(2)?;
        let summed = hidden.broadcast_mul(&mask)?.sum(1)?;
        let counts = mask.sum(1)?.clamp(1e-9f32, f32::MAX)?;
        let mean = summed.broadcast_div(&counts)?;
        let norms = mean
            .sqr()?
            .sum_keepdim(1)?
            .sqrt()?
            .clamp(1e-12f32, f32::MAX)?;
        mean.broadcast_div(&norms)?.to_vec2::<f32>()
    }
}

/// At most [`MAX_TEXT_BYTES`] of `text`, cut at a character boundary.
fn clip(text: &str) -> &str {
    crate::sanitize::cut_bytes(text, MAX_TEXT_BYTES)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn clip_cuts_long_text_at_a_character_boundary() {
        let long = "é".repeat(MAX_TEXT_BYTES);
        let cut = clip(&long);
        assert!(cut.len() <= MAX_TEXT_BYTES && cut.len() > MAX_TEXT_BYTES - 2);
        assert!(cut.chars().all(|c| c == 'é'));
        assert_eq!(clip("short"), "short");
    }

    #[test]
    fn a_directory_without_the_files_is_an_error_naming_the_file() {
        let dir = tempfile::tempdir().expect("tempdir");
        let err = MiniLm::load(dir.path()).err().expect("must fail");
        assert!(err.to_string().contains("config.json"), "{err}");
        std::fs::write(dir.path().join("config.json"), "{").expect("write");
        let err = MiniLm::load(dir.path()).err().expect("must fail");
        assert!(err.to_string().contains("config.json"), "{err}");
    }
}
