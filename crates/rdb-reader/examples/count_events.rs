//! Parses RDB files and counts their events, nothing else: the reader's share of any tool
//! built on it (compare with `rdb-verify --jobs 1` on the same file).
//!
//! `cargo run --release -p rdb-reader --example count_events -- [--mapped] [--check-lzf] FILE...`
//!
//! Files are streamed through the bounded buffer (as `rdb-verify` reads them) unless
//! `--mapped` is given; `--check-lzf` validates LZF string values instead of decoding them (as
//! `rdb-verify` does).

use std::time::Instant;

use rdb_reader::{Event, Limits, MappedFile, Parser, SliceSource, Source};

fn count<S: Source>(mut p: Parser<S>) -> Result<(u64, u64), String> {
    let (mut events, mut keys) = (0u64, 0u64);
    loop {
        match p.next_event() {
            Ok(Some(ev)) => {
                events += 1;
                if let Event::Key(_) = ev {
                    keys += 1;
                }
            }
            Ok(None) => return Ok((events, keys)),
            Err(e) => return Err(e.to_string()),
        }
    }
}

fn main() {
    let mut mapped = false;
    let mut limits = Limits::default();
    let mut files = Vec::new();
    for a in std::env::args().skip(1) {
        match a.as_str() {
            "--mapped" => mapped = true,
            "--check-lzf" => limits.decode_lzf_strings = false,
            _ => files.push(a),
        }
    }
    if files.is_empty() {
        eprintln!("usage: count_events [--mapped] [--check-lzf] FILE...");
        std::process::exit(2);
    }
    for f in files {
        let t = Instant::now();
        let r = if mapped {
            MappedFile::open(f.as_ref())
                .map_err(|e| e.to_string())
                .and_then(|m| count(Parser::new(SliceSource::new(m.bytes()), limits)))
        } else {
            std::fs::File::open(&f)
                .map_err(|e| e.to_string())
                .and_then(|file| count(rdb_reader::stream_parser(file, limits)))
        };
        match r {
            Ok((events, keys)) => println!(
                "{f}: {events} events, {keys} keys, {:.3} s",
                t.elapsed().as_secs_f64()
            ),
            Err(e) => println!("{f}: error: {e}"),
        }
    }
}
