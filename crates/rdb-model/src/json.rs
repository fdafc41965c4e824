//! Canonical JSON form of keys and values (the `rdbkit dump` key-line shape).
//!
//! The shapes follow `cli-contract.md` ("Byte strings in JSON", `rdbkit dump`) and the key
//! entries of `testdata/FORMAT.md`:
//!
//! * **Bytes** ([`bytes_to_json`] / [`bytes_from_json`]; [`write_bytes_json`] prints the same
//!   text without building a value): a JSON string when every byte is printable ASCII
//!   (0x20..=0x7e), otherwise `{"b64": "<standard base64, padded>"}`. Readers accept both
//!   forms anywhere.
//! * **Scores** ([`score_to_string`] or [`ScoreDisplay`] / [`score_from_str`]): `"inf"`, `"-inf"`
//!   or the shortest decimal text that parses back to the exact double.
//! * **Key lines** ([`entry_to_json`] / [`entry_from_json`]):
//!   `{"db", "key", "type", "rdb_type", "expire_at_ms", "value"}` plus, only when present,
//!   `"field_expire_at_ms"`, `"lfu_freq"` and `"lru_idle_s"`. Collections are written in stored
//!   order, so `entry_from_json(&entry_to_json(db, e, t))` gives back `(db, e)` exactly.
//!
//! Errors ([`JsonError`]) name the place in the document (`value.groups[0].pel[3]`) and what
//! was expected there.

use std::collections::{HashMap, HashSet};
use std::fmt;

use base64::engine::general_purpose::STANDARD;
use base64::Engine as _;
use serde_json::{Map, Value as Json};

use crate::{
    Bytes, Consumer, ConsumerGroup, Entry, HashField, ModuleValue, PendingEntry, Stream,
    StreamEntry, StreamId, Value, ValueType,
};

/// An error converting JSON into model data: where it happened and what was wrong.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JsonError {
    path: String,
    message: String,
}

impl JsonError {
    /// An error at `path` (a JSON-path-like location such as `value[3][1]`; may be empty).
    pub fn new(path: impl Into<String>, message: impl Into<String>) -> Self {
        JsonError {
            path: path.into(),
            message: message.into(),
        }
    }

    /// "expected X, got <description of `got`>".
    fn expected(path: &str, what: &str, got: &Json) -> Self {
        JsonError::new(path, format!("expected {what}, got {}", describe(got)))
    }

    /// Where in the document the error is (empty for the top level).
    pub fn path(&self) -> &str {
        &self.path
    }

    /// What was wrong.
    pub fn message(&self) -> &str {
        &self.message
    }
}

impl fmt::Display for JsonError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.path.is_empty() {
            f.write_str(&self.message)
        } else {
            write!(f, "{}: {}", self.path, self.message)
        }
    }
}

impl std::error::Error for JsonError {}

/// A short description of a JSON value for error messages.
fn describe(v: &Json) -> String {
    match v {
        Json::Null => "null".to_string(),
        Json::Bool(b) => format!("the boolean {b}"),
        Json::Number(n) => format!("the number {n}"),
        Json::String(s) if s.len() <= 40 => format!("the string {s:?}"),
        Json::String(s) => format!("a string of {} bytes", s.len()),
        Json::Array(a) => format!("an array of {} elements", a.len()),
        Json::Object(o) => {
            let keys: Vec<&str> = o.keys().map(String::as_str).collect();
            format!("an object with keys {keys:?}")
        }
    }
}

/// Joins a parent path and a field name (`a` + `b` = `a.b`).
fn field_path(parent: &str, name: &str) -> String {
    if parent.is_empty() {
        name.to_string()
    } else {
        format!("{parent}.{name}")
    }
}

/// Joins a parent path and an index (`a` + 3 = `a[3]`).
fn index_path(parent: &str, i: usize) -> String {
    format!("{parent}[{i}]")
}

// ---------------------------------------------------------------------------------------------
// Bytes

/// The canonical JSON form of a byte string: a JSON string when every byte is printable ASCII
/// (0x20..=0x7e), otherwise `{"b64": "<standard base64 with padding>"}`.
pub fn bytes_to_json(b: &[u8]) -> Json {
    if b.iter().all(|c| (0x20..=0x7e).contains(c)) {
        // Printable ASCII is valid UTF-8, one char per byte.
        Json::String(b.iter().map(|&c| char::from(c)).collect())
    } else {
        let mut m = Map::new();
        m.insert("b64".to_string(), Json::String(STANDARD.encode(b)));
        Json::Object(m)
    }
}

/// Writes the canonical JSON form of `b` ([`bytes_to_json`]) to `out`, byte for byte what
/// `serde_json::to_writer(out, &bytes_to_json(b))` writes, without building a JSON value:
/// `rdbkit dump` prints values as it reads them with it. `b64` is scratch space for the
/// base64 text (kept between calls; at most 64 KiB).
pub fn write_bytes_json(
    out: &mut impl std::io::Write,
    b: &[u8],
    b64: &mut String,
) -> std::io::Result<()> {
    if b.iter().all(|c| (0x20..=0x7e).contains(c)) {
        // Printable ASCII: only `"` and `\` are escaped (as serde_json does).
        out.write_all(b"\"")?;
        let mut start = 0;
        for (i, &c) in b.iter().enumerate() {
            if c == b'"' || c == b'\\' {
                out.write_all(b.get(start..i).unwrap_or_default())?;
                out.write_all(&[b'\\', c])?;
                start = i + 1;
            }
        }
        out.write_all(b.get(start..).unwrap_or_default())?;
        out.write_all(b"\"")
    } else {
        out.write_all(b"{\"b64\":\"")?;
        // In pieces of a multiple of 3 bytes (no padding but at the end): the scratch stays
        // small whatever the size of `b`.
        for piece in b.chunks(3 << 14) {
            b64.clear();
            STANDARD.encode_string(piece, b64);
            out.write_all(b64.as_bytes())?;
        }
        out.write_all(b"\"}")
    }
}

/// Parses a byte string in either form: a JSON string (its UTF-8 bytes, so non-canonical
/// non-ASCII text is accepted too) or `{"b64": "..."}` (standard, padded base64).
pub fn bytes_from_json(v: &Json) -> Result<Bytes, JsonError> {
    bytes_at(v, "")
}

fn bytes_at(v: &Json, path: &str) -> Result<Bytes, JsonError> {
    const WHAT: &str = "a byte string (a JSON string or {\"b64\": \"...\"})";
    match v {
        Json::String(s) => Ok(Bytes::copy_from_slice(s.as_bytes())),
        Json::Object(o) if o.len() == 1 => match o.get("b64") {
            Some(Json::String(s)) => STANDARD.decode(s).map(Bytes::from).map_err(|e| {
                JsonError::new(field_path(path, "b64"), format!("invalid base64: {e}"))
            }),
            _ => Err(JsonError::expected(path, WHAT, v)),
        },
        _ => Err(JsonError::expected(path, WHAT, v)),
    }
}

// ---------------------------------------------------------------------------------------------
// Scores

/// The text of a sorted-set score: `"inf"`, `"-inf"`, or the shortest decimal text that parses
/// back to exactly `x` (`"0.1"`, `"3"`, `"-0"`, `"1e300"`, `"5e-324"`). Magnitudes in
/// `[1e-7, 1e21)` (and zero) are written positionally, others in exponent form. NaN (which
/// a sorted set never holds) is written as `"nan"`, which [`score_from_str`] rejects.
pub fn score_to_string(x: f64) -> String {
    ScoreDisplay(x).to_string()
}

/// Displays a score as [`score_to_string`] spells it, without allocating (for writers that
/// print many scores: `write!(out, "{}", ScoreDisplay(x))`).
#[derive(Debug, Clone, Copy)]
pub struct ScoreDisplay(pub f64);

impl fmt::Display for ScoreDisplay {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let x = self.0;
        if x.is_nan() {
            f.write_str("nan")
        } else if x == f64::INFINITY {
            f.write_str("inf")
        } else if x == f64::NEG_INFINITY {
            f.write_str("-inf")
        } else {
            let a = x.abs();
            // Rust's `{}` and `{:e}` both print the shortest digits that round-trip.
            if a == 0.0 || (1e-7..1e21).contains(&a) {
                write!(f, "{x}")
            } else {
                write!(f, "{x:e}")
            }
        }
    }
}

/// Parses a score: `inf`, `+inf`, `-inf` (any case, also `infinity`), or a decimal number with
/// an optional sign and exponent (`0.1`, `1e+300`, `5e-324`, `123456789012345680`). NaN and
/// anything else is an error, and so is a number out of a double's range (`1e999` would
/// become infinity, `1e-400` zero: `ZADD` refuses both, "value is not a valid float").
pub fn score_from_str(s: &str) -> Result<f64, JsonError> {
    let digits = s.trim_start_matches(['+', '-']);
    let is_inf_text = digits.eq_ignore_ascii_case("inf") || digits.eq_ignore_ascii_case("infinity");
    // The significand's digits (before any exponent): a zero result from a nonzero one
    // underflowed.
    let significand = digits.split(['e', 'E']).next().unwrap_or("");
    let nonzero = significand.bytes().any(|b| (b'1'..=b'9').contains(&b));
    match s.parse::<f64>() {
        Ok(x) if x.is_infinite() && !is_inf_text => Err(JsonError::new(
            "",
            format!(
                "score {s:?} is beyond a double's range (write \"inf\" or \"-inf\" for infinity)"
            ),
        )),
        Ok(x) if x == 0.0 && nonzero => Err(JsonError::new(
            "",
            format!("score {s:?} is too small for a double (it would become 0)"),
        )),
        Ok(x) if !x.is_nan() => Ok(x),
        Ok(_) => Err(JsonError::new("", "a score cannot be NaN")),
        Err(_) => Err(JsonError::new(
            "",
            format!("expected a score (\"inf\", \"-inf\" or a decimal number), got {s:?}"),
        )),
    }
}

/// A score given as a string (canonical) or, leniently, as a JSON number.
fn score_at(v: &Json, path: &str) -> Result<f64, JsonError> {
    match v {
        Json::String(s) => score_from_str(s).map_err(|e| JsonError::new(path, e.message)),
        Json::Number(n) => n
            .as_f64()
            .ok_or_else(|| JsonError::expected(path, "a score", v)),
        _ => Err(JsonError::expected(path, "a score string", v)),
    }
}

// ---------------------------------------------------------------------------------------------
// Small typed accessors

fn array_at<'a>(v: &'a Json, path: &str) -> Result<&'a [Json], JsonError> {
    v.as_array()
        .map(Vec::as_slice)
        .ok_or_else(|| JsonError::expected(path, "an array", v))
}

/// An array of exactly `n` elements (a tuple such as `[member, score]`).
fn tuple_at<'a>(v: &'a Json, n: usize, path: &str) -> Result<&'a [Json], JsonError> {
    match v.as_array() {
        Some(a) if a.len() == n => Ok(a),
        _ => Err(JsonError::expected(
            path,
            &format!("an array of {n} elements"),
            v,
        )),
    }
}

fn object_at<'a>(v: &'a Json, path: &str) -> Result<&'a Map<String, Json>, JsonError> {
    v.as_object()
        .ok_or_else(|| JsonError::expected(path, "an object", v))
}

/// A required member of an object (missing is an error naming it).
fn member<'a>(o: &'a Map<String, Json>, name: &str, path: &str) -> Result<&'a Json, JsonError> {
    o.get(name)
        .ok_or_else(|| JsonError::new(field_path(path, name), "missing field"))
}

/// An optional member: missing and `null` both give `None`.
fn opt_member<'a>(o: &'a Map<String, Json>, name: &str) -> Option<&'a Json> {
    o.get(name).filter(|v| !v.is_null())
}

fn u64_at(v: &Json, path: &str) -> Result<u64, JsonError> {
    v.as_u64()
        .ok_or_else(|| JsonError::expected(path, "a non-negative integer", v))
}

fn i64_at(v: &Json, path: &str) -> Result<i64, JsonError> {
    v.as_i64()
        .ok_or_else(|| JsonError::expected(path, "an integer (64-bit signed)", v))
}

fn str_at<'a>(v: &'a Json, path: &str) -> Result<&'a str, JsonError> {
    v.as_str()
        .ok_or_else(|| JsonError::expected(path, "a string", v))
}

fn stream_id_at(v: &Json, path: &str) -> Result<StreamId, JsonError> {
    let s = str_at(v, path)?;
    s.parse::<StreamId>()
        .map_err(|_| JsonError::expected(path, "a stream ID \"ms-seq\"", v))
}

fn opt_stream_id(
    o: &Map<String, Json>,
    name: &str,
    path: &str,
) -> Result<Option<StreamId>, JsonError> {
    opt_member(o, name)
        .map(|v| stream_id_at(v, &field_path(path, name)))
        .transpose()
}

fn id_json(id: StreamId) -> Json {
    Json::String(id.to_string())
}

fn opt_json<T: Into<Json>>(v: Option<T>) -> Json {
    v.map_or(Json::Null, Into::into)
}

// ---------------------------------------------------------------------------------------------
// Values

/// The JSON form of a value (the `"value"` member of a key line). Collections are in stored
/// order; zset scores are strings ([`score_to_string`]); hash field TTLs are not part of it
/// (see [`entry_to_json`]).
pub fn value_to_json(v: &Value) -> Json {
    match v {
        Value::String(b) => bytes_to_json(b),
        Value::List(items) | Value::Set(items) => {
            Json::Array(items.iter().map(|b| bytes_to_json(b)).collect())
        }
        Value::SortedSet(members) => Json::Array(
            members
                .iter()
                .map(|(m, s)| {
                    Json::Array(vec![bytes_to_json(m), Json::String(score_to_string(*s))])
                })
                .collect(),
        ),
        Value::Hash(fields) => Json::Array(
            fields
                .iter()
                .map(|f| Json::Array(vec![bytes_to_json(&f.field), bytes_to_json(&f.value)]))
                .collect(),
        ),
        Value::Stream(s) => stream_to_json(s),
        Value::Module(m) => {
            let mut o = Map::new();
            o.insert("module_id".into(), Json::String(m.type_name()));
            o.insert("version".into(), Json::from(m.version()));
            o.insert("raw_b64".into(), Json::String(STANDARD.encode(&m.raw)));
            Json::Object(o)
        }
    }
}

/// Parses the `"value"` member of a key line whose `"type"` is `ty`. Hash fields come back
/// without TTLs (those live in the key line's `field_expire_at_ms`).
pub fn value_from_json(ty: ValueType, v: &Json) -> Result<Value, JsonError> {
    value_at(ty, v, "value")
}

fn value_at(ty: ValueType, v: &Json, path: &str) -> Result<Value, JsonError> {
    Ok(match ty {
        ValueType::String => Value::String(bytes_at(v, path)?),
        ValueType::List => Value::List(bytes_list_at(v, path)?),
        ValueType::Set => Value::Set(bytes_list_at(v, path)?),
        ValueType::ZSet => {
            let items = array_at(v, path)?;
            let mut out = Vec::with_capacity(items.len());
            for (i, item) in items.iter().enumerate() {
                let p = index_path(path, i);
                let t = tuple_at(item, 2, &p)?;
                let member = bytes_at(&t[0], &index_path(&p, 0))?;
                let score = score_at(&t[1], &index_path(&p, 1))?;
                out.push((member, score));
            }
            Value::SortedSet(out)
        }
        ValueType::Hash => Value::Hash(
            pairs_at(v, path)?
                .into_iter()
                .map(|(field, value)| HashField {
                    field,
                    value,
                    expire_at_ms: None,
                })
                .collect(),
        ),
        ValueType::Stream => Value::Stream(Box::new(stream_at(v, path)?)),
        ValueType::Module => Value::Module(module_at(v, path)?),
    })
}

fn bytes_list_at(v: &Json, path: &str) -> Result<Vec<Bytes>, JsonError> {
    array_at(v, path)?
        .iter()
        .enumerate()
        .map(|(i, b)| bytes_at(b, &index_path(path, i)))
        .collect()
}

/// `[[Bytes, Bytes], ...]`
fn pairs_at(v: &Json, path: &str) -> Result<Vec<(Bytes, Bytes)>, JsonError> {
    let items = array_at(v, path)?;
    let mut out = Vec::with_capacity(items.len());
    for (i, item) in items.iter().enumerate() {
        let p = index_path(path, i);
        let t = tuple_at(item, 2, &p)?;
        out.push((
            bytes_at(&t[0], &index_path(&p, 0))?,
            bytes_at(&t[1], &index_path(&p, 1))?,
        ));
    }
    Ok(out)
}

/// The module ID for a 9-character type name (charset `A-Z a-z 0-9 - _`) and a 10-bit
/// encoding version: the inverse of [`crate::module_type_name`] / [`ModuleValue::version`].
/// `None` when the name is not 9 charset characters or the version exceeds 1023.
pub fn module_id_from_name(name: &str, version: u16) -> Option<u64> {
    const CHARSET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    if name.len() != 9 || version > 1023 {
        return None;
    }
    let mut id: u64 = 0;
    for c in name.bytes() {
        let idx = CHARSET.iter().position(|&x| x == c)?;
        id = (id << 6) | idx as u64;
    }
    Some((id << 10) | u64::from(version))
}

fn module_at(v: &Json, path: &str) -> Result<ModuleValue, JsonError> {
    let o = object_at(v, path)?;
    let name_path = field_path(path, "module_id");
    let name = str_at(member(o, "module_id", path)?, &name_path)?;
    let ver_path = field_path(path, "version");
    let ver_json = member(o, "version", path)?;
    let version = u64_at(ver_json, &ver_path)?;
    let version = u16::try_from(version)
        .ok()
        .filter(|v| *v <= 1023)
        .ok_or_else(|| {
            JsonError::expected(&ver_path, "a module encoding version 0..=1023", ver_json)
        })?;
    let module_id = module_id_from_name(name, version).ok_or_else(|| {
        JsonError::new(
            &name_path,
            format!("expected a 9-character module type name (A-Z a-z 0-9 - _), got {name:?}"),
        )
    })?;
    let raw_path = field_path(path, "raw_b64");
    let raw = STANDARD
        .decode(str_at(member(o, "raw_b64", path)?, &raw_path)?)
        .map_err(|e| JsonError::new(&raw_path, format!("invalid base64: {e}")))?;
    Ok(ModuleValue {
        module_id,
        raw: Bytes::from(raw),
    })
}

// ---------------------------------------------------------------------------------------------
// Streams

/// The JSON form of a stream (FORMAT.md "Stream value" without `computed`). The group PEL
/// names the consumer that owns each ID (the first consumer listing it, `null` if none); each
/// consumer PEL entry repeats the delivery time and count from the group PEL (`null` when the
/// ID is missing from the group PEL).
pub fn stream_to_json(s: &Stream) -> Json {
    let mut o = Map::new();
    o.insert("length".into(), Json::from(s.length));
    o.insert("last_id".into(), id_json(s.last_id));
    o.insert("entries_added".into(), opt_json(s.entries_added));
    o.insert(
        "max_deleted_id".into(),
        opt_json(s.max_deleted_id.map(|i| i.to_string())),
    );
    o.insert(
        "first_id_recorded".into(),
        opt_json(s.first_id.map(|i| i.to_string())),
    );
    let entries = s
        .entries
        .iter()
        .map(|e| {
            let fields = e
                .fields
                .iter()
                .map(|(f, v)| Json::Array(vec![bytes_to_json(f), bytes_to_json(v)]))
                .collect();
            Json::Array(vec![id_json(e.id), Json::Array(fields)])
        })
        .collect();
    o.insert("entries".into(), Json::Array(entries));
    o.insert(
        "groups".into(),
        Json::Array(s.groups.iter().map(group_to_json).collect()),
    );
    Json::Object(o)
}

fn group_to_json(g: &ConsumerGroup) -> Json {
    // Owner of each pending ID: the first consumer that lists it.
    let mut owner: HashMap<StreamId, &Bytes> = HashMap::new();
    for c in &g.consumers {
        for id in &c.pel {
            owner.entry(*id).or_insert(&c.name);
        }
    }
    let by_id: HashMap<StreamId, &PendingEntry> = g.pel.iter().map(|p| (p.id, p)).collect();

    let pel = g
        .pel
        .iter()
        .map(|p| {
            Json::Array(vec![
                id_json(p.id),
                owner.get(&p.id).map_or(Json::Null, |n| bytes_to_json(n)),
                Json::from(p.delivery_time_ms),
                Json::from(p.delivery_count),
            ])
        })
        .collect();
    let consumers = g
        .consumers
        .iter()
        .map(|c| {
            let cpel = c
                .pel
                .iter()
                .map(|id| {
                    let p = by_id.get(id);
                    Json::Array(vec![
                        id_json(*id),
                        opt_json(p.map(|p| p.delivery_time_ms)),
                        opt_json(p.map(|p| p.delivery_count)),
                    ])
                })
                .collect();
            let mut o = Map::new();
            o.insert("name".into(), bytes_to_json(&c.name));
            o.insert("seen_time_ms".into(), Json::from(c.seen_time_ms));
            o.insert("active_time_ms".into(), opt_json(c.active_time_ms));
            o.insert("pel".into(), Json::Array(cpel));
            Json::Object(o)
        })
        .collect();

    let mut o = Map::new();
    o.insert("name".into(), bytes_to_json(&g.name));
    o.insert("last_delivered_id".into(), id_json(g.last_delivered_id));
    o.insert("entries_read".into(), opt_json(g.entries_read));
    o.insert("pel".into(), Json::Array(pel));
    o.insert("consumers".into(), Json::Array(consumers));
    Json::Object(o)
}

fn stream_at(v: &Json, path: &str) -> Result<Stream, JsonError> {
    let o = object_at(v, path)?;
    let length = u64_at(member(o, "length", path)?, &field_path(path, "length"))?;
    let last_id = stream_id_at(member(o, "last_id", path)?, &field_path(path, "last_id"))?;
    let entries_added = opt_member(o, "entries_added")
        .map(|v| u64_at(v, &field_path(path, "entries_added")))
        .transpose()?;
    let max_deleted_id = opt_stream_id(o, "max_deleted_id", path)?;
    let first_id = opt_stream_id(o, "first_id_recorded", path)?;

    let entries_path = field_path(path, "entries");
    let mut entries = Vec::new();
    for (i, e) in array_at(member(o, "entries", path)?, &entries_path)?
        .iter()
        .enumerate()
    {
        let p = index_path(&entries_path, i);
        let t = tuple_at(e, 2, &p)?;
        entries.push(StreamEntry {
            id: stream_id_at(&t[0], &index_path(&p, 0))?,
            fields: pairs_at(&t[1], &index_path(&p, 1))?,
        });
    }

    let groups_path = field_path(path, "groups");
    let groups = array_at(member(o, "groups", path)?, &groups_path)?
        .iter()
        .enumerate()
        .map(|(i, g)| group_at(g, &index_path(&groups_path, i)))
        .collect::<Result<Vec<_>, _>>()?;

    Ok(Stream {
        entries,
        length,
        last_id,
        first_id,
        max_deleted_id,
        entries_added,
        groups,
    })
}

fn group_at(v: &Json, path: &str) -> Result<ConsumerGroup, JsonError> {
    let o = object_at(v, path)?;
    let name = bytes_at(member(o, "name", path)?, &field_path(path, "name"))?;
    let last_delivered_id = stream_id_at(
        member(o, "last_delivered_id", path)?,
        &field_path(path, "last_delivered_id"),
    )?;
    let entries_read = opt_member(o, "entries_read")
        .map(|v| i64_at(v, &field_path(path, "entries_read")))
        .transpose()?;

    // Global PEL: [id, consumer|null, delivery_time_ms, delivery_count].
    let pel_path = field_path(path, "pel");
    let mut pel = Vec::new();
    let mut named_owner: Vec<Option<Bytes>> = Vec::new();
    for (i, p) in array_at(member(o, "pel", path)?, &pel_path)?
        .iter()
        .enumerate()
    {
        let pp = index_path(&pel_path, i);
        let t = tuple_at(p, 4, &pp)?;
        pel.push(PendingEntry {
            id: stream_id_at(&t[0], &index_path(&pp, 0))?,
            delivery_time_ms: i64_at(&t[2], &index_path(&pp, 2))?,
            delivery_count: u64_at(&t[3], &index_path(&pp, 3))?,
        });
        named_owner.push(match &t[1] {
            Json::Null => None,
            c => Some(bytes_at(c, &index_path(&pp, 1))?),
        });
    }

    // Consumers: {name, seen_time_ms, active_time_ms|null, pel: [[id, time|null, count|null]]}.
    let by_id: HashMap<StreamId, &PendingEntry> = pel.iter().map(|p| (p.id, p)).collect();
    let cons_path = field_path(path, "consumers");
    let mut consumers = Vec::new();
    for (i, c) in array_at(member(o, "consumers", path)?, &cons_path)?
        .iter()
        .enumerate()
    {
        let cp = index_path(&cons_path, i);
        let co = object_at(c, &cp)?;
        let cname = bytes_at(member(co, "name", &cp)?, &field_path(&cp, "name"))?;
        let seen_time_ms = i64_at(
            member(co, "seen_time_ms", &cp)?,
            &field_path(&cp, "seen_time_ms"),
        )?;
        let active_time_ms = opt_member(co, "active_time_ms")
            .map(|v| i64_at(v, &field_path(&cp, "active_time_ms")))
            .transpose()?;
        let cpel_path = field_path(&cp, "pel");
        let mut cpel = Vec::new();
        for (j, p) in array_at(member(co, "pel", &cp)?, &cpel_path)?
            .iter()
            .enumerate()
        {
            let pp = index_path(&cpel_path, j);
            let t = tuple_at(p, 3, &pp)?;
            let id = stream_id_at(&t[0], &index_path(&pp, 0))?;
            let time = (!t[1].is_null())
                .then(|| i64_at(&t[1], &index_path(&pp, 1)))
                .transpose()?;
            let count = (!t[2].is_null())
                .then(|| u64_at(&t[2], &index_path(&pp, 2)))
                .transpose()?;
            // The group PEL is authoritative for times and counts; the copies must agree.
            let consistent = match by_id.get(&id) {
                Some(g) => {
                    time.is_none_or(|t| t == g.delivery_time_ms)
                        && count.is_none_or(|c| c == g.delivery_count)
                }
                None => time.is_none() && count.is_none(),
            };
            if !consistent {
                let what = if by_id.contains_key(&id) {
                    format!(
                        "delivery time/count of {id} disagree with the group PEL \
                         (which is authoritative; use null or the group's values)"
                    )
                } else {
                    format!(
                        "{id} is not in the group PEL (a consumer's pending entry must be the \
                         group's too)"
                    )
                };
                return Err(JsonError::new(pp, what));
            }
            cpel.push(id);
        }
        consumers.push(Consumer {
            name: cname,
            seen_time_ms,
            active_time_ms,
            pel: cpel,
        });
    }

    // The consumer named in each group PEL entry must be one that lists the ID (null: none).
    for (i, (p, named)) in pel.iter().zip(&named_owner).enumerate() {
        let owners: Vec<&Consumer> = consumers.iter().filter(|c| c.pel.contains(&p.id)).collect();
        let ok = match named {
            None => owners.is_empty(),
            Some(n) => owners.iter().any(|c| c.name == n),
        };
        if !ok {
            return Err(JsonError::new(
                index_path(&index_path(&pel_path, i), 1),
                format!(
                    "the consumer named for {} does not match the consumers' PELs \
                     (owned by {} consumer(s))",
                    p.id,
                    owners.len()
                ),
            ));
        }
    }

    Ok(ConsumerGroup {
        name,
        last_delivered_id,
        entries_read,
        pel,
        consumers,
    })
}

// ---------------------------------------------------------------------------------------------
// Key lines

/// The `rdbkit dump` key line for `entry` in database `db`, stored with RDB object type
/// `rdb_type`: `{"db", "key", "type", "rdb_type", "expire_at_ms", "value"}` plus
/// `"field_expire_at_ms": [[field, ms], ...]` (stored order) when some hash field has a TTL,
/// `"lfu_freq"` and `"lru_idle_s"` when set.
pub fn entry_to_json(db: u32, entry: &Entry, rdb_type: u8) -> Json {
    let mut o = Map::new();
    o.insert("db".into(), Json::from(db));
    o.insert("key".into(), bytes_to_json(&entry.key));
    o.insert("type".into(), Json::from(entry.value.value_type().name()));
    o.insert("rdb_type".into(), Json::from(rdb_type));
    o.insert("expire_at_ms".into(), opt_json(entry.expire_at_ms));
    o.insert("value".into(), value_to_json(&entry.value));
    if let Value::Hash(fields) = &entry.value {
        let ttls: Vec<Json> = fields
            .iter()
            .filter_map(|f| {
                f.expire_at_ms
                    .map(|ms| Json::Array(vec![bytes_to_json(&f.field), Json::from(ms)]))
            })
            .collect();
        if !ttls.is_empty() {
            o.insert("field_expire_at_ms".into(), Json::Array(ttls));
        }
    }
    if let Some(f) = entry.lfu_freq {
        o.insert("lfu_freq".into(), Json::from(f));
    }
    if let Some(s) = entry.lru_idle_s {
        o.insert("lru_idle_s".into(), Json::from(s));
    }
    Json::Object(o)
}

/// Parses a key line as written by [`entry_to_json`] and returns `(db, entry)`. `rdb_type` is
/// optional and ignored (only checked to be an integer 0..=255 when given); unknown members are
/// ignored; `expire_at_ms`, `lfu_freq`, `lru_idle_s` may be missing or `null`.
pub fn entry_from_json(v: &Json) -> Result<(u32, Entry), JsonError> {
    let o = object_at(v, "")?;
    let db_json = member(o, "db", "")?;
    let db = db_json
        .as_u64()
        .and_then(|d| u32::try_from(d).ok())
        .ok_or_else(|| JsonError::expected("db", "a database number 0..=4294967295", db_json))?;
    let key = bytes_at(member(o, "key", "")?, "key")?;
    let type_json = member(o, "type", "")?;
    let ty = type_json
        .as_str()
        .and_then(ValueType::from_name)
        .ok_or_else(|| {
            JsonError::expected(
                "type",
                "one of \"string\", \"list\", \"set\", \"zset\", \"hash\", \"stream\", \"module\"",
                type_json,
            )
        })?;
    if let Some(t) = opt_member(o, "rdb_type") {
        if t.as_u64().is_none_or(|t| t > 255) {
            return Err(JsonError::expected("rdb_type", "an RDB type 0..=255", t));
        }
    }
    let expire_at_ms = opt_member(o, "expire_at_ms")
        .map(|v| i64_at(v, "expire_at_ms"))
        .transpose()?;
    let mut value = value_at(ty, member(o, "value", "")?, "value")?;

    if let Some(ttls) = opt_member(o, "field_expire_at_ms") {
        let Value::Hash(fields) = &mut value else {
            return Err(JsonError::new(
                "field_expire_at_ms",
                format!(
                    "only a hash can have field TTLs, this key is a {}",
                    ty.name()
                ),
            ));
        };
        let index: HashMap<Bytes, usize> = fields
            .iter()
            .enumerate()
            .map(|(i, f)| (f.field.clone(), i))
            .collect();
        let mut seen = HashSet::new();
        for (i, t) in array_at(ttls, "field_expire_at_ms")?.iter().enumerate() {
            let p = index_path("field_expire_at_ms", i);
            let pair = tuple_at(t, 2, &p)?;
            let field = bytes_at(&pair[0], &index_path(&p, 0))?;
            let ms = i64_at(&pair[1], &index_path(&p, 1))?;
            let slot = index
                .get(&field)
                .and_then(|&k| fields.get_mut(k))
                .ok_or_else(|| JsonError::new(&p, "names a field that is not in the hash"))?;
            if !seen.insert(field) {
                return Err(JsonError::new(&p, "field listed twice"));
            }
            slot.expire_at_ms = Some(ms);
        }
    }

    let lfu_freq = opt_member(o, "lfu_freq")
        .map(|v| {
            v.as_u64()
                .and_then(|f| u8::try_from(f).ok())
                .ok_or_else(|| JsonError::expected("lfu_freq", "an LFU counter 0..=255", v))
        })
        .transpose()?;
    let lru_idle_s = opt_member(o, "lru_idle_s")
        .map(|v| u64_at(v, "lru_idle_s"))
        .transpose()?;

    Ok((
        db,
        Entry {
            key,
            value,
            expire_at_ms,
            lru_idle_s,
            lfu_freq,
        },
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::module_type_name;
    use serde_json::json;

    #[test]
    fn bytes_forms() {
        assert_eq!(bytes_to_json(b"abc ~"), json!("abc ~"));
        assert_eq!(bytes_to_json(b""), json!(""));
        assert_eq!(bytes_to_json(b"a\nb"), json!({"b64": "YQpi"}));
        assert_eq!(bytes_to_json(b"\x00f\xff"), json!({"b64": "AGb/"}));
        assert_eq!(bytes_to_json("é".as_bytes()), json!({"b64": "w6k="}));
        assert_eq!(
            bytes_from_json(&json!({"b64": "AGb/"})).unwrap(),
            &b"\x00f\xff"[..]
        );
        assert_eq!(bytes_from_json(&json!("x y")).unwrap(), &b"x y"[..]);
        // Non-canonical but accepted: non-ASCII text as a JSON string, printable bytes as b64.
        assert_eq!(bytes_from_json(&json!("é")).unwrap(), "é".as_bytes());
        assert_eq!(
            bytes_from_json(&json!({"b64": "YWI="})).unwrap(),
            &b"ab"[..]
        );
    }

    #[test]
    fn bytes_errors_are_clear() {
        let e = bytes_from_json(&json!(12)).unwrap_err();
        assert!(e.to_string().contains("expected a byte string"), "{e}");
        assert!(e.to_string().contains("the number 12"), "{e}");
        let e = bytes_from_json(&json!({"b64": "!!"})).unwrap_err();
        assert_eq!(e.path(), "b64");
        assert!(e.message().contains("invalid base64"), "{e}");
        assert!(bytes_from_json(&json!({"b64": "YWI=", "x": 1})).is_err());
        assert!(bytes_from_json(&json!({"hex": "00"})).is_err());
    }

    #[test]
    fn score_text() {
        assert_eq!(score_to_string(f64::INFINITY), "inf");
        assert_eq!(score_to_string(f64::NEG_INFINITY), "-inf");
        assert_eq!(score_to_string(0.1), "0.1");
        assert_eq!(score_to_string(3.0), "3");
        assert_eq!(score_to_string(-0.0), "-0");
        assert_eq!(score_to_string(1e300), "1e300");
        assert_eq!(score_to_string(5e-324), "5e-324");
        assert_eq!(score_to_string(123456789012345680.0), "123456789012345680");
        assert_eq!(score_to_string(-2.5e-8), "-2.5e-8");
        // The edges of the positional range [1e-7, 1e21).
        assert_eq!(score_to_string(1e-7), "0.0000001");
        assert_eq!(score_to_string(9.9e-8), "9.9e-8");
        assert_eq!(score_to_string(1e21), "1e21");
        assert_eq!(score_to_string(-1e21), "-1e21");
        assert_eq!(score_to_string(9.99e20), "999000000000000000000");
        assert_eq!(score_from_str("+inf").unwrap(), f64::INFINITY);
        assert_eq!(score_from_str("-inf").unwrap(), f64::NEG_INFINITY);
        assert_eq!(score_from_str("1e+300").unwrap(), 1e300);
        assert_eq!(score_from_str("5e-324").unwrap(), 5e-324);
        assert_eq!(score_from_str("0.10000000000000001").unwrap(), 0.1);
        assert!(score_from_str("nan").is_err());
        assert!(score_from_str("").is_err());
        // Out of a double's range: refused, as ZADD refuses it (not rounded to inf or 0).
        for (text, want) in [
            ("1e999", "beyond a double's range"),
            ("-1e999", "beyond a double's range"),
            ("1e-400", "too small for a double"),
            ("-0.0001e-330", "too small for a double"),
            ("2e-324", "too small for a double"),
        ] {
            let e = score_from_str(text).unwrap_err().to_string();
            assert!(e.contains(want), "{text}: {e}");
        }
        for (text, want) in [
            ("Infinity", f64::INFINITY),
            ("-INF", f64::NEG_INFINITY),
            ("0", 0.0),
            ("-0", -0.0),
            ("0e-999", 0.0),
            ("0.000", 0.0),
            ("3e-324", 5e-324),
            ("1.7976931348623157e308", f64::MAX),
        ] {
            let x = score_from_str(text).unwrap();
            assert_eq!(x.to_bits(), want.to_bits(), "{text}");
        }
        assert!(score_from_str("1,5")
            .unwrap_err()
            .to_string()
            .contains("\"1,5\""));
    }

    #[test]
    fn module_id_inverse() {
        let id = 0x45E25238DF912C03;
        assert_eq!(module_id_from_name(&module_type_name(id), 3), Some(id));
        assert_eq!(module_id_from_name("ReJSON-R", 3), None);
        assert_eq!(module_id_from_name("ReJSON-R!", 3), None);
        assert_eq!(module_id_from_name("ReJSON-RL", 1024), None);
    }
}
