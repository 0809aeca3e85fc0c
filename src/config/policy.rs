//! The execution policy: open models only, never a closed hosted API.
//!
//! The spec says "no usage of closed APIs". Every URL key of the configuration is checked
//! against the hosts of the closed hosted model APIs below; a match is refused with a
//! message that names the provider and says what to use instead.

/// A URL key points at a closed hosted model API.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "{key} = {url} is {reason}. aios runs open models only (the spec's execution policy: \
     \"no usage of closed APIs\"); point it at a local Ollama, vLLM, LM Studio or llama.cpp server."
)]
pub struct PolicyViolation {
    /// The config key, e.g. `llm.openai.url`.
    pub key: String,
    pub url: String,
    /// What the URL is, e.g. `a closed hosted API (OpenAI)`.
    pub reason: String,
}

/// How a closed API's hosts are recognised.
enum HostPattern {
    /// This host or any subdomain of it.
    Domain(&'static str),
    /// Any host ending with this text, e.g. `-aiplatform.googleapis.com`.
    EndsWith(&'static str),
    /// Any host starting and ending with these, e.g. `bedrock-runtime.` … `.amazonaws.com`.
    Around(&'static str, &'static str),
}

impl HostPattern {
    fn matches(&self, host: &str) -> bool {
        match self {
            HostPattern::Domain(domain) => {
                host == *domain
                    || host
                        .strip_suffix(domain)
                        .is_some_and(|sub| sub.ends_with('.'))
            }
            HostPattern::EndsWith(suffix) => host.len() > suffix.len() && host.ends_with(suffix),
            HostPattern::Around(prefix, suffix) => {
                host.len() > prefix.len() + suffix.len()
                    && host.starts_with(prefix)
                    && host.ends_with(suffix)
            }
        }
    }
}

/// The closed hosted model APIs, with the provider named in the refusal.
const CLOSED_APIS: &[(HostPattern, &str)] = &[
    (HostPattern::Domain("api.openai.com"), "OpenAI"),
    (HostPattern::EndsWith(".openai.azure.com"), "Azure OpenAI"),
    (HostPattern::Domain("api.anthropic.com"), "Anthropic"),
    (
        HostPattern::Domain("generativelanguage.googleapis.com"),
        "Google Gemini",
    ),
    (
        HostPattern::Domain("aiplatform.googleapis.com"),
        "Google Vertex AI",
    ),
    (
        HostPattern::EndsWith("-aiplatform.googleapis.com"),
        "Google Vertex AI",
    ),
    (HostPattern::Domain("api.mistral.ai"), "Mistral AI"),
    (HostPattern::Domain("api.cohere.com"), "Cohere"),
    (HostPattern::Domain("api.cohere.ai"), "Cohere"),
    (HostPattern::Domain("api.together.xyz"), "Together AI"),
    (HostPattern::Domain("api.together.ai"), "Together AI"),
    (HostPattern::Domain("api.groq.com"), "Groq"),
    (HostPattern::Domain("api.deepseek.com"), "DeepSeek"),
    (HostPattern::Domain("api.x.ai"), "xAI"),
    (HostPattern::Domain("api.perplexity.ai"), "Perplexity"),
    (HostPattern::Domain("api.fireworks.ai"), "Fireworks AI"),
    (HostPattern::Domain("openrouter.ai"), "OpenRouter"),
    (HostPattern::Domain("api.ai21.com"), "AI21 Labs"),
    (HostPattern::Domain("api.voyageai.com"), "Voyage AI"),
    (
        HostPattern::Around("bedrock-runtime.", ".amazonaws.com"),
        "Amazon Bedrock",
    ),
    (
        HostPattern::Around("bedrock-runtime-fips.", ".amazonaws.com"),
        "Amazon Bedrock",
    ),
];

/// Refuses `url` when it points at a closed hosted model API; `key` names the config key.
pub fn check_open_model_url(key: &str, url: &str) -> Result<(), PolicyViolation> {
    match closed_api_provider(url) {
        Some(provider) => Err(PolicyViolation {
            key: key.to_string(),
            url: url.to_string(),
            reason: format!("a closed hosted API ({provider})"),
        }),
        None => Ok(()),
    }
}

/// The provider behind `url` when it is a closed hosted model API, e.g. `Some("OpenAI")`.
pub fn closed_api_provider(url: &str) -> Option<&'static str> {
    let host = url_host(url)?;
    CLOSED_APIS
        .iter()
        .find(|(pattern, _)| pattern.matches(&host))
        .map(|(_, provider)| *provider)
}

/// The host of a URL, for matching against closed-API hosts.
pub(crate) fn url_host(url: &str) -> Option<String> {
    super::url::split(url).and_then(|p| p.normalized_host())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hosts_are_found_behind_userinfo_ports_and_case() {
        assert_eq!(
            url_host("https://u:p@API.OpenAI.com:443/v1").as_deref(),
            Some("api.openai.com")
        );
        assert_eq!(
            url_host("api.openai.com/v1").as_deref(),
            Some("api.openai.com")
        );
        assert_eq!(url_host("http://[::1]:8000/v1").as_deref(), Some("::1"));
        assert_eq!(
            url_host("http://api.openai.com./v1").as_deref(),
            Some("api.openai.com")
        );
        assert_eq!(url_host("http://"), None);
    }

    #[test]
    fn closed_apis_are_refused() {
        for (url, provider) in [
            ("https://api.openai.com/v1", "OpenAI"),
            ("https://myco.openai.azure.com/openai", "Azure OpenAI"),
            ("https://api.anthropic.com", "Anthropic"),
            (
                "https://generativelanguage.googleapis.com/v1beta",
                "Google Gemini",
            ),
            (
                "https://us-central1-aiplatform.googleapis.com/v1",
                "Google Vertex AI",
            ),
            ("https://api.mistral.ai/v1", "Mistral AI"),
            ("https://api.cohere.com/v2", "Cohere"),
            ("https://api.cohere.ai/v1", "Cohere"),
            ("https://api.together.xyz/v1", "Together AI"),
            ("https://api.groq.com/openai/v1", "Groq"),
            ("https://api.deepseek.com", "DeepSeek"),
            ("https://api.x.ai/v1", "xAI"),
            ("https://api.perplexity.ai", "Perplexity"),
            ("https://api.fireworks.ai/inference/v1", "Fireworks AI"),
            ("https://openrouter.ai/api/v1", "OpenRouter"),
            (
                "https://bedrock-runtime.us-east-1.amazonaws.com",
                "Amazon Bedrock",
            ),
        ] {
            assert_eq!(closed_api_provider(url), Some(provider), "{url}");
        }
    }

    #[test]
    fn open_servers_pass() {
        for url in [
            "http://127.0.0.1:11434",
            "http://localhost:8000/v1",
            "http://gpu-box.lan:1234/v1",
            "http://vllm.internal:8000/v1",
            "https://notapi.openai.com.example.org/v1",
            "https://openai.azure.com.evil.test",
            "https://s3.us-east-1.amazonaws.com",
            "https://myopenrouter.ai",
        ] {
            assert_eq!(check_open_model_url("llm.openai.url", url), Ok(()), "{url}");
        }
    }

    #[test]
    fn the_refusal_says_what_and_why() {
        let err = check_open_model_url("llm.openai.url", "https://api.openai.com/v1").unwrap_err();
        assert_eq!(
            err.to_string(),
            "llm.openai.url = https://api.openai.com/v1 is a closed hosted API (OpenAI). aios \
             runs open models only (the spec's execution policy: \"no usage of closed APIs\"); \
             point it at a local Ollama, vLLM, LM Studio or llama.cpp server."
        );
    }
}
