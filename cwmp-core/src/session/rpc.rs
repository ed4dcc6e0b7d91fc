//! The CPE methods the ACS calls: each becomes an immediate response or an engine request
//! whose result becomes the response.
//!
//! | RPC | Engine request | Notes |
//! |---|---|---|
//! | GetRPCMethods | — | the methods below |
//! | GetParameterValues | `Get` | first failing path → its fault (9005 unknown name); instance wildcards (below) |
//! | SetParameterValues | `Set` (all-or-nothing, `ParameterKey` as agent write) | status 1 when a reboot is needed; fault 9003 with one `SetParameterValuesFault` per parameter |
//! | GetParameterNames | `GetNames` | `NextLevel` on a parameter → 9003; instance wildcards (below) |
//! | GetParameterAttributes | `Get` (to expand partial paths) | attributes from the session state; instance wildcards (below) |
//! | SetParameterAttributes | `Get` | atomic; 9009 for active notification (2, 5, 6) on a `canDeny` parameter, turning off a `forceEnabled` one, or lightweight values 3–6 unless `LightweightNotificationProtocolsSupported` has `UDP` (then sent as [UDP lightweight notifications](super::lightweight)) |
//! | AddObject / DeleteObject | `Add` / `Delete` (`ParameterKey` as agent write) | status 0 |
//! | Reboot / FactoryReset | `Reboot` / `FactoryReset` after the session | |
//! | Download / Upload | `Transfer` | status 1; TransferComplete later |
//! | ScheduleInform | — | `3 SCHEDULED` + `M ScheduleInform` after `DelaySeconds` (> 0) |
//! | ScheduleDownload | `Transfer` when the first window opens | windows checked (1–2, ordered) |
//! | CancelTransfer | — | a transfer not yet started is removed; a started one → 9021 |
//! | GetQueuedTransfers / GetAllQueuedTransfers | — | from the session state |
//! | ChangeDUState | `Get`, then `Operate` per operation, in the background | operations run in the background; DUStateChangeComplete later |
//! | anything else | — | 9000 |
//!
//! Instance wildcards (TR-069 Amendment 6, §3.6.2): when `Device.ManagementServer.`
//! `InstanceWildcardsSupported` is true ([`ServerSettings`](super::ServerSettings)), a name of
//! GetParameterValues, GetParameterNames or GetParameterAttributes may hold `*` as a whole
//! segment in place of an instance number (`Device.Hosts.Host.*.IPAddress`,
//! `Device.WiFi.AccessPoint.*.AssociatedDevice.*.`, also after an `[alias]`): the engine
//! resolves it as it does a USP wildcard. The response lists what it matches, nothing when it
//! matches no row; GetParameterNames gives the names of each match in turn, `NextLevel`
//! applying to each. Every other RPC, and these when the parameter is false, answer such a
//! name as an invalid one (9005; SetParameterValues: 9003 with a 9005 entry for it), as they
//! do search expressions and reference follows. An `[alias]` after a `*` names no row (9005).
//!
//! Any response that encodes to more than
//! [`SessionLimits::max_response_bytes`](super::SessionLimits::max_response_bytes) is
//! replaced by fault 9004 (Resources exceeded).

use std::num::NonZeroU32;

use hal::EngineError;
use hal::engine::{
    AddRequest, DeleteRequest, Failure, GetNamesRequest, GetRequest, GotParam, ObjectCreation,
    ParamSetting, SetRequest,
};
use hal::transfer::{Direction, FileTransfer, FileType};
use tr181_model::schema::ActiveNotify;

use super::alias::{AliasMap, Resolution, alias_response};
use super::state::{ParameterAttributes, TransferOrigin, TransferRecord, notification_to_u8};
use super::{
    EngineRequest, EngineResult, PARAMETER_KEY, Pending, PendingTransferComplete, Phase, Session,
    SessionError, add_secs, default_notification, fault_body, parameter_value,
};
use crate::codec::{
    AddObjectResponse, AllQueuedTransfer, Body, CwmpFault, CwmpNamespace, DeleteObjectResponse,
    DownloadResponse, Envelope, Fault, GetAllQueuedTransfersResponse,
    GetParameterAttributesResponse, GetParameterNamesResponse, GetParameterValuesResponse,
    GetQueuedTransfersResponse, GetRpcMethodsResponse, Notification, ParameterAttribute,
    ParameterInfo, QueuedTransfer, SetParameterAttributesStruct, SetParameterValuesFault,
    SetParameterValuesResponse, Status, TransferState, UNKNOWN_TIME, UploadResponse,
};

/// The CPE methods this session implements (GetRPCMethodsResponse).
const METHODS: [&str; 18] = [
    "GetRPCMethods",
    "SetParameterValues",
    "GetParameterValues",
    "GetParameterNames",
    "SetParameterAttributes",
    "GetParameterAttributes",
    "AddObject",
    "DeleteObject",
    "Reboot",
    "Download",
    "Upload",
    "FactoryReset",
    "ScheduleInform",
    "ScheduleDownload",
    "CancelTransfer",
    "GetQueuedTransfers",
    "GetAllQueuedTransfers",
    "ChangeDUState",
];

/// An ACS request waiting for the engine.
#[derive(Debug)]
pub(crate) struct PendingRpc {
    id: Option<String>,
    namespace: CwmpNamespace,
    work: Work,
    /// The rows' aliases, when the response's names go in alias form.
    aliases: Option<AliasMap>,
}

#[derive(Debug)]
enum Work {
    GetValues,
    /// With the rows auto-created for it (deleted again when it fails).
    SetValues(Vec<String>),
    Names,
    GetAttributes,
    SetAttributes(Vec<SetParameterAttributesStruct>),
    Add,
    Delete,
    Transfer(Box<TransferRecord>),
}

/// The fault for an engine error.
pub(super) fn engine_fault(error: &EngineError) -> Body {
    fault_body(u32::from(error.cwmp_fault()), Some(&error.to_string()))
}

impl Session {
    /// Starts answering an ACS request whose names hold instance numbers only, with what
    /// alias resolution found on the way (`Resolution::default()` when there were no
    /// aliases).
    pub(super) fn run_rpc(&mut self, envelope: Envelope, resolution: Resolution) {
        let Resolution {
            aliases,
            new_alias,
            created,
        } = resolution;
        let Envelope {
            namespace,
            header,
            body,
        } = envelope;
        let id = header.id;
        let parameter_key = |key: &str| key.to_owned();
        // TR-069 Amendment 6: instance wildcards in GPV, GPN and GPA only.
        let wildcards = self.settings.instance_wildcards_supported;
        let (request, work) = match body {
            Body::GetRpcMethods => {
                let list = METHODS.iter().map(|m| (*m).to_owned()).collect();
                return self.answer(
                    namespace,
                    id,
                    Body::GetRpcMethodsResponse(GetRpcMethodsResponse { method_list: list }),
                );
            }
            Body::GetParameterValues(req) => (
                EngineRequest::Get(
                    GetRequest::new(req.parameter_names).with_instance_wildcards(wildcards),
                ),
                Work::GetValues,
            ),
            Body::SetParameterValues(req) => {
                let mut names: Vec<&str> =
                    req.parameter_list.iter().map(|p| p.name.as_str()).collect();
                names.sort_unstable();
                if names.windows(2).any(|w| w.first() == w.get(1)) {
                    let fault = fault_body(9003, Some("duplicate parameter"));
                    return self.answer_undoing(namespace, id, fault, created);
                }
                let request = SetRequest::from_parameters(
                    req.parameter_list.into_iter().map(|p| (p.name, p.value)),
                )
                .with_agent_write(PARAMETER_KEY, parameter_key(&req.parameter_key));
                (EngineRequest::Set(request), Work::SetValues(created))
            }
            Body::GetParameterNames(req) => (
                EngineRequest::GetNames(
                    GetNamesRequest::new(req.parameter_path, req.next_level)
                        .with_instance_wildcards(wildcards),
                ),
                Work::Names,
            ),
            Body::GetParameterAttributes(req) => (
                EngineRequest::Get(
                    GetRequest::new(req.parameter_names).with_instance_wildcards(wildcards),
                ),
                Work::GetAttributes,
            ),
            Body::SetParameterAttributes(req) => {
                let names: Vec<String> =
                    req.parameter_list.iter().map(|p| p.name.clone()).collect();
                (
                    EngineRequest::Get(GetRequest::new(names)),
                    Work::SetAttributes(req.parameter_list),
                )
            }
            Body::AddObject(req) => (
                EngineRequest::Add(
                    AddRequest::new(vec![ObjectCreation::new(
                        req.object_name,
                        new_alias
                            .map(|alias| vec![ParamSetting::new("Alias", alias)])
                            .unwrap_or_default(),
                    )])
                    .with_agent_write(PARAMETER_KEY, req.parameter_key),
                ),
                Work::Add,
            ),
            Body::DeleteObject(req) => (
                EngineRequest::Delete(
                    DeleteRequest::new([req.object_name])
                        .with_agent_write(PARAMETER_KEY, req.parameter_key),
                ),
                Work::Delete,
            ),
            Body::Reboot(req) => {
                self.after_session.push(EngineRequest::Reboot {
                    command_key: req.command_key,
                });
                return self.answer(namespace, id, Body::RebootResponse);
            }
            Body::FactoryReset => {
                self.after_session.push(EngineRequest::FactoryReset);
                return self.answer(namespace, id, Body::FactoryResetResponse);
            }
            Body::Download(req) => {
                if let Some(fault) = self.transfer_queue_full() {
                    return self.answer(namespace, id, fault);
                }
                let mut transfer = FileTransfer::download(
                    FileType::from_cwmp(&req.file_type, Direction::Download),
                    req.url.clone(),
                );
                transfer.username = req.username;
                transfer.password = req.password;
                transfer.file_size = (req.file_size != 0).then_some(u64::from(req.file_size));
                transfer.target_file_name.clone_from(&req.target_file_name);
                transfer.delay_seconds = req.delay_seconds;
                transfer.command_key.clone_from(&req.command_key);
                let record = TransferRecord {
                    command_key: req.command_key,
                    origin: TransferOrigin::Download,
                    file_type: req.file_type,
                    file_size: req.file_size,
                    target_file_name: req.target_file_name,
                    transfer_id: None,
                    start_in_secs: None,
                    url: req.url,
                    username: String::new(),
                    password: String::new(),
                };
                (
                    EngineRequest::Transfer(Box::new(transfer)),
                    Work::Transfer(Box::new(record)),
                )
            }
            Body::Upload(req) => {
                if let Some(fault) = self.transfer_queue_full() {
                    return self.answer(namespace, id, fault);
                }
                let mut transfer = FileTransfer::upload(
                    FileType::from_cwmp(&req.file_type, Direction::Upload),
                    req.url.clone(),
                );
                transfer.username = req.username;
                transfer.password = req.password;
                transfer.delay_seconds = req.delay_seconds;
                transfer.command_key.clone_from(&req.command_key);
                let record = TransferRecord {
                    command_key: req.command_key,
                    origin: TransferOrigin::Upload,
                    file_type: req.file_type,
                    file_size: 0,
                    target_file_name: String::new(),
                    transfer_id: None,
                    start_in_secs: None,
                    url: req.url,
                    username: String::new(),
                    password: String::new(),
                };
                (
                    EngineRequest::Transfer(Box::new(transfer)),
                    Work::Transfer(Box::new(record)),
                )
            }
            Body::ScheduleInform(req) => {
                let body = if req.delay_seconds == 0 {
                    fault_body(9003, Some("DelaySeconds must be greater than 0"))
                } else if self.scheduled_informs.len() >= self.config.limits.max_scheduled_informs {
                    fault_body(9004, Some("too many scheduled informs"))
                } else {
                    let at = add_secs(self.now, u64::from(req.delay_seconds));
                    self.scheduled_informs.push((at, req.command_key));
                    self.dirty = true;
                    Body::ScheduleInformResponse
                };
                return self.answer(namespace, id, body);
            }
            Body::ScheduleDownload(req) => {
                let body = self.schedule_download(req);
                return self.answer(namespace, id, body);
            }
            Body::CancelTransfer(req) => {
                let found = self
                    .state
                    .transfers
                    .iter()
                    .position(|t| t.command_key == req.command_key);
                let body = match found {
                    Some(index)
                        if self
                            .state
                            .transfers
                            .get(index)
                            .is_some_and(|t| t.transfer_id.is_none()) =>
                    {
                        self.state.transfers.remove(index);
                        self.download_due.retain(|(_, key)| *key != req.command_key);
                        self.dirty = true;
                        Body::CancelTransferResponse
                    }
                    Some(_) => fault_body(9021, None),
                    None => fault_body(9003, Some("no transfer with this CommandKey")),
                };
                return self.answer(namespace, id, body);
            }
            Body::ChangeDuState(req) => {
                let body = self.change_du_state(req);
                return self.answer(namespace, id, body);
            }
            Body::GetQueuedTransfers => {
                let transfer_list = self
                    .state
                    .transfers
                    .iter()
                    .map(|t| QueuedTransfer {
                        command_key: t.command_key.clone(),
                        state: transfer_state(t),
                    })
                    .collect();
                return self.answer(
                    namespace,
                    id,
                    Body::GetQueuedTransfersResponse(GetQueuedTransfersResponse { transfer_list }),
                );
            }
            Body::GetAllQueuedTransfers => {
                let transfer_list = self
                    .state
                    .transfers
                    .iter()
                    .map(|t| AllQueuedTransfer {
                        command_key: t.command_key.clone(),
                        state: transfer_state(t),
                        is_download: t.origin != TransferOrigin::Upload,
                        file_type: t.file_type.clone(),
                        file_size: t.file_size,
                        target_file_name: t.target_file_name.clone(),
                    })
                    .collect();
                return self.answer(
                    namespace,
                    id,
                    Body::GetAllQueuedTransfersResponse(GetAllQueuedTransfersResponse {
                        transfer_list,
                    }),
                );
            }
            _ => return self.answer(namespace, id, fault_body(9000, None)),
        };
        self.phase = Phase::Executing;
        self.engine_request(
            request,
            Pending::Rpc(PendingRpc {
                id,
                namespace,
                work,
                aliases,
            }),
        );
    }

    /// Sends the response `body` to the ACS request with header ID `id`.
    pub(super) fn answer(&mut self, namespace: CwmpNamespace, id: Option<String>, body: Body) {
        let mut envelope = Envelope::new(namespace, body);
        envelope.header.id = id;
        self.respond_envelope(envelope);
    }

    /// Turns the engine's answer into the RPC response and sends it.
    pub(super) fn finish_rpc(
        &mut self,
        rpc: PendingRpc,
        result: EngineResult,
    ) -> Result<(), SessionError> {
        if self.phase != Phase::Executing {
            // The session failed while the engine worked; the answer has nowhere to go.
            return Ok(());
        }
        let PendingRpc {
            id,
            namespace,
            mut work,
            aliases,
        } = rpc;
        let created = match &mut work {
            Work::SetValues(created) => std::mem::take(created),
            _ => Vec::new(),
        };
        let mut mismatched = false;
        let mut body = match (work, result) {
            (Work::GetValues, EngineResult::Get(result)) => match result {
                Ok(response) => match response.first_error() {
                    Some(error) => engine_fault(error),
                    None => Body::GetParameterValuesResponse(GetParameterValuesResponse {
                        parameter_list: response.params().map(parameter_value).collect(),
                    }),
                },
                Err(error) => engine_fault(&error),
            },
            (Work::SetValues(_), EngineResult::Set(result)) => match result {
                Ok(response) => {
                    // TR-106 DiagnosticsState: the test starts after the session.
                    // `matches!`, not `==`: `PartialEq` of every request costs router bytes.
                    let queued = self
                        .after_session
                        .iter()
                        .any(|r| matches!(r, EngineRequest::StartDiagnostics));
                    if response.diagnostics_requested && !queued {
                        self.after_session.push(EngineRequest::StartDiagnostics);
                    }
                    Body::SetParameterValuesResponse(SetParameterValuesResponse {
                        status: if response.reboot_required {
                            Status::Pending
                        } else {
                            Status::Applied
                        },
                    })
                }
                Err(failure) => set_fault(&failure),
            },
            (Work::Names, EngineResult::GetNames(result)) => match result {
                Ok(names) => Body::GetParameterNamesResponse(GetParameterNamesResponse {
                    parameter_list: names
                        .into_iter()
                        .map(|n| ParameterInfo {
                            name: n.path,
                            writable: n.writable,
                        })
                        .collect(),
                }),
                Err(error) => engine_fault(&error),
            },
            (Work::GetAttributes, EngineResult::Get(result)) => match result {
                Ok(response) => match response.first_error() {
                    Some(error) => engine_fault(error),
                    None => Body::GetParameterAttributesResponse(GetParameterAttributesResponse {
                        parameter_list: response
                            .params()
                            .map(|p| self.attribute_of(p.path()))
                            .collect(),
                    }),
                },
                Err(error) => engine_fault(&error),
            },
            (Work::SetAttributes(list), EngineResult::Get(result)) => match result {
                Ok(response) => self.set_attributes(&list, &response),
                Err(error) => engine_fault(&error),
            },
            (Work::Add, EngineResult::Add(result)) => match result {
                Ok(response) => {
                    let added = response.results.into_iter().next().map(|r| r.outcome);
                    match added {
                        Some(Ok(added)) => match NonZeroU32::new(added.number) {
                            Some(instance_number) => Body::AddObjectResponse(AddObjectResponse {
                                instance_number,
                                status: Status::Applied,
                            }),
                            None => fault_body(9002, Some("instance number 0")),
                        },
                        Some(Err(failure)) => engine_fault(&failure.error),
                        None => fault_body(9002, Some("no row added")),
                    }
                }
                Err(failure) => engine_fault(&failure.error),
            },
            (Work::Delete, EngineResult::Delete(result)) => match result {
                Ok(_) => Body::DeleteObjectResponse(DeleteObjectResponse {
                    status: Status::Applied,
                }),
                Err(failure) => engine_fault(&failure.error),
            },
            (Work::Transfer(record), EngineResult::Transfer(result)) => match result {
                Ok(transfer_id) => {
                    let mut record = *record;
                    record.transfer_id = Some(transfer_id.0);
                    let origin = record.origin;
                    self.state.transfers.push(record);
                    self.dirty = true;
                    if origin == TransferOrigin::Upload {
                        Body::UploadResponse(UploadResponse {
                            status: Status::Pending,
                            start_time: UNKNOWN_TIME.to_owned(),
                            complete_time: UNKNOWN_TIME.to_owned(),
                        })
                    } else {
                        Body::DownloadResponse(DownloadResponse {
                            status: Status::Pending,
                            start_time: UNKNOWN_TIME.to_owned(),
                            complete_time: UNKNOWN_TIME.to_owned(),
                        })
                    }
                }
                Err(error) => engine_fault(&error),
            },
            _ => {
                mismatched = true;
                fault_body(9002, Some("internal error"))
            }
        };
        if let Some(aliases) = &aliases {
            alias_response(&mut body, aliases);
        }
        self.answer_undoing(namespace, id, body, created);
        if mismatched {
            Err(SessionError::MismatchedResult)
        } else {
            Ok(())
        }
    }

    /// The attributes of `path` for GetParameterAttributesResponse.
    fn attribute_of(&self, path: &str) -> ParameterAttribute {
        let (notification, access_list) = match self.state.attributes.get(path) {
            Some(a) => (a.notification(), a.access_list.clone()),
            None => (
                super::state::notification_from_u8(default_notification(path)),
                Vec::new(),
            ),
        };
        ParameterAttribute {
            name: path.to_owned(),
            notification,
            access_list,
        }
    }

    /// SetParameterAttributes, all or nothing.
    fn set_attributes(
        &mut self,
        list: &[SetParameterAttributesStruct],
        response: &hal::engine::GetResponse,
    ) -> Body {
        let mut attributes = self.state.attributes.clone();
        for (item, result) in list.iter().zip(response.results()) {
            let params: Vec<GotParam<'_>> = match result.outcome {
                Ok(objects) => objects.params().collect(),
                Err(failure) => return engine_fault(&failure.error),
            };
            for param in params {
                if item.notification_change {
                    let n = item.notification;
                    let active = matches!(
                        n,
                        Notification::Active
                            | Notification::ActiveLightweight
                            | Notification::PassiveAndActiveLightweight
                    );
                    let lightweight = !matches!(
                        n,
                        Notification::Off | Notification::Passive | Notification::Active
                    );
                    let refused = match param.parameter().active_notify() {
                        ActiveNotify::CanDeny => active,
                        ActiveNotify::ForceEnabled => n != Notification::Active,
                        _ => false,
                    } || (lightweight && !self.settings.lightweight_udp_supported);
                    if refused {
                        return fault_body(
                            9009,
                            Some(&format!("{}: notification refused", param.path())),
                        );
                    }
                }
                let default = default_notification(param.path());
                let mut entry =
                    attributes
                        .get(param.path())
                        .cloned()
                        .unwrap_or(ParameterAttributes {
                            notification: default,
                            access_list: Vec::new(),
                        });
                if item.notification_change {
                    entry.notification = notification_to_u8(item.notification);
                }
                if item.access_list_change {
                    entry.access_list.clone_from(&item.access_list);
                }
                if entry.notification == default && entry.access_list.is_empty() {
                    attributes.remove(param.path());
                } else {
                    attributes.insert(param.path().to_owned(), entry);
                }
            }
        }
        if attributes.len() > self.config.limits.max_attributes {
            return fault_body(9004, Some("too many parameters with attributes"));
        }
        if attributes != self.state.attributes {
            self.state.attributes = attributes;
            self.dirty = true;
        }
        Body::SetParameterAttributesResponse
    }

    /// Fault 9004 when the transfer queue has no room for one more (Download, Upload,
    /// ScheduleDownload).
    fn transfer_queue_full(&self) -> Option<Body> {
        self.transfer_slots_full()
            .then(|| fault_body(9004, Some("transfer queue full")))
    }

    /// Whether every transfer slot is taken: a transfer holds one from the moment the engine
    /// is asked to start it until the ACS confirms its TransferComplete, so that a
    /// completion never has to be dropped for room.
    pub(super) fn transfer_slots_full(&self) -> bool {
        let starting = self
            .pending
            .iter()
            .filter(
                |(_, p)| matches!(p, Pending::Rpc(rpc) if matches!(rpc.work, Work::Transfer(_))),
            )
            .count();
        self.state
            .transfers
            .len()
            .saturating_add(self.state.transfer_completes.len())
            .saturating_add(starting)
            >= self.config.limits.max_transfers
    }

    fn schedule_download(&mut self, req: crate::codec::ScheduleDownload) -> Body {
        if let Some(fault) = self.transfer_queue_full() {
            return fault;
        }
        let windows = &req.time_window_list;
        let ordered = windows.iter().all(|w| w.window_start < w.window_end)
            && windows
                .windows(2)
                .all(|pair| match (pair.first(), pair.get(1)) {
                    (Some(a), Some(b)) => b.window_start >= a.window_end,
                    _ => true,
                });
        let Some(first) = windows.first() else {
            return fault_body(9003, Some("no time window"));
        };
        if windows.len() > 2 || !ordered {
            return fault_body(9003, Some("invalid time windows"));
        }
        if self
            .state
            .transfers
            .iter()
            .any(|t| t.command_key == req.command_key && t.transfer_id.is_none())
        {
            return fault_body(
                9003,
                Some("a scheduled download with this CommandKey is pending"),
            );
        }
        let start = u64::from(first.window_start);
        self.download_due
            .push((add_secs(self.now, start), req.command_key.clone()));
        self.state.transfers.push(TransferRecord {
            command_key: req.command_key,
            origin: TransferOrigin::ScheduleDownload,
            file_type: req.file_type,
            file_size: req.file_size,
            target_file_name: req.target_file_name,
            transfer_id: None,
            start_in_secs: Some(start),
            url: req.url,
            username: req.username,
            password: req.password,
        });
        self.dirty = true;
        Body::ScheduleDownloadResponse
    }

    /// A scheduled download's window opened: hand it to the engine.
    pub(super) fn start_scheduled_download(&mut self, command_key: &str) {
        let Some(record) = self
            .state
            .transfers
            .iter()
            .find(|t| t.command_key == command_key && t.transfer_id.is_none())
        else {
            return;
        };
        let mut transfer = FileTransfer::download(
            FileType::from_cwmp(&record.file_type, Direction::Download),
            record.url.clone(),
        );
        transfer.username.clone_from(&record.username);
        transfer.password.clone_from(&record.password);
        transfer.file_size = (record.file_size != 0).then_some(u64::from(record.file_size));
        transfer
            .target_file_name
            .clone_from(&record.target_file_name);
        transfer.command_key = command_key.to_owned();
        self.engine_request(
            EngineRequest::Transfer(Box::new(transfer)),
            Pending::ScheduledTransfer(command_key.to_owned()),
        );
    }

    /// The engine started (or refused) a scheduled download.
    pub(super) fn on_scheduled_transfer(
        &mut self,
        command_key: &str,
        result: EngineResult,
    ) -> Result<(), SessionError> {
        let index = self
            .state
            .transfers
            .iter()
            .position(|t| t.command_key == command_key && t.transfer_id.is_none());
        let Some(index) = index else {
            return Ok(());
        };
        let (result, mismatched) = match result {
            EngineResult::Transfer(result) => (result, false),
            _ => (
                Err(EngineError::ApiMisuse("mismatched engine result")),
                true,
            ),
        };
        match result {
            Ok(id) => {
                if let Some(record) = self.state.transfers.get_mut(index) {
                    record.transfer_id = Some(id.0);
                    record.start_in_secs = None;
                    record.username.clear();
                    record.password.clear();
                }
            }
            Err(error) => {
                let record = self.state.transfers.remove(index);
                let fault_code = match u32::from(error.cwmp_fault()) {
                    code @ (9001 | 9002 | 9010..=9012 | 9014..=9020) => code,
                    _ => 9010,
                };
                self.state.transfer_completes.push(PendingTransferComplete {
                    notice: None,
                    transfer_id: None,
                    command_key: record.command_key,
                    origin: record.origin,
                    fault_code,
                    fault_string: crate::error::shorten(&error.to_string()),
                    start_time: UNKNOWN_TIME.to_owned(),
                    complete_time: UNKNOWN_TIME.to_owned(),
                });
            }
        }
        self.dirty = true;
        if mismatched {
            Err(SessionError::MismatchedResult)
        } else {
            Ok(())
        }
    }
}

fn transfer_state(record: &TransferRecord) -> TransferState {
    if record.transfer_id.is_some() {
        TransferState::InProgress
    } else {
        TransferState::NotYetStarted
    }
}

/// The fault of a failed SetParameterValues: 9003 with one entry per failed parameter, or the
/// request's own fault when no parameter is to blame.
fn set_fault(failure: &Failure) -> Body {
    if failure.param_errors.is_empty() {
        return engine_fault(&failure.error);
    }
    let set_parameter_values_fault = failure
        .param_errors
        .iter()
        .map(|e| {
            let code = u32::from(e.error.cwmp_fault());
            SetParameterValuesFault {
                parameter_name: e.path.clone(),
                fault_code: if (9000..=9899).contains(&code) {
                    code
                } else {
                    9002
                },
                fault_string: crate::error::shorten(&e.error.to_string()),
            }
        })
        .collect();
    invalid_arguments(set_parameter_values_fault)
}

/// SetParameterValues fault 9003 (Invalid arguments) with these per-parameter faults.
pub(super) fn invalid_arguments(set_parameter_values_fault: Vec<SetParameterValuesFault>) -> Body {
    let mut fault = Fault::cwmp(9003, "Invalid arguments");
    fault.detail = Some(CwmpFault {
        fault_code: 9003,
        fault_string: "Invalid arguments".to_owned(),
        set_parameter_values_fault,
    });
    Body::Fault(fault)
}
