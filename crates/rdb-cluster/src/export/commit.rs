//! Temporary files, no-overwrite publication and clean-up of an export.

use std::collections::hash_map::RandomState;
use std::fs::{self, File, OpenOptions};
use std::hash::{BuildHasher, Hasher};
use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

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

/// A temporary output file, removed when dropped unless it was published.
#[derive(Debug)]
pub(crate) struct TempFile {
    path: Option<PathBuf>,
}

impl TempFile {
    /// Creates `DIR/.FINAL.tmp-<pid>-<random>` (exclusive create) for the final name `final_name`.
    pub(crate) fn create(dir: &Path, final_name: &str) -> Result<(File, TempFile), ExportError> {
        let mut attempt = 0;
        loop {
            attempt += 1;
            let path = dir.join(format!(
                ".{final_name}.tmp-{}-{:016x}",
                std::process::id(),
                random_u64()
            ));
            match OpenOptions::new().write(true).create_new(true).open(&path) {
                Ok(file) => return Ok((file, TempFile { path: Some(path) })),
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
            let _ = fs::remove_file(p);
        }
    }
}

/// Moves `temp` to `final_path` unless `final_path` exists: `hard_link` (atomic, fails with
/// `AlreadyExists`), then the temporary name is removed. On file systems without hard links,
/// falls back to an existence check and `rename` (not atomic against a concurrent creator).
fn link_no_replace(temp: &Path, final_path: &Path) -> io::Result<()> {
    match fs::hard_link(temp, final_path) {
        Ok(()) => {
            let _ = fs::remove_file(temp);
            Ok(())
        }
        Err(e) if e.kind() == io::ErrorKind::AlreadyExists => Err(e),
        Err(link_err) => match fs::symlink_metadata(final_path) {
            Ok(_) => Err(io::Error::new(
                io::ErrorKind::AlreadyExists,
                "the file already exists",
            )),
            Err(e) if e.kind() == io::ErrorKind::NotFound => fs::rename(temp, final_path),
            Err(_) => Err(link_err),
        },
    }
}

/// The final files an export has published so far; removed on drop unless [`keep`](Self::keep)
/// was called (the export failed after publishing some of them).
#[derive(Debug)]
pub(crate) struct Published {
    dir: PathBuf,
    files: Vec<PathBuf>,
    keep: bool,
}

impl Published {
    pub(crate) fn new(dir: PathBuf) -> Self {
        Published {
            dir,
            files: Vec::new(),
            keep: false,
        }
    }

    /// Publishes `temp` as `final_path` (never replacing a file).
    pub(crate) fn publish(
        &mut self,
        mut temp: TempFile,
        final_path: &Path,
        plan: &ExportPlan,
    ) -> Result<(), ExportError> {
        let Some(temp_path) = temp.path.clone() else {
            return Err(ExportError::Cancelled);
        };
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
        File::open(&self.dir)
            .and_then(|d| d.sync_all())
            .map_err(|e| ExportError::io(&self.dir, e))
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
        for f in self.files.drain(..) {
            let _ = fs::remove_file(f);
        }
        let _ = File::open(&self.dir).and_then(|d| d.sync_all());
    }
}
