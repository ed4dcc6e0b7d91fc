//! USP Msg decoding, by the full types and by the agent's (`usp_inbound`): never panics, every
//! error maps to a USP error code, and the agent's decoder accepts what the full one accepts,
//! to the same values (a response it does not read: the same header), and refuses nothing
//! the full one takes.
#![no_main]

use libfuzzer_sys::fuzz_target;
use usp_core::codec::{self, Limits};

fuzz_target!(|data: &[u8]| {
    let limits = Limits::default();
    let full = codec::decode_msg(data, &limits);
    if let Err(e) = &full {
        assert!((7000..8000).contains(&e.usp_error()));
    }
    match (codec::decode_inbound_msg(data, &limits), full) {
        (Ok(inbound), Ok(full)) => {
            assert_eq!(inbound.header, full.header);
            if let Some(read) = codec::msg_from_inbound(inbound) {
                assert_eq!(read, full);
            }
        }
        (Err(e), full) => {
            assert!((7000..8000).contains(&e.usp_error()));
            assert!(full.is_err(), "the agent refuses a valid Msg: {e:?}");
        }
        (Ok(_), Err(_)) => {}
    }
});
