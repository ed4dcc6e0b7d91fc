//! Bounds on untrusted input (STYLE §2.5).

/// Bounds the decoder applies to every envelope.
///
/// A breach is a [`CodecError::LimitExceeded`](crate::CodecError::LimitExceeded) (fault 9004 /
/// 8004), never a silent truncation. The defaults are starting points; tune them by measuring.
/// Values from the XSD (`maxLength` of strings, `maxOccurs` of arrays) are checked as well, as
/// invalid arguments (fault 9003 / 8003), unless [`Limits::with_xsd_lengths`] turns them off.
///
/// | Field | Default | What it bounds |
/// |---|---|---|
/// | [`max_body_bytes`](Self::max_body_bytes) | 1 MiB | the whole envelope, checked before parsing |
/// | [`max_depth`](Self::max_depth) | 32 | element nesting, counted by the decoder itself |
/// | [`max_attributes`](Self::max_attributes) | 16 | attributes (namespace declarations included) on one element |
/// | [`max_name_bytes`](Self::max_name_bytes) | 256 | an element or attribute name, prefix included |
/// | [`max_text_bytes`](Self::max_text_bytes) | 64 KiB | character data of one element (raw bytes) |
/// | [`max_array_entries`](Self::max_array_entries) | 4096 | entries of one SOAP array or repeated element; a `soap-enc:arrayType` size pre-sizes an array only within this bound and what the rest of the input can hold |
/// | [`xsd_lengths`](Self::xsd_lengths) | `true` | enforce XSD `maxLength` and `maxOccurs` |
///
/// ```
/// use cwmp_core::codec::Limits;
/// let limits = Limits::default().with_max_depth(16).with_max_body_bytes(256 * 1024);
/// assert_eq!(limits.max_depth, 16);
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub struct Limits {
    /// Maximum envelope size in bytes, checked before any parsing. Default 1 MiB.
    pub max_body_bytes: usize,
    /// Maximum element nesting depth (the `Envelope` is depth 1). Default 32; the deepest CWMP
    /// message nests 7 levels.
    pub max_depth: usize,
    /// Maximum number of attributes on one element, namespace declarations included. Default 16:
    /// a CWMP element carries a few (namespace declarations on the `Envelope`, `xsi:type`,
    /// `soap-enc:arrayType`, `mustUnderstand`); quick-xml would otherwise read any number.
    pub max_attributes: usize,
    /// Maximum length in bytes of an element or attribute qualified name. Default 256: the
    /// longest CWMP element name is under 40 bytes; vendor RPC names stay far below.
    pub max_name_bytes: usize,
    /// Maximum bytes of character data in one element (before unescaping). Default 64 KiB: the
    /// largest TR-181 `maxLength` (65535) plus room for escapes is about what one value needs.
    pub max_text_bytes: usize,
    /// Maximum entries in one SOAP array or repeated element. Default 4096, the engine's most
    /// items per request (STYLE §2.5); a declared `soap-enc:arrayType` size is only a capacity hint, capped by this bound.
    pub max_array_entries: usize,
    /// Whether to enforce the XSD `maxLength` of strings and `maxOccurs` of arrays. Default
    /// `true`; turn off only to accept a peer known to exceed them.
    pub xsd_lengths: bool,
}

impl Limits {
    /// The documented defaults.
    pub const DEFAULT: Self = Self {
        max_body_bytes: 1024 * 1024,
        max_depth: 32,
        max_attributes: 16,
        max_name_bytes: 256,
        max_text_bytes: 64 * 1024,
        max_array_entries: 4096,
        xsd_lengths: true,
    };

    /// Sets [`max_body_bytes`](Self::max_body_bytes).
    #[must_use]
    pub const fn with_max_body_bytes(mut self, bytes: usize) -> Self {
        self.max_body_bytes = bytes;
        self
    }

    /// Sets [`max_depth`](Self::max_depth).
    #[must_use]
    pub const fn with_max_depth(mut self, depth: usize) -> Self {
        self.max_depth = depth;
        self
    }

    /// Sets [`max_attributes`](Self::max_attributes).
    #[must_use]
    pub const fn with_max_attributes(mut self, attributes: usize) -> Self {
        self.max_attributes = attributes;
        self
    }

    /// Sets [`max_name_bytes`](Self::max_name_bytes).
    #[must_use]
    pub const fn with_max_name_bytes(mut self, bytes: usize) -> Self {
        self.max_name_bytes = bytes;
        self
    }

    /// Sets [`max_text_bytes`](Self::max_text_bytes).
    #[must_use]
    pub const fn with_max_text_bytes(mut self, bytes: usize) -> Self {
        self.max_text_bytes = bytes;
        self
    }

    /// Sets [`max_array_entries`](Self::max_array_entries).
    #[must_use]
    pub const fn with_max_array_entries(mut self, entries: usize) -> Self {
        self.max_array_entries = entries;
        self
    }

    /// Sets [`xsd_lengths`](Self::xsd_lengths).
    #[must_use]
    pub const fn with_xsd_lengths(mut self, enforce: bool) -> Self {
        self.xsd_lengths = enforce;
        self
    }
}

impl Default for Limits {
    fn default() -> Self {
        Self::DEFAULT
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_match_the_style_guide() {
        let l = Limits::default();
        assert_eq!(l.max_body_bytes, 1 << 20);
        assert_eq!(l.max_depth, 32);
        assert_eq!(l.max_attributes, 16);
        assert_eq!(l.max_name_bytes, 256);
        assert_eq!(l.max_text_bytes, 64 << 10);
        assert_eq!(l.max_array_entries, 4096);
        assert!(l.xsd_lengths);
    }

    #[test]
    fn setters_change_one_field() {
        let l = Limits::default()
            .with_max_attributes(4)
            .with_max_name_bytes(32)
            .with_max_text_bytes(10)
            .with_max_array_entries(2)
            .with_xsd_lengths(false);
        assert_eq!(
            (l.max_attributes, l.max_name_bytes, l.max_text_bytes),
            (4, 32, 10)
        );
        assert_eq!(l.max_array_entries, 2);
        assert!(!l.xsd_lengths);
        assert_eq!(l.max_depth, 32);
    }
}
