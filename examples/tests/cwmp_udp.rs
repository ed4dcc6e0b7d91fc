//! End to end: UDP connection requests (TR-069 Annex G.2) to the `cpe-agent` binary.
//!
//! The scripted ACS reads `Device.ManagementServer.UDPConnectionRequestAddress` in the
//! bootstrap session; the test then sends datagrams there, signed here with HMAC-SHA1 keyed by
//! the connection-request password: a forged one and a wrong user are ignored (logged), a
//! good one starts a session with `6 CONNECTION REQUEST`, and the same datagram again is a
//! replay, ignored. Every wait is bounded.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    // The test signs with the real clock, as an ACS does.
    clippy::disallowed_methods,
    missing_docs
)]

mod common;

use std::time::{SystemTime, UNIX_EPOCH};

use cwmp_core::codec::Body;
use hmac::{Hmac, Mac as _};
use sha1::Sha1;
use tokio::net::UdpSocket;

use common::{Acs, AgentProcess, codes, gpv, param};

const CR_USER: &str = "udp-user";
const CR_PASS: &str = "udp-pass";
const UDP_ADDRESS: &str = "Device.ManagementServer.UDPConnectionRequestAddress";

/// An Annex G.2 datagram for `address`, signed with `key`.
fn datagram(address: &str, id: &str, user: &str, key: &str) -> Vec<u8> {
    let ts = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs();
    let cnonce = format!("cn{id}");
    let mut mac = Hmac::<Sha1>::new_from_slice(key.as_bytes()).unwrap();
    mac.update(format!("{ts}{id}{user}{cnonce}").as_bytes());
    let sig: String = mac
        .finalize()
        .into_bytes()
        .iter()
        .map(|b| format!("{b:02X}"))
        .collect();
    format!(
        "GET http://{address}?ts={ts}&id={id}&un={user}&cn={cnonce}&sig={sig} HTTP/1.1\r\n\
         Host: {address}\r\n\r\n"
    )
    .into_bytes()
}

#[tokio::test(flavor = "current_thread")]
async fn signed_udp_connection_request_starts_a_session() {
    let mut acs = Acs::start().await;
    let state = tempfile::tempdir().unwrap();
    let mut agent = AgentProcess::start(
        state.path(),
        &[
            "--acs-url",
            &acs.url,
            "--cr-port",
            "0",
            "--cr-username",
            CR_USER,
            "--cr-password",
            CR_PASS,
        ],
    )
    .await;

    // The bootstrap session publishes the socket's address.
    let inform = acs.next_inform().await;
    assert!(codes(&inform).contains(&"0 BOOTSTRAP".to_owned()));
    acs.push(gpv(&[UDP_ADDRESS]));
    assert!(acs.next_post().await.is_none(), "the CPE's empty POST");
    let address = match acs.next_post().await.map(|e| e.body) {
        Some(Body::GetParameterValuesResponse(r)) => {
            param(&r.parameter_list, UDP_ADDRESS).unwrap().to_owned()
        }
        other => panic!("expected GetParameterValuesResponse, got {other:?}"),
    };
    assert!(address.starts_with("127.0.0.1:"), "{address}");
    assert_ne!(address, "127.0.0.1:0");
    agent.wait_line("CWMP session ended").await;

    let socket = UdpSocket::bind("127.0.0.1:0").await.unwrap();
    let send = |bytes: Vec<u8>| {
        let (socket, address) = (&socket, address.clone());
        async move { socket.send_to(&bytes, &address).await.unwrap() }
    };
    // Wrong key, wrong user: ignored.
    send(datagram(&address, "1", CR_USER, "guess")).await;
    let line = agent.wait_line("UDP connection request ignored").await;
    assert!(line.contains("bad signature"), "{line}");
    send(datagram(&address, "2", "mallory", CR_PASS)).await;
    let line = agent.wait_line("UDP connection request ignored").await;
    assert!(line.contains("bad signature"), "{line}");

    // The right signature: a session for it.
    let good = datagram(&address, "3", CR_USER, CR_PASS);
    send(good.clone()).await;
    agent
        .wait_line("CWMP UDP connection request accepted")
        .await;
    let inform = acs.next_inform().await;
    let events = codes(&inform);
    assert_eq!(events, ["6 CONNECTION REQUEST"], "{events:?}");
    assert!(acs.next_post().await.is_none(), "the CPE's empty POST");
    agent.wait_line("CWMP session ended").await;

    // The ACS repeats its datagrams (Annex G.2.1.2); a repeat is not a new request.
    send(good).await;
    let line = agent.wait_line("UDP connection request ignored").await;
    assert!(line.contains("repeated message id"), "{line}");
    agent.stop().await;
}
