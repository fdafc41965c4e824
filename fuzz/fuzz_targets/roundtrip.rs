//! Fuzz target `roundtrip`: the oracle is `rdb_testkit::fuzz::roundtrip`.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    rdb_testkit::fuzz::roundtrip(data);
});
