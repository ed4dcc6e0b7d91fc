//! Connection-request HTTP authentication: any `Authorization` header (Digest or Basic, well
//! formed or not) and any request target are judged without panicking, and nothing the
//! fuzzer invents without the password is accepted.
#![no_main]

use std::time::Instant;

use cwmp_core::connreq::{ConnReqConfig, ConnReqRequest, ConnReqServer};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let (target, authorization) = text.split_once('\n').unwrap_or(("/", text));
    let config = ConnReqConfig::new("cpe", "a password the fuzzer cannot guess").with_basic(true);
    let mut server = ConnReqServer::new(config, 7);
    let now = Instant::now();
    let headers = [("Authorization", authorization)];
    let response = server.handle_request(now, &ConnReqRequest::new("GET", target, &headers));
    assert!(!response.accepted);
});
