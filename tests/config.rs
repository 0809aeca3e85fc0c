//! The configuration contract: lookup order, `AIOS_*` overrides, errors that name the key and
//! where it came from, and the open-models-only policy. Hermetic: every test passes its own
//! environment and never changes the working directory.

use std::path::{Path, PathBuf};

use aios::config::{
    BusBackend, Config, ConfigError, ConfigSource, DEFAULT_CONFIG_TOML, LoadOptions, Origin,
    RunnerKind, load, parse_str,
};

fn env(vars: &[(&str, &str)]) -> Vec<(String, String)> {
    vars.iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

fn parse(text: &str, vars: &[(&str, &str)]) -> Result<Config, ConfigError> {
    parse_str(text, "/etc/aios/config.toml", &env(vars))
}

fn parse_err(text: &str, vars: &[(&str, &str)]) -> String {
    match parse(text, vars) {
        Ok(config) => panic!("expected an error, got {config:?}"),
        Err(e) => e.to_string(),
    }
}

fn write(dir: &Path, name: &str, text: &str) -> PathBuf {
    let path = dir.join(name);
    std::fs::write(&path, text).unwrap();
    path
}

fn load_with(
    config_path: Option<&Path>,
    data_dir: Option<&Path>,
    vars: &[(&str, &str)],
) -> Result<(Config, ConfigSource), ConfigError> {
    load(&LoadOptions {
        config_path: config_path.map(Path::to_path_buf),
        data_dir: data_dir.map(Path::to_path_buf),
        env: Some(env(vars)),
    })
}

#[test]
fn the_documented_default_is_the_code_default() {
    let parsed = parse_str(DEFAULT_CONFIG_TOML, "config.toml", &[]).unwrap();
    assert_eq!(parsed, Config::default());
}

#[test]
fn a_partial_file_keeps_the_other_defaults() {
    let config = parse("[bus]\nbackend = \"redis\"\n", &[]).unwrap();
    assert_eq!(config.bus.backend, BusBackend::Redis);
    assert_eq!(config.bus.url, Config::default().bus.url);
    assert_eq!(config.tui, Config::default().tui);
}

#[test]
fn an_unknown_key_names_file_line_key_and_the_known_keys() {
    let err = parse_err("[tui]\nfps = 30\nfsp = 60\n", &[]);
    assert!(err.contains("/etc/aios/config.toml line 3"), "{err}");
    assert!(err.contains("key tui.fsp"), "{err}");
    assert!(err.contains("unknown field `fsp`"), "{err}");
    assert!(
        err.contains("`fps`") && err.contains("`max_lines`"),
        "{err}"
    );
}

#[test]
fn an_unknown_section_is_an_error() {
    let err = parse_err("\n[bsu]\nbackend = \"redis\"\n", &[]);
    assert!(err.contains("/etc/aios/config.toml line 2"), "{err}");
    assert!(err.contains("key bsu"), "{err}");
    assert!(err.contains("`bus`"), "{err}");
}

#[test]
fn a_bad_enum_value_names_file_line_key_and_the_variants() {
    let text = "# comment\n\n[runtime]\nnode = \"a\"\n\n[bus]\nbackend = \"redix\"\n";
    let err = parse_err(text, &[]);
    assert_eq!(
        err,
        "config error in /etc/aios/config.toml line 7, key bus.backend: unknown variant \
         `redix`, expected one of `auto`, `redis`, `memory`"
    );
}

#[test]
fn a_wrong_type_names_file_line_and_key() {
    let err = parse_err("[tui]\ntheme = \"default\"\nfps = \"fast\"\n", &[]);
    assert!(err.contains("/etc/aios/config.toml line 3"), "{err}");
    assert!(err.contains("key tui.fps"), "{err}");
    assert!(err.contains("integer"), "{err}");

    let err = parse_err("[mcp]\ntokens = \"abc\"\n", &[]);
    assert!(err.contains("line 2, key mcp.tokens"), "{err}");
}

#[test]
fn a_nested_and_an_agent_key_are_named_in_full() {
    let err = parse_err("[llm.ollama]\nurl = 5\n", &[]);
    assert!(err.contains("line 2, key llm.ollama.url"), "{err}");

    let err = parse_err("[agents.support-agent]\nrunner = \"gpt\"\n", &[]);
    assert!(
        err.contains("line 2, key agents.support-agent.runner"),
        "{err}"
    );
    assert!(err.contains("`ollama`"), "{err}");
}

#[test]
fn a_syntax_error_names_file_and_line() {
    let err = parse_err("[bus]\nurl = \"redis://x\n", &[]);
    assert!(err.contains("/etc/aios/config.toml line 2"), "{err}");
    assert!(!err.contains('\n'), "one line: {err}");
}

#[test]
fn out_of_range_values_name_the_key_line_and_the_range() {
    let err = parse_err("[tui]\n\nfps = 0\n", &[]);
    assert_eq!(
        err,
        "config error in /etc/aios/config.toml line 3, key tui.fps: must be between 1 and 240, \
         got 0"
    );
    for (text, key) in [
        ("[tui]\nmax_lines = 99", "tui.max_lines"),
        ("[audit]\nrotate_mb = 0", "audit.rotate_mb"),
        ("[audit]\nflush_ms = 10001", "audit.flush_ms"),
        ("[memory]\ndims = 0", "memory.dims"),
        (
            "[runtime]\ncontext_versions = 1",
            "runtime.context_versions",
        ),
        ("[runtime]\nqueue_depth = 0", "runtime.queue_depth"),
        ("[bus]\nurl = \"http://127.0.0.1:6379\"", "bus.url"),
        ("[memory]\nurl = \"127.0.0.1:6334\"", "memory.url"),
        ("[llm.ollama]\nurl = \"ollama\"", "llm.ollama.url"),
        ("[llm.openai]\nurl = \"ftp://x/v1\"", "llm.openai.url"),
        ("[mcp]\nhttp_bind = \"localhost\"", "mcp.http_bind"),
        ("[metrics]\nbind = \"9464\"", "metrics.bind"),
        ("[audit]\nredact = [\"ok\", \"(unclosed\"]", "audit.redact"),
        ("[tui]\ntheme = \"\"", "tui.theme"),
        ("\n[agents.Support_Agent]", "agents.Support_Agent"),
        (
            "[agents.x-agent]\ncategory = \"sales\"",
            "agents.x-agent.category",
        ),
    ] {
        let err = parse_err(text, &[]);
        assert!(
            err.contains(&format!("/etc/aios/config.toml line 2, key {key}: ")),
            "{key}: {err}"
        );
        assert!(!err.contains('\n'), "one line: {err}");
    }
}

#[test]
fn empty_binds_turn_servers_off() {
    let config = parse(
        "[mcp]\nhttp_bind = \"\"\n[metrics]\nbind = \"127.0.0.1:9464\"\n",
        &[],
    )
    .unwrap();
    assert_eq!(config.mcp.http_bind, "");
    assert_eq!(config.metrics.bind, "127.0.0.1:9464");
}

#[test]
fn an_env_override_wins_over_the_file() {
    let text = "[bus]\nbackend = \"memory\"\n[tui]\nfps = 20\n[llm.ollama]\nurl = \"http://a:1\"\n";
    let config = parse(
        text,
        &[
            ("AIOS_BUS_BACKEND", "redis"),
            ("AIOS_TUI_FPS", "60"),
            ("AIOS_LLM_OLLAMA_URL", "http://gpu-box:11434"),
            ("AIOS_LLM_SIM_TOKENS_PER_SECOND", "0"),
            ("AIOS_RUNTIME_DATA_DIR", "/srv/aios"),
            ("AIOS_LLM_RUNNER", "openai"),
        ],
    )
    .unwrap();
    assert_eq!(config.bus.backend, BusBackend::Redis);
    assert_eq!(config.tui.fps, 60);
    assert_eq!(config.llm.ollama.url, "http://gpu-box:11434");
    assert_eq!(config.llm.sim.tokens_per_second, 0);
    assert_eq!(config.runtime.data_dir, PathBuf::from("/srv/aios"));
    assert_eq!(config.llm.runner, RunnerKind::Openai);
}

#[test]
fn a_list_variable_splits_on_commas() {
    let config = parse("", &[("AIOS_MCP_TOKENS", "tok1, tok2,tok3")]).unwrap();
    assert_eq!(config.mcp.tokens, ["tok1", "tok2", "tok3"]);

    let config = parse("", &[("AIOS_MCP_ALLOWED_ORIGINS", "")]).unwrap();
    assert!(config.mcp.allowed_origins.is_empty());

    // A TOML array when an item holds a comma.
    let config = parse("", &[("AIOS_AUDIT_REDACT", r#"["x{2,}", "y"]"#)]).unwrap();
    assert_eq!(config.audit.redact, ["x{2,}", "y"]);
}

#[test]
fn a_bad_env_value_names_the_variable_and_what_is_allowed() {
    let err = parse_err("", &[("AIOS_TUI_FPS", "fast")]);
    assert_eq!(
        err,
        "config error in AIOS_TUI_FPS=fast, key tui.fps: expected an integer"
    );

    let err = parse_err("", &[("AIOS_BUS_BACKEND", "redix")]);
    assert!(err.contains("AIOS_BUS_BACKEND=redix"), "{err}");
    assert!(err.contains("`auto`, `redis`, `memory`"), "{err}");

    let err = parse_err("", &[("AIOS_TUI_FPS", "-1")]);
    assert!(err.contains("AIOS_TUI_FPS=-1"), "{err}");

    // Validation of a value from the environment names the variable, not the file.
    let err = parse_err("[tui]\nfps = 30\n", &[("AIOS_TUI_FPS", "500")]);
    assert_eq!(
        err,
        "config error in AIOS_TUI_FPS=500, key tui.fps: must be between 1 and 240, got 500"
    );
}

#[test]
fn an_unknown_key_in_a_known_section_names_the_variable_and_the_keys() {
    let err = parse_err("", &[("AIOS_TUI_FSP", "60")]);
    assert!(err.contains("AIOS_TUI_FSP=60"), "{err}");
    assert!(err.contains("[tui]"), "{err}");
    assert!(err.contains("fps (AIOS_TUI_FPS)"), "{err}");
    assert!(err.contains("max_lines (AIOS_TUI_MAX_LINES)"), "{err}");

    let err = parse_err("", &[("AIOS_LLM_OLLAMA", "x")]);
    assert!(err.contains("ollama.url (AIOS_LLM_OLLAMA_URL)"), "{err}");
}

#[test]
fn variables_that_are_not_config_keys_are_ignored() {
    let config = parse(
        "",
        &[
            ("AIOS_CONFIG", "/nonexistent.toml"),
            ("AIOS_LOG", "debug"),
            ("AIOS_TEST_REDIS", "1"),
            ("AIOSX_TUI_FPS", "0"),
            ("PATH", "/bin"),
        ],
    )
    .unwrap();
    assert_eq!(config, Config::default());
}

#[test]
fn an_agent_from_the_file_is_overridden_by_its_variable() {
    let text = "[agents.support-agent]\nmodel = \"mistral\"\ngoals = [\"help\"]\n";
    let config = parse(text, &[]).unwrap();
    let agent = &config.agents["support-agent"];
    assert_eq!(agent.model.as_deref(), Some("mistral"));
    assert_eq!(agent.goals.as_deref(), Some(&["help".to_string()][..]));

    let config = parse(
        text,
        &[
            ("AIOS_AGENTS_SUPPORT_AGENT_MODEL", "qwen2.5"),
            (
                "AIOS_AGENTS_SUPPORT_AGENT_PERSONA_TRAITS",
                "patient,precise",
            ),
            ("AIOS_AGENTS_LEAD_ROUTER_AGENT_RUNNER", "sim"),
        ],
    )
    .unwrap();
    let agent = &config.agents["support-agent"];
    assert_eq!(agent.model.as_deref(), Some("qwen2.5"));
    assert_eq!(agent.goals.as_deref(), Some(&["help".to_string()][..]));
    assert_eq!(
        agent.persona_traits.as_deref(),
        Some(&["patient".to_string(), "precise".to_string()][..])
    );
    assert_eq!(
        config.agents["lead-router-agent"].runner,
        Some(RunnerKind::Sim)
    );
}

#[test]
fn bad_agent_variables_are_named() {
    let err = parse_err("", &[("AIOS_AGENTS_SUPPORT_AGENT_COLOUR", "red")]);
    assert!(
        err.contains("AIOS_AGENTS_SUPPORT_AGENT_COLOUR=red"),
        "{err}"
    );
    assert!(err.contains("MODEL"), "{err}");

    let err = parse_err("", &[("AIOS_AGENTS_SUPPORT_AGENT_CATEGORY", "sales")]);
    assert!(
        err.starts_with("config error in AIOS_AGENTS_SUPPORT_AGENT_CATEGORY=sales, key agents.support-agent.category: "),
        "{err}"
    );
}

#[test]
fn a_closed_api_in_the_file_is_refused_with_the_reason() {
    let text = "[llm.openai]\nurl = \"https://api.openai.com/v1\"\n";
    let err = parse_err(text, &[]);
    assert_eq!(
        err,
        "config error in /etc/aios/config.toml line 2: llm.openai.url = https://api.openai.com/v1 \
         is a closed hosted API (OpenAI). aios runs open models only (the spec's execution \
         policy: \"no usage of closed APIs\"); point it at a local Ollama, vLLM, LM Studio or \
         llama.cpp server."
    );
    let err = parse_err("[memory]\nurl = \"https://API.Cohere.com:443\"\n", &[]);
    assert!(
        err.contains("memory.url") && err.contains("(Cohere)"),
        "{err}"
    );
    match parse(text, &[]) {
        Err(ConfigError::ClosedApi { origin, violation }) => {
            assert_eq!(violation.key, "llm.openai.url");
            assert_eq!(
                origin,
                Origin::File {
                    name: "/etc/aios/config.toml".into(),
                    line: Some(2)
                }
            );
        }
        other => panic!("expected a policy refusal, got {other:?}"),
    }
}

#[test]
fn a_closed_api_from_the_environment_is_refused() {
    let err = parse_err("", &[("AIOS_LLM_OLLAMA_URL", "https://api.anthropic.com")]);
    assert!(
        err.starts_with(
            "config error in AIOS_LLM_OLLAMA_URL=https://api.anthropic.com: llm.ollama.url = \
             https://api.anthropic.com is a closed hosted API (Anthropic)."
        ),
        "{err}"
    );
    let err = parse_err(
        "",
        &[(
            "AIOS_LLM_OPENAI_URL",
            "https://myco.openai.azure.com/openai",
        )],
    );
    assert!(err.contains("closed hosted API (Azure OpenAI)"), "{err}");
}

#[test]
fn local_and_self_hosted_servers_pass() {
    let config = parse(
        "[llm.openai]\nurl = \"http://localhost:8000/v1\"\n",
        &[
            ("AIOS_LLM_OLLAMA_URL", "http://gpu-box.lan:11434"),
            ("AIOS_MEMORY_URL", "https://qdrant.internal:6334"),
        ],
    )
    .unwrap();
    assert_eq!(config.llm.openai.url, "http://localhost:8000/v1");
    parse("", &[("AIOS_LLM_OPENAI_URL", "http://10.0.0.7:8000/v1")]).unwrap();
    parse("", &[("AIOS_LLM_OPENAI_URL", "http://127.0.0.1:1234/v1")]).unwrap();
}

#[test]
fn config_flag_wins_over_aios_config_which_wins_over_the_working_dir() {
    let dir = tempfile::tempdir().unwrap();
    let flag = write(dir.path(), "flag.toml", "[tui]\nfps = 11\n");
    let from_env = write(dir.path(), "env.toml", "[tui]\nfps = 22\n");
    let aios_config = from_env.display().to_string();

    let (config, source) = load_with(Some(&flag), None, &[("AIOS_CONFIG", &aios_config)]).unwrap();
    assert_eq!(source, ConfigSource::File(flag.clone()));
    assert_eq!(config.tui.fps, 11);

    let (config, source) = load_with(None, None, &[("AIOS_CONFIG", &aios_config)]).unwrap();
    assert_eq!(source, ConfigSource::File(from_env));
    assert_eq!(config.tui.fps, 22);

    // Tests run in the package root, whose config.toml is the documented default.
    let (config, source) = load_with(None, None, &[]).unwrap();
    let cwd_file = std::env::current_dir().unwrap().join("config.toml");
    assert_eq!(source, ConfigSource::File(cwd_file));
    assert_eq!(config, Config::default());
}

#[test]
fn a_named_config_file_must_exist() {
    let dir = tempfile::tempdir().unwrap();
    let missing = dir.path().join("missing.toml");
    let err = load_with(Some(&missing), None, &[])
        .unwrap_err()
        .to_string();
    assert_eq!(
        err,
        format!(
            "config error: --config {} does not exist",
            missing.display()
        )
    );
    let err = load_with(
        None,
        None,
        &[("AIOS_CONFIG", &missing.display().to_string())],
    )
    .unwrap_err()
    .to_string();
    assert_eq!(
        err,
        format!(
            "config error: AIOS_CONFIG={} does not exist",
            missing.display()
        )
    );
}

#[test]
fn load_reports_errors_with_the_real_path() {
    let dir = tempfile::tempdir().unwrap();
    let path = write(dir.path(), "aios.toml", "[bus]\nbackend = \"redix\"\n");
    let err = load_with(Some(&path), None, &[]).unwrap_err().to_string();
    assert!(
        err.starts_with(&format!(
            "config error in {} line 2, key bus.backend: ",
            path.display()
        )),
        "{err}"
    );
}

#[test]
fn data_dir_flag_wins_over_file_and_environment() {
    let dir = tempfile::tempdir().unwrap();
    let path = write(
        dir.path(),
        "aios.toml",
        "[runtime]\ndata_dir = \"/from/file\"\n",
    );
    let flag_dir = dir.path().join("data");

    let (config, _) = load_with(Some(&path), None, &[]).unwrap();
    assert_eq!(config.runtime.data_dir, PathBuf::from("/from/file"));

    let vars = [("AIOS_RUNTIME_DATA_DIR", "/from/env")];
    let (config, _) = load_with(Some(&path), None, &vars).unwrap();
    assert_eq!(config.runtime.data_dir, PathBuf::from("/from/env"));

    let (config, _) = load_with(Some(&path), Some(&flag_dir), &vars).unwrap();
    assert_eq!(config.runtime.data_dir, flag_dir);
    assert_eq!(config.data_dir(), flag_dir);
    assert_eq!(config.audit_dir(), flag_dir.join("audit"));
}

/// Zero (and absurd values) for the bus's timings and sizes were accepted: a zero
/// `claim_idle_ms` re-claims every entry at once, a zero `max_deliveries` dead-letters
/// every intent, a zero `max_message_bytes` refuses every message.
#[test]
fn bus_limits_refuse_zero_with_the_allowed_range() {
    for (key, range) in [
        ("claim_idle_ms", "between 100 and 86400000"),
        ("max_deliveries", "between 1 and 1000"),
        ("stream_max_len", "between 100 and 1000000000"),
        ("max_message_bytes", "between 1024 and 536870912"),
        ("heartbeat_ms", "between 100 and 600000"),
    ] {
        let err = parse_err(&format!("[bus]\n{key} = 0\n"), &[]);
        assert_eq!(
            err,
            format!(
                "config error in /etc/aios/config.toml line 2, key bus.{key}: must be {range}, \
                 got 0"
            )
        );
        let var = format!("AIOS_BUS_{}", key.to_uppercase());
        let err = parse_err("", &[(&var, "0")]);
        assert!(
            err.contains(&format!("{var}=0, key bus.{key}: must be {range}")),
            "{err}"
        );
    }
    // The documented defaults are inside the ranges.
    assert!(parse("", &[]).is_ok());
}

/// `--config /dev/zero` read forever; a config file is capped and the error says so.
#[test]
fn an_oversized_config_file_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let big = dir.path().join("big.toml");
    let line = "# padding padding padding padding padding padding padding padding\n";
    std::fs::write(&big, line.repeat(2 * 1024 * 1024 / line.len())).unwrap();
    for path in [big.as_path(), Path::new("/dev/zero")] {
        let err = load_with(Some(path), None, &[]).unwrap_err();
        assert!(matches!(err, ConfigError::TooLarge { .. }), "{err}");
        assert_eq!(
            err.to_string(),
            format!(
                "config error: {} is larger than 1024 KiB, the most a config file may hold; \
                 is it the right file?",
                path.display()
            )
        );
    }
}

/// Built-in redaction cannot be turned off: an empty `AIOS_AUDIT_REDACT` is an empty list
/// of extra patterns, and the config default adds none.
#[test]
fn redaction_patterns_only_add() {
    let config = parse("", &[("AIOS_AUDIT_REDACT", "")]).unwrap();
    assert!(config.audit.redact.is_empty());
    let redactor = aios::audit::Redactor::new(&config.audit.redact).unwrap();
    assert_eq!(
        redactor.redact_str("password=hunter2").as_deref(),
        Some("[REDACTED]")
    );
}

#[test]
fn hook_secrets_come_from_a_list_variable_and_an_empty_one_is_none() {
    let c = parse("", &[("AIOS_HOOKS_SECRET", "")]).unwrap();
    assert!(c.hooks.secret.is_empty(), "{:?}", c.hooks.secret);
    let c = parse("", &[("AIOS_HOOKS_SECRET", "old,new")]).unwrap();
    assert_eq!(c.hooks.secret, vec!["old".to_string(), "new".to_string()]);
    let c = parse(
        "[hooks]\nsecret = \"env:HOOK_KEY\"\ntimezone = \"UTC\"\n",
        &[],
    )
    .unwrap();
    assert_eq!(c.hooks.secret, vec!["env:HOOK_KEY".to_string()]);
    assert_eq!(c.hooks.timezone, aios::hooks::schedule::Zone::Utc);
    let e = parse_err("[hooks]\nmax_attempts = 0\n", &[]);
    assert!(e.contains("hooks.max_attempts"), "{e}");
    let e = parse_err("[hooks]\ntimezone = \"Mars\"\n", &[]);
    assert!(e.contains("hooks.timezone"), "{e}");
}

#[test]
fn memory_schema_backends_are_checked_naming_the_agent_and_key() {
    let err = parse_err(
        "[agents.strategy-agent]\nmemory_schema = { vector_store = \"pinecone\" }\n",
        &[],
    );
    assert!(
        err.contains("agents.strategy-agent.memory_schema.vector_store")
            && err.contains("pinecone"),
        "{err}"
    );
    assert!(err.contains("qdrant, weaviate, chromadb or local"), "{err}");
    let err = parse_err(
        "[agents.support-agent]\nmemory_schema = { chat_history = \"mongo\" }\n",
        &[],
    );
    assert!(
        err.contains("chat_history") && err.contains("redis or local"),
        "{err}"
    );
    let config = parse(
        "[agents.content-agent]\nmemory_schema = { persona_profile = \"weaviate\", \
         content_trace = \"local\", notes = \"kept as written\" }\n",
        &[],
    )
    .expect("valid");
    assert!(config.agents["content-agent"].memory_schema.is_some());
}

#[test]
fn memory_embedder_stores_and_urls_parse() {
    let config = parse(
        "[memory]\nbackend = \"chromadb\"\nembedder = \"minilm\"\n\
         embedding_model_dir = \"/opt/minilm\"\n[memory.chroma]\nurl = \"http://chroma:8000\"\n\
         [memory.weaviate]\nurl = \"http://weaviate:8080\"\n",
        &[],
    )
    .expect("valid");
    assert_eq!(config.memory.backend, aios::config::MemoryBackend::Chroma);
    assert_eq!(config.memory.embedder, aios::config::EmbedderKind::Minilm);
    assert_eq!(config.memory.chroma.url, "http://chroma:8000");
    assert_eq!(config.memory.weaviate.url, "http://weaviate:8080");
    let err = parse_err("[memory.weaviate]\nurl = \"ftp://x\"\n", &[]);
    assert!(err.contains("memory.weaviate.url"), "{err}");
    let config = parse("", &[("AIOS_MEMORY_CHROMA_URL", "http://10.0.0.5:8000")]).expect("env");
    assert_eq!(config.memory.chroma.url, "http://10.0.0.5:8000");
}

#[test]
fn a_vault_reference_that_does_not_parse_names_its_key() {
    let err = parse_err(
        "[mcp]\ntokens = [\"ok-token\", \"vault:secret/aios\"]\n",
        &[],
    );
    assert!(
        err.contains("line 2, key mcp.tokens: mcp.tokens[1]: `vault:secret/aios` names no key"),
        "{err}"
    );
    let err = parse_err("", &[("AIOS_BUS_URL", "vault:secret#url")]);
    assert!(
        err.contains("AIOS_BUS_URL") && err.contains("bus.url") && err.contains("no path"),
        "{err}"
    );
    let err = parse_err(
        "[actions.crm]\nmethod = \"GET\"\nurl = \"https://crm.example.com/x\"\n\
         auth = { scheme = \"bearer\", secret = \"vault:kv/crm\" }\n",
        &[],
    );
    assert!(
        err.contains("actions.crm") && err.contains("#<key>"),
        "{err}"
    );
    // A well-formed one is accepted as it is; it is read when a runtime starts.
    let ok = parse(
        "[hooks]\nsecret = \"vault:secret/aios/hooks#signing\"\n[vault]\naddr = \"http://127.0.0.1:8200\"\n",
        &[],
    )
    .unwrap();
    assert_eq!(ok.hooks.secret, vec!["vault:secret/aios/hooks#signing"]);
    let err = parse_err("[vault]\naddr = \"vault.internal:8200\"\n", &[]);
    assert!(
        err.contains("key vault.addr") && err.contains("not an http(s) URL"),
        "{err}"
    );
}
