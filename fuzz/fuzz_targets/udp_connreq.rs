//! UDP connection requests (TR-069 Annex G): any datagram is parsed and checked without
//! panicking, and none is accepted without the right HMAC signature.
#![no_main]

use cwmp_core::connreq::udp::{UdpConnReq, UdpConnReqConfig, UdpConnReqValidator};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let _ = UdpConnReq::parse(data);
    let mut validator = UdpConnReqValidator::new(UdpConnReqConfig::new(
        "cpe",
        "a password the fuzzer cannot guess",
    ));
    assert!(
        validator
            .handle_datagram(Some(1_700_000_000), data)
            .is_err()
    );
});
