//! The data-model requests the agent hands to its driver, and the results the driver hands
//! back.
//!
//! The agent never calls [`hal::Engine`]: it emits [`Output::EngineRequest`](super::Output) with
//! a [`RequestId`] and one of `hal`'s protocol-neutral [`EngineRequest`]s (shared with the CWMP
//! session; its docs give the engine call per variant), the driver runs it
//! ([`EngineRequest::execute`] does exactly that) and answers with
//! [`Agent::respond`](super::Agent::respond) and the matching [`EngineResult`]. The agent sends
//! `Acknowledge`, `Add`, `Delete`, `DeviceUpdate` (its own subscription rows, as the device),
//! `Get`, `GetInstances`, `Operate`, `Set` and `Supported`.

pub use hal::engine::{DeviceUpdate, EngineRequest, EngineResult};

/// The agent's number for one [`EngineRequest`]; echo it in [`Agent::respond`].
///
/// [`Agent::respond`]: super::Agent::respond
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct RequestId(pub u64);
