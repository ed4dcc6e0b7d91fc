//! Retries after failed sessions: the randomised exponential wait of TR-069 §3.2.1.1 (the
//! interval table of FACTS §7 with the default `CWMPRetryMinimumWaitInterval` 5 s and
//! `CWMPRetryIntervalMultiplier` 2000), RetryCount in the Inform, events kept or dropped.
#![allow(clippy::unwrap_used, clippy::panic, clippy::indexing_slicing)]

mod support;

use std::time::Duration;

use cwmp_core::session::{Input, SessionConfig, SessionFailure, retry_window};
use support::{Cpe, ScriptedAcs, codes};

#[tokio::test(flavor = "current_thread")]
async fn waits_follow_the_interval_table_and_retry_count_grows() {
    let mut cpe = Cpe::boot(SessionConfig::default().with_rng_seed(12345)).await;
    let quiet = cpe
        .session
        .settings()
        .clone()
        .with_periodic(false, 3600, None);
    cpe.session.handle_input(Input::Settings(quiet)).unwrap();
    let mut acs = ScriptedAcs::new();
    acs.fail_informs = 12;
    cpe.run(&mut acs, Duration::from_secs(60_000)).await;

    let informs = acs.informs();
    assert_eq!(informs.len(), 13, "12 failures, then success");
    for (i, (_, inform)) in informs.iter().enumerate() {
        assert_eq!(inform.retry_count, u32::try_from(i).unwrap());
        assert_eq!(
            codes(inform),
            ["0 BOOTSTRAP", "1 BOOT"],
            "events survive failures"
        );
    }
    for (n, pair) in informs.windows(2).enumerate() {
        let wait = pair[1].0 - pair[0].0;
        let retry = u32::try_from(n + 1).unwrap();
        let (low, high) = retry_window(5, 2000, retry);
        assert!(
            wait >= low && wait <= high,
            "retry {retry}: waited {wait:?}, table says {low:?}..{high:?}"
        );
    }
    // The 10th and later retries all wait 2560–5120 s.
    assert_eq!(
        retry_window(5, 2000, 12),
        (Duration::from_secs(2560), Duration::from_secs(5120))
    );
    let ends = cpe.ends();
    assert_eq!(ends.len(), 13);
    assert!(
        ends[..12]
            .iter()
            .all(|e| e.failure == Some(SessionFailure::HttpStatus(503)) && e.retry_at.is_some())
    );
    assert_eq!(ends[12].failure, None);
    assert_eq!(
        cpe.saved.as_ref().unwrap().retry_count,
        0,
        "reset after success"
    );
}

#[tokio::test(flavor = "current_thread")]
async fn a_connection_request_alone_is_not_retried() {
    let mut cpe = Cpe::boot(SessionConfig::default()).await;
    let mut acs = ScriptedAcs::new();
    cpe.run(&mut acs, Duration::from_secs(10)).await;
    assert_eq!(acs.informs().len(), 1);

    acs.fail_informs = 1;
    cpe.session.handle_input(Input::ConnectionRequest).unwrap();
    cpe.run(&mut acs, Duration::from_secs(3000)).await;
    let informs = acs.informs();
    assert_eq!(informs.len(), 2, "no retry for 6 CONNECTION REQUEST alone");
    assert_eq!(codes(&informs[1].1), ["6 CONNECTION REQUEST"]);
    let end = cpe.ends().pop().unwrap();
    assert_eq!(end.failure, Some(SessionFailure::HttpStatus(503)));
    assert_eq!(end.retry_at, None);
    assert_eq!(end.retry_count, 1);

    // The next session (a new CR) reports the failed attempt.
    cpe.session.handle_input(Input::ConnectionRequest).unwrap();
    cpe.run(&mut acs, Duration::from_secs(10)).await;
    let informs = acs.informs();
    assert_eq!(informs.len(), 3);
    assert_eq!(informs[2].1.retry_count, 1);
}

#[tokio::test(flavor = "current_thread")]
async fn transport_failures_and_timeouts_fail_the_session() {
    let mut cpe = Cpe::boot(SessionConfig::default()).await;
    // Drive by hand: the first POST never gets an answer.
    let mut saw_post = false;
    for _ in 0..100 {
        match cpe.session.poll_output() {
            cwmp_core::session::Output::Transmit(_) => saw_post = true,
            cwmp_core::session::Output::EngineRequest {
                id,
                principal,
                request,
            } => {
                let result = request.execute(&cpe.engine, &principal).await;
                cpe.session.respond(id, result).unwrap();
            }
            cwmp_core::session::Output::Timeout(at) => {
                assert!(saw_post);
                assert_eq!(at - cpe.now, Duration::from_secs(30), "SessionTimeout");
                cpe.session.handle_input(Input::Timeout(at)).unwrap();
                break;
            }
            _ => {}
        }
    }
    let ended = std::iter::from_fn(|| match cpe.session.poll_output() {
        cwmp_core::session::Output::Timeout(_) => None,
        other => Some(other),
    })
    .find_map(|o| match o {
        cwmp_core::session::Output::Event(cwmp_core::session::Event::SessionEnded(end)) => {
            Some(end)
        }
        _ => None,
    })
    .unwrap();
    assert_eq!(ended.failure, Some(SessionFailure::Timeout));
    assert!(!cpe.session.in_session());
    assert_eq!(
        cpe.session.handle_input(Input::HttpFailed),
        Err(cwmp_core::session::SessionError::NoRequestInFlight)
    );
}
