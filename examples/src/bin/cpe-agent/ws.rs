//! The USP WebSocket server MTP (TR-369 "WebSocket Binding"): subprotocol `v1.usp`, one
//! binary message per Record, the controller named by `?eid=` (or the deprecated
//! `bbf-usp-protocol` extension), one task per connection.

use std::net::SocketAddr;
use std::time::Duration;

use futures_util::{SinkExt as _, StreamExt as _};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{mpsc, watch};
use tokio_tungstenite::tungstenite::handshake::server::{ErrorResponse, Request, Response};
use tokio_tungstenite::tungstenite::http::{HeaderValue, StatusCode, header};
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;
use tokio_tungstenite::tungstenite::protocol::{CloseFrame, WebSocketConfig};
use tokio_tungstenite::tungstenite::{Bytes, Message};
use usp_core::Limits;
use usp_core::agent::MtpKind;
use usp_core::mtp::websocket::{
    CLOSE_UNPARSABLE_RECORD, EID_PARAM, SUBPROTOCOL, extension_eid, offers_subprotocol,
};

use crate::config;
use crate::usp::MtpInput;

/// Records queued for one connection before the driver drops them.
const SEND_QUEUE: usize = 256;

/// The bound server, ready to [`serve`](Self::serve).
pub(crate) struct WsServer {
    listener: TcpListener,
    path: String,
    ping: Option<Duration>,
}

impl WsServer {
    /// Binds the listening socket.
    pub(crate) async fn bind(config: &config::WebSocketConfig) -> std::io::Result<Self> {
        let listener = TcpListener::bind(config.listen).await?;
        Ok(Self {
            listener,
            path: config.path.clone(),
            ping: (config.ping_interval_s > 0).then(|| Duration::from_secs(config.ping_interval_s)),
        })
    }

    /// The address it listens on.
    pub(crate) fn local_addr(&self) -> std::io::Result<SocketAddr> {
        self.listener.local_addr()
    }

    /// The URL controllers connect to.
    pub(crate) fn url(&self) -> String {
        match self.local_addr() {
            Ok(addr) => format!("ws://{addr}{}", self.path),
            Err(_) => format!("ws://?{}", self.path),
        }
    }

    /// Accepts connections until `shutdown`.
    pub(crate) async fn serve(
        self,
        agent: mpsc::Sender<MtpInput>,
        shutdown: watch::Receiver<bool>,
    ) {
        let mut next_conn: u64 = 0;
        let mut stop = shutdown.clone();
        loop {
            let accepted = tokio::select! {
                _ = stop.changed() => break,
                accepted = self.listener.accept() => accepted,
            };
            let (stream, peer) = match accepted {
                Ok(accepted) => accepted,
                Err(error) => {
                    tracing::warn!(%error, "WebSocket accept failed");
                    tokio::time::sleep(Duration::from_millis(100)).await;
                    continue;
                }
            };
            next_conn = next_conn.wrapping_add(1);
            let connection = Connection {
                conn: next_conn,
                peer,
                path: self.path.clone(),
                ping: self.ping,
                agent: agent.clone(),
                shutdown: shutdown.clone(),
            };
            tokio::spawn(connection.run(stream));
        }
    }
}

struct Connection {
    conn: u64,
    peer: SocketAddr,
    path: String,
    ping: Option<Duration>,
    agent: mpsc::Sender<MtpInput>,
    shutdown: watch::Receiver<bool>,
}

/// The handshake's answer: the controller's Endpoint ID, if it gave one.
#[allow(clippy::result_large_err)] // The error type is tungstenite's handshake callback's.
fn check_handshake(
    path: &str,
    request: &Request,
    mut response: Response,
) -> Result<(Response, Option<String>), ErrorResponse> {
    if request.uri().path() != path {
        return Err(refuse(
            StatusCode::NOT_FOUND,
            "no USP endpoint at this path",
        ));
    }
    let offered = request
        .headers()
        .get_all(header::SEC_WEBSOCKET_PROTOCOL)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .any(offers_subprotocol);
    if !offered {
        return Err(refuse(
            StatusCode::BAD_REQUEST,
            "the WebSocket subprotocol v1.usp is required",
        ));
    }
    response.headers_mut().insert(
        header::SEC_WEBSOCKET_PROTOCOL,
        HeaderValue::from_static(SUBPROTOCOL),
    );
    let eid = request
        .uri()
        .query()
        .and_then(query_eid)
        .or_else(|| {
            request
                .headers()
                .get_all(header::SEC_WEBSOCKET_EXTENSIONS)
                .iter()
                .filter_map(|v| v.to_str().ok())
                .find_map(extension_eid)
        })
        .filter(|eid| !eid.is_empty());
    Ok((response, eid))
}

fn refuse(status: StatusCode, reason: &str) -> ErrorResponse {
    let mut response = ErrorResponse::new(Some(reason.to_owned()));
    *response.status_mut() = status;
    response
}

/// The `eid` parameter of a query string, percent-decoded.
fn query_eid(query: &str) -> Option<String> {
    let value = query
        .split('&')
        .find_map(|pair| pair.strip_prefix(EID_PARAM)?.strip_prefix('='))?;
    percent_decode(value)
}

fn percent_decode(value: &str) -> Option<String> {
    let bytes = value.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while let Some(&b) = bytes.get(i) {
        if b == b'%' {
            let hex = value.get(i.saturating_add(1)..i.saturating_add(3))?;
            out.push(u8::from_str_radix(hex, 16).ok()?);
            i = i.saturating_add(3);
        } else {
            out.push(b);
            i = i.saturating_add(1);
        }
    }
    String::from_utf8(out).ok()
}

impl Connection {
    async fn run(self, stream: TcpStream) {
        let mut eid = None;
        let limit = Limits::default().max_record_bytes;
        let ws_config = WebSocketConfig::default()
            .max_message_size(Some(limit))
            .max_frame_size(Some(limit));
        let path = self.path.clone();
        #[allow(clippy::result_large_err)] // tungstenite's callback type.
        let callback = |request: &Request, response: Response| {
            let (response, found) = check_handshake(&path, request, response)?;
            eid = found;
            Ok(response)
        };
        let ws = match tokio_tungstenite::accept_hdr_async_with_config(
            stream,
            callback,
            Some(ws_config),
        )
        .await
        {
            Ok(ws) => ws,
            Err(error) => {
                tracing::info!(peer = %self.peer, %error, "WebSocket handshake refused");
                return;
            }
        };
        let key = eid.clone().unwrap_or_else(|| format!("ws-{}", self.conn));
        tracing::info!(
            peer = %self.peer,
            controller = eid.as_deref().unwrap_or("(unnamed)"),
            "USP controller connected over WebSocket"
        );
        let (tx, mut rx) = mpsc::channel(SEND_QUEUE);
        let connected = MtpInput::Connected {
            key: key.clone(),
            conn: self.conn,
            tx,
            kind: MtpKind::WebSocket,
            send_connect: eid.is_some(),
        };
        if self.agent.send(connected).await.is_err() {
            return;
        }
        let (mut sink, mut stream) = ws.split();
        let mut shutdown = self.shutdown.clone();
        let mut ping = tokio::time::interval(self.ping.unwrap_or(Duration::from_secs(3600)));
        ping.reset();
        let reason = loop {
            tokio::select! {
                _ = shutdown.changed() => {
                    let _ = sink.send(close(CloseCode::Away, "agent shutting down")).await;
                    break "agent shutdown";
                }
                incoming = stream.next() => match incoming {
                    Some(Ok(Message::Binary(bytes))) => {
                        let record = MtpInput::Record {
                            key: key.clone(),
                            kind: MtpKind::WebSocket,
                            bytes: bytes.to_vec(),
                        };
                        if self.agent.send(record).await.is_err() {
                            break "agent gone";
                        }
                    }
                    Some(Ok(Message::Text(_))) => {
                        // R-WS: Records travel in binary messages only.
                        let code = CloseCode::from(CLOSE_UNPARSABLE_RECORD);
                        let _ = sink.send(close(code, "USP Records are binary messages")).await;
                        break "text message";
                    }
                    Some(Ok(Message::Close(_))) | None => break "closed by the controller",
                    Some(Ok(_)) => {}
                    Some(Err(_)) => break "WebSocket error",
                },
                outgoing = rx.recv() => match outgoing {
                    Some(bytes) => {
                        if sink.send(Message::Binary(Bytes::from(bytes))).await.is_err() {
                            break "send failed";
                        }
                    }
                    None => {
                        let _ = sink.send(close(CloseCode::Policy, "replaced by a newer connection")).await;
                        break "replaced";
                    }
                },
                _ = ping.tick(), if self.ping.is_some() => {
                    if sink.send(Message::Ping(Bytes::new())).await.is_err() {
                        break "ping failed";
                    }
                }
            }
        };
        tracing::info!(peer = %self.peer, controller = %key, reason, "USP WebSocket connection closed");
        let _ = self
            .agent
            .send(MtpInput::Closed {
                key,
                conn: self.conn,
            })
            .await;
    }
}

fn close(code: CloseCode, reason: &'static str) -> Message {
    Message::Close(Some(CloseFrame {
        code,
        reason: reason.into(),
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn eid_from_query() {
        assert_eq!(
            query_eid("eid=self::controller").as_deref(),
            Some("self::controller")
        );
        assert_eq!(
            query_eid("x=1&eid=os::a%2520b").as_deref(),
            Some("os::a%20b")
        );
        assert_eq!(query_eid("eid=%zz"), None);
        assert_eq!(query_eid("eid=%2"), None);
        assert_eq!(query_eid("other=1"), None);
    }
}
