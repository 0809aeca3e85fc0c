//! The open-models policy on every spelling of a URL: the host it checks is the host the
//! HTTP client connects to, and nothing in the config can make the check skip.

mod support;

use std::ffi::OsStr;
use std::os::unix::ffi::OsStrExt;

use aios::config::{ConfigError, parse_str};

/// What loading a config with `llm.openai.url` set to a spelling must give.
#[derive(Debug)]
enum Verdict {
    /// Refused by the policy, naming the provider.
    Closed(&'static str),
    /// Refused by validation, the message containing this.
    Invalid(&'static str),
    /// Accepted.
    Open,
}
use Verdict::{Closed, Invalid, Open};

const SPELLINGS: &[(&str, Verdict)] = &[
    ("https://api.openai.com/v1", Closed("OpenAI")),
    // Case, of scheme and host.
    ("HTTPS://API.OpenAI.COM/v1", Closed("OpenAI")),
    // Trailing dot (the absolute DNS name).
    ("https://api.openai.com./v1", Closed("OpenAI")),
    // Ports: the default, another, an empty one.
    ("https://api.openai.com:443/v1", Closed("OpenAI")),
    ("https://api.openai.com:8443/v1", Closed("OpenAI")),
    ("https://api.openai.com:/v1", Closed("OpenAI")),
    // Userinfo in front of the real host, and in front of another host.
    ("https://user:pw@api.openai.com/v1", Closed("OpenAI")),
    ("https://127.0.0.1:9@api.openai.com/v1", Closed("OpenAI")),
    (
        "https://api.openai.com@127.0.0.1:9/v1",
        Invalid("user name or password"),
    ),
    (
        "https://api.openai.com%2F@127.0.0.1/v1",
        Invalid("user name or password"),
    ),
    // Backslash: the HTTP client reads it as `/`, so the host ends before the `@`.
    (
        "https://api.openai.com\\@127.0.0.1:9/../v1",
        Closed("OpenAI"),
    ),
    (
        "http://127.0.0.1:9\\@api.openai.com/v1",
        Invalid("backslash"),
    ),
    // Query and fragment in front of an `@`.
    ("https://api.openai.com?@127.0.0.1/v1", Closed("OpenAI")),
    ("https://api.openai.com#@127.0.0.1/v1", Closed("OpenAI")),
    // Percent-encoding in the host.
    ("https://api%2Eopenai.com/v1", Closed("OpenAI")),
    ("https://api%2eopenai%2ecom/v1", Closed("OpenAI")),
    // Full-width and ideographic dots, full-width letters (IDNA maps them).
    ("https://api\u{ff0e}openai\u{ff0e}com/v1", Closed("OpenAI")),
    ("https://api\u{3002}openai\u{3002}com/v1", Closed("OpenAI")),
    (
        "https://\u{ff41}\u{ff50}\u{ff49}.openai.com/v1",
        Closed("OpenAI"),
    ),
    // A tab inside the host, which URL parsers drop.
    ("https://api.open\tai.com/v1", Closed("OpenAI")),
    // Subdomains.
    ("https://eu.api.openai.com/v1", Closed("OpenAI")),
    (
        "https://myco.openai.azure.com/openai",
        Closed("Azure OpenAI"),
    ),
    (
        "https://generativelanguage.googleapis.com./v1beta",
        Closed("Google Gemini"),
    ),
    (
        "https://bedrock-runtime.us-east-1.amazonaws.com",
        Closed("Amazon Bedrock"),
    ),
    // Look-alikes that are other hosts.
    ("https://api.openai.com.evil.test/v1", Open),
    // IDNA: a Cyrillic `а` is another host, and not in its `xn--` form.
    (
        "https://\u{430}pi.openai.com/v1",
        Invalid("not an http(s) URL"),
    ),
    // IPv4 and IPv6: canonical forms pass, shorthands are refused.
    ("http://127.0.0.1:11434", Open),
    ("http://[::1]:8000/v1", Open),
    ("http://[0:0:0:0:0:0:0:1]:8000/v1", Invalid("canonical")),
    ("http://2130706433:8000/v1", Invalid("canonical")),
    ("http://gpu-box.lan:8000/v1", Open),
];

fn load(url: &str) -> Result<aios::config::Config, ConfigError> {
    parse_str(
        "",
        "test.toml",
        &[("AIOS_LLM_OPENAI_URL".to_string(), url.to_string())],
    )
}

#[test]
fn every_spelling_gets_its_verdict() {
    assert!(SPELLINGS.len() >= 20);
    let mut wrong = Vec::new();
    for (url, verdict) in SPELLINGS {
        let got = load(url);
        let ok = match (verdict, &got) {
            (Closed(provider), Err(e @ ConfigError::ClosedApi { .. })) => e
                .to_string()
                .contains(&format!("closed hosted API ({provider})")),
            (Invalid(fragment), Err(e @ ConfigError::Invalid { .. })) => {
                let text = e.to_string();
                text.contains("llm.openai.url") && text.contains(fragment)
            }
            (Open, Ok(config)) => config.llm.openai.url == *url,
            _ => false,
        };
        if !ok {
            wrong.push(format!("{url:?}: expected {verdict:?}, got {got:?}"));
        }
    }
    assert!(wrong.is_empty(), "{}", wrong.join("\n"));
}

/// The model runner refuses the same URLs itself (defence in depth), with the same parser.
#[test]
fn the_runner_check_reads_the_host_the_same_way() {
    for (url, verdict) in SPELLINGS {
        if let Closed(provider) = verdict {
            assert_eq!(
                aios::config::closed_api_provider(url),
                Some(*provider),
                "{url:?}"
            );
        }
    }
}

/// A `nan` made the config impossible to re-serialise, and the check returned Ok: the
/// config is refused now, with or without `AIOS_*` variables, naming the key and line.
#[test]
fn nan_in_the_config_does_not_skip_the_policy() {
    for schema in ["{ x = nan }", "{ x = { y = [1, -inf] } }"] {
        let text = format!(
            "[agents.support-agent]\nmemory_schema = {schema}\n\n\
             [llm.openai]\nurl = \"https://api.openai.com/v1\"\n"
        );
        for env in [
            vec![],
            vec![("AIOS_LLM_MODEL".to_string(), "x".to_string())],
        ] {
            let err = parse_str(&text, "nan.toml", &env).unwrap_err().to_string();
            assert!(
                err.starts_with(
                    "config error in nan.toml line 2, key agents.support-agent.memory_schema: "
                ) && err.contains("is nan or inf"),
                "{err}"
            );
        }
    }
}

/// A URL inside an agent's memory schema is checked too.
#[test]
fn a_url_in_a_memory_schema_is_checked() {
    let text = "[agents.support-agent]\nmemory_schema = { source = { url = \"https://api.openai.com/v1\" } }\n";
    let err = parse_str(text, "schema.toml", &[]).unwrap_err();
    assert!(
        err.to_string()
            .contains("agents.support-agent.memory_schema.source.url"),
        "{err}"
    );
}

/// A non-UTF-8 `--data-dir` made the config impossible to re-serialise, and the check
/// returned Ok: the real binary listed the agents with a closed API configured.
#[test]
fn a_non_utf8_data_dir_does_not_skip_the_policy() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join(OsStr::from_bytes(b"data-\xff\xfe"));
    let out = support::aios(tmp.path(), &data)
        .env("AIOS_LLM_OPENAI_URL", "https://api.openai.com/v1")
        .args(["agents", "--json"])
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "accepted: {stderr}");
    assert!(out.stdout.is_empty());
    assert!(stderr.contains("closed hosted API (OpenAI)"), "{stderr}");

    // The same data dir with an open server works.
    let out = support::aios(tmp.path(), &data)
        .args(["agents", "--json"])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// The reported bypass, through the real binary.
#[test]
fn the_backslash_bypass_is_refused_by_the_binary() {
    let tmp = tempfile::tempdir().unwrap();
    let out = support::aios(tmp.path(), &tmp.path().join("data"))
        .env(
            "AIOS_LLM_OPENAI_URL",
            "https://api.openai.com\\@127.0.0.1:9/../v1",
        )
        .args(["agents", "--json"])
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "accepted: {stderr}");
    assert!(stderr.contains("closed hosted API (OpenAI)"), "{stderr}");
}
