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

#[test]
fn resp_output_recreates_the_keyspace_in_a_real_server() {
    if !ServerKind::Debian.require_or_skip() {
        return;
    }
    let f = testdata().join("servers/redis-7.0.15/dev/dump.rdb");
    let (code, resp, err) = dump_file(&f, &["--format", "resp"]);
    assert_eq!(code, 0, "{err}");
    let mut server = RedisServer::start(ServerKind::Debian, &ServerOptions::default()).unwrap();
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
    cli.stdin.take().unwrap().write_all(&resp).unwrap();
    let o = cli.wait_with_output().unwrap();
    let report = String::from_utf8_lossy(&o.stdout);
    assert!(
        o.status.success() && report.contains("errors: 0"),
        "{report}"
    );
    let mut got = server.read_keyspace().unwrap();
    let mut want = rdb_reader::read_keyspace(&std::fs::read(&f).unwrap()).unwrap();
    canonicalize(&mut want);
    forget_stream_clocks(&mut want);
    forget_stream_clocks(&mut got);
    let diffs = diff_keyspaces(&want, &got);
    assert!(diffs.is_empty(), "{}", diffs.join("\n"));
}
