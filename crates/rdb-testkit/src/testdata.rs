//! The repository's `testdata/` files, for the tests of every crate.

use std::path::{Path, PathBuf};

/// The `testdata/` directory of the repository.
pub fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../testdata")
}

/// Every `.rdb` file below `testdata/<sub>` (recursively; `""` for all), sorted.
///
/// Panics when the directory cannot be read (a test without its data must fail).
pub fn rdb_files(sub: &str) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let mut stack = vec![root().join(sub)];
    while let Some(d) = stack.pop() {
        let entries =
            std::fs::read_dir(&d).unwrap_or_else(|e| panic!("cannot read {}: {e}", d.display()));
        for e in entries {
            let p = e
                .unwrap_or_else(|e| panic!("cannot read {}: {e}", d.display()))
                .path();
            if p.is_dir() {
                stack.push(p);
            } else if p.extension().is_some_and(|x| x == "rdb") {
                out.push(p);
            }
        }
    }
    out.sort();
    out
}

/// The real-server dumps: `testdata/servers/<server>/<variant>/dump.rdb`, sorted.
pub fn server_dumps() -> Vec<PathBuf> {
    rdb_files("servers")
        .into_iter()
        .filter(|p| p.file_name().is_some_and(|n| n == "dump.rdb"))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_the_server_dumps() {
        let dumps = server_dumps();
        assert!(dumps.len() >= 20, "{} server dumps", dumps.len());
        assert!(dumps.iter().all(|p| p.is_file()));
        assert!(rdb_files("").len() > dumps.len());
    }
}
