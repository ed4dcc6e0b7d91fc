//! HTTP authentication towards the ACS (Digest, checked by the crate's `DigestServer`, which
//! refuses replayed nonce counts), refused credentials, and redirects.
#![allow(clippy::unwrap_used, clippy::panic, clippy::indexing_slicing)]

mod support;

use std::time::Duration;

use cwmp_core::codec::Body;
use cwmp_core::session::{Input, SessionConfig, SessionFailure};
use support::{Cpe, ScriptedAcs};

#[tokio::test(flavor = "current_thread")]
async fn digest_challenge_is_answered_and_reused() {
    let mut cpe = Cpe::boot(SessionConfig::default()).await;
    let mut acs = ScriptedAcs::new().with_digest("SIM0001", "factory-secret");
    acs.push(Body::GetRpcMethods);
    cpe.run(&mut acs, Duration::from_secs(10)).await;
    assert_eq!(acs.informs().len(), 1);
    assert_eq!(acs.received.len(), 3, "Inform, empty POST, response");
    for received in &acs.received {
        let auth = received.request.header("Authorization").unwrap();
        assert!(auth.starts_with("Digest "), "{auth}");
        assert!(auth.contains("username=\"SIM0001\""));
    }
    assert_eq!(cpe.ends()[0].failure, None);
}

#[tokio::test(flavor = "current_thread")]
async fn wrong_credentials_fail_the_session() {
    let mut cpe = Cpe::boot(SessionConfig::default()).await;
    let mut acs = ScriptedAcs::new().with_digest("SIM0001", "other-secret");
    cpe.run(&mut acs, Duration::from_secs(3)).await;
    assert!(acs.received.is_empty());
    assert_eq!(cpe.ends()[0].failure, Some(SessionFailure::Authentication));
    // The ACS's password is set right: the retry succeeds.
    let fixed = cpe
        .session
        .settings()
        .clone()
        .with_credentials("SIM0001", "other-secret");
    cpe.session.handle_input(Input::Settings(fixed)).unwrap();
    cpe.run(&mut acs, Duration::from_secs(30)).await;
    assert_eq!(acs.informs().len(), 1);
    assert_eq!(acs.informs()[0].1.retry_count, 1);
}

#[tokio::test(flavor = "current_thread")]
async fn redirect_moves_the_session() {
    let mut cpe = Cpe::boot(SessionConfig::default()).await;
    let mut acs = ScriptedAcs::new();
    acs.redirect_to = Some("https://acs-b.example.net/cwmp".into());
    acs.push(Body::GetRpcMethods);
    cpe.run(&mut acs, Duration::from_secs(5)).await;
    // The Inform went to the ACS URL, was redirected, and was sent again to the new URL,
    // which serves the rest of the session.
    assert_eq!(acs.informs().len(), 2);
    assert_eq!(acs.received[0].request.url, support::ACS_URL);
    for received in &acs.received[1..] {
        assert_eq!(received.request.url, "https://acs-b.example.net/cwmp");
    }
    assert_eq!(acs.received.len(), 4);
    assert_eq!(cpe.ends()[0].failure, None);
}
