//! Cross-checks `key_slot` against slots computed by real cluster-mode servers (`testdata/servers/*/dev-cluster`):
//! every key's `"slot"` and the per-slot key / expiry counts of `"slots"` (see testdata/FORMAT.md).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use base64::Engine as _;
use rdb_cluster::slot::key_slot;
use rdb_cluster::slotset::SlotSet;
use rdb_cluster::topology::Topology;
use serde_json::Value;

fn servers_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../testdata/servers")
}

/// Every `expected.json` of a cluster variant.
fn cluster_expectations() -> Vec<(PathBuf, Value)> {
    let mut found = Vec::new();
    for server in std::fs::read_dir(servers_dir()).expect("testdata/servers exists") {
        let server = server.expect("readable dir entry").path();
        let Ok(variants) = std::fs::read_dir(&server) else {
            continue;
        };
        for variant in variants {
            let variant = variant.expect("readable dir entry").path();
            let is_cluster = variant
                .file_name()
                .is_some_and(|name| name.to_string_lossy().contains("cluster"));
            let path = variant.join("expected.json");
            if !is_cluster || !path.exists() {
                continue;
            }
            let text = std::fs::read_to_string(&path).expect("readable expected.json");
            found.push((path, serde_json::from_str(&text).expect("valid JSON")));
        }
    }
    found.sort_by(|a, b| a.0.cmp(&b.0));
    found
}

/// Canonical byte string of testdata JSON: a string, or `{"b64": ...}`.
fn bytes(value: &Value) -> Vec<u8> {
    match value {
        Value::String(s) => s.as_bytes().to_vec(),
        Value::Object(map) => base64::engine::general_purpose::STANDARD
            .decode(map["b64"].as_str().expect("b64 is a string"))
            .expect("valid base64"),
        other => panic!("not a byte string: {other}"),
    }
}

#[test]
fn key_slot_matches_real_servers() {
    let files = cluster_expectations();
    assert!(
        files.len() >= 4,
        "expected the 4 dev-cluster fixtures, found {}",
        files.len()
    );
    let mut checked = 0;
    for (path, expected) in &files {
        let entries = expected["databases"]["0"]["entries"]
            .as_array()
            .expect("db 0 entries");
        assert!(!entries.is_empty(), "{}", path.display());
        // slot -> (keys, expires) as we compute it
        let mut ours: BTreeMap<u64, (u64, u64)> = BTreeMap::new();
        for entry in entries {
            let key = bytes(&entry["key"]);
            let slot = key_slot(&key);
            let want = entry["slot"]
                .as_u64()
                .expect("cluster entries carry a slot");
            assert_eq!(
                u64::from(slot),
                want,
                "{}: key {:?}",
                path.display(),
                entry["key"]
            );
            let counts = ours.entry(u64::from(slot)).or_default();
            counts.0 += 1;
            counts.1 += u64::from(!entry["expire_at_ms"].is_null());
            checked += 1;
        }
        let theirs: BTreeMap<u64, (u64, u64)> = expected["slots"]
            .as_array()
            .expect("slots list")
            .iter()
            .map(|row| {
                let n = |i: usize| row[i].as_u64().expect("number");
                (n(0), (n(1), n(2)))
            })
            .collect();
        assert_eq!(ours, theirs, "{}: per-slot counts", path.display());

        // Every key lands in the group of an even topology whose slots hold its slot.
        let topology = Topology::even(3).expect("3 shards");
        let partitioner = topology.partitioner().expect("valid");
        let used: SlotSet = ours.keys().map(|&s| s as u16).collect();
        for entry in entries {
            let key = bytes(&entry["key"]);
            let group = partitioner.node_for_key(&key);
            assert!(topology.groups[group].slots.contains(key_slot(&key)));
        }
        assert_eq!(used.len(), theirs.len());
    }
    assert!(checked > 400, "only {checked} keys checked");
}
