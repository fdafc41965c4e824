//! Replays the fuzzers' saved inputs and the test corpus through the fuzz oracles
//! (`rdb_testkit::fuzz`):
//!
//! - every file of `fuzz/corpus/<target>/regressions/` through the oracle of `<target>` (a
//!   regression whose bug is not fixed yet fails here);
//! - every `testdata/**/*.rdb` through `read_slice`, `read_stream_equivalence`, `verify` and
//!   `roundtrip` (file mode: read, write for a target, read back, compare).

use std::panic::{catch_unwind, AssertUnwindSafe};
use std::path::{Path, PathBuf};

use rdb_testkit::fuzz::{self, TARGETS};

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// Files under `dir` (recursively), sorted.
fn files_under(dir: &Path, ext: Option<&str>) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        let Ok(rd) = std::fs::read_dir(&d) else {
            continue;
        };
        for e in rd.flatten() {
            let p = e.path();
            if p.is_dir() {
                stack.push(p);
            } else if ext.is_none_or(|x| p.extension().is_some_and(|e| e == x)) {
                out.push(p);
            }
        }
    }
    out.sort();
    out
}

/// Runs `target` on every file; returns the files whose oracle panicked.
fn replay(target: &str, files: &[PathBuf]) -> Vec<String> {
    let mut failed = Vec::new();
    for f in files {
        let data = std::fs::read(f).unwrap_or_else(|e| panic!("{}: {e}", f.display()));
        let r = catch_unwind(AssertUnwindSafe(|| {
            assert!(fuzz::run(target, &data), "unknown target {target}");
        }));
        if r.is_err() {
            failed.push(format!("{target} {}", f.display()));
        }
    }
    failed
}

#[test]
fn fuzz_regressions_replay() {
    let corpus = root().join("fuzz/corpus");
    let mut dirs: Vec<PathBuf> = std::fs::read_dir(&corpus)
        .unwrap_or_else(|e| panic!("{}: {e}", corpus.display()))
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.is_dir())
        .collect();
    dirs.sort();
    let mut failed = Vec::new();
    let mut replayed = 0;
    for dir in dirs {
        let name = dir
            .file_name()
            .and_then(|n| n.to_str())
            .unwrap_or_default()
            .to_string();
        assert!(
            TARGETS.contains(&name.as_str()),
            "corpus directory {name} is not a fuzz target"
        );
        let files = files_under(&dir.join("regressions"), None);
        replayed += files.len();
        failed.extend(replay(&name, &files));
    }
    assert!(
        replayed > 0,
        "no regression inputs found under {}",
        corpus.display()
    );
    assert!(
        failed.is_empty(),
        "{} regression input(s) fail:\n{}",
        failed.len(),
        failed.join("\n")
    );
}

fn testdata_files() -> Vec<PathBuf> {
    let files = files_under(&root().join("testdata"), Some("rdb"));
    assert!(
        files.len() >= 20,
        "testdata has only {} .rdb files",
        files.len()
    );
    files
}

fn check_testdata(target: &str) {
    let failed = replay(target, &testdata_files());
    assert!(
        failed.is_empty(),
        "{} testdata file(s) fail:\n{}",
        failed.len(),
        failed.join("\n")
    );
}

#[test]
fn testdata_read_slice() {
    check_testdata("read_slice");
}

#[test]
fn testdata_stream_equivalence() {
    check_testdata("read_stream_equivalence");
}

#[test]
fn testdata_verify() {
    check_testdata("verify");
}

#[test]
fn testdata_roundtrip() {
    check_testdata("roundtrip");
}

/// Valid inputs pass every oracle, and `run` knows exactly the listed targets.
#[test]
fn oracles_accept_valid_inputs() {
    // A valid listpack (mode byte 0: raw blob) decodes and re-encodes.
    let lp = [
        0x0f, 0, 0, 0, 3, 0, 0x81, 0x78, 2, 0x81, 0x79, 2, 7, 1, 0xff,
    ];
    fuzz::codec_listpack(&[0].iter().chain(&lp).copied().collect::<Vec<_>>());
    // A valid file passes every oracle.
    let file =
        b"REDIS0011\xfe\x00\xfb\x01\x00\x00\x03foo\x03bar\xff\x8d\x86\xb9\x4c\x67\x6e\xab\x95";
    for t in TARGETS {
        assert!(fuzz::run(t, file), "{t}");
    }
    assert!(!fuzz::run("no-such-target", file));
}
