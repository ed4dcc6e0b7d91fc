//! The XMPP client stream (TR-069 Annex K over RFC 6120): any bytes from the server, cut into
//! reads where the input says, are handled without panicking; the client never sends its
//! password before the server offered `PLAIN`, nor starts SCRAM unoffered, never hands over a
//! connection request before it is bound, counts no more error stanzas than stanzas, and
//! stops at its first error. The same bytes go to the SCRAM parser as a server-first message
//! (after the client's nonce, so that most get past it) and then as a server-final one, which
//! verifies only when it is accepted.
#![no_main]

use std::time::{Duration, Instant};

use cwmp_core::connreq::scram::{ScramClient, ScramHash};
use cwmp_core::connreq::xmpp::MAX_CREDENTIAL_CHARS;
use cwmp_core::connreq::xmpp_client::{XmppClient, XmppClientConfig, XmppEvent};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Some((&cut, data)) = data.split_first() else {
        return;
    };
    let hash = if cut & 1 == 1 {
        ScramHash::Sha256
    } else {
        ScramHash::Sha1
    };
    let mut scram = ScramClient::new(hash, "cpe", "pw", "nonce");
    let mut first = b"r=nonce".to_vec();
    first.extend_from_slice(data);
    // Few iterations: the parser is under test, not PBKDF2.
    if scram.handle_server_first(&first, 16).is_ok() {
        assert!(!scram.awaits_server_first());
        let verified = scram.handle_server_final(data).is_ok();
        assert_eq!(verified, scram.is_done());
    }

    let now = Instant::now();
    let config = XmppClientConfig::new("cpe", "pw", "example.com", "cwmp")
        .with_tls(cut & 1 == 1, cut & 2 == 2)
        .with_keepalive(Some(Duration::from_secs(60)));
    let mut client = XmppClient::new(config, [0x42; 18]);
    let mut bound = false;
    let chunk = usize::from(cut >> 2).max(1);
    for (i, piece) in data.chunks(chunk).enumerate() {
        let at = now + Duration::from_secs(u64::try_from(i).unwrap_or(0));
        let fed = data.get(..(i + 1) * chunk).unwrap_or(data);
        let result = client.handle_data(at, piece);
        client.handle_timeout(at);
        while let Some(event) = client.poll_event() {
            match event {
                XmppEvent::Bound { jid } => {
                    assert!(!bound && !jid.is_empty());
                    bound = true;
                }
                XmppEvent::ConnectionRequest(request) => {
                    assert!(bound);
                    assert!(request.username.chars().count() <= MAX_CREDENTIAL_CHARS);
                    assert!(request.password.chars().count() <= MAX_CREDENTIAL_CHARS);
                }
                XmppEvent::StartTls => client.handle_tls_established(),
                _ => {}
            }
        }
        while let Some(bytes) = client.poll_transmit() {
            if bytes.starts_with(b"<auth ") {
                let offered = |name: &[u8]| fed.windows(name.len()).any(|w| w == name);
                let plain = bytes.windows(7).any(|w| w == b"'PLAIN'");
                assert!(offered(if plain { b"PLAIN" } else { b"SCRAM-SHA-" }));
            }
        }
        let stats = client.stats();
        assert!(stats.received_errors <= stats.received);
        assert!(stats.transmitted_errors <= stats.transmitted);
        if result.is_err() {
            return;
        }
    }
});
