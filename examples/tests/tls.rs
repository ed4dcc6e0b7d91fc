//! TLS end to end: the `cpe-agent` binary's TLS clients and server against peers on loopback,
//! each test with its own CAs and server certificates for `IP:127.0.0.1` (made with the
//! `openssl` command, [`common::tls`]). The agent trusts one CA file (`--ca-file`) for all its
//! clients, or the system's CA certificates without one.
//!
//! - `https://` downloads: the scripted ACS sends two Downloads, one from an HTTPS file server
//!   signed by the trusted CA (TransferComplete with fault 0, the file on disk is the one
//!   served) and one from a server signed by another CA (fault 9012, "File transfer server
//!   authentication failure": the CPE could not authenticate the server).
//! - The `wss://` WebSocket server requires a client certificate of the agent's CA (TR-369
//!   R-MTP.1): without one, or with one of another CA, the handshake fails; one naming
//!   another Endpoint ID (`urn:bbf:usp:id:`) than the `?eid=` is refused (403); with the
//!   controller's own, a Record from another endpoint is ignored and a Get goes through; a
//!   certificate naming no Endpoint ID leaves the `eid` free.
//! - The `wss://` WebSocket client: the test's server first presents a certificate of another
//!   CA (the agent refuses it and retries), then one of the trusted CA naming another
//!   controller (refused too), then the controller's own: a Get goes through.
//! - Trust on first use (`ControllerTrust.TOFUAllowed`): refused, a self-signed controller
//!   certificate fails the handshake; allowed, the controller gets `UntrustedRole`'s rights
//!   exactly (a Get of what the role reads, none of what it does not), raises itself with
//!   `RequestChallenge()`/`ChallengeResponse()`, is remembered (its `Controller.{i}.` row
//!   names the `LocalAgent.Certificate.{i}.` of its certificate) and recognised on its next
//!   connection, which `TOFUInactivityTimer` closes when it goes quiet; another self-signed
//!   certificate claiming its Endpoint ID is ignored; refused again, the handshake fails.
//! - Certificate dates before real time is known (TR-369 R-MTP.2/3): an expired controller
//!   certificate (on the `wss://` server) and an expired server certificate (of a controller
//!   the `wss://` client connects to) are refused while `Device.Time.Status` is
//!   `Synchronized`, accepted while the time client is off (`Device.Time.Enable` false:
//!   `Disabled`); the controller's is refused again once it is back.
//! - Without a CA file the clients trust the system's CA certificates (`SSL_CERT_FILE` only
//!   here): the `wss://` client refuses a controller's server of a CA not among them, and
//!   reaches it once its CA is.
//! - Revocation (`[tls] crl_file`, a CRL made by `openssl ca`): the `wss://` client refuses a
//!   server certificate the CRL lists and accepts another of the same CA; the `wss://` server
//!   refuses a controller certificate it lists, by its CA or on first use.
//! - Renewal without a restart (`SIGHUP`, and a changed file): a controller and the server
//!   of the controller the `wss://` client reaches are accepted; then the CRL file is
//!   replaced by one listing their certificates, the CA file by one with a second CA and the
//!   client certificate by a new one, and `SIGHUP` reloads them: the open `wss://` session
//!   of the revoked controller is closed (1008), it is refused on its next connection (as
//!   is the revoked server), another controller is accepted, the reconnecting client presents
//!   the new certificate, and the certificate rows are the two CAs'. A bad CRL file then
//!   keeps the trust as it was (a log line says why; the revoked controller still refused,
//!   the other accepted), as does a CRL naming the CA but signed by another key. Last, a CRL file listing nothing, renamed into place without a
//!   signal, is read on the next hardware tick: the controller is accepted again.
//! - MQTT over TLS through a real mosquitto with a TLS listener that requires a client
//!   certificate of the trusted CA: an agent trusting another CA refuses the broker, the
//!   broker refuses an agent without a client certificate (`[tls] cert_file`), and one with
//!   both connects; the controller (on mosquitto's plain listener) runs a Get.
//!
//! Every wait is bounded.
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

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

use cwmp_core::codec::Body as CwmpBody;
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
use tokio::net::TcpListener;
use tokio::sync::mpsc;
use tokio_rustls::TlsAcceptor;

use common::mqtt::{Mosquitto, MqttLink, Version, agent_config};
use common::tls::{
    acceptor, acceptor_as, acceptor_asking, connector_as, make_certificates, make_crl,
    make_expired_leaf, make_leaf, make_self_signed,
};
use common::{
    Acs, AgentProcess, CTRL, Controller, Link, WAIT, add, added_path, download, download_pending,
    get, get_params, set, set_ok,
};
use rusp_lib::usp_builder::OperateBuilder;

/// The served file's size.
const SIZE: u32 = 16 * 1024;
const SERIAL: &str = "Device.DeviceInfo.SerialNumber";

fn content() -> Vec<u8> {
    (0..SIZE).map(|i| (i % 253) as u8).collect()
}

/// A controller that is not the test's, known to the agent all the same.
const OTHER: &str = "self::other";

/// Two certificate directories in `dir`: `trusted/` (the agent's CA, `ca.pem`, and a server
/// certificate it signed, naming no Endpoint ID; `ctrl-cert.pem` naming [`CTRL`] and
/// `other-cert.pem` naming [`OTHER`], both for `IP:127.0.0.1` too) and `rogue/` (another CA,
/// `rogue-ca.pem`, and a server certificate it signed).
fn certificates(dir: &Path) -> (PathBuf, PathBuf) {
    let (trusted, rogue) = (dir.join("trusted"), dir.join("rogue"));
    for (certs, prefix) in [(&trusted, ""), (&rogue, "rogue-")] {
        std::fs::create_dir_all(certs).unwrap();
        make_certificates(certs, prefix, true);
    }
    for (name, eid) in [("ctrl-", CTRL), ("other-", OTHER)] {
        let san = format!("IP:127.0.0.1,URI:urn:bbf:usp:id:{eid}");
        make_leaf(&trusted, "", name, &san);
    }
    (trusted, rogue)
}

/// An HTTPS file server presenting the certificate of `certs`: every GET gets the whole file.
/// Each request head is reported.
async fn https_file_server(certs: &Path) -> (String, mpsc::UnboundedReceiver<String>) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("https://{}/fw.bin", listener.local_addr().unwrap());
    let tls = acceptor(certs);
    let (tx, requests) = mpsc::unbounded_channel();
    tokio::spawn(async move {
        loop {
            let (stream, _) = listener.accept().await.unwrap();
            // A client refusing the certificate ends the handshake.
            let Ok(mut stream) = tls.accept(stream).await else {
                continue;
            };
            let mut head = Vec::new();
            let mut byte = [0_u8; 1];
            while !head.ends_with(b"\r\n\r\n") {
                if stream.read(&mut byte).await.unwrap() == 0 {
                    break;
                }
                head.push(byte[0]);
            }
            let _ = tx.send(String::from_utf8_lossy(&head).into_owned());
            stream
                .write_all(format!("HTTP/1.1 200 OK\r\nContent-Length: {SIZE}\r\n\r\n").as_bytes())
                .await
                .unwrap();
            stream.write_all(&content()).await.unwrap();
            stream.shutdown().await.unwrap();
        }
    });
    (url, requests)
}

#[tokio::test(flavor = "current_thread")]
async fn https_downloads_check_the_server_against_the_agents_ca() {
    common::within(Duration::from_secs(120), https_downloads()).await;
}

async fn https_downloads() {
    let dir = tempfile::tempdir().unwrap();
    let (trusted, rogue) = certificates(dir.path());
    let (good_url, mut good_requests) = https_file_server(&trusted).await;
    let (rogue_url, mut rogue_requests) = https_file_server(&rogue).await;
    let mut acs = Acs::start().await;
    // Queued before the agent starts: the ACS answers the CPE's empty POST from its queue at
    // once, so a request pushed after the Inform could miss the session.
    acs.push(download(&good_url, "tls-good", SIZE));
    acs.push(download(&rogue_url, "tls-rogue", SIZE));
    let ca = trusted.join("ca.pem");
    let state = dir.path().join("state");
    let mut agent = AgentProcess::start(
        &state,
        &[
            "--acs-url",
            &acs.url,
            "--cr-port",
            "0",
            "--ca-file",
            ca.to_str().unwrap(),
        ],
    )
    .await;
    acs.next_inform().await;
    assert!(acs.next_post().await.is_none(), "the CPE's empty POST");
    download_pending(&mut acs).await;
    download_pending(&mut acs).await;

    // Both transfers end, in one or two later sessions.
    let mut completes = BTreeMap::new();
    while completes.len() < 2 {
        if let Some(CwmpBody::TransferComplete(complete)) = acs.next_post().await.map(|e| e.body) {
            completes.insert(complete.command_key.clone(), complete);
        }
    }
    let good = &completes["tls-good"];
    assert_eq!(good.fault_struct.fault_code, 0, "{good:?}");
    let request = tokio::time::timeout(WAIT, good_requests.recv())
        .await
        .unwrap()
        .unwrap();
    assert!(request.starts_with("GET /fw.bin HTTP/1.1\r\n"), "{request}");
    let rogue_complete = &completes["tls-rogue"];
    assert_eq!(
        rogue_complete.fault_struct.fault_code, 9012,
        "{rogue_complete:?}"
    );
    assert!(
        rogue_complete
            .fault_struct
            .fault_string
            .contains("certificate"),
        "{rogue_complete:?}"
    );
    assert!(
        rogue_requests.try_recv().is_err(),
        "no request reaches a server the agent does not trust"
    );
    let stored = std::fs::read_dir(state.join("downloads"))
        .unwrap()
        .map(|entry| entry.unwrap().path())
        .find(|path| path.extension().is_some_and(|e| e == "bin"))
        .expect("the downloaded file");
    assert_eq!(std::fs::read(&stored).unwrap(), content());
    agent.wait_line("CWMP session ended").await;
    agent.stop().await;
}

#[tokio::test(flavor = "current_thread")]
async fn the_wss_server_authenticates_controllers_by_certificate() {
    common::within(Duration::from_secs(60), wss_server()).await;
}

/// Starts an agent whose `wss://` server presents `trusted/cert.pem` and trusts the CAs of
/// `ca_file`, knowing [`CTRL`] and [`OTHER`].
async fn wss_agent(dir: &Path, trusted: &Path, ca_file: &Path) -> AgentProcess {
    wss_agent_with(dir, trusted, ca_file, "", "").await
}

/// [`wss_agent`] with the `[tls]` keys `tls` and the configuration `extra` besides.
async fn wss_agent_with(
    dir: &Path,
    trusted: &Path,
    ca_file: &Path,
    tls: &str,
    extra: &str,
) -> AgentProcess {
    let config = dir.join("cpe-agent.toml");
    std::fs::write(
        &config,
        format!(
            "[tls]\nca_file = \"{}\"\n{tls}[usp]\ncontrollers = [\"{CTRL}\", \"{OTHER}\"]\n\
             [usp.websocket]\ncert_file = \"{}\"\nkey_file = \"{}\"\n{extra}",
            ca_file.display(),
            trusted.join("cert.pem").display(),
            trusted.join("key.pem").display()
        ),
    )
    .unwrap();
    let state = dir.join("state");
    let agent = AgentProcess::start(&state, &["--config", config.to_str().unwrap()]).await;
    assert!(agent.url.starts_with("wss://127.0.0.1:"), "{}", agent.url);
    agent
}

async fn wss_server() {
    let dir = tempfile::tempdir().unwrap();
    let (trusted, rogue) = certificates(dir.path());
    let ca = trusted.join("ca.pem");
    let mut agent = wss_agent(dir.path(), &trusted, &ca).await;
    let url = agent.url.clone();
    let connect = |identity: Option<(&Path, &str)>| {
        let tls = connector_as(&ca, identity);
        let url = url.clone();
        async move { Controller::try_connect_with(&url, Some(&tls)).await }
    };

    // No client certificate, or one of another CA: the agent ends the TLS handshake.
    for identity in [None, Some((rogue.as_path(), ""))] {
        let Err(error) = connect(identity).await else {
            panic!("the agent accepted the client certificate {identity:?}");
        };
        assert!(error.contains("alert"), "the agent's TLS alert: {error}");
    }
    // A certificate of another controller than the `eid` claims.
    let Err(error) = connect(Some((&trusted, "other-"))).await else {
        panic!("the agent accepted the certificate of {OTHER} for {CTRL}");
    };
    assert!(error.contains("403"), "{error}");

    // The controller's own certificate binds the connection to its Endpoint ID: a Record
    // from another (known) controller is ignored, its own are answered.
    let mut ctrl = connect(Some((&trusted, "ctrl-"))).await.unwrap();
    ctrl.send_from(OTHER, "spoofed", get(&[SERIAL])).await;
    let line = agent.wait_line("Unauthenticated").await;
    assert!(line.contains(OTHER), "{line}");
    // An answer to the spoofed Get would come first, addressed to OTHER (which `request`
    // refuses).
    let body = ctrl.request(get(&[SERIAL])).await;
    assert_eq!(get_params(&body)["SerialNumber"], "SIM0001", "{body}");
    drop(ctrl);

    // A certificate naming no Endpoint ID leaves the `eid` to the controller.
    let mut ctrl = connect(Some((&trusted, ""))).await.unwrap();
    let body = ctrl.request(get(&[SERIAL])).await;
    assert_eq!(get_params(&body)["SerialNumber"], "SIM0001", "{body}");
    agent.stop().await;
}

#[tokio::test(flavor = "current_thread")]
async fn a_controllers_rights_come_from_the_credential_of_its_ca() {
    common::within(Duration::from_secs(60), credential_roles()).await;
}

/// `openssl x509` on `cert`: the `name=value` lines of `args`.
fn openssl_fields(cert: &Path, args: &[&str]) -> BTreeMap<String, String> {
    let output = std::process::Command::new("openssl")
        .args([
            "x509", "-noout", "-nameopt", "RFC2253", "-dateopt", "iso_8601", "-in",
        ])
        .arg(cert)
        .args(args)
        .output()
        .expect("the openssl command");
    assert!(output.status.success(), "{output:?}");
    String::from_utf8(output.stdout)
        .unwrap()
        .lines()
        .filter_map(|line| line.split_once('='))
        .map(|(name, value)| (name.to_owned(), value.to_owned()))
        .collect()
}

async fn credential_roles() {
    let dir = tempfile::tempdir().unwrap();
    let (trusted, rogue) = certificates(dir.path());
    // Two CAs: the controller's (Certificate.1, Credential.1) and another.
    let cas = dir.path().join("cas.pem");
    let mut pem = std::fs::read(trusted.join("ca.pem")).unwrap();
    pem.extend(std::fs::read(rogue.join("rogue-ca.pem")).unwrap());
    std::fs::write(&cas, pem).unwrap();
    let agent = wss_agent(dir.path(), &trusted, &cas).await;
    let tls = connector_as(&trusted.join("ca.pem"), Some((&trusted, "ctrl-")));
    let mut ctrl = Controller::connect_with(&agent.url, Some(&tls)).await;

    // The CA certificates are Device.Security.Certificate rows, as openssl reads them, and
    // Device.LocalAgent.Certificate rows of the same, which the credentials name (TR-181).
    for (row_number, pem) in [(1, trusted.join("ca.pem")), (2, rogue.join("rogue-ca.pem"))] {
        let expected = openssl_fields(
            &pem,
            &["-serial", "-issuer", "-subject", "-startdate", "-enddate"],
        );
        let body = ctrl
            .request(get(&[&format!(
                "Device.Security.Certificate.{row_number}."
            )]))
            .await;
        let row = get_params(&body);
        let date = |name: &str| expected[name].replace(' ', "T");
        assert_eq!(row["SerialNumber"], expected["serial"], "{body}");
        assert_eq!(row["Issuer"], expected["issuer"], "{body}");
        assert_eq!(row["Subject"], expected["subject"], "{body}");
        assert_eq!(row["NotBefore"], date("notBefore"), "{body}");
        assert_eq!(row["NotAfter"], date("notAfter"), "{body}");
        assert_eq!(row["SignatureAlgorithm"], "ecdsa-with-SHA256", "{body}");
        let certificate = format!("Device.LocalAgent.Certificate.{row_number}");
        let body = ctrl.request(get(&[&format!("{certificate}.")])).await;
        let local = get_params(&body);
        assert_eq!(local["SerialNumber"], row["SerialNumber"], "{body}");
        assert_eq!(local["Issuer"], row["Issuer"], "{body}");
        assert_eq!(local["Enable"], "true", "{body}");
        let credential = format!("Device.LocalAgent.ControllerTrust.Credential.{row_number}.");
        let body = ctrl.request(get(&[&credential])).await;
        assert_eq!(get_params(&body)["Credential"], certificate, "{body}");
    }

    // Without the factory AssignedRole, the controller has what its CA's credential gives.
    let set_ok = |body: &serde_json::Value| body["Response"]["SetResp"].is_object();
    let role = "Device.LocalAgent.ControllerTrust.Role.";
    let body = ctrl
        .request(set("Device.LocalAgent.Controller.1.", "AssignedRole", ""))
        .await;
    assert!(set_ok(&body), "{body}");
    let body = ctrl
        .request(get(&["Device.LocalAgent.Controller.1.InheritedRole"]))
        .await;
    assert_eq!(
        get_params(&body)["InheritedRole"],
        format!("{role}1"),
        "{body}"
    );
    // A read-only role, given first to the other CA's credential: nothing changes.
    let body = ctrl
        .request(add(role, &[("Enable", "true"), ("Name", "reader")]))
        .await;
    let reader = added_path(&body);
    let all = [
        ("Enable", "true"),
        ("Targets", "Device."),
        ("Param", "r--n"),
    ];
    let body = ctrl
        .request(add(&format!("{reader}Permission."), &all))
        .await;
    added_path(&body);
    let credential = "Device.LocalAgent.ControllerTrust.Credential.";
    let reader = reader.trim_end_matches('.');
    let body = ctrl
        .request(set(&format!("{credential}2."), "Role", reader))
        .await;
    assert!(set_ok(&body), "{body}");
    let body = ctrl
        .request(set("Device.WiFi.SSID.1.", "SSID", "still"))
        .await;
    assert!(set_ok(&body), "{body}");
    // Its own CA's credential: the controller may read but no longer write.
    let body = ctrl
        .request(set(&format!("{credential}1."), "Role", reader))
        .await;
    assert!(set_ok(&body), "{body}");
    let body = ctrl
        .request(set("Device.WiFi.SSID.1.", "SSID", "denied"))
        .await;
    assert_eq!(body["Error"]["err_code"], 7006, "{body}");
    let body = ctrl.request(get(&["Device.WiFi.SSID.1.SSID"])).await;
    assert_eq!(get_params(&body)["SSID"], "still", "{body}");
    let body = ctrl
        .request(get(&["Device.LocalAgent.Controller.1.InheritedRole"]))
        .await;
    assert_eq!(get_params(&body)["InheritedRole"], reader, "{body}");
    agent.stop().await;
}

#[tokio::test(flavor = "current_thread")]
async fn controllers_of_no_trusted_ca_are_trusted_on_first_use_if_allowed() {
    common::within(Duration::from_secs(120), trust_on_first_use()).await;
}

/// Asserts that the agent ends the TLS handshake of `attempt` (`what`: an accepted one).
async fn refused(attempt: impl Future<Output = Result<Controller, String>>, what: &str) {
    match attempt.await {
        Ok(_) => panic!("{what}"),
        Err(error) => assert!(error.contains("alert"), "the agent's TLS alert: {error}"),
    }
}

/// A Controller that trusts the agent's CA `ca`, presenting `<name>cert.pem` of `dir`.
async fn connect_as(
    url: &str,
    ca: &Path,
    dir: &Path,
    name: &str,
    eid: &str,
) -> Result<Controller, String> {
    let tls = connector_as(ca, Some((dir, name)));
    Controller::try_connect_as(url, Some(&tls), eid).await
}

/// An Operate of `command` with `args`, answered.
fn operate(command: &str, args: &[(&str, &str)]) -> rusp_lib::usp::Body {
    OperateBuilder::new(command.into())
        .with_send_resp(true)
        .with_input_args(
            args.iter()
                .map(|(n, v)| ((*n).into(), (*v).into()))
                .collect(),
        )
        .build()
        .unwrap()
}

/// The output arguments of a one-command OperateResp.
fn output_args(body: &serde_json::Value) -> serde_json::Value {
    let result = &body["Response"]["OperateResp"]["operation_results"][0];
    let out = &result["req_output_args"]["output_args"];
    assert!(out.is_object(), "{body}");
    out.clone()
}

async fn trust_on_first_use() {
    const TOFU: &str = "self::tofu";
    const TRUST: &str = "Device.LocalAgent.ControllerTrust.";
    let ssid = "Device.WiFi.SSID.1.SSID";
    let dir = tempfile::tempdir().unwrap();
    let (trusted, _) = certificates(dir.path());
    let stranger = dir.path().join("stranger");
    std::fs::create_dir_all(&stranger).unwrap();
    let san = format!("IP:127.0.0.1,URI:urn:bbf:usp:id:{TOFU}");
    make_self_signed(&stranger, "tofu-", &san);
    make_self_signed(&stranger, "impostor-", &san);
    let ca = trusted.join("ca.pem");
    let mut agent = wss_agent(dir.path(), &trusted, &ca).await;
    let url = agent.url.clone();
    let tofu = || connect_as(&url, &ca, &stranger, "tofu-", TOFU);

    // Refused by default.
    refused(
        tofu(),
        "a self-signed certificate accepted without TOFUAllowed",
    )
    .await;

    // The trusted controller sets the policy: strangers read DeviceInfo and may run the
    // challenge commands; challenge 1 grants the factory "Full Access" role.
    let mut ctrl = connect_as(&url, &ca, &trusted, "ctrl-", CTRL)
        .await
        .unwrap();
    let body = ctrl
        .request(add(
            &format!("{TRUST}Role."),
            &[("Enable", "true"), ("Name", "stranger")],
        ))
        .await;
    let untrusted = added_path(&body);
    for (order, targets, param, command) in [
        ("1", "Device.DeviceInfo.", "r---", "----"),
        ("2", TRUST, "r---", "--x-"),
    ] {
        let permission = [
            ("Enable", "true"),
            ("Order", order),
            ("Targets", targets),
            ("Param", param),
            ("Obj", "r---"),
            ("InstantiatedObj", "r---"),
            ("CommandEvent", command),
        ];
        let body = ctrl
            .request(add(&format!("{untrusted}Permission."), &permission))
            .await;
        added_path(&body);
    }
    let untrusted = untrusted.trim_end_matches('.').to_owned();
    let full = format!("{TRUST}Role.1");
    let challenge = [
        ("Enable", "true"),
        ("Role", full.as_str()),
        ("Value", "b3BlbiBzZXNhbWU="),
        ("Instruction", "U2F5IHRoZSB3b3Jk"),
        ("Retries", "3"),
    ];
    let body = ctrl
        .request(add(&format!("{TRUST}Challenge."), &challenge))
        .await;
    let challenge = added_path(&body);
    for (name, value) in [
        ("UntrustedRole", untrusted.as_str()),
        ("TOFUInactivityTimer", "5"),
        ("TOFUAllowed", "true"),
    ] {
        set_ok(&mut ctrl, TRUST, name, value).await;
    }
    agent
        .wait_line("trust on first use of controller certificates allowed")
        .await;

    // First use: UntrustedRole's rights, exactly.
    let mut stranger_ctrl = tofu().await.unwrap();
    let body = stranger_ctrl.request(get(&[SERIAL])).await;
    assert_eq!(get_params(&body)["SerialNumber"], "SIM0001", "{body}");
    let body = stranger_ctrl.request(get(&[ssid])).await;
    let denied = &body["Response"]["GetResp"]["req_path_results"][0];
    assert_eq!(denied["err_code"], 7006, "{body}");
    // Raised by a challenge.
    let body = stranger_ctrl
        .request(operate(
            &format!("{TRUST}RequestChallenge()"),
            &[("ChallengeRef", challenge.trim_end_matches('.'))],
        ))
        .await;
    let id = output_args(&body)["ChallengeID"]
        .as_str()
        .unwrap()
        .to_owned();
    let body = stranger_ctrl
        .request(operate(
            &format!("{TRUST}ChallengeResponse()"),
            &[("ChallengeID", &id), ("Value", "b3BlbiBzZXNhbWU=")],
        ))
        .await;
    output_args(&body);
    let body = stranger_ctrl.request(get(&[ssid])).await;
    assert!(get_params(&body)["SSID"].is_string(), "{body}");
    drop(stranger_ctrl);

    // Remembered: its row, its certificate's row (R-SEC.8), after the CA's.
    let row = format!("Device.LocalAgent.Controller.[EndpointID==\"{TOFU}\"].");
    let body = ctrl.request(get(&[&row])).await;
    let params = get_params(&body);
    assert_eq!(
        params["AssignedRole"],
        format!("{untrusted},{full}"),
        "{body}"
    );
    assert_eq!(
        params["Credential"], "Device.LocalAgent.Certificate.2",
        "{body}"
    );
    let body = ctrl
        .request(get(&["Device.LocalAgent.Certificate.2."]))
        .await;
    let pem = stranger.join("tofu-cert.pem");
    let expected = openssl_fields(&pem, &["-serial", "-issuer", "-fingerprint", "-sha256"]);
    let certificate = get_params(&body);
    assert_eq!(certificate["SerialNumber"], expected["serial"], "{body}");
    assert_eq!(certificate["Issuer"], expected["issuer"], "{body}");
    // Named by its fingerprint too: its issuer and serial number are anyone's to choose.
    let sha256 = expected["sha256 Fingerprint"]
        .replace(':', "")
        .to_lowercase();
    let alias = format!("cpe-sha256-{}", &sha256[..48]);
    assert_eq!(certificate["Alias"], alias.as_str(), "{body}");

    // Recognised on its next connection, with the rights it earned; closed when quiet.
    let mut stranger_ctrl = tofu().await.unwrap();
    let body = stranger_ctrl.request(get(&[ssid])).await;
    assert!(get_params(&body)["SSID"].is_string(), "{body}");
    agent
        .wait_line("no Record within TOFUInactivityTimer")
        .await;
    // Another self-signed certificate cannot speak as it, though of the same issuer and
    // serial number.
    let mut impostor = connect_as(&url, &ca, &stranger, "impostor-", TOFU)
        .await
        .unwrap();
    impostor.send("impostor", get(&[ssid])).await;
    let line = agent.wait_line("Untrusted").await;
    assert!(line.contains(TOFU), "{line}");

    // Refused again.
    set_ok(&mut ctrl, TRUST, "TOFUAllowed", "false").await;
    agent
        .wait_line("trust on first use of controller certificates refused")
        .await;
    refused(
        tofu(),
        "a self-signed certificate accepted after TOFUAllowed was set false",
    )
    .await;
    agent.stop().await;
}

#[tokio::test(flavor = "current_thread")]
async fn certificate_dates_count_only_once_real_time_is_known() {
    common::within(Duration::from_secs(90), real_time()).await;
}

/// Writes `<name>cert.pem` naming [`CTRL`] and `<name>other-cert.pem` naming [`OTHER`] (both
/// for `IP:127.0.0.1` too) into `trusted` with `make` ([`make_leaf`] or the like).
fn ctrl_and_other(trusted: &Path, name: &str, make: fn(&Path, &str, &str, &str)) {
    for (name, eid) in [(name.to_owned(), CTRL), (format!("{name}other-"), OTHER)] {
        let san = format!("IP:127.0.0.1,URI:urn:bbf:usp:id:{eid}");
        make(trusted, "", &name, &san);
    }
}

/// The `[usp.websocket_client]` configuration of an agent connecting to the controller
/// `eid` on `listener`.
fn ws_client_section(eid: &str, listener: &TcpListener) -> String {
    let url = format!("wss://{}/usp-ctrl", listener.local_addr().unwrap());
    format!(
        "[usp.websocket_client]\nretry_min_wait_s = 1\n\
         [usp.websocket_client.controllers]\n\"{eid}\" = \"{url}\"\n"
    )
}

/// [`wss_agent_with`] the `[tls]` keys `tls`, its `wss://` client connecting to [`OTHER`] on
/// the listener returned.
async fn wss_agent_reaching_other(
    dir: &Path,
    trusted: &Path,
    tls: &str,
) -> (AgentProcess, TcpListener) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let client = ws_client_section(OTHER, &listener);
    let ca = trusted.join("ca.pem");
    (
        wss_agent_with(dir, trusted, &ca, tls, &client).await,
        listener,
    )
}

async fn real_time() {
    let dir = tempfile::tempdir().unwrap();
    let (trusted, _) = certificates(dir.path());
    ctrl_and_other(&trusted, "expired-", make_expired_leaf);
    let ca = trusted.join("ca.pem");
    // The agent's wss client connects to OTHER's server, whose certificate expired.
    // The system clock makes the simulated device's Time.Status Synchronized from the start.
    let (mut agent, listener) = wss_agent_reaching_other(dir.path(), &trusted, "").await;
    let other_tls = acceptor_as(&trusted, "expired-other-");
    let url = agent.url.clone();
    assert!(accept_tls(&listener, &other_tls).await.is_none());
    let line = agent
        .wait_line("cannot connect to the controller's WebSocket server")
        .await;
    assert!(line.contains("server certificate refused"), "{line}");
    let expired = || connect_as(&url, &ca, &trusted, "expired-", CTRL);
    refused(
        expired(),
        "an expired certificate accepted with real time known",
    )
    .await;

    // The time client off: real time unknown, the dates are not checked (R-MTP.2).
    let mut ctrl = connect_as(&url, &ca, &trusted, "ctrl-", CTRL)
        .await
        .unwrap();
    set_ok(&mut ctrl, "Device.Time.", "Enable", "false").await;
    agent.wait_line("real time unknown").await;
    let mut old = expired().await.unwrap();
    let body = old.request(get(&[SERIAL])).await;
    assert_eq!(get_params(&body)["SerialNumber"], "SIM0001", "{body}");
    // The wss client too (its next attempt may have come before the time client stopped).
    let mut other = None;
    for _ in 0..4 {
        other = accept_tls(&listener, &other_tls).await;
        if other.is_some() {
            break;
        }
    }
    let mut other = other.expect("the agent accepts the expired server certificate");
    other.id = OTHER.to_owned();
    let body = other.request(get(&[SERIAL])).await;
    assert_eq!(get_params(&body)["SerialNumber"], "SIM0001", "{body}");

    // Back on: checked again (R-MTP.3).
    set_ok(&mut old, "Device.Time.", "Enable", "true").await;
    agent.wait_line("real time known").await;
    refused(
        expired(),
        "an expired certificate accepted once real time was known again",
    )
    .await;
    agent.stop().await;
}

#[tokio::test(flavor = "current_thread")]
async fn the_wss_client_trusts_only_the_agents_ca() {
    common::within(Duration::from_secs(60), wss_client()).await;
}

/// Accepts the agent's next connection with `tls`; `None` when the handshake failed.
async fn accept_tls(listener: &TcpListener, tls: &TlsAcceptor) -> Option<Controller> {
    let (stream, _) = tokio::time::timeout(WAIT, listener.accept())
        .await
        .expect("the agent connects in time")
        .unwrap();
    let stream = tls.accept(stream).await.ok()?;
    let (ws, _) = common::accept_agent(Box::new(stream), true).await;
    Some(Controller::over(Link::WebSocket(Box::new(ws?))))
}

async fn wss_client() {
    let dir = tempfile::tempdir().unwrap();
    let (trusted, rogue) = certificates(dir.path());
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("wss://{}/usp-ctrl", listener.local_addr().unwrap());
    let config = dir.path().join("cpe-agent.toml");
    std::fs::write(
        &config,
        format!(
            "[tls]\nca_file = \"{}\"\n[usp.websocket_client]\nretry_min_wait_s = 1\n\
             [usp.websocket_client.controllers]\n\"self::controller\" = \"{url}\"\n",
            trusted.join("ca.pem").display()
        ),
    )
    .unwrap();
    let state = dir.path().join("state");
    let mut agent = AgentProcess::start(&state, &["--config", config.to_str().unwrap()]).await;

    assert!(accept_tls(&listener, &acceptor(&rogue)).await.is_none());
    let line = agent
        .wait_line("cannot connect to the controller's WebSocket server")
        .await;
    assert!(line.contains("server certificate refused"), "{line}");

    // A server of the trusted CA, but another controller: no WebSocket handshake.
    assert!(
        accept_tls(&listener, &acceptor_as(&trusted, "other-"))
            .await
            .is_none()
    );
    let line = agent
        .wait_line("cannot connect to the controller's WebSocket server")
        .await;
    assert!(
        line.contains(&format!("names the Endpoint IDs {OTHER}")),
        "{line}"
    );

    let mut ctrl = accept_tls(&listener, &acceptor_as(&trusted, "ctrl-"))
        .await
        .expect("a USP session over TLS");
    let body = ctrl.request(get(&[SERIAL])).await;
    assert_eq!(get_params(&body)["SerialNumber"], "SIM0001", "{body}");
    assert_eq!(ctrl.connect_records, 1, "a WebSocketConnect Record first");
    agent.stop().await;
}

#[tokio::test(flavor = "current_thread")]
async fn without_a_ca_file_the_clients_trust_the_systems_cas() {
    common::within(Duration::from_secs(60), system_cas()).await;
}

/// The configuration of an agent with no CA file whose `wss://` client connects to [`CTRL`]
/// on a new listener, and the listener.
async fn ws_client_config(dir: &Path) -> (PathBuf, TcpListener) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let config = dir.join("cpe-agent.toml");
    std::fs::write(&config, ws_client_section(CTRL, &listener)).unwrap();
    (config, listener)
}

async fn system_cas() {
    let dir = tempfile::tempdir().unwrap();
    let (trusted, rogue) = certificates(dir.path());
    let server = acceptor_as(&trusted, "ctrl-");

    // The system's CA certificates are another CA's: the controller's server is refused.
    let (config, listener) = ws_client_config(dir.path()).await;
    let args = ["--config", config.to_str().unwrap()];
    let (state, system) = (dir.path().join("state-1"), rogue.join("rogue-ca.pem"));
    let mut agent = AgentProcess::start_with_system_cas(&state, &system, &args).await;
    assert!(accept_tls(&listener, &server).await.is_none());
    let line = agent
        .wait_line("cannot connect to the controller's WebSocket server")
        .await;
    assert!(line.contains("server certificate refused"), "{line}");
    agent.stop().await;

    // Its CA among the system's, in SSL_CERT_FILE only: a USP session over TLS.
    let (config, listener) = ws_client_config(dir.path()).await;
    let args = ["--config", config.to_str().unwrap()];
    let (state, system) = (dir.path().join("state-2"), trusted.join("ca.pem"));
    let agent = AgentProcess::start_with_system_cas(&state, &system, &args).await;
    let mut ctrl = accept_tls(&listener, &server)
        .await
        .expect("a USP session over TLS");
    let body = ctrl.request(get(&[SERIAL])).await;
    assert_eq!(get_params(&body)["SerialNumber"], "SIM0001", "{body}");
    agent.stop().await;
}

#[tokio::test(flavor = "current_thread")]
async fn revoked_certificates_are_refused() {
    common::within(Duration::from_secs(60), revocation()).await;
}

async fn revocation() {
    let dir = tempfile::tempdir().unwrap();
    let (trusted, _) = certificates(dir.path());
    ctrl_and_other(&trusted, "revoked-", make_leaf);
    make_crl(&trusted, "", &["revoked-", "revoked-other-"]);
    let ca = trusted.join("ca.pem");
    let crl = format!("crl_file = \"{}\"\n", trusted.join("crl.pem").display());
    let (mut agent, listener) = wss_agent_reaching_other(dir.path(), &trusted, &crl).await;
    let url = agent.url.clone();

    // A server presenting its revoked certificate is refused, then its other one accepted.
    let revoked_server = acceptor_as(&trusted, "revoked-other-");
    assert!(accept_tls(&listener, &revoked_server).await.is_none());
    let line = agent
        .wait_line("cannot connect to the controller's WebSocket server")
        .await;
    assert!(line.contains("Revoked"), "{line}");
    let mut other = accept_tls(&listener, &acceptor_as(&trusted, "other-"))
        .await
        .expect("a USP session with a certificate the CRL does not list");
    other.id = OTHER.to_owned();
    let body = other.request(get(&[SERIAL])).await;
    assert_eq!(get_params(&body)["SerialNumber"], "SIM0001", "{body}");

    // The wss server refuses a revoked controller certificate, even on first use.
    let revoked = || connect_as(&url, &ca, &trusted, "revoked-", CTRL);
    refused(revoked(), "a revoked controller certificate accepted").await;
    let mut ctrl = connect_as(&url, &ca, &trusted, "ctrl-", CTRL)
        .await
        .unwrap();
    let trust = "Device.LocalAgent.ControllerTrust.";
    set_ok(&mut ctrl, trust, "TOFUAllowed", "true").await;
    agent
        .wait_line("trust on first use of controller certificates allowed")
        .await;
    refused(
        revoked(),
        "a revoked controller certificate trusted on first use",
    )
    .await;
    agent.stop().await;
}

#[tokio::test(flavor = "current_thread")]
async fn certificates_and_crls_are_renewed_without_a_restart() {
    common::within(Duration::from_secs(120), renewal()).await;
}

/// Puts `from` in the place of `to` as an operator should: written beside it, then renamed
/// over it.
fn replace(from: &Path, to: &Path) {
    let beside = to.with_extension("new");
    std::fs::copy(from, &beside).unwrap();
    std::fs::rename(&beside, to).unwrap();
}

/// Accepts the agent's next `wss://` client connection with `tls`: the USP session and the
/// client certificate the agent presented (DER); `None` when the handshake failed.
async fn accept_seeing(listener: &TcpListener, tls: &TlsAcceptor) -> Option<(Controller, Vec<u8>)> {
    let (stream, _) = tokio::time::timeout(WAIT, listener.accept())
        .await
        .expect("the agent connects in time")
        .unwrap();
    let stream = tls.accept(stream).await.ok()?;
    let presented = stream.get_ref().1.peer_certificates().unwrap()[0].to_vec();
    let (ws, _) = common::accept_agent(Box::new(stream), true).await;
    let mut other = Controller::over(Link::WebSocket(Box::new(ws?)));
    other.id = OTHER.to_owned();
    Some((other, presented))
}

/// The DER of the PEM certificate `file`.
fn der(file: &Path) -> Vec<u8> {
    use rustls::pki_types::pem::PemObject as _;
    rustls::pki_types::CertificateDer::from_pem_file(file)
        .unwrap()
        .to_vec()
}

async fn renewal() {
    use futures_util::StreamExt as _;
    let dir = tempfile::tempdir().unwrap();
    let (trusted, rogue) = certificates(dir.path());
    ctrl_and_other(&trusted, "late-", make_leaf);
    for name in ["agent1-", "agent2-"] {
        make_leaf(&trusted, "", name, "IP:127.0.0.1");
    }
    // The CRL listing the late- certificates, then the one in use, listing none.
    make_crl(&trusted, "", &["late-", "late-other-"]);
    let revoking = trusted.join("revoking-crl.pem");
    std::fs::rename(trusted.join("crl.pem"), &revoking).unwrap();
    make_crl(&trusted, "", &[]);
    let listing_none = trusted.join("none-crl.pem");
    std::fs::copy(trusted.join("crl.pem"), &listing_none).unwrap();
    // The files the agent reads, in the state directory's parent.
    let (cas, crl) = (dir.path().join("cas.pem"), dir.path().join("crl.pem"));
    let (cert, key) = (
        dir.path().join("agent-cert.pem"),
        dir.path().join("agent-key.pem"),
    );
    std::fs::copy(trusted.join("ca.pem"), &cas).unwrap();
    std::fs::copy(&listing_none, &crl).unwrap();
    std::fs::copy(trusted.join("agent1-cert.pem"), &cert).unwrap();
    std::fs::copy(trusted.join("agent1-key.pem"), &key).unwrap();
    let tls = format!(
        "crl_file = \"{}\"\ncert_file = \"{}\"\nkey_file = \"{}\"\n",
        crl.display(),
        cert.display(),
        key.display()
    );
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let client = ws_client_section(OTHER, &listener);
    let mut agent = wss_agent_with(dir.path(), &trusted, &cas, &tls, &client).await;
    let url = agent.url.clone();
    let ca = trusted.join("ca.pem");
    let late = || connect_as(&url, &ca, &trusted, "late-", CTRL);

    // Before: all accepted; the agent presents its first client certificate.
    let mut late_ctrl = late().await.expect("a certificate no CRL lists");
    let body = late_ctrl.request(get(&[SERIAL])).await;
    assert_eq!(get_params(&body)["SerialNumber"], "SIM0001", "{body}");
    let asking = |name| acceptor_asking(&trusted, name, &ca);
    let (other, presented) = accept_seeing(&listener, &asking("late-other-"))
        .await
        .expect("a server certificate no CRL lists");
    assert_eq!(presented, der(&trusted.join("agent1-cert.pem")));

    // Renewed: a CRL listing the late- certificates, a second CA, a new client certificate.
    let both = trusted.join("both-cas.pem");
    let pems = [ca.clone(), rogue.join("rogue-ca.pem")].map(|f| std::fs::read(f).unwrap());
    std::fs::write(&both, pems.concat()).unwrap();
    replace(&both, &cas);
    replace(&revoking, &crl);
    replace(&trusted.join("agent2-cert.pem"), &cert);
    replace(&trusted.join("agent2-key.pem"), &key);
    agent.signal("HUP");
    agent.wait_line("TLS trust reloaded (SIGHUP)").await;
    // The client's session stays; it reconnects once the server closes it.
    drop(other);

    // The revoked controller's open session is closed; it is refused from now on.
    let closed = tokio::time::timeout(WAIT, async {
        loop {
            match late_ctrl.ws().next().await {
                Some(Ok(tokio_tungstenite::tungstenite::Message::Close(frame))) => break frame,
                Some(Ok(_)) => {}
                other => panic!("no close frame: {other:?}"),
            }
        }
    })
    .await
    .expect("the revoked controller's session closed");
    assert_eq!(u16::from(closed.unwrap().code), 1008);
    agent.wait_line("its certificate revoked").await;
    refused(late(), "a controller certificate revoked by a reload").await;
    let mut ctrl = connect_as(&url, &ca, &trusted, "ctrl-", CTRL)
        .await
        .expect("a certificate the CRL does not list");
    let rows = "Device.Security.CertificateNumberOfEntries";
    let body = ctrl.request(get(&[rows])).await;
    assert_eq!(
        get_params(&body)["CertificateNumberOfEntries"],
        "2",
        "{body}"
    );

    // The wss:// client reconnects: the revoked server refused, the next one sees the new
    // client certificate.
    assert!(
        accept_seeing(&listener, &asking("late-other-"))
            .await
            .is_none()
    );
    let line = agent
        .wait_line("cannot connect to the controller's WebSocket server")
        .await;
    assert!(line.contains("Revoked"), "{line}");
    let (_other, presented) = accept_seeing(&listener, &asking("other-"))
        .await
        .expect("a server certificate the CRL does not list");
    assert_eq!(presented, der(&trusted.join("agent2-cert.pem")));

    // A bad CRL file: the trust stays as it was.
    let bad = trusted.join("bad-crl.pem");
    std::fs::write(
        &bad,
        "-----BEGIN X509 CRL-----\nbm90IGEgQ1JM\n-----END X509 CRL-----\n",
    )
    .unwrap();
    replace(&bad, &crl);
    agent.signal("HUP");
    let line = agent.wait_line("TLS trust not reloaded (SIGHUP)").await;
    assert!(line.contains("CRL file"), "{line}");
    // A CRL naming the agent's CA as its issuer, signed by another key (a CA of the same
    // name): taken, it would refuse every certificate of the CA.
    let impostor = dir.path().join("impostor");
    std::fs::create_dir_all(&impostor).unwrap();
    make_certificates(&impostor, "", false);
    make_crl(&impostor, "", &[]);
    replace(&impostor.join("crl.pem"), &crl);
    agent.signal("HUP");
    let line = agent.wait_line("TLS trust not reloaded (SIGHUP)").await;
    assert!(line.contains("not signed by the CA"), "{line}");
    refused(late(), "a revoked controller accepted after a bad CRL file").await;
    drop(ctrl);
    let mut ctrl = connect_as(&url, &ca, &trusted, "ctrl-", CTRL)
        .await
        .expect("the trust kept");
    let body = ctrl.request(get(&[SERIAL])).await;
    assert_eq!(get_params(&body)["SerialNumber"], "SIM0001", "{body}");

    // A changed file is read on the next hardware tick, without a signal.
    replace(&listing_none, &crl);
    agent.wait_line("TLS trust reloaded (a file changed)").await;
    let mut late_ctrl = late().await.expect("no CRL lists it any more");
    let body = late_ctrl.request(get(&[SERIAL])).await;
    assert_eq!(get_params(&body)["SerialNumber"], "SIM0001", "{body}");
    agent.stop().await;
}

#[tokio::test(flavor = "current_thread")]
async fn the_agent_reaches_mosquitto_over_tls() {
    common::within(Duration::from_secs(60), mqtt_over_tls()).await;
}

async fn mqtt_over_tls() {
    const AGENT_TOPIC: &str = "usp/agent/tls";
    const CTRL_TOPIC: &str = "usp/controller/tls";
    let dir = tempfile::tempdir().unwrap();
    let (trusted, rogue) = certificates(dir.path());
    let (broker, tls_port) = Mosquitto::start_tls(dir.path(), &trusted).await;
    let link = MqttLink::connect(
        broker.port,
        Version::V5,
        "tls-controller",
        AGENT_TOPIC,
        CTRL_TOPIC,
    )
    .await;
    let mut ctrl = Controller::over(Link::Mqtt(link));
    let config = agent_config(dir.path(), tls_port, "5.0", AGENT_TOPIC, CTRL_TOPIC);
    let plain = std::fs::read_to_string(&config).unwrap().replacen(
        "[usp.mqtt]\n",
        "[usp.mqtt]\ntls = true\n",
        1,
    );
    // The broker's certificate also serves as the agent's client certificate (same CA).
    let with_identity = format!(
        "{plain}[tls]\ncert_file = \"{}\"\nkey_file = \"{}\"\n",
        trusted.join("cert.pem").display(),
        trusted.join("key.pem").display()
    );
    let state = dir.path().join("state");
    let start = |ca: PathBuf, text: &str| {
        std::fs::write(&config, text).unwrap();
        let (state, config) = (state.clone(), config.clone());
        async move {
            let ca = ca.to_str().unwrap().to_owned();
            let config = config.to_str().unwrap().to_owned();
            AgentProcess::start(&state, &["--config", &config, "--ca-file", &ca]).await
        }
    };

    // Trusting another CA, the agent refuses the broker.
    let mut agent = start(rogue.join("rogue-ca.pem"), &with_identity).await;
    let line = agent.wait_line("cannot connect to the MQTT broker").await;
    assert!(line.contains("certificate"), "{line}");
    agent.stop().await;

    // Without a client certificate, the broker refuses the agent.
    let mut agent = start(trusted.join("ca.pem"), &plain).await;
    let line = agent.wait_line("cannot connect to the MQTT broker").await;
    assert!(line.contains("alert"), "the broker's TLS alert: {line}");
    agent.stop().await;

    let mut agent = start(trusted.join("ca.pem"), &with_identity).await;
    agent.wait_line("USP MQTT MTP connected").await;
    ctrl.await_connect_record().await;
    let body = ctrl.request(get(&[SERIAL])).await;
    assert_eq!(get_params(&body)["SerialNumber"], "SIM0001", "{body}");
    agent.stop().await;
}
