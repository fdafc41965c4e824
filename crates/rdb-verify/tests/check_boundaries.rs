//! The verifier's checks at their edges: the value a server writes at a limit passes, the one
//! past it is reported, and each check looks at every input it names (db, active time, case).
//! Each test here was written for a bug planted in `verifier.rs` / `dedup.rs` that every other
//! test let through.

use rdb_format::Element;
use rdb_verify::{verify_bytes, verify_reader, EngineLine, Options, Report, Severity};

mod common;
use common::{intset, listpack, opts, stream_node_1_1, Rdb};

fn verify(bytes: &[u8]) -> Report {
    verify_bytes("test.rdb", bytes, &opts())
}

/// (offset, db, message) of every `code` finding, in file order.
fn found(r: &Report, code: &str) -> Vec<(Option<u64>, Option<u64>, String)> {
    r.with_code(code)
        .map(|f| (f.offset, f.db, f.message.clone()))
        .collect()
}

/// A repeated key outside db 0 is confirmed in its own db: the second pass looks keys up by
/// (db, key), not by the key alone.
#[test]
fn a_key_repeated_in_db_1_is_an_error() {
    let mut b = Rdb::base(11);
    b.select_db(1);
    b.string_key(b"k", b"v");
    let second = b.string_key(b"k", b"v");
    let r = verify(&b.finish());
    assert!(!r.ok, "a server panics on this file: {:#?}", r.findings);
    let d = found(&r, "duplicate-key");
    assert_eq!(d.len(), 1, "{d:?}");
    assert_eq!((d[0].0, d[0].1), (Some(second), Some(1)));
}

/// The same key repeated in two dbs: one finding per db, each naming its own db's first
/// record (never a record of the other db).
#[test]
fn repeats_in_two_dbs_are_reported_per_db() {
    let mut b = Rdb::db0(11);
    let first0 = b.string_key(b"k", b"1");
    let second0 = b.string_key(b"k", b"2");
    b.select_db(1);
    let first1 = b.string_key(b"k", b"3");
    let second1 = b.string_key(b"k", b"4");
    let r = verify(&b.finish());
    let d = found(&r, "duplicate-key");
    assert_eq!(d.len(), 2, "{d:?}");
    assert_eq!((d[0].0, d[0].1), (Some(second0), Some(0)));
    assert_eq!((d[1].0, d[1].1), (Some(second1), Some(1)));
    assert!(
        d[0].2.contains(&format!("first at offset {first0};")),
        "{}",
        d[0].2
    );
    assert!(
        d[1].2.contains(&format!("first at offset {first1};")),
        "{}",
        d[1].2
    );
}

/// A key three times in one db: two findings, both naming the first record (an operator
/// looking for the original must not be sent to the second copy).
#[test]
fn every_repeat_names_the_first_record() {
    let mut b = Rdb::db0(11);
    let first = b.string_key(b"k", b"1");
    b.string_key(b"x", b"1");
    let second = b.string_key(b"k", b"2");
    b.string_key(b"y", b"1");
    let third = b.string_key(b"k", b"3");
    let file = b.finish();
    let r = verify(&file);
    let d = found(&r, "duplicate-key");
    let offsets: Vec<_> = d.iter().map(|x| x.0).collect();
    assert_eq!(offsets, [Some(second), Some(third)]);
    for (_, _, msg) in &d {
        assert!(
            msg.contains(&format!(
                "appears 3 times in db 0 (first at offset {first};"
            )),
            "{msg}"
        );
    }
    // From a pipe the copies cannot be named again: one unplaced finding for the key.
    let r = verify_reader("-", &file[..], &opts());
    let d = found(&r, "duplicate-key");
    assert_eq!(d.len(), 1, "{d:?}");
    assert_eq!(d[0].0, None);
    assert!(d[0].2.contains("is repeated in one db"), "{}", d[0].2);
}

/// Type 25 (Redis 7.4+ listpack hash with field TTLs): fields with equal TTLs are what
/// `HEXPIRE k 100 FIELDS 2 a b` leaves; only a TTL below the previous one is out of order.
#[test]
fn equal_field_ttls_are_in_order() {
    let file = |ttl_b: i64| {
        let mut b = Rdb::db0(12);
        let at = b.key(25, b"h");
        b.i64le(4_102_444_800_000);
        b.str(&listpack(&[
            Element::Str(b"a"),
            Element::Str(b"1"),
            Element::Int(4_102_444_800_000),
            Element::Str(b"b"),
            Element::Str(b"2"),
            Element::Int(ttl_b),
        ]));
        (b.finish(), at)
    };
    let (same, _) = file(4_102_444_800_000);
    let r = verify(&same);
    assert!(r.ok && r.findings.is_empty(), "{:#?}", r.findings);
    let (earlier, at) = file(4_102_444_799_999);
    let r = verify(&earlier);
    let d = found(&r, "hash-ttl-order");
    assert_eq!(d.len(), 1, "{d:?}");
    assert_eq!(r.findings[0].key.as_deref(), Some(&b"h"[..]));
    assert_eq!(d[0].0, Some(at), "the key record's offset");
}

/// SLOT_INFO's expires count is checked against every expiry the file holds, -1 included
/// (as RESIZEDB's is), while the report counts -1 as no expiry.
#[test]
fn slot_info_counts_an_expiry_of_minus_one() {
    let file = |declared_expires: u64| {
        let mut b = Rdb::db0(12);
        let si = b.pos();
        b.byte(0xF4).len(12182).len(1).len(declared_expires); // slot of "foo"
        b.byte(0xFC).i64le(-1);
        b.string_key(b"foo", b"bar");
        (b.finish(), si)
    };
    let (one, _) = file(1);
    let r = verify(&one);
    let codes: Vec<_> = r.findings.iter().map(|f| f.code).collect();
    assert_eq!(codes, ["expire-minus-one"]);
    assert_eq!(r.expires, 0);
    let (none, si) = file(0);
    let r = verify(&none);
    let d = found(&r, "slot-info-count");
    assert_eq!(d.len(), 1, "{:#?}", r.findings);
    assert_eq!(d[0].0, Some(si));
}

/// Servers use a `repl-id` AUX only when it has exactly 40 characters: 39 and 41 are both
/// reported, 40 is not.
#[test]
fn repl_id_must_be_exactly_40_characters() {
    for (n, warned) in [(39, true), (40, false), (41, true)] {
        let mut b = Rdb::base(11);
        let at = b.aux(b"repl-id", &vec![b'a'; n]);
        b.select_db(0);
        b.string_key(b"k", b"v");
        let r = verify(&b.finish());
        let d = found(&r, "aux-repl-id");
        if warned {
            assert_eq!(d.len(), 1, "{n} characters: {d:?}");
            assert_eq!(d[0].0, Some(at));
            assert!(r.ok, "a warning only");
        } else {
            assert!(d.is_empty(), "{n} characters: {d:?}");
        }
    }
}

/// Servers look the function engine up ignoring case: `#!LUA` is Lua, so a Redis line still
/// loads the library (no `function-engine`, even as an error under `--engine redis-7.0`).
#[test]
fn the_function_engine_name_ignores_case() {
    let file = |shebang: &[u8]| {
        let mut b = Rdb::base(10);
        let mut code = shebang.to_vec();
        code.extend_from_slice(b" name=lib\nredis.register_function('f', function() return 1 end)");
        b.byte(0xF5).str(&code);
        b.select_db(0);
        b.string_key(b"k", b"v");
        b.finish()
    };
    let redis_7_0 = Options {
        engine: Some(EngineLine::Redis7_0),
        ..opts()
    };
    for shebang in [&b"#!lua"[..], b"#!LUA", b"#!Lua"] {
        let r = verify_bytes("t", &file(shebang), &redis_7_0);
        assert!(r.ok && r.findings.is_empty(), "{:#?}", r.findings);
        assert!(
            r.loads_on.contains(&EngineLine::Redis7_0),
            "{:?}",
            r.loads_on
        );
    }
    // Another engine is reported: an error with a Redis line named.
    let r = verify_bytes("t", &file(b"#!js"), &redis_7_0);
    let f: Vec<_> = r.with_code("function-engine").collect();
    assert_eq!(f.len(), 1, "{:#?}", r.findings);
    assert_eq!(f[0].severity, Severity::Error);
    assert!(!r.loads_on.contains(&EngineLine::Redis7_0));
}

/// `encoding-threshold` at each default limit: a compact encoding holding exactly
/// the limit is what the server itself writes; one more member, or one more byte, is not.
#[test]
fn compact_encodings_at_the_default_limits() {
    let member = |i: usize, len: usize| {
        let mut m = format!("m{i}").into_bytes();
        m.resize(len.max(m.len()), b'x');
        m
    };
    // A key of RDB type `t` holding `entries` members, the first `longest` bytes long.
    let check = |t: u8, entries: usize, longest: usize| -> Report {
        let mut b = Rdb::db0(11);
        b.key(t, b"c");
        match t {
            11 => {
                let v: Vec<i64> = (0..entries as i64).collect();
                b.str(&intset(2, &v));
            }
            20 | 17 | 16 => {
                let ms: Vec<Vec<u8>> = (0..entries)
                    .map(|i| member(i, if i == 0 { longest } else { 1 }))
                    .collect();
                let mut els = Vec::new();
                for (i, m) in ms.iter().enumerate() {
                    els.push(Element::Str(m));
                    match t {
                        17 => els.push(Element::Int(i as i64)),
                        16 => els.push(Element::Str(b"v")),
                        _ => {}
                    }
                }
                b.str(&listpack(&els));
            }
            _ => unreachable!(),
        }
        verify(&b.finish())
    };
    let warned = |r: &Report| r.has_code("encoding-threshold");
    // (RDB type, entries limit, bytes limit or 0): intset, set / zset / hash listpack.
    for (t, entries, bytes) in [(11, 512, 0), (20, 128, 64), (17, 128, 64), (16, 512, 64)] {
        let at = check(t, entries, bytes);
        assert!(
            at.ok && at.findings.is_empty(),
            "type {t}: {:#?}",
            at.findings
        );
        assert!(warned(&check(t, entries + 1, bytes)), "type {t}: one more");
        if bytes > 0 {
            assert!(
                warned(&check(t, entries, bytes + 1)),
                "type {t}: one byte more"
            );
        }
    }
}

/// A stream v3 consumer's active time (Redis 7.2+) is checked as its seen time is: -1 or a
/// Unix time in ms.
#[test]
fn a_consumer_active_time_below_minus_one_is_reported() {
    let file = |active: i64| {
        let mut b = Rdb::db0(11);
        b.key(21, b"st");
        b.len(1);
        b.len(16).id(1, 1);
        b.str(&stream_node_1_1());
        b.len(1).len(1).len(1); // length 1, last id 1-1
        b.len(1).len(1).len(0).len(0).len(1); // first id 1-1, max deleted 0-0, entries added 1
        b.len(1); // one group
        b.str(b"g").len(1).len(1).len(1); // last delivered 1-1, entries read 1
        b.len(0); // empty PEL
        b.len(1);
        let at = b.pos();
        b.str(b"c")
            .i64le(1_700_000_000_000) // seen
            .i64le(active)
            .len(0); // no PEL
        (b.finish(), at)
    };
    for ok in [-1, 1_700_000_000_000] {
        let r = verify(&file(ok).0);
        assert!(
            r.ok && r.findings.is_empty(),
            "active {ok}: {:#?}",
            r.findings
        );
    }
    let (bad, at) = file(-5);
    let r = verify(&bad);
    let d = found(&r, "stream-consumer-time");
    assert_eq!(d.len(), 1, "{:#?}", r.findings);
    assert_eq!(d[0].0, Some(at));
    // The streamed path finds the same.
    let r = verify_reader("-", &bad[..], &opts());
    assert_eq!(found(&r, "stream-consumer-time").len(), 1);
}

/// A stream without live entries whose first ID is the largest ID is what a server writes
/// after loading it from a type-15 record: no `stream-first-id`; any other nonzero first ID
/// is reported.
#[test]
fn an_empty_stream_may_hold_the_largest_first_id() {
    let file = |first: (u64, u64)| {
        let mut b = Rdb::db0(10);
        let at = b.key(19, b"st");
        b.len(0); // no nodes
        b.len(0).len(5).len(5); // length 0, last id 5-5
        b.len(first.0).len(first.1); // first id
        b.len(5).len(5).len(1); // max deleted 5-5, entries added 1
        b.len(0); // no groups
        (b.finish(), at)
    };
    for first in [(0, 0), (u64::MAX, u64::MAX)] {
        let r = verify(&file(first).0);
        assert!(
            !r.has_code("stream-first-id"),
            "{first:?}: {:#?}",
            r.findings
        );
    }
    let (bad, _) = file((5, 5));
    let r = verify(&bad);
    assert_eq!(found(&r, "stream-first-id").len(), 1, "{:#?}", r.findings);
}
