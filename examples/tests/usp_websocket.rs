//! End to end: the `cpe-agent` binary, started on a temporary state directory and a free
//! port, against a USP controller built with rusp-lib (an independent codec) over
//! tokio-tungstenite with the `v1.usp` subprotocol.
//!
//! It does Get, Set, Add, Delete, GetSupportedDM, GetInstances and an asynchronous Operate
//! with its OperationComplete notification, then stops the agent with SIGTERM, starts it
//! again on the same state directory and checks what survived. Every wait is bounded.
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

use futures_util::{SinkExt as _, StreamExt as _};
use rusp_lib::usp_builder::{
    DeleteBuilder, GetInstancesBuilder, GetSupportedDMBuilder, OperateBuilder,
};
use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::client::IntoClientRequest as _;

use common::{AgentProcess, CTRL, Controller, WAIT, add, added_path, get, get_params, s, set};

#[tokio::test(flavor = "current_thread")]
async fn controller_manages_the_agent_over_websocket_across_a_restart() {
    tokio::time::timeout(Duration::from_secs(120), scenario())
        .await
        .expect("the scenario took too long");
}

async fn scenario() {
    let state = tempfile::tempdir().unwrap();
    let agent = AgentProcess::start(state.path(), &[]).await;
    let mut ctrl = Controller::connect(&agent.url).await;

    // Get
    let body = ctrl
        .request(get(&[
            "Device.DeviceInfo.SerialNumber",
            "Device.LocalAgent.EndpointID",
        ]))
        .await;
    assert_eq!(get_params(&body)["SerialNumber"], "SIM0001", "{body}");
    assert_eq!(ctrl.connect_records, 1, "a WebSocketConnect Record first");

    // Set, then Get it back
    let body = ctrl
        .request(set("Device.WiFi.SSID.1.", "SSID", "e2e-ssid"))
        .await;
    assert!(body["Response"]["SetResp"].is_object(), "{body}");
    let body = ctrl.request(get(&["Device.WiFi.SSID.1.SSID"])).await;
    assert_eq!(get_params(&body)["SSID"], "e2e-ssid", "{body}");

    // Add a persistent subscription to IPPing()'s completion
    let body = ctrl
        .request(add(
            "Device.LocalAgent.Subscription.",
            &[
                ("ID", "e2e-op"),
                ("NotifType", "OperationComplete"),
                ("ReferenceList", "Device.IP.Diagnostics.IPPing()"),
                ("Persistent", "true"),
                ("Enable", "true"),
            ],
        ))
        .await;
    let subscription = added_path(&body);

    // Add and Delete a row
    let body = ctrl
        .request(add("Device.NAT.PortMapping.", &[("Description", "e2e")]))
        .await;
    let mapping = added_path(&body);
    let delete = DeleteBuilder::new()
        .with_obj_paths(vec![mapping.clone()])
        .build()
        .unwrap();
    let body = ctrl.request(delete).await;
    let deleted = &body["Response"]["DeleteResp"]["deleted_obj_results"][0];
    assert_eq!(
        deleted["oper_status"]["oper_success"]["affected_paths"][0],
        mapping.as_str(),
        "{body}"
    );

    // GetSupportedDM: IPPing() is an asynchronous command
    let gsdm = GetSupportedDMBuilder::new()
        .with_obj_paths(vec![s("Device.IP.Diagnostics.")])
        .with_first_level_only(true)
        .with_return_commands(true)
        .with_return_params(true)
        .build()
        .unwrap();
    let body = ctrl.request(gsdm).await;
    let objects = &body["Response"]["GetSupportedDMResp"]["req_obj_results"][0]["supported_objs"];
    let commands = objects[0]["supported_commands"].as_array().unwrap();
    let ping = commands
        .iter()
        .find(|c| c["command_name"] == "IPPing()")
        .unwrap_or_else(|| panic!("no IPPing() in {body}"));
    assert_eq!(ping["command_type"], "CMD_ASYNC", "{body}");

    // GetInstances
    let instances = GetInstancesBuilder::new()
        .with_obj_paths(vec![s("Device.LocalAgent.Subscription.")])
        .with_first_level_only(true)
        .build()
        .unwrap();
    let body = ctrl.request(instances).await;
    let rows = body["Response"]["GetInstancesResp"]["req_path_results"][0]["curr_insts"]
        .as_array()
        .unwrap_or_else(|| panic!("{body}"));
    assert!(
        rows.iter()
            .any(|r| r["instantiated_obj_path"] == subscription.as_str()),
        "{body}"
    );

    // Operate IPPing() asynchronously, then its OperationComplete
    let operate = OperateBuilder::new(s("Device.IP.Diagnostics.IPPing()"))
        .with_command_key(s("e2e-ping"))
        .with_send_resp(true)
        .with_input_args(vec![
            (s("Host"), s("127.0.0.1")),
            (s("NumberOfRepetitions"), s("2")),
            (s("DataBlockSize"), s("64")),
            (s("ProtocolVersion"), s("Any")),
            (s("Timeout"), s("1000")),
        ])
        .build()
        .unwrap();
    let body = ctrl.request(operate).await;
    let result = &body["Response"]["OperateResp"]["operation_results"][0];
    assert_eq!(
        result["executed_command"], "Device.IP.Diagnostics.IPPing()",
        "{body}"
    );
    assert!(
        result["req_obj_path"]
            .as_str()
            .is_some_and(|p| p.starts_with("Device.LocalAgent.Request.")),
        "{body}"
    );
    let done = ctrl
        .notify(|n| n["oper_complete"]["command_key"] == "e2e-ping")
        .await;
    assert_eq!(done["subscription_id"], "e2e-op", "{done}");
    let output = &done["oper_complete"]["req_output_args"]["output_args"];
    assert_eq!(output["SuccessCount"], "2", "{done}");
    assert_eq!(output["Status"], "Complete", "{done}");

    // Restart on the same state directory
    drop(ctrl);
    agent.stop().await;
    let agent = AgentProcess::start(state.path(), &[]).await;
    let mut ctrl = Controller::connect(&agent.url).await;
    let body = ctrl.request(get(&["Device.WiFi.SSID.1.SSID"])).await;
    assert_eq!(get_params(&body)["SSID"], "e2e-ssid", "{body}");
    let body = ctrl.request(get(&[&format!("{subscription}ID")])).await;
    assert_eq!(get_params(&body)["ID"], "e2e-op", "{body}");
    // Instance numbers are not reused after a restart.
    let body = ctrl
        .request(add("Device.NAT.PortMapping.", &[("Description", "again")]))
        .await;
    let again = added_path(&body);
    assert!(
        instance(&again) > instance(&mapping),
        "{again} after {mapping}"
    );
    agent.stop().await;
}

fn instance(path: &str) -> u32 {
    path.trim_end_matches('.')
        .rsplit('.')
        .next()
        .unwrap()
        .parse()
        .unwrap()
}

#[tokio::test(flavor = "current_thread")]
async fn websocket_rules_of_the_usp_binding() {
    let state = tempfile::tempdir().unwrap();
    let agent = AgentProcess::start(state.path(), &[]).await;
    let addr = agent
        .url
        .strip_prefix("ws://")
        .and_then(|rest| rest.split('/').next())
        .unwrap()
        .to_owned();

    // Without the v1.usp subprotocol there is no USP session (R-WS.9).
    let stream = TcpStream::connect(&addr).await.unwrap();
    let request = format!("{}?eid={CTRL}", agent.url)
        .into_client_request()
        .unwrap();
    let refused = tokio::time::timeout(WAIT, tokio_tungstenite::client_async(request, stream))
        .await
        .unwrap();
    match refused {
        Err(tokio_tungstenite::tungstenite::Error::Http(response)) => {
            assert_eq!(response.status(), 400);
        }
        other => panic!("expected an HTTP 400, got {:?}", other.map(|_| ())),
    }

    // A text message closes the connection with 1003 (R-WS.16).
    let mut ctrl = Controller::connect(&agent.url).await;
    ctrl.ws.send(Message::Text("hello".into())).await.unwrap();
    let closed = loop {
        let frame = tokio::time::timeout(WAIT, ctrl.ws.next())
            .await
            .unwrap()
            .unwrap()
            .unwrap();
        if let Message::Close(frame) = frame {
            break frame.unwrap();
        }
    };
    assert_eq!(u16::from(closed.code), 1003);

    // The agent still serves a well-behaved controller.
    let mut ctrl = Controller::connect(&agent.url).await;
    let body = ctrl.request(get(&["Device.DeviceInfo.SerialNumber"])).await;
    assert_eq!(get_params(&body)["SerialNumber"], "SIM0001", "{body}");
    agent.stop().await;
}
