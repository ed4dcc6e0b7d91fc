//! The USP WebSocket MTP (TR-369 "WebSocket Binding"), both ways: the agent's server, which
//! controllers connect to naming themselves with `?eid=` (or the deprecated
//! `bbf-usp-protocol` extension), and the agent's client ([`WsClient`]), which connects out
//! to a controller's server and reconnects with the `SessionRetry` backoff. Either way: the
//! subprotocol `v1.usp`, a WebSocketConnect Record first, one binary message per Record
//! (a text message closes with 1003), Pings from the agent, one task per connection.
//!
//! Both run over TLS too: the server (`wss://`) when `[usp.websocket]` names a certificate and
//! its key, the client for `wss://` URLs, checking the peer against the agent's CA
//! certificates ([`Trust`]). The `wss://` server requires a client certificate (TR-369
//! R-MTP.1). A peer certificate that names Endpoint IDs (`urn:bbf:usp:id:`, [`PeerIds`])
//! binds the connection to them: the server refuses a handshake whose `eid` is another, the
//! client a server that is not the controller it wants, and either hands them to the agent
//! with each Record ([`Mtp::authenticated`](usp_core::agent::Mtp::authenticated)), which ignores a Record whose `from_id` is another
//! (TR-369 R-MTP.5: a Record without a valid `from_id` is ignored) after its one decode.
//! A controller whose certificate the server trusted on first use (`ControllerTrust.
//! TOFUAllowed`, see `tls.rs`) has its connection closed once it has sent no Record for
//! `ControllerTrust.TOFUInactivityTimer` seconds (0: never), as the XML asks of a connection
//! set up under TOFU.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use futures_util::{SinkExt as _, StreamExt as _};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{mpsc, watch};
use tokio_rustls::TlsAcceptor;
use tokio_rustls::rustls::pki_types::CertificateDer;
use tokio_tungstenite::WebSocketStream;
use tokio_tungstenite::tungstenite::client::IntoClientRequest as _;
use tokio_tungstenite::tungstenite::handshake::server::{ErrorResponse, Request, Response};
use tokio_tungstenite::tungstenite::http::{HeaderValue, StatusCode, header};
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;
use tokio_tungstenite::tungstenite::protocol::{CloseFrame, WebSocketConfig};
use tokio_tungstenite::tungstenite::{Bytes, Message};
use usp_core::Limits;
use usp_core::agent::MtpKind;
use usp_core::codec::RecordBuilder;
use usp_core::mtp::websocket::{
    CLOSE_UNPARSABLE_RECORD, EID_PARAM, SUBPROTOCOL, eid_query_value, extension_eid,
    extension_header, offers_subprotocol,
};

use crate::config;
use crate::tls::{self, Io, PeerIds, Reloads, Trust};
use crate::usp::{Backoff, MtpInput, NetworkUp, Outbound, Waited, encode_own, next_conn};

/// Records queued for one connection before the driver drops them.
const SEND_QUEUE: usize = 256;
/// How long the client's TCP connect, TLS and WebSocket handshakes may take (and the
/// server's TLS and WebSocket handshakes).
const CONNECT_TIMEOUT: Duration = Duration::from_secs(30);

/// The bound server, ready to [`serve`](Self::serve).
pub(crate) struct WsServer {
    listener: TcpListener,
    endpoint_id: String,
    path: String,
    ping: Option<Duration>,
    /// The TLS settings of a `wss://` server.
    tls: Option<ServerTls>,
    /// The agent's E2E key, signing the Connect Records ([`encode_own`]).
    signer: Option<Trust>,
}

impl WsServer {
    /// Binds the listening socket of agent `endpoint_id`; a `wss://` server checks client
    /// certificates against `trust`.
    pub(crate) async fn bind(
        config: &config::WebSocketConfig,
        endpoint_id: &str,
        trust: Option<&Trust>,
    ) -> Result<Self, String> {
        let tls = match (&config.cert_file, &config.key_file, trust) {
            (Some(cert), Some(key), Some(trust)) => Some(ServerTls {
                acceptor: tls::acceptor(cert, key, trust)?,
                reloads: trust.reloads(),
                files: (cert.clone(), key.clone()),
                trust: trust.clone(),
            }),
            (Some(_), Some(_), None) => return Err(tls::NO_CONTROLLER_CAS.into()),
            (None, None, _) => None,
            _ => return Err("[usp.websocket] needs both cert_file and key_file for TLS".into()),
        };
        let listener = TcpListener::bind(config.listen)
            .await
            .map_err(|e| format!("cannot listen on {}: {e}", config.listen))?;
        Ok(Self {
            listener,
            endpoint_id: endpoint_id.to_owned(),
            path: config.path.clone(),
            ping: (config.ping_interval_s > 0).then(|| Duration::from_secs(config.ping_interval_s)),
            tls,
            signer: trust.cloned(),
        })
    }

    /// The address it listens on.
    pub(crate) fn local_addr(&self) -> std::io::Result<SocketAddr> {
        self.listener.local_addr()
    }

    /// The URL controllers connect to.
    pub(crate) fn url(&self) -> String {
        let scheme = if self.tls.is_some() { "wss" } else { "ws" };
        match self.local_addr() {
            Ok(addr) => format!("{scheme}://{addr}{}", self.path),
            Err(_) => format!("{scheme}://?{}", self.path),
        }
    }

    /// Accepts connections until `shutdown`.
    pub(crate) async fn serve(
        mut self,
        agent: mpsc::Sender<MtpInput>,
        shutdown: watch::Receiver<bool>,
    ) {
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
            let session = Session {
                endpoint_id: self.endpoint_id.clone(),
                trust: self.signer.clone(),
                ping: self.ping,
                agent: agent.clone(),
                shutdown: shutdown.clone(),
            };
            tokio::spawn(accept(
                session,
                stream,
                peer,
                self.path.clone(),
                self.tls.as_mut().map(ServerTls::current),
            ));
        }
    }
}

/// The TLS settings of the `wss://` server: those of its certificate files and the agent's
/// trust, made again when the trust is reloaded (a certificate file that no longer reads
/// keeps the settings as they were).
struct ServerTls {
    acceptor: TlsAcceptor,
    reloads: Reloads,
    /// The server's certificate chain and its private key.
    files: (PathBuf, PathBuf),
    trust: Trust,
}

impl ServerTls {
    /// The settings for the next connection, after the latest reload of the trust.
    fn current(&mut self) -> (TlsAcceptor, Trust) {
        if self.reloads.happened() {
            let (cert, key) = &self.files;
            match tls::acceptor(cert, key, &self.trust) {
                Ok(acceptor) => self.acceptor = acceptor,
                Err(error) => tracing::warn!(error, "wss:// server keeps its TLS settings"),
            }
        }
        (self.acceptor.clone(), self.trust.clone())
    }
}

/// What a USP session on a WebSocket needs besides the socket.
struct Session {
    endpoint_id: String,
    /// The agent's trust: its E2E key signs the Connect Record ([`encode_own`]), its CAs
    /// check a `wss://` server.
    trust: Option<Trust>,
    ping: Option<Duration>,
    agent: mpsc::Sender<MtpInput>,
    shutdown: watch::Receiver<bool>,
}

/// How a session ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Ended {
    /// The agent is shutting down, or this MTP stopping.
    Shutdown,
    /// The connection closed or failed.
    Closed,
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

/// Serves one accepted connection: the handshakes (TLS with `tls`, then WebSocket), then the
/// session.
async fn accept(
    session: Session,
    stream: TcpStream,
    peer: SocketAddr,
    path: String,
    tls: Option<(TlsAcceptor, Trust)>,
) {
    let (stream, ids, idle, revocable): (Box<dyn Io>, _, _, _) = match tls {
        None => (Box::new(stream), PeerIds::default(), None, None),
        Some((tls, trust)) => {
            let Some(stream) = bounded(&peer, "TLS", tls.accept(stream)).await else {
                return;
            };
            let chain = stream.get_ref().1.peer_certificates();
            match PeerIds::controller(chain, &trust) {
                Ok(ids) => {
                    let idle = ids.first_use().then(|| trust.tofu_inactivity()).flatten();
                    if ids.first_use() {
                        tracing::info!(%peer, "controller certificate trusted on first use");
                    }
                    let revocable = Revocable {
                        reloads: trust.reloads(),
                        chain: chain
                            .unwrap_or_default()
                            .iter()
                            .map(|c| c.clone().into_owned())
                            .collect(),
                        trust,
                    };
                    (Box::new(stream), ids, idle, Some(revocable))
                }
                Err(error) => {
                    tracing::info!(%peer, error, "TLS client refused");
                    return;
                }
            }
        }
    };
    let mut eid = None;
    #[allow(clippy::result_large_err)] // tungstenite's callback type.
    let callback = |request: &Request, response: Response| {
        let (response, found) = check_handshake(&path, request, response)?;
        if let Some(found) = &found
            && !ids.allows(found)
        {
            return Err(refuse(
                StatusCode::FORBIDDEN,
                "the eid is not an Endpoint ID of the client certificate",
            ));
        }
        eid = found;
        Ok(response)
    };
    let handshake =
        tokio_tungstenite::accept_hdr_async_with_config(stream, callback, Some(ws_config()));
    let Some(ws) = bounded(&peer, "WebSocket", handshake).await else {
        return;
    };
    tracing::info!(
        %peer,
        controller = eid.as_deref().unwrap_or("(unnamed)"),
        "USP controller connected over WebSocket"
    );
    session
        .run(ws, &peer.to_string(), eid.as_deref(), &ids, idle, revocable)
        .await;
}

/// Runs the `what` handshake with `peer` within [`CONNECT_TIMEOUT`]; a failure is logged.
async fn bounded<T, E: std::fmt::Display>(
    peer: &SocketAddr,
    what: &str,
    handshake: impl Future<Output = Result<T, E>>,
) -> Option<T> {
    match tokio::time::timeout(CONNECT_TIMEOUT, handshake).await {
        Ok(Ok(done)) => Some(done),
        Ok(Err(error)) => {
            tracing::info!(%peer, %error, "{what} handshake refused");
            None
        }
        Err(_) => {
            tracing::info!(%peer, "{what} handshake timed out");
            None
        }
    }
}

/// Frame limits: one Record per message, at most the USP Record limit.
fn ws_config() -> WebSocketConfig {
    let limit = Limits::default().max_record_bytes;
    WebSocketConfig::default()
        .max_message_size(Some(limit))
        .max_frame_size(Some(limit))
}

impl Session {
    /// Runs one USP session with controller `eid` (unnamed: a key of its own, no Connect
    /// Record) on an open WebSocket: the WebSocketConnect Record, the link to the driver, then
    /// Records both ways until either side closes, or until the controller has sent no Record
    /// for `idle`, or until a reload of the trust revokes the controller's certificate
    /// (`revocable`). Records go to the agent with `ids`, the Endpoint IDs the connection
    /// authenticated.
    async fn run(
        &self,
        ws: WebSocketStream<Box<dyn Io>>,
        peer: &str,
        eid: Option<&str>,
        ids: &PeerIds,
        idle: Option<Duration>,
        mut revocable: Option<Revocable>,
    ) -> Ended {
        let conn = next_conn();
        let key = eid.map_or_else(|| format!("ws-{conn}"), str::to_owned);
        let mtp = ids.mtp(MtpKind::WebSocket, key.clone());
        let (mut sink, mut stream) = ws.split();
        if let Some(eid) = eid {
            let connect = RecordBuilder::new(eid, self.endpoint_id.clone()).websocket_connect();
            let bytes = encode_own(self.trust.as_ref(), &mtp, connect);
            if sink
                .send(Message::Binary(Bytes::from(bytes)))
                .await
                .is_err()
            {
                return Ended::Closed;
            }
        }
        let (tx, mut rx) = mpsc::channel::<Outbound>(SEND_QUEUE);
        let connected = MtpInput::Connected {
            key: key.clone(),
            conn,
            tx,
        };
        if self.agent.send(connected).await.is_err() {
            return Ended::Shutdown;
        }
        let mut shutdown = self.shutdown.clone();
        let mut ping = tokio::time::interval(self.ping.unwrap_or(Duration::from_secs(3600)));
        ping.reset();
        let quiet = tokio::time::sleep(idle.unwrap_or(Duration::from_secs(3600)));
        tokio::pin!(quiet);
        let (ended, reason) = loop {
            tokio::select! {
                _ = shutdown.changed() => {
                    // Records already queued (the response to the request that stopped this
                    // MTP) go out before the close.
                    while let Ok(Outbound { bytes, .. }) = rx.try_recv() {
                        if sink.send(Message::Binary(Bytes::from(bytes))).await.is_err() {
                            break;
                        }
                    }
                    let _ = sink.send(close(CloseCode::Away, "MTP stopping")).await;
                    break (Ended::Shutdown, "MTP stopped");
                }
                incoming = stream.next() => match incoming {
                    Some(Ok(Message::Binary(bytes))) => {
                        if let Some(idle) = idle {
                            quiet.as_mut().reset(tokio::time::Instant::now() + idle);
                        }
                        let record = MtpInput::Record { mtp: mtp.clone(), bytes };
                        if self.agent.send(record).await.is_err() {
                            break (Ended::Shutdown, "agent gone");
                        }
                    }
                    Some(Ok(Message::Text(_))) => {
                        // R-WS: Records travel in binary messages only.
                        let code = CloseCode::from(CLOSE_UNPARSABLE_RECORD);
                        let _ = sink.send(close(code, "USP Records are binary messages")).await;
                        break (Ended::Closed, "text message");
                    }
                    Some(Ok(Message::Close(_))) | None => break (Ended::Closed, "closed by the controller"),
                    Some(Ok(_)) => {}
                    Some(Err(_)) => break (Ended::Closed, "WebSocket error"),
                },
                outgoing = rx.recv() => match outgoing {
                    Some(Outbound { bytes, .. }) => {
                        if sink.send(Message::Binary(Bytes::from(bytes))).await.is_err() {
                            break (Ended::Closed, "send failed");
                        }
                    }
                    None if *shutdown.borrow() => {
                        let _ = sink.send(close(CloseCode::Away, "agent shutting down")).await;
                        break (Ended::Shutdown, "agent shutdown");
                    }
                    None => {
                        let _ = sink.send(close(CloseCode::Policy, "replaced by a newer connection")).await;
                        break (Ended::Closed, "replaced");
                    }
                },
                () = revoked(&mut revocable) => {
                    let _ = sink.send(close(CloseCode::Policy, "certificate revoked")).await;
                    break (Ended::Closed, "its certificate revoked by a reloaded CRL");
                }
                () = &mut quiet, if idle.is_some() => {
                    let _ = sink.send(close(CloseCode::Policy, "TOFUInactivityTimer elapsed")).await;
                    break (Ended::Closed, "no Record within TOFUInactivityTimer");
                }
                _ = ping.tick(), if self.ping.is_some() => {
                    if sink.send(Message::Ping(Bytes::new())).await.is_err() {
                        break (Ended::Closed, "ping failed");
                    }
                }
            }
        };
        tracing::info!(peer, controller = %key, reason, "USP WebSocket connection closed");
        let _ = self.agent.send(MtpInput::Closed { key, conn }).await;
        ended
    }
}

/// A controller's certificate chain that the `wss://` server accepted, checked again at each
/// reload of the trust: a session stays open only while no CRL lists its certificate.
struct Revocable {
    trust: Trust,
    chain: Vec<CertificateDer<'static>>,
    reloads: Reloads,
}

/// Returns once a reload of the trust revokes the certificate of `revocable`; never without.
async fn revoked(revocable: &mut Option<Revocable>) {
    loop {
        tls::next_reload(revocable.as_mut().map(|r| &mut r.reloads)).await;
        if revocable
            .as_ref()
            .is_some_and(|r| r.trust.revokes(&r.chain))
        {
            return;
        }
    }
}

/// `[usp.websocket_client]`: controllers whose WebSocket server the agent connects to
/// (TR-181 `Controller.{i}.MTP.{i}.WebSocket.`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct WsClientConfig {
    /// First wait before reconnecting, in seconds (`SessionRetryMinimumWaitInterval`).
    pub(crate) retry_min_wait_s: u32,
    /// Growth of the wait per attempt in thousandths (`SessionRetryIntervalMultiplier`).
    pub(crate) retry_interval_multiplier: u32,
    /// Seconds between the agent's WebSocket Pings (0: none; `KeepAliveInterval`).
    pub(crate) ping_interval_s: u64,
    /// Controller Endpoint ID → the `ws://` or `wss://host:port/path` URL of its server.
    pub(crate) controllers: BTreeMap<String, String>,
}

impl WsClientConfig {
    /// The reconnect waits of the controller's MTP row (`SessionRetry*`; TR-181 gives them no
    /// maximum).
    pub(crate) fn backoff(&self) -> Backoff {
        Backoff::Window {
            min_wait_s: self.retry_min_wait_s,
            multiplier: self.retry_interval_multiplier,
            max_s: None,
        }
    }
}

impl Default for WsClientConfig {
    fn default() -> Self {
        Self {
            retry_min_wait_s: 5,
            retry_interval_multiplier: 2000,
            ping_interval_s: 30,
            controllers: BTreeMap::new(),
        }
    }
}

/// The agent's WebSocket client towards one controller's server.
pub(crate) struct WsClient {
    controller: String,
    url: String,
    backoff: Backoff,
    network: NetworkUp,
    session: Session,
}

impl WsClient {
    /// The client of agent `endpoint_id` for `controller` at `url`, checking a `wss://`
    /// server against `trust`.
    #[allow(clippy::too_many_arguments)] // Each is a distinct piece of the task's context.
    pub(crate) fn new(
        config: &WsClientConfig,
        controller: &str,
        url: &str,
        endpoint_id: &str,
        agent: mpsc::Sender<MtpInput>,
        network: NetworkUp,
        shutdown: watch::Receiver<bool>,
        trust: Option<Trust>,
    ) -> Self {
        Self {
            session: Session {
                endpoint_id: endpoint_id.to_owned(),
                trust,
                ping: (config.ping_interval_s > 0)
                    .then(|| Duration::from_secs(config.ping_interval_s)),
                agent,
                shutdown,
            },
            controller: controller.to_owned(),
            network,
            url: url.to_owned(),
            backoff: config.backoff(),
        }
    }

    /// Connects, serves, and reconnects after a wait, until shutdown.
    pub(crate) async fn run(mut self) {
        let mut attempt: u32 = 0;
        loop {
            let connected = tokio::select! {
                _ = self.session.shutdown.changed() => return,
                connected = connect(&self.url, &self.controller, &self.session.endpoint_id, self.session.trust.as_ref()) => connected,
            };
            match connected {
                Ok((ws, ids)) => {
                    attempt = 0;
                    tracing::info!(
                        controller = %self.controller,
                        url = %self.url,
                        "USP WebSocket client connected"
                    );
                    let ended = self
                        .session
                        .run(ws, &self.url, Some(&self.controller), &ids, None, None)
                        .await;
                    if ended == Ended::Shutdown {
                        return;
                    }
                }
                Err(error) => tracing::warn!(
                    controller = %self.controller,
                    url = %self.url,
                    error,
                    "cannot connect to the controller's WebSocket server"
                ),
            }
            attempt = attempt.saturating_add(1);
            let wait = self.backoff.wait(attempt, tls::random_seed());
            tracing::info!(controller = %self.controller, attempt, ?wait, "WebSocket reconnect scheduled");
            match self.network.wait(wait, &mut self.session.shutdown).await {
                Waited::Shutdown => return,
                Waited::NetworkUp => attempt = 0,
                Waited::Elapsed => {}
            }
        }
    }
}

/// Opens a WebSocket to controller `controller` at `url` (`ws://`, or `wss://` checked
/// against `trust`, whose certificate must allow `controller`) as agent `endpoint_id`:
/// `?eid=` in the URL and the `bbf-usp-protocol` extension, the `v1.usp` subprotocol required
/// in the answer.
async fn connect(
    url: &str,
    controller: &str,
    endpoint_id: &str,
    trust: Option<&Trust>,
) -> Result<(WebSocketStream<Box<dyn Io>>, PeerIds), String> {
    let separator = if url.contains('?') { '&' } else { '?' };
    let full = format!(
        "{url}{separator}{EID_PARAM}={}",
        eid_query_value(endpoint_id)
    );
    let mut request = full.into_client_request().map_err(|e| e.to_string())?;
    let headers = request.headers_mut();
    headers.insert(
        header::SEC_WEBSOCKET_PROTOCOL,
        HeaderValue::from_static(SUBPROTOCOL),
    );
    let extension = HeaderValue::from_str(&extension_header(endpoint_id))
        .map_err(|e| format!("Endpoint ID unfit for a header: {e}"))?;
    headers.insert(header::SEC_WEBSOCKET_EXTENSIONS, extension);
    let uri = request.uri().clone();
    let handshake = async {
        let (stream, ids) = tls::connect_peer(&uri, trust)
            .await
            .map_err(|e| e.to_string())?;
        // Nothing, not even the agent's Endpoint ID, goes to a server that is another
        // controller.
        if !ids.allows(controller) {
            return Err(format!(
                "server certificate refused: it names the Endpoint IDs {ids}, not {controller}"
            ));
        }
        tokio_tungstenite::client_async_with_config(request, stream, Some(ws_config()))
            .await
            .map(|(ws, response)| (ws, response, ids))
            .map_err(|e| e.to_string())
    };
    let (ws, response, ids) = tokio::time::timeout(CONNECT_TIMEOUT, handshake)
        .await
        .map_err(|_| "timed out".to_owned())??;
    let accepted = response
        .headers()
        .get(header::SEC_WEBSOCKET_PROTOCOL)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.trim().eq_ignore_ascii_case(SUBPROTOCOL));
    if !accepted {
        return Err("the server did not accept the subprotocol v1.usp".into());
    }
    Ok((ws, ids))
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
