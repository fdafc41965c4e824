//! Hostile length fields: a tiny file declaring gigabytes fails fast and allocates nothing
//! near the declared size: the allocator refuses (and aborts the binary) past 16 MiB of heap.
//! Alone in its test binary so no other test shares that budget.

use std::alloc::System;

use cap::Cap;
use rdb_reader::{Limits, Parser, SliceSource, StreamSource};
use rdb_testkit::chunked::OneByteReader;
use rdb_testkit::events::run;

#[global_allocator]
static ALLOC: Cap<System> = Cap::new(System, usize::MAX);

#[test]
fn huge_declared_lengths_fail_fast_without_allocating() {
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
