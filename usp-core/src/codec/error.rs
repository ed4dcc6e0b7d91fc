//! The codec's error type and its USP error codes.

use core::fmt;

/// USP error 7000, "Message failed".
pub const ERR_MESSAGE_FAILED: u32 = 7000;
/// USP error 7001, "Message not supported".
pub const ERR_MESSAGE_NOT_SUPPORTED: u32 = 7001;
/// USP error 7004, "Invalid arguments".
pub const ERR_INVALID_ARGUMENTS: u32 = 7004;
/// USP error 7005, "Resources exceeded".
pub const ERR_RESOURCES_EXCEEDED: u32 = 7005;
/// USP Record error 7100, "Record could not be parsed".
pub const ERR_RECORD_NOT_PARSED: u32 = 7100;
/// USP Record error 7104, "Invalid USP Record value".
pub const ERR_INVALID_RECORD_VALUE: u32 = 7104;

/// Why a Record or Msg from the wire was rejected.
///
/// Every variant is the peer's fault (the local caller cannot cause one) and maps to a USP error
/// code with [`usp_error`](Self::usp_error), for the Error Msg or Disconnect Record the agent may
/// send back. Whether it sends one at all is its business: R-MTP.5 allows an Error only when the
/// Record's `from_id` and `msg_id` could be read and a return path exists.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[non_exhaustive]
pub enum DecodeError {
    /// A decoded Record or Msg holds more repeated entries or a longer path than [`Limits`]
    /// allows. USP error 7005 (Resources exceeded).
    ///
    /// [`Limits`]: super::Limits
    #[error("{0}")]
    LimitExceeded(LimitExceeded),
    /// The Msg decoded but breaks a USP encoding rule (an empty `oneof`, a missing header or
    /// `msg_id`, a `msg_type` that does not match the body, an unknown enum value). USP error
    /// 7004 (Invalid arguments), as R-ENC.4 asks for a broken `oneof`.
    #[error("invalid USP Msg: {0}")]
    MsgInvalid(InvalidMsg),
    /// The Msg bytes exceed [`Limits::max_msg_bytes`](super::Limits::max_msg_bytes); nothing was
    /// decoded. USP error 7005 (Resources exceeded).
    #[error("USP Msg of {len} bytes exceeds the limit of {max} bytes")]
    MsgTooLarge {
        /// Size of the input.
        len: usize,
        /// The configured limit.
        max: usize,
    },
    /// The bytes (for instance a Record payload) are not a protobuf `usp.Msg`. USP error 7000
    /// (Message failed): nothing in the Msg, not even its `msg_id`, could be read.
    #[error("USP Msg could not be parsed")]
    MsgUnparsable(#[source] ProtobufError),
    /// The Msg's `msg_type` is a value this schema does not define (a newer USP message).
    /// USP error 7001 (Message not supported).
    #[error("USP Msg type {msg_type} is not supported")]
    MsgUnsupported {
        /// The `header.msg_type` value received.
        msg_type: i32,
    },
    /// The Record decoded but breaks a USP rule. USP Record error 7104 (Invalid USP Record
    /// value).
    #[error("invalid USP Record: {0}")]
    RecordInvalid(InvalidRecord),
    /// The Record bytes exceed [`Limits::max_record_bytes`](super::Limits::max_record_bytes);
    /// nothing was decoded. USP error 7005 (Resources exceeded).
    #[error("USP Record of {len} bytes exceeds the limit of {max} bytes")]
    RecordTooLarge {
        /// Size of the input.
        len: usize,
        /// The configured limit.
        max: usize,
    },
    /// The bytes are not a protobuf `usp_record.Record` (truncated, bad length or tag, invalid
    /// UTF-8 in a string, nesting too deep). USP Record error 7100 (Record could not be parsed).
    #[error("USP Record could not be parsed")]
    RecordUnparsable(#[source] ProtobufError),
}

impl DecodeError {
    /// The USP error code to report for this error (see each variant).
    #[must_use]
    pub const fn usp_error(&self) -> u32 {
        match self {
            Self::RecordTooLarge { .. } | Self::MsgTooLarge { .. } | Self::LimitExceeded(_) => {
                ERR_RESOURCES_EXCEEDED
            }
            Self::RecordUnparsable(_) => ERR_RECORD_NOT_PARSED,
            Self::RecordInvalid(_) => ERR_INVALID_RECORD_VALUE,
            Self::MsgUnparsable(_) => ERR_MESSAGE_FAILED,
            Self::MsgInvalid(_) => ERR_INVALID_ARGUMENTS,
            Self::MsgUnsupported { .. } => ERR_MESSAGE_NOT_SUPPORTED,
        }
    }

    /// Whether the error is about the Record (true) or about the Msg it carries (false).
    #[must_use]
    pub const fn is_record_error(&self) -> bool {
        matches!(
            self,
            Self::RecordTooLarge { .. } | Self::RecordUnparsable(_) | Self::RecordInvalid(_)
        ) || matches!(self, Self::LimitExceeded(l) if l.in_record)
    }
}

/// A protobuf wire-format error, with the path of the field that failed (from prost).
#[derive(Clone, PartialEq, Eq)]
pub struct ProtobufError(prost::DecodeError);

impl ProtobufError {
    pub(crate) const fn new(inner: prost::DecodeError) -> Self {
        Self(inner)
    }

    /// The underlying prost error.
    #[must_use]
    pub const fn as_prost(&self) -> &prost::DecodeError {
        &self.0
    }
}

impl fmt::Debug for ProtobufError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(&self.0, f)
    }
}

impl fmt::Display for ProtobufError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(&self.0, f)
    }
}

impl core::error::Error for ProtobufError {}

/// How a decoded Record breaks the USP rules ([`DecodeError::RecordInvalid`], error 7104).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum InvalidRecord {
    /// A `no_session_context` Record with an empty payload (R-E2E.26).
    #[error("no_session_context payload is empty")]
    EmptyPayload,
    /// A required string field (`version`, `to_id` or `from_id`) is empty.
    #[error("required field {field} is empty")]
    MissingField {
        /// The field name.
        field: &'static str,
    },
    /// `record_type` holds no member (R-ENC: a Record that breaks a `oneof` is discarded).
    #[error("record_type is not set")]
    MissingRecordType,
    /// An enum field holds a value the schema does not define (R-ENC.2).
    #[error("{field} has the undefined enum value {value}")]
    UnknownEnumValue {
        /// The field, as `Message.field`.
        field: &'static str,
        /// The value received.
        value: i32,
    },
}

/// How a decoded Msg breaks the USP rules ([`DecodeError::MsgInvalid`], error 7004).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum InvalidMsg {
    /// A `oneof` (or the message that wraps it) holds no member (R-ENC.4).
    #[error("oneof {field} is not set")]
    EmptyOneof {
        /// The `oneof`, as `Message.oneof`.
        field: &'static str,
    },
    /// `Msg.body` is absent.
    #[error("the Msg has no body")]
    MissingBody,
    /// `Msg.header` is absent.
    #[error("the Msg has no header")]
    MissingHeader,
    /// `Header.msg_id` is empty.
    #[error("the Msg has an empty msg_id")]
    MissingMsgId,
    /// `Header.msg_type` does not name the message in the body.
    #[error("msg_type {msg_type} does not match the body, which holds a {body:?}")]
    MsgTypeMismatch {
        /// The `header.msg_type` value received.
        msg_type: i32,
        /// The type the body holds.
        body: crate::usp::header::MsgType,
    },
    /// An enum field holds a value the schema does not define (R-ENC.2).
    #[error("{field} has the undefined enum value {value}")]
    UnknownEnumValue {
        /// The field, as `Message.field`.
        field: &'static str,
        /// The value received.
        value: i32,
    },
}

/// Which [`Limits`](super::Limits) entry a decoded value exceeded.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Limit {
    /// [`Limits::max_path_len`](super::Limits::max_path_len).
    PathLength,
    /// [`Limits::max_repeated`](super::Limits::max_repeated).
    RepeatedEntries,
}

/// Details of [`DecodeError::LimitExceeded`].
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{field}: {len} exceeds the {limit:?} limit of {max}")]
#[non_exhaustive]
pub struct LimitExceeded {
    /// The limit that was exceeded.
    pub limit: Limit,
    /// The field, as `Message.field`.
    pub field: &'static str,
    /// The count or length found.
    pub len: usize,
    /// The configured limit.
    pub max: usize,
    /// Whether the field belongs to the Record rather than to the Msg.
    pub in_record: bool,
}
