//! Fuzz target `codec_length_string`: the oracle is `rdb_testkit::fuzz::codec_length_string`.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    rdb_testkit::fuzz::codec_length_string(data);
});
