//! End to end: the LAN clients of `[[device.client]]` on the `cpe-agent` binary's simulated
//! gateway, as a scripted ACS and a USP controller see them.
//!
//! - A Wi-Fi client and a wired one that gave DHCP option 125: the ACS reads
//!   `Device.ManagementServer.ManageableDevice.` and gets one row, with the identity and
//!   `Host` naming the `Device.Hosts.Host.{i}` of its MAC (TR-069 Annex F); a USP Get sees
//!   both clients in `Device.Hosts.Host.`, the Wi-Fi one associated with its access point and
//!   both leased from the DHCPv4 pool.
//! - The wired one joining a second after the start (`join_after_s`), then, in the next run,
//!   leaving a second after it (`leave_after_s`): the ACS, which turned on Active Notification
//!   of `ManageableDeviceNumberOfEntries` in a first run (attributes are kept across
//!   restarts), gets `4 VALUE CHANGE` with the count 1, then 0; a controller, subscribed in
//!   that first run (`Persistent` subscriptions), gets `ObjectCreation` of the host's
//!   `Device.Hosts.Host.{i}.`, then `ObjectDeletion` of that row, and `ValueChange` of
//!   `Device.Hosts.HostNumberOfEntries` each time. The clients move on the agent's own timers,
//!   so each run waits for what the peers are told, not for a time: a Notify sent before the
//!   controller connects is queued for it.
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

use std::path::Path;
use std::time::Duration;

use cwmp_core::codec::{Body as CwmpBody, Notification, ParameterValue};
use serde_json::Value;

use common::{
    Acs, AgentProcess, Controller, add, added_path, codes, get, gpv, notifications, param,
};

const TABLE: &str = "Device.ManagementServer.ManageableDevice.";
const COUNT: &str = "Device.ManagementServer.ManageableDeviceNumberOfEntries";
const HOSTS: &str = "Device.Hosts.Host.";
const HOST_COUNT: &str = "Device.Hosts.HostNumberOfEntries";
const PHONE: &str = "02:00:00:00:00:0A";
const STB: &str = "02:00:00:00:00:0B";

/// The phone on access point 2, the set-top box wired with its option-125 identity.
const CLIENTS: &str = r#"
[[device.client]]
mac = "02:00:00:00:00:0A"
ip = "192.168.1.150"
hostname = "phone"
access_point = 2

[[device.client]]
mac = "02:00:00:00:00:0B"
ip = "192.168.1.151"
hostname = "stb"
oui = "00D09F"
serial_number = "STB42"
product_class = "STB"
"#;

/// Starts the agent with `config` (the text of its file) and CWMP towards `acs`.
async fn start(dir: &Path, acs: &Acs, config: &str) -> AgentProcess {
    let file = dir.join("cpe-agent.toml");
    std::fs::write(&file, config).unwrap();
    let state = dir.join("state");
    let args = [
        "--config",
        file.to_str().unwrap(),
        "--acs-url",
        &acs.url,
        "--cr-port",
        "0",
    ];
    AgentProcess::start(&state, &args).await
}

/// The ACS's next POST must be a GetParameterValuesResponse: its list.
async fn gpv_response(acs: &mut Acs) -> Vec<ParameterValue> {
    match acs.next_post().await.map(|e| e.body) {
        Some(CwmpBody::GetParameterValuesResponse(r)) => r.parameter_list,
        other => panic!("expected GetParameterValuesResponse, got {other:?}"),
    }
}

/// The `result_params` of every object a USP Get of `path` resolved (sub-objects too).
async fn usp_rows(ctrl: &mut Controller, path: &str) -> Vec<Value> {
    let body = ctrl.request(get(&[path])).await;
    let result = &body["Response"]["GetResp"]["req_path_results"][0];
    assert_eq!(result["err_code"], 0, "{body}");
    let objects = result["resolved_path_results"].as_array().unwrap();
    objects.iter().map(|o| o["result_params"].clone()).collect()
}

#[tokio::test(flavor = "current_thread")]
async fn the_acs_and_a_controller_see_the_configured_clients() {
    common::within(Duration::from_secs(90), configured_clients()).await;
}

async fn configured_clients() {
    let dir = tempfile::tempdir().unwrap();
    let mut acs = Acs::start().await;
    acs.push(gpv(&[COUNT, TABLE, "Device.Hosts.Host."]));
    let mut agent = start(dir.path(), &acs, CLIENTS).await;
    acs.next_inform().await;
    assert!(acs.next_post().await.is_none(), "the CPE's empty POST");
    let list = gpv_response(&mut acs).await;
    agent.wait_line("CWMP session ended").await;

    // One manageable device: the set-top box, its Host the row of its MAC.
    assert_eq!(param(&list, COUNT), Some("1"), "{list:?}");
    let row = |name: &str| param(&list, &format!("{TABLE}1.{name}"));
    assert_eq!(row("ManufacturerOUI"), Some("00D09F"), "{list:?}");
    assert_eq!(row("SerialNumber"), Some("STB42"));
    assert_eq!(row("ProductClass"), Some("STB"));
    assert!(param(&list, &format!("{TABLE}2.SerialNumber")).is_none());
    let host = row("Host").unwrap();
    assert!(host.starts_with("Device.Hosts.Host."), "{host:?}");
    assert_eq!(param(&list, &format!("{host}.PhysAddress")), Some(STB));
    assert_eq!(param(&list, &format!("{host}.HostName")), Some("stb"));
    assert_eq!(
        param(&list, &format!("{host}.IPAddress")),
        Some("192.168.1.151")
    );

    // USP: both hosts, the phone on access point 2 only, both leased from pool 1.
    let mut ctrl = Controller::connect(&agent.url).await;
    let hosts = usp_rows(&mut ctrl, "Device.Hosts.Host.").await;
    // (The rows' sub-objects, `IPv4Address.{i}.` and the like, have no PhysAddress.)
    let mut names: Vec<(&str, &str)> = hosts
        .iter()
        .filter(|h| h.get("PhysAddress").is_some())
        .map(|h| {
            let text = |name: &str| h[name].as_str().unwrap();
            (text("PhysAddress"), text("HostName"))
        })
        .collect();
    names.sort_unstable();
    assert_eq!(names, [(PHONE, "phone"), (STB, "stb")]);
    let macs = |rows: Vec<Value>, name: &str| -> Vec<String> {
        let mut macs: Vec<String> = rows
            .iter()
            .filter_map(|row| Some(row.get(name)?.as_str()?.to_owned()))
            .collect();
        macs.sort_unstable();
        macs
    };
    let ap1 = usp_rows(&mut ctrl, "Device.WiFi.AccessPoint.1.AssociatedDevice.").await;
    let ap2 = usp_rows(&mut ctrl, "Device.WiFi.AccessPoint.2.AssociatedDevice.").await;
    assert_eq!(macs(ap1, "MACAddress"), Vec::<String>::new());
    assert_eq!(macs(ap2, "MACAddress"), [PHONE]);
    let leases = usp_rows(&mut ctrl, "Device.DHCPv4.Server.Pool.1.Client.").await;
    assert_eq!(macs(leases, "Chaddr"), [PHONE, STB]);
    drop(ctrl);
    agent.stop().await;
}

#[tokio::test(flavor = "current_thread")]
async fn a_client_joining_then_leaving_is_notified_to_the_acs_and_a_controller() {
    common::within(Duration::from_secs(150), joining_then_leaving()).await;
}

/// The set-top box of [`CLIENTS`] alone, coming and going as `timing` (its keys) says.
fn stb(timing: &str) -> String {
    format!(
        "[[device.client]]\nmac = \"{STB}\"\nip = \"192.168.1.151\"\nhostname = \"stb\"\n\
         oui = \"00D09F\"\nserial_number = \"STB42\"\n{timing}"
    )
}

/// Answers the CPE's sessions until an Inform carries `COUNT`: it must be `4 VALUE CHANGE`
/// with `count`. (A boot session may carry other changes, such as a new
/// `ConnectionRequestURL`.)
async fn count_notified(acs: &mut Acs, count: &str) {
    loop {
        let Some(CwmpBody::Inform(inform)) = acs.next_post().await.map(|e| e.body) else {
            continue;
        };
        if let Some(value) = param(&inform.parameter_list, COUNT) {
            assert_eq!(value, count, "{inform:?}");
            let events = codes(&inform);
            assert!(events.contains(&"4 VALUE CHANGE".to_owned()), "{events:?}");
            return;
        }
    }
}

async fn joining_then_leaving() {
    let dir = tempfile::tempdir().unwrap();
    let mut acs = Acs::start().await;

    // First run: the set-top box would come in a day. The ACS turns on Active Notification
    // of the count, the controller subscribes to the hosts coming and going.
    acs.push(notifications(&[(COUNT, Notification::Active)]));
    acs.push(gpv(&[COUNT]));
    let mut agent = start(dir.path(), &acs, &stb("join_after_s = 86400\n")).await;
    acs.next_inform().await;
    assert!(acs.next_post().await.is_none(), "the CPE's empty POST");
    match acs.next_post().await.map(|e| e.body) {
        Some(CwmpBody::SetParameterAttributesResponse) => {}
        other => panic!("expected SetParameterAttributesResponse, got {other:?}"),
    }
    assert_eq!(param(&gpv_response(&mut acs).await, COUNT), Some("0"));
    agent.wait_line("CWMP session ended").await;
    let mut ctrl = Controller::connect(&agent.url).await;
    for (id, kind, reference) in [
        ("joined", "ObjectCreation", HOSTS),
        ("left", "ObjectDeletion", HOSTS),
        ("hosts", "ValueChange", HOST_COUNT),
    ] {
        let subscription = add(
            "Device.LocalAgent.Subscription.",
            &[
                ("ID", id),
                ("NotifType", kind),
                ("ReferenceList", reference),
                ("Persistent", "true"),
                ("Enable", "true"),
            ],
        );
        added_path(&ctrl.request(subscription).await);
    }
    assert!(usp_rows(&mut ctrl, HOSTS).await.is_empty());
    drop(ctrl);
    agent.stop().await;

    // Second run: it joins a second after the start.
    let agent = start(dir.path(), &acs, &stb("join_after_s = 1\n")).await;
    count_notified(&mut acs, "1").await;
    let mut ctrl = Controller::connect(&agent.url).await;
    // (Its sub-objects, `IPv4Address.{i}.`, are created too.)
    let created = ctrl
        .notify(|n| {
            n["subscription_id"] == "joined"
                && n["obj_creation"]["unique_keys"]["PhysAddress"] == STB
        })
        .await;
    let host = created["obj_creation"]["obj_path"]
        .as_str()
        .unwrap()
        .to_owned();
    assert!(host.starts_with(HOSTS), "{created}");
    let hosts = ctrl.notify(|n| n["subscription_id"] == "hosts").await;
    assert_eq!(hosts["value_change"]["param_path"], HOST_COUNT, "{hosts}");
    assert_eq!(hosts["value_change"]["param_value"], "1", "{hosts}");
    drop(ctrl);
    agent.stop().await;

    // Third run: there from the start, it leaves a second after.
    let agent = start(dir.path(), &acs, &stb("leave_after_s = 1\n")).await;
    count_notified(&mut acs, "0").await;
    let mut ctrl = Controller::connect(&agent.url).await;
    ctrl.notify(|n| {
        n["subscription_id"] == "left" && n["obj_deletion"]["obj_path"] == host.as_str()
    })
    .await;
    let hosts = ctrl
        .notify(|n| n["subscription_id"] == "hosts" && n["value_change"]["param_value"] == "0")
        .await;
    assert_eq!(hosts["value_change"]["param_path"], HOST_COUNT, "{hosts}");
    // The row is gone (TR-181 lets a gateway list hosts no longer there, `Active` false;
    // this one does not), as its manageable device went (the count the ACS got).
    assert!(usp_rows(&mut ctrl, HOSTS).await.is_empty());
    drop(ctrl);
    agent.stop().await;
}
