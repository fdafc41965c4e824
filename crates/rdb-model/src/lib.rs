//! The owned, logical keyspace of an RDB snapshot.
//!
//! `rdb-model` is what the reader builds (`rdb_reader::read_keyspace`) and what the writer
//! serialises: databases of entries, each a key, a value of one of the Redis data types, an
//! optional absolute expiry and optional eviction metadata (LRU idle time / LFU counter).
//! Byte strings are [`bytes::Bytes`], so an emulator can hand over its own buffers without
//! copying them.
//!
//! The canonical JSON form (module [`json`]) is the key-line shape of `rdbkit dump`; module
//! [`commands`] gives the server commands that recreate an entry.

use std::collections::BTreeMap;

pub use bytes::Bytes;

pub mod commands;
pub mod json;

/// A whole snapshot: metadata plus every non-empty database, in ascending db order.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Keyspace {
    /// AUX fields in file order (`redis-ver`, `ctime`, ...). Writers may ignore them.
    pub aux: Vec<(Bytes, Bytes)>,
    /// Function libraries (FUNCTION2 payloads: the library source text), in file order.
    pub functions: Vec<Bytes>,
    /// Module auxiliary data records (raw, passthrough only), in file order.
    pub module_aux: Vec<ModuleAux>,
    /// Databases keyed by index.
    pub dbs: BTreeMap<u32, Db>,
}

/// One database: entries in file (or insertion) order.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Db {
    /// The keys of this database.
    pub entries: Vec<Entry>,
}

/// One key with its value and metadata.
#[derive(Debug, Clone, PartialEq)]
pub struct Entry {
    /// The key bytes.
    pub key: Bytes,
    /// The value.
    pub value: Value,
    /// Absolute expiry, Unix milliseconds.
    pub expire_at_ms: Option<i64>,
    /// LRU idle time in seconds (IDLE opcode), when the file carries it.
    pub lru_idle_s: Option<u64>,
    /// LFU counter (FREQ opcode), when the file carries it.
    pub lfu_freq: Option<u8>,
}

impl Entry {
    /// An entry with no expiry and no eviction metadata.
    pub fn new(key: impl Into<Bytes>, value: Value) -> Self {
        Entry {
            key: key.into(),
            value,
            expire_at_ms: None,
            lru_idle_s: None,
            lfu_freq: None,
        }
    }
}

/// A value of one of the Redis data types.
#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    /// A string.
    String(Bytes),
    /// A list, head to tail.
    List(Vec<Bytes>),
    /// A set (members unique; order as stored).
    Set(Vec<Bytes>),
    /// A sorted set: `(member, score)`; members unique, scores never NaN.
    SortedSet(Vec<(Bytes, f64)>),
    /// A hash; fields unique. Field TTLs are optional per field.
    Hash(Vec<HashField>),
    /// A stream.
    Stream(Box<Stream>),
    /// A module value, kept raw (passthrough only).
    Module(ModuleValue),
}

/// The logical type of a value, as `TYPE` reports it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum ValueType {
    /// `string`
    String,
    /// `list`
    List,
    /// `set`
    Set,
    /// `zset`
    ZSet,
    /// `hash`
    Hash,
    /// `stream`
    Stream,
    /// `module`
    Module,
}

impl ValueType {
    /// All types, in a fixed order.
    pub const ALL: [ValueType; 7] = [
        ValueType::String,
        ValueType::List,
        ValueType::Set,
        ValueType::ZSet,
        ValueType::Hash,
        ValueType::Stream,
        ValueType::Module,
    ];

    /// The name `TYPE` prints (`string`, `list`, `set`, `zset`, `hash`, `stream`, `module`).
    pub fn name(self) -> &'static str {
        match self {
            ValueType::String => "string",
            ValueType::List => "list",
            ValueType::Set => "set",
            ValueType::ZSet => "zset",
            ValueType::Hash => "hash",
            ValueType::Stream => "stream",
            ValueType::Module => "module",
        }
    }

    /// Parses a name as printed by [`ValueType::name`].
    pub fn from_name(name: &str) -> Option<Self> {
        ValueType::ALL.into_iter().find(|t| t.name() == name)
    }

    /// Index into [`ValueType::ALL`] (for flat counters).
    pub fn index(self) -> usize {
        self as usize
    }
}

impl Value {
    /// The logical type of this value.
    pub fn value_type(&self) -> ValueType {
        match self {
            Value::String(_) => ValueType::String,
            Value::List(_) => ValueType::List,
            Value::Set(_) => ValueType::Set,
            Value::SortedSet(_) => ValueType::ZSet,
            Value::Hash(_) => ValueType::Hash,
            Value::Stream(_) => ValueType::Stream,
            Value::Module(_) => ValueType::Module,
        }
    }
}

/// One hash field.
#[derive(Debug, Clone, PartialEq)]
pub struct HashField {
    /// Field name.
    pub field: Bytes,
    /// Field value.
    pub value: Bytes,
    /// Absolute expiry of this field (hash field expiration), Unix ms.
    pub expire_at_ms: Option<i64>,
}

/// A stream ID `ms-seq`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct StreamId {
    /// Milliseconds part.
    pub ms: u64,
    /// Sequence part.
    pub seq: u64,
}

impl StreamId {
    /// The largest ID, `18446744073709551615-18446744073709551615`: what a server sets as an
    /// empty stream's first ID when it loads a type-15 record (`streamGetEdgeID` finds no
    /// entry).
    pub const MAX: StreamId = StreamId {
        ms: u64::MAX,
        seq: u64::MAX,
    };

    /// Builds an ID.
    pub const fn new(ms: u64, seq: u64) -> Self {
        StreamId { ms, seq }
    }

    /// The 16-byte big-endian form used for node keys and PEL entries.
    pub fn to_be_bytes(self) -> [u8; 16] {
        let mut out = [0u8; 16];
        let (a, b) = out.split_at_mut(8);
        a.copy_from_slice(&self.ms.to_be_bytes());
        b.copy_from_slice(&self.seq.to_be_bytes());
        out
    }

    /// Parses the 16-byte big-endian form.
    pub fn from_be_bytes(b: [u8; 16]) -> Self {
        let mut ms = [0u8; 8];
        let mut seq = [0u8; 8];
        ms.copy_from_slice(&b[..8]);
        seq.copy_from_slice(&b[8..]);
        StreamId {
            ms: u64::from_be_bytes(ms),
            seq: u64::from_be_bytes(seq),
        }
    }
}

impl std::fmt::Display for StreamId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}-{}", self.ms, self.seq)
    }
}

impl std::str::FromStr for StreamId {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let (a, b) = s
            .split_once('-')
            .ok_or_else(|| format!("stream id {s:?} has no '-'"))?;
        let ms = a.parse().map_err(|_| format!("bad stream id {s:?}"))?;
        let seq = b.parse().map_err(|_| format!("bad stream id {s:?}"))?;
        Ok(StreamId { ms, seq })
    }
}

/// A stream value with its metadata and consumer groups.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Stream {
    /// Live entries (deleted ones are not listed), ascending by ID.
    pub entries: Vec<StreamEntry>,
    /// Number of live entries as stored (`length`), as read from a file. The writer does not
    /// take it from here: `RdbWriter::write_value` writes `entries.len()` (the count the
    /// entries it writes hold); only `write_stream_with_nodes`, whose nodes are copied and
    /// not counted, writes this field.
    pub length: u64,
    /// The last ID ever generated.
    pub last_id: StreamId,
    /// First live entry ID as recorded (RDB types 19/21); `None` for type 15 (the writer then
    /// writes the first entry's ID, or the largest ID when there is none, as a server loading
    /// a type-15 record sets it).
    pub first_id: Option<StreamId>,
    /// Max deleted entry ID (types 19/21).
    pub max_deleted_id: Option<StreamId>,
    /// Entries ever added (types 19/21).
    pub entries_added: Option<u64>,
    /// Consumer groups in file order.
    pub groups: Vec<ConsumerGroup>,
}

/// One stream entry.
#[derive(Debug, Clone, PartialEq)]
pub struct StreamEntry {
    /// Entry ID.
    pub id: StreamId,
    /// Field/value pairs in order.
    pub fields: Vec<(Bytes, Bytes)>,
}

/// A consumer group.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct ConsumerGroup {
    /// Group name.
    pub name: Bytes,
    /// Last delivered ID.
    pub last_delivered_id: StreamId,
    /// Entries read (types 19/21); `None` when unknown (stored −1) or not stored (type 15).
    /// The writer writes `None` as −1, except in a stream without `entries_added` (one read
    /// from a type-15 record), where it writes what a server loading that record estimates.
    pub entries_read: Option<i64>,
    /// Global pending entries list, in ID order.
    pub pel: Vec<PendingEntry>,
    /// Consumers in file order.
    pub consumers: Vec<Consumer>,
}

/// A global PEL entry.
#[derive(Debug, Clone, PartialEq)]
pub struct PendingEntry {
    /// Entry ID.
    pub id: StreamId,
    /// Last delivery time, Unix ms.
    pub delivery_time_ms: i64,
    /// Delivery count.
    pub delivery_count: u64,
}

/// A consumer of a group.
#[derive(Debug, Clone, PartialEq)]
pub struct Consumer {
    /// Consumer name.
    pub name: Bytes,
    /// Seen time, Unix ms.
    pub seen_time_ms: i64,
    /// Active time, Unix ms (type 21 only; −1 = never active is kept as `Some(-1)`).
    pub active_time_ms: Option<i64>,
    /// IDs this consumer owns (each must be in the group's PEL).
    pub pel: Vec<StreamId>,
}

/// A module value, kept as its serialised bytes.
#[derive(Debug, Clone, PartialEq)]
pub struct ModuleValue {
    /// The 64-bit module type ID (9-character name + 10-bit encoding version).
    pub module_id: u64,
    /// The serialised value after the module ID, up to and including the final EOF opcode
    /// (the MODULE_2 opcode stream), exactly as in the file.
    pub raw: Bytes,
}

impl ModuleValue {
    /// The 9-character module type name encoded in the ID.
    pub fn type_name(&self) -> String {
        module_type_name(self.module_id)
    }

    /// The encoding version encoded in the ID (low 10 bits).
    pub fn version(&self) -> u16 {
        (self.module_id & 1023) as u16
    }
}

/// Decodes the 9-character type name from a module ID.
pub fn module_type_name(id: u64) -> String {
    const CHARSET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    let mut name = String::with_capacity(9);
    let mut bits = id >> 10;
    let mut chars = [0u8; 9];
    for c in chars.iter_mut().rev() {
        *c = CHARSET[(bits & 63) as usize];
        bits >>= 6;
    }
    for c in chars {
        name.push(c as char);
    }
    name
}

/// A MODULE_AUX record, raw.
#[derive(Debug, Clone, PartialEq)]
pub struct ModuleAux {
    /// Module ID.
    pub module_id: u64,
    /// `when` (1 = before keys, 2 = after keys).
    pub when: u64,
    /// The opcode stream after `when`, up to and including the final EOF opcode.
    pub raw: Bytes,
}

impl Keyspace {
    /// Total number of keys over all databases.
    pub fn key_count(&self) -> usize {
        self.dbs.values().map(|d| d.entries.len()).sum()
    }

    /// The database `db`, created when missing.
    pub fn db_mut(&mut self, db: u32) -> &mut Db {
        self.dbs.entry(db).or_default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn module_name_decodes() {
        assert_eq!(module_type_name(0x45E25238DF912C03), "ReJSON-RL");
        let m = ModuleValue {
            module_id: 0x45E25238DF912C03,
            raw: Bytes::new(),
        };
        assert_eq!(m.version(), 3);
    }

    #[test]
    fn stream_id_roundtrip() {
        let id = StreamId::new(1526919030474, 55);
        let b = id.to_be_bytes();
        assert_eq!(
            b,
            [0, 0, 1, 0x63, 0x83, 0x77, 0x66, 0xca, 0, 0, 0, 0, 0, 0, 0, 0x37]
        );
        assert_eq!(StreamId::from_be_bytes(b), id);
        assert_eq!("1-2".parse::<StreamId>(), Ok(StreamId::new(1, 2)));
    }
}
