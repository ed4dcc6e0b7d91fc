//! The address the ACS reaches the connection-request sockets at, followed while the agent
//! runs.
//!
//! Bound to one address (`[cwmp] listen`), the sockets are reached there. Bound to every
//! interface (`0.0.0.0` or `::`), they are reached at the agent's address on the route to the
//! ACS: the local address of a UDP socket connected towards it, which sends nothing. That
//! address changes while a router runs (a new WAN address after a DHCP renewal or a PPP
//! reconnection, an ACS that `ManagementServer.URL` moves elsewhere), and an ACS told a stale
//! `ConnectionRequestURL` cannot reach the CPE. So [`follow`] looks again when `URL` changes
//! and every [`RECHECK`], and writes a new `ConnectionRequestURL` as the device: its active
//! notification (TR-181 `forceDefaultEnabled`) brings the ACS `4 VALUE CHANGE` with it, as
//! TR-069 asks of a changed connection-request URL. The UDP connection-request socket takes
//! the new address from the same watch (its `UDPConnectionRequestAddress` without STUN).
//! With no route (the WAN down), the last address stays published.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;

use hal::Engine;
use tokio::net::UdpSocket;
use tokio::sync::{mpsc, watch};
use tokio_tungstenite::tungstenite::http::Uri;

use crate::device::{DeviceEvent, set_as_device};

/// How often the route to the ACS is looked at again without a change of its URL.
const RECHECK: Duration = Duration::from_secs(60);
/// How long one look (a DNS lookup of the ACS host) may take.
const LOOKUP_TIMEOUT: Duration = Duration::from_secs(5);
/// `Device.ManagementServer.URL`.
const ACS_URL: &str = "Device.ManagementServer.URL";

/// The agent's address on the route to the ACS at `acs_url` for sockets bound to the
/// unspecified address `listen` (`0.0.0.0` routes IPv4 only, `::` both); `None` when there is
/// no route or the URL names no host.
async fn route_to(listen: IpAddr, acs_url: &str) -> Option<IpAddr> {
    let route = async {
        let uri: Uri = acs_url.parse().ok()?;
        let host = uri.host()?.trim_start_matches('[').trim_end_matches(']');
        let port = uri.port_u16().unwrap_or(80);
        let mut found = tokio::net::lookup_host((host, port)).await.ok()?;
        let to = found.find(|to| to.is_ipv4() || listen.is_ipv6())?;
        let any: IpAddr = match to {
            SocketAddr::V4(_) => Ipv4Addr::UNSPECIFIED.into(),
            SocketAddr::V6(_) => Ipv6Addr::UNSPECIFIED.into(),
        };
        let socket = UdpSocket::bind(SocketAddr::new(any, 0)).await.ok()?;
        socket.connect(to).await.ok()?;
        Some(socket.local_addr().ok()?.ip())
    };
    tokio::time::timeout(LOOKUP_TIMEOUT, route).await.ok()?
}

/// The address an ACS at `acs_url` reaches the agent at when its connection-request sockets
/// bind `listen`: `listen` itself, or, when that is unspecified, the agent's address on the
/// route to the ACS; loopback when there is no route (with a warning).
pub(crate) async fn reachable_address(listen: IpAddr, acs_url: &str) -> IpAddr {
    if !listen.is_unspecified() {
        return listen;
    }
    if let Some(address) = route_to(listen, acs_url).await {
        return address;
    }
    tracing::warn!(
        acs_url,
        "no route to the ACS: connection-request URLs name the loopback address until there is one"
    );
    match listen {
        IpAddr::V4(_) => Ipv4Addr::LOCALHOST.into(),
        IpAddr::V6(_) => Ipv6Addr::LOCALHOST.into(),
    }
}

/// The `ConnectionRequestURL` of the server on `port` serving `path`, reached at `host`.
pub(crate) fn cr_url(host: IpAddr, port: u16, path: &str) -> String {
    format!("http://{}{path}", SocketAddr::new(host, port))
}

/// Follows the route to the ACS for sockets bound to the unspecified address `listen` (the
/// HTTP server on `port` serving `path`) until `shutdown`: a new address goes to `host` and
/// into `ConnectionRequestURL`. `device` says when the store changed (to see a new `URL`).
pub(crate) async fn follow(
    engine: Arc<Engine>,
    listen: IpAddr,
    (port, path): (u16, String),
    host: watch::Sender<IpAddr>,
    mut device: mpsc::Receiver<DeviceEvent>,
    mut shutdown: watch::Receiver<bool>,
) {
    let acs_url = || {
        engine.read(|store| {
            store
                .value(ACS_URL)
                .map(tr181_model::value::Value::canonical_text)
                .unwrap_or_default()
        })
    };
    let mut looked_at = acs_url();
    let mut recheck = tokio::time::Instant::now() + RECHECK;
    loop {
        tokio::select! {
            _ = shutdown.changed() => return,
            event = device.recv() => match event {
                Some(DeviceEvent::Changed) => {
                    let now = acs_url();
                    if now == looked_at {
                        continue;
                    }
                    looked_at = now;
                }
                Some(_) => continue,
                None => return,
            },
            () = tokio::time::sleep_until(recheck) => recheck += RECHECK,
        }
        // No route (the WAN down): the last address stays.
        let Some(address) = route_to(listen, &looked_at).await else {
            continue;
        };
        if *host.borrow() == address {
            continue;
        }
        let url = cr_url(address, port, &path);
        let url_parameter = "Device.ManagementServer.ConnectionRequestURL".to_owned();
        let written = set_as_device(&engine, vec![(url_parameter, url.clone())]).await;
        match written {
            Ok(()) => tracing::info!("CWMP connection requests now reached at {url}"),
            Err(error) => tracing::warn!(%error, url, "cannot publish the connection-request URL"),
        }
        host.send_replace(address);
    }
}
