//! The CWMP SOAP codec: [`Envelope`] ⇄ bytes, for every message of cwmp-1-0 … cwmp-1-4.
//!
//! * [`Envelope::decode`] (or [`decode()`]) turns the bytes of an HTTP body into an
//!   [`Envelope`]; [`Envelope::encode`] (or [`encode()`]) appends one to a caller's `Vec<u8>`.
//!   Neither does I/O, reads a clock or keeps state between calls.
//!   [`Envelope::decode_for_cpe`] reads as a CPE does: the RPCs only a CPE sends come back as
//!   [`Body::Unknown`], so that a CPE's program links no reader for them.
//! * [`Body`] has one variant per RPC request and response of both directions (CPE methods and
//!   ACS methods), plus [`Body::Fault`] and [`Body::Unknown`]; the argument structs are in this
//!   module, named after the XSD elements.
//! * [`Header`] holds `ID`, `HoldRequests`, `NoMoreRequests` (decode only), `SessionTimeout`,
//!   `SupportedCWMPVersions` and `UseCWMPVersion`; [`version`] has the negotiation helpers.
//! * [`lwnotif`]: the UDP lightweight notification of Annex M (encoder and datagram).
//!
//! # Decoding: lenient where peers are sloppy, strict where safety needs it
//!
//! Lenient:
//! * prefixes are whatever the peer chose: elements are matched by namespace URI and local
//!   name (`SOAP-ENV:`, `soapenv:`, `s:`, a default namespace, …);
//! * any `urn:dslforum-org:cwmp-1-N` is a CWMP namespace (tools emit `cwmp-1-3`/`cwmp-1-4`);
//! * RPC child elements are matched by local name in any namespace and in any order; unknown
//!   children and unknown non-mandatory header entries are skipped;
//! * `soap-env:encodingStyle` and other attributes on `Envelope` are ignored;
//! * `xsi:type` may be missing, or use an undeclared `xsd:`/`xsi:` prefix;
//! * `soap-enc:arrayType` may be missing or padded (`[0008]`); array entries may have any
//!   element name; the declared size is only a capacity hint, capped by the bounds;
//! * OUIs in lower case, malformed `dateTime` values, `MaxEnvelopes` other than 1 decode as
//!   sent; booleans accept `true`/`false`/`1`/`0` in any case.
//!
//! Strict:
//! * the body size is checked before parsing; UTF-8 is validated;
//! * DOCTYPE, processing instructions and entity references other than the five predefined
//!   ones are refused, so no entity is ever expanded;
//! * nesting depth, attributes per element, name and text lengths and array entries are bounded
//!   by [`Limits`]; XSD `maxLength`/`maxOccurs` are enforced;
//! * a second RPC in the body, a duplicated child element, a missing required element,
//!   character data between elements, or anything after the envelope is refused.
//!
//! Errors are [`DecodeError`]s that name their CWMP fault code; see
//! [`crate::error`].
//!
//! # Encoding
//!
//! The encoder writes the canonical prefixes `soap-env`, `soap-enc`, `xsd`, `xsi`, `cwmp` (the
//! envelope's [`CwmpNamespace`]), unqualified RPC children in XSD order, SOAP arrays with
//! `soap-enc:arrayType="cwmp:ParameterValueStruct[N]"` and the like, and
//! `soap-env:mustUnderstand="1"` on `ID`, `HoldRequests` and `UseCWMPVersion`. It refuses
//! (rather than truncating or dropping) values the schema forbids: strings over `maxLength`,
//! arrays outside `minOccurs`/`maxOccurs`, fault codes outside their ranges, characters XML
//! cannot carry. Its output validates against the BBF schema of the namespace (the crate's
//! `tests/xsd.rs` checks a sample of every message with `xmllint`), given that the caller
//! follows what the encoder does not check: patterns (OUI, UUID, event codes, file types), the
//! lexical form of a value against its `xsi:type`, and the narrower enumerations of the
//! cwmp-1-0/1-1 schemas (for example notification values 3–6 and fault codes above 9013 exist
//! only from 1-1 or 1-2 on).

mod decode;
mod encode;
mod envelope;
mod limits;
pub mod lwnotif;
mod messages;
pub mod version;
mod xml;

pub use envelope::{Body, Envelope, Fault, Header, SoapFaultCode, fault_name};
pub use limits::Limits;
pub use messages::{
    AddObject, AddObjectResponse, AllQueuedTransfer, Arg, AutonomousDuStateChangeComplete,
    AutonomousOpResult, AutonomousTransferComplete, CancelTransfer, ChangeDuState, CwmpFault,
    DeleteObject, DeleteObjectResponse, DeploymentUnitFault, DeploymentUnitState, DeviceId,
    Download, DownloadResponse, DuOperation, DuStateChangeComplete, Event, EventCode,
    GetAllQueuedTransfersResponse, GetOptions, GetOptionsResponse, GetParameterAttributes,
    GetParameterAttributesResponse, GetParameterNames, GetParameterNamesResponse,
    GetParameterValues, GetParameterValuesResponse, GetQueuedTransfersResponse,
    GetRpcMethodsResponse, Inform, InformResponse, InstallOp, Kicked, KickedResponse, Notification,
    OpResult, OptionMode, OptionState, OptionStruct, ParameterAttribute, ParameterInfo,
    ParameterValue, QueuedTransfer, Reboot, RequestDownload, ScheduleDownload, ScheduleInform,
    SetParameterAttributes, SetParameterAttributesStruct, SetParameterValues,
    SetParameterValuesFault, SetParameterValuesResponse, SetVouchers, Status, TimeWindow,
    TransferComplete, TransferFault, TransferState, Transferable, UNKNOWN_TIME, UninstallOp,
    UpdateOp, Upload, UploadResponse, ValueType,
};
pub use version::{CwmpNamespace, CwmpVersion};

use crate::error::{CodecError, DecodeError};

/// Decodes an envelope; the same as [`Envelope::decode`].
///
/// # Errors
///
/// See [`Envelope::decode`].
pub fn decode(input: &[u8], limits: &Limits) -> Result<Envelope, DecodeError> {
    Envelope::decode(input, limits)
}

/// Encodes an envelope; the same as [`Envelope::encode`].
///
/// # Errors
///
/// See [`Envelope::encode`].
pub fn encode(envelope: &Envelope, out: &mut Vec<u8>) -> Result<(), CodecError> {
    envelope.encode(out)
}
