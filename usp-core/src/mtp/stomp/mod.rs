//! STOMP 1.2 binding.
//!
//! - Connect with a `STOMP` frame carrying [`HEADER_ENDPOINT_ID`] (its value escaped with
//!   [`escape_header_value`], so `:` becomes `\c`), `login`/`passcode`, and `host` = the
//!   configured VirtualHost.
//! - `CONNECTED` may carry [`HEADER_SUBSCRIBE_DEST`], which overrides the configured destination.
//!   Subscribe with `destination` and `ack:auto`.
//! - Send Records in `SEND` frames with `content-length`, [`HEADER_CONTENT_TYPE`] =
//!   [`CONTENT_TYPE`] and [`HEADER_REPLY_TO_DEST`]; answer to the `reply-to-dest` of the
//!   incoming frame.
//! - Never send the frames in [`FORBIDDEN_FRAMES`]. Heart-beat from the configured
//!   Outgoing/IncomingHeartbeat, or [`NO_HEART_BEAT`].
//! - The Connect Record is `stomp_connect{version, subscribed_destination}`.
//!
//! [`frame`] is the bounded STOMP 1.2 frame codec and [`client`] (feature `std`) the sans-IO
//! connection of a USP Endpoint to its broker built on it.

use alloc::string::String;

#[cfg(feature = "std")]
pub mod client;
pub mod frame;

/// `content-type` of a SEND frame carrying a USP Record.
pub const CONTENT_TYPE: &str = "application/vnd.bbf.usp.msg";
/// The content type header.
pub const HEADER_CONTENT_TYPE: &str = "content-type";
/// The content length header.
pub const HEADER_CONTENT_LENGTH: &str = "content-length";
/// The header naming the destination to reply to.
pub const HEADER_REPLY_TO_DEST: &str = "reply-to-dest";
/// The `STOMP` frame header naming the sender's Endpoint ID.
pub const HEADER_ENDPOINT_ID: &str = "endpoint-id";
/// The `CONNECTED` frame header naming the destination to subscribe to.
pub const HEADER_SUBSCRIBE_DEST: &str = "subscribe-dest";
/// The destination header of `SUBSCRIBE` and `SEND`.
pub const HEADER_DESTINATION: &str = "destination";
/// Frames a USP Endpoint never sends.
pub const FORBIDDEN_FRAMES: [&str; 5] = ["BEGIN", "COMMIT", "ABORT", "ACK", "NACK"];
/// The `heart-beat` value when none is configured.
pub const NO_HEART_BEAT: &str = "0,0";

/// Escapes a STOMP 1.2 header value: `\` → `\\`, CR → `\r`, LF → `\n`, `:` → `\c`.
///
/// ```
/// assert_eq!(usp_core::mtp::stomp::escape_header_value("os::0A-1"), r"os\c\c0A-1");
/// ```
#[must_use]
pub fn escape_header_value(value: &str) -> String {
    let mut out = String::with_capacity(value.len());
    for c in value.chars() {
        match c {
            '\\' => out.push_str(r"\\"),
            '\r' => out.push_str(r"\r"),
            '\n' => out.push_str(r"\n"),
            ':' => out.push_str(r"\c"),
            _ => out.push(c),
        }
    }
    out
}

/// Reverses [`escape_header_value`]. `None` for an undefined escape sequence, which STOMP 1.2
/// treats as a fatal protocol error.
#[must_use]
pub fn unescape_header_value(value: &str) -> Option<String> {
    let mut out = String::with_capacity(value.len());
    let mut chars = value.chars();
    while let Some(c) = chars.next() {
        if c != '\\' {
            out.push(c);
            continue;
        }
        match chars.next()? {
            '\\' => out.push('\\'),
            'r' => out.push('\r'),
            'n' => out.push('\n'),
            'c' => out.push(':'),
            _ => return None,
        }
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escape_round_trip() {
        let raw = "a:b\\c\r\nd";
        let escaped = escape_header_value(raw);
        assert_eq!(escaped, r"a\cb\\c\r\nd");
        assert_eq!(unescape_header_value(&escaped).as_deref(), Some(raw));
        assert_eq!(unescape_header_value(r"bad\t"), None);
        assert_eq!(unescape_header_value("trailing\\"), None);
    }
}
