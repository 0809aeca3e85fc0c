//! Vector memory on a Weaviate server, over its REST v1 API and its GraphQL endpoint
//! (default port 8080).
//!
//! **Layout.** One class holds every agent's items. Weaviate class names start with an
//! upper-case letter, so the class is derived from `memory.collection`: its parts between
//! `_`, `-` and `.` capitalised and joined (`aios_memory` → `AiosMemory`, `contract-scan` →
//! `ContractScan`; so `aios-memory` names the same class). The class is made with
//! `vectorizer: none` (aios sends its own vectors), `vectorIndexConfig.distance: cosine`
//! and the text properties `item_id`, `item_key`, `agent_id`, `kind` (these four with
//! `field` tokenization: matched whole), `text`, `ts` and the text array `tags`. Each item
//! is one object whose id is the item id when that is a UUID in canonical form, its UUIDv5
//! otherwise (as for Qdrant points), so a replace or delete finds it again; `item_id`
//! keeps the original, `item_key` is its bytes in lower-case hex (see scan order).
//!
//! **Vector space.** The class `description` is a small JSON object,
//! `{"aios_embedder": "<name>", "aios_dims": <n>}`, written when the class is made (or into
//! an empty class that has none) and checked by [`check_space`] at every open. A class
//! whose description is not that is "unrecorded"; its vector length is read from a stored
//! object.
//!
//! **Requests.** Upserts go through `/v1/batch/objects` (each object's own error is
//! checked: a batch answers 200 even when objects fail); search is a GraphQL `Get` with
//! `nearVector`, a `where` on `agent_id` / `kind` and `_additional { id distance }` (score
//! = 1 − cosine distance); count is a GraphQL `Aggregate` `meta { count }`; delete is
//! `DELETE /v1/objects/{class}/{id}` per id, whose 204 or 404 says whether it existed;
//! scan is a `Get` sorted by `item_key` with `where item_key > hex(after)`; destroy deletes
//! the class. GraphQL reports errors in a 200 answer's `errors`, which are checked too.
//!
//! **Scan order.** Weaviate sorts text case-insensitively (its sorter compares the
//! lower-cased strings) while its range filters compare bytes, so sorting and paging on
//! `item_id` itself would skip ids that differ in case. `item_key`, the id's bytes in
//! lower-case hex, orders the same both ways, and that order is the ids' byte order.
//!
//! **Consistency.** Weaviate applies a batch before it answers, so a search right after an
//! upsert sees it. A batch is not atomic: when some objects fail, the others are written,
//! and the error names the first failure.

use std::collections::HashSet;
use std::time::Duration;

use async_trait::async_trait;
use serde_json::{Value, json};

use super::qdrant::point_uuid;
use super::rest::{Failure, Rest, Verb};
use super::{
    MemoryError, MemoryFilter, MemoryItem, ScoredItem, SpaceCheck, VectorMemory, VectorSpace,
    check_space,
};

/// Objects per batch call.
pub const BATCH: usize = 256;
const REQUEST_TIMEOUT: Duration = Duration::from_secs(30);
/// How long opening waits for `/v1/meta`.
pub const OPEN_TIMEOUT: Duration = Duration::from_secs(3);

/// The properties every object has, in the order GraphQL asks for them.
const FIELDS: &str = "item_id agent_id kind text ts tags";

/// A Weaviate class as aios uses it; `Send + Sync`.
pub struct WeaviateMemory {
    rest: Rest,
    /// `memory.collection` as configured.
    collection: String,
    class: String,
    dims: usize,
    space: VectorSpace,
}

/// Whether a Weaviate server answers `/v1/meta` at `url` within `timeout` (for `doctor`;
/// creates nothing).
pub async fn health(url: &str, timeout: Duration) -> Result<Duration, MemoryError> {
    Rest::probe("weaviate", url, "/v1/meta", "asking for /v1/meta", timeout).await
}

impl WeaviateMemory {
    /// Check the server at `url` answers `/v1/meta` within [`OPEN_TIMEOUT`], then open (or
    /// make) the class derived from `collection` ([`class_name`]) for vectors of `space`.
    pub async fn open(
        url: &str,
        collection: &str,
        space: &VectorSpace,
    ) -> Result<Self, MemoryError> {
        if space.dims == 0 {
            return Err(MemoryError::Storage(
                "vector memory needs at least 1 dimension".into(),
            ));
        }
        let class = class_name(collection)?;
        let rest = Rest::new("weaviate", url, OPEN_TIMEOUT, REQUEST_TIMEOUT)?;
        let memory = Self {
            rest,
            collection: collection.to_string(),
            class,
            dims: space.dims,
            space: space.clone(),
        };
        memory
            .rest
            .call(Verb::Get, "/v1/meta", None, Some(OPEN_TIMEOUT))
            .await
            .map_err(|f| memory.rest.error(&memory.place(), "asking for /v1/meta", f))?;
        let class = match memory.read_class().await? {
            Some(c) => c,
            None => memory.create_class().await?,
        };
        memory.check(&class).await?;
        Ok(memory)
    }

    pub fn url(&self) -> &str {
        self.rest.url()
    }

    /// The Weaviate class the memory lives in.
    pub fn class(&self) -> &str {
        &self.class
    }

    pub fn collection(&self) -> &str {
        &self.collection
    }

    fn place(&self) -> String {
        format!("class `{}`", self.class)
    }

    fn store(&self) -> String {
        format!("weaviate class `{}` at {}", self.class, self.url())
    }

    fn malformed(&self, doing: &str, what: &str) -> MemoryError {
        self.rest.malformed(&self.place(), doing, what)
    }

    async fn call(
        &self,
        verb: Verb,
        path: &str,
        body: Option<&Value>,
        doing: &str,
    ) -> Result<Value, MemoryError> {
        self.rest
            .call(verb, path, body, None)
            .await
            .map_err(|f| self.rest.error(&self.place(), doing, f))
    }

    /// The class definition, `None` when there is no such class.
    async fn read_class(&self) -> Result<Option<Value>, MemoryError> {
        let path = format!("/v1/schema/{}", self.class);
        match self.rest.call(Verb::Get, &path, None, None).await {
            Ok(class) if class.is_object() => Ok(Some(class)),
            Ok(_) => Err(self.malformed("reading the class", "not a class definition")),
            Err(f) if f.is_not_found() => Ok(None),
            Err(f) => Err(self.rest.error(&self.place(), "reading the class", f)),
        }
    }

    fn definition(&self, description: Option<String>) -> Value {
        let text = |name: &str, tokenization: &str| json!({ "name": name, "dataType": ["text"], "tokenization": tokenization });
        let mut class = json!({
            "class": self.class,
            "vectorizer": "none",
            "vectorIndexConfig": { "distance": "cosine" },
            "properties": [
                text("item_id", "field"),
                text("item_key", "field"),
                text("agent_id", "field"),
                text("kind", "field"),
                text("text", "word"),
                text("ts", "field"),
                { "name": "tags", "dataType": ["text[]"], "tokenization": "field" },
            ],
        });
        if let Some(d) = description {
            class["description"] = json!(d);
        }
        class
    }

    async fn create_class(&self) -> Result<Value, MemoryError> {
        let description = self.space.is_recorded().then(|| describe(&self.space));
        let created = self
            .rest
            .call(
                Verb::Post,
                "/v1/schema",
                Some(&self.definition(description)),
                None,
            )
            .await;
        match created {
            Ok(_) => {
                tracing::info!(url = %self.url(), class = %self.class, dims = self.dims, "created the Weaviate class");
            }
            // Another node may have made it a moment ago; that is fine.
            Err(f) => {
                if self.read_class().await?.is_none() {
                    return Err(self.rest.error(&self.place(), "creating the class", f));
                }
            }
        }
        self.read_class()
            .await?
            .ok_or_else(|| self.malformed("creating the class", "the class is not there after"))
    }

    /// Refuse a class of another distance or length; apply [`check_space`].
    async fn check(&self, class: &Value) -> Result<(), MemoryError> {
        let distance = class
            .pointer("/vectorIndexConfig/distance")
            .and_then(Value::as_str)
            .unwrap_or("cosine");
        if distance != "cosine" {
            return Err(MemoryError::Mismatch(format!(
                "{} compares vectors by {distance}, aios needs cosine: set memory.collection \
                 to another name",
                self.store()
            )));
        }
        let recorded = class
            .get("description")
            .and_then(Value::as_str)
            .and_then(recorded_space);
        let held = self.stored_dims().await?;
        for d in [held, recorded.as_ref().map(|r| r.dims)]
            .into_iter()
            .flatten()
        {
            if d != self.dims {
                return Err(MemoryError::Mismatch(format!(
                    "{} holds {d}-dimensional vectors, but memory.dims is {}: set memory.dims \
                     to {d} or memory.collection to another name",
                    self.store(),
                    self.dims
                )));
            }
        }
        let empty = held.is_none();
        match check_space(&self.store(), recorded.as_ref(), held, empty, &self.space)? {
            SpaceCheck::Keep => Ok(()),
            SpaceCheck::Record if !self.space.is_recorded() => Ok(()),
            SpaceCheck::Record => {
                let mut updated = class.clone();
                updated["description"] = json!(describe(&self.space));
                self.call(
                    Verb::Put,
                    &format!("/v1/schema/{}", self.class),
                    Some(&updated),
                    "recording the embedder in the class description",
                )
                .await?;
                Ok(())
            }
        }
    }

    /// The length of a stored object's vector; `None` when the class holds none.
    async fn stored_dims(&self) -> Result<Option<usize>, MemoryError> {
        let doing = "reading a stored vector";
        let got = self
            .call(
                Verb::Get,
                &format!("/v1/objects?class={}&limit=1&include=vector", self.class),
                None,
                doing,
            )
            .await?;
        let objects = got
            .get("objects")
            .and_then(Value::as_array)
            .ok_or_else(|| self.malformed(doing, "no `objects`"))?;
        Ok(objects
            .first()
            .and_then(|o| o.get("vector"))
            .and_then(Value::as_array)
            .map(Vec::len))
    }

    /// Run a GraphQL query; its `data`, or the first of its `errors`.
    async fn graphql(&self, query: String, doing: &str) -> Result<Value, MemoryError> {
        let mut answer = self
            .call(
                Verb::Post,
                "/v1/graphql",
                Some(&json!({ "query": query })),
                doing,
            )
            .await?;
        if let Some(errors) = answer.get("errors").and_then(Value::as_array)
            && !errors.is_empty()
        {
            let message = errors
                .iter()
                .filter_map(|e| e.get("message").and_then(Value::as_str))
                .collect::<Vec<_>>()
                .join("; ");
            return Err(self.rest.error(
                &self.place(),
                doing,
                Failure::Body(format!("GraphQL error: {}", super::rest::quote(&message))),
            ));
        }
        Ok(answer
            .get_mut("data")
            .map(Value::take)
            .unwrap_or(Value::Null))
    }

    /// The objects a `Get` answered, as items (with their `_additional`).
    fn objects(&self, data: &Value, verb: &str, doing: &str) -> Result<Vec<Value>, MemoryError> {
        match data.get(verb).and_then(|v| v.get(&self.class)) {
            Some(Value::Array(list)) => Ok(list.clone()),
            Some(Value::Null) | None => Ok(Vec::new()),
            Some(_) => Err(self.malformed(doing, "the class's answer is not a list")),
        }
    }

    fn check_vector(&self, vector: &[f32], what: &str) -> Result<(), MemoryError> {
        super::check_vector(self.dims, vector, what)
    }
}

#[async_trait]
impl VectorMemory for WeaviateMemory {
    fn name(&self) -> &'static str {
        "weaviate"
    }

    fn dims(&self) -> usize {
        self.dims
    }

    fn space(&self) -> VectorSpace {
        self.space.clone()
    }

    async fn upsert(&self, items: Vec<(MemoryItem, Vec<f32>)>) -> Result<(), MemoryError> {
        let objects: Vec<Value> = super::last_per_id(&items, |v, what| self.check_vector(v, what))?
            .into_iter()
            .map(|(item, vector)| {
                json!({
                    "class": self.class,
                    "id": point_uuid(&item.id),
                    "vector": vector,
                    "properties": {
                        "item_id": item.id,
                        "item_key": hex_key(&item.id),
                        "agent_id": item.agent_id,
                        "kind": item.kind,
                        "text": item.text,
                        "ts": item.ts,
                        "tags": item.tags,
                    },
                })
            })
            .collect();
        let doing = "writing a batch of objects";
        for batch in objects.chunks(BATCH) {
            let answer = self
                .call(
                    Verb::Post,
                    "/v1/batch/objects",
                    Some(&json!({ "objects": batch })),
                    doing,
                )
                .await?;
            let results = answer
                .as_array()
                .ok_or_else(|| self.malformed(doing, "the answer is not a list"))?;
            if results.len() != batch.len() {
                return Err(self.malformed(
                    doing,
                    &format!("{} results for {} objects", results.len(), batch.len()),
                ));
            }
            for result in results {
                if let Some(message) = result
                    .pointer("/result/errors/error")
                    .and_then(Value::as_array)
                    .and_then(|e| e.first())
                    .and_then(|e| e.get("message"))
                    .and_then(Value::as_str)
                {
                    let id = result.get("id").and_then(Value::as_str).unwrap_or("?");
                    return Err(self.rest.error(
                        &self.place(),
                        doing,
                        Failure::Body(format!(
                            "object {id} was refused: {}",
                            super::rest::quote(message)
                        )),
                    ));
                }
            }
        }
        Ok(())
    }

    async fn search(
        &self,
        vector: &[f32],
        filter: &MemoryFilter,
        k: usize,
    ) -> Result<Vec<ScoredItem>, MemoryError> {
        self.check_vector(vector, "the query")?;
        if k == 0 {
            return Ok(Vec::new());
        }
        let vector = serde_json::to_string(vector)
            .map_err(|e| MemoryError::Storage(format!("the query vector: {e}")))?;
        let mut args = vec![
            format!("nearVector: {{vector: {vector}}}"),
            format!("limit: {k}"),
        ];
        if let Some(w) = where_of(&conditions(filter)) {
            args.push(format!("where: {w}"));
        }
        let doing = "searching";
        let data = self
            .graphql(
                format!(
                    "{{ Get {{ {}({}) {{ {FIELDS} _additional {{ id distance }} }} }} }}",
                    self.class,
                    args.join(", ")
                ),
                doing,
            )
            .await?;
        self.objects(&data, "Get", doing)?
            .iter()
            .map(|o| {
                let distance = o
                    .pointer("/_additional/distance")
                    .and_then(Value::as_f64)
                    .ok_or_else(|| {
                        self.malformed(doing, "an object came back without its distance")
                    })?;
                let item = item_of(o).map_err(|e| self.malformed(doing, &e))?;
                Ok(ScoredItem {
                    item,
                    score: (1.0 - distance) as f32,
                })
            })
            .collect()
    }

    async fn delete(&self, ids: &[String]) -> Result<usize, MemoryError> {
        let mut seen = HashSet::new();
        let mut existed = 0;
        for id in ids {
            let uuid = point_uuid(id);
            if !seen.insert(uuid.clone()) {
                continue;
            }
            let path = format!("/v1/objects/{}/{uuid}", self.class);
            match self.rest.call(Verb::Delete, &path, None, None).await {
                Ok(_) => existed += 1,
                Err(f) if f.is_not_found() => {}
                Err(f) => return Err(self.rest.error(&self.place(), "deleting an object", f)),
            }
        }
        Ok(existed)
    }

    async fn count(&self, filter: &MemoryFilter) -> Result<u64, MemoryError> {
        let args = where_of(&conditions(filter))
            .map(|w| format!("(where: {w})"))
            .unwrap_or_default();
        let doing = "counting objects";
        let data = self
            .graphql(
                format!(
                    "{{ Aggregate {{ {}{args} {{ meta {{ count }} }} }} }}",
                    self.class
                ),
                doing,
            )
            .await?;
        let groups = self.objects(&data, "Aggregate", doing)?;
        match groups.first() {
            None => Ok(0),
            Some(g) => g
                .pointer("/meta/count")
                .and_then(Value::as_u64)
                .ok_or_else(|| self.malformed(doing, "no `meta.count`")),
        }
    }

    async fn scan(
        &self,
        filter: &MemoryFilter,
        after: Option<&str>,
        limit: usize,
    ) -> Result<Vec<MemoryItem>, MemoryError> {
        if limit == 0 {
            return Ok(Vec::new());
        }
        let mut conds = conditions(filter);
        if let Some(after) = after {
            conds.push(condition("item_key", "GreaterThan", &hex_key(after)));
        }
        let mut args = vec![
            "sort: [{path: [\"item_key\"], order: asc}]".to_string(),
            format!("limit: {limit}"),
        ];
        if let Some(w) = where_of(&conds) {
            args.push(format!("where: {w}"));
        }
        let doing = "listing objects";
        let data = self
            .graphql(
                format!(
                    "{{ Get {{ {}({}) {{ {FIELDS} }} }} }}",
                    self.class,
                    args.join(", ")
                ),
                doing,
            )
            .await?;
        let mut items = self
            .objects(&data, "Get", doing)?
            .iter()
            .map(|o| item_of(o).map_err(|e| self.malformed(doing, &e)))
            .collect::<Result<Vec<_>, _>>()?;
        // In `item_key` order already, which is the ids' byte order; sorting again is cheap
        // insurance that the page is in the contract's order.
        items.sort_by(|a, b| a.id.cmp(&b.id));
        Ok(items)
    }

    async fn destroy(&self) -> Result<(), MemoryError> {
        let path = format!("/v1/schema/{}", self.class);
        match self.rest.call(Verb::Delete, &path, None, None).await {
            Ok(_) => Ok(()),
            Err(f) if f.is_not_found() => Ok(()),
            Err(f) => Err(self.rest.error(&self.place(), "deleting the class", f)),
        }
    }
}

/// The Weaviate class for a configured collection name: the parts between `_`, `-` and
/// `.` with their first letter upper-cased, joined (`aios_memory` → `AiosMemory`). Fails
/// for a name with other characters, or one that does not start with a letter.
pub fn class_name(collection: &str) -> Result<String, MemoryError> {
    let bad = || {
        MemoryError::Storage(format!(
            "memory.collection `{collection}` cannot name a Weaviate class: use ASCII letters, \
             digits, `_`, `-` and `.`, starting with a letter"
        ))
    };
    if !collection.starts_with(|c: char| c.is_ascii_alphabetic()) {
        return Err(bad());
    }
    let mut class = String::with_capacity(collection.len());
    for part in collection.split(['_', '-', '.']) {
        if !part.chars().all(|c| c.is_ascii_alphanumeric()) {
            return Err(bad());
        }
        let mut chars = part.chars();
        if let Some(first) = chars.next() {
            class.push(first.to_ascii_uppercase());
            class.extend(chars);
        }
    }
    Ok(class)
}

/// An id's bytes in lower-case hex: ordered the same by bytes and case-insensitively, and
/// in the same order as the ids' bytes.
fn hex_key(id: &str) -> String {
    use std::fmt::Write;
    id.bytes()
        .fold(String::with_capacity(id.len() * 2), |mut key, b| {
            let _ = write!(key, "{b:02x}");
            key
        })
}

/// The class description recording `space`.
fn describe(space: &VectorSpace) -> String {
    json!({ "aios_embedder": space.embedder, "aios_dims": space.dims }).to_string()
}

/// The space a class description records, if it is one of ours.
fn recorded_space(description: &str) -> Option<VectorSpace> {
    let v: Value = serde_json::from_str(description).ok()?;
    let name = v.get("aios_embedder")?.as_str()?;
    let dims = usize::try_from(v.get("aios_dims")?.as_u64()?).ok()?;
    (name != VectorSpace::UNRECORDED).then(|| VectorSpace::new(name, dims))
}

/// One `where` operand in GraphQL syntax; `value` is quoted as a JSON string, which is
/// also a valid GraphQL string.
fn condition(path: &str, operator: &str, value: &str) -> String {
    format!(
        "{{path: [{}], operator: {operator}, valueText: {}}}",
        json!(path),
        json!(value)
    )
}

fn conditions(filter: &MemoryFilter) -> Vec<String> {
    [("agent_id", &filter.agent_id), ("kind", &filter.kind)]
        .into_iter()
        .filter_map(|(field, value)| value.as_deref().map(|v| condition(field, "Equal", v)))
        .collect()
}

fn where_of(conditions: &[String]) -> Option<String> {
    match conditions {
        [] => None,
        [one] => Some(one.clone()),
        many => Some(format!(
            "{{operator: And, operands: [{}]}}",
            many.join(", ")
        )),
    }
}

/// An object's properties back as an item; the reason when they are not one.
fn item_of(object: &Value) -> Result<MemoryItem, String> {
    let field = |key: &str| {
        object
            .get(key)
            .and_then(Value::as_str)
            .map(str::to_string)
            .ok_or_else(|| format!("an object has no text `{key}`"))
    };
    let tags = match object.get("tags") {
        // Weaviate gives an empty list back as null.
        None | Some(Value::Null) => Vec::new(),
        Some(Value::Array(list)) => list
            .iter()
            .map(|t| t.as_str().map(str::to_string))
            .collect::<Option<Vec<_>>>()
            .ok_or_else(|| "an object's `tags` are not all text".to_string())?,
        Some(_) => return Err("an object's `tags` are not a list".into()),
    };
    Ok(MemoryItem {
        id: field("item_id")?,
        agent_id: field("agent_id")?,
        kind: field("kind")?,
        text: field("text")?,
        ts: field("ts")?,
        tags,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn class_names_are_capitalised_parts() {
        assert_eq!(class_name("aios_memory").expect("ok"), "AiosMemory");
        assert_eq!(class_name("contract-scan").expect("ok"), "ContractScan");
        assert_eq!(class_name("Memory.v2").expect("ok"), "MemoryV2");
        assert_eq!(class_name("a__b").expect("ok"), "AB");
        for bad in ["", "1abc", "_x", "a/b", "a b", "mémoire", "a{b}"] {
            assert!(class_name(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn hex_keys_keep_the_byte_order_of_ids_in_any_case() {
        let mut ids = vec!["b", "B", "a-1", "Z", "é", "ß", "a", "", "a\u{0}"];
        let mut keys: Vec<(String, &str)> = ids.iter().map(|i| (hex_key(i), *i)).collect();
        ids.sort();
        keys.sort_by_key(|k| k.0.to_lowercase());
        assert_eq!(keys.iter().map(|k| k.1).collect::<Vec<_>>(), ids);
        assert_eq!(hex_key("aZ"), "615a");
    }

    #[test]
    fn the_space_round_trips_through_the_description() {
        let space = VectorSpace::new("minilm:all-MiniLM-L6-v2", 384);
        assert_eq!(recorded_space(&describe(&space)), Some(space));
        assert_eq!(recorded_space("Memory of the support team"), None);
        assert_eq!(recorded_space("{\"aios_embedder\": 3}"), None);
    }

    #[test]
    fn filters_become_where_operands_with_quoted_values() {
        assert_eq!(where_of(&conditions(&MemoryFilter::default())), None);
        assert_eq!(
            where_of(&conditions(&MemoryFilter::agent("a\"b"))).expect("where"),
            r#"{path: ["agent_id"], operator: Equal, valueText: "a\"b"}"#
        );
        let both = where_of(&conditions(&MemoryFilter {
            agent_id: Some("a".into()),
            kind: Some("fact".into()),
        }))
        .expect("where");
        assert!(
            both.starts_with("{operator: And, operands: [{path: [\"agent_id\"]"),
            "{both}"
        );
    }

    #[test]
    fn an_object_that_is_not_an_item_is_a_reason() {
        let good = json!({"item_id": "i", "agent_id": "a", "kind": "k", "text": "t", "ts": "s", "tags": null});
        assert_eq!(item_of(&good).expect("item").tags, Vec::<String>::new());
        let mut bad = good.clone();
        bad["tags"] = json!([1]);
        assert!(item_of(&bad).is_err());
        let mut bad = good;
        bad["kind"] = Value::Null;
        assert!(item_of(&bad).unwrap_err().contains("kind"));
    }
}
