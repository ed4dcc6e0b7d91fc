//! CWMP diagnostics objects run on the HAL commands USP controllers operate: an ACS's
//! SetParameterValues with `DiagnosticsState` `Requested`, the test started after the
//! session, its outputs written back and `DiagnosticsComplete` queued; the TR-106
//! `DiagnosticsState` rules (cancel on an input change, restart, what may be written); the
//! same command still serving USP Operate.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

mod common;

use std::sync::Arc;

use common::{
    acs, operate_one, pending, poll_all, refuse_next, run_jobs, start, stored, text, usp,
};
use hal::Engine;
use hal::engine::{
    AllowAll, GetRequest, Notice, ObjectSettings, OperateOutcome, OperateRequest, ParamSetting,
    SetRequest,
};
use hal::sim::{HalCall, SimDevice};

const PING: &str = "Device.IP.Diagnostics.IPPing.";

async fn setup() -> (Arc<SimDevice>, Engine) {
    let sim = SimDevice::new("SIM0001");
    let (engine, _) = start(&sim, Arc::new(AllowAll)).await;
    while engine.poll_notice().is_some() {}
    (sim, engine)
}

/// An ACS's SetParameterValues of `params` on `object`.
fn spv(object: &str, params: &[(&str, &str)]) -> SetRequest {
    SetRequest::new(vec![ObjectSettings::new(
        object,
        params
            .iter()
            .map(|(name, value)| ParamSetting::new(*name, *value))
            .collect(),
    )])
}

/// The ping inputs an ACS sets with `Requested`.
fn ping_request(host: &str) -> SetRequest {
    spv(
        PING,
        &[
            ("Host", host),
            ("NumberOfRepetitions", "5"),
            ("Timeout", "1000"),
            ("DataBlockSize", "64"),
            ("DiagnosticsState", "Requested"),
        ],
    )
}

/// Requests a ping to `host` and starts it, as at the end of the ACS's session.
async fn start_ping(engine: &Engine, host: &str) {
    engine.set(&acs(), &ping_request(host)).await.unwrap();
    engine.start_diagnostics().await.unwrap();
}

fn state(engine: &Engine, object: &str) -> String {
    stored(engine, &format!("{object}DiagnosticsState"))
}

fn completed(notices: &[Notice]) -> Vec<String> {
    notices
        .iter()
        .filter_map(|n| match n {
            Notice::DiagnosticsComplete(object) => Some(object.clone()),
            _ => None,
        })
        .collect()
}

#[tokio::test]
async fn a_requested_ping_runs_after_the_session_and_fills_the_object() {
    let (sim, engine) = setup().await;
    let response = engine
        .set(&acs(), &ping_request("192.0.2.1"))
        .await
        .unwrap();
    assert!(response.diagnostics_requested);
    assert_eq!(state(&engine, PING), "Requested");
    assert_eq!(
        sim.pending_jobs(),
        0,
        "nothing runs while the session is open"
    );

    assert_eq!(engine.start_diagnostics().await.unwrap(), 1);
    assert_eq!(sim.pending_jobs(), 1);
    assert_eq!(state(&engine, PING), "Requested", "Requested while running");
    assert_eq!(engine.start_diagnostics().await.unwrap(), 0, "started once");

    run_jobs(&sim, &engine).await;
    assert_eq!(state(&engine, PING), "Complete");
    assert_eq!(stored(&engine, &format!("{PING}SuccessCount")), "5");
    assert_eq!(
        stored(&engine, &format!("{PING}IPAddressUsed")),
        "203.0.113.7"
    );
    assert_eq!(stored(&engine, &format!("{PING}AverageResponseTime")), "12");
    assert_eq!(completed(&poll_all(&engine)), [PING]);
    assert!(
        engine
            .pending_notices()
            .iter()
            .any(|(_, n)| matches!(n, Notice::DiagnosticsComplete(_))),
        "kept until acknowledged"
    );

    // The same command still serves USP Operate, as an OperationComplete of its own.
    let started = operate_one(
        &engine,
        &usp(),
        OperateRequest::new("Device.IP.Diagnostics.IPPing()", "usp")
            .with_arg("Host", "192.0.2.9")
            .with_arg("NumberOfRepetitions", "2")
            .with_arg("DataBlockSize", "64")
            .with_arg("ProtocolVersion", "Any")
            .with_arg("Timeout", "1000"),
    )
    .await;
    assert!(
        matches!(started, OperateOutcome::Started { .. }),
        "{started:?}"
    );
    run_jobs(&sim, &engine).await;
    let outputs = pending(&engine, |n| match n {
        Notice::OperationComplete(done) => done.result.ok(),
        _ => None,
    });
    assert!(outputs.contains(&("SuccessCount".into(), "2".into())));
    assert_eq!(
        stored(&engine, &format!("{PING}SuccessCount")),
        "5",
        "a USP run leaves the CWMP object alone"
    );
}

#[tokio::test]
async fn a_second_pair_self_test() {
    let (sim, engine) = setup().await;
    let object = "Device.SelfTestDiagnostics.";
    engine
        .set(&acs(), &spv(object, &[("DiagnosticsState", "Requested")]))
        .await
        .unwrap();
    engine.start_diagnostics().await.unwrap();
    run_jobs(&sim, &engine).await;
    assert_eq!(state(&engine, object), "Complete");
    assert_eq!(
        stored(&engine, "Device.SelfTestDiagnostics.Results"),
        "all tests passed"
    );
    assert_eq!(completed(&poll_all(&engine)), [object]);
}

#[tokio::test]
async fn writing_an_input_cancels_a_running_test_and_resets_the_state() {
    let (sim, engine) = setup().await;
    start_ping(&engine, "192.0.2.1").await;
    assert_eq!(sim.pending_jobs(), 1);

    let response = engine
        .set(&acs(), &spv(PING, &[("Host", "192.0.2.2")]))
        .await
        .unwrap();
    assert!(!response.diagnostics_requested);
    assert_eq!(sim.pending_jobs(), 0, "cancelled on the hardware");
    assert_eq!(state(&engine, PING), "None");
    run_jobs(&sim, &engine).await;
    assert!(
        completed(&poll_all(&engine)).is_empty(),
        "a cancelled test is not complete"
    );

    // Requested but not yet started: the input change drops it too.
    engine
        .set(&acs(), &ping_request("192.0.2.3"))
        .await
        .unwrap();
    engine
        .set(&acs(), &spv(PING, &[("Timeout", "2000")]))
        .await
        .unwrap();
    assert_eq!(state(&engine, PING), "None");
    assert_eq!(engine.start_diagnostics().await.unwrap(), 0);

    // Canceled: cancelled, and the state reads None.
    start_ping(&engine, "192.0.2.4").await;
    engine
        .set(&acs(), &spv(PING, &[("DiagnosticsState", "Canceled")]))
        .await
        .unwrap();
    assert_eq!(sim.pending_jobs(), 0);
    assert_eq!(state(&engine, PING), "None");

    // After completion, writing an input resets the state to None; results may stay.
    start_ping(&engine, "192.0.2.5").await;
    run_jobs(&sim, &engine).await;
    assert_eq!(state(&engine, PING), "Complete");
    engine
        .set(&acs(), &spv(PING, &[("DataBlockSize", "128")]))
        .await
        .unwrap();
    assert_eq!(state(&engine, PING), "None");
}

#[tokio::test]
async fn requested_again_restarts_the_test_with_the_new_inputs() {
    let (sim, engine) = setup().await;
    start_ping(&engine, "192.0.2.1").await;
    let mut again = ping_request("192.0.2.7");
    again.objects[0]
        .params
        .push(ParamSetting::new("NumberOfRepetitions", "9"));
    engine.set(&acs(), &again).await.unwrap();
    assert_eq!(sim.pending_jobs(), 0, "the running test ended");
    assert_eq!(engine.start_diagnostics().await.unwrap(), 1);
    run_jobs(&sim, &engine).await;
    assert_eq!(stored(&engine, &format!("{PING}SuccessCount")), "9");
    assert_eq!(completed(&poll_all(&engine)), [PING], "one completion only");
}

#[tokio::test]
async fn only_requested_and_canceled_may_be_written_and_the_set_stays_atomic() {
    let (sim, engine) = setup().await;
    for value in ["None", "Complete", "Error_Internal", "Bogus"] {
        let failure = engine
            .set(
                &acs(),
                &spv(
                    PING,
                    &[("Host", "198.51.100.1"), ("DiagnosticsState", value)],
                ),
            )
            .await
            .unwrap_err();
        assert_eq!(failure.error.cwmp_fault(), 9007, "{value}: {failure:?}");
        assert_eq!(stored(&engine, &format!("{PING}Host")), "", "{value}");
    }
    // An invalid input in the same request: nothing written, nothing requested.
    let failure = engine
        .set(
            &acs(),
            &spv(
                PING,
                &[
                    ("NumberOfRepetitions", "0"),
                    ("DiagnosticsState", "Requested"),
                ],
            ),
        )
        .await
        .unwrap_err();
    assert_eq!(failure.error.cwmp_fault(), 9007, "{failure:?}");
    assert_eq!(state(&engine, PING), "None");
    assert_eq!(engine.start_diagnostics().await.unwrap(), 0);
    assert_eq!(sim.pending_jobs(), 0);
}

#[tokio::test]
async fn a_restart_ends_a_requested_test() {
    let (sim, engine) = setup().await;
    start_ping(&engine, "192.0.2.1").await;
    drop(engine);
    let (engine, _) = start(&sim, Arc::new(AllowAll)).await;
    assert_eq!(state(&engine, PING), "None");
    assert_eq!(stored(&engine, &format!("{PING}Host")), "192.0.2.1");
    assert_eq!(engine.start_diagnostics().await.unwrap(), 0);
}

#[tokio::test]
async fn a_completion_waits_for_its_acknowledgement_across_a_restart() {
    let (sim, engine) = setup().await;
    start_ping(&engine, "192.0.2.1").await;
    run_jobs(&sim, &engine).await;
    drop(engine);
    let (engine, _) = start(&sim, Arc::new(AllowAll)).await;
    assert_eq!(completed(&poll_all(&engine)), [PING]);
    assert_eq!(state(&engine, PING), "Complete", "the results are kept");
}

#[tokio::test]
async fn a_command_the_device_refuses_completes_with_an_error_state() {
    let (sim, engine) = setup().await;
    sim.inject(refuse_next(
        HalCall::Invoke,
        "Device.IP.Diagnostics.IPPing()",
        "no route",
    ));
    start_ping(&engine, "192.0.2.1").await;
    assert_eq!(sim.pending_jobs(), 0);
    engine.handle_device_inputs().await.unwrap();
    assert_eq!(state(&engine, PING), "Error_Internal");
    assert_eq!(completed(&poll_all(&engine)), [PING]);
}

/// The `HostAddress` of every `RouteHops` row an ACS's GetParameterValues of `object` gives,
/// by path.
async fn hops(engine: &Engine, object: &str) -> Vec<(String, String)> {
    let got = engine
        .get(&acs(), &GetRequest::new([format!("{object}RouteHops.")]))
        .await
        .unwrap();
    got.params()
        .filter(|p| p.name() == "HostAddress")
        .map(|p| (p.path().to_string(), text(p.value())))
        .collect()
}

#[tokio::test]
async fn trace_route_hops_become_rows_that_the_next_run_replaces() {
    let (sim, engine) = setup().await;
    let object = "Device.IP.Diagnostics.TraceRoute.";
    let trace = |hops: &str| {
        spv(
            object,
            &[
                ("Host", "192.0.2.1"),
                ("MaxHopCount", hops),
                ("DiagnosticsState", "Requested"),
            ],
        )
    };
    let entries = format!("{object}RouteHopsNumberOfEntries");
    engine.set(&acs(), &trace("3")).await.unwrap();
    engine.start_diagnostics().await.unwrap();
    run_jobs(&sim, &engine).await;
    assert_eq!(state(&engine, object), "Complete");
    assert_eq!(stored(&engine, &format!("{object}ResponseTime")), "21");
    assert_eq!(stored(&engine, &entries), "3");
    let hop = |n: u32| {
        (
            format!("{object}RouteHops.{n}.HostAddress"),
            format!("198.51.100.{n}"),
        )
    };
    assert_eq!(hops(&engine, object).await, [hop(1), hop(2), hop(3)]);

    engine.set(&acs(), &trace("1")).await.unwrap();
    engine.start_diagnostics().await.unwrap();
    run_jobs(&sim, &engine).await;
    assert_eq!(stored(&engine, &entries), "1");
    assert_eq!(hops(&engine, object).await, [hop(1)]);

    // A test that fails has no rows either.
    sim.inject(refuse_next(
        HalCall::Invoke,
        "Device.IP.Diagnostics.TraceRoute()",
        "no route",
    ));
    engine.set(&acs(), &trace("2")).await.unwrap();
    engine.start_diagnostics().await.unwrap();
    engine.handle_device_inputs().await.unwrap();
    assert_eq!(state(&engine, object), "Error_Internal");
    assert_eq!(stored(&engine, &entries), "0");
    assert_eq!(hops(&engine, object).await, []);
}
