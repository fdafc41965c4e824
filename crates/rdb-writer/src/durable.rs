//! Output files that reach the disk while they are written.
//!
//! An `.rdb` file is only complete once it is on stable storage (`fsync`). Written in one go
//! and synced at the end, every page of it is still dirty when the sync starts, so the whole
//! file's writeback is added to the write time (measured on the big-values benchmark: wall
//! minus CPU time 1.05 s of 6.42 s for 501 MB; 0.16 s with this type). Redis's `SAVE` syncs at
//! a fixed interval as it goes (`rdb-save-incremental-fsync`, on by default), which keeps the
//! kernel's dirty pages bounded and overlaps the device's work with serialisation.
//!
//! [`SyncingFile`] does the same without stalling the encoder: every [`DEFAULT_SYNC_INTERVAL`]
//! bytes it asks a helper thread to `fdatasync` what has been written so far, and
//! [`SyncingFile::finish`] waits for that thread and syncs the rest (data and metadata). The
//! helper holds a duplicate of the file descriptor and does nothing but wait in the kernel;
//! a sync request made while one is still running is merged into the next one.
//!
//! [`SyncingFile::with_direct_io`] goes further where the filesystem allows it: the bytes are
//! gathered in 2 MiB page-aligned chunks that an I/O thread writes with `O_DIRECT` (a second
//! descriptor of the same file), so they never pass through the page cache. The kernel's copy
//! into the page cache was 14 % of the mixed benchmark's write profile, and buffered writeback
//! on the benchmark machine runs at a fraction of the device's direct-write speed (`dd
//! bs=1M count=1000`: 284 MB/s with `conv=fdatasync`, 1.6 GB/s with `oflag=direct`).

mod direct;

use std::fs::File;
use std::io::{self, Write};
use std::path::Path;
use std::sync::mpsc::{self, Receiver, SyncSender};
use std::thread::JoinHandle;

/// Bytes written between two background sync requests (32 MiB). On the big-values benchmark
/// (two 250 MB node files written at once on two cores) 32 MiB gave 3.00–3.22 s, 8 MiB
/// 3.15–3.71 s (more `fdatasync` calls; each may also commit the filesystem's journal while
/// the file grows) and 128 MiB 3.44–3.77 s (a longer tail left for the final sync).
pub const DEFAULT_SYNC_INTERVAL: u64 = 32 << 20;

/// A [`File`] written front to back whose data is flushed to disk in the background every
/// `interval` bytes; call [`SyncingFile::finish`] for the final, waited-for sync.
///
/// Writes go straight to the file (wrap it in a buffer, or give it large writes, as the RDB
/// writer does). A failed background sync is reported by `finish` (and leaves later writes
/// unaffected). When the helper thread cannot be started, the file is synced only by `finish`.
/// Dropping a `SyncingFile` without `finish` stops the helper (after its current sync) and
/// syncs nothing more.
#[derive(Debug)]
pub struct SyncingFile {
    file: File,
    interval: u64,
    /// Bytes written since the last sync request.
    unsynced: u64,
    syncer: Option<Syncer>,
    /// Direct mode: every byte goes through here instead.
    direct: Option<direct::DirectWriter>,
}

impl SyncingFile {
    /// Wraps `file` with the [`DEFAULT_SYNC_INTERVAL`].
    #[must_use]
    pub fn new(file: File) -> Self {
        Self::with_interval(file, DEFAULT_SYNC_INTERVAL)
    }

    /// Wraps `file`, requesting a background sync every `interval` bytes (at least 1).
    #[must_use]
    pub fn with_interval(file: File, interval: u64) -> Self {
        let syncer = file.try_clone().ok().and_then(Syncer::start);
        SyncingFile {
            file,
            interval: interval.max(1),
            unsynced: 0,
            syncer,
            direct: None,
        }
    }

    /// Wraps `file`, newly created at `path` and still empty, for direct I/O: `path` is opened
    /// again with `O_DIRECT` and an I/O thread writes 2 MiB aligned chunks through it (the
    /// last one padded, the file then cut to its true length). When the filesystem refuses
    /// `O_DIRECT` (tmpfs before Linux 6.6, some network filesystems), `path` no longer names
    /// `file`, or no thread can start, this is [`SyncingFile::new`]; if it accepts the open but
    /// rejects the first write as invalid, the I/O thread writes through `file` instead (synced
    /// every 32 MiB). Either way [`SyncingFile::finish`] ends with [`File::sync_all`].
    ///
    /// Writes are copied into the chunk being filled and return at once; an I/O error shows
    /// in a later write, `flush` or `finish`. `flush` waits until everything written so far
    /// is in the file.
    #[must_use]
    pub fn with_direct_io(file: File, path: &Path) -> Self {
        match direct::DirectWriter::open(&file, path) {
            Some(d) => SyncingFile {
                file,
                interval: DEFAULT_SYNC_INTERVAL,
                unsynced: 0,
                syncer: None,
                direct: Some(d),
            },
            None => Self::new(file),
        }
    }

    /// Whether bytes go to the file through the direct-I/O thread.
    #[must_use]
    pub fn is_direct(&self) -> bool {
        self.direct.is_some()
    }

    /// The underlying file.
    #[must_use]
    pub fn get_ref(&self) -> &File {
        &self.file
    }

    /// Whether data reaches the disk before `finish` (background syncs, or direct I/O);
    /// false when no helper thread could be started.
    #[must_use]
    pub fn syncs_in_background(&self) -> bool {
        self.syncer.is_some() || self.direct.is_some()
    }

    /// Waits for the background syncs, then syncs the file's data and metadata
    /// ([`File::sync_all`]) and returns it. The first error of any sync is returned.
    pub fn finish(mut self) -> io::Result<File> {
        if let Some(d) = self.direct.take() {
            d.finish()?;
        }
        let background = self.syncer.take().map_or(Ok(()), |mut s| s.stop());
        self.file.sync_all()?;
        background?;
        Ok(self.file)
    }

    fn request_sync(&mut self) {
        self.unsynced = 0;
        if let Some(s) = &self.syncer {
            s.request();
        }
    }
}

impl Write for SyncingFile {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        if let Some(d) = &mut self.direct {
            return d.write(buf);
        }
        let n = self.file.write(buf)?;
        self.unsynced += n as u64;
        if self.unsynced >= self.interval {
            self.request_sync();
        }
        Ok(n)
    }

    fn flush(&mut self) -> io::Result<()> {
        match &mut self.direct {
            Some(d) => d.flush_all(),
            None => self.file.flush(),
        }
    }
}

/// The helper thread and its request channel (capacity 1: one sync running, one queued).
#[derive(Debug)]
struct Syncer {
    requests: Option<SyncSender<()>>,
    thread: Option<JoinHandle<io::Result<()>>>,
}

impl Syncer {
    /// Starts the helper on `file` (a duplicate descriptor); `None` if no thread can start.
    fn start(file: File) -> Option<Self> {
        let (tx, rx) = mpsc::sync_channel::<()>(1);
        let thread = std::thread::Builder::new()
            .name("rdb-sync".into())
            .spawn(move || Self::run(&file, &rx))
            .ok()?;
        Some(Syncer {
            requests: Some(tx),
            thread: Some(thread),
        })
    }

    /// Syncs once per request until the sender is dropped; keeps the first error (and stops
    /// syncing after it, still draining requests).
    fn run(file: &File, requests: &Receiver<()>) -> io::Result<()> {
        let mut result = Ok(());
        for () in requests {
            if result.is_ok() {
                result = file.sync_data();
            }
        }
        result
    }

    /// Queues a sync unless one is already queued (it will cover these bytes too).
    fn request(&self) {
        if let Some(tx) = &self.requests {
            // Full: a queued sync covers these bytes too. Disconnected: the helper is gone
            // (it only stops when the channel closes, so not while `requests` is held).
            let _ = tx.try_send(());
        }
    }

    /// Closes the channel and waits for the helper; its first error, if any.
    fn stop(&mut self) -> io::Result<()> {
        drop(self.requests.take());
        join_helper(self.thread.take(), "background sync")
    }
}

/// Waits for a helper thread (if any) and returns its result; a panic becomes an error naming
/// `what`.
fn join_helper(thread: Option<JoinHandle<io::Result<()>>>, what: &str) -> io::Result<()> {
    match thread.map(JoinHandle::join) {
        None | Some(Ok(Ok(()))) => Ok(()),
        Some(Ok(Err(e))) => Err(e),
        Some(Err(_)) => Err(io::Error::other(format!("{what} thread panicked"))),
    }
}

impl Drop for Syncer {
    fn drop(&mut self) {
        let _ = self.stop();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Read;

    #[test]
    fn every_byte_arrives_with_background_syncs_requested() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("out.rdb");
        let mut f = SyncingFile::with_interval(File::create(&path).unwrap(), 1000);
        assert!(f.syncs_in_background());
        let data: Vec<u8> = (0..100_000u32).map(|i| (i % 251) as u8).collect();
        for chunk in data.chunks(777) {
            f.write_all(chunk).unwrap();
        }
        let file = f.finish().unwrap();
        assert_eq!(file.metadata().unwrap().len(), data.len() as u64);
        let mut back = Vec::new();
        File::open(&path).unwrap().read_to_end(&mut back).unwrap();
        assert_eq!(back, data);
    }

    /// A pipe as a `File`: writes succeed (within the pipe buffer), `fsync` fails (EINVAL).
    fn pipe_file() -> (File, std::io::PipeReader) {
        let (reader, writer) = std::io::pipe().unwrap();
        (File::from(std::os::fd::OwnedFd::from(writer)), reader)
    }

    #[test]
    fn a_failed_background_sync_is_reported() {
        let (file, _reader) = pipe_file();
        let mut syncer = Syncer::start(file).unwrap();
        syncer.request();
        assert!(
            syncer.stop().is_err(),
            "the helper's sync error must come back"
        );
        assert!(syncer.stop().is_ok(), "stopping twice is harmless");

        let (file, _reader) = pipe_file();
        let mut f = SyncingFile::with_interval(file, 10);
        f.write_all(&[7; 100]).unwrap();
        assert!(f.finish().is_err());
    }

    #[test]
    fn dropping_without_finish_stops_the_helper() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("out.rdb");
        let mut f = SyncingFile::with_interval(File::create(&path).unwrap(), 1);
        f.write_all(b"partial").unwrap();
        drop(f); // joins the helper: no thread outlives the file
        assert_eq!(std::fs::read(&path).unwrap(), b"partial");
    }

    /// Bytes `0..n` of a fixed pattern.
    fn pattern(n: usize) -> Vec<u8> {
        (0..n).map(|i| (i.wrapping_mul(7919) % 251) as u8).collect()
    }

    /// Writes `data` through `with_direct_io` in pieces of the given sizes (cycled).
    fn write_direct(path: &Path, data: &[u8], pieces: &[usize]) -> (bool, File) {
        let mut f = SyncingFile::with_direct_io(File::create(path).unwrap(), path);
        let direct = f.is_direct();
        let mut rest = data;
        for &n in pieces.iter().cycle() {
            if rest.is_empty() {
                break;
            }
            let (a, b) = rest.split_at(n.min(rest.len()));
            f.write_all(a).unwrap();
            rest = b;
        }
        (direct, f.finish().unwrap())
    }

    #[test]
    fn direct_io_writes_every_byte_and_the_exact_length() {
        let dir = tempfile::tempdir().unwrap();
        let chunk = direct::CHUNK;
        let mut direct_seen = false;
        for len in [
            0,
            1,
            4095,
            4096,
            4097,
            chunk - 1,
            chunk,
            chunk + 1,
            3 * chunk + 12_345,
        ] {
            let path = dir.path().join(format!("out-{len}.rdb"));
            let data = pattern(len);
            let (direct, file) = write_direct(&path, &data, &[1, 777, 65_536, chunk + 3]);
            direct_seen |= direct;
            assert_eq!(file.metadata().unwrap().len(), len as u64, "length {len}");
            assert!(std::fs::read(&path).unwrap() == data, "content {len}");
        }
        if !direct_seen {
            eprintln!(
                "O_DIRECT refused in {}: the fallback was tested",
                dir.path().display()
            );
        }
    }

    #[test]
    fn direct_io_flush_puts_everything_so_far_in_the_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("out.rdb");
        let data = pattern(direct::CHUNK * 2 + 10_000);
        let mut f = SyncingFile::with_direct_io(File::create(&path).unwrap(), &path);
        let mut from = 0;
        for cut in [5000, direct::CHUNK + 100, direct::CHUNK * 2 + 10_000] {
            f.write_all(&data[from..cut]).unwrap();
            f.flush().unwrap();
            assert!(
                std::fs::read(&path).unwrap() == data[..cut],
                "after flush at {cut}"
            );
            from = cut;
        }
        f.finish().unwrap();
        assert_eq!(std::fs::read(&path).unwrap(), data);
    }

    #[test]
    fn direct_io_needs_the_path_of_the_same_file() {
        let dir = tempfile::tempdir().unwrap();
        let (a, b) = (dir.path().join("a.rdb"), dir.path().join("b.rdb"));
        File::create(&b).unwrap();
        let mut f = SyncingFile::with_direct_io(File::create(&a).unwrap(), &b);
        assert!(!f.is_direct(), "b.rdb is not the file being written");
        f.write_all(b"abc").unwrap();
        f.finish().unwrap();
        assert_eq!(std::fs::read(&a).unwrap(), b"abc");
        assert!(std::fs::read(&b).unwrap().is_empty());
        let missing = dir.path().join("missing.rdb");
        assert!(!SyncingFile::with_direct_io(
            File::create(dir.path().join("c")).unwrap(),
            &missing
        )
        .is_direct());
    }

    #[test]
    fn a_failed_direct_write_is_reported() {
        // The I/O thread's descriptor is read-only: every write fails (EBADF), and the
        // error comes back from a later write, flush or finish, never silently.
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("out.rdb");
        let file = File::create(&path).unwrap();
        let ro = File::open(&path).unwrap();
        let mut w = direct::DirectWriter::start(ro, file.try_clone().unwrap()).unwrap();
        let data = pattern(direct::CHUNK * 4);
        let failed = w.write_all(&data).is_err() || w.flush().is_err();
        assert!(failed, "a write through a read-only descriptor must fail");
        assert!(w.flush().is_err(), "the failure persists");
        assert!(w.finish().is_err());
        assert!(std::fs::read(&path).unwrap().is_empty());
    }
}
