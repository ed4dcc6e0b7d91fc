//! End to end: UDP connection requests (TR-069 Annex G.2) to the `cpe-agent` binary.
//!
//! The scripted ACS reads `Device.ManagementServer.UDPConnectionRequestAddress` in the
//! bootstrap session; the test then sends datagrams there, signed here with HMAC-SHA1 keyed by
//! the connection-request password: a forged one and a wrong user are ignored (logged), a
//! good one starts a session with `6 CONNECTION REQUEST`, and the same datagram again is a
//! replay, ignored. With STUN enabled by the ACS, the agent sends Binding Requests from that
//! socket to a STUN server run here (cwmp-core's codec, answering with a mapping the test
//! picks), publishes the mapping as the address with `NATDetected`, and still takes connection
//! requests on the socket. Every wait is bounded.
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

use std::net::SocketAddr;
use std::time::{SystemTime, UNIX_EPOCH};

use cwmp_core::codec::{Body, ParameterValue, SetParameterValues, Status, ValueType};
use cwmp_core::connreq::stun::{Attribute, Message, MessageType};
use hmac::{Hmac, Mac as _};
use sha1::Sha1;
use tokio::net::UdpSocket;
use tokio::sync::mpsc;

use common::{Acs, AgentProcess, WAIT, codes, gpv, param};

const CR_USER: &str = "udp-user";
const CR_PASS: &str = "udp-pass";
const UDP_ADDRESS: &str = "Device.ManagementServer.UDPConnectionRequestAddress";
const NAT_DETECTED: &str = "Device.ManagementServer.NATDetected";
/// The public mapping the test's STUN server reports (TEST-NET-3).
const MAPPED: &str = "203.0.113.7:40000";

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

/// The agent with CWMP on `acs` and the connection-request credentials.
async fn start_agent(state: &std::path::Path, acs: &Acs) -> AgentProcess {
    AgentProcess::start(
        state,
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
    .await
}

/// The values of the CPE's GetParameterValuesResponse, the next POST.
async fn gpv_response(acs: &mut Acs) -> Vec<ParameterValue> {
    match acs.next_post().await.map(|e| e.body) {
        Some(Body::GetParameterValuesResponse(r)) => r.parameter_list,
        other => panic!("expected GetParameterValuesResponse, got {other:?}"),
    }
}

/// Starts the agent for its bootstrap session: the ACS reads the published UDP address, then
/// sends `then` (when given, answered with a SetParameterValuesResponse of status 0). Returns
/// the agent and the address.
async fn bootstrap(
    acs: &mut Acs,
    state: &std::path::Path,
    then: Option<Body>,
) -> (AgentProcess, String) {
    // Queued before the agent starts: the ACS answers the CPE's empty POST from its queue at
    // once, so a request pushed after the Inform could miss the session.
    acs.push(gpv(&[UDP_ADDRESS]));
    let set = then.is_some();
    if let Some(body) = then {
        acs.push(body);
    }
    let mut agent = start_agent(state, acs).await;
    let inform = acs.next_inform().await;
    assert!(codes(&inform).contains(&"0 BOOTSTRAP".to_owned()));
    assert!(acs.next_post().await.is_none(), "the CPE's empty POST");
    let address = param(&gpv_response(acs).await, UDP_ADDRESS)
        .unwrap()
        .to_owned();
    assert!(address.starts_with("127.0.0.1:"), "{address}");
    assert_ne!(address, "127.0.0.1:0");
    if set {
        match acs.next_post().await.map(|e| e.body) {
            Some(Body::SetParameterValuesResponse(r)) => assert_eq!(r.status, Status::Applied),
            other => panic!("expected SetParameterValuesResponse, got {other:?}"),
        }
    }
    agent.wait_line("CWMP session ended").await;
    (agent, address)
}

#[tokio::test(flavor = "current_thread")]
async fn signed_udp_connection_request_starts_a_session() {
    let mut acs = Acs::start().await;
    let state = tempfile::tempdir().unwrap();

    // The bootstrap session publishes the socket's address.
    let (mut agent, address) = bootstrap(&mut acs, state.path(), None).await;

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

/// A STUN server on loopback: answers every Binding Request with MAPPED-ADDRESS [`MAPPED`] and
/// reports where each came from.
async fn stun_server() -> (SocketAddr, mpsc::UnboundedReceiver<SocketAddr>) {
    let socket = UdpSocket::bind("127.0.0.1:0").await.unwrap();
    let address = socket.local_addr().unwrap();
    let (tx, rx) = mpsc::unbounded_channel();
    tokio::spawn(async move {
        let mut buffer = vec![0_u8; 2048];
        loop {
            let (length, from) = socket.recv_from(&mut buffer).await.unwrap();
            let request = Message::decode(&buffer[..length]).unwrap();
            assert_eq!(request.kind, MessageType::BINDING_REQUEST);
            assert!(
                request
                    .attributes
                    .contains(&Attribute::ConnectionRequestBinding),
                "TR-111 CONNECTION-REQUEST-BINDING in {request:?}"
            );
            let response = Message::new(MessageType::BINDING_RESPONSE, request.transaction_id)
                .with(Attribute::MappedAddress(MAPPED.parse().unwrap()));
            socket
                .send_to(&response.encode().unwrap(), from)
                .await
                .unwrap();
            let _ = tx.send(from);
        }
    });
    (address, rx)
}

#[tokio::test(flavor = "current_thread")]
async fn stun_publishes_the_mapping_and_connection_requests_still_arrive() {
    let (server, mut requests) = stun_server().await;
    let mut acs = Acs::start().await;
    let state = tempfile::tempdir().unwrap();

    // The ACS turns STUN on in the bootstrap session.
    let value = |name: &str, value: &str, kind| ParameterValue::new(name, value, kind);
    let enable = Body::SetParameterValues(SetParameterValues {
        parameter_list: vec![
            value(
                "Device.ManagementServer.STUNServerAddress",
                "127.0.0.1",
                ValueType::String,
            ),
            value(
                "Device.ManagementServer.STUNServerPort",
                &server.port().to_string(),
                ValueType::UnsignedInt,
            ),
            value(
                "Device.ManagementServer.STUNEnable",
                "true",
                ValueType::Boolean,
            ),
        ],
        parameter_key: "stun".into(),
    });
    let (mut agent, local) = bootstrap(&mut acs, state.path(), Some(enable)).await;

    // Binding Requests come from the connection-request socket; the mapping is published.
    let from = tokio::time::timeout(WAIT, requests.recv())
        .await
        .expect("a Binding Request in time")
        .unwrap();
    assert_eq!(from.to_string(), local);

    // A connection request on the same socket still starts a session, which reads the
    // published mapping (the agent takes the socket's datagrams in order: the Binding
    // Response, answered before the test sends, is handled first).
    acs.push(gpv(&[UDP_ADDRESS, NAT_DETECTED]));
    let socket = UdpSocket::bind("127.0.0.1:0").await.unwrap();
    socket
        .send_to(&datagram(MAPPED, "1", CR_USER, CR_PASS), &local)
        .await
        .unwrap();
    agent
        .wait_line("CWMP UDP connection request accepted")
        .await;
    let inform = acs.next_inform().await;
    assert!(
        codes(&inform).contains(&"6 CONNECTION REQUEST".to_owned()),
        "{:?}",
        codes(&inform)
    );
    assert!(acs.next_post().await.is_none(), "the CPE's empty POST");
    let values = gpv_response(&mut acs).await;
    assert_eq!(param(&values, UDP_ADDRESS), Some(MAPPED), "{values:?}");
    assert_eq!(param(&values, NAT_DETECTED), Some("true"), "{values:?}");
    agent.wait_line("CWMP session ended").await;
    agent.stop().await;
}
