//! UDP connection requests (TR-069 Annex G.2): a UDP socket whose address the device
//! publishes as `Device.ManagementServer.UDPConnectionRequestAddress`. Each datagram goes to
//! [`UdpConnReqValidator`] (HMAC-SHA1 signature with the connection-request credentials,
//! timestamp within 5 minutes of the wall clock, no repeated message id); an accepted one
//! wakes the CWMP driver like an HTTP connection request. Nothing is ever sent back.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};

use cwmp_core::connreq::udp::{UdpConnReqConfig, UdpConnReqValidator};
use hal::Engine;
use tokio::net::UdpSocket;
use tokio::sync::{mpsc, watch};

use crate::cwmp::cr_credentials;

/// Bytes read of one datagram: the validator refuses anything above 1024 as too large.
const READ_BUFFER: usize = 1025;

/// The UDP connection-request socket, bound.
pub(crate) struct UdpConnReqListener {
    socket: UdpSocket,
}

impl UdpConnReqListener {
    /// Binds `127.0.0.1:port`.
    pub(crate) async fn bind(port: u16) -> std::io::Result<Self> {
        let socket = UdpSocket::bind(SocketAddr::from(([127, 0, 0, 1], port))).await?;
        Ok(Self { socket })
    }

    /// The `UDPConnectionRequestAddress` of this socket (`host:port`).
    pub(crate) fn address(&self) -> std::io::Result<String> {
        Ok(self.socket.local_addr()?.to_string())
    }

    /// Validates datagrams until `shutdown`; each accepted one goes to `accepted`.
    pub(crate) async fn serve(
        self,
        engine: Arc<Engine>,
        accepted: mpsc::Sender<()>,
        mut shutdown: watch::Receiver<bool>,
    ) {
        let mut credentials = cr_credentials(&engine);
        let mut validator = new_validator(&credentials);
        let mut buffer = vec![0_u8; READ_BUFFER];
        loop {
            let received = tokio::select! {
                _ = shutdown.changed() => break,
                received = self.socket.recv_from(&mut buffer) => received,
            };
            let (length, from) = match received {
                Ok(received) => received,
                Err(error) => {
                    tracing::debug!(%error, "UDP connection-request receive failed");
                    continue;
                }
            };
            // The ACS may have changed the credentials since the last datagram (a new
            // validator then: ids signed with the old password no longer verify anyway).
            let current = cr_credentials(&engine);
            if current != credentials {
                credentials = current;
                validator = new_validator(&credentials);
            }
            if credentials.0.is_empty() {
                tracing::info!(%from, "UDP connection request ignored: no ConnectionRequestUsername");
                continue;
            }
            let datagram = buffer.get(..length).unwrap_or_default();
            match validator.handle_datagram(unix_now(), datagram) {
                Ok(()) => {
                    tracing::info!(%from, "CWMP UDP connection request accepted");
                    if accepted.try_send(()).is_err() {
                        tracing::debug!("a connection request is already waiting for the session");
                    }
                }
                Err(reason) => {
                    tracing::info!(%from, %reason, "UDP connection request ignored");
                }
            }
        }
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
