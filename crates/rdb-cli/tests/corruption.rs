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
//! `check_checksum: false`) is computed per file and overall, and per byte class
//! ([`byte_classes`]: verbatim payload, LZF-compressed blobs, structure), and printed as a
//! Markdown table (the figures in `testdata/README.md`, section "Corruption campaign", come
//! from it). Without the CRC, more than half of the changes to structure bytes must be caught.
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
use rdb_format::length::decode_length;
use rdb_format::{Element, TypeKind};
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

/// Byte classes of [`byte_classes`].
const STRUCTURE: u8 = 0;
const PAYLOAD: u8 = 1;
const PACKED: u8 = 2;

/// Classifies the bytes of a valid file:
///
/// * [`PAYLOAD`]: data stored verbatim, where any other value still makes a valid file: key
///   bytes, raw (uncompressed) string values, elements of uncompressed blobs, the literal runs
///   of LZF-compressed string values, AUX values, function code, stream group and consumer
///   names, expiry times and LFU counters;
/// * [`PACKED`]: the other bytes of LZF-compressed blobs (listpacks, ziplists, quicklist nodes,
///   stream nodes): a change there lands in structure or in content of the decompressed blob;
/// * [`STRUCTURE`]: everything else (opcodes, types, lengths, encodings, headers, integers
///   stored in encoded form, binary scores, LZF control bytes and back-references of string
///   values).
fn byte_classes(bytes: &[u8]) -> Vec<u8> {
    let mut map = vec![STRUCTURE; bytes.len()];
    let base = bytes.as_ptr() as usize;
    // Whether an element lies in the input (else it was decompressed), marking it if so.
    let mark = |map: &mut Vec<u8>, e: &Element<'_>| -> bool {
        let Element::Str(s) = e else { return true };
        let at = (s.as_ptr() as usize).wrapping_sub(base);
        match map.get_mut(at..at.saturating_add(s.len())) {
            Some(m) => {
                m.fill(PAYLOAD);
                true
            }
            None => s.is_empty(),
        }
    };
    let mut p = Parser::new(SliceSource::new(bytes), Limits::default());
    let mut verbatim = Vec::new();
    let mut packed = Vec::new();
    // A top-level string value: where its bytes start, and whether they were decompressed.
    let mut string_value: Option<(usize, bool)> = None;
    // The bytes the last reading call consumed (for a key: after the key name), where a blob
    // whose elements come later was read.
    let mut consumed = (0usize, 0usize);
    loop {
        let before = p.offset() as usize;
        let Some(ev) = p.next_event().expect("the pristine file reads") else {
            break;
        };
        let mut from_blob = None;
        match ev {
            Event::Aux { value, .. } => {
                mark(&mut map, &value);
            }
            Event::Function { code } => {
                mark(&mut map, &code);
            }
            Event::Key(k) => {
                let in_input = mark(&mut map, &k.key);
                let key_end = match k.key {
                    Element::Str(s) if in_input => (s.as_ptr() as usize - base) + s.len(),
                    _ => k.offset as usize,
                };
                let is_string = k.kind == TypeKind::String;
                // Per-key opcodes before the type byte: expiry (0xFC + 8 bytes, 0xFD + 4)
                // and LFU counter (0xF9 + 1) are verbatim numbers.
                let mut i = before;
                while i < k.offset as usize {
                    let n = match bytes[i] {
                        0xFC => 8,
                        0xFD => 4,
                        0xF9 => 1,
                        // LRU idle time: a length-encoded number (not marked).
                        _ => {
                            let (_, n) = decode_length(&bytes[i + 1..], true).unwrap();
                            i += 1 + n;
                            continue;
                        }
                    };
                    verbatim.push((i + 1, n));
                    i += 1 + n;
                }
                let after = p.offset() as usize;
                if is_string {
                    string_value = Some((after, false));
                }
                consumed = (key_end, after);
            }
            Event::StringChunk(e) => {
                let decompressed = !mark(&mut map, &e);
                if let (true, Some((_, lzf))) = (decompressed, &mut string_value) {
                    *lzf = true;
                }
            }
            Event::ListItem(e) | Event::SetMember(e) => from_blob = Some(mark(&mut map, &e)),
            Event::ZSetMember {
                member, score_text, ..
            } => {
                from_blob = Some(mark(&mut map, &member));
                if let Some(t) = score_text {
                    mark(&mut map, &t);
                }
            }
            Event::HashField { field, value, .. } => {
                from_blob = Some(mark(&mut map, &field) & mark(&mut map, &value));
            }
            Event::StreamEntry(e) => {
                for (f, v) in e.fields() {
                    from_blob = Some(mark(&mut map, &f) & mark(&mut map, &v));
                }
            }
            Event::StreamGroup { name, .. } | Event::StreamConsumer { name, .. } => {
                mark(&mut map, &name);
            }
            Event::KeyEnd => {
                // LZF tokens of a compressed string value: literal runs are verbatim bytes.
                if let Some((from, true)) = string_value.take() {
                    let to = p.offset() as usize;
                    let mut i = from;
                    while i < to {
                        let c = usize::from(bytes[i]);
                        if c < 0x20 {
                            verbatim.push((i + 1, c + 1));
                            i += c + 2;
                        } else {
                            i += if c >= 0xE0 { 3 } else { 2 };
                        }
                    }
                }
            }
            _ => {}
        }
        let after = p.offset() as usize;
        if let Some(in_input) = from_blob {
            // An element decompressed from a blob: the blob was read by this call or by
            // the last call that consumed bytes.
            let range = if after > before {
                (before, after)
            } else {
                consumed
            };
            if !in_input {
                packed.push(range);
            }
        }
        if after > before && from_blob.is_some() {
            consumed = (before, after);
        }
    }
    for (at, n) in verbatim {
        map[at..at + n].fill(PAYLOAD);
    }
    for (mut from, to) in packed {
        // Skip the LZF string header (0xC3, compressed and plain lengths) when it is where a
        // blob starts (right after the key name, or after a quicklist container byte).
        if let Some(i) = (from..(from + 3).min(to)).find(|&i| bytes[i] == 0xC3) {
            let (_, a) = decode_length(&bytes[i + 1..], true).unwrap();
            let (_, b) = decode_length(&bytes[i + 1 + a..], true).unwrap();
            from = i + 1 + a + b;
        }
        for c in &mut map[from..to] {
            if *c == STRUCTURE {
                *c = PACKED;
            }
        }
    }
    map
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
    /// Bytes of the file per class (see [`byte_classes`]), and the mutations that fell there
    /// (with those caught without the CRC).
    payload_bytes: usize,
    packed_bytes: usize,
    mut_payload: usize,
    mut_payload_caught_structural: usize,
    mut_packed: usize,
    mut_packed_caught_structural: usize,
    mut_other: usize,
    mut_other_caught_structural: usize,
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
    let classes = byte_classes(&bytes);
    st.payload_bytes = classes.iter().filter(|&&c| c == PAYLOAD).count();
    st.packed_bytes = classes.iter().filter(|&&c| c == PACKED).count();

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
                match classes[pos] {
                    PAYLOAD => {
                        st.mut_payload += 1;
                        if structural {
                            st.mut_payload_caught_structural += 1;
                        }
                    }
                    PACKED => {
                        st.mut_packed += 1;
                        if structural {
                            st.mut_packed_caught_structural += 1;
                        }
                    }
                    _ => {
                        st.mut_other += 1;
                        if structural {
                            st.mut_other_caught_structural += 1;
                        }
                    }
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

impl FileStats {
    /// Adds `st`'s counts (a total row).
    fn add(&mut self, st: &FileStats) {
        self.size += st.size;
        self.truncations += st.truncations;
        self.trunc_caught += st.trunc_caught;
        self.trunc_caught_structural += st.trunc_caught_structural;
        self.mutations += st.mutations;
        self.mut_caught += st.mut_caught;
        self.mut_caught_structural += st.mut_caught_structural;
        self.payload_bytes += st.payload_bytes;
        self.packed_bytes += st.packed_bytes;
        self.mut_payload += st.mut_payload;
        self.mut_payload_caught_structural += st.mut_payload_caught_structural;
        self.mut_packed += st.mut_packed;
        self.mut_packed_caught_structural += st.mut_packed_caught_structural;
        self.mut_other += st.mut_other;
        self.mut_other_caught_structural += st.mut_other_caught_structural;
        self.cross_checked += st.cross_checked;
    }
}

/// A Markdown row of the campaign table: `head` (the first three cells), the truncations,
/// `crc` (the mutations cell with the CRC on), then the structural columns of `st`.
fn table_row(head: &str, crc: &str, st: &FileStats) -> String {
    format!(
        "| {head} | {}/{} | {crc} | {}/{} ({:.2} %) | {:.1} % / {:.1} % | {}/{} ({:.1} %) | {}/{} ({:.1} %) |",
        st.trunc_caught,
        st.truncations,
        st.mut_caught_structural,
        st.mutations,
        pct(st.mut_caught_structural, st.mutations),
        pct(st.payload_bytes, st.size),
        pct(st.packed_bytes, st.size),
        st.mut_packed_caught_structural,
        st.mut_packed,
        pct(st.mut_packed_caught_structural, st.mut_packed),
        st.mut_other_caught_structural,
        st.mut_other,
        pct(st.mut_other_caught_structural, st.mut_other)
    )
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
        "| file | size | boundaries | truncations caught | mutations caught (CRC on) | structural (CRC off) | bytes: payload / packed | CRC off, in packed | CRC off, in structure |"
    );
    println!("|---|---:|---:|---:|---:|---:|---:|---:|---:|");
    let mut tot = FileStats::default();
    let mut tot_crc = (0usize, 0usize);
    let mut failures = Vec::new();
    for (_, st) in &results {
        let crc = if st.has_crc {
            format!("{}/{}", st.mut_caught, st.mutations)
        } else {
            format!("no CRC (RDB < 5): {}/{}", st.mut_caught, st.mutations)
        };
        let head = format!("{} | {} | {}", st.name, st.size, st.boundaries);
        println!("{}", table_row(&head, &crc, st));
        assert!(st.truncations >= MIN_TRUNCATIONS);
        tot.add(st);
        if st.has_crc {
            tot_crc.0 += st.mut_caught;
            tot_crc.1 += st.mutations;
        }
        failures.extend(st.failures.iter().cloned());
    }
    let head = format!("**all {} files** | |", results.len());
    let crc = format!("{}/{} (files with CRC)", tot_crc.0, tot_crc.1);
    println!("{}", table_row(&head, &crc, &tot));
    println!(
        "payload changes caught without the CRC: {}/{}",
        tot.mut_payload_caught_structural, tot.mut_payload
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
    // Without the CRC, most changes to structure bytes (outside verbatim data and compressed
    // blobs) must still be caught: 59.7 % when this was written.
    assert!(
        pct(tot.mut_other_caught_structural, tot.mut_other) > 50.0,
        "structure bytes: only {}/{} changes caught without the CRC",
        tot.mut_other_caught_structural,
        tot.mut_other
    );
}
