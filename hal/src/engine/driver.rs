//! The data-model requests the sans-IO protocol stacks hand to their driver, and the results
//! the driver hands back.
//!
//! `cwmp-core`'s session and `usp-core`'s agent never call the [`Engine`]: each emits an
//! [`EngineRequest`] with its own request number, the driver runs it on the engine as the
//! stack's [`Principal`] ([`EngineRequest::execute`] does exactly that) and answers with the
//! [`EngineResult`] of the same variant:
//!
//! | [`EngineRequest`] | Engine call | Sent by |
//! |---|---|---|
//! | `Acknowledge(id)` | `engine.acknowledge_for(id, principal.protocol)` | both |
//! | `Add(r)` | `engine.add(&principal, &r)` | AddObject, USP Add |
//! | `Delete(r)` | `engine.delete(&principal, &r)` | DeleteObject, USP Delete |
//! | `DeviceUpdate(u)` | `engine.device_update(\|txn\| u.apply(txn))` | the USP agent's own rows |
//! | `FactoryReset` | `engine.factory_reset(&principal)` | FactoryReset, after the session |
//! | `Get(r)` | `engine.get(&principal, &r)` | GetParameterValues and attributes, Inform, USP Get |
//! | `GetInstances(r)` | `engine.get_instances(&principal, &r)` | USP GetInstances |
//! | `GetNames(r)` | `engine.get_names(&principal, &r)` | GetParameterNames |
//! | `Operate(r)` | `engine.operate(&principal, &r)` | ChangeDUState, USP Operate |
//! | `Reboot { command_key }` | `engine.reboot(&principal, &command_key)` | Reboot, after the session |
//! | `Set(r)` | `engine.set(&principal, &r)` | SetParameterValues, USP Set |
//! | `StartDiagnostics` | `engine.start_diagnostics()` | after a session whose SetParameterValues requested a test |
//! | `Supported(r)` | `engine.get_supported(&principal, &r)` | USP GetSupportedDM |
//! | `Transfer(t)` | `engine.transfer(&principal, t)` | Download, Upload, ScheduleDownload |

use std::boxed::Box;
use std::string::String;
use std::vec::Vec;

use tr181_model::store::{NameInfo, Transaction};

use super::{
    AddRequest, AddResponse, DeleteRequest, DeleteResponse, Engine, Failure, GetInstancesRequest,
    GetInstancesResponse, GetNamesRequest, GetRequest, GetResponse, NoticeId, OperateRequest,
    OperateResponse, Principal, SetRequest, SetResponse, SupportedRequest, SupportedResponse,
};
use crate::error::EngineError;
use crate::transfer::{FileTransfer, TransferId};

/// Changes a protocol stack makes to its own rows as the device (not as a controller or
/// ACS): for USP, the `Recipient` of a new `Device.LocalAgent.Subscription.{i}.`, the removal
/// of a subscription whose `TimeToLive` ran out or that is not `Persistent` after a boot, the
/// rows of a controller trusted on first use (read-only tables a controller cannot add to).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct DeviceUpdate {
    /// Parameters to set: full path and wire text.
    pub sets: Vec<(String, String)>,
    /// Rows to delete (instance paths with trailing dot). A row already gone is skipped.
    pub deletes: Vec<String>,
    /// Rows to add: the table path (`Device.LocalAgent.Certificate.`) and the new row's
    /// parameters (name, wire text).
    pub adds: Vec<(String, Vec<(String, String)>)>,
}

impl DeviceUpdate {
    /// An update that sets parameters (full path, wire text).
    pub fn setting(sets: Vec<(String, String)>) -> Self {
        Self {
            sets,
            ..Self::default()
        }
    }

    /// An update that deletes rows.
    pub fn deleting(rows: Vec<String>) -> Self {
        Self {
            deletes: rows,
            ..Self::default()
        }
    }

    /// An update that adds rows (table path, parameters).
    pub fn adding(rows: Vec<(String, Vec<(String, String)>)>) -> Self {
        Self {
            adds: rows,
            ..Self::default()
        }
    }

    /// Applies the update in a store transaction (the driver passes the one
    /// [`Engine::device_update`] opens). Deletions come first, then additions, then sets; a
    /// row that no longer exists is not an error, and neither is a set on a row deleted
    /// meanwhile.
    ///
    /// # Errors
    ///
    /// The model's error for a value it refuses.
    pub fn apply(&self, txn: &mut Transaction<'_>) -> Result<(), tr181_model::Error> {
        for row in &self.deletes {
            match txn.delete(row) {
                Ok(()) | Err(tr181_model::Error::NoSuchInstance { .. }) => {}
                Err(error) => return Err(error),
            }
        }
        for (table, params) in &self.adds {
            let params: Vec<(&str, &str)> = params
                .iter()
                .map(|(name, value)| (name.as_str(), value.as_str()))
                .collect();
            txn.add(table, &params)?;
        }
        for (path, value) in &self.sets {
            match txn.set(path, value) {
                Ok(()) | Err(tr181_model::Error::NoSuchInstance { .. }) => {}
                Err(error) => return Err(error),
            }
        }
        Ok(())
    }
}

/// A data-model request for the driver to run on the [`Engine`]; see the
/// [module docs](self).
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum EngineRequest {
    /// [`Engine::acknowledge_for`]: the peer has received what the notice reported.
    Acknowledge(NoticeId),
    /// [`Engine::add`].
    Add(AddRequest),
    /// [`Engine::delete`].
    Delete(DeleteRequest),
    /// [`Engine::device_update`] with [`DeviceUpdate::apply`].
    DeviceUpdate(DeviceUpdate),
    /// [`Engine::factory_reset`].
    FactoryReset,
    /// [`Engine::get`].
    Get(GetRequest),
    /// [`Engine::get_instances`].
    GetInstances(GetInstancesRequest),
    /// [`Engine::get_names`].
    GetNames(GetNamesRequest),
    /// [`Engine::operate`].
    Operate(OperateRequest),
    /// [`Engine::reboot`].
    Reboot {
        /// The command key the next boot reports (CWMP `M Reboot`).
        command_key: String,
    },
    /// [`Engine::set`].
    Set(SetRequest),
    /// [`Engine::start_diagnostics`].
    StartDiagnostics,
    /// [`Engine::get_supported`].
    Supported(SupportedRequest),
    /// [`Engine::transfer`].
    Transfer(Box<FileTransfer>),
}

/// What the engine answered to an [`EngineRequest`], in the request's variant.
#[derive(Clone, Debug, PartialEq)]
#[non_exhaustive]
pub enum EngineResult {
    /// For [`EngineRequest::Acknowledge`]: whether the notice was pending.
    Acknowledge(Result<bool, EngineError>),
    /// For [`EngineRequest::Add`].
    Add(Result<AddResponse, Failure>),
    /// For [`EngineRequest::Delete`].
    Delete(Result<DeleteResponse, Failure>),
    /// For [`EngineRequest::DeviceUpdate`].
    DeviceUpdate(Result<(), EngineError>),
    /// For [`EngineRequest::FactoryReset`].
    FactoryReset(Result<(), EngineError>),
    /// For [`EngineRequest::Get`].
    Get(Result<GetResponse, EngineError>),
    /// For [`EngineRequest::GetInstances`].
    GetInstances(Result<GetInstancesResponse, EngineError>),
    /// For [`EngineRequest::GetNames`].
    GetNames(Result<Vec<NameInfo>, EngineError>),
    /// For [`EngineRequest::Operate`].
    Operate(Result<OperateResponse, EngineError>),
    /// For [`EngineRequest::Reboot`].
    Reboot(Result<(), EngineError>),
    /// For [`EngineRequest::Set`].
    Set(Result<SetResponse, Failure>),
    /// For [`EngineRequest::StartDiagnostics`]: how many tests started.
    StartDiagnostics(Result<usize, EngineError>),
    /// For [`EngineRequest::Supported`].
    Supported(Result<SupportedResponse, EngineError>),
    /// For [`EngineRequest::Transfer`].
    Transfer(Result<TransferId, EngineError>),
}

impl EngineRequest {
    /// Runs the request on `engine` as `principal`: the whole driver side of a protocol
    /// stack's engine request, as the [module docs](self) table says.
    pub async fn execute(&self, engine: &Engine, principal: &Principal) -> EngineResult {
        match self {
            Self::Acknowledge(id) => {
                EngineResult::Acknowledge(engine.acknowledge_for(*id, principal.protocol).await)
            }
            Self::Add(r) => EngineResult::Add(engine.add(principal, r).await),
            Self::Delete(r) => EngineResult::Delete(engine.delete(principal, r).await),
            Self::DeviceUpdate(u) => {
                EngineResult::DeviceUpdate(engine.device_update(|txn| u.apply(txn)).await)
            }
            Self::FactoryReset => EngineResult::FactoryReset(engine.factory_reset(principal).await),
            Self::Get(r) => EngineResult::Get(engine.get(principal, r).await),
            Self::GetInstances(r) => {
                EngineResult::GetInstances(engine.get_instances(principal, r).await)
            }
            Self::GetNames(r) => EngineResult::GetNames(engine.get_names(principal, r).await),
            Self::Operate(r) => EngineResult::Operate(engine.operate(principal, r).await),
            Self::Reboot { command_key } => {
                EngineResult::Reboot(engine.reboot(principal, command_key).await)
            }
            Self::Set(r) => EngineResult::Set(engine.set(principal, r).await),
            Self::StartDiagnostics => {
                EngineResult::StartDiagnostics(engine.start_diagnostics().await)
            }
            Self::Supported(r) => EngineResult::Supported(engine.get_supported(principal, r)),
            Self::Transfer(t) => {
                EngineResult::Transfer(engine.transfer(principal, (**t).clone()).await)
            }
        }
    }
}
