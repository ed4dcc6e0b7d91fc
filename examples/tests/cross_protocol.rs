//! End to end across the two protocols, over one data model: the `cpe-agent` binary with
//! both its USP WebSocket server and its CWMP client (`--acs-url` pointing at a scripted
//! ACS in this test), a USP controller built with rusp-lib, and the ACS.
//!
//! - CWMP → USP: the controller subscribes to `ValueChange` of `Device.WiFi.SSID.1.SSID`
//!   while the ACS holds its answer to the CPE's empty POST of the bootstrap session; the
//!   ACS then sets that parameter with SetParameterValues (Status 0) and ends with 204; the
//!   controller must get a Notify for its subscription with exactly that path and value.
//! - USP → CWMP: in the same session the ACS makes `Device.WiFi.SSID.2.SSID` active
//!   (SetParameterAttributes, Notification 2); the controller Sets it; the CPE must open a
//!   new session whose Inform carries `4 VALUE CHANGE` and the new value.
//!
//! Nothing else happens in between that could wake the other protocol's driver: the change
//! itself must (each driver wakes the agent's device task after its engine requests, and the
//! device task tells every driver when the change log moved). Every wait is bounded.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    // The test bounds its waits on the real clock, as the agent it drives does.
    clippy::disallowed_methods,
    missing_docs
)]

mod common;

use std::time::Duration;

use serde_json::Value;

use cwmp_core::codec::{Body as CwmpBody, Notification, Status};

use common::{
    Acs, AgentProcess, Controller, add, added_path, codes, get, get_params, notifications, param,
    set, spv,
};

/// Set by the ACS, watched by the USP controller.
const FROM_ACS: &str = "Device.WiFi.SSID.1.SSID";
/// Set by the USP controller, watched (active notification) by the ACS.
const FROM_USP: &str = "Device.WiFi.SSID.2.SSID";

/// How long a change may take to reach the other protocol.
const PROMPT: Duration = Duration::from_secs(10);

#[tokio::test(flavor = "current_thread")]
async fn changes_cross_protocols_promptly() {
    tokio::time::timeout(Duration::from_secs(90), scenario())
        .await
        .expect("the scenario took too long");
}

/// The scenario.
async fn scenario() {
    let dir = tempfile::tempdir().unwrap();
    let mut acs = Acs::start().await;
    // The ACS waits for the controller's subscription before it reads its script.
    let release = acs.hold_next_empty_post();
    let mut agent =
        AgentProcess::start(dir.path(), &["--acs-url", &acs.url, "--cr-port", "0"]).await;

    // Session 1 starts: bootstrap Inform, then the CPE's empty POST (held).
    let inform = acs.next_inform().await;
    assert!(
        codes(&inform).contains(&"0 BOOTSTRAP".to_owned()),
        "{:?}",
        codes(&inform)
    );
    assert!(acs.next_post().await.is_none(), "the CPE's empty POST");

    // Meanwhile the USP controller subscribes to value changes of FROM_ACS.
    let mut ctrl = Controller::connect(&agent.url).await;
    let body = ctrl
        .request(add(
            "Device.LocalAgent.Subscription.",
            &[
                ("ID", "x-vc"),
                ("NotifType", "ValueChange"),
                ("ReferenceList", FROM_ACS),
                ("Enable", "true"),
            ],
        ))
        .await;
    added_path(&body);
    let body = ctrl.request(get(&[FROM_ACS, FROM_USP])).await;
    let before = get_params(&body);
    assert_ne!(before["SSID"], "FromTheACS", "{body}");

    // The ACS goes on: SetParameterAttributes (FROM_USP active), SetParameterValues, 204.
    acs.push(notifications(&[(FROM_USP, Notification::Active)]));
    acs.push(spv(FROM_ACS, "FromTheACS", "pk-x"));
    release.send(()).unwrap();
    match acs.next_post().await.map(|e| e.body) {
        Some(CwmpBody::SetParameterAttributesResponse) => {}
        other => panic!("expected SetParameterAttributesResponse, got {other:?}"),
    }
    match acs.next_post().await.map(|e| e.body) {
        Some(CwmpBody::SetParameterValuesResponse(r)) => assert_eq!(r.status, Status::Applied),
        other => panic!("expected SetParameterValuesResponse, got {other:?}"),
    }
    agent.wait_line("CWMP session ended").await;

    // CWMP → USP: the controller is told, with exactly that path and value.
    let notify = tokio::time::timeout(PROMPT, ctrl.notify(|n| n["subscription_id"] == "x-vc"))
        .await
        .expect("no ValueChange Notify for the ACS's SetParameterValues in time");
    let change = &notify["value_change"];
    assert_eq!(change["param_path"], FROM_ACS, "{notify}");
    assert_eq!(change["param_value"], "FromTheACS", "{notify}");

    // USP → CWMP: a USP Set of the parameter the ACS made active starts a session.
    let body = ctrl
        .request(set("Device.WiFi.SSID.2.", "SSID", "FromTheController"))
        .await;
    assert!(body["Response"]["SetResp"].is_object(), "{body}");
    let inform = tokio::time::timeout(PROMPT, acs.next_inform())
        .await
        .expect("no 4 VALUE CHANGE session for the controller's Set in time");
    let events = codes(&inform);
    assert!(events.contains(&"4 VALUE CHANGE".to_owned()), "{events:?}");
    assert!(!events.contains(&"0 BOOTSTRAP".to_owned()), "{events:?}");
    assert_eq!(
        param(&inform.parameter_list, FROM_USP),
        Some("FromTheController"),
        "{:?}",
        inform.parameter_list
    );
    assert!(acs.next_post().await.is_none(), "the CPE's empty POST");
    agent.wait_line("CWMP session ended").await;

    // Both values read back over USP, and no Notify for the parameter the controller did
    // not subscribe to.
    let body = ctrl.request(get(&["Device.WiFi.SSID.*.SSID"])).await;
    let results = &body["Response"]["GetResp"]["req_path_results"][0]["resolved_path_results"];
    let values: Vec<&Value> = results
        .as_array()
        .unwrap()
        .iter()
        .map(|r| &r["result_params"]["SSID"])
        .collect();
    assert_eq!(values, ["FromTheACS", "FromTheController"], "{body}");
    // (The OnBoardRequest of the factory device's controller row aside.)
    assert!(
        ctrl.kept_notifies()
            .iter()
            .all(|n| n["Body"]["Request"]["Notify"]["on_board_req"].is_object()),
        "{:?}",
        ctrl.kept_notifies()
    );
    drop(ctrl);
    agent.stop().await;
}
