//! Fuzz target `convert`: the oracle is `rdb_testkit::fuzz::convert`.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    rdb_testkit::fuzz::convert(data);
});
