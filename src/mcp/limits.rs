//! Bounds on what one MCP client can make the server hold: the text of each tool argument
//! (`mcp.max_text_bytes`) and the bytes `tail_audit` returns (`mcp.max_tail_bytes`). Pure.

use std::collections::VecDeque;

use serde_json::{Map, Value};

use crate::config::McpConfig;

/// The limits of one server, from `[mcp]`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    pub text_bytes: usize,
    pub tail_bytes: usize,
}

impl Limits {
    pub fn from_config(config: &McpConfig) -> Limits {
        Limits {
            text_bytes: config.max_text_bytes as usize,
            tail_bytes: config.max_tail_bytes as usize,
        }
    }

    /// The first argument of `tool` holding more text than allowed, as a message naming the
    /// field, its size and the limit.
    pub fn oversized(&self, tool: &str, arguments: &Map<String, Value>) -> Option<String> {
        arguments.iter().find_map(|(field, value)| {
            let size = text_bytes(value);
            (self.too_big(tool, field, size)).then(|| {
                format!(
                    "`{field}` holds {size} bytes of text; the limit is {} bytes (mcp.max_text_bytes)",
                    self.text_bytes
                )
            })
        })
    }

    /// The arguments as they may be recorded: an oversized field is replaced by its size,
    /// so refusing a 4 MiB text does not write 4 MiB to the audit log.
    pub fn recordable(&self, tool: &str, arguments: &Map<String, Value>) -> Map<String, Value> {
        arguments
            .iter()
            .map(|(field, value)| {
                let size = text_bytes(value);
                let kept = if self.too_big(tool, field, size) {
                    Value::String(format!("<{size} bytes, not recorded>"))
                } else {
                    value.clone()
                };
                (field.clone(), kept)
            })
            .collect()
    }

    /// Bytes of record JSON one `tail_audit` answer may hold: the answer carries the records
    /// twice (as text and as structured content), the text escaped once more inside the
    /// JSON-RPC message, so 2/5 of the cap keeps the whole answer under it.
    pub fn tail_record_budget(&self) -> usize {
        self.tail_bytes / 5 * 2
    }

    fn too_big(&self, tool: &str, field: &str, size: usize) -> bool {
        // The context document has the hub's own limit (1 MiB), the same for every caller.
        let exempt = tool == "update_context" && field == "context";
        !exempt && size > self.text_bytes
    }
}

/// Bytes of text in a value: a string's length, the sum over a list or object.
fn text_bytes(value: &Value) -> usize {
    match value {
        Value::String(s) => s.len(),
        Value::Array(items) => items.iter().map(text_bytes).sum(),
        Value::Object(fields) => fields.iter().map(|(k, v)| k.len() + text_bytes(v)).sum(),
        _ => 0,
    }
}

/// The newest records of an audit tail within a count and a byte budget. Records are
/// pushed oldest first; the window keeps the newest run that fits both.
pub struct TailWindow {
    limit: usize,
    budget: usize,
    items: VecDeque<(Value, usize)>,
    bytes: usize,
    pushed: usize,
    /// Push number of the newest record dropped for the byte budget.
    last_cut: Option<usize>,
}

impl TailWindow {
    pub fn new(limit: usize, budget: usize) -> TailWindow {
        TailWindow {
            limit,
            budget,
            items: VecDeque::new(),
            bytes: 0,
            pushed: 0,
            last_cut: None,
        }
    }

    /// Add the next (newer) record, `size` bytes of JSON.
    pub fn push(&mut self, record: Value, size: usize) {
        self.pushed += 1;
        self.items.push_back((record, size));
        self.bytes += size;
        while self.items.len() > self.limit {
            self.pop();
        }
        while self.bytes > self.budget {
            self.pop();
            self.last_cut = Some(self.pushed - self.items.len());
        }
    }

    fn pop(&mut self) {
        if let Some((_, size)) = self.items.pop_front() {
            self.bytes -= size;
        }
    }

    /// True when a record among the newest `limit` was left out for the byte budget.
    pub fn cut(&self) -> bool {
        self.last_cut.is_some_and(|n| self.pushed - n < self.limit)
    }

    pub fn bytes(&self) -> usize {
        self.bytes
    }

    pub fn len(&self) -> usize {
        self.items.len()
    }

    pub fn into_records(self) -> Vec<Value> {
        self.items.into_iter().map(|(v, _)| v).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn limits() -> Limits {
        Limits {
            text_bytes: 10,
            tail_bytes: 100,
        }
    }

    fn args(v: Value) -> Map<String, Value> {
        v.as_object().unwrap().clone()
    }

    #[test]
    fn an_oversized_field_is_named_with_its_size_and_the_limit() {
        let l = limits();
        let a = args(json!({"agent_id": "ops-agent", "text": "x".repeat(11)}));
        assert_eq!(
            l.oversized("remember", &a).as_deref(),
            Some("`text` holds 11 bytes of text; the limit is 10 bytes (mcp.max_text_bytes)")
        );
        // A list counts all its strings.
        let a = args(json!({"agent_id": "a", "tags": ["123456", "123456"]}));
        assert!(
            l.oversized("remember", &a)
                .unwrap()
                .contains("`tags` holds 12 bytes")
        );
        assert_eq!(
            l.oversized("remember", &args(json!({"text": "0123456789"}))),
            None
        );
        // The context document has the hub's limit instead.
        let a = args(json!({"agent_id": "a", "context": "x".repeat(1000)}));
        assert_eq!(l.oversized("update_context", &a), None);
        let recorded = l.recordable("remember", &args(json!({"text": "x".repeat(50), "k": 3})));
        assert_eq!(recorded["text"], json!("<50 bytes, not recorded>"));
        assert_eq!(recorded["k"], json!(3));
    }

    #[test]
    fn the_window_keeps_the_newest_records_within_count_and_bytes() {
        let mut w = TailWindow::new(3, 100);
        for i in 0..5 {
            w.push(json!(i), 10);
        }
        assert!(!w.cut());
        assert_eq!(w.into_records(), [json!(2), json!(3), json!(4)]);

        let mut w = TailWindow::new(10, 100);
        for i in 0..5 {
            w.push(json!(i), 40);
        }
        assert!(w.cut());
        assert_eq!(w.bytes(), 80);
        assert_eq!(w.into_records(), [json!(3), json!(4)]);

        // A record too large on its own is cut, and nothing older comes back in its place.
        let mut w = TailWindow::new(10, 100);
        w.push(json!("small"), 10);
        w.push(json!("huge"), 500);
        assert!(w.cut());
        assert!(w.into_records().is_empty());

        // A cut that falls outside the newest `limit` records does not count.
        let mut w = TailWindow::new(2, 100);
        w.push(json!("huge"), 500);
        w.push(json!(1), 10);
        w.push(json!(2), 10);
        assert!(!w.cut());
    }
}
