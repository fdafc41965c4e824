//! Hand-built files, each with one defect: the expected finding code at the expected offset.

use rdb_format::Element;
use rdb_verify::{verify_bytes, verify_reader, EngineLine, Options, Report, Severity};

mod common;
use common::{
    hash_listpack_ex_ttl_out_of_order, intset, listpack, opts, rejson_id, rejson_uint_42,
    stream_file, zset_listpack_b2_a1, Rdb,
};

fn verify(bytes: &[u8]) -> Report {
    verify_bytes("test.rdb", bytes, &opts())
}

/// The single finding with `code` (panics with the report when there is not exactly one).
fn one<'a>(r: &'a Report, code: &'a str) -> &'a rdb_verify::Finding {
    let v: Vec<_> = r.with_code(code).collect();
    assert_eq!(
        v.len(),
        1,
        "want one {code} finding, report: {:#?}",
        r.findings
    );
    v[0]
}

#[test]
fn clean_file_has_no_findings() {
    let mut b = Rdb::db0(11);
    b.resize_db(2, 1);
    b.byte(0xFC).i64le(4_102_444_800_000);
    b.string_key(b"a", b"1");
    b.string_key(b"b", b"x");
    let r = verify(&b.finish());
    assert!(r.ok && r.findings.is_empty(), "{:#?}", r.findings);
    assert_eq!((r.keys, r.expires), (2, 1));
    assert_eq!(r.checksum.status, "ok");
}

#[test]
fn checksum_mismatch() {
    let mut b = Rdb::db0(11);
    b.string_key(b"a", b"1");
    let mut f = b.finish();
    let eof = f.len() as u64 - 9;
    let last = f.len() - 1;
    f[last] ^= 0x55;
    let r = verify(&f);
    assert!(!r.ok);
    assert_eq!(r.checksum.status, "mismatch");
    assert_ne!(r.checksum.stored, r.checksum.computed);
    let x = one(&r, "crc-mismatch");
    assert_eq!((x.severity, x.offset), (Severity::Error, Some(eof + 1)));
    assert_eq!(r.keys, 1, "the keys are still read");

    // --no-checksum: the verdict stays, the finding becomes a warning (the file passes).
    let r = verify_bytes(
        "t",
        &f,
        &Options {
            check_checksum: false,
            ..opts()
        },
    );
    assert!(r.ok);
    let x = one(&r, "crc-mismatch");
    assert_eq!((x.severity, x.offset), (Severity::Warning, Some(eof + 1)));
    assert_eq!(r.checksum.status, "mismatch");

    // A stored 0 means "checksum disabled": a warning.
    let n = f.len();
    f[n - 8..].fill(0);
    let r = verify(&f);
    assert!(r.ok);
    assert_eq!(one(&r, "checksum-disabled").severity, Severity::Warning);
}

#[test]
fn duplicate_key() {
    let mut b = Rdb::db0(11);
    b.string_key(b"k", b"1");
    let second = b.string_key(b"k", b"2");
    b.select_db(1);
    b.string_key(b"k", b"3"); // same key in another db: fine
    let r = verify(&b.clone().finish());
    let f = one(&r, "duplicate-key");
    assert_eq!(
        (f.severity, f.offset, f.db, f.key.as_deref()),
        (Severity::Error, Some(second), Some(0), Some(&b"k"[..]))
    );
    assert!(!r.ok);
    assert!(r.loads_on.is_empty());
    // From a pipe the second (naming) pass is impossible: still an error, without offset.
    let bytes = b.finish();
    let r = verify_reader("-", &bytes[..], &opts());
    let f = one(&r, "duplicate-key");
    assert_eq!((f.severity, f.offset), (Severity::Error, None));
    assert!(!r.ok);
    // Without the check, no finding.
    let mut b = Rdb::base(11);
    b.string_key(b"k", b"1");
    b.string_key(b"k", b"2");
    let r = verify_bytes(
        "t",
        &b.finish(),
        &Options {
            duplicate_keys: false,
            ..opts()
        },
    );
    assert!(r.ok);
}

#[test]
fn zset_listpack_out_of_order() {
    let mut b = Rdb::db0(11);
    b.key(17, b"good");
    b.str(&listpack(&[
        Element::Str(b"a"),
        Element::Int(1),
        Element::Str(b"b"),
        Element::Int(1),
        Element::Str(b"c"),
        Element::Int(2),
    ]));
    let bad = zset_listpack_b2_a1(&mut b, b"bad");
    let tie = b.key(17, b"tie");
    b.str(&listpack(&[
        Element::Str(b"b"),
        Element::Int(1),
        Element::Str(b"a"),
        Element::Int(1),
    ]));
    let r = verify(&b.finish());
    let v: Vec<_> = r.with_code("zset-order").collect();
    assert_eq!(v.len(), 2, "{:#?}", r.findings);
    assert_eq!(
        (v[0].offset, v[0].key.as_deref(), v[0].severity),
        (Some(bad), Some(&b"bad"[..]), Severity::Error)
    );
    assert_eq!(
        (v[1].offset, v[1].key.as_deref()),
        (Some(tie), Some(&b"tie"[..]))
    );
}

#[test]
fn intset_unsorted_is_a_reader_error() {
    let mut b = Rdb::db0(11);
    let key = b.key(11, b"s");
    let blob_at = b.blob(&intset(2, &[3, 1]));
    b.string_key(b"after", b"never read");
    let r = verify(&b.finish());
    assert!(!r.ok);
    let f = one(&r, "intset-order");
    assert_eq!(
        f.offset,
        Some(blob_at + 8 + 2),
        "second element of the intset"
    );
    assert_eq!(f.key.as_deref(), Some(&b"s"[..]));
    assert!(key < blob_at);
    assert_eq!(r.keys, 1, "the report stops at the fatal error");
    assert_eq!(r.checksum.status, "not-reached");
}

#[test]
fn selectdb_99() {
    let mut b = Rdb::base(11);
    let at = b.select_db(99);
    b.string_key(b"k", b"v");
    let r = verify(&b.finish());
    let f = one(&r, "selectdb-range");
    assert_eq!((f.severity, f.offset), (Severity::Error, Some(at)));
    assert_eq!(r.databases[&99].keys, 1);
}

#[test]
fn stream_consumer_pel_not_in_group_pel() {
    let (good, _, _) = stream_file(Some((1, 1)));
    let r = verify(&good);
    assert!(r.ok && r.findings.is_empty(), "{:#?}", r.findings);

    let (bad, cpel, group) = stream_file(Some((1, 2)));
    let r = verify(&bad);
    assert!(!r.ok);
    let f = one(&r, "stream-consumer-pel-not-in-group");
    assert_eq!(
        (f.severity, f.offset, f.key.as_deref()),
        (Severity::Error, Some(cpel), Some(&b"st"[..]))
    );
    // 1-1 is then owned by no consumer.
    assert_eq!(one(&r, "stream-pel-without-consumer").offset, Some(group));
}

#[test]
fn slot_info_count_mismatch() {
    let mut b = Rdb::db0(12);
    b.resize_db(1, 0);
    let si = b.pos();
    b.byte(0xF4).len(12182).len(2).len(0); // slot of "foo", says 2 keys
    b.string_key(b"foo", b"bar");
    let r = verify(&b.finish());
    let f = one(&r, "slot-info-count");
    assert_eq!((f.severity, f.offset), (Severity::Warning, Some(si)));
    assert!(r.ok, "a warning only");
    assert!(!r.has_code("slot-info-key-slot"));

    // A key of another slot after the record.
    let mut b = Rdb::db0(12);
    b.byte(0xF4).len(12182).len(2).len(0);
    b.string_key(b"foo", b"1");
    let other = b.string_key(b"bar", b"2");
    let r = verify(&b.finish());
    assert!(!r.has_code("slot-info-count"));
    assert_eq!(one(&r, "slot-info-key-slot").offset, Some(other));
}

#[test]
fn valkey_slot_info_aux() {
    let mut b = Rdb::db0(11);
    let at = b.aux(b"slot-info", b"12182,2,0");
    b.string_key(b"foo", b"bar");
    let bad = b.aux(b"slot-info", b"nonsense");
    let r = verify(&b.finish());
    assert_eq!(one(&r, "slot-info-count").offset, Some(at));
    assert_eq!(one(&r, "slot-info-format").offset, Some(bad));
    let engine = Options {
        engine: Some(EngineLine::Valkey8_0),
        ..opts()
    };
    let r2 = verify_bytes("t", &good_slot_info_file(), &engine);
    assert!(r2.ok, "{:#?}", r2.findings);
}

fn good_slot_info_file() -> Vec<u8> {
    let mut b = Rdb::db0(11);
    b.aux(b"slot-info", b"12182,1,0");
    b.string_key(b"foo", b"bar");
    b.finish()
}

#[test]
fn resizedb_mismatch_and_orphan_attributes() {
    let mut b = Rdb::base(11);
    let sel = b.select_db(0);
    let rs = b.resize_db(5, 0);
    b.string_key(b"a", b"1");
    let orphan = b.pos();
    b.byte(0xFC).i64le(4_102_444_800_000); // expire, then SELECTDB: applies to the next key
    let sel1 = b.select_db(1);
    b.string_key(b"b", b"2");
    let eof_orphan = b.pos();
    b.byte(0xF9).byte(5); // FREQ before EOF
    let f = b.finish();
    let r = verify(&f);
    assert!(r.ok);
    assert_eq!(one(&r, "resizedb-mismatch").offset, Some(rs));
    let o: Vec<_> = r
        .with_code("orphan-key-attributes")
        .map(|f| f.offset)
        .collect();
    assert_eq!(o, vec![Some(orphan), Some(eof_orphan)]);
    assert!(sel < rs && sel1 > orphan);
    // The expire reaches the key in db 1, as in the server.
    assert_eq!(r.databases[&1].expires, 1);
    // Streaming: the same (the reader reports orphaned opcodes itself).
    let r = verify_reader("t", &f[..], &opts());
    let o: Vec<_> = r
        .with_code("orphan-key-attributes")
        .map(|f| f.offset)
        .collect();
    assert_eq!(o, vec![Some(orphan), Some(eof_orphan)]);
}

#[test]
fn duplicate_members_and_empty_values() {
    let mut b = Rdb::db0(11);
    b.key(2, b"set");
    b.len(3).str(b"x").str(b"y");
    let dup = b.pos();
    b.str(b"x");
    let empty = b.key(4, b"hash");
    b.len(0);
    let hl = b.key(16, b"hl");
    b.str(&listpack(&[
        Element::Str(b"f"),
        Element::Str(b"1"),
        Element::Str(b"f"),
        Element::Str(b"2"),
    ]));
    let r = verify(&b.finish());
    let d: Vec<_> = r
        .with_code("duplicate-member")
        .map(|f| (f.offset, f.key.clone()))
        .collect();
    assert_eq!(
        d,
        vec![
            (Some(dup), Some(b"set".to_vec())),
            (Some(hl), Some(b"hl".to_vec()))
        ]
    );
    assert_eq!(one(&r, "empty-value").offset, Some(empty));
}

#[test]
fn already_expired_keys() {
    let mut b = Rdb::db0(11);
    b.byte(0xFC).i64le(1_000);
    let k = b.string_key(b"old", b"1");
    b.byte(0xFC).i64le(4_102_444_800_000);
    b.string_key(b"new", b"1");
    let r = verify(&b.finish());
    assert_eq!(
        (
            r.expires,
            r.already_expired,
            r.databases[&0].already_expired
        ),
        (2, 1, 1)
    );
    let f = one(&r, "already-expired");
    assert_eq!((f.severity, f.offset), (Severity::Warning, Some(k)));
}

#[test]
fn hash_listpack_ex_ttl_order() {
    let mut b = Rdb::db0(12);
    let k = hash_listpack_ex_ttl_out_of_order(&mut b);
    let r = verify(&b.finish());
    assert_eq!(one(&r, "hash-ttl-order").offset, Some(k));
}

#[test]
fn function_shebang_and_engine_compat() {
    let mut b = Rdb::base(10);
    let f1 = b.pos();
    b.byte(0xF5).str(b"#!lua name=lib\nreturn 1");
    let f2 = b.pos();
    b.byte(0xF5).str(b"#!lua\nreturn 1");
    b.select_db(0);
    b.key(16, b"h");
    b.str(&listpack(&[Element::Str(b"f"), Element::Str(b"v")]));
    let file = b.finish();
    let r = verify(&file);
    assert_eq!(one(&r, "function-shebang").offset, Some(f2));
    assert!(f1 < f2);

    // A good REDIS0010 file: loads on 7.0+, not on 6.2; --engine redis-6.2 names the header.
    let mut b = Rdb::base(10);
    b.byte(0xF5).str(b"#!lua name=lib\nreturn 1");
    b.select_db(0);
    b.string_key(b"k", b"v");
    let file = b.finish();
    let r = verify_bytes(
        "t",
        &file,
        &Options {
            engine: Some(EngineLine::Redis6_2),
            ..opts()
        },
    );
    assert!(
        r.loads_on.contains(&EngineLine::Redis7_0) && !r.loads_on.contains(&EngineLine::Redis6_2)
    );
    let f = one(&r, "engine-incompatible");
    assert_eq!(f.offset, Some(0));
    assert!(f.message.contains("version 10"), "{}", f.message);

    // A REDIS0009 header with a type-16 key: the key record is the first blocker for 6.2.
    let mut b = Rdb::db0(9);
    let k = b.key(16, b"h");
    b.str(&listpack(&[Element::Str(b"f"), Element::Str(b"v")]));
    let r = verify_bytes(
        "t",
        &b.finish(),
        &Options {
            engine: Some(EngineLine::Redis6_2),
            ..opts()
        },
    );
    assert_eq!(one(&r, "engine-incompatible").offset, Some(k));
    assert!(r.loads_on.contains(&EngineLine::Redis7_0));
}

#[test]
fn expected_slots_and_node_memory() {
    let mut b = Rdb::db0(11);
    b.string_key(b"foo", b"1"); // 12182
    let bar = b.string_key(b"bar", b"2"); // 5061
    let file = b.finish();
    let o = Options {
        expected_slots: Some("10000-16383".parse().unwrap()),
        node_memory: Some(100),
        ..opts()
    };
    let r = verify_bytes("t", &file, &o);
    assert_eq!(r.slots.keys_outside_expected, 1);
    assert_eq!(
        (r.slots.min, r.slots.max, r.slots.ranges.as_str()),
        (Some(5061), Some(12182), "5061,12182")
    );
    assert_eq!(one(&r, "slot-outside-expected").offset, Some(bar));
    assert_eq!(one(&r, "node-memory").severity, Severity::Error);
    assert!(
        !r.loads_on.is_empty(),
        "caller requirements do not make the file unloadable"
    );
    let r = verify_bytes(
        "t",
        &file,
        &Options {
            node_memory: Some(1 << 30),
            ..opts()
        },
    );
    assert!(r.ok);
}

#[test]
fn truncated_file_is_fatal() {
    let mut b = Rdb::db0(11);
    b.string_key(b"a", b"1");
    let f = b.finish();
    let r = verify(&f[..f.len() - 12]);
    assert!(!r.ok);
    assert_eq!(r.error_count(), 1);
    assert_eq!(r.first_error().unwrap().code, "truncated");
    let r = verify(b"NOTANRDB!");
    assert_eq!(r.first_error().unwrap().code, "signature");
    assert_eq!(r.magic, None);
}

#[test]
fn findings_are_capped_per_code() {
    let mut b = Rdb::db0(11);
    for i in 0..10 {
        b.byte(0xFC).i64le(1_000);
        b.string_key(format!("k{i}").as_bytes(), b"v");
    }
    let r = verify_bytes(
        "t",
        &b.finish(),
        &Options {
            max_findings_per_code: 3,
            ..opts()
        },
    );
    assert_eq!(r.with_code("already-expired").count(), 3);
    assert_eq!(r.suppressed_findings.get("already-expired"), Some(&7));
    assert_eq!(r.already_expired, 10);
    assert!(r.has_code("findings-suppressed"));
}

#[test]
fn hash_ttl_metadata_and_intset_width() {
    // Redis type 24: min_expire 500, one field expiring at 1000 (delta 501): stale min_expire.
    let mut b = Rdb::db0(12);
    let k24 = b.key(24, b"h");
    b.i64le(500).len(1).len(501).str(b"f").str(b"v");
    // An intset with 4-byte elements holding 5: a 2-byte width would do.
    let k11 = b.key(11, b"s");
    b.str(&intset(4, &[5]));
    let f = b.finish();
    let r = verify(&f);
    assert!(r.ok);
    assert_eq!(one(&r, "hash-min-expire").offset, Some(k24));
    assert_eq!(one(&r, "intset-width").offset, Some(k11));
    // The streaming path finds the same.
    let r = verify_reader("t", &f[..], &opts());
    assert_eq!(one(&r, "hash-min-expire").offset, Some(k24));
    assert_eq!(one(&r, "intset-width").offset, Some(k11));

    // Valkey HASH_2 without any TTL.
    let mut b = Rdb::valkey(80);
    b.select_db(0);
    let k = b.key(22, b"h");
    b.len(1).str(b"f").str(b"v").i64le(-1);
    let r = verify(&b.finish());
    assert_eq!(one(&r, "hash-no-field-ttl").offset, Some(k));
    assert_eq!(
        r.loads_on,
        vec![EngineLine::Valkey9_0, EngineLine::Valkey9_1]
    );
}

#[test]
fn module_values_need_their_module() {
    let mut b = Rdb::db0(11);
    let k = rejson_uint_42(&mut b, b"m");
    let k2 = b.key(7, b"m2");
    b.len(rejson_id()).len(0);
    let r = verify(&b.finish());
    let f = one(&r, "module-required");
    assert_eq!((f.offset, f.severity), (Some(k), Severity::Warning));
    assert!(f.message.contains("ReJSON-RL"), "{}", f.message);
    assert!(k2 > k);
    assert_eq!(r.databases[&0].types.get("module"), 2);
}

/// On Valkey 9, whose cluster mode has databases, a key of another database is held to the
/// node's slots as db 0's keys are (`slot-outside-expected`); on other lines such a key is a
/// `cluster-nonzero-db` error.
#[test]
fn expected_slots_cover_every_database_on_valkey_9() {
    let mut b = Rdb::db0(11);
    b.string_key(b"foo", b"1"); // 12182
    b.select_db(1);
    let bar = b.string_key(b"bar", b"2"); // 5061
    b.string_key(b"baz", b"3"); // 4813
    let file = b.finish();
    let valkey9 = Options {
        expected_slots: Some("4813,10000-16383".parse().unwrap()),
        engine: Some(EngineLine::Valkey9_0),
        ..opts()
    };
    let r = verify_bytes("t", &file, &valkey9);
    assert_eq!(r.slots.keys_outside_expected, 1);
    let f = one(&r, "slot-outside-expected");
    assert_eq!(f.offset, Some(bar));
    assert_eq!(
        (f.db, f.key.as_deref()),
        (Some(1), Some(&b"bar"[..])),
        "{f:?}"
    );
    assert!(r.with_code("cluster-nonzero-db").next().is_none());
    let redis = Options {
        engine: Some(EngineLine::Redis7_2),
        ..valkey9
    };
    let r = verify_bytes("t", &file, &redis);
    assert_eq!(one(&r, "cluster-nonzero-db").severity, Severity::Error);
}

/// IDLE and FREQ each count for `loads_on` on their own: an RDB 8 file with either before a key
/// loads from Redis 5.0 on (they are RDB 9 opcodes), not on 4.0.
#[test]
fn idle_and_freq_each_keep_redis_4_0_out() {
    for op in [0xF8u8, 0xF9] {
        let mut b = Rdb::db0(8);
        b.byte(op).byte(5);
        b.string_key(b"k", b"v");
        let r = verify(&b.finish());
        assert!(r.ok, "{op:#04x}: {:?}", r.findings);
        assert!(
            !r.loads_on.contains(&EngineLine::Redis4_0)
                && r.loads_on.contains(&EngineLine::Redis5_0),
            "{op:#04x}: {:?}",
            r.loads_on
        );
    }
}

/// A function library for an engine other than Lua: with `--engine valkey-8.0` (Lua only) the
/// `function-engine` finding is an error, with `valkey-8.1` (a module may add the engine) a
/// warning; `engine-incompatible` either way (no line loads it as it starts).
#[test]
fn function_engine_severity_follows_the_line() {
    let mut b = Rdb::base(11);
    b.byte(0xF5).str(b"#!js name=mylib\nreturn 1");
    b.select_db(0);
    b.string_key(b"k", b"v");
    let bytes = b.finish();
    for (line, severity) in [
        (EngineLine::Valkey8_0, Severity::Error),
        (EngineLine::Valkey8_1, Severity::Warning),
        (EngineLine::Redis7_0, Severity::Error),
    ] {
        let r = verify_bytes(
            "test.rdb",
            &bytes,
            &Options {
                engine: Some(line),
                ..opts()
            },
        );
        assert_eq!(one(&r, "function-engine").severity, severity, "{line}");
        assert!(r.has_code("engine-incompatible") && !r.ok, "{line}");
    }
}
