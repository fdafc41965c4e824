//! The writer's API: byte-exact vectors from the format reference (§11), the encoding chosen
//! per target, errors and poisoning, streaming collections, slot information, raw values.

mod common;

use common::{assert_same_keyspace, canonical, expected, CTIME};
use rdb_format::crc::crc64;
use rdb_model::{
    Bytes, Consumer, ConsumerGroup, Entry, HashField, Keyspace, PendingEntry, Stream, StreamEntry,
    StreamId, Value,
};
use rdb_reader::{read_keyspace, Event, Limits, Parser, SliceSource};
use rdb_writer::{write_keyspace, KeyMeta, RdbWriter, Target, WriteError, WriterBuilder};

fn b(s: &str) -> Bytes {
    Bytes::copy_from_slice(s.as_bytes())
}

fn hf(f: &str, v: &str, ttl: Option<i64>) -> HashField {
    HashField {
        field: b(f),
        value: b(v),
        expire_at_ms: ttl,
    }
}

fn open(target: Target) -> RdbWriter<Vec<u8>> {
    let mut w = WriterBuilder::new(target)
        .ctime(CTIME)
        .compression(false)
        .build(Vec::new());
    w.write_header().unwrap();
    w
}

/// Writes `entries` into db 0 (after the header) and returns the bytes from SELECTDB to EOF
/// (inclusive), checking the CRC trailer on the way.
fn body(target: Target, entries: &[Entry]) -> Vec<u8> {
    let mut w = open(target);
    let start = w.position() as usize;
    let expires = entries.iter().filter(|e| e.expire_at_ms.is_some()).count() as u64;
    w.select_db(0, entries.len() as u64, expires).unwrap();
    for e in entries {
        w.write_entry(e).unwrap();
    }
    let (file, summary) = w.finish().unwrap();
    let (data, trailer) = file.split_at(file.len() - 8);
    assert_eq!(crc64(data).to_le_bytes(), trailer);
    assert_eq!(summary.crc, crc64(data));
    data[start..].to_vec()
}

fn hex(s: &str) -> Vec<u8> {
    s.split_whitespace()
        .map(|x| u8::from_str_radix(x, 16).unwrap())
        .collect()
}

#[test]
fn vector_string_key() {
    let got = body(
        Target::Redis72,
        &[Entry::new("foo", Value::String(b("bar")))],
    );
    assert_eq!(got, hex("fe 00 fb 01 00 00 03 66 6f 6f 03 62 61 72 ff"));
}

#[test]
fn vector_whole_file_crc() {
    // §11.2: SELECTDB..EOF of `foo`=`bar` with no AUX fields has CRC 0x95AB6E674CB9868D.
    let mut file = b"REDIS0011".to_vec();
    file.extend(body(
        Target::Redis72,
        &[Entry::new("foo", Value::String(b("bar")))],
    ));
    assert_eq!(crc64(&file), 0x95AB_6E67_4CB9_868D);
}

#[test]
fn vector_header_aux() {
    let w = open(Target::Redis72);
    let n = w.position() as usize;
    let (file, _) = w.finish().unwrap();
    let mut want = b"REDIS0011".to_vec();
    want.extend(b"\xfa\x09redis-ver\x057.2.6\xfa\x0aredis-bits\xc0\x40\xfa\x05ctime\xc2");
    want.extend((CTIME as i32).to_le_bytes());
    want.extend(b"\xfa\x08used-mem\xc0\x00\xfa\x08aof-base\xc0\x00");
    assert_eq!(&file[..n], &want[..]);
    // Redis 7.0 renamed `aof-preamble` to `aof-base` (multi-part AOF): RDB 10 and later.
    for target in Target::ALL {
        let (f, _) = open(target).finish().unwrap();
        let base = f.windows(9).any(|x| x == b"\x08aof-base");
        let preamble = f.windows(13).any(|x| x == b"\x0caof-preamble");
        let rdb10 = target.rdb_version() >= 10;
        assert_eq!((base, preamble), (rdb10, !rdb10), "{target}");
    }
    // RDB 9 writes aof-preamble, Valkey writes valkey-ver; used-mem is int-encoded.
    let mut w = WriterBuilder::new(Target::Redis62)
        .ctime(CTIME)
        .used_mem(3_000_000)
        .build(Vec::new());
    w.write_header().unwrap();
    let (f, _) = w.finish().unwrap();
    let text = String::from_utf8_lossy(&f);
    assert!(
        text.starts_with("REDIS0009")
            && text.contains("redis-ver\u{6}6.2.14")
            && text.contains("aof-preamble")
    );
    assert!(f
        .windows(14)
        .any(|x| x == b"\x08used-mem\xc2\xc0\xc6\x2d\x00"));
    let mut w = WriterBuilder::new(Target::Valkey80)
        .aux("%tool", "rdbkit")
        .build(Vec::new());
    w.write_header().unwrap();
    let (f, _) = w.finish().unwrap();
    let text = String::from_utf8_lossy(&f);
    assert!(
        text.contains("valkey-ver\u{5}8.0.1")
            && text.contains("%tool\u{6}rdbkit")
            && !text.contains("redis-ver")
    );
}

#[test]
fn vector_compact_encodings() {
    // Hash {f1: v1, f2: 10} as listpack (type 16).
    let got = body(
        Target::Redis72,
        &[Entry::new(
            "h",
            Value::Hash(vec![hf("f1", "v1", None), hf("f2", "10", None)]),
        )],
    );
    assert_eq!(
        got,
        hex("fe 00 fb 01 00 10 01 68 15 15 00 00 00 04 00 82 66 31 03 82 76 31 03 82 66 32 03 0a 01 ff ff")
    );
    // List l = [a, b] (type 18).
    let got = body(
        Target::Redis72,
        &[Entry::new("l", Value::List(vec![b("a"), b("b")]))],
    );
    assert_eq!(
        &got[5..],
        &hex("12 01 6c 01 02 0d 0d 00 00 00 02 00 81 61 02 81 62 02 ff ff")[..]
    );
    // Zset {b: 2.5, a: 1}: written sorted by score.
    let got = body(
        Target::Redis72,
        &[Entry::new(
            "z",
            Value::SortedSet(vec![(b("b"), 2.5), (b("a"), 1.0)]),
        )],
    );
    assert_eq!(
        &got[8..],
        &hex("14 14 00 00 00 04 00 81 61 02 01 01 81 62 02 83 32 2e 35 04 ff ff")[..]
    );
    // Set {x, y, 7} as listpack (type 20).
    let got = body(
        Target::Redis72,
        &[Entry::new("s", Value::Set(vec![b("x"), b("y"), b("7")]))],
    );
    assert_eq!(
        &got[5..],
        &hex("14 01 73 0f 0f 00 00 00 03 00 81 78 02 81 79 02 07 01 ff ff")[..]
    );
    // Intset {300, -5, 1}: sorted, 16-bit.
    let got = body(
        Target::Redis62,
        &[Entry::new("i", Value::Set(vec![b("300"), b("-5"), b("1")]))],
    );
    assert_eq!(
        &got[5..],
        &hex("0b 01 69 0e 02 00 00 00 03 00 00 00 fb ff 01 00 2c 01 ff")[..]
    );
}

#[test]
fn vector_field_ttl_hashes() {
    // Redis 7.4.1 real output: listpack-ex with TTL fields first, ascending.
    let h = vec![
        hf("f1", "v1", None),
        hf("f2", "v2", Some(4102444800000)),
        hf("f3", "v3", Some(4102444700000)),
    ];
    let got = body(Target::Redis74, &[Entry::new("h", Value::Hash(h))]);
    assert_eq!(got[5], 25);
    assert_eq!(&got[8..16], &4102444700000i64.to_le_bytes());
    let blob = &got[17..got.len() - 1];
    let els: Vec<Vec<u8>> = rdb_format::listpack::elements(blob)
        .unwrap()
        .iter()
        .map(|e| e.to_vec())
        .collect();
    let want: Vec<&[u8]> = vec![
        b"f3",
        b"v3",
        b"4102444700000",
        b"f2",
        b"v2",
        b"4102444800000",
        b"f1",
        b"v1",
        b"0",
    ];
    assert_eq!(els, want);
    // Redis 7.4.1 real output: hashtable (type 24) with min_expire and ttl deltas.
    let big = "x".repeat(100);
    let h = vec![
        hf("f3", "v3", None),
        hf("big", &big, Some(4102444800500)),
        hf("f2", "v2", Some(4102444800000)),
    ];
    let got = body(Target::Redis74, &[Entry::new("h", Value::Hash(h))]);
    let mut want = hex("18 01 68");
    want.extend(4102444800000i64.to_le_bytes());
    want.extend(hex("03 00 02 66 33 02 76 33 41 f5 03 62 69 67 40 64"));
    want.extend(big.as_bytes());
    want.extend(hex("01 02 66 32 02 76 32 ff"));
    assert_eq!(&got[5..], &want[..]);
    // Valkey HASH_2 (type 22) in a VALKEY080 file.
    let h = vec![hf("f1", "v1", None), hf("f2", "v2", Some(1700000000000))];
    let mut w = WriterBuilder::new(Target::Valkey90)
        .field_ttls(true)
        .compression(false)
        .build(Vec::new());
    w.write_header().unwrap();
    let start = w.position() as usize;
    w.write_entry(&Entry::new("h", Value::Hash(h.clone())))
        .unwrap();
    let (file, _) = w.finish().unwrap();
    assert_eq!(&file[..9], b"VALKEY080");
    let want = hex("16 01 68 02 02 66 31 02 76 31 ff ff ff ff ff ff ff ff 02 66 32 02 76 32 00 68 e5 cf 8b 01 00 00 ff");
    assert_eq!(&file[start..file.len() - 8], &want[..]);
    let back = read_keyspace(&file).unwrap();
    assert_eq!(back.dbs[&0].entries[0].value, Value::Hash(h.clone()));
    // Without `field_ttls(true)` a valkey-9.0 writer writes a REDIS0011 file, which cannot
    // hold type 22: the hash is refused (the writer stays usable), or written without its
    // TTLs with `drop_unsupported`.
    let mut w = WriterBuilder::new(Target::Valkey90)
        .compression(false)
        .build(Vec::new());
    w.write_header().unwrap();
    let err = w
        .write_entry(&Entry::new("h", Value::Hash(h.clone())))
        .unwrap_err();
    assert!(
        matches!(&err, WriteError::Unsupported { what, .. } if what.contains("field_ttls(true)")),
        "{err}"
    );
    assert!(!w.is_poisoned());
    w.write_entry(&Entry::new("s", Value::String(b("v"))))
        .unwrap();
    let (file, _) = w.finish().unwrap();
    assert_eq!(&file[..9], b"REDIS0011");
    assert_eq!(
        events(&file)
            .iter()
            .filter(|e| e.starts_with("key "))
            .count(),
        1
    );
    let mut w = WriterBuilder::new(Target::Valkey90)
        .drop_unsupported(true)
        .build(Vec::new());
    w.write_header().unwrap();
    w.write_entry(&Entry::new("h", Value::Hash(h.clone())))
        .unwrap();
    let (file, summary) = w.finish().unwrap();
    assert_eq!(summary.dropped_field_ttls, 1);
    assert!(events(&file).contains(&"key h 16".to_string()));
    let back = read_keyspace(&file).unwrap();
    let plain: Vec<HashField> = h
        .iter()
        .map(|f| HashField {
            expire_at_ms: None,
            ..f.clone()
        })
        .collect();
    assert_eq!(back.dbs[&0].entries[0].value, Value::Hash(plain));
}

#[test]
fn vector_cluster_slot_info() {
    // Redis 7.4.1 cluster save of `bar`, `{foo}x` (with expire), `foo`.
    let mut ks = Keyspace::default();
    let mut x = Entry::new("{foo}x", Value::String(b("2")));
    x.expire_at_ms = Some(4102444800000);
    ks.db_mut(0).entries = vec![
        x,
        Entry::new("foo", Value::String(b("3"))),
        Entry::new("bar", Value::String(b("1"))),
    ];
    let bld = WriterBuilder::new(Target::Redis74)
        .ctime(CTIME)
        .slot_info(true);
    let (file, _) = write_keyspace(&ks, Vec::new(), &bld).unwrap();
    let mut want = hex("fe 00 fb 03 01 f4 53 c5 01 00 00 03 62 61 72 c0 01 f4 6f 96 02 01 fc");
    want.extend(4102444800000i64.to_le_bytes());
    want.extend(b"\x00\x06{foo}x\xc0\x02\x00\x03foo\xc0\x03\xff");
    assert!(
        file.windows(want.len()).any(|w| w == &want[..]),
        "slot records not found"
    );
    // Valkey: the slot-info AUX; Redis 7.2: nothing.
    let (file, _) = write_keyspace(
        &ks,
        Vec::new(),
        &WriterBuilder::new(Target::Valkey80).slot_info(true),
    )
    .unwrap();
    let aux = events(&file)
        .into_iter()
        .filter(|e| e.starts_with("aux slot-info"))
        .collect::<Vec<_>>();
    assert_eq!(
        aux,
        vec!["aux slot-info 5061,1,0", "aux slot-info 12182,2,1"]
    );
    let (file, _) = write_keyspace(
        &ks,
        Vec::new(),
        &WriterBuilder::new(Target::Redis72).slot_info(true),
    )
    .unwrap();
    assert!(!events(&file).iter().any(|e| e.contains("slot")));
}

/// A text line per interesting event: `key <name> <type>`, `aux <k> <v>`, `slot <s> <k> <e>`.
fn events(file: &[u8]) -> Vec<String> {
    let mut p = Parser::new(SliceSource::new(file), Limits::default());
    let mut out = Vec::new();
    while let Some(ev) = p.next_event().unwrap() {
        match ev {
            Event::Key(k) => out.push(format!(
                "key {} {}",
                String::from_utf8_lossy(&k.key.to_vec()),
                k.rdb_type.0
            )),
            Event::Aux { key, value } => out.push(format!(
                "aux {} {}",
                String::from_utf8_lossy(&key.to_vec()),
                String::from_utf8_lossy(&value.to_vec())
            )),
            Event::SlotInfo {
                slot,
                keys,
                expires,
            } => out.push(format!("slot {slot} {keys} {expires}")),
            _ => {}
        }
    }
    out
}

#[test]
fn slot_grouping_is_ascending_and_counted() {
    let ks = rdb_testkit::gen::mixed(300, 4);
    let (file, summary) = write_keyspace(
        &ks,
        Vec::new(),
        &WriterBuilder::new(Target::Redis74).slot_info(true),
    )
    .unwrap();
    let evs = events(&file);
    let mut slots: Vec<(u64, u64, u64)> = Vec::new();
    let mut seen_in_slot = 0u64;
    for e in &evs {
        let parts: Vec<&str> = e.split(' ').collect();
        if parts[0] == "slot" {
            if let Some(last) = slots.last() {
                assert_eq!(last.1, seen_in_slot, "slot {} count", last.0);
            }
            let s = (
                parts[1].parse().unwrap(),
                parts[2].parse().unwrap(),
                parts[3].parse().unwrap(),
            );
            assert!(
                slots.last().is_none_or(|l| l.0 < s.0),
                "slots not ascending"
            );
            slots.push(s);
            seen_in_slot = 0;
        } else if parts[0] == "key" {
            seen_in_slot += 1;
        }
    }
    assert_eq!(slots.last().unwrap().1, seen_in_slot);
    assert_eq!(slots.iter().map(|s| s.1).sum::<u64>(), summary.keys);
    let back = read_keyspace(&file).unwrap();
    let got_slots: Vec<u16> = back.dbs[&0]
        .entries
        .iter()
        .map(|e| rdb_writer::slot::key_slot(&e.key))
        .collect();
    assert!(
        got_slots.windows(2).all(|w| w[0] <= w[1]),
        "keys not grouped by ascending slot"
    );
    assert_eq!(canonical_keys(&back), canonical_keys(&ks));
}

fn canonical_keys(ks: &Keyspace) -> Vec<Bytes> {
    let mut k: Vec<Bytes> = ks
        .dbs
        .values()
        .flat_map(|d| &d.entries)
        .map(|e| e.key.clone())
        .collect();
    k.sort();
    k
}

/// The type byte written for each value on each target.
#[test]
fn encoding_choice_per_target() {
    let ints: Vec<Bytes> = (0..512).map(|i| Bytes::from(i.to_string())).collect();
    let words: Vec<Bytes> = (0..128).map(|i| Bytes::from(format!("w{i}"))).collect();
    let mut words129 = words.clone();
    words129.push(b("extra"));
    let long_member = vec![Bytes::from(vec![b'm'; 65])];
    // At the limit (64 bytes: `*-max-listpack-value`) an element keeps the compact encoding
    // (Redis 7.0: `HSET h f <64 bytes>` gives listpack, 65 gives hashtable; Valkey 8.1: `SADD`
    // of a 64-byte member gives listpack).
    let member64 = Bytes::from(vec![b'm'; 64]);
    let zsmall: Vec<(Bytes, f64)> = (0..128)
        .map(|i| (Bytes::from(format!("m{i}")), i as f64))
        .collect();
    let mut zbig = zsmall.clone();
    zbig.push((b("last"), 0.5));
    let hsmall: Vec<HashField> = (0..512).map(|i| hf(&format!("f{i}"), "v", None)).collect();
    let mut hbig = hsmall.clone();
    hbig.push(hf("one-more", "v", None));
    let hlong = vec![hf("f", &"v".repeat(65), None)];
    let hsmall_ttl = vec![hf("a", "1", Some(4102444800000)), hf("b", "2", None)];
    let hbig_ttl = vec![hf("a", &"v".repeat(65), Some(4102444800000))];
    let st = Stream {
        entries: vec![StreamEntry {
            id: StreamId::new(1, 1),
            fields: vec![(b("f"), b("v"))],
        }],
        last_id: StreamId::new(1, 1),
        ..Stream::default()
    };
    let values: Vec<(&str, Value)> = vec![
        ("str", Value::String(b("x"))),
        ("list", Value::List(vec![b("a")])),
        ("intset", Value::Set(ints.clone())),
        (
            "intset513",
            Value::Set({
                let mut v = ints.clone();
                v.push(b("512"));
                v
            }),
        ),
        ("setlp", Value::Set(words.clone())),
        ("set129", Value::Set(words129)),
        ("setlong", Value::Set(long_member.clone())),
        ("zsmall", Value::SortedSet(zsmall)),
        ("zbig", Value::SortedSet(zbig)),
        (
            "zlong",
            Value::SortedSet(vec![(long_member[0].clone(), 1.0)]),
        ),
        ("hsmall", Value::Hash(hsmall)),
        ("hbig", Value::Hash(hbig)),
        ("hlong", Value::Hash(hlong)),
        ("stream", Value::Stream(Box::new(st))),
        ("set64", Value::Set(vec![member64.clone()])),
        ("z64", Value::SortedSet(vec![(member64.clone(), 1.0)])),
        (
            "h64",
            Value::Hash(vec![
                hf(&"f".repeat(64), "v", None),
                hf("g", &"v".repeat(64), None),
            ]),
        ),
    ];
    let ttl_values = [
        ("httl", Value::Hash(hsmall_ttl)),
        ("httlbig", Value::Hash(hbig_ttl)),
    ];
    // str list intset intset513 setlp set129 setlong zsmall zbig zlong hsmall hbig hlong stream
    // set64 z64 h64
    let table: &[(Target, [u8; 17])] = &[
        (
            Target::Redis62,
            [0, 14, 11, 2, 2, 2, 2, 12, 5, 5, 13, 4, 4, 15, 2, 12, 13],
        ),
        (
            Target::Redis70,
            [0, 18, 11, 2, 2, 2, 2, 17, 5, 5, 16, 4, 4, 19, 2, 17, 16],
        ),
        (
            Target::Redis72,
            [0, 18, 11, 2, 20, 2, 2, 17, 5, 5, 16, 4, 4, 21, 20, 17, 16],
        ),
        (
            Target::Valkey81,
            [0, 18, 11, 2, 20, 2, 2, 17, 5, 5, 16, 4, 4, 21, 20, 17, 16],
        ),
        (
            Target::Redis74,
            [0, 18, 11, 2, 20, 2, 2, 17, 5, 5, 16, 4, 4, 21, 20, 17, 16],
        ),
    ];
    for (target, types) in table {
        let entries: Vec<Entry> = values
            .iter()
            .map(|(k, v)| Entry::new(*k, v.clone()))
            .collect();
        let mut ks = Keyspace::default();
        ks.db_mut(0).entries = entries;
        let (file, _) = write_keyspace(&ks, Vec::new(), &WriterBuilder::new(*target)).unwrap();
        let got: Vec<u8> = events(&file)
            .iter()
            .filter_map(|e| {
                e.strip_prefix("key ")
                    .map(|r| r.rsplit(' ').next().unwrap().parse().unwrap())
            })
            .collect();
        assert_eq!(&got[..], &types[..], "{target}");
        assert_eq!(
            canonical(read_keyspace(&file).unwrap()).dbs,
            expected(&ks, *target).dbs,
            "{target}"
        );
    }
    for (target, want) in [(Target::Redis74, [25u8, 24]), (Target::Valkey90, [22, 22])] {
        let mut ks = Keyspace::default();
        ks.db_mut(0).entries = ttl_values
            .iter()
            .map(|(k, v)| Entry::new(*k, v.clone()))
            .collect();
        let (file, _) = write_keyspace(&ks, Vec::new(), &WriterBuilder::new(target)).unwrap();
        let got: Vec<String> = events(&file)
            .into_iter()
            .filter(|e| e.starts_with("key"))
            .collect();
        assert_eq!(
            got,
            vec![
                format!("key httl {}", want[0]),
                format!("key httlbig {}", want[1])
            ]
        );
    }
}

#[test]
fn big_lists_split_into_nodes_and_plain_fallbacks() {
    let items: Vec<Bytes> = (0..5000)
        .map(|i| Bytes::from(format!("item-{i:05}-payload")))
        .collect();
    let mut ks = Keyspace::default();
    ks.db_mut(0)
        .entries
        .push(Entry::new("l", Value::List(items.clone())));
    for target in [Target::Redis62, Target::Redis70] {
        let (file, _) = write_keyspace(
            &ks,
            Vec::new(),
            &WriterBuilder::new(target).compression(false),
        )
        .unwrap();
        let mut p = Parser::new(SliceSource::new(&file), Limits::default());
        let mut n = 0;
        while let Some(ev) = p.next_event().unwrap() {
            if let Event::ListItem(e) = ev {
                assert_eq!(e.to_vec(), items[n].to_vec());
                n += 1;
            }
        }
        assert_eq!(n, items.len());
        // ~23 bytes per element: 5000 elements need more than 13 nodes of 8 KiB.
        assert!(file.len() > 5000 * 20);
    }
}

#[test]
fn invalid_values_are_refused_before_writing() {
    let mut w = open(Target::Redis72);
    w.select_db(0, 0, 0).unwrap();
    let before = w.position();
    let cases: Vec<(&str, Value)> = vec![
        ("nan", Value::SortedSet(vec![(b("a"), f64::NAN)])),
        ("dupset", Value::Set(vec![b("a"), b("a")])),
        ("dupints", Value::Set(vec![b("1"), b("2"), b("1")])),
        (
            "dupzset",
            Value::SortedSet(vec![(b("a"), 1.0), (b("a"), 2.0)]),
        ),
        (
            "duphash",
            Value::Hash(vec![hf("f", "1", None), hf("f", "2", None)]),
        ),
        (
            "stream-order",
            Value::Stream(Box::new(Stream {
                entries: vec![
                    StreamEntry {
                        id: StreamId::new(2, 0),
                        fields: vec![(b("a"), b("b"))],
                    },
                    StreamEntry {
                        id: StreamId::new(1, 0),
                        fields: vec![(b("a"), b("b"))],
                    },
                ],
                last_id: StreamId::new(2, 0),
                ..Stream::default()
            })),
        ),
        (
            "stream-pel",
            Value::Stream(Box::new(Stream {
                groups: vec![ConsumerGroup {
                    name: b("g"),
                    pel: vec![PendingEntry {
                        id: StreamId::new(1, 0),
                        delivery_time_ms: 0,
                        delivery_count: 1,
                    }],
                    consumers: vec![Consumer {
                        name: b("c"),
                        seen_time_ms: 0,
                        active_time_ms: None,
                        pel: vec![],
                    }],
                    ..ConsumerGroup::default()
                }],
                ..Stream::default()
            })),
        ),
    ];
    for (key, v) in cases {
        match w.write_entry(&Entry::new(key, v)) {
            Err(WriteError::InvalidValue { key: k, what }) => {
                assert_eq!(k.key.as_deref(), Some(key.as_bytes()), "{what}");
            }
            other => panic!("{key}: {other:?}"),
        }
        assert_eq!(w.position(), before, "{key}: bytes written");
    }
    // Not poisoned: the file still completes and loads.
    w.write_entry(&Entry::new("ok", Value::String(b("fine"))))
        .unwrap();
    assert!(!w.is_poisoned());
    let (file, s) = w.finish().unwrap();
    assert_eq!(s.keys, 1);
    assert_eq!(read_keyspace(&file).unwrap().key_count(), 1);
}

#[test]
fn out_of_order_and_unsupported_calls() {
    let mut w = WriterBuilder::new(Target::Redis62).build(Vec::new());
    assert!(matches!(
        w.write_entry(&Entry::new("k", Value::String(b("v")))),
        Err(WriteError::State(_))
    ));
    w.write_header().unwrap();
    assert!(matches!(w.write_header(), Err(WriteError::State(_))));
    assert!(matches!(
        w.write_function(b"#!lua name=x\n"),
        Err(WriteError::Unsupported { .. })
    ));
    assert!(matches!(
        w.select_db(16, 0, 0),
        Err(WriteError::InvalidValue { .. })
    ));
    assert!(matches!(
        w.write_raw_value(
            b"k",
            rdb_format::RdbType::HASH_LISTPACK,
            KeyMeta::default(),
            b"\x00"
        ),
        Err(WriteError::Unsupported { .. })
    ));
    w.finish().unwrap();
    // Functions on RDB 10.
    let mut w = open(Target::Redis70);
    w.write_function(b"#!lua name=mylib\nreturn 1").unwrap();
    let (file, s) = w.finish().unwrap();
    assert_eq!(s.functions, 1);
    assert_eq!(
        read_keyspace(&file).unwrap().functions,
        vec![b("#!lua name=mylib\nreturn 1")]
    );
}

#[test]
fn raw_values_pass_through() {
    // Encode a listpack hash on one writer, copy its value bytes with write_raw_value.
    let value = body(
        Target::Redis72,
        &[Entry::new("h", Value::Hash(vec![hf("f1", "v1", None)]))],
    );
    let raw = &value[8..value.len() - 1]; // after SELECTDB, RESIZEDB, type, key; before EOF
    let mut w = open(Target::Redis70);
    w.select_db(2, 1, 1).unwrap();
    w.write_raw_value(
        b"copy",
        rdb_format::RdbType::HASH_LISTPACK,
        KeyMeta::expiring(4102444800000),
        raw,
    )
    .unwrap();
    let (file, s) = w.finish().unwrap();
    assert_eq!((s.keys, s.expires, s.dbs[&2].keys), (1, 1, 1));
    let back = read_keyspace(&file).unwrap();
    let e = &back.dbs[&2].entries[0];
    assert_eq!(e.expire_at_ms, Some(4102444800000));
    assert_eq!(e.value, Value::Hash(vec![hf("f1", "v1", None)]));
}

#[test]
fn dropped_writer_leaves_no_trailer() {
    let mut out = Vec::new();
    {
        let mut w = WriterBuilder::new(Target::Redis72).build(&mut out);
        w.write_header().unwrap();
        w.select_db(0, 1, 0).unwrap();
        for i in 0..20_000 {
            w.write_entry(&Entry::new(
                format!("key:{i}"),
                Value::String(b("some value here")),
            ))
            .unwrap();
        }
        // dropped without finish
    }
    assert!(!out.is_empty(), "big buffers are flushed while writing");
    assert!(read_keyspace(&out).is_err());
    let mut out2 = Vec::new();
    {
        let mut w = WriterBuilder::new(Target::Redis72).build(&mut out2);
        w.write_header().unwrap();
    }
    assert!(out2.is_empty(), "a dropped writer writes nothing more");
}

#[test]
fn streaming_small_collections_match_write_entry() {
    let list: Vec<Bytes> = (0..300).map(|i| Bytes::from(format!("e{i}"))).collect();
    let set: Vec<Bytes> = (0..100).map(|i| Bytes::from(i.to_string())).collect();
    let zset: Vec<(Bytes, f64)> = (0..50)
        .map(|i| (Bytes::from(format!("m{i}")), (50 - i) as f64 / 3.0))
        .collect();
    let hash: Vec<HashField> = (0..60)
        .map(|i| hf(&format!("f{i}"), &format!("v{i}"), None))
        .collect();
    for target in [Target::Redis62, Target::Redis70, Target::Redis72] {
        let meta = KeyMeta::expiring(4102444800000);
        let mut a = open(target);
        a.select_db(0, 4, 4).unwrap();
        let mut l = a.begin_list(b"l", meta, list.len() as u64).unwrap();
        list.iter().for_each(|e| l.push(e).unwrap());
        assert!(l.end().unwrap());
        let mut s = a.begin_set(b"s", meta, set.len() as u64).unwrap();
        set.iter().for_each(|e| s.push(e).unwrap());
        s.end().unwrap();
        let mut z = a.begin_zset(b"z", meta, zset.len() as u64).unwrap();
        zset.iter().for_each(|(m, sc)| z.push(m, *sc).unwrap());
        z.end().unwrap();
        let mut h = a.begin_hash(b"h", meta, hash.len() as u64).unwrap();
        hash.iter()
            .for_each(|f| h.push(&f.field, &f.value).unwrap());
        h.end().unwrap();
        let (fa, sa) = a.finish().unwrap();

        let mut bw = open(target);
        bw.select_db(0, 4, 4).unwrap();
        for (k, v) in [
            ("l", Value::List(list.clone())),
            ("s", Value::Set(set.clone())),
            ("z", Value::SortedSet(zset.clone())),
            ("h", Value::Hash(hash.clone())),
        ] {
            let mut e = Entry::new(k, v);
            e.expire_at_ms = Some(4102444800000);
            bw.write_entry(&e).unwrap();
        }
        let (fb, sb) = bw.finish().unwrap();
        assert!(fa == fb, "{target}: streamed bytes differ from write_entry");
        assert_eq!(sa, sb);
    }
}

#[test]
fn streaming_big_collections_use_plain_types() {
    let mut w = WriterBuilder::new(Target::Redis72)
        .collection_buffer(10_000)
        .build(Vec::new());
    w.write_header().unwrap();
    w.select_db(0, 5, 0).unwrap();
    let n = 20_000u64;
    let mut l = w.begin_list(b"list", KeyMeta::default(), n).unwrap();
    for i in 0..n {
        l.push(format!("element-{i}").as_bytes()).unwrap();
    }
    l.end().unwrap();
    let mut s = w.begin_set(b"set", KeyMeta::default(), 1000).unwrap();
    for i in 0..1000 {
        s.push(format!("m{i}").as_bytes()).unwrap();
    }
    s.end().unwrap();
    let mut z = w.begin_zset(b"zset", KeyMeta::default(), 3).unwrap();
    z.push(b"a", 1.0).unwrap();
    z.push(&[b'x'; 100], f64::NEG_INFINITY).unwrap();
    z.push(b"c", 3.5).unwrap();
    z.end().unwrap();
    let mut h = w.begin_hash(b"hash", KeyMeta::default(), 2).unwrap();
    h.push(b"f", &[b'v'; 65]).unwrap();
    h.push(b"g", b"1").unwrap();
    h.end().unwrap();
    let e = w.begin_set(b"empty", KeyMeta::default(), 0).unwrap();
    assert!(!e.end().unwrap());
    let (file, summary) = w.finish().unwrap();
    assert_eq!((summary.keys, summary.skipped_empty), (4, 1));
    let types: Vec<String> = events(&file)
        .into_iter()
        .filter(|e| e.starts_with("key"))
        .collect();
    assert_eq!(
        types,
        vec!["key list 1", "key set 2", "key zset 5", "key hash 4"]
    );
    let back = read_keyspace(&file).unwrap();
    let entries = &back.dbs[&0].entries;
    let Value::List(l) = &entries[0].value else {
        panic!()
    };
    assert_eq!(l.len() as u64, n);
    assert_eq!(l[12345], b("element-12345"));
    assert_eq!(
        entries[2].value,
        Value::SortedSet(vec![
            (b("a"), 1.0),
            (Bytes::from(vec![b'x'; 100]), f64::NEG_INFINITY),
            (b("c"), 3.5)
        ])
    );
}

/// The streaming API (`rdb_testkit::streamed`) within the default buffer writes exactly what
/// `write_keyspace` writes, for every target (field TTLs dropped where a target has none),
/// streams and hashes with field TTLs included (but for sorted sets too
/// a listpack, which are streamed as type 5 in push order, where `write_keyspace` writes a
/// skiplist's descending order).
#[test]
fn streaming_within_the_buffer_matches_write_keyspace() {
    let mut ks = rdb_testkit::gen::mixed(400, 21);
    for d in ks.dbs.values_mut() {
        d.entries
            .retain(|e| !matches!(&e.value, Value::SortedSet(z) if z.len() > 128 || z.iter().any(|(m, _)| m.len() > 64)));
    }
    let mut rng = <rand::rngs::StdRng as rand::SeedableRng>::seed_from_u64(21);
    let big = rdb_testkit::gen::stream(&mut rng, 700, 3);
    ks.db_mut(0)
        .entries
        .push(Entry::new("stream:big", Value::Stream(Box::new(big))));
    let hfe = rdb_testkit::gen::field_ttl_hashes(40, 21);
    ks.db_mut(0)
        .entries
        .extend(hfe.dbs[&0].entries.iter().cloned());
    for target in Target::ALL {
        let builder = WriterBuilder::new(target)
            .ctime(CTIME)
            .used_mem(1 << 20)
            .drop_unsupported(true);
        let Ok((want, _)) = write_keyspace(&ks, Vec::new(), &builder) else {
            continue;
        };
        let (got, summary) = rdb_testkit::streamed::write_streamed(&ks, &builder).unwrap();
        let at = got.iter().zip(&want).position(|(a, b)| a != b);
        assert!(
            got == want,
            "{target}: streamed bytes differ from write_keyspace at {at:?} ({} vs {} bytes)",
            got.len(),
            want.len()
        );
        assert_eq!(summary.keys, ks.key_count() as u64);
    }
}

/// Node masters and counts of each stream key, from the file's events.
fn stream_nodes(file: &[u8]) -> Vec<(String, Vec<(StreamId, u64)>)> {
    let mut p = Parser::new(SliceSource::new(file), Limits::default());
    let mut out: Vec<(String, Vec<(StreamId, u64)>)> = Vec::new();
    while let Some(ev) = p.next_event().unwrap() {
        match ev {
            Event::Key(k) => out.push((String::from_utf8_lossy(&k.key.to_vec()).into(), vec![])),
            Event::StreamNode { master, count, .. } => {
                out.last_mut().unwrap().1.push((master, count));
            }
            _ => {}
        }
    }
    out.retain(|(_, nodes)| !nodes.is_empty());
    out
}

/// Beyond the buffer a stream is streamed in nodes of `stream-node-max-entries` entries, and
/// reads back as the model (type 15, 19 and 21 records).
#[test]
fn streaming_streams_beyond_the_buffer() {
    let mut rng = <rand::rngs::StdRng as rand::SeedableRng>::seed_from_u64(7);
    let mut ks = Keyspace::default();
    for (name, n, groups) in [
        ("s1050", 1050, 3),
        ("s100", 100, 1),
        ("s1", 1, 1),
        ("s0", 0, 0),
    ] {
        let s = rdb_testkit::gen::stream(&mut rng, n, groups);
        ks.db_mut(0)
            .entries
            .push(Entry::new(name, Value::Stream(Box::new(s))));
    }
    // An empty stream with a group (XGROUP CREATE … MKSTREAM).
    let Value::Stream(s0) = &mut ks.db_mut(0).entries[3].value else {
        unreachable!()
    };
    s0.groups.push(ConsumerGroup {
        name: b("g"),
        ..Default::default()
    });
    for (target, ty) in [
        (Target::Redis62, 15),
        (Target::Redis70, 19),
        (Target::Redis72, 21),
        (Target::Valkey90, 21),
    ] {
        for per_node in [100, 7, 0] {
            let cfg = rdb_writer::EncodingConfig {
                stream_node_max_entries: per_node,
                ..Default::default()
            };
            let builder = WriterBuilder::new(target)
                .ctime(CTIME)
                .collection_buffer(0)
                .encoding(cfg);
            let (file, summary) = rdb_testkit::streamed::write_streamed(&ks, &builder).unwrap();
            assert_eq!(summary.keys, 4);
            let keys: Vec<String> = events(&file)
                .into_iter()
                .filter(|e| e.starts_with("key"))
                .collect();
            assert_eq!(
                keys,
                ["s1050", "s100", "s1", "s0"].map(|k| format!("key {k} {ty}")),
                "{target}"
            );
            let per = if per_node == 0 { 100 } else { per_node } as u64;
            for (key, nodes) in stream_nodes(&file) {
                let n: u64 = key[1..].parse().unwrap();
                let counts: Vec<u64> = nodes.iter().map(|&(_, c)| c).collect();
                let mut want = vec![per; (n / per) as usize];
                if !n.is_multiple_of(per) {
                    want.push(n % per);
                }
                assert_eq!(counts, want, "{target} {key}");
            }
            let back = read_keyspace(&file).unwrap();
            assert_same_keyspace(&canonical(back), &expected(&ks, target), target);
        }
    }
}

/// Hashes with field TTLs streamed beyond the buffer: type 24 for `redis-7.4`, type 22 for
/// `valkey-9.0`, reading back as the model; dropped and counted with `drop_unsupported`;
/// refused otherwise; TTLs checked as `write_value` checks them.
#[test]
fn streaming_hashes_with_field_ttls() {
    let ks = rdb_testkit::gen::field_ttl_hashes(30, 5);
    let ttls: u64 = ks.dbs[&0]
        .entries
        .iter()
        .map(|e| match &e.value {
            Value::Hash(f) => f.iter().filter(|f| f.expire_at_ms.is_some()).count() as u64,
            _ => 0,
        })
        .sum();
    for (target, ty) in [
        (Target::Redis74, 24),
        (Target::Valkey90, 22),
        (Target::Redis72, 4),
    ] {
        let builder = WriterBuilder::new(target)
            .ctime(CTIME)
            .collection_buffer(0)
            .drop_unsupported(true);
        let (file, summary) = rdb_testkit::streamed::write_streamed(&ks, &builder).unwrap();
        assert!(events(&file)
            .iter()
            .filter(|e| e.starts_with("key"))
            .all(|e| e.ends_with(&format!(" {ty}"))));
        assert_eq!(summary.dropped_field_ttls, if ty == 4 { ttls } else { 0 });
        let back = read_keyspace(&file).unwrap();
        assert_same_keyspace(&canonical(back), &expected(&ks, target), target);
    }

    let opened = |target: Target, buffer: usize| {
        let mut w = WriterBuilder::new(target)
            .ctime(CTIME)
            .collection_buffer(buffer)
            .field_ttls(true)
            .build(Vec::new());
        w.write_header().unwrap();
        w.select_db(0, 1, 0).unwrap();
        w
    };
    let t = 4_102_444_800_000i64;
    // An empty hash is skipped, as with begin_hash.
    let mut w = opened(Target::Redis74, 0);
    let h = w
        .begin_hash_with_field_ttls(b"h", KeyMeta::default(), 0, t)
        .unwrap();
    assert!(!h.end().unwrap());
    assert!(!w.is_poisoned());
    // A target without field TTLs refuses them at the start.
    let mut w = opened(Target::Redis72, 0);
    let e = w
        .begin_hash_with_field_ttls(b"h", KeyMeta::default(), 2, t)
        .unwrap_err();
    assert!(matches!(e, WriteError::Unsupported { .. }), "{e}");
    assert!(!w.is_poisoned());
    for (target, buffer) in [
        (Target::Redis74, 0),
        (Target::Redis74, 1 << 20),
        (Target::Valkey90, 0),
    ] {
        // A TTL in a hash begun without them.
        let mut w = opened(target, buffer);
        let mut h = w.begin_hash(b"h", KeyMeta::default(), 1).unwrap();
        assert!(matches!(
            h.push_with_expiry(b"f", b"v", Some(t)),
            Err(WriteError::State(_))
        ));
        // Below the declared smallest TTL; out of the servers' range.
        for (bad, says) in [
            (t - 1, "below the smallest TTL declared"),
            (-5, "expiry -5"),
        ] {
            let mut w = opened(target, buffer);
            let mut h = w
                .begin_hash_with_field_ttls(b"h", KeyMeta::default(), 2, t)
                .unwrap();
            h.push_with_expiry(b"a", b"1", Some(t)).unwrap();
            let e = h.push_with_expiry(b"b", b"2", Some(bad)).unwrap_err();
            assert!(e.to_string().contains(says), "{e}");
            drop(h);
            assert!(w.is_poisoned());
        }
        // No field carries the declared smallest TTL: refused at end, the writer poisoned
        // only when the record was streamed.
        let mut w = opened(target, buffer);
        let mut h = w
            .begin_hash_with_field_ttls(b"h", KeyMeta::default(), 2, t)
            .unwrap();
        h.push_with_expiry(b"a", b"1", Some(t + 5)).unwrap();
        h.push_with_expiry(b"b", b"2", None).unwrap();
        let e = h.end().unwrap_err();
        assert!(
            e.to_string().contains("smallest pushed: 4102444800005"),
            "{e}"
        );
        assert_eq!(w.is_poisoned(), buffer == 0, "{target} buffer {buffer}");
    }
}

/// The buffer counts what holding an element costs, not only its bytes: empty elements fill
/// it too (they used to count nothing, so a list of empty elements was held whole).
#[test]
fn streaming_buffer_counts_what_holding_an_element_costs() {
    // Stream nodes of at most 64 bytes when cut as `XADD` cuts them (buffered).
    let cfg = rdb_writer::EncodingConfig {
        stream_node_max_bytes: 64,
        ..Default::default()
    };
    let mut w = WriterBuilder::new(Target::Redis70)
        .ctime(CTIME)
        .collection_buffer(1000)
        .encoding(cfg)
        .build(Vec::new());
    w.write_header().unwrap();
    w.select_db(0, 3, 0).unwrap();
    let mut l = w.begin_list(b"empties", KeyMeta::default(), 100).unwrap();
    (0..100).for_each(|_| l.push(b"").unwrap());
    l.end().unwrap();
    let mut l = w.begin_list(b"few", KeyMeta::default(), 10).unwrap();
    (0..10).for_each(|_| l.push(b"").unwrap());
    l.end().unwrap();
    let mut s = w.begin_stream(b"stream", KeyMeta::default(), 30).unwrap();
    for i in 0..30 {
        s.push(StreamId::new(i + 1, 0), &[(&b""[..], &b""[..])])
            .unwrap();
    }
    let tail = Stream {
        last_id: StreamId::new(30, 0),
        ..Stream::default()
    };
    s.end(&tail).unwrap();
    let (file, _) = w.finish().unwrap();
    let keys: Vec<String> = events(&file)
        .into_iter()
        .filter(|e| e.starts_with("key"))
        .collect();
    // 100 empty elements pass 1000 bytes (plain type 1); 10 do not (a quicklist, 18). The
    // stream of 30 empty-valued entries was streamed: one node of 30 entries, where the
    // buffered path cuts nodes of 64 bytes as `XADD` does.
    assert_eq!(keys, ["key empties 1", "key few 18", "key stream 19"]);
    let nodes = stream_nodes(&file);
    assert_eq!(nodes[0].1.len(), 1);
}

#[test]
fn streaming_stream_errors() {
    let id = StreamId::new;
    let fields = [(&b"f"[..], &b"v"[..])];
    for buffer in [0, 1 << 20] {
        let opened = || {
            let mut w = WriterBuilder::new(Target::Redis72)
                .ctime(CTIME)
                .collection_buffer(buffer)
                .build(Vec::new());
            w.write_header().unwrap();
            w.select_db(0, 1, 0).unwrap();
            w
        };
        // IDs out of order poison the writer.
        let mut w = opened();
        let mut s = w.begin_stream(b"s", KeyMeta::default(), 3).unwrap();
        s.push(id(5, 0), &fields).unwrap();
        let e = s.push(id(5, 0), &fields).unwrap_err();
        assert!(
            e.to_string().contains("not increasing: 5-0 then 5-0"),
            "{e}"
        );
        drop(s);
        assert!(w.is_poisoned());
        // An entry without fields (no server makes one) poisons the writer; write_value
        // refuses it too.
        let mut w = opened();
        let mut s = w.begin_stream(b"s", KeyMeta::default(), 2).unwrap();
        let e = s.push(id(5, 0), &[] as &[(&[u8], &[u8])]).unwrap_err();
        assert!(
            e.to_string().contains("stream entry 5-0 has no fields"),
            "{e}"
        );
        drop(s);
        assert!(w.is_poisoned());
        let mut w = opened();
        let empty_entry = Stream {
            entries: vec![StreamEntry {
                id: id(5, 0),
                fields: vec![],
            }],
            last_id: id(5, 0),
            ..Stream::default()
        };
        let e = w
            .write_value(
                b"s",
                KeyMeta::default(),
                &Value::Stream(Box::new(empty_entry)),
            )
            .unwrap_err();
        assert!(
            e.to_string().contains("stream entry 5-0 has no fields"),
            "{e}"
        );
        assert!(!w.is_poisoned());
        // Too many, too few.
        let mut w = opened();
        let mut s = w.begin_stream(b"s", KeyMeta::default(), 1).unwrap();
        s.push(id(1, 0), &fields).unwrap();
        assert!(matches!(
            s.push(id(2, 0), &fields),
            Err(WriteError::CountMismatch {
                declared: 1,
                actual: 2,
                ..
            })
        ));
        let mut w = opened();
        let mut s = w.begin_stream(b"s", KeyMeta::default(), 2).unwrap();
        s.push(id(1, 0), &fields).unwrap();
        let tail = Stream {
            last_id: id(9, 0),
            ..Stream::default()
        };
        assert!(matches!(
            s.end(&tail),
            Err(WriteError::CountMismatch {
                declared: 2,
                actual: 1,
                ..
            })
        ));
        assert!(w.is_poisoned());
        // An entry after last_id; a group PEL entry without a consumer; entries in the tail:
        // refused, and the writer poisoned only when the record was streamed.
        let bad_tails = [
            Stream {
                last_id: id(1, 5),
                ..Stream::default()
            },
            Stream {
                last_id: id(9, 0),
                groups: vec![ConsumerGroup {
                    name: b("g"),
                    pel: vec![PendingEntry {
                        id: id(2, 0),
                        delivery_time_ms: 1,
                        delivery_count: 1,
                    }],
                    ..Default::default()
                }],
                ..Stream::default()
            },
            Stream {
                last_id: id(9, 0),
                entries: vec![StreamEntry {
                    id: id(3, 0),
                    fields: vec![(b("f"), b("v"))],
                }],
                ..Stream::default()
            },
        ];
        for (tail, says) in
            bad_tails
                .iter()
                .zip(["after last_id", "has no consumer", "holds 1 entries"])
        {
            let mut w = opened();
            let mut s = w.begin_stream(b"s", KeyMeta::default(), 1).unwrap();
            s.push(id(2, 0), &fields).unwrap();
            let e = s.end(tail).unwrap_err();
            assert!(e.to_string().contains(says), "{e}");
            assert!(e.to_string().contains("db 0, key \"s\""), "{e}");
            assert_eq!(w.is_poisoned(), buffer == 0, "{says}, buffer {buffer}");
            if buffer > 0 {
                // Nothing of the key was written: the file is still valid without it.
                let (file, summary) = w.finish().unwrap();
                assert_eq!(summary.keys, 0);
                read_keyspace(&file).unwrap();
            }
        }
        // Dropped after part of the record was written.
        let mut w = opened();
        let mut s = w.begin_stream(b"s", KeyMeta::default(), 2).unwrap();
        s.push(id(1, 0), &fields).unwrap();
        drop(s);
        assert_eq!(w.is_poisoned(), buffer == 0);
    }
}

#[test]
fn streaming_count_mismatch_poisons() {
    // Too many.
    let mut w = open(Target::Redis72);
    w.select_db(0, 1, 0).unwrap();
    let mut l = w.begin_list(b"l", KeyMeta::default(), 1).unwrap();
    l.push(b"a").unwrap();
    assert!(matches!(
        l.push(b"b"),
        Err(WriteError::CountMismatch {
            declared: 1,
            actual: 2,
            ..
        })
    ));
    drop(l);
    assert!(w.is_poisoned());
    assert!(matches!(
        w.write_entry(&Entry::new("k", Value::String(b("v")))),
        Err(WriteError::Poisoned(_))
    ));
    assert!(matches!(w.finish(), Err(WriteError::Poisoned(_))));
    // Too few, in plain (streamed) mode.
    let mut w = open(Target::Redis72);
    let mut s = w.begin_set(b"s", KeyMeta::default(), 1000).unwrap();
    s.push(b"a").unwrap();
    assert!(matches!(
        s.end(),
        Err(WriteError::CountMismatch {
            declared: 1000,
            actual: 1,
            ..
        })
    ));
    assert!(matches!(w.finish(), Err(WriteError::Poisoned(_))));
    // Dropped half-way after bytes were written.
    let mut w = open(Target::Redis72);
    let mut h = w.begin_hash(b"h", KeyMeta::default(), 600).unwrap();
    h.push(b"f", b"v").unwrap();
    drop(h);
    assert!(w.is_poisoned());
    // Forgotten (no `Drop`, no `end()`) after its record began: the writer itself knows the
    // record is open, so nothing more is written and the file is not finished.
    let mut w = open(Target::Redis72);
    let mut s = w.begin_set(b"s", KeyMeta::default(), 1000).unwrap();
    s.push(b"a").unwrap();
    std::mem::forget(s);
    assert!(w.is_poisoned());
    let err = w
        .write_entry(&Entry::new("k", Value::String(b("v"))))
        .unwrap_err();
    assert!(
        matches!(&err, WriteError::Poisoned(why) if why.contains("\"s\"")),
        "{err}"
    );
    assert!(matches!(w.finish(), Err(WriteError::Poisoned(_))));
    // Forgotten while still buffered (nothing of it written): the writer goes on.
    let mut w = open(Target::Redis72);
    let mut s = w.begin_set(b"s", KeyMeta::default(), 3).unwrap();
    s.push(b"a").unwrap();
    std::mem::forget(s);
    assert!(!w.is_poisoned());
    w.finish().unwrap();
    // NaN.
    let mut w = open(Target::Redis72);
    let mut z = w.begin_zset(b"z", KeyMeta::default(), 2).unwrap();
    assert!(matches!(
        z.push(b"a", f64::NAN),
        Err(WriteError::InvalidValue { .. })
    ));
    drop(z);
    assert!(w.finish().is_err());
}

/// A member or field pushed twice into a streamed plain record is refused at its repeat
/// (servers refuse such a file), in every kind; off, the repeat is written and the file
/// then fails `read`-side checks no more than the server's load would.
#[test]
fn streamed_collections_refuse_repeated_members() {
    let open_with = |check: bool| {
        let mut w = WriterBuilder::new(Target::Redis72)
            .ctime(CTIME)
            .streamed_duplicate_check(check)
            .build(Vec::new());
        w.write_header().unwrap();
        w.select_db(0, 1, 0).unwrap();
        w
    };
    let members: Vec<String> = (0..1000).map(|i| format!("m{i}")).collect();
    // A set past the listpack limits (streamed from the first push), repeat at the end.
    let mut w = open_with(true);
    let mut s = w.begin_set(b"s", KeyMeta::default(), 1001).unwrap();
    for m in &members {
        s.push(m.as_bytes()).unwrap();
    }
    let err = s.push(b"m17").unwrap_err();
    assert!(
        err.to_string() == "db 0, key \"s\": member \"m17\" appears twice",
        "{err}"
    );
    drop(s);
    assert!(matches!(w.finish(), Err(WriteError::Poisoned(_))));
    // A zset and a hash whose repeat is among the elements buffered before going plain.
    let mut w = open_with(true);
    let mut z = w.begin_zset(b"z", KeyMeta::default(), 3).unwrap();
    z.push(b"a", 1.0).unwrap();
    z.push(b"a", 2.0).unwrap();
    // A member over zset-max-listpack-value (64 bytes): the buffer goes plain.
    let err = z.push(&[b'x'; 100], 0.5).unwrap_err();
    assert!(
        err.to_string().contains("member \"a\" appears twice"),
        "{err}"
    );
    drop(z);
    let mut w = open_with(true);
    let mut h = w.begin_hash(b"h", KeyMeta::default(), 600).unwrap();
    let err = (0..600)
        .map(|i| h.push(format!("f{}", i % 599).as_bytes(), b"v"))
        .find_map(Result::err)
        .expect("refused");
    assert!(
        err.to_string().contains("field \"f0\" appears twice"),
        "{err}"
    );
    drop(h);
    // Lists repeat freely; unique members pass; with the check off the repeat is written.
    let mut w = open_with(true);
    let mut l = w.begin_list(b"l", KeyMeta::default(), 1000).unwrap();
    for _ in 0..1000 {
        l.push(b"x").unwrap();
    }
    assert!(l.end().unwrap());
    let mut s = w.begin_set(b"s", KeyMeta::default(), 1000).unwrap();
    for m in &members {
        s.push(m.as_bytes()).unwrap();
    }
    assert!(s.end().unwrap());
    w.finish().unwrap();
    let mut w = open_with(false);
    let mut s = w.begin_set(b"s", KeyMeta::default(), 1001).unwrap();
    for m in members.iter().chain(std::iter::once(&members[0])) {
        s.push(m.as_bytes()).unwrap();
    }
    assert!(s.end().unwrap());
    w.finish().unwrap();
}

#[test]
fn large_strings_bypass_the_buffer() {
    let big: Vec<u8> = (0..3_000_000u32)
        .map(|i| (i.wrapping_mul(2_654_435_761) >> 24) as u8)
        .collect();
    for lzf in [false, true] {
        let mut w = WriterBuilder::new(Target::Redis70)
            .compression(lzf)
            .buffer_size(64 << 10)
            .build(Vec::new());
        w.write_header().unwrap();
        w.select_db(0, 2, 0).unwrap();
        w.write_entry(&Entry::new("big", Value::String(Bytes::from(big.clone()))))
            .unwrap();
        w.write_entry(&Entry::new("after", Value::String(b("x"))))
            .unwrap();
        let (file, s) = w.finish().unwrap();
        assert_eq!(s.bytes, file.len() as u64);
        let back = read_keyspace(&file).unwrap();
        assert_eq!(
            back.dbs[&0].entries[0].value,
            Value::String(Bytes::from(big.clone()))
        );
        assert_eq!(back.dbs[&0].entries[1].value, Value::String(b("x")));
    }
}

#[test]
fn summary_counts_per_db() {
    let mut ks = Keyspace::default();
    let mut e = Entry::new("a", Value::String(b("1")));
    e.expire_at_ms = Some(1);
    ks.db_mut(0).entries.push(e);
    ks.db_mut(0)
        .entries
        .push(Entry::new("b", Value::String(b("2"))));
    ks.db_mut(5)
        .entries
        .push(Entry::new("c", Value::List(vec![b("x")])));
    ks.db_mut(9)
        .entries
        .push(Entry::new("d", Value::Hash(vec![])));
    let (file, s) = write_keyspace(&ks, Vec::new(), &WriterBuilder::new(Target::Valkey72)).unwrap();
    assert_eq!((s.keys, s.expires, s.skipped_empty), (3, 1, 1));
    assert_eq!(s.dbs.len(), 2);
    assert_eq!(
        (s.dbs[&0].keys, s.dbs[&0].expires, s.dbs[&5].keys),
        (2, 1, 1)
    );
    let mut p = Parser::new(SliceSource::new(&file), Limits::default());
    let mut resize = Vec::new();
    while let Some(ev) = p.next_event().unwrap() {
        if let Event::ResizeDb { keys, expires } = ev {
            resize.push((keys, expires));
        }
    }
    assert_eq!(resize, vec![(2, 1), (1, 0)]);
}

/// A key repeated in a database is refused before anything is written (a server refuses
/// such a file: "Duplicated key found in RDB file"); the same key in two databases is fine.
/// Both sides of the bucketed check (4,096 keys) are exercised.
#[test]
fn duplicate_keys_are_refused_before_writing() {
    let builder = WriterBuilder::new(Target::Redis70).ctime(CTIME);
    for n in [3usize, 5000] {
        let mut ks = Keyspace::default();
        for i in 0..n {
            ks.db_mut(0)
                .entries
                .push(Entry::new(format!("k{i}"), Value::String(b("v"))));
        }
        ks.db_mut(1)
            .entries
            .push(Entry::new("k1", Value::String(b("other db"))));
        let (bytes, _) = write_keyspace(&ks, Vec::new(), &builder).unwrap();
        assert_eq!(read_keyspace(&bytes).unwrap().dbs[&0].entries.len(), n);

        // Repeats (a different type does not matter); the earliest repeat is named.
        ks.db_mut(0)
            .entries
            .push(Entry::new("k1", Value::List(vec![b("x")])));
        ks.db_mut(0)
            .entries
            .push(Entry::new("k0", Value::String(b("again"))));
        let mut out = Vec::new();
        match write_keyspace(&ks, &mut out, &builder) {
            Err(WriteError::DuplicateKey { db: 0, key }) => {
                assert_eq!(key.to_string(), "\"k1\"", "n {n}");
            }
            other => panic!("n {n}: {other:?}"),
        }
        assert!(out.is_empty(), "bytes written before the error");
    }
    // An empty collection is not written, so it does not repeat its key.
    let mut ks = Keyspace::default();
    ks.db_mut(0)
        .entries
        .push(Entry::new("k", Value::String(b("v"))));
    ks.db_mut(0)
        .entries
        .push(Entry::new("k", Value::Set(vec![])));
    write_keyspace(&ks, Vec::new(), &builder).unwrap();
}

/// Function libraries a server would refuse to load — no `#!<engine> name=<lib>` line, or a
/// name written twice — are errors: from `write_keyspace` before anything is written, from
/// `write_function` with nothing of the record written (the writer stays usable).
#[test]
fn invalid_function_libraries_are_refused() {
    let builder = WriterBuilder::new(Target::Redis70).ctime(CTIME);
    let bad: [&[&str]; 5] = [
        &["return 1"],
        &["#!lua\nreturn 1"],
        &["#!lua name=a-b\nreturn 1"],
        // Redis has no engine but Lua ("Engine 'python' not found"): `Unsupported`.
        &["#!python name=p\nreturn 1"],
        &[
            "#!lua name=f\nreturn 1",
            "#!lua name=g\n",
            "#!lua name=f\nreturn 2",
        ],
    ];
    for codes in bad {
        let mut ks = Keyspace::default();
        ks.db_mut(0)
            .entries
            .push(Entry::new("k", Value::String(b("v"))));
        ks.functions = codes.iter().map(|c| b(c)).collect();
        let mut out = Vec::new();
        let err = write_keyspace(&ks, &mut out, &builder).unwrap_err();
        assert!(
            matches!(
                (&err, codes[0].starts_with("#!python")),
                (WriteError::InvalidValue { .. }, false) | (WriteError::Unsupported { .. }, true)
            ),
            "{codes:?}: {err}"
        );
        assert!(out.is_empty(), "{codes:?}: bytes written before the error");
        // Dropped (not checked) for a target without functions.
        let old = WriterBuilder::new(Target::Redis62)
            .ctime(CTIME)
            .drop_unsupported(true);
        write_keyspace(&ks, Vec::new(), &old).unwrap();
    }
    let mut w = open(Target::Redis70);
    w.write_function(b"#!lua name=f\nreturn 1").unwrap();
    let err = w.write_function(b"#!lua name=f\nreturn 2").unwrap_err();
    assert!(err.to_string().contains("appears twice"), "{err}");
    assert!(matches!(
        w.write_function(b"no shebang"),
        Err(WriteError::InvalidValue { .. })
    ));
    w.write_function(b"#!LUA name=g\nreturn 3").unwrap();
    let err = w.write_function(b"#!js name=h\nreturn 4").unwrap_err();
    assert!(err.to_string().contains("engine \"js\""), "{err}");
    // Valkey 8.1 and 9.0 take any engine name (a module may register a scripting engine);
    // Valkey 8.0 cannot.
    let mut v = open(Target::Valkey90);
    v.write_function(b"#!js name=h\nreturn 4").unwrap();
    let mut v = open(Target::Valkey80);
    assert!(v.write_function(b"#!js name=h\nreturn 4").is_err());
    let (file, s) = w.finish().unwrap();
    assert_eq!(s.functions, 2);
    assert_eq!(read_keyspace(&file).unwrap().functions.len(), 2);
}

/// A module value or MODULE_AUX payload that is not exactly one module opcode stream (what a
/// loading server walks) is refused with nothing of the record written; a valid one is copied.
#[test]
fn module_payloads_must_be_one_opcode_stream() {
    use rdb_model::{ModuleAux, ModuleValue};
    let id = rdb_model::json::module_id_from_name("ReJSON-RL", 3).unwrap();
    // uint 5, string "ab", EOF.
    let good = Bytes::from_static(&[2, 5, 5, 2, b'a', b'b', 0]);
    let bad = [
        Bytes::from_static(&[0, 1, 2]),    // bytes after EOF
        Bytes::from_static(&[5, 3, b'a']), // truncated string
        Bytes::from_static(&[2, 5]),       // no EOF
        Bytes::from_static(&[9, 0]),       // unknown opcode
    ];
    let module = |raw: &Bytes| {
        Value::Module(ModuleValue {
            module_id: id,
            raw: raw.clone(),
        })
    };
    let mut w = open(Target::Redis70);
    for raw in &bad {
        let err = w.write_entry(&Entry::new("m", module(raw))).unwrap_err();
        assert!(
            matches!(err, WriteError::InvalidValue { .. }),
            "{raw:?}: {err}"
        );
        let aux = ModuleAux {
            module_id: id,
            when: 2,
            raw: raw.clone(),
        };
        assert!(matches!(
            w.write_module_aux(&aux),
            Err(WriteError::InvalidValue { .. })
        ));
    }
    w.write_entry(&Entry::new("m", module(&good))).unwrap();
    let (file, s) = w.finish().unwrap();
    assert_eq!(s.keys, 1);
    let back = read_keyspace(&file).unwrap();
    assert_eq!(back.dbs[&0].entries[0].value, module(&good));
}

/// The node section of the one stream record in `body` (from SELECTDB): the bytes after the
/// key up to the metadata — the node count, then each node's master-ID and listpack strings.
fn stream_node_section(body: &[u8], key: &[u8]) -> Vec<u8> {
    use rdb_format::length::{decode_length, Length};
    use rdb_format::string::decode_string_header;
    let mut prefix = vec![key.len() as u8];
    prefix.extend_from_slice(key);
    let at = body
        .windows(prefix.len())
        .position(|w| w == prefix)
        .unwrap()
        + prefix.len();
    let value = &body[at..];
    let (Length::Len(nodes), mut end) = decode_length(value, true).unwrap() else {
        panic!("node count");
    };
    for _ in 0..2 * nodes {
        let (h, n) = decode_string_header(&value[end..], true).unwrap();
        end += n + h.payload_len() as usize;
    }
    value[..end].to_vec()
}

/// `write_stream_with_nodes` given the nodes the writer built for one line writes, for every
/// line, the bytes `write_value` writes: the node section is shared by stream types 15, 19
/// and 21, and the metadata (groups, PELs, consumers, the type-19/21 fields) are written as
/// each type holds them.
#[test]
fn a_stream_with_copied_nodes_is_the_stream_written_whole() {
    use rand::SeedableRng;
    let mut rng = rand::rngs::StdRng::seed_from_u64(0x57_0DE5);
    let stream = rdb_testkit::gen::stream(&mut rng, 350, 3);
    assert!(stream.groups.iter().any(|g| !g.pel.is_empty()));
    let entry = Entry::new(b("st"), Value::Stream(Box::new(stream.clone())));
    let nodes = stream_node_section(&body(Target::Valkey81, std::slice::from_ref(&entry)), b"st");
    for target in [
        Target::Redis60,
        Target::Redis62,
        Target::Redis70,
        Target::Valkey81,
    ] {
        let whole = body(target, std::slice::from_ref(&entry));
        let mut w = open(target);
        let start = w.position() as usize;
        w.select_db(0, 1, 0).unwrap();
        w.write_stream_with_nodes(b"st", KeyMeta::default(), &nodes, &stream)
            .unwrap();
        let (file, _) = w.finish().unwrap();
        assert_eq!(&file[start..file.len() - 8], &whole[..], "{target}");
    }
}

/// The raw value level end to end: every key of each real dump a writer target can stand for
/// (same header) is read with `Parser::skip_key_raw` and copied with `write_raw_value`, never
/// decoded; the copy reads back (every value decoded) as the same keyspace (values,
/// expiries, LRU/LFU).
#[test]
fn raw_values_copy_real_dumps() {
    let mut copied = 0;
    for f in rdb_testkit::testdata::server_dumps() {
        let data = std::fs::read(&f).unwrap();
        let want = read_keyspace(&data).unwrap();
        let mut p = Parser::new(SliceSource::new(&data), Limits::default());
        let Some(Event::Header(h)) = p.next_event().unwrap() else {
            panic!("{}: no header", f.display());
        };
        let Some(target) = Target::ALL.into_iter().find(|t| t.header(false) == h) else {
            continue; // no writer line writes this header (RDB < 9, or a Valkey 9 field-TTL file)
        };
        let mut w = WriterBuilder::new(target).ctime(CTIME).build(Vec::new());
        w.write_header().unwrap();
        let mut keys = 0;
        while let Some(ev) = p.next_event().unwrap() {
            match ev {
                Event::SelectDb { db } => {
                    let d = &want.dbs[&u32::try_from(db).unwrap()];
                    let expires = d
                        .entries
                        .iter()
                        .filter(|e| e.expire_at_ms.is_some())
                        .count();
                    w.select_db(db as u32, d.entries.len() as u64, expires as u64)
                        .unwrap();
                }
                Event::Key(k) => {
                    let key = k.key.as_bytes(&mut rdb_format::IntText::new(0)).to_vec();
                    let meta = KeyMeta {
                        expire_at_ms: k.expire_at_ms,
                        lru_idle_s: k.lru_idle_s,
                        lfu_freq: k.lfu_freq,
                    };
                    let t = k.rdb_type;
                    let raw = p.skip_key_raw().unwrap().expect("inside a key");
                    w.write_raw_value(&key, t, meta, raw).unwrap();
                    keys += 1;
                }
                _ => {}
            }
        }
        let (out, _) = w.finish().unwrap();
        let mut got = read_keyspace(&out).unwrap();
        let mut want = want;
        got.functions.clear();
        want.functions.clear();
        assert_eq!(canonical(got), canonical(want), "{}", f.display());
        copied += keys;
        eprintln!(
            "{}: {keys} keys copied raw for {}",
            f.display(),
            target.name()
        );
    }
    assert!(copied > 500, "{copied} keys copied");
}

/// An expiry of -1 ms is the servers' "no expiry": a key written with it would load without
/// one and stay. The writer refuses it (naming db and key), with nothing written for the key;
/// other times in the past (0, -2) are written as they are (the server drops those keys).
#[test]
fn expiry_minus_one_is_refused() {
    let mut w = open(Target::Redis70);
    w.select_db(3, 2, 2).unwrap();
    let err = w
        .write_value(b"k", KeyMeta::expiring(-1), &Value::String(b("v")))
        .unwrap_err();
    assert!(
        matches!(err, WriteError::InvalidValue { .. }) && err.to_string().contains("db 3, key"),
        "{err}"
    );
    for ms in [0, -2] {
        w.write_value(
            format!("k{ms}").as_bytes(),
            KeyMeta::expiring(ms),
            &Value::String(b("v")),
        )
        .unwrap();
    }
    let mut ks = Keyspace::default();
    let mut e = Entry::new("k", Value::String(b("v")));
    e.expire_at_ms = Some(-1);
    ks.db_mut(0).entries.push(e);
    let mut out = Vec::new();
    assert!(write_keyspace(&ks, &mut out, &WriterBuilder::new(Target::Redis70)).is_err());
}

/// Streamed collections declared with exactly a default compact limit (128 set / zset
/// members, 512 hash fields, 512 intset members) keep the compact encoding, as
/// `write_entry` does: the same bytes. One more member gives the plain types (whose member
/// order `write_entry` may choose otherwise, so only the types are compared there).
#[test]
fn streaming_at_the_compact_limits_matches_write_entry() {
    for target in [Target::Redis62, Target::Redis70, Target::Redis72] {
        for extra in [0usize, 1] {
            let strings: Vec<Bytes> = (0..128 + extra)
                .map(|i| Bytes::from(format!("s{i}")))
                .collect();
            let ints: Vec<Bytes> = (0..512 + extra)
                .map(|i| Bytes::from(i.to_string()))
                .collect();
            let zset: Vec<(Bytes, f64)> = strings.iter().map(|m| (m.clone(), 1.5)).collect();
            let hash: Vec<HashField> = (0..512 + extra)
                .map(|i| hf(&format!("f{i}"), "v", None))
                .collect();
            let mut a = open(target);
            a.select_db(0, 4, 0).unwrap();
            let meta = KeyMeta::default();
            let mut s = a.begin_set(b"s", meta, strings.len() as u64).unwrap();
            strings.iter().for_each(|e| s.push(e).unwrap());
            s.end().unwrap();
            let mut s = a.begin_set(b"i", meta, ints.len() as u64).unwrap();
            ints.iter().for_each(|e| s.push(e).unwrap());
            s.end().unwrap();
            let mut z = a.begin_zset(b"z", meta, zset.len() as u64).unwrap();
            zset.iter().for_each(|(m, sc)| z.push(m, *sc).unwrap());
            z.end().unwrap();
            let mut h = a.begin_hash(b"h", meta, hash.len() as u64).unwrap();
            hash.iter()
                .for_each(|f| h.push(&f.field, &f.value).unwrap());
            h.end().unwrap();
            let (fa, _) = a.finish().unwrap();

            let mut bw = open(target);
            bw.select_db(0, 4, 0).unwrap();
            for (k, v) in [
                ("s", Value::Set(strings.clone())),
                ("i", Value::Set(ints.clone())),
                ("z", Value::SortedSet(zset.clone())),
                ("h", Value::Hash(hash.clone())),
            ] {
                bw.write_entry(&Entry::new(k, v)).unwrap();
            }
            let (fb, _) = bw.finish().unwrap();
            let types = |f: &[u8]| -> Vec<String> {
                events(f)
                    .into_iter()
                    .filter(|e| e.starts_with("key"))
                    .collect()
            };
            let want = match (extra, target) {
                (1, _) => ["key s 2", "key i 2", "key z 5", "key h 4"],
                (_, Target::Redis62) => ["key s 2", "key i 11", "key z 12", "key h 13"],
                (_, Target::Redis70) => ["key s 2", "key i 11", "key z 17", "key h 16"],
                _ => ["key s 20", "key i 11", "key z 17", "key h 16"],
            };
            assert_eq!(types(&fa), want, "{target}, limit + {extra}");
            assert_eq!(types(&fb), want, "{target}, limit + {extra}: write_entry");
            if extra == 0 {
                assert!(
                    fa == fb,
                    "{target}, at the limits: streamed bytes differ from write_entry"
                );
            }
        }
    }
}

/// A streamed collection kept in memory and written at `end()` counts as one key offered
/// after the sizing record, not two: a RESIZEDB declaring 2 keys with one such key is
/// refused at `finish`.
#[test]
fn a_buffered_streamed_key_counts_once_against_the_sizing_record() {
    let mut w = open(Target::Redis72);
    w.select_db(0, 2, 0).unwrap();
    let mut l = w.begin_list(b"l", KeyMeta::default(), 3).unwrap();
    for e in [b"a", b"b", b"c"] {
        l.push(e).unwrap();
    }
    l.end().unwrap();
    let e = w.finish().unwrap_err();
    assert!(
        e.to_string()
            .contains("declares 2 keys / 0 expires, but 1 keys were offered"),
        "{e}"
    );
    // Declaring the one key passes.
    let mut w = open(Target::Redis72);
    w.select_db(0, 1, 0).unwrap();
    let mut l = w.begin_list(b"l", KeyMeta::default(), 3).unwrap();
    for e in [b"a", b"b", b"c"] {
        l.push(e).unwrap();
    }
    l.end().unwrap();
    w.finish().unwrap();
}
