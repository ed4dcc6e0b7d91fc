//! The STOMP 1.2 frame codec: a bounded "need more bytes" decoder and an encoder.
//!
//! ```text
//! frame  = command EOL *( header EOL ) EOL *OCTET NULL *( EOL )
//! header = name ":" value          EOL = [CR] LF
//! ```
//!
//! Header names and values are escaped (`\\`, `\r`, `\n`, `\c`) in every frame but `CONNECT`
//! and `CONNECTED`; an undefined escape is an error. When a header repeats, the first one
//! counts. With a `content-length` header the body is that many octets (NULs included) and a
//! NUL must follow; without one it runs to the first NUL. EOLs between frames are heart-beats
//! ([`Decoded::HeartBeat`]).
//!
//! [`decode_frame`] bounds what it buffers by [`FrameLimits`]: the header section, the header
//! count and the body (checked from `content-length` before the body arrives).

use alloc::string::{String, ToString};
use alloc::vec::Vec;

use super::{HEADER_CONTENT_LENGTH, escape_header_value, unescape_header_value};
use crate::Limits;

/// A STOMP 1.2 command.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[allow(
    clippy::exhaustive_enums,
    reason = "the STOMP 1.2 commands, complete by definition"
)]
pub enum Command {
    /// Client: cancels a transaction.
    Abort,
    /// Client: acknowledges a message.
    Ack,
    /// Client: starts a transaction.
    Begin,
    /// Client: commits a transaction.
    Commit,
    /// Client: connects (STOMP 1.0 name; headers not escaped).
    Connect,
    /// Server: accepts a connection (headers not escaped).
    Connected,
    /// Client: disconnects.
    Disconnect,
    /// Server: reports an error, then closes the connection.
    Error,
    /// Server: delivers a message of a subscription.
    Message,
    /// Client: refuses a message.
    Nack,
    /// Server: acknowledges a client frame that asked for a receipt.
    Receipt,
    /// Client: sends a message to a destination.
    Send,
    /// Client: connects (STOMP 1.2 name, which USP uses).
    Stomp,
    /// Client: subscribes to a destination.
    Subscribe,
    /// Client: ends a subscription.
    Unsubscribe,
}

impl Command {
    /// Every command, for parsing.
    const ALL: [Self; 15] = [
        Self::Abort,
        Self::Ack,
        Self::Begin,
        Self::Commit,
        Self::Connect,
        Self::Connected,
        Self::Disconnect,
        Self::Error,
        Self::Message,
        Self::Nack,
        Self::Receipt,
        Self::Send,
        Self::Stomp,
        Self::Subscribe,
        Self::Unsubscribe,
    ];

    /// The command's name on the wire.
    #[must_use]
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Abort => "ABORT",
            Self::Ack => "ACK",
            Self::Begin => "BEGIN",
            Self::Commit => "COMMIT",
            Self::Connect => "CONNECT",
            Self::Connected => "CONNECTED",
            Self::Disconnect => "DISCONNECT",
            Self::Error => "ERROR",
            Self::Message => "MESSAGE",
            Self::Nack => "NACK",
            Self::Receipt => "RECEIPT",
            Self::Send => "SEND",
            Self::Stomp => "STOMP",
            Self::Subscribe => "SUBSCRIBE",
            Self::Unsubscribe => "UNSUBSCRIBE",
        }
    }

    /// The command named `name` on the wire.
    fn parse(name: &[u8]) -> Option<Self> {
        Self::ALL
            .into_iter()
            .find(|command| command.as_str().as_bytes() == name)
    }

    /// Whether the frame's headers are escaped (all but `CONNECT` and `CONNECTED`).
    const fn escapes_headers(self) -> bool {
        !matches!(self, Self::Connect | Self::Connected)
    }
}

/// One STOMP frame, its headers unescaped.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct Frame {
    /// The command.
    pub command: Command,
    /// The headers in order (names and values unescaped); repeats kept.
    pub headers: Vec<(String, String)>,
    /// The body.
    pub body: Vec<u8>,
}

impl Frame {
    /// A frame of `command` without headers or body.
    #[must_use]
    pub const fn new(command: Command) -> Self {
        Self {
            command,
            headers: Vec::new(),
            body: Vec::new(),
        }
    }

    /// Adds a header.
    #[must_use]
    pub fn with_header(mut self, name: &str, value: &str) -> Self {
        self.headers.push((name.into(), value.into()));
        self
    }

    /// Sets the body and its `content-length` header.
    #[must_use]
    pub fn with_body(mut self, body: &[u8]) -> Self {
        self.headers
            .push((HEADER_CONTENT_LENGTH.into(), body.len().to_string()));
        self.body = body.to_vec();
        self
    }

    /// The value of the first header `name` (STOMP 1.2: a repeated header's first value
    /// counts).
    #[must_use]
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }
}

/// Bounds on what [`decode_frame`] accepts from a peer.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct FrameLimits {
    /// Largest body, in bytes. Default: a USP Record of the default [`Limits`] (1 MiB).
    pub max_body_bytes: usize,
    /// Largest command and header section (up to the blank line), in bytes. Default 8 KiB.
    pub max_header_bytes: usize,
    /// Most headers in a frame. Default 64.
    pub max_headers: usize,
}

impl FrameLimits {
    /// Sets [`max_body_bytes`](Self::max_body_bytes).
    #[must_use]
    pub const fn with_max_body_bytes(mut self, bytes: usize) -> Self {
        self.max_body_bytes = bytes;
        self
    }
}

impl Default for FrameLimits {
    fn default() -> Self {
        Self {
            max_body_bytes: Limits::DEFAULT_MAX_RECORD_BYTES,
            max_header_bytes: 8 * 1024,
            max_headers: 64,
        }
    }
}

/// Why bytes are not a STOMP 1.2 frame. Framing cannot resume after any of them: the receiver
/// closes the connection (a broker sends an `ERROR` first; a USP Endpoint reconnects). No USP
/// Record is involved, so no USP error code applies.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum FrameError {
    /// A `content-length` that is not a decimal number.
    #[error("STOMP content-length {0:?} is not a number")]
    BadContentLength(String),
    /// A header line without a colon.
    #[error("STOMP header line without a colon")]
    BadHeader,
    /// An undefined escape sequence in a header (fatal in STOMP 1.2).
    #[error("STOMP header with an undefined escape sequence")]
    BadEscape,
    /// The body is larger than [`FrameLimits::max_body_bytes`].
    #[error("STOMP body of {len} bytes exceeds the limit of {max} bytes")]
    BodyTooLarge {
        /// The body's length, or what was buffered without finding its end.
        len: usize,
        /// The limit.
        max: usize,
    },
    /// The header section is larger than [`FrameLimits::max_header_bytes`].
    #[error("STOMP header section exceeds {max} bytes")]
    HeadersTooLarge {
        /// The limit.
        max: usize,
    },
    /// The frame has more headers than [`FrameLimits::max_headers`].
    #[error("STOMP frame has more than {max} headers")]
    TooManyHeaders {
        /// The limit.
        max: usize,
    },
    /// No NUL after a body of `content-length` octets.
    #[error("STOMP body is not followed by a NUL octet")]
    MissingNul,
    /// A header name or value, or the command, is not UTF-8.
    #[error("STOMP frame header is not UTF-8")]
    NotUtf8,
    /// A command STOMP 1.2 does not define.
    #[error("unknown STOMP command")]
    UnknownCommand,
}

/// What [`decode_frame`] found at the start of the buffer.
#[derive(Debug, Clone, PartialEq, Eq)]
#[allow(clippy::exhaustive_enums, reason = "complete by definition")]
pub enum Decoded {
    /// The buffer holds the start of a frame (or nothing); read more and call again.
    Incomplete,
    /// End-of-lines between frames (heart-beats); drop `consumed` bytes.
    HeartBeat {
        /// Bytes to drop from the start of the buffer.
        consumed: usize,
    },
    /// A whole frame; drop `consumed` bytes from the buffer before the next call.
    Frame {
        /// The frame.
        frame: Frame,
        /// Bytes the frame took from the start of the buffer.
        consumed: usize,
    },
}

/// Decodes the frame at the start of `buf`, within `limits`; see the [module docs](self).
///
/// ```
/// use usp_core::mtp::stomp::frame::{Command, Decoded, FrameLimits, decode_frame};
///
/// let wire = b"MESSAGE\nreply-to-dest:/queue/ctrl\\c1\ncontent-length:3\n\n\0\x01\0\0\n";
/// let Decoded::Frame { frame, consumed } = decode_frame(wire, &FrameLimits::default())? else {
///     panic!("a whole frame");
/// };
/// assert_eq!(consumed, wire.len() - 1);
/// assert_eq!(frame.command, Command::Message);
/// assert_eq!(frame.header("reply-to-dest"), Some("/queue/ctrl:1"));
/// assert_eq!(frame.body, b"\0\x01\0");
/// assert_eq!(decode_frame(&wire[consumed..], &FrameLimits::default())?,
///            Decoded::HeartBeat { consumed: 1 });
/// # Ok::<(), usp_core::mtp::stomp::frame::FrameError>(())
/// ```
pub fn decode_frame(buf: &[u8], limits: &FrameLimits) -> Result<Decoded, FrameError> {
    let eols = leading_eols(buf);
    if eols > 0 {
        return Ok(Decoded::HeartBeat { consumed: eols });
    }
    if buf.is_empty() {
        return Ok(Decoded::Incomplete);
    }
    // The header section ends at the first empty line.
    let Some(head_len) = header_section_len(buf) else {
        if buf.len() > limits.max_header_bytes {
            return Err(FrameError::HeadersTooLarge {
                max: limits.max_header_bytes,
            });
        }
        return Ok(Decoded::Incomplete);
    };
    if head_len > limits.max_header_bytes {
        return Err(FrameError::HeadersTooLarge {
            max: limits.max_header_bytes,
        });
    }
    let head = buf.get(..head_len).unwrap_or_default();
    let mut lines = head.split(|&b| b == b'\n').map(strip_cr);
    let command = lines.next().unwrap_or_default();
    let command = Command::parse(command).ok_or(FrameError::UnknownCommand)?;
    let mut headers = Vec::new();
    for line in lines.filter(|line| !line.is_empty()) {
        if headers.len() >= limits.max_headers {
            return Err(FrameError::TooManyHeaders {
                max: limits.max_headers,
            });
        }
        headers.push(parse_header(line, command.escapes_headers())?);
    }
    let frame_start = head_len;
    let rest = buf.get(frame_start..).unwrap_or_default();
    let content_length = headers
        .iter()
        .find(|(n, _)| n == HEADER_CONTENT_LENGTH)
        .map(|(_, v)| parse_length(v))
        .transpose()?;
    let body_len = match content_length {
        Some(len) => {
            if len > limits.max_body_bytes {
                return Err(FrameError::BodyTooLarge {
                    len,
                    max: limits.max_body_bytes,
                });
            }
            match rest.get(len) {
                None => return Ok(Decoded::Incomplete),
                Some(0) => len,
                Some(_) => return Err(FrameError::MissingNul),
            }
        }
        None => match rest.iter().position(|&b| b == 0) {
            Some(len) if len > limits.max_body_bytes => {
                return Err(FrameError::BodyTooLarge {
                    len,
                    max: limits.max_body_bytes,
                });
            }
            Some(len) => len,
            None if rest.len() > limits.max_body_bytes => {
                return Err(FrameError::BodyTooLarge {
                    len: rest.len(),
                    max: limits.max_body_bytes,
                });
            }
            None => return Ok(Decoded::Incomplete),
        },
    };
    let body = rest.get(..body_len).unwrap_or_default().to_vec();
    Ok(Decoded::Frame {
        frame: Frame {
            command,
            headers,
            body,
        },
        // The body and its NUL.
        consumed: frame_start + body_len + 1,
    })
}

/// Appends `frame` to `out`: its headers escaped unless the command is `CONNECT` or
/// `CONNECTED`, then the body and a NUL. The caller puts a `content-length` header in when
/// the body may hold a NUL ([`Frame::with_body`] does).
pub fn encode_frame(frame: &Frame, out: &mut Vec<u8>) {
    out.extend_from_slice(frame.command.as_str().as_bytes());
    out.push(b'\n');
    let escape = frame.command.escapes_headers();
    for (name, value) in &frame.headers {
        if escape {
            out.extend_from_slice(escape_header_value(name).as_bytes());
            out.push(b':');
            out.extend_from_slice(escape_header_value(value).as_bytes());
        } else {
            out.extend_from_slice(name.as_bytes());
            out.push(b':');
            out.extend_from_slice(value.as_bytes());
        }
        out.push(b'\n');
    }
    out.push(b'\n');
    out.extend_from_slice(&frame.body);
    out.push(0);
}

/// How many bytes of end-of-lines start `buf` (a lone CR waits for its LF).
fn leading_eols(buf: &[u8]) -> usize {
    let mut at = 0;
    loop {
        match buf.get(at..) {
            Some([b'\n', ..]) => at += 1,
            Some([b'\r', b'\n', ..]) => at += 2,
            _ => return at,
        }
    }
}

/// The length of the command and header lines with the empty line that ends them, if `buf`
/// holds it.
fn header_section_len(buf: &[u8]) -> Option<usize> {
    let mut line_start = 0;
    for (at, &byte) in buf.iter().enumerate() {
        if byte != b'\n' {
            continue;
        }
        let line = buf.get(line_start..at).unwrap_or_default();
        if strip_cr(line).is_empty() && line_start > 0 {
            return Some(at + 1);
        }
        line_start = at + 1;
    }
    None
}

/// `line` without its trailing CR.
fn strip_cr(line: &[u8]) -> &[u8] {
    line.strip_suffix(b"\r").unwrap_or(line)
}

/// One `name:value` line, unescaped when `escaped`.
fn parse_header(line: &[u8], escaped: bool) -> Result<(String, String), FrameError> {
    let line = core::str::from_utf8(line).map_err(|_| FrameError::NotUtf8)?;
    let (name, value) = line.split_once(':').ok_or(FrameError::BadHeader)?;
    if !escaped {
        return Ok((name.into(), value.into()));
    }
    let name = unescape_header_value(name).ok_or(FrameError::BadEscape)?;
    let value = unescape_header_value(value).ok_or(FrameError::BadEscape)?;
    Ok((name, value))
}

fn parse_length(value: &str) -> Result<usize, FrameError> {
    let bad = || FrameError::BadContentLength(value.into());
    if value.is_empty() || !value.bytes().all(|b| b.is_ascii_digit()) {
        return Err(bad());
    }
    value.parse().map_err(|_| bad())
}

#[cfg(test)]
mod tests {
    use alloc::vec;

    use proptest::prelude::*;

    use super::*;

    fn decode(buf: &[u8]) -> Result<Decoded, FrameError> {
        decode_frame(buf, &FrameLimits::default())
    }

    fn whole(buf: &[u8]) -> (Frame, usize) {
        match decode(buf) {
            Ok(Decoded::Frame { frame, consumed }) => (frame, consumed),
            other => panic!("not a frame: {other:?}"),
        }
    }

    #[test]
    fn connected_headers_are_not_unescaped_and_crlf_is_an_eol() {
        let wire = b"CONNECTED\r\nversion:1.2\r\nsession:a\\cb:c\r\nsubscribe-dest:/q/x\r\n\r\n\0";
        let (frame, consumed) = whole(wire);
        assert_eq!(consumed, wire.len());
        assert_eq!(frame.command, Command::Connected);
        assert_eq!(frame.header("session"), Some("a\\cb:c"));
        assert_eq!(frame.header("subscribe-dest"), Some("/q/x"));
        assert!(frame.body.is_empty());
    }

    #[test]
    fn the_first_repeated_header_counts_and_a_body_runs_to_the_nul() {
        let (frame, consumed) = whole(b"MESSAGE\nfoo:World\nfoo:Hello\n\nhi\0rest");
        assert_eq!(frame.header("foo"), Some("World"));
        assert_eq!(frame.headers.len(), 2);
        assert_eq!(frame.body, b"hi");
        assert_eq!(consumed, b"MESSAGE\nfoo:World\nfoo:Hello\n\nhi\0".len());
    }

    #[test]
    fn every_prefix_is_incomplete() {
        let wire = b"MESSAGE\ncontent-length:4\n\n\0\0\0\0\0";
        for end in 1..wire.len() {
            assert_eq!(
                decode(&wire[..end]),
                Ok(Decoded::Incomplete),
                "prefix {end}"
            );
        }
        assert_eq!(whole(wire).1, wire.len());
        assert_eq!(decode(b""), Ok(Decoded::Incomplete));
        assert_eq!(decode(b"\r"), Ok(Decoded::Incomplete));
        assert_eq!(decode(b"\n\r\n\nX"), Ok(Decoded::HeartBeat { consumed: 4 }));
    }

    #[test]
    fn malformed_frames_are_typed_errors() {
        let cases: [(&[u8], FrameError); 7] = [
            (b"HELLO\n\n\0", FrameError::UnknownCommand),
            (b"SEND\nnocolon\n\n\0", FrameError::BadHeader),
            (b"SEND\na:b\\t\n\n\0", FrameError::BadEscape),
            (b"SEND\na:\xff\n\n\0", FrameError::NotUtf8),
            (
                b"SEND\ncontent-length:-1\n\n\0",
                FrameError::BadContentLength("-1".into()),
            ),
            (b"SEND\ncontent-length:1\n\nab\0", FrameError::MissingNul),
            (
                b"SEND\ncontent-length:99999999999999999999999\n\n",
                FrameError::BadContentLength("99999999999999999999999".into()),
            ),
        ];
        for (wire, error) in cases {
            assert_eq!(
                decode(wire),
                Err(error),
                "{:?}",
                String::from_utf8_lossy(wire)
            );
        }
    }

    #[test]
    fn limits_are_enforced_before_buffering_more() {
        let limits = FrameLimits {
            max_body_bytes: 4,
            max_header_bytes: 32,
            max_headers: 2,
        };
        let decode = |wire: &[u8]| decode_frame(wire, &limits);
        assert_eq!(
            decode(b"SEND\ncontent-length:5\n\n"),
            Err(FrameError::BodyTooLarge { len: 5, max: 4 })
        );
        assert_eq!(
            decode(b"SEND\n\nabcdef"),
            Err(FrameError::BodyTooLarge { len: 6, max: 4 })
        );
        assert_eq!(
            decode(b"SEND\n\nabcde\0"),
            Err(FrameError::BodyTooLarge { len: 5, max: 4 })
        );
        assert_eq!(
            decode(&[b'A'; 33]),
            Err(FrameError::HeadersTooLarge { max: 32 })
        );
        assert_eq!(
            decode(b"SEND\na:1\nb:2\nc:3\n\n\0"),
            Err(FrameError::TooManyHeaders { max: 2 })
        );
        assert!(matches!(
            decode(b"SEND\na:1\nb:2\n\nabcd\0"),
            Ok(Decoded::Frame { .. })
        ));
    }

    #[test]
    fn send_frames_escape_what_stomp_escapes() {
        let frame = Frame::new(Command::Stomp)
            .with_header("endpoint-id", "os::0A-1")
            .with_body(&[0, 1]);
        let mut wire = Vec::new();
        encode_frame(&frame, &mut wire);
        assert_eq!(
            wire,
            b"STOMP\nendpoint-id:os\\c\\c0A-1\ncontent-length:2\n\n\0\x01\0"
        );
        let mut wire = Vec::new();
        encode_frame(
            &Frame::new(Command::Connect).with_header("a", "b:c"),
            &mut wire,
        );
        assert_eq!(wire, b"CONNECT\na:b:c\n\n\0");
        assert_eq!(whole(&wire).0.header("a"), Some("b:c"));
    }

    /// Header text: any char for escaped frames; no CR, LF or colon for the others.
    fn text(escaped: bool) -> BoxedStrategy<String> {
        if escaped {
            any::<String>().boxed()
        } else {
            "[^\r\n:\\\\]*".boxed()
        }
    }

    fn frames() -> impl Strategy<Value = Frame> {
        (0..Command::ALL.len())
            .prop_map(|i| Command::ALL[i])
            .prop_flat_map(|command| {
                let escaped = command.escapes_headers();
                let name = text(escaped).prop_filter("a name", |n| {
                    !n.is_empty() && n != HEADER_CONTENT_LENGTH && !n.starts_with('\r')
                });
                (
                    Just(command),
                    proptest::collection::vec((name, text(escaped)), 0..6),
                    proptest::collection::vec(any::<u8>(), 0..64),
                )
            })
            .prop_map(|(command, headers, body)| {
                let frame = Frame {
                    command,
                    headers,
                    body: Vec::new(),
                };
                frame.with_body(&body)
            })
    }

    proptest! {
        #[test]
        fn decode_inverts_encode(frame in frames(), heart_beats in 0_usize..3) {
            let mut wire = vec![b'\n'; heart_beats];
            let start = wire.len();
            encode_frame(&frame, &mut wire);
            let rest = &wire[start..];
            if heart_beats > 0 {
                prop_assert_eq!(decode(&wire), Ok(Decoded::HeartBeat { consumed: heart_beats }));
            }
            prop_assert_eq!(decode(rest), Ok(Decoded::Frame { frame, consumed: rest.len() }));
        }
    }
}
