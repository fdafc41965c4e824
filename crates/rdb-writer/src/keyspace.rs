//! [`write_keyspace`]: a whole [`Keyspace`] in one call.

use std::io::Write;

use rdb_model::{Entry, Keyspace, Value};

use crate::config::WriterBuilder;
use crate::dupkeys::KeyDigests;
use crate::error::{KeyName, WriteError, WriteResult};
use crate::parallel::{slot_records, KeyRecord};
use crate::slot::key_slot;
use crate::target::Target;
use crate::writer::{check_function, duplicate_function, RdbWriter, Summary};

/// Whether a value has nothing to write (an empty list, set, zset or hash: servers never
/// hold such keys and skip them when loading).
pub fn is_empty_value(v: &Value) -> bool {
    match v {
        Value::List(x) | Value::Set(x) => x.is_empty(),
        Value::SortedSet(x) => x.is_empty(),
        Value::Hash(x) => x.is_empty(),
        Value::String(_) | Value::Stream(_) | Value::Module(_) => false,
    }
}

/// Whether some hash of the keyspace has a field with a TTL.
pub fn has_field_ttls(ks: &Keyspace) -> bool {
    ks.dbs
        .values()
        .flat_map(|d| &d.entries)
        .any(entry_has_field_ttls)
}

/// Whether this entry is a hash with at least one field TTL.
pub fn entry_has_field_ttls(e: &Entry) -> bool {
    matches!(&e.value, Value::Hash(h) if h.iter().any(|f| f.expire_at_ms.is_some()))
}

/// One entry's share of [`estimate_used_mem`]: about 64 bytes of overhead, its key and value
/// bytes, and 16 bytes per collection element.
pub fn entry_used_mem(e: &Entry) -> u64 {
    let (bytes, elems): (usize, usize) = match &e.value {
        Value::String(s) => (s.len(), 0),
        Value::List(x) | Value::Set(x) => (x.iter().map(|m| m.len()).sum(), x.len()),
        Value::SortedSet(x) => (x.iter().map(|(m, _)| m.len() + 8).sum(), x.len()),
        Value::Hash(x) => (
            x.iter().map(|f| f.field.len() + f.value.len()).sum(),
            x.len(),
        ),
        Value::Stream(s) => (
            s.entries
                .iter()
                .flat_map(|e| &e.fields)
                .map(|(f, v)| f.len() + v.len())
                .sum(),
            s.entries.len(),
        ),
        Value::Module(m) => (m.raw.len(), 0),
    };
    64 + e.key.len() as u64 + bytes as u64 + 16 * elems as u64
}

/// The `used-mem` estimate of an empty server (1 MiB).
pub const USED_MEM_BASE: u64 = 1 << 20;

/// A rough `used-mem` estimate: [`USED_MEM_BASE`], plus per key about 64 bytes of overhead
/// and its key and value bytes, plus 16 bytes per collection element (empty collections,
/// which are not written, count nothing). [`write_keyspace`] computes the same in its one
/// pass over the entries.
pub fn estimate_used_mem(ks: &Keyspace) -> u64 {
    let entries = ks.dbs.values().flat_map(|d| &d.entries);
    USED_MEM_BASE
        + entries
            .filter(|e| !is_empty_value(&e.value))
            .map(entry_used_mem)
            .sum::<u64>()
}

/// Writes `ks` as one file: header (with an estimated `used-mem` unless set), MODULE_AUX
/// records to load before the data, function libraries, every database in ascending order
/// (`SELECTDB` + `RESIZEDB`, then the keys in model order, or grouped by ascending hash slot
/// with slot information when the builder has `slot_info`), MODULE_AUX records to load
/// after the data, EOF and checksum.
///
/// For Valkey 9.0 the `VALKEY080` header is chosen when some hash has field TTLs. Empty
/// collections are skipped. Function libraries on an RDB 9 target are an error unless the
/// builder has `drop_unsupported`. The keyspace's own AUX fields are not copied (the writer
/// writes its own; add others with [`WriterBuilder::aux`]). A key repeated in a database is
/// [`WriteError::DuplicateKey`], found before anything is written. With
/// [`WriterBuilder::parallel`], each database's keys are encoded on rayon's current thread
/// pool ([`RdbWriter::write_records_parallel`](crate::RdbWriter::write_records_parallel)):
/// the same bytes.
pub fn write_keyspace<W: Write + Send>(
    ks: &Keyspace,
    w: W,
    builder: &WriterBuilder,
) -> WriteResult<(W, Summary)> {
    // One pass over every database's entries (they may not fit in any cache): the keys to
    // write, checked for repeats before anything is written, their expiries, and what the
    // header needs (the `used-mem` estimate, whether some hash has field TTLs).
    let mut b = builder.clone();
    let want_used_mem = b.used_mem.is_none();
    let valkey90 = b.target() == Target::Valkey90;
    let mut used_mem = USED_MEM_BASE;
    let mut field_ttls = false;
    let mut dbs: Vec<(u32, Vec<&Entry>, usize, u64)> = Vec::with_capacity(ks.dbs.len());
    for (&db, d) in &ks.dbs {
        let mut live: Vec<&Entry> = Vec::with_capacity(d.entries.len());
        let mut digests = KeyDigests::new(d.entries.len());
        let mut expires = 0u64;
        for e in &d.entries {
            if is_empty_value(&e.value) {
                continue;
            }
            live.push(e);
            digests.push(&e.key);
            expires += u64::from(e.expire_at_ms.is_some());
            if want_used_mem {
                used_mem += entry_used_mem(e);
            }
            if valkey90 && !field_ttls {
                field_ttls = entry_has_field_ttls(e);
            }
        }
        if let Some(i) = digests.first_repeat(&live, |e| &e.key[..]) {
            return Err(WriteError::DuplicateKey {
                db,
                key: KeyName::of(live.get(i).map_or(&[][..], |e| &e.key[..])),
            });
        }
        let skipped = d.entries.len() - live.len();
        dbs.push((db, live, skipped, expires));
    }
    if field_ttls {
        b = b.field_ttls(true);
    }
    // Function libraries a server would refuse, also before anything is written.
    if b.target().supports_functions() {
        let mut names = std::collections::HashSet::new();
        for f in &ks.functions {
            let name = check_function(f, b.target())?;
            if names.contains(&name) {
                return Err(duplicate_function(&name));
            }
            names.insert(name);
        }
    }
    if want_used_mem {
        b = b.used_mem(used_mem);
    }
    let mut w = b.build(w);
    w.write_header()?;
    for aux in ks.module_aux.iter().filter(|a| a.when != 2) {
        w.write_module_aux(aux)?;
    }
    for f in &ks.functions {
        if b.target().supports_functions() {
            w.write_function(f)?;
        } else if b.drop_unsupported {
            w.summary.dropped_functions += 1;
        } else {
            return Err(WriteError::Unsupported {
                key: KeyName::none(),
                target: b.target().name(),
                what: "function libraries (FUNCTION2 needs RDB 10)".into(),
            });
        }
    }
    for (db, live, skipped, expires) in dbs {
        w.summary.skipped_empty += skipped as u64;
        if live.is_empty() {
            continue;
        }
        w.select_db(db, live.len() as u64, expires)?;
        let by_slot = if b.slot_info {
            by_slot(&live)
        } else {
            Vec::new()
        };
        let keys = live.iter().map(|e| KeyRecord::Key(e));
        match (b.parallel, b.slot_info) {
            (true, true) => {
                w.write_records_parallel(slot_records(&by_slot, true), None)?;
            }
            (true, false) => {
                w.write_records_parallel(keys, None)?;
            }
            (false, true) => write_each(&mut w, slot_records(&by_slot, true))?,
            (false, false) => {
                for e in live {
                    w.write_entry(e)?;
                }
            }
        }
    }
    for aux in ks.module_aux.iter().filter(|a| a.when == 2) {
        w.write_module_aux(aux)?;
    }
    w.finish()
}

/// `(slot, entry)` of each key, sorted by slot (stable: model order within a slot).
fn by_slot<'e>(live: &[&'e Entry]) -> Vec<(u16, &'e Entry)> {
    let mut by_slot: Vec<(u16, &Entry)> = live.iter().map(|e| (key_slot(&e.key), *e)).collect();
    by_slot.sort_by_key(|(s, _)| *s);
    by_slot
}

/// Writes `records` one by one.
fn write_each<'e, W: Write>(
    w: &mut RdbWriter<W>,
    records: impl Iterator<Item = KeyRecord<'e>>,
) -> WriteResult<()> {
    for r in records {
        w.write_record(r)?;
    }
    Ok(())
}
