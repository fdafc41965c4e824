//! A keyspace written through the writer's streaming API ([`RdbWriter::begin_list`] …
//! [`RdbWriter::begin_stream`]): every list, set, sorted set, hash (those with field TTLs
//! through [`RdbWriter::begin_hash_with_field_ttls`]) and stream pushed element by element,
//! strings and module values with [`RdbWriter::write_value`]. With a
//! small `collection_buffer` every such key takes the streamed (plain-type, fixed-node)
//! records, which real servers must load as they load [`rdb_writer::write_keyspace`]'s.

use rdb_model::{Keyspace, Stream, Value};
use rdb_writer::{KeyMeta, RdbWriter, Summary, Target, WriteError, WriteResult, WriterBuilder};

/// Writes `ks` (header, MODULE_AUX records, functions, each database, the MODULE_AUX records
/// to load after the data) with the streaming API where a key can take it, as
/// `write_keyspace` writes it without slot information (the builder's `slot_info` is not
/// used): empty collections skipped; function libraries left out when the target has none
/// (`write_keyspace` drops them with `drop_unsupported`, refuses them without); for
/// `valkey-9.0` a `VALKEY080` header when some hash has field TTLs.
pub fn write_streamed(ks: &Keyspace, builder: &WriterBuilder) -> WriteResult<(Vec<u8>, Summary)> {
    match write_with(ks, builder, None) {
        Ok(done) => done,
        Err((e, _)) => Err(e),
    }
}

/// What [`write_miscounted`] saw.
pub struct Miscounted {
    /// The error that ended the miscounted key (from `begin_*`, a push or `end()`); `None`
    /// when the writer took the key (a bug) or failed elsewhere.
    pub key_error: Option<WriteError>,
    /// `finish()` called after the key's error; else the whole write's result.
    pub finished: WriteResult<(Vec<u8>, Summary)>,
}

/// As [`write_streamed`], declaring for one collection key (the `index`-th, modulo their
/// number, of the lists, sets, sorted sets, hashes and streams in write order) one element
/// more (`more`) or one fewer than it holds, then calling `finish()` once that key fails.
/// `None` when the keyspace has no collection key.
pub fn write_miscounted(
    ks: &Keyspace,
    builder: &WriterBuilder,
    index: usize,
    more: bool,
) -> Option<Miscounted> {
    let collections = ks
        .dbs
        .values()
        .flat_map(|d| &d.entries)
        .filter(|e| !rdb_writer::is_empty_value(&e.value) && collection_len(&e.value).is_some())
        .count();
    if collections == 0 {
        return None;
    }
    Some(
        match write_with(ks, builder, Some((index % collections, more))) {
            Ok(finished) => Miscounted {
                key_error: None,
                finished,
            },
            Err((error, Some(w))) => Miscounted {
                key_error: Some(error),
                finished: w.finish(),
            },
            Err((error, None)) => Miscounted {
                key_error: None,
                finished: Err(error),
            },
        },
    )
}

/// The number of elements a streamed collection declares (`None`: not a collection).
fn collection_len(v: &Value) -> Option<usize> {
    match v {
        Value::List(x) => Some(x.len()),
        Value::Set(x) => Some(x.len()),
        Value::SortedSet(x) => Some(x.len()),
        Value::Hash(x) => Some(x.len()),
        Value::Stream(s) => Some(s.entries.len()),
        _ => None,
    }
}

/// The writer left after an error of the miscounted key (`None`: the error came elsewhere).
type Failed = (WriteError, Option<Box<RdbWriter<Vec<u8>>>>);

/// [`write_streamed`], with `miscount` = (collection index, one more) declaring a wrong count.
fn write_with(
    ks: &Keyspace,
    builder: &WriterBuilder,
    miscount: Option<(usize, bool)>,
) -> Result<WriteResult<(Vec<u8>, Summary)>, Failed> {
    let mut b = builder.clone();
    if b.target() == Target::Valkey90 && rdb_writer::has_field_ttls(ks) {
        b = b.field_ttls(true);
    }
    let mut w = b.build(Vec::new());
    let other = |e: WriteError| (e, None);
    w.write_header().map_err(other)?;
    for aux in ks.module_aux.iter().filter(|a| a.when != 2) {
        w.write_module_aux(aux).map_err(other)?;
    }
    if b.target().supports_functions() {
        for f in &ks.functions {
            w.write_function(f).map_err(other)?;
        }
    }
    let mut collection = 0;
    for (&db, d) in &ks.dbs {
        let live: Vec<_> = d
            .entries
            .iter()
            .filter(|e| !rdb_writer::is_empty_value(&e.value))
            .collect();
        if live.is_empty() {
            continue;
        }
        let expires = live.iter().filter(|e| e.expire_at_ms.is_some()).count();
        w.select_db(db, live.len() as u64, expires as u64)
            .map_err(other)?;
        for e in live {
            let delta = match (collection_len(&e.value), miscount) {
                (Some(_), Some((i, more))) if i == collection => Some(more),
                _ => None,
            };
            collection += usize::from(collection_len(&e.value).is_some());
            match push_value(&mut w, &e.key, KeyMeta::of(e), &e.value, delta) {
                Ok(()) => {}
                Err(e) if delta.is_some() => return Err((e, Some(Box::new(w)))),
                Err(e) => return Err(other(e)),
            }
        }
    }
    for aux in ks.module_aux.iter().filter(|a| a.when == 2) {
        w.write_module_aux(aux).map_err(other)?;
    }
    Ok(w.finish())
}

/// Writes one key; a collection declares one element more (`Some(true)`) or one fewer
/// (`Some(false)`) than it holds when `miscount` says so.
fn push_value(
    w: &mut RdbWriter<Vec<u8>>,
    key: &[u8],
    meta: KeyMeta,
    v: &Value,
    miscount: Option<bool>,
) -> WriteResult<()> {
    let n = |len: usize| match miscount {
        None => len as u64,
        Some(true) => len as u64 + 1,
        Some(false) => (len as u64).saturating_sub(1),
    };
    match v {
        Value::List(items) => {
            let mut l = w.begin_list(key, meta, n(items.len()))?;
            items.iter().try_for_each(|e| l.push(e))?;
            l.end()?;
        }
        Value::Set(members) => {
            let mut s = w.begin_set(key, meta, n(members.len()))?;
            members.iter().try_for_each(|m| s.push(m))?;
            s.end()?;
        }
        Value::SortedSet(pairs) => {
            let mut z = w.begin_zset(key, meta, n(pairs.len()))?;
            pairs.iter().try_for_each(|(m, s)| z.push(m, *s))?;
            z.end()?;
        }
        Value::Hash(fields) => {
            let min_expire = fields.iter().filter_map(|f| f.expire_at_ms).min();
            let mut h = match min_expire {
                None => w.begin_hash(key, meta, n(fields.len()))?,
                Some(min) => w.begin_hash_with_field_ttls(key, meta, n(fields.len()), min)?,
            };
            fields
                .iter()
                .try_for_each(|f| h.push_with_expiry(&f.field, &f.value, f.expire_at_ms))?;
            h.end()?;
        }
        Value::Stream(s) => {
            let mut sw = w.begin_stream(key, meta, n(s.entries.len()))?;
            s.entries
                .iter()
                .try_for_each(|e| sw.push(e.id, &e.fields))?;
            let tail = Stream {
                entries: Vec::new(),
                ..Stream::clone(s)
            };
            sw.end(&tail)?;
        }
        other => {
            w.write_value(key, meta, other)?;
        }
    }
    Ok(())
}
