//! STUN (TR-069 Annex G, TR-111): any datagram decodes or fails without panicking; a decoded
//! message re-encodes to one that decodes the same; integrity checks never accept a message the
//! fuzzer could not sign; and the keep-alive client takes any datagram without panicking and
//! learns a mapping only from a Binding Response.
#![no_main]

use std::time::Instant;

use cwmp_core::connreq::stun::{
    Message, MessageType, StunClient, StunConfig, is_stun, verify_integrity,
};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(message) = Message::decode(data) {
        assert!(is_stun(data));
        let again = message.encode().expect("a decoded message encodes");
        assert_eq!(Message::decode(&again).expect("and decodes again"), message);
    }
    assert!(verify_integrity(data, b"a password the fuzzer cannot guess").is_err());
    let now = Instant::now();
    let config = StunConfig::new("192.0.2.10:7547".parse().expect("an address"))
        .with_credentials("cpe", "a password the fuzzer cannot guess");
    let mut client = StunClient::new(config, 3, now);
    if client.handle_datagram(now, data).is_ok() && client.mapping().is_some() {
        let message = Message::decode(data).expect("an accepted response decodes");
        assert_eq!(message.kind, MessageType::BINDING_RESPONSE);
    }
    client.handle_timeout(now);
    while client.poll_transmit().is_some() {}
});
