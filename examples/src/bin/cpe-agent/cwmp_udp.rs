//! UDP connection requests (TR-069 Annex G.2): a UDP socket whose address the device
//! publishes as `Device.ManagementServer.UDPConnectionRequestAddress`. Each datagram goes to
//! [`UdpConnReqValidator`] (HMAC-SHA1 signature with the connection-request credentials,
//! timestamp within 5 minutes of the wall clock, no repeated message id); an accepted one
//! wakes the CWMP driver like an HTTP connection request. Nothing is ever sent back.
//!
//! Behind a NAT (Annex G.2.1, TR-111 part 2) the same socket runs cwmp-core's [`StunClient`]
//! while `Device.ManagementServer.STUNEnable` is true: Binding Requests go from it to
//! `STUNServerAddress`:`STUNServerPort` (the ACS URL's host when the address is empty),
//! datagrams that [`is_stun`] are the client's and the rest connection requests, and a new
//! mapping is published as `UDPConnectionRequestAddress` with `NATDetected`, as device values.
//! The `STUN*` parameters are read again whenever the store changes, so an ACS that sets them
//! starts, moves or stops the keep-alives.
//!
//! The other direction, UDP lightweight notifications (TR-069 Annex M), is
//! [`send_lightweight`]: each datagram the session makes goes from a fresh ephemeral socket.

use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::{Instant, SystemTime, UNIX_EPOCH};

use cwmp_core::connreq::stun::message::MAX_MESSAGE_BYTES;
use cwmp_core::connreq::stun::{StunClient, StunConfig, StunEvent, is_stun};
use cwmp_core::connreq::udp::{UdpConnReqConfig, UdpConnReqValidator};
use cwmp_core::session::Datagram;
use hal::Engine;
use tokio::net::UdpSocket;
use tokio::sync::{mpsc, watch};
use tr181_model::store::Store;

use crate::cwmp::cr_credentials;
use crate::device::{DeviceEvent, set_as_device};
use crate::tls;
use crate::usp::sleep_until;

/// Bytes read of one datagram: a whole STUN message, and one byte more so that the validator
/// sees a connection request above its 1024 bytes as too large.
const READ_BUFFER: usize = MAX_MESSAGE_BYTES + 1;
/// `Device.ManagementServer.`
const MS: &str = "Device.ManagementServer.";

/// The UDP connection-request socket, bound.
pub(crate) struct UdpConnReqListener {
    socket: UdpSocket,
    /// The socket's port at the address the ACS reaches: the `UDPConnectionRequestAddress`
    /// without STUN.
    published: SocketAddr,
}

impl UdpConnReqListener {
    /// Binds `listen`; the ACS reaches the socket at `host` (see
    /// [`reachable_address`](crate::cwmp_reach::reachable_address)).
    pub(crate) async fn bind(listen: SocketAddr, host: IpAddr) -> std::io::Result<Self> {
        let socket = UdpSocket::bind(listen).await?;
        let published = SocketAddr::new(host, socket.local_addr()?.port());
        Ok(Self { socket, published })
    }

    /// The `UDPConnectionRequestAddress` of this socket without STUN (`host:port`).
    pub(crate) fn address(&self) -> String {
        self.published.to_string()
    }

    /// Validates datagrams until `shutdown`; each accepted one goes to `accepted`. Runs the
    /// STUN client while `STUNEnable` is true, looking at the `STUN*` parameters again on
    /// every [`DeviceEvent::Changed`] from `device`. A new address from `host` (the socket
    /// bound to every interface, [`crate::cwmp_reach::follow`]) is published without STUN
    /// and is the STUN client's local address.
    pub(crate) async fn serve(
        self,
        engine: Arc<Engine>,
        accepted: mpsc::Sender<()>,
        mut device: mpsc::Receiver<DeviceEvent>,
        mut host: watch::Receiver<IpAddr>,
        mut shutdown: watch::Receiver<bool>,
    ) {
        let local = self.published;
        let credentials = cr_credentials(&engine);
        let mut task = Task {
            validator: new_validator(&credentials),
            credentials,
            socket: self.socket,
            local,
            engine,
            accepted,
            stun: None,
        };
        task.reconcile_stun(false).await;
        let mut buffer = vec![0_u8; READ_BUFFER];
        loop {
            task.flush_stun().await;
            let timer = task.stun.as_ref().and_then(|s| s.client.poll_timeout());
            tokio::select! {
                _ = shutdown.changed() => break,
                Some(event) = device.recv() => {
                    if matches!(event, DeviceEvent::Changed) {
                        task.reconcile_stun(false).await;
                    }
                }
                Ok(()) = host.changed() => {
                    task.local.set_ip(*host.borrow_and_update());
                    task.reconcile_stun(true).await;
                }
                received = task.socket.recv_from(&mut buffer) => match received {
                    Ok((length, from)) => {
                        task.handle_datagram(from, buffer.get(..length).unwrap_or_default());
                    }
                    Err(error) => {
                        tracing::debug!(%error, "UDP connection-request receive failed");
                    }
                },
                () = sleep_until(timer.map(tokio::time::Instant::from_std)) => {
                    if let Some(stun) = &mut task.stun {
                        stun.client.handle_timeout(Instant::now());
                    }
                }
            }
        }
    }
}

/// The running socket.
struct Task {
    socket: UdpSocket,
    /// The socket's address as the ACS reaches it: the `UDPConnectionRequestAddress`
    /// without STUN.
    local: SocketAddr,
    engine: Arc<Engine>,
    accepted: mpsc::Sender<()>,
    credentials: (String, String),
    validator: UdpConnReqValidator,
    stun: Option<Stun>,
}

/// The STUN client and what it was built from.
struct Stun {
    client: StunClient,
    settings: StunSettings,
    /// The server's address, once resolved.
    server: Option<SocketAddr>,
}

/// The `Device.ManagementServer.STUN*` values the client runs with.
#[derive(Clone, PartialEq, Eq)]
struct StunSettings {
    /// `STUNServerAddress`, or the ACS URL's host when that is empty.
    host: String,
    port: u16,
    username: String,
    password: String,
    min_keepalive: u32,
    max_keepalive: i32,
}

impl Task {
    /// A datagram: STUN for the client, anything else a connection request.
    fn handle_datagram(&mut self, from: SocketAddr, datagram: &[u8]) {
        if is_stun(datagram) {
            match &mut self.stun {
                Some(stun) => {
                    if let Err(error) = stun.client.handle_datagram(Instant::now(), datagram) {
                        tracing::debug!(%from, %error, "STUN datagram ignored");
                    }
                }
                None => tracing::debug!(%from, "STUN datagram ignored: STUN is off"),
            }
            return;
        }
        // The ACS may have changed the credentials since the last datagram (a new
        // validator then: ids signed with the old password no longer verify anyway).
        let current = cr_credentials(&self.engine);
        if current != self.credentials {
            self.credentials = current;
            self.validator = new_validator(&self.credentials);
        }
        if self.credentials.0.is_empty() {
            tracing::info!(%from, "UDP connection request ignored: no ConnectionRequestUsername");
            return;
        }
        match self.validator.handle_datagram(unix_now(), datagram) {
            Ok(()) => {
                tracing::info!(%from, "CWMP UDP connection request accepted");
                if self.accepted.try_send(()).is_err() {
                    tracing::debug!("a connection request is already waiting for the session");
                }
            }
            Err(reason) => {
                tracing::info!(%from, %reason, "UDP connection request ignored");
            }
        }
    }

    /// Starts, reconfigures or stops the STUN client after the `STUN*` parameters; `moved`:
    /// the socket is reached at a new address ([`Task::local`]), which is the STUN client's
    /// local address then, or published as such without STUN.
    async fn reconcile_stun(&mut self, moved: bool) {
        let (wanted, published) = self.engine.read(|store| {
            (
                stun_settings(store),
                text(store, "UDPConnectionRequestAddress").parse().ok(),
            )
        });
        let now = Instant::now();
        match (&mut self.stun, wanted) {
            (Some(stun), Some(settings)) if stun.settings == settings && !moved => {}
            (Some(stun), Some(settings)) => {
                tracing::info!(
                    "STUN keep-alives to {}:{} from {} (settings changed or moved)",
                    settings.host,
                    settings.port,
                    self.local
                );
                let config = stun_config(&settings, self.local, published);
                stun.client.reconfigure(config, now);
                stun.server = resolve_new(&settings, self.local).await;
                stun.settings = settings;
            }
            (None, Some(settings)) => {
                tracing::info!(
                    "STUN keep-alives to {}:{} from {}",
                    settings.host,
                    settings.port,
                    self.local
                );
                let config = stun_config(&settings, self.local, published);
                let server = resolve_new(&settings, self.local).await;
                self.stun = Some(Stun {
                    client: StunClient::new(config, tls::random_seed(), now),
                    settings,
                    server,
                });
            }
            (None, None) if !moved => {}
            (stun, None) => {
                *stun = None;
                publish(&self.engine, self.local, false).await;
                tracing::info!(
                    "UDP connection requests reached at {} (no STUN)",
                    self.local
                );
            }
        }
    }

    /// Sends what the STUN client has for its server and acts on its events.
    async fn flush_stun(&mut self) {
        let Some(stun) = &mut self.stun else {
            return;
        };
        while let Some(datagram) = stun.client.poll_transmit() {
            let server = match stun.server {
                Some(server) => server,
                None => match resolve(&stun.settings, self.local).await {
                    Ok(server) => *stun.server.insert(server),
                    Err(error) => {
                        tracing::debug!("{error}: Binding Request not sent");
                        continue;
                    }
                },
            };
            if let Err(error) = self.socket.send_to(&datagram, server).await {
                tracing::debug!(%error, %server, "STUN Binding Request not sent");
            }
        }
        while let Some(event) = stun.client.poll_event() {
            match event {
                StunEvent::MappingChanged {
                    address,
                    previous,
                    nat_detected,
                } => {
                    tracing::info!(
                        ?previous,
                        nat_detected,
                        "STUN mapping {address}: published as UDPConnectionRequestAddress"
                    );
                    publish(&self.engine, address, nat_detected).await;
                }
                StunEvent::Timeout => {
                    tracing::info!(server = ?stun.server, "no answer from the STUN server");
                }
                other => tracing::warn!(?other, "STUN server refused the Binding Request"),
            }
        }
    }
}

/// The text of `Device.ManagementServer.{name}`, empty when unreadable.
fn text(store: &Store, name: &str) -> String {
    store
        .value(&format!("{MS}{name}"))
        .map(tr181_model::value::Value::canonical_text)
        .unwrap_or_default()
}

/// The STUN settings of the store; `None` while `STUNEnable` is false or no server is known.
fn stun_settings(store: &Store) -> Option<StunSettings> {
    if text(store, "STUNEnable") != "true" {
        return None;
    }
    let mut host = text(store, "STUNServerAddress");
    if host.is_empty() {
        // TR-181: an empty STUNServerAddress means the host of the ACS URL.
        host = text(store, "URL")
            .parse::<tokio_tungstenite::tungstenite::http::Uri>()
            .ok()
            .and_then(|uri| uri.host().map(str::to_owned))
            .unwrap_or_default();
    }
    let host = host
        .trim_start_matches('[')
        .trim_end_matches(']')
        .to_owned();
    if host.is_empty() {
        tracing::debug!("STUNEnable is true but no STUN server is known");
        return None;
    }
    Some(StunSettings {
        host,
        port: text(store, "STUNServerPort").parse().unwrap_or(3478),
        username: text(store, "STUNUsername"),
        password: text(store, "STUNPassword"),
        min_keepalive: text(store, "STUNMinimumKeepAlivePeriod")
            .parse()
            .unwrap_or(0),
        max_keepalive: text(store, "STUNMaximumKeepAlivePeriod")
            .parse()
            .unwrap_or(-1),
    })
}

fn stun_config(
    settings: &StunSettings,
    local: SocketAddr,
    published: Option<SocketAddr>,
) -> StunConfig {
    StunConfig::new(local)
        .with_credentials(settings.username.clone(), settings.password.clone())
        .with_keepalive(settings.min_keepalive, settings.max_keepalive)
        .with_known_mapping(published)
}

/// The STUN server's address in the socket's family, or why there is none.
async fn resolve(settings: &StunSettings, local: SocketAddr) -> Result<SocketAddr, String> {
    let host = (settings.host.as_str(), settings.port);
    let mut addresses = tokio::net::lookup_host(host)
        .await
        .map_err(|e| format!("cannot resolve the STUN server {}: {e}", settings.host))?;
    addresses
        .find(|a| a.is_ipv4() == local.is_ipv4())
        .ok_or_else(|| {
            format!(
                "the STUN server {} has no address of the socket's family",
                settings.host
            )
        })
}

/// How long resolving a lightweight notification's host may take.
const LOOKUP_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(10);

/// Sends a UDP lightweight notification in the background: nothing comes back, and a slow
/// name lookup must not hold up the session. The outcome is logged.
pub(crate) fn send_lightweight(datagram: Datagram) {
    tokio::spawn(async move {
        match send_datagram(&datagram).await {
            Ok(to) => tracing::info!(
                %to,
                bytes = datagram.payload.len(),
                "CWMP lightweight notification sent"
            ),
            Err(error) => tracing::warn!(
                host = %datagram.host,
                port = datagram.port,
                "CWMP lightweight notification not sent: {error}"
            ),
        }
    });
}

/// Resolves the destination and sends the datagram from an ephemeral socket of its family.
async fn send_datagram(datagram: &Datagram) -> Result<SocketAddr, String> {
    let lookup = tokio::net::lookup_host((datagram.host.as_str(), datagram.port));
    let to = tokio::time::timeout(LOOKUP_TIMEOUT, lookup)
        .await
        .map_err(|_| "the name lookup timed out".to_owned())?
        .map_err(|e| format!("cannot resolve the host: {e}"))?
        .next()
        .ok_or_else(|| "the host has no address".to_owned())?;
    let local = if to.is_ipv4() { "0.0.0.0:0" } else { "[::]:0" };
    let socket = UdpSocket::bind(local)
        .await
        .map_err(|e| format!("cannot open a UDP socket: {e}"))?;
    socket
        .send_to(&datagram.payload, to)
        .await
        .map_err(|e| format!("cannot send: {e}"))?;
    Ok(to)
}

/// [`resolve`], logged as a warning: for a new server.
async fn resolve_new(settings: &StunSettings, local: SocketAddr) -> Option<SocketAddr> {
    resolve(settings, local)
        .await
        .inspect_err(|error| tracing::warn!("{error}; trying again with each request"))
        .ok()
}

/// Writes the mapping as the device's own values.
async fn publish(engine: &Engine, address: SocketAddr, nat_detected: bool) {
    let values = vec![
        (
            format!("{MS}UDPConnectionRequestAddress"),
            address.to_string(),
        ),
        (format!("{MS}NATDetected"), nat_detected.to_string()),
    ];
    if let Err(error) = set_as_device(engine, values).await {
        tracing::warn!(%error, "cannot publish the UDP connection-request address");
    }
}

fn new_validator((username, password): &(String, String)) -> UdpConnReqValidator {
    UdpConnReqValidator::new(UdpConnReqConfig::new(username.clone(), password.clone()))
}

/// The wall clock in Unix seconds (`None` before the epoch: the timestamp is not checked).
fn unix_now() -> Option<i64> {
    let seconds = SystemTime::now().duration_since(UNIX_EPOCH).ok()?.as_secs();
    i64::try_from(seconds).ok()
}
