//! Verifier throughput: `rdb_verify::verify_bytes` (every check, default options) on the same
//! three in-memory files as the `read` bench (written once by `rdb_writer` from
//! `rdb_testkit::gen`: many small strings, every type mixed, big values; LZF on). Throughput
//! counts file bytes.
//!
//! `verify_file`: a ≈ 140 MB mixed file on disk (`gen::mixed(100_000)`), streamed in one pass
//! (`try_verify_file`) and in two parts on two threads (`verify_file_in_parts`, what
//! `rdb-verify` does with a spare thread).

use std::hint::black_box;

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use rdb_testkit::gen;
use rdb_verify::{try_verify_file, verify_bytes, verify_file_in_parts, Options};
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

fn bench_verify_file(c: &mut Criterion) {
    let builder = WriterBuilder::new(Target::Redis70).ctime(1_700_000_000);
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("mixed.rdb");
    let ks = gen::mixed(100_000, 4);
    let file = std::fs::File::create(&path).expect("create");
    write_keyspace(&ks, std::io::BufWriter::new(file), &builder).expect("write");
    drop(ks);
    let len = std::fs::metadata(&path).expect("metadata").len();
    let opts = Options::default();
    let one = try_verify_file(&path, &opts).expect("verify");
    assert!(one.ok, "{one:?}");
    let two = verify_file_in_parts(&path, &opts, 2).expect("verify in parts");
    assert_eq!(two.keys, one.keys, "same report");
    let mut group = c.benchmark_group("verify_file");
    group.sample_size(10);
    group.throughput(Throughput::Bytes(len));
    group.bench_function("mixed_one_pass", |b| {
        b.iter(|| try_verify_file(black_box(&path), &opts).map(|r| r.keys))
    });
    group.bench_function("mixed_two_parts", |b| {
        b.iter(|| verify_file_in_parts(black_box(&path), &opts, 2).map(|r| r.keys))
    });
    group.finish();
}

criterion_group!(benches, bench_verify, bench_verify_file);
criterion_main!(benches);
