//! End to end: the `cpe-agent` binary, started on a temporary state directory with
//! `--acs-url` pointing at a tiny scripted ACS (a hyper server in this test, on a free
//! loopback port).
//!
//! The ACS answers the bootstrap Inform, sends GetParameterValues and SetParameterValues after
//! the CPE's empty POST, checks the responses and ends the session with 204. The test then
//! sends a Digest-authenticated connection request (the Digest response computed here with
//! `md-5`) and checks that a session with `6 CONNECTION REQUEST` follows, and that the value
//! set in the first session is still there. Finally the agent is restarted on the same state
//! directory: the saved `cwmp.json` means no second `0 BOOTSTRAP`. Every wait is bounded.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    // The test bounds its waits on the real clock, as the agent it drives does.
    clippy::disallowed_methods,
    missing_docs
)]

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
    Body, CwmpNamespace, Envelope, GetParameterValues, Inform, InformResponse, Limits,
    ParameterValue, SetParameterValues, Status, ValueType,
};
use http_body_util::{BodyExt as _, Full};
use hyper::body::{Bytes, Incoming};
use hyper::{Request, Response};
use hyper_util::rt::TokioIo;
use md5::{Digest as _, Md5};
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::mpsc;

/// The longest any single wait may take.
const WAIT: Duration = Duration::from_secs(20);
const CR_USER: &str = "cr-user";
const CR_PASS: &str = "cr-pass";

// ---------------------------------------------------------------------------------------------
// The agent process

struct AgentProcess {
    child: Child,
    lines: std_mpsc::Receiver<String>,
    cr_url: String,
}

impl AgentProcess {
    async fn start(state_dir: &Path, acs_url: &str) -> Self {
        let mut child = Command::new(env!("CARGO_BIN_EXE_cpe-agent"))
            .arg("--state-dir")
            .arg(state_dir)
            .args(["--ws-listen", "127.0.0.1:0", "--log", "info"])
            .args(["--acs-url", acs_url, "--cr-port", "0"])
            .args(["--cr-username", CR_USER, "--cr-password", CR_PASS])
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
            cr_url: String::new(),
        };
        let line = agent
            .wait_line("CWMP connection requests accepted on ")
            .await;
        let url = line.split("accepted on ").nth(1).unwrap().trim();
        assert!(url.starts_with("http://127.0.0.1:"), "{line}");
        agent.cr_url = url.to_owned();
        agent.wait_line("CWMP client informing the ACS at ").await;
        agent
    }

    /// Waits (without blocking the runtime, which also runs the ACS) for a log line containing
    /// `needle`.
    async fn wait_line(&mut self, needle: &str) -> String {
        let deadline = std::time::Instant::now() + WAIT;
        loop {
            match self.lines.try_recv() {
                Ok(line) if line.contains(needle) => return line,
                Ok(_) => {}
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

    /// SIGTERM, then a clean exit within the bound.
    async fn stop(mut self) {
        let status = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status()
            .unwrap();
        assert!(status.success());
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
// The scripted ACS

/// The ACS's script and what it saw.
#[derive(Default)]
struct Script {
    /// Requests to send, one per CPE POST after the InformResponse.
    queue: VecDeque<Body>,
    ids: u32,
}

struct Acs {
    url: String,
    script: Arc<Mutex<Script>>,
    /// Each POST's envelope (`None`: an empty POST).
    posts: mpsc::UnboundedReceiver<Option<Envelope>>,
    /// TCP connections accepted.
    connections: Arc<AtomicUsize>,
}

impl Acs {
    async fn start() -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
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

    fn push(&self, body: Body) {
        self.script.lock().unwrap().queue.push_back(body);
    }

    /// The next POST the CPE made.
    async fn next_post(&mut self) -> Option<Envelope> {
        tokio::time::timeout(WAIT, self.posts.recv())
            .await
            .expect("no POST from the CPE in time")
            .unwrap()
    }

    /// The next POST, which must be an Inform.
    async fn next_inform(&mut self) -> Inform {
        match self.next_post().await.map(|e| e.body) {
            Some(Body::Inform(inform)) => inform,
            other => panic!("expected an Inform, got {other:?}"),
        }
    }
}

/// The ACS's answer to one POST.
fn answer(
    script: &Mutex<Script>,
    tx: &mpsc::UnboundedSender<Option<Envelope>>,
    body: &[u8],
) -> Response<Full<Bytes>> {
    let envelope = (!body.is_empty())
        .then(|| Envelope::decode(body, &Limits::default()).expect("CPE envelope"));
    let _ = tx.send(envelope.clone());
    let mut script = script.lock().unwrap();
    let reply = match envelope {
        Some(envelope) if matches!(envelope.body, Body::Inform(_)) => {
            let mut response = Envelope::new(
                envelope.namespace,
                Body::InformResponse(InformResponse { max_envelopes: 1 }),
            );
            response.header.id.clone_from(&envelope.header.id);
            Some(response)
        }
        // An empty POST or the response to the last request: the next request, if any.
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
                hyper::header::HeaderValue::from_static("text/xml; charset=utf-8"),
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

fn gpv(names: &[&str]) -> Body {
    Body::GetParameterValues(GetParameterValues {
        parameter_names: names.iter().map(|n| (*n).to_owned()).collect(),
    })
}

fn spv(name: &str, value: &str, key: &str) -> Body {
    Body::SetParameterValues(SetParameterValues {
        parameter_list: vec![ParameterValue::new(name, value, ValueType::String)],
        parameter_key: key.into(),
    })
}

fn codes(inform: &Inform) -> Vec<String> {
    inform
        .event
        .iter()
        .map(|e| e.event_code.as_str().to_owned())
        .collect()
}

fn param<'a>(list: &'a [ParameterValue], name: &str) -> Option<&'a str> {
    list.iter()
        .find(|p| p.name == name)
        .map(|p| p.value.as_str())
}

// ---------------------------------------------------------------------------------------------
// Connection requests, from the ACS's side

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// RFC 2617 Digest (MD5, qop=auth) for `GET uri`, from the `WWW-Authenticate` `challenge`.
fn digest_authorization(challenge: &str, user: &str, password: &str, uri: &str) -> String {
    let field = |name: &str| {
        let start = challenge.find(&format!("{name}=\"")).unwrap() + name.len() + 2;
        let end = challenge[start..].find('"').unwrap() + start;
        challenge[start..end].to_owned()
    };
    let (realm, nonce) = (field("realm"), field("nonce"));
    let ha1 = hex(&Md5::digest(format!("{user}:{realm}:{password}")));
    let ha2 = hex(&Md5::digest(format!("GET:{uri}")));
    let (nc, cnonce) = ("00000001", "0a4f113b");
    let response = hex(&Md5::digest(format!(
        "{ha1}:{nonce}:{nc}:{cnonce}:auth:{ha2}"
    )));
    format!(
        "Digest username=\"{user}\", realm=\"{realm}\", nonce=\"{nonce}\", uri=\"{uri}\", \
         algorithm=MD5, qop=auth, nc={nc}, cnonce=\"{cnonce}\", response=\"{response}\""
    )
}

/// One `GET` on its own connection: the status and the headers.
async fn http_get(url: &str, authorization: Option<&str>) -> (u16, Vec<(String, String)>) {
    let rest = url.strip_prefix("http://").unwrap();
    let (authority, path) = rest.split_at(rest.find('/').unwrap());
    let mut stream = TcpStream::connect(authority).await.unwrap();
    let mut request = format!("GET {path} HTTP/1.1\r\nHost: {authority}\r\nConnection: close\r\n");
    if let Some(value) = authorization {
        request.push_str(&format!("Authorization: {value}\r\n"));
    }
    request.push_str("\r\n");
    stream.write_all(request.as_bytes()).await.unwrap();
    let mut raw = Vec::new();
    tokio::time::timeout(WAIT, stream.read_to_end(&mut raw))
        .await
        .expect("connection-request answer in time")
        .unwrap();
    let text = String::from_utf8(raw).unwrap();
    let head = text.split("\r\n\r\n").next().unwrap();
    let mut lines = head.split("\r\n");
    let status = lines.next().unwrap().split(' ').nth(1).unwrap();
    let headers = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(n, v)| (n.trim().to_ascii_lowercase(), v.trim().to_owned()))
        .collect();
    (status.parse().unwrap(), headers)
}

// ---------------------------------------------------------------------------------------------
// The scenario

const SSID: &str = "Device.WiFi.SSID.1.SSID";
const CR_URL: &str = "Device.ManagementServer.ConnectionRequestURL";

#[tokio::test(flavor = "current_thread")]
async fn acs_manages_the_agent_and_wakes_it_with_a_connection_request() {
    let dir = tempfile::tempdir().unwrap();
    let mut acs = Acs::start().await;
    acs.push(gpv(&["Device.DeviceInfo.SerialNumber", CR_URL]));
    acs.push(spv(SSID, "FromTheACS", "pk-1"));
    let mut agent = AgentProcess::start(dir.path(), &acs.url).await;

    // Session 1: bootstrap, GetParameterValues, SetParameterValues, 204.
    let inform = acs.next_inform().await;
    let events = codes(&inform);
    assert!(events.contains(&"0 BOOTSTRAP".to_owned()), "{events:?}");
    assert!(events.contains(&"1 BOOT".to_owned()), "{events:?}");
    assert_eq!(inform.device_id.serial_number, "SIM0001");
    assert_eq!(
        param(&inform.parameter_list, CR_URL),
        Some(agent.cr_url.as_str()),
        "the Inform carries the connection-request server's URL"
    );
    assert!(acs.next_post().await.is_none(), "the CPE's empty POST");
    match acs.next_post().await.map(|e| e.body) {
        Some(Body::GetParameterValuesResponse(r)) => {
            assert_eq!(
                param(&r.parameter_list, "Device.DeviceInfo.SerialNumber"),
                Some("SIM0001")
            );
            assert_eq!(
                param(&r.parameter_list, CR_URL),
                Some(agent.cr_url.as_str())
            );
        }
        other => panic!("expected GetParameterValuesResponse, got {other:?}"),
    }
    match acs.next_post().await.map(|e| e.body) {
        Some(Body::SetParameterValuesResponse(r)) => assert_eq!(r.status, Status::Applied),
        other => panic!("expected SetParameterValuesResponse, got {other:?}"),
    }
    agent.wait_line("CWMP session ended").await;
    assert_eq!(
        acs.connections.load(Ordering::SeqCst),
        1,
        "one kept-alive connection for the whole session"
    );
    let saved: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(dir.path().join("cwmp.json")).unwrap())
            .unwrap();
    assert_eq!(saved["bootstrapped"], true, "{saved}");
    assert_eq!(saved["events"], serde_json::json!([]), "{saved}");

    // A connection request: challenged, a wrong password refused, the right one accepted.
    let (status, headers) = http_get(&agent.cr_url, None).await;
    assert_eq!(status, 401);
    let challenge = headers
        .iter()
        .filter(|(n, _)| n == "www-authenticate")
        .map(|(_, v)| v.clone())
        .find(|v| v.contains("algorithm=MD5"))
        .expect("an MD5 Digest challenge");
    let path = agent.cr_url.split("127.0.0.1:").nth(1).unwrap();
    let path = &path[path.find('/').unwrap()..];
    let wrong = digest_authorization(&challenge, CR_USER, "guess", path);
    assert_eq!(http_get(&agent.cr_url, Some(&wrong)).await.0, 401);
    let (status, headers) = http_get(&agent.cr_url, None).await;
    assert_eq!(status, 401);
    let challenge = headers
        .iter()
        .filter(|(n, _)| n == "www-authenticate")
        .map(|(_, v)| v.clone())
        .find(|v| v.contains("algorithm=MD5"))
        .unwrap();
    acs.push(gpv(&[SSID]));
    let good = digest_authorization(&challenge, CR_USER, CR_PASS, path);
    assert_eq!(http_get(&agent.cr_url, Some(&good)).await.0, 200);

    // Session 2: 6 CONNECTION REQUEST, and the value set in session 1 is there.
    let inform = acs.next_inform().await;
    let events = codes(&inform);
    assert!(
        events.contains(&"6 CONNECTION REQUEST".to_owned()),
        "{events:?}"
    );
    assert!(!events.contains(&"0 BOOTSTRAP".to_owned()), "{events:?}");
    assert!(acs.next_post().await.is_none(), "the CPE's empty POST");
    match acs.next_post().await.map(|e| e.body) {
        Some(Body::GetParameterValuesResponse(r)) => {
            assert_eq!(param(&r.parameter_list, SSID), Some("FromTheACS"));
        }
        other => panic!("expected GetParameterValuesResponse, got {other:?}"),
    }
    agent.wait_line("CWMP session ended").await;
    assert_eq!(acs.connections.load(Ordering::SeqCst), 2);
    agent.stop().await;

    // A restart on the same state: 1 BOOT, but no second bootstrap (cwmp.json was loaded).
    let mut agent = AgentProcess::start(dir.path(), &acs.url).await;
    let inform = acs.next_inform().await;
    let events = codes(&inform);
    assert!(events.contains(&"1 BOOT".to_owned()), "{events:?}");
    assert!(!events.contains(&"0 BOOTSTRAP".to_owned()), "{events:?}");
    assert!(acs.next_post().await.is_none(), "the CPE's empty POST");
    agent.wait_line("CWMP session ended").await;
    agent.stop().await;
}
