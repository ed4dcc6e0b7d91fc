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
//! refuses MQTT 5 gets a 3.1.1 CONNECT next. Through a real RabbitMQ (its Web MQTT plugin;
//! MQTT 3.1.1 only) the agent connects over a WebSocket, `TransportProtocol` `WebSocket`
//! (a Get answered, a bulk data report PUBLISHed on the same connection), and after a
//! controller's Set over TLS, `WebSocketTLS`, reconnecting by itself after the broker's
//! restart; the controller reaches the same broker over plain MQTT. `Device.MQTT.Capabilities.`
//! names the versions and transports the agent speaks, and client rows added without a
//! `Name` are given one. Every wait is bounded.
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
use common::rabbitmq::RabbitMq;
use common::{
    AGENT, AgentProcess, Controller, Link, add, added_path, get, get_params, s, set, value,
    wait_value,
};
use rusp_lib::usp_builder::{SetBuilder, UpdateObjectBuilder};

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

#[tokio::test(flavor = "current_thread")]
async fn the_client_rows_say_what_the_client_speaks_and_have_names() {
    common::within(Duration::from_secs(60), capabilities_and_names()).await;
}

async fn capabilities_and_names() {
    let Setup {
        dir: _dir,
        broker: _broker,
        mut ctrl,
        agent,
    } = setup(Version::V5).await;

    let body = ctrl.request(get(&["Device.MQTT.Capabilities."])).await;
    let capabilities = get_params(&body);
    let versions = &capabilities["ProtocolVersionsSupported"];
    assert_eq!(versions, "3.1.1,5.0", "{body}");
    let transports = &capabilities["TransportProtocolSupported"];
    assert_eq!(transports, "TCP/IP,TLS,WebSocket,WebSocketTLS", "{body}");
    // What a client row asks for must be one of them: the agent does not speak MQTT 3.1.
    let client = "Device.MQTT.Client.1.";
    let body = ctrl.request(set(client, "ProtocolVersion", "3.1")).await;
    assert_eq!(body["Error"]["err_code"], 7012, "{body}");

    // The configuration's client row and those a controller adds without a `Name` are
    // named, each its own: two rows left unnamed would share the unique key "".
    assert_eq!(value(&mut ctrl, &format!("{client}Name")).await, "cpe-1");
    for number in [2, 3] {
        let body = ctrl.request(add("Device.MQTT.Client.", &[])).await;
        let row = added_path(&body);
        assert_eq!(row, format!("Device.MQTT.Client.{number}."));
        let success = &body["Response"]["AddResp"]["created_obj_results"][0]["oper_status"];
        let name = format!("cpe-{number}");
        assert_eq!(
            success["oper_success"]["unique_keys"]["Name"], name,
            "{body}"
        );
        assert_eq!(value(&mut ctrl, &format!("{row}Name")).await, name);
    }
    agent.stop().await;
}

#[tokio::test(flavor = "current_thread")]
async fn the_agent_reaches_rabbitmq_over_websockets() {
    common::within(Duration::from_secs(240), over_websockets()).await;
}

async fn over_websockets() {
    const CLIENT: &str = "Device.MQTT.Client.1.";
    const SERIAL: &str = "Device.DeviceInfo.SerialNumber";
    let dir = tempfile::tempdir().unwrap();
    let (certs, broker_dir) = (dir.path().join("certs"), dir.path().join("broker"));
    std::fs::create_dir(&certs).unwrap();
    std::fs::create_dir(&broker_dir).unwrap();
    common::tls::make_certificates(&certs, "", true);
    let (broker, web) = RabbitMq::start_web_mqtt(&broker_dir, &certs).await;
    // The controller over plain MQTT; RabbitMQ 3.10 speaks 3.1.1 only.
    let mut ctrl = controller(broker.port, Version::V311, "ws-controller").await;
    // The agent over ws://127.0.0.1:<port>/ws: the path RabbitMQ serves, after the host.
    let config = agent_config(dir.path(), web.ws_port, "3.1.1", AGENT_TOPIC, CTRL_TOPIC);
    let text = std::fs::read_to_string(&config).unwrap().replacen(
        "[usp.mqtt]\n",
        "[usp.mqtt]\nwebsocket = true\nhost = \"127.0.0.1/ws\"\n",
        1,
    );
    std::fs::write(&config, text).unwrap();
    let state = dir.path().join("state");
    let ca = certs.join("ca.pem");
    let args = [
        "--config",
        config.to_str().unwrap(),
        "--ca-file",
        ca.to_str().unwrap(),
    ];
    let mut agent = AgentProcess::start(&state, &args).await;
    let line = agent.wait_line("USP MQTT MTP connected").await;
    assert!(line.contains(&web.ws_port.to_string()), "{line}");
    ctrl.await_connect_record().await;
    let body = ctrl.request(get(&[SERIAL])).await;
    assert_eq!(get_params(&body)["SerialNumber"], "SIM0001", "{body}");
    let mut ws = Controller::connect(&agent.url).await;
    let transport = format!("{CLIENT}TransportProtocol");
    assert_eq!(value(&mut ws, &transport).await, "WebSocket");
    assert_eq!(
        value(&mut ws, &format!("{CLIENT}Status")).await,
        "Connected"
    );
    // A bulk data report goes out on the same connection.
    let settings = [
        ("Protocol", "MQTT"),
        ("EncodingType", "JSON"),
        ("ReportingInterval", "3600"),
    ];
    let serial = [(SERIAL, "")];
    let profile = common::add_bulk_profile(&mut ws, &settings, &serial).await;
    let mqtt = format!("{profile}MQTT.");
    let bulk_topic = format!("{CTRL_TOPIC}/bulk");
    common::set_ok(&mut ws, &mqtt, "Reference", CLIENT).await;
    common::set_ok(&mut ws, &mqtt, "PublishTopic", &bulk_topic).await;
    let json = format!("{profile}JSONEncoding.");
    common::set_ok(&mut ws, &json, "ReportFormat", "NameValuePair").await;
    common::set_ok(&mut ws, &profile, "Enable", "true").await;
    common::force_collection(&mut ws, &profile).await;
    let Link::Mqtt(link) = &mut ctrl.link else {
        unreachable!()
    };
    let report = tokio::time::timeout(common::WAIT, link.next()).await;
    let report = String::from_utf8(report.unwrap().unwrap()).unwrap();
    assert!(report.contains("\"SIM0001\""), "{report}");
    assert_eq!(received(&ctrl).last().unwrap().topic, bulk_topic);

    // A controller moves the client row to the TLS listener: the agent reconnects over
    // wss://, the broker checked against the agent's CA, and greets the controller again.
    let port = web.wss_port.to_string();
    let moved = SetBuilder::new()
        .with_update_objs(vec![
            UpdateObjectBuilder::new(s(CLIENT)).with_param_settings(vec![
                (s("TransportProtocol"), s("WebSocketTLS"), true),
                (s("BrokerPort"), port.clone(), true),
            ]),
        ])
        .build()
        .unwrap();
    let body = ws.request(moved).await;
    assert!(body["Response"]["SetResp"].is_object(), "{body}");
    let line = agent.wait_line("USP MQTT MTP connected").await;
    assert!(line.contains(&port), "{line}");
    ctrl.await_connect_record().await;
    let body = ctrl.request(get(&[SERIAL])).await;
    assert_eq!(get_params(&body)["SerialNumber"], "SIM0001", "{body}");
    wait_value(&mut ws, &format!("{CLIENT}Status"), "Connected").await;

    // The broker goes away and comes back on the same ports: the agent reconnects through
    // its relay by itself (the relay of the row's earlier settings, stopped since, left it
    // listening).
    drop(ctrl);
    let stopped = broker.kill();
    agent.wait_line("USP MQTT connection lost").await;
    let broker = stopped.start().await;
    let mut ctrl = controller(broker.port, Version::V311, "ws-controller-2").await;
    let line = agent.wait_line("USP MQTT MTP connected").await;
    assert!(line.contains(&port), "{line}");
    ctrl.await_connect_record().await;
    let body = ctrl.request(get(&[SERIAL])).await;
    assert_eq!(get_params(&body)["SerialNumber"], "SIM0001", "{body}");

    // A ws:// URL for a WebSocketTLS row is misconfigured.
    let url = format!("ws://127.0.0.1:{port}/ws");
    common::set_ok(&mut ws, CLIENT, "BrokerAddress", &url).await;
    wait_value(&mut ws, &format!("{CLIENT}Status"), "Error_Misconfigured").await;
    agent.stop().await;
}
