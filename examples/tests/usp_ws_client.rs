//! End to end: the `cpe-agent` binary's WebSocket client MTP connecting out to a controller's
//! server, played by the test (tokio-tungstenite on a free loopback port, Records built and
//! read with rusp-lib).
//!
//! The test's server first answers without the `v1.usp` subprotocol: the agent sets up no
//! session and tries again after its SessionRetry wait. The next handshake is checked (path,
//! `?eid=`, the `bbf-usp-protocol` extension, the subprotocol offer); the controller then walks
//! through every request of [`common::scenario`] on the agent's connection, drops it, and the
//! agent reconnects by itself. With a long SessionRetry wait, the network coming up (SIGUSR1)
//! makes the agent reconnect at once. Every wait is bounded.
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

use tokio::net::TcpListener;

use common::{AGENT, AgentProcess, Controller, Link, get, get_params};

#[tokio::test(flavor = "current_thread")]
async fn agent_connects_out_to_the_controllers_websocket_server() {
    common::within(Duration::from_secs(120), connects_out()).await;
}

/// The agent, configured to connect to the test's server with a first wait of `retry_s`.
async fn start(dir: &Path, retry_s: u32) -> (TcpListener, AgentProcess) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("ws://{}/usp-ctrl", listener.local_addr().unwrap());
    let config = dir.join("cpe-agent.toml");
    std::fs::write(
        &config,
        format!(
            "[usp.websocket_client]\nretry_min_wait_s = {retry_s}\n\
             [usp.websocket_client.controllers]\n\"self::controller\" = \"{url}\"\n"
        ),
    )
    .unwrap();
    let state = dir.join("state");
    let agent = AgentProcess::start(&state, &["--config", config.to_str().unwrap()]).await;
    (listener, agent)
}

async fn connects_out() {
    let dir = tempfile::tempdir().unwrap();
    let (listener, mut agent) = start(dir.path(), 1).await;

    // No v1.usp in the answer: no session; the agent tries again.
    let (refused, _) = common::accept_agent_on(&listener, false).await;
    drop(refused);
    agent
        .wait_line("cannot connect to the controller's WebSocket server")
        .await;

    let (ws, seen) = common::accept_agent_on(&listener, true).await;
    assert_eq!(seen.path, "/usp-ctrl");
    assert_eq!(seen.query, format!("eid={AGENT}"));
    assert!(
        seen.protocol.split(',').any(|p| p.trim() == "v1.usp"),
        "{seen:?}"
    );
    assert_eq!(seen.extension, format!("bbf-usp-protocol; eid=\"{AGENT}\""));
    let mut ctrl = Controller::over(Link::WebSocket(Box::new(ws.expect("a USP session"))));
    common::scenario::manage(&mut ctrl).await;
    assert_eq!(ctrl.connect_records, 1, "a WebSocketConnect Record first");

    // The controller drops the connection: the agent reconnects after its wait.
    drop(ctrl);
    let (ws, _) = common::accept_agent_on(&listener, true).await;
    let mut ctrl = Controller::over(Link::WebSocket(Box::new(ws.expect("a USP session"))));
    let body = ctrl.request(get(&["Device.WiFi.SSID.1.SSID"])).await;
    assert_eq!(get_params(&body)["SSID"], "e2e-ssid", "{body}");
    assert_eq!(ctrl.connect_records, 1, "a WebSocketConnect Record again");
    agent.stop().await;
}

#[tokio::test(flavor = "current_thread")]
async fn the_network_coming_up_cuts_the_reconnect_wait_short() {
    common::within(Duration::from_secs(60), network_up()).await;
}

async fn network_up() {
    let dir = tempfile::tempdir().unwrap();
    // The first wait is at least ten minutes.
    let (listener, mut agent) = start(dir.path(), 600).await;
    let (ws, _) = common::accept_agent_on(&listener, true).await;
    drop(ws);
    agent.wait_line("WebSocket reconnect scheduled").await;
    agent.signal("USR1");
    agent.wait_line("network up: reconnecting now").await;
    let (ws, _) = common::accept_agent_on(&listener, true).await;
    let mut ctrl = Controller::over(Link::WebSocket(Box::new(ws.expect("a USP session"))));
    let body = ctrl.request(get(&["Device.DeviceInfo.SerialNumber"])).await;
    assert_eq!(get_params(&body)["SerialNumber"], "SIM0001", "{body}");
    agent.stop().await;
}
