use std::path::PathBuf;

fn all_rdb() -> Vec<PathBuf> {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../testdata");
    let mut out = Vec::new();
    let mut stack = vec![root];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).unwrap() {
            let p = e.unwrap().path();
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

#[test]
fn every_file_reads() {
    for p in all_rdb() {
        let data = std::fs::read(&p).unwrap();
        match rdb_reader::read_keyspace(&data) {
            Ok(ks) => println!("OK   {} keys={}", p.display(), ks.key_count()),
            Err(e) => println!("FAIL {}: {e}", p.display()),
        }
    }
}
