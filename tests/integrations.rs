//! The integrations shipped under `examples/`: the ERPNext and SuiteDash action presets
//! load through the real config parser and send what those APIs document (method, path,
//! auth headers, JSON body) to an in-test server; the n8n workflow is importable in shape,
//! and its Code node — run by `node` — accepts exactly aios's signed deliveries.

mod support;

use std::collections::BTreeMap;
use std::io::Write;
use std::path::Path;
use std::process::{Command, Stdio};

use aios::actions::{Actions, http_client};
use serde_json::{Value, json};
use sha2::{Digest, Sha256};
use support::http_script::{Recorded, Reply, ScriptServer};

fn read(path: &str) -> String {
    let file = Path::new(env!("CARGO_MANIFEST_DIR")).join(path);
    std::fs::read_to_string(&file).unwrap_or_else(|e| panic!("{}: {e}", file.display()))
}

/// A preset as a user would use it: its text in config.toml, with the service's URL
/// pointed at `base`, through the same parser and checks `aios` runs at start.
fn load_preset(path: &str, service_url: &str, base: &str) -> aios::config::Config {
    let text = read(path);
    assert!(
        text.contains(service_url),
        "{path} does not use {service_url}"
    );
    aios::config::parse_str(&text.replace(service_url, base), path, &[])
        .unwrap_or_else(|e| panic!("{path}: {e}"))
}

fn secrets(vars: &[(&str, &str)]) -> impl Fn(&str) -> Option<String> + use<> {
    let vars: BTreeMap<String, String> = vars
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    move |name| vars.get(name).cloned()
}

fn header<'a>(got: &'a Recorded, name: &str) -> Option<&'a str> {
    got.headers
        .iter()
        .find(|(h, _)| h.eq_ignore_ascii_case(name))
        .map(|(_, v)| v.as_str())
}

fn percent_decode(path: &str) -> String {
    let bytes = path.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%'
            && let Some(b) = path
                .get(i + 1..i + 3)
                .and_then(|h| u8::from_str_radix(h, 16).ok())
        {
            out.push(b);
            i += 3;
            continue;
        }
        out.push(bytes[i]);
        i += 1;
    }
    String::from_utf8(out).unwrap()
}

/// Run one action of `actions` with `args`; the request the server received.
async fn run(
    actions: &Actions,
    server: &ScriptServer,
    name: &str,
    args: Value,
    lookup: &dyn Fn(&str) -> Option<String>,
) -> Recorded {
    let action = actions
        .get(name)
        .unwrap_or_else(|| panic!("no action {name}"));
    let before = server.requests().len();
    let prepared = action
        .prepare(&args, lookup)
        .unwrap_or_else(|e| panic!("{name}: {e}"));
    let outcome = action
        .execute(&http_client().unwrap(), prepared)
        .await
        .unwrap_or_else(|e| panic!("{name}: {e}"));
    let got = server.requests()[before].clone();
    assert!(
        (200..300).contains(&outcome.status),
        "{name}: {} {} answered {}",
        got.method,
        got.path,
        outcome.status
    );
    got
}

#[tokio::test]
async fn erpnext_preset_sends_what_the_frappe_rest_api_takes() {
    let server = ScriptServer::start().await;
    let config = load_preset(
        "examples/actions/erpnext.toml",
        "https://erp.example.com",
        &server.url(),
    );
    let actions = Actions::from_config(&config.actions).unwrap();
    assert_eq!(
        actions.names().collect::<Vec<_>>(),
        [
            "erpnext_create_contact",
            "erpnext_create_invoice",
            "erpnext_update_contact"
        ]
    );
    let tools = |agent: &str| config.agents[agent].tools.clone().unwrap_or_default();
    assert!(tools("billing-agent").contains(&"erpnext_create_invoice".to_string()));
    for a in ["erpnext_create_contact", "erpnext_update_contact"] {
        assert!(tools("account-agent").contains(&a.to_string()), "{a}");
    }
    // The invoice asks a person first.
    assert!(
        config
            .approvals
            .rules
            .iter()
            .any(|r| r.tool == "erpnext_create_invoice"
                && r.decision == aios::approvals::RuleDecision::Ask)
    );

    // Frappe answers a created document as {"data": {...}} (200), an update likewise.
    let created = |doc: Value| Reply::json(200, &json!({ "data": doc }));
    server.reply(
        "POST",
        "/api/resource/Sales%20Invoice",
        created(json!({"name": "ACC-SINV-2026-00001", "docstatus": 0})),
    );
    server.reply(
        "POST",
        "/api/resource/Contact",
        created(json!({"name": "Jane Doe-ACME Corp"})),
    );
    server.reply(
        "PUT",
        "/api/resource/Contact/Jane%20Doe-ACME%20Corp",
        created(json!({"name": "Jane Doe-ACME Corp"})),
    );
    let lookup = secrets(&[("ERPNEXT_API_TOKEN", "k3y:s3cret")]);

    let got = run(
        &actions,
        &server,
        "erpnext_create_invoice",
        json!({"customer": "ACME Corp", "due_date": "2026-12-31",
               "items": [{"item_code": "Consulting", "qty": 10, "rate": 120}]}),
        &lookup,
    )
    .await;
    assert_eq!(
        (got.method.as_str(), got.path.as_str()),
        ("POST", "/api/resource/Sales%20Invoice")
    );
    assert_eq!(header(&got, "authorization"), Some("token k3y:s3cret"));
    assert_eq!(header(&got, "content-type"), Some("application/json"));
    // No `doctype` in the body (the URL names it); the optional remarks left out.
    assert_eq!(
        got.json(),
        json!({"customer": "ACME Corp", "due_date": "2026-12-31",
               "items": [{"item_code": "Consulting", "qty": 10, "rate": 120}]})
    );

    let got = run(
        &actions,
        &server,
        "erpnext_create_contact",
        json!({"first_name": "Jane", "last_name": "Doe", "email": "jane@acme.example",
               "customer": "ACME Corp"}),
        &lookup,
    )
    .await;
    assert_eq!(
        (got.method.as_str(), got.path.as_str()),
        ("POST", "/api/resource/Contact")
    );
    assert_eq!(header(&got, "authorization"), Some("token k3y:s3cret"));
    assert_eq!(
        got.json(),
        json!({"first_name": "Jane", "last_name": "Doe",
               "email_ids": [{"email_id": "jane@acme.example", "is_primary": 1}],
               "links": [{"link_doctype": "Customer", "link_name": "ACME Corp"}]})
    );

    // PUT changes only the fields sent.
    let got = run(
        &actions,
        &server,
        "erpnext_update_contact",
        json!({"contact": "Jane Doe-ACME Corp", "designation": "CFO"}),
        &lookup,
    )
    .await;
    assert_eq!(got.method, "PUT");
    assert_eq!(
        percent_decode(&got.path),
        "/api/resource/Contact/Jane Doe-ACME Corp"
    );
    assert_eq!(got.json(), json!({"designation": "CFO"}));
}

#[tokio::test]
async fn suitedash_preset_sends_what_the_secure_api_takes() {
    let server = ScriptServer::start().await;
    let config = load_preset(
        "examples/actions/suitedash.toml",
        "https://app.suitedash.com",
        &server.url(),
    );
    let actions = Actions::from_config(&config.actions).unwrap();
    let tools = |agent: &str| config.agents[agent].tools.clone().unwrap_or_default();
    for a in ["suitedash_create_contact", "suitedash_update_contact"] {
        assert!(tools("account-agent").contains(&a.to_string()), "{a}");
    }
    assert!(tools("billing-agent").contains(&"suitedash_find_contact".to_string()));

    server.reply(
        "POST",
        "/secure-api/contact",
        Reply::json(201, &json!({"success": true, "data": {"uid": "c-1"}})),
    );
    let lookup = secrets(&[
        (
            "SUITEDASH_PUBLIC_ID",
            "00000000-0000-0000-0000-000000000001",
        ),
        ("SUITEDASH_SECRET_KEY", "sd-secret"),
    ]);
    let both_keys = |got: &Recorded| {
        assert_eq!(
            header(got, "x-public-id"),
            Some("00000000-0000-0000-0000-000000000001")
        );
        assert_eq!(header(got, "x-secret-key"), Some("sd-secret"));
        assert_eq!(header(got, "authorization"), None);
    };

    let got = run(
        &actions,
        &server,
        "suitedash_create_contact",
        json!({"first_name": "John", "last_name": "Doe", "email": "john.doe@example.com",
               "role": "Lead"}),
        &lookup,
    )
    .await;
    assert_eq!(
        (got.method.as_str(), got.path.as_str()),
        ("POST", "/secure-api/contact")
    );
    both_keys(&got);
    assert_eq!(
        got.json(),
        json!({"first_name": "John", "last_name": "Doe", "email": "john.doe@example.com",
               "role": "Lead"})
    );
    // A role SuiteDash does not have is refused before anything is sent.
    let bad = actions.get("suitedash_create_contact").unwrap().prepare(
        &json!({"first_name": "J", "last_name": "D", "role": "Customer"}),
        &lookup,
    );
    assert!(bad.is_err());

    for (name, method, args, body) in [
        (
            "suitedash_update_contact",
            "PUT",
            json!({"identifier": "john.doe@example.com", "role": "Client"}),
            Some(json!({"role": "Client"})),
        ),
        (
            "suitedash_find_contact",
            "GET",
            json!({"identifier": "john.doe@example.com"}),
            None,
        ),
    ] {
        let prepared_path = {
            let p = actions.get(name).unwrap().prepare(&args, &lookup).unwrap();
            p.url().path().to_string()
        };
        server.reply(
            method,
            &prepared_path,
            Reply::json(200, &json!({"success": true})),
        );
        let got = run(&actions, &server, name, args, &lookup).await;
        assert_eq!(got.method, method);
        // The email is one path segment: `/contact/{UID or email}`.
        assert_eq!(
            percent_decode(&got.path),
            "/secure-api/contact/john.doe@example.com"
        );
        both_keys(&got);
        match body {
            Some(b) => assert_eq!(got.json(), b),
            None => assert!(got.body.is_empty(), "{name} sent a body"),
        }
    }
}

/// HMAC-SHA256 (RFC 2104) over sha2, independent of the code under test.
fn hmac_sha256(key: &[u8], message: &[u8]) -> [u8; 32] {
    let mut block = [0u8; 64];
    if key.len() > 64 {
        let digest: [u8; 32] = Sha256::digest(key).into();
        block[..32].copy_from_slice(&digest);
    } else {
        block[..key.len()].copy_from_slice(key);
    }
    let pad = |byte: u8| block.iter().map(|b| b ^ byte).collect::<Vec<u8>>();
    let mut inner = Sha256::new();
    inner.update(pad(0x36));
    inner.update(message);
    let inner: [u8; 32] = inner.finalize().into();
    let mut outer = Sha256::new();
    outer.update(pad(0x5c));
    outer.update(inner);
    outer.finalize().into()
}

/// `X-Aios-Signature` for `body` signed at `t` with each of `secrets`.
fn signature(t: i64, body: &[u8], secrets: &[&str]) -> String {
    let mut message = format!("{t}.").into_bytes();
    message.extend_from_slice(body);
    let mut header = format!("t={t}");
    for s in secrets {
        header.push_str(&format!(
            ",v1={}",
            hex::encode(hmac_sha256(s.as_bytes(), &message))
        ));
    }
    header
}

fn workflow() -> Value {
    serde_json::from_str(&read("examples/n8n/aios-workflow.json")).expect("the workflow is JSON")
}

fn node<'a>(wf: &'a Value, kind: &str) -> Vec<&'a Value> {
    wf["nodes"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|n| n["type"] == kind)
        .collect()
}

#[test]
fn the_n8n_workflow_has_the_shape_n8n_imports() {
    assert_eq!(
        hex::encode(hmac_sha256(b"Jefe", b"what do ya want for nothing?")),
        "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843",
        "RFC 4231 test case 2"
    );
    let wf = workflow();
    assert!(wf["name"].as_str().is_some_and(|n| !n.is_empty()));
    let nodes = wf["nodes"].as_array().unwrap();
    let names: Vec<&str> = nodes.iter().map(|n| n["name"].as_str().unwrap()).collect();
    for n in nodes {
        assert!(
            n["type"].as_str().unwrap().starts_with("n8n-nodes-base."),
            "{n}"
        );
        assert!(n["typeVersion"].is_number(), "{}", n["name"]);
        assert_eq!(
            n["position"].as_array().map(Vec::len),
            Some(2),
            "{}",
            n["name"]
        );
        assert!(n["parameters"].is_object(), "{}", n["name"]);
    }

    let hook = node(&wf, "n8n-nodes-base.webhook");
    assert_eq!(hook.len(), 1);
    let hook = hook[0];
    assert_eq!(hook["parameters"]["httpMethod"], "POST");
    assert_eq!(hook["parameters"]["path"], "aios-events");
    assert_eq!(
        hook["parameters"]["options"]["rawBody"], true,
        "the HMAC needs the raw body"
    );
    assert_eq!(hook["parameters"]["responseMode"], "responseNode");

    let send = node(&wf, "n8n-nodes-base.httpRequest");
    assert_eq!(send.len(), 1);
    let send = send[0];
    assert_eq!(send["parameters"]["method"], "POST");
    assert!(
        send["parameters"]["url"]
            .as_str()
            .unwrap()
            .ends_with("/v1/intents")
    );
    assert_eq!(send["parameters"]["genericAuthType"], "httpBearerAuth");
    assert!(
        send["parameters"]["jsonBody"]
            .as_str()
            .unwrap()
            .contains("$json.intent")
    );

    // Every connection joins two existing nodes, and the webhook reaches the HTTP request.
    let connections = wf["connections"].as_object().unwrap();
    let mut next: BTreeMap<&str, Vec<&str>> = BTreeMap::new();
    for (from, outs) in connections {
        assert!(
            names.contains(&from.as_str()),
            "connection from unknown {from}"
        );
        for output in outs["main"].as_array().unwrap() {
            for link in output.as_array().unwrap() {
                let to = link["node"].as_str().unwrap();
                assert!(names.contains(&to), "connection to unknown {to}");
                assert_eq!(link["type"], "main");
                next.entry(from).or_default().push(to);
            }
        }
    }
    let mut path = vec![hook["name"].as_str().unwrap()];
    while let Some(to) = next.get(path.last().unwrap()).and_then(|t| t.first()) {
        assert!(!path.contains(to), "a cycle at {to}");
        path.push(to);
    }
    assert_eq!(
        path.last(),
        send["name"].as_str().as_ref(),
        "webhook path: {path:?}"
    );
    let code = node(&wf, "n8n-nodes-base.code");
    assert!(
        path.contains(&code[0]["name"].as_str().unwrap()),
        "the check runs first"
    );
    // The failed check has its own answer (401), so aios retries and shows the failure.
    let refuse = nodes
        .iter()
        .find(|n| {
            n["type"] == "n8n-nodes-base.respondToWebhook"
                && n["parameters"]["options"]["responseCode"] == 401
        })
        .expect("a 401 answer");
    assert!(
        next.values()
            .flatten()
            .any(|to| *to == refuse["name"].as_str().unwrap())
    );
}

/// Runs the Code node's JavaScript as n8n does (an async function body, `this.helpers`,
/// `$input`, `$env`, `$getWorkflowStaticData`, `require`) once per request, with one
/// workflow static data across them; prints each run's items as one JSON line.
const HARNESS: &str = r#"
const input = JSON.parse(require('fs').readFileSync(0, 'utf8'));
const staticData = {};
const AsyncFunction = Object.getPrototypeOf(async function () {}).constructor;
const run = new AsyncFunction('require', '$input', '$env', '$getWorkflowStaticData', input.code);
(async () => {
  for (const req of input.requests) {
    const items = [{
      json: { headers: req.headers, params: {}, query: {}, body: {} },
      binary: { data: { data: req.raw_b64, mimeType: 'application/json' } },
    }];
    const self = { helpers: { getBinaryDataBuffer: async (i, name) =>
      Buffer.from(items[i].binary[name].data, 'base64') } };
    const $input = { all: () => items, first: () => items[0] };
    const out = await run.call(self, require, $input, input.env, () => staticData);
    console.log(JSON.stringify(out.map((o) => o.json)));
  }
})().catch((e) => { console.error(e); process.exit(1); });
"#;

#[test]
fn the_n8n_code_node_accepts_only_aios_signed_deliveries() {
    if Command::new("node").arg("--version").output().is_err() {
        println!("skipped: `node` is not on PATH, so the n8n Code node cannot be run");
        return;
    }
    let wf = workflow();
    let code = node(&wf, "n8n-nodes-base.code")[0]["parameters"]["jsCode"]
        .as_str()
        .unwrap()
        .to_string();

    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64;
    let secret = "whsec-current";
    let body = json!({
        "id": "dlv-0001", "event": "intent.done", "hook": "notify-n8n",
        "agent_id": "support-agent", "ts": "2026-11-30T12:00:00Z", "node": "server-1",
        "intent_id": "0193c3a0-7b7e-7a8e-9f00-000000000001",
        "data": {"reply": "Reset the password for customer 42", "trace_id": "trace-1"}
    })
    .to_string();
    let tampered = body.replace("customer 42", "customer 43");
    let request = |sig: String, raw: &str, delivery: &str| {
        use base64_encode::encode;
        json!({
            "headers": {
                "x-aios-signature": sig, "x-aios-delivery": delivery,
                "x-aios-event": "intent.done", "content-type": "application/json",
            },
            "raw_b64": encode(raw.as_bytes()),
        })
    };
    let cases = [
        (
            "valid",
            request(
                signature(now, body.as_bytes(), &[secret]),
                &body,
                "dlv-0001",
            ),
            true,
        ),
        (
            "redelivered",
            request(
                signature(now, body.as_bytes(), &[secret]),
                &body,
                "dlv-0001",
            ),
            true,
        ),
        (
            "rotating: old and new secret",
            request(
                signature(now, body.as_bytes(), &["whsec-old", secret]),
                &body,
                "dlv-0001",
            ),
            true,
        ),
        (
            "tampered body",
            request(
                signature(now, body.as_bytes(), &[secret]),
                &tampered,
                "dlv-0001",
            ),
            false,
        ),
        (
            "wrong secret",
            request(
                signature(now, body.as_bytes(), &["whsec-guess"]),
                &body,
                "dlv-0001",
            ),
            false,
        ),
        (
            "stale t",
            request(
                signature(now - 301, body.as_bytes(), &[secret]),
                &body,
                "dlv-0001",
            ),
            false,
        ),
        (
            "future t",
            request(
                // Well past the 300 s limit: node reads its clock a moment after this
                // one, so +301 could land on exactly 300.
                signature(now + 360, body.as_bytes(), &[secret]),
                &body,
                "dlv-0001",
            ),
            false,
        ),
        (
            "no signature",
            request(String::new(), &body, "dlv-0001"),
            false,
        ),
        (
            "delivery header differs",
            request(
                signature(now, body.as_bytes(), &[secret]),
                &body,
                "dlv-9999",
            ),
            false,
        ),
    ];
    let input = json!({
        "code": code,
        "env": {"AIOS_HOOKS_SECRET": format!("{secret}, whsec-other")},
        "requests": cases.iter().map(|c| c.1.clone()).collect::<Vec<_>>(),
    });
    let mut child = Command::new("node")
        .arg("-e")
        .arg(HARNESS)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(input.to_string().as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "node: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let runs: Vec<Value> = String::from_utf8(out.stdout)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(runs.len(), cases.len());
    for ((what, _, accepted), run) in cases.iter().zip(&runs) {
        let item = &run[0];
        assert_eq!(item["verified"], *accepted, "{what}: {item}");
        if !accepted {
            assert!(
                !item["reason"].as_str().unwrap().is_empty(),
                "{what}: no reason"
            );
        }
    }
    // The first delivery acts; the same delivery again is acknowledged but not acted on.
    assert_eq!(runs[0][0]["duplicate"], false);
    assert_eq!(runs[1][0]["duplicate"], true);
    // What the HTTP Request node sends back: the minimal intent form, in the same chain.
    let intent = &runs[0][0]["intent"];
    assert_eq!(intent["agent_id"], "account-agent");
    assert_eq!(intent["parent_id"], "0193c3a0-7b7e-7a8e-9f00-000000000001");
    assert_eq!(intent["trace_id"], "trace-1");
    assert!(
        intent["text"]
            .as_str()
            .unwrap()
            .contains("Reset the password for customer 42")
    );
    assert_eq!(
        runs[5][0]["reason"]
            .as_str()
            .map(|r| r.starts_with("stale")),
        Some(true)
    );

    // No secret configured in n8n: nothing is accepted.
    let input = json!({"code": code, "env": {}, "requests": [cases[0].1.clone()]});
    let mut child = Command::new("node")
        .arg("-e")
        .arg(HARNESS)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(input.to_string().as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    let run: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(run[0]["verified"], false);
    assert!(
        run[0]["reason"]
            .as_str()
            .unwrap()
            .contains("AIOS_HOOKS_SECRET")
    );
}

/// Base64 (RFC 4648, with padding) for the raw body n8n hands the Code node.
mod base64_encode {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

    pub fn encode(bytes: &[u8]) -> String {
        let mut out = String::new();
        for chunk in bytes.chunks(3) {
            let n = chunk
                .iter()
                .enumerate()
                .fold(0u32, |acc, (i, b)| acc | (u32::from(*b) << (16 - 8 * i)));
            for i in 0..4 {
                if i <= chunk.len() {
                    out.push(ALPHABET[((n >> (18 - 6 * i)) & 63) as usize] as char);
                } else {
                    out.push('=');
                }
            }
        }
        out
    }
}
