//! Fuzz target `export_cluster`: the oracle is `rdb_testkit::fuzz::export_cluster`.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    rdb_testkit::fuzz::export_cluster(data);
});
