//! Several files: verify_many, Summary, expand_paths and check_manifest.

use std::path::{Path, PathBuf};

use rdb_verify::{check_manifest, expand_paths, verify_many, ManifestInput, Severity, Summary};
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

    let s = Summary::from_reports(&reports, Some(&check));
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
    let s = Summary::from_reports(&reports, None);
    assert_eq!(s.slots_covered, s.slot_overlaps);
    assert!(!s.slot_gaps.is_empty());
    let v = serde_json::to_value(&s).unwrap();
    assert_eq!(v.as_object().unwrap().len(), 9);
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
    let s = Summary::from_reports(&reports, Some(&check));
    assert_eq!(
        (
            s.slots_covered.as_str(),
            s.slot_gaps.as_str(),
            s.slot_overlaps.as_str()
        ),
        ("0-200", "201-16383", "50-100")
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
    let line = |json: &str| ManifestInput::from_json(json).unwrap().engine_line();
    assert_eq!(
        line(r#"{"Engine": "valkey", "EngineVersion": "8.1"}"#),
        Some(rdb_verify::EngineLine::Valkey8_1)
    );
    // The service's full version; the engine name in any case.
    assert_eq!(
        line(r#"{"Engine": "Redis", "EngineVersion": "7.0.7"}"#),
        Some(rdb_verify::EngineLine::Redis7_0)
    );
    assert_eq!(line(r#"{"Engine": "redis"}"#), None);
    assert_eq!(
        line(r#"{"Engine": "memcached", "EngineVersion": "1.6"}"#),
        None
    );
    assert_eq!(line(r#"{"NodeSnapshots": []}"#), None);
}
