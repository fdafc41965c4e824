//! Value encodings: which RDB type a value gets for a target, and its bytes (§3, §4, §7.2).
//!
//! Each module validates first (what the server would refuse on load is an error before any
//! byte is written) and then encodes into the [`Sink`](crate::sink::Sink) buffer.

pub(crate) mod hash;
pub(crate) mod list;
pub(crate) mod set;
pub(crate) mod zset;

use rdb_format::int::parse_canonical_i64;
use rdb_format::listpack::{backlen_size, ListpackBuilder};
use rdb_format::lzf::Compressor;
use rdb_format::string::encode_string;
use rdb_format::ziplist::ZiplistBuilder;
use rdb_format::Header;
use xxhash_rust::xxh3::xxh3_64_with_seed;

use crate::config::EncodingConfig;
use crate::target::Target;

/// Encoding state shared by all records of one file: target, thresholds, the LZF compressor
/// (one hash table for the whole file) and reusable blob builders.
#[derive(Debug)]
pub(crate) struct Encoder {
    pub(crate) target: Target,
    pub(crate) header: Header,
    pub(crate) cfg: EncodingConfig,
    pub(crate) compressor: Option<Compressor>,
    pub(crate) lp: ListpackBuilder,
    pub(crate) zl: ZiplistBuilder,
}

impl Encoder {
    pub(crate) fn new(
        target: Target,
        header: Header,
        cfg: EncodingConfig,
        compression: bool,
    ) -> Self {
        Encoder {
            target,
            header,
            cfg,
            compressor: compression.then(Compressor::new),
            lp: ListpackBuilder::new(),
            zl: ZiplistBuilder::new(),
        }
    }

    /// Appends `s` as an RDB string (int-encoded, LZF or raw, as the server chooses).
    #[inline]
    pub(crate) fn string(&mut self, s: &[u8], out: &mut Vec<u8>) {
        encode_string(s, self.compressor.as_mut(), out);
    }

    /// Finishes the listpack builder, appends it as an RDB string and clears the builder.
    pub(crate) fn flush_listpack(&mut self, out: &mut Vec<u8>) {
        let blob = self.lp.finish();
        encode_string(blob, self.compressor.as_mut(), out);
        self.lp.clear();
    }

    /// Finishes the ziplist builder, appends it as an RDB string and clears the builder.
    pub(crate) fn flush_ziplist(&mut self, out: &mut Vec<u8>) {
        let blob = self.zl.finish();
        encode_string(blob, self.compressor.as_mut(), out);
        self.zl.clear();
    }

    /// Whether compact encodings are listpacks (RDB ≥ 10) rather than ziplists.
    pub(crate) fn listpacks(&self) -> bool {
        self.target.has_listpacks()
    }
}

/// Size of a listpack entry for `s` pushed with `push_bytes` (integer when canonical).
#[inline]
pub(crate) fn lp_entry_size(s: &[u8]) -> usize {
    ListpackBuilder::entry_size(s)
}

/// Size of a listpack integer entry.
#[inline]
pub(crate) fn lp_int_size(v: i64) -> usize {
    let l = if (0..=127).contains(&v) {
        1
    } else if (-4096..=4095).contains(&v) {
        2
    } else if i16::try_from(v).is_ok() {
        3
    } else if (-(1 << 23)..(1 << 23)).contains(&v) {
        4
    } else if i32::try_from(v).is_ok() {
        5
    } else {
        9
    };
    l + backlen_size(l)
}

/// Size of a ziplist entry for `s` pushed with `push_bytes`, after an entry of `prev` bytes.
/// Returns `(entry size)`.
pub(crate) fn zl_entry_size(s: &[u8], prev: usize) -> usize {
    let prevlen = if prev < 254 { 1 } else { 5 };
    let body = match (s.len() < 32).then(|| parse_canonical_i64(s)).flatten() {
        Some(v) if (0..=12).contains(&v) => 1,
        Some(v) if i8::try_from(v).is_ok() => 2,
        Some(v) if i16::try_from(v).is_ok() => 3,
        Some(v) if (-(1 << 23)..(1 << 23)).contains(&v) => 4,
        Some(v) if i32::try_from(v).is_ok() => 5,
        Some(_) => 9,
        None => {
            let hdr = if s.len() <= 0x3F {
                1
            } else if s.len() <= 0x3FFF {
                2
            } else {
                5
            };
            hdr + s.len()
        }
    };
    prevlen + body
}

/// Per-process hash seed for [`first_duplicate`].
fn hash_seed() -> u64 {
    use std::hash::BuildHasher;
    static SEED: std::sync::OnceLock<u64> = std::sync::OnceLock::new();
    *SEED.get_or_init(|| std::collections::hash_map::RandomState::new().hash_one(0x5eed_u64))
}

/// The first duplicate among `items` (projected to bytes by `key`), if any.
///
/// Open addressing over item indices (linear probing, load ≤ 1/2) with XXH3 seeded once per
/// process (so collision sets cannot be prepared in advance; a bad distribution would only
/// cost probes, never a wrong answer). The table lives on the stack for up to 64 items: most
/// collections written are that small, and a `HashSet` would allocate for each of them.
pub(crate) fn first_duplicate<'a, T, F>(items: &'a [T], key: F) -> Option<&'a [u8]>
where
    F: Fn(&'a T) -> &'a [u8],
{
    let len = items.len();
    if len < 2 {
        return None;
    }
    const STACK: usize = 128;
    let slots = (2 * len).next_power_of_two();
    let mut stack = [u32::MAX; STACK];
    let mut heap = Vec::new();
    let table: &mut [u32] = if slots <= STACK {
        stack.get_mut(..slots).unwrap_or_default()
    } else {
        heap.resize(slots, u32::MAX);
        &mut heap
    };
    let mask = slots - 1;
    let seed = hash_seed();
    for (i, item) in items.iter().enumerate() {
        let k = key(item);
        let mut at = (xxh3_64_with_seed(k, seed) as usize) & mask;
        loop {
            let slot = table.get_mut(at)?;
            if *slot == u32::MAX {
                *slot = u32::try_from(i).ok()?;
                break;
            }
            let other = items.get(*slot as usize).map(&key);
            if other == Some(k) {
                return Some(k);
            }
            at = (at + 1) & mask;
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn first_duplicate_agrees_with_a_hash_set() {
        use rand::{Rng, SeedableRng};
        use std::collections::HashSet;
        let mut rng = rand::rngs::StdRng::seed_from_u64(0x9E37_79B9_7F4A_7C15);
        let mut next = move || rng.random::<u64>();
        for round in 0..400 {
            // Sizes on both sides of the stack table (64 items) and small alphabets so that
            // duplicates are common in some rounds and absent in others.
            let n = (next() % 300) as usize;
            let alphabet = 2 + (round % 7) as u64 * 40;
            let items: Vec<Vec<u8>> = (0..n)
                .map(|_| {
                    let v = next() % alphabet;
                    match v % 3 {
                        0 => v.to_string().into_bytes(),
                        1 => format!("member:{v}:suffix-long-enough").into_bytes(),
                        _ => vec![b'x'; (v % 20) as usize],
                    }
                })
                .collect();
            let mut seen = HashSet::new();
            let want = items.iter().find(|m| !seen.insert(m.as_slice()));
            let got = first_duplicate(&items, |m| m.as_slice());
            assert_eq!(got, want.map(Vec::as_slice), "round {round}, n {n}");
        }
        assert_eq!(first_duplicate(&[b"a".to_vec()], |m| m.as_slice()), None);
        let two = [b"same".to_vec(), b"same".to_vec()];
        assert_eq!(first_duplicate(&two, |m| m.as_slice()), Some(&b"same"[..]));
    }

    #[test]
    fn entry_sizes_match_builders() {
        let samples: Vec<Vec<u8>> = vec![
            b"".to_vec(),
            b"0".to_vec(),
            b"12".to_vec(),
            b"-1".to_vec(),
            b"127".to_vec(),
            b"200".to_vec(),
            b"-4096".to_vec(),
            b"40000".to_vec(),
            b"8388607".to_vec(),
            b"2147483648".to_vec(),
            b"9223372036854775807".to_vec(),
            b"007".to_vec(),
            vec![b'x'; 63],
            vec![b'x'; 64],
            vec![b'x'; 4095],
            vec![b'x'; 4096],
            vec![b'x'; 20000],
        ];
        for s in &samples {
            let mut lp = ListpackBuilder::new();
            let before = lp.size();
            lp.push_bytes(s);
            assert_eq!(lp.size() - before, lp_entry_size(s), "{s:?}");
            if let Some(v) = parse_canonical_i64(s) {
                assert_eq!(lp_int_size(v), lp_entry_size(s));
            }
        }
        for prev_big in [false, true] {
            for s in &samples {
                let mut zl = ZiplistBuilder::new();
                let first: &[u8] = if prev_big { &[b'y'; 300] } else { b"a" };
                zl.push_bytes(first);
                let prev = zl.size() - 11;
                let before = zl.size();
                zl.push_bytes(s);
                assert_eq!(
                    zl.size() - before,
                    zl_entry_size(s, prev),
                    "{s:?} after {prev}"
                );
            }
        }
    }
}
