//! End to end: a bulk data profile configured by a USP controller over WebSocket sends its
//! reports to a collector (a hyper server on a free loopback port) with the method, headers
//! and Request-URI parameters the profile asks for; a refused report is retained and sent
//! with the next one, a failed attempt is retried with the same body, and
//! `ForceCollection()` reports at once; a collector that demands HTTP Digest authentication
//! gets the profile's credentials; a 307 or 308 answer moves the report, with its body, to
//! the `Location` (credentials only to the collector's origin), a 302 or a redirect loop
//! fails it; with `PersistAcrossReboot`, a refused report survives a power cut and goes out
//! once, with the first report after it; with `HTTP.Compression` the collector gets the
//! same reports gzip'd or zlib-wrapped (`Content-Encoding`), and `Compress`, which the agent
//! does not advertise, is refused. Every wait is bounded.
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

use common::{AgentProcess, Controller, WAIT, add, add_bulk_profile, added_path, set, set_ok};
use cwmp_core::connreq::{DigestConfig, DigestServer, DigestVerdict};

/// A report as the collector received it.
#[derive(Debug)]
struct Received {
    method: String,
    uri: String,
    headers: Vec<(String, String)>,
    /// The body, decoded per its `Content-Encoding`.
    body: String,
    /// The size of the body as sent.
    sent: usize,
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
                    let coding = parts.headers.get("Content-Encoding");
                    let received = Received {
                        method: parts.method.to_string(),
                        uri: parts.uri.to_string(),
                        headers: parts
                            .headers
                            .iter()
                            .map(|(n, v)| (n.to_string(), v.to_str().unwrap().to_owned()))
                            .collect(),
                        body: decoded(coding.map(|v| v.to_str().unwrap()), &body),
                        sent: body.len(),
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

/// `body` decoded per its `Content-Encoding` as a collector does: flate2 checks the gzip
/// trailer (CRC-32 and size) and the zlib one (Adler-32).
fn decoded(coding: Option<&str>, body: &[u8]) -> String {
    use std::io::Read as _;
    let mut text = String::new();
    match coding {
        None => return String::from_utf8(body.to_vec()).unwrap(),
        Some("gzip") => flate2::read::GzDecoder::new(body).read_to_string(&mut text),
        Some("deflate") => flate2::read::ZlibDecoder::new(body).read_to_string(&mut text),
        Some(other) => panic!("Content-Encoding {other}"),
    }
    .unwrap();
    text
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

#[tokio::test(flavor = "current_thread")]
async fn compressed_reports_decode_to_the_same_reports() {
    common::within(Duration::from_secs(90), compression_scenario()).await;
}

async fn compression_scenario() {
    let (url, mut reports) = collector(None).await;
    let state = tempfile::tempdir().unwrap();
    let agent = AgentProcess::start(state.path(), &[]).await;
    let mut ctrl = Controller::connect(&agent.url).await;
    // Three profiles reporting Device.DeviceInfo. (a few KB of JSON) each to its own path:
    // gzip, which keeps one failed report, deflate, and none.
    let mut profiles = Vec::new();
    for (compression, retained) in [("GZIP", "1"), ("Deflate", "0"), ("None", "0")] {
        let profile = add_bulk_profile(
            &mut ctrl,
            &[
                ("Protocol", "HTTP"),
                ("EncodingType", "JSON"),
                ("ReportingInterval", "1"),
                ("NumberOfRetainedFailedReports", retained),
            ],
            &[("Device.DeviceInfo.", "")],
        )
        .await;
        let http = format!("{profile}HTTP.");
        let path = format!("{url}/{compression}");
        set_ok(&mut ctrl, &http, "URL", &path).await;
        set_ok(&mut ctrl, &http, "Compression", compression).await;
        set_ok(&mut ctrl, &profile, "Enable", "true").await;
        profiles.push(profile);
    }

    // The first GZIP report is refused, so that the second carries it.
    let mut got: Vec<Received> = Vec::new();
    let count = |got: &[Received], path: &str| got.iter().filter(|r| r.uri == path).count();
    while count(&got, "/bulk/GZIP") < 2
        || count(&got, "/bulk/Deflate") < 1
        || count(&got, "/bulk/None") < 1
    {
        let (received, answer) = tokio::time::timeout(WAIT, reports.recv())
            .await
            .expect("no report in time")
            .unwrap();
        let first_gzip = received.uri == "/bulk/GZIP" && count(&got, "/bulk/GZIP") == 0;
        let status = if first_gzip { 503 } else { 200 };
        answer.send((status, Vec::new())).unwrap();
        got.push(received);
    }
    let first = |path: &str| got.iter().find(|r| r.uri == path).unwrap();
    let plain = first("/bulk/None");
    assert_eq!(plain.header("Content-Encoding"), None);
    assert_eq!(plain.sent, plain.body.len(), "sent as it is");
    let [expected] = plain.reports().try_into().unwrap();
    assert_eq!(expected["Device"]["DeviceInfo"]["SerialNumber"], "SIM0001");
    // The same report: the same parameters (their values move with time: UpTime, ...).
    let same = |report: &serde_json::Value| {
        assert_eq!(leaves(report), leaves(&expected), "{report}");
        assert_eq!(report["Device"]["DeviceInfo"]["SerialNumber"], "SIM0001");
    };
    for (path, coding) in [("/bulk/GZIP", "gzip"), ("/bulk/Deflate", "deflate")] {
        let coded = first(path);
        assert_eq!(coded.header("Content-Encoding"), Some(coding), "{path}");
        assert_eq!(
            coded.header("Content-Type"),
            Some("application/json; charset=UTF-8")
        );
        let sizes = (coded.sent, coded.body.len());
        assert!(sizes.0 * 2 < sizes.1, "{path}: {sizes:?} bytes");
        let [report] = coded.reports().try_into().unwrap();
        same(&report);
    }
    // The refused GZIP report goes out again inside the next one, compressed with it.
    let refused = first("/bulk/GZIP").reports();
    let next = got.iter().filter(|r| r.uri == "/bulk/GZIP").nth(1).unwrap();
    assert_eq!(next.header("Content-Encoding"), Some("gzip"));
    let both = next.reports();
    assert_eq!(both.len(), 2, "{}", next.body);
    assert_eq!(both[0], refused[0]);
    same(&both[1]);

    // The agent advertises GZIP and Deflate, not Compress: a Set of it is an invalid value.
    let http = format!("{}HTTP.", profiles[0]);
    let supported = format!("{http}CompressionsSupported");
    common::wait_value(&mut ctrl, &supported, "GZIP,Deflate").await;
    let body = ctrl.request(set(&http, "Compression", "Compress")).await;
    assert_eq!(body["Error"]["err_code"], 7012, "{body}");
    let param = &body["Error"]["param_errs"][0];
    assert_eq!(param["param_path"], format!("{http}Compression"), "{body}");
    assert_eq!(param["err_code"], 7012, "{body}");
    let compression = common::value(&mut ctrl, &format!("{http}Compression")).await;
    assert_eq!(compression, "GZIP");

    drop(ctrl);
    agent.stop().await;
}

/// The paths of the values in `json`, `/`-separated.
fn leaves(json: &serde_json::Value) -> Vec<String> {
    match json {
        serde_json::Value::Object(members) => members
            .iter()
            .flat_map(|(name, value)| {
                leaves(value)
                    .into_iter()
                    .map(move |l| format!("{name}/{l}"))
            })
            .collect(),
        _ => vec![String::new()],
    }
}
