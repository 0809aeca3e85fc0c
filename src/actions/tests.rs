//! Compiling actions from config, preparing requests and masking their previews.

use std::collections::BTreeMap;

use serde_json::{Value, json};

use super::*;

fn config(toml_text: &str) -> ActionConfig {
    toml::from_str(toml_text).unwrap()
}

fn compile(toml_text: &str) -> Result<Action, ActionConfigError> {
    Action::from_config("act", &config(toml_text))
}

fn secrets(vars: &[(&str, &str)]) -> impl Fn(&str) -> Option<String> {
    let vars: BTreeMap<String, String> = vars
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    move |name| vars.get(name).cloned()
}

const ERPNEXT: &str = r#"
description = "Create a draft sales invoice in ERPNext"
method = "POST"
url = "https://erp.example.com/api/resource/Sales%20Invoice"
auth = { scheme = "token", secret = "env:ERPNEXT_TOKEN" }
body = { customer = "{customer}", items = [{ item_code = "{item_code}", qty = "{qty}" }] }
[args]
type = "object"
required = ["customer", "item_code", "qty"]
[args.properties]
customer = { type = "string", description = "Customer name" }
item_code = { type = "string" }
qty = { type = "integer" }
"#;

#[test]
fn an_erpnext_invoice_is_prepared_exactly_and_previewed_masked() {
    let action = compile(ERPNEXT).unwrap();
    let lookup = secrets(&[("ERPNEXT_TOKEN", "k3y1234:s3cr3t5678")]);
    let req = action
        .prepare(
            &json!({"customer": "ACME Corp", "item_code": "WIDGET-1", "qty": 3}),
            &lookup,
        )
        .unwrap();
    assert_eq!(req.method(), Method::Post);
    assert_eq!(
        req.url().as_str(),
        "https://erp.example.com/api/resource/Sales%20Invoice"
    );
    let body = br#"{"customer":"ACME Corp","items":[{"item_code":"WIDGET-1","qty":3}]}"#;
    assert_eq!(req.body(), Some(&body[..]));
    let sent: Vec<(String, String)> = req
        .headers()
        .iter()
        .map(|h| (h.name.clone(), h.value.clone()))
        .collect();
    assert_eq!(
        sent,
        [
            ("Accept", "application/json"),
            ("Content-Type", "application/json"),
            ("Authorization", "token k3y1234:s3cr3t5678"),
        ]
        .map(|(a, b)| (a.to_string(), b.to_string()))
    );

    let preview = req.preview();
    assert_eq!(
        preview,
        RequestPreview {
            method: "POST".into(),
            url: "https://erp.example.com/api/resource/Sales%20Invoice".into(),
            headers: [
                ("Host", "erp.example.com"),
                ("Accept", "application/json"),
                ("Content-Type", "application/json"),
                ("Authorization", "token ••••"),
                ("Content-Length", &body.len().to_string()),
            ]
            .map(|(a, b)| (a.to_string(), b.to_string()))
            .to_vec(),
            body: Some(String::from_utf8(body.to_vec()).unwrap()),
        }
    );
    assert_eq!(
        req.to_text(),
        format!(
            "POST https://erp.example.com/api/resource/Sales%20Invoice\n\
             Host: erp.example.com\n\
             Accept: application/json\n\
             Content-Type: application/json\n\
             Authorization: token ••••\n\
             Content-Length: {}\n\n{}",
            body.len(),
            String::from_utf8_lossy(body)
        )
    );
    for shown in [
        format!("{req:?}"),
        req.to_string(),
        serde_json::to_string(&preview).unwrap(),
    ] {
        assert!(!shown.contains("k3y1234"), "{shown}");
        assert!(!shown.contains("s3cr3t5678"), "{shown}");
    }
}

#[test]
fn every_auth_scheme_is_masked_keeping_its_word() {
    let action = compile(
        r#"
        description = "SuiteDash contacts"
        method = "GET"
        url = "http://127.0.0.1:9/secure-api/contacts"
        auth = [
          { scheme = "header:X-Public-ID", secret = "env:SD_PUBLIC_ID" },
          { scheme = "header:X-Secret-Key", secret = "env:SD_SECRET" },
          { scheme = "bearer", secret = "env:BEARER" },
        ]
        "#,
    )
    .unwrap();
    let lookup = secrets(&[
        ("SD_PUBLIC_ID", "pub-id-1111"),
        ("SD_SECRET", "sec-key-2222"),
        ("BEARER", "eyJhbGciOi.abc.def"),
    ]);
    let preview = action.prepare(&json!({}), &lookup).unwrap().preview();
    assert_eq!(
        preview.headers,
        [
            ("Host", "127.0.0.1:9"),
            ("Accept", "application/json"),
            ("X-Public-ID", "••••"),
            ("X-Secret-Key", "••••"),
            ("Authorization", "Bearer ••••"),
        ]
        .map(|(a, b)| (a.to_string(), b.to_string()))
    );
    assert_eq!(preview.body, None, "a GET has no body");
}

#[test]
fn a_secret_echoed_in_the_arguments_is_masked_too() {
    let action = compile(
        r#"
        description = "d"
        url = "http://h/notes?text={text}"
        auth = { scheme = "bearer", secret = "env:TOKEN" }
        headers = { X-Note = "{text}" }
        [args]
        type = "object"
        required = ["text"]
        properties = { text = { type = "string" } }
        "#,
    )
    .unwrap();
    let req = action
        .prepare(
            &json!({"text": "leak hunter2secret here"}),
            &secrets(&[("TOKEN", "hunter2secret")]),
        )
        .unwrap();
    let text = req.to_text();
    assert!(!text.contains("hunter2secret"), "{text}");
    assert!(text.contains("X-Note: leak •••• here"), "{text}");
    assert!(text.contains("?text=leak%20••••%20here"), "{text}");
    // What is sent is unchanged: masking is for the preview only.
    assert!(req.url().as_str().contains("hunter2secret"));
}

#[test]
fn secret_looking_text_is_redacted_in_the_preview() {
    let action = compile(
        r#"
        description = "d"
        url = "http://h/x"
        headers = { X-Api-Key = "literal-key-in-config" }
        "#,
    )
    .unwrap();
    let preview = action.prepare(&json!({}), &secrets(&[])).unwrap().preview();
    let header = preview
        .headers
        .iter()
        .find(|(n, _)| n == "X-Api-Key")
        .unwrap();
    assert_eq!(header.1, MASK);
    assert_eq!(preview.body.as_deref(), Some("{}"));
}

#[test]
fn missing_or_bad_secrets_name_the_variable_never_the_value() {
    let action = compile(ERPNEXT).unwrap();
    let args = json!({"customer": "a", "item_code": "b", "qty": 1});
    for (vars, expected) in [
        (
            vec![],
            "action act: the secret environment variable ERPNEXT_TOKEN is not set",
        ),
        (
            vec![("ERPNEXT_TOKEN", "no-colon-value")],
            "must hold the API key and secret as key:secret",
        ),
        (vec![("ERPNEXT_TOKEN", ":only-secret")], "key:secret"),
        (vec![("ERPNEXT_TOKEN", "")], "is empty"),
        (
            vec![("ERPNEXT_TOKEN", "key:sec\r\nX-Evil: 1")],
            "line break or another control character",
        ),
    ] {
        let err = action
            .prepare(&args, &secrets(&vars))
            .unwrap_err()
            .to_string();
        assert!(err.contains(expected), "{err}");
        for (_, value) in &vars {
            if !value.is_empty() {
                assert!(!err.contains(value), "{err}");
            }
        }
    }
}

#[test]
fn header_injection_through_an_argument_is_refused() {
    let action = compile(
        r#"
        description = "d"
        url = "http://h/x"
        headers = { X-Customer = "c-{customer}" }
        [args]
        type = "object"
        required = ["customer"]
        properties = { customer = { type = "string" } }
        "#,
    )
    .unwrap();
    for evil in ["a\r\nX-Admin: 1", "a\nb", "a\rb", "a\0b", "a\u{7f}"] {
        let err = action
            .prepare(&json!({ "customer": evil }), &secrets(&[]))
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("argument `customer` holds a line break"),
            "{evil:?}: {err}"
        );
    }
    let ok = action
        .prepare(&json!({"customer": "Zoë\tand co"}), &secrets(&[]))
        .unwrap();
    assert!(ok.to_text().contains("X-Customer: c-Zoë\tand co"));
    let huge = action
        .prepare(&json!({"customer": "x".repeat(100_000)}), &secrets(&[]))
        .unwrap_err()
        .to_string();
    assert!(huge.contains("longer than 8192 bytes"), "{huge}");
}

#[test]
fn arguments_are_checked_before_anything_is_rendered() {
    let action = compile(ERPNEXT).unwrap();
    for (args, expected) in [
        (json!(null), "must be a JSON object, got null"),
        (
            json!({"customer": "a", "item_code": "b"}),
            "missing required argument `qty`",
        ),
        (
            json!({"customer": "a", "item_code": "b", "qty": "3"}),
            "`qty` must be an integer, got a string",
        ),
        (
            json!({"customer": "a", "item_code": "b", "qty": 1, "discount": 50}),
            "unknown argument `discount`",
        ),
    ] {
        let err = action
            .prepare(&args, &secrets(&[]))
            .unwrap_err()
            .to_string();
        assert!(err.contains(expected), "{args}: {err}");
    }
}

#[test]
fn default_bodies_follow_the_method() {
    for (method, body) in [
        ("GET", None),
        ("DELETE", None),
        ("POST", Some(r#"{"n":1}"#)),
        ("PUT", Some(r#"{"n":1}"#)),
        ("PATCH", Some(r#"{"n":1}"#)),
    ] {
        let action = compile(&format!(
            "description = \"d\"\nmethod = \"{method}\"\nurl = \"http://h/x\"\n\
             [args]\ntype = \"object\"\nproperties = {{ n = {{ type = \"integer\" }} }}\n"
        ))
        .unwrap();
        let req = action.prepare(&json!({"n": 1}), &secrets(&[])).unwrap();
        assert_eq!(
            req.body().map(|b| std::str::from_utf8(b).unwrap()),
            body,
            "{method}"
        );
        let has_type = req
            .preview()
            .headers
            .iter()
            .any(|(n, _)| n == "Content-Type");
        assert_eq!(has_type, body.is_some(), "{method}");
    }
}

#[test]
fn parameters_are_the_schema_for_the_model() {
    let action = compile(ERPNEXT).unwrap();
    let params = action.parameters();
    assert_eq!(params["type"], "object");
    assert_eq!(params["required"], json!(["customer", "item_code", "qty"]));
    assert_eq!(
        params["properties"]["customer"]["description"],
        "Customer name"
    );
    assert_eq!(params["additionalProperties"], json!(false));
    assert_eq!(
        action.description(),
        "Create a draft sales invoice in ERPNext"
    );
    assert!(!action.is_idempotent());
}

#[test]
fn bad_actions_are_refused_naming_the_key() {
    let base = "description = \"d\"\nurl = \"http://h/x\"\n";
    for (extra, key, expected) in [
        ("", "description", "must say what the action does"),
        (
            "method = \"GET\"\nbody = { a = 1 }\n",
            "body",
            "a GET request carries no body",
        ),
        ("timeout_ms = 10\n", "timeout_ms", "between 100 and 600000"),
        ("retries = 11\n", "retries", "at most 10"),
        (
            "max_response_bytes = 1\n",
            "max_response_bytes",
            "between 256",
        ),
        (
            "headers = { Host = \"x\" }\n",
            "headers.Host",
            "written by the HTTP client",
        ),
        (
            "headers = { \"Bad Name\" = \"x\" }\n",
            "headers.Bad Name",
            "not a header name",
        ),
        (
            "headers = { X-A = \"a\\nb\" }\n",
            "headers.X-A",
            "line break",
        ),
        (
            "headers = { X-A = \"{nope}\" }\n",
            "headers.X-A",
            "must be a required argument",
        ),
        (
            "headers = { Authorization = \"x\" }\nauth = { scheme = \"bearer\", secret = \"env:T\" }\n",
            "headers.Authorization",
            "is set by auth",
        ),
        (
            "headers = { X-A = \"1\", x-a = \"2\" }\n",
            "headers.x-a",
            "set twice",
        ),
        (
            "auth = [{ scheme = \"bearer\", secret = \"env:A\" }, { scheme = \"token\", secret = \"env:B\" }]\n",
            "auth",
            "two entries set the header authorization",
        ),
        (
            "auth = { scheme = \"header:Content-Length\", secret = \"env:A\" }\n",
            "auth",
            "written by the HTTP client",
        ),
        (
            "body = { a = \"{nope}\" }\n",
            "body",
            "`{nope}`, which is not in args.properties",
        ),
        (
            "body = { a = \"x {n}\" }\n[args]\ntype = \"object\"\n\
             properties = { n = { type = \"string\" } }\n",
            "body",
            "splices `{n}` into text, so it must be a required argument",
        ),
        ("args = { type = \"array\" }\n", "args", "type = \"object\""),
    ] {
        let text = if key == "description" {
            "description = \" \"\nurl = \"http://h/x\"\n".to_string()
        } else {
            format!("{base}{extra}")
        };
        let err = compile(&text).unwrap_err();
        assert_eq!(err.key, key, "{extra}: {}", err.message);
        assert!(err.message.contains(expected), "{extra}: {}", err.message);
    }

    // A URL template arg must be required: the URL cannot be built without it.
    let err = compile(
        "description = \"d\"\nurl = \"http://h/{id}\"\n\
         [args]\ntype = \"object\"\nproperties = { id = { type = \"string\" } }\n",
    )
    .unwrap_err();
    assert_eq!(err.key, "url");
    assert!(
        err.message
            .contains("`{id}`, which must be a required argument")
    );

    let err = Action::from_config("bad name", &config(base)).unwrap_err();
    assert_eq!(err.key, "");
    assert!(err.message.contains("not an action name"));
}

#[test]
fn actions_compile_together_and_errors_name_the_full_key() {
    let mut map = BTreeMap::new();
    map.insert("erp".to_string(), config(ERPNEXT));
    let actions = Actions::from_config(&map).unwrap();
    assert_eq!(actions.names().collect::<Vec<_>>(), ["erp"]);
    assert_eq!(actions.get("erp").unwrap().name(), "erp");
    assert!(actions.get("other").is_none());
    assert_eq!(actions.len(), 1);

    map.insert(
        "openai".to_string(),
        config("description = \"d\"\nurl = \"https://api.openai.com/v1/chat/completions\"\n"),
    );
    let err = Actions::from_config(&map).unwrap_err();
    assert_eq!(
        (err.name.as_str(), err.error.key.as_str()),
        ("openai", "url")
    );
    let err = err.to_string();
    assert!(
        err.starts_with("actions.openai.url: `https://api.openai.com/v1/chat/completions` is a closed hosted model API (OpenAI)"),
        "{err}"
    );
}

#[test]
fn the_preview_shows_the_host_port_and_query_as_sent() {
    let action = compile(
        r#"
        description = "d"
        method = "GET"
        url = "http://[::1]:8080/search?q={q}&limit=5"
        [args]
        type = "object"
        required = ["q"]
        properties = { q = { type = "string" } }
        "#,
    )
    .unwrap();
    let preview = action
        .prepare(&json!({"q": "a b&c"}), &secrets(&[]))
        .unwrap()
        .preview();
    assert_eq!(preview.url, "http://[::1]:8080/search?q=a%20b%26c&limit=5");
    assert_eq!(preview.headers[0], ("Host".into(), "[::1]:8080".into()));
    let value: Value = serde_json::to_value(&preview).unwrap();
    assert_eq!(value["method"], "GET");
}
