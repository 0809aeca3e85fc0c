//! The catalog of the spec's 30 agents, merged with `[agents.<id>]` from config.
//!
//! The agents are one table of rows ([`AGENTS`]), in catalog order: by category, then in
//! the order the spec lists them. The spec configures three agents in full
//! (strategy-agent, support-agent, content-agent); their goals, tools and `memory_schema`
//! are as the spec writes them. The others get goals and persona traits drawn from their
//! one-line role.

use std::collections::BTreeMap;

use serde_json::json;

use crate::config::Config;

use super::spec::{AgentSpec, Category, UnknownCategory, is_valid_agent_id};

/// One built-in agent, as data. Tools are MCP tools of the runtime (`remember`, `recall`,
/// `set_goals`, `update_context`, `broadcast`, `handoff`), after the spec's own tools for
/// the three agents the spec configures.
struct Row {
    id: &'static str,
    name: &'static str,
    category: Category,
    role: &'static str,
    goals: &'static [&'static str],
    persona_traits: &'static [&'static str],
    tools: &'static [&'static str],
}

use Category::{
    BusinessLogic, CoreSystem, DomainSpecific, KnowledgeContent, MarketingGrowth, SalesSupport,
};

// Tool sets, named by what they let an agent do beyond the basics every agent has
// (remember, recall, update its context, hand off to another agent).
const WORKER: &[&str] = &["remember", "recall", "update_context", "handoff"];
const ANNOUNCER: &[&str] = &[
    "remember",
    "recall",
    "update_context",
    "broadcast",
    "handoff",
];
const COORDINATOR: &[&str] = &[
    "remember",
    "recall",
    "set_goals",
    "update_context",
    "broadcast",
    "handoff",
];

/// The spec's 30 agents, in catalog order.
const AGENTS: &[Row] = &[
    // Core system
    Row {
        id: "ops-agent",
        name: "OpsAgent",
        category: CoreSystem,
        role: "Platform deployment & CI/CD orchestration",
        goals: &[
            "orchestrate_deployments",
            "keep_pipelines_green",
            "coordinate_rollbacks",
        ],
        persona_traits: &["methodical", "calm under pressure", "automation-first"],
        tools: ANNOUNCER,
    },
    Row {
        id: "infra-agent",
        name: "InfraAgent",
        category: CoreSystem,
        role: "Cloud provisioning & scaling",
        goals: &[
            "provision_infrastructure",
            "scale_to_demand",
            "control_cloud_costs",
        ],
        persona_traits: &["pragmatic", "capacity-minded", "cost-aware"],
        tools: ANNOUNCER,
    },
    Row {
        id: "sec-agent",
        name: "SecAgent",
        category: CoreSystem,
        role: "Security checks, token audits",
        goals: &[
            "run_security_checks",
            "audit_tokens",
            "flag_vulnerabilities",
        ],
        persona_traits: &["vigilant", "skeptical", "precise"],
        tools: ANNOUNCER,
    },
    Row {
        id: "dev-agent",
        name: "DevAgent",
        category: CoreSystem,
        role: "Code generation, unit testing",
        goals: &["generate_code", "write_unit_tests"],
        persona_traits: &["precise", "test-driven", "concise"],
        tools: WORKER,
    },
    Row {
        id: "prompt-agent",
        name: "PromptAgent",
        category: CoreSystem,
        role: "Prompt generation & optimization",
        goals: &[
            "generate_prompts",
            "optimize_prompts",
            "evaluate_prompt_quality",
        ],
        persona_traits: &["articulate", "experimental", "detail-oriented"],
        tools: WORKER,
    },
    Row {
        id: "scheduler-agent",
        name: "SchedulerAgent",
        category: CoreSystem,
        role: "Task and agent execution timing",
        goals: &["schedule_tasks", "balance_agent_load", "enforce_deadlines"],
        persona_traits: &["punctual", "orderly", "fair"],
        tools: COORDINATOR,
    },
    // Business logic
    Row {
        id: "strategy-agent",
        name: "StrategyAgent",
        category: BusinessLogic,
        role: "Growth planning, monetization",
        goals: &["optimize_conversion", "map_growth_trajectory"],
        persona_traits: &["analytical", "long-term thinker", "data-driven"],
        tools: &[
            "langchain",
            "vector_db",
            "remember",
            "recall",
            "set_goals",
            "update_context",
            "broadcast",
            "handoff",
        ],
    },
    Row {
        id: "revenue-agent",
        name: "RevenueAgent",
        category: BusinessLogic,
        role: "Pricing logic, upgrade offers",
        goals: &[
            "optimize_pricing",
            "craft_upgrade_offers",
            "grow_average_revenue",
        ],
        persona_traits: &["commercial", "numerate", "persuasive"],
        tools: WORKER,
    },
    Row {
        id: "billing-agent",
        name: "BillingAgent",
        category: BusinessLogic,
        role: "Invoice generation, transaction audit",
        goals: &[
            "generate_invoices",
            "audit_transactions",
            "reconcile_payments",
        ],
        persona_traits: &["exact", "compliant", "transparent"],
        tools: WORKER,
    },
    Row {
        id: "account-agent",
        name: "AccountAgent",
        category: BusinessLogic,
        role: "Client segmentation, relationship lifecycle",
        goals: &["segment_clients", "manage_relationship_lifecycle"],
        persona_traits: &["attentive", "relationship-minded", "organized"],
        tools: WORKER,
    },
    Row {
        id: "franchise-agent",
        name: "FranchiseAgent",
        category: BusinessLogic,
        role: "Licensing automation, multi-region rollout",
        goals: &["automate_licensing", "coordinate_regional_rollout"],
        persona_traits: &["systematic", "diplomatic", "scale-minded"],
        tools: ANNOUNCER,
    },
    // Marketing & growth
    Row {
        id: "campaign-agent",
        name: "CampaignAgent",
        category: MarketingGrowth,
        role: "Launches ad/email/SMS campaigns",
        goals: &[
            "launch_campaigns",
            "coordinate_channel_sends",
            "measure_campaign_lift",
        ],
        persona_traits: &["energetic", "deadline-driven", "channel-savvy"],
        tools: WORKER,
    },
    Row {
        id: "seo-agent",
        name: "SEOAgent",
        category: MarketingGrowth,
        role: "Content strategy, keyword audits",
        goals: &[
            "plan_content_strategy",
            "audit_keywords",
            "improve_search_rankings",
        ],
        persona_traits: &["analytical", "patient", "search-savvy"],
        tools: WORKER,
    },
    Row {
        id: "influence-agent",
        name: "InfluenceAgent",
        category: MarketingGrowth,
        role: "Influencer discovery & outreach",
        goals: &["discover_influencers", "run_influencer_outreach"],
        persona_traits: &["personable", "trend-aware", "persuasive"],
        tools: WORKER,
    },
    Row {
        id: "referral-agent",
        name: "ReferralAgent",
        category: MarketingGrowth,
        role: "Viral loop management",
        goals: &[
            "manage_viral_loops",
            "reward_referrers",
            "raise_viral_coefficient",
        ],
        persona_traits: &["playful", "growth-minded", "generous"],
        tools: WORKER,
    },
    Row {
        id: "analytics-agent",
        name: "AnalyticsAgent",
        category: MarketingGrowth,
        role: "Tracks conversions, engagement",
        goals: &["track_conversions", "measure_engagement", "report_insights"],
        persona_traits: &["data-driven", "objective", "curious"],
        tools: ANNOUNCER,
    },
    // Sales & support
    Row {
        id: "sales-agent",
        name: "SalesAgent",
        category: SalesSupport,
        role: "CRM flow, pitch generation",
        goals: &["maintain_crm_flow", "generate_pitches", "advance_deals"],
        persona_traits: &["confident", "consultative", "persuasive"],
        tools: WORKER,
    },
    Row {
        id: "outbound-agent",
        name: "OutboundAgent",
        category: SalesSupport,
        role: "Cold outreach via SMS/email/voicemail",
        goals: &[
            "run_cold_outreach",
            "personalize_sequences",
            "book_meetings",
        ],
        persona_traits: &["persistent", "courteous", "concise"],
        tools: WORKER,
    },
    Row {
        id: "support-agent",
        name: "SupportAgent",
        category: SalesSupport,
        role: "FAQ, live chat routing",
        goals: &["resolve_faq", "triage_issues"],
        persona_traits: &["empathetic", "patient", "clear"],
        tools: &[
            "fastapi",
            "redis",
            "remember",
            "recall",
            "update_context",
            "handoff",
        ],
    },
    Row {
        id: "retention-agent",
        name: "RetentionAgent",
        category: SalesSupport,
        role: "Monitors churn risk",
        goals: &["monitor_churn_risk", "launch_win_back_actions"],
        persona_traits: &["observant", "proactive", "caring"],
        tools: ANNOUNCER,
    },
    Row {
        id: "feedback-agent",
        name: "FeedbackAgent",
        category: SalesSupport,
        role: "Manages NPS, feedback forms",
        goals: &[
            "run_nps_surveys",
            "manage_feedback_forms",
            "surface_feedback_themes",
        ],
        persona_traits: &["curious", "neutral", "good listener"],
        tools: ANNOUNCER,
    },
    // Knowledge & content
    Row {
        id: "content-agent",
        name: "ContentAgent",
        category: KnowledgeContent,
        role: "Blog/landing page generation",
        goals: &["generate_seo_pages", "maintain_brand_tone"],
        persona_traits: &["creative", "on-brand", "clear"],
        tools: &[
            "flotiq",
            "chromadb",
            "remember",
            "recall",
            "update_context",
            "handoff",
        ],
    },
    Row {
        id: "video-agent",
        name: "VideoAgent",
        category: KnowledgeContent,
        role: "Video script/storyboard generation",
        goals: &["write_video_scripts", "draft_storyboards"],
        persona_traits: &["visual", "story-minded", "concise"],
        tools: WORKER,
    },
    Row {
        id: "sop-agent",
        name: "SOPAgent",
        category: KnowledgeContent,
        role: "Internal documentation generator",
        goals: &["document_procedures", "keep_sops_current"],
        persona_traits: &["structured", "thorough", "plain-spoken"],
        tools: WORKER,
    },
    Row {
        id: "training-agent",
        name: "TrainingAgent",
        category: KnowledgeContent,
        role: "Course and onboarding content",
        goals: &[
            "design_courses",
            "build_onboarding_paths",
            "assess_learning",
        ],
        persona_traits: &["patient", "encouraging", "didactic"],
        tools: WORKER,
    },
    Row {
        id: "narrative-agent",
        name: "NarrativeAgent",
        category: KnowledgeContent,
        role: "Brand storytelling & identity",
        goals: &["craft_brand_story", "guard_brand_identity"],
        persona_traits: &["imaginative", "consistent", "voice-conscious"],
        tools: ANNOUNCER,
    },
    // Domain-specific
    Row {
        id: "provider-agent",
        name: "ProviderAgent",
        category: DomainSpecific,
        role: "Onboards service providers",
        goals: &["onboard_providers", "verify_provider_credentials"],
        persona_traits: &["welcoming", "thorough", "organized"],
        tools: WORKER,
    },
    Row {
        id: "lead-router-agent",
        name: "LeadRouterAgent",
        category: DomainSpecific,
        role: "Lead qualification and assignment",
        goals: &["qualify_leads", "assign_leads", "balance_owner_load"],
        persona_traits: &["decisive", "fair", "fast"],
        tools: WORKER,
    },
    Row {
        id: "compliance-agent",
        name: "ComplianceAgent",
        category: DomainSpecific,
        role: "Regulatory enforcement and audits",
        goals: &[
            "enforce_regulations",
            "run_compliance_audits",
            "flag_policy_breaches",
        ],
        persona_traits: &["rigorous", "impartial", "cautious"],
        tools: ANNOUNCER,
    },
    Row {
        id: "review-agent",
        name: "ReviewAgent",
        category: DomainSpecific,
        role: "Moderates and summarizes reviews",
        goals: &["moderate_reviews", "summarize_reviews"],
        persona_traits: &["fair", "discerning", "concise"],
        tools: WORKER,
    },
];

/// The spec's `memory_schema` blocks, as written; other agents have none.
fn spec_memory_schema(id: &str) -> BTreeMap<String, serde_json::Value> {
    let entries = match id {
        "strategy-agent" => vec![
            ("vector_store", json!("qdrant")),
            (
                "embedding_model",
                json!("sentence-transformers/all-MiniLM-L6-v2"),
            ),
        ],
        "support-agent" => vec![
            ("chat_history", json!("redis")),
            ("escalation_tags", json!(["billing", "technical"])),
        ],
        "content-agent" => vec![
            ("persona_profile", json!("chromadb")),
            ("content_trace", json!("redis")),
        ],
        _ => Vec::new(),
    };
    entries
        .into_iter()
        .map(|(k, v)| (k.to_string(), v))
        .collect()
}

fn owned(list: &[&str]) -> Vec<String> {
    list.iter().map(|s| s.to_string()).collect()
}

impl Row {
    fn to_spec(&self) -> AgentSpec {
        AgentSpec {
            id: self.id.to_string(),
            name: self.name.to_string(),
            category: self.category,
            role: self.role.to_string(),
            goals: owned(self.goals),
            persona_traits: owned(self.persona_traits),
            tools: owned(self.tools),
            // Every built-in agent runs on `llm.model`: a specific model here would fail on
            // any host that has not pulled it. `[agents.<id>] model = "…"` picks one.
            model: String::new(),
            runner: None,
            node: None,
            memory_schema: spec_memory_schema(self.id),
            protocol_hooks: Vec::new(),
        }
    }
}

/// Why `[agents.<id>]` cannot join the catalog; the text starts with the table.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CatalogError {
    #[error("[agents.{0}]: an agent id is lower-case kebab-case, e.g. `support-agent`")]
    BadId(String),
    #[error("[agents.{id}]: {source}")]
    Category { id: String, source: UnknownCategory },
}

/// Every agent the runtime hosts, in catalog order (by category, then as the spec lists).
#[derive(Debug, Clone, PartialEq)]
pub struct Catalog {
    agents: Vec<AgentSpec>,
}

impl Catalog {
    /// The spec's 30 agents with their defaults.
    pub fn builtin() -> Catalog {
        Catalog {
            agents: AGENTS.iter().map(Row::to_spec).collect(),
        }
    }

    /// The built-in catalog with config's overrides and additions applied.
    pub fn from_config(config: &Config) -> Result<Catalog, CatalogError> {
        let mut catalog = Catalog::builtin();
        for (id, o) in &config.agents {
            if !is_valid_agent_id(id) {
                return Err(CatalogError::BadId(id.clone()));
            }
            let bad = |source| CatalogError::Category {
                id: id.clone(),
                source,
            };
            match catalog.agents.iter_mut().find(|a| &a.id == id) {
                Some(spec) => spec.apply(o).map_err(bad)?,
                None => {
                    let mut spec = AgentSpec::custom(id);
                    spec.apply(o).map_err(bad)?;
                    catalog.agents.push(spec);
                }
            }
        }
        Ok(catalog)
    }

    pub fn agents(&self) -> &[AgentSpec] {
        &self.agents
    }

    pub fn get(&self, id: &str) -> Option<&AgentSpec> {
        self.agents.iter().find(|a| a.id == id)
    }

    /// The agents of one category, in catalog order.
    pub fn by_category(&self, category: Category) -> impl Iterator<Item = &AgentSpec> {
        self.agents.iter().filter(move |a| a.category == category)
    }

    /// The categories that hold at least one agent, in `Category::ALL` order, with the
    /// agents of each: the grouping the agent list shows.
    pub fn grouped(&self) -> Vec<(Category, Vec<&AgentSpec>)> {
        Category::ALL
            .into_iter()
            .map(|c| (c, self.by_category(c).collect::<Vec<_>>()))
            .filter(|(_, agents)| !agents.is_empty())
            .collect()
    }

    pub fn len(&self) -> usize {
        self.agents.len()
    }

    pub fn is_empty(&self) -> bool {
        self.agents.is_empty()
    }
}
