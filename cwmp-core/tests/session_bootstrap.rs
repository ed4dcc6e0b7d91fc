//! The first session of a factory-fresh device: `0 BOOTSTRAP` + `1 BOOT`, DeviceId and
//! forced inform parameters read through the engine, HTTP headers, cookies, one envelope per
//! POST, the 204 end, and the bootstrap remembered afterwards.
#![allow(clippy::unwrap_used, clippy::panic, clippy::indexing_slicing)]

mod support;

use std::time::Duration;

use cwmp_core::codec::{Body, EventCode};
use cwmp_core::session::{Event, SessionConfig};
use support::{Cpe, ScriptedAcs, codes, param};

#[tokio::test(flavor = "current_thread")]
async fn bootstrap_inform_and_clean_end() {
    let mut cpe = Cpe::boot(SessionConfig::default()).await;
    let mut acs = ScriptedAcs::new();
    acs.cookie = true;
    acs.max_envelopes = 2; // Thomson-style: the CPE ignores it.
    acs.push(Body::GetRpcMethods);
    cpe.run(&mut acs, Duration::from_secs(10)).await;

    let informs = acs.informs();
    assert_eq!(informs.len(), 1);
    let (at, inform) = &informs[0];
    assert_eq!(*at, Duration::ZERO, "the first session starts at once");
    assert_eq!(codes(inform), ["0 BOOTSTRAP", "1 BOOT"]);
    assert_eq!(inform.device_id.manufacturer, "Acme Networks");
    assert_eq!(inform.device_id.oui, "00D09E");
    assert_eq!(inform.device_id.product_class, "HG");
    assert_eq!(inform.device_id.serial_number, "SIM0001");
    assert_eq!(inform.max_envelopes, 1);
    assert_eq!(inform.retry_count, 0);
    assert_eq!(inform.current_time, "2025-01-01T00:00:00Z");
    assert_eq!(
        param(inform, "Device.DeviceInfo.SoftwareVersion"),
        Some("1.0.0")
    );
    assert_eq!(
        param(inform, "Device.DeviceInfo.HardwareVersion"),
        Some("1.0")
    );
    assert!(param(inform, "Device.ManagementServer.ParameterKey").is_some());
    let first = &acs.received[0].request;
    assert_eq!(first.url, support::ACS_URL);
    assert_eq!(
        first.header("Content-Type"),
        Some("text/xml; charset=\"utf-8\"")
    );
    assert_eq!(first.header("SOAPAction"), Some(""));
    let envelope = acs.received[0].envelope.as_ref().unwrap();
    assert!(envelope.header.id.is_some());
    assert_eq!(envelope.header.session_timeout, Some(30));
    assert!(envelope.header.supported_cwmp_versions.is_some());

    // POSTs: Inform, empty (after InformResponse), GetRPCMethodsResponse; then 204 ends it.
    assert_eq!(acs.received.len(), 3);
    assert!(acs.received[1].envelope.is_none());
    assert!(acs.received[1].request.body.is_empty());
    assert!(acs.received[1].request.header("Content-Type").is_none());
    match &acs.received[2].envelope.as_ref().unwrap().body {
        Body::GetRpcMethodsResponse(r) => {
            assert!(r.method_list.iter().any(|m| m == "GetParameterValues"));
            assert!(r.method_list.iter().any(|m| m == "GetAllQueuedTransfers"));
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(
        acs.received[2]
            .envelope
            .as_ref()
            .unwrap()
            .header
            .id
            .as_deref(),
        Some("acs-1"),
        "the response echoes the request's ID"
    );
    let ends = cpe.ends();
    assert_eq!(ends.len(), 1);
    assert_eq!(ends[0].failure, None);
    assert!(!cpe.session.in_session());
    assert!(cpe.events.iter().any(|e| matches!(
        e,
        Event::SessionStarted { events } if events.iter().any(|e| e.event_code == EventCode::Bootstrap)
    )));

    // The bootstrap is remembered; nothing is pending, so no new session in the next hour
    // (the factory periodic interval is 3600 s).
    let saved = cpe.saved.clone().unwrap();
    assert!(saved.bootstrapped);
    assert!(saved.events.is_empty());
    assert_eq!(saved.retry_count, 0);
    cpe.run(&mut acs, Duration::from_secs(3000)).await;
    assert_eq!(acs.informs().len(), 1);
}

#[tokio::test(flavor = "current_thread")]
async fn a_new_acs_url_means_a_new_bootstrap() {
    let mut cpe = Cpe::boot(SessionConfig::default()).await;
    let mut acs = ScriptedAcs::new();
    acs.push(support::spv(
        "Device.ManagementServer.URL",
        "https://acs2.example.net/cwmp",
        "pk-url",
    ));
    cpe.run(&mut acs, Duration::from_secs(10)).await;
    let informs = acs.informs();
    assert_eq!(informs.len(), 2, "a second session to the new ACS");
    assert_eq!(codes(&informs[1].1), ["0 BOOTSTRAP"]);
    assert_eq!(
        param(&informs[1].1, "Device.ManagementServer.ParameterKey"),
        Some("pk-url")
    );
    assert_eq!(
        acs.received.last().unwrap().request.url,
        "https://acs2.example.net/cwmp"
    );
}
