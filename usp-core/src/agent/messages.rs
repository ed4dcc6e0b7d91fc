//! Request Msgs to engine requests, and engine results to response or Error Msgs.
//!
//! The engine carries the data-model semantics (search paths, `allow_partial`, `required`,
//! atomicity, access checks); this module only maps shapes and error codes:
//!
//! | Engine answer | USP |
//! |---|---|
//! | per-path `Ok` | `oper_success` / `err_code` 0 |
//! | per-path `Err(Failure)` (only with `allow_partial`, or Get-like requests) | `oper_failure` / `err_code` |
//! | whole request `Err(Failure)` (Set/Add/Delete without `allow_partial`) | Error Msg with `param_errs` |
//! | whole request `Err(EngineError)` (limits, a bad command path) | Error Msg |

use std::collections::BTreeMap;
use std::string::{String, ToString};
use std::vec::Vec;
use std::{format, vec};

use hal::EngineError;
use hal::engine::{
    AddRequest, AddResponse, DeleteRequest, DeleteResponse, Failure, GetInstancesRequest,
    GetInstancesResponse, GetRequest, GetResponse, ObjectCreation, ObjectSettings, OperateOutcome,
    OperateRequest, OperateResponse, ParamError, ParamSetting, SetRequest, SetResponse,
    SupportedRequest,
};

use super::engine::EngineRequest;
use crate::usp::{
    self, add_resp, delete_resp, get_instances_resp, get_resp, operate_resp, request::ReqType,
    response::RespType, set_resp,
};

/// USP 7001 "Message not supported".
pub(crate) const ERR_NOT_SUPPORTED: u32 = 7001;
/// USP 7003 "Internal error".
pub(crate) const ERR_INTERNAL: u32 = 7003;
/// USP 7005 "Resources exceeded".
pub(crate) const ERR_RESOURCES: u32 = 7005;
/// USP 7026 "Invalid path".
pub(crate) const ERR_INVALID_PATH: u32 = 7026;

/// What the agent does with one request Msg.
#[derive(Debug)]
pub(crate) enum Plan {
    /// Ask the engine, then render the answer as `reply`.
    Engine(EngineRequest, Reply),
    /// Answer right away.
    Respond(RespType),
    /// Answer with an Error Msg.
    Error(usp::Error),
}

/// How to render the engine's answer.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum Reply {
    Add,
    Delete,
    Get,
    GetInstances,
    /// Operate; `send_resp` false means no OperateResp is sent.
    Operate {
        send_resp: bool,
        /// The input arguments of a challenge command, which the agent carries out itself
        /// (`trust.rs`); empty for other commands.
        challenge_input: Vec<(String, String)>,
    },
    Set,
    Supported(super::supported::Flags),
}

/// An Error Msg body.
pub(crate) fn error(code: u32, message: impl Into<String>) -> usp::Error {
    usp::Error {
        err_code: code,
        err_msg: message.into(),
        param_errs: Vec::new(),
    }
}

/// An Error Msg body for a whole-request failure, with its parameter errors.
///
/// When the one failed required parameter is the cause, the Error takes that parameter's own
/// code (7012 for an invalid value, ...), for Add as for Set; 7021 "Required parameter failed"
/// stays for several failed parameters.
pub(crate) fn failure_error(failure: &Failure) -> usp::Error {
    let (err_code, err_msg) = match (&failure.error, failure.param_errors.as_slice()) {
        (EngineError::RequiredParameterFailed { .. }, [one]) => (
            one.error.usp_error(),
            format!("{}: {}", one.path, one.error),
        ),
        (error, _) => (error.usp_error(), error.to_string()),
    };
    usp::Error {
        err_code,
        err_msg,
        param_errs: failure
            .param_errors
            .iter()
            .map(|p| usp::error::ParamError {
                param_path: p.path.clone(),
                err_code: p.error.usp_error(),
                err_msg: p.error.to_string(),
            })
            .collect(),
    }
}

/// An Error Msg body for an engine error.
pub(crate) fn engine_error(error: &EngineError) -> usp::Error {
    self::error(error.usp_error(), error.to_string())
}

/// Refuses an empty path: the engine reads it as CWMP's `Device.`, USP has no such form.
fn check_paths<'a>(paths: impl IntoIterator<Item = &'a String>) -> Result<(), usp::Error> {
    if paths.into_iter().any(String::is_empty) {
        return Err(error(ERR_INVALID_PATH, "empty path"));
    }
    Ok(())
}

/// Plans a request, taking it by value so that its paths and values move into the engine
/// request. `versions` is the agent's GetSupportedProtocol answer.
pub(crate) fn plan(request: ReqType, versions: &str) -> Plan {
    match plan_inner(request, versions) {
        Ok(plan) => plan,
        Err(error) => Plan::Error(error),
    }
}

fn plan_inner(request: ReqType, versions: &str) -> Result<Plan, usp::Error> {
    let plan = match request {
        ReqType::Get(get) => {
            check_paths(&get.param_paths)?;
            let request = GetRequest::new(get.param_paths).with_max_depth(get.max_depth);
            Plan::Engine(EngineRequest::Get(request), Reply::Get)
        }
        ReqType::GetInstances(get) => {
            check_paths(&get.obj_paths)?;
            let request = GetInstancesRequest::new(get.obj_paths, get.first_level_only);
            Plan::Engine(EngineRequest::GetInstances(request), Reply::GetInstances)
        }
        ReqType::GetSupportedDm(get) => {
            check_paths(&get.obj_paths)?;
            let flags = super::supported::Flags::of(&get);
            let request = SupportedRequest::new(get.obj_paths, get.first_level_only);
            Plan::Engine(EngineRequest::Supported(request), Reply::Supported(flags))
        }
        ReqType::GetSupportedProtocol(_) => Plan::Respond(RespType::GetSupportedProtocolResp(
            usp::GetSupportedProtocolResp {
                agent_supported_protocol_versions: versions.into(),
            },
        )),
        ReqType::Set(set) => {
            let objects = write_objects(set.update_objs, ObjectSettings::new)?;
            let request = SetRequest::new(objects).with_allow_partial(set.allow_partial);
            Plan::Engine(EngineRequest::Set(request), Reply::Set)
        }
        ReqType::Add(add) => {
            let objects = write_objects(add.create_objs, ObjectCreation::new)?;
            let request = AddRequest::new(objects).with_allow_partial(add.allow_partial);
            Plan::Engine(EngineRequest::Add(request), Reply::Add)
        }
        ReqType::Delete(delete) => {
            check_paths(&delete.obj_paths)?;
            let request =
                DeleteRequest::new(delete.obj_paths).with_allow_partial(delete.allow_partial);
            Plan::Engine(EngineRequest::Delete(request), Reply::Delete)
        }
        ReqType::Operate(operate) => {
            if operate.command.is_empty() {
                return Err(error(ERR_INVALID_PATH, "empty command path"));
            }
            let challenge_input = if super::trust::is_challenge_command(&operate.command) {
                operate.input_args.clone().into_iter().collect()
            } else {
                Vec::new()
            };
            let mut request = OperateRequest::new(operate.command, operate.command_key);
            for (name, value) in operate.input_args {
                request = request.with_arg(name, value);
            }
            Plan::Engine(
                EngineRequest::Operate(request),
                Reply::Operate {
                    send_resp: operate.send_resp,
                    challenge_input,
                },
            )
        }
        // An agent does not take notifications, and is not a broker for USP Services.
        ReqType::Notify(_) | ReqType::Register(_) | ReqType::Deregister(_) => {
            return Err(error(
                ERR_NOT_SUPPORTED,
                "message not supported by this agent",
            ));
        }
    };
    Ok(plan)
}

/// The objects of a Set or an Add for the engine, their paths checked and their strings
/// moved: `new` builds the engine's object ([`ObjectSettings::new`], [`ObjectCreation::new`]).
fn write_objects<O: WireObject, T>(
    objects: Vec<O>,
    new: impl Fn(String, Vec<ParamSetting>) -> T,
) -> Result<Vec<T>, usp::Error> {
    check_paths(objects.iter().map(WireObject::path))?;
    Ok(objects
        .into_iter()
        .map(|o| {
            let (path, settings) = o.into_parts();
            new(
                path,
                settings.into_iter().map(WireSetting::setting).collect(),
            )
        })
        .collect())
}

/// An object of a Set (`UpdateObject`) or an Add (`CreateObject`): a path and its parameter
/// settings.
trait WireObject {
    /// The parameter setting type.
    type Setting: WireSetting;

    /// The object path.
    fn path(&self) -> &String;

    /// The object path and the settings, moved out.
    fn into_parts(self) -> (String, Vec<Self::Setting>);
}

impl WireObject for usp::set::UpdateObject {
    type Setting = usp::set::UpdateParamSetting;

    fn path(&self) -> &String {
        &self.obj_path
    }

    fn into_parts(self) -> (String, Vec<Self::Setting>) {
        (self.obj_path, self.param_settings)
    }
}

impl WireObject for usp::add::CreateObject {
    type Setting = usp::add::CreateParamSetting;

    fn path(&self) -> &String {
        &self.obj_path
    }

    fn into_parts(self) -> (String, Vec<Self::Setting>) {
        (self.obj_path, self.param_settings)
    }
}

/// A parameter setting of a Set (`UpdateParamSetting`) or an Add (`CreateParamSetting`): the
/// two messages carry the same fields.
trait WireSetting: Sized {
    /// The name, the value and whether the parameter is required, moved out.
    fn into_parts(self) -> (String, String, bool);

    /// The engine's setting, `required` kept.
    fn setting(self) -> ParamSetting {
        match self.into_parts() {
            (name, value, true) => ParamSetting::new(name, value),
            (name, value, false) => ParamSetting::optional(name, value),
        }
    }
}

impl WireSetting for usp::set::UpdateParamSetting {
    fn into_parts(self) -> (String, String, bool) {
        (self.param, self.value, self.required)
    }
}

impl WireSetting for usp::add::CreateParamSetting {
    fn into_parts(self) -> (String, String, bool) {
        (self.param, self.value, self.required)
    }
}

/// The name of `path` relative to the object `object` (or the whole path if it is not below).
fn relative(object: &str, path: &str) -> String {
    path.strip_prefix(object).unwrap_or(path).to_string()
}

/// The object part of a parameter path, with trailing dot.
pub(crate) fn object_of(path: &str) -> &str {
    path.rfind('.')
        .and_then(|dot| path.get(..=dot))
        .unwrap_or("")
}

/// GetResp.
pub(crate) fn get_resp(response: &GetResponse) -> RespType {
    let req_path_results = response
        .results()
        .map(|result| match result.outcome {
            Ok(objects) => get_resp::RequestedPathResult {
                requested_path: result.requested_path.into(),
                err_code: 0,
                err_msg: String::new(),
                resolved_path_results: objects
                    .iter()
                    .map(|object| get_resp::ResolvedPathResult {
                        resolved_path: object.path().into(),
                        result_params: object
                            .params()
                            .map(|p| (p.name().into(), p.value().canonical_text()))
                            .collect(),
                    })
                    .collect(),
            },
            Err(failure) => get_resp::RequestedPathResult {
                requested_path: result.requested_path.into(),
                err_code: failure.error.usp_error(),
                err_msg: failure.error.to_string(),
                resolved_path_results: Vec::new(),
            },
        })
        .collect();
    RespType::GetResp(usp::GetResp { req_path_results })
}

/// GetInstancesResp.
pub(crate) fn get_instances_resp(response: &GetInstancesResponse) -> RespType {
    let req_path_results = response
        .results
        .iter()
        .map(|result| {
            let (err_code, err_msg, curr_insts) = match &result.outcome {
                Ok(instances) => (
                    0,
                    String::new(),
                    instances
                        .iter()
                        .map(|i| get_instances_resp::CurrInstance {
                            instantiated_obj_path: i.path.clone(),
                            unique_keys: i
                                .keys
                                .iter()
                                .map(|(name, value)| ((*name).to_string(), value.canonical_text()))
                                .collect(),
                        })
                        .collect(),
                ),
                Err(failure) => (
                    failure.error.usp_error(),
                    failure.error.to_string(),
                    Vec::new(),
                ),
            };
            get_instances_resp::RequestedPathResult {
                requested_path: result.requested_path.clone(),
                err_code,
                err_msg,
                curr_insts,
            }
        })
        .collect();
    RespType::GetInstancesResp(usp::GetInstancesResp { req_path_results })
}

fn set_param_error(object: &str, error: &ParamError) -> set_resp::ParameterError {
    set_resp::ParameterError {
        param: relative(object, &error.path),
        err_code: error.error.usp_error(),
        err_msg: error.error.to_string(),
    }
}

/// SetResp (the engine answered `Ok`: either every object succeeded, or `allow_partial`).
pub(crate) fn set_resp(response: &SetResponse) -> RespType {
    use set_resp::updated_object_result::{OperationStatus, operation_status};
    let updated_obj_results = response
        .results
        .iter()
        .map(|result| {
            let status = match &result.outcome {
                Ok(instances) => {
                    operation_status::OperStatus::OperSuccess(operation_status::OperationSuccess {
                        updated_inst_results: instances
                            .iter()
                            .map(|i| set_resp::UpdatedInstanceResult {
                                affected_path: i.path.clone(),
                                param_errs: i
                                    .param_errors
                                    .iter()
                                    .map(|e| set_param_error(&i.path, e))
                                    .collect(),
                                updated_params: i
                                    .updated
                                    .iter()
                                    .map(|(name, value)| (name.clone(), value.canonical_text()))
                                    .collect(),
                            })
                            .collect(),
                    })
                }
                Err(failure) => {
                    // Group the parameter errors by the instance they belong to.
                    let mut failures: Vec<set_resp::UpdatedInstanceFailure> = Vec::new();
                    for error in &failure.param_errors {
                        let object = object_of(&error.path);
                        let entry = set_param_error(object, error);
                        match failures.iter_mut().find(|f| f.affected_path == object) {
                            Some(f) => f.param_errs.push(entry),
                            None => failures.push(set_resp::UpdatedInstanceFailure {
                                affected_path: object.to_string(),
                                param_errs: vec![entry],
                            }),
                        }
                    }
                    operation_status::OperStatus::OperFailure(operation_status::OperationFailure {
                        err_code: failure.error.usp_error(),
                        err_msg: failure.error.to_string(),
                        updated_inst_failures: failures,
                    })
                }
            };
            set_resp::UpdatedObjectResult {
                requested_path: result.requested_path.clone(),
                oper_status: Some(OperationStatus {
                    oper_status: Some(status),
                }),
            }
        })
        .collect();
    RespType::SetResp(usp::SetResp {
        updated_obj_results,
    })
}

/// AddResp.
pub(crate) fn add_resp(response: &AddResponse) -> RespType {
    use add_resp::created_object_result::{OperationStatus, operation_status};
    let created_obj_results = response
        .results
        .iter()
        .map(|result| {
            let status = match &result.outcome {
                Ok(added) => {
                    operation_status::OperStatus::OperSuccess(operation_status::OperationSuccess {
                        instantiated_path: added.path.clone(),
                        param_errs: added
                            .param_errors
                            .iter()
                            .map(|e| add_resp::ParameterError {
                                param: relative(&added.path, &e.path),
                                err_code: e.error.usp_error(),
                                err_msg: e.error.to_string(),
                            })
                            .collect(),
                        unique_keys: added
                            .unique_keys
                            .iter()
                            .map(|(name, value)| ((*name).to_string(), value.canonical_text()))
                            .collect(),
                    })
                }
                Err(failure) => {
                    operation_status::OperStatus::OperFailure(operation_status::OperationFailure {
                        err_code: failure.error.usp_error(),
                        err_msg: failure_message(failure),
                    })
                }
            };
            add_resp::CreatedObjectResult {
                requested_path: result.requested_path.clone(),
                oper_status: Some(OperationStatus {
                    oper_status: Some(status),
                }),
            }
        })
        .collect();
    RespType::AddResp(usp::AddResp {
        created_obj_results,
    })
}

/// The message of a failure, naming the first failed parameter (OperationFailure has no
/// `param_errs`).
fn failure_message(failure: &Failure) -> String {
    match failure.param_errors.first() {
        Some(first) => format!("{}: {}", failure.error, first.error),
        None => failure.error.to_string(),
    }
}

/// DeleteResp.
pub(crate) fn delete_resp(response: &DeleteResponse) -> RespType {
    use delete_resp::deleted_object_result::{OperationStatus, operation_status};
    let deleted_obj_results = response
        .results
        .iter()
        .map(|result| {
            let status = match &result.outcome {
                Ok(deleted) => {
                    operation_status::OperStatus::OperSuccess(operation_status::OperationSuccess {
                        affected_paths: deleted.affected.clone(),
                        unaffected_path_errs: deleted
                            .unaffected
                            .iter()
                            .map(|e| delete_resp::UnaffectedPathError {
                                unaffected_path: e.path.clone(),
                                err_code: e.error.usp_error(),
                                err_msg: e.error.to_string(),
                            })
                            .collect(),
                    })
                }
                Err(failure) => {
                    operation_status::OperStatus::OperFailure(operation_status::OperationFailure {
                        err_code: failure.error.usp_error(),
                        err_msg: failure_message(failure),
                    })
                }
            };
            delete_resp::DeletedObjectResult {
                requested_path: result.requested_path.clone(),
                oper_status: Some(OperationStatus {
                    oper_status: Some(status),
                }),
            }
        })
        .collect();
    RespType::DeleteResp(usp::DeleteResp {
        deleted_obj_results,
    })
}

/// OperateResp: every per-command failure is a `cmd_failure` (R-OPR.1).
pub(crate) fn operate_resp(response: &OperateResponse) -> RespType {
    let operation_results = response
        .results
        .iter()
        .map(|result| operation_result(&result.path, &result.outcome))
        .collect();
    RespType::OperateResp(usp::OperateResp { operation_results })
}

/// One command's OperationResult.
pub(crate) fn operation_result(
    path: &str,
    outcome: &OperateOutcome,
) -> operate_resp::OperationResult {
    use operate_resp::operation_result::{CommandFailure, OperationResp, OutputArgs};
    let resp = match outcome {
        OperateOutcome::Done(output) => OperationResp::ReqOutputArgs(OutputArgs {
            output_args: output
                .iter()
                .map(|(name, value)| (name.clone(), value.canonical_text()))
                .collect::<BTreeMap<_, _>>(),
        }),
        OperateOutcome::Started { request, .. } => {
            OperationResp::ReqObjPath(request.clone().unwrap_or_default())
        }
        OperateOutcome::Failed(error) => OperationResp::CmdFailure(CommandFailure {
            err_code: error.usp_error(),
            err_msg: error.to_string(),
        }),
        _ => OperationResp::CmdFailure(CommandFailure {
            err_code: ERR_INTERNAL,
            err_msg: "unknown outcome".into(),
        }),
    };
    operate_resp::OperationResult {
        executed_command: path.into(),
        operation_resp: Some(resp),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn empty_paths_are_7026() {
        let get = ReqType::Get(usp::Get {
            param_paths: vec![String::new()],
            max_depth: 0,
        });
        let Plan::Error(e) = plan(get, "1.4") else {
            panic!("expected an error")
        };
        assert_eq!(e.err_code, 7026);
    }

    #[test]
    fn notify_register_deregister_are_7001() {
        for req in [
            ReqType::Notify(usp::Notify::default()),
            ReqType::Register(usp::Register::default()),
            ReqType::Deregister(usp::Deregister::default()),
        ] {
            let Plan::Error(e) = plan(req, "1.4") else {
                panic!("expected an error")
            };
            assert_eq!(e.err_code, 7001);
        }
    }

    #[test]
    fn relative_names() {
        assert_eq!(
            relative("Device.WiFi.SSID.1.", "Device.WiFi.SSID.1.SSID"),
            "SSID"
        );
        assert_eq!(object_of("Device.WiFi.SSID.1.SSID"), "Device.WiFi.SSID.1.");
    }
}
