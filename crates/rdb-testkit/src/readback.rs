//! What a keyspace must read back as after a trip through a file written for a target, and
//! the canonical order to compare in: shared by the writer's round-trip tests and the
//! `roundtrip` fuzz oracle.

use std::collections::{BTreeMap, HashSet};
use std::path::Path;

use rdb_cluster::export::{export_rdb_file, DbSelection, ExportError, ExportPlan, ExportResult};
use rdb_cluster::topology::Topology;
use rdb_format::consts::TypeKind;
use rdb_format::int::IntText;
use rdb_model::{Bytes, Keyspace, ModuleAux, Stream, StreamId, Value};
use rdb_reader::{Event, Limits, Parser, SliceSource};
use rdb_writer::{is_empty_value, Target};

use crate::server::ServerKind;

/// A fixed `ctime` so written files are reproducible.
pub const CTIME: i64 = 1_700_000_000;

/// Strings that must survive a round trip exactly: empty, non-canonical and edge integers,
/// binary, float-like text.
pub const TRICKY: &[&[u8]] = &[
    b"",
    b"007",
    b"-0",
    b"+1",
    b" 1",
    b"0",
    b"-1",
    b"2147483647",
    b"2147483648",
    b"-2147483648",
    b"9223372036854775807",
    b"-9223372036854775808",
    b"9223372036854775808",
    b"12345678901",
    b"\x00",
    b"\xff\xfe",
    b"1.5",
    b"inf",
];

/// Makes byte strings unique (a repeat gets `#i` appended, `i` its index), keeping the count
/// and order: the members of a generated set, hash or zset, which round-trip only when
/// distinct.
pub fn distinct(v: Vec<Bytes>) -> Vec<Bytes> {
    let mut seen = HashSet::new();
    v.into_iter()
        .enumerate()
        .map(|(i, m)| {
            let mut m = m.to_vec();
            while !seen.insert(m.clone()) {
                m.extend_from_slice(format!("#{i}").as_bytes());
            }
            Bytes::from(m)
        })
        .collect()
}

/// Sorts what encodings may reorder (set members, hash fields, zset members by score then
/// member) and clears AUX fields (the writer writes its own). Lists, streams and everything
/// else keep their order.
pub fn canonical(mut ks: Keyspace) -> Keyspace {
    ks.aux.clear();
    for db in ks.dbs.values_mut() {
        for e in &mut db.entries {
            match &mut e.value {
                Value::Set(s) => s.sort(),
                Value::Hash(h) => h.sort_by(|a, b| a.field.cmp(&b.field)),
                // Scores compare as numbers: -0 and 0 tie (a listpack stores -0 as the
                // integer 0, as the server does), ties by member.
                Value::SortedSet(z) => z.sort_by(|a, b| {
                    a.1.partial_cmp(&b.1)
                        .unwrap_or(std::cmp::Ordering::Equal)
                        .then_with(|| a.0.cmp(&b.0))
                }),
                _ => {}
            }
        }
    }
    ks
}

/// What `ks` must read back as from a file written for `target` (with `drop_unsupported`
/// when it has field TTLs the target cannot hold), in canonical order: no functions where the
/// target has none (nor those for an engine it does not run), MODULE_AUX records to load after the data last, no empty values or
/// databases, and the stream metadata of the target's stream type.
pub fn expected(ks: &Keyspace, target: Target) -> Keyspace {
    let mut ks = ks.clone();
    let stream_type = target.stream_type().0;
    if !target.supports_functions() {
        ks.functions.clear();
    }
    // Libraries for an engine the target does not run are dropped too.
    ks.functions.retain(|f| {
        rdb_format::function::check_shebang(f)
            .map_or(true, |s| target.runs_function_engine(&s.engine))
    });
    // MODULE_AUX records to load after the data are written after it.
    let (before, after): (Vec<ModuleAux>, Vec<ModuleAux>) =
        ks.module_aux.drain(..).partition(|a| a.when != 2);
    ks.module_aux = before.into_iter().chain(after).collect();
    for db in ks.dbs.values_mut() {
        db.entries.retain(|e| !is_empty_value(&e.value));
        for e in &mut db.entries {
            match &mut e.value {
                Value::Hash(h) if target.field_ttl_format().is_none() => {
                    for f in h.iter_mut() {
                        f.expire_at_ms = None;
                    }
                }
                Value::Stream(s) => stream_as_written(s, stream_type),
                _ => {}
            }
        }
    }
    ks.dbs.retain(|_, d| !d.entries.is_empty());
    canonical(ks)
}

/// What a stream record of type `stream_type` (15, 19 or 21) written from `s` holds: type 15
/// has no first / max-deleted id, entries-added count or group entries-read, and types below
/// 21 no consumer active times; what a newer type needs and `s` lacks is filled as the writer
/// fills it.
pub fn stream_as_written(s: &mut Stream, stream_type: u8) {
    s.length = s.entries.len() as u64;
    // Without an entries-added count (a stream read from a type-15 record), the writer fills
    // the metadata as a server loading that record does (see `stream_as_loaded`).
    let as_loaded_from_15 = s.entries_added.is_none();
    if stream_type == 15 {
        s.first_id = None;
        s.max_deleted_id = None;
        s.entries_added = None;
    } else {
        let first = s.entries.first().map(|e| e.id).unwrap_or(StreamId::MAX);
        s.first_id = Some(s.first_id.unwrap_or(first));
        s.max_deleted_id = Some(s.max_deleted_id.unwrap_or_default());
        s.entries_added = Some(s.entries_added.unwrap_or(s.length));
    }
    let snapshot = s.clone();
    for g in &mut s.groups {
        g.entries_read = if stream_type == 15 {
            None
        } else if as_loaded_from_15 && g.entries_read.is_none() {
            estimate_entries_read(&snapshot, g.last_delivered_id)
        } else {
            g.entries_read.filter(|&v| v >= 0)
        };
        for c in &mut g.consumers {
            c.active_time_ms = if stream_type >= 21 {
                Some(c.active_time_ms.unwrap_or(c.seen_time_ms))
            } else {
                None
            };
        }
    }
}

/// What a server of `kind` holds (and reports) for a stream it loaded from a record of type
/// `stream_type` holding `s` (as [`stream_as_written`] gives it): Redis 7.0+ and Valkey derive
/// what a type-15 record lacks (`streamGetEdgeID`, `streamEstimateDistanceFromFirstEverEntry`),
/// and servers from 7.2 (Valkey 8.1 here) give a consumer loaded without an active time its
/// seen time ("the best estimate we got").
pub fn stream_as_loaded(s: &mut Stream, stream_type: u8, kind: ServerKind) {
    if kind == ServerKind::Valkey81 && stream_type < 21 {
        for c in s.groups.iter_mut().flat_map(|g| &mut g.consumers) {
            c.active_time_ms = Some(c.seen_time_ms);
        }
    }
    if kind != ServerKind::Redislite62 && stream_type == 15 {
        s.first_id = Some(s.entries.first().map(|e| e.id).unwrap_or(StreamId::MAX));
        s.max_deleted_id = Some(StreamId::default());
        s.entries_added = Some(s.length);
        let snapshot = s.clone();
        for g in &mut s.groups {
            g.entries_read = estimate_entries_read(&snapshot, g.last_delivered_id);
        }
    }
}

/// `streamEstimateDistanceFromFirstEverEntry`, which estimates a group's `entries_read` when
/// a server loads a type-15 stream (RDB 9); `None` = unknown (−1). As Redis 7.2+ and Valkey
/// have it: an ID below the max deleted ID is unknown (Redis 7.0 lacks that test; a loaded
/// type-15 stream has no deleted ID, so both agree there, and the writer uses this form for
/// a model stream that gives a max deleted ID without an entries-added count).
fn estimate_entries_read(s: &Stream, id: StreamId) -> Option<i64> {
    let added = s.entries_added.unwrap_or(0);
    if added == 0 {
        return Some(0);
    }
    let last = s.last_id;
    if s.length == 0 && id <= last {
        return Some(added as i64);
    }
    let max_deleted = s.max_deleted_id.unwrap_or_default();
    if id != StreamId::default() && id < max_deleted {
        return None;
    }
    if id == last {
        return Some(added as i64);
    }
    if id > last {
        return None;
    }
    let first = s.first_id.unwrap_or_default();
    let max_deleted = s.max_deleted_id.unwrap_or_default();
    if max_deleted == StreamId::default() || max_deleted < first {
        if id < first {
            return Some((added - s.length) as i64);
        }
        if id == first {
            return Some((added - s.length + 1) as i64);
        }
    }
    None
}

/// What a server of `kind` reports through its commands ([`crate::server::Client::read_keyspace`])
/// after loading `ks` written for `target`: [`expected`], with its streams as
/// [`stream_as_loaded`] gives them.
pub fn server_view(ks: &Keyspace, target: Target, kind: ServerKind) -> Keyspace {
    let mut want = expected(ks, target);
    for e in want.dbs.values_mut().flat_map(|d| &mut d.entries) {
        if let Value::Stream(s) = &mut e.value {
            stream_as_loaded(s, target.stream_type().0, kind);
        }
    }
    want
}

/// The type byte of every stream record of an `.rdb` file, by (db, key); an unreadable file
/// is an error naming what failed.
fn stream_types(file: &Path) -> Result<BTreeMap<(u64, Vec<u8>), u8>, String> {
    let bytes = std::fs::read(file).map_err(|e| format!("{}: {e}", file.display()))?;
    let mut p = Parser::new(SliceSource::new(&bytes), Limits::default());
    let mut out = BTreeMap::new();
    while let Some(ev) = p
        .next_event()
        .map_err(|e| format!("{}: {e}", file.display()))?
    {
        if let Event::Key(k) = ev {
            if matches!(k.kind, TypeKind::Stream(_)) {
                let mut text = IntText::new(0);
                out.insert((k.db, k.key.as_bytes(&mut text).to_vec()), k.rdb_type.0);
            }
        }
    }
    Ok(out)
}

/// Converts the `.rdb` file `file` for `target` into `dir` as `rdbkit export` does, one node
/// group, every database kept, what the target cannot hold dropped and counted, one thread,
/// `ctime` = `now`: the conversion [`converted_view`] describes.
pub fn convert_one_node(
    file: &Path,
    target: Target,
    dir: &Path,
    name: &str,
    now: i64,
) -> Result<ExportResult, ExportError> {
    let topology = Topology::even(1)?;
    let mut plan = ExportPlan::new(name, dir, topology, target);
    plan.now = now;
    plan.db = DbSelection::All;
    plan.drop_unsupported = true;
    plan.threads = 1;
    export_rdb_file(file, &plan)
}

/// What a server of `kind` must report after loading `node_file`, the conversion of the `.rdb`
/// file `source_file` for `target` by `rdbkit export` ([`convert_one_node`]); errors name what
/// could not be read.
///
/// [`server_view`] of the source's keyspace as our reader reads it, except for streams: from
/// an `.rdb` source the export keeps every stream's nodes as stored — copying the record when
/// the target loads its type, otherwise writing the nodes under the target's stream type with
/// the metadata that type holds — so the server holds the source's stream (its stored `length`
/// too, which a re-encoding would derive from the entries) less what the stored type lacks,
/// and derives the rest (a type-15 stream loaded by Redis 7.0 or Valkey 8.1). Given the source
/// itself as `node_file`, this is what a server loading the source natively holds.
pub fn converted_view(
    source_file: &Path,
    node_file: &Path,
    target: Target,
    kind: ServerKind,
) -> Result<Keyspace, String> {
    let bytes =
        std::fs::read(source_file).map_err(|e| format!("{}: {e}", source_file.display()))?;
    let source =
        rdb_reader::read_keyspace(&bytes).map_err(|e| format!("{}: {e}", source_file.display()))?;
    let mut want = server_view(&source, target, kind);
    let stored_types = stream_types(node_file)?;
    for (&db, d) in &mut want.dbs {
        for e in &mut d.entries {
            // The servers' "no expiry" marker: loaded, and exported, as none.
            if e.expire_at_ms == Some(-1) {
                e.expire_at_ms = None;
            }
            let Value::Stream(s) = &mut e.value else {
                continue;
            };
            let stored = stored_types
                .get(&(u64::from(db), e.key.to_vec()))
                .copied()
                .ok_or_else(|| format!("stream {:?} of db {db} not in the file", e.key))?;
            let orig = source
                .dbs
                .get(&db)
                .and_then(|d| d.entries.iter().find(|x| x.key == e.key))
                .map(|x| &x.value);
            let Some(Value::Stream(orig)) = orig else {
                return Err(format!("stream {:?} of db {db} not in the source", e.key));
            };
            **s = (**orig).clone();
            stream_as_written(s, stored);
            s.length = orig.length;
            stream_as_loaded(s, stored, kind);
        }
    }
    Ok(want)
}

/// What our reader reads back from `node_file`, the conversion of `source_file` for `target`
/// ([`convert_one_node`]): [`converted_view`] as Redis 6.2 reports it, since neither our reader
/// nor Redis 6.2 derives anything a stream's stored type lacks.
pub fn converted_read_back(
    source_file: &Path,
    node_file: &Path,
    target: Target,
) -> Result<Keyspace, String> {
    converted_view(source_file, node_file, target, ServerKind::Redislite62)
}

/// Drops the keys whose expiry is before `now_ms` (as a primary does while loading a file),
/// and the databases left empty.
pub fn drop_expired(ks: &mut Keyspace, now_ms: i64) {
    for d in ks.dbs.values_mut() {
        d.entries
            .retain(|e| e.expire_at_ms.is_none_or(|t| t >= now_ms));
    }
    ks.dbs.retain(|_, d| !d.entries.is_empty());
}

/// Sorts every database's entries by key (for files whose key order is not the input's:
/// grouped by slot, or read from an arbitrary file).
pub fn sort_entries(ks: &mut Keyspace) {
    for d in ks.dbs.values_mut() {
        d.entries.sort_by(|a, b| a.key.cmp(&b.key));
    }
}

/// Panics, naming `target` and the first difference (functions, module AUX, the set of
/// databases, a key count, an entry), unless `got` equals `want`.
pub fn assert_same_keyspace(got: &Keyspace, want: &Keyspace, target: Target) {
    assert_eq!(got.functions, want.functions, "{target}: functions");
    assert_eq!(got.module_aux, want.module_aux, "{target}: module aux");
    assert_eq!(
        got.dbs.keys().collect::<Vec<_>>(),
        want.dbs.keys().collect::<Vec<_>>(),
        "{target}: databases"
    );
    for (db, d) in &want.dbs {
        let g = &got.dbs[db];
        assert_eq!(
            g.entries.len(),
            d.entries.len(),
            "{target}: db {db} key count"
        );
        for (x, y) in g.entries.iter().zip(&d.entries) {
            assert_eq!(
                x,
                y,
                "{target}: db {db} key {:?}",
                String::from_utf8_lossy(&y.key)
            );
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rdb_model::Entry;

    #[test]
    fn module_aux_after_data_goes_last() {
        let aux = |when| ModuleAux {
            module_id: 1,
            when,
            raw: Bytes::from_static(&[0]),
        };
        let mut ks = Keyspace {
            module_aux: vec![aux(2), aux(1)],
            ..Keyspace::default()
        };
        ks.db_mut(0)
            .entries
            .push(Entry::new("k", Value::List(vec![])));
        let want = expected(&ks, Target::ALL[0]);
        assert_eq!(want.module_aux, vec![aux(1), aux(2)]);
        assert!(
            want.dbs.is_empty(),
            "empty values and databases are dropped"
        );
    }

    #[test]
    fn distinct_keeps_count_and_order() {
        let v = ["a", "b", "a", "a"].map(|s| Bytes::from(s.as_bytes().to_vec()));
        let d = distinct(v.to_vec());
        let d: Vec<&[u8]> = d.iter().map(|m| &m[..]).collect();
        assert_eq!(d, [&b"a"[..], b"b", b"a#2", b"a#3"]);
    }

    #[test]
    fn zset_order_is_by_score_then_member() {
        let mut ks = Keyspace::default();
        let z = vec![
            (Bytes::from_static(b"b"), 1.0),
            (Bytes::from_static(b"a"), 1.0),
            (Bytes::from_static(b"c"), -0.5),
        ];
        ks.db_mut(0)
            .entries
            .push(Entry::new("z", Value::SortedSet(z)));
        let got = canonical(ks);
        let Value::SortedSet(z) = &got.dbs[&0].entries[0].value else {
            unreachable!()
        };
        let members: Vec<&[u8]> = z.iter().map(|m| &m.0[..]).collect();
        assert_eq!(members, [&b"c"[..], b"a", b"b"]);
    }
}
