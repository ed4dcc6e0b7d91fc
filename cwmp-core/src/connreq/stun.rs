//! STUN for UDP connection requests behind a NAT (TR-069 Annex G, TR-111 part 2), sans-IO.
//!
//! The CPE sends STUN Binding Requests from its UDP connection-request port to the ACS's STUN
//! server (`ManagementServer.STUNServerAddress`/`STUNServerPort`). The answers tell it its public
//! mapping, which it publishes as `UDPConnectionRequestAddress` (`host:port`) with
//! `NATDetected`; the requests keep the NAT binding open. The ACS then sends UDP connection
//! requests ([`super::udp`]) to that mapping, and they arrive on the same socket: [`is_stun`]
//! tells the two apart.
//!
//! [`StunClient`] is the keep-alive client, in the style of quinn-proto and firezone:
//! [`StunClient::handle_datagram`] and [`StunClient::handle_timeout`] take input,
//! [`StunClient::poll_transmit`] (datagrams for the STUN server, which the driver resolves and
//! sends from the connection-request socket), [`StunClient::poll_event`] and
//! [`StunClient::poll_timeout`] give output. It
//!
//! * sends a Binding Request at once, then one per keep-alive period: the
//!   `STUNMinimumKeepAlivePeriod`, but never more than `STUNMaximumKeepAlivePeriod` (at least
//!   one second);
//! * carries CONNECTION-REQUEST-BINDING in every request, and USERNAME when `STUNUsername` is
//!   set;
//! * retransmits as RFC 3489 §9.3 says (100 ms doubling to 1.6 s, nine requests, then 1.6 s
//!   more) and reports [`StunEvent::Timeout`] when nothing answers;
//! * answers a 401 (or 432) Error Response by repeating the request with USERNAME and
//!   MESSAGE-INTEGRITY keyed with `STUNPassword`, and keeps signing from then on;
//! * checks the MESSAGE-INTEGRITY of a response that has one (either style), and ignores
//!   responses to transactions it does not have open;
//! * reports a new or changed mapping as [`StunEvent::MappingChanged`] (the driver writes
//!   `UDPConnectionRequestAddress` and `NATDetected`, whose active notification tells the ACS)
//!   and sends BINDING-CHANGE at once, signed when it has credentials, in every request until
//!   one is answered.
//!
//! [`StunDialect`] picks between classic RFC 3489 framing (the default, as TR-111 cites it) and
//! RFC 5389 (magic cookie, XOR-MAPPED-ADDRESS from modern servers); responses of either kind
//! are understood in both.
//!
//! ```
//! use std::time::{Duration, Instant};
//! use cwmp_core::connreq::stun::{is_stun, StunClient, StunConfig};
//!
//! # #[allow(clippy::disallowed_methods)]
//! let now = Instant::now();
//! let config = StunConfig::new("192.168.1.2:7547".parse()?).with_keepalive(30, -1);
//! let mut client = StunClient::new(config, 42, now);
//! let request = client.poll_transmit().expect("the first Binding Request");
//! assert!(is_stun(&request));
//! assert_eq!(client.poll_timeout(), Some(now + Duration::from_millis(100)));
//! // A UDP connection request on the same socket is not STUN:
//! assert!(!is_stun(b"GET http://203.0.113.5:7547?ts=1&id=1&un=u&cn=c&sig=0 HTTP/1.1\r\n\r\n"));
//! # Ok::<(), std::net::AddrParseError>(())
//! ```

pub mod message;

use std::collections::VecDeque;
use std::net::SocketAddr;
use std::time::{Duration, Instant};

pub use message::{Attribute, IntegrityStyle, Message, MessageType, is_stun, verify_integrity};

use crate::session::retry::Rng;

/// A STUN message or exchange that went wrong.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum StunError {
    /// The datagram is shorter than a STUN header.
    #[error("shorter than a STUN header")]
    TooShort,
    /// The message would be longer than [`message::MAX_MESSAGE_BYTES`].
    #[error("longer than {max} bytes")]
    TooLarge {
        /// The limit.
        max: usize,
    },
    /// One of the two top bits of the first byte is set: not STUN.
    #[error("not a STUN message")]
    NotStun,
    /// The header length is not a multiple of four or does not match the datagram.
    #[error("header length {header} but {actual} bytes of attributes")]
    LengthMismatch {
        /// The header's length field.
        header: usize,
        /// The bytes after the header.
        actual: usize,
    },
    /// An attribute header or value runs past the end of the message.
    #[error("truncated attribute {kind:?}")]
    TruncatedAttribute {
        /// The attribute type, when its header was complete.
        kind: Option<u16>,
    },
    /// More attributes than [`message::MAX_ATTRIBUTES`].
    #[error("more than {max} attributes")]
    TooManyAttributes {
        /// The limit.
        max: usize,
    },
    /// A known attribute with a value that does not fit its definition.
    #[error("attribute {kind:#06x}: {problem}")]
    InvalidAttribute {
        /// The attribute type.
        kind: u16,
        /// What is wrong.
        problem: &'static str,
    },
    /// An attribute after MESSAGE-INTEGRITY (other than FINGERPRINT) or after FINGERPRINT.
    #[error("attribute {kind:#06x} after MESSAGE-INTEGRITY or FINGERPRINT")]
    MisplacedAttribute {
        /// The attribute type.
        kind: u16,
    },
    /// The FINGERPRINT does not match the message.
    #[error("FINGERPRINT does not match")]
    BadFingerprint,
    /// The message has no MESSAGE-INTEGRITY to check.
    #[error("no MESSAGE-INTEGRITY")]
    MissingIntegrity,
    /// The MESSAGE-INTEGRITY does not match the password.
    #[error("MESSAGE-INTEGRITY does not match")]
    IntegrityMismatch,
    /// The encoder refused a value that would not decode as itself (the caller's mistake).
    #[error("cannot encode attribute {kind:#06x}: {problem}")]
    InvalidForEncoding {
        /// The attribute type.
        kind: u16,
        /// What is wrong.
        problem: &'static str,
    },
    /// A response to no open transaction (late, duplicated or forged): ignored.
    #[error("response to no open transaction")]
    UnknownTransaction,
    /// A message the client does not expect (a request or an indication): ignored.
    #[error("unexpected STUN message type {0:#06x}")]
    UnexpectedMessage(u16),
    /// A response without the attribute that gives it meaning (no mapped address in a
    /// Binding Response, no ERROR-CODE in an Error Response).
    #[error("response without {0}")]
    IncompleteResponse(&'static str),
}

/// Framing of the requests the client sends (see the [module docs](self)).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum StunDialect {
    /// RFC 3489 as TR-111 cites it: a random 16-byte transaction id, USERNAME padded with
    /// spaces to a multiple of four inside its length (as for CONNECTION-REQUEST-BINDING),
    /// MESSAGE-INTEGRITY over the text zero-padded to 64 bytes.
    #[default]
    Classic,
    /// RFC 5389: the magic cookie in the transaction id, padding outside the attribute
    /// lengths, MESSAGE-INTEGRITY without padding.
    Rfc5389,
}

/// Settings of the [`StunClient`], from `Device.ManagementServer.STUN*`.
#[derive(Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct StunConfig {
    /// `STUNUsername`; empty for none.
    pub username: String,
    /// `STUNPassword`, the MESSAGE-INTEGRITY key.
    pub password: String,
    /// `STUNMinimumKeepAlivePeriod`. Default 30 s.
    pub min_keepalive: Duration,
    /// `STUNMaximumKeepAlivePeriod`; `None` for -1 (no maximum). Default `None`.
    pub max_keepalive: Option<Duration>,
    /// The local address of the connection-request socket (a concrete interface address, not
    /// `0.0.0.0`): a mapping that differs means `NATDetected`.
    pub local_address: SocketAddr,
    /// The mapping known from before (the persisted `UDPConnectionRequestAddress`), so that a
    /// restart with an unchanged mapping is not reported as a change. Default `None`.
    pub known_mapping: Option<SocketAddr>,
    /// The framing of requests. Default [`StunDialect::Classic`].
    pub dialect: StunDialect,
}

impl std::fmt::Debug for StunConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StunConfig")
            .field("username", &self.username)
            .field("password", &"<redacted>")
            .field("min_keepalive", &self.min_keepalive)
            .field("max_keepalive", &self.max_keepalive)
            .field("local_address", &self.local_address)
            .field("known_mapping", &self.known_mapping)
            .field("dialect", &self.dialect)
            .finish()
    }
}

impl StunConfig {
    /// Settings for a connection-request socket bound to `local_address`, without
    /// credentials.
    #[must_use]
    pub fn new(local_address: SocketAddr) -> Self {
        Self {
            username: String::new(),
            password: String::new(),
            min_keepalive: Duration::from_secs(30),
            max_keepalive: None,
            local_address,
            known_mapping: None,
            dialect: StunDialect::Classic,
        }
    }

    /// Sets `STUNUsername` and `STUNPassword`.
    #[must_use]
    pub fn with_credentials(
        mut self,
        username: impl Into<String>,
        password: impl Into<String>,
    ) -> Self {
        self.username = username.into();
        self.password = password.into();
        self
    }

    /// Sets the keep-alive bounds from their TR-181 values (seconds; a negative maximum means
    /// none).
    #[must_use]
    pub fn with_keepalive(mut self, min_secs: u32, max_secs: i32) -> Self {
        self.min_keepalive = Duration::from_secs(u64::from(min_secs));
        self.max_keepalive = u64::try_from(max_secs).ok().map(Duration::from_secs);
        self
    }

    /// Sets the framing.
    #[must_use]
    pub fn with_dialect(mut self, dialect: StunDialect) -> Self {
        self.dialect = dialect;
        self
    }

    /// Sets the mapping known from before.
    #[must_use]
    pub fn with_known_mapping(mut self, mapping: Option<SocketAddr>) -> Self {
        self.known_mapping = mapping;
        self
    }

    /// The period between Binding Requests: the minimum, lowered to the maximum when that is
    /// smaller (keeping the binding alive wins), and never under one second.
    #[must_use]
    pub fn keepalive_period(&self) -> Duration {
        let period = match self.max_keepalive {
            Some(max) => self.min_keepalive.min(max),
            None => self.min_keepalive,
        };
        period.max(Duration::from_secs(1))
    }

    fn has_credentials(&self) -> bool {
        !self.username.is_empty()
    }
}

/// News for the driver.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum StunEvent {
    /// The server refused the credentials (401/430/431/432 on a signed request), or asked for
    /// credentials the CPE does not have. The client tries again after a keep-alive period.
    AuthenticationFailed {
        /// The error code.
        code: u16,
    },
    /// Another Error Response (400, 420, 500, 600, …).
    ErrorResponse {
        /// The error code.
        code: u16,
        /// The reason phrase.
        reason: String,
    },
    /// The public mapping is new or changed: set `UDPConnectionRequestAddress` to
    /// `address.to_string()` (`host:port`, IPv6 in brackets) and `NATDetected` to
    /// `nat_detected`.
    MappingChanged {
        /// The mapping the server saw.
        address: SocketAddr,
        /// The mapping before, if one was known.
        previous: Option<SocketAddr>,
        /// Whether the mapping differs from the local address.
        nat_detected: bool,
    },
    /// No answer to a Binding Request within 9.5 s. The client tries again after a keep-alive
    /// period.
    Timeout,
}

/// Requests sent per transaction (RFC 3489 §9.3).
const MAX_SENDS: u32 = 9;
/// The first retransmission interval.
const INITIAL_RTO: Duration = Duration::from_millis(100);
/// The largest retransmission interval, and the wait after the last request.
const MAX_RTO: Duration = Duration::from_millis(1600);

#[derive(Debug)]
struct Transaction {
    id: [u8; 16],
    datagram: Vec<u8>,
    sends: u32,
    deadline: Instant,
    signed: bool,
    binding_change: bool,
}

/// The STUN keep-alive client; see the [module docs](self).
#[derive(Debug)]
pub struct StunClient {
    config: StunConfig,
    rng: Rng,
    open: Option<Transaction>,
    next_request: Option<Instant>,
    transmits: VecDeque<Vec<u8>>,
    events: VecDeque<StunEvent>,
    mapping: Option<SocketAddr>,
    sign: bool,
    binding_change: bool,
}

impl StunClient {
    /// A client with `config`, its transaction ids drawn from a generator seeded with `seed`;
    /// the first Binding Request is ready at once.
    #[must_use]
    pub fn new(config: StunConfig, seed: u64, now: Instant) -> Self {
        let mut client = Self {
            mapping: config.known_mapping,
            config,
            rng: Rng::new(seed),
            open: None,
            next_request: None,
            transmits: VecDeque::new(),
            events: VecDeque::new(),
            sign: false,
            binding_change: false,
        };
        client.start(now);
        client
    }

    /// Replaces the settings (the ACS changed a `STUN*` parameter) and starts a new Binding
    /// Request at once; a pending one is abandoned.
    pub fn reconfigure(&mut self, config: StunConfig, now: Instant) {
        if (&config.username, &config.password) != (&self.config.username, &self.config.password) {
            self.sign = false;
        }
        self.config = config;
        self.start(now);
    }

    /// The current mapping, once known.
    #[must_use]
    pub fn mapping(&self) -> Option<SocketAddr> {
        self.mapping
    }

    /// `NATDetected`: whether the known mapping differs from the local address.
    #[must_use]
    pub fn nat_detected(&self) -> bool {
        self.mapping
            .is_some_and(|mapping| mapping != self.config.local_address)
    }

    /// The next datagram for the STUN server.
    pub fn poll_transmit(&mut self) -> Option<Vec<u8>> {
        self.transmits.pop_front()
    }

    /// The next event.
    pub fn poll_event(&mut self) -> Option<StunEvent> {
        self.events.pop_front()
    }

    /// When [`StunClient::handle_timeout`] is due next.
    #[must_use]
    pub fn poll_timeout(&self) -> Option<Instant> {
        match &self.open {
            Some(transaction) => Some(transaction.deadline),
            None => self.next_request,
        }
    }

    /// Advances time: retransmits, gives up on a silent server, or starts the next keep-alive
    /// request.
    pub fn handle_timeout(&mut self, now: Instant) {
        if let Some(transaction) = &mut self.open {
            if now < transaction.deadline {
                return;
            }
            if transaction.sends >= MAX_SENDS {
                self.open = None;
                self.events.push_back(StunEvent::Timeout);
                self.schedule(now);
                return;
            }
            transaction.sends = transaction.sends.saturating_add(1);
            transaction.deadline = now + rto(transaction.sends);
            self.transmits.push_back(transaction.datagram.clone());
        } else if self.next_request.is_some_and(|at| now >= at) {
            self.start(now);
        }
    }

    /// Takes a STUN datagram from the connection-request socket (check with [`is_stun`]
    /// first; anything else there is a UDP connection request).
    ///
    /// # Errors
    ///
    /// Why the datagram was ignored: it does not decode, it answers no open transaction, it
    /// is not a response, or its MESSAGE-INTEGRITY is wrong. A failed response still ends
    /// the transaction when it cannot be a forgery of a good one (no mapped address).
    pub fn handle_datagram(&mut self, now: Instant, datagram: &[u8]) -> Result<(), StunError> {
        let message = Message::decode(datagram)?;
        let kind = message.kind;
        if kind != MessageType::BINDING_RESPONSE && kind != MessageType::BINDING_ERROR_RESPONSE {
            return Err(StunError::UnexpectedMessage(kind.raw()));
        }
        let Some(transaction) = self.open.take_if(|t| t.id == message.transaction_id) else {
            return Err(StunError::UnknownTransaction);
        };
        if kind == MessageType::BINDING_RESPONSE {
            let signed = message
                .attributes
                .iter()
                .any(|a| matches!(a, Attribute::MessageIntegrity(_)));
            if signed && !self.config.password.is_empty() {
                if let Err(error) = verify_integrity(datagram, self.config.password.as_bytes()) {
                    self.open = Some(transaction);
                    return Err(error);
                }
            }
            self.schedule(now);
            let mapping = message
                .mapped_address()
                .ok_or(StunError::IncompleteResponse("a mapped address"))?;
            self.handle_mapping(now, mapping, transaction.binding_change);
            return Ok(());
        }
        let Some((code, reason)) = message.error_code() else {
            self.schedule(now);
            return Err(StunError::IncompleteResponse("ERROR-CODE"));
        };
        match code {
            401 | 432 if !transaction.signed && self.config.has_credentials() => {
                self.sign = true;
                self.start(now);
            }
            401 | 430..=432 => {
                self.events
                    .push_back(StunEvent::AuthenticationFailed { code });
                self.schedule(now);
            }
            _ => {
                self.events.push_back(StunEvent::ErrorResponse {
                    code,
                    reason: reason.to_owned(),
                });
                self.schedule(now);
            }
        }
        Ok(())
    }

    fn handle_mapping(&mut self, now: Instant, mapping: SocketAddr, reported_change: bool) {
        if self.mapping == Some(mapping) {
            if reported_change {
                self.binding_change = false;
            }
            return;
        }
        let previous = self.mapping.replace(mapping);
        self.events.push_back(StunEvent::MappingChanged {
            address: mapping,
            previous,
            nat_detected: self.nat_detected(),
        });
        self.binding_change = true;
        self.start(now);
    }

    /// No transaction open; the next request after a keep-alive period.
    fn schedule(&mut self, now: Instant) {
        self.open = None;
        self.next_request = Some(now + self.config.keepalive_period());
    }

    /// Opens a new transaction and queues its first request.
    fn start(&mut self, now: Instant) {
        let config = &self.config;
        let mut id = [0; 16];
        for chunk in id.chunks_mut(8) {
            let random = self.rng.next_u64().to_be_bytes();
            chunk.copy_from_slice(random.get(..chunk.len()).unwrap_or_default());
        }
        if config.dialect == StunDialect::Rfc5389 {
            if let Some(head) = id.get_mut(..4) {
                head.copy_from_slice(&message::MAGIC_COOKIE.to_be_bytes());
            }
        }
        let mut request = Message::new(MessageType::BINDING_REQUEST, id);
        if config.has_credentials() {
            let mut username = config.username.as_bytes().to_vec();
            if config.dialect == StunDialect::Classic {
                username.resize(username.len().saturating_add(3) & !3, b' ');
            }
            request.attributes.push(Attribute::Username(username));
        }
        request.attributes.push(Attribute::ConnectionRequestBinding);
        if self.binding_change {
            request.attributes.push(Attribute::BindingChange);
        }
        let signed = config.has_credentials() && (self.sign || self.binding_change);
        let style = match config.dialect {
            StunDialect::Classic => IntegrityStyle::Rfc3489,
            StunDialect::Rfc5389 => IntegrityStyle::Rfc5389,
        };
        let encoded = if signed {
            request.encode_with_integrity(config.password.as_bytes(), style)
        } else {
            request.encode()
        };
        // Only an over-long STUNUsername fails to encode; send without it then, so that the
        // binding is still kept open (the server answers 401 and the event says why).
        let datagram = match encoded {
            Ok(datagram) => datagram,
            Err(_) => {
                request
                    .attributes
                    .retain(|a| !matches!(a, Attribute::Username(_)));
                request.encode().unwrap_or_default()
            }
        };
        self.transmits.push_back(datagram.clone());
        self.next_request = None;
        self.open = Some(Transaction {
            id,
            datagram,
            sends: 1,
            deadline: now + rto(1),
            signed,
            binding_change: self.binding_change,
        });
    }
}

/// The wait after the `sends`-th request: 100 ms doubling up to 1.6 s.
fn rto(sends: u32) -> Duration {
    let shift = sends.saturating_sub(1).min(4);
    INITIAL_RTO.saturating_mul(1 << shift).min(MAX_RTO)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::indexing_slicing)]

    use super::*;

    const LOCAL: &str = "192.168.1.2:7547";
    const PUBLIC: &str = "203.0.113.9:61000";

    fn response(request: &[u8], mapped: &str) -> Vec<u8> {
        let req = Message::decode(request).unwrap();
        Message::new(MessageType::BINDING_RESPONSE, req.transaction_id)
            .with(Attribute::MappedAddress(mapped.parse().unwrap()))
            .with(Attribute::Other {
                kind: 0x0004,
                value: vec![0, 1, 0x0d, 0x96, 198, 51, 100, 1],
            })
            .encode()
            .unwrap()
    }

    fn error(request: &[u8], code: u16) -> Vec<u8> {
        let req = Message::decode(request).unwrap();
        Message::new(MessageType::BINDING_ERROR_RESPONSE, req.transaction_id)
            .with(Attribute::ErrorCode {
                code,
                reason: "Unauthorized".into(),
            })
            .encode()
            .unwrap()
    }

    #[allow(clippy::disallowed_methods)]
    fn start() -> Instant {
        Instant::now()
    }

    fn client(now: Instant) -> StunClient {
        let config = StunConfig::new(LOCAL.parse().unwrap())
            .with_credentials("cpe", "stun-secret")
            .with_keepalive(30, 60);
        StunClient::new(config, 1, now)
    }

    #[test]
    fn retransmits_on_rfc3489_schedule_then_times_out() {
        let t0 = start();
        let mut c = client(t0);
        let first = c.poll_transmit().unwrap();
        let mut sends = vec![Duration::ZERO];
        while let Some(at) = c.poll_timeout() {
            if at > t0 + Duration::from_secs(20) {
                break;
            }
            c.handle_timeout(at);
            if let Some(again) = c.poll_transmit() {
                assert_eq!(again, first, "a retransmission repeats the request");
                sends.push(at - t0);
            }
            if let Some(event) = c.poll_event() {
                assert_eq!(event, StunEvent::Timeout);
                assert_eq!(at - t0, Duration::from_millis(9500));
                break;
            }
        }
        let ms: Vec<u128> = sends.iter().map(Duration::as_millis).collect();
        assert_eq!(ms, [0, 100, 300, 700, 1500, 3100, 4700, 6300, 7900]);
        assert_eq!(
            c.poll_timeout(),
            Some(t0 + Duration::from_millis(9500) + Duration::from_secs(30))
        );
    }

    #[test]
    fn classic_request_layout_and_401_retry() {
        let t0 = start();
        let mut c = client(t0);
        let first = c.poll_transmit().unwrap();
        let m = Message::decode(&first).unwrap();
        assert_eq!(
            m.attributes,
            vec![
                Attribute::Username(b"cpe ".to_vec()),
                Attribute::ConnectionRequestBinding
            ]
        );
        assert_eq!(
            verify_integrity(&first, b"x"),
            Err(StunError::MissingIntegrity)
        );
        c.handle_datagram(t0, &error(&first, 401)).unwrap();
        let signed = c.poll_transmit().unwrap();
        assert_eq!(
            verify_integrity(&signed, b"stun-secret"),
            Ok(IntegrityStyle::Rfc3489)
        );
        assert_ne!(
            Message::decode(&signed).unwrap().transaction_id,
            m.transaction_id
        );
        // A second 401 on the signed request is a real failure.
        c.handle_datagram(t0, &error(&signed, 401)).unwrap();
        assert_eq!(
            c.poll_event(),
            Some(StunEvent::AuthenticationFailed { code: 401 })
        );
        assert_eq!(c.poll_transmit(), None);
        assert_eq!(c.poll_timeout(), Some(t0 + Duration::from_secs(30)));
        // The next keep-alive is signed from the start.
        c.handle_timeout(t0 + Duration::from_secs(30));
        let next = c.poll_transmit().unwrap();
        assert!(verify_integrity(&next, b"stun-secret").is_ok());
    }

    #[test]
    fn mapping_change_is_reported_and_signalled() {
        let t0 = start();
        let mut c = client(t0);
        let first = c.poll_transmit().unwrap();
        // Not ours: ignored, and the transaction stays open.
        let mut other = response(&first, PUBLIC);
        other[8] ^= 0xff;
        assert_eq!(
            c.handle_datagram(t0, &other),
            Err(StunError::UnknownTransaction)
        );
        c.handle_datagram(t0, &response(&first, PUBLIC)).unwrap();
        assert_eq!(
            c.poll_event(),
            Some(StunEvent::MappingChanged {
                address: PUBLIC.parse().unwrap(),
                previous: None,
                nat_detected: true
            })
        );
        assert_eq!(c.mapping().unwrap().to_string(), PUBLIC);
        // BINDING-CHANGE goes out at once, signed because credentials are set.
        let change = c.poll_transmit().unwrap();
        let m = Message::decode(&change).unwrap();
        assert!(m.attributes.contains(&Attribute::BindingChange));
        assert!(verify_integrity(&change, b"stun-secret").is_ok());
        // Its answer confirms the mapping: no more BINDING-CHANGE, next keep-alive in 30 s.
        c.handle_datagram(t0, &response(&change, PUBLIC)).unwrap();
        assert_eq!(c.poll_event(), None);
        c.handle_timeout(t0 + Duration::from_secs(30));
        let keepalive = Message::decode(&c.poll_transmit().unwrap()).unwrap();
        assert!(!keepalive.attributes.contains(&Attribute::BindingChange));
        // The NAT rebinds: a new mapping is reported with the old one.
        let t1 = t0 + Duration::from_secs(30);
        let req = keepalive.encode().unwrap();
        c.handle_datagram(t1, &response(&req, "203.0.113.9:62000"))
            .unwrap();
        assert!(matches!(
            c.poll_event(),
            Some(StunEvent::MappingChanged { previous: Some(p), .. }) if p.to_string() == PUBLIC
        ));
    }

    #[test]
    fn known_mapping_without_nat_is_quiet() {
        let t0 = start();
        let config = StunConfig::new(LOCAL.parse().unwrap())
            .with_known_mapping(Some(LOCAL.parse().unwrap()))
            .with_dialect(StunDialect::Rfc5389);
        let mut c = StunClient::new(config, 9, t0);
        let first = c.poll_transmit().unwrap();
        let m = Message::decode(&first).unwrap();
        assert_eq!(m.transaction_id[..4], message::MAGIC_COOKIE.to_be_bytes());
        assert_eq!(m.attributes, vec![Attribute::ConnectionRequestBinding]);
        let reply = Message::new(MessageType::BINDING_RESPONSE, m.transaction_id)
            .with(Attribute::XorMappedAddress(LOCAL.parse().unwrap()))
            .encode()
            .unwrap();
        c.handle_datagram(t0, &reply).unwrap();
        assert_eq!(c.poll_event(), None);
        assert!(!c.nat_detected());
        // Without credentials a 401 cannot be answered.
        c.handle_timeout(t0 + Duration::from_secs(30));
        let next = c.poll_transmit().unwrap();
        c.handle_datagram(t0, &error(&next, 401)).unwrap();
        assert_eq!(
            c.poll_event(),
            Some(StunEvent::AuthenticationFailed { code: 401 })
        );
    }

    #[test]
    fn forged_integrity_and_odd_messages_are_ignored() {
        let t0 = start();
        let mut c = client(t0);
        let first = c.poll_transmit().unwrap();
        let id = Message::decode(&first).unwrap().transaction_id;
        let forged = Message::new(MessageType::BINDING_RESPONSE, id)
            .with(Attribute::MappedAddress("198.51.100.66:1".parse().unwrap()))
            .encode_with_integrity(b"not the password", IntegrityStyle::Rfc3489)
            .unwrap();
        assert_eq!(
            c.handle_datagram(t0, &forged),
            Err(StunError::IntegrityMismatch)
        );
        assert_eq!(c.mapping(), None);
        let request = Message::new(MessageType::BINDING_REQUEST, id)
            .encode()
            .unwrap();
        assert_eq!(
            c.handle_datagram(t0, &request),
            Err(StunError::UnexpectedMessage(1))
        );
        // The genuine answer, signed, still gets through.
        let genuine = Message::new(MessageType::BINDING_RESPONSE, id)
            .with(Attribute::MappedAddress(PUBLIC.parse().unwrap()))
            .encode_with_integrity(b"stun-secret", IntegrityStyle::Rfc5389)
            .unwrap();
        c.handle_datagram(t0, &genuine).unwrap();
        assert_eq!(c.mapping(), Some(PUBLIC.parse().unwrap()));
        // Other error codes are reported as such.
        let next = c.poll_transmit().unwrap();
        c.handle_datagram(t0, &error(&next, 500)).unwrap();
        assert!(matches!(
            c.poll_event(),
            Some(StunEvent::MappingChanged { .. })
        ));
        assert!(matches!(
            c.poll_event(),
            Some(StunEvent::ErrorResponse { code: 500, .. })
        ));
    }

    #[test]
    fn keepalive_period_bounds() {
        let base = StunConfig::new(LOCAL.parse().unwrap());
        assert_eq!(
            base.clone().with_keepalive(30, -1).keepalive_period(),
            Duration::from_secs(30)
        );
        assert_eq!(
            base.clone().with_keepalive(120, 60).keepalive_period(),
            Duration::from_secs(60)
        );
        assert_eq!(
            base.with_keepalive(0, -1).keepalive_period(),
            Duration::from_secs(1)
        );
    }
}
