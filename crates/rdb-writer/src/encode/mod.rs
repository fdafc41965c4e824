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
    /// An intset's sorted values, from [`set::plan`] to [`set::write`] (reused).
    pub(crate) ints: Vec<i64>,
    /// Scratch space for a value encoded before it is written as a string (reused).
    pub(crate) blob: Vec<u8>,
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
            ints: Vec::new(),
            blob: Vec::new(),
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

/// The first duplicate among `items` (projected to bytes by `key`), if any (see
/// [`crate::dupkeys`]).
pub(crate) fn first_duplicate<'a, T, F>(items: &'a [T], key: F) -> Option<&'a [u8]>
where
    F: Fn(&'a T) -> &'a [u8],
{
    crate::dupkeys::first_duplicate(items, &key).and_then(|i| items.get(i).map(&key))
}

#[cfg(test)]
mod tests {
    use super::*;

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
        // Previous entries of 3, 253, 254 (the first that takes a 5-byte prevlen) and 303 bytes:
        // prevlen 1 + a 2-byte string header + the text.
        for (first_len, prev_size) in [(1, 3), (250, 253), (251, 254), (300, 303)] {
            for s in &samples {
                let mut zl = ZiplistBuilder::new();
                zl.push_bytes(&vec![b'y'; first_len]);
                let prev = zl.size() - 11;
                assert_eq!(prev, prev_size);
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
