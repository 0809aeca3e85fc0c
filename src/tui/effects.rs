//! Running the UI's `Effect`s against the runtime, off the draw path: each runs in its own
//! task on the owner's tracker and answers with an `Action` on a bounded channel.

use std::io::Write;
use std::path::PathBuf;

use tokio::sync::mpsc;
use tokio_util::task::TaskTracker;

use crate::agent::Runtime;
use crate::context::Caller;

use super::action::Action;
use super::app::Effect;

/// The audit `caller` of what the operator does here.
pub fn operator() -> Caller {
    Caller::tui()
}

/// Where the intent history lives.
pub fn history_path(data_dir: &std::path::Path) -> PathBuf {
    data_dir.join("tui_history")
}

/// The newest `keep` entries of the history file (one intent per line, `\n` escaped).
pub fn load_history(path: &std::path::Path, keep: usize) -> Vec<String> {
    let Ok(text) = std::fs::read_to_string(path) else {
        return Vec::new();
    };
    let lines: Vec<String> = text
        .lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| l.replace("\\n", "\n"))
        .collect();
    lines[lines.len().saturating_sub(keep)..].to_vec()
}

/// Append one intent, its secrets masked (the built-in patterns): the history is a store
/// like any other, and an operator who pastes a key into a prompt should not find it on
/// disk.
fn append_history(path: &std::path::Path, line: &str, keep: usize) -> std::io::Result<()> {
    if keep == 0 {
        return Ok(());
    }
    let line = crate::audit::builtin().redact(line);
    let mut f = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)?;
    writeln!(f, "{}", line.replace('\n', "\\n"))?;
    // Keep the file bounded: rewrite it when it is well past the limit.
    let all = load_history(path, usize::MAX);
    if all.len() > keep * 2 {
        let kept = &all[all.len() - keep..];
        let text: String = kept
            .iter()
            .map(|l| format!("{}\n", l.replace('\n', "\\n")))
            .collect();
        std::fs::write(path, text)?;
    }
    Ok(())
}

/// Run one effect in the background, on `tasks`: the owner's shutdown waits for it, so a
/// history save is not lost at quit.
pub fn spawn(
    tasks: &TaskTracker,
    runtime: &Runtime,
    effect: Effect,
    tx: mpsc::Sender<Action>,
    history: PathBuf,
    history_keep: usize,
) {
    let rt = runtime.clone();
    tasks.spawn(async move {
        let me = operator();
        let hub = rt.hub();
        let answer = match effect {
            Effect::Replay(_) => Some(Action::Notice(
                "that key moves a replay: open one with `aios replay`".into(),
            )),
            Effect::Why(of) => Some(why_live(&rt, of).await),
            Effect::Dispatch { agent_id, text } => {
                match rt.dispatch(&me, &agent_id, &text, None, None).await {
                    Ok(t) => Some(Action::Notice(format!(
                        "intent {} sent to {agent_id}",
                        &t.intent_id[..t.intent_id.len().min(13)]
                    ))),
                    Err(e) => Some(Action::Notice(format!("not sent: {e}"))),
                }
            }
            Effect::LoadAgent(id) => match hub.get_agent(&me, &id).await {
                Ok(s) => Some(Action::AgentLoaded(Box::new(s))),
                Err(e) => Some(Action::Notice(format!("{id}: {e}"))),
            },
            Effect::LoadDiff { agent_id, range } => match hub.list_versions(&me, &agent_id).await {
                Ok(versions) => {
                    let (from, to) = super::app::diff_range(range, &versions);
                    let _ = tx
                        .send(Action::Versions {
                            agent_id: agent_id.clone(),
                            versions,
                        })
                        .await;
                    if to == 0 {
                        None
                    } else {
                        match hub.diff_context(&me, &agent_id, from, to).await {
                            Ok(d) => Some(Action::Diff(Box::new(d))),
                            Err(e) => Some(Action::Notice(format!("diff: {e}"))),
                        }
                    }
                }
                Err(e) => Some(Action::Notice(format!("{agent_id}: {e}"))),
            },
            Effect::SaveGoals { agent_id, goals } => {
                match hub.set_goals(&me, &agent_id, goals).await {
                    Ok(_) => match hub.get_agent(&me, &agent_id).await {
                        Ok(s) => {
                            let _ = tx
                                .send(Action::Notice(format!("goals of {agent_id} saved")))
                                .await;
                            Some(Action::AgentLoaded(Box::new(s)))
                        }
                        Err(e) => Some(Action::Notice(format!("{agent_id}: {e}"))),
                    },
                    Err(e) => Some(Action::Notice(format!("goals not saved: {e}"))),
                }
            }
            Effect::AddPattern(p) => match rt.bus().add_pattern(&p).await {
                Ok(()) => Some(Action::Notice(format!("listening to {p}"))),
                Err(e) => Some(Action::Notice(format!("pattern {p}: {e}"))),
            },
            Effect::Decide { id, decision } => Some(Action::Notice(
                match rt.request_decision(&me, &id, decision).await {
                    Ok(done) => done,
                    Err(e) => format!("approval {id}: {e}"),
                },
            )),
            Effect::Stop(id) => Some(Action::Notice(match rt.request_stop(&me, &id).await {
                Ok(done) => done,
                Err(e) => format!("stop {id}: {e}"),
            })),
            Effect::SaveHistory(line) => {
                let r = tokio::task::spawn_blocking(move || {
                    append_history(&history, &line, history_keep)
                })
                .await;
                match r {
                    Ok(Err(e)) => Some(Action::Notice(format!("history not saved: {e}"))),
                    _ => None,
                }
            }
        };
        if let Some(a) = answer {
            let _ = tx.send(a).await;
        }
    });
}

/// "Why?" on a live runtime: the recording so far (flushed first; the audit log when there
/// is none), then the tree, built off the async threads.
async fn why_live(rt: &Runtime, of: super::why_view::WhyOf) -> Action {
    let rec = rt.recorder();
    rec.flush().await;
    let path = match rec.dir() {
        Some(dir) => dir.to_path_buf(),
        None => rt.info().data_dir.clone(),
    };
    let built = tokio::task::spawn_blocking(move || why_tree(&path, of)).await;
    match built {
        Ok(a) => a,
        Err(e) => Action::Notice(format!("why?: {e}")),
    }
}

/// The "why?" overlay for `of`, from the recording (or audit log) at `path`.
pub fn why_tree(path: &std::path::Path, of: super::why_view::WhyOf) -> Action {
    match crate::why::load(path) {
        Ok(entries) => super::why_view::answer(&entries, of),
        Err(e) => Action::Notice(format!("why? {}: {e}", super::why_view::describe(&of))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn history_round_trips_multi_line_intents_and_stays_bounded() {
        let dir = tempfile::tempdir().unwrap();
        let p = history_path(dir.path());
        append_history(&p, "@ops-agent one\ntwo", 3).unwrap();
        for i in 0..10 {
            append_history(&p, &format!("@ops-agent {i}"), 3).unwrap();
        }
        let h = load_history(&p, 3);
        assert_eq!(h, vec!["@ops-agent 7", "@ops-agent 8", "@ops-agent 9"]);
        let all = load_history(&p, usize::MAX);
        assert!(all.len() <= 6, "{all:?}");
        let dir = tempfile::tempdir().unwrap();
        let p = history_path(dir.path());
        append_history(&p, "@a x\ny", 5).unwrap();
        assert_eq!(load_history(&p, 5), vec!["@a x\ny"]);
    }

    /// Quitting right after an intent was submitted: the owner's shutdown waits for the
    /// history save, which used to be a detached task the exit could cut short.
    #[tokio::test]
    async fn the_owner_waits_for_a_history_save_started_just_before_quit() {
        use crate::owner::{Owner, OwnerOptions, hermetic_config};
        let dir = tempfile::tempdir().unwrap();
        let config = hermetic_config(dir.path());
        let owner = Owner::start(&config, OwnerOptions::default())
            .await
            .unwrap();
        let path = history_path(dir.path());
        let (tx, _rx) = mpsc::channel(8);
        let line = "@ops-agent ship it".to_string();
        spawn(
            owner.tasks(),
            owner.runtime(),
            Effect::SaveHistory(line.clone()),
            tx,
            path.clone(),
            10,
        );
        // No yield in between: the save has not run yet when the quit begins.
        owner.shutdown().await;
        assert_eq!(load_history(&path, 10), vec![line]);
    }

    #[test]
    fn history_on_disk_has_secrets_masked() {
        let dir = tempfile::tempdir().unwrap();
        let p = history_path(dir.path());
        append_history(&p, "@ops-agent rotate AKIAIOSFODNN7EXAMPLE now", 5).unwrap();
        let text = std::fs::read_to_string(&p).unwrap();
        assert!(!text.contains("AKIAIOSFODNN7EXAMPLE"), "{text}");
        assert!(text.contains(crate::audit::REDACTED), "{text}");
        assert!(text.starts_with("@ops-agent rotate "), "{text}");
    }
}
