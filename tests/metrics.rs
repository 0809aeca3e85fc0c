//! Prometheus `/metrics` from the real `aios serve`: scraped before and after one intent
//! sent with `aios dispatch`, parsed strictly as the text exposition format, and the
//! counters of every part the intent went through have moved.

mod support;

use std::collections::{BTreeMap, HashMap};
use std::path::Path;
use std::time::{Duration, Instant};

use support::aios;
use support::serve::{Killed, start_serve_announcing};

const AGENT: &str = "support-agent";

/// `aios serve` with metrics on a free port, and the URL it printed.
fn start(cwd: &Path, data: &Path) -> (Killed, String) {
    let mut cmd = aios(cwd, data);
    cmd.env("AIOS_METRICS_BIND", "127.0.0.1:0");
    start_serve_announcing(&mut cmd, data, "metrics listening on ")
}

#[tokio::test]
async fn an_intent_moves_the_counters_of_a_running_serve() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    // A hook on the agent, so its delivery shows in the counters too (./config.toml in
    // the serve's working directory is the config it reads).
    let receiver = support::http_script::ScriptServer::start().await;
    receiver.reply(
        "POST",
        "/hook",
        support::http_script::Reply::new(204, "text/plain"),
    );
    std::fs::write(
        tmp.path().join("config.toml"),
        format!(
            "[agents.{AGENT}]\nprotocol_hooks = [{{ name = \"n\", on = \"intent.done\", action = \"webhook:{}/hook\" }}]\n",
            receiver.url()
        ),
    )
    .unwrap();
    let (serve, metrics_url) = start(tmp.path(), &data);
    let http = reqwest::Client::new();

    let before = scrape(&http, &metrics_url).await;
    assert_eq!(
        before.value("aios_build_info", &[("version", env!("CARGO_PKG_VERSION"))]),
        1.0
    );
    // A fresh serve shows every family, and the known series at 0 rather than absent: an
    // alert on rate(aios_intents_failed_total[5m]) sees 0 from the first scrape.
    for family in aios::metrics::FAMILIES {
        assert!(
            before.types.contains_key(family),
            "{family} is missing from a fresh scrape"
        );
    }
    for (name, labels) in [
        ("aios_intents_failed_total", vec![("agent", AGENT)]),
        ("aios_intents_handled_total", vec![("agent", AGENT)]),
        ("aios_intent_duration_seconds_count", vec![("agent", AGENT)]),
        (
            "aios_intents_refused_total",
            vec![("reason", "backlog_full")],
        ),
        ("aios_hook_deliveries_total", vec![("outcome", "dead")]),
        (
            "aios_bus_messages_rejected_total",
            vec![("channel", "agent.action.intents")],
        ),
        (
            "aios_memory_errors_total",
            vec![("backend", "local"), ("op", "search")],
        ),
        (
            "aios_tool_calls_total",
            vec![("agent", AGENT), ("tool", "recall"), ("outcome", "error")],
        ),
    ] {
        assert_eq!(before.sample(name, &labels), Some(0.0), "{name} {labels:?}");
    }

    let out = aios(tmp.path(), &data)
        .args(["dispatch", AGENT, "Customer 42 cannot log in"])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "dispatch: {}",
        String::from_utf8_lossy(&out.stderr)
    );

    // Audit records count once fsynced, within the writer's flush interval.
    let deadline = Instant::now() + Duration::from_secs(10);
    let after = loop {
        let now = scrape(&http, &metrics_url).await;
        let delivered =
            |e: &Exposition| e.value("aios_hook_deliveries_total", &[("outcome", "delivered")]);
        if (now.value("aios_audit_records_written_total", &[])
            > before.value("aios_audit_records_written_total", &[])
            && delivered(&now) > delivered(&before))
            || Instant::now() > deadline
        {
            break now;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    };

    let agent = [("agent", AGENT)];
    let moved = |name: &str, labels: &[(&str, &str)]| {
        after.value(name, labels) - before.value(name, labels)
    };
    assert_eq!(moved("aios_intents_handled_total", &agent), 1.0);
    assert_eq!(moved("aios_intents_failed_total", &agent), 0.0);
    assert_eq!(moved("aios_intent_duration_seconds_count", &agent), 1.0);
    assert!(moved("aios_tokens_generated_total", &agent) > 0.0);
    assert_eq!(moved("aios_time_to_first_token_seconds_count", &agent), 1.0);
    assert!(moved("aios_tokens_per_second_count", &agent) >= 1.0);
    assert!(moved("aios_audit_records_written_total", &[]) > 0.0);
    assert_eq!(
        moved("aios_hook_deliveries_total", &[("outcome", "delivered")]),
        1.0
    );
    assert_eq!(moved("aios_hook_delivery_delay_seconds_count", &[]), 1.0);
    assert!(moved("aios_context_versions_written_total", &agent) >= 1.0);
    assert!(
        moved(
            "aios_bus_messages_published_total",
            &[("channel", "agent.action.intents")]
        ) >= 1.0
    );
    // The agent recalls before it answers and remembers the episode after.
    assert!(moved("aios_memory_searches_total", &[("backend", "local")]) >= 1.0);
    assert!(moved("aios_memory_upserts_total", &[("backend", "local")]) >= 1.0);
    assert!(
        moved(
            "aios_memory_operation_duration_seconds_count",
            &[("backend", "local"), ("op", "search")]
        ) >= 1.0
    );

    // A histogram's buckets are cumulative and its +Inf bucket is its count.
    let inf = after.value(
        "aios_time_to_first_token_seconds_bucket",
        &[("agent", AGENT), ("le", "+Inf")],
    );
    assert_eq!(
        inf,
        after.value("aios_time_to_first_token_seconds_count", &agent)
    );

    serve.stop();
}

/// One scrape: the status, the content type and a strict parse of the body.
async fn scrape(http: &reqwest::Client, url: &str) -> Exposition {
    let resp = http.get(url).send().await.expect("metrics answer");
    assert_eq!(resp.status(), 200);
    let content_type = resp
        .headers()
        .get(reqwest::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_string();
    assert!(
        content_type.starts_with("text/plain; version=0.0.4"),
        "{content_type}"
    );
    let body = resp.text().await.unwrap();
    match Exposition::parse(&body) {
        Ok(e) => e,
        Err(e) => panic!("not valid Prometheus text format: {e}\n{body}"),
    }
}

/// A parsed text exposition: family types and samples keyed by name and sorted labels.
#[derive(Debug, Default)]
struct Exposition {
    types: HashMap<String, String>,
    samples: HashMap<(String, BTreeMap<String, String>), f64>,
}

impl Exposition {
    /// A sample's value; 0 when absent (a labelled counter appears only once it moves).
    fn value(&self, name: &str, labels: &[(&str, &str)]) -> f64 {
        let labels = labels
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        self.samples
            .get(&(name.to_string(), labels))
            .copied()
            .unwrap_or(0.0)
    }

    /// A sample's value, `None` when the series is not exposed at all.
    fn sample(&self, name: &str, labels: &[(&str, &str)]) -> Option<f64> {
        let labels = labels
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        self.samples.get(&(name.to_string(), labels)).copied()
    }

    fn parse(text: &str) -> Result<Exposition, String> {
        let mut e = Exposition::default();
        let mut helped = HashMap::new();
        for (n, line) in text.lines().enumerate() {
            let at = |m: String| format!("line {}: {m}: `{line}`", n + 1);
            if line.trim().is_empty() {
                continue;
            }
            if let Some(rest) = line.strip_prefix('#') {
                let mut parts = rest.trim_start().splitn(3, ' ');
                match parts.next() {
                    Some("HELP") => {
                        let name = parts.next().unwrap_or_default();
                        check_name(name).map_err(at)?;
                        if parts.next().is_none_or(|h| h.trim().is_empty()) {
                            return Err(at("HELP without text".into()));
                        }
                        if helped.insert(name.to_string(), ()).is_some() {
                            return Err(at("second HELP for a family".into()));
                        }
                    }
                    Some("TYPE") => {
                        let name = parts.next().unwrap_or_default();
                        check_name(name).map_err(at)?;
                        let kind = parts.next().unwrap_or_default();
                        if !["counter", "gauge", "histogram", "summary", "untyped"].contains(&kind)
                        {
                            return Err(at(format!("unknown type `{kind}`")));
                        }
                        if e.types.insert(name.into(), kind.into()).is_some() {
                            return Err(at("second TYPE for a family".into()));
                        }
                    }
                    _ => {} // a plain comment
                }
                continue;
            }
            let (name, labels, value) = parse_sample(line).map_err(at)?;
            let family = e.family_of(&name);
            let kind = e
                .types
                .get(&family)
                .ok_or_else(|| at(format!("no TYPE line before family `{family}`")))?;
            match kind.as_str() {
                "counter" if !(name.ends_with("_total") && value >= 0.0) => {
                    return Err(at("a counter is named `_total` and never negative".into()));
                }
                "histogram" if name.ends_with("_bucket") && !labels.contains_key("le") => {
                    return Err(at("a histogram bucket without `le`".into()));
                }
                _ => {}
            }
            if e.samples.insert((name, labels), value).is_some() {
                return Err(at("the same sample twice".into()));
            }
        }
        Ok(e)
    }

    /// The family a sample belongs to: `x_bucket`, `x_sum`, `x_count` are histogram or
    /// summary `x`'s.
    fn family_of(&self, name: &str) -> String {
        for suffix in ["_bucket", "_sum", "_count"] {
            if let Some(base) = name.strip_suffix(suffix)
                && matches!(
                    self.types.get(base).map(String::as_str),
                    Some("histogram" | "summary")
                )
            {
                return base.to_string();
            }
        }
        name.to_string()
    }
}

fn check_name(name: &str) -> Result<(), String> {
    let mut chars = name.chars();
    let first_ok = chars
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_' || c == ':');
    if first_ok && chars.all(|c| c.is_ascii_alphanumeric() || c == '_' || c == ':') {
        Ok(())
    } else {
        Err(format!("`{name}` is not a metric name"))
    }
}

/// `name{label="value",…} value [timestamp]`.
fn parse_sample(line: &str) -> Result<(String, BTreeMap<String, String>, f64), String> {
    let name_end = line.find(['{', ' ']).ok_or("no value")?;
    let name = &line[..name_end];
    check_name(name)?;
    let mut rest = &line[name_end..];
    let mut labels = BTreeMap::new();
    if let Some(after) = rest.strip_prefix('{') {
        let mut chars = after.char_indices().peekable();
        let close = loop {
            let Some(&(i, c)) = chars.peek() else {
                return Err("unclosed label set".into());
            };
            if c == '}' {
                break i;
            }
            let mut key = String::new();
            while let Some(&(_, c)) = chars.peek() {
                if c == '=' {
                    break;
                }
                key.push(c);
                chars.next();
            }
            if key.is_empty()
                || !key.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
                || key.starts_with(|c: char| c.is_ascii_digit())
            {
                return Err(format!("`{key}` is not a label name"));
            }
            if chars.next().map(|(_, c)| c) != Some('=')
                || chars.next().map(|(_, c)| c) != Some('"')
            {
                return Err(format!("label `{key}` is not `{key}=\"…\"`"));
            }
            let mut value = String::new();
            loop {
                match chars.next().map(|(_, c)| c) {
                    Some('"') => break,
                    Some('\\') => match chars.next().map(|(_, c)| c) {
                        Some('\\') => value.push('\\'),
                        Some('"') => value.push('"'),
                        Some('n') => value.push('\n'),
                        other => return Err(format!("bad escape `\\{other:?}`")),
                    },
                    Some(c) => value.push(c),
                    None => return Err("unclosed label value".into()),
                }
            }
            if labels.insert(key.clone(), value).is_some() {
                return Err(format!("label `{key}` twice"));
            }
            match chars.peek().map(|&(_, c)| c) {
                Some(',') => {
                    chars.next();
                }
                Some('}') => {}
                _ => return Err("labels are separated by `,`".into()),
            }
        };
        rest = &after[close + 1..];
    }
    let rest = rest.strip_prefix(' ').ok_or("no space before the value")?;
    let mut fields = rest.split(' ');
    let value = match fields.next().unwrap_or_default() {
        "+Inf" => f64::INFINITY,
        "-Inf" => f64::NEG_INFINITY,
        "NaN" => f64::NAN,
        v => v.parse().map_err(|_| format!("`{v}` is not a value"))?,
    };
    if let Some(ts) = fields.next() {
        ts.parse::<i64>()
            .map_err(|_| format!("`{ts}` is not a timestamp"))?;
    }
    if fields.next().is_some() {
        return Err("trailing fields".into());
    }
    Ok((name.to_string(), labels, value))
}

/// The parser must refuse what Prometheus refuses, or the test above proves nothing.
#[test]
fn the_parser_is_strict() {
    let good = "# HELP a_total Things.\n# TYPE a_total counter\na_total{x=\"1\\\"\"} 3\n\
                # TYPE h histogram\nh_bucket{le=\"+Inf\"} 1\nh_sum 0.5\nh_count 1\n";
    let e = Exposition::parse(good).unwrap();
    assert_eq!(e.value("a_total", &[("x", "1\"")]), 3.0);
    assert_eq!(e.value("h_count", &[]), 1.0);
    for bad in [
        "a_total 1\n",                                    // no TYPE
        "# TYPE a_total counter\na_total{x=1} 1\n",       // unquoted label
        "# TYPE a_total counter\na_total{x=\"1\"}1\n",    // no space
        "# TYPE a_total counter\na_total one\n",          // not a number
        "# TYPE a counter\na 1\n",                        // counter without _total
        "# TYPE a_total counter\na_total 1\na_total 2\n", // duplicate sample
        "# TYPE h histogram\nh_bucket 1\n",               // bucket without le
        "# TYPE a_total bogus\na_total 1\n",              // unknown type
        "# HELP 1a x\n",                                  // bad name
        "# TYPE a_total counter\na_total{x=\"1\" 1\n",    // unclosed labels
    ] {
        assert!(Exposition::parse(bad).is_err(), "accepted: {bad}");
    }
}
