//! The XMPP client stream that carries connection requests (TR-069 Annex K, RFC 6120), sans-IO.
//!
//! [`XmppClient`] runs one client-to-server stream: the stream header, STARTTLS (the driver
//! runs the TLS handshake when [`XmppEvent::StartTls`] says so, then calls
//! [`XmppClient::handle_tls_established`]), SASL (`SCRAM-SHA-256`, then `SCRAM-SHA-1`, then
//! `PLAIN`, the first the server offers; [`scram`](super::scram) checks that a SCRAM server
//! knows the password), resource binding, the initial
//! presence, and whitespace keep-alives (RFC 6120 §4.6.1). Once bound it hands each
//! `connectionRequest` IQ to the driver ([`XmppEvent::ConnectionRequest`], for
//! [`XmppConnReqValidator`](super::xmpp::XmppConnReqValidator)), answers XEP-0199 pings, and
//! refuses other IQ requests with `service-unavailable` (RFC 6120 §8.4); any other stanza
//! goes to the driver as it is ([`XmppEvent::Stanza`]).
//!
//! Why not an XMPP library: `tokio-xmpp` 4.0 with STARTTLS over rustls pulls in 160 crates
//! (a DNS resolver, `xmpp-parsers` with every XEP, `minidom`, `rxml`, `webpki-roots`),
//! far above the few tens of kilobytes a router build can spare for this; the client here
//! reuses the quick-xml, base64 and rustls the agent already links.
//!
//! Drive loop (as the rest of the crate): feed received bytes with
//! [`handle_data`](XmppClient::handle_data), the clock with
//! [`handle_timeout`](XmppClient::handle_timeout); then drain
//! [`poll_transmit`](XmppClient::poll_transmit) and [`poll_event`](XmppClient::poll_event),
//! and sleep until [`poll_timeout`](XmppClient::poll_timeout). An error from `handle_data`
//! ends the stream: the driver closes the connection and reconnects after
//! [`ReconnectPolicy::wait`].
//!
//! The server is untrusted: the stream is cut into stanzas by a resumable scanner bounded by
//! [`Limits`] (stanza bytes, nesting depth, attributes), comments, processing instructions and
//! DOCTYPEs are refused (RFC 6120 §11.1), and a breach is a typed [`XmppClientError`].
//!
//! Not in scope: the channel-binding `-PLUS` SCRAM variants, stream management, DNS lookups
//! (the driver resolves the server, with [`xmpp_srv`](super::xmpp_srv) for SRV records;
//! [`server_order`] orders a server table or the SRV targets), and the legacy session IQ
//! (RFC 3921), which RFC 6120 servers no longer require.

use std::collections::VecDeque;
use std::fmt::Write as _;
use std::time::{Duration, Instant};

use base64::Engine as _;
use quick_xml::escape::escape;
use quick_xml::events::{BytesStart, Event};
use quick_xml::reader::Reader;

use super::scram::{ScramClient, ScramError, ScramHash};
use super::xmpp::{MAX_CREDENTIAL_CHARS, XMPP_CONN_REQ_NS, XmppConnReq};

const TLS_NS: &str = "urn:ietf:params:xml:ns:xmpp-tls";
const SASL_NS: &str = "urn:ietf:params:xml:ns:xmpp-sasl";
const BIND_NS: &str = "urn:ietf:params:xml:ns:xmpp-bind";
const PING_NS: &str = "urn:xmpp:ping";
const STANZAS_NS: &str = "urn:ietf:params:xml:ns:xmpp-stanzas";
/// The `id` of the bind request.
const BIND_ID: &str = "bind_1";
/// Most bytes of one tag or CDATA section: the scanner re-reads an unfinished one whole.
const MAX_TOKEN_BYTES: usize = 8192;

/// Bounds on what the server sends.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct Limits {
    /// Most bytes of one stanza (and of the stream header). Default 64 KiB.
    pub max_stanza_bytes: usize,
    /// Most element nesting within a stanza. Default 16.
    pub max_depth: usize,
    /// Most attributes on one element. Default 16.
    pub max_attributes: usize,
    /// Most SCRAM iterations a server may ask for (each costs two HMACs). Default 100 000.
    pub max_scram_iterations: u32,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            max_stanza_bytes: 64 * 1024,
            max_depth: 16,
            max_attributes: 16,
            max_scram_iterations: 100_000,
        }
    }
}

/// Settings of the [`XmppClient`], from a `Device.XMPP.Connection.{i}.` row.
#[derive(Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct XmppClientConfig {
    /// `Username`: the local part of the JID and the SASL user.
    pub username: String,
    /// `Password`.
    pub password: String,
    /// `Domain`: the stream's `to`, and the name the server's certificate must carry.
    pub domain: String,
    /// `Resource`: the resource to bind (empty: the server picks one).
    pub resource: String,
    /// `UseTLS`: start TLS even when the server does not require it, and refuse a server
    /// that does not offer it.
    pub use_tls: bool,
    /// Whether the driver can run TLS (it has a trust store). Without it a server that
    /// requires STARTTLS is refused.
    pub tls_available: bool,
    /// `KeepAliveInterval`: a whitespace keep-alive this often once bound (`None`: none).
    pub keepalive: Option<Duration>,
    /// Bounds on the server's input.
    pub limits: Limits,
}

impl std::fmt::Debug for XmppClientConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("XmppClientConfig")
            .field("username", &self.username)
            .field("password", &"<redacted>")
            .field("domain", &self.domain)
            .field("resource", &self.resource)
            .field("use_tls", &self.use_tls)
            .field("tls_available", &self.tls_available)
            .field("keepalive", &self.keepalive)
            .field("limits", &self.limits)
            .finish()
    }
}

impl XmppClientConfig {
    /// Settings for `username@domain/resource`; TLS neither demanded nor available, no
    /// keep-alive, default limits.
    #[must_use]
    pub fn new(
        username: impl Into<String>,
        password: impl Into<String>,
        domain: impl Into<String>,
        resource: impl Into<String>,
    ) -> Self {
        Self {
            username: username.into(),
            password: password.into(),
            domain: domain.into(),
            resource: resource.into(),
            use_tls: false,
            tls_available: false,
            keepalive: None,
            limits: Limits::default(),
        }
    }

    /// Sets whether TLS is demanded (`UseTLS`) and whether the driver can run it.
    #[must_use]
    pub fn with_tls(mut self, use_tls: bool, tls_available: bool) -> Self {
        self.use_tls = use_tls;
        self.tls_available = tls_available;
        self
    }

    /// Sets the keep-alive interval.
    #[must_use]
    pub fn with_keepalive(mut self, keepalive: Option<Duration>) -> Self {
        self.keepalive = keepalive;
        self
    }
}

/// Why the stream ended.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum XmppClientError {
    /// SASL `failure` (wrong user name or password): `Status` `Error_AuthenticationFailure`.
    #[error("authentication failed: {condition}")]
    AuthenticationFailed {
        /// The SASL condition (`not-authorized`, …).
        condition: String,
    },
    /// The server refused to bind the resource.
    #[error("resource binding failed: {0}")]
    BindFailed(String),
    /// A comment, processing instruction or DOCTYPE (RFC 6120 §11.1).
    #[error("{0} not allowed in an XMPP stream")]
    Forbidden(&'static str),
    /// Not well-formed, not UTF-8, or text between stanzas.
    #[error("malformed stream: {0}")]
    Malformed(String),
    /// The server offers no SASL mechanism this client has (`SCRAM-SHA-256`, `SCRAM-SHA-1`,
    /// `PLAIN`).
    #[error("the server offers no SCRAM or PLAIN authentication")]
    NoMechanism,
    /// The SCRAM exchange failed: a malformed message, or a server that does not prove it
    /// knows the password.
    #[error("SCRAM: {0}")]
    Scram(#[from] ScramError),
    /// The server closed the stream with a stream error.
    #[error("stream error from the server: {condition}")]
    StreamError {
        /// The condition (`conflict`, `system-shutdown`, …).
        condition: String,
    },
    /// `UseTLS` is set, but the server does not offer STARTTLS.
    #[error("UseTLS is set but the server does not offer STARTTLS")]
    TlsNotOffered,
    /// The server requires STARTTLS, but the driver cannot run TLS (no trust store).
    #[error("the server requires TLS but no CA file is configured to check it")]
    TlsUnavailable,
    /// Nested deeper than [`Limits::max_depth`].
    #[error("nested deeper than {max}")]
    TooDeep {
        /// The limit.
        max: usize,
    },
    /// A stanza longer than [`Limits::max_stanza_bytes`] (or a tag longer than 8 KiB).
    #[error("stanza longer than {max} bytes")]
    TooLarge {
        /// The limit.
        max: usize,
    },
    /// More than [`Limits::max_attributes`] attributes on an element.
    #[error("more than {max} attributes on an element")]
    TooManyAttributes {
        /// The limit.
        max: usize,
    },
    /// Something the negotiation did not expect at this point.
    #[error("unexpected `{0}` from the server")]
    Unexpected(String),
}

/// What the driver must act on.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum XmppEvent {
    /// The stream is negotiated: the bound full JID (`Connection.{i}.JabberID`).
    Bound {
        /// The JID the server assigned.
        jid: String,
    },
    /// The server closed the stream (`</stream:stream>`); close the connection.
    Closed,
    /// A `connectionRequest` IQ `get`: judge it
    /// ([`XmppConnReqValidator::handle_request`](super::xmpp::XmppConnReqValidator::handle_request))
    /// and send the reply with [`XmppClient::send_stanza`]. One without its `id`, `username`
    /// or `password`, or with credentials over 256 characters, is refused here with
    /// `bad-request`.
    ConnectionRequest(XmppConnReq),
    /// Any other stanza once bound (a message, a presence, an IQ result or error), for the
    /// driver to use or drop.
    Stanza(String),
    /// Run the TLS handshake on the connection now (nothing more is sent in plain), then call
    /// [`XmppClient::handle_tls_established`].
    StartTls,
}

/// Stanzas (`iq`, `presence`, `message`) of one stream, as `Connection.{i}.Stats.` counts
/// them.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct XmppStats {
    /// `ReceivedMessages`.
    pub received: u32,
    /// `ReceivedErrorMessages`: received with `type="error"`.
    pub received_errors: u32,
    /// `TransmittedMessages`.
    pub transmitted: u32,
    /// `TransmittedErrorMessages`: sent with `type="error"`.
    pub transmitted_errors: u32,
}

impl XmppStats {
    /// The sums of both counts (the driver adds the streams of one row up), saturating.
    #[must_use]
    pub fn plus(self, other: Self) -> Self {
        Self {
            received: self.received.saturating_add(other.received),
            received_errors: self.received_errors.saturating_add(other.received_errors),
            transmitted: self.transmitted.saturating_add(other.transmitted),
            transmitted_errors: self
                .transmitted_errors
                .saturating_add(other.transmitted_errors),
        }
    }
}

/// Where the negotiation is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum State {
    /// Waiting for the server's stream header.
    Header,
    /// Waiting for `stream:features`.
    Features,
    /// `starttls` sent, waiting for `proceed`.
    Proceed,
    /// `proceed` received: the driver runs the TLS handshake.
    TlsSwitch,
    /// `auth` sent: challenges and responses until `success`.
    Auth,
    /// The bind IQ sent.
    Bind,
    /// Negotiated.
    Bound,
    /// Ended.
    Closed,
}

/// The client stream; see the [module docs](self).
#[derive(Debug)]
pub struct XmppClient {
    config: XmppClientConfig,
    state: State,
    framer: Framer,
    tls: bool,
    /// The SCRAM client nonce (the driver's random bytes in base64).
    nonce: String,
    /// The SASL mechanism chosen.
    mechanism: Option<&'static str>,
    /// The SCRAM exchange, while it runs.
    scram: Option<ScramClient>,
    authenticated: bool,
    jid: Option<String>,
    transmit: VecDeque<Vec<u8>>,
    events: VecDeque<XmppEvent>,
    next_keepalive: Option<Instant>,
    stats: XmppStats,
}

impl XmppClient {
    /// A client on a fresh TCP connection: the stream header is the first transmit.
    /// `random`: fresh random bytes from the driver's RNG, the SCRAM client nonce.
    #[must_use]
    pub fn new(config: XmppClientConfig, random: [u8; 18]) -> Self {
        let framer = Framer::new(config.limits);
        let mut client = Self {
            config,
            state: State::Header,
            framer,
            tls: false,
            nonce: base64::engine::general_purpose::STANDARD.encode(random),
            mechanism: None,
            scram: None,
            authenticated: false,
            jid: None,
            transmit: VecDeque::new(),
            events: VecDeque::new(),
            next_keepalive: None,
            stats: XmppStats::default(),
        };
        client.open_stream();
        client
    }

    /// Whether the stream runs over TLS (`Connection.{i}.TLSEstablished`).
    #[must_use]
    pub fn is_tls(&self) -> bool {
        self.tls
    }

    /// The SASL mechanism the stream authenticated with (`SCRAM-SHA-256`, `SCRAM-SHA-1` or
    /// `PLAIN`), once it has.
    #[must_use]
    pub fn mechanism(&self) -> Option<&'static str> {
        self.mechanism.filter(|_| self.authenticated)
    }

    /// The bound full JID, once [`XmppEvent::Bound`] came.
    #[must_use]
    pub fn jid(&self) -> Option<&str> {
        self.jid.as_deref()
    }

    /// The stanzas of this stream so far.
    #[must_use]
    pub fn stats(&self) -> XmppStats {
        self.stats
    }

    /// Bytes received from the server.
    ///
    /// # Errors
    ///
    /// Any [`XmppClientError`]: the stream is over, close the connection.
    pub fn handle_data(&mut self, now: Instant, data: &[u8]) -> Result<(), XmppClientError> {
        if matches!(self.state, State::Closed | State::TlsSwitch) {
            // Nothing may follow `proceed` in plain, nor `</stream:stream>`.
            return if data.is_empty() {
                Ok(())
            } else {
                Err(XmppClientError::Unexpected("data after the stream".into()))
            };
        }
        self.framer.push(data);
        while let Some(frame) = self.framer.next_frame()? {
            match frame {
                Frame::Header(header) => self.handle_header(&header)?,
                Frame::Stanza(text) => {
                    let stanza = Element::parse(&text, &self.config.limits)?;
                    self.handle_stanza(now, &stanza, text)?;
                }
                Frame::End => {
                    self.state = State::Closed;
                    self.events.push_back(XmppEvent::Closed);
                }
            }
            if matches!(self.state, State::Closed | State::TlsSwitch) {
                break;
            }
        }
        Ok(())
    }

    /// The driver finished the TLS handshake that [`XmppEvent::StartTls`] asked for: the
    /// stream starts over (RFC 6120 §5.4.3.3).
    pub fn handle_tls_established(&mut self) {
        if self.state == State::TlsSwitch {
            self.tls = true;
            self.restart();
        }
    }

    /// The clock moved: sends a whitespace keep-alive when one is due.
    pub fn handle_timeout(&mut self, now: Instant) {
        let (Some(at), Some(interval)) = (self.next_keepalive, self.config.keepalive) else {
            return;
        };
        if now >= at && self.state == State::Bound {
            self.transmit.push_back(b" ".to_vec());
            self.next_keepalive = now.checked_add(interval);
        }
    }

    /// When [`handle_timeout`](Self::handle_timeout) wants to be called.
    #[must_use]
    pub fn poll_timeout(&self) -> Option<Instant> {
        self.next_keepalive.filter(|_| self.state == State::Bound)
    }

    /// The next bytes to send.
    pub fn poll_transmit(&mut self) -> Option<Vec<u8>> {
        self.transmit.pop_front()
    }

    /// The next event.
    pub fn poll_event(&mut self) -> Option<XmppEvent> {
        self.events.pop_front()
    }

    /// Sends a stanza the driver built (the reply to a connection request).
    pub fn send_stanza(&mut self, stanza: &str) {
        if self.state == State::Bound {
            let error = Element::parse(stanza, &self.config.limits)
                .is_ok_and(|e| e.attribute("type").as_deref() == Some("error"));
            self.send(stanza.to_owned(), error);
        }
    }

    /// Ends the stream politely (the driver then closes the connection).
    pub fn close(&mut self) {
        if self.state != State::Closed {
            self.transmit.push_back(b"</stream:stream>".to_vec());
            self.state = State::Closed;
        }
    }

    /// Queues a stanza, counted.
    fn send(&mut self, stanza: String, error: bool) {
        self.stats.transmitted = self.stats.transmitted.saturating_add(1);
        if error {
            self.stats.transmitted_errors = self.stats.transmitted_errors.saturating_add(1);
        }
        self.transmit.push_back(stanza.into_bytes());
    }

    fn open_stream(&mut self) {
        let header = format!(
            "<?xml version='1.0'?><stream:stream xmlns='jabber:client' \
             xmlns:stream='http://etherx.jabber.org/streams' to='{}' version='1.0'>",
            escape(&self.config.domain)
        );
        self.transmit.push_back(header.into_bytes());
    }

    /// A new stream on the same connection (after TLS or authentication).
    fn restart(&mut self) {
        self.framer = Framer::new(self.config.limits);
        self.state = State::Header;
        self.open_stream();
    }

    fn handle_header(&mut self, header: &str) -> Result<(), XmppClientError> {
        if self.state != State::Header {
            return Err(XmppClientError::Unexpected("stream:stream".into()));
        }
        // The tag alone, closed, so that quick-xml reads its attributes.
        let tag = format!("{}/>", header.trim_end().trim_end_matches('>'));
        let root = Element::parse(&tag, &self.config.limits)?;
        if root.attribute("version").as_deref() != Some("1.0") {
            return Err(XmppClientError::Unexpected(
                "stream version other than 1.0".into(),
            ));
        }
        self.state = State::Features;
        Ok(())
    }

    fn handle_stanza(
        &mut self,
        now: Instant,
        stanza: &Element,
        text: String,
    ) -> Result<(), XmppClientError> {
        if matches!(stanza.name.as_str(), "iq" | "presence" | "message") {
            self.stats.received = self.stats.received.saturating_add(1);
            if stanza.attribute("type").as_deref() == Some("error") {
                self.stats.received_errors = self.stats.received_errors.saturating_add(1);
            }
        }
        if stanza.name == "stream:error" {
            let condition = stanza
                .children
                .first()
                .map_or_else(|| "undefined-condition".to_owned(), |c| c.name.clone());
            return Err(XmppClientError::StreamError { condition });
        }
        match self.state {
            State::Features if stanza.name == "stream:features" => self.handle_features(stanza),
            State::Proceed if stanza.is("proceed", TLS_NS) => {
                self.state = State::TlsSwitch;
                self.events.push_back(XmppEvent::StartTls);
                Ok(())
            }
            State::Proceed if stanza.is("failure", TLS_NS) => {
                Err(XmppClientError::Unexpected("STARTTLS failure".into()))
            }
            State::Auth if stanza.is("challenge", SASL_NS) => self.handle_challenge(stanza),
            State::Auth if stanza.is("success", SASL_NS) => {
                // SCRAM: the server-final message, unless a challenge carried it. Without
                // it the server did not prove itself: fail closed.
                if let Some(scram) = self.scram.as_mut().filter(|scram| !scram.is_done()) {
                    scram.handle_server_final(&sasl_data(stanza)?)?;
                }
                self.scram = None;
                self.authenticated = true;
                self.restart();
                Ok(())
            }
            State::Auth if stanza.is("failure", SASL_NS) => {
                let condition = stanza
                    .children
                    .iter()
                    .find(|c| c.name != "text")
                    .map_or_else(|| "not-authorized".to_owned(), |c| c.name.clone());
                Err(XmppClientError::AuthenticationFailed { condition })
            }
            State::Bind
                if stanza.name == "iq" && stanza.attribute("id").as_deref() == Some(BIND_ID) =>
            {
                self.handle_bound(now, stanza)
            }
            State::Bound => {
                self.handle_bound_stanza(stanza, text);
                Ok(())
            }
            _ => Err(XmppClientError::Unexpected(stanza.name.clone())),
        }
    }

    fn handle_features(&mut self, features: &Element) -> Result<(), XmppClientError> {
        if !self.tls {
            if let Some(starttls) = features.child("starttls", TLS_NS) {
                let required = starttls.child("required", TLS_NS).is_some();
                if self.config.tls_available && (required || self.config.use_tls) {
                    self.transmit
                        .push_back(format!("<starttls xmlns='{TLS_NS}'/>").into_bytes());
                    self.state = State::Proceed;
                    return Ok(());
                }
                if required || self.config.use_tls {
                    return Err(XmppClientError::TlsUnavailable);
                }
            } else if self.config.use_tls {
                return Err(XmppClientError::TlsNotOffered);
            }
        }
        if !self.authenticated {
            let offered = |name: &str| {
                features.child("mechanisms", SASL_NS).is_some_and(|m| {
                    m.children
                        .iter()
                        .any(|c| c.name == "mechanism" && c.text.trim() == name)
                })
            };
            let scram = [ScramHash::Sha256, ScramHash::Sha1]
                .into_iter()
                .find(|hash| offered(hash.mechanism()));
            let config = &self.config;
            let (mechanism, initial) = match scram {
                Some(hash) => {
                    let scram =
                        ScramClient::new(hash, &config.username, &config.password, &self.nonce);
                    let first = scram.client_first();
                    self.scram = Some(scram);
                    (hash.mechanism(), first)
                }
                None if offered("PLAIN") => (
                    "PLAIN",
                    format!("\0{}\0{}", config.username, config.password),
                ),
                None => return Err(XmppClientError::NoMechanism),
            };
            let encoded = base64::engine::general_purpose::STANDARD.encode(initial);
            self.transmit.push_back(
                format!("<auth xmlns='{SASL_NS}' mechanism='{mechanism}'>{encoded}</auth>")
                    .into_bytes(),
            );
            self.mechanism = Some(mechanism);
            self.state = State::Auth;
            return Ok(());
        }
        if features.child("bind", BIND_NS).is_none() {
            return Err(XmppClientError::BindFailed(
                "the server offers no resource binding".into(),
            ));
        }
        let resource = if self.config.resource.is_empty() {
            String::new()
        } else {
            format!("<resource>{}</resource>", escape(&self.config.resource))
        };
        self.send(
            format!("<iq type='set' id='{BIND_ID}'><bind xmlns='{BIND_NS}'>{resource}</bind></iq>"),
            false,
        );
        self.state = State::Bind;
        Ok(())
    }

    /// A SASL `challenge`: the SCRAM server-first message, answered with the client-final one;
    /// or the server-final message (RFC 6120 §6.4.6 allows it here), checked and answered
    /// with an empty response.
    fn handle_challenge(&mut self, challenge: &Element) -> Result<(), XmppClientError> {
        let data = sasl_data(challenge)?;
        let max_iterations = self.config.limits.max_scram_iterations;
        let scram = self
            .scram
            .as_mut()
            .ok_or_else(|| XmppClientError::Unexpected("challenge".into()))?;
        let response = if scram.awaits_server_first() {
            scram.handle_server_first(&data, max_iterations)?
        } else {
            scram.handle_server_final(&data)?;
            String::new()
        };
        let encoded = base64::engine::general_purpose::STANDARD.encode(response);
        self.transmit
            .push_back(format!("<response xmlns='{SASL_NS}'>{encoded}</response>").into_bytes());
        Ok(())
    }

    fn handle_bound(&mut self, now: Instant, iq: &Element) -> Result<(), XmppClientError> {
        if iq.attribute("type").as_deref() != Some("result") {
            let condition = iq
                .child("error", "")
                .and_then(|e| e.children.first())
                .map_or_else(|| "error".to_owned(), |c| c.name.clone());
            return Err(XmppClientError::BindFailed(condition));
        }
        let jid = iq
            .child("bind", BIND_NS)
            .and_then(|b| b.children.iter().find(|c| c.name == "jid"))
            .map(|j| j.text.trim().to_owned())
            .filter(|jid| !jid.is_empty())
            .ok_or_else(|| XmppClientError::BindFailed("no jid in the bind result".into()))?;
        // The initial presence (RFC 6121 §4.2) makes the CPE "available" to its ACS.
        self.send("<presence/>".to_owned(), false);
        self.state = State::Bound;
        self.next_keepalive = self.config.keepalive.and_then(|d| now.checked_add(d));
        self.jid = Some(jid.clone());
        self.events.push_back(XmppEvent::Bound { jid });
        Ok(())
    }

    fn handle_bound_stanza(&mut self, stanza: &Element, text: String) {
        let kind = stanza.attribute("type");
        if stanza.name != "iq" || !matches!(kind.as_deref(), Some("get" | "set")) {
            self.events.push_back(XmppEvent::Stanza(text));
            return;
        }
        let get = kind.as_deref() == Some("get");
        let payload = stanza.children.first();
        let condition = match payload {
            Some(p) if get && p.is("connectionRequest", XMPP_CONN_REQ_NS) => {
                match connection_request(stanza, p) {
                    Some(request) => {
                        self.events.push_back(XmppEvent::ConnectionRequest(request));
                        return;
                    }
                    None => Some("bad-request"),
                }
            }
            Some(p) if get && p.is("ping", PING_NS) => None,
            _ => Some("service-unavailable"),
        };
        let mut reply = String::with_capacity(192);
        reply.push_str("<iq type='");
        reply.push_str(if condition.is_none() {
            "result'"
        } else {
            "error'"
        });
        for (name, attribute) in [("id", "id"), ("to", "from")] {
            if let Some(value) = stanza.attribute(attribute) {
                let _ = write!(reply, " {name}='{}'", escape(&value));
            }
        }
        match condition {
            None => reply.push_str("/>"),
            Some(condition) => {
                let _ = write!(
                    reply,
                    "><error type='{}'><{condition} xmlns='{STANZAS_NS}'/></error></iq>",
                    if condition == "bad-request" {
                        "modify"
                    } else {
                        "cancel"
                    }
                );
            }
        }
        self.send(reply, condition.is_some());
    }
}

/// The data of a SASL element: base64 text, `=` for empty (RFC 6120 §6.4.2).
fn sasl_data(element: &Element) -> Result<Vec<u8>, XmppClientError> {
    let text = element.text.trim();
    if text == "=" {
        return Ok(Vec::new());
    }
    base64::engine::general_purpose::STANDARD
        .decode(text)
        .map_err(|e| XmppClientError::Malformed(format!("SASL data: {e}")))
}

/// The request of a `connectionRequest` IQ `get`, if it is complete and within bounds.
fn connection_request(iq: &Element, payload: &Element) -> Option<XmppConnReq> {
    let field = |name: &str| {
        let mut found = payload.children.iter().filter(|c| c.name == name);
        let text = &found.next()?.text;
        (found.next().is_none() && text.chars().count() <= MAX_CREDENTIAL_CHARS)
            .then(|| text.clone())
    };
    Some(XmppConnReq {
        id: iq.attribute("id")?,
        from: iq.attribute("from"),
        to: iq.attribute("to"),
        username: field("username")?,
        password: field("password")?,
    })
}

/// How long to wait before reconnection attempt `retry` (1 for the first reconnection), from
/// `Connection.{i}.ServerRetry*`: a random value between 0 and
/// `initial × (multiplier / 1000)^(retry − 1)`, and `max` when it draws more
/// ([`hal::retry::ceiling_wait_ms`]; unlike STOMP's, XMPP's bound grows with every retry).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct ReconnectPolicy {
    /// `ServerRetryInitialInterval`, seconds (1..=65535).
    pub initial: u32,
    /// `ServerRetryIntervalMultiplier`, thousandths (1000..=65535; below counts as 1000).
    pub multiplier: u32,
    /// `ServerRetryMaxInterval`, seconds.
    pub max: u32,
}

impl Default for ReconnectPolicy {
    /// The TR-181 defaults: 60 s, ×2, at most 30720 s.
    fn default() -> Self {
        Self::new(60, 2000, 30720)
    }
}

impl ReconnectPolicy {
    /// A policy of the three parameters.
    #[must_use]
    pub fn new(initial: u32, multiplier: u32, max: u32) -> Self {
        Self {
            initial,
            multiplier,
            max,
        }
    }

    /// The longest wait `retry` can be, in milliseconds.
    #[must_use]
    pub fn bound_ms(&self, retry: u32) -> u64 {
        let ceiling = hal::retry::ceiling_ms(self.initial_ms(), self.multiplier, retry, GROWTH);
        ceiling.min(self.max_ms())
    }

    /// Wait `retry`, drawn with `random` (the driver's randomness).
    #[must_use]
    pub fn wait(&self, retry: u32, random: u64) -> Duration {
        Duration::from_millis(hal::retry::ceiling_wait_ms(
            self.initial_ms(),
            self.multiplier,
            retry,
            GROWTH,
            self.max_ms(),
            random,
        ))
    }

    fn initial_ms(&self) -> u64 {
        u64::from(self.initial) * 1000
    }

    fn max_ms(&self) -> u64 {
        u64::from(self.max) * 1000
    }
}

/// XMPP's `ServerRetryIntervalMultiplier` sets no retry count where the bound stops growing.
const GROWTH: hal::retry::Growth = hal::retry::Growth::Unlimited;

/// The order to try the servers of a `Connection.{i}.Server.` table in: lowest `Priority`
/// first, and within one priority by `Weight` as RFC 2782 selects (each pick draws a number
/// between 0 and the sum of the remaining weights with `random`, the driver's RNG, and takes
/// the first server whose running sum of weights reaches it; weight 0 comes first, with a
/// small chance when others weigh more). `servers`: `(Priority, Weight, server)`; a
/// `Weight` of -1 ("vendor specific") is best given as 0, RFC 2782's "no preference".
pub fn server_order<T>(servers: Vec<(u32, u16, T)>, mut random: impl FnMut() -> u64) -> Vec<T> {
    let mut rest = servers;
    // Stable: equal rows keep the table's order.
    rest.sort_by_key(|(priority, weight, _)| (*priority, *weight != 0));
    let mut ordered = Vec::with_capacity(rest.len());
    while let Some(&(priority, ..)) = rest.first() {
        let group = rest.iter().take_while(|(p, ..)| *p == priority);
        let total: u64 = group.clone().map(|(_, weight, _)| u64::from(*weight)).sum();
        let pick = random() % total.saturating_add(1);
        let mut running = 0_u64;
        let index = group
            .map(|(_, weight, _)| {
                running = running.saturating_add(u64::from(*weight));
                running
            })
            .position(|sum| sum >= pick)
            .unwrap_or(0);
        ordered.push(rest.remove(index).2);
    }
    ordered
}

/// One unit of the stream.
#[derive(Debug)]
enum Frame {
    /// The server's `stream:stream` start tag.
    Header(String),
    /// A whole top-level element.
    Stanza(String),
    /// `</stream:stream>`.
    End,
}

/// Cuts the byte stream into frames; resumable, so that a stanza arriving byte by byte is
/// scanned once (an unfinished tag or CDATA section again, at most 8 KiB).
#[derive(Debug)]
struct Framer {
    buf: Vec<u8>,
    /// Bytes of `buf` scanned into the current frame.
    scanned: usize,
    depth: usize,
    header_seen: bool,
    limits: Limits,
}

/// What a token at the scan position is.
enum Token {
    /// Not all of it is here yet.
    Partial,
    /// `len` bytes to skip (text, a CDATA section, the XML declaration).
    Skip(usize),
    /// A start tag of `len` bytes; `empty` when it ends with `/>`.
    Start { len: usize, empty: bool },
    /// An end tag of `len` bytes.
    End(usize),
}

impl Framer {
    fn new(limits: Limits) -> Self {
        Self {
            buf: Vec::new(),
            scanned: 0,
            depth: 0,
            header_seen: false,
            limits,
        }
    }

    fn push(&mut self, data: &[u8]) {
        self.buf.extend_from_slice(data);
    }

    fn next_frame(&mut self) -> Result<Option<Frame>, XmppClientError> {
        loop {
            if self.depth == 0 {
                // Whitespace between stanzas (the server's keep-alives) is dropped.
                let blank = self
                    .buf
                    .iter()
                    .position(|b| !b.is_ascii_whitespace())
                    .unwrap_or(self.buf.len());
                self.buf.drain(..blank);
                self.scanned = 0;
            }
            let rest = self.buf.get(self.scanned..).unwrap_or_default();
            if self.scanned > self.limits.max_stanza_bytes {
                return Err(XmppClientError::TooLarge {
                    max: self.limits.max_stanza_bytes,
                });
            }
            let token = self.token(rest)?;
            let (len, depth) = match token {
                Token::Partial => {
                    if self.buf.len().saturating_sub(self.scanned) > MAX_TOKEN_BYTES {
                        return Err(XmppClientError::TooLarge {
                            max: MAX_TOKEN_BYTES,
                        });
                    }
                    return Ok(None);
                }
                Token::Skip(len) => (len, self.depth),
                Token::Start { len, empty } => {
                    if !self.header_seen {
                        self.header_seen = true;
                        let header = self.take(len)?;
                        if !is_stream_tag(&header) {
                            return Err(XmppClientError::Unexpected(header));
                        }
                        return Ok(Some(Frame::Header(header)));
                    }
                    let depth = if empty {
                        self.depth
                    } else {
                        self.depth.saturating_add(1)
                    };
                    if depth > self.limits.max_depth {
                        return Err(XmppClientError::TooDeep {
                            max: self.limits.max_depth,
                        });
                    }
                    (len, depth)
                }
                Token::End(len) => {
                    if self.depth == 0 {
                        self.take(len)?;
                        return Ok(Some(Frame::End));
                    }
                    (len, self.depth.saturating_sub(1))
                }
            };
            self.scanned = self.scanned.saturating_add(len);
            let closes = depth == 0 && !matches!(token, Token::Skip(_));
            self.depth = depth;
            if closes {
                return self.take(self.scanned).map(|s| Some(Frame::Stanza(s)));
            }
            if !self.header_seen && self.scanned > 0 {
                // The XML declaration before the header: dropped.
                self.buf.drain(..self.scanned);
                self.scanned = 0;
            }
        }
    }

    /// Removes the first `len` bytes as text.
    fn take(&mut self, len: usize) -> Result<String, XmppClientError> {
        let bytes: Vec<u8> = self.buf.drain(..len.min(self.buf.len())).collect();
        self.scanned = 0;
        String::from_utf8(bytes).map_err(|e| XmppClientError::Malformed(e.to_string()))
    }

    /// The token at the start of `rest`.
    fn token(&self, rest: &[u8]) -> Result<Token, XmppClientError> {
        let Some(&first) = rest.first() else {
            return Ok(Token::Partial);
        };
        if first != b'<' {
            if self.depth == 0 {
                return Err(XmppClientError::Malformed("text between stanzas".into()));
            }
            return Ok(match memchr::memchr(b'<', rest) {
                Some(at) => Token::Skip(at),
                None => Token::Skip(rest.len()),
            });
        }
        let starts = |prefix: &[u8]| {
            let n = prefix.len().min(rest.len());
            rest.get(..n) == prefix.get(..n)
        };
        if rest.len() < 2 {
            return Ok(Token::Partial);
        }
        if starts(b"<?") {
            if self.header_seen || !starts(b"<?xml ") {
                return Err(XmppClientError::Forbidden("a processing instruction"));
            }
            return Ok(find(rest, b"?>").map_or(Token::Partial, Token::Skip));
        }
        if starts(b"<!--") {
            if rest.len() < 4 {
                return Ok(Token::Partial);
            }
            return Err(XmppClientError::Forbidden("a comment"));
        }
        if starts(b"<![CDATA[") {
            if rest.len() < 9 {
                return Ok(Token::Partial);
            }
            if self.depth == 0 {
                return Err(XmppClientError::Malformed("CDATA between stanzas".into()));
            }
            return Ok(find(rest, b"]]>").map_or(Token::Partial, Token::Skip));
        }
        if starts(b"<!") {
            return Err(XmppClientError::Forbidden("a document type declaration"));
        }
        if starts(b"</") {
            return Ok(memchr::memchr(b'>', rest).map_or(Token::Partial, |at| Token::End(at + 1)));
        }
        // A start tag: its `>` outside quoted attribute values.
        let mut quote = None;
        for (at, &byte) in rest.iter().enumerate().skip(1) {
            match (quote, byte) {
                (None, b'"' | b'\'') => quote = Some(byte),
                (Some(q), _) if q == byte => quote = None,
                (None, b'<') => return Err(XmppClientError::Malformed("`<` in a tag".into())),
                (None, b'>') => {
                    let empty = at > 1 && rest.get(at - 1) == Some(&b'/');
                    return Ok(Token::Start { len: at + 1, empty });
                }
                _ => {}
            }
        }
        Ok(Token::Partial)
    }
}

/// The end of the first `needle` in `haystack` (its length included).
fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    // The scanner bounds the haystack (8 KiB): no searcher to set up.
    haystack
        .windows(needle.len())
        .position(|window| window == needle)
        .map(|at| at + needle.len())
}

/// Whether a start tag is `stream:stream` (any prefix, local name `stream`).
fn is_stream_tag(tag: &str) -> bool {
    let name = tag
        .trim_start_matches('<')
        .split(|c: char| c.is_ascii_whitespace() || c == '>' || c == '/')
        .next()
        .unwrap_or_default();
    name.rsplit(':').next() == Some("stream")
}

/// A small element tree of one stanza (bounded by [`Limits`]). Names keep their prefix;
/// `ns` is the default namespace in scope (`xmlns`), empty when none.
#[derive(Debug, Default)]
struct Element {
    name: String,
    ns: String,
    attributes: Vec<(String, String)>,
    children: Vec<Self>,
    text: String,
}

impl Element {
    fn parse(text: &str, limits: &Limits) -> Result<Self, XmppClientError> {
        let mut reader = Reader::from_str(text);
        let mut stack: Vec<Self> = Vec::new();
        loop {
            let event = reader
                .read_event()
                .map_err(|e| XmppClientError::Malformed(e.to_string()))?;
            match event {
                Event::Start(_) | Event::Empty(_) if stack.len() > limits.max_depth => {
                    return Err(XmppClientError::TooDeep {
                        max: limits.max_depth,
                    });
                }
                Event::Start(start) => {
                    let parent = stack.last().map_or("", |p| p.ns.as_str());
                    stack.push(Self::open(&start, parent, limits)?);
                }
                Event::Empty(start) => {
                    let parent = stack.last().map_or("", |p| p.ns.as_str());
                    let element = Self::open(&start, parent, limits)?;
                    match stack.last_mut() {
                        Some(parent) => parent.children.push(element),
                        None => return Ok(element),
                    }
                }
                Event::End(_) => {
                    let element = stack
                        .pop()
                        .ok_or_else(|| XmppClientError::Malformed("unbalanced end tag".into()))?;
                    match stack.last_mut() {
                        Some(parent) => parent.children.push(element),
                        None => return Ok(element),
                    }
                }
                Event::Text(t) => {
                    let text = t
                        .unescape()
                        .map_err(|e| XmppClientError::Malformed(e.to_string()))?;
                    if let Some(current) = stack.last_mut() {
                        current.text.push_str(&text);
                    }
                }
                Event::CData(c) => {
                    let text = std::str::from_utf8(&c)
                        .map_err(|e| XmppClientError::Malformed(e.to_string()))?;
                    if let Some(current) = stack.last_mut() {
                        current.text.push_str(text);
                    }
                }
                Event::Comment(_) => return Err(XmppClientError::Forbidden("a comment")),
                Event::PI(_) => return Err(XmppClientError::Forbidden("a processing instruction")),
                Event::DocType(_) => {
                    return Err(XmppClientError::Forbidden("a document type declaration"));
                }
                Event::Decl(_) => {}
                Event::Eof => return Err(XmppClientError::Malformed("unexpected end".into())),
            }
        }
    }

    fn open(
        start: &BytesStart<'_>,
        parent_ns: &str,
        limits: &Limits,
    ) -> Result<Self, XmppClientError> {
        let mut element = Self {
            name: String::from_utf8_lossy(start.name().as_ref()).into_owned(),
            ns: parent_ns.to_owned(),
            ..Self::default()
        };
        for attribute in start.attributes().with_checks(true) {
            let attribute = attribute.map_err(|e| XmppClientError::Malformed(e.to_string()))?;
            if element.attributes.len() >= limits.max_attributes {
                return Err(XmppClientError::TooManyAttributes {
                    max: limits.max_attributes,
                });
            }
            let key = String::from_utf8_lossy(attribute.key.as_ref()).into_owned();
            let value = attribute
                .unescape_value()
                .map_err(|e| XmppClientError::Malformed(e.to_string()))?
                .into_owned();
            if key == "xmlns" {
                element.ns.clone_from(&value);
            }
            element.attributes.push((key, value));
        }
        Ok(element)
    }

    fn attribute(&self, name: &str) -> Option<String> {
        self.attributes
            .iter()
            .find(|(key, _)| key == name)
            .map(|(_, value)| value.clone())
    }

    /// Whether this is `name` in namespace `ns` (any `ns` when empty).
    fn is(&self, name: &str, ns: &str) -> bool {
        self.name == name && (ns.is_empty() || self.ns == ns)
    }

    fn child(&self, name: &str, ns: &str) -> Option<&Self> {
        self.children.iter().find(|c| c.is(name, ns))
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::indexing_slicing)]

    use super::*;

    const HEADER: &str = "<?xml version='1.0'?><stream:stream xmlns='jabber:client' \
        xmlns:stream='http://etherx.jabber.org/streams' id='s1' from='example.com' version='1.0'>";

    /// The random bytes whose base64 is RFC 5802 §5's client nonce `fyko+d2lbbFgONRv9qkxdawL`.
    const RANDOM: [u8; 18] = [
        0x7f, 0x29, 0x28, 0xf9, 0xdd, 0xa5, 0x6d, 0xb1, 0x60, 0x38, 0xd4, 0x6f, 0xf6, 0xa9, 0x31,
        0x75, 0xac, 0x0b,
    ];

    /// A virtual clock's origin (the client never reads the clock itself).
    #[allow(clippy::disallowed_methods)]
    fn start() -> Instant {
        Instant::now()
    }

    fn config() -> XmppClientConfig {
        XmppClientConfig::new("cpe", "secret", "example.com", "cwmp")
    }

    fn sent(client: &mut XmppClient) -> String {
        let mut out = String::new();
        while let Some(bytes) = client.poll_transmit() {
            out.push_str(&String::from_utf8(bytes).unwrap());
        }
        out
    }

    fn events(client: &mut XmppClient) -> Vec<XmppEvent> {
        std::iter::from_fn(|| client.poll_event()).collect()
    }

    fn b64(text: &str) -> String {
        base64::engine::general_purpose::STANDARD.encode(text)
    }

    /// A SASL element carrying `data` in base64.
    fn sasl(name: &str, data: &str) -> String {
        format!("<{name} xmlns='{SASL_NS}'>{}</{name}>", b64(data))
    }

    /// Runs the negotiation after TLS (or without it) up to `Bound`, with PLAIN.
    fn authenticate_and_bind(client: &mut XmppClient, now: Instant) {
        let features = "<stream:features><mechanisms xmlns='urn:ietf:params:xml:ns:xmpp-sasl'>\
            <mechanism>DIGEST-MD5</mechanism><mechanism>PLAIN</mechanism></mechanisms>\
            </stream:features>";
        client
            .handle_data(now, format!("{HEADER}{features}").as_bytes())
            .unwrap();
        // base64("\0cpe\0secret")
        assert_eq!(
            sent(client),
            "<auth xmlns='urn:ietf:params:xml:ns:xmpp-sasl' mechanism='PLAIN'>AGNwZQBzZWNyZXQ=</auth>"
        );
        assert_eq!(client.mechanism(), None);
        client
            .handle_data(now, b"<success xmlns='urn:ietf:params:xml:ns:xmpp-sasl'/>")
            .unwrap();
        assert_eq!(client.mechanism(), Some("PLAIN"));
        assert!(sent(client).contains("<stream:stream "));
        bind(client, now);
    }

    /// The stream restarted after authentication: binds the resource.
    fn bind(client: &mut XmppClient, now: Instant) {
        client
            .handle_data(
                now,
                format!(
                    "{HEADER}<stream:features><bind xmlns='urn:ietf:params:xml:ns:xmpp-bind'/>\
                     </stream:features>"
                )
                .as_bytes(),
            )
            .unwrap();
        assert_eq!(
            sent(client),
            "<iq type='set' id='bind_1'><bind xmlns='urn:ietf:params:xml:ns:xmpp-bind'>\
             <resource>cwmp</resource></bind></iq>"
        );
        client
            .handle_data(
                now,
                b"<iq type='result' id='bind_1'><bind xmlns='urn:ietf:params:xml:ns:xmpp-bind'>\
                  <jid>cpe@example.com/cwmp</jid></bind></iq>",
            )
            .unwrap();
        assert_eq!(sent(client), "<presence/>");
        assert_eq!(
            events(client),
            vec![XmppEvent::Bound {
                jid: "cpe@example.com/cwmp".into()
            }]
        );
    }

    #[test]
    fn starttls_then_plain_then_bind() {
        let now = start();
        let mut client = XmppClient::new(config().with_tls(false, true), RANDOM);
        let header = sent(&mut client);
        assert!(header.starts_with("<?xml version='1.0'?><stream:stream "));
        assert!(header.contains(" to='example.com' version='1.0'>"));
        // Byte by byte: the scanner resumes.
        let offer = format!(
            "{HEADER}<stream:features><starttls xmlns='urn:ietf:params:xml:ns:xmpp-tls'>\
             <required/></starttls></stream:features>"
        );
        for byte in offer.as_bytes() {
            client.handle_data(now, std::slice::from_ref(byte)).unwrap();
        }
        assert_eq!(
            sent(&mut client),
            "<starttls xmlns='urn:ietf:params:xml:ns:xmpp-tls'/>"
        );
        client
            .handle_data(now, b"<proceed xmlns='urn:ietf:params:xml:ns:xmpp-tls'/>")
            .unwrap();
        assert_eq!(events(&mut client), vec![XmppEvent::StartTls]);
        assert!(!client.is_tls());
        client.handle_tls_established();
        assert!(client.is_tls());
        assert!(sent(&mut client).contains("<stream:stream "));
        authenticate_and_bind(&mut client, now);
        assert_eq!(client.jid(), Some("cpe@example.com/cwmp"));
    }

    #[test]
    fn tls_policy() {
        let now = start();
        let required = format!(
            "{HEADER}<stream:features><starttls xmlns='urn:ietf:params:xml:ns:xmpp-tls'>\
             <required/></starttls></stream:features>"
        );
        let mut client = XmppClient::new(config(), RANDOM);
        assert_eq!(
            client.handle_data(now, required.as_bytes()),
            Err(XmppClientError::TlsUnavailable)
        );
        let plain_only = format!(
            "{HEADER}<stream:features><mechanisms xmlns='urn:ietf:params:xml:ns:xmpp-sasl'>\
             <mechanism>PLAIN</mechanism></mechanisms></stream:features>"
        );
        let mut client = XmppClient::new(config().with_tls(true, true), RANDOM);
        assert_eq!(
            client.handle_data(now, plain_only.as_bytes()),
            Err(XmppClientError::TlsNotOffered)
        );
        // Offered but neither required nor asked for: plain.
        let optional = plain_only.replace(
            "<stream:features>",
            "<stream:features><starttls xmlns='urn:ietf:params:xml:ns:xmpp-tls'/>",
        );
        let mut client = XmppClient::new(config().with_tls(false, true), RANDOM);
        sent(&mut client);
        client.handle_data(now, optional.as_bytes()).unwrap();
        assert!(sent(&mut client).starts_with("<auth "));
    }

    #[test]
    fn plain_stream_with_requests_pings_and_keepalives() {
        let t0 = start();
        let keepalive = Duration::from_secs(300);
        let mut client = XmppClient::new(config().with_keepalive(Some(keepalive)), RANDOM);
        sent(&mut client);
        assert_eq!(client.poll_timeout(), None);
        authenticate_and_bind(&mut client, t0);
        assert_eq!(client.poll_timeout(), Some(t0 + keepalive));
        client.handle_timeout(t0 + Duration::from_secs(1));
        assert_eq!(sent(&mut client), "");
        client.handle_timeout(t0 + keepalive);
        assert_eq!(sent(&mut client), " ");
        assert_eq!(client.poll_timeout(), Some(t0 + keepalive * 2));

        let request = format!(
            "<iq type='get' id='cr1' from='acs@example.com/a' to='cpe@example.com/cwmp'>\
             <connectionRequest xmlns='{XMPP_CONN_REQ_NS}'><username>u</username>\
             <password>p&amp;q</password></connectionRequest></iq>"
        );
        // Whitespace keep-alives of the server between stanzas, a message to drop.
        let message = "<message from='x@y'><body>hi</body></message>";
        let data = format!(" \n{message} {request}\n");
        client.handle_data(t0, data.as_bytes()).unwrap();
        assert_eq!(
            events(&mut client),
            vec![
                XmppEvent::Stanza(message.into()),
                XmppEvent::ConnectionRequest(XmppConnReq {
                    id: "cr1".into(),
                    from: Some("acs@example.com/a".into()),
                    to: Some("cpe@example.com/cwmp".into()),
                    username: "u".into(),
                    password: "p&q".into(),
                })
            ]
        );
        client.send_stanza("<iq type='result' id='cr1'/>");
        assert_eq!(sent(&mut client), "<iq type='result' id='cr1'/>");
        // Incomplete or oversized: refused here, as the validator would not judge it.
        let long = "u".repeat(MAX_CREDENTIAL_CHARS + 1);
        for inner in [
            "<password>p</password>".to_owned(),
            "<username>u</username><username>v</username><password>p</password>".to_owned(),
            format!("<username>{long}</username><password>p</password>"),
        ] {
            let bad = format!(
                "<iq type='get' id='b' from='acs@example.com/a'>\
                 <connectionRequest xmlns='{XMPP_CONN_REQ_NS}'>{inner}</connectionRequest></iq>"
            );
            client.handle_data(t0, bad.as_bytes()).unwrap();
            assert!(events(&mut client).is_empty());
            assert_eq!(
                sent(&mut client),
                "<iq type='error' id='b' to='acs@example.com/a'><error type='modify'>\
                 <bad-request xmlns='urn:ietf:params:xml:ns:xmpp-stanzas'/></error></iq>"
            );
        }

        client
            .handle_data(
                t0,
                b"<iq type='get' id='p1' from='example.com'><ping xmlns='urn:xmpp:ping'/></iq>\
                  <iq type='set' id='q&amp;1' from='x@y/z'><query xmlns='jabber:iq:version'/></iq>",
            )
            .unwrap();
        assert_eq!(
            sent(&mut client),
            "<iq type='result' id='p1' to='example.com'/>\
             <iq type='error' id='q&amp;1' to='x@y/z'><error type='cancel'>\
             <service-unavailable xmlns='urn:ietf:params:xml:ns:xmpp-stanzas'/></error></iq>"
        );
        assert!(events(&mut client).is_empty());

        // In: the bind result, the message, the requests, the ping and the version query.
        // Out: the bind request, the presence, the result, three refusals, the pong and the
        // last refusal.
        assert_eq!(
            client.stats(),
            XmppStats {
                received: 8,
                received_errors: 0,
                transmitted: 8,
                transmitted_errors: 4,
            }
        );
        client.handle_data(t0, b"</stream:stream>").unwrap();
        assert_eq!(events(&mut client), vec![XmppEvent::Closed]);
        assert!(client.handle_data(t0, b"<x/>").is_err());
    }

    #[test]
    fn failures() {
        let now = start();
        let mut client = XmppClient::new(config(), RANDOM);
        let features = format!(
            "{HEADER}<stream:features><mechanisms xmlns='urn:ietf:params:xml:ns:xmpp-sasl'>\
             <mechanism>PLAIN</mechanism></mechanisms></stream:features>"
        );
        client.handle_data(now, features.as_bytes()).unwrap();
        assert_eq!(
            client.handle_data(
                now,
                b"<failure xmlns='urn:ietf:params:xml:ns:xmpp-sasl'><text>no</text>\
                  <not-authorized/></failure>"
            ),
            Err(XmppClientError::AuthenticationFailed {
                condition: "not-authorized".into()
            })
        );
        let mut client = XmppClient::new(config(), RANDOM);
        let unknown_only = features.replace("PLAIN", "DIGEST-MD5");
        assert_eq!(
            client.handle_data(now, unknown_only.as_bytes()),
            Err(XmppClientError::NoMechanism)
        );
        let mut client = XmppClient::new(config(), RANDOM);
        assert_eq!(
            client.handle_data(
                now,
                format!(
                    "{HEADER}<stream:error><system-shutdown \
                     xmlns='urn:ietf:params:xml:ns:xmpp-streams'/></stream:error>"
                )
                .as_bytes()
            ),
            Err(XmppClientError::StreamError {
                condition: "system-shutdown".into()
            })
        );
        let mut client = XmppClient::new(config(), RANDOM);
        assert!(matches!(
            client.handle_data(now, HEADER.replace("'1.0'>", "'0.9'>").as_bytes()),
            Err(XmppClientError::Unexpected(_))
        ));
    }

    /// RFC 5802 §5's exchange as an XMPP server sends it (user `user`, password `pencil`).
    const SERVER_FIRST: &str =
        "r=fyko+d2lbbFgONRv9qkxdawL3rfcNHYJY1ZVvWVs7j,s=QSXCR+Q6sek8bf92,i=4096";
    const CLIENT_FINAL: &str =
        "c=biws,r=fyko+d2lbbFgONRv9qkxdawL3rfcNHYJY1ZVvWVs7j,p=v0X8v3Bz2T0CJGbJQyF0X+HI4Ts=";
    const SERVER_FINAL: &str = "v=rmF9pqV8S7suAoZWja4dJRkFsKQ=";

    /// A client for `user`/`pencil` that chose SCRAM-SHA-1 and answered the server-first
    /// message.
    fn scram_client(now: Instant) -> XmppClient {
        let config = XmppClientConfig::new("user", "pencil", "example.com", "cwmp");
        let mut client = XmppClient::new(config, RANDOM);
        sent(&mut client);
        let features = "<stream:features><mechanisms xmlns='urn:ietf:params:xml:ns:xmpp-sasl'>\
            <mechanism>PLAIN</mechanism><mechanism>SCRAM-SHA-1</mechanism></mechanisms>\
            </stream:features>";
        client
            .handle_data(now, format!("{HEADER}{features}").as_bytes())
            .unwrap();
        assert_eq!(
            sent(&mut client),
            format!(
                "<auth xmlns='{SASL_NS}' mechanism='SCRAM-SHA-1'>{}</auth>",
                b64("n,,n=user,r=fyko+d2lbbFgONRv9qkxdawL")
            )
        );
        let challenge = sasl("challenge", SERVER_FIRST);
        client.handle_data(now, challenge.as_bytes()).unwrap();
        assert_eq!(sent(&mut client), sasl("response", CLIENT_FINAL));
        client
    }

    #[test]
    fn scram_sha1_preferred_to_plain_and_the_server_checked() {
        let now = start();
        let mut client = scram_client(now);
        let success = sasl("success", SERVER_FINAL);
        client.handle_data(now, success.as_bytes()).unwrap();
        assert_eq!(client.mechanism(), Some("SCRAM-SHA-1"));
        assert!(sent(&mut client).contains("<stream:stream "));
        bind(&mut client, now);

        // The server-final message in a challenge: checked, an empty response, then success.
        let mut client = scram_client(now);
        let challenge = sasl("challenge", SERVER_FINAL);
        client.handle_data(now, challenge.as_bytes()).unwrap();
        assert_eq!(
            sent(&mut client),
            format!("<response xmlns='{SASL_NS}'></response>")
        );
        client
            .handle_data(
                now,
                format!("<success xmlns='{SASL_NS}'>=</success>").as_bytes(),
            )
            .unwrap();
        assert_eq!(client.mechanism(), Some("SCRAM-SHA-1"));
    }

    #[test]
    fn scram_sha256_preferred_to_sha1() {
        let mut client = XmppClient::new(config(), RANDOM);
        sent(&mut client);
        let features = "<stream:features><mechanisms xmlns='urn:ietf:params:xml:ns:xmpp-sasl'>\
            <mechanism>SCRAM-SHA-1</mechanism><mechanism>SCRAM-SHA-256</mechanism>\
            <mechanism>PLAIN</mechanism></mechanisms></stream:features>";
        client
            .handle_data(start(), format!("{HEADER}{features}").as_bytes())
            .unwrap();
        assert_eq!(
            sent(&mut client),
            format!(
                "<auth xmlns='{SASL_NS}' mechanism='SCRAM-SHA-256'>{}</auth>",
                b64("n,,n=cpe,r=fyko+d2lbbFgONRv9qkxdawL")
            )
        );
    }

    #[test]
    fn a_server_that_does_not_prove_itself_is_refused() {
        let now = start();
        let wrong = SERVER_FINAL.replace("rmF9", "rmF8");
        for success in [
            sasl("success", &wrong),
            format!("<success xmlns='{SASL_NS}'/>"),
            format!("<success xmlns='{SASL_NS}'>=</success>"),
            sasl("challenge", &wrong),
        ] {
            let mut client = scram_client(now);
            assert_eq!(
                client.handle_data(now, success.as_bytes()),
                Err(XmppClientError::Scram(ScramError::ServerSignature)),
                "{success}"
            );
            // Neither a new stream nor an empty response: nothing goes out.
            assert_eq!(sent(&mut client), "");
            assert_eq!(client.mechanism(), None);
        }
        // An iteration count above the limit: no hashing at all.
        let mut client = XmppClient::new(
            XmppClientConfig::new("user", "pencil", "example.com", "cwmp"),
            RANDOM,
        );
        let features = format!(
            "{HEADER}<stream:features><mechanisms xmlns='{SASL_NS}'>\
             <mechanism>SCRAM-SHA-1</mechanism></mechanisms></stream:features>"
        );
        client.handle_data(now, features.as_bytes()).unwrap();
        sent(&mut client);
        let greedy = SERVER_FIRST.replace("i=4096", "i=100001");
        let challenge = sasl("challenge", &greedy);
        assert_eq!(
            client.handle_data(now, challenge.as_bytes()),
            Err(XmppClientError::Scram(ScramError::Iterations {
                got: 100_001,
                max: 100_000
            }))
        );
        // A challenge to PLAIN, and SASL data that is not base64.
        let mut client = XmppClient::new(config(), RANDOM);
        client
            .handle_data(now, features.replace("SCRAM-SHA-1", "PLAIN").as_bytes())
            .unwrap();
        assert_eq!(
            client.handle_data(now, format!("<challenge xmlns='{SASL_NS}'/>").as_bytes()),
            Err(XmppClientError::Unexpected("challenge".into()))
        );
        let mut client = scram_client(now);
        assert!(matches!(
            client.handle_data(
                now,
                format!("<success xmlns='{SASL_NS}'>%%</success>").as_bytes()
            ),
            Err(XmppClientError::Malformed(_))
        ));
    }

    #[test]
    fn server_tables_follow_priority_then_weight() {
        // Priority 20: a (weight 0), b (30), c (10); priority 10: d (0), e (0).
        let table = || {
            vec![
                (20, 0, 'a'),
                (20, 30, 'b'),
                (10, 0, 'd'),
                (20, 10, 'c'),
                (10, 0, 'e'),
            ]
        };
        // The draws: 0 → the first with a running sum ≥ 0 (d), 0 → e; priority 20 sorted
        // a (0), b (30), c (40): 1 → b, then of a (0), c (10): 5 → c, then a.
        let mut draws = [0_u64, 0, 1, 5, 0].into_iter();
        let order = server_order(table(), || draws.next().unwrap());
        assert_eq!(order, ['d', 'e', 'b', 'c', 'a']);
        // Drawn modulo the remaining sum plus one: 40 → c, whose running sum alone reaches
        // it; then 31 % 31 = 0 → a, weight 0, then b.
        let mut draws = [7, 9, 40, 31, 0].into_iter();
        assert_eq!(
            server_order(table(), || draws.next().unwrap()),
            ['d', 'e', 'c', 'a', 'b']
        );
        // Over many seeded draws, b (30) comes first three times as often as c (10).
        let mut seed = 0x2545_f491_4f6c_dd1d_u64;
        let mut firsts = [0_u32; 3];
        for _ in 0..4000 {
            let order = server_order(vec![(1, 30, 0), (1, 10, 1), (1, 0, 2)], || {
                seed ^= seed << 13;
                seed ^= seed >> 7;
                seed ^= seed << 17;
                seed
            });
            firsts[order[0]] += 1;
        }
        assert!((2800..3200).contains(&firsts[0]), "{firsts:?}");
        assert!((850..1150).contains(&firsts[1]), "{firsts:?}");
        assert!(firsts[2] < 400, "{firsts:?}");
        assert!(server_order(Vec::<(u32, u16, ())>::new(), || 0).is_empty());
    }

    #[test]
    fn hostile_streams_are_refused() {
        let now = start();
        let limits = Limits::default();
        let deep = format!("{}{}", "<a>".repeat(20), "</a>".repeat(20));
        let attributes: String = (0..20).map(|i| format!(" a{i}='x'")).collect();
        let cases: Vec<(String, XmppClientError)> = vec![
            (
                format!("{HEADER}<!-- hi -->"),
                XmppClientError::Forbidden("a comment"),
            ),
            (
                format!("{HEADER}<?pi x?>"),
                XmppClientError::Forbidden("a processing instruction"),
            ),
            (
                format!("<!DOCTYPE x>{HEADER}"),
                XmppClientError::Forbidden("a document type declaration"),
            ),
            (
                format!("{HEADER}{deep}"),
                XmppClientError::TooDeep {
                    max: limits.max_depth,
                },
            ),
            (
                format!("{HEADER}<x{attributes}/>"),
                XmppClientError::TooManyAttributes {
                    max: limits.max_attributes,
                },
            ),
            (
                format!("{HEADER}<x>{}", "y".repeat(limits.max_stanza_bytes + 10)),
                XmppClientError::TooLarge {
                    max: limits.max_stanza_bytes,
                },
            ),
            (
                format!("{HEADER}<x a='{}", "y".repeat(MAX_TOKEN_BYTES + 10)),
                XmppClientError::TooLarge {
                    max: MAX_TOKEN_BYTES,
                },
            ),
            (
                format!("{HEADER}text"),
                XmppClientError::Malformed("text between stanzas".into()),
            ),
        ];
        for (data, expected) in cases {
            let mut client = XmppClient::new(config(), RANDOM);
            assert_eq!(
                client.handle_data(now, data.as_bytes()),
                Err(expected),
                "{data}"
            );
        }
        for data in [
            format!("{HEADER}<x>&unknown;</x>"),
            format!("{HEADER}<x></y>"),
            format!("{HEADER}<x>\u{0}\u{ff}</x>").replace('\u{ff}', "\u{fffd}"),
            "<iq/>".to_owned(),
        ] {
            let mut client = XmppClient::new(config(), RANDOM);
            assert!(client.handle_data(now, data.as_bytes()).is_err(), "{data}");
        }
        let mut client = XmppClient::new(config(), RANDOM);
        let mut data = HEADER.as_bytes().to_vec();
        data.extend_from_slice(b"<x>\xff</x>");
        assert!(matches!(
            client.handle_data(now, &data),
            Err(XmppClientError::Malformed(_))
        ));
    }

    #[test]
    fn reconnect_waits_follow_tr181() {
        // The defaults: at most 1, 2, 4, … 512 minutes, then 512.
        let policy = ReconnectPolicy::default();
        let minutes: Vec<u64> = (1..=12).map(|n| policy.bound_ms(n) / 60_000).collect();
        assert_eq!(minutes, [1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 512, 512]);
        assert_eq!(policy.wait(1, 0), Duration::ZERO);
        assert_eq!(policy.wait(1, 60_000), Duration::from_secs(60));
        assert_eq!(policy.wait(1, 60_001), Duration::ZERO);
        // A drawn wait above ServerRetryMaxInterval waits the max.
        assert_eq!(policy.wait(11, 30_720_000), Duration::from_secs(30_720));
        assert_eq!(policy.wait(11, 61_439_999), Duration::from_secs(30_720));
        assert_eq!(policy.wait(11, 61_440_001), Duration::ZERO);
        assert_eq!(policy.wait(u32::MAX, u64::MAX), Duration::from_secs(30_720));
        let odd = ReconnectPolicy::new(1, 1500, 3);
        assert_eq!(
            (1..=5).map(|n| odd.bound_ms(n)).collect::<Vec<_>>(),
            [1000, 1500, 2250, 3000, 3000]
        );
        // No cap at the tenth retry: with a large max the bound keeps growing.
        let long = ReconnectPolicy::new(1, 2000, 100_000);
        assert_eq!(long.bound_ms(11), 1_024_000);
        assert_eq!(long.wait(12, 2_048_000), Duration::from_secs(2_048));
    }
}
