//! Source equivalence, truncation, hostile lengths and opcode floods.

use std::path::PathBuf;

use rdb_reader::{Limits, Parser, SliceSource, StreamSource};
use rdb_testkit::chunked::{OneByteReader, RandomChunkReader};
use rdb_testkit::events::{run, run_draining};

fn all_files() -> Vec<PathBuf> {
    rdb_testkit::testdata::rdb_files("")
}

fn slice_run(data: &[u8]) -> Vec<String> {
    run(Parser::new(SliceSource::new(data), Limits::default()))
}

fn stream_runs(data: &[u8], seed: u64) -> [Vec<String>; 2] {
    let l = Limits::default();
    [
        run(Parser::new(
            StreamSource::new(OneByteReader::new(data), l.stream_buffer()),
            l,
        )),
        run(Parser::new(
            StreamSource::new(
                RandomChunkReader::new(data, seed, 70_000),
                l.stream_buffer(),
            ),
            l,
        )),
    ]
}

#[test]
fn same_events_from_slice_one_byte_and_random_chunks() {
    let files = all_files();
    assert!(files.len() > 60);
    for (i, f) in files.iter().enumerate() {
        let data = std::fs::read(f).unwrap();
        let want = slice_run(&data);
        let drained = run_draining(Parser::new(SliceSource::new(&data), Limits::default()));
        assert_eq!(drained, want, "{}: drain_blob differs", f.display());
        for (k, got) in stream_runs(&data, i as u64).into_iter().enumerate() {
            assert_eq!(
                got.len(),
                want.len(),
                "{} reader {k}: event count",
                f.display()
            );
            for (j, (a, b)) in got.iter().zip(&want).enumerate() {
                assert_eq!(a, b, "{} reader {k}: event {j}", f.display());
            }
        }
    }
}

/// Record boundaries (offsets where a record starts or a key ends) and the end of the
/// checksum (bytes after it, like a replication EOF marker, are not part of the file).
fn boundaries(data: &[u8]) -> (Vec<usize>, usize) {
    let mut p = Parser::new(SliceSource::new(data), Limits::default());
    let mut out = vec![0];
    let mut end = data.len();
    loop {
        let before = p.offset() as usize;
        match p.next_event() {
            Ok(Some(rdb_reader::Event::Key(k))) => out.push(k.offset as usize),
            Ok(Some(rdb_reader::Event::KeyEnd)) => out.push(p.offset() as usize),
            Ok(Some(rdb_reader::Event::Eof(_))) => {
                out.push(before);
                end = p.offset() as usize;
            }
            Ok(Some(rdb_reader::Event::Header(_)))
            | Ok(Some(rdb_reader::Event::Aux { .. }))
            | Ok(Some(rdb_reader::Event::SelectDb { .. }))
            | Ok(Some(rdb_reader::Event::ResizeDb { .. }))
            | Ok(Some(rdb_reader::Event::Function { .. })) => out.push(p.offset() as usize),
            Ok(Some(_)) => {}
            _ => break,
        }
    }
    (out, end)
}

fn truncation_points(data: &[u8], seed: u64) -> Vec<usize> {
    let (bounds, end) = boundaries(data);
    if end < 64 * 1024 {
        return (0..end).collect();
    }
    let mut pts: Vec<usize> = Vec::new();
    for b in bounds {
        for d in [-1i64, 0, 1] {
            let p = b as i64 + d;
            if p >= 0 && (p as usize) < end {
                pts.push(p as usize);
            }
        }
    }
    let mut x = seed | 1;
    pts.sort_unstable();
    pts.dedup();
    while pts.len() < 1000 {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        pts.push((x % end as u64) as usize);
        pts.sort_unstable();
        pts.dedup();
    }
    pts
}

#[test]
fn every_truncation_fails_with_an_error() {
    for (i, f) in all_files().iter().enumerate() {
        let data = std::fs::read(f).unwrap();
        let full = slice_run(&data);
        let full_ok = !full.last().unwrap().starts_with("error");
        let pts = truncation_points(&data, i as u64 + 7);
        assert!(
            pts.len() >= 1000 || data.len() < 64 * 1024,
            "{}",
            f.display()
        );
        for (n, &cut) in pts.iter().enumerate() {
            // Drain without rendering events (fast), keeping only the error.
            let mut p = Parser::new(SliceSource::new(&data[..cut]), Limits::default());
            let err = loop {
                match p.next_event() {
                    Ok(Some(_)) => {}
                    Ok(None) => break None,
                    Err(e) => break Some(e),
                }
            };
            let Some(err) = err else {
                panic!("{} cut at {cut}: no error", f.display());
            };
            if full_ok {
                // Every truncation of a valid file is reported at or before the cut.
                assert!(
                    err.offset() as usize <= cut,
                    "{} cut at {cut}: {err}",
                    f.display()
                );
            }
            // A sample also through the random-chunk stream reader: same events, same error.
            if n % 97 == 0 {
                let got = slice_run(&data[..cut]);
                let l = Limits::default();
                let s = run(Parser::new(
                    StreamSource::new(
                        RandomChunkReader::new(&data[..cut], n as u64, 5000),
                        l.stream_buffer(),
                    ),
                    l,
                ));
                assert_eq!(s, got, "{} cut at {cut}: stream differs", f.display());
                // Compact values handed over in one call: same events, same error.
                let drained = run_draining(Parser::new(SliceSource::new(&data[..cut]), l));
                assert_eq!(
                    drained,
                    got,
                    "{} cut at {cut}: drain_blob differs",
                    f.display()
                );
            }
        }
    }
}

fn with_crc(mut body: Vec<u8>) -> Vec<u8> {
    body.push(0xFF);
    let crc = rdb_format::crc::crc64(&body);
    body.extend_from_slice(&crc.to_le_bytes());
    body
}

#[test]
fn a_million_idle_opcodes_do_not_grow_the_stack() {
    let mut body = b"REDIS0011".to_vec();
    for _ in 0..1_000_000 {
        body.extend_from_slice(&[0xF8, 0x05]);
    }
    body.extend_from_slice(b"\xfe\x00\x00\x01k\x01v");
    let file = with_crc(body);
    // A 64 KiB stack: any recursion per opcode would overflow it.
    let h = std::thread::Builder::new()
        .stack_size(64 * 1024)
        .spawn(move || {
            let ks = rdb_reader::read_keyspace(&file).unwrap();
            let e = &ks.dbs[&0].entries[0];
            (e.lru_idle_s, ks.key_count())
        })
        .unwrap();
    assert_eq!(h.join().unwrap(), (Some(5), 1));
}

#[test]
fn public_files_valid_read_to_the_end_and_corrupt_fail_with_an_offset() {
    let files = rdb_testkit::testdata::rdb_files("public");
    assert!(files.len() >= 40, "{} public files", files.len());
    for f in files {
        let data = std::fs::read(&f).unwrap();
        let mut p = Parser::new(SliceSource::new(&data), Limits::default());
        let mut eof = None;
        let result = loop {
            match p.next_event() {
                Ok(Some(rdb_reader::Event::Eof(i))) => eof = Some(i),
                Ok(Some(_)) => {}
                Ok(None) => break Ok(()),
                Err(e) => break Err(e),
            }
        };
        let name = f.file_name().unwrap().to_str().unwrap();
        if name == "corrupt_ziplist.rdb" {
            let e = result.unwrap_err();
            assert_eq!(e.offset(), 489, "{e}");
            assert!(e.to_string().contains("byte 489"), "{e}");
        } else if name == "zipmap_big_len.rdb" {
            // A zipmap header of 255 (only 254 means "count unknown"): Redis 6.2, 7.0 and
            // Valkey 8.1 refuse the file ("Zipmap integrity check failed").
            let e = result.unwrap_err();
            assert_eq!(e.offset(), 35, "{e}");
            assert!(e.to_string().contains("header byte 255"), "{e}");
        } else {
            result.unwrap_or_else(|e| panic!("{}: {e}", f.display()));
            let eof = eof.unwrap();
            // redis_40_with_module.rdb keeps the 40-byte diskless-replication EOF marker after
            // the checksum; loaders ignore trailing bytes (the verifier warns).
            assert_eq!(
                eof.trailing_bytes,
                name == "redis_40_with_module.rdb",
                "{}",
                f.display()
            );
            let version: u16 = std::str::from_utf8(&data[5..9])
                .ok()
                .and_then(|v| v.parse().ok())
                .unwrap_or(80);
            let want = if version < 5 { "absent" } else { "ok" };
            assert!(
                eof.status.as_str() == want || eof.status.as_str() == "disabled",
                "{}: checksum {}",
                f.display(),
                eof.status.as_str()
            );
        }
    }
}

/// Short string records (one-byte key and value headers) take a fast path in the parser; keys
/// and values at and just past its limits (63/64 bytes, every integer width and its extremes,
/// the limits of `Limits::max_string`) read exactly, in plain and whole-string mode, and every
/// truncation of them fails at the same offset through the slice and the one-byte stream.
#[test]
fn short_string_records_at_the_fast_path_limits() {
    use rdb_format::Element;
    use rdb_reader::Event;

    // (value encoding bytes, expected value)
    let mut values: Vec<(Vec<u8>, Element<'static>)> = vec![
        (vec![0x00], Element::Str(b"")),
        (vec![0xC0, 0x80], Element::Int(-128)),
        (vec![0xC0, 0x7F], Element::Int(127)),
        (vec![0xC1, 0x00, 0x80], Element::Int(-32768)),
        (vec![0xC1, 0xFF, 0x7F], Element::Int(32767)),
        (
            vec![0xC2, 0x00, 0x00, 0x00, 0x80],
            Element::Int(i64::from(i32::MIN)),
        ),
        (
            vec![0xC2, 0xFF, 0xFF, 0xFF, 0x7F],
            Element::Int(i64::from(i32::MAX)),
        ),
    ];
    static V63: [u8; 63] = [b'v'; 63];
    static V64: [u8; 64] = [b'w'; 64];
    let mut raw63 = vec![63u8];
    raw63.extend_from_slice(&V63);
    values.push((raw63, Element::Str(&V63)));
    let mut raw64 = vec![0x40, 64];
    raw64.extend_from_slice(&V64);
    values.push((raw64, Element::Str(&V64)));

    for key_len in [0usize, 1, 63, 64] {
        for (enc, want) in &values {
            let key = vec![b'k'; key_len];
            let mut body = b"REDIS0011\xFE\x00".to_vec();
            let record_at = body.len() as u64;
            body.push(0);
            if key_len < 64 {
                body.push(key_len as u8);
            } else {
                body.extend_from_slice(&[0x40, key_len as u8]);
            }
            body.extend_from_slice(&key);
            body.extend_from_slice(enc);
            let data = with_crc(body);
            for whole in [false, true] {
                let limits = Limits {
                    whole_strings: whole,
                    ..Limits::default()
                };
                let mut p = Parser::new(SliceSource::new(&data), limits);
                let (mut got_key, mut got_value) = (None, None);
                while let Some(ev) = p.next_event().unwrap() {
                    match ev {
                        Event::Key(k) => {
                            assert_eq!(k.offset, record_at);
                            assert_eq!(k.whole, whole, "key {key_len} {enc:?}");
                            got_key =
                                Some(k.key.as_bytes(&mut rdb_format::IntText::new(0)).to_vec());
                            if whole {
                                got_value = k.value.map(|v| format!("{v:?}"));
                            }
                        }
                        Event::StringChunk(c) => got_value = Some(format!("{c:?}")),
                        _ => {}
                    }
                }
                assert_eq!(got_key.as_deref(), Some(&key[..]), "key {key_len} {enc:?}");
                assert_eq!(
                    got_value,
                    Some(format!("{want:?}")),
                    "key {key_len} {enc:?}"
                );
            }
            // A key limit below the key's length is enforced on the fast path too.
            if key_len > 0 {
                let tight = Limits {
                    max_string: key_len - 1,
                    ..Limits::default()
                };
                let last = run(Parser::new(SliceSource::new(&data), tight));
                assert!(last.last().unwrap().starts_with("error limit"), "{last:?}");
            }
            // Every truncation: the same events and error through the slice and a stream that
            // delivers one byte per read.
            for cut in 11..data.len() {
                let part = &data[..cut];
                let l = Limits::default();
                let s = run(Parser::new(
                    StreamSource::new(OneByteReader::new(part), l.stream_buffer()),
                    l,
                ));
                assert_eq!(slice_run(part), s, "key {key_len} {enc:?} cut {cut}");
                assert!(s.last().unwrap().starts_with("error"), "cut {cut}: {s:?}");
            }
        }
    }
}

/// A reader that gives the first `at` bytes of `data`, then fails once (a reset connection),
/// then gives EOF — or, with `resume`, the rest of the data (a reader that carries on).
struct FailOnce<'a> {
    data: &'a [u8],
    at: usize,
    pos: usize,
    failed: bool,
    resume: bool,
}

impl std::io::Read for FailOnce<'_> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        if self.pos == self.at && !self.failed {
            self.failed = true;
            return Err(std::io::Error::new(
                std::io::ErrorKind::ConnectionReset,
                "connection reset",
            ));
        }
        if self.failed && !self.resume {
            return Ok(0);
        }
        let end = if self.failed {
            self.data.len()
        } else {
            self.at
        };
        // Short reads of 1 to 7 bytes, so that every position is met by a fresh read.
        let n = buf.len().min(end - self.pos).min(1 + self.pos % 7);
        buf[..n].copy_from_slice(&self.data[self.pos..self.pos + n]);
        self.pos += n;
        Ok(n)
    }
}

/// An I/O error of the reader, wherever it happens, is reported as the `io` error it is —
/// never as the end of a truncated file (the parser's fallback paths read again after a
/// failed look-ahead), and never lost when the reader carries on after it.
#[test]
fn a_read_error_is_reported_as_io_wherever_it_happens() {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../../testdata/servers/redis-7.0.15/dev/dump.rdb");
    let data = std::fs::read(&path).unwrap();
    let l = Limits::default();
    let mut checked = 0;
    // Every position of the header and first records, then 500 spread over the file.
    let cuts = (0..400).chain((400..data.len()).step_by(data.len() / 500 + 1));
    for at in cuts {
        for resume in [false, true] {
            let reader = FailOnce {
                data: &data,
                at,
                pos: 0,
                failed: false,
                resume,
            };
            let mut p = Parser::new(StreamSource::new(reader, l.stream_buffer()), l);
            let err = loop {
                match p.next_event() {
                    Ok(Some(_)) => {}
                    Ok(None) => panic!("cut at {at} (resume {resume}): read to the end"),
                    Err(e) => break e,
                }
            };
            assert_eq!(err.code(), "io", "cut at {at} (resume {resume}): {err}");
            checked += 1;
        }
    }
    assert!(checked > 1500, "{checked}");
}

/// `set_skim` takes effect from the next key: asked for in the middle of a key (a quicklist,
/// a stream, whose nodes skim mode would step over), the key is still read whole — the same
/// events as without it — and the keys after it are skimmed.
#[test]
fn set_skim_waits_for_the_next_key() {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../../testdata/servers/redis-7.0.15/dev/dump.rdb");
    let data = std::fs::read(&path).unwrap();
    let plain = slice_run(&data);
    for key in ["dev:list:big-compressible", "dev:stream:big"] {
        let mut p = Parser::new(SliceSource::new(&data), Limits::default());
        let mut got = Vec::new();
        let mut inside = false;
        while let Some(ev) = p.next_event().unwrap() {
            let text = rdb_testkit::events::fingerprint(&ev);
            let this_key = matches!(&ev, rdb_reader::Event::Key(k)
                if k.key.as_bytes(&mut rdb_format::IntText::new(0)) == key.as_bytes());
            let end = matches!(ev, rdb_reader::Event::KeyEnd);
            if this_key {
                inside = true;
                p.set_skim(true);
            }
            if inside {
                got.push(text);
            }
            if inside && end {
                break;
            }
        }
        let start = plain
            .iter()
            .position(|e| e == &got[0])
            .unwrap_or_else(|| panic!("{key}: key event"));
        assert!(got.len() > 10, "{key}: {} events", got.len());
        assert_eq!(got, plain[start..start + got.len()], "{key}");
        // The keys after it are skimmed: their compact values give no element events.
        let mut rest = 0;
        while p.next_event().unwrap().is_some() {
            rest += 1;
        }
        let plain_rest = plain.len() - (start + got.len());
        assert!(
            rest < plain_rest,
            "{key}: {rest} events after it, {plain_rest} unskimmed"
        );
    }
}

/// An LZF-compressed blob (a quicklist node's listpack) is held to `max_blob`, as an
/// uncompressed one is, not to `max_string`: a list of 8 KiB compressible nodes reads with a
/// 1 KiB string limit; a blob over `max_blob` names the limit.
#[test]
fn compressed_blobs_are_held_to_the_blob_limit() {
    let items: Vec<rdb_model::Bytes> = (0..2000)
        .map(|i| rdb_model::Bytes::from(format!("element-{:04}", i % 10)))
        .collect();
    let mut ks = rdb_model::Keyspace::default();
    ks.db_mut(0)
        .entries
        .push(rdb_model::Entry::new("l", rdb_model::Value::List(items)));
    let (file, _) = rdb_writer::write_keyspace(
        &ks,
        Vec::new(),
        &rdb_writer::WriterBuilder::new(rdb_writer::Target::Redis70),
    )
    .unwrap();
    let small_strings = Limits {
        max_string: 1024,
        ..Limits::default()
    };
    let back = rdb_reader::read_keyspace_from(Parser::new(SliceSource::new(&file), small_strings));
    assert!(back.unwrap().dbs == ks.dbs, "the list reads back");
    let small_blobs = Limits {
        max_blob: 1024,
        ..Limits::default()
    };
    let err = rdb_reader::read_keyspace_from(Parser::new(SliceSource::new(&file), small_blobs))
        .unwrap_err();
    assert!(err.to_string().contains("limit of 1024 bytes"), "{err}");
}

/// `read_keyspace_from` builds the same keyspace whether strings come whole
/// (`Limits::whole_strings`) or as chunks, and refuses, before reading, limits that give no
/// bytes for compressed strings.
#[test]
fn read_keyspace_from_takes_whole_strings_and_refuses_undecoded_ones() {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../../testdata/servers/redis-7.0.15/dev/dump.rdb");
    let data = std::fs::read(&path).unwrap();
    let plain = rdb_reader::read_keyspace(&data).unwrap();
    let whole = Limits {
        whole_strings: true,
        ..Limits::default()
    };
    let got = rdb_reader::read_keyspace_from(Parser::new(SliceSource::new(&data), whole)).unwrap();
    assert!(got == plain, "whole strings give the same keyspace");
    let undecoded = Limits {
        decode_lzf_strings: false,
        ..Limits::default()
    };
    let err = rdb_reader::read_keyspace_from(Parser::new(SliceSource::new(&data), undecoded))
        .unwrap_err();
    assert_eq!(err.code(), "usage", "{err}");
}

/// A listpack-encoded hash or sorted set with an odd number of elements (a field without its
/// value, a member without its score) is an error at the blob, never read as the pairs before
/// it: from a slice, from a stream, and when the key is skipped.
#[test]
fn a_pair_listpack_with_an_odd_count_is_refused() {
    // RDB 11, db 0, then type 16 (hash listpack) or 17 (zset listpack) key "h": a listpack of
    // three elements (a, b, c; a, 1, b); EOF; checksum 0 (disabled).
    let hash: &[u8] = &[0x81, b'a', 2, 0x81, b'b', 2, 0x81, b'c', 2];
    let zset: &[u8] = &[0x81, b'a', 2, 0x01, 1, 0x81, b'b', 2];
    for (ty, entries) in [(0x10u8, hash), (0x11, zset)] {
        let total = u8::try_from(6 + entries.len() + 1).unwrap();
        let mut file = b"REDIS0011\xfe\x00".to_vec();
        file.extend_from_slice(&[ty, 1, b'h', total, total, 0, 0, 0, 3, 0]);
        file.extend_from_slice(entries);
        file.extend_from_slice(&[0xFF, 0xFF, 0, 0, 0, 0, 0, 0, 0, 0]);
        let e = rdb_reader::read_keyspace(&file).unwrap_err();
        assert_eq!((e.code(), e.offset()), ("blob-odd-count", 15), "type {ty}");
        let last = slice_run(&file).pop().unwrap();
        assert!(last.contains("blob-odd-count"), "type {ty}: {last}");
        for run in stream_runs(&file, 7) {
            assert_eq!(run, slice_run(&file), "type {ty}");
        }
    }
}
