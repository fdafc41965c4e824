//! Fuzz target `verify_split`: the oracle is `rdb_testkit::fuzz::verify_split`.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    rdb_testkit::fuzz::verify_split(data);
});
