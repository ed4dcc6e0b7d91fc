//! End to end: the agent's USP MTPs are its `Device.LocalAgent.MTP.{i}.` rows (with
//! `Device.MQTT.Client.{i}.` and `Device.UnixDomainSockets.UnixDomainSocket.{i}.`).
//!
//! The configuration becomes the factory rows; a controller reads them with their `Status`,
//! and its Set, Add and Delete restart exactly the MTP they touch, after the response went
//! out on the old connection: the WebSocket server moves to a new port, says `Error` on a
//! port it cannot bind, stops when disabled or deleted, and a second server comes up when a
//! row is added, while the controller on the Unix socket stays connected throughout; the
//! rows, not the flags, decide after a restart. The MQTT client moves to another mosquitto
//! when its broker port changes, greets its controller on the topic the controller's row
//! names after a Set, and says `Error_BrokerUnreachable` when nothing listens,
//! `Error` when a broker refuses it. The rest of the client row shapes the session: its
//! Subscription rows are subscribed to (with their `Status`) and Records sent there are
//! answered, `PublishQoS` and the PUBLISH User Properties dress the agent's PUBLISHes, and
//! the Will is published by the broker when the agent dies; its `Stats.` count what went
//! through; with `CleanStart` false and a `SessionExpiryInterval`, a connection lost is
//! taken up again without a SUBSCRIBE, and a request sent while the agent was stopped reaches
//! it when it is back; the client row's `ALPN` is offered in the TLS
//! handshake. A Subscription row added, changed, disabled
//! or deleted is subscribed to or unsubscribed from on the open connection, and a controller
//! row's `PublishRetainResponse` or `PublishRetainNotify` has the broker keep the agent's last
//! Response or Notify for a subscriber that comes later. A controller's MTP row moves the
//! agent's WebSocket client to another server, and a controller row disabled at run time is
//! refused from its next Record on. Two agent MQTT MTP rows on two client rows (two
//! mosquittos) answer each its controller through its own connection, and disabling one
//! leaves the other. Every wait is bounded.
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
use std::sync::Arc;
use std::time::Duration;

use rusp_lib::usp_builder::DeleteBuilder;
use tokio::io::AsyncWriteExt as _;
use tokio::net::{TcpListener, TcpStream, UnixStream};
use tokio_rustls::TlsAcceptor;

use common::mqtt::{
    Mosquitto, MqttLink, Version, agent_config, read_connect, received, take_over_session,
};
use common::uds::{UdsLink, handshake};
use common::{
    AgentProcess, CTRL, Controller, Link, WAIT, add, added_path, free_port, get, set, set_ok,
    value, wait_value,
};

/// The factory WebSocket server row.
const WS: &str = "Device.LocalAgent.MTP.1.";
/// The row of the second MTP the configuration names (UDS or MQTT).
const SECOND: &str = "Device.LocalAgent.MTP.2.";
const CLIENT: &str = "Device.MQTT.Client.1.";

/// The port of a `ws://127.0.0.1:port/path` URL.
fn port_of(url: &str) -> u16 {
    let rest = url.strip_prefix("ws://127.0.0.1:").unwrap();
    rest.split('/').next().unwrap().parse().unwrap()
}

/// Sets each of `values` (name, value) of `object` in turn, checking each SetResp.
async fn set_each(ctrl: &mut Controller, object: &str, values: &[(&str, &str)]) {
    for (name, value) in values {
        set_ok(ctrl, object, name, value).await;
    }
}

/// Waits until nothing accepts connections on loopback `port`.
async fn refused(port: u16) {
    let deadline = std::time::Instant::now() + WAIT;
    while TcpStream::connect(("127.0.0.1", port)).await.is_ok() {
        assert!(
            std::time::Instant::now() < deadline,
            "port {port} still accepts connections"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// A controller on the agent's WebSocket server at `url`, retried until it listens.
async fn connect_ws(url: &str) -> Controller {
    let deadline = std::time::Instant::now() + WAIT;
    while TcpStream::connect(("127.0.0.1", port_of(url)))
        .await
        .is_err()
    {
        assert!(std::time::Instant::now() < deadline, "nothing on {url}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    Controller::connect(url).await
}

/// A controller on the agent's Unix socket.
async fn connect_uds(socket: &Path) -> Controller {
    let mut link = UdsLink::new(UnixStream::connect(socket).await.unwrap());
    handshake(&mut link, true).await;
    Controller::over(Link::Uds(link))
}

#[tokio::test(flavor = "current_thread")]
async fn a_controller_moves_disables_adds_and_deletes_websocket_mtps() {
    common::within(Duration::from_secs(180), websocket_rows()).await;
}

async fn websocket_rows() {
    let dir = tempfile::tempdir().unwrap();
    let socket = dir.path().join("agent.sock");
    let config = dir.path().join("cpe-agent.toml");
    std::fs::write(
        &config,
        format!("[usp.uds]\nlisten = \"{}\"\n", socket.display()),
    )
    .unwrap();
    let config = ["--config", config.to_str().unwrap()];
    let state = dir.path().join("state");
    let agent = AgentProcess::start(&state, &config).await;

    // The configuration became the factory rows, with their status.
    let old = port_of(&agent.url);
    let mut ws = connect_ws(&agent.url).await;
    assert_eq!(value(&mut ws, &format!("{WS}Protocol")).await, "WebSocket");
    assert_eq!(value(&mut ws, &format!("{WS}Status")).await, "Up");
    let port = value(&mut ws, &format!("{WS}WebSocket.Port")).await;
    assert_eq!(port, old.to_string(), "the row holds the bound port");
    assert_eq!(value(&mut ws, &format!("{SECOND}Protocol")).await, "UDS");
    assert_eq!(value(&mut ws, &format!("{SECOND}Status")).await, "Up");
    let socket_row = value(&mut ws, &format!("{SECOND}UDS.UnixDomainSocketRef")).await;
    let path = value(&mut ws, &format!("{socket_row}.Path")).await;
    assert_eq!(path, socket.display().to_string());
    assert_eq!(
        value(&mut ws, &format!("{socket_row}.Mode")).await,
        "Listen"
    );

    // Moving the port: the SetResp comes over the old connection, then the new port serves.
    let new = free_port();
    set_ok(&mut ws, WS, "WebSocket.Port", &new.to_string()).await;
    refused(old).await;
    let mut ws = connect_ws(&format!("ws://127.0.0.1:{new}/usp")).await;
    assert_eq!(value(&mut ws, &format!("{WS}Status")).await, "Up");

    // A port the agent cannot bind: Error, seen over the Unix socket, which kept running.
    // (A controller has one connection at a time: each new one replaces the last.)
    let busy = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let busy_port = busy.local_addr().unwrap().port();
    set_ok(&mut ws, WS, "WebSocket.Port", &busy_port.to_string()).await;
    let mut uds = connect_uds(&socket).await;
    wait_value(&mut uds, &format!("{WS}Status"), "Error").await;
    drop(busy);
    let port = free_port();
    set_ok(&mut uds, WS, "WebSocket.Port", &port.to_string()).await;
    wait_value(&mut uds, &format!("{WS}Status"), "Up").await;

    // Disabling: the SetResp, then connections are refused and the row says Down.
    let mut ws = connect_ws(&format!("ws://127.0.0.1:{port}/usp")).await;
    set_ok(&mut ws, WS, "Enable", "false").await;
    refused(port).await;
    let mut uds = connect_uds(&socket).await;
    wait_value(&mut uds, &format!("{WS}Status"), "Down").await;

    // A second server, added; deleted over its own connection, which gets the DeleteResp.
    let body = uds
        .request(add("Device.LocalAgent.MTP.", &[("Protocol", "WebSocket")]))
        .await;
    let row = added_path(&body);
    // The agent creates the row's WebSocket. object (with its defaults) once it sees it.
    wait_value(&mut uds, &format!("{row}WebSocket.Port"), "8443").await;
    let second = free_port();
    set_ok(&mut uds, &row, "WebSocket.Port", &second.to_string()).await;
    set_ok(&mut uds, &row, "WebSocket.Path", "/second").await;
    set_ok(&mut uds, &row, "WebSocket.EnableEncryption", "false").await;
    set_ok(&mut uds, &row, "Enable", "true").await;
    wait_value(&mut uds, &format!("{row}Status"), "Up").await;
    let mut other = connect_ws(&format!("ws://127.0.0.1:{second}/second")).await;
    assert_eq!(value(&mut other, &format!("{row}Status")).await, "Up");
    let delete = DeleteBuilder::new()
        .with_obj_paths(vec![row.clone()])
        .build()
        .unwrap();
    let body = other.request(delete).await;
    let deleted = &body["Response"]["DeleteResp"]["deleted_obj_results"][0];
    let affected = &deleted["oper_status"]["oper_success"]["affected_paths"][0];
    assert_eq!(affected, row.as_str(), "{body}");
    refused(second).await;
    let mut uds = connect_uds(&socket).await;
    set_ok(&mut uds, WS, "Enable", "true").await;
    wait_value(&mut uds, &format!("{WS}Status"), "Up").await;
    drop(uds);

    // The rows, not the configuration, decide after a restart.
    agent.stop().await;
    let agent = AgentProcess::start_with(&state, &config).await;
    assert_eq!(port_of(&agent.url), port, "the stored port");
    let mut ws = connect_ws(&agent.url).await;
    assert_eq!(value(&mut ws, &format!("{WS}Status")).await, "Up");
    drop(ws);
    agent.stop().await;
    // A flag of a later start overrides the row, which keeps what the agent bound.
    let agent = AgentProcess::start(&state, &config).await;
    let mut ws = connect_ws(&agent.url).await;
    let stored = value(&mut ws, &format!("{WS}WebSocket.Port")).await;
    assert_eq!(stored, port_of(&agent.url).to_string());
    drop(ws);
    agent.stop().await;
}

#[tokio::test(flavor = "current_thread")]
async fn a_broker_change_moves_the_mqtt_client() {
    common::within(Duration::from_secs(180), broker_change()).await;
}

async fn mqtt_controller(port: u16, client_id: &str) -> Controller {
    let link = MqttLink::connect(port, Version::V5, client_id, "usp/agent", "usp/ctrl").await;
    Controller::over(Link::Mqtt(link))
}

/// A mosquitto, a controller on it (topic `usp/ctrl`), and the agent connected to it over
/// MQTT `version` (topic `usp/agent`) with a controller on its WebSocket server.
struct MqttAgent {
    /// The broker's and the agent's files, deleted on drop.
    _dir: tempfile::TempDir,
    broker: Mosquitto,
    on_broker: Controller,
    agent: AgentProcess,
    ws: Controller,
}

async fn mqtt_agent(version: Version) -> MqttAgent {
    let dir = tempfile::tempdir().unwrap();
    let broker = Mosquitto::start(dir.path()).await;
    let link = MqttLink::connect(broker.port, version, "ctrl-a", "usp/agent", "usp/ctrl");
    let mut on_broker = Controller::over(Link::Mqtt(link.await));
    let name = match version {
        Version::V5 => "5.0",
        Version::V311 => "3.1.1",
    };
    let config = agent_config(dir.path(), broker.port, name, "usp/agent", "usp/ctrl");
    let state = dir.path().join("state");
    let agent = AgentProcess::start(&state, &["--config", config.to_str().unwrap()]).await;
    on_broker.await_connect_record().await;
    let ws = connect_ws(&agent.url).await;
    MqttAgent {
        _dir: dir,
        broker,
        on_broker,
        agent,
        ws,
    }
}

/// Two mosquittos, a controller on the first (topic `usp/ctrl`), and the agent connected to
/// it over MQTT 5 (topic `usp/agent`) with a controller on its WebSocket server.
struct TwoBrokers {
    /// The brokers' and the agent's files, deleted on drop.
    _dir: tempfile::TempDir,
    first: Mosquitto,
    second: Mosquitto,
    on_first: Controller,
    agent: AgentProcess,
    ws: Controller,
}

async fn two_brokers() -> TwoBrokers {
    let dir = tempfile::tempdir().unwrap();
    let (a, b) = (dir.path().join("a"), dir.path().join("b"));
    std::fs::create_dir_all(&a).unwrap();
    std::fs::create_dir_all(&b).unwrap();
    let (first, second) = (Mosquitto::start(&a).await, Mosquitto::start(&b).await);
    let mut on_first = mqtt_controller(first.port, "ctrl-a").await;
    let config = agent_config(dir.path(), first.port, "5.0", "usp/agent", "usp/ctrl");
    let state = dir.path().join("state");
    let agent = AgentProcess::start(&state, &["--config", config.to_str().unwrap()]).await;
    on_first.await_connect_record().await;
    let ws = connect_ws(&agent.url).await;
    TwoBrokers {
        _dir: dir,
        first,
        second,
        on_first,
        agent,
        ws,
    }
}

async fn broker_change() {
    let TwoBrokers {
        _dir,
        first,
        second,
        mut on_first,
        agent,
        mut ws,
    } = two_brokers().await;
    assert_eq!(value(&mut ws, &format!("{SECOND}Protocol")).await, "MQTT");
    assert_eq!(
        value(&mut ws, &format!("{SECOND}MQTT.Reference")).await,
        CLIENT.trim_end_matches('.')
    );
    wait_value(&mut ws, &format!("{CLIENT}Status"), "Connected").await;
    wait_value(&mut ws, &format!("{SECOND}Status"), "Up").await;
    let port = value(&mut on_first, &format!("{CLIENT}BrokerPort")).await;
    assert_eq!(port, first.port.to_string());

    // Another broker, set over MQTT: the SetResp comes through the first broker, then the
    // client reconnects to the second and greets the controller there.
    let mut on_second = mqtt_controller(second.port, "ctrl-b").await;
    set_ok(
        &mut on_first,
        CLIENT,
        "BrokerPort",
        &second.port.to_string(),
    )
    .await;
    on_second.await_connect_record().await;
    let port = value(&mut on_second, &format!("{CLIENT}BrokerPort")).await;
    assert_eq!(port, second.port.to_string());
    wait_value(&mut ws, &format!("{CLIENT}Status"), "Connected").await;

    // The controller's topic: the client greets it on the new one.
    let link = MqttLink::connect(second.port, Version::V5, "ctrl-c", "usp/agent", "usp/ctrl2");
    let mut on_topic = Controller::over(Link::Mqtt(link.await));
    let row = "Device.LocalAgent.Controller.1.MTP.1.";
    assert_eq!(
        value(&mut ws, &format!("{row}MQTT.Topic")).await,
        "usp/ctrl"
    );
    set_ok(&mut on_second, row, "MQTT.Topic", "usp/ctrl2").await;
    on_topic.await_connect_record().await;
    let topic = value(&mut on_topic, &format!("{row}MQTT.Topic")).await;
    assert_eq!(topic, "usp/ctrl2");

    // No broker at all: unreachable, and the MTP is down.
    set_ok(&mut ws, CLIENT, "BrokerPort", &free_port().to_string()).await;
    wait_value(
        &mut ws,
        &format!("{CLIENT}Status"),
        "Error_BrokerUnreachable",
    )
    .await;
    wait_value(&mut ws, &format!("{SECOND}Status"), "Down").await;
    // Disabled.
    set_ok(&mut ws, CLIENT, "Enable", "false").await;
    wait_value(&mut ws, &format!("{CLIENT}Status"), "Disabled").await;
    drop(ws);
    agent.stop().await;
}

#[tokio::test(flavor = "current_thread")]
async fn two_mqtt_mtps_answer_through_their_own_connections() {
    common::within(Duration::from_secs(120), two_mqtt_mtps()).await;
}

/// Waits until the agent has created `object`, the protocol object of a row just added.
async fn created(ctrl: &mut Controller, object: &str) {
    let deadline = std::time::Instant::now() + WAIT;
    loop {
        let body = ctrl.request(get(&[object])).await;
        if body["Response"]["GetResp"]["req_path_results"][0]["err_code"] == 0 {
            return;
        }
        assert!(std::time::Instant::now() < deadline, "no {object}: {body}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// The SSID `ctrl` reads through its link.
async fn ssid(ctrl: &mut Controller) -> String {
    value(ctrl, "Device.WiFi.SSID.1.SSID").await
}

async fn two_mqtt_mtps() {
    let TwoBrokers {
        _dir,
        first: _first,
        second,
        mut on_first,
        agent,
        mut ws,
    } = two_brokers().await;

    // A client row on the second broker, and an agent MTP row on it with its own topic.
    let port = second.port.to_string();
    let client = [
        ("Name", "second"),
        ("Enable", "true"),
        ("BrokerAddress", "127.0.0.1"),
        ("BrokerPort", port.as_str()),
        ("ProtocolVersion", "5.0"),
        ("TransportProtocol", "TCP/IP"),
        ("ClientID", "agent-b"),
    ];
    let client = added_path(&ws.request(add("Device.MQTT.Client.", &client)).await);
    let body = ws
        .request(add("Device.LocalAgent.MTP.", &[("Protocol", "MQTT")]))
        .await;
    let row = added_path(&body);
    let mqtt = format!("{row}MQTT.");
    created(&mut ws, &mqtt).await;
    let values = [
        ("Reference", client.trim_end_matches('.')),
        ("ResponseTopicConfigured", "usp/agent-b"),
    ];
    set_each(&mut ws, &mqtt, &values).await;
    set_ok(&mut ws, &row, "Enable", "true").await;
    wait_value(&mut ws, &format!("{row}Status"), "Up").await;
    wait_value(&mut ws, &format!("{SECOND}Status"), "Up").await;

    // Each controller reaches the agent through its own broker only.
    let link = MqttLink::connect(
        second.port,
        Version::V5,
        "ctrl-b",
        "usp/agent-b",
        "usp/ctrl-b",
    );
    let mut on_second = Controller::over(Link::Mqtt(link.await));
    assert_eq!(ssid(&mut on_second).await, ssid(&mut ws).await);
    assert_eq!(ssid(&mut on_first).await, ssid(&mut ws).await);

    // The first MTP disabled: its client row stays connected, and the second MTP serves on.
    set_ok(&mut ws, SECOND, "Enable", "false").await;
    wait_value(&mut ws, &format!("{SECOND}Status"), "Down").await;
    wait_value(&mut ws, &format!("{CLIENT}Status"), "Connected").await;
    assert_eq!(value(&mut ws, &format!("{row}Status")).await, "Up");
    assert_eq!(ssid(&mut on_second).await, ssid(&mut ws).await);
    drop(ws);
    agent.stop().await;
}

#[tokio::test(flavor = "current_thread")]
async fn the_client_row_shapes_the_mqtt_session() {
    common::within(Duration::from_secs(120), client_row_session()).await;
}

/// The delivery of the agent's last PUBLISH to `ctrl`: (QoS, User Properties).
fn last_delivery(ctrl: &Controller) -> (u8, Vec<(String, String)>) {
    let last = received(ctrl).last().unwrap();
    (last.qos, last.user_properties.clone())
}

async fn client_row_session() {
    let mut m = mqtt_agent(Version::V5).await;
    // The factory PublishQoS 1 reaches a QoS 1 subscriber at QoS 1, with no User Property.
    value(&mut m.on_broker, &format!("{CLIENT}Status")).await;
    assert_eq!(last_delivery(&m.on_broker), (1, Vec::new()));

    // The client is disabled while its rows change, so that it connects once, as they end.
    set_ok(&mut m.ws, CLIENT, "Enable", "false").await;
    wait_value(&mut m.ws, &format!("{CLIENT}Status"), "Disabled").await;
    let table = format!("{CLIENT}Subscription.");
    let row = [("Enable", "true"), ("Topic", "usp/extra/+"), ("QoS", "1")];
    let extra = added_path(&m.ws.request(add(&table, &row)).await);
    let row = [("Enable", "false"), ("Topic", "usp/off")];
    let off = added_path(&m.ws.request(add(&table, &row)).await);
    let table = format!("{CLIENT}UserProperty.");
    let row = [
        ("Enable", "true"),
        ("Name", "site"),
        ("Value", "lab"),
        ("PacketType", "PUBLISH"),
    ];
    added_path(&m.ws.request(add(&table, &row)).await);
    set_ok(&mut m.ws, SECOND, "MQTT.PublishQoS", "0").await;
    let will = [
        ("WillTopic", "usp/will"),
        ("WillValue", "gone"),
        ("WillDelayInterval", "0"),
        ("WillEnable", "true"),
        ("Enable", "true"),
    ];
    set_each(&mut m.ws, CLIENT, &will).await;
    m.on_broker.await_connect_record().await;
    wait_value(&mut m.ws, &format!("{extra}Status"), "Subscribed").await;
    wait_value(&mut m.ws, &format!("{off}Status"), "Unsubscribed").await;

    // PublishQoS 0 and the PUBLISH User Property.
    value(&mut m.on_broker, &format!("{CLIENT}Status")).await;
    let site = vec![("site".to_owned(), "lab".to_owned())];
    assert_eq!(last_delivery(&m.on_broker), (0, site));
    // A Record sent to the subscribed filter is answered on its Response Topic.
    let link = MqttLink::connect(m.broker.port, Version::V5, "ctrl-x", "usp/extra/1", "usp/x");
    let mut on_extra = Controller::over(Link::Mqtt(link.await));
    assert_eq!(
        value(&mut on_extra, &format!("{extra}Topic")).await,
        "usp/extra/+"
    );

    // Stats are counted since the agent started, across the client's restarts: three
    // requests in; two greetings and three responses out, in two connections.
    let count = |text: String| text.parse::<u64>().unwrap();
    let stats = format!("{CLIENT}Stats.");
    let received = count(value(&mut m.ws, &format!("{stats}PublishReceived")).await);
    assert_eq!(received, 3);
    let sent = count(value(&mut m.ws, &format!("{stats}PublishSent")).await);
    assert!(sent >= 5, "{sent}");
    let subscribes = count(value(&mut m.ws, &format!("{stats}SubscribeSent")).await);
    assert_eq!(subscribes, 2);
    let since = value(&mut m.ws, &format!("{stats}BrokerConnectionEstablished")).await;
    assert!(since.starts_with("20"), "{since}");

    // Disabled, the client is subscribed to nothing; enabled again, it subscribes anew.
    set_ok(&mut m.ws, CLIENT, "Enable", "false").await;
    wait_value(&mut m.ws, &format!("{extra}Status"), "Unsubscribed").await;
    set_ok(&mut m.ws, CLIENT, "Enable", "true").await;
    m.on_broker.await_connect_record().await;
    wait_value(&mut m.ws, &format!("{extra}Status"), "Subscribed").await;

    // The agent dies without a DISCONNECT: the broker publishes its Will at once.
    let link = MqttLink::connect(
        m.broker.port,
        Version::V5,
        "watcher",
        "usp/agent",
        "usp/will",
    );
    let mut watcher = link.await;
    m.agent.kill();
    let will = tokio::time::timeout(WAIT, watcher.next()).await.unwrap();
    assert_eq!(will.as_deref(), Some(&b"gone"[..]));
}

#[tokio::test(flavor = "current_thread")]
async fn a_kept_session_delivers_what_came_while_the_agent_was_away() {
    common::within(Duration::from_secs(120), kept_session()).await;
}

async fn kept_session() {
    let dir = tempfile::tempdir().unwrap();
    let broker = Mosquitto::start(dir.path()).await;
    let mut on_broker = mqtt_controller(broker.port, "ctrl-a").await;
    let config = agent_config(dir.path(), broker.port, "5.0", "usp/agent", "usp/ctrl");
    let args = ["--config", config.to_str().unwrap()];
    let state = dir.path().join("state");
    let agent = AgentProcess::start(&state, &args).await;
    on_broker.await_connect_record().await;
    let mut ws = connect_ws(&agent.url).await;
    set_ok(&mut ws, CLIENT, "Enable", "false").await;
    wait_value(&mut ws, &format!("{CLIENT}Status"), "Disabled").await;
    let session = [
        ("ClientID", "agent-kept"),
        ("CleanStart", "false"),
        ("SessionExpiryInterval", "300"),
        ("Enable", "true"),
    ];
    set_each(&mut ws, CLIENT, &session).await;
    on_broker.await_connect_record().await;

    // The connection lost, the broker keeping the session: the agent connects again without
    // a SUBSCRIBE (TR-181 `Enable`), and the kept subscription still brings it requests.
    let subscribe_sent = format!("{CLIENT}Stats.SubscribeSent");
    let subscribes = value(&mut ws, &subscribe_sent).await;
    take_over_session(broker.port, "agent-kept").await;
    on_broker.await_connect_record().await;
    assert_eq!(value(&mut on_broker, &subscribe_sent).await, subscribes);
    drop(ws);
    agent.stop().await;

    // The broker keeps the stopped agent's session and queues a request for it (QoS 1), which
    // the agent gets once it is back.
    on_broker
        .send("while-away", get(&[&format!("{CLIENT}ClientID")]))
        .await;
    let agent = AgentProcess::start(&state, &args).await;
    let msg = loop {
        let msg = on_broker.recv().await;
        if msg["Header"]["msg_id"] == "while-away" {
            break msg;
        }
        assert!(msg["Body"]["Request"]["Notify"].is_object(), "{msg}");
    };
    let found = msg["Body"]["Response"]["GetResp"]["req_path_results"][0].to_string();
    assert!(found.contains("agent-kept"), "{msg}");
    // Restarted, the agent knew what the kept session held (its state directory): no
    // SUBSCRIBE, and the kept subscription still brings it requests.
    assert_eq!(value(&mut on_broker, &subscribe_sent).await, "0");
    agent.stop().await;
}

#[tokio::test(flavor = "current_thread")]
async fn subscription_rows_change_on_the_open_connection() {
    common::within(Duration::from_secs(120), live_subscriptions(Version::V5)).await;
}

#[tokio::test(flavor = "current_thread")]
async fn subscription_rows_change_on_the_open_mqtt_3_1_1_connection() {
    common::within(Duration::from_secs(120), live_subscriptions(Version::V311)).await;
}

/// Sends a Get to the agent on topic `unheard`, then one on `heard`, and checks that only the
/// second is answered: the broker passes one client's PUBLISHes on in order, and the agent
/// answers in order, so an answer to the first would come first.
async fn only_heard_on(ctrl: &mut Controller, unheard: &str, heard: &str) {
    let to = |ctrl: &mut Controller, topic: &str| match &mut ctrl.link {
        Link::Mqtt(link) => link.agent_topic = topic.to_owned(),
        Link::WebSocket(_) | Link::Stomp(_) | Link::Uds(_) => unreachable!(),
    };
    to(ctrl, unheard);
    ctrl.send(
        &format!("to {unheard}"),
        get(&["Device.DeviceInfo.SerialNumber"]),
    )
    .await;
    to(ctrl, heard);
    // Any other Msg than a Notify before the answer fails the test.
    let body = ctrl.request(get(&["Device.DeviceInfo.SerialNumber"])).await;
    assert!(body["Response"]["GetResp"].is_object(), "{body}");
}

/// The filters end in `#`, which also takes 3.1.1's `/reply-to=` topic names.
async fn live_subscriptions(version: Version) {
    let mut m = mqtt_agent(version).await;

    // A row added: subscribed to on the open connection, and requests sent there answered.
    let table = format!("{CLIENT}Subscription.");
    let row = [("Enable", "true"), ("Topic", "usp/live/#"), ("QoS", "1")];
    let sub = added_path(&m.ws.request(add(&table, &row)).await);
    wait_value(&mut m.ws, &format!("{sub}Status"), "Subscribed").await;
    let link = MqttLink::connect(m.broker.port, version, "ctrl-x", "usp/live/1", "usp/x");
    let mut on_live = Controller::over(Link::Mqtt(link.await));
    assert_eq!(
        value(&mut on_live, &format!("{sub}Topic")).await,
        "usp/live/#"
    );

    // Its topic changed: the old filter is unsubscribed from, the new one subscribed to.
    set_ok(&mut m.ws, &sub, "Topic", "usp/moved/#").await;
    m.agent.wait_line("MQTT topic filters unsubscribed").await;
    wait_value(&mut m.ws, &format!("{sub}Status"), "Subscribed").await;
    only_heard_on(&mut on_live, "usp/live/1", "usp/moved/1").await;

    // Disabled, then deleted: the filter goes, the own topic stays.
    set_ok(&mut m.ws, &sub, "Enable", "false").await;
    m.agent.wait_line("MQTT topic filters unsubscribed").await;
    wait_value(&mut m.ws, &format!("{sub}Status"), "Unsubscribed").await;
    only_heard_on(&mut on_live, "usp/moved/1", "usp/agent").await;
    set_ok(&mut m.ws, &sub, "Enable", "true").await;
    wait_value(&mut m.ws, &format!("{sub}Status"), "Subscribed").await;
    let delete = DeleteBuilder::new()
        .with_obj_paths(vec![sub.clone()])
        .build()
        .unwrap();
    assert!(m.ws.request(delete).await["Response"]["DeleteResp"].is_object());
    m.agent.wait_line("MQTT topic filters unsubscribed").await;
    only_heard_on(&mut on_live, "usp/moved/1", "usp/agent").await;

    // All on the first connection: no second MqttConnect Record (the agent greets its
    // controller on every CONNACK), a SUBSCRIBE per change and an UNSUBSCRIBE per filter gone.
    let count = |text: String| text.parse::<u64>().unwrap();
    let stats = format!("{CLIENT}Stats.");
    let subscribes = count(value(&mut m.on_broker, &format!("{stats}SubscribeSent")).await);
    let unsubscribes = count(value(&mut m.on_broker, &format!("{stats}UnSubscribeSent")).await);
    assert_eq!((subscribes, unsubscribes), (4, 3));
    assert_eq!(m.on_broker.connect_records, 1);
    drop(m.ws);
    m.agent.stop().await;
}

#[tokio::test(flavor = "current_thread")]
async fn a_late_subscriber_gets_the_retained_response_or_notify() {
    common::within(Duration::from_secs(120), retained()).await;
}

/// The first Msg a new subscriber to `usp/ctrl` gets (as rusp's JSON), which must be
/// retained.
async fn retained_msg(port: u16, client_id: &str) -> serde_json::Value {
    let link = MqttLink::connect(port, Version::V5, client_id, "usp/agent", "usp/ctrl").await;
    let mut late = Controller::over(Link::Mqtt(link));
    let msg = late.recv().await;
    assert!(received(&late).last().unwrap().retain, "{msg}");
    msg
}

async fn retained() {
    const ROW: &str = "Device.LocalAgent.Controller.1.MTP.1.";
    let mut m = mqtt_agent(Version::V5).await;
    let follows = "USP MQTT MTP follows its rows' change";
    // Answered, the OnBoardRequest is not sent again (it would replace a retained Notify).
    m.on_broker.notify(|n| n["on_board_req"].is_object()).await;

    // Responses retained: the broker keeps the last for whoever subscribes later.
    set_ok(&mut m.ws, ROW, "MQTT.PublishRetainResponse", "true").await;
    m.agent.wait_line(follows).await;
    let serial = get(&["Device.DeviceInfo.SerialNumber"]);
    m.on_broker.request(serial.clone()).await;
    let msg = retained_msg(m.broker.port, "late-1").await;
    assert!(msg["Body"]["Response"]["GetResp"].is_object(), "{msg}");

    // Notifies retained instead: a Notify replaces it, the responses that follow do not.
    set_ok(&mut m.ws, ROW, "MQTT.PublishRetainResponse", "false").await;
    m.agent.wait_line(follows).await;
    set_ok(&mut m.ws, ROW, "MQTT.PublishRetainNotify", "true").await;
    m.agent.wait_line(follows).await;
    let subscription = [
        ("ID", "retained"),
        ("NotifType", "ValueChange"),
        ("ReferenceList", "Device.WiFi.SSID.1.SSID"),
        ("Enable", "true"),
    ];
    added_path(
        &m.on_broker
            .request(add("Device.LocalAgent.Subscription.", &subscription))
            .await,
    );
    m.on_broker
        .request(set("Device.WiFi.SSID.1.", "SSID", "retained"))
        .await;
    let changed = |n: &serde_json::Value| n["value_change"]["param_value"] == "retained";
    m.on_broker.notify(changed).await;
    m.on_broker.request(serial).await;
    let msg = retained_msg(m.broker.port, "late-2").await;
    let notify = &msg["Body"]["Request"]["Notify"];
    assert_eq!(notify["subscription_id"], "retained", "{msg}");
    drop(m.ws);
    m.agent.stop().await;
}

#[tokio::test(flavor = "current_thread")]
async fn the_client_rows_alpn_is_offered_to_a_tls_broker() {
    common::within(Duration::from_secs(60), alpn()).await;
}

/// Accepts the agent's next TLS connection on `listener`: the protocol ALPN agreed on.
async fn accepted_alpn(listener: &TcpListener, acceptor: &TlsAcceptor) -> Option<Vec<u8>> {
    let (stream, _) = tokio::time::timeout(WAIT, listener.accept())
        .await
        .expect("the agent connects in time")
        .unwrap();
    let tls = tokio::time::timeout(WAIT, acceptor.accept(stream))
        .await
        .expect("TLS handshake in time")
        .unwrap();
    tls.get_ref().1.alpn_protocol().map(<[u8]>::to_vec)
}

async fn alpn() {
    let dir = tempfile::tempdir().unwrap();
    common::tls::make_certificates(dir.path(), "", true);
    let mut server = (**common::tls::acceptor(dir.path()).config()).clone();
    server.alpn_protocols = vec![b"mqtt".to_vec()];
    let acceptor = TlsAcceptor::from(Arc::new(server));
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let config = agent_config(dir.path(), port, "5.0", "usp/agent", "usp/ctrl");
    let text = std::fs::read_to_string(&config).unwrap();
    std::fs::write(
        &config,
        text.replacen("[usp.mqtt]\n", "[usp.mqtt]\ntls = true\n", 1),
    )
    .unwrap();
    let (config, ca) = (config.to_str().unwrap(), dir.path().join("ca.pem"));
    let args = ["--config", config, "--ca-file", ca.to_str().unwrap()];
    let agent = AgentProcess::start(&dir.path().join("state"), &args).await;
    // The factory row offers no protocol.
    assert_eq!(accepted_alpn(&listener, &acceptor).await, None);

    // Set, the agent connects again (it also retries the broker that never answered).
    let mut ws = connect_ws(&agent.url).await;
    set_ok(&mut ws, CLIENT, "ALPN", "x-other, mqtt").await;
    let deadline = std::time::Instant::now() + WAIT;
    loop {
        if let Some(agreed) = accepted_alpn(&listener, &acceptor).await {
            assert_eq!(agreed, b"mqtt");
            break;
        }
        assert!(std::time::Instant::now() < deadline, "no ALPN offered");
    }
    drop(ws);
    agent.stop().await;
}

#[tokio::test(flavor = "current_thread")]
async fn a_refusing_broker_is_an_error_in_the_data_model() {
    common::within(Duration::from_secs(60), broker_refuses()).await;
}

async fn broker_refuses() {
    let dir = tempfile::tempdir().unwrap();
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let config = agent_config(dir.path(), port, "5.0", "usp/agent", "usp/ctrl");
    let state = dir.path().join("state");
    let agent = AgentProcess::start(&state, &["--config", config.to_str().unwrap()]).await;
    let (mut stream, level, _) = read_connect(&listener).await;
    assert_eq!(level, 5);
    // CONNACK, reason 0x87: Not authorized.
    stream
        .write_all(&[0x20, 0x03, 0x00, 0x87, 0x00])
        .await
        .unwrap();
    let mut ws = connect_ws(&agent.url).await;
    wait_value(&mut ws, &format!("{CLIENT}Status"), "Error").await;
    wait_value(&mut ws, &format!("{SECOND}Status"), "Error").await;
    drop(ws);
    agent.stop().await;
}

#[tokio::test(flavor = "current_thread")]
async fn a_controller_row_moves_the_agents_websocket_client() {
    common::within(Duration::from_secs(120), client_row()).await;
}

async fn client_row() {
    const ROW: &str = "Device.LocalAgent.Controller.1.MTP.1.";
    let dir = tempfile::tempdir().unwrap();
    let first = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let second = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let config = dir.path().join("cpe-agent.toml");
    std::fs::write(
        &config,
        format!(
            "[usp.websocket_client]\nretry_min_wait_s = 1\n\
             [usp.websocket_client.controllers]\n\"self::controller\" = \"ws://{}/usp-ctrl\"\n",
            first.local_addr().unwrap()
        ),
    )
    .unwrap();
    let state = dir.path().join("state");
    let agent = AgentProcess::start(&state, &["--config", config.to_str().unwrap()]).await;

    // The factory row of the configured controller, on the agent's own connection to it.
    let (ws, seen) = common::accept_agent_on(&first, true).await;
    assert_eq!(seen.path, "/usp-ctrl");
    let mut ctrl = Controller::over(Link::WebSocket(Box::new(ws.expect("a USP session"))));
    let host = value(&mut ctrl, &format!("{ROW}WebSocket.Host")).await;
    assert_eq!(host, "127.0.0.1");
    let port = value(&mut ctrl, &format!("{ROW}WebSocket.Port")).await;
    assert_eq!(port, first.local_addr().unwrap().port().to_string());

    // Moving it: the SetResp on this connection, then the agent connects to the new server.
    let port = second.local_addr().unwrap().port().to_string();
    set_ok(&mut ctrl, ROW, "WebSocket.Port", &port).await;
    let (ws, seen) = common::accept_agent_on(&second, true).await;
    assert_eq!(seen.path, "/usp-ctrl");
    let mut ctrl = Controller::over(Link::WebSocket(Box::new(ws.expect("a USP session"))));
    assert_eq!(
        value(&mut ctrl, &format!("{ROW}WebSocket.Port")).await,
        port
    );
    drop(ctrl);
    agent.stop().await;
}

#[tokio::test(flavor = "current_thread")]
async fn a_disabled_controller_row_is_refused_at_once() {
    common::within(Duration::from_secs(60), controller_disabled()).await;
}

async fn controller_disabled() {
    let state = tempfile::tempdir().unwrap();
    // The configuration names another controller: self::controller is known by its row.
    let mut agent = AgentProcess::start(state.path(), &["--controller", "proto::other"]).await;
    let mut ws = connect_ws(&agent.url).await;
    let row = "Device.LocalAgent.Controller.1.";
    assert_eq!(value(&mut ws, &format!("{row}EndpointID")).await, CTRL);
    set_ok(&mut ws, row, "Enable", "false").await;
    agent.wait_line("USP controllers changed").await;
    ws.send("after", get(&["Device.DeviceInfo.SerialNumber"]))
        .await;
    agent.wait_line("UnknownController").await;
    drop(ws);
    agent.stop().await;
}
