//! A deterministic local embedder (feature hashing): the offline default.
//!
//! Each text becomes a bag of features — lower-cased words, and the character trigrams of
//! each word padded with spaces (so `login` and `log in` still share most features) — and
//! each feature adds ±weight to one of `dims` buckets, chosen by a stable 64-bit hash
//! (FNV-1a with a final mix). The vector is then L2-normalised. The same text gives the
//! same vector on every machine and every release that keeps [`HashEmbedder::VERSION`], so
//! vectors stored on disk stay comparable with new queries.

use async_trait::async_trait;

use super::{Embedder, MemoryError};

/// Weight of a whole word; a word's trigrams share the rest, so long words do not drown
/// short ones.
const WORD_WEIGHT: f32 = 1.0;
const TRIGRAMS_WEIGHT: f32 = 1.0;

#[derive(Debug, Clone)]
pub struct HashEmbedder {
    dims: usize,
}

impl HashEmbedder {
    /// Bumped whenever the features or the hash change: vectors of different versions are
    /// not comparable.
    pub const VERSION: u32 = 1;

    pub fn new(dims: usize) -> Self {
        Self { dims }
    }

    /// The unit-length embedding of `text`; all zeros for a text without words (or when
    /// `dims` is 0, an empty vector).
    pub fn embed_one(&self, text: &str) -> Vec<f32> {
        let mut v = vec![0.0f32; self.dims];
        if self.dims == 0 {
            return v;
        }
        let lower = text.to_lowercase();
        let mut padded: Vec<char> = Vec::new();
        for word in lower
            .split(|c: char| !c.is_alphanumeric())
            .filter(|w| !w.is_empty())
        {
            self.add(&mut v, b'w', word.as_bytes(), WORD_WEIGHT);

            padded.clear();
            padded.push(' ');
            padded.extend(word.chars());
            padded.push(' ');
            let trigrams = padded.len().saturating_sub(2);
            let weight = TRIGRAMS_WEIGHT / (trigrams as f32).sqrt();
            let mut buf = [0u8; 12];
            for tri in padded.windows(3) {
                let mut len = 0;
                for c in tri {
                    len += c.encode_utf8(&mut buf[len..]).len();
                }
                self.add(&mut v, b't', &buf[..len], weight);
            }
        }
        let norm = v.iter().map(|x| x * x).sum::<f32>().sqrt();
        if norm > 0.0 {
            v.iter_mut().for_each(|x| *x /= norm);
        }
        v
    }

    fn add(&self, v: &mut [f32], namespace: u8, feature: &[u8], weight: f32) {
        let h = feature_hash(namespace, feature);
        // dims > 0 here, and a bucket index always fits in usize.
        let bucket = (h % self.dims as u64) as usize;
        let sign = if h >> 63 == 0 { 1.0 } else { -1.0 };
        if let Some(slot) = v.get_mut(bucket) {
            *slot += sign * weight;
        }
    }
}

/// FNV-1a over a namespace byte and the feature's bytes, then a murmur3-style finaliser so
/// the low bits (the bucket) and the top bit (the sign) are both well mixed.
fn feature_hash(namespace: u8, bytes: &[u8]) -> u64 {
    const OFFSET: u64 = 0xcbf2_9ce4_8422_2325;
    const PRIME: u64 = 0x0000_0100_0000_01b3;
    let mut h = OFFSET;
    for &b in std::iter::once(&namespace).chain(bytes) {
        h ^= u64::from(b);
        h = h.wrapping_mul(PRIME);
    }
    h ^= h >> 33;
    h = h.wrapping_mul(0xff51_afd7_ed55_8ccd);
    h ^= h >> 33;
    h = h.wrapping_mul(0xc4ce_b9fe_1a85_ec53);
    h ^ (h >> 33)
}

#[async_trait]
impl Embedder for HashEmbedder {
    fn name(&self) -> String {
        "hash".into()
    }

    fn dims(&self) -> usize {
        self.dims
    }

    async fn embed(&self, texts: &[String]) -> Result<Vec<Vec<f32>>, MemoryError> {
        Ok(texts.iter().map(|t| self.embed_one(t)).collect())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cosine(a: &[f32], b: &[f32]) -> f32 {
        a.iter().zip(b).map(|(x, y)| x * y).sum()
    }

    #[test]
    fn is_deterministic_and_unit_length() {
        let a = HashEmbedder::new(384);
        let b = HashEmbedder::new(384);
        let text = "Customer 42 cannot log in after the password reset";
        let v = a.embed_one(text);
        assert_eq!(v, b.embed_one(text));
        assert_eq!(v.len(), 384);
        let norm: f32 = v.iter().map(|x| x * x).sum::<f32>().sqrt();
        assert!((norm - 1.0).abs() < 1e-5, "{norm}");
    }

    #[test]
    fn hash_is_stable_across_builds() {
        // Stored vectors depend on these exact values; a change here needs a new VERSION.
        assert_eq!(feature_hash(b'w', b""), 0x436b_07a8_1e11_261d);
        assert_eq!(feature_hash(b'w', b"login"), 0x4224_2374_f0bc_1478);
        assert_eq!(feature_hash(b't', b" lo"), 0xad84_c335_0e2e_3f61);
    }

    #[test]
    fn case_and_punctuation_do_not_matter() {
        let e = HashEmbedder::new(128);
        assert_eq!(
            e.embed_one("Reset the PASSWORD!"),
            e.embed_one("reset, the password")
        );
    }

    #[test]
    fn empty_text_and_zero_dims_are_safe() {
        assert_eq!(HashEmbedder::new(16).embed_one(""), vec![0.0; 16]);
        assert_eq!(HashEmbedder::new(16).embed_one("  ,.;  "), vec![0.0; 16]);
        assert!(HashEmbedder::new(0).embed_one("hello").is_empty());
        let v = HashEmbedder::new(1).embed_one("hello world");
        assert_eq!(v.len(), 1);
        assert!(v[0].is_finite());
    }

    #[test]
    fn similar_texts_score_higher_than_unrelated_ones() {
        let e = HashEmbedder::new(384);
        let query = e.embed_one("customer cannot log in to their account");
        let similar = e.embed_one("a customer can't login to the account");
        let unrelated = e.embed_one("quarterly revenue forecast for the franchise rollout");
        let (s, u) = (cosine(&query, &similar), cosine(&query, &unrelated));
        assert!(s > 0.35, "similar {s}");
        assert!(s > u + 0.3, "similar {s}, unrelated {u}");

        let invoice = e.embed_one("invoice 1093 was charged twice");
        let invoices = e.embed_one("duplicate charge on invoice 1093");
        let seo = e.embed_one("keyword audit for the landing page");
        assert!(cosine(&invoice, &invoices) > cosine(&invoice, &seo) + 0.2);
    }

    #[tokio::test]
    async fn embeds_a_batch_like_embed_one() {
        let e = HashEmbedder::new(64);
        let texts = vec!["one".to_string(), "two words".to_string()];
        let got = e.embed(&texts).await.expect("embed");
        assert_eq!(got, vec![e.embed_one("one"), e.embed_one("two words")]);
        assert_eq!(e.name(), "hash");
        assert_eq!(e.dims(), 64);
    }
}
