//! What a tool call hands back to the model: the server's result as JSON, cut to a cap.
//!
//! `{"content": [...], "isError": bool, "structuredContent": ...}` as the server sent it
//! while it fits in [`MAX_RESULT_BYTES`]; beyond that the text of the content is cut and
//! the result says so (`"truncated"`), so a hostile or chatty server cannot flood the
//! model's context. A tool-level error (`isError: true`) is a result like any other: the
//! model reads it and decides.

use serde_json::{Map, Value, json};

use super::names::cut;

/// Most bytes of a result handed back (serialized JSON).
pub const MAX_RESULT_BYTES: usize = 64 * 1024;

/// `result` is the server's `CallToolResult`, serialized.
pub fn to_model(result: Value, max: usize) -> Value {
    let Value::Object(mut fields) = result else {
        return json!({ "content": [], "isError": true, "error": "the server's result is not an object" });
    };
    let mut out = Map::new();
    let content = match fields.remove("content") {
        Some(Value::Array(items)) => items,
        _ => Vec::new(),
    };
    let is_error = fields
        .remove("isError")
        .and_then(|v| v.as_bool())
        .unwrap_or(false);
    out.insert("content".into(), Value::Array(content));
    out.insert("isError".into(), Value::Bool(is_error));
    if let Some(structured) = fields.remove("structuredContent") {
        out.insert("structuredContent".into(), structured);
    }
    let whole = Value::Object(out);
    let size = serde_json::to_string(&whole).map(|s| s.len()).unwrap_or(0);
    if size <= max {
        return whole;
    }
    truncated(&whole, size, is_error, max)
}

/// The content's text (other blocks as their JSON), cut so the whole fits in `max`.
fn truncated(whole: &Value, size: usize, is_error: bool, max: usize) -> Value {
    let text: String = whole["content"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|block| match block.get("text").and_then(Value::as_str) {
            Some(text) if block.get("type").and_then(Value::as_str) == Some("text") => {
                text.to_string()
            }
            _ => block.to_string(),
        })
        .collect::<Vec<_>>()
        .join("\n");
    let note = format!(
        "the server's result was {size} bytes; only the start of its text is kept (at most \
         {max} bytes in all)"
    );
    // Escaping can grow the text, so shrink until the serialized whole fits.
    let mut budget = max.saturating_sub(note.len() + 128);
    loop {
        let kept = cut(&text, budget);
        let value = json!({
            "content": [{ "type": "text", "text": format!("{kept}\n[… truncated]") }],
            "isError": is_error,
            "truncated": note,
        });
        let len = serde_json::to_string(&value).map(|s| s.len()).unwrap_or(0);
        if len <= max || budget == 0 {
            return value;
        }
        budget = budget * 3 / 4;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_result_that_fits_is_passed_on() {
        let r = json!({
            "content": [{"type": "text", "text": "ticket #7 created"}],
            "structuredContent": {"id": 7},
            "resultType": "complete",
        });
        let got = to_model(r, MAX_RESULT_BYTES);
        assert_eq!(
            got,
            json!({
                "content": [{"type": "text", "text": "ticket #7 created"}],
                "isError": false,
                "structuredContent": {"id": 7},
            })
        );
        let e = to_model(
            json!({"content": [{"type": "text", "text": "no such ticket"}], "isError": true}),
            MAX_RESULT_BYTES,
        );
        assert_eq!(e["isError"], true);
        assert_eq!(to_model(json!(42), MAX_RESULT_BYTES)["isError"], true);
    }

    #[test]
    fn a_huge_result_is_cut_with_a_marker() {
        let big = "\"quoted\"\n".repeat(50_000);
        let r = json!({
            "content": [{"type": "text", "text": big}, {"type": "image", "data": "AAAA", "mimeType": "image/png"}],
            "isError": false,
            "structuredContent": {"big": big},
        });
        let got = to_model(r, MAX_RESULT_BYTES);
        let len = serde_json::to_string(&got).unwrap().len();
        assert!(len <= MAX_RESULT_BYTES, "{len}");
        let text = got["content"][0]["text"].as_str().unwrap();
        assert!(text.starts_with("\"quoted\""));
        assert!(text.ends_with("[… truncated]"));
        assert!(text.len() > MAX_RESULT_BYTES / 2, "{}", text.len());
        assert!(got["truncated"].as_str().unwrap().contains("bytes"));
        assert_eq!(got["isError"], false);
        assert!(got.get("structuredContent").is_none());
    }
}
