//! The schema-driven glue between message types and the parser/writer.
//!
//! Every message type implements [`Xml`]: read from an element the parser just returned, and
//! write as an element. Structs are declared once with `xml_struct!`, which generates the Rust
//! struct, its reader and its writer from one field list in schema order (element name and
//! [`Spec`]), so decoding and encoding cannot drift apart. The reader accepts children in any
//! order (lenient), refuses duplicates, skips unknown children, and requires every element the
//! XSD requires; the writer emits the XSD sequence order.

use std::num::NonZeroU32;

use crate::codec::decode::{El, Fail, Parser};
use crate::codec::encode::Writer;
use crate::error::{CodecError, EncodeProblem};

/// What the schema says about one element: string `maxLength`, array shape, occurrence.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Spec {
    /// XSD `maxLength` of a string (or of each string of a string array), in characters.
    pub(crate) max_len: usize,
    /// Element name of array entries, for the writer (the reader accepts any name).
    pub(crate) item: &'static str,
    /// `soap-enc:arrayType` item type, such as `cwmp:ParameterValueStruct`.
    pub(crate) item_type: &'static str,
    /// XSD `minOccurs` of the entries (checked by the writer only).
    pub(crate) min_items: usize,
    /// XSD `maxOccurs` of the entries.
    pub(crate) max_items: usize,
    /// A `Vec` field is a repeated element rather than a SOAP array.
    pub(crate) repeated: bool,
    /// The element may be absent (`minOccurs="0"`); a missing string reads as empty.
    pub(crate) optional: bool,
    /// Allowed ranges of an unsigned number (checked by the writer only); empty means any.
    pub(crate) ranges: &'static [(u32, u32)],
}

impl Spec {
    /// No constraint.
    pub(crate) const ANY: Self = Self {
        max_len: usize::MAX,
        item: "",
        item_type: "",
        min_items: 0,
        max_items: usize::MAX,
        repeated: false,
        optional: false,
        ranges: &[],
    };

    /// A string with an XSD `maxLength`.
    pub(crate) const fn text(max_len: usize) -> Self {
        Self {
            max_len,
            ..Self::ANY
        }
    }

    /// A SOAP-encoded array.
    pub(crate) const fn array(item: &'static str, item_type: &'static str) -> Self {
        Self {
            item,
            item_type,
            ..Self::ANY
        }
    }

    /// A string array (`xsd:string[n]`) whose strings have an XSD `maxLength`.
    pub(crate) const fn strings(max_len: usize) -> Self {
        Self {
            max_len,
            ..Self::array("string", "xsd:string")
        }
    }

    /// An element that repeats directly (no array wrapper).
    pub(crate) const fn repeated(min_items: usize) -> Self {
        Self {
            repeated: true,
            min_items,
            ..Self::ANY
        }
    }

    /// Sets the XSD occurrence bounds of the entries.
    pub(crate) const fn items(self, min_items: usize, max_items: usize) -> Self {
        Self {
            min_items,
            max_items,
            ..self
        }
    }

    /// Marks the element optional.
    pub(crate) const fn optional(self) -> Self {
        Self {
            optional: true,
            ..self
        }
    }

    /// Restricts an unsigned number to ranges (inclusive).
    pub(crate) const fn ranges(self, ranges: &'static [(u32, u32)]) -> Self {
        Self { ranges, ..self }
    }
}

/// A value that is read from and written as one XML element.
pub(crate) trait Xml: Sized {
    /// Reads the value from `el`, consuming it through its end tag.
    fn read<'a>(p: &mut Parser<'a>, el: El<'a>, spec: &Spec) -> Result<Self, Fail>;

    /// Writes the value as `<tag>…</tag>` (or several elements for a repeated field, or none
    /// for an absent optional one).
    fn write(&self, w: &mut Writer<'_>, tag: &'static str, spec: &Spec) -> Result<(), CodecError>;

    /// Stores one occurrence of the element into a struct field slot.
    fn read_into<'a>(
        slot: &mut Option<Self>,
        p: &mut Parser<'a>,
        el: El<'a>,
        tag: &'static str,
        spec: &Spec,
    ) -> Result<(), Fail> {
        if slot.is_some() {
            return Err(p.fail(CodecError::DuplicateElement { name: tag }));
        }
        *slot = Some(Self::read(p, el, spec)?);
        Ok(())
    }

    /// The value of a field whose element is missing, if that is allowed.
    fn absent(_spec: &Spec) -> Option<Self> {
        None
    }
}

impl Xml for String {
    fn read<'a>(p: &mut Parser<'a>, el: El<'a>, spec: &Spec) -> Result<Self, Fail> {
        let text = p.text(el)?;
        p.check_len(&text, spec.max_len)?;
        Ok(text.into_owned())
    }

    fn write(&self, w: &mut Writer<'_>, tag: &'static str, spec: &Spec) -> Result<(), CodecError> {
        w.text_element(tag, self, spec.max_len)
    }

    fn absent(spec: &Spec) -> Option<Self> {
        spec.optional.then(Self::new)
    }
}

/// Parses an XSD number: whitespace around it is allowed (the XSD `collapse` facet).
fn number<'a, T: std::str::FromStr>(
    p: &mut Parser<'a>,
    el: El<'a>,
    expected: &'static str,
) -> Result<T, Fail> {
    let text = p.text(el)?;
    text.trim_matches(|c| matches!(c, ' ' | '\t' | '\r' | '\n'))
        .parse()
        .map_err(|_| p.invalid(expected, &text))
}

fn check_range(tag: &'static str, value: u32, spec: &Spec) -> Result<(), CodecError> {
    if spec.ranges.is_empty()
        || spec
            .ranges
            .iter()
            .any(|&(lo, hi)| (lo..=hi).contains(&value))
    {
        Ok(())
    } else {
        Err(CodecError::InvalidForEncoding {
            element: tag,
            problem: EncodeProblem::OutOfRange { value },
        })
    }
}

impl Xml for u32 {
    fn read<'a>(p: &mut Parser<'a>, el: El<'a>, _spec: &Spec) -> Result<Self, Fail> {
        number(p, el, "unsignedInt")
    }

    fn write(&self, w: &mut Writer<'_>, tag: &'static str, spec: &Spec) -> Result<(), CodecError> {
        check_range(tag, *self, spec)?;
        w.plain_element(tag, &self.to_string());
        Ok(())
    }
}

impl Xml for NonZeroU32 {
    fn read<'a>(p: &mut Parser<'a>, el: El<'a>, _spec: &Spec) -> Result<Self, Fail> {
        let n: u32 = number(p, el, "unsignedInt of at least 1")?;
        Self::new(n).ok_or_else(|| p.invalid("unsignedInt of at least 1", "0"))
    }

    fn write(&self, w: &mut Writer<'_>, tag: &'static str, _spec: &Spec) -> Result<(), CodecError> {
        w.plain_element(tag, &self.to_string());
        Ok(())
    }
}

impl Xml for i32 {
    fn read<'a>(p: &mut Parser<'a>, el: El<'a>, _spec: &Spec) -> Result<Self, Fail> {
        number(p, el, "int")
    }

    fn write(&self, w: &mut Writer<'_>, tag: &'static str, _spec: &Spec) -> Result<(), CodecError> {
        w.plain_element(tag, &self.to_string());
        Ok(())
    }
}

impl Xml for bool {
    fn read<'a>(p: &mut Parser<'a>, el: El<'a>, _spec: &Spec) -> Result<Self, Fail> {
        let text = p.text(el)?;
        parse_bool(&text).ok_or_else(|| p.invalid("boolean", &text))
    }

    /// Writes `1` / `0`: both are xsd:boolean, and the numeric form is the one every ACS
    /// parses (acsrs reads `Writable` as an integer and drops the whole response otherwise).
    fn write(&self, w: &mut Writer<'_>, tag: &'static str, _spec: &Spec) -> Result<(), CodecError> {
        w.plain_element(tag, if *self { "1" } else { "0" });
        Ok(())
    }
}

/// XSD boolean (`true`, `false`, `1`, `0`), lenient about case and surrounding whitespace.
pub(crate) fn parse_bool(text: &str) -> Option<bool> {
    let t = text.trim_matches(|c| matches!(c, ' ' | '\t' | '\r' | '\n'));
    if t == "1" || t.eq_ignore_ascii_case("true") {
        Some(true)
    } else if t == "0" || t.eq_ignore_ascii_case("false") {
        Some(false)
    } else {
        None
    }
}

impl<T: Xml> Xml for Option<T> {
    fn read<'a>(p: &mut Parser<'a>, el: El<'a>, spec: &Spec) -> Result<Self, Fail> {
        T::read(p, el, spec).map(Some)
    }

    fn write(&self, w: &mut Writer<'_>, tag: &'static str, spec: &Spec) -> Result<(), CodecError> {
        match self {
            Some(v) => v.write(w, tag, spec),
            None => Ok(()),
        }
    }

    fn absent(_spec: &Spec) -> Option<Self> {
        Some(None)
    }
}

impl<T: Xml> Xml for Vec<T> {
    /// A SOAP array: every child element is an entry, whatever its name; the declared
    /// `soap-enc:arrayType` size only pre-sizes the `Vec`, within the bounds
    /// ([`Parser::declared_entries`]).
    fn read<'a>(p: &mut Parser<'a>, el: El<'a>, spec: &Spec) -> Result<Self, Fail> {
        if el.is_empty() {
            return Ok(Self::new());
        }
        let mut items = Self::with_capacity(p.declared_entries(&el, spec.max_items));
        while let Some(child) = p.child()? {
            p.check_entries(items.len(), spec.max_items)
                .map_err(|e| e.at(spec.item))?;
            items.push(T::read(p, child, spec).map_err(|e| e.at(spec.item))?);
        }
        Ok(items)
    }

    fn read_into<'a>(
        slot: &mut Option<Self>,
        p: &mut Parser<'a>,
        el: El<'a>,
        tag: &'static str,
        spec: &Spec,
    ) -> Result<(), Fail> {
        if !spec.repeated {
            if slot.is_some() {
                return Err(p.fail(CodecError::DuplicateElement { name: tag }));
            }
            *slot = Some(Self::read(p, el, spec)?);
            return Ok(());
        }
        let items = slot.get_or_insert_with(Self::new);
        p.check_entries(items.len(), spec.max_items)?;
        items.push(T::read(p, el, spec)?);
        Ok(())
    }

    fn write(&self, w: &mut Writer<'_>, tag: &'static str, spec: &Spec) -> Result<(), CodecError> {
        let problem = if self.len() < spec.min_items {
            Some(EncodeProblem::TooFewEntries {
                min: spec.min_items,
            })
        } else if self.len() > spec.max_items {
            Some(EncodeProblem::TooManyEntries {
                max: spec.max_items,
            })
        } else {
            None
        };
        if let Some(problem) = problem {
            return Err(CodecError::InvalidForEncoding {
                element: tag,
                problem,
            });
        }
        if spec.repeated {
            for item in self {
                item.write(w, tag, spec)?;
            }
            return Ok(());
        }
        w.open_array(tag, spec.item_type, self.len());
        for item in self {
            item.write(w, spec.item, spec)?;
        }
        w.close(tag);
        Ok(())
    }

    fn absent(spec: &Spec) -> Option<Self> {
        spec.repeated.then(Self::new)
    }
}

/// Declares a schema struct: the Rust struct plus its [`Xml`] reader and writer.
///
/// Fields are listed in XSD sequence order as `name: Type => "Element", SPEC`.
macro_rules! xml_struct {
    (
        $(#[$meta:meta])*
        pub struct $name:ident {
            $(
                $(#[$fmeta:meta])*
                pub $field:ident : $ty:ty => $tag:literal, $spec:expr
            );* $(;)?
        }
    ) => {
        $(#[$meta])*
        #[derive(Clone, Debug, PartialEq, Eq)]
        pub struct $name {
            $( $(#[$fmeta])* pub $field: $ty, )*
        }

        impl $name {
            /// Reads the children of `el` into the struct.
            #[allow(unused_mut, unused_variables)]
            pub(crate) fn read_children<'a>(
                p: &mut $crate::codec::decode::Parser<'a>,
                el: $crate::codec::decode::El<'a>,
            ) -> Result<Self, $crate::codec::decode::Fail> {
                $( let mut $field: Option<$ty> = None; )*
                if !el.is_empty() {
                    while let Some(child) = p.child()? {
                        let local = child.local();
                        $(
                            if local == $tag.as_bytes() {
                                <$ty as $crate::codec::xml::Xml>::read_into(
                                    &mut $field, p, child, $tag, &$spec,
                                )
                                .map_err(|e| e.at($tag))?;
                                continue;
                            }
                        )*
                        p.skip(child)?;
                    }
                }
                Ok(Self {
                    $(
                        $field: match $field {
                            Some(v) => v,
                            None => match <$ty as $crate::codec::xml::Xml>::absent(&$spec) {
                                Some(v) => v,
                                None => {
                                    return Err(p.fail(
                                        $crate::error::CodecError::MissingElement { name: $tag },
                                    ));
                                }
                            },
                        },
                    )*
                })
            }

            /// Writes the children of the struct's element.
            #[allow(unused_variables)]
            pub(crate) fn write_children(
                &self,
                w: &mut $crate::codec::encode::Writer<'_>,
            ) -> Result<(), $crate::error::CodecError> {
                $( $crate::codec::xml::Xml::write(&self.$field, w, $tag, &$spec)?; )*
                Ok(())
            }
        }

        impl $crate::codec::xml::Xml for $name {
            fn read<'a>(
                p: &mut $crate::codec::decode::Parser<'a>,
                el: $crate::codec::decode::El<'a>,
                _spec: &$crate::codec::xml::Spec,
            ) -> Result<Self, $crate::codec::decode::Fail> {
                Self::read_children(p, el)
            }

            fn write(
                &self,
                w: &mut $crate::codec::encode::Writer<'_>,
                tag: &'static str,
                _spec: &$crate::codec::xml::Spec,
            ) -> Result<(), $crate::error::CodecError> {
                w.open(tag);
                self.write_children(w)?;
                w.close(tag);
                Ok(())
            }
        }
    };
}

/// Declares an integer enumeration of the schema (`xs:int` or `xs:unsignedInt` with
/// `xs:enumeration` facets).
macro_rules! int_enum {
    (
        $(#[$meta:meta])*
        pub enum $name:ident : $expected:literal {
            $( $(#[$vmeta:meta])* $variant:ident = $value:literal ),* $(,)?
        }
    ) => {
        $(#[$meta])*
        #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
        pub enum $name {
            $( $(#[$vmeta])* $variant, )*
        }

        impl $name {
            /// The number on the wire.
            #[must_use]
            pub const fn value(self) -> i32 {
                match self { $( Self::$variant => $value, )* }
            }

            /// The variant for a number on the wire.
            #[must_use]
            pub const fn from_value(value: i32) -> Option<Self> {
                match value {
                    $( $value => Some(Self::$variant), )*
                    _ => None,
                }
            }
        }

        impl $crate::codec::xml::Xml for $name {
            fn read<'a>(
                p: &mut $crate::codec::decode::Parser<'a>,
                el: $crate::codec::decode::El<'a>,
                _spec: &$crate::codec::xml::Spec,
            ) -> Result<Self, $crate::codec::decode::Fail> {
                let text = p.text(el)?;
                text.trim_matches(|c| matches!(c, ' ' | '\t' | '\r' | '\n'))
                    .parse::<i32>()
                    .ok()
                    .and_then(Self::from_value)
                    .ok_or_else(|| p.invalid($expected, &text))
            }

            fn write(
                &self,
                w: &mut $crate::codec::encode::Writer<'_>,
                tag: &'static str,
                _spec: &$crate::codec::xml::Spec,
            ) -> Result<(), $crate::error::CodecError> {
                w.plain_element(tag, &self.value().to_string());
                Ok(())
            }
        }
    };
}

/// Declares a string enumeration of the schema (`xs:string` with `xs:enumeration` facets).
macro_rules! str_enum {
    (
        $(#[$meta:meta])*
        pub enum $name:ident : $expected:literal {
            $( $(#[$vmeta:meta])* $variant:ident = $value:literal ),* $(,)?
        }
    ) => {
        $(#[$meta])*
        #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
        pub enum $name {
            $( $(#[$vmeta])* $variant, )*
        }

        impl $name {
            /// The string on the wire.
            #[must_use]
            pub const fn as_str(self) -> &'static str {
                match self { $( Self::$variant => $value, )* }
            }

            /// The variant for a string on the wire (exact match).
            #[must_use]
            pub fn from_wire(value: &str) -> Option<Self> {
                match value {
                    $( $value => Some(Self::$variant), )*
                    _ => None,
                }
            }
        }

        impl $crate::codec::xml::Xml for $name {
            fn read<'a>(
                p: &mut $crate::codec::decode::Parser<'a>,
                el: $crate::codec::decode::El<'a>,
                _spec: &$crate::codec::xml::Spec,
            ) -> Result<Self, $crate::codec::decode::Fail> {
                let text = p.text(el)?;
                Self::from_wire(text.trim_matches(|c| matches!(c, ' ' | '\t' | '\r' | '\n')))
                    .ok_or_else(|| p.invalid($expected, &text))
            }

            fn write(
                &self,
                w: &mut $crate::codec::encode::Writer<'_>,
                tag: &'static str,
                _spec: &$crate::codec::xml::Spec,
            ) -> Result<(), $crate::error::CodecError> {
                w.plain_element(tag, self.as_str());
                Ok(())
            }
        }
    };
}

pub(crate) use {int_enum, str_enum, xml_struct};

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn booleans() {
        for (s, b) in [
            ("true", true),
            ("1", true),
            (" TRUE\n", true),
            ("0", false),
            ("False", false),
        ] {
            assert_eq!(parse_bool(s), Some(b), "{s}");
        }
        for s in ["", "yes", "2", "truee"] {
            assert_eq!(parse_bool(s), None, "{s}");
        }
    }

    #[test]
    fn ranges() {
        let spec = Spec::ANY.ranges(&[(8000, 8899), (9000, 9899)]);
        assert!(check_range("FaultCode", 9003, &spec).is_ok());
        assert!(check_range("FaultCode", 8899, &spec).is_ok());
        assert!(check_range("FaultCode", 7005, &spec).is_err());
        assert!(check_range("FaultCode", 0, &Spec::ANY).is_ok());
    }
}
