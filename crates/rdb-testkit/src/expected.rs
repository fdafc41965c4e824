//! Comparison of a keyspace with a real-server `expected.json` (format `rdb-corpus-expected/1`).
//!
//! Every `testdata/servers/<server>/<variant>/dump.rdb` has an `expected.json` beside it that
//! says what a correct reader must find in the file (`testdata/FORMAT.md`). [`load_expected`]
//! parses it into an [`Expected`]; [`compare`] checks a [`Keyspace`] (as a reader produced it
//! from that `dump.rdb`) against it and returns every difference as one readable line:
//!
//! ```no_run
//! # use std::path::Path;
//! # use rdb_testkit::expected::{compare, load_expected, CompareOptions};
//! # let ks = rdb_model::Keyspace::default();
//! let exp = load_expected(Path::new("testdata/servers/redis-7.4.1/dev/expected.json")).unwrap();
//! let diffs = compare(&exp, &ks, &CompareOptions::default());
//! assert!(diffs.is_empty(), "{}", diffs.join("\n"));
//! ```
//!
//! What is compared: the set of non-empty dbs; per db the `keys` / `expires` counts and every
//! entry matched by key bytes (not position): type, `size`, value (semantically: sets and
//! hashes sorted, zsets in rank order with scores compared as doubles, strings > 64 KiB by
//! length and SHA-256), `expire_at_ms`, hash field TTLs, `lfu_freq` (exact, when
//! [`CompareOptions::check_lfu`]), `lru_idle_s` (within [`CompareOptions::lru_tolerance_s`]),
//! stream metadata, entries, groups, PELs and consumers; and the function libraries' code.
//! The `rdb` block (header, version, CRC, EOF offset) and cluster `slots` are parsed and
//! exposed for other tests but not compared here (a [`Keyspace`] does not carry them).

use std::collections::{BTreeMap, HashMap};
use std::fmt::Write as _;
use std::path::Path;

use rdb_model::json::{bytes_from_json, value_from_json};
use rdb_model::{Bytes, Entry, Keyspace, Stream, StreamEntry, StreamId, Value, ValueType};
use serde::{Deserialize, Deserializer};
use serde_json::Value as Json;
use sha2::{Digest, Sha256};

/// The `format` tag this module understands.
pub const FORMAT: &str = "rdb-corpus-expected/1";

/// At most this many individual differences are listed per collection / list of items;
/// the rest are summarised in one "... and N more" line.
const MAX_ITEMS: usize = 5;

/// A parsed `expected.json`.
#[derive(Debug, Clone)]
pub struct Expected {
    /// The `format` tag (always [`FORMAT`]; other tags are rejected by the parser).
    pub format: String,
    /// Facts about the `dump.rdb` file itself.
    pub rdb: RdbInfo,
    /// The server that wrote the file.
    pub server: ServerInfo,
    /// Function libraries sorted by name; `None` on servers before 7.0.
    pub functions: Option<Vec<ExpectedFunction>>,
    /// Non-empty databases by number.
    pub databases: BTreeMap<u32, ExpectedDb>,
    /// Cluster variants only: per-slot key and expiry counts, sorted by slot.
    pub slots: Option<Vec<SlotInfo>>,
    /// How expiries were read (`pexpiretime`, `pttl+time rounded to 1s`, ...).
    pub expire_source: Vec<String>,
    /// What `redis-check-rdb` printed (raw JSON: `aux`, `keys_read`, `expires`, `status_ok`, ...).
    pub check_rdb: Json,
    /// The generator block (raw JSON: `seed`, `set`, `variant`, ...).
    pub generator: Json,
    /// What the populating script created or skipped (raw JSON).
    pub populate_manifest: Json,
}

/// The `rdb` block: facts about the file.
#[derive(Debug, Clone, PartialEq)]
pub struct RdbInfo {
    /// The file's base name (`dump.rdb`).
    pub file: String,
    /// Size in bytes.
    pub size: u64,
    /// SHA-256 of the whole file, lower-case hex.
    pub sha256: String,
    /// The first 9 bytes, e.g. `REDIS0012`.
    pub header: String,
    /// `REDIS` or `VALKEY`.
    pub magic: String,
    /// The RDB version from the header.
    pub version: u32,
    /// The last 8 bytes read as a little-endian u64 (0 when saved with `rdbchecksum no`);
    /// `None` before RDB 5, whose files end at the EOF byte.
    pub trailing_crc64_le: Option<u64>,
    /// Offset of the 0xFF EOF opcode.
    pub eof_opcode_at: u64,
    /// Wall time of the `SAVE` command, ms (informational).
    pub save_duration_ms: Option<f64>,
}

/// The `server` block.
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct ServerInfo {
    /// `redis` or `valkey`.
    pub flavor: String,
    /// The server's own version (Valkey: `valkey_version`).
    #[serde(alias = "valkey_version")]
    pub version: String,
    /// `redis_version` as reported (Valkey reports `7.2.4`).
    #[serde(default)]
    pub redis_version: Option<String>,
    /// `standalone` or `cluster`.
    pub mode: String,
    /// Build's git SHA-1.
    #[serde(default)]
    pub git_sha1: Option<String>,
    /// Build id.
    #[serde(default)]
    pub build_id: Option<String>,
    /// Encoding thresholds, `maxmemory-policy`, `rdbcompression`, ... at `SAVE` time.
    #[serde(default)]
    pub config: BTreeMap<String, String>,
}

/// One function library (`functions[]`).
#[derive(Debug, Clone, PartialEq)]
pub struct ExpectedFunction {
    /// Library name.
    pub name: String,
    /// Engine (`LUA`).
    pub engine: String,
    /// The library source: the FUNCTION2 payload of the RDB.
    pub code: Bytes,
    /// `(function name, flags)` of each function in the library.
    pub functions: Vec<(String, Vec<String>)>,
}

/// One `[slot, keys, keys_with_expiry]` row of `slots`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SlotInfo {
    /// Slot number 0..16383.
    pub slot: u16,
    /// Keys in the slot.
    pub keys: u64,
    /// Keys with an expiry in the slot.
    pub expires: u64,
}

/// One database (`databases["N"]`).
#[derive(Debug, Clone, PartialEq)]
pub struct ExpectedDb {
    /// Key count per `INFO keyspace`.
    pub keys: u64,
    /// Keys with an expiry per `INFO keyspace`.
    pub expires: u64,
    /// Entries sorted by raw key bytes.
    pub entries: Vec<ExpectedEntry>,
}

/// One key entry.
#[derive(Debug, Clone, PartialEq)]
pub struct ExpectedEntry {
    /// Key bytes.
    pub key: Bytes,
    /// Logical type.
    pub value_type: ValueType,
    /// `OBJECT ENCODING` at `SAVE` time (`listpack`, `intset`, `unknown`, ...).
    pub encoding: String,
    /// Absolute expiry, Unix ms.
    pub expire_at_ms: Option<i64>,
    /// STRLEN / LLEN / SCARD / ZCARD / HLEN / XLEN.
    pub size: u64,
    /// The value.
    pub value: ExpectedValue,
    /// Hash field TTLs `(field, ms)`, sorted by field; empty when none.
    pub field_expire_at_ms: Vec<(Bytes, i64)>,
    /// `OBJECT FREQ` (`-lfu` variants).
    pub lfu_freq: Option<u8>,
    /// `OBJECT IDLETIME` at dump time (`-lru` variants).
    pub lru_idle_s: Option<u64>,
    /// Hash slot (cluster variants).
    pub slot: Option<u16>,
}

/// An expected value.
#[derive(Debug, Clone, PartialEq)]
pub enum ExpectedValue {
    /// A string given in full.
    String(Bytes),
    /// A string longer than 64 KiB, given as its length and SHA-256 (lower-case hex).
    StringDigest {
        /// Length in bytes.
        len: u64,
        /// SHA-256 of the bytes, hex.
        sha256: String,
    },
    /// List elements, head to tail.
    List(Vec<Bytes>),
    /// Set members, sorted by bytes.
    Set(Vec<Bytes>),
    /// `(member, score)` in rank order.
    ZSet(Vec<(Bytes, f64)>),
    /// `(field, value)` sorted by field.
    Hash(Vec<(Bytes, Bytes)>),
    /// A stream.
    Stream(Box<ExpectedStream>),
}

/// An expected stream value.
#[derive(Debug, Clone, PartialEq)]
pub struct ExpectedStream {
    /// XLEN.
    pub length: u64,
    /// Last generated ID.
    pub last_id: StreamId,
    /// Entries ever added (7.0+; `None` on 6.x and before).
    pub entries_added: Option<u64>,
    /// Max deleted entry ID (7.0+).
    pub max_deleted_id: Option<StreamId>,
    /// Recorded first entry ID (7.0+).
    pub first_id_recorded: Option<StreamId>,
    /// Live entries with fields in order.
    pub entries: Vec<StreamEntry>,
    /// Groups sorted by name.
    pub groups: Vec<ExpectedGroup>,
    /// Information-only data not stored in the RDB (radix tree shape, lag).
    pub computed: Option<Json>,
}

/// An expected consumer group.
#[derive(Debug, Clone, PartialEq)]
pub struct ExpectedGroup {
    /// Group name.
    pub name: Bytes,
    /// Last delivered ID.
    pub last_delivered_id: StreamId,
    /// Entries read; `None` when the server does not know it.
    pub entries_read: Option<i64>,
    /// Global PEL in ID order.
    pub pel: Vec<ExpectedPending>,
    /// Consumers sorted by name.
    pub consumers: Vec<ExpectedConsumer>,
}

/// A group PEL entry.
#[derive(Debug, Clone, PartialEq)]
pub struct ExpectedPending {
    /// Entry ID.
    pub id: StreamId,
    /// Owning consumer.
    pub consumer: Option<Bytes>,
    /// Last delivery time, Unix ms; `None` when the server did not report it (5.0).
    pub delivery_time_ms: Option<i64>,
    /// Delivery count.
    pub delivery_count: u64,
}

/// An expected consumer.
#[derive(Debug, Clone, PartialEq)]
pub struct ExpectedConsumer {
    /// Consumer name.
    pub name: Bytes,
    /// Seen time, Unix ms; `None` when the server did not report it (5.0): not compared then.
    pub seen_time_ms: Option<i64>,
    /// Active time, Unix ms (−1 = never); `None` before 7.2, compared as is.
    pub active_time_ms: Option<i64>,
    /// The consumer's PEL in ID order.
    pub pel: Vec<ExpectedConsumerPending>,
}

/// A consumer PEL entry (time and count as in the group PEL).
#[derive(Debug, Clone, PartialEq)]
pub struct ExpectedConsumerPending {
    /// Entry ID.
    pub id: StreamId,
    /// Last delivery time, Unix ms; `None` when not reported (5.0).
    pub delivery_time_ms: Option<i64>,
    /// Delivery count.
    pub delivery_count: u64,
}

/// What [`compare`] checks beyond the always-compared data.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CompareOptions {
    /// Compare `lfu_freq` exactly (presence and value). When false, LFU data is ignored.
    pub check_lfu: bool,
    /// `lru_idle_s`: ours must be ≤ expected and at most this many seconds below it (expected
    /// is `OBJECT IDLETIME` read a little after `SAVE`, so it may exceed the stored value).
    pub lru_tolerance_s: u64,
}

impl Default for CompareOptions {
    /// `check_lfu: true`, `lru_tolerance_s: 10`.
    fn default() -> Self {
        CompareOptions {
            check_lfu: true,
            lru_tolerance_s: 10,
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Parsing

/// Bytes in either canonical form, for serde.
struct JBytes(Bytes);

impl<'de> Deserialize<'de> for JBytes {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let v = Json::deserialize(d)?;
        bytes_from_json(&v)
            .map(JBytes)
            .map_err(serde::de::Error::custom)
    }
}

/// A stream ID `"ms-seq"`, for serde.
struct JId(StreamId);

impl<'de> Deserialize<'de> for JId {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        s.parse().map(JId).map_err(serde::de::Error::custom)
    }
}

#[derive(Deserialize)]
struct RawDoc {
    format: String,
    rdb: RawRdb,
    server: ServerInfo,
    #[serde(default)]
    functions: Option<Vec<RawFunction>>,
    databases: BTreeMap<String, RawDb>,
    #[serde(default)]
    slots: Option<Vec<(u16, u64, u64)>>,
    #[serde(default)]
    expire_source: Vec<String>,
    #[serde(default)]
    check_rdb: Json,
    #[serde(default)]
    generator: Json,
    #[serde(default)]
    populate_manifest: Json,
}

#[derive(Deserialize)]
struct RawRdb {
    file: String,
    size: u64,
    sha256: String,
    header: String,
    magic: String,
    version: u32,
    trailing_crc64_le: Option<String>,
    eof_opcode_at: u64,
    #[serde(default)]
    save_duration_ms: Option<f64>,
}

#[derive(Deserialize)]
struct RawFunction {
    name: String,
    engine: String,
    code: JBytes,
    #[serde(default)]
    functions: Vec<RawFunctionItem>,
}

#[derive(Deserialize)]
struct RawFunctionItem {
    name: String,
    #[serde(default)]
    flags: Vec<String>,
}

#[derive(Deserialize)]
struct RawDb {
    keys: u64,
    expires: u64,
    entries: Vec<RawEntry>,
}

#[derive(Deserialize)]
struct RawEntry {
    key: JBytes,
    #[serde(rename = "type")]
    ty: String,
    #[serde(default)]
    encoding: String,
    expire_at_ms: Option<i64>,
    size: u64,
    value: Json,
    #[serde(default)]
    field_expire_at_ms: Vec<(JBytes, i64)>,
    #[serde(default)]
    lfu_freq: Option<u8>,
    #[serde(default)]
    lru_idle_s: Option<u64>,
    #[serde(default)]
    slot: Option<u16>,
}

#[derive(Deserialize)]
struct RawDigest {
    len: u64,
    sha256: String,
}

#[derive(Deserialize)]
struct RawStream {
    length: u64,
    last_id: JId,
    entries_added: Option<u64>,
    max_deleted_id: Option<JId>,
    first_id_recorded: Option<JId>,
    entries: Vec<(JId, Vec<(JBytes, JBytes)>)>,
    groups: Vec<RawGroup>,
    #[serde(default)]
    computed: Option<Json>,
}

#[derive(Deserialize)]
struct RawGroup {
    name: JBytes,
    last_delivered_id: JId,
    entries_read: Option<i64>,
    pel: Vec<(JId, Option<JBytes>, Option<i64>, u64)>,
    consumers: Vec<RawConsumer>,
}

#[derive(Deserialize)]
struct RawConsumer {
    name: JBytes,
    seen_time_ms: Option<i64>,
    active_time_ms: Option<i64>,
    pel: Vec<(JId, Option<i64>, u64)>,
}

/// Reads and parses an `expected.json`. Errors name the file and what is wrong.
pub fn load_expected(path: &Path) -> Result<Expected, String> {
    let text = std::fs::read_to_string(path).map_err(|e| format!("{}: {e}", path.display()))?;
    parse_expected(&text).map_err(|e| format!("{}: {e}", path.display()))
}

/// Parses the text of an `expected.json`.
pub fn parse_expected(text: &str) -> Result<Expected, String> {
    let raw: RawDoc = serde_json::from_str(text).map_err(|e| e.to_string())?;
    if raw.format != FORMAT {
        return Err(format!("format is {:?}, expected {FORMAT:?}", raw.format));
    }
    let trailing_crc64_le = raw
        .rdb
        .trailing_crc64_le
        .as_deref()
        .map(|h| {
            u64::from_str_radix(h, 16)
                .map_err(|_| format!("rdb.trailing_crc64_le: {h:?} is not a 64-bit hex number"))
        })
        .transpose()?;
    let rdb = RdbInfo {
        file: raw.rdb.file,
        size: raw.rdb.size,
        sha256: raw.rdb.sha256,
        header: raw.rdb.header,
        magic: raw.rdb.magic,
        version: raw.rdb.version,
        trailing_crc64_le,
        eof_opcode_at: raw.rdb.eof_opcode_at,
        save_duration_ms: raw.rdb.save_duration_ms,
    };
    let functions = raw.functions.map(|fs| {
        fs.into_iter()
            .map(|f| ExpectedFunction {
                name: f.name,
                engine: f.engine,
                code: f.code.0,
                functions: f.functions.into_iter().map(|i| (i.name, i.flags)).collect(),
            })
            .collect()
    });
    let mut databases = BTreeMap::new();
    for (name, db) in raw.databases {
        let n: u32 = name
            .parse()
            .map_err(|_| format!("databases: {name:?} is not a database number"))?;
        let entries = db
            .entries
            .into_iter()
            .enumerate()
            .map(|(i, e)| {
                let key = e.key.0.clone();
                convert_entry(e)
                    .map_err(|m| format!("databases.{n}.entries[{i}] (key {}): {m}", show(&key)))
            })
            .collect::<Result<Vec<_>, _>>()?;
        databases.insert(
            n,
            ExpectedDb {
                keys: db.keys,
                expires: db.expires,
                entries,
            },
        );
    }
    let slots = raw.slots.map(|rows| {
        rows.into_iter()
            .map(|(slot, keys, expires)| SlotInfo {
                slot,
                keys,
                expires,
            })
            .collect()
    });
    Ok(Expected {
        format: raw.format,
        rdb,
        server: raw.server,
        functions,
        databases,
        slots,
        expire_source: raw.expire_source,
        check_rdb: raw.check_rdb,
        generator: raw.generator,
        populate_manifest: raw.populate_manifest,
    })
}

fn convert_entry(e: RawEntry) -> Result<ExpectedEntry, String> {
    let value_type = ValueType::from_name(&e.ty)
        .filter(|t| *t != ValueType::Module)
        .ok_or_else(|| format!("unknown type {:?}", e.ty))?;
    let value = convert_value(value_type, e.value)?;
    let mut field_expire_at_ms: Vec<(Bytes, i64)> = e
        .field_expire_at_ms
        .into_iter()
        .map(|(f, ms)| (f.0, ms))
        .collect();
    field_expire_at_ms.sort();
    Ok(ExpectedEntry {
        key: e.key.0,
        value_type,
        encoding: e.encoding,
        expire_at_ms: e.expire_at_ms,
        size: e.size,
        value,
        field_expire_at_ms,
        lfu_freq: e.lfu_freq,
        lru_idle_s: e.lru_idle_s,
        slot: e.slot,
    })
}

fn convert_value(ty: ValueType, v: Json) -> Result<ExpectedValue, String> {
    if ty == ValueType::String && v.get("len").is_some() {
        let d: RawDigest = serde_json::from_value(v).map_err(|e| format!("value: {e}"))?;
        return Ok(ExpectedValue::StringDigest {
            len: d.len,
            sha256: d.sha256.to_ascii_lowercase(),
        });
    }
    if ty == ValueType::Stream {
        let s: RawStream = serde_json::from_value(v).map_err(|e| format!("stream value: {e}"))?;
        return Ok(ExpectedValue::Stream(Box::new(convert_stream(s))));
    }
    Ok(match value_from_json(ty, &v).map_err(|e| e.to_string())? {
        Value::String(b) => ExpectedValue::String(b),
        Value::List(l) => ExpectedValue::List(l),
        Value::Set(s) => ExpectedValue::Set(s),
        Value::SortedSet(z) => ExpectedValue::ZSet(z),
        Value::Hash(h) => ExpectedValue::Hash(h.into_iter().map(|f| (f.field, f.value)).collect()),
        Value::Stream(_) | Value::Module(_) => {
            return Err(format!("unsupported type {}", ty.name()))
        }
    })
}

fn convert_stream(s: RawStream) -> ExpectedStream {
    ExpectedStream {
        length: s.length,
        last_id: s.last_id.0,
        entries_added: s.entries_added,
        max_deleted_id: s.max_deleted_id.map(|i| i.0),
        first_id_recorded: s.first_id_recorded.map(|i| i.0),
        entries: s
            .entries
            .into_iter()
            .map(|(id, fields)| StreamEntry {
                id: id.0,
                fields: fields.into_iter().map(|(f, v)| (f.0, v.0)).collect(),
            })
            .collect(),
        groups: s
            .groups
            .into_iter()
            .map(|g| ExpectedGroup {
                name: g.name.0,
                last_delivered_id: g.last_delivered_id.0,
                entries_read: g.entries_read,
                pel: g
                    .pel
                    .into_iter()
                    .map(|(id, consumer, time, count)| ExpectedPending {
                        id: id.0,
                        consumer: consumer.map(|c| c.0),
                        delivery_time_ms: time,
                        delivery_count: count,
                    })
                    .collect(),
                consumers: g
                    .consumers
                    .into_iter()
                    .map(|c| ExpectedConsumer {
                        name: c.name.0,
                        seen_time_ms: c.seen_time_ms,
                        active_time_ms: c.active_time_ms,
                        pel: c
                            .pel
                            .into_iter()
                            .map(|(id, time, count)| ExpectedConsumerPending {
                                id: id.0,
                                delivery_time_ms: time,
                                delivery_count: count,
                            })
                            .collect(),
                    })
                    .collect(),
            })
            .collect(),
        computed: s.computed,
    }
}

// ---------------------------------------------------------------------------------------------
// Comparison

/// A short, escaped, quoted preview of a byte string (`"dev:\x00k"`), truncated to 60 bytes
/// with the total length appended.
pub fn show(b: &[u8]) -> String {
    const MAX: usize = 60;
    let mut s = String::from("\"");
    for &c in b.iter().take(MAX) {
        match c {
            b'"' => s.push_str("\\\""),
            b'\\' => s.push_str("\\\\"),
            0x20..=0x7e => s.push(char::from(c)),
            _ => {
                let _ = write!(s, "\\x{c:02x}");
            }
        }
    }
    s.push('"');
    if b.len() > MAX {
        let _ = write!(s, "... ({} bytes)", b.len());
    }
    s
}

fn show_opt<T: std::fmt::Display>(v: Option<T>) -> String {
    v.map_or_else(|| "none".to_string(), |v| v.to_string())
}

/// Collects difference lines under a location prefix.
struct Diffs<'a> {
    out: &'a mut Vec<String>,
    at: String,
}

impl Diffs<'_> {
    fn push(&mut self, msg: impl std::fmt::Display) {
        self.out.push(format!("{}: {msg}", self.at));
    }

    /// Reports `what` when the two differ.
    fn eq<T: PartialEq + std::fmt::Display>(&mut self, what: &str, expected: T, got: T) {
        if expected != got {
            self.push(format_args!("{what}: expected {expected}, got {got}"));
        }
    }

    /// Reports `what` when the two differ (`None` shown as `none`).
    fn eq_opt<T: PartialEq + std::fmt::Display>(
        &mut self,
        what: &str,
        expected: Option<T>,
        got: Option<T>,
    ) {
        if expected != got {
            self.push(format_args!(
                "{what}: expected {}, got {}",
                show_opt(expected),
                show_opt(got)
            ));
        }
    }

    /// A sub-location (`at` + `suffix`).
    fn sub(&mut self, suffix: impl std::fmt::Display) -> Diffs<'_> {
        Diffs {
            at: format!("{}{suffix}", self.at),
            out: self.out,
        }
    }
}

/// Pushes the first [`MAX_ITEMS`] of `lines`, then a count of the rest.
fn push_limited(d: &mut Diffs<'_>, lines: Vec<String>) {
    let n = lines.len();
    for l in lines.into_iter().take(MAX_ITEMS) {
        d.push(l);
    }
    if n > MAX_ITEMS {
        d.push(format_args!("... and {} more differences", n - MAX_ITEMS));
    }
}

/// Merges two sorted sequences by key and reports items only in one of them, and items in both
/// whose payloads differ (via `differ`, which returns a description).
fn merge_diff<K: Ord, A, B>(
    what: &str,
    expected: &[(K, A)],
    ours: &[(K, B)],
    name: impl Fn(&K) -> String,
    differ: impl Fn(&A, &B) -> Option<String>,
) -> Vec<String> {
    let mut lines = Vec::new();
    let (mut i, mut j) = (0, 0);
    loop {
        match (expected.get(i), ours.get(j)) {
            (None, None) => break,
            (Some((k, _)), None) => {
                lines.push(format!("{what} {} missing", name(k)));
                i += 1;
            }
            (None, Some((k, _))) => {
                lines.push(format!("{what} {} unexpected", name(k)));
                j += 1;
            }
            (Some((ke, a)), Some((ko, b))) => match ke.cmp(ko) {
                std::cmp::Ordering::Less => {
                    lines.push(format!("{what} {} missing", name(ke)));
                    i += 1;
                }
                std::cmp::Ordering::Greater => {
                    lines.push(format!("{what} {} unexpected", name(ko)));
                    j += 1;
                }
                std::cmp::Ordering::Equal => {
                    if let Some(m) = differ(a, b) {
                        lines.push(format!("{what} {}: {m}", name(ke)));
                    }
                    i += 1;
                    j += 1;
                }
            },
        }
    }
    lines
}

/// Compares `ks` with `expected` and returns every difference as one line (empty = equal).
///
/// Databases without entries in `ks` count as absent. Entries are matched by key bytes.
/// See the module documentation for what is compared.
pub fn compare(expected: &Expected, ks: &Keyspace, opts: &CompareOptions) -> Vec<String> {
    let mut out = Vec::new();
    let ours: BTreeMap<u32, &[Entry]> = ks
        .dbs
        .iter()
        .filter(|(_, d)| !d.entries.is_empty())
        .map(|(n, d)| (*n, d.entries.as_slice()))
        .collect();
    for (n, db) in &expected.databases {
        match ours.get(n) {
            None => out.push(format!(
                "db {n}: missing (expected {} keys, the keyspace has none)",
                db.keys
            )),
            Some(entries) => compare_db(*n, db, entries, opts, &mut out),
        }
    }
    for (n, entries) in &ours {
        if !expected.databases.contains_key(n) {
            out.push(format!(
                "db {n}: unexpected ({} keys, expected none)",
                entries.len()
            ));
        }
    }
    compare_functions(expected.functions.as_deref(), &ks.functions, &mut out);
    out
}

fn compare_functions(expected: Option<&[ExpectedFunction]>, ours: &[Bytes], out: &mut Vec<String>) {
    let Some(expected) = expected else {
        if !ours.is_empty() {
            out.push(format!(
                "functions: expected none (server before 7.0), the keyspace has {}",
                ours.len()
            ));
        }
        return;
    };
    // Multiset comparison of the code bytes; keyed by code, payload = library name.
    let mut exp: Vec<(Bytes, &str)> = expected
        .iter()
        .map(|f| (f.code.clone(), f.name.as_str()))
        .collect();
    exp.sort();
    let mut got: Vec<(Bytes, ())> = ours.iter().map(|c| (c.clone(), ())).collect();
    got.sort();
    let names: HashMap<&Bytes, &str> = exp.iter().map(|(c, n)| (c, *n)).collect();
    let lines = merge_diff(
        "function library",
        &exp,
        &got,
        |code| match names.get(code) {
            Some(n) => format!("{n:?}"),
            None => show(code),
        },
        |_, _| None,
    );
    let mut d = Diffs {
        out,
        at: "functions".to_string(),
    };
    push_limited(&mut d, lines);
}

fn compare_db(
    n: u32,
    exp: &ExpectedDb,
    ours: &[Entry],
    opts: &CompareOptions,
    out: &mut Vec<String>,
) {
    let mut d = Diffs {
        out,
        at: format!("db {n}"),
    };
    d.eq("keys", exp.keys, ours.len() as u64);
    let our_expires = ours.iter().filter(|e| e.expire_at_ms.is_some()).count() as u64;
    d.eq("expires", exp.expires, our_expires);

    let mut by_key: BTreeMap<&[u8], Vec<&Entry>> = BTreeMap::new();
    for e in ours {
        by_key.entry(e.key.as_ref()).or_default().push(e);
    }
    for (k, es) in &by_key {
        if es.len() > 1 {
            d.sub(format_args!(" key {}", show(k)))
                .push(format_args!("appears {} times in the keyspace", es.len()));
        }
    }
    let mut seen: BTreeMap<&[u8], usize> = BTreeMap::new();
    for e in &exp.entries {
        *seen.entry(e.key.as_ref()).or_default() += 1;
        let mut kd = d.sub(format_args!(" key {}", show(&e.key)));
        match by_key.get(e.key.as_ref()).and_then(|v| v.first()) {
            None => kd.push(format_args!("missing (expected a {})", e.value_type.name())),
            Some(o) => compare_entry(&mut kd, e, o, opts),
        }
    }
    for (k, c) in &seen {
        if *c > 1 {
            d.sub(format_args!(" key {}", show(k)))
                .push(format_args!("listed {c} times in expected.json"));
        }
    }
    let mut extra: Vec<&Entry> = ours
        .iter()
        .filter(|e| !seen.contains_key(e.key.as_ref()))
        .collect();
    extra.sort_by(|a, b| a.key.cmp(&b.key));
    extra.dedup_by(|a, b| a.key == b.key);
    for e in extra {
        d.sub(format_args!(" key {}", show(&e.key)))
            .push(format_args!(
                "unexpected {} key",
                e.value.value_type().name()
            ));
    }
}

/// The `size` the server reports for a value (STRLEN, LLEN, ..., XLEN).
fn value_size(v: &Value) -> u64 {
    match v {
        Value::String(b) => b.len() as u64,
        Value::List(l) | Value::Set(l) => l.len() as u64,
        Value::SortedSet(z) => z.len() as u64,
        Value::Hash(h) => h.len() as u64,
        Value::Stream(s) => s.length,
        Value::Module(_) => 0,
    }
}

fn compare_entry(d: &mut Diffs<'_>, exp: &ExpectedEntry, ours: &Entry, opts: &CompareOptions) {
    let our_type = ours.value.value_type();
    if our_type != exp.value_type {
        d.push(format_args!(
            "type: expected {}, got {}",
            exp.value_type.name(),
            our_type.name()
        ));
        return;
    }
    d.eq("size", exp.size, value_size(&ours.value));
    compare_value(d, &exp.value, &ours.value);
    d.eq_opt("expire_at_ms", exp.expire_at_ms, ours.expire_at_ms);

    if let Value::Hash(fields) = &ours.value {
        let mut got: Vec<(Bytes, i64)> = fields
            .iter()
            .filter_map(|f| f.expire_at_ms.map(|ms| (f.field.clone(), ms)))
            .collect();
        got.sort();
        let lines = merge_diff(
            "field TTL of",
            &exp.field_expire_at_ms,
            &got,
            |f| show(f),
            |a, b| (a != b).then(|| format!("expected {a}, got {b}")),
        );
        push_limited(d, lines);
    }

    if opts.check_lfu {
        d.eq_opt("lfu_freq", exp.lfu_freq, ours.lfu_freq);
    }
    match (exp.lru_idle_s, ours.lru_idle_s) {
        (None, None) => {}
        (Some(e), Some(o)) => {
            if o > e || e - o > opts.lru_tolerance_s {
                d.push(format_args!(
                    "lru_idle_s: expected {e} (ours may be up to {} s lower), got {o}",
                    opts.lru_tolerance_s
                ));
            }
        }
        (e, o) => d.push(format_args!(
            "lru_idle_s: expected {}, got {}",
            show_opt(e),
            show_opt(o)
        )),
    }
}

fn compare_value(d: &mut Diffs<'_>, exp: &ExpectedValue, ours: &Value) {
    match (exp, ours) {
        (ExpectedValue::String(e), Value::String(o)) => {
            if e != o {
                d.push(format_args!("value: expected {}, got {}", show(e), show(o)));
            }
        }
        (ExpectedValue::StringDigest { len, sha256 }, Value::String(o)) => {
            let got = format!("{:x}", Sha256::digest(o));
            if *len != o.len() as u64 || *sha256 != got {
                d.push(format_args!(
                    "value: expected {len} bytes with sha256 {sha256}, got {} bytes with sha256 {got}",
                    o.len()
                ));
            }
        }
        (ExpectedValue::List(e), Value::List(o)) => compare_list(d, e, o),
        (ExpectedValue::Set(e), Value::Set(o)) => {
            let mut e: Vec<(&Bytes, ())> = e.iter().map(|b| (b, ())).collect();
            let mut o: Vec<(&Bytes, ())> = o.iter().map(|b| (b, ())).collect();
            e.sort();
            o.sort();
            let lines = merge_diff("member", &e, &o, |m| show(m), |_, _| None);
            push_limited(d, lines);
        }
        (ExpectedValue::ZSet(e), Value::SortedSet(o)) => compare_zset(d, e, o),
        (ExpectedValue::Hash(e), Value::Hash(o)) => {
            let mut e: Vec<(&Bytes, &Bytes)> = e.iter().map(|(f, v)| (f, v)).collect();
            let mut o: Vec<(&Bytes, &Bytes)> = o.iter().map(|f| (&f.field, &f.value)).collect();
            e.sort();
            o.sort();
            let lines = merge_diff(
                "field",
                &e,
                &o,
                |f| show(f),
                |a, b| (a != b).then(|| format!("expected {}, got {}", show(a), show(b))),
            );
            push_limited(d, lines);
        }
        (ExpectedValue::Stream(e), Value::Stream(o)) => compare_stream(d, e, o),
        _ => d.push("value: shape does not match the type"),
    }
}

fn compare_list(d: &mut Diffs<'_>, e: &[Bytes], o: &[Bytes]) {
    if e.len() != o.len() {
        d.push(format_args!(
            "list length: expected {}, got {}",
            e.len(),
            o.len()
        ));
    }
    let lines: Vec<String> = e
        .iter()
        .zip(o)
        .enumerate()
        .filter(|(_, (a, b))| a != b)
        .map(|(i, (a, b))| format!("list[{i}]: expected {}, got {}", show(a), show(b)))
        .collect();
    push_limited(d, lines);
}

/// Rank order: ascending score, ties by member bytes. Scores are never NaN; -0 and 0 compare
/// equal here, as in the server.
fn rank_sorted(z: &[(Bytes, f64)]) -> Vec<(&Bytes, f64)> {
    let mut v: Vec<(&Bytes, f64)> = z.iter().map(|(m, s)| (m, *s)).collect();
    v.sort_by(|a, b| {
        a.1.partial_cmp(&b.1)
            .unwrap_or(std::cmp::Ordering::Equal)
            .then_with(|| a.0.cmp(b.0))
    });
    v
}

fn compare_zset(d: &mut Diffs<'_>, e: &[(Bytes, f64)], o: &[(Bytes, f64)]) {
    if e.len() != o.len() {
        d.push(format_args!(
            "zset length: expected {}, got {}",
            e.len(),
            o.len()
        ));
    }
    let e = rank_sorted(e);
    let o = rank_sorted(o);
    let lines: Vec<String> = e
        .iter()
        .zip(&o)
        .enumerate()
        // `==` on f64: -0 == 0, inf == inf.
        .filter(|(_, (a, b))| a.0 != b.0 || a.1 != b.1)
        .map(|(i, (a, b))| {
            format!(
                "rank {i}: expected {} {:?}, got {} {:?}",
                show(a.0),
                a.1,
                show(b.0),
                b.1
            )
        })
        .collect();
    push_limited(d, lines);
}

fn compare_stream(d: &mut Diffs<'_>, e: &ExpectedStream, o: &Stream) {
    d.eq("stream length", e.length, o.length);
    d.eq("stream last_id", e.last_id, o.last_id);
    d.eq_opt("stream entries_added", e.entries_added, o.entries_added);
    d.eq_opt("stream max_deleted_id", e.max_deleted_id, o.max_deleted_id);
    d.eq_opt("stream first_id_recorded", e.first_id_recorded, o.first_id);

    // Live entries, by position (both are in ID order).
    if e.entries.len() != o.entries.len() {
        d.push(format_args!(
            "stream entries: expected {} live entries, got {}",
            e.entries.len(),
            o.entries.len()
        ));
    }
    let lines: Vec<String> = e
        .entries
        .iter()
        .zip(&o.entries)
        .enumerate()
        .filter(|(_, (a, b))| a != b)
        .map(|(i, (a, b))| {
            if a.id != b.id {
                format!("stream entry {i}: expected ID {}, got {}", a.id, b.id)
            } else {
                format!(
                    "stream entry {}: fields differ: expected {}, got {}",
                    a.id,
                    show_fields(&a.fields),
                    show_fields(&b.fields)
                )
            }
        })
        .collect();
    push_limited(d, lines);

    // Groups by name.
    let mut eg: Vec<(&Bytes, &ExpectedGroup)> = e.groups.iter().map(|g| (&g.name, g)).collect();
    let mut og: Vec<(&Bytes, &rdb_model::ConsumerGroup)> =
        o.groups.iter().map(|g| (&g.name, g)).collect();
    eg.sort_by(|a, b| a.0.cmp(b.0));
    og.sort_by(|a, b| a.0.cmp(b.0));
    let lines = merge_diff(
        "group",
        &eg,
        &og,
        |n| show(n),
        |a, b| {
            let sub = group_diffs(a, b);
            let n = sub.len();
            let mut text = sub
                .into_iter()
                .take(MAX_ITEMS)
                .collect::<Vec<_>>()
                .join("; ");
            if n > MAX_ITEMS {
                let _ = write!(text, "; ... and {} more differences", n - MAX_ITEMS);
            }
            (n > 0).then_some(text)
        },
    );
    for l in lines {
        d.push(l);
    }
}

fn show_fields(f: &[(Bytes, Bytes)]) -> String {
    let parts: Vec<String> = f
        .iter()
        .map(|(a, b)| format!("{} {}", show(a), show(b)))
        .collect();
    format!("[{}]", parts.join(", "))
}

/// The differences within one group, as short phrases (joined by the caller).
fn group_diffs(e: &ExpectedGroup, o: &rdb_model::ConsumerGroup) -> Vec<String> {
    let mut lines = Vec::new();
    if e.last_delivered_id != o.last_delivered_id {
        lines.push(format!(
            "last_delivered_id: expected {}, got {}",
            e.last_delivered_id, o.last_delivered_id
        ));
    }
    if e.entries_read != o.entries_read {
        lines.push(format!(
            "entries_read: expected {}, got {}",
            show_opt(e.entries_read),
            show_opt(o.entries_read)
        ));
    }

    // Our PEL by ID, and the owner of each ID (first consumer listing it).
    let our_pel: BTreeMap<StreamId, &rdb_model::PendingEntry> =
        o.pel.iter().map(|p| (p.id, p)).collect();
    let mut owner: HashMap<StreamId, &Bytes> = HashMap::new();
    for c in &o.consumers {
        for id in &c.pel {
            owner.entry(*id).or_insert(&c.name);
        }
    }

    let ep: Vec<(StreamId, &ExpectedPending)> = {
        let mut v: Vec<_> = e.pel.iter().map(|p| (p.id, p)).collect();
        v.sort_by_key(|p| p.0);
        v
    };
    let op: Vec<(StreamId, &rdb_model::PendingEntry)> =
        our_pel.iter().map(|(k, v)| (*k, *v)).collect();
    lines.extend(merge_diff(
        "pending",
        &ep,
        &op,
        |id| id.to_string(),
        |a, b| {
            let mut m = Vec::new();
            let our_owner = owner.get(&a.id).copied();
            if a.consumer.as_ref() != our_owner {
                m.push(format!(
                    "consumer expected {}, got {}",
                    a.consumer.as_ref().map_or("none".into(), |c| show(c)),
                    our_owner.map_or("none".into(), |c| show(c))
                ));
            }
            if let Some(t) = a.delivery_time_ms {
                if t != b.delivery_time_ms {
                    m.push(format!(
                        "delivery time expected {t}, got {}",
                        b.delivery_time_ms
                    ));
                }
            }
            if a.delivery_count != b.delivery_count {
                m.push(format!(
                    "delivery count expected {}, got {}",
                    a.delivery_count, b.delivery_count
                ));
            }
            (!m.is_empty()).then(|| m.join(", "))
        },
    ));

    // Consumers by name; their PEL times and counts come from our group PEL.
    let mut ec: Vec<(&Bytes, &ExpectedConsumer)> =
        e.consumers.iter().map(|c| (&c.name, c)).collect();
    let mut oc: Vec<(&Bytes, &rdb_model::Consumer)> =
        o.consumers.iter().map(|c| (&c.name, c)).collect();
    ec.sort_by(|a, b| a.0.cmp(b.0));
    oc.sort_by(|a, b| a.0.cmp(b.0));
    lines.extend(merge_diff(
        "consumer",
        &ec,
        &oc,
        |n| show(n),
        |a, b| {
            let mut m = Vec::new();
            if let Some(t) = a.seen_time_ms {
                if t != b.seen_time_ms {
                    m.push(format!("seen_time_ms expected {t}, got {}", b.seen_time_ms));
                }
            }
            if a.active_time_ms != b.active_time_ms {
                m.push(format!(
                    "active_time_ms expected {}, got {}",
                    show_opt(a.active_time_ms),
                    show_opt(b.active_time_ms)
                ));
            }
            let mut ea: Vec<(StreamId, &ExpectedConsumerPending)> =
                a.pel.iter().map(|p| (p.id, p)).collect();
            ea.sort_by_key(|p| p.0);
            let mut ob: Vec<(StreamId, Option<&&rdb_model::PendingEntry>)> =
                b.pel.iter().map(|id| (*id, our_pel.get(id))).collect();
            ob.sort_by_key(|p| p.0);
            m.extend(merge_diff(
                "pending",
                &ea,
                &ob,
                |id| id.to_string(),
                |x, y| {
                    let Some(y) = y else {
                        return Some("not in our group PEL".to_string());
                    };
                    let mut n = Vec::new();
                    if let Some(t) = x.delivery_time_ms {
                        if t != y.delivery_time_ms {
                            n.push(format!(
                                "delivery time expected {t}, got {}",
                                y.delivery_time_ms
                            ));
                        }
                    }
                    if x.delivery_count != y.delivery_count {
                        n.push(format!(
                            "delivery count expected {}, got {}",
                            x.delivery_count, y.delivery_count
                        ));
                    }
                    (!n.is_empty()).then(|| n.join(", "))
                },
            ));
            (!m.is_empty()).then(|| m.join(", "))
        },
    ));

    lines
}

#[cfg(test)]
mod tests {
    use super::*;
    use rdb_model::{Consumer, ConsumerGroup, Db, HashField, PendingEntry};

    /// A small expected.json covering every type, streams with groups, field TTLs and LRU.
    const SMALL: &str = r##"{
      "format": "rdb-corpus-expected/1",
      "rdb": {"file": "dump.rdb", "size": 100, "sha256": "00", "header": "REDIS0012",
              "magic": "REDIS", "version": 12, "trailing_crc64_le": "0da2d6c97cd08474",
              "eof_opcode_at": 91, "save_duration_ms": 1.5},
      "server": {"flavor": "redis", "version": "7.4.1", "redis_version": "7.4.1",
                 "mode": "standalone", "config": {"rdbcompression": "yes"}},
      "functions": [{"name": "lib", "engine": "LUA", "code": "#!lua name=lib\n",
                     "functions": [{"name": "f", "flags": ["no-writes"]}]}],
      "expire_source": ["pexpiretime"],
      "databases": {
        "0": {"keys": 6, "expires": 1, "entries": [
          {"key": "h", "type": "hash", "encoding": "listpackex", "expire_at_ms": null, "size": 2,
           "value": [["a", "1"], ["b", "2"]], "field_expire_at_ms": [["b", 4102444800000]],
           "lru_idle_s": 7},
          {"key": "l", "type": "list", "encoding": "quicklist", "expire_at_ms": 4102444800000,
           "size": 2, "value": ["x", {"b64": "AP8="}], "lru_idle_s": 3},
          {"key": "s", "type": "set", "encoding": "listpack", "expire_at_ms": null, "size": 2,
           "value": ["p", "q"], "lru_idle_s": 3},
          {"key": "st", "type": "stream", "encoding": "stream", "expire_at_ms": null, "size": 1,
           "value": {"length": 1, "last_id": "5-0", "entries_added": 2, "max_deleted_id": "4-0",
                     "first_id_recorded": "5-0", "entries": [["5-0", [["f", "v"]]]],
                     "groups": [{"name": "g", "last_delivered_id": "5-0", "entries_read": null,
                                 "pel": [["5-0", "c", 1000, 2]],
                                 "consumers": [{"name": "c", "seen_time_ms": 1001,
                                                "active_time_ms": 1000,
                                                "pel": [["5-0", 1000, 2]]}]}],
                     "computed": {"radix_tree_keys": 1}},
           "lru_idle_s": 3},
          {"key": {"b64": "AHN0cg=="}, "type": "string", "encoding": "raw",
           "expire_at_ms": null, "size": 3, "value": "abc", "lru_idle_s": 3},
          {"key": "z", "type": "zset", "encoding": "listpack", "expire_at_ms": null, "size": 3,
           "value": [["m", "-inf"], ["a", "0"], ["b", "1e+300"]], "lru_idle_s": 3}
        ]},
        "3": {"keys": 1, "expires": 0, "entries": [
          {"key": "big", "type": "string", "encoding": "raw", "expire_at_ms": null, "size": 3,
           "value": {"len": 3, "sha256": "BA7816BF8F01CFEA414140DE5DAE2223B00361A396177A9CB410FF61F20015AD"},
           "lru_idle_s": 3}
        ]}
      }
    }"##;

    fn b(s: &'static [u8]) -> Bytes {
        Bytes::from_static(s)
    }

    fn with_lru(mut e: Entry, s: u64) -> Entry {
        e.lru_idle_s = Some(s);
        e
    }

    /// The keyspace a correct reader would produce for `SMALL` (entries in another order,
    /// sets/hashes/zsets in "file" order, -0 for 0).
    fn small_keyspace() -> Keyspace {
        let mut ks = Keyspace::default();
        ks.functions.push(b(b"#!lua name=lib\n"));
        let mut list = Entry::new(b(b"l"), Value::List(vec![b(b"x"), b(b"\x00\xff")]));
        list.expire_at_ms = Some(4_102_444_800_000);
        let stream = rdb_model::Stream {
            entries: vec![StreamEntry {
                id: StreamId::new(5, 0),
                fields: vec![(b(b"f"), b(b"v"))],
            }],
            length: 1,
            last_id: StreamId::new(5, 0),
            first_id: Some(StreamId::new(5, 0)),
            max_deleted_id: Some(StreamId::new(4, 0)),
            entries_added: Some(2),
            groups: vec![ConsumerGroup {
                name: b(b"g"),
                last_delivered_id: StreamId::new(5, 0),
                entries_read: None,
                pel: vec![PendingEntry {
                    id: StreamId::new(5, 0),
                    delivery_time_ms: 1000,
                    delivery_count: 2,
                }],
                consumers: vec![Consumer {
                    name: b(b"c"),
                    seen_time_ms: 1001,
                    active_time_ms: Some(1000),
                    pel: vec![StreamId::new(5, 0)],
                }],
            }],
        };
        ks.dbs.insert(
            0,
            Db {
                entries: vec![
                    with_lru(
                        Entry::new(
                            b(b"z"),
                            Value::SortedSet(vec![
                                (b(b"b"), 1e300),
                                (b(b"a"), -0.0),
                                (b(b"m"), f64::NEG_INFINITY),
                            ]),
                        ),
                        1,
                    ),
                    with_lru(list, 3),
                    with_lru(Entry::new(b(b"s"), Value::Set(vec![b(b"q"), b(b"p")])), 3),
                    with_lru(
                        Entry::new(
                            b(b"h"),
                            Value::Hash(vec![
                                HashField {
                                    field: b(b"b"),
                                    value: b(b"2"),
                                    expire_at_ms: Some(4_102_444_800_000),
                                },
                                HashField {
                                    field: b(b"a"),
                                    value: b(b"1"),
                                    expire_at_ms: None,
                                },
                            ]),
                        ),
                        7,
                    ),
                    with_lru(Entry::new(b(b"st"), Value::Stream(Box::new(stream))), 3),
                    with_lru(Entry::new(b(b"\x00str"), Value::String(b(b"abc"))), 3),
                ],
            },
        );
        ks.dbs.insert(
            3,
            Db {
                entries: vec![with_lru(Entry::new(b(b"big"), Value::String(b(b"abc"))), 3)],
            },
        );
        ks
    }

    fn entry_mut<'a>(ks: &'a mut Keyspace, db: u32, key: &[u8]) -> &'a mut Entry {
        ks.dbs
            .get_mut(&db)
            .unwrap()
            .entries
            .iter_mut()
            .find(|e| e.key.as_ref() == key)
            .unwrap()
    }

    #[test]
    fn parses_small() {
        let exp = parse_expected(SMALL).unwrap();
        assert_eq!(exp.rdb.header, "REDIS0012");
        assert_eq!(exp.rdb.trailing_crc64_le, Some(0x0da2_d6c9_7cd0_8474));
        assert_eq!(exp.rdb.eof_opcode_at, 91);
        assert_eq!(
            exp.server.config.get("rdbcompression").map(String::as_str),
            Some("yes")
        );
        assert_eq!(exp.databases.len(), 2);
        let z = &exp.databases[&0].entries[5];
        assert_eq!(
            z.value,
            ExpectedValue::ZSet(vec![
                (b(b"m"), f64::NEG_INFINITY),
                (b(b"a"), 0.0),
                (b(b"b"), 1e300)
            ])
        );
        assert_eq!(exp.databases[&0].entries[4].key, b(b"\x00str"));
        assert!(matches!(
            &exp.databases[&3].entries[0].value,
            ExpectedValue::StringDigest { len: 3, sha256 } if sha256.starts_with("ba7816")
        ));
        assert!(exp.slots.is_none());
    }

    #[test]
    fn equal_input_has_no_differences() {
        let exp = parse_expected(SMALL).unwrap();
        let ks = small_keyspace();
        // The zset entry has lru 1 vs expected 3: within tolerance.
        let diffs = compare(&exp, &ks, &CompareOptions::default());
        assert!(diffs.is_empty(), "{}", diffs.join("\n"));
    }

    /// Applies `change` to the good keyspace and returns the differences found.
    fn diffs_after(change: impl FnOnce(&mut Keyspace)) -> Vec<String> {
        let exp = parse_expected(SMALL).unwrap();
        let mut ks = small_keyspace();
        change(&mut ks);
        compare(&exp, &ks, &CompareOptions::default())
    }

    fn assert_one_diff(diffs: &[String], needle: &str) {
        assert_eq!(diffs.len(), 1, "{diffs:#?}");
        assert!(
            diffs[0].contains(needle),
            "{:?} does not contain {needle:?}",
            diffs[0]
        );
    }

    #[test]
    fn differences_are_reported() {
        let d = diffs_after(|ks| {
            let e = entry_mut(ks, 0, b"\x00str");
            e.value = Value::String(b(b"abd"));
        });
        assert_one_diff(
            &d,
            r#"db 0 key "\x00str": value: expected "abc", got "abd""#,
        );

        let d = diffs_after(|ks| {
            if let Value::List(l) = &mut entry_mut(ks, 0, b"l").value {
                l.swap(0, 1);
            }
        });
        assert_eq!(d.len(), 2, "{d:#?}");
        assert!(d[0].contains("list[0]"), "{d:#?}");

        let d = diffs_after(|ks| {
            if let Value::Set(s) = &mut entry_mut(ks, 0, b"s").value {
                s[0] = b(b"r");
            }
        });
        assert_eq!(d.len(), 2, "{d:#?}");
        assert!(
            d.iter().any(|l| l.contains(r#"member "q" missing"#)),
            "{d:#?}"
        );
        assert!(
            d.iter().any(|l| l.contains(r#"member "r" unexpected"#)),
            "{d:#?}"
        );

        let d = diffs_after(|ks| {
            if let Value::SortedSet(z) = &mut entry_mut(ks, 0, b"z").value {
                z[0].1 = 1e299;
            }
        });
        assert_one_diff(&d, "rank 2");

        let d = diffs_after(|ks| {
            if let Value::Hash(h) = &mut entry_mut(ks, 0, b"h").value {
                h[0].expire_at_ms = Some(1);
            }
        });
        assert_one_diff(&d, r#"field TTL of "b": expected 4102444800000, got 1"#);

        let d = diffs_after(|ks| entry_mut(ks, 0, b"l").expire_at_ms = None);
        assert_eq!(d.len(), 2, "{d:#?}");
        assert!(d[0].contains("expires: expected 1, got 0"), "{d:#?}");
        assert!(d[1].contains("expire_at_ms"), "{d:#?}");

        let d = diffs_after(|ks| entry_mut(ks, 0, b"h").lru_idle_s = Some(8));
        assert_one_diff(&d, "lru_idle_s");
        let d = diffs_after(|ks| entry_mut(ks, 0, b"s").lru_idle_s = Some(3 + 11));
        assert_one_diff(&d, "lru_idle_s");
        let d = diffs_after(|ks| entry_mut(ks, 0, b"s").lfu_freq = Some(5));
        assert_one_diff(&d, "lfu_freq: expected none, got 5");

        let d = diffs_after(|ks| entry_mut(ks, 3, b"big").value = Value::String(b(b"abd")));
        assert_one_diff(&d, "sha256");

        let d = diffs_after(|ks| entry_mut(ks, 0, b"s").value = Value::List(vec![]));
        assert_one_diff(&d, "type: expected set, got list");

        let d = diffs_after(|ks| ks.functions.clear());
        assert_one_diff(&d, r#"function library "lib" missing"#);

        let d = diffs_after(|ks| {
            ks.dbs.remove(&3);
            ks.db_mut(4)
                .entries
                .push(Entry::new(b(b"k"), Value::String(b(b"v"))));
        });
        assert_eq!(d.len(), 2, "{d:#?}");
        assert!(d[0].starts_with("db 3: missing"), "{d:#?}");
        assert!(d[1].starts_with("db 4: unexpected"), "{d:#?}");

        let d = diffs_after(|ks| {
            let db = ks.dbs.get_mut(&0).unwrap();
            db.entries.retain(|e| e.key.as_ref() != b"s");
            db.entries.push(Entry::new(b(b"t"), Value::String(b(b"v"))));
        });
        assert_eq!(d.len(), 2, "{d:#?}");
        assert!(
            d.iter()
                .any(|l| l == r#"db 0 key "s": missing (expected a set)"#),
            "{d:#?}"
        );
        assert!(
            d.iter()
                .any(|l| l == r#"db 0 key "t": unexpected string key"#),
            "{d:#?}"
        );
    }

    #[test]
    fn stream_differences_are_reported() {
        fn stream_mut(ks: &mut Keyspace) -> &mut rdb_model::Stream {
            match &mut entry_mut(ks, 0, b"st").value {
                Value::Stream(s) => s,
                _ => unreachable!(),
            }
        }
        let d = diffs_after(|ks| stream_mut(ks).first_id = None);
        assert_one_diff(&d, "stream first_id_recorded: expected 5-0, got none");
        let d = diffs_after(|ks| stream_mut(ks).groups[0].pel[0].delivery_count = 3);
        assert_one_diff(&d, "delivery count expected 2, got 3");
        let d = diffs_after(|ks| stream_mut(ks).groups[0].consumers[0].active_time_ms = None);
        assert_one_diff(&d, "active_time_ms expected 1000, got none");
        let d = diffs_after(|ks| stream_mut(ks).groups[0].consumers[0].pel.clear());
        assert_one_diff(
            &d,
            r#"group "g": pending 5-0: consumer expected "c", got none; consumer "c": pending 5-0 missing"#,
        );
        let d = diffs_after(|ks| stream_mut(ks).entries[0].fields[0].1 = b(b"w"));
        assert_one_diff(&d, "fields differ");
        let d = diffs_after(|ks| stream_mut(ks).groups[0].name = b(b"h"));
        assert_eq!(d.len(), 2, "{d:#?}");
    }

    #[test]
    fn lfu_is_ignored_when_asked() {
        let exp = parse_expected(SMALL).unwrap();
        let mut ks = small_keyspace();
        entry_mut(&mut ks, 0, b"s").lfu_freq = Some(5);
        let opts = CompareOptions {
            check_lfu: false,
            ..CompareOptions::default()
        };
        assert!(compare(&exp, &ks, &opts).is_empty());
        assert_eq!(compare(&exp, &ks, &CompareOptions::default()).len(), 1);
    }

    #[test]
    fn parse_errors_name_the_place() {
        let bad = SMALL.replace(r#""value": ["p", "q"]"#, r#""value": ["p", 5]"#);
        let e = parse_expected(&bad).unwrap_err();
        assert!(e.contains("databases.0.entries[2]"), "{e}");
        assert!(e.contains("value[1]"), "{e}");
        let bad = SMALL.replace("rdb-corpus-expected/1", "rdb-corpus-expected/2");
        assert!(parse_expected(&bad).unwrap_err().contains("format"));
    }
}
