//! Speed of the writer's zset score text (`rdb_format::double::ScoreText`): 2 M random
//! fractions in −1370..1370 (what listpack zsets store as text), five timed rounds.
//!
//! ```text
//! cargo build --release -p rdb-testkit --example score_text_speed
//! taskset -c 1 target/release/examples/score_text_speed
//! ```
//!
//! Used for A/B runs of the score formatting (alternate two builds, compare the best round).
use rand::{Rng, SeedableRng};
use std::time::Instant;

fn main() {
    let mut rng = rand::rngs::StdRng::seed_from_u64(1);
    let scores: Vec<f64> = (0..2_000_000)
        .map(|_| rng.random_range(-1000.0..1000.0f64) * 1.37)
        .collect();
    for round in 0..5 {
        let t = Instant::now();
        let mut bytes = 0usize;
        for &s in &scores {
            bytes += rdb_format::double::ScoreText::new(s).as_bytes().len();
        }
        println!(
            "round {round}: {:.1} ns per score ({bytes} bytes of text)",
            t.elapsed().as_secs_f64() * 1e9 / scores.len() as f64
        );
    }
}
