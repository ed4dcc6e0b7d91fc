//! The CWMP driver's HTTP client: one kept-alive HTTP/1.1 connection (hyper) per session to
//! the ACS, over TCP for `http://` URLs and over TLS (rustls, ring provider) for `https://`.
//!
//! TLS trusts the agent's CA certificates ([`Trust`]), as every other TLS client of the agent.

use cwmp_core::session::HttpRequest;
use http_body_util::{BodyExt as _, Full, Limited};
use hyper::body::Bytes;
use hyper::client::conn::http1::SendRequest;
use hyper::{Request, Uri, header};
use hyper_util::rt::TokioIo;

use crate::tls::{self, Trust};

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
    /// The CA certificates, when a CA file is configured (without one, `https://` fails).
    trust: Option<Trust>,
    connection: Option<AcsConnection>,
}

impl AcsClient {
    /// A client checking `https://` servers against `trust` (`None`: plain HTTP only).
    pub(crate) fn new(trust: Option<Trust>) -> Self {
        Self {
            trust,
            connection: None,
        }
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
        let io = tls::connect(uri, self.trust.as_ref())
            .await
            .map_err(|e| format!("ACS {uri}: {e}"))?;
        let (sender, connection) = hyper::client::conn::http1::handshake(TokioIo::new(io))
            .await
            .map_err(|e| format!("HTTP handshake with the ACS failed: {e}"))?;
        tokio::spawn(async move {
            if let Err(error) = connection.await {
                tracing::debug!(%error, "ACS connection closed");
            }
        });
        Ok(sender)
    }
}
