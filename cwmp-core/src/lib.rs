//! Sans-IO TR-069 (CWMP) for CPEs: the SOAP codec (this release), later the session state
//! machine and connection requests.
//!
//! # Scope
//!
//! * [`codec`]: decode and encode every CWMP message of cwmp-1-0 … cwmp-1-4 in both directions
//!   (the CPE methods the ACS calls, the ACS methods the CPE calls, and their responses), SOAP
//!   faults with the CWMP fault detail, the CWMP header entries, SOAP-encoded arrays, and
//!   version negotiation as TR-069 Amendment 6 describes it ([`codec::version`]).
//! * [`error`]: the codec's error type, each failure mapped to the CWMP fault code that
//!   answers it.
//!
//! # Not in scope
//!
//! * I/O of any kind: no sockets, no HTTP, no TLS, no clock, no threads. The caller hands in
//!   the bytes of an HTTP body and receives bytes to send (STYLE §2.2).
//! * The data model: parameter values stay text with their `xsi:type`; typing them against
//!   TR-181 is the `tr181-model` crate's job, calling the device the `hal` crate's.
//! * The CWMP session (Inform, retries, HoldRequests, empty POSTs): a later module.
//!
//! # Bounded by construction
//!
//! The decoder streams the XML with quick-xml's namespace-aware pull reader, keeps its own
//! element depth, and checks every bound of [`codec::Limits`] as it goes: body size (before
//! parsing), depth, attributes per element, name and text lengths, array entries (never
//! preallocated from `soap-enc:arrayType`) and the XSD string lengths. DOCTYPE declarations,
//! processing instructions and non-predefined entities are refused, so no entity is expanded.
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

pub mod codec;
pub mod error;

pub use error::{CodecError, DecodeError};
