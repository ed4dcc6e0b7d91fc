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

use cwmp_core::codec::ValueType;

use common::param;

const PING: &str = "Device.IP.Diagnostics.IPPing.";

#[tokio::test(flavor = "current_thread")]
async fn an_acs_requests_a_ping_and_reads_its_results_after_event_8() {
    let state = tempfile::tempdir().unwrap();
    let inputs = [
        ("Host", "127.0.0.1", ValueType::String),
        ("NumberOfRepetitions", "3", ValueType::UnsignedInt),
        ("Timeout", "2000", ValueType::UnsignedInt),
    ];
    let (results, agent) = common::cwmp_diagnostics(state.path(), PING, &inputs).await;
    let value = |name: &str| param(&results, &format!("{PING}{name}")).map(str::to_owned);
    assert_eq!(value("DiagnosticsState").as_deref(), Some("Complete"));
    assert_eq!(value("SuccessCount").as_deref(), Some("3"));
    assert_eq!(value("FailureCount").as_deref(), Some("0"));
    assert_eq!(value("IPAddressUsed").as_deref(), Some("127.0.0.1"));
    agent.stop().await;
}
