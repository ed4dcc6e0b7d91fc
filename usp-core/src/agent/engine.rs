//! The data-model requests the agent hands to its driver, and the results the driver hands
//! back.
//!
//! The agent never calls [`hal::Engine`]: it emits [`Output::EngineRequest`](super::Output) with
//! an [`EngineRequest`], the driver runs it on the engine ([`EngineRequest::execute`] does
//! exactly that) and answers with [`Agent::respond`](super::Agent::respond) and the matching
//! [`EngineResult`]:
//!
//! | [`EngineRequest`] | Driver call | [`EngineResult`] |
//! |---|---|---|
//! | `Acknowledge(id)` | `engine.acknowledge_for(id, Protocol::Usp)` | `Acknowledged` |
//! | `Add(r)` | `engine.add(&principal, &r)` | `Added` |
//! | `Delete(r)` | `engine.delete(&principal, &r)` | `Deleted` |
//! | `DeviceUpdate(u)` | `engine.device_update(\|txn\| u.apply(txn))` | `DeviceUpdated` |
//! | `Get(r)` | `engine.get(&principal, &r)` | `Got` |
//! | `GetInstances(r)` | `engine.get_instances(&principal, &r)` | `GotInstances` |
//! | `Operate(r)` | `engine.operate(&principal, &r)` | `Operated` |
//! | `Set(r)` | `engine.set(&principal, &r)` | `Set` |
//! | `Supported(r)` | `engine.get_supported(&principal, &r)` | `Supported` |

use std::string::String;
use std::vec::Vec;

use hal::engine::{
    AddRequest, AddResponse, DeleteRequest, DeleteResponse, Failure, GetInstancesRequest,
    GetInstancesResponse, GetRequest, GetResponse, NoticeId, OperateRequest, OperateResponse,
    Principal, SetRequest, SetResponse, SupportedRequest, SupportedResponse,
};
use hal::{Engine, EngineError};
use tr181_model::store::Transaction;

/// The agent's number for one [`EngineRequest`]; echo it in [`Agent::respond`].
///
/// [`Agent::respond`]: super::Agent::respond
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct RequestId(pub u64);

/// Changes the agent makes to its own rows as the device (not as a controller): the
/// `Recipient` of a new `Device.LocalAgent.Subscription.{i}.`, the removal of a subscription
/// whose `TimeToLive` ran out or that is not `Persistent` after a boot.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct DeviceUpdate {
    /// Parameters to set: full path and wire text.
    pub sets: Vec<(String, String)>,
    /// Rows to delete (instance paths with trailing dot). A row already gone is skipped.
    pub deletes: Vec<String>,
}

impl DeviceUpdate {
    /// Applies the update in a store transaction (the driver passes the one
    /// `Engine::device_update` opens). Deletions come first; a row that no longer exists is
    /// not an error, and neither is a set on a row deleted meanwhile.
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
        for (path, value) in &self.sets {
            match txn.set(path, value) {
                Ok(()) | Err(tr181_model::Error::NoSuchInstance { .. }) => {}
                Err(error) => return Err(error),
            }
        }
        Ok(())
    }
}

/// A data-model request for the driver to run on `hal::Engine`; see the [module docs](self).
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum EngineRequest {
    /// Acknowledge a notice the agent has turned into notifications.
    Acknowledge(NoticeId),
    /// USP Add.
    Add(AddRequest),
    /// USP Delete.
    Delete(DeleteRequest),
    /// The agent's own writes, as the device.
    DeviceUpdate(DeviceUpdate),
    /// USP Get.
    Get(GetRequest),
    /// USP GetInstances.
    GetInstances(GetInstancesRequest),
    /// USP Operate.
    Operate(OperateRequest),
    /// USP Set.
    Set(SetRequest),
    /// USP GetSupportedDM.
    Supported(SupportedRequest),
}

/// What the engine answered to an [`EngineRequest`]; the variant must match the request's.
#[derive(Clone, Debug, PartialEq)]
#[non_exhaustive]
pub enum EngineResult {
    /// For [`EngineRequest::Acknowledge`].
    Acknowledged(Result<bool, EngineError>),
    /// For [`EngineRequest::Add`].
    Added(Result<AddResponse, Failure>),
    /// For [`EngineRequest::Delete`].
    Deleted(Result<DeleteResponse, Failure>),
    /// For [`EngineRequest::DeviceUpdate`].
    DeviceUpdated(Result<(), EngineError>),
    /// For [`EngineRequest::Get`].
    Got(Result<GetResponse, EngineError>),
    /// For [`EngineRequest::GetInstances`].
    GotInstances(Result<GetInstancesResponse, EngineError>),
    /// For [`EngineRequest::Operate`].
    Operated(Result<OperateResponse, EngineError>),
    /// For [`EngineRequest::Set`].
    Set(Result<SetResponse, Failure>),
    /// For [`EngineRequest::Supported`].
    Supported(Result<SupportedResponse, EngineError>),
}

impl EngineRequest {
    /// Runs the request on `engine` as `principal`: the whole driver side of an
    /// [`Output::EngineRequest`](super::Output::EngineRequest), as the table above says.
    pub async fn execute(&self, engine: &Engine, principal: &Principal) -> EngineResult {
        match self {
            Self::Acknowledge(id) => {
                EngineResult::Acknowledged(engine.acknowledge_for(*id, principal.protocol).await)
            }
            Self::Add(r) => EngineResult::Added(engine.add(principal, r).await),
            Self::Delete(r) => EngineResult::Deleted(engine.delete(principal, r).await),
            Self::DeviceUpdate(u) => {
                EngineResult::DeviceUpdated(engine.device_update(|txn| u.apply(txn)).await)
            }
            Self::Get(r) => EngineResult::Got(engine.get(principal, r).await),
            Self::GetInstances(r) => {
                EngineResult::GotInstances(engine.get_instances(principal, r).await)
            }
            Self::Operate(r) => EngineResult::Operated(engine.operate(principal, r).await),
            Self::Set(r) => EngineResult::Set(engine.set(principal, r).await),
            Self::Supported(r) => EngineResult::Supported(engine.get_supported(principal, r)),
        }
    }
}
