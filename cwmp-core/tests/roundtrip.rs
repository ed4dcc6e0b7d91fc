//! Property tests: `decode(encode(x)) == x` for every message kind, in any namespace, with any
//! header entries the encoder writes, and with strings full of markup characters, carriage
//! returns and non-ASCII text.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use std::num::NonZeroU32;

use cwmp_core::codec::*;
use proptest::collection::vec;
use proptest::option;
use proptest::prelude::*;
use proptest::test_runner::FileFailurePersistence;

/// Cases per message kind: 40, or `PROPTEST_CASES` when set (for a longer local run).
fn config() -> ProptestConfig {
    let cases = std::env::var("PROPTEST_CASES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(40);
    ProptestConfig {
        cases,
        failure_persistence: Some(Box::new(FileFailurePersistence::Direct(
            "proptest-regressions/roundtrip.txt",
        ))),
        ..ProptestConfig::default()
    }
}

/// Text that XML can carry, with markup characters, whitespace and non-ASCII, at most
/// `max` characters (and at most 12, to keep cases fast).
fn text(max: usize) -> BoxedStrategy<String> {
    let n = max.min(12);
    proptest::string::string_regex(&format!(
        "[ -~\t\n\r\u{a0}\u{e9}\u{4e2d}\u{1f600}\u{fffd}&<>\"']{{0,{n}}}"
    ))
    .unwrap()
    .boxed()
}

fn any_text() -> BoxedStrategy<String> {
    text(usize::MAX)
}

fn status() -> impl Strategy<Value = Status> {
    prop_oneof![Just(Status::Applied), Just(Status::Pending)]
}

fn notification() -> impl Strategy<Value = Notification> {
    (0..=6i32).prop_map(|v| Notification::from_value(v).unwrap())
}

fn transfer_state() -> impl Strategy<Value = TransferState> {
    (1..=3i32).prop_map(|v| TransferState::from_value(v).unwrap())
}

fn value_type() -> impl Strategy<Value = Option<ValueType>> {
    option::of(prop_oneof![
        Just(ValueType::Base64),
        Just(ValueType::Boolean),
        Just(ValueType::DateTime),
        Just(ValueType::Decimal),
        Just(ValueType::HexBinary),
        Just(ValueType::Int),
        Just(ValueType::Long),
        Just(ValueType::String),
        Just(ValueType::UnsignedInt),
        Just(ValueType::UnsignedLong),
        Just(ValueType::Other("xsd:anyURI".into())),
        Just(ValueType::Other("cwmp:X_ACME_Type".into())),
        Just(ValueType::Other("soap-enc:Struct".into())),
    ])
}

fn parameter_value() -> impl Strategy<Value = ParameterValue> {
    (text(256), any_text(), value_type()).prop_map(|(name, value, value_type)| ParameterValue {
        name,
        value,
        value_type,
    })
}

fn event_code() -> impl Strategy<Value = EventCode> {
    prop_oneof![
        Just(EventCode::Bootstrap),
        Just(EventCode::Boot),
        Just(EventCode::Periodic),
        Just(EventCode::ValueChange),
        Just(EventCode::ConnectionRequest),
        Just(EventCode::TransferComplete),
        Just(EventCode::Heartbeat),
        Just(EventCode::MReboot),
        Just(EventCode::MChangeDuState),
        text(64).prop_map(|s| EventCode::from_wire(&s)),
    ]
}

fn transfer_fault() -> impl Strategy<Value = TransferFault> {
    let code = prop_oneof![
        Just(0u32),
        9001..=9002u32,
        9010..=9012u32,
        9014..=9020u32,
        9033..=9899u32
    ];
    (code, text(256)).prop_map(|(fault_code, fault_string)| TransferFault {
        fault_code,
        fault_string,
    })
}

fn du_fault() -> impl Strategy<Value = DeploymentUnitFault> {
    let code = prop_oneof![
        Just(0u32),
        Just(9001u32),
        Just(9003u32),
        9012..=9013u32,
        9015..=9018u32,
        9022..=9899u32
    ];
    (code, any_text()).prop_map(|(fault_code, fault_string)| DeploymentUnitFault {
        fault_code,
        fault_string,
    })
}

fn du_state() -> impl Strategy<Value = DeploymentUnitState> {
    prop_oneof![
        Just(DeploymentUnitState::Installed),
        Just(DeploymentUnitState::Uninstalled),
        Just(DeploymentUnitState::Failed),
    ]
}

fn op_result() -> impl Strategy<Value = OpResult> {
    (
        any_text(),
        any_text(),
        text(32),
        du_state(),
        any::<bool>(),
        any_text(),
        any_text(),
        any_text(),
        du_fault(),
    )
        .prop_map(
            |(uuid, du_ref, version, state, resolved, eus, start, complete, fault)| OpResult {
                uuid,
                deployment_unit_ref: du_ref,
                version,
                current_state: state,
                resolved,
                execution_unit_ref_list: eus,
                start_time: start,
                complete_time: complete,
                fault,
            },
        )
}

fn auton_op_result() -> impl Strategy<Value = AutonomousOpResult> {
    (op_result(), any_text()).prop_map(|(r, op)| AutonomousOpResult::new(r, op))
}

fn du_operation() -> impl Strategy<Value = DuOperation> {
    let o = || option::of(any_text());
    prop_oneof![
        (
            text(1024),
            o(),
            option::of(text(256)),
            option::of(text(256)),
            option::of(text(256))
        )
            .prop_map(|(url, uuid, username, password, ee)| DuOperation::Install(
                InstallOp {
                    url,
                    uuid,
                    username,
                    password,
                    execution_env_ref: ee,
                }
            )),
        (
            o(),
            option::of(text(32)),
            option::of(text(1024)),
            option::of(text(256)),
            option::of(text(256))
        )
            .prop_map(
                |(uuid, version, url, username, password)| DuOperation::Update(UpdateOp {
                    uuid,
                    version,
                    url,
                    username,
                    password,
                })
            ),
        (any_text(), option::of(text(32)), option::of(text(256))).prop_map(
            |(uuid, version, ee)| {
                DuOperation::Uninstall(UninstallOp {
                    uuid,
                    version,
                    execution_env_ref: ee,
                })
            }
        ),
    ]
}

fn cwmp_fault() -> impl Strategy<Value = CwmpFault> {
    let spvf =
        (any_text(), 9000..=9899u32, any_text()).prop_map(|(n, c, s)| SetParameterValuesFault {
            parameter_name: n,
            fault_code: c,
            fault_string: s,
        });
    (
        prop_oneof![8000..=8899u32, 9000..=9899u32],
        any_text(),
        vec(spvf, 0..4),
    )
        .prop_map(|(fault_code, fault_string, spvf)| CwmpFault {
            fault_code,
            fault_string,
            set_parameter_values_fault: spvf,
        })
}

fn fault() -> impl Strategy<Value = Fault> {
    let code = prop_oneof![
        Just(SoapFaultCode::Client),
        Just(SoapFaultCode::Server),
        Just(SoapFaultCode::MustUnderstand),
        Just(SoapFaultCode::VersionMismatch),
        Just(SoapFaultCode::Other("soap-env:Receiver".into())),
    ];
    (code, any_text(), option::of(cwmp_fault())).prop_map(|(faultcode, faultstring, detail)| {
        Fault {
            faultcode,
            faultstring,
            detail,
        }
    })
}

fn version() -> impl Strategy<Value = CwmpVersion> {
    (any::<u8>(), any::<u8>()).prop_map(|(a, b)| CwmpVersion::new(a, b))
}

fn header() -> impl Strategy<Value = Header> {
    (
        option::of(any_text()),
        option::of(any::<bool>()),
        option::of(any::<u32>()),
        option::of(vec(version(), 0..6)),
        option::of(version()),
    )
        .prop_map(|(id, hold, timeout, supported, use_version)| Header {
            id,
            hold_requests: hold,
            no_more_requests: None,
            session_timeout: timeout,
            supported_cwmp_versions: supported,
            use_cwmp_version: use_version,
        })
}

fn envelope(body: impl Strategy<Value = Body>) -> impl Strategy<Value = Envelope> {
    (
        (0u8..=9).prop_map(|m| CwmpNamespace::new(m).unwrap()),
        header(),
        body,
    )
        .prop_map(|(namespace, header, body)| Envelope {
            namespace,
            header,
            body,
        })
}

/// The RPCs only a CPE sends (TR-069 Annex A), which `Envelope::decode_for_cpe` reads as
/// unknown ones.
const SENT_BY_CPE_ONLY: [&str; 26] = [
    "AddObjectResponse",
    "AutonomousDUStateChangeComplete",
    "AutonomousTransferComplete",
    "CancelTransferResponse",
    "ChangeDUStateResponse",
    "DeleteObjectResponse",
    "DownloadResponse",
    "DUStateChangeComplete",
    "FactoryResetResponse",
    "GetAllQueuedTransfersResponse",
    "GetOptionsResponse",
    "GetParameterAttributesResponse",
    "GetParameterNamesResponse",
    "GetParameterValuesResponse",
    "GetQueuedTransfersResponse",
    "Inform",
    "Kicked",
    "RebootResponse",
    "RequestDownload",
    "ScheduleDownloadResponse",
    "ScheduleInformResponse",
    "SetParameterAttributesResponse",
    "SetParameterValuesResponse",
    "SetVouchersResponse",
    "TransferComplete",
    "UploadResponse",
];

fn check(env: &Envelope) -> Result<(), TestCaseError> {
    let mut wire = Vec::new();
    env.encode(&mut wire)
        .map_err(|e| TestCaseError::fail(format!("encode: {e}")))?;
    let back = Envelope::decode(&wire, &Limits::default()).map_err(|e| {
        TestCaseError::fail(format!("decode: {e}\n{}", String::from_utf8_lossy(&wire)))
    })?;
    prop_assert_eq!(&back, env);
    // A CPE reads the same, except that what only a CPE sends is unknown to it.
    let at_cpe = Envelope::decode_for_cpe(&wire, &Limits::default()).map_err(|e| {
        TestCaseError::fail(format!(
            "decode_for_cpe: {e}\n{}",
            String::from_utf8_lossy(&wire)
        ))
    })?;
    let mut expected = env.clone();
    if SENT_BY_CPE_ONLY.contains(&env.body.name()) {
        expected.body = Body::Unknown {
            name: env.body.name().to_owned(),
        };
    }
    prop_assert_eq!(&at_cpe, &expected);
    Ok(())
}

macro_rules! roundtrip {
    ($($name:ident => $body:expr;)*) => {
        proptest! {
            #![proptest_config(config())]
            $(
                #[test]
                fn $name(env in envelope($body)) {
                    check(&env)?;
                }
            )*
        }
    };
}

fn unit(body: Body) -> BoxedStrategy<Body> {
    Just(body).boxed()
}

roundtrip! {
    add_object => (text(256), text(32)).prop_map(|(o, k)| Body::AddObject(AddObject { object_name: o, parameter_key: k }));
    add_object_response => (1..=u32::MAX, status()).prop_map(|(n, s)| Body::AddObjectResponse(AddObjectResponse { instance_number: NonZeroU32::new(n).unwrap(), status: s }));
    autonomous_du_state_change_complete => vec(auton_op_result(), 1..3).prop_map(|results| Body::AutonomousDuStateChangeComplete(AutonomousDuStateChangeComplete { results }));
    autonomous_transfer_complete => (text(1024), text(1024), any::<bool>(), text(64), any::<u32>(), text(256), transfer_fault(), any_text(), any_text())
        .prop_map(|(a, t, d, ft, fs, tf, f, s, c)| Body::AutonomousTransferComplete(AutonomousTransferComplete {
            announce_url: a, transfer_url: t, is_download: d, file_type: ft, file_size: fs,
            target_file_name: tf, fault_struct: f, start_time: s, complete_time: c,
        }));
    cancel_transfer => text(32).prop_map(|k| Body::CancelTransfer(CancelTransfer { command_key: k }));
    change_du_state => (vec(du_operation(), 1..4), option::of(text(32))).prop_map(|(operations, command_key)| Body::ChangeDuState(ChangeDuState { operations, command_key }));
    delete_object => (text(256), text(32)).prop_map(|(o, k)| Body::DeleteObject(DeleteObject { object_name: o, parameter_key: k }));
    delete_object_response => status().prop_map(|s| Body::DeleteObjectResponse(DeleteObjectResponse { status: s }));
    download => (text(32), text(64), text(256), text(256), text(256), any::<u32>(), text(256), any::<u32>(), text(256), text(256))
        .prop_map(|(k, ft, u, un, pw, fs, tf, d, su, fu)| Body::Download(Download {
            command_key: k, file_type: ft, url: u, username: un, password: pw, file_size: fs,
            target_file_name: tf, delay_seconds: d, success_url: su, failure_url: fu,
        }));
    download_response => (status(), any_text(), any_text()).prop_map(|(s, a, b)| Body::DownloadResponse(DownloadResponse { status: s, start_time: a, complete_time: b }));
    du_state_change_complete => (vec(op_result(), 1..3), option::of(text(32))).prop_map(|(results, command_key)| Body::DuStateChangeComplete(DuStateChangeComplete { results, command_key }));
    get_all_queued_transfers_response => vec((text(32), transfer_state(), any::<bool>(), text(64), any::<u32>(), text(256)).prop_map(|(k, s, d, ft, fs, tf)| AllQueuedTransfer {
            command_key: k, state: s, is_download: d, file_type: ft, file_size: fs, target_file_name: tf,
        }), 0..4).prop_map(|transfer_list| Body::GetAllQueuedTransfersResponse(GetAllQueuedTransfersResponse { transfer_list }));
    get_options => text(64).prop_map(|n| Body::GetOptions(GetOptions { option_name: n }));
    get_options_response => vec((text(64), any::<u32>(), (0..=3i32), (0..=2i32), any_text(), option::of(any_text()), any::<bool>()).prop_map(|(n, sn, st, m, sd, ed, t)| OptionStruct {
            option_name: n, voucher_sn: sn, state: OptionState::from_value(st).unwrap(),
            mode: OptionMode::from_value(m).unwrap(), start_date: sd, expiration_date: ed,
            is_transferable: if t { Transferable::Yes } else { Transferable::No },
        }), 0..3).prop_map(|option_list| Body::GetOptionsResponse(GetOptionsResponse { option_list }));
    get_parameter_attributes => vec(text(256), 1..4).prop_map(|n| Body::GetParameterAttributes(GetParameterAttributes { parameter_names: n }));
    get_parameter_attributes_response => vec((text(256), notification(), vec(text(64), 0..3)).prop_map(|(name, notification, access_list)| ParameterAttribute { name, notification, access_list }), 0..4)
        .prop_map(|parameter_list| Body::GetParameterAttributesResponse(GetParameterAttributesResponse { parameter_list }));
    get_parameter_names => (text(256), any::<bool>()).prop_map(|(p, n)| Body::GetParameterNames(GetParameterNames { parameter_path: p, next_level: n }));
    get_parameter_names_response => vec((text(256), any::<bool>()).prop_map(|(name, writable)| ParameterInfo { name, writable }), 0..4)
        .prop_map(|parameter_list| Body::GetParameterNamesResponse(GetParameterNamesResponse { parameter_list }));
    get_parameter_values => vec(text(256), 1..4).prop_map(|n| Body::GetParameterValues(GetParameterValues { parameter_names: n }));
    get_parameter_values_response => vec(parameter_value(), 0..5).prop_map(|parameter_list| Body::GetParameterValuesResponse(GetParameterValuesResponse { parameter_list }));
    get_queued_transfers_response => vec((text(32), transfer_state()).prop_map(|(command_key, state)| QueuedTransfer { command_key, state }), 0..4)
        .prop_map(|transfer_list| Body::GetQueuedTransfersResponse(GetQueuedTransfersResponse { transfer_list }));
    get_rpc_methods_response => vec(text(64), 1..5).prop_map(|method_list| Body::GetRpcMethodsResponse(GetRpcMethodsResponse { method_list }));
    inform => (
            (text(64), "[0-9A-Fa-f]{6}", text(64), text(64)),
            vec((event_code(), text(32)).prop_map(|(event_code, command_key)| Event { event_code, command_key }), 0..5),
            any::<u32>(), any_text(), any::<u32>(), vec(parameter_value(), 0..5),
        )
        .prop_map(|((m, o, p, s), event, max_envelopes, current_time, retry_count, parameter_list)| Body::Inform(Inform {
            device_id: DeviceId { manufacturer: m, oui: o, product_class: p, serial_number: s },
            event, max_envelopes, current_time, retry_count, parameter_list,
        }));
    inform_response => any::<u32>().prop_map(|m| Body::InformResponse(InformResponse { max_envelopes: m }));
    kicked => (text(32), text(64), text(256), text(1024)).prop_map(|(c, r, a, n)| Body::Kicked(Kicked { command: c, referer: r, arg: a, next: n }));
    kicked_response => text(1024).prop_map(|n| Body::KickedResponse(KickedResponse { next_url: n }));
    reboot => text(32).prop_map(|k| Body::Reboot(Reboot { command_key: k }));
    request_download => (text(64), vec((text(64), text(256)).prop_map(|(name, value)| Arg { name, value }), 0..4))
        .prop_map(|(file_type, file_type_arg)| Body::RequestDownload(RequestDownload { file_type, file_type_arg }));
    schedule_download => (text(32), text(64), text(256), text(256), text(256), any::<u32>(), text(256),
            vec((any::<u32>(), any::<u32>(), text(64), text(256), any::<i32>()).prop_map(|(a, b, m, u, r)| TimeWindow {
                window_start: a, window_end: b, window_mode: m, user_message: u, max_retries: r,
            }), 1..=2))
        .prop_map(|(k, ft, u, un, pw, fs, tf, w)| Body::ScheduleDownload(ScheduleDownload {
            command_key: k, file_type: ft, url: u, username: un, password: pw, file_size: fs,
            target_file_name: tf, time_window_list: w,
        }));
    schedule_inform => (any::<u32>(), text(32)).prop_map(|(d, k)| Body::ScheduleInform(ScheduleInform { delay_seconds: d, command_key: k }));
    set_parameter_attributes => vec((text(256), any::<bool>(), notification(), any::<bool>(), vec(text(64), 0..3))
            .prop_map(|(name, nc, notification, ac, access_list)| SetParameterAttributesStruct {
                name, notification_change: nc, notification, access_list_change: ac, access_list,
            }), 1..4)
        .prop_map(|parameter_list| Body::SetParameterAttributes(SetParameterAttributes { parameter_list }));
    set_parameter_values => (vec(parameter_value(), 0..5), text(32)).prop_map(|(parameter_list, parameter_key)| Body::SetParameterValues(SetParameterValues { parameter_list, parameter_key }));
    set_parameter_values_response => status().prop_map(|s| Body::SetParameterValuesResponse(SetParameterValuesResponse { status: s }));
    set_vouchers => vec(any_text(), 1..3).prop_map(|voucher_list| Body::SetVouchers(SetVouchers { voucher_list }));
    transfer_complete => (text(32), transfer_fault(), any_text(), any_text()).prop_map(|(k, f, s, c)| Body::TransferComplete(TransferComplete {
            command_key: k, fault_struct: f, start_time: s, complete_time: c,
        }));
    upload => (text(32), text(64), text(256), text(256), text(256), any::<u32>()).prop_map(|(k, ft, u, un, pw, d)| Body::Upload(Upload {
            command_key: k, file_type: ft, url: u, username: un, password: pw, delay_seconds: d,
        }));
    upload_response => (status(), any_text(), any_text()).prop_map(|(s, a, b)| Body::UploadResponse(UploadResponse { status: s, start_time: a, complete_time: b }));
    fault_message => fault().prop_map(Body::Fault);
    unknown_method => "X_[A-Za-z0-9_.-]{1,12}".prop_map(|name| Body::Unknown { name });
    argument_less_messages => prop_oneof![
        unit(Body::AutonomousDuStateChangeCompleteResponse),
        unit(Body::AutonomousTransferCompleteResponse),
        unit(Body::CancelTransferResponse),
        unit(Body::ChangeDuStateResponse),
        unit(Body::DuStateChangeCompleteResponse),
        unit(Body::FactoryReset),
        unit(Body::FactoryResetResponse),
        unit(Body::GetAllQueuedTransfers),
        unit(Body::GetQueuedTransfers),
        unit(Body::GetRpcMethods),
        unit(Body::RebootResponse),
        unit(Body::RequestDownloadResponse),
        unit(Body::ScheduleDownloadResponse),
        unit(Body::ScheduleInformResponse),
        unit(Body::SetParameterAttributesResponse),
        unit(Body::SetVouchersResponse),
        unit(Body::TransferCompleteResponse),
    ];
}

/// Every argument-less message, deterministically (the property above samples them).
#[test]
fn every_argument_less_message_round_trips() {
    for ns in [CwmpNamespace::V1_0, CwmpNamespace::V1_2] {
        for body in [
            Body::AutonomousDuStateChangeCompleteResponse,
            Body::AutonomousTransferCompleteResponse,
            Body::CancelTransferResponse,
            Body::ChangeDuStateResponse,
            Body::DuStateChangeCompleteResponse,
            Body::FactoryReset,
            Body::FactoryResetResponse,
            Body::GetAllQueuedTransfers,
            Body::GetQueuedTransfers,
            Body::GetRpcMethods,
            Body::RebootResponse,
            Body::RequestDownloadResponse,
            Body::ScheduleDownloadResponse,
            Body::ScheduleInformResponse,
            Body::SetParameterAttributesResponse,
            Body::SetVouchersResponse,
            Body::TransferCompleteResponse,
        ] {
            check(&Envelope::new(ns, body).with_id("1")).unwrap();
        }
    }
}
