//! Speed of the writer's zset score text (`rdb_format::double::ScoreText`): 2 M random
//! fractions in −1370..1370 (what listpack zsets store as text), five timed rounds of each
//! form: `new` (shortest, `%g` layout), `fpconv` (Redis 7.2+), `printf17` (Redis ≤ 7.0).
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
    type Form = fn(f64) -> rdb_format::double::ScoreText;
    let forms: [(&str, Form); 3] = [
        ("new", rdb_format::double::ScoreText::new),
        ("fpconv", rdb_format::double::ScoreText::fpconv),
        ("printf17", rdb_format::double::ScoreText::printf17),
    ];
    for (name, form) in forms {
        for round in 0..5 {
            let t = Instant::now();
            let mut bytes = 0usize;
            for &s in &scores {
                bytes += form(s).as_bytes().len();
            }
            println!(
                "{name} round {round}: {:.1} ns per score ({bytes} bytes of text)",
                t.elapsed().as_secs_f64() * 1e9 / scores.len() as f64
            );
        }
    }
}
