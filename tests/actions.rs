//! HTTP actions against an in-test HTTP server (`tests/support/http_script.rs`) that records
//! each request as received: the exact request an n8n webhook trigger and ERPNext's REST
//! API get, the preview equal to it but for masked secrets, retries for idempotent methods
//! only, timeouts, and the cap on the answer. The `live_*` tests run against a real n8n
//! webhook (`AIOS_TEST_N8N_URL`) or ERPNext (`AIOS_TEST_ERPNEXT_URL` and
//! `AIOS_TEST_ERPNEXT_TOKEN` = `key:secret`) when set.

mod support;

use std::collections::BTreeMap;
use std::time::Duration;

use aios::actions::{Action, ActionConfig, ActionError, MASK, RequestPreview, http_client};
use serde_json::json;
use support::http_script::{Action as Script, Recorded, Reply, ScriptServer};

/// Compiles one action from its TOML table, with `{base}` standing for the server's URL.
fn action(name: &str, toml_text: &str, base: &str) -> Action {
    let config: ActionConfig = toml::from_str(&toml_text.replace("{base}", base)).unwrap();
    Action::from_config(name, &config).unwrap()
}

fn secrets(vars: &[(&str, &str)]) -> impl Fn(&str) -> Option<String> + use<> {
    let vars: BTreeMap<String, String> = vars
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    move |name| vars.get(name).cloned()
}

/// The request the server received is the previewed one: same method, URL and body, and
/// the same headers once each masked value is put back (`unmasked`: header → real value).
fn assert_sent_as_previewed(
    preview: &RequestPreview,
    base: &str,
    got: &Recorded,
    unmasked: &[(&str, &str)],
) {
    assert_eq!(got.method, preview.method);
    assert_eq!(format!("{base}{}", got.path), preview.url);
    assert_eq!(
        got.head.lines().next().unwrap(),
        format!("{} {} HTTP/1.1", preview.method, got.path)
    );
    let mut expected: Vec<(String, String)> = preview
        .headers
        .iter()
        .map(|(name, value)| {
            let value = if value.contains(MASK) {
                let real = unmasked
                    .iter()
                    .find(|(h, _)| h.eq_ignore_ascii_case(name))
                    .unwrap_or_else(|| panic!("no real value given for masked header {name}"))
                    .1;
                real.to_string()
            } else {
                value.clone()
            };
            (name.to_ascii_lowercase(), value)
        })
        .collect();
    let mut received = got.headers.clone();
    expected.sort();
    received.sort();
    assert_eq!(received, expected, "headers sent vs previewed");
    assert_eq!(
        got.body,
        preview.body.clone().unwrap_or_default().into_bytes(),
        "body sent vs previewed"
    );
}

/// An n8n Webhook node (production URL `<base>/webhook/<path>`, HTTP method POST, Header
/// Auth credential) with "Respond: Immediately": it answers 200 and
/// `{"message":"Workflow was started"}`, and the workflow sees the JSON body.
const N8N_NEW_LEAD: &str = r#"
description = "Start the n8n lead-intake workflow for a new lead"
method = "POST"
url = "{base}/webhook/new-lead"
auth = { scheme = "header:X-N8N-Token", secret = "env:N8N_WEBHOOK_TOKEN" }
[args]
type = "object"
required = ["name", "email"]
[args.properties]
name = { type = "string" }
email = { type = "string" }
score = { type = "integer" }
"#;

#[tokio::test]
async fn an_n8n_webhook_trigger_receives_the_exact_request() {
    let server = ScriptServer::start().await;
    server.reply(
        "POST",
        "/webhook/new-lead",
        Reply::json(200, &json!({"message": "Workflow was started"})),
    );
    let action = action("n8n-new-lead", N8N_NEW_LEAD, &server.url());
    let req = action
        .prepare(
            &json!({"name": "Ada Lovelace", "email": "ada@example.com", "score": 87}),
            &secrets(&[("N8N_WEBHOOK_TOKEN", "whk-7f3a9c21")]),
        )
        .unwrap();
    let preview = req.preview();
    let outcome = action.execute(&http_client().unwrap(), req).await.unwrap();

    assert_eq!(outcome.status, 200);
    assert_eq!(outcome.body, r#"{"message":"Workflow was started"}"#);
    assert!(!outcome.truncated);
    assert_eq!(outcome.attempts, 1);

    let got = &server.requests()[0];
    assert_eq!(got.method, "POST");
    assert_eq!(got.path, "/webhook/new-lead");
    assert_eq!(
        got.json(),
        json!({"name": "Ada Lovelace", "email": "ada@example.com", "score": 87})
    );
    let header = |name: &str| {
        got.headers
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    };
    assert_eq!(header("x-n8n-token"), Some("whk-7f3a9c21"));
    assert_eq!(header("content-type"), Some("application/json"));
    assert_eq!(header("accept"), Some("application/json"));
    assert_eq!(header("host"), Some(&server.addr.to_string()[..]));
    assert_eq!(
        preview
            .headers
            .iter()
            .find(|(n, _)| n == "X-N8N-Token")
            .unwrap()
            .1,
        MASK
    );
    assert_sent_as_previewed(
        &preview,
        &server.url(),
        got,
        &[("X-N8N-Token", "whk-7f3a9c21")],
    );
}

/// ERPNext (Frappe REST API): `POST /api/resource/Sales Invoice` with token auth
/// (`Authorization: token <api_key>:<api_secret>`) and the document as the JSON body;
/// it answers `{"data": {…the new document…}}`.
const ERPNEXT_INVOICE: &str = r#"
description = "Create a draft sales invoice in ERPNext"
method = "POST"
url = "{base}/api/resource/Sales%20Invoice"
auth = { scheme = "token", secret = "env:ERPNEXT_API_TOKEN" }
body = { customer = "{customer}", items = [{ item_code = "{item_code}", qty = "{qty}" }] }
[args]
type = "object"
required = ["customer", "item_code", "qty"]
[args.properties]
customer = { type = "string", description = "The customer's name in ERPNext" }
item_code = { type = "string" }
qty = { type = "number" }
"#;

#[tokio::test]
async fn erpnext_receives_the_exact_sales_invoice_request() {
    let server = ScriptServer::start().await;
    server.reply(
        "POST",
        "/api/resource/Sales%20Invoice",
        Reply::json(
            200,
            &json!({"data": {"name": "ACC-SINV-2026-00001", "doctype": "Sales Invoice",
                             "customer": "Grant Plastics Ltd.", "docstatus": 0}}),
        ),
    );
    let action = action("erpnext-invoice", ERPNEXT_INVOICE, &server.url());
    let req = action
        .prepare(
            &json!({"customer": "Grant Plastics Ltd.", "item_code": "SKU-001", "qty": 2.5}),
            &secrets(&[("ERPNEXT_API_TOKEN", "0a1b2c3d4e5f:9f8e7d6c5b4a")]),
        )
        .unwrap();
    let preview = req.preview();
    assert!(
        preview
            .headers
            .contains(&("Authorization".into(), "token ••••".into()))
    );
    let outcome = action.execute(&http_client().unwrap(), req).await.unwrap();
    assert_eq!(outcome.status, 200);
    assert!(outcome.body.contains("ACC-SINV-2026-00001"));

    let got = &server.requests()[0];
    assert_eq!(
        got.head.lines().next().unwrap(),
        "POST /api/resource/Sales%20Invoice HTTP/1.1"
    );
    assert!(
        got.headers.contains(&(
            "authorization".into(),
            "token 0a1b2c3d4e5f:9f8e7d6c5b4a".into()
        )),
        "{:?}",
        got.headers
    );
    assert_eq!(
        String::from_utf8(got.body.clone()).unwrap(),
        r#"{"customer":"Grant Plastics Ltd.","items":[{"item_code":"SKU-001","qty":2.5}]}"#
    );
    assert_sent_as_previewed(
        &preview,
        &server.url(),
        got,
        &[("Authorization", "token 0a1b2c3d4e5f:9f8e7d6c5b4a")],
    );
}

#[tokio::test]
async fn hostile_path_values_stay_in_their_segment_on_the_wire() {
    let server = ScriptServer::start().await;
    let path = "/api/resource/Sales%20Invoice/ACC%2F1%3Fx%3D1%23y%20..%2Fadmin%0D%0AX-Evil%3A%201";
    server.reply("GET", path, Reply::json(200, &json!({"data": {}})));
    let action = action(
        "erpnext-get-invoice",
        r#"
        description = "Read one sales invoice"
        method = "GET"
        url = "{base}/api/resource/Sales%20Invoice/{name}"
        [args]
        type = "object"
        required = ["name"]
        properties = { name = { type = "string" } }
        "#,
        &server.url(),
    );
    let req = action
        .prepare(
            &json!({"name": "ACC/1?x=1#y ../admin\r\nX-Evil: 1"}),
            &secrets(&[]),
        )
        .unwrap();
    let preview = req.preview();
    let outcome = action.execute(&http_client().unwrap(), req).await.unwrap();
    assert_eq!(outcome.status, 200);
    let got = &server.requests()[0];
    assert_eq!(got.path, path);
    assert!(!got.headers.iter().any(|(k, _)| k == "x-evil"));
    assert_sent_as_previewed(&preview, &server.url(), got, &[]);
}

#[tokio::test]
async fn an_idempotent_get_is_retried_on_503_and_a_post_never() {
    let server = ScriptServer::start().await;
    let unavailable = || Script::Reply(Reply::json(503, &json!({"exc": "busy"})));
    server.route(
        "GET",
        "/api/resource/Item",
        vec![
            unavailable(),
            unavailable(),
            Script::Reply(Reply::json(200, &json!({"data": []}))),
        ],
    );
    server.route("POST", "/webhook/new-lead", vec![unavailable()]);
    let client = http_client().unwrap();

    let get = action(
        "list-items",
        "description = \"List items\"\nmethod = \"GET\"\nurl = \"{base}/api/resource/Item\"\n",
        &server.url(),
    );
    let outcome = get
        .execute(&client, get.prepare(&json!({}), &secrets(&[])).unwrap())
        .await
        .unwrap();
    assert_eq!((outcome.status, outcome.attempts), (200, 3));
    assert_eq!(server.requests_to("/api/resource/Item").len(), 3);

    let post = action("n8n-new-lead", N8N_NEW_LEAD, &server.url());
    let req = post
        .prepare(
            &json!({"name": "A", "email": "a@example.com"}),
            &secrets(&[("N8N_WEBHOOK_TOKEN", "t0k3n")]),
        )
        .unwrap();
    let outcome = post.execute(&client, req).await.unwrap();
    assert_eq!((outcome.status, outcome.attempts), (503, 1));
    assert_eq!(
        outcome.body, r#"{"exc":"busy"}"#,
        "the model sees the answer"
    );
    assert_eq!(server.requests_to("/webhook/new-lead").len(), 1);
}

#[tokio::test]
async fn retries_stop_at_the_configured_count() {
    let server = ScriptServer::start().await;
    server.reply("PUT", "/api/resource/Item/X", Reply::json(502, &json!({})));
    let put = action(
        "update-item",
        "description = \"d\"\nmethod = \"PUT\"\nurl = \"{base}/api/resource/Item/X\"\nretries = 1\n",
        &server.url(),
    );
    let outcome = put
        .execute(
            &http_client().unwrap(),
            put.prepare(&json!({}), &secrets(&[])).unwrap(),
        )
        .await
        .unwrap();
    assert_eq!((outcome.status, outcome.attempts), (502, 2));
    assert_eq!(server.requests().len(), 2);
}

#[tokio::test]
async fn a_timeout_is_a_clear_error() {
    let server = ScriptServer::start().await;
    let slow = Reply::new(200, "application/json").chunk_after(Duration::from_secs(30), "{}");
    server.reply("POST", "/webhook/slow", slow.clone());
    server.reply("GET", "/slow", slow);
    let client = http_client().unwrap();

    let post = action(
        "slow-hook",
        "description = \"d\"\nurl = \"{base}/webhook/slow\"\ntimeout_ms = 300\n",
        &server.url(),
    );
    let err = post
        .execute(&client, post.prepare(&json!({}), &secrets(&[])).unwrap())
        .await
        .unwrap_err();
    assert!(
        matches!(err, ActionError::Timeout { attempts: 1, .. }),
        "{err:?}"
    );
    assert_eq!(
        err.to_string(),
        format!(
            "action slow-hook: POST {}/webhook/slow did not answer within 300 ms (1 attempt)",
            server.url()
        )
    );

    let get = action(
        "slow-get",
        "description = \"d\"\nmethod = \"GET\"\nurl = \"{base}/slow\"\ntimeout_ms = 200\nretries = 1\n",
        &server.url(),
    );
    let err = get
        .execute(&client, get.prepare(&json!({}), &secrets(&[])).unwrap())
        .await
        .unwrap_err();
    assert!(
        err.to_string()
            .ends_with("did not answer within 200 ms (2 attempts)"),
        "{err}"
    );
    assert_eq!(server.requests_to("/slow").len(), 2);
}

#[tokio::test]
async fn a_refused_connection_is_a_clear_error_without_secrets() {
    let port = {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        listener.local_addr().unwrap().port()
    };
    let base = format!("http://127.0.0.1:{port}");
    let post = action("n8n-new-lead", N8N_NEW_LEAD, &base);
    let req = post
        .prepare(
            &json!({"name": "A", "email": "a@example.com"}),
            &secrets(&[("N8N_WEBHOOK_TOKEN", "sup3r-s3cret-token")]),
        )
        .unwrap();
    let err = post
        .execute(&http_client().unwrap(), req)
        .await
        .unwrap_err();
    let text = err.to_string();
    assert!(
        matches!(err, ActionError::Transport { attempts: 1, .. }),
        "{err:?}"
    );
    assert!(
        text.starts_with(&format!(
            "action n8n-new-lead: POST {base}/webhook/new-lead failed after 1 attempt: "
        )),
        "{text}"
    );
    assert!(text.to_lowercase().contains("connect"), "{text}");
    assert!(!text.contains("sup3r-s3cret-token"), "{text}");
    assert!(!format!("{err:?}").contains("sup3r-s3cret-token"));

    // A model that echoes the secret into the URL does not get it into the error either
    // (the client's own message repeats the URL), and a GET tries again before failing.
    let get = action(
        "lookup",
        r#"
        description = "d"
        method = "GET"
        url = "{base}/lookup/{key}"
        retries = 1
        auth = { scheme = "bearer", secret = "env:TOKEN" }
        [args]
        type = "object"
        required = ["key"]
        properties = { key = { type = "string" } }
        "#,
        &base,
    );
    let req = get
        .prepare(
            &json!({"key": "sup3r-s3cret-token"}),
            &secrets(&[("TOKEN", "sup3r-s3cret-token")]),
        )
        .unwrap();
    let err = get.execute(&http_client().unwrap(), req).await.unwrap_err();
    let text = err.to_string();
    assert!(
        text.starts_with(&format!(
            "action lookup: GET {base}/lookup/•••• failed after 2 attempts: "
        )),
        "{text}"
    );
    assert!(
        !format!("{err:?}").contains("sup3r-s3cret-token"),
        "{err:?}"
    );
}

#[tokio::test]
async fn a_large_answer_is_cut_at_the_cap_and_flagged() {
    let server = ScriptServer::start().await;
    // 32 MiB in 64 KiB chunks: far more than the socket buffers hold, so the server only
    // gets rid of it all if the client reads it all.
    let mut reply = Reply::new(200, "application/json");
    for _ in 0..512 {
        reply = reply.chunk(vec![b'x'; 64 * 1024]);
    }
    server.reply("GET", "/export", reply);
    server.reply(
        "GET",
        "/small",
        Reply::new(200, "text/plain").chunk("é".repeat(200)),
    );
    let client = http_client().unwrap();

    let export = action(
        "export",
        "description = \"d\"\nmethod = \"GET\"\nurl = \"{base}/export\"\nmax_response_bytes = 1000\n",
        &server.url(),
    );
    let outcome = export
        .execute(&client, export.prepare(&json!({}), &secrets(&[])).unwrap())
        .await
        .unwrap();
    assert_eq!(outcome.status, 200);
    assert!(outcome.truncated);
    assert_eq!(outcome.body, "x".repeat(1000));
    assert!(
        server.client_hung_up(Duration::from_secs(60)).await,
        "the client stopped reading and closed the answer"
    );

    // 400 bytes of two-byte characters, cut at 301: the half character is dropped.
    let small = action(
        "small",
        "description = \"d\"\nmethod = \"GET\"\nurl = \"{base}/small\"\nmax_response_bytes = 301\n",
        &server.url(),
    );
    let outcome = small
        .execute(&client, small.prepare(&json!({}), &secrets(&[])).unwrap())
        .await
        .unwrap();
    assert!(outcome.truncated);
    assert_eq!(outcome.body, "é".repeat(150));

    let exact = action(
        "exact",
        "description = \"d\"\nmethod = \"GET\"\nurl = \"{base}/small\"\nmax_response_bytes = 400\n",
        &server.url(),
    );
    let outcome = exact
        .execute(&client, exact.prepare(&json!({}), &secrets(&[])).unwrap())
        .await
        .unwrap();
    assert!(!outcome.truncated, "an answer of exactly the cap is whole");
    assert_eq!(outcome.body, "é".repeat(200));
}

#[tokio::test]
async fn a_request_is_sent_only_by_the_action_that_prepared_it() {
    let server = ScriptServer::start().await;
    let a = action(
        "a",
        "description = \"d\"\nurl = \"{base}/a\"\n",
        &server.url(),
    );
    let b = action(
        "b",
        "description = \"d\"\nurl = \"{base}/b\"\n",
        &server.url(),
    );
    let req = a.prepare(&json!({}), &secrets(&[])).unwrap();
    let err = b.execute(&http_client().unwrap(), req).await.unwrap_err();
    assert_eq!(
        err.to_string(),
        "the request was prepared for action a, not b"
    );
    assert!(server.requests().is_empty());
}

/// A real n8n webhook: `AIOS_TEST_N8N_URL` is the full production (or test) webhook URL of
/// a Webhook node set to POST without auth.
#[tokio::test]
async fn live_n8n_webhook() {
    let Ok(url) = std::env::var("AIOS_TEST_N8N_URL") else {
        eprintln!("skipped: set AIOS_TEST_N8N_URL to a POST webhook URL of an n8n workflow");
        return;
    };
    let config: ActionConfig = toml::from_str(&format!(
        "description = \"live\"\nurl = \"{url}\"\n\
         [args]\ntype = \"object\"\nproperties = {{ source = {{ type = \"string\" }} }}\n"
    ))
    .unwrap();
    let action = Action::from_config("live-n8n", &config).unwrap();
    let req = action
        .prepare(&json!({"source": "aios live test"}), &secrets(&[]))
        .unwrap();
    let outcome = action.execute(&http_client().unwrap(), req).await.unwrap();
    assert!(
        (200..300).contains(&outcome.status),
        "{} {}",
        outcome.status,
        outcome.body
    );
}

/// A real ERPNext: reads one Customer (no side effect) with token auth.
#[tokio::test]
async fn live_erpnext_read() {
    let (Ok(base), Ok(token)) = (
        std::env::var("AIOS_TEST_ERPNEXT_URL"),
        std::env::var("AIOS_TEST_ERPNEXT_TOKEN"),
    ) else {
        eprintln!(
            "skipped: set AIOS_TEST_ERPNEXT_URL (site URL) and AIOS_TEST_ERPNEXT_TOKEN (key:secret)"
        );
        return;
    };
    let action = action(
        "live-erpnext",
        "description = \"live\"\nmethod = \"GET\"\n\
         url = \"{base}/api/resource/Customer?limit_page_length=1\"\n\
         auth = { scheme = \"token\", secret = \"env:ERPNEXT_TOKEN\" }\n",
        base.trim_end_matches('/'),
    );
    let req = action
        .prepare(&json!({}), &secrets(&[("ERPNEXT_TOKEN", &token)]))
        .unwrap();
    let outcome = action.execute(&http_client().unwrap(), req).await.unwrap();
    assert_eq!(outcome.status, 200, "{}", outcome.body);
    assert!(outcome.body.contains("\"data\""), "{}", outcome.body);
}

/// The commented examples of `config.toml`, uncommented: `# # prose` stays a comment.
fn shipped_examples() -> String {
    let text = aios::config::DEFAULT_CONFIG_TOML;
    let start = text
        .find("\n# [actions.n8n-new-lead]")
        .expect("config.toml has the actions examples");
    text[start..]
        .lines()
        .map(|line| {
            line.strip_prefix("# ")
                .or_else(|| line.strip_prefix('#'))
                .unwrap_or(line)
        })
        .collect::<Vec<_>>()
        .join("\n")
}

#[test]
fn the_shipped_config_has_no_actions_and_its_examples_load() {
    let default =
        aios::config::parse_str(aios::config::DEFAULT_CONFIG_TOML, "config.toml", &[]).unwrap();
    assert!(default.actions.is_empty());

    let config = aios::config::parse_str(
        &format!(
            "{}\n{}",
            aios::config::DEFAULT_CONFIG_TOML,
            shipped_examples()
        ),
        "config.toml",
        &[],
    )
    .unwrap();
    // Any AIOS_* variable makes the config go through its TOML form and back: the actions
    // come out of it unchanged.
    let with_env = aios::config::parse_str(
        &format!(
            "{}\n{}",
            aios::config::DEFAULT_CONFIG_TOML,
            shipped_examples()
        ),
        "config.toml",
        &[("AIOS_TUI_FPS".to_string(), "20".to_string())],
    )
    .unwrap();
    assert_eq!(with_env.actions, config.actions);
    let actions = aios::actions::Actions::from_config(&config.actions).unwrap();
    assert_eq!(
        actions.names().collect::<Vec<_>>(),
        [
            "erpnext-sales-invoice",
            "n8n-new-lead",
            "ops-restart-service",
            "suitedash-create-contact"
        ]
    );

    let lookup = secrets(&[
        ("ERPNEXT_API_TOKEN", "apikey123:apisecret456"),
        ("N8N_WEBHOOK_TOKEN", "n8n-token-1"),
        ("OPS_API_TOKEN", "ops-token-1"),
        ("SUITEDASH_PUBLIC_ID", "public-id-1"),
        ("SUITEDASH_SECRET_KEY", "secret-key-1"),
    ]);
    let text = |name: &str, args: serde_json::Value| {
        actions
            .get(name)
            .unwrap()
            .prepare(&args, &lookup)
            .unwrap()
            .to_text()
    };
    let erp = text(
        "erpnext-sales-invoice",
        json!({"customer": "Grant Plastics Ltd.", "item_code": "SKU-001", "qty": 2}),
    );
    let erp_body =
        r#"{"customer":"Grant Plastics Ltd.","items":[{"item_code":"SKU-001","qty":2}]}"#;
    assert_eq!(
        erp,
        format!(
            "POST https://erp.example.com/api/resource/Sales%20Invoice\n\
             Host: erp.example.com\nAccept: application/json\nContent-Type: application/json\n\
             Authorization: token ••••\nContent-Length: {}\n\n{erp_body}",
            erp_body.len()
        )
    );
    let ops = text(
        "ops-restart-service",
        json!({"service": "worker", "reason": "stuck queue"}),
    );
    assert!(
        ops.starts_with("POST http://ops.lan:8000/services/worker/restart\nHost: ops.lan:8000\n"),
        "{ops}"
    );
    assert!(ops.contains("Authorization: Bearer ••••\n"), "{ops}");
    assert!(ops.ends_with("\n\n{\"reason\":\"stuck queue\"}"), "{ops}");
    let sd = text(
        "suitedash-create-contact",
        json!({"first_name": "Ada", "last_name": "Lovelace", "email": "ada@example.com",
               "role": "Lead"}),
    );
    assert!(
        sd.contains("X-Public-ID: ••••\nX-Secret-Key: ••••\n"),
        "{sd}"
    );
    let n8n = text(
        "n8n-new-lead",
        json!({"name": "Ada", "email": "ada@example.com"}),
    );
    assert!(
        n8n.starts_with("POST http://n8n.lan:5678/webhook/new-lead\n"),
        "{n8n}"
    );
    for shown in [&erp, &ops, &sd, &n8n] {
        for secret in [
            "apikey123",
            "apisecret456",
            "n8n-token-1",
            "ops-token-1",
            "public-id-1",
            "secret-key-1",
        ] {
            assert!(!shown.contains(secret), "{shown}");
        }
    }
}

#[test]
fn a_bad_action_is_refused_at_load_naming_its_key_and_line() {
    let err = aios::config::parse_str(
        "[actions.erp]\ndescription = \"d\"\nurl = \"http://erp.lan/api/resource/{doctype}\"\n",
        "/etc/aios/config.toml",
        &[],
    )
    .unwrap_err()
    .to_string();
    assert!(
        err.starts_with("config error in /etc/aios/config.toml line 3, key actions.erp.url: uses `{doctype}`, which must be a required argument"),
        "{err}"
    );

    let err = aios::config::parse_str(
        "[actions.chat]\ndescription = \"d\"\nurl = \"https://api.openai.com/v1/chat/completions\"\n",
        "/etc/aios/config.toml",
        &[],
    )
    .unwrap_err()
    .to_string();
    assert!(err.contains("key actions.chat.url: "), "{err}");
    assert!(err.contains("closed hosted model API (OpenAI)"), "{err}");

    let err = aios::config::parse_str(
        "[actions.erp]\ndescription = \"d\"\nurl = \"http://erp.lan/x\"\n[actions.erp.headers]\n\"X-A\" = \"a\\r\\nb\"\n",
        "/etc/aios/config.toml",
        &[],
    )
    .unwrap_err()
    .to_string();
    assert!(
        err.contains("line 5, key actions.erp.headers.X-A: the value holds a line break"),
        "{err}"
    );

    let err = aios::config::parse_str(
        "[actions.erp]\ndescription = \"d\"\nurl = \"http://erp.lan/x\"\nauth = { scheme = \"token\", secret = \"abc:def\" }\n",
        "/etc/aios/config.toml",
        &[],
    )
    .unwrap_err()
    .to_string();
    assert!(err.contains("referenced as `env:VAR_NAME`"), "{err}");
    assert!(!err.contains("abc:def"), "{err}");

    // TOML's nan has no JSON form: refused before anything reads it, with an AIOS_*
    // variable set or not.
    for env in [vec![], vec![("AIOS_TUI_FPS".to_string(), "20".to_string())]] {
        let err = aios::config::parse_str(
            "[actions.erp]\ndescription = \"d\"\nurl = \"http://erp.lan/x\"\nbody = { qty = nan }\n",
            "/etc/aios/config.toml",
            &env,
        )
        .unwrap_err()
        .to_string();
        assert!(
            err.contains("key actions.erp.body: `qty` is nan or inf"),
            "{err}"
        );
    }
}

#[tokio::test]
async fn a_delete_without_a_body_is_sent_as_previewed() {
    let server = ScriptServer::start().await;
    server.reply(
        "DELETE",
        "/api/resource/ToDo/TD-0001",
        Reply::json(200, &json!({"message": "ok"})),
    );
    let delete = action(
        "erpnext-delete-todo",
        r#"
        description = "Delete one ToDo"
        method = "DELETE"
        url = "{base}/api/resource/ToDo/{name}"
        auth = { scheme = "token", secret = "env:ERPNEXT_API_TOKEN" }
        [args]
        type = "object"
        required = ["name"]
        properties = { name = { type = "string" } }
        "#,
        &server.url(),
    );
    let req = delete
        .prepare(
            &json!({"name": "TD-0001"}),
            &secrets(&[("ERPNEXT_API_TOKEN", "key1:secret1")]),
        )
        .unwrap();
    let preview = req.preview();
    assert_eq!(preview.body, None);
    let outcome = delete.execute(&http_client().unwrap(), req).await.unwrap();
    assert_eq!(outcome.status, 200);
    assert_sent_as_previewed(
        &preview,
        &server.url(),
        &server.requests()[0],
        &[("Authorization", "token key1:secret1")],
    );
}
