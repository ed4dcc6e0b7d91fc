//! XMPP connection requests (TR-069 Annex K): the agent keeps the XMPP connection that
//! `Device.ManagementServer.ConnReqXMPPConnection` names (a `Device.XMPP.Connection.{i}.`
//! row) open, driving cwmp-core's sans-IO [`XmppClient`] over TCP, with STARTTLS on the agent's
//! rustls client settings ([`Trust`]). The bound JID is published as the row's `JabberID` and
//! as `ConnReqJabberID`, with `Status`, `LastChangeDate`, `TLSEstablished` and the stanza
//! counts of `Stats.` (since the agent started). Each
//! `connectionRequest` IQ goes to [`XmppConnReqValidator`] (the connection-request
//! credentials, `ConnReqAllowedJabberIDs`); its reply goes back, and an accepted request wakes
//! the CWMP driver like an HTTP one.
//!
//! The server: `ServerConnectAlgorithm` `ServerTable` takes the enabled `Server.{i}.` rows,
//! lowest `Priority` first and by `Weight` within one priority ([`server_order`], RFC 2782,
//! drawn again on every pass over the table); `DNS-SRV` takes the targets of the SRV records
//! of `_xmpp-client._tcp.<Domain>` ([`dns_srv`](crate::dns_srv), looked up again on every
//! pass) in the same order, and follows RFC 6120 §3.2: no record, or no answer, falls back
//! to `Domain` on port 5222 as `DNS` does, and a single `.` target (no XMPP service) is a
//! failed pass (`ServerNotPresent`). The certificate is checked for `Domain` whatever the
//! target (RFC 6120 §13.7.2.1). A connection that fails or drops is tried again after the
//! `ServerRetry*` waits ([`ReconnectPolicy`]), `ServerConnectAttempts` times per server
//! before the next one; after a connection that was up, the waits and the pass start over.
//! The row is read again whenever the store changes: a changed setting restarts the
//! connection.
//! SASL is SCRAM (with a fresh nonce from the crypto provider's RNG) when the server offers
//! it, else PLAIN.

use std::collections::VecDeque;
use std::sync::Arc;
use std::time::{Duration, Instant};

use cwmp_core::connreq::scram::ScramError;
use cwmp_core::connreq::xmpp::{XmppConnReq, XmppConnReqConfig, XmppConnReqValidator, XmppOutcome};
use cwmp_core::connreq::xmpp_client::{
    ReconnectPolicy, XmppClient, XmppClientConfig, XmppClientError, XmppEvent, XmppStats,
    server_order,
};
use cwmp_core::connreq::xmpp_srv::SrvAnswer;
use hal::Engine;
use rustls::pki_types::ServerName;
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
use tokio::net::TcpStream;
use tokio::sync::{mpsc, watch};
use tokio_rustls::TlsConnector;
use tr181_model::store::Store;

use crate::cwmp::cr_credentials;
use crate::device::{DeviceEvent, wall_clock};
use crate::dns_srv::Resolver;
use crate::mtp::text;
use crate::tls::{self, Io, Trust};
use crate::usp::sleep_until;

const MS: &str = "Device.ManagementServer.";
const CONNECTIONS: &str = "Device.XMPP.Connection.";
/// The XMPP client port (RFC 6120 §3.2.1).
const XMPP_PORT: u16 = 5222;
/// How long the TCP connection and the stream negotiation may take.
const NEGOTIATION_TIMEOUT: Duration = Duration::from_secs(30);
/// The keep-alive interval when `KeepAliveInterval` is -1 (RFC 6120 §4.6.4: not more often
/// than every 5 minutes).
const DEFAULT_KEEPALIVE: Duration = Duration::from_secs(300);
/// Bytes read at once.
const READ_BUFFER: usize = 16 * 1024;

/// What the referenced row asks for.
#[derive(Clone, Debug, PartialEq, Eq)]
struct Settings {
    /// The row, with its trailing dot.
    row: String,
    client: XmppClientConfig,
    servers: Servers,
    attempts: u32,
    policy: ReconnectPolicy,
}

/// A server: `(Priority, Weight, (host, port))`, ordered by [`server_order`].
type Server = (u32, u16, (String, u16));

/// Where the servers to try come from.
#[derive(Clone, Debug, PartialEq, Eq)]
enum Servers {
    /// `ServerTable` (the enabled rows) and `DNS` (`Domain`, port 5222); empty without either.
    Listed(Vec<Server>),
    /// `DNS-SRV`: the SRV records of `Domain`'s XMPP client service.
    Srv(String),
}

/// What one connection leaves to the next.
#[derive(Default)]
struct Progress {
    /// The stream got bound: the retry waits start over.
    bound: bool,
    /// The stanzas of the row's connections so far (`Stats.`), as published.
    stats: XmppStats,
}

/// Why a connection ended.
enum Failure {
    /// The stream ended with this error.
    Stream(XmppClientError),
    /// No TCP connection: `ServerNotPresent`.
    Unreachable(String),
    /// The TLS handshake, a read or a write failed, or the server closed the connection.
    Io(String),
}

impl Failure {
    /// The row's `Status` after it.
    fn status(&self) -> &'static str {
        match self {
            Self::Stream(
                XmppClientError::AuthenticationFailed { .. }
                | XmppClientError::Scram(ScramError::Server(_) | ScramError::ServerSignature),
            ) => "Error_AuthenticationFailure",
            Self::Stream(
                XmppClientError::NoMechanism
                | XmppClientError::TlsNotOffered
                | XmppClientError::TlsUnavailable,
            ) => "Error_Misconfigured",
            Self::Unreachable(_) => "ServerNotPresent",
            Self::Stream(_) | Self::Io(_) => "Error",
        }
    }
}

impl std::fmt::Display for Failure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Stream(error) => error.fmt(f),
            Self::Unreachable(reason) | Self::Io(reason) => f.write_str(reason),
        }
    }
}

/// Keeps the connection-request XMPP connection until `shutdown`; see the
/// [module docs](self). Each accepted request goes to `accepted`.
pub(crate) async fn serve(
    engine: Arc<Engine>,
    trust: Option<Trust>,
    resolver: Resolver,
    accepted: mpsc::Sender<()>,
    mut device: mpsc::Receiver<DeviceEvent>,
    mut shutdown: watch::Receiver<bool>,
) {
    let mut settings = engine.read(|store| read_settings(store, trust.is_some()));
    // The row last run, to mark `Disabled` when it is no longer used.
    let mut last_row: Option<String> = None;
    loop {
        if let Some(row) = last_row.take_if(|row| settings.as_ref().is_none_or(|s| s.row != *row)) {
            publish_status(&engine, &row, "Disabled").await;
        }
        let current = settings.clone();
        last_row = current.as_ref().map(|current| current.row.clone());
        let connection = async {
            match &current {
                Some(current) => {
                    keep_connected(&engine, trust.as_ref(), &resolver, &accepted, current).await;
                }
                None => std::future::pending().await,
            }
        };
        tokio::pin!(connection);
        loop {
            tokio::select! {
                _ = shutdown.changed() => return,
                () = &mut connection => {}
                Some(_) = device.recv() => {
                    let wanted = engine.read(|store| read_settings(store, trust.is_some()));
                    if wanted == settings {
                        continue;
                    }
                    settings = wanted;
                }
            }
            break;
        }
    }
}

/// Connects, serves, and reconnects after the retry waits, forever.
async fn keep_connected(
    engine: &Engine,
    trust: Option<&Trust>,
    resolver: &Resolver,
    accepted: &mpsc::Sender<()>,
    settings: &Settings,
) {
    if settings.servers == Servers::Listed(Vec::new()) {
        // No server row enabled, or no `Domain`.
        publish_status(engine, &settings.row, "Error_Misconfigured").await;
        return std::future::pending().await;
    }
    let attempts = settings.attempts.max(1);
    let mut retry: u32 = 0;
    let mut progress = Progress::default();
    // The rest of this pass over the servers, and the attempts at the first of them.
    let mut pass: VecDeque<(String, u16)> = VecDeque::new();
    let mut tries = 0;
    loop {
        let failure = match pass.front() {
            Some((host, port)) => {
                publish_status(engine, &settings.row, "Connecting").await;
                let server = (host.as_str(), *port);
                connect(engine, trust, accepted, settings, server, &mut progress).await
            }
            None => match servers(&settings.servers, resolver).await {
                Ok(servers) => {
                    (pass, tries) = (servers, 0);
                    continue;
                }
                Err(failure) => failure,
            },
        };
        publish_status(engine, &settings.row, failure.status()).await;
        // After a connection that was up, the waits and the pass start from the first again.
        let bound = std::mem::take(&mut progress.bound);
        retry = if bound { 1 } else { retry.saturating_add(1) };
        let wait = settings.policy.wait(retry, tls::random_seed());
        tracing::warn!(
            row = %settings.row,
            server = ?pass.front(),
            retry,
            "XMPP connection: {failure}; again in {wait:?}"
        );
        tries += 1;
        if bound {
            pass.clear();
        } else if tries >= attempts {
            pass.pop_front();
            tries = 0;
        }
        tokio::time::sleep(wait).await;
    }
}

/// The servers of a pass, in the order to try them (the weights drawn again, the SRV records
/// looked up again); never empty.
async fn servers(
    servers: &Servers,
    resolver: &Resolver,
) -> Result<VecDeque<(String, u16)>, Failure> {
    let listed = match servers {
        Servers::Listed(listed) => listed.clone(),
        Servers::Srv(domain) => match resolver.xmpp_client(domain).await {
            Ok(SrvAnswer::Targets(targets)) => targets,
            Ok(SrvAnswer::NotAvailable) => {
                return Err(Failure::Unreachable(format!(
                    "{domain} has no XMPP client service (SRV target \".\")"
                )));
            }
            // RFC 6120 §3.2.2: no record, or no answer at all, falls back to the domain.
            Ok(_) => vec![(0, 0, (domain.clone(), XMPP_PORT))],
            Err(error) => {
                tracing::warn!(%domain, "no SRV answer ({error}): trying the domain itself");
                vec![(0, 0, (domain.clone(), XMPP_PORT))]
            }
        },
    };
    let ordered = server_order(listed, tls::random_seed);
    if ordered.is_empty() {
        return Err(Failure::Unreachable("no server to try".into()));
    }
    Ok(ordered.into())
}

/// One connection to `(host, port)`, until it fails; `progress` follows it.
async fn connect(
    engine: &Engine,
    trust: Option<&Trust>,
    accepted: &mpsc::Sender<()>,
    settings: &Settings,
    (host, port): (&str, u16),
    progress: &mut Progress,
) -> Failure {
    let tcp =
        match tokio::time::timeout(NEGOTIATION_TIMEOUT, TcpStream::connect((host, port))).await {
            Ok(Ok(tcp)) => tcp,
            Ok(Err(error)) => return Failure::Unreachable(format!("cannot connect: {error}")),
            Err(_) => return Failure::Unreachable("the TCP connection timed out".into()),
        };
    let _ = tcp.set_nodelay(true);
    let mut link = Link::Plain(tcp);
    let mut client = XmppClient::new(settings.client.clone(), tls::random_bytes());
    let base = progress.stats;
    let mut buffer = vec![0_u8; READ_BUFFER];
    let negotiation = tokio::time::Instant::now() + NEGOTIATION_TIMEOUT;
    loop {
        while let Some(bytes) = client.poll_transmit() {
            if let Err(error) = link.io().write_all(&bytes).await {
                return Failure::Io(format!("cannot send: {error}"));
            }
        }
        if let Err(error) = link.io().flush().await {
            return Failure::Io(format!("cannot send: {error}"));
        }
        if let Some(event) = client.poll_event() {
            match event {
                XmppEvent::StartTls => {
                    let Link::Plain(tcp) = link else {
                        return Failure::Stream(XmppClientError::Unexpected("STARTTLS".into()));
                    };
                    link = match start_tls(tcp, trust, &settings.client.domain).await {
                        Ok(tls) => Link::Tls(tls),
                        Err(failure) => return failure,
                    };
                    client.handle_tls_established();
                }
                XmppEvent::Bound { jid } => {
                    let mechanism = client.mechanism().unwrap_or_default();
                    let tls = client.is_tls();
                    tracing::info!(row = %settings.row, %jid, tls, %mechanism, "XMPP connection up");
                    let update = Update {
                        status: Some("Enabled"),
                        bound: Some((&jid, client.is_tls())),
                        stats: None,
                    };
                    publish(engine, &settings.row, update).await;
                    progress.bound = true;
                }
                XmppEvent::ConnectionRequest(request) => {
                    client.send_stanza(&judge(engine, accepted, &request));
                }
                XmppEvent::Closed => {
                    // RFC 6120 §4.4: close our side too (best effort: the link is going).
                    client.close();
                    while let Some(bytes) = client.poll_transmit() {
                        let _ = link.io().write_all(&bytes).await;
                    }
                    return Failure::Io("the server closed the stream".into());
                }
                // Messages, presence, results: nothing for the CPE.
                _ => {}
            }
            continue;
        }
        let stats = base.plus(client.stats());
        if stats != progress.stats {
            progress.stats = stats;
            let update = Update {
                stats: Some(stats),
                ..Update::default()
            };
            publish(engine, &settings.row, update).await;
        }
        let timer = match client.jid() {
            Some(_) => client.poll_timeout().map(tokio::time::Instant::from_std),
            None => Some(negotiation),
        };
        tokio::select! {
            read = link.io().read(&mut buffer) => match read {
                Ok(0) => return Failure::Io("the server closed the connection".into()),
                Ok(n) => {
                    let data = buffer.get(..n).unwrap_or_default();
                    if let Err(error) = client.handle_data(Instant::now(), data) {
                        return Failure::Stream(error);
                    }
                }
                Err(error) => return Failure::Io(format!("cannot receive: {error}")),
            },
            () = sleep_until(timer) => {
                if client.jid().is_none() {
                    return Failure::Io("the stream negotiation timed out".into());
                }
                client.handle_timeout(Instant::now());
            }
        }
    }
}

/// The connection: TCP, then TLS on it after STARTTLS.
enum Link {
    Plain(TcpStream),
    Tls(Box<dyn Io>),
}

impl Link {
    fn io(&mut self) -> &mut dyn Io {
        match self {
            Self::Plain(tcp) => tcp,
            Self::Tls(tls) => tls.as_mut(),
        }
    }
}

/// The TLS handshake on `stream`, the server's certificate checked for `domain`. Over the
/// `TcpStream` itself, as the agent's other TLS clients: one copy of tokio-rustls's code.
async fn start_tls(
    stream: TcpStream,
    trust: Option<&Trust>,
    domain: &str,
) -> Result<Box<dyn Io>, Failure> {
    // The client asks for STARTTLS only when the driver said TLS is available.
    let trust = trust.ok_or(Failure::Stream(XmppClientError::TlsUnavailable))?;
    let name = ServerName::try_from(domain.to_owned())
        .map_err(|e| Failure::Io(format!("invalid domain {domain:?}: {e}")))?;
    let handshake = TlsConnector::from(trust.client_config()).connect(name, stream);
    match tokio::time::timeout(NEGOTIATION_TIMEOUT, handshake).await {
        Ok(Ok(tls)) => Ok(Box::new(tls)),
        Ok(Err(error)) => Err(Failure::Io(format!("TLS handshake failed: {error}"))),
        Err(_) => Err(Failure::Io("the TLS handshake timed out".into())),
    }
}

/// The reply to a connection request, after waking the CWMP driver when it is accepted.
fn judge(engine: &Engine, accepted: &mpsc::Sender<()>, request: &XmppConnReq) -> String {
    let (username, password) = cr_credentials(engine);
    let allowed = engine.read(|store| text(store, &format!("{MS}ConnReqAllowedJabberIDs")));
    let validator = XmppConnReqValidator::new(
        XmppConnReqConfig::new(username.clone(), password).with_allowed_jids(&allowed),
    );
    let mut response = validator.handle_request(request);
    // No credentials configured: refused rather than an empty user name accepted.
    if username.is_empty() && response.outcome == XmppOutcome::Accepted {
        response.outcome = XmppOutcome::NotAuthorized;
        response.reply = request.reply(response.outcome);
    }
    tracing::info!(from = ?request.from, outcome = ?response.outcome, "XMPP connection request");
    if response.outcome == XmppOutcome::Accepted {
        // Full: a request already waits for the session, which is enough.
        let _ = accepted.try_send(());
    }
    response.reply
}

/// The settings of the row `ConnReqXMPPConnection` names, if it is enabled.
fn read_settings(store: &Store, tls_available: bool) -> Option<Settings> {
    let target = text(store, &format!("{MS}ConnReqXMPPConnection"));
    let row = format!("{}.", target.trim_end_matches('.'));
    if !row.starts_with(CONNECTIONS) || row.len() <= CONNECTIONS.len() {
        return None;
    }
    let get = |name: &str| text(store, &format!("{row}{name}"));
    if get("Enable") != "true" {
        return None;
    }
    let number = |name: &str, default: u32| get(name).parse().unwrap_or(default);
    let keepalive = match get("KeepAliveInterval").parse::<i64>() {
        Ok(0) => None,
        Ok(seconds) if seconds > 0 => Some(Duration::from_secs(seconds.unsigned_abs())),
        _ => Some(DEFAULT_KEEPALIVE),
    };
    let client = XmppClientConfig::new(
        get("Username"),
        get("Password"),
        get("Domain"),
        get("Resource"),
    )
    .with_tls(get("UseTLS") == "true", tls_available)
    .with_keepalive(keepalive);
    let servers = match get("ServerConnectAlgorithm").as_str() {
        "ServerTable" => Servers::Listed(server_table(store, &row)),
        _ if client.domain.is_empty() => Servers::Listed(Vec::new()),
        "DNS-SRV" => Servers::Srv(client.domain.clone()),
        _ => Servers::Listed(vec![(0, 0, (client.domain.clone(), XMPP_PORT))]),
    };
    Some(Settings {
        servers,
        attempts: number("ServerConnectAttempts", 16),
        policy: ReconnectPolicy::new(
            number("ServerRetryInitialInterval", 60),
            number("ServerRetryIntervalMultiplier", 2000),
            number("ServerRetryMaxInterval", 30720),
        ),
        client,
        row,
    })
}

/// The enabled `Server.{i}.` rows of `row`: `(Priority, Weight, (host, port))`, a `Weight`
/// of -1 (vendor specific) as 0, RFC 2782's "no preference".
fn server_table(store: &Store, row: &str) -> Vec<Server> {
    let table = format!("{row}Server.");
    let rows = store
        .instances(&table, tr181_model::schema::Protocol::Cwmp, true)
        .unwrap_or_default();
    rows.into_iter()
        .filter(|server| text(store, &format!("{}Enable", server.path)) == "true")
        .filter_map(|server| {
            let field = |name: &str| text(store, &format!("{}{name}", server.path));
            let address = field("ServerAddress");
            let port = match field("Port").parse() {
                Ok(0) | Err(_) => XMPP_PORT,
                Ok(port) => port,
            };
            let priority = field("Priority").parse().unwrap_or(0);
            let weight = field("Weight").parse().unwrap_or(0);
            (!address.is_empty()).then_some((priority, weight, (address, port)))
        })
        .collect()
}

/// Writes the row's `Status` (and `LastChangeDate` when it changes); away from `Enabled`,
/// `TLSEstablished` is false (`ConnReqJabberID` stays, TR-181 says, until a new JID).
async fn publish_status(engine: &Engine, row: &str, status: &str) {
    let update = Update {
        status: Some(status),
        ..Update::default()
    };
    publish(engine, row, update).await;
}

/// What [`publish`] writes.
#[derive(Default)]
struct Update<'a> {
    /// `Status`, and `LastChangeDate` when it changes.
    status: Option<&'a str>,
    /// With the status: the JID (`JabberID`, `ConnReqJabberID`) and whether TLS protects the
    /// stream (`TLSEstablished`, false without).
    bound: Option<(&'a str, bool)>,
    /// `Stats.`.
    stats: Option<XmppStats>,
}

/// Writes `update` into the row, in one transaction (the store leaves an equal value alone:
/// no VALUE CHANGE for the same JID).
async fn publish(engine: &Engine, row: &str, update: Update<'_>) {
    let mut values: Vec<(String, String)> = Vec::new();
    let mut value = |name: &str, text: String| values.push((format!("{row}{name}"), text));
    if let Some(status) = update.status {
        let changed = engine.read(|store| text(store, &format!("{row}Status"))) != status;
        if let Some(now) = wall_clock().filter(|_| changed) {
            value("LastChangeDate", now.to_string());
        }
        value("Status", status.to_owned());
        let tls = update.bound.is_some_and(|(_, tls)| tls);
        value("TLSEstablished", tls.to_string());
    }
    if let Some((jid, _)) = update.bound {
        value("JabberID", jid.to_owned());
    }
    if let Some(stats) = update.stats {
        value("Stats.ReceivedMessages", stats.received.to_string());
        value(
            "Stats.ReceivedErrorMessages",
            stats.received_errors.to_string(),
        );
        value("Stats.TransmittedMessages", stats.transmitted.to_string());
        value(
            "Stats.TransmittedErrorMessages",
            stats.transmitted_errors.to_string(),
        );
    }
    if let Some((jid, _)) = update.bound {
        values.push((format!("{MS}ConnReqJabberID"), jid.to_owned()));
    }
    let written = engine
        .device_update(|txn| {
            values
                .iter()
                .try_for_each(|(path, text)| txn.set(path, text))
        })
        .await;
    if let Err(error) = written {
        tracing::warn!(%error, row, "cannot publish the XMPP connection state");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A store with the connection row of `values` (and of `servers`, its `Server.` rows),
    /// referenced by `ConnReqXMPPConnection`.
    fn store_with(values: &[(&str, &str)], servers: &[&[(&str, &str)]]) -> Store {
        let sim = hal::sim::SimDevice::new("SIM0001");
        let mut store = Store::new();
        let mut txn = store.transaction(tr181_model::store::Origin::Device);
        sim.hal().lifecycle.factory_defaults(&mut txn).unwrap();
        let number = txn.add(CONNECTIONS, values).unwrap();
        let row = format!("{CONNECTIONS}{number}");
        for server in servers {
            txn.add(&format!("{row}.Server."), server).unwrap();
        }
        txn.set(&format!("{MS}ConnReqXMPPConnection"), &row)
            .unwrap();
        txn.commit().unwrap();
        store
    }

    #[test]
    fn the_server_table_keeps_priorities_and_weights() {
        let store = store_with(
            &[
                ("Enable", "true"),
                ("ServerConnectAlgorithm", "ServerTable"),
            ],
            &[
                &[
                    ("Enable", "true"),
                    ("ServerAddress", "a.example"),
                    ("Priority", "20"),
                    ("Weight", "60"),
                ],
                &[
                    ("Enable", "true"),
                    ("ServerAddress", "b.example"),
                    ("Port", "5333"),
                ],
                &[("Enable", "false"), ("ServerAddress", "off.example")],
                &[("Enable", "true"), ("Priority", "1")],
                &[
                    ("Enable", "true"),
                    ("ServerAddress", "c.example"),
                    ("Priority", "20"),
                    ("Weight", "-1"),
                ],
            ],
        );
        let settings = read_settings(&store, false).unwrap();
        let server = |host: &str, port| (host.to_owned(), port);
        // Disabled rows and rows without an address left out; -1 is weight 0.
        let table = vec![
            (20, 60, server("a.example", 5222)),
            (0, 0, server("b.example", 5333)),
            (20, 0, server("c.example", 5222)),
        ];
        assert_eq!(settings.servers, Servers::Listed(table.clone()));
        // Priority 0 first; then within 20, c (weight 0) only on a draw of 0.
        let order = |draw: u64| server_order(table.clone(), move || draw);
        assert_eq!(
            order(0),
            [
                server("b.example", 5333),
                server("c.example", 5222),
                server("a.example", 5222)
            ]
        );
        assert_eq!(
            order(1),
            [
                server("b.example", 5333),
                server("a.example", 5222),
                server("c.example", 5222)
            ]
        );
        let servers = |algorithm: &str, domain: &str| {
            let mut values = vec![("Enable", "true"), ("Domain", domain)];
            if !algorithm.is_empty() {
                values.push(("ServerConnectAlgorithm", algorithm));
            }
            read_settings(&store_with(&values, &[]), false)
                .unwrap()
                .servers
        };
        assert_eq!(
            servers("DNS", "example.com"),
            Servers::Listed(vec![(0, 0, server("example.com", XMPP_PORT))])
        );
        // DNS-SRV, the default.
        let srv = Servers::Srv("example.com".into());
        assert_eq!(servers("", "example.com"), srv);
        assert_eq!(servers("DNS-SRV", "example.com"), srv);
        assert_eq!(servers("DNS-SRV", ""), Servers::Listed(Vec::new()));
    }

    #[test]
    fn reconnect_waits_follow_the_row() {
        let values = [
            ("Enable", "true"),
            ("Domain", "example.com"),
            ("ServerRetryInitialInterval", "10"),
            ("ServerRetryIntervalMultiplier", "3000"),
            ("ServerRetryMaxInterval", "300000"),
        ];
        let store = store_with(&values, &[]);
        let policy = read_settings(&store, false).unwrap().policy;
        // A random wait in [0, 10·3^(n−1)] s, the bound growing past the tenth retry up to
        // ServerRetryMaxInterval, which a drawn wait above it waits.
        let ms = Duration::from_millis;
        assert_eq!(policy.wait(1, 10_000), ms(10_000));
        assert_eq!(policy.wait(1, 10_001), ms(0));
        let eleventh = 10_000 * 3_u64.pow(10);
        assert_eq!(policy.bound_ms(11), 300_000_000);
        assert_eq!(policy.wait(10, eleventh / 3), ms(eleventh / 3));
        assert_eq!(policy.wait(11, eleventh), ms(300_000_000));
        assert_eq!(policy.wait(11, eleventh + 1), ms(0));
    }
}
