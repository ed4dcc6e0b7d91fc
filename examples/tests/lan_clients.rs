//! End to end: the LAN clients of `[[device.client]]` on the `cpe-agent` binary's simulated
//! gateway, as a scripted ACS and a USP controller see them: a Wi-Fi client and a wired one
//! that gave DHCP option 125. The ACS reads `Device.ManagementServer.ManageableDevice.` and
//! gets one row, with the identity and `Host` naming the `Device.Hosts.Host.{i}` of its MAC
//! (TR-069 Annex F); a USP Get sees both clients in `Device.Hosts.Host.`, the Wi-Fi one
//! associated with its access point and both leased from the DHCPv4 pool.
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

use cwmp_core::codec::{Body as CwmpBody, ParameterValue};
use serde_json::Value;

use common::{Acs, AgentProcess, Controller, get, gpv, param};

const TABLE: &str = "Device.ManagementServer.ManageableDevice.";
const COUNT: &str = "Device.ManagementServer.ManageableDeviceNumberOfEntries";
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
