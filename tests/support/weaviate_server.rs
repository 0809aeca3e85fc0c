//! An in-memory Weaviate speaking Weaviate's REST v1 and GraphQL wire format, for tests on
//! machines without one. Written from Weaviate's public API reference; it serves on a free
//! port of 127.0.0.1 (axum, on the current tokio runtime).
//!
//! What it implements, with Weaviate's paths, JSON shapes and error bodies
//! (`{"error": [{"message": …}]}`, GraphQL's `{"errors": [{"message": …}]}` in a 200):
//! - `GET /v1/meta`, `GET /v1/.well-known/ready`;
//! - `GET|POST /v1/schema`, `GET|PUT|DELETE /v1/schema/{class}`: class names checked
//!   (`^[A-Z][_0-9A-Za-z]*$`), defaults filled in (`vectorizer: none`, `hnsw`, distance
//!   `cosine`, `word` tokenization), a second class of the same name refused with 422; a
//!   PUT may change the description but not the distance or the properties;
//! - `POST /v1/batch/objects`: per-object results, an object of an unknown class, with an
//!   unknown property, a value of the wrong type or a vector of another length than the
//!   class's refused in its own `result.errors` (the others are written), replace by id;
//! - `GET /v1/objects?class=&limit=&include=vector&after=` (by id with `after`, newest
//!   first without), `GET|DELETE /v1/objects/{class}/{id}` (204 / 404);
//! - `POST /v1/graphql`, a parsed subset of GraphQL: `Get` with `nearVector {vector}`,
//!   `where`, `limit`, `offset` and `sort`, selecting properties and `_additional { id
//!   distance vector }`; `Aggregate` with `where` selecting `meta { count }`. `where` takes
//!   `And` / `Or` over `Equal`, `NotEqual`, `GreaterThan`, `GreaterThanEqual`, `LessThan`,
//!   `LessThanEqual` on text (whole-value, for `field` tokenization) and numbers. Anything
//!   else is a GraphQL error naming what is not implemented, so a client relying on more
//!   fails loudly instead of passing by accident.
//!
//! Cosine distance is 1 − cosine similarity (a zero vector is at distance 1 from
//! everything). An empty text array comes back as `null`, as Weaviate gives it. As in
//! Weaviate, `sort` compares text case-insensitively (the lower-cased strings; missing
//! values first) while `where` compares text by its bytes.
//!
//! It records what it was sent (objects per batch call, every GraphQL query) so tests can
//! check the client batches and filters as it claims.
#![allow(dead_code)]

use std::collections::{BTreeMap, HashMap};
use std::net::SocketAddr;
use std::sync::{Arc, Mutex, MutexGuard};

use axum::Json;
use axum::Router;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use serde_json::{Map, Value, json};

/// A running in-test Weaviate; stops when dropped.
pub struct InTestWeaviate {
    addr: SocketAddr,
    state: Shared,
    task: tokio::task::JoinHandle<()>,
}

type Shared = Arc<Mutex<Db>>;

#[derive(Default)]
struct Db {
    classes: BTreeMap<String, Class>,
    batches: Vec<usize>,
    queries: Vec<String>,
    clock: u64,
}

struct Class {
    def: Value,
    /// By lower-case hyphenated UUID.
    objects: BTreeMap<String, Object>,
}

#[derive(Clone)]
struct Object {
    id: String,
    properties: Map<String, Value>,
    vector: Vec<f32>,
    created: u64,
    updated: u64,
}

impl InTestWeaviate {
    pub async fn start() -> Self {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind a free port");
        let addr = listener.local_addr().expect("local addr");
        let state: Shared = Arc::default();
        let app = Router::new()
            .route("/v1/meta", get(meta))
            .route("/v1/.well-known/ready", get(|| async { StatusCode::OK }))
            .route("/v1/schema", get(list_classes).post(create_class))
            .route(
                "/v1/schema/{class}",
                get(get_class).put(update_class).delete(delete_class),
            )
            .route("/v1/batch/objects", post(batch_objects))
            .route("/v1/objects", get(list_objects))
            .route(
                "/v1/objects/{class}/{id}",
                get(get_object).delete(delete_object),
            )
            .route("/v1/graphql", post(graphql))
            .with_state(Arc::clone(&state));
        let task = tokio::spawn(async move {
            if let Err(e) = axum::serve(listener, app).await {
                eprintln!("in-test weaviate stopped with an error: {e}");
            }
        });
        Self { addr, state, task }
    }

    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    fn lock(&self) -> MutexGuard<'_, Db> {
        lock(&self.state)
    }

    /// Names of the existing classes, sorted.
    pub fn classes(&self) -> Vec<String> {
        self.lock().classes.keys().cloned().collect()
    }

    /// A class's definition as `GET /v1/schema/{class}` gives it.
    pub fn class_json(&self, class: &str) -> Option<Value> {
        self.lock().classes.get(class).map(|c| c.def.clone())
    }

    /// Objects sent by each batch call, in order.
    pub fn batches(&self) -> Vec<usize> {
        self.lock().batches.clone()
    }

    /// Every GraphQL query received, in order.
    pub fn queries(&self) -> Vec<String> {
        self.lock().queries.clone()
    }

    /// Make a class behind the client's back (as `POST /v1/schema` would).
    pub fn create_class(&self, def: Value) {
        let mut db = self.lock();
        let def = match complete_class(def, &db) {
            Ok(d) => d,
            Err((_, message)) => panic!("in-test weaviate: {message}"),
        };
        let name = def["class"].as_str().unwrap_or_default().to_string();
        db.classes.insert(
            name,
            Class {
                def,
                objects: BTreeMap::new(),
            },
        );
    }

    /// Store an object behind the client's back (as one batch object would be).
    pub fn insert_object(&self, object: Value) {
        let mut db = self.lock();
        if let Some(message) = put_object(&mut db, &object) {
            panic!("in-test weaviate: {message}");
        }
    }
}

impl Drop for InTestWeaviate {
    fn drop(&mut self) {
        self.task.abort();
    }
}

fn lock(state: &Shared) -> MutexGuard<'_, Db> {
    state.lock().unwrap_or_else(|p| p.into_inner())
}

type Answer = Result<Response, Response>;

/// Weaviate's REST error body.
fn error(status: StatusCode, message: impl Into<String>) -> Response {
    (
        status,
        Json(json!({ "error": [{ "message": message.into() }] })),
    )
        .into_response()
}

fn ok(value: Value) -> Response {
    (StatusCode::OK, Json(value)).into_response()
}

async fn meta() -> Response {
    ok(json!({
        "hostname": "http://[::]:8080",
        "modules": {},
        "version": "1.30.0",
    }))
}

async fn list_classes(State(state): State<Shared>) -> Response {
    let db = lock(&state);
    let classes: Vec<Value> = db.classes.values().map(|c| c.def.clone()).collect();
    ok(json!({ "classes": classes }))
}

fn valid_class_name(name: &str) -> bool {
    let mut chars = name.chars();
    chars.next().is_some_and(|c| c.is_ascii_uppercase())
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
}

fn valid_property_name(name: &str) -> bool {
    let mut chars = name.chars();
    chars
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
}

const DATA_TYPES: [&str; 7] = ["text", "text[]", "int", "number", "boolean", "date", "uuid"];
const DISTANCES: [&str; 5] = ["cosine", "dot", "l2-squared", "hamming", "manhattan"];

/// A class definition as Weaviate stores it, defaults filled in; 422 with Weaviate's
/// message when it is not valid.
fn complete_class(mut def: Value, db: &Db) -> Result<Value, (StatusCode, String)> {
    let unprocessable = |m: String| (StatusCode::UNPROCESSABLE_ENTITY, m);
    let Some(obj) = def.as_object_mut() else {
        return Err(unprocessable(
            "the class definition is not an object".into(),
        ));
    };
    let name = obj
        .get("class")
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_string();
    if !valid_class_name(&name) {
        return Err(unprocessable(format!("'{name}' is not a valid class name")));
    }
    if db
        .classes
        .keys()
        .any(|existing| existing.eq_ignore_ascii_case(&name))
    {
        return Err(unprocessable(format!(
            "class name \"{name}\" already exists"
        )));
    }
    obj.entry("vectorizer").or_insert(json!("none"));
    obj.entry("vectorIndexType").or_insert(json!("hnsw"));
    let index = obj.entry("vectorIndexConfig").or_insert(json!({}));
    let Some(index) = index.as_object_mut() else {
        return Err(unprocessable("vectorIndexConfig is not an object".into()));
    };
    let distance = index.entry("distance").or_insert(json!("cosine"));
    if !distance.as_str().is_some_and(|d| DISTANCES.contains(&d)) {
        return Err(unprocessable(format!(
            "vectorIndexConfig.distance {distance} is not supported"
        )));
    }
    let properties = obj.entry("properties").or_insert(json!([]));
    let Some(properties) = properties.as_array_mut() else {
        return Err(unprocessable("properties is not a list".into()));
    };
    for p in properties.iter_mut() {
        let pname = p
            .get("name")
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_string();
        if !valid_property_name(&pname) {
            return Err(unprocessable(format!(
                "'{pname}' is not a valid property name"
            )));
        }
        let data_type = p
            .pointer("/dataType/0")
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_string();
        if !DATA_TYPES.contains(&data_type.as_str()) {
            return Err(unprocessable(format!(
                "property '{pname}': invalid dataType: {data_type}"
            )));
        }
        if data_type.starts_with("text") && p.get("tokenization").is_none() {
            p["tokenization"] = json!("word");
        }
    }
    Ok(def)
}

async fn create_class(State(state): State<Shared>, body: Option<Json<Value>>) -> Response {
    let Some(Json(def)) = body else {
        return error(StatusCode::UNPROCESSABLE_ENTITY, "the body is not JSON");
    };
    let mut db = lock(&state);
    match complete_class(def, &db) {
        Ok(def) => {
            let name = def["class"].as_str().unwrap_or_default().to_string();
            db.classes.insert(
                name,
                Class {
                    def: def.clone(),
                    objects: BTreeMap::new(),
                },
            );
            ok(def)
        }
        Err((status, message)) => error(status, message),
    }
}

async fn get_class(State(state): State<Shared>, Path(class): Path<String>) -> Response {
    match lock(&state).classes.get(&class) {
        Some(c) => ok(c.def.clone()),
        // Weaviate answers an unknown class with an empty 404.
        None => StatusCode::NOT_FOUND.into_response(),
    }
}

async fn update_class(
    State(state): State<Shared>,
    Path(class): Path<String>,
    body: Option<Json<Value>>,
) -> Response {
    let Some(Json(new)) = body else {
        return error(StatusCode::UNPROCESSABLE_ENTITY, "the body is not JSON");
    };
    let mut db = lock(&state);
    let Some(existing) = db.classes.get_mut(&class) else {
        return error(StatusCode::NOT_FOUND, format!("class '{class}' not found"));
    };
    if new.get("class").and_then(Value::as_str) != Some(class.as_str()) {
        return error(
            StatusCode::UNPROCESSABLE_ENTITY,
            "class name is immutable: the body's class differs from the path",
        );
    }
    let distance = |v: &Value| {
        v.pointer("/vectorIndexConfig/distance")
            .and_then(Value::as_str)
            .unwrap_or("cosine")
            .to_string()
    };
    if distance(&new) != distance(&existing.def) {
        return error(
            StatusCode::UNPROCESSABLE_ENTITY,
            "vector index config: distance is immutable",
        );
    }
    let names = |v: &Value| -> Vec<String> {
        v.get("properties")
            .and_then(Value::as_array)
            .map(|ps| {
                ps.iter()
                    .filter_map(|p| p.get("name").and_then(Value::as_str).map(str::to_string))
                    .collect()
            })
            .unwrap_or_default()
    };
    if names(&new) != names(&existing.def) {
        return error(
            StatusCode::UNPROCESSABLE_ENTITY,
            "properties cannot be updated through updating the class. Use the add property \
             feature (e.g. \"POST /v1/schema/{className}/properties\") to add additional \
             properties",
        );
    }
    if let Some(d) = new.get("description") {
        existing.def["description"] = d.clone();
    }
    ok(existing.def.clone())
}

async fn delete_class(State(state): State<Shared>, Path(class): Path<String>) -> Response {
    // Weaviate answers 200 whether or not the class was there.
    lock(&state).classes.remove(&class);
    StatusCode::OK.into_response()
}

/// Store one batch object; the reason it is refused otherwise.
fn put_object(db: &mut Db, object: &Value) -> Option<String> {
    let class_name = object.get("class").and_then(Value::as_str).unwrap_or("");
    let id = match object.get("id").and_then(Value::as_str) {
        Some(text) => match uuid::Uuid::parse_str(text) {
            Ok(u) => u.hyphenated().to_string(),
            Err(_) => return Some(format!("id in body must be of type uuid: \"{text}\"")),
        },
        None => uuid::Uuid::new_v4().hyphenated().to_string(),
    };
    db.clock += 1;
    let now = db.clock;
    let Some(class) = db.classes.get_mut(class_name) else {
        return Some(format!("class \"{class_name}\" not found in schema"));
    };
    let vector: Vec<f32> = match object.get("vector") {
        None | Some(Value::Null) => Vec::new(),
        Some(Value::Array(list)) => {
            match list.iter().map(|x| x.as_f64().map(|f| f as f32)).collect() {
                Some(v) => v,
                None => return Some("vector: every component must be a number".into()),
            }
        }
        Some(_) => return Some("vector must be a list of numbers".into()),
    };
    if let Some(other) = class.objects.values().find(|o| !o.vector.is_empty())
        && !vector.is_empty()
        && other.vector.len() != vector.len()
    {
        return Some(format!(
            "new node has a vector with length {}. Existing nodes have vectors with length {}",
            vector.len(),
            other.vector.len()
        ));
    }
    let props = object
        .get("properties")
        .and_then(Value::as_object)
        .cloned()
        .unwrap_or_default();
    for (key, value) in &props {
        let Some(data_type) = property_type(&class.def, key) else {
            return Some(format!(
                "no such prop with name '{key}' found in class '{class_name}' in the schema. \
                 Check your schema files for which properties in this class are available"
            ));
        };
        let fits = match data_type.as_str() {
            "text" | "date" | "uuid" => value.is_string(),
            "text[]" => value
                .as_array()
                .is_some_and(|a| a.iter().all(Value::is_string)),
            "int" => value.is_i64() || value.is_u64(),
            "number" => value.is_number(),
            "boolean" => value.is_boolean(),
            _ => false,
        };
        if !fits && !value.is_null() {
            return Some(format!(
                "invalid {data_type} property '{key}' on class '{class_name}': not a {data_type}"
            ));
        }
    }
    let created = class.objects.get(&id).map_or(now, |o| o.created);
    class.objects.insert(
        id.clone(),
        Object {
            id,
            properties: props,
            vector,
            created,
            updated: now,
        },
    );
    None
}

fn property_type(def: &Value, name: &str) -> Option<String> {
    def.get("properties")?
        .as_array()?
        .iter()
        .find(|p| p.get("name").and_then(Value::as_str) == Some(name))?
        .pointer("/dataType/0")?
        .as_str()
        .map(str::to_string)
}

fn tokenization(def: &Value, name: &str) -> Option<String> {
    def.get("properties")?
        .as_array()?
        .iter()
        .find(|p| p.get("name").and_then(Value::as_str) == Some(name))?
        .get("tokenization")?
        .as_str()
        .map(str::to_string)
}

async fn batch_objects(State(state): State<Shared>, body: Option<Json<Value>>) -> Response {
    let Some(objects) = body
        .as_ref()
        .and_then(|Json(b)| b.get("objects"))
        .and_then(Value::as_array)
    else {
        return error(
            StatusCode::UNPROCESSABLE_ENTITY,
            "the body must be an object with a list `objects`",
        );
    };
    let mut db = lock(&state);
    db.batches.push(objects.len());
    let results: Vec<Value> = objects
        .iter()
        .map(|object| {
            let mut echoed = object.clone();
            let result = match put_object(&mut db, object) {
                None => json!({}),
                Some(message) => json!({ "errors": { "error": [{ "message": message }] } }),
            };
            if let Some(o) = echoed.as_object_mut() {
                o.insert("result".into(), result);
                o.insert("creationTimeUnix".into(), json!(db.clock));
            }
            echoed
        })
        .collect();
    ok(Value::Array(results))
}

fn object_json(class: &str, o: &Object, with_vector: bool) -> Value {
    let mut v = json!({
        "class": class,
        "id": o.id,
        "properties": o.properties,
        "creationTimeUnix": o.created,
        "lastUpdateTimeUnix": o.updated,
    });
    if with_vector {
        v["vector"] = json!(o.vector);
    }
    v
}

async fn list_objects(
    State(state): State<Shared>,
    Query(query): Query<HashMap<String, String>>,
) -> Response {
    let db = lock(&state);
    let Some(class_name) = query.get("class") else {
        return ok(json!({ "objects": [], "totalResults": 0, "deprecations": null }));
    };
    let Some(class) = db.classes.get(class_name) else {
        return error(
            StatusCode::NOT_FOUND,
            format!("class \"{class_name}\" not found in schema"),
        );
    };
    let limit = match query.get("limit").map(|l| l.parse::<usize>()) {
        None => 25,
        Some(Ok(l)) => l,
        Some(Err(_)) => {
            return error(StatusCode::UNPROCESSABLE_ENTITY, "limit must be an integer");
        }
    };
    let with_vector = query
        .get("include")
        .is_some_and(|i| i.split(',').any(|p| p == "vector"));
    let mut objects: Vec<&Object> = class.objects.values().collect();
    match query.get("after") {
        // The cursor walks ids in order.
        Some(after) => objects.retain(|o| o.id.as_str() > after.as_str()),
        // Without it, newest first.
        None => objects.sort_by(|a, b| b.created.cmp(&a.created).then(a.id.cmp(&b.id))),
    }
    let page: Vec<Value> = objects
        .into_iter()
        .take(limit)
        .map(|o| object_json(class_name, o, with_vector))
        .collect();
    let total = page.len();
    ok(json!({ "objects": page, "totalResults": total, "deprecations": null }))
}

fn object_key(id: &str) -> Option<String> {
    uuid::Uuid::parse_str(id)
        .ok()
        .map(|u| u.hyphenated().to_string())
}

async fn get_object(
    State(state): State<Shared>,
    Path((class, id)): Path<(String, String)>,
) -> Response {
    let db = lock(&state);
    let found = object_key(&id).and_then(|key| db.classes.get(&class)?.objects.get(&key));
    match found {
        Some(o) => ok(object_json(&class, o, false)),
        None => StatusCode::NOT_FOUND.into_response(),
    }
}

async fn delete_object(
    State(state): State<Shared>,
    Path((class, id)): Path<(String, String)>,
) -> Response {
    let Some(key) = object_key(&id) else {
        return error(
            StatusCode::UNPROCESSABLE_ENTITY,
            format!("id must be of type uuid: \"{id}\""),
        );
    };
    let mut db = lock(&state);
    let removed = db
        .classes
        .get_mut(&class)
        .and_then(|c| c.objects.remove(&key))
        .is_some();
    if removed {
        StatusCode::NO_CONTENT.into_response()
    } else {
        StatusCode::NOT_FOUND.into_response()
    }
}

// ---- GraphQL --------------------------------------------------------------------------

async fn graphql(State(state): State<Shared>, body: Option<Json<Value>>) -> Answer {
    let Some(query) = body
        .as_ref()
        .and_then(|Json(b)| b.get("query"))
        .and_then(Value::as_str)
    else {
        return Err(error(
            StatusCode::UNPROCESSABLE_ENTITY,
            "the body must be an object with a string `query`",
        ));
    };
    let mut db = lock(&state);
    db.queries.push(query.to_string());
    // GraphQL errors come back in a 200, beside `data`.
    let answer = match parse_document(query).and_then(|fields| run(&db, &fields)) {
        Ok(data) => json!({ "data": data }),
        Err(message) => json!({ "data": null, "errors": [{ "message": message }] }),
    };
    Ok(ok(answer))
}

#[derive(Debug, Clone, PartialEq)]
enum GValue {
    Int(i64),
    Float(f64),
    Str(String),
    Bool(bool),
    Null,
    Enum(String),
    List(Vec<GValue>),
    Object(Vec<(String, GValue)>),
}

impl GValue {
    fn get(&self, key: &str) -> Option<&GValue> {
        match self {
            GValue::Object(fields) => fields.iter().find(|(k, _)| k == key).map(|(_, v)| v),
            _ => None,
        }
    }

    fn number(&self) -> Option<f64> {
        match self {
            GValue::Int(i) => Some(*i as f64),
            GValue::Float(f) => Some(*f),
            _ => None,
        }
    }
}

#[derive(Debug, Clone)]
struct Field {
    name: String,
    args: Vec<(String, GValue)>,
    selection: Vec<Field>,
}

#[derive(Debug, Clone, PartialEq)]
enum Token {
    Punct(char),
    Name(String),
    Int(i64),
    Float(f64),
    Str(String),
}

fn tokenize(text: &str) -> Result<Vec<Token>, String> {
    let chars: Vec<char> = text.chars().collect();
    let mut tokens = Vec::new();
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        match c {
            // Commas are insignificant in GraphQL, like white space.
            ' ' | '\t' | '\n' | '\r' | ',' | '\u{feff}' => i += 1,
            '#' => {
                while i < chars.len() && chars[i] != '\n' {
                    i += 1;
                }
            }
            '{' | '}' | '(' | ')' | '[' | ']' | ':' | '!' | '=' | '@' => {
                tokens.push(Token::Punct(c));
                i += 1;
            }
            '$' => return Err("in-test weaviate: GraphQL variables are not implemented".into()),
            '"' => {
                if chars.get(i + 1) == Some(&'"') && chars.get(i + 2) == Some(&'"') {
                    return Err("in-test weaviate: block strings are not implemented".into());
                }
                i += 1;
                let mut s = String::new();
                loop {
                    let Some(&c) = chars.get(i) else {
                        return Err("Syntax Error: Unterminated string.".into());
                    };
                    i += 1;
                    match c {
                        '"' => break,
                        '\n' | '\r' => return Err("Syntax Error: Unterminated string.".into()),
                        '\\' => {
                            let Some(&e) = chars.get(i) else {
                                return Err("Syntax Error: Unterminated string.".into());
                            };
                            i += 1;
                            match e {
                                '"' => s.push('"'),
                                '\\' => s.push('\\'),
                                '/' => s.push('/'),
                                'b' => s.push('\u{8}'),
                                'f' => s.push('\u{c}'),
                                'n' => s.push('\n'),
                                'r' => s.push('\r'),
                                't' => s.push('\t'),
                                'u' => {
                                    let hex: String = chars
                                        .get(i..i + 4)
                                        .map(|h| h.iter().collect())
                                        .unwrap_or_default();
                                    i += 4;
                                    let code = u32::from_str_radix(&hex, 16).map_err(|_| {
                                        format!("Syntax Error: Invalid character escape sequence: \\u{hex}")
                                    })?;
                                    // A surrogate pair is two escapes.
                                    if (0xD800..0xDC00).contains(&code) {
                                        let low: String = chars
                                            .get(i + 2..i + 6)
                                            .map(|h| h.iter().collect())
                                            .unwrap_or_default();
                                        let low = u32::from_str_radix(&low, 16).ok().filter(|l| {
                                            chars.get(i..i + 2) == Some(&['\\', 'u'][..])
                                                && (0xDC00..0xE000).contains(l)
                                        });
                                        let Some(low) = low else {
                                            return Err(
                                                "Syntax Error: Invalid surrogate pair".into()
                                            );
                                        };
                                        i += 6;
                                        let joined =
                                            0x10000 + ((code - 0xD800) << 10) + (low - 0xDC00);
                                        s.push(
                                            char::from_u32(joined)
                                                .ok_or("Syntax Error: Invalid surrogate pair")?,
                                        );
                                    } else {
                                        s.push(char::from_u32(code).ok_or_else(|| {
                                            format!("Syntax Error: Invalid character escape sequence: \\u{hex}")
                                        })?);
                                    }
                                }
                                other => {
                                    return Err(format!(
                                        "Syntax Error: Invalid character escape sequence: \\{other}"
                                    ));
                                }
                            }
                        }
                        c if (c as u32) < 0x20 && c != '\t' => {
                            return Err("Syntax Error: Invalid character within String".into());
                        }
                        c => s.push(c),
                    }
                }
                tokens.push(Token::Str(s));
            }
            c if c == '-' || c.is_ascii_digit() => {
                let start = i;
                i += 1;
                let mut float = false;
                while i < chars.len() {
                    let d = chars[i];
                    if d.is_ascii_digit() {
                        i += 1;
                    } else if d == '.' || d == 'e' || d == 'E' {
                        float = true;
                        i += 1;
                        if matches!(chars.get(i), Some('+' | '-')) {
                            i += 1;
                        }
                    } else {
                        break;
                    }
                }
                let text: String = chars[start..i].iter().collect();
                let token = if float {
                    text.parse().map(Token::Float).ok()
                } else {
                    text.parse().map(Token::Int).ok()
                };
                tokens.push(token.ok_or_else(|| format!("Syntax Error: Invalid number {text}"))?);
            }
            c if c == '_' || c.is_ascii_alphabetic() => {
                let start = i;
                while i < chars.len() && (chars[i] == '_' || chars[i].is_ascii_alphanumeric()) {
                    i += 1;
                }
                tokens.push(Token::Name(chars[start..i].iter().collect()));
            }
            other => {
                return Err(format!(
                    "Syntax Error: Cannot parse the unexpected character {other:?}."
                ));
            }
        }
    }
    Ok(tokens)
}

struct Parser {
    tokens: Vec<Token>,
    at: usize,
}

impl Parser {
    fn peek(&self) -> Option<&Token> {
        self.tokens.get(self.at)
    }

    fn next(&mut self) -> Option<Token> {
        let t = self.tokens.get(self.at).cloned();
        self.at += 1;
        t
    }

    fn expect(&mut self, c: char) -> Result<(), String> {
        match self.next() {
            Some(Token::Punct(p)) if p == c => Ok(()),
            other => Err(format!("Syntax Error: Expected \"{c}\", found {other:?}")),
        }
    }

    fn name(&mut self) -> Result<String, String> {
        match self.next() {
            Some(Token::Name(n)) => Ok(n),
            other => Err(format!("Syntax Error: Expected Name, found {other:?}")),
        }
    }

    fn selection_set(&mut self) -> Result<Vec<Field>, String> {
        self.expect('{')?;
        let mut fields = Vec::new();
        loop {
            if self.peek() == Some(&Token::Punct('}')) {
                self.at += 1;
                if fields.is_empty() {
                    return Err("Syntax Error: Expected Name, found \"}\"".into());
                }
                return Ok(fields);
            }
            fields.push(self.field()?);
        }
    }

    fn field(&mut self) -> Result<Field, String> {
        let name = self.name()?;
        if self.peek() == Some(&Token::Punct(':')) {
            return Err("in-test weaviate: field aliases are not implemented".into());
        }
        let mut args = Vec::new();
        if self.peek() == Some(&Token::Punct('(')) {
            self.at += 1;
            loop {
                if self.peek() == Some(&Token::Punct(')')) {
                    self.at += 1;
                    break;
                }
                let key = self.name()?;
                self.expect(':')?;
                args.push((key, self.value()?));
            }
        }
        if self.peek() == Some(&Token::Punct('@')) {
            return Err("in-test weaviate: directives are not implemented".into());
        }
        let selection = if self.peek() == Some(&Token::Punct('{')) {
            self.selection_set()?
        } else {
            Vec::new()
        };
        Ok(Field {
            name,
            args,
            selection,
        })
    }

    fn value(&mut self) -> Result<GValue, String> {
        match self.next() {
            Some(Token::Int(i)) => Ok(GValue::Int(i)),
            Some(Token::Float(f)) => Ok(GValue::Float(f)),
            Some(Token::Str(s)) => Ok(GValue::Str(s)),
            Some(Token::Name(n)) => Ok(match n.as_str() {
                "true" => GValue::Bool(true),
                "false" => GValue::Bool(false),
                "null" => GValue::Null,
                _ => GValue::Enum(n),
            }),
            Some(Token::Punct('[')) => {
                let mut list = Vec::new();
                loop {
                    if self.peek() == Some(&Token::Punct(']')) {
                        self.at += 1;
                        return Ok(GValue::List(list));
                    }
                    list.push(self.value()?);
                }
            }
            Some(Token::Punct('{')) => {
                let mut fields = Vec::new();
                loop {
                    if self.peek() == Some(&Token::Punct('}')) {
                        self.at += 1;
                        return Ok(GValue::Object(fields));
                    }
                    let key = self.name()?;
                    self.expect(':')?;
                    fields.push((key, self.value()?));
                }
            }
            other => Err(format!("Syntax Error: Unexpected {other:?}")),
        }
    }
}

/// The top-level fields of a query document (`{ … }` or `query [Name] { … }`).
fn parse_document(text: &str) -> Result<Vec<Field>, String> {
    let mut p = Parser {
        tokens: tokenize(text)?,
        at: 0,
    };
    match p.peek() {
        Some(Token::Name(n)) if n == "query" => {
            p.at += 1;
            if matches!(p.peek(), Some(Token::Name(_))) {
                p.at += 1;
            }
        }
        Some(Token::Name(n)) => {
            return Err(format!(
                "in-test weaviate: `{n}` operations are not implemented"
            ));
        }
        _ => {}
    }
    let fields = p.selection_set()?;
    if let Some(t) = p.peek() {
        return Err(format!("Syntax Error: Unexpected {t:?} after the query"));
    }
    Ok(fields)
}

fn run(db: &Db, fields: &[Field]) -> Result<Value, String> {
    let mut data = Map::new();
    for top in fields {
        let mut classes = Map::new();
        for field in &top.selection {
            let class = db.classes.get(&field.name).ok_or_else(|| {
                let kind = if top.name == "Get" {
                    "GetObjectsObj"
                } else {
                    "AggregateObjectsObj"
                };
                format!("Cannot query field \"{}\" on type \"{kind}\".", field.name)
            })?;
            let answer = match top.name.as_str() {
                "Get" => run_get(class, field)?,
                "Aggregate" => run_aggregate(class, field)?,
                other => {
                    return Err(format!(
                        "Cannot query field \"{other}\" on type \"WeaviateObj\"."
                    ));
                }
            };
            classes.insert(field.name.clone(), answer);
        }
        data.insert(top.name.clone(), Value::Object(classes));
    }
    Ok(Value::Object(data))
}

fn check_args(field: &Field, allowed: &[&str], type_name: &str) -> Result<(), String> {
    for (key, _) in &field.args {
        if !allowed.contains(&key.as_str()) {
            return Err(format!(
                "Unknown argument \"{key}\" on field \"{}\" of type \"{type_name}\".",
                field.name
            ));
        }
    }
    Ok(())
}

fn arg<'a>(field: &'a Field, key: &str) -> Option<&'a GValue> {
    field.args.iter().find(|(k, _)| k == key).map(|(_, v)| v)
}

fn filtered<'a>(class: &'a Class, field: &Field) -> Result<Vec<&'a Object>, String> {
    let mut objects = Vec::new();
    for o in class.objects.values() {
        let keep = match arg(field, "where") {
            Some(w) => matches_where(&class.def, w, o)?,
            None => true,
        };
        if keep {
            objects.push(o);
        }
    }
    Ok(objects)
}

fn usize_arg(field: &Field, key: &str) -> Result<Option<usize>, String> {
    match arg(field, key) {
        None => Ok(None),
        Some(GValue::Int(i)) if *i >= 0 => Ok(Some(*i as usize)),
        Some(other) => Err(format!("Argument \"{key}\" has invalid value {other:?}.")),
    }
}

fn run_get(class: &Class, field: &Field) -> Result<Value, String> {
    check_args(
        field,
        &["nearVector", "where", "limit", "offset", "sort"],
        "GetObjectsObj",
    )?;
    let mut objects = filtered(class, field)?;
    let mut distances: HashMap<String, f64> = HashMap::new();
    let near = arg(field, "nearVector");
    let sort = arg(field, "sort");
    if near.is_some() && sort.is_some() {
        return Err("explorer: list class: search: invalid parameters: sort cannot be set with other searchers".into());
    }
    if let Some(near) = near {
        let GValue::Object(params) = near else {
            return Err("Argument \"nearVector\" has invalid value.".into());
        };
        for (k, _) in params {
            if k != "vector" {
                return Err(format!(
                    "in-test weaviate: nearVector.{k} is not implemented"
                ));
            }
        }
        let query: Vec<f64> = match near.get("vector") {
            Some(GValue::List(items)) => items
                .iter()
                .map(GValue::number)
                .collect::<Option<_>>()
                .ok_or("nearVector.vector must be a list of numbers")?,
            _ => return Err("nearVector needs a vector".into()),
        };
        if let Some(o) = class.objects.values().find(|o| !o.vector.is_empty())
            && o.vector.len() != query.len()
        {
            return Err(format!(
                "explorer: get class: vector search: object vector search at index {}: vector lengths don't match: {} vs {}",
                class.def["class"]
                    .as_str()
                    .unwrap_or_default()
                    .to_lowercase(),
                query.len(),
                o.vector.len()
            ));
        }
        for o in &objects {
            distances.insert(o.id.clone(), cosine_distance(&o.vector, &query));
        }
        objects.retain(|o| !o.vector.is_empty());
        objects.sort_by(|a, b| {
            distances[&a.id]
                .total_cmp(&distances[&b.id])
                .then(a.id.cmp(&b.id))
        });
    } else if let Some(sort) = sort {
        let GValue::List(keys) = sort else {
            return Err("Argument \"sort\" has invalid value.".into());
        };
        let mut order: Vec<(String, bool)> = Vec::new();
        for key in keys {
            let path = match key.get("path") {
                Some(GValue::List(p)) if p.len() == 1 => match &p[0] {
                    GValue::Str(s) => s.clone(),
                    _ => return Err("sort path must be a list of one property name".into()),
                },
                _ => return Err("sort path must be a list of one property name".into()),
            };
            if property_type(&class.def, &path).is_none() {
                return Err(format!(
                    "no such prop with name '{path}' found in class '{}' in the schema",
                    class.def["class"].as_str().unwrap_or_default()
                ));
            }
            let descending = match key.get("order") {
                None => false,
                Some(GValue::Enum(o)) if o == "asc" => false,
                Some(GValue::Enum(o)) if o == "desc" => true,
                Some(other) => return Err(format!("invalid sort order {other:?}")),
            };
            order.push((path, descending));
        }
        objects.sort_by(|a, b| {
            for (path, descending) in &order {
                let ord = sort_compare(a.properties.get(path), b.properties.get(path));
                let ord = if *descending { ord.reverse() } else { ord };
                if ord.is_ne() {
                    return ord;
                }
            }
            a.id.cmp(&b.id)
        });
    }
    let offset = usize_arg(field, "offset")?.unwrap_or(0);
    // QUERY_DEFAULTS_LIMIT.
    let limit = usize_arg(field, "limit")?.unwrap_or(10);
    let class_name = class.def["class"].as_str().unwrap_or_default();
    let mut out = Vec::new();
    for o in objects.into_iter().skip(offset).take(limit) {
        let mut row = Map::new();
        for sel in &field.selection {
            if sel.name == "_additional" {
                let mut extra = Map::new();
                for a in &sel.selection {
                    let v = match a.name.as_str() {
                        "id" => json!(o.id),
                        "distance" => distances.get(&o.id).map_or(Value::Null, |d| json!(d)),
                        "vector" => json!(o.vector),
                        "creationTimeUnix" => json!(o.created.to_string()),
                        other => {
                            return Err(format!(
                                "in-test weaviate: _additional {{ {other} }} is not implemented"
                            ));
                        }
                    };
                    extra.insert(a.name.clone(), v);
                }
                row.insert("_additional".into(), Value::Object(extra));
                continue;
            }
            if property_type(&class.def, &sel.name).is_none() {
                return Err(format!(
                    "Cannot query field \"{}\" on type \"{class_name}\".",
                    sel.name
                ));
            }
            let value = match o.properties.get(&sel.name) {
                Some(Value::Array(a)) if a.is_empty() => Value::Null,
                Some(v) => v.clone(),
                None => Value::Null,
            };
            row.insert(sel.name.clone(), value);
        }
        out.push(Value::Object(row));
    }
    Ok(Value::Array(out))
}

fn run_aggregate(class: &Class, field: &Field) -> Result<Value, String> {
    check_args(field, &["where"], "AggregateObjectsObj")?;
    let objects = filtered(class, field)?;
    let mut row = Map::new();
    for sel in &field.selection {
        match (sel.name.as_str(), sel.selection.as_slice()) {
            ("meta", [count]) if count.name == "count" => {
                row.insert("meta".into(), json!({ "count": objects.len() }));
            }
            _ => {
                return Err(format!(
                    "in-test weaviate: Aggregate {} is not implemented (only meta {{ count }})",
                    sel.name
                ));
            }
        }
    }
    Ok(json!([row]))
}

fn cosine_distance(stored: &[f32], query: &[f64]) -> f64 {
    let dot: f64 = stored
        .iter()
        .zip(query)
        .map(|(a, b)| f64::from(*a) * b)
        .sum();
    let na = stored
        .iter()
        .map(|a| f64::from(*a).powi(2))
        .sum::<f64>()
        .sqrt();
    let nb = query.iter().map(|b| b * b).sum::<f64>().sqrt();
    if na == 0.0 || nb == 0.0 {
        1.0
    } else {
        1.0 - dot / (na * nb)
    }
}

/// Weaviate's sorter: text by its lower-cased form (strings equal but for case are
/// equal), numbers by value, missing values first.
fn sort_compare(a: Option<&Value>, b: Option<&Value>) -> std::cmp::Ordering {
    match (a, b) {
        (Some(Value::String(x)), Some(Value::String(y))) => x.to_lowercase().cmp(&y.to_lowercase()),
        _ => compare_json(a, b),
    }
}

/// A `where` comparison: text by its bytes, numbers by value.
fn compare_json(a: Option<&Value>, b: Option<&Value>) -> std::cmp::Ordering {
    use std::cmp::Ordering;
    match (a, b) {
        (Some(Value::String(x)), Some(Value::String(y))) => x.as_bytes().cmp(y.as_bytes()),
        (Some(Value::Number(x)), Some(Value::Number(y))) => x
            .as_f64()
            .unwrap_or(0.0)
            .total_cmp(&y.as_f64().unwrap_or(0.0)),
        (None | Some(Value::Null), None | Some(Value::Null)) => Ordering::Equal,
        // Missing values sort first.
        (None | Some(Value::Null), _) => Ordering::Less,
        (_, None | Some(Value::Null)) => Ordering::Greater,
        _ => Ordering::Equal,
    }
}

fn matches_where(def: &Value, w: &GValue, o: &Object) -> Result<bool, String> {
    let operator = match w.get("operator") {
        Some(GValue::Enum(op)) => op.as_str(),
        _ => return Err("where: an operator is required".into()),
    };
    if matches!(operator, "And" | "Or") {
        let Some(GValue::List(operands)) = w.get("operands") else {
            return Err(format!("where: {operator} needs operands"));
        };
        let mut results = Vec::with_capacity(operands.len());
        for operand in operands {
            results.push(matches_where(def, operand, o)?);
        }
        return Ok(if operator == "And" {
            results.iter().all(|r| *r)
        } else {
            results.iter().any(|r| *r)
        });
    }
    let path = match w.get("path") {
        Some(GValue::List(p)) if p.len() == 1 => match &p[0] {
            GValue::Str(s) => s.clone(),
            _ => return Err("where: path must be a list of one property name".into()),
        },
        _ => {
            return Err(
                "in-test weaviate: where paths other than one property are not implemented".into(),
            );
        }
    };
    let class_name = def["class"].as_str().unwrap_or_default();
    let Some(data_type) = property_type(def, &path) else {
        return Err(format!(
            "no such prop with name '{path}' found in class '{class_name}' in the schema. Check \
             your schema files for which properties in this class are available"
        ));
    };
    let value = if let Some(v) = w.get("valueText").or(w.get("valueString")) {
        match v {
            GValue::Str(s) => json!(s),
            _ => return Err("where: valueText must be a string".into()),
        }
    } else if let Some(v) = w.get("valueInt").or(w.get("valueNumber")) {
        json!(
            v.number()
                .ok_or("where: valueInt/valueNumber must be a number")?
        )
    } else if let Some(GValue::Bool(b)) = w.get("valueBoolean") {
        json!(b)
    } else {
        return Err("in-test weaviate: this where value type is not implemented".into());
    };
    if data_type.starts_with("text")
        && operator == "Equal"
        && tokenization(def, &path).as_deref() != Some("field")
    {
        return Err(format!(
            "in-test weaviate: Equal on the {} tokenized property '{path}' is not implemented \
             (only field tokenization)",
            tokenization(def, &path).unwrap_or_default()
        ));
    }
    let stored: Vec<&Value> = match o.properties.get(&path) {
        None | Some(Value::Null) => Vec::new(),
        Some(Value::Array(a)) => a.iter().collect(),
        Some(v) => vec![v],
    };
    let test = |s: &Value| {
        let ord = compare_json(Some(s), Some(&value));
        match operator {
            "Equal" => Ok(ord.is_eq()),
            "NotEqual" => Ok(ord.is_ne()),
            "GreaterThan" => Ok(ord.is_gt()),
            "GreaterThanEqual" => Ok(ord.is_ge()),
            "LessThan" => Ok(ord.is_lt()),
            "LessThanEqual" => Ok(ord.is_le()),
            other => Err(format!(
                "in-test weaviate: where operator {other} is not implemented"
            )),
        }
    };
    let mut any = false;
    for s in stored {
        any |= test(s)?;
    }
    Ok(any)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_the_queries_the_client_sends() {
        let fields = parse_document(
            r#"{ Get { AiosMemory(nearVector: {vector: [1.0,-2e-3,0]}, limit: 3, where: {operator: And, operands: [{path: ["agent_id"], operator: Equal, valueText: "a \"b\" \u00e9"}]}) { item_id _additional { id distance } } } }"#,
        )
        .expect("parse");
        let class = &fields[0].selection[0];
        assert_eq!(class.name, "AiosMemory");
        assert_eq!(arg(class, "limit"), Some(&GValue::Int(3)));
        let w = arg(class, "where").expect("where");
        let Some(GValue::List(ops)) = w.get("operands") else {
            panic!("operands")
        };
        assert_eq!(
            ops[0].get("valueText"),
            Some(&GValue::Str("a \"b\" é".into()))
        );
        assert!(parse_document("{ Get { X(limit: $n) { a } } }").is_err());
        assert!(parse_document("{ Get { X { a } }").is_err());
        assert!(parse_document("mutation { x }").is_err());
    }
}
