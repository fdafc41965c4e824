//! Seeded single-byte changes to a dump that keep its CRC-64 trailer valid, so that whoever
//! judges the changed file must judge its structure: the differential tests' one source of
//! variants (`rdb-verify`'s `checker_differential` and `mutated_conversions`).

use rdb_format::consts::HEADER_LEN;
use rdb_format::Header;

/// SplitMix64: the differential tests' only randomness, seeded per file (kept instead of
/// `rand` so that the figures quoted in `testdata/README.md` stay reproducible).
#[derive(Debug, Clone)]
pub struct SplitMix(pub u64);

impl SplitMix {
    /// The next 64 random bits.
    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// Uniform enough in `lo..hi` for a test (`hi - lo` far below 2^32; `lo < hi`).
    pub fn range(&mut self, lo: usize, hi: usize) -> usize {
        lo + (self.next_u64() % (hi - lo) as u64) as usize
    }
}

/// The header of a dump (`None` when its first nine bytes are not one).
fn header(bytes: &[u8]) -> Option<Header> {
    Header::parse(bytes.first_chunk::<HEADER_LEN>()?).ok()
}

/// The RDB version in a dump's header (`REDIS0011` → 11, `VALKEY080` → 80); 0 when there is
/// no header.
pub fn rdb_version(bytes: &[u8]) -> u32 {
    header(bytes).map_or(0, |h| u32::from(h.version))
}

/// Whether a dump ends with a CRC-64 trailer (RDB 5 and later, every Valkey file).
fn has_trailer(bytes: &[u8]) -> bool {
    header(bytes).is_some_and(Header::has_checksum)
}

/// The length of a dump without its CRC-64 trailer.
pub fn body_len(pristine: &[u8]) -> usize {
    let trailer = if has_trailer(pristine) { 8 } else { 0 };
    pristine.len().saturating_sub(trailer)
}

/// `pristine` with the byte at `at` XORed with `x` and, when it has one, a freshly computed
/// CRC-64 trailer.
pub fn mutated(pristine: &[u8], at: usize, x: u8) -> Vec<u8> {
    let mut m = pristine.to_vec();
    if let Some(b) = m.get_mut(at) {
        *b ^= x;
    }
    if has_trailer(pristine) {
        if let Some(split) = m.len().checked_sub(8) {
            let (body, trailer) = m.split_at_mut(split);
            let crc = rdb_format::crc::crc64(body);
            trailer.copy_from_slice(&crc.to_le_bytes());
        }
    }
    m
}

/// The next change of `rng`'s sequence to a dump: a byte of the body after the header, and a
/// non-zero XOR value.
pub fn next_change(rng: &mut SplitMix, pristine: &[u8]) -> (usize, u8) {
    let at = rng.range(HEADER_LEN, body_len(pristine));
    let x = rng.range(1, 256) as u8;
    (at, x)
}
