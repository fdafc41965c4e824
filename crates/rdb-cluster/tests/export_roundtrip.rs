//! Export round trips: every node file read back with the reader, every key's slot recomputed with an
//! independent CRC16 and checked against its node's slots, counts and digests against the manifest, the
//! union against the source, and output bytes independent of the thread count.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::atomic::AtomicBool;
use std::sync::Arc;

use rdb_cluster::export::{
    export_file, export_keyspace, export_rdb_file, DbSelection, ExportError, ExportPlan,
    ExportResult, NodeCheck,
};
use rdb_cluster::manifest::Manifest;
use rdb_cluster::slotset::SlotSet;
use rdb_cluster::topology::Topology;
use rdb_model::{Keyspace, Value};
use rdb_reader::{read_keyspace, Event, Limits, Parser, SliceSource};
use rdb_testkit::server::canonicalize;
use rdb_writer::Target;
use sha2::{Digest, Sha256};

const NOW: i64 = 1_795_309_323;

fn testdata(rel: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../testdata/servers")
        .join(rel)
}

/// CRC-16/XMODEM from the `crc` crate and a hash-tag rule written from the spec (format reference §6.1),
/// independent of `rdb_cluster::slot`.
fn reference_slot(key: &[u8]) -> u16 {
    const CRC: crc::Crc<u16> = crc::Crc::<u16>::new(&crc::CRC_16_XMODEM);
    let mut hashed = key;
    if let Some(open) = key.iter().position(|&b| b == b'{') {
        let after = &key[open + 1..];
        if let Some(close) = after.iter().position(|&b| b == b'}') {
            if close > 0 {
                hashed = &after[..close];
            }
        }
    }
    CRC.checksum(hashed) % 16384
}

#[test]
fn reference_slot_vectors() {
    for (k, s) in [
        (&b"foo"[..], 12182),
        (b"{user1000}.following", 3443),
        (b"foo{}{bar}", 8363),
        (b"foo{{bar}}zap", 4015),
        (b"a{b", 13340),
        (b"", 0),
    ] {
        assert_eq!(reference_slot(k), s);
    }
}

fn plan(dir: &Path, name: &str, topology: Topology, target: Target) -> ExportPlan {
    let mut p = ExportPlan::new(name, dir, topology, target);
    p.now = NOW;
    p
}

fn sha_hex(b: &[u8]) -> String {
    Sha256::digest(b)
        .iter()
        .map(|x| format!("{x:02x}"))
        .collect()
}

/// Checks every file of an export against its manifest and topology; returns the union of the files'
/// keyspaces (all dbs merged per db number) and the per-node keyspaces.
fn check_export(res: &ExportResult, topology: &Topology) -> (Keyspace, Vec<Keyspace>) {
    let text = std::fs::read_to_string(&res.manifest_path).unwrap();
    let manifest = Manifest::from_json(&text).unwrap();
    assert_eq!(manifest, res.manifest);
    assert_eq!(manifest.num_node_groups as usize, topology.len());
    assert_eq!(manifest.snapshot_create_time, "2026-11-22T01:02:03Z");
    let dir = res.manifest_path.parent().unwrap();
    let mut union = Keyspace::default();
    let mut per_node = Vec::new();
    for (node, group) in manifest.node_snapshots.iter().zip(&topology.groups) {
        assert_eq!(node.node_group_id, group.id);
        let slots: SlotSet = node.node_group_configuration.slots.parse().unwrap();
        assert_eq!(slots, group.slots);
        let bytes = std::fs::read(dir.join(&node.file)).unwrap();
        assert_eq!(bytes.len() as u64, node.file_size_bytes, "{}", node.file);
        assert_eq!(sha_hex(&bytes), node.sha256, "{}", node.file);
        let trailer = u64::from_le_bytes(bytes[bytes.len() - 8..].try_into().unwrap());
        assert_eq!(format!("{trailer:016x}"), node.crc64);
        let version: u16 = std::str::from_utf8(&bytes[bytes.len().min(9) - 3..9])
            .unwrap()
            .parse()
            .unwrap();
        assert_eq!(version % 100, node.rdb_version % 100);
        let ks = read_keyspace(&bytes).unwrap_or_else(|e| panic!("{}: {e}", node.file));
        let (mut keys, mut expires) = (0u64, 0u64);
        for (&db, d) in &ks.dbs {
            for e in &d.entries {
                let slot = reference_slot(&e.key);
                assert!(
                    slots.contains(slot),
                    "{}: key {:?} slot {slot} not in {}",
                    node.file,
                    String::from_utf8_lossy(&e.key),
                    node.node_group_configuration.slots
                );
                keys += 1;
                expires += u64::from(e.expire_at_ms.is_some());
            }
            union.db_mut(db).entries.extend(d.entries.iter().cloned());
        }
        assert_eq!((keys, expires), (node.keys, node.expires), "{}", node.file);
        check_slot_order(&bytes, &node.file);
        if union.functions.is_empty() {
            union.functions = ks.functions.clone();
        } else {
            assert_eq!(
                union.functions, ks.functions,
                "every node has the functions"
            );
        }
        per_node.push(ks);
    }
    (union, per_node)
}

/// Keys of each database come in ascending slot order, and slot information (F4 opcode or `slot-info` AUX), when present,
/// announces exactly the keys of its slot that follow.
fn check_slot_order(bytes: &[u8], file: &str) {
    let mut p = Parser::new(SliceSource::new(bytes), Limits::default());
    let mut last_slot = None::<u16>;
    let mut announced: Option<(u16, u64, u64)> = None;
    let mut seen = (0u64, 0u64);
    let close = |announced: &Option<(u16, u64, u64)>, seen: (u64, u64)| {
        if let Some((slot, keys, expires)) = announced {
            assert_eq!((*keys, *expires), seen, "{file}: slot info of slot {slot}");
        }
    };
    while let Some(ev) = p.next_event().unwrap() {
        let info = match ev {
            Event::SlotInfo {
                slot,
                keys,
                expires,
            } => Some((slot as u16, keys, expires)),
            Event::Aux { key, value } if key.to_vec() == b"slot-info" => {
                let text = String::from_utf8(value.to_vec()).unwrap();
                let v: Vec<u64> = text.split(',').map(|x| x.parse().unwrap()).collect();
                Some((v[0] as u16, v[1], v[2]))
            }
            Event::SelectDb { .. } => {
                // Slot order is per database.
                close(&announced, seen);
                announced = None;
                seen = (0, 0);
                last_slot = None;
                None
            }
            Event::Key(k) => {
                let key = k.key.to_vec();
                let slot = reference_slot(&key);
                if let Some(prev) = last_slot {
                    assert!(prev <= slot, "{file}: slot {slot} after {prev}");
                }
                if let Some((s, _, _)) = announced {
                    assert_eq!(s, slot, "{file}: key outside its announced slot");
                }
                last_slot = Some(slot);
                seen.0 += 1;
                seen.1 += u64::from(k.expire_at_ms.is_some());
                None
            }
            _ => None,
        };
        if let Some(info) = info {
            close(&announced, seen);
            announced = Some(info);
            seen = (0, 0);
        }
    }
    close(&announced, seen);
}

/// What a target keeps of a keyspace: field TTLs, functions and newer stream metadata are dropped for
/// targets without them; empty collections are never written.
fn as_target_keeps(ks: &Keyspace, target: Target) -> Keyspace {
    let mut ks = ks.clone();
    if !target.supports_functions() {
        ks.functions.clear();
    }
    for db in ks.dbs.values_mut() {
        db.entries.retain(|e| !rdb_writer::is_empty_value(&e.value));
        for e in &mut db.entries {
            match &mut e.value {
                Value::Hash(h) if target.field_ttl_format().is_none() => {
                    h.iter_mut().for_each(|f| f.expire_at_ms = None)
                }
                Value::Stream(s) => {
                    let v = target.stream_type().0;
                    for g in &mut s.groups {
                        if v < 21 {
                            g.consumers.iter_mut().for_each(|c| c.active_time_ms = None);
                        }
                        if v < 19 {
                            g.entries_read = None;
                        }
                    }
                    if v < 19 {
                        s.first_id = None;
                        s.max_deleted_id = None;
                        s.entries_added = None;
                    }
                }
                _ => {}
            }
        }
    }
    ks
}

/// Canonical equality (value order normalised), plus exact per-key expiry / IDLE / FREQ.
fn assert_same(got: &Keyspace, want: &Keyspace, what: &str) {
    type Meta = BTreeMap<(u32, Vec<u8>), (Option<i64>, Option<u64>, Option<u8>)>;
    let meta = |ks: &Keyspace| -> Meta {
        ks.dbs
            .iter()
            .flat_map(|(&n, d)| {
                d.entries.iter().map(move |e| {
                    (
                        (n, e.key.to_vec()),
                        (e.expire_at_ms, e.lru_idle_s, e.lfu_freq),
                    )
                })
            })
            .collect()
    };
    let (mg, mw) = (meta(got), meta(want));
    assert_eq!(mg.len(), mw.len(), "{what}: key count");
    assert!(mg == mw, "{what}: key metadata differs");
    let (mut a, mut b) = (got.clone(), want.clone());
    canonicalize(&mut a);
    canonicalize(&mut b);
    if a != b {
        let diffs = rdb_testkit::server::diff_keyspaces(&a, &b);
        panic!("{what}: keyspaces differ:\n{}", diffs.join("\n"));
    }
}

fn read_dir_bytes(dir: &Path) -> BTreeMap<String, Vec<u8>> {
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

fn multi_range_topology() -> Topology {
    Topology::from_json(
        r#"{"NodeGroupConfiguration": [
            {"NodeGroupId": "0001", "Slots": "0-99,200-299,9000-12000"},
            {"NodeGroupId": "0002", "Slots": "100-199,300-8999"},
            {"NodeGroupId": "0003", "Slots": "12001-16383"}]}"#,
    )
    .unwrap()
}

#[test]
fn generated_keyspace_all_shard_counts() {
    let ks = rdb_testkit::gen::mixed(3000, 7);
    let want = as_target_keeps(&ks, Target::Redis70);
    let tmp = tempfile::tempdir().unwrap();
    let mut topologies: Vec<(String, Topology)> = (1..=16)
        .map(|n| (format!("shards{n}"), Topology::even(n).unwrap()))
        .collect();
    topologies.push(("multi".into(), multi_range_topology()));
    for (name, topology) in topologies {
        let res = export_keyspace(
            &ks,
            &plan(tmp.path(), &name, topology.clone(), Target::Redis70),
        )
        .unwrap();
        let (union, nodes) = check_export(&res, &topology);
        assert_same(&union, &want, &name);
        assert_eq!(nodes.len(), topology.len());
        assert!(res.nodes.iter().all(|n| n.raw_copied == 0));
    }
}

#[test]
fn output_independent_of_threads() {
    let ks = rdb_testkit::gen::mixed(2000, 11);
    // About 5 MB of 4-64 KiB strings: several batches when a file's keys are encoded on
    // several threads (fewer node groups than threads).
    let big = rdb_testkit::gen::big_values(150, 12);
    let file = testdata("redis-7.0.15/dev/dump.rdb");
    for (shards, target) in [
        (5, Target::Redis70),
        (5, Target::Redis74),
        (5, Target::Valkey80),
        (1, Target::Redis70),
        (2, Target::Redis74),
        (2, Target::Valkey80),
    ] {
        let topology = Topology::even(shards).unwrap();
        let mut outputs = Vec::new();
        for threads in [1, 4] {
            let tmp = tempfile::tempdir().unwrap();
            let mut p = plan(tmp.path(), "snap", topology.clone(), target);
            p.threads = threads;
            export_keyspace(&ks, &p).unwrap();
            let mut p = plan(tmp.path(), "big", topology.clone(), target);
            p.threads = threads;
            export_keyspace(&big, &p).unwrap();
            let mut p = plan(tmp.path(), "real", topology.clone(), target);
            p.threads = threads;
            p.db = DbSelection::Db(0);
            export_rdb_file(&file, &p).unwrap();
            outputs.push(read_dir_bytes(tmp.path()));
        }
        assert_eq!(
            outputs[0].len(),
            3 * (shards + 1),
            "{shards} node files and a manifest, three times"
        );
        assert!(
            outputs[0] == outputs[1],
            "{target}, {shards} shards: bytes depend on threads"
        );
    }
}

#[test]
fn real_server_file_all_shard_counts() {
    let file = testdata("redis-7.0.15/dev/dump.rdb");
    let source = read_keyspace(&std::fs::read(&file).unwrap()).unwrap();
    let mut want = source.clone();
    want.dbs.retain(|&n, _| n == 0);
    let tmp = tempfile::tempdir().unwrap();
    let mut topologies: Vec<(String, Topology)> = (1..=16)
        .map(|n| (format!("real{n}"), Topology::even(n).unwrap()))
        .collect();
    topologies.push(("multi".into(), multi_range_topology()));
    for (name, topology) in topologies {
        let mut p = plan(tmp.path(), &name, topology.clone(), Target::Redis70);
        p.db = DbSelection::Db(0);
        let res = export_rdb_file(&file, &p).unwrap();
        let (union, _) = check_export(&res, &topology);
        assert_same(&union, &want, &name);
        let raw: u64 = res.nodes.iter().map(|n| n.raw_copied).sum();
        let reencoded: u64 = res.nodes.iter().map(|n| n.reencoded).sum();
        assert_eq!(
            (raw, reencoded),
            (want.dbs[&0].entries.len() as u64, 0),
            "same-version export copies every value raw"
        );
    }
}

/// Every server file of testdata (RDB 2 to 12, Redis and Valkey), to several targets: raw copies and
/// re-encodings give back the source (minus what the target cannot hold).
#[test]
fn every_server_file_to_several_targets() {
    let mut files: Vec<PathBuf> = Vec::new();
    for server in std::fs::read_dir(testdata("")).unwrap() {
        for variant in std::fs::read_dir(server.unwrap().path()).unwrap() {
            let f = variant.unwrap().path().join("dump.rdb");
            if f.exists() {
                files.push(f);
            }
        }
    }
    files.sort();
    assert!(files.len() >= 20, "{files:?}");
    let tmp = tempfile::tempdir().unwrap();
    let mut n = 0;
    let mut reencoded_total = 0;
    for file in &files {
        let source = read_keyspace(&std::fs::read(file).unwrap()).unwrap();
        for target in [
            Target::Redis62,
            Target::Redis70,
            Target::Redis74,
            Target::Valkey80,
            Target::Valkey90,
        ] {
            n += 1;
            let topology = Topology::even(3).unwrap();
            let mut p = plan(tmp.path(), &format!("s{n}"), topology.clone(), target);
            p.db = DbSelection::Db(0);
            p.drop_unsupported = true;
            let what = format!("{} -> {target}", file.display());
            let res = export_rdb_file(file, &p).unwrap_or_else(|e| panic!("{what}: {e}"));
            let (union, _) = check_export(&res, &topology);
            let mut want = as_target_keeps(&source, target);
            want.dbs.retain(|&n, _| n == 0);
            assert_same(&union, &want, &what);
            reencoded_total += res.nodes.iter().map(|n| n.reencoded).sum::<u64>();
        }
    }
    assert!(reencoded_total > 500, "the decode path was exercised");
}

#[test]
fn field_ttls_need_a_target_that_holds_them() {
    let file = testdata("redis-7.4.1/dev/dump.rdb");
    let tmp = tempfile::tempdir().unwrap();
    let topology = Topology::even(2).unwrap();
    let mut p = plan(tmp.path(), "x", topology.clone(), Target::Redis70);
    p.db = DbSelection::Db(0);
    let err = export_rdb_file(&file, &p).unwrap_err();
    assert!(matches!(err, ExportError::Write { .. }), "{err}");
    assert!(err.to_string().contains("key "), "names the key: {err}");
    assert_eq!(
        std::fs::read_dir(tmp.path()).unwrap().count(),
        0,
        "nothing left behind, temporaries included"
    );

    // Valkey 9.0: the files with field-TTL hashes need VALKEY080, the others stay REDIS0011.
    let mut p = plan(tmp.path(), "v", topology.clone(), Target::Valkey90);
    p.db = DbSelection::Db(0);
    let res = export_rdb_file(&file, &p).unwrap();
    let source = read_keyspace(&std::fs::read(&file).unwrap()).unwrap();
    let ttl_keys: Vec<&[u8]> = source.dbs[&0]
        .entries
        .iter()
        .filter(
            |e| matches!(&e.value, Value::Hash(h) if h.iter().any(|f| f.expire_at_ms.is_some())),
        )
        .map(|e| &e.key[..])
        .collect();
    assert!(!ttl_keys.is_empty());
    let (union, nodes) = check_export(&res, &topology);
    let mut want = source.clone();
    want.dbs.retain(|&n, _| n == 0);
    assert_same(&union, &want, "redis-7.4 -> valkey-9.0");
    for (ks, node) in nodes.iter().zip(&res.nodes) {
        let has_ttls = ks
            .dbs
            .values()
            .flat_map(|d| &d.entries)
            .any(|e| ttl_keys.contains(&&e.key[..]));
        assert_eq!(node.header.version, if has_ttls { 80 } else { 11 });
    }
}

#[test]
fn databases_must_be_chosen() {
    let file = testdata("redis-7.0.15/dev/dump.rdb");
    let tmp = tempfile::tempdir().unwrap();
    let err = export_rdb_file(
        &file,
        &plan(tmp.path(), "a", Topology::even(3).unwrap(), Target::Redis70),
    )
    .unwrap_err();
    assert!(
        matches!(&err, ExportError::OtherDatabases { dbs } if dbs == &[0, 1, 7, 15]),
        "{err}"
    );
    assert!(!err.is_usage());

    let mut p = plan(tmp.path(), "a", Topology::even(3).unwrap(), Target::Redis70);
    p.db = DbSelection::All;
    assert!(export_rdb_file(&file, &p).unwrap_err().is_usage());
    assert_eq!(std::fs::read_dir(tmp.path()).unwrap().count(), 0);

    // --shards 1 --all-dbs keeps every database.
    let source = read_keyspace(&std::fs::read(&file).unwrap()).unwrap();
    let topology = Topology::even(1).unwrap();
    let mut p = plan(tmp.path(), "all", topology.clone(), Target::Redis70);
    p.db = DbSelection::All;
    let res = export_rdb_file(&file, &p).unwrap();
    let (union, _) = check_export(&res, &topology);
    assert_same(&union, &source, "all dbs");
    // ... and so does the keyspace path.
    let mut p = plan(tmp.path(), "all-ks", topology.clone(), Target::Redis70);
    p.db = DbSelection::All;
    let res = export_keyspace(&source, &p).unwrap();
    let (union, _) = check_export(&res, &topology);
    assert_same(&union, &source, "all dbs, keyspace");

    // --db 7 exports db 7 as db 0.
    let mut p = plan(
        tmp.path(),
        "seven",
        Topology::even(2).unwrap(),
        Target::Redis70,
    );
    p.db = DbSelection::Db(7);
    let res = export_rdb_file(&file, &p).unwrap();
    let (union, _) = check_export(&res, &Topology::even(2).unwrap());
    let mut want = Keyspace {
        functions: source.functions.clone(),
        ..Keyspace::default()
    };
    want.db_mut(0).entries = source.dbs[&7].entries.clone();
    assert_same(&union, &want, "db 7");
    assert!(res.warnings.is_empty(), "{:?}", res.warnings);
    // A database the source has no key in: an export of empty files, with a warning.
    let mut p = plan(
        tmp.path(),
        "none",
        Topology::even(2).unwrap(),
        Target::Redis70,
    );
    p.db = DbSelection::Db(5);
    assert!(source.dbs.get(&5).is_none_or(|d| d.entries.is_empty()));
    let res = export_rdb_file(&file, &p).unwrap();
    assert_eq!(res.nodes.iter().map(|n| n.keys).sum::<u64>(), 0);
    assert_eq!(
        res.warnings,
        vec!["the source holds no key in database 5: the files hold no key".to_string()]
    );
    // The keyspace path refuses other databases too.
    let err = export_keyspace(
        &source,
        &plan(tmp.path(), "b", Topology::even(2).unwrap(), Target::Redis70),
    )
    .unwrap_err();
    assert!(matches!(err, ExportError::OtherDatabases { .. }), "{err}");
}

#[test]
fn never_overwrites() {
    let ks = rdb_testkit::gen::mixed(300, 3);
    let tmp = tempfile::tempdir().unwrap();
    let topology = Topology::even(3).unwrap();
    export_keyspace(
        &ks,
        &plan(tmp.path(), "snap", topology.clone(), Target::Redis72),
    )
    .unwrap();
    let before = read_dir_bytes(tmp.path());
    let err = export_keyspace(
        &ks,
        &plan(tmp.path(), "snap", topology.clone(), Target::Redis70),
    )
    .unwrap_err();
    assert!(
        err.to_string().starts_with(&format!(
            "a snapshot named snap already exists in {}",
            tmp.path().display()
        )),
        "{err}"
    );
    assert!(
        read_dir_bytes(tmp.path()) == before,
        "first export untouched"
    );

    // A single foreign file of the name blocks the export, and is left alone.
    let other = tempfile::tempdir().unwrap();
    std::fs::write(other.path().join("snap-0002.rdb"), b"mine").unwrap();
    let err = export_keyspace(
        &ks,
        &plan(other.path(), "snap", topology.clone(), Target::Redis70),
    )
    .unwrap_err();
    assert!(matches!(err, ExportError::AlreadyExists { .. }), "{err}");
    let left = read_dir_bytes(other.path());
    assert_eq!(left.len(), 1);
    assert_eq!(left["snap-0002.rdb"], b"mine");
    std::fs::write(other.path().join("snap-manifest.json"), b"{}").unwrap();
    std::fs::remove_file(other.path().join("snap-0002.rdb")).unwrap();
    assert!(matches!(
        export_keyspace(&ks, &plan(other.path(), "snap", topology, Target::Redis70)).unwrap_err(),
        ExportError::AlreadyExists { .. }
    ));
}

#[test]
fn invalid_names_and_topologies_write_nothing() {
    let ks = rdb_testkit::gen::mixed(50, 1);
    let tmp = tempfile::tempdir().unwrap();
    // 1000 characters are a valid name; the export refuses it up front, as no file system
    // here stores a 2,014-byte file name.
    rdb_cluster::export::validate_name(&"é".repeat(1000)).unwrap();
    let err = export_keyspace(
        &ks,
        &plan(
            tmp.path(),
            &"é".repeat(1000),
            Topology::even(1).unwrap(),
            Target::Redis70,
        ),
    )
    .unwrap_err();
    assert!(
        err.to_string()
            .contains("would be 2014 bytes, and file systems allow at most 255"),
        "{err}"
    );
    assert_eq!(std::fs::read_dir(tmp.path()).unwrap().count(), 0);
    for bad in [
        "",
        "a/b",
        "a\\b",
        "a\0b",
        "a\nb",
        "tab\there",
        &"x".repeat(1001),
    ] {
        let err = export_keyspace(
            &ks,
            &plan(tmp.path(), bad, Topology::even(1).unwrap(), Target::Redis70),
        )
        .unwrap_err();
        assert!(
            matches!(err, ExportError::InvalidName { .. }),
            "{bad:?}: {err}"
        );
        assert!(err.is_usage());
        assert!(
            err.to_string().starts_with("invalid snapshot name"),
            "{err}"
        );
        // The name is quoted cut short, and the rule is stated where it is the reason.
        assert!(err.to_string().len() < 300, "{err}");
        assert!(err.to_string().contains("1 to 1000 characters"), "{err}");
    }
    // 1,000 characters is a valid name whose files no file system can store: the reason says
    // so, without the naming rule it meets.
    let err = export_keyspace(
        &ks,
        &plan(
            tmp.path(),
            &"x".repeat(1000),
            Topology::even(1).unwrap(),
            Target::Redis70,
        ),
    )
    .unwrap_err();
    let text = err.to_string();
    assert!(text.contains("file systems allow at most 255"), "{text}");
    assert!(
        !text.contains("1 to 1000 characters") && text.len() < 300,
        "{text}"
    );
    // An export time whose year RFC 3339 cannot write.
    for now in [-1, rdb_cluster::export::MAX_EXPORT_TIME + 1] {
        let mut p = plan(tmp.path(), "t", Topology::even(1).unwrap(), Target::Redis70);
        p.now = now;
        let err = export_keyspace(&ks, &p).unwrap_err();
        assert!(
            matches!(err, ExportError::InvalidTime(n) if n == now),
            "{err}"
        );
        assert!(err.is_usage());
    }
    let gap = Topology::from_json(
        r#"{"NodeGroupConfiguration": [{"NodeGroupId": "1", "Slots": "0-99"}, {"NodeGroupId": "2", "Slots": "200-16383"}]}"#,
    );
    assert_eq!(
        gap.unwrap_err().to_string(),
        "slots 100-199 are not assigned to any node group"
    );
    // An unvalidated topology with an overlap is refused by the export itself.
    let mut t = Topology::even(2).unwrap();
    t.groups[1].slots.insert(5);
    let err = export_keyspace(&ks, &plan(tmp.path(), "ov", t, Target::Redis70)).unwrap_err();
    assert!(err.is_usage());
    assert_eq!(
        err.to_string(),
        "slot 5 is assigned to node groups 0001 and 0002"
    );
    let names: Vec<String> = std::fs::read_dir(tmp.path())
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    assert!(names.is_empty(), "{names:?}");
}

#[test]
fn check_hook_and_manifest_fields() {
    let ks = rdb_testkit::gen::mixed(500, 5);
    let tmp = tempfile::tempdir().unwrap();
    let topology = Topology::even(2).unwrap();
    let mut p = plan(tmp.path(), "hook", topology.clone(), Target::Valkey81);
    let groups = topology.groups.clone();
    p.check = Some(Box::new(move |path: &Path, slots: &SlotSet| {
        // Each file is checked under its temporary name, with its own group's slots.
        let name = path.file_name().unwrap().to_string_lossy().into_owned();
        let group = groups.iter().find(|g| &g.slots == slots).unwrap();
        assert!(!name.ends_with(&format!("hook-{}.rdb", group.id)), "{name}");
        NodeCheck {
            cache_size_bytes: std::fs::metadata(path).unwrap().len() * 3,
            already_expired: 7,
            problem: None,
            warnings: vec![format!("noticed in group {}", group.id)],
        }
    }));
    let res = export_keyspace(&ks, &p).unwrap();
    check_export(&res, &topology);
    // The check's warnings are the result's, each with its file's name.
    assert_eq!(
        res.warnings,
        vec![
            "hook-0001.rdb: noticed in group 0001".to_string(),
            "hook-0002.rdb: noticed in group 0002".to_string()
        ]
    );
    let m = &res.manifest;
    assert_eq!(
        (m.engine.as_str(), m.engine_version.as_str()),
        ("valkey", "8.1")
    );
    assert_eq!(m.snapshot_name, "hook");
    assert!(res.nodes.iter().all(|n| n.already_expired == 7));
    for n in &m.node_snapshots {
        assert_eq!(n.cache_size_bytes, n.file_size_bytes * 3);
        assert_eq!(
            n.cache_size,
            rdb_cluster::manifest::cache_size_text(n.cache_size_bytes)
        );
        assert_eq!(n.rdb_version, 11);
        assert_eq!(n.file, format!("hook-{}.rdb", n.node_group_id));
    }
    // Default: the writer's used-mem estimate (1 MiB baseline + data).
    let res = export_keyspace(
        &ks,
        &plan(tmp.path(), "nohook", topology.clone(), Target::Valkey81),
    )
    .unwrap();
    for n in &res.manifest.node_snapshots {
        assert!(n.cache_size_bytes > 1 << 20, "{}", n.cache_size_bytes);
    }
    // A file the check rejects: the export fails naming it, and leaves nothing behind.
    let out = tmp.path().join("rejected");
    std::fs::create_dir(&out).unwrap();
    let mut p = plan(&out, "bad", topology, Target::Valkey81);
    p.check = Some(Box::new(|_: &Path, slots: &SlotSet| NodeCheck {
        cache_size_bytes: 0,
        already_expired: 0,
        problem: slots
            .contains(16383)
            .then(|| "lzf: byte 99, db 0, key \"k\": broken".to_string()),
        warnings: Vec::new(),
    }));
    let err = export_keyspace(&ks, &p).unwrap_err();
    assert!(matches!(err, ExportError::Rejected { .. }), "{err:?}");
    let text = err.to_string();
    assert!(
        text.starts_with("bad-0002.rdb as written would not verify")
            && text.contains("lzf: byte 99, db 0, key \"k\": broken"),
        "{text}"
    );
    assert_eq!(std::fs::read_dir(&out).unwrap().count(), 0);
}

/// Builds a file from records: header + body + EOF + CRC-64 trailer.
fn rdb_file(body: &[u8]) -> Vec<u8> {
    let mut f = b"REDIS0011".to_vec();
    f.extend_from_slice(body);
    f.push(0xFF);
    let crc = rdb_format::crc::crc64(&f);
    f.extend_from_slice(&crc.to_le_bytes());
    f
}

#[test]
fn attributes_separated_from_their_key_are_kept() {
    // EXPIRETIME_MS, then an AUX field, then the key: servers (and the reader) apply the expiry to
    // the key. Also an IDLE key and an int-encoded key.
    let mut body = vec![0xFE, 0x00, 0xFB, 0x03, 0x01];
    body.push(0xFC);
    body.extend_from_slice(&4_102_444_800_123i64.to_le_bytes());
    body.extend_from_slice(b"\xFA\x01x\x01y");
    body.extend_from_slice(b"\x00\x03foo\x03bar");
    body.extend_from_slice(b"\xF8\x07\x00\x03baz\x03qux");
    body.extend_from_slice(b"\x00\xC0\x2A\x01v");
    let file = rdb_file(&body);
    let source = read_keyspace(&file).unwrap();
    assert_eq!(
        source.dbs[&0].entries[0].expire_at_ms,
        Some(4_102_444_800_123)
    );
    let tmp = tempfile::tempdir().unwrap();
    let path = tmp.path().join("src.rdb");
    std::fs::write(&path, &file).unwrap();
    let topology = Topology::even(2).unwrap();
    for target in [Target::Redis72, Target::Redis62] {
        let name = format!("d{target}");
        let res =
            export_rdb_file(&path, &plan(tmp.path(), &name, topology.clone(), target)).unwrap();
        let (union, _) = check_export(&res, &topology);
        assert_same(&union, &source, &name);
    }
}

#[test]
fn corrupt_source_writes_nothing() {
    let mut bytes = std::fs::read(testdata("redis-7.2.6/dev/dump.rdb")).unwrap();
    let n = bytes.len();
    bytes[n / 2] ^= 0x55;
    let tmp = tempfile::tempdir().unwrap();
    let path = tmp.path().join("bad.rdb");
    std::fs::write(&path, &bytes).unwrap();
    let mut p = plan(
        tmp.path(),
        "bad",
        Topology::even(2).unwrap(),
        Target::Redis72,
    );
    p.db = DbSelection::Db(0);
    let err = export_rdb_file(&path, &p).unwrap_err();
    assert!(matches!(err, ExportError::Source(_)), "{err}");
    assert!(err.to_string().contains("bad.rdb"), "{err}");
    assert_eq!(std::fs::read_dir(tmp.path()).unwrap().count(), 1);
}

/// A key repeated in the source — a keyspace (e.g. from JSONL) or an `.rdb` file — fails the
/// export before any file is written, naming the node file, the db and the key; the same key
/// in two databases is fine when the databases are kept apart.
#[test]
fn duplicate_keys_write_nothing() {
    use rdb_model::{Bytes, Entry};
    let tmp = tempfile::tempdir().unwrap();
    let topology = Topology::even(3).unwrap();
    let mut ks = Keyspace::default();
    for i in 0..2000 {
        ks.db_mut(0).entries.push(Entry::new(
            format!("user:{i}"),
            Value::String(Bytes::from_static(b"v")),
        ));
    }
    ks.db_mut(0).entries.push(Entry::new(
        "user:{7}",
        Value::String(Bytes::from_static(b"a")),
    ));
    ks.db_mut(0).entries.push(Entry::new(
        "user:1234",
        Value::Set(vec![Bytes::from_static(b"m")]),
    ));
    let err = export_keyspace(
        &ks,
        &plan(tmp.path(), "dup", topology.clone(), Target::Redis70),
    )
    .unwrap_err();
    let msg = err.to_string();
    assert!(
        msg.contains("\"user:1234\" appears twice in db 0") && msg.contains("dup-000"),
        "{msg}"
    );
    assert_eq!(std::fs::read_dir(tmp.path()).unwrap().count(), 0);

    // The same from an .rdb file: a plain key, then an int-encoded key and an LZF-compressed
    // key, each twice (decoded the same way as the reader does).
    let long = b"0123456789".repeat(8);
    let mut lzf = Vec::new();
    rdb_format::string::encode_string(
        &long,
        Some(&mut rdb_format::lzf::Compressor::new()),
        &mut lzf,
    );
    assert_eq!(lzf[0], 0xC3, "the long key is LZF-compressed");
    let records: [&[u8]; 3] = [b"\x03foo", b"\xC0\x2A", &lzf];
    for (i, key) in records.iter().enumerate() {
        let mut body = vec![0xFE, 0x00, 0xFB, 0x04, 0x00];
        body.extend_from_slice(b"\x00\x03bar\x01v");
        for _ in 0..2 {
            body.push(0x00);
            body.extend_from_slice(key);
            body.extend_from_slice(b"\x01v");
        }
        body.extend_from_slice(b"\x00\x03baz\x01v");
        let file = rdb_file(&body);
        assert_eq!(read_keyspace(&file).unwrap().dbs[&0].entries.len(), 4);
        let dir = tmp.path().join(format!("rdb{i}"));
        std::fs::create_dir(&dir).unwrap();
        let path = tmp.path().join(format!("src{i}.rdb"));
        std::fs::write(&path, &file).unwrap();
        let err = export_rdb_file(&path, &plan(&dir, "dup", topology.clone(), Target::Redis70))
            .unwrap_err();
        // Named in the source, at the repeat's record: header, SELECTDB + RESIZEDB, "bar",
        // then the first copy.
        let repeat_at = 9 + 5 + 7 + (1 + key.len() + 2);
        let want = format!(
            "src{i}.rdb: byte {repeat_at}: db 0, key {}: the key appears twice in the database",
            rdb_format::escape_bytes([&b"foo"[..], b"42", &long][i], 64)
        );
        assert!(err.to_string().contains(&want), "{err}\nwant {want}");
        assert_eq!(std::fs::read_dir(&dir).unwrap().count(), 0, "{err}");
    }

    // One key in two databases, kept apart (--shards 1 --all-dbs): exported.
    let mut two = Keyspace::default();
    for db in [0, 3] {
        two.db_mut(db)
            .entries
            .push(Entry::new("same", Value::String(Bytes::from_static(b"v"))));
    }
    let mut p = plan(
        tmp.path(),
        "apart",
        Topology::even(1).unwrap(),
        Target::Redis70,
    );
    p.db = DbSelection::All;
    export_keyspace(&two, &p).unwrap();
}

/// Empty collections of an `.rdb` source (which servers skip when loading, and `rdb-verify`
/// warns about) are left out of the export and counted as skipped, whether their type would be
/// copied raw or re-encoded (a listpack set and a quicklist for Redis 6.2): the files hold what
/// a server loading them holds.
#[test]
fn empty_collections_are_skipped_as_servers_skip_them() {
    use rdb_testkit::builder::{listpack, Rdb};
    let mut b = Rdb::db0(11);
    b.key(4, b"h");
    b.len(0); // hashtable hash, no field
    b.key(20, b"s");
    b.str(&listpack(&[])); // listpack set, no member
    b.key(18, b"l");
    b.len(0); // quicklist, no node
    b.string_key(b"k", b"v");
    let tmp = tempfile::tempdir().unwrap();
    let src = tmp.path().join("src.rdb");
    std::fs::write(&src, b.finish()).unwrap();
    for target in [Target::Redis62, Target::Redis70, Target::Valkey81] {
        let res = export_rdb_file(
            &src,
            &plan(
                tmp.path(),
                &format!("e{}", target.name()),
                Topology::even(1).unwrap(),
                target,
            ),
        )
        .unwrap();
        let node = &res.nodes[0];
        assert_eq!((node.keys, node.skipped_empty), (1, 3), "{target}");
        let ks = read_keyspace(&std::fs::read(&node.path).unwrap()).unwrap();
        let keys: Vec<_> = ks.dbs[&0].entries.iter().map(|e| e.key.to_vec()).collect();
        assert_eq!(keys, [b"k".to_vec()], "{target}");
    }
}

/// A missing output directory is a usage error naming it, found before anything is written
/// (was an I/O error naming a temporary file inside it).
#[test]
fn a_missing_output_directory_is_a_usage_error() {
    let tmp = tempfile::tempdir().unwrap();
    let missing = tmp.path().join("nope");
    let ks = Keyspace::default();
    let err = export_keyspace(
        &ks,
        &plan(&missing, "s", Topology::even(2).unwrap(), Target::Redis70),
    )
    .unwrap_err();
    assert!(err.is_usage(), "{err}");
    assert!(err.to_string().contains("nope: does not exist"), "{err}");
    assert!(!missing.exists());
}

/// A plan whose check hook (run on each finished temporary file, before anything is
/// published) calls `act` after the last node file: a way to change the output directory
/// at the moment an export is about to publish.
fn plan_acting_before_publication(
    dir: &Path,
    act: impl Fn() + Send + Sync + 'static,
) -> ExportPlan {
    plan_acting_at_check(dir, 2, 1, act)
}

/// A plan of `groups` node groups, one thread, whose check hook calls `act` at its check
/// number `at` (0 = after the first node file is written).
fn plan_acting_at_check(
    dir: &Path,
    groups: usize,
    at: usize,
    act: impl Fn() + Send + Sync + 'static,
) -> ExportPlan {
    let mut p = plan(
        dir,
        "race",
        Topology::even(groups).unwrap(),
        Target::Redis70,
    );
    p.threads = 1;
    let calls = std::sync::atomic::AtomicUsize::new(0);
    p.check = Some(Box::new(move |path: &Path, _: &SlotSet| {
        // (Gone once the directory was moved.)
        let len = std::fs::metadata(path).map_or(0, |m| m.len());
        if calls.fetch_add(1, std::sync::atomic::Ordering::SeqCst) == at {
            act();
        }
        NodeCheck {
            cache_size_bytes: len,
            already_expired: 0,
            problem: None,
            warnings: Vec::new(),
        }
    }));
    p
}

/// The output directory renamed and replaced just before publication: the export fails
/// (it used to exit 0 with the node files in the old directory and the manifest in the new
/// one), leaves nothing in either, and deletes nothing of the new one's.
#[test]
fn an_output_directory_replaced_during_the_export_fails_it() {
    let ks = rdb_testkit::gen::mixed(300, 9);
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("out");
    let old = tmp.path().join("out.old");
    std::fs::create_dir(&out).unwrap();
    let (o, od) = (out.clone(), old.clone());
    let p = plan_acting_before_publication(&out, move || {
        std::fs::rename(&o, &od).unwrap();
        std::fs::create_dir(&o).unwrap();
        std::fs::write(o.join("theirs.txt"), b"not ours").unwrap();
    });
    let err = export_keyspace(&ks, &p).unwrap_err();
    assert!(matches!(err, ExportError::OutDirMoved(_)), "{err}");
    assert!(err.to_string().contains("was moved or replaced"), "{err}");
    let names = |d: &Path| -> Vec<String> {
        let mut v: Vec<String> = std::fs::read_dir(d)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        v.sort();
        v
    };
    assert_eq!(names(&out), ["theirs.txt"]);
    // Its temporaries are removed from the moved directory too (through the directory
    // handle: their paths now lead elsewhere).
    #[cfg(target_os = "linux")]
    assert!(names(&old).is_empty(), "{:?}", names(&old));
}

/// `--out` given as a symbolic link that is re-pointed during the export: the export
/// completes in the directory the link named when it started.
#[cfg(unix)]
#[test]
fn an_output_link_re_pointed_during_the_export_does_not_split_it() {
    let ks = rdb_testkit::gen::mixed(300, 9);
    let tmp = tempfile::tempdir().unwrap();
    let (a, b, cur) = (
        tmp.path().join("a"),
        tmp.path().join("b"),
        tmp.path().join("cur"),
    );
    std::fs::create_dir(&a).unwrap();
    std::fs::create_dir(&b).unwrap();
    std::os::unix::fs::symlink(&a, &cur).unwrap();
    let (c, bb) = (cur.clone(), b.clone());
    let p = plan_acting_before_publication(&cur, move || {
        std::fs::remove_file(&c).unwrap();
        std::os::unix::fs::symlink(&bb, &c).unwrap();
    });
    let res = export_keyspace(&ks, &p).unwrap();
    assert_eq!(res.nodes.len(), 2);
    let count = |d: &Path| std::fs::read_dir(d).unwrap().count();
    assert_eq!((count(&a), count(&b)), (3, 0));
    assert!(a.join("race-manifest.json").is_file() && a.join("race-0002.rdb").is_file());
}

/// A stop asked for (the plan's interrupt flag: `rdbkit export` sets it on SIGINT / SIGTERM)
/// is heard while the source is still being read, not only once the node files are being
/// written: with the flag set, a source broken after its first few thousand keys ends in
/// `Cancelled` (it was not read to the break); without it, the same source ends in the
/// error the break causes. Nothing is written either way.
#[test]
fn an_interrupt_stops_the_source_read() {
    let tmp = tempfile::tempdir().unwrap();
    let ks = rdb_testkit::gen::small_strings(5000, 16);
    let rdb = tmp.path().join("src.rdb");
    let (bytes, _) = rdb_writer::write_keyspace(
        &ks,
        Vec::new(),
        &rdb_writer::WriterBuilder::new(Target::Redis70).ctime(NOW),
    )
    .unwrap();
    // Cut at 90 %: the scan meets the end of the file after thousands of keys.
    std::fs::write(&rdb, &bytes[..bytes.len() * 9 / 10]).unwrap();
    let jsonl = tmp.path().join("src.jsonl");
    let mut text = String::new();
    for i in 0..5000 {
        text.push_str(&format!(
            "{{\"db\": 0, \"key\": \"k{i}\", \"type\": \"string\", \"value\": \"v\"}}\n"
        ));
    }
    text.push_str("not json\n");
    std::fs::write(&jsonl, text).unwrap();
    for src in [&rdb, &jsonl] {
        let out = tmp.path().join("out");
        std::fs::create_dir(&out).unwrap();
        let mut p = plan(&out, "snap", Topology::even(2).unwrap(), Target::Redis70);
        let err = export_file(src, &p).unwrap_err();
        assert!(
            matches!(err, ExportError::Source(_)),
            "{}: without a stop, the broken source fails: {err}",
            src.display()
        );
        p.interrupt = Some(Arc::new(AtomicBool::new(true)));
        let err = export_file(src, &p).unwrap_err();
        assert!(
            matches!(err, ExportError::Cancelled),
            "{}: with a stop, the read ends before the break: {err}",
            src.display()
        );
        assert!(read_dir_bytes(&out).is_empty(), "{}", src.display());
        std::fs::remove_dir(&out).unwrap();
    }
}

/// A source key whose expiry is -1 ms — the servers' "no expiry", which they load as a key
/// without one (`testdata/malformed/expire-minus-one.rdb`, and its JSONL dump) — is exported
/// without an expiry, with a warning: the node file loads as the source does (the writer
/// itself refuses -1, which a model would mean as "expired").
#[test]
fn an_expiry_of_minus_one_is_exported_as_none() {
    let tmp = tempfile::tempdir().unwrap();
    let rdb =
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../../testdata/malformed/expire-minus-one.rdb");
    let jsonl = tmp.path().join("src.jsonl");
    std::fs::write(
        &jsonl,
        "{\"db\": 0, \"key\": \"kept\", \"type\": \"string\", \"value\": \"1\", \"expire_at_ms\": -1}\n",
    )
    .unwrap();
    for (i, src) in [rdb, jsonl].iter().enumerate() {
        let out = tmp.path().join(format!("out{i}"));
        std::fs::create_dir(&out).unwrap();
        let p = plan(&out, "snap", Topology::even(1).unwrap(), Target::Redis70);
        let res = export_file(src, &p).unwrap_or_else(|e| panic!("{}: {e}", src.display()));
        assert!(
            res.warnings.iter().any(|w| w.contains("-1 ms")),
            "{}: {:?}",
            src.display(),
            res.warnings
        );
        let node = &res.nodes[0];
        assert_eq!((node.keys, node.expires), (1, 0), "{}", src.display());
        let ks = read_keyspace(&std::fs::read(&node.path).unwrap()).unwrap();
        let e = &ks.dbs[&0].entries[0];
        assert_eq!((&e.key[..], e.expire_at_ms), (&b"kept"[..], None));
    }
}

/// An export killed while publishing leaves some final-named node files and its journal
/// (`.NAME-manifest.json.pub-PID`: device, inode and name of each file it was publishing).
/// The next export of the name removes exactly the files that run published — not a file
/// of that name it did not write — and succeeds; a journal whose manifest was published
/// (the run completed) removes nothing.
#[test]
fn a_publication_killed_half_way_is_undone_by_the_next_export() {
    let ks = rdb_testkit::gen::mixed(200, 5);
    let tmp = tempfile::tempdir().unwrap();
    let topology = Topology::even(3).unwrap();
    let p = plan(tmp.path(), "snap", topology.clone(), Target::Redis70);
    export_keyspace(&ks, &p).unwrap();
    let want = read_dir_bytes(tmp.path());
    // A dead process's pid.
    let dead = dead_pid();
    let journal_of = |names: &[&str]| write_journal(tmp.path(), "snap", dead, names);
    let all = [
        "snap-0001.rdb",
        "snap-0002.rdb",
        "snap-0003.rdb",
        "snap-manifest.json",
    ];
    // Completed (manifest published, journal left): nothing is removed, the name is taken.
    let journal = journal_of(&all);
    let err = export_keyspace(&ks, &p).unwrap_err();
    assert!(matches!(err, ExportError::AlreadyExists { .. }), "{err}");
    assert!(!journal.exists(), "the journal is followed and removed");
    assert!(
        read_dir_bytes(tmp.path()) == want,
        "a completed set is kept"
    );
    // A journal whose export still holds its lock is not followed, whatever its pid.
    let journal = journal_of(&all);
    std::fs::remove_file(tmp.path().join("snap-manifest.json")).unwrap();
    let held = std::fs::File::open(&journal).unwrap();
    held.lock().unwrap();
    let err = export_keyspace(&ks, &p).unwrap_err();
    assert!(matches!(err, ExportError::AlreadyExists { .. }), "{err}");
    assert!(journal.exists() && tmp.path().join("snap-0001.rdb").exists());
    drop(held);
    std::fs::remove_file(&journal).unwrap();
    export_keyspace(&ks, &p).unwrap_err();
    for n in &all[1..3] {
        std::fs::remove_file(tmp.path().join(n)).unwrap();
    }
    std::fs::remove_file(tmp.path().join("snap-0001.rdb")).unwrap();
    export_keyspace(&ks, &p).unwrap();
    // Killed after two node files: the journal lists all four, the manifest and the third
    // file are not there; the second is another program's file of that name since (on a
    // file system that hands it the freed inode, still not the export's: its size, time and
    // SHA-256 differ).
    journal_of(&all);
    std::fs::remove_file(tmp.path().join("snap-manifest.json")).unwrap();
    std::fs::remove_file(tmp.path().join("snap-0003.rdb")).unwrap();
    std::fs::remove_file(tmp.path().join("snap-0002.rdb")).unwrap();
    std::fs::write(tmp.path().join("snap-0002.rdb"), b"someone else's").unwrap();
    let err = export_keyspace(&ks, &p).unwrap_err();
    assert!(matches!(err, ExportError::AlreadyExists { .. }), "{err}");
    let left = read_dir_bytes(tmp.path());
    assert_eq!(
        left.keys().collect::<Vec<_>>(),
        ["snap-0002.rdb"],
        "only the killed run's own files are removed"
    );
    // With that file gone, a rerun after a kill completes the set.
    std::fs::remove_file(tmp.path().join("snap-0002.rdb")).unwrap();
    export_keyspace(&ks, &p).unwrap();
    let first = tmp.path().join("snap-0001.rdb");
    let keep = std::fs::read(&first).unwrap();
    // Killed after the first node file: the journal lists every file (as an export writes
    // it), only the first one was published.
    journal_of(&all);
    std::fs::remove_file(tmp.path().join("snap-manifest.json")).unwrap();
    std::fs::remove_file(tmp.path().join("snap-0002.rdb")).unwrap();
    std::fs::remove_file(tmp.path().join("snap-0003.rdb")).unwrap();
    assert_eq!(std::fs::read(&first).unwrap(), keep);
    export_keyspace(&ks, &p).unwrap();
    assert!(
        read_dir_bytes(tmp.path()) == want,
        "the rerun gives the same set"
    );
    // A journal left by a run that published its manifest, the manifest changed since (its
    // stamp no longer the journal's): the set is a completed one, none of its node files is
    // removed, the name stays taken.
    journal_of(&all);
    let manifest = tmp.path().join("snap-manifest.json");
    let text = std::fs::read(&manifest).unwrap();
    std::fs::remove_file(&manifest).unwrap();
    std::fs::write(&manifest, [&text[..], b"\n"].concat()).unwrap();
    let mut changed = want.clone();
    changed.insert(
        "snap-manifest.json".into(),
        std::fs::read(&manifest).unwrap(),
    );
    let err = export_keyspace(&ks, &p).unwrap_err();
    assert!(matches!(err, ExportError::AlreadyExists { .. }), "{err}");
    assert!(
        read_dir_bytes(tmp.path()) == changed,
        "a completed set whose manifest changed is kept"
    );
}

/// Writes in `dir` the journal a dead export (pid `dead`) of snapshot `name` leaves while
/// publishing `files` (existing files of `dir`): its lines give device, inode, size, mtime
/// (ns), SHA-256, final and temporary names; nobody holds its lock.
fn write_journal(dir: &Path, name: &str, dead: u32, files: &[&str]) -> PathBuf {
    use std::os::unix::fs::MetadataExt;
    let mut text = String::new();
    for n in files {
        let path = dir.join(n);
        let m = std::fs::metadata(&path).unwrap();
        let mtime = i128::from(m.mtime()) * 1_000_000_000 + i128::from(m.mtime_nsec());
        let sha = sha_hex(&std::fs::read(&path).unwrap());
        text.push_str(&format!(
            "{} {} {} {mtime} {sha} {n}\t.{n}.tmp-{dead}-0123456789abcdef\n",
            m.dev(),
            m.ino(),
            m.len()
        ));
    }
    let path = dir.join(format!(".{name}-manifest.json.pub-{dead}-00000000000000aa"));
    std::fs::write(&path, text).unwrap();
    path
}

/// The pid of a process that has ended.
fn dead_pid() -> u32 {
    let mut child = std::process::Command::new("true").spawn().unwrap();
    let dead = child.id();
    child.wait().unwrap();
    dead
}

/// Another snapshot's journal whose name starts like this one's (snapshot
/// `snap-manifest.json.pub-<pid>`: its journal is `.snap-manifest.json.pub-<pid>-manifest.json.pub-…`)
/// is not followed by an export of `snap`: none of that snapshot's files is removed (they used
/// to be, as an interrupted `snap` export's).
#[test]
fn another_snapshots_journal_is_not_taken_for_this_ones() {
    let ks = rdb_testkit::gen::mixed(100, 4);
    let tmp = tempfile::tempdir().unwrap();
    let dead = dead_pid();
    let other = format!("snap-manifest.json.pub-{dead}");
    let po = plan(
        tmp.path(),
        &other,
        Topology::even(2).unwrap(),
        Target::Redis70,
    );
    export_keyspace(&ks, &po).unwrap();
    // That export killed before its manifest was published.
    let files = [
        format!("{other}-0001.rdb"),
        format!("{other}-0002.rdb"),
        format!("{other}-manifest.json"),
    ];
    let names: Vec<&str> = files.iter().map(String::as_str).collect();
    let journal = write_journal(tmp.path(), &other, dead, &names);
    // And a journal under this export's exact name form, of a dead process, that lists
    // those node files but not this export's manifest: not this export's either.
    let unlisted = write_journal(tmp.path(), "snap", dead, &names[..2]);
    std::fs::remove_file(tmp.path().join(&files[2])).unwrap();
    let before = read_dir_bytes(tmp.path());
    let p = plan(
        tmp.path(),
        "snap",
        Topology::even(2).unwrap(),
        Target::Redis70,
    );
    export_keyspace(&ks, &p).unwrap();
    let after = read_dir_bytes(tmp.path());
    for (name, bytes) in &before {
        assert!(after.get(name) == Some(bytes), "{name} kept as it was");
    }
    assert!(journal.exists() && unlisted.exists());
    assert!(tmp.path().join("snap-manifest.json").exists());
}

/// A node that fails (its check refuses it) stops the export without touching the caller's
/// interrupt flag: the same flag serves the next export, which completes.
#[test]
fn a_failed_node_leaves_the_interrupt_flag_alone() {
    let ks = rdb_testkit::gen::mixed(200, 6);
    let tmp = tempfile::tempdir().unwrap();
    let flag = Arc::new(AtomicBool::new(false));
    let mut p = plan(
        tmp.path(),
        "snap",
        Topology::even(2).unwrap(),
        Target::Redis70,
    );
    p.interrupt = Some(Arc::clone(&flag));
    p.check = Some(Box::new(|_: &Path, _: &SlotSet| NodeCheck {
        cache_size_bytes: 0,
        already_expired: 0,
        problem: Some("refused by the test".into()),
        warnings: Vec::new(),
    }));
    let err = export_keyspace(&ks, &p).unwrap_err();
    assert!(err.to_string().contains("refused by the test"), "{err}");
    assert!(!flag.load(std::sync::atomic::Ordering::SeqCst));
    assert!(read_dir_bytes(tmp.path()).is_empty());
    p.check = None;
    export_keyspace(&ks, &p).unwrap();
    assert!(tmp.path().join("snap-manifest.json").exists());
    // Set, it still stops the export.
    flag.store(true, std::sync::atomic::Ordering::SeqCst);
    let p2 = ExportPlan {
        name: "snap2".into(),
        ..p
    };
    let err = export_keyspace(&ks, &p2).unwrap_err();
    assert!(matches!(err, ExportError::Cancelled), "{err}");
    assert!(!tmp.path().join("snap2-manifest.json").exists());
}

/// Slot sizing records (Redis 7.4's SLOT_INFO, Valkey 8.0+'s `slot-info` AUX) are what a
/// cluster node writes: an export of every database (`--all-dbs`, a cluster-mode-disabled
/// group) has none, from an `.rdb` source and from a keyspace alike, even when only db 0
/// holds keys; an export of db 0 has them.
#[test]
fn an_export_of_every_database_has_no_slot_sizing_records() {
    let mut ks = rdb_testkit::gen::mixed(300, 8);
    ks.dbs.retain(|&db, _| db == 0);
    assert!(ks.key_count() > 0);
    let tmp = tempfile::tempdir().unwrap();
    let src = tmp.path().join("src.rdb");
    let f = std::fs::File::create(&src).unwrap();
    rdb_writer::write_keyspace(
        &ks,
        std::io::BufWriter::new(f),
        &rdb_writer::WriterBuilder::new(Target::Redis74),
    )
    .unwrap();
    let slot_records = |path: &Path| {
        let bytes = std::fs::read(path).unwrap();
        let mut p = Parser::new(SliceSource::new(&bytes), Limits::default());
        let mut n = 0;
        while let Some(ev) = p.next_event().unwrap() {
            match ev {
                Event::SlotInfo { .. } => n += 1,
                Event::Aux { key, .. } if key.to_vec() == b"slot-info" => n += 1,
                _ => {}
            }
        }
        n
    };
    for target in [Target::Redis74, Target::Valkey81] {
        for (all, from_file) in [(false, false), (false, true), (true, false), (true, true)] {
            let name = format!("s-{}-{all}-{from_file}", target.name());
            let mut p = plan(tmp.path(), &name, Topology::even(1).unwrap(), target);
            if all {
                p.db = DbSelection::All;
            }
            let res = if from_file {
                export_rdb_file(&src, &p).unwrap()
            } else {
                export_keyspace(&ks, &p).unwrap()
            };
            let n = slot_records(&res.nodes[0].path);
            assert_eq!(n > 0, !all, "{name}: {n} slot sizing records");
        }
    }
}

/// An interrupt that comes after every node file is written and checked (here from the
/// check itself), before anything is published, still stops the export: nothing published.
#[test]
fn an_interrupt_after_the_last_node_check_publishes_nothing() {
    let ks = rdb_testkit::gen::mixed(200, 6);
    for groups in [1, 3] {
        let tmp = tempfile::tempdir().unwrap();
        let flag = Arc::new(AtomicBool::new(false));
        let mut p = plan(
            tmp.path(),
            "snap",
            Topology::even(groups).unwrap(),
            Target::Redis70,
        );
        p.interrupt = Some(Arc::clone(&flag));
        let set = Arc::clone(&flag);
        p.check = Some(Box::new(move |_: &Path, _: &SlotSet| {
            set.store(true, std::sync::atomic::Ordering::SeqCst);
            NodeCheck {
                cache_size_bytes: 1,
                already_expired: 0,
                problem: None,
                warnings: Vec::new(),
            }
        }));
        let err = export_keyspace(&ks, &p).unwrap_err();
        assert!(matches!(err, ExportError::Cancelled), "{groups}: {err}");
        assert!(
            read_dir_bytes(tmp.path()).is_empty(),
            "{groups}: {:?}",
            read_dir_bytes(tmp.path()).keys().collect::<Vec<_>>()
        );
    }
}

/// Names of a dead export's journal and temporaries held by what no export writes — a FIFO
/// (opening one to read would wait for a writer forever), a symbolic link, a journal larger
/// than any export writes — are left alone, and the export completes.
#[test]
fn fifos_and_links_under_journal_and_temporary_names_are_left_alone() {
    let ks = rdb_testkit::gen::mixed(100, 3);
    let tmp = tempfile::tempdir().unwrap();
    let p = plan(
        tmp.path(),
        "snap",
        Topology::even(2).unwrap(),
        Target::Redis70,
    );
    let dead = dead_pid();
    let fifo = |name: &str| {
        let path = tmp.path().join(name);
        let ok = std::process::Command::new("mkfifo")
            .arg(&path)
            .status()
            .unwrap();
        assert!(ok.success());
        path
    };
    let journal_fifo = fifo(&format!(".snap-manifest.json.pub-{dead}-00000000000000aa"));
    let temp_fifo = fifo(&format!(".snap-0001.rdb.tmp-{dead}-0123456789abcdef"));
    let outside = tempfile::tempdir().unwrap();
    let target = outside.path().join("journal");
    std::fs::write(&target, "").unwrap();
    let journal_link = tmp
        .path()
        .join(format!(".snap-manifest.json.pub-{dead}-00000000000000bb"));
    std::os::unix::fs::symlink(&target, &journal_link).unwrap();
    // Over the size cap (64 MiB; sparse), its pid dead: not read, kept.
    let big = tmp
        .path()
        .join(format!(".snap-manifest.json.pub-{dead}-00000000000000cc"));
    std::fs::File::create(&big)
        .unwrap()
        .set_len((64 << 20) + 1)
        .unwrap();
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let _ = tx.send(
            export_keyspace(&ks, &p)
                .map(|_| ())
                .map_err(|e| e.to_string()),
        );
    });
    let done = rx
        .recv_timeout(std::time::Duration::from_secs(120))
        .expect("the export waits on a FIFO named like a journal or temporary");
    done.unwrap();
    for path in [&journal_fifo, &temp_fifo, &journal_link, &big] {
        assert!(std::fs::symlink_metadata(path).is_ok(), "{path:?} kept");
    }
    assert!(target.exists());
    assert!(tmp.path().join("snap-manifest.json").exists());
}

/// The output directory renamed and replaced by a new one during the export (here from the
/// first node's check, one thread): the export fails (`OutDirMoved`) and leaves nothing in
/// either directory — the node files still to write are created in the directory the export
/// started in (through its handle), not in the new one of the same name.
#[test]
fn a_directory_moved_during_the_export_is_left_clean() {
    let ks = rdb_testkit::gen::mixed(300, 9);
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("out");
    let moved = tmp.path().join("moved");
    std::fs::create_dir(&out).unwrap();
    let (from, to) = (out.clone(), moved.clone());
    let p = plan_acting_at_check(&out, 3, 0, move || {
        std::fs::rename(&from, &to).unwrap();
        std::fs::create_dir(&from).unwrap();
    });
    let err = export_keyspace(&ks, &p).unwrap_err();
    assert!(matches!(err, ExportError::OutDirMoved(_)), "{err}");
    for d in [&out, &moved] {
        let left: Vec<String> = std::fs::read_dir(d)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        assert!(left.is_empty(), "{}: {left:?}", d.display());
    }
}

/// A node writer that panics (here its check hook) while the plan has an interrupt flag (whose
/// watcher thread runs beside the writers): the panic reaches the caller, the export does not
/// hang waiting for the watcher, and nothing is published.
#[test]
fn a_panicking_node_writer_does_not_hang_the_export() {
    let ks = rdb_testkit::gen::mixed(100, 7);
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().to_path_buf();
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let mut p = plan(&out, "snap", Topology::even(2).unwrap(), Target::Redis70);
        p.interrupt = Some(Arc::new(AtomicBool::new(false)));
        p.check = Some(Box::new(|_: &Path, _: &SlotSet| -> NodeCheck {
            panic!("a check that panics")
        }));
        let r = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            export_keyspace(&ks, &p).map(|_| ())
        }));
        let _ = tx.send(r.is_err());
    });
    let panicked = rx
        .recv_timeout(std::time::Duration::from_secs(120))
        .expect("the export hangs after a writer's panic");
    assert!(panicked);
    assert!(!tmp.path().join("snap-manifest.json").exists());
}
