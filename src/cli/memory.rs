//! `aios memory search AGENT "query"`: what recall finds, with scores and the embedder that
//! made them; `aios memory reembed [AGENT]`: rebuild vector stores with the embedder
//! running now (src/memory/reembed.rs).

use std::process::ExitCode;

use clap::{Args, Subcommand};
use color_eyre::eyre::Result;

use crate::config::Config;
use crate::context::Caller;
use crate::control::{RecallAnswer, Request};
use crate::sanitize::one_line;

use super::session::Session;

#[derive(Debug, Args)]
pub struct MemoryArgs {
    #[command(subcommand)]
    pub cmd: MemoryCommand,
}

#[derive(Debug, Subcommand)]
pub enum MemoryCommand {
    /// Recall as the agent would: the items closest to QUERY, with their scores and the
    /// embedder that made them.
    Search {
        /// The agent id, e.g. support-agent.
        agent: String,
        /// What to look for.
        query: String,
        /// How many items (1..=100).
        #[arg(long, short, default_value_t = 5, value_parser = clap::value_parser!(u16).range(1..=100))]
        k: u16,
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
    /// Rebuild the vector stores (those AGENT uses, or all) from their stored text with the
    /// embedder configured now. Needs the data dir to itself: stop `aios serve` first.
    Reembed {
        /// Only the stores this agent's memory uses (other agents' items in them are
        /// rebuilt too: a store holds one embedder's vectors).
        agent: Option<String>,
    },
}

pub async fn run(config: Config, args: MemoryArgs) -> Result<ExitCode> {
    match args.cmd {
        MemoryCommand::Search {
            agent,
            query,
            k,
            json,
        } => search(config, agent, query, usize::from(k), json).await,
        MemoryCommand::Reembed { agent } => super::reembed::run(config, agent).await,
    }
}

async fn search(
    config: Config,
    agent_id: String,
    query: String,
    k: usize,
    json: bool,
) -> Result<ExitCode> {
    let caller = Caller::cli();
    let mut session = Session::open(&config, caller.clone()).await?;
    let answer = session
        .call(&caller, Request::Recall { agent_id, query, k }, |_| {})
        .await;
    session.close().await;
    let answer: RecallAnswer = serde_json::from_value(answer?)?;
    if json {
        outln!("{}", serde_json::to_string_pretty(&answer)?);
        return Ok(ExitCode::SUCCESS);
    }
    out!("{}", render(&answer));
    Ok(ExitCode::SUCCESS)
}

/// The text `aios memory search` prints.
pub fn render(a: &RecallAnswer) -> String {
    let semantic = if crate::memory::choose_embedder::is_semantic(&a.embedder) {
        ""
    } else {
        " — not semantic: scores count shared words"
    };
    let mut out = format!(
        "{} · {} hit{} for {:?} · embedder {}{} · memory {}\n",
        one_line(&a.agent_id),
        a.hits.len(),
        if a.hits.len() == 1 { "" } else { "s" },
        one_line(&a.query),
        one_line(&a.embedder),
        semantic,
        one_line(&a.memory)
    );
    for (i, hit) in a.hits.iter().enumerate() {
        out.push_str(&format!(
            "{:>3}. {:.3}  [{}] {}  ({})\n",
            i + 1,
            hit.score,
            one_line(&hit.item.kind),
            one_line(&hit.item.text),
            one_line(&hit.item.ts)
        ));
    }
    if a.hits.is_empty() {
        out.push_str("     (nothing remembered yet)\n");
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::memory::{MemoryItem, ScoredItem};

    fn answer(embedder: &str, hits: Vec<(f32, &str)>) -> RecallAnswer {
        RecallAnswer {
            agent_id: "support-agent".into(),
            query: "billed double".into(),
            embedder: embedder.into(),
            memory: "local".into(),
            hits: hits
                .into_iter()
                .map(|(score, text)| ScoredItem {
                    item: MemoryItem {
                        id: "x".into(),
                        agent_id: "support-agent".into(),
                        kind: "fact".into(),
                        text: text.into(),
                        ts: "2026-12-06T00:00:00Z".into(),
                        tags: Vec::new(),
                    },
                    score,
                })
                .collect(),
        }
    }

    #[test]
    fn hits_show_scores_and_the_embedder_and_hash_says_it_is_not_semantic() {
        let text = render(&answer(
            "minilm:all-MiniLM-L6-v2",
            vec![(0.7151, "charged twice\x1b[2J"), (0.2, "other")],
        ));
        assert!(
            text.starts_with(
                "support-agent · 2 hits for \"billed double\" · embedder minilm:all-MiniLM-L6-v2 · memory local"
            ),
            "{text}"
        );
        assert!(text.contains("  1. 0.715  [fact] charged twice"), "{text}");
        assert!(
            !text.contains('\x1b'),
            "escape sequences never reach the terminal"
        );
        let text = render(&answer("hash", vec![]));
        assert!(text.contains("not semantic"), "{text}");
        assert!(text.contains("nothing remembered yet"), "{text}");
    }
}
