//! Hostile length fields: a tiny file declaring gigabytes fails fast and allocates nothing
//! near the declared size: the allocator refuses (and aborts the binary) past 16 MiB of heap.
//! The tests of this binary run one at a time (`SERIAL`), so none shares another's budget.

use std::alloc::System;

use cap::Cap;
use rdb_reader::{Limits, Parser, SliceSource, StreamSource};
use rdb_testkit::chunked::OneByteReader;
use rdb_testkit::events::run;

#[global_allocator]
static ALLOC: Cap<System> = Cap::new(System, usize::MAX);

/// The tests of this binary one at a time: each sets the allocator's budget for itself.
static SERIAL: std::sync::Mutex<()> = std::sync::Mutex::new(());

#[test]
fn huge_declared_lengths_fail_fast_without_allocating() {
    let _one_at_a_time = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    // String value declaring 4 GiB (64-bit length form), then a few bytes.
    let mut f = b"REDIS0011\xfe\x00\x00\x01k\x81\x00\x00\x00\x01\x00\x00\x00\x00".to_vec();
    f.extend_from_slice(&[b'x'; 40]);
    assert!(f.len() <= 64);
    // A list declaring 2^32 elements.
    let mut g = b"REDIS0011\xfe\x00\x01\x01k\x81\x00\x00\x00\x01\x00\x00\x00\x00".to_vec();
    g.extend_from_slice(&[0x01, b'a']);
    // A set member / hash field of 4 GiB, LZF strings declaring 4 GiB outputs, a listpack blob of 3 GiB.
    let h = b"REDIS0011\xfe\x00\x02\x01k\x01\x80\xff\xff\xff\xff".to_vec();
    let i = b"REDIS0011\xfe\x00\x00\x01k\xc3\x05\x81\x00\x00\x00\x01\x00\x00\x00\x00abcde".to_vec();
    let j = b"REDIS0011\xfe\x00\x10\x01k\x80\xc0\x00\x00\x00".to_vec();
    for (name, file) in [
        ("string", f),
        ("list", g),
        ("member", h),
        ("lzf", i),
        ("blob", j),
    ] {
        for mode in 0..2 {
            // Any allocation past 16 MiB above the current heap aborts the test binary.
            ALLOC.set_limit(ALLOC.allocated() + (16 << 20)).unwrap();
            let t = std::time::Instant::now();
            let out = if mode == 0 {
                run(Parser::new(SliceSource::new(&file), Limits::default()))
            } else {
                let l = Limits::default();
                run(Parser::new(
                    StreamSource::new(OneByteReader::new(&file), l.stream_buffer()),
                    l,
                ))
            };
            ALLOC.set_limit(usize::MAX).unwrap();
            assert!(
                out.last().unwrap().starts_with("error"),
                "{name}/{mode}: {out:?}"
            );
            assert!(t.elapsed().as_secs() < 5, "{name}/{mode}: slow");
        }
    }
}

/// A module value larger than the stream buffer a verifier can afford (here 48 MiB: 24
/// module strings of 2 MiB), read from a stream: with `Limits::module_bytes` off its body is
/// walked in released chunks (16 MiB of heap is enough; its length is still given), and with
/// the bytes kept it is held to `max_blob` (a `limit` error, not a buffer of the whole body);
/// from a slice (a mapped file) it is given whole whatever `max_blob` says.
#[test]
fn a_big_module_value_is_walked_in_bounded_memory() {
    let _one_at_a_time = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let mut b = rdb_testkit::builder::Rdb::new(9);
    b.select_db(0);
    b.key(7, b"m");
    b.len(0x1234_5678_9abc_de00); // a module id (name and version bits)
    let chunk = vec![b'x'; 2 << 20];
    for _ in 0..24 {
        b.len(5).str(&chunk);
    }
    b.len(0);
    let file = b.finish();
    let body = 24 * (chunk.len() as u64 + 5 + 1) + 1;
    for keep in [false, true] {
        let l = Limits {
            module_bytes: keep,
            max_blob: 8 << 20,
            max_string: 4 << 20,
            ..Limits::default()
        };
        // Kept, the buffer may grow to about twice `max_blob` (doubling): still below the
        // 48 MiB body.
        let budget = if keep { 40 << 20 } else { 16 << 20 };
        ALLOC.set_limit(ALLOC.allocated() + budget).unwrap();
        let mut p = Parser::new(StreamSource::new(&file[..], l.stream_buffer()), l);
        let mut seen = None;
        let end = loop {
            match p.next_event() {
                Ok(Some(rdb_reader::Event::Module { raw, len, .. })) => {
                    seen = Some((raw.len(), len));
                }
                Ok(Some(_)) => {}
                Ok(None) => break Ok(()),
                Err(e) => break Err(e),
            }
        };
        ALLOC.set_limit(usize::MAX).unwrap();
        if keep {
            let e = end.unwrap_err();
            assert_eq!(e.code(), "limit", "{e}");
        } else {
            end.unwrap();
            assert_eq!(seen, Some((0, body)));
        }
        // From a slice (a mapped file: the bytes are there already), no limit applies and
        // nothing is copied.
        ALLOC.set_limit(ALLOC.allocated() + (16 << 20)).unwrap();
        let mut p = Parser::new(SliceSource::new(&file), l);
        let mut seen = None;
        while let Some(ev) = p.next_event().unwrap() {
            if let rdb_reader::Event::Module { raw, len, .. } = ev {
                seen = Some((raw.len() as u64, len));
            }
        }
        ALLOC.set_limit(usize::MAX).unwrap();
        let raw = if keep { body } else { 0 };
        assert_eq!(seen, Some((raw, body)), "slice, keep {keep}");
    }
}

/// An AUX value of 6 MB of LZF declaring 500 MB of output (within LZF's 88× bound and the
/// string limit), invalid at its first token: refused without allocating the output (the
/// stream is validated before an output over 1 MiB is allocated).
#[test]
fn an_invalid_lzf_string_declaring_a_huge_output_allocates_nothing() {
    let _one_at_a_time = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let compressed = 6 << 20;
    let declared = 500u64 << 20;
    let mut data = vec![0u8; compressed];
    // A back-reference at the very start: before the start of the output.
    data[0] = 0x20;
    data[1] = 0x05;
    let mut b = rdb_testkit::builder::Rdb::new(9);
    b.byte(0xFA).str(b"big");
    b.byte(0xC3)
        .len(compressed as u64)
        .len(declared)
        .bytes(&data);
    b.select_db(0);
    let file = b.finish();
    for mode in 0..2 {
        ALLOC.set_limit(ALLOC.allocated() + (16 << 20)).unwrap();
        let out = if mode == 0 {
            run(Parser::new(SliceSource::new(&file), Limits::default()))
        } else {
            let l = Limits::default();
            run(Parser::new(
                StreamSource::new(&file[..], l.stream_buffer()),
                l,
            ))
        };
        ALLOC.set_limit(usize::MAX).unwrap();
        let last = out.last().unwrap();
        assert!(
            last.starts_with("error") && last.contains("lzf"),
            "{mode}: {last}"
        );
    }
}

/// The limits hold exactly: a set member of exactly `max_string` bytes and an intset blob of
/// exactly `max_blob` bytes are read, one byte less of limit is a `limit` error (a limit
/// checked loosely, e.g. against twice the value, was caught only by a long robustness test).
#[test]
fn limits_are_exact() {
    let _one_at_a_time = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let file = |body: &[u8]| {
        let mut f = b"REDIS0011\xfe\x00".to_vec();
        f.extend_from_slice(body);
        f.push(0xFF);
        let crc = rdb_format::crc::crc64(&f);
        f.extend_from_slice(&crc.to_le_bytes());
        f
    };
    // Type 2 (set), key "k", one member of 50 bytes.
    let mut set = vec![0x02, 0x01, b'k', 0x01, 50];
    set.extend_from_slice(&[b'm'; 50]);
    // Type 11 (intset), key "k": a 10-byte blob (encoding 2, one member, 5).
    let intset = [0x0B, 0x01, b'k', 0x0A, 2, 0, 0, 0, 1, 0, 0, 0, 5, 0];
    for (name, body, limits) in [
        ("member", &set[..], |n| Limits {
            max_string: n,
            ..Limits::default()
        }),
        ("blob", &intset[..], |n| Limits {
            max_blob: n,
            ..Limits::default()
        }),
    ] as [(&str, &[u8], fn(usize) -> Limits); 2]
    {
        let f = file(body);
        let exact = if name == "member" { 50 } else { 10 };
        let out = run(Parser::new(SliceSource::new(&f), limits(exact)));
        assert!(
            !out.iter().any(|e| e.starts_with("error")),
            "{name} at its limit: {out:?}"
        );
        let out = run(Parser::new(SliceSource::new(&f), limits(exact - 1)));
        let last = out.last().unwrap();
        assert!(
            last.starts_with("error") && last.contains("limit"),
            "{name} one byte over: {out:?}"
        );
    }
}
