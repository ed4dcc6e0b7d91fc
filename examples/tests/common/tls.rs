//! TLS for the end-to-end tests: certificates made with the `openssl` command (installed by
//! `.ci/peers`: an own CA per test, a server certificate for `IP:127.0.0.1`), and the test
//! peers' rustls settings (ring provider, as the agent's).

use std::path::Path;
use std::process::Command;
use std::sync::Arc;

use rustls::pki_types::pem::PemObject as _;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use tokio::io::{AsyncRead, AsyncWrite};
use tokio_rustls::{TlsAcceptor, TlsConnector};

/// A byte stream of a test peer, plain TCP or TLS.
pub(crate) trait Io: AsyncRead + AsyncWrite + Unpin + Send {}

impl<T: AsyncRead + AsyncWrite + Unpin + Send> Io for T {}

fn provider() -> Arc<rustls::crypto::CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

/// A TLS server presenting `dir`'s `cert.pem` (made by [`make_certificates`]).
pub(crate) fn acceptor(dir: &Path) -> TlsAcceptor {
    acceptor_as(dir, "")
}

/// A TLS server presenting `dir`'s `<name>cert.pem` (made by [`make_leaf`]).
pub(crate) fn acceptor_as(dir: &Path, name: &str) -> TlsAcceptor {
    let (chain, key) = read_identity(dir, name);
    let config = rustls::ServerConfig::builder_with_provider(provider())
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_no_client_auth()
        .with_single_cert(chain, key)
        .unwrap();
    TlsAcceptor::from(Arc::new(config))
}

/// [`acceptor_as`], asking the client for a certificate of the CA `ca` (which it may leave
/// out), to see which one the client presents.
pub(crate) fn acceptor_asking(dir: &Path, name: &str, ca: &Path) -> TlsAcceptor {
    let (chain, key) = read_identity(dir, name);
    let mut roots = rustls::RootCertStore::empty();
    roots
        .add(CertificateDer::from_pem_file(ca).unwrap())
        .unwrap();
    let verifier =
        rustls::server::WebPkiClientVerifier::builder_with_provider(Arc::new(roots), provider())
            .allow_unauthenticated()
            .build()
            .unwrap();
    let config = rustls::ServerConfig::builder_with_provider(provider())
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_client_cert_verifier(verifier)
        .with_single_cert(chain, key)
        .unwrap();
    TlsAcceptor::from(Arc::new(config))
}

/// A TLS client trusting the CA certificate `ca`.
pub(crate) fn connector(ca: &Path) -> TlsConnector {
    connector_as(ca, None)
}

/// A TLS client trusting the CA certificate `ca`, presenting the client certificate
/// `<name>cert.pem` of `identity`'s directory (made by [`make_leaf`]) when it is given.
pub(crate) fn connector_as(ca: &Path, identity: Option<(&Path, &str)>) -> TlsConnector {
    let mut roots = rustls::RootCertStore::empty();
    roots
        .add(CertificateDer::from_pem_file(ca).unwrap())
        .unwrap();
    let builder = rustls::ClientConfig::builder_with_provider(provider())
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_root_certificates(roots);
    let config = match identity {
        None => builder.with_no_client_auth(),
        Some((dir, name)) => {
            let (chain, key) = read_identity(dir, name);
            builder.with_client_auth_cert(chain, key).unwrap()
        }
    };
    TlsConnector::from(Arc::new(config))
}

/// The certificate chain `<name>cert.pem` of `dir` and its key `<name>key.pem`.
fn read_identity(dir: &Path, name: &str) -> (Vec<CertificateDer<'static>>, PrivateKeyDer<'static>) {
    let chain = CertificateDer::pem_file_iter(dir.join(format!("{name}cert.pem")))
        .unwrap()
        .collect::<Result<Vec<_>, _>>()
        .unwrap();
    let key = PrivateKeyDer::from_pem_file(dir.join(format!("{name}key.pem"))).unwrap();
    (chain, key)
}

/// Runs `openssl args` in `dir`, which must succeed.
pub(crate) fn openssl(dir: &Path, args: &[&str]) {
    let output = Command::new("openssl")
        .current_dir(dir)
        .args(args)
        .output()
        .expect("the openssl command (installed by .ci/peers)");
    assert!(
        output.status.success(),
        "openssl {args:?}: {}",
        String::from_utf8_lossy(&output.stderr)
    );
}

/// The `openssl req` arguments of a new P-256 key, unencrypted.
const EC_KEY: [&str; 5] = [
    "-newkey",
    "ec",
    "-pkeyopt",
    "ec_paramgen_curve:P-256",
    "-nodes",
];

/// Writes `<prefix>ca.pem` (a P-256 CA) and, when `server` is set, `key.pem` and `cert.pem`
/// (for `IP:127.0.0.1`, signed by that CA, for servers and clients) into `dir`.
pub(crate) fn make_certificates(dir: &Path, prefix: &str, server: bool) {
    let (ca, ca_key) = (format!("{prefix}ca.pem"), format!("{prefix}ca-key.pem"));
    // Several attributes, so that the rows' order of them is checked against openssl's.
    let subject = format!("/C=FR/O=cpe-mgmt/CN=cpe-mgmt {prefix}test CA");
    let mut args = vec!["req", "-x509", "-days", "2", "-subj", &subject];
    args.extend(EC_KEY);
    args.extend(["-keyout", &ca_key, "-out", &ca]);
    args.extend(["-addext", "basicConstraints=critical,CA:true"]);
    args.extend(["-addext", "keyUsage=critical,keyCertSign,cRLSign"]);
    openssl(dir, &args);
    if server {
        make_leaf(dir, prefix, "", "IP:127.0.0.1");
    }
}

/// Writes `<name>key.pem` and `<name>cert.pem` into `dir`: a P-256 certificate with the
/// subjectAltName `san` (e.g. `IP:127.0.0.1,URI:urn:bbf:usp:id:self::controller`), for
/// servers and clients, signed by the CA `<prefix>ca.pem` [`make_certificates`] wrote there.
pub(crate) fn make_leaf(dir: &Path, prefix: &str, name: &str, san: &str) {
    let (csr, cert, ext) = leaf_request(dir, name, san);
    let (ca, ca_key) = (format!("{prefix}ca.pem"), format!("{prefix}ca-key.pem"));
    let mut args = vec!["x509", "-req", "-days", "2", "-in", &csr];
    args.extend(["-CA", &ca, "-CAkey", &ca_key, "-CAcreateserial"]);
    args.extend(["-out", &cert, "-extfile", &ext]);
    openssl(dir, &args);
}

/// [`make_leaf`], but self-signed (an end-entity certificate, not a CA): a certificate of no
/// CA, as a controller trusted on first use has. Each has the same issuer (its subject) and
/// serial number, as anyone can choose them.
pub(crate) fn make_self_signed(dir: &Path, name: &str, san: &str) {
    let (csr, cert, ext) = leaf_request(dir, name, san);
    let key = format!("{name}key.pem");
    let mut args = vec!["x509", "-req", "-days", "2", "-in", &csr, "-signkey", &key];
    args.extend(["-set_serial", "0x5E1F"]);
    args.extend(["-out", &cert, "-extfile", &ext]);
    openssl(dir, &args);
}

/// [`make_leaf`], but valid in January 2020 only: expired (`openssl x509` cannot date a
/// certificate in the past, `openssl ca` can).
pub(crate) fn make_expired_leaf(dir: &Path, prefix: &str, name: &str, san: &str) {
    let (csr, cert, ext) = leaf_request(dir, name, san);
    let config = format!("{name}ca.cnf");
    std::fs::write(
        dir.join(&config),
        format!(
            "[ca]\ndefault_ca = leaf\n[leaf]\ndatabase = {name}index.txt\nnew_certs_dir = .\n\
             serial = {name}serial.txt\ndefault_md = sha256\npolicy = any\n\
             unique_subject = no\ncertificate = {prefix}ca.pem\n\
             private_key = {prefix}ca-key.pem\n[any]\ncommonName = supplied\n"
        ),
    )
    .unwrap();
    std::fs::write(dir.join(format!("{name}index.txt")), "").unwrap();
    std::fs::write(dir.join(format!("{name}serial.txt")), "2020\n").unwrap();
    let mut args = vec!["ca", "-batch", "-notext", "-config", &config, "-in", &csr];
    args.extend([
        "-startdate",
        "20200101000000Z",
        "-enddate",
        "20200201000000Z",
    ]);
    args.extend(["-out", &cert, "-extfile", &ext]);
    openssl(dir, &args);
}

/// Writes `<prefix>crl.pem` into `dir`: a CRL of the CA `<prefix>ca.pem`
/// ([`make_certificates`]) revoking the certificates `<name>cert.pem` of `revoked`.
pub(crate) fn make_crl(dir: &Path, prefix: &str, revoked: &[&str]) {
    let config = format!("{prefix}crl.cnf");
    let (index, number) = (
        format!("{prefix}crl-index.txt"),
        format!("{prefix}crl-number.txt"),
    );
    std::fs::write(
        dir.join(&config),
        format!(
            "[ca]\ndefault_ca = crl\n[crl]\ndatabase = {index}\ncrlnumber = {number}\n\
             default_md = sha256\ndefault_crl_days = 2\ncertificate = {prefix}ca.pem\n\
             private_key = {prefix}ca-key.pem\n"
        ),
    )
    .unwrap();
    std::fs::write(dir.join(&index), "").unwrap();
    std::fs::write(dir.join(&number), "01\n").unwrap();
    for name in revoked {
        openssl(
            dir,
            &[
                "ca",
                "-config",
                &config,
                "-revoke",
                &format!("{name}cert.pem"),
            ],
        );
    }
    let crl = format!("{prefix}crl.pem");
    openssl(dir, &["ca", "-config", &config, "-gencrl", "-out", &crl]);
}

/// Writes `<name>key.pem` (a new P-256 key), its request and the extensions of a
/// certificate for `san` into `dir`; their names, and the certificate's to write.
fn leaf_request(dir: &Path, name: &str, san: &str) -> (String, String, String) {
    let (key, csr) = (format!("{name}key.pem"), format!("{name}cert.csr"));
    let (cert, ext) = (format!("{name}cert.pem"), format!("{name}ext.cnf"));
    let mut args = vec!["req", "-subj", "/CN=127.0.0.1", "-keyout", &key];
    args.extend(EC_KEY);
    args.extend(["-out", &csr]);
    openssl(dir, &args);
    std::fs::write(
        dir.join(&ext),
        format!(
            "subjectAltName={san}\nbasicConstraints=CA:false\nextendedKeyUsage=serverAuth,clientAuth\n"
        ),
    )
    .unwrap();
    (csr, cert, ext)
}
