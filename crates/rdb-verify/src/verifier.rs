//! The [`Verifier`]: fed by reader events, it runs the checks of rdb-format.md §8.1 that the
//! reader does not already enforce, gathers statistics and builds a [`Report`].
//!
//! Memory: per file, one 64-bit digest per key (duplicate check, see [`crate::dedup`]), a
//! 16384-entry slot histogram and fixed tables; per key, one digest per member / field / group /
//! consumer / PEL ID (cleared at the key's end, capped by [`Options::max_member_hashes`]) and
//! the previous zset member. Values are never materialised; nothing per element survives a key
//! except counters.

use std::collections::HashMap;
use std::hash::BuildHasherDefault;

use rdb_cluster::slot::key_slot;
use rdb_cluster::slotset::SlotSet;
use rdb_format::{Element, Header, IntText, TypeKind};
use rdb_model::StreamId;
use rdb_reader::{ChecksumStatus, EofInfo, Event, KeyInfo, Limits, ReadError, StreamMeta};

use crate::cachesize::{CacheModel, ValueCost};
use crate::dedup::{digest, find_keys, DigestSet, FoldHasher, KeyDigests, MemberSet, Rescan};
use crate::engine::{Compat, EngineLine};
use crate::report::{ChecksumReport, DbReport, Finding, Report, Severity, SlotsReport};

/// Number of hash slots.
const SLOTS: usize = 16384;
/// Databases counted in a flat vector (higher ones in a map).
const DB_FLAT: usize = 64;

/// What to check and how.
#[derive(Debug, Clone)]
pub struct Options {
    /// Report a checksum mismatch as an error (`--no-checksum` sets this to false: the
    /// `crc-mismatch` finding is then a warning, the file passes). The reader itself always runs with
    /// `Limits::verify_checksum = false` so a mismatch never stops it before the trailer.
    pub check_checksum: bool,
    /// The slots this file's keys must hash into (`--slots`; V-F16). Also makes keys outside db 0
    /// an error (cluster files hold db 0 only).
    pub expected_slots: Option<SlotSet>,
    /// The node group `expected_slots` belongs to (a manifest's `NodeGroupId`, see
    /// [`crate::multi::ManifestInput::node_groups_for`]): keys outside are then reported as
    /// `slot-outside-node-group` naming it, instead of `slot-outside-expected`.
    pub expected_slots_group: Option<String>,
    /// The engine line the file must load on (`--engine`).
    pub engine: Option<EngineLine>,
    /// Node memory in bytes (`--node-memory`): error when CacheSize exceeds 75 % of it.
    pub node_memory: Option<u64>,
    /// Detect duplicate keys (an 8-byte digest per key; see [`crate::dedup`]).
    pub duplicate_keys: bool,
    /// "Now" for already-expired keys, Unix ms.
    pub now_ms: i64,
    /// `databases` of the target server (SELECTDB must be below it).
    pub databases: u64,
    /// The memory model (its `thresholds` are also the encoding thresholds of V-T13).
    pub cache_model: CacheModel,
    /// With no [`Options::engine`]: the CacheSize model (and its thresholds) follow the server
    /// that wrote the file — its `valkey-ver` / `redis-ver` AUX field when that names a known
    /// line, else its RDB version ([`EngineLine::wrote`]) — keeping `cache_model`'s cluster
    /// mode and allocator. `rdb-verify` sets it when neither `--engine` nor a manifest names
    /// a line. Off by default: `cache_model` is used as given.
    pub infer_cache_model: bool,
    /// The CacheSize model turns to cluster mode when the file has slot sizing records
    /// (SLOT_INFO or `slot-info` AUX) before its first key: only a cluster node writes them
    /// (Redis 7.4+, Valkey 8.0+), and a node loads the file. `rdb-verify` sets it when
    /// nothing says whether the file is a cluster node's (no `--cluster-mode`, `--slots` or
    /// manifest). Off by default.
    pub infer_cluster_mode: bool,
    /// Findings listed per code; later ones are only counted (`suppressed_findings`).
    pub max_findings_per_code: usize,
    /// Digests held per key for member / field / PEL duplicate checks.
    pub max_member_hashes: usize,
    /// Reader limits (`verify_checksum` is ignored, see `check_checksum`).
    pub limits: Limits,
}

/// The current time in Unix ms (0 if the clock is before 1970).
pub fn unix_now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
}

impl Default for Options {
    fn default() -> Self {
        Options {
            check_checksum: true,
            expected_slots: None,
            expected_slots_group: None,
            engine: None,
            node_memory: None,
            duplicate_keys: true,
            now_ms: unix_now_ms(),
            databases: 16,
            cache_model: CacheModel::default(),
            infer_cache_model: false,
            infer_cluster_mode: false,
            max_findings_per_code: 100,
            max_member_hashes: 1 << 23,
            limits: Limits::default(),
        }
    }
}

impl Options {
    /// The reader limits to use (checksum verification off: the verifier reports it).
    pub fn reader_limits(&self) -> Limits {
        Limits {
            verify_checksum: false,
            // Long LZF strings are validated, not decompressed: only their length matters.
            decode_lzf_strings: false,
            // Module values: only their length matters (walked in bounded memory).
            module_bytes: false,
            // One event per string key (the verifier handles both forms).
            whole_strings: true,
            ..self.limits
        }
    }
}

/// Where an event came from: lets the verifier give exact offsets.
#[derive(Debug, Clone, Copy, Default)]
pub struct EventContext {
    /// Where the event starts, as `Parser::next_event_at` gives it: a non-key record's opcode,
    /// a key's first per-key opcode (or its type byte), a plain element's first byte.
    pub start: Option<u64>,
}

/// A SLOT_INFO / `slot-info` record and the keys that followed it.
#[derive(Debug)]
struct SlotInfoState {
    slot: u64,
    keys: u64,
    expires: u64,
    offset: Option<u64>,
    what: &'static str,
    seen_keys: u64,
    seen_expires: u64,
    wrong: u64,
    first_wrong: Option<(u64, u64, Vec<u8>, u16)>,
}

/// Whether a server loading key `k` gives it an expiry: it has one, and not -1 (the servers'
/// "none").
fn loads_with_expiry(k: &KeyInfo<'_>) -> bool {
    k.expire_at_ms.is_some_and(|e| e != -1)
}

impl SlotInfoState {
    /// Counts key `k` (bytes `key`, hash slot `slot`) as one that follows the record.
    fn count(&mut self, k: &KeyInfo<'_>, key: &[u8], slot: u16) {
        self.seen_keys += 1;
        if k.expire_at_ms.is_some() {
            self.seen_expires += 1;
        }
        if u64::from(slot) != self.slot {
            self.wrong += 1;
            if self.first_wrong.is_none() {
                self.first_wrong = Some((k.offset, k.db, key.to_vec(), slot));
            }
        }
    }
}

/// The keys of one SELECTDB / RESIZEDB segment.
#[derive(Debug, Default)]
struct Segment {
    db: u64,
    resize: Option<(u64, u64, Option<u64>)>,
    keys: u64,
    expires: u64,
}

/// The key being read.
#[derive(Debug)]
struct KeyState {
    offset: u64,
    db: u64,
    key: Vec<u8>,
    kind: TypeKind,
    plain: bool,
    n: u64,
    max_member: u64,
    max_value: u64,
    prev_zset: Option<f64>,
    prev_member: Vec<u8>,
    ttl_seen_none: bool,
    prev_ttl: Option<i64>,
    min_ttl: Option<i64>,
    min_expire: Option<i64>,
}

impl KeyState {
    /// Starts key `key` (buffers kept, every other field back to its default).
    fn reset(
        &mut self,
        offset: u64,
        db: u64,
        key: &[u8],
        kind: TypeKind,
        plain: bool,
        min_expire: Option<i64>,
    ) {
        self.offset = offset;
        self.db = db;
        self.key.clear();
        self.key.extend_from_slice(key);
        self.kind = kind;
        self.plain = plain;
        self.n = 0;
        self.max_member = 0;
        self.max_value = 0;
        self.prev_zset = None;
        self.prev_member.clear();
        self.ttl_seen_none = false;
        self.prev_ttl = None;
        self.min_ttl = None;
        self.min_expire = min_expire;
    }
}

impl Default for KeyState {
    fn default() -> Self {
        KeyState {
            offset: 0,
            db: 0,
            key: Vec::new(),
            kind: TypeKind::String,
            plain: false,
            n: 0,
            max_member: 0,
            max_value: 0,
            prev_zset: None,
            prev_member: Vec::new(),
            ttl_seen_none: false,
            prev_ttl: None,
            min_ttl: None,
            min_expire: None,
        }
    }
}

type PelMap = HashMap<u128, bool, BuildHasherDefault<FoldHasher>>;

/// The consumer group being read.
#[derive(Debug, Default)]
struct GroupState {
    offset: Option<u64>,
    name: Vec<u8>,
    last_delivered: StreamId,
    /// PEL ID -> owned by a consumer.
    pel: PelMap,
    pel_truncated: bool,
    consumers: MemberSet,
    consumer: Vec<u8>,
}

/// The stream being read.
#[derive(Debug, Default)]
struct StreamState {
    nodes: u64,
    masters: MemberSet,
    node_offset: Option<u64>,
    node_master: StreamId,
    node_declared: u64,
    node_live: u64,
    node_first: bool,
    in_node: bool,
    prev_id: Option<StreamId>,
    live: u64,
    first_live: Option<StreamId>,
    max_id: Option<StreamId>,
    /// Highest deleted-flagged entry after the first live entry.
    max_deleted: Option<StreamId>,
    meta: Option<StreamMeta>,
    groups: MemberSet,
    group: Option<GroupState>,
}

fn id128(id: StreamId) -> u128 {
    (u128::from(id.ms) << 64) | u128::from(id.seq)
}

/// Consumes reader events and produces a [`Report`].
///
/// Feed it with [`Verifier::on_event_at`] (or [`Verifier::on_event`] when no position is known)
/// for every event, [`Verifier::on_read_error`] if the reader fails, then call
/// [`Verifier::finish`]. [`crate::verify_file`] and [`crate::verify_reader`] do all of this.
#[derive(Debug)]
pub struct Verifier {
    opts: Options,
    report: Report,
    header: Option<Header>,
    db: u64,
    fatal: bool,
    seen_eof: bool,
    errors: u64,
    code_counts: HashMap<&'static str, usize>,
    keys: KeyDigests,
    segment: Segment,
    slot_info: Option<SlotInfoState>,
    last_slot_info: Option<u64>,
    slot_counts: Option<Vec<u32>>,
    /// Per slot, expiring keys of database 0 (for the per-slot tables of a cluster-mode
    /// CacheSize model only).
    slot_expires: Option<Vec<u32>>,
    /// Per slot, keys of database 0 already expired (a primary does not load them: left out
    /// of per-slot tables grown key by key).
    slot_expired: Option<Vec<u32>>,
    /// The file has slot sizing records (SLOT_INFO or `slot-info` AUX): a loading cluster node
    /// sizes its per-slot tables from them.
    slot_sizing: bool,
    outside: u64,
    first_outside: Option<(u64, u64, Vec<u8>, u16)>,
    nonzero_db_keys: u64,
    first_nonzero_db: Option<(u64, u64, Vec<u8>)>,
    compat: Compat,
    cache_total: u64,
    /// The model was taken from a `valkey-ver` AUX field ([`Verifier::infer_model`]).
    model_from_valkey_ver: bool,
    /// The current key is already expired ([`Options::now_ms`]): a primary drops it on load,
    /// so it adds nothing to the CacheSize.
    key_expired: bool,
    in_key: bool,
    saw_key: bool,
    key: KeyState,
    cost: ValueCost,
    members: MemberSet,
    stream: StreamState,
    functions: DigestSet,
    modules_reported: Vec<u64>,
    rdb_types: Box<[u64; 256]>,
    /// Counters of databases `0..DB_FLAT`, indexed by db (merged into `report.databases` by
    /// `finish`; other databases are counted there directly).
    db_flat: Vec<DbReport>,
    /// Element width of the current key's intset, and the smallest width its members need.
    intset_width: Option<u8>,
    intset_need: usize,
}

impl Verifier {
    /// A verifier for the file shown as `path` in the report.
    pub fn new(path: impl Into<String>, opts: &Options) -> Self {
        let cap = opts.max_member_hashes;
        Verifier {
            opts: opts.clone(),
            report: Report::new(path),
            header: None,
            db: 0,
            fatal: false,
            seen_eof: false,
            errors: 0,
            code_counts: HashMap::new(),
            keys: KeyDigests::default(),
            segment: Segment::default(),
            slot_info: None,
            last_slot_info: None,
            slot_counts: None,
            slot_expires: None,
            slot_expired: None,
            slot_sizing: false,
            outside: 0,
            first_outside: None,
            nonzero_db_keys: 0,
            first_nonzero_db: None,
            compat: Compat::default(),
            cache_total: 0,
            model_from_valkey_ver: false,
            key_expired: false,
            in_key: false,
            saw_key: false,
            key: KeyState::default(),
            cost: ValueCost::default(),
            members: MemberSet::new(cap),
            stream: StreamState {
                masters: MemberSet::new(cap),
                groups: MemberSet::new(cap),
                ..Default::default()
            },
            functions: DigestSet::default(),
            modules_reported: Vec::new(),
            rdb_types: Box::new([0; 256]),
            db_flat: Vec::new(),
            intset_width: None,
            intset_need: 2,
        }
    }

    /// Whether a fatal (reader) error ended the file.
    pub fn is_fatal(&self) -> bool {
        self.fatal
    }

    // ----- findings ----------------------------------------------------------------------

    fn add(&mut self, f: Finding) {
        if f.severity == Severity::Error {
            self.errors += 1;
        }
        self.list(f);
    }

    /// Lists `f` unless `max_findings_per_code` of its code are listed (then only counts it).
    fn list(&mut self, f: Finding) {
        let c = self.code_counts.entry(f.code).or_insert(0);
        *c += 1;
        if *c > self.opts.max_findings_per_code {
            *self.report.suppressed_findings.entry(f.code).or_insert(0) += 1;
        } else {
            self.report.findings.push(f);
        }
    }

    fn file_finding(
        &mut self,
        sev: Severity,
        code: &'static str,
        offset: Option<u64>,
        msg: impl Into<String>,
    ) {
        self.add(Finding::new(sev, code, offset, msg));
    }

    /// A finding about the current key.
    fn key_finding(
        &mut self,
        sev: Severity,
        code: &'static str,
        offset: u64,
        msg: impl Into<String>,
    ) {
        let f = Finding::new(sev, code, Some(offset), msg).with_key(self.key.db, &self.key.key);
        self.add(f);
    }

    /// Offset of the current element: exact for plain encodings (read straight from the file),
    /// the key record's offset for elements inside a blob.
    fn elem_offset(&self, ctx: &EventContext) -> u64 {
        if self.key.plain {
            ctx.start.unwrap_or(self.key.offset)
        } else {
            self.key.offset
        }
    }

    // ----- event entry points --------------------------------------------------------------

    /// Feeds one event without position information.
    pub fn on_event(&mut self, ev: &Event<'_>) {
        self.on_event_at(ev, EventContext::default());
    }

    /// Feeds one event with its context.
    pub fn on_event_at(&mut self, ev: &Event<'_>, ctx: EventContext) {
        if self.fatal || self.seen_eof {
            return;
        }
        match ev {
            Event::Header(h) => self.on_header(*h),
            Event::Aux { key, value } => {
                let off = self.record_start(&ctx, 0xFA);
                self.on_aux(key, value, off);
            }
            Event::SelectDb { db } => {
                let off = self.record_start(&ctx, 0xFE);
                self.on_select_db(*db, off);
            }
            Event::ResizeDb { keys, expires } => {
                let off = self.record_start(&ctx, 0xFB);
                self.close_segment();
                if self.opts.duplicate_keys {
                    self.keys.reserve(*keys);
                }
                self.segment.resize = Some((*keys, *expires, off));
            }
            Event::SlotInfo {
                slot,
                keys,
                expires,
            } => {
                let off = self.record_start(&ctx, 0xF4);
                self.start_slot_info(*slot, *keys, *expires, off, "SLOT_INFO");
            }
            Event::Function { code } => {
                let off = self.record_start(&ctx, 0xF5);
                self.on_function(code, off);
            }
            Event::ModuleAux {
                module_id, when, ..
            } => {
                let off = self.record_start(&ctx, 0xF7);
                if *when == 1 && self.saw_key {
                    self.file_finding(
                        Severity::Warning,
                        "module-aux-order",
                        off,
                        "MODULE_AUX with when=1 (before keys) appears after keys",
                    );
                }
                self.module_required(*module_id, off, "MODULE_AUX");
            }
            // The reader gives only string keys whole (`KeyInfo::whole`).
            Event::Key(k) if k.whole => self.whole_string_key(k),
            Event::Key(k) => self.begin_key(k),
            Event::StringChunk(e) => self.cost.string_chunk(e),
            Event::ListItem(e) => {
                self.key.n += 1;
                self.key.max_member = self.key.max_member.max(e.byte_len() as u64);
                self.cost.list_item(&self.opts.cache_model, e);
            }
            Event::SetMember(e) => self.on_set_member(e, &ctx),
            Event::ZSetMember {
                member,
                score,
                score_text,
            } => self.on_zset_member(member, *score, score_text.as_ref(), &ctx),
            Event::HashField {
                field,
                value,
                expire_at_ms,
            } => self.on_hash_field(field, value, *expire_at_ms, &ctx),
            Event::StreamNode {
                master,
                count,
                bytes,
                ..
            } => self.on_stream_node(*master, *count, *bytes, &ctx),
            Event::StreamEntry(e) => self.on_stream_entry(e.id, e.deleted, e.is_empty()),
            Event::StreamMeta(m) => self.on_stream_meta(*m, &ctx),
            Event::StreamGroup {
                name,
                last_delivered_id,
                entries_read,
                ..
            } => self.on_stream_group(name, *last_delivered_id, *entries_read, &ctx),
            Event::StreamPending {
                id, delivery_count, ..
            } => self.on_stream_pending(*id, *delivery_count, &ctx),
            Event::StreamConsumers { .. } => {}
            Event::StreamConsumer {
                name,
                seen_time_ms,
                active_time_ms,
                ..
            } => self.on_stream_consumer(name, *seen_time_ms, *active_time_ms, &ctx),
            Event::StreamConsumerPending { id } => self.on_consumer_pending(*id, &ctx),
            Event::Module { module_id, len, .. } => {
                self.cost.module(*len);
                self.module_value(*module_id);
            }
            Event::KeyEnd => self.end_key(),
            Event::OrphanKeyAttributes { offset, next } => self.orphan_attributes(*offset, next.0),
            Event::Eof(info) => self.on_eof(*info),
        }
    }

    /// Records a reader error: a fatal finding (its code, offset, db and key) that ends the file.
    pub fn on_read_error(&mut self, e: &ReadError) {
        if self.fatal {
            return;
        }
        let i = e.info();
        let mut msg = i.message.clone();
        if let Some((t, enc)) = i.type_info {
            msg.push_str(&format!(" ({t}, {enc})"));
        }
        let mut f = Finding::new(Severity::Error, e.code(), Some(e.offset()), msg);
        if let Some(k) = &i.key {
            f = f.with_key(i.db.unwrap_or(0), k);
            if i.key_len > k.len() {
                f.message
                    .push_str(&format!(" (key cut, {} bytes)", i.key_len));
            }
        }
        f.db = i.db;
        self.add(f);
        self.fatal = true;
    }

    // ----- records ---------------------------------------------------------------------------

    /// The offset of a non-key record starting with `opcode`, recorded for the engine checks
    /// (at [`Compat::UNKNOWN_OFFSET`] when the event came without a position). Per-key opcodes
    /// before a non-key record come as the reader's `OrphanKeyAttributes` event.
    fn record_start(&mut self, ctx: &EventContext, opcode: u8) -> Option<u64> {
        self.compat
            .saw_opcode(opcode, ctx.start.unwrap_or(Compat::UNKNOWN_OFFSET));
        ctx.start
    }

    fn orphan_attributes(&mut self, offset: u64, opcode: u8) {
        let what = rdb_format::Opcode(opcode).name();
        self.file_finding(
            Severity::Warning,
            "orphan-key-attributes",
            Some(offset),
            format!("per-key opcodes (expire/idle/freq) are followed by {what}, not by a key; they apply to the next key"),
        );
    }

    fn on_header(&mut self, h: Header) {
        self.header = Some(h);
        self.report.magic = Some(h.magic.as_str());
        self.report.rdb_version = Some(h.version);
        self.compat.header(h);
        self.infer_model(EngineLine::wrote(h), false);
    }

    /// With [`Options::infer_cache_model`] and no engine line, before the first key: the
    /// model for `line` (a `valkey-ver` AUX field's when `valkey`: Valkey writes both
    /// fields, `redis-ver` holding the Redis version it is compatible with).
    fn infer_model(&mut self, line: EngineLine, valkey: bool) {
        if !self.opts.infer_cache_model
            || self.opts.engine.is_some()
            || self.saw_key
            || (self.model_from_valkey_ver && !valkey)
        {
            return;
        }
        self.model_from_valkey_ver |= valkey;
        let was = &self.opts.cache_model;
        let mut model = CacheModel {
            allocator: was.allocator,
            ..CacheModel::for_engine(line)
        };
        if was.cluster_mode {
            model = model.clustered();
        }
        self.opts.cache_model = model;
    }

    fn on_aux(&mut self, key: &Element<'_>, value: &Element<'_>, off: Option<u64>) {
        let mut kt = IntText::new(0);
        let k = key.as_bytes(&mut kt);
        match k {
            b"redis-ver" | b"valkey-ver" => {
                let valkey = k == b"valkey-ver";
                let fork = if valkey { "valkey" } else { "redis" };
                let mut vt = IntText::new(0);
                let line = std::str::from_utf8(value.as_bytes(&mut vt))
                    .ok()
                    .and_then(|v| format!("{fork}-{v}").parse::<EngineLine>().ok());
                match (line, self.header) {
                    (Some(line), _) => self.infer_model(line, valkey),
                    // A Valkey build of no known line (`255.255.255` from a development
                    // tree): Valkey's newest line for the file's version.
                    (None, Some(h)) if valkey => {
                        self.infer_model(EngineLine::newest_valkey_for(h), true)
                    }
                    _ => {}
                }
            }
            b"used-mem" => {
                self.report.used_mem_aux = value.as_int().and_then(|v| u64::try_from(v).ok());
            }
            b"repl-id" => {
                let n = value.byte_len();
                if n != 40 {
                    self.file_finding(
                        Severity::Warning,
                        "aux-repl-id",
                        off,
                        format!("repl-id AUX is {n} characters; servers use it only when it has exactly 40"),
                    );
                }
            }
            b"lua" => {
                self.file_finding(
                    Severity::Warning,
                    "aux-lua",
                    off,
                    "lua AUX field: Redis 4.0-6.2 compile it on load (a broken script fails the load); Redis >= 7.0 ignores it",
                );
            }
            b"slot-info" => {
                let mut vt = IntText::new(0);
                match parse_slot_info(value.as_bytes(&mut vt)) {
                    Some((slot, keys, expires)) => {
                        self.start_slot_info(slot, keys, expires, off, "slot-info AUX")
                    }
                    None => {
                        self.compat
                            .saw_bad_slot_info_aux(off.unwrap_or(Compat::UNKNOWN_OFFSET));
                        let shown = rdb_format::escape_bytes(value.as_bytes(&mut vt), 64);
                        self.file_finding(
                            Severity::Error,
                            "slot-info-format",
                            off,
                            format!("slot-info AUX {shown} does not hold 3 comma-separated integers; Valkey >= 8.0 fails the load"),
                        );
                    }
                }
            }
            _ => {}
        }
    }

    fn on_select_db(&mut self, db: u64, off: Option<u64>) {
        self.close_slot_info();
        self.close_segment();
        // Servers write a database's slot records in ascending order, starting again in the
        // next database (`rdbSaveDb`'s `last_slot` is per database).
        self.last_slot_info = None;
        self.db = db;
        self.segment = Segment {
            db,
            ..Segment::default()
        };
        if db >= self.opts.databases {
            self.add(Finding::new(
                Severity::Error,
                "selectdb-range",
                off,
                format!(
                    "SELECTDB {db}: a server with databases {} exits (\"Data file was created with a server configured to handle more than {} databases\")",
                    self.opts.databases, self.opts.databases
                ),
            ));
        }
    }

    fn close_segment(&mut self) {
        if let Some((keys, expires, off)) = self.segment.resize.take() {
            let (db, rk, re) = (self.segment.db, self.segment.keys, self.segment.expires);
            if oversized(keys, expires, rk, re) {
                let msg = oversized_message("RESIZEDB", keys, expires, rk, re);
                let mut f = Finding::new(Severity::Warning, "sizing-count-oversized", off, msg);
                f.db = Some(db);
                self.add(f);
            } else if keys != rk || expires != re {
                let mut f = Finding::new(
                    Severity::Warning,
                    "resizedb-mismatch",
                    off,
                    format!(
                        "RESIZEDB says {keys} keys / {expires} expires, db {db} has {rk} / {re}"
                    ),
                );
                f.db = Some(db);
                self.add(f);
            }
        }
        self.segment.keys = 0;
        self.segment.expires = 0;
    }

    fn start_slot_info(
        &mut self,
        slot: u64,
        keys: u64,
        expires: u64,
        off: Option<u64>,
        what: &'static str,
    ) {
        self.close_slot_info();
        self.slot_sizing = true;
        if self.opts.infer_cluster_mode && !self.saw_key && !self.opts.cache_model.cluster_mode {
            // Written by a cluster node, loaded by one (the same decision in every part of a
            // split file: the first record precedes every key).
            self.opts.cache_model = self.opts.cache_model.clone().clustered();
        }
        if slot >= SLOTS as u64 {
            self.file_finding(
                Severity::Warning,
                "slot-info-range",
                off,
                format!("{what} slot {slot} is not below 16384"),
            );
        }
        if let Some(prev) = self.last_slot_info {
            if slot <= prev {
                self.file_finding(
                    Severity::Warning,
                    "slot-info-order",
                    off,
                    format!("{what} slot {slot} does not follow slot {prev} in ascending order"),
                );
            }
        }
        self.last_slot_info = Some(slot);
        self.slot_info = Some(SlotInfoState {
            slot,
            keys,
            expires,
            offset: off,
            what,
            seen_keys: 0,
            seen_expires: 0,
            wrong: 0,
            first_wrong: None,
        });
    }

    fn close_slot_info(&mut self) {
        let Some(s) = self.slot_info.take() else {
            return;
        };
        if oversized(s.keys, s.expires, s.seen_keys, s.seen_expires) {
            let what = format!("{} for slot {}", s.what, s.slot);
            let msg = oversized_message(&what, s.keys, s.expires, s.seen_keys, s.seen_expires);
            self.file_finding(Severity::Warning, "sizing-count-oversized", s.offset, msg);
        } else if s.keys != s.seen_keys || s.expires != s.seen_expires {
            self.file_finding(
                Severity::Warning,
                "slot-info-count",
                s.offset,
                format!(
                    "{} for slot {} says {} keys / {} expires, {} / {} follow",
                    s.what, s.slot, s.keys, s.expires, s.seen_keys, s.seen_expires
                ),
            );
        }
        if let Some((off, db, key, slot)) = s.first_wrong {
            let f = Finding::new(
                Severity::Warning,
                "slot-info-key-slot",
                Some(off),
                format!(
                    "{} key(s) after {} for slot {} hash to other slots (first: slot {slot})",
                    s.wrong, s.what, s.slot
                ),
            )
            .with_key(db, &key);
            self.add(f);
        }
    }

    fn on_function(&mut self, code: &Element<'_>, off: Option<u64>) {
        let mut t = IntText::new(0);
        let code = code.as_bytes(&mut t);
        match check_shebang(code) {
            Ok(rdb_format::function::Shebang { engine, name }) => {
                if !engine.eq_ignore_ascii_case(b"lua") {
                    self.compat
                        .saw_non_lua_function(off.unwrap_or(Compat::UNKNOWN_OFFSET));
                    let e = rdb_format::escape_bytes(&engine, 32);
                    // Redis, Valkey 7.2 and 8.0 have no other engine and no way to add one
                    // (newer Valkey lines let a module register one): with `--engine` naming
                    // such a line, the load fails.
                    let lua_only = self.opts.engine.filter(|l| !l.module_function_engines());
                    let (severity, text) = match lua_only {
                        Some(l) => (
                            Severity::Error,
                            format!("function library engine {e} is not Lua: {l} has no other engine and refuses the file"),
                        ),
                        None => (
                            Severity::Warning,
                            format!("function library engine {e} is not Lua; the server needs that engine to load it"),
                        ),
                    };
                    self.file_finding(severity, "function-engine", off, text);
                }
                if !self.functions.insert(digest(&name, 5)) {
                    let n = rdb_format::escape_bytes(&name, 64);
                    self.file_finding(
                        Severity::Error,
                        "function-duplicate",
                        off,
                        format!("function library {n} appears twice (\"Library already exists\")"),
                    );
                }
            }
            Err(m) => self.file_finding(Severity::Error, "function-shebang", off, m),
        }
    }

    /// MODULE_AUX data of `module_id` (a record of its own, not a key's).
    fn module_required(&mut self, module_id: u64, off: Option<u64>, what: &str) {
        self.compat
            .saw_module(module_id, off.unwrap_or(Compat::UNKNOWN_OFFSET));
        if let Some(f) = self.module_finding(module_id, off, what) {
            self.add(f);
        }
    }

    /// The module value of the current key: the `module-required` warning names the key.
    fn module_value(&mut self, module_id: u64) {
        let (off, db) = (self.key.offset, self.key.db);
        self.compat
            .saw_module_key(module_id, off, db, &self.key.key);
        if let Some(f) = self.module_finding(module_id, Some(off), "module value") {
            let f = f.with_key(db, &self.key.key);
            self.add(f);
        }
    }

    /// The `module-required` warning for the first data of `module_id`; `None` once given.
    fn module_finding(&mut self, module_id: u64, off: Option<u64>, what: &str) -> Option<Finding> {
        if !self.note_module(module_id) {
            return None;
        }
        let name = rdb_model::module_type_name(module_id);
        let ver = module_id & 1023;
        Some(Finding::new(
            Severity::Warning,
            "module-required",
            off,
            format!("{what} of module type {name} (encoding version {ver}): the server must load that module, or it refuses the file"),
        ))
    }

    fn on_eof(&mut self, info: EofInfo) {
        self.close_slot_info();
        self.close_segment();
        if self.in_key {
            self.end_key();
        }
        self.seen_eof = true;
        self.compat.saw_opcode(0xFF, info.eof_offset);
        self.report.checksum = ChecksumReport {
            stored: info.stored.map(|v| format!("{v:016x}")),
            computed: Some(format!("{:016x}", info.computed)),
            status: info.status.as_str(),
        };
        let trailer = info.eof_offset + 1;
        match info.status {
            ChecksumStatus::Ok => {}
            ChecksumStatus::Mismatch => {
                // Ignoring the checksum (`check_checksum` off) makes the mismatch a warning:
                // the file passes, but the damage stays in sight.
                let (severity, ignored) = if self.opts.check_checksum {
                    (Severity::Error, "")
                } else {
                    (
                        Severity::Warning,
                        " (ignored: a server refuses to load this file)",
                    )
                };
                self.file_finding(
                    severity,
                    "crc-mismatch",
                    Some(trailer),
                    format!(
                        "RDB CRC error: stored checksum {:016x}, computed {:016x}{ignored}",
                        info.stored.unwrap_or(0),
                        info.computed
                    ),
                );
            }
            ChecksumStatus::Disabled => self.file_finding(
                Severity::Warning,
                "checksum-disabled",
                Some(trailer),
                "stored checksum is 0: saved with rdbchecksum no, loaders skip the check",
            ),
            ChecksumStatus::Absent => self.file_finding(
                Severity::Info,
                "checksum-absent",
                Some(info.eof_offset),
                "RDB version below 5 has no checksum",
            ),
        }
        if info.trailing_bytes {
            let end = if info.stored.is_some() {
                trailer + 8
            } else {
                trailer
            };
            self.file_finding(
                Severity::Warning,
                "trailing-bytes",
                Some(end),
                "bytes follow the end of the RDB; servers never read them",
            );
        }
    }

    // ----- keys ------------------------------------------------------------------------------

    /// A string key given whole (its value in the event): counted like any key, its value's
    /// cost computed at once. None of the per-key state that value events and `end_key` use
    /// is touched (a string has no elements, and `end_key` reports nothing on one), and the
    /// key's bytes are not copied.
    fn whole_string_key(&mut self, k: &KeyInfo<'_>) {
        if self.in_key {
            self.end_key();
        }
        self.saw_key = true;
        let mut kt = IntText::new(0);
        let key = k.key.as_bytes(&mut kt);
        self.count_key(k, key);
        if self.key_expired {
            return;
        }
        let (len, int) = ValueCost::whole_string(k.value.as_ref(), k.len_hint.unwrap_or(0));
        self.cache_total +=
            self.opts
                .cache_model
                .string_entry(key.len() as u64, loads_with_expiry(k), len, int);
    }

    fn begin_key(&mut self, k: &KeyInfo<'_>) {
        if self.in_key {
            self.end_key();
        }
        self.in_key = true;
        self.saw_key = true;
        let mut kt = IntText::new(0);
        let key = k.key.as_bytes(&mut kt);
        let db = k.db;
        let kind = k.kind;
        use TypeKind as K;
        let plain = matches!(
            kind,
            K::ListLinked
                | K::SetHashtable
                | K::ZSetV1
                | K::ZSet2
                | K::HashHashtable
                | K::HashMetadata
                | K::HashMetadataPreGa
                | K::ValkeyHash2
        );
        // Reset in place: moving the state out and back costs a 160-byte copy and a
        // store-forwarding stall per key.
        let min_expire = if matches!(kind, K::HashMetadata) {
            k.min_expire
        } else {
            None
        };
        self.key.reset(k.offset, db, key, kind, plain, min_expire);
        // V-T6: servers always use the smallest intset width; checked against the members.
        self.intset_width = if matches!(kind, K::SetIntset) {
            k.intset_width
        } else {
            None
        };
        self.intset_need = 2;
        self.cost.reset(key.len() as u64, loads_with_expiry(k));
        if kind == K::String {
            // The value's length when its bytes are not delivered (a validated LZF string).
            self.cost.string_length(k.len_hint.unwrap_or(0));
        }
        self.members.clear();
        if let K::Stream(_) = kind {
            self.reset_stream();
        }
        self.count_key(k, key);
    }

    /// What every key adds to the report, `key` being its bytes: engine compatibility,
    /// counters, CacheSize of the key itself, expiry, duplicate digest, slot.
    fn count_key(&mut self, k: &KeyInfo<'_>, key: &[u8]) {
        let db = k.db;
        let t = k.rdb_type.0;
        let kind = k.kind;

        // Engine compatibility (the key kept for a first occurrence, to name it).
        self.compat.saw_key_type(t, k.offset, db, key);
        if k.lru_idle_s.is_some() {
            self.compat.saw_key_opcode(0xF8, k.offset, db, key);
        }
        if k.lfu_freq.is_some() {
            self.compat.saw_key_opcode(0xF9, k.offset, db, key);
        }

        // Counters.
        self.report.keys += 1;
        if let Some(c) = self.rdb_types.get_mut(usize::from(t)) {
            *c += 1;
        }
        // An expiry of -1 is the servers' "none": such a key loads without one, and stays. The
        // report's counts and CacheSize follow the server; the file's own counts (RESIZEDB,
        // SLOT_INFO) are checked against every expiry the file holds.
        let no_expiry = k.expire_at_ms == Some(-1);
        let has_expiry = loads_with_expiry(k);
        let expired = has_expiry && k.expire_at_ms.is_some_and(|e| e < self.opts.now_ms);
        {
            let d = self.db_counters(db);
            d.keys += 1;
            if let Some(c) = d.types.0.get_mut(kind.logical_index()) {
                *c += 1;
            }
            if has_expiry {
                d.expires += 1;
            }
            if expired {
                d.already_expired += 1;
            }
        }
        self.segment.keys += 1;
        if k.expire_at_ms.is_some() {
            self.segment.expires += 1;
        }
        if has_expiry {
            self.report.expires += 1;
        }
        self.key_expired = expired;
        if !expired {
            self.cache_total += self.opts.cache_model.key(key.len() as u64, has_expiry);
        }
        if no_expiry {
            let f = Finding::new(
                Severity::Warning,
                "expire-minus-one",
                Some(k.offset),
                "expiry -1 ms: a server reads -1 as no expiry and keeps the key forever"
                    .to_string(),
            )
            .with_key(db, key);
            self.add(f);
        }
        if expired {
            self.report.already_expired += 1;
            let e = k.expire_at_ms.unwrap_or(0);
            let msg = format!(
                "expired at {e} ms, before now ({} ms): a primary drops it on load",
                self.opts.now_ms
            );
            let f = Finding::new(Severity::Warning, "already-expired", Some(k.offset), msg)
                .with_key(db, key);
            self.add(f);
        }

        // Duplicate keys: checked at the end (see `crate::dedup`).
        if self.opts.duplicate_keys {
            self.keys.push(key, db);
        }

        // Slots.
        let needs_slot = db == 0 || self.slot_info.is_some();
        let slot = if needs_slot { key_slot(key) } else { 0 };
        if db == 0 {
            let counts = self.slot_counts.get_or_insert_with(|| vec![0u32; SLOTS]);
            if let Some(c) = counts.get_mut(usize::from(slot)) {
                *c = c.saturating_add(1);
            }
            if has_expiry && self.opts.cache_model.tables_per_slot() {
                let exp = self.slot_expires.get_or_insert_with(|| vec![0u32; SLOTS]);
                if let Some(c) = exp.get_mut(usize::from(slot)) {
                    *c = c.saturating_add(1);
                }
                if self.key_expired {
                    let gone = self.slot_expired.get_or_insert_with(|| vec![0u32; SLOTS]);
                    if let Some(c) = gone.get_mut(usize::from(slot)) {
                        *c = c.saturating_add(1);
                    }
                }
            }
            self.check_expected_slot(k.offset, db, key, slot);
        } else if self.opts.expected_slots.is_some() {
            if self.opts.engine.is_some_and(EngineLine::cluster_multi_db) {
                // Valkey 9's cluster mode has databases: their keys hash into the node's
                // slots as db 0's do.
                let slot = if needs_slot { slot } else { key_slot(key) };
                self.check_expected_slot(k.offset, db, key, slot);
            } else {
                self.nonzero_db_keys += 1;
                if self.first_nonzero_db.is_none() {
                    self.first_nonzero_db = Some((k.offset, db, key.to_vec()));
                }
            }
        }
        if let Some(si) = &mut self.slot_info {
            si.count(k, key, slot);
        }
    }

    /// The counters of database `db`.
    fn db_counters(&mut self, db: u64) -> &mut DbReport {
        match usize::try_from(db) {
            Ok(i) if i < DB_FLAT => {
                if self.db_flat.len() <= i {
                    self.db_flat.resize(i + 1, DbReport::default());
                }
                match self.db_flat.get_mut(i) {
                    Some(d) => d,
                    None => self.report.databases.entry(db).or_default(),
                }
            }
            _ => self.report.databases.entry(db).or_default(),
        }
    }

    fn reset_stream(&mut self) {
        let s = &mut self.stream;
        s.masters.clear();
        s.groups.clear();
        let (masters, groups) = (
            std::mem::take(&mut s.masters),
            std::mem::take(&mut s.groups),
        );
        *s = StreamState {
            masters,
            groups,
            ..StreamState::default()
        };
    }

    /// The duplicate check of a member, field or zset member given as its bytes (an integer
    /// element as its decimal text, which is how the server compares them).
    fn member_dup(&mut self, b: &[u8], off: u64, what: &str) {
        if self.members.insert(digest(b, 0)) {
            return;
        }
        let shown = rdb_format::escape_bytes(b, 64);
        self.key_finding(
            Severity::Error,
            "duplicate-member",
            off,
            format!("duplicate {what} {shown}"),
        );
    }

    fn on_set_member(&mut self, e: &Element<'_>, ctx: &EventContext) {
        self.key.n += 1;
        self.key.max_member = self.key.max_member.max(e.byte_len() as u64);
        // Intsets are strictly ascending (the reader enforces it), so no duplicates.
        if self.key.kind == TypeKind::SetIntset {
            if let Some(v) = e.as_int() {
                self.intset_need = self.intset_need.max(rdb_format::intset::width_for(v));
            }
        } else {
            let off = self.elem_offset(ctx);
            let mut t = IntText::new(0);
            self.member_dup(e.as_bytes(&mut t), off, "set member");
        }
        self.cost.set_member(&self.opts.cache_model, e);
    }

    /// Every member of an intset-encoded set at once ([`rdb_reader::Parser::take_intset`]):
    /// what [`Verifier::on_set_member`] does for each of them. The members ascend, so the
    /// longest decimal text and the widest value are at the two ends.
    pub(crate) fn on_intset(&mut self, set: &rdb_format::intset::Intset<'_>) {
        if self.fatal || self.seen_eof {
            return;
        }
        let (Some(first), Some(last)) = (set.get(0), set.get(set.len().wrapping_sub(1))) else {
            return;
        };
        self.key.n += set.len() as u64;
        let longest = rdb_format::element::decimal_len(first)
            .max(rdb_format::element::decimal_len(last)) as u64;
        self.key.max_member = self.key.max_member.max(longest);
        self.intset_need = self
            .intset_need
            .max(rdb_format::intset::width_for(first))
            .max(rdb_format::intset::width_for(last));
        self.cost.int_set_members(&self.opts.cache_model, set);
    }

    fn on_zset_member(
        &mut self,
        m: &Element<'_>,
        score: f64,
        score_text: Option<&Element<'_>>,
        ctx: &EventContext,
    ) {
        self.key.n += 1;
        self.key.max_member = self.key.max_member.max(m.byte_len() as u64);
        let off = self.elem_offset(ctx);
        // The member's bytes once, for the duplicate check and the order check.
        let mut t = IntText::new(0);
        let mb = m.as_bytes(&mut t);
        self.member_dup(mb, off, "zset member");
        if matches!(
            self.key.kind,
            TypeKind::ZSetListpack | TypeKind::ZSetZiplist
        ) {
            if let Some(prev) = self.key.prev_zset {
                let bad = score < prev || (score == prev && mb < self.key.prev_member.as_slice());
                if bad {
                    let msg = format!(
                        "pair {} ({}) sorts before the previous pair {} ({}): listpack zsets must be ordered by (score, member)",
                        rdb_format::escape_bytes(mb, 40),
                        rdb_format::double::format_score(score),
                        rdb_format::escape_bytes(&self.key.prev_member, 40),
                        rdb_format::double::format_score(prev)
                    );
                    self.key_finding(Severity::Error, "zset-order", off, msg);
                }
            }
            self.key.prev_zset = Some(score);
            self.key.prev_member.clear();
            self.key.prev_member.extend_from_slice(mb);
        }
        self.cost
            .zset_member(&self.opts.cache_model, m, score, score_text);
    }

    fn on_hash_field(
        &mut self,
        f: &Element<'_>,
        v: &Element<'_>,
        ttl: Option<i64>,
        ctx: &EventContext,
    ) {
        self.key.n += 1;
        self.key.max_member = self.key.max_member.max(f.byte_len() as u64);
        self.key.max_value = self.key.max_value.max(v.byte_len() as u64);
        let off = self.elem_offset(ctx);
        let mut t = IntText::new(0);
        self.member_dup(f.as_bytes(&mut t), off, "hash field");
        if let Some(t) = ttl {
            self.key.min_ttl = Some(self.key.min_ttl.map_or(t, |m| m.min(t)));
        }
        if matches!(
            self.key.kind,
            TypeKind::HashListpackEx | TypeKind::HashListpackExPreGa
        ) {
            match ttl {
                None => self.key.ttl_seen_none = true,
                Some(t) => {
                    // The field's name is formatted only for a finding.
                    let shown = || {
                        let mut t2 = IntText::new(0);
                        rdb_format::escape_bytes(f.as_bytes(&mut t2), 40)
                    };
                    if self.key.ttl_seen_none {
                        let msg = format!(
                            "field {} has a TTL but follows a field without one",
                            shown()
                        );
                        self.key_finding(Severity::Error, "hash-ttl-order", off, msg);
                    } else if self.key.prev_ttl.is_some_and(|p| t < p) {
                        let msg = format!(
                            "field {} TTL {t} is below the previous field's TTL",
                            shown()
                        );
                        self.key_finding(Severity::Error, "hash-ttl-order", off, msg);
                    }
                    self.key.prev_ttl = Some(t);
                }
            }
        }
        self.cost.hash_field(&self.opts.cache_model, f, v, ttl);
    }

    fn end_key(&mut self) {
        if !self.in_key {
            return;
        }
        self.in_key = false;
        let kind = self.key.kind;
        let off = self.key.offset;
        let n = self.key.n;
        // list, set, zset, hash
        if n == 0 && (1..=4).contains(&kind.logical_index()) {
            let msg = format!(
                "empty {} ({}): servers skip the key silently",
                kind.logical(),
                kind.encoding()
            );
            self.key_finding(Severity::Warning, "empty-value", off, msg);
        }
        self.encoding_checks();
        if let Some(w) = self.intset_width.take() {
            if usize::from(w) > self.intset_need {
                let msg = format!(
                    "intset uses {w}-byte elements where {}-byte elements hold them all",
                    self.intset_need
                );
                self.key_finding(Severity::Warning, "intset-width", off, msg);
            }
        }
        match kind {
            TypeKind::HashMetadata => {
                if let (Some(min), Some(me)) = (self.key.min_ttl, self.key.min_expire) {
                    if min != me {
                        let msg = format!("min_expire is {me}, the smallest field TTL is {min}");
                        self.key_finding(Severity::Warning, "hash-min-expire", off, msg);
                    }
                }
            }
            TypeKind::ValkeyHash2 if n > 0 && self.key.min_ttl.is_none() => {
                let msg = "HASH_2 without any field TTL (Valkey writes type 4/16 for such hashes)";
                self.key_finding(Severity::Warning, "hash-no-field-ttl", off, msg);
            }
            TypeKind::Stream(_) => self.end_stream(),
            _ => {}
        }
        if self.members.truncated() {
            let msg = format!(
                "more than {} members: the duplicate check covered only the first ones",
                self.opts.max_member_hashes
            );
            self.key_finding(Severity::Info, "duplicate-check-limited", off, msg);
        }
        self.members.clear();
        let cost = self.cost.finish(&self.opts.cache_model, kind);
        if !self.key_expired {
            self.cache_total += cost;
        }
    }

    /// Counts a key whose slot is outside [`Options::expected_slots`] (the first one kept, to
    /// be named).
    fn check_expected_slot(&mut self, offset: u64, db: u64, key: &[u8], slot: u16) {
        if let Some(exp) = &self.opts.expected_slots {
            if !exp.contains(slot) {
                self.outside += 1;
                if self.first_outside.is_none() {
                    self.first_outside = Some((offset, db, key.to_vec(), slot));
                }
            }
        }
    }

    /// V-T13: compact encodings within the target thresholds.
    fn encoding_checks(&mut self) {
        let t = self.opts.cache_model.thresholds;
        let (n, mm, mv) = (self.key.n, self.key.max_member, self.key.max_value);
        let problem = match self.key.kind {
            TypeKind::SetIntset if n > t.set_max_intset_entries => Some(format!(
                "intset with {n} members (set-max-intset-entries {})",
                t.set_max_intset_entries
            )),
            TypeKind::SetListpack
                if n > t.set_max_listpack_entries || mm > t.set_max_listpack_value =>
            {
                Some(format!(
                    "set listpack with {n} members, longest {mm} bytes (limits {} / {})",
                    t.set_max_listpack_entries, t.set_max_listpack_value
                ))
            }
            TypeKind::ZSetListpack
                if n > t.zset_max_listpack_entries || mm > t.zset_max_listpack_value =>
            {
                Some(format!(
                    "zset listpack with {n} members, longest {mm} bytes (limits {} / {})",
                    t.zset_max_listpack_entries, t.zset_max_listpack_value
                ))
            }
            TypeKind::HashListpack
                if n > t.hash_max_listpack_entries || mm.max(mv) > t.hash_max_listpack_value =>
            {
                Some(format!(
                    "hash listpack with {n} fields, longest field/value {} bytes (limits {} / {})",
                    mm.max(mv),
                    t.hash_max_listpack_entries,
                    t.hash_max_listpack_value
                ))
            }
            _ => None,
        };
        if let Some(p) = problem {
            let off = self.key.offset;
            self.key_finding(
                Severity::Warning,
                "encoding-threshold",
                off,
                format!("{p}: not what the target server writes"),
            );
        }
    }

    // ----- streams ---------------------------------------------------------------------------

    fn on_stream_node(&mut self, master: StreamId, count: u64, bytes: u64, ctx: &EventContext) {
        self.close_stream_node();
        let off = ctx.start.unwrap_or(self.key.offset);
        self.cost.stream_node(&self.opts.cache_model, bytes);
        let s = &mut self.stream;
        s.nodes += 1;
        s.in_node = true;
        s.node_offset = Some(off);
        s.node_master = master;
        s.node_declared = count;
        s.node_live = 0;
        s.node_first = true;
        if !s.masters.insert(id128(master)) {
            self.key_finding(
                Severity::Error,
                "stream-node-duplicate",
                off,
                format!(
                    "stream node {master} appears twice (\"Listpack re-added with existing key\")"
                ),
            );
        } else if let Some(p) = s.prev_id.filter(|p| *p >= master) {
            // Reported once for the node: its first entry is not compared with `p` again.
            s.prev_id = None;
            self.key_finding(
                Severity::Warning,
                "stream-id-order",
                off,
                format!("stream node {master} does not follow the previous entry {p}"),
            );
        }
        if count == 0 {
            self.key_finding(
                Severity::Warning,
                "stream-node-empty",
                off,
                format!("stream node {master} has no live entry"),
            );
        }
    }

    fn close_stream_node(&mut self) {
        let s = &mut self.stream;
        if !s.in_node {
            return;
        }
        s.in_node = false;
        if s.node_live != s.node_declared {
            let (d, l, m) = (s.node_declared, s.node_live, s.node_master);
            let off = s.node_offset.unwrap_or(self.key.offset);
            self.key_finding(
                Severity::Warning,
                "stream-node-count",
                off,
                format!("stream node {m} declares {d} live entries, {l} are not flagged deleted"),
            );
        }
    }

    fn on_stream_entry(&mut self, id: StreamId, deleted: bool, no_fields: bool) {
        let off = self.stream.node_offset.unwrap_or(self.key.offset);
        let s = &mut self.stream;
        if s.node_first {
            s.node_first = false;
            if id != s.node_master {
                let m = s.node_master;
                self.key_finding(
                    Severity::Warning,
                    "stream-first-delta",
                    off,
                    format!("first entry {id} of node {m} does not have delta 0-0"),
                );
            }
        }
        let s = &mut self.stream;
        if let Some(p) = s.prev_id.filter(|p| *p >= id) {
            self.key_finding(
                Severity::Warning,
                "stream-id-order",
                off,
                format!("stream entry {id} does not follow {p}"),
            );
        }
        let s = &mut self.stream;
        s.prev_id = Some(id);
        s.max_id = Some(s.max_id.map_or(id, |m| m.max(id)));
        if deleted {
            // Entries flagged deleted before the first live one may be XTRIM leftovers, which do
            // not move max_deleted_entry_id; only later ones must be covered by it.
            if s.first_live.is_some() {
                s.max_deleted = Some(s.max_deleted.map_or(id, |m| m.max(id)));
            }
        } else {
            s.live += 1;
            s.node_live += 1;
            s.first_live.get_or_insert(id);
        }
        if no_fields {
            self.key_finding(
                Severity::Warning,
                "stream-entry-no-fields",
                off,
                format!("stream entry {id} has no fields"),
            );
        }
    }

    fn on_stream_meta(&mut self, m: StreamMeta, ctx: &EventContext) {
        self.close_stream_node();
        let off = ctx.start.unwrap_or(self.key.offset);
        self.stream.meta = Some(m);
        let s = &self.stream;
        let mut out: Vec<(Severity, &'static str, String)> = Vec::new();
        if m.length > 0 && s.nodes == 0 {
            out.push((
                Severity::Error,
                "stream-length-without-nodes",
                format!("stream length {} but no listpack", m.length),
            ));
        }
        if s.live != m.length {
            out.push((
                Severity::Warning,
                "stream-length",
                format!(
                    "stream length says {}, the listpacks hold {} live entries",
                    m.length, s.live
                ),
            ));
        }
        if let Some(mx) = s.max_id.filter(|mx| *mx > m.last_id) {
            out.push((
                Severity::Warning,
                "stream-last-id",
                format!("entry {mx} is above last_id {}", m.last_id),
            ));
        }
        if let Some(f) = m.first_id {
            let expect = s.first_live.unwrap_or_default();
            // A stream without live entries holds 0-0, or the largest ID when a server loaded
            // it from a type-15 record (`streamGetEdgeID` finds no entry) and saved it again.
            let empty_max = s.first_live.is_none() && f == rdb_model::StreamId::MAX;
            if f != expect && !empty_max {
                out.push((
                    Severity::Warning,
                    "stream-first-id",
                    format!("first_id is {f}, the first live entry is {expect}"),
                ));
            }
        }
        if let (Some(md), Some(d)) = (m.max_deleted_id, s.max_deleted) {
            if d > md {
                out.push((
                    Severity::Warning,
                    "stream-max-deleted",
                    format!("deleted entry {d} is above max_deleted_entry_id {md}"),
                ));
            }
        }
        if let Some(a) = m.entries_added.filter(|a| *a < m.length) {
            out.push((
                Severity::Warning,
                "stream-entries-added",
                format!("entries_added {a} is below length {}", m.length),
            ));
        }
        for (sev, code, msg) in out {
            self.key_finding(sev, code, off, msg);
        }
        // A wrong element count in a node listpack's header: the server loads the node (it
        // never reads that count), so a warning at the first such node, not an error.
        if let Some((n, first)) = m.node_count_mismatches {
            let more = match n {
                1 => String::new(),
                _ => format!("; {n} nodes of this stream have a wrong count"),
            };
            self.key_finding(
                Severity::Warning,
                "stream-listpack-count",
                first.offset,
                format!(
                    "the listpack header of node {} says {} elements, found {} (the server does \
                     not check this count){more}",
                    first.master, first.declared, first.found
                ),
            );
        }
    }

    fn on_stream_group(
        &mut self,
        name: &Element<'_>,
        last: StreamId,
        entries_read: Option<i64>,
        ctx: &EventContext,
    ) {
        self.close_group();
        let off = ctx.start.unwrap_or(self.key.offset);
        let mut t = IntText::new(0);
        let nb = name.as_bytes(&mut t);
        let shown = rdb_format::escape_bytes(nb, 64);
        self.cost
            .stream_group(&self.opts.cache_model, nb.len() as u64);
        let mut g = GroupState {
            offset: Some(off),
            last_delivered: last,
            consumers: MemberSet::new(self.opts.max_member_hashes),
            ..GroupState::default()
        };
        g.name
            .extend_from_slice(nb.get(..nb.len().min(64)).unwrap_or(nb));
        self.stream.group = Some(g);
        if !self.stream.groups.insert(digest(nb, 1)) {
            self.key_finding(
                Severity::Error,
                "stream-group-duplicate",
                off,
                format!("consumer group {shown} appears twice"),
            );
        }
        let meta = self.stream.meta;
        if let Some(m) = meta {
            if last > m.last_id {
                self.key_finding(
                    Severity::Warning,
                    "stream-group-last-delivered",
                    off,
                    format!(
                        "group {shown} last_delivered_id {last} is above the stream's last_id {}",
                        m.last_id
                    ),
                );
            }
            if let Some(er) = entries_read {
                let too_big = m.entries_added.is_some_and(|a| er >= 0 && er as u64 > a);
                if er < -1 || too_big {
                    self.key_finding(
                        Severity::Warning,
                        "stream-entries-read",
                        off,
                        format!("group {shown} entries_read {er} is neither -1 nor within entries_added"),
                    );
                }
            }
        }
    }

    fn on_stream_pending(&mut self, id: StreamId, delivery_count: u64, ctx: &EventContext) {
        let off = ctx.start.unwrap_or(self.key.offset);
        self.cost.stream_pending(&self.opts.cache_model);
        let cap = self.opts.max_member_hashes;
        let Some(g) = self.stream.group.as_mut() else {
            return;
        };
        let last = g.last_delivered;
        let dup = if g.pel.len() >= cap {
            g.pel_truncated = true;
            false
        } else {
            g.pel.insert(id128(id), false).is_some()
        };
        if !dup && delivery_count != 0 && id <= last {
            // The common case: no finding, so no group name to format.
            return;
        }
        let name = rdb_format::escape_bytes(&g.name, 64);
        if dup {
            self.key_finding(
                Severity::Error,
                "stream-pel-duplicate",
                off,
                format!("group {name} PEL lists {id} twice"),
            );
        }
        if delivery_count == 0 {
            self.key_finding(
                Severity::Warning,
                "stream-pel-delivery-count",
                off,
                format!("group {name} PEL entry {id} has delivery_count 0"),
            );
        }
        if id > last {
            self.key_finding(
                Severity::Warning,
                "stream-pel-after-last-delivered",
                off,
                format!("group {name} PEL entry {id} is above last_delivered_id {last}"),
            );
        }
    }

    fn on_stream_consumer(
        &mut self,
        name: &Element<'_>,
        seen: i64,
        active: Option<i64>,
        ctx: &EventContext,
    ) {
        let off = ctx.start.unwrap_or(self.key.offset);
        let mut t = IntText::new(0);
        let nb = name.as_bytes(&mut t);
        self.cost
            .stream_consumer(&self.opts.cache_model, nb.len() as u64);
        let Some(g) = self.stream.group.as_mut() else {
            return;
        };
        g.consumer.clear();
        g.consumer
            .extend_from_slice(nb.get(..nb.len().min(64)).unwrap_or(nb));
        let dup = !g.consumers.insert(digest(nb, 2));
        let bad_time = seen < -1 || active.is_some_and(|a| a < -1);
        if !dup && !bad_time {
            // The common case: no finding, so no names to format.
            return;
        }
        let (shown, gname) = (
            rdb_format::escape_bytes(nb, 64),
            rdb_format::escape_bytes(&g.name, 64),
        );
        if dup {
            self.key_finding(
                Severity::Error,
                "stream-consumer-duplicate",
                off,
                format!("group {gname} has consumer {shown} twice"),
            );
        }
        if bad_time {
            self.key_finding(
                Severity::Warning,
                "stream-consumer-time",
                off,
                format!("consumer {shown} of group {gname} has a time below -1"),
            );
        }
    }

    fn on_consumer_pending(&mut self, id: StreamId, ctx: &EventContext) {
        let off = ctx.start.unwrap_or(self.key.offset);
        self.cost.stream_consumer_pending(&self.opts.cache_model);
        let Some(g) = self.stream.group.as_mut() else {
            return;
        };
        // The names are formatted only for a finding (not per PEL entry).
        let problem = match g.pel.get_mut(&id128(id)) {
            None if g.pel_truncated => None,
            None => Some("stream-consumer-pel-not-in-group"),
            Some(owned) if *owned => Some("stream-pel-owner-duplicate"),
            Some(owned) => {
                *owned = true;
                None
            }
        };
        let Some(code) = problem else {
            return;
        };
        let (gname, cname) = (
            rdb_format::escape_bytes(&g.name, 64),
            rdb_format::escape_bytes(&g.consumer, 64),
        );
        let msg = if code == "stream-consumer-pel-not-in-group" {
            format!("consumer {cname} of group {gname} holds {id}, which is not in the group PEL (\"Consumer entry not found in group global PEL\")")
        } else {
            format!("PEL entry {id} of group {gname} is owned by more than one consumer (again by {cname})")
        };
        self.key_finding(Severity::Error, code, off, msg);
    }

    fn close_group(&mut self) {
        let Some(g) = self.stream.group.take() else {
            return;
        };
        if g.pel_truncated {
            return;
        }
        let unowned = g.pel.values().filter(|o| !**o).count();
        if unowned > 0 {
            let name = rdb_format::escape_bytes(&g.name, 64);
            let off = g.offset.unwrap_or(self.key.offset);
            self.key_finding(
                Severity::Error,
                "stream-pel-without-consumer",
                off,
                format!("{unowned} PEL entries of group {name} belong to no consumer (\"Stream CG PEL entry without consumer\")"),
            );
        }
    }

    fn end_stream(&mut self) {
        self.close_stream_node();
        self.close_group();
    }

    // ----- parts of a file (see `crate::split`) ------------------------------------------------

    /// Feeds an event of the records *before* this verifier's part of the file, read with
    /// the keys skipped ([`rdb_reader::Parser::skip_key`]): only the state that carries over
    /// from one record to the next is kept (header, db, RESIZEDB segment and slot-info
    /// counts, functions, modules, whether a key was seen); [`Verifier::start_part`] then
    /// drops the findings these records gave, which belong to the part that verifies them.
    pub(crate) fn on_context_event(&mut self, ev: &Event<'_>, ctx: EventContext) {
        match ev {
            Event::Key(k) => {
                self.saw_key = true;
                self.segment.keys += 1;
                if k.expire_at_ms.is_some() {
                    self.segment.expires += 1;
                }
                if let Some(si) = &mut self.slot_info {
                    let mut kt = IntText::new(0);
                    let key = k.key.as_bytes(&mut kt);
                    si.count(k, key, key_slot(key));
                }
            }
            // A skipped module value: its `module-required` warning was given by an earlier
            // part, so a later value of the same module must not give it again.
            Event::Module { module_id, .. } => {
                self.note_module(*module_id);
            }
            Event::Eof(_) => {}
            _ => self.on_event_at(ev, ctx),
        }
    }

    /// Adds `module_id` to the modules already warned about; `false` when it was there, or
    /// when 64 modules were (the warnings stop there).
    fn note_module(&mut self, module_id: u64) -> bool {
        if self.modules_reported.contains(&module_id) || self.modules_reported.len() >= 64 {
            return false;
        }
        self.modules_reported.push(module_id);
        true
    }

    /// Starts verifying this verifier's part: forgets the findings of the records before it.
    pub(crate) fn start_part(&mut self) {
        self.report.findings.clear();
        self.report.suppressed_findings.clear();
        self.code_counts.clear();
        self.errors = 0;
    }

    /// Appends the verification of the next part of the same file, `n`: `self` stopped between
    /// two keys at the offset where `n` started (after [`Verifier::on_context_event`]
    /// for every record before it and [`Verifier::start_part`]). Counters add up, findings
    /// follow in file order under the same per-code limit, the first-occurrence offsets of
    /// the engine check take the lower, and the state that carries over is `n`'s (it saw
    /// the same records before the boundary).
    pub(crate) fn append(&mut self, n: Verifier) {
        self.report.keys += n.report.keys;
        self.report.expires += n.report.expires;
        self.report.already_expired += n.report.already_expired;
        for (db, d) in &n.report.databases {
            self.report.databases.entry(*db).or_default().add(d);
        }
        if self.db_flat.len() < n.db_flat.len() {
            self.db_flat.resize(n.db_flat.len(), DbReport::default());
        }
        for (a, b) in self.db_flat.iter_mut().zip(&n.db_flat) {
            a.add(b);
        }
        for (a, b) in self.rdb_types.iter_mut().zip(n.rdb_types.iter()) {
            *a += b;
        }
        self.cache_total += n.cache_total;
        self.slot_sizing |= n.slot_sizing;
        for (mine, theirs) in [
            (&mut self.slot_counts, n.slot_counts),
            (&mut self.slot_expires, n.slot_expires),
            (&mut self.slot_expired, n.slot_expired),
        ] {
            match (mine, theirs) {
                (Some(a), Some(b)) => {
                    for (x, y) in a.iter_mut().zip(&b) {
                        *x = x.saturating_add(*y);
                    }
                }
                (a @ None, b) => *a = b,
                (Some(_), None) => {}
            }
        }
        self.outside += n.outside;
        if self.first_outside.is_none() {
            self.first_outside = n.first_outside;
        }
        self.nonzero_db_keys += n.nonzero_db_keys;
        if self.first_nonzero_db.is_none() {
            self.first_nonzero_db = n.first_nonzero_db;
        }
        self.compat.merge(&n.compat);
        self.keys.append(n.keys);

        // Findings, as `add` would have taken them one after the other (`errors` counts
        // suppressed ones too, so it simply adds up).
        self.errors += n.errors;
        for f in n.report.findings {
            self.list(f);
        }
        for (code, k) in n.report.suppressed_findings {
            // Past `n`'s own limit, so past the merged one too.
            *self.code_counts.entry(code).or_insert(0) += usize::try_from(k).unwrap_or(0);
            *self.report.suppressed_findings.entry(code).or_insert(0) += k;
        }

        // The state after the boundary.
        self.report.checksum = n.report.checksum;
        self.report.used_mem_aux = n.report.used_mem_aux;
        self.header = n.header.or(self.header);
        self.db = n.db;
        self.fatal = n.fatal;
        self.seen_eof = n.seen_eof;
        self.segment = n.segment;
        self.slot_info = n.slot_info;
        self.last_slot_info = n.last_slot_info;
        self.in_key = n.in_key;
        self.key_expired = n.key_expired;
        self.saw_key |= n.saw_key;
        self.key = n.key;
        self.cost = n.cost;
        self.members = n.members;
        self.stream = n.stream;
        self.functions = n.functions;
        self.modules_reported = n.modules_reported;
        self.intset_width = n.intset_width;
        self.intset_need = n.intset_need;
    }

    // ----- the end ---------------------------------------------------------------------------

    /// V-F9: the keys whose digests repeat, confirmed by `rescan`; one error per repeated
    /// occurrence, placed in file order among the other findings.
    fn duplicate_keys(&mut self, rescan: Rescan<'_>) {
        let suspects = self.keys.repeated();
        if suspects.is_empty() {
            return;
        }
        let panic_note = "a server panics: \"Duplicated key found in RDB file\"";
        let Some(mut occ) = find_keys(rescan, &suspects, self.opts.reader_limits()) else {
            for d in suspects {
                self.add(Finding::new(
                    Severity::Error,
                    "duplicate-key",
                    None,
                    format!("a key (digest {d:016x}) is repeated in one db ({panic_note}); the input cannot be read again to name it, count its copies (one finding however often it repeats) or rule out a 64-bit digest collision (probability about n^2/2^65 for n keys)"),
                ));
            }
            return;
        };
        // By db, key, then offset: each run is one key of one db, in file order.
        occ.sort();
        let mut found = Vec::new();
        for run in occ.chunk_by(|a, b| a.db == b.db && a.key == b.key) {
            let Some((first, repeats)) = run.split_first() else {
                continue;
            };
            let times = run.len();
            for r in repeats {
                // Every repeat names the key's first record, not the repeat before it.
                let msg = format!(
                    "key appears {times} times in db {} (first at offset {}; {panic_note})",
                    r.db, first.offset
                );
                found.push(
                    Finding::new(Severity::Error, "duplicate-key", Some(r.offset), msg)
                        .with_key(r.db, &r.key),
                );
            }
        }
        // The first ones in file order are listed when the code's cap is reached; `finish`
        // puts every finding in file order.
        found.sort_by_key(|f| f.offset);
        for f in found {
            self.add(f);
        }
    }

    /// Completes the statistics and file-level checks and returns the report.
    ///
    /// Repeated key digests are reported unconfirmed (without offset); use
    /// [`Verifier::finish_rescan`] when the input can be read again.
    pub fn finish(self) -> Report {
        self.finish_rescan(Rescan::Unavailable)
    }

    /// Like [`Verifier::finish`], confirming repeated key digests by reading the input again
    /// (keys only) so that duplicate keys are reported with their offsets.
    pub fn finish_rescan(mut self, rescan: Rescan<'_>) -> Report {
        self.duplicate_keys(rescan);
        if !self.fatal && !self.seen_eof && self.header.is_some() {
            self.file_finding(
                Severity::Error,
                "no-eof",
                None,
                "the input ended before the EOF record",
            );
        }
        if self.in_key && !self.fatal {
            self.end_key();
        }
        // Statistics.
        for (db, d) in std::mem::take(&mut self.db_flat).into_iter().enumerate() {
            if d.keys > 0 {
                self.report.databases.insert(db as u64, d);
            }
        }
        let model = self.opts.cache_model.clone();
        // Per-slot tables sized up front from slot sizing records hold room for every key the
        // records count; grown key by key, only for the keys a primary loads.
        fn live<'a>(all: &'a [u32], gone: Option<&[u32]>) -> std::borrow::Cow<'a, [u32]> {
            match gone {
                Some(gone) => all
                    .iter()
                    .zip(gone)
                    .map(|(a, g)| a.saturating_sub(*g))
                    .collect(),
                None => std::borrow::Cow::Borrowed(all),
            }
        }
        let gone = self.slot_expired.as_deref().filter(|_| !self.slot_sizing);
        for (db, d) in &self.report.databases {
            self.cache_total += match (&self.slot_counts, *db == 0 && model.tables_per_slot()) {
                (Some(keys), true) => model.slot_tables(
                    &live(keys, gone),
                    &live(self.slot_expires.as_deref().unwrap_or_default(), gone),
                    self.slot_sizing,
                ),
                // The keys a primary loads: not those already expired.
                _ => model.db_tables(
                    d.keys.saturating_sub(d.already_expired),
                    d.expires.saturating_sub(d.already_expired),
                ),
            };
        }
        self.report.cache_size_bytes = self.cache_total;
        self.report.cache_model = self.opts.cache_model.describe();
        self.report.cache_size = rdb_cluster::manifest::cache_size_text(self.cache_total);
        for (t, n) in self.rdb_types.iter().enumerate() {
            if let (Ok(t), true) = (u8::try_from(t), *n > 0) {
                self.report.rdb_types.insert(t, *n);
            }
        }
        let mut occupied = SlotSet::new();
        if let Some(c) = &self.slot_counts {
            for (s, n) in c.iter().enumerate() {
                if let (Ok(s), true) = (u16::try_from(s), *n > 0) {
                    occupied.insert(s);
                }
            }
        }
        self.report.slots = SlotsReport {
            min: occupied.min(),
            max: occupied.max(),
            ranges: occupied.to_string(),
            keys_outside_expected: self.outside,
        };
        self.report.slot_counts = self.slot_counts.take();

        // Loadability before the caller's own requirements; a checksum mismatch, even one
        // ignored with `check_checksum` off, makes every server refuse the file.
        let crc_refused = self.report.checksum.status == ChecksumStatus::Mismatch.as_str();
        self.report.loads_on = if self.errors == 0 && !crc_refused {
            self.compat.loads_on()
        } else {
            Vec::new()
        };

        self.report.expected_slots = self.opts.expected_slots.clone();
        self.report.expected_slots_group = self.opts.expected_slots_group.clone();
        if let Some((off, db, key, slot)) = self.first_outside.take() {
            let exp = self
                .opts
                .expected_slots
                .as_ref()
                .map(|s| s.to_string())
                .unwrap_or_default();
            let n = self.outside;
            let (code, msg) = match &self.opts.expected_slots_group {
                Some(group) => (
                    "slot-outside-node-group",
                    format!("{n} key(s) hash outside node group {group}'s slots {exp} (first: slot {slot})"),
                ),
                None => (
                    "slot-outside-expected",
                    format!("{n} key(s) hash outside the expected slots {exp} (first: slot {slot})"),
                ),
            };
            let f = Finding::new(Severity::Error, code, Some(off), msg).with_key(db, &key);
            self.add(f);
        }
        if let Some((off, db, key)) = self.first_nonzero_db.take() {
            let f = Finding::new(
                Severity::Error,
                "cluster-nonzero-db",
                Some(off),
                format!(
                    "{} key(s) in databases other than 0; cluster nodes hold db 0 only",
                    self.nonzero_db_keys
                ),
            )
            .with_key(db, &key);
            self.add(f);
        }
        if let Some(line) = self.opts.engine {
            if let Some(b) = self.compat.blocker(line) {
                let mut f = Finding::new(
                    Severity::Error,
                    "engine-incompatible",
                    b.offset,
                    format!("will not load on {line}: {}", b.reason),
                );
                if let Some(k) = &b.key {
                    f = f.with_key_prefix(k.db, &k.prefix, k.len);
                }
                self.add(f);
            }
        }
        if let Some(mem) = self.opts.node_memory {
            let usable = mem - mem / 4;
            if self.cache_total > usable {
                self.file_finding(
                    Severity::Error,
                    "node-memory",
                    None,
                    format!(
                        "estimated dataset {} bytes exceeds the node's {mem} bytes less the 25% reserved ({usable} bytes)",
                        self.cache_total
                    ),
                );
            }
        }
        // File order: findings made at the end (engine, expected slots, node memory, set-wide
        // rules) go where their records are; those without an offset after the rest.
        self.report
            .findings
            .sort_by_key(|f| f.offset.unwrap_or(u64::MAX));
        let suppressed: Vec<(&'static str, u64)> = self
            .report
            .suppressed_findings
            .iter()
            .map(|(c, n)| (*c, *n))
            .collect();
        for (code, n) in suppressed {
            self.report.findings.push(Finding::new(
                Severity::Info,
                "findings-suppressed",
                None,
                format!("{n} more {code} finding(s) not listed"),
            ));
        }
        self.report.ok = self.errors == 0;
        self.report
    }
}

pub use rdb_format::function::check_shebang;

/// Parses a `slot-info` AUX value: at least three comma-separated integers (Valkey 9 adds a
/// fourth); returns the first three.
pub fn parse_slot_info(v: &[u8]) -> Option<(u64, u64, u64)> {
    let s = std::str::from_utf8(v).ok()?;
    let mut it = s.split(',').map(|p| p.trim().parse::<u64>());
    match (it.next(), it.next(), it.next()) {
        (Some(Ok(a)), Some(Ok(b)), Some(Ok(c))) => Some((a, b, c)),
        _ => None,
    }
}

/// A sizing count from which a loading server allocates a table of at least 1 GiB (2^27
/// pointers) before reading a key.
const OVERSIZED_COUNT: u64 = 1 << 27;

/// Whether a sizing record (RESIZEDB, SLOT_INFO) declares at least [`OVERSIZED_COUNT`] keys
/// or expires and more than follow: the servers size their tables by the count as they meet
/// it (Valkey 8.1 and Redis 6.2 abort when that allocation fails: 2^40 for one key does).
/// Reported instead of the count mismatch.
fn oversized(keys: u64, expires: u64, seen: u64, seen_expires: u64) -> bool {
    let over = |declared: u64, seen: u64| declared > seen && declared >= OVERSIZED_COUNT;
    over(keys, seen) || over(expires, seen_expires)
}

/// The `sizing-count-oversized` message of a sizing record (`what`).
fn oversized_message(what: &str, keys: u64, expires: u64, seen: u64, seen_expires: u64) -> String {
    let declared = keys.max(expires);
    let table = declared
        .checked_next_power_of_two()
        .map_or(u128::MAX, |n| u128::from(n) * 8);
    format!(
        "{what} says {keys} keys / {expires} expires, {seen} / {seen_expires} follow: a \
         loading server allocates a table by the count before any key ({} GiB; Valkey 8.1 \
         and Redis 6.2 abort when the allocation fails)",
        table >> 30
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slot_info_text() {
        assert_eq!(parse_slot_info(b"866,2,1"), Some((866, 2, 1)));
        assert_eq!(parse_slot_info(b"866,2,1,0"), Some((866, 2, 1)));
        assert_eq!(parse_slot_info(b"866,2"), None);
        assert_eq!(parse_slot_info(b"x,2,1"), None);
    }
}
