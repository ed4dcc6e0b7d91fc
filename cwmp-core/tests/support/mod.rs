//! Scenario-test support: a CPE (the sans-IO [`Session`] driven against a real `hal::Engine`
//! on the simulated device) and a scripted ACS, over a virtual clock, with a step bound so a
//! livelock fails the test.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    dead_code,
    unreachable_pub
)]

use std::collections::VecDeque;
use std::sync::Arc;
use std::time::{Duration, Instant};

use cwmp_core::codec::{
    Body, CwmpNamespace, Envelope, GetParameterValues, InformResponse, Limits, Notification,
    ParameterValue, SetParameterAttributesStruct, SetParameterValues, ValueType,
};
use cwmp_core::connreq::{DigestConfig, DigestServer, DigestVerdict};
use cwmp_core::session::{
    Datagram, EngineRequest, Event, HttpRequest, HttpResponse, Input, Output, PersistedState,
    ServerSettings, Session, SessionConfig,
};
use hal::engine::AllowAll;
use hal::sim::SimDevice;
use hal::{Engine, EngineConfig};
use tr181_model::value::DateTime;

/// Steps one `run` may take before the test fails as a livelock.
pub const STEP_BOUND: usize = 20_000;

/// The ACS URL of the simulated device's factory configuration.
pub const ACS_URL: &str = "https://acs.example.net/cwmp";

/// 2025-01-01T00:00:00Z, the simulated device's wall clock at start.
pub const START_UNIX: i64 = 1_735_689_600;

/// A virtual clock.
#[allow(clippy::disallowed_methods)]
pub fn origin() -> Instant {
    Instant::now()
}

/// What the ACS received in one POST.
#[derive(Clone, Debug)]
pub struct Received {
    /// When (seconds since the test's origin).
    pub at: Duration,
    /// The request.
    pub request: HttpRequest,
    /// The decoded envelope, `None` for an empty POST.
    pub envelope: Option<Envelope>,
}

/// The ACS's reply.
#[derive(Clone, Debug)]
pub struct Reply {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl Reply {
    pub fn empty() -> Self {
        Self {
            status: 204,
            headers: Vec::new(),
            body: Vec::new(),
        }
    }

    pub fn status(status: u16) -> Self {
        Self {
            status,
            ..Self::empty()
        }
    }

    pub fn envelope(envelope: &Envelope) -> Self {
        let mut body = Vec::new();
        envelope.encode(&mut body).unwrap();
        Self {
            status: 200,
            headers: vec![("Content-Type".into(), "text/xml; charset=utf-8".into())],
            body,
        }
    }

    pub fn with_header(mut self, name: &str, value: &str) -> Self {
        self.headers.push((name.into(), value.into()));
        self
    }
}

/// What [`ScriptedAcs::on_message`] calls.
pub type OnMessage = Box<dyn FnMut(&Body)>;

/// A scripted ACS: answers Informs (optionally failing some), serves a queue of requests,
/// answers TransferComplete, and records everything.
pub struct ScriptedAcs {
    /// Requests to send in the sessions, in order.
    pub queue: VecDeque<Body>,
    /// Every POST received.
    pub received: Vec<Received>,
    /// Answer this many Informs with HTTP 503.
    pub fail_informs: u32,
    /// Set HoldRequests in the InformResponse.
    pub hold_on_inform: bool,
    /// Keep HoldRequests on every request sent while this many requests remain.
    pub hold_with_requests: bool,
    /// `MaxEnvelopes` of the InformResponse.
    pub max_envelopes: u32,
    /// Require Digest authentication.
    pub digest: Option<DigestServer>,
    /// Redirect the Inform of each session to this URL once.
    pub redirect_to: Option<String>,
    /// Set a session cookie in the InformResponse and require it afterwards.
    pub cookie: bool,
    /// Answer TransferComplete with a fault this many times.
    pub fault_transfer_completes: u32,
    /// How long each answer takes to arrive (the CPE's clock moves on meanwhile).
    pub latency: Duration,
    /// Called with each CPE message (not the Informs) as it arrives, before the answer: what
    /// happens on the device while the session goes on.
    pub on_message: Option<OnMessage>,
    redirected: bool,
    in_hold: bool,
    ids: u32,
}

impl Default for ScriptedAcs {
    fn default() -> Self {
        Self {
            queue: VecDeque::new(),
            received: Vec::new(),
            fail_informs: 0,
            hold_on_inform: false,
            hold_with_requests: false,
            max_envelopes: 1,
            digest: None,
            redirect_to: None,
            cookie: false,
            fault_transfer_completes: 0,
            latency: Duration::ZERO,
            on_message: None,
            redirected: false,
            in_hold: false,
            ids: 0,
        }
    }
}

impl ScriptedAcs {
    pub fn new() -> Self {
        Self::default()
    }

    pub fn with_digest(mut self, user: &str, password: &str) -> Self {
        self.digest = Some(DigestServer::new(DigestConfig::new(user, password), 99));
        self
    }

    /// Queues a request.
    pub fn push(&mut self, body: impl Into<Body>) {
        self.queue.push_back(body.into());
    }

    /// The Informs received.
    pub fn informs(&self) -> Vec<(Duration, cwmp_core::codec::Inform)> {
        self.received
            .iter()
            .filter_map(|r| match r.envelope.as_ref().map(|e| &e.body) {
                Some(Body::Inform(inform)) => Some((r.at, inform.clone())),
                _ => None,
            })
            .collect()
    }

    /// The bodies the CPE sent that are not Informs, in order.
    pub fn cpe_messages(&self) -> Vec<Body> {
        self.received
            .iter()
            .filter_map(|r| r.envelope.as_ref().map(|e| e.body.clone()))
            .filter(|b| !matches!(b, Body::Inform(_)))
            .collect()
    }

    fn next_request(&mut self) -> Reply {
        match self.queue.pop_front() {
            Some(body) => {
                self.ids += 1;
                let mut envelope =
                    Envelope::new(CwmpNamespace::V1_2, body).with_id(format!("acs-{}", self.ids));
                if self.hold_with_requests {
                    envelope.header.hold_requests = Some(true);
                }
                Reply::envelope(&envelope)
            }
            None => Reply::empty(),
        }
    }

    fn handle(&mut self, now: Instant, at: Duration, request: &HttpRequest) -> Reply {
        if let Some(digest) = self.digest.as_mut() {
            let target = request
                .url
                .split_once("://")
                .and_then(|(_, r)| r.find('/').map(|i| r[i..].to_owned()))
                .unwrap_or_else(|| "/".into());
            let verdict = request
                .header("Authorization")
                .map(|a| digest.verify(now, "POST", &target, a));
            if verdict != Some(DigestVerdict::Valid) {
                let mut reply = Reply::status(401);
                for value in digest.challenge(now, verdict == Some(DigestVerdict::Stale)) {
                    reply = reply.with_header("WWW-Authenticate", &value);
                }
                return reply;
            }
        }
        let envelope = (!request.body.is_empty())
            .then(|| Envelope::decode(&request.body, &Limits::default()).expect("CPE envelope"));
        self.received.push(Received {
            at,
            request: request.clone(),
            envelope: envelope.clone(),
        });
        if let (Some(hook), Some(envelope)) = (self.on_message.as_mut(), envelope.as_ref()) {
            if !matches!(envelope.body, Body::Inform(_)) {
                hook(&envelope.body);
            }
        }
        let Some(envelope) = envelope else {
            if self.cookie {
                assert_eq!(
                    request.header("Cookie"),
                    Some("session=s1"),
                    "cookie echoed"
                );
            }
            self.in_hold = false;
            return self.next_request();
        };
        if self.cookie && !matches!(envelope.body, Body::Inform(_)) {
            assert_eq!(
                request.header("Cookie"),
                Some("session=s1"),
                "cookie echoed"
            );
        }
        match &envelope.body {
            Body::Inform(_) => {
                if let (Some(url), false) = (&self.redirect_to, self.redirected) {
                    self.redirected = true;
                    return Reply::status(307).with_header("Location", url);
                }
                self.redirected = false;
                if self.fail_informs > 0 {
                    self.fail_informs -= 1;
                    return Reply::status(503);
                }
                let mut response = Envelope::new(
                    envelope.namespace,
                    Body::InformResponse(InformResponse {
                        max_envelopes: self.max_envelopes,
                    }),
                );
                response.header.id.clone_from(&envelope.header.id);
                if self.hold_on_inform {
                    response.header.hold_requests = Some(true);
                    self.in_hold = true;
                }
                let mut reply = Reply::envelope(&response);
                if self.cookie {
                    reply = reply.with_header("Set-Cookie", "session=s1; Path=/; HttpOnly");
                }
                reply
            }
            Body::TransferComplete(_) => {
                assert!(!self.in_hold, "TransferComplete sent despite HoldRequests");
                if self.fault_transfer_completes > 0 {
                    self.fault_transfer_completes -= 1;
                    let mut fault = Envelope::new(
                        envelope.namespace,
                        Body::Fault(cwmp_core::codec::Fault::cwmp(8005, "Retry request")),
                    );
                    fault.header.id.clone_from(&envelope.header.id);
                    return Reply::envelope(&fault);
                }
                let mut response =
                    Envelope::new(envelope.namespace, Body::TransferCompleteResponse);
                response.header.id.clone_from(&envelope.header.id);
                Reply::envelope(&response)
            }
            Body::DuStateChangeComplete(_) => {
                self.acknowledge(&envelope, Body::DuStateChangeCompleteResponse)
            }
            Body::AutonomousDuStateChangeComplete(_) => {
                self.acknowledge(&envelope, Body::AutonomousDuStateChangeCompleteResponse)
            }
            Body::AutonomousTransferComplete(_) => {
                self.acknowledge(&envelope, Body::AutonomousTransferCompleteResponse)
            }
            Body::RequestDownload(_) => self.acknowledge(&envelope, Body::RequestDownloadResponse),
            _ => self.next_request(),
        }
    }

    /// Answers a CPE request with `response`, echoing its ID.
    fn acknowledge(&mut self, request: &Envelope, response: Body) -> Reply {
        assert!(!self.in_hold, "CPE request sent despite HoldRequests");
        let mut envelope = Envelope::new(request.namespace, response);
        envelope.header.id.clone_from(&request.header.id);
        Reply::envelope(&envelope)
    }
}

/// The CPE side: device, engine, session and the driver loop.
pub struct Cpe {
    pub sim: Arc<SimDevice>,
    pub engine: Engine,
    pub session: Session,
    pub origin: Instant,
    pub now: Instant,
    pub seq: u64,
    /// Every event the session emitted.
    pub events: Vec<Event>,
    /// The last persisted state (saved at each `StateChanged`).
    pub saved: Option<PersistedState>,
    /// Every datagram the session sent (UDP lightweight notifications), with when.
    pub datagrams: Vec<(Duration, Datagram)>,
    /// Every engine request the session handed out, in order.
    pub requests: Vec<EngineRequest>,
    pub steps: usize,
}

/// A SetParameterAttributes entry changing only the notification.
pub fn attribute(name: &str, notification: Notification) -> SetParameterAttributesStruct {
    SetParameterAttributesStruct {
        name: name.into(),
        notification_change: true,
        notification,
        access_list_change: false,
        access_list: Vec::new(),
    }
}

/// The device itself sets `path` to `value`; the session hears of it.
pub async fn device_sets(cpe: &mut Cpe, path: &str, value: &str) {
    let (path, value) = (path.to_owned(), value.to_owned());
    cpe.engine
        .device_update(move |txn| txn.set(&path, &value))
        .await
        .unwrap();
    cpe.sync().await;
}

/// A SetParameterValues of one string parameter.
pub fn spv(name: &str, value: &str, key: &str) -> Body {
    Body::SetParameterValues(SetParameterValues {
        parameter_list: vec![ParameterValue::new(name, value, ValueType::String)],
        parameter_key: key.into(),
    })
}

/// A GetParameterValues of `names`.
pub fn gpv(names: &[&str]) -> Body {
    Body::GetParameterValues(GetParameterValues {
        parameter_names: names.iter().map(|n| (*n).to_owned()).collect(),
    })
}

/// Runs one session with `requests` and returns the CPE's answers to them.
pub async fn session(cpe: &mut Cpe, acs: &mut ScriptedAcs, requests: Vec<Body>) -> Vec<Body> {
    let before = acs.cpe_messages().len();
    for request in requests {
        acs.push(request);
    }
    cpe.session.handle_input(Input::ConnectionRequest).unwrap();
    cpe.run(acs, Duration::from_secs(5)).await;
    acs.cpe_messages()[before..].to_vec()
}

/// The fault code of `body` and its SetParameterValuesFault entries.
pub fn fault_code(body: &Body) -> (u32, Vec<(String, u32)>) {
    let Body::Fault(fault) = body else {
        panic!("expected a fault, got {body:?}");
    };
    let detail = fault.detail.as_ref().unwrap();
    let params = detail
        .set_parameter_values_fault
        .iter()
        .map(|f| (f.parameter_name.clone(), f.fault_code))
        .collect();
    (detail.fault_code, params)
}

/// The name-value pairs of a GetParameterValuesResponse.
pub fn values(body: &Body) -> Vec<(String, String)> {
    let Body::GetParameterValuesResponse(response) = body else {
        panic!("expected GetParameterValuesResponse, got {body:?}");
    };
    response
        .parameter_list
        .iter()
        .map(|p| (p.name.clone(), p.value.clone()))
        .collect()
}

impl Cpe {
    /// A fresh device (factory store) with a session that has no persisted state.
    pub async fn boot(config: SessionConfig) -> Self {
        let sim = SimDevice::new("SIM0001");
        Self::boot_on(sim, config, None, origin()).await
    }

    /// Boots (or reboots) the engine and a session on `sim`, restoring `persisted`.
    pub async fn boot_on(
        sim: Arc<SimDevice>,
        config: SessionConfig,
        persisted: Option<PersistedState>,
        origin: Instant,
    ) -> Self {
        let engine = Engine::new(sim.hal(), Arc::new(AllowAll), EngineConfig::default());
        engine.start().await.unwrap();
        sim.attach(engine.sink());
        let settings = engine.read(ServerSettings::from_store);
        let session = Session::new(config, settings, persisted, origin);
        let mut cpe = Self {
            sim,
            engine,
            session,
            origin,
            now: origin,
            seq: 0,
            events: Vec::new(),
            saved: None,
            datagrams: Vec::new(),
            requests: Vec::new(),
            steps: 0,
        };
        cpe.seq = cpe.engine.last_seq();
        cpe.session
            .handle_input(Input::WallClock(
                DateTime::from_unix_seconds(START_UNIX).unwrap(),
            ))
            .unwrap();
        cpe.sync().await;
        cpe
    }

    /// The power goes and comes back: a new engine and session on the same device, from the
    /// last state the driver saved.
    pub async fn power_cycle(&self) -> Self {
        Self::boot_on(
            self.sim.clone(),
            SessionConfig::default(),
            self.saved.clone(),
            origin(),
        )
        .await
    }

    /// Seconds since the origin.
    pub fn elapsed(&self) -> Duration {
        self.now.saturating_duration_since(self.origin)
    }

    /// Feeds the engine's device inputs, notices and change log to the session.
    pub async fn sync(&mut self) {
        self.engine.handle_device_inputs().await.unwrap();
        while let Some((id, notice)) = self.engine.poll_notice() {
            self.session
                .handle_input(Input::Notice(id, notice))
                .unwrap();
        }
        let changes = self.engine.changes_since(self.seq);
        if let Some(last) = changes.last() {
            self.seq = last.seq;
        }
        if !changes.is_empty() {
            self.session.handle_input(Input::Changes(&changes)).unwrap();
        }
        let settings_changed = changes.iter().any(|c| match &c.change {
            tr181_model::store::Change::ValueChanged { path, .. } => {
                ServerSettings::is_settings_path(path)
            }
            _ => false,
        });
        if settings_changed {
            let settings = self.engine.read(ServerSettings::from_store);
            self.session
                .handle_input(Input::Settings(settings))
                .unwrap();
        }
    }

    /// Runs the drive loop until the session waits beyond `self.now + horizon`.
    pub async fn run(&mut self, acs: &mut ScriptedAcs, horizon: Duration) {
        let until = self.now + horizon;
        loop {
            self.steps += 1;
            assert!(self.steps < STEP_BOUND, "step bound hit: livelock");
            match self.session.poll_output() {
                Output::Transmit(request) => {
                    let reply = acs.handle(self.now, self.elapsed(), &request);
                    if !acs.latency.is_zero() {
                        self.now += acs.latency;
                        self.session.handle_input(Input::Timeout(self.now)).unwrap();
                    }
                    let headers: Vec<(&str, &str)> = reply
                        .headers
                        .iter()
                        .map(|(n, v)| (n.as_str(), v.as_str()))
                        .collect();
                    self.session
                        .handle_input(Input::HttpResponse(HttpResponse::new(
                            reply.status,
                            &headers,
                            &reply.body,
                        )))
                        .unwrap();
                }
                Output::EngineRequest {
                    id,
                    principal,
                    request,
                } => {
                    let result = request.execute(&self.engine, &principal).await;
                    self.requests.push(request);
                    self.session.respond(id, result).unwrap();
                    self.sync().await;
                }
                Output::Event(event) => {
                    if event == Event::StateChanged {
                        // Round-trip through JSON, as a driver writing flash would.
                        let json = serde_json::to_string(&self.session.persisted_state()).unwrap();
                        self.saved = Some(serde_json::from_str(&json).unwrap());
                    }
                    self.events.push(event);
                }
                Output::Datagram(datagram) => self.datagrams.push((self.elapsed(), datagram)),
                Output::Timeout(at) => {
                    if at > until {
                        if self.now >= until {
                            return;
                        }
                        self.now = until;
                        self.session.handle_input(Input::Timeout(until)).unwrap();
                        continue;
                    }
                    let at = at.max(self.now);
                    self.now = at;
                    self.session.handle_input(Input::Timeout(at)).unwrap();
                    self.sync().await;
                }
                other => panic!("unexpected output {other:?}"),
            }
        }
    }

    /// The session-ended events.
    pub fn ends(&self) -> Vec<cwmp_core::session::SessionEnd> {
        self.events
            .iter()
            .filter_map(|e| match e {
                Event::SessionEnded(end) => Some(end.clone()),
                _ => None,
            })
            .collect()
    }
}

/// The event codes of an Inform, as wire strings with command keys.
pub fn codes(inform: &cwmp_core::codec::Inform) -> Vec<String> {
    inform
        .event
        .iter()
        .map(|e| {
            if e.command_key.is_empty() {
                e.event_code.as_str().to_owned()
            } else {
                format!("{}:{}", e.event_code.as_str(), e.command_key)
            }
        })
        .collect()
}

/// The value of parameter `name` in an Inform.
pub fn param<'a>(inform: &'a cwmp_core::codec::Inform, name: &str) -> Option<&'a str> {
    inform
        .parameter_list
        .iter()
        .find(|p| p.name == name)
        .map(|p| p.value.as_str())
}
