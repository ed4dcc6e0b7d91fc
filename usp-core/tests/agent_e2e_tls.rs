//! E2E session contexts with TLS payload security (TR-369 "Secure Message Exchange", feature
//! `e2e-tls`) against the simulated device. The test is the controller, with a rustls
//! connection of its own and its own `mac_signature` code (R-E2E.32.1 written out again):
//! the TLS 1.3 and TLS 1.2 handshakes through session Records, a Get round trip inside the
//! TLS session, a large GetResp segmented over TLS records cut across Records
//! (`payloadrec_sar_state`), a tampered `mac_signature` and refused certificates failing the
//! session, a session the agent starts as TLS client, PLAINTEXT sessions unchanged, and the
//! signature method (R-E2E.29–31): ECDSA signatures of PLAINTEXT Records and of TLS Records
//! sent before the handshake is done, checked by the agent with their `sender_cert`, and the
//! agent's own checked here independently of the crate (ring's ECDSA verification with the
//! public key x509-cert reads from the agent's `sender_cert`).
//!
//! Certificates: `tests/fixtures/e2e-tls/` (see its README).
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

#[path = "common/harness.rs"]
mod harness;

use std::io::{Read as _, Write as _};
use std::path::PathBuf;
use std::sync::Arc;

use bytes::Bytes;
use harness::{AGENT, CTRL, Harness};
use hmac::{Hmac, Mac as _};
use prost::Message as _;
use rustls::pki_types::pem::PemObject as _;
use rustls::pki_types::{CertificateDer, CertificateRevocationListDer, PrivateKeyDer};
use rustls::{ClientConfig, ClientConnection, Connection, RootCertStore, ServerConfig};
use sha2::Sha256;
use tr181_model::value::DateTime;
use usp_core::agent::{Agent, AgentEvent, E2eTls, Mtp, MtpKind, SessionStatus};
use usp_core::codec::{self, RecordBuilder};
use usp_core::usp::{self, body::MsgBody, request::ReqType, response::RespType};
use usp_core::usp_record::record::{PayloadSecurity, RecordType};
use usp_core::usp_record::session_context_record::PayloadSarState;
use usp_core::usp_record::{Record, SessionContextRecord};
use usp_core::{Limits, Msg};
use x509_cert::der::Decode as _;

const E2E: &str = "Device.LocalAgent.Controller.1.E2ESession.";
/// 2030-01-01T00:00:00Z, inside the fixtures' validity.
const WALL: i64 = 1_893_456_000_000_000;

fn fixture(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join(format!("tests/fixtures/e2e-tls/{name}"))
}

fn chain(name: &str) -> Vec<CertificateDer<'static>> {
    vec![CertificateDer::from_pem_file(fixture(&format!("{name}.pem"))).unwrap()]
}

fn key(name: &str) -> PrivateKeyDer<'static> {
    PrivateKeyDer::from_pem_file(fixture(&format!("{name}-key.pem"))).unwrap()
}

fn roots(ca: &str) -> Arc<RootCertStore> {
    let mut roots = RootCertStore::empty();
    roots
        .add(CertificateDer::from_pem_file(fixture(&format!("{ca}.pem"))).unwrap())
        .unwrap();
    Arc::new(roots)
}

fn provider() -> Arc<rustls::crypto::CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

/// The harness's agent with E2E TLS settings (its `agent.pem`, trusting `ca.pem`) and a wall
/// clock.
async fn tls_harness() -> Harness {
    let mut h = Harness::new().await;
    let settings = E2eTls::new(chain("agent"), key("agent"), roots("ca"), Vec::new()).unwrap();
    let agent = std::mem::replace(&mut h.agent, Agent::new(harness::config()));
    h.agent = agent.with_e2e_tls(settings);
    h.agent
        .set_wall_clock(h.now, DateTime::from_unix_micros(WALL));
    h
}

/// The agent's E2E TLS settings (its `agent.pem`) trusting `ca.pem` and `crl-ca.pem`, which
/// signed `revoked.pem` (naming the controller) and the CRL `revoked-crl.pem` listing it;
/// with that CRL when `revoking`.
fn crl_ca_settings(revoking: bool) -> E2eTls {
    let mut roots = RootCertStore::empty();
    for ca in ["ca.pem", "crl-ca.pem"] {
        roots
            .add(CertificateDer::from_pem_file(fixture(ca)).unwrap())
            .unwrap();
    }
    let crls = revoking
        .then(|| CertificateRevocationListDer::from_pem_file(fixture("revoked-crl.pem")).unwrap());
    E2eTls::new(
        chain("agent"),
        key("agent"),
        Arc::new(roots),
        crls.into_iter().collect(),
    )
    .unwrap()
}

/// The controller as TLS client (it starts the session), presenting `identity`'s
/// certificate; TLS 1.2 only when `tls12`.
fn client(identity: &str, tls12: bool) -> Connection {
    let versions: &[&rustls::SupportedProtocolVersion] = if tls12 {
        &[&rustls::version::TLS12]
    } else {
        &[&rustls::version::TLS13]
    };
    let config = ClientConfig::builder_with_provider(provider())
        .with_protocol_versions(versions)
        .unwrap()
        .with_root_certificates(roots("ca"))
        .with_client_auth_cert(chain(identity), key(identity))
        .unwrap();
    let name = "agent.test".try_into().unwrap();
    Connection::Client(ClientConnection::new(Arc::new(config), name).unwrap())
}

/// The controller as TLS server (the agent started the session).
fn server() -> Connection {
    let verifier =
        rustls::server::WebPkiClientVerifier::builder_with_provider(roots("ca"), provider())
            .build()
            .unwrap();
    let config = ServerConfig::builder_with_provider(provider())
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_client_cert_verifier(verifier)
        .with_single_cert(chain("controller"), key("controller"))
        .unwrap();
    Connection::Server(rustls::ServerConnection::new(Arc::new(config)).unwrap())
}

/// The bytes `mac_signature` covers (R-E2E.32/32.1), written out independently of the crate.
fn signed_fields(record: &Record) -> Vec<u8> {
    let mut out = Vec::new();
    out.extend(record.version.bytes());
    out.extend(record.to_id.bytes());
    out.extend(record.from_id.bytes());
    out.extend((record.payload_security as u32).to_be_bytes());
    out.extend(&record.sender_cert);
    out.extend(record.originator_id.bytes());
    out.extend(record.destination_id.bytes());
    if let Some(RecordType::SessionContext(c)) = &record.record_type {
        for id in [c.session_id, c.sequence_id, c.expected_id, c.retransmit_id] {
            out.extend(id.to_be_bytes());
        }
        out.extend((c.payload_sar_state as u32).to_be_bytes());
        out.extend((c.payloadrec_sar_state as u32).to_be_bytes());
    }
    out
}

fn mac(key: &[u8], record: &Record) -> Vec<u8> {
    let mut mac = Hmac::<Sha256>::new_from_slice(key).unwrap();
    mac.update(&signed_fields(record));
    mac.finalize().into_bytes().to_vec()
}

/// Cuts a TLS byte stream into its records.
fn tls_records(mut bytes: &[u8]) -> Vec<Bytes> {
    let mut out = Vec::new();
    while !bytes.is_empty() {
        let length = 5 + usize::from(u16::from_be_bytes([bytes[3], bytes[4]]));
        out.push(Bytes::copy_from_slice(&bytes[..length]));
        bytes = &bytes[length..];
    }
    out
}

/// R-E2E.31 checked independently of the crate: whether `record`'s `mac_signature` is an
/// ECDSA P-256 SHA-256 signature (ASN.1 DER) of its non-payload fields by the key of its
/// `sender_cert`, which must be the agent's certificate in PEM.
fn signed_by_agent(record: &Record) -> bool {
    assert!(
        record
            .sender_cert
            .starts_with(b"-----BEGIN CERTIFICATE-----\n")
    );
    let der = CertificateDer::from_pem_slice(&record.sender_cert).unwrap();
    assert_eq!(
        der,
        chain("agent")[0],
        "sender_cert is the agent's certificate"
    );
    let cert = x509_cert::Certificate::from_der(&der).unwrap();
    let spki = &cert.tbs_certificate.subject_public_key_info;
    let key = spki.subject_public_key.raw_bytes();
    ring::signature::UnparsedPublicKey::new(&ring::signature::ECDSA_P256_SHA256_ASN1, key)
        .verify(&signed_fields(record), &record.mac_signature)
        .is_ok()
}

/// The controller's end of a TLS session.
struct Peer {
    conn: Connection,
    session_id: u64,
    next_seq: u64,
    expected: u64,
    /// Sign by the signature method until the handshake is done (else unsigned then).
    signs: bool,
    /// The agent's Records seen signed by the signature method.
    agent_signed: usize,
    /// The `mac_signature` keys (send, receive) once the handshake is done.
    keys: Option<(Vec<u8>, Vec<u8>)>,
    /// The Msg being received.
    plaintext: Vec<u8>,
    /// Index into `h.sent` of the next Record to read.
    read: usize,
}

impl Peer {
    fn new(conn: Connection, session_id: u64, read: usize) -> Self {
        Self {
            conn,
            session_id,
            next_seq: 1,
            expected: 1,
            signs: false,
            agent_signed: 0,
            keys: None,
            plaintext: Vec::new(),
            read,
        }
    }

    /// Takes the keys once the handshake is done (label and split as `FACTS.md` §6 says).
    fn update_keys(&mut self) {
        if self.keys.is_some() || self.conn.is_handshaking() {
            return;
        }
        let material = self
            .conn
            .export_keying_material([0_u8; 64], b"EXPORTER-BBF-USP-Record", Some(&[]))
            .unwrap();
        let (client, server) = (material[..32].to_vec(), material[32..].to_vec());
        self.keys = Some(match self.conn {
            Connection::Client(_) => (client, server),
            Connection::Server(_) => (server, client),
        });
    }

    /// One session Record carrying what the TLS connection has to send, with `msg` written
    /// into it first; MACed once the handshake is done, before by the signature method if
    /// `signs`.
    fn record(&mut self, msg: Option<&Msg>) -> Record {
        if let Some(msg) = msg {
            let mut bytes = Vec::new();
            codec::encode_msg(msg, &mut bytes);
            self.conn.writer().write_all(&bytes).unwrap();
        }
        let mut bytes = Vec::new();
        while self.conn.wants_write() {
            self.conn.write_tls(&mut bytes).unwrap();
        }
        let seq = self.next_seq;
        self.next_seq += 1;
        let mut record = RecordBuilder::new(AGENT, CTRL).session(SessionContextRecord {
            session_id: self.session_id,
            sequence_id: seq,
            expected_id: self.expected,
            retransmit_id: 0,
            payload_sar_state: PayloadSarState::None as i32,
            payloadrec_sar_state: PayloadSarState::None as i32,
            payload: tls_records(&bytes),
        });
        record.payload_security = PayloadSecurity::Tls12 as i32;
        if let Some((send, _)) = &self.keys {
            record.mac_signature = mac(send, &record);
        } else if self.signs {
            record = signed(record, "controller", der("controller"));
        }
        record
    }

    async fn send(&mut self, h: &mut Harness, msg: Option<&Msg>) {
        let record = self.record(msg);
        h.feed(&harness::encode(&record)).await;
    }

    /// Reads the agent's new session Records: checks them (TLS12, MAC once the handshake is
    /// done, SAR states), feeds their TLS records and returns the Msgs they completed.
    fn receive(&mut self, h: &Harness) -> Vec<Msg> {
        let mut msgs = Vec::new();
        let mut fragment: Vec<u8> = Vec::new();
        for sent in &h.sent[self.read..] {
            let Some(RecordType::SessionContext(c)) = &sent.record.record_type else {
                panic!("not a session Record: {:?}", sent.record);
            };
            assert_eq!(c.session_id, self.session_id);
            assert_eq!(c.sequence_id, self.expected, "in order, none missing");
            self.expected += 1;
            assert_eq!(sent.record.payload_security, PayloadSecurity::Tls12 as i32);
            let rec_state = PayloadSarState::try_from(c.payloadrec_sar_state).unwrap();
            for payload in &c.payload {
                match rec_state {
                    PayloadSarState::None => self.feed(payload),
                    PayloadSarState::Begin | PayloadSarState::Inprocess => {
                        fragment.extend_from_slice(payload);
                    }
                    PayloadSarState::Complete => {
                        fragment.extend_from_slice(payload);
                        let whole = std::mem::take(&mut fragment);
                        assert_eq!(tls_records(&whole).len(), 1, "one TLS record, reassembled");
                        self.feed(&whole);
                    }
                }
            }
            let state = PayloadSarState::try_from(c.payload_sar_state).unwrap();
            if matches!(state, PayloadSarState::None | PayloadSarState::Complete) {
                assert!(fragment.is_empty(), "no TLS record left cut");
                if !self.plaintext.is_empty() {
                    let bytes = std::mem::take(&mut self.plaintext);
                    msgs.push(codec::decode_msg(&bytes, &Limits::default()).unwrap());
                }
            }
            // Checked after the TLS records: the one ending the handshake is already signed.
            self.update_keys();
            // R-E2E.29/30: the MTP does not protect the Records, so each is signed: by the
            // HMAC once the agent's side of the handshake is done (before or after ours),
            // by the signature method before.
            assert!(!sent.record.mac_signature.is_empty(), "every Record signed");
            if sent.record.sender_cert.is_empty() {
                let (_, receive) = self.keys.as_ref().expect("a MAC only once TLS is up");
                assert_eq!(sent.record.mac_signature, mac(receive, &sent.record));
            } else {
                assert!(signed_by_agent(&sent.record), "{:?}", sent.record);
                self.agent_signed += 1;
            }
        }
        msgs
    }

    fn feed(&mut self, tls: &[u8]) {
        let mut rest = tls;
        while !rest.is_empty() {
            self.conn.read_tls(&mut rest).unwrap();
            self.conn.process_new_packets().unwrap();
            let mut buf = [0_u8; 4096];
            while let Ok(n) = self.conn.reader().read(&mut buf) {
                assert!(n > 0, "no close_notify");
                self.plaintext.extend_from_slice(&buf[..n]);
            }
        }
    }

    /// Drives the handshake the controller started to its end: ClientHello, the agent's
    /// answer (a HelloRetryRequest first, the controller offering X25519 before P-256), ...,
    /// the controller's Finished.
    async fn handshake(&mut self, h: &mut Harness) {
        for _ in 0..3 {
            self.send(h, None).await;
            assert!(self.receive(h).is_empty());
            self.read = h.sent.len();
            if !self.conn.is_handshaking() {
                self.update_keys();
                return;
            }
        }
        panic!("no handshake: {:?}", h.events);
    }

    /// A request and its answer.
    async fn request(&mut self, h: &mut Harness, msg_id: &str, req: ReqType) -> Vec<Msg> {
        self.send(h, Some(&codec::request_msg(msg_id, req))).await;
        for sent in &h.sent[self.read..] {
            assert!(
                !sent.record.mac_signature.is_empty(),
                "signed once TLS is up"
            );
        }
        let msgs = self.receive(h);
        self.read = h.sent.len();
        msgs
    }
}

fn get(path: &str) -> ReqType {
    ReqType::Get(usp::Get {
        param_paths: vec![path.into()],
        max_depth: 0,
    })
}

fn get_resp(msg: &Msg) -> &usp::GetResp {
    match msg.body.as_ref().and_then(|b| b.msg_body.as_ref()) {
        Some(MsgBody::Response(usp::Response {
            resp_type: Some(RespType::GetResp(resp)),
        })) => resp,
        other => panic!("expected a GetResp, got {other:?}"),
    }
}

fn failures(h: &Harness) -> Vec<(u32, String)> {
    h.events
        .iter()
        .filter_map(|e| match e {
            AgentEvent::SessionFailed { code, reason, .. } => Some((*code, reason.clone())),
            _ => None,
        })
        .collect()
}

/// Whether `h.sent[from..]` carries any Msg readable without the TLS keys: none may.
fn no_plaintext_msg(h: &Harness, from: usize) -> bool {
    h.sent[from..].iter().all(|s| match &s.record.record_type {
        Some(RecordType::SessionContext(c)) => c
            .payload
            .iter()
            .all(|p| codec::decode_msg(p, &Limits::default()).is_err()),
        Some(RecordType::Disconnect(_)) => true,
        _ => false,
    })
}

#[tokio::test]
async fn a_tls13_session_carries_a_get_round_trip() {
    let mut h = tls_harness().await;
    let mut peer = Peer::new(client("controller", false), 77, h.sent.len());
    peer.handshake(&mut h).await;
    assert_eq!(
        peer.conn.negotiated_cipher_suite().unwrap().suite(),
        rustls::CipherSuite::TLS13_AES_128_GCM_SHA256
    );
    assert_eq!(h.agent.session_status(CTRL), SessionStatus::Up);
    let before = h.sent.len();
    let msgs = peer
        .request(&mut h, "get-1", get("Device.DeviceInfo.SerialNumber"))
        .await;
    assert_eq!(msgs.len(), 1);
    let resp = get_resp(&msgs[0]);
    let result = &resp.req_path_results[0].resolved_path_results[0];
    assert_eq!(result.result_params["SerialNumber"], "SIM0001");
    assert!(no_plaintext_msg(&h, before), "the GetResp went encrypted");
    assert!(failures(&h).is_empty(), "{:?}", failures(&h));
}

#[tokio::test]
async fn a_tls12_session_uses_ecdhe_ecdsa_aes128_gcm() {
    let mut h = tls_harness().await;
    let mut peer = Peer::new(client("controller", true), 78, h.sent.len());
    peer.handshake(&mut h).await;
    assert_eq!(
        peer.conn.negotiated_cipher_suite().unwrap().suite(),
        rustls::CipherSuite::TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256
    );
    let msgs = peer
        .request(&mut h, "get-2", get("Device.DeviceInfo."))
        .await;
    assert_eq!(msgs.len(), 1);
    assert!(!get_resp(&msgs[0]).req_path_results.is_empty());
    assert!(failures(&h).is_empty(), "{:?}", failures(&h));
}

#[tokio::test]
async fn a_large_get_resp_is_segmented_across_tls_records() {
    let mut h = tls_harness().await;
    h.device_set(&format!("{E2E}MaxUSPRecordSize"), "1000")
        .await;
    let mut peer = Peer::new(client("controller", false), 79, h.sent.len());
    peer.handshake(&mut h).await;
    let before = h.sent.len();
    let msgs = peer.request(&mut h, "get-all", get("Device.")).await;
    assert_eq!(msgs.len(), 1);
    assert!(get_resp(&msgs[0]).encoded_len() > 20_000, "a large answer");
    let records = &h.sent[before..];
    assert!(records.len() > 20, "segmented: {} Records", records.len());
    let mut cut = 0;
    for sent in records {
        assert!(sent.record.encoded_len() <= 1000, "within MaxUSPRecordSize");
        if let Some(RecordType::SessionContext(c)) = &sent.record.record_type {
            cut += usize::from(c.payloadrec_sar_state == PayloadSarState::Begin as i32);
        }
    }
    assert!(
        cut > 0,
        "TLS records larger than a Record were cut (payloadrec_sar_state)"
    );
    assert!(failures(&h).is_empty(), "{:?}", failures(&h));
}

#[tokio::test]
async fn a_tampered_mac_signature_fails_the_record() {
    let mut h = tls_harness().await;
    let mut peer = Peer::new(client("controller", false), 80, h.sent.len());
    peer.handshake(&mut h).await;
    let msg = codec::request_msg("tampered", get("Device.DeviceInfo.SerialNumber"));
    let mut record = peer.record(Some(&msg));
    // The MAC was made over expected_id 1; the Record now says 5.
    if let Some(RecordType::SessionContext(c)) = &mut record.record_type {
        c.expected_id = 5;
    }
    let before = h.sent.len();
    h.feed(&harness::encode(&record)).await;
    assert_eq!(
        failures(&h),
        vec![(7104, "mac_signature does not match".to_owned())]
    );
    // No GetResp: the agent restarted the session instead (its own, new id).
    let restarted = h.sent[before..]
        .iter()
        .filter_map(|s| match &s.record.record_type {
            Some(RecordType::SessionContext(c)) => Some(c.session_id),
            _ => None,
        })
        .collect::<Vec<_>>();
    assert!(!restarted.is_empty() && restarted.iter().all(|id| *id != 80));
}

/// Asserts that the agent refuses the certificate of `identity` in session `session_id`: the
/// session fails (7104) and no Msg goes out in the clear.
async fn refuses_certificate(h: &mut Harness, identity: &str, session_id: u64) {
    let mut peer = Peer::new(client(identity, false), session_id, h.sent.len());
    // The client's side is done once it has the agent's flight; its certificate goes next.
    peer.handshake(h).await;
    peer.send(h, Some(&codec::request_msg("m", get("Device."))))
        .await;
    let failed = failures(h);
    assert_eq!(failed.len(), 1, "{failed:?}");
    assert_eq!(failed[0].0, 7104);
    assert!(no_plaintext_msg(h, peer.read));
}

#[tokio::test]
async fn a_certificate_of_another_ca_is_refused() {
    let mut h = tls_harness().await;
    // The controller's certificate, signed by a CA the agent does not trust.
    refuses_certificate(&mut h, "impostor", 81).await;
}

#[tokio::test]
async fn a_certificate_naming_another_endpoint_is_refused() {
    let mut h = tls_harness().await;
    let mut peer = Peer::new(client("stranger", false), 82, h.sent.len());
    peer.handshake(&mut h).await;
    peer.send(&mut h, Some(&codec::request_msg("m", get("Device."))))
        .await;
    assert_eq!(
        failures(&h),
        vec![(
            7104,
            "the peer's certificate does not name its Endpoint ID".to_owned()
        )]
    );
    assert!(no_plaintext_msg(&h, peer.read));
}

#[tokio::test]
async fn the_agent_starts_a_tls_session_as_client() {
    let mut h = tls_harness().await;
    h.device_set(&format!("{E2E}PayloadSecurity"), "TLS").await;
    let before = h.sent.len();
    h.device_set(&format!("{E2E}SessionMode"), "Require").await;
    h.drive().await;
    let first = &h.sent[before];
    let Some(RecordType::SessionContext(c)) = &first.record.record_type else {
        panic!("expected the agent's session Record")
    };
    assert_eq!(c.sequence_id, 1);
    assert_eq!(h.agent.session_status(CTRL), SessionStatus::Negotiating);
    let mut peer = Peer::new(server(), c.session_id, before);
    // ClientHello in, the controller's flight out, the agent's Finished in.
    assert!(peer.receive(&h).is_empty());
    peer.read = h.sent.len();
    peer.send(&mut h, None).await;
    assert!(peer.receive(&h).is_empty());
    peer.read = h.sent.len();
    peer.update_keys();
    assert!(!peer.conn.is_handshaking());
    let msgs = peer
        .request(&mut h, "get-3", get("Device.DeviceInfo.SerialNumber"))
        .await;
    assert_eq!(msgs.len(), 1);
    get_resp(&msgs[0]);
    assert_eq!(h.agent.session_status(CTRL), SessionStatus::Up);
    assert!(failures(&h).is_empty(), "{:?}", failures(&h));
}

/// The first Record of a PLAINTEXT session `session_id`, carrying `msg`.
fn plaintext_session(session_id: u64, msg: &Msg) -> Record {
    let mut payload = Vec::new();
    codec::encode_msg(msg, &mut payload);
    RecordBuilder::new(AGENT, CTRL).session(SessionContextRecord {
        session_id,
        sequence_id: 1,
        expected_id: 1,
        retransmit_id: 0,
        payload_sar_state: PayloadSarState::None as i32,
        payloadrec_sar_state: PayloadSarState::None as i32,
        payload: vec![payload.into()],
    })
}

#[tokio::test]
async fn plaintext_sessions_are_unchanged_and_tls_needs_a_session() {
    let mut h = tls_harness().await;
    // A PLAINTEXT session: the Msg in the clear, signed by the signature method.
    let msg = codec::request_msg("plain", get("Device.DeviceInfo.SerialNumber"));
    let record = plaintext_session(90, &msg);
    let before = h.sent.len();
    h.feed(&harness::encode(&record)).await;
    let reply = &h.sent[before].record;
    assert_eq!(reply.payload_security, PayloadSecurity::Plaintext as i32);
    assert!(signed_by_agent(reply));
    let Some(RecordType::SessionContext(c)) = &reply.record_type else {
        panic!("expected a session Record")
    };
    get_resp(&codec::decode_msg(&c.payload[0], &Limits::default()).unwrap());
    // A TLS12 Record without a session context: 7102 (R-E2E.41).
    let mut record = RecordBuilder::new(AGENT, CTRL).no_session(&msg);
    record.payload_security = PayloadSecurity::Tls12 as i32;
    let before = h.sent.len();
    h.feed(&harness::encode(&record)).await;
    assert!(harness::is_disconnect(&h.sent[before].record, 7102));
    assert!(signed_by_agent(&h.sent[before].record), "a Disconnect too");
}

/// A PLAINTEXT Record signed as R-E2E.31 says: ECDSA P-256 SHA-256 over the non-payload
/// fields, by `signer`'s key, with `sender_cert`.
fn signed(mut record: Record, signer: &str, sender_cert: Vec<u8>) -> Record {
    record.sender_cert = sender_cert;
    let key = rustls::crypto::ring::sign::any_ecdsa_type(&key(signer)).unwrap();
    let signer = key
        .choose_scheme(&[rustls::SignatureScheme::ECDSA_NISTP256_SHA256])
        .unwrap();
    record.mac_signature = signer.sign(&signed_fields(&record)).unwrap();
    record
}

fn der(name: &str) -> Vec<u8> {
    chain(name)[0].to_vec()
}

#[tokio::test]
async fn plaintext_signatures_are_checked_with_sender_cert() {
    let mut h = tls_harness().await;
    let msg = codec::request_msg("signed", get("Device.DeviceInfo.SerialNumber"));
    let plain = RecordBuilder::new(AGENT, CTRL).no_session(&msg);
    let pem = std::fs::read(fixture("controller.pem")).unwrap();
    // Signed by the controller, its certificate as DER or PEM: answered.
    for cert in [der("controller"), pem] {
        let before = h.sent.len();
        h.feed(&harness::encode(&signed(plain.clone(), "controller", cert)))
            .await;
        get_resp(&h.sent[before].msg().unwrap());
    }
    let ignored = |h: &Harness| {
        h.events
            .iter()
            .filter(|e| {
                matches!(
                    e,
                    AgentEvent::RecordIgnored {
                        reason: usp_core::agent::IgnoreReason::BadSignature,
                        ..
                    }
                )
            })
            .count()
    };
    // A field changed after signing; a certificate of another CA; one naming another
    // endpoint; no certificate: ignored, unanswered.
    let mut changed = signed(plain.clone(), "controller", der("controller"));
    changed.version = "1.3".into();
    let refused = [
        changed,
        signed(plain.clone(), "impostor", der("impostor")),
        signed(plain.clone(), "stranger", der("stranger")),
        signed(plain.clone(), "controller", Vec::new()),
    ];
    let before = h.sent.len();
    for (n, record) in refused.iter().enumerate() {
        h.feed(&harness::encode(record)).await;
        assert_eq!(ignored(&h), n + 1);
    }
    assert_eq!(h.sent.len(), before, "nothing answered");
    // A PLAINTEXT session Record with a wrong signature fails the session.
    let mut bad = signed(plaintext_session(91, &msg), "controller", der("controller"));
    bad.mac_signature[10] ^= 1;
    h.feed(&harness::encode(&bad)).await;
    assert_eq!(
        failures(&h),
        vec![(
            7104,
            "mac_signature does not verify with sender_cert".to_owned()
        )]
    );
}

#[tokio::test]
async fn the_agent_signs_its_plaintext_records_unless_the_mtp_protects_them() {
    let mut h = tls_harness().await;
    let msg = codec::request_msg("unsigned", get("Device.DeviceInfo.SerialNumber"));
    let request = harness::encode(&RecordBuilder::new(AGENT, CTRL).no_session(&msg));
    let before = h.sent.len();
    h.feed(&request).await;
    let reply = h.sent[before].clone();
    get_resp(&reply.msg().unwrap());
    assert!(signed_by_agent(&reply.record));
    // A covered field changed, or the signature: the check fails. (The payload is not
    // covered, R-E2E.32: PLAINTEXT leaves it to the MTP.)
    let mut to = reply.record.clone();
    to.to_id = "self::other".into();
    let mut security = reply.record.clone();
    security.payload_security = PayloadSecurity::Tls12 as i32;
    let mut signature = reply.record.clone();
    let last = signature.mac_signature.len() - 1;
    signature.mac_signature[last] ^= 1;
    for tampered in [to, security, signature] {
        assert!(!signed_by_agent(&tampered), "{tampered:?}");
    }
    // An MTP that authenticated the controller by its certificate protects the Records
    // (R-E2E.28): unsigned.
    h.mtp = Mtp::new(MtpKind::Mqtt, "ctrl/reply").with_authenticated(vec![CTRL.into()]);
    let before = h.sent.len();
    h.feed(&request).await;
    let reply = &h.sent[before].record;
    assert!(reply.mac_signature.is_empty() && reply.sender_cert.is_empty());
}

#[tokio::test]
async fn a_plaintext_round_trip_is_signed_both_ways() {
    let mut h = tls_harness().await;
    // No session: the controller signs its Get (PEM certificate), the agent its GetResp.
    let msg = codec::request_msg("signed-get", get("Device.DeviceInfo.SerialNumber"));
    let pem = std::fs::read(fixture("controller.pem")).unwrap();
    let request = signed(
        RecordBuilder::new(AGENT, CTRL).no_session(&msg),
        "controller",
        pem,
    );
    let before = h.sent.len();
    h.feed(&harness::encode(&request)).await;
    assert_eq!(h.sent.len(), before + 1);
    assert!(signed_by_agent(&h.sent[before].record));
    get_resp(&h.sent[before].msg().unwrap());
    // A PLAINTEXT session segmented to MaxUSPRecordSize: each Record of a large GetResp
    // stays within it with its certificate and signature, and is signed.
    h.device_set(&format!("{E2E}MaxUSPRecordSize"), "1500")
        .await;
    let msg = codec::request_msg("signed-all", get("Device."));
    let request = signed(plaintext_session(92, &msg), "controller", der("controller"));
    let before = h.sent.len();
    h.feed(&harness::encode(&request)).await;
    let records = &h.sent[before..];
    assert!(records.len() > 10, "segmented: {} Records", records.len());
    let mut payload = Vec::new();
    for sent in records {
        assert!(sent.record.encoded_len() <= 1500, "within MaxUSPRecordSize");
        assert!(signed_by_agent(&sent.record));
        let Some(RecordType::SessionContext(c)) = &sent.record.record_type else {
            panic!("expected a session Record")
        };
        payload.extend_from_slice(&c.payload[0]);
    }
    get_resp(&codec::decode_msg(&payload, &Limits::default()).unwrap());
    assert!(failures(&h).is_empty(), "{:?}", failures(&h));
}

#[tokio::test]
async fn tls_records_before_the_handshake_are_signed_and_checked() {
    // TLS 1.3 (the agent's side of the handshake ends on the controller's MACed Finished)
    // and TLS 1.2 (it ends on the controller's Finished sent before its side ended, so
    // signed by the signature method).
    for tls12 in [false, true] {
        let mut h = tls_harness().await;
        let mut peer = Peer::new(client("controller", tls12), 83, h.sent.len());
        peer.signs = true;
        peer.handshake(&mut h).await;
        assert!(peer.agent_signed > 0, "the agent's flight signed");
        let msgs = peer
            .request(&mut h, "get-signed", get("Device.DeviceInfo.SerialNumber"))
            .await;
        assert_eq!(msgs.len(), 1);
        assert!(
            failures(&h).is_empty(),
            "TLS 1.2 {tls12}: {:?}",
            failures(&h)
        );
    }
}

#[tokio::test]
async fn a_bad_signature_before_the_handshake_fails_the_record() {
    // Signed with a certificate of another CA; a field changed after signing.
    for impostor in [true, false] {
        let mut h = tls_harness().await;
        let mut peer = Peer::new(client("controller", false), 84, h.sent.len());
        let record = peer.record(None);
        let record = if impostor {
            signed(record, "impostor", der("impostor"))
        } else {
            let mut record = signed(record, "controller", der("controller"));
            record.version = "1.3".into();
            record
        };
        let before = h.sent.len();
        h.feed(&harness::encode(&record)).await;
        assert_eq!(
            failures(&h),
            vec![(
                7104,
                "mac_signature does not verify with sender_cert".to_owned()
            )]
        );
        // The ClientHello was not answered: the agent restarted the session instead.
        assert!(h.sent.len() > before);
        for sent in &h.sent[before..] {
            let Some(RecordType::SessionContext(c)) = &sent.record.record_type else {
                panic!("expected the agent's session Record")
            };
            assert_ne!(c.session_id, 84);
        }
    }
}

#[tokio::test]
async fn a_controller_certificate_a_crl_revokes_is_refused_from_the_next_session() {
    let mut h = tls_harness().await;
    h.agent.set_e2e_tls(Some(crl_ca_settings(false)));
    let mut peer = Peer::new(client("revoked", false), 85, h.sent.len());
    peer.handshake(&mut h).await;
    let msgs = peer
        .request(&mut h, "get-before", get("Device.DeviceInfo.SerialNumber"))
        .await;
    assert_eq!(msgs.len(), 1, "accepted before its CA's CRL is given");
    assert!(failures(&h).is_empty(), "{:?}", failures(&h));

    // The driver read its files again: the CRL lists the certificate.
    h.agent.set_e2e_tls(Some(crl_ca_settings(true)));
    refuses_certificate(&mut h, "revoked", 86).await;

    // So is a PLAINTEXT Record it signs (the signature method checks sender_cert the same).
    let msg = codec::request_msg("signed", get("Device.DeviceInfo.SerialNumber"));
    let plain = RecordBuilder::new(AGENT, CTRL).no_session(&msg);
    let before = h.sent.len();
    h.feed(&harness::encode(&signed(
        plain.clone(),
        "revoked",
        der("revoked"),
    )))
    .await;
    assert_eq!(
        h.sent.len(),
        before,
        "a revoked sender_cert is not answered"
    );
    h.agent.set_e2e_tls(Some(crl_ca_settings(false)));
    h.feed(&harness::encode(&signed(plain, "revoked", der("revoked"))))
        .await;
    get_resp(&h.sent[before].msg().unwrap());
}
