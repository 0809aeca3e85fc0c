//! Which intent a [`Target`] means: an audit record's, an envelope's, a context
//! version's cause, an agent's latest, or an id (a unique prefix of one is enough).

use serde_json::Value;

use super::index::{Index, caused_by, envelope_of, text};
use super::{Target, WhyError, reach};
use crate::recorder::Kind;

pub(super) enum Resolved {
    Intent(String),
    Record(usize),
    Version(usize),
}

pub(super) fn resolve(ix: &Index<'_>, target: &Target) -> Result<Resolved, WhyError> {
    let missing = |what: String| WhyError::NotFound {
        what,
        reach: reach(ix.entries),
    };
    match target {
        Target::AuditSeq(seq) => {
            let i = ix
                .entries
                .iter()
                .rposition(|e| {
                    e.kind == Kind::Audit && e.body.get("seq").and_then(Value::as_u64) == Some(*seq)
                })
                .ok_or_else(|| missing(format!("audit record #{seq}")))?;
            Ok(match ix.entries[i].intent_id.clone() {
                Some(id) => Resolved::Intent(id),
                None => Resolved::Record(i),
            })
        }
        Target::Intent(id) => intent_named(ix, id).map(Resolved::Intent),
        Target::Envelope(id) => {
            let found = ix.entries.iter().enumerate().rev().find_map(|(i, e)| {
                let (_, env) = envelope_of(e)?;
                (text(env, "id") == Some(id)).then_some((i, env))
            });
            let Some((i, env)) = found else {
                return if ix.knows(id) {
                    Ok(Resolved::Intent(id.clone()))
                } else {
                    Err(missing(format!("bus envelope {id}")))
                };
            };
            if text(env, "kind") == Some("intent") {
                return Ok(Resolved::Intent(id.clone()));
            }
            if let Some(parent) = text(env, "parent_id").filter(|p| ix.knows(p)) {
                return Ok(Resolved::Intent(parent.to_string()));
            }
            let agent = text(env, "agent_id")
                .or_else(|| env.get("source").and_then(|s| text(s, "agent_id")))
                .unwrap_or("");
            handling(ix, agent, i).map(Resolved::Intent).ok_or_else(|| {
                missing(format!(
                    "an intent {agent} was handling when envelope {id} was heard"
                ))
            })
        }
        Target::ContextVersion { agent_id, version } => {
            let i = ix
                .entries
                .iter()
                .rposition(|e| {
                    e.kind == Kind::ContextVersion
                        && text(&e.body, "agent_id") == Some(agent_id)
                        && e.body.get("version").and_then(Value::as_u64) == Some(*version)
                })
                .ok_or_else(|| missing(format!("context v{version} of {agent_id}")))?;
            Ok(match caused_by(&ix.entries[i]) {
                Some(id) if ix.knows(id) => Resolved::Intent(id.to_string()),
                _ => Resolved::Version(i),
            })
        }
        Target::Agent(agent) => ix
            .order
            .iter()
            .rev()
            .find(|id| ix.intents.get(*id).is_some_and(|i| &i.agent == agent))
            .cloned()
            .map(Resolved::Intent)
            .ok_or_else(|| missing(format!("an intent of {agent}"))),
    }
}

/// The intent `id` names: itself, or the one intent it is a prefix of.
pub(super) fn intent_named(ix: &Index<'_>, id: &str) -> Result<String, WhyError> {
    if ix.knows(id) {
        return Ok(id.to_string());
    }
    let mut matches = if id.is_empty() {
        Vec::new()
    } else {
        ix.matching(id)
    };
    match matches.len() {
        1 => Ok(matches.remove(0)),
        0 => Err(WhyError::NotFound {
            what: format!("intent {id}"),
            reach: reach(ix.entries),
        }),
        _ => Err(WhyError::Ambiguous {
            prefix: id.to_string(),
            matches,
        }),
    }
}

/// The intent `agent` was working on at entry `pos`: one whose entries span it, else the
/// latest begun before it.
fn handling(ix: &Index<'_>, agent: &str, pos: usize) -> Option<String> {
    let mut latest = None;
    for id in &ix.order {
        if ix.intents.get(id).is_none_or(|i| i.agent != agent) {
            continue;
        }
        let Some((from, to)) = ix.span(id) else {
            continue;
        };
        if from <= pos && pos <= to {
            return Some(id.clone());
        }
        if from <= pos {
            latest = Some(id.clone());
        }
    }
    latest
}
