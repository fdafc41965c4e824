//! `rdb-verify` against the servers' own checkers, on valid-CRC corruptions: for each
//! real-server dump a real checker can read (`testdata/servers`, RDB ≤ 10 with Debian's
//! `redis-check-rdb` 7.0, RDB 11 with Valkey 8.1 run as `valkey-check-rdb`), [`MUTATIONS`]
//! seeded single-byte changes, each followed by a freshly computed CRC-64 trailer, so that
//! both tools must judge the structure alone (the checkers run the real loader with
//! `sanitize-dump-payload yes`).
//!
//! * Never "ok" where the checker refuses the file: a backup we pass must load.
//! * Where we refuse a file the checker passes, every error code must be one of
//!   [`STRICTER`], each a documented case where the checker is more lenient than a server
//!   in service (or than the format, §2 / §8 of the format reference).
//!
//! * Where both pass a changed file, a real server started on it holds exactly what our reader
//!   reads from it (three dumps each server loads natively, [`LOADED_MUTATIONS`] changes each):
//!   "reads exactly" holds beyond the pristine files, on values the changes made up.
//!
//! The per-file counts are printed (`testdata/README.md`, "Differential campaign", quotes
//! them). Run: `cargo test -p rdb-verify --test checker_differential -- --nocapture`.
//! A missing checker fails the test when `CI` is set and skips it otherwise.

use std::path::{Path, PathBuf};
use std::process::Command;

use rdb_testkit::mutate::{mutated, next_change, rdb_version, SplitMix};
use rdb_testkit::readback::{converted_view, drop_expired, server_view};
use rdb_testkit::server::{diff_keyspaces, RedisServer, ServerKind, ServerOptions};
use rdb_testkit::testdata;
use rdb_verify::{verify_bytes, Options, Severity};
use rdb_writer::Target;

/// Single-byte changes per file.
const MUTATIONS: usize = 250;
/// Base seed (per file: this plus the file's index).
const SEED: u64 = 0xD1FF_0000_0C4E;

/// Changes per file loaded into a real server by [`where_both_pass_the_server_holds_what_we_read`].
const LOADED_MUTATIONS: usize = 40;

/// Error codes allowed where the checker accepts the file, and why we are right to refuse.
const STRICTER: &[(&str, &str)] = &[
    (
        "double-text",
        "ZSET v1 score text: the loader's sscanf(\"%lg\") takes any valid prefix (V-T1)",
    ),
    (
        "zset-score",
        "compact zset score text: the server's strtod takes any valid prefix (V-T12)",
    ),
    (
        "zset-order",
        "the loader never checks the order of compact zset pairs (V-T12); ZRANGE breaks",
    ),
    (
        "slot-info-format",
        "checkers ignore `slot-info` outside cluster mode; a Valkey cluster node refuses it",
    ),
    (
        "length-encoding",
        "a special-encoding byte where a length belongs: rdbLoadLen keeps its low 6 bits",
    ),
    (
        "duplicate-key",
        "checkers do not insert keys (V-F9); a server refuses the file",
    ),
];

/// The checker for an RDB version, or `None` when no checker here reads it (RDB 12).
fn checker(version: u32, valkey: Option<&Path>) -> Option<PathBuf> {
    match version {
        ..=10 => Some(PathBuf::from("/usr/bin/redis-check-rdb")).filter(|p| p.is_file()),
        11 => valkey.map(Path::to_path_buf),
        _ => None,
    }
}

/// Whether the checker accepts the file.
fn checker_accepts(checker: &Path, file: &Path) -> bool {
    let out = Command::new(checker)
        .arg(file)
        .output()
        .expect("running the checker");
    let text = String::from_utf8_lossy(&out.stdout);
    out.status.success() && text.contains("RDB looks OK")
}

#[derive(Default)]
struct Counts {
    both_ok: usize,
    both_refuse: usize,
    stricter: usize,
    codes: std::collections::BTreeMap<String, usize>,
}

/// One file's campaign; returns the counts and the violations.
fn campaign(index: usize, path: &Path, checker: &Path, work: &Path) -> (Counts, Vec<String>) {
    let pristine = std::fs::read(path).unwrap();
    let variant = work.join(format!("variant-{index}.rdb"));
    assert!(
        checker_accepts(checker, path),
        "{} refuses the pristine {}",
        checker.display(),
        path.display()
    );
    let mut rng = SplitMix(SEED + index as u64);
    let mut counts = Counts::default();
    let mut bad = Vec::new();
    let opts = Options::default();
    for _ in 0..MUTATIONS {
        let (at, x) = next_change(&mut rng, &pristine);
        let m = mutated(&pristine, at, x);
        std::fs::write(&variant, &m).unwrap();
        let report = verify_bytes("variant", &m, &opts);
        let theirs = checker_accepts(checker, &variant);
        let errors: Vec<&str> = report
            .findings
            .iter()
            .filter(|f| f.severity == Severity::Error)
            .map(|f| f.code)
            .collect();
        match (report.ok, theirs) {
            (true, true) => counts.both_ok += 1,
            (false, false) => counts.both_refuse += 1,
            (true, false) => bad.push(format!(
                "{}: byte {at} ^ {x:#04x}: rdb-verify says ok, {} refuses it",
                path.display(),
                checker.display()
            )),
            (false, true) => {
                counts.stricter += 1;
                for code in &errors {
                    *counts.codes.entry((*code).to_owned()).or_default() += 1;
                    if !STRICTER.iter().any(|(c, _)| c == code) {
                        bad.push(format!(
                            "{}: byte {at} ^ {x:#04x}: error `{code}` where {} accepts the \
                             file, and `{code}` is not among the documented stricter checks",
                            path.display(),
                            checker.display()
                        ));
                    }
                }
            }
        }
    }
    (counts, bad)
}

/// A work directory and Valkey's checker in it, or `None` (the test skips) when Debian's or
/// Valkey's server is missing outside CI.
fn checkers() -> Option<(tempfile::TempDir, Option<PathBuf>)> {
    let debian = ServerKind::Debian.require_or_skip();
    let valkey_ok = ServerKind::Valkey81.require_or_skip();
    if !debian || !valkey_ok {
        return None;
    }
    let work = tempfile::tempdir().unwrap();
    // Valkey's server binary is its checker when started under that name.
    let valkey = ServerKind::Valkey81.binary_path().map(|bin| {
        let link = work.path().join("valkey-check-rdb");
        std::os::unix::fs::symlink(bin, &link).unwrap();
        link
    });
    Some((work, valkey))
}

#[test]
fn never_ok_where_the_servers_checker_refuses() {
    let Some((work, valkey)) = checkers() else {
        return;
    };
    let jobs: Vec<(usize, PathBuf, PathBuf)> = testdata::server_dumps()
        .into_iter()
        .enumerate()
        .filter_map(|(i, p)| {
            let v = rdb_version(&std::fs::read(&p).unwrap());
            checker(v, valkey.as_deref()).map(|c| (i, p, c))
        })
        .collect();
    assert!(jobs.len() >= 15, "{} files with a checker", jobs.len());
    // Two workers, the files dealt alternately.
    let results: Vec<(String, Counts, Vec<String>)> = std::thread::scope(|s| {
        let handles: Vec<_> = (0..2)
            .map(|w| {
                let jobs = &jobs;
                let work = work.path();
                s.spawn(move || {
                    jobs.iter()
                        .skip(w)
                        .step_by(2)
                        .map(|(i, p, c)| {
                            let (counts, bad) = campaign(*i, p, c, work);
                            let name = p
                                .strip_prefix(testdata::root().join("servers"))
                                .unwrap_or(p)
                                .display()
                                .to_string();
                            (name, counts, bad)
                        })
                        .collect::<Vec<_>>()
                })
            })
            .collect();
        handles
            .into_iter()
            .flat_map(|h| h.join().unwrap())
            .collect()
    });
    let mut total = Counts::default();
    let mut violations = Vec::new();
    println!("| file | mutations | both ok | both refuse | only rdb-verify refuses (codes) |");
    println!("|---|---:|---:|---:|---|");
    let mut rows: Vec<_> = results.into_iter().collect();
    rows.sort_by(|a, b| a.0.cmp(&b.0));
    for (name, c, bad) in rows {
        let codes: Vec<String> = c.codes.iter().map(|(k, n)| format!("{k} {n}")).collect();
        println!(
            "| `{name}` | {MUTATIONS} | {} | {} | {} ({}) |",
            c.both_ok,
            c.both_refuse,
            c.stricter,
            codes.join(", ")
        );
        total.both_ok += c.both_ok;
        total.both_refuse += c.both_refuse;
        total.stricter += c.stricter;
        for (k, n) in c.codes {
            *total.codes.entry(k).or_default() += n;
        }
        violations.extend(bad);
    }
    let n = total.both_ok + total.both_refuse + total.stricter;
    let codes: Vec<String> = total
        .codes
        .iter()
        .map(|(k, n)| format!("{k} {n}"))
        .collect();
    println!(
        "| all | {n} | {} | {} | {} ({}) |",
        total.both_ok,
        total.both_refuse,
        total.stricter,
        codes.join(", ")
    );
    assert!(violations.is_empty(), "{}", violations.join("\n"));
    // Both verdicts occur, so the comparison is tested both ways.
    assert!(
        total.both_refuse * 20 >= n && total.both_ok * 2 >= n,
        "{} both-refuse, {} both-ok of {n}",
        total.both_refuse,
        total.both_ok
    );
}

#[test]
fn where_both_pass_the_server_holds_what_we_read() {
    let Some((work, valkey)) = checkers() else {
        return;
    };
    let root = testdata::root().join("servers");
    // Dumps each server writes itself, so that it loads their types natively.
    let cases = [
        ("redis-7.0.15/dev", ServerKind::Debian, Target::Redis70),
        ("redis-7.0.15/dev-lfu", ServerKind::Debian, Target::Redis70),
        ("valkey-8.0.1/dev", ServerKind::Valkey81, Target::Valkey81),
    ];
    let now_ms = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as i64;
    let opts = Options::default();
    let pristine_view: Vec<_> = cases
        .iter()
        .map(|(name, kind, target)| {
            let bytes = std::fs::read(root.join(name).join("dump.rdb")).unwrap();
            server_view(&rdb_reader::read_keyspace(&bytes).unwrap(), *target, *kind)
        })
        .collect();
    let mut violations = Vec::new();
    let (mut loaded, mut refused_by_us, mut refused_by_checker, mut values_changed) = (0, 0, 0, 0);
    for (i, (name, kind, target)) in cases.iter().enumerate() {
        let path = root.join(name).join("dump.rdb");
        let pristine = std::fs::read(&path).unwrap();
        let checker = checker(rdb_version(&pristine), valkey.as_deref()).unwrap();
        let original = rdb_reader::read_keyspace(&pristine).unwrap();
        let variant = work.path().join(format!("loaded-{i}.rdb"));
        let mut rng = SplitMix(SEED ^ 0x5E_0000 ^ i as u64);
        for _ in 0..LOADED_MUTATIONS {
            let (at, x) = next_change(&mut rng, &pristine);
            let m = mutated(&pristine, at, x);
            if !verify_bytes("variant", &m, &opts).ok {
                refused_by_us += 1;
                continue;
            }
            std::fs::write(&variant, &m).unwrap();
            if !checker_accepts(&checker, &variant) {
                refused_by_checker += 1;
                continue;
            }
            let ours = rdb_reader::read_keyspace(&m).expect("a file that verifies reads");
            let changed = ours.dbs != original.dbs;
            // The file loaded natively: every stream as stored (its `length` too).
            let mut want = converted_view(&variant, &variant, *target, *kind)
                .expect("a file that verifies reads");
            drop_expired(&mut want, now_ms);
            let what = format!("{name}: byte {at} ^ {x:#04x} in {}", kind.name());
            let got = match RedisServer::start(*kind, &ServerOptions::with_rdb(&variant)) {
                Ok(mut srv) => srv.read_keyspace(),
                Err(e) => Err(format!("refused to start on it: {e}")),
            };
            match got {
                Ok(got) => {
                    loaded += 1;
                    let diffs = diff_keyspaces(&want, &got);
                    if !diffs.is_empty() {
                        violations.push(format!("{what}:\n{}", diffs.join("\n")));
                    }
                    // The comparison has teeth: the server's data differs from the pristine
                    // file's where the change reached a value.
                    if changed && !diff_keyspaces(&pristine_view[i], &got).is_empty() {
                        values_changed += 1;
                    }
                }
                Err(e) => violations.push(format!("{what}: both checks pass, but {e}")),
            }
        }
    }
    println!(
        "{} changes: {loaded} loaded and compared ({values_changed} of them holding values \
         that differ from the pristine file's, as the server reports them), {refused_by_us} refused by rdb-verify, \
         {refused_by_checker} refused by the checker alone",
        cases.len() * LOADED_MUTATIONS
    );
    assert!(violations.is_empty(), "{}", violations.join("\n"));
    // Changed values were compared, not only untouched ones.
    assert!(
        loaded >= 60 && values_changed >= 30,
        "{loaded} loaded, {values_changed} changed"
    );
}
