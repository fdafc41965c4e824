//! Finding repeated byte strings (duplicate keys of a database, duplicate members of a
//! collection) without copying them.
//!
//! A server refuses a file that repeats a key in a database (Redis: "Duplicated key found in
//! RDB file", then it exits) or a member of a set, hash or sorted set, so the writer checks
//! before writing. [`first_duplicate`] answers exactly (equal digests are confirmed by comparing the
//! bytes) and reports the earliest repeat, whatever the hash seed.
//!
//! Up to 4,096 items: open addressing over item indices (linear probing, load ≤ 1/2, XXH3
//! seeded once per process, so collision sets cannot be prepared in advance), on the stack for
//! up to 64 items — most collections are that small. Above: every item's digest goes, with its
//! index, to one of up to 256 buckets by its top bits (about 2,048 items a bucket, at most 1/256
//! of the items, so each bucket's table stays in the L2 cache for millions of keys), then each
//! bucket is checked with its own table keyed by the stored digests, touching the bytes again
//! only when two digests are equal. Memory: 8 bytes
//! per item plus a table of 4–8 bytes per item of the largest bucket, freed on return.

use xxhash_rust::xxh3::xxh3_64_with_seed;

/// Up to this many items, one table over item indices (no buckets).
const SMALL: usize = 4096;

/// Items per bucket aimed at by the bucketed check.
const BUCKET_ITEMS: usize = 2048;

/// At most `2^8` buckets: more scatter the appends over more pages than the TLB holds (the
/// verifier's key digests measured the same).
const MAX_BUCKET_BITS: u32 = 8;

/// An empty slot of a table.
const EMPTY: u32 = u32::MAX;

/// Per-process hash seed.
fn hash_seed() -> u64 {
    use std::hash::BuildHasher;
    static SEED: std::sync::OnceLock<u64> = std::sync::OnceLock::new();
    *SEED.get_or_init(|| std::collections::hash_map::RandomState::new().hash_one(0x5eed_u64))
}

/// The index of the first item (in slice order) whose byte form — `key(item)` — equals that
/// of an earlier item; `None` when all are distinct.
pub fn first_duplicate<'a, T, F>(items: &'a [T], key: F) -> Option<usize>
where
    F: Fn(&'a T) -> &'a [u8],
{
    if items.len() < 2 {
        None
    } else if items.len() <= SMALL {
        first_duplicate_small(items, key)
    } else {
        first_duplicate_bucketed(items, key)
    }
}

/// [`first_duplicate`] with one table over item indices.
fn first_duplicate_small<'a, T, F>(items: &'a [T], key: F) -> Option<usize>
where
    F: Fn(&'a T) -> &'a [u8],
{
    const STACK: usize = 128;
    let slots = (2 * items.len()).next_power_of_two();
    let mut stack = [EMPTY; STACK];
    let mut heap = Vec::new();
    let table: &mut [u32] = if slots <= STACK {
        stack.get_mut(..slots).unwrap_or_default()
    } else {
        heap.resize(slots, EMPTY);
        &mut heap
    };
    let mask = slots - 1;
    let seed = hash_seed();
    for (i, item) in items.iter().enumerate() {
        let k = key(item);
        let mut at = (xxh3_64_with_seed(k, seed) as usize) & mask;
        loop {
            let slot = table.get_mut(at)?;
            if *slot == EMPTY {
                *slot = u32::try_from(i).ok()?;
                break;
            }
            if items.get(*slot as usize).map(&key) == Some(k) {
                return Some(i);
            }
            at = (at + 1) & mask;
        }
    }
    None
}

/// [`first_duplicate`] for many items: digests in buckets, one small table per bucket.
fn first_duplicate_bucketed<'a, T, F>(items: &'a [T], key: F) -> Option<usize>
where
    F: Fn(&'a T) -> &'a [u8],
{
    let mut digests = KeyDigests::new(items.len());
    for item in items {
        digests.push(key(item));
    }
    digests.first_repeat(items, key)
}

/// The digests of a sequence of byte strings, pushed one by one (so that they can be taken in
/// the same pass as other per-item work), in up to 256 buckets by their top bits; then
/// [`KeyDigests::first_repeat`] finds the earliest repeat exactly.
///
/// A bucket entry is one `u64`: the digest's top 32 bits (the top 1–8 of them chose the
/// bucket) above the item's index, so the buckets take 8 bytes per item. Entries
/// with equal tops are confirmed by comparing the bytes (about 12 such pairs per bucket of
/// 20,000 distinct items: 24 free bits).
#[derive(Debug)]
pub struct KeyDigests {
    seed: u64,
    bits: u32,
    buckets: Vec<Vec<u64>>,
    len: usize,
}

impl KeyDigests {
    /// Buckets sized for `expected` items (more may be pushed).
    pub fn new(expected: usize) -> Self {
        let bits = (expected / BUCKET_ITEMS)
            .next_power_of_two()
            .trailing_zeros()
            .clamp(1, MAX_BUCKET_BITS);
        let share = expected >> bits;
        KeyDigests {
            seed: hash_seed(),
            bits,
            buckets: (0..1usize << bits)
                .map(|_| Vec::with_capacity(share + share / 8 + 16))
                .collect(),
            len: 0,
        }
    }

    /// Records the next item's bytes.
    #[inline]
    pub fn push(&mut self, bytes: &[u8]) {
        let d = xxh3_64_with_seed(bytes, self.seed);
        if let Some(b) = self.buckets.get_mut((d >> (64 - self.bits)) as usize) {
            // Past `u32::MAX` items the index would not fit: `first_repeat` then ignores the
            // buckets.
            b.push((d & TOP) | (self.len as u64 & !TOP));
        }
        self.len += 1;
    }

    /// The index of the first item whose bytes (`key(item)`) equal an earlier item's;
    /// `items[i]` must be the item of the `i`-th [`push`](Self::push).
    pub fn first_repeat<'a, T, F>(&self, items: &'a [T], key: F) -> Option<usize>
    where
        F: Fn(&'a T) -> &'a [u8],
    {
        if u32::try_from(self.len).is_err() {
            // More items than a `u32` indexes: one plain hash set (never met in practice).
            let mut seen = std::collections::HashSet::with_capacity(items.len());
            return items.iter().position(|it| !seen.insert(key(it)));
        }
        let mut table: Vec<u32> = Vec::new();
        let mut first: Option<usize> = None;
        for bucket in &self.buckets {
            // Every copy of a key is in the same bucket, in push order: the bucket's first
            // repeat is its earliest; the smallest over all buckets is the answer.
            if let Some(i) = bucket_repeat(bucket, items, &key, &mut table) {
                first = Some(first.map_or(i, |f| f.min(i)));
            }
        }
        first
    }
}

/// The digest bits kept in a bucket entry.
const TOP: u64 = 0xFFFF_FFFF_0000_0000;

/// The first item of `bucket` (entries as built by [`KeyDigests::push`], in index order)
/// whose key equals an earlier one's; `table` is scratch space.
fn bucket_repeat<'a, T, F>(
    bucket: &[u64],
    items: &'a [T],
    key: &F,
    table: &mut Vec<u32>,
) -> Option<usize>
where
    F: Fn(&'a T) -> &'a [u8],
{
    if bucket.len() < 2 {
        return None;
    }
    let slots = (2 * bucket.len()).next_power_of_two();
    table.clear();
    table.resize(slots, EMPTY);
    let mask = slots - 1;
    let index = |e: u64| (e & !TOP) as usize;
    for (pos, &e) in bucket.iter().enumerate() {
        // Digest bits below the bucket's: bits 32.. of the entry.
        let mut at = (e >> 32) as usize & mask;
        loop {
            let slot = table.get_mut(at)?;
            if *slot == EMPTY {
                *slot = u32::try_from(pos).ok()?;
                break;
            }
            if let Some(&other) = bucket.get(*slot as usize) {
                if other & TOP == e & TOP
                    && items.get(index(other)).map(key) == items.get(index(e)).map(key)
                {
                    return Some(index(e));
                }
            }
            at = (at + 1) & mask;
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::{Rng, SeedableRng};
    use std::collections::HashSet;

    /// The reference: the first index whose key was seen before.
    fn reference(items: &[Vec<u8>]) -> Option<usize> {
        let mut seen = HashSet::new();
        items.iter().position(|m| !seen.insert(m.as_slice()))
    }

    #[test]
    fn agrees_with_a_hash_set() {
        let mut rng = rand::rngs::StdRng::seed_from_u64(0x9E37_79B9_7F4A_7C15);
        for round in 0..400 {
            // Sizes on both sides of the stack table (64 items) and of the bucketed path
            // (4,096), small alphabets so that duplicates are common in some rounds and absent
            // in others.
            let n = match round % 4 {
                0 => rng.random_range(0..300),
                1 => rng.random_range(3000..6000),
                2 => rng.random_range(4097..20_000),
                _ => rng.random_range(0..70),
            };
            let alphabet = match round % 5 {
                0 => 2 + n as u64 * 8,
                1 => 1 << 40,
                _ => 2 + (round % 7) as u64 * 40,
            };
            let items: Vec<Vec<u8>> = (0..n)
                .map(|_| {
                    let v = rng.random_range(0..alphabet);
                    match v % 3 {
                        0 => v.to_string().into_bytes(),
                        1 => format!("member:{v}:suffix-long-enough").into_bytes(),
                        _ => vec![b'x'; (v % 20) as usize],
                    }
                })
                .collect();
            let got = first_duplicate(&items, |m| m.as_slice());
            assert_eq!(got, reference(&items), "round {round}, n {n}");
        }
        assert_eq!(first_duplicate(&[b"a".to_vec()], |m| m.as_slice()), None);
        let two = [b"same".to_vec(), b"same".to_vec()];
        assert_eq!(first_duplicate(&two, |m| m.as_slice()), Some(1));
    }

    #[test]
    fn bucketed_reports_the_earliest_repeat() {
        // Distinct keys, then repeats placed so that the earliest repeat is not in the first
        // bucket checked.
        let mut items: Vec<Vec<u8>> = (0..50_000u32)
            .map(|i| format!("key:{i}").into_bytes())
            .collect();
        assert_eq!(first_duplicate(&items, |m| m.as_slice()), None);
        items.push(b"key:49999".to_vec());
        items.push(b"key:7".to_vec());
        items.push(b"key:0".to_vec());
        assert_eq!(first_duplicate(&items, |m| m.as_slice()), Some(50_000));
        items.swap(50_000, 50_002);
        assert_eq!(first_duplicate(&items, |m| m.as_slice()), Some(50_000));
        assert_eq!(reference(&items), Some(50_000));
    }
}
