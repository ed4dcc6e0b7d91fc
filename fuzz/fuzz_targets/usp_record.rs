//! USP Record decoding (and the Msg inside a no-session-context Record): never panics, and
//! every error maps to a USP error code.
#![no_main]

use libfuzzer_sys::fuzz_target;
use usp_core::codec::{self, Limits};

fuzz_target!(|data: &[u8]| {
    let limits = Limits::default();
    match codec::decode_record(data, &limits) {
        Ok(record) => {
            if let Err(e) = codec::msg_from_no_session(&record, &limits) {
                assert!((7000..8000).contains(&e.usp_error()));
            }
        }
        Err(e) => assert!((7000..8000).contains(&e.usp_error())),
    }
});
