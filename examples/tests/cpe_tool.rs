//! The `cpe-tool` binary: `usp encode` of a JSON request gives the exact bytes of the rusp-lib
//! test vector of `../shared/spec/usp/FACTS.md` §9, `usp decode` reads them back (and refuses
//! an invalid Record with its USP error), what it prints encodes back to the same bytes for
//! every request kind, `cwmp check`
//! accepts an envelope our codec wrote and refuses broken ones with a CWMP fault code, and
//! `usp request` gets an answer from a running agent over WebSocket, over MQTT (through a
//! real mosquitto) and over STOMP (through a real RabbitMQ).
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

use std::io::Write as _;
use std::path::Path;
use std::process::{Command, Output, Stdio};
use std::time::Duration;

use cwmp_core::codec::{Body, CwmpNamespace, Envelope};
use serde_json::Value;

use common::mqtt::{Mosquitto, agent_config};
use common::rabbitmq::RabbitMq;
use common::{AGENT, AgentProcess, gpv};

/// FACTS.md §9: a Get of `Device.DeviceInfo.` with max_depth 1, msg_id `probe-1`, to
/// `proto::agent` from `proto::ctrl`, made with rusp-lib.
const VECTOR: &str = "0a03312e34120c70726f746f3a3a6167656e741a0b70726f746f3a3a6374726c3a2e122c\
                      0a0b0a0770726f62652d311001121d0a1b0a190a124465766963652e446576696365496e\
                      666f2e1501000000";

fn hex(text: &str) -> Vec<u8> {
    (0..text.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&text[i..i + 2], 16).unwrap())
        .collect()
}

/// Runs cpe-tool with `args`, `stdin` on its standard input.
fn tool(args: &[&str], stdin: &[u8]) -> Output {
    let mut child = Command::new(env!("CARGO_BIN_EXE_cpe-tool"))
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child.stdin.take().unwrap().write_all(stdin).unwrap();
    child.wait_with_output().unwrap()
}

fn json(output: &Output) -> Value {
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    serde_json::from_slice(&output.stdout).unwrap()
}

#[test]
fn usp_encode_writes_the_spec_vector_and_decode_reads_it_back() {
    let request = r#"{"to_id": "proto::agent", "from_id": "proto::ctrl", "msg_id": "probe-1",
        "request": {"get": {"paths": ["Device.DeviceInfo."], "max_depth": 1}}}"#;
    let encoded = tool(&["usp", "encode", "-"], request.as_bytes());
    assert!(encoded.status.success());
    assert_eq!(encoded.stdout, hex(VECTOR));

    let output = tool(&["usp", "decode", "-"], &encoded.stdout);
    let decoded = json(&output);
    // What decode printed encodes back to the same bytes.
    let again = tool(&["usp", "encode", "-"], &output.stdout);
    assert!(
        again.status.success(),
        "{}",
        String::from_utf8_lossy(&again.stderr)
    );
    assert_eq!(again.stdout, hex(VECTOR));
    assert_eq!(decoded["to_id"], "proto::agent");
    assert_eq!(decoded["from_id"], "proto::ctrl");
    let msg = &decoded["payload"];
    assert_eq!(msg["Header"]["msg_id"], "probe-1");
    assert_eq!(msg["Header"]["msg_type"], "GET");
    let get = &msg["Body"]["Request"]["Get"];
    assert_eq!(get["param_paths"][0], "Device.DeviceInfo.");
    assert_eq!(get["max_depth"], 1);
}

#[test]
fn usp_round_trip_of_every_request_kind() {
    let requests = [
        (
            r#"{"set": {"object": "Device.WiFi.SSID.1.", "params": {"SSID": "x"}}}"#,
            "Set",
        ),
        (
            r#"{"add": {"table": "Device.NAT.PortMapping.", "params": {"Description": "d"}}}"#,
            "Add",
        ),
        (
            r#"{"delete": {"paths": ["Device.NAT.PortMapping.1."]}}"#,
            "Delete",
        ),
        (
            r#"{"operate": {"command": "Device.IP.Diagnostics.IPPing()", "command_key": "k",
                "args": {"Host": "127.0.0.1", "NumberOfRepetitions": "2"}}}"#,
            "Operate",
        ),
        (
            r#"{"get_instances": {"paths": ["Device.WiFi."]}}"#,
            "GetInstances",
        ),
        (
            r#"{"get_supported_dm": {"paths": ["Device."], "first_level_only": true}}"#,
            "GetSupportedDM",
        ),
    ];
    for (request, kind) in requests {
        let spec = format!(
            r#"{{"to_id": "{AGENT}", "from_id": "self::controller", "msg_id": "rt", "request": {request}}}"#
        );
        let encoded = tool(&["usp", "encode", "-"], spec.as_bytes());
        assert!(encoded.status.success(), "{spec}");
        // rusp-lib, an independent codec, reads what the tool wrote.
        let record = rusp_lib::usp_decoder::try_decode_record(&encoded.stdout).unwrap();
        assert_eq!(record.to_id, AGENT);
        let output = tool(&["usp", "decode", "-"], &encoded.stdout);
        let decoded = json(&output);
        let body = &decoded["payload"]["Body"]["Request"][kind];
        assert!(body.is_object(), "{kind}: {decoded}");
        let again = tool(&["usp", "encode", "-"], &output.stdout);
        assert_eq!(again.stdout, encoded.stdout, "{kind}: decode then encode");
    }
}

#[test]
fn usp_decode_refuses_invalid_records() {
    // A Record with a version and nothing else: no to_id (7104 per usp-core).
    let output = tool(&["usp", "decode", "-"], &hex("0a03312e34"));
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("error 71"), "{stderr}");
    // Not protobuf at all.
    let output = tool(&["usp", "decode", "-"], b"\xff\xff\xff");
    assert!(!output.status.success());
    // A JSON request with an unknown kind.
    let output = tool(
        &["usp", "encode", "-"],
        br#"{"to_id": "a::b", "from_id": "c::d", "msg_id": "x", "request": {"reboot": {}}}"#,
    );
    assert!(!output.status.success());
}

#[test]
fn cwmp_check_accepts_our_envelopes_and_refuses_broken_ones() {
    let dir = tempfile::tempdir().unwrap();
    let mut bytes = Vec::new();
    let envelope = Envelope::new(CwmpNamespace::V1_2, gpv(&["Device.DeviceInfo."]));
    let envelope: Envelope = envelope.with_id("check-1");
    assert!(matches!(envelope.body, Body::GetParameterValues(_)));
    envelope.encode(&mut bytes).unwrap();
    let good = dir.path().join("good.xml");
    std::fs::write(&good, &bytes).unwrap();
    let output = check(&good);
    assert!(output.status.success());
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(stdout.contains("GetParameterValues"), "{stdout}");
    assert!(stdout.contains("check-1"), "{stdout}");

    for (name, text) in [
        ("truncated.xml", &bytes[..bytes.len() / 2]),
        (
            "doctype.xml",
            b"<!DOCTYPE x [<!ENTITY a \"b\">]><x/>".as_slice(),
        ),
        ("empty.xml", b"".as_slice()),
    ] {
        let bad = dir.path().join(name);
        std::fs::write(&bad, text).unwrap();
        let output = check(&bad);
        assert_eq!(output.status.code(), Some(1), "{name}");
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(stderr.contains("fault 90"), "{name}: {stderr}");
    }
}

fn check(path: &Path) -> Output {
    tool(&["cwmp", "check", path.to_str().unwrap()], b"")
}

#[tokio::test(flavor = "current_thread")]
async fn usp_request_gets_an_answer_from_the_agent() {
    common::within(Duration::from_secs(60), request_the_agent()).await;
}

async fn request_the_agent() {
    let dir = tempfile::tempdir().unwrap();
    let broker = Mosquitto::start(dir.path()).await;
    let config = agent_config(dir.path(), broker.port, "5.0", "usp/agent/tool", "usp/ctrl");
    let state = dir.path().join("state");
    let mut agent = AgentProcess::start(&state, &["--config", config.to_str().unwrap()]).await;
    agent.wait_line("USP MQTT MTP connected").await;
    let ws: Vec<String> = ["--url", agent.url.as_str()].map(str::to_owned).into();
    let broker = format!("127.0.0.1:{}", broker.port);
    let mqtt: Vec<String> = ["--mqtt", &broker, "--agent-topic", "usp/agent/tool"]
        .map(str::to_owned)
        .into();
    for via in [ws, mqtt] {
        request_serial_number(via).await;
    }
    agent.stop().await;
}

/// Runs `cpe-tool usp request` with the `via` flags for the agent's serial number and checks
/// the answer.
async fn request_serial_number(via: Vec<String>) {
    let output = tokio::task::spawn_blocking(move || {
        let mut args = vec!["usp", "request"];
        args.extend(via.iter().map(String::as_str));
        args.extend(["get", "Device.DeviceInfo.SerialNumber"]);
        tool(&args, b"")
    })
    .await
    .unwrap();
    let answer = json(&output);
    let result = &answer["payload"]["Body"]["Response"]["GetResp"]["req_path_results"][0];
    assert_eq!(
        result["resolved_path_results"][0]["result_params"]["SerialNumber"], "SIM0001",
        "{answer}"
    );
}

#[tokio::test(flavor = "current_thread")]
async fn usp_request_gets_an_answer_over_stomp() {
    common::within(Duration::from_secs(180), request_over_stomp()).await;
}

/// `cpe-tool` as a controller on a STOMP broker: its Record goes to the agent's destination
/// with its own as `reply-to-dest`, where the answer comes.
async fn request_over_stomp() {
    let dir = tempfile::tempdir().unwrap();
    let broker_dir = dir.path().join("broker");
    std::fs::create_dir(&broker_dir).unwrap();
    let broker = RabbitMq::start(&broker_dir).await;
    let agent_dest = "/queue/usp-agent-tool";
    let config = common::stomp::agent_config(dir.path(), broker.port, agent_dest, "/queue/ctrl");
    let state = dir.path().join("state");
    let mut agent = AgentProcess::start(&state, &["--config", config.to_str().unwrap()]).await;
    agent.wait_line("USP STOMP MTP connected").await;
    let address = format!("127.0.0.1:{}", broker.port);
    let flags = [
        "--stomp",
        &address,
        "--agent-dest",
        agent_dest,
        "--stomp-login",
        "guest:guest",
        "--virtual-host",
        "/",
    ];
    request_serial_number(flags.map(str::to_owned).into()).await;
    agent.stop().await;
}
