//! The CWMP driver's HTTP client: one kept-alive HTTP/1.1 connection (hyper) per session to
//! the ACS, over TCP for `http://` URLs and over TLS (rustls, ring provider) for `https://`.
//!
//! TLS trusts only the CA certificates of the configured PEM file (`[cwmp] ca_file`): a
//! router has no system trust store to speak of, and an operator's ACS is usually signed by
//! the operator's own CA. The server certificate is checked by rustls's WebPKI verifier
//! (chain, validity, `subjectAltName` against the URL's host, which may be an IP address).

use std::path::Path;
use std::sync::Arc;

use cwmp_core::session::HttpRequest;
use http_body_util::{BodyExt as _, Full, Limited};
use hyper::body::Bytes;
use hyper::client::conn::http1::SendRequest;
use hyper::rt::{Read, Write};
use hyper::{Request, Uri, header};
use hyper_util::rt::TokioIo;
use rustls::pki_types::pem::PemObject as _;
use rustls::pki_types::{CertificateDer, ServerName};
use tokio::net::TcpStream;
use tokio_rustls::TlsConnector;

/// Most bytes of an ACS response body (the codec refuses more than 1 MiB anyway).
const MAX_RESPONSE_BODY: usize = 1024 * 1024 + 1;

/// Status, headers and body of an ACS response.
pub(crate) type HttpAnswer = (u16, Vec<(String, String)>, Vec<u8>);

/// The HTTP connection of the current session.
struct AcsConnection {
    /// `scheme://authority` it was opened to.
    origin: String,
    sender: SendRequest<Full<Bytes>>,
}

/// The client; see the [module docs](self).
pub(crate) struct AcsClient {
    /// The TLS settings, when a CA file is configured (without one, `https://` fails).
    tls: Option<TlsConnector>,
    connection: Option<AcsConnection>,
}

impl AcsClient {
    /// A client trusting the certificates of the PEM file `ca_file` for `https://` URLs
    /// (`None`: plain HTTP only).
    pub(crate) fn new(ca_file: Option<&Path>) -> Result<Self, String> {
        let tls = ca_file.map(tls_connector).transpose()?;
        Ok(Self {
            tls,
            connection: None,
        })
    }

    /// Closes the session's connection (TR-069 §3.2.1: the CPE closes it when the session
    /// ends; a failed exchange leaves it unusable too).
    pub(crate) fn close(&mut self) {
        self.connection = None;
    }

    /// One HTTP/1.1 exchange on the session's connection (opened or reopened as needed).
    pub(crate) async fn post(&mut self, request: &HttpRequest) -> Result<HttpAnswer, String> {
        let uri: Uri = request
            .url
            .parse()
            .map_err(|e| format!("invalid ACS URL: {e}"))?;
        let authority = uri
            .authority()
            .ok_or("the ACS URL has no host")?
            .as_str()
            .to_owned();
        let origin = format!("{}://{authority}", uri.scheme_str().unwrap_or_default());
        let target = uri
            .path_and_query()
            .map_or_else(|| "/".to_owned(), |p| p.as_str().to_owned());
        let reuse = self
            .connection
            .as_ref()
            .is_some_and(|c| c.origin == origin && !c.sender.is_closed());
        if !reuse {
            let sender = self.connect(&uri).await?;
            tracing::debug!(%origin, "connected to the ACS");
            self.connection = Some(AcsConnection { origin, sender });
        }
        let Some(connection) = self.connection.as_mut() else {
            return Err("no connection".into());
        };
        let mut builder = Request::post(target);
        let mut has_host = false;
        for (name, value) in &request.headers {
            has_host |= name.eq_ignore_ascii_case("host");
            builder = builder.header(name.as_str(), value.as_str());
        }
        if !has_host {
            builder = builder.header(header::HOST, authority.as_str());
        }
        let http_request = builder
            .body(Full::new(Bytes::from(request.body.clone())))
            .map_err(|e| format!("cannot build the request: {e}"))?;
        connection
            .sender
            .ready()
            .await
            .map_err(|e| format!("connection lost: {e}"))?;
        let response = connection
            .sender
            .send_request(http_request)
            .await
            .map_err(|e| format!("HTTP exchange failed: {e}"))?;
        let status = response.status().as_u16();
        let headers = response
            .headers()
            .iter()
            .filter_map(|(n, v)| Some((n.as_str().to_owned(), v.to_str().ok()?.to_owned())))
            .collect();
        let body = Limited::new(response.into_body(), MAX_RESPONSE_BODY)
            .collect()
            .await
            .map_err(|e| format!("cannot read the response body: {e}"))?
            .to_bytes()
            .to_vec();
        Ok((status, headers, body))
    }

    /// Opens a connection to the ACS of `uri` (TCP, then TLS for `https`).
    async fn connect(&self, uri: &Uri) -> Result<SendRequest<Full<Bytes>>, String> {
        let host = uri.host().ok_or("the ACS URL has no host")?;
        let host = host.trim_start_matches('[').trim_end_matches(']');
        let secure = match uri.scheme_str() {
            Some("http") => false,
            Some("https") => true,
            _ => return Err("the ACS URL must be http:// or https://".into()),
        };
        let port = uri.port_u16().unwrap_or(if secure { 443 } else { 80 });
        let stream = TcpStream::connect((host, port))
            .await
            .map_err(|e| format!("cannot connect to {host}:{port}: {e}"))?;
        let _ = stream.set_nodelay(true);
        if !secure {
            return handshake(TokioIo::new(stream)).await;
        }
        let tls = self.tls.as_ref().ok_or(
            "an https:// ACS URL needs a CA file to trust ([cwmp] ca_file or --acs-ca-file)",
        )?;
        let name = ServerName::try_from(host.to_owned())
            .map_err(|e| format!("invalid TLS server name {host:?}: {e}"))?;
        let stream = tls
            .connect(name, stream)
            .await
            .map_err(|e| format!("TLS handshake with {host}:{port} failed: {e}"))?;
        handshake(TokioIo::new(stream)).await
    }
}

/// The HTTP/1.1 handshake on `io`; the connection runs in its own task until closed.
async fn handshake<T>(io: T) -> Result<SendRequest<Full<Bytes>>, String>
where
    T: Read + Write + Unpin + Send + 'static,
{
    let (sender, connection) = hyper::client::conn::http1::handshake(io)
        .await
        .map_err(|e| format!("HTTP handshake with the ACS failed: {e}"))?;
    tokio::spawn(async move {
        if let Err(error) = connection.await {
            tracing::debug!(%error, "ACS connection closed");
        }
    });
    Ok(sender)
}

/// TLS client settings trusting the certificates of the PEM file `ca_file`.
fn tls_connector(ca_file: &Path) -> Result<TlsConnector, String> {
    let context = |e: &dyn std::fmt::Display| format!("CA file {}: {e}", ca_file.display());
    let mut roots = rustls::RootCertStore::empty();
    for cert in CertificateDer::pem_file_iter(ca_file).map_err(|e| context(&e))? {
        let cert = cert.map_err(|e| context(&e))?;
        roots.add(cert).map_err(|e| context(&e))?;
    }
    if roots.is_empty() {
        return Err(context(&"no certificate in it"));
    }
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let config = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| format!("TLS settings: {e}"))?
        .with_root_certificates(roots)
        .with_no_client_auth();
    Ok(TlsConnector::from(Arc::new(config)))
}
