//! Direct-I/O output: aligned chunks handed to an I/O thread that writes them with `O_DIRECT`.

use std::fs::{File, OpenOptions};
use std::io::{self, Write};
use std::os::unix::fs::{FileExt, OpenOptionsExt};
use std::path::Path;
use std::sync::mpsc::{self, Receiver, SyncSender};
use std::thread::JoinHandle;

/// Bytes per chunk handed to the I/O thread (2 MiB; a multiple of [`ALIGN`]).
pub(crate) const CHUNK: usize = 2 << 20;
/// Alignment of buffer addresses, file offsets and lengths for `O_DIRECT` (the page size,
/// a multiple of every logical block size Linux supports).
pub(crate) const ALIGN: usize = 4096;
/// Chunks in flight: one being filled, two being written or queued.
const BUFFERS: usize = 3;
/// Buffered fallback: bytes between two `fdatasync` calls, as [`super::DEFAULT_SYNC_INTERVAL`].
const FALLBACK_SYNC_INTERVAL: u64 = super::DEFAULT_SYNC_INTERVAL;

/// A `CHUNK`-byte buffer at an `ALIGN`-aligned address inside an owned allocation.
#[derive(Debug)]
struct AlignedBuf {
    storage: Vec<u8>,
    start: usize,
}

impl AlignedBuf {
    fn new() -> Self {
        let storage = vec![0u8; CHUNK + ALIGN];
        // At run time `align_offset` of a byte pointer is the real distance (below ALIGN);
        // `min` only keeps the slices in range should it ever not be (a misaligned buffer
        // then fails the first direct write with EINVAL, and the thread falls back).
        let start = storage.as_ptr().align_offset(ALIGN).min(ALIGN);
        AlignedBuf { storage, start }
    }

    fn bytes(&self) -> &[u8] {
        self.storage
            .get(self.start..self.start + CHUNK)
            .unwrap_or(&[])
    }

    fn bytes_mut(&mut self) -> &mut [u8] {
        let start = self.start;
        self.storage
            .get_mut(start..start + CHUNK)
            .unwrap_or(&mut [])
    }
}

/// One chunk to write: `len` bytes of `buf` at file offset `offset`.
#[derive(Debug)]
struct Job {
    buf: AlignedBuf,
    len: usize,
    offset: u64,
}

/// The writer side of a [`super::SyncingFile`] in direct mode.
#[derive(Debug)]
pub(crate) struct DirectWriter {
    /// The buffer being filled and how much of it is.
    cur: Option<AlignedBuf>,
    filled: usize,
    /// File offset of `cur`'s first byte.
    offset: u64,
    /// Whether the file already holds `cur`'s `filled` bytes (written by `flush_all`).
    tail_written: bool,
    spare: Vec<AlignedBuf>,
    /// Jobs sent whose buffer has not come back.
    outstanding: usize,
    jobs: Option<SyncSender<Job>>,
    returned: Receiver<AlignedBuf>,
    thread: Option<JoinHandle<io::Result<()>>>,
}

impl DirectWriter {
    /// Opens `path` (the file `file` was opened on) again with `O_DIRECT` and starts the I/O
    /// thread; `None` when the filesystem refuses `O_DIRECT` or no thread can start.
    pub(crate) fn open(file: &File, path: &Path) -> Option<Self> {
        let direct = OpenOptions::new()
            .write(true)
            .custom_flags(libc::O_DIRECT)
            .open(path)
            .ok()?;
        // The same file? (`path` could have been replaced since `file` was opened.)
        let (a, b) = (file.metadata().ok()?, direct.metadata().ok()?);
        if !same_file(&a, &b) {
            return None;
        }
        Self::start(direct, file.try_clone().ok()?)
    }

    /// Starts the I/O thread on `direct` (the `O_DIRECT` descriptor) and `buffered` (the
    /// same file, for `set_len` and the fallback).
    pub(crate) fn start(direct: File, buffered: File) -> Option<Self> {
        let (jobs, job_rx) = mpsc::sync_channel::<Job>(BUFFERS);
        let (ret_tx, returned) = mpsc::sync_channel::<AlignedBuf>(BUFFERS);
        let thread = std::thread::Builder::new()
            .name("rdb-direct-io".into())
            .spawn(move || io_thread(&direct, &buffered, &job_rx, &ret_tx))
            .ok()?;
        Some(DirectWriter {
            cur: Some(AlignedBuf::new()),
            filled: 0,
            offset: 0,
            tail_written: false,
            spare: (1..BUFFERS).map(|_| AlignedBuf::new()).collect(),
            outstanding: 0,
            jobs: Some(jobs),
            returned,
            thread: Some(thread),
        })
    }

    /// Hands the current buffer (`filled` bytes) to the I/O thread and takes the next free one.
    fn submit(&mut self) -> io::Result<()> {
        let Some(buf) = self.cur.take() else {
            return Err(self.failure());
        };
        let job = Job {
            buf,
            len: self.filled,
            offset: self.offset,
        };
        let sent = self.jobs.as_ref().map(|tx| tx.send(job));
        if !matches!(sent, Some(Ok(()))) {
            return Err(self.failure());
        }
        self.outstanding += 1;
        let next = match self.spare.pop() {
            Some(b) => b,
            None => self.take_returned()?,
        };
        self.cur = Some(next);
        Ok(())
    }

    /// Waits for one buffer to come back from the I/O thread.
    fn take_returned(&mut self) -> io::Result<AlignedBuf> {
        match self.returned.recv() {
            Ok(b) => {
                self.outstanding -= 1;
                Ok(b)
            }
            Err(_) => Err(self.failure()),
        }
    }

    /// The I/O thread's error (it stopped); joins it.
    fn failure(&mut self) -> io::Error {
        match self.stop() {
            Err(e) => e,
            Ok(()) => io::Error::other("direct I/O thread stopped"),
        }
    }

    /// Writes everything accepted so far: waits for the chunks in flight, then writes the
    /// partial chunk (padded to [`ALIGN`], the file cut back to its true length) and keeps
    /// filling it; a later full write of that chunk overwrites the padding.
    pub(crate) fn flush_all(&mut self) -> io::Result<()> {
        while self.outstanding > 0 {
            let b = self.take_returned()?;
            self.spare.push(b);
        }
        if self.filled == 0 || self.tail_written {
            return Ok(());
        }
        let filled = self.filled;
        let offset = self.offset;
        self.submit()?;
        // Nothing else is in flight, so the next buffer back is the one just sent.
        let back = self.take_returned()?;
        if let Some(next) = self.cur.replace(back) {
            self.spare.push(next);
        }
        self.filled = filled;
        self.offset = offset;
        self.tail_written = true;
        Ok(())
    }

    /// Flushes, stops the I/O thread and returns its result.
    pub(crate) fn finish(mut self) -> io::Result<()> {
        self.flush_all()?;
        self.stop()
    }

    /// Closes the job channel and waits for the I/O thread; its error, if any.
    fn stop(&mut self) -> io::Result<()> {
        drop(self.jobs.take());
        super::join_helper(self.thread.take(), "direct I/O")
    }
}

impl Write for DirectWriter {
    fn write(&mut self, data: &[u8]) -> io::Result<usize> {
        let mut rest = data;
        while !rest.is_empty() {
            let filled = self.filled;
            let Some(cur) = self.cur.as_mut() else {
                return Err(self.failure());
            };
            let room = cur.bytes_mut().get_mut(filled..).unwrap_or(&mut []);
            let n = room.len().min(rest.len());
            let (now, later) = rest.split_at(n);
            if let Some(dst) = room.get_mut(..n) {
                dst.copy_from_slice(now);
            }
            self.filled += n;
            self.tail_written = false;
            rest = later;
            if self.filled == CHUNK {
                self.submit()?;
                self.offset += CHUNK as u64;
                self.filled = 0;
            }
        }
        Ok(data.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        self.flush_all()
    }
}

impl Drop for DirectWriter {
    fn drop(&mut self) {
        let _ = self.stop();
    }
}

fn same_file(a: &std::fs::Metadata, b: &std::fs::Metadata) -> bool {
    use std::os::unix::fs::MetadataExt;
    a.dev() == b.dev() && a.ino() == b.ino()
}

/// Writes each job at its offset and returns its buffer. A partial chunk is written padded
/// to [`ALIGN`] and the file is then cut to `offset + len`. If the filesystem rejects the very
/// first direct write as invalid (it accepted `O_DIRECT` at open but not these alignments),
/// every chunk is written through `buffered` instead, synced every 32 MiB as in buffered mode.
fn io_thread(
    direct: &File,
    buffered: &File,
    jobs: &Receiver<Job>,
    returned: &SyncSender<AlignedBuf>,
) -> io::Result<()> {
    let mut use_direct = true;
    let mut any_direct = false;
    let mut unsynced = 0u64;
    for job in jobs {
        let padded = job.len.div_ceil(ALIGN) * ALIGN;
        let data = job.buf.bytes();
        if use_direct {
            match direct.write_all_at(data.get(..padded).unwrap_or(&[]), job.offset) {
                Ok(()) => any_direct = true,
                Err(e) if !any_direct && e.raw_os_error() == Some(libc::EINVAL) => {
                    use_direct = false;
                }
                Err(e) => return Err(e),
            }
        }
        if !use_direct {
            buffered.write_all_at(data.get(..job.len).unwrap_or(&[]), job.offset)?;
            unsynced += job.len as u64;
            if unsynced >= FALLBACK_SYNC_INTERVAL {
                buffered.sync_data()?;
                unsynced = 0;
            }
        } else if padded != job.len {
            buffered.set_len(job.offset + job.len as u64)?;
        }
        if returned.send(job.buf).is_err() {
            break; // the writer is gone (dropped)
        }
    }
    Ok(())
}
