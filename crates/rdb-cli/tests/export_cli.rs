//! `rdbkit export` through the binary: exit codes, no overwrite, JSONL sources, and crash safety under
//! SIGKILL at random times; SIGINT / SIGTERM stop it cleanly.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

use rdb_cluster::manifest::Manifest;
use rdb_model::{Entry, Keyspace, Value};
use rdb_reader::{read_keyspace, Event, Limits, Parser, SliceSource};
use rdb_writer::{write_keyspace, Target, WriterBuilder};

const RDBKIT: &str = env!("CARGO_BIN_EXE_rdbkit");
const CTIME: &str = "1795309323";

/// The kill tests one at a time: each times its kills by the duration of an export, which
/// the other's exports would disturb.
static KILLS: std::sync::Mutex<()> = std::sync::Mutex::new(());

fn real_file() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../testdata/servers/redis-7.0.15/dev/dump.rdb")
}

fn rdbkit(args: &[&str]) -> Output {
    Command::new(RDBKIT)
        .args(args)
        .stdin(Stdio::null())
        .output()
        .unwrap()
}

fn code(o: &Output) -> i32 {
    o.status.code().unwrap_or(-1)
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

fn dir_bytes(dir: &Path) -> BTreeMap<String, Vec<u8>> {
    std::fs::read_dir(dir)
        .unwrap()
        .map(|e| {
            let e = e.unwrap();
            (
                e.file_name().to_string_lossy().into_owned(),
                std::fs::read(e.path()).unwrap(),
            )
        })
        .collect()
}

/// `rdbkit export --from SRC --name NAME --out OUT` followed by `rest`.
fn export(src: &Path, name: &str, out: &Path, rest: &[&str]) -> Output {
    let mut args = vec![
        "export",
        "--from",
        src.to_str().unwrap(),
        "--name",
        name,
        "--out",
        out.to_str().unwrap(),
    ];
    args.extend_from_slice(rest);
    rdbkit(&args)
}

#[test]
fn second_export_of_a_name_fails_and_changes_nothing() {
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().to_str().unwrap();
    let src = real_file();
    let src = src.to_str().unwrap();
    let args = [
        "export", "--from", src, "--name", "snap", "--out", out, "--shards", "3", "--db", "0",
        "--ctime", CTIME,
    ];
    let first = rdbkit(&args);
    assert_eq!(code(&first), 0, "{}", stderr(&first));
    let lines = stderr(&first);
    assert_eq!(
        lines.lines().filter(|l| l.contains("node group")).count(),
        3,
        "{lines}"
    );
    let before = dir_bytes(tmp.path());
    assert_eq!(before.len(), 4);
    let manifest =
        Manifest::from_json(std::str::from_utf8(&before["snap-manifest.json"]).unwrap()).unwrap();
    assert_eq!(manifest.snapshot_create_time, "2026-11-22T01:02:03Z");
    assert_eq!(
        manifest.node_snapshots[1].node_group_configuration.slots,
        "5462-10922"
    );
    // CacheSize comes from rdb-verify's model for the target line (default redis-7.0) and a
    // cluster-mode node: the number `rdb-verify --engine redis-7.0 --cluster-mode` reports.
    let report = rdb_verify::verify_file(
        &tmp.path().join("snap-0002.rdb"),
        &rdb_verify::Options {
            cache_model: rdb_verify::CacheModel::for_engine(rdb_verify::EngineLine::Redis7_0)
                .clustered(),
            ..rdb_verify::Options::default()
        },
    );
    assert!(report.ok, "{:?}", report.findings);
    assert_eq!(
        manifest.node_snapshots[1].cache_size_bytes,
        report.cache_size_bytes
    );

    // Same name again (even with another target or shard count): exit 1, nothing changed.
    for extra in [
        &["--shards", "3"][..],
        &["--shards", "2", "--target", "redis-7.2"][..],
    ] {
        let mut again: Vec<&str> = vec![
            "export", "--from", src, "--name", "snap", "--out", out, "--db", "0",
        ];
        again.extend_from_slice(extra);
        let o = rdbkit(&again);
        assert_eq!(code(&o), 1, "{}", stderr(&o));
        assert!(
            stderr(&o).contains(&format!("a snapshot named snap already exists in {out}")),
            "{}",
            stderr(&o)
        );
        assert!(dir_bytes(tmp.path()) == before, "first export untouched");
    }
}

/// `CacheSize` follows the target line: a Valkey 8.1 export is estimated with the Valkey 8.1
/// layout (objects embedding their keys, cache-line hashtables) and a Redis 7.0 one with Redis
/// 7.0's, each for a cluster-mode node unless every database is kept. `rdb-verify` reports the
/// same figures: with `--engine` (and `--cluster-mode`), or from the manifest it picks up in the
/// export's directory (its `Engine`/`EngineVersion`, cluster mode).
#[test]
fn cache_size_follows_the_target_line() {
    let tmp = tempfile::tempdir().unwrap();
    let src = real_file();
    let verify = |args: &[&str], path: &Path| -> serde_json::Value {
        let v = Command::new(env!("CARGO_BIN_EXE_rdb-verify"))
            .arg("--json")
            .args(args)
            .arg(path)
            .output()
            .unwrap();
        assert_eq!(code(&v), 0, "{}", String::from_utf8_lossy(&v.stdout));
        serde_json::from_slice(&v.stdout).unwrap()
    };
    let mut all_dbs = BTreeMap::new();
    for target in ["redis-7.0", "valkey-8.1"] {
        for (mode, extra) in [
            ("all-dbs", &["--shards", "1", "--all-dbs"][..]),
            ("cluster", &["--shards", "2", "--db", "0"][..]),
        ] {
            let out = tmp.path().join(format!("{target}-{mode}"));
            std::fs::create_dir(&out).unwrap();
            let mut args = vec![
                "export",
                "--from",
                src.to_str().unwrap(),
                "--name",
                "snap",
                "--out",
                out.to_str().unwrap(),
                "--target",
                target,
                "--ctime",
                CTIME,
            ];
            args.extend_from_slice(extra);
            let o = rdbkit(&args);
            assert_eq!(code(&o), 0, "{}", stderr(&o));
            let manifest = Manifest::from_json(
                &std::fs::read_to_string(out.join("snap-manifest.json")).unwrap(),
            )
            .unwrap();
            let file = out.join("snap-0001.rdb");
            let in_manifest = manifest.node_snapshots[0].cache_size_bytes;
            if mode == "all-dbs" {
                let r = verify(&["--engine", target], &file);
                assert_eq!(
                    r["files"][0]["cache_size_bytes"].as_u64(),
                    Some(in_manifest)
                );
                all_dbs.insert(target, in_manifest);
            } else {
                let r = verify(&["--engine", target, "--cluster-mode"], &file);
                assert_eq!(
                    r["files"][0]["cache_size_bytes"].as_u64(),
                    Some(in_manifest)
                );
                // The directory: its manifest gives the line and cluster mode.
                let r = verify(&[], &out);
                for (i, node) in manifest.node_snapshots.iter().enumerate() {
                    assert_eq!(
                        r["files"][i]["cache_size_bytes"].as_u64(),
                        Some(node.cache_size_bytes),
                        "{target} node {i}"
                    );
                }
                // Not the non-cluster estimate of the same file.
                let line: rdb_verify::EngineLine = target.parse().unwrap();
                let standalone = rdb_verify::Options {
                    engine: Some(line),
                    cache_model: rdb_verify::CacheModel::for_engine(line),
                    ..rdb_verify::Options::default()
                };
                let plain = rdb_verify::try_verify_file(&file, &standalone).unwrap();
                assert_ne!(plain.cache_size_bytes, in_manifest, "{target}");
                // Alone, with only its line named: a Valkey node's file has `slot-info`
                // records, which only a cluster node writes, so it is estimated as one; a
                // Redis 7.0 file has nothing to tell.
                let alone = verify(&["--engine", target], &file);
                assert_eq!(
                    alone["files"][0]["cache_size_bytes"].as_u64(),
                    Some(if target == "valkey-8.1" {
                        in_manifest
                    } else {
                        plain.cache_size_bytes
                    }),
                    "{target}"
                );
            }
        }
    }
    // Mostly short strings: 2,382,097 B for Redis 7.0, 2,130,049 B for Valkey 8.1 (jemalloc).
    let (r, v) = (all_dbs["redis-7.0"], all_dbs["valkey-8.1"]);
    assert!(v * 100 < r * 95, "{all_dbs:?}");
}

#[test]
fn exit_codes() {
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().to_str().unwrap();
    let src = real_file();
    let src = src.to_str().unwrap();
    let topo = tmp.path().join("gap.json");
    std::fs::write(
        &topo,
        r#"{"NodeGroupConfiguration": [{"NodeGroupId": "0001", "Slots": "0-99"}, {"NodeGroupId": "0002", "Slots": "200-16383"}]}"#,
    )
    .unwrap();
    let topo = topo.to_str().unwrap();
    let cases: Vec<(Vec<&str>, i32, &str)> = vec![
        // keys outside db 0 and no --db: a data error
        (vec!["--shards", "2"], 1, "database"),
        (
            vec!["--topology", topo, "--db", "0"],
            2,
            "slots 100-199 are not assigned",
        ),
        (vec!["--shards", "2", "--all-dbs"], 2, "single-node-group"),
        (vec!["--shards", "0", "--db", "0"], 2, "shard count"),
        (vec!["--db", "0"], 2, "--shards"),
        (
            vec!["--shards", "2", "--topology", topo],
            2,
            "cannot be used with",
        ),
        (
            vec!["--shards", "2", "--target", "redis-5.0"],
            2,
            "unknown target",
        ),
        (
            vec!["--shards", "2", "--db", "0", "--target", "redis-6.2"],
            1,
            "function",
        ),
        // Out-of-range numbers: refused before any work (100000 threads used to be spawned).
        (vec!["--shards", "1", "--threads", "100000"], 2, "--threads"),
        (vec!["--shards", "1", "--ctime=-5"], 2, "--ctime"),
        // A device named as the topology: refused after 16 MiB, not read to exhaustion.
        (vec!["--topology", "/dev/zero"], 2, "not a topology"),
    ];
    for (extra, want, text) in cases {
        let mut args = vec!["export", "--from", src, "--name", "x", "--out", out];
        args.extend(extra.iter().copied());
        let o = rdbkit(&args);
        assert_eq!(code(&o), want, "{args:?}: {}", stderr(&o));
        assert!(stderr(&o).contains(text), "{args:?}: {}", stderr(&o));
    }
    let o = rdbkit(&[
        "export", "--from", src, "--name", "a/b", "--out", out, "--shards", "1", "--db", "0",
    ]);
    assert_eq!(code(&o), 2, "{}", stderr(&o));
    assert!(
        stderr(&o).contains("invalid snapshot name"),
        "{}",
        stderr(&o)
    );
    // Only the topology file is left: nothing was written by the failures.
    assert_eq!(dir_bytes(tmp.path()).len(), 1);
    // A topology saved with a byte-order mark is read.
    let bom = tmp.path().join("bom.json");
    std::fs::write(
        &bom,
        "\u{feff}{\"NodeGroupConfiguration\": [{\"NodeGroupId\": \"0001\", \"Slots\": \"0-16383\"}]}",
    )
    .unwrap();
    let bom_dir = tmp.path().join("bom");
    std::fs::create_dir(&bom_dir).unwrap();
    let o = export(
        &real_file(),
        "bom",
        &bom_dir,
        &["--topology", bom.to_str().unwrap(), "--db", "0"],
    );
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    std::fs::remove_file(&bom).unwrap();
    std::fs::remove_dir_all(&bom_dir).unwrap();

    // --shards 1 --all-dbs and --drop-unsupported for RDB 9 both work.
    for extra in [
        &["--all-dbs"][..],
        &["--db", "0", "--target", "redis-6.2", "--drop-unsupported"][..],
    ] {
        let name = format!("ok{}", extra.len());
        let mut args = vec![
            "export", "--from", src, "--name", &name, "--out", out, "--shards", "1",
        ];
        args.extend_from_slice(extra);
        let o = rdbkit(&args);
        assert_eq!(code(&o), 0, "{args:?}: {}", stderr(&o));
    }
    let all = read_keyspace(&std::fs::read(tmp.path().join("ok1-0001.rdb")).unwrap()).unwrap();
    assert_eq!(all.dbs.keys().copied().collect::<Vec<_>>(), [0, 1, 7, 15]);
    let o = rdbkit(&["dump", tmp.path().join("ok5-0001.rdb").to_str().unwrap()]);
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    assert!(
        o.stdout.starts_with(b"{\"aux\""),
        "dump of the RDB 9 export works"
    );
}

/// A stream whose entry IDs do not increase (`testdata/malformed/stream-id-order.rdb`, RDB 10,
/// type 19: servers load it, `rdb-verify` warns; our writer would not build it from its
/// entries) converts with its nodes as stored: copied whole for the lines that load type 19
/// (Redis 7.0, Valkey 8.1), and for Redis 6.2 the same node bytes in a type-15 record with the
/// metadata type 15 holds.
#[test]
fn a_stream_keeps_its_nodes_in_every_conversion() {
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().to_str().unwrap();
    let src =
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../../testdata/malformed/stream-id-order.rdb");
    let src_text = src.to_str().unwrap();
    let source = std::fs::read(&src).unwrap();
    // The stream's record, from its type byte followed by the key "st" up to the EOF opcode.
    let record = |file: &[u8], ty: u8| {
        let at = file
            .windows(4)
            .position(|w| w == [ty, 2, b's', b't'])
            .unwrap();
        file[at..file.len() - 9].to_vec()
    };
    let src_record = record(&source, 19);
    // Type 19 metadata at the end: length 2, last ID 2-1, first ID 2-1, max deleted 0-0,
    // entries added 2, no groups.
    let (head, src_meta) = src_record.split_at(src_record.len() - 9);
    assert_eq!(src_meta, [2, 2, 1, 2, 1, 0, 0, 2, 0]);
    let nodes = &head[4..];
    for (target, ty, meta) in [
        ("redis-7.0", 19, src_meta),
        ("valkey-8.1", 19, src_meta),
        ("redis-6.2", 15, &[2, 2, 1, 0][..]),
    ] {
        let name = target.replace('.', "");
        let o = rdbkit(&[
            "export", "--from", src_text, "--name", &name, "--out", out, "--shards", "1",
            "--target", target,
        ]);
        assert_eq!(code(&o), 0, "{target}: {}", stderr(&o));
        let file = std::fs::read(tmp.path().join(format!("{name}-0001.rdb"))).unwrap();
        let want: Vec<u8> = [&[ty, 2, b's', b't'][..], nodes, meta].concat();
        assert_eq!(record(&file, ty), want, "{target}");
        let ks = read_keyspace(&file).unwrap();
        let Value::Stream(s) = &ks.dbs[&0].entries[0].value else {
            panic!("{target}: not a stream");
        };
        let ids: Vec<String> = s.entries.iter().map(|e| e.id.to_string()).collect();
        assert_eq!(ids, ["2-1", "1-2"], "{target}: the entries as stored");
    }
}

/// A JSONL dump (`rdbkit dump`) as the source gives the same keys as the `.rdb` it came from.
#[test]
fn jsonl_source() {
    let tmp = tempfile::tempdir().unwrap();
    let src = real_file();
    let dump = rdbkit(&["dump", src.to_str().unwrap()]);
    assert_eq!(code(&dump), 0, "{}", stderr(&dump));
    let jsonl = tmp.path().join("src.jsonl");
    std::fs::write(&jsonl, &dump.stdout).unwrap();
    let out = tmp.path().join("out");
    std::fs::create_dir(&out).unwrap();
    let o = rdbkit(&[
        "export",
        "--from",
        jsonl.to_str().unwrap(),
        "--name",
        "j",
        "--out",
        out.to_str().unwrap(),
        "--shards",
        "4",
        "--target",
        "redis-7.0",
        "--ctime",
        CTIME,
        "--db",
        "0",
    ]);
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    let mut union = Keyspace::default();
    for i in 1..=4 {
        let ks = read_keyspace(&std::fs::read(out.join(format!("j-{i:04}.rdb"))).unwrap()).unwrap();
        assert_eq!(ks.functions.len(), 1, "functions kept from the JSONL");
        union.functions = ks.functions;
        for (db, d) in ks.dbs {
            union.db_mut(db).entries.extend(d.entries);
        }
    }
    let mut want = read_keyspace(&std::fs::read(&src).unwrap()).unwrap();
    want.dbs.retain(|&n, _| n == 0);
    let diffs = rdb_testkit::server::diff_keyspaces(&union, &want);
    assert!(diffs.is_empty(), "{}", diffs.join("\n"));
}

/// A JSONL source that repeats a key (as a line repeated by a careless merge would): exit 1,
/// the key named, no file written — a server would refuse the node file.
#[test]
fn jsonl_source_with_a_repeated_key_writes_nothing() {
    let tmp = tempfile::tempdir().unwrap();
    let jsonl = tmp.path().join("dup.jsonl");
    std::fs::write(
        &jsonl,
        "{\"db\":0,\"key\":\"a\",\"type\":\"string\",\"value\":\"x\"}\n\
         {\"db\":0,\"key\":\"b\",\"type\":\"string\",\"value\":\"y\"}\n\
         {\"db\":0,\"key\":\"a\",\"type\":\"list\",\"value\":[\"z\"]}\n",
    )
    .unwrap();
    let out = tmp.path().join("out");
    std::fs::create_dir(&out).unwrap();
    let o = export(&jsonl, "d", &out, &["--shards", "3"]);
    assert_eq!(code(&o), 1, "{}", stderr(&o));
    assert!(
        stderr(&o).contains("lines 1, 3: key \"a\" appears twice in db 0"),
        "{}",
        stderr(&o)
    );
    assert!(dir_bytes(&out).is_empty());

    // With `--db 7` (written as the node files' db 0) the lines and the db are the source's,
    // not those of the same key in another db.
    std::fs::write(
        &jsonl,
        "{\"db\":0,\"key\":\"a\",\"type\":\"string\",\"value\":\"x\"}\n\
         {\"db\":7,\"key\":\"a\",\"type\":\"string\",\"value\":\"y\"}\n\
         {\"db\":7,\"key\":\"a\",\"type\":\"list\",\"value\":[\"z\"]}\n\
         {\"db\":0,\"key\":\"z\",\"type\":\"zset\",\"value\":[[\"m\",1],[\"m\",2]]}\n\
         {\"db\":3,\"key\":\"z\",\"type\":\"zset\",\"value\":[[\"m\",1],[\"m\",2]]}\n",
    )
    .unwrap();
    let export_db = |db: &str| export(&jsonl, "d", &out, &["--shards", "2", "--db", db]);
    let o = export_db("7");
    assert_eq!(code(&o), 1, "{}", stderr(&o));
    assert!(
        stderr(&o).contains(": lines 2, 3: key \"a\" appears twice in db 7"),
        "{}",
        stderr(&o)
    );
    let o = export_db("3");
    assert_eq!(code(&o), 1, "{}", stderr(&o));
    assert!(
        stderr(&o).contains(": line 5: db 3, key \"z\": duplicate zset member"),
        "{}",
        stderr(&o)
    );
    assert!(dir_bytes(&out).is_empty());
}

/// xorshift64*: the test's own small PRNG (seeded from the clock, printed for reruns).
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    fn fill(&mut self, buf: &mut [u8]) {
        for chunk in buf.chunks_mut(8) {
            let v = self.next().to_le_bytes();
            chunk.copy_from_slice(&v[..chunk.len()]);
        }
    }
}

/// ~105 MB source: 3200 incompressible 32 KiB strings plus 20000 small keys, some expiring.
fn big_source(path: &Path) {
    let mut rng = Rng(0x9E37_79B9_7F4A_7C15);
    let mut ks = Keyspace::default();
    let db = ks.db_mut(0);
    for i in 0..3200 {
        let mut v = vec![0u8; 32 << 10];
        rng.fill(&mut v);
        db.entries
            .push(Entry::new(format!("big:{i}"), Value::String(v.into())));
    }
    for i in 0..20_000u64 {
        let mut e = Entry::new(
            format!("small:{{t{}}}:{i}", i % 50),
            Value::String(format!("v{i}").into()),
        );
        if i % 7 == 0 {
            e.expire_at_ms = Some(4_102_444_800_000 + i as i64);
        }
        db.entries.push(e);
    }
    let file = std::fs::File::create(path).unwrap();
    let builder = WriterBuilder::new(Target::Redis72)
        .compression(false)
        .ctime(1);
    let (file, _) = write_keyspace(&ks, std::io::BufWriter::new(file), &builder).unwrap();
    file.into_inner().unwrap().sync_all().unwrap();
}

/// Reads a whole file with the reader (checksum verified); returns its key count.
fn read_fully(path: &Path) -> Result<u64, String> {
    let bytes = std::fs::read(path).map_err(|e| e.to_string())?;
    let mut p = Parser::new(SliceSource::new(&bytes), Limits::default());
    let mut keys = 0;
    loop {
        match p.next_event() {
            Ok(Some(Event::Key(_))) => {
                keys += 1;
                p.skip_key().map_err(|e| e.to_string())?;
            }
            Ok(Some(Event::Eof(_))) => return Ok(keys),
            Ok(Some(_)) => {}
            Ok(None) => return Err("no EOF".into()),
            Err(e) => return Err(e.to_string()),
        }
    }
}

const SHARDS: usize = 4;

fn export_cmd(src: &Path, out: &Path) -> Command {
    let mut c = Command::new(RDBKIT);
    c.args(["export", "--from"])
        .arg(src)
        .args(["--name", "big", "--out"])
        .arg(out)
        .args(["--shards", &SHARDS.to_string(), "--ctime", CTIME])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped());
    c
}

/// The invariants after an interrupted (or finished) run: every final-named `.rdb` reads fully with a
/// good checksum; a manifest only with all its files (sizes and key counts as listed). Returns whether
/// the manifest exists.
fn check_state(out: &Path, what: &str) -> bool {
    let manifest_path = out.join("big-manifest.json");
    for i in 1..=SHARDS {
        let f = out.join(format!("big-{i:04}.rdb"));
        if f.exists() {
            read_fully(&f)
                .unwrap_or_else(|e| panic!("{what}: {} is not complete: {e}", f.display()));
        }
    }
    if !manifest_path.exists() {
        return false;
    }
    let m = Manifest::from_json(&std::fs::read_to_string(&manifest_path).unwrap()).unwrap();
    assert_eq!(m.node_snapshots.len(), SHARDS);
    for n in &m.node_snapshots {
        let f = out.join(&n.file);
        let len = std::fs::metadata(&f)
            .unwrap_or_else(|e| panic!("{what}: manifest without {}: {e}", n.file))
            .len();
        assert_eq!(len, n.file_size_bytes, "{what}: {}", n.file);
        assert_eq!(read_fully(&f).unwrap(), n.keys, "{what}: {}", n.file);
    }
    true
}

/// Removes the final-named outputs (not the temporaries).
fn remove_finals(out: &Path) {
    for i in 1..=SHARDS {
        let _ = std::fs::remove_file(out.join(format!("big-{i:04}.rdb")));
    }
    let _ = std::fs::remove_file(out.join("big-manifest.json"));
}

fn temporaries(out: &Path) -> usize {
    std::fs::read_dir(out)
        .unwrap()
        .filter(|e| {
            e.as_ref()
                .unwrap()
                .file_name()
                .to_string_lossy()
                .contains(".tmp-")
                || e.as_ref()
                    .unwrap()
                    .file_name()
                    .to_string_lossy()
                    .contains(".pub-")
        })
        .count()
}

#[test]
fn sigkill_at_random_times_leaves_no_partial_file() {
    let _one_at_a_time = KILLS.lock().unwrap_or_else(|e| e.into_inner());
    let started = Instant::now();
    let tmp = tempfile::tempdir().unwrap();
    let src = tmp.path().join("big.rdb");
    big_source(&src);
    assert!(std::fs::metadata(&src).unwrap().len() > 100_000_000);
    let out = tmp.path().join("out");
    std::fs::create_dir(&out).unwrap();

    // Full runs first: how long an export takes (the faster of two: the first may share the
    // cores with this binary's other tests, and a window sized by it would let most kills
    // land after the export ended), and that it works.
    let mut full = Duration::MAX;
    let mut reference = BTreeMap::new();
    for _ in 0..2 {
        let t0 = Instant::now();
        let o = export_cmd(&src, &out).output().unwrap();
        full = full.min(t0.elapsed());
        assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
        assert!(check_state(&out, "full run"));
        reference = dir_bytes(&out);
        remove_finals(&out);
    }

    let seed = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_nanos() as u64
        | 1;
    eprintln!("full export: {full:?}; kill-time seed {seed:#x}");
    let mut rng = Rng(seed);
    let window = full.as_micros() as u64 * 11 / 10 + 1;
    let (mut interrupted, mut completed, mut partial_finals) = (0, 0, 0);
    for round in 0..20 {
        let mut child = export_cmd(&src, &out).spawn().unwrap();
        std::thread::sleep(Duration::from_micros(rng.next() % window));
        child.kill().unwrap(); // SIGKILL (an error only if it already exited, which kill() tolerates)
        let status = child.wait().unwrap();
        let what = format!("round {round} ({status})");
        let completed_now = check_state(&out, &what);
        if completed_now {
            // Killed after publishing the manifest (or finished before the kill): complete.
            completed += 1;
        } else {
            interrupted += 1;
            let finals = (1..=SHARDS)
                .filter(|i| out.join(format!("big-{i:04}.rdb")).exists())
                .count();
            partial_finals += usize::from(finals > 0);
        }
        // Leftovers of that run: a complete set is removed (it blocks the name); a partial one
        // (killed while publishing), and its temporaries, are left in place: they must not
        // block the rerun, which removes them by the killed run's journal (its process is dead).
        if completed_now {
            remove_finals(&out);
        }
        let o = export_cmd(&src, &out).output().unwrap();
        assert!(
            o.status.success(),
            "{what}: rerun: {}",
            String::from_utf8_lossy(&o.stderr)
        );
        assert!(check_state(&out, &format!("{what}: rerun")));
        assert_eq!(
            temporaries(&out),
            0,
            "{what}: the rerun removes the killed run's temporaries"
        );
        let now = dir_bytes(&out);
        for (name, bytes) in &reference {
            assert!(now[name] == *bytes, "{what}: rerun output {name} differs");
        }
        remove_finals(&out);
    }
    eprintln!(
        "kills: {interrupted} interrupted ({partial_finals} with some final files), {completed} completed; {:?} in all",
        started.elapsed()
    );
    assert!(interrupted >= 5, "most kills land during the export");

    // SIGINT and SIGTERM at random times: the export stops and removes what it wrote (exit
    // 130: no final file, no temporary), or it had already published its node files and
    // completes (exit 0, the whole set).
    let (mut stopped, mut finished) = (0, 0);
    for round in 0..10 {
        let child = export_cmd(&src, &out).spawn().unwrap();
        std::thread::sleep(Duration::from_micros(rng.next() % window));
        let sig = if round % 2 == 0 { "-INT" } else { "-TERM" };
        let _ = Command::new("kill")
            .args([sig, &child.id().to_string()])
            .status();
        let o = child.wait_with_output().unwrap();
        let what = format!("{sig} round {round} ({})", o.status);
        match o.status.code() {
            Some(0) => {
                assert!(
                    check_state(&out, &what),
                    "{what}: exit 0 without a manifest"
                );
                finished += 1;
            }
            // 130: stopped by the handler; no code: the signal came before it was installed,
            // when nothing had been written yet.
            Some(130) | None => {
                let left: Vec<String> = dir_bytes(&out).into_keys().collect();
                assert!(left.is_empty(), "{what}: left {left:?}");
                stopped += 1;
            }
            Some(c) => panic!("{what}: exit {c}: {}", String::from_utf8_lossy(&o.stderr)),
        }
        remove_finals(&out);
    }
    eprintln!("signals: {stopped} stopped, {finished} finished");
    assert!(stopped >= 3, "most signals land during the export");

    // With standard error a pipe whose reader is gone, the handler's message cannot be
    // written: the export stops all the same (the handler used to panic on the message
    // before setting the flag, and the export then published and exited 101). Signalled as
    // soon as its first temporary file appears, well before the end.
    for sig in ["-INT", "-TERM"] {
        let mut child = export_cmd(&src, &out).spawn().unwrap();
        drop(child.stderr.take());
        let t0 = Instant::now();
        while temporaries(&out) == 0 && t0.elapsed() < full * 2 {
            std::thread::sleep(Duration::from_millis(1));
        }
        let _ = Command::new("kill")
            .args([sig, &child.id().to_string()])
            .status();
        let status = child.wait().unwrap();
        assert_eq!(status.code(), Some(130), "{sig} with stderr gone: {status}");
        let left: Vec<String> = dir_bytes(&out).into_keys().collect();
        assert!(left.is_empty(), "{sig} with stderr gone: left {left:?}");
    }
}

/// A source whose checksum holds but one of whose values is damaged or invalid (the
/// hand-made files of `testdata/malformed/`): a raw copy would carry the damage into a node
/// file, so every node file is checked as `rdb-verify` checks it before anything is
/// published. The export fails naming the finding and the key, and writes nothing; a target
/// line that re-encodes the value meets the same damage in the reader or the writer.
#[test]
fn a_damaged_value_in_the_source_publishes_nothing() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../testdata/malformed");
    for (file, code_word, key) in [
        ("lzf-bad-backref", "lzf", "\"k\""),
        ("duplicate-member", "duplicate-member", "\"s\""),
        ("intset-unsorted", "intset-order", "\"s\""),
        ("listpack-count", "listpack-count", "\"h\""),
        ("ziplist-prevlen", "ziplist-prevlen", "\"l\""),
        ("zset-listpack-order", "zset-order", "\"z\""),
    ] {
        let src = dir.join(format!("{file}.rdb"));
        for target in ["redis-7.0", "valkey-8.1", "redis-6.2"] {
            let tmp = tempfile::tempdir().unwrap();
            let o = export(
                &src,
                "s",
                tmp.path(),
                &["--shards", "2", "--target", target],
            );
            let left = std::fs::read_dir(tmp.path()).unwrap().count();
            // A zset listpack out of order is the one damage a re-encoding repairs (the
            // writer sorts the pairs): RDB 9 keeps zsets as ziplists.
            if file == "zset-listpack-order" && target == "redis-6.2" {
                assert_eq!(code(&o), 0, "{file} {target}: {}", stderr(&o));
                let v = Command::new(env!("CARGO_BIN_EXE_rdb-verify"))
                    .arg(tmp.path())
                    .output()
                    .unwrap();
                assert_eq!(code(&v), 0, "{file} {target}: {}", stderr(&v));
                continue;
            }
            let err = stderr(&o);
            assert_eq!(code(&o), 1, "{file} {target}: {err}");
            assert_eq!(left, 0, "{file} {target}: files left behind");
            assert!(err.contains(key), "{file} {target}: {err}");
            if target != "redis-6.2" {
                assert!(
                    err.contains("would not verify, so nothing was written")
                        && err.contains(&format!("{code_word} at byte ")),
                    "{file} {target}: {err}"
                );
            }
        }
    }
}

/// What an operator may get wrong, each refused up front with a message naming it and
/// nothing written; and the `--all-dbs` export verifying as the cluster-mode-disabled
/// snapshot it is.
#[test]
fn awkward_arguments_and_sources() {
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("out");
    std::fs::create_dir(&out).unwrap();
    let out_s = out.to_str().unwrap();
    let src = real_file();
    let src = src.as_path();
    let nothing_written = |what: &str| {
        let left: Vec<_> = std::fs::read_dir(&out).unwrap().collect();
        assert!(left.is_empty(), "{what}: {left:?}");
    };

    // An empty `.rdb` file, and one with a wrong signature: RDB errors at byte 0, not JSON.
    let empty = tmp.path().join("empty.rdb");
    std::fs::write(&empty, b"").unwrap();
    let bad_magic =
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../../testdata/malformed/bad-magic.rdb");
    for (path, want) in [
        (empty.as_path(), "byte 0 (0x0): unexpected end of file"),
        (bad_magic.as_path(), "byte 0 (0x0): wrong signature"),
    ] {
        let o = export(path, "s", &out, &["--shards", "2"]);
        assert_eq!(code(&o), 1, "{}", stderr(&o));
        assert!(stderr(&o).contains(want), "{}", stderr(&o));
        nothing_written(want);
    }

    // A directory as the source; neither --shards nor --topology.
    let o = export(&out, "s", &out, &["--shards", "2"]);
    assert_eq!(code(&o), 2);
    assert!(stderr(&o).contains("is a directory"), "{}", stderr(&o));
    let o = export(src, "s", &out, &[]);
    assert_eq!(code(&o), 2);
    assert!(
        stderr(&o).contains("--shards <N>|--topology <FILE>"),
        "{}",
        stderr(&o)
    );

    // Overlapping ranges inside one node group.
    let topo = tmp.path().join("topo.json");
    std::fs::write(
        &topo,
        r#"{"NodeGroupConfiguration": [{"NodeGroupId": "0001", "Slots": "0-100,50-8191"}, {"NodeGroupId": "0002", "Slots": "8192-16383"}]}"#,
    )
    .unwrap();
    let o = export(
        src,
        "s",
        &out,
        &["--topology", topo.to_str().unwrap(), "--db", "0"],
    );
    assert_eq!(code(&o), 2);
    assert!(
        stderr(&o).contains("node group 0001: invalid Slots: slot 50 is in two ranges"),
        "{}",
        stderr(&o)
    );
    nothing_written("overlap");

    // The longest name whose files fit in 255 bytes works; one more byte is refused up front.
    for (len, ok) in [(241, true), (242, false)] {
        let name = "n".repeat(len);
        let dir = tmp.path().join(format!("len{len}"));
        std::fs::create_dir(&dir).unwrap();
        let o = export(src, &name, &dir, &["--shards", "2", "--db", "0"]);
        if ok {
            assert_eq!(code(&o), 0, "{}", stderr(&o));
            assert_eq!(std::fs::read_dir(&dir).unwrap().count(), 3);
        } else {
            assert_eq!(code(&o), 2, "{}", stderr(&o));
            assert!(
                stderr(&o).contains("file systems allow at most 255"),
                "{}",
                stderr(&o)
            );
            assert_eq!(std::fs::read_dir(&dir).unwrap().count(), 0);
        }
    }

    // Keys already expired at the export time are written (they are in the source) and
    // reported: a primary drops them when it loads the file.
    let expired =
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../../testdata/malformed/already-expired.rdb");
    let dir = tmp.path().join("expired");
    std::fs::create_dir(&dir).unwrap();
    let o = export(&expired, "e", &dir, &["--shards", "1", "--ctime", CTIME]);
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    assert!(
        stderr(&o).contains("1 keys already expired at the export time"),
        "{}",
        stderr(&o)
    );

    // --all-dbs: a cluster-mode-disabled snapshot; it verifies, and the manifest's CacheSize
    // is the one rdb-verify reports for it.
    let o = export(
        src,
        "all",
        &out,
        &["--shards", "1", "--all-dbs", "--ctime", CTIME],
    );
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    let manifest: Manifest =
        serde_json::from_slice(&std::fs::read(out.join("all-manifest.json")).unwrap()).unwrap();
    assert_eq!(manifest.cluster_mode.as_deref(), Some("disabled"));
    let v = Command::new(env!("CARGO_BIN_EXE_rdb-verify"))
        .args(["--json", out_s])
        .output()
        .unwrap();
    assert_eq!(code(&v), 0, "{}", String::from_utf8_lossy(&v.stdout));
    let doc: serde_json::Value = serde_json::from_slice(&v.stdout).unwrap();
    assert_eq!(
        doc["files"][0]["cache_size_bytes"].as_u64(),
        Some(manifest.node_snapshots[0].cache_size_bytes)
    );
    assert!(doc["files"][0]["databases"].as_object().unwrap().len() > 1);
}

/// A JSONL keyspace whose values no server holds: refused, naming the input line(s) (for an
/// error found while writing, the file is read again to find them), nothing written.
#[test]
fn jsonl_errors_name_their_lines() {
    let tmp = tempfile::tempdir().unwrap();
    let ok = r#"{"db":0,"key":"fine","type":"string","value":"v"}"#;
    let cases: [(&str, Vec<&str>, &str); 7] = [
        (
            "redis-7.4",
            vec![
                ok,
                r#"{"db":0,"key":"h","type":"hash","value":[["f","1"]],"field_expire_at_ms":[["f",-5]]}"#,
            ],
            r#"line 2: db 0, key "h": hash field "f" expiry -5 is outside 1..=2^48-1"#,
        ),
        (
            "redis-7.0",
            vec![
                ok,
                r#"{"db":0,"key":"s","type":"set","value":["a","b","a"]}"#,
            ],
            r#"line 2: db 0, key "s": duplicate set member "a""#,
        ),
        (
            "redis-7.0",
            vec![
                r#"{"db":0,"key":"k","type":"string","value":"1"}"#,
                ok,
                r#"{"db":0,"key":"k","type":"string","value":"2"}"#,
            ],
            r#"lines 1, 3: key "k" appears twice in db 0"#,
        ),
        (
            "redis-7.0",
            vec![
                ok,
                r#"{"db":0,"key":"z","type":"zset","value":[["m","1e999"]]}"#,
            ],
            r#"line 2: value[0][1]: score "1e999" is beyond a double's range"#,
        ),
        (
            "redis-7.0",
            vec![r#"{"db":0,"key":"z","type":"zset","value":[["m","1e-400"]]}"#],
            r#"line 1: value[0][1]: score "1e-400" is too small for a double"#,
        ),
        (
            "redis-7.0",
            vec![
                ok,
                ok,
                r#"{"db":0,"key":"st","type":"stream","value":{"entries":[["1-0",[]]],"length":1,"last_id":"1-0","groups":[]}}"#,
            ],
            r#"line 3: key "st": stream entry 1-0 has no fields"#,
        ),
        (
            "redis-7.0",
            vec![
                r#"{"db":0,"key":"st","type":"stream","value":{"entries":[["0-0",[["f","v"]]]],"length":1,"last_id":"0-0","groups":[]}}"#,
            ],
            r#"line 1: key "st": stream entry ID 0-0"#,
        ),
    ];
    for (i, (target, lines, want)) in cases.iter().enumerate() {
        let src = tmp.path().join(format!("k{i}.jsonl"));
        std::fs::write(&src, lines.join("\n") + "\n").unwrap();
        let out = tmp.path().join(format!("out{i}"));
        std::fs::create_dir(&out).unwrap();
        let o = export(&src, "n", &out, &["--shards", "1", "--target", target]);
        assert_eq!(code(&o), 1, "case {i}: {}", stderr(&o));
        let err = stderr(&o);
        assert!(
            err.contains(&format!("k{i}.jsonl: {want}")),
            "case {i}: {err}\nwant {want}"
        );
        assert_eq!(std::fs::read_dir(&out).unwrap().count(), 0, "case {i}");
    }
    // A byte order mark is named as such.
    let src = tmp.path().join("bom.jsonl");
    std::fs::write(&src, [b"\xEF\xBB\xBF", ok.as_bytes(), b"\n"].concat()).unwrap();
    let o = export(&src, "n", tmp.path(), &["--shards", "1"]);
    assert_eq!(code(&o), 1);
    assert!(
        stderr(&o).contains("line 1: starts with a UTF-8 byte order mark"),
        "{}",
        stderr(&o)
    );
}

/// Stream metadata in a JSONL line that its entries contradict is accepted (what real files
/// may hold), written as the writer writes it, and named in a warning; a dump of every real
/// test file exported again from JSONL warns of nothing.
#[test]
fn contradicting_stream_metadata_is_named_in_warnings() {
    let tmp = tempfile::tempdir().unwrap();
    let src = tmp.path().join("st.jsonl");
    std::fs::write(
        &src,
        concat!(
            r#"{"db":0,"key":"fine","type":"string","value":"v"}"#,
            "\n",
            r#"{"db":0,"key":"st","type":"stream","value":{"entries":[["1-0",[["f","v"]]],["2-0",[["f","v"]]]],"length":7,"last_id":"2-0","first_id_recorded":"1-5","max_deleted_id":"5-0","entries_added":1,"groups":[{"name":"g","last_delivered_id":"1-0","entries_read":9,"pel":[],"consumers":[]}]}}"#,
            "\n"
        ),
    )
    .unwrap();
    let o = export(&src, "n", tmp.path(), &["--shards", "1"]);
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    let err = stderr(&o);
    for want in [
        r#"st.jsonl: line 2: key "st": stream length 7 but 2 entries: the file holds 2"#,
        r#"line 2: key "st": max_deleted_id 5-0 is above last_id 2-0"#,
        r#"line 2: key "st": entries_added 1 is below the 2 entries"#,
        r#"line 2: key "st": first_id_recorded 1-5 but the first entry is 1-0"#,
        r#"line 2: key "st": group "g" entries_read 9 is above entries_added 1"#,
    ] {
        assert!(err.contains(want), "{err}\nwant {want}");
    }
    let servers = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../testdata/servers");
    let mut checked = 0;
    for version in std::fs::read_dir(&servers).unwrap() {
        for kind in std::fs::read_dir(version.unwrap().path()).unwrap() {
            let dump = kind.unwrap().path().join("dump.rdb");
            if !dump.exists() {
                continue;
            }
            let d = rdbkit(&["dump", dump.to_str().unwrap()]);
            assert_eq!(code(&d), 0, "{}", dump.display());
            let jsonl = tmp.path().join(format!("d{checked}.jsonl"));
            std::fs::write(&jsonl, &d.stdout).unwrap();
            let out = tmp.path().join(format!("o{checked}"));
            std::fs::create_dir(&out).unwrap();
            let o = export(
                &jsonl,
                "n",
                &out,
                &["--shards", "1", "--all-dbs", "--target", "valkey-9.0"],
            );
            assert_eq!(code(&o), 0, "{}: {}", dump.display(), stderr(&o));
            assert!(
                !stderr(&o).contains("warning"),
                "{}: {}",
                dump.display(),
                stderr(&o)
            );
            checked += 1;
        }
    }
    assert!(checked >= 20, "{checked}");
}

/// The export's promise for any source: it either fails and writes nothing, or publishes a
/// set that `rdb-verify` passes (manifest included). Checked on seeded single-byte changes to
/// every real dump, each with a fresh CRC-64 (so the structure, not the checksum, is judged),
/// whether `rdb-verify` passes the changed source or not — before the node-file check, a
/// damaged value was copied raw and published.
#[test]
fn a_changed_source_is_refused_or_exported_into_a_set_that_verifies() {
    use rdb_testkit::mutate::{mutated, next_change, SplitMix};
    const CHANGES_PER_DUMP: usize = 8;
    let tmp = tempfile::tempdir().unwrap();
    let servers = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../testdata/servers");
    let mut dumps: Vec<PathBuf> = std::fs::read_dir(&servers)
        .unwrap()
        .flat_map(|v| std::fs::read_dir(v.unwrap().path()).unwrap())
        .map(|k| k.unwrap().path().join("dump.rdb"))
        .filter(|p| p.exists())
        .collect();
    dumps.sort();
    assert!(dumps.len() >= 20, "{}", dumps.len());
    let (mut refused, mut published) = (0, 0);
    for (d, dump) in dumps.iter().enumerate() {
        let pristine = std::fs::read(dump).unwrap();
        let mut rng = SplitMix(0x5EED ^ d as u64);
        for c in 0..CHANGES_PER_DUMP {
            let (at, x) = next_change(&mut rng, &pristine);
            let src = tmp.path().join(format!("src-{d}-{c}.rdb"));
            std::fs::write(&src, mutated(&pristine, at, x)).unwrap();
            let out = tmp.path().join(format!("out-{d}-{c}"));
            std::fs::create_dir(&out).unwrap();
            let target = ["redis-7.0", "valkey-8.1", "redis-6.2"][(d + c) % 3];
            let what = format!("{} byte {at} ^ {x:#04x} for {target}", dump.display());
            let o = export(
                &src,
                "m",
                &out,
                &["--shards", "1", "--all-dbs", "--target", target],
            );
            let files = std::fs::read_dir(&out).unwrap().count();
            if code(&o) != 0 {
                assert_eq!(files, 0, "{what}: refused but left files: {}", stderr(&o));
                refused += 1;
                continue;
            }
            let v = Command::new(env!("CARGO_BIN_EXE_rdb-verify"))
                .arg(&out)
                .output()
                .unwrap();
            assert_eq!(
                code(&v),
                0,
                "{what}: exported, but the set does not verify:\n{}",
                String::from_utf8_lossy(&v.stdout)
            );
            published += 1;
        }
    }
    // Both outcomes are met, so both halves of the promise were put to the test.
    assert!(
        refused > 10 && published > 10,
        "refused {refused}, published {published}"
    );
}

/// With `--db N`, a writer error about a key of an `.rdb` source names database N, the one
/// the key has in the source (the node files hold it as database 0).
#[test]
fn rdb_source_errors_name_the_source_database() {
    let tmp = tempfile::tempdir().unwrap();
    let jsonl = tmp.path().join("h.jsonl");
    std::fs::write(
        &jsonl,
        "{\"db\":3,\"key\":\"h\",\"type\":\"hash\",\"value\":[[\"f\",\"1\"]],\"field_expire_at_ms\":[[\"f\",4102444800000]]}\n",
    )
    .unwrap();
    let first = tmp.path().join("a");
    std::fs::create_dir(&first).unwrap();
    let o = export(
        &jsonl,
        "s",
        &first,
        &["--shards", "1", "--all-dbs", "--target", "redis-7.4"],
    );
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    let second = tmp.path().join("b");
    std::fs::create_dir(&second).unwrap();
    let o = export(
        &first.join("s-0001.rdb"),
        "t",
        &second,
        &["--shards", "2", "--db", "3", "--target", "redis-7.0"],
    );
    assert_eq!(code(&o), 1, "{}", stderr(&o));
    assert!(
        stderr(&o)
            .contains("db 3, key \"h\": the target redis-7.0 cannot represent hash field TTLs"),
        "{}",
        stderr(&o)
    );
    assert!(dir_bytes(&second).is_empty());
}

/// SIGKILL while an export of 300 node files publishes them (the moment its first final
/// file appears): the run leaves some final-named files and its journal, and the next export
/// of the name removes them — and the dead run's temporaries — and completes the set.
#[test]
fn sigkill_while_publishing_is_undone_by_the_next_export() {
    let _one_at_a_time = KILLS.lock().unwrap_or_else(|e| e.into_inner());
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("out");
    std::fs::create_dir(&out).unwrap();
    let src = real_file();
    let args = |out: &Path| {
        let mut c = Command::new(RDBKIT);
        c.args(["export", "--from", src.to_str().unwrap(), "--name", "p"])
            .args([
                "--out",
                out.to_str().unwrap(),
                "--shards",
                "300",
                "--db",
                "0",
            ])
            .args(["--ctime", CTIME])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null());
        c
    };
    let first = out.join("p-0001.rdb");
    let mut partial = 0;
    for round in 0..3 {
        let mut child = args(&out).spawn().unwrap();
        let t0 = Instant::now();
        while !first.exists() && t0.elapsed() < Duration::from_secs(20) {
            std::thread::sleep(Duration::from_micros(200));
        }
        child.kill().unwrap();
        child.wait().unwrap();
        let names: Vec<String> = dir_bytes(&out).into_keys().collect();
        let finals = names.iter().filter(|n| !n.starts_with('.')).count();
        if names.iter().any(|n| n == "p-manifest.json") {
            // Finished before the kill: a complete set; removed for the next round.
            assert_eq!(finals, 301, "round {round}");
            for n in &names {
                std::fs::remove_file(out.join(n)).unwrap();
            }
            continue;
        }
        partial += usize::from(finals > 0);
        let o = args(&out).output().unwrap();
        assert_eq!(
            code(&o),
            0,
            "round {round} ({finals} finals left): {}",
            stderr(&o)
        );
        let names: Vec<String> = dir_bytes(&out).into_keys().collect();
        assert_eq!(names.len(), 301, "round {round}: {names:?}");
        assert!(names.iter().all(|n| !n.starts_with('.')), "round {round}");
        let v = Command::new(env!("CARGO_BIN_EXE_rdb-verify"))
            .arg(&out)
            .output()
            .unwrap();
        assert_eq!(code(&v), 0, "round {round}: {}", stderr(&v));
        for n in &names {
            std::fs::remove_file(out.join(n)).unwrap();
        }
    }
    assert!(partial >= 1, "no kill landed while publishing");
}

/// A dump that fails (a truncated file) ends its JSONL with an `error` line; an export from
/// the saved output refuses it as incomplete instead of exporting the keys before the break.
#[test]
fn a_failed_dump_is_not_exported() {
    let tmp = tempfile::tempdir().unwrap();
    let data = std::fs::read(real_file()).unwrap();
    let cut = tmp.path().join("cut.rdb");
    std::fs::write(&cut, &data[..data.len() / 2]).unwrap();
    let o = rdbkit(&["dump", cut.to_str().unwrap()]);
    assert_eq!(code(&o), 1, "{}", stderr(&o));
    let text = String::from_utf8(o.stdout).unwrap();
    assert!(
        text.lines().count() > 10,
        "keys before the break are dumped"
    );
    let last: serde_json::Value = serde_json::from_str(text.lines().last().unwrap()).unwrap();
    assert_eq!(last["error"]["code"], "truncated", "{last}");
    let jsonl = tmp.path().join("cut.jsonl");
    std::fs::write(&jsonl, &text).unwrap();
    let out = tmp.path().join("out");
    std::fs::create_dir(&out).unwrap();
    let o = export(&jsonl, "cut", &out, &["--shards", "1", "--all-dbs"]);
    assert_eq!(code(&o), 1, "{}", stderr(&o));
    assert!(stderr(&o).contains("incomplete"), "{}", stderr(&o));
    assert!(dir_bytes(&out).is_empty());
}
