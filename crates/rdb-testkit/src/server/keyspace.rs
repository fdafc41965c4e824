//! Reading a whole keyspace back through a server's own commands, canonical ordering, and
//! readable differences between two keyspaces.

use std::cmp::Ordering;
use std::collections::{BTreeMap, HashSet};
use std::fmt::Debug;

use rdb_model::{
    Bytes, Consumer, ConsumerGroup, Db, Entry, HashField, Keyspace, PendingEntry, Stream,
    StreamEntry, StreamId, Value, ValueType,
};

use super::client::{Client, Resp};

/// Keys per pipelined batch in [`Client::read_keyspace`].
const BATCH: usize = 1000;

/// At most this many differences are listed by [`diff_keyspaces`] (then a summary line).
pub const MAX_DIFFS: usize = 25;

/// Which optional commands the server has.
#[derive(Debug, Clone, Copy)]
struct Caps {
    pexpiretime: bool,
    hpexpiretime: bool,
    function: bool,
}

type R<T> = Result<T, String>;

fn shown(b: &[u8]) -> String {
    const MAX: usize = 60;
    let s = b.get(..MAX).unwrap_or(b).escape_ascii();
    if b.len() > MAX {
        format!("\"{s}\"...({} bytes)", b.len())
    } else {
        format!("\"{s}\"")
    }
}

fn io_err(what: &str, e: std::io::Error) -> String {
    format!("{what}: {e}")
}

fn reply_err(what: &str, r: &Resp) -> String {
    format!("{what}: unexpected reply {}", truncate_debug(r, 300))
}

fn truncate_debug(v: &impl Debug, max: usize) -> String {
    let s = format!("{v:?}");
    if s.len() > max {
        let cut = (0..=max)
            .rev()
            .find(|&i| s.is_char_boundary(i))
            .unwrap_or(0);
        format!("{}...", &s[..cut])
    } else {
        s
    }
}

fn ok(what: &str, r: Resp) -> R<Resp> {
    match r {
        Resp::Error(e) => Err(format!("{what}: server error: {e}")),
        other => Ok(other),
    }
}

fn bytes_of(what: &str, r: &Resp) -> R<Bytes> {
    r.as_bytes()
        .map(Bytes::copy_from_slice)
        .ok_or_else(|| reply_err(what, r))
}

fn take_bytes(what: &str, r: Resp) -> R<Bytes> {
    match r {
        Resp::Bulk(Some(b)) => Ok(Bytes::from(b)),
        Resp::Simple(s) => Ok(Bytes::from(s.into_bytes())),
        other => Err(reply_err(what, &other)),
    }
}

fn take_array(what: &str, r: Resp) -> R<Vec<Resp>> {
    match r {
        Resp::Array(Some(a)) => Ok(a),
        other => Err(reply_err(what, &other)),
    }
}

fn int_of(what: &str, r: &Resp) -> R<i64> {
    r.as_int().ok_or_else(|| reply_err(what, r))
}

fn id_of(what: &str, r: &Resp) -> R<StreamId> {
    r.as_str()
        .ok_or_else(|| reply_err(what, r))?
        .parse()
        .map_err(|e| format!("{what}: {e}"))
}

/// A RESP2 flat `[name, value, name, value, ...]` array viewed as a lookup.
struct FlatMap<'a>(Vec<(&'a [u8], &'a Resp)>);

impl<'a> FlatMap<'a> {
    fn new(what: &str, r: &'a Resp) -> R<Self> {
        let a = r.as_array().ok_or_else(|| reply_err(what, r))?;
        let mut pairs = Vec::with_capacity(a.len() / 2);
        for c in a.chunks(2) {
            match c {
                [k, v] => pairs.push((k.as_bytes().ok_or_else(|| reply_err(what, r))?, v)),
                _ => return Err(format!("{what}: odd-length key/value array")),
            }
        }
        Ok(FlatMap(pairs))
    }

    fn get(&self, name: &str) -> Option<&'a Resp> {
        self.0
            .iter()
            .find(|(k, _)| *k == name.as_bytes())
            .map(|(_, v)| *v)
    }

    fn req(&self, what: &str, name: &str) -> R<&'a Resp> {
        self.get(name)
            .ok_or_else(|| format!("{what}: field {name:?} missing"))
    }
}

/// Rounds Unix ms to the nearest whole second (the 6.2 `TIME + PTTL` expiry estimate).
fn round_to_second(ms: i64) -> i64 {
    ms.checked_add(500)
        .map(|x| x.div_euclid(1000) * 1000)
        .unwrap_or(ms)
}

fn cmd(parts: &[&[u8]]) -> Vec<Vec<u8>> {
    parts.iter().map(|p| p.to_vec()).collect()
}

impl Client {
    fn caps(&mut self) -> R<Caps> {
        let r = self
            .cmd(&["COMMAND", "INFO", "pexpiretime", "hpexpiretime", "function"])
            .map_err(|e| io_err("COMMAND INFO", e))?;
        let r = ok("COMMAND INFO", r)?;
        let a = r.as_array().ok_or_else(|| reply_err("COMMAND INFO", &r))?;
        let has = |i: usize| a.get(i).is_some_and(|x| !x.is_null());
        Ok(Caps {
            pexpiretime: has(0),
            hpexpiretime: has(1),
            function: has(2),
        })
    }

    /// Reads every key of every database back through the server's own commands.
    ///
    /// * databases come from `INFO keyspace`; keys from a bounded `SCAN 0 COUNT 1000` loop;
    /// * per key `TYPE`, the expiry, and the value: `GET`, `LRANGE 0 -1`, `SMEMBERS`,
    ///   `ZRANGE 0 -1 WITHSCORES` (scores parsed with Rust's `f64` parser: `inf`/`-inf` work),
    ///   `HGETALL` (+ `HPEXPIRETIME` per field when the server has it, Redis 7.4+), and for
    ///   streams `XRANGE key - +` (all live entries) plus `XINFO STREAM key FULL COUNT 0`
    ///   (metadata, groups, PELs, consumers);
    /// * expiries: `PEXPIRETIME` (exact) on 7.0+. Older servers (6.2) have no such command,
    ///   so the expiry is `TIME + PTTL` **rounded to the whole second** (as `testdata/FORMAT.md`
    ///   does): exact only for expiries set to whole seconds;
    /// * function libraries (7.0+) from `FUNCTION LIST WITHCODE`.
    ///
    /// Commands are pipelined per batch of 1000 keys. The result is in canonical form
    /// ([`canonicalize`]); AUX fields and LRU/LFU data are not read (left empty/`None`).
    /// Keys that vanish while being read (expired) are left out. A module-typed key is an error.
    /// The connection is back on db 0 afterwards.
    pub fn read_keyspace(&mut self) -> Result<Keyspace, String> {
        let caps = self.caps()?;
        let mut ks = Keyspace::default();
        if caps.function {
            ks.functions = self.read_functions()?;
        }
        let info = self
            .info("keyspace")
            .map_err(|e| io_err("INFO keyspace", e))?;
        for (n, expected_keys) in super::client::keyspace_key_counts(&info)? {
            let db = self.read_db(n, expected_keys, caps)?;
            if !db.entries.is_empty() {
                ks.dbs.insert(n, db);
            }
        }
        ok(
            "SELECT 0",
            self.cmd(&["SELECT", "0"])
                .map_err(|e| io_err("SELECT", e))?,
        )?;
        canonicalize(&mut ks);
        Ok(ks)
    }

    fn read_functions(&mut self) -> R<Vec<Bytes>> {
        let what = "FUNCTION LIST WITHCODE";
        let r = self
            .cmd(&["FUNCTION", "LIST", "WITHCODE"])
            .map_err(|e| io_err(what, e))?;
        let libs = take_array(what, ok(what, r)?)?;
        let mut out = Vec::with_capacity(libs.len());
        for lib in &libs {
            let m = FlatMap::new(what, lib)?;
            out.push(bytes_of(what, m.req(what, "library_code")?)?);
        }
        Ok(out)
    }

    fn scan_keys(&mut self, db: u32, expected: u64) -> R<Vec<Vec<u8>>> {
        let what = format!("SCAN db{db}");
        // Every SCAN call makes progress; this bound is far above what a healthy table needs.
        let max_calls = 10_000u64.saturating_add(expected);
        let mut cursor = b"0".to_vec();
        let mut seen = HashSet::new();
        let mut keys = Vec::new();
        for _ in 0..max_calls {
            let r = self
                .command(&[b"SCAN", &cursor, b"COUNT", b"1000"])
                .map_err(|e| io_err(&what, e))?;
            let mut parts = take_array(&what, ok(&what, r)?)?.into_iter();
            let (Some(next), Some(batch), None) = (parts.next(), parts.next(), parts.next()) else {
                return Err(format!("{what}: reply is not [cursor, keys]"));
            };
            for k in take_array(&what, batch)? {
                let k = take_bytes(&what, k)?.to_vec();
                if seen.insert(k.clone()) {
                    keys.push(k);
                }
            }
            cursor = take_bytes(&what, next)?.to_vec();
            if cursor == b"0" {
                keys.sort();
                return Ok(keys);
            }
        }
        Err(format!("{what}: no end after {max_calls} calls"))
    }

    fn read_db(&mut self, n: u32, expected_keys: u64, caps: Caps) -> R<Db> {
        let r = self
            .cmd(&["SELECT", &n.to_string()])
            .map_err(|e| io_err("SELECT", e))?;
        ok(&format!("SELECT {n}"), r)?;
        let keys = self.scan_keys(n, expected_keys)?;
        let mut db = Db::default();
        for batch in keys.chunks(BATCH) {
            self.read_batch(batch, caps, &mut db.entries)?;
        }
        Ok(db)
    }

    fn read_batch(&mut self, keys: &[Vec<u8>], caps: Caps, out: &mut Vec<Entry>) -> R<()> {
        // 1. TYPE + expiry of every key (+ TIME when expiries come from PTTL).
        let mut cmds = Vec::with_capacity(keys.len() * 2 + 1);
        let expire_cmd: &[u8] = if caps.pexpiretime {
            b"PEXPIRETIME"
        } else {
            b"PTTL"
        };
        for k in keys {
            cmds.push(cmd(&[b"TYPE", k]));
            cmds.push(cmd(&[expire_cmd, k]));
        }
        if !caps.pexpiretime {
            cmds.push(cmd(&[b"TIME"]));
        }
        let replies = self.pipeline(&cmds).map_err(|e| io_err("TYPE/expiry", e))?;
        let now_ms = if caps.pexpiretime {
            0
        } else {
            let t = replies.last().ok_or("TIME: no reply")?;
            let a = t.as_array().ok_or_else(|| reply_err("TIME", t))?;
            match a {
                [s, us] => int_of("TIME", s)? * 1000 + int_of("TIME", us)? / 1000,
                _ => return Err(reply_err("TIME", t)),
            }
        };
        // (key, type, expiry)
        let mut live: Vec<(&[u8], ValueType, Option<i64>)> = Vec::with_capacity(keys.len());
        for (k, pair) in keys.iter().zip(replies.chunks(2)) {
            let [ty, exp] = pair else {
                return Err("TYPE/expiry: missing replies".into());
            };
            let what = format!("TYPE {}", shown(k));
            let ty = ty.as_str().ok_or_else(|| reply_err(&what, ty))?;
            if ty == "none" {
                continue; // vanished (expired) between SCAN and TYPE
            }
            let vt = ValueType::from_name(ty)
                .filter(|t| *t != ValueType::Module)
                .ok_or_else(|| {
                    format!(
                        "key {}: type {ty:?} cannot be read through commands",
                        shown(k)
                    )
                })?;
            let what = format!("{} {}", String::from_utf8_lossy(expire_cmd), shown(k));
            let e = int_of(&what, exp)?;
            let expiry = match e {
                -2 => continue,
                -1 => None,
                e if e < 0 => return Err(reply_err(&what, exp)),
                e if caps.pexpiretime => Some(e),
                e => Some(round_to_second(now_ms.saturating_add(e))),
            };
            live.push((k, vt, expiry));
        }

        // 2. values.
        let mut cmds = Vec::with_capacity(live.len() + 8);
        for (k, vt, _) in &live {
            match vt {
                ValueType::String => cmds.push(cmd(&[b"GET", k])),
                ValueType::List => cmds.push(cmd(&[b"LRANGE", k, b"0", b"-1"])),
                ValueType::Set => cmds.push(cmd(&[b"SMEMBERS", k])),
                ValueType::ZSet => cmds.push(cmd(&[b"ZRANGE", k, b"0", b"-1", b"WITHSCORES"])),
                ValueType::Hash => cmds.push(cmd(&[b"HGETALL", k])),
                ValueType::Stream => {
                    cmds.push(cmd(&[b"XRANGE", k, b"-", b"+"]));
                    cmds.push(cmd(&[b"XINFO", b"STREAM", k, b"FULL", b"COUNT", b"0"]));
                }
                ValueType::Module => {}
            }
        }
        let mut replies = self
            .pipeline(&cmds)
            .map_err(|e| io_err("reading values", e))?
            .into_iter();
        let first_new = out.len();
        for (k, vt, expiry) in live {
            let mut next = || {
                replies
                    .next()
                    .ok_or_else(|| "missing value reply".to_string())
            };
            let key = Bytes::copy_from_slice(k);
            let what = format!("key {}", shown(k));
            let value = match vt {
                ValueType::String => match ok(&what, next()?)? {
                    Resp::Bulk(None) => continue, // vanished
                    r => Value::String(take_bytes(&what, r)?),
                },
                ValueType::List => Value::List(
                    take_array(&what, ok(&what, next()?)?)?
                        .into_iter()
                        .map(|r| take_bytes(&what, r))
                        .collect::<R<_>>()?,
                ),
                ValueType::Set => Value::Set(
                    take_array(&what, ok(&what, next()?)?)?
                        .into_iter()
                        .map(|r| take_bytes(&what, r))
                        .collect::<R<_>>()?,
                ),
                ValueType::ZSet => {
                    let flat = take_array(&what, ok(&what, next()?)?)?;
                    let mut z = Vec::with_capacity(flat.len() / 2);
                    let mut it = flat.into_iter();
                    while let Some(m) = it.next() {
                        let s = it
                            .next()
                            .ok_or_else(|| format!("{what}: odd ZRANGE reply"))?;
                        let st = s.as_str().ok_or_else(|| reply_err(&what, &s))?;
                        let score: f64 = st
                            .parse()
                            .map_err(|_| format!("{what}: bad score {st:?}"))?;
                        z.push((take_bytes(&what, m)?, score));
                    }
                    Value::SortedSet(z)
                }
                ValueType::Hash => {
                    let flat = take_array(&what, ok(&what, next()?)?)?;
                    let mut h = Vec::with_capacity(flat.len() / 2);
                    let mut it = flat.into_iter();
                    while let Some(f) = it.next() {
                        let v = it
                            .next()
                            .ok_or_else(|| format!("{what}: odd HGETALL reply"))?;
                        h.push(HashField {
                            field: take_bytes(&what, f)?,
                            value: take_bytes(&what, v)?,
                            expire_at_ms: None,
                        });
                    }
                    Value::Hash(h)
                }
                ValueType::Stream => {
                    let range = ok(&what, next()?)?;
                    let info = ok(&what, next()?)?;
                    Value::Stream(Box::new(parse_stream(&what, range, &info)?))
                }
                ValueType::Module => unreachable!("filtered above"),
            };
            out.push(Entry {
                key,
                value,
                expire_at_ms: expiry,
                lru_idle_s: None,
                lfu_freq: None,
            });
        }

        // 3. hash field TTLs (7.4+).
        if caps.hpexpiretime {
            let hashes: Vec<usize> = (first_new..out.len())
                .filter(|&i| matches!(&out[i].value, Value::Hash(h) if !h.is_empty()))
                .collect();
            let cmds: Vec<Vec<Vec<u8>>> = hashes
                .iter()
                .map(|&i| {
                    let e = &out[i];
                    let Value::Hash(h) = &e.value else {
                        unreachable!("filtered above")
                    };
                    let mut c = vec![
                        b"HPEXPIRETIME".to_vec(),
                        e.key.to_vec(),
                        b"FIELDS".to_vec(),
                        h.len().to_string().into_bytes(),
                    ];
                    c.extend(h.iter().map(|f| f.field.to_vec()));
                    c
                })
                .collect();
            let replies = self
                .pipeline(&cmds)
                .map_err(|e| io_err("HPEXPIRETIME", e))?;
            for (&i, r) in hashes.iter().zip(replies) {
                let what = format!("HPEXPIRETIME {}", shown(&out[i].key));
                let ttls = take_array(&what, ok(&what, r)?)?;
                let Value::Hash(h) = &mut out[i].value else {
                    unreachable!("filtered above")
                };
                if ttls.len() != h.len() {
                    return Err(format!(
                        "{what}: {} replies for {} fields",
                        ttls.len(),
                        h.len()
                    ));
                }
                for (f, t) in h.iter_mut().zip(&ttls) {
                    let t = int_of(&what, t)?;
                    f.expire_at_ms = (t >= 0).then_some(t);
                }
            }
        }
        Ok(())
    }
}

/// Builds a [`Stream`] from `XRANGE key - +` and `XINFO STREAM key FULL COUNT 0` (RESP2).
fn parse_stream(what: &str, range: Resp, info: &Resp) -> R<Stream> {
    let mut entries = Vec::new();
    for e in take_array(what, range)? {
        let mut parts = take_array(what, e)?.into_iter();
        let (Some(id), Some(fields), None) = (parts.next(), parts.next(), parts.next()) else {
            return Err(format!("{what}: XRANGE entry is not [id, fields]"));
        };
        let id = id_of(what, &id)?;
        let flat = take_array(what, fields)?;
        let mut fv = Vec::with_capacity(flat.len() / 2);
        let mut it = flat.into_iter();
        while let Some(f) = it.next() {
            let v = it.next().ok_or_else(|| format!("{what}: odd field list"))?;
            fv.push((take_bytes(what, f)?, take_bytes(what, v)?));
        }
        entries.push(StreamEntry { id, fields: fv });
    }

    let m = FlatMap::new(what, info)?;
    let opt_id =
        |name: &str| -> R<Option<StreamId>> { m.get(name).map(|r| id_of(what, r)).transpose() };
    let length = int_of(what, m.req(what, "length")?)?;
    let mut stream = Stream {
        entries,
        length: u64::try_from(length).map_err(|_| format!("{what}: negative length"))?,
        last_id: id_of(what, m.req(what, "last-generated-id")?)?,
        first_id: opt_id("recorded-first-entry-id")?,
        max_deleted_id: opt_id("max-deleted-entry-id")?,
        entries_added: m
            .get("entries-added")
            .map(|r| int_of(what, r).map(|v| v.max(0) as u64))
            .transpose()?,
        groups: Vec::new(),
    };
    let groups = m.get("groups").and_then(Resp::as_array).unwrap_or_default();
    for g in groups {
        let gm = FlatMap::new(what, g)?;
        let mut group = ConsumerGroup {
            name: bytes_of(what, gm.req(what, "name")?)?,
            last_delivered_id: id_of(what, gm.req(what, "last-delivered-id")?)?,
            entries_read: match gm.get("entries-read") {
                None | Some(Resp::Bulk(None)) | Some(Resp::Array(None)) => None,
                Some(r) => Some(int_of(what, r)?),
            },
            pel: Vec::new(),
            consumers: Vec::new(),
        };
        for p in gm
            .get("pending")
            .and_then(Resp::as_array)
            .unwrap_or_default()
        {
            match p.as_array() {
                Some([id, _consumer, time, count]) => group.pel.push(PendingEntry {
                    id: id_of(what, id)?,
                    delivery_time_ms: int_of(what, time)?,
                    delivery_count: u64::try_from(int_of(what, count)?)
                        .map_err(|_| format!("{what}: negative delivery count"))?,
                }),
                _ => return Err(reply_err(&format!("{what}: group PEL entry"), p)),
            }
        }
        for c in gm
            .get("consumers")
            .and_then(Resp::as_array)
            .unwrap_or_default()
        {
            let cm = FlatMap::new(what, c)?;
            let mut consumer = Consumer {
                name: bytes_of(what, cm.req(what, "name")?)?,
                seen_time_ms: int_of(what, cm.req(what, "seen-time")?)?,
                active_time_ms: cm.get("active-time").map(|r| int_of(what, r)).transpose()?,
                pel: Vec::new(),
            };
            for p in cm
                .get("pending")
                .and_then(Resp::as_array)
                .unwrap_or_default()
            {
                match p.as_array() {
                    Some([id, ..]) => consumer.pel.push(id_of(what, id)?),
                    _ => return Err(reply_err(&format!("{what}: consumer PEL entry"), p)),
                }
            }
            group.consumers.push(consumer);
        }
        stream.groups.push(group);
    }
    Ok(stream)
}

fn zset_order(a: &(Bytes, f64), b: &(Bytes, f64)) -> Ordering {
    // -0.0 and 0.0 compare equal (the server prints both as "0"); ties by member bytes.
    a.1.partial_cmp(&b.1)
        .unwrap_or(Ordering::Equal)
        .then_with(|| a.0.cmp(&b.0))
}

/// Puts a keyspace into the canonical form [`Client::read_keyspace`] returns, so a model that
/// was written to a file can be compared with `==` to what a server loaded from it:
///
/// * entries of every db sorted by key bytes; empty dbs removed;
/// * set members and hash fields sorted by bytes; sorted-set members by (score, member);
///   stream entries and PELs by ID, groups and consumers by name;
/// * function libraries sorted by their source bytes;
/// * what commands cannot report is dropped: AUX fields, module AUX records, and the
///   per-key LRU idle time / LFU counter (all cleared).
pub fn canonicalize(ks: &mut Keyspace) {
    ks.aux.clear();
    ks.module_aux.clear();
    ks.functions.sort();
    ks.dbs.retain(|_, db| !db.entries.is_empty());
    for db in ks.dbs.values_mut() {
        db.entries.sort_by(|a, b| a.key.cmp(&b.key));
        for e in &mut db.entries {
            e.lru_idle_s = None;
            e.lfu_freq = None;
            canonicalize_value(&mut e.value);
        }
    }
}

fn canonicalize_value(v: &mut Value) {
    match v {
        Value::Set(s) => s.sort(),
        Value::SortedSet(z) => z.sort_by(zset_order),
        Value::Hash(h) => h.sort_by(|a, b| a.field.cmp(&b.field)),
        Value::Stream(s) => {
            s.entries.sort_by_key(|e| e.id);
            s.groups.sort_by(|a, b| a.name.cmp(&b.name));
            for g in &mut s.groups {
                g.pel.sort_by_key(|p| p.id);
                g.consumers.sort_by(|a, b| a.name.cmp(&b.name));
                for c in &mut g.consumers {
                    c.pel.sort();
                }
            }
        }
        Value::String(_) | Value::List(_) | Value::Module(_) => {}
    }
}

fn first_difference<T: PartialEq + Debug>(a: &[T], b: &[T]) -> String {
    let i = a.iter().zip(b).position(|(x, y)| x != y);
    let at = match i {
        Some(i) => format!(
            "; first difference at [{i}]: {} vs {}",
            truncate_debug(&a[i], 200),
            truncate_debug(&b[i], 200)
        ),
        None => String::new(),
    };
    format!("{} vs {} items{at}", a.len(), b.len())
}

fn describe_value_diff(a: &Value, b: &Value) -> String {
    match (a, b) {
        (Value::String(x), Value::String(y)) => format!("string {} vs {}", shown(x), shown(y)),
        (Value::List(x), Value::List(y)) | (Value::Set(x), Value::Set(y)) => first_difference(x, y),
        (Value::SortedSet(x), Value::SortedSet(y)) => first_difference(x, y),
        (Value::Hash(x), Value::Hash(y)) => first_difference(x, y),
        (Value::Stream(x), Value::Stream(y)) => {
            let mut parts = Vec::new();
            macro_rules! field {
                ($f:ident) => {
                    if x.$f != y.$f {
                        parts.push(format!("{} {:?} vs {:?}", stringify!($f), x.$f, y.$f));
                    }
                };
            }
            field!(length);
            field!(last_id);
            field!(first_id);
            field!(max_deleted_id);
            field!(entries_added);
            if x.entries != y.entries {
                parts.push(format!(
                    "entries {}",
                    first_difference(&x.entries, &y.entries)
                ));
            }
            let pair = x.groups.iter().zip(&y.groups).find(|(g, h)| g != h);
            if x.groups.len() != y.groups.len() {
                let names = |gs: &[ConsumerGroup]| -> Vec<String> {
                    gs.iter().map(|g| shown(&g.name)).collect()
                };
                parts.push(format!(
                    "groups {:?} vs {:?}",
                    names(&x.groups),
                    names(&y.groups)
                ));
            } else if let Some((g, h)) = pair {
                let mut gp = Vec::new();
                if g.name != h.name {
                    gp.push(format!("name {} vs {}", shown(&g.name), shown(&h.name)));
                }
                if g.last_delivered_id != h.last_delivered_id {
                    gp.push(format!(
                        "last_delivered_id {} vs {}",
                        g.last_delivered_id, h.last_delivered_id
                    ));
                }
                if g.entries_read != h.entries_read {
                    gp.push(format!(
                        "entries_read {:?} vs {:?}",
                        g.entries_read, h.entries_read
                    ));
                }
                if g.pel != h.pel {
                    gp.push(format!("pel {}", first_difference(&g.pel, &h.pel)));
                }
                if g.consumers != h.consumers {
                    gp.push(format!(
                        "consumers {}",
                        first_difference(&g.consumers, &h.consumers)
                    ));
                }
                parts.push(format!("group {}: {}", shown(&g.name), gp.join("; ")));
            }
            format!("stream: {}", parts.join("; "))
        }
        _ => format!("{} vs {}", truncate_debug(a, 200), truncate_debug(b, 200)),
    }
}

/// Readable differences between two keyspaces (compared in canonical form, see
/// [`canonicalize`]), at most [`MAX_DIFFS`] of them plus a count of the rest. Empty when
/// the canonical forms are equal. `a` is called "left", `b` "right".
pub fn diff_keyspaces(a: &Keyspace, b: &Keyspace) -> Vec<String> {
    let (mut a, mut b) = (a.clone(), b.clone());
    canonicalize(&mut a);
    canonicalize(&mut b);
    let mut diffs = Vec::new();
    if a.functions != b.functions {
        diffs.push(format!(
            "functions: {}",
            first_difference(&a.functions, &b.functions)
        ));
    }
    let all_dbs: BTreeMap<u32, ()> = a.dbs.keys().chain(b.dbs.keys()).map(|&n| (n, ())).collect();
    let empty = Db::default();
    for &n in all_dbs.keys() {
        let da = a.dbs.get(&n).unwrap_or(&empty);
        let db = b.dbs.get(&n).unwrap_or(&empty);
        let (mut i, mut j) = (0, 0);
        while i < da.entries.len() || j < db.entries.len() {
            let ord = match (da.entries.get(i), db.entries.get(j)) {
                (Some(x), Some(y)) => x.key.cmp(&y.key),
                (Some(_), None) => Ordering::Less,
                _ => Ordering::Greater,
            };
            match ord {
                Ordering::Less => {
                    let e = &da.entries[i];
                    diffs.push(format!(
                        "db{n}: key {} ({}) only in left",
                        shown(&e.key),
                        e.value.value_type().name()
                    ));
                    i += 1;
                }
                Ordering::Greater => {
                    let e = &db.entries[j];
                    diffs.push(format!(
                        "db{n}: key {} ({}) only in right",
                        shown(&e.key),
                        e.value.value_type().name()
                    ));
                    j += 1;
                }
                Ordering::Equal => {
                    let (x, y) = (&da.entries[i], &db.entries[j]);
                    let k = shown(&x.key);
                    if x.value.value_type() != y.value.value_type() {
                        diffs.push(format!(
                            "db{n}: key {k}: type {} vs {}",
                            x.value.value_type().name(),
                            y.value.value_type().name()
                        ));
                    } else if x.value != y.value {
                        diffs.push(format!(
                            "db{n}: key {k}: {}",
                            describe_value_diff(&x.value, &y.value)
                        ));
                    }
                    if x.expire_at_ms != y.expire_at_ms {
                        diffs.push(format!(
                            "db{n}: key {k}: expire_at_ms {:?} vs {:?}",
                            x.expire_at_ms, y.expire_at_ms
                        ));
                    }
                    i += 1;
                    j += 1;
                }
            }
        }
    }
    if diffs.len() > MAX_DIFFS {
        let rest = diffs.len() - MAX_DIFFS;
        diffs.truncate(MAX_DIFFS);
        diffs.push(format!("... and {rest} more differences"));
    }
    diffs
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(k: &str, v: Value) -> Entry {
        Entry::new(Bytes::copy_from_slice(k.as_bytes()), v)
    }

    fn b(s: &str) -> Bytes {
        Bytes::copy_from_slice(s.as_bytes())
    }

    #[test]
    fn canonical_order_makes_equal() {
        let mut x = Keyspace::default();
        x.db_mut(0).entries = vec![
            entry("z", Value::Set(vec![b("b"), b("a")])),
            entry(
                "a",
                Value::SortedSet(vec![(b("m"), f64::INFINITY), (b("y"), 1.0), (b("x"), 1.0)]),
            ),
        ];
        x.db_mut(3);
        let mut y = Keyspace::default();
        y.db_mut(0).entries = vec![
            entry(
                "a",
                Value::SortedSet(vec![(b("x"), 1.0), (b("y"), 1.0), (b("m"), f64::INFINITY)]),
            ),
            entry("z", Value::Set(vec![b("a"), b("b")])),
        ];
        assert_ne!(x, y);
        assert!(diff_keyspaces(&x, &y).is_empty());
        canonicalize(&mut x);
        assert_eq!(x, y);
    }

    #[test]
    fn diffs_are_reported() {
        let mut x = Keyspace::default();
        x.db_mut(0).entries = vec![
            entry("s", Value::String(b("one"))),
            entry("l", Value::List(vec![b("1"), b("2")])),
            entry("only-left", Value::String(b(""))),
        ];
        let mut y = x.clone();
        y.db_mut(0).entries[0].value = Value::String(b("two"));
        y.db_mut(0).entries[1].value = Value::List(vec![b("1"), b("3")]);
        y.db_mut(0).entries[1].expire_at_ms = Some(5);
        y.db_mut(0).entries.pop();
        y.db_mut(2).entries.push(entry("h", Value::Hash(vec![])));
        let d = diff_keyspaces(&x, &y);
        assert_eq!(d.len(), 5, "{d:#?}");
        assert!(d.iter().any(|l| l.contains("\"one\" vs \"two\"")), "{d:#?}");
        assert!(
            d.iter().any(|l| l.contains("first difference at [1]")),
            "{d:#?}"
        );
        assert!(
            d.iter().any(|l| l.contains("expire_at_ms None vs Some(5)")),
            "{d:#?}"
        );
        assert!(d
            .iter()
            .any(|l| l.contains("only-left") && l.contains("only in left")));
        assert!(d
            .iter()
            .any(|l| l.starts_with("db2: key \"h\" (hash) only in right")));
    }

    #[test]
    fn diff_list_is_bounded() {
        let mut x = Keyspace::default();
        for i in 0..100 {
            x.db_mut(0)
                .entries
                .push(entry(&format!("k{i}"), Value::String(b("v"))));
        }
        let d = diff_keyspaces(&x, &Keyspace::default());
        assert_eq!(d.len(), MAX_DIFFS + 1);
        assert_eq!(d.last().unwrap(), "... and 75 more differences");
    }

    #[test]
    fn rounding_and_flat_maps() {
        assert_eq!(round_to_second(4_102_444_800_499), 4_102_444_800_000);
        assert_eq!(round_to_second(4_102_444_800_500), 4_102_444_801_000);
        assert_eq!(
            round_to_second(9_223_372_036_853_999_700),
            9_223_372_036_854_000_000
        );
        let r = Resp::Array(Some(vec![
            Resp::Bulk(Some(b"length".to_vec())),
            Resp::Int(3),
        ]));
        let m = FlatMap::new("t", &r).unwrap();
        assert_eq!(m.get("length"), Some(&Resp::Int(3)));
        assert!(m.req("t", "groups").is_err());
    }

    #[test]
    fn shown_escapes() {
        assert_eq!(shown(b"a\x00\xff"), "\"a\\x00\\xff\"");
        assert_eq!(shown(b"plain"), "\"plain\"");
    }
}
