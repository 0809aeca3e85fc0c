//! The agent catalog: the spec's 30 agents, and config's overrides and additions.

use std::collections::{BTreeMap, HashSet};

use aios::agent::catalog::CatalogError;
use aios::agent::spec::is_valid_agent_id;
use aios::agent::{Catalog, Category};
use aios::config::{AgentOverride, Config};
use serde_json::json;

fn strings(list: &[&str]) -> Vec<String> {
    list.iter().map(|s| s.to_string()).collect()
}

#[test]
fn holds_the_spec_s_thirty_agents_in_six_categories() {
    let catalog = Catalog::builtin();
    assert_eq!(catalog.len(), 30);
    let counts: Vec<(Category, usize)> = catalog
        .grouped()
        .into_iter()
        .map(|(c, agents)| (c, agents.len()))
        .collect();
    assert_eq!(
        counts,
        vec![
            (Category::CoreSystem, 6),
            (Category::BusinessLogic, 5),
            (Category::MarketingGrowth, 5),
            (Category::SalesSupport, 5),
            (Category::KnowledgeContent, 5),
            (Category::DomainSpecific, 4),
        ]
    );
    assert_eq!(catalog.by_category(Category::Custom).count(), 0);
}

#[test]
fn catalog_order_is_category_order() {
    let catalog = Catalog::builtin();
    let categories: Vec<Category> = catalog.agents().iter().map(|a| a.category).collect();
    let mut sorted = categories.clone();
    sorted.sort();
    assert_eq!(categories, sorted);
    assert_eq!(catalog.agents()[0].id, "ops-agent");
    assert_eq!(catalog.agents()[29].id, "review-agent");
}

#[test]
fn ids_are_unique_kebab_case_and_named_as_the_spec() {
    let catalog = Catalog::builtin();
    let mut seen = HashSet::new();
    for a in catalog.agents() {
        assert!(is_valid_agent_id(&a.id), "{}", a.id);
        assert!(a.id.ends_with("-agent"), "{}", a.id);
        assert!(seen.insert(a.id.clone()), "duplicate id {}", a.id);
        assert!(a.name.ends_with("Agent"), "{}", a.name);
    }
    for (id, name) in [
        ("lead-router-agent", "LeadRouterAgent"),
        ("seo-agent", "SEOAgent"),
        ("sop-agent", "SOPAgent"),
        ("ops-agent", "OpsAgent"),
        ("sec-agent", "SecAgent"),
    ] {
        let agent = catalog.get(id).unwrap_or_else(|| panic!("{id} missing"));
        assert_eq!(agent.name, name);
    }
    assert!(catalog.get("no-such-agent").is_none());
}

/// The spec's three configured agents list their spec tools before the MCP tools.
fn spec_tool_count(id: &str) -> usize {
    match id {
        "strategy-agent" | "support-agent" | "content-agent" => 2,
        _ => 0,
    }
}

#[test]
fn every_agent_has_role_goals_traits_and_tools() {
    const MCP_TOOLS: [&str; 6] = [
        "remember",
        "recall",
        "set_goals",
        "update_context",
        "broadcast",
        "handoff",
    ];
    for a in Catalog::builtin().agents() {
        assert!(!a.role.is_empty(), "{} has no role", a.id);
        assert!(!a.goals.is_empty(), "{} has no goals", a.id);
        assert!(a.goals.len() <= 3, "{} has too many goals", a.id);
        assert!(!a.persona_traits.is_empty(), "{} has no traits", a.id);
        assert!(!a.tools.is_empty(), "{} has no tools", a.id);
        for g in &a.goals {
            let snake = !g.is_empty()
                && g.split('_').all(|p| {
                    !p.is_empty()
                        && p.bytes()
                            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit())
                });
            assert!(snake, "{}: goal `{g}` is not snake_case", a.id);
        }
        for t in ["remember", "recall", "update_context"] {
            assert!(a.tools.iter().any(|x| x == t), "{} lacks {t}", a.id);
        }
        let distinct: HashSet<&String> = a.tools.iter().collect();
        assert_eq!(distinct.len(), a.tools.len(), "{} lists a tool twice", a.id);
        let unknown: Vec<&String> = a
            .tools
            .iter()
            .skip(spec_tool_count(&a.id))
            .filter(|t| !MCP_TOOLS.contains(&t.as_str()))
            .collect();
        assert!(unknown.is_empty(), "{}: not MCP tools: {unknown:?}", a.id);
        assert!(a.runner.is_none());
    }
}

#[test]
fn the_spec_s_three_configured_agents_ship_as_written() {
    let catalog = Catalog::builtin();

    let strategy = catalog.get("strategy-agent").expect("strategy-agent");
    assert_eq!(strategy.name, "StrategyAgent");
    assert_eq!(strategy.category, Category::BusinessLogic);
    assert_eq!(
        strategy.goals,
        strings(&["optimize_conversion", "map_growth_trajectory"])
    );
    assert_eq!(
        strategy.tools[..2],
        strings(&["langchain", "vector_db"])[..]
    );
    assert_eq!(
        serde_json::to_value(&strategy.memory_schema).unwrap(),
        json!({
            "vector_store": "qdrant",
            "embedding_model": "sentence-transformers/all-MiniLM-L6-v2",
        })
    );

    let support = catalog.get("support-agent").expect("support-agent");
    assert_eq!(support.category, Category::SalesSupport);
    assert_eq!(support.goals, strings(&["resolve_faq", "triage_issues"]));
    assert_eq!(support.tools[..2], strings(&["fastapi", "redis"])[..]);
    assert_eq!(
        serde_json::to_value(&support.memory_schema).unwrap(),
        json!({"chat_history": "redis", "escalation_tags": ["billing", "technical"]})
    );

    let content = catalog.get("content-agent").expect("content-agent");
    assert_eq!(content.category, Category::KnowledgeContent);
    assert_eq!(
        content.goals,
        strings(&["generate_seo_pages", "maintain_brand_tone"])
    );
    assert_eq!(content.tools[..2], strings(&["flotiq", "chromadb"])[..]);
    assert_eq!(
        serde_json::to_value(&content.memory_schema).unwrap(),
        json!({"persona_profile": "chromadb", "content_trace": "redis"})
    );

    let with_schema: Vec<&str> = catalog
        .agents()
        .iter()
        .filter(|a| !a.memory_schema.is_empty())
        .map(|a| a.id.as_str())
        .collect();
    assert_eq!(
        with_schema,
        vec!["strategy-agent", "support-agent", "content-agent"]
    );
}

#[test]
fn a_config_override_replaces_only_the_fields_it_sets() {
    let mut config = Config::default();
    config.agents.insert(
        "support-agent".into(),
        AgentOverride {
            goals: Some(strings(&["resolve_tickets", "collect_feedback"])),
            ..Default::default()
        },
    );
    let builtin = Catalog::builtin();
    let catalog = Catalog::from_config(&config).expect("valid config");
    assert_eq!(catalog.len(), 30);

    let before = builtin.get("support-agent").expect("support-agent");
    let after = catalog.get("support-agent").expect("support-agent");
    assert_eq!(
        after.goals,
        strings(&["resolve_tickets", "collect_feedback"])
    );
    let mut expected = before.clone();
    expected.goals = after.goals.clone();
    assert_eq!(after, &expected);
    // The other agents are untouched, and order is kept.
    for (a, b) in builtin.agents().iter().zip(catalog.agents()) {
        assert_eq!(a.id, b.id);
        if a.id != "support-agent" {
            assert_eq!(a, b);
        }
    }
}

#[test]
fn config_can_override_every_field() {
    let mut config = Config::default();
    let mut schema = BTreeMap::new();
    schema.insert("vector_store".to_string(), json!("local"));
    config.agents.insert(
        "seo-agent".into(),
        AgentOverride {
            name: Some("SearchAgent".into()),
            category: Some("knowledge-content".into()),
            role: Some("Search ranking".into()),
            goals: Some(strings(&["rank_first"])),
            persona_traits: Some(strings(&["bold"])),
            tools: Some(strings(&["recall"])),
            model: Some("mistral".into()),
            runner: Some(aios::config::RunnerKind::Sim),
            node: Some("edge-1".into()),
            memory_schema: Some(schema.clone()),
            protocol_hooks: Some(vec![aios::context::ProtocolHook {
                name: "n".into(),
                on: "intent.done".into(),
                action: "intent:ops-agent Look at {reply}".into(),
            }]),
        },
    );
    let catalog = Catalog::from_config(&config).expect("valid config");
    let seo = catalog.get("seo-agent").expect("seo-agent");
    assert_eq!(seo.name, "SearchAgent");
    assert_eq!(seo.category, Category::KnowledgeContent);
    assert_eq!(seo.role, "Search ranking");
    assert_eq!(seo.protocol_hooks.len(), 1, "config hooks reach the spec");
    assert_eq!(seo.goals, strings(&["rank_first"]));
    assert_eq!(seo.persona_traits, strings(&["bold"]));
    assert_eq!(seo.tools, strings(&["recall"]));
    assert_eq!(seo.model, "mistral");
    assert_eq!(seo.runner, Some(aios::config::RunnerKind::Sim));
    assert_eq!(seo.memory_schema, schema);
    assert_eq!(seo.node.as_deref(), Some("edge-1"));
    assert_eq!(catalog.by_category(Category::KnowledgeContent).count(), 6);
    assert_eq!(catalog.by_category(Category::MarketingGrowth).count(), 4);
}

#[test]
fn config_adds_a_new_agent_as_custom() {
    let mut config = Config::default();
    config.agents.insert(
        "pricing-lab-agent".into(),
        AgentOverride {
            role: Some("Runs pricing experiments".into()),
            goals: Some(strings(&["test_price_points"])),
            ..Default::default()
        },
    );
    let catalog = Catalog::from_config(&config).expect("valid config");
    assert_eq!(catalog.len(), 31);
    let added = catalog.get("pricing-lab-agent").expect("added agent");
    assert_eq!(added.category, Category::Custom);
    assert_eq!(added.name, "PricingLabAgent");
    assert_eq!(added.role, "Runs pricing experiments");
    assert_eq!(added.goals, strings(&["test_price_points"]));
    assert_eq!(
        catalog.agents().last().map(|a| a.id.as_str()),
        Some("pricing-lab-agent")
    );
    let groups = catalog.grouped();
    assert_eq!(
        groups.last().map(|(c, a)| (*c, a.len())),
        Some((Category::Custom, 1))
    );
}

#[test]
fn config_with_a_bad_id_or_category_is_an_error() {
    for bad in ["Support_Agent", "support agent", "", "-agent", "agent-"] {
        let mut config = Config::default();
        config.agents.insert(bad.into(), AgentOverride::default());
        let err = Catalog::from_config(&config).expect_err(bad);
        assert_eq!(err, CatalogError::BadId(bad.into()));
        let err = err.to_string();
        assert!(err.contains("kebab-case"), "{bad}: {err}");
    }

    let mut config = Config::default();
    config.agents.insert(
        "support-agent".into(),
        AgentOverride {
            category: Some("finance".into()),
            ..Default::default()
        },
    );
    let err = Catalog::from_config(&config).expect_err("bad category");
    assert!(matches!(&err, CatalogError::Category { id, .. } if id == "support-agent"));
    let err = err.to_string();
    assert_eq!(
        err,
        "[agents.support-agent]: unknown category `finance`, expected one of core-system, \
         business-logic, marketing-growth, sales-support, knowledge-content, domain-specific, \
         custom"
    );
    assert!(err.contains("[agents.support-agent]"), "{err}");
    assert!(err.contains("finance"), "{err}");
}
