//! Corruption campaign over every real-server dump (`testdata/servers/*/*/dump.rdb`):
//!
//! * truncations: every record boundary ±1 (boundaries from the reader's events: each record's
//!   start, each key record's offset, `parser.offset()` after each `KeyEnd`, the EOF opcode and
//!   the trailer), topped up with evenly spread points to at least [`MIN_TRUNCATIONS`];
//! * [`MUTATIONS`] seeded random single-byte changes (position uniform over the file, the byte
//!   XORed with a random non-zero value).
//!
//! Every variant must be reported not-ok (an error finding) with the checksum check on, never
//! ok and never a panic. CRC-64 detects every single-byte change, so with a checksum in the
//! file this is asserted for 100 % of the mutations; files before RDB 5 carry no checksum and
//! are only measured. The structural detection rate (what is caught with
//! `check_checksum: false`) is computed per file and overall and printed as a Markdown table
//! (the figures in `testdata/README.md`, section "Corruption campaign", come from it).
//!
//! Cost: one verification per variant. The structural verdict is derived from the same
//! report (an error finding other than `crc-mismatch`): `check_checksum` only decides whether
//! the mismatch becomes a finding (the reader always runs without its own CRC check), and
//! every [`CROSS_CHECK_EVERY`]-th mutation is verified a second time with
//! `check_checksum: false` to prove the derivation exact.
//!
//! Run: `cargo test -p rdb-cli --test corruption -- --nocapture`.

use std::collections::BTreeSet;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Mutex;
use std::time::Instant;

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use rdb_reader::{Event, Limits, Parser, SliceSource};
use rdb_verify::{verify_bytes, Options, Report, Severity};

/// Random single-byte changes per file.
const MUTATIONS: usize = 2000;
/// Truncation points per file (at least).
const MIN_TRUNCATIONS: usize = 500;
/// Every n-th mutation is also verified with `check_checksum: false`.
const CROSS_CHECK_EVERY: usize = 10;
/// Base seed (per file: this plus the file's index).
const SEED: u64 = 0x5EED_0000_0DB0;

fn dumps() -> Vec<PathBuf> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../testdata/servers");
    let mut out = Vec::new();
    for server in std::fs::read_dir(&root).unwrap() {
        for variant in std::fs::read_dir(server.unwrap().path()).unwrap() {
            let p = variant.unwrap().path().join("dump.rdb");
            if p.is_file() {
                out.push(p);
            }
        }
    }
    out.sort();
    assert!(
        out.len() >= 20,
        "test data missing under {}",
        root.display()
    );
    out
}

/// Record boundaries of a valid file, from the reader's events.
fn boundaries(bytes: &[u8]) -> BTreeSet<u64> {
    let mut p = Parser::new(SliceSource::new(bytes), Limits::default());
    let mut out = BTreeSet::new();
    out.insert(0);
    out.insert(9); // after the header
    let mut in_key = false;
    loop {
        let before = p.offset();
        let ev = p.next_event().expect("the pristine file reads");
        let Some(ev) = ev else { break };
        match ev {
            Event::Key(k) => {
                in_key = true;
                out.insert(before); // per-key opcodes (expire, LRU/LFU) start here
                out.insert(k.offset);
            }
            Event::KeyEnd => {
                in_key = false;
                out.insert(p.offset());
            }
            Event::Eof(info) => {
                out.insert(info.eof_offset);
                out.insert(info.eof_offset + 1);
            }
            _ if !in_key => {
                out.insert(before);
                out.insert(p.offset());
            }
            _ => {}
        }
    }
    out.insert(bytes.len() as u64);
    out
}

/// Truncation lengths: every boundary ±1 below the file length, then evenly spread points
/// until there are at least [`MIN_TRUNCATIONS`].
fn truncation_points(bytes: &[u8]) -> Vec<usize> {
    let len = bytes.len() as u64;
    let mut pts = BTreeSet::new();
    for b in boundaries(bytes) {
        for t in [b.saturating_sub(1), b, b + 1] {
            if t < len {
                pts.insert(t as usize);
            }
        }
    }
    let mut step = 0;
    while pts.len() < MIN_TRUNCATIONS {
        step += 1;
        let n = MIN_TRUNCATIONS * step;
        for i in 0..n {
            pts.insert((len as usize * i) / n);
        }
    }
    pts.into_iter().collect()
}

/// Whether the report has an error finding other than `crc-mismatch`.
fn structural_error(r: &Report) -> bool {
    r.findings
        .iter()
        .any(|f| f.severity == Severity::Error && f.code != "crc-mismatch")
}

#[derive(Debug, Default, Clone)]
struct FileStats {
    name: String,
    size: usize,
    has_crc: bool,
    boundaries: usize,
    truncations: usize,
    trunc_caught: usize,
    trunc_caught_structural: usize,
    mutations: usize,
    mut_caught: usize,
    mut_caught_structural: usize,
    cross_checked: usize,
    failures: Vec<String>,
}

fn verify_guarded(bytes: &[u8], opts: &Options) -> Result<Report, String> {
    catch_unwind(AssertUnwindSafe(|| verify_bytes("variant", bytes, opts))).map_err(|p| {
        p.downcast_ref::<String>()
            .cloned()
            .or_else(|| p.downcast_ref::<&str>().map(|s| s.to_string()))
            .unwrap_or_default()
    })
}

fn campaign(index: usize, path: &Path) -> FileStats {
    let bytes = std::fs::read(path).unwrap();
    let name = path
        .parent()
        .unwrap()
        .strip_prefix(path.parent().unwrap().parent().unwrap().parent().unwrap())
        .unwrap()
        .display()
        .to_string();
    let on = Options {
        now_ms: 1_700_000_000_000,
        ..Options::default()
    };
    let off = Options {
        check_checksum: false,
        ..on.clone()
    };
    let pristine = verify_bytes("pristine", &bytes, &on);
    assert!(
        pristine.ok,
        "{name}: the pristine file must verify: {:?}",
        pristine.first_error()
    );
    let has_crc = pristine.checksum.status == "ok";
    let mut st = FileStats {
        name: name.clone(),
        size: bytes.len(),
        has_crc,
        boundaries: boundaries(&bytes).len(),
        ..FileStats::default()
    };

    for t in truncation_points(&bytes) {
        st.truncations += 1;
        match verify_guarded(&bytes[..t], &on) {
            Err(p) => st
                .failures
                .push(format!("{name}: truncated to {t}: panic {p}")),
            Ok(r) => {
                if r.ok {
                    st.failures
                        .push(format!("{name}: truncated to {t} bytes verified ok"));
                } else {
                    st.trunc_caught += 1;
                }
                if structural_error(&r) {
                    st.trunc_caught_structural += 1;
                }
            }
        }
    }

    let mut rng = StdRng::seed_from_u64(SEED + index as u64);
    let mut buf = bytes.clone();
    for i in 0..MUTATIONS {
        let pos = rng.random_range(0..bytes.len());
        let x: u8 = rng.random_range(1..=255);
        buf[pos] ^= x;
        st.mutations += 1;
        let what = format!("{name}: byte {pos} ^= {x:#04x}");
        match verify_guarded(&buf, &on) {
            Err(p) => st.failures.push(format!("{what}: panic {p}")),
            Ok(r) => {
                let structural = structural_error(&r);
                if !r.ok {
                    st.mut_caught += 1;
                } else if has_crc {
                    st.failures
                        .push(format!("{what}: verified ok ({:?})", r.checksum));
                }
                if structural {
                    st.mut_caught_structural += 1;
                }
                if i % CROSS_CHECK_EVERY == 0 {
                    st.cross_checked += 1;
                    match verify_guarded(&buf, &off) {
                        Err(p) => st.failures.push(format!("{what}: panic (no checksum) {p}")),
                        Ok(r2) if r2.ok != structural => {}
                        Ok(r2) => st.failures.push(format!(
                            "{what}: derived structural verdict {structural} but check_checksum=false says ok={} ({:?})",
                            r2.ok,
                            r2.first_error()
                        )),
                    }
                }
            }
        }
        buf[pos] = bytes[pos];
    }
    st
}

fn pct(a: usize, b: usize) -> f64 {
    if b == 0 {
        0.0
    } else {
        100.0 * a as f64 / b as f64
    }
}

#[test]
fn corruption_campaign() {
    let files = dumps();
    let started = Instant::now();
    let next = AtomicUsize::new(0);
    let results: Mutex<Vec<(usize, FileStats)>> = Mutex::new(Vec::new());
    let workers = std::thread::available_parallelism().map_or(2, |n| n.get());
    std::thread::scope(|s| {
        for _ in 0..workers {
            s.spawn(|| loop {
                let i = next.fetch_add(1, Ordering::Relaxed);
                let Some(p) = files.get(i) else { break };
                let st = campaign(i, p);
                results.lock().unwrap().push((i, st));
            });
        }
    });
    let mut results = results.into_inner().unwrap();
    results.sort_by_key(|(i, _)| *i);

    println!(
        "| file | size | boundaries | truncations caught | mutations caught (CRC on) | structural (CRC off) |"
    );
    println!("|---|---:|---:|---:|---:|---:|");
    let mut tot = FileStats::default();
    let mut tot_crc = (0usize, 0usize);
    let mut failures = Vec::new();
    for (_, st) in &results {
        println!(
            "| {} | {} | {} | {}/{} | {} | {}/{} ({:.2} %) |",
            st.name,
            st.size,
            st.boundaries,
            st.trunc_caught,
            st.truncations,
            if st.has_crc {
                format!("{}/{}", st.mut_caught, st.mutations)
            } else {
                format!("no CRC (RDB < 5): {}/{}", st.mut_caught, st.mutations)
            },
            st.mut_caught_structural,
            st.mutations,
            pct(st.mut_caught_structural, st.mutations)
        );
        assert!(st.truncations >= MIN_TRUNCATIONS);
        tot.truncations += st.truncations;
        tot.trunc_caught += st.trunc_caught;
        tot.trunc_caught_structural += st.trunc_caught_structural;
        tot.mutations += st.mutations;
        tot.mut_caught += st.mut_caught;
        tot.mut_caught_structural += st.mut_caught_structural;
        tot.cross_checked += st.cross_checked;
        if st.has_crc {
            tot_crc.0 += st.mut_caught;
            tot_crc.1 += st.mutations;
        }
        failures.extend(st.failures.iter().cloned());
    }
    println!(
        "| **all {} files** | | | {}/{} | {}/{} (files with CRC) | {}/{} ({:.2} %) |",
        results.len(),
        tot.trunc_caught,
        tot.truncations,
        tot_crc.0,
        tot_crc.1,
        tot.mut_caught_structural,
        tot.mutations,
        pct(tot.mut_caught_structural, tot.mutations)
    );
    println!(
        "truncations caught structurally (CRC off): {}/{}; cross-checked mutations: {}; {:.1} s",
        tot.trunc_caught_structural,
        tot.truncations,
        tot.cross_checked,
        started.elapsed().as_secs_f64()
    );
    assert!(
        failures.is_empty(),
        "{} failure(s):\n{}",
        failures.len(),
        failures
            .iter()
            .take(50)
            .cloned()
            .collect::<Vec<_>>()
            .join("\n")
    );
    assert_eq!(tot.trunc_caught, tot.truncations);
    assert_eq!(
        tot.trunc_caught_structural, tot.truncations,
        "a truncation needs no CRC"
    );
    assert_eq!(tot_crc.0, tot_crc.1);
    assert!(tot_crc.1 >= 20 * MUTATIONS);
}
