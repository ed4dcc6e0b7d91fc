//! Periodic informs: `PeriodicInformInterval` with and without the `PeriodicInformTime`
//! phase (wall clock), and the ACS changing them.
#![allow(clippy::unwrap_used, clippy::panic, clippy::indexing_slicing)]

mod support;

use std::time::Duration;

use cwmp_core::codec::{Body, ParameterValue, SetParameterValues, ValueType};
use cwmp_core::session::SessionConfig;
use support::{Cpe, ScriptedAcs, codes};

#[tokio::test(flavor = "current_thread")]
async fn periodic_without_phase_counts_from_start() {
    let mut cpe = Cpe::boot(SessionConfig::default()).await;
    let mut acs = ScriptedAcs::new();
    cpe.run(&mut acs, Duration::from_secs(3 * 3600 + 10)).await;
    let informs = acs.informs();
    let times: Vec<u64> = informs.iter().map(|(t, _)| t.as_secs()).collect();
    assert_eq!(times, [0, 3600, 7200, 10800]);
    for (_, inform) in &informs[1..] {
        assert_eq!(codes(inform), ["2 PERIODIC"]);
    }
    assert_eq!(informs[1].1.current_time, "2025-01-01T01:00:00Z");
}

#[tokio::test(flavor = "current_thread")]
async fn periodic_inform_time_sets_the_phase() {
    let mut cpe = Cpe::boot(SessionConfig::default()).await;
    let mut acs = ScriptedAcs::new();
    acs.push(Body::SetParameterValues(SetParameterValues {
        parameter_list: vec![
            ParameterValue::new(
                "Device.ManagementServer.PeriodicInformInterval",
                "600",
                ValueType::UnsignedInt,
            ),
            ParameterValue::new(
                "Device.ManagementServer.PeriodicInformTime",
                "2024-12-31T00:02:30Z",
                ValueType::DateTime,
            ),
        ],
        parameter_key: "periodic".into(),
    }));
    cpe.run(&mut acs, Duration::from_secs(1400)).await;
    let times: Vec<u64> = acs.informs().iter().map(|(t, _)| t.as_secs()).collect();
    // Phase 00:02:30 modulo 600 s: 150, 750, 1350 s after 00:00:00.
    assert_eq!(times, [0, 150, 750, 1350]);

    // Disabling periodic informs stops them.
    acs.push(Body::SetParameterValues(SetParameterValues {
        parameter_list: vec![ParameterValue::new(
            "Device.ManagementServer.PeriodicInformEnable",
            "false",
            ValueType::Boolean,
        )],
        parameter_key: "off".into(),
    }));
    cpe.run(&mut acs, Duration::from_secs(700)).await;
    cpe.run(&mut acs, Duration::from_secs(5000)).await;
    assert_eq!(
        acs.informs().len(),
        5,
        "only the session that turned them off"
    );
}
