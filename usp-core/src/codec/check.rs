//! Checks run on a decoded Record or Msg: USP encoding rules and [`Limits`].
//!
//! prost accepts any well-formed protobuf; these walks add what USP requires on top (every
//! `oneof` set, enum values defined, required fields present) and bound counts and path lengths.

use alloc::collections::BTreeMap;
use alloc::string::String;

use super::error::{DecodeError, InvalidMsg, InvalidRecord, Limit, LimitExceeded};
use super::{Limits, request_type, response_type};
use crate::usp::{self, body::MsgBody, header::MsgType, request::ReqType, response::RespType};
use crate::usp_inbound;
use crate::usp_record::{self, Record, record::RecordType};

type Result = core::result::Result<(), DecodeError>;

/// Walks one Record or Msg against the limits.
struct Checker<'l> {
    limits: &'l Limits,
    in_record: bool,
}

impl Checker<'_> {
    fn exceeded(&self, limit: Limit, field: &'static str, len: usize, max: usize) -> DecodeError {
        DecodeError::LimitExceeded(LimitExceeded {
            limit,
            field,
            len,
            max,
            in_record: self.in_record,
        })
    }

    fn count(&self, field: &'static str, len: usize) -> Result {
        if len > self.limits.max_repeated {
            return Err(self.exceeded(
                Limit::RepeatedEntries,
                field,
                len,
                self.limits.max_repeated,
            ));
        }
        Ok(())
    }

    fn path(&self, field: &'static str, path: &str) -> Result {
        if path.len() > self.limits.max_path_len {
            return Err(self.exceeded(
                Limit::PathLength,
                field,
                path.len(),
                self.limits.max_path_len,
            ));
        }
        Ok(())
    }

    fn paths(&self, field: &'static str, paths: &[String]) -> Result {
        self.count(field, paths.len())?;
        paths.iter().try_for_each(|p| self.path(field, p))
    }

    /// A `map<string, string>` keyed by parameter or argument names.
    fn map(&self, field: &'static str, map: &BTreeMap<String, String>) -> Result {
        self.count(field, map.len())?;
        map.keys().try_for_each(|k| self.path(field, k))
    }

    /// Checks a repeated message field: the count, then each entry.
    fn each<T>(&self, field: &'static str, items: &[T], f: impl Fn(&T) -> Result) -> Result {
        self.count(field, items.len())?;
        items.iter().try_for_each(f)
    }
}

/// A `oneof` (or the optional message wrapping one) must hold a member.
fn oneof<'t, T>(
    field: &'static str,
    value: Option<&'t T>,
) -> core::result::Result<&'t T, DecodeError> {
    value.ok_or(DecodeError::MsgInvalid(InvalidMsg::EmptyOneof { field }))
}

fn msg_enum<E: TryFrom<i32>>(field: &'static str, value: i32) -> Result {
    match E::try_from(value) {
        Ok(_) => Ok(()),
        Err(_) => Err(DecodeError::MsgInvalid(InvalidMsg::UnknownEnumValue {
            field,
            value,
        })),
    }
}

fn record_enum<E: TryFrom<i32>>(field: &'static str, value: i32) -> Result {
    match E::try_from(value) {
        Ok(_) => Ok(()),
        Err(_) => Err(DecodeError::RecordInvalid(
            InvalidRecord::UnknownEnumValue { field, value },
        )),
    }
}

fn required(field: &'static str, value: &str) -> Result {
    if value.is_empty() {
        return Err(DecodeError::RecordInvalid(InvalidRecord::MissingField {
            field,
        }));
    }
    Ok(())
}

/// Checks a decoded Record (not the Msg inside it).
pub(super) fn record(record: &Record, limits: &Limits) -> Result {
    use usp_record::{mqtt_connect_record, session_context_record, stomp_connect_record};

    let c = Checker {
        limits,
        in_record: true,
    };
    required("Record.version", &record.version)?;
    required("Record.to_id", &record.to_id)?;
    required("Record.from_id", &record.from_id)?;
    record_enum::<usp_record::record::PayloadSecurity>(
        "Record.payload_security",
        record.payload_security,
    )?;
    let record_type = record
        .record_type
        .as_ref()
        .ok_or(DecodeError::RecordInvalid(InvalidRecord::MissingRecordType))?;
    match record_type {
        RecordType::NoSessionContext(r) => {
            if r.payload.is_empty() {
                return Err(DecodeError::RecordInvalid(InvalidRecord::EmptyPayload));
            }
        }
        RecordType::SessionContext(r) => {
            record_enum::<session_context_record::PayloadSarState>(
                "SessionContextRecord.payload_sar_state",
                r.payload_sar_state,
            )?;
            record_enum::<session_context_record::PayloadSarState>(
                "SessionContextRecord.payloadrec_sar_state",
                r.payloadrec_sar_state,
            )?;
            c.count("SessionContextRecord.payload", r.payload.len())?;
        }
        RecordType::MqttConnect(r) => {
            record_enum::<mqtt_connect_record::MqttVersion>(
                "MQTTConnectRecord.version",
                r.version,
            )?;
        }
        RecordType::StompConnect(r) => {
            record_enum::<stomp_connect_record::StompVersion>(
                "STOMPConnectRecord.version",
                r.version,
            )?;
        }
        RecordType::WebsocketConnect(_) | RecordType::Disconnect(_) | RecordType::UdsConnect(_) => {
        }
    }
    Ok(())
}

/// Checks a decoded Msg.
pub(super) fn msg(msg: &usp::Msg, limits: &Limits) -> Result {
    let body = msg.body.as_ref().map(|body| body.msg_body.as_ref());
    checked_msg(msg.header.as_ref(), body, limits, |c, body| match body {
        MsgBody::Request(req) => request(c, req),
        MsgBody::Response(resp) => {
            let resp = oneof("Response.resp_type", resp.resp_type.as_ref())?;
            response(c, resp)?;
            Ok(response_type(resp))
        }
        MsgBody::Error(err) => error(c, err),
    })
}

/// Checks a decoded inbound Msg: as [`msg`], but for an unread response, only its type.
pub(super) fn inbound_msg(msg: &usp_inbound::Msg, limits: &Limits) -> Result {
    use usp_inbound::body::MsgBody as InboundBody;

    let body = msg.body.as_ref().map(|body| body.msg_body.as_ref());
    checked_msg(msg.header.as_ref(), body, limits, |c, body| match body {
        InboundBody::Request(req) => request(c, req),
        // NotifyResp has nothing to check.
        InboundBody::Response(resp) => Ok(inbound_response_type(oneof(
            "Response.resp_type",
            resp.resp_type.as_ref(),
        )?)),
        InboundBody::Error(err) => error(c, err),
    })
}

/// What every Msg must be: a header with an id and a defined type, a body holding a member
/// that passes `check_body`, which returns the member's type, the header's.
fn checked_msg<B>(
    header: Option<&usp::Header>,
    body: Option<Option<&B>>,
    limits: &Limits,
    check_body: impl FnOnce(&Checker<'_>, &B) -> core::result::Result<MsgType, DecodeError>,
) -> Result {
    let c = Checker {
        limits,
        in_record: false,
    };
    let header = header.ok_or(DecodeError::MsgInvalid(InvalidMsg::MissingHeader))?;
    if header.msg_id.is_empty() {
        return Err(DecodeError::MsgInvalid(InvalidMsg::MissingMsgId));
    }
    if MsgType::try_from(header.msg_type).is_err() {
        return Err(DecodeError::MsgUnsupported {
            msg_type: header.msg_type,
        });
    }
    let body = body.ok_or(DecodeError::MsgInvalid(InvalidMsg::MissingBody))?;
    let body_type = check_body(&c, oneof("Body.msg_body", body)?)?;
    if body_type as i32 != header.msg_type {
        return Err(DecodeError::MsgInvalid(InvalidMsg::MsgTypeMismatch {
            msg_type: header.msg_type,
            body: body_type,
        }));
    }
    Ok(())
}

fn error(c: &Checker<'_>, err: &usp::Error) -> core::result::Result<MsgType, DecodeError> {
    c.each("Error.param_errs", &err.param_errs, |e| {
        c.path("ParamError.param_path", &e.param_path)
    })?;
    Ok(MsgType::Error)
}

fn request(c: &Checker<'_>, req: &usp::Request) -> core::result::Result<MsgType, DecodeError> {
    let req = oneof("Request.req_type", req.req_type.as_ref())?;
    match req {
        ReqType::Get(get) => c.paths("Get.param_paths", &get.param_paths),
        ReqType::GetSupportedDm(gsdm) => c.paths("GetSupportedDM.obj_paths", &gsdm.obj_paths),
        ReqType::GetInstances(gi) => c.paths("GetInstances.obj_paths", &gi.obj_paths),
        ReqType::Set(set) => c.each("Set.update_objs", &set.update_objs, |obj| {
            c.path("UpdateObject.obj_path", &obj.obj_path)?;
            c.each("UpdateObject.param_settings", &obj.param_settings, |s| {
                c.path("UpdateParamSetting.param", &s.param)
            })
        }),
        ReqType::Add(add) => c.each("Add.create_objs", &add.create_objs, |obj| {
            c.path("CreateObject.obj_path", &obj.obj_path)?;
            c.each("CreateObject.param_settings", &obj.param_settings, |s| {
                c.path("CreateParamSetting.param", &s.param)
            })
        }),
        ReqType::Delete(delete) => c.paths("Delete.obj_paths", &delete.obj_paths),
        ReqType::Operate(op) => {
            c.path("Operate.command", &op.command)?;
            c.map("Operate.input_args", &op.input_args)
        }
        ReqType::Notify(notify) => self::notify(c, notify),
        ReqType::GetSupportedProtocol(_) => Ok(()),
        ReqType::Register(reg) => c.each("Register.reg_paths", &reg.reg_paths, |p| {
            c.path("RegistrationPath.path", &p.path)
        }),
        ReqType::Deregister(dereg) => c.paths("Deregister.paths", &dereg.paths),
    }?;
    Ok(request_type(req))
}

/// The type of a response of the inbound types, whether read or not.
const fn inbound_response_type(resp: &usp_inbound::response::RespType) -> MsgType {
    use usp_inbound::response::RespType as Inbound;

    match resp {
        Inbound::GetResp(_) => MsgType::GetResp,
        Inbound::GetSupportedDmResp(_) => MsgType::GetSupportedDmResp,
        Inbound::GetInstancesResp(_) => MsgType::GetInstancesResp,
        Inbound::SetResp(_) => MsgType::SetResp,
        Inbound::AddResp(_) => MsgType::AddResp,
        Inbound::DeleteResp(_) => MsgType::DeleteResp,
        Inbound::OperateResp(_) => MsgType::OperateResp,
        Inbound::NotifyResp(_) => MsgType::NotifyResp,
        Inbound::GetSupportedProtocolResp(_) => MsgType::GetSupportedProtoResp,
        Inbound::RegisterResp(_) => MsgType::RegisterResp,
        Inbound::DeregisterResp(_) => MsgType::DeregisterResp,
    }
}

fn notify(c: &Checker<'_>, notify: &usp::Notify) -> Result {
    use usp::notify::{Notification, operation_complete::OperationResp};

    match oneof("Notify.notification", notify.notification.as_ref())? {
        Notification::Event(ev) => {
            c.path("Event.obj_path", &ev.obj_path)?;
            c.path("Event.event_name", &ev.event_name)?;
            c.map("Event.params", &ev.params)
        }
        Notification::ValueChange(vc) => c.path("ValueChange.param_path", &vc.param_path),
        Notification::ObjCreation(oc) => {
            c.path("ObjectCreation.obj_path", &oc.obj_path)?;
            c.map("ObjectCreation.unique_keys", &oc.unique_keys)
        }
        Notification::ObjDeletion(od) => c.path("ObjectDeletion.obj_path", &od.obj_path),
        Notification::OperComplete(oc) => {
            c.path("OperationComplete.obj_path", &oc.obj_path)?;
            c.path("OperationComplete.command_name", &oc.command_name)?;
            match oneof(
                "OperationComplete.operation_resp",
                oc.operation_resp.as_ref(),
            )? {
                OperationResp::ReqOutputArgs(out) => {
                    c.map("OutputArgs.output_args", &out.output_args)
                }
                OperationResp::CmdFailure(_) => Ok(()),
            }
        }
        Notification::OnBoardReq(_) => Ok(()),
    }
}

fn response(c: &Checker<'_>, resp: &RespType) -> Result {
    match resp {
        RespType::GetResp(r) => get_resp(c, r),
        RespType::GetSupportedDmResp(r) => get_supported_dm_resp(c, r),
        RespType::GetInstancesResp(r) => get_instances_resp(c, r),
        RespType::SetResp(r) => set_resp(c, r),
        RespType::AddResp(r) => add_resp(c, r),
        RespType::DeleteResp(r) => delete_resp(c, r),
        RespType::OperateResp(r) => operate_resp(c, r),
        RespType::NotifyResp(_) | RespType::GetSupportedProtocolResp(_) => Ok(()),
        RespType::RegisterResp(r) => register_resp(c, r),
        RespType::DeregisterResp(r) => deregister_resp(c, r),
    }
}

fn get_resp(c: &Checker<'_>, r: &usp::GetResp) -> Result {
    c.each("GetResp.req_path_results", &r.req_path_results, |req| {
        c.path("RequestedPathResult.requested_path", &req.requested_path)?;
        c.each(
            "RequestedPathResult.resolved_path_results",
            &req.resolved_path_results,
            |res| {
                c.path("ResolvedPathResult.resolved_path", &res.resolved_path)?;
                c.map("ResolvedPathResult.result_params", &res.result_params)
            },
        )
    })
}

fn get_supported_dm_resp(c: &Checker<'_>, r: &usp::GetSupportedDmResp) -> Result {
    use usp::get_supported_dm_resp::{
        CmdType, ObjAccessType, ParamAccessType, ParamValueType, ValueChangeType,
    };

    c.each(
        "GetSupportedDMResp.req_obj_results",
        &r.req_obj_results,
        |req| {
            c.path("RequestedObjectResult.req_obj_path", &req.req_obj_path)?;
            c.each(
                "RequestedObjectResult.supported_objs",
                &req.supported_objs,
                |obj| {
                    c.path(
                        "SupportedObjectResult.supported_obj_path",
                        &obj.supported_obj_path,
                    )?;
                    msg_enum::<ObjAccessType>("SupportedObjectResult.access", obj.access)?;
                    c.each(
                        "SupportedObjectResult.supported_commands",
                        &obj.supported_commands,
                        |cmd| {
                            c.path("SupportedCommandResult.command_name", &cmd.command_name)?;
                            c.paths(
                                "SupportedCommandResult.input_arg_names",
                                &cmd.input_arg_names,
                            )?;
                            c.paths(
                                "SupportedCommandResult.output_arg_names",
                                &cmd.output_arg_names,
                            )?;
                            msg_enum::<CmdType>(
                                "SupportedCommandResult.command_type",
                                cmd.command_type,
                            )
                        },
                    )?;
                    c.each(
                        "SupportedObjectResult.supported_events",
                        &obj.supported_events,
                        |ev| {
                            c.path("SupportedEventResult.event_name", &ev.event_name)?;
                            c.paths("SupportedEventResult.arg_names", &ev.arg_names)
                        },
                    )?;
                    c.each(
                        "SupportedObjectResult.supported_params",
                        &obj.supported_params,
                        |p| {
                            c.path("SupportedParamResult.param_name", &p.param_name)?;
                            msg_enum::<ParamAccessType>("SupportedParamResult.access", p.access)?;
                            msg_enum::<ParamValueType>(
                                "SupportedParamResult.value_type",
                                p.value_type,
                            )?;
                            msg_enum::<ValueChangeType>(
                                "SupportedParamResult.value_change",
                                p.value_change,
                            )
                        },
                    )?;
                    c.paths(
                        "SupportedObjectResult.divergent_paths",
                        &obj.divergent_paths,
                    )?;
                    c.each(
                        "SupportedObjectResult.unique_key_sets",
                        &obj.unique_key_sets,
                        |set| c.paths("SupportedUniqueKeySet.key_names", &set.key_names),
                    )
                },
            )
        },
    )
}

fn get_instances_resp(c: &Checker<'_>, r: &usp::GetInstancesResp) -> Result {
    c.each(
        "GetInstancesResp.req_path_results",
        &r.req_path_results,
        |req| {
            c.path("RequestedPathResult.requested_path", &req.requested_path)?;
            c.each("RequestedPathResult.curr_insts", &req.curr_insts, |inst| {
                c.path(
                    "CurrInstance.instantiated_obj_path",
                    &inst.instantiated_obj_path,
                )?;
                c.map("CurrInstance.unique_keys", &inst.unique_keys)
            })
        },
    )
}

fn set_resp(c: &Checker<'_>, r: &usp::SetResp) -> Result {
    use usp::set_resp::updated_object_result::operation_status::OperStatus;

    let param_errs = |field: &'static str, errs: &[usp::set_resp::ParameterError]| {
        c.each(field, errs, |e| c.path("ParameterError.param", &e.param))
    };
    c.each(
        "SetResp.updated_obj_results",
        &r.updated_obj_results,
        |res| {
            c.path("UpdatedObjectResult.requested_path", &res.requested_path)?;
            let status = oneof("UpdatedObjectResult.oper_status", res.oper_status.as_ref())?;
            match oneof("OperationStatus.oper_status", status.oper_status.as_ref())? {
                OperStatus::OperFailure(f) => c.each(
                    "OperationFailure.updated_inst_failures",
                    &f.updated_inst_failures,
                    |fail| {
                        c.path("UpdatedInstanceFailure.affected_path", &fail.affected_path)?;
                        param_errs("UpdatedInstanceFailure.param_errs", &fail.param_errs)
                    },
                ),
                OperStatus::OperSuccess(s) => c.each(
                    "OperationSuccess.updated_inst_results",
                    &s.updated_inst_results,
                    |ok| {
                        c.path("UpdatedInstanceResult.affected_path", &ok.affected_path)?;
                        param_errs("UpdatedInstanceResult.param_errs", &ok.param_errs)?;
                        c.map("UpdatedInstanceResult.updated_params", &ok.updated_params)
                    },
                ),
            }
        },
    )
}

fn add_resp(c: &Checker<'_>, r: &usp::AddResp) -> Result {
    use usp::add_resp::created_object_result::operation_status::OperStatus;

    c.each(
        "AddResp.created_obj_results",
        &r.created_obj_results,
        |res| {
            c.path("CreatedObjectResult.requested_path", &res.requested_path)?;
            let status = oneof("CreatedObjectResult.oper_status", res.oper_status.as_ref())?;
            match oneof("OperationStatus.oper_status", status.oper_status.as_ref())? {
                OperStatus::OperFailure(_) => Ok(()),
                OperStatus::OperSuccess(s) => {
                    c.path("OperationSuccess.instantiated_path", &s.instantiated_path)?;
                    c.each("OperationSuccess.param_errs", &s.param_errs, |e| {
                        c.path("ParameterError.param", &e.param)
                    })?;
                    c.map("OperationSuccess.unique_keys", &s.unique_keys)
                }
            }
        },
    )
}

fn delete_resp(c: &Checker<'_>, r: &usp::DeleteResp) -> Result {
    use usp::delete_resp::deleted_object_result::operation_status::OperStatus;

    c.each(
        "DeleteResp.deleted_obj_results",
        &r.deleted_obj_results,
        |res| {
            c.path("DeletedObjectResult.requested_path", &res.requested_path)?;
            let status = oneof("DeletedObjectResult.oper_status", res.oper_status.as_ref())?;
            match oneof("OperationStatus.oper_status", status.oper_status.as_ref())? {
                OperStatus::OperFailure(_) => Ok(()),
                OperStatus::OperSuccess(s) => {
                    c.paths("OperationSuccess.affected_paths", &s.affected_paths)?;
                    c.each(
                        "OperationSuccess.unaffected_path_errs",
                        &s.unaffected_path_errs,
                        |e| c.path("UnaffectedPathError.unaffected_path", &e.unaffected_path),
                    )
                }
            }
        },
    )
}

fn operate_resp(c: &Checker<'_>, r: &usp::OperateResp) -> Result {
    use usp::operate_resp::operation_result::OperationResp;

    c.each(
        "OperateResp.operation_results",
        &r.operation_results,
        |res| {
            c.path("OperationResult.executed_command", &res.executed_command)?;
            match oneof(
                "OperationResult.operation_resp",
                res.operation_resp.as_ref(),
            )? {
                OperationResp::ReqObjPath(path) => c.path("OperationResult.req_obj_path", path),
                OperationResp::ReqOutputArgs(out) => {
                    c.map("OutputArgs.output_args", &out.output_args)
                }
                OperationResp::CmdFailure(_) => Ok(()),
            }
        },
    )
}

fn register_resp(c: &Checker<'_>, r: &usp::RegisterResp) -> Result {
    use usp::register_resp::registered_path_result::operation_status::OperStatus;

    c.each(
        "RegisterResp.registered_path_results",
        &r.registered_path_results,
        |res| {
            c.path("RegisteredPathResult.requested_path", &res.requested_path)?;
            let status = oneof("RegisteredPathResult.oper_status", res.oper_status.as_ref())?;
            match oneof("OperationStatus.oper_status", status.oper_status.as_ref())? {
                OperStatus::OperFailure(_) => Ok(()),
                OperStatus::OperSuccess(s) => {
                    c.path("OperationSuccess.registered_path", &s.registered_path)
                }
            }
        },
    )
}

fn deregister_resp(c: &Checker<'_>, r: &usp::DeregisterResp) -> Result {
    use usp::deregister_resp::deregistered_path_result::operation_status::OperStatus;

    c.each(
        "DeregisterResp.deregistered_path_results",
        &r.deregistered_path_results,
        |res| {
            c.path("DeregisteredPathResult.requested_path", &res.requested_path)?;
            let status = oneof(
                "DeregisteredPathResult.oper_status",
                res.oper_status.as_ref(),
            )?;
            match oneof("OperationStatus.oper_status", status.oper_status.as_ref())? {
                OperStatus::OperFailure(_) => Ok(()),
                OperStatus::OperSuccess(s) => {
                    c.paths("OperationSuccess.deregistered_path", &s.deregistered_path)
                }
            }
        },
    )
}
