//! The STUN message codec: classic RFC 3489 Binding messages with the TR-111 attributes, read
//! leniently enough for RFC 5389 servers (magic cookie, XOR-MAPPED-ADDRESS, FINGERPRINT).
//!
//! A message is a 20-byte header (type, length, 16-byte transaction id; RFC 5389 puts its magic
//! cookie `0x2112A442` in the first four bytes of that id) and type-length-value attributes,
//! each padded to four bytes. Decoding is bounded: at most [`MAX_MESSAGE_BYTES`] and
//! [`MAX_ATTRIBUTES`]; every length is checked against the bytes present; MESSAGE-INTEGRITY
//! may be followed only by FINGERPRINT, FINGERPRINT only by nothing, and a FINGERPRINT that
//! does not match is an error.
//!
//! MESSAGE-INTEGRITY is HMAC-SHA1 keyed with the password (TR-111: `STUNPassword`) over the
//! message up to the attribute, with the header length counting up to its end. RFC 3489 pads
//! that text with zeros to a multiple of 64 bytes ([`IntegrityStyle::Rfc3489`]); RFC 5389 does
//! not ([`IntegrityStyle::Rfc5389`]). [`verify_integrity`] accepts either and says which.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};

use hmac::{Hmac, Mac};
use sha1::Sha1;

use super::StunError;
use crate::auth;

/// RFC 5389's magic cookie, the first four bytes of its transaction ids.
pub const MAGIC_COOKIE: u32 = 0x2112_A442;
/// The value of CONNECTION-REQUEST-BINDING (TR-111 part 2): 20 bytes, the last a space.
pub const CONNECTION_REQUEST_BINDING_VALUE: &[u8; 20] = b"dslforum.org/TR-111 ";
/// Most bytes of a message decoded or encoded (a STUN message fits in one unfragmented
/// datagram; classic messages are far smaller).
pub const MAX_MESSAGE_BYTES: usize = 1280;
/// Most attributes in one message.
pub const MAX_ATTRIBUTES: usize = 32;
/// Length of the header.
pub const HEADER_BYTES: usize = 20;

const MAPPED_ADDRESS: u16 = 0x0001;
const USERNAME: u16 = 0x0006;
const MESSAGE_INTEGRITY: u16 = 0x0008;
const ERROR_CODE: u16 = 0x0009;
const UNKNOWN_ATTRIBUTES: u16 = 0x000A;
const XOR_MAPPED_ADDRESS: u16 = 0x0020;
const FINGERPRINT: u16 = 0x8028;
const CONNECTION_REQUEST_BINDING: u16 = 0xC001;
const BINDING_CHANGE: u16 = 0xC002;
const KNOWN: [u16; 9] = [
    MAPPED_ADDRESS,
    USERNAME,
    MESSAGE_INTEGRITY,
    ERROR_CODE,
    UNKNOWN_ATTRIBUTES,
    XOR_MAPPED_ADDRESS,
    FINGERPRINT,
    CONNECTION_REQUEST_BINDING,
    BINDING_CHANGE,
];
const FINGERPRINT_XOR: u32 = 0x5354_554E;
/// The CONNECTION-REQUEST-BINDING value without its trailing space.
const CONNECTION_REQUEST_BINDING_TRIMMED: &[u8] = b"dslforum.org/TR-111";
const HMAC_BYTES: usize = 20;

/// A message type: the 14 bits of method and class (the top two bits are always zero).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct MessageType(u16);

impl MessageType {
    /// Binding Request.
    pub const BINDING_REQUEST: Self = Self(0x0001);
    /// Binding Response (success).
    pub const BINDING_RESPONSE: Self = Self(0x0101);
    /// Binding Error Response.
    pub const BINDING_ERROR_RESPONSE: Self = Self(0x0111);
    /// Binding Indication (RFC 5389; not used by TR-111).
    pub const BINDING_INDICATION: Self = Self(0x0011);

    /// The type with this wire value; `None` when one of the top two bits is set.
    #[must_use]
    pub fn from_raw(raw: u16) -> Option<Self> {
        (raw & 0xC000 == 0).then_some(Self(raw))
    }

    /// The wire value.
    #[must_use]
    pub fn raw(self) -> u16 {
        self.0
    }
}

/// How MESSAGE-INTEGRITY is computed (see the [module docs](self)).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum IntegrityStyle {
    /// RFC 3489 §11.2.8: the text is zero-padded to a multiple of 64 bytes.
    Rfc3489,
    /// RFC 5389 §15.4: no padding.
    Rfc5389,
}

/// One attribute.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Attribute {
    /// MAPPED-ADDRESS (0x0001): the source address the server saw.
    MappedAddress(SocketAddr),
    /// USERNAME (0x0006), opaque bytes (TR-111: `STUNUsername`).
    Username(Vec<u8>),
    /// MESSAGE-INTEGRITY (0x0008): the HMAC-SHA1 as received. To send one, use
    /// [`Message::encode_with_integrity`], which computes it.
    MessageIntegrity([u8; HMAC_BYTES]),
    /// ERROR-CODE (0x0009): a code in 300..=699 and its reason phrase.
    ErrorCode {
        /// The code (class × 100 + number).
        code: u16,
        /// The reason phrase as sent (classic servers pad it with spaces).
        reason: String,
    },
    /// UNKNOWN-ATTRIBUTES (0x000A), with a 420 error: the types the server did not know.
    UnknownAttributes(Vec<u16>),
    /// XOR-MAPPED-ADDRESS (0x0020, RFC 5389): the mapped address XOR the magic cookie (and,
    /// for IPv6, the transaction id).
    XorMappedAddress(SocketAddr),
    /// FINGERPRINT (0x8028, RFC 5389): CRC-32 of the message before it, XOR `0x5354554E`.
    /// Decoding checks it and encoding computes it, so it carries no value here.
    Fingerprint,
    /// CONNECTION-REQUEST-BINDING (0xC001, TR-111): this binding carries UDP connection
    /// requests. Encoded as [`CONNECTION_REQUEST_BINDING_VALUE`]; decoding also accepts the
    /// value without its trailing space, which some CPEs send.
    ConnectionRequestBinding,
    /// BINDING-CHANGE (0xC002, TR-111, empty): the binding changed since the last request.
    BindingChange,
    /// Any other attribute, kept as bytes (classic servers send SOURCE-ADDRESS and
    /// CHANGED-ADDRESS; RFC 5389 servers SOFTWARE).
    Other {
        /// The attribute type (never one of the types above).
        kind: u16,
        /// The value, without padding.
        value: Vec<u8>,
    },
}

impl Attribute {
    /// The attribute type on the wire.
    #[must_use]
    pub fn kind(&self) -> u16 {
        match self {
            Self::MappedAddress(_) => MAPPED_ADDRESS,
            Self::Username(_) => USERNAME,
            Self::MessageIntegrity(_) => MESSAGE_INTEGRITY,
            Self::ErrorCode { .. } => ERROR_CODE,
            Self::UnknownAttributes(_) => UNKNOWN_ATTRIBUTES,
            Self::XorMappedAddress(_) => XOR_MAPPED_ADDRESS,
            Self::Fingerprint => FINGERPRINT,
            Self::ConnectionRequestBinding => CONNECTION_REQUEST_BINDING,
            Self::BindingChange => BINDING_CHANGE,
            Self::Other { kind, .. } => *kind,
        }
    }
}

/// A STUN message.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct Message {
    /// The message type.
    pub kind: MessageType,
    /// The transaction id: 16 bytes as RFC 3489 has it; with RFC 5389 the first four are
    /// [`MAGIC_COOKIE`].
    pub transaction_id: [u8; 16],
    /// The attributes in wire order.
    pub attributes: Vec<Attribute>,
}

/// Whether `datagram` looks like a STUN message rather than, say, a UDP connection request on
/// the same socket (an HTTP request line starts with a letter, so its first byte has a top
/// bit set): at least a header, the two top bits zero, and a header length that is a multiple
/// of four and matches the datagram.
#[must_use]
pub fn is_stun(datagram: &[u8]) -> bool {
    match (datagram.first(), length_field(datagram)) {
        (Some(first), Some(length)) => {
            first & 0xC0 == 0
                && length % 4 == 0
                && datagram.len() == HEADER_BYTES.saturating_add(length)
        }
        _ => false,
    }
}

fn length_field(datagram: &[u8]) -> Option<usize> {
    match (datagram.get(2), datagram.get(3)) {
        (Some(&hi), Some(&lo)) if datagram.len() >= HEADER_BYTES => {
            Some(usize::from(u16::from_be_bytes([hi, lo])))
        }
        _ => None,
    }
}

impl Message {
    /// A message of `kind` with `transaction_id` and no attributes.
    #[must_use]
    pub fn new(kind: MessageType, transaction_id: [u8; 16]) -> Self {
        Self {
            kind,
            transaction_id,
            attributes: Vec::new(),
        }
    }

    /// Adds an attribute.
    #[must_use]
    pub fn with(mut self, attribute: Attribute) -> Self {
        self.attributes.push(attribute);
        self
    }

    /// The mapped address: XOR-MAPPED-ADDRESS if present (a NAT that rewrites addresses in
    /// payloads cannot touch it), else MAPPED-ADDRESS.
    #[must_use]
    pub fn mapped_address(&self) -> Option<SocketAddr> {
        let find = |xor: bool| {
            self.attributes.iter().find_map(|a| match a {
                Attribute::XorMappedAddress(addr) if xor => Some(*addr),
                Attribute::MappedAddress(addr) if !xor => Some(*addr),
                _ => None,
            })
        };
        find(true).or_else(|| find(false))
    }

    /// The ERROR-CODE, if any: code and reason (trailing padding trimmed).
    #[must_use]
    pub fn error_code(&self) -> Option<(u16, &str)> {
        self.attributes.iter().find_map(|a| match a {
            Attribute::ErrorCode { code, reason } => Some((*code, reason.trim_end())),
            _ => None,
        })
    }

    /// Whether the message carries `attribute`-kind attribute.
    #[must_use]
    pub fn has(&self, kind: u16) -> bool {
        self.attributes.iter().any(|a| a.kind() == kind)
    }

    /// Decodes one message (the whole datagram).
    ///
    /// # Errors
    ///
    /// A [`StunError`] saying what is wrong; nothing is read past `datagram`.
    pub fn decode(datagram: &[u8]) -> Result<Self, StunError> {
        if datagram.len() > MAX_MESSAGE_BYTES {
            return Err(StunError::TooLarge {
                max: MAX_MESSAGE_BYTES,
            });
        }
        let length = length_field(datagram).ok_or(StunError::TooShort)?;
        let (header, body) = datagram
            .split_at_checked(HEADER_BYTES)
            .ok_or(StunError::TooShort)?;
        let raw_type = u16::from_be_bytes([byte(header, 0)?, byte(header, 1)?]);
        let kind = MessageType::from_raw(raw_type).ok_or(StunError::NotStun)?;
        if length % 4 != 0 || body.len() != length {
            return Err(StunError::LengthMismatch {
                header: length,
                actual: body.len(),
            });
        }
        let mut transaction_id = [0; 16];
        transaction_id.copy_from_slice(header.get(4..HEADER_BYTES).ok_or(StunError::TooShort)?);
        let mut attributes = Vec::new();
        for item in AttributeIter::new(body) {
            let (offset, kind, value) = item?;
            if attributes.len() >= MAX_ATTRIBUTES {
                return Err(StunError::TooManyAttributes {
                    max: MAX_ATTRIBUTES,
                });
            }
            if let Some(last) = attributes.last().map(Attribute::kind) {
                let misplaced =
                    last == FINGERPRINT || (last == MESSAGE_INTEGRITY && kind != FINGERPRINT);
                if misplaced {
                    return Err(StunError::MisplacedAttribute { kind });
                }
            }
            if kind == FINGERPRINT {
                let covered = datagram
                    .get(..HEADER_BYTES.saturating_add(offset))
                    .ok_or(StunError::TooShort)?;
                let value: [u8; 4] = value.try_into().map_err(|_| invalid(kind, "not 4 bytes"))?;
                if crc32(covered) ^ FINGERPRINT_XOR != u32::from_be_bytes(value) {
                    return Err(StunError::BadFingerprint);
                }
            }
            attributes.push(decode_attribute(kind, value, &transaction_id)?);
        }
        Ok(Self {
            kind,
            transaction_id,
            attributes,
        })
    }

    /// Encodes the message, attributes in the given order. A MESSAGE-INTEGRITY in the list is
    /// written as it is (use [`Message::encode_with_integrity`] to compute one); a FINGERPRINT
    /// is computed.
    ///
    /// # Errors
    ///
    /// [`StunError::TooLarge`] beyond [`MAX_MESSAGE_BYTES`] or [`MAX_ATTRIBUTES`], or
    /// [`StunError::InvalidForEncoding`] for a value that would not decode as itself.
    pub fn encode(&self) -> Result<Vec<u8>, StunError> {
        if self.attributes.len() > MAX_ATTRIBUTES {
            return Err(StunError::TooManyAttributes {
                max: MAX_ATTRIBUTES,
            });
        }
        let mut out = Vec::with_capacity(128);
        out.extend_from_slice(&self.kind.raw().to_be_bytes());
        out.extend_from_slice(&[0, 0]);
        out.extend_from_slice(&self.transaction_id);
        let mut previous = None;
        for attribute in &self.attributes {
            let kind = attribute.kind();
            if previous == Some(FINGERPRINT)
                || (previous == Some(MESSAGE_INTEGRITY) && kind != FINGERPRINT)
            {
                return Err(StunError::InvalidForEncoding {
                    kind,
                    problem: "after MESSAGE-INTEGRITY or FINGERPRINT",
                });
            }
            previous = Some(kind);
            if kind == FINGERPRINT {
                let end = out.len().saturating_add(8);
                set_length(&mut out, end)?;
                let crc = crc32(&out) ^ FINGERPRINT_XOR;
                out.extend_from_slice(&FINGERPRINT.to_be_bytes());
                out.extend_from_slice(&4u16.to_be_bytes());
                out.extend_from_slice(&crc.to_be_bytes());
            } else {
                encode_attribute(&mut out, attribute, &self.transaction_id)?;
            }
        }
        let end = out.len();
        set_length(&mut out, end)?;
        Ok(out)
    }

    /// Encodes the message and appends a MESSAGE-INTEGRITY computed with `key` in `style`
    /// (the attributes must not already contain one).
    ///
    /// # Errors
    ///
    /// As [`Message::encode`].
    pub fn encode_with_integrity(
        &self,
        key: &[u8],
        style: IntegrityStyle,
    ) -> Result<Vec<u8>, StunError> {
        if self.has(MESSAGE_INTEGRITY) || self.has(FINGERPRINT) {
            return Err(StunError::InvalidForEncoding {
                kind: MESSAGE_INTEGRITY,
                problem: "the message already ends in MESSAGE-INTEGRITY or FINGERPRINT",
            });
        }
        let mut out = self.encode()?;
        let end = out.len().saturating_add(4 + HMAC_BYTES);
        set_length(&mut out, end)?;
        let mac = integrity(&out, key, style);
        out.extend_from_slice(&MESSAGE_INTEGRITY.to_be_bytes());
        out.extend_from_slice(&(HMAC_BYTES as u16).to_be_bytes());
        out.extend_from_slice(&mac);
        Ok(out)
    }
}

/// Checks the MESSAGE-INTEGRITY of `datagram` (a message [`Message::decode`] accepts) against
/// `key`, in constant time, and returns the style that matched.
///
/// # Errors
///
/// [`StunError::MissingIntegrity`] without the attribute, [`StunError::IntegrityMismatch`]
/// when neither style matches, or the decoding error of a malformed message.
pub fn verify_integrity(datagram: &[u8], key: &[u8]) -> Result<IntegrityStyle, StunError> {
    let body = datagram.get(HEADER_BYTES..).ok_or(StunError::TooShort)?;
    let mut found = None;
    for item in AttributeIter::new(body) {
        let (offset, kind, value) = item?;
        if kind == MESSAGE_INTEGRITY {
            found = Some((offset, value));
            break;
        }
    }
    let (offset, received) = found.ok_or(StunError::MissingIntegrity)?;
    let mut text = datagram
        .get(..HEADER_BYTES.saturating_add(offset))
        .ok_or(StunError::TooShort)?
        .to_vec();
    let end = text.len().saturating_add(4 + HMAC_BYTES);
    set_length(&mut text, end)?;
    for style in [IntegrityStyle::Rfc3489, IntegrityStyle::Rfc5389] {
        if auth::secure_eq(&integrity(&text, key, style), received) {
            return Ok(style);
        }
    }
    Err(StunError::IntegrityMismatch)
}

/// The HMAC-SHA1 over `text` (header length already adjusted).
fn integrity(text: &[u8], key: &[u8], style: IntegrityStyle) -> [u8; HMAC_BYTES] {
    // HMAC takes keys of any length; `new_from_slice` cannot fail for it.
    let Ok(mut mac) = Hmac::<Sha1>::new_from_slice(key) else {
        return [0; HMAC_BYTES];
    };
    mac.update(text);
    if style == IntegrityStyle::Rfc3489 {
        let pad = (64 - text.len() % 64) % 64;
        mac.update([0; 64].get(..pad).unwrap_or_default());
    }
    mac.finalize().into_bytes().into()
}

/// Writes the header's length field for a message that ends at `end` bytes.
fn set_length(out: &mut [u8], end: usize) -> Result<(), StunError> {
    let too_large = StunError::TooLarge {
        max: MAX_MESSAGE_BYTES,
    };
    if end > MAX_MESSAGE_BYTES {
        return Err(too_large);
    }
    let length = u16::try_from(end.saturating_sub(HEADER_BYTES)).map_err(|_| too_large)?;
    if let Some(field) = out.get_mut(2..4) {
        field.copy_from_slice(&length.to_be_bytes());
    }
    Ok(())
}

fn byte(bytes: &[u8], index: usize) -> Result<u8, StunError> {
    bytes.get(index).copied().ok_or(StunError::TooShort)
}

/// Walks the attributes of a message body: `(offset in body, type, value)`.
struct AttributeIter<'a> {
    body: &'a [u8],
    offset: usize,
}

impl<'a> AttributeIter<'a> {
    fn new(body: &'a [u8]) -> Self {
        Self { body, offset: 0 }
    }
}

impl<'a> Iterator for AttributeIter<'a> {
    type Item = Result<(usize, u16, &'a [u8]), StunError>;

    fn next(&mut self) -> Option<Self::Item> {
        let rest = self.body.get(self.offset..)?;
        if rest.is_empty() {
            return None;
        }
        let start = self.offset;
        let Some(&[t0, t1, l0, l1]) = rest.get(..4) else {
            self.offset = self.body.len();
            return Some(Err(StunError::TruncatedAttribute { kind: None }));
        };
        let kind = u16::from_be_bytes([t0, t1]);
        let len = usize::from(u16::from_be_bytes([l0, l1]));
        let padded = len.saturating_add(3) & !3;
        let Some(value) = rest.get(4..4usize.saturating_add(len)) else {
            self.offset = self.body.len();
            return Some(Err(StunError::TruncatedAttribute { kind: Some(kind) }));
        };
        if rest.len() < 4usize.saturating_add(padded) {
            self.offset = self.body.len();
            return Some(Err(StunError::TruncatedAttribute { kind: Some(kind) }));
        }
        self.offset = start.saturating_add(4).saturating_add(padded);
        Some(Ok((start, kind, value)))
    }
}

fn invalid(kind: u16, problem: &'static str) -> StunError {
    StunError::InvalidAttribute { kind, problem }
}

fn decode_attribute(kind: u16, value: &[u8], tid: &[u8; 16]) -> Result<Attribute, StunError> {
    Ok(match kind {
        MAPPED_ADDRESS => Attribute::MappedAddress(decode_address(kind, value, None)?),
        XOR_MAPPED_ADDRESS => Attribute::XorMappedAddress(decode_address(kind, value, Some(tid))?),
        USERNAME => Attribute::Username(value.to_vec()),
        MESSAGE_INTEGRITY => Attribute::MessageIntegrity(
            value
                .try_into()
                .map_err(|_| invalid(kind, "not 20 bytes"))?,
        ),
        ERROR_CODE => {
            let (head, reason) = value
                .split_at_checked(4)
                .ok_or_else(|| invalid(kind, "shorter than 4 bytes"))?;
            let class = u16::from(head.get(2).copied().unwrap_or(0) & 0x07);
            let number = u16::from(head.get(3).copied().unwrap_or(0));
            if !(3..=6).contains(&class) || number > 99 {
                return Err(invalid(kind, "code outside 300..=699"));
            }
            let reason = std::str::from_utf8(reason)
                .map_err(|_| invalid(kind, "reason is not UTF-8"))?
                .to_owned();
            Attribute::ErrorCode {
                code: class * 100 + number,
                reason,
            }
        }
        UNKNOWN_ATTRIBUTES => {
            if value.len() % 2 != 0 {
                return Err(invalid(kind, "odd length"));
            }
            Attribute::UnknownAttributes(
                value
                    .chunks_exact(2)
                    .map(|c| {
                        u16::from_be_bytes([
                            c.first().copied().unwrap_or(0),
                            c.last().copied().unwrap_or(0),
                        ])
                    })
                    .collect(),
            )
        }
        FINGERPRINT => Attribute::Fingerprint,
        CONNECTION_REQUEST_BINDING => {
            let trimmed = value.strip_suffix(b" ").unwrap_or(value);
            if trimmed != CONNECTION_REQUEST_BINDING_TRIMMED {
                return Err(invalid(kind, "not \"dslforum.org/TR-111 \""));
            }
            Attribute::ConnectionRequestBinding
        }
        BINDING_CHANGE => {
            if !value.is_empty() {
                return Err(invalid(kind, "not empty"));
            }
            Attribute::BindingChange
        }
        _ => Attribute::Other {
            kind,
            value: value.to_vec(),
        },
    })
}

/// The XOR mask of XOR-MAPPED-ADDRESS: the cookie, then the rest of the transaction id.
fn xor_mask(tid: &[u8; 16]) -> [u8; 16] {
    let mut mask = *tid;
    if let Some(head) = mask.get_mut(..4) {
        head.copy_from_slice(&MAGIC_COOKIE.to_be_bytes());
    }
    mask
}

/// The port of XOR-MAPPED-ADDRESS is XORed with the cookie's top half.
fn port_mask(xor: bool) -> u16 {
    if xor {
        u16::try_from(MAGIC_COOKIE >> 16).unwrap_or(0)
    } else {
        0
    }
}

fn decode_address(
    kind: u16,
    value: &[u8],
    xor: Option<&[u8; 16]>,
) -> Result<SocketAddr, StunError> {
    let mask = xor.map_or([0; 16], xor_mask);
    let (head, address) = value
        .split_at_checked(4)
        .ok_or_else(|| invalid(kind, "shorter than 4 bytes"))?;
    let &[_, family, p0, p1] = head else {
        return Err(invalid(kind, "shorter than 4 bytes"));
    };
    let port = u16::from_be_bytes([p0, p1]) ^ port_mask(xor.is_some());
    let ip = match (family, address.len()) {
        (1, 4) => {
            let mut octets = [0; 4];
            for ((o, a), m) in octets.iter_mut().zip(address).zip(mask) {
                *o = a ^ m;
            }
            IpAddr::V4(Ipv4Addr::from(octets))
        }
        (2, 16) => {
            let mut octets = [0; 16];
            for ((o, a), m) in octets.iter_mut().zip(address).zip(mask) {
                *o = a ^ m;
            }
            IpAddr::V6(Ipv6Addr::from(octets))
        }
        (1 | 2, _) => return Err(invalid(kind, "address length does not fit the family")),
        _ => return Err(invalid(kind, "unknown address family")),
    };
    Ok(SocketAddr::new(ip, port))
}

fn encode_address(out: &mut Vec<u8>, addr: SocketAddr, xor: Option<&[u8; 16]>) {
    let mask = xor.map_or([0; 16], xor_mask);
    let family = if addr.is_ipv4() { 1 } else { 2 };
    out.extend_from_slice(&[0, family]);
    let port = addr.port() ^ port_mask(xor.is_some());
    out.extend_from_slice(&port.to_be_bytes());
    let octets: Vec<u8> = match addr.ip() {
        IpAddr::V4(ip) => ip.octets().to_vec(),
        IpAddr::V6(ip) => ip.octets().to_vec(),
    };
    out.extend(octets.iter().zip(mask).map(|(a, m)| a ^ m));
}

fn encode_attribute(
    out: &mut Vec<u8>,
    attribute: &Attribute,
    tid: &[u8; 16],
) -> Result<(), StunError> {
    let kind = attribute.kind();
    out.extend_from_slice(&kind.to_be_bytes());
    let length_at = out.len();
    out.extend_from_slice(&[0, 0]);
    let start = out.len();
    match attribute {
        Attribute::MappedAddress(addr) => encode_address(out, *addr, None),
        Attribute::XorMappedAddress(addr) => encode_address(out, *addr, Some(tid)),
        Attribute::Username(value) | Attribute::Other { value, .. } => {
            if matches!(attribute, Attribute::Other { .. }) && KNOWN.contains(&kind) {
                return Err(StunError::InvalidForEncoding {
                    kind,
                    problem: "a known attribute type as Other",
                });
            }
            out.extend_from_slice(value);
        }
        Attribute::MessageIntegrity(mac) => out.extend_from_slice(mac),
        Attribute::ErrorCode { code, reason } => {
            if !(300..=699).contains(code) {
                return Err(StunError::InvalidForEncoding {
                    kind,
                    problem: "code outside 300..=699",
                });
            }
            let class = u8::try_from(code / 100).unwrap_or(0);
            let number = u8::try_from(code % 100).unwrap_or(0);
            out.extend_from_slice(&[0, 0, class, number]);
            out.extend_from_slice(reason.as_bytes());
        }
        Attribute::UnknownAttributes(kinds) => {
            for k in kinds {
                out.extend_from_slice(&k.to_be_bytes());
            }
        }
        // Written by `Message::encode`, which has the whole message.
        Attribute::Fingerprint => {}
        Attribute::ConnectionRequestBinding => {
            out.extend_from_slice(CONNECTION_REQUEST_BINDING_VALUE)
        }
        Attribute::BindingChange => {}
    }
    let len = out.len().saturating_sub(start);
    if out.len() > MAX_MESSAGE_BYTES {
        return Err(StunError::TooLarge {
            max: MAX_MESSAGE_BYTES,
        });
    }
    let len16 = u16::try_from(len).map_err(|_| StunError::TooLarge {
        max: MAX_MESSAGE_BYTES,
    })?;
    if let Some(field) = out.get_mut(length_at..start) {
        field.copy_from_slice(&len16.to_be_bytes());
    }
    out.resize(out.len().saturating_add((4 - len % 4) % 4), 0);
    Ok(())
}

/// CRC-32 (IEEE 802.3, reflected), as FINGERPRINT uses it; bitwise, for a handful of bytes.
fn crc32(data: &[u8]) -> u32 {
    let mut crc = !0u32;
    for &b in data {
        crc ^= u32::from(b);
        for _ in 0..8 {
            let mask = (crc & 1).wrapping_neg();
            crc = (crc >> 1) ^ (0xEDB8_8320 & mask);
        }
    }
    !crc
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::indexing_slicing)]

    use super::*;

    /// The hex listings of RFC 5769, parsed so the bytes stay in the RFC's layout.
    pub(crate) fn hex(text: &str) -> Vec<u8> {
        text.split_whitespace()
            .map(|b| u8::from_str_radix(b, 16).unwrap())
            .collect()
    }

    /// RFC 5769 §2.1: a request with SOFTWARE, PRIORITY, ICE-CONTROLLED, USERNAME `evtj:h6vY`
    /// (padded with spaces, not zeros), MESSAGE-INTEGRITY and FINGERPRINT.
    const SAMPLE_REQUEST: &str = "
        00 01 00 58 21 12 a4 42 b7 e7 a7 01 bc 34 d6 86 fa 87 df ae
        80 22 00 10 53 54 55 4e 20 74 65 73 74 20 63 6c 69 65 6e 74
        00 24 00 04 6e 00 01 ff
        80 29 00 08 93 2f f9 b1 51 26 3b 36
        00 06 00 09 65 76 74 6a 3a 68 36 76 59 20 20 20
        00 08 00 14 9a ea a7 0c bf d8 cb 56 78 1e f2 b5 b2 d3 f2 49 c1 b5 71 a2
        80 28 00 04 e5 7a 3b cf";
    /// RFC 5769 §2.2: IPv4 response, XOR-MAPPED-ADDRESS 192.0.2.1:32853.
    const SAMPLE_IPV4_RESPONSE: &str = "
        01 01 00 3c 21 12 a4 42 b7 e7 a7 01 bc 34 d6 86 fa 87 df ae
        80 22 00 0b 74 65 73 74 20 76 65 63 74 6f 72 20
        00 20 00 08 00 01 a1 47 e1 12 a6 43
        00 08 00 14 2b 91 f5 99 fd 9e 90 c3 8c 74 89 f9 2a f9 ba 53 f0 6b e7 d7
        80 28 00 04 c0 7d 4c 96";
    /// RFC 5769 §2.3: IPv6 response, XOR-MAPPED-ADDRESS [2001:db8:1234:5678:11:2233:4455:6677]:32853.
    const SAMPLE_IPV6_RESPONSE: &str = "
        01 01 00 48 21 12 a4 42 b7 e7 a7 01 bc 34 d6 86 fa 87 df ae
        80 22 00 0b 74 65 73 74 20 76 65 63 74 6f 72 20
        00 20 00 14 00 02 a1 47 01 13 a9 fa a5 d3 f1 79 bc 25 f4 b5 be d2 b9 d9
        00 08 00 14 a3 82 95 4e 4b e6 7b f1 17 84 c9 7c 82 92 c2 75 bf e3 ed 41
        80 28 00 04 c8 fb 0b 4c";
    const SAMPLE_PASSWORD: &[u8] = b"VOkJxbRl1RmTxUk/WvJxBt";

    #[test]
    fn rfc5769_sample_request() {
        let bytes = hex(SAMPLE_REQUEST);
        assert!(is_stun(&bytes));
        let m = Message::decode(&bytes).unwrap();
        assert_eq!(m.kind, MessageType::BINDING_REQUEST);
        assert_eq!(m.transaction_id[..4], MAGIC_COOKIE.to_be_bytes());
        assert_eq!(
            m.attributes[0],
            Attribute::Other {
                kind: 0x8022,
                value: b"STUN test client".to_vec()
            }
        );
        assert_eq!(m.attributes[3], Attribute::Username(b"evtj:h6vY".to_vec()));
        // Decoding checked the FINGERPRINT (0xe57a3bcf) against the CRC of the bytes.
        assert_eq!(m.attributes[5], Attribute::Fingerprint);
        assert_eq!(
            verify_integrity(&bytes, SAMPLE_PASSWORD),
            Ok(IntegrityStyle::Rfc5389)
        );
        assert_eq!(
            verify_integrity(&bytes, b"wrong"),
            Err(StunError::IntegrityMismatch)
        );
    }

    #[test]
    fn rfc5769_sample_responses() {
        for (text, addr) in [
            (SAMPLE_IPV4_RESPONSE, "192.0.2.1:32853"),
            (
                SAMPLE_IPV6_RESPONSE,
                "[2001:db8:1234:5678:11:2233:4455:6677]:32853",
            ),
        ] {
            let bytes = hex(text);
            let m = Message::decode(&bytes).unwrap();
            assert_eq!(m.kind, MessageType::BINDING_RESPONSE);
            assert_eq!(m.mapped_address(), Some(addr.parse().unwrap()));
            assert_eq!(
                verify_integrity(&bytes, SAMPLE_PASSWORD),
                Ok(IntegrityStyle::Rfc5389)
            );
            // Re-encoding gives the RFC's bytes back, except the SOFTWARE padding (the RFC
            // pads with a space, we with a zero) and so the FINGERPRINT over it.
            let again = m.encode().unwrap();
            let n = bytes.len();
            assert_eq!(again[..35], bytes[..35]);
            assert_eq!(again[35], 0);
            assert_eq!(again[36..n - 4], bytes[36..n - 4]);
            assert_eq!(Message::decode(&again).unwrap(), m);
        }
    }

    #[test]
    fn fingerprint_and_crc() {
        assert_eq!(crc32(b"123456789"), 0xCBF4_3926);
        let mut bytes = hex(SAMPLE_IPV4_RESPONSE);
        let last = bytes.len() - 1;
        bytes[last] ^= 1;
        assert_eq!(Message::decode(&bytes), Err(StunError::BadFingerprint));
    }

    #[test]
    fn integrity_styles_round_trip() {
        let tid = [7; 16];
        let m = Message::new(MessageType::BINDING_REQUEST, tid)
            .with(Attribute::Username(b"cpe1".to_vec()))
            .with(Attribute::ConnectionRequestBinding)
            .with(Attribute::BindingChange);
        for style in [IntegrityStyle::Rfc3489, IntegrityStyle::Rfc5389] {
            let bytes = m.encode_with_integrity(b"secret", style).unwrap();
            assert!(is_stun(&bytes));
            assert_eq!(verify_integrity(&bytes, b"secret"), Ok(style));
            let decoded = Message::decode(&bytes).unwrap();
            assert_eq!(decoded.attributes[..3], m.attributes[..]);
            assert!(matches!(
                decoded.attributes[3],
                Attribute::MessageIntegrity(_)
            ));
            assert_eq!(decoded.encode().unwrap(), bytes);
        }
        // The two styles differ unless the text is already a multiple of 64 bytes.
        let a = m
            .encode_with_integrity(b"k", IntegrityStyle::Rfc3489)
            .unwrap();
        let b = m
            .encode_with_integrity(b"k", IntegrityStyle::Rfc5389)
            .unwrap();
        assert_ne!(a, b);
        assert!(matches!(
            Message::decode(&a)
                .unwrap()
                .encode_with_integrity(b"k", IntegrityStyle::Rfc3489),
            Err(StunError::InvalidForEncoding { .. })
        ));
    }

    #[test]
    fn tr111_attribute_bytes() {
        let m = Message::new(MessageType::BINDING_REQUEST, [0; 16])
            .with(Attribute::ConnectionRequestBinding)
            .with(Attribute::BindingChange);
        let bytes = m.encode().unwrap();
        assert_eq!(
            bytes[20..],
            hex(
                "c0 01 00 14 64 73 6c 66 6f 72 75 6d 2e 6f 72 67 2f 54 52 2d 31 31 31 20 c0 02 00 00"
            )[..]
        );
        // The value without its trailing space (some CPEs) is accepted.
        let mut short = hex("00 01 00 18 00 00 00 00 00 00 00 00 00 00 00 00 00 00 00 00");
        short.extend_from_slice(b"\xc0\x01\x00\x13dslforum.org/TR-111\x00");
        assert_eq!(
            Message::decode(&short).unwrap().attributes,
            vec![Attribute::ConnectionRequestBinding]
        );
    }

    #[test]
    fn classic_mapped_address_and_error_code() {
        let m = Message::new(MessageType::BINDING_ERROR_RESPONSE, [1; 16])
            .with(Attribute::MappedAddress(
                "198.51.100.7:7547".parse().unwrap(),
            ))
            .with(Attribute::ErrorCode {
                code: 401,
                reason: "Unauthorized".into(),
            })
            .with(Attribute::UnknownAttributes(vec![0x0003, 0x7777]));
        let bytes = m.encode().unwrap();
        assert_eq!(
            bytes[20..32],
            hex("00 01 00 08 00 01 1d 7b c6 33 64 07")[..]
        );
        assert_eq!(bytes[32..40], hex("00 09 00 10 00 00 04 01")[..]);
        let back = Message::decode(&bytes).unwrap();
        assert_eq!(back, m);
        assert_eq!(back.error_code(), Some((401, "Unauthorized")));
        assert_eq!(
            back.mapped_address(),
            Some("198.51.100.7:7547".parse().unwrap())
        );
    }

    #[test]
    fn hostile_input_is_refused() {
        let header = |len: u16| {
            let mut h = vec![0x01, 0x01];
            h.extend_from_slice(&len.to_be_bytes());
            h.extend_from_slice(&[0; 16]);
            h
        };
        assert_eq!(Message::decode(&[0; 19]), Err(StunError::TooShort));
        assert_eq!(
            Message::decode(&vec![0; 2000]),
            Err(StunError::TooLarge {
                max: MAX_MESSAGE_BYTES
            })
        );
        let mut http = b"GET http://10.0.0.1:7547?ts=1 HTTP/1.1\r\n".to_vec();
        assert!(!is_stun(&http));
        http.truncate(20);
        assert_eq!(Message::decode(&http), Err(StunError::NotStun));
        // Length field larger than the datagram, and not a multiple of four.
        assert!(matches!(
            Message::decode(&header(8)),
            Err(StunError::LengthMismatch { .. })
        ));
        let mut odd = header(2);
        odd.extend_from_slice(&[0, 0]);
        assert!(matches!(
            Message::decode(&odd),
            Err(StunError::LengthMismatch { .. })
        ));
        // An attribute running past the end.
        let mut long = header(8);
        long.extend_from_slice(&hex("00 01 00 40 00 01 00 00"));
        assert_eq!(
            Message::decode(&long),
            Err(StunError::TruncatedAttribute { kind: Some(1) })
        );
        // Bad address family, bad error class, wrong integrity length.
        for (attr, kind) in [
            ("00 01 00 08 00 03 00 00 01 02 03 04", 0x0001),
            ("00 01 00 08 00 02 00 00 01 02 03 04", 0x0001),
            ("00 09 00 04 00 00 07 01", 0x0009),
            ("00 08 00 04 00 00 00 00", 0x0008),
            ("c0 02 00 04 00 00 00 00", 0xc002),
            ("c0 01 00 04 61 62 63 64", 0xc001),
        ] {
            let value = hex(attr);
            let mut m = header(u16::try_from(value.len()).unwrap());
            m.extend_from_slice(&value);
            assert!(
                matches!(Message::decode(&m), Err(StunError::InvalidAttribute { kind: k, .. }) if k == kind),
                "{attr}"
            );
        }
        // Anything but FINGERPRINT after MESSAGE-INTEGRITY.
        let mut after = header(32);
        after.extend_from_slice(&hex("00 08 00 14"));
        after.extend_from_slice(&[0; 20]);
        after.extend_from_slice(&hex("c0 02 00 00 c0 02 00 00"));
        assert_eq!(
            Message::decode(&after),
            Err(StunError::MisplacedAttribute { kind: 0xc002 })
        );
        // Too many attributes.
        let mut many = header(4 * 40);
        for _ in 0..40 {
            many.extend_from_slice(&hex("c0 02 00 00"));
        }
        assert_eq!(
            Message::decode(&many),
            Err(StunError::TooManyAttributes {
                max: MAX_ATTRIBUTES
            })
        );
        assert_eq!(
            verify_integrity(&header(0), b"k"),
            Err(StunError::MissingIntegrity)
        );
    }

    #[test]
    fn encode_refuses_what_would_not_decode_as_itself() {
        let m = Message::new(MessageType::BINDING_REQUEST, [0; 16]).with(Attribute::Other {
            kind: 0x0001,
            value: vec![],
        });
        assert!(matches!(
            m.encode(),
            Err(StunError::InvalidForEncoding { kind: 1, .. })
        ));
        let m =
            Message::new(MessageType::BINDING_ERROR_RESPONSE, [0; 16]).with(Attribute::ErrorCode {
                code: 200,
                reason: String::new(),
            });
        assert!(matches!(
            m.encode(),
            Err(StunError::InvalidForEncoding { .. })
        ));
        let m = Message::new(MessageType::BINDING_REQUEST, [0; 16])
            .with(Attribute::Username(vec![b'u'; 2000]));
        assert_eq!(
            m.encode(),
            Err(StunError::TooLarge {
                max: MAX_MESSAGE_BYTES
            })
        );
        assert_eq!(MessageType::from_raw(0x4001), None);
    }
}
