//! Seeded keyspace generators for tests and benches.
//!
//! Every generator takes a key count and a seed and is deterministic (a fixed-seed
//! [`StdRng`]): the same arguments give the same [`Keyspace`]. Keys go to db 0. Expiries are
//! whole seconds in the far future (year 2100+), so servers keep the keys and even a server
//! without `PEXPIRETIME` reports them exactly.
//!
//! - [`small_strings`]: many small string keys (ints and short text).
//! - [`mixed`]: every type and every encoding a writer chooses between (int / raw / LZF
//!   strings; small and multi-node lists; intset / listpack / hashtable sets; listpack and
//!   skiplist zsets with special scores; small and big hashes; streams with consumer groups,
//!   PELs and deleted-entry metadata), about 6% of keys expiring, strings of 100–2000
//!   semi-compressible bytes. No hash field TTLs, module values or LRU/LFU data (so every key
//!   can be compared through a server's commands); see [`field_ttl_hashes`].
//! - [`big_values`]: string keys of 4–64 KiB semi-compressible bytes.
//! - [`field_ttl_hashes`]: hashes whose fields have TTLs (Redis 7.4+ / Valkey 9.0+ only).

use std::collections::HashSet;

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use rdb_model::{
    Bytes, Consumer, ConsumerGroup, Entry, HashField, Keyspace, PendingEntry, Stream, StreamEntry,
    StreamId, Value,
};

/// 2100-01-01T00:00:00Z in Unix ms: the base of generated expiries.
pub const EXPIRE_BASE_MS: i64 = 4_102_444_800_000;

/// Fraction of keys of [`mixed`] that get an expiry.
pub const MIXED_EXPIRING: f64 = 0.06;

const WORDS: &[&[u8]] = &[
    b"user:",
    b"session",
    b"id=",
    b"hello",
    b"world",
    b"\"name\":",
    b"1234",
    b", ",
    b"true",
    b"{\"k\":",
    b"redis",
    b"value",
    b"valkey",
    b"cache",
    b"token",
];

/// `len` semi-compressible bytes: words from a small vocabulary mixed with random bytes
/// (LZF typically saves 30–60%).
pub fn semi_compressible(rng: &mut impl Rng, len: usize) -> Vec<u8> {
    let mut v = Vec::with_capacity(len + 16);
    while v.len() < len {
        if rng.random_bool(0.7) {
            v.extend_from_slice(WORDS[rng.random_range(0..WORDS.len())]);
        } else {
            v.push(rng.random());
        }
    }
    v.truncate(len);
    v
}

/// A whole-second expiry after 2100.
fn expiry(rng: &mut impl Rng) -> i64 {
    EXPIRE_BASE_MS + rng.random_range(0..100_000_000i64) * 1000
}

fn b(v: impl Into<Vec<u8>>) -> Bytes {
    Bytes::from(v.into())
}

/// A short printable word of `1..=max` bytes.
fn word(rng: &mut impl Rng, max: usize) -> Vec<u8> {
    let len = rng.random_range(1..=max);
    (0..len).map(|_| rng.random_range(b'a'..=b'z')).collect()
}

/// Strings that must survive exactly: empty, non-canonical numbers, binary, edge ints.
const TRICKY: &[&[u8]] = &[
    b"",
    b"007",
    b"-0",
    b"+1",
    b" 1",
    b"1 ",
    b"0",
    b"-1",
    b"127",
    b"-128",
    b"32768",
    b"2147483647",
    b"-2147483648",
    b"2147483648",
    b"9223372036854775807",
    b"-9223372036854775808",
    b"9223372036854775808",
    b"12345678901",
    b"\x00\xff\x01",
    b"1.5",
    b"1e3",
    b"nan",
    b"inf",
];

/// A list/hash element: ints, words, tricky strings, sometimes longer text.
fn element(rng: &mut impl Rng) -> Vec<u8> {
    match rng.random_range(0..10) {
        0..=2 => rng
            .random_range(-100_000i64..100_000)
            .to_string()
            .into_bytes(),
        3..=6 => word(rng, 12),
        7 => TRICKY[rng.random_range(0..TRICKY.len())].to_vec(),
        8 => {
            let n = rng.random_range(20..60);
            semi_compressible(rng, n)
        }
        _ => rng.random::<i64>().to_string().into_bytes(),
    }
}

/// `n` distinct byte strings made by `f` (retries on collisions, in generation order).
fn distinct(rng: &mut StdRng, n: usize, mut f: impl FnMut(&mut StdRng) -> Vec<u8>) -> Vec<Bytes> {
    let mut seen = HashSet::with_capacity(n);
    let mut out = Vec::with_capacity(n);
    let mut attempts = 0usize;
    while out.len() < n && attempts < n * 20 + 100 {
        attempts += 1;
        let v = f(rng);
        if seen.insert(v.clone()) {
            out.push(b(v));
        }
    }
    out
}

/// A zset score: integers, fractions and the special values a writer must keep exact.
fn score(rng: &mut impl Rng) -> f64 {
    match rng.random_range(0..12) {
        0..=3 => rng.random_range(-1000i64..1000) as f64,
        4..=6 => rng.random_range(-1000.0..1000.0),
        7 => [f64::INFINITY, f64::NEG_INFINITY][rng.random_range(0..2)],
        8 => [1e300, -1e300, 5e-324, 1e-7, 0.1, -0.0][rng.random_range(0..6)],
        9 => [4611686018427387904.0, -4611686018427387904.0, 9.3e18, 1e19][rng.random_range(0..4)],
        10 => rng.random::<f64>() * 1e15,
        _ => f64::from_bits(rng.random::<u64>() & !(0x7ff << 52) | (0x3ff << 52)),
    }
}

fn zset(rng: &mut StdRng, n: usize, long_members: bool) -> Value {
    let members = distinct(rng, n, |r| {
        if long_members && r.random_bool(0.3) {
            {
                let n = r.random_range(65..200);
                semi_compressible(r, n)
            }
        } else {
            element(r)
        }
    });
    Value::SortedSet(members.into_iter().map(|m| (m, score(rng))).collect())
}

fn hash(rng: &mut StdRng, n: usize, long_values: bool) -> Value {
    let fields = distinct(rng, n, |r| {
        let mut f = b"f:".to_vec();
        f.extend_from_slice(&element(r));
        f
    });
    Value::Hash(
        fields
            .into_iter()
            .map(|field| HashField {
                field,
                value: b(if long_values && rng.random_bool(0.5) {
                    {
                        let n = rng.random_range(65..400);
                        semi_compressible(rng, n)
                    }
                } else {
                    element(rng)
                }),
                expire_at_ms: None,
            })
            .collect(),
    )
}

/// A stream of `n` live entries as `XADD`/`XDEL` leave it: some generated IDs were deleted
/// (so `max_deleted_id` and `entries_added` say so), most entries share their field names
/// (SAMEFIELDS), and with `groups` consumer groups whose PEL entries each belong to one
/// consumer.
pub fn stream(rng: &mut StdRng, n: usize, groups: usize) -> Stream {
    let mut ms: u64 = 1_700_000_000_000 + rng.random_range(0..1_000_000_000);
    let mut seq: u64 = 0;
    let mut entries = Vec::with_capacity(n);
    let mut added: u64 = 0;
    let mut max_deleted = StreamId::default();
    let mut last = StreamId::default();
    let common: Vec<Bytes> = vec![b("name"), b("value"), b("n")];
    while entries.len() < n {
        if rng.random_bool(0.5) {
            ms += rng.random_range(1..5);
            seq = rng.random_range(0..3);
        } else {
            seq += 1;
        }
        let id = StreamId::new(ms, seq);
        added += 1;
        last = id;
        if rng.random_bool(0.1) {
            max_deleted = id;
            continue;
        }
        let fields = if rng.random_bool(0.8) {
            common
                .iter()
                .map(|f| (f.clone(), b(element(rng))))
                .collect()
        } else {
            let k = rng.random_range(1..4);
            let names = distinct(rng, k, |r| word(r, 8));
            names.into_iter().map(|f| (f, b(element(rng)))).collect()
        };
        entries.push(StreamEntry { id, fields });
    }
    // Sometimes the newest entries were deleted too.
    if rng.random_bool(0.2) {
        ms += 1;
        last = StreamId::new(ms, 0);
        max_deleted = last;
        added += 1;
    }
    let live: Vec<StreamId> = entries.iter().map(|e: &StreamEntry| e.id).collect();
    let mut gs = Vec::with_capacity(groups);
    for g in 0..groups {
        let delivered = if live.is_empty() {
            0
        } else {
            rng.random_range(0..=live.len())
        };
        let last_delivered = match delivered {
            0 => StreamId::default(),
            d => live[d - 1],
        };
        let nconsumers = rng.random_range(1..4);
        let mut consumers: Vec<Consumer> = (0..nconsumers)
            .map(|c| {
                let seen = 1_700_000_000_000 + rng.random_range(0..1_000_000i64);
                Consumer {
                    name: b(format!("consumer-{c}")),
                    seen_time_ms: seen,
                    active_time_ms: match rng.random_range(0..3) {
                        0 => None,
                        1 => Some(-1),
                        _ => Some(seen - rng.random_range(0..1000)),
                    },
                    pel: Vec::new(),
                }
            })
            .collect();
        let mut pel = Vec::new();
        for &id in &live[..delivered] {
            if rng.random_bool(0.3) {
                pel.push(PendingEntry {
                    id,
                    delivery_time_ms: 1_700_000_000_000 + rng.random_range(0..1_000_000i64),
                    delivery_count: rng.random_range(1..5),
                });
                let c = rng.random_range(0..consumers.len());
                consumers[c].pel.push(id);
            }
        }
        gs.push(ConsumerGroup {
            name: b(format!("group-{g}")),
            last_delivered_id: last_delivered,
            entries_read: rng.random_bool(0.7).then_some(delivered as i64),
            pel,
            consumers,
        });
    }
    Stream {
        length: entries.len() as u64,
        first_id: Some(entries.first().map(|e| e.id).unwrap_or_default()),
        max_deleted_id: Some(max_deleted),
        entries_added: Some(added),
        last_id: last,
        entries,
        groups: gs,
    }
}

/// The shapes [`mixed`] cycles through first (so even a small keyspace has all of them).
const SHAPES: usize = 20;

fn mixed_value(rng: &mut StdRng, shape: usize) -> Value {
    match shape {
        0 => Value::String(b(rng.random_range(-2_000_000i64..2_000_000).to_string())),
        1 => Value::String(b(word(rng, 20))),
        2 => Value::String(b({
            let n = rng.random_range(100..=2000);
            semi_compressible(rng, n)
        })),
        3 => Value::String(b(TRICKY[rng.random_range(0..TRICKY.len())].to_vec())),
        4 => {
            let n = rng.random_range(1..=20);
            Value::List((0..n).map(|_| b(element(rng))).collect())
        }
        5 => {
            let n = rng.random_range(500..=3000);
            Value::List((0..n).map(|_| b(element(rng))).collect())
        }
        6 => {
            let n = rng.random_range(1..=512);
            Value::Set(distinct(rng, n, |r| match r.random_range(0..8) {
                0 => r.random::<i64>().to_string().into_bytes(),
                1 => r
                    .random_range(i64::from(i32::MIN)..i64::from(i32::MAX))
                    .to_string()
                    .into_bytes(),
                _ => r.random_range(-40_000i64..40_000).to_string().into_bytes(),
            }))
        }
        7 => {
            let n = rng.random_range(1..=128);
            Value::Set(distinct(rng, n, |r| word(r, 16)))
        }
        8 => {
            let n = rng.random_range(129..=600);
            Value::Set(distinct(rng, n, element))
        }
        9 => {
            let n = rng.random_range(513..=900);
            Value::Set(distinct(rng, n, |r| {
                r.random_range(-1_000_000i64..1_000_000)
                    .to_string()
                    .into_bytes()
            }))
        }
        10 => {
            let n = rng.random_range(1..=20);
            Value::Set(distinct(rng, n, |r| {
                let n = r.random_range(1..120);
                semi_compressible(r, n)
            }))
        }
        11 => {
            let n = rng.random_range(1..=128);
            zset(rng, n, false)
        }
        12 => {
            let n = rng.random_range(129..=400);
            zset(rng, n, false)
        }
        13 => {
            let n = rng.random_range(1..=20);
            zset(rng, n, true)
        }
        14 => {
            let n = rng.random_range(1..=60);
            hash(rng, n, false)
        }
        15 => {
            let n = rng.random_range(513..=800);
            hash(rng, n, false)
        }
        16 => {
            let n = rng.random_range(1..=10);
            hash(rng, n, true)
        }
        17 => {
            let n = rng.random_range(1..=20);
            let g = rng.random_range(0..2);
            Value::Stream(Box::new(stream(rng, n, g)))
        }
        18 => {
            let n = rng.random_range(150..=600);
            let g = rng.random_range(1..=2);
            Value::Stream(Box::new(stream(rng, n, g)))
        }
        _ => {
            // A stream whose entries were all deleted: no entries, but metadata and a group.
            let mut s = stream(rng, 3, 0);
            let last = s.last_id;
            s.entries.clear();
            s.length = 0;
            s.first_id = Some(StreamId::default());
            s.max_deleted_id = Some(last);
            s.groups.push(ConsumerGroup {
                name: b("idle"),
                last_delivered_id: last,
                entries_read: None,
                pel: Vec::new(),
                consumers: Vec::new(),
            });
            Value::Stream(Box::new(s))
        }
    }
}

/// A random shape: mostly strings (most of them 100–2000 semi-compressible bytes) and small
/// collections, some big ones and streams.
fn random_shape(rng: &mut impl Rng) -> usize {
    match rng.random_range(0..100) {
        0..=33 => 2,
        34..=37 => 0,
        38..=41 => 1,
        42..=44 => 3,
        45..=54 => 4,
        55..=56 => 5,
        57..=62 => 6,
        63..=68 => 7,
        69..=70 => 8,
        71 => 9,
        72..=74 => 10,
        75..=80 => 11,
        81..=82 => 12,
        83..=84 => 13,
        85..=91 => 14,
        92 => 15,
        93..=94 => 16,
        95..=97 => 17,
        98 => 18,
        _ => 19,
    }
}

/// `n` keys of every type and encoding (see the module docs); db 0.
pub fn mixed(n: usize, seed: u64) -> Keyspace {
    let mut rng = StdRng::seed_from_u64(seed);
    let mut ks = Keyspace::default();
    let db = ks.db_mut(0);
    for i in 0..n {
        let shape = if i < SHAPES {
            i
        } else {
            random_shape(&mut rng)
        };
        let value = mixed_value(&mut rng, shape);
        let key = match rng.random_range(0..20) {
            0 => format!("bin\x00\u{7f}key:{i}").into_bytes(),
            1 => format!("{{tag{}}}:mixed:{i}", i % 7).into_bytes(),
            _ => format!("mixed:{shape}:{i}").into_bytes(),
        };
        let mut e = Entry::new(key, value);
        if rng.random_bool(MIXED_EXPIRING) {
            e.expire_at_ms = Some(expiry(&mut rng));
        }
        db.entries.push(e);
    }
    ks
}

/// `n` small string keys (`key:0000000042`): ints and short text, 5% expiring; db 0.
pub fn small_strings(n: usize, seed: u64) -> Keyspace {
    let mut rng = StdRng::seed_from_u64(seed);
    let mut ks = Keyspace::default();
    let db = ks.db_mut(0);
    for i in 0..n {
        let value = if rng.random_bool(0.3) {
            rng.random_range(0..1_000_000_000i64)
                .to_string()
                .into_bytes()
        } else {
            let len = rng.random_range(1..=64);
            semi_compressible(&mut rng, len)
        };
        let mut e = Entry::new(format!("key:{i:010}").into_bytes(), Value::String(b(value)));
        if rng.random_bool(0.05) {
            e.expire_at_ms = Some(expiry(&mut rng));
        }
        db.entries.push(e);
    }
    ks
}

/// `n` string keys of 4–64 KiB semi-compressible bytes; db 0.
pub fn big_values(n: usize, seed: u64) -> Keyspace {
    let mut rng = StdRng::seed_from_u64(seed);
    let mut ks = Keyspace::default();
    let db = ks.db_mut(0);
    for i in 0..n {
        let len = rng.random_range(4096..=65536);
        let value = semi_compressible(&mut rng, len);
        db.entries.push(Entry::new(
            format!("big:{i:08}").into_bytes(),
            Value::String(b(value)),
        ));
    }
    ks
}

/// `n` hashes where some fields carry TTLs (whole seconds after 2100): small ones (listpack
/// candidates) and big ones (> 512 fields or long values); db 0.
pub fn field_ttl_hashes(n: usize, seed: u64) -> Keyspace {
    let mut rng = StdRng::seed_from_u64(seed);
    let mut ks = Keyspace::default();
    let db = ks.db_mut(0);
    for i in 0..n {
        let size = if i % 4 == 3 {
            rng.random_range(513..=700)
        } else {
            rng.random_range(1..=40)
        };
        let Value::Hash(mut fields) = hash(&mut rng, size, i % 5 == 4) else {
            continue;
        };
        for f in &mut fields {
            if rng.random_bool(0.4) {
                f.expire_at_ms = Some(expiry(&mut rng));
            }
        }
        if let Some(f) = fields.first_mut() {
            f.expire_at_ms.get_or_insert(EXPIRE_BASE_MS + 1000);
        }
        db.entries.push(Entry::new(
            format!("hfe:{i}").into_bytes(),
            Value::Hash(fields),
        ));
    }
    ks
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn deterministic_and_sized() {
        assert_eq!(mixed(60, 7), mixed(60, 7));
        assert_ne!(mixed(60, 7), mixed(60, 8));
        assert_eq!(mixed(60, 7).key_count(), 60);
        assert_eq!(small_strings(100, 1).key_count(), 100);
        let big = big_values(5, 3);
        for e in &big.dbs[&0].entries {
            let Value::String(s) = &e.value else {
                panic!("not a string")
            };
            assert!((4096..=65536).contains(&s.len()));
        }
        let h = field_ttl_hashes(8, 2);
        assert!(h.dbs[&0].entries.iter().all(
            |e| matches!(&e.value, Value::Hash(f) if f.iter().any(|x| x.expire_at_ms.is_some()))
        ));
    }

    #[test]
    fn streams_are_consistent() {
        let mut rng = StdRng::seed_from_u64(5);
        for _ in 0..50 {
            let s = stream(&mut rng, 40, 2);
            assert!(s.entries.windows(2).all(|w| w[0].id < w[1].id));
            assert!(s.entries.last().is_none_or(|e| e.id <= s.last_id));
            for g in &s.groups {
                let owned: usize = g.consumers.iter().map(|c| c.pel.len()).sum();
                assert_eq!(owned, g.pel.len());
            }
        }
    }
}
