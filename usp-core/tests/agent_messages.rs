//! The agent against the simulated device: one test per message type, and the error-code
//! paths of each.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

#[path = "common/harness.rs"]
mod harness;

use std::collections::BTreeMap;

use bytes::Bytes;
use harness::{AGENT, CTRL, Harness, error, resp};
use prost::Message as _;
use usp_core::agent::{AgentEvent, ControllerConfig, IgnoreReason, Mtp, MtpKind};
use usp_core::codec::{self, RecordBuilder};
use usp_core::usp::{
    self, add::CreateObject, add::CreateParamSetting, add_resp::created_object_result, delete_resp,
    get_supported_dm_resp as gsdm, operate_resp::operation_result::OperationResp, request::ReqType,
    response::RespType, set, set_resp::updated_object_result,
};
use usp_core::usp_record::record::RecordType;

fn get(paths: &[&str], max_depth: u32) -> ReqType {
    ReqType::Get(usp::Get {
        param_paths: paths.iter().map(|p| (*p).into()).collect(),
        max_depth,
    })
}

fn get_resp(msg: &usp::Msg) -> usp::GetResp {
    match resp(msg) {
        RespType::GetResp(r) => r,
        other => panic!("{other:?}"),
    }
}

#[tokio::test]
async fn get_with_depth_search_and_empty_match() {
    let mut h = Harness::new().await;
    let reply = h
        .request(
            "g1",
            get(
                &[
                    "Device.DeviceInfo.",
                    "Device.WiFi.SSID.[SSID==\"Acme-5G\"].Enable",
                    "Device.WiFi.SSID.[SSID==\"nope\"].",
                    "Device.WiFi.SSID.*.SSID",
                    "Device.Nope.",
                    "Device.WiFi.SSID.[SSID=\"bad\"].",
                ],
                1,
            ),
        )
        .await;
    let r = get_resp(&reply);
    assert_eq!(r.req_path_results.len(), 6);
    let info = &r.req_path_results[0];
    assert_eq!(info.err_code, 0);
    assert_eq!(
        info.resolved_path_results.len(),
        1,
        "max_depth 1: no FirmwareImage rows"
    );
    assert_eq!(
        info.resolved_path_results[0].resolved_path,
        "Device.DeviceInfo."
    );
    assert_eq!(
        info.resolved_path_results[0].result_params["SerialNumber"],
        "SIM0001"
    );
    let search = &r.req_path_results[1];
    assert_eq!(search.err_code, 0);
    assert_eq!(
        search.resolved_path_results[0].resolved_path,
        "Device.WiFi.SSID.2."
    );
    assert_eq!(
        search.resolved_path_results[0].result_params["Enable"],
        "true"
    );
    // R-MSG.4a: a search matching nothing is success without results.
    assert_eq!(r.req_path_results[2].err_code, 0);
    assert!(r.req_path_results[2].resolved_path_results.is_empty());
    let wildcard: Vec<&str> = r.req_path_results[3]
        .resolved_path_results
        .iter()
        .map(|p| p.result_params["SSID"].as_str())
        .collect();
    assert_eq!(wildcard, ["Acme-2G", "Acme-5G"]);
    assert_eq!(
        r.req_path_results[4].err_code, 7026,
        "not in the supported model"
    );
    assert_eq!(r.req_path_results[5].err_code, 7008, "invalid path syntax");

    // max_depth 0 is the whole subtree.
    let deep = get_resp(&h.request("g2", get(&["Device.DeviceInfo."], 0)).await);
    assert!(
        deep.req_path_results[0]
            .resolved_path_results
            .iter()
            .any(|p| p.resolved_path == "Device.DeviceInfo.FirmwareImage.1.")
    );
}

#[tokio::test]
async fn get_instances_with_unique_keys() {
    let mut h = Harness::new().await;
    let reply = h
        .request(
            "gi",
            ReqType::GetInstances(usp::GetInstances {
                obj_paths: vec!["Device.NAT.PortMapping.".into(), "Device.Nope.".into()],
                first_level_only: true,
            }),
        )
        .await;
    let RespType::GetInstancesResp(r) = resp(&reply) else {
        panic!()
    };
    let insts = &r.req_path_results[0].curr_insts;
    assert_eq!(insts.len(), 1);
    assert_eq!(insts[0].instantiated_obj_path, "Device.NAT.PortMapping.1.");
    assert_eq!(insts[0].unique_keys["ExternalPort"], "8080");
    assert_eq!(insts[0].unique_keys["Protocol"], "TCP");
    assert_eq!(r.req_path_results[1].err_code, 7026);
}

#[tokio::test]
async fn get_supported_dm_with_commands_events_and_keys() {
    let mut h = Harness::new().await;
    let req = |first_level_only| {
        ReqType::GetSupportedDm(usp::GetSupportedDm {
            obj_paths: vec!["Device.".into(), "Device.NAT.PortMapping.{i}.".into()],
            first_level_only,
            return_commands: true,
            return_events: true,
            return_params: true,
            return_unique_key_sets: true,
        })
    };
    let RespType::GetSupportedDmResp(r) = resp(&h.request("dm", req(true)).await) else {
        panic!()
    };
    let root = &r.req_obj_results[0];
    assert_eq!(root.err_code, 0);
    assert_eq!(root.data_model_inst_uri, usp_core::agent::DATA_MODEL_URI);
    let device = &root.supported_objs[0];
    assert_eq!(device.supported_obj_path, "Device.");
    assert!(
        device
            .supported_events
            .iter()
            .any(|e| e.event_name == "Boot!")
    );
    let reboot = device
        .supported_commands
        .iter()
        .find(|c| c.command_name == "Reboot()")
        .unwrap();
    assert_eq!(reboot.command_type, gsdm::CmdType::CmdSync as i32);
    // first_level_only: Device. and its direct children, not grandchildren.
    assert!(
        root.supported_objs
            .iter()
            .any(|o| o.supported_obj_path == "Device.WiFi.")
    );
    assert!(
        !root
            .supported_objs
            .iter()
            .any(|o| o.supported_obj_path == "Device.WiFi.SSID.{i}.")
    );
    let mapping = &r.req_obj_results[1].supported_objs[0];
    assert!(mapping.is_multi_instance);
    assert_eq!(mapping.access, gsdm::ObjAccessType::ObjAddDelete as i32);
    assert!(
        mapping
            .unique_key_sets
            .iter()
            .any(|k| k.key_names.contains(&"ExternalPort".to_string()))
    );
    let port = mapping
        .supported_params
        .iter()
        .find(|p| p.param_name == "ExternalPort")
        .unwrap();
    assert_eq!(
        port.value_type,
        gsdm::ParamValueType::ParamUnsignedInt as i32
    );
    assert_eq!(port.access, gsdm::ParamAccessType::ParamReadWrite as i32);

    // Without first_level_only the whole subtree, with async commands.
    let RespType::GetSupportedDmResp(all) = resp(&h.request("dm2", req(false)).await) else {
        panic!()
    };
    let diag = all.req_obj_results[0]
        .supported_objs
        .iter()
        .find(|o| o.supported_obj_path == "Device.IP.Diagnostics.")
        .unwrap();
    let ping = diag
        .supported_commands
        .iter()
        .find(|c| c.command_name == "IPPing()")
        .unwrap();
    assert_eq!(ping.command_type, gsdm::CmdType::CmdAsync as i32);
    assert!(ping.input_arg_names.contains(&"Host".to_string()));

    let bad = ReqType::GetSupportedDm(usp::GetSupportedDm {
        obj_paths: vec!["Device.Nope.".into()],
        ..Default::default()
    });
    let RespType::GetSupportedDmResp(bad) = resp(&h.request("dm3", bad).await) else {
        panic!()
    };
    assert_eq!(bad.req_obj_results[0].err_code, 7026);
}

#[tokio::test]
async fn get_supported_protocol() {
    let mut h = Harness::new().await;
    let reply = h
        .request(
            "p",
            ReqType::GetSupportedProtocol(usp::GetSupportedProtocol {
                controller_supported_protocol_versions: "1.3,1.4".into(),
            }),
        )
        .await;
    let RespType::GetSupportedProtocolResp(r) = resp(&reply) else {
        panic!()
    };
    assert_eq!(
        r.agent_supported_protocol_versions,
        "1.0,1.1,1.2,1.3,1.4,1.5"
    );
    // The answer went back on the controller's MTP, in a no-session Record.
    let sent = h.sent.last().unwrap();
    assert_eq!(sent.mtp.reply_to, "ctrl/reply");
    assert_eq!(sent.record.from_id, AGENT);
    assert!(matches!(
        sent.record.record_type,
        Some(RecordType::NoSessionContext(_))
    ));
}

fn set_one(path: &str, param: &str, value: &str, allow_partial: bool) -> ReqType {
    ReqType::Set(usp::Set {
        allow_partial,
        update_objs: vec![set::UpdateObject {
            obj_path: path.into(),
            param_settings: vec![set::UpdateParamSetting {
                param: param.into(),
                value: value.into(),
                required: true,
            }],
        }],
    })
}

#[tokio::test]
async fn set_success_and_error_codes() {
    let mut h = Harness::new().await;
    let reply = h
        .request(
            "s1",
            set_one(
                "Device.WiFi.SSID.[SSID==\"Acme-5G\"].",
                "SSID",
                "Guest",
                false,
            ),
        )
        .await;
    let RespType::SetResp(r) = resp(&reply) else {
        panic!()
    };
    let Some(updated_object_result::operation_status::OperStatus::OperSuccess(ok)) = &r
        .updated_obj_results[0]
        .oper_status
        .as_ref()
        .unwrap()
        .oper_status
    else {
        panic!()
    };
    assert_eq!(
        ok.updated_inst_results[0].affected_path,
        "Device.WiFi.SSID.2."
    );
    assert_eq!(ok.updated_inst_results[0].updated_params["SSID"], "Guest");
    assert_eq!(h.value("Device.WiFi.SSID.2.SSID"), "Guest");

    for (id, path, param, value, code) in [
        ("e1", "Device.DeviceInfo.", "UpTime", "5", 7013),
        ("e2", "Device.WiFi.SSID.1.", "Enable", "maybe", 7012),
        ("e3", "Device.WiFi.SSID.9.", "Enable", "true", 7016),
        ("e4", "Device.WiFi.SSID.1.", "Nope", "1", 7026),
        ("e5", "Device.WiFi.SSID..", "Enable", "true", 7008),
    ] {
        let e = error(&h.request(id, set_one(path, param, value, false)).await);
        assert_eq!(e.err_code, code, "{id}: {e:?}");
    }
    // A duplicate unique key: port mapping keys are RemoteHost, ExternalPort, Protocol.
    let add = add_one(
        "Device.NAT.PortMapping.",
        &[
            ("ExternalPort", "9090"),
            ("Protocol", "TCP"),
            ("Enable", "true"),
        ],
    );
    let added = harness::add_resp(&h.request("a0", add).await);
    let Some(created_object_result::operation_status::OperStatus::OperSuccess(row)) = &added
        .created_obj_results[0]
        .oper_status
        .as_ref()
        .unwrap()
        .oper_status
    else {
        panic!("{added:?}")
    };
    let e = error(
        &h.request(
            "e6",
            set_one(&row.instantiated_path, "ExternalPort", "8080", false),
        )
        .await,
    );
    assert_eq!(e.err_code, 7025, "{e:?}");
}

fn add_one(table: &str, params: &[(&str, &str)]) -> ReqType {
    ReqType::Add(usp::Add {
        allow_partial: false,
        create_objs: vec![CreateObject {
            obj_path: table.into(),
            param_settings: params
                .iter()
                .map(|(p, v)| CreateParamSetting {
                    param: (*p).into(),
                    value: (*v).into(),
                    required: true,
                })
                .collect(),
        }],
    })
}

#[tokio::test]
async fn add_returns_unique_keys_and_error_codes() {
    let mut h = Harness::new().await;
    let r = harness::add_resp(
        &h.request(
            "a1",
            add_one(
                "Device.NAT.PortMapping.",
                &[
                    ("ExternalPort", "2222"),
                    ("Protocol", "UDP"),
                    ("Alias", "ssh"),
                ],
            ),
        )
        .await,
    );
    let Some(created_object_result::operation_status::OperStatus::OperSuccess(ok)) = &r
        .created_obj_results[0]
        .oper_status
        .as_ref()
        .unwrap()
        .oper_status
    else {
        panic!("{r:?}")
    };
    assert_eq!(ok.instantiated_path, "Device.NAT.PortMapping.2.");
    assert_eq!(ok.unique_keys["ExternalPort"], "2222");
    assert_eq!(ok.unique_keys["Alias"], "ssh");

    for (id, table, code) in [
        ("ae1", "Device.DeviceInfo.", 7018),
        ("ae2", "Device.Nope.", 7026),
        ("ae3", "Device.WiFi.Radio.", 7019),
    ] {
        let e = error(&h.request(id, add_one(table, &[])).await);
        assert_eq!(e.err_code, code, "{id}: {e:?}");
    }
}

/// Adds and Sets beyond the bulk data capabilities the device advertises
/// (`Device.BulkData.MaxNumberOfProfiles`, `MaxNumberOfParameterReferences`,
/// `MinReportingInterval`) are refused with their codes.
#[tokio::test]
async fn add_and_set_beyond_the_bulk_data_capabilities_fail() {
    let mut h = Harness::new().await;
    h.engine
        .device_update(|txn| {
            txn.set("Device.BulkData.MaxNumberOfProfiles", "1")?;
            txn.set("Device.BulkData.MaxNumberOfParameterReferences", "1")?;
            txn.set("Device.BulkData.MinReportingInterval", "300")
        })
        .await
        .unwrap();
    let profile = h
        .add_object("bd1", "Device.BulkData.Profile.", &[("Alias", "one")])
        .await;
    let e = error(
        &h.request("bd2", add_one("Device.BulkData.Profile.", &[]))
            .await,
    );
    assert_eq!(e.err_code, 7017, "MaxNumberOfProfiles: {e:?}");

    let parameters = format!("{profile}Parameter.");
    let serial = [("Reference", "Device.DeviceInfo.SerialNumber")];
    h.add_object("bd3", &parameters, &serial).await;
    let e = error(&h.request("bd4", add_one(&parameters, &serial)).await);
    assert_eq!(e.err_code, 7005, "MaxNumberOfParameterReferences: {e:?}");

    let short = set_one(&profile, "ReportingInterval", "60", false);
    let e = error(&h.request("bd5", short).await);
    assert_eq!(e.err_code, 7012, "MinReportingInterval: {e:?}");
    assert_eq!(
        e.param_errs[0].param_path,
        format!("{profile}ReportingInterval")
    );
    assert_eq!(h.value(&format!("{profile}ReportingInterval")), "86400");
}

#[tokio::test]
async fn delete_reports_affected_and_unaffected_paths() {
    use delete_resp::deleted_object_result::operation_status::OperStatus;
    let mut h = Harness::new().await;
    let delete = |paths: &[&str], allow_partial| {
        ReqType::Delete(usp::Delete {
            allow_partial,
            obj_paths: paths.iter().map(|p| (*p).into()).collect(),
        })
    };
    let add = add_one(
        "Device.NAT.PortMapping.",
        &[("ExternalPort", "2222"), ("Protocol", "TCP")],
    );
    let _ = h.request("a", add).await;
    let refuse = || {
        hal::sim::Fault::fail(
            hal::sim::HalCall::Deleted,
            2,
            hal::HalError::Refused {
                path: "Device.NAT.PortMapping.2.".into(),
                reason: "busy".into(),
            },
        )
    };
    // The hardware refuses the second row: without allow_partial an Error and nothing
    // deleted ...
    h.sim.inject(refuse());
    let e = error(
        &h.request("d1", delete(&["Device.NAT.PortMapping.*."], false))
            .await,
    );
    assert_eq!(e.err_code, 7002, "{e:?}");
    assert_eq!(e.param_errs[0].param_path, "Device.NAT.PortMapping.2.");
    assert_eq!(
        h.value("Device.NAT.PortMapping.1.ExternalPort"),
        "8080",
        "nothing deleted"
    );
    // ... with it, the refused row is unaffected and the other one deleted.
    h.sim.inject(refuse());
    let RespType::DeleteResp(r) = resp(
        &h.request("d2", delete(&["Device.NAT.PortMapping.*."], true))
            .await,
    ) else {
        panic!()
    };
    let OperStatus::OperSuccess(ok) = r.deleted_obj_results[0]
        .oper_status
        .clone()
        .unwrap()
        .oper_status
        .unwrap()
    else {
        panic!("{r:?}")
    };
    assert_eq!(ok.affected_paths, ["Device.NAT.PortMapping.1."]);
    assert_eq!(
        ok.unaffected_path_errs[0].unaffected_path,
        "Device.NAT.PortMapping.2."
    );
    assert_eq!(ok.unaffected_path_errs[0].err_code, 7002);

    // A search matching nothing is success with nothing affected; a search path that works.
    let RespType::DeleteResp(r) = resp(
        &h.request(
            "d3",
            delete(
                &[
                    "Device.NAT.PortMapping.[ExternalPort==2222].",
                    "Device.NAT.PortMapping.[ExternalPort==1].",
                ],
                false,
            ),
        )
        .await,
    ) else {
        panic!()
    };
    let status = |i: usize| {
        r.deleted_obj_results[i]
            .oper_status
            .clone()
            .unwrap()
            .oper_status
            .unwrap()
    };
    let OperStatus::OperSuccess(ok) = status(0) else {
        panic!()
    };
    assert_eq!(ok.affected_paths, ["Device.NAT.PortMapping.2."]);
    let OperStatus::OperSuccess(empty) = status(1) else {
        panic!()
    };
    assert!(empty.affected_paths.is_empty());

    let e = error(
        &h.request("d4", delete(&["Device.DeviceInfo."], false))
            .await,
    );
    assert_eq!(e.err_code, 7018);
}

fn operate(command: &str, key: &str, args: &[(&str, &str)], send_resp: bool) -> ReqType {
    ReqType::Operate(usp::Operate {
        command: command.into(),
        command_key: key.into(),
        send_resp,
        input_args: args
            .iter()
            .map(|(k, v)| ((*k).to_string(), (*v).to_string()))
            .collect::<BTreeMap<_, _>>(),
    })
}

const PING: &[(&str, &str)] = &[
    ("Host", "192.0.2.1"),
    ("NumberOfRepetitions", "4"),
    ("DataBlockSize", "64"),
    ("ProtocolVersion", "Any"),
    ("Timeout", "1000"),
];

fn operation(msg: &usp::Msg) -> Vec<(String, OperationResp)> {
    let RespType::OperateResp(r) = resp(msg) else {
        panic!()
    };
    r.operation_results
        .into_iter()
        .map(|o| (o.executed_command, o.operation_resp.unwrap()))
        .collect()
}

#[tokio::test]
async fn operate_sync_async_and_cancel() {
    let mut h = Harness::new().await;
    // Synchronous, on a search path: one result per matched object.
    let sync = operation(
        &h.request(
            "o1",
            operate("Device.IP.Interface.*.Reset()", "k1", &[], true),
        )
        .await,
    );
    assert_eq!(sync.len(), 2);
    assert!(matches!(sync[0].1, OperationResp::ReqOutputArgs(_)));
    assert_eq!(sync[0].0, "Device.IP.Interface.1.Reset()");

    // Asynchronous: a Request row.
    let started = operation(
        &h.request(
            "o2",
            operate("Device.IP.Diagnostics.IPPing()", "ping", PING, true),
        )
        .await,
    );
    let OperationResp::ReqObjPath(row) = &started[0].1 else {
        panic!("{started:?}")
    };
    assert_eq!(row, "Device.LocalAgent.Request.1.");
    assert_eq!(h.value("Device.LocalAgent.Request.1.Status"), "Active");
    assert_eq!(h.value("Device.LocalAgent.Request.1.Originator"), CTRL);

    // Request.{i}.Cancel() ends it.
    let cancel = operation(
        &h.request(
            "o3",
            operate("Device.LocalAgent.Request.1.Cancel()", "", &[], true),
        )
        .await,
    );
    assert!(
        matches!(cancel[0].1, OperationResp::ReqOutputArgs(_)),
        "{cancel:?}"
    );
    assert!(
        h.engine
            .read(|s| s.value("Device.LocalAgent.Request.1.Status").is_err())
    );

    // Per-command failures are cmd_failure, never an Error (R-OPR.1).
    let bad = operation(
        &h.request(
            "o4",
            operate("Device.IP.Diagnostics.IPPing()", "", &[("Nope", "1")], true),
        )
        .await,
    );
    let OperationResp::CmdFailure(f) = &bad[0].1 else {
        panic!()
    };
    assert_eq!(f.err_code, 7027);
    // A path that is not a command of the model is an Error.
    let e = error(
        &h.request("o5", operate("Device.Nope()", "", &[], true))
            .await,
    );
    assert_eq!(e.err_code, 7026);

    // send_resp=false: executed, no response.
    let before = h.sim.hardware().commands.len();
    let none = h
        .request_from(
            CTRL,
            "o6",
            operate("Device.IP.Interface.1.Reset()", "", &[], false),
        )
        .await;
    assert!(none.is_none());
    assert_eq!(h.sim.hardware().commands.len(), before + 1);
}

#[tokio::test]
async fn undecodable_and_unsupported_messages() {
    let mut h = Harness::new().await;
    // Notify/Register/Deregister from a controller: 7001.
    let e = error(
        &h.request(
            "n",
            ReqType::Notify(usp::Notify {
                notification: Some(usp::notify::Notification::ValueChange(Default::default())),
                ..Default::default()
            }),
        )
        .await,
    );
    assert_eq!(e.err_code, 7001);
    let e = error(
        &h.request("r", ReqType::Register(usp::Register::default()))
            .await,
    );
    assert_eq!(e.err_code, 7001);

    // A Msg that breaks a rule but whose msg_id is readable: Error 7004.
    let mut msg = codec::request_msg("bad-1", get(&["Device."], 0));
    msg.header.as_mut().unwrap().msg_type = usp::header::MsgType::Set as i32;
    let mut payload = Vec::new();
    msg.encode(&mut payload).unwrap();
    h.feed(&harness::record_with_payload(payload)).await;
    let reply = h.sent.last().unwrap().msg().unwrap();
    assert_eq!(reply.header.as_ref().unwrap().msg_id, "bad-1");
    assert_eq!(error(&reply).err_code, 7004);

    // An unknown msg_type: 7001.
    let mut msg = codec::request_msg("bad-2", get(&["Device."], 0));
    msg.header.as_mut().unwrap().msg_type = 99;
    let mut payload = Vec::new();
    msg.encode(&mut payload).unwrap();
    h.feed(&harness::record_with_payload(payload)).await;
    assert_eq!(error(&h.sent.last().unwrap().msg().unwrap()).err_code, 7001);

    // Garbage payload: the msg_id cannot be read, so the Record is ignored (R-MTP.5).
    let sent = h.sent.len();
    h.feed(&harness::record_with_payload(vec![0xff, 0xff, 0xff]))
        .await;
    assert_eq!(h.sent.len(), sent);
    assert!(matches!(
        h.events.last(),
        Some(AgentEvent::RecordIgnored {
            reason: IgnoreReason::MsgUndecodable(7000),
            ..
        })
    ));

    // Too many paths: 7005 (Resources exceeded) from the codec's limits.
    let many: Vec<String> = (0..5000).map(|i| format!("Device.X{i}.")).collect();
    let e = error(
        &h.request(
            "big",
            ReqType::Get(usp::Get {
                param_paths: many,
                max_depth: 0,
            }),
        )
        .await,
    );
    assert_eq!(e.err_code, 7005);
}

/// A response other than NotifyResp, or an Error, sent to the agent is ignored and nothing goes
/// back (R-MTP.5). The agent reads no such response's content (`usp_inbound`), so one over
/// the limits (the SetResp) is ignored as unexpected too, not as undecodable.
#[tokio::test]
async fn responses_and_errors_are_ignored() {
    let mut h = Harness::new().await;
    let get_resp = || {
        RespType::GetResp(usp::GetResp {
            req_path_results: vec![usp::get_resp::RequestedPathResult {
                requested_path: "Device.DeviceInfo.".into(),
                ..Default::default()
            }],
        })
    };
    let oversized = usp::SetResp {
        updated_obj_results: vec![Default::default(); 5000],
    };
    let msgs = [
        codec::response_msg("r1", get_resp()),
        codec::response_msg("r2", RespType::SetResp(oversized)),
        codec::response_msg(
            "r3",
            RespType::GetSupportedProtocolResp(usp::GetSupportedProtocolResp {
                agent_supported_protocol_versions: "1.4".into(),
            }),
        ),
        codec::error_msg(
            "r4",
            usp::Error {
                err_code: 7000,
                err_msg: "no".into(),
                param_errs: vec![],
            },
        ),
    ];
    for msg in msgs {
        let msg_id = msg.header.as_ref().unwrap().msg_id.clone();
        let mut payload = Vec::new();
        codec::encode_msg(&msg, &mut payload);
        let sent = h.sent.len();
        h.feed(&harness::record_with_payload(payload)).await;
        assert_eq!(h.sent.len(), sent, "{msg_id}");
        assert!(
            matches!(
                h.events.last(),
                Some(AgentEvent::RecordIgnored {
                    reason: IgnoreReason::Unexpected,
                    ..
                })
            ),
            "{msg_id}: {:?}",
            h.events.last()
        );
    }
    // A response whose type is not its header's: unreadable, ignored all the same.
    let mut msg = codec::response_msg("r5", get_resp());
    msg.header.as_mut().unwrap().msg_type = usp::header::MsgType::SetResp as i32;
    let mut payload = Vec::new();
    codec::encode_msg(&msg, &mut payload);
    let sent = h.sent.len();
    h.feed(&harness::record_with_payload(payload)).await;
    assert_eq!(h.sent.len(), sent);
    assert!(matches!(
        h.events.last(),
        Some(AgentEvent::RecordIgnored {
            reason: IgnoreReason::MsgUndecodable(7004),
            ..
        })
    ));
}

#[tokio::test]
async fn record_checks() {
    let mut h = Harness::new().await;
    let msg = codec::request_msg("x", get(&["Device.DeviceInfo."], 1));
    // Not for us, unknown controller, bad version, undecodable: ignored, nothing sent.
    for (record, reason) in [
        (
            RecordBuilder::new("os::other", CTRL).no_session(&msg),
            IgnoreReason::NotForUs,
        ),
        (
            RecordBuilder::new(AGENT, "self::stranger").no_session(&msg),
            IgnoreReason::UnknownController,
        ),
        (
            RecordBuilder::new(AGENT, CTRL)
                .with_version("2.0")
                .no_session(&msg),
            IgnoreReason::UnsupportedVersion,
        ),
    ] {
        h.feed(&harness::encode(&record)).await;
        assert!(h.sent.is_empty());
        assert!(
            matches!(h.events.last(), Some(AgentEvent::RecordIgnored { reason: r, .. }) if *r == reason)
        );
    }
    h.feed(b"\x0a\x05garbage").await;
    assert!(h.sent.is_empty());
    assert!(matches!(
        h.events.last(),
        Some(AgentEvent::RecordIgnored {
            reason: IgnoreReason::Undecodable(7100 | 7104),
            ..
        })
    ));
}

#[tokio::test]
async fn the_known_controllers_change_at_run_time() {
    let mut h = Harness::new().await;
    let msg = codec::request_msg("x", get(&["Device.DeviceInfo.SerialNumber"], 1));
    let from =
        |controller| harness::encode(&RecordBuilder::new(AGENT, controller).no_session(&msg));
    h.feed(&from("self::newcomer")).await;
    assert!(h.sent.is_empty(), "an unknown controller is ignored");
    h.feed(&from(CTRL)).await;
    assert_eq!(h.sent.len(), 1);

    // A controller row added, and the known one's MTP moved to another topic.
    let moved = Mtp::new(MtpKind::Mqtt, "ctrl/moved");
    h.agent.set_controllers(vec![
        ControllerConfig::new(CTRL).with_mtp(moved.clone()),
        ControllerConfig::new("self::newcomer"),
    ]);
    h.feed(&from("self::newcomer")).await;
    assert_eq!(h.sent.len(), 2, "the newcomer is answered");
    assert_eq!(h.sent.last().unwrap().to, "self::newcomer");
    h.agent
        .send_onboard_request(h.now, CTRL, "00D09E", "HG", "SIM0001");
    h.drive().await;
    let sent = h.sent.last().unwrap();
    assert_eq!(
        (sent.to.as_str(), &sent.mtp),
        (CTRL, &moved),
        "the new route, not the learnt one"
    );

    // The known one's row deleted: its Records are refused.
    h.agent
        .set_controllers(vec![ControllerConfig::new("self::newcomer")]);
    let sent = h.sent.len();
    h.feed(&from(CTRL)).await;
    assert_eq!(h.sent.len(), sent);
    assert!(matches!(
        h.events.last(),
        Some(AgentEvent::RecordIgnored {
            reason: IgnoreReason::UnknownController,
            ..
        })
    ));
}

#[tokio::test]
async fn duplicate_msg_id_in_flight_is_ignored() {
    let mut h = Harness::new().await;
    let msg = codec::request_msg("dup", get(&["Device.DeviceInfo."], 1));
    let bytes = Bytes::from(harness::encode(
        &RecordBuilder::new(AGENT, CTRL).no_session(&msg),
    ));
    let mtp = h.mtp.clone();
    // Two copies arrive before the engine answers the first.
    h.agent.handle_record(h.now, mtp.clone(), bytes.clone());
    h.agent.handle_record(h.now, mtp, bytes);
    h.drive().await;
    let replies = h
        .sent
        .iter()
        .filter_map(harness::Sent::msg)
        .filter(|m| m.header.as_ref().unwrap().msg_id == "dup")
        .count();
    assert_eq!(replies, 1);
    assert!(h.events.iter().any(|e| matches!(
        e,
        AgentEvent::RecordIgnored {
            reason: IgnoreReason::Duplicate,
            ..
        }
    )));
}

/// `Device.BulkData.Protocols` serves both protocols: a USP controller sees `USPEventNotif`,
/// which an ACS does not (`cwmp-core/tests/session_rpc.rs`). (The values only the CWMP model
/// has, `Streaming` and `File`, are left out for USP the same way: `tr181_model::schema`'s
/// unit test; the device cannot store them, as its writes follow the USP model.)
#[tokio::test]
async fn get_shows_the_usp_values_of_a_shared_list() {
    let mut h = Harness::new().await;
    h.device_set("Device.BulkData.Protocols", "HTTP,MQTT,USPEventNotif")
        .await;
    let r = get_resp(
        &h.request("g1", get(&["Device.BulkData.Protocols"], 0))
            .await,
    );
    let result = &r.req_path_results[0].resolved_path_results[0];
    assert_eq!(result.result_params["Protocols"], "HTTP,MQTT,USPEventNotif");
}
