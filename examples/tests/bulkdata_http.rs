//! End to end: a bulk data profile configured by a USP controller over WebSocket sends its
//! reports to a collector (a hyper server on a free loopback port) with the method, headers
//! and Request-URI parameters the profile asks for; a refused report is retained and sent
//! with the next one, a failed attempt is retried with the same body, and
//! `ForceCollection()` reports at once; a collector that demands HTTP Digest authentication
//! gets the profile's credentials; a 307 or 308 answer moves the report, with its body, to
//! the `Location` (credentials only to the collector's origin), a 302 or a redirect loop
//! fails it; with `PersistAcrossReboot`, a refused report survives a power cut and goes out
//! once, with the first report after it. Every wait is bounded.
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

use std::convert::Infallible;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use http_body_util::{BodyExt as _, Full};
use hyper::body::{Bytes, Incoming};
use hyper::{Request, Response};
use hyper_util::rt::TokioIo;
use tokio::net::TcpListener;
use tokio::sync::{mpsc, oneshot};

use common::{AgentProcess, Controller, WAIT, add, add_bulk_profile, added_path, set_ok};
use cwmp_core::connreq::{DigestConfig, DigestServer, DigestVerdict};

/// A report as the collector received it.
#[derive(Debug)]
struct Received {
    method: String,
    uri: String,
    headers: Vec<(String, String)>,
    body: String,
}

impl Received {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    fn reports(&self) -> Vec<serde_json::Value> {
        let json: serde_json::Value = serde_json::from_str(&self.body).unwrap();
        json["Report"].as_array().unwrap().clone()
    }
}

/// A received report and the status and header fields to answer it with.
type Exchange = (Received, oneshot::Sender<(u16, Vec<(String, String)>)>);

/// The collector: hands each request to the test, which picks the status of the answer.
/// With `digest`, it first demands HTTP Digest authentication: a request without valid
/// credentials is answered 401 with a challenge and not handed on.
async fn collector(digest: Option<DigestConfig>) -> (String, mpsc::UnboundedReceiver<Exchange>) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/bulk", listener.local_addr().unwrap());
    let (tx, rx) = mpsc::unbounded_channel();
    let digest = digest.map(|config| Arc::new(Mutex::new(DigestServer::new(config, 7))));
    tokio::spawn(async move {
        loop {
            let Ok((stream, _)) = listener.accept().await else {
                return;
            };
            let tx = tx.clone();
            let digest = digest.clone();
            let service = hyper::service::service_fn(move |request: Request<Incoming>| {
                let tx = tx.clone();
                let digest = digest.clone();
                async move {
                    let (parts, body) = request.into_parts();
                    let body = body.collect().await.unwrap().to_bytes();
                    if let Some(server) = digest {
                        let mut server = server.lock().unwrap();
                        let authorization = parts
                            .headers
                            .get("Authorization")
                            .map_or("", |v| v.to_str().unwrap());
                        let target = parts.uri.path_and_query().unwrap().as_str();
                        let now = Instant::now();
                        let verdict =
                            server.verify(now, parts.method.as_str(), target, authorization);
                        if verdict != DigestVerdict::Valid {
                            let mut response = Response::builder().status(401);
                            for challenge in server.challenge(now, false) {
                                response = response.header("WWW-Authenticate", challenge);
                            }
                            return Ok(response.body(Full::new(Bytes::new())).unwrap());
                        }
                    }
                    let received = Received {
                        method: parts.method.to_string(),
                        uri: parts.uri.to_string(),
                        headers: parts
                            .headers
                            .iter()
                            .map(|(n, v)| (n.to_string(), v.to_str().unwrap().to_owned()))
                            .collect(),
                        body: String::from_utf8(body.to_vec()).unwrap(),
                    };
                    let (answer, status) = oneshot::channel();
                    let _ = tx.send((received, answer));
                    let (status, fields) = status.await.unwrap_or((500, Vec::new()));
                    let mut response = Response::builder().status(status);
                    for (name, value) in fields {
                        response = response.header(name, value);
                    }
                    let response = response.body(Full::new(Bytes::new())).unwrap();
                    Ok::<_, Infallible>(response)
                }
            });
            tokio::spawn(
                hyper::server::conn::http1::Builder::new()
                    .serve_connection(TokioIo::new(stream), service),
            );
        }
    });
    (url, rx)
}

/// Waits, bounded, until `done` holds.
async fn wait_until(done: impl Fn() -> bool) {
    let deadline = Instant::now() + WAIT;
    while !done() {
        assert!(Instant::now() < deadline, "not in time");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// The next report, answered with `status`.
async fn next(reports: &mut mpsc::UnboundedReceiver<Exchange>, status: u16) -> Received {
    answered(reports, status, None).await
}

/// The next report, answered with `status` and, if given, the header field `(name, value)`.
async fn answered(
    reports: &mut mpsc::UnboundedReceiver<Exchange>,
    status: u16,
    field: Option<(&str, &str)>,
) -> Received {
    let (received, answer) = tokio::time::timeout(WAIT, reports.recv())
        .await
        .expect("no report in time")
        .unwrap();
    let fields = field.map(|(name, value)| (name.to_owned(), value.to_owned()));
    answer.send((status, fields.into_iter().collect())).unwrap();
    received
}

/// Adds and enables a profile reporting the serial number every 2 s to `url` in JSON
/// `NameValuePair`, retaining `retained` failed reports, with the `HTTP.` parameters `http`.
async fn serial_profile(ctrl: &mut Controller, retained: &str, url: &str, http: &[(&str, &str)]) {
    let profile = add_bulk_profile(
        ctrl,
        &[
            ("Protocol", "HTTP"),
            ("EncodingType", "JSON"),
            ("ReportingInterval", "2"),
            ("NumberOfRetainedFailedReports", retained),
        ],
        &[("Device.DeviceInfo.SerialNumber", "")],
    )
    .await;
    let object = format!("{profile}HTTP.");
    set_ok(ctrl, &object, "URL", url).await;
    for (name, value) in http {
        set_ok(ctrl, &object, name, value).await;
    }
    let json = format!("{profile}JSONEncoding.");
    set_ok(ctrl, &json, "ReportFormat", "NameValuePair").await;
    set_ok(ctrl, &profile, "Enable", "true").await;
}

#[tokio::test(flavor = "current_thread")]
async fn reports_reach_the_collector_retained_and_retried() {
    common::within(Duration::from_secs(120), scenario()).await;
}

async fn scenario() {
    let (url, mut reports) = collector(None).await;
    let state = tempfile::tempdir().unwrap();
    let agent = AgentProcess::start(state.path(), &[]).await;
    let mut ctrl = Controller::connect(&agent.url).await;

    let profile = add_bulk_profile(
        &mut ctrl,
        &[
            ("Protocol", "HTTP"),
            ("EncodingType", "JSON"),
            ("ReportingInterval", "2"),
            ("NumberOfRetainedFailedReports", "3"),
        ],
        &[
            ("Device.DeviceInfo.SerialNumber", ""),
            ("Device.Ethernet.Interface.*.Name", "Eth"),
        ],
    )
    .await;
    let body = ctrl
        .request(add(
            &format!("{profile}HTTP.RequestURIParameter."),
            &[
                ("Name", "sn"),
                ("Reference", "Device.DeviceInfo.SerialNumber"),
            ],
        ))
        .await;
    added_path(&body);
    let http = format!("{profile}HTTP.");
    set_ok(&mut ctrl, &http, "URL", &url).await;
    set_ok(&mut ctrl, &http, "Method", "PUT").await;
    let json = format!("{profile}JSONEncoding.");
    set_ok(&mut ctrl, &json, "ReportFormat", "NameValuePair").await;
    set_ok(&mut ctrl, &profile, "Enable", "true").await;
    assert_eq!(
        common::value(&mut ctrl, &format!("{http}MethodsSupported")).await,
        "POST,PUT",
        "filled in by the agent"
    );

    // The first report: refused, and kept as retries are off.
    let first = next(&mut reports, 503).await;
    assert_eq!(first.method, "PUT");
    assert_eq!(first.uri, "/bulk?sn=SIM0001");
    assert_eq!(
        first.header("Content-Type"),
        Some("application/json; charset=UTF-8")
    );
    assert_eq!(first.header("BBF-Report-Format"), Some("NameValuePair"));
    let date = first
        .header("Date")
        .expect("UseDateHeader is true by default");
    assert!(date.ends_with(" GMT"), "{date}");
    let [report] = first.reports().try_into().unwrap();
    assert_eq!(report["Device.DeviceInfo.SerialNumber"], "SIM0001");
    assert_eq!(report["Eth.1.Name"], "eth0");
    assert!(report["CollectionTime"].as_i64().unwrap() > 1_600_000_000_000);

    // The next one carries the retained report first.
    let second = next(&mut reports, 200).await;
    let both = second.reports();
    assert_eq!(both.len(), 2, "{}", second.body);
    assert_eq!(both[0], report);
    assert!(both[1]["CollectionTime"].as_i64() > report["CollectionTime"].as_i64());

    // With retries on, a failed attempt is sent again, unchanged, a second later; a new
    // interval starts at once when the interval changes.
    set_ok(&mut ctrl, &http, "RetryMinimumWaitInterval", "1").await;
    set_ok(&mut ctrl, &http, "RetryIntervalMultiplier", "1000").await;
    set_ok(&mut ctrl, &http, "RetryEnable", "true").await;
    set_ok(&mut ctrl, &profile, "ReportingInterval", "6").await;
    let failed = next(&mut reports, 500).await;
    let retried = next(&mut reports, 200).await;
    assert_eq!(failed.reports().len(), 1, "{}", failed.body);
    assert_eq!(retried.body, failed.body, "the same report, retried");

    // ForceCollection() reports at once, also for a disabled profile.
    set_ok(&mut ctrl, &profile, "Enable", "false").await;
    common::force_collection(&mut ctrl, &profile).await;
    let forced = next(&mut reports, 200).await;
    assert_eq!(forced.reports().len(), 1, "{}", forced.body);

    drop(ctrl);
    agent.stop().await;
}

#[tokio::test(flavor = "current_thread")]
async fn a_collector_demanding_digest_gets_the_profile_credentials() {
    common::within(Duration::from_secs(60), digest_scenario()).await;
}

async fn digest_scenario() {
    let (url, mut reports) = collector(Some(DigestConfig::new("cpe", "s3cret"))).await;
    let state = tempfile::tempdir().unwrap();
    let agent = AgentProcess::start(state.path(), &[]).await;
    let mut ctrl = Controller::connect(&agent.url).await;
    let profile = add_bulk_profile(
        &mut ctrl,
        &[
            ("Protocol", "HTTP"),
            ("EncodingType", "JSON"),
            ("ReportingInterval", "1"),
        ],
        &[("Device.DeviceInfo.SerialNumber", "")],
    )
    .await;
    let http = format!("{profile}HTTP.");
    set_ok(&mut ctrl, &http, "URL", &format!("{url}?zone=1")).await;
    set_ok(&mut ctrl, &http, "Method", "PUT").await;
    set_ok(&mut ctrl, &http, "Username", "cpe").await;
    set_ok(&mut ctrl, &http, "Password", "s3cret").await;
    set_ok(&mut ctrl, &profile, "Enable", "true").await;

    // Only a request with valid Digest credentials (method, URI with its query, SHA-256
    // picked over MD5) gets through the collector.
    let report = next(&mut reports, 200).await;
    assert_eq!(report.method, "PUT");
    let authorization = report.header("Authorization").unwrap();
    assert!(authorization.starts_with("Digest "), "{authorization}");
    assert!(
        authorization.contains("algorithm=SHA-256"),
        "{authorization}"
    );
    assert!(
        authorization.contains(r#"uri="/bulk?zone=1""#),
        "{authorization}"
    );
    let [one] = report.reports().try_into().unwrap();
    assert_eq!(one["Device"]["DeviceInfo"]["SerialNumber"], "SIM0001");

    drop(ctrl);
    agent.stop().await;
}

#[tokio::test(flavor = "current_thread")]
async fn redirects_move_the_report_within_bounds() {
    common::within(Duration::from_secs(90), redirect_scenario()).await;
}

async fn redirect_scenario() {
    let (url, mut reports) = collector(Some(DigestConfig::new("cpe", "s3cret"))).await;
    // Another origin (another port), which the profile's credentials must not reach.
    let (elsewhere, mut moved) = collector(None).await;
    let state = tempfile::tempdir().unwrap();
    let agent = AgentProcess::start(state.path(), &[]).await;
    let mut ctrl = Controller::connect(&agent.url).await;
    let credentials = [("Username", "cpe"), ("Password", "s3cret")];
    serial_profile(&mut ctrl, "5", &url, &credentials).await;

    // A 307 with a relative Location: the same method and body to the URL it resolves to,
    // with the credentials (the same origin; the collector checks them for the new URI).
    let first = answered(&mut reports, 307, Some(("Location", "moved?x=1"))).await;
    assert_eq!(first.uri, "/bulk");
    let again = next(&mut reports, 200).await;
    assert_eq!(
        (again.method.as_str(), again.uri.as_str()),
        ("POST", "/moved?x=1")
    );
    assert_eq!(again.body, first.body, "the same report");
    assert_eq!(again.reports().len(), 1, "{}", again.body);

    // A 308 to another origin: the same report there, without credentials; its 401 fails
    // the attempt (the challenge is not answered) and the report is retained.
    let location = format!("{elsewhere}/in");
    let second = answered(&mut reports, 308, Some(("Location", &location))).await;
    let challenge = r#"Digest realm="other", nonce="abc", qop="auth", algorithm=MD5"#;
    let there = answered(&mut moved, 401, Some(("WWW-Authenticate", challenge))).await;
    assert_eq!(
        (there.method.as_str(), there.uri.as_str()),
        ("POST", "/bulk/in")
    );
    assert_eq!(there.body, second.body);
    assert_eq!(
        there.header("Authorization"),
        None,
        "no credentials to another origin"
    );

    // A 302 fails the attempt: nothing follows it (no GET), the next report carries the
    // retained ones.
    let third = answered(&mut reports, 302, Some(("Location", "/moved"))).await;
    assert_eq!(third.reports().len(), 2, "{}", third.body);
    let fourth = next(&mut reports, 200).await;
    assert_eq!(
        (fourth.method.as_str(), fourth.uri.as_str()),
        ("POST", "/bulk")
    );
    assert_eq!(fourth.reports().len(), 3, "{}", fourth.body);
    assert!(
        moved.try_recv().is_err(),
        "nothing more went to the other origin"
    );

    // A redirect loop is followed five times, then the attempt fails.
    let looped = answered(&mut reports, 307, Some(("Location", "/loop"))).await;
    assert_eq!(looped.reports().len(), 1, "{}", looped.body);
    for _ in 0..5 {
        let hop = answered(&mut reports, 307, Some(("Location", "/loop"))).await;
        assert_eq!((hop.uri.as_str(), &hop.body), ("/loop", &looped.body));
    }
    let after = next(&mut reports, 200).await;
    assert_eq!(after.uri, "/bulk", "the next report, not a sixth redirect");
    assert_eq!(after.reports().len(), 2, "{}", after.body);

    drop(ctrl);
    agent.stop().await;
}

#[tokio::test(flavor = "current_thread")]
async fn a_persisted_report_survives_a_power_cut() {
    common::within(Duration::from_secs(90), persist_scenario()).await;
}

async fn persist_scenario() {
    let (url, mut reports) = collector(None).await;
    let state = tempfile::tempdir().unwrap();
    let saved = state.path().join("device/bulkdata");
    let agent = AgentProcess::start(state.path(), &[]).await;
    let mut ctrl = Controller::connect(&agent.url).await;
    serial_profile(&mut ctrl, "2", &url, &[("PersistAcrossReboot", "true")]).await;

    // Refused, retained, saved; then the power goes.
    let [refused] = next(&mut reports, 503).await.reports().try_into().unwrap();
    wait_until(|| saved.exists()).await;
    drop(ctrl);
    agent.kill();

    // After the restart the refused report goes first in the next one, and once only: the
    // flash forgets it once delivered.
    let agent = AgentProcess::start(state.path(), &[]).await;
    let after = next(&mut reports, 200).await;
    let both = after.reports();
    assert_eq!(both.len(), 2, "{}", after.body);
    assert_eq!(both[0], refused);
    assert_eq!(both[1]["Device.DeviceInfo.SerialNumber"], "SIM0001");
    assert!(both[1]["CollectionTime"].as_i64() > refused["CollectionTime"].as_i64());
    wait_until(|| !saved.exists()).await;
    let alone = next(&mut reports, 200).await;
    assert_eq!(alone.reports().len(), 1, "{}", alone.body);
    agent.stop().await;
}
