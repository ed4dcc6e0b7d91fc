//! Heartbeat sessions (TR-069 Annex O): `Device.ManagementServer.HeartbeatPolicy.` set by the
//! ACS, the `14 HEARTBEAT` event alone in its Inform, its timing on `InitiationTime`, a
//! heartbeat due during a session, failed heartbeats, and another session being retried.
#![allow(clippy::unwrap_used, clippy::panic, clippy::indexing_slicing)]

mod support;

use std::time::Duration;

use cwmp_core::codec::{
    Body, Notification, ParameterValue, SetParameterAttributes, SetParameterValues, ValueType,
};
use cwmp_core::session::{Input, SessionConfig};
use support::{Cpe, ScriptedAcs, attribute, codes, device_sets, param};
use tr181_model::value::DateTime;

const HEARTBEAT: &str = "14 HEARTBEAT";

fn time(text: &str) -> Option<DateTime> {
    Some(text.parse().unwrap())
}

fn policy(enable: &str, interval: &str, initiation: &str) -> Body {
    let name = |n: &str| format!("Device.ManagementServer.HeartbeatPolicy.{n}");
    Body::SetParameterValues(SetParameterValues {
        parameter_list: vec![
            ParameterValue::new(name("Enable"), enable, ValueType::Boolean),
            ParameterValue::new(name("ReportingInterval"), interval, ValueType::UnsignedInt),
            ParameterValue::new(name("InitiationTime"), initiation, ValueType::DateTime),
        ],
        parameter_key: "heartbeat".into(),
    })
}

/// The seconds at which Informs carrying `code` arrived.
fn times_of(acs: &ScriptedAcs, code: &str) -> Vec<u64> {
    acs.informs()
        .iter()
        .filter(|(_, inform)| codes(inform).iter().any(|c| c == code))
        .map(|(at, _)| at.as_secs())
        .collect()
}

#[tokio::test(flavor = "current_thread")]
async fn heartbeats_follow_the_policy_the_acs_sets_and_go_alone() {
    let mut cpe = Cpe::boot(SessionConfig::default()).await;
    let mut acs = ScriptedAcs::new();
    acs.push(Body::SetParameterAttributes(SetParameterAttributes {
        parameter_list: vec![attribute("Device.WiFi.SSID.2.SSID", Notification::Passive)],
    }));
    acs.push(policy("true", "600", "2024-12-31T00:00:30Z"));
    cpe.run(&mut acs, Duration::from_secs(10)).await;
    device_sets(&mut cpe, "Device.WiFi.SSID.2.SSID", "Passive-1").await;
    cpe.run(&mut acs, Duration::from_secs(3700)).await;

    // Phase 00:00:30 modulo 600 s; the periodic inform (every 3600 s from boot) apart.
    assert_eq!(
        times_of(&acs, HEARTBEAT),
        [30, 630, 1230, 1830, 2430, 3030, 3630]
    );
    let informs = acs.informs();
    for (at, inform) in &informs[1..] {
        if at.as_secs() == 3600 {
            assert_eq!(codes(inform), ["2 PERIODIC", "4 VALUE CHANGE"]);
            assert_eq!(param(inform, "Device.WiFi.SSID.2.SSID"), Some("Passive-1"));
            continue;
        }
        assert_eq!(codes(inform), [HEARTBEAT], "at {at:?}");
        assert!(param(inform, "Device.DeviceInfo.SoftwareVersion").is_some());
        assert_eq!(param(inform, "Device.WiFi.SSID.2.SSID"), None);
    }
    assert_eq!(informs.len(), 9);

    // Disabled: no more heartbeats.
    acs.push(policy("false", "600", "2024-12-31T00:00:30Z"));
    cpe.session.handle_input(Input::ConnectionRequest).unwrap();
    cpe.run(&mut acs, Duration::from_secs(3000)).await;
    assert_eq!(times_of(&acs, HEARTBEAT).len(), 7);
    assert_eq!(acs.informs().len(), 10, "the CR's session only");
}

#[tokio::test(flavor = "current_thread")]
async fn a_heartbeat_due_during_a_session_follows_it() {
    let mut cpe = Cpe::boot(SessionConfig::default()).await;
    let settings =
        cpe.session
            .settings()
            .clone()
            .with_heartbeat(true, 60, time("2024-12-31T00:00:50Z"));
    cpe.session.handle_input(Input::Settings(settings)).unwrap();
    let mut acs = ScriptedAcs::new();
    acs.latency = Duration::from_secs(20);
    acs.push(Body::GetRpcMethods);
    cpe.run(&mut acs, Duration::from_secs(130)).await;
    // The bootstrap session runs 0–60 s (three exchanges of 20 s); the heartbeat due at 50 s
    // opens the next one at 60 s, which ends at 100 s before the one due at 110 s.
    let informs = acs.informs();
    let times: Vec<u64> = informs.iter().map(|(t, _)| t.as_secs()).collect();
    assert_eq!(times, [0, 60, 110]);
    assert_eq!(codes(&informs[0].1), ["0 BOOTSTRAP", "1 BOOT"]);
    assert_eq!(codes(&informs[1].1), [HEARTBEAT]);
    assert_eq!(codes(&informs[2].1), [HEARTBEAT]);
}

#[tokio::test(flavor = "current_thread")]
async fn a_failed_heartbeat_is_retried_alone_and_pending_once() {
    let mut cpe = Cpe::boot(SessionConfig::default().with_rng_seed(7)).await;
    let settings = cpe
        .session
        .settings()
        .clone()
        .with_periodic(false, 3600, None)
        .with_heartbeat(true, 60, time("2024-12-31T00:00:10Z"));
    cpe.session.handle_input(Input::Settings(settings)).unwrap();
    let mut acs = ScriptedAcs::new();
    cpe.run(&mut acs, Duration::from_secs(5)).await;
    acs.fail_informs = 4;
    cpe.run(&mut acs, Duration::from_secs(400)).await;

    let informs = acs.informs();
    let heartbeats = &informs[1..];
    // Four failures (the retry waits add up to 75–150 s, past the heartbeats due at 70 and
    // 130 s), then success: each Inform `14 HEARTBEAT` alone, RetryCount counting up.
    for (i, (_, inform)) in heartbeats[..5].iter().enumerate() {
        assert_eq!(codes(inform), [HEARTBEAT]);
        assert_eq!(inform.retry_count, u32::try_from(i).unwrap());
    }
    assert_eq!(heartbeats[0].0.as_secs(), 10);
    let success = heartbeats[4].0.as_secs();
    assert!((85..=160).contains(&success), "succeeded at {success}");
    // Then on the phase again, once per interval.
    let next: Vec<u64> = heartbeats[5..].iter().map(|(t, _)| t.as_secs()).collect();
    let first = (success + 1..).find(|t| t % 60 == 10).unwrap();
    let expected: Vec<u64> = (first..=405).step_by(60).collect();
    assert_eq!(next, expected);
    assert!(heartbeats[5..].iter().all(|(_, i)| i.retry_count == 0));
    assert!(cpe.saved.unwrap().events.is_empty());
}

#[tokio::test(flavor = "current_thread")]
async fn a_session_being_retried_goes_before_the_heartbeat() {
    let mut cpe = Cpe::boot(SessionConfig::default()).await;
    let settings = cpe
        .session
        .settings()
        .clone()
        .with_periodic(true, 600, time("2025-01-01T00:00:00Z"))
        .with_heartbeat(true, 600, time("2025-01-01T00:00:01Z"));
    cpe.session.handle_input(Input::Settings(settings)).unwrap();
    let mut acs = ScriptedAcs::new();
    cpe.run(&mut acs, Duration::from_secs(590)).await;
    assert_eq!(times_of(&acs, HEARTBEAT), [1]);
    acs.fail_informs = 1;
    cpe.run(&mut acs, Duration::from_secs(100)).await;

    let informs = acs.informs();
    let later: Vec<(u64, Vec<String>, u32)> = informs[2..]
        .iter()
        .map(|(t, i)| (t.as_secs(), codes(i), i.retry_count))
        .collect();
    assert_eq!(later.len(), 3, "{later:?}");
    assert_eq!(later[0], (600, vec!["2 PERIODIC".to_owned()], 0));
    // The retry (5–10 s later) carries the periodic event; the heartbeat due at 601 s waited
    // for it and follows at once.
    let retry_at = later[1].0;
    assert!((605..=610).contains(&retry_at));
    assert_eq!(later[1], (retry_at, vec!["2 PERIODIC".to_owned()], 1));
    assert_eq!(later[2], (retry_at, vec![HEARTBEAT.to_owned()], 0));
}

#[tokio::test(flavor = "current_thread")]
async fn an_unknown_initiation_time_gets_a_random_phase_that_holds() {
    let mut phases = Vec::new();
    for seed in [1, 2] {
        let mut cpe = Cpe::boot(SessionConfig::default().with_rng_seed(seed)).await;
        let settings =
            cpe.session
                .settings()
                .clone()
                .with_heartbeat(true, 100, time("0001-01-01T00:00:00Z"));
        cpe.session.handle_input(Input::Settings(settings)).unwrap();
        let mut acs = ScriptedAcs::new();
        cpe.run(&mut acs, Duration::from_secs(1000)).await;
        let times = times_of(&acs, HEARTBEAT);
        assert_eq!(times.len(), 10, "{times:?}");
        assert!((1..=100).contains(&times[0]));
        assert!(times.windows(2).all(|w| w[1] - w[0] == 100), "{times:?}");
        phases.push(times[0]);
    }
    assert_ne!(phases[0], phases[1], "the phase comes from the seed");
}
