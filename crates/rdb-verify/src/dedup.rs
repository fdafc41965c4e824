//! Duplicate detection without keeping the bytes: a set of 128-bit XXH3 digests.
//!
//! Each key (or member) is reduced to its 128-bit XXH3 hash (seeded per use: the db number for
//! keys, a fixed seed for members) and stored in a `HashSet<u128>` whose own hasher just folds
//! the already-random digest. A duplicate is reported when a digest is already present.
//!
//! Memory: 16 bytes per entry plus hashbrown's one control byte, at a load factor between 7/16
//! and 7/8, i.e. about 19–37 bytes per key (≈ 2.2–3.6 GB for 100 million keys).
//!
//! False positives: two different byte strings share a digest with probability 2^-128 per pair;
//! for n distinct keys the chance of any false duplicate is about n²/2^129 (≈ 1.5·10^-23 for
//! 10^8 keys), so every reported duplicate is treated as real. False negatives cannot happen.

use std::collections::HashSet;
use std::hash::{BuildHasherDefault, Hasher};

use rdb_format::{Element, IntText};
use xxhash_rust::xxh3::xxh3_128_with_seed;

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
