//! Cluster slot maths (`rdb_cluster`): `key_slot` on 16- and 64-byte keys with and without hash tags, the
//! partitioner's key → node group lookup, and `SlotSet` text parse / print.

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use rdb_cluster::slot::key_slot;
use rdb_cluster::slotset::SlotSet;
use rdb_cluster::topology::Topology;
use std::hint::black_box;

const BATCH: usize = 1024;

/// `BATCH` distinct keys of exactly `len` bytes; with `tagged`, each starts with a `{user:NNNNNN}` hash tag.
fn keys(len: usize, tagged: bool) -> Vec<Vec<u8>> {
    (0..BATCH)
        .map(|i| {
            let mut key = if tagged {
                format!("{{u:{i:06}}}:").into_bytes()
            } else {
                format!("u:{i:06}:").into_bytes()
            };
            let mut filler = b"abcdefghijklmnopqrstuvwxyz".iter().cycle();
            while key.len() < len {
                key.push(*filler.next().unwrap_or(&b'x'));
            }
            key.truncate(len);
            key
        })
        .collect()
}

fn bench_key_slot(c: &mut Criterion) {
    let mut group = c.benchmark_group("key_slot");
    group.throughput(Throughput::Elements(BATCH as u64));
    for len in [16usize, 64] {
        for tagged in [false, true] {
            let batch = keys(len, tagged);
            let name = format!("{len}B_{}", if tagged { "tagged" } else { "plain" });
            group.bench_with_input(BenchmarkId::from_parameter(name), &batch, |b, batch| {
                b.iter(|| {
                    batch
                        .iter()
                        .map(|k| u32::from(key_slot(black_box(k))))
                        .sum::<u32>()
                })
            });
        }
    }
    group.finish();

    let mut group = c.benchmark_group("node_for_key");
    group.throughput(Throughput::Elements(BATCH as u64));
    let partitioner = Topology::even(90)
        .and_then(|t| t.partitioner())
        .unwrap_or_else(|e| panic!("{e}"));
    let batch = keys(16, false);
    group.bench_function("16B_90_shards", |b| {
        b.iter(|| {
            batch
                .iter()
                .map(|k| partitioner.node_for_key(black_box(k)))
                .sum::<usize>()
        })
    });
    group.finish();
}

fn bench_slotset_text(c: &mut Criterion) {
    // One contiguous range, and a fragmented set of 2048 ranges (every 8th slot run of 4).
    let simple = SlotSet::from_range(5462..=10922);
    let fragmented: SlotSet = (0..2048u16).map(|i| i * 8..=i * 8 + 3).collect();
    let mut group = c.benchmark_group("slotset");
    for (name, set) in [("1_range", &simple), ("2048_ranges", &fragmented)] {
        let text = set.to_string();
        group.throughput(Throughput::Bytes(text.len() as u64));
        group.bench_with_input(BenchmarkId::new("parse", name), &text, |b, text| {
            b.iter(|| SlotSet::parse(black_box(text)))
        });
        group.bench_with_input(BenchmarkId::new("print", name), set, |b, set| {
            b.iter(|| black_box(set).to_string())
        });
    }
    group.finish();

    c.bench_function("topology_even_500_slot_map", |b| {
        b.iter(|| Topology::even(black_box(500)).and_then(|t| t.slot_map()))
    });
}

criterion_group!(benches, bench_key_slot, bench_slotset_text);
criterion_main!(benches);
