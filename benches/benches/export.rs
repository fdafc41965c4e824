//! Cluster export throughput (`rdb_cluster::export`): a mixed keyspace (`rdb_testkit::gen::mixed`)
//! exported to 1, 2 and 4 node groups, from the owned keyspace (every value encoded) and from an
//! `.rdb` file of the same keyspace (two passes, values copied raw). Each iteration writes, fsyncs
//! and publishes the node files and the manifest into a temp dir; removing them afterwards is not
//! timed. Throughput counts the bytes of the node files.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use rdb_cluster::export::{export_keyspace, export_rdb_file, ExportPlan, ExportResult};
use rdb_cluster::topology::Topology;
use rdb_testkit::gen;
use rdb_writer::{write_keyspace, Target, WriterBuilder};

/// A fresh directory under the system temp dir, removed on drop.
struct TempDir(PathBuf);

impl TempDir {
    fn new() -> Self {
        let dir = std::env::temp_dir().join(format!("rdbkit-bench-export-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).expect("temp dir");
        TempDir(dir)
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn plan(dir: &Path, name: &str, groups: usize) -> ExportPlan {
    let mut p = ExportPlan::new(
        name,
        dir,
        Topology::even(groups).expect("topology"),
        Target::Redis72,
    );
    p.now = 1_700_000_000;
    p
}

fn remove_outputs(res: &ExportResult) {
    for n in &res.nodes {
        let _ = std::fs::remove_file(&n.path);
    }
    let _ = std::fs::remove_file(&res.manifest_path);
}

fn bench_export(c: &mut Criterion) {
    let tmp = TempDir::new();
    let ks = gen::mixed(5_000, 2);
    let src = tmp.0.join("source.rdb");
    let builder = WriterBuilder::new(Target::Redis72).ctime(1_700_000_000);
    let (bytes, _) = write_keyspace(&ks, Vec::new(), &builder).expect("write source");
    std::fs::write(&src, bytes).expect("write source file");
    let out = tmp.0.join("out");
    std::fs::create_dir_all(&out).expect("out dir");

    let mut group = c.benchmark_group("export");
    group.sample_size(20);
    let mut seq = 0u64;
    for groups in [1usize, 2, 4] {
        for source in ["keyspace", "rdb"] {
            let run = |name: &str| -> ExportResult {
                let p = plan(&out, name, groups);
                match source {
                    "keyspace" => export_keyspace(&ks, &p),
                    _ => export_rdb_file(&src, &p),
                }
                .expect("export")
            };
            seq += 1;
            let probe = run(&format!("probe{seq}"));
            let total: u64 = probe.nodes.iter().map(|n| n.bytes).sum();
            remove_outputs(&probe);
            group.throughput(Throughput::Bytes(total));
            group.bench_function(BenchmarkId::new(source, groups), |b| {
                b.iter_custom(|iters| {
                    let mut timed = Duration::ZERO;
                    for _ in 0..iters {
                        seq += 1;
                        let name = format!("b{seq}");
                        let t = Instant::now();
                        let res = run(&name);
                        timed += t.elapsed();
                        remove_outputs(&res);
                    }
                    timed
                })
            });
        }
    }
    group.finish();
}

criterion_group!(benches, bench_export);
criterion_main!(benches);
