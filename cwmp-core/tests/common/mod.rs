//! A schema-valid sample of every CWMP message, for the XSD and round-trip tests.

#![allow(dead_code, clippy::unwrap_used, clippy::too_many_lines)]

use std::num::NonZeroU32;

use cwmp_core::codec::*;

const T0: &str = "2024-01-01T00:00:00Z";
const UUID: &str = "3fa85f64-5717-4562-b3fc-2c963f66afa6";

fn pv(name: &str, value: &str, ty: Option<ValueType>) -> ParameterValue {
    ParameterValue {
        name: name.into(),
        value: value.into(),
        value_type: ty,
    }
}

fn s(v: &str) -> String {
    v.to_owned()
}

fn op_result(ns: CwmpNamespace) -> OpResult {
    let _ = ns;
    OpResult {
        uuid: s(UUID),
        deployment_unit_ref: s("Device.SoftwareModules.DeploymentUnit.1"),
        version: s("1.0"),
        current_state: DeploymentUnitState::Installed,
        resolved: true,
        execution_unit_ref_list: s("Device.SoftwareModules.ExecutionUnit.1"),
        start_time: s(T0),
        complete_time: s(T0),
        fault: DeploymentUnitFault {
            fault_code: 0,
            fault_string: s(""),
        },
    }
}

/// Every body variant, with values valid in the schema of `ns` (the 1-0 and 1-1 schemas allow
/// fewer notification values than 1-2).
pub(crate) fn bodies(ns: CwmpNamespace) -> Vec<Body> {
    let notification = if ns.minor() >= 2 {
        Notification::PassiveAndActiveLightweight
    } else {
        Notification::Active
    };
    let transfer_fault = TransferFault {
        fault_code: 9010,
        fault_string: s("Download failed & retried <twice>"),
    };
    vec![
        Body::AddObject(AddObject {
            object_name: s("Device.IP.Interface."),
            parameter_key: s("pk-1"),
        }),
        Body::AddObjectResponse(AddObjectResponse {
            instance_number: NonZeroU32::new(3).unwrap(),
            status: Status::Pending,
        }),
        Body::AutonomousDuStateChangeComplete(AutonomousDuStateChangeComplete {
            results: vec![AutonomousOpResult {
                uuid: s(UUID),
                deployment_unit_ref: s("Device.SoftwareModules.DeploymentUnit.2"),
                version: s("2.1"),
                current_state: DeploymentUnitState::Failed,
                resolved: false,
                execution_unit_ref_list: s(""),
                start_time: s(T0),
                complete_time: s(UNKNOWN_TIME),
                fault: DeploymentUnitFault {
                    fault_code: 9018,
                    fault_string: s("corrupted"),
                },
                operation_performed: s("Install"),
            }],
        }),
        Body::AutonomousTransferComplete(AutonomousTransferComplete {
            announce_url: s("http://acs.example/announce"),
            transfer_url: s("http://files.example/fw.bin"),
            is_download: true,
            file_type: s("1 Firmware Upgrade Image"),
            file_size: 1_048_576,
            target_file_name: s("fw.bin"),
            fault_struct: TransferFault {
                fault_code: 0,
                fault_string: s(""),
            },
            start_time: s(T0),
            complete_time: s(T0),
        }),
        Body::CancelTransfer(CancelTransfer {
            command_key: s("dl-7"),
        }),
        Body::ChangeDuState(ChangeDuState {
            operations: vec![
                DuOperation::Install(InstallOp {
                    url: s("http://files.example/du.ipk"),
                    uuid: Some(s(UUID)),
                    username: Some(s("u")),
                    password: Some(s("p")),
                    execution_env_ref: Some(s("Device.SoftwareModules.ExecEnv.1")),
                }),
                DuOperation::Update(UpdateOp {
                    uuid: Some(s(UUID)),
                    version: Some(s("2.0")),
                    url: None,
                    username: None,
                    password: None,
                }),
                DuOperation::Uninstall(UninstallOp {
                    uuid: s(UUID),
                    version: None,
                    execution_env_ref: None,
                }),
            ],
            command_key: Some(s("cdu-1")),
        }),
        Body::DeleteObject(DeleteObject {
            object_name: s("Device.IP.Interface.3."),
            parameter_key: s(""),
        }),
        Body::DeleteObjectResponse(DeleteObjectResponse {
            status: Status::Applied,
        }),
        Body::Download(Download {
            command_key: s("dl-7"),
            file_type: s("1 Firmware Upgrade Image"),
            url: s("https://files.example/fw.bin?a=1&b=2"),
            username: s("user"),
            password: s("secret"),
            file_size: 4096,
            target_file_name: s("fw.bin"),
            delay_seconds: 0,
            success_url: s(""),
            failure_url: s(""),
        }),
        Body::DownloadResponse(DownloadResponse {
            status: Status::Pending,
            start_time: s(UNKNOWN_TIME),
            complete_time: s(UNKNOWN_TIME),
        }),
        Body::DuStateChangeComplete(DuStateChangeComplete {
            results: vec![op_result(ns), op_result(ns)],
            command_key: Some(s("cdu-1")),
        }),
        Body::GetAllQueuedTransfersResponse(GetAllQueuedTransfersResponse {
            transfer_list: vec![AllQueuedTransfer {
                command_key: s("dl-7"),
                state: TransferState::InProgress,
                is_download: true,
                file_type: s("1 Firmware Upgrade Image"),
                file_size: 10,
                target_file_name: s("fw.bin"),
            }],
        }),
        Body::GetOptions(GetOptions {
            option_name: s("X_ACME_Option"),
        }),
        Body::GetOptionsResponse(GetOptionsResponse {
            option_list: vec![OptionStruct {
                option_name: s("X_ACME_Option"),
                voucher_sn: 12,
                state: OptionState::EnabledSetup,
                mode: OptionMode::EnabledWithExpiration,
                start_date: s(T0),
                expiration_date: Some(s("2025-01-01T00:00:00Z")),
                is_transferable: Transferable::No,
            }],
        }),
        Body::GetParameterAttributes(GetParameterAttributes {
            parameter_names: vec![s("Device.DeviceInfo."), s("Device.ManagementServer.URL")],
        }),
        Body::GetParameterAttributesResponse(GetParameterAttributesResponse {
            parameter_list: vec![ParameterAttribute {
                name: s("Device.ManagementServer.URL"),
                notification,
                access_list: vec![s("Subscriber")],
            }],
        }),
        Body::GetParameterNames(GetParameterNames {
            parameter_path: s("Device."),
            next_level: true,
        }),
        Body::GetParameterNamesResponse(GetParameterNamesResponse {
            parameter_list: vec![
                ParameterInfo {
                    name: s("Device.DeviceInfo."),
                    writable: false,
                },
                ParameterInfo {
                    name: s("Device.ManagementServer."),
                    writable: true,
                },
            ],
        }),
        Body::GetParameterValues(GetParameterValues {
            parameter_names: vec![s("Device.DeviceInfo.SoftwareVersion")],
        }),
        Body::GetParameterValuesResponse(GetParameterValuesResponse {
            parameter_list: vec![
                pv(
                    "Device.A",
                    "text with <markup> & \"quotes\"",
                    Some(ValueType::String),
                ),
                pv("Device.B", "-5", Some(ValueType::Int)),
                pv("Device.C", "5", Some(ValueType::UnsignedInt)),
                pv("Device.D", "true", Some(ValueType::Boolean)),
                pv("Device.E", T0, Some(ValueType::DateTime)),
                pv("Device.F", "AAEC", Some(ValueType::Base64)),
                pv("Device.G", "00ff", Some(ValueType::HexBinary)),
                pv("Device.H", "-9000000000", Some(ValueType::Long)),
                pv("Device.I", "18000000000", Some(ValueType::UnsignedLong)),
                pv("Device.J", "1.5", Some(ValueType::Decimal)),
                pv("Device.K", "untyped", None),
                pv(
                    "Device.L",
                    "http://x.example/",
                    Some(ValueType::Other(s("xsd:anyURI"))),
                ),
            ],
        }),
        Body::GetQueuedTransfersResponse(GetQueuedTransfersResponse {
            transfer_list: vec![QueuedTransfer {
                command_key: s("dl-7"),
                state: TransferState::NotYetStarted,
            }],
        }),
        Body::GetRpcMethodsResponse(GetRpcMethodsResponse {
            method_list: vec![s("GetRPCMethods"), s("Inform"), s("TransferComplete")],
        }),
        Body::Inform(Inform {
            device_id: DeviceId {
                manufacturer: s("Example"),
                oui: s("00D09E"),
                product_class: s("Router"),
                serial_number: s("SN0001"),
            },
            event: vec![
                Event {
                    event_code: EventCode::Boot,
                    command_key: s(""),
                },
                Event {
                    event_code: EventCode::MDownload,
                    command_key: s("dl-7"),
                },
            ],
            max_envelopes: 1,
            current_time: s(T0),
            retry_count: 0,
            parameter_list: vec![pv(
                "Device.ManagementServer.ConnectionRequestURL",
                "http://192.0.2.1:7547/cr",
                Some(ValueType::String),
            )],
        }),
        Body::InformResponse(InformResponse { max_envelopes: 1 }),
        Body::Kicked(Kicked {
            command: s("login"),
            referer: s("http://portal.example/"),
            arg: s("x=1"),
            next: s("http://portal.example/next"),
        }),
        Body::KickedResponse(KickedResponse {
            next_url: s("http://portal.example/done"),
        }),
        Body::Reboot(Reboot {
            command_key: s("reboot-1"),
        }),
        Body::RequestDownload(RequestDownload {
            file_type: s("1 Firmware Upgrade Image"),
            file_type_arg: vec![Arg {
                name: s("Version"),
                value: s("2.0"),
            }],
        }),
        Body::ScheduleDownload(ScheduleDownload {
            command_key: s("sd-1"),
            file_type: s("1 Firmware Upgrade Image"),
            url: s("http://files.example/fw.bin"),
            username: s(""),
            password: s(""),
            file_size: 0,
            target_file_name: s(""),
            time_window_list: vec![
                TimeWindow {
                    window_start: 0,
                    window_end: 3600,
                    window_mode: s("1 At Any Time"),
                    user_message: s(""),
                    max_retries: -1,
                },
                TimeWindow {
                    window_start: 7200,
                    window_end: 10800,
                    window_mode: s("2 Immediately"),
                    user_message: s("Updating"),
                    max_retries: 3,
                },
            ],
        }),
        Body::ScheduleInform(ScheduleInform {
            delay_seconds: 60,
            command_key: s("si-1"),
        }),
        Body::SetParameterAttributes(SetParameterAttributes {
            parameter_list: vec![SetParameterAttributesStruct {
                name: s("Device.ManagementServer.URL"),
                notification_change: true,
                notification,
                access_list_change: false,
                access_list: vec![],
            }],
        }),
        Body::SetParameterValues(SetParameterValues {
            parameter_list: vec![
                pv(
                    "Device.ManagementServer.PeriodicInformInterval",
                    "300",
                    Some(ValueType::UnsignedInt),
                ),
                pv(
                    "Device.X_ACME_Note",
                    "line1\r\nline2\ttab",
                    Some(ValueType::String),
                ),
            ],
            parameter_key: s("pk-2"),
        }),
        Body::SetParameterValuesResponse(SetParameterValuesResponse {
            status: Status::Applied,
        }),
        Body::SetVouchers(SetVouchers {
            voucher_list: vec![s("AAEC"), s("AQID")],
        }),
        Body::TransferComplete(TransferComplete {
            command_key: s("dl-7"),
            fault_struct: transfer_fault,
            start_time: s(T0),
            complete_time: s("2024-01-01T00:05:00+01:00"),
        }),
        Body::Upload(Upload {
            command_key: s("ul-1"),
            file_type: s("1 Vendor Configuration File"),
            url: s("http://files.example/upload"),
            username: s(""),
            password: s(""),
            delay_seconds: 5,
        }),
        Body::UploadResponse(UploadResponse {
            status: Status::Applied,
            start_time: s(T0),
            complete_time: s(T0),
        }),
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
        Body::Fault(Fault::cwmp(9003, "Invalid arguments")),
        Body::Fault(Fault {
            faultcode: SoapFaultCode::Client,
            faultstring: s("CWMP fault"),
            detail: Some(CwmpFault {
                fault_code: 9003,
                fault_string: s("Invalid arguments"),
                set_parameter_values_fault: vec![
                    SetParameterValuesFault {
                        parameter_name: s("Device.A"),
                        fault_code: 9007,
                        fault_string: s("Invalid parameter value"),
                    },
                    SetParameterValuesFault {
                        parameter_name: s("Device.B"),
                        fault_code: 9008,
                        fault_string: s(""),
                    },
                ],
            }),
        }),
        Body::Fault(Fault::cwmp(8005, "Retry request")),
        Body::Unknown {
            name: s("X_ACME_Diagnose"),
        },
    ]
}

/// The first CWMP version whose schema defines the message (its namespace's minor number).
pub(crate) fn since(body: &Body) -> u8 {
    match body {
        Body::GetAllQueuedTransfers
        | Body::GetAllQueuedTransfersResponse(_)
        | Body::AutonomousTransferComplete(_)
        | Body::AutonomousTransferCompleteResponse => 1,
        Body::ScheduleDownload(_)
        | Body::ScheduleDownloadResponse
        | Body::CancelTransfer(_)
        | Body::CancelTransferResponse
        | Body::ChangeDuState(_)
        | Body::ChangeDuStateResponse
        | Body::DuStateChangeComplete(_)
        | Body::DuStateChangeCompleteResponse
        | Body::AutonomousDuStateChangeComplete(_)
        | Body::AutonomousDuStateChangeCompleteResponse => 2,
        _ => 0,
    }
}

/// Which schema file validates an envelope: the namespace's, or 1-3 / 1-4 when it uses their
/// header entries.
pub(crate) fn schema_for(env: &Envelope) -> &'static str {
    let h = &env.header;
    match env.namespace.minor() {
        0 => "cwmp-1-0.xsd",
        1 => "cwmp-1-1.xsd",
        _ if h.supported_cwmp_versions.is_some() || h.use_cwmp_version.is_some() => "cwmp-1-4.xsd",
        _ if h.session_timeout.is_some() => "cwmp-1-3.xsd",
        _ => "cwmp-1-2.xsd",
    }
}

/// The sample set: every message in every standard namespace that defines it (with an ID
/// header), plus the header-entry and version-specific extras. Names are unique.
pub(crate) fn samples() -> Vec<(String, Envelope)> {
    let mut out = Vec::new();
    for ns in [
        CwmpNamespace::V1_0,
        CwmpNamespace::V1_1,
        CwmpNamespace::V1_2,
    ] {
        for (i, body) in bodies(ns).into_iter().enumerate() {
            if since(&body) > ns.minor() {
                continue;
            }
            let name = format!("{}-{:02}-{}", ns.minor(), i, body.name());
            out.push((name, Envelope::new(ns, body).with_id(format!("id-{i}"))));
        }
    }
    let inform = bodies(CwmpNamespace::V1_2)
        .into_iter()
        .find(|b| matches!(b, Body::Inform(_)))
        .unwrap();
    let mut e = Envelope::new(CwmpNamespace::V1_2, inform).with_id("inform-13");
    e.header.session_timeout = Some(30);
    out.push(("hdr-inform-1.3".into(), e.clone()));
    e.header.supported_cwmp_versions = Some(CwmpVersion::ALL.to_vec());
    out.push(("hdr-inform-1.4".into(), e));
    let mut r = Envelope::new(
        CwmpNamespace::V1_2,
        Body::InformResponse(InformResponse { max_envelopes: 1 }),
    )
    .with_id("inform-14");
    r.header.use_cwmp_version = Some(CwmpVersion::V1_4);
    r.header.hold_requests = Some(false);
    out.push(("hdr-informresponse-1.4".into(), r));
    let mut h = Envelope::new(
        CwmpNamespace::V1_0,
        Body::InformResponse(InformResponse { max_envelopes: 1 }),
    )
    .with_id("hold");
    h.header.hold_requests = Some(true);
    out.push(("hdr-holdrequests-1.0".into(), h));
    out.push((
        "fault-8006-1.4".into(),
        Envelope::new(
            CwmpNamespace::V1_2,
            Body::Fault(Fault::cwmp(8006, "ACS version incompatible with CPE")),
        )
        .with_id("inform-14"),
    ));
    out.push((
        "fault-9032-1.2".into(),
        Envelope::new(
            CwmpNamespace::V1_2,
            Body::Fault(Fault::cwmp(9032, "Version exists")),
        )
        .with_id("x"),
    ));
    out.push((
        "no-header-1.2".into(),
        Envelope::new(CwmpNamespace::V1_2, Body::GetRpcMethods),
    ));
    // Alias-based addressing (TR-069 §3.6.1): `[alias]` instance segments in names.
    out.push((
        "alias-addobject-1.2".into(),
        Envelope::new(
            CwmpNamespace::V1_2,
            Body::AddObject(AddObject {
                object_name: s("Device.Bridging.Bridge.[br-lan].Port.[uplink]."),
                parameter_key: s(""),
            }),
        )
        .with_id("alias-1"),
    ));
    out.push((
        "alias-gpvresponse-1.2".into(),
        Envelope::new(
            CwmpNamespace::V1_2,
            Body::GetParameterValuesResponse(GetParameterValuesResponse {
                parameter_list: vec![pv(
                    "Device.NAT.PortMapping.[cpe-1].Enable",
                    "true",
                    Some(ValueType::Boolean),
                )],
            }),
        )
        .with_id("alias-2"),
    ));
    out
}
