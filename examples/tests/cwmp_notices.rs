//! With both protocol stacks on, the engine keeps each notice until CWMP and USP have both
//! acknowledged it. A notice only one of them acts on must still be acknowledged by the
//! other, or it stays pending forever (and is delivered again after every restart).
//!
//! The agent runs against the scripted ACS (bootstrap session done) and a USP controller that
//! walks through the shared USP requests, including an asynchronous `IPPing()` whose
//! OperationComplete is a USP-only notice. After a clean stop, the persisted events of the
//! device (`device/events`) hold no pending notice.
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

use common::{Acs, AgentProcess, Controller, codes, scenario};

/// The pending notices in the persisted device state of `state_dir`.
fn pending_notices(state_dir: &std::path::Path) -> serde_json::Value {
    let events: serde_json::Value =
        serde_json::from_slice(&std::fs::read(state_dir.join("device/events")).unwrap()).unwrap();
    events["pending"].clone()
}

#[tokio::test(flavor = "current_thread")]
async fn notices_of_one_protocol_do_not_linger_for_the_other() {
    let mut acs = Acs::start().await;
    let state = tempfile::tempdir().unwrap();
    let mut agent =
        AgentProcess::start(state.path(), &["--acs-url", &acs.url, "--cr-port", "0"]).await;
    let inform = acs.next_inform().await;
    assert!(codes(&inform).contains(&"0 BOOTSTRAP".to_owned()));
    assert!(acs.next_post().await.is_none(), "the CPE's empty POST");
    agent.wait_line("CWMP session ended").await;

    let mut ctrl = Controller::connect(&agent.url).await;
    scenario::manage(&mut ctrl).await;
    agent.stop().await;

    let pending = pending_notices(state.path());
    assert_eq!(pending, serde_json::json!([]), "notices left pending");
}
