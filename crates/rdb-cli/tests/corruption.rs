use std::time::Instant;
#[test]
fn timing() {
    let p = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../testdata/servers/redis-7.0.15/dev/dump.rdb");
    let bytes = std::fs::read(&p).unwrap();
    let o = rdb_verify::Options::default();
    let t = Instant::now();
    for _ in 0..20 {
        let r = rdb_verify::verify_bytes("x", &bytes, &o);
        assert!(r.ok);
    }
    println!("verify: {:?}/file", t.elapsed() / 20);
    let o2 = rdb_verify::Options {
        duplicate_keys: false,
        ..o
    };
    let t = Instant::now();
    for _ in 0..20 {
        let r = rdb_verify::verify_bytes("x", &bytes, &o2);
        assert!(r.ok);
    }
    println!("verify nodup: {:?}/file", t.elapsed() / 20);
    let t = Instant::now();
    for _ in 0..20 {
        let _ = rdb_format::crc::crc64(&bytes);
    }
    println!("crc: {:?}/file", t.elapsed() / 20);
}
