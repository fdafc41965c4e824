//! [`RdbWriter`]: header, records, EOF and checksum, in the order a server writes them.

use std::collections::BTreeMap;
use std::io::{self, Write};
use std::time::{SystemTime, UNIX_EPOCH};

use rdb_format::length::encode_length;
use rdb_format::{Header, Opcode, RdbType};
use rdb_model::{Entry, ModuleAux, Stream, Value};

use crate::config::{KeyMeta, WriterBuilder};
use crate::encode::{hash, list, set, zset, Encoder};
use crate::error::{KeyName, WriteError, WriteResult};
use crate::sink::Sink;
use crate::stream;
use crate::target::{SlotInfoFormat, Target};

/// Keys and keys with an expiry in one database.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct DbCounts {
    /// Keys written.
    pub keys: u64,
    /// Of those, keys with an expiry.
    pub expires: u64,
}

/// What a finished (or running) writer has written.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Summary {
    /// The target.
    pub target: Target,
    /// The header written (magic and RDB version).
    pub header: Header,
    /// Keys written (all databases).
    pub keys: u64,
    /// Keys written with an expiry.
    pub expires: u64,
    /// Per database (only databases that received keys).
    pub dbs: BTreeMap<u32, DbCounts>,
    /// Function libraries written.
    pub functions: u64,
    /// Total file size in bytes (after `finish`; bytes produced so far before).
    pub bytes: u64,
    /// The CRC-64 stored in the trailer (0 before `finish`).
    pub crc: u64,
    /// Keys not written because their collection was empty (servers skip them too).
    pub skipped_empty: u64,
    /// Hash field TTLs dropped because the target cannot hold them (`drop_unsupported`).
    pub dropped_field_ttls: u64,
    /// Function libraries dropped because the target cannot hold them (`drop_unsupported`).
    pub dropped_functions: u64,
}

impl Summary {
    /// Nothing written yet.
    pub(crate) fn empty(target: Target, header: Header) -> Self {
        Summary {
            target,
            header,
            keys: 0,
            expires: 0,
            dbs: BTreeMap::new(),
            functions: 0,
            bytes: 0,
            crc: 0,
            skipped_empty: 0,
            dropped_field_ttls: 0,
            dropped_functions: 0,
        }
    }

    /// Adds the key counts of `other` (keys written by another writer of the same file's
    /// records: keys, expires, per database, skipped and dropped).
    pub(crate) fn add_counts(&mut self, other: &Summary) {
        self.keys += other.keys;
        self.expires += other.expires;
        for (db, c) in &other.dbs {
            let d = self.dbs.entry(*db).or_default();
            d.keys += c.keys;
            d.expires += c.expires;
        }
        self.functions += other.functions;
        self.skipped_empty += other.skipped_empty;
        self.dropped_field_ttls += other.dropped_field_ttls;
        self.dropped_functions += other.dropped_functions;
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Phase {
    /// Nothing written yet.
    Fresh,
    /// Header written; records may follow.
    Open,
}

/// Writes one `.rdb` file for a [`Target`] into any `W: Write`.
///
/// Call [`write_header`](RdbWriter::write_header), then functions, then for each database
/// [`select_db`](RdbWriter::select_db) and its keys, then [`finish`](RdbWriter::finish),
/// which writes EOF and the CRC-64 trailer. Output goes through an internal buffer that is
/// hashed and written in large chunks. A writer dropped before `finish` writes nothing more,
/// so its file lacks the trailer and fails verification.
///
/// Errors that concern a value given whole (unsupported, invalid) are detected before anything
/// of the record is written: the writer stays usable. I/O errors leave a partial record: the
/// writer is *poisoned* and every later call (including `finish`) fails. So do the errors of
/// a streamed collection or stream (`begin_*`) found while its elements are pushed — a count
/// mismatch (too many pushed, or too few at `end()`), a NaN score, a field TTL out of range,
/// stream IDs out of order — even while nothing of its record is written yet; the other
/// errors found at its `end()` poison the writer only when part of the record was written
/// (see [`crate::streaming`], [`crate::stream_writer`]).
///
/// ```
/// use rdb_model::{Entry, Value};
/// use rdb_writer::{Target, WriterBuilder};
/// let mut w = WriterBuilder::new(Target::Redis72).ctime(1_700_000_000).build(Vec::new());
/// w.write_header()?;
/// w.select_db(0, 1, 0)?;
/// w.write_entry(&Entry::new("foo", Value::String("bar".into())))?;
/// let (file, summary) = w.finish()?;
/// assert_eq!(&file[..9], b"REDIS0011");
/// assert_eq!(summary.keys, 1);
/// assert_eq!(summary.bytes, file.len() as u64);
/// # Ok::<(), rdb_writer::WriteError>(())
/// ```
#[derive(Debug)]
pub struct RdbWriter<W: Write> {
    pub(crate) sink: Sink<W>,
    pub(crate) opts: WriterBuilder,
    pub(crate) enc: Encoder,
    phase: Phase,
    poison: Option<String>,
    /// A streamed key's plain record is partly written (set by the collection writer, cleared
    /// by its `end()`): nothing else may be written until then. Kept here, not only in the
    /// collection writer's `Drop`, so that a writer forgotten (`mem::forget`) without `end()`
    /// cannot leave a half record in a file that `finish()` completes.
    pub(crate) open_record: Option<Vec<u8>>,
    pub(crate) db: u32,
    /// The current database's RESIZEDB counts, checked when it ends.
    resize_declared: Option<Declared>,
    /// The current slot's SLOT_INFO counts, checked when the next slot or database starts
    /// or the file ends.
    pub(crate) slot_declared: Option<Declared>,
    /// Keys offered so far (written, skipped as empty collections, or refused): what the
    /// sizing records' counts are held to.
    pub(crate) offered_keys: u64,
    /// A parallel batch writer's slot sizing records, checked by the file's writer as it
    /// appends the batch (`None`: checked here).
    pub(crate) slot_log: Option<Vec<Declared>>,
    pub(crate) summary: Summary,
    /// Names of the function libraries written (a name may appear once).
    function_names: std::collections::HashSet<Vec<u8>>,
}

/// A value's plan: its type byte and how its bytes are produced.
enum Plan<'v> {
    String(&'v [u8]),
    List(&'v [rdb_model::Bytes]),
    Set(&'v [rdb_model::Bytes], set::SetPlan),
    ZSet(&'v [(rdb_model::Bytes, f64)], zset::ZSetPlan),
    Hash(&'v [rdb_model::HashField], hash::HashPlan),
    Stream(&'v rdb_model::Stream),
    Module(&'v rdb_model::ModuleValue),
}

/// A function library's name, or the error for code a server of `target` would refuse to
/// load: its shebang line ([`rdb_format::function::check_shebang`]), or an engine other than
/// Lua for a line with no way to add one (Redis, Valkey 7.2 and 8.0: "Engine '…' not found";
/// newer Valkey lines let a module register a scripting engine, so they take any name).
pub(crate) fn check_function(code: &[u8], target: Target) -> WriteResult<Vec<u8>> {
    let rdb_format::function::Shebang { engine, name } = rdb_format::function::check_shebang(code)
        .map_err(|what| WriteError::InvalidValue {
            key: KeyName::none(),
            what: format!("{what} (a server refuses the file: \"Failed loading library\")"),
        })?;
    if !target.runs_function_engine(&engine) {
        return Err(WriteError::Unsupported {
            key: KeyName::none(),
            target: target.name(),
            what: format!(
                "function library {} for engine {}: it runs Lua only (a server refuses the \
                 file: \"Failed loading library\")",
                rdb_format::escape_bytes(&name, 64),
                rdb_format::escape_bytes(&engine, 32),
            ),
        });
    }
    Ok(name)
}

/// Checks that `raw` is exactly one module opcode stream (ending with its EOF opcode), as a
/// loading server walks it; the message says what is wrong otherwise.
fn check_module_stream(raw: &[u8], header: &Header) -> Result<(), String> {
    match rdb_format::module::module_stream_len(raw, header.has_64bit_lengths()) {
        Ok(n) if n == raw.len() => Ok(()),
        Ok(n) => Err(format!(
            "module value of {} bytes has {} bytes after its EOF opcode",
            raw.len(),
            raw.len() - n
        )),
        Err(e) => Err(format!("module value is not a module opcode stream: {e}")),
    }
}

/// Refuses an AUX field the writer writes itself with checks of its own (`slot-info`).
fn check_aux_name(key: &[u8]) -> WriteResult<()> {
    if key == b"slot-info" {
        return Err(WriteError::InvalidValue {
            key: KeyName::none(),
            what: "the slot-info AUX field is written by write_slot_info (in the target's form, \
                   its counts checked), not as an extra AUX field"
                .into(),
        });
    }
    Ok(())
}

/// What a sizing record sizes.
#[derive(Debug, Clone, Copy)]
enum Sizing {
    Db(u32),
    Slot(u16),
}

impl std::fmt::Display for Sizing {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Sizing::Db(db) => write!(f, "the RESIZEDB of database {db}"),
            Sizing::Slot(slot) => write!(f, "the slot sizing record of slot {slot}"),
        }
    }
}

/// The counts of a sizing record (RESIZEDB, SLOT_INFO) and the keys offered before it.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Declared {
    what: Sizing,
    keys: u64,
    expires: u64,
    pub(crate) offered_before: u64,
}

/// The error for a function library name written twice.
pub(crate) fn duplicate_function(name: &[u8]) -> WriteError {
    WriteError::InvalidValue {
        key: KeyName::none(),
        what: format!(
            "function library {} appears twice (a server refuses the file: \"Library already exists\")",
            rdb_format::escape_bytes(name, 64)
        ),
    }
}

impl<W: Write> RdbWriter<W> {
    pub(crate) fn new(w: W, opts: WriterBuilder) -> Self {
        let header = opts.header();
        RdbWriter {
            sink: Sink::new(w, opts.buffer_size),
            enc: Encoder::new(opts.target, header, opts.encoding, opts.compression),
            phase: Phase::Fresh,
            poison: None,
            open_record: None,
            db: 0,
            resize_declared: None,
            slot_declared: None,
            offered_keys: 0,
            slot_log: None,
            function_names: std::collections::HashSet::new(),
            summary: Summary::empty(opts.target, header),
            opts,
        }
    }

    /// The target.
    pub fn target(&self) -> Target {
        self.opts.target
    }

    /// The header this file has.
    pub fn header(&self) -> Header {
        self.enc.header
    }

    /// What was written so far.
    pub fn summary(&self) -> &Summary {
        &self.summary
    }

    /// Bytes produced so far (written and buffered).
    pub fn position(&self) -> u64 {
        self.sink.position()
    }

    /// Whether an earlier error left a partial record (every call fails from now on).
    pub fn is_poisoned(&self) -> bool {
        self.poison.is_some() || self.open_record.is_some()
    }

    /// Marks the header as written: for a writer that encodes records apart from their file
    /// (`crate::parallel`).
    pub(crate) fn open_for_records(&mut self) {
        self.phase = Phase::Open;
    }

    pub(crate) fn poison(&mut self, why: String) {
        if self.poison.is_none() {
            self.poison = Some(why);
        }
    }

    /// Refuses key metadata no server loads (an IDLE of 2^64 − 1, see [`Self::check_len_field`])
    /// or loads otherwise (an expiry of -1 ms, which servers read as no expiry).
    pub(crate) fn check_meta(&self, key: &[u8], meta: KeyMeta) -> WriteResult<()> {
        if meta.expire_at_ms == Some(-1) {
            return Err(WriteError::InvalidValue {
                key: KeyName::in_db(self.db, key),
                what: "expiry -1 ms: a server reads an expiry of -1 as none and keeps the key \
                       forever (an expired key needs another time in the past, e.g. 0)"
                    .into(),
            });
        }
        match meta.lru_idle_s {
            // (The key is copied into the error only when there is one.)
            Some(u64::MAX) => {
                Self::check_len_field(KeyName::in_db(self.db, key), "LRU idle time", u64::MAX)
            }
            _ => Ok(()),
        }
    }

    /// A number the servers read with `rdbLoadLen(…) == RDB_LENERR` (IDLE, RESIZEDB,
    /// SLOT_INFO): 2^64 − 1 is their length-error marker, so no server loads a file holding
    /// it ("Unexpected EOF reading RDB file").
    fn check_len_field(key: KeyName, what: &str, v: u64) -> WriteResult<()> {
        if v == u64::MAX {
            return Err(WriteError::InvalidValue {
                key,
                what: format!(
                    "{what} 2^64-1 is the servers' length-error marker (RDB_LENERR); no server loads it"
                ),
            });
        }
        Ok(())
    }

    /// Fails when poisoned, when the header is not written yet, or while a streamed key's
    /// record is open.
    pub(crate) fn check_open(&self) -> WriteResult<()> {
        self.check_open_record()?;
        if let Some(key) = &self.open_record {
            return Err(WriteError::Poisoned(format!(
                "the streamed key {}'s record was left unfinished (its writer was never ended \
                 or dropped)",
                rdb_format::escape_bytes(key, 64)
            )));
        }
        Ok(())
    }

    /// [`Self::check_open`] for the collection writer whose record is open.
    pub(crate) fn check_open_record(&self) -> WriteResult<()> {
        if let Some(p) = &self.poison {
            return Err(WriteError::Poisoned(p.clone()));
        }
        match self.phase {
            Phase::Fresh => Err(WriteError::State("write_header must come first")),
            Phase::Open => Ok(()),
        }
    }

    /// Maps an I/O result, poisoning the writer on error.
    pub(crate) fn io<T>(&mut self, r: io::Result<T>) -> WriteResult<T> {
        r.map_err(|e| {
            self.poison(format!("I/O error: {e}"));
            WriteError::Io(e)
        })
    }

    /// Writes the magic and the AUX fields a server writes: the version (`redis-ver` or
    /// `valkey-ver`), `redis-bits` 64, `ctime`, `used-mem`, `aof-base` 0 (`aof-preamble` for
    /// RDB 9, as Redis 6.x), then the extra AUX fields of the builder. Numbers are int-encoded
    /// where the server int-encodes them.
    pub fn write_header(&mut self) -> WriteResult<()> {
        if let Some(p) = &self.poison {
            return Err(WriteError::Poisoned(p.clone()));
        }
        if self.phase != Phase::Fresh {
            return Err(WriteError::State("write_header called twice"));
        }
        self.sink.buf.extend_from_slice(&self.enc.header.to_bytes());
        self.phase = Phase::Open;
        let target = self.opts.target;
        let ctime = self.opts.ctime.unwrap_or_else(|| {
            SystemTime::now()
                .duration_since(UNIX_EPOCH)
                .map(|d| d.as_secs() as i64)
                .unwrap_or(0)
        });
        let aof = if target.rdb_version() >= 10 {
            "aof-base"
        } else {
            "aof-preamble"
        };
        let fields: [(&str, String); 5] = [
            (
                target.version_aux_key(),
                target.server_version().to_string(),
            ),
            ("redis-bits", "64".to_string()),
            ("ctime", ctime.to_string()),
            ("used-mem", self.opts.used_mem.unwrap_or(0).to_string()),
            (aof, "0".to_string()),
        ];
        for (k, v) in fields {
            self.put_aux(k.as_bytes(), v.as_bytes());
        }
        let extra = self.opts.extra_aux.clone();
        for (k, _) in &extra {
            check_aux_name(k)?;
        }
        for (k, v) in &extra {
            self.put_aux(k, v);
        }
        let r = self.sink.maybe_flush();
        self.io(r)
    }

    fn put_aux(&mut self, key: &[u8], value: &[u8]) {
        self.sink.buf.push(Opcode::AUX.0);
        self.enc.string(key, &mut self.sink.buf);
        self.enc.string(value, &mut self.sink.buf);
    }

    /// Writes an AUX field (anywhere after the header). `slot-info` is refused: slot sizing
    /// goes through [`write_slot_info`](Self::write_slot_info), which writes it in the
    /// target's form and checks its counts (Valkey refuses a `slot-info` value that is not
    /// three numbers). Other names are written as given: `lua` makes a Redis ≤ 6.2 compile
    /// the value as a script as it loads (refusing the file when it does not compile).
    pub fn write_aux(&mut self, key: &[u8], value: &[u8]) -> WriteResult<()> {
        self.check_open()?;
        check_aux_name(key)?;
        self.put_aux(key, value);
        let r = self.sink.maybe_flush();
        self.io(r)
    }

    /// Writes a MODULE_AUX record (raw passthrough; the loading server needs the module).
    pub fn write_module_aux(&mut self, aux: &ModuleAux) -> WriteResult<()> {
        self.check_open()?;
        check_module_stream(&aux.raw, &self.enc.header).map_err(|what| {
            WriteError::InvalidValue {
                key: KeyName::none(),
                what: format!("module aux data: {what}"),
            }
        })?;
        let buf = &mut self.sink.buf;
        buf.push(Opcode::MODULE_AUX.0);
        encode_length(aux.module_id, buf);
        encode_length(2, buf); // when_opcode: RDB_MODULE_OPCODE_UINT
        encode_length(aux.when, buf);
        let r = self.sink.put_large(&aux.raw);
        self.io(r)
    }

    /// Writes a function library (`FUNCTION2`, RDB ≥ 10; an [`WriteError::Unsupported`]
    /// error for older targets). The code must start with a `#!<engine> name=<lib>` line and
    /// the name must not repeat an earlier library's (a server refuses the file otherwise):
    /// [`WriteError::InvalidValue`], nothing written. The body is not compiled (no Lua engine
    /// here): a library the server cannot compile, or one that registers no function, is
    /// written and still fails to load.
    pub fn write_function(&mut self, code: &[u8]) -> WriteResult<()> {
        self.check_open()?;
        if !self.opts.target.supports_functions() {
            return Err(WriteError::Unsupported {
                key: KeyName::none(),
                target: self.opts.target.name(),
                what: "function libraries (FUNCTION2 needs RDB 10)".into(),
            });
        }
        let name = check_function(code, self.opts.target)?;
        if self.function_names.contains(&name) {
            return Err(duplicate_function(&name));
        }
        self.function_names.insert(name);
        self.sink.buf.push(Opcode::FUNCTION2.0);
        self.enc.string(code, &mut self.sink.buf);
        self.summary.functions += 1;
        let r = self.sink.maybe_flush();
        self.io(r)
    }

    /// Starts database `db`: `SELECTDB` and the `RESIZEDB` hint (`keys` keys, `expires` of
    /// them with an expiry). Fails for `db` ≥ the builder's `max_databases` (16).
    ///
    /// The servers size their tables by the hint as they meet it (Valkey 8.1 and Redis 6.2
    /// abort on a count of 2^40): when the database ends (the next `select_db`, or
    /// [`finish`](Self::finish)), either count above the keys offered in it (written,
    /// skipped as empty collections, or refused with an error) poisons the writer with an
    /// error, so such a file never gets its trailer. A count below is harmless (the tables
    /// grow as keys come), and so is one raised by a refused key.
    pub fn select_db(&mut self, db: u32, keys: u64, expires: u64) -> WriteResult<()> {
        self.check_open()?;
        self.close_declared()?;
        Self::check_len_field(KeyName::none(), "the RESIZEDB key count", keys)?;
        Self::check_len_field(KeyName::none(), "the RESIZEDB expires count", expires)?;
        if db >= self.opts.max_databases {
            return Err(WriteError::InvalidValue {
                key: KeyName::none(),
                what: format!(
                    "database {db} is not below the server's {} databases",
                    self.opts.max_databases
                ),
            });
        }
        let buf = &mut self.sink.buf;
        buf.push(Opcode::SELECTDB.0);
        encode_length(u64::from(db), buf);
        buf.push(Opcode::RESIZEDB.0);
        encode_length(keys, buf);
        encode_length(expires, buf);
        self.db = db;
        self.resize_declared = Some(self.declared(Sizing::Db(db), keys, expires));
        let r = self.sink.maybe_flush();
        self.io(r)
    }

    /// The counts a sizing record declares, with the keys offered before it.
    fn declared(&self, what: Sizing, keys: u64, expires: u64) -> Declared {
        Declared {
            what,
            keys,
            expires,
            offered_before: self.offered_keys,
        }
    }

    /// Ends the current slot's and database's sizing records (see [`select_db`](Self::select_db)).
    fn close_declared(&mut self) -> WriteResult<()> {
        let slot = self.slot_declared.take();
        let db = self.resize_declared.take();
        self.check_declared(slot)?;
        self.check_declared(db)
    }

    /// Checks a sizing record's counts against the keys offered since it (see
    /// [`select_db`](Self::select_db)); poisons the writer when they pass them.
    pub(crate) fn check_declared(&mut self, d: Option<Declared>) -> WriteResult<()> {
        self.check_declared_at(d, self.offered_keys)
    }

    /// [`check_declared`](Self::check_declared) when `offered_now` keys were offered.
    pub(crate) fn check_declared_at(
        &mut self,
        d: Option<Declared>,
        offered_now: u64,
    ) -> WriteResult<()> {
        let Some(d) = d else {
            return Ok(());
        };
        let offered = offered_now.saturating_sub(d.offered_before);
        if d.keys <= offered && d.expires <= offered {
            return Ok(());
        }
        let what = format!(
            "{} declares {} keys / {} expires, but {offered} keys were offered after it: \
             a server sizes its tables by the count (Valkey 8.1 and Redis 6.2 abort on a \
             count far above the keys)",
            d.what, d.keys, d.expires
        );
        self.poison(what.clone());
        Err(WriteError::InvalidValue {
            key: KeyName::none(),
            what,
        })
    }

    /// Writes slot sizing information before a slot's keys, in the target's form: opcode
    /// `F4` for Redis 7.4, the `slot-info` AUX (`"slot,keys,expires"`) for Valkey 8.0+,
    /// nothing for targets without one. Returns whether something was written.
    /// Fails for a slot above 16383. Counts above the keys that follow, up to the next slot
    /// record, database or the end, poison the writer as in [`select_db`](Self::select_db).
    pub fn write_slot_info(&mut self, slot: u16, keys: u64, expires: u64) -> WriteResult<bool> {
        self.check_open()?;
        if self.slot_log.is_none() {
            let previous = self.slot_declared.take();
            self.check_declared(previous)?;
        }
        if slot >= 16384 {
            return Err(WriteError::InvalidValue {
                key: KeyName::none(),
                what: format!("slot {slot} is not below 16384"),
            });
        }
        Self::check_len_field(KeyName::none(), "the SLOT_INFO key count", keys)?;
        Self::check_len_field(KeyName::none(), "the SLOT_INFO expires count", expires)?;
        match self.opts.target.slot_info_format() {
            Some(SlotInfoFormat::Opcode) => {
                let buf = &mut self.sink.buf;
                buf.push(Opcode::SLOT_INFO.0);
                encode_length(u64::from(slot), buf);
                encode_length(keys, buf);
                encode_length(expires, buf);
            }
            Some(SlotInfoFormat::Aux) => {
                let v = format!("{slot},{keys},{expires}");
                self.put_aux(b"slot-info", v.as_bytes());
            }
            None => return Ok(false),
        }
        let declared = self.declared(Sizing::Slot(slot), keys, expires);
        match &mut self.slot_log {
            Some(log) => log.push(declared),
            None => self.slot_declared = Some(declared),
        }
        let r = self.sink.maybe_flush();
        self.io(r).map(|()| true)
    }

    /// Writes one key of the model. Returns `false` when the key was skipped because its
    /// collection is empty (counted in [`Summary::skipped_empty`]).
    ///
    /// Keys written one by one are not checked against each other (that would hold 8 bytes per
    /// key until [`finish`](Self::finish)): a caller must not repeat a key in a database, as a
    /// server refuses such a file. [`write_keyspace`](crate::write_keyspace) and the cluster
    /// export check it before writing ([`crate::dupkeys`]).
    pub fn write_entry(&mut self, entry: &Entry) -> WriteResult<bool> {
        self.write_value(&entry.key, KeyMeta::of(entry), &entry.value)
    }

    /// Writes one key: `EXPIRETIME_MS`, `IDLE`, `FREQ` when present, then type, key and
    /// value in the encoding the target's server would choose. See [`RdbWriter::write_entry`].
    pub fn write_value(&mut self, key: &[u8], meta: KeyMeta, value: &Value) -> WriteResult<bool> {
        self.check_open()?;
        self.offered_keys += 1;
        self.check_meta(key, meta)?;
        let db = self.db;
        let invalid = |what: String| WriteError::InvalidValue {
            key: KeyName::in_db(db, key),
            what,
        };
        let mut dropped = 0;
        let plan = match value {
            Value::String(s) => Plan::String(s),
            Value::List(items) if items.is_empty() => return Ok(self.skip_empty()),
            Value::List(items) => Plan::List(items),
            Value::Set(m) if m.is_empty() => return Ok(self.skip_empty()),
            Value::Set(m) => Plan::Set(m, set::plan(m, &mut self.enc).map_err(invalid)?),
            Value::SortedSet(p) if p.is_empty() => return Ok(self.skip_empty()),
            Value::SortedSet(p) => Plan::ZSet(p, zset::plan(p, &self.enc).map_err(invalid)?),
            Value::Hash(f) if f.is_empty() => return Ok(self.skip_empty()),
            Value::Hash(f) => {
                let planned =
                    hash::plan(f, &self.enc, self.opts.drop_unsupported).map_err(|e| match e {
                        hash::PlanError::Invalid(what) => invalid(what),
                        hash::PlanError::Unsupported(what) => WriteError::Unsupported {
                            key: KeyName::in_db(db, key),
                            target: self.opts.target.name(),
                            what,
                        },
                    })?;
                dropped = planned.dropped_ttls;
                Plan::Hash(f, planned.plan)
            }
            Value::Stream(s) => {
                stream::validate(s).map_err(invalid)?;
                Plan::Stream(s)
            }
            Value::Module(m) => {
                check_module_stream(&m.raw, &self.enc.header).map_err(invalid)?;
                Plan::Module(m)
            }
        };
        let ty = match &plan {
            Plan::String(_) => RdbType::STRING,
            Plan::List(_) => list::list_type(&self.enc),
            Plan::Set(_, p) => p.rdb_type(),
            Plan::ZSet(_, p) => zset::rdb_type(p, &self.enc),
            Plan::Hash(_, p) => hash::rdb_type(p, &self.enc),
            Plan::Stream(_) => self.opts.target.stream_type(),
            Plan::Module(_) => RdbType::MODULE_2,
        };
        self.put_key_header(key, meta, ty);
        let (enc, sink) = (&mut self.enc, &mut self.sink);
        let r = match plan {
            Plan::String(s) => write_string(enc, sink, s),
            Plan::List(items) => list::write(enc, sink, items),
            Plan::Set(m, p) => set::write(enc, sink, m, &p),
            Plan::ZSet(z, p) => zset::write(enc, sink, z, &p),
            Plan::Hash(f, p) => hash::write(enc, sink, f, &p),
            Plan::Stream(s) => stream::write(enc, sink, s),
            Plan::Module(m) => {
                encode_length(m.module_id, &mut sink.buf);
                sink.put_large(&m.raw)
            }
        };
        self.io(r)?;
        self.summary.dropped_field_ttls += dropped;
        self.count_key(meta);
        Ok(true)
    }

    /// Writes a key whose value is already encoded (`raw` = the bytes after the key, e.g.
    /// copied from another file). The type must be one this target may contain; the bytes
    /// are not checked.
    pub fn write_raw_value(
        &mut self,
        key: &[u8],
        rdb_type: RdbType,
        meta: KeyMeta,
        raw: &[u8],
    ) -> WriteResult<()> {
        self.check_open()?;
        self.offered_keys += 1;
        self.check_meta(key, meta)?;
        let db = self.db;
        if !self.opts.target.may_emit_type(self.enc.header, rdb_type) {
            return Err(WriteError::Unsupported {
                key: KeyName::in_db(db, key),
                target: self.opts.target.name(),
                what: format!(
                    "values of type {rdb_type} in a {} file",
                    header_text(self.enc.header)
                ),
            });
        }
        self.put_key_header(key, meta, rdb_type);
        let r = self.sink.put_large(raw);
        self.io(r)?;
        self.count_key(meta);
        Ok(())
    }

    /// Writes a stream in this target's stream type (15, 19 or 21) around a node section
    /// copied from another file, which every stream type shares: `nodes` = the bytes of a
    /// stream record between its key and its metadata (the node count, then each node's
    /// master-ID and listpack strings). The metadata and consumer groups are written from
    /// `stream` as this type holds them, its `length` as stored. Of `stream.entries` only the
    /// first entry's ID is read, as the first ID when `stream.first_id` is `None` (a type-15
    /// source): pass the source's entries (or set `first_id`), or a non-empty stream is written
    /// with the first ID an empty one has.
    ///
    /// The nodes are neither checked nor rebuilt: a stream is carried to another line exactly
    /// as a server holds it, including one a server loads but the writer would not build
    /// (entry IDs out of order). The groups are checked as [`RdbWriter::write_value`] checks
    /// them (the server refuses inconsistent ones).
    pub fn write_stream_with_nodes(
        &mut self,
        key: &[u8],
        meta: KeyMeta,
        nodes: &[u8],
        stream: &Stream,
    ) -> WriteResult<()> {
        self.check_open()?;
        self.offered_keys += 1;
        self.check_meta(key, meta)?;
        let db = self.db;
        let ty = self.opts.target.stream_type();
        if !self.opts.target.may_emit_type(self.enc.header, ty) {
            return Err(WriteError::Unsupported {
                key: KeyName::in_db(db, key),
                target: self.opts.target.name(),
                what: format!("streams in a {} file", header_text(self.enc.header)),
            });
        }
        stream::validate_groups(stream).map_err(|what| WriteError::InvalidValue {
            key: KeyName::in_db(db, key),
            what,
        })?;
        self.put_key_header(key, meta, ty);
        let (enc, sink) = (&mut self.enc, &mut self.sink);
        let r = sink.put_large(nodes).and_then(|()| {
            let first = stream.entries.first().map(|e| e.id);
            stream::write_meta(enc, sink, stream, stream.length, first)
        });
        self.io(r)?;
        self.count_key(meta);
        Ok(())
    }

    /// Appends the per-key opcodes, the type byte and the key to the buffer.
    pub(crate) fn put_key_header(&mut self, key: &[u8], meta: KeyMeta, ty: RdbType) {
        let buf = &mut self.sink.buf;
        if let Some(ms) = meta.expire_at_ms {
            buf.push(Opcode::EXPIRETIME_MS.0);
            buf.extend_from_slice(&ms.to_le_bytes());
        }
        if let Some(idle) = meta.lru_idle_s {
            buf.push(Opcode::IDLE.0);
            encode_length(idle, buf);
        }
        if let Some(freq) = meta.lfu_freq {
            buf.push(Opcode::FREQ.0);
            buf.push(freq);
        }
        buf.push(ty.0);
        self.enc.string(key, buf);
    }

    pub(crate) fn skip_empty(&mut self) -> bool {
        self.summary.skipped_empty += 1;
        false
    }

    pub(crate) fn count_key(&mut self, meta: KeyMeta) {
        let expiring = u64::from(meta.expire_at_ms.is_some());
        self.summary.keys += 1;
        self.summary.expires += expiring;
        let db = self.summary.dbs.entry(self.db).or_default();
        db.keys += 1;
        db.expires += expiring;
    }

    /// Writes EOF and the CRC-64 trailer, flushes, and returns the inner writer and the
    /// summary. Fails when poisoned (the output then has no trailer).
    pub fn finish(mut self) -> WriteResult<(W, Summary)> {
        self.check_open()?;
        self.close_declared()?;
        self.sink.buf.push(Opcode::EOF.0);
        let (w, crc, bytes) = self.sink.finish()?;
        self.summary.crc = crc;
        self.summary.bytes = bytes;
        Ok((w, self.summary))
    }
}

/// Writes a string value; large raw values bypass the buffer.
fn write_string<W: Write>(enc: &mut Encoder, sink: &mut Sink<W>, s: &[u8]) -> io::Result<()> {
    if s.len() >= (64 << 10) && enc.compressor.is_none() {
        encode_length(s.len() as u64, &mut sink.buf);
        return sink.put_large(s);
    }
    enc.string(s, &mut sink.buf);
    sink.maybe_flush()
}

fn header_text(h: Header) -> String {
    format!("{}{}", h.magic.as_str(), h.version)
}
