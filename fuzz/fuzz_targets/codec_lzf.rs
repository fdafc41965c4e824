//! Fuzz target `codec_lzf`: the oracle is `rdb_testkit::fuzz::codec_lzf`.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    rdb_testkit::fuzz::codec_lzf(data);
});
