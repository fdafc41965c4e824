//! LZF throughput (`rdb_format::lzf`): compression (ours vs the `lzf` crate) on typical small
//! values and a 4 KiB value, decompression and validation.

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use rand::{Rng, SeedableRng};
use rdb_format::lzf::{decompress, validate, Compressor};
use rdb_testkit::gen;
use std::hint::black_box;

const SIZES: &[usize] = &[32, 64, 128, 256, 4096, 65536];

fn bench_compress(c: &mut Criterion) {
    let mut rng = rand::rngs::StdRng::seed_from_u64(42);
    let mut group = c.benchmark_group("lzf_compress");
    let mut comp = Compressor::new();
    let mut out = Vec::with_capacity(8192);
    for &size in SIZES {
        let data = gen::semi_compressible(&mut rng, size);
        group.throughput(Throughput::Bytes(size as u64));
        group.bench_with_input(BenchmarkId::new("ours", size), &data, |b, data| {
            b.iter(|| {
                out.clear();
                comp.compress(black_box(data), &mut out, data.len())
            })
        });
        group.bench_with_input(BenchmarkId::new("lzf_crate", size), &data, |b, data| {
            b.iter(|| lzf::compress(black_box(data)).map(|v| v.len()).ok())
        });
    }
    // Incompressible input with the writer's rule `max_out = len - 4` (refused).
    let mut noise = vec![0u8; 65536];
    rng.fill(&mut noise[..]);
    group.throughput(Throughput::Bytes(noise.len() as u64));
    group.bench_with_input(
        BenchmarkId::new("ours_noise", noise.len()),
        &noise,
        |b, data| {
            b.iter(|| {
                out.clear();
                comp.compress(black_box(data), &mut out, data.len() - 4)
            })
        },
    );
    group.finish();
}

fn bench_decode(c: &mut Criterion) {
    let mut rng = rand::rngs::StdRng::seed_from_u64(43);
    let mut comp = Compressor::new();
    let mut group = c.benchmark_group("lzf_decode");
    for &size in SIZES.iter().chain(&[1usize << 20]) {
        let data = gen::semi_compressible(&mut rng, size);
        let mut packed = Vec::new();
        comp.compress(&data, &mut packed, usize::MAX);
        let mut out = Vec::with_capacity(size);
        group.throughput(Throughput::Bytes(size as u64));
        group.bench_with_input(BenchmarkId::new("decompress", size), &packed, |b, p| {
            b.iter(|| {
                out.clear();
                decompress(black_box(p), &mut out, size)
            })
        });
        group.bench_with_input(BenchmarkId::new("validate", size), &packed, |b, p| {
            b.iter(|| validate(black_box(p), size))
        });
        group.bench_with_input(
            BenchmarkId::new("lzf_crate_decompress", size),
            &packed,
            |b, p| b.iter(|| lzf::decompress(black_box(p), size).map(|v| v.len()).ok()),
        );
    }
    group.finish();
}

criterion_group!(benches, bench_compress, bench_decode);
criterion_main!(benches);
