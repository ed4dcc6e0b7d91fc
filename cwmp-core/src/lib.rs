//! Sans-IO TR-069 (CWMP) for CPEs: the SOAP codec, the CPE session state machine and
//! connection requests.
//!
//! # Scope
//!
//! * [`codec`]: decode and encode every CWMP message of cwmp-1-0 … cwmp-1-4 in both directions
//!   (the CPE methods the ACS calls, the ACS methods the CPE calls, and their responses), SOAP
//!   faults with the CWMP fault detail, the CWMP header entries, SOAP-encoded arrays, and
//!   version negotiation as TR-069 Amendment 6 describes it ([`codec::version`]).
//! * [`session`]: the CPE's session ([`Session`]): Inform with its events and their retention
//!   rules, forced and `InformParameter` parameters, HoldRequests, the empty POST and the 204
//!   end, cookies, redirects, HTTP Basic/Digest towards the ACS, retries with the randomised
//!   exponential wait, periodic and scheduled informs, heartbeats (Annex O, `14 HEARTBEAT`
//!   alone in its session, [`session::heartbeat`]), value-change notification (that of
//!   `ManageableDeviceNumberOfEntries` spaced by `ManageableDeviceNotificationLimit`,
//!   [`session::manageable`]), and every
//!   CPE RPC executed through the protocol-neutral [`hal::Engine`] (which the driver calls),
//!   ChangeDUState included, with DUStateChangeComplete and AutonomousDUStateChangeComplete
//!   kept until the ACS acknowledges them, as are the CPE's AutonomousTransferComplete and
//!   RequestDownload; UDP lightweight notifications (Annex M, notification values 3–6,
//!   [`session::lightweight`]) as datagrams for the driver to send.
//!   The module docs have the drive loop and an ASCII diagram of the session.
//! * [`connreq`]: connection requests: Digest (RFC 7616/2617) checking with expiring nonces,
//!   replay protection and constant-time comparison, rate limiting, UDP connection requests
//!   (Annex G) with their HMAC-SHA1 signature, the STUN binding codec and keep-alive client
//!   that keeps the NAT mapping they arrive on ([`connreq::stun`]), and XMPP connection
//!   requests (Annex K, [`connreq::xmpp`]).
//! * [`error`]: the codec's error type, each failure mapped to the CWMP fault code that
//!   answers it; [`session::SessionError`] for misuse of the session API.
//!
//! # Not in scope
//!
//! * I/O of any kind: no sockets, no HTTP, no TLS, no clock, no threads, no async runtime. The
//!   caller hands in bytes, times and engine results and receives bytes to send and requests
//!   to run (STYLE §2.2). `cargo tree -p cwmp-core -e normal` has no tokio.
//! * The data model: values are read and written by the [`hal::Engine`] on the `tr181-model`
//!   store; the session only says what to do. Which TR-181 groups are compiled in is the
//!   vendor's choice on `tr181-model` (the session needs `DeviceInfo` and `ManagementServer`
//!   for the Inform's forced parameters and the notification defaults).
//! * The XMPP connection itself (the driver's XMPP client hands stanzas to
//!   [`connreq::xmpp`]), HTTP compression.
//!
//! # Drive loop
//!
//! As in str0m: one change ([`Session::handle_input`] or [`Session::respond`]), then
//! [`Session::poll_output`] until [`Output::Timeout`]. [`Output::Transmit`] is a POST for the
//! ACS, [`Output::EngineRequest`] a request the driver runs on the engine
//! ([`session::EngineRequest::execute`]) and answers with [`Session::respond`],
//! [`Output::Event`] news for the application (session ended, state to persist),
//! [`Output::Datagram`] a UDP datagram to send (a lightweight notification).
//!
//! # Time and randomness
//!
//! Monotonic time comes in as [`Input::Timeout`]`(Instant)`; the wall clock, optional because
//! a CPE boots before NTP, as [`Input::WallClock`] (only for `CurrentTime`, the `TS` of
//! lightweight notifications and the phase of periodic informs and lightweight triggers).
//! Random numbers (retry jitter, message IDs, Digest client nonces, lightweight notification
//! cnonces, connection-request nonces) come from seeds the driver gives
//! ([`session::SessionConfig::rng_seed`], [`connreq::ConnReqServer::new`]).
//!
//! # Limits
//!
//! Inbound envelopes: [`codec::Limits`] (1 MiB body, depth 32, 16 attributes, 256-byte names,
//! 64 KiB text, 4096 array entries). Sessions: [`session::SessionLimits`] (64 headers / 8 KiB
//! per response, 5 redirects, 1024 exchanges, 16 cookies, 4096 parameters with attributes, 16
//! transfers, 16 scheduled informs, 1024 changed parameters, 1472-byte datagrams). A breach fails the session or
//! answers fault 9004; nothing is silently truncated except the oldest changed parameter,
//! which is counted.
//!
//! # Bounded by construction
//!
//! The decoder streams the XML with quick-xml's namespace-aware pull reader, keeps its own
//! element depth, and checks every bound of [`codec::Limits`] as it goes: body size (before
//! parsing), depth, attributes per element, name and text lengths, array entries (a
//! `soap-enc:arrayType` size pre-sizes an array only within that bound) and the XSD string
//! lengths. DOCTYPE declarations, processing instructions and non-predefined entities are
//! refused, so no entity is expanded.
//! A breach is a typed error, never a truncation or a panic; the crate forbids `unsafe`, and
//! its lints deny `unwrap`, `expect`, `panic!` and slice indexing outside tests.
//!
//! ```
//! use cwmp_core::codec::{Body, Envelope, Limits};
//!
//! let request = br#"<soapenv:Envelope xmlns:soapenv="http://schemas.xmlsoap.org/soap/envelope/"
//!     xmlns:cwmp="urn:dslforum-org:cwmp-1-0">
//!   <soapenv:Header><cwmp:ID soapenv:mustUnderstand="1">7</cwmp:ID></soapenv:Header>
//!   <soapenv:Body><cwmp:GetRPCMethods/></soapenv:Body>
//! </soapenv:Envelope>"#;
//! let env = Envelope::decode(request, &Limits::default())?;
//! assert_eq!(env.header.id.as_deref(), Some("7"));
//! assert_eq!(env.body, Body::GetRpcMethods);
//! # Ok::<(), cwmp_core::DecodeError>(())
//! ```

#![forbid(unsafe_code)]
#![cfg_attr(docsrs, feature(doc_cfg))]

mod auth;
pub mod codec;
pub mod connreq;
pub mod error;
pub mod session;

pub use auth::DigestAlgorithm;
pub use error::{CodecError, DecodeError};
pub use session::{Input, Output, Session};
