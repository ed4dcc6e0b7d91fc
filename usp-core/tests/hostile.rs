//! Hostile input: every malformed, oversized or rule-breaking Record or Msg is a typed
//! `DecodeError` with the right USP code, never a panic.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

mod common;

use proptest::prelude::*;
use prost::Message as _;
use usp_core::codec::{self, InvalidMsg, InvalidRecord, Limit, RecordBuilder};
use usp_core::usp::{self, request::ReqType, response::RespType};
use usp_core::usp_record::{MqttConnectRecord, SessionContextRecord, record::RecordType};
use usp_core::{DecodeError, Limits, Msg, Record};

fn encode_record(record: &Record) -> Vec<u8> {
    let mut out = Vec::new();
    codec::encode_record(record, &mut out);
    out
}

fn encode_msg(msg: &Msg) -> Vec<u8> {
    let mut out = Vec::new();
    codec::encode_msg(msg, &mut out);
    out
}

fn builder() -> RecordBuilder {
    RecordBuilder::new("proto::agent", "proto::ctrl")
}

fn valid_record() -> Vec<u8> {
    encode_record(&builder().no_session(&common::sample("get_resp")))
}

#[test]
fn truncated_records_are_unparsable_or_invalid() {
    let bytes = valid_record();
    let limits = Limits::default();
    assert!(codec::decode_record(&bytes, &limits).is_ok());
    for cut in 0..bytes.len() {
        let err = codec::decode_record(&bytes[..cut], &limits).unwrap_err();
        assert!(
            matches!(
                err,
                DecodeError::RecordUnparsable(_) | DecodeError::RecordInvalid(_)
            ),
            "cut at {cut}: {err:?}"
        );
        assert!(
            [7100, 7104].contains(&err.usp_error()),
            "cut at {cut}: {err:?}"
        );
        assert!(err.is_record_error());
    }
}

#[test]
fn truncated_msgs_are_unparsable_or_invalid() {
    let limits = Limits::default();
    for (name, msg) in common::samples() {
        let bytes = encode_msg(&msg);
        for cut in 0..bytes.len() {
            let err = codec::decode_msg(&bytes[..cut], &limits).unwrap_err();
            assert!(
                matches!(
                    err,
                    DecodeError::MsgUnparsable(_) | DecodeError::MsgInvalid(_)
                ),
                "{name} cut at {cut}: {err:?}"
            );
            assert!(
                [7000, 7004].contains(&err.usp_error()),
                "{name} cut at {cut}"
            );
            assert!(!err.is_record_error());
        }
    }
}

#[test]
fn oversized_input_is_rejected_before_decoding() {
    // Garbage: if it were decoded it would be unparsable, so TooLarge proves the size check
    // comes first.
    let garbage = vec![0xFF_u8; Limits::DEFAULT_MAX_RECORD_BYTES + 1];
    let err = codec::decode_record(&garbage, &Limits::default()).unwrap_err();
    assert_eq!(
        err,
        DecodeError::RecordTooLarge {
            len: Limits::DEFAULT_MAX_RECORD_BYTES + 1,
            max: Limits::DEFAULT_MAX_RECORD_BYTES
        }
    );
    assert_eq!(err.usp_error(), 7005);
    let err = codec::decode_msg(&garbage, &Limits::default()).unwrap_err();
    assert!(matches!(err, DecodeError::MsgTooLarge { .. }));
    assert_eq!(err.usp_error(), 7005);

    // Exactly at the limit is fine, one byte below is not.
    let bytes = valid_record();
    let at = Limits::default().with_max_record_bytes(bytes.len());
    assert!(codec::decode_record(&bytes, &at).is_ok());
    let below = at.with_max_record_bytes(bytes.len() - 1);
    assert!(matches!(
        codec::decode_record(&bytes, &below),
        Err(DecodeError::RecordTooLarge { .. })
    ));

    // The Msg limit applies to a Record's payload.
    let record = codec::decode_record(&bytes, &Limits::default()).unwrap();
    let small = Limits::default().with_max_msg_bytes(16);
    let err = codec::msg_from_no_session(&record, &small).unwrap_err();
    assert!(
        matches!(err, DecodeError::MsgTooLarge { max: 16, .. }),
        "{err:?}"
    );
}

#[test]
fn length_fields_past_the_buffer_are_unparsable() {
    let limits = Limits::default();
    let cases: [&[u8]; 5] = [
        // to_id claims 127 bytes, two follow.
        &[0x12, 0x7F, b'a', b'b'],
        // A length of 2^35 - 1.
        &[0x12, 0xFF, 0xFF, 0xFF, 0xFF, 0x7F],
        // An 11-byte varint.
        &[
            0x12, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0x01,
        ],
        // no_session_context claims 0x2E bytes, 3 follow.
        &[0x0A, 0x01, b'1', 0x3A, 0x2E, 0x12, 0x01, 0x00],
        // A tag and nothing else.
        &[0x0A],
    ];
    for bytes in cases {
        let err = codec::decode_record(bytes, &limits).unwrap_err();
        assert!(
            matches!(err, DecodeError::RecordUnparsable(_)),
            "{bytes:02x?}: {err:?}"
        );
        assert_eq!(err.usp_error(), 7100);
        let err = codec::decode_msg(bytes, &limits).unwrap_err();
        assert!(
            matches!(err, DecodeError::MsgUnparsable(_)),
            "{bytes:02x?}: {err:?}"
        );
        assert_eq!(err.usp_error(), 7000);
    }
}

#[test]
fn invalid_utf8_in_strings_is_unparsable_and_names_the_field() {
    let limits = Limits::default();
    // version "1.4", then to_id = C3 28 (an invalid two-byte sequence).
    let record = [0x0A, 0x03, b'1', b'.', b'4', 0x12, 0x02, 0xC3, 0x28];
    let err = codec::decode_record(&record, &limits).unwrap_err();
    assert!(matches!(err, DecodeError::RecordUnparsable(_)), "{err:?}");
    let DecodeError::RecordUnparsable(inner) = &err else {
        unreachable!()
    };
    assert!(inner.to_string().contains("to_id"), "{inner}");
    assert_eq!(err.usp_error(), 7100);

    // A Get whose param path is not UTF-8, deep inside the Msg.
    let mut bytes = encode_msg(&codec::request_msg(
        "m",
        ReqType::Get(usp::Get {
            param_paths: vec!["Device.XX".into()],
            max_depth: 0,
        }),
    ));
    let at = bytes.windows(2).position(|w| w == b"XX").unwrap();
    bytes[at] = 0xFF;
    let err = codec::decode_msg(&bytes, &limits).unwrap_err();
    let DecodeError::MsgUnparsable(inner) = &err else {
        panic!("{err:?}")
    };
    assert!(inner.to_string().contains("param_paths"), "{inner}");
    assert_eq!(err.usp_error(), 7000);
}

#[test]
fn a_payload_that_is_not_a_msg_is_a_msg_error() {
    let limits = Limits::default();
    let payloads: [&[u8]; 3] = [
        b"not a protobuf \xFF\xFF",
        // A Record is protobuf, but not a Msg.
        &valid_record(),
        &[0xFF],
    ];
    for payload in payloads {
        let record = builder().no_session_payload(bytes::Bytes::copy_from_slice(payload));
        let decoded = codec::decode_record(&encode_record(&record), &limits).unwrap();
        let err = codec::msg_from_no_session(&decoded, &limits).unwrap_err();
        assert!(!err.is_record_error(), "{err:?}");
        assert!([7000, 7004].contains(&err.usp_error()), "{err:?}");
    }
    // Well-formed protobuf holding only an unknown field: an empty Msg, so no header.
    let record = builder().no_session_payload(bytes::Bytes::from_static(&[0x18, 0x01]));
    let err = codec::msg_from_no_session(&record, &limits).unwrap_err();
    assert_eq!(err, DecodeError::MsgInvalid(InvalidMsg::MissingHeader));
    assert_eq!(err.usp_error(), 7004);
}

#[test]
fn huge_repeated_counts_exceed_the_limit() {
    let limits = Limits::default();
    let paths: Vec<String> = (0..4097)
        .map(|i| format!("Device.IP.Interface.{i}."))
        .collect();
    let msg = codec::request_msg(
        "m",
        ReqType::Get(usp::Get {
            param_paths: paths.clone(),
            max_depth: 0,
        }),
    );
    let err = codec::decode_msg(&encode_msg(&msg), &limits).unwrap_err();
    let DecodeError::LimitExceeded(details) = &err else {
        panic!("{err:?}")
    };
    assert_eq!(details.limit, Limit::RepeatedEntries);
    assert_eq!(details.field, "Get.param_paths");
    assert_eq!((details.len, details.max), (4097, 4096));
    assert_eq!(err.usp_error(), 7005);
    assert!(!err.is_record_error());
    // 4096 is fine.
    let ok = codec::request_msg(
        "m",
        ReqType::Get(usp::Get {
            param_paths: paths[..4096].to_vec(),
            max_depth: 0,
        }),
    );
    assert!(codec::decode_msg(&encode_msg(&ok), &limits).is_ok());

    // A map, and entries nested two levels down.
    let args = (0..4097)
        .map(|i| (format!("Arg{i}"), String::new()))
        .collect();
    let operate = codec::request_msg(
        "m",
        ReqType::Operate(usp::Operate {
            command: "Device.Reboot()".into(),
            input_args: args,
            ..Default::default()
        }),
    );
    let err = codec::decode_msg(&encode_msg(&operate), &limits).unwrap_err();
    assert!(
        matches!(&err, DecodeError::LimitExceeded(d) if d.field == "Operate.input_args"),
        "{err:?}"
    );
    let tight = Limits::default().with_max_repeated(1);
    let err = codec::decode_msg(&encode_msg(&common::sample("get_resp")), &tight).unwrap_err();
    assert!(
        matches!(&err, DecodeError::LimitExceeded(d) if d.field == "GetResp.req_path_results"),
        "{err:?}"
    );
    let err = codec::decode_msg(
        &encode_msg(&common::sample("get_supported_dm_resp")),
        &tight,
    )
    .unwrap_err();
    assert!(
        matches!(&err, DecodeError::LimitExceeded(d) if d.field == "SupportedObjectResult.supported_commands"),
        "{err:?}"
    );

    // Session payloads count against the Record.
    let mut record = builder().websocket_connect();
    record.record_type = Some(RecordType::SessionContext(SessionContextRecord {
        session_id: 1,
        sequence_id: 1,
        expected_id: 1,
        payload: vec![bytes::Bytes::from_static(b"x"); 3],
        ..Default::default()
    }));
    let err = codec::decode_record(
        &encode_record(&record),
        &Limits::default().with_max_repeated(2),
    )
    .unwrap_err();
    assert!(err.is_record_error(), "{err:?}");
    assert_eq!(err.usp_error(), 7005);
}

#[test]
fn long_paths_exceed_the_limit() {
    let long = format!("Device.{}.", "A".repeat(1024));
    let msg = codec::request_msg(
        "m",
        ReqType::Delete(usp::Delete {
            allow_partial: false,
            obj_paths: vec![long],
        }),
    );
    let err = codec::decode_msg(&encode_msg(&msg), &Limits::default()).unwrap_err();
    assert!(
        matches!(&err, DecodeError::LimitExceeded(d) if d.limit == Limit::PathLength && d.field == "Delete.obj_paths" && d.len == 1032),
        "{err:?}"
    );
    // Map keys are names too.
    let short = Limits::default().with_max_path_len(8);
    let err = codec::decode_msg(&encode_msg(&common::sample("get_resp")), &short).unwrap_err();
    assert!(
        matches!(&err, DecodeError::LimitExceeded(d) if d.limit == Limit::PathLength),
        "{err:?}"
    );
}

#[test]
fn records_breaking_usp_rules_are_invalid_7104() {
    let limits = Limits::default();
    let check = |record: Record, want: InvalidRecord| {
        let err = codec::decode_record(&encode_record(&record), &limits).unwrap_err();
        assert_eq!(err, DecodeError::RecordInvalid(want));
        assert_eq!(err.usp_error(), 7104);
    };
    let mut r = builder().websocket_connect();
    r.record_type = None;
    check(r, InvalidRecord::MissingRecordType);
    let mut r = builder().websocket_connect();
    r.version.clear();
    check(
        r,
        InvalidRecord::MissingField {
            field: "Record.version",
        },
    );
    let mut r = builder().websocket_connect();
    r.from_id.clear();
    check(
        r,
        InvalidRecord::MissingField {
            field: "Record.from_id",
        },
    );
    let mut r = builder().websocket_connect();
    r.payload_security = 9;
    check(
        r,
        InvalidRecord::UnknownEnumValue {
            field: "Record.payload_security",
            value: 9,
        },
    );
    let mut r = builder().websocket_connect();
    r.record_type = Some(RecordType::MqttConnect(MqttConnectRecord {
        version: 5,
        subscribed_topic: "t".into(),
    }));
    check(
        r,
        InvalidRecord::UnknownEnumValue {
            field: "MQTTConnectRecord.version",
            value: 5,
        },
    );
    check(
        builder().no_session_payload(bytes::Bytes::new()),
        InvalidRecord::EmptyPayload,
    );
}

#[test]
fn msgs_breaking_usp_rules_are_invalid_7004_or_unsupported_7001() {
    let limits = Limits::default();
    let decode = |msg: &Msg| codec::decode_msg(&encode_msg(msg), &limits).unwrap_err();

    let mut m = common::sample("get");
    m.header = None;
    assert_eq!(
        decode(&m),
        DecodeError::MsgInvalid(InvalidMsg::MissingHeader)
    );
    let mut m = common::sample("get");
    m.header.as_mut().unwrap().msg_id.clear();
    assert_eq!(
        decode(&m),
        DecodeError::MsgInvalid(InvalidMsg::MissingMsgId)
    );
    let mut m = common::sample("get");
    m.body = None;
    assert_eq!(decode(&m), DecodeError::MsgInvalid(InvalidMsg::MissingBody));
    let mut m = common::sample("get");
    m.body = Some(usp::Body {
        msg_body: Some(usp::body::MsgBody::Request(usp::Request { req_type: None })),
    });
    assert_eq!(
        decode(&m),
        DecodeError::MsgInvalid(InvalidMsg::EmptyOneof {
            field: "Request.req_type"
        })
    );

    // A newer message type: 7001.
    let mut m = common::sample("get");
    m.header.as_mut().unwrap().msg_type = 99;
    let err = decode(&m);
    assert_eq!(err, DecodeError::MsgUnsupported { msg_type: 99 });
    assert_eq!(err.usp_error(), 7001);

    // An AddResp result without its oper_status oneof.
    let m = codec::response_msg(
        "m",
        RespType::AddResp(usp::AddResp {
            created_obj_results: vec![usp::add_resp::CreatedObjectResult {
                requested_path: "Device.X.".into(),
                oper_status: Some(Default::default()),
            }],
        }),
    );
    let err = decode(&m);
    assert_eq!(
        err,
        DecodeError::MsgInvalid(InvalidMsg::EmptyOneof {
            field: "OperationStatus.oper_status"
        })
    );
    assert_eq!(err.usp_error(), 7004);

    // A Notify without a notification.
    let m = codec::request_msg("m", ReqType::Notify(usp::Notify::default()));
    assert_eq!(
        decode(&m),
        DecodeError::MsgInvalid(InvalidMsg::EmptyOneof {
            field: "Notify.notification"
        })
    );

    // An undefined enum value deep in a GetSupportedDMResp.
    let mut m = common::sample("get_supported_dm_resp");
    if let Some(usp::body::MsgBody::Response(usp::Response {
        resp_type: Some(RespType::GetSupportedDmResp(r)),
    })) = m.body.as_mut().unwrap().msg_body.as_mut()
    {
        r.req_obj_results[0].supported_objs[0].supported_params[0].value_type = 42;
    }
    assert_eq!(
        decode(&m),
        DecodeError::MsgInvalid(InvalidMsg::UnknownEnumValue {
            field: "SupportedParamResult.value_type",
            value: 42
        })
    );
}

#[test]
fn unknown_fields_are_tolerated() {
    let limits = Limits::default();
    let unknown: [&[u8]; 3] = [
        // Field 111, varint 1.
        &[0xF8, 0x06, 0x01],
        // Field 100, length-delimited "hi".
        &[0xA2, 0x06, 0x02, b'h', b'i'],
        // Field 100 as a group holding field 1 = 1.
        &[0xA3, 0x06, 0x08, 0x01, 0xA4, 0x06],
    ];
    let record = builder().no_session(&common::sample("set"));
    let msg = common::sample("operate");
    for extra in unknown {
        let mut bytes = encode_record(&record);
        bytes.extend_from_slice(extra);
        assert_eq!(codec::decode_record(&bytes, &limits).unwrap(), record);
        let mut bytes = encode_msg(&msg);
        bytes.extend_from_slice(extra);
        assert_eq!(codec::decode_msg(&bytes, &limits).unwrap(), msg);
    }
    // Inside a nested message too: a Header with an extra field.
    let header = usp::Header {
        msg_id: "m".into(),
        msg_type: usp::header::MsgType::Get as i32,
    };
    let mut header_bytes = header.encode_to_vec();
    header_bytes.extend_from_slice(&[0xF8, 0x06, 0x01]);
    let mut bytes = vec![0x0A, u8::try_from(header_bytes.len()).unwrap()];
    bytes.extend_from_slice(&header_bytes);
    let body = usp::Body {
        msg_body: Some(usp::body::MsgBody::Request(usp::Request {
            req_type: Some(ReqType::Get(usp::Get::default())),
        })),
    };
    let body_bytes = body.encode_to_vec();
    bytes.push(0x12);
    bytes.push(u8::try_from(body_bytes.len()).unwrap());
    bytes.extend_from_slice(&body_bytes);
    let decoded = codec::decode_msg(&bytes, &limits).unwrap();
    assert_eq!(decoded.header, Some(header));
}

#[test]
fn deep_nesting_hits_prosts_recursion_limit_not_the_stack() {
    let limits = Limits::default();
    // 100 000 nested groups (start-group tags of field 100), 200 KB.
    let bytes: Vec<u8> = std::iter::repeat_n([0xA3_u8, 0x06], 100_000)
        .flatten()
        .collect();
    let err = codec::decode_record(&bytes, &limits).unwrap_err();
    assert!(matches!(err, DecodeError::RecordUnparsable(_)), "{err:?}");
    let err = codec::decode_msg(&bytes, &limits).unwrap_err();
    assert!(matches!(err, DecodeError::MsgUnparsable(_)), "{err:?}");
    // 200 levels of field 2 inside field 2: Msg.body, Body.response, then unknown fields.
    let mut nested = vec![0x08, 0x01];
    for _ in 0..200 {
        let mut outer = vec![0x12];
        let mut len = nested.len();
        while len >= 0x80 {
            outer.push(u8::try_from(len & 0x7F).unwrap() | 0x80);
            len >>= 7;
        }
        outer.push(u8::try_from(len).unwrap());
        outer.extend_from_slice(&nested);
        nested = outer;
    }
    assert!(codec::decode_msg(&nested, &limits).is_err());
}

/// The agent's decoder reads every request, NotifyResp and Error as the full types do, to the
/// same values and back to the same bytes, and every other response as its type only.
#[test]
fn inbound_decodes_the_samples_as_the_full_types_do() {
    let limits = Limits::default();
    let mut unread = Vec::new();
    for (name, msg) in common::samples() {
        let bytes = encode_msg(&msg);
        let inbound = codec::decode_inbound_msg(&bytes, &limits).unwrap();
        assert_eq!(inbound.header, msg.header, "{name}");
        match codec::msg_from_inbound(inbound.clone()) {
            Some(read) => {
                assert_eq!(read, msg, "{name}");
                assert_eq!(inbound.encode_to_vec(), bytes, "{name}");
            }
            None => unread.push(name),
        }
    }
    assert_eq!(
        unread,
        [
            "get_resp",
            "set_resp",
            "add_resp",
            "delete_resp",
            "operate_resp",
            "get_supported_dm_resp",
            "get_instances_resp",
            "get_supported_protocol_resp",
            "register_resp",
            "deregister_resp",
        ]
    );
}

/// What breaks a rule in a request or an Error breaks it for the agent's decoder too.
#[test]
fn inbound_keeps_the_limits_and_rules() {
    let limits = Limits::default();
    let many = vec!["Device.".to_owned(); limits.max_repeated + 1];
    let mut mismatched = common::sample("notify_resp");
    mismatched.header.as_mut().unwrap().msg_type = usp::header::MsgType::GetResp as i32;
    let mut empty = common::sample("get");
    empty.body = Some(usp::Body {
        msg_body: Some(usp::body::MsgBody::Request(usp::Request { req_type: None })),
    });
    for msg in [
        codec::request_msg(
            "big",
            ReqType::Get(usp::Get {
                param_paths: many,
                max_depth: 0,
            }),
        ),
        mismatched,
        empty,
    ] {
        let bytes = encode_msg(&msg);
        let full = codec::decode_msg(&bytes, &limits).unwrap_err();
        assert_eq!(codec::decode_inbound_msg(&bytes, &limits), Err(full));
    }
    let tight = limits.with_max_msg_bytes(8);
    let bytes = encode_msg(&common::sample("get"));
    assert_eq!(
        codec::decode_inbound_msg(&bytes, &tight).unwrap_err(),
        codec::decode_msg(&bytes, &tight).unwrap_err()
    );
}

fn valid_inputs() -> Vec<Vec<u8>> {
    let mut inputs: Vec<Vec<u8>> = common::samples()
        .iter()
        .map(|(_, m)| encode_record(&builder().no_session(m)))
        .collect();
    inputs.push(encode_record(&builder().mqtt_connect(
        usp_core::usp_record::mqtt_connect_record::MqttVersion::V5,
        "usp/agent",
    )));
    inputs.push(encode_record(&builder().disconnect("bye", 7105)));
    inputs
}

proptest! {
    #[test]
    fn random_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..512)) {
        let limits = Limits::default();
        if let Ok(record) = codec::decode_record(&bytes, &limits) {
            let _ = codec::msg_from_no_session(&record, &limits);
        }
        let _ = codec::decode_msg(&bytes, &limits);
        let _ = usp_core::mtp::uds::decode_frame(&bytes, 1024);
    }

    /// Whatever the full decoder accepts the agent's accepts, with the same values (or, for a
    /// response it does not read, the same header); what the agent's refuses, so does the
    /// full one.
    #[test]
    fn mutated_msgs_decode_inbound_as_in_full(
        which in 0..29_usize,
        flips in proptest::collection::vec((any::<usize>(), any::<u8>()), 1..8),
    ) {
        let samples = common::samples();
        let mut bytes = encode_msg(&samples[which % samples.len()].1);
        for (at, value) in flips {
            let len = bytes.len();
            bytes[at % len] = value;
        }
        let limits = Limits::default();
        let full = codec::decode_msg(&bytes, &limits);
        match codec::decode_inbound_msg(&bytes, &limits) {
            Ok(inbound) => {
                if let Ok(full) = full {
                    prop_assert_eq!(&inbound.header, &full.header);
                    if let Some(read) = codec::msg_from_inbound(inbound) {
                        prop_assert_eq!(read, full);
                    }
                }
            }
            Err(e) => {
                prop_assert!((7000..8000).contains(&e.usp_error()));
                prop_assert!(full.is_err());
            }
        }
    }

    #[test]
    fn mutated_records_never_panic(
        which in 0..31_usize,
        flips in proptest::collection::vec((any::<usize>(), any::<u8>()), 1..8),
    ) {
        let inputs = valid_inputs();
        let mut bytes = inputs[which % inputs.len()].clone();
        for (at, value) in flips {
            let len = bytes.len();
            bytes[at % len] = value;
        }
        let limits = Limits::default();
        match codec::decode_record(&bytes, &limits) {
            Ok(record) => {
                if let Err(e) = codec::msg_from_no_session(&record, &limits) {
                    prop_assert!(!e.is_record_error());
                }
            }
            Err(e) => prop_assert!(e.is_record_error()),
        }
    }
}
