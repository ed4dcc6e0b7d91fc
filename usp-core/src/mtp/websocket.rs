//! WebSocket binding (RFC 6455).
//!
//! - The client offers, and the server must echo, the subprotocol [`SUBPROTOCOL`]; without it no
//!   USP session is set up (R-WS.9 to R-WS.12).
//! - The client names itself with the query parameter `?eid=<Endpoint ID>` (see
//!   [`eid_query_value`]); the [`EXTENSION`] header with an `eid` parameter is optional and
//!   deprecated on the client side, but still accepted ([`extension_header`],
//!   [`extension_eid`]).
//! - Records travel in **binary** messages only. Do not fragment on send; accept fragments on
//!   receive.
//! - A Record that cannot be extracted closes the connection with [`CLOSE_UNPARSABLE_RECORD`].
//! - The Agent sends Pings to keep the connection alive; at most one session per endpoint pair.

use alloc::string::String;

/// The `Sec-WebSocket-Protocol` value for USP Records.
pub const SUBPROTOCOL: &str = "v1.usp";
/// The registered WebSocket extension that carries an Endpoint ID.
pub const EXTENSION: &str = "bbf-usp-protocol";
/// The name of the Endpoint ID parameter, both in the URL query and in the extension.
pub const EID_PARAM: &str = "eid";
/// The close code for a frame whose Record cannot be extracted (R-WS.16).
pub const CLOSE_UNPARSABLE_RECORD: u16 = 1003;
/// DNS-SD service type of an Agent's WebSocket server.
pub const DNS_SD_AGENT_SERVICE: &str = "_usp-agt-ws._tcp";
/// DNS-SD service type of a Controller's WebSocket server.
pub const DNS_SD_CONTROLLER_SERVICE: &str = "_usp-ctr-ws._tcp";

/// Whether a `Sec-WebSocket-Protocol` header value (a comma-separated list) names
/// [`SUBPROTOCOL`].
///
/// ```
/// use usp_core::mtp::websocket::offers_subprotocol;
/// assert!(offers_subprotocol("chat, v1.usp"));
/// assert!(!offers_subprotocol("v1.usp.json"));
/// ```
#[must_use]
pub fn offers_subprotocol(header_value: &str) -> bool {
    header_value
        .split(',')
        .any(|p| p.trim().eq_ignore_ascii_case(SUBPROTOCOL))
}

/// The value of the `eid` query parameter for an Endpoint ID: `%` becomes `%25` (R-WS.10c);
/// every other character an Endpoint ID may hold is allowed in a query as is.
///
/// ```
/// assert_eq!(usp_core::mtp::websocket::eid_query_value("os::00256D-a%20b"), "os::00256D-a%2520b");
/// ```
#[must_use]
pub fn eid_query_value(eid: &str) -> String {
    eid.replace('%', "%25")
}

/// A `Sec-WebSocket-Extensions` value offering [`EXTENSION`] with the given Endpoint ID, e.g.
/// `bbf-usp-protocol; eid="os::00256D-0123"`.
#[must_use]
pub fn extension_header(eid: &str) -> String {
    let mut value = String::with_capacity(EXTENSION.len() + eid.len() + 8);
    value.push_str(EXTENSION);
    value.push_str("; eid=\"");
    for c in eid.chars() {
        if c == '"' || c == '\\' {
            value.push('\\');
        }
        value.push(c);
    }
    value.push('"');
    value
}

/// The Endpoint ID in a `Sec-WebSocket-Extensions` value, if it offers [`EXTENSION`] with an
/// `eid` parameter (quoted or not).
///
/// ```
/// use usp_core::mtp::websocket::{extension_eid, extension_header};
/// let header = extension_header("proto::ctrl");
/// assert_eq!(extension_eid(&header).as_deref(), Some("proto::ctrl"));
/// assert_eq!(extension_eid("permessage-deflate").as_deref(), None);
/// ```
#[must_use]
pub fn extension_eid(header_value: &str) -> Option<String> {
    for extension in split_unquoted(header_value, ',') {
        let mut parts = split_unquoted(extension, ';');
        if !parts
            .next()
            .is_some_and(|name| name.trim().eq_ignore_ascii_case(EXTENSION))
        {
            continue;
        }
        for param in parts {
            let Some((name, value)) = param.split_once('=') else {
                continue;
            };
            if name.trim().eq_ignore_ascii_case(EID_PARAM) {
                return Some(unquote(value.trim()));
            }
        }
    }
    None
}

/// Splits at `sep`, except inside a quoted string.
fn split_unquoted(s: &str, sep: char) -> impl Iterator<Item = &str> {
    let mut rest = Some(s);
    core::iter::from_fn(move || {
        let s = rest?;
        let mut quoted = false;
        let mut escaped = false;
        for (i, c) in s.char_indices() {
            if escaped {
                escaped = false;
            } else if quoted && c == '\\' {
                escaped = true;
            } else if c == '"' {
                quoted = !quoted;
            } else if c == sep && !quoted {
                rest = s.get(i + c.len_utf8()..);
                return s.get(..i);
            }
        }
        rest = None;
        Some(s)
    })
}

fn unquote(value: &str) -> String {
    let Some(inner) = value.strip_prefix('"').and_then(|v| v.strip_suffix('"')) else {
        return value.into();
    };
    let mut out = String::with_capacity(inner.len());
    let mut escaped = false;
    for c in inner.chars() {
        if !escaped && c == '\\' {
            escaped = true;
        } else {
            escaped = false;
            out.push(c);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn extension_round_trip_with_escapes() {
        let header = extension_header(r#"self::a"b\c"#);
        assert_eq!(header, r#"bbf-usp-protocol; eid="self::a\"b\\c""#);
        assert_eq!(extension_eid(&header).as_deref(), Some(r#"self::a"b\c"#));
    }

    #[test]
    fn extension_among_others() {
        let header =
            r#"permessage-deflate; client_max_window_bits, bbf-usp-protocol; eid="x::y,z""#;
        assert_eq!(extension_eid(header).as_deref(), Some("x::y,z"));
        assert_eq!(
            extension_eid("bbf-usp-protocol; eid=os::abc").as_deref(),
            Some("os::abc")
        );
        assert_eq!(extension_eid("bbf-usp-protocol").as_deref(), None);
    }
}
