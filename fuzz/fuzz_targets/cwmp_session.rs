//! The CWMP session, stateful: a sequence of steps decoded from the fuzz bytes (ACS answers,
//! structured or raw, transport failures, clock steps, connection requests, device changes,
//! protocol-neutral writes, power cycles, some with the saved state cut short or garbled)
//! drives cwmp-core's `Session` against a `hal::Engine` on the simulated device. After every
//! step: no panic, the outputs drain within a bound, at most one POST is in flight, every
//! envelope the CPE sends decodes, every lightweight notification datagram is a signed POST
//! within its size bound, timers move forward, the persisted state stays bounded and
//! survives its JSON form; at the end the store is consistent (`NumberOfEntries` equal to
//! rows, `maxEntries` kept).
//!
//! Step format: one action byte, then its arguments (see `Case::step`).
#![no_main]

mod common;

use std::sync::Arc;
use std::time::{Duration, Instant};

use common::{MAX_STEPS, Reader, STEP_BOUND, VALUES, block_on, check_store};
use cwmp_core::codec::{
    AddObject, Body, CwmpNamespace, DeleteObject, Download, Envelope, EventCode, Fault,
    GetParameterAttributes, GetParameterNames, GetParameterValues, InformResponse, Limits,
    Notification, ParameterValue, Reboot, ScheduleInform, SetParameterAttributes,
    SetParameterAttributesStruct, SetParameterValues, Upload, ValueType,
};
use cwmp_core::session::{
    Event, HttpRequest, HttpResponse, Input, Output, PersistedState, ServerSettings, Session,
    SessionConfig, SessionError,
};
use hal::engine::AllowAll;
use hal::sim::SimDevice;
use hal::{Engine, EngineConfig, Principal};
use libfuzzer_sys::fuzz_target;
use tr181_model::schema::Protocol;
use tr181_model::store::Change;
use tr181_model::value::DateTime;

/// 2025-01-01T00:00:00Z.
const START_UNIX: i64 = 1_735_689_600;
/// Most events a persisted state may hold (an Inform carries at most 64).
const MAX_EVENTS: usize = 64;

const HEADER_NAMES: &[&str] = &[
    "WWW-Authenticate",
    "Location",
    "Set-Cookie",
    "Content-Type",
    "Connection",
    "X-Other",
];
const HEADER_VALUES: &[&str] = &[
    "Digest realm=\"acs\", nonce=\"n1\", qop=\"auth\", algorithm=MD5",
    "Digest realm=\"acs\", nonce=\"n2\", qop=\"auth\", algorithm=SHA-256, stale=true",
    "Digest realm=\"acs\", nonce=\"n3\"",
    "Basic realm=\"acs\"",
    "https://acs2.example.net/cwmp",
    "http://acs3.example.net/cwmp",
    "ftp://nowhere/",
    "session=s1; Path=/; HttpOnly",
    "session=; Max-Age=0",
    "text/xml; charset=utf-8",
    "close",
];
const STATUSES: &[u16] = &[200, 204, 200, 301, 302, 307, 400, 401, 403, 404, 500, 503];
const FILE_TYPES: &[&str] = &[
    "1 Firmware Upgrade Image",
    "3 Vendor Configuration File",
    "2 Web Content",
    "X 00D09E Thing",
];
const URLS: &[&str] = &[
    "http://files.example/fw.bin",
    "http://files.example/fail.bin",
    "https://files.example/cfg",
    "",
];

struct Case {
    sim: Arc<SimDevice>,
    engine: Engine,
    session: Session,
    config: SessionConfig,
    now: Instant,
    seq: u64,
    /// The POST awaiting an answer.
    in_flight: Option<HttpRequest>,
    /// The ID of the last envelope the CPE sent.
    last_id: Option<String>,
    last_namespace: CwmpNamespace,
}

impl Case {
    fn boot(sim: Arc<SimDevice>, config: SessionConfig, now: Instant) -> Self {
        let engine = Engine::new(sim.hal(), Arc::new(AllowAll), EngineConfig::default());
        block_on(engine.start()).expect("the simulated device boots");
        sim.attach(engine.sink());
        let settings = engine.read(ServerSettings::from_store);
        let session = Session::new(config.clone(), settings, None, now);
        let mut case = Self {
            sim,
            seq: engine.last_seq(),
            engine,
            session,
            config,
            now,
            in_flight: None,
            last_id: None,
            last_namespace: CwmpNamespace::V1_0,
        };
        case.input(Input::WallClock(
            DateTime::from_unix_seconds(START_UNIX).expect("a valid time"),
        ));
        case
    }

    /// A power cycle: a new engine on the same device, the session from its saved state.
    fn power_cycle(&mut self) {
        let state = self.session.persisted_state();
        let json = serde_json::to_string(&state).expect("the state serialises");
        let restored = serde_json::from_str(&json).expect("the state deserialises");
        assert_eq!(state, restored, "the persisted state survives JSON");
        self.restart(Some(restored));
    }

    /// A power cycle that garbles the session's saved state or a section of the device's
    /// flash first ([`Reader::garble`]), repeats every list of the saved state up to 255
    /// times, or puts an entry of the wrong JSON type into every list (which must cost only
    /// that entry): a state that no longer reads is a fresh start, as the agent does with it;
    /// what still reads is taken, held to the session's bounds ([`Self::check_state`]).
    fn garbled_power_cycle(&mut self, r: &mut Reader<'_>) {
        let state = self.session.persisted_state();
        let json = serde_json::to_vec(&state).expect("the state serialises");
        let restored = match r.byte() % 4 {
            0 => serde_json::from_slice(&r.garble(json)).ok(),
            1 => {
                common::garble_section(&self.sim, r);
                serde_json::from_slice(&json).ok()
            }
            2 => {
                let mut value = serde_json::to_value(&state).expect("the state serialises");
                let times = usize::from(r.byte());
                if let Some(fields) = value.as_object_mut() {
                    for list in fields.values_mut().filter_map(|v| v.as_array_mut()) {
                        let len = list.len() * times;
                        *list = list.iter().cycle().take(len).cloned().collect();
                    }
                }
                Some(serde_json::from_value(value).expect("repeated lists still read"))
            }
            _ => {
                let mut value = serde_json::to_value(&state).expect("the state serialises");
                let mut lists = 0;
                if let Some(fields) = value.as_object_mut() {
                    for list in fields.values_mut().filter_map(|v| v.as_array_mut()) {
                        let at = usize::from(r.byte()) % (list.len() + 1);
                        list.insert(at, wrong_type(r));
                        lists += 1;
                    }
                }
                let read: PersistedState =
                    serde_json::from_value(value).expect("wrong-type entries cost themselves");
                assert_eq!(
                    read.malformed_on_load(),
                    lists,
                    "each wrong-type entry counted"
                );
                assert_eq!(
                    serde_json::to_value(&read).ok(),
                    serde_json::to_value(&state).ok(),
                    "every good entry kept"
                );
                Some(read)
            }
        };
        self.restart(restored);
    }

    fn restart(&mut self, restored: Option<PersistedState>) {
        self.engine = Engine::new(self.sim.hal(), Arc::new(AllowAll), EngineConfig::default());
        block_on(self.engine.start()).expect("the simulated device reboots");
        common::restore_bulk_data(&self.engine);
        self.sim.attach(self.engine.sink());
        let settings = self.engine.read(ServerSettings::from_store);
        self.session = Session::new(self.config.clone(), settings, restored, self.now);
        self.seq = self.engine.last_seq();
        self.in_flight = None;
    }

    fn input(&mut self, input: Input<'_>) {
        let in_flight = self.in_flight.is_some();
        let is_http = matches!(input, Input::HttpResponse(_) | Input::HttpFailed);
        match self.session.handle_input(input) {
            Ok(()) => assert!(!is_http || in_flight, "an answer without a POST accepted"),
            Err(SessionError::NoRequestInFlight) => {
                assert!(
                    is_http && !in_flight,
                    "refused an answer to a POST in flight"
                )
            }
            Err(e) => panic!("unexpected session error {e:?}"),
        }
        if is_http {
            self.in_flight = None;
        }
        self.drain();
    }

    /// Feeds the engine's notices, change log and settings to the session.
    fn sync(&mut self) {
        block_on(self.engine.handle_device_inputs()).expect("device inputs apply");
        while let Some((id, notice)) = self.engine.poll_notice() {
            self.session
                .handle_input(Input::Notice(id, notice))
                .expect("notices are always taken");
        }
        let changes = self.engine.changes_since(self.seq);
        if let Some(last) = changes.last() {
            self.seq = last.seq;
            self.session
                .handle_input(Input::Changes(&changes))
                .expect("changes are always taken");
            let settings_changed = changes.iter().any(|c| {
                matches!(&c.change, Change::ValueChanged { path, .. }
                    if ServerSettings::is_settings_path(path))
            });
            if settings_changed {
                let settings = self.engine.read(ServerSettings::from_store);
                self.session
                    .handle_input(Input::Settings(settings))
                    .expect("settings are always taken");
            }
        }
    }

    /// Drains the session's outputs, running engine requests, until it waits.
    fn drain(&mut self) {
        self.sync();
        for _ in 0..STEP_BOUND {
            match self.session.poll_output() {
                Output::Transmit(request) => {
                    assert!(
                        self.in_flight.is_none(),
                        "a second POST while one is in flight"
                    );
                    self.check_request(&request);
                    self.in_flight = Some(request);
                }
                Output::EngineRequest {
                    id,
                    principal,
                    request,
                } => {
                    let result = block_on(request.execute(&self.engine, &principal));
                    self.session
                        .respond(id, result)
                        .expect("the engine's own result is accepted");
                    self.sync();
                }
                Output::Event(Event::SessionEnded(end)) => {
                    self.in_flight = None;
                    if let Some(at) = end.retry_at {
                        assert!(at >= self.now, "a retry in the past");
                    }
                }
                Output::Event(_) => {}
                Output::Datagram(datagram) => {
                    assert!(
                        datagram.payload.len() <= self.config.limits.max_datagram_bytes,
                        "a datagram over its bound"
                    );
                    assert!(datagram.payload.starts_with(b"POST / HTTP/1.1\r\n"));
                    assert!(
                        datagram
                            .payload
                            .windows(b"\r\nSignature: ".len())
                            .any(|w| w == b"\r\nSignature: "),
                        "an unsigned datagram"
                    );
                }
                Output::Timeout(at) => {
                    if at <= self.now && self.in_flight.is_none() {
                        // Due now: fire it; it must not stay due.
                        self.session
                            .handle_input(Input::Timeout(self.now))
                            .expect("timeouts are always taken");
                        self.sync();
                        match self.session.poll_output() {
                            Output::Timeout(next) => {
                                assert!(next > self.now, "a timer stays due after firing")
                            }
                            // Something else to do: it is requeued by the next poll.
                            _ => continue,
                        }
                    }
                    self.check_state();
                    return;
                }
                other => panic!("unexpected output {other:?}"),
            }
        }
        panic!("the session did not settle within {STEP_BOUND} outputs");
    }

    /// What the CPE sends is well formed.
    fn check_request(&mut self, request: &HttpRequest) {
        assert!(!request.url.is_empty(), "a POST without a URL");
        if request.body.is_empty() {
            return;
        }
        // The inbound bounds are not the CPE's: a GetParameterValues of `Device.` may answer
        // tens of thousands of values. Well-formedness and the XSD are checked.
        let limits = Limits::default()
            .with_max_body_bytes(usize::MAX)
            .with_max_array_entries(usize::MAX);
        let envelope = Envelope::decode(&request.body, &limits)
            .unwrap_or_else(|e| panic!("the CPE sent an envelope it cannot read: {e}"));
        if let Body::Inform(inform) = &envelope.body {
            assert!(!inform.event.is_empty(), "an Inform without events");
        }
        self.last_id = envelope.header.id;
        self.last_namespace = envelope.namespace;
    }

    fn check_state(&self) {
        let state = self.session.persisted_state();
        let limits = &self.config.limits;
        assert!(
            state.events.len() <= MAX_EVENTS,
            "{} events",
            state.events.len()
        );
        assert!(
            state.transfers.len() + state.transfer_completes.len() <= limits.max_transfers,
            "transfers and unconfirmed completions share the transfer slots"
        );
        assert!(state.scheduled_informs.len() <= limits.max_scheduled_informs);
        assert!(state.attributes.len() <= limits.max_attributes);
        assert!(state.du_changes.len() <= limits.max_transfers);
        assert!(state.du_changes.iter().all(|c| c.operations.len() <= 16));
        assert!(state.autonomous_du_changes.len() <= 64);
        assert!(state.autonomous_transfers.len() <= 64);
        assert!(state.request_downloads.len() <= 16);
        assert!(state.lightweight_changed.len() <= limits.max_changed_parameters);
    }

    fn step(&mut self, r: &mut Reader<'_>) {
        match r.byte() % 13 {
            0..=3 => {
                let body = acs_body(r);
                self.reply_envelope(r, body);
            }
            4 => self.reply_empty(r),
            5 => self.reply_raw(r),
            6 => self.input(Input::HttpFailed),
            7 => {
                let secs = match r.byte() % 4 {
                    0 => u64::from(r.byte()),
                    1 => u64::from(r.u16()),
                    2 => u64::from(r.u32() % (400 * 24 * 3600)),
                    _ => 30,
                };
                self.now += Duration::from_secs(secs);
                self.sim.advance(u32::try_from(secs).unwrap_or(u32::MAX));
                self.input(Input::Timeout(self.now));
            }
            8 => self.input(Input::ConnectionRequest),
            9 => self.device_change(r),
            10 => match r.byte() % 4 {
                0 => self.power_cycle(),
                1 => {
                    let code = r.pick(&[
                        EventCode::DiagnosticsComplete,
                        EventCode::RequestDownload,
                        EventCode::Other("X 00D09E Test".into()),
                    ]);
                    self.input(Input::Event(code, String::new()));
                }
                2 => {
                    let secs = i64::from(r.u32());
                    if let Some(time) = DateTime::from_unix_seconds(secs) {
                        self.input(Input::WallClock(time));
                    }
                }
                _ => {
                    self.sim.run_jobs();
                    self.drain();
                }
            },
            11 => self.drain(),
            _ => self.garbled_power_cycle(r),
        }
    }

    /// A change not made by the ACS: a USP write, a LAN client, a device event.
    fn device_change(&mut self, r: &mut Reader<'_>) {
        let usp = Principal::controller("self::controller", Vec::new());
        common::device_change(&self.sim, &self.engine, &usp, r);
        self.drain();
    }

    fn reply_envelope(&mut self, r: &mut Reader<'_>, body: Body) {
        let mut envelope = Envelope::new(self.last_namespace, body);
        envelope.header.id = if r.byte() < 240 {
            self.last_id.clone()
        } else {
            Some(r.value())
        };
        if r.byte() < 32 {
            envelope.header.hold_requests = Some(r.bool());
        }
        let mut bytes = Vec::new();
        if envelope.encode(&mut bytes).is_err() {
            // A body the encoder refuses (fuzzed names): an empty answer instead.
            bytes.clear();
        }
        let headers = [("Content-Type", "text/xml; charset=utf-8")];
        self.input(Input::HttpResponse(HttpResponse::new(
            200, &headers, &bytes,
        )));
    }

    fn reply_empty(&mut self, r: &mut Reader<'_>) {
        let status = if r.bool() { 204 } else { 200 };
        self.input(Input::HttpResponse(HttpResponse::new(status, &[], &[])));
    }

    fn reply_raw(&mut self, r: &mut Reader<'_>) {
        let status = if r.byte() < 200 {
            r.pick(STATUSES)
        } else {
            r.u16()
        };
        let headers: Vec<(String, String)> =
            r.list(6, |r| (r.text(HEADER_NAMES), r.text(HEADER_VALUES)));
        let headers: Vec<(&str, &str)> = headers
            .iter()
            .map(|(n, v)| (n.as_str(), v.as_str()))
            .collect();
        let body = r.bytes();
        self.input(Input::HttpResponse(HttpResponse::new(
            status, &headers, body,
        )));
    }
}

/// A JSON value no entry of a saved list reads as.
fn wrong_type(r: &mut Reader<'_>) -> serde_json::Value {
    match r.byte() % 3 {
        0 => serde_json::Value::from(r.u32()),
        1 => serde_json::Value::Bool(r.bool()),
        _ => serde_json::Value::Array(Vec::new()),
    }
}

/// An ACS message, structured from the fuzz bytes.
fn acs_body(r: &mut Reader<'_>) -> Body {
    match r.byte() % 20 {
        0..=3 => Body::InformResponse(InformResponse {
            max_envelopes: u32::from(r.byte() % 3),
        }),
        4 => Body::GetParameterValues(GetParameterValues {
            parameter_names: r.list(4, Reader::path),
        }),
        5 => Body::SetParameterValues(SetParameterValues {
            parameter_list: r.list(4, |r| {
                let value_type = r.pick(&[
                    ValueType::String,
                    ValueType::UnsignedInt,
                    ValueType::Boolean,
                    ValueType::DateTime,
                    ValueType::Int,
                ]);
                ParameterValue::new(r.path(), r.value(), value_type)
            }),
            parameter_key: r.text(VALUES),
        }),
        6 => Body::AddObject(AddObject {
            object_name: r.path(),
            parameter_key: r.text(VALUES),
        }),
        7 => Body::DeleteObject(DeleteObject {
            object_name: r.path(),
            parameter_key: r.text(VALUES),
        }),
        8 => Body::GetParameterNames(GetParameterNames {
            parameter_path: r.path(),
            next_level: r.bool(),
        }),
        9 => Body::SetParameterAttributes(SetParameterAttributes {
            parameter_list: r.list(3, |r| SetParameterAttributesStruct {
                name: r.path(),
                notification_change: r.bool(),
                notification: r.pick(&[
                    Notification::Off,
                    Notification::Passive,
                    Notification::Active,
                    Notification::PassiveLightweight,
                    Notification::PassiveAndPassiveLightweight,
                    Notification::ActiveLightweight,
                    Notification::PassiveAndActiveLightweight,
                ]),
                access_list_change: r.bool(),
                access_list: r.list(2, |r| r.text(&["Subscriber", "X"])),
            }),
        }),
        10 => Body::GetParameterAttributes(GetParameterAttributes {
            parameter_names: r.list(3, Reader::path),
        }),
        11 => Body::Reboot(Reboot {
            command_key: r.text(VALUES),
        }),
        12 => Body::ScheduleInform(ScheduleInform {
            delay_seconds: u32::from(r.u16()),
            command_key: r.text(VALUES),
        }),
        13 => Body::Download(Download {
            command_key: r.text(VALUES),
            file_type: r.text(FILE_TYPES),
            url: r.text(URLS),
            username: String::new(),
            password: String::new(),
            file_size: r.u32(),
            target_file_name: String::new(),
            delay_seconds: u32::from(r.byte()),
            success_url: String::new(),
            failure_url: String::new(),
        }),
        14 => Body::Upload(Upload {
            command_key: r.text(VALUES),
            file_type: r.text(FILE_TYPES),
            url: r.text(URLS),
            username: String::new(),
            password: String::new(),
            delay_seconds: u32::from(r.byte()),
        }),
        15 => r.pick(&[
            Body::FactoryReset,
            Body::GetRpcMethods,
            Body::GetQueuedTransfers,
            Body::GetAllQueuedTransfers,
            Body::TransferCompleteResponse,
        ]),
        16 => Body::Fault(Fault::cwmp(
            r.pick(&[8000, 8001, 8002, 8003, 8004, 8005, 8006]),
            "fault",
        )),
        17 => Body::Unknown {
            name: r.text(&["X_ACME_Diagnose", "Inform", "GetParameterValues"]),
        },
        _ => Body::TransferCompleteResponse,
    }
}

fuzz_target!(|data: &[u8]| {
    let mut r = Reader::new(data);
    #[allow(clippy::disallowed_methods)] // The virtual clock starts at a real instant.
    let origin = Instant::now();
    let config = SessionConfig::default().with_rng_seed(u64::from(r.byte()));
    let mut case = Case::boot(SimDevice::new("SIM0001"), config, origin);
    case.drain();
    for _ in 0..MAX_STEPS {
        if r.is_empty() {
            break;
        }
        case.step(&mut r);
    }
    case.engine.read(|store| check_store(store, Protocol::Cwmp));
});
