//! Streaming big keys: `begin_list` / `begin_set` / `begin_zset` / `begin_hash` with a
//! declared element count, then `push`… and `end()`.
//!
//! While the collection may still get a compact encoding (and its elements, each counted with
//! what holding it costs, stay within the builder's `collection_buffer` bytes), elements are
//! buffered and `end()` writes exactly
//! what [`RdbWriter::write_value`] would. Otherwise the plain encoding whose count comes
//! first is streamed with bounded memory: type 1 (list), 2 (set), 5 (zset, in push order), 4
//! (hash); every loader accepts these and re-encodes them by its own thresholds.
//!
//! A member (or field) pushed twice is refused as [`RdbWriter::write_value`] refuses it, since
//! every loader refuses the file ("Duplicate set members detected"): a streamed plain set,
//! zset or hash keeps a 128-bit XXH3 digest of each member — 16 bytes, 20–40 bytes a member
//! with the table's spare room, up to about 60 while the table grows (an audit measured 139 MB
//! at rest for 3.7 M members, 209 MB at the peak) — for the duration of the key, the
//! elements themselves never, and names the member on its repeat. Two different members
//! with equal 128-bit digests (odds about n²/2^129 for n members) would be refused too.
//! [`WriterBuilder::streamed_duplicate_check`](crate::WriterBuilder::streamed_duplicate_check)
//! turns it off for callers whose members are unique by construction.
//!
//! A hash with field TTLs is begun with [`RdbWriter::begin_hash_with_field_ttls`], which
//! takes the smallest TTL the fields will carry (the servers write it ahead of the fields of
//! a type-24 record), and its fields pushed with [`HashWriter::push_with_expiry`]. Streamed,
//! it is a type-24 record for `redis-7.4` and a type-22 (HASH_2) one for `valkey-9.0`
//! (whose writer must be built with `field_ttls(true)`); for a target without field TTLs it
//! is refused at the start, or with `drop_unsupported` written as a plain hash with the TTLs
//! dropped and counted, as [`RdbWriter::write_value`] does. A field TTL below the declared
//! smallest one, or no field carrying it at `end()`, is an error (a server loads such a
//! record, but `rdb-verify` reports its stale `min_expire`).
//!
//! More elements than declared, or fewer at `end()`, poison the writer: the record cannot be
//! completed. Dropping an unfinished collection poisons the writer when part of the record
//! was already written; otherwise the key is simply not written.

use std::collections::HashSet;
use std::hash::{BuildHasherDefault, Hasher};
use std::io::Write;

use rdb_format::int::parse_canonical_i64;
use rdb_format::length::encode_length;
use rdb_format::RdbType;
use rdb_model::{Bytes, HashField, Value};

use crate::config::KeyMeta;
use crate::encode::hash;
use crate::error::{KeyName, WriteError, WriteResult};
use crate::target::FieldTtlFormat;
use crate::writer::RdbWriter;

/// Hasher of a set of XXH3-128 digests: the digest is already uniformly distributed, so its
/// low 64 bits are the hash.
#[derive(Default)]
struct DigestHasher(u64);

impl Hasher for DigestHasher {
    fn finish(&self) -> u64 {
        self.0
    }

    fn write(&mut self, bytes: &[u8]) {
        // Only `write_u128` is used; fold anything else in for completeness.
        for &b in bytes {
            self.0 = self.0.rotate_left(8) ^ u64::from(b);
        }
    }

    fn write_u128(&mut self, v: u128) {
        self.0 = v as u64;
    }
}

/// Digests of the members (fields) of a streamed plain record.
type SeenMembers = HashSet<u128, BuildHasherDefault<DigestHasher>>;

/// What is being streamed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    List,
    Set,
    ZSet,
    Hash,
}

impl Kind {
    fn plain_type(self) -> RdbType {
        match self {
            Kind::List => RdbType::LIST,
            Kind::Set => RdbType::SET,
            Kind::ZSet => RdbType::ZSET_2,
            Kind::Hash => RdbType::HASH,
        }
    }
}

/// The field TTLs of a hash begun with [`RdbWriter::begin_hash_with_field_ttls`].
#[derive(Debug, Clone, Copy)]
struct FieldTtls {
    /// How they are written when streamed — Redis type 24 (`min_expire`, then a TTL delta
    /// before each field), Valkey type 22 (each field and value followed by its expiry) —,
    /// or `None`: dropped and counted (`drop_unsupported` on a target without them).
    format: Option<FieldTtlFormat>,
    /// The smallest TTL declared at the start.
    min_expire: i64,
    /// The smallest TTL pushed so far.
    smallest: Option<i64>,
}

/// Elements buffered while a compact encoding is still possible.
#[derive(Debug)]
enum Buffer {
    Items(Vec<Bytes>),
    Pairs(Vec<(Bytes, f64)>),
    Fields(Vec<HashField>),
}

/// One element.
#[derive(Clone, Copy)]
enum Item<'a> {
    One(&'a [u8]),
    Scored(&'a [u8], f64),
    Pair(&'a [u8], &'a [u8], Option<i64>),
}

impl Item<'_> {
    /// Bytes of the element's data (the compact encodings' limits).
    fn bytes(&self) -> usize {
        match self {
            Item::One(a) | Item::Scored(a, _) => a.len(),
            Item::Pair(a, b, _) => a.len() + b.len(),
        }
    }

    /// Memory the buffer holds for the element: its data and its buffered form.
    fn held(&self) -> usize {
        self.bytes()
            + match self {
                Item::One(_) => size_of::<Bytes>(),
                Item::Scored(..) => size_of::<(Bytes, f64)>(),
                Item::Pair(..) => size_of::<HashField>(),
            }
    }
}

/// The shared state of the four collection writers.
#[derive(Debug)]
struct Core<'w, W: Write> {
    w: &'w mut RdbWriter<W>,
    kind: Kind,
    key: Vec<u8>,
    meta: KeyMeta,
    declared: u64,
    pushed: u64,
    /// `Some` while buffering; `None` once the plain record is being streamed.
    buffer: Option<Buffer>,
    buffered_bytes: usize,
    /// Every buffered set member so far is a canonical int64.
    all_ints: bool,
    /// Longest buffered set member.
    longest: usize,
    /// Member digests of a streamed plain set, zset or hash (`None` for lists and when
    /// the check is off).
    seen: Option<SeenMembers>,
    /// Field TTLs of a hash begun with them.
    ttls: Option<FieldTtls>,
    done: bool,
}

impl<'w, W: Write> Core<'w, W> {
    fn begin(
        w: &'w mut RdbWriter<W>,
        kind: Kind,
        key: &[u8],
        meta: KeyMeta,
        declared: u64,
        min_expire: Option<i64>,
    ) -> WriteResult<Self> {
        w.check_open()?;
        w.offered_keys += 1;
        w.check_meta(key, meta)?;
        let ttls = match min_expire {
            None => None,
            Some(min_expire) => Some(FieldTtls {
                format: hash::ttl_format(&w.enc, w.opts.drop_unsupported).map_err(|what| {
                    WriteError::Unsupported {
                        key: KeyName::in_db(w.db, key),
                        target: w.opts.target.name(),
                        what,
                    }
                })?,
                min_expire,
                smallest: None,
            }),
        };
        let cfg = w.opts.encoding;
        let target = w.opts.target;
        let small = |limit: usize| usize::try_from(declared).is_ok_and(|d| d <= limit);
        let compact_possible = match kind {
            Kind::List => true,
            Kind::Set => {
                small(cfg.set_max_intset_entries)
                    || (target.has_set_listpack() && small(cfg.set_max_listpack_entries))
            }
            Kind::ZSet => small(cfg.zset_max_listpack_entries),
            Kind::Hash => small(cfg.hash_max_listpack_entries),
        };
        let cap = usize::try_from(declared.min(1024)).unwrap_or(1024);
        let mut core = Core {
            w,
            kind,
            key: key.to_vec(),
            meta,
            declared,
            pushed: 0,
            buffer: Some(match kind {
                Kind::List | Kind::Set => Buffer::Items(Vec::with_capacity(cap)),
                Kind::ZSet => Buffer::Pairs(Vec::with_capacity(cap)),
                Kind::Hash => Buffer::Fields(Vec::with_capacity(cap)),
            }),
            buffered_bytes: 0,
            all_ints: true,
            longest: 0,
            seen: None,
            ttls,
            done: false,
        };
        if !compact_possible && declared > 0 {
            core.go_plain()?;
        }
        Ok(core)
    }

    /// The RDB type of the streamed (plain) record.
    fn plain_type(&self) -> RdbType {
        match self.ttls.and_then(|t| t.format) {
            Some(FieldTtlFormat::Redis) => RdbType::HASH_METADATA,
            Some(FieldTtlFormat::Valkey) => RdbType::TYPE_22,
            None => self.kind.plain_type(),
        }
    }

    fn fail(&mut self, e: WriteError) -> WriteError {
        self.w.poison(e.to_string());
        e
    }

    /// Whether the buffered elements (with `item` just added) may still get a compact encoding.
    fn still_compact(&mut self, item: Item<'_>) -> bool {
        if self.buffered_bytes > self.w.opts.collection_buffer {
            return false;
        }
        let cfg = &self.w.opts.encoding;
        match (self.kind, item) {
            (Kind::List, _) => true,
            (Kind::Set, Item::One(m)) => {
                self.all_ints &= parse_canonical_i64(m).is_some();
                self.longest = self.longest.max(m.len());
                let intset = self.all_ints && self.declared <= cfg.set_max_intset_entries as u64;
                let listpack = self.w.opts.target.has_set_listpack()
                    && self.declared <= cfg.set_max_listpack_entries as u64
                    && self.longest <= cfg.set_max_listpack_value;
                intset || listpack
            }
            (Kind::ZSet, Item::Scored(m, _)) => m.len() <= cfg.zset_max_listpack_value,
            (Kind::Hash, Item::Pair(f, v, _)) => {
                f.len() <= cfg.hash_max_listpack_value && v.len() <= cfg.hash_max_listpack_value
            }
            _ => false,
        }
    }

    /// Writes the plain record header and everything buffered; later elements stream.
    fn go_plain(&mut self) -> WriteResult<()> {
        let buffer = self.buffer.take();
        if self.kind != Kind::List && self.w.opts.streamed_duplicate_check {
            let expected = usize::try_from(self.declared.min(1 << 16)).unwrap_or(1 << 16);
            self.seen = Some(SeenMembers::with_capacity_and_hasher(
                expected,
                BuildHasherDefault::default(),
            ));
        }
        let ty = self.plain_type();
        let w = &mut *self.w;
        w.open_record = Some(self.key.clone());
        w.put_key_header(&self.key, self.meta, ty);
        if let Some(t) = self
            .ttls
            .filter(|t| t.format == Some(FieldTtlFormat::Redis))
        {
            w.sink.buf.extend_from_slice(&t.min_expire.to_le_bytes());
        }
        encode_length(self.declared, &mut w.sink.buf);
        match buffer {
            Some(Buffer::Items(v)) => v.iter().try_for_each(|m| self.put(Item::One(m))),
            Some(Buffer::Pairs(v)) => v
                .iter()
                .try_for_each(|(m, s)| self.put(Item::Scored(m, *s))),
            Some(Buffer::Fields(v)) => v
                .iter()
                .try_for_each(|f| self.put(Item::Pair(&f.field, &f.value, f.expire_at_ms))),
            None => Ok(()),
        }
    }

    /// Encodes one element of the plain record, refusing a repeated member or field.
    fn put(&mut self, item: Item<'_>) -> WriteResult<()> {
        if let Some(seen) = &mut self.seen {
            let (Item::One(m) | Item::Scored(m, _) | Item::Pair(m, _, _)) = item;
            if !seen.insert(xxhash_rust::xxh3::xxh3_128(m)) {
                let what = match self.kind {
                    Kind::Hash => "field",
                    _ => "member",
                };
                let e = WriteError::InvalidValue {
                    key: KeyName::in_db(self.w.db, &self.key),
                    what: format!("{what} {} appears twice", rdb_format::escape_bytes(m, 64)),
                };
                return Err(self.fail(e));
            }
        }
        let w = &mut *self.w;
        match item {
            Item::One(m) => w.enc.string(m, &mut w.sink.buf),
            Item::Scored(m, s) => {
                w.enc.string(m, &mut w.sink.buf);
                w.sink.buf.extend_from_slice(&s.to_le_bytes());
            }
            Item::Pair(f, v, expiry) => match self.ttls {
                None => {
                    w.enc.string(f, &mut w.sink.buf);
                    w.enc.string(v, &mut w.sink.buf);
                }
                Some(t) => match t.format {
                    Some(FieldTtlFormat::Redis) => {
                        let delta = expiry.map_or(0, |e| e.wrapping_sub(t.min_expire) as u64 + 1);
                        encode_length(delta, &mut w.sink.buf);
                        w.enc.string(f, &mut w.sink.buf);
                        w.enc.string(v, &mut w.sink.buf);
                    }
                    Some(FieldTtlFormat::Valkey) => {
                        w.enc.string(f, &mut w.sink.buf);
                        w.enc.string(v, &mut w.sink.buf);
                        w.sink
                            .buf
                            .extend_from_slice(&expiry.unwrap_or(-1).to_le_bytes());
                    }
                    None => {
                        w.summary.dropped_field_ttls += u64::from(expiry.is_some());
                        w.enc.string(f, &mut w.sink.buf);
                        w.enc.string(v, &mut w.sink.buf);
                    }
                },
            },
        }
        let r = w.sink.maybe_flush();
        w.io(r)
    }

    fn push(&mut self, item: Item<'_>) -> WriteResult<()> {
        self.w
            .check_push(&self.key, self.declared, self.pushed, self.done)?;
        if let Item::Scored(m, s) = item {
            if s.is_nan() {
                let e = WriteError::InvalidValue {
                    key: KeyName::in_db(self.w.db, &self.key),
                    what: format!("member {} has a NaN score", rdb_format::escape_bytes(m, 64)),
                };
                return Err(self.fail(e));
            }
        }
        if let Item::Pair(f, _, Some(expiry)) = item {
            self.check_expiry(f, expiry)?;
        }
        self.pushed += 1;
        let Some(buffer) = &mut self.buffer else {
            return self.put(item);
        };
        match (buffer, item) {
            (Buffer::Items(v), Item::One(m)) => v.push(Bytes::copy_from_slice(m)),
            (Buffer::Pairs(v), Item::Scored(m, s)) => v.push((Bytes::copy_from_slice(m), s)),
            (Buffer::Fields(v), Item::Pair(f, val, expiry)) => v.push(HashField {
                field: Bytes::copy_from_slice(f),
                value: Bytes::copy_from_slice(val),
                expire_at_ms: expiry,
            }),
            _ => return Err(WriteError::State("element of the wrong kind")),
        }
        self.buffered_bytes += item.held();
        if !self.still_compact(item) {
            self.go_plain()?;
        }
        Ok(())
    }

    /// Checks a pushed field TTL: a hash begun with field TTLs, a TTL the target's servers
    /// load, not below the declared smallest one.
    fn check_expiry(&mut self, field: &[u8], expiry: i64) -> WriteResult<()> {
        let Some(t) = &mut self.ttls else {
            return Err(WriteError::State(
                "a field TTL needs a hash begun with begin_hash_with_field_ttls",
            ));
        };
        t.smallest = Some(t.smallest.map_or(expiry, |s| s.min(expiry)));
        // (The message, and the field's escaped name, only on an error.)
        let refused = t.format.and_then(|f| hash::ttl_refused(f, field, expiry));
        let what = match refused {
            Some(what) => what,
            None if expiry < t.min_expire => format!(
                "hash field {} expiry {expiry} is below the smallest TTL declared, {}",
                rdb_format::escape_bytes(field, 64),
                t.min_expire
            ),
            None => return Ok(()),
        };
        let e = WriteError::InvalidValue {
            key: KeyName::in_db(self.w.db, &self.key),
            what,
        };
        Err(self.fail(e))
    }

    fn end(&mut self) -> WriteResult<bool> {
        self.w
            .check_end(&self.key, self.declared, self.pushed, &mut self.done)?;
        if let Some(t) = self
            .ttls
            .filter(|t| self.declared > 0 && t.smallest != Some(t.min_expire))
        {
            let e = WriteError::InvalidValue {
                key: KeyName::in_db(self.w.db, &self.key),
                what: format!(
                    "no field carries the smallest TTL declared, {} (the smallest pushed: {})",
                    t.min_expire,
                    t.smallest.map_or("none".into(), |s| s.to_string())
                ),
            };
            if self.buffer.is_none() {
                self.w.poison(e.to_string());
            }
            return Err(e);
        }
        match self.buffer.take() {
            None => {
                self.w.open_record = None;
                self.w.count_key(self.meta);
                Ok(true)
            }
            Some(b) => {
                let value = match b {
                    Buffer::Items(v) if self.kind == Kind::List => Value::List(v),
                    Buffer::Items(v) => Value::Set(v),
                    Buffer::Pairs(v) => Value::SortedSet(v),
                    Buffer::Fields(v) => Value::Hash(v),
                };
                // Counted as offered at `begin`: `write_value` counts it again.
                self.w.offered_keys = self.w.offered_keys.saturating_sub(1);
                self.w.write_value(&self.key, self.meta, &value)
            }
        }
    }
}

impl<W: Write> Drop for Core<'_, W> {
    fn drop(&mut self) {
        if !self.done && self.buffer.is_none() {
            self.w.poison(format!(
                "collection {} dropped before end() with a partial record",
                rdb_format::escape_bytes(&self.key, 64)
            ));
        }
    }
}

macro_rules! collection_writer {
    ($(#[$doc:meta])* $name:ident) => {
        $(#[$doc])*
        #[derive(Debug)]
        pub struct $name<'w, W: Write>(Core<'w, W>);

        impl<W: Write> $name<'_, W> {
            /// Elements pushed so far.
            pub fn pushed(&self) -> u64 {
                self.0.pushed
            }

            /// Completes the key. Returns `false` when it was skipped as empty (declared 0).
            /// Fewer elements than declared is a [`WriteError::CountMismatch`] and poisons
            /// the writer.
            pub fn end(mut self) -> WriteResult<bool> {
                self.0.end()
            }
        }
    };
}

collection_writer!(
    /// Streams a list: [`ListWriter::push`] each element head to tail, then `end()`.
    ListWriter
);
collection_writer!(
    /// Streams a set: [`SetWriter::push`] each member, then `end()`.
    SetWriter
);
collection_writer!(
    /// Streams a sorted set: [`ZSetWriter::push`] each member with its score, then `end()`.
    ZSetWriter
);
collection_writer!(
    /// Streams a hash: [`HashWriter::push`] each field and value, then `end()`.
    HashWriter
);

impl<W: Write> ListWriter<'_, W> {
    /// Appends an element at the tail.
    pub fn push(&mut self, element: &[u8]) -> WriteResult<()> {
        self.0.push(Item::One(element))
    }
}

impl<W: Write> SetWriter<'_, W> {
    /// Adds a member.
    pub fn push(&mut self, member: &[u8]) -> WriteResult<()> {
        self.0.push(Item::One(member))
    }
}

impl<W: Write> ZSetWriter<'_, W> {
    /// Adds a member with its score (NaN is an error that poisons the writer).
    pub fn push(&mut self, member: &[u8], score: f64) -> WriteResult<()> {
        self.0.push(Item::Scored(member, score))
    }
}

impl<W: Write> HashWriter<'_, W> {
    /// Adds a field and its value.
    pub fn push(&mut self, field: &[u8], value: &[u8]) -> WriteResult<()> {
        self.0.push(Item::Pair(field, value, None))
    }

    /// Adds a field and its value with its TTL (absolute Unix ms; `None`: none), in a hash
    /// begun with [`RdbWriter::begin_hash_with_field_ttls`] (otherwise a TTL is a
    /// [`WriteError::State`] error). A TTL the target's servers refuse or below the declared
    /// smallest one is an [`WriteError::InvalidValue`] that poisons the writer.
    pub fn push_with_expiry(
        &mut self,
        field: &[u8],
        value: &[u8],
        expire_at_ms: Option<i64>,
    ) -> WriteResult<()> {
        self.0.push(Item::Pair(field, value, expire_at_ms))
    }
}

impl<W: Write> RdbWriter<W> {
    /// Before an element of a streamed key (`begin_*`) of which `pushed` of `declared` came:
    /// the writer usable, the key not ended, room for one more (one too many poisons).
    pub(crate) fn check_push(
        &mut self,
        key: &[u8],
        declared: u64,
        pushed: u64,
        done: bool,
    ) -> WriteResult<()> {
        self.check_open_record()?;
        if done {
            return Err(WriteError::State("push after end"));
        }
        if pushed >= declared {
            let e = WriteError::CountMismatch {
                key: KeyName::in_db(self.db, key),
                declared,
                actual: pushed + 1,
            };
            self.poison(e.to_string());
            return Err(e);
        }
        Ok(())
    }

    /// At the `end()` of a streamed key: not ended before (marks it ended), every declared
    /// element pushed (too few poisons).
    pub(crate) fn check_end(
        &mut self,
        key: &[u8],
        declared: u64,
        pushed: u64,
        done: &mut bool,
    ) -> WriteResult<()> {
        self.check_open_record()?;
        if *done {
            return Err(WriteError::State("end called twice"));
        }
        *done = true;
        if pushed != declared {
            let e = WriteError::CountMismatch {
                key: KeyName::in_db(self.db, key),
                declared,
                actual: pushed,
            };
            self.poison(e.to_string());
            return Err(e);
        }
        Ok(())
    }

    /// Starts streaming a list of exactly `declared_len` elements (see the module docs of
    /// [`streaming`](crate::streaming) for the encodings used).
    pub fn begin_list(
        &mut self,
        key: &[u8],
        meta: KeyMeta,
        declared_len: u64,
    ) -> WriteResult<ListWriter<'_, W>> {
        Core::begin(self, Kind::List, key, meta, declared_len, None).map(ListWriter)
    }

    /// Starts streaming a set of exactly `declared_len` members.
    pub fn begin_set(
        &mut self,
        key: &[u8],
        meta: KeyMeta,
        declared_len: u64,
    ) -> WriteResult<SetWriter<'_, W>> {
        Core::begin(self, Kind::Set, key, meta, declared_len, None).map(SetWriter)
    }

    /// Starts streaming a sorted set of exactly `declared_len` members.
    pub fn begin_zset(
        &mut self,
        key: &[u8],
        meta: KeyMeta,
        declared_len: u64,
    ) -> WriteResult<ZSetWriter<'_, W>> {
        Core::begin(self, Kind::ZSet, key, meta, declared_len, None).map(ZSetWriter)
    }

    /// Starts streaming a hash of exactly `declared_len` fields.
    pub fn begin_hash(
        &mut self,
        key: &[u8],
        meta: KeyMeta,
        declared_len: u64,
    ) -> WriteResult<HashWriter<'_, W>> {
        Core::begin(self, Kind::Hash, key, meta, declared_len, None).map(HashWriter)
    }

    /// Starts streaming a hash of exactly `declared_len` fields, some with TTLs, the
    /// smallest of which is `min_expire_ms` (see the module docs of
    /// [`streaming`](crate::streaming)): push its fields with
    /// [`HashWriter::push_with_expiry`]. A target without field TTLs refuses it with
    /// [`WriteError::Unsupported`] (unless built with `drop_unsupported`).
    pub fn begin_hash_with_field_ttls(
        &mut self,
        key: &[u8],
        meta: KeyMeta,
        declared_len: u64,
        min_expire_ms: i64,
    ) -> WriteResult<HashWriter<'_, W>> {
        Core::begin(
            self,
            Kind::Hash,
            key,
            meta,
            declared_len,
            Some(min_expire_ms),
        )
        .map(HashWriter)
    }
}
