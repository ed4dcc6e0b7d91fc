//! GetSupportedDM: the engine's schema objects rendered as `GetSupportedDMResp`.

use std::string::{String, ToString};
use std::vec::Vec;

use hal::engine::SupportedResponse;
use tr181_model::schema::{Access, ActiveNotify, BaseType, Object, Parameter, Protocol};

use crate::usp::{self, GetSupportedDm, get_supported_dm_resp as gsdm, response::RespType};

/// The `data_model_inst_uri` of every object: the TR-181 model this crate was generated from.
pub const DATA_MODEL_URI: &str = "urn:broadband-forum-org:tr-181-2-19-0-usp";

/// The GetSupportedDM flags that shape the answer.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) struct Flags {
    commands: bool,
    events: bool,
    params: bool,
    unique_keys: bool,
}

impl Flags {
    pub(crate) const fn of(get: &GetSupportedDm) -> Self {
        Self {
            commands: get.return_commands,
            events: get.return_events,
            params: get.return_params,
            unique_keys: get.return_unique_key_sets,
        }
    }
}

/// GetSupportedDMResp.
pub(crate) fn resp(response: &SupportedResponse, flags: Flags) -> RespType {
    let req_obj_results = response
        .results
        .iter()
        .map(|result| match &result.outcome {
            Ok(objects) => gsdm::RequestedObjectResult {
                req_obj_path: result.requested_path.clone(),
                err_code: 0,
                err_msg: String::new(),
                data_model_inst_uri: DATA_MODEL_URI.into(),
                supported_objs: objects.iter().map(|o| object(o, flags)).collect(),
            },
            Err(failure) => gsdm::RequestedObjectResult {
                req_obj_path: result.requested_path.clone(),
                err_code: failure.error.usp_error(),
                err_msg: failure.error.to_string(),
                data_model_inst_uri: String::new(),
                supported_objs: Vec::new(),
            },
        })
        .collect();
    RespType::GetSupportedDmResp(usp::GetSupportedDmResp { req_obj_results })
}

fn object(object: &Object, flags: Flags) -> gsdm::SupportedObjectResult {
    let protocol = Protocol::Usp;
    let table = object.is_table();
    let access = match (table, object.access()) {
        (true, Access::ReadWrite) => gsdm::ObjAccessType::ObjAddDelete,
        _ => gsdm::ObjAccessType::ObjReadOnly,
    };
    gsdm::SupportedObjectResult {
        supported_obj_path: object.path().into(),
        access: access as i32,
        is_multi_instance: table,
        supported_commands: if flags.commands {
            object
                .commands(protocol)
                .map(|c| gsdm::SupportedCommandResult {
                    command_name: c.name().into(),
                    input_arg_names: c.input().iter().map(|a| a.name().to_string()).collect(),
                    output_arg_names: c.output().iter().map(|a| a.name().to_string()).collect(),
                    command_type: if c.is_async() {
                        gsdm::CmdType::CmdAsync
                    } else {
                        gsdm::CmdType::CmdSync
                    } as i32,
                })
                .collect()
        } else {
            Vec::new()
        },
        supported_events: if flags.events {
            object
                .events(protocol)
                .map(|e| gsdm::SupportedEventResult {
                    event_name: e.name().into(),
                    arg_names: e.arguments().iter().map(|a| a.name().to_string()).collect(),
                })
                .collect()
        } else {
            Vec::new()
        },
        supported_params: if flags.params {
            object.parameters(protocol).map(param).collect()
        } else {
            Vec::new()
        },
        divergent_paths: Vec::new(),
        unique_key_sets: if flags.unique_keys && table {
            object
                .unique_keys()
                .iter()
                .map(|k| gsdm::SupportedUniqueKeySet {
                    key_names: k.parameters().iter().map(|n| (*n).to_string()).collect(),
                })
                .collect()
        } else {
            Vec::new()
        },
    }
}

fn param(parameter: &Parameter) -> gsdm::SupportedParamResult {
    let access = match parameter.access() {
        Access::ReadOnly => gsdm::ParamAccessType::ParamReadOnly,
        Access::ReadWrite | Access::WriteOnceReadOnly if parameter.syntax().hidden() => {
            gsdm::ParamAccessType::ParamWriteOnly
        }
        Access::ReadWrite | Access::WriteOnceReadOnly => gsdm::ParamAccessType::ParamReadWrite,
    };
    let value_type = match parameter.syntax().base() {
        BaseType::String => gsdm::ParamValueType::ParamString,
        BaseType::Boolean => gsdm::ParamValueType::ParamBoolean,
        BaseType::Int => gsdm::ParamValueType::ParamInt,
        BaseType::UnsignedInt => gsdm::ParamValueType::ParamUnsignedInt,
        BaseType::Long => gsdm::ParamValueType::ParamLong,
        BaseType::UnsignedLong => gsdm::ParamValueType::ParamUnsignedLong,
        BaseType::DateTime => gsdm::ParamValueType::ParamDateTime,
        BaseType::Base64 => gsdm::ParamValueType::ParamBase64,
        BaseType::HexBinary => gsdm::ParamValueType::ParamHexBinary,
        BaseType::Decimal => gsdm::ParamValueType::ParamDecimal,
    };
    let value_change = match parameter.active_notify() {
        ActiveNotify::CanDeny => gsdm::ValueChangeType::ValueChangeWillIgnore,
        _ => gsdm::ValueChangeType::ValueChangeAllowed,
    };
    gsdm::SupportedParamResult {
        param_name: parameter.name().into(),
        access: access as i32,
        value_type: value_type as i32,
        value_change: value_change as i32,
    }
}
