//! ChangeDUState (TR-069 A.4.1.10) and the reports of deployment-unit changes:
//! DUStateChangeComplete (`11 DU STATE CHANGE COMPLETE` + `M ChangeDUState`) and
//! AutonomousDUStateChangeComplete (`12 AUTONOMOUS DU STATE CHANGE COMPLETE`).
//!
//! The CPE answers ChangeDUState at once and then works through the operations in order, one
//! at a time, on the engine:
//!
//! 1. a Get of `Device.SoftwareModules.DeploymentUnit.` finds the unit an Update or Uninstall
//!    names (by UUID, and Version or ExecutionEnvRef when given; an Update without UUID by its
//!    URL): none is fault 9028, a malformed UUID 9022;
//! 2. an Operate of `Device.SoftwareModules.InstallDU()` or the unit's `Update()` /
//!    `Uninstall()` (asynchronous commands, found in the USP variant of the model: the CWMP
//!    variant has none);
//! 3. the device's `DUStateChange!` event gives the result (UUID, references, version, state,
//!    fault) and the command's OperationComplete notice ends the operation (its failure gives
//!    the fault when no event came).
//!
//! When every operation has its result, the change is reported in the next session and kept
//! (persisted) until the ACS answers DUStateChangeCompleteResponse; only then are the engine's
//! notices acknowledged. A `DUStateChange!` while no operation of the ACS runs is a change the
//! device made on its own and is reported with AutonomousDUStateChangeComplete the same way.

use hal::engine::{GetRequest, OperateOutcome, OperateRequest};
use hal::engine::{Notice, NoticeId, OperationComplete};

use super::state::{
    DuOperation, DuOperationKind, DuResult, PendingAutonomousDuChange, PendingDuChange,
};
use super::{EngineRequest, EngineResult, Pending, Sent, Session, SessionError};
use crate::codec::DuOperation as WireOperation;
use crate::codec::{
    AutonomousDuStateChangeComplete, AutonomousOpResult, Body, ChangeDuState, DeploymentUnitFault,
    DeploymentUnitState, DuStateChangeComplete, EventCode, OpResult, UNKNOWN_TIME,
};

/// The deployment-unit table.
const DU_TABLE: &str = "Device.SoftwareModules.DeploymentUnit.";
/// The event of a finished change.
const DU_STATE_CHANGE: &str = "Device.SoftwareModules.DUStateChange!";
/// The install command.
const INSTALL_DU: &str = "Device.SoftwareModules.InstallDU()";
/// The arguments `InstallDU()` requires that CWMP has no field for: automatic restart of the
/// execution units, off (the other values are irrelevant then, and within their ranges).
const AUTO_RESTART: [(&str, &str); 4] = [
    ("AutoRestart.Enable", "false"),
    ("AutoRestart.RetryMinimumWaitInterval", "5"),
    ("AutoRestart.RetryIntervalMultiplier", "2000"),
    ("AutoRestart.RetryMaximumWaitInterval", "3600"),
];
/// Most operations in one ChangeDUState (beyond: fault 9004).
pub(super) const MAX_OPERATIONS: usize = 16;
/// Most autonomous changes kept for the ACS (the oldest is dropped beyond).
pub(super) const MAX_AUTONOMOUS: usize = 64;

/// What an outstanding engine request of a ChangeDUState is for.
#[derive(Debug)]
pub(super) enum DuStep {
    /// The unit lookup before operation `op` of change `change`.
    Lookup { change: u64, op: usize },
    /// The command of operation `op` of change `change`, at `path`.
    Operate {
        change: u64,
        op: usize,
        path: String,
    },
}

/// One row of the deployment-unit table.
#[derive(Debug, Default)]
struct UnitRow {
    row: String,
    uuid: String,
    version: String,
    url: String,
    execution_env_ref: String,
}

impl Session {
    /// Accepts a ChangeDUState: queues its operations and answers.
    pub(super) fn change_du_state(&mut self, request: ChangeDuState) -> Body {
        if request.operations.len() > MAX_OPERATIONS
            || self.state.du_changes.len() >= self.config.limits.max_transfers
        {
            return super::fault_body(9004, Some("too many deployment-unit operations"));
        }
        self.state.last_du_change = self.state.last_du_change.saturating_add(1);
        let operations = request.operations.into_iter().map(operation).collect();
        self.state.du_changes.push(PendingDuChange {
            id: self.state.last_du_change,
            command_key: request.command_key.unwrap_or_default(),
            operations,
            notices: Vec::new(),
        });
        self.dirty = true;
        self.advance_du();
        Body::ChangeDuStateResponse
    }

    /// Starts the next operation unless one is in progress.
    pub(super) fn advance_du(&mut self) {
        if self
            .pending
            .iter()
            .any(|(_, p)| matches!(p, Pending::Du(_)))
        {
            return;
        }
        for change in &self.state.du_changes {
            for (index, op) in change.operations.iter().enumerate() {
                if op.result.is_some() {
                    continue;
                }
                if op.running.is_some() {
                    return;
                }
                let step = DuStep::Lookup {
                    change: change.id,
                    op: index,
                };
                self.engine_request(
                    EngineRequest::Get(GetRequest::new(vec![DU_TABLE.to_owned()])),
                    Pending::Du(step),
                );
                return;
            }
        }
    }

    /// The engine answered a step.
    pub(super) fn on_du_step(
        &mut self,
        step: DuStep,
        result: EngineResult,
    ) -> Result<(), SessionError> {
        let outcome = match (step, result) {
            (DuStep::Lookup { change, op }, EngineResult::Get(result)) => {
                match result {
                    Ok(response) => self.start_operation(change, op, &rows(&response)),
                    Err(error) => self.finish_op(
                        change,
                        op,
                        failed(u32::from(error.cwmp_fault()), &error.to_string()),
                    ),
                }
                Ok(())
            }
            (DuStep::Operate { change, op, path }, EngineResult::Operate(result)) => {
                let outcome = result.map(|r| r.results.into_iter().next().map(|r| r.outcome));
                match outcome {
                    Ok(Some(OperateOutcome::Started { .. })) => {
                        if let Some(operation) = self.op_mut(change, op) {
                            operation.running = Some(path);
                            operation.password.clear();
                        }
                        self.dirty = true;
                    }
                    Ok(Some(OperateOutcome::Done(_))) => {
                        let result = self.op_mut(change, op).map(|o| success(o));
                        if let Some(result) = result {
                            self.finish_op(change, op, result);
                        }
                    }
                    Ok(Some(OperateOutcome::Failed(error))) | Err(error) => self.finish_op(
                        change,
                        op,
                        failed(u32::from(error.cwmp_fault()), &error.to_string()),
                    ),
                    Ok(None) => self.finish_op(change, op, failed(9028, "no such deployment unit")),
                    Ok(Some(_)) => self.finish_op(change, op, failed(9002, "unexpected outcome")),
                }
                Ok(())
            }
            (DuStep::Lookup { change, op } | DuStep::Operate { change, op, .. }, _) => {
                self.finish_op(change, op, failed(9002, "internal error"));
                Err(SessionError::MismatchedResult)
            }
        };
        self.advance_du();
        outcome
    }

    /// Resolves the unit of an operation and runs its command, or records why not.
    fn start_operation(&mut self, change: u64, index: usize, units: &[UnitRow]) {
        let Some(op) = self.op_mut(change, index).map(|o| o.clone()) else {
            return;
        };
        let command_key = self
            .state
            .du_changes
            .iter()
            .find(|c| c.id == change)
            .map(|c| c.command_key.clone())
            .unwrap_or_default();
        if !op.uuid.is_empty() && !valid_uuid(&op.uuid) {
            return self.finish_op(change, index, failed(9022, "invalid UUID format"));
        }
        let request = match op.kind {
            DuOperationKind::Install => {
                let mut request =
                    OperateRequest::new(INSTALL_DU, command_key).with_arg("URL", op.url.as_str());
                for (name, value) in AUTO_RESTART {
                    request = request.with_arg(name, value);
                }
                for (name, value) in [
                    ("UUID", &op.uuid),
                    ("Username", &op.username),
                    ("Password", &op.password),
                    ("ExecutionEnvRef", &op.execution_env_ref),
                ] {
                    if !value.is_empty() {
                        request = request.with_arg(name, value.as_str());
                    }
                }
                request
            }
            DuOperationKind::Update | DuOperationKind::Uninstall => {
                let target = units.iter().find(|u| {
                    let by_id = if op.uuid.is_empty() {
                        op.kind == DuOperationKind::Update && !op.url.is_empty() && u.url == op.url
                    } else {
                        u.uuid == op.uuid
                    };
                    by_id
                        && (op.kind == DuOperationKind::Update
                            || op.version.is_empty()
                            || u.version == op.version)
                        && (op.execution_env_ref.is_empty()
                            || u.execution_env_ref == op.execution_env_ref)
                });
                let Some(target) = target else {
                    return self.finish_op(change, index, failed(9028, "unknown deployment unit"));
                };
                if op.kind == DuOperationKind::Uninstall {
                    OperateRequest::new(format!("{}Uninstall()", target.row), command_key)
                } else {
                    let mut request =
                        OperateRequest::new(format!("{}Update()", target.row), command_key);
                    for (name, value) in [
                        ("URL", &op.url),
                        ("Username", &op.username),
                        ("Password", &op.password),
                    ] {
                        if !value.is_empty() {
                            request = request.with_arg(name, value.as_str());
                        }
                    }
                    request
                }
            }
        };
        let path = request.command.clone();
        self.engine_request(
            EngineRequest::Operate(request),
            Pending::Du(DuStep::Operate {
                change,
                op: index,
                path,
            }),
        );
    }

    fn op_mut(&mut self, change: u64, index: usize) -> Option<&mut DuOperation> {
        self.state
            .du_changes
            .iter_mut()
            .find(|c| c.id == change)?
            .operations
            .get_mut(index)
    }

    fn finish_op(&mut self, change: u64, index: usize, result: DuResult) {
        if let Some(op) = self.op_mut(change, index) {
            op.running = None;
            op.password.clear();
            op.result = Some(result);
        }
        self.dirty = true;
    }

    /// A `DUStateChange!` or OperationComplete notice; returns whether it was one of ours.
    pub(super) fn on_du_notice(&mut self, id: NoticeId, notice: &Notice) -> bool {
        let known = self
            .state
            .du_changes
            .iter()
            .any(|c| c.notices.contains(&id.0))
            || self
                .state
                .autonomous_du_changes
                .iter()
                .any(|a| a.notice == id.0);
        match notice {
            Notice::Event { path, args } if path == DU_STATE_CHANGE => {
                if known {
                    return true;
                }
                // The running operation's, unless it names another unit than the one the
                // operation is about (then the device changed that one on its own).
                let uuid = args
                    .iter()
                    .find(|(n, _)| n == "UUID")
                    .map_or("", |(_, v)| v.as_str());
                let running = self.state.du_changes.iter_mut().find_map(|c| {
                    let op = c.operations.iter_mut().find(|o| o.running.is_some())?;
                    let other_unit = !op.uuid.is_empty() && !uuid.is_empty() && op.uuid != uuid;
                    (!other_unit).then_some((&mut c.notices, op))
                });
                match running {
                    Some((notices, op)) => {
                        op.event = Some(args.clone());
                        notices.push(id.0);
                    }
                    None => {
                        if self.state.autonomous_du_changes.len() >= MAX_AUTONOMOUS {
                            self.state.autonomous_du_changes.remove(0);
                        }
                        self.state
                            .autonomous_du_changes
                            .push(PendingAutonomousDuChange {
                                notice: id.0,
                                result: from_event(args, ""),
                            });
                    }
                }
                self.dirty = true;
                true
            }
            Notice::OperationComplete(complete) => {
                if known {
                    return true;
                }
                self.on_operation_complete(id, complete)
            }
            _ => false,
        }
    }

    fn on_operation_complete(&mut self, id: NoticeId, complete: &OperationComplete) -> bool {
        let found = self.state.du_changes.iter_mut().find_map(|c| {
            if c.command_key != complete.command_key {
                return None;
            }
            let index = c
                .operations
                .iter()
                .position(|o| o.running.as_deref() == Some(complete.command.as_str()))?;
            c.notices.push(id.0);
            Some((c.id, index))
        });
        let Some((change, index)) = found else {
            return false;
        };
        let result = self
            .op_mut(change, index)
            .map(|op| match (&op.event, &complete.result) {
                (Some(args), _) => from_event(args, operation_name(op.kind)),
                (None, Ok(_)) => success(op),
                (None, Err(failure)) => failed(u32::from(failure.cwmp_fault), &failure.message),
            });
        if let Some(result) = result {
            self.finish_op(change, index, result);
        }
        self.advance_du();
        true
    }

    /// The device booted: a command that was running then never completes (the engine
    /// forgets calls across a restart), so its operation ends here, failed unless the device
    /// reported its outcome already.
    pub(super) fn on_boot_du(&mut self) {
        let mut interrupted = Vec::new();
        for change in &self.state.du_changes {
            for (index, op) in change.operations.iter().enumerate() {
                if op.running.is_some() {
                    let result = match &op.event {
                        Some(args) => from_event(args, operation_name(op.kind)),
                        None => failed(9001, "interrupted by a reboot"),
                    };
                    interrupted.push((change.id, index, result));
                }
            }
        }
        for (change, index, result) in interrupted {
            self.finish_op(change, index, result);
        }
        self.advance_du();
    }

    /// Whether a DU report waits for the ACS.
    pub(super) fn has_du_reports(&self) -> bool {
        self.state
            .du_changes
            .iter()
            .any(PendingDuChange::is_complete)
            || !self.state.autonomous_du_changes.is_empty()
    }

    /// The Inform events of the DU reports waiting: `11` with `M ChangeDUState` per change,
    /// `12` for autonomous ones.
    pub(super) fn du_events(&self) -> Vec<(EventCode, String)> {
        let mut events = Vec::new();
        for change in self.state.du_changes.iter().filter(|c| c.is_complete()) {
            events.push((EventCode::DuStateChangeComplete, String::new()));
            events.push((EventCode::MChangeDuState, change.command_key.clone()));
        }
        if !self.state.autonomous_du_changes.is_empty() {
            events.push((EventCode::AutonomousDuStateChangeComplete, String::new()));
        }
        events
    }

    /// The next DU report to send, unless the ACS refused it in this session.
    pub(super) fn next_du_report(&self, refused: &[Sent]) -> Option<(Body, Sent)> {
        for change in self.state.du_changes.iter().filter(|c| c.is_complete()) {
            let sent = Sent::DuStateChangeComplete(change.id);
            if refused.contains(&sent) {
                continue;
            }
            let results = change
                .operations
                .iter()
                .filter_map(|o| o.result.as_ref())
                .map(op_result)
                .collect();
            let body = Body::DuStateChangeComplete(DuStateChangeComplete {
                results,
                command_key: Some(change.command_key.clone()),
            });
            return Some((body, sent));
        }
        let sent = Sent::AutonomousDuStateChangeComplete(
            self.state
                .autonomous_du_changes
                .iter()
                .map(|a| a.notice)
                .collect(),
        );
        if self.state.autonomous_du_changes.is_empty() || refused.contains(&sent) {
            return None;
        }
        let results = self
            .state
            .autonomous_du_changes
            .iter()
            .map(|a| AutonomousOpResult::new(op_result(&a.result), a.result.operation.clone()))
            .collect();
        Some((
            Body::AutonomousDuStateChangeComplete(AutonomousDuStateChangeComplete { results }),
            sent,
        ))
    }

    /// The ACS acknowledged a DU report: forget it and acknowledge its notices.
    pub(super) fn on_du_report_acknowledged(&mut self, sent: &Sent) {
        let notices: Vec<u64> = match sent {
            Sent::DuStateChangeComplete(id) => {
                let index = self.state.du_changes.iter().position(|c| c.id == *id);
                index
                    .map(|i| self.state.du_changes.remove(i).notices)
                    .unwrap_or_default()
            }
            Sent::AutonomousDuStateChangeComplete(notices) => {
                self.state
                    .autonomous_du_changes
                    .retain(|a| !notices.contains(&a.notice));
                notices.clone()
            }
            _ => Vec::new(),
        };
        for notice in notices {
            self.engine_request(
                EngineRequest::Acknowledge(NoticeId(notice)),
                Pending::Background,
            );
        }
        self.dirty = true;
    }
}

fn operation(op: WireOperation) -> DuOperation {
    let blank = DuOperation {
        kind: DuOperationKind::Install,
        uuid: String::new(),
        version: String::new(),
        url: String::new(),
        username: String::new(),
        password: String::new(),
        execution_env_ref: String::new(),
        running: None,
        event: None,
        result: None,
    };
    match op {
        WireOperation::Install(op) => DuOperation {
            url: op.url,
            uuid: op.uuid.unwrap_or_default(),
            username: op.username.unwrap_or_default(),
            password: op.password.unwrap_or_default(),
            execution_env_ref: op.execution_env_ref.unwrap_or_default(),
            ..blank
        },
        WireOperation::Update(op) => DuOperation {
            kind: DuOperationKind::Update,
            uuid: op.uuid.unwrap_or_default(),
            version: op.version.unwrap_or_default(),
            url: op.url.unwrap_or_default(),
            username: op.username.unwrap_or_default(),
            password: op.password.unwrap_or_default(),
            ..blank
        },
        WireOperation::Uninstall(op) => DuOperation {
            kind: DuOperationKind::Uninstall,
            uuid: op.uuid,
            version: op.version.unwrap_or_default(),
            execution_env_ref: op.execution_env_ref.unwrap_or_default(),
            ..blank
        },
    }
}

fn operation_name(kind: DuOperationKind) -> &'static str {
    match kind {
        DuOperationKind::Install => "Install",
        DuOperationKind::Update => "Update",
        DuOperationKind::Uninstall => "Uninstall",
    }
}

/// A result that says only how the operation failed.
fn failed(code: u32, text: &str) -> DuResult {
    DuResult {
        uuid: String::new(),
        deployment_unit_ref: String::new(),
        version: String::new(),
        current_state: "Failed".to_owned(),
        resolved: false,
        execution_unit_ref_list: String::new(),
        start_time: UNKNOWN_TIME.to_owned(),
        complete_time: UNKNOWN_TIME.to_owned(),
        fault_code: du_fault(code),
        fault_string: crate::error::shorten(text),
        operation: String::new(),
    }
}

/// A success known only from the request (the device reported no event).
fn success(op: &DuOperation) -> DuResult {
    DuResult {
        uuid: op.uuid.clone(),
        current_state: if op.kind == DuOperationKind::Uninstall {
            "Uninstalled"
        } else {
            "Installed"
        }
        .to_owned(),
        resolved: true,
        fault_code: 0,
        fault_string: String::new(),
        operation: operation_name(op.kind).to_owned(),
        ..failed(0, "")
    }
}

/// The result a `DUStateChange!` event describes.
fn from_event(args: &[(String, String)], operation: &str) -> DuResult {
    let arg = |name: &str| {
        args.iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.clone())
            .unwrap_or_default()
    };
    let time = |name: &str| {
        let value = arg(name);
        if value.is_empty() {
            UNKNOWN_TIME.to_owned()
        } else {
            value
        }
    };
    let code: u32 = arg("Fault.FaultCode").parse().unwrap_or(0);
    let performed = arg("OperationPerformed");
    DuResult {
        uuid: arg("UUID"),
        deployment_unit_ref: arg("DeploymentUnitRef"),
        version: arg("Version"),
        current_state: arg("CurrentState"),
        resolved: matches!(arg("Resolved").as_str(), "true" | "1"),
        execution_unit_ref_list: arg("ExecutionUnitRefList"),
        start_time: time("StartTime"),
        complete_time: time("CompleteTime"),
        fault_code: if code == 0 { 0 } else { du_fault(code) },
        fault_string: crate::error::shorten(&arg("Fault.FaultString")),
        operation: if performed.is_empty() {
            operation.to_owned()
        } else {
            performed
        },
    }
}

/// A fault code the XSD allows in a DU result (`DeploymentUnitCPEFaultCodeType`); others
/// become 9001, transfer failures 9017.
fn du_fault(code: u32) -> u32 {
    match code {
        9001 | 9003 | 9012 | 9013 | 9015..=9018 | 9022..=9032 | 9800..=9899 => code,
        9010 | 9011 | 9014 | 9019 | 9020 => 9017,
        _ => 9001,
    }
}

fn op_result(result: &DuResult) -> OpResult {
    OpResult {
        uuid: result.uuid.clone(),
        deployment_unit_ref: result.deployment_unit_ref.clone(),
        version: result.version.chars().take(32).collect(),
        current_state: DeploymentUnitState::from_wire(&result.current_state)
            .unwrap_or(DeploymentUnitState::Failed),
        resolved: result.resolved,
        execution_unit_ref_list: result.execution_unit_ref_list.clone(),
        start_time: result.start_time.clone(),
        complete_time: result.complete_time.clone(),
        fault: DeploymentUnitFault {
            fault_code: result.fault_code,
            fault_string: result.fault_string.clone(),
        },
    }
}

/// The rows of the deployment-unit table in a Get response.
fn rows(response: &hal::engine::GetResponse) -> Vec<UnitRow> {
    let mut rows: Vec<UnitRow> = Vec::new();
    for param in response.params() {
        let Some(rest) = param.path().strip_prefix(DU_TABLE) else {
            continue;
        };
        let Some((number, name)) = rest.split_once('.') else {
            continue;
        };
        let row = format!("{DU_TABLE}{number}.");
        let index = match rows.iter().position(|r| r.row == row) {
            Some(index) => index,
            None => {
                rows.push(UnitRow {
                    row,
                    ..UnitRow::default()
                });
                rows.len().saturating_sub(1)
            }
        };
        let Some(entry) = rows.get_mut(index) else {
            continue;
        };
        let value = param.value().canonical_text();
        match name {
            "UUID" => entry.uuid = value,
            "Version" => entry.version = value,
            "URL" => entry.url = value,
            "ExecutionEnvRef" => entry.execution_env_ref = value,
            _ => {}
        }
    }
    rows
}

/// The UUID text form (RFC 4122 §3: 8-4-4-4-12 hex digits).
fn valid_uuid(text: &str) -> bool {
    let groups: Vec<&str> = text.split('-').collect();
    groups.len() == 5
        && groups
            .iter()
            .zip([8, 4, 4, 4, 12])
            .all(|(g, n)| g.len() == n && g.bytes().all(|b| b.is_ascii_hexdigit()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn uuid_format_and_fault_codes() {
        assert!(valid_uuid("3fa85f64-5717-4562-b3fc-2c963f66afa6"));
        assert!(!valid_uuid("3fa85f64-5717-4562-b3fc-2c963f66afa"));
        assert!(!valid_uuid("3fa85f64x5717-4562-b3fc-2c963f66afa6"));
        assert!(!valid_uuid("not-a-uuid"));
        assert_eq!(du_fault(9026), 9026);
        assert_eq!(du_fault(9010), 9017);
        assert_eq!(du_fault(9002), 9001);
        assert_eq!(du_fault(9000), 9001);
    }
}
