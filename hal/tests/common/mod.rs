//! Helpers shared by the integration tests: principals, booting an engine on a simulated
//! device, one-object requests, injected refusals and pending notices.
#![allow(
    dead_code, // Each test file uses its own subset.
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use std::sync::Arc;

use hal::engine::{
    AccessControl, AddRequest, BootInfo, Notice, ObjectCreation, ObjectSettings, OperateOutcome,
    OperateRequest, ParamSetting, SetRequest,
};
use hal::sim::{Fault, HalCall, SimDevice};
use hal::{Engine, EngineConfig, HalError, Principal};
use tr181_model::value::Value;

/// The USP controller the tests act as.
pub(crate) fn usp() -> Principal {
    Principal::controller("self::controller", Vec::new())
}

/// The CWMP ACS the tests act as.
pub(crate) fn acs() -> Principal {
    Principal::acs("https://acs.example.net/cwmp")
}

/// Starts an engine on `sim` with the policy `access` and attaches the device to it.
pub(crate) async fn start(
    sim: &Arc<SimDevice>,
    access: Arc<dyn AccessControl>,
) -> (Engine, BootInfo) {
    let engine = Engine::new(sim.hal(), access, EngineConfig::default());
    let info = engine.start().await.unwrap();
    sim.attach(engine.sink());
    (engine, info)
}

/// A value's canonical text.
pub(crate) fn text(value: &Value) -> String {
    value.canonical_text()
}

/// The stored value at `path`, as text.
pub(crate) fn stored(engine: &Engine, path: &str) -> String {
    engine.read(|s| s.value(path).map(Value::canonical_text).unwrap())
}

/// An all-or-nothing Set of one object.
pub(crate) fn set_one(object: &str, params: Vec<ParamSetting>) -> SetRequest {
    SetRequest::new(vec![ObjectSettings::new(object, params)])
}

/// An all-or-nothing Add of one row.
pub(crate) fn add_one(table: &str, params: Vec<ParamSetting>) -> AddRequest {
    AddRequest::new(vec![ObjectCreation::new(table, params)])
}

/// The device refuses the next `call` (a row it will not add or delete).
pub(crate) fn refuse_next(call: HalCall, path: &str, reason: &str) -> Fault {
    Fault::fail(
        call,
        1,
        HalError::Refused {
            path: path.into(),
            reason: reason.into(),
        },
    )
}

/// Runs a single-path Operate and returns its one outcome.
pub(crate) async fn operate_one(
    engine: &Engine,
    principal: &Principal,
    request: OperateRequest,
) -> OperateOutcome {
    let mut response = engine.operate(principal, &request).await.unwrap();
    assert_eq!(response.results.len(), 1, "{response:?}");
    response.results.remove(0).outcome
}

/// Runs the device's queued jobs and hands what they reported to the engine.
pub(crate) async fn run_jobs(sim: &SimDevice, engine: &Engine) {
    sim.run_jobs();
    engine.handle_device_inputs().await.unwrap();
}

/// The first pending notice `pick` selects, as it maps it.
pub(crate) fn pending<T>(engine: &Engine, pick: impl FnMut(Notice) -> Option<T>) -> T {
    engine
        .pending_notices()
        .into_iter()
        .map(|(_, notice)| notice)
        .find_map(pick)
        .expect("no such pending notice")
}

/// Every notice not polled yet, in order.
pub(crate) fn poll_all(engine: &Engine) -> Vec<Notice> {
    std::iter::from_fn(|| engine.poll_notice())
        .map(|(_, notice)| notice)
        .collect()
}
