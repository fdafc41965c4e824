//! `rdbkit dump`: a file's records as JSON lines, or as RESP commands that recreate it.

use std::io::{self, Write};

use rdb_format::{Element, IntText, TypeKind};
use rdb_model::commands::{write_bulk, write_resp, BATCH};
use rdb_model::json::{bytes_to_json, entry_to_json, write_bytes_json, ScoreDisplay};
use rdb_model::{Entry, Value, ValueType};
use rdb_reader::{Event, KeyInfo, KeyspaceBuilder, Parser, ReadError, Source};
use regex::bytes::Regex;
use serde_json::json;

/// The command `rdbkit dump --format resp` writes last when the file could not be read to the
/// end, with the error as its argument: no server knows it, so a `redis-cli --pipe` fed the
/// partial output reports an error (`errors: 1`) instead of a clean load. (JSON lines end
/// with an `{"error": …}` line instead.)
pub const RESP_INCOMPLETE: &[u8] = b"RDBKIT-DUMP-INCOMPLETE";

/// The servers' default `databases` setting: a `SELECT` of a database at or above it fails
/// on such a server (the RESP output warns on stderr).
const DEFAULT_DATABASES: u32 = 16;

/// Output format.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DumpFormat {
    /// One JSON object per line.
    Jsonl,
    /// Redis protocol commands (for `redis-cli --pipe`).
    Resp,
}

/// Which keys to print.
#[derive(Debug, Default, Clone)]
pub struct DumpFilter {
    /// Databases to keep (empty = all).
    pub dbs: Vec<u64>,
    /// Key regex (bytes).
    pub key: Option<Regex>,
    /// Types to keep (empty = all).
    pub types: Vec<ValueType>,
}

impl DumpFilter {
    fn wants(&self, db: u64, key: &[u8], ty: ValueType) -> bool {
        (self.dbs.is_empty() || self.dbs.contains(&db))
            && (self.types.is_empty() || self.types.contains(&ty))
            && self.key.as_ref().is_none_or(|r| r.is_match(key))
    }

    fn wants_records(&self) -> bool {
        self.dbs.is_empty() && self.key.is_none() && self.types.is_empty()
    }
}

/// What a finished dump saw.
#[derive(Debug, Default, Clone)]
pub struct DumpStats {
    /// Every database that holds at least one key (printed or not).
    pub dbs_with_keys: std::collections::BTreeSet<u64>,
}

impl DumpStats {
    /// Databases `filter` asks for that hold no key in the file.
    pub fn absent_dbs<'f>(&self, filter: &'f DumpFilter) -> Vec<&'f u64> {
        filter
            .dbs
            .iter()
            .filter(|db| !self.dbs_with_keys.contains(db))
            .collect()
    }
}

/// Why a dump stopped.
#[derive(Debug)]
pub enum DumpError {
    /// The file is malformed (exit 1).
    Read(ReadError),
    /// Writing the output failed.
    Io(io::Error),
}

impl From<io::Error> for DumpError {
    fn from(e: io::Error) -> Self {
        DumpError::Io(e)
    }
}

impl From<serde_json::Error> for DumpError {
    fn from(e: serde_json::Error) -> Self {
        DumpError::Io(e.into())
    }
}

fn b(e: Element<'_>) -> serde_json::Value {
    let mut t = rdb_format::IntText::new(0);
    bytes_to_json(e.as_bytes(&mut t))
}

/// A key's output is gathered in memory and written once the key is complete, so that a key
/// the file cuts short is left out whole; a collection's output that grows past this many
/// bytes is written out as it goes instead (memory stays bounded whatever its size).
const SPILL_BYTES: usize = 1 << 20;

/// The type of a value printed as it is read ([`Streamed`]), or `None` for one held whole in
/// the model and printed from it (module values, hashes with field TTLs — whose TTLs come
/// first in the key line and last in the commands —, and streams in RESP). Strings are
/// gathered (their JSON form depends on every byte) and written straight out; lists, sets,
/// sorted sets and hashes are printed element by element; in JSONL a stream's entries as they
/// are read, the rest (metadata, groups, PELs, consumers, which follow the entries in the file
/// and in the key line) held in the model until the key ends. (The RESP form of a stream needs
/// its groups first: placeholders for the pending IDs of deleted entries go among the entries.)
fn streamed_type(kind: TypeKind, format: DumpFormat) -> Option<ValueType> {
    use TypeKind as K;
    Some(match kind {
        K::String => ValueType::String,
        K::Stream(_) if format == DumpFormat::Jsonl => ValueType::Stream,
        K::ListLinked | K::ListZiplist | K::ListQuicklist | K::ListQuicklist2 => ValueType::List,
        K::SetHashtable | K::SetIntset | K::SetListpack => ValueType::Set,
        K::ZSetV1 | K::ZSet2 | K::ZSetZiplist | K::ZSetListpack => ValueType::ZSet,
        K::HashHashtable | K::HashZipmap | K::HashZiplist | K::HashListpack => ValueType::Hash,
        _ => return None,
    })
}

/// Arguments per element in the command that recreates a streamed collection.
fn arity(t: ValueType) -> usize {
    match t {
        ValueType::ZSet | ValueType::Hash => 2,
        _ => 1,
    }
}

/// The variadic command that recreates a streamed collection, as [`rdb_model::commands`]
/// writes it.
fn command(t: ValueType) -> &'static [u8] {
    match t {
        ValueType::List => b"RPUSH",
        ValueType::Set => b"SADD",
        ValueType::ZSet => b"ZADD",
        _ => b"HSET",
    }
}

/// A key being printed as it is read: its output so far (`buf`, written to the output at the
/// end of the key or, for a collection, once past [`SPILL_BYTES`]) and, for RESP, the
/// arguments of the command being filled (at most [`BATCH`] elements, as
/// [`rdb_model::commands::for_each_command`] batches them, so both outputs are the same
/// bytes). A string's bytes gather in `args` until the key ends.
struct Streamed {
    shape: ValueType,
    format: DumpFormat,
    /// The key's bytes (RESP commands repeat them).
    key: Vec<u8>,
    expire_at_ms: Option<i64>,
    /// Elements printed so far (JSONL: a comma before all but the first).
    elements: u64,
    /// RESP: the pending command's arguments after the key, end to end, and where each ends;
    /// a string's value.
    args: Vec<u8>,
    arg_ends: Vec<usize>,
    /// Part of this key's output is already written (a read error now leaves it cut short).
    spilled: bool,
    /// Scratch for base64 text.
    b64: String,
    /// RESP: the database of a `SELECT` in `buf` that the servers' default configuration
    /// lacks, warned about when `buf` is written out (not for a key a read error drops).
    warn_db: Option<u64>,
    /// A stream's records but its entries, to print from the model at the end.
    stream_rest: Option<Box<KeyspaceBuilder>>,
}

impl Streamed {
    fn new(format: DumpFormat) -> Self {
        Streamed {
            shape: ValueType::String,
            format,
            key: Vec::new(),
            expire_at_ms: None,
            elements: 0,
            args: Vec::new(),
            arg_ends: Vec::new(),
            spilled: false,
            b64: String::new(),
            warn_db: None,
            stream_rest: None,
        }
    }

    /// Starts a key: its line up to the value (JSONL), or the `SELECT` it needs (RESP).
    fn begin(
        &mut self,
        k: &KeyInfo<'_>,
        shape: ValueType,
        buf: &mut Vec<u8>,
        selected: &mut Option<u64>,
    ) -> io::Result<()> {
        let mut t = IntText::new(0);
        let key = k.key.as_bytes(&mut t);
        self.shape = shape;
        self.key.clear();
        self.key.extend_from_slice(key);
        self.expire_at_ms = k.expire_at_ms;
        self.elements = 0;
        if self.args.capacity() > SPILL_BYTES {
            // Do not keep a big string's room for the rest of the file.
            self.args = Vec::new();
        }
        self.args.clear();
        self.arg_ends.clear();
        self.spilled = false;
        match self.format {
            DumpFormat::Jsonl => {
                // The members in serde_json's (sorted) order, as `entry_to_json` writes them.
                let db = u32::try_from(k.db).unwrap_or(u32::MAX);
                write!(buf, "{{\"db\":{db},\"expire_at_ms\":")?;
                match k.expire_at_ms {
                    Some(ms) => write!(buf, "{ms}")?,
                    None => buf.extend_from_slice(b"null"),
                }
                buf.extend_from_slice(b",\"key\":");
                write_bytes_json(buf, key, &mut self.b64)?;
                if let Some(f) = k.lfu_freq {
                    write!(buf, ",\"lfu_freq\":{f}")?;
                }
                if let Some(s) = k.lru_idle_s {
                    write!(buf, ",\"lru_idle_s\":{s}")?;
                }
                write!(
                    buf,
                    ",\"rdb_type\":{},\"type\":\"{}\",\"value\":",
                    k.rdb_type.0,
                    k.kind.logical()
                )?;
                match shape {
                    ValueType::String => {}
                    ValueType::Stream => buf.extend_from_slice(b"{\"entries\":["),
                    _ => buf.push(b'['),
                }
            }
            DumpFormat::Resp => {
                self.warn_db = select(buf, selected, k.db)?.then_some(k.db);
            }
        }
        Ok(())
    }

    /// Writes the key's output gathered so far to `out` (and a `SELECT` warning it owes).
    fn release(&mut self, buf: &mut Vec<u8>, out: &mut impl Write) -> io::Result<()> {
        out.write_all(buf)?;
        buf.clear();
        if let Some(db) = self.warn_db.take() {
            warn_select(db);
        }
        Ok(())
    }

    /// A piece of a string value.
    fn chunk(&mut self, piece: Element<'_>) {
        piece.append_to(&mut self.args);
    }

    /// Prints one element (a list item or set member: `second` is `None`; a hash field and
    /// its value; a sorted-set member and its `score`).
    fn element(
        &mut self,
        buf: &mut Vec<u8>,
        out: &mut impl Write,
        first: Element<'_>,
        second: Option<Element<'_>>,
        score: Option<f64>,
    ) -> io::Result<()> {
        let mut t = IntText::new(0);
        let first = first.as_bytes(&mut t);
        match self.format {
            DumpFormat::Jsonl => {
                if self.elements > 0 {
                    buf.push(b',');
                }
                let pair = second.is_some() || score.is_some();
                if pair {
                    buf.push(b'[');
                }
                write_bytes_json(buf, first, &mut self.b64)?;
                if let Some(x) = score {
                    write!(buf, ",\"{}\"", ScoreDisplay(x))?;
                }
                if let Some(second) = second {
                    let mut t2 = IntText::new(0);
                    buf.push(b',');
                    write_bytes_json(buf, second.as_bytes(&mut t2), &mut self.b64)?;
                }
                if pair {
                    buf.push(b']');
                }
            }
            DumpFormat::Resp => {
                // `ZADD key score member`, `HSET key field value`.
                if let Some(x) = score {
                    write!(self.args, "{}", ScoreDisplay(x))?;
                    self.arg_ends.push(self.args.len());
                }
                self.args.extend_from_slice(first);
                self.arg_ends.push(self.args.len());
                if let Some(second) = second {
                    let mut t2 = IntText::new(0);
                    self.args.extend_from_slice(second.as_bytes(&mut t2));
                    self.arg_ends.push(self.args.len());
                }
                if self.arg_ends.len() >= BATCH * arity(self.shape) {
                    self.flush_command(buf, out)?;
                }
            }
        }
        self.elements += 1;
        Ok(())
    }

    /// A stream's record: a live entry is printed (`["<id>",[[field,value],…]]`), a deleted
    /// one skipped, any other record kept for the end.
    fn stream_record(&mut self, buf: &mut Vec<u8>, ev: &Event<'_>) -> io::Result<()> {
        match ev {
            Event::StreamEntry(e) if e.deleted => {}
            Event::StreamEntry(e) => {
                if self.elements > 0 {
                    buf.push(b',');
                }
                write!(buf, "[\"{}\",[", e.id)?;
                for (i, (f, v)) in e.fields().enumerate() {
                    let (mut t, mut t2) = (IntText::new(0), IntText::new(0));
                    buf.extend_from_slice(if i == 0 { b"[" } else { b",[" });
                    write_bytes_json(buf, f.as_bytes(&mut t), &mut self.b64)?;
                    buf.push(b',');
                    write_bytes_json(buf, v.as_bytes(&mut t2), &mut self.b64)?;
                    buf.push(b']');
                }
                buf.extend_from_slice(b"]]");
                self.elements += 1;
            }
            ev => {
                if let Some(rest) = self.stream_rest.as_mut() {
                    rest.push(ev);
                }
            }
        }
        Ok(())
    }

    /// The rest of a stream's value after its entries: its model's JSON object without
    /// `entries` (which sorts first), spliced after the entries printed.
    fn stream_tail(&mut self, buf: &mut Vec<u8>) -> io::Result<()> {
        buf.push(b']');
        let ks = self.stream_rest.take().map(|rest| rest.finish());
        let stream = ks
            .as_ref()
            .and_then(|ks| ks.dbs.values().next())
            .and_then(|d| d.entries.first())
            .and_then(|e| match &e.value {
                Value::Stream(s) => Some(s),
                _ => None,
            });
        if let Some(s) = stream {
            if let serde_json::Value::Object(mut o) = rdb_model::json::stream_to_json(s) {
                o.remove("entries");
                let rest = serde_json::to_vec(&o)?;
                // `{"entries_added":…}` → `,"entries_added":…}`
                if let Some(members) = rest.get(1..).filter(|m| m.len() > 1) {
                    buf.push(b',');
                    buf.extend_from_slice(members);
                    return Ok(());
                }
            }
        }
        buf.push(b'}');
        Ok(())
    }

    /// RESP: writes the pending command (`RPUSH key …`), if it has elements: into `buf`, or,
    /// when its arguments alone pass [`SPILL_BYTES`] (big elements), straight to `out` after
    /// `buf` (not copied a second time; the key's output is then written as it goes).
    fn flush_command(&mut self, buf: &mut Vec<u8>, out: &mut impl Write) -> io::Result<()> {
        if self.arg_ends.is_empty() {
            return Ok(());
        }
        let direct = self.args.len() >= SPILL_BYTES;
        if direct {
            self.release(buf, out)?;
            self.spilled = true;
        }
        let to: &mut dyn Write = if direct { out } else { buf };
        write!(to, "*{}\r\n", 2 + self.arg_ends.len())?;
        write_bulk(to, command(self.shape))?;
        write_bulk(to, &self.key)?;
        let mut start = 0;
        for &end in &self.arg_ends {
            write_bulk(to, self.args.get(start..end).unwrap_or_default())?;
            start = end;
        }
        self.args.clear();
        self.arg_ends.clear();
        Ok(())
    }

    /// Ends the key and writes what is left of its output (`buf`, then a string's value
    /// straight from `args`) to `out`: the value's end and the line's (JSONL); the last
    /// command and the key's `PEXPIREAT` (RESP).
    fn end(&mut self, buf: &mut Vec<u8>, out: &mut impl Write) -> io::Result<()> {
        match self.format {
            DumpFormat::Jsonl if self.shape == ValueType::String => {
                out.write_all(buf)?;
                write_bytes_json(out, &self.args, &mut self.b64)?;
                out.write_all(b"}\n")?;
            }
            DumpFormat::Jsonl if self.shape == ValueType::Stream => {
                self.stream_tail(buf)?;
                buf.extend_from_slice(b"}\n");
                out.write_all(buf)?;
            }
            DumpFormat::Jsonl => {
                buf.extend_from_slice(b"]}\n");
                out.write_all(buf)?;
            }
            DumpFormat::Resp => {
                if self.shape == ValueType::String {
                    self.release(buf, out)?;
                    write_resp(out, &[b"SET", &self.key, &self.args])?;
                } else {
                    self.flush_command(buf, out)?;
                    self.release(buf, out)?;
                }
                // As `for_each_command`: an expiry of -1 is the servers' "none".
                if let Some(ms) = self.expire_at_ms.filter(|&ms| ms != -1) {
                    let ms = ms.to_string();
                    write_resp(out, &[b"PEXPIREAT", &self.key, ms.as_bytes()])?;
                }
            }
        }
        buf.clear();
        Ok(())
    }
}

/// RESP: the `SELECT` that `db`'s keys need, when another database is selected. Returns
/// whether the servers' default configuration lacks that database ([`warn_select`] says so
/// once the command is written out).
fn select(out: &mut impl Write, selected: &mut Option<u64>, db: u64) -> io::Result<bool> {
    if *selected == Some(db) {
        return Ok(false);
    }
    write_resp(out, &[b"SELECT", db.to_string().as_bytes()])?;
    *selected = Some(db);
    Ok(db >= u64::from(DEFAULT_DATABASES))
}

/// The warning for a `SELECT` of a database the servers' default configuration lacks.
fn warn_select(db: u64) {
    crate::note!(
        "rdbkit dump: warning: SELECT {db}: a server with the default {DEFAULT_DATABASES} \
         databases refuses it, and `redis-cli --pipe` then writes db {db}'s keys into the \
         database selected before"
    );
}

/// The key being read.
enum Current {
    /// None (between keys, or a key filtered out and skipped).
    Idle,
    /// Held whole until its end, then printed from the model ([`entry_to_json`],
    /// [`rdb_model::commands::for_each_command`]).
    Whole(Box<KeyspaceBuilder>, u8),
    /// Printed as its elements arrive.
    Streamed,
}

/// Dumps every record of `parser` to `out`.
///
/// Values are printed as they are read (strings, lists, sets, sorted sets,
/// hashes without field TTLs, and in JSONL streams), so memory does not follow a collection's
/// size; the others are held whole in the model. A key's output reaches `out` once the key is
/// complete, unless it grows past 1 MiB: then it is written as it goes, and a read error
/// inside the key leaves its JSON line unterminated (not valid JSON, so never taken for a
/// whole key) or its commands cut short, before the error line or command the caller writes.
pub fn dump<S: Source>(
    mut parser: Parser<S>,
    format: DumpFormat,
    filter: &DumpFilter,
    out: &mut impl Write,
) -> Result<DumpStats, DumpError> {
    let mut current = Current::Idle;
    let mut streamed = Streamed::new(format);
    // The current key's output not yet written.
    let mut buf: Vec<u8> = Vec::new();
    let mut selected: Option<u64> = None;
    let mut stats = DumpStats::default();
    loop {
        let ev = match parser.next_event() {
            Ok(Some(ev)) => ev,
            Ok(None) => return Ok(stats),
            Err(e) => {
                if matches!(current, Current::Streamed) && streamed.spilled {
                    // The cut line ends here; the caller's error line follows on its own.
                    if format == DumpFormat::Jsonl {
                        out.write_all(b"\n")?;
                    }
                }
                return Err(DumpError::Read(e));
            }
        };
        match (&mut current, ev) {
            (_, Event::Key(k)) => {
                if stats.dbs_with_keys.last() != Some(&k.db) {
                    stats.dbs_with_keys.insert(k.db);
                }
                let ty = ValueType::from_name(k.kind.logical()).unwrap_or(ValueType::Module);
                let mut t = IntText::new(0);
                if !filter.wants(k.db, k.key.as_bytes(&mut t), ty) {
                    current = Current::Idle;
                    parser.skip_key().map_err(DumpError::Read)?;
                    continue;
                }
                if buf.capacity() > 2 * SPILL_BYTES {
                    // One element made it big: do not keep that room for the rest.
                    buf = Vec::new();
                }
                buf.clear();
                current = match streamed_type(k.kind, format) {
                    Some(shape) => {
                        streamed.begin(&k, shape, &mut buf, &mut selected)?;
                        if shape == ValueType::Stream {
                            let mut rest = Box::new(KeyspaceBuilder::new());
                            rest.push(&ev);
                            streamed.stream_rest = Some(rest);
                        }
                        if k.whole {
                            // A string given whole: no value event and no KeyEnd follow.
                            if let Some(v) = k.value {
                                streamed.chunk(v);
                            }
                            streamed.end(&mut buf, out)?;
                            current = Current::Idle;
                            continue;
                        }
                        Current::Streamed
                    }
                    None => {
                        let mut kb = Box::new(KeyspaceBuilder::new());
                        kb.push(&ev);
                        Current::Whole(kb, k.rdb_type.0)
                    }
                };
            }
            (Current::Streamed, ev) => {
                match ev {
                    Event::StringChunk(c) => streamed.chunk(c),
                    Event::ListItem(v) | Event::SetMember(v) => {
                        streamed.element(&mut buf, out, v, None, None)?
                    }
                    Event::ZSetMember { member, score, .. } => {
                        streamed.element(&mut buf, out, member, None, Some(score))?
                    }
                    Event::HashField { field, value, .. } => {
                        streamed.element(&mut buf, out, field, Some(value), None)?
                    }
                    Event::KeyEnd => {
                        if let Some(rest) = streamed.stream_rest.as_mut() {
                            rest.push(&ev);
                        }
                        streamed.end(&mut buf, out)?;
                        current = Current::Idle;
                        continue;
                    }
                    ev if streamed.shape == ValueType::Stream => {
                        streamed.stream_record(&mut buf, &ev)?
                    }
                    _ => {}
                }
                if buf.len() >= SPILL_BYTES {
                    streamed.release(&mut buf, out)?;
                    streamed.spilled = true;
                }
            }
            (Current::Whole(..), ev @ Event::KeyEnd) => {
                let Current::Whole(mut kb, rdb_type) =
                    std::mem::replace(&mut current, Current::Idle)
                else {
                    continue;
                };
                kb.push(&ev);
                let ks = kb.finish();
                for (db, d) in &ks.dbs {
                    for e in &d.entries {
                        match format {
                            DumpFormat::Jsonl => {
                                serde_json::to_writer(&mut *out, &entry_to_json(*db, e, rdb_type))?;
                                out.write_all(b"\n")?;
                            }
                            DumpFormat::Resp => {
                                if select(out, &mut selected, u64::from(*db))? {
                                    warn_select(u64::from(*db));
                                }
                                resp_entry(out, e)?;
                            }
                        }
                    }
                }
            }
            (Current::Whole(kb, _), ev) => kb.push(&ev),
            (Current::Idle, Event::Function { code })
                if format == DumpFormat::Resp && filter.wants_records() =>
            {
                let mut t = IntText::new(0);
                write_resp(
                    out,
                    &[b"FUNCTION", b"LOAD", b"REPLACE", code.as_bytes(&mut t)],
                )?;
            }
            (Current::Idle, _) if format == DumpFormat::Resp || !filter.wants_records() => {}
            (Current::Idle, Event::Aux { key, value }) => {
                line(out, json!({"aux": {"key": b(key), "value": b(value)}}))?
            }
            (Current::Idle, Event::Function { code }) => line(out, json!({"function": b(code)}))?,
            (
                Current::Idle,
                Event::SlotInfo {
                    slot,
                    keys,
                    expires,
                },
            ) => line(
                out,
                json!({"slot_info": {"slot": slot, "keys": keys, "expires": expires}}),
            )?,
            (
                Current::Idle,
                Event::ModuleAux {
                    module_id,
                    when,
                    raw,
                    ..
                },
            ) => {
                use base64::Engine;
                line(
                    out,
                    json!({"module_aux": {
                        "module_id": rdb_model::module_type_name(module_id),
                        "version": module_id & 1023,
                        "when": when,
                        "raw_b64": base64::engine::general_purpose::STANDARD.encode(raw),
                    }}),
                )?
            }
            (Current::Idle, _) => {}
        }
    }
}

fn line(out: &mut impl Write, v: serde_json::Value) -> io::Result<()> {
    serde_json::to_writer(&mut *out, &v)?;
    out.write_all(b"\n")
}

/// Writes the commands that recreate `e` ([`rdb_model::commands`]); a module value, which
/// has none, is named on stderr and skipped.
fn resp_entry(out: &mut impl Write, e: &Entry) -> io::Result<()> {
    if matches!(e.value, Value::Module(_)) {
        crate::note!(
            "rdbkit dump: key {} holds a module value, which has no RESP form; skipped",
            rdb_format::escape_bytes(&e.key, 64)
        );
        return Ok(());
    }
    rdb_model::commands::for_each_command(e, |args| write_resp(out, args))
}
