//! End-to-end session contexts (TR-369 "End to End Message Exchange"): one session per
//! controller, sequence numbers, acknowledgement, retransmission, segmentation and reassembly
//! (SAR) of PLAINTEXT and TLS payloads, expiry and restarts.
//!
//! Settings come from `Device.LocalAgent.Controller.{i}.E2ESession.` (read from the store like
//! the subscription table: at [`Agent::load_subscriptions`] and whenever the change log touches
//! the controller table); `Status` and `CurrentRetryCount` are written back through the
//! agent's own engine requests.
//!
//! | Parameter | Use |
//! |---|---|
//! | `SessionMode` | `Allow` (also when empty, as OBUSPA's default): sessions the controller starts are kept, the agent starts none of its own except to restart one. `Require`: the agent starts a session at once, sends every Msg in it and ignores no-session Records. `Forbid`: session Records get a Disconnect, 7106; a running session ends with 7105 |
//! | `SessionExpiration` | seconds without a Record either way before the session is dropped; 0 never |
//! | `SessionRetryMinimumWaitInterval`, `SessionRetryIntervalMultiplier` | the backoff (R-E2E.10) with which an agent-started session resends its Records until the controller answers |
//! | `MaxRetransmitTries` | how often one Record is resent on `retransmit_id`; -1 always, 0 never (the request then restarts the session) |
//! | `MaxUSPRecordSize` | the largest session Record sent (payloads are segmented to fit); 0 never segments |
//! | `PayloadSecurity` | `TLS` (the schema's default value): the sessions the agent starts are TLS ones, when it has E2E TLS settings (feature `e2e-tls`, `Agent::with_e2e_tls`); `Plaintext` or no value: PLAINTEXT ones. Sessions the controller starts keep the security of their first Record |
//!
//! `E2ESession.Enable` (deprecated in TR-181 2.15, deleted in 2.18 for `SessionMode`) is not
//! in the generated 2.19 schema, so it is not read.
//!
//! # Receiving (R-E2E.20/21/25)
//!
//! A Record whose `sequence_id` is ahead of the one expected is buffered (at most
//! [`AgentConfig::max_session_buffer`](super::AgentConfig::max_session_buffer) Records
//! holding at most [`Limits::max_msg_bytes`](crate::Limits) of payload); one
//! behind it is a duplicate and dropped; the expected one is processed, then the buffer is
//! drained in order. Processing acknowledges sent Records below the peer's `expected_id`,
//! resends the one named by `retransmit_id` (at most `MaxRetransmitTries` times), and feeds
//! the payload to reassembly. A failure (an unknown session joined mid-way, a bad SAR
//! sequence, a reassembled payload over [`Limits::max_msg_bytes`](crate::Limits), a full
//! buffer, a retransmission that cannot be made) restarts the session from the agent's side.
//!
//! # TLS payload security
//!
//! With the feature `e2e-tls` and E2E TLS settings (`Agent::with_e2e_tls`), a `TLS12`
//! session carries a TLS connection (see `e2e_tls.rs`): the payload entries of its Records
//! are TLS records, decrypted in `sequence_id` order; the plaintext of the Records from a
//! `payload_sar_state` BEGIN to its COMPLETE (or of one NONE Record) is one Msg, reassembled
//! and bounded as above. A TLS record longer than what fits in `MaxUSPRecordSize` is cut
//! across Records and marked on `payloadrec_sar_state`. Msgs to send wait (at most
//! [`AgentConfig::max_session_outbox`](super::AgentConfig::max_session_outbox)) until the
//! handshake is done. A TLS failure, a certificate not naming the sender or a wrong
//! `mac_signature` fails the Record (7104), which restarts the session; a `TLS12` Record
//! whose session is PLAINTEXT, or the reverse, too (R-E2E.18/19).
//!
//! # Integrity (R-E2E.28–39)
//!
//! With E2E TLS settings, `mac_signature` is checked on every received Record that carries
//! one (R-E2E.30): by the signature method (ECDSA, `sender_cert`) on PLAINTEXT Records and
//! on TLS Records before the handshake is done, by the HMAC after. A no-session Record that
//! fails is ignored; a session Record fails its session (7104). Unsigned Records are taken
//! as before: R-E2E.30 also asks to check Records an MTP does not protect, but a Record
//! without a `mac_signature` has nothing to check, and refusing them would refuse the
//! controllers that never sign (what signs is up to the sender, R-E2E.29).
//!
//! The agent signs its own Records (R-E2E.29) when the MTP does not protect them
//! (`Agent::record_signer`): PLAINTEXT ones and TLS ones before the handshake by the
//! signature method, TLS ones after it by the HMAC (always). Segmentation leaves room for
//! the `sender_cert` and the longest signature.
//!
//! # Not supported
//!
//! Without E2E TLS settings, `TLS12` payload security: such a Record gets a Disconnect
//! Record, 7102 "secure session not supported"; so does a `TLS12` Record without a session
//! context in any case (R-E2E.41). Without them no `mac_signature` is made or checked either
//! (they hold the agent's key and the trust store a `sender_cert` must chain to).

use std::format;
use std::string::{String, ToString};
use std::time::{Duration, Instant};
use std::vec::Vec;

use bytes::Bytes;
use litemap::LiteMap;
use prost::Message as _;
use prost::encoding::encoded_len_varint;
use tr181_model::schema::Protocol;
use tr181_model::store::Store;

#[cfg(feature = "e2e-tls")]
use super::e2e_tls::{E2eTls, TlsLink};
use super::engine::{DeviceUpdate, EngineRequest};
use super::{Agent, AgentEvent, IgnoreReason, RetryPolicy, param_text};
use crate::codec::{self, RecordBuilder};
use crate::usp_record::record::{PayloadSecurity, RecordType};
use crate::usp_record::session_context_record::PayloadSarState;
use crate::usp_record::{Record, SessionContextRecord};

/// The controller table.
pub(crate) const CONTROLLERS: &str = "Device.LocalAgent.Controller.";
/// R-E2E.8/9: a sequence_id within this of `u64::MAX` calls for a new session.
const EXHAUSTION_MARGIN: u64 = 10_000;
/// USP Record error 7104, "Invalid Record value".
const ERR_INVALID_RECORD: u32 = 7104;
/// USP Record error 7102, "Secure session not supported".
pub(crate) const ERR_SECURE_SESSION_NOT_SUPPORTED: u32 = 7102;
/// USP Record error 7105, "Session Context terminated".
pub(crate) const ERR_SESSION_TERMINATED: u32 = 7105;
/// USP Record error 7106, "Session Context not allowed".
pub(crate) const ERR_SESSION_NOT_ALLOWED: u32 = 7106;

/// `E2ESession.SessionMode`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) enum SessionMode {
    /// Sessions may be used; the agent starts none of its own (the default, as OBUSPA's).
    #[default]
    Allow,
    /// No session; a session Record gets a Disconnect, 7106.
    Forbid,
    /// Every Msg travels in a session; the agent starts one when it has none.
    Require,
}

/// A controller's `E2ESession.` settings.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct E2eConfig {
    /// The controller's row (`Device.LocalAgent.Controller.1.`), where Status is written.
    pub(crate) row: Option<String>,
    pub(crate) mode: SessionMode,
    /// `SessionExpiration` in seconds; 0 never expires.
    pub(crate) expiration: u32,
    /// `SessionRetryMinimumWaitInterval` and `SessionRetryIntervalMultiplier`.
    pub(crate) retry: RetryPolicy,
    /// `MaxRetransmitTries`: -1 unlimited, 0 none.
    pub(crate) max_retransmit_tries: i32,
    /// `MaxUSPRecordSize` in bytes; 0 never segments.
    pub(crate) max_record_size: u32,
    /// `PayloadSecurity` is `TLS`: sessions the agent starts are TLS ones when it has E2E
    /// TLS settings.
    pub(crate) tls: bool,
    /// `Status` and `CurrentRetryCount` as the store holds them (not rewritten when equal).
    pub(crate) stored: (String, String),
}

impl Default for E2eConfig {
    fn default() -> Self {
        Self {
            row: None,
            mode: SessionMode::Allow,
            expiration: 0,
            retry: RetryPolicy::default(),
            max_retransmit_tries: 0,
            max_record_size: 0,
            tls: false,
            stored: (String::new(), String::new()),
        }
    }
}

/// `E2ESession.Status` of a controller.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum SessionStatus {
    /// No session.
    Down,
    /// The agent started a session and has heard nothing in it yet.
    Negotiating,
    /// A session is established.
    Up,
}

impl SessionStatus {
    /// The data-model value.
    #[must_use]
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Down => "Down",
            Self::Negotiating => "Negotiating",
            Self::Up => "Up",
        }
    }
}

/// A Record sent in the session, kept until the peer's `expected_id` passes it (R-E2E.16).
#[derive(Clone, Debug)]
struct Kept {
    bytes: Vec<u8>,
    retransmits: u32,
}

/// One controller's session.
#[derive(Debug)]
pub(crate) struct Session {
    id: u64,
    status: SessionStatus,
    /// The `sequence_id` of the next Record the agent sends.
    next_seq: u64,
    /// The `sequence_id` the agent expects next.
    expected: u64,
    /// Records received ahead of `expected`.
    ahead: LiteMap<u64, (SessionContextRecord, Integrity)>,
    /// The payload being reassembled.
    reassembly: Option<Vec<u8>>,
    /// Sent Records not yet acknowledged.
    kept: LiteMap<u64, Kept>,
    last_activity: Instant,
    /// Agent-started sessions resend their Records until the peer answers (R-E2E.10/11).
    retry_attempt: u32,
    retry_at: Option<Instant>,
    /// The TLS connection of a `TLS12` session (payload security stays the same for the
    /// whole session, R-E2E.18/19).
    #[cfg(feature = "e2e-tls")]
    tls: Option<std::boxed::Box<TlsLink>>,
}

impl Session {
    fn new(id: u64, status: SessionStatus, now: Instant) -> Self {
        Self {
            id,
            status,
            next_seq: 1,
            expected: 1,
            ahead: LiteMap::new(),
            reassembly: None,
            kept: LiteMap::new(),
            last_activity: now,
            retry_attempt: 0,
            retry_at: None,
            #[cfg(feature = "e2e-tls")]
            tls: None,
        }
    }

    /// Whether the session's Records are `TLS12` ones.
    fn is_tls(&self) -> bool {
        #[cfg(feature = "e2e-tls")]
        return self.tls.is_some();
        #[cfg(not(feature = "e2e-tls"))]
        false
    }

    fn expires(&self, config: &E2eConfig) -> Option<Instant> {
        (config.expiration > 0)
            .then(|| {
                self.last_activity
                    .checked_add(Duration::from_secs(u64::from(config.expiration)))
            })
            .flatten()
    }
}

/// Why a session Record failed (R-E2E.21): the USP code for the event, and a reason.
pub(crate) type Failure = (u32, &'static str);

/// A Record whose signature-method `mac_signature` does not verify with its `sender_cert`.
pub(crate) const BAD_SIGNATURE: Failure = (
    ERR_INVALID_RECORD,
    "mac_signature does not verify with sender_cert",
);

/// A received Record's `mac_signature` with the bytes it covers, kept with the Record until
/// it is processed (only under TLS, feature `e2e-tls`; see `e2e_tls.rs`).
#[derive(Clone, Debug, Default)]
pub(crate) struct Integrity {
    #[cfg(feature = "e2e-tls")]
    signed: Option<Signed>,
}

/// What a `mac_signature` is checked with.
#[cfg(feature = "e2e-tls")]
#[derive(Clone, Debug)]
struct Signed {
    /// The bytes it covers (`codec::integrity_input`).
    fields: Vec<u8>,
    mac_signature: Vec<u8>,
    /// Empty when the Record has none (then it can only be an HMAC).
    sender_cert: Vec<u8>,
}

impl Integrity {
    /// What `record` (a whole session Record) signs, if it carries a `mac_signature`.
    pub(crate) fn of(record: &Record) -> Self {
        #[cfg(feature = "e2e-tls")]
        return Self {
            signed: (!record.mac_signature.is_empty()).then(|| Signed {
                fields: codec::integrity_input(record),
                mac_signature: record.mac_signature.clone(),
                sender_cert: record.sender_cert.clone(),
            }),
        };
        #[cfg(not(feature = "e2e-tls"))]
        {
            let _ = record;
            Self {}
        }
    }
}

/// Reads every controller's E2E settings from the store, by Endpoint ID.
pub(crate) fn load(store: &Store) -> LiteMap<String, E2eConfig> {
    let Ok(rows) = store.instances(CONTROLLERS, Protocol::Usp, true) else {
        return LiteMap::new();
    };
    let mut out = LiteMap::new();
    for info in rows {
        let row = info.path;
        let endpoint = param_text(store, &row, "EndpointID");
        if endpoint.is_empty() {
            continue;
        }
        let e2e = |name: &str| param_text(store, &row, &format!("E2ESession.{name}"));
        let defaults = RetryPolicy::default();
        let min_wait = e2e("SessionRetryMinimumWaitInterval")
            .parse()
            .map_or(defaults.min_wait, Duration::from_secs);
        let multiplier = e2e("SessionRetryIntervalMultiplier")
            .parse()
            .unwrap_or(defaults.multiplier);
        let config = E2eConfig {
            mode: match e2e("SessionMode").as_str() {
                "Forbid" => SessionMode::Forbid,
                "Require" => SessionMode::Require,
                _ => SessionMode::Allow,
            },
            expiration: e2e("SessionExpiration").parse().unwrap_or(0),
            retry: RetryPolicy::new(min_wait, multiplier),
            max_retransmit_tries: e2e("MaxRetransmitTries").parse().unwrap_or(0),
            max_record_size: e2e("MaxUSPRecordSize").parse().unwrap_or(0),
            tls: e2e("PayloadSecurity") == "TLS",
            stored: (e2e("Status"), e2e("CurrentRetryCount")),
            row: Some(row),
        };
        out.insert(endpoint, config);
    }
    out
}

/// Under TLS: decrypts the TLS records of `record` (checking the peer's certificate once the
/// handshake is done) and checks its `mac_signature` (R-E2E.30); the plaintext they carried.
/// `None` for a PLAINTEXT session.
///
/// Which method signed a Record depends on whether the handshake was done at its sender's
/// side when it was sent, and the two sides finish at different Records: so a Record with a
/// `sender_cert` while the handshake is not done here is checked by the signature method,
/// before rustls sees its TLS records (a Record that fails changes nothing), and any other
/// by the HMAC after them (the Record that ends the handshake here is already MACed by a
/// peer whose side of it ended first).
#[cfg(feature = "e2e-tls")]
fn open_tls(
    session: &mut Session,
    settings: Option<&E2eTls>,
    from: &str,
    record: &SessionContextRecord,
    integrity: &Integrity,
) -> Result<Option<Bytes>, Failure> {
    let Some(link) = session.tls.as_mut() else {
        return Ok(None);
    };
    PayloadSarState::try_from(record.payloadrec_sar_state)
        .map_err(|_| (ERR_INVALID_RECORD, "undefined SAR state"))?;
    let mut hmac = integrity.signed.as_ref();
    if let Some(signed) = hmac.filter(|s| !link.is_established() && !s.sender_cert.is_empty()) {
        let valid = settings.is_some_and(|tls| {
            tls.verify_signature(
                &signed.fields,
                &signed.mac_signature,
                &signed.sender_cert,
                from,
            )
        });
        if !valid {
            return Err(BAD_SIGNATURE);
        }
        hmac = None;
    }
    let plaintext = link.open(&record.payload)?;
    link.established(from)?;
    if let Some(signed) = hmac {
        if !link.verify(&signed.fields, &signed.mac_signature) {
            return Err((ERR_INVALID_RECORD, "mac_signature does not match"));
        }
    }
    Ok(Some(plaintext.into()))
}

#[cfg(not(feature = "e2e-tls"))]
#[allow(clippy::unnecessary_wraps)]
const fn open_tls(
    _: &mut Session,
    _: Option<&()>,
    _: &str,
    _: &SessionContextRecord,
    _: &Integrity,
) -> Result<Option<Bytes>, Failure> {
    Ok(None)
}

/// The pieces of a Msg's TLS records (see `Agent::emit`): all in one Record without a size
/// limit; else one per Record, a TLS record larger than `capacity` cut in parts marked on
/// `payloadrec_sar_state` (TR-369 SAR "Case 7").
fn tls_pieces(
    records: Vec<Vec<u8>>,
    capacity: Option<usize>,
) -> Vec<(Option<PayloadSarState>, Vec<Bytes>)> {
    let Some(capacity) = capacity else {
        if records.is_empty() {
            return Vec::new();
        }
        let all = records.into_iter().map(Bytes::from).collect();
        return std::vec![(Some(PayloadSarState::None), all)];
    };
    let mut pieces = Vec::new();
    for record in records {
        if record.len() <= capacity {
            pieces.push((Some(PayloadSarState::None), std::vec![Bytes::from(record)]));
            continue;
        }
        let parts: Vec<&[u8]> = record.chunks(capacity).collect();
        let last = parts.len().saturating_sub(1);
        for (index, part) in parts.into_iter().enumerate() {
            let state = match index {
                0 => PayloadSarState::Begin,
                i if i == last => PayloadSarState::Complete,
                _ => PayloadSarState::Inprocess,
            };
            pieces.push((Some(state), std::vec![Bytes::copy_from_slice(part)]));
        }
    }
    pieces
}

/// A session Record with the widest ids and one empty payload: what segmentation measures.
/// Under TLS it also carries `payload_security` and a `mac_signature` (HMAC-SHA256, 32 bytes);
/// signed by the signature method, a `sender_cert` and the longest signature (`signature`:
/// their lengths).
fn widest(builder: &RecordBuilder, tls: bool, signature: Option<(usize, usize)>) -> Record {
    let mut record = builder.session(SessionContextRecord {
        session_id: u64::MAX,
        sequence_id: u64::MAX,
        expected_id: u64::MAX,
        retransmit_id: 0,
        payload_sar_state: PayloadSarState::Inprocess as i32,
        payloadrec_sar_state: PayloadSarState::Inprocess as i32,
        payload: std::vec![Bytes::new()],
    });
    if tls {
        record.payload_security = PayloadSecurity::Tls12 as i32;
        record.mac_signature = std::vec![0; 32];
    }
    if let Some((cert, signature)) = signature {
        record.sender_cert = std::vec![0; cert];
        record.mac_signature = std::vec![0; signature.max(record.mac_signature.len())];
    }
    record
}

/// The largest payload a session Record can carry within `max_record` bytes, with the
/// widest possible ids (so that every real Record fits); `None` when not even one byte fits.
fn segment_capacity(template: &Record, max_record: usize) -> Option<usize> {
    let base = template.encoded_len();
    let Some(RecordType::SessionContext(ctx)) = &template.record_type else {
        return None;
    };
    let inner = ctx.encoded_len();
    // The template carries one empty payload (tag and a 1-byte length); `n` bytes more grow
    // the payload's length prefix, the session context and its length prefix.
    let total = |n: usize| {
        let inner_n = inner + n + encoded_len_varint(n as u64) - 1;
        base - encoded_len_varint(inner as u64) - inner
            + encoded_len_varint(inner_n as u64)
            + inner_n
    };
    let mut n = max_record.checked_sub(base)?;
    while n > 0 && total(n) > max_record {
        n -= 1;
    }
    (n > 0).then_some(n)
}

impl Agent {
    /// The E2E settings of `controller` (defaults when it has no row).
    pub(crate) fn e2e_config(&self, controller: &str) -> E2eConfig {
        self.e2e.get(controller).cloned().unwrap_or_default()
    }

    /// Re-reads the controllers' E2E settings; ends sessions now forbidden and starts the
    /// ones now required.
    pub(crate) fn reload_e2e(&mut self, now: Instant, store: &Store) {
        self.e2e = load(store);
        let forbidden: Vec<String> = self
            .sessions
            .keys()
            .filter(|c| self.e2e_config(c).mode == SessionMode::Forbid)
            .cloned()
            .collect();
        for controller in forbidden {
            self.end_session(
                &controller,
                ERR_SESSION_TERMINATED,
                "session context forbidden",
            );
        }
        let required: Vec<String> = self
            .e2e
            .iter()
            .filter(|(c, config)| {
                config.mode == SessionMode::Require
                    && !self.sessions.contains_key(*c)
                    && self.routes.contains_key(*c)
            })
            .map(|(c, _)| c.clone())
            .collect();
        for controller in required {
            self.start_session(now, &controller);
        }
        self.publish_sessions();
    }

    /// The session status with `controller`.
    pub(crate) fn status_of(&self, controller: &str) -> SessionStatus {
        self.sessions
            .get(controller)
            .map_or(SessionStatus::Down, |s| s.status)
    }

    /// Whether a Msg for `controller` that did not answer a request goes in a session: when
    /// one is up or being negotiated, or the controller requires one.
    pub(crate) fn uses_session(&self, controller: &str) -> bool {
        self.sessions.contains_key(controller)
            || self.e2e_config(controller).mode == SessionMode::Require
    }

    /// A `session_context` Record from `from` (its route already learnt), with its
    /// `payload_security` (already known to be one the agent can use in a session) and its
    /// `mac_signature`.
    pub(crate) fn handle_session_record(
        &mut self,
        now: Instant,
        from: &str,
        record: SessionContextRecord,
        tls: bool,
        integrity: Integrity,
    ) {
        let config = self.e2e_config(from);
        if config.mode == SessionMode::Forbid {
            self.disconnect(from, ERR_SESSION_NOT_ALLOWED, "session context not allowed");
            return;
        }
        if record.session_id == 0 || record.sequence_id == 0 || record.expected_id == 0 {
            return self.session_failed(now, from, (7104, "a session id is 0"));
        }
        let current = self.sessions.get(from).map(|s| s.id);
        if current != Some(record.session_id) {
            // A new session from the controller (R-E2E.4/6) must begin at sequence_id 1.
            if record.sequence_id != 1 {
                return self.session_failed(now, from, (7104, "unknown session joined mid-way"));
            }
            let session = Session::new(record.session_id, SessionStatus::Up, now);
            match self.as_tls_server(session, tls) {
                Ok(session) => self.insert_session(from, session),
                Err(failure) => return self.session_failed(now, from, failure),
            }
        } else if self.sessions.get(from).is_some_and(|s| s.is_tls() != tls) {
            // R-E2E.18/19: the payload security of a session does not change.
            return self.session_failed(
                now,
                from,
                (
                    ERR_INVALID_RECORD,
                    "payload security changed within the session",
                ),
            );
        }
        let max_buffer = self.config.max_session_buffer.max(1);
        let max_bytes = self.config.limits.max_msg_bytes;
        let Some(session) = self.sessions.get_mut(from) else {
            return;
        };
        session.last_activity = now;
        let seq = record.sequence_id;
        if seq < session.expected || session.ahead.contains_key(&seq) {
            // R-E2E.20 rule 2 and R-E2E.25: behind or repeated.
            return self.ignore(Some(from.into()), IgnoreReason::SessionDuplicate);
        }
        if seq > session.expected {
            let bytes = |r: &SessionContextRecord| r.payload.iter().map(Bytes::len).sum::<usize>();
            let buffered: usize = session.ahead.values().map(|(r, _)| bytes(r)).sum();
            if session.ahead.len() >= max_buffer
                || buffered.saturating_add(bytes(&record)) > max_bytes
            {
                return self.session_failed(now, from, (7005, "receive buffer full"));
            }
            session.ahead.insert(seq, (record, integrity));
            return;
        }
        let mut next = Some((record, integrity));
        let mut last = seq;
        while let Some((record, integrity)) = next {
            last = record.sequence_id;
            match self.process_session_record(from, record, &integrity) {
                Ok(Some(payload)) => self.handle_payload(from, &payload, true),
                Ok(None) => {}
                Err(failure) => return self.session_failed(now, from, failure),
            }
            #[cfg(feature = "e2e-tls")]
            self.flush_tls(from);
            let Some(session) = self.sessions.get_mut(from) else {
                return;
            };
            next = session.ahead.remove(&session.expected);
        }
        if last > u64::MAX - EXHAUSTION_MARGIN {
            // R-E2E.8: the peer's numbers are nearly used up.
            self.start_session(now, from);
        }
    }

    /// Processes the expected Record: acknowledgement, retransmission, reassembly. Returns a
    /// complete Msg payload, if any: an unsegmented payload as received (a slice of the
    /// Record's bytes), a reassembled one as the buffer it was gathered in.
    fn process_session_record(
        &mut self,
        from: &str,
        record: SessionContextRecord,
        integrity: &Integrity,
    ) -> Result<Option<Bytes>, Failure> {
        let max_tries = self.e2e_config(from).max_retransmit_tries;
        let max_msg = self.config.limits.max_msg_bytes;
        let Some(session) = self.sessions.get_mut(from) else {
            return Ok(None);
        };
        session.expected = record.sequence_id.saturating_add(1);
        session.status = SessionStatus::Up;
        session.retry_attempt = 0;
        session.retry_at = None;
        session.kept.retain(|seq, _| *seq >= record.expected_id);
        let mut resend = None;
        if record.retransmit_id != 0 {
            let kept = session
                .kept
                .get_mut(&record.retransmit_id)
                .ok_or((7104, "retransmit_id names no kept Record"))?;
            let allowed = u32::try_from(max_tries).map_or(true, |max| kept.retransmits < max);
            if !allowed {
                return Err((7104, "MaxRetransmitTries reached"));
            }
            kept.retransmits = kept.retransmits.saturating_add(1);
            resend = Some(kept.bytes.clone());
        }
        if record.payload.is_empty() && record.retransmit_id == 0 {
            return Err((7104, "neither payload nor retransmit_id (R-E2E.2)"));
        }
        let state = PayloadSarState::try_from(record.payload_sar_state)
            .map_err(|_| (7104, "undefined SAR state"))?;
        #[cfg(feature = "e2e-tls")]
        let settings = self.e2e_tls.as_ref();
        #[cfg(not(feature = "e2e-tls"))]
        let settings = None;
        let payload = match open_tls(session, settings, from, &record, integrity)? {
            Some(plaintext) => plaintext,
            None => {
                if record.payload.len() > 1 {
                    return Err((7104, "a PLAINTEXT Record carries one payload"));
                }
                if record.payload_sar_state != record.payloadrec_sar_state {
                    return Err((7104, "payload_sar_state and payloadrec_sar_state differ"));
                }
                record.payload.into_iter().next().unwrap_or_default()
            }
        };
        let complete = match (state, session.reassembly.as_mut()) {
            (PayloadSarState::None, None) => Some(payload),
            (PayloadSarState::Begin, None) => {
                session.reassembly = Some(payload.to_vec());
                None
            }
            (PayloadSarState::Inprocess | PayloadSarState::Complete, Some(buffer)) => {
                if buffer.len().saturating_add(payload.len()) > max_msg {
                    return Err((7005, "reassembled payload too large"));
                }
                buffer.extend_from_slice(&payload);
                if state == PayloadSarState::Complete {
                    session.reassembly.take().map(Bytes::from)
                } else {
                    None
                }
            }
            _ => return Err((7104, "SAR state out of order")),
        };
        if let Some(bytes) = resend {
            self.transmit_bytes(from, bytes);
        }
        Ok(complete.filter(|p| !p.is_empty()))
    }

    /// R-E2E.21: a failed Record starts a new session.
    pub(crate) fn session_failed(&mut self, now: Instant, from: &str, (code, reason): Failure) {
        self.push_event(AgentEvent::SessionFailed {
            controller: from.into(),
            code,
            reason: reason.into(),
        });
        self.start_session(now, from);
    }

    /// Starts a session from the agent's side with an empty payload (R-E2E.3/4).
    pub(crate) fn start_session(&mut self, now: Instant, controller: &str) {
        self.new_session(now, controller);
        self.send_in_session(controller, &[]);
    }

    fn new_session(&mut self, now: Instant, controller: &str) {
        let old = self.sessions.get(controller).map(|s| s.id);
        let mut id = self.rng.next_u64().max(2);
        if Some(id) == old {
            id = id.wrapping_add(1).max(2);
        }
        let config = self.e2e_config(controller);
        let mut session = Session::new(id, SessionStatus::Negotiating, now);
        session.retry_at = now.checked_add(config.retry.delay(1, self.rng.next_u64()));
        // The agent starts this session, so it is the TLS client ("Session Handshake").
        #[cfg(feature = "e2e-tls")]
        if let Some(settings) = self.e2e_tls.as_ref().filter(|_| config.tls) {
            session.tls = TlsLink::client(settings).ok().map(std::boxed::Box::new);
        }
        self.insert_session(controller, session);
    }

    /// A new session the controller starts: under TLS the agent is its TLS server.
    fn as_tls_server(&self, session: Session, tls: bool) -> Result<Session, Failure> {
        if !tls {
            return Ok(session);
        }
        #[cfg(feature = "e2e-tls")]
        if let Some(settings) = &self.e2e_tls {
            let mut session = session;
            session.tls = Some(std::boxed::Box::new(TlsLink::server(settings)?));
            return Ok(session);
        }
        Err((
            ERR_SECURE_SESSION_NOT_SUPPORTED,
            "payload security TLS12 not supported",
        ))
    }

    /// R-E2E.30/31: whether `record` (whole) is a PLAINTEXT one whose `mac_signature` does
    /// not verify with its `sender_cert` (see `E2eTls::verify_signature`; only with E2E TLS
    /// settings, which hold the trust store to check `sender_cert` with).
    pub(crate) fn bad_signature(&self, record: &Record) -> bool {
        #[cfg(feature = "e2e-tls")]
        if let Some(tls) = &self.e2e_tls {
            return !record.mac_signature.is_empty()
                && record.payload_security == PayloadSecurity::Plaintext as i32
                && !tls.verify_signature(
                    &codec::integrity_input(record),
                    &record.mac_signature,
                    &record.sender_cert,
                    &record.from_id,
                );
        }
        let _ = record;
        false
    }

    /// R-E2E.28/29: the E2E TLS settings to sign the agent's Records to `controller` with
    /// by the signature method, if it does: when it has a P-256 key and the MTP does not
    /// protect them ([`Mtp::protects`](super::Mtp::protects)).
    #[cfg(feature = "e2e-tls")]
    pub(crate) fn record_signer(&self, controller: &str) -> Option<&E2eTls> {
        let protected = (self.routes.get(controller)).is_some_and(|mtp| mtp.protects(controller));
        self.e2e_tls
            .as_ref()
            .filter(|tls| !protected && tls.signature_len().is_some())
    }

    /// What the signature method adds to the agent's next session Record to `controller`
    /// (see `E2eTls::signature_len`), when it is so signed: not once its TLS handshake is
    /// done (the HMAC then).
    fn signature_len(&self, controller: &str) -> Option<(usize, usize)> {
        #[cfg(feature = "e2e-tls")]
        {
            let hmac = self
                .sessions
                .get(controller)
                .and_then(|s| s.tls.as_ref())
                .is_some_and(|link| link.is_established());
            self.record_signer(controller)
                .filter(|_| !hmac)
                .and_then(E2eTls::signature_len)
        }
        #[cfg(not(feature = "e2e-tls"))]
        {
            let _ = controller;
            None
        }
    }

    /// Whether the agent has E2E TLS settings.
    fn tls_available(&self) -> bool {
        #[cfg(feature = "e2e-tls")]
        return self.e2e_tls.is_some();
        #[cfg(not(feature = "e2e-tls"))]
        false
    }

    /// The TLS records to send in the TLS session with `controller`: its pending handshake
    /// data, and `payload` encrypted (or queued until the handshake is done). `None` when
    /// the Msg can be neither sent nor queued.
    #[cfg(feature = "e2e-tls")]
    fn tls_output(&mut self, controller: &str, payload: &[u8]) -> Option<Vec<Vec<u8>>> {
        let max = self.config.max_session_outbox;
        let link = self.sessions.get_mut(controller)?.tls.as_mut()?;
        if !payload.is_empty() {
            if link.is_established() {
                link.seal(payload).ok()?;
            } else if !link.queue(payload, max) {
                return None;
            }
        }
        Some(link.outgoing())
    }

    #[cfg(not(feature = "e2e-tls"))]
    #[allow(clippy::unused_self)]
    fn tls_output(&mut self, _: &str, _: &[u8]) -> Option<Vec<Vec<u8>>> {
        None
    }

    /// After a Record of a TLS session: sends what the handshake has to say and, once it is
    /// done, the Msgs that waited for it, each in Records of its own.
    #[cfg(feature = "e2e-tls")]
    fn flush_tls(&mut self, controller: &str) {
        let Some(link) = self
            .sessions
            .get_mut(controller)
            .and_then(|s| s.tls.as_mut())
        else {
            return;
        };
        let queued = if link.is_established() {
            link.take_queued()
        } else {
            Vec::new()
        };
        self.send_in_session(controller, &[]);
        for msg in queued {
            self.send_in_session(controller, &msg);
        }
    }

    fn insert_session(&mut self, controller: &str, session: Session) {
        let max = self.config.max_routes;
        super::insert_bounded(&mut self.sessions, controller, session, max);
    }

    /// Ends the session with `controller` with a Disconnect Record.
    fn end_session(&mut self, controller: &str, code: u32, reason: &str) {
        if self.sessions.remove(controller).is_some() {
            self.disconnect(controller, code, reason);
        }
    }

    /// Sends a Disconnect Record.
    pub(crate) fn disconnect(&mut self, controller: &str, code: u32, reason: &str) {
        let record = self.builder(controller).disconnect(reason, code);
        self.transmit_record(controller, record);
    }

    /// Sends an encoded Msg in the session with `controller`, starting one if needed and
    /// segmenting it to `MaxUSPRecordSize`; false without a return path.
    pub(crate) fn send_in_session(&mut self, controller: &str, payload: &[u8]) -> bool {
        if !self.routes.contains_key(controller) {
            return false;
        }
        let Some(now) = self.now else {
            return false;
        };
        let exhausted = self
            .sessions
            .get(controller)
            .is_none_or(|s| s.next_seq > u64::MAX - EXHAUSTION_MARGIN);
        if exhausted {
            // No session yet, or R-E2E.9: its numbers are nearly used up.
            self.new_session(now, controller);
        }
        let config = self.e2e_config(controller);
        let builder = self.builder(controller);
        let Some(tls) = self.sessions.get(controller).map(Session::is_tls) else {
            return false;
        };
        let capacity = match config.max_record_size {
            0 => None,
            max => segment_capacity(
                &widest(&builder, tls, self.signature_len(controller)),
                usize::try_from(max).unwrap_or(usize::MAX),
            ),
        };
        let pieces = if tls {
            let Some(records) = self.tls_output(controller, payload) else {
                return false;
            };
            tls_pieces(records, capacity)
        } else {
            let chunks: Vec<&[u8]> = match capacity {
                Some(capacity) if !payload.is_empty() => payload.chunks(capacity).collect(),
                _ => std::vec![payload],
            };
            chunks
                .into_iter()
                .map(|chunk| (None, std::vec![Bytes::copy_from_slice(chunk)]))
                .collect()
        };
        self.emit(controller, now, &builder, pieces)
    }

    /// Sends `pieces` as the session Records of one Msg (one Record each): the Msg's SAR
    /// state on `payload_sar_state`; on `payloadrec_sar_state` the piece's own (a TLS record
    /// cut in parts), or the Msg's when it has none (PLAINTEXT).
    fn emit(
        &mut self,
        controller: &str,
        now: Instant,
        builder: &RecordBuilder,
        pieces: Vec<(Option<PayloadSarState>, Vec<Bytes>)>,
    ) -> bool {
        let count = pieces.len();
        let max_kept = self.config.max_session_outbox.max(1);
        #[cfg(feature = "e2e-tls")]
        let signs = self.signature_len(controller).is_some();
        let Some(session) = self.sessions.get_mut(controller) else {
            return false;
        };
        session.last_activity = now;
        let mut records = Vec::with_capacity(count);
        for (index, (piece_state, payload)) in pieces.into_iter().enumerate() {
            let state = match (count, index) {
                (1, _) => PayloadSarState::None,
                (_, 0) => PayloadSarState::Begin,
                (n, i) if i + 1 == n => PayloadSarState::Complete,
                _ => PayloadSarState::Inprocess,
            };
            let seq = session.next_seq;
            session.next_seq = seq.saturating_add(1);
            #[cfg_attr(not(feature = "e2e-tls"), allow(unused_mut))]
            let mut record = builder.session(SessionContextRecord {
                session_id: session.id,
                sequence_id: seq,
                expected_id: session.expected,
                retransmit_id: 0,
                payload_sar_state: state as i32,
                payloadrec_sar_state: piece_state.unwrap_or(state) as i32,
                payload,
            });
            #[cfg(feature = "e2e-tls")]
            if let Some(link) = &session.tls {
                record.payload_security = PayloadSecurity::Tls12 as i32;
                record.mac_signature = link.sign(&record).unwrap_or_default();
            }
            // No HMAC (PLAINTEXT, or the handshake not done): the signature method.
            #[cfg(feature = "e2e-tls")]
            if let Some(tls) = self.e2e_tls.as_ref().filter(|_| signs) {
                if record.mac_signature.is_empty() {
                    tls.sign_record(&mut record);
                }
            }
            let mut bytes = Vec::new();
            codec::encode_record(&record, &mut bytes);
            if session.kept.len() >= max_kept {
                if let Some(&oldest) = session.kept.first().map(|(seq, _)| seq) {
                    session.kept.remove(&oldest);
                }
            }
            session.kept.insert(
                seq,
                Kept {
                    bytes: bytes.clone(),
                    retransmits: 0,
                },
            );
            records.push(bytes);
        }
        for bytes in records {
            self.transmit_bytes(controller, bytes);
        }
        true
    }

    /// Session timers: expiry (R-E2E.7) and the resending of an unanswered agent-started
    /// session (R-E2E.10/11).
    pub(crate) fn session_timers(&mut self, now: Instant) {
        let mut expired = Vec::new();
        let mut resend = Vec::new();
        for (controller, session) in self.sessions.iter_mut() {
            let config = self.e2e.get(controller).cloned().unwrap_or_default();
            if session.expires(&config).is_some_and(|at| at <= now) {
                expired.push(controller.clone());
                continue;
            }
            if session.status == SessionStatus::Negotiating
                && session.retry_at.is_some_and(|at| at <= now)
            {
                session.retry_attempt = session.retry_attempt.saturating_add(1);
                let delay = config
                    .retry
                    .delay(session.retry_attempt.saturating_add(1), self.rng.next_u64());
                session.retry_at = now.checked_add(delay);
                resend.extend(
                    session
                        .kept
                        .values()
                        .map(|k| (controller.clone(), k.bytes.clone())),
                );
            }
        }
        for controller in expired {
            self.sessions.remove(&controller);
            self.push_event(AgentEvent::SessionExpired { controller });
        }
        for (controller, bytes) in resend {
            self.transmit_bytes(&controller, bytes);
        }
    }

    /// The earliest session deadline.
    pub(crate) fn session_deadline(&self) -> Option<Instant> {
        self.sessions
            .iter()
            .filter_map(|(controller, session)| {
                let config = self.e2e.get(controller).cloned().unwrap_or_default();
                let retry = (session.status == SessionStatus::Negotiating)
                    .then_some(session.retry_at)
                    .flatten();
                [session.expires(&config), retry]
                    .into_iter()
                    .flatten()
                    .min()
            })
            .min()
    }

    /// Writes `E2ESession.Status` and `CurrentRetryCount` of the controllers whose session
    /// changed since the last write.
    pub(crate) fn publish_sessions(&mut self) {
        let mut sets = Vec::new();
        for (controller, config) in self.e2e.iter() {
            let Some(row) = &config.row else {
                continue;
            };
            let session = self.sessions.get(controller);
            let state = (
                session.map_or(SessionStatus::Down, |s| s.status),
                session.map_or(0, |s| s.retry_attempt),
            );
            let unchanged = match self.published.get(controller) {
                Some(published) => *published == state,
                None => config.stored == (state.0.as_str().into(), state.1.to_string()),
            };
            self.published.insert(controller.clone(), state);
            if unchanged {
                continue;
            }
            sets.push((format!("{row}E2ESession.Status"), state.0.as_str().into()));
            sets.push((
                format!("{row}E2ESession.CurrentRetryCount"),
                state.1.to_string(),
            ));
        }
        if !sets.is_empty() {
            self.internal(EngineRequest::DeviceUpdate(DeviceUpdate::setting(sets)));
        }
    }

    /// `E2ESession.Reset()` for `controller`: unless its `SessionMode` is `Forbid`, the agent
    /// (re)starts the session with a new `session_id` (R-E2E.4/6), or, without a return path
    /// to send that on, drops the session context so that the next session Record starts one.
    /// Under `Forbid` (the object "not enabled") an active session ends with a Disconnect,
    /// 7105; there is none, since `Forbid` already ended it.
    pub(crate) fn reset_session(&mut self, now: Instant, controller: &str) {
        match self.e2e_config(controller).mode {
            SessionMode::Forbid => {
                self.end_session(controller, ERR_SESSION_TERMINATED, "session reset");
            }
            _ if self.routes.contains_key(controller) => self.start_session(now, controller),
            _ => {
                self.sessions.remove(controller);
            }
        }
    }

    /// The Endpoint ID of the controller of `Device.LocalAgent.Controller.{i}.` row `row`.
    pub(crate) fn controller_of_row(&self, row: &str) -> Option<String> {
        self.e2e
            .iter()
            .find(|(_, config)| config.row.as_deref() == Some(row))
            .map(|(controller, _)| controller.clone())
    }

    /// A Disconnect Record from `controller` ends its session.
    pub(crate) fn session_disconnected(&mut self, controller: &str) {
        self.sessions.remove(controller);
    }

    /// A `no_session_context` Record while the controller requires sessions: its Msg is not
    /// processed, and a session is offered instead.
    pub(crate) fn refuse_no_session(&mut self, now: Instant, from: &str) -> bool {
        if self.e2e_config(from).mode != SessionMode::Require {
            return false;
        }
        self.ignore(Some(from.into()), IgnoreReason::SessionRequired);
        if !self.sessions.contains_key(from) {
            self.start_session(now, from);
        }
        true
    }

    /// A Record with payload security other than PLAINTEXT, unless it is a session Record
    /// and the agent has E2E TLS settings: refused with 7102 (TLS12 needs a session context,
    /// R-E2E.41).
    pub(crate) fn refuse_payload_security(
        &mut self,
        from: &str,
        security: i32,
        in_session: bool,
    ) -> bool {
        let tls = self.tls_available();
        if security == PayloadSecurity::Plaintext as i32 || (in_session && tls) {
            return false;
        }
        self.sessions.remove(from);
        let reason = if tls {
            "payload security TLS12 needs a session context"
        } else {
            "payload security TLS12 not supported"
        };
        self.disconnect(from, ERR_SECURE_SESSION_NOT_SUPPORTED, reason);
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Limits;
    use crate::agent::{AgentConfig, ControllerConfig, Mtp, MtpKind, Output};

    #[test]
    #[allow(clippy::disallowed_methods)] // A test's clock.
    fn sequence_ids_near_the_maximum_open_a_new_session() {
        let now = Instant::now();
        let mut agent = Agent::new(AgentConfig::new("os::agent").with_controller(
            ControllerConfig::new("self::ctrl").with_mtp(Mtp::new(MtpKind::Uds, "c")),
        ));
        agent.now = Some(now);
        let mut session = Session::new(7, SessionStatus::Up, now);
        session.next_seq = u64::MAX - EXHAUSTION_MARGIN + 1;
        agent.sessions.insert("self::ctrl".into(), session);
        assert!(agent.send_in_session("self::ctrl", b"x"));
        let Output::Transmit { bytes, .. } = agent.poll_output() else {
            panic!("expected a Record")
        };
        let record = codec::decode_record(&bytes, &Limits::default()).unwrap();
        let Some(RecordType::SessionContext(ctx)) = record.record_type else {
            panic!("expected a session Record")
        };
        assert_ne!(ctx.session_id, 7, "R-E2E.9: a new session");
        assert_eq!(ctx.sequence_id, 1);
        assert_eq!(agent.status_of("self::ctrl"), SessionStatus::Negotiating);
    }

    #[test]
    fn capacity_keeps_records_within_the_limit() {
        let builder = RecordBuilder::new("self::controller", "os::agent");
        let template = widest(&builder, false, None);
        // The signature method's room: the certificate and the longest signature.
        let signed = widest(&builder, false, Some((700, 72)));
        assert_eq!(
            signed.encoded_len(),
            template.encoded_len() + (3 + 700) + (2 + 72)
        );
        for max in [
            80_usize,
            127,
            128,
            129,
            512,
            16_383,
            16_384,
            16_500,
            1 << 21,
        ] {
            let n = segment_capacity(&template, max).unwrap_or(0);
            let mut full = template.clone();
            if let Some(RecordType::SessionContext(ctx)) = &mut full.record_type {
                ctx.payload = std::vec![Bytes::from(std::vec![0_u8; n])];
            }
            assert!(full.encoded_len() <= max, "{max}: {n}");
            if let Some(RecordType::SessionContext(ctx)) = &mut full.record_type {
                ctx.payload = std::vec![Bytes::from(std::vec![0_u8; n + 1])];
            }
            assert!(full.encoded_len() > max, "{max}: {n} is not the largest");
        }
        assert_eq!(segment_capacity(&template, 10), None);
    }
}
