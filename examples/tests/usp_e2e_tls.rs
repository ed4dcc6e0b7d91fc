//! USP E2E session contexts with TLS payload security through the `cpe-agent` binary over a
//! plain `ws://` WebSocket (TR-369 "Secure Message Exchange": the Msgs are protected end to
//! end, whatever the MTP). The agent's E2E TLS identity is its `[tls]` client certificate and
//! CA file (made with the `openssl` command, [`common::tls`]).
//!
//! The controller sets its row's `E2ESession.PayloadSecurity` to `TLS` and `SessionMode` to
//! `Require`: the agent starts a session as the TLS client (the endpoint that starts the
//! session context), the controller answers as TLS server with a certificate naming its
//! Endpoint ID, and a Get goes through encrypted, each Msg carried by session Records whose
//! payloads are TLS records. Every wait is bounded.
//!
//! `ws://` does not protect the Records (TR-369 R-E2E.28), so they are signed (R-E2E.29): the
//! agent's PLAINTEXT SetResp and its TLS Records before the handshake by the signature method,
//! checked here with ring and x509-cert against the agent's certificate; the controller's TLS
//! Records before the handshake too, which the agent checks (a refused signature would fail
//! the handshake). The Connect Records are signed by the same rule: over `ws://` and MQTT
//! (through mosquitto), and over `wss://` when the controller's certificate names no Endpoint
//! ID; not when it names the controller (the MTP then protects them).
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

use std::io::{Read as _, Write as _};
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use rusp_lib::usp_builder::{SetBuilder, UpdateObjectBuilder};
use rustls::pki_types::pem::PemObject as _;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use usp_core::codec::{self, RecordBuilder};
use usp_core::usp::{self, body::MsgBody, request::ReqType, response::RespType};
use usp_core::usp_record::record::{PayloadSecurity, RecordType};
use usp_core::usp_record::session_context_record::PayloadSarState;
use usp_core::usp_record::{Record, SessionContextRecord};
use usp_core::{Limits, Msg};

use common::mqtt::{Mosquitto, MqttLink, Version, agent_config};
use common::tls::{connector_as, make_certificates, make_leaf};
use common::{AGENT, AgentProcess, CTRL, Controller, Link, WAIT, s, within};
use x509_cert::der::Decode as _;

/// Whether the agent signed `record` by the signature method (R-E2E.31): its `sender_cert`
/// is the agent's certificate `cert.pem` in PEM, and `mac_signature` an ECDSA P-256 SHA-256
/// signature (ASN.1 DER) of the fields it covers by that certificate's key, checked with
/// ring, not `usp-core` (whose tests check those fields' bytes independently).
fn signed_by_agent(record: &Record, dir: &std::path::Path) -> bool {
    let agent = CertificateDer::from_pem_file(dir.join("cert.pem")).unwrap();
    let sent = CertificateDer::from_pem_slice(&record.sender_cert).unwrap();
    assert_eq!(sent, agent, "sender_cert is the agent's certificate");
    let cert = x509_cert::Certificate::from_der(&sent).unwrap();
    let key = cert
        .tbs_certificate
        .subject_public_key_info
        .subject_public_key
        .raw_bytes();
    ring::signature::UnparsedPublicKey::new(&ring::signature::ECDSA_P256_SHA256_ASN1, key)
        .verify(&codec::integrity_input(record), &record.mac_signature)
        .is_ok()
}

/// The controller as the TLS server of the agent's session: its certificate names its
/// Endpoint ID, and the agent's client certificate must chain to `ca.pem`.
fn tls_server(dir: &std::path::Path) -> rustls::ServerConnection {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut roots = rustls::RootCertStore::empty();
    roots
        .add(CertificateDer::from_pem_file(dir.join("ca.pem")).unwrap())
        .unwrap();
    let verifier = rustls::server::WebPkiClientVerifier::builder_with_provider(
        Arc::new(roots),
        provider.clone(),
    )
    .build()
    .unwrap();
    let chain = vec![CertificateDer::from_pem_file(dir.join("ctrlcert.pem")).unwrap()];
    let key = PrivateKeyDer::from_pem_file(dir.join("ctrlkey.pem")).unwrap();
    let config = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_client_cert_verifier(verifier)
        .with_single_cert(chain, key)
        .unwrap();
    rustls::ServerConnection::new(Arc::new(config)).unwrap()
}

/// The agent's next Record.
async fn next_record(ctrl: &mut Controller) -> Record {
    let bytes = tokio::time::timeout(WAIT, ctrl.link.next())
        .await
        .expect("a Record from the agent in time")
        .expect("the connection stays open");
    codec::decode_record(&bytes, &Limits::default()).unwrap()
}

/// The controller's end of the session.
struct Session {
    tls: rustls::ServerConnection,
    id: u64,
    next_seq: u64,
    expected: u64,
    plaintext: Vec<u8>,
    /// Where the certificates are.
    dir: std::path::PathBuf,
    /// The agent's Records seen signed by the signature method.
    agent_signed: usize,
}

impl Session {
    /// The agent's next session Record in order (resends of earlier ones skipped): feeds its
    /// TLS records, and returns the Msg it completed, if any.
    async fn receive(&mut self, ctrl: &mut Controller) -> Option<Msg> {
        let record = loop {
            let record = next_record(ctrl).await;
            let Some(RecordType::SessionContext(c)) = &record.record_type else {
                continue;
            };
            if c.sequence_id >= self.expected {
                break record;
            }
        };
        assert_eq!(record.payload_security, PayloadSecurity::Tls12 as i32);
        // Before the agent's side of the handshake is done: the signature method; after it,
        // the HMAC (not checked here; `usp-core`'s tests do).
        assert!(!record.mac_signature.is_empty(), "every Record signed");
        if !record.sender_cert.is_empty() {
            assert!(signed_by_agent(&record, &self.dir));
            self.agent_signed += 1;
        }
        let Some(RecordType::SessionContext(c)) = record.record_type else {
            unreachable!()
        };
        assert_eq!(
            c.sequence_id, self.expected,
            "no Record lost on one WebSocket"
        );
        self.id = c.session_id;
        self.expected += 1;
        for payload in &c.payload {
            let mut rest: &[u8] = payload;
            while !rest.is_empty() {
                self.tls.read_tls(&mut rest).unwrap();
                self.tls.process_new_packets().unwrap();
                let mut buf = [0_u8; 4096];
                while let Ok(n) = self.tls.reader().read(&mut buf) {
                    assert!(n > 0, "no close_notify");
                    self.plaintext.extend_from_slice(&buf[..n]);
                }
            }
        }
        let done = [
            PayloadSarState::None as i32,
            PayloadSarState::Complete as i32,
        ];
        if !done.contains(&c.payload_sar_state) || self.plaintext.is_empty() {
            return None;
        }
        let bytes = std::mem::take(&mut self.plaintext);
        Some(codec::decode_msg(&bytes, &Limits::default()).unwrap())
    }

    /// Sends what the TLS server has to say, `msg` sealed in it, in one session Record.
    async fn send(&mut self, ctrl: &mut Controller, msg: Option<&Msg>) {
        if let Some(msg) = msg {
            let mut bytes = Vec::new();
            codec::encode_msg(msg, &mut bytes);
            self.tls.writer().write_all(&bytes).unwrap();
        }
        let mut tls = Vec::new();
        while self.tls.wants_write() {
            self.tls.write_tls(&mut tls).unwrap();
        }
        let mut record: Record = RecordBuilder::new(AGENT, CTRL).session(SessionContextRecord {
            session_id: self.id,
            sequence_id: self.next_seq,
            expected_id: self.expected,
            retransmit_id: 0,
            payload_sar_state: PayloadSarState::None as i32,
            payloadrec_sar_state: PayloadSarState::None as i32,
            payload: vec![Bytes::from(tls)],
        });
        self.next_seq += 1;
        record.payload_security = PayloadSecurity::Tls12 as i32;
        if self.tls.is_handshaking() {
            // The signature method with the controller's certificate, which the agent checks.
            record.sender_cert = std::fs::read(self.dir.join("ctrlcert.pem")).unwrap();
            let key = PrivateKeyDer::from_pem_file(self.dir.join("ctrlkey.pem")).unwrap();
            let key = rustls::crypto::ring::sign::any_ecdsa_type(&key).unwrap();
            let signer = key
                .choose_scheme(&[rustls::SignatureScheme::ECDSA_NISTP256_SHA256])
                .unwrap();
            record.mac_signature = signer.sign(&codec::integrity_input(&record)).unwrap();
        }
        let mut bytes = Vec::new();
        codec::encode_record(&record, &mut bytes);
        ctrl.link.send(bytes).await;
    }
}

#[tokio::test]
async fn the_agent_runs_the_tls_session_the_controller_row_asks_for() {
    within(Duration::from_secs(60), async {
        let dir = tempfile::tempdir().unwrap();
        make_certificates(dir.path(), "", true);
        make_leaf(
            dir.path(),
            "",
            "ctrl",
            "URI:urn:bbf:usp:id:self::controller",
        );
        let config = dir.path().join("agent.toml");
        std::fs::write(&config, tls_section(dir.path())).unwrap();
        let state = dir.path().join("state");
        let agent = AgentProcess::start(&state, &["--config", config.to_str().unwrap()]).await;
        let mut ctrl = Controller::connect(&agent.url).await;
        let require = SetBuilder::new()
            .with_update_objs(vec![
                UpdateObjectBuilder::new(s("Device.LocalAgent.Controller.1.E2ESession."))
                    .with_param_settings(vec![
                        (s("PayloadSecurity"), s("TLS"), true),
                        (s("SessionMode"), s("Require"), true),
                    ]),
            ])
            .build()
            .unwrap();
        ctrl.send("require-tls", require).await;
        // The SetResp (after the WebSocketConnect Record), in a PLAINTEXT no-session Record
        // signed by the agent.
        let reply = loop {
            let record = next_record(&mut ctrl).await;
            let msg = codec::msg_from_no_session(&record, &Limits::default()).unwrap();
            if msg.is_some_and(|m| m.header.is_some_and(|h| h.msg_id == "require-tls")) {
                break record;
            }
        };
        assert!(signed_by_agent(&reply, dir.path()));
        let mut tampered = reply.clone();
        tampered.from_id = "os::someone-else".into();
        assert!(!signed_by_agent(&tampered, dir.path()));
        let mut session = Session {
            tls: tls_server(dir.path()),
            id: 0,
            next_seq: 1,
            expected: 1,
            plaintext: Vec::new(),
            dir: dir.path().to_owned(),
            agent_signed: 0,
        };
        // The agent's ClientHello (a session Record with sequence_id 1), after the SetResp.
        assert!(session.receive(&mut ctrl).await.is_none());
        assert_ne!(session.id, 0);
        // The controller's flight out; the agent's Finished back.
        while session.tls.is_handshaking() {
            session.send(&mut ctrl, None).await;
            assert!(session.receive(&mut ctrl).await.is_none());
        }
        assert!(session.agent_signed > 0, "the ClientHello signed");
        let get = codec::request_msg(
            "e2e-get",
            ReqType::Get(usp::Get {
                param_paths: vec!["Device.DeviceInfo.SerialNumber".into()],
                max_depth: 0,
            }),
        );
        session.send(&mut ctrl, Some(&get)).await;
        let answer = loop {
            if let Some(msg) = session.receive(&mut ctrl).await {
                break msg;
            }
        };
        assert_eq!(answer.header.as_ref().unwrap().msg_id, "e2e-get");
        let Some(MsgBody::Response(usp::Response {
            resp_type: Some(RespType::GetResp(resp)),
        })) = answer.body.and_then(|b| b.msg_body)
        else {
            panic!("expected a GetResp")
        };
        let result = &resp.req_path_results[0].resolved_path_results[0];
        assert_eq!(result.result_params["SerialNumber"], "SIM0001");
        agent.stop().await;
    })
    .await;
}

/// The agent's `[tls]` identity (`cert.pem`, `key.pem`, `ca.pem` of `dir`) as configuration.
fn tls_section(dir: &std::path::Path) -> String {
    let path = |name: &str| dir.join(name).display().to_string();
    format!(
        "[tls]\nca_file = \"{}\"\ncert_file = \"{}\"\nkey_file = \"{}\"\n",
        path("ca.pem"),
        path("cert.pem"),
        path("key.pem")
    )
}

/// The Connect Record an MTP sends first (R-MTP.6), of type `kind` (`WebsocketConnect`…).
async fn connect_record(ctrl: &mut Controller, kind: fn(&RecordType) -> bool) -> Record {
    let record = next_record(ctrl).await;
    assert!(record.record_type.as_ref().is_some_and(kind), "{record:?}");
    record
}

#[tokio::test]
async fn connect_records_are_signed_where_the_mtp_does_not_protect_them() {
    within(Duration::from_secs(60), async {
        // R-E2E.29: neither ws:// nor a broker protects the Records, so the Connect Records
        // the WebSocket server and the MQTT client send are signed by the signature method.
        let dir = tempfile::tempdir().unwrap();
        make_certificates(dir.path(), "", true);
        let broker = Mosquitto::start(dir.path()).await;
        let link = MqttLink::connect(broker.port, Version::V5, "ctrl", "usp/agent", "usp/ctrl");
        let mut mqtt = Controller::over(Link::Mqtt(link.await));
        let config = agent_config(dir.path(), broker.port, "5.0", "usp/agent", "usp/ctrl");
        let mut text = std::fs::read_to_string(&config).unwrap();
        text.push_str(&tls_section(dir.path()));
        std::fs::write(&config, text).unwrap();
        let state = dir.path().join("state");
        let agent = AgentProcess::start(&state, &["--config", config.to_str().unwrap()]).await;
        let mqtt_connect = |t: &RecordType| matches!(t, RecordType::MqttConnect(_));
        let record = connect_record(&mut mqtt, mqtt_connect).await;
        assert!(signed_by_agent(&record, dir.path()), "MqttConnect signed");
        let mut ws = Controller::connect(&agent.url).await;
        let ws_connect = |t: &RecordType| matches!(t, RecordType::WebsocketConnect(_));
        let record = connect_record(&mut ws, ws_connect).await;
        assert!(
            signed_by_agent(&record, dir.path()),
            "WebSocketConnect signed"
        );
        let mut tampered = record;
        tampered.to_id = "os::someone-else".into();
        assert!(!signed_by_agent(&tampered, dir.path()));
        agent.stop().await;
    })
    .await;
}

#[tokio::test]
async fn connect_records_go_unsigned_where_the_mtp_protects_them() {
    within(Duration::from_secs(60), async {
        // R-E2E.28: a wss:// connection whose client certificate names the controller
        // protects its Records, so its WebSocketConnect Record is not signed; one whose
        // certificate names no Endpoint ID does not, so it is.
        let dir = tempfile::tempdir().unwrap();
        make_certificates(dir.path(), "", true);
        make_leaf(
            dir.path(),
            "",
            "ctrl-",
            &format!("IP:127.0.0.1,URI:urn:bbf:usp:id:{CTRL}"),
        );
        make_leaf(dir.path(), "", "anon-", "IP:127.0.0.1");
        let config = dir.path().join("agent.toml");
        let cert = |name: &str| dir.path().join(name).display().to_string();
        let wss = format!(
            "[usp.websocket]\ncert_file = \"{}\"\nkey_file = \"{}\"\n",
            cert("cert.pem"),
            cert("key.pem")
        );
        std::fs::write(&config, tls_section(dir.path()) + &wss).unwrap();
        let state = dir.path().join("state");
        let agent = AgentProcess::start(&state, &["--config", config.to_str().unwrap()]).await;
        assert!(agent.url.starts_with("wss://"), "{}", agent.url);
        let ca = dir.path().join("ca.pem");
        let ws_connect = |t: &RecordType| matches!(t, RecordType::WebsocketConnect(_));
        for (name, signed) in [("ctrl-", false), ("anon-", true)] {
            let tls = connector_as(&ca, Some((dir.path(), name)));
            let mut ctrl = Controller::connect_with(&agent.url, Some(&tls)).await;
            let record = connect_record(&mut ctrl, ws_connect).await;
            if signed {
                assert!(signed_by_agent(&record, dir.path()), "{name}: signed");
            } else {
                assert!(record.mac_signature.is_empty(), "{name}: {record:?}");
                assert!(record.sender_cert.is_empty(), "{name}: {record:?}");
            }
        }
        agent.stop().await;
    })
    .await;
}
