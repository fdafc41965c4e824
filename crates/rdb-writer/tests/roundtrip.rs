//! Round trips: keyspace → file (every target) → `rdb_reader::read_keyspace` → the same
//! keyspace (after the canonical sort of sets, hashes and zsets, and the metadata each stream
//! type carries), and file → keyspace → file gives the same bytes.

mod common;

use common::{assert_same_keyspace, canonical, distinct, expected, CTIME, TRICKY};
use proptest::prelude::*;
use rand::rngs::StdRng;
use rand::SeedableRng;
use rdb_model::{Bytes, Entry, HashField, Keyspace, ModuleAux, ModuleValue, Value};
use rdb_testkit::gen;
use rdb_writer::{has_field_ttls, is_empty_value, write_keyspace, Target, WriterBuilder};

fn builder(target: Target) -> WriterBuilder {
    WriterBuilder::new(target)
        .ctime(CTIME)
        .drop_unsupported(true)
}

fn write(ks: &Keyspace, b: &WriterBuilder) -> (Vec<u8>, rdb_writer::Summary) {
    write_keyspace(ks, Vec::new(), b).unwrap_or_else(|e| panic!("{}: {e}", b.target()))
}

/// A module value (ReJSON-RL v3) whose opcode stream is UINT 5, STRING "abc", EOF.
fn module_value() -> Value {
    Value::Module(ModuleValue {
        module_id: 0x45E2_5238_DF91_2C03,
        raw: Bytes::from_static(&[0x02, 0x05, 0x05, 0x03, b'a', b'b', b'c', 0x00]),
    })
}

/// `mixed` plus what the generator leaves out: LRU/LFU metadata, a module value and
/// MODULE_AUX records, function libraries, empty collections, another database, and hashes
/// with field TTLs.
fn enriched(n: usize, seed: u64) -> Keyspace {
    let mut ks = gen::mixed(n, seed);
    let db0 = ks.db_mut(0);
    for (i, e) in db0.entries.iter_mut().enumerate() {
        match i % 11 {
            3 => e.lru_idle_s = Some(i as u64 * 17),
            5 => e.lfu_freq = Some((i % 256) as u8),
            _ => {}
        }
    }
    db0.entries.push(Entry::new("module-key", module_value()));
    db0.entries
        .push(Entry::new("empty-list", Value::List(vec![])));
    db0.entries
        .push(Entry::new("empty-set", Value::Set(vec![])));
    db0.entries
        .push(Entry::new("empty-zset", Value::SortedSet(vec![])));
    db0.entries
        .push(Entry::new("empty-hash", Value::Hash(vec![])));
    let ttl = gen::field_ttl_hashes(12, seed ^ 0x55);
    ks.db_mut(0)
        .entries
        .extend(ttl.dbs[&0].entries.iter().cloned());
    let other = gen::mixed(40, seed + 1);
    ks.db_mut(3)
        .entries
        .extend(other.dbs[&0].entries.iter().cloned());
    ks.db_mut(7)
        .entries
        .push(Entry::new("only-empty", Value::List(vec![])));
    ks.functions.push(Bytes::from_static(
        b"#!lua name=mylib\nredis.register_function('f', function() return 1 end)",
    ));
    ks.module_aux.push(ModuleAux {
        module_id: 0x45E2_5238_DF91_2C03,
        when: 1,
        raw: Bytes::from_static(&[0x02, 0x07, 0x00]),
    });
    ks.module_aux.push(ModuleAux {
        module_id: 0x45E2_5238_DF91_2C03,
        when: 2,
        raw: Bytes::from_static(&[0x00]),
    });
    ks
}

fn field_ttl_count(ks: &Keyspace) -> u64 {
    ks.dbs
        .values()
        .flat_map(|d| &d.entries)
        .map(|e| match &e.value {
            Value::Hash(h) => h.iter().filter(|f| f.expire_at_ms.is_some()).count() as u64,
            _ => 0,
        })
        .sum()
}

/// Writes `ks` for `target`, reads it back, compares, and checks the rewrite is identical.
fn check_roundtrip(ks: &Keyspace, b: &WriterBuilder) {
    let target = b.target();
    let (bytes, summary) = write(ks, b);
    let back =
        rdb_reader::read_keyspace(&bytes).unwrap_or_else(|e| panic!("{target}: reading back: {e}"));
    let want = expected(ks, target);
    let got = canonical(back.clone());
    assert_same_keyspace(&got, &want, target);
    // Summary agrees with the data.
    let all: Vec<&Entry> = ks.dbs.values().flat_map(|d| &d.entries).collect();
    let live = all.iter().filter(|e| !is_empty_value(&e.value)).count() as u64;
    assert_eq!(summary.keys, live, "{target}: summary keys");
    assert_eq!(summary.skipped_empty, all.len() as u64 - live);
    assert_eq!(summary.bytes, bytes.len() as u64);
    assert_eq!(summary.crc.to_le_bytes(), bytes[bytes.len() - 8..]);
    let dropped = if target.field_ttl_format().is_none() {
        field_ttl_count(ks)
    } else {
        0
    };
    assert_eq!(
        summary.dropped_field_ttls, dropped,
        "{target}: dropped TTLs"
    );
    // Read and written again: byte-identical.
    let (again, _) = write(&back, b);
    if again != bytes {
        let at = again
            .iter()
            .zip(&bytes)
            .position(|(a, b)| a != b)
            .unwrap_or(again.len().min(bytes.len()));
        let lo = at.saturating_sub(40);
        panic!(
            "{target}: rewrite differs ({} vs {} bytes) at {at}:\n{:02x?}\n{:02x?}",
            again.len(),
            bytes.len(),
            &again[lo..(at + 20).min(again.len())],
            &bytes[lo..(at + 20).min(bytes.len())]
        );
    }
}

#[test]
fn mixed_roundtrip_every_target() {
    let ks = enriched(300, 3);
    assert!(has_field_ttls(&ks));
    for target in Target::ALL {
        check_roundtrip(&ks, &builder(target));
    }
}

#[test]
fn roundtrip_without_compression_and_small_nodes() {
    let ks = enriched(120, 9);
    let cfg = rdb_writer::EncodingConfig {
        list_max_listpack_size: 5,
        stream_node_max_entries: 7,
        stream_node_max_bytes: 512,
        ..Default::default()
    };
    for target in [
        Target::Redis62,
        Target::Redis70,
        Target::Redis74,
        Target::Valkey90,
    ] {
        check_roundtrip(&ks, &builder(target).compression(false));
        check_roundtrip(&ks, &builder(target).encoding(cfg));
    }
}

#[test]
fn output_is_deterministic() {
    let ks = enriched(200, 21);
    for target in Target::ALL {
        let b = builder(target);
        let (a, sa) = write(&ks, &b);
        let (c, sc) = write(&ks, &b);
        assert!(a == c, "{target}: two writes differ");
        assert_eq!(sa, sc);
        // ...and actually depends on the data.
        let (d, _) = write(&enriched(200, 22), &b);
        assert!(a != d);
    }
}

#[test]
fn field_ttls_are_an_error_unless_dropped() {
    let ks = gen::field_ttl_hashes(3, 1);
    for target in Target::ALL {
        let r = write_keyspace(&ks, Vec::new(), &WriterBuilder::new(target).ctime(CTIME));
        match (target.field_ttl_format(), r) {
            (Some(_), Ok(_)) => {}
            (None, Err(rdb_writer::WriteError::Unsupported { key, .. })) => {
                assert_eq!(key.key.as_deref(), Some(&b"hfe:0"[..]), "{target}");
            }
            (f, r) => panic!("{target}: {f:?} -> {:?}", r.map(|(_, s)| s)),
        }
    }
    // The error names the db the key was written to, too.
    let mut in_db7 = Keyspace::default();
    in_db7.db_mut(7).entries = ks.dbs[&0].entries.clone();
    let b = WriterBuilder::new(Target::Redis70).ctime(CTIME);
    let e = write_keyspace(&in_db7, Vec::new(), &b).unwrap_err();
    assert!(e.to_string().starts_with("db 7, key \"hfe:0\": "), "{e}");
    // Valkey 9.0 switches to VALKEY080 only when needed.
    let (with, _) = write(&ks, &builder(Target::Valkey90));
    assert_eq!(&with[..9], b"VALKEY080");
    let (without, _) = write(&gen::small_strings(5, 1), &builder(Target::Valkey90));
    assert_eq!(&without[..9], b"REDIS0011");
}

// ----- property tests -----------------------------------------------------------------

fn arb_bytes() -> impl Strategy<Value = Bytes> {
    prop_oneof![
        3 => prop::sample::select(TRICKY).prop_map(Bytes::from_static),
        3 => any::<i64>().prop_map(|v| Bytes::from(v.to_string())),
        2 => (-300i64..300).prop_map(|v| Bytes::from(v.to_string())),
        4 => prop::collection::vec(any::<u8>(), 0..24).prop_map(Bytes::from),
        1 => (60usize..70).prop_map(|n| Bytes::from(vec![b'z'; n])),
        1 => prop::collection::vec(b'a'..=b'd', 30..140).prop_map(Bytes::from),
    ]
}

/// Collection sizes around the thresholds (128, 512).
fn arb_size() -> impl Strategy<Value = usize> {
    prop_oneof![4 => 0usize..6, 1 => 124usize..132, 1 => 508usize..516]
}

fn arb_score() -> impl Strategy<Value = f64> {
    prop_oneof![
        any::<f64>().prop_filter("no NaN", |v| !v.is_nan()),
        (-1000i64..1000).prop_map(|v| v as f64),
        prop::sample::select(vec![
            f64::INFINITY,
            f64::NEG_INFINITY,
            -0.0,
            5e-324,
            f64::MAX,
            f64::MIN,
            4611686018427387904.0,
            -4611686018427387904.0,
            9.3e18,
            0.1,
        ]),
    ]
}

fn arb_ttl() -> impl Strategy<Value = Option<i64>> {
    prop_oneof![3 => Just(None), 1 => (1i64..(1 << 48)).prop_map(Some)]
}

fn arb_value() -> impl Strategy<Value = Value> {
    prop_oneof![
        3 => arb_bytes().prop_map(Value::String),
        1 => prop::collection::vec(any::<u8>(), 0..5000).prop_map(|v| Value::String(v.into())),
        2 => prop_oneof![arb_size(), 0usize..1500]
            .prop_flat_map(|n| prop::collection::vec(arb_bytes(), n))
            .prop_map(Value::List),
        2 => arb_size()
            .prop_flat_map(|n| prop::collection::vec(arb_bytes(), n))
            .prop_map(|v| Value::Set(distinct(v))),
        1 => arb_size()
            .prop_flat_map(|n| prop::collection::vec(any::<i64>(), n))
            .prop_map(|v| Value::Set(distinct(v.into_iter().map(|x| Bytes::from(x.to_string())).collect()))),
        2 => arb_size()
            .prop_flat_map(|n| prop::collection::vec((arb_bytes(), arb_score()), n))
            .prop_map(|v| {
                let (members, scores): (Vec<Bytes>, Vec<f64>) = v.into_iter().unzip();
                Value::SortedSet(distinct(members).into_iter().zip(scores).collect())
            }),
        2 => arb_size()
            .prop_flat_map(|n| prop::collection::vec((arb_bytes(), arb_bytes(), arb_ttl()), n))
            .prop_map(|v| {
                let (fields, rest): (Vec<Bytes>, Vec<(Bytes, Option<i64>)>) =
                    v.into_iter().map(|(f, val, t)| (f, (val, t))).unzip();
                Value::Hash(
                    distinct(fields)
                        .into_iter()
                        .zip(rest)
                        .map(|(field, (value, expire_at_ms))| HashField { field, value, expire_at_ms })
                        .collect(),
                )
            }),
        1 => (any::<u64>(), prop_oneof![0usize..5, 95usize..260], 0usize..3)
            .prop_map(|(seed, n, g)| Value::Stream(Box::new(gen::stream(&mut StdRng::seed_from_u64(seed), n, g)))),
    ]
}

fn arb_entry_meta() -> impl Strategy<Value = (Option<i64>, Option<u64>, Option<u8>)> {
    (
        // (-1 is the servers' "no expiry", refused by the writer.)
        prop_oneof![3 => Just(None), 1 => any::<i64>().prop_filter("-1", |&e| e != -1).prop_map(Some)],
        // (2^64 − 1 is the servers' RDB_LENERR, refused by the writer: not a valid idle time.)
        prop_oneof![5 => Just(None), 1 => (0..u64::MAX).prop_map(Some)],
        prop_oneof![5 => Just(None), 1 => any::<u8>().prop_map(Some)],
    )
}

fn arb_keyspace() -> impl Strategy<Value = Keyspace> {
    let db = prop::collection::btree_map(arb_bytes(), (arb_value(), arb_entry_meta()), 1..6);
    prop::collection::btree_map(prop_oneof![Just(0u32), 1u32..16], db, 1..3).prop_map(|dbs| {
        let mut ks = Keyspace::default();
        for (n, entries) in dbs {
            for (key, (value, (expire, idle, freq))) in entries {
                let mut e = Entry::new(key, value);
                e.expire_at_ms = expire;
                e.lru_idle_s = idle;
                e.lfu_freq = freq;
                ks.db_mut(n).entries.push(e);
            }
        }
        ks
    })
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 40, ..ProptestConfig::default() })]

    #[test]
    fn arbitrary_keyspaces_roundtrip(ks in arb_keyspace(), lzf in any::<bool>()) {
        for target in Target::ALL {
            check_roundtrip(&ks, &builder(target).compression(lzf));
        }
    }
}
