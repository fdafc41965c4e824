//! Fuzz target `codec_ziplist`: the oracle is `rdb_testkit::fuzz::codec_ziplist`.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    rdb_testkit::fuzz::codec_ziplist(data);
});
