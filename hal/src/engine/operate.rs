//! Commands and lifecycle: Operate (synchronous and asynchronous, with
//! `Device.LocalAgent.Request.{i}.` rows), Reboot, FactoryReset and file transfers.
//!
//! The lifecycle commands are routed to [`Lifecycle`](crate::traits::Lifecycle), every other
//! command to [`Commands`](crate::traits::Commands):
//!
//! | Command | HAL call |
//! |---|---|
//! | `Device.Reboot()` | `Lifecycle::reboot` (also CWMP Reboot: [`Engine::reboot`]) |
//! | `Device.FactoryReset()` | `Lifecycle::factory_reset` (also CWMP FactoryReset) |
//! | `Device.DeviceInfo.FirmwareImage.{i}.Download()` | `Lifecycle::transfer` (also CWMP Download/Upload: [`Engine::transfer`]) |
//! | `Device.DeviceInfo.FirmwareImage.{i}.Activate()` | `Lifecycle::activate` |
//! | `Device.DeviceInfo.VendorConfigFile.{i}.Backup()` | `Lifecycle::transfer` (an upload, also CWMP Upload) |
//! | `Device.DeviceInfo.VendorLogFile.{i}.Upload()` | `Lifecycle::transfer` (an upload, also CWMP Upload) |
//! | `Device.LocalAgent.Request.{i}.Cancel()` | `Commands::cancel` |
//! | `Device.LocalAgent.Controller.{i}.SendOnBoardRequest()` | none: the USP agent's own command |
//! | `Device.LocalAgent.Controller.{i}.E2ESession.Reset()` | none: the USP agent's own command |
//! | `Device.LocalAgent.ControllerTrust.RequestChallenge()` | none: the USP agent's own command |
//! | `Device.LocalAgent.ControllerTrust.ChallengeResponse()` | none: the USP agent's own command |
//!
//! An agent-owned command is checked like any other (path, `execute` right, arguments) and
//! reported done without output arguments; the USP agent that asked (`usp_core::agent`)
//! carries it out when it reads that result, since only it can send USP messages and only it
//! keeps the challenges it handed out (the challenge commands' output arguments and failures
//! are its own).

use std::string::{String, ToString};
use std::vec::Vec;

use tr181_model::path::PathKind;
use tr181_model::schema::{Command, Protocol};
use tr181_model::store::{Origin, Resolved};
use tr181_model::value::Value;

use super::{
    BootIntent, Engine, OperateOutcome, OperateRequest, OperateResponse, OperateResult,
    OperationRef, Principal, RunningCall, RunningTransfer, Target, parse_path, require,
    schema_path_of,
};
use crate::error::{EngineError, HalError};
use crate::feed::CallId;
use crate::traits::{BootCause, CommandCall, Invoked, Section};
use crate::transfer::{Checksum, Direction, FileTransfer, FileType, TransferId};

/// The value of a text or number input argument.
fn arg_text(input: &[(String, Value)], name: &str) -> Option<String> {
    input
        .iter()
        .find(|(n, _)| n == name)
        .map(|(_, v)| v.canonical_text())
}

/// The model variant commands are looked up in. The CWMP variant of TR-181 has no commands;
/// a CWMP RPC that maps onto one (ChangeDUState onto `SoftwareModules.InstallDU()` and the
/// deployment units' `Update()` and `Uninstall()`) finds it in the USP variant.
fn command_variant(protocol: Protocol) -> Protocol {
    match protocol {
        Protocol::Cwmp => Protocol::Usp,
        other => other,
    }
}

/// The instance number in the segment before the command name (`...FirmwareImage.2.Download()`).
fn instance_before_command(path: &str) -> Option<u32> {
    let object = path.get(..path.rfind('.')?)?;
    object.rsplit('.').next()?.parse().ok()
}

/// The command a CWMP transfer needs `execute` on; see [`Engine::transfer`].
fn transfer_command(transfer: &FileTransfer) -> String {
    match (transfer.direction, &transfer.file_type) {
        (Direction::Download, FileType::VendorConfiguration) => {
            "Device.DeviceInfo.VendorConfigFile.{i}.Restore()".into()
        }
        (Direction::Download, _) => {
            let bank = transfer
                .firmware_image
                .map_or_else(|| "{i}".into(), |n| n.to_string());
            std::format!("Device.DeviceInfo.FirmwareImage.{bank}.Download()")
        }
        (Direction::Upload, FileType::VendorConfiguration) => {
            "Device.DeviceInfo.VendorConfigFile.{i}.Backup()".into()
        }
        (Direction::Upload, _) => "Device.DeviceInfo.VendorLogFile.{i}.Upload()".into(),
    }
}

impl Engine {
    /// Runs a command on every object the path resolves to (USP Operate).
    ///
    /// `Err` only when the path itself is bad (not a command, unknown, malformed); every
    /// per-command failure — permission, arguments, the hardware — is an
    /// [`OperateOutcome::Failed`] (R-OPR.1). A search matching nothing gives no results.
    pub async fn operate(
        &self,
        principal: &Principal,
        request: &OperateRequest,
    ) -> Result<OperateResponse, EngineError> {
        self.require_started()?;
        self.check_items(request.input.len())?;
        let targets: Vec<(String, &'static Command)> = {
            let store = self.store();
            let parsed = parse_path(&request.command, principal.protocol, store.limits())?;
            if !matches!(parsed.kind, PathKind::Command(_)) {
                return Err(tr181_model::Error::UnknownPath {
                    path: request.command.clone(),
                }
                .into());
            }
            let found = store.resolve(&parsed, command_variant(principal.protocol))?;
            found
                .iter()
                .filter_map(|item| match item {
                    Resolved::Command { command, .. } => Some((found.path(item), *command)),
                    _ => None,
                })
                .collect()
        };
        self.check_items(targets.len())?;
        let mut results = Vec::with_capacity(targets.len());
        for (path, command) in targets {
            let outcome = match self.operate_one(principal, request, &path, command).await {
                Ok(outcome) => outcome,
                Err(error) => OperateOutcome::Failed(error),
            };
            results.push(OperateResult { path, outcome });
        }
        Ok(OperateResponse { results })
    }

    async fn operate_one(
        &self,
        principal: &Principal,
        request: &OperateRequest,
        path: &str,
        command: &'static Command,
    ) -> Result<OperateOutcome, EngineError> {
        self.may_execute(principal, path)?;
        let input = self.command_input(path, command, &request.input)?;
        match schema_path_of(path).as_str() {
            "Device.Reboot()" => {
                self.reboot(principal, &request.command_key).await?;
                Ok(OperateOutcome::Done(Vec::new()))
            }
            "Device.FactoryReset()" => {
                self.factory_reset(principal).await?;
                Ok(OperateOutcome::Done(Vec::new()))
            }
            "Device.DeviceInfo.FirmwareImage.{i}.Download()"
            | "Device.DeviceInfo.VendorConfigFile.{i}.Backup()"
            | "Device.DeviceInfo.VendorLogFile.{i}.Upload()" => {
                self.operate_transfer(principal, request, path, &input)
                    .await
            }
            "Device.DeviceInfo.FirmwareImage.{i}.Activate()" => {
                let image = instance_before_command(path).ok_or(EngineError::ApiMisuse(
                    "Activate() without an image instance",
                ))?;
                let (call, request_row) = self.begin_call(principal, request, path).await?;
                match self.hal.lifecycle.activate(image).await {
                    Ok(()) => {
                        // The device reboots into the image; completion is reported now.
                        self.end_call(call, Ok(Vec::new())).await;
                        Ok(OperateOutcome::Started {
                            call,
                            request: request_row,
                        })
                    }
                    Err(error) => {
                        self.abort_call(call).await;
                        Err(error.into())
                    }
                }
            }
            "Device.LocalAgent.Request.{i}.Cancel()" => {
                self.cancel_request(path).await?;
                Ok(OperateOutcome::Done(Vec::new()))
            }
            "Device.LocalAgent.Controller.{i}.SendOnBoardRequest()"
            | "Device.LocalAgent.Controller.{i}.E2ESession.Reset()"
            | "Device.LocalAgent.ControllerTrust.RequestChallenge()"
            | "Device.LocalAgent.ControllerTrust.ChallengeResponse()" => {
                Ok(OperateOutcome::Done(Vec::new()))
            }
            _ => self.invoke(principal, request, path, command, input).await,
        }
    }

    /// `Ok` if `principal` may run the command at `path`, else
    /// [`EngineError::PermissionDenied`].
    fn may_execute(&self, principal: &Principal, path: &str) -> Result<(), EngineError> {
        let allowed = self
            .permissions(&self.store(), principal, path, Target::Command)
            .execute;
        require(allowed, path)
    }

    /// Parses and checks the input arguments against the command's schema.
    fn command_input(
        &self,
        path: &str,
        command: &'static Command,
        input: &[(String, String)],
    ) -> Result<Vec<(String, Value)>, EngineError> {
        let limits = *self.store().limits();
        let mut out = Vec::with_capacity(input.len());
        for (name, text) in input {
            let schema_name = schema_path_of(name);
            let Some(arg) = command.input().iter().find(|a| a.name() == schema_name) else {
                return Err(EngineError::InvalidArguments {
                    path: path.into(),
                    reason: "unknown input argument",
                    command: true,
                });
            };
            let value = Value::parse_for(text, arg, &std::format!("{path}.{name}"), &limits)?;
            out.push((name.clone(), value));
        }
        for arg in command.input().iter().filter(|a| a.mandatory()) {
            let given = match arg.name().split_once("{i}") {
                // An argument of a multi-instance argument object (`TimeWindow.{i}.Start`) is
                // mandatory in each instance given, not on its own.
                Some((prefix, _)) => input
                    .iter()
                    .filter_map(|(name, _)| name.strip_prefix(prefix)?.split('.').next())
                    .all(|n| {
                        let wanted = arg.name().replacen("{i}", n, 1);
                        input.iter().any(|(name, _)| *name == wanted)
                    }),
                None => input
                    .iter()
                    .any(|(name, _)| schema_path_of(name) == arg.name()),
            };
            if !given {
                return Err(EngineError::InvalidArguments {
                    path: path.into(),
                    reason: "a mandatory input argument is missing",
                    command: true,
                });
            }
        }
        Ok(out)
    }

    /// Registers an asynchronous invocation and creates its `Device.LocalAgent.Request.{i}.`
    /// row (when the model has the table).
    async fn begin_call(
        &self,
        principal: &Principal,
        request: &OperateRequest,
        path: &str,
    ) -> Result<(CallId, Option<String>), EngineError> {
        let _gate = self.gate.enter().await;
        let row = {
            let mut store = self.store();
            let mut txn = store.transaction(Origin::Device);
            let row = txn.add("Device.LocalAgent.Request.", &[]).ok().map(|n| {
                let row = std::format!("Device.LocalAgent.Request.{n}.");
                let values = [
                    ("Command", path),
                    ("CommandKey", request.command_key.as_str()),
                    ("Originator", principal.id.as_str()),
                    ("Status", "Active"),
                ];
                for (name, value) in values {
                    // A value the model refuses (e.g. too long) is left at its default.
                    let _ = txn.set(&std::format!("{row}{name}"), value);
                }
                row
            });
            match txn.commit() {
                Ok(_) => row,
                Err(_) => None,
            }
        };
        let mut state = self.state();
        state.next_call = state.next_call.saturating_add(1);
        let call = CallId(state.next_call);
        state.calls.insert(
            call,
            RunningCall {
                command: path.into(),
                command_key: request.command_key.clone(),
                request: row.clone(),
                originator: principal.id.clone(),
            },
        );
        Ok((call, row))
    }

    /// Completes an invocation now and persists the notice.
    async fn end_call(&self, call: CallId, result: Result<Vec<(String, Value)>, EngineError>) {
        let _gate = self.gate.enter().await;
        if self.finish_call(call, result) {
            let _ = self.save_events().await;
        }
    }

    /// Forgets an invocation that never started: removes its row, queues nothing.
    async fn abort_call(&self, call: CallId) {
        let _gate = self.gate.enter().await;
        let running = self.state().calls.remove(&call);
        if let Some(row) = running.and_then(|r| r.request) {
            super::delete_row(&mut self.store(), &row);
        }
    }

    async fn invoke(
        &self,
        principal: &Principal,
        request: &OperateRequest,
        path: &str,
        command: &'static Command,
        input: Vec<(String, Value)>,
    ) -> Result<OperateOutcome, EngineError> {
        let (call, row) = if command.is_async() {
            self.begin_call(principal, request, path).await?
        } else {
            let mut state = self.state();
            state.next_call = state.next_call.saturating_add(1);
            (CallId(state.next_call), None)
        };
        let invocation = CommandCall {
            id: call,
            path: path.into(),
            command,
            input,
            command_key: request.command_key.clone(),
        };
        let reporter = self.sink.command_reporter(call);
        let result = self.hal.commands.invoke(&invocation, reporter).await;
        match (command.is_async(), result) {
            (false, Ok(Invoked::Done(output))) => Ok(OperateOutcome::Done(output)),
            (false, Ok(Invoked::Running)) => Err(HalError::Failed {
                path: path.into(),
                reason: "a synchronous command must finish in invoke".into(),
            }
            .into()),
            (false, Err(error)) => Err(error.into()),
            (true, Ok(Invoked::Done(output))) => {
                self.end_call(call, Ok(output)).await;
                Ok(OperateOutcome::Started { call, request: row })
            }
            (true, Ok(Invoked::Running)) => Ok(OperateOutcome::Started { call, request: row }),
            (true, Err(error)) => {
                self.abort_call(call).await;
                Err(error.into())
            }
        }
    }

    /// `Device.LocalAgent.Request.{i}.Cancel()`.
    async fn cancel_request(&self, path: &str) -> Result<(), EngineError> {
        let row = path
            .get(..path.rfind('.').unwrap_or(0).saturating_add(1))
            .unwrap_or(path);
        let call = self
            .state()
            .calls
            .iter()
            .find(|(_, c)| c.request.as_deref() == Some(row))
            .map(|(id, _)| *id);
        let Some(call) = call else {
            return Err(tr181_model::Error::NoSuchInstance { path: row.into() }.into());
        };
        self.hal.commands.cancel(call).await?;
        self.end_call(call, Err(HalError::Cancelled { path: path.into() }.into()))
            .await;
        Ok(())
    }

    /// `FirmwareImage.{i}.Download()`, `VendorConfigFile.{i}.Backup()` (an upload of the
    /// configuration) and `VendorLogFile.{i}.Upload()` (an upload of the log): a transfer
    /// whose end completes the operation. The uploads' file is the device's to pick: the
    /// instance number is not passed on.
    async fn operate_transfer(
        &self,
        principal: &Principal,
        request: &OperateRequest,
        path: &str,
        input: &[(String, Value)],
    ) -> Result<OperateOutcome, EngineError> {
        let url = arg_text(input, "URL").unwrap_or_default();
        let mut transfer = match schema_path_of(path).as_str() {
            "Device.DeviceInfo.VendorConfigFile.{i}.Backup()" => {
                FileTransfer::upload(FileType::VendorConfiguration, url)
            }
            "Device.DeviceInfo.VendorLogFile.{i}.Upload()" => {
                FileTransfer::upload(FileType::VendorLog, url)
            }
            _ => {
                let mut transfer = FileTransfer::download(FileType::FirmwareImage, url);
                transfer.file_size = arg_text(input, "FileSize").and_then(|s| s.parse().ok());
                transfer.checksum = match (
                    arg_text(input, "CheckSumAlgorithm"),
                    arg_text(input, "CheckSum"),
                ) {
                    (Some(algorithm), Some(value)) if !value.is_empty() => {
                        Some(Checksum::new(algorithm, value))
                    }
                    _ => None,
                };
                transfer.firmware_image = instance_before_command(path);
                transfer.auto_activate = input
                    .iter()
                    .any(|(n, v)| n == "AutoActivate" && *v == Value::Boolean(true));
                transfer
            }
        };
        transfer.username = arg_text(input, "Username").unwrap_or_default();
        transfer.password = arg_text(input, "Password").unwrap_or_default();
        transfer.command_key = request.command_key.clone();
        let row = self.begin_call(principal, request, path).await?;
        let (call, request_row) = row;
        // The transfer, not the call, carries the completion: forget the call bookkeeping.
        self.state().calls.remove(&call);
        let operation = OperationRef {
            command: path.into(),
            request: request_row.clone(),
            originator: principal.id.clone(),
        };
        match self.start_transfer(transfer, Some(operation)).await {
            Ok(_) => Ok(OperateOutcome::Started {
                call,
                request: request_row,
            }),
            Err(error) => {
                if let Some(row) = &request_row {
                    let _gate = self.gate.enter().await;
                    super::delete_row(&mut self.store(), row);
                }
                Err(error)
            }
        }
    }

    /// Records a transfer as running, persists it, and asks the hardware to start it.
    async fn start_transfer(
        &self,
        transfer: FileTransfer,
        operation: Option<OperationRef>,
    ) -> Result<TransferId, EngineError> {
        let _gate = self.gate.enter().await;
        let id = {
            let mut state = self.state();
            if state.transfers.running.len() >= self.config.max_transfers {
                return Err(EngineError::LimitExceeded {
                    what: "file transfers in progress",
                    limit: self.config.max_transfers,
                });
            }
            state.transfers.next_id = state.transfers.next_id.saturating_add(1);
            let id = TransferId(state.transfers.next_id);
            state.transfers.running.push(RunningTransfer {
                id,
                direction: transfer.direction,
                command_key: transfer.command_key.clone(),
                start_time: self.now(),
                operation,
            });
            id
        };
        self.save_transfers().await?;
        let reporter = self.sink.transfer_reporter(id);
        if let Err(error) = self.hal.lifecycle.transfer(id, &transfer, reporter).await {
            self.state().transfers.running.retain(|t| t.id != id);
            let _ = self.save_transfers().await;
            return Err(error.into());
        }
        Ok(id)
    }

    /// Starts a file transfer (CWMP Download and Upload). Its end is a
    /// [`Notice::TransferComplete`](super::Notice::TransferComplete), also after a reboot.
    ///
    /// The principal needs `execute` on the TR-181 command the transfer corresponds to (the
    /// instance is not known, so the path has `{i}`, or the firmware bank when given):
    ///
    /// | Direction, file type | Command path |
    /// |---|---|
    /// | Download, firmware image, or any other type | `Device.DeviceInfo.FirmwareImage.{i}.Download()` |
    /// | Download, vendor configuration file | `Device.DeviceInfo.VendorConfigFile.{i}.Restore()` |
    /// | Upload, vendor configuration file | `Device.DeviceInfo.VendorConfigFile.{i}.Backup()` |
    /// | Upload, vendor log file, or any other type | `Device.DeviceInfo.VendorLogFile.{i}.Upload()` |
    pub async fn transfer(
        &self,
        principal: &Principal,
        transfer: FileTransfer,
    ) -> Result<TransferId, EngineError> {
        self.require_started()?;
        self.may_execute(principal, &transfer_command(&transfer))?;
        self.start_transfer(transfer, None).await
    }

    /// Reboots the device (CWMP Reboot, USP `Device.Reboot()`): records the cause and the
    /// command key for the next boot's [`Notice::Booted`](super::Notice::Booted), saves
    /// everything, then asks the hardware. The principal needs `execute` on `Device.Reboot()`.
    pub async fn reboot(
        &self,
        principal: &Principal,
        command_key: &str,
    ) -> Result<(), EngineError> {
        self.require_started()?;
        self.may_execute(principal, "Device.Reboot()")?;
        self.before_boot(BootCause::RemoteReboot, command_key)
            .await?;
        if let Err(error) = self.hal.lifecycle.reboot().await {
            self.cancel_boot_intent().await;
            return Err(error.into());
        }
        Ok(())
    }

    /// Resets the device to factory defaults (CWMP FactoryReset, USP `Device.FactoryReset()`):
    /// removes the persisted store, subscriptions and retained bulk data reports, records the
    /// cause, then asks the hardware. The next [`start`](Engine::start) builds the factory
    /// store and reports a bootstrap. The principal needs `execute` on `Device.FactoryReset()`.
    pub async fn factory_reset(&self, principal: &Principal) -> Result<(), EngineError> {
        self.require_started()?;
        self.may_execute(principal, "Device.FactoryReset()")?;
        self.before_boot(BootCause::RemoteFactoryReset, "").await?;
        {
            let _gate = self.gate.enter().await;
            self.hal.storage.remove(Section::Store).await?;
            self.hal.storage.remove(Section::Subscriptions).await?;
            self.hal.storage.remove(Section::BulkData).await?;
        }
        if let Err(error) = self.hal.lifecycle.factory_reset().await {
            self.cancel_boot_intent().await;
            let _gate = self.gate.enter().await;
            let _ = self.save_store().await;
            return Err(error.into());
        }
        Ok(())
    }

    async fn before_boot(&self, cause: BootCause, command_key: &str) -> Result<(), EngineError> {
        let _gate = self.gate.enter().await;
        self.state().boot = Some(BootIntent {
            cause,
            command_key: command_key.into(),
        });
        self.save_store().await?;
        self.save_events().await?;
        self.save_transfers().await
    }

    async fn cancel_boot_intent(&self) {
        let _gate = self.gate.enter().await;
        self.state().boot = None;
        let _ = self.save_events().await;
    }
}
