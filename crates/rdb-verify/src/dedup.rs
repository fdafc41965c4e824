//! Duplicate detection without keeping the bytes.
//!
//! **Keys** ([`KeyDigests`]): each key is reduced to its 64-bit XXH3 digest seeded with its db
//! number and appended to a flat vector (8 bytes per key, written sequentially, no hashing into
//! a table on the hot path; one of 256 buckets by the digest's top bits). At the end of the
//! file each bucket goes through a hash table that fits the L2 cache, and repeated digests
//! are the *suspects*. Suspects are then
//! confirmed by a second, key-only pass over the input ([`find_keys`]: values are skipped, not
//! decoded) that collects the suspects' key bytes and offsets: only keys whose bytes are equal
//! are reported, so a digest collision (probability about n²/2^65 for n keys, 7·10^-7 for
//! 5 M keys) never becomes a false finding. The second pass runs only when a digest repeats,
//! i.e. practically only when the file really holds a duplicate. An input that cannot be read
//! twice (a pipe) gets an unconfirmed finding without offset instead.
//!
//! Memory: 8 bytes per key, plus about 1/8 when `RESIZEDB` counts reserve the buckets up front
//! (a bucket that outgrows its share grows by doubling; only touched pages count towards RSS).
//!
//! **Members** ([`MemberSet`]): a bounded set of 128-bit XXH3 digests per key (set members,
//! hash fields, zset members, stream groups and consumers), cleared at the key's end. False
//! positives need a 128-bit collision (about m²/2^129 for m members), so they are reported
//! directly.

use std::collections::HashSet;
use std::hash::{BuildHasherDefault, Hasher};
use std::path::Path;

use rdb_format::{Element, IntText};
use rdb_reader::{Event, Limits, Parser, SliceSource, Source};
use xxhash_rust::xxh3::{xxh3_128_with_seed, xxh3_64_with_seed};

/// A hasher for keys that are already uniformly random 128-bit digests: folds them to 64 bits.
#[derive(Debug, Default, Clone, Copy)]
pub struct FoldHasher(u64);

impl Hasher for FoldHasher {
    fn finish(&self) -> u64 {
        self.0
    }

    fn write(&mut self, bytes: &[u8]) {
        for chunk in bytes.chunks(8) {
            let mut b = [0u8; 8];
            for (d, s) in b.iter_mut().zip(chunk) {
                *d = *s;
            }
            self.0 = self.0.rotate_left(29) ^ u64::from_le_bytes(b);
        }
    }

    fn write_u128(&mut self, v: u128) {
        self.0 ^= (v as u64) ^ ((v >> 64) as u64);
    }

    fn write_u64(&mut self, v: u64) {
        self.0 ^= v;
    }
}

/// A set of 128-bit digests.
pub type DigestSet = HashSet<u128, BuildHasherDefault<FoldHasher>>;

/// The 128-bit digest of `bytes` under `seed`.
pub fn digest(bytes: &[u8], seed: u64) -> u128 {
    xxh3_128_with_seed(bytes, seed)
}

/// The digest of an element's byte form (integers as their decimal text, so `Int(5)` and
/// `Str("5")` collide as they do for the server).
pub fn digest_element(e: &Element<'_>, seed: u64) -> u128 {
    match e {
        Element::Str(s) => digest(s, seed),
        Element::Int(v) => digest(IntText::new(*v).as_bytes(), seed),
    }
}

/// The 64-bit digest of a key in db `db`.
pub fn key_digest(key: &[u8], db: u64) -> u64 {
    xxh3_64_with_seed(key, db)
}

/// Most keys reserved up front from a `RESIZEDB` count (the buckets still grow past it).
const MAX_RESERVE: u64 = 1 << 24;

/// Bits of a digest that choose its bucket.
const BUCKET_BITS: u32 = 8;
/// Number of buckets.
const BUCKETS: usize = 1 << BUCKET_BITS;

/// The digests of every key of a file, checked for repeats at the end (see the module docs).
///
/// Digests are appended to one of 256 buckets chosen by their top bits, so the final check
/// looks at 256 pieces (about 150 KiB each for 5 M keys) with a table that stays in the L2
/// cache instead of one large vector. (1,024 buckets were slower here: the
/// appends then go to more pages than the TLB holds.)
///
/// Digests are first staged in a flat array of `STAGE` and spread to their buckets a batch
/// at a time: appended one by one between the parsing of keys, the scattered stores to 256
/// bucket tails stalled the key loop (a quarter of `count_key`'s samples on small-strings).
#[derive(Debug)]
pub struct KeyDigests {
    buckets: Box<[Vec<u64>]>,
    stage: Box<[u64; STAGE]>,
    staged: usize,
}

/// Digests staged before they are spread to their buckets (32 KiB: stays in the L1 cache).
const STAGE: usize = 4096;

impl Default for KeyDigests {
    fn default() -> Self {
        KeyDigests {
            buckets: (0..BUCKETS).map(|_| Vec::new()).collect(),
            stage: Box::new([0; STAGE]),
            staged: 0,
        }
    }
}

impl KeyDigests {
    /// Reserves room for `keys` more keys (a `RESIZEDB` count; capped, so a hostile count
    /// cannot reserve more than about 150 MiB of address space). Each bucket gets its share
    /// plus 1/8 and 16 digests of slack (digests are uniform: a bucket of n expected keys
    /// rarely exceeds n + 3√n).
    pub fn reserve(&mut self, keys: u64) {
        let share = keys.min(MAX_RESERVE) / BUCKETS as u64;
        let want = usize::try_from(share + share / 8 + 16).unwrap_or(0);
        for b in self.buckets.iter_mut() {
            if b.capacity() - b.len() < want {
                b.reserve_exact(want);
            }
        }
    }

    /// Records one key.
    #[inline]
    pub fn push(&mut self, key: &[u8], db: u64) {
        let d = key_digest(key, db);
        if let Some(slot) = self.stage.get_mut(self.staged) {
            *slot = d;
            self.staged += 1;
        }
        if self.staged == STAGE {
            self.spread();
        }
    }

    /// Moves the staged digests to their buckets.
    #[inline(never)]
    fn spread(&mut self) {
        let staged = self.stage.get(..self.staged).unwrap_or(&[]);
        for &d in staged {
            if let Some(b) = self.buckets.get_mut((d >> (64 - BUCKET_BITS)) as usize) {
                b.push(d);
            }
        }
        self.staged = 0;
    }

    /// Adds the digests of `other` (a later part of the same file, see [`crate::split`]).
    pub fn append(&mut self, mut other: KeyDigests) {
        self.spread();
        other.spread();
        for (mine, theirs) in self.buckets.iter_mut().zip(other.buckets.into_vec()) {
            if mine.is_empty() {
                *mine = theirs;
            } else {
                mine.extend_from_slice(&theirs);
            }
        }
    }

    /// The digests recorded more than once (sorted, each once); frees the buckets.
    pub fn repeated(&mut self) -> Vec<u64> {
        self.spread();
        let mut out: Vec<u64> = Vec::new();
        let mut table: Vec<u64> = Vec::new();
        for b in self.buckets.iter_mut() {
            let bucket = std::mem::take(b);
            repeats_in(&bucket, &mut table, &mut out);
        }
        out.sort_unstable();
        out.dedup();
        out
    }
}

/// Appends to `out` every digest that occurs more than once in `bucket` (a digest seen `k`
/// times is appended `k - 1` times); `table` is scratch space.
///
/// One open-addressing table (linear probing, load ≤ 1/2, the digests' low bits as the
/// index, 0 as the empty mark with the digest 0 counted apart) instead of sorting the bucket:
/// for 5 M keys (256 buckets of about 20,000 digests, a 512 KiB table that stays in the L2
/// cache) 18–24 ms against 70–81 ms for `sort_unstable` (measured on this machine, random
/// digests).
fn repeats_in(bucket: &[u64], table: &mut Vec<u64>, out: &mut Vec<u64>) {
    if bucket.len() < 2 {
        return;
    }
    let slots = (2 * bucket.len()).next_power_of_two();
    table.clear();
    table.resize(slots, 0);
    let mask = slots - 1;
    let mut zeros = 0usize;
    for &d in bucket {
        if d == 0 {
            zeros += 1;
            if zeros > 1 {
                out.push(0);
            }
            continue;
        }
        let mut at = d as usize & mask;
        // At most `slots` probes: the table is never full (load ≤ 1/2).
        for _ in 0..slots {
            let Some(slot) = table.get_mut(at) else { break };
            if *slot == 0 {
                *slot = d;
                break;
            }
            if *slot == d {
                out.push(d);
                break;
            }
            at = (at + 1) & mask;
        }
    }
}

/// Where the second, key-only pass of the duplicate check can read the input again.
#[derive(Debug, Clone, Copy)]
pub enum Rescan<'a> {
    /// The input cannot be read again (a pipe): suspects are reported unconfirmed.
    Unavailable,
    /// The whole input in memory.
    Bytes(&'a [u8]),
    /// A file to open again.
    File(&'a Path),
}

/// One occurrence of a suspect key found by [`find_keys`].
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct KeyOccurrence {
    /// Database number.
    pub db: u64,
    /// Key bytes.
    pub key: Vec<u8>,
    /// Offset of the key's record (its first per-key opcode).
    pub offset: u64,
}

/// Reads the input again, keys only (values are skipped, not decoded), and returns every key
/// whose digest is in `suspects` (sorted), in file order; `None` when the input cannot be read
/// again. Stops at the first read error, as the first pass did.
pub fn find_keys(
    rescan: Rescan<'_>,
    suspects: &[u64],
    limits: Limits,
) -> Option<Vec<KeyOccurrence>> {
    let limits = Limits {
        verify_checksum: false,
        ..limits
    };
    match rescan {
        Rescan::Unavailable => None,
        Rescan::Bytes(b) => Some(collect_keys(
            &mut Parser::new(SliceSource::new(b), limits),
            suspects,
        )),
        Rescan::File(p) => {
            let file = std::fs::File::open(p).ok()?;
            Some(
                match rdb_reader::WindowSource::from_file(file, limits.stream_buffer()) {
                    Ok(src) => collect_keys(&mut Parser::new(src, limits), suspects),
                    Err(file) => {
                        collect_keys(&mut rdb_reader::stream_parser(file, limits), suspects)
                    }
                },
            )
        }
    }
}

fn collect_keys<S: Source>(parser: &mut Parser<S>, suspects: &[u64]) -> Vec<KeyOccurrence> {
    let mut found = Vec::new();
    loop {
        let hit = match parser.next_event() {
            Ok(Some(Event::Key(k))) => {
                let mut t = IntText::new(0);
                let key = k.key.as_bytes(&mut t);
                suspects
                    .binary_search(&key_digest(key, k.db))
                    .is_ok()
                    .then(|| KeyOccurrence {
                        db: k.db,
                        key: key.to_vec(),
                        offset: k.offset,
                    })
            }
            Ok(Some(_)) => continue,
            Ok(None) | Err(_) => break,
        };
        if let Some(h) = hit {
            found.push(h);
        }
        if parser.skip_key().is_err() {
            break;
        }
    }
    found
}

/// A bounded digest set for the members of one key: stops growing at `cap` entries (then
/// [`MemberSet::truncated`] is set and later duplicates go undetected).
#[derive(Debug, Default)]
pub struct MemberSet {
    set: DigestSet,
    cap: usize,
    truncated: bool,
}

impl MemberSet {
    /// An empty set holding at most `cap` digests.
    pub fn new(cap: usize) -> Self {
        MemberSet {
            set: DigestSet::default(),
            cap,
            truncated: false,
        }
    }

    /// Inserts a digest; `false` when it was already present (a duplicate).
    pub fn insert(&mut self, d: u128) -> bool {
        if self.set.len() >= self.cap {
            if self.set.contains(&d) {
                return false;
            }
            self.truncated = true;
            return true;
        }
        self.set.insert(d)
    }

    /// Whether the digest is present.
    pub fn contains(&self, d: u128) -> bool {
        self.set.contains(&d)
    }

    /// Whether the cap was reached (the check is incomplete for this key).
    pub fn truncated(&self) -> bool {
        self.truncated
    }

    /// Number of digests held.
    pub fn len(&self) -> usize {
        self.set.len()
    }

    /// Whether no digest is held.
    pub fn is_empty(&self) -> bool {
        self.set.is_empty()
    }

    /// Empties the set; releases the table when it grew large (so one huge key does not pin
    /// memory for the rest of the file).
    pub fn clear(&mut self) {
        if self.set.capacity() > 1 << 16 {
            self.set = DigestSet::default();
        } else {
            self.set.clear();
        }
        self.truncated = false;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn digests_distinguish_and_collide_as_expected() {
        assert_ne!(digest(b"a", 0), digest(b"b", 0));
        assert_ne!(digest(b"a", 0), digest(b"a", 1));
        assert_eq!(
            digest_element(&Element::Int(42), 7),
            digest_element(&Element::Str(b"42"), 7)
        );
    }

    #[test]
    fn key_digests_report_each_repeat_once_sorted() {
        let mut d = KeyDigests::default();
        d.reserve(5000);
        for i in 0..5000u32 {
            d.push(format!("k{i}").as_bytes(), 0);
        }
        // Repeats: one key three times, another twice, one key in two dbs (not a repeat).
        d.push(b"k17", 0);
        d.push(b"k17", 0);
        d.push(b"k4000", 0);
        d.push(b"k99", 1);
        let rep = d.repeated();
        let mut want = vec![key_digest(b"k17", 0), key_digest(b"k4000", 0)];
        want.sort_unstable();
        assert_eq!(rep, want);
        // Freed: nothing left to report.
        assert!(d.repeated().is_empty());
    }

    #[test]
    fn staged_digests_of_both_parts_count_when_appended() {
        // Part one's digests are all still staged; part two spreads some and stages others.
        let mut one = KeyDigests::default();
        for i in 0..100u32 {
            one.push(format!("k{i}").as_bytes(), 0);
        }
        let mut two = KeyDigests::default();
        for i in 100..(100 + STAGE as u32 + 50) {
            two.push(format!("k{i}").as_bytes(), 0);
        }
        two.push(b"k5", 0); // staged in both parts
        two.push(b"k150", 0); // spread in part two, then staged again
        one.append(two);
        let mut want = vec![key_digest(b"k5", 0), key_digest(b"k150", 0)];
        want.sort_unstable();
        assert_eq!(one.repeated(), want);
    }

    #[test]
    fn repeats_in_a_bucket_include_zero_and_probe_chains() {
        let mut table = Vec::new();
        let mut out = Vec::new();
        // 0 is the table's empty mark: counted apart. 16 and 48 share a slot (mask 31 for
        // 9 entries), so the second is found along the probe chain.
        repeats_in(&[16, 0, 48, 5, 48, 0, 0, 16, 7], &mut table, &mut out);
        out.sort_unstable();
        assert_eq!(out, vec![0, 0, 16, 48]);
        out.clear();
        repeats_in(&[1, 2, 3, 17, 33, 49], &mut table, &mut out);
        assert!(out.is_empty());
        repeats_in(&[9], &mut table, &mut out);
        assert!(out.is_empty());
    }

    #[test]
    fn member_set_cap() {
        let mut s = MemberSet::new(2);
        assert!(s.insert(1));
        assert!(!s.insert(1));
        assert!(s.insert(2));
        assert!(!s.truncated());
        assert!(s.insert(3)); // beyond the cap: not held
        assert!(s.truncated());
        assert!(!s.insert(2)); // still detected: held before the cap
        s.clear();
        assert!(s.is_empty() && !s.truncated());
    }
}
