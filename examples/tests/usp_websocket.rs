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

use std::io::{BufRead as _, BufReader};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::mpsc as std_mpsc;
use std::time::Duration;

use futures_util::{SinkExt as _, StreamExt as _};
use rusp_lib::usp::Body;
use rusp_lib::usp_builder::{
    AddBuilder, CreateObjectBuilder, DeleteBuilder, GetBuilder, GetInstancesBuilder,
    GetSupportedDMBuilder, MsgBuilder, NotifyRespBuilder, OperateBuilder, RecordBuilder,
    SetBuilder, UpdateObjectBuilder,
};
use rusp_lib::usp_decoder::{try_decode_msg, try_decode_record};
use rusp_lib::usp_record::mod_Record::OneOfrecord_type;
use serde_json::Value;
use tokio::net::TcpStream;
use tokio_tungstenite::WebSocketStream;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::client::IntoClientRequest as _;
use tokio_tungstenite::tungstenite::http::HeaderValue;

const AGENT: &str = "os::00D09E-SIM0001";
const CTRL: &str = "self::controller";
/// The longest any single wait may take.
const WAIT: Duration = Duration::from_secs(20);

/// The agent binary, running.
struct AgentProcess {
    child: Child,
    lines: std_mpsc::Receiver<String>,
    url: String,
}

impl AgentProcess {
    fn start(state_dir: &Path) -> Self {
        let mut child = Command::new(env!("CARGO_BIN_EXE_cpe-agent"))
            .arg("--state-dir")
            .arg(state_dir)
            .args(["--ws-listen", "127.0.0.1:0", "--log", "info"])
            .env_remove("RUST_LOG")
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("start cpe-agent");
        let stdout = child.stdout.take().unwrap();
        let (tx, lines) = std_mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines() {
                let Ok(line) = line else { break };
                println!("agent| {line}");
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        let mut agent = Self {
            child,
            lines,
            url: String::new(),
        };
        let line = agent.wait_line("listening on ws://");
        let url = line.split("listening on ").nth(1).unwrap().trim();
        assert!(line.contains(&format!("USP agent {AGENT} ")), "{line}");
        agent.url = url.to_owned();
        agent
    }

    /// Waits for a log line containing `needle`.
    fn wait_line(&mut self, needle: &str) -> String {
        let deadline = std::time::Instant::now() + WAIT;
        loop {
            let left = deadline.saturating_duration_since(std::time::Instant::now());
            match self.lines.recv_timeout(left) {
                Ok(line) if line.contains(needle) => return line,
                Ok(_) => {}
                Err(error) => panic!("no log line with {needle:?}: {error}"),
            }
        }
    }

    /// SIGTERM, then a clean exit within the bound.
    fn stop(mut self) {
        let status = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status()
            .unwrap();
        assert!(status.success());
        self.wait_line("state saved, stopped");
        let deadline = std::time::Instant::now() + WAIT;
        loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                assert!(status.success(), "cpe-agent exited with {status}");
                return;
            }
            assert!(
                std::time::Instant::now() < deadline,
                "cpe-agent did not exit"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

impl Drop for AgentProcess {
    fn drop(&mut self) {
        if matches!(self.child.try_wait(), Ok(None)) {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

/// A USP controller on one WebSocket connection.
struct Controller {
    ws: WebSocketStream<TcpStream>,
    next: u32,
    notifies: Vec<Value>,
    connect_records: usize,
}

impl Controller {
    async fn connect(url: &str) -> Self {
        let addr = url
            .strip_prefix("ws://")
            .and_then(|rest| rest.split('/').next())
            .unwrap();
        let stream = TcpStream::connect(addr).await.unwrap();
        let mut request = format!("{url}?eid={CTRL}").into_client_request().unwrap();
        request
            .headers_mut()
            .insert("Sec-WebSocket-Protocol", HeaderValue::from_static("v1.usp"));
        let (ws, response) = tokio_tungstenite::client_async(request, stream)
            .await
            .unwrap();
        assert_eq!(
            response.headers().get("Sec-WebSocket-Protocol").unwrap(),
            "v1.usp"
        );
        Self {
            ws,
            next: 0,
            notifies: Vec::new(),
            connect_records: 0,
        }
    }

    async fn send(&mut self, msg_id: &str, body: Body) {
        let msg = MsgBuilder::new()
            .with_msg_id(msg_id.to_owned())
            .with_body(body)
            .build()
            .unwrap();
        let record = RecordBuilder::new()
            .with_version("1.4".into())
            .with_to_id(AGENT.into())
            .with_from_id(CTRL.into())
            .with_no_session_context_payload(&msg)
            .build()
            .unwrap();
        self.ws
            .send(Message::Binary(record.to_vec().unwrap().into()))
            .await
            .unwrap();
    }

    /// The next USP Msg, as rusp's JSON; connect Records are counted and skipped.
    async fn recv(&mut self) -> Value {
        loop {
            let frame = tokio::time::timeout(WAIT, self.ws.next())
                .await
                .unwrap_or_else(|_| {
                    panic!(
                        "no Record from the agent in time; notifications kept: {:?}",
                        self.notifies
                    )
                })
                .expect("connection closed")
                .unwrap();
            let Message::Binary(bytes) = frame else {
                continue;
            };
            let record = try_decode_record(&bytes).unwrap();
            assert_eq!(record.to_id, CTRL);
            assert_eq!(record.from_id, AGENT);
            match record.record_type {
                OneOfrecord_type::no_session_context(ns) => {
                    let msg = try_decode_msg(&ns.payload).unwrap();
                    return serde_json::to_value(&msg).unwrap();
                }
                OneOfrecord_type::websocket_connect(_) => self.connect_records += 1,
                _ => panic!("unexpected Record type"),
            }
        }
    }

    /// Sends a request and returns the body of its answer (notifications met on the way
    /// are kept).
    async fn request(&mut self, body: Body) -> Value {
        self.next += 1;
        let msg_id = format!("ctrl-{}", self.next);
        self.send(&msg_id, body).await;
        loop {
            let msg = self.recv().await;
            if msg["Header"]["msg_id"] == msg_id.as_str() {
                return msg["Body"].clone();
            }
            self.keep_notify(msg);
        }
    }

    fn keep_notify(&mut self, msg: Value) {
        assert!(
            msg["Body"]["Request"]["Notify"].is_object(),
            "unexpected Msg {msg}"
        );
        self.notifies.push(msg);
    }

    /// Waits for a Notify whose JSON satisfies `pick`; answers it if it asks for a response.
    async fn notify(&mut self, pick: impl Fn(&Value) -> bool) -> Value {
        let found = loop {
            if let Some(i) = self
                .notifies
                .iter()
                .position(|m| pick(&m["Body"]["Request"]["Notify"]))
            {
                break self.notifies.remove(i);
            }
            let msg = self.recv().await;
            self.keep_notify(msg);
        };
        let notify = found["Body"]["Request"]["Notify"].clone();
        if notify["send_resp"] == true {
            let id = found["Header"]["msg_id"].as_str().unwrap().to_owned();
            let sub = notify["subscription_id"].as_str().unwrap().to_owned();
            self.send(&id, NotifyRespBuilder::new(sub).build().unwrap())
                .await;
        }
        notify
    }
}

fn s(v: &str) -> String {
    v.to_owned()
}

fn get(paths: &[&str]) -> Body {
    GetBuilder::new()
        .with_params(paths.iter().map(|p| s(p)).collect())
        .build()
        .unwrap()
}

/// The `result_params` of the first resolved path of a GetResp.
fn get_params(body: &Value) -> Value {
    let results = &body["Response"]["GetResp"]["req_path_results"][0];
    assert_eq!(results["err_code"], 0, "{body}");
    results["resolved_path_results"][0]["result_params"].clone()
}

fn add(table: &str, params: &[(&str, &str)]) -> Body {
    AddBuilder::new()
        .with_create_objs(vec![
            CreateObjectBuilder::new(s(table))
                .with_param_settings(params.iter().map(|(p, v)| (s(p), s(v), true)).collect()),
        ])
        .build()
        .unwrap()
}

/// The instantiated path of a one-object AddResp.
fn added_path(body: &Value) -> String {
    let status = &body["Response"]["AddResp"]["created_obj_results"][0]["oper_status"];
    status["oper_success"]["instantiated_path"]
        .as_str()
        .unwrap_or_else(|| panic!("Add failed: {body}"))
        .to_owned()
}

#[tokio::test(flavor = "current_thread")]
async fn controller_manages_the_agent_over_websocket_across_a_restart() {
    tokio::time::timeout(Duration::from_secs(120), scenario())
        .await
        .expect("the scenario took too long");
}

async fn scenario() {
    let state = tempfile::tempdir().unwrap();
    let agent = AgentProcess::start(state.path());
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
    let set = SetBuilder::new()
        .with_update_objs(vec![
            UpdateObjectBuilder::new(s("Device.WiFi.SSID.1.")).with_param_settings(vec![(
                s("SSID"),
                s("e2e-ssid"),
                true,
            )]),
        ])
        .build()
        .unwrap();
    let body = ctrl.request(set).await;
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
    agent.stop();
    let agent = AgentProcess::start(state.path());
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
    agent.stop();
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
    let agent = AgentProcess::start(state.path());
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
    agent.stop();
}
