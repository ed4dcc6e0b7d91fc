//! TLS for every connection of the agent, on rustls with the ring provider: one trust store
//! ([`Trust`]) for all its clients — the `https://` ACS, `https://` downloads and bulk data,
//! the `wss://` WebSocket client, MQTT over TLS and XMPP STARTTLS — with the agent's client
//! certificate for servers that ask for one (`[tls] cert_file` and `key_file`: an MQTT
//! broker or a controller authenticating the agent), and the server certificate of the
//! `wss://` WebSocket server ([`acceptor`]), which requires a client certificate of the CA
//! file (TR-369 R-MTP.1: the agent requires the controller's certificate), or one it trusts
//! on first use (below).
//!
//! The same client certificate, CAs and CRLs are the USP agent's E2E session TLS settings
//! ([`Trust::e2e_tls`]: TR-369 TLS payload security inside session contexts, whatever the MTP;
//! usp-core checks those certificates at the agent's wall clock).
//!
//! A certificate names USP endpoints by `urn:bbf:usp:id:<endpoint id>` subjectAltName URIs
//! (TR-369 "Endpoint Identifier"); [`PeerIds`] holds them, so that the MTP accepts from such a
//! peer only Records whose `from_id` is one of them.
//!
//! The CA certificates are also the agent's `Device.Security.Certificate.{i}.` rows
//! ([`Trust::cas`], see `controller_trust.rs`), and a peer's certificate carries the one that
//! validated it to the agent ([`PeerIds::mtp`]), whose `ControllerTrust.Credential.{i}.` rows
//! give the controller its inherited roles.
//!
//! # Which CAs
//!
//! An operator's servers are often signed by the operator's own CA: the PEM file `[tls]
//! ca_file`, when configured, is all the clients trust. Without it they trust the system's
//! CA certificates, as the firmware's distribution ships them (an ACS on a public CA just
//! works; `SSL_CERT_FILE` and `SSL_CERT_DIR` point elsewhere), read at start and at each
//! reload (below). The
//! system's CAs never authenticate controllers: a public CA says who holds a domain, not who
//! may manage the device. So without a CA file the `wss://` server does not start
//! ([`NO_CONTROLLER_CAS`]), there are no E2E session TLS settings and no certificate rows.
//!
//! Server certificates are checked by rustls's WebPKI verifier: chain, validity, and the
//! `subjectAltName` against the host the URL names (which may be an IP address).
//!
//! # Revocation
//!
//! `[tls] crl_file` holds PEM certificate revocation lists (each signed by the CA whose
//! certificates it lists, which must allow `cRLSign`). Every certificate of a peer's chain
//! that a CRL of its issuer lists is refused, by the server and client checks alike (the
//! `wss://` server refuses it even on first use). A certificate of a CA the file has no CRL
//! of is not refused (its status is unknown), nor is one whose CRL is past its next update:
//! the file is what the operator last published, and a router must not lock itself out when
//! a refresh is late. usp-core's E2E session TLS gets the same CRLs, and checks them the same
//! way (handshakes and the `sender_cert` of signed Records).
//!
//! # Renewal
//!
//! Operators rotate the files (the CRL daily or weekly, the certificates before they
//! expire), and a router should not reboot for it: the agent reads all of them again on
//! `SIGHUP` ([`Trust::reload`]), and when one of them changed (modification time or length,
//! looked at on every hardware tick, [`Trust::files_changed`]). Replace a file by renaming
//! the new one over it, so that the agent never reads it half written. A reload is whole
//! or nothing: an unreadable file, a bad PEM, a CA file without a certificate, a key that does
//! not match its certificate, a CRL that does not parse or that is not signed by the CA of
//! the CA file it names (which would refuse every certificate of that CA) keeps the trust as
//! it was and logs why (the file is read again when it next changes, or on the next
//! `SIGHUP`).
//!
//! A reload applies to every connection made from then on: the ACS client, downloads and
//! uploads, bulk data, the `wss://` client, MQTT, STOMP and XMPP reconnections, and the
//! `wss://` server's next handshakes (its own certificate files read again too), with a new
//! TLS session cache, so that no session resumes under the old trust. Established connections
//! keep the session they made, except the `wss://` server's: one whose controller
//! certificate a reloaded CRL lists is closed (policy, 1008), as TR-369 wants a revoked
//! controller gone, not merely kept from coming back. The USP agent's E2E sessions that start
//! from then on use the new settings ([`Agent::set_e2e_tls`]); established ones keep their
//! handshake. The `Device.Security.Certificate.{i}.` and `Device.LocalAgent.Certificate.{i}.`
//! rows follow a changed CA file (`controller_trust.rs`).
//!
//! [`Agent::set_e2e_tls`]: usp_core::agent::Agent::set_e2e_tls
//!
//! # Before real time is known
//!
//! A router often boots without real time (no RTC, NTP not answered yet): its clock reads
//! 1970, or the time it last saved. TR-369 R-MTP.2 lets an agent set up MTP TLS before it has
//! accurate absolute time, and then it MUST ignore the parts of the received certificates
//! that involve absolute time (not-valid-before, not-valid-after); once it has accurate time,
//! R-MTP.3 says it MUST check them (R-SEC.19/20 say the same of a controller's certificate;
//! TR-369's `specification/mtp/index.md` and `specification/security/index.md` in the
//! BroadbandForum/usp repository).
//! The agent knows real time when the data model says so: `Device.Time.Status` reads
//! `Synchronized`, which the XML defines as "the CPE has acquired accurate absolute time"
//! (the device task reads it every tick, [`Trust::set_real_time`]). Not a clock plausibility
//! check, which would take a saved or wrong time for real; not a configuration flag, which
//! cannot follow the NTP client.
//!
//! Until then every verifier of the agent (servers it connects to: `wss://`, MQTT over TLS,
//! `https://`; controllers connecting to its `wss://` server) checks the peer's chain at a
//! time within the validity of every certificate the peer presented, instead of the clock's:
//! rustls and webpki take the time to check from the verifier, so chain, signatures, key
//! usage and names are checked as always, only the dates pass. The agent's CA certificates
//! are trust anchors, whose dates webpki never checks.
//!
//! # Trust on first use
//!
//! With `Device.LocalAgent.ControllerTrust.TOFUAllowed` true ([`Trust::set_tofu_allowed`]),
//! the `wss://` server also accepts a controller certificate that chains to none of the CA
//! certificates — self-signed, or of an unknown CA ("unknown issuer") — once webpki has
//! checked everything else of it (an end-entity certificate for client authentication, its
//! dates when real time is known). The handshake still proves the controller holds the key.
//! The certificate's `urn:bbf:usp:id:` names still bind the connection, and the agent is
//! told ([`PeerIds::controller`], [`Mtp::first_use`]) so that it gives the controller
//! `UntrustedRole` and remembers the certificate (usp-core's `trust.rs`; TR-369 R-SEC.6/8).
//! Every other failure (a bad signature, an expired certificate once time is known, a CA
//! certificate presented as the controller's) is refused as before, and the agent's TLS
//! clients never trust on first use.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};
use std::sync::{Arc, Mutex, PoisonError, RwLock};
use std::time::{Duration, SystemTime};

use rustls::client::WebPkiServerVerifier;
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::pki_types::pem::PemObject as _;
use rustls::pki_types::{
    CertificateDer, CertificateRevocationListDer, PrivateKeyDer, ServerName, TrustAnchor, UnixTime,
};
use rustls::server::WebPkiClientVerifier;
use rustls::server::danger::{ClientCertVerified, ClientCertVerifier};
use rustls::{
    CertificateError, ClientConfig, DigitallySignedStruct, DistinguishedName, RootCertStore,
    ServerConfig, SignatureScheme,
};
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::TcpStream;
use tokio::sync::watch;
use tokio_rustls::{TlsAcceptor, TlsConnector};
use tokio_tungstenite::tungstenite::http::Uri;
use usp_core::agent::{CertificateId, E2eTls, Mtp, MtpKind};

use crate::x509::{self, CertificateInfo};

/// A byte stream, plain TCP or TLS, boxed so that each protocol handler exists once.
pub(crate) trait Io: AsyncRead + AsyncWrite + Unpin + Send {}

impl<T: AsyncRead + AsyncWrite + Unpin + Send> Io for T {}

/// The CA certificates every TLS client of the agent trusts, with the CRLs and the client
/// certificate, as last read from their files; see the [module docs](self). Clones share
/// them, and a [`Trust::reload`] replaces them for all.
#[derive(Clone)]
pub(crate) struct Trust {
    shared: Arc<Shared>,
}

/// What the clones of a [`Trust`] share.
struct Shared {
    files: Files,
    /// What the checks read at each handshake.
    policy: Arc<Policy>,
    /// The settings last read whole.
    loaded: RwLock<Arc<Loaded>>,
    /// Counts the reloads, for what applies the trust beyond a handshake.
    reloads: watch::Sender<u64>,
    /// The files' stamps when last looked at.
    stamps: Mutex<Vec<Option<Stamp>>>,
}

/// The files the trust is read from.
struct Files {
    ca_file: Option<PathBuf>,
    crl_file: Option<PathBuf>,
    /// The client certificate chain and its private key.
    identity: Option<(PathBuf, PathBuf)>,
}

/// What tells that a file changed: its modification time and length.
type Stamp = (Option<SystemTime>, u64);

/// The settings of one reading of the files.
struct Loaded {
    config: Arc<ClientConfig>,
    /// What the rows show of each CA certificate, with its trust anchor.
    cas: Arc<[Ca]>,
    /// The strict check of a controller's certificate (chain to the CA certificates),
    /// without trust on first use; `None` without a CA file.
    controllers: Option<Arc<dyn ClientCertVerifier>>,
    /// The USP agent's E2E session TLS settings: the client certificate, the CAs, the CRLs.
    e2e: Option<E2eTls>,
}

/// What the agent's certificate checks read at each handshake, set by the driver from the
/// data model; see the [module docs](self).
#[derive(Debug, Default)]
struct Policy {
    /// `Device.Time.Status` is `Synchronized`.
    real_time: AtomicBool,
    /// `ControllerTrust.TOFUAllowed`.
    tofu_allowed: AtomicBool,
    /// `ControllerTrust.TOFUInactivityTimer`, seconds.
    tofu_inactivity: AtomicU32,
}

impl Policy {
    /// The time to check the certificates `end_entity` and `intermediates` at: `now` once real
    /// time is known, else the latest `notBefore` of them (which is inside every one's
    /// validity when they overlap at all; when they do not, the end entity's fails as it
    /// would at any time).
    fn time(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        now: UnixTime,
    ) -> UnixTime {
        if self.real_time.load(Ordering::Relaxed) {
            return now;
        }
        std::iter::once(end_entity)
            .chain(intermediates)
            .filter_map(|cert| x509::not_before(cert))
            .max()
            .map_or(now, UnixTime::since_unix_epoch)
    }
}

/// The handshake-signature methods of a verifier (server or client) that wraps rustls's
/// WebPKI one in its `webpki` field: those are the WebPKI verifier's, whatever the time.
macro_rules! handshake_signatures_of_webpki {
    () => {
        fn verify_tls12_signature(
            &self,
            message: &[u8],
            cert: &CertificateDer<'_>,
            dss: &DigitallySignedStruct,
        ) -> Result<HandshakeSignatureValid, rustls::Error> {
            self.webpki.verify_tls12_signature(message, cert, dss)
        }

        fn verify_tls13_signature(
            &self,
            message: &[u8],
            cert: &CertificateDer<'_>,
            dss: &DigitallySignedStruct,
        ) -> Result<HandshakeSignatureValid, rustls::Error> {
            self.webpki.verify_tls13_signature(message, cert, dss)
        }

        fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
            self.webpki.supported_verify_schemes()
        }
    };
}

/// The agent's check of the servers it connects to: rustls's WebPKI verifier, at the time
/// [`Policy::time`] gives.
#[derive(Debug)]
struct ServerCheck {
    webpki: Arc<WebPkiServerVerifier>,
    policy: Arc<Policy>,
}

impl ServerCertVerifier for ServerCheck {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        server_name: &ServerName<'_>,
        ocsp_response: &[u8],
        now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        let time = self.policy.time(end_entity, intermediates, now);
        self.webpki
            .verify_server_cert(end_entity, intermediates, server_name, ocsp_response, time)
    }

    handshake_signatures_of_webpki!();
}

/// The `wss://` server's check of controllers' certificates: rustls's WebPKI verifier at the
/// time [`Policy::time`] gives, and trust on first use of an unknown issuer's while the
/// policy allows it.
#[derive(Debug)]
struct ControllerCheck {
    webpki: Arc<dyn ClientCertVerifier>,
    policy: Arc<Policy>,
}

impl ClientCertVerifier for ControllerCheck {
    fn root_hint_subjects(&self) -> &[DistinguishedName] {
        self.webpki.root_hint_subjects()
    }

    fn verify_client_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        now: UnixTime,
    ) -> Result<ClientCertVerified, rustls::Error> {
        let time = self.policy.time(end_entity, intermediates, now);
        match self
            .webpki
            .verify_client_cert(end_entity, intermediates, time)
        {
            // webpki looks for the issuer last: the certificate itself passed its checks.
            Err(rustls::Error::InvalidCertificate(CertificateError::UnknownIssuer))
                if self.policy.tofu_allowed.load(Ordering::Relaxed) =>
            {
                Ok(ClientCertVerified::assertion())
            }
            verdict => verdict,
        }
    }

    handshake_signatures_of_webpki!();
}

/// One CA certificate of the trust store.
pub(crate) struct Ca {
    anchor: TrustAnchor<'static>,
    /// Its fields; `None` when they could not be read (it still validates peers, but has no
    /// row).
    pub(crate) info: Option<CertificateInfo>,
}

impl Ca {
    /// How the agent and the rows name it.
    pub(crate) fn id(&self) -> Option<CertificateId> {
        let info = self.info.as_ref()?;
        Some(CertificateId::new(
            info.issuer.clone(),
            info.serial_number.clone(),
        ))
    }
}

impl Trust {
    /// Trusts the certificates of the PEM file `ca_file` (at least one), else the system's
    /// ([`system_roots`]; `None` when it has none), checking revocation against the PEM CRLs
    /// of `crl_file`, and presenting the client certificate chain and private key of
    /// `identity` (PEM files) to servers that ask.
    pub(crate) fn load(
        ca_file: Option<&Path>,
        crl_file: Option<&Path>,
        identity: Option<(&Path, &Path)>,
    ) -> Result<Option<Self>, String> {
        let files = Files {
            ca_file: ca_file.map(Path::to_owned),
            crl_file: crl_file.map(Path::to_owned),
            identity: identity.map(|(cert, key)| (cert.to_owned(), key.to_owned())),
        };
        let stamps = files.stamps();
        let policy = Arc::new(Policy::default());
        let Some(loaded) = Loaded::read(&files, &policy)? else {
            return Ok(None);
        };
        Ok(Some(Self {
            shared: Arc::new(Shared {
                files,
                policy,
                loaded: RwLock::new(Arc::new(loaded)),
                reloads: watch::Sender::new(0),
                stamps: Mutex::new(stamps),
            }),
        }))
    }

    /// Reads the files again and, when all of them are good, makes them the trust of every
    /// connection from now on; when one is not, keeps the trust as it was and says why.
    pub(crate) fn reload(&self) -> Result<(), String> {
        let files = &self.shared.files;
        let stamps = files.stamps();
        let loaded = Loaded::read(files, &self.shared.policy)?
            .ok_or("no CA certificates any more, neither a ca_file nor the system's")?;
        *self
            .shared
            .loaded
            .write()
            .unwrap_or_else(PoisonError::into_inner) = Arc::new(loaded);
        *self
            .shared
            .stamps
            .lock()
            .unwrap_or_else(PoisonError::into_inner) = stamps;
        self.shared
            .reloads
            .send_modify(|count| *count = count.wrapping_add(1));
        Ok(())
    }

    /// Whether a file of the trust changed since it was last read or looked at (each change
    /// is told once, so that a bad file is not read again until it changes again).
    pub(crate) fn files_changed(&self) -> bool {
        let stamps = self.shared.files.stamps();
        let mut seen = self
            .shared
            .stamps
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        let changed = *seen != stamps;
        *seen = stamps;
        changed
    }

    /// Tells of each [`Trust::reload`] from now on.
    pub(crate) fn reloads(&self) -> Reloads {
        Reloads(self.shared.reloads.subscribe())
    }

    /// The settings as last loaded.
    fn loaded(&self) -> Arc<Loaded> {
        self.shared
            .loaded
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    /// Whether a CRL now lists a certificate of the controller's `chain` (end entity first),
    /// which the `wss://` server accepted before.
    pub(crate) fn revokes(&self, chain: &[CertificateDer<'_>]) -> bool {
        let Some((end_entity, intermediates)) = chain.split_first() else {
            return false;
        };
        matches!(
            self.check_controller(end_entity, intermediates),
            Some(Err(rustls::Error::InvalidCertificate(
                CertificateError::Revoked
            )))
        )
    }

    /// The strict check of a controller's certificate `end_entity` (chain to the CA file,
    /// without trust on first use) at the time [`Policy::time`] gives; `None` without a CA
    /// file.
    fn check_controller(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
    ) -> Option<Result<ClientCertVerified, rustls::Error>> {
        let time = self
            .shared
            .policy
            .time(end_entity, intermediates, UnixTime::now());
        let controllers = self.loaded().controllers.clone()?;
        Some(controllers.verify_client_cert(end_entity, intermediates, time))
    }

    /// The USP agent's E2E session TLS settings (TR-369 TLS payload security), as last
    /// loaded: the client certificate `[tls] cert_file`, these CAs and CRLs; `None` without a
    /// client certificate.
    pub(crate) fn e2e_tls(&self) -> Option<E2eTls> {
        self.loaded().e2e.clone()
    }

    /// Whether real time is known (`Device.Time.Status` is `Synchronized`): certificate dates
    /// are checked from then on, ignored before (TR-369 R-MTP.2/3).
    pub(crate) fn set_real_time(&self, known: bool) {
        let before = self.shared.policy.real_time.swap(known, Ordering::Relaxed);
        if before != known {
            tracing::info!(
                known,
                "real time {}: certificate dates {}",
                if known { "known" } else { "unknown" },
                if known { "checked" } else { "ignored" }
            );
        }
    }

    /// Whether the `wss://` server trusts controllers' certificates of no known CA on first
    /// use (`ControllerTrust.TOFUAllowed`), and the `TOFUInactivityTimer` in seconds.
    pub(crate) fn set_tofu_allowed(&self, allowed: bool, inactivity_s: u32) {
        let before = self
            .shared
            .policy
            .tofu_allowed
            .swap(allowed, Ordering::Relaxed);
        if before != allowed {
            tracing::info!(
                "trust on first use of controller certificates {}",
                if allowed { "allowed" } else { "refused" }
            );
        }
        self.shared
            .policy
            .tofu_inactivity
            .store(inactivity_s, Ordering::Relaxed);
    }

    /// How long a connection whose controller was trusted on first use may stay without a
    /// USP Record before the agent closes it (`TOFUInactivityTimer`); `None`: no limit.
    pub(crate) fn tofu_inactivity(&self) -> Option<Duration> {
        let seconds = self.shared.policy.tofu_inactivity.load(Ordering::Relaxed);
        (seconds > 0).then(|| Duration::from_secs(seconds.into()))
    }

    /// The CA certificates.
    pub(crate) fn cas(&self) -> Arc<[Ca]> {
        self.loaded().cas.clone()
    }

    /// The CA that validated the peer certificate `chain` (end entity first, as rustls
    /// verified it): the one whose subject issued a certificate of the chain, the end entity
    /// first. rustls's verifier does not say which anchor it ended at; building the path again
    /// with webpki would cost the router build tens of kilobytes. Two CAs of one subject are
    /// told apart by their order in the CA file only. `None` without a chain, or for a CA
    /// whose fields are unreadable. webpki reads the chain (as it did to verify it): its
    /// `issuer()` and the anchor's `subject` are both the Name without its outer SEQUENCE.
    fn validating_ca(&self, chain: Option<&[CertificateDer<'_>]>) -> Option<CertificateId> {
        let cas = self.cas();
        chain?
            .iter()
            .filter_map(|cert| webpki::EndEntityCert::try_from(cert).ok())
            .find_map(|cert| cas.iter().find(|ca| *ca.anchor.subject == *cert.issuer()))?
            .id()
    }

    /// The rustls client settings (for clients that run the handshake themselves: rumqttc).
    pub(crate) fn client_config(&self) -> Arc<ClientConfig> {
        self.loaded().config.clone()
    }
}

impl Files {
    /// The stamps of the files, in their order (`None`: unreadable).
    fn stamps(&self) -> Vec<Option<Stamp>> {
        let identity = self.identity.iter().flat_map(|(cert, key)| [cert, key]);
        self.ca_file
            .iter()
            .chain(&self.crl_file)
            .chain(identity)
            .map(|file| {
                let meta = std::fs::metadata(file).ok()?;
                Some((meta.modified().ok(), meta.len()))
            })
            .collect()
    }
}

impl Loaded {
    /// Reads the files: see [`Trust::load`].
    fn read(files: &Files, policy: &Arc<Policy>) -> Result<Option<Self>, String> {
        let (ca_file, crl_file) = (files.ca_file.as_deref(), files.crl_file.as_deref());
        let identity = files
            .identity
            .as_ref()
            .map(|(cert, key)| (cert.as_path(), key.as_path()));
        let crls = crl_file.map(load_crls).transpose()?.unwrap_or_default();
        let (roots, cas) = match ca_file {
            Some(ca_file) => {
                let (roots, cas) = load_cas(ca_file)?;
                (roots, Some(cas))
            }
            None => match system_roots() {
                Some(roots) => (roots, None),
                None if identity.is_some() => {
                    return Err(
                        "[tls] cert_file: no CA certificates to check servers with, \
                                neither a ca_file nor the system's"
                            .into(),
                    );
                }
                None => return Ok(None),
            },
        };
        if let (Some(cas), Some(crl_file)) = (&cas, crl_file) {
            check_crl_signatures(&crls, cas)
                .map_err(|e| format!("CRL file {}: {e}", crl_file.display()))?;
        }
        let revocation = |e: &dyn std::fmt::Display| match crl_file {
            Some(crl_file) => format!("CRL file {}: {e}", crl_file.display()),
            None => format!("certificate checks: {e}"),
        };
        let roots = Arc::new(roots);
        // A CRL file lists the revoked certificates of the CAs it has CRLs of: a certificate
        // of another CA has an unknown status, which does not refuse it.
        let servers = WebPkiServerVerifier::builder_with_provider(roots.clone(), provider())
            .with_crls(crls.iter().cloned())
            .allow_unknown_revocation_status()
            .build()
            .map_err(|e| revocation(&e))?;
        // Controllers are checked against the CA file only: a public CA says who owns a
        // domain, not who may manage the device.
        let controllers = cas
            .is_some()
            .then(|| {
                WebPkiClientVerifier::builder_with_provider(roots.clone(), provider())
                    .with_crls(crls.iter().cloned())
                    .allow_unknown_revocation_status()
                    .build()
            })
            .transpose()
            .map_err(|e| revocation(&e))?;
        let builder = ClientConfig::builder_with_provider(provider())
            .with_safe_default_protocol_versions()
            .map_err(|e| format!("TLS settings: {e}"))?
            .dangerous()
            .with_custom_certificate_verifier(Arc::new(ServerCheck {
                webpki: servers,
                policy: policy.clone(),
            }));
        let (config, e2e) = match identity {
            None => (builder.with_no_client_auth(), None),
            Some((cert_file, key_file)) => {
                let (chain, key) = load_identity(cert_file, key_file)?;
                let e2e = match cas {
                    // E2E sessions authenticate controllers: the CA file's only, as above.
                    Some(_) => E2eTls::new(chain.clone(), key.clone_key(), roots, crls)
                        .map_err(|e| e.to_string()),
                    None => Err("it needs a [tls] ca_file".into()),
                };
                let e2e = e2e
                    .inspect_err(|error| {
                        tracing::warn!(file = %cert_file.display(), "no USP E2E TLS: {error}");
                    })
                    .ok();
                let config = builder
                    .with_client_auth_cert(chain, key)
                    .map_err(|e| format!("{}: {e}", cert_file.display()))?;
                (config, e2e)
            }
        };
        Ok(Some(Self {
            config: Arc::new(config),
            cas: cas.unwrap_or_default().into(),
            controllers,
            e2e,
        }))
    }
}

/// What tells of each [`Trust::reload`], for what applies the trust beyond a handshake.
pub(crate) struct Reloads(watch::Receiver<u64>);

impl Reloads {
    /// Whether the trust was reloaded since this was last asked.
    pub(crate) fn happened(&mut self) -> bool {
        let happened = self.0.has_changed().unwrap_or(false);
        self.0.mark_unchanged();
        happened
    }
}

/// Returns at the next reload of the trust `reloads` follows; never without one.
pub(crate) async fn next_reload(reloads: Option<&mut Reloads>) {
    if let Some(Reloads(reloads)) = reloads
        && reloads.changed().await.is_ok()
    {
        return;
    }
    std::future::pending().await
}

/// Why [`connect`] failed.
#[derive(Debug)]
pub(crate) enum ConnectError {
    /// The server's certificate was refused (unknown issuer, expired, wrong name, …).
    Certificate(String),
    /// Any other TLS failure (no common version or cipher suite, an alert, a closed socket).
    Handshake(String),
    /// A TLS URL, but no CA certificates to check the server with (no CA file configured,
    /// and none of the system's).
    NoTrust,
    /// No TCP connection.
    Tcp(std::io::Error),
    /// The URL has no host, or a scheme other than `http`, `https`, `ws` and `wss`.
    Url(String),
}

impl std::fmt::Display for ConnectError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Certificate(reason) => write!(f, "server certificate refused: {reason}"),
            Self::Handshake(reason) => write!(f, "TLS handshake failed: {reason}"),
            Self::NoTrust => f.write_str(
                "a TLS URL needs CA certificates to check the server with: [tls] ca_file, \
                 --ca-file, or the system's (none found)",
            ),
            Self::Tcp(error) => write!(f, "cannot connect: {error}"),
            Self::Url(url) => write!(f, "not an http(s):// or ws(s):// URL with a host: {url}"),
        }
    }
}

/// The USP Endpoint IDs a TLS peer may use: those its certificate names in
/// `urn:bbf:usp:id:` subjectAltName URIs, or any when it names none (or the link is plain
/// TCP, or the peer is not a USP endpoint: an MQTT broker); and the CA that validated its
/// certificate.
#[derive(Clone, Debug, Default)]
pub(crate) struct PeerIds {
    ids: Vec<String>,
    ca: Option<CertificateId>,
    /// The peer's own certificate, when the server trusted it on first use.
    first_use: Option<CertificateId>,
}

/// The URI prefix of an Endpoint ID in a certificate (TR-369 "Endpoint Identifier").
const ENDPOINT_URN: &str = "urn:bbf:usp:id:";

impl PeerIds {
    /// The Endpoint IDs of the end-entity certificate of `chain` (the peer's, as rustls
    /// verified it against `trust`), and the CA of `trust` that validated it. A
    /// certificate that does not parse names nothing valid: an error, so that no peer goes
    /// unchecked.
    pub(crate) fn of(chain: Option<&[CertificateDer<'_>]>, trust: &Trust) -> Result<Self, String> {
        let Some(cert) = chain.and_then(<[_]>::first) else {
            return Ok(Self::default());
        };
        let ca = trust.validating_ca(chain);
        let cert = webpki::EndEntityCert::try_from(cert)
            .map_err(|e| format!("peer certificate unreadable: {e}"))?;
        let ids = cert
            .valid_uri_names()
            .filter_map(endpoint_id)
            .map(str::to_owned)
            .collect();
        Ok(Self {
            ids,
            ca,
            first_use: None,
        })
    }

    /// [`PeerIds::of`] for a controller the `wss://` server accepted: when its `chain` does
    /// not pass the strict check (the server trusted it on first use), no CA validated it, and
    /// the certificate is named as the one trusted on first use.
    pub(crate) fn controller(
        chain: Option<&[CertificateDer<'_>]>,
        trust: &Trust,
    ) -> Result<Self, String> {
        let mut peer = Self::of(chain, trust)?;
        let Some((end_entity, intermediates)) = chain.and_then(<[_]>::split_first) else {
            return Ok(peer);
        };
        let strict = trust
            .check_controller(end_entity, intermediates)
            .ok_or(NO_CONTROLLER_CAS)?;
        if strict.is_err() {
            let info = x509::parse(end_entity).ok_or("peer certificate unreadable")?;
            peer.ca = None;
            let id = CertificateId::new(info.issuer, info.serial_number)
                .with_fingerprint(fingerprint(end_entity));
            peer.first_use = Some(id);
        }
        Ok(peer)
    }

    /// Whether the server trusted the peer's certificate on first use.
    pub(crate) fn first_use(&self) -> bool {
        self.first_use.is_some()
    }

    /// Whether the peer may speak as Endpoint `eid`.
    pub(crate) fn allows(&self, eid: &str) -> bool {
        self.ids.is_empty() || self.ids.iter().any(|id| id == eid)
    }

    /// The agent's MTP of `kind` for the connection `reply_to` with this peer: the Endpoint
    /// IDs it authenticated ([`Mtp::authenticated`], none: any is allowed) and the CA that
    /// validated it ([`Mtp::validated_by`]).
    pub(crate) fn mtp(&self, kind: MtpKind, reply_to: String) -> Mtp {
        let mut mtp = Mtp::new(kind, reply_to).with_authenticated(self.ids.clone());
        if let Some(ca) = &self.ca {
            mtp = mtp.with_validated_by(ca.clone());
        }
        if let Some(certificate) = &self.first_use {
            mtp = mtp.with_first_use(certificate.clone());
        }
        mtp
    }
}

impl std::fmt::Display for PeerIds {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.ids.join(", "))
    }
}

/// What names a certificate trusted on first use besides its issuer and serial number, which
/// its holder chose ([`CertificateId::fingerprint`]): the first 24 bytes (192 bits) of the
/// SHA-256 of its DER, in lower-case hex.
fn fingerprint(der: &[u8]) -> String {
    use sha2::Digest as _;
    sha2::Sha256::digest(der)
        .iter()
        .take(24)
        .map(|byte| format!("{byte:02x}"))
        .collect()
}

/// The Endpoint ID a subjectAltName URI names, if it is a `urn:bbf:usp:id:` one (the URN's
/// scheme and namespace are case-insensitive, RFC 8141; the ID is not).
fn endpoint_id(uri: &str) -> Option<&str> {
    let (urn, id) = uri.split_at_checked(ENDPOINT_URN.len())?;
    (urn.eq_ignore_ascii_case(ENDPOINT_URN) && !id.is_empty()).then_some(id)
}

/// Opens a TCP connection to the server of `url` (`http://`, `ws://`), then a TLS session
/// on it (`https://`, `wss://`) checked against `trust`.
pub(crate) async fn connect(url: &Uri, trust: Option<&Trust>) -> Result<Box<dyn Io>, ConnectError> {
    connect_peer(url, trust).await.map(|(stream, _)| stream)
}

/// [`connect`], also giving the Endpoint IDs the server's certificate names.
pub(crate) async fn connect_peer(
    url: &Uri,
    trust: Option<&Trust>,
) -> Result<(Box<dyn Io>, PeerIds), ConnectError> {
    let (host, port, trust) = endpoint(url, trust)?;
    let stream = TcpStream::connect((host, port))
        .await
        .map_err(ConnectError::Tcp)?;
    let _ = stream.set_nodelay(true);
    match trust {
        Some(trust) => handshake(stream, host, trust).await,
        None => Ok((Box::new(stream), PeerIds::default())),
    }
}

/// The host (without the brackets of an IPv6 literal) and port `url` names, and the trust
/// to check its server with: `None` for a plain URL. A TLS URL without trust is refused
/// before a socket is opened that could not be used.
pub(crate) fn endpoint<'a, 't>(
    url: &'a Uri,
    trust: Option<&'t Trust>,
) -> Result<(&'a str, u16, Option<&'t Trust>), ConnectError> {
    let (secure, default_port) = match url.scheme_str() {
        Some("http" | "ws") => (false, 80),
        Some("https" | "wss") => (true, 443),
        _ => return Err(ConnectError::Url(url.to_string())),
    };
    let host = url
        .host()
        .ok_or_else(|| ConnectError::Url(url.to_string()))?
        .trim_start_matches('[')
        .trim_end_matches(']');
    let port = url.port_u16().unwrap_or(default_port);
    let trust = match (secure, trust) {
        (false, _) => None,
        (true, Some(trust)) => Some(trust),
        (true, None) => return Err(ConnectError::NoTrust),
    };
    Ok((host, port, trust))
}

/// The TLS client handshake over `stream` with server `host`, checked against `trust`; the
/// Endpoint IDs the server's certificate names.
pub(crate) async fn handshake(
    stream: TcpStream,
    host: &str,
    trust: &Trust,
) -> Result<(Box<dyn Io>, PeerIds), ConnectError> {
    let name = ServerName::try_from(host.to_owned())
        .map_err(|e| ConnectError::Handshake(format!("invalid server name {host:?}: {e}")))?;
    let stream = TlsConnector::from(trust.client_config())
        .connect(name, stream)
        .await
        .map_err(|error| {
            let rustls_error = error
                .get_ref()
                .and_then(|e| e.downcast_ref::<rustls::Error>());
            match rustls_error {
                Some(
                    e @ (rustls::Error::InvalidCertificate(_)
                    | rustls::Error::NoCertificatesPresented),
                ) => ConnectError::Certificate(e.to_string()),
                _ => ConnectError::Handshake(error.to_string()),
            }
        })?;
    let chain = stream.get_ref().1.peer_certificates();
    let peer = PeerIds::of(chain, trust).map_err(ConnectError::Certificate)?;
    Ok((Box::new(stream), peer))
}

/// Why the `wss://` server does not start without a CA file (see the [module docs](self)).
pub(crate) const NO_CONTROLLER_CAS: &str = "a wss:// server needs [tls] ca_file to check the \
     controllers' certificates with (never the system's CAs)";

/// The TLS server settings of the certificate chain `cert_file` and its private key
/// `key_file` (PEM files), requiring of every client a certificate that chains to the CA
/// file of `trust` (checked by rustls's WebPKI verifier: chain, validity, client-auth usage,
/// revocation), or one trusted on first use (see the [module docs](self)).
pub(crate) fn acceptor(
    cert_file: &Path,
    key_file: &Path,
    trust: &Trust,
) -> Result<TlsAcceptor, String> {
    let webpki = trust
        .loaded()
        .controllers
        .clone()
        .ok_or(NO_CONTROLLER_CAS)?;
    let (chain, key) = load_identity(cert_file, key_file)?;
    let verifier = Arc::new(ControllerCheck {
        webpki,
        policy: trust.shared.policy.clone(),
    });
    let config = ServerConfig::builder_with_provider(provider())
        .with_safe_default_protocol_versions()
        .map_err(|e| format!("TLS settings: {e}"))?
        .with_client_cert_verifier(verifier)
        .with_single_cert(chain, key)
        .map_err(|e| format!("{}: {e}", cert_file.display()))?;
    Ok(TlsAcceptor::from(Arc::new(config)))
}

/// The trust store of the certificates of the PEM file `ca_file` (at least one), with what
/// the rows show of each.
fn load_cas(ca_file: &Path) -> Result<(RootCertStore, Vec<Ca>), String> {
    let context = |e: &dyn std::fmt::Display| format!("CA file {}: {e}", ca_file.display());
    let mut roots = RootCertStore::empty();
    let mut cas = Vec::new();
    for cert in CertificateDer::pem_file_iter(ca_file).map_err(|e| context(&e))? {
        let cert = cert.map_err(|e| context(&e))?;
        let anchor = webpki::anchor_from_trusted_cert(&cert)
            .map_err(|e| context(&e))?
            .to_owned();
        let info = x509::parse(&cert);
        if info.is_none() {
            tracing::warn!(file = %ca_file.display(), "a CA certificate's fields are unreadable: no certificate rows for it");
        }
        cas.push(Ca { anchor, info });
        roots.add(cert).map_err(|e| context(&e))?;
    }
    if roots.is_empty() {
        return Err(context(&"no certificate in it"));
    }
    Ok((roots, cas))
}

/// The system's CA certificates, read when the agent starts by rustls-native-certs: those
/// of `SSL_CERT_FILE` and `SSL_CERT_DIR` when either is set, else of the distribution's
/// bundle (`/etc/ssl/certs/ca-certificates.crt` and the like, as openssl looks for it);
/// `None` when there are none. An unreadable certificate is left out, and logged.
fn system_roots() -> Option<RootCertStore> {
    let found = rustls_native_certs::load_native_certs();
    for error in &found.errors {
        tracing::warn!("system CA certificates: {error}");
    }
    let mut roots = RootCertStore::empty();
    let (trusted, unreadable) = roots.add_parsable_certificates(found.certs);
    if unreadable > 0 {
        tracing::warn!(unreadable, "system CA certificates left out");
    }
    tracing::info!(
        trusted,
        "no [tls] ca_file: the system's CA certificates are trusted"
    );
    (!roots.is_empty()).then_some(roots)
}

/// The certificate revocation lists of the PEM file `crl_file` (at least one).
fn load_crls(crl_file: &Path) -> Result<Vec<CertificateRevocationListDer<'static>>, String> {
    let context = |e: &dyn std::fmt::Display| format!("CRL file {}: {e}", crl_file.display());
    let crls = CertificateRevocationListDer::pem_file_iter(crl_file)
        .map_err(|e| context(&e))?
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| context(&e))?;
    if crls.is_empty() {
        return Err(context(&"no CRL in it"));
    }
    Ok(crls)
}

/// Checks that each of `crls` whose issuer is one of `cas` is signed by that CA: webpki would
/// refuse every certificate of the CA because of a CRL with a bad signature (a CRL of
/// another issuer, an intermediate CA's, is checked when a chain through it is).
fn check_crl_signatures(
    crls: &[CertificateRevocationListDer<'_>],
    cas: &[Ca],
) -> Result<(), String> {
    let algorithms = provider().signature_verification_algorithms.all;
    for crl in crls {
        let parsed = webpki::BorrowedCertRevocationList::from_der(crl)
            .map(webpki::CertRevocationList::from)
            .map_err(|e| e.to_string())?;
        let issuers = cas
            .iter()
            .filter(|ca| *ca.anchor.subject == *parsed.issuer())
            .collect::<Vec<_>>();
        let signed = issuers
            .iter()
            .any(|ca| x509::signed_by(crl, &ca.anchor.subject_public_key_info, algorithms));
        if !issuers.is_empty() && !signed {
            return Err("a CRL is not signed by the CA it names as its issuer".into());
        }
    }
    Ok(())
}

/// The certificate chain of the PEM file `cert_file` and the private key of `key_file`.
fn load_identity(
    cert_file: &Path,
    key_file: &Path,
) -> Result<(Vec<CertificateDer<'static>>, PrivateKeyDer<'static>), String> {
    let context = |path: &Path, e: &dyn std::fmt::Display| format!("{}: {e}", path.display());
    let chain = CertificateDer::pem_file_iter(cert_file)
        .map_err(|e| context(cert_file, &e))?
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| context(cert_file, &e))?;
    let key = PrivateKeyDer::from_pem_file(key_file).map_err(|e| context(key_file, &e))?;
    Ok((chain, key))
}

/// The one crypto provider of the agent (ring, as the binary must stay small).
fn provider() -> Arc<rustls::crypto::CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

/// A seed for the sans-IO stacks' random numbers (retry jitter, Digest nonces, STUN
/// transaction and challenge ids), drawn from the operating system through the crypto
/// provider: routers of one fleet boot at the same moment with the same process ids, so a
/// seed from the clock would give them the same retry times and guessable nonces.
pub(crate) fn random_seed() -> u64 {
    u64::from_le_bytes(random_bytes())
}

/// `N` random bytes (a SCRAM nonce), from the same source as [`random_seed`].
pub(crate) fn random_bytes<const N: usize>() -> [u8; N] {
    let mut bytes = [0; N];
    if provider().secure_random.fill(&mut bytes).is_err() {
        tracing::error!("no random source: seeding from the clock");
        let now = SystemTime::now().duration_since(std::time::UNIX_EPOCH);
        let nanos = now.map_or(0, |since| since.as_nanos() as u64).to_le_bytes();
        bytes
            .iter_mut()
            .zip(nanos.iter().cycle())
            .for_each(|(byte, n)| *byte = *n);
    }
    bytes
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn endpoint_ids_of_subject_alt_name_uris() {
        assert_eq!(
            endpoint_id("urn:bbf:usp:id:self::controller"),
            Some("self::controller")
        );
        assert_eq!(
            endpoint_id("URN:BBF:USP:ID:oui:00256D:Ctrl"),
            Some("oui:00256D:Ctrl")
        );
        assert_eq!(endpoint_id("urn:bbf:usp:id:"), None);
        assert_eq!(endpoint_id("https://controller.example/usp"), None);
        assert_eq!(endpoint_id("urn:bbf:usp:"), None);
    }

    #[test]
    fn a_peer_naming_endpoint_ids_may_use_only_those() {
        let open = PeerIds::default();
        let mtp = open.mtp(MtpKind::WebSocket, "ws-1".into());
        assert!(mtp.authenticated.is_none() && mtp.validated_by.is_none());
        assert!(open.allows("self::anyone"));
        let ca = CertificateId::new("CN=CA", "01");
        let named = PeerIds {
            ids: vec!["self::a".into(), "self::b".into()],
            ca: Some(ca.clone()),
            first_use: None,
        };
        let mtp = named.mtp(MtpKind::WebSocket, "self::a".into());
        assert_eq!(
            mtp.authenticated.as_deref(),
            Some(&["self::a".to_owned(), "self::b".to_owned()][..])
        );
        assert_eq!(mtp.validated_by.as_deref(), Some(&ca));
        assert!(named.allows("self::b"));
        assert!(!named.allows("self::c"));
        assert!(!named.allows("self::A"));
        assert_eq!(named.to_string(), "self::a, self::b");
    }
}
