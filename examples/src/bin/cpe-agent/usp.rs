//! The USP driver: owns the sans-IO [`Agent`], feeds it Records from the MTP connections,
//! device notices and its timers, runs its engine requests and sends what it transmits.
//!
//! One task runs the agent; every MTP connection is a task of its own that talks to it
//! through [`MtpInput`]s and receives Records to send on an `mpsc` channel. A connection is
//! known by a key (the controller's Endpoint ID when the connection named it), which is the
//! `reply_to` of the agent's [`Mtp`]: a controller that reconnects gets its notifications on
//! the new connection, and Records for a controller that is not connected wait in a small
//! outbox.

use std::collections::{BTreeMap, VecDeque};
use std::sync::Arc;
use std::time::Instant;

use hal::Engine;
use tokio::sync::{Notify, mpsc, watch};
use usp_core::agent::{Agent, AgentConfig, ControllerConfig, Mtp, MtpKind, Output};
use usp_core::codec::{self, RecordBuilder};

use crate::device::{DeviceEvent, wall_clock};

/// Most Records kept for a controller that is not connected; the oldest go first.
const OUTBOX_RECORDS: usize = 64;
/// Most controllers with an outbox.
const OUTBOX_CONTROLLERS: usize = 64;
/// Most outputs handled in one drain before the driver looks at its inputs again.
const DRAIN_BOUND: usize = 10_000;

/// What an MTP connection tells the driver.
#[derive(Debug)]
pub(crate) enum MtpInput {
    /// A connection is up; Records for `key` go to `tx` from now on.
    Connected {
        /// The return-path key.
        key: String,
        /// The connection's number (a newer connection for the same key replaces it).
        conn: u64,
        /// Where to send Records.
        tx: mpsc::Sender<Vec<u8>>,
        /// The MTP.
        kind: MtpKind,
        /// Whether the agent should send the MTP's Connect Record (R-MTP.6).
        send_connect: bool,
    },
    /// A connection is gone.
    Closed {
        /// The return-path key.
        key: String,
        /// The connection's number.
        conn: u64,
    },
    /// A Record arrived.
    Record {
        /// The return-path key.
        key: String,
        /// The MTP.
        kind: MtpKind,
        /// The Record.
        bytes: Vec<u8>,
    },
}

struct Link {
    conn: u64,
    tx: mpsc::Sender<Vec<u8>>,
}

/// The USP driver; see the [module docs](self).
pub(crate) struct UspDriver {
    agent: Agent,
    engine: Arc<Engine>,
    /// Wakes the device task, which fans changes out to every driver.
    wake: Arc<Notify>,
    seq: u64,
    links: BTreeMap<String, Link>,
    outbox: BTreeMap<String, VecDeque<Vec<u8>>>,
    timeout: Option<Instant>,
}

impl UspDriver {
    /// An agent `endpoint_id` that accepts `controllers` (their notifications go to the
    /// connection named by their Endpoint ID), over `engine`.
    pub(crate) fn new(
        engine: Arc<Engine>,
        wake: Arc<Notify>,
        endpoint_id: &str,
        controllers: &[String],
        accept_unknown: bool,
    ) -> Self {
        let mut config = AgentConfig::new(endpoint_id).with_unknown_controllers(accept_unknown);
        for controller in controllers {
            config = config.with_controller(
                ControllerConfig::new(controller.clone())
                    .with_mtp(Mtp::new(MtpKind::WebSocket, controller.clone())),
            );
        }
        let mut agent = Agent::new(config);
        let seq = engine.last_seq();
        agent.skip_changes_through(seq);
        agent.set_wall_clock(wall_clock());
        engine.read(|store| agent.load_subscriptions(Instant::now(), store));
        Self {
            wake,
            agent,
            engine,
            seq,
            links: BTreeMap::new(),
            outbox: BTreeMap::new(),
            timeout: None,
        }
    }

    /// Runs until `shutdown`.
    pub(crate) async fn run(
        mut self,
        mut mtp: mpsc::Receiver<MtpInput>,
        mut device: mpsc::Receiver<DeviceEvent>,
        mut shutdown: watch::Receiver<bool>,
    ) {
        loop {
            self.drive().await;
            let timer = self.timeout.map(tokio::time::Instant::from_std);
            tokio::select! {
                _ = shutdown.changed() => break,
                Some(input) = mtp.recv() => self.handle_mtp(input),
                Some(event) = device.recv() => self.handle_device(event),
                () = sleep_until(timer) => self.agent.handle_timeout(Instant::now()),
            }
        }
        let unanswered = self.outbox.values().map(VecDeque::len).sum::<usize>();
        if unanswered > 0 {
            tracing::info!(
                records = unanswered,
                "USP Records not delivered at shutdown"
            );
        }
    }

    fn handle_mtp(&mut self, input: MtpInput) {
        match input {
            MtpInput::Connected {
                key,
                conn,
                tx,
                kind,
                send_connect,
            } => {
                if send_connect {
                    let builder =
                        RecordBuilder::new(key.clone(), self.agent.config().endpoint_id.clone())
                            .with_version(self.agent.config().record_version.clone());
                    let record = match kind {
                        MtpKind::Uds => builder.uds_connect(),
                        _ => builder.websocket_connect(),
                    };
                    let mut bytes = Vec::new();
                    codec::encode_record(&record, &mut bytes);
                    let _ = tx.try_send(bytes);
                }
                let waiting = self.outbox.remove(&key).unwrap_or_default();
                if !waiting.is_empty() {
                    tracing::info!(controller = %key, records = waiting.len(), "delivering queued USP Records");
                }
                for bytes in waiting {
                    if tx.try_send(bytes).is_err() {
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
            MtpInput::Record { key, kind, bytes } => {
                tracing::debug!(from = %key, bytes = bytes.len(), "USP Record received");
                self.agent
                    .handle_record(Instant::now(), Mtp::new(kind, key), &bytes);
            }
        }
    }

    fn handle_device(&mut self, event: DeviceEvent) {
        self.agent.set_wall_clock(wall_clock());
        self.sync_changes();
        if let DeviceEvent::Notice(id, notice) = event {
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

    /// Drains the agent's outputs, running engine requests as they come.
    async fn drive(&mut self) {
        for _ in 0..DRAIN_BOUND {
            match self.agent.poll_output() {
                Output::EngineRequest {
                    id,
                    principal,
                    request,
                } => {
                    let result = request.execute(&self.engine, &principal).await;
                    // The other stack learns of this request's changes from the device task.
                    self.wake.notify_one();
                    if let Err(error) = self.agent.respond(id, result) {
                        tracing::error!(%error, "the agent refused an engine result");
                    }
                    self.sync_changes();
                }
                Output::Transmit { mtp, to, bytes } => self.transmit(&mtp, &to, bytes),
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
        match self.links.get(&mtp.reply_to) {
            Some(link) => {
                if link.tx.try_send(bytes).is_err() {
                    tracing::warn!(controller = to, "connection queue full, USP Record dropped");
                }
            }
            None => {
                if !self.outbox.contains_key(&mtp.reply_to)
                    && self.outbox.len() >= OUTBOX_CONTROLLERS
                {
                    tracing::warn!(
                        controller = to,
                        "too many disconnected controllers, USP Record dropped"
                    );
                    return;
                }
                let queue = self.outbox.entry(mtp.reply_to.clone()).or_default();
                if queue.len() >= OUTBOX_RECORDS {
                    queue.pop_front();
                    tracing::warn!(controller = to, "outbox full, oldest USP Record dropped");
                }
                queue.push_back(bytes);
                tracing::debug!(
                    controller = to,
                    "controller not connected, USP Record queued"
                );
            }
        }
    }
}

/// Sleeps until `at`, or forever without a deadline.
async fn sleep_until(at: Option<tokio::time::Instant>) {
    match at {
        Some(at) => tokio::time::sleep_until(at).await,
        None => std::future::pending().await,
    }
}
