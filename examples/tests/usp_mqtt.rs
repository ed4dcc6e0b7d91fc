//! End to end over MQTT through a real mosquitto broker (started by the test on a free
//! loopback port; `.ci/peers` installs it): the `cpe-agent` binary with its MQTT client MTP
//! against a USP controller built with rusp-lib on rumqttc.
//!
//! Over MQTT 5 the controller walks through every request of [`common::scenario`] (Get, Set,
//! Add, Delete, GetSupportedDM, GetInstances, an asynchronous Operate and the Notify of its
//! subscription), checks the MqttConnect Record and the PUBLISH properties (Response Topic,
//! Content Type), then the broker is restarted and the agent reconnects by itself. Over MQTT
//! 3.1.1 the reply-to topic travels in the topic name, and a PUBLISH naming none is answered on
//! the controller's configured topic. A broker (played by the test) that
//! refuses MQTT 5 gets a 3.1.1 CONNECT next. Every wait is bounded.
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

use rusp_lib::usp_decoder::try_decode_record;
use rusp_lib::usp_record::mod_MQTTConnectRecord::MQTTVersion;
use rusp_lib::usp_record::mod_Record::OneOfrecord_type;
use tokio::io::AsyncWriteExt as _;
use tokio::net::TcpListener;

use common::mqtt::{Mosquitto, MqttLink, Version, agent_config, read_connect, received};
use common::{AGENT, AgentProcess, Controller, Link, get, get_params, set};

const AGENT_TOPIC: &str = "usp/agent/sim0001";
const CTRL_TOPIC: &str = "usp/controller/e2e";

async fn controller(port: u16, version: Version, client_id: &str) -> Controller {
    let link = MqttLink::connect(port, version, client_id, AGENT_TOPIC, CTRL_TOPIC).await;
    Controller::over(Link::Mqtt(link))
}

/// A broker, a controller listening on it, and the agent connected to it with `version`.
struct Setup {
    dir: tempfile::TempDir,
    broker: Mosquitto,
    ctrl: Controller,
    agent: AgentProcess,
}

async fn setup(version: Version) -> Setup {
    let dir = tempfile::tempdir().unwrap();
    let broker = Mosquitto::start(dir.path()).await;
    // The controller listens before the agent connects, so it sees the MqttConnect Record.
    let mut ctrl = controller(broker.port, version, "e2e-controller").await;
    let name = match version {
        Version::V5 => "5.0",
        Version::V311 => "3.1.1",
    };
    let config = agent_config(dir.path(), broker.port, name, AGENT_TOPIC, CTRL_TOPIC);
    let state = dir.path().join("state");
    let mut agent = AgentProcess::start(&state, &["--config", config.to_str().unwrap()]).await;
    let line = agent.wait_line("USP MQTT MTP connected").await;
    assert!(line.contains(AGENT_TOPIC), "{line}");
    ctrl.await_connect_record().await;
    Setup {
        dir,
        broker,
        ctrl,
        agent,
    }
}

#[tokio::test(flavor = "current_thread")]
async fn controller_manages_the_agent_over_mqtt5_through_mosquitto() {
    common::within(Duration::from_secs(120), over_mqtt5()).await;
}

async fn over_mqtt5() {
    let Setup {
        dir,
        broker,
        mut ctrl,
        mut agent,
    } = setup(Version::V5).await;

    common::scenario::manage(&mut ctrl).await;
    assert_eq!(ctrl.connect_records, 1, "one MqttConnect Record");

    // The first PUBLISH is the MqttConnect Record, sent to the configured controller topic.
    let all = received(&ctrl);
    let first = try_decode_record(&all[0].payload).unwrap();
    assert_eq!(first.from_id, AGENT);
    match first.record_type {
        OneOfrecord_type::mqtt_connect(connect) => {
            assert_eq!(connect.subscribed_topic, AGENT_TOPIC);
            assert_eq!(connect.version, MQTTVersion::V5);
        }
        _ => panic!("the first Record is not an MqttConnect Record"),
    }
    // Every Record: on the controller's topic, naming the agent's topic as the reply-to,
    // with the USP Content Type (R-MQTT.27).
    for publish in all {
        assert_eq!(publish.topic, CTRL_TOPIC);
        assert_eq!(publish.response_topic.as_deref(), Some(AGENT_TOPIC));
        assert_eq!(publish.content_type.as_deref(), Some("usp.msg"));
    }

    // The broker goes away and comes back on the same port: the agent reconnects by itself
    // (ConnectRetryTime backoff) and greets the controller again.
    let port = broker.port;
    drop(ctrl);
    drop(broker);
    agent.wait_line("USP MQTT connection lost").await;
    let broker = Mosquitto::start_on(dir.path(), port).await;
    let mut ctrl = controller(broker.port, Version::V5, "e2e-controller-2").await;
    agent.wait_line("USP MQTT MTP connected").await;
    ctrl.await_connect_record().await;
    let body = ctrl.request(get(&["Device.WiFi.SSID.1.SSID"])).await;
    assert_eq!(get_params(&body)["SSID"], "e2e-ssid", "{body}");
    agent.stop().await;
}

#[tokio::test(flavor = "current_thread")]
async fn mqtt_3_1_1_carries_the_reply_to_in_the_topic_name() {
    common::within(Duration::from_secs(60), over_mqtt311()).await;
}

async fn over_mqtt311() {
    let Setup {
        dir: _dir,
        broker: _broker,
        mut ctrl,
        agent,
    } = setup(Version::V311).await;

    let body = ctrl
        .request(set("Device.WiFi.SSID.1.", "SSID", "over-3.1.1"))
        .await;
    assert!(body["Response"]["SetResp"].is_object(), "{body}");
    let body = ctrl.request(get(&["Device.WiFi.SSID.1.SSID"])).await;
    assert_eq!(get_params(&body)["SSID"], "over-3.1.1", "{body}");
    assert_eq!(ctrl.connect_records, 1, "one MqttConnect Record");

    let all = received(&ctrl);
    match try_decode_record(&all[0].payload).unwrap().record_type {
        OneOfrecord_type::mqtt_connect(connect) => {
            assert_eq!(connect.version, MQTTVersion::V3_1_1);
        }
        _ => panic!("the first Record is not an MqttConnect Record"),
    }
    let expected = format!("{CTRL_TOPIC}/reply-to=usp%2Fagent%2Fsim0001");
    for publish in all {
        assert_eq!(publish.topic, expected);
    }

    // A PUBLISH naming no reply-to is answered on the topic configured for the controller.
    match &mut ctrl.link {
        Link::Mqtt(link) => link.names_reply_to = false,
        Link::WebSocket(_) | Link::Stomp(_) | Link::Uds(_) => unreachable!(),
    }
    let body = ctrl.request(get(&["Device.WiFi.SSID.1.SSID"])).await;
    assert_eq!(get_params(&body)["SSID"], "over-3.1.1", "{body}");
    assert_eq!(received(&ctrl).last().unwrap().topic, expected);
    agent.stop().await;
}

#[tokio::test(flavor = "current_thread")]
async fn a_broker_refusing_mqtt5_gets_mqtt_3_1_1() {
    common::within(Duration::from_secs(60), falls_back()).await;
}

async fn falls_back() {
    let dir = tempfile::tempdir().unwrap();
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let config = agent_config(dir.path(), port, "5.0", AGENT_TOPIC, CTRL_TOPIC);
    let state = dir.path().join("state");
    let mut agent = AgentProcess::start(&state, &["--config", config.to_str().unwrap()]).await;

    // MQTT 5 first, naming the agent in the usp-endpoint-id User Property (R-MQTT.13).
    let (mut stream, level, packet) = read_connect(&listener).await;
    assert_eq!(level, 5);
    let named = |needle: &[u8]| packet.windows(needle.len()).any(|w| w == needle);
    assert!(named(b"usp-endpoint-id") && named(AGENT.as_bytes()));
    // CONNACK, reason 0x84: Unsupported Protocol Version.
    stream
        .write_all(&[0x20, 0x03, 0x00, 0x84, 0x00])
        .await
        .unwrap();
    drop(stream);
    agent.wait_line("falling back to 3.1.1").await;

    // Then MQTT 3.1.1 (protocol level 4).
    let (_stream, level, _) = read_connect(&listener).await;
    assert_eq!(level, 4);
    agent.stop().await;
}
