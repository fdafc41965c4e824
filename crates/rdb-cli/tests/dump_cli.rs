//! `rdbkit dump`: pipes equal files, errors name the offset, filters skip, and the RESP
//! output recreates the keyspace in a real server.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use rdb_model::{Keyspace, Value};
use rdb_testkit::server::{canonicalize, diff_keyspaces, RedisServer, ServerKind, ServerOptions};

fn rdbkit() -> Command {
    Command::new(env!("CARGO_BIN_EXE_rdbkit"))
}

fn testdata() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../testdata")
}

fn server_files() -> Vec<PathBuf> {
    rdb_testkit::testdata::server_dumps()
}

fn dump_file(path: &Path, args: &[&str]) -> (i32, Vec<u8>, String) {
    let o = rdbkit().arg("dump").arg(path).args(args).output().unwrap();
    (
        o.status.code().unwrap(),
        o.stdout,
        String::from_utf8_lossy(&o.stderr).into_owned(),
    )
}

/// `rdbkit dump ARG` with standard input redirected from the file `path`.
fn dump_redirected(arg: &str, path: &Path) -> std::process::Output {
    rdbkit()
        .args(["dump", arg])
        .stdin(std::fs::File::open(path).map(Stdio::from).unwrap())
        .output()
        .unwrap()
}

fn dump_pipe(path: &Path, args: &[&str]) -> (i32, Vec<u8>) {
    let data = std::fs::read(path).unwrap();
    let mut child = rdbkit()
        .args(["dump", "-"])
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stdin = child.stdin.take().unwrap();
    let writer = std::thread::spawn(move || {
        // Small writes, like a pipe from `cat`.
        for c in data.chunks(4093) {
            if stdin.write_all(c).is_err() {
                break;
            }
        }
    });
    let o = child.wait_with_output().unwrap();
    writer.join().unwrap();
    (o.status.code().unwrap(), o.stdout)
}

#[test]
fn pipe_output_equals_file_output() {
    for f in server_files() {
        for args in [&[][..], &["--format", "resp"][..]] {
            let (code, out, err) = dump_file(&f, args);
            assert_eq!(code, 0, "{}: {err}", f.display());
            assert!(!out.is_empty());
            let (pcode, pout) = dump_pipe(&f, args);
            assert_eq!(pcode, 0, "{}", f.display());
            assert!(pout == out, "{} {args:?}: pipe output differs", f.display());
        }
    }
}

#[test]
fn jsonl_lines_are_key_and_record_lines() {
    let f = testdata().join("servers/redis-7.4.1/dev/dump.rdb");
    let (code, out, _) = dump_file(&f, &[]);
    assert_eq!(code, 0);
    let expected =
        rdb_testkit::expected::load_expected(&f.with_file_name("expected.json")).unwrap();
    let want_keys: usize = expected.databases.values().map(|d| d.entries.len()).sum();
    let mut keys = 0;
    let mut aux = 0;
    for line in out.split(|&b| b == b'\n').filter(|l| !l.is_empty()) {
        let v: serde_json::Value = serde_json::from_slice(line).unwrap();
        if v.get("key").is_some() {
            keys += 1;
            let (_, e) = rdb_model::json::entry_from_json(&v).unwrap();
            assert_eq!(v["type"], e.value.value_type().name());
        } else if v.get("aux").is_some() {
            aux += 1;
        }
    }
    assert_eq!(keys, want_keys);
    assert!(aux >= 5);
}

#[test]
fn filters_select_keys() {
    let f = testdata().join("servers/redis-7.2.6/dev/dump.rdb");
    let (code, out, _) = dump_file(&f, &["--type", "hash", "--db", "0"]);
    assert_eq!(code, 0);
    let lines: Vec<serde_json::Value> = out
        .split(|&b| b == b'\n')
        .filter(|l| !l.is_empty())
        .map(|l| serde_json::from_slice(l).unwrap())
        .collect();
    assert!(!lines.is_empty());
    assert!(
        lines.iter().all(|v| v["type"] == "hash" && v["db"] == 0),
        "{lines:?}"
    );
    let (_, out, _) = dump_file(&f, &["--key", "^dev:zset:"]);
    let n = out.split(|&b| b == b'\n').filter(|l| !l.is_empty()).count();
    assert!(n > 0);
    assert!(String::from_utf8_lossy(&out)
        .lines()
        .all(|l| l.contains("\"dev:zset:")));
    let (code, _, err) = dump_file(&f, &["--type", "nope"]);
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("one of: string, list, set, zset"), "{err}");
    // A database the file does not hold: empty output, exit 0, a warning naming it.
    let (code, out, err) = dump_file(&f, &["--db", "9"]);
    assert_eq!((code, out.len()), (0, 0));
    assert!(
        err.contains("--db 9: the file holds no key in db 9"),
        "{err}"
    );
}

/// `--key` matches bytes: a key that is not UTF-8 is not silently left out of `.`, `[^…]`
/// or `\xff` (with Unicode on they match only UTF-8 text).
#[test]
fn key_filter_matches_bytes() {
    let f = testdata().join("servers/redis-7.0.15/dev/dump.rdb");
    let count = |re: &str| {
        let (code, out, err) = dump_file(&f, &["--key", re]);
        assert_eq!(code, 0, "{err}");
        out.split(|&b| b == b'\n').filter(|l| !l.is_empty()).count()
    };
    // `dev:str:bin\x00\xff\x01key\x00`
    assert_eq!(count(r"\xff"), 1);
    assert_eq!(count(r"^dev:str:bin.*$"), 1);
    assert_eq!(count(r"^dev:str:bin[^z]+$"), 1);
    assert_eq!(count("^dev:str:bin"), 1);
    assert!(count(r"(?u)\w") > 100);
}

/// A pipe named by path (`/dev/stdin`) is read once as `-` is (it used to be taken for an
/// empty file); a value cut short is reported at its first byte with its whole length, the
/// same from a file, a pipe and `rdb-verify`; a count cut short names the bytes left the
/// same from a file and a pipe.
#[test]
fn paths_of_pipes_and_truncations_read_alike() {
    let f = testdata().join("servers/redis-7.0.15/dev/dump.rdb");
    let (_, want, _) = dump_file(&f, &[]);
    let o = dump_redirected("/dev/stdin", &f);
    assert_eq!(
        o.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&o.stderr)
    );
    // (A redirected regular file: read through the path like any file.)
    assert_eq!(o.stdout, want);
    let mut child = rdbkit()
        .args(["dump", "/dev/stdin"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let data = std::fs::read(&f).unwrap();
    let mut stdin = child.stdin.take().unwrap();
    let writer = std::thread::spawn(move || stdin.write_all(&data));
    let o = child.wait_with_output().unwrap();
    writer.join().unwrap().unwrap();
    assert_eq!(o.status.code(), Some(0));
    assert_eq!(o.stdout, want, "/dev/stdin as a pipe");

    let tmp = tempfile::tempdir().unwrap();
    let data = std::fs::read(&f).unwrap();
    // Inside the 147,599 LZF bytes of `dev:str:1mib-blocks` (from byte 94,926), past the
    // decoder's first 64 KiB.
    let cut = tmp.path().join("lzf-cut.rdb");
    std::fs::write(&cut, &data[..200_000]).unwrap();
    let (code, _, file_err) = dump_file(&cut, &[]);
    assert_eq!(code, 1);
    assert!(
        file_err.contains("byte 94926 (0x172ce)")
            && file_err.contains("needed 147599 bytes, 105074 left"),
        "{file_err}"
    );
    let o = dump_redirected("-", &cut);
    let pipe_err = String::from_utf8_lossy(&o.stderr);
    assert_eq!(
        pipe_err.replace("<stdin>", ""),
        file_err.replace(&cut.display().to_string(), "")
    );
    let v = Command::new(env!("CARGO_BIN_EXE_rdb-verify"))
        .args(["--json"])
        .arg(&cut)
        .output()
        .unwrap();
    let report: serde_json::Value = serde_json::from_slice(&v.stdout).unwrap();
    let finding = &report["files"][0]["findings"][0];
    assert_eq!(finding["offset"], 94926, "{report}");
    assert!(
        finding["message"]
            .as_str()
            .is_some_and(|m| m.contains("needed 147599 bytes, 105074 left")),
        "{report}"
    );
    // A hash field TTL (a length) cut after 2 of its bytes.
    let hfe = std::fs::read(testdata().join("public/hdt3213-rdb/hash_with_hfe.rdb")).unwrap();
    let cut = tmp.path().join("hfe-cut.rdb");
    std::fs::write(&cut, &hfe[..123]).unwrap();
    let (_, _, file_err) = dump_file(&cut, &[]);
    assert!(
        file_err.contains("hash field TTL (2 bytes left)"),
        "{file_err}"
    );
    let (code, _) = dump_pipe(&cut, &[]);
    assert_eq!(code, 1);
    let o = dump_redirected("-", &cut);
    assert!(
        String::from_utf8_lossy(&o.stderr).contains("hash field TTL (2 bytes left)"),
        "{}",
        String::from_utf8_lossy(&o.stderr)
    );
}

#[test]
fn corrupt_files_exit_1_naming_the_offset() {
    let f = testdata().join("public/redis-redis/corrupt_ziplist.rdb");
    let (code, _, err) = dump_file(&f, &[]);
    assert_eq!(code, 1);
    assert!(err.contains("corrupt_ziplist.rdb: byte 489"), "{err}");
    assert!(err.contains("key \"key:000000000091\""), "{err}");
    // A truncated file, through a pipe.
    let data = std::fs::read(testdata().join("servers/redis-7.0.15/dev/dump.rdb")).unwrap();
    let tmp = tempfile::tempdir().unwrap();
    let cut = tmp.path().join("cut.rdb");
    std::fs::write(&cut, &data[..data.len() / 2]).unwrap();
    let (code, _, err) = dump_file(&cut, &[]);
    assert_eq!(code, 1);
    assert!(err.contains("unexpected end of file"), "{err}");
    let (pcode, _) = dump_pipe(&cut, &[]);
    assert_eq!(pcode, 1);
    // A path that cannot be opened cannot run at all (2, as `rdb-verify` and `export`).
    let (code, _, err) = dump_file(&tmp.path().join("missing.rdb"), &[]);
    assert_eq!(code, 2);
    assert!(err.contains("missing.rdb: No such file"), "{err}");
    let (code, _, err) = dump_file(tmp.path(), &[]);
    assert_eq!(code, 2);
    assert!(err.contains("is a directory"), "{err}");
}

/// Stream consumer seen/active times are set by the server when the RESP commands run;
/// everything else must match.
fn forget_stream_clocks(ks: &mut Keyspace) {
    for db in ks.dbs.values_mut() {
        for e in &mut db.entries {
            if let Value::Stream(s) = &mut e.value {
                for g in &mut s.groups {
                    for c in &mut g.consumers {
                        c.seen_time_ms = 0;
                        c.active_time_ms = None;
                    }
                }
            }
        }
    }
}

/// Sends `resp` to `server` through `redis-cli --pipe`: whether it exited 0, and its report.
fn pipe_into(server: &RedisServer, resp: &[u8]) -> (bool, String) {
    let mut cli = Command::new("/usr/bin/redis-cli")
        .args([
            "-h",
            "127.0.0.1",
            "-p",
            &server.port().to_string(),
            "--pipe",
        ])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    cli.stdin.take().unwrap().write_all(resp).unwrap();
    let o = cli.wait_with_output().unwrap();
    (
        o.status.success(),
        String::from_utf8_lossy(&o.stdout).into_owned(),
    )
}

/// Sends `resp` to `server` through `redis-cli --pipe`; asserts no command failed.
fn replay(server: &RedisServer, resp: &[u8]) {
    let (ok, report) = pipe_into(server, resp);
    assert!(ok && report.contains("errors: 0"), "{report}");
}

/// `dump --format resp` of `f` replayed into a fresh Debian server holds `f`'s keyspace.
fn assert_resp_recreates(f: &Path) {
    let (code, resp, err) = dump_file(f, &["--format", "resp"]);
    assert_eq!(code, 0, "{err}");
    let mut server = RedisServer::start(ServerKind::Debian, &ServerOptions::default()).unwrap();
    replay(&server, &resp);
    let mut got = server.read_keyspace().unwrap();
    let mut want = rdb_reader::read_keyspace(&std::fs::read(f).unwrap()).unwrap();
    canonicalize(&mut want);
    forget_stream_clocks(&mut want);
    forget_stream_clocks(&mut got);
    let diffs = diff_keyspaces(&want, &got);
    assert!(diffs.is_empty(), "{}: {}", f.display(), diffs.join("\n"));
}

#[test]
fn resp_output_recreates_the_keyspace_in_a_real_server() {
    if !ServerKind::Debian.require_or_skip() {
        return;
    }
    assert_resp_recreates(&testdata().join("servers/redis-7.0.15/dev/dump.rdb"));
}

/// A server keeps a pending entry whose message was deleted (`XDEL`) or trimmed (`XTRIM`);
/// `XCLAIM` cannot make one, so the RESP output adds such IDs, claims them and deletes them
/// again (it used to drop them silently).
#[test]
fn resp_output_keeps_pending_entries_of_deleted_messages() {
    if !ServerKind::Debian.require_or_skip() {
        return;
    }
    let mut src = RedisServer::start(ServerKind::Debian, &ServerOptions::default()).unwrap();
    for id in ["1-1", "2-1", "3-1", "4-1", "5-1"] {
        src.cmd(&["XADD", "s", id, "f", id]).unwrap();
    }
    src.cmd(&["XGROUP", "CREATE", "s", "g", "0"]).unwrap();
    src.cmd(&["XGROUP", "CREATE", "s", "h", "0"]).unwrap();
    src.cmd(&[
        "XREADGROUP",
        "GROUP",
        "g",
        "alice",
        "COUNT",
        "3",
        "STREAMS",
        "s",
        ">",
    ])
    .unwrap();
    src.cmd(&["XREADGROUP", "GROUP", "g", "bob", "STREAMS", "s", ">"])
        .unwrap();
    src.cmd(&[
        "XREADGROUP",
        "GROUP",
        "h",
        "carol",
        "COUNT",
        "2",
        "STREAMS",
        "s",
        ">",
    ])
    .unwrap();
    // 2-1 deleted, 1-1 trimmed, the top entry 5-1 deleted: 3-1 and 4-1 stay.
    src.cmd(&["XDEL", "s", "2-1", "5-1"]).unwrap();
    src.cmd(&["XTRIM", "s", "MAXLEN", "2"]).unwrap();
    // A stream whose every entry is gone but still pending.
    src.cmd(&["XADD", "t", "7-1", "f", "v"]).unwrap();
    src.cmd(&["XGROUP", "CREATE", "t", "g", "0"]).unwrap();
    src.cmd(&["XREADGROUP", "GROUP", "g", "dave", "STREAMS", "t", ">"])
        .unwrap();
    src.cmd(&["XDEL", "t", "7-1"]).unwrap();
    // Pending messages only trimmed, never deleted: the max-deleted ID stays 0-0 (an `XDEL`
    // of the placeholders set it, which `XSETID … MAXDELETEDID 0-0` cannot undo); and the
    // same with every entry trimmed.
    for (key, maxlen) in [("u", "3"), ("v", "0")] {
        for id in ["1-0", "2-0", "3-0", "4-0", "5-0"] {
            src.cmd(&["XADD", key, id, "f", id]).unwrap();
        }
        src.cmd(&["XGROUP", "CREATE", key, "g", "0"]).unwrap();
        src.cmd(&[
            "XREADGROUP",
            "GROUP",
            "g",
            "c",
            "COUNT",
            "2",
            "STREAMS",
            key,
            ">",
        ])
        .unwrap();
        src.cmd(&["XTRIM", key, "MAXLEN", maxlen]).unwrap();
    }
    let saved = src.save().unwrap();
    let dir = tempfile::tempdir().unwrap();
    let f = dir.path().join("pending-deleted.rdb");
    std::fs::copy(&saved, &f).unwrap();
    drop(src);
    let ks = rdb_reader::read_keyspace(&std::fs::read(&f).unwrap()).unwrap();
    let pending: usize = ks
        .dbs
        .values()
        .flat_map(|d| &d.entries)
        .map(|e| match &e.value {
            Value::Stream(s) => s.groups.iter().map(|g| g.pel.len()).sum(),
            _ => 0,
        })
        .sum();
    assert_eq!(
        pending,
        5 + 2 + 1 + 2 + 2,
        "the source file's pending entries"
    );
    assert_resp_recreates(&f);
}

/// An expiry of -1 is the servers' "none": loading the file keeps the key without one, and
/// so does the RESP output (a `PEXPIREAT key -1` deleted it at once).
#[test]
fn resp_output_keeps_a_key_whose_expiry_is_minus_one() {
    if !ServerKind::Debian.require_or_skip() {
        return;
    }
    let f = testdata().join("malformed/expire-minus-one.rdb");
    let (code, resp, err) = dump_file(&f, &["--format", "resp"]);
    assert_eq!(code, 0, "{err}");
    let mut server = RedisServer::start(ServerKind::Debian, &ServerOptions::default()).unwrap();
    replay(&server, &resp);
    let mut loaded = RedisServer::start(ServerKind::Debian, &ServerOptions::with_rdb(&f)).unwrap();
    let (got, want) = (
        server.read_keyspace().unwrap(),
        loaded.read_keyspace().unwrap(),
    );
    assert!(got.key_count() > 0);
    let diffs = diff_keyspaces(&want, &got);
    assert!(diffs.is_empty(), "{}", diffs.join("\n"));
}

/// A file that cannot be read to the end gives RESP output ending in a command no server
/// knows, so that `redis-cli --pipe` reports an error rather than a clean partial load.
#[test]
fn resp_output_of_a_truncated_file_ends_in_an_error() {
    if !ServerKind::Debian.require_or_skip() {
        return;
    }
    let full = std::fs::read(testdata().join("servers/redis-7.0.15/dev/dump.rdb")).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let cut = dir.path().join("cut.rdb");
    std::fs::write(&cut, &full[..full.len() / 2]).unwrap();
    let (code, resp, _) = dump_file(&cut, &["--format", "resp"]);
    assert_eq!(code, 1);
    let tail = String::from_utf8_lossy(&resp[resp.len().saturating_sub(400)..]).into_owned();
    assert!(tail.contains("RDBKIT-DUMP-INCOMPLETE"), "{tail}");
    let server = RedisServer::start(ServerKind::Debian, &ServerOptions::default()).unwrap();
    let (_, report) = pipe_into(&server, &resp);
    assert!(report.contains("errors: 1"), "{report}");
}

/// A database a server with the default 16 databases cannot select is named on stderr: its
/// `SELECT` fails there, and `redis-cli --pipe` writes its keys into the database before.
#[test]
fn resp_output_warns_of_a_database_beyond_the_default_16() {
    let (code, _, err) = dump_file(
        &testdata().join("malformed/selectdb-16.rdb"),
        &["--format", "resp"],
    );
    assert_eq!(code, 0, "{err}");
    assert!(err.contains("warning: SELECT 16"), "{err}");
    let (_, _, err) = dump_file(
        &testdata().join("servers/redis-7.0.15/dev/dump.rdb"),
        &["--format", "resp"],
    );
    assert!(!err.contains("SELECT"), "{err}");
    // A key of db 20 that the file cuts short is not printed: nor is its SELECT, nor the
    // warning about it.
    let dir = tempfile::tempdir().unwrap();
    let cut = dir.path().join("cut.rdb");
    std::fs::write(&cut, b"REDIS0009\xfe\x14\x01\x01l\x02\x01a").unwrap();
    let (code, resp, err) = dump_file(&cut, &["--format", "resp"]);
    assert_eq!(code, 1, "{err}");
    assert!(
        !err.contains("SELECT") && !resp.windows(6).any(|w| w == b"SELECT"),
        "{err}"
    );
}

/// A file of big collections of every kind the dump prints element by element (quicklist,
/// hashtable set, intset, skiplist sorted set, hashtable hash), with binary, integer, quoted
/// and empty elements, special scores, expiries, LRU and LFU metadata, two databases, small
/// listpack-encoded keys between them, two strings of megabytes and a stream of 20,000
/// entries with a consumer group. The `big` list alone dumps to
/// more than 1 MiB (the dump's in-memory limit per key).
fn big_collections_file(dir: &Path) -> PathBuf {
    use rdb_model::{Entry, HashField};
    use rdb_writer::{write_keyspace, Target, WriterBuilder};
    let elem = |i: u64| -> rdb_model::Bytes {
        match i % 5 {
            0 => i.to_string().into(),
            1 => format!("quote\"back\\slash{i}").into(),
            2 => [&[0xff, 0, b'\n'][..], &i.to_le_bytes()].concat().into(),
            3 if i == 3 => rdb_model::Bytes::new(),
            3 => format!("e{i}").into(),
            _ => format!("element:{i}:{}", "x".repeat((i % 90) as usize)).into(),
        }
    };
    let mut ks = Keyspace::default();
    for db in [0u32, 3] {
        let entries = &mut ks.db_mut(db).entries;
        let mut big = Entry::new(
            format!("big-list-{db}"),
            Value::List((0..60_000).map(elem).collect()),
        );
        big.expire_at_ms = Some(4_102_444_800_000);
        entries.push(big);
        entries.push(Entry::new(
            "small-list",
            Value::List((0..5).map(elem).collect()),
        ));
        let mut set = Entry::new("set", Value::Set((0..1500).map(elem).collect()));
        set.lru_idle_s = Some(77);
        entries.push(set);
        entries.push(Entry::new(
            "intset",
            Value::Set((0..700u64).map(|i| (i * 3).to_string().into()).collect()),
        ));
        let scores = [f64::INFINITY, f64::NEG_INFINITY, -0.0, 0.1, 1e300, 5e-324];
        let mut zset = Entry::new(
            "zset",
            Value::SortedSet(
                (0..1300u64)
                    .map(|i| {
                        (
                            elem(i),
                            scores.get(i as usize).copied().unwrap_or(i as f64 / 7.0),
                        )
                    })
                    .collect(),
            ),
        );
        zset.lfu_freq = Some(9);
        zset.expire_at_ms = Some(4_102_444_900_123);
        entries.push(zset);
        entries.push(Entry::new(
            "small-zset",
            Value::SortedSet(vec![("a".into(), 1.5), ("b".into(), 2.0)]),
        ));
        entries.push(Entry::new(
            "hash",
            Value::Hash(
                (0..1100u64)
                    .map(|i| HashField {
                        field: format!("field:{i}").into(),
                        value: elem(i + 1),
                        expire_at_ms: None,
                    })
                    .collect(),
            ),
        ));
        entries.push(Entry::new(
            "small-hash",
            Value::Hash(vec![HashField {
                field: "f".into(),
                value: "v".into(),
                expire_at_ms: None,
            }]),
        ));
        entries.push(Entry::new("string", Value::String("s".into())));
    }
    // A hash of big values, alone in db 5 (its RESP output starts with a SELECT): a batch of
    // 512 fields is past 1 MiB (written straight out, after the SELECT).
    ks.db_mut(5).entries.push(Entry::new(
        "big-values",
        Value::Hash(
            (0..700u64)
                .map(|i| HashField {
                    field: format!("f{i}").into(),
                    value: format!("{i:>3000}").into(),
                    expire_at_ms: None,
                })
                .collect(),
        ),
    ));
    // Strings the reader gives in several pieces: binary (base64 in several pieces too) and
    // printable with quotes to escape.
    let binary: Vec<u8> = (0..3_000_001u32).map(|i| (i * 7 % 256) as u8).collect();
    let text: String = (0..300_000).map(|i| format!("\"t{}\\", i % 977)).collect();
    ks.db_mut(0)
        .entries
        .push(Entry::new("big-binary", Value::String(binary.into())));
    ks.db_mut(3)
        .entries
        .push(Entry::new("big-text", Value::String(text.into())));
    // A stream of 20,000 entries (its JSON past 1 MiB), with a group whose PEL is shared by
    // two consumers, and an entry ID deleted in the middle (a pending ID without its entry).
    use rdb_model::{Consumer, ConsumerGroup, PendingEntry, Stream, StreamEntry, StreamId};
    let entries: Vec<StreamEntry> = (1..=20_001u64)
        .filter(|&i| i != 500)
        .map(|i| StreamEntry {
            id: StreamId::new(1_700_000_000_000 + i, i % 3),
            fields: vec![("f".into(), elem(i)), (elem(i + 1), "v".into())],
        })
        .collect();
    let pel: Vec<StreamId> = [499u64, 500, 501, 9_000]
        .iter()
        .map(|&i| StreamId::new(1_700_000_000_000 + i, i % 3))
        .collect();
    let stream = Stream {
        length: entries.len() as u64,
        last_id: entries.last().unwrap().id,
        first_id: Some(entries[0].id),
        max_deleted_id: Some(pel[1]),
        entries_added: Some(20_001),
        groups: vec![ConsumerGroup {
            name: "group".into(),
            last_delivered_id: pel[3],
            entries_read: Some(9_000),
            pel: pel
                .iter()
                .map(|&id| PendingEntry {
                    id,
                    delivery_time_ms: 1_700_000_000_000,
                    delivery_count: 2,
                })
                .collect(),
            consumers: vec![
                Consumer {
                    name: "alice".into(),
                    seen_time_ms: 1_700_000_000_001,
                    active_time_ms: None,
                    pel: pel[..2].to_vec(),
                },
                Consumer {
                    name: "bob".into(),
                    seen_time_ms: 1_700_000_000_002,
                    active_time_ms: None,
                    pel: pel[2..].to_vec(),
                },
            ],
        }],
        entries,
    };
    ks.db_mut(0)
        .entries
        .push(Entry::new("stream", Value::Stream(Box::new(stream))));
    let path = dir.join("big-collections.rdb");
    let file = std::fs::File::create(&path).unwrap();
    let builder = WriterBuilder::new(Target::Redis70).ctime(1);
    let (file, _) = write_keyspace(&ks, std::io::BufWriter::new(file), &builder).unwrap();
    file.into_inner().unwrap().sync_all().unwrap();
    path
}

/// Collections are printed element by element (memory independent of their size), in exactly
/// the bytes the model gives for the whole key: every testdata file that reads whole (the
/// real servers' dumps of every RDB version, the public historic files, the hand-made files
/// that are valid), and a file of collections past the RESP batch size and the in-memory limit.
#[test]
fn streamed_collections_print_as_the_model_does() {
    let dir = tempfile::tempdir().unwrap();
    let mut files = rdb_testkit::testdata::rdb_files("");
    files.push(big_collections_file(dir.path()));
    let mut compared = 0;
    for f in &files {
        let model = rdb_testkit::dump_model::model_dump(&std::fs::read(f).unwrap());
        if !model.complete {
            continue;
        }
        let (want_lines, want_resp) = (model.key_lines, model.resp);
        compared += 1;
        let (code, jsonl, err) = dump_file(f, &[]);
        assert_eq!(code, 0, "{}: {err}", f.display());
        let got_lines: Vec<&[u8]> = jsonl
            .split(|&b| b == b'\n')
            .filter(|l| l.starts_with(b"{\"db\":"))
            .collect();
        assert_eq!(got_lines.len(), want_lines.len(), "{}", f.display());
        for (got, want) in got_lines.iter().zip(&want_lines) {
            assert!(
                got == want,
                "{}:\n got {}\nwant {}",
                f.display(),
                String::from_utf8_lossy(&got[..got.len().min(300)]),
                String::from_utf8_lossy(&want[..want.len().min(300)])
            );
        }
        let (code, resp, err) = dump_file(f, &["--format", "resp"]);
        assert_eq!(code, 0, "{}: {err}", f.display());
        assert!(resp == want_resp, "{}: RESP output differs", f.display());
    }
    // Every real server's dump and a good share of the other files.
    assert!(compared > server_files().len() + 40, "{compared}");
    // The big file's longest line (the 60,000-element list) is well past 1 MiB.
    let (_, jsonl, _) = dump_file(files.last().unwrap(), &[]);
    let longest = jsonl.split(|&b| b == b'\n').map(<[u8]>::len).max();
    assert!(longest > Some(1 << 20), "{longest:?}");
}

/// The big collections' RESP output recreates them in a real server.
#[test]
fn resp_output_of_big_collections_recreates_them_in_a_real_server() {
    if !ServerKind::Debian.require_or_skip() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    assert_resp_recreates(&big_collections_file(dir.path()));
}

/// A file cut inside a collection whose output already reached stdout: the JSONL key line is
/// left unterminated — not valid JSON, so no reader takes it for a whole key — and the error
/// line follows on its own line; `rdbkit export --from` refuses the saved dump. The RESP
/// output ends with the command no server knows.
#[test]
fn a_file_cut_inside_a_big_collection_leaves_its_line_invalid() {
    let dir = tempfile::tempdir().unwrap();
    let full = std::fs::read(big_collections_file(dir.path())).unwrap();
    // Cut three quarters into the first big list (past the first MiB of its output).
    let mut starts = Vec::new();
    let mut p = rdb_reader::Parser::new(
        rdb_reader::SliceSource::new(&full),
        rdb_reader::Limits::default(),
    );
    while let Some(ev) = p.next_event().unwrap() {
        if let rdb_reader::Event::Key(k) = ev {
            starts.push(k.offset as usize);
        }
    }
    let cut = dir.path().join("cut.rdb");
    std::fs::write(&cut, &full[..(starts[0] + 3 * starts[1]) / 4]).unwrap();
    let (code, jsonl, err) = dump_file(&cut, &[]);
    assert_eq!(code, 1, "{err}");
    let lines: Vec<&[u8]> = jsonl
        .split(|&b| b == b'\n')
        .filter(|l| !l.is_empty())
        .collect();
    let (last, before) = (lines[lines.len() - 1], lines[lines.len() - 2]);
    let error: serde_json::Value = serde_json::from_slice(last).unwrap();
    assert!(error["error"]["offset"].is_u64(), "{error}");
    assert!(before.starts_with(b"{\"db\":0,") && before.len() > 1 << 20);
    assert!(serde_json::from_slice::<serde_json::Value>(before).is_err());
    for l in &lines[..lines.len() - 2] {
        serde_json::from_slice::<serde_json::Value>(l).unwrap();
    }
    let saved = dir.path().join("cut.jsonl");
    std::fs::write(&saved, &jsonl).unwrap();
    let out = dir.path().join("out");
    std::fs::create_dir(&out).unwrap();
    let o = rdbkit()
        .args(["export", "--from"])
        .arg(&saved)
        .args(["--name", "cut", "--shards", "1", "--out"])
        .arg(&out)
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(1), "{stderr}");
    assert!(stderr.contains("cut.jsonl"), "{stderr}");
    assert_eq!(std::fs::read_dir(&out).unwrap().count(), 0, "{stderr}");

    let (code, resp, _) = dump_file(&cut, &["--format", "resp"]);
    assert_eq!(code, 1);
    assert!(resp.windows(7).any(|w| w == b"\r\nRPUSH"));
    let tail = String::from_utf8_lossy(&resp[resp.len().saturating_sub(400)..]).into_owned();
    assert!(tail.contains("RDBKIT-DUMP-INCOMPLETE"), "{tail}");
}

/// A warning that cannot be written (standard error on a full disk) does not change the
/// exit code or the output (it used to panic: exit 101).
#[test]
fn an_unwritable_stderr_leaves_the_dump_alone() {
    let f = testdata().join("servers/redis-7.0.15/dev/dump.rdb");
    let (_, want, _) = dump_file(&f, &["--db", "0"]);
    let o = rdbkit()
        .arg("dump")
        .arg(&f)
        .args(["--db", "0", "--db", "9"])
        .stderr(rdb_testkit::chunked::dev_full())
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(0));
    assert!(o.stdout == want);
}

/// Help text that cannot be written (standard output on a full disk) is a write error: exit
/// 1, as a dump that cannot be written, and named on stderr.
#[test]
fn help_that_cannot_be_written_is_an_error() {
    for args in [&["--help"][..], &["dump", "--help"], &["--version"]] {
        let o = rdbkit()
            .args(args)
            .stdout(rdb_testkit::chunked::dev_full())
            .output()
            .unwrap();
        assert_eq!(o.status.code(), Some(1), "{args:?}");
        let err = String::from_utf8_lossy(&o.stderr);
        assert!(err.starts_with("rdbkit: writing output: "), "{err}");
        let o = rdbkit().args(args).output().unwrap();
        assert_eq!(o.status.code(), Some(0), "{args:?}");
        assert!(!o.stdout.is_empty(), "{args:?}");
    }
}

/// Each `slot_info` line of a Redis 7.4 cluster dump carries the slot, key and expiry counts
/// the server wrote (as its expected.json lists them), in file order.
#[test]
fn slot_info_lines_carry_the_servers_counts() {
    let dir = testdata().join("servers/redis-7.4.1/dev-cluster");
    let expected: serde_json::Value =
        serde_json::from_slice(&std::fs::read(dir.join("expected.json")).unwrap()).unwrap();
    let want: Vec<serde_json::Value> = expected["slots"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| serde_json::json!({"slot_info": {"slot": s[0], "keys": s[1], "expires": s[2]}}))
        .collect();
    assert!(
        want.iter().any(|w| w["slot_info"]["expires"] != 0),
        "the dump must have a slot with expiring keys"
    );
    let (code, out, err) = dump_file(&dir.join("dump.rdb"), &[]);
    assert_eq!(code, 0, "{err}");
    let got: Vec<serde_json::Value> = String::from_utf8(out)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str::<serde_json::Value>(l).unwrap())
        .filter(|v| v.get("slot_info").is_some())
        .collect();
    assert_eq!(got, want);
}

/// `--db` repeated selects each database named, in any order, and no other.
#[test]
fn repeated_db_filters_select_each_database() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("dbs.rdb");
    let mut b = rdb_testkit::builder::Rdb::base(11);
    for db in 0..3u64 {
        b.select_db(db);
        b.string_key(format!("k{db}").as_bytes(), b"v");
    }
    std::fs::write(&path, b.finish()).unwrap();
    let dbs_of = |args: &[&str]| -> Vec<u64> {
        let (code, out, err) = dump_file(&path, args);
        assert_eq!(code, 0, "{err}");
        String::from_utf8(out)
            .unwrap()
            .lines()
            .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).unwrap()["db"].as_u64())
            .collect()
    };
    assert_eq!(dbs_of(&[]), [0, 1, 2]);
    assert_eq!(dbs_of(&["--db", "0", "--db", "2"]), [0, 2]);
    assert_eq!(dbs_of(&["--db", "2", "--db", "0"]), [0, 2]);
    assert_eq!(dbs_of(&["--db", "1"]), [1]);
}
