//! Fuzz target `verify`: the oracle is `rdb_testkit::fuzz::verify`.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    rdb_testkit::fuzz::verify(data);
});
