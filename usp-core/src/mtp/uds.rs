//! Unix domain socket binding (an internal MTP between processes of one device).
//!
//! The socket is `SOCK_STREAM`, so Records travel in frames:
//!
//! ```text
//! +------+------+------+------+----------------+------+----------------+-------+ ...
//! | 0x5F | 0x55 | 0x53 | 0x50 | length (u32 BE)| type | length (u32 BE)| value | more TLVs
//! |  _   |  U   |  S   |  P   | of the rest    | (u8) | of the value   |       |
//! +------+------+------+------+----------------+------+----------------+-------+ ...
//! ```
//!
//! TLV types: [`TlvType::HANDSHAKE`] (the sender's Endpoint ID, UTF-8), [`TlvType::ERROR`]
//! (a UTF-8 text), [`TlvType::RECORD`] (a protobuf Record); unknown types are ignored
//! (R-UDS.15). The client sends its Handshake first and the server answers; the client gives up
//! after [`HANDSHAKE_TIMEOUT`]. Records before the handshake are ignored. A frame that cannot be
//! parsed gets a type-2 Error frame and the socket is closed (R-UDS.23/24); a received Error
//! frame closes it too. Clients reconnect after a random delay in
//! [`RECONNECT_DELAY_MIN`]..=[`RECONNECT_DELAY_MAX`].
//!
//! [`decode_frame`] is a sans-IO parser: feed it what has been read so far; it returns
//! [`Decoded::Incomplete`] with the number of bytes still missing, or a [`Frame`] and how many
//! bytes it used.
//!
//! ```
//! use usp_core::mtp::uds::{self, Decoded, TlvType};
//!
//! let mut wire = Vec::new();
//! uds::encode_handshake("os::012345-CPE1", &mut wire)?;
//! assert!(matches!(uds::decode_frame(&wire[..5], 1024)?, Decoded::Incomplete { needed: 3 }));
//! let Decoded::Frame { frame, consumed } = uds::decode_frame(&wire, 1024)? else { panic!() };
//! assert_eq!(consumed, wire.len());
//! assert_eq!(frame.first(TlvType::HANDSHAKE), Some(&b"os::012345-CPE1"[..]));
//! # Ok::<(), uds::FrameError>(())
//! ```

use alloc::vec::Vec;
use core::time::Duration;

/// The synchronization bytes that start every frame: `_USP`.
pub const MAGIC: [u8; 4] = *b"_USP";
/// Size of the frame header: [`MAGIC`] and a 4-byte length.
pub const HEADER_LEN: usize = 8;
/// Size of a TLV header: a 1-byte type and a 4-byte length.
pub const TLV_HEADER_LEN: usize = 5;
/// How long a client waits for the server's Handshake (R-UDS.18).
pub const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(30);
/// Shortest delay before a client reconnects (R-UDS.5).
pub const RECONNECT_DELAY_MIN: Duration = Duration::from_secs(1);
/// Longest delay before a client reconnects (R-UDS.5).
pub const RECONNECT_DELAY_MAX: Duration = Duration::from_secs(5);

/// The type byte of a TLV. Any value can occur on the wire; the defined ones are constants.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct TlvType(pub u8);

impl TlvType {
    /// Type 1: the sender's Endpoint ID (UTF-8).
    pub const HANDSHAKE: Self = Self(1);
    /// Type 2: an error text (UTF-8); the receiver closes the connection.
    pub const ERROR: Self = Self(2);
    /// Type 3: a protobuf USP Record.
    pub const RECORD: Self = Self(3);
    /// Type 4: a password for authenticated UDS connections, as OBUSPA 11 sends it (from the USP
    /// 1.5 era; not in the 1.4 text).
    pub const PASSWORD: Self = Self(4);
}

/// One TLV of a frame.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Tlv<'a> {
    /// The type byte.
    pub tlv_type: TlvType,
    /// The value.
    pub value: &'a [u8],
}

/// A complete, well-formed frame (magic, length and every TLV checked), borrowing the input.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Frame<'a> {
    body: &'a [u8],
}

impl<'a> Frame<'a> {
    /// The TLVs in order, unknown types included.
    pub fn tlvs(&self) -> impl Iterator<Item = Tlv<'a>> + 'a {
        let mut rest = self.body;
        core::iter::from_fn(move || {
            let (tlv, after) = split_tlv(rest).ok()?;
            rest = after;
            Some(tlv)
        })
    }

    /// The value of the first TLV of type `tlv_type`.
    #[must_use]
    pub fn first(&self, tlv_type: TlvType) -> Option<&'a [u8]> {
        self.tlvs()
            .find(|t| t.tlv_type == tlv_type)
            .map(|t| t.value)
    }
}

/// What [`decode_frame`] found at the start of the buffer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[allow(clippy::exhaustive_enums, reason = "complete by definition")]
pub enum Decoded<'a> {
    /// The buffer holds the start of a frame; read at least `needed` more bytes and call again
    /// with the longer buffer.
    Incomplete {
        /// Bytes still missing (at least 1).
        needed: usize,
    },
    /// A whole frame; drop `consumed` bytes from the buffer before the next call.
    Frame {
        /// The frame.
        frame: Frame<'a>,
        /// Bytes the frame took from the start of the buffer.
        consumed: usize,
    },
}

/// Why a UDS frame could not be parsed or built. On receive, answer with a type-2 Error frame
/// and close the socket (R-UDS.24).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum FrameError {
    /// The frame does not start with [`MAGIC`].
    #[error("UDS frame does not start with _USP")]
    BadMagic,
    /// The frame holds no TLV (R-UDS.6 requires at least one).
    #[error("UDS frame has no TLV")]
    Empty,
    /// The frame is longer than the limit (on receive) or than a 32-bit length can say (on
    /// send).
    #[error("UDS frame of {len} bytes exceeds the limit of {max} bytes")]
    TooLarge {
        /// The length after the header.
        len: u64,
        /// The limit.
        max: u64,
    },
    /// A TLV header or value runs past the end of the frame.
    #[error("UDS TLV at offset {offset} runs past the end of the frame")]
    MalformedTlv {
        /// Offset of the TLV from the start of the frame.
        offset: usize,
    },
}

/// Parses the frame at the start of `buf`, whose length after the 8-byte header may be at most
/// `max_frame_len` (use at least the Record limit plus a few bytes for the TLV header).
///
/// # Errors
///
/// [`FrameError::BadMagic`] as soon as the first bytes differ from [`MAGIC`],
/// [`FrameError::TooLarge`] as soon as the length is known, [`FrameError::Empty`] and
/// [`FrameError::MalformedTlv`] once the frame is complete.
pub fn decode_frame(buf: &[u8], max_frame_len: usize) -> Result<Decoded<'_>, FrameError> {
    let seen = buf.len().min(MAGIC.len());
    if buf.get(..seen) != MAGIC.get(..seen) {
        return Err(FrameError::BadMagic);
    }
    let Some(len_bytes) = buf.get(MAGIC.len()..HEADER_LEN) else {
        return Ok(Decoded::Incomplete {
            needed: HEADER_LEN - buf.len(),
        });
    };
    let len = read_u32(len_bytes);
    let too_large = || FrameError::TooLarge {
        len: u64::from(len),
        max: max_frame_len as u64,
    };
    let body_len = usize::try_from(len).map_err(|_| too_large())?;
    if body_len > max_frame_len {
        return Err(too_large());
    }
    let total = HEADER_LEN.checked_add(body_len).ok_or_else(too_large)?;
    let Some(body) = buf.get(HEADER_LEN..total) else {
        return Ok(Decoded::Incomplete {
            needed: total - buf.len(),
        });
    };
    if body.is_empty() {
        return Err(FrameError::Empty);
    }
    let mut rest = body;
    while !rest.is_empty() {
        let offset = HEADER_LEN + (body.len() - rest.len());
        rest = split_tlv(rest)
            .map_err(|()| FrameError::MalformedTlv { offset })?
            .1;
    }
    Ok(Decoded::Frame {
        frame: Frame { body },
        consumed: total,
    })
}

/// Appends a frame holding `tlvs` to `out` and returns the number of bytes written.
///
/// # Errors
///
/// [`FrameError::Empty`] without TLVs, [`FrameError::TooLarge`] if a value or the frame does not
/// fit a 32-bit length; `out` is unchanged then.
pub fn encode_frame(tlvs: &[Tlv<'_>], out: &mut Vec<u8>) -> Result<usize, FrameError> {
    if tlvs.is_empty() {
        return Err(FrameError::Empty);
    }
    let body_len = tlvs.iter().try_fold(0_u32, |acc, tlv| {
        u32::try_from(tlv.value.len())
            .ok()
            .and_then(|len| len.checked_add(TLV_HEADER_LEN as u32))
            .and_then(|len| acc.checked_add(len))
    });
    let Some(body_len) = body_len else {
        let len = tlvs
            .iter()
            .map(|t| t.value.len() as u64 + TLV_HEADER_LEN as u64)
            .sum();
        return Err(FrameError::TooLarge {
            len,
            max: u64::from(u32::MAX),
        });
    };
    let total = HEADER_LEN + body_len as usize;
    out.reserve(total);
    out.extend_from_slice(&MAGIC);
    out.extend_from_slice(&body_len.to_be_bytes());
    for tlv in tlvs {
        out.push(tlv.tlv_type.0);
        // Checked above: every value length fits a u32.
        out.extend_from_slice(&(tlv.value.len() as u32).to_be_bytes());
        out.extend_from_slice(tlv.value);
    }
    Ok(total)
}

/// Appends a Handshake frame carrying `endpoint_id`.
///
/// # Errors
///
/// As [`encode_frame`].
pub fn encode_handshake(endpoint_id: &str, out: &mut Vec<u8>) -> Result<usize, FrameError> {
    encode_single(TlvType::HANDSHAKE, endpoint_id.as_bytes(), out)
}

/// Appends an Error frame carrying `message`.
///
/// # Errors
///
/// As [`encode_frame`].
pub fn encode_error(message: &str, out: &mut Vec<u8>) -> Result<usize, FrameError> {
    encode_single(TlvType::ERROR, message.as_bytes(), out)
}

/// Appends a frame carrying an encoded Record.
///
/// # Errors
///
/// As [`encode_frame`].
pub fn encode_record(record: &[u8], out: &mut Vec<u8>) -> Result<usize, FrameError> {
    encode_single(TlvType::RECORD, record, out)
}

fn encode_single(tlv_type: TlvType, value: &[u8], out: &mut Vec<u8>) -> Result<usize, FrameError> {
    encode_frame(&[Tlv { tlv_type, value }], out)
}

/// Splits the first TLV off `buf`.
fn split_tlv(buf: &[u8]) -> Result<(Tlv<'_>, &[u8]), ()> {
    let (&tlv_type, rest) = buf.split_first().ok_or(())?;
    let len_bytes = rest.get(..4).ok_or(())?;
    let len = usize::try_from(read_u32(len_bytes)).map_err(|_| ())?;
    let rest = rest.get(4..).ok_or(())?;
    let value = rest.get(..len).ok_or(())?;
    let after = rest.get(len..).ok_or(())?;
    Ok((
        Tlv {
            tlv_type: TlvType(tlv_type),
            value,
        },
        after,
    ))
}

/// Reads a big-endian u32 from the first 4 bytes (callers pass exactly 4).
fn read_u32(bytes: &[u8]) -> u32 {
    bytes
        .iter()
        .take(4)
        .fold(0, |acc, &b| (acc << 8) | u32::from(b))
}

#[cfg(test)]
mod tests {
    use alloc::vec;

    use super::*;

    fn frame_of(decoded: Decoded<'_>) -> (Frame<'_>, usize) {
        match decoded {
            Decoded::Frame { frame, consumed } => (frame, consumed),
            Decoded::Incomplete { needed } => panic!("incomplete, needs {needed}"),
        }
    }

    #[test]
    fn handshake_matches_the_spec_example() {
        // The TR-369 example: Endpoint ID "os::00256D-0123456789" (21 bytes).
        let mut out = Vec::new();
        let n = encode_handshake("os::00256D-0123456789", &mut out).unwrap();
        assert_eq!(n, 8 + 5 + 21);
        assert_eq!(&out[..8], &[0x5F, 0x55, 0x53, 0x50, 0, 0, 0, 26]);
        assert_eq!(&out[8..13], &[1, 0, 0, 0, 21]);
        assert_eq!(&out[13..], b"os::00256D-0123456789");
    }

    #[test]
    fn every_prefix_is_incomplete_with_the_right_count() {
        let mut out = Vec::new();
        encode_record(&[0x0A, 0x03, 0x31, 0x2E, 0x34], &mut out).unwrap();
        for cut in 0..out.len() {
            match decode_frame(&out[..cut], 1024).unwrap() {
                Decoded::Incomplete { needed } => {
                    assert!(needed >= 1);
                    assert!(cut + needed <= out.len());
                    if cut >= HEADER_LEN {
                        assert_eq!(cut + needed, out.len());
                    }
                }
                Decoded::Frame { .. } => panic!("complete at {cut}"),
            }
        }
        let (frame, consumed) = frame_of(decode_frame(&out, 1024).unwrap());
        assert_eq!(consumed, out.len());
        assert_eq!(
            frame.first(TlvType::RECORD),
            Some(&[0x0A, 0x03, 0x31, 0x2E, 0x34][..])
        );
    }

    #[test]
    fn several_tlvs_and_trailing_bytes() {
        let mut out = Vec::new();
        encode_frame(
            &[
                Tlv {
                    tlv_type: TlvType(9),
                    value: b"ignored",
                },
                Tlv {
                    tlv_type: TlvType::HANDSHAKE,
                    value: b"self::x",
                },
                Tlv {
                    tlv_type: TlvType::RECORD,
                    value: b"",
                },
            ],
            &mut out,
        )
        .unwrap();
        let first_len = out.len();
        encode_error("bye", &mut out).unwrap();
        let (frame, consumed) = frame_of(decode_frame(&out, 1024).unwrap());
        assert_eq!(consumed, first_len);
        let types: Vec<u8> = frame.tlvs().map(|t| t.tlv_type.0).collect();
        assert_eq!(types, vec![9, 1, 3]);
        assert_eq!(frame.first(TlvType::HANDSHAKE), Some(&b"self::x"[..]));
        let (second, _) = frame_of(decode_frame(&out[consumed..], 1024).unwrap());
        assert_eq!(second.first(TlvType::ERROR), Some(&b"bye"[..]));
    }

    #[test]
    fn hostile_frames_are_errors() {
        assert_eq!(decode_frame(b"_UX", 64), Err(FrameError::BadMagic));
        assert_eq!(
            decode_frame(b"GET / HTTP/1.1", 64),
            Err(FrameError::BadMagic)
        );
        assert_eq!(
            decode_frame(&[0x5F, 0x55, 0x53, 0x50, 0xFF, 0xFF, 0xFF, 0xFF], 64),
            Err(FrameError::TooLarge {
                len: u64::from(u32::MAX),
                max: 64
            })
        );
        assert_eq!(
            decode_frame(&[0x5F, 0x55, 0x53, 0x50, 0, 0, 0, 0], 64),
            Err(FrameError::Empty)
        );
        // A TLV whose length runs past the frame.
        let bad = [0x5F, 0x55, 0x53, 0x50, 0, 0, 0, 6, 3, 0, 0, 0, 9, 0xAA];
        assert_eq!(
            decode_frame(&bad, 64),
            Err(FrameError::MalformedTlv { offset: 8 })
        );
        // A truncated TLV header.
        let bad = [0x5F, 0x55, 0x53, 0x50, 0, 0, 0, 3, 3, 0, 0];
        assert_eq!(
            decode_frame(&bad, 64),
            Err(FrameError::MalformedTlv { offset: 8 })
        );
        assert_eq!(encode_frame(&[], &mut Vec::new()), Err(FrameError::Empty));
    }
}
