//! `rdbkit dump`: a file's records as JSON lines, or as RESP commands that recreate it.

use std::io::{self, Write};

use rdb_format::Element;
use rdb_model::commands::write_resp;
use rdb_model::json::{bytes_to_json, entry_to_json};
use rdb_model::{Entry, Value, ValueType};
use rdb_reader::{Event, KeyspaceBuilder, Parser, ReadError, Source};
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

/// Dumps every record of `parser` to `out`.
pub fn dump<S: Source>(
    mut parser: Parser<S>,
    format: DumpFormat,
    filter: &DumpFilter,
    out: &mut impl Write,
) -> Result<DumpStats, DumpError> {
    let mut builder: Option<(KeyspaceBuilder, u8)> = None;
    let mut selected: Option<u64> = None;
    let mut stats = DumpStats::default();
    loop {
        let ev = match parser.next_event() {
            Ok(Some(ev)) => ev,
            Ok(None) => return Ok(stats),
            Err(e) => return Err(DumpError::Read(e)),
        };
        match ev {
            Event::Key(k) => {
                if stats.dbs_with_keys.last() != Some(&k.db) {
                    stats.dbs_with_keys.insert(k.db);
                }
                let ty = ValueType::from_name(k.kind.logical()).unwrap_or(ValueType::Module);
                let mut t = rdb_format::IntText::new(0);
                if !filter.wants(k.db, k.key.as_bytes(&mut t), ty) {
                    parser.skip_key().map_err(DumpError::Read)?;
                    continue;
                }
                let mut kb = KeyspaceBuilder::new();
                kb.push(&ev);
                builder = Some((kb, k.rdb_type.0));
            }
            Event::KeyEnd => {
                if let Some((mut kb, rdb_type)) = builder.take() {
                    kb.push(&ev);
                    let ks = kb.finish();
                    for (db, d) in &ks.dbs {
                        for e in &d.entries {
                            match format {
                                DumpFormat::Jsonl => {
                                    serde_json::to_writer(
                                        &mut *out,
                                        &entry_to_json(*db, e, rdb_type),
                                    )?;
                                    out.write_all(b"\n")?;
                                }
                                DumpFormat::Resp => {
                                    if selected != Some(u64::from(*db)) {
                                        if *db >= DEFAULT_DATABASES {
                                            eprintln!(
                                                "rdbkit dump: warning: SELECT {db}: a server with the \
                                                 default {DEFAULT_DATABASES} databases refuses it, and \
                                                 `redis-cli --pipe` then writes db {db}'s keys into the \
                                                 database selected before"
                                            );
                                        }
                                        write_resp(out, &[b"SELECT", db.to_string().as_bytes()])?;
                                        selected = Some(u64::from(*db));
                                    }
                                    resp_entry(out, e)?;
                                }
                            }
                        }
                    }
                }
            }
            _ if builder.is_some() => {
                if let Some((kb, _)) = builder.as_mut() {
                    kb.push(&ev);
                }
            }
            Event::Function { code } if format == DumpFormat::Resp && filter.wants_records() => {
                let mut t = rdb_format::IntText::new(0);
                write_resp(
                    out,
                    &[b"FUNCTION", b"LOAD", b"REPLACE", code.as_bytes(&mut t)],
                )?;
            }
            _ if format == DumpFormat::Resp || !filter.wants_records() => {}
            Event::Aux { key, value } => {
                line(out, json!({"aux": {"key": b(key), "value": b(value)}}))?
            }
            Event::Function { code } => line(out, json!({"function": b(code)}))?,
            Event::SlotInfo {
                slot,
                keys,
                expires,
            } => line(
                out,
                json!({"slot_info": {"slot": slot, "keys": keys, "expires": expires}}),
            )?,
            Event::ModuleAux {
                module_id,
                when,
                raw,
                ..
            } => {
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
            _ => {}
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
        eprintln!(
            "rdbkit dump: key {} holds a module value, which has no RESP form; skipped",
            rdb_format::escape_bytes(&e.key, 64)
        );
        return Ok(());
    }
    rdb_model::commands::for_each_command(e, |args| write_resp(out, args))
}
