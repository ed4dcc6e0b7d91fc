//! Value-change notification from the engine's change log: passive parameters wait for the
//! next Inform, active ones start a session with `4 VALUE CHANGE`; the ACS's own changes are
//! not notified; 9009 for refused attributes.
#![allow(clippy::unwrap_used, clippy::panic, clippy::indexing_slicing)]

mod support;

use std::time::Duration;

use cwmp_core::codec::{Body, Notification, SetParameterAttributes};
use cwmp_core::session::{Input, SessionConfig};
use support::{Cpe, ScriptedAcs, attribute, codes, device_sets, param, spv};

#[tokio::test(flavor = "current_thread")]
async fn passive_waits_active_starts_a_session() {
    let mut cpe = Cpe::boot(SessionConfig::default()).await;
    let mut acs = ScriptedAcs::new();
    acs.push(Body::SetParameterAttributes(SetParameterAttributes {
        parameter_list: vec![
            attribute("Device.WiFi.SSID.1.SSID", Notification::Active),
            attribute("Device.WiFi.SSID.2.SSID", Notification::Passive),
        ],
    }));
    cpe.run(&mut acs, Duration::from_secs(10)).await;
    assert!(matches!(
        acs.cpe_messages()[0],
        Body::SetParameterAttributesResponse
    ));

    // Passive: no session.
    device_sets(&mut cpe, "Device.WiFi.SSID.2.SSID", "Passive-1").await;
    cpe.run(&mut acs, Duration::from_secs(100)).await;
    assert_eq!(acs.informs().len(), 1);

    // The ACS's own change of an active parameter: not notified.
    acs.push(spv("Device.WiFi.SSID.1.SSID", "ByAcs", "k"));
    cpe.session.handle_input(Input::ConnectionRequest).unwrap();
    cpe.run(&mut acs, Duration::from_secs(10)).await;
    let informs = acs.informs();
    assert_eq!(informs.len(), 2);
    assert_eq!(
        codes(&informs[1].1),
        ["4 VALUE CHANGE", "6 CONNECTION REQUEST"],
        "the passive change rides along"
    );
    assert_eq!(
        param(&informs[1].1, "Device.WiFi.SSID.2.SSID"),
        Some("Passive-1")
    );
    cpe.run(&mut acs, Duration::from_secs(100)).await;
    assert_eq!(
        acs.informs().len(),
        2,
        "no session for the ACS's own change"
    );

    // Active: a session at once, with the new value.
    device_sets(&mut cpe, "Device.WiFi.SSID.1.SSID", "Active-1").await;
    cpe.run(&mut acs, Duration::from_secs(10)).await;
    let informs = acs.informs();
    assert_eq!(informs.len(), 3);
    assert_eq!(codes(&informs[2].1), ["4 VALUE CHANGE"]);
    assert_eq!(
        param(&informs[2].1, "Device.WiFi.SSID.1.SSID"),
        Some("Active-1")
    );
    assert_eq!(
        param(&informs[2].1, "Device.WiFi.SSID.2.SSID"),
        None,
        "already reported"
    );

    // Attributes survive a restart (persisted state).
    let saved = cpe.saved.clone().unwrap();
    assert_eq!(saved.attributes["Device.WiFi.SSID.1.SSID"].notification, 2);
    assert!(saved.events.is_empty());
}

#[tokio::test(flavor = "current_thread")]
async fn forced_default_active_and_refused_attributes() {
    let mut cpe = Cpe::boot(SessionConfig::default()).await;
    let mut acs = ScriptedAcs::new();
    acs.push(Body::SetParameterAttributes(SetParameterAttributes {
        parameter_list: vec![attribute(
            "Device.ManagementServer.ParameterKey",
            Notification::Active,
        )],
    }));
    acs.push(Body::SetParameterAttributes(SetParameterAttributes {
        // Active lightweight is active too: refused on canDeny.
        parameter_list: vec![attribute(
            "Device.ManagementServer.ParameterKey",
            Notification::ActiveLightweight,
        )],
    }));
    cpe.run(&mut acs, Duration::from_secs(10)).await;
    let m = acs.cpe_messages();
    for body in &m[..2] {
        let Body::Fault(fault) = body else {
            panic!("{body:?}")
        };
        assert_eq!(fault.code(), Some(9009));
    }
    // ConnectionRequestURL is active by default: a device change starts a session.
    device_sets(
        &mut cpe,
        "Device.ManagementServer.ConnectionRequestURL",
        "http://192.0.2.7:7547/cr",
    )
    .await;
    cpe.run(&mut acs, Duration::from_secs(10)).await;
    let informs = acs.informs();
    assert_eq!(informs.len(), 2);
    assert_eq!(codes(&informs[1].1), ["4 VALUE CHANGE"]);
    assert_eq!(
        param(
            &informs[1].1,
            "Device.ManagementServer.ConnectionRequestURL"
        ),
        Some("http://192.0.2.7:7547/cr")
    );
}
