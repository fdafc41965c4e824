//! Round-trip tests of the canonical JSON key-line form (`rdb_model::json`).

use proptest::prelude::*;
use rdb_model::json::{
    bytes_from_json, bytes_to_json, entry_from_json, entry_to_json, score_from_str,
    score_to_string, write_bytes_json,
};
use rdb_model::{
    Bytes, Consumer, ConsumerGroup, Entry, HashField, ModuleValue, PendingEntry, Stream,
    StreamEntry, StreamId, Value,
};
use serde_json::json;

/// Serialises to JSON text and back (as `rdbkit dump` / `export --from x.jsonl` would) and
/// checks the entry comes back bit-exactly (scores compared by bits, so -0.0 != 0.0).
fn roundtrip(db: u32, e: &Entry, rdb_type: u8) {
    let line = serde_json::to_string(&entry_to_json(db, e, rdb_type)).unwrap();
    let parsed: serde_json::Value = serde_json::from_str(&line).unwrap();
    let (db2, e2) = entry_from_json(&parsed).unwrap_or_else(|err| panic!("{err}\n{line}"));
    assert_eq!(db2, db);
    assert_eq!(&e2, e, "line: {line}");
    if let (Value::SortedSet(a), Value::SortedSet(b)) = (&e.value, &e2.value) {
        for ((_, x), (_, y)) in a.iter().zip(b) {
            assert_eq!(x.to_bits(), y.to_bits(), "score bits differ: {x} vs {y}");
        }
    }
}

fn sample_stream() -> Stream {
    Stream {
        entries: vec![
            StreamEntry {
                id: StreamId::new(1, 1),
                fields: vec![(Bytes::from_static(b"\x00f\xff"), Bytes::from_static(b"v"))],
            },
            StreamEntry {
                id: StreamId::new(2, 0),
                fields: vec![],
            },
        ],
        length: 2,
        last_id: StreamId::new(u64::MAX, u64::MAX - 1),
        first_id: Some(StreamId::new(1, 1)),
        max_deleted_id: Some(StreamId::new(0, 0)),
        entries_added: Some(3),
        groups: vec![
            ConsumerGroup {
                name: Bytes::from_static(b"g1"),
                last_delivered_id: StreamId::new(2, 0),
                entries_read: Some(2),
                pel: vec![
                    PendingEntry {
                        id: StreamId::new(1, 1),
                        delivery_time_ms: 1_795_312_222_964,
                        delivery_count: 2,
                    },
                    PendingEntry {
                        id: StreamId::new(2, 0),
                        delivery_time_ms: -5,
                        delivery_count: 7,
                    },
                ],
                consumers: vec![
                    Consumer {
                        name: Bytes::from_static(b"alice"),
                        seen_time_ms: 10,
                        active_time_ms: Some(-1),
                        pel: vec![StreamId::new(2, 0)],
                    },
                    Consumer {
                        name: Bytes::from_static(b"b\xc3\xb6b"),
                        seen_time_ms: 11,
                        active_time_ms: None,
                        pel: vec![StreamId::new(1, 1)],
                    },
                ],
            },
            ConsumerGroup {
                name: Bytes::from_static(b"g2"),
                last_delivered_id: StreamId::new(0, 0),
                entries_read: None,
                pel: vec![PendingEntry {
                    id: StreamId::new(1, 1),
                    delivery_time_ms: 0,
                    delivery_count: 1,
                }],
                consumers: vec![],
            },
        ],
    }
}

#[test]
fn stream_shape_and_roundtrip() {
    let mut e = Entry::new(&b"s"[..], Value::Stream(Box::new(sample_stream())));
    e.expire_at_ms = Some(9_223_372_036_854_000_000);
    let j = entry_to_json(3, &e, 21);
    assert_eq!(j["type"], "stream");
    assert_eq!(j["rdb_type"], 21);
    let v = &j["value"];
    assert_eq!(v["last_id"], "18446744073709551615-18446744073709551614");
    assert_eq!(v["first_id_recorded"], "1-1");
    let g1 = &v["groups"][0];
    // The group PEL names the owning consumer; the consumer PEL repeats time and count.
    assert_eq!(
        g1["pel"][0],
        json!(["1-1", {"b64": "YsO2Yg=="}, 1_795_312_222_964i64, 2])
    );
    assert_eq!(g1["pel"][1], json!(["2-0", "alice", -5, 7]));
    assert_eq!(g1["consumers"][0]["pel"], json!([["2-0", -5, 7]]));
    assert_eq!(g1["consumers"][0]["active_time_ms"], -1);
    assert_eq!(g1["consumers"][1]["active_time_ms"], json!(null));
    assert_eq!(v["groups"][1]["pel"][0][1], json!(null));
    assert!(v.get("computed").is_none());
    roundtrip(3, &e, 21);

    // A version-1 stream: no recorded metadata.
    let mut s = sample_stream();
    s.first_id = None;
    s.max_deleted_id = None;
    s.entries_added = None;
    let e = Entry::new(&b"s1"[..], Value::Stream(Box::new(s)));
    let j = entry_to_json(0, &e, 15);
    assert_eq!(j["value"]["entries_added"], json!(null));
    roundtrip(0, &e, 15);
}

#[test]
fn stream_inconsistent_owner_is_rejected() {
    let e = Entry::new(&b"s"[..], Value::Stream(Box::new(sample_stream())));
    let mut j = entry_to_json(0, &e, 21);
    j["value"]["groups"][0]["pel"][1][1] = json!("nobody");
    let err = entry_from_json(&j).unwrap_err();
    assert_eq!(err.path(), "value.groups[0].pel[1][1]", "{err}");
    let mut j = entry_to_json(0, &e, 21);
    j["value"]["groups"][0]["consumers"][0]["pel"][0][2] = json!(99);
    let err = entry_from_json(&j).unwrap_err();
    assert_eq!(err.path(), "value.groups[0].consumers[0].pel[0]", "{err}");
}

#[test]
fn key_line_shape() {
    let mut e = Entry::new(
        &b"h"[..],
        Value::Hash(vec![
            HashField {
                field: Bytes::from_static(b"b"),
                value: Bytes::from_static(b"1"),
                expire_at_ms: None,
            },
            HashField {
                field: Bytes::from_static(b"a\x01"),
                value: Bytes::from_static(b"\xff"),
                expire_at_ms: Some(4_102_444_800_000),
            },
        ]),
    );
    e.lfu_freq = Some(5);
    let j = entry_to_json(7, &e, 24);
    assert_eq!(
        j,
        json!({"db": 7, "key": "h", "type": "hash", "rdb_type": 24, "expire_at_ms": null,
               "value": [["b", "1"], [{"b64": "YQE="}, {"b64": "/w=="}]],
               "field_expire_at_ms": [[{"b64": "YQE="}, 4_102_444_800_000i64]],
               "lfu_freq": 5})
    );
    roundtrip(7, &e, 24);

    // No optional members when absent.
    let e = Entry::new(&b"k"[..], Value::String(Bytes::from_static(b"v")));
    let j = entry_to_json(0, &e, 0);
    let keys: Vec<&str> = j.as_object().unwrap().keys().map(String::as_str).collect();
    assert_eq!(keys.len(), 6, "{keys:?}");
    for k in ["field_expire_at_ms", "lfu_freq", "lru_idle_s"] {
        assert!(j.get(k).is_none(), "{k} present");
    }
    // A hash none of whose fields has a TTL: no `field_expire_at_ms` either (not `[]`).
    let e = Entry::new(
        &b"h"[..],
        Value::Hash(vec![HashField {
            field: Bytes::from_static(b"f"),
            value: Bytes::from_static(b"v"),
            expire_at_ms: None,
        }]),
    );
    let j = entry_to_json(0, &e, 4);
    assert!(j.get("field_expire_at_ms").is_none(), "{j}");
    roundtrip(0, &e, 4);
}

#[test]
fn zset_special_scores() {
    let scores = [
        f64::INFINITY,
        f64::NEG_INFINITY,
        -0.0,
        0.0,
        5e-324,
        1e300,
        0.1,
        123456789012345680.0,
        -1.5,
    ];
    let members = scores
        .iter()
        .enumerate()
        .map(|(i, s)| (Bytes::from(format!("m{i}")), *s))
        .collect();
    let e = Entry::new(&b"z"[..], Value::SortedSet(members));
    let j = entry_to_json(0, &e, 5);
    assert_eq!(j["value"][0], json!(["m0", "inf"]));
    assert_eq!(j["value"][1], json!(["m1", "-inf"]));
    assert_eq!(j["value"][2], json!(["m2", "-0"]));
    roundtrip(0, &e, 5);
    // What Redis prints is accepted on input.
    let line =
        json!({"db": 0, "key": "z", "type": "zset", "value": [["a", "1e+300"], ["b", "+inf"]]});
    let (_, e) = entry_from_json(&line).unwrap();
    assert_eq!(
        e.value,
        Value::SortedSet(vec![
            (Bytes::from_static(b"a"), 1e300),
            (Bytes::from_static(b"b"), f64::INFINITY)
        ])
    );
}

#[test]
fn module_value_roundtrip() {
    let mut e = Entry::new(
        &b"m"[..],
        Value::Module(ModuleValue {
            module_id: 0x45E25238DF912C03,
            raw: Bytes::from_static(b"\x02\x05hello\x00"),
        }),
    );
    e.lru_idle_s = Some(12);
    let j = entry_to_json(0, &e, 7);
    assert_eq!(j["value"]["module_id"], "ReJSON-RL");
    assert_eq!(j["value"]["version"], 3);
    assert_eq!(j["lru_idle_s"], 12);
    roundtrip(0, &e, 7);
}

#[test]
fn errors_name_the_field() {
    let cases = [
        (json!({"key": "k", "type": "string", "value": "v"}), "db"),
        (
            json!({"db": 0, "key": "k", "type": "str", "value": "v"}),
            "type",
        ),
        (
            json!({"db": 0, "key": "k", "type": "zset", "value": [["a", "x"]]}),
            "value[0][1]",
        ),
        (
            json!({"db": 0, "key": "k", "type": "list", "value": ["a", 3]}),
            "value[1]",
        ),
        (
            json!({"db": 0, "key": "k", "type": "string", "value": "v", "lfu_freq": 300}),
            "lfu_freq",
        ),
        (
            json!({"db": 0, "key": "k", "type": "hash", "value": [["a", "1"]],
                   "field_expire_at_ms": [["b", 5]]}),
            "field_expire_at_ms[0]",
        ),
        (
            json!({"db": 0, "key": "k", "type": "string", "value": "v",
                   "field_expire_at_ms": [["b", 5]]}),
            "field_expire_at_ms",
        ),
        (
            json!({"db": 0, "key": "k", "type": "module",
                   "value": {"module_id": "bad", "version": 1, "raw_b64": ""}}),
            "value.module_id",
        ),
        (
            json!({"db": 0, "key": "k", "type": "stream",
                   "value": {"length": 0, "last_id": "1", "entries": [], "groups": []}}),
            "value.last_id",
        ),
    ];
    for (line, path) in cases {
        let err = entry_from_json(&line).expect_err(&line.to_string());
        assert_eq!(err.path(), path, "{err}");
        assert!(!err.message().is_empty());
    }
}

fn arb_bytes() -> impl Strategy<Value = Bytes> {
    prop_oneof![
        proptest::collection::vec(0x20u8..=0x7e, 0..12),
        proptest::collection::vec(any::<u8>(), 0..12),
    ]
    .prop_map(Bytes::from)
}

fn arb_score() -> impl Strategy<Value = f64> {
    prop_oneof![
        any::<f64>().prop_filter("not NaN", |x| !x.is_nan()),
        Just(f64::INFINITY),
        Just(f64::NEG_INFINITY),
        Just(-0.0),
        Just(5e-324),
        (-1000i64..1000).prop_map(|i| i as f64 / 8.0),
    ]
}

fn arb_id() -> impl Strategy<Value = StreamId> {
    (0u64..4, 0u64..4).prop_map(|(a, b)| StreamId::new(a, b))
}

/// A consumer group whose PEL entries are each owned by one of the consumers or by none.
fn arb_group() -> impl Strategy<Value = ConsumerGroup> {
    (
        arb_bytes(),
        arb_id(),
        proptest::option::of(-1i64..100),
        proptest::collection::btree_map(
            arb_id(),
            (any::<i64>(), any::<u64>(), proptest::option::of(0usize..3)),
            0..5,
        ),
        proptest::collection::btree_map(
            arb_bytes(),
            (any::<i64>(), proptest::option::of(any::<i64>())),
            0..3,
        ),
    )
        .prop_map(|(name, last, read, pel, consumers)| {
            let mut consumers: Vec<Consumer> = consumers
                .into_iter()
                .map(|(name, (seen, active))| Consumer {
                    name,
                    seen_time_ms: seen,
                    active_time_ms: active,
                    pel: Vec::new(),
                })
                .collect();
            let pel = pel
                .into_iter()
                .map(|(id, (time, count, owner))| {
                    let n = consumers.len();
                    if let Some(c) = owner
                        .filter(|_| n > 0)
                        .and_then(|o| consumers.get_mut(o % n))
                    {
                        c.pel.push(id);
                    }
                    PendingEntry {
                        id,
                        delivery_time_ms: time,
                        delivery_count: count,
                    }
                })
                .collect();
            ConsumerGroup {
                name,
                last_delivered_id: last,
                entries_read: read,
                pel,
                consumers,
            }
        })
}

fn arb_stream() -> impl Strategy<Value = Stream> {
    (
        proptest::collection::btree_map(
            arb_id(),
            proptest::collection::vec((arb_bytes(), arb_bytes()), 0..3),
            0..4,
        ),
        any::<u64>(),
        arb_id(),
        proptest::option::of((arb_id(), arb_id(), any::<u64>())),
        proptest::collection::vec(arb_group(), 0..3),
    )
        .prop_map(|(entries, length, last_id, meta, groups)| Stream {
            entries: entries
                .into_iter()
                .map(|(id, fields)| StreamEntry { id, fields })
                .collect(),
            length,
            last_id,
            first_id: meta.map(|m| m.0),
            max_deleted_id: meta.map(|m| m.1),
            entries_added: meta.map(|m| m.2),
            groups,
        })
}

fn arb_value() -> impl Strategy<Value = Value> {
    prop_oneof![
        arb_bytes().prop_map(Value::String),
        proptest::collection::vec(arb_bytes(), 0..5).prop_map(Value::List),
        proptest::collection::vec(arb_bytes(), 0..5).prop_map(Value::Set),
        proptest::collection::vec((arb_bytes(), arb_score()), 0..5).prop_map(Value::SortedSet),
        proptest::collection::btree_map(
            proptest::collection::vec(any::<u8>(), 0..6),
            (arb_bytes(), proptest::option::of(any::<i64>())),
            0..5
        )
        .prop_map(|m| Value::Hash(
            m.into_iter()
                .map(|(f, (v, t))| HashField {
                    field: Bytes::from(f),
                    value: v,
                    expire_at_ms: t,
                })
                .collect()
        )),
        arb_stream().prop_map(|s| Value::Stream(Box::new(s))),
        (any::<u64>(), proptest::collection::vec(any::<u8>(), 0..16)).prop_map(|(id, raw)| {
            Value::Module(ModuleValue {
                module_id: id,
                raw: Bytes::from(raw),
            })
        }),
    ]
}

/// The streaming writer `rdbkit dump` uses for elements prints exactly what serde_json prints
/// for the JSON value: quotes and backslashes escaped, everything else printable as it is.
#[test]
fn write_bytes_json_escapes_as_serde_json() {
    let mut b64 = String::new();
    for b in [
        &b""[..],
        b"plain",
        b"\"",
        b"\\",
        b"a\"b\\c\"",
        b"/ ~",
        b"\x7f",
        b"\x1f",
        b"\n",
        b"\xff\x00",
    ] {
        let mut out = Vec::new();
        write_bytes_json(&mut out, b, &mut b64).unwrap();
        assert_eq!(
            String::from_utf8_lossy(&out),
            serde_json::to_string(&bytes_to_json(b)).unwrap(),
            "{b:?}"
        );
    }
    // Base64 is written in pieces of 49,152 bytes: lengths around and past the pieces.
    for len in [49_151usize, 49_152, 49_153, 98_304, 150_001] {
        let b: Vec<u8> = (0..len).map(|i| (i * 7 % 256) as u8).collect();
        let mut out = Vec::new();
        write_bytes_json(&mut out, &b, &mut b64).unwrap();
        assert!(
            out == serde_json::to_vec(&bytes_to_json(&b)).unwrap(),
            "{len}"
        );
        assert!(b64.capacity() < 1 << 17);
    }
}

proptest! {
    #[test]
    fn write_bytes_json_is_serde_json(b in prop_oneof![
        proptest::collection::vec(0x20u8..=0x7e, 0..40),
        proptest::collection::vec(any::<u8>(), 0..40),
    ]) {
        let mut out = Vec::new();
        write_bytes_json(&mut out, &b, &mut String::from("left over")).unwrap();
        prop_assert_eq!(out, serde_json::to_vec(&bytes_to_json(&b)).unwrap());
    }

    #[test]
    fn bytes_roundtrip(b in proptest::collection::vec(any::<u8>(), 0..40)) {
        let j = bytes_to_json(&b);
        prop_assert_eq!(j.is_string(), b.iter().all(|c| (0x20..=0x7e).contains(c)));
        prop_assert_eq!(bytes_from_json(&j).unwrap(), &b[..]);
    }

    #[test]
    fn score_roundtrip(x in arb_score()) {
        let s = score_to_string(x);
        prop_assert_eq!(score_from_str(&s).unwrap().to_bits(), x.to_bits(), "{}", s);
    }

    #[test]
    fn entry_roundtrip(
        db in any::<u32>(),
        key in arb_bytes(),
        value in arb_value(),
        expire in proptest::option::of(any::<i64>()),
        lru in proptest::option::of(any::<u64>()),
        lfu in proptest::option::of(any::<u8>()),
        rdb_type in any::<u8>(),
    ) {
        let e = Entry { key, value, expire_at_ms: expire, lru_idle_s: lru, lfu_freq: lfu };
        roundtrip(db, &e, rdb_type);
    }
}
