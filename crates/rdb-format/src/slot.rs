//! Cluster hash slots (rdb-format.md §6): `slot(key) = CRC-16/XMODEM(hashed part) & 0x3FFF`.
//!
//! The hashed part follows the hash-tag rules of §6.1: if the key holds a `{` followed later by a `}` with at least
//! one byte between them, only the bytes between the *first* `{` and the first `}` after it are hashed; otherwise the
//! whole key is.

/// Number of hash slots in a Redis / Valkey cluster (slots are `0..SLOTS`).
pub const SLOTS: u16 = 16384;

/// Highest slot number (`SLOTS - 1`).
pub const MAX_SLOT: u16 = SLOTS - 1;

/// Mask applied to the CRC16 to get a slot (`& 0x3FFF`, i.e. mod 16384).
pub const SLOT_MASK: u16 = SLOTS - 1;

/// Slice-by-16 tables, built at compile time (8 KiB): `TABLES[k][b]` is the CRC-16/XMODEM of
/// byte `b` followed by `k` zero bytes. `TABLES[0]` is the bytewise table of rdb-format.md §6.1.
static TABLES: [[u16; 256]; 16] = build_tables();

const fn build_tables() -> [[u16; 256]; 16] {
    let mut t = [[0u16; 256]; 16];
    let mut k = 0;
    while k < 16 {
        let mut b = 0;
        while b < 256 {
            // Bit-serial, MSB first: byte `b`, then `k` zero bytes.
            let mut crc = (b as u16) << 8;
            let mut bit = 0;
            while bit < 8 * (k + 1) {
                crc = if crc & 0x8000 != 0 {
                    (crc << 1) ^ 0x1021
                } else {
                    crc << 1
                };
                bit += 1;
            }
            // (`const fn` has no `get_mut`; checked splits instead of indexing.)
            if let Some((_, rows)) = t.split_at_mut_checked(k) {
                if let Some(row) = rows.first_mut() {
                    if let Some((_, cells)) = row.split_at_mut_checked(b) {
                        if let Some(cell) = cells.first_mut() {
                            *cell = crc;
                        }
                    }
                }
            }
            b += 1;
        }
        k += 1;
    }
    t
}

/// XOR of `tables[i][byte i of x]` over the low `N` bytes of `x` (byte 0 = least significant).
#[inline(always)]
fn fold<const N: usize>(x: u64, tables: &[[u16; 256]]) -> u16 {
    let bytes = x.to_le_bytes();
    let mut crc = 0;
    for (t, &b) in tables.iter().zip(bytes.iter()).take(N) {
        // (`b < 256`: the check compiles away.)
        crc ^= t.get(usize::from(b)).copied().unwrap_or(0);
    }
    crc
}

/// CRC of `d` (at most 16 bytes) from a zero state. The CRC (init 0, no final xor) is linear,
/// so it is the XOR of one independent table lookup per byte (`TABLES[k]` for the byte `k`
/// places from the end). The bytes are read as big-endian integers with two overlapping loads
/// each (no copy into a padded buffer) and folded in groups of 4 or 8 lookups.
#[inline(always)]
fn crc_short(d: &[u8]) -> u16 {
    let n = d.len();
    let (low, high) = TABLES.split_at(8);
    match (d.first_chunk::<8>(), d.last_chunk::<8>()) {
        (Some(a), Some(b)) if n > 8 => {
            // The last 8 bytes, and the first `n - 8` (shift 0..=56).
            let lo = u64::from_be_bytes(*b);
            let hi = u64::from_be_bytes(*a) >> (8 * (16 - n));
            let h = if n <= 12 {
                fold::<4>(hi, high)
            } else {
                fold::<8>(hi, high)
            };
            h ^ fold::<8>(lo, low)
        }
        _ => match (d.first_chunk::<4>(), d.last_chunk::<4>()) {
            (Some(a), Some(b)) => {
                let x = (u64::from(u32::from_be_bytes(*a)) << (8 * (n - 4)))
                    | u64::from(u32::from_be_bytes(*b));
                if n == 4 {
                    fold::<4>(x, low)
                } else {
                    fold::<8>(x, low)
                }
            }
            _ => fold::<4>(d.iter().fold(0, |x, &b| (x << 8) | u64::from(b)), low),
        },
    }
}

/// CRC-16/XMODEM (width 16, poly `0x1021`, init 0, no reflection, xorout 0) of `data`.
///
/// `crc16_xmodem(b"123456789") == 0x31C3`.
///
/// Leading zero bytes leave this CRC unchanged, so `data` is taken as if zero-padded in front
/// to a multiple of 16 bytes: its first `len % 16` bytes are one short block (`crc_short`),
/// then every 16-byte block is slice-by-16 with the running CRC XORed into its first two
/// bytes. Measured with the `crc16_speed` example (ns per key, same runs): 11-byte keys 4.3–4.6
/// against 7.3–7.7 for the `crc` crate's slice-by-16 over a zero-padded copy (what this
/// replaced), 6-byte 3.3–3.7 against 6.5–7.5, 20-byte 6.9–7.4 against 12.2–13.0; 16-byte keys
/// (one whole block) take the same.
#[inline]
pub fn crc16_xmodem(data: &[u8]) -> u16 {
    let (head, blocks) = data.split_at(data.len() % 16);
    let mut crc = if head.is_empty() { 0 } else { crc_short(head) };
    let (low, high) = TABLES.split_at(8);
    for b in blocks.chunks_exact(16) {
        let (Some(h), Some(l)) = (b.first_chunk::<8>(), b.last_chunk::<8>()) else {
            break;
        };
        let hi = u64::from_be_bytes(*h) ^ (u64::from(crc) << 48);
        crc = fold::<8>(hi, high) ^ fold::<8>(u64::from_be_bytes(*l), low);
    }
    crc
}

/// The part of `key` that is hashed into a slot (the hash tag, or the whole key).
///
/// Rules (rdb-format.md §6.1): find the first `{`; then the first `}` after it; if either is missing or the tag
/// between them is empty, the whole key is hashed, otherwise only the bytes strictly between them.
///
/// ```
/// use rdb_format::slot::hash_tag;
/// assert_eq!(hash_tag(b"{user1000}.following"), b"user1000");
/// assert_eq!(hash_tag(b"foo{{bar}}zap"), b"{bar");
/// assert_eq!(hash_tag(b"foo{}{bar}"), b"foo{}{bar}");
/// ```
#[inline]
pub fn hash_tag(key: &[u8]) -> &[u8] {
    if !may_hold_open_brace(key) {
        return key;
    }
    let Some(open) = key.iter().position(|&b| b == b'{') else {
        return key;
    };
    let Some(after_open) = key.get(open + 1..) else {
        return key;
    };
    match after_open.iter().position(|&b| b == b'}') {
        Some(0) | None => key,
        Some(len) => after_open.get(..len).unwrap_or(key),
    }
}

/// Whether `key` may hold a `{`: exact for keys of 4 to 16 bytes (two overlapping word loads
/// and a has-zero-byte test, no loop over the bytes), `true` for the others. Most keys hold
/// none, and the byte loop was 3 % of verifying a file of short string keys.
#[inline(always)]
fn may_hold_open_brace(key: &[u8]) -> bool {
    /// Non-zero when some byte of `x` is zero (the classic bit trick; exact as a yes/no).
    #[inline(always)]
    fn zero_byte(x: u64) -> u64 {
        x.wrapping_sub(0x0101_0101_0101_0101) & !x & 0x8080_8080_8080_8080
    }
    const BRACES: u64 = u64::from_ne_bytes([b'{'; 8]);
    if key.len() > 16 {
        return true;
    }
    let (a, b) = match (key.first_chunk::<8>(), key.last_chunk::<8>()) {
        (Some(a), Some(b)) => (u64::from_ne_bytes(*a), u64::from_ne_bytes(*b)),
        _ => match (key.first_chunk::<4>(), key.last_chunk::<4>()) {
            (Some(a), Some(b)) => (
                u64::from(u32::from_ne_bytes(*a)) | (u64::from(u32::from_ne_bytes(*b)) << 32),
                0,
            ),
            _ => return true,
        },
    };
    // The 4-byte case leaves `b` zero: XOR-ed with the braces it has no zero byte.
    zero_byte(a ^ BRACES) | zero_byte(b ^ BRACES) != 0
}

/// The cluster hash slot of `key`: CRC-16/XMODEM of its hashed part (see [`hash_tag`]) `& 0x3FFF`.
///
/// ```
/// use rdb_format::slot::key_slot;
/// assert_eq!(key_slot(b"foo"), 12182);
/// assert_eq!(key_slot(b"{user1000}.followers"), 3443);
/// ```
#[inline]
pub fn key_slot(key: &[u8]) -> u16 {
    crc16_xmodem(hash_tag(key)) & SLOT_MASK
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// Independent reference: the bytewise MSB-first table of rdb-format.md §6.1, built from the bit-serial
    /// definition (polynomial 0x1021).
    const fn build_table() -> [u16; 256] {
        let mut table = [0u16; 256];
        let mut i = 0;
        while i < 256 {
            let mut crc = (i as u16) << 8;
            let mut bit = 0;
            while bit < 8 {
                crc = if crc & 0x8000 != 0 {
                    (crc << 1) ^ 0x1021
                } else {
                    crc << 1
                };
                bit += 1;
            }
            table[i] = crc;
            i += 1;
        }
        table
    }

    const TABLE: [u16; 256] = build_table();

    /// `crc = ((crc << 8) & 0xFFFF) ^ table[((crc >> 8) ^ byte) & 0xFF]`, as the doc states it.
    struct Oracle;
    impl Oracle {
        fn checksum(&self, data: &[u8]) -> u16 {
            data.iter().fold(0u16, |crc, &byte| {
                (crc << 8) ^ TABLE[usize::from((crc >> 8) as u8 ^ byte)]
            })
        }
    }
    const ORACLE: Oracle = Oracle;

    /// Key, hashed part (None = whole key), CRC16 of the hashed part, slot.
    type Vector = (&'static [u8], Option<&'static [u8]>, u16, u16);

    /// The table of rdb-format.md §6.2.
    const VECTORS: &[Vector] = &[
        (b"foo", None, 0xAF96, 12182),
        (b"bar", None, 0x93C5, 5061),
        (b"hello", None, 0xC362, 866),
        (b"{user1000}.following", Some(b"user1000"), 0x4D73, 3443),
        (b"{user1000}.followers", Some(b"user1000"), 0x4D73, 3443),
        (b"foo{}{bar}", None, 0xE0AB, 8363),
        // The doc's CRC16 column says 0x6FDA here, which is the CRC of the whole key; the hashed part `{bar` has
        // CRC 0xCFAF, and 0xCFAF & 0x3FFF = 4015 is the slot the doc (and CLUSTER KEYSLOT) gives.
        (b"foo{{bar}}zap", Some(b"{bar"), 0xCFAF, 4015),
        (b"foo{bar}{zap}", Some(b"bar"), 0x93C5, 5061),
        (b"{}", None, 0x7B99, 15257),
        (b"a{b", None, 0x341C, 13340),
        (b"123456789", None, 0x31C3, 12739),
        (b"", None, 0x0000, 0),
    ];

    #[test]
    fn doc_vectors() {
        for &(key, part, crc, slot) in VECTORS {
            let name = String::from_utf8_lossy(key);
            let part = part.unwrap_or(key);
            assert_eq!(hash_tag(key), part, "hashed part of {name:?}");
            assert_eq!(crc16_xmodem(part), crc, "crc16 of {name:?}");
            assert_eq!(key_slot(key), slot, "slot of {name:?}");
        }
    }

    #[test]
    fn every_short_length_matches_oracle() {
        let data: Vec<u8> = (0..200u32)
            .map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8)
            .collect();
        for len in 0..=data.len() {
            for start in [0, 1, 7] {
                let d = &data[start.min(len)..len];
                assert_eq!(crc16_xmodem(d), ORACLE.checksum(d), "len {}", d.len());
            }
        }
    }

    #[test]
    fn matches_the_crc_crate() {
        const XMODEM: crc::Crc<u16> = crc::Crc::<u16>::new(&crc::CRC_16_XMODEM);
        let data: Vec<u8> = (0..300u32)
            .map(|i| (i.wrapping_mul(40_503) >> 7) as u8)
            .collect();
        for len in 0..=data.len() {
            let d = &data[data.len() - len..];
            assert_eq!(crc16_xmodem(d), XMODEM.checksum(d), "len {len}");
        }
    }

    #[test]
    fn tables_are_shifted_bytewise_crcs() {
        for (k, table) in TABLES.iter().enumerate() {
            for (b, &entry) in table.iter().enumerate() {
                let mut msg = vec![b as u8];
                msg.resize(k + 1, 0);
                assert_eq!(entry, ORACLE.checksum(&msg), "k {k} b {b}");
            }
        }
    }

    #[test]
    fn check_value() {
        assert_eq!(crc16_xmodem(b"123456789"), 0x31C3);
        assert_eq!(ORACLE.checksum(b"123456789"), 0x31C3);
    }

    #[test]
    fn reference_table_spot_values() {
        // Well-known entries of the CRC-16/CCITT (poly 0x1021, MSB-first) table.
        assert_eq!(&TABLE[..4], &[0x0000, 0x1021, 0x2042, 0x3063]);
        assert_eq!(TABLE[255], 0x1EF0);
    }

    #[test]
    fn brace_prefilter_is_exact_for_short_keys() {
        for len in 0..=24usize {
            for at in 0..len {
                let mut key = vec![b'a'; len];
                key[at] = b'{';
                assert!(may_hold_open_brace(&key), "len {len} at {at}");
                key[at] = b'{' ^ 0x80;
                if (4..=16).contains(&len) {
                    assert!(!may_hold_open_brace(&key), "len {len} at {at}");
                }
            }
        }
        for b in 0..=255u8 {
            let key = [b, b'x', 0, 0xFF, b, b'}', 1];
            assert_eq!(may_hold_open_brace(&key), b == b'{', "byte {b}");
        }
    }

    #[test]
    fn tag_edge_cases() {
        assert_eq!(hash_tag(b"{"), b"{");
        assert_eq!(hash_tag(b"}{"), b"}{");
        assert_eq!(hash_tag(b"x{a}"), b"a");
        assert_eq!(hash_tag(b"{a}}"), b"a");
        assert_eq!(hash_tag(b"{{}"), b"{");
        assert_eq!(hash_tag(b"a}{b}"), b"b");
        assert_eq!(hash_tag(b"{}a{b}"), b"{}a{b}");
    }

    proptest! {
        #[test]
        fn crc_matches_oracle(data in proptest::collection::vec(any::<u8>(), 0..200)) {
            prop_assert_eq!(crc16_xmodem(&data), ORACLE.checksum(&data));
        }

        #[test]
        fn slot_in_range_and_matches_oracle(key in proptest::collection::vec(any::<u8>(), 0..64)) {
            let slot = key_slot(&key);
            prop_assert!(slot < SLOTS);
            prop_assert_eq!(slot, ORACLE.checksum(hash_tag(&key)) & 0x3FFF);
        }

        #[test]
        fn tag_decides_slot(
            tag in "[^{}]{1,20}",
            prefix in "[^{]{0,10}",
            suffix in ".{0,10}",
        ) {
            let tagged = format!("{prefix}{{{tag}}}{suffix}");
            prop_assert_eq!(hash_tag(tagged.as_bytes()), tag.as_bytes());
            prop_assert_eq!(key_slot(tagged.as_bytes()), key_slot(tag.as_bytes()));
            let other = format!("x{{{tag}}}y");
            prop_assert_eq!(key_slot(tagged.as_bytes()), key_slot(other.as_bytes()));
        }

        #[test]
        fn no_brace_hashes_whole_key(key in "[^{]{0,40}") {
            prop_assert_eq!(hash_tag(key.as_bytes()), key.as_bytes());
            prop_assert_eq!(key_slot(key.as_bytes()), ORACLE.checksum(key.as_bytes()) & 0x3FFF);
        }

        #[test]
        fn empty_tag_hashes_whole_key(prefix in "[^{]{0,10}", suffix in ".{0,10}") {
            let key = format!("{prefix}{{}}{suffix}");
            prop_assert_eq!(hash_tag(key.as_bytes()), key.as_bytes());
        }

        #[test]
        fn unclosed_brace_hashes_whole_key(prefix in "[^{]{0,10}", suffix in "[^}]{0,10}") {
            let key = format!("{prefix}{{{suffix}");
            prop_assert_eq!(hash_tag(key.as_bytes()), key.as_bytes());
        }
    }
}
