//! End to end over STOMP 1.2: the `cpe-agent` binary with its STOMP MTP.
//!
//! Through a real RabbitMQ (its STOMP plugin; a node of the test's own on free loopback
//! ports, `.ci/peers` installs the Debian package) a controller walks through every request
//! of [`common::scenario`], checks the STOMPConnect Record and that every Record names the
//! agent's destination as `reply-to-dest`; MESSAGEs that are not USP Records are dropped;
//! then the broker is killed (the connection's `Status` goes `ServerNotPresent`, seen over
//! the agent's WebSocket MTP) and started again, and the agent reconnects by itself. Against
//! a broker played by the test: the STOMP frame's headers (the Endpoint ID's colons escaped),
//! CONNECTED's `subscribe-dest` honoured (`DestinationFromServer`), a `reply-to-dest` with an
//! escaped colon answered, a frame that cannot be parsed ending the connection, and an
//! `ERROR` answer showing as `Error_AuthenticationFailure`. With two RabbitMQ nodes, a second
//! connection a controller adds: each broker reaches the agent, a Record is answered on the
//! connection it came in on, and disabling one connection leaves the other serving. Every
//! wait is bounded.
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

use std::time::{Duration, Instant};

use rusp_lib::usp_decoder::{try_decode_msg, try_decode_record};
use rusp_lib::usp_record::mod_Record::OneOfrecord_type;
use rusp_lib::usp_record::mod_STOMPConnectRecord::STOMPVersion;
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
use tokio::net::{TcpListener, TcpStream};
use usp_core::mtp::stomp::frame::{Command, Decoded, Frame, FrameLimits, decode_frame};

use common::rabbitmq::RabbitMq;
use common::stomp::{StompLink, agent_config};
use common::{
    AGENT, AgentProcess, CTRL, Controller, Link, WAIT, add, added_path, get, get_params, record,
    set_ok, value, wait_value,
};

const AGENT_DEST: &str = "/queue/usp-agent-sim0001";
const CTRL_DEST: &str = "/queue/usp-controller-e2e";
/// The rows the configuration seeds (the WebSocket server's MTP row is the first).
const CONNECTION: &str = "Device.STOMP.Connection.1.";
const MTP: &str = "Device.LocalAgent.MTP.2.";
/// The controller behind the second broker.
const CTRL_B: &str = "proto::controller-b";

async fn controller(port: u16) -> Controller {
    let link = StompLink::connect(port, CTRL_DEST, AGENT_DEST).await;
    Controller::over(Link::Stomp(Box::new(link)))
}

fn link(ctrl: &mut Controller) -> &mut StompLink {
    match &mut ctrl.link {
        Link::Stomp(link) => link,
        Link::WebSocket(_) | Link::Mqtt(_) | Link::Uds(_) => unreachable!(),
    }
}

#[tokio::test(flavor = "current_thread")]
async fn controller_manages_the_agent_over_stomp_through_rabbitmq() {
    common::within(Duration::from_secs(240), through_rabbitmq()).await;
}

async fn through_rabbitmq() {
    let dir = tempfile::tempdir().unwrap();
    let broker_dir = dir.path().join("broker");
    std::fs::create_dir(&broker_dir).unwrap();
    let broker = RabbitMq::start(&broker_dir).await;
    // The controller subscribes before the agent connects, so it gets the STOMPConnect Record.
    let mut ctrl = controller(broker.port).await;
    let config = agent_config(dir.path(), broker.port, AGENT_DEST, CTRL_DEST);
    let state = dir.path().join("state");
    let mut agent = AgentProcess::start(&state, &["--config", config.to_str().unwrap()]).await;
    let line = agent.wait_line("USP STOMP MTP connected").await;
    assert!(line.contains(AGENT_DEST), "{line}");
    ctrl.await_connect_record().await;

    common::scenario::manage(&mut ctrl).await;
    assert_eq!(ctrl.connect_records, 1, "one STOMPConnect Record");
    let received = &link(&mut ctrl).received;
    let first = try_decode_record(&received[0].0).unwrap();
    assert_eq!(first.from_id, AGENT);
    match first.record_type {
        OneOfrecord_type::stomp_connect(connect) => {
            assert_eq!(connect.subscribed_destination, AGENT_DEST);
            assert_eq!(connect.version, STOMPVersion::V1_2);
        }
        _ => panic!("the first Record is not a STOMPConnect Record"),
    }
    // Every Record names the agent's destination (the controller's client drops MESSAGEs of
    // another content-type than application/vnd.bbf.usp.msg).
    for (_, reply_to) in received {
        assert_eq!(reply_to.as_deref(), Some(AGENT_DEST));
    }
    // The rows, read over the agent's WebSocket server.
    let mut ws = Controller::connect(&agent.url).await;
    assert_eq!(
        value(&mut ws, &format!("{CONNECTION}Status")).await,
        "Enabled"
    );
    assert_eq!(
        value(&mut ws, &format!("{CONNECTION}EnableHeartbeats")).await,
        "true"
    );
    let changed = value(&mut ws, &format!("{CONNECTION}LastChangeDate")).await;
    assert_ne!(changed, "0001-01-01T00:00:00Z");
    assert_eq!(value(&mut ws, &format!("{MTP}Protocol")).await, "STOMP");
    assert_eq!(value(&mut ws, &format!("{MTP}Status")).await, "Up");

    // MESSAGEs that are no USP Records are dropped: another content type, a body that does
    // not decode. The connection stays and the next request is answered.
    let not_usp = b"hello";
    let frames = [
        format!("SEND\ndestination:{AGENT_DEST}\ncontent-type:text/plain\ncontent-length:5\n\n"),
        format!(
            "SEND\ndestination:{AGENT_DEST}\ncontent-type:application/vnd.bbf.usp.msg\n\
             content-length:5\n\n"
        ),
    ];
    for frame in frames {
        let mut wire = frame.into_bytes();
        wire.extend_from_slice(not_usp);
        wire.push(0);
        link(&mut ctrl).write(&wire).await;
    }
    let body = ctrl.request(get(&["Device.WiFi.SSID.1.SSID"])).await;
    assert_eq!(get_params(&body)["SSID"], "e2e-ssid", "{body}");

    // The broker dies: the connection's status shows it while the agent retries; the broker
    // comes back on the same port and the agent reconnects by itself (ServerRetry* backoff)
    // and greets the controller again.
    drop(ctrl);
    let stopped = broker.kill();
    agent.wait_line("USP STOMP connection lost").await;
    wait_value(&mut ws, &format!("{CONNECTION}Status"), "ServerNotPresent").await;
    assert_eq!(value(&mut ws, &format!("{MTP}Status")).await, "Down");
    let broker = stopped.start().await;
    let mut ctrl = controller(broker.port).await;
    agent.wait_line("USP STOMP MTP connected").await;
    ctrl.await_connect_record().await;
    let body = ctrl.request(get(&["Device.WiFi.SSID.1.SSID"])).await;
    assert_eq!(get_params(&body)["SSID"], "e2e-ssid", "{body}");
    wait_value(&mut ws, &format!("{CONNECTION}Status"), "Enabled").await;
    agent.stop().await;
}

/// Reads the agent's next frame (heart-beats skipped); `None` when it closed the connection.
async fn next_frame(stream: &mut TcpStream, buf: &mut Vec<u8>) -> Option<Frame> {
    loop {
        match decode_frame(buf, &FrameLimits::default()).unwrap() {
            Decoded::Frame { frame, consumed } => {
                buf.drain(..consumed);
                return Some(frame);
            }
            Decoded::HeartBeat { consumed } => {
                buf.drain(..consumed);
            }
            Decoded::Incomplete => {
                let mut chunk = [0; 4096];
                let n = tokio::time::timeout(WAIT, stream.read(&mut chunk))
                    .await
                    .expect("a frame from the agent in time")
                    .unwrap_or(0);
                if n == 0 {
                    return None;
                }
                buf.extend_from_slice(&chunk[..n]);
            }
        }
    }
}

/// Accepts the agent's connection and reads its STOMP frame, raw.
async fn accept_stomp(listener: &TcpListener) -> (TcpStream, Vec<u8>) {
    let (mut stream, _) = tokio::time::timeout(WAIT, listener.accept())
        .await
        .expect("the agent connects in time")
        .unwrap();
    let mut raw = Vec::new();
    while !raw.contains(&0) {
        let mut chunk = [0; 1024];
        let n = tokio::time::timeout(WAIT, stream.read(&mut chunk))
            .await
            .expect("a STOMP frame in time")
            .unwrap();
        assert!(n > 0, "the agent closed before its STOMP frame");
        raw.extend_from_slice(&chunk[..n]);
    }
    (stream, raw)
}

#[tokio::test(flavor = "current_thread")]
async fn a_scripted_broker_s_subscribe_dest_bad_frames_and_refusal() {
    common::within(Duration::from_secs(120), scripted_broker()).await;
}

async fn scripted_broker() {
    let dir = tempfile::tempdir().unwrap();
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    // No destination configured: the broker's subscribe-dest is the only one.
    let config = agent_config(dir.path(), port, "", CTRL_DEST);
    let state = dir.path().join("state");
    let mut agent = AgentProcess::start(&state, &["--config", config.to_str().unwrap()]).await;

    let (mut stream, raw) = accept_stomp(&listener).await;
    let text = String::from_utf8(raw).unwrap();
    assert!(text.starts_with("STOMP\n"), "{text:?}");
    for header in [
        "accept-version:1.2\n",
        // The Endpoint ID's colons escaped (TR-369 STOMP binding).
        "endpoint-id:os\\c\\c00D09E-SIM0001\n",
        "host:/\n",
        "login:guest\n",
        "passcode:guest\n",
        "heart-beat:1000,1000\n",
    ] {
        assert!(text.contains(header), "{header:?} missing in {text:?}");
    }
    stream
        .write_all(
            b"CONNECTED\nversion:1.2\nheart-beat:0,0\nsubscribe-dest:/queue/from-server\n\n\0",
        )
        .await
        .unwrap();
    let mut buf = Vec::new();
    let subscribe = next_frame(&mut stream, &mut buf).await.unwrap();
    assert_eq!(subscribe.command, Command::Subscribe);
    assert_eq!(subscribe.header("destination"), Some("/queue/from-server"));
    assert_eq!(subscribe.header("ack"), Some("auto"));
    let greeting = next_frame(&mut stream, &mut buf).await.unwrap();
    assert_eq!(greeting.command, Command::Send);
    assert_eq!(greeting.header("destination"), Some(CTRL_DEST));
    assert_eq!(greeting.header("reply-to-dest"), Some("/queue/from-server"));
    assert_eq!(
        greeting.header("content-type"),
        Some("application/vnd.bbf.usp.msg")
    );
    match try_decode_record(&greeting.body).unwrap().record_type {
        OneOfrecord_type::stomp_connect(connect) => {
            assert_eq!(connect.subscribed_destination, "/queue/from-server");
        }
        _ => panic!("not a STOMPConnect Record"),
    }

    // A Get whose reply-to-dest holds an (escaped) colon.
    let get_record = record(CTRL, "scripted-1", get(&["Device.DeviceInfo.SerialNumber"]));
    let mut message = format!(
        "MESSAGE\ndestination:/queue/from-server\nsubscription:0\nmessage-id:1\n\
         reply-to-dest:/queue/reply\\chere\ncontent-type:application/vnd.bbf.usp.msg\n\
         content-length:{}\n\n",
        get_record.len()
    )
    .into_bytes();
    message.extend_from_slice(&get_record);
    message.extend_from_slice(b"\0\n");
    stream.write_all(&message).await.unwrap();
    // The answer (notifications for the controller's destination may come first).
    let answer = loop {
        let frame = next_frame(&mut stream, &mut buf).await.unwrap();
        assert_eq!(frame.command, Command::Send);
        let OneOfrecord_type::no_session_context(payload) =
            try_decode_record(&frame.body).unwrap().record_type
        else {
            panic!("not a no-session Record");
        };
        let msg = serde_json::to_value(try_decode_msg(&payload.payload).unwrap()).unwrap();
        if msg["Header"]["msg_id"] == "scripted-1" {
            break frame;
        }
        assert_eq!(frame.header("destination"), Some(CTRL_DEST), "{msg}");
    };
    assert_eq!(answer.header("destination"), Some("/queue/reply:here"));
    let mut ws = Controller::connect(&agent.url).await;
    let from_server = value(&mut ws, &format!("{MTP}STOMP.DestinationFromServer")).await;
    assert_eq!(from_server, "/queue/from-server");

    // A frame that cannot be parsed ends the connection; the agent connects again.
    stream.write_all(b"BOGUS\n\n\0").await.unwrap();
    assert!(next_frame(&mut stream, &mut buf).await.is_none());
    agent.wait_line("USP STOMP connection lost").await;

    // This time the broker refuses the credentials.
    let (mut stream, _) = accept_stomp(&listener).await;
    stream
        .write_all(b"ERROR\nmessage:Access refused\n\n\0")
        .await
        .unwrap();
    drop(stream);
    agent.wait_line("Access refused").await;
    let refused = "Error_AuthenticationFailure";
    wait_value(&mut ws, &format!("{CONNECTION}Status"), refused).await;
    agent.stop().await;
}

#[tokio::test(flavor = "current_thread")]
async fn two_connections_to_two_brokers() {
    common::within(Duration::from_secs(240), two_brokers()).await;
}

async fn two_brokers() {
    let dir = tempfile::tempdir().unwrap();
    let (a_dir, b_dir) = (dir.path().join("broker-a"), dir.path().join("broker-b"));
    std::fs::create_dir(&a_dir).unwrap();
    std::fs::create_dir(&b_dir).unwrap();
    let (broker_a, broker_b) = tokio::join!(RabbitMq::start(&a_dir), RabbitMq::start(&b_dir));
    let mut ctrl_a = controller(broker_a.port).await;
    let config = agent_config(dir.path(), broker_a.port, AGENT_DEST, CTRL_DEST);
    let state = dir.path().join("state");
    let mut agent = AgentProcess::start(&state, &["--config", config.to_str().unwrap()]).await;
    agent.wait_line("USP STOMP MTP connected").await;
    ctrl_a.await_connect_record().await;

    // Over the agent's WebSocket MTP, the controller adds a connection to broker B (another
    // host name: Host, Username and VirtualHost are the rows' unique key), an agent MTP row
    // on it, and a second controller behind broker B.
    let mut ws = Controller::connect(&agent.url).await;
    let port_b = broker_b.port.to_string();
    let connection = [
        ("Host", "localhost"),
        ("Port", port_b.as_str()),
        ("Username", "guest"),
        ("Password", "guest"),
        ("VirtualHost", "/"),
        ("EnableEncryption", "false"),
        ("ServerRetryInitialInterval", "1"),
        ("ServerRetryMaxInterval", "2"),
    ];
    let connection = added_path(
        &ws.request(add("Device.STOMP.Connection.", &connection))
            .await,
    );
    let reference = connection.trim_end_matches('.');
    let agent_dest_b = "/queue/usp-agent-b";
    let ctrl_dest_b = "/queue/usp-controller-b";
    let stomp_row = [("Protocol", "STOMP"), ("Enable", "false")];
    let mtp = added_path(&ws.request(add("Device.LocalAgent.MTP.", &stomp_row)).await);
    let controller_b = [
        ("EndpointID", CTRL_B),
        ("Enable", "true"),
        ("AssignedRole", "Device.LocalAgent.ControllerTrust.Role.1"),
    ];
    let row = added_path(
        &ws.request(add("Device.LocalAgent.Controller.", &controller_b))
            .await,
    );
    let ctrl_mtp = added_path(&ws.request(add(&format!("{row}MTP."), &stomp_row)).await);
    for (row, destination) in [(&mtp, agent_dest_b), (&ctrl_mtp, ctrl_dest_b)] {
        // The agent creates the rows' STOMP. objects once it sees them.
        wait_object(&mut ws, &format!("{row}STOMP.")).await;
        set_ok(&mut ws, row, "STOMP.Reference", reference).await;
        set_ok(&mut ws, row, "STOMP.Destination", destination).await;
    }
    let mut ctrl_b = Controller::over(Link::Stomp(Box::new(
        StompLink::connect(broker_b.port, ctrl_dest_b, agent_dest_b).await,
    )));
    ctrl_b.id = CTRL_B.to_owned();
    for row in [&connection, &mtp, &ctrl_mtp] {
        set_ok(&mut ws, row, "Enable", "true").await;
    }
    // Greeted on broker B; a Record through B is answered through B, and A still serves.
    ctrl_b.await_connect_record().await;
    answers(&mut ctrl_b).await;
    let (_, reply_to) = link(&mut ctrl_b).received.last().unwrap();
    assert_eq!(reply_to.as_deref(), Some(agent_dest_b));
    answers(&mut ctrl_a).await;
    for row in [CONNECTION, &connection] {
        wait_value(&mut ws, &format!("{row}Status"), "Enabled").await;
    }
    for row in [MTP, &mtp] {
        assert_eq!(value(&mut ws, &format!("{row}Status")).await, "Up");
    }

    // Connection B disabled: its MTP row goes Down, connection A keeps serving.
    set_ok(&mut ws, &connection, "Enable", "false").await;
    wait_value(&mut ws, &format!("{connection}Status"), "Disabled").await;
    wait_value(&mut ws, &format!("{mtp}Status"), "Down").await;
    answers(&mut ctrl_a).await;
    assert_eq!(
        value(&mut ws, &format!("{CONNECTION}Status")).await,
        "Enabled"
    );
    assert_eq!(value(&mut ws, &format!("{MTP}Status")).await, "Up");
    assert_eq!(ctrl_a.connect_records, 1, "connection A was not restarted");
    agent.stop().await;
}

/// `ctrl` gets an answer to a Get of the serial number.
async fn answers(ctrl: &mut Controller) {
    let body = ctrl.request(get(&["Device.DeviceInfo.SerialNumber"])).await;
    assert_eq!(get_params(&body)["SerialNumber"], "SIM0001", "{body}");
}

/// Waits until the agent has created `object` (the protocol object of a row a controller
/// added).
async fn wait_object(ctrl: &mut Controller, object: &str) {
    let deadline = Instant::now() + WAIT;
    loop {
        let body = ctrl.request(get(&[object])).await;
        let result = &body["Response"]["GetResp"]["req_path_results"][0];
        let found = result["resolved_path_results"].as_array();
        if result["err_code"] == 0 && found.is_some_and(|found| !found.is_empty()) {
            return;
        }
        assert!(Instant::now() < deadline, "{object} not created: {body}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}
