//! Helpers shared by the writer's integration tests: what a keyspace must read back as after
//! a trip through a file for a target, and a canonical order for comparing.

#![allow(dead_code)]

use std::cmp::Ordering;

use rdb_model::{Keyspace, StreamId, Value};
use rdb_writer::{is_empty_value, Target};

/// A fixed `ctime` for reproducible files.
pub const CTIME: i64 = 1_700_000_000;

/// Sorts what encodings may reorder: set members, hash fields, zset members (by score, then
/// member). Lists, streams and everything else keep their order. AUX fields are cleared
/// (the writer writes its own).
pub fn canonical(mut ks: Keyspace) -> Keyspace {
    ks.aux.clear();
    for db in ks.dbs.values_mut() {
        for e in &mut db.entries {
            match &mut e.value {
                Value::Set(s) => s.sort(),
                Value::Hash(h) => h.sort_by(|a, b| a.field.cmp(&b.field)),
                Value::SortedSet(z) => z.sort_by(|a, b| {
                    a.1.partial_cmp(&b.1)
                        .unwrap_or(Ordering::Equal)
                        .then_with(|| a.0.cmp(&b.0))
                }),
                _ => {}
            }
        }
    }
    ks
}

/// What `ks` must read back as from a file written for `target` (with `drop_unsupported`
/// when it has field TTLs the target cannot hold), in canonical order.
pub fn expected(ks: &Keyspace, target: Target) -> Keyspace {
    let mut ks = ks.clone();
    let version = match target.stream_type().0 {
        15 => 1,
        19 => 2,
        _ => 3,
    };
    if !target.supports_functions() {
        ks.functions.clear();
    }
    for db in ks.dbs.values_mut() {
        db.entries.retain(|e| !is_empty_value(&e.value));
        for e in &mut db.entries {
            match &mut e.value {
                Value::Hash(h) if target.field_ttl_format().is_none() => {
                    for f in h.iter_mut() {
                        f.expire_at_ms = None;
                    }
                }
                Value::Stream(s) => {
                    s.length = s.entries.len() as u64;
                    if version == 1 {
                        s.first_id = None;
                        s.max_deleted_id = None;
                        s.entries_added = None;
                    } else {
                        let first = s.entries.first().map(|e| e.id).unwrap_or_default();
                        s.first_id = Some(s.first_id.unwrap_or(first));
                        s.max_deleted_id = Some(s.max_deleted_id.unwrap_or(StreamId::default()));
                        s.entries_added = Some(s.entries_added.unwrap_or(s.length));
                    }
                    for g in &mut s.groups {
                        g.entries_read = if version == 1 {
                            None
                        } else {
                            g.entries_read.filter(|&v| v >= 0)
                        };
                        for c in &mut g.consumers {
                            c.active_time_ms = if version == 3 {
                                Some(c.active_time_ms.unwrap_or(c.seen_time_ms))
                            } else {
                                None
                            };
                        }
                    }
                }
                _ => {}
            }
        }
    }
    ks.dbs.retain(|_, d| !d.entries.is_empty());
    canonical(ks)
}
