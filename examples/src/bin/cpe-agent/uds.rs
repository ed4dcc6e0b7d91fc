//! The USP Unix domain socket MTP (TR-369 "UDS Binding"), both ways: the agent listens on a
//! socket path for controllers (TR-181 `UnixDomainSocket.{i}.Mode` `Listen`), and connects
//! to a controller's socket (`Connect`), reconnecting after a random 1–5 s.
//!
//! Frames are `_USP`, a 4-byte length and TLVs ([`usp_core::mtp::uds`] encodes and parses
//! them). The connecting side sends its Handshake (its Endpoint ID) first and the listening
//! side answers with its own; Records before the handshake are ignored, a frame that cannot
//! be parsed gets an Error frame and closes the socket, a received Error frame closes it too.
//! After the handshake the agent sends a UDSConnect Record; then one Record per frame.

use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

use tokio::io::{AsyncRead, AsyncReadExt as _, AsyncWrite, AsyncWriteExt as _};
use tokio::net::{UnixListener, UnixStream};
use tokio::sync::{mpsc, watch};
use usp_core::Limits;
use usp_core::agent::{Mtp, MtpKind};
use usp_core::codec::RecordBuilder;
use usp_core::mtp::uds::{
    self as framing, Decoded, HANDSHAKE_TIMEOUT, RECONNECT_DELAY_MAX, RECONNECT_DELAY_MIN, TlvType,
};

use crate::mtp::Report;
use crate::tls::Trust;
use crate::usp::{MtpInput, NetworkUp, Outbound, Waited, encode_own, next_conn};

/// Records queued for one connection before the driver drops them.
const SEND_QUEUE: usize = 256;
/// Room for the frame and TLV headers around a Record of the USP limit.
const FRAME_OVERHEAD: usize = 64;
/// Bytes read at a time.
const READ_CHUNK: usize = 16 * 1024;

/// `[usp.uds]`: the Unix domain socket MTP (TR-181 `Device.UnixDomainSockets.` and
/// `LocalAgent.MTP.{i}.UDS.`).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub(crate) struct UdsConfig {
    /// A socket path the agent listens on for controllers; empty: none.
    pub(crate) listen: String,
    /// A controller's socket path the agent connects to; empty: none.
    pub(crate) connect: String,
}

/// Why a connection ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Ended {
    /// The agent is shutting down.
    Shutdown,
    /// The socket closed or failed, or the peer misbehaved.
    Closed,
}

/// What every UDS connection of the agent needs besides its socket.
#[derive(Clone)]
struct Endpoint {
    endpoint_id: String,
    /// The agent's E2E key, signing the UDSConnect Record ([`encode_own`]).
    signer: Option<Trust>,
    agent: mpsc::Sender<MtpInput>,
    shutdown: watch::Receiver<bool>,
}

/// The listening side, bound and ready to [`serve`](Self::serve).
pub(crate) struct UdsServer {
    listener: UnixListener,
    path: PathBuf,
    endpoint: Endpoint,
}

impl UdsServer {
    /// Binds `path` (a stale socket file left by a previous run is removed first).
    pub(crate) fn bind(
        path: &str,
        endpoint_id: &str,
        signer: Option<Trust>,
        agent: mpsc::Sender<MtpInput>,
        shutdown: watch::Receiver<bool>,
    ) -> std::io::Result<Self> {
        let path = PathBuf::from(path);
        let listener = bind_replacing(&path)?;
        Ok(Self {
            listener,
            path,
            endpoint: Endpoint {
                endpoint_id: endpoint_id.to_owned(),
                signer,
                agent,
                shutdown,
            },
        })
    }

    /// Accepts controllers until shutdown, then removes the socket file.
    pub(crate) async fn serve(self) {
        let mut stop = self.endpoint.shutdown.clone();
        loop {
            let accepted = tokio::select! {
                _ = stop.changed() => break,
                accepted = self.listener.accept() => accepted,
            };
            match accepted {
                Ok((stream, _)) => {
                    let endpoint = self.endpoint.clone();
                    let path = self.path.display().to_string();
                    tokio::spawn(async move {
                        endpoint.session(stream, &path, Role::Listening).await;
                    });
                }
                Err(error) => {
                    tracing::warn!(%error, "UDS accept failed");
                    tokio::time::sleep(Duration::from_millis(100)).await;
                }
            }
        }
        let _ = std::fs::remove_file(&self.path);
    }
}

/// The connecting side: connects to a controller's socket and reconnects after a random
/// [`RECONNECT_DELAY_MIN`]..=[`RECONNECT_DELAY_MAX`] (R-UDS.5), or at once when the network
/// comes up. Its MTP row's `Status` is `Up` while connected, else `Down`.
pub(crate) async fn connect_loop(
    path: String,
    endpoint_id: String,
    signer: Option<Trust>,
    agent: mpsc::Sender<MtpInput>,
    mut network: NetworkUp,
    mut shutdown: watch::Receiver<bool>,
    report: Report,
) {
    let endpoint = Endpoint {
        endpoint_id,
        signer,
        agent,
        shutdown: shutdown.clone(),
    };
    loop {
        let connected = tokio::select! {
            _ = shutdown.changed() => return,
            connected = UnixStream::connect(&path) => connected,
        };
        match connected {
            Ok(stream) => {
                report.mtp("Up").await;
                if endpoint.session(stream, &path, Role::Connecting).await == Ended::Shutdown {
                    return;
                }
                report.mtp("Down").await;
            }
            Err(error) => tracing::warn!(path, %error, "cannot connect to the UDS socket"),
        }
        let wait = reconnect_delay();
        tracing::info!(path, ?wait, "UDS reconnect scheduled");
        if network.wait(wait, &mut shutdown).await == Waited::Shutdown {
            return;
        }
    }
}

/// A random wait in [`RECONNECT_DELAY_MIN`]..=[`RECONNECT_DELAY_MAX`].
fn reconnect_delay() -> Duration {
    let span = RECONNECT_DELAY_MAX.saturating_sub(RECONNECT_DELAY_MIN);
    let span_ms = u64::try_from(span.as_millis()).unwrap_or(u64::MAX);
    let random = SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .map_or(0, |d| u64::from(d.subsec_nanos()));
    RECONNECT_DELAY_MIN + Duration::from_millis(random % span_ms.saturating_add(1))
}

/// Which end of the socket the agent is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Role {
    /// It accepted the connection: the peer's Handshake comes first.
    Listening,
    /// It connected: its Handshake goes first.
    Connecting,
}

/// A received frame, reduced to what the session acts on.
enum Incoming {
    Handshake(String),
    Record(Vec<u8>),
    Error(String),
    /// Only unknown TLV types (ignored, R-UDS.15).
    Nothing,
}

/// Reads whole frames from a socket.
struct FrameReader<R> {
    reader: R,
    buf: Vec<u8>,
    max: usize,
}

impl<R: AsyncRead + Unpin> FrameReader<R> {
    fn new(reader: R) -> Self {
        Self {
            reader,
            buf: Vec::new(),
            max: Limits::default()
                .max_record_bytes
                .saturating_add(FRAME_OVERHEAD),
        }
    }

    /// The next frame; `Ok(None)` at the end of the stream; `Err` for a frame that cannot
    /// be parsed (the text goes into the Error frame). Cancel-safe: bytes read stay buffered.
    async fn next(&mut self) -> Result<Option<Incoming>, String> {
        loop {
            if !self.buf.is_empty() {
                match framing::decode_frame(&self.buf, self.max).map_err(|e| e.to_string())? {
                    Decoded::Frame { frame, consumed } => {
                        let incoming = if let Some(text) = frame.first(TlvType::ERROR) {
                            Incoming::Error(String::from_utf8_lossy(text).into_owned())
                        } else if let Some(eid) = frame.first(TlvType::HANDSHAKE) {
                            let eid = std::str::from_utf8(eid)
                                .map_err(|_| "the Handshake is not UTF-8".to_owned())?;
                            Incoming::Handshake(eid.to_owned())
                        } else if let Some(record) = frame.first(TlvType::RECORD) {
                            Incoming::Record(record.to_vec())
                        } else {
                            Incoming::Nothing
                        };
                        self.buf.drain(..consumed);
                        return Ok(Some(incoming));
                    }
                    Decoded::Incomplete { .. } => {}
                }
            }
            let mut chunk = vec![0; READ_CHUNK];
            let n = self
                .reader
                .read(&mut chunk)
                .await
                .map_err(|e| e.to_string())?;
            if n == 0 {
                return Ok(None);
            }
            self.buf
                .extend_from_slice(chunk.get(..n).unwrap_or_default());
        }
    }
}

/// Writes one frame built by `encode`.
async fn write_frame<W, F>(writer: &mut W, encode: F) -> bool
where
    W: AsyncWrite + Unpin,
    F: FnOnce(&mut Vec<u8>) -> Result<usize, framing::FrameError>,
{
    let mut frame = Vec::new();
    if encode(&mut frame).is_err() {
        return false;
    }
    writer.write_all(&frame).await.is_ok()
}

impl Endpoint {
    /// One connection: the handshake (bounded by [`HANDSHAKE_TIMEOUT`]), the UDSConnect
    /// Record, then Records both ways until either side closes.
    async fn session(&self, stream: UnixStream, path: &str, role: Role) -> Ended {
        let (reader, mut writer) = stream.into_split();
        let mut reader = FrameReader::new(reader);
        if role == Role::Connecting
            && !write_frame(&mut writer, |out| {
                framing::encode_handshake(&self.endpoint_id, out)
            })
            .await
        {
            return Ended::Closed;
        }
        let peer = match tokio::time::timeout(HANDSHAKE_TIMEOUT, handshake(&mut reader)).await {
            Ok(Ok(peer)) => peer,
            Ok(Err(reason)) => {
                tracing::info!(path, reason, "UDS handshake failed");
                let _ = write_frame(&mut writer, |out| framing::encode_error(&reason, out)).await;
                return Ended::Closed;
            }
            Err(_) => {
                tracing::info!(path, "no UDS handshake in time");
                return Ended::Closed;
            }
        };
        if role == Role::Listening
            && !write_frame(&mut writer, |out| {
                framing::encode_handshake(&self.endpoint_id, out)
            })
            .await
        {
            return Ended::Closed;
        }
        let connect = RecordBuilder::new(peer.clone(), self.endpoint_id.clone()).uds_connect();
        let mtp = Mtp::new(MtpKind::Uds, peer.clone());
        let record = encode_own(self.signer.as_ref(), &mtp, connect);
        if !write_frame(&mut writer, |out| framing::encode_record(&record, out)).await {
            return Ended::Closed;
        }
        tracing::info!(path, controller = %peer, "USP controller connected over UDS");
        let conn = next_conn();
        let (tx, mut rx) = mpsc::channel::<Outbound>(SEND_QUEUE);
        let connected = MtpInput::Connected {
            key: peer.clone(),
            conn,
            tx,
        };
        if self.agent.send(connected).await.is_err() {
            return Ended::Shutdown;
        }
        let mut shutdown = self.shutdown.clone();
        let (ended, reason) = loop {
            tokio::select! {
                _ = shutdown.changed() => break (Ended::Shutdown, "agent shutdown".to_owned()),
                incoming = reader.next() => match incoming {
                    Ok(Some(Incoming::Record(bytes))) => {
                        let record = MtpInput::Record {
                            mtp: mtp.clone(),
                            bytes: bytes.into(),
                        };
                        if self.agent.send(record).await.is_err() {
                            break (Ended::Shutdown, "agent gone".to_owned());
                        }
                    }
                    Ok(Some(Incoming::Handshake(_) | Incoming::Nothing)) => {}
                    Ok(Some(Incoming::Error(text))) => break (Ended::Closed, format!("peer error: {text}")),
                    Ok(None) => break (Ended::Closed, "closed by the peer".to_owned()),
                    Err(reason) => {
                        let _ = write_frame(&mut writer, |out| framing::encode_error(&reason, out)).await;
                        break (Ended::Closed, reason);
                    }
                },
                outgoing = rx.recv() => match outgoing {
                    Some(Outbound { bytes, .. }) => {
                        if !write_frame(&mut writer, |out| framing::encode_record(&bytes, out)).await {
                            break (Ended::Closed, "send failed".to_owned());
                        }
                    }
                    None if *shutdown.borrow() => break (Ended::Shutdown, "agent shutdown".to_owned()),
                    None => break (Ended::Closed, "replaced by a newer connection".to_owned()),
                },
            }
        };
        tracing::info!(path, controller = %peer, reason, "USP UDS connection closed");
        let _ = self.agent.send(MtpInput::Closed { key: peer, conn }).await;
        ended
    }
}

/// Waits for the peer's Handshake, ignoring Records before it (R-UDS.17); the Endpoint ID.
async fn handshake<R: AsyncRead + Unpin>(reader: &mut FrameReader<R>) -> Result<String, String> {
    loop {
        match reader.next().await? {
            Some(Incoming::Handshake(eid)) if !eid.is_empty() => return Ok(eid),
            Some(Incoming::Handshake(_)) => return Err("empty Endpoint ID in the Handshake".into()),
            Some(Incoming::Error(text)) => return Err(format!("peer error: {text}")),
            Some(Incoming::Record(_) | Incoming::Nothing) => {}
            None => return Err("closed before the handshake".into()),
        }
    }
}

/// Listens on the Unix socket `path`, first removing a stale socket file a previous run left
/// there (any other file stays, and the bind fails).
pub(crate) fn bind_replacing(path: &Path) -> std::io::Result<UnixListener> {
    if std::fs::symlink_metadata(path).is_ok_and(|m| is_socket(&m)) {
        std::fs::remove_file(path)?;
    }
    UnixListener::bind(path)
}

fn is_socket(metadata: &std::fs::Metadata) -> bool {
    use std::os::unix::fs::FileTypeExt as _;
    metadata.file_type().is_socket()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reconnect_delay_is_within_the_spec_bounds() {
        for _ in 0..100 {
            let wait = reconnect_delay();
            assert!((RECONNECT_DELAY_MIN..=RECONNECT_DELAY_MAX).contains(&wait));
        }
    }

    #[tokio::test(flavor = "current_thread")]
    async fn frames_split_across_reads_and_garbage() {
        let mut wire = Vec::new();
        framing::encode_handshake("self::ctrl", &mut wire).unwrap();
        framing::encode_record(b"\x0a\x031.4", &mut wire).unwrap();
        wire.extend_from_slice(b"GET / HTTP/1.1\r\n");
        let (mut a, b) = tokio::io::duplex(3);
        tokio::spawn(async move { a.write_all(&wire).await });
        let mut reader = FrameReader::new(b);
        assert!(matches!(
            reader.next().await,
            Ok(Some(Incoming::Handshake(eid))) if eid == "self::ctrl"
        ));
        assert!(matches!(
            reader.next().await,
            Ok(Some(Incoming::Record(r))) if r == b"\x0a\x031.4"
        ));
        assert!(reader.next().await.is_err());
    }
}
