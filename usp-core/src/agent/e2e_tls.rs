//! TLS payload security of E2E session contexts (TR-369 "Secure Message Exchange", "TLS
//! Payload Encapsulation"; feature `e2e-tls`), and the `mac_signature` of such Records
//! ("Validating the Integrity of the USP Record").
//!
//! rustls is sans-IO already: each session holds a [`rustls::Connection`] fed with the TLS
//! records of the session Records' `payload` entries (`read_tls` on an in-memory slice), and
//! what it writes (`write_tls` into a `Vec`) is cut at TLS record boundaries into the entries
//! of the agent's own session Records. No socket, no clock: certificate validity is checked
//! against the agent's wall clock ([`Agent::set_wall_clock`](super::Agent::set_wall_clock)),
//! handed to rustls through its `TimeProvider`; before the wall clock is known no handshake
//! completes (rustls cannot check a certificate's dates), and the session is failed and
//! retried like any other.
//!
//! What TR-369 asks, and how it is met:
//!
//! - TLS 1.2 with ECDHE-ECDSA-AES128-GCM-SHA256 on P-256 (R-E2E.40), or TLS 1.3 with
//!   TLS_AES_128_GCM_SHA256 on P-256: the crypto provider is ring's, cut down to these two
//!   suites and the one group.
//! - The endpoint that started the session context is the TLS client (R-E2E "Session
//!   Handshake"): a session the controller starts makes the agent the TLS server, one the
//!   agent starts (`SessionMode` `Require`, a restart after a failure, `Reset()`) its client.
//! - Mutual X.509 authentication naming the Endpoint ID in a `urn:bbf:usp:id:` subjectAltName
//!   URI (R-E2E.43): both sides present a certificate chaining to the trust store the driver
//!   gives, which none of the driver's CRLs revokes; once the handshake is done, the peer's end-entity certificate must name the
//!   Record's `from_id`. As a TLS client the agent checks no host name (Endpoint IDs are not
//!   DNS names) and sends no SNI.
//! - No renegotiation (R-E2E.42): rustls never renegotiates, and answers a TLS 1.2
//!   renegotiation request with a `no_renegotiation` warning.
//! - Any TLS failure (a bad record, an alert, a refused certificate) fails the Record, which
//!   restarts the session (R-E2E.41 → "Failure Handling of Received USP Records").
//! - `mac_signature` (R-E2E.32–39, with the key taken as our `FACTS.md` §6 states it for USP
//!   1.4+): HMAC-SHA256 over the Record's non-payload fields in field-number order (Record
//!   fields, then the session context's; integers big-endian, enums as `uint32`, strings and
//!   bytes as they are), keyed with 32 bytes of the TLS exporter `EXPORTER-BBF-USP-Record`
//!   (empty context, 64 bytes: the first 32 key what the TLS client sends, the last 32 what
//!   the server sends). The agent sets it on every Record it sends once the handshake is done,
//!   and verifies it on every Record that carries one from then on; a wrong MAC fails the
//!   Record.
//!
//! - The signature method (R-E2E.29–31), for what no TLS session protects: ECDSA with
//!   SHA-256 on the P-256 key of the agent's certificate, the signature ASN.1 DER-encoded (as
//!   TLS encodes its ECDSA signatures), over the same fields as the HMAC, which include
//!   `sender_cert`: the sender's PEM certificate, set before signing. The agent signs its
//!   PLAINTEXT Records and its TLS Records sent before the handshake is done, unless the
//!   MTP protects them (R-E2E.28: an encrypted MTP whose peer certificate names the
//!   controller; see [`Mtp::protects`]); so are the Connect Records a driver's MTP sends
//!   ([`E2eTls::sign_unprotected`]). It checks the signature of every such Record that
//!   carries one ([`E2eTls::verify_signature`]; a TLS Record's before its TLS records reach
//!   rustls, so that a Record that fails leaves the TLS session as it was).

use std::io::{Read as _, Write as _};
use std::sync::{Arc, Mutex};
use std::vec::Vec;

use base64::Engine as _;
use bytes::Bytes;
use hmac::{Hmac, Mac as _};
use rustls::client::WebPkiServerVerifier;
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::crypto::{CryptoProvider, ring};
use rustls::pki_types::pem::PemObject as _;
use rustls::pki_types::{
    CertificateDer, CertificateRevocationListDer, PrivateKeyDer, ServerName, UnixTime,
};
use rustls::server::WebPkiClientVerifier;
use rustls::sign::Signer;
use rustls::time_provider::TimeProvider;
use rustls::{
    CertificateError, ClientConfig, ClientConnection, Connection, DigitallySignedStruct,
    RootCertStore, ServerConfig, ServerConnection, SignatureScheme,
};
use sha2::Sha256;
use tr181_model::value::DateTime;

use super::Mtp;
use super::session::Failure;
use crate::codec::integrity_input;
use crate::usp_record::Record;

/// The exporter label of the `mac_signature` keys.
const EXPORTER_LABEL: &[u8] = b"EXPORTER-BBF-USP-Record";
/// The URI prefix of an Endpoint ID in a certificate (TR-369 "Endpoint Identifier").
const ENDPOINT_URN: &str = "urn:bbf:usp:id:";
/// A TLS record header: content type, version, length.
const TLS_HEADER: usize = 5;
/// The largest TLS record rustls accepts (2^14 plus the largest expansion); a longer one is
/// refused by rustls too.
const MAX_TLS_RECORD: usize = TLS_HEADER + 16_384 + 2_048;
/// The longest ASN.1 DER ECDSA P-256 signature: a SEQUENCE of two INTEGERs of at most 33
/// bytes each (a leading zero keeps them positive), with their tags and lengths.
const MAX_ECDSA_SIGNATURE: usize = 2 + 2 * (2 + 33);

/// Why the E2E TLS settings could not be made (the driver's certificate, key or trust store).
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum E2eTlsError {
    /// rustls refused the settings (a key that does not match the certificate, a key type
    /// the P-256 suites cannot use).
    #[error("E2E TLS settings: {0}")]
    Settings(#[from] rustls::Error),
    /// The trust store cannot check peers (it is empty), or a CRL does not parse.
    #[error("E2E TLS trust store: {0}")]
    Trust(#[from] rustls::server::VerifierBuilderError),
    /// A certificate revocation list does not parse.
    #[error("E2E TLS CRL: {0}")]
    Crl(#[from] webpki::Error),
}

/// The agent's E2E TLS identity and trust: its certificate chain and key, the CA
/// certificates a controller's certificate must chain to, and the CRLs that revoke
/// certificates. Usually the same as the MTP's (TR-369 does not ask for other ones). Given to
/// the agent with [`Agent::with_e2e_tls`](super::Agent::with_e2e_tls), and replaced with
/// [`Agent::set_e2e_tls`](super::Agent::set_e2e_tls) when the driver reads its files again.
#[derive(Clone, Debug)]
pub struct E2eTls {
    server: Arc<ServerConfig>,
    client: Arc<ClientConfig>,
    clock: Arc<WallClock>,
    /// The trust store, for `sender_cert` (the signature method).
    roots: Arc<RootCertStore>,
    /// The CRLs, for `sender_cert`.
    crls: Arc<[webpki::CertRevocationList<'static>]>,
    algorithms: rustls::crypto::WebPkiSupportedAlgorithms,
    /// The agent's own signature method; `None` when its key is not a P-256 one.
    signer: Option<Arc<RecordSigner>>,
}

/// The agent's key for the signature method (R-E2E.31), and its certificate as it goes in
/// `sender_cert`.
#[derive(Debug)]
struct RecordSigner {
    key: std::boxed::Box<dyn Signer>,
    /// The end-entity certificate, PEM-encoded (TR-369's `sender_cert` is "the PEM encoded
    /// certificate").
    sender_cert: Vec<u8>,
}

impl E2eTls {
    /// Settings presenting `chain` (end entity first, a P-256 key's: the E2E suites are
    /// ECDSA ones) with its private `key`, trusting the CA certificates of `roots`, refusing
    /// every certificate of a peer's chain that one of `crls` lists (DER certificate
    /// revocation lists, each its issuer's; a certificate of a CA without one is not
    /// refused, nor is one whose CRL is past its next update, as the driver's MTP checks do).
    /// The same certificate and key sign the agent's Records where the signature method
    /// applies (see the module docs); with a key of another type they go unsigned.
    ///
    /// # Errors
    ///
    /// [`E2eTlsError`] when rustls refuses the key or the trust store, or a CRL does not
    /// parse.
    pub fn new(
        chain: Vec<CertificateDer<'static>>,
        key: PrivateKeyDer<'static>,
        roots: Arc<RootCertStore>,
        crls: Vec<CertificateRevocationListDer<'static>>,
    ) -> Result<Self, E2eTlsError> {
        let parsed = crls
            .iter()
            .map(|der| webpki::OwnedCertRevocationList::from_der(der).map(Into::into))
            .collect::<Result<Vec<_>, _>>()?;
        let base = ring::default_provider();
        let algorithms = base.signature_verification_algorithms;
        let provider = Arc::new(CryptoProvider {
            cipher_suites: std::vec![
                ring::cipher_suite::TLS13_AES_128_GCM_SHA256,
                ring::cipher_suite::TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256,
            ],
            kx_groups: std::vec![ring::kx_group::SECP256R1],
            ..base
        });
        let signer = ring::sign::any_ecdsa_type(&key)
            .ok()
            .and_then(|key| key.choose_scheme(&[SignatureScheme::ECDSA_NISTP256_SHA256]))
            .zip(chain.first())
            .map(|(key, cert)| {
                Arc::new(RecordSigner {
                    key,
                    sender_cert: pem_certificate(cert),
                })
            });
        let clock = Arc::new(WallClock::default());
        let versions = [&rustls::version::TLS13, &rustls::version::TLS12];
        let client_verifier =
            WebPkiClientVerifier::builder_with_provider(roots.clone(), provider.clone())
                .with_crls(crls.iter().cloned())
                .allow_unknown_revocation_status()
                .build()?;
        let mut server = ServerConfig::builder_with_details(provider.clone(), clock.clone())
            .with_protocol_versions(&versions)?
            .with_client_cert_verifier(client_verifier)
            .with_single_cert(chain.clone(), key.clone_key())?;
        let server_verifier =
            WebPkiServerVerifier::builder_with_provider(roots.clone(), provider.clone())
                .with_crls(crls)
                .allow_unknown_revocation_status()
                .build()?;
        let mut client = ClientConfig::builder_with_details(provider, clock.clone())
            .with_protocol_versions(&versions)?
            .dangerous()
            .with_custom_certificate_verifier(Arc::new(AnyName(server_verifier)))
            .with_client_auth_cert(chain, key)?;
        client.enable_sni = false;
        client.resumption = rustls::client::Resumption::disabled();
        // No resumption either way: every session context runs a full, mutually
        // authenticated handshake.
        server.send_tls13_tickets = 0;
        server.session_storage = Arc::new(rustls::server::NoServerSessionStorage {});
        Ok(Self {
            server: Arc::new(server),
            client: Arc::new(client),
            clock,
            roots,
            crls: parsed.into(),
            algorithms,
            signer,
        })
    }

    /// Signs `record` by the signature method (R-E2E.31): sets `sender_cert` to the agent's
    /// certificate, then `mac_signature` to the ECDSA signature of the fields it covers
    /// (see the module docs). False, `record` unchanged, when the agent has no P-256 key or
    /// the signature fails.
    pub(crate) fn sign_record(&self, record: &mut Record) -> bool {
        let Some(signer) = &self.signer else {
            return false;
        };
        let cert = core::mem::replace(&mut record.sender_cert, signer.sender_cert.clone());
        match signer.key.sign(&integrity_input(record)) {
            Ok(signature) => {
                record.mac_signature = signature;
                true
            }
            Err(_) => {
                record.sender_cert = cert;
                false
            }
        }
    }

    /// Signs `record`, which the driver sends to its `to_id` on `mtp` itself (an MTP's Connect
    /// Record, R-MTP.6), by the signature method unless `mtp` protects it
    /// ([`Mtp::protects`]): the rule the agent follows for its own Records (R-E2E.28/29).
    /// Whether it was signed.
    pub fn sign_unprotected(&self, mtp: &Mtp, record: &mut Record) -> bool {
        !mtp.protects(&record.to_id) && self.sign_record(record)
    }

    /// The most the signature method adds to a Record: the `sender_cert` and the longest
    /// signature; `None` when the agent does not sign.
    pub(crate) fn signature_len(&self) -> Option<(usize, usize)> {
        self.signer
            .as_ref()
            .map(|s| (s.sender_cert.len(), MAX_ECDSA_SIGNATURE))
    }

    /// The signature method of `mac_signature` (R-E2E.31), for PLAINTEXT Records and TLS ones
    /// before the handshake: whether `signature` is an ECDSA P-256 SHA-256 signature (ASN.1
    /// DER) of `signed` by the key of `sender_cert` (DER, or PEM), a certificate that chains
    /// to the trust store for client authentication at the wall clock, that no CRL revokes,
    /// and that names `from` in a `urn:bbf:usp:id:` URI (else anyone could sign with a
    /// certificate of their own). False before the wall clock is known.
    pub(crate) fn verify_signature(
        &self,
        signed: &[u8],
        signature: &[u8],
        sender_cert: &[u8],
        from: &str,
    ) -> bool {
        let der = if sender_cert.starts_with(b"-----BEGIN") {
            match CertificateDer::from_pem_slice(sender_cert) {
                Ok(der) => der,
                Err(_) => return false,
            }
        } else {
            CertificateDer::from(sender_cert.to_vec())
        };
        let Ok(cert) = webpki::EndEntityCert::try_from(&der) else {
            return false;
        };
        let Some(time) = self.clock.current_time() else {
            return false;
        };
        let usage = webpki::KeyUsage::client_auth();
        let roots = &self.roots.roots;
        let crls: Vec<_> = self.crls.iter().collect();
        let revocation = webpki::RevocationOptionsBuilder::new(&crls)
            .ok()
            .map(|crls| {
                crls.with_status_policy(webpki::UnknownStatusPolicy::Allow)
                    .build()
            });
        cert.verify_for_usage(
            self.algorithms.all,
            roots,
            &[],
            time,
            usage,
            revocation,
            None,
        )
        .is_ok()
            && cert.valid_uri_names().any(|uri| names_endpoint(uri, from))
            && cert
                .verify_signature(webpki::ring::ECDSA_P256_SHA256, signed, signature)
                .is_ok()
    }

    /// Sets the time certificates are checked at (the agent's wall clock at its `now`).
    pub(crate) fn set_time(&self, wall: Option<DateTime>) {
        let time = wall
            .and_then(|w| w.unix_micros())
            .and_then(|micros| u64::try_from(micros / 1_000_000).ok())
            .map(|secs| UnixTime::since_unix_epoch(core::time::Duration::from_secs(secs)));
        if let Ok(mut slot) = self.clock.0.lock() {
            *slot = time;
        }
    }
}

/// The wall clock rustls reads through its `TimeProvider`: the one the agent was given,
/// `None` until it is known.
#[derive(Debug, Default)]
struct WallClock(Mutex<Option<UnixTime>>);

impl TimeProvider for WallClock {
    fn current_time(&self) -> Option<UnixTime> {
        self.0.lock().ok().and_then(|time| *time)
    }
}

/// The agent's check of a controller's certificate when the agent is the TLS client: the
/// WebPKI chain and validity checks, without a host name (Endpoint IDs are not DNS names;
/// the Endpoint ID is checked once the handshake is done, [`TlsLink::established`]).
#[derive(Debug)]
struct AnyName(Arc<WebPkiServerVerifier>);

/// The name the agent's client handshakes carry to the verifier (never sent: no SNI).
const NO_NAME: &str = "usp.invalid";

impl ServerCertVerifier for AnyName {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        server_name: &ServerName<'_>,
        ocsp: &[u8],
        now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        // rustls checks the chain, dates and usage first and the name last: a name mismatch
        // is the only error left once the rest passed.
        match self
            .0
            .verify_server_cert(end_entity, intermediates, server_name, ocsp, now)
        {
            Err(rustls::Error::InvalidCertificate(
                CertificateError::NotValidForName | CertificateError::NotValidForNameContext { .. },
            )) => Ok(ServerCertVerified::assertion()),
            other => other,
        }
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.0.verify_tls12_signature(message, cert, dss)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.0.verify_tls13_signature(message, cert, dss)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.0.supported_verify_schemes()
    }
}

/// USP Record error 7104: the TLS data or the `mac_signature` of a Record is not valid.
const ERR_INVALID_RECORD: u32 = 7104;

/// The `mac_signature` keys of an established TLS session.
#[derive(Clone)]
struct MacKeys {
    send: [u8; 32],
    receive: [u8; 32],
}

/// One session's TLS connection: see the [module docs](self).
pub(crate) struct TlsLink {
    conn: Connection,
    /// Present once the handshake is done and the peer's Endpoint ID checked.
    keys: Option<MacKeys>,
    /// Msgs to send once the handshake is done.
    queued: Vec<Vec<u8>>,
}

impl core::fmt::Debug for TlsLink {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("TlsLink")
            .field("established", &self.keys.is_some())
            .field("queued", &self.queued.len())
            .finish_non_exhaustive()
    }
}

impl TlsLink {
    /// The TLS server of a session the controller started.
    pub(crate) fn server(tls: &E2eTls) -> Result<Self, Failure> {
        let conn = ServerConnection::new(tls.server.clone())
            .map_err(|_| (ERR_INVALID_RECORD, "TLS server cannot start"))?;
        Ok(Self::of(Connection::Server(conn)))
    }

    /// The TLS client of a session the agent starts; its ClientHello waits in
    /// [`TlsLink::outgoing`].
    pub(crate) fn client(tls: &E2eTls) -> Result<Self, Failure> {
        const CANNOT: Failure = (ERR_INVALID_RECORD, "TLS client cannot start");
        let name = ServerName::try_from(NO_NAME).map_err(|_| CANNOT)?;
        let conn = ClientConnection::new(tls.client.clone(), name).map_err(|_| CANNOT)?;
        Ok(Self::of(Connection::Client(conn)))
    }

    fn of(conn: Connection) -> Self {
        Self {
            conn,
            keys: None,
            queued: Vec::new(),
        }
    }

    /// Whether the handshake is done and the peer checked.
    pub(crate) const fn is_established(&self) -> bool {
        self.keys.is_some()
    }

    /// Feeds the TLS records of one Record's `payload` entries; returns the plaintext they
    /// carried (bounded by the Record's size: TLS only shrinks what it decrypts).
    pub(crate) fn open(&mut self, payloads: &[Bytes]) -> Result<Vec<u8>, Failure> {
        const BAD: Failure = (ERR_INVALID_RECORD, "TLS record refused");
        let mut plaintext = Vec::new();
        for payload in payloads {
            let mut rest: &[u8] = payload;
            while !rest.is_empty() {
                let read = self.conn.read_tls(&mut rest).map_err(|_| BAD)?;
                self.conn.process_new_packets().map_err(|_| BAD)?;
                self.drain_plaintext(&mut plaintext)?;
                if read == 0 {
                    return Err(BAD);
                }
            }
        }
        Ok(plaintext)
    }

    fn drain_plaintext(&mut self, into: &mut Vec<u8>) -> Result<(), Failure> {
        let mut chunk = [0_u8; 4096];
        loop {
            match self.conn.reader().read(&mut chunk) {
                // close_notify: the peer ended the TLS session, so the session context.
                Ok(0) => return Err((ERR_INVALID_RECORD, "TLS session closed by the peer")),
                Ok(n) => into.extend_from_slice(chunk.get(..n).unwrap_or_default()),
                Err(_) => return Ok(()),
            }
        }
    }

    /// After [`TlsLink::open`]: whether the handshake has just completed. It then checks
    /// that the peer's certificate names `peer` (R-E2E.43) and takes the `mac_signature`
    /// keys.
    pub(crate) fn established(&mut self, peer: &str) -> Result<bool, Failure> {
        if self.keys.is_some() || self.conn.is_handshaking() {
            return Ok(false);
        }
        let names = self
            .conn
            .peer_certificates()
            .and_then(<[_]>::first)
            .and_then(|cert| webpki::EndEntityCert::try_from(cert).ok())
            .is_some_and(|cert| cert.valid_uri_names().any(|uri| names_endpoint(uri, peer)));
        if !names {
            return Err((
                ERR_INVALID_RECORD,
                "the peer's certificate does not name its Endpoint ID",
            ));
        }
        let material = self
            .conn
            .export_keying_material([0_u8; 64], EXPORTER_LABEL, Some(&[]))
            .map_err(|_| (ERR_INVALID_RECORD, "TLS exporter failed"))?;
        let (client, server) = material.split_at(32);
        let (client, server) = (key(client), key(server));
        if hmac(&client).is_none() {
            return Err((ERR_INVALID_RECORD, "no HMAC-SHA256"));
        }
        self.keys = Some(match self.conn {
            Connection::Client(_) => MacKeys {
                send: client,
                receive: server,
            },
            Connection::Server(_) => MacKeys {
                send: server,
                receive: client,
            },
        });
        Ok(true)
    }

    /// Queues a Msg until the handshake is done; false when `max` are queued already.
    pub(crate) fn queue(&mut self, msg: &[u8], max: usize) -> bool {
        if self.queued.len() >= max.max(1) {
            return false;
        }
        self.queued.push(msg.to_vec());
        true
    }

    /// The Msgs queued during the handshake.
    pub(crate) fn take_queued(&mut self) -> Vec<Vec<u8>> {
        core::mem::take(&mut self.queued)
    }

    /// Encrypts a Msg; its TLS records then wait in [`TlsLink::outgoing`].
    pub(crate) fn seal(&mut self, msg: &[u8]) -> Result<(), Failure> {
        self.conn
            .writer()
            .write_all(msg)
            .map_err(|_| (ERR_INVALID_RECORD, "TLS cannot encrypt"))
    }

    /// The TLS records rustls has to send (handshake flights, alerts, encrypted Msgs), one
    /// per entry.
    pub(crate) fn outgoing(&mut self) -> Vec<Vec<u8>> {
        let mut bytes = Vec::new();
        while self.conn.wants_write() {
            if self.conn.write_tls(&mut bytes).unwrap_or(0) == 0 {
                break;
            }
        }
        split_records(&bytes)
    }

    /// The `mac_signature` of a Record to send, once the handshake is done.
    pub(crate) fn sign(&self, record: &Record) -> Option<Vec<u8>> {
        let mut mac = hmac(&self.keys.as_ref()?.send)?;
        mac.update(&integrity_input(record));
        Some(mac.finalize().into_bytes().to_vec())
    }

    /// Checks a received HMAC `mac_signature` over `signed` (see [`integrity_input`]); false
    /// before the handshake is done (a Record from then carries the signature method's,
    /// checked with its `sender_cert` instead).
    pub(crate) fn verify(&self, signed: &[u8], mac_signature: &[u8]) -> bool {
        let Some(keys) = &self.keys else {
            return false;
        };
        let Some(mut mac) = hmac(&keys.receive) else {
            return false;
        };
        mac.update(signed);
        mac.verify_slice(mac_signature).is_ok()
    }
}

fn key(bytes: &[u8]) -> [u8; 32] {
    <[u8; 32]>::try_from(bytes).unwrap_or([0; 32])
}

/// HMAC-SHA256 under `key` (HMAC takes keys of any length: never `None`).
fn hmac(key: &[u8; 32]) -> Option<Hmac<Sha256>> {
    Hmac::new_from_slice(key).ok()
}

/// Whether the subjectAltName URI `uri` is `urn:bbf:usp:id:<endpoint>` (the URN's scheme and
/// namespace are case-insensitive, RFC 8141; the ID is not).
fn names_endpoint(uri: &str, endpoint: &str) -> bool {
    uri.split_at_checked(ENDPOINT_URN.len())
        .is_some_and(|(urn, id)| {
            urn.eq_ignore_ascii_case(ENDPOINT_URN) && !id.is_empty() && id == endpoint
        })
}

/// `cert` in PEM (RFC 7468): base64 lines of 64 characters between the CERTIFICATE labels.
fn pem_certificate(cert: &CertificateDer<'_>) -> Vec<u8> {
    let base64 = base64::engine::general_purpose::STANDARD.encode(cert.as_ref());
    let mut pem = b"-----BEGIN CERTIFICATE-----\n".to_vec();
    for line in base64.as_bytes().chunks(64) {
        pem.extend_from_slice(line);
        pem.push(b'\n');
    }
    pem.extend_from_slice(b"-----END CERTIFICATE-----\n");
    pem
}

/// Cuts rustls's output into TLS records (it writes whole ones); a trailing partial header
/// cannot occur, but would be kept as one entry rather than lost.
fn split_records(mut bytes: &[u8]) -> Vec<Vec<u8>> {
    let mut records = Vec::new();
    while !bytes.is_empty() {
        let length = match bytes.get(3..TLS_HEADER) {
            Some(&[high, low]) => TLS_HEADER + usize::from(u16::from_be_bytes([high, low])),
            _ => bytes.len(),
        };
        let (record, rest) = bytes.split_at(length.min(bytes.len()).min(MAX_TLS_RECORD));
        records.push(record.to_vec());
        bytes = rest;
    }
    records
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn records_are_cut_at_their_headers() {
        let mut bytes = std::vec![23, 3, 3, 0, 2, 0xAA, 0xBB];
        bytes.extend_from_slice(&[22, 3, 3, 0, 1, 0xCC]);
        assert_eq!(
            split_records(&bytes),
            std::vec![
                std::vec![23, 3, 3, 0, 2, 0xAA, 0xBB],
                std::vec![22, 3, 3, 0, 1, 0xCC]
            ]
        );
        assert_eq!(split_records(&[23, 3]), std::vec![std::vec![23, 3]]);
    }

    #[test]
    fn endpoint_uris() {
        assert!(names_endpoint("URN:BBF:USP:ID:self::ctrl", "self::ctrl"));
        assert!(!names_endpoint("urn:bbf:usp:id:self::CTRL", "self::ctrl"));
        assert!(!names_endpoint("urn:bbf:usp:id:", ""));
        assert!(!names_endpoint("urn:x", "self::ctrl"));
    }
}
