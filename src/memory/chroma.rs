//! Vector memory on a Chroma server, over its v2 REST API (`chroma run`, default port 8000).
//!
//! **Layout.** One collection (`memory.collection`) in tenant `default_tenant`, database
//! `default_database`, holds every agent's items. Its metadata sets `hnsw:space` = `cosine`
//! and records the [`VectorSpace`]: `aios:embedder` and `aios:dims`. One record per item:
//! Chroma's id is the item id (any text), the embedding is the vector, the document is the
//! text, and the metadata holds `agent_id`, `kind`, `ts` and `tags` — Chroma's metadata
//! values are scalars, so the tags are one JSON array in a string. Recall filters with a
//! `where` on `agent_id` / `kind`; the score is 1 − Chroma's cosine distance.
//!
//! **Open.** The collection is created when missing (`get_or_create`), then checked: a
//! distance other than cosine or another vector length is refused ([`MemoryError::Mismatch`]),
//! and the recorded space goes through [`check_space`]; a collection that records none and
//! holds nothing gets ours written into its metadata.
//!
//! **Scan order.** Chroma's `get` pages in insertion order, not id order, so a scan lists the
//! matching ids (ids only), sorts them, and fetches the page's records by id: every page
//! reads every matching id, which is fine for the sizes a reembed meets and exact.
//!
//! **Consistency.** A single-node Chroma applies a write before it answers, so a search
//! right after an upsert sees it. `delete` first asks which of the ids exist (Chroma's own
//! answer counts the ids sent, not the ones removed), so, as with Qdrant, a concurrent
//! writer can make its count stale.

use std::collections::HashSet;
use std::time::Duration;

use async_trait::async_trait;
use serde_json::{Map, Value, json};

use super::rest::{Rest, Verb};
use super::{
    MemoryError, MemoryFilter, MemoryItem, ScoredItem, SpaceCheck, VectorMemory, VectorSpace,
    check_space,
};

/// Records per upsert, get or delete call: Chroma's default `max_batch_size` is far above.
pub const BATCH: usize = 256;
/// Per-request deadline once open.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(30);
/// How long opening waits for the heartbeat.
pub const OPEN_TIMEOUT: Duration = Duration::from_secs(3);

const TENANT: &str = "default_tenant";
const DATABASE: &str = "default_database";
const SPACE_KEY: &str = "hnsw:space";
const EMBEDDER_KEY: &str = "aios:embedder";
const DIMS_KEY: &str = "aios:dims";

/// A Chroma collection as aios uses it; `Send + Sync`.
pub struct ChromaMemory {
    rest: Rest,
    collection: String,
    /// The collection's UUID, which the record endpoints take.
    id: String,
    dims: usize,
    space: VectorSpace,
}

/// Whether a Chroma server answers its heartbeat at `url` within `timeout` (for `doctor`;
/// creates nothing).
pub async fn health(url: &str, timeout: Duration) -> Result<Duration, MemoryError> {
    Rest::probe("chroma", url, "/api/v2/heartbeat", "the heartbeat", timeout).await
}

impl ChromaMemory {
    /// Check the server at `url` answers its heartbeat within [`OPEN_TIMEOUT`], then open
    /// (creating when missing) `collection` for vectors of `space`.
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
        check_name(collection)?;
        let rest = Rest::new("chroma", url, OPEN_TIMEOUT, REQUEST_TIMEOUT)?;
        let place = format!("collection `{collection}`");
        rest.call(Verb::Get, "/api/v2/heartbeat", None, Some(OPEN_TIMEOUT))
            .await
            .map_err(|f| rest.error(&place, "the heartbeat", f))?;

        let mut metadata = Map::new();
        metadata.insert(SPACE_KEY.into(), json!("cosine"));
        if space.is_recorded() {
            metadata.insert(EMBEDDER_KEY.into(), json!(space.embedder));
            metadata.insert(DIMS_KEY.into(), json!(space.dims));
        }
        let body = json!({
            "name": collection,
            "metadata": metadata,
            "get_or_create": true,
        });
        let created = rest
            .call(Verb::Post, &collections_path(), Some(&body), None)
            .await
            .map_err(|f| rest.error(&place, "opening the collection", f))?;
        let id = created
            .get("id")
            .and_then(Value::as_str)
            .ok_or_else(|| rest.malformed(&place, "opening the collection", "no `id`"))?
            .to_string();
        let memory = Self {
            rest,
            collection: collection.to_string(),
            id,
            dims: space.dims,
            space: space.clone(),
        };
        memory.check(&created).await?;
        Ok(memory)
    }

    pub fn url(&self) -> &str {
        self.rest.url()
    }

    pub fn collection(&self) -> &str {
        &self.collection
    }

    fn place(&self) -> String {
        format!("collection `{}`", self.collection)
    }

    fn store(&self) -> String {
        format!("chroma collection `{}` at {}", self.collection, self.url())
    }

    /// Refuse a collection of another distance or length; apply [`check_space`].
    async fn check(&self, collection: &Value) -> Result<(), MemoryError> {
        let metadata = collection.get("metadata").and_then(Value::as_object);
        let distance = collection
            .pointer("/configuration_json/hnsw/space")
            .and_then(Value::as_str)
            .or_else(|| {
                metadata
                    .and_then(|m| m.get(SPACE_KEY))
                    .and_then(Value::as_str)
            })
            // Chroma's default.
            .unwrap_or("l2");
        if distance != "cosine" {
            return Err(MemoryError::Mismatch(format!(
                "{} compares vectors by {distance}, aios needs cosine: set memory.collection \
                 to another name",
                self.store()
            )));
        }
        let recorded_dims = metadata
            .and_then(|m| m.get(DIMS_KEY))
            .and_then(Value::as_u64);
        let held_dims = collection.get("dimension").and_then(Value::as_u64);
        for d in [held_dims, recorded_dims].into_iter().flatten() {
            if d != self.dims as u64 {
                return Err(MemoryError::Mismatch(format!(
                    "{} holds {d}-dimensional vectors, but memory.dims is {}: set memory.dims \
                     to {d} or memory.collection to another name",
                    self.store(),
                    self.dims
                )));
            }
        }
        let recorded = metadata
            .and_then(|m| m.get(EMBEDDER_KEY))
            .and_then(Value::as_str)
            .filter(|name| *name != VectorSpace::UNRECORDED)
            .map(|name| VectorSpace::new(name, recorded_dims.map_or(self.dims, |d| d as usize)));
        let empty = self.count(&MemoryFilter::default()).await? == 0;
        let dims = held_dims.map(|d| d as usize);
        match check_space(&self.store(), recorded.as_ref(), dims, empty, &self.space)? {
            SpaceCheck::Keep => Ok(()),
            SpaceCheck::Record if !self.space.is_recorded() => Ok(()),
            SpaceCheck::Record => {
                // Chroma replaces the whole metadata: keep what else is there.
                let mut new = metadata.cloned().unwrap_or_default();
                new.insert(SPACE_KEY.into(), json!("cosine"));
                new.insert(EMBEDDER_KEY.into(), json!(self.space.embedder));
                new.insert(DIMS_KEY.into(), json!(self.dims));
                self.call(
                    Verb::Put,
                    &self.collection_path(""),
                    Some(&json!({ "new_metadata": new })),
                    "recording the embedder in the metadata",
                )
                .await?;
                Ok(())
            }
        }
    }

    fn collection_path(&self, rest: &str) -> String {
        format!("{}/{}{rest}", collections_path(), self.id)
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

    fn malformed(&self, doing: &str, what: &str) -> MemoryError {
        self.rest.malformed(&self.place(), doing, what)
    }

    fn check_vector(&self, vector: &[f32], what: &str) -> Result<(), MemoryError> {
        super::check_vector(self.dims, vector, what)
    }

    /// The ids (all, or those passing `filter`) the collection holds.
    async fn ids(&self, filter: &MemoryFilter) -> Result<Vec<String>, MemoryError> {
        let mut body = json!({ "include": [] });
        if let Some(w) = where_of(filter) {
            body["where"] = w;
        }
        let doing = "listing ids";
        let got = self
            .call(
                Verb::Post,
                &self.collection_path("/get"),
                Some(&body),
                doing,
            )
            .await?;
        strings(got.get("ids"))
            .ok_or_else(|| self.malformed(doing, "`ids` is not a list of strings"))
    }

    /// The records of `ids` (those that exist), as items.
    async fn items(&self, ids: &[String]) -> Result<Vec<MemoryItem>, MemoryError> {
        let doing = "reading records";
        let got = self
            .call(
                Verb::Post,
                &self.collection_path("/get"),
                Some(&json!({ "ids": ids, "include": ["metadatas", "documents"] })),
                doing,
            )
            .await?;
        let ids = strings(got.get("ids")).ok_or_else(|| self.malformed(doing, "no `ids`"))?;
        let documents = got.get("documents").and_then(Value::as_array);
        let metadatas = got.get("metadatas").and_then(Value::as_array);
        ids.into_iter()
            .enumerate()
            .map(|(i, id)| {
                let document = documents.and_then(|d| d.get(i));
                let metadata = metadatas.and_then(|m| m.get(i));
                item_of(id, document, metadata).map_err(|e| self.malformed(doing, &e))
            })
            .collect()
    }
}

#[async_trait]
impl VectorMemory for ChromaMemory {
    fn name(&self) -> &'static str {
        "chroma"
    }

    fn dims(&self) -> usize {
        self.dims
    }

    fn space(&self) -> VectorSpace {
        self.space.clone()
    }

    async fn upsert(&self, items: Vec<(MemoryItem, Vec<f32>)>) -> Result<(), MemoryError> {
        let records = super::last_per_id(&items, |v, what| self.check_vector(v, what))?;
        for batch in records.chunks(BATCH) {
            let mut ids = Vec::with_capacity(batch.len());
            let mut embeddings = Vec::with_capacity(batch.len());
            let mut documents = Vec::with_capacity(batch.len());
            let mut metadatas = Vec::with_capacity(batch.len());
            for (item, vector) in batch {
                ids.push(json!(item.id));
                embeddings.push(json!(vector));
                documents.push(json!(item.text));
                metadatas.push(metadata_of(item)?);
            }
            self.call(
                Verb::Post,
                &self.collection_path("/upsert"),
                Some(&json!({
                    "ids": ids,
                    "embeddings": embeddings,
                    "documents": documents,
                    "metadatas": metadatas,
                })),
                "upserting records",
            )
            .await?;
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
        let mut body = json!({
            "query_embeddings": [vector],
            "n_results": k,
            "include": ["metadatas", "documents", "distances"],
        });
        if let Some(w) = where_of(filter) {
            body["where"] = w;
        }
        let doing = "searching";
        let got = self
            .call(
                Verb::Post,
                &self.collection_path("/query"),
                Some(&body),
                doing,
            )
            .await?;
        // One list per query embedding; we send one.
        let first = |key: &str| {
            got.get(key)
                .and_then(Value::as_array)
                .and_then(|a| a.first())
        };
        let ids = strings(first("ids")).ok_or_else(|| self.malformed(doing, "no `ids`"))?;
        let distances = first("distances")
            .and_then(Value::as_array)
            .ok_or_else(|| self.malformed(doing, "no `distances`"))?;
        let documents = first("documents").and_then(Value::as_array);
        let metadatas = first("metadatas").and_then(Value::as_array);
        let mut found = Vec::with_capacity(ids.len());
        for (i, id) in ids.into_iter().enumerate() {
            let distance = distances
                .get(i)
                .and_then(Value::as_f64)
                .ok_or_else(|| self.malformed(doing, "a distance is missing"))?;
            let item = item_of(
                id,
                documents.and_then(|d| d.get(i)),
                metadatas.and_then(|m| m.get(i)),
            )
            .map_err(|e| self.malformed(doing, &e))?;
            found.push(ScoredItem {
                item,
                score: (1.0 - distance) as f32,
            });
        }
        Ok(found)
    }

    async fn delete(&self, ids: &[String]) -> Result<usize, MemoryError> {
        let mut seen = HashSet::new();
        let ids: Vec<String> = ids
            .iter()
            .filter(|id| seen.insert(id.as_str()))
            .cloned()
            .collect();
        let mut existed = 0;
        for batch in ids.chunks(BATCH) {
            let doing = "looking up records to delete";
            let got = self
                .call(
                    Verb::Post,
                    &self.collection_path("/get"),
                    Some(&json!({ "ids": batch, "include": [] })),
                    doing,
                )
                .await?;
            let present =
                strings(got.get("ids")).ok_or_else(|| self.malformed(doing, "no `ids`"))?;
            if present.is_empty() {
                continue;
            }
            existed += present.len();
            self.call(
                Verb::Post,
                &self.collection_path("/delete"),
                Some(&json!({ "ids": present })),
                "deleting records",
            )
            .await?;
        }
        Ok(existed)
    }

    async fn count(&self, filter: &MemoryFilter) -> Result<u64, MemoryError> {
        if where_of(filter).is_some() {
            // `count` takes no filter: count the matching ids.
            return Ok(self.ids(filter).await?.len() as u64);
        }
        let doing = "counting records";
        self.call(Verb::Get, &self.collection_path("/count"), None, doing)
            .await?
            .as_u64()
            .ok_or_else(|| self.malformed(doing, "the count is not a number"))
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
        let mut ids = self.ids(filter).await?;
        ids.retain(|id| after.is_none_or(|a| id.as_str() > a));
        ids.sort_unstable();
        ids.truncate(limit);
        if ids.is_empty() {
            return Ok(Vec::new());
        }
        let mut items = self.items(&ids).await?;
        // A record deleted between the two calls is simply not there.
        items.sort_by(|a, b| a.id.cmp(&b.id));
        Ok(items)
    }

    async fn destroy(&self) -> Result<(), MemoryError> {
        let path = format!("{}/{}", collections_path(), self.collection);
        match self.rest.call(Verb::Delete, &path, None, None).await {
            Ok(_) => Ok(()),
            Err(f) if f.is_not_found() => Ok(()),
            Err(f) => Err(self.rest.error(&self.place(), "deleting the collection", f)),
        }
    }
}

fn collections_path() -> String {
    format!("/api/v2/tenants/{TENANT}/databases/{DATABASE}/collections")
}

/// Chroma's rule for collection names, checked here so a bad one is a clear error (and
/// never lands in a URL path).
fn check_name(name: &str) -> Result<(), MemoryError> {
    let len = name.chars().count();
    let allowed = |c: char| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-');
    let ends = |c: Option<char>| c.is_some_and(|c| c.is_ascii_alphanumeric());
    if (3..=512).contains(&len)
        && name.chars().all(allowed)
        && ends(name.chars().next())
        && ends(name.chars().last())
    {
        Ok(())
    } else {
        Err(MemoryError::Storage(format!(
            "memory.collection `{name}` is not a Chroma collection name: 3 to 512 of \
             a-z A-Z 0-9 . _ -, starting and ending with a letter or digit"
        )))
    }
}

/// A `where` for what the filter names; `None` when it names nothing.
fn where_of(filter: &MemoryFilter) -> Option<Value> {
    let mut conditions: Vec<Value> = [("agent_id", &filter.agent_id), ("kind", &filter.kind)]
        .into_iter()
        .filter_map(|(field, value)| value.as_ref().map(|v| json!({ field: { "$eq": v } })))
        .collect();
    match conditions.len() {
        0 => None,
        1 => conditions.pop(),
        _ => Some(json!({ "$and": conditions })),
    }
}

fn metadata_of(item: &MemoryItem) -> Result<Value, MemoryError> {
    let tags = serde_json::to_string(&item.tags)
        .map_err(|e| MemoryError::Storage(format!("item {}: {e}", item.id)))?;
    Ok(json!({
        "agent_id": item.agent_id,
        "kind": item.kind,
        "ts": item.ts,
        "tags": tags,
    }))
}

/// A record back as an item; the reason when it is not one.
fn item_of(
    id: String,
    document: Option<&Value>,
    metadata: Option<&Value>,
) -> Result<MemoryItem, String> {
    let metadata = metadata
        .and_then(Value::as_object)
        .ok_or_else(|| format!("record `{id}` has no metadata"))?;
    let field = |key: &str| {
        metadata
            .get(key)
            .and_then(Value::as_str)
            .map(str::to_string)
            .ok_or_else(|| format!("record `{id}` has no `{key}` in its metadata"))
    };
    let tags: Vec<String> = serde_json::from_str(&field("tags")?)
        .map_err(|e| format!("record `{id}`: `tags` is not a JSON list of strings: {e}"))?;
    let text = document
        .and_then(Value::as_str)
        .ok_or_else(|| format!("record `{id}` has no document"))?
        .to_string();
    Ok(MemoryItem {
        agent_id: field("agent_id")?,
        kind: field("kind")?,
        ts: field("ts")?,
        tags,
        text,
        id,
    })
}

fn strings(value: Option<&Value>) -> Option<Vec<String>> {
    value?
        .as_array()?
        .iter()
        .map(|v| v.as_str().map(str::to_string))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_filter_becomes_a_where() {
        assert_eq!(where_of(&MemoryFilter::default()), None);
        assert_eq!(
            where_of(&MemoryFilter::agent("a")),
            Some(json!({ "agent_id": { "$eq": "a" } }))
        );
        assert_eq!(
            where_of(&MemoryFilter {
                agent_id: Some("a".into()),
                kind: Some("fact".into())
            }),
            Some(json!({ "$and": [
                { "agent_id": { "$eq": "a" } },
                { "kind": { "$eq": "fact" } }
            ] }))
        );
    }

    #[test]
    fn collection_names_follow_chromas_rule() {
        for ok in ["aios_memory", "a.b-c", "abc", "X9z"] {
            assert!(check_name(ok).is_ok(), "{ok}");
        }
        for bad in ["ab", "-abc", "abc_", "a/b/c", "a b c", "mémoire", ""] {
            assert!(check_name(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn a_record_that_is_not_an_item_is_a_reason_not_a_panic() {
        let good = json!({"agent_id": "a", "kind": "fact", "ts": "t", "tags": "[\"x\"]"});
        let item = item_of("id".into(), Some(&json!("text")), Some(&good)).expect("item");
        assert_eq!(item.tags, ["x"]);
        assert!(item_of("id".into(), None, Some(&good)).is_err());
        assert!(item_of("id".into(), Some(&json!("t")), None).is_err());
        let bad_tags = json!({"agent_id": "a", "kind": "fact", "ts": "t", "tags": "x"});
        assert!(
            item_of("id".into(), Some(&json!("t")), Some(&bad_tags))
                .unwrap_err()
                .contains("tags")
        );
        let no_kind = json!({"agent_id": "a", "ts": "t", "tags": "[]"});
        assert!(
            item_of("id".into(), Some(&json!("t")), Some(&no_kind))
                .unwrap_err()
                .contains("kind")
        );
    }
}
