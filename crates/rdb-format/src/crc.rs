//! CRC-64/REDIS (Jones polynomial), the checksum of the RDB trailer.
//!
//! Parameters (format reference §5.1): width 64, polynomial `0xAD93D23594C935A9` (reflected
//! `0x95AC9329AC4BC9B5`), reflected in and out, init 0, xorout 0, check `0xE9C6D914C4B8D9CA`.
//! The RDB file stores it as 8 bytes little-endian after the `FF` EOF opcode, computed over
//! every byte from the magic through that `FF`. A stored 0 means "not checked".
//!
//! This is **not** CRC-64/XZ (the `crc64fast` crate computes CRC-64/XZ and must not be used).
//!
//! The computation is delegated to the `crc-fast` crate (`CrcAlgorithm::Crc64Redis`), which
//! uses carry-less multiplication (PCLMULQDQ / VPCLMULQDQ / PMULL) when the CPU has it.
//!
//! # Performance note for callers
//!
//! The SIMD kernels have a fixed per-call setup cost, so the throughput on tiny slices is
//! far below the throughput on large ones. Callers must feed **large chunks** (ideally
//! 64 KiB or more, e.g. whole read buffers or whole memory-mapped regions) to [`Crc64::update`]
//! or [`crc64`]; never feed a file byte by byte or value by value. When a file is checksummed
//! in independent pieces (e.g. in parallel), compute each piece with [`crc64`] and join them
//! with [`crc64_combine`].

use crc_fast::CrcAlgorithm;

/// The `crc-fast` algorithm identifier used everywhere in this module.
const ALGORITHM: CrcAlgorithm = CrcAlgorithm::Crc64Redis;

/// Computes the CRC-64/REDIS of `data` in one shot.
///
/// `crc64(b"123456789") == 0xE9C6D914C4B8D9CA`. Feed large buffers (see the module docs).
#[inline]
#[must_use]
pub fn crc64(data: &[u8]) -> u64 {
    crc_fast::checksum(ALGORITHM, data)
}

/// Combines two CRC-64/REDIS values: given `crc_a = crc64(a)` and `crc_b = crc64(b)`, returns
/// `crc64(a ‖ b)` where `len_b` is the length of `b` in bytes.
///
/// Cost is logarithmic in `len_b`, independent of the data.
#[inline]
#[must_use]
pub fn crc64_combine(crc_a: u64, crc_b: u64, len_b: u64) -> u64 {
    crc_fast::checksum_combine(ALGORITHM, crc_a, crc_b, len_b)
}

/// Incremental CRC-64/REDIS: feeding the data in several [`update`](Crc64::update) calls gives
/// the same [`value`](Crc64::value) as [`crc64`] over the concatenation.
///
/// Each `update` call has a fixed setup cost: feed large chunks (see the module docs).
#[derive(Clone, Copy, Debug)]
pub struct Crc64 {
    /// The `crc-fast` running state.
    digest: crc_fast::Digest,
    /// Number of bytes fed so far.
    len: u64,
}

impl Crc64 {
    /// Creates a checksum state over zero bytes (value 0).
    #[inline]
    #[must_use]
    pub fn new() -> Self {
        Self {
            digest: crc_fast::Digest::new(ALGORITHM),
            len: 0,
        }
    }

    /// Feeds `data` (appended after everything fed before).
    #[inline]
    pub fn update(&mut self, data: &[u8]) {
        self.digest.update(data);
        self.len = self.len.saturating_add(data.len() as u64);
    }

    /// Returns the CRC-64/REDIS of all bytes fed so far. The state is not consumed, so more data
    /// can be fed afterwards.
    #[inline]
    #[must_use]
    pub fn value(&self) -> u64 {
        self.digest.finalize()
    }

    /// Returns the number of bytes fed so far.
    #[inline]
    #[must_use]
    pub fn len(&self) -> u64 {
        self.len
    }

    /// Returns `true` when no byte has been fed yet.
    #[inline]
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }
}

impl Default for Crc64 {
    fn default() -> Self {
        Self::new()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// Redis' `crc64.c` self-test string; the test hashes it with `sizeof`, i.e. with the
    /// trailing NUL (446 bytes in total).
    const LOREM: &[u8] = b"Lorem ipsum dolor sit amet, consectetur adipiscing elit, sed \
do eiusmod tempor incididunt ut labore et dolore magna aliqua. Ut enim ad minim \
veniam, quis nostrud exercitation ullamco laboris nisi ut aliquip ex ea \
commodo consequat. Duis aute irure dolor in reprehenderit in voluptate velit \
esse cillum dolore eu fugiat nulla pariatur. Excepteur sint occaecat cupidatat \
non proident, sunt in culpa qui officia deserunt mollit anim id est laborum.\0";

    const ORACLE: crc::Crc<u64> = crc::Crc::<u64>::new(&crc::CRC_64_REDIS);

    #[test]
    fn reference_vectors() {
        assert_eq!(crc64(b""), 0);
        assert_eq!(crc64(b"123456789"), 0xE9C6_D914_C4B8_D9CA);
        assert_eq!(
            crc64(b"123456789").to_le_bytes(),
            [0xCA, 0xD9, 0xB8, 0xC4, 0x14, 0xD9, 0xC6, 0xE9]
        );
        assert_eq!(crc64(b"REDIS"), 0x67F3_AA58_567C_B36E);
        assert_eq!(
            crc64(b"REDIS").to_le_bytes(),
            [0x6E, 0xB3, 0x7C, 0x56, 0x58, 0xAA, 0xF3, 0x67]
        );
        assert_eq!(crc64(b"hello world!"), 0x56B9_41DD_8303_2669);
        assert_eq!(LOREM.len(), 446);
        assert_eq!(crc64(LOREM), 0xC779_4709_E696_83B3);
    }

    #[test]
    fn not_crc64_xz() {
        // CRC-64/XZ values from §11.1 must not come out of this module.
        assert_ne!(crc64(b"123456789"), 0x995D_C9BB_DF19_39FA);
        assert_ne!(crc64(b"hello world!"), 0x8483_C0FA_3260_7D61);
    }

    #[test]
    fn incremental_matches_one_shot() {
        let mut c = Crc64::new();
        assert!(c.is_empty());
        assert_eq!(c.value(), 0);
        c.update(b"1234");
        c.update(b"");
        c.update(b"56789");
        assert_eq!(c.value(), 0xE9C6_D914_C4B8_D9CA);
        assert_eq!(c.len(), 9);
        // value() does not consume: more data can follow.
        let mut d = Crc64::default();
        for chunk in LOREM.chunks(7) {
            d.update(chunk);
            let _ = d.value();
        }
        assert_eq!(d.value(), crc64(LOREM));
    }

    #[test]
    fn combine_vectors() {
        let a = crc64(b"1234");
        let b = crc64(b"56789");
        assert_eq!(crc64_combine(a, b, 5), 0xE9C6_D914_C4B8_D9CA);
        assert_eq!(crc64_combine(a, 0, 0), a);
        assert_eq!(
            crc64_combine(0, crc64(LOREM), LOREM.len() as u64),
            crc64(LOREM)
        );
    }

    #[test]
    fn redis_dump_trailer_matches() {
        let path = concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../../testdata/servers/redis-7.2.6/dev/dump.rdb"
        );
        let bytes = std::fs::read(path).unwrap();
        assert!(bytes.len() > 8 + 9);
        let (body, trailer) = bytes.split_at(bytes.len() - 8);
        assert_eq!(
            body.last(),
            Some(&0xFF),
            "body must end with the EOF opcode"
        );
        let stored = u64::from_le_bytes(trailer.try_into().unwrap());
        assert_ne!(stored, 0, "the test file must carry a real checksum");
        assert_eq!(crc64(body), stored);
        // The same through the incremental API, with uneven large-ish chunks.
        let mut c = Crc64::new();
        for chunk in body.chunks(4093) {
            c.update(chunk);
        }
        assert_eq!(c.value(), stored);
        // A flipped byte must change it.
        let mut corrupted = body.to_vec();
        let mid = corrupted.len() / 2;
        corrupted[mid] ^= 0x01;
        assert_ne!(crc64(&corrupted), stored);
    }

    proptest! {
        #[test]
        fn matches_crc_crate(data in proptest::collection::vec(any::<u8>(), 0..4096)) {
            prop_assert_eq!(crc64(&data), ORACLE.checksum(&data));
        }

        #[test]
        fn split_incremental_and_combine(
            data in proptest::collection::vec(any::<u8>(), 0..2048),
            cut in any::<prop::sample::Index>(),
        ) {
            let at = cut.index(data.len() + 1);
            let (a, b) = data.split_at(at);
            let whole = ORACLE.checksum(&data);
            let mut c = Crc64::new();
            c.update(a);
            c.update(b);
            prop_assert_eq!(c.value(), whole);
            prop_assert_eq!(crc64_combine(crc64(a), crc64(b), b.len() as u64), whole);
        }
    }
}
