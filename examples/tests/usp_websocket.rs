//! End to end: the `cpe-agent` binary, started on a temporary state directory and a free
//! port, against a USP controller built with rusp-lib (an independent codec) over
//! tokio-tungstenite with the `v1.usp` subprotocol.
//!
//! It does Get, Set, Add, Delete, GetSupportedDM, GetInstances and an asynchronous Operate
//! with its OperationComplete notification, then stops the agent with SIGTERM, starts it
//! again on the same state directory and checks what survived, among it a NotifRetry Notify
//! left unanswered. A slow synchronous Operate of one controller holds up neither another
//! controller nor the answers' order. Every wait is bounded.
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
use rusp_lib::usp_builder::{DeleteBuilder, OperateBuilder};
use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::client::IntoClientRequest as _;

use common::{AgentProcess, CTRL, Controller, WAIT, add, added_path, get, get_params, s, set};

#[tokio::test(flavor = "current_thread")]
async fn controller_manages_the_agent_over_websocket_across_a_restart() {
    common::within(Duration::from_secs(120), across_a_restart()).await;
}

async fn across_a_restart() {
    let state = tempfile::tempdir().unwrap();
    let agent = AgentProcess::start(state.path(), &[]).await;
    let mut ctrl = Controller::connect(&agent.url).await;

    let walked = common::scenario::manage(&mut ctrl).await;
    assert_eq!(ctrl.connect_records, 1, "a WebSocketConnect Record first");
    let (subscription, mapping) = (walked.subscription, walked.mapping);

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
    ctrl.ws().send(Message::Text("hello".into())).await.unwrap();
    let closed = loop {
        let frame = tokio::time::timeout(WAIT, ctrl.ws().next())
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

/// The OnBoardRequest of a device not onboarded, once; a NotifRetry Notify left unanswered is
/// saved beside the store and sent again, with the same `msg_id`, after a restart (R-NOT.1);
/// the NotifyResp then ends its retries.
#[tokio::test(flavor = "current_thread")]
async fn an_unanswered_notify_is_sent_again_after_a_restart() {
    common::within(Duration::from_secs(120), unanswered_notify_survives()).await;
}

async fn unanswered_notify_survives() {
    let state = tempfile::tempdir().unwrap();
    let agent = AgentProcess::start(state.path(), &[]).await;
    let mut ctrl = Controller::connect(&agent.url).await;
    // The factory device's controller row is not onboarded: its first connection carries
    // an OnBoardRequest (R-NOT.5/6). The controller answers it and, onboarding done, sets
    // OnBoardingComplete, so that the next start sends none.
    let onboard = ctrl.notify(|n| n["on_board_req"].is_object()).await;
    let request = &onboard["on_board_req"];
    assert_eq!(onboard["send_resp"], true, "{onboard}");
    assert_eq!(
        (
            &request["oui"],
            &request["product_class"],
            &request["serial_number"]
        ),
        (&"00D09E".into(), &"HG".into(), &"SIM0001".into()),
        "{onboard}"
    );
    let body = ctrl
        .request(set(
            "Device.LocalAgent.Controller.1.",
            "OnBoardingComplete",
            "true",
        ))
        .await;
    assert!(body["Response"]["SetResp"].is_object(), "{body}");
    let body = ctrl
        .request(add(
            "Device.LocalAgent.Subscription.",
            &[
                ("ID", "e2e-retry"),
                ("NotifType", "ValueChange"),
                ("ReferenceList", "Device.WiFi.SSID.1.SSID"),
                ("NotifRetry", "true"),
                ("Persistent", "true"),
                ("Enable", "true"),
            ],
        ))
        .await;
    added_path(&body);
    let body = ctrl
        .request(set("Device.WiFi.SSID.1.", "SSID", "retried"))
        .await;
    assert!(body["Response"]["SetResp"].is_object(), "{body}");
    let changed = |n: &serde_json::Value| n["value_change"]["param_value"] == "retried";
    let sent = ctrl.notify_msg(changed).await;
    let notify = &sent["Body"]["Request"]["Notify"];
    assert_eq!(notify["send_resp"], true, "{sent}");
    assert_eq!(notify["subscription_id"], "e2e-retry", "{sent}");

    // Left unanswered across a restart on the same state directory
    drop(ctrl);
    agent.stop().await;
    let mut agent = AgentProcess::start(state.path(), &[]).await;
    let mut ctrl = Controller::connect(&agent.url).await;
    let again = ctrl.notify_msg(changed).await;
    assert_eq!(
        again["Header"]["msg_id"], sent["Header"]["msg_id"],
        "{again}"
    );
    // Onboarded once: the Records queued at start held no OnBoardRequest (it would have been
    // queued before the restored Notify).
    assert!(
        !ctrl
            .kept_notifies()
            .iter()
            .any(|n| n["Body"]["Request"]["Notify"]["on_board_req"].is_object()),
        "{:?}",
        ctrl.kept_notifies()
    );
    assert_eq!(again["Body"]["Request"]["Notify"], *notify, "{again}");

    ctrl.answer_notify(&again).await;
    let line = agent.wait_line("NotifyAcknowledged").await;
    let msg_id = again["Header"]["msg_id"].as_str().unwrap();
    assert!(line.contains(msg_id), "{line}");
    agent.stop().await;
}

#[tokio::test(flavor = "current_thread")]
async fn a_store_without_roles_gets_the_factory_roles_at_the_next_start() {
    common::within(Duration::from_secs(60), factory_roles_again()).await;
}

/// A store without ControllerTrust roles (one saved before they were enforced, or whose roles
/// a controller deleted) gets the factory defaults at the next start, so that its controllers
/// are not locked out.
async fn factory_roles_again() {
    let state = tempfile::tempdir().unwrap();
    let agent = AgentProcess::start(state.path(), &[]).await;
    let mut ctrl = Controller::connect(&agent.url).await;
    let ssid = |value: &str| set("Device.WiFi.SSID.1.", "SSID", value);
    let body = ctrl.request(ssid("allowed")).await;
    assert!(body["Response"]["SetResp"].is_object(), "{body}");
    let delete = DeleteBuilder::new()
        .with_obj_paths(vec!["Device.LocalAgent.ControllerTrust.Role.1.".into()])
        .build()
        .unwrap();
    let body = ctrl.request(delete).await;
    assert!(body["Response"]["DeleteResp"].is_object(), "{body}");
    let body = ctrl.request(ssid("denied")).await;
    assert_eq!(body["Error"]["err_code"], 7006, "{body}");
    drop(ctrl);
    agent.stop().await;

    let agent = AgentProcess::start(state.path(), &[]).await;
    let mut ctrl = Controller::connect(&agent.url).await;
    let body = ctrl.request(ssid("allowed again")).await;
    assert!(body["Response"]["SetResp"].is_object(), "{body}");
    let body = ctrl
        .request(get(&["Device.LocalAgent.ControllerTrust.Role.2.Name"]))
        .await;
    assert_eq!(get_params(&body)["Name"], "Full Access", "{body}");
    agent.stop().await;
}

/// While controller A's synchronous Operate runs on a slow device, controller B's Get is
/// answered; A's own Get, sent after its Operate, is answered after it.
#[tokio::test(flavor = "current_thread")]
async fn a_slow_operate_holds_up_only_its_own_controller() {
    common::within(Duration::from_secs(60), slow_operate()).await;
}

async fn slow_operate() {
    let state = tempfile::tempdir().unwrap();
    let config = state.path().join("slow.toml");
    // Every command of the simulated hardware takes 3 s more.
    std::fs::write(&config, "[device]\ncommand_delay_ms = 3000\n").unwrap();
    let mut agent = AgentProcess::start(
        state.path(),
        &[
            "--config",
            config.to_str().unwrap(),
            "--controller",
            "proto::b",
            "--log",
            "info,cpe_agent=debug",
        ],
    )
    .await;
    let mut a = Controller::connect(&agent.url).await;
    let mut b = Controller::try_connect_as(&agent.url, None, "proto::b")
        .await
        .unwrap();
    let reset = OperateBuilder::new(s("Device.IP.Interface.1.Reset()"))
        .with_command_key(s("slow"))
        .with_send_resp(true)
        .build()
        .unwrap();
    a.send("a-operate", reset).await;
    a.send("a-get", get(&["Device.DeviceInfo.SerialNumber"]))
        .await;
    // B asks once the agent has A's Operate.
    agent.wait_line("USP Record received").await;
    b.send("b-get", get(&["Device.DeviceInfo.SerialNumber"]))
        .await;

    let (first, msg) = tokio::select! {
        msg = response(&mut a) => ("a", msg),
        msg = response(&mut b) => ("b", msg),
    };
    assert_eq!(first, "b", "B answered first: {msg}");
    assert_eq!(msg["Header"]["msg_id"], "b-get", "{msg}");
    assert_eq!(get_params(&msg["Body"])["SerialNumber"], "SIM0001", "{msg}");
    let msg = response(&mut a).await;
    assert_eq!(msg["Header"]["msg_id"], "a-operate", "{msg}");
    let result = &msg["Body"]["Response"]["OperateResp"]["operation_results"][0];
    assert_eq!(
        result["executed_command"], "Device.IP.Interface.1.Reset()",
        "{msg}"
    );
    assert!(result["req_output_args"].is_object(), "{msg}");
    let msg = response(&mut a).await;
    assert_eq!(msg["Header"]["msg_id"], "a-get", "{msg}");
    drop((a, b));
    agent.stop().await;
}

/// The next Msg of `ctrl` that is not a Notify (a controller not yet onboarded gets an
/// OnBoardRequest first).
async fn response(ctrl: &mut Controller) -> serde_json::Value {
    loop {
        let msg = ctrl.recv().await;
        if !msg["Body"]["Request"]["Notify"].is_object() {
            return msg;
        }
    }
}
