//! The export manifest `NAME-manifest.json`, shaped like the service's `Snapshot` output (cli-contract.md,
//! `rdbkit export`), plus its text helpers: [`cache_size_text`] and [`rfc3339_utc`].
//!
//! Field names are exactly the contract's (PascalCase). Unknown fields are ignored when reading, so later additions
//! do not break older readers.

use serde::{Deserialize, Serialize};

/// Bytes in one "MB" of `CacheSize` (1 MB = 1,048,576 bytes).
pub const BYTES_PER_MB: u64 = 1_048_576;

/// The whole manifest of one export.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct Manifest {
    /// The export's `NAME`.
    pub snapshot_name: String,
    /// Always `"available"` for a finished export.
    pub snapshot_status: String,
    /// Always `"manual"`.
    pub snapshot_source: String,
    /// Engine family: `"redis"` or `"valkey"`.
    pub engine: String,
    /// Engine line, e.g. `"7.0"`.
    pub engine_version: String,
    /// Number of node groups (= entries of `NodeSnapshots`).
    pub num_node_groups: u32,
    /// When the export was made, RFC 3339 UTC (`"2026-11-22T01:02:03Z"`, see [`rfc3339_utc`]).
    pub snapshot_create_time: String,
    /// One entry per node group, in node group order.
    pub node_snapshots: Vec<NodeSnapshot>,
    /// rdbkit's addition: `"disabled"` for a snapshot of a cluster-mode-disabled group (one
    /// node group keeping every database: `rdbkit export --shards 1 --all-dbs`), whose file is
    /// loaded by a standalone server, not a cluster node; absent otherwise (cluster mode).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cluster_mode: Option<String>,
}

/// One node group's file in the manifest.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct NodeSnapshot {
    /// Node group id, 4 digits (`"0001"`).
    pub node_group_id: String,
    /// Cache node id, 4 digits (`"0001"`).
    pub cache_node_id: String,
    /// The node group's slots.
    pub node_group_configuration: NodeGroupConfiguration,
    /// Estimated dataset memory once loaded, as [`cache_size_text`] prints it (`"3 MB"`).
    pub cache_size: String,
    /// Same as the manifest's `SnapshotCreateTime`.
    pub snapshot_create_time: String,
    /// File name relative to the manifest's directory (`"NAME-0001.rdb"`).
    pub file: String,
    /// Size of the file in bytes.
    pub file_size_bytes: u64,
    /// SHA-256 of the whole file, lowercase hex.
    pub sha256: String,
    /// The file's CRC64 trailer, 16 lowercase hex digits.
    pub crc64: String,
    /// RDB version written in the file's header.
    pub rdb_version: u16,
    /// Number of keys in the file.
    pub keys: u64,
    /// Number of keys with an expiry.
    pub expires: u64,
    /// Estimated dataset memory once loaded, in bytes (the number behind `CacheSize`).
    pub cache_size_bytes: u64,
}

/// A node group id and its slots, as in the service's `NodeGroupConfiguration` (also the element of a `--topology`
/// file).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct NodeGroupConfiguration {
    /// Node group id (`"0001"`).
    pub node_group_id: String,
    /// Slots in the text form of [`SlotSet`](crate::slotset::SlotSet), e.g. `"0-5461"` or `"0-99,200-299"`.
    pub slots: String,
}

impl NodeGroupConfiguration {
    /// Parses [`slots`](Self::slots).
    pub fn slot_set(&self) -> Result<crate::slotset::SlotSet, crate::slotset::ParseSlotSetError> {
        self.slots.parse()
    }
}

impl Manifest {
    /// Reads a manifest from JSON text.
    pub fn from_json(text: &str) -> Result<Self, serde_json::Error> {
        serde_json::from_str(text)
    }

    /// The manifest as pretty-printed JSON (two-space indent, fields in contract order, trailing newline).
    pub fn to_json_pretty(&self) -> String {
        // Serialising plain strings and integers into a String cannot fail.
        let mut text = serde_json::to_string_pretty(self).unwrap_or_default();
        text.push('\n');
        text
    }
}

/// `CacheSize` text for a byte count: whole megabytes rounded up, `"<n> MB"` (1 MB = 1,048,576 bytes).
///
/// ```
/// use rdb_cluster::manifest::cache_size_text;
/// assert_eq!(cache_size_text(0), "0 MB");
/// assert_eq!(cache_size_text(1), "1 MB");
/// assert_eq!(cache_size_text(3_000_000), "3 MB");
/// ```
pub fn cache_size_text(bytes: u64) -> String {
    format!("{} MB", bytes.div_ceil(BYTES_PER_MB))
}

/// Days since 1970-01-01 to a proleptic Gregorian (year, month 1-12, day 1-31): H. Hinnant's `civil_from_days`.
fn civil_from_days(days: i64) -> (i64, u32, u32) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097); // [0, 146096]
    let yoe = (doe - doe / 1460 + doe / 36524 - doe / 146_096) / 365; // [0, 399]
    let year = yoe + era * 400;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100); // [0, 365]
    let mp = (5 * doy + 2) / 153; // [0, 11], March-based
    let day = (doy - (153 * mp + 2) / 5 + 1) as u32; // [1, 31]
    let month = if mp < 10 { mp + 3 } else { mp - 9 } as u32; // [1, 12]
    (if month <= 2 { year + 1 } else { year }, month, day)
}

/// Formats Unix seconds as an RFC 3339 UTC timestamp, `"YYYY-MM-DDTHH:MM:SSZ"` (no fraction).
///
/// Years outside 0000–9999 are printed with as many digits as needed (and a `-` sign before year 0), which RFC 3339
/// cannot express but no real clock reaches.
///
/// ```
/// use rdb_cluster::manifest::rfc3339_utc;
/// assert_eq!(rfc3339_utc(0), "1970-01-01T00:00:00Z");
/// assert_eq!(rfc3339_utc(1_795_309_323), "2026-11-22T01:02:03Z");
/// ```
pub fn rfc3339_utc(unix_seconds: i64) -> String {
    let days = unix_seconds.div_euclid(86_400);
    let secs = unix_seconds.rem_euclid(86_400);
    let (year, month, day) = civil_from_days(days);
    format!(
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}Z",
        secs / 3600,
        secs / 60 % 60,
        secs % 60
    )
}

/// The current time as Unix seconds (0 if the clock is before 1970).
pub fn unix_now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX))
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// The contract's example manifest (cli-contract.md), with `<hex>` placeholders filled in.
    const CONTRACT_EXAMPLE: &str = r#"
  {"SnapshotName": "NAME", "SnapshotStatus": "available", "SnapshotSource": "manual", "Engine": "redis",
   "EngineVersion": "7.0", "NumNodeGroups": 3, "SnapshotCreateTime": "2026-11-22T01:02:03Z",
   "NodeSnapshots": [{"NodeGroupId": "0001", "CacheNodeId": "0001",
     "NodeGroupConfiguration": {"NodeGroupId": "0001", "Slots": "0-5461"},
     "CacheSize": "3 MB", "SnapshotCreateTime": "2026-11-22T01:02:03Z",
     "File": "NAME-0001.rdb", "FileSizeBytes": 3145728, "Sha256": "ab12", "Crc64": "0123456789abcdef",
     "RdbVersion": 10, "Keys": 1234, "Expires": 12, "CacheSizeBytes": 3000000}]}"#;

    fn sample() -> Manifest {
        Manifest {
            snapshot_name: "snap".into(),
            snapshot_status: "available".into(),
            snapshot_source: "manual".into(),
            engine: "valkey".into(),
            engine_version: "8.0".into(),
            num_node_groups: 2,
            snapshot_create_time: rfc3339_utc(1_795_309_323),
            node_snapshots: (1..=2u64)
                .map(|i| NodeSnapshot {
                    node_group_id: format!("{i:04}"),
                    cache_node_id: "0001".into(),
                    node_group_configuration: NodeGroupConfiguration {
                        node_group_id: format!("{i:04}"),
                        slots: if i == 1 { "0-8191" } else { "8192-16383" }.into(),
                    },
                    cache_size: cache_size_text(i * 5_000_000),
                    snapshot_create_time: rfc3339_utc(1_795_309_323),
                    file: format!("snap-{i:04}.rdb"),
                    file_size_bytes: 1000 * i,
                    sha256: "0".repeat(64),
                    crc64: format!("{:016x}", i),
                    rdb_version: 11,
                    keys: 10 * i,
                    expires: i,
                    cache_size_bytes: i * 5_000_000,
                })
                .collect(),
            cluster_mode: None,
        }
    }

    /// Keys of a JSON object, recursively into `NodeSnapshots[0]` and `NodeGroupConfiguration`.
    fn key_paths(value: &serde_json::Value, prefix: &str, out: &mut Vec<String>) {
        match value {
            serde_json::Value::Object(map) => {
                for (k, v) in map {
                    let path = format!("{prefix}{k}");
                    out.push(path.clone());
                    key_paths(v, &format!("{path}."), out);
                }
            }
            serde_json::Value::Array(items) => {
                if let Some(first) = items.first() {
                    key_paths(first, &format!("{prefix}[]."), out);
                }
            }
            _ => {}
        }
    }

    #[test]
    fn field_names_match_contract() {
        let contract: serde_json::Value = serde_json::from_str(CONTRACT_EXAMPLE).unwrap();
        let ours = serde_json::to_value(sample()).unwrap();
        let (mut want, mut got) = (Vec::new(), Vec::new());
        key_paths(&contract, "", &mut want);
        key_paths(&ours, "", &mut got);
        want.sort();
        got.sort();
        assert_eq!(got, want);
    }

    #[test]
    fn contract_example_reads_and_writes_back() {
        let m = Manifest::from_json(CONTRACT_EXAMPLE).unwrap();
        assert_eq!(m.num_node_groups, 3);
        let node = &m.node_snapshots[0];
        assert_eq!(
            node.node_group_configuration
                .slot_set()
                .unwrap()
                .to_string(),
            "0-5461"
        );
        assert_eq!(
            (node.rdb_version, node.keys, node.cache_size_bytes),
            (10, 1234, 3_000_000)
        );
        assert_eq!(node.cache_size, cache_size_text(node.cache_size_bytes));
        let again: serde_json::Value = serde_json::from_str(&m.to_json_pretty()).unwrap();
        let original: serde_json::Value = serde_json::from_str(CONTRACT_EXAMPLE).unwrap();
        assert_eq!(again, original);
    }

    #[test]
    fn round_trip_and_order() {
        let m = sample();
        let text = m.to_json_pretty();
        assert!(text.ends_with("}\n"));
        assert_eq!(Manifest::from_json(&text).unwrap(), m);
        // fields in contract order
        let pos = |k: &str| text.find(&format!("\"{k}\"")).unwrap();
        assert!(pos("SnapshotName") < pos("SnapshotStatus"));
        assert!(pos("NumNodeGroups") < pos("NodeSnapshots"));
        assert!(pos("Crc64") < pos("RdbVersion"));
    }

    #[test]
    fn unknown_fields_ignored_missing_rejected() {
        let mut v = serde_json::to_value(sample()).unwrap();
        v["Extra"] = serde_json::json!(1);
        assert_eq!(
            serde_json::from_value::<Manifest>(v.clone()).unwrap(),
            sample()
        );
        v.as_object_mut().unwrap().remove("NumNodeGroups");
        let e = serde_json::from_value::<Manifest>(v).unwrap_err();
        assert!(e.to_string().contains("NumNodeGroups"), "{e}");
    }

    #[test]
    fn cache_size_rounding() {
        assert_eq!(cache_size_text(0), "0 MB");
        assert_eq!(cache_size_text(1), "1 MB");
        assert_eq!(cache_size_text(1_048_576), "1 MB");
        assert_eq!(cache_size_text(1_048_577), "2 MB");
        assert_eq!(cache_size_text(3_000_000), "3 MB");
        assert_eq!(cache_size_text(3_145_728), "3 MB");
        assert_eq!(cache_size_text(3_145_729), "4 MB");
        assert_eq!(cache_size_text(u64::MAX), "17592186044416 MB");
    }

    #[test]
    fn known_dates() {
        // Values checked with GNU `date -u -d @N +%FT%TZ`.
        for (secs, text) in [
            (0, "1970-01-01T00:00:00Z"),
            (-1, "1969-12-31T23:59:59Z"),
            (68_169_600, "1972-02-29T00:00:00Z"),
            (951_782_400, "2000-02-29T00:00:00Z"),
            (951_868_799, "2000-02-29T23:59:59Z"),
            (978_307_199, "2000-12-31T23:59:59Z"),
            (1_234_567_890, "2009-02-13T23:31:30Z"),
            (1_700_000_000, "2023-11-14T22:13:20Z"),
            (1_795_309_323, "2026-11-22T01:02:03Z"),
            (4_102_444_800, "2100-01-01T00:00:00Z"),
            (4_107_456_000, "2100-02-28T00:00:00Z"),
            (4_107_542_400, "2100-03-01T00:00:00Z"),
            (253_402_300_799, "9999-12-31T23:59:59Z"),
            (-2_208_988_800, "1900-01-01T00:00:00Z"),
            (-62_135_596_800, "0001-01-01T00:00:00Z"),
        ] {
            assert_eq!(rfc3339_utc(secs), text, "{secs}");
        }
    }

    #[test]
    fn now_is_plausible() {
        assert!(unix_now() > 1_700_000_000);
    }

    /// Independent reference: walk days from 1970-01-01 forward.
    fn naive_date(mut days: i64) -> (i64, u32, u32) {
        let leap = |y: i64| (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
        let mut year = 1970;
        loop {
            let len = if leap(year) { 366 } else { 365 };
            if days < len {
                break;
            }
            days -= len;
            year += 1;
        }
        let feb = if leap(year) { 29 } else { 28 };
        let months = [31, feb, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31];
        let mut month = 1;
        for len in months {
            if days < len {
                break;
            }
            days -= len;
            month += 1;
        }
        (year, month, days as u32 + 1)
    }

    proptest! {
        #[test]
        fn civil_matches_day_walk(days in 0i64..200_000) {
            prop_assert_eq!(civil_from_days(days), naive_date(days));
        }
    }
}
