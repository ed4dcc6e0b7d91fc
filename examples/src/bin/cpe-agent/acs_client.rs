//! The agent's HTTP client: one kept-alive HTTP/1.1 connection ([`http1`]) per CWMP session
//! to the ACS (or per bulk data report to its collector), over TCP for `http://` URLs and
//! over TLS (rustls, ring provider) for `https://`.
//!
//! TLS trusts the agent's CA certificates ([`Trust`]), as every other TLS client of the agent.

use cwmp_core::session::HttpRequest;
use tokio_tungstenite::tungstenite::http::Uri;

use crate::http1::{self, Conn};
use crate::tls::{self, Io, Trust};

/// Most bytes of a response body (the codec refuses more than 1 MiB anyway).
const MAX_RESPONSE_BODY: usize = 1024 * 1024 + 1;

/// Status, headers and body of a response.
pub(crate) type HttpAnswer = (u16, http1::Headers, Vec<u8>);

/// The HTTP connection of the current session.
struct AcsConnection {
    /// `scheme://authority` it was opened to.
    origin: String,
    conn: Conn<Box<dyn Io>>,
}

/// The client; see the [module docs](self).
pub(crate) struct AcsClient {
    /// The CA certificates, when there are any (without, `https://` fails).
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
        self.send("POST", &request.url, &request.headers, &request.body)
            .await
    }

    /// One `method` request to `url` with `headers` (`Host` added unless given) and `body`, on
    /// the kept connection when it goes to the same origin: the CWMP session's POSTs, and the
    /// bulk data reports ([`crate::bulkdata`]).
    pub(crate) async fn send(
        &mut self,
        method: &str,
        url: &str,
        headers: &[(String, String)],
        body: &[u8],
    ) -> Result<HttpAnswer, String> {
        let uri: Uri = url.parse().map_err(|e| format!("invalid URL: {e}"))?;
        let authority = uri
            .authority()
            .ok_or("the URL has no host")?
            .as_str()
            .to_owned();
        let origin = format!("{}://{authority}", uri.scheme_str().unwrap_or_default());
        let target = uri
            .path_and_query()
            .map_or_else(|| "/".to_owned(), |p| p.as_str().to_owned());
        let reuse = self
            .connection
            .as_ref()
            .is_some_and(|c| c.origin == origin && c.conn.reusable());
        if !reuse {
            let conn = connect(&uri, self.trust.as_ref()).await?;
            tracing::debug!(%origin, "connected");
            self.connection = Some(AcsConnection { origin, conn });
        }
        let Some(connection) = self.connection.as_mut() else {
            return Err("no connection".into());
        };
        let mut headers: Vec<(&str, &str)> = headers
            .iter()
            .map(|(n, v)| (n.as_str(), v.as_str()))
            .collect();
        if !headers.iter().any(|(n, _)| n.eq_ignore_ascii_case("host")) {
            headers.push(("Host", authority.as_str()));
        }
        let conn = &mut connection.conn;
        conn.send_request(method, &target, &headers, body)
            .await
            .map_err(|e| format!("HTTP exchange failed: {e}"))?;
        let head = conn
            .read_response_head()
            .await
            .map_err(|e| format!("HTTP exchange failed: {e}"))?;
        let body = conn
            .read_body(MAX_RESPONSE_BODY)
            .await
            .map_err(|e| format!("cannot read the response body: {e}"))?;
        Ok((head.status, head.headers, body))
    }
}

/// Opens a connection to `uri` (TCP, then TLS for `https`).
async fn connect(uri: &Uri, trust: Option<&Trust>) -> Result<Conn<Box<dyn Io>>, String> {
    let io = tls::connect(uri, trust)
        .await
        .map_err(|e| format!("{uri}: {e}"))?;
    Ok(Conn::new(io))
}
