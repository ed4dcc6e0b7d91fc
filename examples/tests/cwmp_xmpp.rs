//! End to end: XMPP connection requests (TR-069 Annex K) to the `cpe-agent` binary through a
//! real XMPP server, Debian's prosody (installed by `.ci/peers`), on a free loopback port with
//! its configuration, accounts and data in a temporary directory.
//!
//! The scripted ACS provisions the connection in the bootstrap session (AddObject of
//! `Device.XMPP.Connection.` and of its `Server.` table, SetParameterValues of the row and of
//! `ManagementServer.ConnReqXMPPConnection`); the agent connects, and the test, playing the
//! ACS's XMPP side as a second client (cwmp-core's client stream over tokio), sends
//! `connectionRequest` IQs: good credentials get an empty result and a session with
//! `6 CONNECTION REQUEST`, wrong ones `not-authorized`, a sender outside
//! `ConnReqAllowedJabberIDs` `service-unavailable`, neither a session. With STARTTLS required
//! by the server (its certificate from a CA made here) the row shows `TLSEstablished` and both
//! clients authenticate with SCRAM-SHA-1 (hashed accounts); over plain TCP with SCRAM-SHA-256,
//! a server restart is followed by a reconnection and `Status` `Enabled` again. With
//! `ServerConnectAlgorithm` `DNS-SRV` the agent asks the test's nameserver (`[cwmp]
//! dns_server`, answering with simple-dns) for `_xmpp-client._tcp.localhost`, whose SRV
//! records name a dead port first and prosody's port second: it tries them in that order.
//! Every wait is bounded.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    // The test's XMPP client runs on the real clock, as the agent's does.
    clippy::disallowed_methods,
    missing_docs
)]

mod common;

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use cwmp_core::codec::{AddObject, Body, ParameterValue, SetParameterValues, Status, ValueType};
use cwmp_core::connreq::xmpp::XMPP_CONN_REQ_NS;
use cwmp_core::connreq::xmpp_client::{XmppClient, XmppClientConfig, XmppEvent};
use rustls::pki_types::ServerName;
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
use tokio::net::{TcpStream, UdpSocket};
use tokio_rustls::TlsConnector;

use common::tls::{Io, connector, make_certificates, make_leaf};
use common::{Acs, AgentProcess, WAIT, codes, free_port, gpv, param, within};

const DOMAIN: &str = "localhost";
const CR_USER: &str = "xmpp-cr-user";
const CR_PASS: &str = "xmpp-cr-pass";
const CPE_JID: &str = "cpe@localhost/cwmp";
const ROW: &str = "Device.XMPP.Connection.1.";
const JID_PARAM: &str = "Device.ManagementServer.ConnReqJabberID";

/// A prosody server of the test's own.
struct Prosody {
    dir: PathBuf,
    config: PathBuf,
    port: u16,
    child: Option<Child>,
}

impl Prosody {
    /// Writes the configuration into `dir`, registers the users `cpe` and `acs`, and starts
    /// the server. `require_tls`: STARTTLS is mandatory (the certificate `xmppcert.pem` of
    /// `dir`) and the accounts are stored hashed, for SCRAM-SHA-1 alone (and PLAIN, which
    /// the clients do not choose); else plain streams may authenticate and the passwords are
    /// stored as they are, for SCRAM-SHA-256 too.
    async fn start(dir: &Path, require_tls: bool) -> Self {
        let port = free_port();
        let data = dir.join("prosody-data");
        std::fs::create_dir_all(&data).unwrap();
        let tls = if require_tls {
            format!(
                "ssl = {{ certificate = {:?}; key = {:?}; }}\n",
                dir.join("xmppcert.pem"),
                dir.join("xmppkey.pem")
            )
        } else {
            String::new()
        };
        let config = dir.join("prosody.cfg.lua");
        std::fs::write(
            &config,
            format!(
                r#"-- The test's own server: loopback only, no server-to-server, accounts in {data:?}.
run_as_root = true
pidfile = {pid:?}
data_path = {data:?}
log = {{ {{ levels = {{ min = "info" }}, to = "console" }} }}
interfaces = {{ "127.0.0.1" }}
c2s_ports = {{ {port} }}
c2s_direct_tls_ports = {{ }}
s2s_ports = {{ }}
http_ports = {{ }}
https_ports = {{ }}
modules_enabled = {{ "roster"; "saslauth"; "tls"; "disco"; "ping"; "posix" }}
modules_disabled = {{ "s2s"; "offline" }}
authentication = "{authentication}"
c2s_require_encryption = {require_tls}
allow_unencrypted_plain_auth = {plain}
{tls}
VirtualHost "{DOMAIN}"
"#,
                pid = dir.join("prosody.pid"),
                plain = !require_tls,
                authentication = if require_tls {
                    "internal_hashed"
                } else {
                    "internal_plain"
                },
            ),
        )
        .unwrap();
        let mut prosody = Self {
            dir: dir.to_owned(),
            config,
            port,
            child: None,
        };
        prosody.register("cpe", "cpe-pass");
        prosody.register("acs", "acs-pass");
        prosody.run().await;
        prosody
    }

    fn register(&self, user: &str, password: &str) {
        let output = Command::new("prosodyctl")
            .arg("--config")
            .arg(&self.config)
            .args(["register", user, DOMAIN, password])
            .output()
            .expect("prosodyctl (installed by .ci/peers)");
        assert!(
            output.status.success(),
            "prosodyctl register {user}: {}{}",
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        );
    }

    /// Starts the server and waits until it accepts connections.
    async fn run(&mut self) {
        let log = std::fs::File::create(self.dir.join("prosody.log")).unwrap();
        let child = Command::new("prosody")
            .arg("--config")
            .arg(&self.config)
            .arg("-F")
            .stdout(log.try_clone().unwrap())
            .stderr(log)
            .stdin(Stdio::null())
            .spawn()
            .expect("prosody (installed by .ci/peers)");
        self.child = Some(child);
        let deadline = Instant::now() + WAIT;
        while TcpStream::connect(("127.0.0.1", self.port)).await.is_err() {
            assert!(
                Instant::now() < deadline,
                "prosody did not listen: {}",
                std::fs::read_to_string(self.dir.join("prosody.log")).unwrap_or_default()
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// Stops the server (SIGTERM: it closes its streams) and waits for it to exit.
    async fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = Command::new("kill")
                .args(["-TERM", &child.id().to_string()])
                .status();
            let deadline = Instant::now() + WAIT;
            while child.try_wait().unwrap().is_none() {
                if Instant::now() > deadline {
                    let _ = child.kill();
                }
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
        }
    }
}

impl Drop for Prosody {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

/// The test's XMPP client: the ACS side.
struct Peer {
    stream: Box<dyn Io>,
    client: XmppClient,
    jid: String,
}

impl Peer {
    /// Connects as `acs@localhost/<resource>`, through STARTTLS with `tls` when given.
    async fn connect(port: u16, resource: &str, tls: Option<&TlsConnector>) -> Self {
        let config = XmppClientConfig::new("acs", "acs-pass", DOMAIN, resource)
            .with_tls(tls.is_some(), tls.is_some());
        let stream: Box<dyn Io> = Box::new(TcpStream::connect(("127.0.0.1", port)).await.unwrap());
        let mut peer = Self {
            stream,
            // The test's nonce need not be random: the server's half is.
            client: XmppClient::new(config, [0x5a; 18]),
            jid: String::new(),
        };
        loop {
            match peer.next_event().await {
                XmppEvent::StartTls => {
                    let stream = std::mem::replace(&mut peer.stream, Box::new(tokio::io::empty()));
                    let name = ServerName::try_from(DOMAIN).unwrap();
                    let tls = tls.unwrap().connect(name, stream).await.unwrap();
                    peer.stream = Box::new(tls);
                    peer.client.handle_tls_established();
                }
                XmppEvent::Bound { jid } => {
                    peer.jid = jid;
                    return peer;
                }
                other => panic!("unexpected {other:?} while connecting"),
            }
        }
    }

    /// Sends what the client has, then reads until it has an event.
    async fn next_event(&mut self) -> XmppEvent {
        let mut buffer = vec![0_u8; 16 * 1024];
        loop {
            while let Some(bytes) = self.client.poll_transmit() {
                self.stream.write_all(&bytes).await.unwrap();
            }
            self.stream.flush().await.unwrap();
            if let Some(event) = self.client.poll_event() {
                return event;
            }
            let n = tokio::time::timeout(WAIT, self.stream.read(&mut buffer))
                .await
                .expect("the XMPP server answered in time")
                .unwrap();
            assert!(n > 0, "the XMPP server closed the connection");
            self.client
                .handle_data(Instant::now(), &buffer[..n])
                .unwrap();
        }
    }

    /// Sends a connection request to the CPE and returns its reply (the next stanza of the
    /// same id; presence stanzas are skipped).
    async fn connection_request(&mut self, id: &str, user: &str, password: &str) -> String {
        self.client.send_stanza(&format!(
            "<iq type='get' id='{id}' to='{CPE_JID}'><connectionRequest xmlns='{XMPP_CONN_REQ_NS}'>\
             <username>{user}</username><password>{password}</password></connectionRequest></iq>"
        ));
        loop {
            match self.next_event().await {
                XmppEvent::Stanza(stanza) if stanza_id(&stanza).as_deref() == Some(id) => {
                    return stanza;
                }
                XmppEvent::Stanza(_) => {}
                other => panic!("unexpected {other:?}"),
            }
        }
    }
}

/// The `id` of a stanza (the server may write it with either quote).
fn stanza_id(stanza: &str) -> Option<String> {
    let doc = roxmltree::Document::parse(stanza).ok()?;
    doc.root_element().attribute("id").map(str::to_owned)
}

fn string(name: &str, value: &str) -> ParameterValue {
    ParameterValue::new(name, value, ValueType::String)
}

/// How the agent finds the XMPP server.
enum Route {
    /// `ServerTable`, its one row `127.0.0.1:port`.
    Table(u16),
    /// `DNS-SRV`, one attempt per target; the server row stays disabled.
    Srv,
}

/// Queues the provisioning of the XMPP connection for the bootstrap session: the row with
/// one server entry, the server found by `route`, referenced by `ConnReqXMPPConnection`,
/// with only the ACS's `acs@localhost/acs` allowed to send connection requests.
fn provision(acs: &Acs, route: Route, use_tls: bool) {
    acs.push(Body::AddObject(AddObject {
        object_name: "Device.XMPP.Connection.".into(),
        parameter_key: String::new(),
    }));
    acs.push(Body::AddObject(AddObject {
        object_name: format!("{ROW}Server."),
        parameter_key: String::new(),
    }));
    let ms = "Device.ManagementServer.";
    let mut list = vec![
        string(&format!("{ROW}Username"), "cpe"),
        string(&format!("{ROW}Password"), "cpe-pass"),
        string(&format!("{ROW}Domain"), DOMAIN),
        string(&format!("{ROW}Resource"), "cwmp"),
        string(&format!("{ROW}Server.1.ServerAddress"), "127.0.0.1"),
        string(
            &format!("{ms}ConnReqXMPPConnection"),
            "Device.XMPP.Connection.1",
        ),
        string(&format!("{ms}ConnReqAllowedJabberIDs"), "acs@localhost/acs"),
    ];
    let (algorithm, attempts) = match route {
        Route::Table(port) => {
            list.push(ParameterValue::new(
                format!("{ROW}Server.1.Enable"),
                "true",
                ValueType::Boolean,
            ));
            let port = ParameterValue::new(
                format!("{ROW}Server.1.Port"),
                port.to_string(),
                ValueType::UnsignedInt,
            );
            list.push(port);
            ("ServerTable", "16")
        }
        Route::Srv => ("DNS-SRV", "1"),
    };
    list.push(string(&format!("{ROW}ServerConnectAlgorithm"), algorithm));
    for (name, value, kind) in [
        ("Enable", "true", ValueType::Boolean),
        ("UseTLS", &use_tls.to_string(), ValueType::Boolean),
        ("ServerRetryInitialInterval", "1", ValueType::UnsignedInt),
        ("ServerRetryMaxInterval", "2", ValueType::UnsignedInt),
        ("ServerConnectAttempts", attempts, ValueType::UnsignedInt),
    ] {
        list.push(ParameterValue::new(format!("{ROW}{name}"), value, kind));
    }
    acs.push(Body::SetParameterValues(SetParameterValues {
        parameter_list: list,
        parameter_key: "xmpp".into(),
    }));
}

/// Starts the agent on `acs` and runs the bootstrap session with the provisioning; then the
/// agent connects, and publishes its JID in `ConnReqJabberID`, whose forced active
/// notification starts a `4 VALUE CHANGE` session. Returns the agent and its "connection up"
/// log line.
async fn bootstrap(
    acs: &mut Acs,
    state: &Path,
    ca: Option<&Path>,
    config: Option<&Path>,
) -> (AgentProcess, String) {
    let mut args = vec![
        "--acs-url",
        &acs.url,
        "--cr-port",
        "0",
        "--cr-username",
        CR_USER,
        "--cr-password",
        CR_PASS,
    ];
    let ca = ca.map(|ca| ca.to_str().unwrap().to_owned());
    if let Some(ca) = &ca {
        args.extend(["--ca-file", ca]);
    }
    let config = config.map(|config| config.to_str().unwrap().to_owned());
    if let Some(config) = &config {
        args.extend(["--config", config]);
    }
    let mut agent = AgentProcess::start(state, &args).await;
    let inform = acs.next_inform().await;
    assert!(codes(&inform).contains(&"0 BOOTSTRAP".to_owned()));
    assert!(acs.next_post().await.is_none(), "the CPE's empty POST");
    for _ in 0..2 {
        match acs.next_post().await.map(|e| e.body) {
            Some(Body::AddObjectResponse(r)) => assert_eq!(r.instance_number.get(), 1),
            other => panic!("expected AddObjectResponse, got {other:?}"),
        }
    }
    match acs.next_post().await.map(|e| e.body) {
        Some(Body::SetParameterValuesResponse(r)) => assert_eq!(r.status, Status::Applied),
        other => panic!("expected SetParameterValuesResponse, got {other:?}"),
    }
    agent.wait_line("CWMP session ended").await;
    let up = agent.wait_line("XMPP connection up").await;
    assert!(up.contains(&format!("jid={CPE_JID}")), "{up}");
    let inform = acs.next_inform().await;
    assert_eq!(codes(&inform), ["4 VALUE CHANGE"]);
    assert_eq!(
        param(&inform.parameter_list, JID_PARAM),
        Some(CPE_JID),
        "{:?}",
        inform.parameter_list
    );
    assert!(acs.next_post().await.is_none(), "the CPE's empty POST");
    agent.wait_line("CWMP session ended").await;
    (agent, up)
}

/// Sends a good connection request from `peer` and checks the reply, the session it starts
/// and, in it, the row's status as the ACS reads it.
async fn connection_request_session(acs: &mut Acs, peer: &mut Peer, id: &str, tls: bool) {
    let names = [
        "Status",
        "JabberID",
        "TLSEstablished",
        "LastChangeDate",
        "Stats.ReceivedMessages",
        "Stats.TransmittedMessages",
    ]
    .map(|name| format!("{ROW}{name}"));
    let mut asked: Vec<&str> = names.iter().map(String::as_str).collect();
    asked.push(JID_PARAM);
    acs.push(gpv(&asked));
    let reply = peer.connection_request(id, CR_USER, CR_PASS).await;
    let doc = roxmltree::Document::parse(&reply).unwrap();
    let iq = doc.root_element();
    assert_eq!(iq.attribute("type"), Some("result"), "{reply}");
    assert_eq!(iq.attribute("from"), Some(CPE_JID), "{reply}");
    assert!(!iq.has_children(), "{reply}");
    let inform = acs.next_inform().await;
    assert!(
        codes(&inform).contains(&"6 CONNECTION REQUEST".to_owned()),
        "{:?}",
        codes(&inform)
    );
    assert!(acs.next_post().await.is_none(), "the CPE's empty POST");
    let values = match acs.next_post().await.map(|e| e.body) {
        Some(Body::GetParameterValuesResponse(r)) => r.parameter_list,
        other => panic!("expected GetParameterValuesResponse, got {other:?}"),
    };
    assert_eq!(param(&values, &names[0]), Some("Enabled"));
    assert_eq!(param(&values, &names[1]), Some(CPE_JID));
    assert_eq!(param(&values, &names[2]), Some(tls.to_string().as_str()));
    assert_ne!(param(&values, &names[3]), Some("0001-01-01T00:00:00Z"));
    assert_eq!(param(&values, JID_PARAM), Some(CPE_JID));
    // At least the bind result and this request in, the bind, the presence and the reply out.
    let count = |name: &str| param(&values, name).unwrap().parse::<u32>().unwrap();
    assert!(count(&names[4]) >= 2, "{values:?}");
    assert!(count(&names[5]) >= 3, "{values:?}");
}

/// The stanza error condition of a reply.
fn condition(reply: &str) -> String {
    let doc = roxmltree::Document::parse(reply).unwrap();
    let iq = doc.root_element();
    assert_eq!(iq.attribute("type"), Some("error"), "{reply}");
    let error = iq.children().find(|n| n.has_tag_name("error")).unwrap();
    assert_eq!(error.attribute("type"), Some("cancel"));
    let condition = error.children().find(|n| n.is_element()).unwrap();
    assert_eq!(
        condition.tag_name().namespace(),
        Some("urn:ietf:params:xml:ns:xmpp-stanzas")
    );
    condition.tag_name().name().to_owned()
}

#[tokio::test]
async fn starttls_connection_requests_and_refusals() {
    within(Duration::from_secs(120), async {
        let dir = tempfile::tempdir().unwrap();
        make_certificates(dir.path(), "", false);
        make_leaf(dir.path(), "", "xmpp", "DNS:localhost");
        let prosody = Prosody::start(dir.path(), true).await;
        let mut acs = Acs::start().await;
        provision(&acs, Route::Table(prosody.port), true);
        let state = dir.path().join("state");
        let ca = dir.path().join("ca.pem");
        let (mut agent, up) = bootstrap(&mut acs, &state, Some(&ca), None).await;
        assert!(up.contains("tls=true"), "{up}");
        assert!(up.contains("mechanism=SCRAM-SHA-1"), "{up}");

        let tls = connector(&ca);
        let mut peer = Peer::connect(prosody.port, "acs", Some(&tls)).await;
        assert_eq!(peer.jid, "acs@localhost/acs");
        assert_eq!(peer.client.mechanism(), Some("SCRAM-SHA-1"));
        let sessions = acs.connections.load(Ordering::SeqCst);
        // Wrong credentials, then a sender that is not allowed (the right credentials).
        let reply = peer.connection_request("bad1", CR_USER, "guess").await;
        assert_eq!(condition(&reply), "not-authorized");
        agent.wait_line("outcome=NotAuthorized").await;
        let mut stranger = Peer::connect(prosody.port, "other", Some(&tls)).await;
        let reply = stranger.connection_request("bad2", CR_USER, CR_PASS).await;
        assert_eq!(condition(&reply), "service-unavailable");
        agent.wait_line("outcome=ServiceUnavailable").await;

        connection_request_session(&mut acs, &mut peer, "good1", true).await;
        agent.wait_line("CWMP session ended").await;
        agent.stop().await;
        // One session: the refused requests started none.
        assert_eq!(acs.connections.load(Ordering::SeqCst), sessions + 1);
    })
    .await;
}

#[tokio::test]
async fn plain_stream_survives_a_server_restart() {
    within(Duration::from_secs(120), async {
        let dir = tempfile::tempdir().unwrap();
        let mut prosody = Prosody::start(dir.path(), false).await;
        let mut acs = Acs::start().await;
        provision(&acs, Route::Table(prosody.port), false);
        let state = dir.path().join("state");
        let (mut agent, up) = bootstrap(&mut acs, &state, None, None).await;
        assert!(up.contains("tls=false"), "{up}");
        assert!(up.contains("mechanism=SCRAM-SHA-256"), "{up}");

        prosody.stop().await;
        agent.wait_line("XMPP connection: ").await;
        prosody.run().await;
        agent.wait_line("XMPP connection up").await;
        // The same JID again: no new VALUE CHANGE, the next session is the request's.

        let mut peer = Peer::connect(prosody.port, "acs", None).await;
        assert_eq!(peer.client.mechanism(), Some("SCRAM-SHA-256"));
        connection_request_session(&mut acs, &mut peer, "after-restart", false).await;
        agent.wait_line("CWMP session ended").await;
        agent.stop().await;
    })
    .await;
}

/// A nameserver on a loopback UDP port: the SRV records `records` (priority, port; target
/// `localhost`) for `_xmpp-client._tcp.localhost`, "no such name" for any other question.
/// Returns its address and the count of queries for the XMPP name.
async fn nameserver(records: Vec<(u16, u16)>) -> (std::net::SocketAddr, Arc<AtomicUsize>) {
    use simple_dns::rdata::{RData, SRV};
    use simple_dns::{CLASS, Name, Packet, QTYPE, RCODE, ResourceRecord, TYPE};

    let socket = UdpSocket::bind("127.0.0.1:0").await.unwrap();
    let address = socket.local_addr().unwrap();
    let asked = Arc::new(AtomicUsize::new(0));
    let counter = asked.clone();
    tokio::spawn(async move {
        let mut buffer = [0_u8; 512];
        loop {
            let (n, from) = socket.recv_from(&mut buffer).await.unwrap();
            let query = Packet::parse(&buffer[..n]).unwrap();
            let question = &query.questions[0];
            let ours = question.qname.to_string() == "_xmpp-client._tcp.localhost"
                && question.qtype == QTYPE::TYPE(TYPE::SRV);
            let qname = question.qname.clone();
            let mut reply = query.clone().into_reply();
            if ours {
                counter.fetch_add(1, Ordering::SeqCst);
                for &(priority, port) in &records {
                    let srv = SRV {
                        priority,
                        weight: 0,
                        port,
                        target: Name::new_unchecked("localhost"),
                    };
                    let record = ResourceRecord::new(qname.clone(), CLASS::IN, 60, RData::SRV(srv));
                    reply.answers.push(record);
                }
            } else {
                *reply.rcode_mut() = RCODE::NameError;
            }
            let bytes = reply.build_bytes_vec().unwrap();
            socket.send_to(&bytes, from).await.unwrap();
        }
    });
    (address, asked)
}

#[tokio::test]
async fn dns_srv_targets_in_priority_order() {
    within(Duration::from_secs(120), async {
        let dir = tempfile::tempdir().unwrap();
        let prosody = Prosody::start(dir.path(), false).await;
        // Nothing listens on the first target: the agent goes on to the second.
        let dead = free_port();
        let (dns, asked) = nameserver(vec![(20, prosody.port), (10, dead)]).await;
        let config = dir.path().join("cpe-agent.toml");
        std::fs::write(&config, format!("[cwmp]\ndns_server = \"{dns}\"\n")).unwrap();
        let mut acs = Acs::start().await;
        provision(&acs, Route::Srv, false);
        let state = dir.path().join("state");
        let (mut agent, up) = bootstrap(&mut acs, &state, None, Some(&config)).await;
        assert!(up.contains("tls=false"), "{up}");
        assert!(asked.load(Ordering::SeqCst) >= 1);
        let refused = agent.skipped_line("XMPP connection: ").unwrap();
        assert!(
            refused.contains(&format!("\"localhost\", {dead}")),
            "the priority-10 target first: {refused}"
        );

        let mut peer = Peer::connect(prosody.port, "acs", None).await;
        connection_request_session(&mut acs, &mut peer, "via-srv", false).await;
        agent.wait_line("CWMP session ended").await;
        agent.stop().await;
    })
    .await;
}
