//! The CPE side of a CWMP session, sans-IO: when to open a session, the Inform, the HTTP
//! exchange with the ACS, every CPE RPC through the [`hal::Engine`], retries, periodic and
//! scheduled informs, value-change notification, transfers and their completion.
//!
//! # Drive loop
//!
//! The [`Session`] reads no clock, opens no socket and never calls the engine. The driver:
//!
//! 1. feeds one input with [`Session::handle_input`] (or answers an engine request with
//!    [`Session::respond`]); [`Input::Timeout`] is how time moves (give it the current
//!    [`Instant`] before other inputs when time has passed);
//! 2. drains [`Session::poll_output`] until it returns [`Output::Timeout`]:
//!    * [`Output::Transmit`]: POST the [`HttpRequest`] to the ACS; hand back the answer as
//!      [`Input::HttpResponse`] (or [`Input::HttpFailed`] for a connection or TLS failure);
//!    * [`Output::EngineRequest`]: run it on the engine ([`EngineRequest::execute`]) and call
//!      [`Session::respond`] with the same id;
//!    * [`Output::Event`]: tell the application (session ended, persist the state);
//!    * [`Output::Datagram`]: send this UDP datagram (a lightweight notification, see
//!      [`lightweight`]); nothing comes back;
//!    * [`Output::Timeout`]: call `handle_input(Input::Timeout(now))` at that instant, or
//!      earlier when another input arrives.
//!
//! Besides, the driver feeds [`Input::Notice`] for each [`hal::engine::Notice`] the engine
//! reports (boot, transfer complete; one that comes after a session's Inform is kept for after
//! the session, as its report belongs in a later one whose Inform carries its event),
//! [`Input::Changes`] with the engine's change log
//! ([`hal::Engine::changes_since`]) for value-change notification, [`Input::Settings`] when
//! `Device.ManagementServer.` changed, [`Input::WallClock`] once the wall clock is known, and
//! [`Input::ConnectionRequest`] for each connection request the
//! [`connreq`](crate::connreq) module accepted.
//!
//! # The session
//!
//! ```text
//!              trigger: event pending (boot, periodic, scheduled, CR, active
//!              value change, transfer complete, heartbeat), retry timer, not throttled
//!   ┌──────┐  ─────────────────────────────────────────────▶ ┌────────────┐
//!   │ Idle │                                                  │ Collecting │ EngineRequest::Get
//!   └──────┘ ◀── SessionEnded (success: RetryCount = 0;       └─────┬──────┘ (DeviceId, forced
//!      ▲          failure: drop "6", RetryCount += 1,               │        and InformParameter
//!      │          retry in [m·k^(n−1), m·k^n] s)                    │        values, changes)
//!      │                                                            ▼ POST Inform
//!      │                                              ┌──────────────────────────┐
//!      │   401 → Authorization, same body again ─────▶│ Waiting (HTTP in flight) │◀─┐
//!      │   3xx → Location, same body again (≤ 5) ────▶└────────────┬─────────────┘  │
//!      │                                                           │                │
//!      │      InformResponse: events acknowledged, HoldRequests    │                │
//!      │      ACS request ───────────▶ Executing ── EngineRequest ─┼─ response ─────┤
//!      │      (CPE RPC)                 (engine)                   │                │
//!      │      empty / 204 + CPE has requests, no hold ─────────────┼─ TransferComplete
//!      │      TransferCompleteResponse ────────────────────────────┼─ next request or
//!      │                                                           │  empty POST ───┘
//!      └──────── empty HTTP response (204) and nothing left to send┘
//!                (then queued Reboot / FactoryReset go to the engine)
//! ```
//!
//! One envelope per HTTP message in either direction (`MaxEnvelopes` is 1; the ACS's value is
//! ignored as TR-069 asks). An ACS request is always answered in the next POST; the CPE's own
//! requests (TransferComplete) go only when the last ACS message did not set `HoldRequests`.
//! Cookies the ACS sets are sent back for the rest of the session; authentication, once
//! challenged, is sent with every later POST (Digest with a growing nonce count).
//!
//! # Time
//!
//! Monotonic time is the `Instant` of [`Input::Timeout`]; wall-clock time
//! ([`Input::WallClock`], optional because a CPE boots before NTP) is used for the Inform's
//! `CurrentTime`, the `TS` of lightweight notifications, the phase of periodic informs
//! (`PeriodicInformTime`), of heartbeats (`HeartbeatPolicy.InitiationTime`, [`heartbeat`]) and
//! of the lightweight trigger (`LightweightNotificationTriggerTime`) and nothing else. Random numbers (retry jitter, message IDs, client nonces, lightweight
//! cnonces) come from
//! [`SessionConfig::rng_seed`].
//!
//! # State that outlives a session
//!
//! [`Session::persisted_state`] is a serde value ([`PersistedState`]): pending events with the
//! retention rules of TR-069 (see [`state`]), RetryCount, parameter attributes, scheduled
//! informs, queued transfers, unacknowledged TransferCompletes and the parameters waiting for
//! a UDP lightweight notification. The driver saves it as JSON at each
//! [`Event::StateChanged`] and passes it to [`Session::new`] after a restart; each entry of its
//! lists is read on its own, so one damaged entry costs only itself
//! ([`Session::malformed_on_restore`]).

pub mod alias;
mod config;
mod du;
mod engine;
pub mod heartbeat;
pub(crate) mod http;
pub mod lightweight;
pub mod manageable;
mod requests;
pub(crate) mod retry;
mod rpc;
pub mod state;

use std::collections::VecDeque;
use std::time::{Duration, Instant};

use hal::Principal;
use hal::engine::{GetRequest, GetResponse, GotParam, Notice, NoticeId};
use hal::traits::BootCause;
use tr181_model::schema::{self, ActiveNotify, Protocol};
use tr181_model::store::{Change, ChangeRecord, Origin};
use tr181_model::value::{DateTime, xsd_type};

pub use config::{ServerSettings, SessionConfig, SessionLimits};
pub use engine::{EngineRequest, EngineResult, RequestId};
pub use http::{ChallengeError, ClientAuth, HttpRequest, HttpResponse};
pub use lightweight::Datagram;
pub use retry::retry_window;
pub use state::{
    DuOperation, DuOperationKind, DuResult, ParameterAttributes, PendingAutonomousDuChange,
    PendingAutonomousTransfer, PendingDuChange, PendingEvent, PendingRequestDownload,
    PendingTransferComplete, PersistedState, ScheduledInform, TransferOrigin, TransferRecord,
};

use crate::codec::{
    self, Body, CwmpNamespace, CwmpVersion, DeviceId, Envelope, EventCode, Inform, ParameterValue,
    TransferComplete, UNKNOWN_TIME, ValueType,
};
use crate::error::DecodeError;
use http::CookieJar;
use retry::{Rng, random_hex};

/// The object of `InformParameter.{i}` rows.
const INFORM_PARAMETER_TABLE: &str = "Device.ManagementServer.InformParameter.";
/// The parameter `ParameterKey` lives in.
pub(crate) const PARAMETER_KEY: &str = "Device.ManagementServer.ParameterKey";
/// The DeviceId parameters.
const DEVICE_ID: [&str; 4] = [
    "Device.DeviceInfo.Manufacturer",
    "Device.DeviceInfo.ManufacturerOUI",
    "Device.DeviceInfo.ProductClass",
    "Device.DeviceInfo.SerialNumber",
];
/// Most events in one Inform (XSD `maxOccurs`).
const MAX_INFORM_EVENTS: usize = 64;
/// How far ahead the session asks to be woken when it waits for nothing.
const IDLE_WAKEUP: Duration = Duration::from_secs(24 * 3600);

/// An input to [`Session::handle_input`].
#[derive(Clone, Debug)]
#[non_exhaustive]
pub enum Input<'a> {
    /// Time has moved to this instant (never backwards); fires the timers that are due.
    Timeout(Instant),
    /// The wall clock reads this now (NTP synchronised). Unknown or boot-relative times are
    /// ignored.
    WallClock(DateTime),
    /// The ACS answered the last [`HttpRequest`].
    HttpResponse(HttpResponse<'a>),
    /// The last [`HttpRequest`] failed (DNS, TCP, TLS, the connection dropped).
    HttpFailed,
    /// An authenticated connection request was accepted (`6 CONNECTION REQUEST`).
    ConnectionRequest,
    /// A notice of the engine (boot, transfer complete; others are ignored).
    Notice(NoticeId, Notice),
    /// Records of the engine's change log, oldest first (value-change notification, deleted
    /// rows).
    Changes(&'a [ChangeRecord]),
    /// The `Device.ManagementServer.` values changed.
    Settings(ServerSettings),
    /// An event to report in the next session (`8 DIAGNOSTICS COMPLETE`, vendor `X …` codes),
    /// with its command key; starts a session.
    Event(EventCode, String),
    /// The device finished a transfer the ACS did not ask for: report it with
    /// AutonomousTransferComplete (`10 AUTONOMOUS TRANSFER COMPLETE`), kept until the ACS
    /// answers.
    AutonomousTransferComplete(Box<codec::AutonomousTransferComplete>),
    /// Ask the ACS for a file with RequestDownload (`9 REQUEST DOWNLOAD`): the `FileType` and
    /// the `FileTypeArg` name/value pairs; kept until the ACS answers.
    RequestDownload {
        /// `FileType` (≤ 64 characters).
        file_type: String,
        /// `FileTypeArg` (≤ 16 entries).
        args: Vec<(String, String)>,
    },
}

/// What the session wants done; see the [module docs](self) for the drive loop.
#[derive(Clone, Debug)]
#[non_exhaustive]
pub enum Output {
    /// Send this POST to the ACS.
    Transmit(HttpRequest),
    /// Run `request` on the engine as `principal`, then call [`Session::respond`] with `id`.
    EngineRequest {
        /// The id to answer with.
        id: RequestId,
        /// Who the request is from (the ACS).
        principal: Principal,
        /// What to do.
        request: EngineRequest,
    },
    /// Something for the application.
    Event(Event),
    /// Send this UDP datagram (a UDP lightweight notification, TR-069 Annex M); no answer
    /// is expected.
    Datagram(Datagram),
    /// Nothing more to do until this instant (or the next input).
    Timeout(Instant),
}

/// Something the application hears about.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Event {
    /// A session started: its Inform carries these events.
    SessionStarted {
        /// The event codes with their command keys.
        events: Vec<codec::Event>,
    },
    /// The session ended; close the connection to the ACS.
    SessionEnded(SessionEnd),
    /// [`Session::persisted_state`] changed: save it.
    StateChanged,
}

/// How a session ended.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct SessionEnd {
    /// `None` for success.
    pub failure: Option<SessionFailure>,
    /// When the next attempt is due, after a failure with events left to deliver.
    pub retry_at: Option<Instant>,
    /// The RetryCount of the next Inform.
    pub retry_count: u32,
}

/// Why a session failed (TR-069 §3.2.1.1: the CPE retries).
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum SessionFailure {
    /// The ACS sent a fault instead of the InformResponse (the CWMP fault code, 8005 "retry
    /// request" among others).
    AcsFault(Option<u32>),
    /// The ACS rejected the credentials, or challenged in a way the session cannot answer.
    Authentication,
    /// The ACS's message did not decode.
    Decode(DecodeError),
    /// An HTTP status other than 2xx, 3xx with `Location` and 401.
    HttpStatus(u16),
    /// A [`SessionLimits`] bound was exceeded (which one).
    Limit(&'static str),
    /// The ACS broke the session protocol (what it did).
    Protocol(&'static str),
    /// Too many redirects, or a redirect to something that is not an HTTP URL.
    Redirect,
    /// No HTTP response within [`SessionConfig::session_timeout`].
    Timeout,
    /// The driver reported [`Input::HttpFailed`].
    Transport,
    /// The engine could not read the Inform's parameters.
    Engine,
    /// The ACS asked for a CWMP version the CPE does not speak (`UseCWMPVersion`).
    Version,
}

/// Misuse of the session API by the driver.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum SessionError {
    /// [`Session::respond`] with an id that is not outstanding.
    #[error("no engine request {0:?} is outstanding")]
    UnknownRequest(RequestId),
    /// An HTTP response or failure while no request is in flight.
    #[error("no HTTP request is in flight")]
    NoRequestInFlight,
    /// The engine result is not of the request's kind.
    #[error("the engine result does not match the request")]
    MismatchedResult,
    /// Too many RequestDownloads wait for the ACS already.
    #[error("too many requests queued")]
    QueueFull,
}

/// The phases of the session (see the diagram in the [module docs](self)).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Phase {
    Idle,
    Collecting,
    Waiting { deadline: Instant },
    Executing,
}

/// What the last POST carried.
#[derive(Clone, Debug, PartialEq, Eq)]
enum Sent {
    Inform,
    /// The TransferComplete at this index of `state.transfer_completes` (checked by key).
    TransferComplete {
        command_key: String,
        notice: Option<u64>,
    },
    Response,
    Empty,
    /// The DUStateChangeComplete of this ChangeDUState.
    DuStateChangeComplete(u64),
    /// The AutonomousDUStateChangeComplete of these notices.
    AutonomousDuStateChangeComplete(Vec<u64>),
    /// This AutonomousTransferComplete.
    AutonomousTransferComplete(u64),
    /// This RequestDownload.
    RequestDownload(u64),
}

/// What an outstanding engine request is for.
#[derive(Debug)]
enum Pending {
    /// The first read of the Inform's parameters.
    InformFirst,
    /// The read of the `InformParameter` rows' parameters.
    InformSecond(GetResponse),
    /// An ACS RPC waiting for the engine.
    Rpc(rpc::PendingRpc),
    /// An ACS RPC waiting for the rows' aliases, or for a row it auto-creates.
    Aliases(Box<alias::AliasStep>),
    /// A SetParameterValues fault waiting for the rows auto-created for it to be deleted.
    Undo(Box<alias::Undo>),
    /// A scheduled download starting (by command key).
    ScheduledTransfer(String),
    /// A step of a ChangeDUState.
    Du(du::DuStep),
    /// The values of a lightweight notification (these queued parameters).
    Lightweight(Vec<String>),
    /// Fire and forget (acknowledge, reboot, factory reset).
    Background,
}

/// The state of one session while it runs.
#[derive(Debug)]
struct Exchange {
    url: String,
    cookies: CookieJar,
    auth: Option<ClientAuth>,
    auth_attempts: u32,
    redirects: u32,
    exchanges: u32,
    namespace: CwmpNamespace,
    informed: bool,
    hold: bool,
    sent: Sent,
    body: Vec<u8>,
    sent_events: Vec<PendingEvent>,
    sent_changed: Vec<String>,
    sent_inform_notices: Vec<NoticeId>,
    tried: Vec<(String, Option<u64>)>,
    /// DU reports the ACS refused in this session.
    refused: Vec<Sent>,
    bootstrap: bool,
    /// A heartbeat session ([`heartbeat`]): `14 HEARTBEAT` alone, no CPE requests.
    heartbeat: bool,
}

/// The CPE's CWMP session state machine; see the [module docs](self).
#[derive(Debug)]
pub struct Session {
    config: SessionConfig,
    settings: ServerSettings,
    state: PersistedState,
    rng: Rng,
    now: Instant,
    wall: Option<(Instant, i64)>,
    phase: Phase,
    exchange: Option<Exchange>,
    outputs: VecDeque<Output>,
    pending: Vec<(RequestId, Pending)>,
    next_request: u64,
    retry_at: Option<Instant>,
    periodic_at: Option<Instant>,
    /// When `14 HEARTBEAT` is next due ([`heartbeat`]).
    heartbeat_at: Option<Instant>,
    /// The last session that failed was not a heartbeat session and has not succeeded since.
    other_failed: bool,
    scheduled_informs: Vec<(Instant, String)>,
    download_due: Vec<(Instant, String)>,
    /// Notices whose event the next Inform carries (`1 BOOT`, `8 DIAGNOSTICS COMPLETE`),
    /// acknowledged to the engine at its InformResponse.
    inform_notices: Vec<NoticeId>,
    /// Persistent notices that came after a session's Inform: handled once it is over, so that the
    /// report they queue (TransferComplete, DUStateChangeComplete) goes out in a session whose
    /// Inform carries their event (TR-069 A.3.3.2), not in the one under way. At most the
    /// engine's pending notices: each id once.
    deferred_notices: Vec<(NoticeId, Notice)>,
    changed: VecDeque<String>,
    dropped_changes: u32,
    dropped_on_restore: usize,
    malformed_on_restore: usize,
    /// Parameters waiting for the next lightweight notification.
    lw_changed: VecDeque<String>,
    /// An active lightweight change waits to be sent.
    lw_due: bool,
    /// The values of a lightweight notification are being read.
    lw_in_flight: bool,
    /// When pending passive lightweight notifications go next.
    lw_trigger_at: Option<Instant>,
    /// When an Inform last carried `ManageableDeviceNumberOfEntries` ([`manageable`]).
    manageable_notified_at: Option<Instant>,
    /// When its held active notification is due.
    manageable_held_until: Option<Instant>,
    after_session: Vec<EngineRequest>,
    last_session_end: Option<Instant>,
    forced: Vec<String>,
    dirty: bool,
}

impl Session {
    /// A session at `now`, restoring `persisted` (after a restart, with the reboot rules of
    /// [`state`]) or starting fresh (`None`: the first Inform carries `0 BOOTSTRAP`).
    #[must_use]
    pub fn new(
        config: SessionConfig,
        settings: ServerSettings,
        persisted: Option<PersistedState>,
        now: Instant,
    ) -> Self {
        let mut state = persisted.unwrap_or_default();
        let malformed_on_restore = std::mem::take(&mut state.malformed);
        state.after_reboot();
        let dropped_on_restore = state.bound(&config.limits);
        let (lw_changed, lw_dropped) = lightweight::restore_queue(
            std::mem::take(&mut state.lightweight_changed),
            config.limits.max_changed_parameters,
        );
        let lw_due = std::mem::take(&mut state.lightweight_due) && !lw_changed.is_empty();
        let scheduled_informs = state
            .scheduled_informs
            .iter()
            .map(|s| (add_secs(now, s.remaining_secs), s.command_key.clone()))
            .collect();
        let download_due = state
            .transfers
            .iter()
            .filter_map(|t| {
                t.start_in_secs
                    .map(|secs| (add_secs(now, secs), t.command_key.clone()))
            })
            .collect();
        let rng = Rng::new(config.rng_seed);
        let mut session = Self {
            forced: forced_inform_parameters(&config.extra_inform_parameters),
            config,
            settings,
            state,
            rng,
            now,
            wall: None,
            phase: Phase::Idle,
            exchange: None,
            outputs: VecDeque::new(),
            pending: Vec::new(),
            next_request: 0,
            retry_at: None,
            periodic_at: None,
            heartbeat_at: None,
            other_failed: false,
            scheduled_informs,
            download_due,
            inform_notices: Vec::new(),
            deferred_notices: Vec::new(),
            changed: VecDeque::new(),
            dropped_changes: lw_dropped,
            dropped_on_restore,
            malformed_on_restore,
            lw_changed,
            lw_due,
            lw_in_flight: false,
            lw_trigger_at: None,
            manageable_notified_at: None,
            manageable_held_until: None,
            after_session: Vec::new(),
            last_session_end: None,
            dirty: false,
        };
        session.check_bootstrap();
        session.schedule_periodic();
        session.schedule_lightweight();
        session.schedule_heartbeat(false);
        session
    }

    /// The state to persist ([`PersistedState`]), as of the last input.
    #[must_use]
    pub fn persisted_state(&self) -> PersistedState {
        let mut state = self.state.clone();
        state.lightweight_changed = self.lw_changed.iter().cloned().collect();
        state.lightweight_due = self.lw_due || self.lw_in_flight;
        state.scheduled_informs = self
            .scheduled_informs
            .iter()
            .map(|(at, key)| ScheduledInform {
                command_key: key.clone(),
                remaining_secs: secs_until(self.now, *at),
            })
            .collect();
        for transfer in &mut state.transfers {
            if transfer.start_in_secs.is_some() {
                transfer.start_in_secs = self
                    .download_due
                    .iter()
                    .find(|(_, key)| *key == transfer.command_key)
                    .map(|(at, _)| secs_until(self.now, *at));
            }
        }
        state
    }

    /// The current settings.
    #[must_use]
    pub fn settings(&self) -> &ServerSettings {
        &self.settings
    }

    /// Whether a session is in progress (a connection request may then be answered 503, or
    /// accepted and served by the next session).
    #[must_use]
    pub fn in_session(&self) -> bool {
        self.phase != Phase::Idle
    }

    /// How many changed parameters were dropped: for the Inform or for lightweight
    /// notifications, because [`SessionLimits::max_changed_parameters`] was reached, and for
    /// lightweight notifications also when one could not be read or did not fit in
    /// [`SessionLimits::max_datagram_bytes`], or when the state given to [`Session::new`]
    /// queued a name that is no parameter of the model (a garbled saved state) or queued it
    /// twice.
    #[must_use]
    pub fn dropped_changes(&self) -> u32 {
        self.dropped_changes
    }

    /// How many entries of the state given to [`Session::new`] were beyond the bounds a
    /// running session keeps its lists in (a garbled saved state, or one written for larger
    /// limits) and were dropped; see [`PersistedState`] for which end of each list goes.
    #[must_use]
    pub fn dropped_on_restore(&self) -> usize {
        self.dropped_on_restore
    }

    /// How many entries of the state given to [`Session::new`] had been dropped when it was
    /// read, being of the wrong JSON type ([`PersistedState::malformed_on_load`]).
    #[must_use]
    pub fn malformed_on_restore(&self) -> usize {
        self.malformed_on_restore
    }

    /// Feeds one input; then drain [`poll_output`](Self::poll_output).
    ///
    /// # Errors
    ///
    /// [`SessionError::NoRequestInFlight`] for an HTTP response or failure when no POST is
    /// outstanding (the input is ignored).
    pub fn handle_input(&mut self, input: Input<'_>) -> Result<(), SessionError> {
        let result = match input {
            Input::Timeout(now) => {
                self.handle_timeout(now);
                Ok(())
            }
            Input::WallClock(time) => {
                if let Some(micros) = time
                    .unix_micros()
                    .filter(|_| !time.is_unknown() && !time.is_relative())
                {
                    self.wall = Some((self.now, micros));
                    self.schedule_periodic();
                    self.schedule_lightweight();
                    if self.settings.heartbeat_time.is_some() {
                        self.schedule_heartbeat(false);
                    }
                }
                Ok(())
            }
            Input::HttpResponse(response) => self.handle_http_response(&response),
            Input::HttpFailed => match self.phase {
                Phase::Waiting { .. } => {
                    self.fail(SessionFailure::Transport);
                    Ok(())
                }
                _ => Err(SessionError::NoRequestInFlight),
            },
            Input::ConnectionRequest => {
                self.state.add_event(&EventCode::ConnectionRequest, "");
                Ok(())
            }
            Input::Notice(id, notice) => {
                // Before the Inform is built, its events can still take the notice's.
                let informed = self.exchange.is_some() && self.phase != Phase::Collecting;
                if !informed || !notice.is_persistent() {
                    self.handle_notice(id, notice);
                } else if self.deferred_notices.iter().all(|(i, _)| *i != id) {
                    self.deferred_notices.push((id, notice));
                }
                Ok(())
            }
            Input::Changes(records) => {
                self.handle_changes(records);
                Ok(())
            }
            Input::Settings(settings) => {
                self.handle_settings(settings);
                Ok(())
            }
            Input::Event(code, command_key) => {
                if self.state.add_event(&code, &command_key) {
                    self.dirty = true;
                }
                Ok(())
            }
            Input::AutonomousTransferComplete(transfer) => {
                self.queue_autonomous_transfer(*transfer);
                Ok(())
            }
            Input::RequestDownload { file_type, args } => {
                self.queue_request_download(file_type, args)
            }
        };
        self.maybe_start();
        self.maybe_send_lightweight();
        result
    }

    /// Answers the engine request `id`; then drain [`poll_output`](Self::poll_output).
    ///
    /// # Errors
    ///
    /// [`SessionError::UnknownRequest`] if `id` is not outstanding,
    /// [`SessionError::MismatchedResult`] if `result` is of another kind than the request
    /// (the session then fails or faults the RPC as for an engine error).
    pub fn respond(&mut self, id: RequestId, result: EngineResult) -> Result<(), SessionError> {
        let index = self
            .pending
            .iter()
            .position(|(i, _)| *i == id)
            .ok_or(SessionError::UnknownRequest(id))?;
        let (_, purpose) = self.pending.remove(index);
        let outcome = match purpose {
            Pending::InformFirst => self.on_inform_values(None, result),
            Pending::InformSecond(first) => self.on_inform_values(Some(first), result),
            Pending::Rpc(rpc) => self.finish_rpc(rpc, result),
            Pending::Aliases(step) => self.on_alias_step(*step, result),
            Pending::Undo(undo) => self.on_undone(*undo, result),
            Pending::ScheduledTransfer(key) => self.on_scheduled_transfer(&key, result),
            Pending::Du(step) => self.on_du_step(step, result),
            Pending::Lightweight(sent) => self.on_lightweight_values(&sent, result),
            Pending::Background => Ok(()),
        };
        self.maybe_start();
        self.maybe_send_lightweight();
        outcome
    }

    /// The next output; [`Output::Timeout`] when there is nothing else to do.
    pub fn poll_output(&mut self) -> Output {
        if let Some(output) = self.outputs.pop_front() {
            return output;
        }
        if self.dirty {
            self.dirty = false;
            return Output::Event(Event::StateChanged);
        }
        Output::Timeout(self.next_deadline())
    }

    // -----------------------------------------------------------------------------------------
    // Timers

    fn handle_timeout(&mut self, now: Instant) {
        if now > self.now {
            self.now = now;
        }
        let now = self.now;
        if let Phase::Waiting { deadline } = self.phase {
            if deadline <= now {
                self.fail(SessionFailure::Timeout);
            }
        }
        if self.periodic_at.is_some_and(|t| t <= now) {
            self.state.add_event(&EventCode::Periodic, "");
            self.dirty = true;
            self.schedule_periodic();
        }
        if self.lw_trigger_at.is_some_and(|t| t <= now) {
            self.on_lightweight_trigger();
        }
        if self.heartbeat_at.is_some_and(|t| t <= now) {
            self.on_heartbeat_timer();
        }
        if self.manageable_held_until.is_some_and(|t| t <= now) {
            self.on_manageable_timer();
        }
        let mut due = Vec::new();
        self.scheduled_informs.retain(|(at, key)| {
            if *at <= now {
                due.push(key.clone());
                false
            } else {
                true
            }
        });
        for key in due {
            self.state.add_event(&EventCode::Scheduled, "");
            self.state.add_event(&EventCode::MScheduleInform, &key);
            self.dirty = true;
        }
        let mut downloads = Vec::new();
        self.download_due.retain(|(at, key)| {
            if *at <= now {
                downloads.push(key.clone());
                false
            } else {
                true
            }
        });
        for key in downloads {
            self.start_scheduled_download(&key);
        }
        if self.retry_at.is_some_and(|t| t <= now) {
            self.retry_at = None;
        }
    }

    fn next_deadline(&self) -> Instant {
        let mut deadlines: Vec<Instant> = Vec::new();
        if let Phase::Waiting { deadline } = self.phase {
            deadlines.push(deadline);
        }
        deadlines.extend(self.periodic_at);
        deadlines.extend(self.lw_trigger_at);
        deadlines.extend(self.heartbeat_at);
        deadlines.extend(self.manageable_held_until);
        deadlines.extend(self.scheduled_informs.iter().map(|(t, _)| *t));
        deadlines.extend(self.download_due.iter().map(|(t, _)| *t));
        if self.phase == Phase::Idle {
            deadlines.extend(self.retry_at);
            deadlines.extend(self.throttle_until());
        }
        deadlines
            .into_iter()
            .min()
            .unwrap_or_else(|| add_duration(self.now, IDLE_WAKEUP))
    }

    /// The wall clock now, in Unix microseconds.
    fn wall_micros(&self) -> Option<i64> {
        let (at, micros) = self.wall?;
        let elapsed = i64::try_from(self.now.saturating_duration_since(at).as_micros()).ok()?;
        micros.checked_add(elapsed)
    }

    fn schedule_periodic(&mut self) {
        let settings = &self.settings;
        self.periodic_at =
            (settings.periodic_inform_enable && settings.periodic_inform_interval > 0).then(|| {
                self.phased_wakeup(
                    settings.periodic_inform_interval,
                    settings.periodic_inform_time,
                )
            });
    }

    /// The next instant of a timer every `interval` (> 0) seconds whose phase is `time`
    /// (unknown, relative or without a wall clock: `interval` from now).
    fn phased_wakeup(&self, interval: u32, time: Option<DateTime>) -> Instant {
        let interval = i64::from(interval.max(1));
        let phase = time
            .filter(|t| !t.is_unknown() && !t.is_relative())
            .and_then(|t| t.unix_seconds());
        let wait = match (phase, self.wall_micros()) {
            (Some(phase), Some(micros)) => {
                let now_secs = micros.div_euclid(1_000_000);
                let offset = now_secs.saturating_sub(phase).rem_euclid(interval);
                interval.saturating_sub(offset)
            }
            _ => interval,
        };
        add_secs(self.now, u64::try_from(wait).unwrap_or(0))
    }

    /// When a session only for active notifications may start, if later than now.
    fn throttle_until(&self) -> Option<Instant> {
        let throttle = self.settings.default_active_notification_throttle;
        let only_value_change = !self.state.events.is_empty()
            && self
                .state
                .events
                .iter()
                .all(|e| e.event_code() == EventCode::ValueChange)
            && self.state.transfer_completes.is_empty()
            && !self.has_cpe_requests();
        if throttle == 0 || !only_value_change {
            return None;
        }
        let until = add_secs(self.last_session_end?, u64::from(throttle));
        (until > self.now).then_some(until)
    }

    // -----------------------------------------------------------------------------------------
    // Inputs other than HTTP

    fn handle_notice(&mut self, id: NoticeId, notice: Notice) {
        if self.on_du_notice(id, &notice) {
            return;
        }
        match notice {
            Notice::Booted(info) => {
                if self.inform_notices.contains(&id) {
                    return;
                }
                self.inform_notices.push(id);
                self.on_boot_du();
                if info.bootstrap {
                    self.state.bootstrapped = false;
                    self.state.attributes.clear();
                    self.state.transfers.clear();
                    self.download_due.clear();
                    self.scheduled_informs.clear();
                }
                self.check_bootstrap();
                self.state.add_event(&EventCode::Boot, "");
                if info.cause == BootCause::RemoteReboot {
                    self.state.add_event(&EventCode::MReboot, &info.command_key);
                }
                self.dirty = true;
            }
            Notice::DiagnosticsComplete(_) if !self.inform_notices.contains(&id) => {
                self.inform_notices.push(id);
                self.state.add_event(&EventCode::DiagnosticsComplete, "");
                self.dirty = true;
            }
            Notice::DiagnosticsComplete(_) => {}
            Notice::TransferComplete(result) => {
                if self
                    .state
                    .transfer_completes
                    .iter()
                    .any(|t| t.notice == Some(id.0))
                {
                    return;
                }
                let record = self
                    .state
                    .transfers
                    .iter()
                    .position(|t| t.transfer_id == Some(result.id.0));
                let origin = match record {
                    Some(index) => self.state.transfers.remove(index).origin,
                    // A transfer the session has no record of (forgotten at a bootstrap, or
                    // dropped from a restored state) takes a free slot. With none free, the
                    // notice stays pending in the engine, which hands it over again at the
                    // next start.
                    None if self.transfer_slots_full() => return,
                    None => match result.direction {
                        hal::transfer::Direction::Download => TransferOrigin::Download,
                        hal::transfer::Direction::Upload => TransferOrigin::Upload,
                    },
                };
                let (fault_code, fault_string) = match &result.fault {
                    None => (0, String::new()),
                    Some((fault, reason)) => (
                        u32::from(fault.cwmp_fault_for(result.direction)),
                        crate::error::shorten(reason),
                    ),
                };
                self.state.transfer_completes.push(PendingTransferComplete {
                    notice: Some(id.0),
                    transfer_id: Some(result.id.0),
                    command_key: result.command_key,
                    origin,
                    fault_code,
                    fault_string,
                    start_time: time_text(result.start_time),
                    complete_time: time_text(result.complete_time),
                });
                self.dirty = true;
            }
            // Nothing for CWMP (a USP OperationComplete, a device event): acknowledged at
            // once, or the engine, waiting for every protocol stack, would keep it pending.
            other if other.is_persistent() => {
                self.engine_request(EngineRequest::Acknowledge(id), Pending::Background);
            }
            _ => {}
        }
    }

    fn handle_changes(&mut self, records: &[ChangeRecord]) {
        for record in records {
            match &record.change {
                Change::ValueChanged { path, .. } => {
                    if record.origin == Origin::Controller(Protocol::Cwmp) {
                        continue;
                    }
                    let notification = self.notification_of(path);
                    self.on_lightweight_change(path, notification);
                    let (passive, active) = match notification {
                        1 | 4 | 6 => (true, false),
                        2 => (true, true),
                        _ => (false, false),
                    };
                    if !passive {
                        continue;
                    }
                    lightweight::queue_path(
                        &mut self.changed,
                        path,
                        self.config.limits.max_changed_parameters,
                        &mut self.dropped_changes,
                    );
                    if active
                        && !(path.as_str() == manageable::COUNT && self.hold_manageable_change())
                    {
                        self.state.add_event(&EventCode::ValueChange, "");
                    }
                }
                Change::ObjectDeleted { path, .. } => {
                    let before = self.state.attributes.len();
                    self.state
                        .attributes
                        .retain(|name, _| !name.starts_with(path.as_str()));
                    if before != self.state.attributes.len() {
                        self.dirty = true;
                    }
                    self.changed.retain(|name| !name.starts_with(path.as_str()));
                    let queued = self.lw_changed.len();
                    self.lw_changed
                        .retain(|name| !name.starts_with(path.as_str()));
                    self.dirty |= queued != self.lw_changed.len();
                }
                _ => {}
            }
        }
    }

    fn handle_settings(&mut self, settings: ServerSettings) {
        let periodic_changed = settings.periodic_inform_enable
            != self.settings.periodic_inform_enable
            || settings.periodic_inform_interval != self.settings.periodic_inform_interval
            || settings.periodic_inform_time != self.settings.periodic_inform_time;
        let lightweight_changed = settings.lightweight_enabled()
            != self.settings.lightweight_enabled()
            || settings.lightweight_trigger_interval != self.settings.lightweight_trigger_interval
            || settings.lightweight_trigger_time != self.settings.lightweight_trigger_time;
        let heartbeat_changed = settings.heartbeat_enable != self.settings.heartbeat_enable
            || settings.heartbeat_interval != self.settings.heartbeat_interval
            || settings.heartbeat_time != self.settings.heartbeat_time;
        let manageable_changed = settings.manageable_device_notification_limit
            != self.settings.manageable_device_notification_limit;
        self.settings = settings;
        self.check_bootstrap();
        if periodic_changed {
            self.schedule_periodic();
        }
        if lightweight_changed {
            self.schedule_lightweight();
        }
        if heartbeat_changed {
            self.on_heartbeat_settings();
        }
        if manageable_changed {
            self.on_manageable_settings();
        }
    }

    /// A new ACS URL, or none acknowledged yet, means `0 BOOTSTRAP`.
    fn check_bootstrap(&mut self) {
        if self.settings.url.is_empty() {
            return;
        }
        if self.state.acs_url != self.settings.url {
            self.state.acs_url.clone_from(&self.settings.url);
            self.state.bootstrapped = false;
            self.dirty = true;
        }
        if !self.state.bootstrapped && self.state.add_event(&EventCode::Bootstrap, "") {
            self.dirty = true;
        }
    }

    /// The effective notification attribute of a parameter (0–6).
    pub(crate) fn notification_of(&self, path: &str) -> u8 {
        if let Some(attributes) = self.state.attributes.get(path) {
            return attributes.notification;
        }
        default_notification(path)
    }

    // -----------------------------------------------------------------------------------------
    // Starting a session and the Inform

    fn should_start(&self) -> bool {
        if self.phase != Phase::Idle
            || !self.settings.enable_cwmp
            || !http::is_http_url(&self.settings.url)
        {
            return false;
        }
        let has_reason = !self.state.events.is_empty()
            || !self.state.transfer_completes.is_empty()
            || self.has_cpe_requests();
        if !has_reason {
            return false;
        }
        if self.retry_at.is_some() && !self.state.has_event(&EventCode::ConnectionRequest) {
            return false;
        }
        self.throttle_until().is_none()
    }

    fn maybe_start(&mut self) {
        if self.exchange.is_none() {
            for (id, notice) in std::mem::take(&mut self.deferred_notices) {
                self.handle_notice(id, notice);
            }
        }
        if !self.should_start() {
            return;
        }
        self.retry_at = None;
        let heartbeat = self.heartbeat_next();
        let namespace = self
            .config
            .supported_versions
            .iter()
            .max()
            .map_or(CwmpNamespace::V1_2, |v| v.namespace());
        self.exchange = Some(Exchange {
            url: self.settings.url.clone(),
            cookies: CookieJar::default(),
            auth: None,
            auth_attempts: 0,
            redirects: 0,
            exchanges: 0,
            namespace,
            informed: false,
            hold: false,
            sent: Sent::Inform,
            body: Vec::new(),
            sent_events: Vec::new(),
            sent_changed: Vec::new(),
            sent_inform_notices: Vec::new(),
            tried: Vec::new(),
            refused: Vec::new(),
            bootstrap: false,
            heartbeat,
        });
        self.phase = Phase::Collecting;
        let mut paths: Vec<String> = DEVICE_ID.iter().map(|p| (*p).to_owned()).collect();
        paths.extend(self.forced.iter().cloned());
        paths.push(INFORM_PARAMETER_TABLE.to_owned());
        if !heartbeat {
            paths.extend(self.changed.iter().cloned());
        }
        dedup(&mut paths);
        self.engine_request(
            EngineRequest::Get(GetRequest::new(paths)),
            Pending::InformFirst,
        );
    }

    fn engine_request(&mut self, request: EngineRequest, purpose: Pending) {
        self.next_request = self.next_request.wrapping_add(1);
        let id = RequestId(self.next_request);
        self.pending.push((id, purpose));
        self.outputs.push_back(Output::EngineRequest {
            id,
            principal: Principal::acs(self.settings.url.clone()),
            request,
        });
    }

    fn on_inform_values(
        &mut self,
        first: Option<GetResponse>,
        result: EngineResult,
    ) -> Result<(), SessionError> {
        let response = match result {
            EngineResult::Get(Ok(response)) => response,
            EngineResult::Get(Err(_)) => {
                self.fail(SessionFailure::Engine);
                return Ok(());
            }
            _ => {
                self.fail(SessionFailure::Engine);
                return Err(SessionError::MismatchedResult);
            }
        };
        let events = self.inform_events();
        if first.is_none() {
            let extra = inform_parameter_names(&response, &events);
            if !extra.is_empty() {
                self.engine_request(
                    EngineRequest::Get(GetRequest::new(extra)),
                    Pending::InformSecond(response),
                );
                return Ok(());
            }
        }
        let (first, second) = match first {
            Some(first) => (first, Some(response)),
            None => (response, None),
        };
        self.send_inform(&first, second.as_ref(), events);
        Ok(())
    }

    /// The events of the next Inform: the pending ones (at most 64 with the derived ones), `4
    /// VALUE CHANGE` when changed parameters go along, and `7 TRANSFER COMPLETE` with the `M`
    /// code of each pending TransferComplete; in a heartbeat session `14 HEARTBEAT` alone.
    fn inform_events(&self) -> Vec<(PendingEvent, bool)> {
        let heartbeat = PendingEvent::new(&EventCode::Heartbeat, "");
        if self.exchange.as_ref().is_some_and(|e| e.heartbeat) {
            return vec![(heartbeat, true)];
        }
        let mut events: Vec<(PendingEvent, bool)> = Vec::new();
        let push = |events: &mut Vec<(PendingEvent, bool)>, event: PendingEvent, stored: bool| {
            let duplicate = events.iter().any(|(e, _)| {
                e.code == event.code
                    && (!event.event_code().is_multiple() || e.command_key == event.command_key)
            });
            if !duplicate && events.len() < MAX_INFORM_EVENTS {
                events.push((event, stored));
            }
        };
        let mut stored: Vec<PendingEvent> = self.state.events.clone();
        stored.retain(|e| *e != heartbeat);
        // Stored events first, so that a derived duplicate is acknowledged with them.
        stored.sort_by_key(|e| {
            let number: u32 = e
                .code
                .split(' ')
                .next()
                .and_then(|n| n.parse().ok())
                .unwrap_or(u32::MAX);
            number
        });
        for event in stored {
            push(&mut events, event, true);
        }
        if !self.state.transfer_completes.is_empty() {
            push(
                &mut events,
                PendingEvent::new(&EventCode::TransferComplete, ""),
                false,
            );
        }
        if !self.changed.is_empty() {
            push(
                &mut events,
                PendingEvent::new(&EventCode::ValueChange, ""),
                false,
            );
        }
        for tc in &self.state.transfer_completes {
            push(
                &mut events,
                PendingEvent::new(&tc.origin.event_code(), tc.command_key.clone()),
                false,
            );
        }
        for (code, command_key) in self.cpe_request_events() {
            push(&mut events, PendingEvent::new(&code, command_key), false);
        }
        events.sort_by_key(|(e, _)| {
            e.code
                .split(' ')
                .next()
                .and_then(|n| n.parse::<u32>().ok())
                .unwrap_or(u32::MAX)
        });
        events
    }

    fn send_inform(
        &mut self,
        first: &GetResponse,
        second: Option<&GetResponse>,
        events: Vec<(PendingEvent, bool)>,
    ) {
        let text = |path: &str| {
            first
                .value(path)
                .map(tr181_model::value::Value::canonical_text)
                .unwrap_or_default()
        };
        let device_id = DeviceId {
            manufacturer: truncate(text("Device.DeviceInfo.Manufacturer"), 64),
            oui: text("Device.DeviceInfo.ManufacturerOUI"),
            product_class: truncate(text("Device.DeviceInfo.ProductClass"), 64),
            serial_number: truncate(text("Device.DeviceInfo.SerialNumber"), 64),
        };
        let mut names: Vec<String> = self.forced.clone();
        if let Some(second) = second {
            names.extend(second.params().map(|p| p.path().to_owned()));
        }
        let heartbeat = self.exchange.as_ref().is_some_and(|e| e.heartbeat);
        let changed: Vec<String> = if heartbeat {
            Vec::new()
        } else {
            self.changed.iter().cloned().collect()
        };
        names.extend(changed.iter().cloned());
        dedup(&mut names);
        let lookup = |name: &str| -> Option<GotParam<'_>> {
            first
                .params()
                .find(|p| p.path() == name)
                .or_else(|| second.and_then(|s| s.params().find(|p| p.path() == name)))
        };
        let parameter_list: Vec<ParameterValue> = names
            .iter()
            .filter_map(|name| lookup(name))
            .map(parameter_value)
            .collect();
        let wire_events: Vec<codec::Event> = events
            .iter()
            .map(|(e, _)| codec::Event {
                event_code: e.event_code(),
                command_key: e.command_key.clone(),
            })
            .collect();
        let current_time = self
            .wall_micros()
            .and_then(DateTime::from_unix_micros)
            .map_or_else(|| UNKNOWN_TIME.to_owned(), |t| t.to_string());
        let inform = Inform {
            device_id,
            event: wire_events.clone(),
            max_envelopes: 1,
            current_time,
            retry_count: self.state.retry_count,
            parameter_list,
        };
        let message_id = self.message_id();
        let versions = &self.config.supported_versions;
        let mut envelope = Envelope::new(
            self.exchange
                .as_ref()
                .map_or(CwmpNamespace::V1_2, |e| e.namespace),
            Body::Inform(inform),
        )
        .with_id(message_id);
        if versions.iter().any(|v| *v >= CwmpVersion::V1_3) {
            envelope.header.session_timeout =
                Some(u32::try_from(self.config.session_timeout.as_secs()).unwrap_or(u32::MAX));
        }
        if versions.contains(&CwmpVersion::V1_4) {
            envelope.header.supported_cwmp_versions = Some(versions.clone());
        }
        let inform_notices = self.inform_notices.clone();
        if let Some(exchange) = self.exchange.as_mut() {
            exchange.sent_events = events
                .iter()
                .filter(|(_, stored)| *stored)
                .map(|(e, _)| e.clone())
                .collect();
            exchange.bootstrap = events
                .iter()
                .any(|(e, _)| e.event_code() == EventCode::Bootstrap);
            exchange.sent_changed = changed;
            exchange.sent_inform_notices = inform_notices;
        }
        self.outputs.push_back(Output::Event(Event::SessionStarted {
            events: wire_events,
        }));
        if self.send_envelope(&envelope, Sent::Inform).is_err() {
            self.fail(SessionFailure::Protocol("the Inform could not be encoded"));
        }
    }

    fn message_id(&mut self) -> String {
        format!("cpe-{}", random_hex(&mut self.rng, 6))
    }

    // -----------------------------------------------------------------------------------------
    // HTTP

    /// Encodes and sends `envelope`.
    fn send_envelope(&mut self, envelope: &Envelope, sent: Sent) -> Result<(), crate::CodecError> {
        let mut body = Vec::new();
        envelope.encode(&mut body)?;
        self.transmit(body, sent);
        Ok(())
    }

    fn send_empty(&mut self) {
        self.transmit(Vec::new(), Sent::Empty);
    }

    fn transmit(&mut self, body: Vec<u8>, sent: Sent) {
        let Some(exchange) = self.exchange.as_mut() else {
            return;
        };
        exchange.sent = sent;
        exchange.body = body;
        exchange.auth_attempts = 0;
        self.post();
    }

    /// (Re)sends the current body with the session's headers.
    fn post(&mut self) {
        let cnonce = random_hex(&mut self.rng, 8);
        let timeout = self.config.session_timeout;
        let Some(exchange) = self.exchange.as_mut() else {
            return;
        };
        let mut headers: Vec<(String, String)> = Vec::new();
        if !exchange.body.is_empty() {
            headers.push(("Content-Type".into(), "text/xml; charset=\"utf-8\"".into()));
            headers.push(("SOAPAction".into(), String::new()));
        }
        if let Some(cookie) = exchange.cookies.header() {
            headers.push(("Cookie".into(), cookie));
        }
        if let Some(auth) = exchange.auth.as_mut() {
            let target = http::request_target(&exchange.url).to_owned();
            let value = auth.authorization(
                "POST",
                &self.settings.username,
                &self.settings.password,
                &target,
                &cnonce,
            );
            headers.push(("Authorization".into(), value));
        }
        let request = HttpRequest {
            url: exchange.url.clone(),
            headers,
            body: exchange.body.clone(),
        };
        self.phase = Phase::Waiting {
            deadline: add_duration(self.now, timeout),
        };
        self.outputs.push_back(Output::Transmit(request));
    }

    fn handle_http_response(&mut self, response: &HttpResponse<'_>) -> Result<(), SessionError> {
        if !matches!(self.phase, Phase::Waiting { .. }) {
            return Err(SessionError::NoRequestInFlight);
        }
        let limits = self.config.limits;
        let header_bytes = response.headers.iter().fold(0usize, |n, (k, v)| {
            n.saturating_add(k.len()).saturating_add(v.len())
        });
        if response.headers.len() > limits.max_headers || header_bytes > limits.max_header_bytes {
            self.fail(SessionFailure::Limit("HTTP headers"));
            return Ok(());
        }
        let Some(exchange) = self.exchange.as_mut() else {
            return Err(SessionError::NoRequestInFlight);
        };
        exchange.exchanges = exchange.exchanges.saturating_add(1);
        if exchange.exchanges > limits.max_exchanges {
            self.fail(SessionFailure::Limit("exchanges per session"));
            return Ok(());
        }
        for cookie in response.headers_named("Set-Cookie") {
            if !exchange.cookies.store(cookie, limits.max_cookies) {
                self.fail(SessionFailure::Limit("cookies"));
                return Ok(());
            }
        }
        match response.status {
            401 => {
                exchange.auth_attempts = exchange.auth_attempts.saturating_add(1);
                let stale = response.headers_named("WWW-Authenticate").any(|v| {
                    v.split(',')
                        .any(|p| p.trim().replace('"', "").eq_ignore_ascii_case("stale=true"))
                });
                // First challenge of this message: answer it. A second one only when the
                // nonce went stale; otherwise the credentials were refused.
                let refused = match exchange.auth_attempts {
                    1 => false,
                    2 => !stale,
                    _ => true,
                };
                if refused {
                    self.fail(SessionFailure::Authentication);
                    return Ok(());
                }
                let basic_allowed =
                    http::is_https(&exchange.url) || self.config.basic_over_plain_http;
                match ClientAuth::from_challenges(
                    response.headers_named("WWW-Authenticate"),
                    basic_allowed,
                ) {
                    Ok(auth) => {
                        exchange.auth = Some(auth);
                        self.post();
                    }
                    Err(ChallengeError::Unsupported | ChallengeError::BasicOverPlainHttp) => {
                        self.fail(SessionFailure::Authentication);
                    }
                }
                Ok(())
            }
            301 | 302 | 303 | 307 | 308 => {
                let location = response.headers_named("Location").next().map(str::trim);
                match location {
                    Some(url)
                        if http::is_http_url(url) && exchange.redirects < limits.max_redirects =>
                    {
                        exchange.redirects = exchange.redirects.saturating_add(1);
                        exchange.url = url.to_owned();
                        exchange.auth = None;
                        exchange.auth_attempts = 0;
                        self.post();
                    }
                    _ => self.fail(SessionFailure::Redirect),
                }
                Ok(())
            }
            200..=299 => {
                let body = response.body;
                if response.status == 204 || body.iter().all(u8::is_ascii_whitespace) {
                    self.on_empty_response();
                } else {
                    match Envelope::decode_for_cpe(body, &limits.codec) {
                        Ok(envelope) => self.on_envelope(envelope),
                        Err(error) => self.on_bad_envelope(error),
                    }
                }
                Ok(())
            }
            status => {
                self.fail(SessionFailure::HttpStatus(status));
                Ok(())
            }
        }
    }

    fn on_empty_response(&mut self) {
        let Some(exchange) = self.exchange.as_mut() else {
            return;
        };
        if exchange.sent == Sent::Inform {
            self.fail(SessionFailure::Protocol("empty response to the Inform"));
            return;
        }
        if let Sent::TransferComplete {
            command_key,
            notice,
        } = &exchange.sent
        {
            exchange.tried.push((command_key.clone(), *notice));
        }
        if requests::is_cpe_request(&exchange.sent) {
            exchange.refused.push(exchange.sent.clone());
        }
        exchange.hold = false;
        if !self.send_next_request() {
            self.end_session();
        }
    }

    fn on_bad_envelope(&mut self, error: DecodeError) {
        let sent = self.exchange.as_ref().map(|e| e.sent.clone());
        match sent {
            Some(
                Sent::Inform
                | Sent::TransferComplete { .. }
                | Sent::DuStateChangeComplete(_)
                | Sent::AutonomousDuStateChangeComplete(_)
                | Sent::AutonomousTransferComplete(_)
                | Sent::RequestDownload(_),
            )
            | None => {
                self.fail(SessionFailure::Decode(error));
            }
            Some(Sent::Response | Sent::Empty) => {
                // An ACS request we cannot read: answer with the fault, echoing its ID.
                let code = error.cpe_fault();
                let namespace = self
                    .exchange
                    .as_ref()
                    .map_or(CwmpNamespace::V1_2, |e| e.namespace);
                let mut envelope = Envelope::new(namespace, fault_body(code, None));
                envelope.header.id = error.id().map(str::to_owned);
                self.respond_envelope(envelope);
            }
        }
    }

    fn on_envelope(&mut self, envelope: Envelope) {
        let Some(exchange) = self.exchange.as_mut() else {
            return;
        };
        match exchange.sent.clone() {
            Sent::Inform => match envelope.body {
                Body::InformResponse(_) => self.on_inform_response(&envelope),
                Body::Fault(fault) => self.fail(SessionFailure::AcsFault(fault.code())),
                _ => self.fail(SessionFailure::Protocol("no InformResponse to the Inform")),
            },
            sent => {
                exchange.hold = envelope.header.hold_requests == Some(true);
                match (&sent, &envelope.body) {
                    (
                        Sent::TransferComplete {
                            command_key,
                            notice,
                        },
                        Body::TransferCompleteResponse,
                    ) => {
                        let (command_key, notice) = (command_key.clone(), *notice);
                        self.on_transfer_complete_response(&command_key, notice);
                    }
                    (
                        Sent::TransferComplete {
                            command_key,
                            notice,
                        },
                        Body::Fault(_),
                    ) => {
                        // Kept for the next session (8005 "retry request" or any other fault).
                        exchange.tried.push((command_key.clone(), *notice));
                        self.send_next_or_empty();
                    }
                    (sent, body) if requests::answers(sent, body) => {
                        self.on_cpe_request_done(sent);
                        self.send_next_or_empty();
                    }
                    (sent, Body::Fault(_)) if requests::is_cpe_request(sent) => {
                        // Kept for the next session, as a refused TransferComplete.
                        exchange.refused.push(sent.clone());
                        self.send_next_or_empty();
                    }
                    (_, body) if is_response(body) => {
                        // A response to nothing we asked: ignore it, carry on.
                        self.send_next_or_empty();
                    }
                    _ => {
                        exchange.namespace = envelope.namespace;
                        self.start_rpc(envelope);
                    }
                }
            }
        }
    }

    fn on_inform_response(&mut self, envelope: &Envelope) {
        let Some(exchange) = self.exchange.as_mut() else {
            return;
        };
        let negotiated = codec::version::confirm_version(
            &self.config.supported_versions,
            envelope.namespace,
            envelope.header.use_cwmp_version,
        );
        if negotiated.is_none() {
            self.fail(SessionFailure::Version);
            return;
        }
        exchange.namespace = envelope.namespace;
        exchange.informed = true;
        exchange.hold = envelope.header.hold_requests == Some(true);
        let sent_events = std::mem::take(&mut exchange.sent_events);
        let sent_changed = std::mem::take(&mut exchange.sent_changed);
        let inform_notices = std::mem::take(&mut exchange.sent_inform_notices);
        if exchange.bootstrap {
            self.state.bootstrapped = true;
        }
        self.state.events.retain(|e| !sent_events.contains(e));
        self.changed.retain(|p| !sent_changed.contains(p));
        self.on_manageable_informed(&sent_changed);
        self.state.retry_count = 0;
        self.inform_notices.retain(|n| !inform_notices.contains(n));
        for notice in inform_notices {
            self.engine_request(EngineRequest::Acknowledge(notice), Pending::Background);
        }
        self.dirty = true;
        self.send_next_or_empty();
    }

    fn on_transfer_complete_response(&mut self, command_key: &str, notice: Option<u64>) {
        let index = self
            .state
            .transfer_completes
            .iter()
            .position(|t| t.command_key == command_key && t.notice == notice);
        if let Some(index) = index {
            self.state.transfer_completes.remove(index);
            self.dirty = true;
        }
        if let Some(id) = notice {
            self.engine_request(
                EngineRequest::Acknowledge(NoticeId(id)),
                Pending::Background,
            );
        }
        self.send_next_or_empty();
    }

    /// Sends the next CPE request, or an empty POST.
    fn send_next_or_empty(&mut self) {
        if !self.send_next_request() {
            self.send_empty();
        }
    }

    /// Sends the next CPE request unless HoldRequests is in force; whether it sent one.
    fn send_next_request(&mut self) -> bool {
        let Some(exchange) = self.exchange.as_ref() else {
            return false;
        };
        if exchange.hold || exchange.heartbeat {
            return false;
        }
        let next = self.state.transfer_completes.iter().find(|t| {
            !exchange
                .tried
                .iter()
                .any(|(key, notice)| *key == t.command_key && *notice == t.notice)
        });
        let Some(tc) = next else {
            let report = self.next_cpe_request(&exchange.refused);
            let namespace = exchange.namespace;
            let Some((body, sent)) = report else {
                return false;
            };
            let envelope = Envelope::new(namespace, body).with_id(self.message_id());
            if self.send_envelope(&envelope, sent.clone()).is_err() {
                // Unencodable: drop it rather than retrying it forever.
                self.on_cpe_request_done(&sent);
                return self.send_next_request();
            }
            return true;
        };
        let body = Body::TransferComplete(TransferComplete {
            command_key: tc.command_key.clone(),
            fault_struct: codec::TransferFault {
                fault_code: tc.fault_code,
                fault_string: tc.fault_string.clone(),
            },
            start_time: tc.start_time.clone(),
            complete_time: tc.complete_time.clone(),
        });
        let sent = Sent::TransferComplete {
            command_key: tc.command_key.clone(),
            notice: tc.notice,
        };
        let namespace = exchange.namespace;
        let envelope = Envelope::new(namespace, body).with_id(self.message_id());
        if self.send_envelope(&envelope, sent.clone()).is_err() {
            // Unencodable (a fault code outside the schema's ranges): drop it rather than
            // retrying it forever.
            if let Sent::TransferComplete {
                command_key,
                notice,
            } = sent
            {
                self.state
                    .transfer_completes
                    .retain(|t| !(t.command_key == command_key && t.notice == notice));
                self.dirty = true;
            }
            return self.send_next_request();
        }
        true
    }

    /// Sends the response to an ACS request.
    /// Sends a response; one that cannot be encoded becomes fault 9002, one larger than
    /// [`SessionLimits::max_response_bytes`] fault 9004 (Resources exceeded).
    fn respond_envelope(&mut self, envelope: Envelope) {
        let mut body = Vec::new();
        let fault = match envelope.encode(&mut body) {
            Ok(()) if body.len() <= self.config.limits.max_response_bytes => {
                return self.transmit(body, Sent::Response);
            }
            Ok(()) => fault_body(9004, Some("the response exceeds the CPE's size limit")),
            Err(_) => fault_body(9002, None),
        };
        let mut fault = Envelope::new(envelope.namespace, fault);
        fault.header.id = envelope.header.id;
        if self.send_envelope(&fault, Sent::Response).is_err() {
            self.fail(SessionFailure::Protocol("a response could not be encoded"));
        }
    }

    // -----------------------------------------------------------------------------------------
    // Ending

    fn end_session(&mut self) {
        self.phase = Phase::Idle;
        let exchange = self.exchange.take();
        self.last_session_end = Some(self.now);
        if exchange.as_ref().is_some_and(|e| !e.heartbeat) {
            self.other_failed = false;
        }
        // A TransferComplete the ACS refused (a fault, or no answer) waits for the next
        // session for another reason or for a retry delay, never for an immediate loop.
        let refused = exchange.is_some_and(|e| {
            !e.refused.is_empty()
                || self.state.transfer_completes.iter().any(|t| {
                    e.tried
                        .iter()
                        .any(|(key, notice)| *key == t.command_key && *notice == t.notice)
                })
        });
        if refused {
            let (minimum, multiplier) = self.settings.retry_parameters();
            let wait = retry::retry_wait(minimum, multiplier, 1, &mut self.rng);
            self.retry_at = Some(add_duration(self.now, wait));
        }
        self.outputs
            .push_back(Output::Event(Event::SessionEnded(SessionEnd {
                failure: None,
                retry_at: None,
                retry_count: self.state.retry_count,
            })));
        self.after_session();
        self.dirty = true;
    }

    fn fail(&mut self, failure: SessionFailure) {
        let was_session = self.phase != Phase::Idle;
        self.phase = Phase::Idle;
        if let Some(exchange) = self.exchange.take() {
            self.other_failed = !exchange.heartbeat;
        }
        self.pending.retain(|(_, p)| {
            !matches!(
                p,
                Pending::InformFirst
                    | Pending::InformSecond(_)
                    | Pending::Rpc(_)
                    | Pending::Aliases(_)
                    | Pending::Undo(_)
            )
        });
        if !was_session {
            return;
        }
        self.last_session_end = Some(self.now);
        self.state.after_failed_session();
        self.state.retry_count = self.state.retry_count.saturating_add(1);
        let (minimum, multiplier) = self.settings.retry_parameters();
        let wait = retry::retry_wait(minimum, multiplier, self.state.retry_count, &mut self.rng);
        let has_reason = !self.state.events.is_empty()
            || !self.state.transfer_completes.is_empty()
            || self.has_cpe_requests();
        self.retry_at = Some(add_duration(self.now, wait));
        self.outputs
            .push_back(Output::Event(Event::SessionEnded(SessionEnd {
                failure: Some(failure),
                retry_at: has_reason.then_some(add_duration(self.now, wait)),
                retry_count: self.state.retry_count,
            })));
        self.after_session();
        self.dirty = true;
    }

    fn after_session(&mut self) {
        for request in std::mem::take(&mut self.after_session) {
            self.engine_request(request, Pending::Background);
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Helpers

/// The parameters the schema marks as forced inform (single-instance objects of the CWMP
/// model), plus `extra`, in path order.
fn forced_inform_parameters(extra: &[String]) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    for object in schema::objects(Protocol::Cwmp) {
        if object.path().contains("{i}") {
            continue;
        }
        for parameter in object.parameters(Protocol::Cwmp) {
            if parameter.forced_inform() {
                out.push(format!("{}{}", object.path(), parameter.name()));
            }
        }
    }
    out.extend(extra.iter().cloned());
    dedup(&mut out);
    out
}

/// The schema path of an instance path (instance numbers become `{i}`).
fn schema_path(path: &str) -> String {
    path.split('.')
        .map(|s| {
            if !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit()) {
                "{i}"
            } else {
                s
            }
        })
        .collect::<Vec<_>>()
        .join(".")
}

/// The default notification of a parameter: active when TR-181 forces it on or on by default.
pub(crate) fn default_notification(path: &str) -> u8 {
    match schema::parameter(&schema_path(path), Protocol::Cwmp).map(|p| p.active_notify()) {
        Some(ActiveNotify::ForceEnabled | ActiveNotify::ForceDefaultEnabled) => 2,
        _ => 0,
    }
}

/// The names the enabled `InformParameter.{i}` rows add for an Inform with `events`.
fn inform_parameter_names(response: &GetResponse, events: &[(PendingEvent, bool)]) -> Vec<String> {
    let mut rows: Vec<(String, bool, String, String)> = Vec::new();
    for param in response.params() {
        let Some(rest) = param.path().strip_prefix(INFORM_PARAMETER_TABLE) else {
            continue;
        };
        let Some((row, name)) = rest.split_once('.') else {
            continue;
        };
        let index = match rows.iter().position(|(r, ..)| r == row) {
            Some(index) => index,
            None => {
                rows.push((row.to_owned(), false, String::new(), String::new()));
                rows.len().saturating_sub(1)
            }
        };
        let Some(entry) = rows.get_mut(index) else {
            continue;
        };
        let text = param.value().canonical_text();
        match name {
            "Enable" => entry.1 = text == "true",
            "ParameterName" => entry.2 = text,
            "EventList" => entry.3 = text,
            _ => {}
        }
    }
    let mut names = Vec::new();
    for (_, enabled, name, event_list) in rows {
        if !enabled || name.is_empty() {
            continue;
        }
        let matches = event_list.trim().is_empty()
            || event_list
                .split(',')
                .map(str::trim)
                .any(|code| events.iter().any(|(e, _)| e.code == code));
        if matches {
            names.push(name);
        }
    }
    dedup(&mut names);
    names
}

/// A `ParameterValueStruct` for a value read from the engine.
pub(crate) fn parameter_value(param: GotParam<'_>) -> ParameterValue {
    ParameterValue {
        name: param.path().to_owned(),
        value: param.value().canonical_text(),
        value_type: Some(value_type(xsd_type(param.parameter().syntax()))),
    }
}

/// The codec's [`ValueType`] for an `xsi:type` string.
fn value_type(xsd: &str) -> ValueType {
    match xsd {
        "xsd:base64Binary" | "xsd:base64" => ValueType::Base64,
        "xsd:boolean" => ValueType::Boolean,
        "xsd:dateTime" => ValueType::DateTime,
        "xsd:decimal" => ValueType::Decimal,
        "xsd:hexBinary" => ValueType::HexBinary,
        "xsd:int" => ValueType::Int,
        "xsd:long" => ValueType::Long,
        "xsd:unsignedInt" => ValueType::UnsignedInt,
        "xsd:unsignedLong" => ValueType::UnsignedLong,
        "xsd:string" => ValueType::String,
        other => ValueType::Other(other.to_owned()),
    }
}

/// A CWMP fault body with the standard text (or `detail`).
pub(crate) fn fault_body(code: u32, detail: Option<&str>) -> Body {
    let text = detail
        .map(crate::error::shorten)
        .or_else(|| codec::fault_name(code).map(str::to_owned))
        .unwrap_or_else(|| "Fault".to_owned());
    Body::Fault(codec::Fault::cwmp(code, text))
}

/// Whether a body is a response (or ACS-side method) the CPE never answers.
fn is_response(body: &Body) -> bool {
    let name = body.name();
    name.ends_with("Response") || matches!(body, Body::Fault(_))
}

fn dedup(items: &mut Vec<String>) {
    let mut seen = std::collections::BTreeSet::new();
    items.retain(|item| seen.insert(item.clone()));
}

fn truncate(mut text: String, max_chars: usize) -> String {
    if let Some((index, _)) = text.char_indices().nth(max_chars) {
        text.truncate(index);
    }
    text
}

fn time_text(time: Option<DateTime>) -> String {
    time.filter(|t| !t.is_unknown() && !t.is_relative())
        .map_or_else(|| UNKNOWN_TIME.to_owned(), |t| t.to_string())
}

fn add_duration(at: Instant, duration: Duration) -> Instant {
    at.checked_add(duration).unwrap_or(at)
}

fn add_secs(at: Instant, secs: u64) -> Instant {
    add_duration(at, Duration::from_secs(secs))
}

fn secs_until(now: Instant, at: Instant) -> u64 {
    at.saturating_duration_since(now).as_secs()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn schema_paths_and_defaults() {
        assert_eq!(
            schema_path("Device.WiFi.SSID.12.Stats.BytesSent"),
            "Device.WiFi.SSID.{i}.Stats.BytesSent"
        );
        assert_eq!(
            default_notification("Device.ManagementServer.ConnectionRequestURL"),
            2
        );
        assert_eq!(default_notification("Device.WiFi.SSID.1.SSID"), 0);
    }

    #[test]
    fn forced_inform_parameters_come_from_the_schema() {
        let forced = forced_inform_parameters(&["Device.X_Extra".to_owned()]);
        for expected in [
            "Device.RootDataModelVersion",
            "Device.DeviceInfo.HardwareVersion",
            "Device.DeviceInfo.SoftwareVersion",
            "Device.DeviceInfo.ProvisioningCode",
            "Device.ManagementServer.ParameterKey",
            "Device.ManagementServer.ConnectionRequestURL",
            "Device.X_Extra",
        ] {
            assert!(forced.iter().any(|p| p == expected), "{expected}");
        }
    }

    #[test]
    fn value_types_map() {
        assert_eq!(value_type("xsd:unsignedInt"), ValueType::UnsignedInt);
        assert_eq!(
            value_type("xsd:anyURI"),
            ValueType::Other("xsd:anyURI".into())
        );
    }
}
