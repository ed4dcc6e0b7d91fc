//! USP Msg decoding: never panics, and every error maps to a USP error code.
#![no_main]

use libfuzzer_sys::fuzz_target;
use usp_core::codec::{self, Limits};

fuzz_target!(|data: &[u8]| {
    if let Err(e) = codec::decode_msg(data, &Limits::default()) {
        assert!((7000..8000).contains(&e.usp_error()));
    }
});
