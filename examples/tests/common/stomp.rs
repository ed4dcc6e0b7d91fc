//! The agent's STOMP configuration and a USP controller's STOMP link built on usp-core's
//! sans-IO STOMP client, for the end-to-end tests through a real RabbitMQ
//! ([`super::rabbitmq`]). The broker parses both sides' frames, so the agent's and the
//! controller's share no unchecked assumption.

use std::path::{Path, PathBuf};
use std::time::Instant;

use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
use tokio::net::TcpStream;
use usp_core::mtp::stomp::client::{Client, ClientConfig, Event};

use super::{CTRL, WAIT};

/// Writes the agent's configuration file in `dir`: the STOMP MTP towards the broker on
/// `port` as RabbitMQ's guest, its destination, `self::controller`'s, heart-beats every
/// second both ways, and short reconnect waits.
pub(crate) fn agent_config(
    dir: &Path,
    port: u16,
    agent_destination: &str,
    controller_destination: &str,
) -> PathBuf {
    let path = dir.join("cpe-agent.toml");
    std::fs::write(
        &path,
        format!(
            "[usp.stomp]\nenable = true\nport = {port}\nusername = \"guest\"\n\
             password = \"guest\"\nvirtual_host = \"/\"\ndestination = \"{agent_destination}\"\n\
             heartbeats = true\noutgoing_heartbeat_ms = 1000\nincoming_heartbeat_ms = 1000\n\
             retry_initial_s = 1\nretry_max_s = 2\n\
             [usp.stomp.controllers]\n\"{CTRL}\" = \"{controller_destination}\"\n"
        ),
    )
    .unwrap();
    path
}

/// A controller's STOMP connection: subscribed to its own destination, sending Records to
/// the agent's with its own as `reply-to-dest`. It reads only while the test waits for a
/// Record, so it offers no heart-beats.
pub(crate) struct StompLink {
    stream: TcpStream,
    client: Client,
    agent_destination: String,
    /// Every Record received, with its `reply-to-dest`, in order.
    pub(crate) received: Vec<(Vec<u8>, Option<String>)>,
}

impl StompLink {
    /// Connects to the broker on `port` as RabbitMQ's guest and waits for `CONNECTED`.
    pub(crate) async fn connect(port: u16, own_destination: &str, agent_destination: &str) -> Self {
        let stream = TcpStream::connect(("127.0.0.1", port)).await.unwrap();
        let config = ClientConfig::new(CTRL, own_destination)
            .with_virtual_host("/")
            .with_credentials("guest", "guest");
        let mut link = Self {
            stream,
            client: Client::new(config, Instant::now()),
            agent_destination: agent_destination.to_owned(),
            received: Vec::new(),
        };
        let connected = async {
            loop {
                link.flush().await;
                if let Some(Event::Connected { .. }) = link.client.poll_event() {
                    link.flush().await;
                    return;
                }
                assert!(link.read().await, "the broker closed the connection");
            }
        };
        tokio::time::timeout(WAIT, connected)
            .await
            .expect("CONNECTED in time");
        link
    }

    async fn flush(&mut self) {
        let mut out = Vec::new();
        if self.client.poll_transmit(&mut out) {
            self.stream.write_all(&out).await.unwrap();
        }
    }

    /// Reads once into the client; false at the end of the stream.
    async fn read(&mut self) -> bool {
        let mut chunk = vec![0; 16 * 1024];
        let n = self.stream.read(&mut chunk).await.unwrap_or(0);
        n > 0
            && self
                .client
                .handle_input(Instant::now(), &chunk[..n])
                .is_ok()
    }

    /// Sends a Record to the agent's destination.
    pub(crate) async fn send(&mut self, record: Vec<u8>) {
        self.client
            .send_record(Instant::now(), &self.agent_destination, &record)
            .unwrap();
        self.flush().await;
    }

    /// Writes raw bytes (a hand-made frame).
    pub(crate) async fn write(&mut self, bytes: &[u8]) {
        self.stream.write_all(bytes).await.unwrap();
    }

    /// The next Record sent to the controller, or `None` when the link died.
    pub(crate) async fn next(&mut self) -> Option<Vec<u8>> {
        loop {
            while let Some(event) = self.client.poll_event() {
                if let Event::Record { body, reply_to } = event {
                    self.received.push((body.clone(), reply_to));
                    return Some(body);
                }
            }
            if !self.read().await {
                return None;
            }
        }
    }
}
