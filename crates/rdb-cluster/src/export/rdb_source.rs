//! Exports of an `.rdb` file: two passes over the mapped bytes, raw copy where possible.

use std::collections::{BTreeMap, HashMap};
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};

use rayon::prelude::*;
use rdb_format::length::{decode_length, Length};
use rdb_format::string::{decode_string_header, StringHeader};
use rdb_format::{Header, IntText, Opcode, RdbType, TypeKind};
use rdb_model::{Bytes, Entry, ModuleAux, Value};
use rdb_reader::{Event, KeyspaceBuilder, Limits, Parser, SliceSource};
use rdb_writer::{KeyMeta, SyncingFile, WriteError};
use xxhash_rust::xxh3::xxh3_64;

use super::model_source::{builder, write_functions, BASE_USED_MEM, CANCEL_CHECK};
use super::{DbSelection, ExportError, ExportPlan, HashingWriter, NodeOutput, NodeStats};
use crate::slot::key_slot;
use crate::topology::Partitioner;

/// One key record of the source: 24 bytes per key (the whole per-key memory of an export).
///
/// `start..end` is the record's byte range in the file, from its first attribute opcode
/// (`EXPIRETIME_MS`, `EXPIRETIME`, `IDLE`, `FREQ`) or its type byte to the end of its value;
/// `meta` holds the length of the attribute opcodes (low 31 bits) and whether the key has an
/// expiry (bit 31); `tag` is 16 bits of a hash of the key (records of one slot with equal tags
/// are the only candidates for a repeated key).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Rec {
    start: u64,
    end: u64,
    meta: u32,
    slot: u16,
    tag: u16,
}

const EXPIRE_BIT: u32 = 1 << 31;

/// Records of a collection at most this many bytes longer than their key (type byte and value)
/// are decoded in pass 1 to find the empty ones.
const SMALL_RECORD: u64 = 64;

impl Rec {
    fn prefix_len(&self) -> u64 {
        u64::from(self.meta & !EXPIRE_BIT)
    }

    fn has_expire(&self) -> bool {
        self.meta & EXPIRE_BIT != 0
    }
}

/// One node group's records.
#[derive(Debug, Default)]
struct RdbNode {
    /// Output database → records (file order, then sorted by (slot, start)).
    dbs: BTreeMap<u32, Vec<Rec>>,
    /// Some hash of this node carries field TTLs.
    field_ttls: bool,
    /// `used-mem` estimate beyond the baseline: 64 bytes + record size per key.
    used_mem: u64,
    /// Empty collections left out (servers skip them when loading).
    skipped_empty: u64,
}

/// A scanned source file, ready to write.
pub(crate) struct RdbJob<'a> {
    bytes: &'a [u8],
    header: Header,
    functions: Vec<Bytes>,
    module_aux: Vec<ModuleAux>,
    nodes: Vec<RdbNode>,
    /// Keys whose attribute opcodes are not (all) right before their type byte (another record came
    /// between them, which servers accept): their metadata by record start. Empty for files servers
    /// write.
    detached_meta: HashMap<u64, KeyMeta>,
    /// Selected keys whose expiry is -1 ms, which servers load as no expiry: written without
    /// one (the writer refuses -1), so that they load as from the source.
    pub(crate) minus_one_expiries: u64,
    plan: &'a ExportPlan,
    label: String,
}

/// Whether records of this kind can carry hash field TTLs (they are decoded in pass 1).
fn may_have_field_ttls(kind: TypeKind) -> bool {
    matches!(
        kind,
        TypeKind::HashMetadataPreGa
            | TypeKind::HashListpackExPreGa
            | TypeKind::HashMetadata
            | TypeKind::HashListpackEx
            | TypeKind::ValkeyHash2
    )
}

impl<'a> RdbJob<'a> {
    /// Pass 1: reads the whole file (checksum included) and records every selected key's range,
    /// slot and node group. Writes nothing.
    pub(crate) fn scan(
        path: &Path,
        bytes: &'a [u8],
        plan: &'a ExportPlan,
        partitioner: &Partitioner,
        pool: &rayon::ThreadPool,
    ) -> Result<Self, ExportError> {
        let label = path.display().to_string();
        let read_err =
            |e: rdb_reader::ReadError| ExportError::Source(e.with_file(path).to_string());
        let mut p = Parser::new(SliceSource::new(bytes), Limits::default());
        let mut header = None;
        let mut functions = Vec::new();
        let mut module_aux = Vec::new();
        let mut nodes: Vec<RdbNode> = (0..partitioner.num_groups())
            .map(|_| RdbNode::default())
            .collect();
        let mut keys_per_db: BTreeMap<u64, u64> = BTreeMap::new();
        let mut detached_meta = HashMap::new();
        let mut scratch = Vec::new();
        let mut scanned = 0u64;
        let mut minus_one_expiries = 0u64;
        loop {
            let before = p.offset();
            // What the event tells, copied out so the parser can be used again.
            let key = match p.next_event().map_err(read_err)? {
                None => break,
                Some(Event::Header(h)) => {
                    header = Some(h);
                    None
                }
                Some(Event::Function { code }) => {
                    functions.push(Bytes::from(code.to_vec()));
                    None
                }
                Some(Event::ModuleAux {
                    module_id,
                    when,
                    raw,
                    ..
                }) => {
                    module_aux.push(ModuleAux {
                        module_id,
                        when,
                        raw: Bytes::copy_from_slice(raw),
                    });
                    None
                }
                Some(Event::Key(k)) => {
                    let mut tmp = IntText::new(0);
                    let key = k.key.as_bytes(&mut tmp);
                    let slot = key_slot(key);
                    let tag = xxh3_64(key) as u16;
                    let meta = KeyMeta {
                        // -1 is the servers' "no expiry" (see `minus_one_expiries`).
                        expire_at_ms: k.expire_at_ms.filter(|&e| e != -1),
                        lru_idle_s: k.lru_idle_s,
                        lfu_freq: k.lfu_freq,
                    };
                    // A collection that may be empty: its count says so, or its record is
                    // small enough to hold nothing (decoded below to find out).
                    let maybe_empty = matches!(k.kind.logical_index(), 1..=4)
                        && k.len_hint.is_none_or(|n| n == 0);
                    let key_len = key.len() as u64;
                    Some((
                        k.offset,
                        k.db,
                        slot,
                        tag,
                        meta,
                        may_have_field_ttls(k.kind),
                        maybe_empty.then_some(key_len),
                        k.expire_at_ms == Some(-1),
                    ))
                }
                Some(_) => None,
            };
            let Some((type_offset, db, slot, tag, meta, ttl_kind, maybe_empty, minus_one)) = key
            else {
                continue;
            };
            scanned += 1;
            if scanned.is_multiple_of(CANCEL_CHECK as u64) && plan.interrupted() {
                return Err(ExportError::Cancelled);
            }
            *keys_per_db.entry(db).or_default() += 1;
            let out_db = match plan.db {
                DbSelection::Db0 if db == 0 => Some(0),
                DbSelection::Db(n) if u64::from(n) == db => Some(0),
                DbSelection::All => u32::try_from(db).ok(),
                _ => None,
            };
            let mut field_ttls = false;
            if ttl_kind && out_db.is_some() {
                loop {
                    match p.next_event().map_err(read_err)? {
                        Some(Event::HashField { expire_at_ms, .. }) => {
                            field_ttls |= expire_at_ms.is_some();
                        }
                        Some(Event::KeyEnd) | None => break,
                        Some(_) => {}
                    }
                }
            } else {
                p.skip_key().map_err(read_err)?;
            }
            let Some(out_db) = out_db else {
                continue;
            };
            minus_one_expiries += u64::from(minus_one);
            let end = p.offset();
            let prefix = type_offset
                .checked_sub(before)
                .and_then(|n| u32::try_from(n).ok())
                .filter(|&n| n < EXPIRE_BIT)
                .ok_or_else(|| {
                    ExportError::Source(format!(
                        "{label}: byte {type_offset}: key attributes before the type byte are too long"
                    ))
                })?;
            let attributes = usize::try_from(before)
                .ok()
                .zip(usize::try_from(type_offset).ok())
                .and_then(|(a, b)| bytes.get(a..b))
                .and_then(|b| parse_attributes(b, header.is_some_and(|h| h.has_64bit_lengths())));
            if attributes != Some(meta) {
                detached_meta.insert(before, meta);
            }
            let index = if plan.db == DbSelection::All {
                0
            } else {
                partitioner.group_of_slot(slot)
            };
            // Servers skip an empty collection when they load it: so does the export, as the
            // writer does for a keyspace (counted in `skipped_empty`). Only small records are
            // decoded to find out (an empty hashtable, listpack, ziplist, intset or zipmap
            // takes a few bytes; a quicklist of more than a few empty nodes — which no server
            // writes — is copied, and the server skips it).
            if let (Some(key_len), Some(h)) = (maybe_empty, header) {
                let small = end.saturating_sub(type_offset) <= key_len + SMALL_RECORD;
                let record = usize::try_from(before)
                    .ok()
                    .zip(usize::try_from(end).ok())
                    .and_then(|(a, b)| bytes.get(a..b));
                if let (true, Some(record)) = (small, record) {
                    if holds_no_element(h, record, &mut scratch) {
                        if let Some(node) = nodes.get_mut(index) {
                            node.skipped_empty += 1;
                        }
                        continue;
                    }
                }
            }
            let rec = Rec {
                start: before,
                end,
                meta: prefix
                    | if meta.expire_at_ms.is_some() {
                        EXPIRE_BIT
                    } else {
                        0
                    },
                slot,
                tag,
            };
            if let Some(node) = nodes.get_mut(index) {
                node.field_ttls |= field_ttls;
                node.used_mem += 64 + (end - before);
                node.dbs.entry(out_db).or_default().push(rec);
            }
        }
        let header = header.ok_or_else(|| ExportError::Source(format!("{label}: no header")))?;
        if plan.db == DbSelection::Db0 && keys_per_db.keys().any(|&db| db != 0) {
            return Err(ExportError::OtherDatabases {
                dbs: keys_per_db.into_keys().collect(),
            });
        }
        // Sorted by slot, and a key repeated in a database is repeated within its slot: a
        // server refuses such a file, so it is an error before anything is written.
        let wide = header.has_64bit_lengths();
        let repeats: Vec<Option<(u32, Vec<u8>, u64)>> = pool.install(|| {
            nodes
                .par_iter_mut()
                .map(|n| {
                    for v in n.dbs.values_mut() {
                        v.sort_unstable_by_key(|r| (r.slot, r.start));
                    }
                    let mut keys = KeyArena::default();
                    n.dbs.iter().find_map(|(&db, v)| {
                        v.chunk_by(|a, b| a.slot == b.slot)
                            .find_map(|group| keys.repeat(bytes, wide, group))
                            .map(|(key, offset)| (db, key, offset))
                    })
                })
                .collect()
        });
        // The source's first repeated key (by node group, as the writer would meet it), named
        // with the byte offset of its repeat in the source.
        if let Some((db, key, offset)) = repeats.into_iter().flatten().next() {
            return Err(ExportError::Source(format!(
                "{label}: byte {offset}: db {db}, key {}: the key appears twice in the database (a server refuses such a file; nothing was written)",
                rdb_format::escape_bytes(&key, 64)
            )));
        }
        Ok(RdbJob {
            minus_one_expiries,
            bytes,
            header,
            functions,
            module_aux,
            nodes,
            detached_meta,
            plan,
            label,
        })
    }

    /// Pass 2 for node `index`: its records in slot order, raw-copied or re-encoded.
    pub(crate) fn write_node(
        &self,
        index: usize,
        w: HashingWriter<SyncingFile>,
        cancel: &AtomicBool,
    ) -> Result<NodeOutput, ExportError> {
        let plan = self.plan;
        let file = plan.node_file_name_of(index);
        let werr = |error: WriteError| ExportError::Write {
            file: file.clone(),
            error,
        };
        let empty = RdbNode::default();
        let node = self.nodes.get(index).unwrap_or(&empty);
        let used_mem = BASE_USED_MEM + node.used_mem;
        let mut w = builder(plan, node.field_ttls, used_mem).build(w);
        let mut stats = NodeStats {
            used_mem,
            skipped_empty: node.skipped_empty,
            ..NodeStats::default()
        };
        let out_header = w.header();
        w.write_header().map_err(werr)?;
        for aux in self.module_aux.iter().filter(|a| a.when != 2) {
            w.write_module_aux(aux).map_err(werr)?;
        }
        stats.dropped_functions = write_functions(&mut w, &self.functions, plan).map_err(werr)?;
        // Slot sizing records as a cluster node writes them: not in the snapshot of a
        // cluster-mode-disabled group (`--all-dbs`), which a standalone server would write
        // (and which `rdb-verify` would otherwise take for a cluster node's).
        let slot_info = plan.db != DbSelection::All && node.dbs.keys().all(|&db| db == 0);
        for (&db, recs) in &node.dbs {
            let expires = recs.iter().filter(|r| r.has_expire()).count() as u64;
            w.select_db(db, recs.len() as u64, expires).map_err(werr)?;
            let mut written = 0usize;
            for group in recs.chunk_by(|a, b| a.slot == b.slot) {
                if slot_info {
                    let slot = group.first().map_or(0, |r| r.slot);
                    let exp = group.iter().filter(|r| r.has_expire()).count() as u64;
                    w.write_slot_info(slot, group.len() as u64, exp)
                        .map_err(werr)?;
                }
                for rec in group {
                    if written.is_multiple_of(CANCEL_CHECK) && cancel.load(Ordering::Relaxed) {
                        return Err(ExportError::Cancelled);
                    }
                    written += 1;
                    self.copy_record(&mut w, out_header, rec, &mut stats, &werr)?;
                }
            }
        }
        for aux in self.module_aux.iter().filter(|a| a.when == 2) {
            w.write_module_aux(aux).map_err(werr)?;
        }
        let (w, summary) = w.finish().map_err(werr)?;
        Ok((w, summary, stats))
    }

    /// Whether a value of type `t` from the source can be copied byte for byte into a file with
    /// `out` header: the target may hold the type, it means the same in both files, and the
    /// source uses the RDB ≥ 8 length encoding (older files may hold length bytes that newer
    /// loaders read differently).
    fn raw_ok(&self, out: Header, t: RdbType) -> bool {
        self.header.has_64bit_lengths()
            && self.plan.target.may_emit_type(out, t)
            && matches!(
                (self.header.classify_type(t), out.classify_type(t)),
                (Ok(a), Ok(b)) if a == b
            )
    }

    fn corrupt(&self, rec: &Rec, what: &str) -> ExportError {
        ExportError::Source(format!(
            "{}: byte {}: {what} (the file changed while it was read?)",
            self.label, rec.start
        ))
    }

    fn copy_record<W: std::io::Write>(
        &self,
        w: &mut rdb_writer::RdbWriter<W>,
        out: Header,
        rec: &Rec,
        stats: &mut NodeStats,
        werr: &dyn Fn(WriteError) -> ExportError,
    ) -> Result<(), ExportError> {
        let wide = self.header.has_64bit_lengths();
        let range = |a: u64, b: u64| -> Option<&[u8]> {
            self.bytes
                .get(usize::try_from(a).ok()?..usize::try_from(b).ok()?)
        };
        let type_at = rec.start + rec.prefix_len();
        let record =
            range(rec.start, rec.end).ok_or_else(|| self.corrupt(rec, "record out of range"))?;
        let prefix = range(rec.start, type_at).ok_or_else(|| self.corrupt(rec, "bad record"))?;
        let meta = match self.detached_meta.get(&rec.start) {
            Some(meta) => *meta,
            None => parse_attributes(prefix, wide)
                .ok_or_else(|| self.corrupt(rec, "bad key attributes"))?,
        };
        let t = RdbType(
            *range(type_at, rec.end)
                .and_then(<[u8]>::first)
                .ok_or_else(|| self.corrupt(rec, "missing type byte"))?,
        );
        if self.raw_ok(out, t) {
            let after_type =
                range(type_at + 1, rec.end).ok_or_else(|| self.corrupt(rec, "bad key"))?;
            let (key, key_len) =
                decode_key(after_type, wide).ok_or_else(|| self.corrupt(rec, "bad key string"))?;
            let value = after_type
                .get(key_len..)
                .ok_or_else(|| self.corrupt(rec, "bad key length"))?;
            w.write_raw_value(&key, t, meta, value).map_err(werr)?;
            stats.raw_copied += 1;
            return Ok(());
        }
        let entry = decode_record(self.header, record, &self.label, rec.start)?;
        let written = match (&entry.value, self.stream_nodes(type_at, rec)) {
            // A stream of a newer stream type than the target's: its nodes are the same in
            // every type and are kept as stored; only the metadata are written again.
            (Value::Stream(s), Some(nodes)) => w
                .write_stream_with_nodes(&entry.key, meta, nodes, s)
                .map(|()| true),
            (value, _) => w.write_value(&entry.key, meta, value),
        };
        match written {
            Ok(true) => stats.reencoded += 1,
            Ok(false) => {}
            Err(WriteError::InvalidValue { key, what }) => {
                return Err(ExportError::Source(format!(
                    "{}: byte {}: key {key}: {what}: its RDB type {} record cannot be written \
                     for RDB {} ({})",
                    self.label, rec.start, t.0, out.version, self.plan.target
                )))
            }
            Err(e) => return Err(werr(e)),
        }
        Ok(())
    }

    /// The node section of a stream record whose type byte is at `type_at`: the bytes after
    /// the key up to the metadata (the node count, then each node's master-ID and listpack
    /// strings), shared by stream types 15, 19 and 21. `None` when the record is not a stream
    /// or does not parse (the reader checked it in pass 1). Bounded: every string header
    /// consumes at least one byte of the record.
    fn stream_nodes(&self, type_at: u64, rec: &Rec) -> Option<&[u8]> {
        let wide = self.header.has_64bit_lengths();
        let record = self
            .bytes
            .get(usize::try_from(type_at).ok()?..usize::try_from(rec.end).ok()?)?;
        let (&t, after_type) = record.split_first()?;
        if !matches!(
            self.header.classify_type(RdbType(t)),
            Ok(TypeKind::Stream(_))
        ) {
            return None;
        }
        let (h, n) = decode_string_header(after_type, wide).ok()?;
        let value = after_type.get(n.checked_add(usize::try_from(h.payload_len()).ok()?)?..)?;
        let (Length::Len(nodes), mut at) = decode_length(value, wide).ok()? else {
            return None;
        };
        for _ in 0..nodes.checked_mul(2)? {
            let (h, n) = decode_string_header(value.get(at..)?, wide).ok()?;
            at = at
                .checked_add(n)?
                .checked_add(usize::try_from(h.payload_len()).ok()?)?;
        }
        value.get(..at)
    }
}

/// A parser over one key record of a file with `header`, standing alone: `buf` is filled with
/// `header + record + EOF` (and a zero checksum, not verified).
fn record_parser<'b>(
    header: Header,
    record: &[u8],
    buf: &'b mut Vec<u8>,
) -> Parser<SliceSource<'b>> {
    buf.clear();
    buf.extend_from_slice(&header.to_bytes());
    buf.extend_from_slice(record);
    buf.push(Opcode::EOF.0);
    if header.has_checksum() {
        buf.extend_from_slice(&[0; 8]);
    }
    let limits = Limits {
        verify_checksum: false,
        ..Limits::default()
    };
    Parser::new(SliceSource::new(buf), limits)
}

/// Whether a key record of a file with `header` holds no element: the reader gives nothing
/// between its key and its end (`scratch` is reused between calls).
fn holds_no_element(header: Header, record: &[u8], scratch: &mut Vec<u8>) -> bool {
    let mut p = record_parser(header, record, scratch);
    loop {
        match p.next_event() {
            Ok(Some(Event::Key(_))) => break,
            Ok(Some(_)) => {}
            Ok(None) | Err(_) => return false,
        }
    }
    matches!(p.next_event(), Ok(Some(Event::KeyEnd)))
}

/// Decodes one key record of a file with `header`, found at byte `start` of the file `label`,
/// to the model.
fn decode_record(
    header: Header,
    record: &[u8],
    label: &str,
    start: u64,
) -> Result<Entry, ExportError> {
    let mut buf = Vec::with_capacity(record.len() + 18);
    let mut p = record_parser(header, record, &mut buf);
    let mut b = KeyspaceBuilder::new();
    loop {
        match p.next_event() {
            Ok(Some(ev)) => b.push(&ev),
            Ok(None) => break,
            Err(e) => {
                return Err(ExportError::Source(format!(
                    "{label}: byte {start}: the key record does not decode on its own ({e}; \
                     offsets there count from a copy of the record after the 9-byte header)"
                )))
            }
        }
    }
    b.finish()
        .dbs
        .into_values()
        .flat_map(|d| d.entries)
        .next()
        .ok_or_else(|| {
            ExportError::Source(format!("{label}: byte {start}: a record decoded to no key"))
        })
}

/// Parses the attribute opcodes before a type byte (already validated by the reader).
fn parse_attributes(mut b: &[u8], wide: bool) -> Option<KeyMeta> {
    let mut meta = KeyMeta::default();
    while let Some((&op, rest)) = b.split_first() {
        b = match op {
            0xFC => {
                let ms: [u8; 8] = rest.get(..8)?.try_into().ok()?;
                meta.expire_at_ms = Some(i64::from_le_bytes(ms));
                rest.get(8..)?
            }
            0xFD => {
                let s: [u8; 4] = rest.get(..4)?.try_into().ok()?;
                meta.expire_at_ms = Some(i64::from(i32::from_le_bytes(s)) * 1000);
                rest.get(4..)?
            }
            0xF8 => {
                let (len, n) = decode_length(rest, wide).ok()?;
                let Length::Len(idle) = len else { return None };
                meta.lru_idle_s = Some(idle);
                rest.get(n..)?
            }
            0xF9 => {
                meta.lfu_freq = Some(*rest.first()?);
                rest.get(1..)?
            }
            _ => return None,
        };
    }
    Some(meta)
}

/// Decodes the key string at the start of `b`; returns its bytes and encoded length.
fn decode_key(b: &[u8], wide: bool) -> Option<(Vec<u8>, usize)> {
    let mut out = Vec::new();
    let n = decode_key_into(b, wide, &mut out)?;
    Some((out, n))
}

/// Decodes the key string at the start of `b`, appending its bytes to `out`; returns its
/// encoded length.
fn decode_key_into(b: &[u8], wide: bool, out: &mut Vec<u8>) -> Option<usize> {
    let (h, n) = decode_string_header(b, wide).ok()?;
    match h {
        StringHeader::Raw(len) => {
            let len = usize::try_from(len).ok()?;
            out.extend_from_slice(b.get(n..n.checked_add(len)?)?);
            Some(n + len)
        }
        StringHeader::Int(v) => {
            out.extend_from_slice(IntText::new(v).as_bytes());
            Some(n)
        }
        StringHeader::Lzf {
            compressed,
            uncompressed,
        } => {
            // Lengths the parser checked against its limits in pass 1; appended in place.
            let c = usize::try_from(compressed).ok()?;
            let u = usize::try_from(uncompressed).ok()?;
            rdb_format::lzf::decompress(b.get(n..n.checked_add(c)?)?, out, u).ok()?;
            Some(n + c)
        }
    }
}

/// Scratch space for finding a repeated key among the records of one slot (reused from slot
/// to slot).
#[derive(Default)]
struct KeyArena {
    /// `(tag, index in the group)`, sorted.
    tags: Vec<(u16, u32)>,
    /// Indices (in the group) of the records whose tag another record shares.
    suspects: Vec<u32>,
    /// The suspects' keys, decoded one after another.
    bytes: Vec<u8>,
    /// Each suspect's key in `bytes`.
    spans: Vec<(usize, usize)>,
}

impl KeyArena {
    /// The first key of `group` (records of one slot, in file order) that repeats an earlier
    /// one. Only records sharing their 16-bit tag with another are decoded (about one pair
    /// in a slot of 300 distinct keys), then compared byte for byte. Records were parsed in
    /// pass 1, so their keys decode. Returns the key and the byte offset of the repeat's record.
    fn repeat(&mut self, file: &[u8], wide: bool, group: &[Rec]) -> Option<(Vec<u8>, u64)> {
        if group.len() < 2 {
            return None;
        }
        self.tags.clear();
        self.tags
            .extend(group.iter().zip(0u32..).map(|(r, i)| (r.tag, i)));
        self.tags.sort_unstable();
        self.suspects.clear();
        for run in self.tags.chunk_by(|a, b| a.0 == b.0) {
            if run.len() > 1 {
                self.suspects.extend(run.iter().map(|&(_, i)| i));
            }
        }
        if self.suspects.is_empty() {
            return None;
        }
        self.suspects.sort_unstable(); // file order: the earliest repeat is found first
        self.bytes.clear();
        self.spans.clear();
        for &i in &self.suspects {
            let r = group.get(i as usize)?;
            // The key string follows the attribute opcodes and the type byte.
            let at = r.start + r.prefix_len() + 1;
            let start = self.bytes.len();
            usize::try_from(at)
                .ok()
                .and_then(|at| file.get(at..))
                .and_then(|b| decode_key_into(b, wide, &mut self.bytes))?;
            self.spans.push((start, self.bytes.len()));
        }
        let arena = &self.bytes;
        let key = |&(s, e): &(usize, usize)| arena.get(s..e).unwrap_or_default();
        let i = rdb_writer::dupkeys::first_duplicate(&self.spans, key)?;
        let rec = group.get(*self.suspects.get(i)? as usize)?;
        self.spans
            .get(i)
            .map(|span| (key(span).to_vec(), rec.start))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rec_is_24_bytes() {
        assert_eq!(std::mem::size_of::<Rec>(), 24);
    }

    #[test]
    fn attributes() {
        let mut b = vec![0xFC];
        b.extend_from_slice(&1234i64.to_le_bytes());
        b.extend_from_slice(&[0xF8, 0x05, 0xF9, 0x07]);
        let m = parse_attributes(&b, true).unwrap();
        assert_eq!(
            (m.expire_at_ms, m.lru_idle_s, m.lfu_freq),
            (Some(1234), Some(5), Some(7))
        );
        let mut s = vec![0xFD];
        s.extend_from_slice(&10i32.to_le_bytes());
        assert_eq!(
            parse_attributes(&s, true).unwrap().expire_at_ms,
            Some(10_000)
        );
        assert!(parse_attributes(&[0xFC, 1, 2], true).is_none());
        assert!(parse_attributes(&[0x00], true).is_none());
        assert_eq!(parse_attributes(&[], true).unwrap(), KeyMeta::default());
    }

    #[test]
    fn keys() {
        assert_eq!(decode_key(b"\x03fooXYZ", true), Some((b"foo".to_vec(), 4)));
        // int8 encoded "-3"
        assert_eq!(decode_key(b"\xc0\xfd", true), Some((b"-3".to_vec(), 2)));
        assert_eq!(decode_key(b"\x05ab", true), None);
        let mut enc = Vec::new();
        let long = b"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa".to_vec();
        let mut c = rdb_format::lzf::Compressor::new();
        rdb_format::string::encode_string(&long, Some(&mut c), &mut enc);
        assert!(matches!(enc.first(), Some(0xC3)), "LZF-encoded");
        enc.push(0x99);
        assert_eq!(decode_key(&enc, true), Some((long, enc.len() - 1)));
    }
}
