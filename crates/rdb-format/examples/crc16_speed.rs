//! CRC-16/XMODEM (the hash slot's CRC) of short keys: `rdb_format::slot::crc16_xmodem` (the
//! `crc` crate's slice-by-16 tables over a zero-padded block) against `crc-fast`'s
//! `Crc16Xmodem` (SIMD folding), 1 M keys of 11, 20 and 40 bytes, ns per key, 3 rounds.
//!
//! ```sh
//! cargo build --release -p rdb-format --example crc16_speed
//! taskset -c 1 target/release/examples/crc16_speed
//! ```
use std::hint::black_box;
use std::time::Instant;

fn main() {
    for len_base in [11usize, 20, 40] {
        let keys: Vec<Vec<u8>> = (0..1_000_000u64)
            .map(|i| {
                let mut k = format!("key:{i:07}").into_bytes();
                k.resize(len_base, b'x');
                k
            })
            .collect();
        for round in 0..3 {
            let t = Instant::now();
            let mut acc = 0u64;
            for k in &keys {
                acc ^= u64::from(rdb_format::slot::crc16_xmodem(black_box(k)));
            }
            let ours = t.elapsed().as_secs_f64();
            let t = Instant::now();
            let mut acc2 = 0u64;
            for k in &keys {
                acc2 ^= crc_fast::checksum(crc_fast::CrcAlgorithm::Crc16Xmodem, black_box(k));
            }
            let theirs = t.elapsed().as_secs_f64();
            assert_eq!(acc, acc2);
            println!(
                "len {len_base} round {round}: ours {:.2} ns, crc-fast {:.2} ns",
                ours * 1e3,
                theirs * 1e3
            );
        }
    }
}
