//! Every real-server dump in testdata verifies clean, with the counts of its expected.json.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use rdb_verify::{verify_file, verify_many, verify_reader, Severity};
use serde_json::Value;

mod common;

fn dumps() -> Vec<PathBuf> {
    let out = rdb_testkit::testdata::server_dumps();
    assert!(
        out.len() >= 20,
        "test data missing: {} dumps under {}",
        out.len(),
        rdb_testkit::testdata::root().join("servers").display()
    );
    out
}

/// The dump whose path contains `variant` (`"<server>/<variant>/"`).
fn dump(variant: &str) -> PathBuf {
    dumps()
        .into_iter()
        .find(|p| p.to_string_lossy().contains(variant))
        .unwrap_or_else(|| panic!("no {variant} dump"))
}

fn expected(dump: &Path) -> Value {
    let text = std::fs::read_to_string(dump.with_file_name("expected.json")).unwrap();
    serde_json::from_str(&text).unwrap()
}

#[test]
fn every_server_dump_verifies_with_expected_counts() {
    let paths = dumps();
    let reports = verify_many(&paths, 2, &common::opts());
    assert_eq!(reports.len(), paths.len());
    let mut failures = Vec::new();
    for (p, r) in paths.iter().zip(&reports) {
        assert_eq!(
            r.path,
            p.display().to_string(),
            "reports come back in input order"
        );
        let exp = expected(p);
        let name = p
            .parent()
            .unwrap()
            .strip_prefix(p.parent().unwrap().parent().unwrap().parent().unwrap())
            .unwrap();
        let name = name.display().to_string();
        for f in &r.findings {
            println!(
                "{name}: {:?} {} @{:?} {}",
                f.severity, f.code, f.offset, f.message
            );
        }
        println!(
            "{name}: keys={} cache_size={} used_mem={:?} loads_on={:?}",
            r.keys,
            r.cache_size_bytes,
            r.used_mem_aux,
            r.loads_on.iter().map(|l| l.name()).collect::<Vec<_>>()
        );
        if !r.ok {
            failures.push(format!("{name}: not ok: {:?}", r.first_error()));
        }
        let want_status = if exp["rdb"]["trailing_crc64_le"].is_null() {
            "absent"
        } else {
            "ok"
        };
        if r.checksum.status != want_status {
            failures.push(format!(
                "{name}: checksum {} (want {want_status})",
                r.checksum.status
            ));
        }
        if r.magic != exp["rdb"]["magic"].as_str()
            || r.rdb_version.map(u64::from) != exp["rdb"]["version"].as_u64()
        {
            failures.push(format!("{name}: header {:?} {:?}", r.magic, r.rdb_version));
        }
        // Warnings a real server's own file must not produce (all but the threshold warning,
        // which the populating script provoked on purpose with CONFIG SET).
        for f in r
            .findings
            .iter()
            .filter(|f| f.severity >= Severity::Warning && f.code != "encoding-threshold")
        {
            failures.push(format!("{name}: unexpected {} {}", f.code, f.message));
        }
        let dbs = exp["databases"].as_object().unwrap();
        let got: Vec<u64> = r.databases.keys().copied().collect();
        let want: Vec<u64> = dbs.keys().map(|k| k.parse().unwrap()).collect::<Vec<_>>();
        let mut want_sorted = want.clone();
        want_sorted.sort();
        if got != want_sorted {
            failures.push(format!("{name}: dbs {got:?} want {want_sorted:?}"));
        }
        let (mut keys, mut expires) = (0, 0);
        for (db, d) in dbs {
            let db_n: u64 = db.parse().unwrap();
            let Some(rd) = r.databases.get(&db_n) else {
                continue;
            };
            let (k, e) = (d["keys"].as_u64().unwrap(), d["expires"].as_u64().unwrap());
            keys += k;
            expires += e;
            if rd.keys != k || rd.expires != e {
                failures.push(format!(
                    "{name} db {db}: keys/expires {}/{} want {k}/{e}",
                    rd.keys, rd.expires
                ));
            }
            let mut types: BTreeMap<String, u64> = BTreeMap::new();
            for entry in d["entries"].as_array().unwrap() {
                *types
                    .entry(entry["type"].as_str().unwrap().to_string())
                    .or_default() += 1;
            }
            for t in rdb_verify::report::TYPE_NAMES {
                let want = types.get(t).copied().unwrap_or(0);
                if rd.types.get(t) != want {
                    failures.push(format!(
                        "{name} db {db}: {t} {} want {want}",
                        rd.types.get(t)
                    ));
                }
            }
        }
        if r.keys != keys || r.expires != expires || r.already_expired != 0 {
            failures.push(format!(
                "{name}: totals {}/{}/{} want {keys}/{expires}/0",
                r.keys, r.expires, r.already_expired
            ));
        }
        // The file loads on the line that wrote it.
        let line = exp["server"]["flavor"].as_str().unwrap();
        let v = exp["server"]["version"]
            .as_str()
            .unwrap_or_default()
            .to_string();
        if let Ok(l) = format!("{line}-{v}").parse::<rdb_verify::EngineLine>() {
            if !r.loads_on.contains(&l) {
                failures.push(format!("{name}: loads_on {:?} lacks {l}", r.loads_on));
            }
        }
        // Cluster variants: slot histogram matches expected.json's slots.
        if let Some(slots) = exp["slots"].as_array() {
            let counts = r.slot_counts.as_ref().unwrap();
            for s in slots {
                let (slot, n) = (s[0].as_u64().unwrap() as usize, s[1].as_u64().unwrap());
                if u64::from(counts[slot]) != n {
                    failures.push(format!(
                        "{name}: slot {slot} has {} keys, want {n}",
                        counts[slot]
                    ));
                }
            }
            let total: u64 = slots.iter().map(|s| s[1].as_u64().unwrap()).sum();
            if total != r.databases[&0].keys {
                failures.push(format!("{name}: slot totals {total}"));
            }
        }
        if r.cache_size_bytes == 0 {
            failures.push(format!("{name}: no CacheSize"));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[test]
fn reader_path_matches_mapped_path() {
    // A stream (pipe) gives the same report as the mapped file for a rich modern dump.
    let p = dump("redis-7.4.1/dev/");
    let mapped = verify_file(&p, &common::opts());
    let piped = verify_reader(
        p.display().to_string(),
        std::fs::File::open(&p).unwrap(),
        &common::opts(),
    );
    assert_eq!(
        serde_json::to_value(&mapped).unwrap(),
        serde_json::to_value(&piped).unwrap(),
        "mapped and streamed reports differ"
    );
}

#[test]
fn report_json_shape() {
    let p = dump("redis-7.0.15/dev/");
    let r = verify_file(&p, &common::opts());
    let v = serde_json::to_value(&r).unwrap();
    // The fields, header, checksum and engine lines, as the binary's test checks them too.
    rdb_testkit::report_json::assert_redis_7_0_dev_report(&v);
    assert_eq!(v["databases"]["0"]["types"].as_object().unwrap().len(), 7);
    assert_eq!(v["databases"]["15"]["keys"], 1);
    assert!(v["slots"]["ranges"].as_str().unwrap().contains('-') || v["slots"]["min"].is_u64());
    assert!(v["cache_size"].as_str().unwrap().ends_with(" MB"));
}
