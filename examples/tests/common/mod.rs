//! Helpers shared by the end-to-end tests: the `cpe-agent` process (a temporary state
//! directory, free ports, its log lines), a USP controller built with rusp-lib over
//! tokio-tungstenite, MQTT ([`mqtt`]: rumqttc through a real mosquitto, or RabbitMQ for MQTT
//! over WebSockets), STOMP ([`stomp`]: usp-core's STOMP client through a real RabbitMQ,
//! [`rabbitmq`]) or a Unix domain socket ([`uds`]), over plain TCP or TLS ([`tls`]), the USP requests
//! every MTP test walks through ([`scenario`]), a scripted CWMP ACS (a hyper server on a
//! free loopback port) and a file server uploads go to ([`files`]). Every wait is bounded by
//! [`WAIT`].
// Each test binary uses a part of these helpers.
#![allow(dead_code)]

pub(crate) mod files;
pub(crate) mod mqtt;
pub(crate) mod rabbitmq;
pub(crate) mod scenario;
pub(crate) mod stomp;
pub(crate) mod tls;
pub(crate) mod uds;

use std::collections::VecDeque;
use std::convert::Infallible;
use std::io::{BufRead as _, BufReader};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::mpsc as std_mpsc;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use cwmp_core::codec::{
    Body as CwmpBody, CwmpNamespace, Download, Envelope, GetParameterValues, Inform,
    InformResponse, Limits, Notification, ParameterValue, SetParameterAttributes,
    SetParameterAttributesStruct, SetParameterValues, Status, TransferComplete, ValueType,
};
use futures_util::{SinkExt as _, StreamExt as _};
use http_body_util::{BodyExt as _, Full};
use hyper::body::{Bytes, Incoming};
use hyper::{Request, Response};
use hyper_util::rt::TokioIo;
use rusp_lib::usp::Body;
use rusp_lib::usp_builder::{
    AddBuilder, CreateObjectBuilder, GetBuilder, MsgBuilder, NotifyRespBuilder, OperateBuilder,
    RecordBuilder, SetBuilder, UpdateObjectBuilder,
};
use rusp_lib::usp_decoder::{try_decode_msg, try_decode_record};
use rusp_lib::usp_record::mod_Record::OneOfrecord_type;
use rustls::pki_types::ServerName;
use serde_json::Value;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{mpsc, oneshot};
use tokio_rustls::TlsConnector;
use tokio_tungstenite::WebSocketStream;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::client::IntoClientRequest as _;
use tokio_tungstenite::tungstenite::handshake::server::{
    Request as WsRequest, Response as WsResponse,
};
use tokio_tungstenite::tungstenite::http::HeaderValue;

use tls::Io;

/// Runs a test's scenario, failing it if it takes longer than `limit`.
pub(crate) async fn within<F: Future>(limit: Duration, scenario: F) -> F::Output {
    tokio::time::timeout(limit, scenario)
        .await
        .expect("the scenario took too long")
}

/// The simulated device's USP Endpoint ID.
pub(crate) const AGENT: &str = "os::00D09E-SIM0001";
/// The controller the agent accepts by default.
pub(crate) const CTRL: &str = "self::controller";
/// The longest any single wait may take.
pub(crate) const WAIT: Duration = Duration::from_secs(20);

/// A free loopback port (bound, then released for a peer to take).
pub(crate) fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// The port of `http://host:port/path`.
pub(crate) fn port_of(url: &str) -> u16 {
    let rest = url.rsplit(':').next().unwrap();
    rest.split('/').next().unwrap().parse().unwrap()
}

// ---------------------------------------------------------------------------------------------
// The agent process

/// The agent binary, running.
pub(crate) struct AgentProcess {
    child: Child,
    lines: std_mpsc::Receiver<String>,
    /// The lines [`Self::wait_line`] skipped, for [`Self::skipped_line`].
    skipped: Vec<String>,
    /// The USP WebSocket server's URL.
    pub(crate) url: String,
    /// The connection-request URL, when CWMP runs (`--acs-url` among the arguments).
    pub(crate) cr_url: String,
}

impl AgentProcess {
    /// Starts the agent on `state_dir` with a USP WebSocket server on a free loopback port,
    /// plus `extra` arguments, and waits until it serves.
    pub(crate) async fn start(state_dir: &Path, extra: &[&str]) -> Self {
        let mut args = vec!["--ws-listen", "127.0.0.1:0"];
        args.extend_from_slice(extra);
        Self::start_with(state_dir, &args).await
    }

    /// Starts the agent on `state_dir` with `args` only (its WebSocket server where its
    /// `Device.LocalAgent.MTP.` rows say), and waits until it serves.
    pub(crate) async fn start_with(state_dir: &Path, extra: &[&str]) -> Self {
        Self::start_in(state_dir, None, extra).await
    }

    /// [`Self::start`], the system's CA certificates being those of the PEM file
    /// `system_cas` (`SSL_CERT_FILE`, without `SSL_CERT_DIR`).
    pub(crate) async fn start_with_system_cas(
        state_dir: &Path,
        system_cas: &Path,
        extra: &[&str],
    ) -> Self {
        let mut args = vec!["--ws-listen", "127.0.0.1:0"];
        args.extend_from_slice(extra);
        Self::start_in(state_dir, Some(system_cas), &args).await
    }

    /// [`Self::start_with`], with `system_cas` as the system's CA certificates if given.
    async fn start_in(state_dir: &Path, system_cas: Option<&Path>, extra: &[&str]) -> Self {
        let mut command = Command::new(env!("CARGO_BIN_EXE_cpe-agent"));
        if let Some(file) = system_cas {
            command
                .env("SSL_CERT_FILE", file)
                .env_remove("SSL_CERT_DIR");
        }
        let mut child = command
            .arg("--state-dir")
            .arg(state_dir)
            .args(["--log", "info"])
            .args(extra)
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
            skipped: Vec::new(),
            url: String::new(),
            cr_url: String::new(),
        };
        // The agent logs these in this order.
        if extra.contains(&"--acs-url") {
            let line = agent
                .wait_line("CWMP connection requests accepted on ")
                .await;
            let url = line.split("accepted on ").nth(1).unwrap().trim();
            assert!(url.starts_with("http://127.0.0."), "{line}");
            agent.cr_url = url.to_owned();
            agent.wait_line("CWMP client informing the ACS at ").await;
        }
        // ws:// or wss://
        let line = agent.wait_line("listening on ws").await;
        assert!(line.contains(&format!("USP agent {AGENT} ")), "{line}");
        agent.url = line
            .split("listening on ")
            .nth(1)
            .unwrap()
            .trim()
            .to_owned();
        agent
    }

    /// Waits (without blocking the runtime, which may also run an ACS) for a log line
    /// containing `needle`; earlier lines are skipped.
    pub(crate) async fn wait_line(&mut self, needle: &str) -> String {
        let deadline = std::time::Instant::now() + WAIT;
        loop {
            match self.lines.try_recv() {
                Ok(line) if line.contains(needle) => return line,
                Ok(line) => self.skipped.push(line),
                Err(std_mpsc::TryRecvError::Empty) => {
                    assert!(
                        std::time::Instant::now() < deadline,
                        "no log line with {needle:?}"
                    );
                    tokio::time::sleep(Duration::from_millis(20)).await;
                }
                Err(error) => panic!("no log line with {needle:?}: {error}"),
            }
        }
    }

    /// A log line containing `needle` that [`Self::wait_line`] skipped (logged before the
    /// line it waited for, such as what the agent says while it starts).
    pub(crate) fn skipped_line(&self, needle: &str) -> Option<&str> {
        self.skipped
            .iter()
            .find(|line| line.contains(needle))
            .map(String::as_str)
    }

    /// SIGKILL: the process dies at once, saving nothing.
    pub(crate) fn kill(mut self) {
        self.child.kill().unwrap();
        self.child.wait().unwrap();
    }

    /// Sends `signal` (a `kill` name such as `USR1`) to the agent.
    pub(crate) fn signal(&self, signal: &str) {
        let status = Command::new("kill")
            .args([&format!("-{signal}"), &self.child.id().to_string()])
            .status()
            .unwrap();
        assert!(status.success());
    }

    /// SIGTERM, then a clean exit within the bound.
    pub(crate) async fn stop(mut self) {
        self.signal("TERM");
        self.wait_line("state saved, stopped").await;
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
            tokio::time::sleep(Duration::from_millis(50)).await;
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

// ---------------------------------------------------------------------------------------------
// The USP controller

/// How a controller reaches the agent.
pub(crate) enum Link {
    /// A WebSocket connection to the agent's server (or the agent's to the test's).
    WebSocket(Box<WebSocketStream<Box<dyn Io>>>),
    /// A connection to the MQTT broker the agent uses.
    Mqtt(mqtt::MqttLink),
    /// A connection to the STOMP broker the agent uses.
    Stomp(Box<stomp::StompLink>),
    /// A Unix domain socket connection, handshake done.
    Uds(uds::UdsLink),
}

impl Link {
    pub(crate) async fn send(&mut self, bytes: Vec<u8>) {
        match self {
            Self::WebSocket(ws) => ws.send(Message::Binary(bytes.into())).await.unwrap(),
            Self::Mqtt(link) => link.send(bytes).await,
            Self::Stomp(link) => link.send(bytes).await,
            Self::Uds(link) => link.send(bytes).await,
        }
    }

    /// The next Record; `None` when the link closed.
    pub(crate) async fn next(&mut self) -> Option<Vec<u8>> {
        match self {
            Self::WebSocket(ws) => loop {
                match ws.next().await?.unwrap() {
                    Message::Binary(bytes) => return Some(bytes.to_vec()),
                    _ => continue,
                }
            },
            Self::Mqtt(link) => link.next().await,
            Self::Stomp(link) => link.next().await,
            Self::Uds(link) => link.next().await,
        }
    }
}

/// What the agent's handshake request carried.
#[derive(Debug, Default)]
pub(crate) struct Handshake {
    pub(crate) path: String,
    pub(crate) query: String,
    pub(crate) protocol: String,
    pub(crate) extension: String,
}

/// Accepts the agent's next connection on `listener` (the test plays the controller's
/// server); answers with `v1.usp` when `speak_usp`.
pub(crate) async fn accept_agent_on(
    listener: &TcpListener,
    speak_usp: bool,
) -> (Option<WebSocketStream<Box<dyn Io>>>, Handshake) {
    let (stream, _) = tokio::time::timeout(WAIT, listener.accept())
        .await
        .expect("the agent connects in time")
        .unwrap();
    accept_agent(Box::new(stream), speak_usp).await
}

/// The WebSocket handshake of the agent's client on `stream` (the test plays the
/// controller's server); answers with `v1.usp` when `speak_usp`.
pub(crate) async fn accept_agent(
    stream: Box<dyn Io>,
    speak_usp: bool,
) -> (Option<WebSocketStream<Box<dyn Io>>>, Handshake) {
    let seen = Arc::new(Mutex::new(Handshake::default()));
    let record = seen.clone();
    #[allow(clippy::result_large_err)] // tungstenite's callback type.
    let callback = move |request: &WsRequest, mut response: WsResponse| {
        let header = |name: &str| {
            request
                .headers()
                .get(name)
                .and_then(|v| v.to_str().ok())
                .unwrap_or_default()
                .to_owned()
        };
        *record.lock().unwrap() = Handshake {
            path: request.uri().path().to_owned(),
            query: request.uri().query().unwrap_or_default().to_owned(),
            protocol: header("Sec-WebSocket-Protocol"),
            extension: header("Sec-WebSocket-Extensions"),
        };
        if speak_usp {
            response
                .headers_mut()
                .insert("Sec-WebSocket-Protocol", HeaderValue::from_static("v1.usp"));
        }
        Ok(response)
    };
    let ws = tokio::time::timeout(WAIT, tokio_tungstenite::accept_hdr_async(stream, callback))
        .await
        .expect("handshake in time")
        .ok();
    let seen = std::mem::take(&mut *seen.lock().unwrap());
    (ws, seen)
}

/// A USP controller on one MTP link.
pub(crate) struct Controller {
    pub(crate) link: Link,
    /// Its Endpoint ID ([`CTRL`] unless connected with [`Self::try_connect_as`]).
    pub(crate) id: String,
    next: u32,
    notifies: Vec<Value>,
    pub(crate) connect_records: usize,
}

impl Controller {
    pub(crate) async fn connect(url: &str) -> Self {
        Self::connect_with(url, None).await
    }

    /// A controller connected to the agent's server at `url`: `ws://`, or `wss://` through
    /// `tls`.
    pub(crate) async fn connect_with(url: &str, tls: Option<&TlsConnector>) -> Self {
        Self::try_connect_with(url, tls).await.unwrap()
    }

    /// [`Self::connect_with`], the TLS or WebSocket handshake's failure being an error.
    pub(crate) async fn try_connect_with(
        url: &str,
        tls: Option<&TlsConnector>,
    ) -> Result<Self, String> {
        Self::try_connect_as(url, tls, CTRL).await
    }

    /// [`Self::try_connect_with`] as the controller `eid`.
    pub(crate) async fn try_connect_as(
        url: &str,
        tls: Option<&TlsConnector>,
        eid: &str,
    ) -> Result<Self, String> {
        let addr = url
            .strip_prefix("ws://")
            .or_else(|| url.strip_prefix("wss://"))
            .and_then(|rest| rest.split('/').next())
            .unwrap();
        let stream = TcpStream::connect(addr).await.unwrap();
        let stream: Box<dyn Io> = match tls {
            Some(tls) => {
                let name = ServerName::try_from("127.0.0.1").unwrap();
                let stream = tokio::time::timeout(WAIT, tls.connect(name, stream))
                    .await
                    .expect("TLS handshake in time");
                Box::new(stream.map_err(|e| format!("TLS: {e}"))?)
            }
            None => Box::new(stream),
        };
        let mut request = format!("{url}?eid={eid}").into_client_request().unwrap();
        request
            .headers_mut()
            .insert("Sec-WebSocket-Protocol", HeaderValue::from_static("v1.usp"));
        let (ws, response) =
            tokio::time::timeout(WAIT, tokio_tungstenite::client_async(request, stream))
                .await
                .expect("WebSocket handshake in time")
                .map_err(|e| format!("WebSocket: {e}"))?;
        assert_eq!(
            response.headers().get("Sec-WebSocket-Protocol").unwrap(),
            "v1.usp"
        );
        let mut ctrl = Self::over(Link::WebSocket(Box::new(ws)));
        ctrl.id = eid.to_owned();
        Ok(ctrl)
    }

    /// A controller on `link`.
    pub(crate) fn over(link: Link) -> Self {
        Self {
            link,
            id: CTRL.to_owned(),
            next: 0,
            notifies: Vec::new(),
            connect_records: 0,
        }
    }

    /// The WebSocket connection (the controller must be on one).
    pub(crate) fn ws(&mut self) -> &mut WebSocketStream<Box<dyn Io>> {
        match &mut self.link {
            Link::WebSocket(ws) => ws,
            Link::Mqtt(_) | Link::Stomp(_) | Link::Uds(_) => {
                panic!("the controller is not on WebSocket")
            }
        }
    }

    pub(crate) async fn send(&mut self, msg_id: &str, body: Body) {
        let from = self.id.clone();
        self.send_from(&from, msg_id, body).await;
    }

    /// Sends a request in a Record whose `from_id` is `from`.
    pub(crate) async fn send_from(&mut self, from: &str, msg_id: &str, body: Body) {
        self.link.send(record(from, msg_id, body)).await;
    }

    /// The next USP Msg, as rusp's JSON; connect Records are counted and skipped.
    pub(crate) async fn recv(&mut self) -> Value {
        loop {
            if let Some(msg) = self.next_record().await {
                return msg;
            }
        }
    }

    /// Waits for the agent's next connect Record (the MTP's greeting); notifications met on
    /// the way are kept. Over MQTT the agent publishes it after its SUBSCRIBE on the same
    /// connection, so once it has arrived the broker routes requests to the agent; its log
    /// line alone does not promise that.
    pub(crate) async fn await_connect_record(&mut self) {
        let seen = self.connect_records;
        while self.connect_records == seen {
            if let Some(msg) = self.next_record().await {
                self.keep_notify(msg);
            }
        }
    }

    /// The next Record: its Msg as rusp's JSON, or `None` for a connect Record (counted).
    async fn next_record(&mut self) -> Option<Value> {
        let bytes = tokio::time::timeout(WAIT, self.link.next())
            .await
            .unwrap_or_else(|_| {
                panic!(
                    "no Record from the agent in time; notifications kept: {:?}",
                    self.notifies
                )
            })
            .expect("connection closed");
        let record = try_decode_record(&bytes).unwrap();
        assert_eq!(record.to_id, self.id);
        assert_eq!(record.from_id, AGENT);
        match record.record_type {
            OneOfrecord_type::no_session_context(ns) => {
                let msg = try_decode_msg(&ns.payload).unwrap();
                Some(serde_json::to_value(&msg).unwrap())
            }
            OneOfrecord_type::websocket_connect(_)
            | OneOfrecord_type::mqtt_connect(_)
            | OneOfrecord_type::stomp_connect(_)
            | OneOfrecord_type::uds_connect(_) => {
                self.connect_records += 1;
                None
            }
            _ => panic!("unexpected Record type"),
        }
    }

    /// Sends a request and returns the body of its answer (notifications met on the way
    /// are kept).
    pub(crate) async fn request(&mut self, body: Body) -> Value {
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

    /// The notifications received so far and not yet taken by [`Self::notify`].
    pub(crate) fn kept_notifies(&self) -> &[Value] {
        &self.notifies
    }

    /// Waits for a Notify whose JSON satisfies `pick`; answers it if it asks for a response.
    pub(crate) async fn notify(&mut self, pick: impl Fn(&Value) -> bool) -> Value {
        let found = self.notify_msg(pick).await;
        let notify = found["Body"]["Request"]["Notify"].clone();
        if notify["send_resp"] == true {
            self.answer_notify(&found).await;
        }
        notify
    }

    /// Waits for a Notify whose JSON satisfies `pick` and returns its whole Msg, unanswered.
    pub(crate) async fn notify_msg(&mut self, pick: impl Fn(&Value) -> bool) -> Value {
        loop {
            if let Some(i) = self
                .notifies
                .iter()
                .position(|m| pick(&m["Body"]["Request"]["Notify"]))
            {
                return self.notifies.remove(i);
            }
            let msg = self.recv().await;
            self.keep_notify(msg);
        }
    }

    /// Sends the NotifyResp for the Notify Msg `msg`.
    pub(crate) async fn answer_notify(&mut self, msg: &Value) {
        let id = msg["Header"]["msg_id"].as_str().unwrap().to_owned();
        let sub = msg["Body"]["Request"]["Notify"]["subscription_id"]
            .as_str()
            .unwrap()
            .to_owned();
        self.send(&id, NotifyRespBuilder::new(sub).build().unwrap())
            .await;
    }
}

/// A no-session-context Record from `from` to the agent holding the Msg `msg_id` of `body`.
pub(crate) fn record(from: &str, msg_id: &str, body: Body) -> Vec<u8> {
    let msg = MsgBuilder::new()
        .with_msg_id(msg_id.to_owned())
        .with_body(body)
        .build()
        .unwrap();
    let record = RecordBuilder::new()
        .with_version("1.4".into())
        .with_to_id(AGENT.into())
        .with_from_id(from.into())
        .with_no_session_context_payload(&msg)
        .build()
        .unwrap();
    record.to_vec().unwrap()
}

pub(crate) fn s(v: &str) -> String {
    v.to_owned()
}

/// A USP Get of `paths`.
pub(crate) fn get(paths: &[&str]) -> Body {
    GetBuilder::new()
        .with_params(paths.iter().map(|p| s(p)).collect())
        .build()
        .unwrap()
}

/// The `result_params` of the first resolved path of a GetResp.
pub(crate) fn get_params(body: &Value) -> Value {
    let results = &body["Response"]["GetResp"]["req_path_results"][0];
    assert_eq!(results["err_code"], 0, "{body}");
    results["resolved_path_results"][0]["result_params"].clone()
}

/// The value of parameter `path`, as the agent answers a Get.
pub(crate) async fn value(ctrl: &mut Controller, path: &str) -> String {
    let (object, name) = path.rsplit_once('.').unwrap();
    let body = ctrl.request(get(&[path])).await;
    let result = &body["Response"]["GetResp"]["req_path_results"][0];
    assert_eq!(result["err_code"], 0, "{body}");
    let objects = result["resolved_path_results"].as_array().unwrap();
    let found = objects
        .iter()
        .find(|o| o["resolved_path"] == format!("{object}."))
        .unwrap_or_else(|| panic!("no {path} in {body}"));
    found["result_params"][name].as_str().unwrap().to_owned()
}

/// Polls `path` until it reads `expected` (the agent writes statuses as they change).
pub(crate) async fn wait_value(ctrl: &mut Controller, path: &str, expected: &str) {
    let deadline = std::time::Instant::now() + WAIT;
    loop {
        let got = value(ctrl, path).await;
        if got == expected {
            return;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "{path} is {got:?}, not {expected:?}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// A USP Set of one required parameter `name` of `object`.
pub(crate) fn set(object: &str, name: &str, value: &str) -> Body {
    SetBuilder::new()
        .with_update_objs(vec![
            UpdateObjectBuilder::new(s(object)).with_param_settings(vec![(
                s(name),
                s(value),
                true,
            )]),
        ])
        .build()
        .unwrap()
}

/// Sets `name` of `object` and checks the SetResp says it was done.
pub(crate) async fn set_ok(ctrl: &mut Controller, object: &str, name: &str, value: &str) {
    let body = ctrl.request(set(object, name, value)).await;
    let status = &body["Response"]["SetResp"]["updated_obj_results"][0]["oper_status"];
    assert!(status["oper_success"].is_object(), "{object}{name}: {body}");
}

/// A USP Add of one row of `table` with required `params`.
pub(crate) fn add(table: &str, params: &[(&str, &str)]) -> Body {
    AddBuilder::new()
        .with_create_objs(vec![
            CreateObjectBuilder::new(s(table))
                .with_param_settings(params.iter().map(|(p, v)| (s(p), s(v), true)).collect()),
        ])
        .build()
        .unwrap()
}

/// The instantiated path of a one-object AddResp.
pub(crate) fn added_path(body: &Value) -> String {
    let status = &body["Response"]["AddResp"]["created_obj_results"][0]["oper_status"];
    status["oper_success"]["instantiated_path"]
        .as_str()
        .unwrap_or_else(|| panic!("Add failed: {body}"))
        .to_owned()
}

/// Subscribes the controller, as subscription `id`, to the completions of `commands`.
pub(crate) async fn subscribe_completions(ctrl: &mut Controller, id: &str, commands: &[&str]) {
    let body = ctrl
        .request(add(
            "Device.LocalAgent.Subscription.",
            &[
                ("ID", id),
                ("NotifType", "OperationComplete"),
                ("ReferenceList", &commands.join(",")),
                ("Enable", "true"),
            ],
        ))
        .await;
    added_path(&body);
}

/// Makes a report of the bulk data `profile` at once (`ForceCollection()`).
pub(crate) async fn force_collection(ctrl: &mut Controller, profile: &str) {
    let operate = OperateBuilder::new(format!("{profile}ForceCollection()"))
        .with_command_key("force".to_owned())
        .with_send_resp(true)
        .build()
        .unwrap();
    let body = ctrl.request(operate).await;
    let result = &body["Response"]["OperateResp"]["operation_results"][0];
    assert!(result["req_output_args"].is_object(), "{body}");
}

/// Adds a `Device.BulkData.Profile.` row with `settings` and one `Parameter.` row per
/// `(Reference, Name)` of `parameters`; returns the profile's path.
pub(crate) async fn add_bulk_profile(
    ctrl: &mut Controller,
    settings: &[(&str, &str)],
    parameters: &[(&str, &str)],
) -> String {
    let body = ctrl
        .request(add("Device.BulkData.Profile.", settings))
        .await;
    let profile = added_path(&body);
    for (reference, name) in parameters {
        let table = format!("{profile}Parameter.");
        let body = ctrl
            .request(add(&table, &[("Reference", reference), ("Name", name)]))
            .await;
        added_path(&body);
    }
    profile
}

// ---------------------------------------------------------------------------------------------
// The scripted ACS

/// The ACS's script.
#[derive(Default)]
struct Script {
    /// Requests to send, one per CPE POST after the InformResponse.
    queue: VecDeque<CwmpBody>,
    ids: u32,
    /// When set, the answer to the next empty POST waits until this fires.
    hold: Option<oneshot::Receiver<()>>,
}

/// A scripted ACS: it answers each Inform, then sends the queued requests one per CPE POST
/// (after the empty POST), and ends the session with 204 when the queue is empty.
pub(crate) struct Acs {
    pub(crate) url: String,
    script: Arc<Mutex<Script>>,
    /// Each POST's envelope (`None`: an empty POST).
    posts: mpsc::UnboundedReceiver<Option<Envelope>>,
    /// TCP connections accepted.
    pub(crate) connections: Arc<AtomicUsize>,
}

impl Acs {
    pub(crate) async fn start() -> Self {
        Self::start_on("127.0.0.1:0").await
    }

    /// An ACS listening on `address` (`host:port`).
    pub(crate) async fn start_on(address: &str) -> Self {
        let listener = TcpListener::bind(address).await.unwrap();
        let url = format!("http://{}/acs", listener.local_addr().unwrap());
        let script = Arc::new(Mutex::new(Script::default()));
        let connections = Arc::new(AtomicUsize::new(0));
        let (tx, posts) = mpsc::unbounded_channel();
        let (server_script, server_connections) = (script.clone(), connections.clone());
        tokio::spawn(async move {
            loop {
                let (stream, _) = listener.accept().await.unwrap();
                server_connections.fetch_add(1, Ordering::SeqCst);
                let (script, tx) = (server_script.clone(), tx.clone());
                tokio::spawn(async move {
                    let service = hyper::service::service_fn(move |request: Request<Incoming>| {
                        let (script, tx) = (script.clone(), tx.clone());
                        async move {
                            assert_eq!(request.method(), "POST");
                            assert_eq!(request.uri().path(), "/acs");
                            let body = request.into_body().collect().await.unwrap().to_bytes();
                            if body.is_empty() {
                                let hold = script.lock().unwrap().hold.take();
                                if let Some(hold) = hold {
                                    let _ = tx.send(None);
                                    tokio::time::timeout(WAIT, hold)
                                        .await
                                        .expect("the held empty POST released in time")
                                        .unwrap();
                                    return Ok::<_, Infallible>(reply(&script, None));
                                }
                            }
                            Ok::<_, Infallible>(answer(&script, &tx, &body))
                        }
                    });
                    let _ = hyper::server::conn::http1::Builder::new()
                        .serve_connection(TokioIo::new(stream), service)
                        .await;
                });
            }
        });
        Self {
            url,
            script,
            posts,
            connections,
        }
    }

    /// Queues a request for the CPE.
    pub(crate) fn push(&self, body: CwmpBody) {
        self.script.lock().unwrap().queue.push_back(body);
    }

    /// Holds the answer to the next empty POST until the returned sender fires (it is still
    /// reported by [`Self::next_post`] at once), so that the test can act before the ACS
    /// reads its queue.
    pub(crate) fn hold_next_empty_post(&self) -> oneshot::Sender<()> {
        let (release, hold) = oneshot::channel();
        self.script.lock().unwrap().hold = Some(hold);
        release
    }

    /// The next POST the CPE made.
    pub(crate) async fn next_post(&mut self) -> Option<Envelope> {
        tokio::time::timeout(WAIT, self.posts.recv())
            .await
            .expect("no POST from the CPE in time")
            .unwrap()
    }

    /// The next POST, which must be an Inform.
    pub(crate) async fn next_inform(&mut self) -> Inform {
        match self.next_post().await.map(|e| e.body) {
            Some(CwmpBody::Inform(inform)) => inform,
            other => panic!("expected an Inform, got {other:?}"),
        }
    }
}

/// The ACS's answer to one POST (reported on `tx`).
fn answer(
    script: &Mutex<Script>,
    tx: &mpsc::UnboundedSender<Option<Envelope>>,
    body: &[u8],
) -> Response<Full<Bytes>> {
    let envelope = (!body.is_empty())
        .then(|| Envelope::decode(body, &Limits::default()).expect("CPE envelope"));
    let _ = tx.send(envelope.clone());
    reply(script, envelope)
}

/// The InformResponse to an Inform, the TransferCompleteResponse to a TransferComplete;
/// otherwise (an empty POST or the response to the last request) the next queued request, or
/// 204 when there is none.
fn reply(script: &Mutex<Script>, envelope: Option<Envelope>) -> Response<Full<Bytes>> {
    let mut script = script.lock().unwrap();
    let answer = |envelope: &Envelope| match envelope.body {
        CwmpBody::Inform(_) => Some(CwmpBody::InformResponse(InformResponse {
            max_envelopes: 1,
        })),
        CwmpBody::TransferComplete(_) => Some(CwmpBody::TransferCompleteResponse),
        _ => None,
    };
    let reply = match envelope {
        Some(envelope) if answer(&envelope).is_some() => answer(&envelope).map(|body| {
            let mut response = Envelope::new(envelope.namespace, body);
            response.header.id.clone_from(&envelope.header.id);
            response
        }),
        _ => script.queue.pop_front().map(|body| {
            script.ids += 1;
            Envelope::new(CwmpNamespace::V1_2, body).with_id(format!("acs-{}", script.ids))
        }),
    };
    match reply {
        Some(envelope) => {
            let mut bytes = Vec::new();
            envelope.encode(&mut bytes).unwrap();
            let mut response = Response::new(Full::new(Bytes::from(bytes)));
            response.headers_mut().insert(
                hyper::header::CONTENT_TYPE,
                HeaderValue::from_static("text/xml; charset=utf-8"),
            );
            response
        }
        None => {
            let mut response = Response::new(Full::new(Bytes::new()));
            *response.status_mut() = hyper::StatusCode::NO_CONTENT;
            response
        }
    }
}

/// A CWMP Download (`1 Firmware Upgrade Image`) of `url`, `size` bytes, as `fw.bin`.
pub(crate) fn download(url: &str, key: &str, size: u32) -> CwmpBody {
    CwmpBody::Download(Download {
        command_key: key.into(),
        file_type: "1 Firmware Upgrade Image".into(),
        url: url.into(),
        username: String::new(),
        password: String::new(),
        file_size: size,
        target_file_name: "fw.bin".into(),
        delay_seconds: 0,
        success_url: String::new(),
        failure_url: String::new(),
    })
}

/// The ACS's next POST must be a DownloadResponse saying the transfer comes later.
pub(crate) async fn download_pending(acs: &mut Acs) {
    match acs.next_post().await.map(|e| e.body) {
        Some(CwmpBody::DownloadResponse(r)) => assert_eq!(r.status, Status::Pending),
        other => panic!("expected DownloadResponse, got {other:?}"),
    }
}

/// The ACS's next POST must be a TransferComplete.
pub(crate) async fn transfer_complete(acs: &mut Acs) -> TransferComplete {
    match acs.next_post().await.map(|e| e.body) {
        Some(CwmpBody::TransferComplete(t)) => t,
        other => panic!("expected TransferComplete, got {other:?}"),
    }
}

/// A CWMP GetParameterValues of `names`.
pub(crate) fn gpv(names: &[&str]) -> CwmpBody {
    CwmpBody::GetParameterValues(GetParameterValues {
        parameter_names: names.iter().map(|n| (*n).to_owned()).collect(),
    })
}

/// A SetParameterAttributes changing only the notification of each `(name, value)`.
pub(crate) fn notifications(list: &[(&str, Notification)]) -> CwmpBody {
    CwmpBody::SetParameterAttributes(SetParameterAttributes {
        parameter_list: list
            .iter()
            .map(|(name, notification)| SetParameterAttributesStruct {
                name: (*name).to_owned(),
                notification_change: true,
                notification: *notification,
                access_list_change: false,
                access_list: Vec::new(),
            })
            .collect(),
    })
}

/// A CWMP SetParameterValues of one string parameter.
pub(crate) fn spv(name: &str, value: &str, key: &str) -> CwmpBody {
    CwmpBody::SetParameterValues(SetParameterValues {
        parameter_list: vec![ParameterValue::new(name, value, ValueType::String)],
        parameter_key: key.into(),
    })
}

/// The event codes of an Inform.
pub(crate) fn codes(inform: &Inform) -> Vec<String> {
    inform
        .event
        .iter()
        .map(|e| e.event_code.as_str().to_owned())
        .collect()
}

/// The value of `name` in a parameter list.
pub(crate) fn param<'a>(list: &'a [ParameterValue], name: &str) -> Option<&'a str> {
    list.iter()
        .find(|p| p.name == name)
        .map(|p| p.value.as_str())
}

/// Runs a diagnostic test the TR-069 way on an agent started in `state_dir`: in the bootstrap
/// session the ACS sets `inputs` (names relative to `object`) with `DiagnosticsState`
/// `Requested`; once the session has ended the agent runs the test, and the next session,
/// whose Inform must carry `8 DIAGNOSTICS COMPLETE` alone, reads `object`. Its values and
/// the agent, still running.
pub(crate) async fn cwmp_diagnostics(
    state_dir: &Path,
    object: &str,
    inputs: &[(&str, &str, ValueType)],
) -> (Vec<ParameterValue>, AgentProcess) {
    let mut acs = Acs::start().await;
    let mut parameter_list: Vec<_> = inputs
        .iter()
        .map(|(name, value, kind)| {
            ParameterValue::new(format!("{object}{name}"), *value, kind.clone())
        })
        .collect();
    parameter_list.push(ParameterValue::new(
        format!("{object}DiagnosticsState"),
        "Requested",
        ValueType::String,
    ));
    acs.push(CwmpBody::SetParameterValues(SetParameterValues {
        parameter_list,
        parameter_key: "diag-1".into(),
    }));
    let mut agent =
        AgentProcess::start(state_dir, &["--acs-url", &acs.url, "--cr-port", "0"]).await;
    let inform = acs.next_inform().await;
    assert!(codes(&inform).contains(&"0 BOOTSTRAP".to_owned()));
    assert!(acs.next_post().await.is_none(), "the CPE's empty POST");
    match acs.next_post().await.map(|e| e.body) {
        Some(CwmpBody::SetParameterValuesResponse(r)) => assert_eq!(r.status, Status::Applied),
        other => panic!("expected SetParameterValuesResponse, got {other:?}"),
    }
    // A test of loopback ends in milliseconds, and its session may have come to its empty
    // POST before this task sees the first session's end: the ACS holds that POST's answer
    // until the GetParameterValues is queued.
    let release = acs.hold_next_empty_post();
    agent.wait_line("CWMP session ended").await;

    let inform = acs.next_inform().await;
    assert_eq!(codes(&inform), ["8 DIAGNOSTICS COMPLETE"]);
    assert!(acs.next_post().await.is_none(), "the CPE's empty POST");
    acs.push(gpv(&[object]));
    release.send(()).unwrap();
    let results = match acs.next_post().await.map(|e| e.body) {
        Some(CwmpBody::GetParameterValuesResponse(r)) => r.parameter_list,
        other => panic!("expected GetParameterValuesResponse, got {other:?}"),
    };
    agent.wait_line("CWMP session ended").await;
    (results, agent)
}

/// Operates asynchronous `command` with `args`: the request's path
/// (`Device.LocalAgent.Request.{i}.`).
pub(crate) async fn start_command(
    ctrl: &mut Controller,
    command: &str,
    key: &str,
    args: &[(&str, &str)],
) -> String {
    let operate = OperateBuilder::new(s(command))
        .with_command_key(s(key))
        .with_send_resp(true)
        .with_input_args(args.iter().map(|(n, v)| (s(n), s(v))).collect())
        .build()
        .unwrap();
    let body = ctrl.request(operate).await;
    let result = &body["Response"]["OperateResp"]["operation_results"][0];
    assert_eq!(result["executed_command"], command, "{body}");
    result["req_obj_path"]
        .as_str()
        .unwrap_or_else(|| panic!("{body}"))
        .to_owned()
}

/// Operates asynchronous `command` with `args` and returns the output arguments of its
/// OperationComplete (the controller must be subscribed to it).
pub(crate) async fn operate_command(
    ctrl: &mut Controller,
    command: &str,
    key: &str,
    args: &[(&str, &str)],
) -> Value {
    start_command(ctrl, command, key, args).await;
    let done = ctrl
        .notify(|n| n["oper_complete"]["command_key"] == key)
        .await;
    done["oper_complete"]["req_output_args"]["output_args"].clone()
}
