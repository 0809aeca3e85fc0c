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
            url: super::url::ShownUrl(url).to_string(),
            reason: format!("a closed hosted API ({provider})"),
        }),
        None => Ok(()),
    }
}

/// The provider behind `url` when it is a closed hosted model API, e.g. `Some("OpenAI")`.
///
/// The host is the one the HTTP client connects to: the URL is parsed by the same parser
/// reqwest (and the Redis client) use, so `\` read as `/`, userinfo, percent-encoding,
/// full-width dots, IDNA and trailing dots cannot make the policy see another host than
/// the request goes to.
pub fn closed_api_provider(url: &str) -> Option<&'static str> {
    url_hosts(url).into_iter().find_map(|host| {
        CLOSED_APIS
            .iter()
            .find(|(pattern, _)| pattern.matches(&host))
            .map(|(_, provider)| *provider)
    })
}

/// The host of a URL as the HTTP client reads it, normalised for matching.
#[cfg(test)]
fn url_host(url: &str) -> Option<String> {
    url_hosts(url).into_iter().next()
}

/// The host `url` is read as: as written, or, when it has no `scheme://` (`host/v1`, or
/// `host:port` read as a scheme), with `http://` in front, as a user would mean it.
fn url_hosts(url: &str) -> Vec<String> {
    let parsed = reqwest::Url::parse(url)
        .ok()
        .and_then(|u| u.host_str().and_then(normalized_host));
    match parsed {
        Some(host) => vec![host],
        None if url.contains("://") => Vec::new(),
        None => reqwest::Url::parse(&format!("http://{}", url.trim()))
            .ok()
            .and_then(|u| u.host_str().and_then(normalized_host))
            .into_iter()
            .collect(),
    }
}

/// Lower case, without trailing dots or IPv6 brackets; `None` when nothing is left. Hosts
/// of non-HTTP schemes (`redis://`) are opaque to the parser, so they are also
/// percent-decoded here.
fn normalized_host(host: &str) -> Option<String> {
    let host = host.trim_start_matches('[').trim_end_matches(']');
    let decoded = percent_decode(host);
    let host = decoded.trim_end_matches('.').to_ascii_lowercase();
    (!host.is_empty()).then_some(host)
}

/// `%2E` → `.`; an invalid escape is kept as written.
fn percent_decode(text: &str) -> String {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let hex = |b: u8| (b as char).to_digit(16);
        if bytes[i] == b'%'
            && let (Some(hi), Some(lo)) = (
                bytes.get(i + 1).and_then(|&b| hex(b)),
                bytes.get(i + 2).and_then(|&b| hex(b)),
            )
        {
            out.push((hi * 16 + lo) as u8);
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8_lossy(&out).into_owned()
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
        assert_eq!(
            url_host("https://api.openai.com\\@127.0.0.1:9/../v1").as_deref(),
            Some("api.openai.com"),
            "a backslash ends the host, as the HTTP client reads it"
        );
        assert_eq!(
            url_host("redis://api%2Eopenai.com:6379").as_deref(),
            Some("api.openai.com")
        );
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
