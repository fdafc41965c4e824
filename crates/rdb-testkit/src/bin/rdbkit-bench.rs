//! `rdbkit-bench`: the Rust half of the benchmark scripts in `benches/` (see
//! `benches/README.md`).
//!
//! ```text
//! rdbkit-bench resp <mixed|big-values|small-strings> --keys N [--seed S] [--big B]
//!     RESP commands on stdout that build the dataset (for `redis-cli --pipe`).
//! rdbkit-bench write --rdb FILE [--rounds 3] [--split 1] [--out-dir DIR] [--target redis-7.0]
//!                    [--no-fsync | --buffered-io] [--cpus LIST] [--parallel]
//!     Reads FILE into a keyspace once (untimed), then times `write_keyspace` to files
//!     (`--parallel`: each file's keys encoded on rayon's pool, one thread per CPU allowed).
//! rdbkit-bench compare-save --rdb FILE [--name NAME] [--rounds 3] [--split 2]
//!                    [--server /usr/bin/redis-server] [--out-dir DIR] [--target redis-7.0]
//!                    [--no-fsync | --buffered-io] [--no-pin] [--cpus 0] [--split-cpus 0,1]
//!                    [--json FILE]
//!     Loads FILE into a private redis-server and into a keyspace (the same keys, checked),
//!     then alternates rounds of the server's `SAVE` and our writer, both pinned to the one
//!     core `--cpus` (`taskset`), and optionally the writer split over `--split` node groups
//!     on the cores `--split-cpus` (default the first `--split` cores).
//! ```
//!
//! Our writer always writes real files with LZF on and, unless `--no-fsync`, ends with
//! `fsync` (as `SAVE` does), so the two sides do the same work. It writes as `rdbkit export`
//! does: `SyncingFile::with_direct_io` (O_DIRECT where the filesystem allows), or with
//! `--buffered-io` through the page cache with background syncs (`SyncingFile::new`).

use std::collections::HashMap;
use std::fs::{self, File};
use std::io::{self, BufWriter, Write};
use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode, Stdio};
use std::time::{Duration, Instant};

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use rdb_model::commands::write_resp;
use rdb_model::{Entry, Keyspace, Value};
use rdb_reader::{read_keyspace, MappedFile};
use rdb_testkit::gen;
use rdb_testkit::server::{keyspace_key_counts, RedisServer, ServerOptions};
use rdb_writer::slot::key_slot;
use rdb_writer::{write_keyspace, SyncingFile, Target, WriterBuilder};

/// Keys generated per `gen::mixed` call (each chunk gets its own seed and key suffix).
const CHUNK: usize = 5_000;

/// Share of `gen::mixed` keys that are big collections (lists of 500+, sets/zsets/hashes over
/// the listpack limits, streams of 150+ entries): used to aim at `--big` of them.
const MIXED_BIG_SHARE: f64 = 0.09;

/// Fixed `ctime` so repeated writes produce the same bytes.
const CTIME: i64 = 1_700_000_000;

type Res<T> = Result<T, String>;

/// Command-line options: `--name value` pairs, bare flags and positionals.
struct Args {
    positional: Vec<String>,
    opts: HashMap<String, String>,
    flags: Vec<String>,
}

const FLAGS: &[&str] = &["--no-fsync", "--no-pin", "--buffered-io", "--parallel"];

/// How the timed writer's files are written.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Output {
    /// A plain `File` through the page cache, never synced (`--no-fsync`).
    Unsynced,
    /// `SyncingFile::new`: page cache, background `fdatasync`, `sync_all` at the end.
    Buffered,
    /// `SyncingFile::with_direct_io`: O_DIRECT chunks from an I/O thread, `sync_all` at the end.
    Direct,
}

impl Output {
    fn from_args(args: &Args) -> Self {
        if args.flag("--no-fsync") {
            Output::Unsynced
        } else if args.flag("--buffered-io") {
            Output::Buffered
        } else {
            Output::Direct
        }
    }

    fn name(self) -> &'static str {
        match self {
            Output::Unsynced => "unsynced",
            Output::Buffered => "buffered",
            Output::Direct => "direct",
        }
    }
}

impl Args {
    fn parse(raw: impl Iterator<Item = String>) -> Res<Args> {
        let mut a = Args {
            positional: Vec::new(),
            opts: HashMap::new(),
            flags: Vec::new(),
        };
        let mut it = raw.peekable();
        while let Some(s) = it.next() {
            if FLAGS.contains(&s.as_str()) {
                a.flags.push(s);
            } else if s.starts_with("--") {
                let v = it.next().ok_or_else(|| format!("{s} needs a value"))?;
                a.opts.insert(s, v);
            } else {
                a.positional.push(s);
            }
        }
        Ok(a)
    }

    fn flag(&self, name: &str) -> bool {
        self.flags.iter().any(|f| f == name)
    }

    fn get<T: std::str::FromStr>(&self, name: &str, default: T) -> Res<T> {
        match self.opts.get(name) {
            None => Ok(default),
            Some(v) => v.parse().map_err(|_| format!("{name}: cannot parse {v:?}")),
        }
    }

    fn path(&self, name: &str) -> Res<PathBuf> {
        self.opts
            .get(name)
            .map(PathBuf::from)
            .ok_or_else(|| format!("{name} is required"))
    }

    fn check_known(&self, known: &[&str]) -> Res<()> {
        match self.opts.keys().find(|k| !known.contains(&k.as_str())) {
            Some(k) => Err(format!("unknown option {k}")),
            None => Ok(()),
        }
    }
}

fn main() -> ExitCode {
    let mut raw = std::env::args().skip(1);
    let cmd = raw.next().unwrap_or_default();
    let result = Args::parse(raw).and_then(|args| match cmd.as_str() {
        "resp" => cmd_resp(&args),
        "write" => cmd_write(&args),
        "compare-save" => cmd_compare_save(&args),
        _ => Err(format!(
            "usage: rdbkit-bench <resp|write|compare-save> ... (unknown command {cmd:?}; see the \
             source's docs)"
        )),
    });
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("rdbkit-bench: {e}");
            ExitCode::FAILURE
        }
    }
}

// ---------------------------------------------------------------------------------------------
// resp: dataset generators as RESP

fn cmd_resp(args: &Args) -> Res<()> {
    args.check_known(&["--keys", "--seed", "--big"])?;
    let kind = args
        .positional
        .first()
        .ok_or("resp: which dataset? (mixed, big-values, small-strings)")?;
    let keys: usize = args.get("--keys", 0)?;
    let seed: u64 = args.get("--seed", 1)?;
    let stdout = io::stdout();
    let mut out = BufWriter::with_capacity(1 << 20, stdout.lock());
    let r = match kind.as_str() {
        "mixed" => {
            let big: usize = args.get("--big", (keys * 400 / 1_000_000).max(20))?;
            resp_mixed(&mut out, keys, seed, big)
        }
        "big-values" => resp_big_values(&mut out, keys, seed),
        "small-strings" => resp_small_strings(&mut out, keys, seed),
        other => return Err(format!("resp: unknown dataset {other:?}")),
    };
    r.and_then(|()| out.flush())
        .map_err(|e| format!("writing RESP: {e}"))
}

/// Whether `v` is one of `gen::mixed`'s big collections.
fn is_big(v: &Value) -> bool {
    match v {
        Value::List(l) => l.len() >= 500,
        Value::Set(s) => {
            s.len() > 512
                || (s.len() > 128
                    && s.iter().any(|m| {
                        std::str::from_utf8(m).map_or(true, |t| t.parse::<i64>().is_err())
                    }))
        }
        Value::SortedSet(z) => z.len() > 128,
        Value::Hash(h) => h.len() > 128,
        Value::Stream(s) => s.entries.len() >= 150,
        _ => false,
    }
}

/// A small value of the same type as the big `v` (a prefix of it; a fresh small stream).
fn shrink(v: Value, rng: &mut StdRng) -> Value {
    match v {
        Value::List(mut l) => {
            l.truncate(rng.random_range(1..=20));
            Value::List(l)
        }
        Value::Set(mut s) => {
            let ints = s
                .iter()
                .all(|m| std::str::from_utf8(m).is_ok_and(|t| t.parse::<i64>().is_ok()));
            s.truncate(rng.random_range(1..=if ints { 512 } else { 128 }));
            Value::Set(s)
        }
        Value::SortedSet(mut z) => {
            z.truncate(rng.random_range(1..=128));
            Value::SortedSet(z)
        }
        Value::Hash(mut h) => {
            h.truncate(rng.random_range(1..=60));
            Value::Hash(h)
        }
        Value::Stream(_) => {
            let n = rng.random_range(1..=20);
            let g = rng.random_range(0..2);
            Value::Stream(Box::new(gen::stream(rng, n, g)))
        }
        other => other,
    }
}

/// `n` keys of `gen::mixed` (chunks of [`CHUNK`] with a `:<chunk>` key suffix), keeping about
/// `big` of its big collections (the first chunk's every-shape prefix always) and shrinking
/// the others.
fn resp_mixed(out: &mut impl Write, n: usize, seed: u64, big: usize) -> io::Result<()> {
    let keep = (big as f64 / (MIXED_BIG_SHARE * n.max(1) as f64)).min(1.0);
    let mut rng = StdRng::seed_from_u64(seed ^ 0x5eed_b16c_0113_c7d5);
    let mut done = 0;
    let mut chunk = 0u64;
    while done < n {
        let take = CHUNK.min(n - done);
        let ks = gen::mixed(take, seed.wrapping_mul(1_000_003).wrapping_add(chunk));
        for db in ks.dbs.into_values() {
            for (j, mut e) in db.entries.into_iter().enumerate() {
                let mut key = e.key.to_vec();
                key.extend_from_slice(format!(":{chunk}").as_bytes());
                e.key = key.into();
                let protected = chunk == 0 && j < 20;
                if !protected && is_big(&e.value) && !rng.random_bool(keep) {
                    e.value = shrink(e.value, &mut rng);
                }
                resp_entry(out, &e)?;
            }
        }
        done += take;
        chunk += 1;
    }
    Ok(())
}

/// `n` strings of 4–64 KiB semi-compressible bytes (`big:00000042`), as `gen::big_values`.
fn resp_big_values(out: &mut impl Write, n: usize, seed: u64) -> io::Result<()> {
    let mut rng = StdRng::seed_from_u64(seed);
    for i in 0..n {
        let len = rng.random_range(4096..=65536);
        let v = gen::semi_compressible(&mut rng, len);
        write_resp(out, &[b"SET", format!("big:{i:08}").as_bytes(), &v])?;
    }
    Ok(())
}

/// `n` small strings as `gen::small_strings` (ints and short text, 5% expiring).
fn resp_small_strings(out: &mut impl Write, n: usize, seed: u64) -> io::Result<()> {
    let mut rng = StdRng::seed_from_u64(seed);
    for i in 0..n {
        let v = if rng.random_bool(0.3) {
            rng.random_range(0..1_000_000_000i64)
                .to_string()
                .into_bytes()
        } else {
            let len = rng.random_range(1..=64);
            gen::semi_compressible(&mut rng, len)
        };
        let key = format!("key:{i:010}");
        write_resp(out, &[b"SET", key.as_bytes(), &v])?;
        if rng.random_bool(0.05) {
            let at = gen::EXPIRE_BASE_MS + rng.random_range(0..100_000_000i64) * 1000;
            write_resp(
                out,
                &[b"PEXPIREAT", key.as_bytes(), at.to_string().as_bytes()],
            )?;
        }
    }
    Ok(())
}

/// The commands that recreate `e` (with its expiry), as RESP.
fn resp_entry(out: &mut impl Write, e: &Entry) -> io::Result<()> {
    rdb_model::commands::for_each_command(e, |args| write_resp(out, args))
}

// ---------------------------------------------------------------------------------------------
// write / compare-save: timing our writer against SAVE

/// One timed run: bytes and keys written (all parts), wall seconds and the CPU seconds the
/// writing process (or server) used meanwhile, when known.
#[derive(Debug, Clone, Copy)]
struct Run {
    bytes: u64,
    keys: u64,
    secs: f64,
    cpu: Option<f64>,
}

impl Run {
    fn mb_s(&self) -> f64 {
        self.bytes as f64 / 1e6 / self.secs
    }

    fn keys_s(&self) -> f64 {
        self.keys as f64 / self.secs
    }

    fn show(&self) -> String {
        format!(
            "{:8.3} s (cpu {}) {:9.1} MB {:8.1} MB/s {:10.0} keys/s",
            self.secs,
            self.cpu.map_or("?".into(), |c| format!("{c:.3} s")),
            self.bytes as f64 / 1e6,
            self.mb_s(),
            self.keys_s()
        )
    }

    fn json(&self) -> serde_json::Value {
        serde_json::json!({
            "seconds": self.secs, "cpu_seconds": self.cpu, "bytes": self.bytes, "keys": self.keys,
            "mb_per_s": self.mb_s(), "keys_per_s": self.keys_s(),
        })
    }
}

/// CPU seconds the live threads of `pid` have run (`/proc/<pid>/task/*/schedstat`, ns).
fn cpu_live_threads(pid: u32) -> Option<f64> {
    let mut ns: u64 = 0;
    for t in fs::read_dir(format!("/proc/{pid}/task")).ok()? {
        let text = fs::read_to_string(t.ok()?.path().join("schedstat")).ok()?;
        ns += text.split_whitespace().next()?.parse::<u64>().ok()?;
    }
    Some(ns as f64 / 1e9)
}

/// CPU seconds of this process, every thread counted, finished ones included (the writer's
/// direct-I/O thread ends inside the timed region): `CLOCK_PROCESS_CPUTIME_ID`, nanoseconds.
fn cpu_self() -> Option<f64> {
    let t = nix::time::clock_gettime(nix::time::ClockId::CLOCK_PROCESS_CPUTIME_ID).ok()?;
    Some(t.tv_sec() as f64 + t.tv_nsec() as f64 / 1e9)
}

/// The server's own load time: the last "DB loaded from disk: X seconds" of its log.
fn server_load_seconds(log: &Path) -> Option<f64> {
    let text = fs::read_to_string(log).ok()?;
    text.lines().rev().find_map(|l| {
        l.split_once("DB loaded from disk: ")?
            .1
            .split_whitespace()
            .next()?
            .parse()
            .ok()
    })
}

/// The median of the known CPU times.
fn median_cpu(runs: &[Run]) -> Option<f64> {
    let mut v: Vec<f64> = runs.iter().filter_map(|r| r.cpu).collect();
    v.sort_by(f64::total_cmp);
    v.get(v.len() / 2).copied()
}

/// The run with the median time (upper median for an even count).
fn median(runs: &[Run]) -> Option<Run> {
    let mut v = runs.to_vec();
    v.sort_by(|a, b| a.secs.total_cmp(&b.secs));
    v.get(v.len() / 2).copied()
}

/// Loads `path` into a keyspace (untimed for the comparison; reported).
fn load_keyspace(path: &Path) -> Res<Keyspace> {
    let t = Instant::now();
    let map = MappedFile::open(path).map_err(|e| format!("{}: {e}", path.display()))?;
    let ks = read_keyspace(map.bytes()).map_err(|e| format!("{}: {e}", path.display()))?;
    eprintln!(
        "read {} into a keyspace: {} keys in {:.2} s (untimed)",
        path.display(),
        ks.key_count(),
        t.elapsed().as_secs_f64()
    );
    Ok(ks)
}

/// Splits `ks` into `k` keyspaces by hash slot range (as `k` even node groups would hold it;
/// the values are shared `Bytes`, so the copies are cheap).
fn split(ks: &Keyspace, k: usize) -> Vec<Keyspace> {
    let mut parts: Vec<Keyspace> = (0..k).map(|_| Keyspace::default()).collect();
    for (&db, d) in &ks.dbs {
        for e in &d.entries {
            let i = usize::from(key_slot(&e.key)) * k / 16384;
            if let Some(p) = parts.get_mut(i) {
                p.db_mut(db).entries.push(e.clone());
            }
        }
    }
    parts
}

/// Writes each part to `dir/part-<i>.rdb` on its own thread (one part: this thread); the wall
/// time covers create, write and (unless [`Output::Unsynced`]) `fsync` of every file.
fn timed_write(parts: &[Keyspace], dir: &Path, builder: &WriterBuilder, io: Output) -> Res<Run> {
    let paths: Vec<PathBuf> = (0..parts.len())
        .map(|i| dir.join(format!("part-{i}.rdb")))
        .collect();
    for p in &paths {
        let _ = fs::remove_file(p);
    }
    let one = |ks: &Keyspace, path: &Path| -> Res<(u64, u64)> {
        let f = File::create(path).map_err(|e| format!("{}: {e}", path.display()))?;
        let s = if io != Output::Unsynced {
            // As `rdbkit export` writes node files: on disk as they grow (direct I/O, or
            // background syncs), then synced at the end (Redis's SAVE syncs incrementally too).
            let out = match io {
                Output::Direct => SyncingFile::with_direct_io(f, path),
                _ => SyncingFile::new(f),
            };
            let (f, s) = write_keyspace(ks, out, builder).map_err(|e| format!("write: {e}"))?;
            f.finish().map_err(|e| format!("fsync: {e}"))?;
            s
        } else {
            write_keyspace(ks, f, builder)
                .map_err(|e| format!("write: {e}"))?
                .1
        };
        Ok((s.bytes, s.keys))
    };
    let cpu0 = cpu_self();
    let t = Instant::now();
    let results: Vec<Res<(u64, u64)>> = if parts.len() == 1 {
        vec![one(&parts[0], &paths[0])]
    } else {
        std::thread::scope(|sc| {
            let hs: Vec<_> = parts
                .iter()
                .zip(&paths)
                .map(|(ks, p)| sc.spawn(move || one(ks, p)))
                .collect();
            hs.into_iter()
                .map(|h| {
                    h.join()
                        .unwrap_or_else(|_| Err("writer thread panicked".into()))
                })
                .collect()
        })
    };
    let secs = t.elapsed().as_secs_f64();
    let cpu1 = cpu_self();
    let mut run = Run {
        bytes: 0,
        keys: 0,
        secs,
        cpu: cpu0.zip(cpu1).map(|(a, b)| b - a),
    };
    for r in results {
        let (b, k) = r?;
        run.bytes += b;
        run.keys += k;
    }
    Ok(run)
}

/// Pins every thread of `pid` to `cpus` with `taskset` (false when unavailable or failing).
fn pin(pid: u32, cpus: &str) -> bool {
    Command::new("taskset")
        .args(["-a", "-p", "-c", cpus, &pid.to_string()])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

/// SAVE's CPU time over the writer's, as text.
fn cpu_ratio(save: &Run, ours: &Run) -> String {
    save.cpu
        .zip(ours.cpu)
        .map_or("?".into(), |(a, b)| format!("{:.2}x", a / b))
}

fn builder_from(args: &Args) -> Res<WriterBuilder> {
    let target: Target = args
        .get::<String>("--target", "redis-7.0".into())?
        .parse()
        .map_err(|e| format!("--target: {e}"))?;
    Ok(WriterBuilder::new(target).compression(true).ctime(CTIME))
}

/// A fresh output directory (`--out-dir` or a temp dir), removed at the end when temporary.
struct OutDir {
    path: PathBuf,
    temp: bool,
}

impl OutDir {
    fn new(args: &Args) -> Res<OutDir> {
        let (path, temp) = match args.opts.get("--out-dir") {
            Some(p) => (PathBuf::from(p), false),
            None => (
                std::env::temp_dir().join(format!("rdbkit-bench-{}", std::process::id())),
                true,
            ),
        };
        fs::create_dir_all(&path).map_err(|e| format!("{}: {e}", path.display()))?;
        Ok(OutDir { path, temp })
    }
}

impl Drop for OutDir {
    fn drop(&mut self) {
        for i in 0..64 {
            let _ = fs::remove_file(self.path.join(format!("part-{i}.rdb")));
        }
        if self.temp {
            let _ = fs::remove_dir(&self.path);
        }
    }
}

fn cmd_write(args: &Args) -> Res<()> {
    args.check_known(&[
        "--rdb",
        "--rounds",
        "--split",
        "--out-dir",
        "--target",
        "--cpus",
    ])?;
    let ks = load_keyspace(&args.path("--rdb")?)?;
    let rounds: usize = args.get("--rounds", 3)?;
    let k: usize = args.get("--split", 1)?;
    let builder = builder_from(args)?.parallel(args.flag("--parallel"));
    let out = OutDir::new(args)?;
    if let Some(cpus) = args.opts.get("--cpus") {
        if !pin(std::process::id(), cpus) {
            eprintln!("warning: could not pin to cpus {cpus}");
        }
    }
    let parts = if k > 1 { split(&ks, k) } else { vec![ks] };
    let mut runs = Vec::new();
    for r in 1..=rounds {
        let run = timed_write(&parts, &out.path, &builder, Output::from_args(args))?;
        println!("round {r}: writer x{k}: {}", run.show());
        runs.push(run);
    }
    if let Some(m) = median(&runs) {
        println!("median: writer x{k}: {}", m.show());
    }
    Ok(())
}

fn cmd_compare_save(args: &Args) -> Res<()> {
    args.check_known(&[
        "--rdb",
        "--name",
        "--rounds",
        "--split",
        "--server",
        "--out-dir",
        "--target",
        "--json",
        "--cpus",
        "--split-cpus",
    ])?;
    let rdb = args.path("--rdb")?;
    let name: String = args.get(
        "--name",
        rdb.file_stem()
            .map(|s| s.to_string_lossy().into_owned())
            .unwrap_or_default(),
    )?;
    let rounds: usize = args.get("--rounds", 3)?;
    let k: usize = args.get("--split", 1)?;
    let server: PathBuf = args.get("--server", PathBuf::from("/usr/bin/redis-server"))?;
    let io = Output::from_args(args);
    let do_pin = !args.flag("--no-pin");
    let cpu: String = args.get("--cpus", "0".to_string())?;
    let split_cpus: String = args.get(
        "--split-cpus",
        (0..k.clamp(1, 64))
            .map(|c| c.to_string())
            .collect::<Vec<_>>()
            .join(","),
    )?;
    let builder = builder_from(args)?;
    let out = OutDir::new(args)?;

    let ks = load_keyspace(&rdb)?;
    let our_keys = ks.key_count() as u64;
    let parts = if k > 1 { split(&ks, k) } else { Vec::new() };
    let single = vec![ks];

    let t = Instant::now();
    let opts = ServerOptions {
        startup_timeout: Duration::from_secs(1800),
        ..ServerOptions::with_rdb(&rdb)
    };
    let mut srv =
        RedisServer::start_binary(&server, &opts).map_err(|e| format!("starting server: {e}"))?;
    // Copying the file into the server's directory, starting it and loading (the server's own
    // "DB loaded from disk" figure is the load alone).
    let start_secs = t.elapsed().as_secs_f64();
    let load_secs = server_load_seconds(&srv.dir().join("redis.log"));
    // Every database's keys (`DBSIZE` counts the selected one only).
    let info = srv
        .conn()
        .and_then(|c| c.info("keyspace"))
        .map_err(|e| format!("INFO keyspace: {e}"))?;
    let dbsize: u64 = keyspace_key_counts(&info)?
        .iter()
        .map(|(_, keys)| keys)
        .sum();
    eprintln!(
        "{} loaded {} keys: {} (copy of the file, start and load: {:.2} s; port {})",
        server.display(),
        dbsize,
        load_secs.map_or("load time not in its log".into(), |s| format!(
            "{s:.2} s by its log"
        )),
        start_secs,
        srv.port()
    );
    if dbsize != our_keys {
        // Keys that expired before the server loaded them, for one: not the same work.
        return Err(format!(
            "the server holds {dbsize} keys, our keyspace {our_keys}: not the same data"
        ));
    }
    // `SAVE` of a full-scale dataset on a slow disk may pass the client's 30 s default.
    srv.conn()
        .and_then(|c| c.set_read_timeout(Some(Duration::from_secs(1800))))
        .map_err(|e| format!("connection: {e}"))?;
    let me = std::process::id();
    let pinned = do_pin && pin(srv.pid(), &cpu) && pin(me, &cpu);
    if do_pin && !pinned {
        eprintln!("warning: taskset failed; running unpinned");
    }

    let mut saves = Vec::new();
    let mut ours = Vec::new();
    let mut multi = Vec::new();
    for r in 1..=rounds {
        // `SAVE` renames its file over the previous one, and freeing those blocks would count
        // in its time; our writer removes its previous file before its clock starts.
        let _ = fs::remove_file(srv.rdb_path());
        let cpu0 = cpu_live_threads(srv.pid());
        let t = Instant::now();
        let reply = srv.cmd(&["SAVE"]).map_err(|e| format!("SAVE: {e}"))?;
        let secs = t.elapsed().as_secs_f64();
        let cpu1 = cpu_live_threads(srv.pid());
        if reply.as_str() != Some("OK") {
            return Err(format!("SAVE: {reply:?}"));
        }
        let bytes = fs::metadata(srv.rdb_path()).map(|m| m.len()).unwrap_or(0);
        let save = Run {
            bytes,
            keys: dbsize,
            secs,
            cpu: cpu0.zip(cpu1).map(|(a, b)| b - a),
        };
        println!("{name} round {r}: SAVE       {}", save.show());
        saves.push(save);

        let run = timed_write(&single, &out.path, &builder, io)?;
        println!(
            "{name} round {r}: writer     {}  ratio {:.2}x (cpu {})",
            run.show(),
            save.secs / run.secs,
            cpu_ratio(&save, &run)
        );
        ours.push(run);

        if k > 1 {
            if pinned {
                pin(me, &split_cpus);
            }
            let run = timed_write(&parts, &out.path, &builder, io)?;
            if pinned {
                pin(me, &cpu);
            }
            println!(
                "{name} round {r}: writer x{k}  {}  ratio {:.2}x",
                run.show(),
                save.secs / run.secs
            );
            multi.push(run);
        }
    }
    let (Some(s), Some(o)) = (median(&saves), median(&ours)) else {
        return Err("no rounds".into());
    };
    let (scpu, ocpu) = (median_cpu(&saves), median_cpu(&ours));
    let cpu_med_ratio = scpu.zip(ocpu).map(|(a, b)| a / b);
    println!(
        "{name} median: SAVE {:.1} MB/s {:.0} keys/s | writer {:.1} MB/s {:.0} keys/s | ratio {:.2}x \
         | cpu: SAVE {} writer {} ratio {}",
        s.mb_s(),
        s.keys_s(),
        o.mb_s(),
        o.keys_s(),
        s.secs / o.secs,
        scpu.map_or("?".into(), |c| format!("{c:.3} s")),
        ocpu.map_or("?".into(), |c| format!("{c:.3} s")),
        cpu_med_ratio.map_or("?".into(), |r| format!("{r:.2}x")),
    );
    let m = median(&multi);
    if let Some(m) = m {
        println!(
            "{name} median: writer x{k} {:.1} MB/s {:.0} keys/s | ratio {:.2}x",
            m.mb_s(),
            m.keys_s(),
            s.secs / m.secs
        );
    }
    if let Some(path) = args.opts.get("--json") {
        let doc = serde_json::json!({
            "dataset": name,
            "rdb": rdb.display().to_string(),
            "rounds": rounds,
            "pinned": pinned,
            "cpus": cpu,
            "split_cpus": (k > 1).then_some(&split_cpus),
            "server_load_seconds": load_secs,
            "server_start_seconds": start_secs,
            "fsync": io != Output::Unsynced,
            "io": io.name(),
            "target": builder.target().name(),
            "save": saves.iter().map(Run::json).collect::<Vec<_>>(),
            "writer": ours.iter().map(Run::json).collect::<Vec<_>>(),
            "writer_split": multi.iter().map(Run::json).collect::<Vec<_>>(),
            "split": k,
            "median_ratio": s.secs / o.secs,
            "median_cpu_ratio": cpu_med_ratio,
            "median_ratio_split": m.map(|m| s.secs / m.secs),
        });
        let mut f = fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(path)
            .map_err(|e| format!("{path}: {e}"))?;
        writeln!(f, "{doc}").map_err(|e| format!("{path}: {e}"))?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashSet;

    /// Splits a RESP command stream into commands (arrays of bulk strings).
    fn parse_resp(mut b: &[u8]) -> Vec<Vec<Vec<u8>>> {
        fn line<'a>(b: &mut &'a [u8]) -> &'a [u8] {
            let at = b.windows(2).position(|w| w == b"\r\n").expect("CRLF");
            let l = &b[..at];
            *b = &b[at + 2..];
            l
        }
        let mut cmds = Vec::new();
        while !b.is_empty() {
            let head = line(&mut b);
            assert_eq!(head[0], b'*');
            let n: usize = std::str::from_utf8(&head[1..]).unwrap().parse().unwrap();
            let mut args = Vec::new();
            for _ in 0..n {
                let h = line(&mut b);
                assert_eq!(h[0], b'$');
                let len: usize = std::str::from_utf8(&h[1..]).unwrap().parse().unwrap();
                args.push(b[..len].to_vec());
                assert_eq!(&b[len..len + 2], b"\r\n");
                b = &b[len + 2..];
            }
            cmds.push(args);
        }
        cmds
    }

    #[test]
    fn mixed_resp_has_every_key_and_few_big_values() {
        let mut out = Vec::new();
        resp_mixed(&mut out, 12_000, 7, 20).unwrap();
        let cmds = parse_resp(&out);
        let keys: HashSet<&[u8]> = cmds
            .iter()
            .filter(|c| c[0] != b"PEXPIREAT")
            .map(|c| c[if c[0] == b"XGROUP" { 2 } else { 1 }].as_slice())
            .collect();
        assert_eq!(keys.len(), 12_000);
        let names: HashSet<&[u8]> = cmds.iter().map(|c| c[0].as_slice()).collect();
        for want in [
            &b"SET"[..],
            b"RPUSH",
            b"SADD",
            b"ZADD",
            b"HSET",
            b"XADD",
            b"XSETID",
            b"XGROUP",
            b"XCLAIM",
            b"PEXPIREAT",
        ] {
            assert!(names.contains(want), "{}", String::from_utf8_lossy(want));
        }
        // Without thinning about 9% of 12 000 keys would be big; with --big 20 a few dozen.
        let mut per_key: HashMap<&[u8], usize> = HashMap::new();
        for c in cmds.iter().filter(|c| {
            [&b"RPUSH"[..], b"SADD", b"ZADD", b"HSET", b"XADD"].contains(&c[0].as_slice())
        }) {
            let items = if c[0] == b"XADD" { 1 } else { c.len() - 2 };
            *per_key.entry(c[1].as_slice()).or_default() += items;
        }
        let big = per_key.values().filter(|&&n| n > 512).count();
        assert!((1..=80).contains(&big), "big collections: {big}");
    }

    #[test]
    fn shrink_makes_small_values_of_the_same_type() {
        let mut rng = StdRng::seed_from_u64(1);
        let ks = gen::mixed(2_000, 3);
        let mut seen = 0;
        for e in ks.dbs.values().flat_map(|d| &d.entries) {
            if is_big(&e.value) {
                seen += 1;
                let t = e.value.value_type();
                let small = shrink(e.value.clone(), &mut rng);
                assert_eq!(small.value_type(), t);
                assert!(!is_big(&small), "{t:?} still big");
            }
        }
        assert!(seen > 50, "only {seen} big values");
    }

    #[test]
    fn split_partitions_by_slot() {
        let ks = gen::small_strings(3_000, 4);
        let parts = split(&ks, 2);
        let n: usize = parts.iter().map(Keyspace::key_count).sum();
        assert_eq!(n, 3_000);
        for (i, p) in parts.iter().enumerate() {
            assert!(p.key_count() > 1_000);
            for e in p.dbs.values().flat_map(|d| &d.entries) {
                assert_eq!(usize::from(key_slot(&e.key)) * 2 / 16384, i);
            }
        }
    }
}
