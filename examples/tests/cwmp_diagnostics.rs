//! End to end: an ACS runs a diagnostic test on the `cpe-agent` binary the TR-069 way. In
//! the bootstrap session it sets the IPPing inputs with `DiagnosticsState` `Requested`; the
//! agent starts its `IPPing()` command (the one USP controllers operate, which pings for real:
//! here 127.0.0.1) once the session has ended, writes its outputs to
//! `Device.IP.Diagnostics.IPPing.` and opens a session with `8 DIAGNOSTICS COMPLETE`, in which
//! the ACS reads the results.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    // The shared helpers bound their waits on the real clock.
    clippy::disallowed_methods,
    missing_docs
)]

mod common;

use cwmp_core::codec::{Body, ParameterValue, SetParameterValues, Status, ValueType};

use common::{Acs, AgentProcess, codes, gpv, param};

const PING: &str = "Device.IP.Diagnostics.IPPing.";

#[tokio::test(flavor = "current_thread")]
async fn an_acs_requests_a_ping_and_reads_its_results_after_event_8() {
    let mut acs = Acs::start().await;
    let state = tempfile::tempdir().unwrap();
    let ping =
        |name: &str, value: &str, kind| ParameterValue::new(format!("{PING}{name}"), value, kind);
    acs.push(Body::SetParameterValues(SetParameterValues {
        parameter_list: vec![
            ping("Host", "127.0.0.1", ValueType::String),
            ping("NumberOfRepetitions", "3", ValueType::UnsignedInt),
            ping("Timeout", "2000", ValueType::UnsignedInt),
            ping("DiagnosticsState", "Requested", ValueType::String),
        ],
        parameter_key: "diag-1".into(),
    }));
    let mut agent =
        AgentProcess::start(state.path(), &["--acs-url", &acs.url, "--cr-port", "0"]).await;
    let inform = acs.next_inform().await;
    assert!(codes(&inform).contains(&"0 BOOTSTRAP".to_owned()));
    assert!(acs.next_post().await.is_none(), "the CPE's empty POST");
    match acs.next_post().await.map(|e| e.body) {
        Some(Body::SetParameterValuesResponse(r)) => assert_eq!(r.status, Status::Applied),
        other => panic!("expected SetParameterValuesResponse, got {other:?}"),
    }
    agent.wait_line("CWMP session ended").await;

    acs.push(gpv(&[PING]));
    let inform = acs.next_inform().await;
    assert_eq!(codes(&inform), ["8 DIAGNOSTICS COMPLETE"]);
    assert!(acs.next_post().await.is_none(), "the CPE's empty POST");
    let results = match acs.next_post().await.map(|e| e.body) {
        Some(Body::GetParameterValuesResponse(r)) => r.parameter_list,
        other => panic!("expected GetParameterValuesResponse, got {other:?}"),
    };
    let value = |name: &str| param(&results, &format!("{PING}{name}")).map(str::to_owned);
    assert_eq!(value("DiagnosticsState").as_deref(), Some("Complete"));
    assert_eq!(value("SuccessCount").as_deref(), Some("3"));
    assert_eq!(value("FailureCount").as_deref(), Some("0"));
    assert_eq!(value("IPAddressUsed").as_deref(), Some("127.0.0.1"));
    agent.wait_line("CWMP session ended").await;
    agent.stop().await;
}
