//! Exports of an owned keyspace (also the JSONL source, which is read into one).

use std::collections::BTreeMap;
use std::io::BufRead;
use std::sync::atomic::{AtomicBool, Ordering};

use base64::Engine as _;
use rayon::prelude::*;
use rdb_model::json::{bytes_from_json, entry_from_json, module_id_from_name};
use rdb_model::{Bytes, Entry, Keyspace, ModuleAux, StreamId};
use rdb_writer::parallel::slot_records;
use rdb_writer::{is_empty_value, KeyName, SyncingFile, Target, WriteError, WriterBuilder};

use super::{DbSelection, ExportError, ExportPlan, HashingWriter, NodeOutput, NodeStats};
use crate::slot::key_slot;
use crate::topology::Partitioner;

/// Baseline of the `used-mem` estimate: an empty server.
pub(crate) const BASE_USED_MEM: u64 = rdb_writer::USED_MEM_BASE;

/// How often (in keys, or JSONL lines) an export looks at its cancel flag (a signal, or
/// another node's failure).
pub(crate) const CANCEL_CHECK: usize = 256;

/// One node group's share of the keyspace: per output database, `(slot, entry)` in slot order
/// (source order within a slot).
#[derive(Default)]
struct ModelNode<'k> {
    dbs: BTreeMap<u32, Vec<(u16, &'k Entry)>>,
    field_ttls: bool,
    used_mem: u64,
    skipped_empty: u64,
}

/// A keyspace split into node groups, ready to write.
pub(crate) struct ModelJob<'k> {
    ks: &'k Keyspace,
    plan: &'k ExportPlan,
    nodes: Vec<ModelNode<'k>>,
}

impl<'k> ModelJob<'k> {
    /// Selects the databases, partitions the keys and sorts each node's keys by slot.
    pub(crate) fn new(
        ks: &'k Keyspace,
        plan: &'k ExportPlan,
        partitioner: &Partitioner,
        pool: &rayon::ThreadPool,
    ) -> Result<Self, ExportError> {
        let used: Vec<u32> = ks
            .dbs
            .iter()
            .filter(|(_, d)| !d.entries.is_empty())
            .map(|(&n, _)| n)
            .collect();
        let selected: Vec<(u32, &'k [Entry])> = match plan.db {
            DbSelection::Db0 => {
                if used.iter().any(|&n| n != 0) {
                    return Err(ExportError::OtherDatabases {
                        dbs: used.iter().map(|&n| u64::from(n)).collect(),
                    });
                }
                ks.dbs
                    .get(&0)
                    .map(|d| vec![(0, d.entries.as_slice())])
                    .unwrap_or_default()
            }
            DbSelection::Db(n) => ks
                .dbs
                .get(&n)
                .map(|d| vec![(0, d.entries.as_slice())])
                .unwrap_or_default(),
            DbSelection::All => ks
                .dbs
                .iter()
                .map(|(&n, d)| (n, d.entries.as_slice()))
                .collect(),
        };
        let mut nodes: Vec<ModelNode<'k>> = (0..partitioner.num_groups())
            .map(|_| ModelNode::default())
            .collect();
        for (db, entries) in selected {
            for e in entries {
                let slot = key_slot(&e.key);
                let Some(node) = nodes.get_mut(partitioner.group_of_slot(slot)) else {
                    continue;
                };
                if is_empty_value(&e.value) {
                    node.skipped_empty += 1;
                    continue;
                }
                node.field_ttls |= rdb_writer::entry_has_field_ttls(e);
                node.used_mem += rdb_writer::entry_used_mem(e);
                node.dbs.entry(db).or_default().push((slot, e));
            }
        }
        // Sorted by slot, and a key repeated in a database is repeated within its slot: a
        // server refuses such a file, so it is an error before anything is written.
        let repeats: Vec<Option<(u32, Bytes)>> = pool.install(|| {
            nodes
                .par_iter_mut()
                .map(|n| {
                    for v in n.dbs.values_mut() {
                        v.sort_by_key(|(slot, _)| *slot); // stable: source order within a slot
                    }
                    n.dbs.iter().find_map(|(&db, v)| {
                        v.chunk_by(|a, b| a.0 == b.0).find_map(|group| {
                            rdb_writer::dupkeys::first_duplicate(group, |(_, e)| &e.key[..])
                                .and_then(|i| group.get(i))
                                .map(|(_, e)| (db, e.key.clone()))
                        })
                    })
                })
                .collect()
        });
        check_repeats(plan, repeats)?;
        Ok(ModelJob { ks, plan, nodes })
    }

    /// Writes node `index`'s file into `w`.
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
        let empty = ModelNode::default();
        let node = self.nodes.get(index).unwrap_or(&empty);
        let used_mem = BASE_USED_MEM + node.used_mem;
        let builder = builder(plan, node.field_ttls, used_mem);
        let mut w = builder.build(w);
        let mut stats = NodeStats {
            used_mem,
            skipped_empty: node.skipped_empty,
            ..NodeStats::default()
        };
        w.write_header().map_err(werr)?;
        for aux in self.ks.module_aux.iter().filter(|a| a.when != 2) {
            w.write_module_aux(aux).map_err(werr)?;
        }
        stats.dropped_functions =
            write_functions(&mut w, &self.ks.functions, plan).map_err(werr)?;
        // Slot sizing records as a cluster node writes them: not in the snapshot of a
        // cluster-mode-disabled group (`--all-dbs`), which a standalone server would write
        // (and which `rdb-verify` would otherwise take for a cluster node's).
        let slot_info = plan.db != DbSelection::All && node.dbs.keys().all(|&db| db == 0);
        // More threads than node files: each file's keys are encoded on several of them
        // (the same bytes; rayon balances the files' batches over the pool).
        let parallel = rayon::current_num_threads() > self.nodes.len();
        for (&db, entries) in &node.dbs {
            let expires = entries
                .iter()
                .filter(|(_, e)| e.expire_at_ms.is_some())
                .count() as u64;
            w.select_db(db, entries.len() as u64, expires)
                .map_err(werr)?;
            let records = slot_records(entries, slot_info);
            if parallel {
                stats.reencoded +=
                    w.write_records_parallel(records, Some(cancel))
                        .map_err(|e| match e {
                            WriteError::Cancelled => ExportError::Cancelled,
                            e => werr(e),
                        })?;
                continue;
            }
            for (i, r) in records.enumerate() {
                if i % CANCEL_CHECK == 0 && cancel.load(Ordering::Relaxed) {
                    return Err(ExportError::Cancelled);
                }
                if w.write_record(r).map_err(werr)? {
                    stats.reencoded += 1;
                }
            }
        }
        for aux in self.ks.module_aux.iter().filter(|a| a.when == 2) {
            w.write_module_aux(aux).map_err(werr)?;
        }
        let (w, summary) = w.finish().map_err(werr)?;
        Ok((w, summary, stats))
    }
}

/// The error for the first node group (in order) whose file would repeat a key: `repeats`
/// holds, per node group, the first `(db, key)` repeated in it.
pub(crate) fn check_repeats<K: AsRef<[u8]>>(
    plan: &ExportPlan,
    repeats: Vec<Option<(u32, K)>>,
) -> Result<(), ExportError> {
    match repeats
        .into_iter()
        .enumerate()
        .find_map(|(i, r)| r.map(|r| (i, r)))
    {
        Some((index, (db, key))) => Err(ExportError::Write {
            file: plan.node_file_name_of(index),
            error: WriteError::DuplicateKey {
                db,
                key: KeyName::of(key.as_ref()),
            },
        }),
        None => Ok(()),
    }
}

/// The writer options of a node file.
pub(crate) fn builder(plan: &ExportPlan, field_ttls: bool, used_mem: u64) -> WriterBuilder {
    WriterBuilder::new(plan.target)
        .compression(plan.compression)
        .ctime(plan.now)
        .slot_info(true)
        .drop_unsupported(plan.drop_unsupported)
        .field_ttls(field_ttls && plan.target == Target::Valkey90)
        .used_mem(used_mem)
}

/// Writes the function libraries, or drops them (`drop_unsupported`) for targets without
/// functions, and those for an engine the target does not run
/// ([`Target::runs_function_engine`]); returns how many were dropped.
pub(crate) fn write_functions<W: std::io::Write>(
    w: &mut rdb_writer::RdbWriter<W>,
    functions: &[Bytes],
    plan: &ExportPlan,
) -> Result<u64, WriteError> {
    if functions.is_empty() {
        return Ok(0);
    }
    if !plan.target.supports_functions() {
        if plan.drop_unsupported {
            return Ok(functions.len() as u64);
        }
        return Err(WriteError::Unsupported {
            key: KeyName::none(),
            target: plan.target.name(),
            what: "function libraries (FUNCTION2 needs RDB 10)".into(),
        });
    }
    let mut dropped = 0;
    for f in functions {
        if plan.drop_unsupported {
            let engine = rdb_format::function::check_shebang(f).map(|s| s.engine);
            if engine.is_ok_and(|e| !plan.target.runs_function_engine(&e)) {
                dropped += 1;
                continue;
            }
        }
        w.write_function(f)?;
    }
    Ok(dropped)
}

/// Reads a JSONL keyspace in the `rdbkit dump` format: key lines become entries of their
/// database (in file order), `{"function": ...}` lines function libraries, `{"module_aux": ...}`
/// lines module AUX records; `aux` and `slot_info` lines and blank lines are ignored. Errors name
/// the line number.
pub fn read_jsonl_keyspace(reader: impl BufRead) -> Result<Keyspace, String> {
    read_jsonl_keyspace_noting(reader).map(|(ks, _)| ks)
}

/// [`read_jsonl_keyspace`], also returning warnings about what is accepted but will not be
/// written as given: stream metadata that contradicts the stream's entries, an expiry of -1 ms
/// (the servers' "no expiry": the entry gets none) — each naming the line and key.
pub fn read_jsonl_keyspace_noting(reader: impl BufRead) -> Result<(Keyspace, Vec<String>), String> {
    read_jsonl_keyspace_until(reader, &AtomicBool::new(false))?
        .ok_or_else(|| "cancelled".to_string())
}

/// [`read_jsonl_keyspace_noting`] that stops, returning `Ok(None)`, once `cancel` is set
/// (looked at every [`CANCEL_CHECK`] lines).
pub(crate) fn read_jsonl_keyspace_until(
    reader: impl BufRead,
    cancel: &AtomicBool,
) -> Result<Option<(Keyspace, Vec<String>)>, String> {
    let mut ks = Keyspace::default();
    let mut warnings = Vec::new();
    for (i, line) in reader.split(b'\n').enumerate() {
        let n = i + 1;
        if n % CANCEL_CHECK == 0 && cancel.load(Ordering::Relaxed) {
            return Ok(None);
        }
        let line = line.map_err(|e| format!("line {n}: {e}"))?;
        if line.iter().all(u8::is_ascii_whitespace) {
            continue;
        }
        if n == 1 && line.starts_with(b"\xEF\xBB\xBF") {
            return Err(
                "line 1: starts with a UTF-8 byte order mark (EF BB BF): a JSONL keyspace is plain JSON lines".into(),
            );
        }
        let v: serde_json::Value =
            serde_json::from_slice(&line).map_err(|e| format!("line {n}: invalid JSON: {e}"))?;
        let Some(obj) = v.as_object() else {
            return Err(format!("line {n}: not a JSON object"));
        };
        if obj.contains_key("key") {
            let (db, mut entry) = entry_from_json(&v).map_err(|e| format!("line {n}: {e}"))?;
            // A dump of a file holding the servers' "no expiry" marker: loaded as such.
            if entry.expire_at_ms == Some(-1) {
                entry.expire_at_ms = None;
                warnings.push(format!(
                    "line {n}: key {}: expiry -1 ms, which servers load as no expiry: written \
                     without one",
                    rdb_format::escape_bytes(&entry.key, 64)
                ));
            }
            check_stream_entries(&entry).map_err(|e| format!("line {n}: {e}"))?;
            warnings.extend(
                stream_contradictions(&entry)
                    .into_iter()
                    .map(|w| format!("line {n}: {w}")),
            );
            ks.db_mut(db).entries.push(entry);
        } else if let Some(code) = obj.get("function") {
            let code = bytes_from_json(code).map_err(|e| format!("line {n}: function: {e}"))?;
            ks.functions.push(code);
        } else if let Some(m) = obj.get("module_aux") {
            ks.module_aux
                .push(module_aux_from_json(m).map_err(|e| format!("line {n}: module_aux: {e}"))?);
        } else if let Some(e) = obj.get("error") {
            // `rdbkit dump` ends its output with this line when it fails.
            let what = e
                .get("message")
                .and_then(serde_json::Value::as_str)
                .unwrap_or("an error");
            return Err(format!(
                "line {n}: the dump that wrote this file failed ({what}): the keyspace is incomplete"
            ));
        } else if obj.contains_key("aux") || obj.contains_key("slot_info") {
            continue;
        } else {
            return Err(format!(
                "line {n}: not a dump line (expected a key, function, module_aux, aux or slot_info object)"
            ));
        }
    }
    Ok(Some((ks, warnings)))
}

/// A stream entry no server holds: one without fields (`XADD` needs at least one pair) or with
/// ID 0-0 (`XADD` refuses IDs not above 0-0). The model's JSON form allows both; an export
/// would write a stream whose `dump --format resp` replay the server refuses.
fn check_stream_entries(entry: &Entry) -> Result<(), String> {
    let rdb_model::Value::Stream(st) = &entry.value else {
        return Ok(());
    };
    for e in &st.entries {
        if e.fields.is_empty() {
            return Err(format!(
                "key {}: stream entry {} has no fields (a stream entry holds at least one field)",
                rdb_format::escape_bytes(&entry.key, 64),
                e.id
            ));
        }
        if e.id == rdb_model::StreamId::default() {
            return Err(format!(
                "key {}: stream entry ID 0-0 (a stream entry ID is above 0-0)",
                rdb_format::escape_bytes(&entry.key, 64)
            ));
        }
    }
    Ok(())
}

/// What a stream's metadata says that its entries contradict: the writer derives `length`
/// from the entries, and writes the other fields as given.
fn stream_contradictions(entry: &Entry) -> Vec<String> {
    let rdb_model::Value::Stream(st) = &entry.value else {
        return Vec::new();
    };
    let key = rdb_format::escape_bytes(&entry.key, 64);
    let n = st.entries.len() as u64;
    let mut out = Vec::new();
    if st.length != n {
        out.push(format!(
            "key {key}: stream length {} but {n} entries: the file holds {n}",
            st.length
        ));
    }
    if let Some(m) = st.max_deleted_id.filter(|m| *m > st.last_id) {
        out.push(format!(
            "key {key}: max_deleted_id {m} is above last_id {}",
            st.last_id
        ));
    }
    if let Some(a) = st.entries_added.filter(|a| *a < n) {
        out.push(format!(
            "key {key}: entries_added {a} is below the {n} entries"
        ));
    }
    let first = st.entries.first().map(|e| e.id).unwrap_or_default();
    // An empty stream holds 0-0, or the largest ID after a server loaded it from a type-15
    // record (as `rdb-verify`'s `stream-first-id` allows).
    let fine = |f: &StreamId| *f == first || (st.entries.is_empty() && *f == StreamId::MAX);
    if let Some(f) = st.first_id.filter(|f| !fine(f)) {
        out.push(format!(
            "key {key}: first_id_recorded {f} but the first entry is {first}"
        ));
    }
    for g in &st.groups {
        if let (Some(r), Some(a)) = (g.entries_read, st.entries_added) {
            if r > 0 && r as u64 > a {
                out.push(format!(
                    "key {key}: group {} entries_read {r} is above entries_added {a}",
                    rdb_format::escape_bytes(&g.name, 64)
                ));
            }
        }
    }
    out
}

/// The line numbers (1-based) of the key lines of `db`/`key` in a JSONL keyspace, in order:
/// to name the input lines of an error found while writing (a repeated key has two).
pub(crate) fn jsonl_key_lines(reader: impl BufRead, db: Option<u32>, key: &[u8]) -> Vec<usize> {
    let mut out = Vec::new();
    for (i, line) in reader.split(b'\n').enumerate() {
        let Ok(line) = line else { break };
        let Ok(v) = serde_json::from_slice::<serde_json::Value>(&line) else {
            continue;
        };
        let (Some(d), Some(k)) = (
            v.get("db").and_then(serde_json::Value::as_u64),
            v.get("key"),
        ) else {
            continue;
        };
        if db.is_none_or(|db| u64::from(db) == d)
            && bytes_from_json(k).is_ok_and(|k| k.as_ref() == key)
        {
            out.push(i + 1);
        }
    }
    out
}

fn module_aux_from_json(v: &serde_json::Value) -> Result<ModuleAux, String> {
    let name = v
        .get("module_id")
        .and_then(|x| x.as_str())
        .ok_or("module_id: expected a 9-character module name")?;
    let version = v
        .get("version")
        .and_then(serde_json::Value::as_u64)
        .and_then(|x| u16::try_from(x).ok())
        .ok_or("version: expected a number 0..=1023")?;
    let module_id =
        module_id_from_name(name, version).ok_or("module_id: not a valid module name/version")?;
    let when = v
        .get("when")
        .and_then(serde_json::Value::as_u64)
        .filter(|w| *w == 1 || *w == 2)
        .ok_or("when: expected 1 or 2")?;
    let raw = v
        .get("raw_b64")
        .and_then(|x| x.as_str())
        .ok_or("raw_b64: expected base64 text")?;
    let raw = base64::engine::general_purpose::STANDARD
        .decode(raw)
        .map_err(|e| format!("raw_b64: {e}"))?;
    Ok(ModuleAux {
        module_id,
        when,
        raw: Bytes::from(raw),
    })
}
