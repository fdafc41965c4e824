//! Verifier throughput: `rdb_verify::verify_bytes` (every check, default options) on the same
//! three in-memory files as the `read` bench (written once by `rdb_writer` from
//! `rdb_testkit::gen`: many small strings, every type mixed, big values; LZF on). Throughput
//! counts file bytes.

use std::hint::black_box;

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use rdb_testkit::gen;
use rdb_verify::{verify_bytes, Options};
use rdb_writer::{write_keyspace, Target, WriterBuilder};

fn bench_verify(c: &mut Criterion) {
    let builder = WriterBuilder::new(Target::Redis70).ctime(1_700_000_000);
    let inputs = [
        ("small_strings", gen::small_strings(100_000, 1)),
        ("mixed", gen::mixed(5_000, 2)),
        ("big_values", gen::big_values(300, 3)),
    ];
    let opts = Options::default();
    let mut group = c.benchmark_group("verify");
    group.sample_size(20);
    for (name, ks) in &inputs {
        let (bytes, summary) = write_keyspace(ks, Vec::new(), &builder).expect("write");
        // The writer's output must verify clean, or the timing measures an early stop.
        let report = verify_bytes(*name, &bytes, &opts);
        assert!(report.ok, "{name}: {report:?}");
        assert_eq!(report.keys, summary.keys, "{name}: key count");
        group.throughput(Throughput::Bytes(bytes.len() as u64));
        group.bench_with_input(BenchmarkId::from_parameter(name), &bytes, |b, bytes| {
            b.iter(|| verify_bytes(*name, black_box(bytes), &opts).keys)
        });
    }
    group.finish();
}

criterion_group!(benches, bench_verify);
criterion_main!(benches);
