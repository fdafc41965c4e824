//! `rdb-verify`'s driver takes shortcuts through the reader: an intset's members at once
//! (`Parser::take_intset`, their sizes summed a run at a time), the elements of compact
//! values and quicklist nodes in one call (`Parser::drain_blob`) and the members of
//! hashtable-encoded values in one call (`Parser::drain_plain`, each with its offset, which
//! findings carry). A `Verifier` fed every event
//! one by one through its public entry point, each with its offset, must give the same report:
//! on every test file (damaged ones included), on generated keyspaces, and on damaged copies of
//! them.

use rdb_reader::{Parser, SliceSource};
use rdb_verify::dedup::Rescan;
use rdb_verify::{verify_bytes, EventContext, Options, Report, Verifier};

/// A fixed "now" (2026-01-01), so that already-expired keys read the same in both runs.
fn options() -> Options {
    Options {
        now_ms: 1_767_225_600_000,
        ..Options::default()
    }
}

/// The report of `bytes` with every event given to `Verifier::on_event_at`, one call each.
fn one_by_one(bytes: &[u8], opts: &Options) -> Report {
    let mut p = Parser::new(SliceSource::new(bytes), opts.reader_limits());
    let mut v = Verifier::new("f", opts);
    loop {
        match &p.next_event_at() {
            Ok(Some((start, ev))) => {
                let ctx = EventContext {
                    start: Some(*start),
                };
                v.on_event_at(ev, ctx)
            }
            Ok(None) => break,
            Err(e) => {
                v.on_read_error(e);
                break;
            }
        }
    }
    v.finish_rescan(Rescan::Bytes(bytes))
}

fn assert_same(bytes: &[u8], what: &str) -> Report {
    let opts = options();
    let driven = verify_bytes("f", bytes, &opts);
    let plain = one_by_one(bytes, &opts);
    assert_eq!(driven, plain, "{what}");
    driven
}

#[test]
fn testdata_files_give_the_same_report_event_by_event() {
    let files = rdb_testkit::testdata::rdb_files("");
    assert!(files.len() > 90, "testdata has {} .rdb files", files.len());
    for f in files {
        let bytes = std::fs::read(&f).unwrap();
        assert_same(&bytes, &f.display().to_string());
    }
}

#[test]
fn generated_and_damaged_files_give_the_same_report_event_by_event() {
    // Every type and encoding (intsets of every width, quicklists of several nodes, ...),
    // written for a line with ziplists and one with listpacks.
    // Intsets (type 11), quicklists (14 or 18) and hashtable sets, hashes and skiplist sorted
    // sets (2, 4, 5) must be there: the shortcuts under test.
    for (seed, target, quicklist) in [(1u64, "redis-6.2", 14u8), (2, "redis-7.0", 18)] {
        let ks = rdb_testkit::gen::mixed(1_500, seed);
        let builder = rdb_writer::WriterBuilder::new(target.parse().unwrap());
        let (file, _) = rdb_writer::write_keyspace(&ks, Vec::new(), &builder).unwrap();
        let r = assert_same(&file, &format!("mixed seed {seed} for {target}"));
        assert!(r.ok, "{:?}", r.findings);
        for t in [11, quicklist, 2, 4, 5] {
            assert!(
                r.rdb_types.get(&t).is_some_and(|&n| n > 20),
                "{:?}",
                r.rdb_types
            );
        }
        // Single-byte changes: most end in a read error somewhere inside a value (an intset
        // out of order is left to the member events), the rest in findings.
        let mut x = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
        for i in 0..150 {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            let mut bad = file.clone();
            let at = (x % bad.len() as u64) as usize;
            bad[at] ^= 1 << (x >> 61);
            assert_same(
                &bad,
                &format!("mixed seed {seed} for {target}, change {i} at {at}"),
            );
        }
    }
}

/// Keys written through the writer's streaming API beyond its buffer (plain types, hashes with
/// field TTLs as types 24 / 22, streams in nodes of a fixed count, bigger than `XADD` makes
/// them) verify with no finding at all, on both paths.
#[test]
fn streamed_records_verify_clean() {
    let mut ks = rdb_testkit::gen::mixed(1_000, 3);
    let mut rng = <rand::rngs::StdRng as rand::SeedableRng>::seed_from_u64(3);
    let big = rdb_testkit::gen::stream(&mut rng, 2_000, 2);
    ks.db_mut(0).entries.push(rdb_model::Entry::new(
        "streamed:stream",
        rdb_model::Value::Stream(Box::new(big)),
    ));
    let hfe = rdb_testkit::gen::field_ttl_hashes(40, 3);
    ks.db_mut(0)
        .entries
        .extend(hfe.dbs[&0].entries.iter().cloned());
    for target in [
        "redis-6.2",
        "redis-7.0",
        "redis-7.2",
        "redis-7.4",
        "valkey-8.1",
        "valkey-9.0",
    ] {
        let builder = rdb_writer::WriterBuilder::new(target.parse().unwrap())
            .collection_buffer(0)
            .drop_unsupported(true);
        let (file, _) = rdb_testkit::streamed::write_streamed(&ks, &builder).unwrap();
        let r = assert_same(&file, &format!("streamed mixed for {target}"));
        assert!(r.ok && r.findings.is_empty(), "{target}: {:?}", r.findings);
        assert_eq!(r.keys, ks.key_count() as u64);
    }
}

/// The report of `bytes` with every event given to `Verifier::on_event`: no positions at all.
fn without_positions(bytes: &[u8], opts: &Options) -> Report {
    let mut p = Parser::new(SliceSource::new(bytes), opts.reader_limits());
    let mut v = Verifier::new("f", opts);
    loop {
        match &p.next_event() {
            Ok(Some(ev)) => v.on_event(ev),
            Ok(None) => break,
            Err(e) => {
                v.on_read_error(e);
                break;
            }
        }
    }
    v.finish()
}

/// Events fed without positions (`Verifier::on_event`) lose offsets, never checks: the
/// engine lines that load each test file are the same, and the newest line that refuses one
/// refuses it fed either way. (The test files pass this even on the code that recorded
/// non-key records only with an offset, as none of them holds a record that only some of the
/// lines loading its version refuse: the next test is the one that catches that.)
#[test]
fn events_without_positions_keep_the_engine_checks() {
    let mut blocked = 0;
    for f in rdb_testkit::testdata::rdb_files("") {
        let bytes = std::fs::read(&f).unwrap();
        let what = f.display().to_string();
        let positioned = verify_bytes("f", &bytes, &options());
        let bare = without_positions(&bytes, &options());
        assert_eq!(bare.loads_on, positioned.loads_on, "{what}");
        // The newest line that refuses the file (least likely to refuse it by its header
        // alone): refused fed either way.
        let Some(line) = rdb_verify::EngineLine::ALL
            .into_iter()
            .rev()
            .find(|l| positioned.ok && !positioned.loads_on.contains(l))
        else {
            continue;
        };
        let opts = Options {
            engine: Some(line),
            ..options()
        };
        let bare = without_positions(&bytes, &opts);
        assert!(
            !bare.ok && bare.has_code("engine-incompatible"),
            "{what} on {line}"
        );
        blocked += 1;
    }
    assert!(blocked > 50, "only {blocked} files refused by a line");
}

/// The auditor's case: a `REDIS0011` file holding a Redis 7.4 SLOT_INFO record (opcode `F4`),
/// which Redis 7.2 and Valkey 7.2-8.x do not know. Fed without positions, the record still
/// blocks those lines; the finding has no offset.
#[test]
fn slot_info_fed_without_a_position_still_blocks_redis_7_2() {
    let mut b = b"REDIS0011\xfe\x00\xf4\x6f\x96\x01\x00\x00\x03foo\x03bar\xff".to_vec();
    b.extend_from_slice(&rdb_format::crc::crc64(&b).to_le_bytes());
    let opts = Options {
        engine: Some(rdb_verify::EngineLine::Redis7_2),
        ..options()
    };
    let positioned = verify_bytes("f", &b, &opts);
    let f = positioned.with_code("engine-incompatible").next().unwrap();
    assert_eq!(f.offset, Some(11));
    let bare = without_positions(&b, &opts);
    assert!(!bare.ok);
    let f = bare.with_code("engine-incompatible").next().unwrap();
    assert_eq!(f.offset, None, "{f:?}");
    assert!(f.message.contains("0xf4"), "{}", f.message);
    assert!(!bare.loads_on.contains(&rdb_verify::EngineLine::Redis7_2));
    assert!(!bare.loads_on.contains(&rdb_verify::EngineLine::Valkey8_0));
    assert_eq!(bare.loads_on, positioned.loads_on);
}

/// Events that stop before the EOF record (a caller's stream cut short without a read error)
/// end in `no-eof`, an error; the same events with EOF give none.
#[test]
fn events_ending_before_eof_give_no_eof() {
    let bytes = std::fs::read(
        std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../../testdata/malformed/aux-lua.rdb"),
    )
    .unwrap();
    for stop_at_eof in [false, true] {
        let opts = options();
        let mut p = Parser::new(SliceSource::new(&bytes), opts.reader_limits());
        let mut v = Verifier::new("f", &opts);
        let mut keys = 0;
        while let Some(ev) = p.next_event().unwrap() {
            if stop_at_eof && matches!(ev, rdb_reader::Event::Eof(_)) {
                break;
            }
            keys += u64::from(matches!(ev, rdb_reader::Event::Key(_)));
            v.on_event(&ev);
        }
        let r = v.finish();
        assert_eq!((r.keys, keys), (1, 1));
        let no_eof = r.findings.iter().find(|f| f.code == "no-eof");
        assert_eq!(no_eof.is_some(), stop_at_eof, "{:?}", r.findings);
        assert_eq!(r.ok, !stop_at_eof, "{:?}", r.findings);
        if let Some(f) = no_eof {
            assert_eq!((f.severity, f.offset), (rdb_verify::Severity::Error, None));
        }
    }
}
