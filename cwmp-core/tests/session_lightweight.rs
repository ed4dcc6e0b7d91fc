//! UDP lightweight notifications (TR-069 Annex M) from the session: the attribute values 3–6
//! are accepted only when `LightweightNotificationProtocolsSupported` has `UDP`; with
//! `LightweightNotificationProtocolsUsed` = `UDP`, an active lightweight change sends a
//! signed datagram at once (with the pending passive ones), passive ones wait for it or for
//! the trigger interval; none of this opens a CWMP session; too many values for one datagram
//! go in several. The queue survives a restart (checked like input from the wire).
#![allow(clippy::unwrap_used, clippy::panic, clippy::indexing_slicing)]

mod support;

use std::time::Duration;

use cwmp_core::codec::lwnotif::{NAMESPACE, signature};
use cwmp_core::codec::{
    Body, Notification, ParameterValue, SetParameterAttributes, SetParameterValues, ValueType,
};
use cwmp_core::session::{Datagram, Input, PersistedState, SessionConfig, SessionLimits};
use support::{Cpe, START_UNIX, ScriptedAcs, attribute, codes, device_sets, origin, param};

const SSID1: &str = "Device.WiFi.SSID.1.SSID";
const SSID2: &str = "Device.WiFi.SSID.2.SSID";
const MS: &str = "Device.ManagementServer.";
/// The simulated device's ACS password, the key of the signature.
const PASSWORD: &str = "factory-secret";

fn attributes(list: &[(&str, Notification)]) -> Body {
    Body::SetParameterAttributes(SetParameterAttributes {
        parameter_list: list.iter().map(|(n, v)| attribute(n, *v)).collect(),
    })
}

/// A SetParameterValues of `Device.ManagementServer.` values.
fn management(values: &[(&str, &str, ValueType)]) -> Body {
    Body::SetParameterValues(SetParameterValues {
        parameter_list: values
            .iter()
            .map(|(name, value, kind)| {
                ParameterValue::new(format!("{MS}{name}"), *value, kind.clone())
            })
            .collect(),
        parameter_key: "lw".into(),
    })
}

/// `LightweightNotificationProtocolsUsed` = `UDP`: lightweight notifications on.
fn use_udp() -> Body {
    management(&[(
        "LightweightNotificationProtocolsUsed",
        "UDP",
        ValueType::String,
    )])
}

/// A bootstrap session that turns lightweight notifications on, with SSID 1 active
/// lightweight and SSID 2 passive lightweight; the ACS for the next sessions.
async fn enabled(cpe: &mut Cpe) -> ScriptedAcs {
    let mut acs = ScriptedAcs::new();
    acs.push(use_udp());
    acs.push(attributes(&[
        (SSID1, Notification::ActiveLightweight),
        (SSID2, Notification::PassiveLightweight),
    ]));
    cpe.run(&mut acs, Duration::from_secs(10)).await;
    acs
}

/// The parts of a datagram, checked: the head, its signature over the body, and the
/// message's fields and parameters.
struct Received {
    ts: i64,
    un: String,
    cn: String,
    identity: (String, String, String),
    params: Vec<(String, String)>,
}

fn open(datagram: &Datagram) -> Received {
    let text = std::str::from_utf8(&datagram.payload).unwrap();
    let (head, body) = text.split_once("\r\n\r\n").unwrap();
    let lines: Vec<&str> = head.split("\r\n").collect();
    assert_eq!(lines[0], "POST / HTTP/1.1");
    assert_eq!(
        lines[1],
        format!("Host: {}:{}", datagram.host, datagram.port)
    );
    assert!(lines.contains(&"Content-Type: text/xml; charset=\"utf-8\""));
    assert!(lines.contains(&format!("Content-Length: {}", body.len()).as_str()));
    let expected = format!("Signature: {}", signature(PASSWORD, body.as_bytes()));
    assert!(lines.contains(&expected.as_str()), "{head}");

    let doc = roxmltree::Document::parse(body).unwrap();
    let root = doc.root_element();
    assert_eq!(root.tag_name().name(), "Notification");
    assert_eq!(root.tag_name().namespace(), Some(NAMESPACE));
    let child = |name: &str| {
        let node = root
            .children()
            .find(|n| n.tag_name().name() == name)
            .unwrap_or_else(|| panic!("no {name}"));
        assert_eq!(node.tag_name().namespace(), Some(NAMESPACE));
        node.text().unwrap_or_default().to_owned()
    };
    let params = root
        .children()
        .filter(|n| n.tag_name().name() == "Param")
        .map(|p| {
            let text = |name: &str| {
                p.children()
                    .find(|n| n.tag_name().name() == name)
                    .and_then(|n| n.text())
                    .unwrap_or_default()
                    .to_owned()
            };
            (text("Name"), text("Value"))
        })
        .collect();
    Received {
        ts: child("TS").parse().unwrap(),
        un: child("UN"),
        cn: child("CN"),
        identity: (child("OUI"), child("ProductClass"), child("SerialNumber")),
        params,
    }
}

#[tokio::test(flavor = "current_thread")]
async fn lightweight_values_need_udp_support() {
    let mut cpe = Cpe::boot(SessionConfig::default()).await;
    let mut acs = ScriptedAcs::new();
    // Without UDP among the supported protocols: refused.
    device_sets(
        &mut cpe,
        &format!("{MS}LightweightNotificationProtocolsSupported"),
        "",
    )
    .await;
    acs.push(attributes(&[(SSID1, Notification::ActiveLightweight)]));
    cpe.run(&mut acs, Duration::from_secs(10)).await;
    // With it: accepted, except active ones on a canDeny parameter (passive ones are fine).
    device_sets(
        &mut cpe,
        &format!("{MS}LightweightNotificationProtocolsSupported"),
        "UDP",
    )
    .await;
    acs.push(attributes(&[(SSID1, Notification::ActiveLightweight)]));
    acs.push(attributes(&[(
        "Device.ManagementServer.ParameterKey",
        Notification::PassiveAndActiveLightweight,
    )]));
    acs.push(attributes(&[(
        "Device.ManagementServer.ParameterKey",
        Notification::PassiveAndPassiveLightweight,
    )]));
    cpe.session.handle_input(Input::ConnectionRequest).unwrap();
    cpe.run(&mut acs, Duration::from_secs(10)).await;
    let answers: Vec<Option<u32>> = acs
        .cpe_messages()
        .iter()
        .map(|body| match body {
            Body::SetParameterAttributesResponse => None,
            Body::Fault(fault) => fault.code(),
            other => panic!("{other:?}"),
        })
        .collect();
    assert_eq!(answers, [Some(9009), None, Some(9009), None]);
    let saved = cpe.saved.clone().unwrap();
    assert_eq!(saved.attributes[SSID1].notification, 5);
    assert_eq!(
        saved.attributes["Device.ManagementServer.ParameterKey"].notification,
        4
    );
}

#[tokio::test(flavor = "current_thread")]
async fn active_lightweight_sends_a_signed_datagram_at_once() {
    let mut cpe = Cpe::boot(SessionConfig::default()).await;
    let mut acs = ScriptedAcs::new();
    acs.push(attributes(&[
        (SSID1, Notification::ActiveLightweight),
        (SSID2, Notification::PassiveLightweight),
    ]));
    cpe.run(&mut acs, Duration::from_secs(10)).await;

    // Not used yet (LightweightNotificationProtocolsUsed is empty): nothing is sent.
    device_sets(&mut cpe, SSID1, "Unused").await;
    cpe.run(&mut acs, Duration::from_secs(100)).await;
    assert!(cpe.datagrams.is_empty());

    // The ACS turns them on, to its own collector.
    acs.push(management(&[
        (
            "LightweightNotificationProtocolsUsed",
            "UDP",
            ValueType::String,
        ),
        (
            "UDPLightweightNotificationHost",
            "192.0.2.9",
            ValueType::String,
        ),
        (
            "UDPLightweightNotificationPort",
            "4000",
            ValueType::UnsignedInt,
        ),
    ]));
    cpe.session.handle_input(Input::ConnectionRequest).unwrap();
    cpe.run(&mut acs, Duration::from_secs(10)).await;
    let informs = acs.informs().len();

    // Passive lightweight: waits (no trigger interval).
    device_sets(&mut cpe, SSID2, "Passive").await;
    cpe.run(&mut acs, Duration::from_secs(100)).await;
    assert!(cpe.datagrams.is_empty());

    // Active lightweight: one datagram now, carrying the passive one too; no session.
    device_sets(&mut cpe, SSID1, "Active").await;
    cpe.run(&mut acs, Duration::from_secs(100)).await;
    assert_eq!(cpe.datagrams.len(), 1);
    assert_eq!(acs.informs().len(), informs, "no CWMP session");
    let (at, datagram) = &cpe.datagrams[0];
    assert_eq!((datagram.host.as_str(), datagram.port), ("192.0.2.9", 4000));
    let first = open(datagram);
    let at = i64::try_from(at.as_secs()).unwrap();
    assert_eq!(first.ts, START_UNIX + at);
    assert_eq!(first.un, "SIM0001", "ManagementServer.Username");
    assert_eq!(first.cn.len(), 16);
    assert_eq!(
        first.identity,
        ("00D09E".into(), "HG".into(), "SIM0001".into())
    );
    let mut params = first.params.clone();
    params.sort();
    assert_eq!(
        params,
        [
            (SSID1.to_owned(), "Active".to_owned()),
            (SSID2.to_owned(), "Passive".to_owned())
        ]
    );

    // The next one has only what changed since, and a new cnonce.
    device_sets(&mut cpe, SSID1, "Again").await;
    cpe.run(&mut acs, Duration::from_secs(10)).await;
    assert_eq!(cpe.datagrams.len(), 2);
    let second = open(&cpe.datagrams[1].1);
    assert_eq!(second.params, [(SSID1.to_owned(), "Again".to_owned())]);
    assert_ne!(second.cn, first.cn);

    // The ACS's own change is not notified.
    acs.push(support::spv(SSID1, "ByAcs", "k"));
    cpe.session.handle_input(Input::ConnectionRequest).unwrap();
    cpe.run(&mut acs, Duration::from_secs(100)).await;
    assert_eq!(cpe.datagrams.len(), 2);
}

#[tokio::test(flavor = "current_thread")]
async fn passive_lightweight_goes_at_the_trigger_interval_to_the_acs_host() {
    let mut cpe = Cpe::boot(SessionConfig::default()).await;
    let mut acs = ScriptedAcs::new();
    acs.push(management(&[
        (
            "LightweightNotificationProtocolsUsed",
            "UDP",
            ValueType::String,
        ),
        (
            "LightweightNotificationTriggerInterval",
            "300",
            ValueType::UnsignedInt,
        ),
    ]));
    acs.push(attributes(&[(
        SSID2,
        Notification::PassiveAndPassiveLightweight,
    )]));
    // The interval runs from when the setting arrived, in the bootstrap session (at 0 s of
    // the virtual clock: the scripted ACS answers at once).
    cpe.run(&mut acs, Duration::from_secs(10)).await;

    device_sets(&mut cpe, SSID2, "Later").await;
    cpe.run(&mut acs, Duration::from_secs(250)).await;
    assert!(cpe.datagrams.is_empty(), "before the interval");
    cpe.run(&mut acs, Duration::from_secs(100)).await;
    assert_eq!(cpe.datagrams.len(), 1);
    let (at, datagram) = &cpe.datagrams[0];
    assert_eq!(at.as_secs(), 300);
    // No host set: the ACS URL's host, the default port.
    assert_eq!(
        (datagram.host.as_str(), datagram.port),
        ("acs.example.net", 7547)
    );
    assert_eq!(
        open(datagram).params,
        [(SSID2.to_owned(), "Later".to_owned())]
    );
    // Nothing pending: the next interval sends nothing.
    cpe.run(&mut acs, Duration::from_secs(600)).await;
    assert_eq!(cpe.datagrams.len(), 1);

    // Value 4 is also passive for the Inform: the next session carries it.
    cpe.session.handle_input(Input::ConnectionRequest).unwrap();
    cpe.run(&mut acs, Duration::from_secs(10)).await;
    let informs = acs.informs();
    let last = &informs.last().unwrap().1;
    assert!(codes(last).contains(&"4 VALUE CHANGE".to_owned()));
    assert_eq!(param(last, SSID2), Some("Later"));
}

#[tokio::test(flavor = "current_thread")]
async fn values_beyond_one_datagram_go_in_several() {
    let mut limits = SessionLimits::default();
    limits.max_datagram_bytes = 600;
    let mut cpe = Cpe::boot(SessionConfig::default().with_limits(limits)).await;
    let mut acs = enabled(&mut cpe).await;

    device_sets(&mut cpe, SSID2, &"b".repeat(32)).await;
    device_sets(&mut cpe, SSID1, &"a".repeat(32)).await;
    cpe.run(&mut acs, Duration::from_secs(10)).await;
    let sizes: Vec<usize> = cpe.datagrams.iter().map(|(_, d)| d.payload.len()).collect();
    assert_eq!(sizes.len(), 2, "{sizes:?}");
    assert!(sizes.iter().all(|n| *n <= 600), "{sizes:?}");
    let mut names: Vec<String> = cpe
        .datagrams
        .iter()
        .flat_map(|(_, d)| open(d).params)
        .map(|(name, _)| name)
        .collect();
    names.sort();
    assert_eq!(names, [SSID1, SSID2]);
    assert_eq!(cpe.session.dropped_changes(), 0);

    // A value too big for any datagram is dropped and counted.
    let mut limits = SessionLimits::default();
    limits.max_datagram_bytes = 100;
    let mut small = Cpe::boot(SessionConfig::default().with_limits(limits)).await;
    let mut acs = ScriptedAcs::new();
    acs.push(use_udp());
    acs.push(attributes(&[(SSID1, Notification::ActiveLightweight)]));
    small.run(&mut acs, Duration::from_secs(10)).await;
    device_sets(&mut small, SSID1, "x").await;
    small.run(&mut acs, Duration::from_secs(10)).await;
    assert!(small.datagrams.is_empty());
    assert_eq!(small.session.dropped_changes(), 1);
}

#[tokio::test(flavor = "current_thread")]
async fn turning_them_off_drops_what_is_pending() {
    let mut cpe = Cpe::boot(SessionConfig::default()).await;
    let mut acs = enabled(&mut cpe).await;
    device_sets(&mut cpe, SSID2, "Pending").await;

    // Off and on again: the pending passive change is gone, the attributes stay.
    acs.push(management(&[(
        "LightweightNotificationProtocolsUsed",
        "",
        ValueType::String,
    )]));
    acs.push(use_udp());
    cpe.session.handle_input(Input::ConnectionRequest).unwrap();
    cpe.run(&mut acs, Duration::from_secs(10)).await;
    device_sets(&mut cpe, SSID1, "Now").await;
    cpe.run(&mut acs, Duration::from_secs(10)).await;
    assert_eq!(cpe.datagrams.len(), 1);
    assert_eq!(
        open(&cpe.datagrams[0].1).params,
        [(SSID1.to_owned(), "Now".to_owned())]
    );
}

/// The sorted parameters of every datagram sent.
fn sent_params(cpe: &Cpe) -> Vec<(String, String)> {
    let mut params: Vec<(String, String)> = cpe
        .datagrams
        .iter()
        .flat_map(|(_, d)| open(d).params)
        .collect();
    params.sort();
    params
}

#[tokio::test(flavor = "current_thread")]
async fn the_queue_survives_a_restart() {
    let mut cpe = Cpe::boot(SessionConfig::default()).await;
    let mut acs = enabled(&mut cpe).await;

    // A passive one waits, and is saved (the name only).
    device_sets(&mut cpe, SSID2, "Queued").await;
    cpe.run(&mut acs, Duration::from_secs(10)).await;
    assert!(cpe.datagrams.is_empty());
    let saved = cpe.saved.clone().unwrap();
    assert_eq!(saved.lightweight_changed, [SSID2]);
    assert!(!saved.lightweight_due);

    // After a power cycle it still waits, and goes with the next active one.
    let mut cpe = cpe.power_cycle().await;
    cpe.run(&mut acs, Duration::from_secs(100)).await;
    assert!(cpe.datagrams.is_empty());
    device_sets(&mut cpe, SSID1, "Active").await;
    cpe.run(&mut acs, Duration::from_secs(10)).await;
    assert_eq!(
        sent_params(&cpe),
        [
            (SSID1.to_owned(), "Active".to_owned()),
            (SSID2.to_owned(), "Queued".to_owned())
        ]
    );
    let saved = cpe.saved.clone().unwrap();
    assert!(saved.lightweight_changed.is_empty());
    assert!(!saved.lightweight_due);

    // An active one whose values were being read when the power went: the state taken then
    // says it is due, and after the restart it goes at once.
    device_sets(&mut cpe, SSID1, "InFlight").await;
    let state = cpe.session.persisted_state();
    assert_eq!(state.lightweight_changed, [SSID1]);
    assert!(state.lightweight_due);
    let json = serde_json::to_string(&state).unwrap();
    let mut cpe = Cpe::boot_on(
        cpe.sim.clone(),
        SessionConfig::default(),
        Some(serde_json::from_str(&json).unwrap()),
        origin(),
    )
    .await;
    cpe.run(&mut acs, Duration::from_secs(1)).await;
    assert_eq!(
        sent_params(&cpe),
        [(SSID1.to_owned(), "InFlight".to_owned())]
    );
    assert_eq!(cpe.session.dropped_changes(), 0);
}

#[tokio::test(flavor = "current_thread")]
async fn a_garbled_saved_queue_is_checked_and_bounded() {
    let mut cpe = Cpe::boot(SessionConfig::default()).await;
    let mut acs = enabled(&mut cpe).await;
    device_sets(&mut cpe, SSID2, "Two").await;
    device_sets(&mut cpe, SSID1, "One").await;
    let mut state: PersistedState = cpe.saved.clone().unwrap();

    // Names that are no parameter of the model, a repeat and an object are dropped and
    // counted; the rest is sent.
    state.lightweight_changed = [
        "Device.Bogus.Thing",
        SSID2,
        "not a path",
        "",
        SSID2,
        "Device.WiFi.SSID.1.",
        SSID1,
    ]
    .map(String::from)
    .to_vec();
    state.lightweight_due = true;
    let mut restarted = Cpe::boot_on(
        cpe.sim.clone(),
        SessionConfig::default(),
        Some(state.clone()),
        origin(),
    )
    .await;
    assert_eq!(restarted.session.dropped_changes(), 5);
    restarted.run(&mut acs, Duration::from_secs(1)).await;
    assert_eq!(
        sent_params(&restarted),
        [
            (SSID1.to_owned(), "One".to_owned()),
            (SSID2.to_owned(), "Two".to_owned())
        ]
    );

    // Beyond the limit, the newest are kept.
    let mut limits = SessionLimits::default();
    limits.max_changed_parameters = 1;
    let mut bounded = Cpe::boot_on(
        cpe.sim.clone(),
        SessionConfig::default().with_limits(limits),
        Some(state),
        origin(),
    )
    .await;
    assert_eq!(bounded.session.dropped_changes(), 6);
    bounded.run(&mut acs, Duration::from_secs(1)).await;
    assert_eq!(
        sent_params(&bounded),
        [(SSID1.to_owned(), "One".to_owned())]
    );

    // A state saved before the queue was kept has none.
    let mut json: serde_json::Value = serde_json::to_value(PersistedState::default()).unwrap();
    let object = json.as_object_mut().unwrap();
    object.remove("lightweight_changed");
    object.remove("lightweight_due");
    let old: PersistedState = serde_json::from_value(json).unwrap();
    assert_eq!(old, PersistedState::default());
}
