//! Speed of the verifier's LZF check (`StreamValidator`, each compressed value fed whole, as
//! `rdb-verify` does for a string inside its read window) on the benchmark datasets' kind of
//! values: 400,000 values of 100–2000 semi-compressible bytes (mixed), or with the argument
//! `big` 6,000 values of 4–64 KiB (big-values). Five timed rounds over the same values.
//!
//! ```text
//! cargo build --release -p rdb-testkit --example lzf_validate_speed
//! taskset -c 1 target/release/examples/lzf_validate_speed [big]
//! ```
use rand::{Rng, SeedableRng};
use rdb_format::lzf::Compressor;
use rdb_format::lzf_validate::StreamValidator;
use rdb_testkit::gen::semi_compressible;
use std::time::Instant;

fn main() {
    let mut rng = rand::rngs::StdRng::seed_from_u64(1);
    let big = std::env::args().nth(1).is_some_and(|a| a == "big");
    let mut c = Compressor::new();
    let packed: Vec<(Vec<u8>, usize)> = (0..if big { 6000 } else { 400_000 })
        .filter_map(|_| {
            let n = if big {
                rng.random_range(4096..65536)
            } else {
                rng.random_range(100..2000)
            };
            let v = semi_compressible(&mut rng, n);
            let mut out = Vec::new();
            c.compress(&v, &mut out, v.len() - 4).map(|_| (out, n))
        })
        .collect();
    let total: usize = packed.iter().map(|(p, _)| p.len()).sum();
    let mut check = StreamValidator::new(0);
    for round in 0..5 {
        let t = Instant::now();
        let mut ok = 0usize;
        for (p, n) in &packed {
            check.reset(*n as u64);
            if check.feed(p).and_then(|()| check.finish()).is_ok() {
                ok += 1;
            }
        }
        let s = t.elapsed().as_secs_f64();
        println!(
            "round {round}: {:.3} s {:.1} MB/s compressed, {} of {} valid",
            s,
            total as f64 / s / 1e6,
            ok,
            packed.len()
        );
    }
}
