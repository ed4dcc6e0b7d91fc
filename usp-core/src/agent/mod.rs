//! The sans-IO USP agent endpoint: Records in, Records and data-model requests out.
//!
//! # Drive loop
//!
//! The [`Agent`] performs no I/O, reads no clock and never calls the HAL or the engine. Its
//! driver owns the MTP connections, a monotonic clock and an `Arc<hal::Engine>`, and:
//!
//! 1. feeds one input: [`Agent::handle_record`] (bytes from an MTP, with the [`Mtp`] they came
//!    on), [`Agent::respond`] (the answer to an [`Output::EngineRequest`]),
//!    [`Agent::handle_changes`] (new records of the engine's change log),
//!    [`Agent::handle_notice`] (a notice from `Engine::poll_notice`) or
//!    [`Agent::handle_timeout`]; or calls an app command such as
//!    [`Agent::send_onboard_request`];
//! 2. drains [`Agent::poll_output`] until it returns [`Output::Timeout`] or [`Output::Idle`]:
//!    - [`Output::Transmit`]: send the Record bytes on that MTP;
//!    - [`Output::EngineRequest`]: run the request on the engine (see [`engine`] for the
//!      call per variant) and later pass the result to [`Agent::respond`] — then drain again;
//!    - [`Output::Event`]: something to log or count;
//!    - [`Output::Timeout`]: call [`Agent::handle_timeout`] at that instant (or earlier, when
//!      another input arrives); [`Output::Idle`]: nothing is scheduled.
//! 3. after every engine write (its own or a CWMP one) reads `engine.changes_since(seq)` and
//!    passes the records with the store to [`Agent::handle_changes`] inside `engine.read`;
//!    after `engine.handle_device_inputs()` polls notices into [`Agent::handle_notice`].
//!
//! Outputs come out in the order they were produced. Engine requests may be run
//! concurrently; the agent matches answers by [`RequestId`].
//!
//! # Time
//!
//! Every input takes `now: Instant`, the driver's monotonic clock; NotifRetry, NotifExpiration,
//! TimeToLive, E2E session expiry and retry deadlines, `OnBoardingRestartTime` and
//! `Periodic!` boundaries are
//! `Instant`s derived from it ([`Agent::respond`] uses the latest `now` given). The wall clock
//! is an optional input ([`Agent::set_wall_clock`]: the real time at a given `now`, counted
//! forward from there), used for `Subscription.{i}.CreationDate` and to align `Periodic!` on
//! `Controller.{i}.PeriodicNotifTime` (see `periodic.rs`). Retry
//! jitter comes from [`AgentConfig::rng_seed`].
//!
//! # What the agent checks
//!
//! Per Record: it decodes within [`Limits`] (once: the MTP hands over the bytes); `from_id`
//! must be an Endpoint ID the MTP authenticated, if it authenticated any
//! ([`Mtp::authenticated`]); `to_id` must be the agent's Endpoint ID; the
//! sender must be a configured controller, unless [`AgentConfig::accept_unknown_controllers`]
//! (then it gets no roles, and the access policy, e.g. [`ControllerTrust`], gives it the
//! untrusted role) or the MTP accepted its certificate on first use and ControllerTrust lets
//! it speak ([`Mtp::first_use`]: `TOFUAllowed`, its certificate the one it was first trusted
//! with; see `trust.rs`), and must not hold `ControllerTrust.BannedRole` (nothing is sent to
//! such a controller either); the Record's major version must be 1. Records failing these are ignored
//! ([`AgentEvent::RecordIgnored`]), as R-MTP.5 asks. `session_context` Records run the E2E
//! session layer (see `session.rs`: sequence and expected ids, retransmission, segmentation
//! and reassembly, expiry, `E2ESession.SessionMode` Allow/Require/Forbid; Forbid answers with
//! a Disconnect Record, 7106); a Record with `TLS12` payload security runs TLS inside its
//! session (feature `e2e-tls`, `Agent::with_e2e_tls`: handshake, encryption and
//! `mac_signature`) or, without E2E TLS settings or a session context, gets a Disconnect
//! Record, 7102. MTP connect Records teach the agent the controller's return path.
//!
//! Per Msg: a Msg that does not decode gets an Error Msg with its code (7000/7001/7004/7005)
//! when its `msg_id` can be read; a request whose `msg_id` is still being processed for the
//! same controller is ignored (R-MSG.4); responses go back in the kind of Record the request
//! came in (R-MSG.0a), no-session or in the controller's session. Notifications go in the
//! session when one is up or `SessionMode` is `Require`. Access control is enforced by the engine on every item
//! through its [`hal::engine::AccessControl`] ([`ControllerTrust`] maps USP's roles onto it),
//! and by the agent on every notification (the `n` right).
//!
//! Onboarding: the agent sends an OnBoardRequest by itself to every enabled
//! `Device.LocalAgent.Controller.{i}.` row whose `OnBoardingComplete` is false, when it first
//! sees the store and whenever such a row appears, is enabled or has `OnBoardingComplete` set
//! to false; retried until answered, then restarted per `OnBoardingRestartTime` until the row
//! is onboarded (see `onboard.rs`).
//!
//! The agent's own commands (`Controller.{i}.SendOnBoardRequest()`,
//! `Controller.{i}.E2ESession.Reset()`) are Operates like any other: the engine resolves and
//! checks them and reports them done, and the agent carries them out after answering (see
//! `commands.rs`).

mod access;
mod commands;
#[cfg(feature = "e2e-tls")]
mod e2e_tls;
pub mod engine;
mod messages;
mod onboard;
mod periodic;
mod persist;
mod session;
mod subscriptions;
mod supported;
mod trust;

use std::collections::VecDeque;
use std::format;
use std::string::{String, ToString};
use std::sync::Arc;
use std::time::{Duration, Instant};
use std::vec::Vec;

use bytes::Bytes;
use hal::Principal;
use hal::engine::{AccessControl, Notice, NoticeId};
use litemap::LiteMap;
use tr181_model::store::{ChangeRecord, Store};
use tr181_model::value::{DateTime, Value};

pub use access::ControllerTrust;
#[cfg(feature = "e2e-tls")]
#[cfg_attr(docsrs, doc(cfg(feature = "e2e-tls")))]
pub use e2e_tls::{E2eTls, E2eTlsError};
pub use engine::{DeviceUpdate, EngineRequest, EngineResult, RequestId};
pub use session::SessionStatus;
pub use subscriptions::RetryPolicy;
pub use supported::DATA_MODEL_URI;
pub use trust::{CertificateId, FINGERPRINT_ALIAS, MAX_FINGERPRINT};

use self::messages::{Plan, Reply};
use self::session::{E2eConfig, Integrity, Session};
use self::subscriptions::{Rng, Subscription, Unacknowledged};
use crate::codec::{self, RecordBuilder};
use crate::usp::{self, response::RespType};
use crate::usp_inbound::{self, body::MsgBody};
use crate::usp_record::record::{PayloadSecurity, RecordType};
use crate::{Limits, Msg};

/// The kind of Message Transfer Protocol a Record travelled on.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[non_exhaustive]
pub enum MtpKind {
    /// MQTT.
    Mqtt,
    /// STOMP.
    Stomp,
    /// Unix domain socket.
    Uds,
    /// WebSocket.
    WebSocket,
}

/// Where a Record came from, and so where the answer goes: the MTP and the driver's handle
/// for the return path (an MQTT reply-to topic, a STOMP `reply-to-dest`, a connection id),
/// and who the MTP proved the peer to be.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[non_exhaustive]
pub struct Mtp {
    /// The protocol.
    pub kind: MtpKind,
    /// The driver's return address on it; empty when the MTP carried none (an MQTT PUBLISH
    /// without a Response Topic or `reply-to`): the agent then answers on the sender's
    /// configured MTP ([`ControllerConfig::mtp`]), and ignores a sender without one
    /// ([`IgnoreReason::NoReturnPath`]).
    pub reply_to: String,
    /// The Endpoint IDs the connection authenticated the peer as: the `urn:bbf:usp:id:`
    /// names of its TLS client or server certificate (TR-369 R-MTP.1, R-SEC.3). A Record
    /// whose `from_id` is none of them is ignored ([`IgnoreReason::Unauthenticated`]).
    /// `None` when the MTP did not authenticate the peer by certificate (plain TCP, a
    /// certificate naming no Endpoint ID, a broker): `from_id` is then not checked.
    pub authenticated: Option<Arc<[String]>>,
    /// The CA certificate that validated the peer's certificate, when the MTP checked one:
    /// the peer inherits the roles of that CA's `ControllerTrust.Credential.{i}.` rows (see
    /// `trust.rs`). `None` leaves the peer's inherited roles as they are.
    pub validated_by: Option<Arc<CertificateId>>,
    /// The peer's own certificate, when the MTP accepted it only because
    /// `ControllerTrust.TOFUAllowed` allows trust on first use (it chains to no CA the agent
    /// trusts: self-signed, or of an unknown CA). The agent then decides whether the
    /// controller may speak, and learns it on first use (see `trust.rs`).
    pub first_use: Option<Arc<CertificateId>>,
}

impl Mtp {
    /// An MTP return path that authenticated no Endpoint ID.
    pub fn new(kind: MtpKind, reply_to: impl Into<String>) -> Self {
        Self {
            kind,
            reply_to: reply_to.into(),
            authenticated: None,
            validated_by: None,
            first_use: None,
        }
    }

    /// Sets the Endpoint IDs the connection authenticated; none leaves `from_id` unchecked.
    #[must_use]
    pub fn with_authenticated(mut self, endpoint_ids: Vec<String>) -> Self {
        self.authenticated = (!endpoint_ids.is_empty()).then(|| endpoint_ids.into());
        self
    }

    /// Sets the CA certificate that validated the peer's certificate.
    #[must_use]
    pub fn with_validated_by(mut self, ca: CertificateId) -> Self {
        self.validated_by = Some(Arc::new(ca));
        self
    }

    /// Sets the peer's own certificate, accepted on first use ([`Mtp::first_use`]).
    #[must_use]
    pub fn with_first_use(mut self, certificate: CertificateId) -> Self {
        self.first_use = Some(Arc::new(certificate));
        self
    }

    /// Whether a Record from `endpoint_id` may come on this MTP.
    #[must_use]
    pub fn authenticates(&self, endpoint_id: &str) -> bool {
        self.authenticated
            .as_ref()
            .is_none_or(|ids| ids.iter().any(|id| id == endpoint_id))
    }

    /// Whether this MTP protects the Records it carries to `controller` (TR-369 R-E2E.28):
    /// it authenticated `controller` by certificate, an encrypted MTP whose peer is the
    /// controller. A broker's never does (no broker is taken for a Trusted Broker), nor one
    /// that authenticated nobody. The agent signs what it does not protect (R-E2E.29).
    #[must_use]
    pub fn protects(&self, controller: &str) -> bool {
        self.authenticated
            .as_ref()
            .is_some_and(|ids| ids.iter().any(|id| id == controller))
    }
}

/// A controller the agent accepts Records from.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct ControllerConfig {
    /// Its Endpoint ID.
    pub endpoint_id: String,
    /// Its roles (`Device.LocalAgent.ControllerTrust.Role.{i}.` paths), passed in its
    /// [`Principal`]. Empty lets the access policy look them up.
    pub roles: Vec<String>,
    /// Where to send notifications before the controller has sent anything.
    pub mtp: Option<Mtp>,
}

impl ControllerConfig {
    /// A controller without configured roles or MTP.
    pub fn new(endpoint_id: impl Into<String>) -> Self {
        Self {
            endpoint_id: endpoint_id.into(),
            roles: Vec::new(),
            mtp: None,
        }
    }

    /// Sets the roles.
    #[must_use]
    pub fn with_roles(mut self, roles: Vec<String>) -> Self {
        self.roles = roles;
        self
    }

    /// Sets the MTP for notifications.
    #[must_use]
    pub fn with_mtp(mut self, mtp: Mtp) -> Self {
        self.mtp = Some(mtp);
        self
    }
}

/// The agent's settings.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct AgentConfig {
    /// The agent's Endpoint ID (`Device.LocalAgent.EndpointID`).
    pub endpoint_id: String,
    /// Known controllers.
    pub controllers: Vec<ControllerConfig>,
    /// Accept Records from controllers not in `controllers` (they get no roles: the access
    /// policy's untrusted role). Default false.
    pub accept_unknown_controllers: bool,
    /// The USP versions answered to GetSupportedProtocol. Default `1.0` to `1.5`.
    pub supported_versions: Vec<String>,
    /// The `version` written into Records. Default [`codec::DEFAULT_RECORD_VERSION`].
    pub record_version: String,
    /// Limits on decoded Records and Msgs.
    pub limits: Limits,
    /// Most engine requests in flight; more requests get Error 7005. Default 64.
    pub max_pending_requests: usize,
    /// Most Notifies kept for retry; the oldest is dropped beyond. Default 256.
    pub max_unacknowledged: usize,
    /// Most controllers whose return path is remembered (and most E2E sessions). Default 64.
    pub max_routes: usize,
    /// Most session Records buffered ahead of the expected `sequence_id`, per session; one
    /// more fails the Record and restarts the session. Default 32.
    pub max_session_buffer: usize,
    /// Most sent session Records kept for retransmission until acknowledged, per session; the
    /// oldest is dropped beyond. Default 64.
    pub max_session_outbox: usize,
    /// Most challenges handed out by `ControllerTrust.RequestChallenge()` and not yet
    /// answered or expired; the oldest is dropped beyond. Default 64.
    pub max_challenges: usize,
    /// NotifRetry backoff.
    pub retry: RetryPolicy,
    /// Seed of the retry jitter.
    pub rng_seed: u64,
}

impl AgentConfig {
    /// A configuration for the agent `endpoint_id` with the defaults.
    pub fn new(endpoint_id: impl Into<String>) -> Self {
        Self {
            endpoint_id: endpoint_id.into(),
            controllers: Vec::new(),
            accept_unknown_controllers: false,
            supported_versions: ["1.0", "1.1", "1.2", "1.3", "1.4", "1.5"]
                .into_iter()
                .map(String::from)
                .collect(),
            record_version: codec::DEFAULT_RECORD_VERSION.into(),
            limits: Limits::default(),
            max_pending_requests: 64,
            max_unacknowledged: 256,
            max_routes: 64,
            max_session_buffer: 32,
            max_session_outbox: 64,
            max_challenges: 64,
            retry: RetryPolicy::default(),
            rng_seed: 1,
        }
    }

    /// Adds a known controller.
    #[must_use]
    pub fn with_controller(mut self, controller: ControllerConfig) -> Self {
        self.controllers.push(controller);
        self
    }

    /// Sets [`accept_unknown_controllers`](Self::accept_unknown_controllers).
    #[must_use]
    pub const fn with_unknown_controllers(mut self, accept: bool) -> Self {
        self.accept_unknown_controllers = accept;
        self
    }

    /// Sets the NotifRetry backoff.
    #[must_use]
    pub const fn with_retry(mut self, retry: RetryPolicy) -> Self {
        self.retry = retry;
        self
    }

    /// Sets the jitter seed.
    #[must_use]
    pub const fn with_rng_seed(mut self, seed: u64) -> Self {
        self.rng_seed = seed;
        self
    }

    /// Sets the limits.
    #[must_use]
    pub fn with_limits(mut self, limits: Limits) -> Self {
        self.limits = limits;
        self
    }
}

/// Why a Record was ignored.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum IgnoreReason {
    /// It did not decode (the USP code it would have had).
    Undecodable(u32),
    /// Its Msg did not decode and its `msg_id` could not be read (the code).
    MsgUndecodable(u32),
    /// Its `to_id` is not this agent.
    NotForUs,
    /// Its `from_id` is not an Endpoint ID the MTP authenticated ([`Mtp::authenticated`]);
    /// such a `from_id` is not valid, so no Error Record goes back (R-MTP.5).
    Unauthenticated,
    /// The sender is not a known controller.
    UnknownController,
    /// The MTP named no return address ([`Mtp::reply_to`] empty) and the sender has no
    /// configured MTP ([`ControllerConfig::mtp`]) to answer on.
    NoReturnPath,
    /// A Msg type the agent does not take (a response other than NotifyResp, an Error).
    Unexpected,
    /// A request with a `msg_id` still being processed (R-MSG.4).
    Duplicate,
    /// The Record's version is not 1.x.
    UnsupportedVersion,
    /// A session Record whose `sequence_id` was already received (R-E2E.20/25).
    SessionDuplicate,
    /// A `no_session_context` Record from a controller whose `E2ESession.SessionMode` is
    /// `Require`; the agent offers a session instead.
    SessionRequired,
    /// The sender holds `ControllerTrust.BannedRole` (assigned, or inherited from the
    /// credential of the CA that validated its certificate).
    Banned,
    /// A PLAINTEXT Record other than a session one (no-session, Connect, Disconnect) whose
    /// `mac_signature` does not verify with its `sender_cert` (R-E2E.30/31; feature
    /// `e2e-tls`); nothing is learnt from it. A session Record so signed fails the session
    /// instead (7104).
    BadSignature,
    /// The MTP accepted the sender's certificate on first use ([`Mtp::first_use`]), but
    /// `ControllerTrust.TOFUAllowed` is false, or the sender's `Controller.{i}.` row names
    /// other certificates as its `Credential` (TR-369 R-SEC.8: the certificate a controller
    /// was first trusted with stays its identity).
    Untrusted,
}

/// Things the driver may log or count.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum AgentEvent {
    /// A NotifyResp answered a Notify.
    NotifyAcknowledged {
        /// The controller.
        controller: String,
        /// The Notify's `msg_id`.
        msg_id: String,
    },
    /// A Notify with NotifRetry passed its NotifExpiration unanswered.
    NotifyExpired {
        /// The controller.
        controller: String,
        /// The Notify's `msg_id`.
        msg_id: String,
    },
    /// A notification for a controller without a known MTP return path.
    NotifyUndeliverable {
        /// The controller.
        controller: String,
    },
    /// An input Record was ignored.
    RecordIgnored {
        /// The sender, if it was read.
        from: Option<String>,
        /// Why.
        reason: IgnoreReason,
    },
    /// An internal engine request (an acknowledgement, a device update, a subscription's
    /// `TriggerConfigSettings`) failed.
    InternalRequestFailed {
        /// The error text.
        reason: String,
    },
    /// The unanswered NotifRetry Notifies changed (one was sent, answered or expired): save
    /// [`Agent::save_notifications`] if they are to survive a restart.
    NotificationsChanged,
    /// Notifies saved before a restart were left out by [`Agent::restore_notifications`]:
    /// beyond `max_unacknowledged`, or not decoding (a garbled save).
    SavedNotifiesDropped {
        /// How many.
        count: usize,
    },
    /// The E2E session with a controller passed its `SessionExpiration` idle.
    SessionExpired {
        /// The controller.
        controller: String,
    },
    /// A session Record could not be buffered or processed; the agent restarts the session
    /// (R-E2E.21).
    SessionFailed {
        /// The controller.
        controller: String,
        /// The USP error code of the failure.
        code: u32,
        /// What failed.
        reason: String,
    },
}

/// What the driver must do next; see the [module docs](self).
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Output {
    /// Run `request` on the engine as `principal`, then [`Agent::respond`] with `id`.
    EngineRequest {
        /// The id to answer with.
        id: RequestId,
        /// Who asks (the controller, or the agent itself as a controller).
        principal: Principal,
        /// The request.
        request: EngineRequest,
    },
    /// Something happened.
    Event(AgentEvent),
    /// Nothing is pending and no timer is set.
    Idle,
    /// Call [`Agent::handle_timeout`] at this instant.
    Timeout(Instant),
    /// Send `bytes` (one encoded Record for `to`) on `mtp`.
    Transmit {
        /// The return path.
        mtp: Mtp,
        /// The destination Endpoint ID.
        to: String,
        /// The Record.
        bytes: Vec<u8>,
    },
}

/// The local caller misused the agent (not the peer's fault).
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum AgentError {
    /// [`Agent::respond`] with an id that is not pending.
    #[error("no engine request {0:?} is pending")]
    UnknownRequest(RequestId),
    /// [`Agent::respond`] with a result of another kind than the request.
    #[error("the result does not match engine request {0:?}")]
    MismatchedResult(RequestId),
}

/// Why an engine request is pending.
#[derive(Clone, Debug)]
pub(crate) enum Pending {
    /// The agent's own request.
    Internal,
    /// `SendOnBoardRequest()`'s read of what the OnBoardRequest of a controller row carries
    /// (`onboard.rs`).
    OnBoard {
        /// The controller row (`Device.LocalAgent.Controller.1.`).
        row: String,
    },
    /// A controller's request; the answer becomes a response Msg.
    Reply {
        controller: String,
        msg_id: String,
        reply: Reply,
        /// The request came in a session context (R-MSG.0a: so goes the answer).
        in_session: bool,
    },
}

/// The USP agent; see the [module docs](self).
pub struct Agent {
    config: AgentConfig,
    access: Option<Arc<dyn AccessControl>>,
    outputs: VecDeque<Output>,
    pending: LiteMap<RequestId, (Pending, ResultCheck)>,
    next_request: u64,
    next_msg: u64,
    /// The return path of each controller heard from.
    routes: LiteMap<String, Mtp>,
    subscriptions: Vec<Subscription>,
    last_seq: u64,
    unacknowledged: Vec<Unacknowledged>,
    dropped_notifications: u32,
    rng: Rng,
    /// The wall clock and the `now` it was given at.
    wall: Option<(Instant, DateTime)>,
    versions: String,
    /// The latest `now` given to the agent (answers from the engine carry none).
    now: Option<Instant>,
    e2e: LiteMap<String, E2eConfig>,
    sessions: LiteMap<String, Session>,
    /// The `E2ESession.Status` and `CurrentRetryCount` last written, per controller.
    published: LiteMap<String, (SessionStatus, u32)>,
    /// `Device.LocalAgent.Periodic!` schedules, per controller.
    periodic: LiteMap<String, periodic::Schedule>,
    /// Onboarding procedures, per controller row.
    onboarding: LiteMap<String, onboard::Procedure>,
    /// ControllerTrust: challenges handed out, credentials, roles.
    trust: trust::Trust,
    /// The E2E TLS identity and trust store, without which `TLS12` Records get 7102.
    #[cfg(feature = "e2e-tls")]
    e2e_tls: Option<E2eTls>,
}

impl core::fmt::Debug for Agent {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("Agent")
            .field("endpoint_id", &self.config.endpoint_id)
            .field("pending", &self.pending.len())
            .field("subscriptions", &self.subscriptions.len())
            .finish_non_exhaustive()
    }
}

impl Agent {
    /// A new agent. Feed it the engine's change log from `last_seq` on (see
    /// [`Agent::handle_changes`]) and its notices, starting with `Booted`.
    pub fn new(config: AgentConfig) -> Self {
        let mut routes = LiteMap::new();
        for controller in &config.controllers {
            if let Some(mtp) = &controller.mtp {
                insert_bounded(
                    &mut routes,
                    &controller.endpoint_id,
                    mtp.clone(),
                    usize::MAX,
                );
            }
        }
        let versions = config.supported_versions.join(",");
        Self {
            rng: Rng::new(config.rng_seed),
            config,
            access: None,
            outputs: VecDeque::new(),
            pending: LiteMap::new(),
            next_request: 0,
            next_msg: 0,
            routes,
            subscriptions: Vec::new(),
            last_seq: 0,
            unacknowledged: Vec::new(),
            dropped_notifications: 0,
            wall: None,
            versions,
            now: None,
            e2e: LiteMap::new(),
            sessions: LiteMap::new(),
            published: LiteMap::new(),
            periodic: LiteMap::new(),
            onboarding: LiteMap::new(),
            trust: trust::Trust::default(),
            #[cfg(feature = "e2e-tls")]
            e2e_tls: None,
        }
    }

    /// Enables TLS payload security in E2E session contexts with `tls` (see `e2e_tls.rs`):
    /// `TLS12` session Records are answered, and the sessions the agent starts use TLS when
    /// the controller's `E2ESession.PayloadSecurity` is `TLS`. Without it a `TLS12` Record gets
    /// a Disconnect Record, 7102.
    #[cfg(feature = "e2e-tls")]
    #[cfg_attr(docsrs, doc(cfg(feature = "e2e-tls")))]
    #[must_use]
    pub fn with_e2e_tls(mut self, tls: E2eTls) -> Self {
        self.e2e_tls = Some(tls);
        self
    }

    /// Replaces the E2E TLS settings (`None`: none from now on), as when the driver has read
    /// its certificate, CA and CRL files again: the sessions that start from now on, and the
    /// `mac_signature` checks from now on, use the new ones; a TLS session already
    /// established keeps the handshake it made.
    #[cfg(feature = "e2e-tls")]
    #[cfg_attr(docsrs, doc(cfg(feature = "e2e-tls")))]
    pub fn set_e2e_tls(&mut self, tls: Option<E2eTls>) {
        if let (Some(tls), Some(now)) = (&tls, self.now) {
            tls.set_time(self.wall_at(now));
        }
        self.e2e_tls = tls;
    }

    /// Uses `access` (normally the one the engine has) to check the notify right of every
    /// notification. Without it every subscription is notified.
    #[must_use]
    pub fn with_access(mut self, access: Arc<dyn AccessControl>) -> Self {
        self.access = Some(access);
        self
    }

    /// The configuration.
    pub const fn config(&self) -> &AgentConfig {
        &self.config
    }

    /// Sets the wall clock: `wall` is the real time at the monotonic `now` (`None` before it
    /// is known). The agent counts it forward with `now`; `Periodic!` schedules re-align when
    /// it is first known or differs from that count by more than [`WALL_CLOCK_STEP`].
    pub fn set_wall_clock(&mut self, now: Instant, wall: Option<DateTime>) {
        let stepped = match (self.wall_at(now).and_then(|w| w.unix_micros()), wall) {
            (_, None) => false,
            (None, Some(_)) => true,
            (Some(counted), Some(given)) => given.unix_micros().is_none_or(|given| {
                counted.abs_diff(given) > WALL_CLOCK_STEP.as_micros().try_into().unwrap_or(0)
            }),
        };
        self.wall = wall.map(|wall| (now, wall));
        if stepped {
            self.realign_periodic(now);
        }
    }

    /// The wall clock at `at`, counted from the last [`Agent::set_wall_clock`].
    fn wall_at(&self, at: Instant) -> Option<DateTime> {
        let (set_at, wall) = self.wall?;
        let micros = wall.unix_micros()?;
        let micros = match at.checked_duration_since(set_at) {
            Some(after) => micros.checked_add(i64::try_from(after.as_micros()).ok()?)?,
            None => micros.checked_sub(
                i64::try_from(set_at.saturating_duration_since(at).as_micros()).ok()?,
            )?,
        };
        DateTime::from_unix_micros(micros)
    }

    /// Notifies dropped because the retry queue was full.
    pub const fn dropped_notifications(&self) -> u32 {
        self.dropped_notifications
    }

    /// Starts from change-log sequence number `seq` (records up to it are not notified).
    pub const fn skip_changes_through(&mut self, seq: u64) {
        self.last_seq = seq;
    }

    /// The next thing to do; see the [module docs](self).
    pub fn poll_output(&mut self) -> Output {
        if let Some(output) = self.outputs.pop_front() {
            return output;
        }
        match [
            self.next_deadline(),
            self.session_deadline(),
            self.periodic_deadline(),
            self.onboarding_deadline(),
        ]
        .into_iter()
        .flatten()
        .min()
        {
            Some(at) => Output::Timeout(at),
            None => Output::Idle,
        }
    }

    /// Timers are due: retries, NotifExpiration, TimeToLive, E2E session expiry and retries,
    /// onboarding restarts, `Periodic!`.
    pub fn handle_timeout(&mut self, now: Instant) {
        self.tick(now);
        self.publish_sessions();
    }

    /// Records `now` and runs the timers that are due.
    fn tick(&mut self, now: Instant) {
        self.now = Some(now);
        #[cfg(feature = "e2e-tls")]
        if let Some(tls) = &self.e2e_tls {
            tls.set_time(self.wall_at(now));
        }
        self.timers(now);
        self.session_timers(now);
        self.periodic_timers(now);
        self.onboarding_timers(now);
    }

    /// The E2E session status with `controller` (`E2ESession.Status`).
    pub fn session_status(&self, controller: &str) -> SessionStatus {
        self.status_of(controller)
    }

    /// New change-log records (from `engine.changes_since`), with the store they were read
    /// from: value changes, object creation and deletion become notifications for the
    /// matching subscriptions, whatever protocol made the change. Records at or below the
    /// last sequence number seen are skipped, so overlapping batches are harmless.
    pub fn handle_changes(&mut self, now: Instant, changes: &[ChangeRecord], store: &Store) {
        self.changes(now, changes, store);
    }

    /// A notice from `Engine::poll_notice`: `Booted` (removes non-persistent subscriptions,
    /// sends `Device.Boot!`), `Event` and `OperationComplete` become notifications; the
    /// notice is then acknowledged through an [`EngineRequest::Acknowledge`]. Others are
    /// ignored.
    pub fn handle_notice(&mut self, now: Instant, id: NoticeId, notice: &Notice, store: &Store) {
        self.notice(now, id, notice, store);
    }

    /// Re-reads `Device.LocalAgent.Subscription.` and the controller rows (E2E session
    /// settings, onboarding: an OnBoardRequest to every enabled row whose
    /// `OnBoardingComplete` is false), e.g. at start, after the engine loaded its store. Both
    /// are re-read by [`Agent::handle_changes`] when they change.
    pub fn load_subscriptions(&mut self, now: Instant, store: &Store) {
        self.now = Some(now);
        self.reload_subscriptions(now, store);
        self.reload_controllers(now, store);
        self.refresh_periodic(now, store);
    }

    /// Re-reads the controller rows: E2E session settings and onboarding.
    fn reload_controllers(&mut self, now: Instant, store: &Store) {
        self.reload_e2e(now, store);
        self.reload_onboarding(now, store);
        self.reload_trust(store);
    }

    /// Replaces the known controllers, for a device whose `Device.LocalAgent.Controller.{i}.`
    /// rows (or their MTPs) changed at run time: who may send Records, with which roles, and
    /// where each one's notifications go. A controller whose configured MTP changed gets it
    /// at once, in place of the return path learnt from its last Record; one no longer known
    /// is refused from its next Record on.
    pub fn set_controllers(&mut self, controllers: Vec<ControllerConfig>) {
        for controller in &controllers {
            let Some(mtp) = &controller.mtp else {
                continue;
            };
            let before = self
                .config
                .controllers
                .iter()
                .find(|c| c.endpoint_id == controller.endpoint_id)
                .and_then(|c| c.mtp.as_ref());
            if before != Some(mtp) {
                self.learn_route(&controller.endpoint_id, mtp.clone());
            }
        }
        self.config.controllers = controllers;
    }

    /// Sends an OnBoardRequest Notify to `controller`: `send_resp` set, retried until a
    /// NotifyResp arrives, never expiring (R-NOT.5/6/6a); returns its `msg_id`. The agent
    /// sends one by itself to every enabled `Device.LocalAgent.Controller.{i}.` row whose
    /// `OnBoardingComplete` is false (see `onboard.rs`); this is for other reasons.
    pub fn send_onboard_request(
        &mut self,
        now: Instant,
        controller: &str,
        oui: &str,
        product_class: &str,
        serial_number: &str,
    ) -> String {
        let notification =
            subscriptions::onboard(oui, product_class, serial_number, &self.versions);
        self.send_notify(now, controller, "", true, None, notification)
    }

    /// A Record from `mtp`. The Record's Msg payload is sliced out of `bytes`, not copied (a
    /// driver holding a `&[u8]` passes `Bytes::copy_from_slice`).
    pub fn handle_record(&mut self, now: Instant, mtp: Mtp, bytes: Bytes) {
        self.tick(now);
        self.record(now, mtp, bytes);
        self.publish_sessions();
    }

    fn record(&mut self, now: Instant, mtp: Mtp, bytes: Bytes) {
        let mut record = match codec::decode_record_bytes(bytes, &self.config.limits) {
            Ok(record) => record,
            Err(error) => {
                return self.ignore(None, IgnoreReason::Undecodable(error.usp_error()));
            }
        };
        let from = record.from_id.as_str();
        if !mtp.authenticates(from) {
            return self.ignore(Some(from.into()), IgnoreReason::Unauthenticated);
        }
        if record.to_id != self.config.endpoint_id {
            return self.ignore(Some(from.into()), IgnoreReason::NotForUs);
        }
        // A controller accepted on first use is unknown until the agent learns it.
        if mtp.first_use.is_none() && !self.is_known(from) {
            return self.ignore(Some(from.into()), IgnoreReason::UnknownController);
        }
        if record.version.split('.').next() != Some("1") {
            return self.ignore(Some(from.into()), IgnoreReason::UnsupportedVersion);
        }
        // The session context's fields are signed with the Record's: read them first.
        let integrity = match &record.record_type {
            Some(RecordType::SessionContext(_)) => Integrity::of(&record),
            _ => Integrity::default(),
        };
        let bad_signature = self.bad_signature(&record);
        // Moved out, not copied: one allocation less per Record.
        let from = core::mem::take(&mut record.from_id);
        let Some(record_type) = record.record_type.take() else {
            return self.ignore(Some(from), IgnoreReason::Undecodable(7104));
        };
        let in_session = matches!(record_type, RecordType::SessionContext(_));
        if bad_signature && !in_session {
            // Before anything is learnt from it (R-E2E.30).
            return self.ignore(Some(from), IgnoreReason::BadSignature);
        }
        if let RecordType::Disconnect(_) = record_type {
            self.session_disconnected(&from);
            self.routes.remove(&from);
            return;
        }
        let Some(mtp) = self.return_path(&from, mtp) else {
            return self.ignore(Some(from), IgnoreReason::NoReturnPath);
        };
        if let Some(certificate) = &mtp.first_use
            && !self.trust_on_first_use(&from, certificate)
        {
            return self.ignore(Some(from), IgnoreReason::Untrusted);
        }
        self.inherit_roles(&from, mtp.validated_by.as_deref());
        if self.is_banned(&from) {
            return self.ignore(Some(from), IgnoreReason::Banned);
        }
        self.learn_route(&from, mtp);
        if bad_signature {
            // R-E2E.21: a session Record that fails restarts the session, over this route.
            return self.session_failed(now, &from, session::BAD_SIGNATURE);
        }
        match record_type {
            RecordType::NoSessionContext(ns) => {
                if self.refuse_payload_security(&from, record.payload_security, false)
                    || self.refuse_no_session(now, &from)
                {
                    return;
                }
                self.handle_payload(&from, &ns.payload, false);
            }
            RecordType::SessionContext(context) => {
                if self.refuse_payload_security(&from, record.payload_security, true) {
                    return;
                }
                let tls = record.payload_security == PayloadSecurity::Tls12 as i32;
                self.handle_session_record(now, &from, context, tls, integrity);
            }
            _ => {}
        }
    }

    /// The engine's answer to request `id`.
    ///
    /// # Errors
    ///
    /// [`AgentError::UnknownRequest`] if `id` is not pending, [`AgentError::MismatchedResult`]
    /// if `result` is not the kind of the request (the request stays pending).
    pub fn respond(&mut self, id: RequestId, result: EngineResult) -> Result<(), AgentError> {
        let Some((_, check)) = self.pending.get(&id) else {
            return Err(AgentError::UnknownRequest(id));
        };
        if !(check.0)(&result) {
            return Err(AgentError::MismatchedResult(id));
        }
        let Some((pending, _)) = self.pending.remove(&id) else {
            return Err(AgentError::UnknownRequest(id));
        };
        match pending {
            Pending::Internal => self.internal_done(&result),
            Pending::OnBoard { row } => self.onboard_values(&row, &result),
            Pending::Reply {
                controller,
                msg_id,
                reply,
                in_session,
            } => self.reply(&controller, &msg_id, reply, &result, in_session),
        }
        self.publish_sessions();
        Ok(())
    }

    fn internal_done(&mut self, result: &EngineResult) {
        let failed = match result {
            EngineResult::Acknowledge(Err(e)) | EngineResult::DeviceUpdate(Err(e)) => {
                Some(e.to_string())
            }
            EngineResult::Set(Err(failure)) => Some(failure.error.to_string()),
            _ => None,
        };
        if let Some(reason) = failed {
            self.push_event(AgentEvent::InternalRequestFailed { reason });
        }
    }

    fn reply(
        &mut self,
        controller: &str,
        msg_id: &str,
        reply: Reply,
        result: &EngineResult,
        in_session: bool,
    ) {
        let body = match (reply, result) {
            (Reply::Get, EngineResult::Get(Ok(r))) => Ok(messages::get_resp(r)),
            (Reply::GetInstances, EngineResult::GetInstances(Ok(r))) => {
                Ok(messages::get_instances_resp(r))
            }
            (Reply::Supported(flags), EngineResult::Supported(Ok(r))) => {
                Ok(supported::resp(r, flags))
            }
            (Reply::Set, EngineResult::Set(Ok(r))) => Ok(messages::set_resp(r)),
            (Reply::Add, EngineResult::Add(Ok(r))) => {
                self.claim_subscriptions(controller, r);
                Ok(messages::add_resp(r))
            }
            (Reply::Delete, EngineResult::Delete(Ok(r))) => Ok(messages::delete_resp(r)),
            (
                Reply::Operate {
                    send_resp,
                    challenge_input,
                },
                EngineResult::Operate(Ok(r)),
            ) => {
                let challenge = self.challenge_command(controller, &challenge_input, r);
                if !send_resp {
                    return self.agent_commands(r);
                }
                Ok(match challenge {
                    Some((path, outcome)) => RespType::OperateResp(usp::OperateResp {
                        operation_results: std::vec![messages::operation_result(path, &outcome)],
                    }),
                    None => messages::operate_resp(r),
                })
            }
            (
                _,
                EngineResult::Set(Err(f))
                | EngineResult::Add(Err(f))
                | EngineResult::Delete(Err(f)),
            ) => Err(messages::failure_error(f)),
            (
                _,
                EngineResult::Get(Err(e))
                | EngineResult::GetInstances(Err(e))
                | EngineResult::Supported(Err(e))
                | EngineResult::Operate(Err(e)),
            ) => Err(messages::engine_error(e)),
            _ => Err(messages::error(
                messages::ERR_INTERNAL,
                "unexpected engine result",
            )),
        };
        let msg = match body {
            Ok(resp) => codec::response_msg(msg_id, resp),
            Err(error) => codec::error_msg(msg_id, error),
        };
        self.answer(controller, &msg, in_session);
        // After the answer, which a session Reset() would otherwise move to the new session.
        if let EngineResult::Operate(Ok(r)) = result {
            self.agent_commands(r);
        }
    }

    /// Sets `Recipient` (and `CreationDate`) of subscription rows a controller just added, and
    /// `Controller` of its new bulk data profiles (the owner their `Push!` goes to).
    fn claim_subscriptions(&mut self, controller: &str, response: &hal::engine::AddResponse) {
        let mut sets = Vec::new();
        for added in response
            .results
            .iter()
            .filter_map(|r| r.outcome.as_ref().ok())
        {
            let profile = added
                .path
                .strip_prefix(hal::bulkdata::PROFILES)
                .is_some_and(|rest| !rest.trim_end_matches('.').contains('.'));
            if profile {
                sets.push((format!("{}Controller", added.path), controller.to_string()));
            }
            if added.path.starts_with(subscriptions::TABLE) {
                sets.push((format!("{}Recipient", added.path), controller.to_string()));
                if let Some(wall) = self.now.and_then(|now| self.wall_at(now)) {
                    sets.push((format!("{}CreationDate", added.path), wall.to_string()));
                }
            }
        }
        if !sets.is_empty() {
            self.internal(EngineRequest::DeviceUpdate(DeviceUpdate::setting(sets)));
        }
    }

    /// A Msg from `from`, `in_session` when it came in a session context.
    fn handle_payload(&mut self, from: &str, payload: &[u8], in_session: bool) {
        let msg = match codec::decode_inbound_msg(payload, &self.config.limits) {
            Ok(msg) => msg,
            Err(error) => {
                let code = error.usp_error();
                match readable_request_id(payload, error.is_record_error()) {
                    Some(msg_id) => {
                        let reply =
                            codec::error_msg(msg_id, messages::error(code, error.to_string()));
                        self.answer(from, &reply, in_session);
                    }
                    None => self.ignore(Some(from.into()), IgnoreReason::MsgUndecodable(code)),
                }
                return;
            }
        };
        let usp_inbound::Msg { header, body } = msg;
        let msg_id = header.map(|h| h.msg_id).unwrap_or_default();
        match body.and_then(|b| b.msg_body) {
            Some(MsgBody::Request(usp::Request {
                req_type: Some(request),
            })) => self.handle_request(from, msg_id, request, in_session),
            Some(MsgBody::Response(usp_inbound::Response {
                resp_type: Some(usp_inbound::response::RespType::NotifyResp(_)),
            })) => self.notify_acknowledged(from, &msg_id),
            _ => self.ignore(Some(from.into()), IgnoreReason::Unexpected),
        }
    }

    fn handle_request(
        &mut self,
        from: &str,
        msg_id: String,
        request: usp::request::ReqType,
        in_session: bool,
    ) {
        let duplicate = self.pending.values().any(|(p, _)| {
            matches!(p, Pending::Reply { controller, msg_id: m, .. } if controller == from && *m == msg_id)
        });
        if duplicate {
            return self.ignore(Some(from.into()), IgnoreReason::Duplicate);
        }
        match messages::plan(request, &self.versions) {
            Plan::Respond(resp) => {
                let msg = codec::response_msg(msg_id, resp);
                self.answer(from, &msg, in_session);
            }
            Plan::Error(error) => {
                let msg = codec::error_msg(msg_id, error);
                self.answer(from, &msg, in_session);
            }
            Plan::Engine(request, reply) => {
                if self.pending.len() >= self.config.max_pending_requests.max(1) {
                    let error =
                        messages::error(messages::ERR_RESOURCES, "too many requests in progress");
                    let msg = codec::error_msg(msg_id, error);
                    self.answer(from, &msg, in_session);
                    return;
                }
                let principal = self.principal_of(from);
                let pending = Pending::Reply {
                    controller: from.into(),
                    // The request's own, moved.
                    msg_id,
                    reply,
                    in_session,
                };
                self.request(principal, pending, request);
            }
        }
    }

    pub(crate) fn request(
        &mut self,
        principal: Principal,
        pending: Pending,
        request: EngineRequest,
    ) {
        self.next_request = self.next_request.saturating_add(1);
        let id = RequestId(self.next_request);
        self.pending
            .insert(id, (pending, ResultCheck::of(&request)));
        self.outputs.push_back(Output::EngineRequest {
            id,
            principal,
            request,
        });
    }

    /// Queues one of the agent's own engine requests.
    pub(crate) fn internal(&mut self, request: EngineRequest) {
        let principal = self.own_principal();
        self.request(principal, Pending::Internal, request);
    }

    /// The principal of the agent's own requests.
    pub(crate) fn own_principal(&self) -> Principal {
        Principal::controller(self.config.endpoint_id.clone(), Vec::new())
    }

    pub(crate) fn push_event(&mut self, event: AgentEvent) {
        self.outputs.push_back(Output::Event(event));
    }

    fn ignore(&mut self, from: Option<String>, reason: IgnoreReason) {
        self.push_event(AgentEvent::RecordIgnored { from, reason });
    }

    fn is_known(&self, endpoint_id: &str) -> bool {
        self.config.accept_unknown_controllers
            || self
                .config
                .controllers
                .iter()
                .any(|c| c.endpoint_id == endpoint_id)
    }

    /// The principal a controller's requests run as: with its configured roles, else with
    /// those the agent keeps for it when it has no controller row (`trust.rs`), else with none
    /// (the access policy looks them up).
    pub(crate) fn principal_of(&self, endpoint_id: &str) -> Principal {
        let configured = self
            .config
            .controllers
            .iter()
            .find(|c| c.endpoint_id == endpoint_id)
            .map(|c| c.roles.clone())
            .unwrap_or_default();
        let roles = if configured.is_empty() {
            self.own_roles(endpoint_id)
        } else {
            configured
        };
        Principal::controller(endpoint_id, roles)
    }

    /// Where to answer a Record from `controller` that came on `mtp`: `mtp` itself, or the
    /// controller's configured MTP when `mtp` named no return address.
    fn return_path(&self, controller: &str, mtp: Mtp) -> Option<Mtp> {
        if !mtp.reply_to.is_empty() {
            return Some(mtp);
        }
        let configured = self
            .config
            .controllers
            .iter()
            .find(|c| c.endpoint_id == controller)?
            .mtp
            .clone()?;
        Some(Mtp {
            authenticated: mtp.authenticated,
            validated_by: mtp.validated_by,
            first_use: mtp.first_use,
            ..configured
        })
    }

    fn learn_route(&mut self, controller: &str, mtp: Mtp) {
        insert_bounded(&mut self.routes, controller, mtp, self.config.max_routes);
    }

    fn builder(&self, to: &str) -> RecordBuilder {
        RecordBuilder::new(to, self.config.endpoint_id.clone())
            .with_version(self.config.record_version.clone())
    }

    /// Sends a Msg of the agent's own (a Notify) to `controller`: in the E2E session when one
    /// is up or required, else in a no-session Record; false without a return path.
    pub(crate) fn transmit_msg(&mut self, controller: &str, msg: &Msg) -> bool {
        let in_session = self.uses_session(controller);
        self.answer(controller, msg, in_session)
    }

    /// Sends `msg` in the session with `controller` or in a no-session Record; false without
    /// a return path.
    fn answer(&mut self, controller: &str, msg: &Msg, in_session: bool) -> bool {
        if in_session {
            let mut payload = Vec::new();
            codec::encode_msg(msg, &mut payload);
            return self.send_in_session(controller, &payload);
        }
        let record = self.builder(controller).no_session(msg);
        self.transmit_record(controller, record)
    }

    /// Sends a Record to `controller`, signed if the MTP does not protect it (R-E2E.29; see
    /// `session.rs`); false without a return path.
    pub(crate) fn transmit_record(&mut self, controller: &str, record: crate::Record) -> bool {
        #[cfg(feature = "e2e-tls")]
        let mut record = record;
        #[cfg(feature = "e2e-tls")]
        if let Some(tls) = self.record_signer(controller) {
            tls.sign_record(&mut record);
        }
        let mut bytes = Vec::new();
        codec::encode_record(&record, &mut bytes);
        self.transmit_bytes(controller, bytes)
    }

    /// Sends an encoded Record to `controller`; false without a return path, or when the
    /// controller is banned (`ControllerTrust.BannedRole`).
    pub(crate) fn transmit_bytes(&mut self, controller: &str, bytes: Vec<u8>) -> bool {
        let Some(mtp) = self.routes.get(controller).cloned() else {
            return false;
        };
        if self.is_banned(controller) {
            return false;
        }
        self.outputs.push_back(Output::Transmit {
            mtp,
            to: controller.into(),
            bytes,
        });
        true
    }

    pub(crate) fn next_msg_id(&mut self, prefix: &str) -> String {
        self.next_msg = self.next_msg.saturating_add(1);
        format!("{prefix}-{}", self.next_msg)
    }
}

/// How far [`Agent::set_wall_clock`] may differ from the agent's count before schedules
/// aligned on the wall clock re-align (the count drifts, and drivers read whole seconds).
pub const WALL_CLOCK_STEP: Duration = Duration::from_secs(2);

/// The canonical text of parameter `name` of `object` (`Device.LocalAgent.Controller.2.`),
/// empty when the store has no such value: how the agent reads its own configuration rows.
/// Never inlined: it has dozens of callers, and the router build counts every byte.
#[inline(never)]
fn param_text(store: &Store, object: &str, name: &str) -> String {
    store
        .value(&format!("{object}{name}"))
        .map(Value::canonical_text)
        .unwrap_or_default()
}

/// Inserts into a per-controller map of at most `max` entries (at least 1), dropping the first
/// controller by name to make room for a new one. The agent's maps are `LiteMap`s (sorted
/// `Vec`s), not `BTreeMap`s, whose code for each value type weighed 2–6 KB of the router
/// build (issue #8), for maps bounded by [`AgentConfig`]'s limits.
fn insert_bounded<V>(map: &mut LiteMap<String, V>, controller: &str, value: V, max: usize) {
    // A known controller (every Record after the first) needs no new key allocated.
    if let Some(slot) = map.get_mut(controller) {
        *slot = value;
        return;
    }
    if map.len() >= max.max(1) {
        if let Some(first) = map.first().map(|(name, _)| name.clone()) {
            map.remove(&first);
        }
    }
    map.insert(controller.into(), value);
}

/// The `msg_id` of a Msg that failed validation, if it can be read and the Msg is not a
/// response or an error (R-MTP.5: only requests are answered).
fn readable_request_id(payload: &[u8], record_error: bool) -> Option<String> {
    if record_error {
        return None;
    }
    let msg: usp_inbound::Msg = codec::parse_msg(payload).ok()?;
    let id = msg.header?.msg_id;
    let answered = matches!(
        msg.body.and_then(|b| b.msg_body),
        Some(MsgBody::Response(_) | MsgBody::Error(_))
    );
    (!id.is_empty() && !answered).then_some(id)
}

/// The test the engine's answer to a pending request must pass: its variant is the request's.
/// Kept instead of the request, which would mean cloning the request's paths and values.
#[derive(Clone, Copy)]
struct ResultCheck(fn(&EngineResult) -> bool);

impl ResultCheck {
    fn of(request: &EngineRequest) -> Self {
        Self(match request {
            EngineRequest::Acknowledge(_) => |r| matches!(r, EngineResult::Acknowledge(_)),
            EngineRequest::Add(_) => |r| matches!(r, EngineResult::Add(_)),
            EngineRequest::Delete(_) => |r| matches!(r, EngineResult::Delete(_)),
            EngineRequest::DeviceUpdate(_) => |r| matches!(r, EngineResult::DeviceUpdate(_)),
            EngineRequest::Get(_) => |r| matches!(r, EngineResult::Get(_)),
            EngineRequest::GetInstances(_) => |r| matches!(r, EngineResult::GetInstances(_)),
            EngineRequest::Operate(_) => |r| matches!(r, EngineResult::Operate(_)),
            EngineRequest::Set(_) => |r| matches!(r, EngineResult::Set(_)),
            EngineRequest::Supported(_) => |r| matches!(r, EngineResult::Supported(_)),
            // The agent sends no other kind.
            _ => |_| false,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn per_controller_maps_are_bounded_dropping_the_first_name() {
        let mut map = LiteMap::new();
        for (name, value) in [("c", 1), ("a", 2), ("c", 3)] {
            insert_bounded(&mut map, name, value, 3);
        }
        let listed = |map: &LiteMap<String, u32>| -> Vec<(String, u32)> {
            map.iter().map(|(name, v)| (name.clone(), *v)).collect()
        };
        let pairs = |list: &[(&str, u32)]| -> Vec<(String, u32)> {
            list.iter()
                .map(|(name, v)| (String::from(*name), *v))
                .collect()
        };
        assert_eq!(listed(&map), pairs(&[("a", 2), ("c", 3)]));
        // Full: the first controller by name makes room, whichever comes.
        insert_bounded(&mut map, "b", 4, 3);
        insert_bounded(&mut map, "0", 5, 3);
        assert_eq!(listed(&map), pairs(&[("0", 5), ("b", 4), ("c", 3)]));
        insert_bounded(&mut map, "d", 6, 3);
        assert_eq!(listed(&map), pairs(&[("b", 4), ("c", 3), ("d", 6)]));
        // A known controller is replaced in place, even when full.
        insert_bounded(&mut map, "b", 7, 3);
        assert_eq!(listed(&map), pairs(&[("b", 7), ("c", 3), ("d", 6)]));
    }

    #[test]
    fn respond_checks_ids_and_kinds() {
        let mut agent = Agent::new(AgentConfig::new("os::agent"));
        assert_eq!(
            agent.respond(RequestId(9), EngineResult::DeviceUpdate(Ok(()))),
            Err(AgentError::UnknownRequest(RequestId(9)))
        );
        agent.internal(EngineRequest::Acknowledge(NoticeId(1)));
        let Output::EngineRequest { id, .. } = agent.poll_output() else {
            panic!("expected an engine request")
        };
        assert_eq!(
            agent.respond(id, EngineResult::DeviceUpdate(Ok(()))),
            Err(AgentError::MismatchedResult(id))
        );
        assert_eq!(
            agent.respond(id, EngineResult::Acknowledge(Ok(true))),
            Ok(())
        );
        assert_eq!(agent.poll_output(), Output::Idle);
    }

    /// A GetSupportedProtocol Record (answered without the engine) to `to` from `from`.
    fn request_record(to: &str, from: &str) -> Bytes {
        let msg = codec::request_msg(
            "m",
            usp::request::ReqType::GetSupportedProtocol(usp::GetSupportedProtocol::default()),
        );
        let record = RecordBuilder::new(to, from).no_session(&msg);
        let mut bytes = Vec::new();
        codec::encode_record(&record, &mut bytes);
        bytes.into()
    }

    #[test]
    #[allow(clippy::disallowed_methods)] // A test's clock.
    fn records_for_others_are_ignored() {
        let mut agent = Agent::new(
            AgentConfig::new("os::agent").with_controller(ControllerConfig::new("self::ctrl")),
        );
        let bytes = request_record("os::other", "self::ctrl");
        agent.handle_record(Instant::now(), Mtp::new(MtpKind::Uds, "c1"), bytes);
        assert_eq!(
            agent.poll_output(),
            Output::Event(AgentEvent::RecordIgnored {
                from: Some("self::ctrl".into()),
                reason: IgnoreReason::NotForUs
            })
        );
    }

    #[test]
    #[allow(clippy::disallowed_methods)] // A test's clock.
    fn from_id_must_be_one_the_mtp_authenticated() {
        let mut agent = Agent::new(
            AgentConfig::new("os::agent")
                .with_controller(ControllerConfig::new("self::ctrl"))
                .with_controller(ControllerConfig::new("self::other")),
        );
        let now = Instant::now();
        let ctrl = Mtp::new(MtpKind::WebSocket, "self::ctrl")
            .with_authenticated(std::vec!["self::ctrl".into(), "self::ctrl2".into()]);
        assert!(ctrl.authenticates("self::ctrl2") && !ctrl.authenticates("self::other"));
        // Another known controller's Endpoint ID on this connection: ignored, no Error Record,
        // and no return path learnt for it.
        agent.handle_record(
            now,
            ctrl.clone(),
            request_record("os::agent", "self::other"),
        );
        assert_eq!(
            agent.poll_output(),
            Output::Event(AgentEvent::RecordIgnored {
                from: Some("self::other".into()),
                reason: IgnoreReason::Unauthenticated
            })
        );
        assert_eq!(agent.poll_output(), Output::Idle);
        assert!(!agent.routes.contains_key("self::other"));
        // The authenticated one is answered on that connection.
        agent.handle_record(now, ctrl.clone(), request_record("os::agent", "self::ctrl"));
        let Output::Transmit { mtp, to, .. } = agent.poll_output() else {
            panic!("expected the answer")
        };
        assert_eq!((mtp, to.as_str()), (ctrl, "self::ctrl"));
        // A connection that authenticated no Endpoint ID checks none.
        let open = Mtp::new(MtpKind::WebSocket, "ws-1").with_authenticated(Vec::new());
        assert_eq!(open.authenticated, None);
        agent.handle_record(now, open, request_record("os::agent", "self::other"));
        assert!(matches!(agent.poll_output(), Output::Transmit { to, .. } if to == "self::other"));
    }
    #[test]
    #[allow(clippy::disallowed_methods)] // A test's clock.
    fn a_record_without_return_address_is_answered_on_the_configured_mtp() {
        let topic = Mtp::new(MtpKind::Mqtt, "usp/controller");
        let mut agent = Agent::new(
            AgentConfig::new("os::agent")
                .with_controller(ControllerConfig::new("self::ctrl").with_mtp(topic.clone()))
                .with_controller(ControllerConfig::new("self::other")),
        );
        let now = Instant::now();
        let unaddressed = Mtp::new(MtpKind::Mqtt, "");
        agent.handle_record(
            now,
            unaddressed.clone(),
            request_record("os::agent", "self::ctrl"),
        );
        let Output::Transmit { mtp, to, .. } = agent.poll_output() else {
            panic!("expected the answer")
        };
        assert_eq!((mtp, to.as_str()), (topic, "self::ctrl"));
        // A sender with no configured MTP cannot be answered, and no empty route is learnt.
        agent.handle_record(now, unaddressed, request_record("os::agent", "self::other"));
        assert_eq!(
            agent.poll_output(),
            Output::Event(AgentEvent::RecordIgnored {
                from: Some("self::other".into()),
                reason: IgnoreReason::NoReturnPath
            })
        );
        assert!(!agent.routes.contains_key("self::other"));
    }
}
