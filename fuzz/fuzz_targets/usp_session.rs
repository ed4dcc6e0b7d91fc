//! The USP agent, stateful: a sequence of steps decoded from the fuzz bytes (raw Record bytes,
//! structured Msgs of every request type in well- or ill-addressed Records, NotifyResps to the
//! agent's Notifies, clock steps, device changes, CWMP writes, power cycles) drives usp-core's
//! `Agent` against a `hal::Engine` on the simulated device. After every step: no panic, the
//! outputs drain within a bound, every Record the agent sends decodes and goes to a
//! controller, every well-formed request of the known controller gets exactly one answer, no
//! engine request is left pending, the agent tracks no more subscriptions than the table
//! has rows; at the end the store is consistent (`NumberOfEntries` equal to rows).
//!
//! Step format: one action byte, then its arguments (see `Case::step`).
#![no_main]

mod common;

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use common::{MAX_STEPS, Reader, STEP_BOUND, VALUES, block_on, check_store};
use hal::engine::AllowAll;
use hal::sim::SimDevice;
use hal::{Engine, EngineConfig, Principal};
use libfuzzer_sys::fuzz_target;
use tr181_model::schema::Protocol;
use usp_core::agent::{Agent, AgentConfig, ControllerConfig, Mtp, MtpKind, Output};
use usp_core::codec::{self, RecordBuilder};
use usp_core::usp::{self, body::MsgBody, request::ReqType, response::RespType};
use usp_core::usp_record::record::RecordType;
use usp_core::{Limits, Msg};

const AGENT: &str = "os::00D09E-SIM0001";
const CTRL: &str = "self::controller";
const OTHERS: &[&str] = &[CTRL, "proto::stranger", "", AGENT];
const NOTIF_TYPES: &[&str] = &[
    "ValueChange",
    "ObjectCreation",
    "ObjectDeletion",
    "OperationComplete",
    "Event",
    "Nope",
];
const SUBSCRIPTION_PARAMS: &[&str] = &[
    "ID",
    "NotifType",
    "ReferenceList",
    "Enable",
    "Persistent",
    "TimeToLive",
    "NotifRetry",
    "NotifExpiration",
];

fn config() -> AgentConfig {
    AgentConfig::new(AGENT).with_controller(
        ControllerConfig::new(CTRL).with_mtp(Mtp::new(MtpKind::Mqtt, "ctrl/reply")),
    )
}

struct Case {
    sim: Arc<SimDevice>,
    engine: Engine,
    agent: Agent,
    now: Instant,
    seq: u64,
    /// Replies (responses and Errors) to the known controller by msg_id.
    replies: BTreeMap<String, usize>,
    /// The agent's Notifies, for NotifyResps.
    notifies: Vec<(String, String)>,
    next_msg: u32,
}

impl Case {
    fn boot(sim: Arc<SimDevice>, now: Instant) -> Self {
        let engine = Engine::new(sim.hal(), Arc::new(AllowAll), EngineConfig::default());
        block_on(engine.start()).expect("the simulated device boots");
        sim.attach(engine.sink());
        let mut agent = Agent::new(config()).with_access(Arc::new(AllowAll));
        let seq = engine.last_seq();
        agent.skip_changes_through(seq);
        engine.read(|store| agent.load_subscriptions(now, store));
        let mut case = Self {
            sim,
            engine,
            agent,
            now,
            seq,
            replies: BTreeMap::new(),
            notifies: Vec::new(),
            next_msg: 0,
        };
        case.drain();
        case
    }

    /// A power cycle: a new engine and agent on the same device.
    fn power_cycle(&mut self) {
        let sim = self.sim.clone();
        let now = self.now;
        *self = Self::boot(sim, now);
    }

    /// Feeds the engine's notices and change log to the agent.
    fn sync(&mut self) {
        block_on(self.engine.handle_device_inputs()).expect("device inputs apply");
        let changes = self.engine.changes_since(self.seq);
        if let Some(last) = changes.last() {
            self.seq = last.seq;
            let (now, agent) = (self.now, &mut self.agent);
            self.engine
                .read(|store| agent.handle_changes(now, &changes, store));
        }
        while let Some((id, notice)) = self.engine.poll_notice() {
            let (now, agent) = (self.now, &mut self.agent);
            self.engine
                .read(|store| agent.handle_notice(now, id, &notice, store));
        }
    }

    fn drain(&mut self) {
        self.sync();
        for _ in 0..STEP_BOUND {
            match self.agent.poll_output() {
                Output::EngineRequest {
                    id,
                    principal,
                    request,
                } => {
                    let result = block_on(request.execute(&self.engine, &principal));
                    self.agent
                        .respond(id, result)
                        .expect("the engine's own result is accepted");
                    self.sync();
                }
                Output::Transmit { mtp, to, bytes } => self.check_transmit(&mtp, &to, &bytes),
                Output::Event(_) => {}
                Output::Timeout(at) => {
                    if at <= self.now {
                        self.agent.handle_timeout(self.now);
                        self.sync();
                        match self.agent.poll_output() {
                            Output::Timeout(next) => {
                                assert!(next > self.now, "a timer stays due after firing")
                            }
                            _ => continue,
                        }
                    }
                    self.check_state();
                    return;
                }
                Output::Idle => {
                    self.check_state();
                    return;
                }
                other => panic!("unexpected output {other:?}"),
            }
        }
        panic!("the agent did not settle within {STEP_BOUND} outputs");
    }

    fn check_transmit(&mut self, mtp: &Mtp, to: &str, bytes: &[u8]) {
        let limits = Limits::default();
        let record = codec::decode_record(bytes, &limits)
            .unwrap_or_else(|e| panic!("the agent sent a Record it cannot read: {e:?}"));
        assert_eq!(record.to_id, to, "the Record goes where the output says");
        assert_eq!(record.from_id, AGENT);
        if to != CTRL {
            return;
        }
        assert_eq!(mtp.reply_to, "ctrl/reply", "the controller's return path");
        let Some(RecordType::NoSessionContext(_)) = &record.record_type else {
            return;
        };
        let msg = codec::msg_from_no_session(&record, &limits)
            .expect("the agent's Msg decodes")
            .expect("a no-session Record holds a Msg");
        let id = msg
            .header
            .as_ref()
            .map(|h| h.msg_id.clone())
            .unwrap_or_default();
        match msg.body.and_then(|b| b.msg_body) {
            Some(MsgBody::Request(usp::Request {
                req_type: Some(ReqType::Notify(notify)),
            })) => {
                if self.notifies.len() < 64 {
                    self.notifies.push((id, notify.subscription_id));
                }
            }
            Some(MsgBody::Response(_) | MsgBody::Error(_)) => {
                *self.replies.entry(id).or_default() += 1;
            }
            other => panic!("the agent sent {other:?}"),
        }
    }

    fn check_state(&self) {
        let debug = format!("{:?}", self.agent);
        assert!(
            debug.contains("pending: 0"),
            "engine requests left: {debug}"
        );
        let tracked: usize = debug
            .split("subscriptions: ")
            .nth(1)
            .and_then(|rest| rest.split([',', ' ', '}']).next())
            .and_then(|n| n.parse().ok())
            .expect("the agent's Debug shows its subscriptions");
        let rows = self.engine.read(|store| {
            store
                .instances("Device.LocalAgent.Subscription.", Protocol::Usp, true)
                .map_or(0, |rows| rows.len())
        });
        assert!(
            tracked <= rows,
            "{tracked} subscriptions tracked, {rows} rows"
        );
    }

    fn msg_id(&mut self) -> String {
        self.next_msg += 1;
        format!("fz-{}", self.next_msg)
    }

    /// Sends `msg` in a Record; from the known controller to the agent, a well-formed request
    /// must get exactly one answer.
    fn send(&mut self, r: &mut Reader<'_>, msg: &Msg) {
        let (to, from) = if r.byte() < 224 {
            (AGENT, CTRL)
        } else {
            (r.pick(OTHERS), r.pick(OTHERS))
        };
        let record = RecordBuilder::new(to, from).no_session(msg);
        let mut bytes = Vec::new();
        codec::encode_record(&record, &mut bytes);
        let id = msg
            .header
            .as_ref()
            .map(|h| h.msg_id.clone())
            .unwrap_or_default();
        let before = self.replies.get(&id).copied().unwrap_or(0);
        self.feed(Bytes::from(bytes));
        let after = self.replies.get(&id).copied().unwrap_or(0);
        assert!(after - before <= 1, "more than one answer to {id}");
        // A request without `send_resp` may go unanswered.
        let answer_due = match msg.body.as_ref().and_then(|b| b.msg_body.as_ref()) {
            Some(MsgBody::Request(usp::Request {
                req_type: Some(ReqType::Operate(op)),
            })) => op.send_resp,
            Some(MsgBody::Request(usp::Request {
                req_type: Some(ReqType::Notify(_)),
            })) => false,
            Some(MsgBody::Request(_)) => true,
            _ => false,
        };
        let decodes = codec::decode_msg(&codec_bytes(msg), &Limits::default()).is_ok();
        if to == AGENT && from == CTRL && answer_due && decodes {
            assert_eq!(after - before, 1, "one answer to request {id}");
        }
    }

    fn feed(&mut self, bytes: Bytes) {
        let kind = MtpKind::Mqtt;
        self.agent
            .handle_record(self.now, Mtp::new(kind, "ctrl/reply"), bytes);
        self.drain();
    }

    fn step(&mut self, r: &mut Reader<'_>) {
        match r.byte() % 10 {
            0..=4 => {
                let id = self.msg_id();
                let req = request(r);
                self.send(r, &codec::request_msg(id, req));
            }
            5 => {
                self.feed(Bytes::copy_from_slice(r.bytes()));
            }
            6 => {
                let (msg_id, subscription_id) = if self.notifies.is_empty() || r.byte() > 240 {
                    (r.value(), r.value())
                } else {
                    let i = usize::from(r.byte()) % self.notifies.len();
                    self.notifies.swap_remove(i)
                };
                let msg = codec::response_msg(
                    msg_id,
                    RespType::NotifyResp(usp::NotifyResp { subscription_id }),
                );
                self.send(r, &msg);
            }
            7 => {
                let secs = match r.byte() % 3 {
                    0 => u64::from(r.byte()),
                    1 => u64::from(r.u16()),
                    _ => u64::from(r.u32() % (30 * 24 * 3600)),
                };
                self.now += Duration::from_secs(secs);
                self.sim.advance(u32::try_from(secs).unwrap_or(u32::MAX));
                self.agent.handle_timeout(self.now);
                self.drain();
            }
            8 => {
                let acs = Principal::acs("https://acs.example.net/cwmp");
                common::device_change(&self.sim, &self.engine, &acs, r);
                self.drain();
            }
            _ => self.power_cycle(),
        }
    }
}

fn codec_bytes(msg: &Msg) -> Vec<u8> {
    let mut out = Vec::new();
    codec::encode_msg(msg, &mut out);
    out
}

/// A request of any type, structured from the fuzz bytes.
fn request(r: &mut Reader<'_>) -> ReqType {
    match r.byte() % 12 {
        0 | 1 => ReqType::Get(usp::Get {
            param_paths: r.list(4, Reader::path),
            max_depth: u32::from(r.byte() % 4),
        }),
        2 => ReqType::GetInstances(usp::GetInstances {
            obj_paths: r.list(3, Reader::path),
            first_level_only: r.bool(),
        }),
        3 => ReqType::GetSupportedDm(usp::GetSupportedDm {
            obj_paths: r.list(2, Reader::path),
            first_level_only: r.bool(),
            return_commands: r.bool(),
            return_events: r.bool(),
            return_params: r.bool(),
            return_unique_key_sets: r.bool(),
        }),
        4 | 5 => ReqType::Set(usp::Set {
            allow_partial: r.bool(),
            update_objs: r.list(3, |r| usp::set::UpdateObject {
                obj_path: r.path(),
                param_settings: r.list(3, |r| usp::set::UpdateParamSetting {
                    param: r.text(SUBSCRIPTION_PARAMS),
                    value: r.value(),
                    required: r.bool(),
                }),
            }),
        }),
        6 | 7 => {
            // Subscriptions most of the time: they drive the notification machinery.
            let subscription = r.bool();
            ReqType::Add(usp::Add {
                allow_partial: r.bool(),
                create_objs: r.list(2, |r| {
                    if subscription {
                        usp::add::CreateObject {
                            obj_path: "Device.LocalAgent.Subscription.".into(),
                            param_settings: vec![
                                setting("ID", r.value()),
                                setting("NotifType", r.text(NOTIF_TYPES)),
                                setting("ReferenceList", r.path()),
                                setting("Enable", r.text(&["true", "false"])),
                                setting(r.text(SUBSCRIPTION_PARAMS), r.value()),
                            ],
                        }
                    } else {
                        usp::add::CreateObject {
                            obj_path: r.path(),
                            param_settings: r
                                .list(3, |r| setting(r.text(SUBSCRIPTION_PARAMS), r.value())),
                        }
                    }
                }),
            })
        }
        8 => ReqType::Delete(usp::Delete {
            allow_partial: r.bool(),
            obj_paths: r.list(3, Reader::path),
        }),
        9 => ReqType::Operate(usp::Operate {
            command: r.path(),
            command_key: r.text(VALUES),
            send_resp: r.bool(),
            input_args: r.list(2, |r| (r.value(), r.value())).into_iter().collect(),
        }),
        10 => ReqType::GetSupportedProtocol(usp::GetSupportedProtocol {
            controller_supported_protocol_versions: r.text(&["1.3", "1.0,1.5", "2.0", ""]),
        }),
        _ => ReqType::Get(usp::Get {
            param_paths: vec![r.path()],
            max_depth: 0,
        }),
    }
}

fn setting(param: impl Into<String>, value: impl Into<String>) -> usp::add::CreateParamSetting {
    usp::add::CreateParamSetting {
        param: param.into(),
        value: value.into(),
        required: true,
    }
}

fuzz_target!(|data: &[u8]| {
    let mut r = Reader::new(data);
    #[allow(clippy::disallowed_methods)] // The virtual clock starts at a real instant.
    let origin = Instant::now();
    let mut case = Case::boot(SimDevice::new("SIM0001"), origin);
    for _ in 0..MAX_STEPS {
        if r.is_empty() {
            break;
        }
        case.step(&mut r);
    }
    case.engine.read(|store| check_store(store, Protocol::Usp));
});
