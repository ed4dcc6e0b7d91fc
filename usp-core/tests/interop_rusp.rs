//! Interop with rusp-lib, an independent USP codec (quick-protobuf, generated from the 1.4
//! schema by another team).
//!
//! For every Msg type (and every Notify kind) the same message is built twice: with rusp-lib's
//! builders and with our types (`common::samples`). Then both directions must agree:
//! rusp encodes → we decode → equal to our value; we encode → rusp decodes → equal to rusp's
//! value. The same holds for every record type, and for the test vector of FACTS.md §9.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

mod common;

use std::collections::{BTreeSet, HashMap};

use rusp_lib::usp as rusp;
use rusp_lib::usp_builder::*;
use rusp_lib::usp_decoder::{try_decode_msg, try_decode_record};
use rusp_lib::usp_record as rusp_record;
use usp_core::codec::{self, RecordBuilder};
use usp_core::usp::header::MsgType;
use usp_core::usp_record::{
    SessionContextRecord, mqtt_connect_record::MqttVersion, record::PayloadSecurity,
    record::RecordType, session_context_record::PayloadSarState,
    stomp_connect_record::StompVersion,
};
use usp_core::{Limits, Msg, Record};

fn s(v: &str) -> String {
    v.to_owned()
}

fn pairs(items: &[(&str, &str)]) -> Vec<(String, String)> {
    items.iter().map(|(k, v)| (s(k), s(v))).collect()
}

fn hash(items: &[(&str, &str)]) -> HashMap<String, String> {
    pairs(items).into_iter().collect()
}

/// The rusp-built twin of `common::sample(name)`.
fn rusp_body(name: &str) -> rusp::Body {
    let body = match name {
        "get" => GetBuilder::new()
            .with_params(vec![
                s("Device.DeviceInfo."),
                s("Device.LocalAgent.EndpointID"),
            ])
            .with_max_depth(2)
            .build(),
        "get_resp" => GetRespBuilder::new()
            .with_req_path_results(vec![
                GetReqPathResultBuilder::new(s("Device.DeviceInfo."))
                    .set_err(0, Some(String::new()))
                    .with_res_path_results(vec![
                        ResolvedPathResultBuilder::new(s("Device.DeviceInfo.")).with_result_params(
                            pairs(&[("Manufacturer", "ACME"), ("SerialNumber", "0123456789")]),
                        ),
                    ]),
                GetReqPathResultBuilder::new(s("Device.Nope."))
                    .set_err(7026, Some(s("Invalid path"))),
            ])
            .build(),
        "set" => SetBuilder::new()
            .with_allow_partial(true)
            .with_update_objs(vec![
                UpdateObjectBuilder::new(s("Device.LocalAgent.Controller.1.")).with_param_settings(
                    vec![
                        (s("PeriodicNotifInterval"), s("3600"), true),
                        (s("Alias"), s("cpe-1"), false),
                    ],
                ),
            ])
            .build(),
        "set_resp" => SetRespBuilder::new()
            .with_updated_obj_results(vec![
                UpdatedObjectResultsBuilder::new(
                    s("Device.LocalAgent.Controller.1."),
                    SetOperationStatus::new().set_success(vec![
                        SetOperationSuccessBuilder::new(s("Device.LocalAgent.Controller.1."))
                            .with_param_errs(vec![SetRespParameterError::new(
                                s("Alias"),
                                7012,
                                Some(s("Invalid value")),
                            )])
                            .with_updated_params(hash(&[("PeriodicNotifInterval", "3600")])),
                    ]),
                ),
                UpdatedObjectResultsBuilder::new(
                    s("Device.Foo."),
                    SetOperationStatus::new().set_failure(
                        7026,
                        Some(s("Invalid path")),
                        vec![
                            UpdatedInstanceFailureBuilder::new(s("Device.Foo.1.")).with_param_errs(
                                vec![SetRespParameterError::new(
                                    s("Bar"),
                                    7010,
                                    Some(s("Unsupported parameter")),
                                )],
                            ),
                        ],
                    ),
                ),
            ])
            .build(),
        "add" => AddBuilder::new()
            .with_allow_partial(false)
            .with_create_objs(vec![
                CreateObjectBuilder::new(s("Device.LocalAgent.Controller."))
                    .with_param_settings(vec![(s("EndpointID"), s("proto::ctrl2"), true)]),
            ])
            .build(),
        "add_resp" => AddRespBuilder::new()
            .with_created_obj_results(vec![
                CreatedObjectResultsBuilder::new(
                    s("Device.LocalAgent.Controller."),
                    AddOperationStatus::new().set_success(
                        s("Device.LocalAgent.Controller.2."),
                        vec![AddRespParameterError {
                            param: s("Alias"),
                            err_code: 7012,
                            err_msg: s("Invalid value"),
                        }],
                        hash(&[("EndpointID", "proto::ctrl2"), ("Alias", "cpe-2")]),
                    ),
                ),
                CreatedObjectResultsBuilder::new(
                    s("Device.Nope."),
                    AddOperationStatus::new().set_failure(7026, Some(s("Invalid path"))),
                ),
            ])
            .build(),
        "delete" => DeleteBuilder::new()
            .with_allow_partial(true)
            .with_obj_paths(vec![
                s("Device.LocalAgent.Controller.2."),
                s("Device.LocalAgent.Subscription.*."),
            ])
            .build(),
        "delete_resp" => DeleteRespBuilder::new()
            .with_deleted_obj_results(vec![
                DeletedObjectResultsBuilder::new(s("Device.LocalAgent.Controller.2.")).set_success(
                    vec![s("Device.LocalAgent.Controller.2.")],
                    vec![DeleteRespUnaffectedPathError {
                        unaffected_path: s("Device.LocalAgent.Controller.3."),
                        err_code: 7024,
                        err_msg: s("Delete failure"),
                    }],
                ),
                DeletedObjectResultsBuilder::new(s("Device.Nope."))
                    .set_failure(7026, Some(s("Invalid path"))),
            ])
            .build(),
        "operate" => OperateBuilder::new(s("Device.IP.Diagnostics.IPPing()"))
            .with_command_key(s("ping-1"))
            .with_send_resp(true)
            .with_input_args(pairs(&[
                ("Host", "192.0.2.1"),
                ("NumberOfRepetitions", "3"),
            ]))
            .build(),
        "operate_resp" => OperateRespBuilder::new()
            .with_operation_results(vec![
                OperateRespResultBuilder::new(s("Device.IP.Diagnostics.IPPing()"))
                    .set_path(s("Device.LocalAgent.Request.1.")),
                OperateRespResultBuilder::new(s("Device.WiFi.Reset()"))
                    .set_output_args(pairs(&[("Status", "Complete")])),
                OperateRespResultBuilder::new(s("Device.Reboot()"))
                    .set_failure(7022, Some(s("Command failure"))),
            ])
            .build(),
        "notify_event" => NotifyBuilder::new(s("sub-boot"))
            .with_send_resp(true)
            .with_event(
                s("Device."),
                s("Boot!"),
                hash(&[("CommandKey", "ck-1"), ("Cause", "LocalReboot")]),
            )
            .build(),
        "notify_value_change" => NotifyBuilder::new(s("sub-vc"))
            .with_send_resp(false)
            .with_value_change(s("Device.DeviceInfo.UpTime"), s("42"))
            .build(),
        "notify_obj_creation" => NotifyBuilder::new(s("sub-oc"))
            .with_send_resp(true)
            .with_object_creation(
                s("Device.LocalAgent.Subscription.3."),
                hash(&[("ID", "sub-3"), ("Alias", "cpe-3")]),
            )
            .build(),
        "notify_obj_deletion" => NotifyBuilder::new(s("sub-od"))
            .with_send_resp(false)
            .with_object_deletion(s("Device.LocalAgent.Subscription.3."))
            .build(),
        "notify_oper_complete_output" => NotifyBuilder::new(s("sub-op"))
            .with_send_resp(true)
            .with_operation_complete_output_args(
                s("Device.IP.Diagnostics."),
                s("IPPing()"),
                s("ping-1"),
                hash(&[("AverageResponseTime", "12"), ("SuccessCount", "3")]),
            )
            .build(),
        "notify_oper_complete_failure" => NotifyBuilder::new(s("sub-op"))
            .with_send_resp(true)
            .with_operation_complete_cmd_failure(
                s("Device.IP.Diagnostics."),
                s("IPPing()"),
                s("ping-2"),
                7022,
                s("Command failure"),
            )
            .build(),
        "notify_on_board_req" => NotifyBuilder::new(String::new())
            .with_send_resp(true)
            .with_onboard_request(s("00256D"), s("Gateway"), s("0123456789"), s("1.3,1.4"))
            .build(),
        "notify_resp" => NotifyRespBuilder::new(s("sub-boot")).build(),
        "get_supported_dm" => GetSupportedDMBuilder::new()
            .with_obj_paths(vec![s("Device.WiFi.")])
            .with_first_level_only(true)
            .with_return_commands(true)
            .with_return_events(true)
            .with_return_params(true)
            .with_return_unique_key_sets(true)
            .build(),
        "get_supported_dm_resp" => GetSupportedDMRespBuilder::new()
            .with_req_obj_results(vec![
                GSDMReqObjectResultBuilder::new(s("Device.WiFi."))
                    .set_err(0, Some(String::new()))
                    .with_data_model_inst_uri(s("urn:broadband-forum-org:tr-181-2-19-1"))
                    .with_supported_objs(vec![
                        GSDMSupportedObjectResultBuilder::new(s("Device.WiFi.Radio.{i}."))
                            .set_access_add_delete()
                            .with_is_multi_instance(true)
                            .with_supported_commands(vec![
                                GSDMCommandResult::new(s("Reset()")).set_sync(),
                                GSDMCommandResult::new(s("NeighboringWiFiDiagnostic()"))
                                    .with_input_arg_names(vec![s("Radio")])
                                    .with_output_arg_names(vec![s("Status"), s("Result.{i}.SSID")])
                                    .set_async(),
                            ])
                            .with_supported_events(vec![
                                GSDMEventResult::new(s("Boot!")).with_arg_names(vec![s("Cause")]),
                            ])
                            .with_supported_params(vec![
                                GSDMParamResult::new(s("Enable"))
                                    .set_access_read_write()
                                    .set_type_boolean()
                                    .set_value_change_allowed(),
                                GSDMParamResult::new(s("Channel"))
                                    .set_access_read_only()
                                    .set_type_unsigned_int()
                                    .set_value_change_will_ignore(),
                            ])
                            .with_divergent_paths(vec![s("Device.WiFi.Radio.1.")])
                            .with_unique_key_sets(vec![vec![s("Alias")], vec![s("Name")]]),
                    ]),
            ])
            .build(),
        "get_instances" => GetInstancesBuilder::new()
            .with_obj_paths(vec![s("Device.LocalAgent.Controller.")])
            .with_first_level_only(false)
            .build(),
        "get_instances_resp" => GetInstancesRespBuilder::new()
            .with_req_path_results(vec![
                GetInstancesRespReqPathResultBuilder::new(s("Device.LocalAgent.Controller."))
                    .set_err(0, Some(String::new()))
                    .with_curr_insts(vec![
                        CurrInstanceBuilder::new(s("Device.LocalAgent.Controller.1."))
                            .with_unique_keys(pairs(&[
                                ("EndpointID", "proto::ctrl"),
                                ("Alias", "cpe-1"),
                            ])),
                        CurrInstanceBuilder::new(s("Device.LocalAgent.Controller.1.MTP.1."))
                            .with_unique_keys(pairs(&[("Alias", "cpe-1")])),
                    ]),
            ])
            .build(),
        "get_supported_protocol" => GetSupportedProtocolBuilder::new(s("1.3,1.4,1.5")).build(),
        "get_supported_protocol_resp" => GetSupportedProtocolRespBuilder::new(s("1.3,1.4")).build(),
        "register" => RegisterBuilder::new()
            .with_allow_partial(true)
            .with_reg_paths(vec![s("Device.X_ACME_Service."), s("Device.X_ACME_Other.")])
            .build(),
        "register_resp" => RegisterRespBuilder::new()
            .with_registered_path_results(vec![
                RegisteredPathResultBuilder::new(s("Device.X_ACME_Service."))
                    .set_success(s("Device.X_ACME_Service.")),
                RegisteredPathResultBuilder::new(s("Device.DeviceInfo."))
                    .set_failure(7029, Some(s("Already in use"))),
            ])
            .build(),
        "deregister" => DeregisterBuilder::new()
            .with_paths(vec![s("Device.X_ACME_Service.")])
            .build(),
        "deregister_resp" => DeregisterRespBuilder::new()
            .with_deregistered_path_results(vec![
                DeregisteredPathResultBuilder::new(s("Device.X_ACME_Service."))
                    .set_success(vec![s("Device.X_ACME_Service.")]),
                DeregisteredPathResultBuilder::new(s("Device.Foo."))
                    .set_failure(7030, Some(s("Deregister failure"))),
            ])
            .build(),
        "error" => ErrorBuilder::new()
            .set_err(7004, Some(s("Invalid arguments")))
            .with_param_errs(vec![(
                s("Device.LocalAgent.Controller.1.Alias"),
                7012,
                s("Invalid value"),
            )])
            .build(),
        other => panic!("no rusp twin for {other}"),
    };
    body.unwrap()
}

fn rusp_msg(name: &str) -> rusp::Msg {
    MsgBuilder::new()
        .with_msg_id(s(name))
        .with_body(rusp_body(name))
        .build()
        .unwrap()
}

fn encode_ours(msg: &Msg) -> Vec<u8> {
    let mut out = Vec::new();
    codec::encode_msg(msg, &mut out);
    out
}

fn encode_our_record(record: &Record) -> Vec<u8> {
    let mut out = Vec::new();
    codec::encode_record(record, &mut out);
    out
}

#[test]
fn samples_cover_every_msg_type_and_notify_kind() {
    let types: BTreeSet<i32> = common::samples()
        .iter()
        .map(|(_, m)| m.header.as_ref().unwrap().msg_type)
        .collect();
    let all: BTreeSet<i32> = (0..=22).collect();
    assert_eq!(types, all, "one sample per MsgType 0..=22");
    let notify_kinds = common::samples()
        .iter()
        .filter(|(_, m)| m.header.as_ref().unwrap().msg_type == MsgType::Notify as i32)
        .count();
    // Event, ValueChange, ObjectCreation, ObjectDeletion, OperationComplete (output and
    // failure), OnBoardRequest.
    assert_eq!(notify_kinds, 7);
}

#[test]
fn every_msg_built_by_rusp_decodes_with_ours_into_equal_values() {
    for (name, ours) in common::samples() {
        let theirs = rusp_msg(name);
        let bytes = theirs.to_vec().unwrap();
        let decoded = codec::decode_msg(&bytes, &Limits::default())
            .unwrap_or_else(|e| panic!("{name}: our decoder refused rusp's bytes: {e}"));
        assert_eq!(decoded, ours, "{name}: rusp → ours");
        // The header is what rusp derived from the body.
        let header = decoded.header.unwrap();
        assert_eq!(header.msg_id, name);
        assert_eq!(
            header.msg_type,
            theirs.header.as_ref().unwrap().msg_type as i32,
            "{name}: msg_type"
        );
    }
}

#[test]
fn every_msg_built_by_us_decodes_with_rusp_into_equal_values() {
    for (name, ours) in common::samples() {
        let bytes = encode_ours(&ours);
        let decoded = try_decode_msg(&bytes)
            .unwrap_or_else(|e| panic!("{name}: rusp refused our bytes: {e:#}"));
        assert_eq!(decoded, rusp_msg(name), "{name}: ours → rusp");
        // And rusp's re-encoding comes back to our value.
        let again = codec::decode_msg(&decoded.to_vec().unwrap(), &Limits::default()).unwrap();
        assert_eq!(again, ours, "{name}: ours → rusp → ours");
    }
}

#[test]
fn fixed32_fields_carry_the_same_values() {
    // max_depth and err_code are fixed32: a varint mix-up would show as a wrong value here.
    let get = codec::decode_msg(&rusp_msg("get").to_vec().unwrap(), &Limits::default()).unwrap();
    let Some(usp_core::usp::body::MsgBody::Request(req)) = get.body.unwrap().msg_body else {
        panic!("not a request")
    };
    let Some(usp_core::usp::request::ReqType::Get(get)) = req.req_type else {
        panic!("not a Get")
    };
    assert_eq!(get.max_depth, 2);

    let error =
        codec::decode_msg(&rusp_msg("error").to_vec().unwrap(), &Limits::default()).unwrap();
    let Some(usp_core::usp::body::MsgBody::Error(error)) = error.body.unwrap().msg_body else {
        panic!("not an Error")
    };
    assert_eq!(error.err_code, 7004);
    assert_eq!(error.param_errs[0].err_code, 7012);
}

/// The pairs of Records that must agree: (name, rusp's, ours).
fn record_pairs() -> Vec<(String, rusp_record::Record, Record)> {
    let rusp_base = || {
        rusp_lib::usp_builder::RecordBuilder::new()
            .with_version(s("1.4"))
            .with_to_id(s("proto::agent"))
            .with_from_id(s("proto::ctrl"))
    };
    let ours = RecordBuilder::new("proto::agent", "proto::ctrl");
    let mut pairs = Vec::new();
    for (name, msg) in common::samples() {
        pairs.push((
            format!("no_session_context/{name}"),
            rusp_base()
                .with_no_session_context_payload(&rusp_msg(name))
                .build()
                .unwrap(),
            ours.no_session(&msg),
        ));
    }
    let get = common::sample("get");
    let mut session = ours.no_session(&get);
    session.payload_security = PayloadSecurity::Tls12 as i32;
    session.mac_signature = vec![0xAB; 32];
    session.sender_cert = b"-----BEGIN CERTIFICATE-----".to_vec();
    session.record_type = Some(RecordType::SessionContext(SessionContextRecord {
        session_id: 0x1234_5678_9ABC,
        sequence_id: 1,
        expected_id: 1,
        retransmit_id: 0,
        payload_sar_state: PayloadSarState::None as i32,
        payloadrec_sar_state: PayloadSarState::None as i32,
        payload: vec![encode_ours(&get).into()],
    }));
    pairs.push((
        s("session_context"),
        rusp_base()
            .with_payload_security_tls12()
            .with_mac_signature(vec![0xAB; 32])
            .with_sender_cert(b"-----BEGIN CERTIFICATE-----".to_vec())
            .with_session_context_builder(
                SessionContextBuilder::new()
                    .with_session_id(0x1234_5678_9ABC)
                    .with_sequence_id(1)
                    .with_expected_id(1)
                    .with_payload(rusp_msg("get").to_vec().unwrap()),
            )
            .build()
            .unwrap(),
        session,
    ));
    pairs.push((
        s("websocket_connect"),
        rusp_base().as_websocket_connect_record().build().unwrap(),
        ours.websocket_connect(),
    ));
    pairs.push((
        s("mqtt_connect"),
        rusp_base()
            .as_mqtt_connect_record(
                rusp_record::mod_MQTTConnectRecord::MQTTVersion::V5,
                s("usp/agent/reply"),
            )
            .build()
            .unwrap(),
        ours.mqtt_connect(MqttVersion::V5, "usp/agent/reply"),
    ));
    pairs.push((
        s("mqtt_connect_v311"),
        rusp_base()
            .as_mqtt_connect_record(
                rusp_record::mod_MQTTConnectRecord::MQTTVersion::V3_1_1,
                s("usp/agent/old"),
            )
            .build()
            .unwrap(),
        ours.mqtt_connect(MqttVersion::V311, "usp/agent/old"),
    ));
    pairs.push((
        s("stomp_connect"),
        rusp_base()
            .as_stomp_connect_record(
                rusp_record::mod_STOMPConnectRecord::STOMPVersion::V1_2,
                s("/queue/agent"),
            )
            .build()
            .unwrap(),
        ours.stomp_connect(StompVersion::V12, "/queue/agent"),
    ));
    pairs.push((
        s("uds_connect"),
        rusp_base().as_uds_connect_record().build().unwrap(),
        ours.uds_connect(),
    ));
    pairs.push((
        s("disconnect"),
        rusp_base()
            .as_disconnect_record(s("Session Context terminated"), 7105)
            .build()
            .unwrap(),
        ours.disconnect("Session Context terminated", 7105),
    ));
    pairs
}

/// Replaces Msg payloads (whose map order may differ between codecs) by empty ones, returning
/// the payloads decoded with our decoder.
fn split_payloads(record: &mut Record) -> Vec<Msg> {
    match &mut record.record_type {
        Some(RecordType::NoSessionContext(r)) => {
            let msg = codec::decode_msg(&r.payload, &Limits::default()).unwrap();
            r.payload = bytes::Bytes::new();
            vec![msg]
        }
        Some(RecordType::SessionContext(r)) => {
            let msgs = r
                .payload
                .iter()
                .map(|p| codec::decode_msg(p, &Limits::default()).unwrap())
                .collect();
            r.payload.clear();
            msgs
        }
        _ => vec![],
    }
}

fn split_rusp_payloads(record: &mut rusp_record::Record) -> Vec<rusp::Msg> {
    use rusp_record::mod_Record::OneOfrecord_type;
    match &mut record.record_type {
        OneOfrecord_type::no_session_context(r) => {
            let msg = try_decode_msg(&r.payload).unwrap();
            r.payload.clear();
            vec![msg]
        }
        OneOfrecord_type::session_context(r) => {
            let msgs = r
                .payload
                .iter()
                .map(|p| try_decode_msg(p).unwrap())
                .collect();
            r.payload.clear();
            msgs
        }
        _ => vec![],
    }
}

#[test]
fn every_record_built_by_rusp_decodes_with_ours_into_equal_values() {
    let limits = Limits::default();
    for (name, theirs, ours) in record_pairs() {
        let bytes = theirs.to_vec().unwrap();
        let mut decoded = codec::decode_record(&bytes, &limits)
            .unwrap_or_else(|e| panic!("{name}: our decoder refused rusp's record: {e}"));
        if let Some(msg) = codec::msg_from_no_session(&decoded, &limits).unwrap() {
            assert_eq!(
                msg.header.as_ref().unwrap().msg_id,
                name.rsplit('/').next().unwrap()
            );
        }
        let mut expected = ours.clone();
        assert_eq!(
            split_payloads(&mut decoded),
            split_payloads(&mut expected),
            "{name}"
        );
        assert_eq!(decoded, expected, "{name}: rusp → ours");
    }
}

#[test]
fn every_record_built_by_us_decodes_with_rusp_into_equal_values() {
    for (name, theirs, ours) in record_pairs() {
        let bytes = encode_our_record(&ours);
        let mut decoded = try_decode_record(&bytes)
            .unwrap_or_else(|e| panic!("{name}: rusp refused our record: {e:#}"));
        decoded.check_validity().unwrap();
        let mut expected = theirs.clone();
        assert_eq!(
            split_rusp_payloads(&mut decoded),
            split_rusp_payloads(&mut expected),
            "{name}"
        );
        assert_eq!(decoded, expected, "{name}: ours → rusp");
    }
}

#[test]
fn usp_1_5_record_fields_are_skipped_by_a_1_4_decoder() {
    // rusp-lib 1.0.1 knows the 1.4 schema only: originator_id (14) and destination_id (15) are
    // unknown fields to it, and everything else must still come through.
    let record = RecordBuilder::new("proto::agent", "proto::broker")
        .with_originator_id("proto::ctrl")
        .with_destination_id("proto::service")
        .websocket_connect();
    let bytes = encode_our_record(&record);
    let theirs = try_decode_record(&bytes).unwrap();
    assert_eq!(theirs.to_id, "proto::agent");
    assert_eq!(theirs.from_id, "proto::broker");
    let back = codec::decode_record(&theirs.to_vec().unwrap(), &Limits::default()).unwrap();
    // Re-encoded by a 1.4 codec, the two fields are gone and nothing else changed.
    let mut expected = record.clone();
    expected.originator_id.clear();
    expected.destination_id.clear();
    assert_eq!(back, expected);
    // Our own decoder keeps them.
    assert_eq!(
        codec::decode_record(&bytes, &Limits::default()).unwrap(),
        record
    );
}

fn fixture_vector() -> Vec<u8> {
    let text = std::fs::read_to_string(
        std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("tests/fixtures/usp/facts9_get_no_session.hex"),
    )
    .unwrap();
    let hex: String = text
        .lines()
        .filter(|l| !l.starts_with('#'))
        .flat_map(|l| l.chars())
        .filter(|c| !c.is_whitespace())
        .collect();
    (0..hex.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&hex[i..i + 2], 16).unwrap())
        .collect()
}

#[test]
fn facts_test_vector_decodes_to_the_documented_values() {
    let bytes = fixture_vector();
    let limits = Limits::default();
    let record = codec::decode_record(&bytes, &limits).unwrap();
    assert_eq!(record.version, "1.4");
    assert_eq!(record.to_id, "proto::agent");
    assert_eq!(record.from_id, "proto::ctrl");
    let msg = codec::msg_from_no_session(&record, &limits)
        .unwrap()
        .unwrap();
    let expected = codec::request_msg(
        "probe-1",
        usp_core::usp::request::ReqType::Get(usp_core::usp::Get {
            param_paths: vec![s("Device.DeviceInfo.")],
            max_depth: 1,
        }),
    );
    assert_eq!(msg, expected);
    // The vector ends in `15 01000000`: max_depth as fixed32.
    assert_eq!(&bytes[bytes.len() - 5..], &[0x15, 1, 0, 0, 0]);

    // Our encoder reproduces it byte for byte, and so does rusp.
    let ours = RecordBuilder::new("proto::agent", "proto::ctrl").no_session(&expected);
    assert_eq!(encode_our_record(&ours), bytes);
    let theirs = rusp_lib::usp_builder::RecordBuilder::new()
        .with_version(s("1.4"))
        .with_to_id(s("proto::agent"))
        .with_from_id(s("proto::ctrl"))
        .with_no_session_context_payload(
            &MsgBuilder::new()
                .with_msg_id(s("probe-1"))
                .with_body(
                    GetBuilder::new()
                        .with_params(vec![s("Device.DeviceInfo.")])
                        .with_max_depth(1)
                        .build()
                        .unwrap(),
                )
                .build()
                .unwrap(),
        )
        .build()
        .unwrap();
    assert_eq!(theirs.to_vec().unwrap(), bytes);

    // "The same with uds_connect instead ends in …6a00."
    let uds = encode_our_record(&RecordBuilder::new("proto::agent", "proto::ctrl").uds_connect());
    assert_eq!(&uds[uds.len() - 2..], &[0x6a, 0x00]);
    assert_eq!(&uds[..uds.len() - 2], &bytes[..uds.len() - 2]);
}
