//! The USP STOMP MTP (TR-369 "STOMP Binding"): a tokio driver around usp-core's sans-IO
//! STOMP 1.2 client ([`usp_core::mtp::stomp::client`]), which builds and parses the frames,
//! subscribes and keeps the heart-beats.
//!
//! The agent connects to the broker of its `Device.STOMP.Connection.{i}.` row (over TLS with
//! `EnableEncryption`, the broker checked against the agent's CA certificates, [`Trust`]),
//! sends a `STOMP` frame with its Endpoint ID, `Username`/`Password` and `VirtualHost`,
//! subscribes to the `subscribe-dest` of `CONNECTED` or else to its MTP row's `Destination`
//! (with neither the MTP is misconfigured), sends a `stomp_connect` Record to every
//! controller's `Destination`, and answers each Record at the `reply-to-dest` it came with
//! (without one, at the destination configured for the controller). A lost connection, an
//! `ERROR` frame, a frame that cannot be parsed or silent heart-beats end the connection; the
//! agent reconnects with the row's `ServerRetry*` backoff.
//!
//! `Status` and `LastChangeDate` of the connection row, the MTP row's `Status` and
//! `STOMP.DestinationFromServer` are live ([`Report::stomp`]). Any change of the rows restarts
//! the MTP (STOMP has no way to change a subscription's settings on an open connection that
//! the agent would need).
//!
//! Each enabled connection row in use runs its own task, with its own reconnect waits and
//! status (controllers behind different brokers). The Records of one connection share one
//! link of the driver, keyed by the connection's row; the [`Mtp::reply_to`] of a Record is
//! the row and the destination together ([`address`]), so that an answer goes back on the
//! connection its request came in on, and a controller's notifications on the connection its
//! MTP row names.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use bytes::Bytes;
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
use tokio::sync::{mpsc, watch};
use tokio_tungstenite::tungstenite::http::Uri;
use usp_core::agent::{Mtp, MtpKind};
use usp_core::codec::RecordBuilder;
use usp_core::mtp::stomp::client::{Client, ClientConfig, ClientError, Event};
use usp_core::usp_record::stomp_connect_record::StompVersion;

use crate::mtp::{Report, StompStatus, address, split_address};
use crate::tls::{self, Trust};
use crate::usp::{
    Backoff, MtpInput, NetworkUp, Outbound, Waited, encode_own, next_conn, sleep_until,
};

/// Records queued for the broker before the driver drops them.
const SEND_QUEUE: usize = 256;
/// Bytes read at a time.
const READ_CHUNK: usize = 16 * 1024;
/// How long the TCP connection and the TLS handshake may take.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(30);
/// How long the last Records and the DISCONNECT may take at shutdown.
const DISCONNECT_GRACE: Duration = Duration::from_secs(2);

/// `[usp.stomp]`: the STOMP MTP (TR-181 `Device.STOMP.Connection.{i}.` and
/// `Device.LocalAgent.MTP.{i}.STOMP.`), with TR-181's defaults.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct StompConfig {
    /// Whether to connect.
    pub(crate) enable: bool,
    /// Broker host name or address (`Host`).
    pub(crate) host: String,
    /// Broker port (`Port`).
    pub(crate) port: u16,
    /// STOMP over TLS, the broker checked against the agent's CA certificates
    /// (`EnableEncryption`).
    pub(crate) tls: bool,
    /// `login`; empty sends no credentials (`Username`).
    pub(crate) username: String,
    /// `passcode` (`Password`).
    pub(crate) password: String,
    /// `host` of the STOMP frame; empty leaves it out, for the broker's default
    /// (`VirtualHost`).
    pub(crate) virtual_host: String,
    /// Where the agent receives, unless the broker names another (`Destination`).
    pub(crate) destination: String,
    /// Whether to offer heart-beats (`EnableHeartbeats`).
    pub(crate) heartbeats: bool,
    /// What the agent can send, in milliseconds (`OutgoingHeartbeat`).
    pub(crate) outgoing_heartbeat_ms: u32,
    /// What the agent wants to receive, in milliseconds (`IncomingHeartbeat`).
    pub(crate) incoming_heartbeat_ms: u32,
    /// First reconnect wait in seconds (`ServerRetryInitialInterval`).
    pub(crate) retry_initial_s: u32,
    /// Growth of the wait per attempt in thousandths (`ServerRetryIntervalMultiplier`).
    pub(crate) retry_multiplier: u32,
    /// Longest reconnect wait in seconds (`ServerRetryMaxInterval`).
    pub(crate) retry_max_s: u32,
    /// Controllers reached over STOMP: Endpoint ID → destination
    /// (`Controller.{i}.MTP.{i}.STOMP.Destination`).
    pub(crate) controllers: BTreeMap<String, String>,
}

impl Default for StompConfig {
    fn default() -> Self {
        Self {
            enable: false,
            host: "127.0.0.1".into(),
            port: 61613,
            tls: false,
            username: String::new(),
            password: String::new(),
            virtual_host: String::new(),
            destination: String::new(),
            heartbeats: false,
            outgoing_heartbeat_ms: 0,
            incoming_heartbeat_ms: 0,
            retry_initial_s: 60,
            retry_multiplier: 2000,
            retry_max_s: 30720,
            controllers: BTreeMap::new(),
        }
    }
}

impl StompConfig {
    /// What the sans-IO client sends for agent `endpoint_id`.
    fn client(&self, endpoint_id: &str) -> ClientConfig {
        let mut config = ClientConfig::new(endpoint_id, &self.destination)
            .with_virtual_host(&self.virtual_host)
            .with_credentials(&self.username, &self.password);
        if self.heartbeats {
            config = config.with_heart_beat(self.outgoing_heartbeat_ms, self.incoming_heartbeat_ms);
        }
        config
    }

    /// The reconnect waits of the connection row (`ServerRetry*`).
    pub(crate) fn backoff(&self) -> Backoff {
        Backoff::Ceiling {
            initial_s: self.retry_initial_s,
            multiplier: self.retry_multiplier,
            max_s: self.retry_max_s,
        }
    }

    /// The broker as a URL for [`tls::connect`]: `https` when over TLS.
    fn url(&self) -> Result<Uri, String> {
        let scheme = if self.tls { "https" } else { "http" };
        let host = if self.host.contains(':') {
            format!("[{}]", self.host)
        } else {
            self.host.clone()
        };
        format!("{scheme}://{host}:{}/", self.port)
            .parse()
            .map_err(|e| format!("STOMP Host {:?}: {e}", self.host))
    }
}

/// How a connection ended.
enum Ended {
    /// The agent is shutting down, or the supervisor stops the MTP.
    Shutdown,
    /// Lost; retried after a wait, with this status meanwhile.
    Lost(String, StompStatus),
    /// Cannot work as configured; not retried.
    Misconfigured(String),
}

/// The STOMP MTP task; see the [module docs](self).
pub(crate) struct StompMtp {
    config: StompConfig,
    /// The connection row, the key of the driver's link.
    connection: String,
    broker: Uri,
    endpoint_id: String,
    /// The agent's E2E key, signing the STOMPConnect Records ([`encode_own`]).
    signer: Option<Trust>,
    agent: mpsc::Sender<MtpInput>,
    network: NetworkUp,
    shutdown: watch::Receiver<bool>,
    trust: Option<Trust>,
    /// Where the connection's state goes (the connection's and the MTP's `Status`).
    report: Report,
}

impl StompMtp {
    /// The task for `config` (of the connection row `connection`) as agent `endpoint_id`,
    /// checking a TLS broker against `trust` (required when `config.tls` is on), reporting its
    /// state to `report`.
    #[allow(clippy::too_many_arguments)] // Each is a distinct piece of the task's context.
    pub(crate) fn new(
        config: StompConfig,
        connection: &str,
        endpoint_id: &str,
        agent: mpsc::Sender<MtpInput>,
        network: NetworkUp,
        shutdown: watch::Receiver<bool>,
        trust: Option<&Trust>,
        report: Report,
    ) -> Result<Self, String> {
        if config.tls && trust.is_none() {
            return Err(
                "STOMP EnableEncryption needs CA certificates ([tls] ca_file or the system's)"
                    .into(),
            );
        }
        if config.host.is_empty() {
            return Err("no STOMP Host".into());
        }
        Ok(Self {
            broker: config.url()?,
            config,
            connection: connection.to_owned(),
            endpoint_id: endpoint_id.to_owned(),
            signer: trust.cloned(),
            agent,
            network,
            shutdown,
            trust: trust.cloned(),
            report,
        })
    }

    /// Connects, serves and reconnects until shutdown (or until the MTP cannot work).
    pub(crate) async fn run(mut self) {
        let mut attempt: u32 = 0;
        loop {
            self.report.stomp(StompStatus::Connecting, None).await;
            let (ended, was_up) = self.connection().await;
            match ended {
                Ended::Shutdown => break,
                Ended::Misconfigured(reason) => {
                    tracing::error!(connection = %self.connection, reason, "USP STOMP MTP disabled");
                    self.report.stomp(StompStatus::Misconfigured, None).await;
                    return;
                }
                Ended::Lost(reason, status) => {
                    tracing::warn!(connection = %self.connection, reason, "USP STOMP connection lost");
                    self.report.stomp(status, None).await;
                }
            }
            attempt = if was_up { 1 } else { attempt.saturating_add(1) };
            let wait = self.config.backoff().wait(attempt, tls::random_seed());
            tracing::info!(connection = %self.connection, attempt, ?wait, "STOMP reconnect scheduled");
            match self.network.wait(wait, &mut self.shutdown).await {
                Waited::Shutdown => break,
                Waited::NetworkUp => attempt = 0,
                Waited::Elapsed => {}
            }
        }
        tracing::info!(connection = %self.connection, "STOMP MTP stopped");
    }

    /// One connection, from the TCP connect to its end; true with it when `CONNECTED` came.
    async fn connection(&mut self) -> (Ended, bool) {
        let connecting = tls::connect(&self.broker, self.trust.as_ref());
        let stream = match tokio::time::timeout(CONNECT_TIMEOUT, connecting).await {
            Ok(Ok(stream)) => stream,
            Ok(Err(error)) => {
                return (
                    Ended::Lost(error.to_string(), StompStatus::Unreachable),
                    false,
                );
            }
            Err(_) => {
                let reason = "the broker did not answer in time".into();
                return (Ended::Lost(reason, StompStatus::Unreachable), false);
            }
        };
        let (mut reader, mut writer) = tokio::io::split(stream);
        let mut client = Client::new(self.config.client(&self.endpoint_id), Instant::now());
        let (tx, mut rx) = mpsc::channel::<Outbound>(SEND_QUEUE);
        let conn = next_conn();
        let mut up = false;
        let mut chunk = vec![0; READ_CHUNK];
        let mut out = Vec::new();
        let ended = loop {
            while let Some(event) = client.poll_event() {
                match event {
                    Event::Connected {
                        destination,
                        from_server,
                        server,
                    } => {
                        tracing::info!(
                            connection = %self.connection,
                            server = server.as_deref().unwrap_or_default(),
                            "USP STOMP MTP connected, subscribed to {destination}"
                        );
                        self.greet(&mut client, &destination);
                        let info = Some(from_server.as_deref().unwrap_or_default());
                        self.report.stomp(StompStatus::Connected, info).await;
                        let connected = MtpInput::Connected {
                            key: self.connection.clone(),
                            conn,
                            tx: tx.clone(),
                        };
                        if self.agent.send(connected).await.is_err() {
                            return (Ended::Shutdown, up);
                        }
                        up = true;
                    }
                    Event::Record { body, reply_to } => {
                        // Without a reply-to-dest the agent answers at the destination (and
                        // on the connection) of the controller's MTP row.
                        let reply_to = (reply_to.as_deref())
                            .filter(|to| !to.is_empty())
                            .map(|to| address(&self.connection, to));
                        let mtp = Mtp::new(MtpKind::Stomp, reply_to.unwrap_or_default());
                        let bytes = Bytes::from(body);
                        if self
                            .agent
                            .send(MtpInput::Record { mtp, bytes })
                            .await
                            .is_err()
                        {
                            return (Ended::Shutdown, up);
                        }
                    }
                    Event::Dropped { content_type } => {
                        tracing::debug!(
                            content_type,
                            "STOMP MESSAGE that is no USP Record dropped"
                        );
                    }
                    // Events a later client may add; none needs the driver today.
                    _ => {}
                }
            }
            if client.poll_transmit(&mut out) {
                let written = writer.write_all(&out).await;
                out.clear();
                if let Err(error) = written {
                    break Ended::Lost(error.to_string(), StompStatus::Unreachable);
                }
            }
            let timer = client.poll_timeout().map(tokio::time::Instant::from_std);
            tokio::select! {
                _ = self.shutdown.changed() => {
                    // What the driver queued (the response to the request that stopped this
                    // MTP) goes out before the DISCONNECT.
                    while let Ok(outbound) = rx.try_recv() {
                        send(&mut client, &outbound);
                    }
                    client.disconnect(Instant::now());
                    client.poll_transmit(&mut out);
                    let _ = tokio::time::timeout(DISCONNECT_GRACE, async {
                        let _ = writer.write_all(&out).await;
                        let _ = writer.shutdown().await;
                    })
                    .await;
                    break Ended::Shutdown;
                }
                read = reader.read(&mut chunk) => match read {
                    Ok(0) => {
                        let reason = "the broker closed the connection".into();
                        break Ended::Lost(reason, StompStatus::Unreachable);
                    }
                    Ok(n) => {
                        let bytes = chunk.get(..n).unwrap_or_default();
                        if let Err(error) = client.handle_input(Instant::now(), bytes) {
                            break ended(error, up);
                        }
                    }
                    Err(error) => break Ended::Lost(error.to_string(), StompStatus::Unreachable),
                },
                Some(outbound) = rx.recv() => send(&mut client, &outbound),
                () = sleep_until(timer) => {
                    if let Err(error) = client.handle_timeout(Instant::now()) {
                        break ended(error, up);
                    }
                }
            }
        };
        if up {
            let closed = MtpInput::Closed {
                key: self.connection.clone(),
                conn,
            };
            let _ = self.agent.send(closed).await;
        }
        (ended, up)
    }

    /// Queues a `stomp_connect` Record for every controller's destination (R-MTP.6); the
    /// client is connected, so it takes them.
    fn greet(&self, client: &mut Client, destination: &str) {
        for (controller, to) in &self.config.controllers {
            let record = RecordBuilder::new(controller.as_str(), self.endpoint_id.as_str())
                .stomp_connect(StompVersion::V12, destination);
            // A broker's connection never protects it.
            let mtp = Mtp::new(MtpKind::Stomp, to.clone());
            let bytes = encode_own(self.signer.as_ref(), &mtp, record);
            let _ = client.send_record(Instant::now(), to, &bytes);
        }
    }
}

/// Queues a Record of the driver for its destination.
fn send(client: &mut Client, outbound: &Outbound) {
    let (_, destination) = split_address(&outbound.reply_to);
    if destination.is_empty() {
        tracing::warn!("USP Record without a STOMP destination dropped");
        return;
    }
    if let Err(error) = client.send_record(Instant::now(), destination, &outbound.bytes) {
        tracing::warn!(%error, "USP Record not sent over STOMP");
    }
}

/// How the client's `error` ends the connection; `up` when `CONNECTED` had come.
fn ended(error: ClientError, up: bool) -> Ended {
    let status = match &error {
        ClientError::NoDestination => {
            return Ended::Misconfigured(
                "no destination to subscribe to (set STOMP.Destination, or [usp.stomp] \
                 destination)"
                    .into(),
            );
        }
        // An ERROR answering the STOMP frame: credentials or virtual host refused.
        ClientError::Refused(_) if !up => StompStatus::AuthenticationFailed,
        ClientError::HeartBeatTimeout | ClientError::ConnectTimeout => StompStatus::Unreachable,
        _ => StompStatus::Error,
    };
    Ended::Lost(error.to_string(), status)
}
