//! The windowed map source ([`WindowSource`]) against the slice source: the same events, the
//! same errors at the same offsets, across window boundaries and past the window size.

use std::fs::File;
use std::path::Path;

use rdb_reader::window::ALIGN;
use rdb_reader::{Limits, Parser, SliceSource, Source, WindowSource};
use rdb_testkit::events::run;
use rdb_writer::{write_keyspace, Target, WriterBuilder};

/// The smallest window: the most window boundaries for a given file.
const SMALL: usize = ALIGN as usize;

fn slice_run(data: &[u8], l: Limits) -> Vec<String> {
    run(Parser::new(SliceSource::new(data), l))
}

fn window_run(path: &Path, l: Limits, window: usize) -> Vec<String> {
    let src = WindowSource::with_window(path, l.stream_buffer(), window).unwrap();
    run(Parser::new(src, l))
}

fn assert_same(want: &[String], got: &[String], what: &str) {
    assert_eq!(got.len(), want.len(), "{what}: event count");
    for (j, (a, b)) in got.iter().zip(want).enumerate() {
        assert_eq!(a, b, "{what}: event {j}");
    }
}

/// A generated file of about 3 MB: 4–64 KiB strings (LZF) and collections of every type, so
/// that records, strings and blobs straddle many 64 KiB windows.
fn big_file() -> Vec<u8> {
    let mut ks = rdb_testkit::gen::big_values(60, 3);
    let mixed = rdb_testkit::gen::mixed(1500, 4);
    for (db, d) in mixed.dbs {
        ks.dbs.entry(db + 1).or_default().entries.extend(d.entries);
    }
    let b = WriterBuilder::new(Target::Redis70).ctime(1_700_000_000);
    write_keyspace(&ks, Vec::new(), &b).unwrap().0
}

#[test]
fn testdata_files_read_the_same_through_windows() {
    let files = rdb_testkit::testdata::rdb_files("");
    assert!(files.len() > 60);
    let l = Limits::default();
    for f in &files {
        let data = std::fs::read(f).unwrap();
        let want = slice_run(&data, l);
        assert_same(&want, &window_run(f, l, SMALL), &f.display().to_string());
    }
}

#[test]
fn a_file_of_many_windows_reads_the_same() {
    let data = big_file();
    assert!(data.len() > 40 * SMALL, "{} bytes", data.len());
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("big.rdb");
    std::fs::write(&path, &data).unwrap();
    let l = Limits::default();
    let want = slice_run(&data, l);
    assert!(want.last().unwrap().starts_with("Eof"), "{:?}", want.last());
    for window in [SMALL, 3 * SMALL, 8 << 20] {
        assert_same(
            &want,
            &window_run(&path, l, window),
            &format!("window {window}"),
        );
    }
    // The verifier's options: LZF strings checked, not decoded; short strings whole.
    let l = Limits {
        decode_lzf_strings: false,
        whole_strings: true,
        ..Limits::default()
    };
    assert_same(
        &slice_run(&data, l),
        &window_run(&path, l, SMALL),
        "verifier limits",
    );
}

#[test]
fn truncated_and_corrupted_files_fail_at_the_same_offset() {
    let data = big_file();
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("cut.rdb");
    let l = Limits::default();
    let mut x = 0x9E37_79B9_7F4A_7C15u64;
    for round in 0..24 {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        let at = (x % data.len() as u64) as usize;
        let mut bad = data.clone();
        if round % 2 == 0 {
            bad.truncate(at);
        } else {
            bad[at] ^= 0x5A;
        }
        std::fs::write(&path, &bad).unwrap();
        let want = slice_run(&bad, l);
        assert_same(
            &want,
            &window_run(&path, l, SMALL),
            &format!("round {round}, byte {at}"),
        );
    }
}

#[test]
fn a_blob_larger_than_the_limit_is_refused_as_by_the_stream_reader() {
    let data = big_file();
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("limit.rdb");
    std::fs::write(&path, &data).unwrap();
    // A request over `max_buffer` fails with the stream source's error, not a bigger map.
    let mut src = WindowSource::with_window(&path, 100_000, SMALL).unwrap();
    src.take(10).unwrap();
    assert!(matches!(
        src.peek(100_001),
        Err(rdb_reader::source::SourceError::TooLarge(100_001))
    ));
    // Up to the limit, a request larger than the window grows it.
    assert_eq!(src.peek(100_000).unwrap().len(), 100_000);
    let span = src.take(100_000).unwrap();
    assert_eq!(src.bytes(span), &data[10..100_010]);
}

#[test]
fn empty_and_special_files() {
    let dir = tempfile::tempdir().unwrap();
    let empty = dir.path().join("empty.rdb");
    std::fs::write(&empty, b"").unwrap();
    let l = Limits::default();
    assert_same(
        &slice_run(b"", l),
        &window_run(&empty, l, SMALL),
        "empty file",
    );
    // Not regular files: the caller reads them with a stream source instead.
    assert!(WindowSource::open(dir.path(), 1 << 20).is_err());
    assert!(WindowSource::open(Path::new("/dev/null"), 1 << 20).is_err());
    assert!(WindowSource::open(&dir.path().join("missing"), 1 << 20).is_err());
    // An open file that cannot be mapped comes back, still readable as a stream.
    let Err(null) = WindowSource::from_file(File::open("/dev/null").unwrap(), 1 << 20) else {
        panic!("/dev/null mapped");
    };
    let streamed = run(rdb_reader::stream_parser(null, l));
    assert_same(&slice_run(b"", l), &streamed, "/dev/null streamed");
    let src = WindowSource::from_file(File::open(&empty).unwrap(), 1 << 20).unwrap();
    assert_same(
        &slice_run(b"", l),
        &run(Parser::new(src, l)),
        "empty file, opened",
    );
}

/// A file whose checksum ends at or near a window boundary, followed by junk: the windowed
/// source sees the trailing bytes as the slice source does, whether the parser's look-ahead
/// has already mapped them or the end-of-file check must map the next window.
#[test]
fn trailing_bytes_after_a_window_boundary_are_seen() {
    // One raw string key sized so that the file up to its checksum is `total` bytes.
    let file = |total: usize| {
        let build = |len: usize| {
            let mut b = rdb_testkit::builder::Rdb::db0(11);
            b.string_key(b"k", &vec![b'v'; len]);
            b.finish()
        };
        let probe = build(20_000).len(); // lengths from 16384 on take 5 bytes: no jump
        let f = build(20_000 + total - probe);
        assert_eq!(f.len(), total);
        f
    };
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("junk.rdb");
    let l = Limits::default();
    // Every end of the checksum from 48 bytes before a boundary to 16 after it (the parser's
    // look-ahead may already have mapped the next window), for the first boundaries and the
    // default window's.
    let near = |edge: usize| (edge - 48..=edge + 16).map(move |t| (t, SMALL));
    let cases = near(SMALL)
        .chain(near(2 * SMALL))
        .chain(near(3 * SMALL))
        .chain([(rdb_reader::window::WINDOW, rdb_reader::window::WINDOW)]);
    for (total, window) in cases {
        let mut data = file(total);
        let exact = slice_run(&data, l);
        assert!(
            exact.last().unwrap().contains("trailing_bytes: false"),
            "{exact:?}"
        );
        data.extend_from_slice(b"junk");
        std::fs::write(&path, &data).unwrap();
        let want = slice_run(&data, l);
        let eof = want.last().unwrap();
        assert!(eof.contains("trailing_bytes: true"), "{eof}");
        assert_same(
            &want,
            &window_run(&path, l, window),
            &format!("checksum ending at {total}, window {window}"),
        );
    }
}
