//! Decoding and encoding of USP Records and Msgs.
//!
//! Decoding is bounded and strict: [`decode_record`] and [`decode_msg`] check the input size
//! against [`Limits`] before handing it to prost, then walk the result to enforce the USP rules
//! that protobuf itself does not (every `oneof` set, no undefined enum values, required fields
//! present, `msg_type` matching the body) and the count and path-length limits. Unknown fields
//! are skipped, as protobuf requires, so newer peers interoperate.
//!
//! Encoding appends to a `Vec<u8>` the caller owns and cannot fail.
//!
//! | Step | Error | USP code |
//! |---|---|---|
//! | Record larger than `max_record_bytes` | [`DecodeError::RecordTooLarge`] | 7005 |
//! | not a protobuf Record | [`DecodeError::RecordUnparsable`] | 7100 |
//! | Record breaks a rule | [`DecodeError::RecordInvalid`] | 7104 |
//! | Msg larger than `max_msg_bytes` | [`DecodeError::MsgTooLarge`] | 7005 |
//! | not a protobuf Msg | [`DecodeError::MsgUnparsable`] | 7000 |
//! | undefined `msg_type` | [`DecodeError::MsgUnsupported`] | 7001 |
//! | Msg breaks a rule | [`DecodeError::MsgInvalid`] | 7004 |
//! | too many entries, path too long | [`DecodeError::LimitExceeded`] | 7005 |

mod check;
mod error;
mod limits;
mod record;

use alloc::string::String;
use alloc::vec::Vec;

use bytes::{Buf, Bytes};
use prost::Message as _;

pub use error::{
    DecodeError, ERR_INVALID_ARGUMENTS, ERR_INVALID_RECORD_VALUE, ERR_MESSAGE_FAILED,
    ERR_MESSAGE_NOT_SUPPORTED, ERR_RECORD_NOT_PARSED, ERR_RESOURCES_EXCEEDED, InvalidMsg,
    InvalidRecord, Limit, LimitExceeded, ProtobufError,
};
pub use limits::Limits;
pub use record::{DEFAULT_RECORD_VERSION, RecordBuilder, integrity_input};

use crate::usp::{
    self, Body, Header, Msg, body::MsgBody, header::MsgType, request::ReqType, response::RespType,
};
use crate::usp_inbound;
use crate::usp_record::{Record, record::RecordType};

/// Decodes a Record from untrusted bytes (one WebSocket message, MQTT payload, STOMP body or
/// UDS type-3 TLV).
///
/// The size is checked before decoding; the Msg inside a `no_session_context` Record is not
/// decoded (see [`msg_from_no_session`]). The payloads are copied out of `bytes`;
/// [`decode_record_bytes`] slices them instead.
///
/// # Errors
///
/// [`DecodeError::RecordTooLarge`], [`DecodeError::RecordUnparsable`],
/// [`DecodeError::RecordInvalid`] (no `record_type`, an empty `version`, `to_id` or `from_id`,
/// an empty no-session payload, an undefined enum value) or [`DecodeError::LimitExceeded`]
/// (too many session payloads).
pub fn decode_record(bytes: &[u8], limits: &Limits) -> Result<Record, DecodeError> {
    decode_record_from(bytes, limits)
}

/// Decodes a Record from untrusted bytes the caller already holds as [`Bytes`] (WebSocket
/// and MQTT clients hand their payloads over that way), as [`decode_record`] does.
///
/// The Msg payloads of the Record become slices of `bytes` rather than copies, which saves an
/// allocation and a copy of (nearly) the whole Record.
///
/// # Errors
///
/// As [`decode_record`].
pub fn decode_record_bytes(bytes: Bytes, limits: &Limits) -> Result<Record, DecodeError> {
    decode_record_from(bytes, limits)
}

/// prost's decoding of the `bytes` payload fields copies from a `&[u8]` and slices a [`Bytes`].
fn decode_record_from(bytes: impl Buf, limits: &Limits) -> Result<Record, DecodeError> {
    let len = bytes.remaining();
    if len > limits.max_record_bytes {
        return Err(DecodeError::RecordTooLarge {
            len,
            max: limits.max_record_bytes,
        });
    }
    // Merging into a value on this frame (what `Message::decode` does inside) spares moving
    // the decoded Record through prost's `Result`.
    let mut record = Record::default();
    record
        .merge(bytes)
        .map_err(|e| DecodeError::RecordUnparsable(ProtobufError::new(e)))?;
    check::record(&record, limits)?;
    Ok(record)
}

/// Decodes a Msg from untrusted bytes (a Record payload).
///
/// # Errors
///
/// [`DecodeError::MsgTooLarge`], [`DecodeError::MsgUnparsable`],
/// [`DecodeError::MsgUnsupported`], [`DecodeError::MsgInvalid`] or
/// [`DecodeError::LimitExceeded`].
pub fn decode_msg(bytes: &[u8], limits: &Limits) -> Result<Msg, DecodeError> {
    decode_checked(bytes, limits, check::msg)
}

/// Decodes a Msg sent to an agent from untrusted bytes (a Record payload) into the
/// [`usp_inbound`] types, as [`decode_msg`] does with the same [`Limits`] and rules, except that
/// a response other than NotifyResp is neither decoded nor checked beyond its type: it becomes
/// an [`Unread`](usp_inbound::Unread). [`msg_from_inbound`] turns the rest into a [`Msg`].
///
/// This is the agent's decoder: a binary that decodes no other Msg links no decoder for the
/// responses only a controller receives.
///
/// # Errors
///
/// As [`decode_msg`]. Whatever [`decode_msg`] accepts, this accepts.
pub fn decode_inbound_msg(bytes: &[u8], limits: &Limits) -> Result<usp_inbound::Msg, DecodeError> {
    decode_checked(bytes, limits, check::inbound_msg)
}

fn decode_checked<M: prost::Message + Default>(
    bytes: &[u8],
    limits: &Limits,
    check: fn(&M, &Limits) -> Result<(), DecodeError>,
) -> Result<M, DecodeError> {
    if bytes.len() > limits.max_msg_bytes {
        return Err(DecodeError::MsgTooLarge {
            len: bytes.len(),
            max: limits.max_msg_bytes,
        });
    }
    let msg = parse_msg(bytes).map_err(|e| DecodeError::MsgUnparsable(ProtobufError::new(e)))?;
    check(&msg, limits)?;
    Ok(msg)
}

/// prost's parse of a Msg ([`Msg`] or [`usp_inbound::Msg`]), unchecked: the one way the crate
/// parses Msgs. prost's decoding code is generic over the buffer type, so `Msg::decode(bytes)`
/// (which merges from a `&mut &[u8]`) next to `merge(bytes)` (from a `&[u8]`) would link the
/// decoding of every USP message twice, about 80 KB of the agent's code.
pub(crate) fn parse_msg<M: prost::Message + Default>(
    bytes: &[u8],
) -> Result<M, prost::DecodeError> {
    // Merging into a value on this frame, as `decode_record_from` does.
    let mut msg = M::default();
    msg.merge(bytes)?;
    Ok(msg)
}

/// The [`Msg`] an inbound one holds, its parts moved, not copied; `None` when its body is a
/// response the inbound types leave [`Unread`](usp_inbound::Unread).
#[must_use]
pub fn msg_from_inbound(msg: usp_inbound::Msg) -> Option<Msg> {
    use usp_inbound::{body::MsgBody as InboundBody, response::RespType as InboundResp};

    let msg_body = |body: usp_inbound::Body| match body.msg_body {
        None => Some(None),
        Some(InboundBody::Request(request)) => Some(Some(MsgBody::Request(request))),
        Some(InboundBody::Error(error)) => Some(Some(MsgBody::Error(error))),
        Some(InboundBody::Response(response)) => {
            let resp_type = match response.resp_type {
                None => None,
                Some(InboundResp::NotifyResp(resp)) => Some(RespType::NotifyResp(resp)),
                Some(_) => return None,
            };
            Some(Some(MsgBody::Response(usp::Response { resp_type })))
        }
    };
    let body = match msg.body {
        None => None,
        Some(body) => Some(Body {
            msg_body: msg_body(body)?,
        }),
    };
    Some(Msg {
        header: msg.header,
        body,
    })
}

/// Decodes the Msg carried by a `no_session_context` Record.
///
/// Returns `Ok(None)` for every other record type: connect and disconnect Records carry no Msg,
/// and a `session_context` payload may be segmented, so the E2E session layer reassembles it
/// and calls [`decode_msg`] itself.
///
/// # Errors
///
/// As [`decode_msg`], for a payload that is not a valid Msg.
pub fn msg_from_no_session(record: &Record, limits: &Limits) -> Result<Option<Msg>, DecodeError> {
    match &record.record_type {
        Some(RecordType::NoSessionContext(r)) => decode_msg(&r.payload, limits).map(Some),
        _ => Ok(None),
    }
}

/// Appends the protobuf encoding of `record` to `out` and returns the number of bytes written.
pub fn encode_record(record: &Record, out: &mut Vec<u8>) -> usize {
    encode(record, out)
}

/// Appends the protobuf encoding of `msg` to `out` and returns the number of bytes written.
pub fn encode_msg(msg: &Msg, out: &mut Vec<u8>) -> usize {
    encode(msg, out)
}

fn encode(message: &impl prost::Message, out: &mut Vec<u8>) -> usize {
    let len = message.encoded_len();
    out.reserve(len);
    // `Message::encode` would measure the message once more, to refuse a buffer without room
    // for it, which a reserved `Vec<u8>` cannot be; a Msg's measuring walks all of it (1,000
    // map entries for a big GetResp), so this writes as prost's own `encode_to_vec` does.
    message.encode_raw(out);
    len
}

/// The `MsgType` that names the message in `body`, or `None` when a `oneof` in it is empty.
#[must_use]
pub const fn msg_type_of(body: &MsgBody) -> Option<MsgType> {
    match body {
        MsgBody::Request(usp::Request {
            req_type: Some(req),
        }) => Some(request_type(req)),
        MsgBody::Response(usp::Response {
            resp_type: Some(resp),
        }) => Some(response_type(resp)),
        MsgBody::Error(_) => Some(MsgType::Error),
        MsgBody::Request(_) | MsgBody::Response(_) => None,
    }
}

/// The `MsgType` of a request.
#[must_use]
pub const fn request_type(req: &ReqType) -> MsgType {
    match req {
        ReqType::Get(_) => MsgType::Get,
        ReqType::GetSupportedDm(_) => MsgType::GetSupportedDm,
        ReqType::GetInstances(_) => MsgType::GetInstances,
        ReqType::Set(_) => MsgType::Set,
        ReqType::Add(_) => MsgType::Add,
        ReqType::Delete(_) => MsgType::Delete,
        ReqType::Operate(_) => MsgType::Operate,
        ReqType::Notify(_) => MsgType::Notify,
        ReqType::GetSupportedProtocol(_) => MsgType::GetSupportedProto,
        ReqType::Register(_) => MsgType::Register,
        ReqType::Deregister(_) => MsgType::Deregister,
    }
}

/// The `MsgType` of a response.
#[must_use]
pub const fn response_type(resp: &RespType) -> MsgType {
    match resp {
        RespType::GetResp(_) => MsgType::GetResp,
        RespType::GetSupportedDmResp(_) => MsgType::GetSupportedDmResp,
        RespType::GetInstancesResp(_) => MsgType::GetInstancesResp,
        RespType::SetResp(_) => MsgType::SetResp,
        RespType::AddResp(_) => MsgType::AddResp,
        RespType::DeleteResp(_) => MsgType::DeleteResp,
        RespType::OperateResp(_) => MsgType::OperateResp,
        RespType::NotifyResp(_) => MsgType::NotifyResp,
        RespType::GetSupportedProtocolResp(_) => MsgType::GetSupportedProtoResp,
        RespType::RegisterResp(_) => MsgType::RegisterResp,
        RespType::DeregisterResp(_) => MsgType::DeregisterResp,
    }
}

/// Builds a request Msg; the header's `msg_type` follows from `req`.
#[must_use]
pub fn request_msg(msg_id: impl Into<String>, req: ReqType) -> Msg {
    let msg_type = request_type(&req);
    build_msg(
        msg_id.into(),
        msg_type,
        MsgBody::Request(usp::Request {
            req_type: Some(req),
        }),
    )
}

/// Builds a response Msg; the header's `msg_type` follows from `resp`. USP answers with the
/// `msg_id` of the request.
#[must_use]
pub fn response_msg(msg_id: impl Into<String>, resp: RespType) -> Msg {
    let msg_type = response_type(&resp);
    build_msg(
        msg_id.into(),
        msg_type,
        MsgBody::Response(usp::Response {
            resp_type: Some(resp),
        }),
    )
}

/// Builds an Error Msg answering the request with `msg_id`.
#[must_use]
pub fn error_msg(msg_id: impl Into<String>, error: usp::Error) -> Msg {
    build_msg(msg_id.into(), MsgType::Error, MsgBody::Error(error))
}

fn build_msg(msg_id: String, msg_type: MsgType, body: MsgBody) -> Msg {
    Msg {
        header: Some(Header {
            msg_id,
            msg_type: msg_type as i32,
        }),
        body: Some(Body {
            msg_body: Some(body),
        }),
    }
}

#[cfg(test)]
mod tests {
    use alloc::vec;

    use super::*;
    use crate::usp::{Get, NotifyResp};

    #[test]
    fn request_msg_sets_the_header() {
        let msg = request_msg(
            "m1",
            ReqType::Get(Get {
                param_paths: vec!["Device.".into()],
                max_depth: 0,
            }),
        );
        let header = msg.header.as_ref().unwrap();
        assert_eq!(header.msg_id, "m1");
        assert_eq!(header.msg_type, MsgType::Get as i32);
        let mut buf = Vec::new();
        let n = encode_msg(&msg, &mut buf);
        assert_eq!(n, buf.len());
        assert_eq!(decode_msg(&buf, &Limits::default()).unwrap(), msg);
    }

    #[test]
    fn encode_appends() {
        let msg = response_msg(
            "m2",
            RespType::NotifyResp(NotifyResp {
                subscription_id: "s".into(),
            }),
        );
        let mut buf = vec![0xAA];
        let n = encode_msg(&msg, &mut buf);
        assert_eq!(buf.len(), n + 1);
        assert_eq!(buf[0], 0xAA);
        assert_eq!(decode_msg(&buf[1..], &Limits::default()).unwrap(), msg);
    }

    #[test]
    fn decode_record_bytes_slices_the_payload() {
        let msg = request_msg(
            "m4",
            ReqType::Get(Get {
                param_paths: vec!["Device.DeviceInfo.".into()],
                max_depth: 1,
            }),
        );
        let record = RecordBuilder::new("proto::agent", "proto::ctrl").no_session(&msg);
        let mut buf = Vec::new();
        encode_record(&record, &mut buf);
        let input = Bytes::from(buf);
        let limits = Limits::default();
        let decoded = decode_record_bytes(input.clone(), &limits).unwrap();
        assert_eq!(decoded, record);
        assert_eq!(decode_record(&input, &limits).unwrap(), decoded);
        let Some(RecordType::NoSessionContext(ns)) = &decoded.record_type else {
            panic!("not a no-session Record: {decoded:?}");
        };
        assert!(input.as_ptr_range().contains(&ns.payload.as_ptr()));
        let tight = limits.with_max_record_bytes(input.len() - 1);
        assert_eq!(
            decode_record_bytes(input.clone(), &tight).unwrap_err(),
            DecodeError::RecordTooLarge {
                len: input.len(),
                max: input.len() - 1
            }
        );
    }

    #[test]
    fn msg_type_mismatch_is_7004() {
        let mut msg = error_msg(
            "m3",
            usp::Error {
                err_code: 7000,
                err_msg: "x".into(),
                param_errs: vec![],
            },
        );
        if let Some(h) = msg.header.as_mut() {
            h.msg_type = MsgType::Get as i32;
        }
        let mut buf = Vec::new();
        encode_msg(&msg, &mut buf);
        let err = decode_msg(&buf, &Limits::default()).unwrap_err();
        assert_eq!(
            err,
            DecodeError::MsgInvalid(InvalidMsg::MsgTypeMismatch {
                msg_type: MsgType::Get as i32,
                body: MsgType::Error
            })
        );
        assert_eq!(err.usp_error(), 7004);
        assert!(!err.is_record_error());
    }
}
