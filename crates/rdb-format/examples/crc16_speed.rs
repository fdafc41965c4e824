//! CRC-16/XMODEM (the hash slot's CRC) of short keys, ns per key: `rdb_format::slot::crc16_xmodem`
//! (own slice-by-16 tables, the tail as one block) against the `crc` crate's slice-by-16 over a
//! zero-padded copy (what `crc16_xmodem` was until the fifteenth session) and `crc-fast`'s
//! `Crc16Xmodem` (SIMD folding). 100,000 keys of 6 to 40 bytes in one buffer (as a reader's
//! keys are), 20 passes, 3 rounds.
//!
//! ```sh
//! cargo build --release -p rdb-format --example crc16_speed
//! taskset -c 1 target/release/examples/crc16_speed
//! ```
use std::hint::black_box;
use std::time::Instant;

/// The `crc` crate's CRC-16/XMODEM with slice-by-16 tables.
const XMODEM: crc::Crc<u16, crc::Table<16>> =
    crc::Crc::<u16, crc::Table<16>>::new(&crc::CRC_16_XMODEM);

/// The earlier implementation: inputs under 64 bytes right-aligned in a zeroed buffer whose
/// length is a multiple of 16 (leading zeros leave this CRC unchanged).
fn padded_crc_crate(data: &[u8]) -> u16 {
    let pad = data.len().wrapping_neg() % 16;
    if pad == 0 || data.len() >= 64 {
        return XMODEM.checksum(data);
    }
    let mut buf = [0u8; 64];
    let total = data.len() + pad;
    buf[pad..total].copy_from_slice(data);
    XMODEM.checksum(&buf[..total])
}

/// Time of `f` over every key, 20 passes, in ns per key; the XOR of the CRCs.
fn time(buf: &[u8], spans: &[(usize, usize)], f: impl Fn(&[u8]) -> u16) -> (f64, u64) {
    let t = Instant::now();
    let mut acc = 0u64;
    for _ in 0..20 {
        for &(s, l) in spans {
            acc ^= u64::from(f(black_box(&buf[s..s + l])));
        }
    }
    (
        t.elapsed().as_secs_f64() * 1e9 / (20 * spans.len()) as f64,
        acc,
    )
}

fn main() {
    for len in [6usize, 11, 16, 20, 40] {
        let mut buf = Vec::new();
        let mut spans = Vec::new();
        for i in 0..100_000u64 {
            let mut k = format!("key:{i:07}").into_bytes();
            k.resize(len, b'x');
            spans.push((buf.len(), k.len()));
            buf.extend_from_slice(&k);
        }
        for round in 0..3 {
            let (ours, a) = time(&buf, &spans, rdb_format::slot::crc16_xmodem);
            let (padded, b) = time(&buf, &spans, padded_crc_crate);
            let (fast, c) = time(&buf, &spans, |k| {
                crc_fast::checksum(crc_fast::CrcAlgorithm::Crc16Xmodem, k) as u16
            });
            assert_eq!((a, a), (b, c));
            println!(
                "len {len} round {round}: ours {ours:.2} ns, crc crate padded {padded:.2} ns, crc-fast {fast:.2} ns"
            );
        }
    }
}
