//! A diagnostic test an ACS requests (`DiagnosticsState` `Requested` in a
//! SetParameterValues, TR-106): started only after the session, its results in the object and
//! `8 DIAGNOSTICS COMPLETE` in the next Inform, the engine's notice acknowledged at that
//! Inform's response.
#![allow(clippy::unwrap_used, clippy::panic, clippy::indexing_slicing)]

mod support;

use std::time::Duration;

use cwmp_core::codec::{
    Body, GetParameterValues, ParameterValue, SetParameterValues, Status, ValueType,
};
use cwmp_core::session::SessionConfig;
use hal::engine::{EngineRequest, Notice};
use support::{Cpe, ScriptedAcs, codes};

const PING: &str = "Device.IP.Diagnostics.IPPing.";

fn ping_request() -> Body {
    let param =
        |name: &str, value: &str, kind| ParameterValue::new(format!("{PING}{name}"), value, kind);
    Body::SetParameterValues(SetParameterValues {
        parameter_list: vec![
            param("Host", "192.0.2.1", ValueType::String),
            param("NumberOfRepetitions", "4", ValueType::UnsignedInt),
            param("DiagnosticsState", "Requested", ValueType::String),
        ],
        parameter_key: "diag-1".into(),
    })
}

#[tokio::test(flavor = "current_thread")]
async fn a_requested_ping_runs_after_the_session_and_is_reported_with_event_8() {
    let mut cpe = Cpe::boot(SessionConfig::default()).await;
    let mut acs = ScriptedAcs::new();
    acs.push(ping_request());
    cpe.run(&mut acs, Duration::from_secs(5)).await;
    let messages = acs.cpe_messages();
    let Body::SetParameterValuesResponse(response) = &messages[0] else {
        panic!("{:?}", messages[0]);
    };
    assert_eq!(response.status, Status::Applied);
    assert_eq!(cpe.ends().len(), 1);
    let set = cpe
        .requests
        .iter()
        .position(|r| matches!(r, EngineRequest::Set(_)))
        .unwrap();
    let start = cpe
        .requests
        .iter()
        .position(|r| *r == EngineRequest::StartDiagnostics)
        .expect("the test is started");
    assert!(start > set);
    assert_eq!(
        cpe.requests
            .iter()
            .filter(|r| **r == EngineRequest::StartDiagnostics)
            .count(),
        1
    );
    assert_eq!(cpe.sim.pending_jobs(), 1, "the ping runs");

    // The ping ends: a session with 8 DIAGNOSTICS COMPLETE, in which the ACS reads the results.
    acs.push(Body::GetParameterValues(GetParameterValues {
        parameter_names: vec![PING.into()],
    }));
    assert_eq!(cpe.sim.run_jobs(), 1);
    cpe.sync().await;
    cpe.run(&mut acs, Duration::from_secs(5)).await;
    let informs = acs.informs();
    assert_eq!(informs.len(), 2);
    assert_eq!(codes(&informs[1].1), ["8 DIAGNOSTICS COMPLETE"]);
    let messages = acs.cpe_messages();
    let Some(Body::GetParameterValuesResponse(results)) = messages.last() else {
        panic!("{messages:?}");
    };
    let value = |name: &str| {
        let path = format!("{PING}{name}");
        results
            .parameter_list
            .iter()
            .find(|p| p.name == path)
            .map(|p| p.value.clone())
    };
    assert_eq!(value("DiagnosticsState").as_deref(), Some("Complete"));
    assert_eq!(value("SuccessCount").as_deref(), Some("4"));
    assert_eq!(value("Host").as_deref(), Some("192.0.2.1"));
    assert!(
        !cpe.engine
            .pending_notices()
            .iter()
            .any(|(_, n)| matches!(n, Notice::DiagnosticsComplete(_))),
        "acknowledged at the InformResponse"
    );
    assert_eq!(
        cpe.requests
            .iter()
            .filter(|r| **r == EngineRequest::StartDiagnostics)
            .count(),
        1,
        "a session that requested nothing starts nothing"
    );
}
