//! The CWMP (TR-069) driver: owns the sans-IO [`Session`], posts what it transmits to the
//! ACS ([`AcsClient`]: HTTP/1.1 or HTTPS, one kept-alive connection per session), runs its engine
//! requests, feeds it the device's notices and change log, honours its timers, and persists
//! its state in `<state_dir>/cwmp.json`. A second task serves HTTP connection requests
//! ([`ConnReqServer`]) on a loopback port, a third UDP ones ([`crate::cwmp_udp`]), which also
//! sends the session's UDP lightweight notifications, a fourth XMPP ones
//! ([`crate::cwmp_xmpp`]).
//!
//! The POST in flight is polled beside the other inputs, so device events and connection
//! requests reach the session while the ACS thinks, and a shutdown does not wait for the
//! ACS. The session sends one POST at a time (the next after the answer to the last) and
//! bounds each by its session timeout: when that passes it ends the session, and the driver
//! drops the POST with its connection. Device notices go to the session as they come: one
//! that comes after the Inform (a TransferComplete) waits in the session for a later one,
//! whose Inform announces it (`7 TRANSFER COMPLETE`).
//!
//! The session's engine requests run beside the other inputs too: a slow HAL call (a
//! SetParameterValues the hardware takes long to apply) holds up neither device events nor
//! connection requests (answered by the server's task, and now taken by the session at once)
//! nor a shutdown. They run one at a time, in the order the session emitted them, each result
//! handed back before the next starts, as the session's one-RPC-at-a-time exchange expects;
//! what comes meanwhile the session takes in any phase (a notice after the Inform waits in
//! it, see above).
//!
//! At shutdown the driver takes no more inputs and lets the session's requests run for at
//! most [`SHUTDOWN_REQUESTS`], feeding their results to the session (so that the state it
//! saves matches the engine's: an acknowledged notice, say), but posts nothing more. A request
//! still running then (that slow Set) is dropped at its `.await`: the engine changes its
//! store only in the last, synchronous step of a write, so the Set is in the store entirely
//! (and saved at exit) or not at all; the hardware may keep what the HAL had applied. The ACS,
//! left without a response, reads the outcome from `ParameterKey` in the next session.

use std::collections::{BTreeSet, VecDeque};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use cwmp_core::connreq::{ConnReqConfig, ConnReqRequest, ConnReqResponse, ConnReqServer};
use cwmp_core::session::{
    EngineRequest, EngineResult, Event, HttpRequest, HttpResponse, Input, Output, PersistedState,
    RequestId, ServerSettings, Session, SessionConfig,
};
use futures_util::future::BoxFuture;
use hal::engine::NoticeId;
use hal::{Engine, Principal};
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::TcpListener;
use tokio::sync::{Notify, mpsc, watch};
use tr181_model::store::Change;

use crate::acs_client::{AcsClient, HttpAnswer};
use crate::config::CwmpConfig;
use crate::device::{DeviceEvent, wall_clock};
use crate::http1::{self, Conn, RequestHead};
use crate::tls::{self, Trust};
use crate::usp::sleep_until;

/// The file in the state directory that holds the session's persisted state.
pub(crate) const STATE_FILE: &str = "cwmp.json";
/// Most outputs handled in one drain before the driver looks at its inputs again.
const DRAIN_BOUND: usize = 10_000;
/// How long one connection-request connection may stay open.
const CR_CONNECTION_TIMEOUT: Duration = Duration::from_secs(10);
/// Connection requests accepted but not yet given to the session.
const CR_QUEUE: usize = 8;
/// How long the session's engine requests may still run at shutdown (see the
/// [module docs](self)): the quick ones finish, a slow write is dropped.
const SHUTDOWN_REQUESTS: Duration = Duration::from_secs(1);

const MS: &str = "Device.ManagementServer.";

/// Writes the configured `Device.ManagementServer.` values, the connection-request URL
/// `cr_url` and the UDP connection-request address `udp_address` (empty: none) on the
/// device (as the device, like the USP side's own parameters).
///
/// Returns the change-log position before these writes, from which [`CwmpDriver::new`]
/// passes them to the session: a value that differs from the persisted one (a new
/// `ConnectionRequestURL` after a restart on another port) is then a value change like any
/// other, `4 VALUE CHANGE` in the first Inform for the parameters with active notification
/// (`ConnectionRequestURL` has it by default, TR-181 `forceDefaultEnabled`).
pub(crate) async fn configure_device(
    engine: &Engine,
    config: &CwmpConfig,
    cr_url: &str,
    udp_address: &str,
) -> Result<u64, hal::EngineError> {
    let since = engine.last_seq();
    let config = config.clone();
    let cr_url = cr_url.to_owned();
    let udp_address = udp_address.to_owned();
    engine
        .device_update(move |txn| {
            txn.set(&format!("{MS}URL"), &config.acs_url)?;
            for (name, value) in [
                ("Username", &config.username),
                ("Password", &config.password),
                (
                    "ConnectionRequestUsername",
                    &config.connection_request_username,
                ),
                (
                    "ConnectionRequestPassword",
                    &config.connection_request_password,
                ),
            ] {
                if !value.is_empty() {
                    txn.set(&format!("{MS}{name}"), value)?;
                }
            }
            if config.periodic_inform_interval > 0 {
                txn.set(
                    &format!("{MS}PeriodicInformInterval"),
                    &config.periodic_inform_interval.to_string(),
                )?;
                txn.set(&format!("{MS}PeriodicInformEnable"), "true")?;
            }
            txn.set(&format!("{MS}UDPConnectionRequestAddress"), &udp_address)?;
            // What this agent can do: HTTP always, UDP with STUN when the socket is open,
            // XMPP (`crate::cwmp_xmpp`) with the server from `Domain` (its SRV records, or
            // itself) or the server table.
            let methods = if udp_address.is_empty() {
                "HTTP,XMPP"
            } else {
                "HTTP,STUN,XMPP"
            };
            txn.set(&format!("{MS}SupportedConnReqMethods"), methods)?;
            // The session resolves `[alias]` names (cwmp_core::session::alias).
            txn.set(&format!("{MS}AliasBasedAddressing"), "true")?;
            txn.set(
                "Device.XMPP.SupportedServerConnectAlgorithms",
                "DNS-SRV,DNS,ServerTable",
            )?;
            txn.set(&format!("{MS}ConnectionRequestURL"), &cr_url)
        })
        .await?;
    Ok(since)
}

/// Loads the persisted session state; a missing file is a fresh start (`0 BOOTSTRAP`), an
/// unreadable one too (with a warning). An invalid one (garbled, not JSON of the state) is
/// reported and moved aside to `cwmp.json.invalid`, so that the next save does not
/// overwrite what it held.
pub(crate) fn load_state(state_dir: &Path) -> Option<PersistedState> {
    let path = state_dir.join(STATE_FILE);
    let text = match std::fs::read(&path) {
        Ok(text) => text,
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => return None,
        Err(error) => {
            tracing::warn!(%error, path = %path.display(), "cannot read the CWMP state");
            return None;
        }
    };
    let error = match serde_json::from_slice(&text) {
        Ok(state) => return Some(state),
        Err(error) => error,
    };
    let kept = path.with_extension("json.invalid");
    match std::fs::rename(&path, &kept) {
        Ok(()) => tracing::error!(
            %error,
            kept = %kept.display(),
            "invalid CWMP state, starting fresh; the invalid file is kept"
        ),
        Err(rename) => tracing::error!(
            %error,
            %rename,
            path = %path.display(),
            "invalid CWMP state, starting fresh; it could not be moved aside"
        ),
    }
    None
}

/// The CWMP driver; see the [module docs](self).
pub(crate) struct CwmpDriver {
    session: Session,
    engine: Arc<Engine>,
    /// Wakes the device task, which fans changes out to every driver.
    wake: Arc<Notify>,
    seq: u64,
    state_path: PathBuf,
    saved: Option<String>,
    timeout: Option<Instant>,
    /// The client for the next POST (the one in flight holds the session's connection).
    client: AcsClient,
    /// For a new client when the POST in flight is dropped.
    trust: Option<Trust>,
    /// The POST in flight, if any: a session is under way.
    in_flight: Option<BoxFuture<'static, Posted>>,
    /// The session's engine requests not started yet, in the order it emitted them.
    requests: VecDeque<(RequestId, Principal, EngineRequest)>,
    /// The one running, if any.
    running: Option<BoxFuture<'static, (RequestId, EngineResult)>>,
    /// Notices given to the session at start, which the device task delivers again.
    early_notices: BTreeSet<NoticeId>,
}

impl CwmpDriver {
    /// A driver for `engine`'s device, restoring the state saved in `state_dir`, checking an
    /// `https://` ACS against `trust`; the changes logged after `since` (those of
    /// [`configure_device`]) go to the session before anything else.
    pub(crate) fn new(
        engine: Arc<Engine>,
        wake: Arc<Notify>,
        state_dir: &Path,
        cwmp: &CwmpConfig,
        trust: Option<Trust>,
        since: u64,
    ) -> Self {
        let client = AcsClient::new(trust.clone());
        let persisted = load_state(state_dir);
        let mut config = SessionConfig::default().with_rng_seed(tls::random_seed());
        config.basic_over_plain_http = cwmp.basic_over_plain_http;
        let settings = engine.read(ServerSettings::from_store);
        let mut session = Session::new(config, settings, persisted, Instant::now());
        let (malformed, beyond_limits, unknown_names) = (
            session.malformed_on_restore(),
            session.dropped_on_restore(),
            session.dropped_changes(),
        );
        if malformed > 0 || beyond_limits > 0 || unknown_names > 0 {
            tracing::warn!(
                malformed,
                beyond_limits,
                unknown_names,
                "the saved CWMP state held entries of the wrong JSON type, entries beyond the \
                 session's limits (garbled, or written for larger limits) or queued names that \
                 are no parameter of the model for lightweight notifications; they are dropped"
            );
        }
        // The notices pending now (this boot's `Booted` among them) go in before anything
        // can start a session, so that the first Inform carries `1 BOOT`. The device task
        // delivers them again later: those repeats are skipped (once acknowledged, the
        // session would take a repeated `Booted` for a new boot).
        let mut early_notices = BTreeSet::new();
        for (id, notice) in engine.pending_notices() {
            early_notices.insert(id);
            if let Err(error) = session.handle_input(Input::Notice(id, notice)) {
                tracing::warn!(%error, "CWMP session refused a notice");
            }
        }
        let mut driver = Self {
            wake,
            session,
            engine,
            seq: since,
            state_path: state_dir.join(STATE_FILE),
            saved: None,
            timeout: None,
            client,
            trust,
            in_flight: None,
            requests: VecDeque::new(),
            running: None,
            early_notices,
        };
        if let Some(time) = wall_clock() {
            driver.input(Input::WallClock(time));
        }
        driver.sync_changes();
        driver
    }

    /// Runs until `shutdown`: `connection_requests` carries each connection request the
    /// server accepted.
    pub(crate) async fn run(
        mut self,
        mut device: mpsc::Receiver<DeviceEvent>,
        mut connection_requests: mpsc::Receiver<()>,
        mut shutdown: watch::Receiver<bool>,
    ) {
        loop {
            self.drive();
            let timer = self.timeout.map(tokio::time::Instant::from_std);
            tokio::select! {
                _ = shutdown.changed() => break,
                posted = output_of(&mut self.in_flight) => self.handle_answer(posted),
                (id, result) = output_of(&mut self.running) => self.finish(id, result),
                Some(event) = device.recv() => self.handle_device(event),
                Some(()) = connection_requests.recv() => {
                    tracing::info!("CWMP connection request accepted");
                    self.input(Input::ConnectionRequest);
                }
                () = sleep_until(timer) => self.input(Input::Timeout(Instant::now())),
            }
        }
        let finishing = async {
            loop {
                self.drive();
                let (id, result) = match &mut self.running {
                    Some(running) => running.await,
                    None => return,
                };
                self.finish(id, result);
            }
        };
        if tokio::time::timeout(SHUTDOWN_REQUESTS, finishing)
            .await
            .is_err()
        {
            tracing::warn!("a CWMP engine request still running at shutdown is dropped");
        }
        self.save();
    }

    /// Gives the session the result of its request `id`.
    fn finish(&mut self, id: RequestId, result: EngineResult) {
        self.running = None;
        // The other stack learns of this request's changes from the device task.
        self.wake.notify_one();
        if let Err(error) = self.session.respond(id, result) {
            tracing::error!(%error, "the CWMP session refused an engine result");
        }
        self.sync_changes();
    }

    /// Moves the session's time to now, then feeds `input`.
    fn input(&mut self, input: Input<'_>) {
        if let Err(error) = self.session.handle_input(Input::Timeout(Instant::now())) {
            tracing::warn!(%error, "CWMP session refused the time");
        }
        if matches!(input, Input::Timeout(_)) {
            return;
        }
        if let Err(error) = self.session.handle_input(input) {
            tracing::warn!(%error, "CWMP session refused an input");
        }
    }

    fn handle_device(&mut self, event: DeviceEvent) {
        if let Some(time) = wall_clock() {
            self.input(Input::WallClock(time));
        }
        self.sync_changes();
        if let DeviceEvent::Notice(id, notice) = event {
            // The session keeps one that comes after its Inform for after the session.
            if !self.early_notices.remove(&id) {
                self.input(Input::Notice(id, notice));
            }
        }
    }

    /// Passes new change-log records to the session, and new settings when
    /// `Device.ManagementServer.` changed.
    fn sync_changes(&mut self) {
        let changes = self.engine.changes_since(self.seq);
        let Some(last) = changes.last() else {
            return;
        };
        self.seq = last.seq;
        self.input(Input::Changes(&changes));
        let settings_changed = changes.iter().any(|record| match &record.change {
            Change::ValueChanged { path, .. } => ServerSettings::is_settings_path(path),
            _ => false,
        });
        if settings_changed {
            let settings = self.engine.read(ServerSettings::from_store);
            tracing::debug!(?settings, "CWMP settings changed");
            self.input(Input::Settings(settings));
        }
    }

    /// Drains the session's outputs, then starts its next engine request when none runs.
    fn drive(&mut self) {
        self.drain();
        if self.running.is_some() {
            return;
        }
        if let Some((id, principal, request)) = self.requests.pop_front() {
            let engine = self.engine.clone();
            self.running = Some(Box::pin(async move {
                (id, request.execute(&engine, &principal).await)
            }));
        }
    }

    /// Drains the session's outputs: POSTs, engine requests (queued) and events.
    fn drain(&mut self) {
        for _ in 0..DRAIN_BOUND {
            match self.session.poll_output() {
                Output::Transmit(request) => {
                    // What the ACS has acknowledged (an InformResponse clears the events, a
                    // Download is now a queued transfer) is saved before anything else is
                    // sent: a crash after this point must not repeat or lose it.
                    self.save();
                    self.transmit(request);
                }
                Output::EngineRequest {
                    id,
                    principal,
                    request,
                } => self.requests.push_back((id, principal, request)),
                Output::Event(event) => self.handle_event(event),
                Output::Datagram(datagram) => crate::cwmp_udp::send_lightweight(datagram),
                Output::Timeout(at) => {
                    self.timeout = Some(at);
                    return;
                }
                other => tracing::warn!(?other, "unknown CWMP session output"),
            }
        }
        // Still busy: look at inputs, then come back at once.
        self.timeout = Some(Instant::now());
    }

    fn handle_event(&mut self, event: Event) {
        match event {
            Event::SessionStarted { events } => {
                let codes: Vec<&str> = events.iter().map(|e| e.event_code.as_str()).collect();
                tracing::info!(events = ?codes, "CWMP session started");
            }
            Event::SessionEnded(end) => {
                // TR-069 §3.2.1: the CPE closes the connection at the end of the session; a
                // POST still in flight (the session timed out) goes with its connection.
                self.in_flight = None;
                self.client.close();
                match end.failure {
                    None => tracing::info!("CWMP session ended"),
                    Some(failure) => tracing::warn!(
                        ?failure,
                        retry_count = end.retry_count,
                        "CWMP session failed"
                    ),
                }
            }
            Event::StateChanged => self.save(),
            other => tracing::debug!(?other, "CWMP session event"),
        }
    }

    /// Saves the persisted state if it changed (written to a temporary file, then renamed).
    /// Compact JSON, as the engine writes its files: a second formatter would link a second
    /// copy of the serializing code.
    fn save(&mut self) {
        let json = match serde_json::to_string(&self.session.persisted_state()) {
            Ok(json) => json,
            Err(error) => {
                tracing::error!(%error, "cannot encode the CWMP state");
                return;
            }
        };
        if self.saved.as_deref() == Some(json.as_str()) {
            return;
        }
        let temporary = self.state_path.with_extension("json.tmp");
        let written = std::fs::write(&temporary, &json)
            .and_then(|()| std::fs::rename(&temporary, &self.state_path));
        match written {
            Ok(()) => {
                tracing::debug!(path = %self.state_path.display(), "CWMP state saved");
                self.saved = Some(json);
            }
            Err(error) => tracing::error!(
                %error,
                path = %self.state_path.display(),
                "cannot save the CWMP state"
            ),
        }
    }

    /// Starts POSTing `request` on the session's connection.
    fn transmit(&mut self, request: HttpRequest) {
        tracing::debug!(url = %request.url, bytes = request.body.len(), "CWMP POST");
        let fresh = AcsClient::new(self.trust.clone());
        let mut client = std::mem::replace(&mut self.client, fresh);
        self.in_flight = Some(Box::pin(async move {
            let answer = client.post(&request).await;
            Posted {
                client,
                url: request.url,
                answer,
            }
        }));
    }

    /// Feeds the answer to the POST (or its failure) to the session.
    fn handle_answer(&mut self, posted: Posted) {
        self.in_flight = None;
        self.client = posted.client;
        match posted.answer {
            Ok((status, headers, body)) => {
                tracing::debug!(status, bytes = body.len(), "CWMP response");
                let headers: Vec<(&str, &str)> = headers
                    .iter()
                    .map(|(n, v)| (n.as_str(), v.as_str()))
                    .collect();
                self.input(Input::HttpResponse(HttpResponse::new(
                    status, &headers, &body,
                )));
            }
            Err(error) => {
                tracing::warn!(url = %posted.url, %error, "CWMP POST failed");
                self.client.close();
                self.input(Input::HttpFailed);
            }
        }
    }
}

/// A POST done: the client that made it, to reuse its connection, and the answer.
struct Posted {
    client: AcsClient,
    url: String,
    answer: Result<HttpAnswer, String>,
}

/// The output of the future in `slot` (the POST in flight, the engine request running);
/// never, without one.
async fn output_of<T>(slot: &mut Option<BoxFuture<'static, T>>) -> T {
    match slot {
        Some(future) => future.await,
        None => std::future::pending().await,
    }
}

/// The connection-request server, bound.
pub(crate) struct ConnReqListener {
    listener: TcpListener,
    /// The path of the connection-request URL (only it is served).
    path: Arc<str>,
}

impl ConnReqListener {
    /// Binds `listen`, serving `path`.
    pub(crate) async fn bind(listen: SocketAddr, path: &str) -> std::io::Result<Self> {
        let listener = TcpListener::bind(listen).await?;
        Ok(Self {
            listener,
            path: path.into(),
        })
    }

    /// The port of this server and the path it serves, which make its
    /// `ConnectionRequestURL` with the address the ACS reaches it at
    /// ([`crate::cwmp_reach::cr_url`]).
    pub(crate) fn port_and_path(&self) -> std::io::Result<(u16, String)> {
        Ok((self.listener.local_addr()?.port(), self.path.to_string()))
    }

    /// Serves connection requests until `shutdown`; each accepted one goes to `accepted`.
    pub(crate) async fn serve(
        self,
        engine: Arc<Engine>,
        accepted: mpsc::Sender<()>,
        mut shutdown: watch::Receiver<bool>,
    ) {
        let (username, password) = cr_credentials(&engine);
        let server = Arc::new(Mutex::new(ConnReqServer::new(
            ConnReqConfig::new(username, password),
            tls::random_seed(),
        )));
        loop {
            let incoming = tokio::select! {
                _ = shutdown.changed() => break,
                incoming = self.listener.accept() => incoming,
            };
            let stream = match incoming {
                Ok((stream, _)) => stream,
                Err(error) => {
                    tracing::warn!(%error, "connection-request accept failed");
                    tokio::time::sleep(Duration::from_millis(100)).await;
                    continue;
                }
            };
            let server = server.clone();
            let engine = engine.clone();
            let accepted = accepted.clone();
            let path = self.path.clone();
            tokio::spawn(async move {
                let connection = serve_connection(Conn::new(stream), |request| {
                    handle_connection_request(&server, &engine, &accepted, &path, request)
                });
                match tokio::time::timeout(CR_CONNECTION_TIMEOUT, connection).await {
                    Ok(Ok(())) => {}
                    Ok(Err(error)) => tracing::debug!(%error, "connection-request connection"),
                    Err(_) => tracing::debug!("connection-request connection timed out"),
                }
            });
        }
    }
}

/// Most bytes of a connection-request body (a GET has none; one that is sent is read and
/// dropped).
const MAX_CR_BODY: usize = 4096;

/// Answers the requests of one connection with `handle` until the client closes it or asks
/// to; a malformed request is answered with 400 and ends it.
async fn serve_connection(
    mut conn: Conn<impl AsyncRead + AsyncWrite + Unpin>,
    mut handle: impl FnMut(&RequestHead) -> (u16, Vec<(String, String)>),
) -> Result<(), http1::Error> {
    loop {
        let request = match conn.read_request_head().await {
            Ok(Some(request)) => request,
            Ok(None) => return Ok(()),
            Err(error @ (http1::Error::Protocol(_) | http1::Error::TooLarge(_))) => {
                conn.send_bad_request().await?;
                return Err(error);
            }
            Err(error) => return Err(error),
        };
        conn.read_body(MAX_CR_BODY).await?;
        let (status, headers) = handle(&request);
        let headers: Vec<(&str, &str)> = headers
            .iter()
            .map(|(n, v)| (n.as_str(), v.as_str()))
            .collect();
        conn.send_response(status, &headers).await?;
        if !conn.reusable() {
            return Ok(());
        }
    }
}

/// `ConnectionRequestUsername` and `ConnectionRequestPassword` of the device.
pub(crate) fn cr_credentials(engine: &Engine) -> (String, String) {
    engine.read(|store| {
        let text = |name: &str| {
            store
                .value(&format!("{MS}{name}"))
                .map(tr181_model::value::Value::canonical_text)
                .unwrap_or_default()
        };
        (
            text("ConnectionRequestUsername"),
            text("ConnectionRequestPassword"),
        )
    })
}

/// Answers one connection request with [`ConnReqServer::handle_request`]: the status and
/// header fields of the response.
fn handle_connection_request(
    server: &Mutex<ConnReqServer>,
    engine: &Engine,
    accepted: &mpsc::Sender<()>,
    path: &str,
    request: &RequestHead,
) -> (u16, Vec<(String, String)>) {
    // The origin form (`/path?query`), also of an absolute-form target (RFC 9112 §3.2.2).
    let target = match request.target.split_once("://") {
        Some((_, rest)) => rest.find('/').and_then(|i| rest.get(i..)).unwrap_or("/"),
        None => request.target.as_str(),
    };
    if target.split('?').next() != Some(path) {
        return (404, Vec::new());
    }
    let headers: Vec<(&str, &str)> = request
        .headers
        .iter()
        .map(|(n, v)| (n.as_str(), v.as_str()))
        .collect();
    // The ACS may have changed the credentials since the last request.
    let (username, password) = cr_credentials(engine);
    let answer: ConnReqResponse = {
        let mut server = server.lock().unwrap_or_else(PoisonError::into_inner);
        server.set_credentials(username.clone(), password);
        server.handle_request(
            Instant::now(),
            &ConnReqRequest::new(&request.method, target, &headers),
        )
    };
    if answer.accepted {
        if username.is_empty() {
            // No credentials configured: refuse rather than accept an empty user name.
            tracing::warn!("connection request refused: ConnectionRequestUsername is empty");
            return (403, Vec::new());
        }
        if accepted.try_send(()).is_err() {
            tracing::debug!("a connection request is already waiting for the session");
        }
    } else {
        tracing::debug!(status = answer.status, "connection request not accepted");
    }
    (answer.status, answer.headers)
}

/// The capacity of the channel of accepted connection requests.
pub(crate) const fn cr_queue() -> usize {
    CR_QUEUE
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use tokio::io::AsyncWriteExt as _;

    use super::*;

    /// What the connection-request server answers to `input`, and how the connection ended.
    async fn served(input: &[u8]) -> (String, Result<(), http1::Error>) {
        let (ours, mut theirs) = tokio::io::duplex(1 << 16);
        theirs.write_all(input).await.unwrap();
        drop(theirs);
        let mut out = Vec::new();
        let ended = serve_connection(Conn::new(tokio::io::join(ours, &mut out)), |request| {
            assert_eq!(request.target, "/cr");
            (204, Vec::new())
        })
        .await;
        (String::from_utf8(out).unwrap(), ended)
    }

    #[tokio::test]
    async fn requests_that_cannot_be_read_are_answered_with_400() {
        const BAD: &str =
            "HTTP/1.1 400 Bad Request\r\nconnection: close\r\ncontent-length: 0\r\n\r\n";
        let (answer, ended) = served(b"GET /cr HTTP/1.1\r\nno colon\r\n\r\n").await;
        assert_eq!(answer, BAD);
        assert!(matches!(ended, Err(http1::Error::Protocol(_))));

        let mut huge = b"GET /cr HTTP/1.1\r\nX: ".to_vec();
        huge.extend(std::iter::repeat_n(b'a', 20_000));
        let (answer, ended) = served(&huge).await;
        assert_eq!(answer, BAD);
        assert!(matches!(ended, Err(http1::Error::TooLarge(_))));

        // A readable request is answered and the connection kept until the client closes.
        let (answer, ended) = served(b"GET /cr HTTP/1.1\r\n\r\nGET /cr HTTP/1.1\r\n\r\n").await;
        assert_eq!(
            answer,
            "HTTP/1.1 204 No Content\r\ncontent-length: 0\r\n\r\n".repeat(2)
        );
        assert!(ended.is_ok());
    }
}
