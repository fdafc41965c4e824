//! Every file written by a real server reads to exactly its `expected.json`.

use std::path::{Path, PathBuf};

use rdb_testkit::expected::{compare, load_expected, CompareOptions};

fn server_dirs() -> Vec<PathBuf> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../testdata/servers");
    let mut out = Vec::new();
    for s in std::fs::read_dir(&root).unwrap() {
        for v in std::fs::read_dir(s.unwrap().path()).unwrap() {
            let p = v.unwrap().path();
            if p.join("dump.rdb").exists() {
                out.push(p);
            }
        }
    }
    out.sort();
    out
}

#[test]
fn real_server_files_match_expected_json() {
    let dirs = server_dirs();
    assert!(dirs.len() >= 20, "test data missing: {} dirs", dirs.len());
    let mut failures = Vec::new();
    for dir in &dirs {
        let data = std::fs::read(dir.join("dump.rdb")).unwrap();
        let expected = load_expected(&dir.join("expected.json")).unwrap();
        let ks = match rdb_reader::read_keyspace(&data) {
            Ok(ks) => ks,
            Err(e) => {
                failures.push(format!("{}: {e}", dir.display()));
                continue;
            }
        };
        let diffs = compare(&expected, &ks, &CompareOptions::default());
        if !diffs.is_empty() {
            failures.push(format!("{}:\n  {}", dir.display(), diffs.join("\n  ")));
        }
    }
    assert!(
        failures.is_empty(),
        "{} of {} files differ:\n{}",
        failures.len(),
        dirs.len(),
        failures.join("\n")
    );
}
