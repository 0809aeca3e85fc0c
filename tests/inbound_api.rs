//! The inbound HTTP API (`/v1/...` beside `/mcp`) against the real `aios serve`: an
//! n8n-shaped POST that makes an agent act and gets its reply, the intent's status after,
//! the bearer token required everywhere, JSON errors for bad input, the SSE stream carrying
//! an intent's `intent_done`, and the OpenAPI document held against what the router serves.

#[path = "support/mcp.rs"]
mod mcp_support;
mod support;

use std::time::{Duration, Instant};

use futures::StreamExt;
use mcp_support::Serve;
use reqwest::StatusCode;
use serde_json::{Value, json};

const TOKENS: (&str, &str) = ("AIOS_MCP_TOKENS", "tok-alpha,tok-beta");

/// `http://127.0.0.1:PORT`, from serve's `/mcp` URL.
fn base(serve: &Serve) -> String {
    serve.url.trim_end_matches("/mcp").to_string()
}

/// What n8n's HTTP Request node sends for "Send Body: JSON" with a Bearer credential: its
/// own User-Agent and Accept, the JSON content type and the Authorization header.
fn n8n_post(
    http: &reqwest::Client,
    url: &str,
    token: &str,
    body: &Value,
) -> reqwest::RequestBuilder {
    http.post(url)
        .header("User-Agent", "n8n")
        .header(
            "Accept",
            "application/json,text/html,application/xhtml+xml,application/xml,text/*;q=0.9, image/*;q=0.8, */*;q=0.7",
        )
        .header("Content-Type", "application/json")
        .header("Authorization", format!("Bearer {token}"))
        .body(body.to_string())
}

async fn json_of(r: reqwest::Response) -> (StatusCode, Value) {
    let status = r.status();
    let text = r.text().await.unwrap();
    let value =
        serde_json::from_str(&text).unwrap_or_else(|e| panic!("{status}: not JSON ({e}): {text}"));
    (status, value)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_n8n_request_makes_an_agent_act_and_gets_the_reply() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    let serve = Serve::start(tmp.path(), &data, &[TOKENS]);
    let http = reqwest::Client::new();
    let base = base(&serve);

    let body = json!({"agent_id": "support-agent", "text": "Customer 42 cannot log in"});
    let r = n8n_post(
        &http,
        &format!("{base}/v1/intents?wait=true&timeout_s=60"),
        "tok-beta",
        &body,
    )
    .send()
    .await
    .unwrap();
    let (status, done) = json_of(r).await;
    assert_eq!(status, StatusCode::OK, "{done}");
    assert_eq!(done["status"], "done", "{done}");
    assert_eq!(done["agent_id"], "support-agent");
    assert_eq!(done["runner"], "sim");
    let reply = done["reply"].as_str().expect("a reply");
    assert!(reply.contains("Customer 42 cannot log in"), "{reply}");
    assert!(
        done["context_version"].as_u64().is_some_and(|v| v >= 1),
        "{done}"
    );
    assert!(done["completion_tokens"].as_u64().is_some(), "{done}");
    let id = done["intent_id"].as_str().unwrap().to_string();

    // The status afterwards: the same outcome.
    let r = http
        .get(format!("{base}/v1/intents/{id}"))
        .bearer_auth("tok-alpha")
        .send()
        .await
        .unwrap();
    let (status, view) = json_of(r).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(view["status"], "done");
    assert_eq!(view["reply"], done["reply"]);
    assert_eq!(view["trace_id"], done["trace_id"]);

    // Without wait: 202 at once, with where to poll; polling ends in done.
    let r = n8n_post(
        &http,
        &format!("{base}/v1/intents"),
        "tok-alpha",
        &json!({
            "agent_id": "billing-agent", "text": "Invoice ACME for March", "trace_id": "trace-n8n-1"
        }),
    )
    .send()
    .await
    .unwrap();
    let location = r.headers()["location"].to_str().unwrap().to_string();
    let (status, queued) = json_of(r).await;
    assert_eq!(status, StatusCode::ACCEPTED, "{queued}");
    assert_eq!(queued["trace_id"], "trace-n8n-1");
    assert_eq!(queued["status_url"], location);
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let r = http
            .get(format!("{base}{location}"))
            .bearer_auth("tok-alpha")
            .send()
            .await
            .unwrap();
        let (status, view) = json_of(r).await;
        assert_eq!(status, StatusCode::OK);
        if view["status"] == "done" {
            assert!(view["reply"].as_str().unwrap().contains("Invoice ACME"));
            break;
        }
        assert!(Instant::now() < deadline, "never done: {view}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }

    // Audited as the dispatcher audits every intent, under the client's name.
    mcp_support::wait_for_audit(&data, "http:n8n", &["dispatch_intent"]);
    serve.stop();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_route_needs_the_token_and_bad_input_gets_a_json_error() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    let serve = Serve::start(tmp.path(), &data, &[TOKENS]);
    let http = reqwest::Client::new();
    let base = base(&serve);
    let good = json!({"agent_id": "ops-agent", "text": "Check the disks"});

    for path in [
        "/v1/intents",
        "/v1/intents/x",
        "/v1/events",
        "/v1/openapi.json",
    ] {
        for token in [None, Some("tok-gamma")] {
            let mut r = if path == "/v1/intents" {
                http.post(format!("{base}{path}"))
                    .header("Content-Type", "application/json")
                    .body(good.to_string())
            } else {
                http.get(format!("{base}{path}"))
            };
            if let Some(t) = token {
                r = r.bearer_auth(t);
            }
            let r = r.send().await.unwrap();
            assert_eq!(r.status(), StatusCode::UNAUTHORIZED, "{path} {token:?}");
            let challenge = r.headers()["www-authenticate"].to_str().unwrap();
            assert!(challenge.starts_with("Bearer"), "{challenge}");
        }
    }
    // Nothing was dispatched by the refused requests.
    let audit = aios::audit::read_dir(&data.join("audit"))
        .map(|o| o.records)
        .unwrap_or_default();
    assert!(!audit.iter().any(|r| r.action == "dispatch_intent"));

    let post = |query: &str, content_type: &str, body: String| {
        http.post(format!("{base}/v1/intents{query}"))
            .bearer_auth("tok-alpha")
            .header("Content-Type", content_type)
            .body(body)
            .send()
    };
    let cases: Vec<(&str, &str, String, StatusCode, &str)> = vec![
        (
            "",
            "application/json",
            json!({"agent_id": "nobody-agent", "text": "hi"}).to_string(),
            StatusCode::NOT_FOUND,
            "unknown agent `nobody-agent`",
        ),
        (
            "",
            "application/json",
            "{\"agent_id\": \"ops-agent\", \"text\": ".into(),
            StatusCode::BAD_REQUEST,
            "not an intent",
        ),
        (
            "",
            "application/json",
            json!({"agent_id": "ops-agent"}).to_string(),
            StatusCode::BAD_REQUEST,
            "missing field `text`",
        ),
        (
            "",
            "application/json",
            json!({"agent_id": "ops-agent", "text": "hi", "wait": true}).to_string(),
            StatusCode::BAD_REQUEST,
            "unknown field `wait`",
        ),
        (
            "",
            "application/json",
            json!({"agent_id": "ops-agent", "text": 7}).to_string(),
            StatusCode::BAD_REQUEST,
            "invalid type",
        ),
        (
            "",
            "application/json",
            json!({"agent_id": "ops-agent", "text": "   "}).to_string(),
            StatusCode::BAD_REQUEST,
            "empty",
        ),
        (
            "",
            "application/json",
            json!({"agent_id": "ops-agent", "text": "x".repeat(70_000)}).to_string(),
            StatusCode::PAYLOAD_TOO_LARGE,
            "limit is 65536",
        ),
        (
            "",
            "application/json",
            "x".repeat(500_000),
            StatusCode::PAYLOAD_TOO_LARGE,
            "over 409600 bytes",
        ),
        (
            "",
            "text/plain",
            good.to_string(),
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "Content-Type: application/json",
        ),
        (
            "",
            "application/json",
            json!({"agent_id": "ops-agent", "text": "hi", "trace_id": "a b"}).to_string(),
            StatusCode::BAD_REQUEST,
            "trace_id",
        ),
        (
            "?wait=true&timeout_s=0",
            "application/json",
            good.to_string(),
            StatusCode::BAD_REQUEST,
            "timeout_s must be between 1 and 300",
        ),
        (
            "?wait=maybe",
            "application/json",
            good.to_string(),
            StatusCode::BAD_REQUEST,
            "bad query",
        ),
    ];
    for (query, content_type, body, want, says) in cases {
        let (status, answer) = json_of(post(query, content_type, body).await.unwrap()).await;
        assert_eq!(status, want, "{query} {content_type}: {answer}");
        let error = answer["error"]
            .as_str()
            .unwrap_or_else(|| panic!("{answer}"));
        assert!(error.contains(says), "wanted `{says}` in: {error}");
    }

    for (path, says) in [
        ("/v1/intents/0193-none", "no intent `0193-none`"),
        (
            "/v1/events?agent_id=nobody-agent",
            "unknown agent `nobody-agent`",
        ),
    ] {
        let r = http
            .get(format!("{base}{path}"))
            .bearer_auth("tok-alpha")
            .send()
            .await
            .unwrap();
        let (status, answer) = json_of(r).await;
        assert_eq!(status, StatusCode::NOT_FOUND, "{path}");
        assert!(answer["error"].as_str().unwrap().contains(says), "{answer}");
    }
    serve.stop();
}

/// Read SSE frames from `response` until one named `name` whose data has `intent_id`.
async fn sse_until(response: reqwest::Response, name: &str, intent_id: &str) -> Value {
    let mut body = response.bytes_stream();
    let mut buffer = String::new();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    loop {
        let chunk = tokio::time::timeout_at(deadline, body.next())
            .await
            .unwrap_or_else(|_| panic!("no {name} event for {intent_id}; got:\n{buffer}"))
            .expect("the stream stays open")
            .unwrap();
        buffer.push_str(&String::from_utf8_lossy(&chunk));
        while let Some(end) = buffer.find("\n\n") {
            let frame: String = buffer.drain(..end + 2).collect();
            let mut event = None;
            let mut data = String::new();
            for line in frame.lines() {
                if let Some(e) = line.strip_prefix("event: ") {
                    event = Some(e.to_string());
                } else if let Some(d) = line.strip_prefix("data: ") {
                    data.push_str(d);
                }
            }
            if event.as_deref() == Some(name) {
                let value: Value = serde_json::from_str(&data).unwrap();
                if value["intent_id"] == intent_id {
                    return value;
                }
            }
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_event_stream_carries_a_dispatched_intents_outcome() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    let serve = Serve::start(tmp.path(), &data, &[TOKENS]);
    let http = reqwest::Client::new();
    let base = base(&serve);

    let stream = http
        .get(format!("{base}/v1/events?agent_id=ops-agent"))
        .bearer_auth("tok-alpha")
        .send()
        .await
        .unwrap();
    assert_eq!(stream.status(), StatusCode::OK);
    assert!(
        stream.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/event-stream")
    );
    // Another agent's intent first: filtered out of this stream.
    for agent in ["seo-agent", "ops-agent"] {
        let r = n8n_post(
            &http,
            &format!("{base}/v1/intents"),
            "tok-alpha",
            &json!({
                "agent_id": agent, "text": "Rotate the logs"
            }),
        )
        .send()
        .await
        .unwrap();
        let (status, queued) = json_of(r).await;
        assert_eq!(status, StatusCode::ACCEPTED);
        if agent == "ops-agent" {
            let id = queued["intent_id"].as_str().unwrap();
            let done = sse_until(stream, "intent_done", id).await;
            assert_eq!(done["event"], "intent_done");
            assert_eq!(done["agent_id"], "ops-agent");
            assert!(done["reply"].as_str().unwrap().contains("Rotate the logs"));
            break;
        }
    }
    serve.stop();
}

/// Every `$ref` in `node` that points into `doc` resolves; returns how many there were.
fn check_refs(doc: &Value, node: &Value) -> usize {
    match node {
        Value::Object(map) => map
            .iter()
            .map(|(k, v)| {
                if k == "$ref" {
                    let target = v.as_str().expect("$ref is a string");
                    let pointer = target.strip_prefix('#').expect("local $ref");
                    assert!(doc.pointer(pointer).is_some(), "{target} does not resolve");
                    1
                } else {
                    check_refs(doc, v)
                }
            })
            .sum(),
        Value::Array(items) => items.iter().map(|v| check_refs(doc, v)).sum(),
        _ => 0,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_openapi_document_describes_exactly_what_is_served() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    let serve = Serve::start(tmp.path(), &data, &[TOKENS]);
    let http = reqwest::Client::new();
    let base = base(&serve);

    let r = http
        .get(format!("{base}/v1/openapi.json"))
        .bearer_auth("tok-alpha")
        .send()
        .await
        .unwrap();
    assert!(
        r.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("application/json")
    );
    let (status, doc) = json_of(r).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(
        doc,
        serde_json::from_str::<Value>(aios::api::OPENAPI).unwrap()
    );
    assert!(doc["openapi"].as_str().unwrap().starts_with("3.1"));
    assert!(check_refs(&doc, &doc) > 5);
    assert_eq!(
        doc["components"]["securitySchemes"]["bearer"]["scheme"],
        "bearer"
    );
    assert_eq!(doc["security"][0]["bearer"], json!([]));

    let paths = doc["paths"].as_object().unwrap();
    let mut documented: Vec<&str> = paths.keys().map(String::as_str).collect();
    let mut served = aios::api::PATHS.to_vec();
    documented.sort();
    served.sort();
    assert_eq!(documented, served, "documented vs served paths");

    // A real intent, for the `{id}` path.
    let r = n8n_post(
        &http,
        &format!("{base}/v1/intents"),
        "tok-alpha",
        &json!({
            "agent_id": "ops-agent", "text": "hello"
        }),
    )
    .send()
    .await
    .unwrap();
    let id = json_of(r).await.1["intent_id"]
        .as_str()
        .unwrap()
        .to_string();

    for (path, item) in paths {
        let ops = item.as_object().unwrap();
        for (method, op) in ops {
            let responses = op["responses"].as_object();
            assert!(
                responses.is_some_and(|r| !r.is_empty()),
                "{method} {path} has no responses"
            );
        }
        let url = format!("{base}{}", path.replace("{id}", &id));
        for method in ["get", "post", "put", "patch", "delete"] {
            let r = http
                .request(method.to_uppercase().parse().unwrap(), &url)
                .bearer_auth("tok-alpha")
                .header("Content-Type", "application/json")
                .body(json!({"agent_id": "ops-agent", "text": "probe"}).to_string())
                .send()
                .await
                .unwrap();
            let status = r.status();
            drop(r);
            if ops.contains_key(method) {
                assert!(
                    status.is_success(),
                    "{method} {path} is documented but answers {status}"
                );
                let documented = ops[method]["responses"].get(status.as_str()).is_some();
                assert!(
                    documented,
                    "{method} {path} answers {status}, not documented"
                );
            } else {
                assert_eq!(
                    status,
                    StatusCode::METHOD_NOT_ALLOWED,
                    "{method} {path} is served but not documented"
                );
            }
        }
    }
    serve.stop();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_wait_that_runs_out_answers_202_with_the_status_so_far() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    // A slow sim runner: its reply takes seconds, longer than the 1 s wait.
    let serve = Serve::start(
        tmp.path(),
        &data,
        &[TOKENS, ("AIOS_LLM_SIM_TOKENS_PER_SECOND", "20")],
    );
    let http = reqwest::Client::new();
    let base = base(&serve);

    let started = Instant::now();
    let r = n8n_post(
        &http,
        &format!("{base}/v1/intents?wait=true&timeout_s=1"),
        "tok-alpha",
        &json!({"agent_id": "sop-agent", "text": "Write the onboarding SOP"}),
    )
    .send()
    .await
    .unwrap();
    let (status, so_far) = json_of(r).await;
    assert_eq!(status, StatusCode::ACCEPTED, "{so_far}");
    assert!(started.elapsed() < Duration::from_secs(5));
    assert!(
        so_far["status"] == "queued" || so_far["status"] == "running",
        "{so_far}"
    );
    assert!(so_far["reply"].is_null());

    // Polling sees it run, then finish.
    let url = format!("{base}{}", so_far["status_url"].as_str().unwrap());
    let deadline = Instant::now() + Duration::from_secs(60);
    let mut seen = Vec::new();
    loop {
        let r = http
            .get(&url)
            .bearer_auth("tok-alpha")
            .send()
            .await
            .unwrap();
        let (_, view) = json_of(r).await;
        let s = view["status"].as_str().unwrap().to_string();
        if seen.last() != Some(&s) {
            seen.push(s.clone());
        }
        if s == "done" {
            assert!(view["finished_at"].is_string());
            break;
        }
        assert!(Instant::now() < deadline, "never done: {seen:?}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(seen.contains(&"running".to_string()), "{seen:?}");
    serve.stop();
}
