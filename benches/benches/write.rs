//! Writer throughput (`rdb_writer::write_keyspace` into `io::sink()`): the seeded generators
//! of `rdb_testkit::gen` (many small strings, every type mixed, big values) at modest sizes,
//! with LZF compression on and off, and with LZF on, the keys encoded in parallel
//! (`WriterBuilder::parallel`) on rayon's global pool (one thread per core). Throughput counts
//! output bytes and keys.

use std::hint::black_box;
use std::io;

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use rdb_model::Keyspace;
use rdb_testkit::gen;
use rdb_writer::{write_keyspace, Target, WriterBuilder};

fn bench_write(c: &mut Criterion) {
    let inputs: [(&str, Keyspace); 3] = [
        ("small_strings", gen::small_strings(50_000, 1)),
        ("mixed", gen::mixed(2_000, 2)),
        ("big_values", gen::big_values(200, 3)),
    ];
    let mut group = c.benchmark_group("write");
    group.sample_size(20);
    for (name, ks) in &inputs {
        for (lzf, parallel) in [(true, false), (false, false), (true, true)] {
            let builder = WriterBuilder::new(Target::Redis72)
                .ctime(1_700_000_000)
                .compression(lzf)
                .parallel(parallel);
            let (_, summary) = write_keyspace(ks, io::sink(), &builder).expect("write");
            group.throughput(Throughput::ElementsAndBytes {
                elements: summary.keys,
                bytes: summary.bytes,
            });
            let mode = match (lzf, parallel) {
                (true, false) => "lzf",
                (false, _) => "raw",
                (true, true) => "lzf_parallel",
            };
            let id = BenchmarkId::new(*name, mode);
            group.bench_with_input(id, ks, |b, ks| {
                b.iter(|| write_keyspace(black_box(ks), io::sink(), &builder).map(|(_, s)| s.bytes))
            });
        }
    }
    group.finish();
}

criterion_group!(benches, bench_write);
criterion_main!(benches);
