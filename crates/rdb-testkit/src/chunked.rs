//! Readers that hand out their input in awkward pieces: one byte at a time, or in seeded
//! random chunk sizes. Every reader test runs through them too, so the parser's results
//! cannot depend on how the input arrives. And [`dev_full`], an output where every write
//! fails.

use std::io::{self, Read};

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

/// Returns at most one byte per `read` call.
pub struct OneByteReader<'a> {
    data: &'a [u8],
}

impl<'a> OneByteReader<'a> {
    /// A reader over `data`.
    pub fn new(data: &'a [u8]) -> Self {
        OneByteReader { data }
    }
}

impl Read for OneByteReader<'_> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        match (self.data.split_first(), buf.first_mut()) {
            (Some((b, rest)), Some(dst)) => {
                *dst = *b;
                self.data = rest;
                Ok(1)
            }
            _ => Ok(0),
        }
    }
}

/// Returns chunks of seeded random sizes (1..=max), sometimes interrupted.
pub struct RandomChunkReader<'a> {
    data: &'a [u8],
    rng: StdRng,
    max: usize,
}

impl<'a> RandomChunkReader<'a> {
    /// A reader over `data` with chunk sizes up to `max`, from `seed`.
    pub fn new(data: &'a [u8], seed: u64, max: usize) -> Self {
        RandomChunkReader {
            data,
            rng: StdRng::seed_from_u64(seed),
            max: max.max(1),
        }
    }
}

impl Read for RandomChunkReader<'_> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if self.rng.random_ratio(1, 50) {
            return Err(io::Error::new(
                io::ErrorKind::Interrupted,
                "spurious interrupt",
            ));
        }
        let n = self
            .rng
            .random_range(1..=self.max)
            .min(buf.len())
            .min(self.data.len());
        let (head, tail) = self.data.split_at(n);
        buf[..n].copy_from_slice(head);
        self.data = tail;
        Ok(n)
    }
}

/// A handle on `/dev/full`, where every write fails with "no space left on device" (for a
/// command's standard output: `Command::stdout(dev_full())`).
pub fn dev_full() -> std::fs::File {
    std::fs::OpenOptions::new()
        .write(true)
        .open("/dev/full")
        .expect("opening /dev/full")
}
