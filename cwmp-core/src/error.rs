//! Errors of the CWMP SOAP codec.
//!
//! [`CodecError`] is the one error enum of the codec layer. Every variant says which CWMP fault
//! code answers it, in both roles:
//!
//! | Group | Cause | CPE answers | ACS answers |
//! |---|---|---|---|
//! | peer sent bad data | malformed XML, forbidden markup, missing or extra elements, values that break the XSD (type, `maxLength`, `maxOccurs`) | 9003 Invalid arguments | 8003 Invalid arguments |
//! | peer exceeded a [`Limits`](crate::codec::Limits) bound | body size, nesting depth, attributes, name or text length, array entries | 9004 Resources exceeded | 8004 Resources exceeded |
//! | local caller misuse | the encoder was given a value it cannot emit as schema-valid XML | 9002 Internal error | 8002 Internal error |
//!
//! Malformed XML maps to 9003/8003 rather than 9002/8002 because the fault lies with the
//! sender (FACTS §11 lists 9003 as a `Client` fault and 9002 as a `Server` fault). An unknown
//! RPC is not an error at all: it decodes to [`Body::Unknown`](crate::codec::Body::Unknown),
//! which keeps the header ID, so the session can answer 9000 (CPE) or 8000 (ACS).
//!
//! Decoding returns a [`DecodeError`]: the [`CodecError`] plus where it happened (the element
//! path and byte offset) and the `cwmp:ID` of the envelope when the header was read before the
//! failure, so that a fault response can still echo the request's ID.

use std::fmt;

/// The kind of failure of the CWMP SOAP codec (decoding or encoding).
///
/// Each variant documents the fault code that answers it; [`CodecError::cpe_fault`] and
/// [`CodecError::acs_fault`] return them.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum CodecError {
    /// An element name is not allowed here, for example a second element in the SOAP body.
    ///
    /// Fault 9003 (CPE) / 8003 (ACS).
    #[error("unexpected element `{name}`")]
    UnexpectedElement {
        /// The local name of the element, shortened to 64 characters.
        name: String,
    },
    /// The same child element appeared twice where the schema allows it once.
    ///
    /// Fault 9003 / 8003.
    #[error("element `{name}` appears more than once")]
    DuplicateElement {
        /// The element name.
        name: &'static str,
    },
    /// The message contains a document type declaration (`<!DOCTYPE`); SOAP 1.1 forbids DTDs,
    /// and rejecting them rules out entity expansion attacks (billion laughs, external
    /// entities).
    ///
    /// Fault 9003 / 8003.
    #[error("document type declarations are not allowed")]
    DocType,
    /// The SOAP body has no element.
    ///
    /// Fault 9003 / 8003.
    #[error("the SOAP body is empty")]
    EmptyBody,
    /// The encoder cannot emit this value as schema-valid XML (the local caller's mistake).
    ///
    /// Fault 9002 / 8002 (internal error): the local side failed to build its message.
    #[error("cannot encode element `{element}`: {problem}")]
    InvalidForEncoding {
        /// The element being written.
        element: &'static str,
        /// What is wrong with the value.
        problem: EncodeProblem,
    },
    /// The input is not valid UTF-8 (CWMP requires UTF-8).
    ///
    /// Fault 9003 / 8003.
    #[error("invalid UTF-8 after byte {valid_up_to}")]
    InvalidUtf8 {
        /// Length of the valid UTF-8 prefix.
        valid_up_to: usize,
    },
    /// A value does not parse as its schema type, or is outside the enumeration.
    ///
    /// Fault 9003 / 8003.
    #[error("invalid value `{found}`, expected {expected}")]
    InvalidValue {
        /// The expected schema type or enumeration.
        expected: &'static str,
        /// The value found, shortened to 64 characters.
        found: String,
    },
    /// A [`Limits`](crate::codec::Limits) bound was exceeded.
    ///
    /// Fault 9004 / 8004 (resources exceeded).
    #[error("{limit} limit of {max} exceeded")]
    LimitExceeded {
        /// Which limit.
        limit: Limit,
        /// The configured maximum.
        max: usize,
    },
    /// The XML is not well-formed (or its namespace declarations are broken).
    ///
    /// Fault 9003 / 8003.
    #[error("malformed XML: {reason}")]
    Malformed {
        /// The parser's description.
        reason: String,
    },
    /// An attribute the schema requires is missing (for example `xsi:type` on a
    /// `ChangeDUState` operation, which tells Install, Update and Uninstall apart).
    ///
    /// Fault 9003 / 8003.
    #[error("missing attribute `{name}`")]
    MissingAttribute {
        /// The attribute name.
        name: &'static str,
    },
    /// A child element the schema requires is missing.
    ///
    /// Fault 9003 / 8003.
    #[error("missing element `{name}`")]
    MissingElement {
        /// The element name.
        name: &'static str,
    },
    /// A SOAP header entry carries `mustUnderstand="1"` but is not one this codec knows; SOAP
    /// 1.1 §4.2.3 requires the receiver to fail the message.
    ///
    /// Fault 9003 / 8003.
    #[error("header `{name}` must be understood but is not supported")]
    MustUnderstand {
        /// The local name of the header entry, shortened to 64 characters.
        name: String,
    },
    /// Neither the body, the header entries nor the namespace declarations of the `Envelope`
    /// name a CWMP namespace (`urn:dslforum-org:cwmp-1-N`).
    ///
    /// Fault 9003 / 8003.
    #[error("no CWMP namespace in the envelope")]
    NoCwmpNamespace,
    /// The root element is not a SOAP 1.1 `Envelope`.
    ///
    /// Fault 9003 / 8003.
    #[error("the root element is not a SOAP 1.1 Envelope")]
    NotEnvelope,
    /// The message contains a processing instruction other than the XML declaration.
    ///
    /// Fault 9003 / 8003.
    #[error("processing instructions are not allowed")]
    ProcessingInstruction,
    /// A string is longer than the `maxLength` of its XSD type (counted in characters).
    ///
    /// Fault 9003 / 8003.
    #[error("value of {len} characters exceeds the XSD maxLength of {max}")]
    TooLong {
        /// The XSD maximum.
        max: usize,
        /// The length found (characters).
        len: usize,
    },
    /// An array or repeated element has more entries than the XSD `maxOccurs`.
    ///
    /// Fault 9003 / 8003.
    #[error("more than the XSD maximum of {max} entries")]
    TooManyEntries {
        /// The XSD maximum.
        max: usize,
    },
    /// Something other than whitespace or comments follows the end of the envelope.
    ///
    /// Fault 9003 / 8003.
    #[error("data after the end of the envelope")]
    TrailingData,
    /// The input ended inside the envelope.
    ///
    /// Fault 9003 / 8003.
    #[error("unexpected end of input")]
    UnexpectedEof,
    /// Character data where the schema allows only elements.
    ///
    /// Fault 9003 / 8003.
    #[error("unexpected character data")]
    UnexpectedText,
    /// An entity reference other than the five predefined ones (`&lt;` `&gt;` `&amp;`
    /// `&apos;` `&quot;`) or character references.
    ///
    /// Fault 9003 / 8003.
    #[error("entity reference `&{name};` is not allowed")]
    UnknownEntity {
        /// The entity name, shortened to 64 characters.
        name: String,
    },
}

impl CodecError {
    /// The CWMP fault code a CPE answers with when it receives a message that fails this way
    /// (9002, 9003 or 9004; see the module documentation).
    #[must_use]
    pub fn cpe_fault(&self) -> u32 {
        9000 + self.fault_offset()
    }

    /// The CWMP fault code an ACS answers with when it receives a message that fails this way
    /// (8002, 8003 or 8004; see the module documentation).
    #[must_use]
    pub fn acs_fault(&self) -> u32 {
        8000 + self.fault_offset()
    }

    /// Whether a [`Limits`](crate::codec::Limits) bound was hit (a resource fault).
    #[must_use]
    pub fn is_limit(&self) -> bool {
        matches!(self, Self::LimitExceeded { .. })
    }

    fn fault_offset(&self) -> u32 {
        match self {
            Self::LimitExceeded { .. } => 4,
            Self::InvalidForEncoding { .. } => 2,
            _ => 3,
        }
    }
}

/// Which [`Limits`](crate::codec::Limits) bound was exceeded.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Limit {
    /// Entries of one SOAP array or repeated element
    /// ([`Limits::max_array_entries`](crate::codec::Limits::max_array_entries)).
    ArrayEntries,
    /// Attributes on one element ([`Limits::max_attributes`](crate::codec::Limits::max_attributes)).
    Attributes,
    /// Bytes of the whole envelope ([`Limits::max_body_bytes`](crate::codec::Limits::max_body_bytes)).
    BodySize,
    /// Element nesting depth ([`Limits::max_depth`](crate::codec::Limits::max_depth)).
    Depth,
    /// Bytes of an element or attribute name
    /// ([`Limits::max_name_bytes`](crate::codec::Limits::max_name_bytes)).
    NameLength,
    /// Bytes of character data in one element
    /// ([`Limits::max_text_bytes`](crate::codec::Limits::max_text_bytes)).
    TextLength,
}

impl fmt::Display for Limit {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::ArrayEntries => "array entries",
            Self::Attributes => "attributes per element",
            Self::BodySize => "body size",
            Self::Depth => "nesting depth",
            Self::NameLength => "name length",
            Self::TextLength => "text length",
        })
    }
}

/// Why the encoder refused a value ([`CodecError::InvalidForEncoding`]).
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum EncodeProblem {
    /// The string contains a character XML 1.0 cannot carry (C0 controls other than tab, line
    /// feed and carriage return; U+FFFE; U+FFFF).
    IllegalCharacter,
    /// The name is not an XML `NCName` (only for [`Body::Unknown`](crate::codec::Body::Unknown)).
    InvalidName,
    /// The name is one the codec knows, so it would decode as that known item: a known RPC
    /// in [`Body::Unknown`](crate::codec::Body::Unknown), or a TR-069 type written with a
    /// canonical prefix in [`ValueType::Other`](crate::codec::ValueType::Other).
    KnownName,
    /// The number is outside the values the schema allows (for example a fault code outside
    /// 8000–8899 and 9000–9899).
    OutOfRange {
        /// The value.
        value: u32,
    },
    /// The string is longer than the XSD `maxLength` (characters).
    TooLong {
        /// The XSD maximum.
        max: usize,
        /// The length (characters).
        len: usize,
    },
    /// The array has fewer entries than the XSD `minOccurs`.
    TooFewEntries {
        /// The XSD minimum.
        min: usize,
    },
    /// The array has more entries than the XSD `maxOccurs`.
    TooManyEntries {
        /// The XSD maximum.
        max: usize,
    },
}

impl fmt::Display for EncodeProblem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::IllegalCharacter => f.write_str("character not allowed in XML 1.0"),
            Self::InvalidName => f.write_str("not an XML NCName"),
            Self::KnownName => f.write_str("the name of a known RPC or type"),
            Self::OutOfRange { value } => write!(f, "value {value} outside the schema's range"),
            Self::TooLong { max, len } => {
                write!(f, "{len} characters exceed the XSD maxLength of {max}")
            }
            Self::TooFewEntries { min } => write!(f, "fewer than the XSD minimum of {min} entries"),
            Self::TooManyEntries { max } => write!(f, "more than the XSD maximum of {max} entries"),
        }
    }
}

/// A failed decode: the [`CodecError`] plus where it happened and the envelope's `cwmp:ID` when
/// it was read before the failure.
///
/// Boxed, so that `Result<Envelope, DecodeError>` stays small.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DecodeError {
    inner: Box<DecodeErrorInner>,
}

#[derive(Clone, Debug, PartialEq, Eq)]
struct DecodeErrorInner {
    kind: CodecError,
    id: Option<String>,
    path: String,
    offset: u64,
}

impl DecodeError {
    pub(crate) fn new(kind: CodecError, id: Option<String>, path: String, offset: u64) -> Self {
        Self {
            inner: Box::new(DecodeErrorInner {
                kind,
                id,
                path,
                offset,
            }),
        }
    }

    /// What went wrong.
    #[must_use]
    pub fn kind(&self) -> &CodecError {
        &self.inner.kind
    }

    /// The `cwmp:ID` header of the envelope, if it was decoded before the failure; a fault
    /// response should echo it.
    #[must_use]
    pub fn id(&self) -> Option<&str> {
        self.inner.id.as_deref()
    }

    /// The element path of the failure, such as `Envelope/Body/Inform/DeviceId/OUI` (empty when
    /// the failure precedes the root element). Array entries appear under their schema name.
    #[must_use]
    pub fn path(&self) -> &str {
        &self.inner.path
    }

    /// The byte offset in the input where the failure was detected.
    #[must_use]
    pub fn offset(&self) -> u64 {
        self.inner.offset
    }

    /// Shorthand for `self.kind().cpe_fault()`.
    #[must_use]
    pub fn cpe_fault(&self) -> u32 {
        self.inner.kind.cpe_fault()
    }

    /// Shorthand for `self.kind().acs_fault()`.
    #[must_use]
    pub fn acs_fault(&self) -> u32 {
        self.inner.kind.acs_fault()
    }
}

impl fmt::Display for DecodeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.inner.kind)?;
        if !self.inner.path.is_empty() {
            write!(f, " at {}", self.inner.path)?;
        }
        write!(f, " (byte {})", self.inner.offset)
    }
}

impl std::error::Error for DecodeError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        Some(&self.inner.kind)
    }
}

/// Shortens peer-controlled text that goes into an error message.
pub(crate) fn shorten(s: &str) -> String {
    const MAX: usize = 64;
    match s.char_indices().nth(MAX) {
        Some((i, _)) => {
            let mut out = String::with_capacity(i + 3);
            out.push_str(s.get(..i).unwrap_or_default());
            out.push('…');
            out
        }
        None => s.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fault_codes_by_group() {
        let bad = CodecError::DocType;
        assert_eq!((bad.cpe_fault(), bad.acs_fault()), (9003, 8003));
        let limit = CodecError::LimitExceeded {
            limit: Limit::Depth,
            max: 32,
        };
        assert_eq!((limit.cpe_fault(), limit.acs_fault()), (9004, 8004));
        assert!(limit.is_limit());
        let local = CodecError::InvalidForEncoding {
            element: "CommandKey",
            problem: EncodeProblem::IllegalCharacter,
        };
        assert_eq!((local.cpe_fault(), local.acs_fault()), (9002, 8002));
    }

    #[test]
    fn shorten_keeps_short_and_cuts_long() {
        assert_eq!(shorten("abc"), "abc");
        let long = "é".repeat(100);
        let short = shorten(&long);
        assert_eq!(short.chars().count(), 65);
        assert!(short.ends_with('…'));
    }

    #[test]
    fn decode_error_display_and_accessors() {
        let e = DecodeError::new(
            CodecError::MissingElement { name: "OUI" },
            Some("42".into()),
            "Envelope/Body/Inform/DeviceId".into(),
            120,
        );
        assert_eq!(e.id(), Some("42"));
        assert_eq!(e.cpe_fault(), 9003);
        assert_eq!(
            e.to_string(),
            "missing element `OUI` at Envelope/Body/Inform/DeviceId (byte 120)"
        );
    }
}
