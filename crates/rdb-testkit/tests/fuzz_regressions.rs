//! Replays the fuzzers' saved inputs and the test corpus through the fuzz oracles
//! (`rdb_testkit::fuzz`):
//!
//! - every file of `fuzz/corpus/<target>/regressions/` through the oracle of `<target>` (a
//!   regression whose bug is not fixed yet fails here);
//! - every `testdata/**/*.rdb` through `read_slice`, `read_stream_equivalence`, `verify`,
//!   `roundtrip` (file mode: read, write for a target, read back, compare) and
//!   `dump_equivalence`.

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

/// The `convert` oracle on every real-server dump, each converted for every target line (the
/// oracle's first byte picks the line).
#[test]
fn testdata_convert() {
    let dumps = rdb_testkit::testdata::server_dumps();
    assert!(dumps.len() >= 20);
    for file in dumps {
        let bytes = std::fs::read(&file).unwrap();
        for pick in 0..rdb_writer::Target::ALL.len() as u8 {
            let input: Vec<u8> = [pick].into_iter().chain(bytes.iter().copied()).collect();
            fuzz::convert(&input);
        }
    }
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

/// The `text_inputs` seeds (`fuzz/seeds/text_inputs/`, copied into the corpus by
/// `fuzz/seed.sh`) are accepted by the parser each is meant for — so the oracle's checks past
/// parsing (printing round trips, topology coverage, write → read back → verify) really run on
/// them — and pass the oracle.
#[test]
fn text_seeds_parse_and_pass() {
    use rdb_cluster::manifest::Manifest;
    use rdb_cluster::slotset::SlotSet;
    use rdb_cluster::topology::Topology;
    use rdb_writer::{write_keyspace, Target, WriterBuilder};

    let dir = root().join("fuzz/seeds/text_inputs");
    let read = |name: &str| {
        let p = dir.join(name);
        std::fs::read_to_string(&p).unwrap_or_else(|e| panic!("{}: {e}", p.display()))
    };
    let slots = SlotSet::parse(&read("slots.txt")).expect("slots.txt");
    assert_eq!(slots.len(), 100 + 1 + (16384 - 300));
    let topology = Topology::from_json(&read("topology.json")).expect("topology.json");
    assert_eq!(topology.groups.len(), 3);
    assert_eq!(topology.groups[1].id, "0002");
    let manifest = Manifest::from_json(&read("manifest.json")).expect("manifest.json");
    assert_eq!(manifest.node_snapshots.len(), 2);
    let jsonl = read("keyspace.jsonl");
    let ks = rdb_cluster::export::read_jsonl_keyspace(jsonl.as_bytes()).expect("keyspace.jsonl");
    let types: std::collections::BTreeSet<&str> = ks
        .dbs
        .values()
        .flat_map(|d| &d.entries)
        .map(|e| e.value.value_type().name())
        .collect();
    assert_eq!(
        types.into_iter().collect::<Vec<_>>(),
        ["hash", "list", "set", "stream", "string", "zset"]
    );
    write_keyspace(&ks, Vec::new(), &WriterBuilder::new(Target::Redis74))
        .expect("the writer accepts keyspace.jsonl");

    let files = files_under(&dir, None);
    assert_eq!(files.len(), 4);
    let failed = replay("text_inputs", &files);
    assert!(failed.is_empty(), "seeds fail: {failed:?}");
}

#[test]
fn testdata_dump_equivalence() {
    check_testdata("dump_equivalence");
}

/// `codec_ziplist`'s fix-up of raw bytes walks the entries for the header's tail offset and
/// count: on ziplists the builder made (every integer width, strings of 6-, 14- and 32-bit
/// lengths, prevlens of 1 and 5 bytes) it finds what the builder wrote.
#[test]
fn the_ziplist_fix_up_walk_finds_the_builders_header() {
    use rdb_format::ziplist::ZiplistBuilder;
    let ints = [0i64, 12, 13, -1, 127, -129, 40_000, -8_000_000, 1 << 40];
    let strs: [Vec<u8>; 4] = [
        b"".to_vec(),
        vec![b'a'; 63],
        vec![b'b'; 300],
        vec![b'c'; 17_000],
    ];
    for n in [0usize, 1, 2, 5, 13] {
        let mut b = ZiplistBuilder::new();
        for i in 0..n {
            match i % 3 {
                0 => b.push_int(ints[i % ints.len()]),
                1 => b.push_bytes(&strs[i % strs.len()]),
                _ => b.push_str(&strs[(i + 2) % strs.len()]),
            }
        }
        let blob = b.finish().to_vec();
        let tail = u32::from_le_bytes(blob[4..8].try_into().unwrap());
        let count = u16::from_le_bytes(blob[8..10].try_into().unwrap());
        assert_eq!(fuzz::ziplist_walk(&blob), (tail, count), "{n} entries");
    }
}
