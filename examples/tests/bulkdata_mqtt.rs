//! End to end: bulk data profiles with `Protocol` `MQTT`, configured by a USP controller over
//! WebSocket, PUBLISH their reports through a real mosquitto broker (started by the test on a
//! free loopback port; `.ci/peers` installs it) on the connection of the MQTT client row they
//! reference, the one the agent's USP MTP runs on or one a controller added that no MTP
//! uses; a collector (a rumqttc client subscribed at QoS 2) receives them.
//! A profile whose `MQTT.Reference` names no client fails its reports and keeps them for the
//! next one, as it does those the broker did not acknowledge (PUBCOMP) before the next report
//! was due or before the connection was lost; `PublishQoS` and `PublishRetain` hold to the broker's Maximum QoS and Retain
//! Available. A connection whose socket fills (the broker frozen under large PUBLISHes)
//! loses none of them and is not reconnected. Every wait is bounded.
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

use std::collections::BTreeMap;
use std::path::Path;
use std::time::Duration;

use common::mqtt::{Mosquitto, Received, Subscriber, agent_config};
use common::{
    AgentProcess, Controller, add, add_bulk_profile, added_path, set_ok, value, wait_value,
};

const AGENT_TOPIC: &str = "usp/agent/sim0001";
const CTRL_TOPIC: &str = "usp/controller/e2e";
/// The client row the agent's MQTT MTP runs on (seeded from `[usp.mqtt]`).
const CLIENT: &str = "Device.MQTT.Client.1.";
const TOPIC: &str = "bulk/sim0001";

/// The agent, its MQTT MTP connected to the broker on `port`, and a controller over
/// WebSocket.
async fn agent(dir: &Path, port: u16) -> (AgentProcess, Controller) {
    agent_keeping_alive(dir, port, 10).await
}

/// [`agent`], its MQTT keep-alive `keep_alive_s`.
async fn agent_keeping_alive(
    dir: &Path,
    port: u16,
    keep_alive_s: u16,
) -> (AgentProcess, Controller) {
    let config = agent_config(dir, port, "5.0", AGENT_TOPIC, CTRL_TOPIC);
    let text = std::fs::read_to_string(&config).unwrap();
    let keep_alive = format!("keep_alive_s = {keep_alive_s}");
    std::fs::write(&config, text.replace("keep_alive_s = 10", &keep_alive)).unwrap();
    let state = dir.join("state");
    let mut agent = AgentProcess::start(&state, &["--config", config.to_str().unwrap()]).await;
    agent.wait_line("USP MQTT MTP connected").await;
    let mut ctrl = Controller::connect(&agent.url).await;
    wait_value(&mut ctrl, &format!("{CLIENT}Status"), "Connected").await;
    (agent, ctrl)
}

/// Adds an MQTT profile reporting the serial number every `interval` seconds to [`TOPIC`]
/// with QoS 2 and the RETAIN flag, its `MQTT.Reference` `reference`, and enables it.
async fn mqtt_profile(ctrl: &mut Controller, reference: &str, interval: &str) -> String {
    let profile = add_bulk_profile(
        ctrl,
        &[
            ("Protocol", "MQTT"),
            ("EncodingType", "JSON"),
            ("ReportingInterval", interval),
            ("NumberOfRetainedFailedReports", "3"),
        ],
        &[("Device.DeviceInfo.SerialNumber", "")],
    )
    .await;
    let mqtt = format!("{profile}MQTT.");
    set_ok(ctrl, &mqtt, "Reference", reference).await;
    set_ok(ctrl, &mqtt, "PublishTopic", TOPIC).await;
    set_ok(ctrl, &mqtt, "PublishQoS", "2").await;
    set_ok(ctrl, &mqtt, "PublishRetain", "true").await;
    let json = format!("{profile}JSONEncoding.");
    set_ok(ctrl, &json, "ReportFormat", "NameValuePair").await;
    set_ok(ctrl, &profile, "Enable", "true").await;
    profile
}

/// The collections in a JSON report.
fn reports(publish: &Received) -> Vec<serde_json::Value> {
    let json: serde_json::Value = serde_json::from_slice(&publish.payload).unwrap();
    json["Report"].as_array().unwrap().clone()
}

#[tokio::test(flavor = "current_thread")]
async fn reports_go_out_on_the_client_rows_connection() {
    common::within(Duration::from_secs(90), published()).await;
}

async fn published() {
    let dir = tempfile::tempdir().unwrap();
    let broker = Mosquitto::start(dir.path()).await;
    let mut collector = Subscriber::connect(broker.port, "collector", "bulk/#").await;
    let (mut agent, mut ctrl) = agent(dir.path(), broker.port).await;
    assert_eq!(
        value(&mut ctrl, "Device.BulkData.Protocols").await,
        "HTTP,MQTT,USPEventNotif"
    );

    // No client referenced: the reports fail, and are kept.
    let profile = mqtt_profile(&mut ctrl, "", "1").await;
    agent
        .wait_line("bulk data report not delivered: kept for the next interval")
        .await;

    // The MTP's client row: the next report carries the failed ones before it.
    set_ok(&mut ctrl, &format!("{profile}MQTT."), "Reference", CLIENT).await;
    let publish = collector.next().await;
    assert_eq!(publish.topic, TOPIC);
    assert_eq!(publish.qos, 2, "PublishQoS");
    assert_eq!(
        publish.content_type.as_deref(),
        Some("application/json; charset=UTF-8"),
        "the Content Type property (R-BULK.8a)"
    );
    let collections = reports(&publish);
    assert!(
        collections.len() >= 2,
        "retained ones first: {collections:?}"
    );
    for collection in &collections {
        assert_eq!(collection["Device.DeviceInfo.SerialNumber"], "SIM0001");
    }
    let times: Vec<i64> = (collections.iter())
        .map(|c| c["CollectionTime"].as_i64().unwrap())
        .collect();
    assert!(times.is_sorted(), "oldest first: {times:?}");

    // Delivered: the next report carries only its own collection.
    let next = collector.next().await;
    assert_eq!(reports(&next).len(), 1, "{:?}", reports(&next));

    // PublishRetain: the broker keeps the last report for a collector that comes later.
    let mut late = Subscriber::connect(broker.port, "late-collector", TOPIC).await;
    let kept = late.next().await;
    assert!(kept.retain, "a retained report");
    assert_eq!(reports(&kept).len(), 1);

    drop(ctrl);
    agent.stop().await;
}

#[tokio::test(flavor = "current_thread")]
async fn a_report_the_broker_did_not_acknowledge_is_retained() {
    common::within(Duration::from_secs(90), unacknowledged()).await;
}

async fn unacknowledged() {
    let dir = tempfile::tempdir().unwrap();
    let broker = Mosquitto::start(dir.path()).await;
    let mut collector = Subscriber::connect(broker.port, "collector", "bulk/#").await;
    let (mut agent, mut ctrl) = agent(dir.path(), broker.port).await;
    mqtt_profile(&mut ctrl, CLIENT, "1").await;
    let first = collector.next().await;
    assert_eq!(reports(&first).len(), 1, "acknowledged, nothing retained");

    // The broker freezes with the connection open (for less than the keep-alive time): the
    // PUBLISH written meanwhile gets no PUBCOMP before the next report is due, so it is not
    // counted delivered.
    broker.pause();
    let line = agent
        .wait_line("bulk data report not delivered: kept for the next interval")
        .await;
    broker.resume();
    assert!(line.contains("the next report is due"), "{line}");

    // It went out again with a later report, which carries it before its own collection;
    // once one is acknowledged, the reports carry their own collection only again.
    let mut retained = false;
    loop {
        let count = reports(&collector.next().await).len();
        retained |= count >= 2;
        if retained && count == 1 {
            break;
        }
    }

    drop(ctrl);
    agent.stop().await;
}

#[tokio::test(flavor = "current_thread")]
async fn a_report_the_connection_lost_before_its_acknowledgement_is_retained() {
    common::within(Duration::from_secs(90), lost_before_ack()).await;
}

async fn lost_before_ack() {
    let dir = tempfile::tempdir().unwrap();
    let broker = Mosquitto::start(dir.path()).await;
    let port = broker.port;
    let (mut agent, mut ctrl) = agent(dir.path(), port).await;
    // Reports only when forced (the next scheduled one is an hour away).
    let profile = mqtt_profile(&mut ctrl, CLIENT, "3600").await;

    // A report written to a frozen broker, which then goes away: the connection is lost
    // before its PUBCOMP, so the report failed (and is not sent on the next connection).
    broker.pause();
    common::force_collection(&mut ctrl, &profile).await;
    // Time to write it (not asserted: what follows holds either way).
    tokio::time::sleep(Duration::from_millis(500)).await;
    drop(broker);
    let line = agent
        .wait_line("bulk data report not delivered: kept for the next interval")
        .await;
    assert!(line.contains("connection was lost"), "{line}");

    // The broker back: the next report carries the lost one first.
    let broker = Mosquitto::start_on(dir.path(), port).await;
    let mut collector = Subscriber::connect(broker.port, "collector", "bulk/#").await;
    agent.wait_line("USP MQTT MTP connected").await;
    common::force_collection(&mut ctrl, &profile).await;
    let publish = collector.next().await;
    assert_eq!(
        reports(&publish).len(),
        2,
        "the lost report, then the new one"
    );

    drop(ctrl);
    agent.stop().await;
}

#[tokio::test(flavor = "current_thread")]
async fn reports_hold_to_the_brokers_maximum_qos_and_retain_available() {
    common::within(Duration::from_secs(60), limited()).await;
}

async fn limited() {
    let dir = tempfile::tempdir().unwrap();
    // A broker that disconnects a client publishing above QoS 1 or with the RETAIN flag.
    let options = "max_qos 1\nretain_available false\n";
    let broker = Mosquitto::start_with_options(dir.path(), options).await;
    let mut collector = Subscriber::connect(broker.port, "collector", "bulk/#").await;
    let (agent, mut ctrl) = agent(dir.path(), broker.port).await;

    mqtt_profile(&mut ctrl, CLIENT, "1").await;
    for _ in 0..2 {
        let publish = collector.next().await;
        assert_eq!(publish.topic, TOPIC);
        assert_eq!(publish.qos, 1, "lowered to the broker's Maximum QoS");
        assert_eq!(reports(&publish).len(), 1, "none failed");
    }
    wait_value(&mut ctrl, &format!("{CLIENT}Status"), "Connected").await;

    drop(ctrl);
    agent.stop().await;
}

#[tokio::test(flavor = "current_thread")]
async fn a_client_row_no_mtp_uses_connects_for_the_reports() {
    common::within(Duration::from_secs(60), client_without_mtp()).await;
}

async fn client_without_mtp() {
    let dir = tempfile::tempdir().unwrap();
    let broker = Mosquitto::start(dir.path()).await;
    let mut collector = Subscriber::connect(broker.port, "collector", "bulk/#").await;
    // No MQTT in the configuration: the agent's only MTP is its WebSocket server.
    let agent = AgentProcess::start(&dir.path().join("state"), &[]).await;
    let mut ctrl = Controller::connect(&agent.url).await;
    let port = broker.port.to_string();
    let client = [
        ("Name", "collector-link"),
        ("Enable", "true"),
        ("BrokerAddress", "127.0.0.1"),
        ("BrokerPort", port.as_str()),
        ("ProtocolVersion", "5.0"),
        ("TransportProtocol", "TCP/IP"),
        ("ClientID", "sim0001-bulk"),
    ];
    let body = ctrl.request(add("Device.MQTT.Client.", &client)).await;
    let client = added_path(&body);
    wait_value(&mut ctrl, &format!("{client}Status"), "Connected").await;
    let mtp = value(&mut ctrl, "Device.LocalAgent.MTPNumberOfEntries").await;
    assert_eq!(mtp, "1", "no agent MTP row references the client row");

    mqtt_profile(&mut ctrl, &client, "1").await;
    let publish = collector.next().await;
    assert_eq!(publish.topic, TOPIC);
    assert_eq!(publish.qos, 2, "PublishQoS");
    for collection in reports(&publish) {
        assert_eq!(collection["Device.DeviceInfo.SerialNumber"], "SIM0001");
    }

    drop(ctrl);
    agent.stop().await;
}

#[tokio::test(flavor = "current_thread")]
async fn a_congested_connection_delivers_every_publish_without_reconnecting() {
    common::within(Duration::from_secs(150), congested()).await;
}

/// Characters of each of the four PUBLISH User Properties: every PUBLISH of the client row
/// then weighs some 240 KB.
const BULKY: usize = 60_000;
/// Profiles reporting every second.
const PROFILES: usize = 8;

async fn congested() {
    let dir = tempfile::tempdir().unwrap();
    let broker = Mosquitto::start(dir.path()).await;
    // Every PUBLISH the agent makes, counted where the broker delivers it.
    let mut collector = Subscriber::connect(broker.port, "collector", "#").await;
    // A keep-alive longer than the broker stays frozen (a PINGRESP can only come after).
    let (mut agent, mut ctrl) = agent_keeping_alive(dir.path(), broker.port, 60).await;
    let bulky = "x".repeat(BULKY);
    for i in 0..4 {
        let name = format!("bulk{i}");
        let row = [
            ("Enable", "true"),
            ("Name", name.as_str()),
            ("Value", bulky.as_str()),
            ("PacketType", "PUBLISH"),
        ];
        let table = format!("{CLIENT}UserProperty.");
        added_path(&ctrl.request(add(&table, &row)).await);
    }
    // At QoS 0, which no in-flight window holds back: what the socket does not take waits.
    let mut profiles = Vec::new();
    for i in 0..PROFILES {
        let settings = [
            ("Protocol", "MQTT"),
            ("EncodingType", "JSON"),
            ("ReportingInterval", "1"),
            ("NumberOfRetainedFailedReports", "0"),
        ];
        let serial = [("Device.DeviceInfo.SerialNumber", "")];
        let profile = add_bulk_profile(&mut ctrl, &settings, &serial).await;
        let mqtt = format!("{profile}MQTT.");
        set_ok(&mut ctrl, &mqtt, "Reference", CLIENT).await;
        set_ok(&mut ctrl, &mqtt, "PublishTopic", &format!("{TOPIC}/{i}")).await;
        set_ok(&mut ctrl, &mqtt, "PublishQoS", "0").await;
        let json = format!("{profile}JSONEncoding.");
        set_ok(&mut ctrl, &json, "ReportFormat", "NameValuePair").await;
        set_ok(&mut ctrl, &profile, "Enable", "true").await;
        profiles.push(profile);
    }
    let mut order = Order::default();
    // Every profile reports.
    while order.last.len() < PROFILES {
        order.check(collector.next().await);
    }

    // The broker freezes with the connection open: the agent's socket fills (some 4 MB of
    // kernel buffers on loopback), then the reports wait, and those not written when the
    // next one is due fail, as the agent logs; meanwhile more are handed to the connection.
    broker.pause();
    for _ in 0..2 * PROFILES {
        agent
            .wait_line("bulk data report not delivered: kept for the next interval")
            .await;
    }
    broker.resume();
    for profile in &profiles {
        set_ok(&mut ctrl, profile, "Enable", "false").await;
    }

    // Every PUBLISH the agent wrote reaches the broker, in order: the collector's count
    // comes to the agent's `PublishSent`, which then stays.
    let sent_path = format!("{CLIENT}Stats.PublishSent");
    let mut received: u64 = order.count;
    loop {
        let sent: u64 = value(&mut ctrl, &sent_path).await.parse().unwrap();
        while received < sent {
            let Some(publish) = collector.try_next().await else {
                panic!("PUBLISHes lost: the agent wrote {sent}, the broker delivered {received}");
            };
            order.check(publish);
            received += 1;
        }
        assert_eq!(received, sent, "more delivered than written");
        if value(&mut ctrl, &sent_path).await.parse::<u64>().unwrap() == sent {
            break;
        }
    }
    let errors = value(&mut ctrl, &format!("{CLIENT}Stats.ConnectionErrors")).await;
    assert_eq!(errors, "0", "the congested connection was not lost");
    assert_eq!(
        value(&mut ctrl, &format!("{CLIENT}Status")).await,
        "Connected"
    );

    drop(ctrl);
    agent.stop().await;
}

/// The reports received per topic: the collection time of the last, which each next one
/// must not precede; and how many PUBLISHes came, reports or not.
#[derive(Default)]
struct Order {
    last: BTreeMap<String, i64>,
    count: u64,
}

impl Order {
    fn check(&mut self, publish: Received) {
        self.count += 1;
        if !publish.topic.starts_with(TOPIC) {
            return;
        }
        let collections = reports(&publish);
        let time = collections.last().unwrap()["CollectionTime"]
            .as_i64()
            .unwrap();
        let last = self.last.entry(publish.topic).or_insert(time);
        assert!(time >= *last, "reports out of order: {time} after {last}");
        *last = time;
    }
}
