//! Deep verification of Redis / Valkey RDB files (rdb-format.md §8).
//!
//! A [`Verifier`] consumes the events of [`rdb_reader::Parser`] and produces a [`Report`]: the
//! checks the reader does not already enforce (checksum verdict, SELECTDB range, RESIZEDB and
//! slot-info counts, duplicate keys / members / fields, zset listpack order, hash TTL order,
//! stream invariants and consumer-group PELs, function shebangs, AUX fields, ...), statistics
//! (keys, expires, types per db, slot histogram, CacheSize estimate from [`cachesize`]) and
//! engine compatibility ([`engine`]). A reader error becomes a fatal finding that ends the file.
//!
//! Entry points: [`verify_file`] (mapped a window at a time), [`verify_reader`] (pipes), [`verify_bytes`],
//! [`verify_many`] (rayon, one report per file), [`Summary`] and [`check_manifest`] for a set of
//! cluster files. The report serialises (serde) to exactly the per-file object of the
//! `rdb-verify --json` contract.
//!
//! ```
//! use rdb_verify::{verify_bytes, Options};
//! // `SET foo bar` in RDB 11, as a real server writes it.
//! let file = b"REDIS0011\xfe\x00\xfb\x01\x00\x00\x03foo\x03bar\xff\x8d\x86\xb9\x4c\x67\x6e\xab\x95";
//! let report = verify_bytes("mem.rdb", file, &Options::default());
//! assert!(report.ok);
//! assert_eq!(report.keys, 1);
//! assert_eq!(report.checksum.status, "ok");
//! assert_eq!(report.slots.ranges, "12182"); // slot of "foo"
//! assert!(report.loads_on.contains(&rdb_verify::EngineLine::Redis7_2));
//! ```
//!
//! A set of node files against its manifest (what `rdb-verify DIR` does; the CLI also
//! places the files by the manifest's directory, verifies each with its node group's slots
//! and, with no line named, infers each file's memory model — `rdb-cli`'s
//! `verify::Config::options_with` builds those options):
//!
//! ```no_run
//! use rdb_verify::{check_manifest, verify_many, CacheModel, ManifestInput, Options, Summary};
//! let manifest = ManifestInput::from_path("backup/backup-manifest.json".as_ref()).unwrap();
//! let files: Vec<std::path::PathBuf> = (1..=3)
//!     .map(|i| format!("backup/backup-{i:04}.rdb").into())
//!     .collect();
//! let line = manifest.engine_line();
//! let opts = Options {
//!     engine: line,
//!     // The node's server, in cluster mode, as the manifest's CacheSize assumes.
//!     cache_model: line.map_or_else(CacheModel::default, CacheModel::for_engine).clustered(),
//!     ..Options::default()
//! };
//! let mut reports = verify_many(&files, 0, &opts);
//! let check = check_manifest(&manifest, &reports);
//! let set_wide = check.apply_to(&mut reports); // per-file findings move into the reports
//! let summary = Summary::from_reports(&reports, std::slice::from_ref(&check));
//! let ready = summary.failed == 0 && set_wide.iter().all(|f| f.finding.severity != rdb_verify::Severity::Error);
//! println!("{} files, {} keys, ready to seed: {ready}", summary.files, summary.keys);
//! ```
//!
//! Finding codes (besides the reader's own error codes, which are reported as they are):
//!
//! | code | severity | check |
//! |---|---|---|
//! | `crc-mismatch` / `checksum-disabled` / `checksum-absent` | E / W / I | V-F5 |
//! | `trailing-bytes` | W | V-F4 |
//! | `no-eof` | E | input ended before EOF |
//! | `selectdb-range` | E | V-F6 |
//! | `resizedb-mismatch` | W | V-F7 |
//! | `sizing-count-oversized` (a RESIZEDB or slot sizing count ≥ 2^27 above the keys that follow: the loading server allocates a table of ≥ 1 GiB by it first; Valkey 8.1 and Redis 6.2 abort when that fails) | W | V-F7, V-F8 |
//! | `slot-info-count`, `slot-info-key-slot`, `slot-info-order`, `slot-info-range` / `slot-info-format` | W / E | V-F8, V-F13 |
//! | `duplicate-key` | E | V-F9 |
//! | `orphan-key-attributes` | W | V-F10 |
//! | `already-expired` | W | V-F11 |
//! | `expire-minus-one` (an expiry of -1 ms, which servers load as no expiry: the key stays) | W | V-F11 |
//! | `empty-value` | W | V-F12 |
//! | `aux-repl-id`, `aux-lua` | W | V-F13 |
//! | `module-required`, `module-aux-order` | W | V-F14, V-T19 (well-formedness is the reader's) |
//! | `function-shebang`, `function-duplicate` / `function-engine` | E / W (E with a Redis `--engine`) | V-F15 |
//! | `slot-outside-expected`, `cluster-nonzero-db` | E | V-F16, V-F6 (with `Options::expected_slots`) |
//! | `slot-outside-node-group` | E | V-F16 for a file a manifest lists (with `Options::expected_slots_group`, or by `check_manifest`) |
//! | `duplicate-member` | E | V-T1, V-T3, V-T8, V-T10, V-T11 |
//! | `zset-order` | E | V-T12 |
//! | `encoding-threshold` | W | V-T13 |
//! | `intset-width` | W | V-T6 |
//! | `hash-ttl-order` | E | V-T9 |
//! | `hash-min-expire` | W | V-T10 |
//! | `hash-no-field-ttl` | W | V-T11 |
//! | `stream-node-duplicate`, `stream-length-without-nodes` | E | V-T15 |
//! | `stream-listpack-count` (a node listpack's header element count is wrong: the server never reads it and loads the node) | W | V-T15 (§4.6 does not check the header count) |
//! | `stream-group-duplicate`, `stream-pel-duplicate`, `stream-consumer-duplicate`, `stream-consumer-pel-not-in-group`, `stream-pel-owner-duplicate`, `stream-pel-without-consumer` | E | V-T16 |
//! | `stream-id-order`, `stream-first-delta`, `stream-node-empty`, `stream-node-count`, `stream-entry-no-fields`, `stream-length`, `stream-last-id`, `stream-first-id`, `stream-max-deleted`, `stream-entries-added` | W | V-T17 |
//! | `stream-group-last-delivered`, `stream-pel-after-last-delivered`, `stream-pel-delivery-count`, `stream-entries-read`, `stream-consumer-time` | W | V-T18 |
//! | `engine-incompatible` | E | `Options::engine` |
//! | `node-memory` | E | `Options::node_memory` |
//! | `duplicate-check-limited`, `findings-suppressed` | I | bounds reached |
//!
//! Every check gives the same findings at the same offsets whether the input is in memory,
//! a mapped file or a stream ([`verify_reader`]; tested on every hand-made malformed file),
//! except that a stream, which cannot be read twice, reports `duplicate-key` without the
//! offsets a second pass finds.
#![cfg_attr(
    not(test),
    deny(
        clippy::unwrap_used,
        clippy::expect_used,
        clippy::panic,
        clippy::indexing_slicing
    )
)]

pub mod cachesize;
pub mod dedup;
pub mod engine;
pub mod multi;
pub mod publish;
pub mod report;
pub mod split;
pub mod verifier;

use std::io::Read;
use std::path::Path;

use rdb_format::TypeKind;
use rdb_reader::{Event, MappedFile, Parser, SliceSource, Source, WindowSource};

pub use cachesize::{Allocator, CacheModel, ClusterKeys, ObjectLayout, SdsTypes, Thresholds};
pub use engine::EngineLine;
pub use multi::{
    check_manifest, check_matched, expand_paths, is_manifest_path, match_manifests,
    parse_byte_size, verify_many, verify_many_each, verify_many_with, ByteSizeError, FileFinding,
    Inputs, ManifestCheck, ManifestInput, NodeGroupSlots, PlacedManifest, Summary,
};
pub use report::{
    ChecksumReport, DbReport, Finding, FindingKey, Report, Severity, SlotsReport, TypeCounts,
};
pub use split::{verify_file_in_parts, verify_file_split, Passes, MIN_PART_BYTES};
pub use verifier::{EventContext, Options, Verifier};

/// Runs `parser` to its end (or first error), feeding `v`.
pub fn drive<S: Source>(parser: &mut Parser<S>, v: &mut Verifier) {
    drive_until(parser, v, None);
}

/// As [`drive`], but stops after the first key that ends at or past offset `end` (when given)
/// and returns that offset: the boundary of a part of the file (see [`split`]).
pub(crate) fn drive_until<S: Source>(
    parser: &mut Parser<S>,
    v: &mut Verifier,
    end: Option<u64>,
) -> Option<u64> {
    let end = end.unwrap_or(u64::MAX);
    loop {
        // By reference: moving the event out of the result copies it with wide loads that
        // cannot be forwarded from the parser's narrower stores (a stall per event).
        let (key_ended, intset, collection) = match &parser.next_event_at() {
            Ok(Some((start, ev))) => {
                v.on_event_at(
                    ev,
                    EventContext {
                        start: Some(*start),
                    },
                );
                let intset = matches!(ev, Event::Key(k) if k.kind == TypeKind::SetIntset);
                let collection = matches!(ev, Event::Key(k) if k.kind != TypeKind::String);
                (split::ends_key(ev), intset, collection)
            }
            Ok(None) => break,
            Err(e) => {
                v.on_read_error(e);
                break;
            }
        };
        if key_ended {
            let at = parser.offset();
            if at >= end {
                return Some(at);
            }
        }
        // An intset's members at once (a loop over its array, no event per member).
        if intset {
            if let Some(set) = parser.take_intset() {
                v.on_intset(&set);
            }
        }
        // The elements of a compact value in one call (the source stays where it is).
        let start = parser.offset();
        let ctx = EventContext { start: Some(start) };
        if let Err(e) = parser.drain_blob(&mut |ev| v.on_event_at(ev, ctx)) {
            v.on_read_error(&e);
            break;
        }
        // The members of a hashtable-encoded value (each a record of its own) in one call,
        // right after its key's event (string keys, most keys of many files, never have any).
        if collection {
            let on_member = &mut |ev: &Event<'_>, start| {
                let ctx = EventContext { start: Some(start) };
                v.on_event_at(ev, ctx);
            };
            if let Err(e) = parser.drain_plain(on_member) {
                v.on_read_error(&e);
                break;
            }
        }
    }
    None
}

/// Verifies an in-memory file; `label` is the report's `path` (a name only: the report's
/// [`Report::file`] is `None`).
pub fn verify_bytes(label: impl Into<String>, bytes: &[u8], opts: &Options) -> Report {
    let mut parser = Parser::new(SliceSource::new(bytes), opts.reader_limits());
    let mut v = Verifier::new(label, opts);
    drive(&mut parser, &mut v);
    v.finish_rescan(dedup::Rescan::Bytes(bytes))
}

/// Verifies a file; an I/O error opening it is returned as is.
///
/// A regular file is mapped a window at a time ([`WindowSource`]): nothing is copied, and
/// RSS stays independent of the file size (a whole-file map would keep every touched page
/// resident: 500 MB for a 500 MB file). Anything else (a pipe, a special file) and a file that
/// cannot be mapped are read with plain `read` calls into the reader's bounded buffer. Every
/// check runs the same on all paths.
pub fn try_verify_file(path: &Path, opts: &Options) -> std::io::Result<Report> {
    let file = std::fs::File::open(path)?;
    let meta = file.metadata()?;
    if meta.is_dir() {
        return Err(std::io::Error::other("is a directory"));
    }
    let limits = opts.reader_limits();
    let mut v = Verifier::new(path.display().to_string(), opts);
    if !meta.is_file() {
        // A pipe, FIFO or device (`/dev/stdin`, `<(…)`): read once, as `-` is. Opening it
        // again for the duplicate-key confirmation pass would find it drained (and a
        // repeated key unconfirmed) or block on a FIFO with no writer.
        drive(&mut rdb_reader::stream_parser(file, limits), &mut v);
        return Ok(v.finish().read_from(path));
    }
    match WindowSource::from_file(file, limits.stream_buffer()) {
        Ok(src) => drive(&mut Parser::new(src, limits), &mut v),
        Err(file) => drive(&mut rdb_reader::stream_parser(file, limits), &mut v),
    }
    Ok(v.finish_rescan(dedup::Rescan::File(path)).read_from(path))
}

/// Verifies a file through a memory map (fastest for files that fit comfortably in memory;
/// RSS grows with the file size).
pub fn try_verify_mapped(path: &Path, opts: &Options) -> std::io::Result<Report> {
    let map = MappedFile::open(path)?;
    Ok(verify_bytes(path.display().to_string(), map.bytes(), opts).read_from(path))
}

/// Verifies a file (streamed, bounded memory); an I/O error becomes a fatal `io` finding.
pub fn verify_file(path: &Path, opts: &Options) -> Report {
    match try_verify_file(path, opts) {
        Ok(r) => r,
        Err(e) => io_error_report(path, &e),
    }
}

/// The report of a file that could not be opened: one fatal `io` finding.
pub fn io_error_report(path: &Path, e: &std::io::Error) -> Report {
    let mut r = Report::new(path.display().to_string());
    r.push_finding(Finding::new(
        Severity::Error,
        "io",
        None,
        format!("cannot read {}: {e}", path.display()),
    ));
    r.read_from(path)
}

/// Verifies a stream (pipe, stdin) with the bounded-buffer reader; `label` is the report's
/// `path` (a name only: the report's [`Report::file`] is `None`).
pub fn verify_reader<R: Read>(label: impl Into<String>, reader: R, opts: &Options) -> Report {
    let mut parser = rdb_reader::stream_parser(reader, opts.reader_limits());
    let mut v = Verifier::new(label, opts);
    drive(&mut parser, &mut v);
    v.finish()
}
