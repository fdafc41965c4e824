//! Fuzz target `codec_intset`: the oracle is `rdb_testkit::fuzz::codec_intset`.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    rdb_testkit::fuzz::codec_intset(data);
});
