//! Fuzz target `read_slice`: the oracle is `rdb_testkit::fuzz::read_slice`.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    rdb_testkit::fuzz::read_slice(data);
});
