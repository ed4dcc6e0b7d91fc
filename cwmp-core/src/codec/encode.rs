//! Encoder: writes an envelope into a caller-provided `Vec<u8>`.
//!
//! The output uses the canonical prefixes `soap-env`, `soap-enc`, `xsd`, `xsi` and `cwmp`, all
//! declared on the `Envelope`; RPC child elements are unqualified, as the schemas require. No
//! whitespace is added between elements. Text is escaped (`&`, `<`, `>`, and carriage return as
//! `&#13;` so that it survives XML line-end normalisation); characters XML 1.0 cannot carry
//! are refused rather than dropped.

use crate::error::{CodecError, EncodeProblem};

/// Writes markup into the caller's buffer.
pub(crate) struct Writer<'o> {
    out: &'o mut Vec<u8>,
}

impl<'o> Writer<'o> {
    pub(crate) fn new(out: &'o mut Vec<u8>) -> Self {
        Self { out }
    }

    pub(crate) fn raw(&mut self, s: &str) {
        self.out.extend_from_slice(s.as_bytes());
    }

    /// `<tag>`
    pub(crate) fn open(&mut self, tag: &str) {
        self.out.push(b'<');
        self.raw(tag);
        self.out.push(b'>');
    }

    /// `<tag attr="value">`, the value escaped.
    pub(crate) fn open_attr(
        &mut self,
        tag: &'static str,
        attr: &str,
        value: &str,
    ) -> Result<(), CodecError> {
        self.out.push(b'<');
        self.raw(tag);
        self.out.push(b' ');
        self.raw(attr);
        self.raw("=\"");
        escape(self.out, value, true).map_err(|problem| CodecError::InvalidForEncoding {
            element: tag,
            problem,
        })?;
        self.raw("\">");
        Ok(())
    }

    /// `<tag soap-enc:arrayType="{item_type}[{len}]">`
    pub(crate) fn open_array(&mut self, tag: &str, item_type: &str, len: usize) {
        self.out.push(b'<');
        self.raw(tag);
        self.raw(" soap-enc:arrayType=\"");
        self.raw(item_type);
        self.out.push(b'[');
        self.raw(&len.to_string());
        self.raw("]\">");
    }

    /// `</tag>`
    pub(crate) fn close(&mut self, tag: &str) {
        self.raw("</");
        self.raw(tag);
        self.out.push(b'>');
    }

    /// Escaped character data.
    pub(crate) fn text(&mut self, element: &'static str, s: &str) -> Result<(), CodecError> {
        escape(self.out, s, false)
            .map_err(|problem| CodecError::InvalidForEncoding { element, problem })
    }

    /// `<tag>text</tag>`, checking the XSD `maxLength` (characters).
    pub(crate) fn text_element(
        &mut self,
        tag: &'static str,
        s: &str,
        max_len: usize,
    ) -> Result<(), CodecError> {
        if s.len() > max_len {
            let len = s.chars().count();
            if len > max_len {
                return Err(CodecError::InvalidForEncoding {
                    element: tag,
                    problem: EncodeProblem::TooLong { max: max_len, len },
                });
            }
        }
        self.open(tag);
        self.text(tag, s)?;
        self.close(tag);
        Ok(())
    }

    /// `<tag>n</tag>` for a number or another value whose text needs no escaping.
    pub(crate) fn plain_element(&mut self, tag: &str, value: &str) {
        self.open(tag);
        self.raw(value);
        self.close(tag);
    }
}

/// Whether [`escape`] must look at byte `b`: markup characters, control characters and 0xEF
/// (the first byte of U+FFFE and U+FFFF in UTF-8). Everything else is copied in runs.
#[inline]
fn special(b: u8) -> bool {
    b < 0x20 || matches!(b, b'&' | b'<' | b'>' | b'"' | 0xef)
}

/// Appends `s` escaped; fails on characters XML 1.0 cannot carry.
fn escape(out: &mut Vec<u8>, s: &str, attribute: bool) -> Result<(), EncodeProblem> {
    let bytes = s.as_bytes();
    out.reserve(bytes.len());
    let mut plain_from = 0;
    let mut next = 0;
    while let Some(offset) = bytes
        .get(next..)
        .and_then(|rest| rest.iter().position(|&b| special(b)))
    {
        let i = next + offset;
        next = i + 1;
        let Some(&b) = bytes.get(i) else {
            break;
        };
        let replacement: &[u8] = match b {
            b'&' => b"&amp;",
            b'<' => b"&lt;",
            b'>' => b"&gt;",
            b'\r' => b"&#13;",
            b'"' if attribute => b"&quot;",
            b'\n' if attribute => b"&#10;",
            b'\t' if attribute => b"&#9;",
            b'\t' | b'\n' => continue,
            0..=0x1f => return Err(EncodeProblem::IllegalCharacter),
            // U+FFFE and U+FFFF are EF BF BE / EF BF BF in UTF-8.
            0xef if matches!(bytes.get(i + 1..i + 3), Some([0xbf, 0xbe | 0xbf])) => {
                return Err(EncodeProblem::IllegalCharacter);
            }
            _ => continue,
        };
        out.extend_from_slice(bytes.get(plain_from..i).unwrap_or_default());
        out.extend_from_slice(replacement);
        plain_from = i + 1;
    }
    out.extend_from_slice(bytes.get(plain_from..).unwrap_or_default());
    Ok(())
}

/// Whether `name` is an ASCII XML `NCName` (for element names taken from values).
pub(crate) fn is_ncname(name: &str) -> bool {
    let mut bytes = name.bytes();
    match bytes.next() {
        Some(b) if b.is_ascii_alphabetic() || b == b'_' => {}
        _ => return false,
    }
    bytes.all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'-' | b'.'))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn esc(s: &str, attribute: bool) -> Result<String, EncodeProblem> {
        let mut out = Vec::new();
        escape(&mut out, s, attribute)?;
        Ok(String::from_utf8(out).unwrap())
    }

    #[test]
    fn escapes_markup_and_cr() {
        assert_eq!(
            esc("a<b>&c\r\n\t\"", false).unwrap(),
            "a&lt;b&gt;&amp;c&#13;\n\t\""
        );
        assert_eq!(esc("\"\n\t", true).unwrap(), "&quot;&#10;&#9;");
        assert_eq!(esc("héllo 中文 😀", false).unwrap(), "héllo 中文 😀");
    }

    #[test]
    fn refuses_illegal_characters() {
        for s in [
            "\u{0}",
            "a\u{1}b",
            "\u{b}",
            "\u{1f}",
            "x\u{fffe}",
            "\u{ffff}",
        ] {
            assert_eq!(esc(s, false), Err(EncodeProblem::IllegalCharacter), "{s:?}");
        }
        assert!(esc("\u{fffd}\u{e000}\u{10ffff}", false).is_ok());
    }

    #[test]
    fn ncname() {
        assert!(is_ncname("X_ACME_Reset"));
        assert!(is_ncname("_a-b.c1"));
        for bad in ["", "1a", "a:b", "a b", "-a", "é"] {
            assert!(!is_ncname(bad), "{bad}");
        }
    }

    #[test]
    fn text_element_checks_length_in_characters() {
        let mut out = Vec::new();
        let mut w = Writer::new(&mut out);
        w.text_element("CommandKey", &"é".repeat(32), 32).unwrap();
        let err = w
            .text_element("CommandKey", &"é".repeat(33), 32)
            .unwrap_err();
        assert_eq!(
            err,
            CodecError::InvalidForEncoding {
                element: "CommandKey",
                problem: EncodeProblem::TooLong { max: 32, len: 33 }
            }
        );
    }
}
