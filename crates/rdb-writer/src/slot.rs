//! Cluster hash slots (format reference §6.1), for grouping keys and slot information.
//!
//! `rdb-cluster` owns the slot maths of the project but depends on this crate, so the writer
//! carries its own copy of the (tiny) slot function.

use crc::{Crc, CRC_16_XMODEM};

const CRC16: Crc<u16> = Crc::<u16>::new(&CRC_16_XMODEM);

/// Number of hash slots.
pub const SLOTS: u16 = 16384;

/// The hash slot of `key`: CRC-16/XMODEM of the hash tag (the bytes between the first `{`
/// and the next `}`, when not empty) or of the whole key, modulo 16384.
pub fn key_slot(key: &[u8]) -> u16 {
    let hashed = key
        .iter()
        .position(|&c| c == b'{')
        .and_then(|open| {
            let rest = key.get(open + 1..)?;
            let close = rest.iter().position(|&c| c == b'}')?;
            (close > 0).then(|| rest.get(..close)).flatten()
        })
        .unwrap_or(key);
    CRC16.checksum(hashed) & (SLOTS - 1)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn vectors() {
        let cases: &[(&[u8], u16)] = &[
            (b"foo", 12182),
            (b"bar", 5061),
            (b"hello", 866),
            (b"{user1000}.following", 3443),
            (b"foo{}{bar}", 8363),
            (b"foo{{bar}}zap", 4015),
            (b"foo{bar}{zap}", 5061),
            (b"{}", 15257),
            (b"a{b", 13340),
            (b"123456789", 12739),
            (b"", 0),
        ];
        for &(k, slot) in cases {
            assert_eq!(key_slot(k), slot, "{:?}", String::from_utf8_lossy(k));
        }
    }
}
