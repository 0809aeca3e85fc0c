//! The execution policy: open models only, never a closed hosted API.
//! (Skeleton: the full policy replaces this.)

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PolicyViolation {
    /// The config key, e.g. `llm.openai.url`.
    pub key: String,
    pub url: String,
    pub reason: String,
}

pub fn check_open_model_url(key: &str, url: &str) -> Result<(), PolicyViolation> {
    let _ = (key, url);
    Ok(())
}
