//! The USP driver: owns the sans-IO [`Agent`], feeds it Records from the MTP connections,
//! device notices and its timers, runs its engine requests and sends what it transmits.
//!
//! One task runs the agent; every MTP connection is a task of its own that talks to it
//! through [`MtpInput`]s and receives [`Outbound`] Records on an `mpsc` channel. A link is
//! known by a key: for connection-oriented MTPs (WebSocket, UDS) the controller's Endpoint ID
//! when the connection named it, which is also the `reply_to` of the agent's [`Mtp`], so a
//! controller that reconnects gets its notifications on the new connection; for MQTT and
//! STOMP each broker connection's row (`Device.MQTT.Client.{i}.`,
//! `Device.STOMP.Connection.{i}.`), the `reply_to` being that row and a topic or destination
//! ([`mtp::address`]).
//! Records for a link that is down wait in a small outbox. Each MTP task sends its own
//! Connect Record (R-MTP.6; signed as the agent's Records are, [`encode_own`]) before it
//! reports [`MtpInput::Connected`].
//!
//! The agent's engine requests run beside the driver's inputs ([`Requests`]): a controller's
//! slow synchronous Operate (a firmware check, a speed test) holds up that controller's later
//! requests only, while other controllers, the MTPs, device events and timers are served.
//! Each principal (a controller, or the agent itself) has a lane whose requests run one at a
//! time in the order the agent emitted them, so a controller's requests are answered in the
//! order it sent them; lanes run concurrently, at most [`MAX_RUNNING`] requests at once, and a
//! controller's request never passes an earlier one of the agent's own (quick store updates
//! it may depend on: the rows of a controller trusted on first use, the `Recipient` of a
//! subscription it just added). The engine keeps writes atomic among concurrent requests
//! (its write gate), and every finished request passes the new change-log records to the
//! agent in log order; a request's response may then follow a Notify of its own change when
//! another request finished between its commit and its end.
//!
//! At shutdown the driver takes no more inputs and lets the requests the agent asked for run,
//! sending their answers, within the grace the process gives its tasks
//! ([`crate::SHUTDOWN_GRACE`]); what still runs then is dropped at its next `.await` when the
//! task is aborted (a write cut short never reaches the store, which it changes only in its
//! last, synchronous step; the hardware may keep what the HAL had applied).

use std::collections::{BTreeSet, VecDeque};
use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};
use std::task::Poll;
use std::time::{Duration, Instant};

use bytes::Bytes;
use futures_util::future::{BoxFuture, FutureExt as _};
use hal::engine::Notice;
use hal::{Engine, Principal};
use litemap::LiteMap;
use tokio::sync::{Notify, mpsc, oneshot, watch};
use usp_core::agent::{
    Agent, AgentConfig, AgentEvent, ControllerConfig, EngineRequest, EngineResult, Mtp, MtpKind,
    Output, RequestId,
};
use usp_core::usp_record::Record;

use crate::config::UspConfig;
use crate::device::{self, DeviceEvent, wall_clock};
use crate::mtp;
use crate::tls::{self, Reloads, Trust};

/// Most Records kept for a controller that is not connected; the oldest go first.
const OUTBOX_RECORDS: usize = 64;
/// Most controllers with an outbox.
const OUTBOX_CONTROLLERS: usize = 64;
/// Most outputs handled in one drain before the driver looks at its inputs again.
const DRAIN_BOUND: usize = 10_000;
/// Most engine requests running at once; the others wait in their lane.
const MAX_RUNNING: usize = 8;

/// What an MTP connection tells the driver.
#[derive(Debug)]
pub(crate) enum MtpInput {
    /// A link is up (its Connect Record already sent); Records for `key` go to `tx` from now
    /// on.
    Connected {
        /// The link key.
        key: String,
        /// The connection's number (a newer connection for the same key replaces it).
        conn: u64,
        /// Where to send Records.
        tx: mpsc::Sender<Outbound>,
    },
    /// A link is gone.
    Closed {
        /// The link key.
        key: String,
        /// The connection's number.
        conn: u64,
    },
    /// Answered once the agent has queued every Record due so far (the responses of the
    /// requests finished so far included; one still running answers later) for its link: an
    /// MTP is stopped only after this, so that its connection sends them first.
    Flush(oneshot::Sender<()>),
    /// A Record arrived.
    Record {
        /// The MTP, whose `reply_to` is where answers go (the link key of a connection, or a
        /// broker connection's [`mtp::address`]), with the Endpoint IDs the connection
        /// authenticated.
        mtp: Mtp,
        /// The Record, as the MTP client delivered it (the agent slices the Msg out of it).
        bytes: Bytes,
    },
}

/// A Record for an MTP task to send.
#[derive(Debug)]
pub(crate) struct Outbound {
    /// The [`Mtp::reply_to`] it goes to (a connection's own key, or a broker connection's
    /// [`mtp::address`]).
    pub(crate) reply_to: String,
    /// The encoded Record.
    pub(crate) bytes: Vec<u8>,
}

struct Link {
    conn: u64,
    tx: mpsc::Sender<Outbound>,
}

/// The link that carries Records for `mtp`.
fn link_key(mtp: &Mtp) -> &str {
    match mtp.kind {
        MtpKind::Mqtt | MtpKind::Stomp => mtp::split_address(&mtp.reply_to).0,
        _ => &mtp.reply_to,
    }
}

/// The USP driver; see the [module docs](self).
pub(crate) struct UspDriver {
    agent: Agent,
    engine: Arc<Engine>,
    /// The agent's engine requests, waiting and running.
    requests: Requests,
    /// Wakes the device task, which fans changes out to every driver.
    wake: Arc<Notify>,
    seq: u64,
    links: LiteMap<String, Link>,
    outbox: LiteMap<String, VecDeque<Outbound>>,
    /// Counts the device's network-up notices, for the MTPs' reconnect waits.
    network: watch::Sender<u32>,
    timeout: Option<Instant>,
    /// The configuration, for the controllers it names besides the device's rows.
    usp: UspConfig,
    /// The controllers the agent knows, as last given to it.
    controllers: Vec<ControllerConfig>,
    /// The agent's trust, whose E2E session TLS settings the agent gets again at each reload.
    trust: Option<(Trust, Reloads)>,
}

impl UspDriver {
    /// An agent `endpoint_id` over `engine` that accepts the controllers of `usp` and the
    /// device's enabled controller rows ([`known_controllers`], followed as they change).
    pub(crate) fn new(
        engine: Arc<Engine>,
        wake: Arc<Notify>,
        endpoint_id: &str,
        usp: &UspConfig,
        trust: Option<&Trust>,
    ) -> Self {
        let mut config = AgentConfig::new(endpoint_id)
            .with_unknown_controllers(usp.accept_unknown_controllers)
            .with_rng_seed(tls::random_seed());
        let controllers = known_controllers(&engine, usp);
        let names: Vec<_> = controllers.iter().map(|c| c.endpoint_id.as_str()).collect();
        tracing::info!(controllers = ?names, "USP controllers accepted");
        for controller in &controllers {
            config = config.with_controller(controller.clone());
        }
        let mut agent = Agent::new(config);
        if let Some(e2e_tls) = trust.and_then(Trust::e2e_tls) {
            agent = agent.with_e2e_tls(e2e_tls);
        }
        let seq = engine.last_seq();
        agent.skip_changes_through(seq);
        agent.set_wall_clock(Instant::now(), wall_clock());
        engine.read(|store| agent.load_subscriptions(Instant::now(), store));
        Self {
            wake,
            agent,
            requests: Requests::new(engine.clone(), endpoint_id),
            engine,
            seq,
            links: LiteMap::new(),
            outbox: LiteMap::new(),
            network: watch::channel(0).0,
            timeout: None,
            usp: usp.clone(),
            controllers,
            trust: trust.map(|trust| (trust.clone(), trust.reloads())),
        }
    }

    /// Gives the agent the known controllers again when the device's controller rows (or
    /// their MTP rows) changed.
    fn refresh_controllers(&mut self) {
        let controllers = known_controllers(&self.engine, &self.usp);
        if controllers != self.controllers {
            let names: Vec<_> = controllers.iter().map(|c| c.endpoint_id.as_str()).collect();
            tracing::info!(controllers = ?names, "USP controllers changed");
            self.agent.set_controllers(controllers.clone());
            self.controllers = controllers;
        }
    }

    /// What the MTP tasks watch to cut their reconnect waits short when the network comes up.
    pub(crate) fn network_up(&self) -> NetworkUp {
        NetworkUp(self.network.subscribe())
    }

    /// Runs until `shutdown`, first sending again the NotifRetry Notifies left unanswered
    /// before the last stop.
    pub(crate) async fn run(
        mut self,
        mut mtp: mpsc::Receiver<MtpInput>,
        mut device: mpsc::Receiver<DeviceEvent>,
        mut shutdown: watch::Receiver<bool>,
    ) {
        self.restore_notifications().await;
        loop {
            self.drive().await;
            let timer = self.timeout.map(tokio::time::Instant::from_std);
            tokio::select! {
                _ = shutdown.changed() => break,
                Some(input) = mtp.recv() => self.handle_mtp(input),
                Some(event) = device.recv() => self.handle_device(event),
                finished = self.requests.next_finished() => self.finish(finished),
                () = sleep_until(timer) => self.agent.handle_timeout(Instant::now()),
                () = tls::next_reload(self.trust.as_mut().map(|(_, reloads)| reloads)) => {
                    let e2e_tls = self.trust.as_ref().and_then(|(trust, _)| trust.e2e_tls());
                    self.agent.set_e2e_tls(e2e_tls);
                }
            }
        }
        self.finish_requests().await;
        let unanswered = self.outbox.values().map(VecDeque::len).sum::<usize>();
        if unanswered > 0 {
            tracing::info!(
                records = unanswered,
                "USP Records not delivered at shutdown"
            );
        }
    }

    /// Runs the requests the agent asked for until none is left, taking no other input (see
    /// the [module docs](self) for what a shutdown grace that ends first drops).
    async fn finish_requests(&mut self) {
        loop {
            self.drive().await;
            if self.requests.is_empty() {
                return;
            }
            let finished = self.requests.next_finished().await;
            self.finish(finished);
        }
    }

    /// Gives the agent the result of a finished request.
    fn finish(&mut self, finished: Finished) {
        self.requests.finished(&finished);
        // The other stack learns of this request's changes from the device task.
        self.wake.notify_one();
        if let Err(error) = self.agent.respond(finished.id, finished.result) {
            tracing::error!(%error, "the agent refused an engine result");
        }
        self.sync_changes();
    }

    /// Hands the Notifies saved by [`Self::save_notifications`] back to the agent, which
    /// sends them again (queued until their controller connects).
    async fn restore_notifications(&mut self) {
        match self.engine.load_subscriptions().await {
            Ok(None) => {}
            Ok(Some(bytes)) => match self.agent.restore_notifications(Instant::now(), &bytes) {
                Ok(0) => {}
                Ok(count) => tracing::info!(count, "unanswered USP Notifies restored"),
                Err(error) => tracing::warn!(%error, "saved USP Notifies unreadable, dropped"),
            },
            Err(error) => tracing::warn!(%error, "cannot load the saved USP Notifies"),
        }
    }

    /// Keeps the unanswered NotifRetry Notifies beside the store, for the next start. (`&mut`:
    /// the driver is `Send` but not `Sync`, its running requests being neither.)
    async fn save_notifications(&mut self) {
        let bytes = self.agent.save_notifications(Instant::now());
        if let Err(error) = self.engine.save_subscriptions(&bytes).await {
            tracing::warn!(%error, "cannot save the unanswered USP Notifies");
        }
    }

    fn handle_mtp(&mut self, input: MtpInput) {
        match input {
            MtpInput::Connected { key, conn, tx } => {
                let waiting = self.outbox.remove(&key).unwrap_or_default();
                if !waiting.is_empty() {
                    tracing::info!(controller = %key, records = waiting.len(), "delivering queued USP Records");
                }
                for outbound in waiting {
                    if tx.try_send(outbound).is_err() {
                        tracing::warn!(controller = %key, "connection queue full, USP Record dropped");
                    }
                }
                self.links.insert(key, Link { conn, tx });
            }
            MtpInput::Closed { key, conn } => {
                if self.links.get(&key).is_some_and(|link| link.conn == conn) {
                    self.links.remove(&key);
                }
            }
            MtpInput::Flush(done) => {
                // Every output of the requests finished so far went out in `drive`.
                let _ = done.send(());
            }
            MtpInput::Record { mtp, bytes } => {
                tracing::debug!(from = %mtp.reply_to, mtp = ?mtp.kind, bytes = bytes.len(), "USP Record received");
                self.agent.handle_record(Instant::now(), mtp, bytes);
            }
        }
    }

    fn handle_device(&mut self, event: DeviceEvent) {
        self.agent.set_wall_clock(Instant::now(), wall_clock());
        self.sync_changes();
        if matches!(event, DeviceEvent::Changed) {
            self.refresh_controllers();
        }
        if let DeviceEvent::Notice(id, notice) = event {
            if matches!(notice, Notice::NetworkUp) {
                self.network.send_modify(|n| *n = n.wrapping_add(1));
            }
            let agent = &mut self.agent;
            self.engine
                .read(|store| agent.handle_notice(Instant::now(), id, &notice, store));
        }
    }

    /// Passes new change-log records to the agent.
    fn sync_changes(&mut self) {
        let changes = self.engine.changes_since(self.seq);
        let Some(last) = changes.last() else {
            return;
        };
        self.seq = last.seq;
        let agent = &mut self.agent;
        self.engine
            .read(|store| agent.handle_changes(Instant::now(), &changes, store));
    }

    /// Drains the agent's outputs, then starts the engine requests whose turn has come.
    async fn drive(&mut self) {
        self.drain().await;
        self.requests.start_ready();
    }

    /// Drains the agent's outputs, queueing engine requests in their lane.
    async fn drain(&mut self) {
        for _ in 0..DRAIN_BOUND {
            match self.agent.poll_output() {
                Output::EngineRequest {
                    id,
                    principal,
                    request,
                } => self.requests.waiting.push_back(Waiting {
                    id,
                    principal,
                    request,
                }),
                Output::Transmit { mtp, to, bytes } => self.transmit(&mtp, &to, bytes),
                Output::Event(AgentEvent::NotificationsChanged) => {
                    self.save_notifications().await;
                }
                Output::Event(event) => tracing::info!(?event, "USP agent event"),
                Output::Timeout(at) => {
                    self.timeout = Some(at);
                    return;
                }
                Output::Idle => {
                    self.timeout = None;
                    return;
                }
                other => tracing::warn!(?other, "unknown USP agent output"),
            }
        }
        // Still busy: look at inputs, then come back at once.
        self.timeout = Some(Instant::now());
    }

    fn transmit(&mut self, mtp: &Mtp, to: &str, bytes: Vec<u8>) {
        tracing::debug!(to, mtp = ?mtp.kind, bytes = bytes.len(), "USP Record sent");
        let key = link_key(mtp);
        let outbound = Outbound {
            reply_to: mtp.reply_to.clone(),
            bytes,
        };
        match self.links.get(key) {
            Some(link) => {
                if link.tx.try_send(outbound).is_err() {
                    tracing::warn!(controller = to, "connection queue full, USP Record dropped");
                }
            }
            None => {
                if !self.outbox.contains_key(key) && self.outbox.len() >= OUTBOX_CONTROLLERS {
                    tracing::warn!(
                        controller = to,
                        "too many disconnected controllers, USP Record dropped"
                    );
                    return;
                }
                let queue = self.outbox.entry(key.to_owned()).or_default();
                if queue.len() >= OUTBOX_RECORDS {
                    queue.pop_front();
                    tracing::warn!(controller = to, "outbox full, oldest USP Record dropped");
                }
                queue.push_back(outbound);
                tracing::debug!(
                    controller = to,
                    "controller not connected, USP Record queued"
                );
            }
        }
    }
}

/// An engine request of the agent, waiting for its turn.
struct Waiting {
    id: RequestId,
    principal: Principal,
    request: EngineRequest,
}

/// An engine request that ran.
struct Finished {
    id: RequestId,
    /// Its lane, the principal's id.
    lane: String,
    result: EngineResult,
}

/// The agent's engine requests, in lanes; see the [module docs](self).
struct Requests {
    engine: Arc<Engine>,
    /// The agent's Endpoint ID: the lane of its own requests.
    own: String,
    /// In the order the agent emitted them.
    waiting: VecDeque<Waiting>,
    /// The lanes with a request running.
    busy: BTreeSet<String>,
    /// The agent's own request running, if any.
    own_running: Option<RequestId>,
    /// At most [`MAX_RUNNING`].
    running: Vec<BoxFuture<'static, Finished>>,
}

impl Requests {
    fn new(engine: Arc<Engine>, own: &str) -> Self {
        Self {
            engine,
            own: own.to_owned(),
            waiting: VecDeque::new(),
            busy: BTreeSet::new(),
            own_running: None,
            running: Vec::new(),
        }
    }

    fn is_empty(&self) -> bool {
        self.waiting.is_empty() && self.running.is_empty()
    }

    /// Starts, in the order emitted, each waiting request whose lane is free and that no
    /// earlier request of its lane (or of the agent's own, for a controller's) waits for.
    fn start_ready(&mut self) {
        let mut blocked = self.busy.clone();
        // The agent's own request that a later controller request waits for.
        let mut barrier = self.own_running;
        for next in core::mem::take(&mut self.waiting) {
            let own = next.principal.id == self.own;
            let behind_own = !own && barrier.is_some_and(|first| first < next.id);
            if own {
                barrier.get_or_insert(next.id);
            }
            let lane = next.principal.id.clone();
            let ready = self.running.len() < MAX_RUNNING && !behind_own && !blocked.contains(&lane);
            blocked.insert(lane.clone());
            if !ready {
                self.waiting.push_back(next);
                continue;
            }
            if own {
                self.own_running = Some(next.id);
            }
            self.busy.insert(lane.clone());
            let engine = self.engine.clone();
            self.running.push(
                async move {
                    let result = next.request.execute(&engine, &next.principal).await;
                    Finished {
                        id: next.id,
                        lane,
                        result,
                    }
                }
                .boxed(),
            );
        }
    }

    /// The next request to finish; never, while none runs. Each wake-up polls every running
    /// request: there are at most [`MAX_RUNNING`], and this costs the router build less than
    /// `FuturesUnordered`.
    async fn next_finished(&mut self) -> Finished {
        std::future::poll_fn(|cx| {
            let done = self
                .running
                .iter_mut()
                .enumerate()
                .find_map(|(at, request)| match request.as_mut().poll(cx) {
                    Poll::Ready(finished) => Some((at, finished)),
                    Poll::Pending => None,
                });
            let Some((at, finished)) = done else {
                return Poll::Pending;
            };
            drop(self.running.swap_remove(at));
            Poll::Ready(finished)
        })
        .await
    }

    /// Frees the lane of a finished request.
    fn finished(&mut self, finished: &Finished) {
        self.busy.remove(&finished.lane);
        if self.own_running == Some(finished.id) {
            self.own_running = None;
        }
    }
}

/// The controllers of `usp` and the device's enabled `Device.LocalAgent.Controller.{i}.`
/// rows, each with where its notifications go before it has sent anything: its MTP rows'
/// route (an MQTT topic), else the connection named by its Endpoint ID.
fn known_controllers(engine: &Engine, usp: &UspConfig) -> Vec<ControllerConfig> {
    let mut all: Vec<(String, Mtp)> = usp
        .controllers
        .iter()
        .cloned()
        .chain(device::stored_controllers(engine))
        .map(|c| (c.clone(), Mtp::new(MtpKind::WebSocket, c)))
        .collect();
    all.extend(mtp::controller_routes(engine, usp));
    last_by_controller(all)
        .into_iter()
        .map(|(controller, mtp)| ControllerConfig::new(controller).with_mtp(mtp))
        .collect()
}

/// `routes` by controller, the last of each controller's kept: what collecting them into a
/// map gives, without the map's insertion code for this value type (issue #8).
fn last_by_controller(mut routes: Vec<(String, Mtp)>) -> Vec<(String, Mtp)> {
    routes.sort_by(|(a, _), (b, _)| a.cmp(b));
    routes.dedup_by(|later, kept| {
        let same = later.0 == kept.0;
        if same {
            core::mem::swap(later, kept);
        }
        same
    });
    routes
}

/// The device's network-up notices as the MTP tasks see them: a reconnect wait ends early
/// when the network comes up, and the backoff starts over.
#[derive(Clone, Debug)]
pub(crate) struct NetworkUp(watch::Receiver<u32>);

/// How a reconnect wait ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Waited {
    /// The wait is over.
    Elapsed,
    /// The network came up: reconnect now, with the backoff reset.
    NetworkUp,
    /// The agent is shutting down.
    Shutdown,
}

impl NetworkUp {
    /// Waits `wait`, less if the network comes up or the agent shuts down.
    pub(crate) async fn wait(
        &mut self,
        wait: Duration,
        shutdown: &mut watch::Receiver<bool>,
    ) -> Waited {
        let up = async {
            if self.0.changed().await.is_err() {
                // The driver is gone: no more notices.
                std::future::pending::<()>().await;
            }
        };
        tokio::select! {
            _ = shutdown.changed() => Waited::Shutdown,
            () = up => {
                tracing::info!("network up: reconnecting now");
                Waited::NetworkUp
            }
            () = tokio::time::sleep(wait) => Waited::Elapsed,
        }
    }
}

/// A number for a new MTP connection, unique in the process (wrapping after 2^32), so that a
/// stale [`MtpInput::Closed`] never removes a newer link.
pub(crate) fn next_conn() -> u64 {
    static NEXT: AtomicU32 = AtomicU32::new(0);
    u64::from(NEXT.fetch_add(1, Ordering::Relaxed).wrapping_add(1))
}

/// `record`, a Record an MTP sends itself (its Connect Record, R-MTP.6), encoded for `mtp`:
/// signed with the agent's E2E key (of `signer`, [`tls::Trust::e2e_tls`], as last loaded)
/// where the MTP does not protect it, as the agent signs its own Records (TR-369 R-E2E.28/29).
pub(crate) fn encode_own(signer: Option<&Trust>, mtp: &Mtp, record: Record) -> Vec<u8> {
    let mut record = record;
    if let Some(signer) = signer.and_then(Trust::e2e_tls) {
        signer.sign_unprotected(mtp, &mut record);
    }
    let mut bytes = Vec::new();
    usp_core::codec::encode_record(&record, &mut bytes);
    bytes
}

/// The reconnect back-off of an MTP client, in the shape the TR-181 text of its row gives
/// ([`hal::retry`]); `n` is the reconnect number, 1-based and capped at 10.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Backoff {
    /// MQTT `ConnectRetry*` and WebSocket `SessionRetry*`: a random wait in
    /// `[m·(k/1000)^(n−1), m·(k/1000)^n]` seconds, and `max_s` when it draws more
    /// (`ConnectRetryMaxInterval`; the WebSocket has no maximum).
    Window {
        /// `m`, `ConnectRetryTime` / `SessionRetryMinimumWaitInterval`.
        min_wait_s: u32,
        /// `k`, thousandths; below 1000 (outside the range) it counts as 1000.
        multiplier: u32,
        /// The longest wait, if the row has one.
        max_s: Option<u32>,
    },
    /// STOMP `ServerRetry*`: a random wait in `[0, I·(k/1000)^(n−1)]` seconds, and `max_s`
    /// when it draws more.
    Ceiling {
        /// `I`, `ServerRetryInitialInterval`.
        initial_s: u32,
        /// `k`, `ServerRetryIntervalMultiplier` in thousandths.
        multiplier: u32,
        /// `ServerRetryMaxInterval`.
        max_s: u32,
    },
}

impl Backoff {
    /// The wait before reconnect `attempt` (1-based), drawn with `random`.
    pub(crate) fn wait(self, attempt: u32, random: u64) -> Duration {
        let ms = |s: u32| u64::from(s) * 1000;
        Duration::from_millis(match self {
            Self::Window {
                min_wait_s,
                multiplier,
                max_s,
            } => hal::retry::wait_ms(ms(min_wait_s), multiplier.max(1000), attempt, random)
                .min(max_s.map_or(u64::MAX, ms)),
            Self::Ceiling {
                initial_s,
                multiplier,
                max_s,
            } => hal::retry::ceiling_wait_ms(
                ms(initial_s),
                multiplier,
                attempt,
                hal::retry::Growth::UpToMaxRetry,
                ms(max_s),
                random,
            ),
        })
    }
}

/// Sleeps until `at`, or forever without a deadline.
pub(crate) async fn sleep_until(at: Option<tokio::time::Instant>) {
    match at {
        Some(at) => tokio::time::sleep_until(at).await,
        None => std::future::pending().await,
    }
}

#[cfg(test)]
mod tests {
    use hal::engine::{AllowAll, GetRequest};
    use hal::sim::SimDevice;
    use hal::{Engine, EngineConfig};

    use super::*;

    const OWN: &str = "os::agent";

    #[test]
    fn routes_by_controller_keep_the_last_of_each() {
        let route = |c: &str, to: &str| (c.to_owned(), Mtp::new(MtpKind::WebSocket, to));
        let routes = vec![
            route("b", "1"),
            route("a", "2"),
            route("b", "3"),
            route("a", "4"),
            route("c", "5"),
        ];
        assert_eq!(
            last_by_controller(routes),
            [route("a", "4"), route("b", "3"), route("c", "5")]
        );
    }

    fn requests() -> Requests {
        let sim = SimDevice::new("SIM0042");
        let engine = Engine::new(sim.hal(), Arc::new(AllowAll), EngineConfig::default());
        Requests::new(Arc::new(engine), OWN)
    }

    fn queue(requests: &mut Requests, id: u64, lane: &str) {
        requests.waiting.push_back(Waiting {
            id: RequestId(id),
            principal: Principal::controller(lane, Vec::new()),
            request: EngineRequest::Get(GetRequest::new(["Device.DeviceInfo."])),
        });
    }

    fn waiting(requests: &Requests) -> Vec<u64> {
        requests.waiting.iter().map(|w| w.id.0).collect()
    }

    fn finish(requests: &mut Requests, id: u64, lane: &str) {
        requests.finished(&Finished {
            id: RequestId(id),
            lane: lane.into(),
            result: EngineResult::DeviceUpdate(Ok(())),
        });
    }

    #[test]
    fn a_lane_runs_in_order_and_never_passes_an_earlier_request_of_the_agents_own() {
        let mut requests = requests();
        for (id, lane) in [
            (1, "a"),
            (2, "a"),
            (3, "b"),
            (4, OWN),
            (5, "c"),
            (6, OWN),
            (7, "b"),
        ] {
            queue(&mut requests, id, lane);
        }
        requests.start_ready();
        // a's second waits for a's first, c's for the agent's request before it, the agent's
        // second for its first, b's second for b's first.
        assert_eq!(waiting(&requests), [2, 5, 6, 7]);
        finish(&mut requests, 4, OWN);
        finish(&mut requests, 3, "b");
        requests.start_ready();
        // The agent's second (6) now runs: b's second comes after it.
        assert_eq!(waiting(&requests), [2, 7]);
        finish(&mut requests, 6, OWN);
        finish(&mut requests, 1, "a");
        requests.start_ready();
        assert!(requests.waiting.is_empty());
    }

    #[test]
    fn at_most_max_running_requests_run() {
        let mut requests = requests();
        let lanes: Vec<String> = (0..=MAX_RUNNING).map(|n| format!("c{n}")).collect();
        for (id, lane) in (1..).zip(&lanes) {
            queue(&mut requests, id, lane);
        }
        requests.start_ready();
        assert_eq!(requests.running.len(), MAX_RUNNING);
        assert_eq!(requests.waiting.len(), 1);
    }
}
