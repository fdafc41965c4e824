//! Speed of the writer's zset score text (`rdb_format::double::ScoreText`): 2 M random
//! fractions in −1370..1370 (what listpack zsets store as text), five timed rounds of each
//! form: `new` (shortest, `%g` layout), `fpconv` (Redis 7.2+), `printf17` (Redis ≤ 7.0); then
//! `printf17` of a few single values (best of three rounds).
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
    // `printf17` of single values outside the usual range (the benchmark datasets' special
    // scores among them), best of three rounds of 200,000 calls each.
    for v in [123.456, 2.5e-5, 1e-7, 9.3e18, 1e300, 5e-324] {
        let best = (0..3)
            .map(|_| {
                let t = Instant::now();
                let mut n = 0usize;
                for _ in 0..200_000 {
                    let text = rdb_format::double::ScoreText::printf17(std::hint::black_box(v));
                    n += text.as_bytes().len();
                }
                std::hint::black_box(n);
                t.elapsed().as_secs_f64() * 1e9 / 200_000.0
            })
            .fold(f64::INFINITY, f64::min);
        println!("printf17({v:e}): {best:.1} ns");
    }
}
