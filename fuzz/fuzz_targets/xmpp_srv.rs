//! The SRV answers of the XMPP connection's `DNS-SRV` lookup (`cwmp_core::connreq::xmpp_srv`,
//! read by hand for size): the input read as an answer to the query for `example.com`, and
//! again behind that query's header and question (its first byte the answer count), so that
//! most inputs reach the records.
//!
//! Checks: no panic; an accepted answer is within [`MAX_ANSWER`], its targets are host names;
//! where simple-dns reads the same message, every target taken is one of its SRV records of
//! the question's name, with the same priority, weight and port.
#![no_main]

use cwmp_core::connreq::xmpp_srv::{MAX_ANSWER, SrvAnswer, srv_answer, srv_query};
use libfuzzer_sys::fuzz_target;
use simple_dns::Packet;
use simple_dns::rdata::RData;

const ID: u16 = 0x5a5a;
const DOMAIN: &str = "example.com";
const NAME: &str = "_xmpp-client._tcp.example.com";

fuzz_target!(|data: &[u8]| {
    check(data);
    let Some((&count, records)) = data.split_first() else {
        return;
    };
    let mut message = srv_query(ID, DOMAIN).expect("a valid domain");
    message[2] |= 0x80; // a response
    message[7] = count % 8; // answers
    message.extend_from_slice(records);
    check(&message);
});

fn check(message: &[u8]) {
    let Ok(SrvAnswer::Targets(targets)) = srv_answer(ID, DOMAIN, message) else {
        return;
    };
    assert!(message.len() <= MAX_ANSWER);
    assert!(!targets.is_empty());
    for (_, _, (host, _)) in &targets {
        assert!(!host.is_empty() && !host.ends_with('.'), "{host:?}");
        assert!(
            host.bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"-_.".contains(&b))
        );
    }
    let Ok(packet) = Packet::parse(message) else {
        return;
    };
    let theirs: Vec<_> = packet
        .answers
        .iter()
        .filter(|record| record.name.to_string().eq_ignore_ascii_case(NAME))
        .filter_map(|record| match &record.rdata {
            RData::SRV(srv) => Some((
                u32::from(srv.priority),
                srv.weight,
                (srv.target.to_string(), srv.port),
            )),
            _ => None,
        })
        .collect();
    for target in &targets {
        assert!(theirs.contains(target), "{target:?} not in {theirs:?}");
    }
}
