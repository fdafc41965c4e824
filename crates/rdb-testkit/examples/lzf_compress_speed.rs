//! LZF compression speed and output size on the benchmark datasets' kind of values (words from
//! a small vocabulary mixed with random bytes, [`semi_compressible`]):
//! 6,000 values of 4–64 KiB (big-values), or with any argument 400,000 values of 100–2000
//! bytes (mixed). Five timed rounds over the same values.
//!
//! ```text
//! cargo build --release -p rdb-testkit --example lzf_compress_speed
//! taskset -c 1 target/release/examples/lzf_compress_speed [small]
//! ```
//!
//! Used for A/B runs of compressor changes (alternate two builds, compare the best round).
use rand::{Rng, SeedableRng};
use rdb_testkit::gen::semi_compressible;
use std::time::Instant;

fn main() {
    let mut rng = rand::rngs::StdRng::seed_from_u64(1);
    let small = std::env::args().nth(1).is_some();
    let vals: Vec<Vec<u8>> = (0..if small { 400_000 } else { 6000 })
        .map(|_| {
            let n = if small {
                rng.random_range(100..2000)
            } else {
                rng.random_range(4096..65536)
            };
            semi_compressible(&mut rng, n)
        })
        .collect();
    let total: usize = vals.iter().map(|v| v.len()).sum();
    let mut c = rdb_format::lzf::Compressor::new();
    let mut out = Vec::with_capacity(1 << 20);
    for round in 0..5 {
        let t = Instant::now();
        let mut clen = 0;
        for v in &vals {
            out.clear();
            if let Some(n) = c.compress(v, &mut out, v.len() - 4) {
                clen += n;
            } else {
                clen += v.len();
            }
        }
        let s = t.elapsed().as_secs_f64();
        println!(
            "round {round}: {:.3} s {:.1} MB/s in {} out {}",
            s,
            total as f64 / s / 1e6,
            total,
            clen
        );
    }
}
