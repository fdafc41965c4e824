//! Fuzz target `text_inputs`: the oracle is `rdb_testkit::fuzz::text_inputs`.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    rdb_testkit::fuzz::text_inputs(data);
});
