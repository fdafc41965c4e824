//! Parallel encoding of a file's keys (`WriterBuilder::parallel`,
//! `RdbWriter::write_records_parallel`) gives the bytes, summary and errors of writing the keys
//! one by one.

mod common;

use std::sync::atomic::AtomicBool;

use common::CTIME;
use rdb_model::{Bytes, Entry, HashField, Keyspace, ModuleValue, Value};
use rdb_testkit::gen;
use rdb_writer::{
    write_keyspace, KeyMeta, KeyRecord, Target, WriteError, WriterBuilder, USED_MEM_BASE,
};

/// A pool with more threads than this machine may have cores: batches really interleave.
fn pool() -> rayon::ThreadPool {
    rayon::ThreadPoolBuilder::new()
        .num_threads(3)
        .build()
        .unwrap()
}

/// Every type and encoding `gen::mixed` makes, plus LRU/LFU metadata, a module value, empty
/// collections, hashes with field TTLs and a second database.
fn keyspace(n: usize, seed: u64) -> Keyspace {
    let mut ks = gen::mixed(n, seed);
    let db0 = ks.db_mut(0);
    for (i, e) in db0.entries.iter_mut().enumerate() {
        match i % 7 {
            2 => e.lru_idle_s = Some(i as u64 * 13),
            4 => e.lfu_freq = Some((i % 256) as u8),
            _ => {}
        }
    }
    db0.entries.push(Entry::new(
        "module-key",
        Value::Module(ModuleValue {
            module_id: 0x45E2_5238_DF91_2C03,
            raw: Bytes::from_static(&[0x02, 0x05, 0x05, 0x03, b'a', b'b', b'c', 0x00]),
        }),
    ));
    db0.entries
        .push(Entry::new("empty-set", Value::Set(vec![])));
    let ttl = gen::field_ttl_hashes(10, seed ^ 0x77);
    ks.db_mut(0)
        .entries
        .extend(ttl.dbs[&0].entries.iter().cloned());
    let other = gen::mixed(60, seed + 1);
    ks.db_mut(5)
        .entries
        .extend(other.dbs[&0].entries.iter().cloned());
    ks
}

fn builder(target: Target) -> WriterBuilder {
    WriterBuilder::new(target)
        .ctime(CTIME)
        .drop_unsupported(true)
}

#[test]
fn parallel_write_is_the_sequential_file_for_every_target() {
    let ks = keyspace(400, 11);
    let pool = pool();
    for target in Target::ALL {
        for slot_info in [false, true] {
            for lzf in [true, false] {
                let b = builder(target).slot_info(slot_info).compression(lzf);
                let (seq, seq_summary) = write_keyspace(&ks, Vec::new(), &b).unwrap();
                // Small batches: many per wave, several waves.
                for batch in [1, 700, 20_000] {
                    let p = b.clone().parallel(true).parallel_batch(batch);
                    let (par, par_summary) = pool
                        .install(|| write_keyspace(&ks, Vec::new(), &p))
                        .unwrap();
                    assert!(
                        seq == par,
                        "{target} slot_info={slot_info} lzf={lzf} batch={batch}: bytes differ \
                         ({} vs {} bytes)",
                        seq.len(),
                        par.len()
                    );
                    assert_eq!(seq_summary, par_summary, "{target} batch={batch}");
                }
            }
        }
    }
}

#[test]
fn a_key_above_the_direct_size_is_written_in_place() {
    let mut ks = gen::big_values(6, 3);
    let huge = Bytes::from(gen::semi_compressible(
        &mut <rand::rngs::StdRng as rand::SeedableRng>::seed_from_u64(9),
        (rdb_writer::parallel::DIRECT_COST + 1000) as usize,
    ));
    ks.db_mut(0)
        .entries
        .insert(3, Entry::new("huge", Value::String(huge)));
    let b = builder(Target::Redis70).used_mem(USED_MEM_BASE);
    let (seq, _) = write_keyspace(&ks, Vec::new(), &b).unwrap();
    let p = b.clone().parallel(true).parallel_batch(10_000);
    let (par, summary) = pool()
        .install(|| write_keyspace(&ks, Vec::new(), &p))
        .unwrap();
    assert!(seq == par, "bytes differ");
    assert_eq!(summary.keys, 7);
}

/// Writes `ks`'s database 0 with `write` (after the header and SELECTDB), keeps going after
/// the error it returns, and finishes the file: the bytes and the error. (RESIZEDB says 0
/// keys: the keys after the error are never offered, and a count above the keys offered
/// would fail `finish`.)
fn write_db0_then_finish(
    ks: &Keyspace,
    b: &WriterBuilder,
    write: impl FnOnce(&mut rdb_writer::RdbWriter<Vec<u8>>, &[Entry]) -> Result<u64, WriteError>,
) -> (Vec<u8>, String, rdb_writer::Summary) {
    let entries = &ks.dbs[&0].entries;
    let mut w = b.build(Vec::new());
    w.write_header().unwrap();
    w.select_db(0, 0, 0).unwrap();
    let err = write(&mut w, entries).unwrap_err().to_string();
    let (bytes, summary) = w.finish().unwrap();
    (bytes, err, summary)
}

#[test]
fn errors_are_those_of_the_sequential_writer_and_leave_the_same_file() {
    // Field TTLs on a target without them (and no `drop_unsupported`): the first such hash
    // is refused, after everything before it was written.
    let mut ks = gen::mixed(300, 5);
    let ttl = gen::field_ttl_hashes(3, 1);
    let entries = &mut ks.db_mut(0).entries;
    for (i, e) in ttl.dbs[&0].entries.iter().enumerate() {
        entries.insert(100 + 50 * i, e.clone());
    }
    // And an invalid value later on (NaN score).
    entries.insert(
        260,
        Entry::new("nan", Value::SortedSet(vec![("m".into(), f64::NAN)])),
    );
    let b = WriterBuilder::new(Target::Redis70).ctime(CTIME);
    let (seq, seq_err, seq_summary) = write_db0_then_finish(&ks, &b, |w, entries| {
        let mut n = 0;
        for e in entries {
            n += u64::from(w.write_value(&e.key, KeyMeta::of(e), &e.value)?);
        }
        Ok(n)
    });
    assert!(seq_err.contains("cannot represent"), "{seq_err}");
    for batch in [1, 500, 1 << 20] {
        let p = b.clone().parallel_batch(batch);
        let (par, par_err, par_summary) = pool().install(|| {
            write_db0_then_finish(&ks, &p, |w, entries| {
                w.write_records_parallel(entries.iter().map(KeyRecord::Key), None)
            })
        });
        assert_eq!(seq_err, par_err, "batch {batch}");
        assert!(seq == par, "batch {batch}: bytes differ");
        assert_eq!(seq_summary, par_summary, "batch {batch}");
    }
}

#[test]
fn a_set_cancel_flag_stops_before_the_next_wave_and_poisons_the_writer() {
    let ks = gen::mixed(50, 2);
    let entries = &ks.dbs[&0].entries;
    let records: Vec<KeyRecord<'_>> = entries.iter().map(KeyRecord::Key).collect();
    let mut w = builder(Target::Redis70).build(Vec::new());
    w.write_header().unwrap();
    w.select_db(0, entries.len() as u64, 0).unwrap();
    let start = w.position();
    let cancel = AtomicBool::new(true);
    let r = w.write_records_parallel(records.iter().copied(), Some(&cancel));
    assert!(matches!(r, Err(WriteError::Cancelled)), "{r:?}");
    assert_eq!(w.position(), start);
    assert_eq!(w.summary().keys, 0);
    // Poisoned (the wave taken from the records was dropped): the file never gets its
    // trailer, so it cannot pass for one holding every key.
    assert!(w.is_poisoned());
    assert!(matches!(
        w.write_records_parallel(records, None),
        Err(WriteError::Poisoned(_))
    ));
    assert!(matches!(w.finish(), Err(WriteError::Poisoned(_))));
}

#[test]
fn slot_records_and_skipped_keys_are_counted_as_sequentially() {
    let mut ks = Keyspace::default();
    let db = ks.db_mut(0);
    for i in 0..200 {
        let v = if i % 9 == 0 {
            Value::Hash(vec![])
        } else {
            Value::Hash(vec![HashField {
                field: format!("f{i}").into(),
                value: "v".into(),
                expire_at_ms: None,
            }])
        };
        let mut e = Entry::new(format!("key:{i}"), v);
        if i % 4 == 0 {
            e.expire_at_ms = Some(4_102_444_800_000 + i);
        }
        db.entries.push(e);
    }
    let b = builder(Target::Redis74).slot_info(true);
    let (seq, s1) = write_keyspace(&ks, Vec::new(), &b).unwrap();
    let (par, s2) = pool()
        .install(|| {
            write_keyspace(
                &ks,
                Vec::new(),
                &b.clone().parallel(true).parallel_batch(64),
            )
        })
        .unwrap();
    assert!(seq == par);
    assert_eq!(s1, s2);
    assert_eq!(s2.skipped_empty, 23);
}

/// A slot sizing record whose count passes the keys that follow it poisons the writer in a
/// parallel write as in a sequential one (the record is encoded on a batch writer, whose
/// poisoning is passed on): the file never gets its trailer. Checked at every batch size,
/// so the slot's keys end inside the record's batch or in a later one.
#[test]
fn an_oversized_slot_count_poisons_a_parallel_write() {
    let ks = gen::small_strings(300, 8);
    let entries = &ks.dbs[&0].entries;
    for batch in [1, 64, 1 << 20] {
        let mut records = vec![KeyRecord::SlotInfo {
            slot: 7,
            keys: 1 << 40,
            expires: 0,
        }];
        records.extend(entries.iter().map(KeyRecord::Key));
        records.push(KeyRecord::SlotInfo {
            slot: 8,
            keys: 0,
            expires: 0,
        });
        let mut w = builder(Target::Redis74)
            .parallel_batch(batch)
            .build(Vec::new());
        w.write_header().unwrap();
        w.select_db(0, entries.len() as u64, 0).unwrap();
        let r = pool().install(|| w.write_records_parallel(records, None));
        assert!(r.is_err() || w.is_poisoned(), "batch {batch}: {r:?}");
        let finished = w.finish();
        assert!(
            finished.is_err(),
            "batch {batch}: finished with an oversized slot count"
        );
    }
}

/// A sizing record declaring one key more than follow it is refused in a parallel write as
/// in a sequential one, however the keys fall into batches: the batch writers (reused from
/// batch to batch) count each batch's keys afresh, so the file writer's count of keys
/// offered is exact.
#[test]
fn a_count_one_above_the_keys_is_refused_in_a_parallel_write() {
    let ks = gen::small_strings(150, 9);
    let entries = &ks.dbs[&0].entries;
    let n = entries.len() as u64;
    for batch in [1, 7, 64, 1 << 20] {
        // RESIZEDB of n + 1 keys.
        let mut w = builder(Target::Redis74)
            .parallel_batch(batch)
            .build(Vec::new());
        w.write_header().unwrap();
        w.select_db(0, n + 1, 0).unwrap();
        let records: Vec<_> = entries.iter().map(KeyRecord::Key).collect();
        let r = pool().install(|| w.write_records_parallel(records, None));
        assert!(
            r.is_err() || w.finish().is_err(),
            "batch {batch}: RESIZEDB of {} keys passed with {n}",
            n + 1
        );
        // A slot record of n + 1 keys (its keys are every key after it).
        let mut w = builder(Target::Redis74)
            .parallel_batch(batch)
            .build(Vec::new());
        w.write_header().unwrap();
        w.select_db(0, n, 0).unwrap();
        let mut records = vec![KeyRecord::SlotInfo {
            slot: 7,
            keys: n + 1,
            expires: 0,
        }];
        records.extend(entries.iter().map(KeyRecord::Key));
        let r = pool().install(|| w.write_records_parallel(records, None));
        assert!(
            r.is_err() || w.finish().is_err(),
            "batch {batch}: a slot record of {} keys passed with {n}",
            n + 1
        );
    }
    // Declaring exactly the keys passes.
    let mut w = builder(Target::Redis74).parallel_batch(7).build(Vec::new());
    w.write_header().unwrap();
    w.select_db(0, n, 0).unwrap();
    let records: Vec<_> = entries.iter().map(KeyRecord::Key).collect();
    pool()
        .install(|| w.write_records_parallel(records, None))
        .unwrap();
    w.finish().unwrap();
}
