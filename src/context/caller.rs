//! Who made a call: the audit record's `caller`, as a type. Each kind of caller is a
//! variant, so code asks "is this an agent?" with a `match`, not by splitting a string;
//! the text form (`agent:ops-agent`, `mcp:claude-desktop:alice`) is the audit log's
//! contract and is what [`Display`](fmt::Display) writes.
//!
//! A caller also arrives as text: in an envelope from another node, over the control
//! socket, in an audit record read back. [`Caller::parse`] reads the kinds it knows, and
//! whatever it reads is written back byte for byte (a text it cannot read exactly becomes
//! [`Caller::Other`]), so a caller passed on never changes on the way.

use std::fmt;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// The door a remote client came through.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Door {
    /// The MCP server (stdio, the owner's socket, HTTP).
    Mcp,
    /// The inbound HTTP API.
    Http,
}

impl Door {
    pub fn as_str(self) -> &'static str {
        match self {
            Door::Mcp => "mcp",
            Door::Http => "http",
        }
    }
}

/// Who made a call.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Caller {
    /// `operator:<name>`: a person named by whoever sent the request.
    Operator(String),
    /// `agent:<id>`: an agent of this runtime (a handoff, a tool call).
    Agent(String),
    /// `cli:<user>`: the `aios` command line.
    Cli(String),
    /// `tui:<user>`: the control center.
    Tui(String),
    /// `hook:<agent>.<hook>`: a protocol hook that fired.
    Hook { agent: String, hook: String },
    /// `mcp:<client>[:<subject>]` or `http:<client>[:<subject>]`: a program outside, named
    /// by its MCP clientInfo or User-Agent, with an OIDC token's subject when it had one.
    Remote {
        door: Door,
        client: String,
        subject: Option<String>,
    },
    /// `external:<who>`: an envelope published by something that is not an aios node.
    External(String),
    /// `node:<name>`: a node's envelope that names no sender.
    Node(String),
    /// `<caller>@<node>`: a decision a watcher on another node made.
    Relayed { caller: Box<Caller>, node: String },
    /// `aios`: the runtime itself (an approval that timed out).
    Runtime,
    /// A text of none of these forms, kept as it came.
    Other(String),
}

impl Caller {
    pub fn operator(name: &str) -> Caller {
        Caller::Operator(name.to_string())
    }

    pub fn agent(agent_id: &str) -> Caller {
        Caller::Agent(agent_id.to_string())
    }

    /// The command line, as the user running it.
    pub fn cli() -> Caller {
        Caller::Cli(whoami())
    }

    /// The control center, as the user running it.
    pub fn tui() -> Caller {
        Caller::Tui(whoami())
    }

    pub fn hook(agent: &str, hook: &str) -> Caller {
        Caller::Hook {
            agent: agent.to_string(),
            hook: hook.to_string(),
        }
    }

    /// Read a caller written as text. Never fails: a text of no known form, or one that
    /// would not be written back exactly, is [`Caller::Other`]. A `<caller>@<node>` is not
    /// read back as [`Caller::Relayed`]: an OIDC subject is often an e-mail address, so the
    /// `@` is not the relay's; it reads as the kind its prefix names.
    pub fn parse(text: &str) -> Caller {
        let parsed = Self::parse_known(text);
        match parsed {
            Some(c) if c.to_string() == text => c,
            _ => Caller::Other(text.to_string()),
        }
    }

    fn parse_known(text: &str) -> Option<Caller> {
        if text == "aios" {
            return Some(Caller::Runtime);
        }
        let (kind, rest) = text.split_once(':')?;
        let owned = || rest.to_string();
        Some(match kind {
            "operator" => Caller::Operator(owned()),
            "agent" => Caller::Agent(owned()),
            "cli" => Caller::Cli(owned()),
            "tui" => Caller::Tui(owned()),
            "external" => Caller::External(owned()),
            "node" => Caller::Node(owned()),
            "hook" => {
                let (agent, hook) = rest.split_once('.')?;
                Caller::hook(agent, hook)
            }
            "mcp" | "http" => {
                let door = if kind == "mcp" { Door::Mcp } else { Door::Http };
                let (client, subject) = match rest.split_once(':') {
                    Some((c, s)) => (c.to_string(), Some(s.to_string())),
                    None => (owned(), None),
                };
                Caller::Remote {
                    door,
                    client,
                    subject,
                }
            }
            _ => return None,
        })
    }

    /// The agent this caller is, if it is one.
    pub fn agent_id(&self) -> Option<&str> {
        match self {
            Caller::Agent(id) => Some(id),
            _ => None,
        }
    }

    /// Whether a protocol hook made the call.
    pub fn is_hook(&self) -> bool {
        matches!(self, Caller::Hook { .. })
    }
}

impl fmt::Display for Caller {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Caller::Operator(name) => write!(f, "operator:{name}"),
            Caller::Agent(id) => write!(f, "agent:{id}"),
            Caller::Cli(user) => write!(f, "cli:{user}"),
            Caller::Tui(user) => write!(f, "tui:{user}"),
            Caller::Hook { agent, hook } => write!(f, "hook:{agent}.{hook}"),
            Caller::Remote {
                door,
                client,
                subject: Some(subject),
            } => write!(f, "{}:{client}:{subject}", door.as_str()),
            Caller::Remote {
                door,
                client,
                subject: None,
            } => write!(f, "{}:{client}", door.as_str()),
            Caller::External(who) => write!(f, "external:{who}"),
            Caller::Node(node) => write!(f, "node:{node}"),
            Caller::Relayed { caller, node } => write!(f, "{caller}@{node}"),
            Caller::Runtime => f.write_str("aios"),
            Caller::Other(text) => f.write_str(text),
        }
    }
}

/// As its text: the audit record's and the control protocol's form.
impl Serialize for Caller {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for Caller {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Caller, D::Error> {
        String::deserialize(d).map(|text| Caller::parse(&text))
    }
}

/// The operator's login name, for `caller` and the envelope's `source.operator`.
pub fn whoami() -> String {
    std::env::var("USER")
        .or_else(|_| std::env::var("USERNAME"))
        .unwrap_or_else(|_| "operator".into())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_kind_reads_back_as_itself() {
        let callers = [
            Caller::operator("alice"),
            Caller::agent("ops-agent"),
            Caller::Cli("bob".into()),
            Caller::Tui("carol".into()),
            Caller::hook("sec-agent", "on-done"),
            Caller::Remote {
                door: Door::Mcp,
                client: "claude-desktop".into(),
                subject: None,
            },
            Caller::Remote {
                door: Door::Http,
                client: "n8n".into(),
                subject: Some("bob@example.com".into()),
            },
            Caller::External("zapier".into()),
            Caller::Node("edge-1".into()),
            Caller::Runtime,
        ];
        for c in callers {
            let text = c.to_string();
            assert_eq!(Caller::parse(&text), c, "{text}");
            let json = serde_json::to_value(&c).unwrap();
            assert_eq!(json, serde_json::Value::String(text.clone()));
            assert_eq!(serde_json::from_value::<Caller>(json).unwrap(), c);
        }
    }

    #[test]
    fn any_text_is_written_back_unchanged() {
        for text in [
            "",
            "aios",
            "somebody",
            "hook:no-dot",
            "weird:kind",
            "agent:",
            "operator:alice@node-b",
            "mcp:ide:bob@example.com@node-b",
            "mcp:a:b:c",
            ":",
        ] {
            assert_eq!(Caller::parse(text).to_string(), text);
        }
        assert_eq!(
            Caller::parse("hook:no-dot"),
            Caller::Other("hook:no-dot".into())
        );
        assert_eq!(Caller::parse("agent:ops").agent_id(), Some("ops"));
        assert_eq!(Caller::parse("operator:agent:ops").agent_id(), None);
        assert!(Caller::parse("hook:a.b").is_hook());
    }

    #[test]
    fn a_relayed_decision_names_both() {
        let c = Caller::Relayed {
            caller: Box::new(Caller::operator("alice")),
            node: "node-b".into(),
        };
        assert_eq!(c.to_string(), "operator:alice@node-b");
    }
}
