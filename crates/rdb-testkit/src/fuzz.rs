//! Fuzz oracles: one function per `cargo fuzz` target (`fuzz/fuzz_targets/<name>.rs` calls
//! it), shared with `cargo test` (`tests/fuzz_regressions.rs` replays the saved inputs of
//! `fuzz/corpus/<name>/regressions/` through [`run`]).
//!
//! Every oracle takes arbitrary bytes and panics when an invariant fails. Decoding errors on
//! hostile input are expected and fine; what may never happen is a panic inside the library,
//! two decoders that disagree, or a value that does not survive an encode → decode trip.

use std::collections::BTreeSet;
use std::io::Read;

use rdb_format::intset::{self, Intset};
use rdb_format::length::{decode_length, encode_length, length_size, Length};
use rdb_format::listpack::{self, ListpackBuilder, ListpackCursor};
use rdb_format::lzf::{self, Compressor, LzfError, StreamDecoder};
use rdb_format::lzf_validate::StreamValidator;
use rdb_format::stream_lp::{StreamNodeCursor, FLAG_DELETED, FLAG_SAMEFIELDS};
use rdb_format::string::{
    decode_string_header, encode_int_string, encode_string, string_int_value, StringHeader,
};
use rdb_format::ziplist::{self, ZiplistBuilder};
use rdb_format::zipmap::ZipmapCursor;
use rdb_format::{Element, Header, IntText, TypeKind};
use rdb_model::{
    Bytes, Consumer, ConsumerGroup, Entry, HashField, Keyspace, ModuleAux, ModuleValue,
    PendingEntry, Stream, StreamEntry, StreamId, Value,
};
use rdb_reader::{ChecksumStatus, Event, Limits, Parser, SliceSource};
use rdb_writer::{write_keyspace, EncodingConfig, Target, WriterBuilder};

use crate::chunked::{OneByteReader, RandomChunkReader};

mod cluster;
mod text;
use crate::readback::{
    assert_same_keyspace, canonical, distinct, expected, sort_entries, CTIME, TRICKY,
};
pub use cluster::export_cluster;
pub use text::text_inputs;

/// The fuzz targets, by name (the names of `fuzz/fuzz_targets/*.rs` and of the corpus
/// directories).
pub const TARGETS: &[&str] = &[
    "read_slice",
    "read_stream_equivalence",
    "codec_listpack",
    "codec_ziplist",
    "codec_intset",
    "codec_zipmap",
    "codec_stream_lp",
    "codec_lzf",
    "codec_length_string",
    "roundtrip",
    "verify",
    "verify_split",
    "text_inputs",
    "convert",
    "dump_equivalence",
    "export_cluster",
];

/// Runs the oracle of `target` on `data`; returns `false` for an unknown target name.
pub fn run(target: &str, data: &[u8]) -> bool {
    match target {
        "read_slice" => read_slice(data),
        "read_stream_equivalence" => read_stream_equivalence(data),
        "codec_listpack" => codec_listpack(data),
        "codec_ziplist" => codec_ziplist(data),
        "codec_intset" => codec_intset(data),
        "codec_zipmap" => codec_zipmap(data),
        "codec_stream_lp" => codec_stream_lp(data),
        "codec_lzf" => codec_lzf(data),
        "codec_length_string" => codec_length_string(data),
        "roundtrip" => roundtrip(data),
        "verify" => verify(data),
        "verify_split" => verify_split(data),
        "text_inputs" => text_inputs(data),
        "convert" => convert(data),
        "dump_equivalence" => dump_equivalence(data),
        "export_cluster" => export_cluster(data),
        _ => return false,
    }
    true
}

// ----- a tiny input decoder -------------------------------------------------------------------

/// Reads structured values from fuzz bytes; past the end everything reads as zero.
struct Input<'a> {
    data: &'a [u8],
}

impl<'a> Input<'a> {
    fn new(data: &'a [u8]) -> Self {
        Input { data }
    }

    fn is_empty(&self) -> bool {
        self.data.is_empty()
    }

    fn bytes(&mut self, n: usize) -> &'a [u8] {
        let n = n.min(self.data.len());
        let (head, tail) = self.data.split_at(n);
        self.data = tail;
        head
    }

    fn rest(&mut self) -> &'a [u8] {
        self.bytes(self.data.len())
    }

    fn u8(&mut self) -> u8 {
        self.bytes(1).first().copied().unwrap_or(0)
    }

    fn uint(&mut self, n: usize) -> u64 {
        let mut b = [0u8; 8];
        for (d, s) in b.iter_mut().zip(self.bytes(n.min(8))) {
            *d = *s;
        }
        u64::from_le_bytes(b)
    }

    fn u16(&mut self) -> u16 {
        self.uint(2) as u16
    }

    fn u64(&mut self) -> u64 {
        self.uint(8)
    }

    fn bool(&mut self) -> bool {
        self.u8() & 1 == 1
    }
}

/// A small deterministic generator (xorshift) for chunk sizes.
struct Rng(u64);

impl Rng {
    fn new(seed: u64) -> Self {
        Rng(seed | 1)
    }

    fn next(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        self.0 = x;
        x
    }

    /// A value in `1..=max`.
    fn below(&mut self, max: usize) -> usize {
        1 + (self.next() % max.max(1) as u64) as usize
    }
}

/// FNV-1a of `data`: a seed that depends on every byte.
fn seed_of(data: &[u8]) -> u64 {
    data.iter().fold(0xcbf2_9ce4_8422_2325u64, |h, &b| {
        (h ^ u64::from(b)).wrapping_mul(0x100_0000_01b3)
    })
}

fn logical(els: &[Element<'_>]) -> Vec<Vec<u8>> {
    els.iter().map(Element::to_vec).collect()
}

// ----- readers ----------------------------------------------------------------------------------

/// What a parser run over a slice saw.
struct SliceRun {
    keys: u64,
    /// `(code, offset)` of the error, if it failed.
    error: Option<(&'static str, u64)>,
    eof: Option<rdb_reader::EofInfo>,
}

/// Runs a slice parser to the end, checking the event grammar as it goes.
fn run_slice(data: &[u8], limits: Limits) -> SliceRun {
    let len = data.len() as u64;
    let mut p = Parser::new(SliceSource::new(data), limits);
    let mut first = true;
    let mut in_key = false;
    let mut last_key: Option<u64> = None;
    let mut out = SliceRun {
        keys: 0,
        error: None,
        eof: None,
    };
    loop {
        let before = p.offset();
        match p.next_event() {
            Ok(Some(ev)) => {
                assert!(out.eof.is_none(), "event after EOF: {ev:?}");
                assert_eq!(
                    first,
                    matches!(ev, Event::Header(_)),
                    "the header must be the first event, and only it: {ev:?}"
                );
                first = false;
                match ev {
                    Event::Key(k) => {
                        assert!(!in_key, "key inside a key");
                        assert!(
                            k.offset >= before && k.offset < len,
                            "key offset {} outside {before}..{len}",
                            k.offset
                        );
                        if let Some(prev) = last_key {
                            assert!(
                                k.offset > prev,
                                "key offsets not increasing: {prev} then {}",
                                k.offset
                            );
                        }
                        last_key = Some(k.offset);
                        if k.whole {
                            // `Limits::whole_strings`: a complete string key, no KeyEnd.
                            assert_eq!(k.kind, TypeKind::String, "whole key not a string");
                        }
                        in_key = !k.whole;
                        out.keys += 1;
                    }
                    Event::KeyEnd => {
                        assert!(in_key, "KeyEnd outside a key");
                        in_key = false;
                    }
                    Event::Eof(info) => {
                        assert!(!in_key, "EOF inside a key");
                        assert!(
                            info.eof_offset < len,
                            "EOF offset {} beyond the input ({len})",
                            info.eof_offset
                        );
                        out.eof = Some(info);
                    }
                    Event::Header(_)
                    | Event::Aux { .. }
                    | Event::SelectDb { .. }
                    | Event::ResizeDb { .. }
                    | Event::SlotInfo { .. }
                    | Event::Function { .. }
                    | Event::ModuleAux { .. }
                    | Event::OrphanKeyAttributes { .. } => {
                        assert!(!in_key, "record event inside a key: {ev:?}")
                    }
                    other => assert!(in_key, "value event outside a key: {other:?}"),
                }
            }
            Ok(None) => {
                assert!(
                    out.eof.is_some(),
                    "parser ended without EOF and without an error"
                );
                break;
            }
            Err(e) => {
                assert!(
                    e.offset() <= len,
                    "error offset {} beyond the input ({len}): {e}",
                    e.offset()
                );
                assert!(!e.code().is_empty(), "error without a code: {e}");
                let _ = e.to_string();
                out.error = Some((e.code(), e.offset()));
                break;
            }
        }
        assert!(
            p.offset() <= len,
            "parser offset {} beyond the input ({len})",
            p.offset()
        );
    }
    // Fused after the end or an error.
    assert!(
        matches!(p.next_event(), Ok(None)),
        "parser not fused after its end"
    );
    out
}

/// `rdb_reader::Parser` over a `SliceSource` to the end: never panics, error offsets within
/// the input, a well-formed event sequence, and `read_keyspace` agrees on success / failure.
pub fn read_slice(data: &[u8]) {
    let run = run_slice(data, Limits::default());
    match (rdb_reader::read_keyspace(data), run.error) {
        (Ok(ks), None) => {
            let keys: usize = ks.dbs.values().map(|d| d.entries.len()).sum();
            assert_eq!(
                keys as u64, run.keys,
                "read_keyspace key count differs from the Key events"
            );
        }
        (Err(e), Some((code, off))) => {
            assert_eq!(
                (e.code(), e.offset()),
                (code, off),
                "read_keyspace fails differently from the parser"
            );
        }
        (Ok(_), Some(err)) => panic!("read_keyspace succeeds, the parser fails with {err:?}"),
        (Err(e), None) => panic!("read_keyspace fails ({e}), the parser succeeds"),
    }
}

/// One event of a run with `skip_key` after every key: what the plain run must also show.
fn skip_run(data: &[u8]) -> Vec<SkipStep> {
    skip_run_with(data, false)
}

/// [`skip_run`], in skim mode when `skim` (`Parser::set_skim`).
fn skip_run_with(data: &[u8], skim: bool) -> Vec<SkipStep> {
    let mut p = Parser::new(SliceSource::new(data), Limits::default());
    p.set_skim(skim);
    let mut out = Vec::new();
    loop {
        match p.next_event() {
            Ok(Some(ev)) => {
                let is_key = matches!(ev, Event::Key(_));
                out.push(SkipStep::Event(crate::events::fingerprint(&ev)));
                if is_key {
                    match p.skip_key() {
                        Ok(()) => out.push(SkipStep::Skipped(p.offset())),
                        Err(e) => {
                            out.push(SkipStep::Error(e.code(), e.offset()));
                            break;
                        }
                    }
                }
            }
            Ok(None) => break,
            Err(e) => {
                out.push(SkipStep::Error(e.code(), e.offset()));
                break;
            }
        }
    }
    out
}

#[derive(Debug, PartialEq)]
enum SkipStep {
    Event(String),
    /// A key skipped; the parser's offset after it.
    Skipped(u64),
    Error(&'static str, u64),
}

/// The plain run, with each key's inner events folded into one [`SkipStep::Skipped`] (the
/// offset after its `KeyEnd`). A key whose decoding failed ends the list with
/// `Event(key)` then nothing (what skipping does there is not constrained).
fn folded_full_run(data: &[u8]) -> (Vec<SkipStep>, bool) {
    let mut p = Parser::new(SliceSource::new(data), Limits::default());
    let mut out = Vec::new();
    let mut in_key = false;
    loop {
        match p.next_event() {
            Ok(Some(ev)) => {
                let fp = crate::events::fingerprint(&ev);
                let key_end = matches!(ev, Event::KeyEnd);
                let key = matches!(ev, Event::Key(_));
                if key_end {
                    in_key = false;
                    out.push(SkipStep::Skipped(p.offset()));
                } else if key {
                    in_key = true;
                    out.push(SkipStep::Event(fp));
                } else if !in_key {
                    out.push(SkipStep::Event(fp));
                }
            }
            Ok(None) => return (out, false),
            Err(e) => {
                if in_key {
                    return (out, true);
                }
                out.push(SkipStep::Error(e.code(), e.offset()));
                return (out, false);
            }
        }
    }
}

/// Slice vs one-byte `Read` vs random-chunk `Read` vs a windowed file map give identical
/// event fingerprints (same events, same error code and offset), also with
/// `Limits::whole_strings` and with compact values handed over by `Parser::drain_blob`;
/// `Parser::skip_key` on every key never panics and ends where full decoding ends, also in
/// skim mode (`Parser::set_skim`) wherever full decoding succeeds.
pub fn read_stream_equivalence(data: &[u8]) {
    let limits = Limits::default();
    let slice = crate::events::run(Parser::new(SliceSource::new(data), limits));
    let one = crate::events::run(rdb_reader::stream_parser(OneByteReader::new(data), limits));
    assert_eq!(slice, one, "slice and one-byte stream differ");
    let drained = crate::events::run_draining(Parser::new(SliceSource::new(data), limits));
    assert_eq!(slice, drained, "slice with Parser::drain_blob differs");
    let seed = seed_of(data);
    let max = [1usize, 2, 3, 7, 16, 64, 1000, 70_000][(seed % 8) as usize];
    // Plain, then string keys given whole (the verifier's mode), which stand for the same events.
    let whole = Limits {
        whole_strings: true,
        ..limits
    };
    for (mode, l) in [("plain", limits), ("whole string keys", whole)] {
        if l.whole_strings {
            let slice_whole = crate::events::run(Parser::new(SliceSource::new(data), l));
            assert_eq!(slice, slice_whole, "{mode}: slice differs");
        }
        let chunked = crate::events::run(rdb_reader::stream_parser(
            RandomChunkReader::new(data, seed, max),
            l,
        ));
        assert_eq!(
            slice, chunked,
            "{mode}: slice and random-chunk stream differ (seed {seed}, max {max})"
        );
    }
    // The windowed map of a file (how `rdb-verify` reads regular files), smallest windows.
    let path = std::env::temp_dir().join(format!(
        "rdbkit-fuzz-window-{}-{:?}.rdb",
        std::process::id(),
        std::thread::current().id()
    ));
    std::fs::write(&path, data).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let source = rdb_reader::WindowSource::with_window(&path, limits.stream_buffer(), 0)
        .unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let windowed = crate::events::run(Parser::new(source, limits));
    let _ = std::fs::remove_file(&path);
    assert_eq!(slice, windowed, "slice and windowed file map differ");
    // A reader that fails with an I/O error part-way gives the same events up to there.
    let cut = (seed >> 8) as usize % (data.len() + 1);
    let failing = crate::events::run(rdb_reader::stream_parser(FailAt { data, at: cut }, limits));
    if let Some(last) = failing.last() {
        if last.starts_with("error io ") {
            assert!(
                slice.starts_with(&failing[..failing.len() - 1]),
                "events before an I/O error differ from the slice run"
            );
        } else {
            assert_eq!(
                failing, slice,
                "a reader failing at {cut} changed a run that ended before it"
            );
        }
    }

    // skip_key: the skipping run equals the full run with each key folded.
    let (full, failed_in_key) = folded_full_run(data);
    let skip = skip_run(data);
    if failed_in_key {
        // Up to and including the Key event of the failing key, both agree.
        assert!(
            skip.len() >= full.len(),
            "skip run shorter than the full run before a failing key"
        );
        assert_eq!(
            skip[..full.len()],
            full[..],
            "skip run differs before the failing key"
        );
    } else {
        assert_eq!(skip, full, "skip_key run differs from the full run");
    }

    // Skim mode: the same records and key ends as the full run wherever that run has no
    // error (a skim does not look inside values, so it may pass where the full run fails;
    // compact values' key events have no length hint).
    let skim: Vec<SkipStep> = skip_run_with(data, true)
        .into_iter()
        .map(without_len_hint)
        .collect();
    let full: Vec<SkipStep> = full.into_iter().map(without_len_hint).collect();
    let full_ok = !failed_in_key && !matches!(full.last(), Some(SkipStep::Error(..)));
    if full_ok {
        assert_eq!(skim, full, "skim run differs from the full run");
    } else {
        let before = full.len().saturating_sub(1);
        assert!(
            skim.len() >= before && skim[..before] == full[..before],
            "skim run differs from the full run before its error"
        );
    }
}

/// A key event's fingerprint without its `len_hint` (other steps unchanged).
fn without_len_hint(step: SkipStep) -> SkipStep {
    match step {
        SkipStep::Event(fp) if fp.starts_with("key @") => match fp.rfind(" len") {
            Some(i) => SkipStep::Event(fp[..i].to_string()),
            None => SkipStep::Event(fp),
        },
        other => other,
    }
}

/// A reader that returns an I/O error once `at` bytes were delivered.
struct FailAt<'a> {
    data: &'a [u8],
    at: usize,
}

impl Read for FailAt<'_> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        if self.at == 0 && !self.data.is_empty() {
            return Err(std::io::Error::other("injected failure"));
        }
        let n = buf.len().min(self.data.len()).min(self.at.max(1)).min(13);
        let (head, tail) = self.data.split_at(n);
        buf[..n].copy_from_slice(head);
        self.data = tail;
        self.at = self.at.saturating_sub(n);
        Ok(n)
    }
}

// ----- element lists ----------------------------------------------------------------------------

/// An owned element for building blobs from fuzz bytes.
#[derive(Debug, Clone, PartialEq)]
enum OwnedEl {
    Str(Vec<u8>),
    Int(i64),
}

impl OwnedEl {
    fn el(&self) -> Element<'_> {
        match self {
            OwnedEl::Str(s) => Element::Str(s),
            OwnedEl::Int(v) => Element::Int(*v),
        }
    }
}

const INT_EDGES: &[i64] = &[
    0,
    12,
    13,
    127,
    128,
    -1,
    -128,
    -129,
    4095,
    4096,
    -4096,
    -4097,
    32767,
    32768,
    -32768,
    -32769,
    (1 << 23) - 1,
    1 << 23,
    -(1 << 23),
    -(1 << 23) - 1,
    i32::MAX as i64,
    i32::MAX as i64 + 1,
    i32::MIN as i64,
    i32::MIN as i64 - 1,
    i64::MAX,
    i64::MIN,
];

const STR_EDGES: &[usize] = &[31, 32, 63, 64, 253, 254, 255, 4095, 4096, 16383, 16384];

/// A list of elements: ints of every width, short strings from the input, long cheap strings.
fn gen_elements(inp: &mut Input<'_>) -> Vec<OwnedEl> {
    let mut out = Vec::new();
    while !inp.is_empty() && out.len() < 2000 {
        let t = inp.u8();
        let e = match t % 6 {
            0 => OwnedEl::Int(INT_EDGES[usize::from(t / 6) % INT_EDGES.len()]),
            1 => {
                let w = [1usize, 2, 3, 4, 8][usize::from(t / 6) % 5];
                let raw = inp.uint(w);
                let shift = 64 - 8 * w as u32;
                OwnedEl::Int(((raw << shift) as i64) >> shift)
            }
            2 | 3 => OwnedEl::Str(inp.bytes(usize::from(t / 6)).to_vec()),
            4 => {
                let n = STR_EDGES[usize::from(t / 6) % STR_EDGES.len()];
                OwnedEl::Str(vec![inp.u8(); n])
            }
            _ => {
                // Digit strings: canonical or not (leading zeros, signs, overflow).
                let n = usize::from(t / 6) % 21;
                let s: Vec<u8> = inp
                    .bytes(n)
                    .iter()
                    .map(|b| b"0123456789-+ "[usize::from(*b) % 13])
                    .collect();
                OwnedEl::Str(s)
            }
        };
        out.push(e);
    }
    out
}

// ----- codecs -----------------------------------------------------------------------------------

/// Listpack: decoding never panics, `validate` / `elements` / the cursor agree, and whatever
/// decodes re-encodes through [`ListpackBuilder`] and decodes to the same elements.
pub fn codec_listpack(data: &[u8]) {
    let mut inp = Input::new(data);
    match inp.u8() % 4 {
        0 => check_listpack_blob(inp.rest()),
        1 => {
            // Fix up the header so the fuzzer reaches the entries.
            let mut blob = inp.rest().to_vec();
            if blob.len() >= 7 {
                let n = (blob.len() as u32).to_le_bytes();
                blob[..4].copy_from_slice(&n);
                if let Some(l) = blob.last_mut() {
                    *l = 0xFF;
                }
            }
            check_listpack_blob(&blob);
        }
        _ => {
            let els = gen_elements(&mut inp);
            let mut b = ListpackBuilder::new();
            for e in &els {
                let before = b.size();
                match e {
                    OwnedEl::Str(s) if before.is_multiple_of(2) => {
                        b.push_bytes(s);
                        assert_eq!(
                            b.size() - before,
                            ListpackBuilder::entry_size(s),
                            "entry_size of {s:?}"
                        );
                    }
                    _ => b.push(e.el()),
                }
            }
            let blob = b.finish().to_vec();
            let got = listpack::elements(&blob)
                .unwrap_or_else(|e| panic!("built listpack does not decode: {e}"));
            assert_eq!(got.len(), els.len());
            for (g, w) in got.iter().zip(&els) {
                match w {
                    OwnedEl::Int(v) => assert_eq!(*g, Element::Int(*v)),
                    OwnedEl::Str(s) => assert_eq!(g.to_vec(), *s, "string element changed"),
                }
            }
            check_listpack_blob(&blob);
        }
    }
}

fn check_listpack_blob(blob: &[u8]) {
    let els = listpack::elements(blob);
    let count = listpack::validate(blob);
    // The cursor, step by step, with element_at at each position.
    let mut stepped = Vec::new();
    let cursor_result = ListpackCursor::new(blob).and_then(|mut c| loop {
        let pos = c.position();
        match c.next(blob)? {
            Some(e) => {
                assert_eq!(
                    listpack::element_at(blob, pos).ok(),
                    Some(e),
                    "element_at({pos}) differs from the cursor"
                );
                stepped.push(e);
            }
            None => {
                assert!(
                    c.next(blob).is_ok_and(|e| e.is_none()),
                    "cursor not fused at the end"
                );
                break Ok(c.seen());
            }
        }
    });
    match (&els, &count, &cursor_result) {
        (Ok(v), Ok(n), Ok(m)) => {
            assert_eq!(v.len() as u32, *n);
            assert_eq!(*n, *m);
            assert_eq!(*v, stepped);
        }
        (Err(a), Err(b), Err(c)) => {
            assert_eq!(a, b, "elements and validate fail differently");
            assert_eq!(a, c, "elements and the cursor fail differently");
            assert!(
                a.offset <= blob.len(),
                "listpack error offset beyond the blob"
            );
        }
        _ => panic!("listpack decoders disagree: {els:?} / {count:?} / {cursor_result:?}"),
    }
    let Ok(els) = els else { return };
    // Re-encode exactly (same element kinds) and canonically (push_bytes).
    let mut b = ListpackBuilder::new();
    for e in &els {
        b.push(*e);
    }
    let exact = b.finish().to_vec();
    assert_eq!(
        listpack::elements(&exact).as_deref(),
        Ok(&els[..]),
        "exact re-encoding decodes differently"
    );
    if exact.len() == blob.len() && els.len() < usize::from(listpack::COUNT_UNKNOWN) {
        // Every element of a decoded blob is at least as large as the builder's (minimal)
        // encoding of it, so equal sizes mean every encoding is minimal: identical bytes,
        // provided the header declares the real count.
        let h = listpack::check_header(blob).map(|h| h.num_elements);
        if h == Ok(els.len() as u16) {
            assert_eq!(
                exact, blob,
                "re-encoding a minimal listpack changed its bytes"
            );
        }
    }
    let mut b = ListpackBuilder::new();
    for e in &els {
        b.push_bytes(&e.to_vec());
    }
    let canon = b.finish().to_vec();
    let back = listpack::elements(&canon)
        .unwrap_or_else(|e| panic!("canonical re-encoding does not decode: {e}"));
    assert_eq!(
        logical(&back),
        logical(&els),
        "canonical re-encoding changed the logical elements"
    );
}

/// Ziplist: decoding never panics, `validate` / `elements` agree, and whatever decodes
/// re-encodes through [`ZiplistBuilder`] and decodes to the same elements.
pub fn codec_ziplist(data: &[u8]) {
    let mut inp = Input::new(data);
    match inp.u8() % 4 {
        0 => check_ziplist_blob(inp.rest()),
        1 => {
            // Fix up zlbytes, the terminator, and the tail offset and the count from a
            // lenient walk of the entries (raw bytes almost never have them right).
            let mut blob = inp.rest().to_vec();
            if blob.len() >= 11 {
                let n = (blob.len() as u32).to_le_bytes();
                blob[..4].copy_from_slice(&n);
                if let Some(l) = blob.last_mut() {
                    *l = 0xFF;
                }
                let (tail, count) = ziplist_walk(&blob);
                blob[4..8].copy_from_slice(&tail.to_le_bytes());
                blob[8..10].copy_from_slice(&count.to_le_bytes());
            }
            check_ziplist_blob(&blob);
        }
        _ => {
            let els = gen_elements(&mut inp);
            let mut b = ZiplistBuilder::new();
            for (i, e) in els.iter().enumerate() {
                match e {
                    OwnedEl::Int(v) => b.push_int(*v),
                    OwnedEl::Str(s) if i % 2 == 0 => b.push_bytes(s),
                    OwnedEl::Str(s) => b.push_str(s),
                }
            }
            let blob = b.finish().to_vec();
            // The fix-up's walk (mode 1) finds what the builder wrote in the header.
            let (tail, count) = ziplist_walk(&blob);
            let header_tail = blob.get(4..8).and_then(|b| b.try_into().ok());
            let header_count = blob.get(8..10).and_then(|b| b.try_into().ok());
            assert_eq!(
                header_tail.map(u32::from_le_bytes),
                Some(tail),
                "ziplist_walk: tail offset"
            );
            if els.len() < usize::from(u16::MAX) {
                assert_eq!(
                    header_count.map(u16::from_le_bytes),
                    Some(count),
                    "ziplist_walk: count"
                );
            }
            let got = ziplist::elements(&blob)
                .unwrap_or_else(|e| panic!("built ziplist does not decode: {e}"));
            assert_eq!(got.len(), els.len());
            for (g, w) in got.iter().zip(&els) {
                match w {
                    OwnedEl::Int(v) => assert_eq!(*g, Element::Int(*v)),
                    OwnedEl::Str(s) => assert_eq!(g.to_vec(), *s, "string element changed"),
                }
            }
            check_ziplist_blob(&blob);
        }
    }
}

/// The offset of the last entry of a ziplist blob (10 when there is none) and the number of
/// entries, from a walk that reads each entry's prevlen and encoding for its size and stops
/// at the terminator or at an entry that would not end before the blob's last byte; the
/// entries' contents and prevlens are not checked (the decoder under test does that).
pub fn ziplist_walk(blob: &[u8]) -> (u32, u16) {
    let byte = |at: usize| blob.get(at).copied().map(usize::from);
    let end = blob.len().saturating_sub(1);
    let (mut pos, mut last, mut count) = (10usize, 10usize, 0u16);
    while pos < end && byte(pos) != Some(0xFF) {
        let Some(enc_at) = byte(pos).map(|p| pos + if p == 0xFE { 5 } else { 1 }) else {
            break;
        };
        let Some(enc) = byte(enc_at) else { break };
        let size = match enc >> 6 {
            0 => Some(1 + (enc & 0x3F)),
            1 => byte(enc_at + 1).map(|b| 2 + (((enc & 0x3F) << 8) | b)),
            2 => blob
                .get(enc_at + 1..enc_at + 5)
                .and_then(|b| <[u8; 4]>::try_from(b).ok())
                .map(|b| 5 + u32::from_be_bytes(b) as usize),
            _ => Some(match enc {
                0xC0 => 3,
                0xD0 => 5,
                0xE0 => 9,
                0xF0 => 4,
                0xFE => 2,
                _ => 1,
            }),
        };
        let Some(next) = size.map(|n| enc_at + n).filter(|&n| n <= end) else {
            break;
        };
        last = pos;
        count = count.saturating_add(1);
        pos = next;
    }
    (last as u32, count)
}

fn check_ziplist_blob(blob: &[u8]) {
    let els = ziplist::elements(blob);
    let count = ziplist::validate(blob);
    match (&els, &count) {
        (Ok(v), Ok(n)) => assert_eq!(v.len() as u32, *n),
        (Err(a), Err(b)) => {
            assert_eq!(a, b, "elements and validate fail differently");
            assert!(
                a.offset <= blob.len(),
                "ziplist error offset beyond the blob"
            );
        }
        _ => panic!("ziplist decoders disagree: {els:?} / {count:?}"),
    }
    let Ok(els) = els else { return };
    let mut b = ZiplistBuilder::new();
    for e in &els {
        match e {
            Element::Int(v) => b.push_int(*v),
            Element::Str(s) => b.push_str(s),
        }
    }
    let exact = b.finish().to_vec();
    assert_eq!(
        ziplist::elements(&exact).as_deref(),
        Ok(&els[..]),
        "exact re-encoding decodes differently"
    );
    let mut b = ZiplistBuilder::new();
    for e in &els {
        b.push_bytes(&e.to_vec());
    }
    let canon = b.finish().to_vec();
    let back = ziplist::elements(&canon)
        .unwrap_or_else(|e| panic!("canonical re-encoding does not decode: {e}"));
    assert_eq!(
        logical(&back),
        logical(&els),
        "canonical re-encoding changed the logical elements"
    );
}

/// Intset: parsing never panics; a parsed, sorted intset re-encodes (smallest width) to the
/// same values, byte-identical when its width was minimal; encoded values parse back.
pub fn codec_intset(data: &[u8]) {
    let mut inp = Input::new(data);
    let mode = inp.u8();
    if mode.is_multiple_of(2) {
        let mut blob = inp.rest().to_vec();
        if mode % 4 == 2 && blob.len() >= 8 {
            // Fix up the length field for the width given.
            let w = u32::from_le_bytes([blob[0], blob[1], blob[2], blob[3]]) as usize;
            if matches!(w, 2 | 4 | 8) {
                let n = ((blob.len() - 8) / w) as u32;
                blob.truncate(8 + n as usize * w);
                blob[4..8].copy_from_slice(&n.to_le_bytes());
            }
        }
        let Ok(set) = Intset::parse(&blob) else {
            return;
        };
        let vals: Vec<i64> = set.iter().collect();
        assert_eq!(vals.len(), set.len());
        assert!(!set.is_empty());
        assert_eq!(set.get(set.len()), None);
        for (i, v) in vals.iter().enumerate() {
            assert_eq!(set.get(i), Some(*v));
        }
        let sorted = vals.windows(2).all(|w| w[0] < w[1]);
        assert_eq!(set.check_sorted().is_ok(), sorted, "check_sorted disagrees");
        if sorted {
            let mut out = Vec::new();
            intset::encode(&vals, &mut out);
            let again = Intset::parse(&out)
                .unwrap_or_else(|e| panic!("re-encoded intset does not parse: {e}"));
            assert_eq!(again.iter().collect::<Vec<_>>(), vals);
            assert!(again.width_is_minimal());
            if set.width_is_minimal() {
                assert_eq!(out, blob, "re-encoding a minimal intset changed its bytes");
            }
        }
    } else {
        let mut vals = BTreeSet::new();
        while !inp.is_empty() {
            let t = inp.u8();
            let v = if t.is_multiple_of(3) {
                INT_EDGES[usize::from(t / 3) % INT_EDGES.len()]
            } else {
                let w = [2usize, 4, 8][usize::from(t) % 3];
                let raw = inp.uint(w);
                let shift = 64 - 8 * w as u32;
                ((raw << shift) as i64) >> shift
            };
            vals.insert(v);
        }
        let vals: Vec<i64> = vals.into_iter().collect();
        let mut out = Vec::new();
        intset::encode(&vals, &mut out);
        match Intset::parse(&out) {
            Ok(set) => {
                assert_eq!(set.iter().collect::<Vec<_>>(), vals);
                assert!(set.check_sorted().is_ok());
                assert!(set.width_is_minimal());
                let want = vals
                    .iter()
                    .copied()
                    .map(intset::width_for)
                    .max()
                    .unwrap_or(2);
                assert_eq!(set.width(), want);
            }
            Err(e) => assert!(vals.is_empty(), "encoded intset does not parse: {e}"),
        }
    }
}

fn zipmap_len(n: usize, out: &mut Vec<u8>) {
    if n < 254 {
        out.push(n as u8);
    } else {
        out.push(254);
        out.extend_from_slice(&(n as u32).to_le_bytes());
    }
}

/// Encodes pairs as a zipmap with `free` unused bytes after each value.
fn zipmap_encode(pairs: &[(Vec<u8>, Vec<u8>)], free: &[u8]) -> Vec<u8> {
    let mut out = vec![u8::try_from(pairs.len()).unwrap_or(254).min(254)];
    for (i, (k, v)) in pairs.iter().enumerate() {
        zipmap_len(k.len(), &mut out);
        out.extend_from_slice(k);
        zipmap_len(v.len(), &mut out);
        let f = free.get(i).copied().unwrap_or(0) % 5;
        out.push(f);
        out.extend_from_slice(v);
        out.extend(std::iter::repeat_n(0xAA, usize::from(f)));
    }
    out.push(0xFF);
    out
}

/// Owned key/value pairs of a zipmap.
type Pairs = Vec<(Vec<u8>, Vec<u8>)>;

fn zipmap_pairs(blob: &[u8]) -> Result<Pairs, rdb_format::CodecError> {
    let mut c = ZipmapCursor::new(blob)?;
    let mut out = Vec::new();
    while let Some((k, v)) = c.next(blob)? {
        out.push((k.to_vec(), v.to_vec()));
    }
    assert_eq!(c.seen() as usize, out.len());
    Ok(out)
}

/// Zipmap: decoding never panics; decoded pairs re-encode (with and without free bytes) and
/// decode to the same pairs; built zipmaps decode.
pub fn codec_zipmap(data: &[u8]) {
    let mut inp = Input::new(data);
    let mode = inp.u8();
    let pairs = if mode.is_multiple_of(2) {
        let blob = inp.rest();
        match zipmap_pairs(blob) {
            Ok(p) => p,
            Err(e) => {
                assert!(e.offset <= blob.len());
                return;
            }
        }
    } else {
        let els = gen_elements(&mut inp);
        els.chunks_exact(2)
            .map(|kv| (kv[0].el().to_vec(), kv[1].el().to_vec()))
            .collect()
    };
    for free in [&[][..], data] {
        let blob = zipmap_encode(&pairs, free);
        match zipmap_pairs(&blob) {
            Ok(back) => assert_eq!(back, pairs, "zipmap re-encoding decodes differently"),
            Err(e) => assert!(
                pairs.is_empty() && e.code == "zipmap-empty",
                "encoded zipmap does not decode: {e}"
            ),
        }
    }
}

/// One decoded stream node entry.
#[derive(Debug, Clone, PartialEq)]
struct NodeEnt {
    id: (u64, u64),
    deleted: bool,
    fields: Vec<(OwnedEl, OwnedEl)>,
}

fn owned(e: Element<'_>) -> OwnedEl {
    match e {
        Element::Str(s) => OwnedEl::Str(s.to_vec()),
        Element::Int(v) => OwnedEl::Int(v),
    }
}

/// A decoded stream node: live and deleted counts of its master entry, its entries, and the
/// listpack header's `(declared, found)` element counts when they differ.
type DecodedNode = (u64, u64, Vec<NodeEnt>, Option<(u16, u32)>);

/// A valid stream node (master fields `name`, `age`; three entries, one deleted, one with
/// other fields) on which a cursor is primed before [`StreamNodeCursor::reset`] moves it to
/// the node under test.
const PRIMING_NODE: [u8; 73] = [
    0x49, 0, 0, 0, 0x19, 0, 0x02, 0x01, 0x01, 0x01, 0x02, 0x01, 0x84, b'n', b'a', b'm', b'e', 0x05,
    0x83, b'a', b'g', b'e', 0x04, 0x00, 0x01, 0x02, 0x01, 0x00, 0x01, 0x00, 0x01, 0x81, b'a', 0x02,
    0x01, 0x01, 0x05, 0x01, 0x03, 0x01, 0x00, 0x01, 0x01, 0x01, 0x81, b'b', 0x02, 0x02, 0x01, 0x05,
    0x01, 0x00, 0x01, 0x01, 0x01, 0xdf, 0xff, 0x02, 0x01, 0x01, 0x85, b'o', b't', b'h', b'e', b'r',
    0x06, 0x81, b'x', 0x02, 0x06, 0x01, 0xff,
];

/// Decodes a whole stream node ([`DecodedNode`]) with a new cursor, and again with a cursor
/// that walked [`PRIMING_NODE`] first and was then `reset` onto it (as the parser reuses one
/// from node to node): both must give the same result, error included.
fn decode_node(blob: &[u8], ms: u64, seq: u64) -> Result<DecodedNode, rdb_format::CodecError> {
    let fresh = StreamNodeCursor::new(blob, ms, seq).and_then(|c| decode_with(c, blob));
    let mut primed = StreamNodeCursor::new(&PRIMING_NODE, 1, 1)
        .unwrap_or_else(|e| panic!("the priming node is valid: {e}"));
    let _ = primed.next_entry(&PRIMING_NODE);
    let _ = primed.next_entry(&PRIMING_NODE);
    let reused = primed
        .reset(blob, ms, seq)
        .and_then(|()| decode_with(primed, blob));
    assert_eq!(
        format!("{fresh:?}"),
        format!("{reused:?}"),
        "a reset cursor decodes the node differently from a new one"
    );
    fresh
}

/// Walks a stream node with cursor `c` (at its first entry).
fn decode_with(
    mut c: StreamNodeCursor,
    blob: &[u8],
) -> Result<DecodedNode, rdb_format::CodecError> {
    let mut out = Vec::new();
    while let Some(e) = c.next_entry(blob)? {
        assert_eq!(e.fields, c.positions().len());
        let mut fields = Vec::with_capacity(e.fields);
        for i in 0..e.fields {
            let (f, v) = c.field(blob, i)?;
            fields.push((owned(f), owned(v)));
        }
        out.push(NodeEnt {
            id: (e.ms, e.seq),
            deleted: e.deleted,
            fields,
        });
    }
    assert_eq!(
        c.flagged_deleted(),
        out.iter().filter(|e| e.deleted).count() as u64
    );
    assert_eq!(
        c.count + c.deleted,
        out.len() as u64,
        "entry count differs from the master entry"
    );
    Ok((c.count, c.deleted, out, c.header_count_mismatch()))
}

/// Encodes a stream node the way the server does (master entry, deltas, SAMEFIELDS).
fn encode_node(
    master: (u64, u64),
    count: u64,
    deleted: u64,
    master_fields: &[OwnedEl],
    entries: &[NodeEnt],
) -> Vec<u8> {
    let mut b = ListpackBuilder::new();
    b.push_int(count as i64);
    b.push_int(deleted as i64);
    b.push_int(master_fields.len() as i64);
    for f in master_fields {
        b.push(f.el());
    }
    b.push_int(0);
    for e in entries {
        let same = e.fields.len() == master_fields.len()
            && e.fields.iter().zip(master_fields).all(|((f, _), m)| f == m);
        let flags =
            if e.deleted { FLAG_DELETED } else { 0 } | if same { FLAG_SAMEFIELDS } else { 0 };
        b.push_int(flags);
        b.push_int(e.id.0.wrapping_sub(master.0) as i64);
        b.push_int(e.id.1.wrapping_sub(master.1) as i64);
        if same {
            for (_, v) in &e.fields {
                b.push(v.el());
            }
            b.push_int(master_fields.len() as i64 + 3);
        } else {
            b.push_int(e.fields.len() as i64);
            for (f, v) in &e.fields {
                b.push(f.el());
                b.push(v.el());
            }
            b.push_int(2 * e.fields.len() as i64 + 4);
        }
    }
    b.finish().to_vec()
}

/// Stream node listpacks: decoding never panics; a decoded node re-encodes (server layout)
/// and decodes to the same entries; built nodes decode.
pub fn codec_stream_lp(data: &[u8]) {
    let mut inp = Input::new(data);
    let mode = inp.u8();
    let master = (
        inp.uint(usize::from(mode >> 5)),
        inp.uint(usize::from((mode >> 2) & 7)),
    );
    if mode.is_multiple_of(2) {
        let blob = inp.rest();
        let (count, deleted, entries, mismatch) = match decode_node(blob, master.0, master.1) {
            Ok(r) => r,
            Err(e) => {
                assert!(e.offset <= blob.len());
                return;
            }
        };
        // A fully decoded node is a valid listpack, except for the header's element count,
        // which stream nodes do not check (servers never read it): the generic walk refuses
        // exactly the nodes whose count the cursor reported. Master fields: elements 3..3+n.
        let els = match (listpack::elements(blob), mismatch) {
            (Ok(els), None) => els,
            (Err(e), Some((declared, found))) if e.code == "listpack-count" => {
                let mut c = ListpackCursor::new(blob)
                    .unwrap_or_else(|e| panic!("header checked twice differently: {e}"))
                    .without_count_check();
                let mut els = Vec::new();
                while let Some(el) = c
                    .next(blob)
                    .unwrap_or_else(|e| panic!("only the count was wrong, then: {e}"))
                {
                    els.push(el);
                }
                assert_eq!(els.len() as u64, u64::from(found));
                assert_ne!(u32::from(declared), found);
                els
            }
            (r, m) => panic!(
                "stream node decodes with header count mismatch {m:?}, its listpack walk gives {:?}",
                r.err()
            ),
        };
        let n = match els.get(2) {
            Some(e) => e.as_int().unwrap_or(0) as usize,
            None => panic!("stream node with fewer than 3 elements decoded"),
        };
        let master_fields: Vec<OwnedEl> = els[3..3 + n].iter().map(|e| owned(*e)).collect();
        let blob2 = encode_node(master, count, deleted, &master_fields, &entries);
        let back = decode_node(&blob2, master.0, master.1)
            .unwrap_or_else(|e| panic!("re-encoded node does not decode: {e}"));
        assert_eq!(
            back,
            (count, deleted, entries, None),
            "re-encoded node decodes differently"
        );
    } else {
        let els = gen_elements(&mut inp);
        let nf = els.first().map_or(0, |e| e.el().byte_len() % 4);
        let master_fields: Vec<OwnedEl> = els.iter().skip(1).take(nf).cloned().collect();
        let mut pool = els.iter().skip(1 + nf).cycle();
        let mut entries = Vec::new();
        let mut id = master;
        let mut rng = Rng::new(seed_of(data));
        let n = rng.below(12);
        for i in 0..n {
            if i > 0 {
                id = if rng.next().is_multiple_of(2) {
                    (id.0.wrapping_add(rng.next() % 1000), rng.next() % 3)
                } else {
                    (id.0, id.1.wrapping_add(1))
                };
            }
            let fields = if !master_fields.is_empty() && rng.next().is_multiple_of(2) {
                master_fields
                    .iter()
                    .map(|f| (f.clone(), pool.next().cloned().unwrap_or(OwnedEl::Int(0))))
                    .collect()
            } else {
                (0..rng.below(3))
                    .map(|_| {
                        (
                            pool.next().cloned().unwrap_or(OwnedEl::Int(1)),
                            pool.next().cloned().unwrap_or(OwnedEl::Int(2)),
                        )
                    })
                    .collect()
            };
            entries.push(NodeEnt {
                id,
                deleted: rng.next().is_multiple_of(5),
                fields,
            });
        }
        let deleted = entries.iter().filter(|e| e.deleted).count() as u64;
        let count = entries.len() as u64 - deleted;
        let blob = encode_node(master, count, deleted, &master_fields, &entries);
        let back = decode_node(&blob, master.0, master.1)
            .unwrap_or_else(|e| panic!("built node does not decode: {e}"));
        assert_eq!(
            back,
            (count, deleted, entries, None),
            "built node decodes differently"
        );
    }
}

/// Decodes `input` with a [`StreamDecoder`] fed in chunks of sizes from `rng`.
fn stream_decode(input: &[u8], expected: usize, rng: &mut Rng) -> Result<Vec<u8>, LzfError> {
    let mut dec = StreamDecoder::new(expected as u64);
    let mut out = Vec::new();
    let mut rest = input;
    while !rest.is_empty() {
        let n = rng.below(17).min(rest.len());
        let (chunk, tail) = rest.split_at(n);
        dec.feed(chunk, &mut |b: &[u8]| out.extend_from_slice(b))?;
        rest = tail;
        assert!(
            out.len() <= expected,
            "stream decoder produced more than declared"
        );
    }
    dec.finish()?;
    Ok(out)
}

/// [`StreamValidator`] over chunks of random sizes (small ones cut tokens, large ones take the
/// whole-token fast paths).
fn stream_validate(input: &[u8], expected: usize, rng: &mut Rng) -> Result<(), LzfError> {
    let mut v = StreamValidator::new(expected as u64);
    let mut rest = input;
    while !rest.is_empty() {
        let n = if rng.below(2) == 0 {
            rng.below(17)
        } else {
            rng.below(5000)
        };
        let (chunk, tail) = rest.split_at(n.min(rest.len()));
        v.feed(chunk)?;
        rest = tail;
        assert!(
            v.produced() <= expected as u64,
            "stream validator counted more than declared"
        );
    }
    v.finish()
}

/// LZF: `decompress`, `validate`, [`StreamDecoder`] and [`StreamValidator`] agree; the `lzf`
/// crate agrees on success; our compressor's output decompresses (ours and the crate's) to the
/// input.
pub fn codec_lzf(data: &[u8]) {
    let mut inp = Input::new(data);
    let mode = inp.u8();
    let declared = inp.u16() as usize;
    let input = inp.rest();
    let mut rng = Rng::new(seed_of(data));
    let crate_out = if input.is_empty() {
        None
    } else {
        lzf_crate_decompress(input, 1 << 16)
    };
    let expected = match (mode % 2, &crate_out) {
        (1, Some(v)) => v.len(),
        _ => declared,
    };
    let mut out = vec![0xEE; 3];
    let a = lzf::decompress(input, &mut out, expected);
    let b = lzf::validate(input, expected);
    assert_eq!(a, b, "decompress and validate disagree");
    let c = stream_decode(input, expected, &mut rng);
    let d = stream_validate(input, expected, &mut rng);
    match (&c, &d) {
        (Ok(_), Ok(())) => {}
        (Err(x), Err(y)) => assert_eq!(x, y, "StreamDecoder and StreamValidator fail differently"),
        _ => panic!(
            "StreamDecoder {:?} vs StreamValidator {d:?}",
            c.as_ref().map(Vec::len)
        ),
    }
    match (&a, &c) {
        (Ok(()), Ok(v)) => {
            assert_eq!(out.len(), 3 + expected);
            assert_eq!(
                &out[3..],
                &v[..],
                "decompress and StreamDecoder output differ"
            );
        }
        (Err(LzfError::ImpossibleExpansion { .. }), r) => {
            assert!(r.is_err(), "StreamDecoder decodes an impossible length")
        }
        (Err(x), Err(y)) => assert_eq!(x, y, "decompress and StreamDecoder fail differently"),
        _ => panic!(
            "decompress {a:?} vs StreamDecoder {:?}",
            c.as_ref().map(Vec::len)
        ),
    }
    if a.is_err() {
        assert_eq!(out, [0xEE; 3], "failed decompress left output behind");
    }
    // The lzf crate agrees.
    if !input.is_empty() {
        let theirs = lzf_crate_decompress(input, expected);
        match (&a, &theirs) {
            (Ok(()), Some(v)) => assert_eq!(&out[3..], &v[..], "lzf crate output differs"),
            (Ok(()), None) => panic!("lzf crate rejects a stream we accept"),
            (Err(e), Some(v)) if v.len() == expected => {
                panic!("we reject ({e}) a stream the lzf crate decodes")
            }
            _ => {}
        }
    }
    // Our compressor round-trips.
    let mut comp = Compressor::new();
    for src in [data, input] {
        let mut enc = Vec::new();
        let n = comp
            .compress(src, &mut enc, usize::MAX)
            .unwrap_or_else(|| panic!("compress with no limit failed"));
        assert_eq!(n, enc.len());
        let mut dec = Vec::new();
        lzf::decompress(&enc, &mut dec, src.len())
            .unwrap_or_else(|e| panic!("our compressed stream does not decompress: {e}"));
        assert_eq!(dec, src, "compress → decompress changed the data");
        if !enc.is_empty() {
            assert_eq!(
                lzf_crate_decompress(&enc, src.len()).as_deref(),
                Some(src),
                "lzf crate decodes our stream differently"
            );
        }
        let limit = src.len().saturating_sub(4);
        let mut enc2 = vec![1, 2];
        match comp.compress(src, &mut enc2, limit) {
            Some(n) => {
                assert!(n <= limit, "compressed {n} bytes beyond the limit {limit}");
                assert_eq!(&enc2[2..], &enc[..], "output depends on the limit");
            }
            None => {
                assert_eq!(enc2, [1, 2], "failed compress left output behind");
                assert!(
                    enc.len() > limit,
                    "compress failed under a limit its output fits"
                );
            }
        }
        if let Ok(theirs) = ::lzf::compress(src) {
            let mut dec = Vec::new();
            lzf::decompress(&theirs, &mut dec, src.len())
                .unwrap_or_else(|e| panic!("lzf crate stream does not decompress: {e}"));
            assert_eq!(dec, src);
        }
    }
}

fn lzf_crate_decompress(input: &[u8], expected: usize) -> Option<Vec<u8>> {
    ::lzf::decompress(input, expected).ok()
}

/// Length and string headers: `decode_length` / `decode_string_header` never panic and
/// decoded values re-encode and decode back; `encode_string` output decodes to its input;
/// header, double and integer text round trips.
pub fn codec_length_string(data: &[u8]) {
    for wide in [true, false] {
        if let Ok((l, n)) = decode_length(data, wide) {
            assert!(n <= data.len() && n >= 1);
            assert_eq!(length_size(data[0], wide).ok(), Some(n));
            match l {
                Length::Len(v) => {
                    let mut enc = Vec::new();
                    encode_length(v, &mut enc);
                    assert_eq!(decode_length(&enc, true), Ok((Length::Len(v), enc.len())));
                    if v <= u64::from(u32::MAX) {
                        assert_eq!(decode_length(&enc, false), Ok((Length::Len(v), enc.len())));
                    }
                    assert_eq!(rdb_format::length::encoded_length_size(v), enc.len());
                    assert!(
                        enc.len() <= n,
                        "minimal length encoding is longer than the decoded one"
                    );
                }
                Length::Special(e) => {
                    assert!(e < 64);
                    assert_eq!(n, 1);
                }
            }
        }
        if let Ok((h, n)) = decode_string_header(data, wide) {
            assert!(n <= data.len() && n >= 1);
            let mut enc = Vec::new();
            match h {
                StringHeader::Raw(l) => encode_length(l, &mut enc),
                StringHeader::Int(v) => {
                    let v32 =
                        i32::try_from(v).unwrap_or_else(|_| panic!("int string {v} outside i32"));
                    encode_int_string(v32, &mut enc);
                    let text = IntText::new(v);
                    assert_eq!(string_int_value(text.as_bytes()), Some(v32));
                }
                StringHeader::Lzf {
                    compressed,
                    uncompressed,
                } => {
                    enc.push(0xC3);
                    encode_length(compressed, &mut enc);
                    encode_length(uncompressed, &mut enc);
                }
            }
            assert_eq!(
                decode_string_header(&enc, true),
                Ok((h, enc.len())),
                "re-encoded string header differs"
            );
        }
    }
    // encode_string → header → payload gives the input back, with and without LZF.
    let mut comp = Compressor::new();
    for use_lzf in [false, true] {
        let mut enc = Vec::new();
        encode_string(data, use_lzf.then_some(&mut comp), &mut enc);
        let (h, n) = decode_string_header(&enc, true)
            .unwrap_or_else(|e| panic!("encoded string header does not decode: {e}"));
        let payload = &enc[n..];
        let back = match h {
            StringHeader::Raw(l) => {
                assert_eq!(l as usize, payload.len());
                payload.to_vec()
            }
            StringHeader::Int(v) => {
                assert!(payload.is_empty());
                IntText::new(v).as_bytes().to_vec()
            }
            StringHeader::Lzf {
                compressed,
                uncompressed,
            } => {
                assert!(use_lzf);
                assert_eq!(compressed as usize, payload.len());
                assert!(
                    payload.len() + 4 <= data.len(),
                    "LZF kept although it saves fewer than 4 bytes"
                );
                let mut out = Vec::new();
                lzf::decompress(payload, &mut out, uncompressed as usize)
                    .unwrap_or_else(|e| panic!("encoded LZF string: {e}"));
                out
            }
        };
        assert_eq!(back, data, "encode_string → decode changed the string");
        assert_eq!(
            matches!(h, StringHeader::Int(_)),
            string_int_value(data).is_some()
        );
    }
    // Header.
    if let Some(h9) = data.first_chunk::<9>() {
        if let Ok(h) = Header::parse(h9) {
            assert_eq!(&h.to_bytes(), h9, "header does not re-encode to its bytes");
            assert_eq!(Header::parse(&h.to_bytes()), Ok(h));
        }
    }
    // Old doubles and score text.
    if let Ok((v, n)) = rdb_format::double::decode_old_double(data) {
        assert!(n <= data.len());
        let mut enc = Vec::new();
        rdb_format::double::encode_old_double(v, &mut enc);
        let (w, m) = rdb_format::double::decode_old_double(&enc)
            .unwrap_or_else(|e| panic!("encoded double {v}: {e}"));
        assert_eq!(m, enc.len());
        assert!(
            v.to_bits() == w.to_bits() || (v.is_nan() && w.is_nan()),
            "double {v} came back as {w}"
        );
    }
    if let Some(b) = data.first_chunk::<8>() {
        let v = f64::from_le_bytes(*b);
        let text = rdb_format::double::format_score(v);
        let back = rdb_format::double::parse_double_text(text.as_bytes());
        match back {
            Some(w) => assert!(
                v.to_bits() == w.to_bits() || (v.is_nan() && w.is_nan()),
                "score {v} → {text} → {w}"
            ),
            None => panic!("format_score({v}) = {text:?} does not parse"),
        }
        // Every line's listpack / ziplist score element stands for the same double (−0 may be
        // the integer 0), and its text is never integer-like (a ziplist would store it as an
        // integer).
        use rdb_format::double::{ScoreElement, ScoreStyle};
        for style in [
            ScoreStyle::Ziplist17g,
            ScoreStyle::Listpack17g,
            ScoreStyle::Fpconv,
        ] {
            match style.element(v) {
                ScoreElement::Int(i) => assert!(i as f64 == v, "{style:?}: {v} as integer {i}"),
                ScoreElement::Text(t) => {
                    let w = rdb_format::double::parse_double_text(t.as_bytes());
                    assert!(
                        w.is_some_and(|w| w.to_bits() == v.to_bits() || (v.is_nan() && w.is_nan())),
                        "{style:?}: {v} → {t:?} → {w:?}"
                    );
                    assert!(
                        rdb_format::int::parse_canonical_i64(t.as_bytes()).is_none(),
                        "{style:?}: {v} → integer-like text {t:?}"
                    );
                }
            }
        }
    }
    let _ = rdb_format::double::parse_double_text(data);
    if let Some(v) = rdb_format::int::parse_canonical_i64(data) {
        assert_eq!(
            IntText::new(v).as_bytes(),
            data,
            "canonical int does not print as its text"
        );
    }
}

// ----- model round trip -------------------------------------------------------------------------

fn gen_bytes(inp: &mut Input<'_>) -> Bytes {
    let t = inp.u8();
    match t % 8 {
        0..=2 => Bytes::copy_from_slice(inp.bytes(usize::from(t >> 3))),
        3 => Bytes::from_static(TRICKY[usize::from(t >> 3) % TRICKY.len()]),
        4 => Bytes::from((inp.u64() as i64).to_string()),
        5 => Bytes::from((i64::from(inp.u16() as i16) % 300).to_string()),
        6 => {
            // Long and compressible (LZF, big-value encodings).
            let n = [20usize, 21, 63, 64, 65, 100, 4096, 9000][usize::from(t >> 3) % 8];
            let pat = inp.bytes(1 + usize::from(t >> 6));
            let pat = if pat.is_empty() { &b"x"[..] } else { pat };
            Bytes::from(pat.iter().copied().cycle().take(n).collect::<Vec<u8>>())
        }
        _ => {
            let n = usize::from(inp.u8());
            Bytes::copy_from_slice(inp.bytes(n))
        }
    }
}

fn gen_size(inp: &mut Input<'_>) -> usize {
    let t = inp.u8();
    match t % 8 {
        0..=4 => usize::from(t >> 3) % 8,
        5 => 124 + usize::from(t >> 3) % 8,
        6 => 508 + usize::from(t >> 3) % 8,
        _ => usize::from(inp.u8()),
    }
}

fn gen_score(inp: &mut Input<'_>) -> f64 {
    let t = inp.u8();
    let v = match t % 4 {
        0 => f64::from_bits(inp.u64()),
        1 => f64::from(inp.u16() as i16),
        2 => [
            f64::INFINITY,
            f64::NEG_INFINITY,
            -0.0,
            5e-324,
            f64::MAX,
            f64::MIN,
            4611686018427387904.0,
            0.1,
            9.3e18,
        ][usize::from(t >> 2) % 9],
        _ => f64::from(t >> 2) / 4.0,
    };
    if v.is_nan() {
        1.5
    } else {
        v
    }
}

fn gen_id(inp: &mut Input<'_>) -> StreamId {
    let (a, b) = (usize::from(inp.u8() % 9), usize::from(inp.u8() % 3));
    StreamId::new(inp.uint(a), inp.uint(b))
}

fn gen_stream(inp: &mut Input<'_>) -> Stream {
    let n = usize::from(inp.u8() % 24);
    let mut entries: Vec<StreamEntry> = Vec::with_capacity(n);
    let mut id = StreamId::new(inp.uint(6), inp.uint(1));
    let common = [Bytes::from_static(b"name"), Bytes::from_static(b"n")];
    for i in 0..n {
        if i > 0 {
            let step = inp.u8();
            let next = if step.is_multiple_of(2) {
                id.ms
                    .checked_add(1 + u64::from(step >> 1))
                    .map(|ms| StreamId::new(ms, u64::from(step % 3)))
            } else {
                id.seq.checked_add(1).map(|seq| StreamId::new(id.ms, seq))
            };
            match next {
                Some(x) => id = x,
                None => break,
            }
        }
        let k = inp.u8();
        let fields = if !k.is_multiple_of(3) {
            common.iter().map(|f| (f.clone(), gen_bytes(inp))).collect()
        } else {
            let names = distinct(
                (0..1 + usize::from(k >> 6))
                    .map(|_| gen_bytes(inp))
                    .collect(),
            );
            names.into_iter().map(|f| (f, gen_bytes(inp))).collect()
        };
        entries.push(StreamEntry { id, fields });
    }
    let last = entries.last().map(|e| e.id).unwrap_or_default();
    let last_id = if inp.bool() {
        last
    } else {
        StreamId::new(last.ms.saturating_add(u64::from(inp.u8())), inp.uint(1)).max(last)
    };
    let opt_id = |inp: &mut Input<'_>| if inp.bool() { Some(gen_id(inp)) } else { None };
    let first_id = opt_id(inp);
    let max_deleted_id = opt_id(inp);
    let entries_added = if inp.bool() { Some(inp.uint(3)) } else { None };
    let ngroups = usize::from(inp.u8() % 3);
    let names = distinct((0..ngroups).map(|_| gen_bytes(inp)).collect());
    let mut groups = Vec::new();
    for name in names {
        let ncons = 1 + usize::from(inp.u8() % 3);
        let cnames = distinct((0..ncons).map(|_| gen_bytes(inp)).collect());
        let mut consumers: Vec<Consumer> = cnames
            .into_iter()
            .map(|name| Consumer {
                name,
                seen_time_ms: inp.u64() as i64,
                active_time_ms: if inp.bool() {
                    Some(inp.u64() as i64)
                } else {
                    None
                },
                pel: Vec::new(),
            })
            .collect();
        let mut pel = Vec::new();
        for e in &entries {
            let t = inp.u8();
            if t.is_multiple_of(3) {
                pel.push(PendingEntry {
                    id: e.id,
                    delivery_time_ms: inp.u64() as i64,
                    delivery_count: inp.uint(2),
                });
                let owner = usize::from(t >> 2) % consumers.len();
                consumers[owner].pel.push(e.id);
            }
        }
        let last_delivered_id = if inp.bool() { last } else { gen_id(inp) };
        let entries_read = match inp.u8() % 3 {
            0 => None,
            1 => Some(-1),
            _ => Some(inp.uint(3) as i64),
        };
        groups.push(ConsumerGroup {
            name,
            last_delivered_id,
            entries_read,
            pel,
            consumers,
        });
    }
    Stream {
        length: entries.len() as u64,
        entries,
        last_id,
        first_id,
        max_deleted_id,
        entries_added,
        groups,
    }
}

/// A valid module opcode stream (SINT/UINT/FLOAT/DOUBLE/STRING items, then EOF).
fn gen_module_raw(inp: &mut Input<'_>) -> Bytes {
    let mut raw = Vec::new();
    for _ in 0..inp.u8() % 6 {
        match inp.u8() % 5 {
            0 => {
                raw.push(1);
                encode_length(inp.u64(), &mut raw);
            }
            1 => {
                raw.push(2);
                encode_length(inp.uint(2), &mut raw);
            }
            2 => {
                raw.push(3);
                raw.extend_from_slice(&(inp.uint(4) as u32).to_le_bytes());
            }
            3 => {
                raw.push(4);
                raw.extend_from_slice(&f64::from(inp.u16()).to_le_bytes());
            }
            _ => {
                raw.push(5);
                rdb_format::string::encode_raw_string(&gen_bytes(inp), &mut raw);
            }
        }
    }
    raw.push(0);
    Bytes::from(raw)
}

fn gen_value(inp: &mut Input<'_>) -> Value {
    match inp.u8() % 8 {
        0 | 1 => Value::String(gen_bytes(inp)),
        2 => Value::List((0..gen_size(inp)).map(|_| gen_bytes(inp)).collect()),
        3 => {
            let n = gen_size(inp);
            if inp.bool() {
                let ints = (0..n).map(|_| {
                    let w = usize::from(inp.u8() % 9);
                    Bytes::from((inp.uint(w) as i64).to_string())
                });
                Value::Set(distinct(ints.collect()))
            } else {
                Value::Set(distinct((0..n).map(|_| gen_bytes(inp)).collect()))
            }
        }
        4 => {
            let n = gen_size(inp);
            let members = distinct((0..n).map(|_| gen_bytes(inp)).collect());
            Value::SortedSet(members.into_iter().map(|m| (m, gen_score(inp))).collect())
        }
        5 => {
            let n = gen_size(inp);
            let fields = distinct((0..n).map(|_| gen_bytes(inp)).collect());
            Value::Hash(
                fields
                    .into_iter()
                    .map(|field| HashField {
                        field,
                        value: gen_bytes(inp),
                        expire_at_ms: if inp.u8().is_multiple_of(4) {
                            Some(1 + (inp.u64() % ((1 << 48) - 1)) as i64)
                        } else {
                            None
                        },
                    })
                    .collect(),
            )
        }
        6 => Value::Stream(Box::new(gen_stream(inp))),
        _ => Value::Module(ModuleValue {
            module_id: if inp.bool() {
                0x45E2_5238_DF91_2C03
            } else {
                inp.u64()
            },
            raw: gen_module_raw(inp),
        }),
    }
}

fn gen_keyspace(inp: &mut Input<'_>, db0_only: bool) -> Keyspace {
    let mut ks = Keyspace::default();
    for i in 0..inp.u8() % 3 {
        let mut code = format!("#!lua name=lib{i}\n").into_bytes();
        code.extend_from_slice(&gen_bytes(inp));
        ks.functions.push(Bytes::from(code));
    }
    for _ in 0..inp.u8() % 3 {
        ks.module_aux.push(ModuleAux {
            module_id: inp.u64(),
            when: 1 + u64::from(inp.u8() % 2),
            raw: gen_module_raw(inp),
        });
    }
    let ndbs = 1 + inp.u8() % 2;
    for _ in 0..ndbs {
        let db = if db0_only {
            0
        } else {
            u32::from(inp.u8() % 16)
        };
        let nkeys = 1 + usize::from(inp.u8() % 6);
        let keys = distinct(
            ks.dbs
                .get(&db)
                .map(|d| d.entries.iter().map(|e| e.key.clone()).collect::<Vec<_>>())
                .unwrap_or_default()
                .into_iter()
                .chain((0..nkeys).map(|_| gen_bytes(inp)))
                .collect(),
        );
        let known = ks.dbs.get(&db).map_or(0, |d| d.entries.len());
        for key in keys.into_iter().skip(known) {
            let value = gen_value(inp);
            let mut e = Entry::new(key, value);
            let m = inp.u8();
            if m & 1 != 0 {
                // -1 is the servers' "no expiry", which the writer refuses (not a valid expiry).
                let ms = inp.u64() as i64;
                e.expire_at_ms = Some(if ms == -1 { -2 } else { ms });
            }
            if m & 6 == 2 {
                // 2^64 − 1 is the servers' RDB_LENERR, which the writer refuses (a valid
                // keyspace never holds it; the refusal is tested in `server_refusals.rs`).
                e.lru_idle_s = Some(inp.u64().min(u64::MAX - 1));
            } else if m & 6 == 4 {
                e.lfu_freq = Some(inp.u8());
            }
            ks.db_mut(db).entries.push(e);
        }
    }
    ks
}

/// Builds a small [`Keyspace`] from the bytes (or, for input starting with an RDB magic,
/// reads the file), writes it for a target chosen from the data with
/// [`rdb_writer::write_keyspace`], reads it back with [`rdb_reader::read_keyspace`] and
/// compares (canonical order, target-specific metadata as the writer's own test expects);
/// the written file verifies without errors and rewrites to the same bytes, and the keys
/// encoded in parallel batches (`WriterBuilder::parallel`, a batch size from the data) give
/// the same bytes, or the same error; written through the streaming API
/// ([`crate::streamed::write_streamed`], a buffer from the data) it reads back the same and
/// verifies, and with one collection declared one element more or fewer than it holds
/// ([`crate::streamed::write_miscounted`]) that key fails and `finish()` fails after it.
pub fn roundtrip(data: &[u8]) {
    let from_file = data.starts_with(b"REDIS") || data.starts_with(b"VALKEY");
    // A file is read with its checksum made right (a mutation breaks it, and the file must
    // read whole to go on).
    let fixed = with_valid_crc(data);
    let data = fixed.as_deref().unwrap_or(data);
    let seed = seed_of(data);
    let mut inp = Input::new(data);
    let opts = if from_file {
        (seed & 0xFF) as u8
    } else {
        inp.u8()
    };
    let target = Target::ALL[usize::from(opts) % Target::ALL.len()];
    let slot_info = opts & 0x10 != 0;
    let mut b = WriterBuilder::new(target)
        .ctime(CTIME)
        .drop_unsupported(true)
        .compression(opts & 0x20 != 0)
        .slot_info(slot_info);
    if opts & 0x40 != 0 {
        b = b.encoding(EncodingConfig {
            list_max_listpack_size: 5,
            stream_node_max_entries: 7,
            stream_node_max_bytes: 512,
            ..Default::default()
        });
    }
    let ks = if from_file {
        match rdb_reader::read_keyspace(data) {
            Ok(ks) => ks,
            Err(_) => return,
        }
    } else {
        gen_keyspace(&mut inp, slot_info)
    };
    let written = write_keyspace(&ks, Vec::new(), &b);
    let parallel = b
        .clone()
        .parallel(true)
        .parallel_batch(1 + (seed >> 8) % 4096);
    match (&written, write_keyspace(&ks, Vec::new(), &parallel)) {
        (Ok((one, _)), Ok((par, _))) => assert!(
            *one == par,
            "{target}: parallel encoding differs ({} vs {} bytes)",
            one.len(),
            par.len()
        ),
        (Err(one), Err(par)) => assert_eq!(one.to_string(), par.to_string(), "{target}"),
        (one, par) => panic!(
            "{target}: sequential {:?} vs parallel {:?}",
            one.as_ref().map(|_| ()),
            par.map(|_| ())
        ),
    }
    let (bytes, _) = match written {
        Ok(r) => r,
        // A file may hold what no writer accepts (duplicates, NaN-free checks, ...).
        Err(_) if from_file => return,
        Err(e) => panic!("{target}: the writer rejects a valid keyspace: {e}"),
    };
    let back =
        rdb_reader::read_keyspace(&bytes).unwrap_or_else(|e| panic!("{target}: reading back: {e}"));
    let mut want = expected(&ks, target);
    let mut got = canonical(back.clone());
    if slot_info || from_file {
        sort_entries(&mut want);
        sort_entries(&mut got);
    }
    assert_same_keyspace(&got, &want, target);
    if from_file {
        return;
    }
    assert_verifies(&bytes, target);
    // Through the streaming API, with a buffer from the data (none: every collection and
    // stream streamed): the same keyspace reads back, and the file verifies.
    if !slot_info && ks.functions.is_empty() {
        let buffer = match (seed >> 20) % 4 {
            0 => 0,
            1 => 64,
            2 => 1024,
            _ => 4 << 20,
        };
        let (streamed, _) =
            crate::streamed::write_streamed(&ks, &b.clone().collection_buffer(buffer))
                .unwrap_or_else(|e| panic!("{target}: streaming (buffer {buffer}): {e}"));
        let back = rdb_reader::read_keyspace(&streamed)
            .unwrap_or_else(|e| panic!("{target}: reading back streamed (buffer {buffer}): {e}"));
        assert_same_keyspace(&canonical(back), &want, target);
        assert_verifies(&streamed, target);
        // One collection declared with a count one off: that key fails, and the writer
        // completes no file after it.
        let more = seed & (1 << 30) != 0;
        let streaming = b.clone().collection_buffer(buffer);
        if let Some(m) =
            crate::streamed::write_miscounted(&ks, &streaming, (seed >> 24) as usize, more)
        {
            let Some(error) = &m.key_error else {
                panic!(
                    "{target} (buffer {buffer}): a count one off ({}) did not fail its key: {:?}",
                    if more { "more" } else { "fewer" },
                    m.finished.map(|_| "the file completed")
                );
            };
            assert!(
                m.finished.is_err(),
                "{target} (buffer {buffer}): after {error}, finish() completed the file"
            );
        }
    }
    // Read and written again: byte-identical.
    let (again, _) = write_keyspace(&back, Vec::new(), &b)
        .unwrap_or_else(|e| panic!("{target}: rewriting: {e}"));
    assert!(
        again == bytes,
        "{target}: rewrite differs ({} vs {} bytes)",
        again.len(),
        bytes.len()
    );
}

/// Panics unless `bytes` (a file the writer wrote for `target`) verifies without an error
/// finding.
fn assert_verifies(bytes: &[u8], target: Target) {
    let report = rdb_verify::verify_bytes("written", bytes, &fuzz_options());
    let errors: Vec<_> = report
        .findings
        .iter()
        .filter(|f| f.severity == rdb_verify::Severity::Error)
        .collect();
    assert!(
        errors.is_empty(),
        "{target}: a file the writer accepted has verify errors: {errors:?}"
    );
}

// ----- verifier ---------------------------------------------------------------------------------

/// The clock of the verifier's oracles: a fixed instant (2027-01-15), so that which keys have
/// expired — and the findings and the estimate that follow from it — is the same when a crash
/// is replayed later.
const FUZZ_NOW_MS: i64 = 1_800_000_000_000;

/// The verifier's default options on the fuzzing clock ([`FUZZ_NOW_MS`]).
fn fuzz_options() -> rdb_verify::Options {
    rdb_verify::Options {
        now_ms: FUZZ_NOW_MS,
        ..rdb_verify::Options::default()
    }
}

/// `data` with its last 8 bytes replaced by the CRC-64 of the bytes before them, when it
/// starts with an RDB magic, holds more than a header and a trailer, and those 8 bytes are
/// neither that CRC already nor 0 (a disabled checksum); else `None`. Nearly every mutation of
/// a file of RDB 5 or later breaks its checksum, and the oracles that go on only with a file
/// that verifies (or reads whole) would see little but the seeds: they run on this copy too.
pub fn with_valid_crc(data: &[u8]) -> Option<Vec<u8>> {
    if !(data.starts_with(b"REDIS") || data.starts_with(b"VALKEY")) || data.len() < 18 {
        return None;
    }
    let (body, trailer) = data.split_at(data.len() - 8);
    let crc = rdb_format::crc::crc64(body).to_le_bytes();
    if trailer == crc || trailer == [0; 8] {
        return None;
    }
    let mut fixed = body.to_vec();
    fixed.extend_from_slice(&crc);
    Some(fixed)
}

/// On the input and, when its checksum is wrong, on a copy with it made right
/// ([`with_valid_crc`]), on a fixed clock: `rdb_verify::verify_bytes` never panics and agrees
/// with the reader: a reader error is a fatal finding with the same code and offset (checksum
/// not reached), and the reader in the verifier's mode fails where full decoding does; a file
/// read to EOF has the reader's checksum verdict and key count, no `no-eof` finding, and
/// exactly the findings of five codes that an independent model of the reader's events
/// (`modelled_codes`) computes; `ok` is "no error finding",
/// and `loads_on` is empty when not ok.
pub fn verify(data: &[u8]) {
    verify_one(data);
    if let Some(fixed) = with_valid_crc(data) {
        verify_one(&fixed);
    }
}

/// [`verify`] on one input.
fn verify_one(data: &[u8]) {
    let opts = fuzz_options();
    let report = rdb_verify::verify_bytes("fuzz", data, &opts);
    // The memory model moves the estimate and nothing else (the Valkey 8.1 layout in cluster
    // mode: per-slot tables, embedded keys, hash entries).
    let other = rdb_verify::verify_bytes(
        "fuzz",
        data,
        &rdb_verify::Options {
            cache_model: rdb_verify::CacheModel::valkey_8_1().clustered(),
            ..fuzz_options()
        },
    );
    let without_estimate = |r: &rdb_verify::Report| rdb_verify::Report {
        cache_size_bytes: 0,
        cache_size: String::new(),
        cache_model: String::new(),
        ..r.clone()
    };
    assert_eq!(without_estimate(&other), without_estimate(&report));
    let run = run_slice(data, opts.reader_limits());
    // The verifier's reading mode (LZF strings validated without output, module values
    // walked, string keys whole) fails exactly where decoding everything does. (The key
    // counts may differ by the key being read: a whole string key is counted once read.)
    let decoding = run_slice(
        data,
        Limits {
            decode_lzf_strings: true,
            module_bytes: true,
            whole_strings: false,
            ..opts.reader_limits()
        },
    );
    assert_eq!(
        decoding.error, run.error,
        "the verifier's reading mode and full decoding fail differently"
    );
    if run.error.is_none() {
        assert_eq!(
            decoding.keys, run.keys,
            "the two reading modes count keys differently"
        );
    }
    let has_error = report
        .findings
        .iter()
        .any(|f| f.severity == rdb_verify::Severity::Error);
    if has_error || report.suppressed_findings.is_empty() {
        // (Suppressed findings may hide the only error: then `ok` is not decidable here.)
        assert_eq!(
            report.ok, !has_error,
            "ok disagrees with the findings: {:?}",
            report.findings
        );
    }
    if !report.ok {
        assert!(
            report.loads_on.is_empty(),
            "a file with errors loads on {:?}",
            report.loads_on
        );
    }
    let db_keys: u64 = report.databases.values().map(|d| d.keys).sum();
    assert_eq!(db_keys, report.keys, "per-db key counts do not add up");
    match run.error {
        Some((code, off)) => {
            assert!(!report.ok, "reader error {code} @{off}, report ok");
            assert_eq!(report.checksum.status, "not-reached");
            let listed = report
                .findings
                .iter()
                .any(|f| f.code == code && f.offset == Some(off));
            assert!(
                listed || report.suppressed_findings.contains_key(code),
                "reader error {code} @{off} is not a finding: {:?}",
                report.findings
            );
        }
        None => {
            let eof = run
                .eof
                .unwrap_or_else(|| panic!("reader ended without EOF or error"));
            assert_eq!(
                report.checksum.status,
                eof.status.as_str(),
                "checksum verdict differs"
            );
            assert_eq!(report.keys, run.keys, "key count differs from the reader");
            assert!(
                !report.findings.iter().any(|f| f.code == "no-eof"),
                "no-eof on a file read to EOF"
            );
            if eof.status == ChecksumStatus::Mismatch {
                assert!(!report.ok, "checksum mismatch reported ok");
            }
            let want = modelled_codes(data, opts.reader_limits())
                .unwrap_or_else(|| panic!("the reader reached EOF in one pass, not in the next"));
            let reported = |code: &str| {
                report.findings.iter().any(|f| f.code == code)
                    || report.suppressed_findings.contains_key(code)
            };
            for code in MODELLED_CODES {
                assert_eq!(
                    reported(code),
                    want.contains(code),
                    "{code}: the verifier and the model disagree: {:?}",
                    report.findings
                );
            }
            relaxed_options_agree(data, &report);
        }
    }
}

/// The options an operator changes, on a file the reader reads to its EOF: with
/// `--no-duplicate-check`, `--no-checksum` and `--slots S` (a range from the data) the
/// report is the default one but for no `duplicate-key` finding, a `crc-mismatch` that is a
/// warning, and the slot findings, whose counts an independent walk of the reader's events
/// gives: `slots.keys_outside_expected` the keys of database 0 hashing outside S
/// (`slot-outside-expected` when there are some), `cluster-nonzero-db` when a key is in
/// another database.
fn relaxed_options_agree(data: &[u8], report: &rdb_verify::Report) {
    use rdb_cluster::slotset::SlotSet;
    let seed = seed_of(data);
    let (a, b) = ((seed % 16384) as u16, ((seed >> 16) % 16384) as u16);
    let expected = SlotSet::from_range(a.min(b)..=a.max(b));
    let opts = rdb_verify::Options {
        duplicate_keys: false,
        check_checksum: false,
        expected_slots: Some(expected.clone()),
        ..fuzz_options()
    };
    let relaxed = rdb_verify::verify_bytes("fuzz", data, &opts);
    // (`findings-suppressed` counts what is not listed, compared below code by code.)
    const LEFT_OUT: [&str; 4] = [
        "duplicate-key",
        "slot-outside-expected",
        "cluster-nonzero-db",
        "findings-suppressed",
    ];
    let rest = |r: &rdb_verify::Report| -> Vec<(&'static str, Option<u64>, bool)> {
        r.findings
            .iter()
            .filter(|f| !LEFT_OUT.contains(&f.code))
            .map(|f| {
                let error = f.severity == rdb_verify::Severity::Error && f.code != "crc-mismatch";
                (f.code, f.offset, error)
            })
            .collect()
    };
    assert_eq!(
        rest(&relaxed),
        rest(report),
        "--no-duplicate-check --no-checksum --slots changed other findings"
    );
    let suppressed = |r: &rdb_verify::Report| {
        let mut m = r.suppressed_findings.clone();
        m.retain(|code, _| !LEFT_OUT.contains(code));
        m
    };
    assert_eq!(
        suppressed(&relaxed),
        suppressed(report),
        "findings not listed"
    );
    assert!(
        !relaxed.has_code("duplicate-key")
            && !relaxed.suppressed_findings.contains_key("duplicate-key"),
        "duplicate keys reported with the check off"
    );
    if let Some(f) = relaxed.findings.iter().find(|f| f.code == "crc-mismatch") {
        assert_eq!(f.severity, rdb_verify::Severity::Warning, "--no-checksum");
    }
    assert_eq!(
        (relaxed.keys, relaxed.cache_size_bytes),
        (report.keys, report.cache_size_bytes)
    );
    // The model: every key's database and slot.
    let mut p = Parser::new(SliceSource::new(data), opts.reader_limits());
    let mut text = IntText::new(0);
    let (mut outside, mut other_db) = (0u64, 0u64);
    loop {
        match p.next_event() {
            Ok(Some(Event::Key(k))) if k.db == 0 => {
                let slot = rdb_format::slot::key_slot(k.key.as_bytes(&mut text));
                outside += u64::from(!expected.contains(slot));
            }
            Ok(Some(Event::Key(_))) => other_db += 1,
            Ok(Some(_)) => {}
            Ok(None) | Err(_) => break,
        }
    }
    assert_eq!(
        relaxed.slots.keys_outside_expected, outside,
        "keys outside {expected}"
    );
    assert_eq!(
        relaxed.has_code("slot-outside-expected"),
        outside > 0,
        "slot-outside-expected with {outside} key(s) outside {expected}"
    );
    assert_eq!(
        relaxed.has_code("cluster-nonzero-db"),
        other_db > 0,
        "cluster-nonzero-db with {other_db} key(s) outside database 0"
    );
}

/// Finding codes whose presence an independent reading of the file decides: the reader's
/// events checked here, by code that shares nothing with the verifier's.
const MODELLED_CODES: [&str; 5] = [
    "duplicate-key",
    "duplicate-member",
    "zset-order",
    "empty-value",
    "slot-info-order",
];

/// The [`MODELLED_CODES`] the verifier must report for `data` (and no other of them), from
/// the reader's events: a key twice in one database; a member, or a hash field, twice in
/// one key (intsets aside: the reader enforces their order); a listpack or ziplist sorted
/// set not ascending by (score, member); a list, set, sorted set or hash without elements;
/// slot sizing records (SLOT_INFO, `slot-info` AUX) not ascending within a database. `None`
/// when the reader does not read the file to its EOF record.
fn modelled_codes(data: &[u8], limits: Limits) -> Option<BTreeSet<&'static str>> {
    use std::collections::HashSet;
    let mut p = Parser::new(SliceSource::new(data), limits);
    let mut codes = BTreeSet::new();
    let mut keys: HashSet<(u64, Vec<u8>)> = HashSet::new();
    let mut members: HashSet<Vec<u8>> = HashSet::new();
    let mut kind: Option<TypeKind> = None;
    let mut elements = 0u64;
    let mut prev_pair: Option<(f64, Vec<u8>)> = None;
    let mut last_slot: Option<u64> = None;
    let mut text = IntText::new(0);
    loop {
        let ev = match p.next_event() {
            Ok(Some(ev)) => ev,
            Ok(None) | Err(_) => return None,
        };
        let mut slot_record = |slot: u64, codes: &mut BTreeSet<&'static str>| {
            if last_slot.is_some_and(|prev| slot <= prev) {
                codes.insert("slot-info-order");
            }
            last_slot = Some(slot);
        };
        match ev {
            Event::SelectDb { .. } => last_slot = None,
            Event::SlotInfo { slot, .. } => slot_record(slot, &mut codes),
            Event::Aux { key, value } if key.as_bytes(&mut text) == b"slot-info" => {
                let mut vt = IntText::new(0);
                if let Some((slot, _, _)) =
                    rdb_verify::verifier::parse_slot_info(value.as_bytes(&mut vt))
                {
                    slot_record(slot, &mut codes);
                }
            }
            Event::Key(k) => {
                if !keys.insert((k.db, k.key.as_bytes(&mut text).to_vec())) {
                    codes.insert("duplicate-key");
                }
                if !k.whole {
                    kind = Some(k.kind);
                    elements = 0;
                    members.clear();
                    prev_pair = None;
                }
            }
            Event::ListItem(_) => elements += 1,
            Event::SetMember(m) => {
                elements += 1;
                if kind != Some(TypeKind::SetIntset)
                    && !members.insert(m.as_bytes(&mut text).to_vec())
                {
                    codes.insert("duplicate-member");
                }
            }
            Event::ZSetMember { member, score, .. } => {
                elements += 1;
                let m = member.as_bytes(&mut text).to_vec();
                if !members.insert(m.clone()) {
                    codes.insert("duplicate-member");
                }
                if matches!(kind, Some(TypeKind::ZSetListpack | TypeKind::ZSetZiplist)) {
                    if let Some((ps, pm)) = &prev_pair {
                        if score < *ps || (score == *ps && m < *pm) {
                            codes.insert("zset-order");
                        }
                    }
                    prev_pair = Some((score, m));
                }
            }
            Event::HashField { field, .. } => {
                elements += 1;
                if !members.insert(field.as_bytes(&mut text).to_vec()) {
                    codes.insert("duplicate-member");
                }
            }
            Event::KeyEnd => {
                if elements == 0 && kind.is_some_and(|k| (1..=4).contains(&k.logical_index())) {
                    codes.insert("empty-value");
                }
                kind = None;
            }
            Event::Eof(_) => return Some(codes),
            _ => {}
        }
    }
}

/// Oracle of `verify_split`: the input, written to a scratch file, verified in 2–4 parts
/// ([`rdb_verify::verify_file_split`], the first byte chooses how many, the last byte's top
/// bit a cluster-mode memory model, the one before it whether the model is inferred from the
/// file) gives the same JSON
/// report as one pass over the file — whether the parts met or the file was verified again.
/// Parts skim the file up to their start (lengths only, nothing decoded), so this checks
/// that skimming ends every key where full decoding does, and that the state carried across
/// a cut (db, RESIZEDB and SLOT_INFO counts, functions, modules) is the one a single pass has.
pub fn verify_split(data: &[u8]) {
    let path = std::env::temp_dir().join(format!(
        "rdbkit-fuzz-verify-split-{}-{:?}.rdb",
        std::process::id(),
        std::thread::current().id()
    ));
    std::fs::write(&path, data).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    // The last byte's top bit (a checksum byte in most inputs) picks a cluster-mode memory
    // model (per-slot key and expire counts, slot sizing records: state merged across parts
    // too).
    let first = data.first().copied().unwrap_or(0);
    let cache_model = if data.last().is_some_and(|b| b & 0x80 != 0) {
        rdb_verify::CacheModel::valkey_8_1().clustered()
    } else {
        rdb_verify::CacheModel::default()
    };
    let opts = rdb_verify::Options {
        now_ms: FUZZ_NOW_MS,
        cache_model,
        // The next-to-last byte's bit 6: the model from the file's header and version AUX
        // fields, which every part must reach as the single pass does.
        infer_cache_model: data.iter().rev().nth(1).is_some_and(|b| b & 0x40 != 0),
        // Its bit 5: cluster mode from the file's slot sizing records, likewise.
        infer_cluster_mode: data.iter().rev().nth(1).is_some_and(|b| b & 0x20 != 0),
        ..rdb_verify::Options::default()
    };
    let one = rdb_verify::try_verify_file(&path, &opts)
        .unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let parts = 2 + usize::from(first % 3);
    let (split, passes) = rdb_verify::verify_file_split(&path, &opts, parts)
        .unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let _ = std::fs::remove_file(&path);
    let json = |r: &rdb_verify::Report| {
        serde_json::to_string(r).unwrap_or_else(|e| panic!("report to JSON: {e}"))
    };
    let (one_json, split_json) = (json(&one), json(&split));
    assert!(
        one_json == split_json,
        "{parts} parts ({passes:?}) differ from one pass:\n{split_json}\n{one_json}"
    );
}

/// `convert`: `rdbkit export`'s conversion of an `.rdb` file — the input after its first byte,
/// which picks the target line — whenever `rdb-verify` passes the file: the export (one node
/// group, every database, what the target cannot hold dropped) succeeds, its file passes
/// `rdb-verify` with the target's line in `loads_on` (unless it holds module data), and our reader reads back from it what
/// the conversion keeps ([`crate::readback::converted_read_back`]: values copied raw, streams
/// with their nodes as stored, the rest re-encoded). Files go to a scratch directory in
/// `/dev/shm` when there is one (the export fsyncs).
pub fn convert(data: &[u8]) {
    let Some((&pick, file)) = data.split_first() else {
        return;
    };
    let fixed = with_valid_crc(file);
    let file = fixed.as_deref().unwrap_or(file);
    if !rdb_verify::verify_bytes("fuzz", file, &fuzz_options()).ok {
        return;
    }
    let target = Target::ALL[usize::from(pick) % Target::ALL.len()];
    let dir = scratch_dir();
    let source = dir.path().join("source.rdb");
    std::fs::write(&source, file).expect("writing the scratch source");
    let res = crate::readback::convert_one_node(&source, target, dir.path(), "fuzz", CTIME)
        .unwrap_or_else(|e| {
            panic!("rdb-verify passes the file, the export to {target} fails: {e}")
        });
    let node = res.nodes.first().expect("one node file");
    let report = rdb_verify::verify_file(&node.path, &fuzz_options());
    let codes: Vec<&str> = report.findings.iter().map(|f| f.code).collect();
    assert!(
        report.ok,
        "the file converted for {target} fails rdb-verify: {codes:?}"
    );
    // (Module data loads only where its module is: no line is listed then.)
    assert!(
        report.loads_on.iter().any(|l| l.name() == target.name())
            || codes.contains(&"module-required"),
        "the file converted for {target} loads on {:?} only",
        report.loads_on
    );
    let back = std::fs::read(&node.path).expect("reading the node file");
    let back = rdb_reader::read_keyspace(&back).expect("the node file reads");
    let want =
        crate::readback::converted_read_back(&source, &node.path, target).expect("both files read");
    let diffs = crate::server::diff_keyspaces(&want, &canonical(back));
    assert!(diffs.is_empty(), "{target}: {}", diffs.join("\n"));
}

/// A scratch directory in `/dev/shm` when there is one (exports fsync their files), else in
/// the system's temporary directory; removed when dropped.
fn scratch_dir() -> tempfile::TempDir {
    let shm = std::path::Path::new("/dev/shm");
    if shm.is_dir() {
        tempfile::tempdir_in(shm)
    } else {
        tempfile::tempdir()
    }
    .expect("a scratch directory")
}

/// `rdbkit dump`'s printer, which prints values as it reads them, prints what the model prints
/// for every key read whole ([`crate::dump_model`]), in both formats: the same key lines
/// (JSONL) and the same bytes (RESP); it fails exactly when the file does not read whole, and
/// then leaves at most one more key's output, cut short — only a key past the printer's
/// 1 MiB in-memory limit, whose JSON line is then unterminated (not valid JSON).
pub fn dump_equivalence(data: &[u8]) {
    dump_equivalence_one(data);
    if let Some(fixed) = with_valid_crc(data) {
        dump_equivalence_one(&fixed);
    }
}

/// [`dump_equivalence`] on one input.
fn dump_equivalence_one(data: &[u8]) {
    use rdb_cli::dump::{dump, DumpFilter, DumpFormat};
    let model = crate::dump_model::model_dump(data);
    let parser = || Parser::new(SliceSource::new(data), Limits::default());
    let filter = DumpFilter::default();

    let mut jsonl = Vec::new();
    let result = dump(parser(), DumpFormat::Jsonl, &filter, &mut jsonl);
    assert_eq!(result.is_ok(), model.complete, "JSONL: read whole or not");
    let key_lines: Vec<&[u8]> = jsonl
        .split(|&b| b == b'\n')
        .filter(|l| l.starts_with(b"{\"db\":"))
        .collect();
    let common = model.key_lines.len().min(key_lines.len());
    for (i, (got, want)) in key_lines.iter().zip(&model.key_lines).enumerate() {
        assert!(got == want, "JSONL key line {i} differs");
    }
    match key_lines.get(common..) {
        Some([]) | None => {}
        Some([cut]) if !model.complete => {
            assert!(cut.len() >= 1 << 20, "a cut key line under 1 MiB");
            assert!(
                serde_json::from_slice::<serde_json::Value>(cut).is_err(),
                "a cut key line is valid JSON"
            );
        }
        Some(extra) => panic!("{} key lines the model does not print", extra.len()),
    }
    assert!(
        key_lines.len() >= model.key_lines.len(),
        "JSONL: keys missing"
    );

    let mut resp = Vec::new();
    let result = dump(parser(), DumpFormat::Resp, &filter, &mut resp);
    assert_eq!(result.is_ok(), model.complete, "RESP: read whole or not");
    if model.complete {
        assert!(resp == model.resp, "RESP output differs");
    } else {
        assert!(resp.starts_with(&model.resp), "RESP output differs");
        // More only from a key cut past the in-memory limit.
        let extra = resp.len() - model.resp.len();
        assert!(extra == 0 || extra >= 1 << 20, "{extra} bytes of a cut key");
    }
    if model.complete {
        filtered_dump_agrees(data, &model);
    }
}

/// `rdbkit dump --db N --type T --key RE` (a filter from the data: one, two or all three of
/// them, a database and a type of the file's keys or others, a regex matching one byte of a
/// key)
/// prints exactly the model's key lines whose database, type and key pass, decided here
/// without the filter's code (the regex: does the key hold that byte), and nothing else.
fn filtered_dump_agrees(data: &[u8], model: &crate::dump_model::ModelDump) {
    use rdb_cli::dump::{dump, DumpFilter, DumpFormat};
    use rdb_model::ValueType;
    // Each key line's database, key and type (not the whole entry: a file may hold what a
    // keyspace cannot, e.g. a hash field twice).
    let entries: Vec<(u64, Bytes, ValueType)> = model
        .key_lines
        .iter()
        .map(|l| {
            let json: serde_json::Value = serde_json::from_slice(l).expect("a key line is JSON");
            let db = json["db"].as_u64().expect("a key line's db");
            let key = rdb_model::json::bytes_from_json(&json["key"]).expect("a key line's key");
            let ty = json["type"]
                .as_str()
                .and_then(ValueType::from_name)
                .expect("a key line's type");
            (db, key, ty)
        })
        .collect();
    let seed = seed_of(data);
    let some = |shift: u32| entries.get((seed >> shift) as usize % entries.len().max(1));
    // Which of the three (a bit each; never none: the unfiltered dump is checked above).
    let pick = 1 + seed % 7;
    let mut filter = DumpFilter::default();
    if pick & 1 != 0 {
        let db = some(8).map_or((seed >> 8) % 4, |(db, _, _)| *db);
        filter.dbs = vec![db, (seed >> 40) % 16];
    }
    if pick & 2 != 0 {
        let ty = some(16).map_or(ValueType::ALL[(seed >> 16) as usize % 7], |(_, _, ty)| *ty);
        filter.types = vec![ty];
    }
    let mut byte = None;
    if pick & 4 != 0 {
        let b = some(24)
            .and_then(|(_, key, _)| key.get((seed >> 32) as usize % key.len().max(1)).copied())
            .unwrap_or(b'k');
        filter.key =
            Some(regex::bytes::Regex::new(&format!("(?-u)\\x{b:02x}")).expect("a one-byte regex"));
        byte = Some(b);
    }
    let mut out = Vec::new();
    dump(
        Parser::new(SliceSource::new(data), Limits::default()),
        DumpFormat::Jsonl,
        &filter,
        &mut out,
    )
    .unwrap_or_else(|e| panic!("a file read whole fails to dump with {filter:?}: {e:?}"));
    let lines: Vec<&[u8]> = out
        .split(|&b| b == b'\n')
        .filter(|l| !l.is_empty())
        .collect();
    let want: Vec<&[u8]> = model
        .key_lines
        .iter()
        .zip(&entries)
        .filter(|(_, (db, key, ty))| {
            (filter.dbs.is_empty() || filter.dbs.contains(db))
                && (filter.types.is_empty() || filter.types.contains(ty))
                && byte.is_none_or(|b| key.contains(&b))
        })
        .map(|(l, _)| l.as_slice())
        .collect();
    // A filter leaves out every other record.
    assert!(
        lines == want,
        "{filter:?}: {} lines printed, {} wanted",
        lines.len(),
        want.len()
    );
}
