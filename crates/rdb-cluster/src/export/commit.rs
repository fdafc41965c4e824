//! Temporary files, no-overwrite publication and clean-up of an export.

use std::collections::hash_map::RandomState;
use std::fs::{self, File, OpenOptions};
use std::hash::{BuildHasher, Hasher};
use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use sha2::{Digest, Sha256};

use super::{ExportError, ExportPlan};

/// A `Write` adapter that computes the SHA-256 of everything written through it.
#[derive(Debug)]
pub struct HashingWriter<W> {
    inner: W,
    sha: Sha256,
}

impl<W: Write> HashingWriter<W> {
    /// Wraps `inner`.
    pub fn new(inner: W) -> Self {
        HashingWriter {
            inner,
            sha: Sha256::new(),
        }
    }

    /// The inner writer and the lowercase hex SHA-256 of the bytes written.
    pub fn finish(self) -> (W, String) {
        let digest = self.sha.finalize();
        let hex = digest.iter().map(|b| format!("{b:02x}")).collect();
        (self.inner, hex)
    }
}

impl<W: Write> Write for HashingWriter<W> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let n = self.inner.write(buf)?;
        self.sha.update(buf.get(..n).unwrap_or(buf));
        Ok(n)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.inner.flush()
    }
}

/// A random 64-bit number for temporary names (std's per-process random hasher keys, the time
/// and a counter; no crate needed).
fn random_u64() -> u64 {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let mut h = RandomState::new().build_hasher();
    h.write_u64(COUNTER.fetch_add(1, Ordering::Relaxed));
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos());
    h.write_u128(nanos);
    h.finish()
}

/// The output directory as resolved when the export starts: its canonical path (a symbolic
/// link named by `--out` and re-pointed during the export does not move the export) and its
/// identity (device and inode), checked before anything is published and after the
/// manifest: a directory renamed or replaced during the export fails it (exit 1) instead of
/// leaving the node files in one directory and the manifest in another. An open handle on
/// the directory lets the clean-up find what the export left there after such a move
/// (through `/proc/self/fd`, where it exists).
#[derive(Debug, Clone)]
pub(crate) struct OutDir {
    path: PathBuf,
    id: (u64, u64),
    handle: Option<Arc<File>>,
}

impl OutDir {
    /// Resolves `dir` (which must exist).
    pub(crate) fn open(dir: &Path) -> Result<Self, ExportError> {
        let path = fs::canonicalize(dir).map_err(|_| ExportError::OutDir(dir.to_path_buf()))?;
        let id = identity(&path).map_err(|e| ExportError::io(&path, e))?;
        let handle = File::open(&path).ok().map(Arc::new);
        Ok(OutDir { path, id, handle })
    }

    /// An unmoved directory, with no handle (tests of the file helpers).
    #[cfg(test)]
    pub(crate) fn unchecked(path: &Path) -> Self {
        OutDir {
            path: path.to_path_buf(),
            id: identity(path).unwrap_or_default(),
            handle: None,
        }
    }

    /// Removes `path` (a file the export made in this directory): by its path while the path
    /// still names the directory, else through the directory's handle (never by a path that
    /// may now name another directory's file).
    fn remove(&self, path: &Path) {
        if self.is_same() {
            let _ = fs::remove_file(path);
        } else if let Some(p) = path.file_name().and_then(|n| self.handle_path(n)) {
            let _ = fs::remove_file(p);
        }
    }

    /// `name` inside the directory the handle holds, wherever it now is (Linux).
    fn handle_path(&self, name: &std::ffi::OsStr) -> Option<PathBuf> {
        #[cfg(target_os = "linux")]
        {
            use std::os::fd::AsRawFd;
            let fd = self.handle.as_ref()?.as_raw_fd();
            let dir = PathBuf::from(format!("/proc/self/fd/{fd}"));
            dir.is_dir().then(|| dir.join(name))
        }
        #[cfg(not(target_os = "linux"))]
        {
            let _ = name;
            None
        }
    }

    /// `fsync` of the directory the export started in.
    fn sync(&self) {
        let _ = match &self.handle {
            Some(h) => h.sync_all(),
            None => File::open(&self.path).and_then(|d| d.sync_all()),
        };
    }

    /// The canonical path.
    pub(crate) fn path(&self) -> &Path {
        &self.path
    }

    /// Whether the canonical path still names the directory the export started in.
    pub(crate) fn is_same(&self) -> bool {
        identity(&self.path).is_ok_and(|id| id == self.id)
    }

    /// Fails with [`ExportError::OutDirMoved`] unless [`Self::is_same`].
    pub(crate) fn ensure_same(&self) -> Result<(), ExportError> {
        if self.is_same() {
            Ok(())
        } else {
            Err(ExportError::OutDirMoved(self.path.clone()))
        }
    }
}

#[cfg(unix)]
fn identity(path: &Path) -> io::Result<(u64, u64)> {
    use std::os::unix::fs::MetadataExt;
    let m = fs::metadata(path)?;
    Ok((m.dev(), m.ino()))
}

#[cfg(not(unix))]
fn identity(path: &Path) -> io::Result<(u64, u64)> {
    fs::metadata(path).map(|_| (0, 0))
}

/// A temporary output file, removed when dropped unless it was published. The export holds
/// an exclusive `flock` on it (through a descriptor of its own) while it lives, which is how
/// a later export tells a dead export's temporary from a live one's ([`remove_stale_temps`]).
#[derive(Debug)]
pub(crate) struct TempFile {
    path: Option<PathBuf>,
    dir: OutDir,
    /// A second descriptor of the file, holding the lock.
    _lock: Option<File>,
}

impl TempFile {
    /// Creates `DIR/.FINAL.tmp-<pid>-<random>` (exclusive create) for the final name `final_name`
    /// (`FINAL` is [`temp_stem`] of it).
    pub(crate) fn create(out: &OutDir, final_name: &str) -> Result<(File, TempFile), ExportError> {
        let dir = out.path();
        let stem = temp_stem(final_name);
        let mut attempt = 0;
        loop {
            attempt += 1;
            let name = format!(".{stem}.tmp-{}-{:016x}", std::process::id(), random_u64());
            let path = dir.join(&name);
            // Created through the directory's handle where there is one: in the directory the
            // export started in even if its path was moved since (a file created by path
            // would land in whatever directory now has that name, out of the clean-up's reach).
            let open_at = out
                .handle_path(std::ffi::OsStr::new(&name))
                .unwrap_or_else(|| path.clone());
            match OpenOptions::new()
                .write(true)
                .create_new(true)
                .open(&open_at)
            {
                Ok(file) => {
                    // Where locks are not supported the file is simply not locked: it is then
                    // left to the age and pid checks of `remove_stale_temps`.
                    let lock = File::open(&open_at).ok().filter(|f| f.lock().is_ok());
                    let temp = TempFile {
                        path: Some(path),
                        dir: out.clone(),
                        _lock: lock,
                    };
                    return Ok((file, temp));
                }
                Err(e) if e.kind() == io::ErrorKind::AlreadyExists && attempt < 8 => continue,
                Err(e) => return Err(ExportError::io(&path, e)),
            }
        }
    }

    /// The temporary path.
    pub(crate) fn path(&self) -> &Path {
        self.path.as_deref().unwrap_or(Path::new(""))
    }
}

impl Drop for TempFile {
    fn drop(&mut self) {
        if let Some(p) = self.path.take() {
            self.dir.remove(&p);
        }
    }
}

/// The file at `path`, opened and exclusively locked, unless someone holds its lock (or it
/// cannot be opened).
fn lock_if_free(path: &Path) -> Option<File> {
    let mut options = OpenOptions::new();
    options.read(true);
    // Never blocks on a FIFO under such a name, never follows a symbolic link: only a regular
    // file of this directory is an export's.
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.custom_flags(libc::O_NONBLOCK | libc::O_NOFOLLOW);
    }
    let file = options.open(path).ok()?;
    if !file.metadata().ok()?.is_file() {
        return None;
    }
    file.try_lock().ok()?;
    Some(file)
}

/// Whether process `pid` does not run here (`/proc/<pid>` absent; `false` without `/proc`, or
/// for this process).
fn pid_gone(pid: u32) -> bool {
    pid != std::process::id()
        && Path::new("/proc/self").exists()
        && !Path::new(&format!("/proc/{pid}")).exists()
}

/// Whether an unlocked journal's pid says its export is over: that process does not run, or
/// it is this one (a journal of ours is locked, or gone: this pid is a dead export's, reused,
/// as every run of a container may be pid 1).
fn pid_dead_or_reused(pid: u32) -> bool {
    pid == std::process::id() || pid_gone(pid)
}

/// Whether the file at `path` was last modified at least `secs` seconds ago.
fn older_than(path: &Path, secs: u64) -> bool {
    fs::symlink_metadata(path)
        .and_then(|m| m.modified())
        .ok()
        .and_then(|t| t.elapsed().ok())
        .is_some_and(|age| age.as_secs() >= secs)
}

/// How old (seconds) an unlocked temporary of a process that seems alive must be to be taken
/// for a dead export's (its pid reused: in a container every run may be pid 1).
const STALE_AGE: u64 = 60;

/// Removes temporary files left in `dir` by earlier exports of the files `final_names` whose
/// process no longer runs (killed: `SIGKILL` or a power cut skip the clean-up on drop).
/// A temporary name is `.FINAL.tmp-<pid>-<16 hex digits>`; a file is removed only when its
/// FINAL is one of `final_names`, nobody holds its lock (a live export holds the lock of each
/// of its temporaries, [`TempFile`]), and either its pid does not run (`/proc/<pid>` absent)
/// or it is this process's pid and the file is over a minute old (a dead export's pid reused:
/// every run of a container may be pid 1). Returns the paths removed.
pub(crate) fn remove_stale_temps(dir: &Path, final_names: &[String]) -> Vec<PathBuf> {
    let mut removed = Vec::new();
    let Ok(entries) = fs::read_dir(dir) else {
        return removed;
    };
    for e in entries.flatten() {
        let name = e.file_name();
        let Some(name) = name.to_str() else { continue };
        let Some(pid) = stale_temp_pid(name, final_names) else {
            continue;
        };
        let path = e.path();
        let Some(_unlocked) = lock_if_free(&path) else {
            continue;
        };
        let reused = pid == std::process::id() && older_than(&path, STALE_AGE);
        if (pid_gone(pid) || reused) && fs::remove_file(&path).is_ok() {
            removed.push(path);
        }
    }
    removed
}

/// What identifies a file an export wrote: device, inode, size, modification time (a hard
/// link keeps it) and SHA-256. An inode alone is not enough: file systems hand a freed inode
/// to the next file created, so a file someone put under a final name after a killed export
/// may have the inode that export's file had.
#[derive(Debug, Clone, PartialEq, Eq)]
struct FileStamp {
    dev: u64,
    ino: u64,
    size: u64,
    mtime_ns: i128,
    sha256: String,
}

impl FileStamp {
    /// The stamp of `path` (not following a symbolic link) without its SHA-256 (`sha256`
    /// empty): what is compared before hashing.
    fn cheap(path: &Path) -> io::Result<FileStamp> {
        let m = fs::symlink_metadata(path)?;
        if !m.is_file() {
            return Err(io::Error::new(io::ErrorKind::InvalidInput, "not a file"));
        }
        #[cfg(unix)]
        let (dev, ino, mtime_ns) = {
            use std::os::unix::fs::MetadataExt;
            (
                m.dev(),
                m.ino(),
                i128::from(m.mtime()) * 1_000_000_000 + i128::from(m.mtime_nsec()),
            )
        };
        #[cfg(not(unix))]
        let (dev, ino, mtime_ns) = (0, 0, 0);
        Ok(FileStamp {
            dev,
            ino,
            size: m.len(),
            mtime_ns,
            sha256: String::new(),
        })
    }

    /// Whether `path` is still the file stamped: same device, inode, size and time, then the
    /// same SHA-256.
    fn matches(&self, path: &Path) -> bool {
        let Ok(now) = Self::cheap(path) else {
            return false;
        };
        let same = (now.dev, now.ino, now.size, now.mtime_ns)
            == (self.dev, self.ino, self.size, self.mtime_ns);
        same && file_sha256(path).is_ok_and(|h| h == self.sha256)
    }

    fn to_line(&self, final_name: &str, temp_name: &str) -> String {
        format!(
            "{} {} {} {} {} {final_name}\t{temp_name}\n",
            self.dev, self.ino, self.size, self.mtime_ns, self.sha256
        )
    }

    /// A journal line: the stamp, the final name and the temporary name.
    fn parse_line(line: &str) -> Option<(FileStamp, &str, &str)> {
        let mut it = line.splitn(6, ' ');
        let dev = it.next()?.parse().ok()?;
        let ino = it.next()?.parse().ok()?;
        let size = it.next()?.parse().ok()?;
        let mtime_ns = it.next()?.parse().ok()?;
        let sha256 = it.next()?.to_string();
        let (final_name, temp_name) = it.next()?.split_once('\t')?;
        // Names in this directory only, never a path elsewhere.
        if [final_name, temp_name]
            .iter()
            .any(|n| n.is_empty() || n.contains('/') || *n == "." || *n == "..")
        {
            return None;
        }
        let stamp = FileStamp {
            dev,
            ino,
            size,
            mtime_ns,
            sha256,
        };
        Some((stamp, final_name, temp_name))
    }
}

/// SHA-256 of the file at `path`, lower-case hex (as the manifest's `Sha256`).
pub fn file_sha256(path: &Path) -> io::Result<String> {
    let mut h = HashingWriter::new(io::sink());
    io::copy(&mut File::open(path)?, &mut h)?;
    Ok(h.finish().1)
}

/// The list of files an export is about to publish, written (and synced) before the first
/// is linked to its final name and removed once the manifest is published: the trace an
/// export killed while publishing leaves (`SIGKILL`, a power cut: no clean-up runs), which
/// the next export of the same name follows to remove what that one had published
/// ([`recover_interrupted`]). Named `.<manifest name>.pub-<pid>-<random>` ([`temp_stem`] when
/// long), one line per file: its [`FileStamp`], final name and temporary name. The export
/// holds an exclusive `flock` on it while it lives: a journal is a dead export's when it can
/// be locked and its pid does not run here, or is this process's (a dead export's pid reused:
/// every run of a container may be pid 1); the pid alone decides on a file system without
/// locks.
#[derive(Debug)]
pub(crate) struct Journal {
    path: Option<PathBuf>,
    dir: OutDir,
    /// The open, locked journal (the lock goes with it).
    _file: File,
}

impl Journal {
    /// Writes the journal of `entries` (each temporary file, its final name and its
    /// SHA-256) for the export whose manifest is `manifest_name`, then syncs it and the
    /// directory.
    pub(crate) fn write(
        out: &OutDir,
        manifest_name: &str,
        entries: &[(&TempFile, &str, &str)],
    ) -> Result<Journal, ExportError> {
        out.ensure_same()?;
        let mut text = String::new();
        for (temp, final_name, sha256) in entries {
            let mut stamp =
                FileStamp::cheap(temp.path()).map_err(|e| ExportError::io(temp.path(), e))?;
            stamp.sha256 = (*sha256).to_string();
            let temp_name = temp
                .path()
                .file_name()
                .and_then(|n| n.to_str())
                .unwrap_or_default();
            text.push_str(&stamp.to_line(final_name, temp_name));
        }
        let name = format!(
            ".{}.pub-{}-{:016x}",
            temp_stem(manifest_name),
            std::process::id(),
            random_u64()
        );
        let path = out.path().join(&name);
        let open_at = out
            .handle_path(std::ffi::OsStr::new(&name))
            .unwrap_or_else(|| path.clone());
        let mut file = OpenOptions::new()
            .write(true)
            .create_new(true)
            .open(&open_at)
            .map_err(|e| ExportError::io(&path, e))?;
        // Ours from here: removed on drop.
        // A file system without locks leaves the journal unlocked: then only its pid tells
        // (see `recover_interrupted`).
        let _ = file.lock();
        let written = file
            .write_all(text.as_bytes())
            .and_then(|()| file.sync_all());
        let journal = Journal {
            path: Some(path.clone()),
            dir: out.clone(),
            _file: file,
        };
        written.map_err(|e| ExportError::io(&path, e))?;
        out.sync();
        Ok(journal)
    }

    /// The export is published: the journal goes.
    pub(crate) fn complete(mut self) {
        if let Some(p) = self.path.take() {
            self.dir.remove(&p);
            self.dir.sync();
        }
    }
}

impl Drop for Journal {
    fn drop(&mut self) {
        // A failed export removes what it published itself (`Published`, dropped first).
        if let Some(p) = self.path.take() {
            self.dir.remove(&p);
        }
    }
}

/// How old (seconds) an empty journal must be before it is taken for one whose export was
/// killed between creating and filling it (rather than one being filled now).
const EMPTY_JOURNAL_AGE: u64 = 60;

/// Follows the journals ([`Journal`]) that dead exports of the manifest `manifest_name` left
/// in `dir` (a journal named `.<manifest>.pub-<pid>-<16 hex>`, listing that manifest, whose
/// lock can be taken and whose pid is gone or reused): when a file has the manifest's name,
/// that export completed (or the name is another's now) and only the journal is removed;
/// otherwise each listed final file, and each temporary file, that is still the one that
/// export wrote (same stamp, SHA-256 included) is removed, then the journal. Returns the
/// final files removed.
pub(crate) fn recover_interrupted(dir: &Path, manifest_name: &str) -> Vec<PathBuf> {
    let mut removed = Vec::new();
    let Ok(entries) = fs::read_dir(dir) else {
        return removed;
    };
    let prefix = format!(".{}.pub-", temp_stem(manifest_name));
    for e in entries.flatten() {
        let name = e.file_name();
        let Some(tail) = name.to_str().and_then(|n| n.strip_prefix(&prefix)) else {
            continue;
        };
        // Exactly `<pid>-<16 hex>`: another export's journal (say of a snapshot named
        // `NAME-manifest.json.pub-1`) never passes for this one's.
        let Some(pid) = pid_of_tail(tail) else {
            continue;
        };
        let journal = e.path();
        // Held by its export: alive. Held here while it is followed.
        let Some(followed) = lock_if_free(&journal) else {
            continue;
        };
        if !pid_dead_or_reused(pid) {
            continue;
        }
        let Some(text) = read_journal(&followed) else {
            continue;
        };
        if text.is_empty() {
            if older_than(&journal, EMPTY_JOURNAL_AGE) {
                let _ = fs::remove_file(&journal);
            }
            continue;
        }
        let listed: Vec<(FileStamp, &str, &str)> =
            text.lines().filter_map(FileStamp::parse_line).collect();
        // The manifest is the last file an export writes in its journal: a journal that
        // does not list this export's manifest is not this export's.
        if !listed.iter().any(|(_, f, _)| *f == manifest_name) {
            continue;
        }
        // The manifest is published last: once a file has its name (the export's, or
        // changed since, or another's), no node file is removed — a completed snapshot's
        // files are never taken for an interrupted export's.
        let completed = fs::symlink_metadata(dir.join(manifest_name)).is_ok();
        if !completed {
            for (stamp, final_name, temp_name) in &listed {
                let f = dir.join(final_name);
                if stamp.matches(&f) && fs::remove_file(&f).is_ok() {
                    removed.push(f);
                }
                let t = dir.join(temp_name);
                if stamp.matches(&t) {
                    let _ = fs::remove_file(&t);
                }
            }
        }
        let _ = fs::remove_file(&journal);
        if let Ok(d) = File::open(dir) {
            let _ = d.sync_all();
        }
    }
    removed
}

/// The pid of a temporary's or journal's name tail (after `.tmp-` or `.pub-`):
/// `<pid>-<16 hex digits>`, nothing else.
fn pid_of_tail(tail: &str) -> Option<u32> {
    let (pid, hex) = tail.split_once('-')?;
    if hex.len() != 16 || !hex.bytes().all(|b| b.is_ascii_hexdigit()) {
        return None;
    }
    if pid.is_empty() || !pid.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    pid.parse().ok()
}

/// Largest journal followed (bytes): a line per file, each under 700 bytes (two names of at
/// most [`NAME_MAX`] bytes and a stamp), for far more node files than a topology allows. A
/// larger file under a journal's name is not one an export wrote.
const JOURNAL_MAX: u64 = 64 << 20;

/// The text of a journal opened by [`lock_if_free`], or `None` when it is larger than
/// [`JOURNAL_MAX`], unreadable or not UTF-8.
fn read_journal(file: &File) -> Option<String> {
    use io::Read;
    let mut text = String::new();
    file.take(JOURNAL_MAX + 1).read_to_string(&mut text).ok()?;
    (text.len() as u64 <= JOURNAL_MAX).then_some(text)
}

/// Longest file name (bytes) the usual Linux file systems allow (`NAME_MAX`).
pub(crate) const NAME_MAX: usize = 255;

/// Longest temporary name suffix: `.tmp-<pid: up to 10 digits>-<16 hex digits>` and the dot
/// in front.
const TEMP_EXTRA: usize = 1 + 5 + 10 + 1 + 16;

/// What a temporary name holds of the final name: the name itself when the temporary name
/// fits in [`NAME_MAX`] bytes, else `h<16 hex digits of its XXH3>` (so any final name that
/// fits has a temporary name that fits too).
fn temp_stem(final_name: &str) -> String {
    if final_name.len() + TEMP_EXTRA <= NAME_MAX {
        final_name.to_string()
    } else {
        format!(
            "h{:016x}",
            xxhash_rust::xxh3::xxh3_64(final_name.as_bytes())
        )
    }
}

/// The pid in a temporary name `.FINAL.tmp-<pid>-<16 hex>` whose FINAL is the [`temp_stem`]
/// of one of `final_names`.
fn stale_temp_pid(name: &str, final_names: &[String]) -> Option<u32> {
    let rest = name.strip_prefix('.')?;
    let (stem, tail) = rest.rsplit_once(".tmp-")?;
    if !final_names.iter().any(|f| temp_stem(f) == stem) {
        return None;
    }
    pid_of_tail(tail)
}

/// Moves `temp` to `final_path` unless `final_path` exists: `hard_link` (atomic, fails with
/// `AlreadyExists`), then the temporary name is removed. On a file system without hard links
/// (`EPERM`, `ENOTSUP`: vfat, exFAT, some FUSE mounts) it moves the file with
/// `renameat2(RENAME_NOREPLACE)`, atomic too; where neither is offered the export fails
/// rather than risk replacing a file another process created in between. Any other error
/// of `hard_link` (no space, I/O) is returned as it is.
fn link_no_replace(temp: &Path, final_path: &Path) -> io::Result<()> {
    match fs::hard_link(temp, final_path) {
        Ok(()) => {
            let _ = fs::remove_file(temp);
            Ok(())
        }
        Err(e) if e.kind() == io::ErrorKind::AlreadyExists => Err(e),
        Err(e) if no_hard_links(&e) => rename_no_replace(temp, final_path),
        Err(e) => Err(e),
    }
}

/// Whether `hard_link` failed because the file system has no hard links.
fn no_hard_links(e: &io::Error) -> bool {
    matches!(
        e.raw_os_error(),
        Some(libc::EPERM | libc::ENOTSUP | libc::ENOSYS)
    )
}

/// `rename` that fails with `AlreadyExists` when `to` exists (`renameat2` with
/// `RENAME_NOREPLACE`; the VFS refuses an existing target atomically).
#[cfg(all(target_os = "linux", target_env = "gnu"))]
fn rename_no_replace(from: &Path, to: &Path) -> io::Result<()> {
    use nix::fcntl::{renameat2, RenameFlags, AT_FDCWD};
    match renameat2(AT_FDCWD, from, AT_FDCWD, to, RenameFlags::RENAME_NOREPLACE) {
        Ok(()) => Ok(()),
        Err(nix::errno::Errno::EEXIST) => Err(io::Error::new(
            io::ErrorKind::AlreadyExists,
            "the file already exists",
        )),
        Err(e @ (nix::errno::Errno::EINVAL | nix::errno::Errno::ENOSYS)) => {
            Err(io::Error::other(format!(
                "the file system offers neither hard links nor a rename that never replaces \
                 ({e}): refusing to publish with a check-then-rename that could replace \
                 another process's file"
            )))
        }
        Err(e) => Err(io::Error::from(e)),
    }
}

/// Without `renameat2`: refused (a check-then-rename could replace another process's file).
#[cfg(not(all(target_os = "linux", target_env = "gnu")))]
fn rename_no_replace(_from: &Path, _to: &Path) -> io::Result<()> {
    Err(io::Error::other(
        "the file system offers no hard links: refusing to publish with a check-then-rename \
         that could replace another process's file",
    ))
}

/// The final files an export has published so far; removed on drop unless [`keep`](Self::keep)
/// was called (the export failed after publishing some of them).
#[derive(Debug)]
pub(crate) struct Published {
    dir: OutDir,
    files: Vec<PathBuf>,
    keep: bool,
}

impl Published {
    pub(crate) fn new(dir: OutDir) -> Self {
        Published {
            dir,
            files: Vec::new(),
            keep: false,
        }
    }

    /// Publishes `temp` as `final_path` (never replacing a file), in the directory the
    /// export started in.
    pub(crate) fn publish(
        &mut self,
        mut temp: TempFile,
        final_path: &Path,
        plan: &ExportPlan,
    ) -> Result<(), ExportError> {
        let Some(temp_path) = temp.path.clone() else {
            return Err(ExportError::Cancelled);
        };
        self.dir.ensure_same()?;
        match link_no_replace(&temp_path, final_path) {
            Ok(()) => {
                temp.path = None;
                self.files.push(final_path.to_path_buf());
                Ok(())
            }
            Err(e) if e.kind() == io::ErrorKind::AlreadyExists => Err(ExportError::AlreadyExists {
                name: plan.name.clone(),
                dir: plan.out_dir.clone(),
                file: final_path.to_path_buf(),
            }),
            Err(e) => Err(ExportError::io(final_path, e)),
        }
    }

    /// `fsync` of the directory, so the new names survive a crash.
    pub(crate) fn sync_dir(&self) -> Result<(), ExportError> {
        let synced = match &self.dir.handle {
            Some(h) => h.sync_all(),
            None => File::open(self.dir.path()).and_then(|d| d.sync_all()),
        };
        synced.map_err(|e| ExportError::io(self.dir.path(), e))?;
        self.dir.ensure_same()
    }

    /// The export succeeded: keep the files.
    pub(crate) fn keep(mut self) {
        self.keep = true;
    }
}

impl Drop for Published {
    fn drop(&mut self) {
        if self.keep {
            return;
        }
        // By path only while the path still names the export's directory (once it was
        // moved, the same names may belong to another directory's files), else through its
        // handle.
        for f in self.files.drain(..) {
            self.dir.remove(&f);
        }
        self.dir.sync();
    }
}

#[cfg(test)]
mod stale_tests {
    use super::*;

    /// A temporary's or journal's tail is exactly `<pid>-<16 hex>`: another snapshot's
    /// journal (`NAME-manifest.json.pub-…` of a snapshot named `NAME-manifest.json.pub-4`)
    /// or a longer tail never passes for one.
    #[test]
    fn pid_of_tail_takes_exactly_a_pid_and_16_hex_digits() {
        assert_eq!(pid_of_tail("123-0123456789abcdef"), Some(123));
        assert_eq!(pid_of_tail("7-FFFFFFFFFFFFFFFF"), Some(7));
        for tail in [
            "123-manifest.json.pub-4-0123456789abcdef",
            "123-0123456789abcdef-x",
            "123-0123456789abcde",
            "123-0123456789abcdef0",
            "-0123456789abcdef",
            "12a-0123456789abcdef",
            "+12-0123456789abcdef",
            "123-0123456789abcdeg",
            "99999999999-0123456789abcdef",
            "123",
        ] {
            assert_eq!(pid_of_tail(tail), None, "{tail}");
        }
    }

    /// Publishing never replaces: a final file that appeared after the export's own checks
    /// (another process's) stays as it was, and so does the temporary.
    #[test]
    fn link_no_replace_keeps_an_existing_file() {
        let dir = tempfile::tempdir().unwrap();
        let (temp, fin) = (dir.path().join(".x.tmp"), dir.path().join("x.rdb"));
        fs::write(&temp, b"new").unwrap();
        fs::write(&fin, b"old").unwrap();
        let err = link_no_replace(&temp, &fin).unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::AlreadyExists);
        assert_eq!(fs::read(&fin).unwrap(), b"old");
        assert_eq!(fs::read(&temp).unwrap(), b"new");
        // With the name free, the file moves there and the temporary name is gone.
        fs::remove_file(&fin).unwrap();
        link_no_replace(&temp, &fin).unwrap();
        assert_eq!(fs::read(&fin).unwrap(), b"new");
        assert!(!temp.exists());
    }

    /// The fallback for file systems without hard links never replaces either: an existing
    /// final name fails with `AlreadyExists` and both files stay as they were; a free one
    /// takes the file. `EPERM` / `ENOTSUP` / `ENOSYS` (no hard links) lead to it; other
    /// errors of `hard_link` (no space, I/O) do not.
    #[test]
    fn the_rename_fallback_never_replaces() {
        let dir = tempfile::tempdir().unwrap();
        let (temp, fin) = (dir.path().join(".x.tmp"), dir.path().join("x.rdb"));
        fs::write(&temp, b"new").unwrap();
        fs::write(&fin, b"old").unwrap();
        let err = rename_no_replace(&temp, &fin).unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::AlreadyExists);
        assert_eq!(fs::read(&fin).unwrap(), b"old");
        assert_eq!(fs::read(&temp).unwrap(), b"new");
        fs::remove_file(&fin).unwrap();
        rename_no_replace(&temp, &fin).unwrap();
        assert_eq!(fs::read(&fin).unwrap(), b"new");
        assert!(!temp.exists());
        for (errno, falls_back) in [
            (libc::EPERM, true),
            (libc::ENOTSUP, true),
            (libc::ENOSYS, true),
            (libc::ENOSPC, false),
            (libc::EIO, false),
            (libc::EXDEV, false),
        ] {
            assert_eq!(
                no_hard_links(&io::Error::from_raw_os_error(errno)),
                falls_back,
                "errno {errno}"
            );
        }
    }

    #[test]
    fn stale_temp_names() {
        let finals = vec!["b-0001.rdb".to_string(), "b.manifest.json".to_string()];
        assert_eq!(
            stale_temp_pid(".b-0001.rdb.tmp-4242-00112233aabbccdd", &finals),
            Some(4242)
        );
        assert_eq!(
            stale_temp_pid(".b.manifest.json.tmp-7-ffffffffffffffff", &finals),
            Some(7)
        );
        for other in [
            ".c-0001.rdb.tmp-4242-00112233aabbccdd",
            "b-0001.rdb.tmp-4242-00112233aabbccdd",
            ".b-0001.rdb.tmp-x42-00112233aabbccdd",
            ".b-0001.rdb.tmp-4242-0011",
            ".b-0001.rdb.tmp-4242-00112233aabbccdg",
            ".b-0001.rdb",
        ] {
            assert_eq!(stale_temp_pid(other, &finals), None, "{other}");
        }
    }

    /// A final name too long to carry in a temporary name within 255 bytes is carried as its
    /// hash: every final name that fits gets a temporary name that fits, found again as stale.
    #[test]
    fn long_final_names_have_short_temporary_names() {
        let tmp = tempfile::tempdir().unwrap();
        for len in [200, 221, 222, 255] {
            let final_name = format!("{}-0001.rdb", "n".repeat(len - 9));
            assert_eq!(final_name.len(), len);
            let (file, temp) =
                TempFile::create(&OutDir::unchecked(tmp.path()), &final_name).unwrap();
            drop(file);
            let name = temp
                .path()
                .file_name()
                .unwrap()
                .to_str()
                .unwrap()
                .to_string();
            assert!(name.len() <= NAME_MAX, "{len}: {}", name.len());
            assert_eq!(
                name.contains(&final_name),
                len + TEMP_EXTRA <= NAME_MAX,
                "{len}"
            );
            assert_eq!(
                stale_temp_pid(&name, std::slice::from_ref(&final_name)),
                Some(std::process::id()),
                "{len}"
            );
            assert_eq!(stale_temp_pid(&name, &["other-0001.rdb".to_string()]), None);
        }
    }

    #[test]
    fn removes_only_dead_processes_temps() {
        let dir = tempfile::tempdir().unwrap();
        let finals = vec!["s-0001.rdb".to_string()];
        // A pid that cannot be running (above the kernel's pid_max limit of 2^22).
        let dead = dir.path().join(".s-0001.rdb.tmp-4194305-0123456789abcdef");
        let live = dir.path().join(format!(
            ".s-0001.rdb.tmp-{}-0123456789abcdef",
            std::process::id()
        ));
        let foreign = dir.path().join(".t-0001.rdb.tmp-4194305-0123456789abcdef");
        // A dead pid's name, but its lock held: a live export (pid namespaces).
        let locked = dir.path().join(".s-0001.rdb.tmp-4194306-0123456789abcdef");
        // Our own pid's name, unlocked and two minutes old: a dead export whose pid was
        // reused (every run of a container may be pid 1).
        let reused = dir.path().join(format!(
            ".s-0001.rdb.tmp-{}-fedcba9876543210",
            std::process::id()
        ));
        for p in [&dead, &live, &foreign, &locked, &reused] {
            fs::write(p, b"x").unwrap();
        }
        let two_minutes_ago = std::time::SystemTime::now() - std::time::Duration::from_secs(120);
        File::options()
            .write(true)
            .open(&reused)
            .unwrap()
            .set_modified(two_minutes_ago)
            .unwrap();
        let held = File::open(&locked).unwrap();
        held.lock().unwrap();
        let mut removed = remove_stale_temps(dir.path(), &finals);
        removed.sort();
        let mut want = vec![dead.clone(), reused.clone()];
        want.sort();
        assert_eq!(removed, want);
        assert!(live.exists() && foreign.exists() && locked.exists());
    }
}
