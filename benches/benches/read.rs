//! Reader throughput: `rdb_reader::Parser` over a `SliceSource` (zero-copy, as for a mapped
//! file) and over a `StreamSource` (any `Read`, bounded buffer), on files written once into
//! memory by `rdb_writer` from the seeded generators of `rdb_testkit::gen` (many small strings,
//! every type mixed, big values; LZF on). Every event is pulled; throughput counts file bytes.

use std::hint::black_box;

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use rdb_reader::{stream_parser, Limits, Parser, ReadResult, SliceSource, Source};
use rdb_testkit::gen;
use rdb_writer::{write_keyspace, Target, WriterBuilder};

/// The three benchmark files, written once into memory.
fn files() -> Vec<(&'static str, Vec<u8>)> {
    let builder = WriterBuilder::new(Target::Redis70).ctime(1_700_000_000);
    [
        ("small_strings", gen::small_strings(100_000, 1)),
        ("mixed", gen::mixed(5_000, 2)),
        ("big_values", gen::big_values(300, 3)),
    ]
    .into_iter()
    .map(|(name, ks)| {
        let (bytes, _) = write_keyspace(&ks, Vec::new(), &builder).expect("write");
        (name, bytes)
    })
    .collect()
}

/// Pulls every event; returns how many there were.
fn drain<S: Source>(mut p: Parser<S>) -> ReadResult<u64> {
    let mut n = 0u64;
    while let Some(ev) = p.next_event()? {
        black_box(&ev);
        n += 1;
    }
    Ok(n)
}

fn bench_read(c: &mut Criterion) {
    let files = files();
    let mut group = c.benchmark_group("read");
    group.sample_size(20);
    for (name, bytes) in &files {
        // A reader that fails here would make the numbers meaningless.
        let events = drain(Parser::new(SliceSource::new(bytes), Limits::default())).expect("read");
        assert!(events > 0, "{name}: no events");
        group.throughput(Throughput::Bytes(bytes.len() as u64));
        group.bench_with_input(BenchmarkId::new("slice", name), bytes, |b, bytes| {
            b.iter(|| {
                drain(Parser::new(
                    SliceSource::new(black_box(bytes)),
                    Limits::default(),
                ))
            })
        });
        group.bench_with_input(BenchmarkId::new("stream", name), bytes, |b, bytes| {
            b.iter(|| {
                drain(stream_parser(
                    black_box(bytes.as_slice()),
                    Limits::default(),
                ))
            })
        });
    }
    group.finish();
}

criterion_group!(benches, bench_read);
criterion_main!(benches);
