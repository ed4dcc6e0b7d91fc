//! Every CPE RPC through a real engine on the simulated device: values, names, atomic
//! SetParameterValues with ParameterKey, objects, attributes, ScheduleInform, ScheduleDownload
//! and CancelTransfer, FactoryReset, unsupported methods.
#![allow(clippy::unwrap_used, clippy::panic, clippy::indexing_slicing)]

mod support;

use std::time::Duration;

use cwmp_core::codec::{
    AddObject, Body, CancelTransfer, DeleteObject, GetParameterAttributes, GetParameterNames,
    GetParameterValues, Notification, ParameterValue, ScheduleDownload, ScheduleInform,
    SetParameterAttributes, SetParameterAttributesStruct, SetParameterValues, Status, TimeWindow,
    TransferState, ValueType,
};
use cwmp_core::session::SessionConfig;
use support::{Cpe, ScriptedAcs, codes, spv};
use tr181_model::value::Value;

fn stored(cpe: &Cpe, path: &str) -> String {
    cpe.engine
        .read(|s| s.value(path).map(Value::canonical_text).unwrap())
}

fn gpv(names: &[&str]) -> Body {
    Body::GetParameterValues(GetParameterValues {
        parameter_names: names.iter().map(|n| (*n).to_owned()).collect(),
    })
}

fn fault_code(body: &Body) -> Option<u32> {
    match body {
        Body::Fault(f) => f.code(),
        _ => None,
    }
}

#[tokio::test(flavor = "current_thread")]
async fn values_names_objects_and_parameter_key() {
    let mut cpe = Cpe::boot(SessionConfig::default()).await;
    let mut acs = ScriptedAcs::new();
    acs.push(gpv(&[
        "Device.DeviceInfo.SoftwareVersion",
        "Device.WiFi.SSID.1.",
    ]));
    acs.push(gpv(&["Device.NoSuchThing.X"]));
    acs.push(spv("Device.WiFi.SSID.1.SSID", "Home", "pk-1"));
    acs.push(Body::SetParameterValues(SetParameterValues {
        parameter_list: vec![
            ParameterValue::new("Device.WiFi.SSID.2.SSID", "Guest", ValueType::String),
            ParameterValue::new("Device.DeviceInfo.UpTime", "5", ValueType::UnsignedInt),
        ],
        parameter_key: "pk-bad".into(),
    }));
    acs.push(Body::GetParameterNames(GetParameterNames {
        parameter_path: "Device.NAT.".into(),
        next_level: true,
    }));
    acs.push(Body::GetParameterNames(GetParameterNames {
        parameter_path: "Device.DeviceInfo.UpTime".into(),
        next_level: true,
    }));
    acs.push(Body::AddObject(AddObject {
        object_name: "Device.NAT.PortMapping.".into(),
        parameter_key: "pk-2".into(),
    }));
    acs.push(Body::DeleteObject(DeleteObject {
        object_name: "Device.NAT.PortMapping.2.".into(),
        parameter_key: "pk-3".into(),
    }));
    acs.push(Body::GetOptions(cwmp_core::codec::GetOptions {
        option_name: "x".into(),
    }));
    acs.push(Body::Unknown {
        name: "X_ACME_Frobnicate".into(),
    });
    // An RPC only a CPE sends, which the CPE reads as an unknown one.
    acs.push(Body::Kicked(cwmp_core::codec::Kicked {
        command: "x".into(),
        referer: "y".into(),
        arg: String::new(),
        next: "z".into(),
    }));
    cpe.run(&mut acs, Duration::from_secs(5)).await;
    let m = acs.cpe_messages();
    assert_eq!(m.len(), 11, "{m:#?}");

    let Body::GetParameterValuesResponse(values) = &m[0] else {
        panic!("{:?}", m[0])
    };
    let version = values
        .parameter_list
        .iter()
        .find(|p| p.name == "Device.DeviceInfo.SoftwareVersion")
        .unwrap();
    assert_eq!(version.value, "1.0.0");
    assert_eq!(version.value_type, Some(ValueType::String));
    let enable = values
        .parameter_list
        .iter()
        .find(|p| p.name == "Device.WiFi.SSID.1.Enable")
        .unwrap();
    assert_eq!(enable.value_type, Some(ValueType::Boolean));
    assert_eq!(fault_code(&m[1]), Some(9005));

    let Body::SetParameterValuesResponse(set) = &m[2] else {
        panic!("{:?}", m[2])
    };
    assert_eq!(set.status, Status::Applied);
    assert_eq!(stored(&cpe, "Device.WiFi.SSID.1.SSID"), "Home");

    // Atomic: the read-only parameter fails the whole request, nothing is applied and the
    // ParameterKey is unchanged.
    let Body::Fault(fault) = &m[3] else {
        panic!("{:?}", m[3])
    };
    let detail = fault.detail.as_ref().unwrap();
    assert_eq!(detail.fault_code, 9003);
    assert!(
        detail
            .set_parameter_values_fault
            .iter()
            .any(|f| f.parameter_name == "Device.DeviceInfo.UpTime" && f.fault_code == 9008)
    );
    assert_ne!(stored(&cpe, "Device.WiFi.SSID.2.SSID"), "Guest");

    let Body::GetParameterNamesResponse(names) = &m[4] else {
        panic!("{:?}", m[4])
    };
    assert!(
        names
            .parameter_list
            .iter()
            .any(|p| p.name == "Device.NAT.PortMapping." && p.writable)
    );
    assert_eq!(fault_code(&m[5]), Some(9003), "NextLevel on a parameter");

    let Body::AddObjectResponse(added) = &m[6] else {
        panic!("{:?}", m[6])
    };
    assert_eq!(added.instance_number.get(), 2);
    assert!(matches!(m[7], Body::DeleteObjectResponse(_)));
    assert_eq!(stored(&cpe, "Device.ManagementServer.ParameterKey"), "pk-3");
    assert_eq!(fault_code(&m[8]), Some(9000));
    assert_eq!(fault_code(&m[9]), Some(9000));
    assert_eq!(fault_code(&m[10]), Some(9000));
}

/// AddObject and SetParameterValues beyond the bulk data capabilities the device advertises
/// (`Device.BulkData.MaxNumberOfProfiles`, `MaxNumberOfParameterReferences`,
/// `MinReportingInterval`) fault with 9004 and 9007.
#[tokio::test(flavor = "current_thread")]
async fn bulk_data_capabilities_bound_add_object_and_set() {
    let mut cpe = Cpe::boot(SessionConfig::default()).await;
    cpe.engine
        .device_update(|txn| {
            txn.set("Device.BulkData.MaxNumberOfProfiles", "1")?;
            txn.set("Device.BulkData.MaxNumberOfParameterReferences", "1")?;
            txn.set("Device.BulkData.MinReportingInterval", "300")
        })
        .await
        .unwrap();
    let add = |object: &str| {
        Body::AddObject(AddObject {
            object_name: object.into(),
            parameter_key: String::new(),
        })
    };
    let mut acs = ScriptedAcs::new();
    acs.push(add("Device.BulkData.Profile."));
    acs.push(add("Device.BulkData.Profile."));
    acs.push(add("Device.BulkData.Profile.1.Parameter."));
    acs.push(add("Device.BulkData.Profile.1.Parameter."));
    acs.push(spv("Device.BulkData.Profile.1.ReportingInterval", "60", ""));
    cpe.run(&mut acs, Duration::from_secs(5)).await;
    let m = acs.cpe_messages();
    assert_eq!(m.len(), 5, "{m:#?}");
    assert!(matches!(m[0], Body::AddObjectResponse(_)), "{:?}", m[0]);
    assert_eq!(fault_code(&m[1]), Some(9004), "MaxNumberOfProfiles");
    assert!(matches!(m[2], Body::AddObjectResponse(_)), "{:?}", m[2]);
    assert_eq!(
        fault_code(&m[3]),
        Some(9004),
        "MaxNumberOfParameterReferences"
    );
    let Body::Fault(fault) = &m[4] else {
        panic!("{:?}", m[4])
    };
    let detail = fault.detail.as_ref().unwrap();
    assert_eq!(detail.fault_code, 9003);
    assert_eq!(detail.set_parameter_values_fault[0].fault_code, 9007);
    assert_eq!(
        stored(&cpe, "Device.BulkData.Profile.1.ReportingInterval"),
        "86400"
    );
    assert_eq!(stored(&cpe, "Device.BulkData.ProfileNumberOfEntries"), "1");
}

#[tokio::test(flavor = "current_thread")]
async fn attributes_are_kept_by_the_session() {
    let mut cpe = Cpe::boot(SessionConfig::default()).await;
    let mut acs = ScriptedAcs::new();
    acs.push(Body::SetParameterAttributes(SetParameterAttributes {
        parameter_list: vec![SetParameterAttributesStruct {
            name: "Device.WiFi.SSID.".into(),
            notification_change: true,
            notification: Notification::Passive,
            access_list_change: true,
            access_list: vec!["Subscriber".into()],
        }],
    }));
    acs.push(Body::GetParameterAttributes(GetParameterAttributes {
        parameter_names: vec![
            "Device.WiFi.SSID.1.SSID".into(),
            "Device.ManagementServer.ConnectionRequestURL".into(),
        ],
    }));
    acs.push(Body::SetParameterAttributes(SetParameterAttributes {
        parameter_list: vec![
            SetParameterAttributesStruct {
                name: "Device.DeviceInfo.SoftwareVersion".into(),
                notification_change: true,
                notification: Notification::Active,
                access_list_change: false,
                access_list: Vec::new(),
            },
            SetParameterAttributesStruct {
                name: "Device.ManagementServer.ConnectionRequestURL".into(),
                notification_change: true,
                notification: Notification::Off,
                access_list_change: false,
                access_list: Vec::new(),
            },
        ],
    }));
    acs.push(Body::SetParameterAttributes(SetParameterAttributes {
        parameter_list: vec![SetParameterAttributesStruct {
            name: "Device.No.Such".into(),
            notification_change: true,
            notification: Notification::Active,
            access_list_change: false,
            access_list: Vec::new(),
        }],
    }));
    cpe.run(&mut acs, Duration::from_secs(5)).await;
    let m = acs.cpe_messages();
    assert!(matches!(m[0], Body::SetParameterAttributesResponse));
    let Body::GetParameterAttributesResponse(attrs) = &m[1] else {
        panic!("{:?}", m[1])
    };
    assert_eq!(attrs.parameter_list[0].notification, Notification::Passive);
    assert_eq!(attrs.parameter_list[0].access_list, ["Subscriber"]);
    assert_eq!(
        attrs.parameter_list[1].notification,
        Notification::Active,
        "ConnectionRequestURL is active by default (forceDefaultEnabled)"
    );
    let outcome = &m[2];
    // Whether SoftwareVersion may be active depends on the model's activeNotify; either the
    // request is applied whole or refused whole (9009).
    let saved = cpe.saved.clone().unwrap();
    match outcome {
        Body::SetParameterAttributesResponse => {
            // Active is SoftwareVersion's default (forceDefaultEnabled) or stored; turning the
            // default-active ConnectionRequestURL off is stored.
            assert!(
                saved
                    .attributes
                    .get("Device.DeviceInfo.SoftwareVersion")
                    .is_none_or(|a| a.notification == 2)
            );
            assert_eq!(
                saved.attributes["Device.ManagementServer.ConnectionRequestURL"].notification,
                0
            );
        }
        other => {
            assert_eq!(fault_code(other), Some(9009));
            assert!(
                !saved
                    .attributes
                    .contains_key("Device.DeviceInfo.SoftwareVersion")
            );
        }
    }
    assert_eq!(fault_code(&m[3]), Some(9005));
    assert_eq!(
        saved.attributes["Device.WiFi.SSID.2.SSID"].access_list,
        ["Subscriber"]
    );
}

#[tokio::test(flavor = "current_thread")]
async fn schedule_inform_schedule_download_cancel_and_factory_reset() {
    let mut cpe = Cpe::boot(SessionConfig::default()).await;
    let mut acs = ScriptedAcs::new();
    acs.push(Body::ScheduleInform(ScheduleInform {
        delay_seconds: 30,
        command_key: "si-1".into(),
    }));
    acs.push(Body::ScheduleInform(ScheduleInform {
        delay_seconds: 0,
        command_key: "si-0".into(),
    }));
    let window = |start, end| TimeWindow {
        window_start: start,
        window_end: end,
        window_mode: "1 At Any Time".into(),
        user_message: String::new(),
        max_retries: 0,
    };
    let schedule = |key: &str, start| {
        Body::ScheduleDownload(ScheduleDownload {
            command_key: key.into(),
            file_type: "1 Firmware Upgrade Image".into(),
            url: "https://fw.example.net/s.bin".into(),
            username: String::new(),
            password: String::new(),
            file_size: 0,
            target_file_name: String::new(),
            time_window_list: vec![window(start, start + 3600)],
        })
    };
    acs.push(schedule("sd-1", 60));
    acs.push(schedule("sd-2", 600));
    acs.push(Body::GetQueuedTransfers);
    acs.push(Body::CancelTransfer(CancelTransfer {
        command_key: "sd-2".into(),
    }));
    acs.push(Body::CancelTransfer(CancelTransfer {
        command_key: "nope".into(),
    }));
    acs.push(Body::ScheduleDownload(ScheduleDownload {
        time_window_list: vec![window(100, 50)],
        ..match schedule("sd-3", 0) {
            Body::ScheduleDownload(s) => s,
            _ => unreachable!(),
        }
    }));
    acs.push(Body::FactoryReset);
    cpe.run(&mut acs, Duration::from_secs(5)).await;
    let m = acs.cpe_messages();
    assert!(matches!(m[0], Body::ScheduleInformResponse));
    assert_eq!(fault_code(&m[1]), Some(9003));
    assert!(matches!(m[2], Body::ScheduleDownloadResponse));
    let Body::GetQueuedTransfersResponse(queued) = &m[4] else {
        panic!("{:?}", m[4])
    };
    assert_eq!(queued.transfer_list.len(), 2);
    assert!(
        queued
            .transfer_list
            .iter()
            .all(|t| t.state == TransferState::NotYetStarted)
    );
    assert!(matches!(m[5], Body::CancelTransferResponse));
    assert_eq!(fault_code(&m[6]), Some(9003));
    assert_eq!(fault_code(&m[7]), Some(9003), "window end before start");
    assert!(matches!(m[8], Body::FactoryResetResponse));
    assert_eq!(cpe.sim.hardware().factory_resets, 1, "after the session");

    // 30 s later: the scheduled inform; 60 s: the download starts; its completion is reported.
    cpe.run(&mut acs, Duration::from_secs(100)).await;
    let informs = acs.informs();
    assert_eq!(informs[1].0, Duration::from_secs(30));
    assert_eq!(
        codes(&informs[1].1),
        ["3 SCHEDULED", "M ScheduleInform:si-1"]
    );
    assert_eq!(
        cpe.sim.pending_jobs(),
        1,
        "the scheduled download started at 60 s"
    );
    cpe.sim.run_jobs();
    cpe.sync().await;
    cpe.run(&mut acs, Duration::from_secs(5)).await;
    let informs = acs.informs();
    assert_eq!(
        codes(&informs[2].1),
        ["7 TRANSFER COMPLETE", "M ScheduleDownload:sd-1"]
    );
}

/// The encoded size of every response the CPE sent, with its body.
fn response_sizes(acs: &ScriptedAcs) -> Vec<(usize, Body)> {
    acs.received
        .iter()
        .filter_map(|r| Some((r.request.body.len(), r.envelope.as_ref()?.body.clone())))
        .filter(|(_, b)| !matches!(b, Body::Inform(_)))
        .collect()
}

fn gpn_device() -> Body {
    Body::GetParameterNames(GetParameterNames {
        parameter_path: "Device.".into(),
        next_level: false,
    })
}

#[tokio::test(flavor = "current_thread")]
async fn responses_over_the_size_limit_are_fault_9004() {
    // The whole model fits the default limit.
    let mut cpe = Cpe::boot(SessionConfig::default()).await;
    let mut acs = ScriptedAcs::new();
    acs.push(gpv(&["Device."]));
    acs.push(gpn_device());
    cpe.run(&mut acs, Duration::from_secs(5)).await;
    let sizes = response_sizes(&acs);
    assert_eq!(sizes.len(), 2, "{sizes:#?}");
    let (values, names) = (&sizes[0], &sizes[1]);
    assert!(
        matches!(&values.1, Body::GetParameterValuesResponse(r) if r.parameter_list.len() > 100),
        "{:?}",
        values.1
    );
    assert!(matches!(&names.1, Body::GetParameterNamesResponse(r) if r.parameter_list.len() > 100));
    let default = SessionConfig::default().limits.max_response_bytes;
    assert!(
        values.0 < default && names.0 < default,
        "{} {}",
        values.0,
        names.0
    );

    // One byte less than the smaller of the two: both become 9004, and the session goes on
    // to answer a small read.
    let mut config = SessionConfig::default();
    config.limits.max_response_bytes = values.0.min(names.0) - 1;
    let mut cpe = Cpe::boot(config).await;
    let mut acs = ScriptedAcs::new();
    acs.push(gpv(&["Device."]));
    acs.push(gpn_device());
    acs.push(gpv(&["Device.DeviceInfo.SoftwareVersion"]));
    cpe.run(&mut acs, Duration::from_secs(5)).await;
    let m = acs.cpe_messages();
    assert_eq!(m.len(), 3, "{m:#?}");
    assert_eq!(
        [fault_code(&m[0]), fault_code(&m[1])],
        [Some(9004), Some(9004)]
    );
    assert!(matches!(&m[2], Body::GetParameterValuesResponse(r) if r.parameter_list.len() == 1));
}

/// `Device.BulkData.Protocols` serves both protocols: the ACS sees the CWMP values and not
/// `USPEventNotif`, a USP value (`usp-core/tests/agent_messages.rs` has the USP side), and
/// may not choose it for a profile.
#[tokio::test(flavor = "current_thread")]
async fn shared_lists_show_only_cwmp_values() {
    let mut cpe = Cpe::boot(SessionConfig::default()).await;
    support::device_sets(
        &mut cpe,
        "Device.BulkData.Protocols",
        "HTTP,MQTT,USPEventNotif",
    )
    .await;
    let mut acs = ScriptedAcs::new();
    acs.push(gpv(&["Device.BulkData.Protocols"]));
    acs.push(gpv(&["Device.BulkData."]));
    acs.push(Body::AddObject(AddObject {
        object_name: "Device.BulkData.Profile.".into(),
        parameter_key: String::new(),
    }));
    cpe.run(&mut acs, Duration::from_secs(5)).await;
    let answers = acs.cpe_messages();
    for answer in &answers[..2] {
        let Body::GetParameterValuesResponse(r) = answer else {
            panic!("{answer:?}");
        };
        let protocols = r
            .parameter_list
            .iter()
            .find(|p| p.name == "Device.BulkData.Protocols")
            .unwrap();
        assert_eq!(protocols.value, "HTTP,MQTT");
    }
    let Body::AddObjectResponse(added) = &answers[2] else {
        panic!("{:?}", answers[2]);
    };
    let protocol = format!("Device.BulkData.Profile.{}.Protocol", added.instance_number);
    acs.push(spv(&protocol, "USPEventNotif", "p1"));
    acs.push(spv(&protocol, "HTTP", "p2"));
    cpe.session
        .handle_input(cwmp_core::session::Input::ConnectionRequest)
        .unwrap();
    cpe.run(&mut acs, Duration::from_secs(5)).await;
    let answers = acs.cpe_messages();
    let Body::Fault(fault) = &answers[3] else {
        panic!("{:?}", answers[3]);
    };
    let detail = fault.detail.as_ref().unwrap();
    assert_eq!(detail.set_parameter_values_fault[0].fault_code, 9007);
    assert!(matches!(answers[4], Body::SetParameterValuesResponse(_)));
    assert_eq!(stored(&cpe, &protocol), "HTTP");
}
