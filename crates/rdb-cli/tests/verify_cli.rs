//! The `rdb-verify` binary end to end: the `--json` document, exit codes 0 / 1 / 2, options,
//! standard input, and a hand-built 3-node-group set with its manifest (a key moved to the
//! wrong node group, a removed file).

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

use rdb_cluster::slot::key_slot;
use rdb_model::{Entry, Keyspace, Value};
use rdb_writer::{write_keyspace, Target, WriterBuilder};
use serde_json::Value as Json;

fn bin() -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_rdb-verify"));
    c.env("NO_COLOR", "1");
    c
}

fn run(args: &[&str]) -> Output {
    bin().args(args).output().unwrap()
}

fn code(o: &Output) -> i32 {
    o.status.code().expect("exited normally")
}

fn json(o: &Output) -> Json {
    serde_json::from_slice(&o.stdout).unwrap_or_else(|e| {
        panic!(
            "stdout is not JSON ({e}):\n{}\nstderr:\n{}",
            String::from_utf8_lossy(&o.stdout),
            String::from_utf8_lossy(&o.stderr)
        )
    })
}

fn testdata(rel: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../testdata")
        .join(rel)
}

fn s(p: &Path) -> &str {
    p.to_str().unwrap()
}

/// Field names of a JSON object, sorted.
fn fields(v: &Json) -> Vec<String> {
    let mut k: Vec<String> = v
        .as_object()
        .unwrap_or_else(|| panic!("not an object: {v}"))
        .keys()
        .cloned()
        .collect();
    k.sort();
    k
}

fn sorted(names: &[&str]) -> Vec<String> {
    let mut v: Vec<String> = names.iter().map(|s| s.to_string()).collect();
    v.sort();
    v
}

#[test]
fn json_document_matches_the_contract_and_expected_counts() {
    let dump = testdata("servers/redis-7.0.15/dev/dump.rdb");
    let o = run(&["--json", s(&dump)]);
    assert_eq!(code(&o), 0, "{}", String::from_utf8_lossy(&o.stderr));
    let doc = json(&o);
    // The contract's two fields, and what the CacheSize estimates assume.
    assert_eq!(fields(&doc), sorted(&["cache_model", "files", "summary"]));
    // No line named: the model of the server that wrote the file (its `redis-ver`).
    assert_eq!(
        doc["cache_model"],
        "Redis 7.0 and older layout, standalone, jemalloc"
    );
    let files = doc["files"].as_array().unwrap();
    assert_eq!(files.len(), 1);
    let f = &files[0];
    // The fields, header, checksum and engine lines, as the library's test checks them too.
    rdb_testkit::report_json::assert_redis_7_0_dev_report(f);
    assert_eq!(f["path"], s(&dump));
    assert_eq!(f["ok"], true);
    assert_eq!(
        fields(&f["checksum"]),
        sorted(&["stored", "computed", "status"])
    );
    assert_eq!(
        fields(&f["slots"]),
        sorted(&["min", "max", "ranges", "keys_outside_expected"])
    );
    let size = f["cache_size_bytes"].as_u64().unwrap();
    assert!(size > 0);
    assert_eq!(
        f["cache_size"].as_str().unwrap(),
        format!("{} MB", size.div_ceil(1 << 20))
    );
    for fi in f["findings"].as_array().unwrap() {
        for k in ["severity", "code", "offset", "db", "key", "message"] {
            assert!(fi.get(k).is_some(), "finding lacks {k}: {fi}");
        }
        assert_ne!(fi["severity"], "error");
    }

    // Counts agree with the server-made expected.json.
    let exp: Json = serde_json::from_str(
        &std::fs::read_to_string(dump.with_file_name("expected.json")).unwrap(),
    )
    .unwrap();
    let mut keys = 0;
    for (db, d) in exp["databases"].as_object().unwrap() {
        let got = &f["databases"][db];
        assert_eq!(got["keys"], d["keys"], "db {db}");
        assert_eq!(got["expires"], d["expires"], "db {db}");
        assert_eq!(
            fields(&got["types"]),
            sorted(&["string", "list", "set", "zset", "hash", "stream", "module"])
        );
        keys += d["keys"].as_u64().unwrap();
    }
    assert_eq!(f["keys"], keys);

    let sum = &doc["summary"];
    assert_eq!(
        fields(sum),
        sorted(&[
            "files",
            "ok",
            "failed",
            "set_errors",
            "keys",
            "expires",
            "cache_size_bytes",
            "slots_covered",
            "slot_gaps",
            "slot_overlaps"
        ])
    );
    assert_eq!(
        (&sum["files"], &sum["ok"], &sum["failed"]),
        (&Json::from(1), &Json::from(1), &Json::from(0))
    );
    assert_eq!(sum["keys"], keys);
    assert_eq!(sum["cache_size_bytes"], size);
}

/// A node file verified alone, with nothing saying whether it is a cluster node's: its slot
/// sizing records (Valkey 8.0+'s `slot-info` AUX, Redis 7.4+'s SLOT_INFO), which only a
/// cluster node writes, give the cluster-mode CacheSize model; a file without them (a
/// standalone server's, or the `--all-dbs` export of a cluster-mode-disabled group, which
/// writes none) keeps the standalone one; `--standalone` asks for it.
#[test]
fn slot_sizing_records_give_the_cluster_mode_model() {
    let tmp = tempfile::tempdir().unwrap();
    let source = testdata("servers/redis-7.0.15/dev/dump.rdb");
    for (target, layout) in [
        ("valkey-8.1", "Valkey 8.1+ layout"),
        ("redis-7.4", "Redis 7.2+ / Valkey 7.2-8.0 layout"),
    ] {
        let out = tmp.path().join(target);
        std::fs::create_dir(&out).unwrap();
        let o = Command::new(env!("CARGO_BIN_EXE_rdbkit"))
            .args([
                "export",
                "--from",
                s(&source),
                "--name",
                "n",
                "--out",
                s(&out),
            ])
            .args(["--shards", "2", "--db", "0", "--target", target])
            .output()
            .unwrap();
        assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
        let node = out.join("n-0002.rdb");
        let alone = json(&run(&["--json", s(&node)]));
        let clustered = json(&run(&["--json", "--cluster-mode", s(&node)]));
        let with_manifest = json(&run(&["--json", s(&out)]));
        let f = &alone["files"][0];
        let model = f["cache_model"].as_str().unwrap();
        assert!(
            model.starts_with(layout) && model.contains("cluster mode"),
            "{target}: {model}"
        );
        assert_eq!(
            f["cache_size_bytes"], clustered["files"][0]["cache_size_bytes"],
            "{target}"
        );
        assert_eq!(
            f["cache_size_bytes"], with_manifest["files"][1]["cache_size_bytes"],
            "{target}"
        );
        // `--standalone` asks for the standalone estimate, alone or with the manifest (whose
        // slot checks stay).
        for path in [&node, &out] {
            let r = json(&run(&["--json", "--standalone", s(path)]));
            let files = r["files"].as_array().unwrap();
            let f = files.last().unwrap();
            let model = f["cache_model"].as_str().unwrap();
            assert!(model.contains("standalone"), "{target}: {model}");
            assert_ne!(f["cache_size_bytes"], alone["files"][0]["cache_size_bytes"]);
        }
        assert_eq!(code(&run(&["--standalone", "--cluster-mode", s(&node)])), 2);
    }
    // A cluster-mode-disabled snapshot (`--shards 1 --all-dbs`), even of database 0 alone:
    // no slot sizing records, the standalone estimate its manifest holds.
    let out = tmp.path().join("all-dbs");
    std::fs::create_dir(&out).unwrap();
    let o = Command::new(env!("CARGO_BIN_EXE_rdbkit"))
        .args([
            "export",
            "--from",
            s(&tmp.path().join("valkey-8.1/n-0001.rdb")),
        ])
        .args([
            "--name",
            "a",
            "--out",
            s(&out),
            "--shards",
            "1",
            "--all-dbs",
        ])
        .args(["--target", "valkey-8.1"])
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let alone = json(&run(&["--json", s(&out.join("a-0001.rdb"))]));
    let with_manifest = json(&run(&["--json", s(&out)]));
    let model = alone["files"][0]["cache_model"].as_str().unwrap();
    assert!(model.contains("standalone"), "{model}");
    assert_eq!(
        alone["files"][0]["cache_size_bytes"],
        with_manifest["files"][0]["cache_size_bytes"]
    );
    // Files of standalone servers have no such records: standalone.
    for rel in [
        "servers/redis-7.4.1/dev/dump.rdb",
        "servers/valkey-8.0.1/dev/dump.rdb",
    ] {
        let alone = json(&run(&["--json", s(&testdata(rel))]));
        let model = alone["files"][0]["cache_model"].as_str().unwrap();
        assert!(model.contains("standalone"), "{rel}: {model}");
    }
}

/// With no engine line named (`--engine`, a manifest), each file's CacheSize model is the one
/// of the server that wrote it (`valkey-ver`, else `redis-ver`, else the RDB version): the
/// same estimate as naming that line.
#[test]
fn the_cache_size_model_follows_the_writing_server() {
    let cases = [
        (
            "servers/redis-6.2.14/dev/dump.rdb",
            "redis-6.2",
            "Redis 7.0 and older layout",
        ),
        (
            "servers/redis-7.0.15/dev/dump.rdb",
            "redis-7.0",
            "Redis 7.0 and older layout",
        ),
        (
            "servers/redis-7.2.6/dev/dump.rdb",
            "redis-7.2",
            "Redis 7.2+ / Valkey 7.2-8.0 layout",
        ),
        (
            "servers/valkey-8.0.1/dev/dump.rdb",
            "valkey-8.0",
            "Redis 7.2+ / Valkey 7.2-8.0 layout",
        ),
        // A development build (`valkey-ver` 255.255.255): Valkey's newest line for RDB 11.
        (
            "servers/valkey-unstable-55bbbe0/dev/dump.rdb",
            "valkey-8.2",
            "Valkey 8.1+ layout",
        ),
    ];
    for (rel, line, layout) in cases {
        let file = testdata(rel);
        let inferred = json(&run(&["--json", s(&file)]));
        let named = json(&run(&["--json", "--engine", line, s(&file)]));
        let f = &inferred["files"][0];
        assert!(
            f["cache_model"].as_str().unwrap().starts_with(layout),
            "{rel}: {}",
            f["cache_model"]
        );
        assert_eq!(inferred["cache_model"], f["cache_model"], "{rel}");
        assert_eq!(
            f["cache_size_bytes"], named["files"][0]["cache_size_bytes"],
            "{rel}"
        );
        // Cluster mode is kept.
        let clustered = json(&run(&["--json", "--cluster-mode", s(&file)]));
        let c = clustered["files"][0]["cache_model"].as_str().unwrap();
        assert!(
            c.starts_with(layout) && c.contains("cluster mode"),
            "{rel}: {c}"
        );
    }
    // Two files from different servers: one description each.
    let two = json(&run(&[
        "--json",
        s(&testdata(cases[1].0)),
        s(&testdata(cases[2].0)),
    ]));
    let m = two["cache_model"].as_str().unwrap();
    assert!(m.contains("Redis 7.0") && m.contains("Redis 7.2+"), "{m}");
}

/// The table counts every warning, also those beyond the 100 listed per code, and prints the
/// first one under the rows with how many more there are.
#[test]
fn table_counts_warnings_beyond_the_listing_limit() {
    let mut ks = Keyspace::default();
    for i in 0..150 {
        let mut e = Entry::new(format!("gone:{i}"), Value::String(format!("v{i}").into()));
        e.expire_at_ms = Some(1000 + i);
        ks.db_mut(0).entries.push(e);
    }
    let tmp = tempfile::tempdir().unwrap();
    let file = tmp.path().join("expired.rdb");
    let b = WriterBuilder::new(Target::Redis70);
    let f = std::fs::File::create(&file).unwrap();
    write_keyspace(&ks, std::io::BufWriter::new(f), &b).unwrap();
    let o = run(&[s(&file)]);
    assert_eq!(code(&o), 0);
    let text = String::from_utf8(o.stdout).unwrap();
    assert!(text.contains("ok, 150 warnings"), "{text}");
    let line = text
        .lines()
        .find(|l| l.starts_with("warning: "))
        .unwrap_or_else(|| panic!("{text}"));
    assert!(
        line.contains("already-expired") && line.contains("+149 more"),
        "{line}"
    );
}

#[test]
fn exit_codes_and_options() {
    let dir = tempfile::tempdir().unwrap();
    let good = testdata("servers/redis-7.2.6/dev/dump.rdb");

    // 1: a flipped CRC byte; --no-checksum keeps the verdict but not the error.
    let mut bytes = std::fs::read(&good).unwrap();
    let n = bytes.len();
    bytes[n - 3] ^= 0x40;
    let bad = dir.path().join("bad-crc.rdb");
    std::fs::write(&bad, &bytes).unwrap();
    let o = run(&["--json", s(&bad)]);
    assert_eq!(code(&o), 1);
    let doc = json(&o);
    assert_eq!(doc["files"][0]["ok"], false);
    assert_eq!(doc["files"][0]["checksum"]["status"], "mismatch");
    assert!(codes(&doc["files"][0]).contains(&"crc-mismatch".to_string()));
    assert_eq!(doc["summary"]["failed"], 1);
    let o = run(&["--json", "--no-checksum", s(&bad)]);
    assert_eq!(code(&o), 0);
    assert_eq!(json(&o)["files"][0]["checksum"]["status"], "mismatch");

    // 1: one bad file among good ones; the text table names the first error.
    let broken = testdata("public/redis-redis/corrupt_ziplist.rdb");
    let o = run(&[s(&good), s(&broken)]);
    assert_eq!(code(&o), 1);
    let text = String::from_utf8(o.stdout).unwrap();
    assert!(!text.contains('\x1b'), "NO_COLOR: no escape codes");
    let lines: Vec<&str> = text.lines().collect();
    assert!(lines[0].starts_with("FILE") && lines[0].contains("FIRST ERROR"));
    assert!(
        lines[1].contains(" ok") && lines[1].contains("123"),
        "{text}"
    );
    assert!(
        lines[2].contains("FAILED") && lines[2].contains("ziplist-"),
        "{text}"
    );
    assert!(lines[3].starts_with("TOTAL (2 files)") && lines[3].contains("1 failed"));

    // 0: two good files, also with --jobs 1, --engine, --node-memory by node type.
    let o = run(&[
        "--jobs",
        "1",
        "--engine",
        "redis-7.2",
        "--node-memory",
        "cache.t3.micro",
        s(&good),
        s(&testdata("servers/valkey-8.0.1/dev/dump.rdb")),
    ]);
    assert_eq!(code(&o), 0, "{}", String::from_utf8_lossy(&o.stdout));

    // 1: engine line too old, node too small.
    let o = run(&["--json", "--engine", "redis-6.2", s(&good)]);
    assert_eq!(code(&o), 1);
    assert!(codes(&json(&o)["files"][0]).contains(&"engine-incompatible".to_string()));
    let o = run(&["--json", "--node-memory", "100000", s(&good)]);
    assert_eq!(code(&o), 1);
    assert!(codes(&json(&o)["files"][0]).contains(&"node-memory".to_string()));

    // 2: could not run.
    let missing = dir.path().join("nope.rdb");
    for args in [
        vec![s(&missing)],
        vec![s(&good), s(&missing)],
        vec![],
        vec!["--engine", "redis-99.0", s(&good)],
        vec!["--node-memory", "cache.x9.huge", s(&good)],
        vec!["--slots", "0-99999", s(&good)],
        vec![
            "--slots",
            "0-5",
            s(&good),
            s(&testdata("servers/valkey-8.0.1/dev/dump.rdb")),
        ],
        vec!["--manifest", s(&missing), s(&good)],
        vec!["--bogus-flag", s(&good)],
    ] {
        let o = run(&args);
        assert_eq!(
            code(&o),
            2,
            "{args:?}: {}",
            String::from_utf8_lossy(&o.stderr)
        );
        assert!(!o.stderr.is_empty(), "{args:?} explains itself");
    }
    let empty = tempfile::tempdir().unwrap();
    assert_eq!(
        code(&run(&[s(empty.path())])),
        2,
        "a directory without .rdb files"
    );
}

#[test]
fn standard_input() {
    let good = std::fs::read(testdata("servers/redis-7.4.1/dev/dump.rdb")).unwrap();
    for args in [&["--json", "-"][..], &["--json", "--stdin"]] {
        let mut child = bin()
            .args(args)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .unwrap();
        let mut stdin = child.stdin.take().unwrap();
        let data = good.clone();
        let feeder = std::thread::spawn(move || stdin.write_all(&data));
        let o = child.wait_with_output().unwrap();
        feeder.join().unwrap().unwrap();
        assert_eq!(code(&o), 0);
        let doc = json(&o);
        assert_eq!(doc["files"][0]["path"], "-");
        assert_eq!(doc["files"][0]["checksum"]["status"], "ok");
        assert_eq!(doc["files"][0]["keys"], 127);
    }
}

const GROUPS: [(&str, u16, u16); 3] = [
    ("0001", 0, 5461),
    ("0002", 5462, 10922),
    ("0003", 10923, 16383),
];

/// Index of the node group owning `slot`.
fn group_of(slot: u16) -> usize {
    GROUPS
        .iter()
        .position(|g| g.1 <= slot && slot <= g.2)
        .unwrap()
}

/// Writes `snap-000N.rdb` (one per node group, redis-7.0) and `snap-manifest.json` into
/// `dir`; `moved` keys go to the file of the next node group instead of their own. Returns the
/// key count per file.
fn write_set(dir: &Path, moved: &[&str]) -> [u64; 3] {
    let mut spaces: [Keyspace; 3] = Default::default();
    let mut counts = [0u64; 3];
    let mut expires = [0u64; 3];
    let mut keys: Vec<String> = (0..300).map(|i| format!("user:{i}")).collect();
    // One key per group pinned to a chosen slot with a hash tag (slots 0, 5462 and 16383).
    keys.extend(["{fHh}a", "{hbQ}b", "{apX}c"].map(String::from));
    for (i, k) in keys.iter().enumerate() {
        let mut g = group_of(key_slot(k.as_bytes()));
        if moved.contains(&k.as_str()) {
            g = (g + 1) % 3;
        }
        let mut e = Entry::new(
            k.as_bytes().to_vec(),
            Value::String(format!("v{i}").into_bytes().into()),
        );
        if i % 10 == 0 {
            e.expire_at_ms = Some(4_102_444_800_000 + i as i64);
            expires[g] += 1;
        }
        spaces[g].db_mut(0).entries.push(e);
        counts[g] += 1;
    }
    let builder = WriterBuilder::new("redis-7.0".parse::<Target>().unwrap());
    let mut nodes = Vec::new();
    for (i, (id, lo, hi)) in GROUPS.iter().enumerate() {
        let name = format!("snap-{id}.rdb");
        let f = std::fs::File::create(dir.join(&name)).unwrap();
        write_keyspace(&spaces[i], std::io::BufWriter::new(f), &builder).unwrap();
        nodes.push(serde_json::json!({
            "NodeGroupId": id, "CacheNodeId": "0001",
            "NodeGroupConfiguration": {"NodeGroupId": id, "Slots": format!("{lo}-{hi}")},
            "CacheSize": "1 MB", "File": name, "RdbVersion": 10,
            "Keys": counts[i], "Expires": expires[i],
        }));
    }
    let manifest = serde_json::json!({
        "SnapshotName": "snap", "SnapshotStatus": "available", "Engine": "redis",
        "EngineVersion": "7.0", "NumNodeGroups": 3, "NodeSnapshots": nodes,
    });
    std::fs::write(
        dir.join("snap-manifest.json"),
        serde_json::to_string_pretty(&manifest).unwrap(),
    )
    .unwrap();
    counts
}

fn codes(file: &Json) -> Vec<String> {
    file["findings"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["code"].as_str().unwrap().to_string())
        .collect()
}

#[test]
fn cluster_set_with_manifest() {
    assert_eq!(
        ["{fHh}a", "{hbQ}b", "{apX}c"].map(|k| key_slot(k.as_bytes())),
        [0, 5462, 16383],
        "the pinned keys sit on the node-group edges"
    );
    let dir = tempfile::tempdir().unwrap();
    let counts = write_set(dir.path(), &[]);
    assert!(counts.iter().all(|c| *c > 50), "{counts:?}");

    // The directory: three files and the manifest, all consistent.
    let o = run(&["--json", s(dir.path())]);
    assert_eq!(code(&o), 0, "{}", String::from_utf8_lossy(&o.stdout));
    let doc = json(&o);
    let files = doc["files"].as_array().unwrap();
    assert_eq!(files.len(), 3);
    for (i, f) in files.iter().enumerate() {
        assert!(f["path"]
            .as_str()
            .unwrap()
            .ends_with(&format!("snap-000{}.rdb", i + 1)));
        assert_eq!(f["keys"], counts[i]);
        assert!(codes(f).is_empty(), "{:?}", codes(f));
    }
    assert_eq!(doc["files"][0]["slots"]["min"], 0);
    assert_eq!(doc["files"][2]["slots"]["max"], 16383);
    let sum = &doc["summary"];
    assert_eq!(sum["keys"], counts.iter().sum::<u64>());
    assert_eq!(sum["slots_covered"], "0-16383");
    assert_eq!(
        (&sum["slot_gaps"], &sum["slot_overlaps"]),
        (&Json::from(""), &Json::from(""))
    );
    assert!(doc.get("findings").is_none());

    // The same files named one by one with --manifest; and as a text table.
    let m = dir.path().join("snap-manifest.json");
    let f: Vec<PathBuf> = (1..=3)
        .map(|i| dir.path().join(format!("snap-000{i}.rdb")))
        .collect();
    let o = run(&["--manifest", s(&m), s(&f[0]), s(&f[1]), s(&f[2])]);
    assert_eq!(code(&o), 0);
    let text = String::from_utf8(o.stdout).unwrap();
    assert!(
        text.contains("TOTAL (3 files)") && text.contains("3 ok"),
        "{text}"
    );

    // --slots on one file.
    assert_eq!(code(&run(&["--slots", "0-5461", s(&f[0])])), 0);
    let o = run(&["--json", "--slots", "5462-10922", s(&f[0])]);
    assert_eq!(code(&o), 1);
    let doc = json(&o);
    assert!(codes(&doc["files"][0]).contains(&"slot-outside-expected".to_string()));
    assert_eq!(doc["files"][0]["slots"]["keys_outside_expected"], counts[0]);

    // A key moved into the next node group's file (manifest counts follow the files).
    let moved_dir = tempfile::tempdir().unwrap();
    write_set(moved_dir.path(), &["{fHh}a"]);
    let o = run(&["--json", s(moved_dir.path())]);
    assert_eq!(code(&o), 1);
    let doc = json(&o);
    assert!(codes(&doc["files"][0]).is_empty());
    assert_eq!(doc["files"][1]["ok"], false);
    assert_eq!(codes(&doc["files"][1]), vec!["slot-outside-node-group"]);
    let msg = doc["files"][1]["findings"][0]["message"].as_str().unwrap();
    assert!(msg.starts_with("1 key(s)") && msg.contains("0002"), "{msg}");
    assert_eq!(doc["summary"]["failed"], 1);
    let o = run(&[s(moved_dir.path())]);
    assert_eq!(code(&o), 1);
    assert!(String::from_utf8(o.stdout)
        .unwrap()
        .contains("slot-outside-node-group"));

    // A removed file: the manifest still lists it.
    std::fs::remove_file(&f[2]).unwrap();
    let o = run(&["--json", s(dir.path())]);
    assert_eq!(code(&o), 1);
    let doc = json(&o);
    assert_eq!(doc["files"].as_array().unwrap().len(), 2);
    assert!(doc["files"]
        .as_array()
        .unwrap()
        .iter()
        .all(|f| f["ok"] == true));
    let set = doc["findings"].as_array().unwrap();
    assert_eq!(set.len(), 1, "{set:?}");
    assert_eq!(set[0]["code"], "manifest-file-missing");
    // Named where the manifest puts it: in the manifest's directory.
    let gone = f[2].display().to_string();
    assert_eq!(set[0]["path"], gone.as_str());
    assert_eq!(set[0]["severity"], "error");
    // The summary says so too: a set-wide error, and the missing group's slots uncovered.
    assert_eq!(doc["summary"]["set_errors"], 1);
    assert_eq!(doc["summary"]["failed"], 0);
    assert_eq!(doc["summary"]["slot_gaps"], "10923-16383");
    let o = run(&[s(dir.path())]);
    assert_eq!(code(&o), 1);
    let text = String::from_utf8(o.stdout).unwrap();
    assert!(
        text.contains(&format!("error: {gone}: manifest-file-missing")),
        "{text}"
    );
}

/// The findings of `file` with `code`.
fn findings_with<'a>(file: &'a Json, code: &str) -> Vec<&'a Json> {
    file["findings"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|f| f["code"] == code)
        .collect()
}

#[test]
fn a_file_named_twice_is_verified_once() {
    let good = testdata("servers/redis-7.2.6/dev/dump.rdb");
    // The same file under another spelling: the first occurrence's path is shown.
    let again = testdata("servers/redis-7.2.6/../redis-7.2.6/dev/./dump.rdb");
    let o = run(&["--json", s(&good), s(&again), s(&good)]);
    assert_eq!(code(&o), 0, "{}", String::from_utf8_lossy(&o.stderr));
    let doc = json(&o);
    let files = doc["files"].as_array().unwrap();
    let paths: Vec<&Json> = files.iter().map(|f| &f["path"]).collect();
    assert_eq!(paths, vec![&Json::from(s(&good))]);
    assert_eq!(
        (&doc["summary"]["files"], &doc["summary"]["keys"]),
        (&Json::from(1), &Json::from(123))
    );
    let o = run(&[s(&good), s(&good)]);
    assert_eq!(code(&o), 0);
    let text = String::from_utf8(o.stdout).unwrap();
    assert!(text.contains("TOTAL (1 file)"), "{text}");

    // A directory with a manifest, and one of its files named again (or the directory twice):
    // three files, each once, no `manifest-file-unlisted`, totals of the three.
    let dir = tempfile::tempdir().unwrap();
    let counts = write_set(dir.path(), &[]);
    let first = dir.path().join("snap-0001.rdb");
    for args in [
        vec!["--json", s(dir.path()), s(&first)],
        vec!["--json", s(dir.path()), s(dir.path())],
        vec!["--json", s(&first), s(dir.path())],
    ] {
        let o = run(&args);
        assert_eq!(
            code(&o),
            0,
            "{args:?}: {}",
            String::from_utf8_lossy(&o.stdout)
        );
        let doc = json(&o);
        let files = doc["files"].as_array().unwrap();
        assert_eq!(files.len(), 3, "{args:?}");
        for f in files {
            assert!(codes(f).is_empty(), "{args:?}: {:?}", codes(f));
        }
        assert_eq!(doc["summary"]["files"], 3);
        assert_eq!(doc["summary"]["keys"], counts.iter().sum::<u64>());
        assert!(doc.get("findings").is_none(), "{args:?}");
    }
    // Input order is kept: the file named first comes first.
    let o = run(&["--json", s(&first), s(dir.path())]);
    let doc = json(&o);
    assert_eq!(doc["files"][0]["path"], s(&first));
    assert!(doc["files"][1]["path"]
        .as_str()
        .unwrap()
        .ends_with("snap-0002.rdb"));
}

#[test]
fn manifest_slot_finding_names_the_first_key_like_slots_mode() {
    // A key moved into the next node group's file.
    let dir = tempfile::tempdir().unwrap();
    write_set(dir.path(), &["{fHh}a"]);
    let f2 = dir.path().join("snap-0002.rdb");
    let manifest = dir.path().join("snap-manifest.json");
    for args in [
        vec!["--json", s(dir.path())],
        vec!["--json", "--manifest", s(&manifest), s(&f2)],
    ] {
        let o = run(&args);
        assert_eq!(code(&o), 1, "{args:?}");
        let doc = json(&o);
        let f = doc["files"]
            .as_array()
            .unwrap()
            .iter()
            .find(|f| f["path"] == s(&f2))
            .unwrap();
        assert_eq!(f["slots"]["keys_outside_expected"], 1, "{args:?}");
        let found = findings_with(f, "slot-outside-node-group");
        assert_eq!(found.len(), 1, "{args:?}: {found:?}");
        assert_eq!(found[0]["key"], "{fHh}a");
        assert_eq!(found[0]["db"], 0);
        assert!(found[0]["offset"].as_u64().unwrap() > 9);
        let msg = found[0]["message"].as_str().unwrap();
        assert!(msg.starts_with("1 key(s)") && msg.contains("0002"), "{msg}");
        // --slots mode says the same of that file.
        let o = run(&["--json", "--slots", "5462-10922", s(&f2)]);
        let by_slots = json(&o);
        let g = &by_slots["files"][0];
        assert_eq!(g["slots"]["keys_outside_expected"], 1);
        let other = findings_with(g, "slot-outside-expected");
        assert_eq!(
            (&other[0]["offset"], &other[0]["key"]),
            (&found[0]["offset"], &found[0]["key"])
        );
    }

    // The manifest's first node group given the slots of the second (the audit's repro): every
    // key of the first file is outside; the first one is named.
    let dir = tempfile::tempdir().unwrap();
    let counts = write_set(dir.path(), &[]);
    let text = std::fs::read_to_string(manifest_path(dir.path())).unwrap();
    let mut m: Json = serde_json::from_str(&text).unwrap();
    m["NodeSnapshots"][0]["NodeGroupConfiguration"]["Slots"] = Json::from("5462-10000");
    std::fs::write(manifest_path(dir.path()), m.to_string()).unwrap();
    let o = run(&["--json", s(dir.path())]);
    assert_eq!(code(&o), 1);
    let doc = json(&o);
    let f = &doc["files"][0];
    assert_eq!(f["slots"]["keys_outside_expected"], counts[0]);
    let found = findings_with(f, "slot-outside-node-group");
    assert_eq!(found.len(), 1, "{found:?}");
    assert!(
        found[0]["offset"].is_u64() && found[0]["key"].is_string(),
        "{found:?}"
    );
    let set: Vec<&str> = doc["findings"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["code"].as_str().unwrap())
        .collect();
    assert_eq!(set, vec!["manifest-slot-gap", "manifest-slot-overlap"]);
}

fn manifest_path(dir: &Path) -> PathBuf {
    dir.join("snap-manifest.json")
}

#[test]
fn usage_errors_say_what_was_given() {
    // An empty directory: the error names it.
    let empty = tempfile::tempdir().unwrap();
    let o = run(&[s(empty.path())]);
    assert_eq!(code(&o), 2);
    let err = String::from_utf8(o.stderr).unwrap();
    assert!(err.contains(s(empty.path())), "{err}");
    assert!(err.contains("no .rdb file"), "{err}");

    // An unknown engine line: the known lines are listed once.
    let good = testdata("servers/redis-7.2.6/dev/dump.rdb");
    let o = run(&["--engine", "redis-99.0", s(&good)]);
    assert_eq!(code(&o), 2);
    let err = String::from_utf8(o.stderr).unwrap();
    assert!(err.contains("redis-99.0"), "{err}");
    assert_eq!(err.matches("valkey-8.0").count(), 1, "{err}");
}

#[test]
fn key_findings_of_module_and_engine_checks_name_the_key() {
    // A module value (key `m`): both the warning and, with --engine, the error name the key.
    let module = testdata("malformed/module-required.rdb");
    let o = run(&["--json", "--engine", "redis-7.4", s(&module)]);
    assert_eq!(code(&o), 1);
    let doc = json(&o);
    let f = &doc["files"][0];
    for c in ["module-required", "engine-incompatible"] {
        let found = findings_with(f, c);
        assert_eq!(found.len(), 1, "{c}: {found:?}");
        assert_eq!(
            (&found[0]["db"], &found[0]["key"]),
            (&Json::from(0), &Json::from("m")),
            "{c}"
        );
        assert!(found[0]["offset"].is_u64(), "{c}");
    }

    // A stream key of type 21 (RDB 11) in an RDB 10 file: Redis 7.0 does not know the type.
    let src = std::fs::read(testdata("servers/redis-7.2.6/dev/dump.rdb")).unwrap();
    let all = rdb_reader::read_keyspace(&src).unwrap();
    let stream = all
        .dbs
        .values()
        .flat_map(|d| &d.entries)
        .find(|e| matches!(e.value, Value::Stream(_)))
        .expect("the dump holds a stream")
        .clone();
    let mut ks = Keyspace::default();
    ks.db_mut(0).entries.push(Entry::new(
        b"plain".to_vec(),
        Value::String(b"x".to_vec().into()),
    ));
    let key = stream.key.clone();
    ks.db_mut(0).entries.push(stream);
    let builder = WriterBuilder::new("redis-7.2".parse::<Target>().unwrap());
    let (mut bytes, _) = write_keyspace(&ks, Vec::new(), &builder).unwrap();
    assert!(bytes.starts_with(b"REDIS0011"));
    bytes[8] = b'0';
    let n = bytes.len();
    let crc = rdb_format::crc::crc64(&bytes[..n - 8]);
    bytes[n - 8..].copy_from_slice(&crc.to_le_bytes());
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("stream-in-rdb10.rdb");
    std::fs::write(&file, &bytes).unwrap();
    let o = run(&["--json", "--engine", "redis-7.0", s(&file)]);
    assert_eq!(code(&o), 1, "{}", String::from_utf8_lossy(&o.stdout));
    let doc = json(&o);
    let found = findings_with(&doc["files"][0], "engine-incompatible");
    assert_eq!(found.len(), 1, "{found:?}");
    assert!(
        found[0]["message"].as_str().unwrap().contains("type 21"),
        "{found:?}"
    );
    assert_eq!(found[0]["db"], 0);
    assert_eq!(
        found[0]["key"],
        Json::from(String::from_utf8(key.to_vec()).unwrap())
    );
}

#[test]
fn help_documents_checksum_status_values() {
    let o = run(&["--help"]);
    assert_eq!(code(&o), 0);
    let help = String::from_utf8(o.stdout).unwrap();
    for status in ["ok", "mismatch", "disabled", "absent", "not-reached"] {
        assert!(help.contains(status), "--help lacks {status}: {help}");
    }
    // And the value really occurs: a file cut short.
    let o = run(&["--json", s(&testdata("malformed/truncated.rdb"))]);
    assert_eq!(json(&o)["files"][0]["checksum"]["status"], "not-reached");
}

/// Runs `rdb-verify` with `args`, killed (and the test failed) if it has not ended in 60 s.
fn run_bounded(args: &[&str], stdin_data: Option<Vec<u8>>) -> Output {
    let mut child = bin()
        .args(args)
        .stdin(if stdin_data.is_some() {
            Stdio::piped()
        } else {
            Stdio::null()
        })
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let writer = stdin_data.map(|data| {
        let mut pipe = child.stdin.take().unwrap();
        std::thread::spawn(move || {
            let _ = pipe.write_all(&data);
        })
    });
    let start = std::time::Instant::now();
    while child.try_wait().unwrap().is_none() {
        if start.elapsed() > std::time::Duration::from_secs(60) {
            let _ = child.kill();
            let _ = child.wait();
            panic!("rdb-verify {args:?} did not end within 60 s");
        }
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    if let Some(w) = writer {
        w.join().unwrap();
    }
    child.wait_with_output().unwrap()
}

/// A path that is a pipe or FIFO (`/dev/stdin` fed by a pipe, `mkfifo`) is read once, as
/// `-` is: a repeated key is still reported (opening the path again for the confirmation
/// pass found it drained, so the file passed), and a FIFO is not opened twice (which blocked).
#[test]
fn pipes_and_fifos_named_as_paths_are_read_once() {
    let dup = std::fs::read(testdata("malformed/duplicate-key.rdb")).unwrap();
    let o = run_bounded(&["--json", "/dev/stdin"], Some(dup.clone()));
    assert_eq!(code(&o), 1, "{}", String::from_utf8_lossy(&o.stderr));
    assert!(String::from_utf8_lossy(&o.stdout).contains("\"duplicate-key\""));

    let tmp = tempfile::tempdir().unwrap();
    let fifo = tmp.path().join("fifo");
    assert!(Command::new("mkfifo")
        .arg(&fifo)
        .status()
        .unwrap()
        .success());
    let feeder = {
        let fifo = fifo.clone();
        std::thread::spawn(move || {
            // Blocks until the verifier opens the FIFO for reading.
            let _ = std::fs::OpenOptions::new()
                .write(true)
                .open(&fifo)
                .and_then(|mut f| f.write_all(&dup));
        })
    };
    let o = run_bounded(&["--json", s(&fifo)], None);
    feeder.join().unwrap();
    assert_eq!(code(&o), 1, "{}", String::from_utf8_lossy(&o.stderr));
    assert!(String::from_utf8_lossy(&o.stdout).contains("\"duplicate-key\""));
}

/// Every `*.rdb` entry of a directory is verified: one whose name is not UTF-8 as well, and
/// a link that leads nowhere is reported as unreadable (exit 2), never skipped.
#[test]
fn no_entry_of_a_directory_is_skipped() {
    use std::os::unix::ffi::OsStrExt;
    let tmp = tempfile::tempdir().unwrap();
    let bad = tmp.path().join(std::ffi::OsStr::from_bytes(b"x\xff.rdb"));
    std::fs::copy(testdata("malformed/checksum-mismatch.rdb"), &bad).unwrap();
    std::fs::copy(
        testdata("servers/redis-7.0.15/dev/dump.rdb"),
        tmp.path().join("good.rdb"),
    )
    .unwrap();
    let o = run(&["--json", s(tmp.path())]);
    assert_eq!(code(&o), 1);
    let doc = json(&o);
    assert_eq!(doc["files"].as_array().unwrap().len(), 2, "{doc}");
    assert!(doc.to_string().contains("crc-mismatch"), "{doc}");

    std::os::unix::fs::symlink("/nonexistent/x.rdb", tmp.path().join("dangling.rdb")).unwrap();
    let o = run(&["--json", s(tmp.path())]);
    assert_eq!(code(&o), 2);
    assert_eq!(json(&o)["files"].as_array().unwrap().len(), 3);
}

/// The manifest's integrity fields are checked against the files: `NumNodeGroups` against
/// its entries, `FileSizeBytes` against the file, `Crc64` against the trailer the
/// verification checked.
#[test]
fn manifest_sizes_crcs_and_group_count_are_checked() {
    let tmp = tempfile::tempdir().unwrap();
    let src = testdata("servers/redis-7.0.15/dev/dump.rdb");
    let o = Command::new(env!("CARGO_BIN_EXE_rdbkit"))
        .args([
            "export",
            "--from",
            s(&src),
            "--name",
            "m",
            "--out",
            s(tmp.path()),
        ])
        .args(["--shards", "3", "--db", "0"])
        .output()
        .unwrap();
    assert_eq!(code(&o), 0, "{}", String::from_utf8_lossy(&o.stderr));
    let path = tmp.path().join("m-manifest.json");
    let original: Json = serde_json::from_slice(&std::fs::read(&path).unwrap()).unwrap();
    assert_eq!(code(&run(&[s(tmp.path())])), 0);
    type Tamper = fn(&mut Json);
    let cases: [(&str, Tamper); 4] = [
        ("manifest-node-groups-mismatch", |m| {
            m["NumNodeGroups"] = 4.into()
        }),
        ("manifest-node-groups-mismatch", |m| {
            m["NumNodeGroups"] = "3".into()
        }),
        ("manifest-size-mismatch", |m| {
            let n = m["NodeSnapshots"][1]["FileSizeBytes"].as_u64().unwrap();
            m["NodeSnapshots"][1]["FileSizeBytes"] = (n + 1).into();
        }),
        ("manifest-crc64-mismatch", |m| {
            m["NodeSnapshots"][2]["Crc64"] = "0000000000000001".into();
        }),
    ];
    for (want, tamper) in cases {
        let mut m = original.clone();
        tamper(&mut m);
        std::fs::write(&path, m.to_string()).unwrap();
        let o = run(&["--json", s(tmp.path())]);
        assert_eq!(code(&o), 1, "{want}");
        assert!(
            String::from_utf8_lossy(&o.stdout).contains(&format!("\"{want}\"")),
            "{want}: {}",
            String::from_utf8_lossy(&o.stdout)
        );
    }
}

/// Input that is not what it claims is bad usage (exit 2), not a set of findings: an empty
/// `--slots`, a manifest with no `NodeSnapshots` entry. A control character in a file name is
/// shown escaped, so the table keeps one row per file.
#[test]
fn empty_slot_sets_and_manifests_are_usage_errors() {
    let dump = testdata("servers/redis-7.0.15/dev/dump.rdb");
    let o = run(&["--slots", "", s(&dump)]);
    assert_eq!(code(&o), 2, "{}", String::from_utf8_lossy(&o.stderr));
    assert!(String::from_utf8_lossy(&o.stderr).contains("no slot given"));
    let tmp = tempfile::tempdir().unwrap();
    for (i, text) in ["{}", "[]", r#"{"NodeSnapshots": []}"#].iter().enumerate() {
        let m = tmp.path().join(format!("m{i}.json"));
        std::fs::write(&m, text).unwrap();
        let o = run(&["--manifest", s(&m), s(&dump)]);
        assert_eq!(
            code(&o),
            2,
            "{text}: {}",
            String::from_utf8_lossy(&o.stderr)
        );
        assert!(String::from_utf8_lossy(&o.stderr).contains("no NodeSnapshots entry"));
    }
    let odd = tmp.path().join("a\nb\tc.rdb");
    std::fs::copy(&dump, &odd).unwrap();
    let o = run(&[s(&odd)]);
    assert_eq!(code(&o), 0);
    let table = String::from_utf8_lossy(&o.stdout);
    assert!(table.contains("a\\nb\\tc.rdb"), "{table}");
    assert!(!table.contains("a\nb"), "{table}");
}

/// `-` redirected from a file is verified as the file: a repeated key is confirmed and named
/// with its offsets, as for the path (from a pipe it is reported without them).
#[test]
fn stdin_redirected_from_a_file_reports_as_the_file_does() {
    let dup = testdata("malformed/duplicate-key.rdb");
    let by_path = json(&run(&["--json", s(&dup)]));
    let o = bin()
        .args(["--json", "-"])
        .stdin(std::fs::File::open(&dup).unwrap())
        .output()
        .unwrap();
    assert_eq!(code(&o), 1);
    let by_stdin = json(&o);
    assert_eq!(by_stdin["files"][0]["path"], "-");
    let finding = |d: &Json| {
        d["files"][0]["findings"]
            .as_array()
            .unwrap()
            .iter()
            .find(|f| f["code"] == "duplicate-key")
            .cloned()
            .unwrap()
    };
    assert_eq!(finding(&by_stdin), finding(&by_path));
    assert!(finding(&by_stdin)["offset"].is_u64(), "{by_stdin}");
}

/// Rewrites the manifest of a set made by [`write_set`] through `edit`.
fn edit_manifest(dir: &Path, edit: impl FnOnce(&mut Json)) {
    let path = manifest_path(dir);
    let mut m: Json = serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
    edit(&mut m);
    std::fs::write(&path, serde_json::to_string_pretty(&m).unwrap()).unwrap();
}

/// Error codes of the whole document: each file's and the set-wide ones.
fn all_error_codes(doc: &Json) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    let files = doc["files"].as_array().unwrap().iter();
    let set = doc["findings"].as_array().into_iter().flatten();
    for f in files
        .flat_map(|f| f["findings"].as_array().unwrap())
        .chain(set)
    {
        if f["severity"] == "error" {
            out.push(f["code"].as_str().unwrap().to_string());
        }
    }
    out.sort();
    out
}

/// A manifest names its files relative to its own directory, by `File` or, in the service's
/// shape without it, by `SnapshotName-<NodeGroupId>.rdb`: swapped files are caught either
/// way, two sets of the same name are each checked against their own manifest, a `File`
/// elsewhere is missing here, and two node groups cannot share one file.
#[test]
fn manifests_name_their_files_from_their_own_directory() {
    // The service's shape: no File (nor counts); the two first files swapped.
    let svc = tempfile::tempdir().unwrap();
    write_set(svc.path(), &[]);
    edit_manifest(svc.path(), |m| {
        for n in m["NodeSnapshots"].as_array_mut().unwrap() {
            let n = n.as_object_mut().unwrap();
            n.retain(|k, _| {
                ["NodeGroupId", "CacheNodeId", "NodeGroupConfiguration"].contains(&k.as_str())
            });
        }
    });
    let o = run(&["--json", s(svc.path())]);
    assert_eq!(code(&o), 0, "{}", String::from_utf8_lossy(&o.stdout));
    assert!(json(&o)
        .to_string()
        .find("manifest-file-unlisted")
        .is_none());
    let (a, b) = (
        svc.path().join("snap-0001.rdb"),
        svc.path().join("snap-0002.rdb"),
    );
    let t = svc.path().join("t.rdb");
    std::fs::rename(&a, &t).unwrap();
    std::fs::rename(&b, &a).unwrap();
    std::fs::rename(&t, &b).unwrap();
    let o = run(&["--json", s(svc.path())]);
    assert_eq!(code(&o), 1);
    let doc = json(&o);
    assert_eq!(
        all_error_codes(&doc),
        vec!["slot-outside-node-group", "slot-outside-node-group"]
    );
    // Named file by file (`DIR/*`), the manifest among them, it is still used; another JSON
    // file there (a saved report) is left out with a note.
    std::fs::write(svc.path().join("report.json"), "{}").unwrap();
    let mut args: Vec<String> = vec!["--json".into()];
    for e in std::fs::read_dir(svc.path()).unwrap() {
        args.push(e.unwrap().path().display().to_string());
    }
    let o = run(&args.iter().map(String::as_str).collect::<Vec<_>>());
    assert_eq!(code(&o), 1);
    let doc = json(&o);
    assert_eq!(all_error_codes(&doc).len(), 2);
    assert!(
        doc["findings"].to_string().contains("manifest-ignored"),
        "{doc}"
    );
    // A note, not a set-wide error: `set_errors` counts errors only.
    assert_eq!(doc["summary"]["set_errors"], 0, "{doc}");
    // The directory and its manifest spelled another way; the manifest alone (its files are
    // verified).
    let m2 = svc.path().join(".").join("snap-manifest.json");
    for args in [vec![s(svc.path()), s(&m2)], vec![s(&m2)]] {
        let o = run(&[&["--json"][..], &args[..]].concat());
        assert_eq!(code(&o), 1, "{args:?}");
        let doc = json(&o);
        assert_eq!(doc["files"].as_array().unwrap().len(), 3, "{args:?}");
        assert_eq!(all_error_codes(&doc).len(), 2, "{args:?}: {doc}");
    }
    // Without it, the run says the manifest beside the files was not used.
    let o = run(&[s(&a), s(&b)]);
    assert_eq!(code(&o), 0);
    assert!(String::from_utf8_lossy(&o.stdout).contains("manifest-not-used"));
    let o = run(&["--json", s(&a), s(&b)]);
    assert_eq!(code(&o), 0);
    let doc = json(&o);
    assert!(
        doc["findings"].to_string().contains("manifest-not-used"),
        "{doc}"
    );
    assert_eq!(doc["summary"]["set_errors"], 0, "{doc}");

    // Two sets named alike in two directories: each against its own manifest.
    let one = tempfile::tempdir().unwrap();
    let two = tempfile::tempdir().unwrap();
    write_set(one.path(), &[]);
    write_set(two.path(), &[]);
    let o = run(&["--json", s(one.path()), s(two.path())]);
    assert_eq!(code(&o), 0, "{}", String::from_utf8_lossy(&o.stdout));
    edit_manifest(two.path(), |m| m["NodeSnapshots"][0]["Keys"] = 1.into());
    let o = run(&["--json", s(one.path()), s(two.path())]);
    assert_eq!(code(&o), 1);
    let doc = json(&o);
    let failed: Vec<&str> = doc["files"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|f| f["ok"] == false)
        .map(|f| f["path"].as_str().unwrap())
        .collect();
    let want = two.path().join("snap-0001.rdb").display().to_string();
    assert_eq!(failed, vec![want.as_str()]);
    assert_eq!(all_error_codes(&doc), vec!["manifest-keys-mismatch"]);

    // A File in another directory is not this directory's file of that name.
    edit_manifest(one.path(), |m| {
        m["NodeSnapshots"][2]["File"] = "/nonexistent/elsewhere/snap-0003.rdb".into()
    });
    let o = run(&["--json", s(one.path())]);
    assert_eq!(code(&o), 1);
    let doc = json(&o);
    assert_eq!(all_error_codes(&doc), vec!["manifest-file-missing"]);
    assert_eq!(doc["summary"]["set_errors"], 1);
    assert!(doc["files"][2]["findings"]
        .to_string()
        .contains("manifest-file-unlisted"));
    // Named with --manifest, a manifest kept apart from its files finds them by name.
    let apart = tempfile::tempdir().unwrap();
    let moved = apart.path().join("snap-manifest.json");
    std::fs::copy(manifest_path(two.path()), &moved).unwrap();
    edit_manifest(two.path(), |m| m["NodeSnapshots"][0]["Keys"] = 1.into());
    let f: Vec<String> = (1..=3)
        .map(|i| {
            two.path()
                .join(format!("snap-000{i}.rdb"))
                .display()
                .to_string()
        })
        .collect();
    let o = run(&["--json", "--manifest", s(&moved), &f[0], &f[1], &f[2]]);
    assert_eq!(all_error_codes(&json(&o)), vec!["manifest-keys-mismatch"]);

    // A link standing for another group's file: both groups name one file.
    let linked = tempfile::tempdir().unwrap();
    write_set(linked.path(), &[]);
    let l2 = linked.path().join("snap-0002.rdb");
    std::fs::remove_file(&l2).unwrap();
    std::os::unix::fs::symlink("snap-0001.rdb", &l2).unwrap();
    let o = run(&["--json", s(linked.path())]);
    assert_eq!(code(&o), 1);
    let doc = json(&o);
    assert!(
        all_error_codes(&doc).contains(&"manifest-file-shared".to_string()),
        "{doc}"
    );
    assert!(doc
        .to_string()
        .contains("node groups 0001 and 0002 both name this file"));
}

/// The manifest's own consistency and the rest of its fields: overlapping ranges within a
/// group, a repeated node group id, `NumNodeGroups` as text, the SHA-256 and CacheSize; a
/// byte-order mark and the service's `DescribeSnapshots` wrapper are accepted.
#[test]
fn manifest_fields_and_shapes() {
    let dir = tempfile::tempdir().unwrap();
    write_set(dir.path(), &[]);
    let original = std::fs::read_to_string(manifest_path(dir.path())).unwrap();
    let check = |edit: &dyn Fn(&mut Json)| -> (i32, Json) {
        std::fs::write(manifest_path(dir.path()), &original).unwrap();
        edit_manifest(dir.path(), edit);
        let o = run(&["--json", s(dir.path())]);
        (code(&o), json(&o))
    };
    let (c, doc) = check(&|_| {});
    assert_eq!((c, all_error_codes(&doc).len()), (0, 0), "{doc}");
    let (c, doc) = check(&|m| {
        m["NodeSnapshots"][0]["NodeGroupConfiguration"]["Slots"] = "0-3000,2000-5461".into()
    });
    assert_eq!(c, 1);
    assert!(all_error_codes(&doc).contains(&"manifest-slots-invalid".to_string()));
    let (c, doc) = check(&|m| m["NodeSnapshots"][1]["NodeGroupId"] = "0001".into());
    assert_eq!(c, 1);
    assert!(all_error_codes(&doc).contains(&"manifest-node-group-duplicate".to_string()));
    let (c, doc) = check(&|m| m["NumNodeGroups"] = "3".into());
    assert_eq!(
        (c, all_error_codes(&doc)),
        (1, vec!["manifest-node-groups-mismatch".to_string()])
    );
    let (c, doc) = check(&|m| m["NodeSnapshots"][1]["Sha256"] = "00".into());
    assert_eq!(
        (c, all_error_codes(&doc)),
        (1, vec!["manifest-sha256-mismatch".to_string()])
    );
    let (c, doc) = check(&|m| m["NodeSnapshots"][1]["CacheSize"] = "900 MB".into());
    assert_eq!(c, 0);
    assert!(doc["files"][1]["findings"]
        .to_string()
        .contains("manifest-cache-size-mismatch"));
    // The service's DescribeSnapshots output around the snapshot, with a byte-order mark.
    let m: Json = serde_json::from_str(&original).unwrap();
    let wrapped = serde_json::json!({"Snapshots": [m]}).to_string();
    std::fs::write(manifest_path(dir.path()), format!("\u{feff}{wrapped}")).unwrap();
    let o = run(&["--json", s(dir.path())]);
    assert_eq!(code(&o), 0, "{}", String::from_utf8_lossy(&o.stderr));
    assert_eq!(json(&o)["summary"]["slots_covered"], "0-16383");
}

/// `--no-checksum` keeps a CRC mismatch in sight as a warning; `--cluster-mode` makes keys
/// outside db 0 an error (not on Valkey 9, whose cluster mode has databases); a FIFO inside a
/// directory is reported without being opened (no hang).
#[test]
fn checksum_warning_cluster_mode_and_fifo_entries() {
    let bad = testdata("malformed/checksum-mismatch.rdb");
    let o = run(&["--json", "--no-checksum", s(&bad)]);
    assert_eq!(code(&o), 0);
    let f = &json(&o)["files"][0];
    let crc = findings_with(f, "crc-mismatch");
    assert_eq!(crc.len(), 1);
    assert_eq!(crc[0]["severity"], "warning");

    let multi = testdata("servers/redis-7.2.6/dev/dump.rdb");
    assert_eq!(code(&run(&[s(&multi)])), 0);
    let o = run(&["--json", "--cluster-mode", s(&multi)]);
    assert_eq!(code(&o), 1);
    assert!(!findings_with(&json(&o)["files"][0], "cluster-nonzero-db").is_empty());
    let o = run(&["--cluster-mode", "--engine", "valkey-9.0", s(&multi)]);
    assert_eq!(code(&o), 0);

    let tmp = tempfile::tempdir().unwrap();
    std::fs::copy(
        testdata("servers/redis-7.0.15/dev/dump.rdb"),
        tmp.path().join("good.rdb"),
    )
    .unwrap();
    assert!(Command::new("mkfifo")
        .arg(tmp.path().join("stale.rdb"))
        .status()
        .unwrap()
        .success());
    let o = run_bounded(&["--json", s(tmp.path())], None);
    assert_eq!(code(&o), 2);
    let doc = json(&o);
    assert_eq!(doc["files"].as_array().unwrap().len(), 2);
    assert!(doc.to_string().contains("not a regular file"), "{doc}");
}

/// A function library for an engine other than Lua: `function-engine` is an error when
/// `--engine` names a line with no way to add an engine (Redis, Valkey 7.2 and 8.0), a warning
/// otherwise; no line loads the file as it starts (no module registers the engine: Redis 7.0
/// and Valkey 8.1 refuse it, `engine_servers.rs`), so `loads_on` is empty and any `--engine`
/// gives `engine-incompatible` (exit 1), as module data does.
#[test]
fn function_engine_is_an_error_on_redis_lines() {
    let tmp = tempfile::tempdir().unwrap();
    let path = tmp.path().join("js.rdb");
    let mut w = WriterBuilder::new(Target::Valkey90).build(std::fs::File::create(&path).unwrap());
    w.write_header().unwrap();
    w.write_function(b"#!js name=h\nreturn 4").unwrap();
    w.finish().unwrap();
    for (engine, want_code, severity) in [
        (None, 0, "warning"),
        (Some("valkey-9.0"), 1, "warning"),
        (Some("valkey-8.0"), 1, "error"),
        (Some("redis-7.2"), 1, "error"),
    ] {
        let mut args = vec!["--json"];
        if let Some(e) = engine {
            args.extend(["--engine", e]);
        }
        args.push(s(&path));
        let o = run(&args);
        assert_eq!(code(&o), want_code, "{engine:?}");
        let f = findings_with(&json(&o)["files"][0], "function-engine")
            .into_iter()
            .cloned()
            .collect::<Vec<_>>();
        assert_eq!(f.len(), 1, "{engine:?}");
        assert_eq!(f[0]["severity"], severity, "{engine:?}");
        let file = &json(&o)["files"][0];
        assert_eq!(file["loads_on"], serde_json::json!([]), "{engine:?}");
        assert_eq!(
            findings_with(file, "engine-incompatible").len(),
            usize::from(engine.is_some()),
            "{engine:?}"
        );
    }
}

/// A manifest whose files are all missing (only the manifest copied, named or found in a
/// directory) is checked like one missing a file or two: every missing file is named
/// (`manifest-file-missing`, exit 1), where it used to be "no .rdb file found" (exit 2). The
/// directory's name has a newline: the findings print it escaped, one finding a line.
#[test]
fn a_manifest_without_any_of_its_files_names_each_missing_one() {
    let set = tempfile::tempdir().unwrap();
    write_set(set.path(), &[]);
    let parent = tempfile::tempdir().unwrap();
    let dir = parent.path().join("copy\nof set");
    std::fs::create_dir(&dir).unwrap();
    std::fs::copy(manifest_path(set.path()), manifest_path(&dir)).unwrap();
    for arg in [manifest_path(&dir), dir.clone()] {
        let o = run(&["--json", s(&arg)]);
        assert_eq!(code(&o), 1, "{}", String::from_utf8_lossy(&o.stderr));
        let doc = json(&o);
        assert_eq!(doc["files"].as_array().map(Vec::len), Some(0));
        let missing: Vec<&str> = doc["findings"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|f| f["code"] == "manifest-file-missing")
            .filter_map(|f| f["path"].as_str())
            .collect();
        assert_eq!(missing.len(), 3, "{doc}");
        for i in 1..=3 {
            let want = dir.join(format!("snap-000{i}.rdb"));
            assert!(missing.contains(&s(&want)), "{missing:?}");
        }

        let o = run(&[s(&arg)]);
        assert_eq!(code(&o), 1);
        let text = String::from_utf8(o.stdout).unwrap();
        let lines: Vec<&str> = text
            .lines()
            .filter(|l| l.contains("manifest-file-missing"))
            .collect();
        assert_eq!(lines.len(), 3, "{text}");
        assert!(
            lines.iter().all(|l| l.contains("copy\\nof set/snap-000")),
            "{text}"
        );
    }
}

/// Standard error that cannot be written (a full disk here) costs nothing but the notes: the
/// report is written and the exit code is the run's (a panic on the first note exited 101
/// before the JSON was written).
#[test]
fn an_unwritable_stderr_does_not_cost_the_report() {
    let dir = tempfile::tempdir().unwrap();
    let good = testdata("servers/redis-7.0.15/dev/dump.rdb");
    let unreadable = dir.path().join("dir.rdb");
    std::fs::create_dir(&unreadable).unwrap();
    // A directory named as a file: an `io` finding, noted on stderr.
    let o = bin()
        .args(["--json", s(&good), "-"])
        .stdin(std::fs::File::open(dir.path()).unwrap())
        .stderr(rdb_testkit::chunked::dev_full())
        .output()
        .unwrap();
    assert_eq!(code(&o), 2);
    let doc = json(&o);
    assert_eq!(doc["files"].as_array().map(Vec::len), Some(2));
    assert_eq!(doc["files"][0]["path"], "-");
    assert!(codes(&doc["files"][0]).contains(&"io".to_string()));
    assert_eq!(doc["files"][1]["ok"], true);
    assert!(doc["files"][1]["keys"].as_u64() > Some(0), "{doc}");
}

/// A file that cannot be read is named on stderr once: standard input as `-`, a file by its
/// own `cannot read PATH` message (not twice).
#[test]
fn unreadable_inputs_are_named_on_stderr() {
    let dir = tempfile::tempdir().unwrap();
    let o = bin()
        .arg("-")
        .stdin(std::fs::File::open(dir.path()).unwrap())
        .output()
        .unwrap();
    assert_eq!(code(&o), 2);
    let err = String::from_utf8(o.stderr).unwrap();
    assert!(err.starts_with("rdb-verify: -: I/O error"), "{err}");
    // A FIFO found in a directory is not opened: reported by its `cannot read PATH` message.
    let fifo = dir.path().join("x.rdb");
    assert!(Command::new("mkfifo")
        .arg(&fifo)
        .status()
        .unwrap()
        .success());
    let o = run(&[s(dir.path())]);
    assert_eq!(code(&o), 2);
    let err = String::from_utf8(o.stderr).unwrap();
    let want = format!("rdb-verify: cannot read {}: ", s(&fifo));
    assert!(
        err.starts_with(&want) && err.matches(s(&fifo)).count() == 1,
        "{err}"
    );
}

/// `--help` and `--version` that cannot be written (standard output on a full disk) are a
/// write error (exit 2, named on stderr), not a success; a reader that closes the pipe early
/// is not.
#[test]
fn help_that_cannot_be_written_is_an_error() {
    for flag in ["--help", "--version"] {
        let o = bin()
            .arg(flag)
            .stdout(rdb_testkit::chunked::dev_full())
            .output()
            .unwrap();
        assert_eq!(code(&o), 2, "{flag}");
        let err = String::from_utf8_lossy(&o.stderr);
        assert!(err.starts_with("rdb-verify: writing output: "), "{err}");
        let o = run(&[flag]);
        assert_eq!(code(&o), 0, "{flag}");
        assert!(!o.stdout.is_empty() && o.stderr.is_empty(), "{flag}");
    }
    // A pipe whose reader is gone (the write fails with EPIPE): exit 0, nothing on stderr.
    let (reader, writer) = std::io::pipe().unwrap();
    drop(reader);
    let o = bin().arg("--help").stdout(writer).output().unwrap();
    assert_eq!(code(&o), 0);
    assert!(
        o.stderr.is_empty(),
        "{}",
        String::from_utf8_lossy(&o.stderr)
    );
}
