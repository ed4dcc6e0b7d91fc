//! The data-model requests a session hands to its driver.
//!
//! The session never calls the [`Engine`](hal::Engine): it emits
//! [`Output::EngineRequest`](super::Output::EngineRequest) with a [`RequestId`] and one of
//! `hal`'s protocol-neutral [`EngineRequest`]s (shared with the USP agent), the driver runs it
//! (usually with [`EngineRequest::execute`]) and answers with
//! [`Session::respond`](super::Session::respond).

pub use hal::engine::{EngineRequest, EngineResult};

/// The number of one engine request of a session.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct RequestId(pub u64);
