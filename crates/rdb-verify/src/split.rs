//! One file verified by several threads, each taking a part of it.
//!
//! A record's meaning depends on the records before it only through a little state: the
//! header, the current db, the RESIZEDB segment and SLOT_INFO counts, the functions and modules
//! seen, whether a key was seen. So a file can be cut between two keys and its parts verified
//! at once: part `k` reads the file from the start in skim mode ([`Parser::set_skim`], and
//! [`Parser::skip_key`] after every key: values are stepped over by their lengths, nothing is
//! decoded, decompressed or validated) until the first key that ends at or past its start
//! offset (see `part_starts`: later parts skip more, so they verify less), keeping that state
//! (`Verifier::on_context_event`); from there it verifies fully, to the first key that ends
//! at or past the next part's start offset (where the next part starts: both apply the same
//! rule to the same bytes) or the end of the file. The parts'
//! verifiers are then appended in order (`Verifier::append`): counters add up, findings
//! follow in file order under the same per-code limits, and the state after the last boundary
//! is the last part's. The report is the one a single pass gives; the tests compare the two
//! on every test file, cut into 2 to 7 parts, and on damaged copies.
//!
//! Each part streams the file through its own bounded buffer (memory does not grow with the
//! file size), and the part that reaches the end has read every byte from the start, so it
//! computes the whole file's CRC itself. A part that ends early at a fatal error ends the
//! report there, as a single pass would. If the parts do not meet exactly where expected
//! (which would mean a skipped key was read differently from a verified one), the file is
//! verified again in one pass.

use std::fs::File;
use std::io;
use std::path::Path;

use rdb_format::TypeKind;
use rdb_reader::{Event, Parser, Source};

use crate::dedup::Rescan;
use crate::report::Report;
use crate::verifier::{EventContext, Options, Verifier};

/// Smallest part worth a thread of its own (16 MiB): [`verify_file_in_parts`] uses fewer
/// parts for smaller files.
pub const MIN_PART_BYTES: u64 = 16 << 20;

/// Whether `ev` ends a key: its `KeyEnd`, or a key given whole in one event.
pub(crate) fn ends_key(ev: &Event<'_>) -> bool {
    match ev {
        Event::KeyEnd => true,
        Event::Key(k) => k.whole,
        _ => false,
    }
}

/// Verifies the file at `path` with up to `parts` threads, each taking a part of at least
/// [`MIN_PART_BYTES`]; the report is the one [`crate::try_verify_file`] gives.
pub fn verify_file_in_parts(path: &Path, opts: &Options, parts: usize) -> io::Result<Report> {
    let len = std::fs::metadata(path)?.len();
    let parts = parts.min(usize::try_from(len / MIN_PART_BYTES).unwrap_or(usize::MAX));
    verify_parts(path, opts, parts)
}

/// [`verify_file_in_parts`] without the minimum part size (tests cut small files too).
pub(crate) fn verify_parts(path: &Path, opts: &Options, parts: usize) -> io::Result<Report> {
    Ok(verify_file_split(path, opts, parts)?.0)
}

/// How a file was verified by [`verify_file_split`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Passes {
    /// In one pass (one part asked for, or not a regular file).
    Single,
    /// In parts, of which this many verified at least one record.
    Parts(usize),
    /// The parts did not meet; verified again in one pass.
    Fallback,
}

/// Verifies the file at `path` cut into `parts` parts whatever its size (no
/// [`MIN_PART_BYTES`]; a part with no key of its own verifies nothing), and tells how the
/// report was made. For tests and the `verify_split` fuzz target, which check that the report
/// is the single pass's; callers verifying files use [`verify_file_in_parts`].
pub fn verify_file_split(
    path: &Path,
    opts: &Options,
    parts: usize,
) -> io::Result<(Report, Passes)> {
    // Looked at without opening it: a FIFO opened here and again by the single pass would
    // lose its data (or its writer) to the first open.
    let meta = std::fs::metadata(path)?;
    if parts < 2 || !meta.is_file() {
        return Ok((crate::try_verify_file(path, opts)?, Passes::Single));
    }
    let file = File::open(path)?;
    let len = meta.len();
    // Part k starts at the first key ending at or past starts[k] (k >= 1).
    let starts = part_starts(len, parts);
    let results: Vec<io::Result<Option<Part>>> = std::thread::scope(|scope| {
        let handles: Vec<_> = (0..parts)
            .map(|k| {
                let starts = &starts;
                let file = if k == 0 {
                    file.try_clone()
                } else {
                    File::open(path)
                };
                scope.spawn(move || {
                    let target = starts.get(k + 1).copied();
                    let from = if k == 0 { None } else { starts.get(k).copied() };
                    run_part(file?, path, opts, from, target)
                })
            })
            .collect();
        handles
            .into_iter()
            .map(|h| {
                h.join()
                    .unwrap_or_else(|_| Err(io::Error::other("a verification thread panicked")))
            })
            .collect()
    });
    let fallback = || Ok((crate::try_verify_file(path, opts)?, Passes::Fallback));
    let mut results = results.into_iter();
    let Some(Some(mut acc)) = results.next().transpose()? else {
        return fallback();
    };
    let mut used = 1;
    for next in results {
        let Some(stop) = acc.stop else {
            break; // the file (or a fatal error) ended before this part's start
        };
        match next? {
            Some(p) if p.start == stop => {
                if p.stop != Some(p.start) {
                    used += 1;
                }
                acc.verifier.append(p.verifier);
                acc.stop = p.stop;
            }
            // The parts do not meet: read differently when skipped and when verified.
            _ => return fallback(),
        }
    }
    let report = acc
        .verifier
        .finish_rescan(Rescan::File(path))
        .read_from(path);
    Ok((report, Passes::Parts(used)))
}

/// Time to skip a byte relative to verifying it (measured on the benchmark datasets:
/// small-strings 0.5, mixed 0.1, big-values 0.15).
const SKIP_COST: f64 = 0.2;

/// Where the parts of a `len`-byte file start (each at the first key ending at or past it):
/// later parts skip more and so verify less, so that each part's skip to its start plus its
/// verification take about the same time. With skip cost `s` and the per-part time `T` (the
/// whole file's verification = 1), part `k` starts at `b_k = T (1 − (1−s)^k) / s`, and
/// `b_n = 1` gives `T = s / (1 − (1−s)^n)`.
fn part_starts(len: u64, parts: usize) -> Vec<u64> {
    let s = SKIP_COST;
    let n = i32::try_from(parts).unwrap_or(i32::MAX);
    let t = s / (1.0 - (1.0 - s).powi(n));
    (0..n)
        .map(|k| {
            let b = (t * (1.0 - (1.0 - s).powi(k)) / s).clamp(0.0, 1.0);
            // Exact for k = 0; below `len` otherwise (a float product, then truncated).
            ((len as f64) * b) as u64
        })
        .collect()
}

/// What one part gave.
struct Part {
    verifier: Verifier,
    /// Offset of the part's first record (0 for the first part).
    start: u64,
    /// Where it stopped at the next part's start; `None` when it went to the end of the file
    /// or to a fatal error.
    stop: Option<u64>,
}

/// Verifies the part from the first key ending at or past `from` (the file's start when
/// `None`) to the first key ending at or past `to` (the end when `None`). `None` when no key
/// ends at or past `from` before the end of the file (or before a read error: the part before
/// reports it).
fn run_part(
    file: File,
    path: &Path,
    opts: &Options,
    from: Option<u64>,
    to: Option<u64>,
) -> io::Result<Option<Part>> {
    let limits = opts.reader_limits();
    // As `try_verify_file` reads: a window of a map, or plain reads when that fails.
    match rdb_reader::WindowSource::from_file(file, limits.stream_buffer()) {
        Ok(src) => run_part_with(Parser::new(src, limits), path, opts, from, to),
        Err(file) => run_part_with(
            rdb_reader::stream_parser(file, limits),
            path,
            opts,
            from,
            to,
        ),
    }
}

/// [`run_part`] over a given parser.
fn run_part_with<S: Source>(
    mut parser: Parser<S>,
    path: &Path,
    opts: &Options,
    from: Option<u64>,
    to: Option<u64>,
) -> io::Result<Option<Part>> {
    let mut v = Verifier::new(path.display().to_string(), opts);
    let start = match from {
        None => 0,
        Some(from) => {
            // Values stepped over by their lengths, nothing decompressed or validated.
            parser.set_skim(true);
            let at = skip_to(&mut parser, &mut v, from);
            parser.set_skim(false);
            match at {
                Some(at) => at,
                None => return Ok(None),
            }
        }
    };
    v.start_part();
    let stop = match to {
        Some(to) if start >= to => Some(start), // an empty part: a key spans both starts
        _ => crate::drive_until(&mut parser, &mut v, to),
    };
    Ok(Some(Part {
        verifier: v,
        start,
        stop,
    }))
}

/// Reads records with their keys skipped, giving them to `v` as context, until the first key
/// that ends at or past `from`; returns that offset (`None` at the end of the file or at an
/// error first).
fn skip_to<S: Source>(parser: &mut Parser<S>, v: &mut Verifier, from: u64) -> Option<u64> {
    loop {
        let (is_key, whole, module) = match parser.next_event_at() {
            Ok(Some((_, Event::Eof(_)))) | Ok(None) | Err(_) => return None,
            Ok(Some((start, ev))) => {
                v.on_context_event(&ev, EventContext { start: Some(start) });
                match &ev {
                    Event::Key(k) => (true, k.whole, k.kind == TypeKind::Module2),
                    _ => (false, false, false),
                }
            }
        };
        if is_key {
            // The `module-required` warning comes once per module: a skipped module value's
            // module is context too (its event comes with the key's first bytes anyway).
            if module && !whole {
                let start = parser.offset();
                match parser.next_event() {
                    Ok(Some(ev @ Event::Module { .. })) => {
                        v.on_context_event(&ev, EventContext { start: Some(start) })
                    }
                    Ok(Some(_)) => {}
                    Ok(None) | Err(_) => return None,
                }
            }
            if !whole && parser.skip_key().is_err() {
                return None;
            }
            let at = parser.offset();
            if at >= from {
                return Some(at);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn part_starts_grow_and_balance_the_skip() {
        assert_eq!(part_starts(1000, 1), vec![0]);
        let two = part_starts(1_000_000, 2);
        assert_eq!(two[0], 0);
        // T = 0.2 / (1 - 0.64) = 0.5556: the second part skips 55.6 % and verifies the rest.
        assert!((555_000..556_000).contains(&two[1]), "{two:?}");
        let four = part_starts(1 << 30, 4);
        assert!(four.windows(2).all(|w| w[0] < w[1]), "{four:?}");
        let lens: Vec<u64> = four.windows(2).map(|w| w[1] - w[0]).collect();
        assert!(
            lens.windows(2).all(|w| w[0] > w[1]),
            "later parts verify less: {lens:?}"
        );
    }

    /// Every test file, cut into 2 to 7 parts, gives the single pass's report.
    #[test]
    fn parts_give_the_single_pass_report_on_every_test_file() {
        let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../testdata");
        let mut files = Vec::new();
        let mut dirs = vec![root];
        while let Some(d) = dirs.pop() {
            for e in std::fs::read_dir(&d).unwrap() {
                let p = e.unwrap().path();
                if p.is_dir() {
                    dirs.push(p);
                } else if p.extension().is_some_and(|x| x == "rdb") {
                    files.push(p);
                }
            }
        }
        files.sort();
        assert!(files.len() > 50, "test files: {}", files.len());
        let opts = Options {
            now_ms: 1_800_000_000_000,
            ..Options::default()
        };
        let (mut split_files, mut split3) = (0, 0);
        for f in &files {
            let one = crate::try_verify_file(f, &opts).unwrap();
            let one_json = serde_json::to_string(&one).unwrap();
            let mut most = 0;
            for parts in 2..=7 {
                let (split, passes) = verify_file_split(f, &opts, parts).unwrap();
                match passes {
                    Passes::Parts(n) => most = most.max(n),
                    other => panic!("{} in {parts} parts: {other:?}", f.display()),
                }
                assert!(
                    serde_json::to_string(&split).unwrap() == one_json,
                    "{} in {parts} parts:\n{:#?}\nsingle pass:\n{:#?}",
                    f.display(),
                    split,
                    one
                );
            }
            // A cluster-mode model (per-slot key and expire counts merged across parts).
            let clustered = Options {
                cache_model: crate::CacheModel::valkey_8_1().clustered(),
                ..opts.clone()
            };
            let one = crate::try_verify_file(f, &clustered).unwrap();
            let (split, _) = verify_file_split(f, &clustered, 3).unwrap();
            assert_eq!(
                split.cache_size_bytes,
                one.cache_size_bytes,
                "{} in 3 parts, cluster model",
                f.display()
            );
            if most >= 2 {
                split_files += 1;
            }
            if most >= 3 {
                split3 += 1;
            }
        }
        // Files with fewer keys than parts, one big key, or an error in the first part use
        // fewer parts; most files split.
        let n = files.len();
        assert!(split_files * 2 > n, "{split_files} of {n} files split");
        assert!(split3 >= 30, "{split3} of {n} files split in 3+ parts");
        eprintln!("{split_files} of {n} files split, {split3} in 3+ parts");
    }

    /// Damaged copies (random byte changes and truncations) of real-server files with
    /// SLOT_INFO records, slot-info AUX fields and every type: the parts' report is still the
    /// single pass's, whether the parts meet or the file is verified again.
    #[test]
    fn parts_give_the_single_pass_report_on_damaged_files() {
        let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../testdata/servers");
        let dir = tempfile::tempdir().unwrap();
        let opts = Options {
            now_ms: 1_800_000_000_000,
            ..Options::default()
        };
        let mut state = 0x9E37_79B9_7F4A_7C15u64;
        let mut next = move || {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            state
        };
        let mut fallbacks = 0;
        for name in [
            "redis-8.0-m01/dev-cluster",
            "valkey-8.0.1/dev-cluster",
            "redis-7.0.15/dev",
        ] {
            let original = std::fs::read(root.join(name).join("dump.rdb")).unwrap();
            let path = dir.path().join("copy.rdb");
            for i in 0..120 {
                let mut data = original.clone();
                let r = next();
                if i % 4 == 3 {
                    data.truncate((r % data.len() as u64) as usize);
                } else {
                    let at = (r % data.len() as u64) as usize;
                    data[at] ^= 1 + (next() % 255) as u8;
                }
                std::fs::write(&path, &data).unwrap();
                let one = serde_json::to_string(&crate::try_verify_file(&path, &opts).unwrap());
                let (split, passes) = verify_file_split(&path, &opts, 3).unwrap();
                fallbacks += usize::from(passes == Passes::Fallback);
                assert!(
                    serde_json::to_string(&split).unwrap() == one.unwrap(),
                    "{name} damaged copy {i}"
                );
            }
        }
        eprintln!("{fallbacks} of 360 damaged copies verified again in one pass");
    }

    /// Hash listpacks larger than the parser's 1 MiB chunk (1.8 MB raw, 1.3 MB LZF: stepped
    /// over in released chunks while skimming, the key's bytes kept) and a big quicklist,
    /// between small keys with `slot-info` AUX records: the parts meet and give the single
    /// pass's report.
    #[test]
    fn parts_step_over_large_compact_values() {
        use rdb_model::{Bytes, Entry, HashField, Keyspace, Value};
        use rdb_writer::{write_keyspace, EncodingConfig, Target, WriterBuilder};

        let mut state = 0x2545_F491_4F6C_DD1Du64;
        let mut noise = |n: usize| -> Vec<u8> {
            (0..n)
                .map(|_| {
                    state ^= state << 13;
                    state ^= state >> 7;
                    state ^= state << 17;
                    state as u8
                })
                .collect()
        };
        let mut ks = Keyspace::default();
        let db = ks.db_mut(0);
        for i in 0..6000 {
            let v = if i % 1000 == 0 {
                // Big compact values: one raw (noise), one LZF (repetitive) hash listpack, and
                // a list whose single quicklist node is over 1 MiB.
                match (i / 1000) % 3 {
                    0 => Value::Hash(
                        (0..600)
                            .map(|f| HashField {
                                field: Bytes::from(format!("f{f}").into_bytes()),
                                value: Bytes::from(noise(3000)),
                                expire_at_ms: None,
                            })
                            .collect(),
                    ),
                    1 => Value::Hash(
                        (0..800)
                            .map(|f| {
                                // Half noise, half repetition: LZF saves about half.
                                let mut v = noise(1500);
                                v.extend_from_slice(format!("{f:04}").repeat(375).as_bytes());
                                HashField {
                                    field: Bytes::from(format!("f{f}").into_bytes()),
                                    value: Bytes::from(v),
                                    expire_at_ms: None,
                                }
                            })
                            .collect(),
                    ),
                    _ => Value::List((0..1500).map(|_| Bytes::from(noise(1000))).collect()),
                }
            } else {
                Value::String(Bytes::from(noise(40)))
            };
            db.entries
                .push(Entry::new(format!("key:{i}").into_bytes(), v));
        }
        let builder = WriterBuilder::new(Target::Valkey80)
            .ctime(1_700_000_000)
            .slot_info(true)
            .encoding(EncodingConfig {
                hash_max_listpack_entries: 1000,
                hash_max_listpack_value: 4000,
                list_max_listpack_size: 2000,
                ..Default::default()
            });
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("big-blobs.rdb");
        let file = File::create(&path).unwrap();
        write_keyspace(&ks, std::io::BufWriter::new(file), &builder).unwrap();
        let opts = Options {
            now_ms: 1_800_000_000_000,
            ..Options::default()
        };
        let one = crate::try_verify_file(&path, &opts).unwrap();
        assert!(one.ok, "{one:#?}");
        assert_eq!(one.keys, 6000);
        let one_json = serde_json::to_string(&one).unwrap();
        for parts in 2..=5 {
            let (split, passes) = verify_file_split(&path, &opts, parts).unwrap();
            assert!(
                matches!(passes, Passes::Parts(n) if n >= 2),
                "{parts} parts: {passes:?}"
            );
            assert!(
                serde_json::to_string(&split).unwrap() == one_json,
                "{parts} parts differ"
            );
        }
    }
}
