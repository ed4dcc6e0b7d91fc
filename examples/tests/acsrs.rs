//! Interop: the `cpe-agent` binary against the real third-party ACS acsrs
//! (`../shared/peers/ACSRS.md`; GPL, so it is only run as a program, never linked).
//!
//! acsrs comes from `.ci/peers` (`$CPE_PEERS_DIR/bin/acsrs`, default
//! `~/.cache/cpe-mgmt-peers/bin/acsrs`); without it these tests fail and say so. Each test
//! writes acsrs's configuration in a temporary `HOME` (free loopback ports, its own CA and
//! server certificate made with the `openssl` command, [`common::tls`]), starts it, and starts the agent
//! against it. Everything after the bootstrap session goes through acsrs's management API,
//! on one kept-alive connection (acsrs keeps the CWMP session open while that connection
//! lives): GetParameterValues (which makes acsrs send a Digest connection request, signed
//! for the uri `/`, so the agent serves its connection requests on `/`), a Fault,
//! SetParameterValues (read back over USP, from the device itself), a GetParameterValues
//! of an instance wildcard, AddObject,
//! DeleteObject and GetParameterNames. A second management connection needs a second
//! connection request, in which acsrs sets a heartbeat policy (Annex O): the heartbeat falls
//! due during that session and its own session, `14 HEARTBEAT` alone, follows. The TLS test runs the bootstrap and a connection-request session
//! over `https://` (HTTP Basic towards the ACS, as TR-069 allows over TLS only) and checks
//! that an agent trusting another CA refuses the server.
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

use std::io::{BufRead as _, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc as std_mpsc;
use std::time::{Duration, Instant};

use http_body_util::{BodyExt as _, Full};
use hyper::body::Bytes;
use hyper::client::conn::http1::SendRequest;
use hyper_util::rt::TokioIo;
use serde_json::{Value, json};
use tokio::net::TcpStream;
use tr181_model::value::DateTime;

use common::tls::{make_certificates, openssl};
use common::{AgentProcess, Controller, WAIT, free_port, get, get_params};

/// The serial number of the simulated device, acsrs's key for it.
const SN: &str = "SIM0001";
const ACS_USER: &str = "acs";
const ACS_PASS: &str = "acs-pass";
/// How long one management API call may block (acsrs itself gives up after 60 s).
const API_WAIT: Duration = Duration::from_secs(30);

// ---------------------------------------------------------------------------------------------
// acsrs

/// The acsrs binary installed by `.ci/peers`.
fn acsrs_binary() -> PathBuf {
    let peers = std::env::var_os("CPE_PEERS_DIR").map_or_else(
        || {
            let home = std::env::var_os("HOME").expect("HOME is set");
            Path::new(&home).join(".cache/cpe-mgmt-peers")
        },
        PathBuf::from,
    );
    let binary = peers.join("bin/acsrs");
    assert!(
        binary.is_file(),
        "acsrs is not installed at {}: run `.ci/peers` first (it installs the test peers)",
        binary.display()
    );
    binary
}

/// Writes acsrs's `identity.p12` (the server key and certificate of [`make_certificates`])
/// into `dir`.
fn make_identity(dir: &Path) {
    openssl(
        dir,
        &[
            "pkcs12",
            "-export",
            "-inkey",
            "key.pem",
            "-in",
            "cert.pem",
            "-certfile",
            "ca.pem",
            "-out",
            "identity.p12",
            "-passout",
            "pass:ACSRS",
        ],
    );
}

/// acsrs, running with its configuration in a temporary `HOME`.
struct Acsrs {
    child: Child,
    lines: std_mpsc::Receiver<String>,
    /// Its `HOME`; acsrs's files are in `.acsrs/`.
    home: tempfile::TempDir,
    /// The plain-HTTP ACS URL.
    url: String,
    /// The HTTPS ACS URL.
    secure_url: String,
    /// The management API address.
    management: String,
}

impl Acsrs {
    /// Configures acsrs (before its first start, as it must be) and starts it.
    async fn start() -> Self {
        let binary = acsrs_binary();
        let home = tempfile::tempdir().unwrap();
        let dir = home.path().join(".acsrs");
        std::fs::create_dir_all(&dir).unwrap();
        // acsrs's own certificates (autocert) are X.509 v1 without subjectAltName, which
        // rustls (rightly) refuses; it loads identity.p12 from its directory either way.
        make_certificates(&dir, "", true);
        make_identity(&dir);
        let (plain, secure, management) = (free_port(), free_port(), free_port());
        std::fs::write(
            dir.join("config.toml"),
            format!(
                "cpe = []\n\n[config]\nhostname = \"127.0.0.1\"\nusername = \"{ACS_USER}\"\n\
                 password = \"{ACS_PASS}\"\nautocert = false\nidentity_password = \"ACSRS\"\n\
                 secure_address = \"127.0.0.1:{secure}\"\n\
                 unsecure_address = \"127.0.0.1:{plain}\"\n\
                 management_address = \"127.0.0.1:{management}\"\nnoauth = false\n"
            ),
        )
        .unwrap();
        let mut child = Command::new(binary)
            .arg("-v")
            .env("HOME", home.path())
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("start acsrs");
        let stderr = child.stderr.take().unwrap();
        let (tx, lines) = std_mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines() {
                let Ok(line) = line else { break };
                println!("acsrs| {line}");
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        let mut acs = Self {
            child,
            lines,
            home,
            url: format!("http://127.0.0.1:{plain}/cwmpWeb/CPEMgt"),
            secure_url: format!("https://127.0.0.1:{secure}/cwmpWeb/CPEMgt"),
            management: format!("127.0.0.1:{management}"),
        };
        acs.wait_line("Management server listening on").await;
        acs
    }

    /// acsrs's directory.
    fn dir(&self) -> PathBuf {
        self.home.path().join(".acsrs")
    }

    /// Waits for a log line containing `needle`; earlier lines are skipped.
    async fn wait_line(&mut self, needle: &str) -> String {
        let deadline = Instant::now() + WAIT;
        loop {
            match self.lines.try_recv() {
                Ok(line) if line.contains(needle) => return line,
                Ok(_) => {}
                Err(std_mpsc::TryRecvError::Empty) => {
                    if let Some(status) = self.child.try_wait().unwrap() {
                        panic!("acsrs exited ({status}) before logging {needle:?}");
                    }
                    assert!(Instant::now() < deadline, "acsrs never logged {needle:?}");
                    tokio::time::sleep(Duration::from_millis(20)).await;
                }
                Err(error) => panic!("acsrs never logged {needle:?}: {error}"),
            }
        }
    }
}

impl Drop for Acsrs {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A client of acsrs's management API on one kept-alive connection.
struct Api {
    sender: SendRequest<Full<Bytes>>,
}

impl Api {
    async fn connect(addr: &str) -> Self {
        let stream = TcpStream::connect(addr).await.unwrap();
        let (sender, connection) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
            .await
            .unwrap();
        tokio::spawn(connection);
        Self { sender }
    }

    /// One API call: its HTTP status and JSON answer. The call blocks in acsrs until the
    /// CPE has answered (after a connection request when no session is open).
    async fn call(&mut self, request: Value) -> (u16, Value) {
        self.sender.ready().await.unwrap();
        let http = hyper::Request::post("/api")
            .header(hyper::header::HOST, "acsrs")
            .body(Full::new(Bytes::from(request.to_string())))
            .unwrap();
        let exchange = async {
            let response = self.sender.send_request(http).await.unwrap();
            let status = response.status().as_u16();
            let body = response.into_body().collect().await.unwrap().to_bytes();
            (status, serde_json::from_slice(&body).unwrap())
        };
        tokio::time::timeout(API_WAIT, exchange)
            .await
            .unwrap_or_else(|_| panic!("acsrs did not answer {request} in time"))
    }

    /// A command for the simulated device that must succeed (HTTP 200).
    async fn command(&mut self, command: Value) -> Value {
        let (status, answer) = self
            .call(json!({"serial_number": SN, "command": command}))
            .await;
        assert_eq!(status, 200, "{command} -> {answer}");
        answer
    }

    /// GetParameterValues of `names`: name → value.
    async fn values(&mut self, names: &[&str]) -> Vec<(String, String)> {
        let names: Vec<Value> = names.iter().map(|n| json!({"name": n})).collect();
        let answer = self.command(json!({"GetParameterValues": names})).await;
        answer["GetParameterValues"]
            .as_array()
            .unwrap_or_else(|| panic!("{answer}"))
            .iter()
            .map(|p| {
                let text = |key: &str| p[key].as_str().unwrap().to_owned();
                (text("name"), text("value"))
            })
            .collect()
    }
}

/// The agent informing acsrs at `url`, with its connection requests on a free port at `/`.
async fn start_agent(state_dir: &Path, url: &str, extra: &[&str]) -> AgentProcess {
    let mut args = vec![
        "--acs-url",
        url,
        "--acs-username",
        ACS_USER,
        "--acs-password",
        ACS_PASS,
        "--cr-port",
        "0",
        // acsrs signs its Digest connection requests for the uri "/" whatever the URL.
        "--cr-path",
        "/",
    ];
    args.extend(extra);
    AgentProcess::start(state_dir, &args).await
}

/// Waits for acsrs's log of the bootstrap Inform, its own SetParameterValues of the
/// connection-request credentials, and the end of that session; returns acsrs's record of
/// the device (`List`).
async fn bootstrap(acs: &mut Acsrs, agent: &mut AgentProcess, api: &mut Api) -> Value {
    acs.wait_line(&format!("[SN:{SN}]")).await;
    acs.wait_line("Event: 0 BOOTSTRAP").await;
    acs.wait_line("Received: SPV Response = 0").await;
    agent.wait_line("CWMP session ended").await;
    let (status, list) = api.call(json!({"command": "List"})).await;
    assert_eq!(status, 200, "{list}");
    let cpe = list["List"]
        .as_array()
        .unwrap()
        .iter()
        .find(|cpe| cpe["sn"] == SN)
        .unwrap_or_else(|| panic!("acsrs did not store {SN}: {list}"))
        .clone();
    assert_eq!(cpe["url"], agent.cr_url.as_str(), "{cpe}");
    let saved = std::fs::read_to_string(acs.dir().join("config.toml")).unwrap();
    assert!(
        saved.contains(&format!("serial_number = \"{SN}\"")),
        "{saved}"
    );
    cpe
}

/// The agent logs an accepted connection request and a session for it.
async fn connection_request_session(acs: &mut Acsrs, agent: &mut AgentProcess) {
    acs.wait_line("ConnectionRequest was acknowledged").await;
    agent.wait_line("CWMP connection request accepted").await;
    let line = agent.wait_line("CWMP session started").await;
    assert!(line.contains("6 CONNECTION REQUEST"), "{line}");
}

// ---------------------------------------------------------------------------------------------
// The tests

#[tokio::test(flavor = "current_thread")]
async fn acsrs_manages_the_agent_over_http() {
    let started = Instant::now();
    let mut acs = Acsrs::start().await;
    let state = tempfile::tempdir().unwrap();
    // acsrs authenticates CPEs with HTTP Basic only: allowed here on loopback by a flag.
    let mut agent = start_agent(state.path(), &acs.url, &["--acs-basic-over-http"]).await;
    let mut api = Api::connect(&acs.management).await;
    let cpe = bootstrap(&mut acs, &mut agent, &mut api).await;
    let cr_user = cpe["username"].as_str().unwrap();

    // GetParameterValues: no session is open, so acsrs sends a connection request first.
    const SERIAL: &str = "Device.DeviceInfo.SerialNumber";
    const CR_USER: &str = "Device.ManagementServer.ConnectionRequestUsername";
    let values = api.values(&[SERIAL, CR_USER]).await;
    assert_eq!(
        values,
        [(SERIAL.into(), SN.into()), (CR_USER.into(), cr_user.into())],
        "acsrs's SetParameterValues of the credentials reached the device"
    );
    connection_request_session(&mut acs, &mut agent).await;

    // A fault travels back: acsrs parses our SOAP Fault.
    let (status, answer) = api
        .call(json!({"serial_number": SN, "command":
            {"GetParameterValues": [{"name": "Device.NoSuchThing"}]}}))
        .await;
    assert_eq!(status, 400, "{answer}");
    let description = answer["Error"]["description"].as_str().unwrap();
    assert!(description.starts_with("9005 - "), "{answer}");

    // SetParameterValues (acsrs first reads the type with a GetParameterValues): the device
    // has the value, as USP sees it.
    const SSID: &str = "Device.WiFi.SSID.1.SSID";
    let answer = api
        .command(json!({"SetParameterValues":
            [{"type": "", "name": SSID, "value": "set-by-acsrs"}]}))
        .await;
    assert_eq!(answer, json!({"SetParameterValues": true}));
    assert_eq!(
        api.values(&[SSID]).await,
        [(SSID.into(), "set-by-acsrs".into())]
    );
    // An instance wildcard (TR-069 Amendment 6) reads the column of every row at once.
    let column = api.values(&["Device.WiFi.SSID.*.SSID"]).await;
    assert_eq!(column.len(), 2, "{column:?}");
    assert_eq!(column[0], (SSID.into(), "set-by-acsrs".into()));
    assert_eq!(column[1].0, "Device.WiFi.SSID.2.SSID");
    let mut usp = Controller::connect(&agent.url).await;
    let body = usp.request(get(&[SSID])).await;
    assert_eq!(get_params(&body)["SSID"], "set-by-acsrs", "{body}");

    // AddObject, then DeleteObject, of a NAT port mapping; the rows as USP sees them.
    let answer = api
        .command(json!({"AddObject": {"object_name": "Device.NAT.PortMapping."}}))
        .await;
    // acsrs reports `status: Status == 1`; 0 means the row was created at once.
    assert_eq!(answer["AddObject"]["status"], false, "{answer}");
    let instance = answer["AddObject"]["instance_number"].as_u64().unwrap();
    assert!(instance >= 1, "{answer}");
    let row = format!("Device.NAT.PortMapping.{instance}.");
    let body = usp.request(get(&[&format!("{row}Enable")])).await;
    assert!(
        get_params(&body)["Enable"].is_string(),
        "the row exists: {body}"
    );
    let answer = api
        .command(json!({"DeleteObject": {"object_name": row}}))
        .await;
    assert_eq!(answer, json!({"DeleteObject": {"status": false}}));
    let body = usp.request(get(&[&format!("{row}Enable")])).await;
    let result = &body["Response"]["GetResp"]["req_path_results"][0];
    assert!(
        result["err_code"] != 0 || result["resolved_path_results"] == json!([]),
        "the row is gone: {body}"
    );

    // GetParameterNames with NextLevel: names and writability.
    let answer = api
        .command(json!({"GetParameterNames": {"name": "Device.DeviceInfo.", "next_level": true}}))
        .await;
    let names = answer["GetParameterNames"].as_array().unwrap();
    let writable = |name: &str| {
        names
            .iter()
            .find(|n| n["name"] == name)
            .unwrap_or_else(|| panic!("{name} missing: {answer}"))["writable"]
            .clone()
    };
    assert_eq!(writable("Device.DeviceInfo.SoftwareVersion"), false);
    assert_eq!(writable("Device.DeviceInfo.ProvisioningCode"), true);
    assert!(names.iter().all(|n| {
        let name = n["name"].as_str().unwrap();
        let rest = name.strip_prefix("Device.DeviceInfo.").unwrap();
        !rest.trim_end_matches('.').contains('.')
    }));

    // The session ends when the management connection goes; the next call needs (and gets)
    // another connection request.
    drop(api);
    agent.wait_line("CWMP session ended").await;
    let mut api = Api::connect(&acs.management).await;
    assert_eq!(
        api.values(&[SSID]).await,
        [(SSID.into(), "set-by-acsrs".into())]
    );
    connection_request_session(&mut acs, &mut agent).await;

    // A heartbeat policy (TR-069 Annex O) whose first heartbeat falls 2 s from now, while
    // this session is still open: its session, `14 HEARTBEAT` alone, follows this one.
    let unix = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs();
    let initiation = DateTime::from_unix_seconds(i64::try_from(unix + 2).unwrap()).unwrap();
    let policy = |name: &str| format!("Device.ManagementServer.HeartbeatPolicy.{name}");
    let answer = api
        .command(json!({"SetParameterValues": [
            {"type": "", "name": policy("ReportingInterval"), "value": "30"},
            {"type": "", "name": policy("InitiationTime"), "value": initiation.to_string()},
            {"type": "", "name": policy("Enable"), "value": "true"},
        ]}))
        .await;
    assert_eq!(answer, json!({"SetParameterValues": true}));
    tokio::time::sleep(Duration::from_secs(3)).await;
    drop(api);
    agent.wait_line("CWMP session ended").await;
    let line = agent.wait_line("CWMP session started").await;
    assert!(line.contains(r#"["14 HEARTBEAT"]"#), "{line}");
    acs.wait_line("Event: 14 HEARTBEAT").await;
    agent.wait_line("CWMP session ended").await;
    agent.stop().await;
    println!("acsrs over HTTP: {:.1} s", started.elapsed().as_secs_f64());
}

#[tokio::test(flavor = "current_thread")]
async fn acsrs_manages_the_agent_over_https() {
    let started = Instant::now();
    let mut acs = Acsrs::start().await;
    let ca = acs.dir().join("ca.pem");

    // An agent trusting another CA refuses acsrs's certificate: no Inform reaches it.
    let other = tempfile::tempdir().unwrap();
    make_certificates(other.path(), "other-", false);
    let other_ca = other.path().join("other-ca.pem");
    let state = tempfile::tempdir().unwrap();
    let mut agent = start_agent(
        state.path(),
        &acs.secure_url,
        &["--ca-file", other_ca.to_str().unwrap()],
    )
    .await;
    let line = agent.wait_line("CWMP POST failed").await;
    assert!(line.contains("server certificate refused"), "{line}");
    agent.stop().await;

    // With acsrs's CA: the bootstrap over TLS (HTTP Basic, as over TLS it may be), then a
    // GetParameterValues after a connection request.
    let state = tempfile::tempdir().unwrap();
    let mut agent = start_agent(
        state.path(),
        &acs.secure_url,
        &["--ca-file", ca.to_str().unwrap()],
    )
    .await;
    let mut api = Api::connect(&acs.management).await;
    bootstrap(&mut acs, &mut agent, &mut api).await;
    const URL: &str = "Device.ManagementServer.URL";
    assert_eq!(
        api.values(&[URL]).await,
        [(URL.into(), acs.secure_url.clone())]
    );
    connection_request_session(&mut acs, &mut agent).await;
    drop(api);
    agent.wait_line("CWMP session ended").await;
    agent.stop().await;
    println!("acsrs over HTTPS: {:.1} s", started.elapsed().as_secs_f64());
}
