//! CRC-64/REDIS throughput (`rdb_format::crc`) on buffers from 64 B to 16 MiB.

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use rand::{RngCore, SeedableRng};
use rdb_format::crc::{crc64, Crc64};
use std::hint::black_box;

fn bench_crc(c: &mut Criterion) {
    let mut rng = rand::rngs::StdRng::seed_from_u64(64);
    let mut data = vec![0u8; 16 << 20];
    rng.fill_bytes(&mut data);
    let mut group = c.benchmark_group("crc64");
    for &(name, size) in &[
        ("64B", 64usize),
        ("4KiB", 4 << 10),
        ("64KiB", 64 << 10),
        ("1MiB", 1 << 20),
        ("16MiB", 16 << 20),
    ] {
        let buf = &data[..size];
        group.throughput(Throughput::Bytes(size as u64));
        group.bench_with_input(BenchmarkId::new("oneshot", name), buf, |b, buf| {
            b.iter(|| crc64(black_box(buf)))
        });
        if size >= 1 << 20 {
            // Incremental in 64 KiB chunks, as a streaming reader feeds it.
            group.bench_with_input(
                BenchmarkId::new("incremental_64KiB", name),
                buf,
                |b, buf| {
                    b.iter(|| {
                        let mut c = Crc64::new();
                        for chunk in black_box(buf).chunks(64 << 10) {
                            c.update(chunk);
                        }
                        c.value()
                    })
                },
            );
        }
    }
    group.finish();
}

criterion_group!(benches, bench_crc);
criterion_main!(benches);
