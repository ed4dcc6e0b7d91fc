//! CWMP SOAP envelope decoding: never panics, and every error names a CWMP fault code of the
//! right side (9xxx for a CPE, 8xxx for an ACS).
#![no_main]

use cwmp_core::codec::{Envelope, Limits};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Err(e) = Envelope::decode(data, &Limits::default()) {
        assert!((9000..10000).contains(&e.cpe_fault()));
        assert!((8000..9000).contains(&e.acs_fault()));
    }
});
