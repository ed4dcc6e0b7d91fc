//! A driver for the sans-IO agent in tests: the agent against a `hal::Engine` on the simulated
//! device, with a virtual monotonic clock and a step bound so that a livelock fails the test.
//!
//! Include with `#[path = "common/harness.rs"] mod harness;`.
#![allow(
    dead_code,
    unreachable_pub,
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use hal::engine::{AccessControl, AllowAll};
use hal::sim::SimDevice;
use hal::{Engine, EngineConfig};
use prost::Message as _;
use usp_core::agent::{Agent, AgentConfig, AgentEvent, ControllerConfig, Mtp, MtpKind, Output};
use usp_core::codec::{self, RecordBuilder};
use usp_core::usp::{self, body::MsgBody, request::ReqType, response::RespType};
use usp_core::usp_record::record::RecordType;
use usp_core::{Limits, Msg, Record};

/// The agent's Endpoint ID on the simulated device.
pub const AGENT: &str = "os::00D09E-SIM0001";
/// The controller the simulated device knows.
pub const CTRL: &str = "self::controller";
/// The simulated controller's `OnBoardingComplete`.
pub const ONBOARDED: &str = "Device.LocalAgent.Controller.1.OnBoardingComplete";
/// Most outputs one drive may take.
pub const STEP_BOUND: usize = 10_000;

/// One Record the agent transmitted, decoded.
#[derive(Clone, Debug)]
pub struct Sent {
    pub mtp: Mtp,
    pub to: String,
    pub record: Record,
}

impl Sent {
    /// The Msg of a no-session Record.
    pub fn msg(&self) -> Option<Msg> {
        codec::msg_from_no_session(&self.record, &Limits::default()).unwrap()
    }
}

pub struct Harness {
    pub sim: Arc<SimDevice>,
    pub engine: Arc<Engine>,
    pub agent: Agent,
    pub now: Instant,
    pub seq: u64,
    pub sent: Vec<Sent>,
    pub events: Vec<AgentEvent>,
    pub timeout: Option<Instant>,
    pub mtp: Mtp,
}

/// The default agent configuration: one known controller with an MQTT return path.
pub fn config() -> AgentConfig {
    AgentConfig::new(AGENT).with_controller(
        ControllerConfig::new(CTRL).with_mtp(Mtp::new(MtpKind::Mqtt, "ctrl/reply")),
    )
}

impl Harness {
    /// AllowAll on the engine.
    pub async fn new() -> Self {
        Self::with(Arc::new(AllowAll), config()).await
    }

    /// With `access` and `config`, the controller onboarded already (the device's
    /// `Controller.1.OnBoardingComplete` true), so that no OnBoardRequest comes out.
    pub async fn with(access: Arc<dyn AccessControl>, config: AgentConfig) -> Self {
        Self::start(access, config, true).await
    }

    /// AllowAll, the controller not onboarded yet: the device as it leaves the factory.
    pub async fn not_onboarded() -> Self {
        Self::start(Arc::new(AllowAll), config(), false).await
    }

    #[allow(clippy::disallowed_methods)] // The test's virtual clock starts at a real instant.
    async fn start(access: Arc<dyn AccessControl>, config: AgentConfig, onboarded: bool) -> Self {
        let sim = SimDevice::new("SIM0001");
        let engine = Arc::new(Engine::new(
            sim.hal(),
            access.clone(),
            EngineConfig::default(),
        ));
        engine.start().await.unwrap();
        sim.attach(engine.sink());
        if onboarded {
            engine
                .device_update(|txn| txn.set(ONBOARDED, "true"))
                .await
                .unwrap();
        }
        let agent = Agent::new(config).with_access(access);
        let mut harness = Self {
            sim,
            engine,
            agent,
            now: Instant::now(),
            seq: 0,
            sent: Vec::new(),
            events: Vec::new(),
            timeout: None,
            mtp: Mtp::new(MtpKind::Mqtt, "ctrl/reply"),
        };
        harness.seq = harness.engine.last_seq();
        harness.agent.skip_changes_through(harness.seq);
        harness.device_inputs().await;
        harness
    }

    /// Drains the agent, running engine requests, until it times out or idles.
    pub async fn drive(&mut self) {
        for _ in 0..STEP_BOUND {
            match self.agent.poll_output() {
                Output::EngineRequest {
                    id,
                    principal,
                    request,
                } => {
                    let result = request.execute(&self.engine, &principal).await;
                    self.agent.respond(id, result).unwrap();
                    self.sync_changes();
                }
                Output::Transmit { mtp, to, bytes } => {
                    let record = codec::decode_record(&bytes, &Limits::default()).unwrap();
                    self.sent.push(Sent { mtp, to, record });
                }
                Output::Event(event) => self.events.push(event),
                Output::Timeout(at) => {
                    self.timeout = Some(at);
                    return;
                }
                Output::Idle => {
                    self.timeout = None;
                    return;
                }
                other => panic!("unexpected output {other:?}"),
            }
        }
        panic!("the agent did not settle within {STEP_BOUND} steps");
    }

    /// Passes new change-log records to the agent.
    pub fn sync_changes(&mut self) {
        let changes = self.engine.changes_since(self.seq);
        if let Some(last) = changes.last() {
            self.seq = last.seq;
            let now = self.now;
            let agent = &mut self.agent;
            self.engine
                .read(|store| agent.handle_changes(now, &changes, store));
        }
    }

    /// Applies the device's inputs and feeds the notices to the agent, then drives.
    pub async fn device_inputs(&mut self) {
        self.engine.handle_device_inputs().await.unwrap();
        self.sync_changes();
        while let Some((id, notice)) = self.engine.poll_notice() {
            let now = self.now;
            let agent = &mut self.agent;
            self.engine
                .read(|store| agent.handle_notice(now, id, &notice, store));
        }
        self.drive().await;
    }

    /// Moves the virtual clock and fires timers.
    pub async fn advance(&mut self, by: Duration) {
        self.now += by;
        self.agent.handle_timeout(self.now);
        self.drive().await;
    }

    /// Feeds raw Record bytes from the controller's MTP.
    pub async fn feed(&mut self, bytes: &[u8]) {
        let mtp = self.mtp.clone();
        self.agent
            .handle_record(self.now, mtp, Bytes::copy_from_slice(bytes));
        self.drive().await;
    }

    /// Sends a request from `from` and returns the reply (response or Error), if any.
    pub async fn request_from(&mut self, from: &str, msg_id: &str, req: ReqType) -> Option<Msg> {
        let msg = codec::request_msg(msg_id, req);
        let record = RecordBuilder::new(AGENT, from).no_session(&msg);
        let mut bytes = Vec::new();
        codec::encode_record(&record, &mut bytes);
        let before = self.sent.len();
        self.feed(&bytes).await;
        self.sent[before..]
            .iter()
            .filter(|s| s.to == from)
            .filter_map(Sent::msg)
            .find(|m| m.header.as_ref().is_some_and(|h| h.msg_id == msg_id))
    }

    /// A request from the known controller; panics without a reply.
    pub async fn request(&mut self, msg_id: &str, req: ReqType) -> Msg {
        self.request_from(CTRL, msg_id, req)
            .await
            .unwrap_or_else(|| panic!("no reply to {msg_id}"))
    }

    /// Sends a NotifyResp for the Notify `msg_id`.
    pub async fn notify_resp(&mut self, msg_id: &str, subscription_id: &str) {
        let msg = codec::response_msg(
            msg_id,
            RespType::NotifyResp(usp::NotifyResp {
                subscription_id: subscription_id.into(),
            }),
        );
        let record = RecordBuilder::new(AGENT, CTRL).no_session(&msg);
        let mut bytes = Vec::new();
        codec::encode_record(&record, &mut bytes);
        self.feed(&bytes).await;
    }

    /// The Notify Msgs sent so far, with their msg_id.
    pub fn notifies(&self) -> Vec<(String, usp::Notify)> {
        self.sent
            .iter()
            .filter_map(Sent::msg)
            .filter_map(|m| {
                let id = m.header?.msg_id;
                match m.body?.msg_body? {
                    MsgBody::Request(usp::Request {
                        req_type: Some(ReqType::Notify(n)),
                    }) => Some((id, n)),
                    _ => None,
                }
            })
            .collect()
    }

    /// Adds a subscription as the controller and returns its row path.
    pub async fn subscribe(
        &mut self,
        id: &str,
        notif_type: &str,
        refs: &str,
        extra: &[(&str, &str)],
    ) -> String {
        let mut params = vec![
            ("ID", id),
            ("NotifType", notif_type),
            ("ReferenceList", refs),
            ("Enable", "true"),
        ];
        params.extend_from_slice(extra);
        let table = "Device.LocalAgent.Subscription.";
        self.add_object(&format!("sub-{id}"), table, &params).await
    }

    /// Adds a row of `table` with required `params` as the controller (message `msg_id`) and
    /// returns its path.
    pub async fn add_object(
        &mut self,
        msg_id: &str,
        table: &str,
        params: &[(&str, &str)],
    ) -> String {
        let add = ReqType::Add(usp::Add {
            allow_partial: false,
            create_objs: vec![usp::add::CreateObject {
                obj_path: table.into(),
                param_settings: params
                    .iter()
                    .map(|(p, v)| usp::add::CreateParamSetting {
                        param: (*p).into(),
                        value: (*v).into(),
                        required: true,
                    })
                    .collect(),
            }],
        });
        let reply = self.request(msg_id, add).await;
        let resp = add_resp(&reply);
        match &resp.created_obj_results[0]
            .oper_status
            .as_ref()
            .unwrap()
            .oper_status
        {
            Some(
                usp::add_resp::created_object_result::operation_status::OperStatus::OperSuccess(s),
            ) => s.instantiated_path.clone(),
            other => panic!("{table} row not created: {other:?}"),
        }
    }

    /// Sets a parameter as the device would, and feeds the change to the agent.
    pub async fn device_set(&mut self, path: &str, value: &str) {
        self.engine
            .device_update(|txn| txn.set(path, value))
            .await
            .unwrap();
        self.sync_changes();
    }

    /// A stored value as text.
    pub fn value(&self, path: &str) -> String {
        self.engine.read(|s| {
            s.value(path)
                .map(tr181_model::value::Value::canonical_text)
                .unwrap()
        })
    }
}

/// Adds an enabled `Device.LocalAgent.ControllerTrust.Role.{i}.` named `name` with one
/// permission per `(targets, rights)`, in increasing `Order`, `rights` (`rwxn`, `-` for no)
/// applying to `Param`, `Obj`, `InstantiatedObj` and `CommandEvent` alike.
pub fn add_role(
    txn: &mut tr181_model::store::Transaction<'_>,
    name: &str,
    permissions: &[(&str, &str)],
) -> Result<(), tr181_model::Error> {
    let table = "Device.LocalAgent.ControllerTrust.Role.";
    let role = txn.add(table, &[("Enable", "true"), ("Name", name)])?;
    for (order, (targets, rights)) in (1_u32..).zip(permissions) {
        let order = order.to_string();
        let mut values = vec![("Enable", "true"), ("Order", order.as_str())];
        values.push(("Targets", targets));
        for column in ["Param", "Obj", "InstantiatedObj", "CommandEvent"] {
            values.push((column, rights));
        }
        txn.add(&format!("{table}{role}.Permission."), &values)?;
    }
    Ok(())
}

/// An Operate of `command` with `send_resp`.
pub fn operate(command: &str) -> ReqType {
    ReqType::Operate(usp::Operate {
        command: command.into(),
        send_resp: true,
        ..Default::default()
    })
}

/// The response of a reply Msg.
pub fn resp(msg: &Msg) -> RespType {
    match msg.body.as_ref().and_then(|b| b.msg_body.as_ref()) {
        Some(MsgBody::Response(usp::Response { resp_type: Some(r) })) => r.clone(),
        other => panic!("expected a response, got {other:?}"),
    }
}

/// The Error of a reply Msg.
pub fn error(msg: &Msg) -> usp::Error {
    match msg.body.as_ref().and_then(|b| b.msg_body.as_ref()) {
        Some(MsgBody::Error(e)) => e.clone(),
        other => panic!("expected an Error, got {other:?}"),
    }
}

pub fn add_resp(msg: &Msg) -> usp::AddResp {
    match resp(msg) {
        RespType::AddResp(r) => r,
        other => panic!("expected AddResp, got {other:?}"),
    }
}

/// A Record from the controller with an arbitrary payload.
pub fn record_with_payload(payload: Vec<u8>) -> Vec<u8> {
    let record = RecordBuilder::new(AGENT, CTRL).no_session_payload(Bytes::from(payload));
    let mut bytes = Vec::new();
    codec::encode_record(&record, &mut bytes);
    bytes
}

/// Encodes any Record.
pub fn encode(record: &Record) -> Vec<u8> {
    let mut bytes = Vec::new();
    record.encode(&mut bytes).unwrap();
    bytes
}

/// Whether a Record is a Disconnect with this code.
pub fn is_disconnect(record: &Record, code: u32) -> bool {
    matches!(&record.record_type, Some(RecordType::Disconnect(d)) if d.reason_code == code)
}
