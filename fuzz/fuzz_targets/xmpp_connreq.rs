//! XMPP connection requests (TR-069 Annex K): any stanza is parsed and judged without panicking,
//! none is accepted without the password, every reply is well-formed enough to parse back as
//! an `iq`, and a parsed request's reply echoes its id.
#![no_main]

use cwmp_core::connreq::xmpp::{XmppConnReq, XmppConnReqConfig, XmppConnReqValidator, XmppOutcome};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let validator = XmppConnReqValidator::new(
        XmppConnReqConfig::new("cpe", "a password the fuzzer cannot guess")
            .with_allowed_jids("acs@example.com"),
    );
    if let Ok(response) = validator.handle_stanza(data) {
        assert_ne!(response.outcome, XmppOutcome::Accepted);
        let request = XmppConnReq::parse(data).expect("a judged stanza parses");
        assert!(response.reply.starts_with("<iq type=\"error\""));
        // The reply is itself a stanza this parser reads (as "not a connection request").
        assert!(XmppConnReq::parse(response.reply.as_bytes()).is_err());
        assert!(
            response
                .reply
                .contains(&format!("id=\"{}\"", quick_xml_escape(&request.id)))
        );
    }
});

/// The attribute escaping of the reply (`&`, `<`, `>`, `"`, `'`).
fn quick_xml_escape(value: &str) -> String {
    value
        .replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
        .replace('\'', "&apos;")
}
