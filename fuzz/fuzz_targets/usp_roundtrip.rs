//! decode → encode → decode of Records and Msgs gives the same value (hickory-proto's check).
#![no_main]

use libfuzzer_sys::fuzz_target;
use usp_core::codec::{self, Limits};

fuzz_target!(|data: &[u8]| {
    let limits = Limits::default();
    if let Ok(record) = codec::decode_record(data, &limits) {
        let mut bytes = Vec::new();
        codec::encode_record(&record, &mut bytes);
        assert_eq!(codec::decode_record(&bytes, &limits), Ok(record));
    }
    if let Ok(msg) = codec::decode_msg(data, &limits) {
        let mut bytes = Vec::new();
        codec::encode_msg(&msg, &mut bytes);
        assert_eq!(codec::decode_msg(&bytes, &limits), Ok(msg));
    }
});
