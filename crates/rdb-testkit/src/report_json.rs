//! The JSON form of one file's `rdb_verify::Report` (`serde_json::to_value(&report)`, and
//! each `files[i]` of `rdb-verify --json`): the contract that the library's tests and the
//! binary's tests both check.

use serde_json::Value;

/// The fields of a file report.
pub const FILE_REPORT_FIELDS: &[&str] = &[
    "path",
    "ok",
    "magic",
    "rdb_version",
    "checksum",
    "keys",
    "expires",
    "already_expired",
    "databases",
    "cache_size_bytes",
    "cache_size",
    "used_mem_aux",
    "slots",
    "loads_on",
    "findings",
];

/// The engine lines a report's `loads_on` names.
pub fn loads_on(report: &Value) -> Vec<&str> {
    report["loads_on"]
        .as_array()
        .unwrap_or_else(|| panic!("loads_on is not an array: {report}"))
        .iter()
        .map(|x| x.as_str().unwrap())
        .collect()
}

/// Checks the report of `testdata/servers/redis-7.0.15/dev/dump.rdb`: every field of
/// [`FILE_REPORT_FIELDS`], the header `REDIS` version 10, a checksum that matches
/// (stored = computed, 16 hex digits), and a file that loads on redis-7.0 and valkey-8.0 but
/// not on redis-6.2.
pub fn assert_redis_7_0_dev_report(report: &Value) {
    for k in FILE_REPORT_FIELDS {
        assert!(report.get(k).is_some(), "the report lacks {k}: {report}");
    }
    assert_eq!(report["magic"], "REDIS");
    assert_eq!(report["rdb_version"], 10);
    let checksum = &report["checksum"];
    assert_eq!(checksum["status"], "ok");
    assert_eq!(checksum["stored"], checksum["computed"]);
    assert_eq!(checksum["stored"].as_str().unwrap().len(), 16);
    let loads = loads_on(report);
    assert!(
        loads.contains(&"redis-7.0")
            && loads.contains(&"valkey-8.0")
            && !loads.contains(&"redis-6.2"),
        "{loads:?}"
    );
}
