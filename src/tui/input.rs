//! What the operator types: `@agent-id text` intents, `:` commands, and Tab completion of
//! both. Pure text in, decisions out.

use crate::agent::AgentSpec;

/// A completion: the new text (if it changed) and the candidates that remain.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Completion {
    pub text: Option<String>,
    pub candidates: Vec<String>,
}

/// Why the intent prompt's text is not an intent; the text is shown in the status line.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum IntentError {
    #[error("an intent starts with @agent-id (Tab completes it)")]
    NoAgent,
    #[error("no agent {id:?} (Tab completes agent ids)")]
    UnknownAgent { id: String },
    #[error("what should {id} do? type the intent after the id")]
    NoText { id: String },
}

/// Split `@agent-id text…` into the agent and the text; the agent must exist.
pub fn parse_intent<'a>(
    input: &'a str,
    agents: &[AgentSpec],
) -> Result<(String, String), IntentError> {
    let t = input.trim();
    let Some(rest) = t.strip_prefix('@') else {
        return Err(IntentError::NoAgent);
    };
    let split = |s: &'a str| {
        s.split_once(char::is_whitespace)
            .map(|(a, b)| (a, b.trim()))
            .unwrap_or((s, ""))
    };
    let known = |id: &str| agents.iter().any(|a| a.id == id);
    let (mut id, mut text) = split(rest);
    if !known(id) {
        return Err(IntentError::UnknownAgent { id: id.to_string() });
    }
    // The prompt opens with the focused agent filled in; an operator who types another
    // `@agent-id` after it means that one.
    while let Some(next) = text.strip_prefix('@')
        && known(split(next).0)
    {
        (id, text) = split(next);
    }
    if text.is_empty() {
        return Err(IntentError::NoText { id: id.to_string() });
    }
    Ok((id.to_string(), text.to_string()))
}

fn common_prefix(words: &[String]) -> String {
    let Some(first) = words.first() else {
        return String::new();
    };
    let mut end = first.len();
    for w in &words[1..] {
        end = end.min(
            first
                .char_indices()
                .zip(w.chars())
                .take_while(|((_, a), b)| a == b)
                .map(|((i, a), _)| i + a.len_utf8())
                .last()
                .unwrap_or(0),
        );
    }
    first[..end].to_string()
}

/// Complete the last word against `options`; a unique match gets a trailing space.
fn complete_word(before: &str, word: &str, options: &[String]) -> Completion {
    let candidates: Vec<String> = options
        .iter()
        .filter(|o| o.starts_with(word))
        .cloned()
        .collect();
    let text = match candidates.len() {
        0 => None,
        1 => Some(format!("{before}{} ", candidates[0])),
        _ => {
            let p = common_prefix(&candidates);
            (p.len() > word.len()).then(|| format!("{before}{p}"))
        }
    };
    Completion { text, candidates }
}

/// Tab in the intent prompt: complete the `@agent-id` being typed.
pub fn complete_agent(input: &str, ids: &[String]) -> Completion {
    let t = input.trim_start();
    let Some(rest) = t.strip_prefix('@') else {
        return complete_word("@", "", ids);
    };
    if rest.contains(char::is_whitespace) {
        return Completion::default();
    }
    complete_word("@", rest, ids)
}

pub const COMMANDS: &[&str] = &[
    "theme", "goal", "channel", "pause", "stop", "quit", "goto", "seq",
];

/// Tab in command mode: the command, then its argument (theme names, `add`/`rm`).
pub fn complete_command(input: &str, themes: &[&str], _ids: &[String]) -> Completion {
    let words: Vec<&str> = input.split(' ').collect();
    let to = |v: &[&str]| v.iter().map(|s| s.to_string()).collect::<Vec<_>>();
    match words.as_slice() {
        [w] => complete_word("", w, &to(COMMANDS)),
        ["theme", w] => complete_word("theme ", w, &to(themes)),
        ["goal", w] => complete_word("goal ", w, &to(&["add", "rm"])),
        ["channel", w] => complete_word("channel ", w, &to(&["add"])),
        _ => Completion::default(),
    }
}

#[derive(Debug, Clone, PartialEq)]
pub enum Command {
    Theme(String),
    GoalAdd(String),
    GoalRemove(usize),
    ChannelAdd(String),
    Pause,
    Stop,
    Quit,
    /// Replay: move the cursor to a time (`HH:MM[:SS]` of the recording's day, or RFC 3339).
    Goto(String),
    /// Replay: move the cursor to the audit record with this seq.
    Seq(u64),
}

/// Why a `:` line is not a command; the text is shown in the status line.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CommandError {
    #[error("type a command: theme, goal, channel, pause, stop, quit")]
    Empty,
    #[error(
        "unknown command {:?}; commands: {}",
        crate::sanitize::one_line(.name),
        COMMANDS.join(", ")
    )]
    Unknown { name: String },
    /// The command takes an argument and got none.
    #[error(":{command} needs {what}")]
    NoArgument { command: String, what: &'static str },
    #[error("usage: goal add TEXT | goal rm N")]
    GoalUsage,
    #[error("goal rm takes a goal number, not {text:?}")]
    NotAGoalNumber { text: String },
    #[error("usage: channel add PATTERN")]
    ChannelUsage,
    #[error(":seq takes an audit record number, not {text:?}")]
    NotASeq { text: String },
}

pub fn parse_command(input: &str) -> Result<Command, CommandError> {
    let t = input.trim().trim_start_matches(':');
    let (cmd, rest) = t.split_once(' ').unwrap_or((t, ""));
    let rest = rest.trim();
    let need = |what: &'static str| -> Result<String, CommandError> {
        if rest.is_empty() {
            Err(CommandError::NoArgument {
                command: cmd.to_string(),
                what,
            })
        } else {
            Ok(rest.to_string())
        }
    };
    match cmd {
        "theme" => Ok(Command::Theme(need("a theme name")?)),
        "goal" => match rest.split_once(' ') {
            Some(("add", g)) if !g.trim().is_empty() => Ok(Command::GoalAdd(g.trim().into())),
            Some(("rm", n)) => n.trim().parse().map(Command::GoalRemove).map_err(|_| {
                CommandError::NotAGoalNumber {
                    text: n.to_string(),
                }
            }),
            _ => Err(CommandError::GoalUsage),
        },
        "channel" => match rest.split_once(' ') {
            Some(("add", p)) if !p.trim().is_empty() => Ok(Command::ChannelAdd(p.trim().into())),
            _ => Err(CommandError::ChannelUsage),
        },
        "pause" => Ok(Command::Pause),
        "goto" => Ok(Command::Goto(need("a time (HH:MM:SS or RFC 3339)")?)),
        "seq" => need("an audit seq")?
            .parse()
            .map(Command::Seq)
            .map_err(|_| CommandError::NotASeq {
                text: rest.to_string(),
            }),
        "stop" => Ok(Command::Stop),
        "quit" | "q" => Ok(Command::Quit),
        "" => Err(CommandError::Empty),
        other => Err(CommandError::Unknown {
            name: other.to_string(),
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ids() -> Vec<String> {
        ["sec-agent", "search-agent", "ops-agent"]
            .iter()
            .map(|s| s.to_string())
            .collect()
    }

    #[test]
    fn agent_ids_complete_to_the_common_prefix_then_uniquely() {
        let c = complete_agent("@se", &ids());
        assert_eq!(c.candidates.len(), 2);
        assert_eq!(c.text, None); // "se" is already the common prefix
        assert_eq!(
            complete_agent("@sec", &ids()).text.as_deref(),
            Some("@sec-agent ")
        );
        assert_eq!(
            complete_agent("@o", &ids()).text.as_deref(),
            Some("@ops-agent ")
        );
        assert_eq!(
            complete_agent("@ops-agent do", &ids()),
            Completion::default()
        );
    }

    #[test]
    fn an_agent_typed_after_the_prefilled_one_wins() {
        let agents = crate::agent::Catalog::from_config(&crate::config::Config::default())
            .unwrap()
            .agents()
            .to_vec();
        let parse = |t: &str| parse_intent(t, &agents);
        assert_eq!(
            parse("@ops-agent @strategy-agent Plan the Q1 launch").unwrap(),
            ("strategy-agent".into(), "Plan the Q1 launch".into())
        );
        assert_eq!(
            parse("@ops-agent deploy @main now").unwrap(),
            ("ops-agent".into(), "deploy @main now".into())
        );
        assert_eq!(
            parse("@ops-agent @nobody hi").unwrap(),
            ("ops-agent".into(), "@nobody hi".into())
        );
        assert_eq!(
            parse("@ops-agent @sec-agent"),
            Err(IntentError::NoText {
                id: "sec-agent".into()
            })
        );
        assert_eq!(
            parse("@ops-agent @sec-agent").unwrap_err().to_string(),
            "what should sec-agent do? type the intent after the id"
        );
        let e = parse("@nobody hi").unwrap_err();
        assert!(matches!(&e, IntentError::UnknownAgent { id } if id == "nobody"));
        assert_eq!(
            e.to_string(),
            "no agent \"nobody\" (Tab completes agent ids)"
        );
        assert_eq!(parse("hi"), Err(IntentError::NoAgent));
        assert_eq!(
            IntentError::NoAgent.to_string(),
            "an intent starts with @agent-id (Tab completes it)"
        );
    }

    #[test]
    fn commands_complete_and_parse() {
        let themes = ["default", "dracula", "light"];
        assert_eq!(
            complete_command("th", &themes, &[]).text.as_deref(),
            Some("theme ")
        );
        assert_eq!(
            complete_command("theme dr", &themes, &[]).text.as_deref(),
            Some("theme dracula ")
        );
        assert_eq!(
            parse_command("goal add ship it"),
            Ok(Command::GoalAdd("ship it".into()))
        );
        assert_eq!(parse_command("goal rm 2"), Ok(Command::GoalRemove(2)));
        assert_eq!(
            parse_command("goal rm two"),
            Err(CommandError::NotAGoalNumber { text: "two".into() })
        );
        let e = parse_command("theme").unwrap_err();
        assert!(matches!(
            &e,
            CommandError::NoArgument { command, .. } if command == "theme"
        ));
        assert!(e.to_string().contains("needs"));
        assert_eq!(e.to_string(), ":theme needs a theme name");
    }

    #[test]
    fn command_errors_keep_their_texts() {
        let text = |t: &str| parse_command(t).unwrap_err().to_string();
        assert_eq!(
            text("goal rm two"),
            "goal rm takes a goal number, not \"two\""
        );
        assert_eq!(text("goal"), "usage: goal add TEXT | goal rm N");
        assert_eq!(text("channel rm x"), "usage: channel add PATTERN");
        assert_eq!(
            text("seq x1"),
            ":seq takes an audit record number, not \"x1\""
        );
        assert_eq!(
            text(":"),
            "type a command: theme, goal, channel, pause, stop, quit"
        );
        assert!(matches!(
            parse_command("fly\u{1b}[2J away"),
            Err(CommandError::Unknown { name }) if name == "fly\u{1b}[2J"
        ));
        assert_eq!(
            text("fly"),
            format!("unknown command \"fly\"; commands: {}", COMMANDS.join(", "))
        );
        assert_eq!(parse_command(":quit"), Ok(Command::Quit));
    }
}
