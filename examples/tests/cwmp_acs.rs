//! End to end: the `cpe-agent` binary, started on a temporary state directory with
//! `--acs-url` pointing at a tiny scripted ACS (a hyper server in this test, on a free
//! loopback port).
//!
//! The ACS answers the bootstrap Inform, sends GetParameterValues and SetParameterValues after
//! the CPE's empty POST, checks the responses and ends the session with 204. The test then
//! sends a Digest-authenticated connection request (the Digest response computed here with
//! `md-5`) and checks that a session with `6 CONNECTION REQUEST` follows, and that the value
//! set in the first session is still there. Finally the agent is restarted on the same state
//! directory: the saved `cwmp.json` means no second `0 BOOTSTRAP`. Neither a POST the ACS holds
//! unanswered nor a SetParameterValues the hardware is slow to apply holds up the agent's
//! shutdown. Every wait is bounded.
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

use std::path::Path;
use std::sync::atomic::Ordering;
use std::time::Duration;

use cwmp_core::codec::{Body, ParameterValue, SetParameterValues, Status, ValueType};
use md5::{Digest as _, Md5};
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
use tokio::net::TcpStream;

use common::{Acs, AgentProcess, WAIT, codes, gpv, param, spv};

const CR_USER: &str = "cr-user";
const CR_PASS: &str = "cr-pass";

/// The agent on `state_dir`, informing the ACS at `acs_url`, with connection requests on a
/// free port, and `extra` arguments.
async fn start_agent(state_dir: &Path, acs_url: &str, extra: &[&str]) -> AgentProcess {
    AgentProcess::start(
        state_dir,
        &[
            "--acs-url",
            acs_url,
            "--cr-port",
            "0",
            "--cr-username",
            CR_USER,
            "--cr-password",
            CR_PASS,
        ]
        .into_iter()
        .chain(extra.iter().copied())
        .collect::<Vec<_>>(),
    )
    .await
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
const PROVISIONING_CODE: &str = "Device.DeviceInfo.ProvisioningCode";
const PARAMETER_KEY: &str = "Device.ManagementServer.ParameterKey";

/// The `MD5` Digest challenge among the `WWW-Authenticate` fields of `headers`.
fn md5_challenge(headers: &[(String, String)]) -> String {
    headers
        .iter()
        .filter(|(n, _)| n == "www-authenticate")
        .map(|(_, v)| v.clone())
        .find(|v| v.contains("algorithm=MD5"))
        .expect("an MD5 Digest challenge")
}

/// The path of the connection-request URL `cr_url`.
fn cr_path(cr_url: &str) -> &str {
    let path = cr_url.split("127.0.0.1:").nth(1).unwrap();
    &path[path.find('/').unwrap()..]
}

#[tokio::test(flavor = "current_thread")]
async fn acs_manages_the_agent_and_wakes_it_with_a_connection_request() {
    let dir = tempfile::tempdir().unwrap();
    let mut acs = Acs::start().await;
    acs.push(gpv(&["Device.DeviceInfo.SerialNumber", CR_URL]));
    acs.push(spv(SSID, "FromTheACS", "pk-1"));
    let mut agent = start_agent(dir.path(), &acs.url, &[]).await;

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
    let path = cr_path(&agent.cr_url);
    let wrong = digest_authorization(&md5_challenge(&headers), CR_USER, "guess", path);
    assert_eq!(http_get(&agent.cr_url, Some(&wrong)).await.0, 401);
    let (status, headers) = http_get(&agent.cr_url, None).await;
    assert_eq!(status, 401);
    let challenge = md5_challenge(&headers);
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
    let old_url = agent.cr_url.clone();
    agent.stop().await;
    // The old port is held meanwhile, so that the restart listens on another one.
    let _held = tokio::net::TcpListener::bind(("127.0.0.1", common::port_of(&old_url)))
        .await
        .unwrap();

    // A restart on the same state: 1 BOOT, but no second bootstrap (cwmp.json was loaded);
    // the new connection-request URL is a value change (active notification by default).
    let mut agent = start_agent(dir.path(), &acs.url, &[]).await;
    let inform = acs.next_inform().await;
    let events = codes(&inform);
    assert!(events.contains(&"1 BOOT".to_owned()), "{events:?}");
    assert!(!events.contains(&"0 BOOTSTRAP".to_owned()), "{events:?}");
    assert!(events.contains(&"4 VALUE CHANGE".to_owned()), "{events:?}");
    assert_ne!(agent.cr_url, old_url);
    assert_eq!(
        param(&inform.parameter_list, CR_URL),
        Some(agent.cr_url.as_str())
    );
    assert!(acs.next_post().await.is_none(), "the CPE's empty POST");
    agent.wait_line("CWMP session ended").await;
    agent.stop().await;
}

/// SIGINT while the ACS holds the CPE's empty POST unanswered: the agent stops before the ACS
/// answers, every task within the shutdown grace.
#[tokio::test(flavor = "current_thread")]
async fn a_post_in_flight_does_not_hold_up_the_shutdown() {
    common::within(Duration::from_secs(60), held_post()).await;
}

async fn held_post() {
    let state = tempfile::tempdir().unwrap();
    let mut acs = Acs::start().await;
    let release = acs.hold_next_empty_post();
    let mut agent = start_agent(state.path(), &acs.url, &[]).await;
    acs.next_inform().await;
    assert!(
        acs.next_post().await.is_none(),
        "the CPE's empty POST, held"
    );
    agent.signal("INT");
    agent.wait_line("state saved, stopped").await;
    let late = agent.skipped_line("did not stop");
    assert!(late.is_none(), "{late:?}");
    // The ACS never answered.
    drop(release);
}

/// SIGINT while the hardware applies a SetParameterValues of two values (each takes a minute):
/// a connection request meanwhile is answered and reaches the session (its event is in the
/// saved state); the agent stops within the shutdown grace, dropping the Set before it
/// completes; the Set is then in nothing the agent saved (all or nothing: here nothing), and
/// the ACS never had a SetParameterValuesResponse.
#[tokio::test(flavor = "current_thread")]
async fn a_slow_set_does_not_hold_up_the_shutdown() {
    common::within(Duration::from_secs(90), slow_set()).await;
}

async fn slow_set() {
    let state = tempfile::tempdir().unwrap();
    let config = state.path().join("slow.toml");
    std::fs::write(&config, "[device]\napply_delay_ms = 60000\n").unwrap();
    let mut acs = Acs::start().await;
    acs.push(Body::SetParameterValues(SetParameterValues {
        parameter_list: vec![
            ParameterValue::new(SSID, "Slow", ValueType::String),
            ParameterValue::new(PROVISIONING_CODE, "slow", ValueType::String),
        ],
        parameter_key: "pk-slow".into(),
    }));
    let slow = [
        "--config",
        config.to_str().unwrap(),
        "--log",
        "info,cpe_agent::cwmp=debug",
    ];
    let mut agent = start_agent(state.path(), &acs.url, &slow).await;
    let inform = acs.next_inform().await;
    let before = |name| param(&inform.parameter_list, name).map(str::to_owned);
    let (code, key) = (before(PROVISIONING_CODE), before(PARAMETER_KEY));
    assert!(code.is_some() && key.is_some(), "{inform:?}");
    assert!(acs.next_post().await.is_none(), "the CPE's empty POST");
    // The InformResponse, then the answer to the empty POST: the Set, now running.
    agent.wait_line("CWMP response").await;
    agent.wait_line("CWMP response").await;

    let (status, headers) = http_get(&agent.cr_url, None).await;
    assert_eq!(status, 401);
    let path = cr_path(&agent.cr_url);
    let good = digest_authorization(&md5_challenge(&headers), CR_USER, CR_PASS, path);
    assert_eq!(http_get(&agent.cr_url, Some(&good)).await.0, 200);
    agent.wait_line("CWMP connection request accepted").await;

    agent.signal("INT");
    agent
        .wait_line("engine request still running at shutdown is dropped")
        .await;
    agent.wait_line("state saved, stopped").await;
    let late = agent.skipped_line("did not stop");
    assert!(late.is_none(), "{late:?}");
    let saved = std::fs::read_to_string(state.path().join("cwmp.json")).unwrap();
    assert!(saved.contains("6 CONNECTION REQUEST"), "{saved}");
    drop(agent);

    // Restarted at normal speed: the first POST is an Inform (no SetParameterValuesResponse
    // came before it), whose values are the old ones, as is the SSID.
    acs.push(gpv(&[SSID]));
    let agent = start_agent(state.path(), &acs.url, &[]).await;
    let inform = acs.next_inform().await;
    assert_eq!(
        param(&inform.parameter_list, PROVISIONING_CODE),
        code.as_deref()
    );
    assert_eq!(param(&inform.parameter_list, PARAMETER_KEY), key.as_deref());
    assert!(acs.next_post().await.is_none(), "the CPE's empty POST");
    match acs.next_post().await.map(|e| e.body) {
        Some(Body::GetParameterValuesResponse(r)) => {
            let ssid = param(&r.parameter_list, SSID);
            assert!(ssid.is_some_and(|ssid| ssid != "Slow"), "{ssid:?}");
        }
        other => panic!("expected GetParameterValuesResponse, got {other:?}"),
    }
    agent.stop().await;
}
