//! Parallel encoding of one file's keys.
//!
//! A key's record depends only on the key, its value and the writer's options (the LZF
//! compressor's output is a function of its input alone), so the records of one database can
//! be encoded on several threads and appended in their order: the file is byte for byte the
//! one [`RdbWriter::write_entry`] writes key by key. [`RdbWriter::write_records_parallel`]
//! takes the records from an iterator a *wave* at a time: a few batches per thread of the
//! pool, each of about [`BATCH_COST`] input bytes (the builder's
//! [`parallel_batch`](crate::WriterBuilder::parallel_batch)). The pool encodes a wave's
//! batches, each into memory with a writer of its own (writers and buffers are reused from
//! batch to batch), while the coordinating thread — itself one of the pool's — appends the
//! previous wave in order (the CRC-64 is still fed in large chunks), gathers the next, and
//! then helps encoding. Memory in flight: two waves, about 8 MiB of input per thread. A key
//! estimated above [`DIRECT_COST`] is written straight to the file between waves (as
//! [`RdbWriter::write_entry`] would), so that no huge record is held in memory.
//!
//! Errors are those of writing the records one by one, in the same order: a batch stops at
//! its first failing record, the records before it are appended, and the error is returned
//! (value errors are found before anything of their record is encoded, so the writer stays
//! usable, as with [`RdbWriter::write_entry`]).

use std::io::{self, Write};
use std::iter::Peekable;
use std::ops::Range;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Mutex;

use rayon::prelude::*;
use rdb_model::{Entry, Value};

use crate::config::WriterBuilder;
use crate::error::{WriteError, WriteResult};
use crate::sink::Sink;
use crate::writer::{Declared, RdbWriter, Summary};

/// Approximate input bytes (keys, values, and a share per element) of one batch.
pub const BATCH_COST: u64 = 1 << 20;

/// Keys estimated larger than this are written directly, not through a batch in memory.
pub const DIRECT_COST: u64 = 16 << 20;

/// Batches encoded at once per thread of the pool.
const WAVE_PER_THREAD: usize = 4;

/// One record of a database's key sequence, in file order.
#[derive(Debug, Clone, Copy)]
pub enum KeyRecord<'a> {
    /// Slot sizing information before a slot's keys ([`RdbWriter::write_slot_info`]).
    SlotInfo {
        /// The slot.
        slot: u16,
        /// Keys of the slot that follow.
        keys: u64,
        /// Of those, keys with an expiry.
        expires: u64,
    },
    /// A key ([`RdbWriter::write_entry`]).
    Key(&'a Entry),
}

/// The records of keys sorted by hash slot (`(slot, entry)`, ascending slots): with
/// `slot_info`, each slot's keys after a [`KeyRecord::SlotInfo`] that counts them.
pub fn slot_records<'a, 'e>(
    by_slot: &'a [(u16, &'e Entry)],
    slot_info: bool,
) -> impl Iterator<Item = KeyRecord<'e>> + Send + 'a {
    by_slot.chunk_by(|a, b| a.0 == b.0).flat_map(move |group| {
        let info = slot_info.then(|| KeyRecord::SlotInfo {
            slot: group.first().map_or(0, |g| g.0),
            keys: group.len() as u64,
            expires: group
                .iter()
                .filter(|(_, e)| e.expire_at_ms.is_some())
                .count() as u64,
        });
        info.into_iter()
            .chain(group.iter().map(|(_, e)| KeyRecord::Key(e)))
    })
}

/// A cheap estimate of a record's input size, for cutting batches (O(1) per record: the
/// elements' own lengths are not summed).
fn record_cost(r: &KeyRecord<'_>) -> u64 {
    let KeyRecord::Key(e) = r else {
        return 16;
    };
    let value = match &e.value {
        Value::String(s) => s.len(),
        Value::List(x) | Value::Set(x) => 24 * x.len(),
        Value::SortedSet(x) => 32 * x.len(),
        Value::Hash(x) => 48 * x.len(),
        Value::Stream(s) => 64 * s.entries.len(),
        Value::Module(m) => m.raw.len(),
    };
    64 + e.key.len() as u64 + value as u64
}

/// The next step of [`RdbWriter::write_records_parallel`].
#[derive(Debug)]
enum Wave<'e> {
    /// Records, and the batches (consecutive ranges of them) to encode at once.
    Batches(Vec<KeyRecord<'e>>, Vec<Range<usize>>),
    /// One key above [`DIRECT_COST`], to write directly.
    Direct(&'e Entry),
    /// No record left.
    End,
}

/// Takes the next records from `records` for at most `max_batches` batches of about
/// `batch_cost`, stopping before the first key above [`DIRECT_COST`]; that key alone when it
/// comes first.
fn next_wave<'e>(
    records: &mut Peekable<impl Iterator<Item = KeyRecord<'e>>>,
    batch_cost: u64,
    max_batches: usize,
) -> Wave<'e> {
    let mut taken = Vec::new();
    let mut batches = Vec::with_capacity(max_batches);
    let mut start = 0;
    let mut cost = 0u64;
    while let Some(r) = records.peek() {
        let c = record_cost(r);
        if c > DIRECT_COST {
            if !taken.is_empty() {
                break;
            }
            return match records.next() {
                Some(KeyRecord::Key(e)) => Wave::Direct(e),
                _ => Wave::End,
            };
        }
        taken.extend(records.next());
        cost += c;
        if cost >= batch_cost {
            batches.push(start..taken.len());
            start = taken.len();
            cost = 0;
            if batches.len() == max_batches {
                break;
            }
        }
    }
    if start < taken.len() {
        batches.push(start..taken.len());
    }
    if taken.is_empty() {
        Wave::End
    } else {
        Wave::Batches(taken, batches)
    }
}

/// A batch's records, encoded: the bytes of the records before the first failing one (all of
/// them without error), the counts to add to the file's summary, and that error.
struct Encoded {
    bytes: Vec<u8>,
    summary: Summary,
    keys_written: u64,
    /// Keys offered to the batch writer (see `RdbWriter::offered_keys`).
    offered_keys: u64,
    /// The batch's slot sizing records, their keys offered before them counted from the
    /// batch's start: the file's writer checks their counts (a slot's keys may run on into
    /// later batches).
    slots: Vec<Declared>,
    error: Option<WriteError>,
}

/// A writer with the file's options, in database `db`, that encodes records into memory.
fn batch_writer(opts: &WriterBuilder, db: u32) -> RdbWriter<io::Sink> {
    let mut w = RdbWriter::new(io::sink(), opts.clone());
    w.sink = Sink::unbounded(io::sink());
    w.db = db;
    w.open_for_records();
    w.slot_log = Some(Vec::new());
    w
}

/// Encodes `records` with `w` (see [`Encoded`]).
fn encode_batch(w: &mut RdbWriter<io::Sink>, records: &[KeyRecord<'_>]) -> Encoded {
    // Room for a typical batch's records (most are smaller once compressed): no regrowth.
    let room = w.opts.parallel_batch.min(DIRECT_COST) as usize + (64 << 10);
    w.sink.buf.reserve(room);
    let mut keys_written = 0;
    let mut error = None;
    for r in records {
        match w.write_record(*r) {
            Ok(key_written) => keys_written += u64::from(key_written),
            Err(e) => {
                error = Some(e);
                break;
            }
        }
    }
    let fresh = Summary::empty(w.summary.target, w.summary.header);
    Encoded {
        slots: w.slot_log.as_mut().map(std::mem::take).unwrap_or_default(),
        offered_keys: std::mem::take(&mut w.offered_keys),
        bytes: std::mem::take(&mut w.sink.buf),
        summary: std::mem::replace(&mut w.summary, fresh),
        keys_written,
        error,
    }
}

/// Batch writers and output buffers kept between batches and waves: no fresh compressor
/// tables, scratch or output pages per batch (fresh pages cost page faults and cold writes).
struct Spares {
    writers: Mutex<Vec<RdbWriter<io::Sink>>>,
    buffers: Mutex<Vec<Vec<u8>>>,
}

impl Spares {
    fn new() -> Self {
        Spares {
            writers: Mutex::new(Vec::new()),
            buffers: Mutex::new(Vec::new()),
        }
    }

    /// Encodes one batch with a spare writer (or a new one of `opts` in database `db`) into a
    /// spare buffer; the writer goes back to the spares.
    fn encode(&self, opts: &WriterBuilder, db: u32, records: &[KeyRecord<'_>]) -> Encoded {
        let mut w = lock(&self.writers)
            .pop()
            .unwrap_or_else(|| batch_writer(opts, db));
        if let Some(buf) = lock(&self.buffers).pop() {
            w.sink.buf = buf;
        }
        let encoded = encode_batch(&mut w, records);
        lock(&self.writers).push(w);
        encoded
    }

    /// Keeps `buf` (emptied) for a later batch.
    fn recycle(&self, mut buf: Vec<u8>) {
        buf.clear();
        lock(&self.buffers).push(buf);
    }
}

/// The guarded value, also after a panic elsewhere (the spares stay usable).
fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// Encodes the `batches` of `records` on rayon's current pool; the results in batch order.
fn encode_wave(
    spares: &Spares,
    opts: &WriterBuilder,
    db: u32,
    records: &[KeyRecord<'_>],
    batches: &[Range<usize>],
) -> Vec<Encoded> {
    batches
        .par_iter()
        .map(|r| spares.encode(opts, db, records.get(r.clone()).unwrap_or(&[])))
        .collect()
}

impl<W: Write> RdbWriter<W> {
    /// Writes one record ([`RdbWriter::write_slot_info`] or [`RdbWriter::write_entry`]);
    /// returns whether a key was written (not a slot record, not a skipped empty key).
    pub fn write_record(&mut self, record: KeyRecord<'_>) -> WriteResult<bool> {
        match record {
            KeyRecord::SlotInfo {
                slot,
                keys,
                expires,
            } => self.write_slot_info(slot, keys, expires).map(|_| false),
            KeyRecord::Key(e) => self.write_entry(e),
        }
    }
}

impl<W: Write + Send> RdbWriter<W> {
    /// Writes `records` (slot information and keys of the current database, in file order)
    /// with the keys encoded in parallel on rayon's current thread pool (the global pool,
    /// or the one a caller runs in with `ThreadPool::install`); the file is byte for byte
    /// what writing them one by one gives (see the [module docs](crate::parallel)). Returns
    /// how many keys were written (empty collections are skipped, as by
    /// [`RdbWriter::write_entry`]).
    ///
    /// The work runs on a thread of the pool (the calling thread waits when it is not one):
    /// that thread appends each wave of encoded batches to the file while the others encode
    /// the next wave, then helps them. `cancel`, when given, is read before each wave: once it
    /// is set the call returns [`WriteError::Cancelled`] and the writer is poisoned: the
    /// records taken from `records` and not yet written are dropped, so a file finished after
    /// a cancel would lack keys (the records of the waves already encoded are written).
    pub fn write_records_parallel<'e, I>(
        &mut self,
        records: I,
        cancel: Option<&AtomicBool>,
    ) -> WriteResult<u64>
    where
        I: IntoIterator<Item = KeyRecord<'e>>,
        I::IntoIter: Send,
    {
        self.check_open()?;
        let records = records.into_iter();
        // On a worker of the pool (inline when the caller is one), so that no third thread
        // competes with the workers and the appending thread steals encoding work when done.
        rayon::scope(|_| self.write_waves(records, cancel))
    }
}

impl<W: Write> RdbWriter<W> {
    /// The body of [`RdbWriter::write_records_parallel`].
    fn write_waves<'e>(
        &mut self,
        records: impl Iterator<Item = KeyRecord<'e>>,
        cancel: Option<&AtomicBool>,
    ) -> WriteResult<u64> {
        let opts = self.opts.clone();
        let db = self.db;
        let spares = Spares::new();
        let wave = WAVE_PER_THREAD * rayon::current_num_threads().max(1);
        let mut records = records.peekable();
        let mut written = 0u64;
        // The last wave encoded: appended while the next one is encoded; meanwhile the next
        // records are also gathered.
        let mut pending: Vec<Encoded> = Vec::new();
        let mut current = next_wave(&mut records, opts.parallel_batch, wave);
        loop {
            if cancel.is_some_and(|c| c.load(Ordering::Relaxed)) {
                self.append_encoded(pending, &spares)?;
                self.poison(
                    "a parallel write was cancelled: some of its records were not written".into(),
                );
                return Err(WriteError::Cancelled);
            }
            match current {
                Wave::End => break,
                Wave::Direct(e) => {
                    written += self.append_encoded(std::mem::take(&mut pending), &spares)?;
                    written += u64::from(self.write_entry(e)?);
                    current = next_wave(&mut records, opts.parallel_batch, wave);
                }
                Wave::Batches(taken, batches) => {
                    let previous = std::mem::take(&mut pending);
                    let mut encoded = Vec::new();
                    let mut upcoming = Wave::End;
                    let appended = rayon::in_place_scope(|s| {
                        s.spawn(|_| encoded = encode_wave(&spares, &opts, db, &taken, &batches));
                        let appended = self.append_encoded(previous, &spares)?;
                        upcoming = next_wave(&mut records, opts.parallel_batch, wave);
                        Ok::<u64, WriteError>(appended)
                    });
                    written += appended?;
                    pending = encoded;
                    current = upcoming;
                }
            }
        }
        written += self.append_encoded(pending, &spares)?;
        Ok(written)
    }

    /// Appends encoded batches in order, with their counts; stops at the first batch that
    /// ended with an error, after its bytes, and returns that error. Returns the keys written.
    fn append_encoded(&mut self, batches: Vec<Encoded>, spares: &Spares) -> WriteResult<u64> {
        let mut written = 0;
        for batch in batches {
            let r = self.sink.put_large(&batch.bytes);
            spares.recycle(batch.bytes);
            self.io(r)?;
            self.summary.add_counts(&batch.summary);
            for mut d in batch.slots {
                d.offered_before += self.offered_keys;
                let previous = self.slot_declared.take();
                self.check_declared_at(previous, d.offered_before)?;
                self.slot_declared = Some(d);
            }
            self.offered_keys += batch.offered_keys;
            written += batch.keys_written;
            if let Some(e) = batch.error {
                return Err(e);
            }
        }
        Ok(written)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(len: usize) -> Entry {
        Entry::new("k", Value::String(vec![b'x'; len].into()))
    }

    /// The waves [`next_wave`] cuts from `recs`: batches as ranges, a direct key as `None`.
    fn waves(
        recs: &[KeyRecord<'_>],
        batch_cost: u64,
        max: usize,
    ) -> Vec<Option<Vec<Range<usize>>>> {
        let mut it = recs.iter().copied().peekable();
        let mut out = Vec::new();
        loop {
            match next_wave(&mut it, batch_cost, max) {
                Wave::End => return out,
                Wave::Direct(_) => out.push(None),
                Wave::Batches(taken, b) => {
                    assert_eq!(taken.len(), b.last().unwrap().end);
                    out.push(Some(b));
                }
            }
        }
    }

    #[test]
    fn waves_cut_by_cost_and_stop_before_a_direct_key() {
        let small = key(1000);
        let huge = key(DIRECT_COST as usize + 1);
        let recs: Vec<KeyRecord<'_>> = vec![
            KeyRecord::Key(&small),
            KeyRecord::Key(&small),
            KeyRecord::Key(&small),
            KeyRecord::Key(&huge),
            KeyRecord::Key(&huge),
            KeyRecord::Key(&small),
        ];
        let cost = record_cost(&recs[0]);
        let single = |r: Range<usize>| Some(vec![r]);
        assert_eq!(
            waves(&recs, 2 * cost, 8),
            vec![Some(vec![0..2, 2..3]), None, None, single(0..1)]
        );
        // At most `max_batches` per wave.
        assert_eq!(
            waves(&recs[..3], 1, 2),
            vec![Some(vec![0..1, 1..2]), single(0..1)]
        );
        assert!(waves(&[], 1, 2).is_empty());
    }
}
