//! Several files: verify_many, Summary, expand_paths and check_manifest.

use std::borrow::Cow;
use std::path::{Path, PathBuf};

use rdb_verify::multi::verify_many_each;
use rdb_verify::{
    check_manifest, expand_paths, verify_many, ManifestInput, Options, Severity, Summary,
};
use serde_json::Value;

mod common;

fn cluster_dump() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../testdata/servers/redis-7.4.1/dev-cluster/dump.rdb")
}

/// (slot, keys) of the cluster dump, from its expected.json.
fn expected_slots() -> Vec<(u64, u64)> {
    let text = std::fs::read_to_string(cluster_dump().with_file_name("expected.json")).unwrap();
    let v: Value = serde_json::from_str(&text).unwrap();
    v["slots"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| (s[0].as_u64().unwrap(), s[1].as_u64().unwrap()))
        .collect()
}

fn manifest(groups: &[(&str, &str, &str, u64)]) -> ManifestInput {
    let nodes: Vec<Value> = groups
        .iter()
        .map(|(id, slots, file, keys)| {
            serde_json::json!({"NodeGroupId": id, "CacheNodeId": "0001",
                "NodeGroupConfiguration": {"NodeGroupId": id, "Slots": slots},
                "File": file, "Keys": keys, "RdbVersion": 12, "Unknown": true})
        })
        .collect();
    let text = serde_json::json!({"SnapshotName": "x", "NodeSnapshots": nodes}).to_string();
    ManifestInput::from_json(&text).unwrap()
}

#[test]
fn manifest_slots_counts_coverage_and_missing_files() {
    let dir = tempfile::tempdir().unwrap();
    let a = dir.path().join("snap-0001.rdb");
    let b = dir.path().join("snap-0002.rdb");
    std::fs::copy(cluster_dump(), &a).unwrap();
    std::fs::copy(cluster_dump(), &b).unwrap();
    std::fs::write(dir.path().join("snap-manifest.json"), "{}").unwrap();
    std::fs::write(dir.path().join("notes.txt"), "x").unwrap();

    let inputs = expand_paths(&[dir.path().to_path_buf()]).unwrap();
    assert_eq!(inputs.files, vec![a.clone(), b.clone()]);
    assert_eq!(
        inputs.manifests,
        vec![dir.path().join("snap-manifest.json")]
    );

    let mut reports = verify_many(&inputs.files, 2, &common::opts());
    assert!(reports.iter().all(|r| r.ok));
    let slots = expected_slots();
    let total: u64 = slots.iter().map(|s| s.1).sum();
    let low: u64 = slots.iter().filter(|s| s.0 <= 8191).map(|s| s.1).sum();
    assert!(
        low > 0 && low < total,
        "the dump must have keys on both sides of 8192"
    );

    let m = manifest(&[
        ("0001", "0-8191", "snap-0001.rdb", total),
        ("0002", "8192-16383", "snap-0002.rdb", 1),
        ("0003", "x-y", "snap-0003.rdb", 0),
    ]);
    let check = check_manifest(&m, &reports);
    let codes = |path: Option<&Path>| -> Vec<(&'static str, String)> {
        check
            .findings
            .iter()
            .filter(|f| f.path.as_deref() == path.map(|p| p.display().to_string()).as_deref())
            .map(|f| (f.finding.code, f.finding.message.clone()))
            .collect()
    };
    let fa = codes(Some(&a));
    assert_eq!(fa.len(), 1, "{fa:?}");
    assert_eq!(fa[0].0, "slot-outside-node-group");
    assert!(
        fa[0].1.starts_with(&format!("{} key(s)", total - low)),
        "{}",
        fa[0].1
    );
    let fb: Vec<_> = codes(Some(&b)).into_iter().map(|c| c.0).collect();
    assert_eq!(
        fb,
        vec!["slot-outside-node-group", "manifest-keys-mismatch"]
    );
    assert!(codes(Some(Path::new("snap-0003.rdb")))
        .iter()
        .any(|c| c.0 == "manifest-file-missing"));
    // Group 0003 has unparsable Slots; 0001 + 0002 still cover everything.
    let set_wide: Vec<_> = codes(None).into_iter().map(|c| c.0).collect();
    assert_eq!(set_wide, vec!["manifest-slots-invalid"]);
    assert!(check.covered.is_full() && check.overlaps.is_empty());

    let rest = check.apply_to(&mut reports);
    assert!(reports
        .iter()
        .all(|r| !r.ok && r.has_code("slot-outside-node-group")));
    assert_eq!(rest.len(), 2); // missing file + invalid slots

    let s = Summary::from_reports(&reports, std::slice::from_ref(&check));
    assert_eq!((s.files, s.ok, s.failed, s.keys), (2, 0, 2, 2 * total));
    assert_eq!(
        (
            s.slots_covered.as_str(),
            s.slot_gaps.as_str(),
            s.slot_overlaps.as_str()
        ),
        ("0-16383", "", "")
    );
    // Without a manifest, coverage is by keys: both files hold the same slots.
    let s = Summary::from_reports(&reports, &[]);
    assert_eq!(s.slots_covered, s.slot_overlaps);
    assert!(!s.slot_gaps.is_empty());
    let v = serde_json::to_value(&s).unwrap();
    assert_eq!(v.as_object().unwrap().len(), 10);
}

#[test]
fn manifest_overlaps_and_gaps() {
    let reports = verify_many(&[cluster_dump()], 1, &common::opts());
    let m = manifest(&[
        ("0001", "0-100", "dump.rdb", 0),
        ("0002", "50-200", "other.rdb", 0),
    ]);
    let check = check_manifest(&m, &reports);
    let find = |code: &str| {
        check
            .findings
            .iter()
            .find(|f| f.finding.code == code)
            .map(|f| f.finding.message.clone())
    };
    assert!(find("manifest-slot-overlap").unwrap().contains("50-100"));
    assert!(find("manifest-slot-gap").unwrap().contains("201-16383"));
    assert!(check
        .findings
        .iter()
        .all(|f| f.finding.severity == Severity::Error));
    let s = Summary::from_reports(&reports, std::slice::from_ref(&check));
    assert_eq!(
        (
            s.slots_covered.as_str(),
            s.slot_gaps.as_str(),
            s.slot_overlaps.as_str()
        ),
        // Covered: the slots of the groups whose file was verified (other.rdb was not).
        ("0-100", "101-16383", "50-100")
    );
}

#[test]
fn missing_file_is_an_io_finding() {
    let reports = verify_many(&[PathBuf::from("/nonexistent/x.rdb")], 1, &common::opts());
    assert!(!reports[0].ok);
    assert_eq!(reports[0].first_error().unwrap().code, "io");
}

#[test]
fn manifest_engine_line() {
    use rdb_verify::EngineLine as L;
    let cases = [
        (
            r#"{"Engine": "valkey", "EngineVersion": "8.1"}"#,
            Some(L::Valkey8_1),
        ),
        // The service's full version; the engine name in any case.
        (
            r#"{"Engine": "Redis", "EngineVersion": "7.0.7"}"#,
            Some(L::Redis7_0),
        ),
        // The service's lines beyond the open-source releases, and its `6.x`.
        (
            r#"{"Engine": "redis", "EngineVersion": "7.1"}"#,
            Some(L::Redis7_1),
        ),
        (
            r#"{"Engine": "valkey", "EngineVersion": "8.2.0"}"#,
            Some(L::Valkey8_2),
        ),
        (
            r#"{"Engine": "redis", "EngineVersion": "6.x"}"#,
            Some(L::Redis6_0),
        ),
        (r#"{"Engine": "redis", "EngineVersion": "6.x.1"}"#, None),
        (r#"{"Engine": "redis"}"#, None),
        (r#"{"Engine": "memcached", "EngineVersion": "1.6"}"#, None),
        (r#"{"NodeSnapshots": []}"#, None),
    ];
    for (json, want) in cases {
        let got = ManifestInput::from_json(json).unwrap().engine_line();
        assert_eq!(got, want, "{json}");
    }
}

#[test]
fn expand_paths_keeps_each_file_once() {
    let dir = tempfile::tempdir().unwrap();
    let a = dir.path().join("snap-0001.rdb");
    let b = dir.path().join("snap-0002.rdb");
    std::fs::copy(cluster_dump(), &a).unwrap();
    std::fs::copy(cluster_dump(), &b).unwrap();
    let m = dir.path().join("snap-manifest.json");
    std::fs::write(&m, "{}").unwrap();
    let d = dir.path().to_path_buf();
    // Another spelling of `b`, named before the directory: it keeps its place and spelling.
    let b2 = dir.path().join(".").join("snap-0002.rdb");
    let inputs = expand_paths(&[b2.clone(), d.clone(), a.clone(), d.clone(), b.clone()]).unwrap();
    assert_eq!(inputs.files, vec![b2, a.clone()]);
    assert_eq!(inputs.manifests, vec![m]);
    // A file named twice; a missing one named twice (reported once by the verifier).
    let missing = dir.path().join("gone.rdb");
    let inputs = expand_paths(&[a.clone(), missing.clone(), a.clone(), missing.clone()]).unwrap();
    assert_eq!(inputs.files, vec![a, missing]);
}

#[test]
fn files_verified_with_their_node_group_slots() {
    let dir = tempfile::tempdir().unwrap();
    let a = dir.path().join("snap-0001.rdb");
    let b = dir.path().join("snap-0002.rdb");
    std::fs::copy(cluster_dump(), &a).unwrap();
    std::fs::copy(cluster_dump(), &b).unwrap();
    let slots = expected_slots();
    let total: u64 = slots.iter().map(|s| s.1).sum();
    let high: u64 = slots.iter().filter(|s| s.0 > 8191).map(|s| s.1).sum();
    let m = manifest(&[
        ("0001", "0-8191", "snap-0001.rdb", total),
        ("0002", "8192-16383", "snap-0002.rdb", total),
    ]);
    let files = vec![a.clone(), b.clone()];
    let groups = m.node_groups_for(&files);
    assert_eq!(
        groups
            .iter()
            .map(|g| g.as_ref().map(|g| (g.group.clone(), g.slots.to_string())))
            .collect::<Vec<_>>(),
        vec![
            Some(("0001".to_string(), "0-8191".to_string())),
            Some(("0002".to_string(), "8192-16383".to_string())),
        ]
    );
    let base = common::opts();
    let opts_for = |i: usize| match groups.get(i).and_then(Option::as_ref) {
        Some(g) => Cow::Owned(Options {
            expected_slots: Some(g.slots.clone()),
            expected_slots_group: Some(g.group.clone()),
            ..base.clone()
        }),
        None => Cow::Borrowed(&base),
    };
    let mut reports = verify_many_each(&files, 2, opts_for, |_| {});

    // The verifier counted and named the keys outside the group, as with `--slots`.
    let r = &reports[0];
    assert_eq!(r.slots.keys_outside_expected, high);
    let f: Vec<_> = r.with_code("slot-outside-node-group").collect();
    assert_eq!(f.len(), 1, "{:?}", r.findings);
    assert!(f[0].offset.is_some() && f[0].key.is_some() && f[0].db == Some(0));
    assert!(
        f[0].message.starts_with(&format!("{high} key(s)")) && f[0].message.contains("0001"),
        "{}",
        f[0].message
    );
    assert!(!r.has_code("slot-outside-expected"));
    assert_eq!(reports[1].slots.keys_outside_expected, total - high);
    // The same file checked against plain `--slots`: same count, offset and key.
    let by_slots = verify_many(
        std::slice::from_ref(&a),
        1,
        &Options {
            expected_slots: Some("0-8191".parse().unwrap()),
            ..common::opts()
        },
    );
    let g = by_slots[0]
        .with_code("slot-outside-expected")
        .next()
        .unwrap();
    assert_eq!((g.offset, &g.key), (f[0].offset, &f[0].key));

    // The manifest check does not say it again.
    let check = check_manifest(&m, &reports);
    assert!(
        check
            .findings
            .iter()
            .all(|f| f.finding.code != "slot-outside-node-group"),
        "{:?}",
        check.findings
    );
    assert!(check.apply_to(&mut reports).is_empty());
    for r in &reports {
        assert_eq!(r.with_code("slot-outside-node-group").count(), 1);
    }

    // A file verified against other slots (or none) is still checked by the manifest.
    let plain = verify_many(&files, 2, &common::opts());
    let check = check_manifest(&m, &plain);
    assert_eq!(
        check
            .findings
            .iter()
            .filter(|f| f.finding.code == "slot-outside-node-group")
            .count(),
        2
    );
}

#[test]
fn keys_outside_db_0_reported_once_with_a_manifest() {
    let dir = tempfile::tempdir().unwrap();
    let a = dir.path().join("snap-0001.rdb");
    // Keys in dbs 0, 1, 7 and 15.
    std::fs::copy(
        Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../../testdata/servers/redis-7.2.6/dev/dump.rdb"),
        &a,
    )
    .unwrap();
    let m = manifest(&[("0001", "0-16383", "snap-0001.rdb", 123)]);
    let files = vec![a];
    let groups = m.node_groups_for(&files);
    let g = groups[0].clone().unwrap();
    let opts = Options {
        expected_slots: Some(g.slots),
        expected_slots_group: Some(g.group),
        ..common::opts()
    };
    let mut reports = verify_many(&files, 1, &opts);
    let check = check_manifest(&m, &reports);
    check.apply_to(&mut reports);
    let f: Vec<_> = reports[0].with_code("cluster-nonzero-db").collect();
    assert_eq!(f.len(), 1, "{:?}", reports[0].findings);
    assert!(f[0].key.is_some() && f[0].offset.is_some());
    assert_eq!(reports[0].slots.keys_outside_expected, 0);
}

#[test]
fn byte_sizes() {
    use rdb_verify::{parse_byte_size, ByteSizeError};
    assert_eq!(parse_byte_size("3 MB"), Ok(3 << 20));
    assert_eq!(parse_byte_size("0 MB"), Ok(0));
    assert_eq!(parse_byte_size("1234"), Ok(1234));
    assert_eq!(parse_byte_size("1.5k"), Ok(1536));
    assert_eq!(parse_byte_size("2 GiB"), Ok(2 << 30));
    assert_eq!(parse_byte_size("7 parsecs"), Err(ByteSizeError::Unit));
    assert!(matches!(
        parse_byte_size("1.5"),
        Err(ByteSizeError::Number(_))
    ));
    assert_eq!(parse_byte_size("1e30"), Err(ByteSizeError::Unit));
    assert_eq!(
        parse_byte_size("99999999999 TiB"),
        Err(ByteSizeError::Range)
    );
}

/// A manifest that does not hold together is reported: an engine this verifier does not know
/// (the load check it asks for cannot be done), two node group ids for one entry, several node
/// groups in a cluster-mode-disabled snapshot, a CacheSize text that does not parse or says
/// another size than CacheSizeBytes.
#[test]
fn manifest_contradictions_are_findings() {
    let reports = verify_many(&[cluster_dump()], 1, &common::opts());
    let total: u64 = expected_slots().iter().map(|s| s.1).sum();
    let check = |json: Value| -> Vec<(Severity, &'static str, String)> {
        let m = ManifestInput::from_json(&json.to_string()).unwrap();
        check_manifest(&m, &reports)
            .findings
            .into_iter()
            .map(|f| (f.finding.severity, f.finding.code, f.finding.message))
            .collect()
    };
    let node = |extra: Value| {
        let mut n = serde_json::json!({"NodeGroupId": "0001",
            "NodeGroupConfiguration": {"NodeGroupId": "0001", "Slots": "0-16383"},
            "File": "dump.rdb", "Keys": total});
        for (k, v) in extra.as_object().unwrap() {
            n[k] = v.clone();
        }
        n
    };
    let snap = |top: Value, nodes: Vec<Value>| {
        let mut s = serde_json::json!({"SnapshotName": "x", "NodeSnapshots": nodes});
        for (k, v) in top.as_object().unwrap() {
            s[k] = v.clone();
        }
        s
    };
    let none = serde_json::json!({});
    // Consistent, with a known engine: nothing to say.
    let ok = check(snap(
        serde_json::json!({"Engine": "redis", "EngineVersion": "7.4"}),
        vec![node(none.clone())],
    ));
    assert!(ok.is_empty(), "{ok:?}");
    for (engine, version) in [
        ("redis", Some("7.9")),
        ("valkey", Some("8.x.2")),
        ("redis", None),
    ] {
        let mut top = serde_json::json!({"Engine": engine});
        if let Some(v) = version {
            top["EngineVersion"] = v.into();
        }
        let f = check(snap(top, vec![node(none.clone())]));
        assert_eq!(f.len(), 1, "{f:?}");
        assert_eq!(
            (f[0].0, f[0].1),
            (Severity::Error, "manifest-engine-unknown")
        );
        assert!(
            f[0].2.contains("redis-7.4") && f[0].2.contains("--engine"),
            "{}",
            f[0].2
        );
    }
    let f = check(snap(
        none.clone(),
        vec![node(serde_json::json!({"NodeGroupConfiguration":
            {"NodeGroupId": "0002", "Slots": "0-16383"}}))],
    ));
    assert_eq!(f.len(), 1, "{f:?}");
    assert_eq!(
        (f[0].0, f[0].1),
        (Severity::Error, "manifest-node-group-mismatch")
    );
    let second = serde_json::json!({"NodeGroupId": "0002",
        "NodeGroupConfiguration": {"NodeGroupId": "0002", "Slots": "0-16383"}, "File": "b.rdb"});
    let f = check(snap(
        serde_json::json!({"ClusterMode": "disabled"}),
        vec![node(none.clone()), second],
    ));
    assert!(
        f.iter().any(|(s, c, m)| *s == Severity::Error
            && *c == "manifest-node-groups-mismatch"
            && m.contains("ClusterMode")),
        "{f:?}"
    );
    // A CacheSize text beside CacheSizeBytes: another size, no size, or the text as rdbkit
    // writes it (whole MB rounded up).
    let estimate = reports[0].cache_size_bytes;
    let text = rdb_cluster::manifest::cache_size_text(estimate);
    for (said, want) in [
        ("900 MB", Some("manifest-cache-size-inconsistent")),
        ("lots", Some("manifest-cache-size-invalid")),
        (text.as_str(), None),
    ] {
        let f = check(snap(
            none.clone(),
            vec![node(
                serde_json::json!({"CacheSize": said, "CacheSizeBytes": estimate}),
            )],
        ));
        let got: Vec<_> = f.iter().map(|(s, c, _)| (*s, *c)).collect();
        assert_eq!(
            got,
            want.map(|c| (Severity::Warning, c))
                .into_iter()
                .collect::<Vec<_>>(),
            "{said}"
        );
    }
}

/// Reports of `verify_bytes` carry a label, not a file: `check_manifest` compares their counts,
/// slots and CRC-64 with the manifest but reads nothing from the current directory (it used to
/// stat and hash `b-0001.rdb` there, an `io` error each, or another file of that name). A
/// report read from a file (`Report::file`) is measured and hashed again.
#[test]
fn manifest_check_of_labelled_reports_reads_no_file() {
    use rdb_cluster::export::{export_keyspace, ExportPlan};
    use rdb_cluster::topology::Topology;
    let dir = tempfile::tempdir().unwrap();
    let ks = rdb_testkit::gen::small_strings(500, 7);
    let mut plan = ExportPlan::new(
        "b",
        dir.path(),
        Topology::even(2).unwrap(),
        rdb_writer::Target::Redis70,
    );
    plan.now = 1_767_225_600;
    rdb_verify::publish::verify_before_publishing(&mut plan);
    let res = export_keyspace(&ks, &plan).unwrap();
    let m = ManifestInput::from_json(&res.manifest.to_json_pretty()).unwrap();
    let labelled: Vec<_> = res
        .nodes
        .iter()
        .map(|n| {
            let name = n.path.file_name().unwrap().to_string_lossy().into_owned();
            let r =
                rdb_verify::verify_bytes(name, &std::fs::read(&n.path).unwrap(), &common::opts());
            assert_eq!(r.file, None);
            r
        })
        .collect();
    let check = check_manifest(&m, &labelled);
    assert!(check.findings.is_empty(), "{:?}", check.findings);

    // Read from the files: a file changed after the export (same length, same trailer) is
    // caught by its SHA-256.
    let files: Vec<PathBuf> = res.nodes.iter().map(|n| n.path.clone()).collect();
    let first = &files[0];
    let mut bytes = std::fs::read(first).unwrap();
    let at = bytes.len() - 20;
    bytes[at] ^= 0x01;
    std::fs::write(first, &bytes).unwrap();
    let reports = verify_many(&files, 1, &common::opts());
    assert_eq!(reports[0].file.as_deref(), Some(first.as_path()));
    let check = check_manifest(&m, &reports);
    assert!(
        check
            .findings
            .iter()
            .any(|f| f.finding.code == "manifest-sha256-mismatch"),
        "{:?}",
        check.findings
    );
}

/// `Keys` and `Expires` that differ from the file either way are findings; a group overlapping
/// another whose file is absent is still an overlap (with the missing file reported too).
#[test]
fn manifest_counts_both_ways_and_overlaps_with_absent_files() {
    let dir = tempfile::tempdir().unwrap();
    let b = dir.path().join("snap-0002.rdb");
    std::fs::copy(cluster_dump(), &b).unwrap();
    let reports = verify_many(std::slice::from_ref(&b), 1, &common::opts());
    let (keys, expires) = (reports[0].keys, reports[0].expires);
    assert!(keys > 1 && expires > 1, "{keys} keys, {expires} expires");
    let check_with = |k: u64, e: u64| {
        let text = serde_json::json!({"SnapshotName": "snap", "NodeSnapshots": [
            {"NodeGroupId": "0001", "File": "snap-0001.rdb",
             "NodeGroupConfiguration": {"NodeGroupId": "0001", "Slots": "0-8191"}},
            {"NodeGroupId": "0002", "File": "snap-0002.rdb", "Keys": k, "Expires": e,
             "NodeGroupConfiguration": {"NodeGroupId": "0002", "Slots": "8000-16383"}}]});
        check_manifest(
            &ManifestInput::from_json(&text.to_string()).unwrap(),
            &reports,
        )
    };
    let codes = |c: &rdb_verify::ManifestCheck| -> Vec<&'static str> {
        c.findings.iter().map(|f| f.finding.code).collect()
    };

    let exact = check_with(keys, expires);
    let got = codes(&exact);
    assert!(got.contains(&"manifest-file-missing"), "{got:?}");
    assert!(got.contains(&"manifest-slot-overlap"), "{got:?}");
    assert_eq!(exact.overlaps.to_string(), "8000-8191");
    assert!(
        !got.contains(&"manifest-keys-mismatch") && !got.contains(&"manifest-expires-mismatch"),
        "{got:?}"
    );
    for k in [keys - 1, keys + 1] {
        let got = codes(&check_with(k, expires));
        assert!(got.contains(&"manifest-keys-mismatch"), "Keys {k}: {got:?}");
        assert!(
            !got.contains(&"manifest-expires-mismatch"),
            "Keys {k}: {got:?}"
        );
    }
    for e in [expires - 1, expires + 1] {
        let got = codes(&check_with(keys, e));
        assert!(
            got.contains(&"manifest-expires-mismatch"),
            "Expires {e}: {got:?}"
        );
        assert!(
            !got.contains(&"manifest-keys-mismatch"),
            "Expires {e}: {got:?}"
        );
    }
}

/// A report verified against the same group name but other slots (e.g. by another manifest
/// naming the file) is checked again against this manifest's slots.
#[test]
fn a_report_checked_against_other_slots_is_checked_again() {
    let dir = tempfile::tempdir().unwrap();
    let a = dir.path().join("snap-0001.rdb");
    std::fs::copy(cluster_dump(), &a).unwrap();
    let high: u64 = expected_slots()
        .iter()
        .filter(|s| s.0 > 8191)
        .map(|s| s.1)
        .sum();
    assert!(high > 0);
    let total: u64 = expected_slots().iter().map(|s| s.1).sum();
    let reports = verify_many(
        std::slice::from_ref(&a),
        1,
        &Options {
            expected_slots: Some("0-16383".parse().unwrap()),
            expected_slots_group: Some("0001".into()),
            ..common::opts()
        },
    );
    assert!(!reports[0].has_code("slot-outside-node-group"));
    let m = manifest(&[
        ("0001", "0-8191", "snap-0001.rdb", total),
        ("0002", "8192-16383", "snap-0002.rdb", 0),
    ]);
    let check = check_manifest(&m, &reports);
    let outside: Vec<_> = check
        .findings
        .iter()
        .filter(|f| f.finding.code == "slot-outside-node-group")
        .collect();
    assert_eq!(outside.len(), 1, "{:?}", check.findings);
    assert!(
        outside[0]
            .finding
            .message
            .starts_with(&format!("{high} key(s)")),
        "{}",
        outside[0].finding.message
    );
}

/// Two entries naming one file: the file is checked against the first entry's group (the
/// second is `manifest-file-shared`).
#[test]
fn a_file_named_twice_takes_the_first_entrys_group() {
    let total: u64 = expected_slots().iter().map(|s| s.1).sum();
    let m = manifest(&[
        ("0001", "0-8191", "snap-0001.rdb", total),
        ("0002", "8192-16383", "snap-0001.rdb", total),
    ]);
    let groups = m.node_groups_for(&[PathBuf::from("/x/snap-0001.rdb")]);
    let g = groups[0].as_ref().expect("a group for the file");
    assert_eq!(
        (g.group.as_str(), g.slots.to_string()),
        ("0001", "0-8191".into())
    );
}

/// A key (`k<i>`) whose hash slot is `slot`.
fn key_in_slot(slot: u16) -> Vec<u8> {
    (0u32..)
        .map(|i| format!("k{i}").into_bytes())
        .find(|k| rdb_format::slot::key_slot(k) == slot)
        .unwrap()
}

/// A file of RDB 11 holding string keys `keys` in db 0.
fn file_with_keys(path: &Path, keys: &[Vec<u8>]) {
    let mut b = common::Rdb::db0(11);
    for k in keys {
        b.string_key(k, b"v");
    }
    std::fs::write(path, b.finish()).unwrap();
}

/// The last slot counts like any other: a key in slot 16383 is outside a group of 0-16382,
/// and a file holding only that key covers slot 16383.
#[test]
fn slot_16383_is_checked_against_the_node_groups() {
    let dir = tempfile::tempdir().unwrap();
    let (a, b) = (dir.path().join("x-0001.rdb"), dir.path().join("x-0002.rdb"));
    let last = key_in_slot(16383);
    file_with_keys(&a, &[key_in_slot(0), last.clone()]);
    file_with_keys(&b, &[last]);
    let reports = verify_many(&[a.clone(), b.clone()], 1, &common::opts());
    assert!(reports.iter().all(|r| r.ok), "{reports:#?}");
    let m = manifest(&[
        ("0001", "0-16382", "x-0001.rdb", 2),
        ("0002", "16383", "x-0002.rdb", 1),
    ]);
    let check = check_manifest(&m, &reports);
    let outside: Vec<_> = check
        .findings
        .iter()
        .filter(|f| f.finding.code == "slot-outside-node-group")
        .collect();
    assert_eq!(outside.len(), 1, "{:#?}", check.findings);
    assert_eq!(outside[0].path.as_deref(), Some(&*a.display().to_string()));
    assert!(
        outside[0].finding.message.starts_with("1 key(s)"),
        "{}",
        outside[0].finding.message
    );
    // Without a manifest, coverage is by keys: the second file covers slot 16383 alone.
    let s = Summary::from_reports(&reports[1..], &[]);
    assert_eq!(
        (s.slots_covered.as_str(), s.slot_gaps.as_str()),
        ("16383", "0-16382")
    );
}

/// A node group whose file is listed but cannot be read does not count as verified: its
/// slots are a gap in the summary, not covered.
#[test]
fn an_unreadable_file_leaves_its_slots_uncovered() {
    let dir = tempfile::tempdir().unwrap();
    let (a, b) = (dir.path().join("x-0001.rdb"), dir.path().join("x-0002.rdb"));
    file_with_keys(&a, &[key_in_slot(5)]);
    // x-0002.rdb is a dangling symbolic link: listed, opened, unreadable.
    std::os::unix::fs::symlink(dir.path().join("gone"), &b).unwrap();
    let reports = verify_many(&[a.clone(), b.clone()], 1, &common::opts());
    assert!(reports[0].ok);
    assert_eq!(reports[1].first_error().unwrap().code, "io");
    let m = manifest(&[
        ("0001", "0-8191", "x-0001.rdb", 1),
        ("0002", "8192-16383", "x-0002.rdb", 0),
    ]);
    let check = check_manifest(&m, &reports);
    assert_eq!(check.verified.to_string(), "0-8191");
    assert!(check.covered.is_full());
    let s = Summary::from_reports(&reports, std::slice::from_ref(&check));
    assert_eq!(
        (s.slots_covered.as_str(), s.slot_gaps.as_str()),
        ("0-8191", "8192-16383")
    );
}
