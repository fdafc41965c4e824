//! Fuzz target `codec_zipmap`: the oracle is `rdb_testkit::fuzz::codec_zipmap`.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    rdb_testkit::fuzz::codec_zipmap(data);
});
