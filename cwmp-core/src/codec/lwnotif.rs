//! UDP lightweight notifications (TR-069 Amendment 5 Annex M, CWMP 1.4): the XML message of
//! `cwmp-UDPLightweightNotification-1-0.xsd` ([`LightweightNotification`]) and the datagram
//! that carries it ([`LightweightNotification::datagram`]).
//!
//! # Where each wire detail comes from
//!
//! * The XML: the BBF schema. `Notification` holds, in this order, `TS` (`xs:int`, Unix
//!   seconds), `UN` (`Device.ManagementServer.Username`, ≤ 256), `CN` (a random cnonce), `OUI`
//!   (six upper-case hexadecimal digits), `ProductClass` (≤ 64), `SerialNumber` (≤ 64) and one
//!   or more `Param` with `Name` (≤ 256) and `Value` (`xs:anySimpleType`). Every element is a
//!   global element of the namespace [`NAMESPACE`], so each is qualified: the encoder
//!   declares it as the default namespace on `Notification`.
//! * The destination: TR-181 `Device.ManagementServer.UDPLightweightNotificationHost` (empty or
//!   absent: the host of the ACS `URL`) and `UDPLightweightNotificationPort` (absent:
//!   [`DEFAULT_PORT`], 7547).
//! * The framing, **not checked against the Annex M text** (the TR-069 PDF could not be read
//!   here; this follows the one open implementation found, iopsys icwmp, with its typos
//!   fixed): one datagram holding an HTTP/1.1-style `POST` with `Host`, `Content-Type:
//!   text/xml; charset="utf-8"`, `Content-Length` and a `Signature` header, the upper-case hex
//!   HMAC-SHA1 of the body keyed with `Device.ManagementServer.Password`, then the body.
//!
//! The encoder refuses (rather than truncating) what the schema forbids, like the SOAP
//! encoder: strings over their `maxLength`, an OUI that is not six upper-case hex digits, no
//! `Param`, characters XML cannot carry. Which parameters go in which datagram, and how big a
//! datagram may be, is the session's business ([`crate::session`]).

use std::fmt::Write as _;

use hmac::{Hmac, Mac};
use sha1::Sha1;

use super::encode::Writer;
use crate::error::{CodecError, EncodeProblem};

/// The namespace of the message (`urn:broadband-forum-org:cwmp:lwnotif-1-0`).
pub const NAMESPACE: &str = "urn:broadband-forum-org:cwmp:lwnotif-1-0";
/// The destination port when `UDPLightweightNotificationPort` is not implemented (TR-181).
pub const DEFAULT_PORT: u16 = 7547;

/// XSD `maxLength` of `UN` and `Name`.
const MAX_NAME: usize = 256;
/// XSD `maxLength` of `ProductClass` and `SerialNumber`.
const MAX_ID: usize = 64;

/// One UDP lightweight notification (the `Notification` element).
///
/// `Debug` shows every field; the message carries no secret (the password only keys the
/// signature).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct LightweightNotification {
    /// `TS`: Unix seconds when the message was made.
    pub timestamp: i32,
    /// `UN`: `Device.ManagementServer.Username`.
    pub username: String,
    /// `CN`: a random string chosen by the CPE.
    pub cnonce: String,
    /// `OUI`: `Device.DeviceInfo.ManufacturerOUI`.
    pub oui: String,
    /// `ProductClass`: `Device.DeviceInfo.ProductClass`.
    pub product_class: String,
    /// `SerialNumber`: `Device.DeviceInfo.SerialNumber`.
    pub serial_number: String,
    /// `Param`: the changed parameters, name and value (at least one).
    pub params: Vec<(String, String)>,
}

impl LightweightNotification {
    /// A message with no parameter yet.
    #[must_use]
    pub fn new(
        timestamp: i32,
        username: impl Into<String>,
        cnonce: impl Into<String>,
        oui: impl Into<String>,
        product_class: impl Into<String>,
        serial_number: impl Into<String>,
    ) -> Self {
        Self {
            timestamp,
            username: username.into(),
            cnonce: cnonce.into(),
            oui: oui.into(),
            product_class: product_class.into(),
            serial_number: serial_number.into(),
            params: Vec::new(),
        }
    }

    /// Appends the XML document to `out`.
    ///
    /// # Errors
    ///
    /// [`CodecError::InvalidForEncoding`] for a value the schema forbids (see the
    /// [module docs](self)); `out` may then hold a partial document.
    pub fn encode(&self, out: &mut Vec<u8>) -> Result<(), CodecError> {
        let oui_ok = self.oui.len() == 6
            && self
                .oui
                .bytes()
                .all(|b| b.is_ascii_digit() || (b'A'..=b'F').contains(&b));
        if !oui_ok {
            return Err(CodecError::InvalidForEncoding {
                element: "OUI",
                problem: EncodeProblem::IllegalCharacter,
            });
        }
        if self.params.is_empty() {
            return Err(CodecError::InvalidForEncoding {
                element: "Param",
                problem: EncodeProblem::TooFewEntries { min: 1 },
            });
        }
        let mut w = Writer::new(out);
        w.raw(r#"<?xml version="1.0" encoding="UTF-8"?>"#);
        w.raw(r#"<Notification xmlns=""#);
        w.raw(NAMESPACE);
        w.raw(r#"">"#);
        w.plain_element("TS", &self.timestamp.to_string());
        w.text_element("UN", &self.username, MAX_NAME)?;
        w.text_element("CN", &self.cnonce, usize::MAX)?;
        w.plain_element("OUI", &self.oui);
        w.text_element("ProductClass", &self.product_class, MAX_ID)?;
        w.text_element("SerialNumber", &self.serial_number, MAX_ID)?;
        for (name, value) in &self.params {
            w.open("Param");
            w.text_element("Name", name, MAX_NAME)?;
            w.text_element("Value", value, usize::MAX)?;
            w.close("Param");
        }
        w.close("Notification");
        Ok(())
    }

    /// The datagram for `host:port`: the `POST` head with the `Signature` of the body keyed
    /// with `password`, then the body (see the [module docs](self) for what is and is not
    /// from the spec).
    ///
    /// # Errors
    ///
    /// As [`encode`](Self::encode); also when `host` holds a character a header cannot
    /// carry.
    pub fn datagram(&self, host: &str, port: u16, password: &str) -> Result<Vec<u8>, CodecError> {
        if host.bytes().any(|b| b.is_ascii_control() || b == b' ') {
            return Err(CodecError::InvalidForEncoding {
                element: "Host",
                problem: EncodeProblem::IllegalCharacter,
            });
        }
        let mut body = Vec::new();
        self.encode(&mut body)?;
        let signature = signature(password, &body);
        let mut head = String::with_capacity(160);
        let host = if host.contains(':') {
            format!("[{host}]")
        } else {
            host.to_owned()
        };
        // Writing to a String cannot fail.
        let _ = write!(
            head,
            "POST / HTTP/1.1\r\nHost: {host}:{port}\r\n\
             Content-Type: text/xml; charset=\"utf-8\"\r\n\
             Content-Length: {}\r\nSignature: {signature}\r\n\r\n",
            body.len()
        );
        let mut datagram = head.into_bytes();
        datagram.extend_from_slice(&body);
        Ok(datagram)
    }
}

/// The `Signature` of a body: upper-case hex HMAC-SHA1 keyed with `password`.
#[must_use]
pub fn signature(password: &str, body: &[u8]) -> String {
    // HMAC takes keys of any length; the error arm cannot happen.
    let Ok(mut mac) = Hmac::<Sha1>::new_from_slice(password.as_bytes()) else {
        return String::new();
    };
    mac.update(body);
    crate::auth::hex(&mac.finalize().into_bytes()).to_ascii_uppercase()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> LightweightNotification {
        let mut n = LightweightNotification::new(
            1_700_000_000,
            "user",
            "c0ffee",
            "00D09E",
            "Gateway",
            "SIM0001",
        );
        n.params
            .push(("Device.WiFi.SSID.1.SSID".into(), "a<b & c".into()));
        n
    }

    #[test]
    fn encodes_the_schema_order_escaped() {
        let mut out = Vec::new();
        sample().encode(&mut out).unwrap();
        let text = String::from_utf8(out).unwrap();
        assert_eq!(
            text,
            "<?xml version=\"1.0\" encoding=\"UTF-8\"?><Notification \
             xmlns=\"urn:broadband-forum-org:cwmp:lwnotif-1-0\"><TS>1700000000</TS><UN>user</UN>\
             <CN>c0ffee</CN><OUI>00D09E</OUI><ProductClass>Gateway</ProductClass>\
             <SerialNumber>SIM0001</SerialNumber><Param><Name>Device.WiFi.SSID.1.SSID</Name>\
             <Value>a&lt;b &amp; c</Value></Param></Notification>"
        );
    }

    #[test]
    fn refuses_what_the_schema_forbids() {
        let mut n = sample();
        n.oui = "00d09e".into();
        assert!(n.encode(&mut Vec::new()).is_err());
        let mut n = sample();
        n.params.clear();
        assert!(n.encode(&mut Vec::new()).is_err());
        let mut n = sample();
        n.serial_number = "x".repeat(65);
        assert!(n.encode(&mut Vec::new()).is_err());
        let mut n = sample();
        n.params.push(("Device.X".into(), "\u{1}".into()));
        assert!(n.encode(&mut Vec::new()).is_err());
        assert!(sample().datagram("a\r\nb", 1, "p").is_err());
    }

    #[test]
    fn datagram_is_signed_over_the_body() {
        let bytes = sample().datagram("192.0.2.1", 7547, "secret").unwrap();
        let text = String::from_utf8(bytes).unwrap();
        let (head, body) = text.split_once("\r\n\r\n").unwrap();
        let lines: Vec<&str> = head.split("\r\n").collect();
        assert_eq!(lines[0], "POST / HTTP/1.1");
        assert_eq!(lines[1], "Host: 192.0.2.1:7547");
        assert_eq!(lines[3], format!("Content-Length: {}", body.len()));
        // An independent HMAC-SHA1 (RFC 2202 test case 2 checks the primitive itself).
        assert_eq!(
            signature("Jefe", b"what do ya want for nothing?"),
            "EFFCDF6AE5EB2FA2D27416D5F184DF9C259A7C79"
        );
        assert_eq!(
            lines[4],
            format!("Signature: {}", signature("secret", body.as_bytes()))
        );
        let v6 = sample().datagram("2001:db8::1", 9, "s").unwrap();
        assert!(
            String::from_utf8(v6)
                .unwrap()
                .contains("Host: [2001:db8::1]:9\r\n")
        );
    }
}
