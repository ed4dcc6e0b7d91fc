//! The data-model requests a session hands to its driver, and their results.
//!
//! The session never calls the [`Engine`]: it emits
//! [`Output::EngineRequest`](super::Output::EngineRequest) with a [`RequestId`], the driver
//! runs it (usually with [`EngineRequest::execute`]) and answers with
//! [`Session::respond`](super::Session::respond).

use hal::engine::{
    AddRequest, AddResponse, DeleteRequest, DeleteResponse, Failure, GetNamesRequest, GetRequest,
    GetResponse, NoticeId, OperateRequest, OperateResponse, SetRequest, SetResponse,
};
use hal::transfer::{FileTransfer, TransferId};
use hal::{Engine, EngineError, Principal};
use tr181_model::store::NameInfo;

/// The number of one engine request of a session.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct RequestId(pub u64);

/// A request for the [`Engine`].
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum EngineRequest {
    /// [`Engine::acknowledge`]: the ACS has received what the notice reported.
    Acknowledge(NoticeId),
    /// [`Engine::add`] (AddObject).
    Add(AddRequest),
    /// [`Engine::delete`] (DeleteObject).
    Delete(DeleteRequest),
    /// [`Engine::factory_reset`], emitted after the session that asked for it ended.
    FactoryReset,
    /// [`Engine::get`] (GetParameterValues, attributes, the Inform's parameters).
    Get(GetRequest),
    /// [`Engine::get_names`] (GetParameterNames).
    GetNames(GetNamesRequest),
    /// [`Engine::operate`] (the commands of ChangeDUState).
    Operate(OperateRequest),
    /// [`Engine::reboot`], emitted after the session that asked for it ended.
    Reboot {
        /// The Reboot's command key (`M Reboot` after the boot).
        command_key: String,
    },
    /// [`Engine::set`] (SetParameterValues).
    Set(SetRequest),
    /// [`Engine::transfer`] (Download, Upload, ScheduleDownload).
    Transfer(Box<FileTransfer>),
}

/// The result of an [`EngineRequest`], in the same variant.
#[derive(Clone, Debug, PartialEq)]
#[non_exhaustive]
pub enum EngineResult {
    /// For [`EngineRequest::Acknowledge`].
    Acknowledge(Result<bool, EngineError>),
    /// For [`EngineRequest::Add`].
    Add(Result<AddResponse, Failure>),
    /// For [`EngineRequest::Delete`].
    Delete(Result<DeleteResponse, Failure>),
    /// For [`EngineRequest::FactoryReset`].
    FactoryReset(Result<(), EngineError>),
    /// For [`EngineRequest::Get`].
    Get(Result<GetResponse, EngineError>),
    /// For [`EngineRequest::GetNames`].
    GetNames(Result<Vec<NameInfo>, EngineError>),
    /// For [`EngineRequest::Operate`].
    Operate(Result<OperateResponse, EngineError>),
    /// For [`EngineRequest::Reboot`].
    Reboot(Result<(), EngineError>),
    /// For [`EngineRequest::Set`].
    Set(Result<SetResponse, Failure>),
    /// For [`EngineRequest::Transfer`].
    Transfer(Result<TransferId, EngineError>),
}

impl EngineRequest {
    /// Runs the request on `engine` as `principal`: the whole driver side of an
    /// [`Output::EngineRequest`](super::Output::EngineRequest).
    pub async fn execute(&self, engine: &Engine, principal: &Principal) -> EngineResult {
        match self {
            Self::Acknowledge(id) => {
                EngineResult::Acknowledge(engine.acknowledge_for(*id, principal.protocol).await)
            }
            Self::Add(request) => EngineResult::Add(engine.add(principal, request).await),
            Self::Delete(request) => EngineResult::Delete(engine.delete(principal, request).await),
            Self::FactoryReset => EngineResult::FactoryReset(engine.factory_reset(principal).await),
            Self::Get(request) => EngineResult::Get(engine.get(principal, request).await),
            Self::GetNames(request) => {
                EngineResult::GetNames(engine.get_names(principal, request).await)
            }
            Self::Operate(request) => {
                EngineResult::Operate(engine.operate(principal, request).await)
            }
            Self::Reboot { command_key } => {
                EngineResult::Reboot(engine.reboot(principal, command_key).await)
            }
            Self::Set(request) => EngineResult::Set(engine.set(principal, request).await),
            Self::Transfer(transfer) => {
                EngineResult::Transfer(engine.transfer(principal, (**transfer).clone()).await)
            }
        }
    }
}
