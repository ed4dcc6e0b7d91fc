//! End to end over the Unix domain socket MTP: the `cpe-agent` binary listening on a socket
//! path (the controller connects) and connecting to one (the agent connects, the test
//! listens), against a controller built with rusp-lib whose framing is written in the test.
//!
//! Listening: a Record before the handshake is ignored, the Handshakes are exchanged, a
//! UDSConnect Record comes first, the walk of [`common::scenario`] runs, and a frame that is
//! not `_USP` gets an Error frame and the socket closed. Connecting: the agent's Handshake
//! comes first; after the test drops the connection the agent reconnects within 1-5 s.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    // The test bounds its waits on the real clock, as the agent it drives does.
    clippy::disallowed_methods,
    missing_docs
)]

mod common;

use std::path::Path;
use std::time::Duration;

use tokio::net::{UnixListener, UnixStream};

use common::uds::{ERROR, UdsLink, handshake};
use common::{AgentProcess, Controller, Link, WAIT, get, get_params};

async fn start(dir: &Path, key: &str, socket: &Path) -> AgentProcess {
    let config = dir.join("cpe-agent.toml");
    std::fs::write(
        &config,
        format!("[usp.uds]\n{key} = \"{}\"\n", socket.display()),
    )
    .unwrap();
    let state = dir.join("state");
    AgentProcess::start(&state, &["--config", config.to_str().unwrap()]).await
}

#[tokio::test(flavor = "current_thread")]
async fn controller_manages_the_agent_over_its_unix_socket() {
    common::within(Duration::from_secs(120), agent_listens()).await;
}

async fn agent_listens() {
    let dir = tempfile::tempdir().unwrap();
    let socket = dir.path().join("agent.sock");
    let mut agent = start(dir.path(), "listen", &socket).await;
    agent.wait_line("listening on the Unix socket").await;

    let mut link = UdsLink::new(UnixStream::connect(&socket).await.unwrap());
    // A Record before the Handshake is ignored (R-UDS.17).
    link.send(vec![0x0a, 0x03, b'1', b'.', b'4']).await;
    handshake(&mut link, true).await;
    let mut ctrl = Controller::over(Link::Uds(link));
    common::scenario::manage(&mut ctrl).await;

    // Not a USP frame: an Error frame, then the socket closes (R-UDS.24).
    let mut link = UdsLink::new(UnixStream::connect(&socket).await.unwrap());
    handshake(&mut link, true).await;
    link.write(b"GET / HTTP/1.1\r\n\r\n").await;
    let (tlv_type, text) = tokio::time::timeout(WAIT, link.next_tlv())
        .await
        .unwrap()
        .expect("an Error frame");
    assert_eq!(tlv_type, ERROR, "{}", String::from_utf8_lossy(&text));
    assert!(
        tokio::time::timeout(WAIT, link.next_tlv())
            .await
            .unwrap()
            .is_none()
    );

    // The agent still serves the socket.
    let mut link = UdsLink::new(UnixStream::connect(&socket).await.unwrap());
    handshake(&mut link, true).await;
    let mut ctrl = Controller::over(Link::Uds(link));
    let body = ctrl.request(get(&["Device.WiFi.SSID.1.SSID"])).await;
    assert_eq!(get_params(&body)["SSID"], "e2e-ssid", "{body}");
    agent.stop().await;
    assert!(!socket.exists(), "the socket file is removed at shutdown");
}

#[tokio::test(flavor = "current_thread")]
async fn agent_connects_to_the_controllers_unix_socket() {
    common::within(Duration::from_secs(60), agent_connects()).await;
}

async fn agent_connects() {
    let dir = tempfile::tempdir().unwrap();
    let socket = dir.path().join("controller.sock");
    let listener = UnixListener::bind(&socket).unwrap();
    let agent = start(dir.path(), "connect", &socket).await;
    for _ in 0..2 {
        let (stream, _) = tokio::time::timeout(WAIT, listener.accept())
            .await
            .expect("the agent connects in time")
            .unwrap();
        let mut link = UdsLink::new(stream);
        handshake(&mut link, false).await;
        let mut ctrl = Controller::over(Link::Uds(link));
        let body = ctrl.request(get(&["Device.DeviceInfo.SerialNumber"])).await;
        assert_eq!(get_params(&body)["SerialNumber"], "SIM0001", "{body}");
        // The MTP row (after the factory WebSocket server's) says the agent is connected.
        let body = ctrl.request(get(&["Device.LocalAgent.MTP.2.Status"])).await;
        assert_eq!(get_params(&body)["Status"], "Up", "{body}");
        // Dropping the controller closes the socket; the agent comes back.
    }
    agent.stop().await;
}
