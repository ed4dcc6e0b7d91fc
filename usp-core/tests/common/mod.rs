//! One sample of every USP Msg type (and of every Notify kind), built with our types. The rusp
//! interop test pairs each with the same message built by rusp-lib; the protoc test feeds them
//! to `protoc --decode`.
#![allow(dead_code, clippy::too_many_lines)]

use std::collections::BTreeMap;

use usp_core::Msg;
use usp_core::codec::{error_msg, request_msg, response_msg};
use usp_core::usp::{self, request::ReqType, response::RespType};

pub(crate) fn map(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
    pairs
        .iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect()
}

pub(crate) fn strings(items: &[&str]) -> Vec<String> {
    items.iter().map(|s| (*s).to_owned()).collect()
}

/// Every sample, named as its `msg_id`.
pub(crate) fn samples() -> Vec<(&'static str, Msg)> {
    let names = [
        "get",
        "get_resp",
        "set",
        "set_resp",
        "add",
        "add_resp",
        "delete",
        "delete_resp",
        "operate",
        "operate_resp",
        "notify_event",
        "notify_value_change",
        "notify_obj_creation",
        "notify_obj_deletion",
        "notify_oper_complete_output",
        "notify_oper_complete_failure",
        "notify_on_board_req",
        "notify_resp",
        "get_supported_dm",
        "get_supported_dm_resp",
        "get_instances",
        "get_instances_resp",
        "get_supported_protocol",
        "get_supported_protocol_resp",
        "register",
        "register_resp",
        "deregister",
        "deregister_resp",
        "error",
    ];
    names.into_iter().map(|n| (n, sample(n))).collect()
}

pub(crate) fn sample(name: &str) -> Msg {
    match name {
        "get" => request_msg(
            name,
            ReqType::Get(usp::Get {
                param_paths: strings(&["Device.DeviceInfo.", "Device.LocalAgent.EndpointID"]),
                max_depth: 2,
            }),
        ),
        "get_resp" => {
            use usp::get_resp::{RequestedPathResult, ResolvedPathResult};
            response_msg(
                name,
                RespType::GetResp(usp::GetResp {
                    req_path_results: vec![
                        RequestedPathResult {
                            requested_path: "Device.DeviceInfo.".into(),
                            err_code: 0,
                            err_msg: String::new(),
                            resolved_path_results: vec![ResolvedPathResult {
                                resolved_path: "Device.DeviceInfo.".into(),
                                result_params: map(&[
                                    ("Manufacturer", "ACME"),
                                    ("SerialNumber", "0123456789"),
                                ]),
                            }],
                        },
                        RequestedPathResult {
                            requested_path: "Device.Nope.".into(),
                            err_code: 7026,
                            err_msg: "Invalid path".into(),
                            resolved_path_results: vec![],
                        },
                    ],
                }),
            )
        }
        "set" => {
            use usp::set::{UpdateObject, UpdateParamSetting};
            request_msg(
                name,
                ReqType::Set(usp::Set {
                    allow_partial: true,
                    update_objs: vec![UpdateObject {
                        obj_path: "Device.LocalAgent.Controller.1.".into(),
                        param_settings: vec![
                            UpdateParamSetting {
                                param: "PeriodicNotifInterval".into(),
                                value: "3600".into(),
                                required: true,
                            },
                            UpdateParamSetting {
                                param: "Alias".into(),
                                value: "cpe-1".into(),
                                required: false,
                            },
                        ],
                    }],
                }),
            )
        }
        "set_resp" => {
            use usp::set_resp::updated_object_result::{
                OperationStatus,
                operation_status::{OperStatus, OperationFailure, OperationSuccess},
            };
            use usp::set_resp::{
                ParameterError, UpdatedInstanceFailure, UpdatedInstanceResult, UpdatedObjectResult,
            };
            response_msg(
                name,
                RespType::SetResp(usp::SetResp {
                    updated_obj_results: vec![
                        UpdatedObjectResult {
                            requested_path: "Device.LocalAgent.Controller.1.".into(),
                            oper_status: Some(OperationStatus {
                                oper_status: Some(OperStatus::OperSuccess(OperationSuccess {
                                    updated_inst_results: vec![UpdatedInstanceResult {
                                        affected_path: "Device.LocalAgent.Controller.1.".into(),
                                        param_errs: vec![ParameterError {
                                            param: "Alias".into(),
                                            err_code: 7012,
                                            err_msg: "Invalid value".into(),
                                        }],
                                        updated_params: map(&[("PeriodicNotifInterval", "3600")]),
                                    }],
                                })),
                            }),
                        },
                        UpdatedObjectResult {
                            requested_path: "Device.Foo.".into(),
                            oper_status: Some(OperationStatus {
                                oper_status: Some(OperStatus::OperFailure(OperationFailure {
                                    err_code: 7026,
                                    err_msg: "Invalid path".into(),
                                    updated_inst_failures: vec![UpdatedInstanceFailure {
                                        affected_path: "Device.Foo.1.".into(),
                                        param_errs: vec![ParameterError {
                                            param: "Bar".into(),
                                            err_code: 7010,
                                            err_msg: "Unsupported parameter".into(),
                                        }],
                                    }],
                                })),
                            }),
                        },
                    ],
                }),
            )
        }
        "add" => {
            use usp::add::{CreateObject, CreateParamSetting};
            request_msg(
                name,
                ReqType::Add(usp::Add {
                    allow_partial: false,
                    create_objs: vec![CreateObject {
                        obj_path: "Device.LocalAgent.Controller.".into(),
                        param_settings: vec![CreateParamSetting {
                            param: "EndpointID".into(),
                            value: "proto::ctrl2".into(),
                            required: true,
                        }],
                    }],
                }),
            )
        }
        "add_resp" => {
            use usp::add_resp::created_object_result::{
                OperationStatus,
                operation_status::{OperStatus, OperationFailure, OperationSuccess},
            };
            use usp::add_resp::{CreatedObjectResult, ParameterError};
            response_msg(
                name,
                RespType::AddResp(usp::AddResp {
                    created_obj_results: vec![
                        CreatedObjectResult {
                            requested_path: "Device.LocalAgent.Controller.".into(),
                            oper_status: Some(OperationStatus {
                                oper_status: Some(OperStatus::OperSuccess(OperationSuccess {
                                    instantiated_path: "Device.LocalAgent.Controller.2.".into(),
                                    param_errs: vec![ParameterError {
                                        param: "Alias".into(),
                                        err_code: 7012,
                                        err_msg: "Invalid value".into(),
                                    }],
                                    unique_keys: map(&[
                                        ("EndpointID", "proto::ctrl2"),
                                        ("Alias", "cpe-2"),
                                    ]),
                                })),
                            }),
                        },
                        CreatedObjectResult {
                            requested_path: "Device.Nope.".into(),
                            oper_status: Some(OperationStatus {
                                oper_status: Some(OperStatus::OperFailure(OperationFailure {
                                    err_code: 7026,
                                    err_msg: "Invalid path".into(),
                                })),
                            }),
                        },
                    ],
                }),
            )
        }
        "delete" => request_msg(
            name,
            ReqType::Delete(usp::Delete {
                allow_partial: true,
                obj_paths: strings(&[
                    "Device.LocalAgent.Controller.2.",
                    "Device.LocalAgent.Subscription.*.",
                ]),
            }),
        ),
        "delete_resp" => {
            use usp::delete_resp::deleted_object_result::{
                OperationStatus,
                operation_status::{OperStatus, OperationFailure, OperationSuccess},
            };
            use usp::delete_resp::{DeletedObjectResult, UnaffectedPathError};
            response_msg(
                name,
                RespType::DeleteResp(usp::DeleteResp {
                    deleted_obj_results: vec![
                        DeletedObjectResult {
                            requested_path: "Device.LocalAgent.Controller.2.".into(),
                            oper_status: Some(OperationStatus {
                                oper_status: Some(OperStatus::OperSuccess(OperationSuccess {
                                    affected_paths: strings(&["Device.LocalAgent.Controller.2."]),
                                    unaffected_path_errs: vec![UnaffectedPathError {
                                        unaffected_path: "Device.LocalAgent.Controller.3.".into(),
                                        err_code: 7024,
                                        err_msg: "Delete failure".into(),
                                    }],
                                })),
                            }),
                        },
                        DeletedObjectResult {
                            requested_path: "Device.Nope.".into(),
                            oper_status: Some(OperationStatus {
                                oper_status: Some(OperStatus::OperFailure(OperationFailure {
                                    err_code: 7026,
                                    err_msg: "Invalid path".into(),
                                })),
                            }),
                        },
                    ],
                }),
            )
        }
        "operate" => request_msg(
            name,
            ReqType::Operate(usp::Operate {
                command: "Device.IP.Diagnostics.IPPing()".into(),
                command_key: "ping-1".into(),
                send_resp: true,
                input_args: map(&[("Host", "192.0.2.1"), ("NumberOfRepetitions", "3")]),
            }),
        ),
        "operate_resp" => {
            use usp::operate_resp::OperationResult;
            use usp::operate_resp::operation_result::{CommandFailure, OperationResp, OutputArgs};
            response_msg(
                name,
                RespType::OperateResp(usp::OperateResp {
                    operation_results: vec![
                        OperationResult {
                            executed_command: "Device.IP.Diagnostics.IPPing()".into(),
                            operation_resp: Some(OperationResp::ReqObjPath(
                                "Device.LocalAgent.Request.1.".into(),
                            )),
                        },
                        OperationResult {
                            executed_command: "Device.WiFi.Reset()".into(),
                            operation_resp: Some(OperationResp::ReqOutputArgs(OutputArgs {
                                output_args: map(&[("Status", "Complete")]),
                            })),
                        },
                        OperationResult {
                            executed_command: "Device.Reboot()".into(),
                            operation_resp: Some(OperationResp::CmdFailure(CommandFailure {
                                err_code: 7022,
                                err_msg: "Command failure".into(),
                            })),
                        },
                    ],
                }),
            )
        }
        "notify_event" => notify(
            name,
            "sub-boot",
            true,
            usp::notify::Notification::Event(usp::notify::Event {
                obj_path: "Device.".into(),
                event_name: "Boot!".into(),
                params: map(&[("CommandKey", "ck-1"), ("Cause", "LocalReboot")]),
            }),
        ),
        "notify_value_change" => notify(
            name,
            "sub-vc",
            false,
            usp::notify::Notification::ValueChange(usp::notify::ValueChange {
                param_path: "Device.DeviceInfo.UpTime".into(),
                param_value: "42".into(),
            }),
        ),
        "notify_obj_creation" => notify(
            name,
            "sub-oc",
            true,
            usp::notify::Notification::ObjCreation(usp::notify::ObjectCreation {
                obj_path: "Device.LocalAgent.Subscription.3.".into(),
                unique_keys: map(&[("ID", "sub-3"), ("Alias", "cpe-3")]),
            }),
        ),
        "notify_obj_deletion" => notify(
            name,
            "sub-od",
            false,
            usp::notify::Notification::ObjDeletion(usp::notify::ObjectDeletion {
                obj_path: "Device.LocalAgent.Subscription.3.".into(),
            }),
        ),
        "notify_oper_complete_output" => notify(
            name,
            "sub-op",
            true,
            usp::notify::Notification::OperComplete(usp::notify::OperationComplete {
                obj_path: "Device.IP.Diagnostics.".into(),
                command_name: "IPPing()".into(),
                command_key: "ping-1".into(),
                operation_resp: Some(
                    usp::notify::operation_complete::OperationResp::ReqOutputArgs(
                        usp::notify::operation_complete::OutputArgs {
                            output_args: map(&[
                                ("AverageResponseTime", "12"),
                                ("SuccessCount", "3"),
                            ]),
                        },
                    ),
                ),
            }),
        ),
        "notify_oper_complete_failure" => notify(
            name,
            "sub-op",
            true,
            usp::notify::Notification::OperComplete(usp::notify::OperationComplete {
                obj_path: "Device.IP.Diagnostics.".into(),
                command_name: "IPPing()".into(),
                command_key: "ping-2".into(),
                operation_resp: Some(usp::notify::operation_complete::OperationResp::CmdFailure(
                    usp::notify::operation_complete::CommandFailure {
                        err_code: 7022,
                        err_msg: "Command failure".into(),
                    },
                )),
            }),
        ),
        "notify_on_board_req" => notify(
            name,
            "",
            true,
            usp::notify::Notification::OnBoardReq(usp::notify::OnBoardRequest {
                oui: "00256D".into(),
                product_class: "Gateway".into(),
                serial_number: "0123456789".into(),
                agent_supported_protocol_versions: "1.3,1.4".into(),
            }),
        ),
        "notify_resp" => response_msg(
            name,
            RespType::NotifyResp(usp::NotifyResp {
                subscription_id: "sub-boot".into(),
            }),
        ),
        "get_supported_dm" => request_msg(
            name,
            ReqType::GetSupportedDm(usp::GetSupportedDm {
                obj_paths: strings(&["Device.WiFi."]),
                first_level_only: true,
                return_commands: true,
                return_events: true,
                return_params: true,
                return_unique_key_sets: true,
            }),
        ),
        "get_supported_dm_resp" => {
            use usp::get_supported_dm_resp::{
                CmdType, ObjAccessType, ParamAccessType, ParamValueType, RequestedObjectResult,
                SupportedCommandResult, SupportedEventResult, SupportedObjectResult,
                SupportedParamResult, SupportedUniqueKeySet, ValueChangeType,
            };
            response_msg(
                name,
                RespType::GetSupportedDmResp(usp::GetSupportedDmResp {
                    req_obj_results: vec![RequestedObjectResult {
                        req_obj_path: "Device.WiFi.".into(),
                        err_code: 0,
                        err_msg: String::new(),
                        data_model_inst_uri: "urn:broadband-forum-org:tr-181-2-19-1".into(),
                        supported_objs: vec![SupportedObjectResult {
                            supported_obj_path: "Device.WiFi.Radio.{i}.".into(),
                            access: ObjAccessType::ObjAddDelete as i32,
                            is_multi_instance: true,
                            supported_commands: vec![
                                SupportedCommandResult {
                                    command_name: "Reset()".into(),
                                    input_arg_names: vec![],
                                    output_arg_names: vec![],
                                    command_type: CmdType::CmdSync as i32,
                                },
                                SupportedCommandResult {
                                    command_name: "NeighboringWiFiDiagnostic()".into(),
                                    input_arg_names: strings(&["Radio"]),
                                    output_arg_names: strings(&["Status", "Result.{i}.SSID"]),
                                    command_type: CmdType::CmdAsync as i32,
                                },
                            ],
                            supported_events: vec![SupportedEventResult {
                                event_name: "Boot!".into(),
                                arg_names: strings(&["Cause"]),
                            }],
                            supported_params: vec![
                                SupportedParamResult {
                                    param_name: "Enable".into(),
                                    access: ParamAccessType::ParamReadWrite as i32,
                                    value_type: ParamValueType::ParamBoolean as i32,
                                    value_change: ValueChangeType::ValueChangeAllowed as i32,
                                },
                                SupportedParamResult {
                                    param_name: "Channel".into(),
                                    access: ParamAccessType::ParamReadOnly as i32,
                                    value_type: ParamValueType::ParamUnsignedInt as i32,
                                    value_change: ValueChangeType::ValueChangeWillIgnore as i32,
                                },
                            ],
                            divergent_paths: strings(&["Device.WiFi.Radio.1."]),
                            unique_key_sets: vec![
                                SupportedUniqueKeySet {
                                    key_names: strings(&["Alias"]),
                                },
                                SupportedUniqueKeySet {
                                    key_names: strings(&["Name"]),
                                },
                            ],
                        }],
                    }],
                }),
            )
        }
        "get_instances" => request_msg(
            name,
            ReqType::GetInstances(usp::GetInstances {
                obj_paths: strings(&["Device.LocalAgent.Controller."]),
                first_level_only: false,
            }),
        ),
        "get_instances_resp" => {
            use usp::get_instances_resp::{CurrInstance, RequestedPathResult};
            response_msg(
                name,
                RespType::GetInstancesResp(usp::GetInstancesResp {
                    req_path_results: vec![RequestedPathResult {
                        requested_path: "Device.LocalAgent.Controller.".into(),
                        err_code: 0,
                        err_msg: String::new(),
                        curr_insts: vec![
                            CurrInstance {
                                instantiated_obj_path: "Device.LocalAgent.Controller.1.".into(),
                                unique_keys: map(&[
                                    ("EndpointID", "proto::ctrl"),
                                    ("Alias", "cpe-1"),
                                ]),
                            },
                            CurrInstance {
                                instantiated_obj_path: "Device.LocalAgent.Controller.1.MTP.1."
                                    .into(),
                                unique_keys: map(&[("Alias", "cpe-1")]),
                            },
                        ],
                    }],
                }),
            )
        }
        "get_supported_protocol" => request_msg(
            name,
            ReqType::GetSupportedProtocol(usp::GetSupportedProtocol {
                controller_supported_protocol_versions: "1.3,1.4,1.5".into(),
            }),
        ),
        "get_supported_protocol_resp" => response_msg(
            name,
            RespType::GetSupportedProtocolResp(usp::GetSupportedProtocolResp {
                agent_supported_protocol_versions: "1.3,1.4".into(),
            }),
        ),
        "register" => request_msg(
            name,
            ReqType::Register(usp::Register {
                allow_partial: true,
                reg_paths: vec![
                    usp::register::RegistrationPath {
                        path: "Device.X_ACME_Service.".into(),
                    },
                    usp::register::RegistrationPath {
                        path: "Device.X_ACME_Other.".into(),
                    },
                ],
            }),
        ),
        "register_resp" => {
            use usp::register_resp::RegisteredPathResult;
            use usp::register_resp::registered_path_result::{
                OperationStatus,
                operation_status::{OperStatus, OperationFailure, OperationSuccess},
            };
            response_msg(
                name,
                RespType::RegisterResp(usp::RegisterResp {
                    registered_path_results: vec![
                        RegisteredPathResult {
                            requested_path: "Device.X_ACME_Service.".into(),
                            oper_status: Some(OperationStatus {
                                oper_status: Some(OperStatus::OperSuccess(OperationSuccess {
                                    registered_path: "Device.X_ACME_Service.".into(),
                                })),
                            }),
                        },
                        RegisteredPathResult {
                            requested_path: "Device.DeviceInfo.".into(),
                            oper_status: Some(OperationStatus {
                                oper_status: Some(OperStatus::OperFailure(OperationFailure {
                                    err_code: 7029,
                                    err_msg: "Already in use".into(),
                                })),
                            }),
                        },
                    ],
                }),
            )
        }
        "deregister" => request_msg(
            name,
            ReqType::Deregister(usp::Deregister {
                paths: strings(&["Device.X_ACME_Service."]),
            }),
        ),
        "deregister_resp" => {
            use usp::deregister_resp::DeregisteredPathResult;
            use usp::deregister_resp::deregistered_path_result::{
                OperationStatus,
                operation_status::{OperStatus, OperationFailure, OperationSuccess},
            };
            response_msg(
                name,
                RespType::DeregisterResp(usp::DeregisterResp {
                    deregistered_path_results: vec![
                        DeregisteredPathResult {
                            requested_path: "Device.X_ACME_Service.".into(),
                            oper_status: Some(OperationStatus {
                                oper_status: Some(OperStatus::OperSuccess(OperationSuccess {
                                    deregistered_path: strings(&["Device.X_ACME_Service."]),
                                })),
                            }),
                        },
                        DeregisteredPathResult {
                            requested_path: "Device.Foo.".into(),
                            oper_status: Some(OperationStatus {
                                oper_status: Some(OperStatus::OperFailure(OperationFailure {
                                    err_code: 7030,
                                    err_msg: "Deregister failure".into(),
                                })),
                            }),
                        },
                    ],
                }),
            )
        }
        "error" => error_msg(
            name,
            usp::Error {
                err_code: 7004,
                err_msg: "Invalid arguments".into(),
                param_errs: vec![usp::error::ParamError {
                    param_path: "Device.LocalAgent.Controller.1.Alias".into(),
                    err_code: 7012,
                    err_msg: "Invalid value".into(),
                }],
            },
        ),
        other => panic!("no sample named {other}"),
    }
}

fn notify(
    msg_id: &str,
    subscription_id: &str,
    send_resp: bool,
    notification: usp::notify::Notification,
) -> Msg {
    request_msg(
        msg_id,
        ReqType::Notify(usp::Notify {
            subscription_id: subscription_id.into(),
            send_resp,
            notification: Some(notification),
        }),
    )
}
