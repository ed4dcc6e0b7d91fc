//! Property tests: decode(encode(x)) == x for Records of every type and for several Msg kinds,
//! encoding is deterministic, rusp-lib reads the same values back, and the agent's decoder
//! (`usp_inbound`) reads the same values as the full one.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use std::collections::BTreeMap;

use proptest::prelude::*;
use usp_core::codec;
use usp_core::usp::{self, request::ReqType, response::RespType};
use usp_core::usp_record::{
    DisconnectRecord, MqttConnectRecord, NoSessionContextRecord, SessionContextRecord,
    StompConnectRecord, UdsConnectRecord, WebSocketConnectRecord, record::RecordType,
};
use usp_core::{Limits, Msg, Record};

fn endpoint_id() -> impl Strategy<Value = String> {
    "(os|self|proto|oui|uuid)::[A-Za-z0-9._-]{1,24}"
}

fn path() -> impl Strategy<Value = String> {
    "Device\\.[A-Za-z0-9_.*{}\\[\\]=\"&+#-]{0,60}"
}

fn text() -> impl Strategy<Value = String> {
    // Any Unicode, including the empty string.
    ".{0,24}"
}

fn bytes(max: usize) -> impl Strategy<Value = Vec<u8>> {
    prop::collection::vec(any::<u8>(), 0..max)
}

fn string_map() -> impl Strategy<Value = BTreeMap<String, String>> {
    prop::collection::btree_map("[A-Za-z][A-Za-z0-9.]{0,16}", text(), 0..5)
}

fn paths() -> impl Strategy<Value = Vec<String>> {
    prop::collection::vec(path(), 0..5)
}

fn record_type() -> impl Strategy<Value = RecordType> {
    prop_oneof![
        bytes(64).prop_filter_map("payload must not be empty", |p| {
            (!p.is_empty())
                .then(|| RecordType::NoSessionContext(NoSessionContextRecord { payload: p.into() }))
        }),
        (
            any::<[u64; 4]>(),
            0..4_i32,
            0..4_i32,
            prop::collection::vec(bytes(32), 0..4)
        )
            .prop_map(|(ids, sar, rec_sar, payload)| {
                RecordType::SessionContext(SessionContextRecord {
                    session_id: ids[0],
                    sequence_id: ids[1],
                    expected_id: ids[2],
                    retransmit_id: ids[3],
                    payload_sar_state: sar,
                    payloadrec_sar_state: rec_sar,
                    payload: payload.into_iter().map(Into::into).collect(),
                })
            }),
        Just(RecordType::WebsocketConnect(WebSocketConnectRecord {})),
        (0..2_i32, text()).prop_map(|(version, subscribed_topic)| {
            RecordType::MqttConnect(MqttConnectRecord {
                version,
                subscribed_topic,
            })
        }),
        text().prop_map(|subscribed_destination| {
            RecordType::StompConnect(StompConnectRecord {
                version: 0,
                subscribed_destination,
            })
        }),
        (text(), any::<u32>()).prop_map(|(reason, reason_code)| {
            RecordType::Disconnect(DisconnectRecord {
                reason,
                reason_code,
            })
        }),
        Just(RecordType::UdsConnect(UdsConnectRecord {})),
    ]
}

fn record() -> impl Strategy<Value = Record> {
    (
        "[0-9]\\.[0-9]{1,2}",
        endpoint_id(),
        endpoint_id(),
        prop_oneof![Just(String::new()), endpoint_id()],
        prop_oneof![Just(String::new()), endpoint_id()],
        0..2_i32,
        bytes(16),
        bytes(16),
        record_type(),
    )
        .prop_map(
            |(
                version,
                to_id,
                from_id,
                originator_id,
                destination_id,
                payload_security,
                mac_signature,
                sender_cert,
                record_type,
            )| Record {
                version,
                to_id,
                from_id,
                originator_id,
                destination_id,
                payload_security,
                mac_signature,
                sender_cert,
                record_type: Some(record_type),
            },
        )
}

fn request() -> impl Strategy<Value = ReqType> {
    use usp::notify::{self, Notification};

    let set = prop::collection::vec(
        (
            path(),
            prop::collection::vec(("[A-Za-z]{1,12}", text(), any::<bool>()), 0..4),
        ),
        0..3,
    );
    let notification = prop_oneof![
        (path(), "[A-Za-z]{1,12}!", string_map()).prop_map(|(obj_path, event_name, params)| {
            Notification::Event(notify::Event {
                obj_path,
                event_name,
                params,
            })
        }),
        (path(), text()).prop_map(|(param_path, param_value)| {
            Notification::ValueChange(notify::ValueChange {
                param_path,
                param_value,
            })
        }),
        (path(), string_map()).prop_map(|(obj_path, unique_keys)| {
            Notification::ObjCreation(notify::ObjectCreation {
                obj_path,
                unique_keys,
            })
        }),
        path().prop_map(|obj_path| Notification::ObjDeletion(notify::ObjectDeletion { obj_path })),
        (path(), text(), string_map(), any::<Option<u32>>()).prop_map(
            |(obj_path, command_key, output_args, failure)| {
                use notify::operation_complete::{CommandFailure, OperationResp, OutputArgs};
                Notification::OperComplete(notify::OperationComplete {
                    obj_path,
                    command_name: "Run()".into(),
                    command_key,
                    operation_resp: Some(match failure {
                        Some(err_code) => OperationResp::CmdFailure(CommandFailure {
                            err_code,
                            err_msg: "failed".into(),
                        }),
                        None => OperationResp::ReqOutputArgs(OutputArgs { output_args }),
                    }),
                })
            }
        ),
        (text(), text(), text()).prop_map(|(oui, product_class, serial_number)| {
            Notification::OnBoardReq(notify::OnBoardRequest {
                oui,
                product_class,
                serial_number,
                agent_supported_protocol_versions: "1.3,1.4".into(),
            })
        }),
    ];
    prop_oneof![
        (paths(), any::<u32>()).prop_map(|(param_paths, max_depth)| {
            ReqType::Get(usp::Get {
                param_paths,
                max_depth,
            })
        }),
        (any::<bool>(), set).prop_map(|(allow_partial, objs)| {
            ReqType::Set(usp::Set {
                allow_partial,
                update_objs: objs
                    .into_iter()
                    .map(|(obj_path, settings)| usp::set::UpdateObject {
                        obj_path,
                        param_settings: settings
                            .into_iter()
                            .map(|(param, value, required)| usp::set::UpdateParamSetting {
                                param,
                                value,
                                required,
                            })
                            .collect(),
                    })
                    .collect(),
            })
        }),
        (path(), text(), any::<bool>(), string_map()).prop_map(
            |(command, command_key, send_resp, input_args)| {
                ReqType::Operate(usp::Operate {
                    command,
                    command_key,
                    send_resp,
                    input_args,
                })
            }
        ),
        (text(), any::<bool>(), notification).prop_map(
            |(subscription_id, send_resp, notification)| {
                ReqType::Notify(usp::Notify {
                    subscription_id,
                    send_resp,
                    notification: Some(notification),
                })
            }
        ),
        (any::<bool>(), paths()).prop_map(|(allow_partial, obj_paths)| {
            ReqType::Delete(usp::Delete {
                allow_partial,
                obj_paths,
            })
        }),
    ]
}

fn get_resp() -> impl Strategy<Value = RespType> {
    use usp::get_resp::{RequestedPathResult, ResolvedPathResult};

    prop::collection::vec(
        (
            path(),
            any::<u32>(),
            text(),
            prop::collection::vec((path(), string_map()), 0..3),
        ),
        0..3,
    )
    .prop_map(|results| {
        RespType::GetResp(usp::GetResp {
            req_path_results: results
                .into_iter()
                .map(
                    |(requested_path, err_code, err_msg, resolved)| RequestedPathResult {
                        requested_path,
                        err_code,
                        err_msg,
                        resolved_path_results: resolved
                            .into_iter()
                            .map(|(resolved_path, result_params)| ResolvedPathResult {
                                resolved_path,
                                result_params,
                            })
                            .collect(),
                    },
                )
                .collect(),
        })
    })
}

fn msg() -> impl Strategy<Value = Msg> {
    let msg_id = "[A-Za-z0-9-]{1,20}";
    prop_oneof![
        (msg_id, request()).prop_map(|(id, req)| codec::request_msg(id, req)),
        (msg_id, get_resp()).prop_map(|(id, resp)| codec::response_msg(id, resp)),
        (
            msg_id,
            any::<u32>(),
            text(),
            prop::collection::vec((path(), any::<u32>(), text()), 0..3)
        )
            .prop_map(|(id, err_code, err_msg, params)| {
                codec::error_msg(
                    id,
                    usp::Error {
                        err_code,
                        err_msg,
                        param_errs: params
                            .into_iter()
                            .map(|(param_path, err_code, err_msg)| usp::error::ParamError {
                                param_path,
                                err_code,
                                err_msg,
                            })
                            .collect(),
                    },
                )
            }),
    ]
}

proptest! {
    #[test]
    fn records_round_trip(record in record()) {
        let mut bytes = Vec::new();
        codec::encode_record(&record, &mut bytes);
        let decoded = codec::decode_record(&bytes, &Limits::default()).unwrap();
        prop_assert_eq!(&decoded, &record);
        let mut again = Vec::new();
        codec::encode_record(&decoded, &mut again);
        prop_assert_eq!(again, bytes);
    }

    #[test]
    fn msgs_round_trip(msg in msg()) {
        let mut bytes = Vec::new();
        codec::encode_msg(&msg, &mut bytes);
        let decoded = codec::decode_msg(&bytes, &Limits::default()).unwrap();
        prop_assert_eq!(&decoded, &msg);
        let mut again = Vec::new();
        codec::encode_msg(&decoded, &mut again);
        prop_assert_eq!(again, bytes);
    }

    #[test]
    fn msgs_in_records_round_trip(msg in msg(), to in endpoint_id(), from in endpoint_id()) {
        let record = codec::RecordBuilder::new(to, from).no_session(&msg);
        let mut bytes = Vec::new();
        codec::encode_record(&record, &mut bytes);
        let limits = Limits::default();
        let decoded = codec::decode_record(&bytes, &limits).unwrap();
        prop_assert_eq!(&decoded, &record);
        prop_assert_eq!(codec::msg_from_no_session(&decoded, &limits).unwrap(), Some(msg));
    }

    /// The agent's decoder reads requests and Errors to the same values as the full one, and
    /// a GetResp as its type only.
    #[test]
    fn msgs_decode_inbound_to_the_same_values(msg in msg()) {
        let mut bytes = Vec::new();
        codec::encode_msg(&msg, &mut bytes);
        let inbound = codec::decode_inbound_msg(&bytes, &Limits::default()).unwrap();
        prop_assert_eq!(&inbound.header, &msg.header);
        let is_get_resp = matches!(
            msg.body.as_ref().and_then(|b| b.msg_body.as_ref()),
            Some(usp::body::MsgBody::Response(_))
        );
        let expected = if is_get_resp { None } else { Some(msg) };
        prop_assert_eq!(codec::msg_from_inbound(inbound), expected);
    }

    /// rusp-lib (another codec) decodes what we encode, and its re-encoding decodes with ours
    /// to the same value.
    #[test]
    fn rusp_reads_back_the_same_values(msg in msg(), record in record()) {
        let limits = Limits::default();
        let mut bytes = Vec::new();
        codec::encode_msg(&msg, &mut bytes);
        let theirs = rusp_lib::usp_decoder::try_decode_msg(&bytes).unwrap();
        let back = codec::decode_msg(&theirs.to_vec().unwrap(), &limits).unwrap();
        prop_assert_eq!(back, msg);

        let mut bytes = Vec::new();
        codec::encode_record(&record, &mut bytes);
        let theirs = rusp_lib::usp_decoder::try_decode_record(&bytes).unwrap();
        let back = codec::decode_record(&theirs.to_vec().unwrap(), &limits).unwrap();
        // rusp-lib knows USP 1.4, so the two 1.5 fields do not survive its re-encoding.
        let mut expected = record;
        expected.originator_id.clear();
        expected.destination_id.clear();
        prop_assert_eq!(back, expected);
    }
}
