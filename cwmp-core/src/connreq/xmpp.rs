//! XMPP connection requests (TR-069 Annex K, `cwmp-xmppConnReq-1-0.xsd`), sans-IO.
//!
//! The ACS sends the CPE, over the XMPP connection `ManagementServer.ConnReqXMPPConnection`
//! names, an IQ stanza
//!
//! ```xml
//! <iq type="get" id="cr001" from="acs@example.com/acs" to="cpe@example.com/cpe">
//!   <connectionRequest xmlns="urn:broadband-forum-org:cwmp:xmppConnReq-1-0">
//!     <username>…</username><password>…</password>
//!   </connectionRequest>
//! </iq>
//! ```
//!
//! [`XmppConnReqValidator::handle_stanza`] parses it, refuses senders outside
//! `ConnReqAllowedJabberIDs` with a `service-unavailable` error, compares the credentials with
//! `ConnectionRequestUsername`/`Password` in constant time and refuses wrong ones with
//! `not-authorized` (both errors of type `cancel`, as Annex K and icwmp have them), and
//! otherwise builds the empty `iq type="result"` and says to start a session with
//! `6 CONNECTION REQUEST`. The error replies do not echo the credentials (RFC 6120 §8.3.1
//! makes that optional).
//!
//! The XMPP connection itself (STARTTLS, SASL, resource binding, stream framing, keep-alives)
//! is [`super::xmpp_client`], which parses each `connectionRequest` IQ into an
//! [`XmppConnReq`] with the same bounds, for [`XmppConnReqValidator::handle_request`]; the
//! driver sends the reply.
//!
//! The stanza is untrusted and parsed with the codec's safety rules: at most
//! [`MAX_STANZA_BYTES`], depth [`MAX_DEPTH`], [`MAX_ATTRIBUTES`] attributes per element, no
//! DOCTYPE, no processing instructions, no entities but the predefined five and character
//! references, and user names and passwords of at most 256 characters (their TR-181 size).
//!
//! ```
//! use cwmp_core::connreq::xmpp::{XmppConnReqConfig, XmppConnReqValidator, XmppOutcome};
//!
//! let validator = XmppConnReqValidator::new(
//!     XmppConnReqConfig::new("cr-user", "cr-pass").with_allowed_jids("acs@example.com"),
//! );
//! let stanza = br#"<iq type="get" id="cr1" from="acs@example.com/a" to="cpe@example.com/c">
//!   <connectionRequest xmlns="urn:broadband-forum-org:cwmp:xmppConnReq-1-0">
//!     <username>cr-user</username><password>cr-pass</password>
//!   </connectionRequest></iq>"#;
//! let response = validator.handle_stanza(stanza)?;
//! assert_eq!(response.outcome, XmppOutcome::Accepted);
//! assert_eq!(
//!     response.reply,
//!     r#"<iq type="result" id="cr1" from="cpe@example.com/c" to="acs@example.com/a"/>"#
//! );
//! # Ok::<(), cwmp_core::connreq::xmpp::XmppError>(())
//! ```

use std::fmt::Write as _;

use quick_xml::escape::escape;
use quick_xml::events::{BytesStart, Event};
use quick_xml::name::ResolveResult;
use quick_xml::reader::NsReader;

use crate::auth;

/// The namespace of `connectionRequest`.
pub const XMPP_CONN_REQ_NS: &str = "urn:broadband-forum-org:cwmp:xmppConnReq-1-0";
/// The namespace of stanza error conditions (RFC 6120 §8.3).
const STANZAS_NS: &str = "urn:ietf:params:xml:ns:xmpp-stanzas";
/// Most bytes of a stanza.
pub const MAX_STANZA_BYTES: usize = 4096;
/// Most element nesting.
pub const MAX_DEPTH: usize = 8;
/// Most attributes on one element.
pub const MAX_ATTRIBUTES: usize = 16;
/// Most characters of the user name and of the password (TR-181 `string(256)`).
pub const MAX_CREDENTIAL_CHARS: usize = 256;
/// Most entries of `ConnReqAllowedJabberIDs` (TR-181 list of at most 32).
pub const MAX_ALLOWED_JIDS: usize = 32;

/// Why a stanza got no answer from this module.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum XmppError {
    /// Not an `iq type="get"` carrying `connectionRequest`: some other stanza, for the
    /// driver's other handlers.
    #[error("not an XMPP connection request")]
    NotConnectionRequest,
    /// Longer than [`MAX_STANZA_BYTES`].
    #[error("stanza longer than {max} bytes")]
    TooLarge {
        /// The limit.
        max: usize,
    },
    /// Nested deeper than [`MAX_DEPTH`].
    #[error("nested deeper than {max}")]
    TooDeep {
        /// The limit.
        max: usize,
    },
    /// More than [`MAX_ATTRIBUTES`] attributes on an element.
    #[error("more than {max} attributes on an element")]
    TooManyAttributes {
        /// The limit.
        max: usize,
    },
    /// A user name or password longer than [`MAX_CREDENTIAL_CHARS`].
    #[error("`{element}` longer than {max} characters")]
    TooLong {
        /// The element.
        element: &'static str,
        /// The limit.
        max: usize,
    },
    /// A document type declaration (refused: no entity expansion).
    #[error("document type declarations are not allowed")]
    DocType,
    /// A processing instruction.
    #[error("processing instructions are not allowed")]
    ProcessingInstruction,
    /// `username`, `password` or the `id` attribute is missing.
    #[error("missing `{0}`")]
    Missing(&'static str),
    /// Not well-formed, not UTF-8, an unknown entity, or something after the stanza.
    #[error("malformed stanza: {0}")]
    Malformed(String),
}

/// Settings of the [`XmppConnReqValidator`].
#[derive(Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct XmppConnReqConfig {
    /// `ConnectionRequestUsername`.
    pub username: String,
    /// `ConnectionRequestPassword`.
    pub password: String,
    /// `ConnReqAllowedJabberIDs`: empty allows any sender; a bare JID (`acs@example.com`)
    /// allows any of its resources, a full JID (`acs@example.com/acs`) only itself.
    pub allowed_jids: Vec<String>,
}

impl std::fmt::Debug for XmppConnReqConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("XmppConnReqConfig")
            .field("username", &self.username)
            .field("password", &"<redacted>")
            .field("allowed_jids", &self.allowed_jids)
            .finish()
    }
}

impl XmppConnReqConfig {
    /// Settings for the connection-request credentials, any sender allowed.
    #[must_use]
    pub fn new(username: impl Into<String>, password: impl Into<String>) -> Self {
        Self {
            username: username.into(),
            password: password.into(),
            allowed_jids: Vec::new(),
        }
    }

    /// Sets `ConnReqAllowedJabberIDs` from its TR-181 comma-separated form (entries beyond
    /// [`MAX_ALLOWED_JIDS`] are dropped).
    #[must_use]
    pub fn with_allowed_jids(mut self, list: &str) -> Self {
        self.allowed_jids = list
            .split(',')
            .map(str::trim)
            .filter(|jid| !jid.is_empty())
            .take(MAX_ALLOWED_JIDS)
            .map(str::to_owned)
            .collect();
        self
    }
}

/// A parsed connection request.
#[derive(Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct XmppConnReq {
    /// The IQ `id`, echoed in the reply.
    pub id: String,
    /// The sender (`from`), absent when the server itself sent it.
    pub from: Option<String>,
    /// The addressee (`to`), the CPE's own JID.
    pub to: Option<String>,
    /// `username`.
    pub username: String,
    /// `password`.
    pub password: String,
}

impl std::fmt::Debug for XmppConnReq {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("XmppConnReq")
            .field("id", &self.id)
            .field("from", &self.from)
            .field("to", &self.to)
            .field("username", &self.username)
            .field("password", &"<redacted>")
            .finish()
    }
}

/// What the validator decided.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum XmppOutcome {
    /// Right sender and credentials: start a session with `6 CONNECTION REQUEST`.
    Accepted,
    /// Wrong credentials (`not-authorized`).
    NotAuthorized,
    /// A sender outside `ConnReqAllowedJabberIDs` (`service-unavailable`).
    ServiceUnavailable,
}

/// The reply to send and the decision.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct XmppConnReqResponse {
    /// The IQ stanza to send back.
    pub reply: String,
    /// The decision.
    pub outcome: XmppOutcome,
}

/// Checks XMPP connection requests; see the [module docs](self).
#[derive(Clone, Debug)]
pub struct XmppConnReqValidator {
    config: XmppConnReqConfig,
}

impl XmppConnReqValidator {
    /// A validator with `config`.
    #[must_use]
    pub fn new(config: XmppConnReqConfig) -> Self {
        Self { config }
    }

    /// Replaces the settings (the ACS changed the credentials or the allowed JIDs).
    pub fn set_config(&mut self, config: XmppConnReqConfig) {
        self.config = config;
    }

    /// Judges one stanza and builds its reply.
    ///
    /// # Errors
    ///
    /// [`XmppError::NotConnectionRequest`] for any other stanza; the other variants for a
    /// malformed or oversized one, which gets no reply.
    pub fn handle_stanza(&self, stanza: &[u8]) -> Result<XmppConnReqResponse, XmppError> {
        XmppConnReq::parse(stanza).map(|request| self.handle_request(&request))
    }

    /// Judges a request already parsed (by [`XmppClient`](super::xmpp_client::XmppClient),
    /// which hands them over as [`XmppConnReq`]) and builds its reply.
    #[must_use]
    pub fn handle_request(&self, request: &XmppConnReq) -> XmppConnReqResponse {
        let outcome = if !self.sender_allowed(request.from.as_deref()) {
            XmppOutcome::ServiceUnavailable
        } else if auth::secure_eq(request.username.as_bytes(), self.config.username.as_bytes())
            & auth::secure_eq(request.password.as_bytes(), self.config.password.as_bytes())
        {
            XmppOutcome::Accepted
        } else {
            XmppOutcome::NotAuthorized
        };
        XmppConnReqResponse {
            reply: request.reply(outcome),
            outcome,
        }
    }

    fn sender_allowed(&self, from: Option<&str>) -> bool {
        if self.config.allowed_jids.is_empty() {
            return true;
        }
        let Some(from) = from else {
            return false;
        };
        let (bare, resource) = split_jid(from);
        self.config.allowed_jids.iter().any(|entry| {
            let (entry_bare, entry_resource) = split_jid(entry);
            entry_bare.eq_ignore_ascii_case(bare)
                && entry_resource.is_none_or(|r| Some(r) == resource)
        })
    }
}

/// `local@domain/resource` → (`local@domain`, `resource`); the resource starts at the first
/// slash (RFC 7622 §3.1).
fn split_jid(jid: &str) -> (&str, Option<&str>) {
    match jid.split_once('/') {
        Some((bare, resource)) => (bare, Some(resource)),
        None => (jid, None),
    }
}

impl XmppConnReq {
    /// Parses a stanza (see the [module docs](self) for the bounds).
    ///
    /// # Errors
    ///
    /// See [`XmppError`].
    pub fn parse(stanza: &[u8]) -> Result<Self, XmppError> {
        if stanza.len() > MAX_STANZA_BYTES {
            return Err(XmppError::TooLarge {
                max: MAX_STANZA_BYTES,
            });
        }
        let text = std::str::from_utf8(stanza).map_err(|e| XmppError::Malformed(e.to_string()))?;
        let mut parser = StanzaParser {
            reader: NsReader::from_str(text),
            depth: 0,
        };
        // The root: `iq type="get"` in the client or server namespace (or none, when the
        // driver cut the stanza out of its stream).
        let (root, empty) = parser
            .next_element()?
            .ok_or(XmppError::NotConnectionRequest)?;
        let root_ns = parser.namespace(&root);
        if root.local_name().as_ref() != b"iq"
            || !matches!(
                root_ns.as_deref(),
                None | Some("jabber:client" | "jabber:server")
            )
            || empty
        {
            return Err(XmppError::NotConnectionRequest);
        }
        let attr = |name: &str| attribute(&root, name);
        if attr("type")?.as_deref() != Some("get") {
            return Err(XmppError::NotConnectionRequest);
        }
        let id = attr("id")?.ok_or(XmppError::Missing("id"))?;
        let from = attr("from")?;
        let to = attr("to")?;
        let (payload, empty) = parser
            .next_element()?
            .ok_or(XmppError::NotConnectionRequest)?;
        if payload.local_name().as_ref() != b"connectionRequest"
            || parser.namespace(&payload).as_deref() != Some(XMPP_CONN_REQ_NS)
        {
            return Err(XmppError::NotConnectionRequest);
        }
        let mut username = None;
        let mut password = None;
        if !empty {
            while let Some((child, empty)) = parser.next_element()? {
                let slot = match child.local_name().as_ref() {
                    b"username" => (&mut username, "username"),
                    b"password" => (&mut password, "password"),
                    _ => {
                        parser.skip(empty)?;
                        continue;
                    }
                };
                if slot.0.is_some() {
                    return Err(XmppError::Malformed(format!("second `{}`", slot.1)));
                }
                let value = if empty { String::new() } else { parser.text()? };
                if value.chars().count() > MAX_CREDENTIAL_CHARS {
                    return Err(XmppError::TooLong {
                        element: slot.1,
                        max: MAX_CREDENTIAL_CHARS,
                    });
                }
                *slot.0 = Some(value);
            }
        }
        // The rest of the `iq` (RFC 6120 allows one payload; anything else is skipped) and
        // nothing but comments and whitespace after it.
        while let Some((_, empty)) = parser.next_element()? {
            parser.skip(empty)?;
        }
        parser.finish()?;
        Ok(Self {
            id,
            from,
            to,
            username: username.ok_or(XmppError::Missing("username"))?,
            password: password.ok_or(XmppError::Missing("password"))?,
        })
    }

    /// The reply for `outcome`: `from` and `to` swapped, the `id` echoed.
    #[must_use]
    pub fn reply(&self, outcome: XmppOutcome) -> String {
        let mut out = String::with_capacity(256);
        let kind = if outcome == XmppOutcome::Accepted {
            "result"
        } else {
            "error"
        };
        let _ = write!(out, "<iq type=\"{kind}\" id=\"{}\"", escape(&self.id));
        if let Some(to) = &self.to {
            let _ = write!(out, " from=\"{}\"", escape(to));
        }
        if let Some(from) = &self.from {
            let _ = write!(out, " to=\"{}\"", escape(from));
        }
        let condition = match outcome {
            XmppOutcome::Accepted => {
                out.push_str("/>");
                return out;
            }
            XmppOutcome::NotAuthorized => "not-authorized",
            XmppOutcome::ServiceUnavailable => "service-unavailable",
        };
        let _ = write!(
            out,
            "><error type=\"cancel\"><{condition} xmlns=\"{STANZAS_NS}\"/></error></iq>"
        );
        out
    }
}

/// An unqualified attribute's unescaped value.
fn attribute(element: &BytesStart<'_>, name: &str) -> Result<Option<String>, XmppError> {
    for attr in element.attributes().with_checks(true) {
        let attr = attr.map_err(|e| XmppError::Malformed(e.to_string()))?;
        if attr.key.as_ref() == name.as_bytes() {
            let value = attr
                .unescape_value()
                .map_err(|e| XmppError::Malformed(e.to_string()))?;
            return Ok(Some(value.into_owned()));
        }
    }
    Ok(None)
}

/// A bounded pull parser over one stanza.
struct StanzaParser<'a> {
    reader: NsReader<&'a [u8]>,
    depth: usize,
}

impl<'a> StanzaParser<'a> {
    fn event(&mut self) -> Result<Event<'a>, XmppError> {
        let event = self
            .reader
            .read_event()
            .map_err(|e| XmppError::Malformed(e.to_string()))?;
        match &event {
            Event::DocType(_) => Err(XmppError::DocType),
            Event::PI(_) => Err(XmppError::ProcessingInstruction),
            Event::Start(e) | Event::Empty(e) => {
                if e.attributes().count() > MAX_ATTRIBUTES {
                    return Err(XmppError::TooManyAttributes {
                        max: MAX_ATTRIBUTES,
                    });
                }
                if matches!(event, Event::Start(_)) {
                    self.depth = self.depth.saturating_add(1);
                    if self.depth > MAX_DEPTH {
                        return Err(XmppError::TooDeep { max: MAX_DEPTH });
                    }
                }
                Ok(event)
            }
            Event::End(_) => {
                self.depth = self.depth.saturating_sub(1);
                Ok(event)
            }
            _ => Ok(event),
        }
    }

    /// The next child element of the current one (with whether it is empty), or `None` at
    /// the current element's end. Text between elements must be whitespace.
    fn next_element(&mut self) -> Result<Option<(BytesStart<'a>, bool)>, XmppError> {
        loop {
            match self.event()? {
                Event::Start(e) => return Ok(Some((e, false))),
                Event::Empty(e) => return Ok(Some((e, true))),
                Event::End(_) | Event::Eof => return Ok(None),
                Event::Text(t) => {
                    if !t.iter().all(u8::is_ascii_whitespace) {
                        return Err(XmppError::Malformed("text between elements".into()));
                    }
                }
                Event::CData(_) => {
                    return Err(XmppError::Malformed("CDATA between elements".into()));
                }
                Event::Comment(_) | Event::Decl(_) | Event::DocType(_) | Event::PI(_) => {}
            }
        }
    }

    /// The element's namespace URI, if bound.
    fn namespace(&self, element: &BytesStart<'_>) -> Option<String> {
        match self.reader.resolve_element(element.name()).0 {
            ResolveResult::Bound(ns) => Some(String::from_utf8_lossy(ns.as_ref()).into_owned()),
            ResolveResult::Unbound | ResolveResult::Unknown(_) => None,
        }
    }

    /// The text content of a simple element, through its end tag.
    fn text(&mut self) -> Result<String, XmppError> {
        let mut value = String::new();
        loop {
            match self.event()? {
                Event::Text(t) => {
                    let text = t
                        .unescape()
                        .map_err(|e| XmppError::Malformed(e.to_string()))?;
                    value.push_str(&text);
                }
                Event::CData(c) => {
                    let text =
                        std::str::from_utf8(&c).map_err(|e| XmppError::Malformed(e.to_string()))?;
                    value.push_str(text);
                }
                Event::End(_) => return Ok(value),
                Event::Comment(_) => {}
                Event::Eof => return Err(XmppError::Malformed("unexpected end".into())),
                _ => return Err(XmppError::Malformed("element inside a text element".into())),
            }
            if value.len() > MAX_STANZA_BYTES {
                return Err(XmppError::TooLarge {
                    max: MAX_STANZA_BYTES,
                });
            }
        }
    }

    /// Skips the element just started, through its end tag.
    fn skip(&mut self, empty: bool) -> Result<(), XmppError> {
        if empty {
            return Ok(());
        }
        let target = self.depth.saturating_sub(1);
        while self.depth > target {
            if let Event::Eof = self.event()? {
                return Err(XmppError::Malformed("unexpected end".into()));
            }
        }
        Ok(())
    }

    /// Only whitespace and comments may follow the stanza.
    fn finish(&mut self) -> Result<(), XmppError> {
        if self.depth != 0 {
            return Err(XmppError::Malformed("unexpected end".into()));
        }
        loop {
            match self.event()? {
                Event::Eof => return Ok(()),
                Event::Comment(_) => {}
                Event::Text(t) if t.iter().all(u8::is_ascii_whitespace) => {}
                _ => return Err(XmppError::Malformed("data after the stanza".into())),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    /// The Annex K request as GenieACS and icwmp's peers send it.
    const REQUEST: &str = r#"<iq id="cr001" to="cpe@xmpp.example.com/cwmp" from="acs@xmpp.example.com/acs" type="get"><connectionRequest xmlns="urn:broadband-forum-org:cwmp:xmppConnReq-1-0"><username>cr-user</username><password>cr&amp;pass</password></connectionRequest></iq>"#;

    fn validator(allowed: &str) -> XmppConnReqValidator {
        XmppConnReqValidator::new(
            XmppConnReqConfig::new("cr-user", "cr&pass").with_allowed_jids(allowed),
        )
    }

    #[test]
    fn accepts_and_replies_with_an_empty_result() {
        let response = validator("").handle_stanza(REQUEST.as_bytes()).unwrap();
        assert_eq!(response.outcome, XmppOutcome::Accepted);
        assert_eq!(
            response.reply,
            r#"<iq type="result" id="cr001" from="cpe@xmpp.example.com/cwmp" to="acs@xmpp.example.com/acs"/>"#
        );
    }

    #[test]
    fn wrong_credentials_are_not_authorized() {
        let stanza = REQUEST.replace("cr-user", "mallory");
        let response = validator("").handle_stanza(stanza.as_bytes()).unwrap();
        assert_eq!(response.outcome, XmppOutcome::NotAuthorized);
        assert_eq!(
            response.reply,
            r#"<iq type="error" id="cr001" from="cpe@xmpp.example.com/cwmp" to="acs@xmpp.example.com/acs"><error type="cancel"><not-authorized xmlns="urn:ietf:params:xml:ns:xmpp-stanzas"/></error></iq>"#
        );
        let doc = roxmltree::Document::parse(&response.reply).unwrap();
        let condition = doc.descendants().find(|n| n.has_tag_name("not-authorized"));
        assert_eq!(condition.unwrap().tag_name().namespace(), Some(STANZAS_NS));
        let stanza = REQUEST.replace("cr&amp;pass", "cr&amp;pas");
        let response = validator("").handle_stanza(stanza.as_bytes()).unwrap();
        assert_eq!(response.outcome, XmppOutcome::NotAuthorized);
    }

    #[test]
    fn allowed_jids_bare_and_full() {
        for (list, outcome) in [
            ("acs@xmpp.example.com", XmppOutcome::Accepted),
            ("ACS@XMPP.example.com", XmppOutcome::Accepted),
            ("other@x, acs@xmpp.example.com/acs", XmppOutcome::Accepted),
            (
                "acs@xmpp.example.com/other",
                XmppOutcome::ServiceUnavailable,
            ),
            ("acs@xmpp.example.co", XmppOutcome::ServiceUnavailable),
            ("acs@xmpp.example.com/ACS", XmppOutcome::ServiceUnavailable),
        ] {
            let response = validator(list).handle_stanza(REQUEST.as_bytes()).unwrap();
            assert_eq!(response.outcome, outcome, "{list}");
        }
        // The allowed-list check comes first: a stranger learns nothing about credentials.
        let stranger = REQUEST
            .replace("acs@xmpp.example.com/acs", "eve@evil.example/x")
            .replace("cr-user", "guess");
        let response = validator("acs@xmpp.example.com")
            .handle_stanza(stranger.as_bytes())
            .unwrap();
        assert_eq!(response.outcome, XmppOutcome::ServiceUnavailable);
        assert!(response.reply.contains("<service-unavailable xmlns="));
        // No `from` (sent by the server itself) is not on any list.
        let anonymous = REQUEST.replace(r#" from="acs@xmpp.example.com/acs""#, "");
        let response = validator("acs@xmpp.example.com")
            .handle_stanza(anonymous.as_bytes())
            .unwrap();
        assert_eq!(response.outcome, XmppOutcome::ServiceUnavailable);
        assert!(!response.reply.contains(" to="));
    }

    #[test]
    fn lenient_where_peers_differ() {
        // Prefixed namespaces, the client namespace on the iq, whitespace, a comment.
        let stanza = r#"<?xml version="1.0"?>
            <iq xmlns="jabber:client" xmlns:cr="urn:broadband-forum-org:cwmp:xmppConnReq-1-0" type="get" id="a&lt;b">
              <!-- from the ACS -->
              <cr:connectionRequest>
                <cr:username>cr-user</cr:username>
                <cr:password><![CDATA[cr&pass]]></cr:password>
                <cr:extension><x/></cr:extension>
              </cr:connectionRequest>
            </iq>"#;
        let response = validator("").handle_stanza(stanza.as_bytes()).unwrap();
        assert_eq!(response.outcome, XmppOutcome::Accepted);
        assert_eq!(response.reply, r#"<iq type="result" id="a&lt;b"/>"#);
    }

    #[test]
    fn other_stanzas_are_passed_on() {
        for stanza in [
            r#"<iq type="set" id="1"><connectionRequest xmlns="urn:broadband-forum-org:cwmp:xmppConnReq-1-0"/></iq>"#,
            r#"<iq type="get" id="1"><ping xmlns="urn:xmpp:ping"/></iq>"#,
            r#"<iq type="get" id="1"><connectionRequest xmlns="urn:other"/></iq>"#,
            r#"<message id="1"><body>hi</body></message>"#,
            r#"<iq type="get" id="1"/>"#,
            "",
        ] {
            assert_eq!(
                XmppConnReq::parse(stanza.as_bytes()),
                Err(XmppError::NotConnectionRequest),
                "{stanza}"
            );
        }
    }

    #[test]
    fn hostile_stanzas_are_refused() {
        let cr = |inner: &str| {
            format!(
                r#"<iq type="get" id="1"><connectionRequest xmlns="{XMPP_CONN_REQ_NS}">{inner}</connectionRequest></iq>"#
            )
        };
        let deep = format!("{}{}", "<a>".repeat(10), "</a>".repeat(10));
        let attrs: String = (0..20).map(|i| format!(" a{i}=\"x\"")).collect();
        let cases: Vec<(String, XmppError)> = vec![
            (
                format!(
                    "<!DOCTYPE iq [<!ENTITY x \"y\">]>{}",
                    cr("<username>&x;</username><password/>")
                ),
                XmppError::DocType,
            ),
            (
                format!("<?evil?>{}", cr("")),
                XmppError::ProcessingInstruction,
            ),
            (cr(&deep), XmppError::TooDeep { max: MAX_DEPTH }),
            (
                format!(r#"<iq type="get" id="1"{attrs}/>"#),
                XmppError::TooManyAttributes {
                    max: MAX_ATTRIBUTES,
                },
            ),
            (
                cr(&format!(
                    "<username>{}</username><password/>",
                    "u".repeat(300)
                )),
                XmppError::TooLong {
                    element: "username",
                    max: MAX_CREDENTIAL_CHARS,
                },
            ),
            (
                "x".repeat(MAX_STANZA_BYTES + 1),
                XmppError::TooLarge {
                    max: MAX_STANZA_BYTES,
                },
            ),
            (cr("<password>p</password>"), XmppError::Missing("username")),
            (
                cr("<username/><password/>").replace(r#" id="1""#, ""),
                XmppError::Missing("id"),
            ),
        ];
        for (stanza, expected) in cases {
            assert_eq!(
                XmppConnReq::parse(stanza.as_bytes()),
                Err(expected),
                "{stanza}"
            );
        }
        for stanza in [
            cr("<username>&unknown;</username><password/>"),
            cr("<username>u</username><username>v</username><password/>"),
            cr("<username><b/></username><password/>"),
            format!("{}<iq/>", cr("<username/><password/>")),
            cr("<username/><password/>").replace("</iq>", ""),
            cr("<username/><password/>stray text"),
        ] {
            assert!(
                matches!(
                    XmppConnReq::parse(stanza.as_bytes()),
                    Err(XmppError::Malformed(_))
                ),
                "{stanza}"
            );
        }
        assert!(matches!(
            XmppConnReq::parse(b"<iq type=\"get\" id=\"\xff\"/>"),
            Err(XmppError::Malformed(_))
        ));
    }
}
