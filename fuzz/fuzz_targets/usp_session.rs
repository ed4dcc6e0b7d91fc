//! The USP agent, stateful: a sequence of steps decoded from the fuzz bytes (raw Record bytes,
//! structured Msgs of every request type in well- or ill-addressed Records, NotifyResps to the
//! agent's Notifies, ControllerTrust challenges and writes to the trust rows over MTPs that
//! say which CA validated the sender, clock steps, device changes, CWMP writes, power cycles,
//! some with a section of the flash cut short or garbled) drives usp-core's `Agent` against a
//! `hal::Engine` on the simulated device, ControllerTrust deciding who may do what. After
//! every step: no panic, the outputs drain within a bound, every Record the agent sends
//! decodes and goes to a controller (to the known one signed, its MTP protecting nothing:
//! an HMAC, or a signature with the agent's certificate), every well-formed request of the known controller gets
//! exactly one answer (none while it is banned), a ChallengeResponse passes only for a
//! ChallengeID handed to that controller and the value of its challenge row, no engine
//! request is left pending, the agent tracks no more subscriptions than the table has rows,
//! saved Notifies restore after a power cycle; at the end the store is consistent
//! (`NumberOfEntries` equal to rows). The agent has E2E TLS settings, and steps of their own
//! run E2E sessions with TLS payload security: a controller's real rustls handshake through
//! session Records, requests sealed in it, Records tampered with, signed before the handshake
//! (the controller's certificate and signature, or fuzz bytes), TLS12 Records of fuzz bytes.
//!
//! Step format: one action byte, then its arguments (see `Case::step`, `Case::tls_step`).
#![no_main]

mod common;

use std::collections::BTreeMap;
use std::io::Write as _;
use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant};

use bytes::Bytes;
use common::{MAX_STEPS, Reader, STEP_BOUND, VALUES, block_on, check_store};
use hal::sim::SimDevice;
use hal::{Engine, EngineConfig, Principal};
use libfuzzer_sys::fuzz_target;
use rustls::pki_types::pem::PemObject as _;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use tr181_model::schema::{BaseType, Protocol};
use tr181_model::value::{DateTime, Value};
use usp_core::agent::{
    Agent, AgentConfig, AgentEvent, CertificateId, ControllerConfig, ControllerTrust, E2eTls,
    IgnoreReason, Mtp, MtpKind, Output,
};
use usp_core::codec::{self, RecordBuilder};
use usp_core::usp::{
    self, body::MsgBody, operate_resp::operation_result::OperationResp, request::ReqType,
    response::RespType,
};
use usp_core::usp_record::SessionContextRecord;
use usp_core::usp_record::record::{PayloadSecurity, RecordType};
use usp_core::usp_record::session_context_record::PayloadSarState;
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

const ROLES: &str = "Device.LocalAgent.ControllerTrust.Role.";
const ROLE_1: &str = "Device.LocalAgent.ControllerTrust.Role.1";
const ROLE_2: &str = "Device.LocalAgent.ControllerTrust.Role.2";
const CHALLENGES: &str = "Device.LocalAgent.ControllerTrust.Challenge.";
const CREDENTIALS: &str = "Device.LocalAgent.ControllerTrust.Credential.";
const REQUEST_CHALLENGE: &str = "Device.LocalAgent.ControllerTrust.RequestChallenge()";
const CHALLENGE_RESPONSE: &str = "Device.LocalAgent.ControllerTrust.ChallengeResponse()";
/// base64 of "open sesame": challenge 1's value.
const PASSPHRASE: &str = "b3BlbiBzZXNhbWU=";
/// The CA of the certificate row that credential 1 names.
const CA: (&str, &str) = ("CN=Fuzz CA", "01");
const CHALLENGE_REFS: &[&str] = &[
    "Device.LocalAgent.ControllerTrust.Challenge.1",
    "Device.LocalAgent.ControllerTrust.Challenge.1.",
    "Device.LocalAgent.ControllerTrust.Challenge.2",
    ROLE_1,
    "",
];
/// Objects whose ControllerTrust parameters the steps write.
const TRUST_OBJECTS: &[&str] = &[
    "Device.LocalAgent.ControllerTrust.",
    "Device.LocalAgent.ControllerTrust.Role.1.",
    "Device.LocalAgent.ControllerTrust.Role.2.Permission.1.",
    "Device.LocalAgent.ControllerTrust.Role.1.Permission.1.",
    "Device.LocalAgent.ControllerTrust.Challenge.1.",
    "Device.LocalAgent.ControllerTrust.Credential.1.",
    "Device.LocalAgent.Controller.1.",
];
const TRUST_TABLES: &[&str] = &[
    ROLES,
    "Device.LocalAgent.ControllerTrust.Role.2.Permission.",
    CHALLENGES,
    CREDENTIALS,
];
const TRUST_PARAMS: &[&str] = &[
    "Enable",
    "Name",
    "Targets",
    "Param",
    "Obj",
    "InstantiatedObj",
    "CommandEvent",
    "Order",
    "Role",
    "Value",
    "Retries",
    "LockoutPeriod",
    "Credential",
    "AllowedUses",
    "AssignedRole",
    "BannedRole",
    "UntrustedRole",
    "SecuredRoles",
];
const TRUST_VALUES: &[&str] = &[
    "true",
    "false",
    "",
    ROLE_1,
    ROLE_2,
    "Device.LocalAgent.ControllerTrust.Role.1.,Device.LocalAgent.ControllerTrust.Role.2",
    "Device.",
    "Device.WiFi.",
    "Device.LocalAgent.ControllerTrust.",
    "rwxn",
    "r--n",
    "r-xn",
    "----",
    "0",
    "1",
    "2",
    "60",
    PASSPHRASE,
    "Device.LocalAgent.Certificate.1",
    "MTP-and-USP",
    "MTP-only",
    "MTP-and-broker",
];

/// The test certificates of usp-core's E2E TLS tests, compiled in.
macro_rules! fixture {
    ($name:literal) => {
        include_bytes!(concat!("../../usp-core/tests/fixtures/e2e-tls/", $name))
    };
}

fn cert(pem: &[u8]) -> Vec<CertificateDer<'static>> {
    vec![CertificateDer::from_pem_slice(pem).expect("a fixture certificate")]
}

fn key(pem: &[u8]) -> PrivateKeyDer<'static> {
    PrivateKeyDer::from_pem_slice(pem).expect("a fixture key")
}

fn roots() -> Arc<rustls::RootCertStore> {
    let mut roots = rustls::RootCertStore::empty();
    roots.add_parsable_certificates(cert(fixture!("ca.pem")));
    Arc::new(roots)
}

/// The agent's E2E TLS settings, made once.
fn e2e_tls() -> E2eTls {
    static SETTINGS: OnceLock<E2eTls> = OnceLock::new();
    SETTINGS
        .get_or_init(|| {
            let (chain, key) = (cert(fixture!("agent.pem")), key(fixture!("agent-key.pem")));
            E2eTls::new(chain, key, roots(), Vec::new()).expect("the fixture identity")
        })
        .clone()
}

/// The controller's TLS settings, made once.
fn controller_tls() -> Arc<rustls::ClientConfig> {
    static SETTINGS: OnceLock<Arc<rustls::ClientConfig>> = OnceLock::new();
    SETTINGS
        .get_or_init(|| {
            let provider = Arc::new(rustls::crypto::ring::default_provider());
            let (chain, key) = (
                cert(fixture!("controller.pem")),
                key(fixture!("controller-key.pem")),
            );
            let config = rustls::ClientConfig::builder_with_provider(provider)
                .with_safe_default_protocol_versions()
                .expect("TLS versions")
                .with_root_certificates(roots())
                .with_client_auth_cert(chain, key)
                .expect("the fixture identity");
            Arc::new(config)
        })
        .clone()
}

/// The controller's key for the signature method (ECDSA P-256 SHA-256), made once.
fn controller_signer() -> &'static dyn rustls::sign::Signer {
    static SIGNER: OnceLock<Box<dyn rustls::sign::Signer>> = OnceLock::new();
    SIGNER
        .get_or_init(|| {
            rustls::crypto::ring::sign::any_ecdsa_type(&key(fixture!("controller-key.pem")))
                .expect("a P-256 fixture key")
                .choose_scheme(&[rustls::SignatureScheme::ECDSA_NISTP256_SHA256])
                .expect("ECDSA P-256 SHA-256")
        })
        .as_ref()
}

/// 2030-01-01, inside the fixtures' validity.
const WALL: i64 = 1_893_456_000_000_000;

/// Step action bytes from this one on are TLS steps (`Case::tls_step`); below, `% 12` picks
/// the other steps, as the seeds were written.
const TLS_STEP: u8 = 250;

/// The controller's end of a TLS session with the agent.
struct TlsPeer {
    conn: rustls::ClientConnection,
    session_id: u64,
    next_seq: u64,
}

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
    /// The last answer to the known controller: its msg_id and body.
    answer: Option<(String, MsgBody)>,
    /// Challenges handed to the known controller: ChallengeID and the row asked for.
    challenges: Vec<(String, String)>,
    /// The CA the MTP says validated the sender's certificate.
    validated_by: Option<CertificateId>,
    /// The agent ignored a Record because its sender is banned.
    banned: bool,
    /// The controller's TLS session, and the TLS records the agent sent it.
    tls: Option<TlsPeer>,
    tls_inbox: Vec<Bytes>,
}

impl Case {
    /// Boots the device and the agent; the Notifies saved before are restored, which must
    /// succeed unless the flash was `garbled`.
    fn boot(sim: Arc<SimDevice>, now: Instant, garbled: bool) -> Self {
        let trust = Arc::new(ControllerTrust::new(AGENT));
        let engine = Engine::new(sim.hal(), trust.clone(), EngineConfig::default());
        block_on(engine.start()).expect("the simulated device boots");
        common::restore_bulk_data(&engine);
        sim.attach(engine.sink());
        seed_trust(&engine);
        let mut agent = Agent::new(config())
            .with_access(trust)
            .with_e2e_tls(e2e_tls());
        agent.set_wall_clock(now, DateTime::from_unix_micros(WALL));
        let seq = engine.last_seq();
        agent.skip_changes_through(seq);
        engine.read(|store| agent.load_subscriptions(now, store));
        let saved = block_on(engine.load_subscriptions()).expect("the simulated flash reads");
        if let Some(bytes) = saved {
            let restored = agent.restore_notifications(now, &bytes);
            assert!(
                garbled || restored.is_ok(),
                "saved Notifies restore: {restored:?}"
            );
        }
        let mut case = Self {
            sim,
            engine,
            agent,
            now,
            seq,
            replies: BTreeMap::new(),
            notifies: Vec::new(),
            next_msg: 0,
            answer: None,
            challenges: Vec::new(),
            validated_by: None,
            banned: false,
            tls: None,
            tls_inbox: Vec::new(),
        };
        case.drain();
        case
    }

    /// A power cycle: a new engine and agent on the same device, the unanswered Notifies
    /// saved as the driver saves them; with `garble`, a section of the flash is garbled first.
    fn power_cycle(&mut self, garble: Option<&mut Reader<'_>>) {
        let saved = self.agent.save_notifications(self.now);
        block_on(self.engine.save_subscriptions(&saved)).expect("the simulated flash writes");
        let garbled = garble.is_some();
        if let Some(r) = garble {
            common::garble_section(&self.sim, r);
        }
        let sim = self.sim.clone();
        let now = self.now;
        *self = Self::boot(sim, now, garbled);
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
                Output::Event(AgentEvent::RecordIgnored {
                    reason: IgnoreReason::Banned,
                    ..
                }) => self.banned = true,
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
        // No MTP here authenticates the controller, so nothing protects the Records: each is
        // signed (R-E2E.29), by the HMAC, or by the signature method with the agent's
        // certificate.
        assert!(!record.mac_signature.is_empty(), "an unsigned Record");
        if !record.sender_cert.is_empty() {
            assert_eq!(
                cert(&record.sender_cert),
                cert(fixture!("agent.pem")),
                "sender_cert is the agent's certificate"
            );
        }
        if let Some(RecordType::SessionContext(context)) = &record.record_type {
            if record.payload_security == PayloadSecurity::Tls12 as i32
                && self.tls_inbox.len() < 256
            {
                self.tls_inbox.extend(context.payload.iter().cloned());
            }
            return;
        }
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
            Some(body @ (MsgBody::Response(_) | MsgBody::Error(_))) => {
                *self.replies.entry(id.clone()).or_default() += 1;
                self.answer = Some((id, body));
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
        self.banned = false;
        self.feed(Bytes::from(bytes));
        let after = self.replies.get(&id).copied().unwrap_or(0);
        assert!(after - before <= 1, "more than one answer to {id}");
        if self.banned && from == CTRL {
            assert_eq!(after, before, "an answer to a banned controller");
            return;
        }
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
        let mut mtp = Mtp::new(MtpKind::Mqtt, "ctrl/reply");
        if let Some(ca) = &self.validated_by {
            mtp = mtp.with_validated_by(ca.clone());
        }
        self.agent.handle_record(self.now, mtp, bytes);
        self.drain();
    }

    /// A ControllerTrust step: a challenge command, a write to the trust rows, or the MTP
    /// changing the CA it says validated the sender.
    fn trust(&mut self, r: &mut Reader<'_>) {
        let req = match r.byte() % 5 {
            0 => {
                let mut args = vec![("ChallengeRef".to_owned(), r.text(CHALLENGE_REFS))];
                if r.bool() {
                    let expiration = r.text(&["0", "1", "60", "900", "-1", "x"]);
                    args.push(("RequestExpiration".to_owned(), expiration));
                }
                return self.challenge_command(r, REQUEST_CHALLENGE, args);
            }
            1 => {
                let id = if self.challenges.is_empty() || r.byte() > 240 {
                    r.value()
                } else {
                    let i = usize::from(r.byte()) % self.challenges.len();
                    self.challenges[i].0.clone()
                };
                let value = r.text(&[PASSPHRASE, "", "b3Blbg==", "not base64"]);
                let args = vec![("ChallengeID".to_owned(), id), ("Value".to_owned(), value)];
                return self.challenge_command(r, CHALLENGE_RESPONSE, args);
            }
            2 => ReqType::Set(usp::Set {
                allow_partial: r.bool(),
                update_objs: r.list(2, |r| usp::set::UpdateObject {
                    obj_path: r.text(TRUST_OBJECTS),
                    param_settings: r.list(2, |r| usp::set::UpdateParamSetting {
                        param: r.text(TRUST_PARAMS),
                        value: r.text(TRUST_VALUES),
                        required: r.bool(),
                    }),
                }),
            }),
            3 => {
                if r.bool() {
                    ReqType::Delete(usp::Delete {
                        allow_partial: r.bool(),
                        obj_paths: vec![r.text(TRUST_OBJECTS)],
                    })
                } else {
                    ReqType::Add(usp::Add {
                        allow_partial: r.bool(),
                        create_objs: vec![usp::add::CreateObject {
                            obj_path: r.text(TRUST_TABLES),
                            param_settings: r
                                .list(3, |r| setting(r.text(TRUST_PARAMS), r.text(TRUST_VALUES))),
                        }],
                    })
                }
            }
            _ => {
                self.validated_by = match r.byte() % 3 {
                    0 => None,
                    1 => Some(CertificateId::new(CA.0, CA.1)),
                    _ => Some(CertificateId::new(r.value(), r.value())),
                };
                return;
            }
        };
        let id = self.msg_id();
        self.send(r, &codec::request_msg(id, req));
    }

    /// Sends an Operate of a challenge command; a ChallengeID handed out is kept, and a
    /// ChallengeResponse succeeds only for one handed to the known controller, with the
    /// value of the challenge row it was asked for.
    fn challenge_command(
        &mut self,
        r: &mut Reader<'_>,
        command: &str,
        args: Vec<(String, String)>,
    ) {
        let id = self.msg_id();
        let input_args = args.iter().cloned().collect();
        let req = ReqType::Operate(usp::Operate {
            command: command.into(),
            command_key: String::new(),
            send_resp: true,
            input_args,
        });
        self.answer = None;
        self.send(r, &codec::request_msg(id.clone(), req));
        let Some((answered, MsgBody::Response(resp))) = self.answer.take() else {
            return;
        };
        let Some(RespType::OperateResp(resp)) = resp.resp_type else {
            return;
        };
        if answered != id {
            return;
        }
        let arg = |name: &str| {
            args.iter()
                .find(|(n, _)| n == name)
                .map(|(_, v)| v.clone())
                .unwrap_or_default()
        };
        for result in resp.operation_results {
            let Some(OperationResp::ReqOutputArgs(out)) = result.operation_resp else {
                continue;
            };
            if command == REQUEST_CHALLENGE {
                let challenge = out
                    .output_args
                    .get("ChallengeID")
                    .cloned()
                    .unwrap_or_default();
                assert!(!challenge.is_empty(), "a challenge without an ID");
                if self.challenges.len() >= 16 {
                    self.challenges.remove(0);
                }
                let row = arg("ChallengeRef").trim().trim_end_matches('.').to_owned();
                self.challenges.push((challenge, row));
            } else {
                let challenge = arg("ChallengeID");
                let (_, row) = self
                    .challenges
                    .iter()
                    .find(|(c, _)| *c == challenge)
                    .unwrap_or_else(|| panic!("ChallengeID {challenge:?} was never handed out"));
                let given = Value::parse_scalar(&arg("Value"), BaseType::Base64);
                let right = self
                    .engine
                    .read(|store| store.value(&format!("{row}.Value")).cloned());
                assert_eq!(
                    given.ok(),
                    right.ok(),
                    "a ChallengeResponse with a wrong value passed"
                );
            }
        }
    }

    /// A TLS12 session Record from the controller: the next of its TLS session (its handshake
    /// data, a request sealed in it, maybe tampered with), a new session, or fuzz bytes.
    fn tls_step(&mut self, r: &mut Reader<'_>) {
        let action = r.byte();
        if action < 32 || self.tls.is_none() {
            let name = "agent.test"
                .try_into()
                .expect("the agent certificate's DNS name");
            let conn =
                rustls::ClientConnection::new(controller_tls(), name).expect("a client connection");
            let session_id = u64::from(r.u16()).max(2);
            self.tls = Some(TlsPeer {
                conn,
                session_id,
                next_seq: 1,
            });
            self.tls_inbox.clear();
        }
        let Some(peer) = self.tls.as_mut() else {
            return;
        };
        // What the agent sent: a peer that refuses it (a restarted session) starts again.
        for payload in std::mem::take(&mut self.tls_inbox) {
            let failed = peer.conn.read_tls(&mut payload.as_ref()).is_err()
                || peer.conn.process_new_packets().is_err();
            if failed {
                self.tls = None;
                return;
            }
        }
        if action >= 160 && !peer.conn.is_handshaking() {
            let msg = codec::request_msg(format!("tls-{action}"), request(r));
            let _ = peer.conn.writer().write_all(&codec_bytes(&msg));
        }
        let mut tls = Vec::new();
        while peer.conn.wants_write() {
            if peer.conn.write_tls(&mut tls).unwrap_or(0) == 0 {
                break;
            }
        }
        let mut payload = vec![Bytes::from(tls)];
        if (64..96).contains(&action) {
            // Fuzz bytes in place of, or after, the TLS records.
            payload.push(Bytes::copy_from_slice(r.bytes()));
        }
        let seq = peer.next_seq;
        peer.next_seq += 1;
        let state = |byte: u8| match byte % 4 {
            0 => PayloadSarState::None,
            1 => PayloadSarState::Begin,
            2 => PayloadSarState::Inprocess,
            _ => PayloadSarState::Complete,
        } as i32;
        let (sar, rec_sar) = if (96..128).contains(&action) {
            (state(r.byte()), state(r.byte()))
        } else {
            (0, 0)
        };
        let mut record = RecordBuilder::new(AGENT, CTRL).session(SessionContextRecord {
            session_id: peer.session_id,
            sequence_id: seq,
            expected_id: 1,
            retransmit_id: 0,
            payload_sar_state: sar,
            payloadrec_sar_state: rec_sar,
            payload,
        });
        record.payload_security = PayloadSecurity::Tls12 as i32;
        if (128..144).contains(&action) {
            // A mac_signature the agent must refuse (no HMAC key before the handshake).
            record.mac_signature = r.bytes().to_vec();
        } else if (144..160).contains(&action) {
            // The signature method (before the handshake): the controller's certificate and
            // its signature, or fuzz bytes in place of either.
            record.sender_cert = if r.bool() {
                fixture!("controller.pem").to_vec()
            } else {
                r.bytes().to_vec()
            };
            record.mac_signature = if r.bool() {
                controller_signer()
                    .sign(&codec::integrity_input(&record))
                    .expect("an ECDSA signature")
            } else {
                r.bytes().to_vec()
            };
        }
        let mut bytes = Vec::new();
        codec::encode_record(&record, &mut bytes);
        self.feed(Bytes::from(bytes));
    }

    fn step(&mut self, r: &mut Reader<'_>) {
        let action = r.byte();
        if action >= TLS_STEP {
            return self.tls_step(r);
        }
        match action % 12 {
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
            9 => self.power_cycle(None),
            10 => self.trust(r),
            _ => self.power_cycle(Some(r)),
        }
    }
}

/// Gives the store ControllerTrust rows when it has no roles (first boot, factory reset), as
/// the agent's driver seeds them: the known controller has role 1 (everything), unknown ones
/// role 2 (read and execute); challenge 1 grants role 2 for [`PASSPHRASE`]; credential 1
/// grants role 2 to controllers whose certificate [`CA`] validated.
fn seed_trust(engine: &Engine) {
    let seeded = engine.read(|store| {
        store
            .instances(ROLES, Protocol::Usp, true)
            .is_ok_and(|rows| !rows.is_empty())
    });
    if seeded {
        return;
    }
    block_on(engine.device_update(|txn| {
        for (name, rights) in [("Full", "rwxn"), ("Reader", "r-xn")] {
            let role = txn.add(ROLES, &[("Enable", "true"), ("Name", name)])?;
            let permission = [
                ("Enable", "true"),
                ("Targets", "Device."),
                ("Param", rights),
                ("Obj", rights),
                ("InstantiatedObj", rights),
                ("CommandEvent", rights),
            ];
            txn.add(&format!("{ROLES}{role}.Permission."), &permission)?;
        }
        txn.set("Device.LocalAgent.Controller.1.AssignedRole", ROLE_1)?;
        txn.set("Device.LocalAgent.ControllerTrust.UntrustedRole", ROLE_2)?;
        let challenge = [
            ("Enable", "true"),
            ("Role", ROLE_2),
            ("Value", PASSPHRASE),
            ("Retries", "2"),
            ("LockoutPeriod", "60"),
        ];
        txn.add(CHALLENGES, &challenge)?;
        let ca = [("Enable", "true"), ("Issuer", CA.0), ("SerialNumber", CA.1)];
        let certificate = txn.add("Device.LocalAgent.Certificate.", &ca)?;
        let certificate = format!("Device.LocalAgent.Certificate.{certificate}");
        let credential = [
            ("Enable", "true"),
            ("Role", ROLE_2),
            ("Credential", certificate.as_str()),
            ("AllowedUses", "MTP-and-USP"),
        ];
        txn.add(CREDENTIALS, &credential).map(|_| ())
    }))
    .expect("the trust rows are added");
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
    let mut case = Case::boot(SimDevice::new("SIM0001"), origin, false);
    for _ in 0..MAX_STEPS {
        if r.is_empty() {
            break;
        }
        case.step(&mut r);
    }
    case.engine.read(|store| check_store(store, Protocol::Usp));
});
