//! MQTT over WebSockets (`TransportProtocol` `WebSocket` and `WebSocketTLS`) on the agent's
//! own tokio-tungstenite, subprotocol `mqtt`: rumqttc's WebSocket transport would link
//! async-tungstenite and a second tungstenite (+130 KB on the router build, more than the
//! 4 MB budget has room for).
//!
//! rumqttc speaks MQTT over a Unix domain socket of the agent's own ([`Relay`], its
//! `Transport::Unix`), and the relay carries each connection made there to the broker's
//! WebSocket: what rumqttc writes goes out as binary messages, the broker's binary messages
//! come back as bytes (an MQTT packet may span messages, as MQTT's WebSocket binding allows).
//! A message from the broker is held to the MQTT packet limit rumqttc reads with; a text message
//! or a close ends the connection, which rumqttc then sees closed and retries. The socket
//! lives in the state directory, and only the agent's user may connect to it (mode 0600).

use std::os::unix::fs::PermissionsExt as _;
use std::path::{Path, PathBuf};
use std::time::Duration;

use bytes::BytesMut;
use futures_util::{SinkExt as _, StreamExt as _};
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
use tokio::net::UnixStream;
use tokio::task::{JoinHandle, JoinSet};
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::client::IntoClientRequest as _;
use tokio_tungstenite::tungstenite::http::{HeaderValue, Uri, header};
use tokio_tungstenite::tungstenite::protocol::WebSocketConfig;

use crate::tls::{self, Trust};

/// MQTT's WebSocket subprotocol, for 3.1.1 and 5 alike.
const SUBPROTOCOL: &str = "mqtt";
/// What one read from rumqttc may take (and so one message to the broker hold).
const READ_CHUNK: usize = 16 * 1024;
/// How long opening the WebSocket, or closing it, may take: rumqttc's connection timeout
/// (it has given up on the connection by then), so that a broker that never answers holds
/// no relay task.
const WS_TIMEOUT: Duration = Duration::from_secs(5);

/// The Unix socket rumqttc connects to, each connection relayed to the broker's WebSocket;
/// stopped with its connections on drop. The socket file stays: the relay of the row's
/// next connection settings may already listen there (the MTP restarts beside the old one
/// stopping), and the next start replaces a stale one.
pub(crate) struct Relay {
    path: PathBuf,
    task: JoinHandle<()>,
}

impl Relay {
    /// Listens at `path` (a stale socket file there is replaced) and relays each connection
    /// to `url` (`ws://`, or `wss://` checked against `trust`), taking messages of at most
    /// `max_message` bytes from the broker.
    pub(crate) fn start(
        path: PathBuf,
        url: String,
        trust: Option<Trust>,
        max_message: usize,
    ) -> Result<Self, String> {
        let listener =
            crate::uds::bind_replacing(&path).map_err(|e| format!("{}: {e}", path.display()))?;
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600))
            .map_err(|e| format!("{}: {e}", path.display()))?;
        let task = tokio::spawn(async move {
            // Dropped with the task, the connections with it.
            let mut connections = JoinSet::new();
            while let Ok((local, _)) = listener.accept().await {
                while connections.try_join_next().is_some() {}
                let (url, trust) = (url.clone(), trust.clone());
                connections.spawn(async move {
                    if let Err(error) = relay(local, &url, trust.as_ref(), max_message).await {
                        tracing::warn!(url, error, "MQTT over WebSocket: connection ended");
                    }
                });
            }
        });
        Ok(Self { path, task })
    }

    /// The socket rumqttc connects to.
    pub(crate) fn path(&self) -> &Path {
        &self.path
    }
}

impl Drop for Relay {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// Opens the WebSocket to `url` and carries bytes both ways between it and `local` until
/// either side closes; why it ended, if not by a close.
async fn relay(
    mut local: UnixStream,
    url: &str,
    trust: Option<&Trust>,
    max_message: usize,
) -> Result<(), String> {
    let mut request = url.into_client_request().map_err(|e| e.to_string())?;
    (request.headers_mut()).insert(
        header::SEC_WEBSOCKET_PROTOCOL,
        HeaderValue::from_static(SUBPROTOCOL),
    );
    let uri: Uri = request.uri().clone();
    let config = WebSocketConfig::default()
        .max_message_size(Some(max_message))
        .max_frame_size(Some(max_message));
    let open = async {
        let stream = tls::connect(&uri, trust).await.map_err(|e| e.to_string())?;
        tokio_tungstenite::client_async_with_config(request, stream, Some(config))
            .await
            .map_err(|e| e.to_string())
    };
    let (ws, response) = tokio::time::timeout(WS_TIMEOUT, open)
        .await
        .map_err(|_| "opening the WebSocket timed out".to_owned())??;
    let accepted = (response.headers().get(header::SEC_WEBSOCKET_PROTOCOL))
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.trim().eq_ignore_ascii_case(SUBPROTOCOL));
    if !accepted {
        return Err(format!(
            "the broker did not accept the subprotocol {SUBPROTOCOL}"
        ));
    }
    let (mut sink, mut messages) = ws.split();
    let (mut from_client, mut to_client) = local.split();
    // Each direction in its own loop: a broker slow to take what rumqttc writes never holds
    // up what it sends, nor the other way round.
    let upstream = async {
        let mut read = BytesMut::new();
        loop {
            read.reserve(READ_CHUNK);
            match from_client.read_buf(&mut read).await {
                Ok(0) | Err(_) => return Ok(()),
                Ok(_) => {
                    let bytes = read.split().freeze();
                    sink.send(Message::Binary(bytes))
                        .await
                        .map_err(|e| e.to_string())?;
                }
            }
        }
    };
    let downstream = async {
        loop {
            match messages.next().await {
                Some(Ok(Message::Binary(bytes))) => {
                    to_client
                        .write_all(&bytes)
                        .await
                        .map_err(|e| e.to_string())?;
                }
                Some(Ok(Message::Ping(_) | Message::Pong(_) | Message::Frame(_))) => {}
                Some(Ok(Message::Text(_))) => return Err("a text message from the broker".into()),
                Some(Ok(Message::Close(_))) | None => return Ok(()),
                Some(Err(error)) => return Err(error.to_string()),
            }
        }
    };
    let ended: Result<(), String> = tokio::select! {
        ended = upstream => ended,
        ended = downstream => ended,
    };
    let _ = tokio::time::timeout(WS_TIMEOUT, sink.close()).await;
    ended
}
