//! TR-106 parameter values: typed representation, parsing, canonical text and validation.
//!
//! A [`Value`] holds one parameter value (or a list of them) in typed form. Text from the wire
//! becomes a `Value` through [`Value::parse`], which checks only the lexical form of the base
//! type; [`validate`] then checks the restrictions of the parameter's [`Syntax`] (ranges,
//! sizes, enumerations, patterns, list facets). [`Value::parse_for`] does both for a schema
//! [`Parameter`], bounded by [`Limits::max_value_len`], and names the parameter in its error.
//!
//! # Wire forms
//!
//! CWMP carries values as XML Schema (xsd) literals; USP carries every value as a string
//! (TR-369 "string encoding"). For every TR-106 type the two canonical forms coincide, so there
//! is one [`Value::canonical_text`] (also used by [`Display`](core::fmt::Display)) for both:
//!
//! | Type | Canonical text |
//! |---|---|
//! | `string` | the string itself |
//! | `boolean` | `true`, `false` |
//! | `int`, `unsignedInt`, `long`, `unsignedLong` | decimal digits, `-` for negatives, no `+`, no leading zeros |
//! | `dateTime` | `YYYY-MM-DDThh:mm:ss[.ffffff]Z`, in UTC, no trailing zeros in the fraction |
//! | `base64` | RFC 4648 base64 with padding, no line breaks |
//! | `hexBinary` | upper-case hex digits (the xsd canonical form) |
//! | `decimal` | `-`? digits, then `.` and digits only if there is a fraction; no exponent, no superfluous zeros |
//! | lists | the items' canonical texts joined by `,` (no spaces) |
//!
//! Parsing follows the xsd lexical spaces, with the lenience real peers need: booleans also
//! accept `1`/`0` and any letter case; numbers accept a leading `+`, leading zeros, and (for
//! unsigned types) `-0`; leading and trailing white space is ignored for every type except
//! `string` (xsd `whiteSpace="collapse"`); base64 may contain white space anywhere (line
//! breaks); a `dateTime` may carry `Z`, a `+hh:mm`/`-hh:mm` offset (normalised to UTC) or no
//! zone at all (taken as UTC, as TR-106 allows). Anything else, such as overflow, empty
//! numbers, or white space inside a number, is rejected.
//!
//! # Lists
//!
//! A list-valued parameter (its [`Syntax::list`] is set) is the items joined by commas; white
//! space after a comma is ignored and the empty string is the empty list. Items cannot contain
//! commas (TR-106 has no escape for them), so [`validate`] rejects string items that do.

use core::cmp::Ordering;
use core::fmt;
use core::marker::PhantomData;
use core::str::FromStr;
use std::borrow::{Cow, ToOwned};
use std::collections::HashMap;
use std::string::{String, ToString};
use std::sync::{Arc, Mutex, OnceLock, PoisonError};
use std::vec::Vec;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use regex_lite::{Regex, RegexBuilder};
use serde::{Deserialize, Deserializer, Serialize, Serializer, de};

use crate::error::{Error, ValueRule};
use crate::limits::Limits;
use crate::schema::{BaseType, Parameter, RangeFacet, SizeFacet, Syntax};

/// A parameter value of one of the TR-106 primitive types, or a list of them.
///
/// Values compare by content; [`Decimal`] and [`DateTime`] are kept in a normal form, so equal
/// numbers and equal instants are equal values. Serde (de)serialises the enum externally
/// tagged; `DateTime` and `Decimal` as their canonical text, binary values as base64 or hex
/// text.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[allow(clippy::exhaustive_enums)] // The TR-106 primitive types plus lists: complete by definition.
pub enum Value {
    /// `string`.
    String(String),
    /// `boolean`.
    Boolean(bool),
    /// `int` (32-bit signed).
    Int(i32),
    /// `unsignedInt` (32-bit unsigned).
    UnsignedInt(u32),
    /// `long` (64-bit signed).
    Long(i64),
    /// `unsignedLong` (64-bit unsigned).
    UnsignedLong(u64),
    /// `dateTime`.
    DateTime(DateTime),
    /// `base64`: the decoded bytes.
    Base64(#[serde(with = "base64_text")] Vec<u8>),
    /// `hexBinary`: the decoded bytes.
    HexBinary(#[serde(with = "hex_text")] Vec<u8>),
    /// `decimal`.
    Decimal(Decimal),
    /// A comma-separated list; every item has the parameter's base type (never a list).
    List(Vec<Self>),
}

impl Value {
    /// Parses `text` as a value of `syntax` (a list when [`Syntax::list`] is set).
    ///
    /// Only the lexical form is checked; call [`validate`] for the restrictions. The error is
    /// [`ValueRule::Type`] with the base type, also when one list item is malformed. No length
    /// limit applies here: text from the network goes through [`Value::parse_for`], or is
    /// checked against [`Limits::max_value_len`] first. Work and memory are linear in the
    /// length of `text`.
    pub fn parse(text: &str, syntax: &Syntax) -> Result<Self, ValueRule> {
        if syntax.list().is_none() {
            return Self::parse_scalar(text, syntax.base());
        }
        // Whitespace alone is the empty list too: a list of one empty item has no text form
        // of its own (its canonical text is the empty list's), so it is never produced.
        if text.trim_matches(is_xsd_space).is_empty() {
            return Ok(Self::List(Vec::new()));
        }
        text.split(',')
            .enumerate()
            .map(|(index, item)| {
                let item = if index == 0 {
                    item
                } else {
                    item.trim_start_matches(is_xsd_space)
                };
                Self::parse_scalar(item, syntax.base())
            })
            .collect::<Result<Vec<_>, _>>()
            .map(Self::List)
    }

    /// Parses `text` as a single (non-list) value of type `base`.
    pub fn parse_scalar(text: &str, base: BaseType) -> Result<Self, ValueRule> {
        let trimmed = text.trim_matches(is_xsd_space);
        let value = match base {
            BaseType::String => Some(Self::String(text.to_owned())),
            BaseType::Boolean => parse_boolean(trimmed).map(Self::Boolean),
            BaseType::Int => parse_integer(trimmed)
                .and_then(|n| i32::try_from(n).ok())
                .map(Self::Int),
            BaseType::UnsignedInt => parse_integer(trimmed)
                .and_then(|n| u32::try_from(n).ok())
                .map(Self::UnsignedInt),
            BaseType::Long => parse_integer(trimmed)
                .and_then(|n| i64::try_from(n).ok())
                .map(Self::Long),
            BaseType::UnsignedLong => parse_integer(trimmed)
                .and_then(|n| u64::try_from(n).ok())
                .map(Self::UnsignedLong),
            BaseType::DateTime => DateTime::parse(trimmed).map(Self::DateTime),
            BaseType::Base64 => decode_base64(text).map(Self::Base64),
            BaseType::HexBinary => decode_hex(trimmed).map(Self::HexBinary),
            BaseType::Decimal => Decimal::parse(trimmed).map(Self::Decimal),
        };
        value.ok_or(ValueRule::Type(base))
    }

    /// Parses text received for `parameter` (at `path`, named in the error) and validates it.
    ///
    /// Text longer than [`Limits::max_value_len`] bytes is [`Error::LimitExceeded`] and is not
    /// parsed; a malformed or restricted value is [`Error::InvalidValue`].
    pub fn parse_for(
        text: &str,
        parameter: &Parameter,
        path: &str,
        limits: &Limits,
    ) -> Result<Self, Error> {
        if text.len() > limits.max_value_len {
            return Err(Error::LimitExceeded {
                what: "parameter value length",
                limit: limits.max_value_len,
            });
        }
        let value = Self::parse(text, parameter.syntax()).map_err(|rule| Error::InvalidValue {
            path: path.to_owned(),
            rule,
        })?;
        validate_parameter(&value, parameter, path)?;
        Ok(value)
    }

    /// The zero value of `syntax`'s type, for new instances whose parameter has no default:
    /// the empty list for lists, otherwise the empty string, `false`, `0`, the unknown time,
    /// empty bytes or decimal `0`. It need not satisfy the syntax's restrictions.
    pub fn default_for(syntax: &Syntax) -> Self {
        if syntax.list().is_some() {
            Self::List(Vec::new())
        } else {
            Self::zero(syntax.base())
        }
    }

    /// The zero value of a single (non-list) `base` type; see [`Value::default_for`].
    pub const fn zero(base: BaseType) -> Self {
        match base {
            BaseType::String => Self::String(String::new()),
            BaseType::Boolean => Self::Boolean(false),
            BaseType::Int => Self::Int(0),
            BaseType::UnsignedInt => Self::UnsignedInt(0),
            BaseType::Long => Self::Long(0),
            BaseType::UnsignedLong => Self::UnsignedLong(0),
            BaseType::DateTime => Self::DateTime(DateTime::UNKNOWN),
            BaseType::Base64 => Self::Base64(Vec::new()),
            BaseType::HexBinary => Self::HexBinary(Vec::new()),
            BaseType::Decimal => Self::Decimal(Decimal::ZERO),
        }
    }

    /// The schema default of `syntax` (any [`DefaultKind`](crate::schema::DefaultKind)),
    /// parsed; `None` when there is none or it does not parse and validate.
    ///
    /// TR-181 writes list defaults in brackets (`[]`, `[0,1,2]`); those are unwrapped.
    pub fn schema_default(syntax: &Syntax) -> Option<Self> {
        let text = syntax.default()?.value();
        let text = match syntax.list() {
            Some(_) => text
                .strip_prefix('[')
                .and_then(|t| t.strip_suffix(']'))
                .unwrap_or(text),
            None => text,
        };
        let value = Self::parse(text, syntax).ok()?;
        validate(&value, syntax).ok()?;
        Some(value)
    }

    /// Relabels binary bytes to the encoding `syntax` uses: [`Value::Base64`] and
    /// [`Value::HexBinary`] become the variant of `syntax.base` when that is `base64` or
    /// `hexBinary`, also inside lists. Everything else is returned unchanged.
    ///
    /// Values built from typed keys carry [`Binary`] as `Value::Base64`; call this with the
    /// parameter's syntax before [`validate`], which insists on the exact variant.
    pub fn conform(self, syntax: &Syntax) -> Self {
        match (self, syntax.base()) {
            (Self::List(items), _) => {
                Self::List(items.into_iter().map(|item| item.conform(syntax)).collect())
            }
            (Self::Base64(bytes) | Self::HexBinary(bytes), BaseType::Base64) => Self::Base64(bytes),
            (Self::Base64(bytes) | Self::HexBinary(bytes), BaseType::HexBinary) => {
                Self::HexBinary(bytes)
            }
            (other, _) => other,
        }
    }

    /// The canonical text, identical for CWMP and USP (see the [module docs](self)).
    pub fn canonical_text(&self) -> String {
        self.to_string()
    }

    /// The TR-106 base type of a single value; `None` for a list.
    pub fn base_type(&self) -> Option<BaseType> {
        Some(match self {
            Self::String(_) => BaseType::String,
            Self::Boolean(_) => BaseType::Boolean,
            Self::Int(_) => BaseType::Int,
            Self::UnsignedInt(_) => BaseType::UnsignedInt,
            Self::Long(_) => BaseType::Long,
            Self::UnsignedLong(_) => BaseType::UnsignedLong,
            Self::DateTime(_) => BaseType::DateTime,
            Self::Base64(_) => BaseType::Base64,
            Self::HexBinary(_) => BaseType::HexBinary,
            Self::Decimal(_) => BaseType::Decimal,
            Self::List(_) => return None,
        })
    }

    /// The CWMP `xsi:type` of this value (`xsd:unsignedInt`, ...); lists are `xsd:string`.
    pub fn xsd_type(&self) -> &'static str {
        self.base_type().map_or("xsd:string", xsd_type_of)
    }

    /// Orders two values for the USP search operators `<`, `<=`, `>`, `>=`.
    ///
    /// Numbers of any numeric type (`int` … `decimal`) compare by value, and `dateTime`s
    /// compare when both are absolute or both are relative to boot. Everything else (strings,
    /// booleans, binaries, lists, the unknown time, mixed kinds) has no order: `None`.
    pub fn order(&self, other: &Self) -> Option<Ordering> {
        if let (Some(a), Some(b)) = (self.as_decimal(), other.as_decimal()) {
            return Some(a.cmp(&b));
        }
        match (self, other) {
            (Self::DateTime(a), Self::DateTime(b))
                if !a.is_unknown() && !b.is_unknown() && a.is_relative() == b.is_relative() =>
            {
                Some(a.cmp(b))
            }
            _ => None,
        }
    }

    /// The value as a decimal, for the numeric types.
    fn as_decimal(&self) -> Option<Decimal> {
        match *self {
            Self::Int(n) => Some(Decimal::from(n)),
            Self::UnsignedInt(n) => Some(Decimal::from(n)),
            Self::Long(n) => Some(Decimal::from(n)),
            Self::UnsignedLong(n) => Some(Decimal::from(n)),
            Self::Decimal(n) => Some(n),
            _ => None,
        }
    }

    /// The length the size facet limits: characters of a string, bytes of a binary.
    fn size(&self) -> Option<u64> {
        let len = match self {
            Self::String(s) => s.chars().count(),
            Self::Base64(b) | Self::HexBinary(b) => b.len(),
            _ => return None,
        };
        Some(len_u64(len))
    }
}

impl fmt::Display for Value {
    /// Writes the [canonical text](Value::canonical_text).
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::String(s) => f.write_str(s),
            Self::Boolean(b) => f.write_str(if *b { "true" } else { "false" }),
            Self::Int(n) => write!(f, "{n}"),
            Self::UnsignedInt(n) => write!(f, "{n}"),
            Self::Long(n) => write!(f, "{n}"),
            Self::UnsignedLong(n) => write!(f, "{n}"),
            Self::DateTime(t) => write!(f, "{t}"),
            Self::Base64(bytes) => f.write_str(&BASE64.encode(bytes)),
            Self::HexBinary(bytes) => write_hex(f, bytes),
            Self::Decimal(d) => write!(f, "{d}"),
            Self::List(items) => {
                for (index, item) in items.iter().enumerate() {
                    if index > 0 {
                        f.write_str(",")?;
                    }
                    write!(f, "{item}")?;
                }
                Ok(())
            }
        }
    }
}

/// The CWMP `xsi:type` for a parameter of `syntax`: `xsd:string` for lists, otherwise that of
/// the base type.
pub fn xsd_type(syntax: &Syntax) -> &'static str {
    if syntax.list().is_some() {
        "xsd:string"
    } else {
        xsd_type_of(syntax.base())
    }
}

/// The CWMP `xsi:type` of a single value of type `base` (`xsd:unsignedInt`, `xsd:base64Binary`,
/// ...).
pub const fn xsd_type_of(base: BaseType) -> &'static str {
    match base {
        BaseType::String => "xsd:string",
        BaseType::Boolean => "xsd:boolean",
        BaseType::Int => "xsd:int",
        BaseType::UnsignedInt => "xsd:unsignedInt",
        BaseType::Long => "xsd:long",
        BaseType::UnsignedLong => "xsd:unsignedLong",
        BaseType::DateTime => "xsd:dateTime",
        BaseType::Base64 => "xsd:base64Binary",
        BaseType::HexBinary => "xsd:hexBinary",
        BaseType::Decimal => "xsd:decimal",
    }
}

// ---------------------------------------------------------------------------------------------
// Validation

/// Checks `value` against the restrictions of `syntax`.
///
/// - The value must have the base type (and be a list exactly when the syntax is one):
///   [`ValueRule::Type`].
/// - Lists: the item count must be within `min_items..=max_items` and the whole canonical text
///   within `max_length` characters, and string items must not contain commas:
///   [`ValueRule::List`]. Every item is then checked as below.
/// - Sizes (strings: characters; `base64`/`hexBinary`: decoded bytes) must fit one of the
///   size facets: [`ValueRule::Size`].
/// - Numbers must be in one of the ranges (with `step` counted from `min`, or from 0 without
///   a `min`): [`ValueRule::Range`].
/// - The value must be one of the enumerations (strings exactly, other types by value):
///   [`ValueRule::Enumeration`].
/// - The text must match one of the patterns (XML Schema regular expressions, implicitly
///   anchored; `""` matches only the empty string): [`ValueRule::Pattern`]. A pattern this
///   crate cannot compile (see [`pattern_is_supported`]) is treated as matching everything.
///
/// Enumerations and patterns both apply when both are given (TR-181 never combines them).
/// References (`pathRef`, `enumerationRef`) are checked by the store, not here.
pub fn validate(value: &Value, syntax: &Syntax) -> Result<(), ValueRule> {
    let Some(list) = syntax.list() else {
        return match value {
            Value::List(_) => Err(ValueRule::Type(syntax.base())),
            item => validate_item(item, syntax),
        };
    };
    let Value::List(items) = value else {
        return Err(ValueRule::Type(syntax.base()));
    };
    let count = len_u64(items.len());
    if count < u64::from(list.min_items())
        || list.max_items().is_some_and(|max| count > u64::from(max))
    {
        return Err(ValueRule::List);
    }
    for item in items {
        validate_item(item, syntax)?;
        if matches!(item, Value::String(s) if s.contains(',')) {
            return Err(ValueRule::List);
        }
    }
    if let Some(max) = list.max_length() {
        if len_u64(value.to_string().chars().count()) > u64::from(max) {
            return Err(ValueRule::List);
        }
    }
    Ok(())
}

/// [`validate`] against `parameter`'s syntax, naming `path` (instance path when known) in the
/// error: [`Error::InvalidValue`] (CWMP 9007, USP 7012).
pub fn validate_parameter(value: &Value, parameter: &Parameter, path: &str) -> Result<(), Error> {
    validate(value, parameter.syntax()).map_err(|rule| Error::InvalidValue {
        path: path.to_owned(),
        rule,
    })
}

/// Whether this crate can compile the XML Schema `pattern` into a regular expression. The code
/// generator can use this to flag patterns that [`validate`] would ignore.
pub fn pattern_is_supported(pattern: &str) -> bool {
    compile_pattern(pattern).is_some()
}

/// Checks a single value (a scalar, or one list item) against the item facets of `syntax`.
fn validate_item(item: &Value, syntax: &Syntax) -> Result<(), ValueRule> {
    if item.base_type() != Some(syntax.base()) {
        return Err(ValueRule::Type(syntax.base()));
    }
    if !syntax.sizes().is_empty() {
        if let Some(len) = item.size() {
            if !syntax.sizes().iter().any(|size| size_fits(len, size)) {
                return Err(ValueRule::Size);
            }
        }
    }
    if !syntax.ranges().is_empty() {
        if let Some(number) = item.as_decimal() {
            if !syntax.ranges().iter().any(|range| in_range(number, range)) {
                return Err(ValueRule::Range);
            }
        }
    }
    if !syntax.enumerations().is_empty() {
        let found = match item {
            Value::String(s) => syntax.enumerations().contains(s.as_str()),
            other => syntax
                .enumerations()
                .iter()
                .any(|e| Value::parse_scalar(e, syntax.base()).is_ok_and(|v| v == *other)),
        };
        if !found {
            return Err(ValueRule::Enumeration);
        }
    }
    if !syntax.patterns().is_empty() {
        let text = match item {
            Value::String(s) => Cow::Borrowed(s.as_str()),
            other => Cow::Owned(other.to_string()),
        };
        if !syntax.patterns().iter().any(|p| pattern_matches(p, &text)) {
            return Err(ValueRule::Pattern);
        }
    }
    Ok(())
}

fn size_fits(len: u64, size: &SizeFacet) -> bool {
    size.min_length().is_none_or(|min| len >= u64::from(min))
        && size.max_length().is_none_or(|max| len <= u64::from(max))
}

fn in_range(number: Decimal, range: &RangeFacet) -> bool {
    let min_ok = range.min().is_none_or(|min| number >= Decimal::from(min));
    let max_ok = range.max().is_none_or(|max| number <= Decimal::from(max));
    let step_ok = match range.step() {
        None | Some(0) => true,
        // A normalised decimal with a fraction is never a whole multiple of the step.
        Some(step) => {
            number.scale == 0
                && number
                    .mantissa()
                    .checked_sub(i128::from(range.min().unwrap_or(0)))
                    .and_then(|offset| offset.checked_rem_euclid(i128::from(step)))
                    == Some(0)
        }
    };
    min_ok && max_ok && step_ok
}

/// Most compiled patterns kept; TR-181 has a few dozen distinct ones.
const PATTERN_CACHE_CAPACITY: usize = 1024;
/// Size limit of one compiled pattern.
const PATTERN_SIZE_LIMIT: usize = 1 << 20;

type PatternCache = Mutex<HashMap<&'static str, Option<Arc<Regex>>>>;

/// Whether `text` matches `pattern`; unsupported patterns match everything.
fn pattern_matches(pattern: &'static str, text: &str) -> bool {
    static CACHE: OnceLock<PatternCache> = OnceLock::new();
    let cache = CACHE.get_or_init(PatternCache::default);
    let cached = cache
        .lock()
        .unwrap_or_else(PoisonError::into_inner)
        .get(pattern)
        .cloned();
    let regex = match cached {
        Some(regex) => regex,
        None => {
            let regex = compile_pattern(pattern).map(Arc::new);
            let mut map = cache.lock().unwrap_or_else(PoisonError::into_inner);
            if map.len() < PATTERN_CACHE_CAPACITY {
                map.insert(pattern, regex.clone());
            }
            regex
        }
    };
    regex.is_none_or(|regex| regex.is_match(text))
}

fn compile_pattern(pattern: &str) -> Option<Regex> {
    RegexBuilder::new(&translate_pattern(pattern)?)
        .size_limit(PATTERN_SIZE_LIMIT)
        .build()
        .ok()
}

/// Rewrites an XML Schema regular expression into regex-lite syntax, anchored at both ends.
///
/// XML Schema has no anchors, so `^` and `$` outside classes are literals; the name escapes
/// `\i`, `\I`, `\c`, `\C` become their ASCII approximations. Class subtraction (`[a-z-[aeiou]]`)
/// has no regex-lite equivalent: `None`. Other differences (`\p{..}` blocks, ...) make
/// regex-lite fail to compile, which also yields an unsupported pattern.
fn translate_pattern(pattern: &str) -> Option<String> {
    let mut out = String::with_capacity(pattern.len().saturating_add(8));
    out.push_str("^(?:");
    let mut in_class = false;
    let mut chars = pattern.chars();
    while let Some(c) = chars.next() {
        match c {
            '\\' => match (chars.next(), in_class) {
                (Some('i'), false) => out.push_str("[_:A-Za-z]"),
                (Some('I'), false) => out.push_str("[^_:A-Za-z]"),
                (Some('c'), false) => out.push_str("[\\-._:A-Za-z0-9]"),
                (Some('C'), false) => out.push_str("[^\\-._:A-Za-z0-9]"),
                (Some('i'), true) => out.push_str("_:A-Za-z"),
                (Some('c'), true) => out.push_str("\\-._:A-Za-z0-9"),
                (Some('I' | 'C'), true) | (None, _) => return None,
                (Some(other), _) => {
                    out.push('\\');
                    out.push(other);
                }
            },
            '[' if in_class => return None,
            '[' => {
                in_class = true;
                out.push('[');
            }
            ']' if in_class => {
                in_class = false;
                out.push(']');
            }
            '^' | '$' if !in_class => {
                out.push('\\');
                out.push(c);
            }
            _ => out.push(c),
        }
    }
    out.push_str(")$");
    Some(out)
}

// ---------------------------------------------------------------------------------------------
// Lexical helpers

/// XML white space (`#x20 | #x9 | #xD | #xA`).
fn is_xsd_space(c: char) -> bool {
    matches!(c, ' ' | '\t' | '\r' | '\n')
}

fn len_u64(len: usize) -> u64 {
    u64::try_from(len).unwrap_or(u64::MAX)
}

fn parse_boolean(text: &str) -> Option<bool> {
    if text == "1" || text.eq_ignore_ascii_case("true") {
        Some(true)
    } else if text == "0" || text.eq_ignore_ascii_case("false") {
        Some(false)
    } else {
        None
    }
}

/// An xsd integer literal `[+-]?[0-9]+` whose magnitude fits in 64 bits.
fn parse_integer(text: &str) -> Option<i128> {
    let (negative, digits) = match text.as_bytes().first()? {
        b'-' => (true, text.get(1..)?),
        b'+' => (false, text.get(1..)?),
        _ => (false, text),
    };
    if digits.is_empty() {
        return None;
    }
    let mut magnitude: u64 = 0;
    for byte in digits.bytes() {
        let digit = ascii_digit(byte)?;
        magnitude = magnitude.checked_mul(10)?.checked_add(u64::from(digit))?;
    }
    let magnitude = i128::from(magnitude);
    Some(if negative { -magnitude } else { magnitude })
}

fn ascii_digit(byte: u8) -> Option<u8> {
    byte.is_ascii_digit().then(|| byte.wrapping_sub(b'0'))
}

/// Standard padded base64; white space anywhere is ignored.
fn decode_base64(text: &str) -> Option<Vec<u8>> {
    if text.contains(is_xsd_space) {
        let compact: String = text.chars().filter(|c| !is_xsd_space(*c)).collect();
        BASE64.decode(compact).ok()
    } else {
        BASE64.decode(text).ok()
    }
}

fn decode_hex(text: &str) -> Option<Vec<u8>> {
    let bytes = text.as_bytes();
    if bytes.len() % 2 != 0 {
        return None;
    }
    bytes
        .chunks_exact(2)
        .map(|pair| match pair {
            [high, low] => Some((hex_digit(*high)? << 4) | hex_digit(*low)?),
            _ => None,
        })
        .collect()
}

fn hex_digit(byte: u8) -> Option<u8> {
    char::from(byte)
        .to_digit(16)
        .and_then(|d| u8::try_from(d).ok())
}

fn write_hex(f: &mut impl fmt::Write, bytes: &[u8]) -> fmt::Result {
    bytes.iter().try_for_each(|byte| write!(f, "{byte:02X}"))
}

/// Serde support: binary values as base64 text.
mod base64_text {
    use base64::Engine as _;

    use super::{BASE64, Deserialize, Deserializer, Serializer, String, Vec, de};

    pub(super) fn serialize<S: Serializer>(bytes: &[u8], serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&BASE64.encode(bytes))
    }

    pub(super) fn deserialize<'de, D: Deserializer<'de>>(
        deserializer: D,
    ) -> Result<Vec<u8>, D::Error> {
        let text = String::deserialize(deserializer)?;
        BASE64
            .decode(&text)
            .map_err(|_| de::Error::invalid_value(de::Unexpected::Str(&text), &"base64 text"))
    }
}

/// Serde support: binary values as hex text.
mod hex_text {
    use super::{Deserialize, Deserializer, Serializer, String, Vec, de};

    pub(super) fn serialize<S: Serializer>(bytes: &[u8], serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(&super::HexDisplay(bytes))
    }

    pub(super) fn deserialize<'de, D: Deserializer<'de>>(
        deserializer: D,
    ) -> Result<Vec<u8>, D::Error> {
        let text = String::deserialize(deserializer)?;
        super::decode_hex(&text)
            .ok_or_else(|| de::Error::invalid_value(de::Unexpected::Str(&text), &"hex text"))
    }
}

struct HexDisplay<'a>(&'a [u8]);

impl fmt::Display for HexDisplay<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write_hex(f, self.0)
    }
}

/// Serde visitor for types stored as their canonical text.
struct TextVisitor<T>(PhantomData<T>);

impl<T: FromStr> de::Visitor<'_> for TextVisitor<T> {
    type Value = T;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a TR-106 literal")
    }

    fn visit_str<E: de::Error>(self, text: &str) -> Result<T, E> {
        text.parse()
            .map_err(|_| E::invalid_value(de::Unexpected::Str(text), &self))
    }
}

// ---------------------------------------------------------------------------------------------
// Binary newtype (for typed keys)

/// The bytes of a `base64` or `hexBinary` parameter: the Rust type of typed keys for both.
///
/// Which text encoding a parameter uses is a property of its schema, not of the data, so one
/// type serves both. It is a newtype so that bytes are not confused with a list (`Vec<T>`).
/// Its [`TypedValue::into_value`](crate::key::TypedValue::into_value) gives
/// [`Value::Base64`]; [`Value::conform`] relabels that to [`Value::HexBinary`] for a
/// `hexBinary` parameter.
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Binary(pub Vec<u8>);

impl From<Vec<u8>> for Binary {
    fn from(bytes: Vec<u8>) -> Self {
        Self(bytes)
    }
}

impl From<Binary> for Vec<u8> {
    fn from(binary: Binary) -> Self {
        binary.0
    }
}

impl AsRef<[u8]> for Binary {
    fn as_ref(&self) -> &[u8] {
        &self.0
    }
}

// ---------------------------------------------------------------------------------------------
// dateTime

const MICROS_PER_SECOND: u64 = 1_000_000;
const MICROS_PER_DAY: u64 = MICROS_PER_SECOND * 86_400;
/// 1970-01-01T00:00:00Z.
const UNIX_EPOCH_MICROS: u64 = days_since_year_one(1970, 1, 1) * MICROS_PER_DAY;
/// 1000-01-01T00:00:00Z: earlier values are relative to boot (TR-106).
const ABSOLUTE_START_MICROS: u64 = days_since_year_one(1000, 1, 1) * MICROS_PER_DAY;
/// 10000-01-01T00:00:00Z, the first instant that is not representable.
const END_MICROS: u64 = days_since_year_one(10_000, 1, 1) * MICROS_PER_DAY;

/// A TR-106 `dateTime`: a UTC instant from `0001-01-01T00:00:00Z` to
/// `9999-12-31T23:59:59.999999Z`, with microsecond resolution.
///
/// TR-106 gives some of these values a special meaning:
/// - [`DateTime::UNKNOWN`], `0001-01-01T00:00:00Z`, is "unknown time" ([`is_unknown`]);
/// - any other value before `1000-01-01T00:00:00Z` is a time relative to boot, counted from
///   the unknown time: `0001-01-01T00:01:00Z` is one minute after boot ([`is_relative`],
///   [`since_boot_micros`]).
///
/// Values order by instant. The canonical text is `YYYY-MM-DDThh:mm:ss[.ffffff]Z` with no
/// trailing zeros in the fraction. Parsing accepts the xsd form with `Z`, a `±hh:mm` offset
/// (converted to UTC) or no zone (taken as UTC); it keeps at most six fraction digits
/// (further digits are checked, then dropped) and rejects `24:00:00`, leap seconds, years
/// outside `0001..=9999` and instants that an offset moves outside them. Nothing here reads a
/// clock: callers pass the wall clock in, e.g. to [`DateTime::from_unix_seconds`].
///
/// [`is_unknown`]: DateTime::is_unknown
/// [`is_relative`]: DateTime::is_relative
/// [`since_boot_micros`]: DateTime::since_boot_micros
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct DateTime {
    /// Microseconds since `0001-01-01T00:00:00Z`, below [`END_MICROS`].
    micros: u64,
}

impl DateTime {
    /// The TR-106 unknown time, `0001-01-01T00:00:00Z`.
    pub const UNKNOWN: Self = Self { micros: 0 };

    /// Parses an xsd `dateTime` literal (see the type docs for what is accepted).
    pub fn parse(text: &str) -> Option<Self> {
        let b = text.as_bytes();
        let year = fixed_digits(b, 0, 4)?;
        let month = fixed_digits(b, 5, 2)?;
        let day = fixed_digits(b, 8, 2)?;
        let hour = fixed_digits(b, 11, 2)?;
        let minute = fixed_digits(b, 14, 2)?;
        let second = fixed_digits(b, 17, 2)?;
        let separators = [(4, b'-'), (7, b'-'), (10, b'T'), (13, b':'), (16, b':')];
        if separators.iter().any(|&(i, c)| b.get(i) != Some(&c)) {
            return None;
        }
        let mut rest = b.get(19..)?;
        let mut microsecond = 0;
        if let [b'.', tail @ ..] = rest {
            let count = tail.iter().take_while(|c| c.is_ascii_digit()).count();
            if count == 0 {
                return None;
            }
            let (fraction, after) = tail.split_at_checked(count)?;
            let mut weight = 100_000;
            for &c in fraction.iter().take(6) {
                microsecond += u32::from(ascii_digit(c)?) * weight;
                weight /= 10;
            }
            rest = after;
        }
        let offset_minutes: i64 = match rest {
            [] | [b'Z'] => 0,
            [sign @ (b'+' | b'-'), h1, h2, b':', m1, m2] => {
                let hours = two_digits(*h1, *h2)?;
                let minutes = two_digits(*m1, *m2)?;
                if hours > 14 || minutes > 59 || (hours == 14 && minutes != 0) {
                    return None;
                }
                let total = i64::from(hours * 60 + minutes);
                if *sign == b'-' { -total } else { total }
            }
            _ => return None,
        };
        let local = Self::from_parts(
            u16::try_from(year).ok()?,
            u8::try_from(month).ok()?,
            u8::try_from(day).ok()?,
            u8::try_from(hour).ok()?,
            u8::try_from(minute).ok()?,
            u8::try_from(second).ok()?,
            microsecond,
        )?;
        let utc = i64::try_from(local.micros)
            .ok()?
            .checked_sub(offset_minutes.checked_mul(60_000_000)?)?;
        Self::from_micros(u64::try_from(utc).ok()?)
    }

    /// The instant with these UTC calendar fields, if they are valid (year `1..=9999`,
    /// hour `0..=23`, no leap second, microsecond `< 1_000_000`).
    pub fn from_parts(
        year: u16,
        month: u8,
        day: u8,
        hour: u8,
        minute: u8,
        second: u8,
        microsecond: u32,
    ) -> Option<Self> {
        let (year, month, day) = (u32::from(year), u32::from(month), u32::from(day));
        let valid = (1..=9999).contains(&year)
            && (1..=12).contains(&month)
            && (1..=days_in_month(year, month)).contains(&day)
            && hour < 24
            && minute < 60
            && second < 60
            && u64::from(microsecond) < MICROS_PER_SECOND;
        if !valid {
            return None;
        }
        let seconds = u64::from(hour) * 3600 + u64::from(minute) * 60 + u64::from(second);
        Self::from_micros(
            days_since_year_one(year, month, day) * MICROS_PER_DAY
                + seconds * MICROS_PER_SECOND
                + u64::from(microsecond),
        )
    }

    /// The instant `seconds` after the Unix epoch (negative: before it). `None` before
    /// `1000-01-01T00:00:00Z` (such values would read as relative to boot) or after year 9999.
    pub fn from_unix_seconds(seconds: i64) -> Option<Self> {
        Self::from_unix_micros(seconds.checked_mul(1_000_000)?)
    }

    /// The instant `micros` microseconds after the Unix epoch; see
    /// [`DateTime::from_unix_seconds`].
    pub fn from_unix_micros(micros: i64) -> Option<Self> {
        let epoch = i64::try_from(UNIX_EPOCH_MICROS).ok()?;
        let since_year_one = u64::try_from(micros.checked_add(epoch)?).ok()?;
        if since_year_one < ABSOLUTE_START_MICROS {
            return None;
        }
        Self::from_micros(since_year_one)
    }

    /// Seconds since the Unix epoch, rounded down; `None` for the unknown time and for times
    /// relative to boot.
    pub fn unix_seconds(&self) -> Option<i64> {
        Some(self.unix_micros()?.div_euclid(1_000_000))
    }

    /// Microseconds since the Unix epoch; `None` for the unknown time and for times relative
    /// to boot.
    pub fn unix_micros(&self) -> Option<i64> {
        if self.micros < ABSOLUTE_START_MICROS {
            return None;
        }
        i64::try_from(self.micros)
            .ok()?
            .checked_sub(i64::try_from(UNIX_EPOCH_MICROS).ok()?)
    }

    /// The value meaning "`micros` microseconds after boot" (TR-106 relative time); `None`
    /// when that reaches year 1000. Zero gives the unknown time, which TR-106 does not
    /// distinguish from "just booted".
    pub fn since_boot(micros: u64) -> Option<Self> {
        (micros < ABSOLUTE_START_MICROS).then_some(Self { micros })
    }

    /// For a time relative to boot ([`DateTime::is_relative`]), the microseconds since boot.
    pub fn since_boot_micros(&self) -> Option<u64> {
        self.is_relative().then_some(self.micros)
    }

    /// Whether this is the unknown time `0001-01-01T00:00:00Z`.
    pub fn is_unknown(&self) -> bool {
        self.micros == 0
    }

    /// Whether this is a time relative to boot: before `1000-01-01T00:00:00Z` but not the
    /// unknown time.
    pub fn is_relative(&self) -> bool {
        self.micros != 0 && self.micros < ABSOLUTE_START_MICROS
    }

    fn from_micros(micros: u64) -> Option<Self> {
        (micros < END_MICROS).then_some(Self { micros })
    }
}

impl fmt::Display for DateTime {
    /// Writes the canonical text `YYYY-MM-DDThh:mm:ss[.ffffff]Z`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let (year, month, day) = civil_from_days(self.micros / MICROS_PER_DAY);
        let of_day = self.micros % MICROS_PER_DAY;
        let seconds = of_day / MICROS_PER_SECOND;
        write!(
            f,
            "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}",
            seconds / 3600,
            seconds / 60 % 60,
            seconds % 60
        )?;
        let mut fraction = of_day % MICROS_PER_SECOND;
        if fraction != 0 {
            let mut width = 6;
            while fraction % 10 == 0 {
                fraction /= 10;
                width -= 1;
            }
            write!(f, ".{fraction:0width$}")?;
        }
        f.write_str("Z")
    }
}

/// `Debug`, `FromStr` and serde through the canonical text, for the value types whose wire
/// form is text ([`DateTime`], [`Decimal`]).
macro_rules! text_form {
    ($type:ident, $base:expr) => {
        impl fmt::Debug for $type {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                write!(f, concat!(stringify!($type), "({})"), self)
            }
        }

        impl FromStr for $type {
            type Err = ValueRule;

            fn from_str(text: &str) -> Result<Self, ValueRule> {
                Self::parse(text).ok_or(ValueRule::Type($base))
            }
        }

        impl Serialize for $type {
            fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
                serializer.collect_str(self)
            }
        }

        impl<'de> Deserialize<'de> for $type {
            fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
                deserializer.deserialize_str(TextVisitor(PhantomData))
            }
        }
    };
}

impl Default for DateTime {
    /// The unknown time.
    fn default() -> Self {
        Self::UNKNOWN
    }
}

text_form!(DateTime, BaseType::DateTime);

/// `len` ASCII digits at `b[start..]`.
fn fixed_digits(b: &[u8], start: usize, len: usize) -> Option<u32> {
    b.get(start..start.checked_add(len)?)?
        .iter()
        .try_fold(0u32, |acc, &c| Some(acc * 10 + u32::from(ascii_digit(c)?)))
}

fn two_digits(high: u8, low: u8) -> Option<u32> {
    Some(u32::from(ascii_digit(high)?) * 10 + u32::from(ascii_digit(low)?))
}

const fn is_leap_year(year: u32) -> bool {
    year % 4 == 0 && (year % 100 != 0 || year % 400 == 0)
}

const fn days_in_month(year: u32, month: u32) -> u32 {
    match month {
        1 | 3 | 5 | 7 | 8 | 10 | 12 => 31,
        4 | 6 | 9 | 11 => 30,
        2 if is_leap_year(year) => 29,
        2 => 28,
        _ => 0,
    }
}

/// Days from 0001-01-01 (proleptic Gregorian) to the given date; fields must be valid.
const fn days_since_year_one(year: u32, month: u32, day: u32) -> u64 {
    let before_month = match month {
        2 => 31,
        3 => 59,
        4 => 90,
        5 => 120,
        6 => 151,
        7 => 181,
        8 => 212,
        9 => 243,
        10 => 273,
        11 => 304,
        12 => 334,
        _ => 0,
    };
    let leap_day = if month > 2 && is_leap_year(year) {
        1
    } else {
        0
    };
    let years = year.saturating_sub(1) as u64;
    years * 365 + years / 4 - years / 100
        + years / 400
        + (before_month + leap_day) as u64
        + day.saturating_sub(1) as u64
}

/// The date `days` days after 0001-01-01: (year, month, day).
fn civil_from_days(days: u64) -> (u64, u32, u64) {
    const DAYS_PER_400_YEARS: u64 = 146_097;
    const DAYS_PER_100_YEARS: u64 = 36_524;
    const DAYS_PER_4_YEARS: u64 = 1_461;
    let cycles_400 = days / DAYS_PER_400_YEARS;
    let mut rest = days % DAYS_PER_400_YEARS;
    // The last century of a 400-year cycle and the last year of a 4-year cycle are one day
    // longer, hence the `min`.
    let cycles_100 = (rest / DAYS_PER_100_YEARS).min(3);
    rest -= cycles_100 * DAYS_PER_100_YEARS;
    let cycles_4 = rest / DAYS_PER_4_YEARS;
    rest -= cycles_4 * DAYS_PER_4_YEARS;
    let years = (rest / 365).min(3);
    rest -= years * 365;
    let year = cycles_400 * 400 + cycles_100 * 100 + cycles_4 * 4 + years + 1;
    let year_u32 = u32::try_from(year).unwrap_or(u32::MAX);
    for month in 1..=12 {
        let length = u64::from(days_in_month(year_u32, month));
        if rest < length {
            return (year, month, rest + 1);
        }
        rest -= length;
    }
    // Unreachable for day counts of valid dates; keeps the function total.
    (year, 12, rest + 1)
}

// ---------------------------------------------------------------------------------------------
// decimal

/// Most significant digits a [`Decimal`] holds.
const DECIMAL_DIGITS: u32 = 38;
/// `10^38`: every mantissa's magnitude is below this.
const DECIMAL_LIMIT: u128 = 10u128.pow(DECIMAL_DIGITS);

/// The high and low halves of `m` (see [`Decimal::mantissa`], which joins them).
const fn halves(m: i128) -> (i64, u64) {
    ((m >> 64) as i64, m as u64)
}

/// A TR-106 `decimal`: an exact decimal number `mantissa × 10^-scale` with up to 38
/// significant digits and up to 38 fraction digits.
///
/// The representation is normalised (no trailing zeros in the fraction, zero has scale 0), so
/// `==` and the total order [`Ord`] agree with numeric value. The canonical text has no
/// exponent and no superfluous zeros: `0`, `-1.5`, `100`, `0.001` (XML Schema 1.1 canonical
/// form; note that `1.0` becomes `1`). Parsing accepts the xsd form `[+-]?(d+(.d*)?|.d+)`.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct Decimal {
    /// The mantissa's high and low halves: an `i128` field would raise the alignment, and
    /// with it the size of every [`Value`], from 8 to 16 bytes (48 instead of 32).
    mantissa: (i64, u64),
    scale: u8,
}

impl Decimal {
    /// Zero.
    pub const ZERO: Self = Self {
        mantissa: (0, 0),
        scale: 0,
    };

    /// `mantissa × 10^-scale`, normalised; `None` if it needs more than 38 significant digits
    /// or more than 38 fraction digits.
    pub fn new(mantissa: i128, scale: u32) -> Option<Self> {
        if mantissa == 0 {
            return Some(Self::ZERO);
        }
        let (mut mantissa, mut scale) = (mantissa, scale);
        while scale > 0 && mantissa % 10 == 0 {
            mantissa /= 10;
            scale -= 1;
        }
        if scale > DECIMAL_DIGITS || mantissa.unsigned_abs() >= DECIMAL_LIMIT {
            return None;
        }
        Some(Self {
            mantissa: halves(mantissa),
            scale: u8::try_from(scale).ok()?,
        })
    }

    /// The unscaled digits (normalised: not a multiple of 10 unless the scale is 0).
    pub const fn mantissa(&self) -> i128 {
        // Joins the halves that `halves` split.
        ((self.mantissa.0 as i128) << 64) | self.mantissa.1 as i128
    }

    /// The number of fraction digits.
    pub const fn scale(&self) -> u32 {
        self.scale as u32
    }

    /// Parses an xsd `decimal` literal; `None` if malformed or too precise.
    pub fn parse(text: &str) -> Option<Self> {
        let (negative, body) = match text.as_bytes().first()? {
            b'-' => (true, text.get(1..)?),
            b'+' => (false, text.get(1..)?),
            _ => (false, text),
        };
        let (integer, fraction) = body.split_once('.').unwrap_or((body, ""));
        let all_digits = |s: &str| s.bytes().all(|c| c.is_ascii_digit());
        if (integer.is_empty() && fraction.is_empty())
            || !all_digits(integer)
            || !all_digits(fraction)
        {
            return None;
        }
        let integer = integer.trim_start_matches('0');
        let fraction = fraction.trim_end_matches('0');
        let digits = u32::try_from(integer.len().checked_add(fraction.len())?).ok()?;
        if digits > DECIMAL_DIGITS {
            return None;
        }
        let mut mantissa: i128 = 0;
        for c in integer.bytes().chain(fraction.bytes()) {
            mantissa = mantissa
                .checked_mul(10)?
                .checked_add(i128::from(ascii_digit(c)?))?;
        }
        let scale = u32::try_from(fraction.len()).ok()?;
        Self::new(if negative { -mantissa } else { mantissa }, scale)
    }
}

impl Ord for Decimal {
    fn cmp(&self, other: &Self) -> Ordering {
        if self.scale == other.scale {
            return self.mantissa().cmp(&other.mantissa());
        }
        let (coarse, fine, reversed) = if self.scale < other.scale {
            (self, other, false)
        } else {
            (other, self, true)
        };
        let shift = u32::from(fine.scale - coarse.scale);
        let order = match 10i128
            .checked_pow(shift)
            .and_then(|factor| coarse.mantissa().checked_mul(factor))
        {
            Some(scaled) => scaled.cmp(&fine.mantissa()),
            // The scaled magnitude exceeds i128, hence `fine`'s: the sign decides.
            None => coarse.mantissa().cmp(&0),
        };
        if reversed { order.reverse() } else { order }
    }
}

impl PartialOrd for Decimal {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl fmt::Display for Decimal {
    /// Writes the canonical text (no exponent, no superfluous zeros).
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.mantissa() < 0 {
            f.write_str("-")?;
        }
        let digits = self.mantissa().unsigned_abs().to_string();
        let scale = usize::from(self.scale);
        if scale == 0 {
            return f.write_str(&digits);
        }
        match digits.len().checked_sub(scale).filter(|&n| n > 0) {
            Some(integer_len) => {
                let (integer, fraction) = digits.split_at_checked(integer_len).ok_or(fmt::Error)?;
                write!(f, "{integer}.{fraction}")
            }
            None => {
                let zeros = scale.saturating_sub(digits.len());
                write!(f, "0.{:0>zeros$}{digits}", "")
            }
        }
    }
}

impl Default for Decimal {
    /// Zero.
    fn default() -> Self {
        Self::ZERO
    }
}

text_form!(Decimal, BaseType::Decimal);

macro_rules! decimal_from_integer {
    ($($t:ty),*) => {$(
        impl From<$t> for Decimal {
            fn from(n: $t) -> Self {
                // Every 64-bit integer has fewer than 38 digits and is normalised at scale 0.
                Self { mantissa: halves(i128::from(n)), scale: 0 }
            }
        }
    )*};
}

decimal_from_integer!(i32, u32, i64, u64);

#[cfg(test)]
mod tests {
    use super::*;
    use crate::schema::{
        DefaultKind, DefaultValue, Facets, ListFacet, Protocol, Rare, Str, StrList,
    };
    use proptest::prelude::*;

    const fn syntax(base: BaseType) -> Syntax {
        Syntax::of(base)
    }

    const fn list_of(
        base: BaseType,
        min_items: u32,
        max_items: Option<u32>,
        max_length: Option<u32>,
    ) -> Syntax {
        Syntax {
            list: Rare::of(ListFacet {
                min_items,
                max_items,
                max_length,
            }),
            ..syntax(base)
        }
    }

    fn parse(text: &str, base: BaseType) -> Result<Value, ValueRule> {
        Value::parse(text, &syntax(base))
    }

    fn text(text: &str, base: BaseType) -> String {
        parse(text, base).unwrap().canonical_text()
    }

    fn dt(text: &str) -> DateTime {
        DateTime::parse(text).unwrap_or_else(|| panic!("{text} should parse"))
    }

    fn dec(text: &str) -> Decimal {
        Decimal::parse(text).unwrap_or_else(|| panic!("{text} should parse"))
    }

    // --- integers and booleans ---

    #[test]
    fn int_boundaries() {
        assert_eq!(
            parse("-2147483648", BaseType::Int),
            Ok(Value::Int(i32::MIN))
        );
        assert_eq!(parse("2147483647", BaseType::Int), Ok(Value::Int(i32::MAX)));
        assert_eq!(
            parse("2147483648", BaseType::Int),
            Err(ValueRule::Type(BaseType::Int))
        );
        assert_eq!(
            parse("-2147483649", BaseType::Int),
            Err(ValueRule::Type(BaseType::Int))
        );
        assert_eq!(parse("-0", BaseType::Int), Ok(Value::Int(0)));
        assert_eq!(parse("+17", BaseType::Int), Ok(Value::Int(17)));
        assert_eq!(parse("007", BaseType::Int), Ok(Value::Int(7)));
        assert_eq!(text("-007", BaseType::Int), "-7");
    }

    #[test]
    fn unsigned_boundaries() {
        assert_eq!(
            parse("4294967295", BaseType::UnsignedInt),
            Ok(Value::UnsignedInt(u32::MAX))
        );
        let overflow = Err(ValueRule::Type(BaseType::UnsignedInt));
        assert_eq!(parse("4294967296", BaseType::UnsignedInt), overflow);
        assert_eq!(parse("-1", BaseType::UnsignedInt), overflow);
        // xsd allows a minus sign on zero for the unsigned types.
        assert_eq!(
            parse("-0", BaseType::UnsignedInt),
            Ok(Value::UnsignedInt(0))
        );
        assert_eq!(
            parse("+0", BaseType::UnsignedInt),
            Ok(Value::UnsignedInt(0))
        );
        assert_eq!(
            parse("18446744073709551615", BaseType::UnsignedLong),
            Ok(Value::UnsignedLong(u64::MAX))
        );
        assert!(parse("18446744073709551616", BaseType::UnsignedLong).is_err());
        assert!(parse("99999999999999999999999999999", BaseType::UnsignedLong).is_err());
        assert_eq!(
            parse("0000000000000000000000000000001", BaseType::UnsignedLong),
            Ok(Value::UnsignedLong(1))
        );
    }

    #[test]
    fn long_boundaries() {
        assert_eq!(
            parse("-9223372036854775808", BaseType::Long),
            Ok(Value::Long(i64::MIN))
        );
        assert_eq!(
            parse("9223372036854775807", BaseType::Long),
            Ok(Value::Long(i64::MAX))
        );
        assert!(parse("9223372036854775808", BaseType::Long).is_err());
        assert!(parse("-9223372036854775809", BaseType::Long).is_err());
    }

    #[test]
    fn malformed_numbers() {
        for bad in [
            "", " ", "+", "-", "1 2", "1_000", "0x10", "1e3", "1.0", "--1", "+-1", "١",
        ] {
            for base in [
                BaseType::Int,
                BaseType::UnsignedInt,
                BaseType::Long,
                BaseType::UnsignedLong,
            ] {
                assert_eq!(
                    parse(bad, base),
                    Err(ValueRule::Type(base)),
                    "{bad:?} as {base:?}"
                );
            }
        }
        // Surrounding white space is collapsed away (xsd whiteSpace="collapse").
        assert_eq!(parse(" 42\n", BaseType::Int), Ok(Value::Int(42)));
    }

    #[test]
    fn booleans() {
        for t in ["true", "TRUE", "True", "1", " true "] {
            assert_eq!(parse(t, BaseType::Boolean), Ok(Value::Boolean(true)), "{t}");
        }
        for f in ["false", "FALSE", "0"] {
            assert_eq!(
                parse(f, BaseType::Boolean),
                Ok(Value::Boolean(false)),
                "{f}"
            );
        }
        for bad in ["", "yes", "2", "01", "t", "truee"] {
            assert!(parse(bad, BaseType::Boolean).is_err(), "{bad}");
        }
        assert_eq!(text("1", BaseType::Boolean), "true");
        assert_eq!(text("0", BaseType::Boolean), "false");
    }

    #[test]
    fn strings_are_kept_verbatim() {
        assert_eq!(
            parse(" a b ", BaseType::String),
            Ok(Value::String(" a b ".into()))
        );
        assert_eq!(
            parse("", BaseType::String),
            Ok(Value::String(String::new()))
        );
    }

    // --- dateTime ---

    #[test]
    fn date_time_canonical_forms() {
        assert_eq!(
            dt("2024-02-29T12:34:56Z").to_string(),
            "2024-02-29T12:34:56Z"
        );
        assert_eq!(
            dt("2024-02-29T12:34:56").to_string(),
            "2024-02-29T12:34:56Z"
        );
        assert_eq!(
            dt("2024-02-29T12:34:56.5Z").to_string(),
            "2024-02-29T12:34:56.5Z"
        );
        assert_eq!(
            dt("2024-02-29T12:34:56.000Z").to_string(),
            "2024-02-29T12:34:56Z"
        );
        assert_eq!(
            dt("2024-02-29T12:34:56.123456Z").to_string(),
            "2024-02-29T12:34:56.123456Z"
        );
        assert_eq!(
            dt("2024-02-29T12:34:56.000010Z").to_string(),
            "2024-02-29T12:34:56.00001Z"
        );
        // Digits beyond microseconds are checked and dropped.
        assert_eq!(
            dt("2024-02-29T12:34:56.1234567891Z").to_string(),
            "2024-02-29T12:34:56.123456Z"
        );
        assert_eq!(
            dt("9999-12-31T23:59:59.999999Z").to_string(),
            "9999-12-31T23:59:59.999999Z"
        );
    }

    #[test]
    fn date_time_offsets_normalise_to_utc() {
        assert_eq!(dt("2024-01-01T01:30:00+01:30"), dt("2024-01-01T00:00:00Z"));
        assert_eq!(dt("2023-12-31T23:00:00-01:00"), dt("2024-01-01T00:00:00Z"));
        assert_eq!(
            dt("2024-03-01T00:30:00+01:00").to_string(),
            "2024-02-29T23:30:00Z"
        );
        assert_eq!(
            dt("2024-01-01T00:00:00+14:00").to_string(),
            "2023-12-31T10:00:00Z"
        );
        assert_eq!(dt("2024-01-01T00:00:00-00:00"), dt("2024-01-01T00:00:00Z"));
        for bad in [
            "2024-01-01T00:00:00+14:01",
            "2024-01-01T00:00:00+15:00",
            "2024-01-01T00:00:00+01:60",
            "2024-01-01T00:00:00+0100",
            "2024-01-01T00:00:00+01",
            "2024-01-01T00:00:00z",
            "2024-01-01T00:00:00ZZ",
            // Offsets that leave the representable years.
            "0001-01-01T00:00:00+01:00",
            "9999-12-31T23:00:00-02:00",
        ] {
            assert_eq!(DateTime::parse(bad), None, "{bad}");
        }
    }

    #[test]
    fn date_time_calendar_rules() {
        assert!(DateTime::parse("2000-02-29T00:00:00Z").is_some()); // divisible by 400
        assert!(DateTime::parse("2024-02-29T00:00:00Z").is_some());
        for bad in [
            "1900-02-29T00:00:00Z", // divisible by 100
            "2023-02-29T00:00:00Z",
            "2023-02-30T00:00:00Z",
            "2023-04-31T00:00:00Z",
            "2023-13-01T00:00:00Z",
            "2023-00-01T00:00:00Z",
            "2023-01-00T00:00:00Z",
            "2023-01-32T00:00:00Z",
            "2023-01-01T24:00:00Z",
            "2023-01-01T23:60:00Z",
            "2023-12-31T23:59:60Z",
            "0000-01-01T00:00:00Z",
            "-2023-01-01T00:00:00Z",
            "12023-01-01T00:00:00Z",
            "2023-1-01T00:00:00Z",
            "2023-01-01 00:00:00Z",
            "2023-01-01T00:00Z",
            "2023-01-01T00:00:00.Z",
            "2023-01-01T00:00:00.5.5Z",
            "2023-01-01",
            "",
            "2023-01-01T00:00:00Z ",
        ] {
            assert_eq!(DateTime::parse(bad), None, "{bad}");
        }
        // As a Value, surrounding white space is ignored.
        assert!(parse(" 2023-01-01T00:00:00Z ", BaseType::DateTime).is_ok());
    }

    #[test]
    fn date_time_unknown_and_relative() {
        let unknown = dt("0001-01-01T00:00:00Z");
        assert_eq!(unknown, DateTime::UNKNOWN);
        assert!(unknown.is_unknown() && !unknown.is_relative());
        assert_eq!(unknown.unix_seconds(), None);
        assert_eq!(unknown.to_string(), "0001-01-01T00:00:00Z");

        let minute = dt("0001-01-01T00:01:00Z");
        assert!(minute.is_relative() && !minute.is_unknown());
        assert_eq!(minute.since_boot_micros(), Some(60_000_000));
        assert_eq!(DateTime::since_boot(60_000_000), Some(minute));
        assert_eq!(minute.unix_seconds(), None);

        let long_uptime = dt("0001-02-03T04:05:06.7Z");
        assert_eq!(
            long_uptime.since_boot_micros(),
            Some(((33 * 86_400 + 4 * 3600 + 5 * 60 + 6) * 1_000_000) + 700_000)
        );
        assert!(dt("0999-12-31T23:59:59.999999Z").is_relative());
        assert_eq!(DateTime::default(), DateTime::UNKNOWN);
        assert_eq!(format!("{unknown:?}"), "DateTime(0001-01-01T00:00:00Z)");
        let absolute = dt("1000-01-01T00:00:00Z");
        assert!(!absolute.is_relative() && !absolute.is_unknown());
        assert_eq!(DateTime::since_boot(absolute.micros), None);
        assert_eq!(
            Value::zero(BaseType::DateTime),
            Value::DateTime(DateTime::UNKNOWN)
        );
    }

    #[test]
    fn date_time_unix_conversions() {
        let cases = [
            ("1970-01-01T00:00:00Z", 0),
            ("2000-01-01T00:00:00Z", 946_684_800),
            ("2024-12-31T23:59:59Z", 1_735_689_599),
            ("2038-01-19T03:14:07Z", 2_147_483_647),
            ("9999-12-31T23:59:59Z", 253_402_300_799),
            ("1000-01-01T00:00:00Z", -30_610_224_000),
            ("1969-12-31T23:59:59Z", -1),
        ];
        for (text, seconds) in cases {
            assert_eq!(dt(text).unix_seconds(), Some(seconds), "{text}");
            assert_eq!(
                DateTime::from_unix_seconds(seconds),
                Some(dt(text)),
                "{text}"
            );
        }
        assert_eq!(dt("1969-12-31T23:59:59.5Z").unix_seconds(), Some(-1));
        assert_eq!(dt("1969-12-31T23:59:59.5Z").unix_micros(), Some(-500_000));
        assert_eq!(
            DateTime::from_unix_micros(1_500_000).unwrap().to_string(),
            "1970-01-01T00:00:01.5Z"
        );
        assert_eq!(DateTime::from_unix_seconds(253_402_300_800), None);
        assert_eq!(DateTime::from_unix_seconds(-30_610_224_001), None);
        assert_eq!(DateTime::from_unix_seconds(i64::MAX), None);
        assert_eq!(DateTime::from_unix_micros(i64::MIN), None);
    }

    #[test]
    fn date_time_order() {
        assert!(dt("2024-01-01T00:00:00Z") < dt("2024-01-01T00:00:00.000001Z"));
        let a = Value::DateTime(dt("2024-01-01T00:00:00Z"));
        let b = Value::DateTime(dt("2025-01-01T00:00:00Z"));
        let relative = Value::DateTime(dt("0001-01-01T00:01:00Z"));
        let unknown = Value::DateTime(DateTime::UNKNOWN);
        assert_eq!(a.order(&b), Some(Ordering::Less));
        assert_eq!(a.order(&relative), None);
        assert_eq!(a.order(&unknown), None);
        assert_eq!(relative.order(&relative), Some(Ordering::Equal));
    }

    // --- binary ---

    #[test]
    fn base64_values() {
        assert_eq!(
            parse("Zm9v", BaseType::Base64),
            Ok(Value::Base64(b"foo".to_vec()))
        );
        assert_eq!(
            parse("Zm8=", BaseType::Base64),
            Ok(Value::Base64(b"fo".to_vec()))
        );
        assert_eq!(
            parse("Zg==", BaseType::Base64),
            Ok(Value::Base64(b"f".to_vec()))
        );
        assert_eq!(parse("", BaseType::Base64), Ok(Value::Base64(Vec::new())));
        // Line-wrapped base64 from MIME-style encoders.
        assert_eq!(
            parse("Zm9v\r\nYmFy\n", BaseType::Base64),
            Ok(Value::Base64(b"foobar".to_vec()))
        );
        let invalid = Err(ValueRule::Type(BaseType::Base64));
        for bad in [
            "Zm8", "Zg", "Zm8==", "Zg=", "Z", "Zm9v!", "Zm-v", "Zm_v", "Zh==", "=Zm8", "Zm=8",
        ] {
            assert_eq!(parse(bad, BaseType::Base64), invalid, "{bad}");
        }
        assert_eq!(text("Zm8=", BaseType::Base64), "Zm8=");
    }

    #[test]
    fn conform_relabels_binary() {
        let hex = syntax(BaseType::HexBinary);
        assert_eq!(
            Value::Base64(vec![1]).conform(&hex),
            Value::HexBinary(vec![1])
        );
        assert_eq!(
            Value::HexBinary(vec![1]).conform(&syntax(BaseType::Base64)),
            Value::Base64(vec![1])
        );
        let hex_list = list_of(BaseType::HexBinary, 0, None, None);
        let conformed = Value::List(vec![Value::Base64(vec![0xAB])]).conform(&hex_list);
        assert_eq!(conformed.canonical_text(), "AB");
        assert_eq!(validate(&conformed, &hex_list), Ok(()));
        assert_eq!(
            validate(&Value::Base64(vec![1]), &hex),
            Err(ValueRule::Type(BaseType::HexBinary))
        );
        assert_eq!(
            Value::Base64(vec![1]).conform(&syntax(BaseType::String)),
            Value::Base64(vec![1])
        );
        assert_eq!(Value::Int(1).conform(&hex), Value::Int(1));
    }

    #[test]
    fn hex_binary_values() {
        assert_eq!(
            parse("00ff7F", BaseType::HexBinary),
            Ok(Value::HexBinary(vec![0, 255, 127]))
        );
        assert_eq!(
            parse("", BaseType::HexBinary),
            Ok(Value::HexBinary(Vec::new()))
        );
        assert_eq!(text("deadBEEF", BaseType::HexBinary), "DEADBEEF");
        for bad in ["0", "abc", "0g", "0x00", "00 11", "+0"] {
            assert_eq!(
                parse(bad, BaseType::HexBinary),
                Err(ValueRule::Type(BaseType::HexBinary)),
                "{bad}"
            );
        }
    }

    // --- decimal ---

    #[test]
    fn decimal_canonical_forms() {
        for (input, canonical) in [
            ("0", "0"),
            ("-0", "0"),
            ("+0.000", "0"),
            (".5", "0.5"),
            ("-.5", "-0.5"),
            ("1.", "1"),
            ("1.0", "1"),
            ("001.2300", "1.23"),
            ("100", "100"),
            ("-100.00", "-100"),
            ("0.001", "0.001"),
            ("-12345.678", "-12345.678"),
            (
                "99999999999999999999999999999999999999",
                "99999999999999999999999999999999999999",
            ),
            (
                "0.00000000000000000000000000000000000001",
                "0.00000000000000000000000000000000000001",
            ),
        ] {
            assert_eq!(dec(input).to_string(), canonical, "{input}");
        }
        for bad in [
            "", ".", "-", "+", "1e5", "1.2.3", "1,5", " 1", "0x1", "1 .5", "--1", "NaN", "inf",
        ] {
            assert_eq!(Decimal::parse(bad), None, "{bad}");
        }
        // 39 significant digits or 39 fraction digits do not fit.
        assert_eq!(
            Decimal::parse("999999999999999999999999999999999999999"),
            None
        );
        assert_eq!(
            Decimal::parse("0.000000000000000000000000000000000000001"),
            None
        );
        // Leading and trailing zeros do not count.
        assert!(
            Decimal::parse(
                "000000000000000000000000000000000000000001.1000000000000000000000000000000000"
            )
            .is_some()
        );
    }

    #[test]
    fn decimal_order_and_construction() {
        assert!(dec("1.5") < dec("2"));
        assert!(dec("-1.5") < dec("-1.49"));
        assert!(dec("0.1") > dec("0.09999"));
        assert_eq!(dec("2.50"), dec("2.5"));
        assert_eq!(Decimal::new(2500, 3), Some(dec("2.5")));
        assert_eq!(Decimal::new(0, 4_000_000_000), Some(Decimal::ZERO));
        assert_eq!(Decimal::new(1, 39), None);
        assert_eq!(Decimal::new(i128::MAX, 0), None);
        assert_eq!(Decimal::new(i128::MIN, 5), None);
        // Comparisons where scaling would overflow.
        let big = dec("99999999999999999999999999999999999999");
        let tiny = dec("0.00000000000000000000000000000000000001");
        assert!(big > tiny);
        assert!(dec("-99999999999999999999999999999999999999") < tiny);
        assert_eq!(Decimal::from(u64::MAX).to_string(), "18446744073709551615");
        assert_eq!(Decimal::from(i64::MIN).to_string(), "-9223372036854775808");
        assert_eq!("1.50".parse::<Decimal>(), Ok(dec("1.5")));
        assert_eq!(Decimal::default(), Decimal::ZERO);
        assert_eq!(format!("{:?}", dec("-0.5")), "Decimal(-0.5)");
        assert_eq!(
            "x".parse::<Decimal>(),
            Err(ValueRule::Type(BaseType::Decimal))
        );
    }

    #[test]
    fn decimal_mantissa_halves_round_trip() {
        for m in [
            0,
            1,
            -1,
            10_i128.pow(37) + 7,
            -(10_i128.pow(37) + 7),
            i128::from(u64::MAX) + 1,
            -i128::from(u64::MAX) - 1,
        ] {
            let d = Decimal::new(m, 0).unwrap();
            assert_eq!(d.mantissa(), m, "{m}");
            assert_eq!(d, Decimal::new(m, 0).unwrap());
        }
        assert!(dec("-18446744073709551616") < dec("-18446744073709551615"));
        assert!(dec("18446744073709551616") > dec("18446744073709551615"));
    }

    /// A store row holds one `Value` per parameter: keep it at 32 bytes (four words on 64-bit
    /// targets; an `i128` or another 24-byte payload beside `String` would make it 48).
    #[test]
    fn value_fits_32_bytes() {
        assert!(size_of::<Value>() <= 32);
    }

    // --- lists ---

    #[test]
    fn lists() {
        let uints = list_of(BaseType::UnsignedInt, 0, None, None);
        assert_eq!(Value::parse("", &uints), Ok(Value::List(Vec::new())));
        assert_eq!(
            Value::parse("1,2, 3,\t4", &uints),
            Ok(Value::List(vec![
                Value::UnsignedInt(1),
                Value::UnsignedInt(2),
                Value::UnsignedInt(3),
                Value::UnsignedInt(4)
            ]))
        );
        assert_eq!(
            Value::parse("1,2, 3", &uints).unwrap().canonical_text(),
            "1,2,3"
        );
        assert_eq!(
            Value::parse("1,,2", &uints),
            Err(ValueRule::Type(BaseType::UnsignedInt))
        );
        assert_eq!(
            Value::parse("1,x", &uints),
            Err(ValueRule::Type(BaseType::UnsignedInt))
        );
        assert_eq!(
            Value::parse("1,", &uints),
            Err(ValueRule::Type(BaseType::UnsignedInt))
        );

        let strings = list_of(BaseType::String, 0, None, None);
        assert_eq!(
            Value::parse("a, b c,,d ", &strings),
            Ok(Value::List(vec![
                Value::String("a".into()),
                Value::String("b c".into()),
                Value::String(String::new()),
                Value::String("d ".into()),
            ]))
        );
        assert_eq!(Value::default_for(&strings), Value::List(Vec::new()));
        // Found by the tr181_value fuzz target: whitespace alone was one empty base64 item,
        // whose canonical text is the empty list.
        let blobs = list_of(BaseType::Base64, 0, None, None);
        assert_eq!(Value::parse("\t", &blobs), Ok(Value::List(Vec::new())));
        assert_eq!(Value::parse(" ", &strings), Ok(Value::List(Vec::new())));
        assert_eq!(xsd_type(&uints), "xsd:string");
        assert_eq!(Value::parse("1", &uints).unwrap().xsd_type(), "xsd:string");
    }

    #[test]
    fn list_rules() {
        // Device.DHCPv4.Server.Pool.{i}.DNSServers: list (maxItems 4) of IPv4Address.
        static DNS_SERVERS: Syntax = Syntax {
            data_type: Rare::of(Str::Static("IPv4Address")),
            sizes: Facets::of(&[SizeFacet {
                min_length: None,
                max_length: Some(15),
            }]),
            patterns: Rare::of(StrList::of(&[
                "",
                "((25[0-5]|2[0-4][0-9]|[01]?[0-9]?[0-9])\\.){3}(25[0-5]|2[0-4][0-9]|[01]?[0-9]?[0-9])",
            ])),
            ..list_of(BaseType::String, 0, Some(4), Some(64))
        };
        let check = |text: &str| validate(&Value::parse(text, &DNS_SERVERS).unwrap(), &DNS_SERVERS);
        assert_eq!(check(""), Ok(()));
        assert_eq!(check("192.168.1.1, 8.8.8.8"), Ok(()));
        assert_eq!(check("1.1.1.1,2.2.2.2,3.3.3.3,4.4.4.4"), Ok(()));
        assert_eq!(
            check("1.1.1.1,2.2.2.2,3.3.3.3,4.4.4.4,5.5.5.5"),
            Err(ValueRule::List)
        );
        assert_eq!(check("1.1.1.1,256.1.1.1"), Err(ValueRule::Pattern));
        assert_eq!(check("1.1.1.1,0001.1.1.1"), Err(ValueRule::Pattern));

        // Whole-string maxLength and minItems.
        let short = list_of(BaseType::UnsignedInt, 2, None, Some(7));
        let check = |text: &str| validate(&Value::parse(text, &short).unwrap(), &short);
        assert_eq!(check("1,2,3,4"), Ok(()));
        assert_eq!(
            check("1, 2, 3, 4"),
            Ok(()),
            "length counts the canonical text"
        );
        assert_eq!(check("1,2,3,45"), Err(ValueRule::List));
        assert_eq!(check("1"), Err(ValueRule::List));

        // Items must have the base type, must not be lists or contain commas; scalars are not lists.
        let strings = list_of(BaseType::String, 0, None, None);
        let with_comma = Value::List(vec![Value::String("a,b".into())]);
        assert_eq!(validate(&with_comma, &strings), Err(ValueRule::List));
        let nested = Value::List(vec![Value::List(Vec::new())]);
        assert_eq!(
            validate(&nested, &strings),
            Err(ValueRule::Type(BaseType::String))
        );
        let mixed = Value::List(vec![Value::Int(1)]);
        assert_eq!(
            validate(&mixed, &strings),
            Err(ValueRule::Type(BaseType::String))
        );
        assert_eq!(
            validate(&Value::String("a".into()), &strings),
            Err(ValueRule::Type(BaseType::String))
        );
        assert_eq!(
            validate(&Value::List(Vec::new()), &syntax(BaseType::String)),
            Err(ValueRule::Type(BaseType::String))
        );
    }

    // --- validation ---

    #[test]
    fn range_rule() {
        // Device.WiFi.Radio.{i}.Channel: unsignedInt 1..255.
        let channel = Syntax {
            ranges: Facets::of(&[RangeFacet {
                min: Some(1),
                max: Some(255),
                step: None,
            }]),
            ..syntax(BaseType::UnsignedInt)
        };
        assert_eq!(validate(&Value::UnsignedInt(1), &channel), Ok(()));
        assert_eq!(validate(&Value::UnsignedInt(255), &channel), Ok(()));
        assert_eq!(
            validate(&Value::UnsignedInt(0), &channel),
            Err(ValueRule::Range)
        );
        assert_eq!(
            validate(&Value::UnsignedInt(256), &channel),
            Err(ValueRule::Range)
        );
        assert_eq!(
            validate(&Value::Int(5), &channel),
            Err(ValueRule::Type(BaseType::UnsignedInt))
        );

        // Device.Ethernet.Interface.{i}.MaxBitRate: int, -1 or 0.. (any of two ranges).
        let bit_rate = Syntax {
            ranges: Facets::of(&[
                RangeFacet {
                    min: Some(-1),
                    max: Some(-1),
                    step: None,
                },
                RangeFacet {
                    min: Some(10),
                    max: None,
                    step: None,
                },
            ]),
            ..syntax(BaseType::Int)
        };
        assert_eq!(validate(&Value::Int(-1), &bit_rate), Ok(()));
        assert_eq!(validate(&Value::Int(i32::MAX), &bit_rate), Ok(()));
        assert_eq!(validate(&Value::Int(0), &bit_rate), Err(ValueRule::Range));
        assert_eq!(
            validate(&Value::Int(i32::MIN), &bit_rate),
            Err(ValueRule::Range)
        );

        // A step from min: 100..1000 in steps of 50.
        let stepped = Syntax {
            ranges: Facets::of(&[RangeFacet {
                min: Some(100),
                max: Some(1000),
                step: Some(50),
            }]),
            ..syntax(BaseType::UnsignedLong)
        };
        assert_eq!(validate(&Value::UnsignedLong(150), &stepped), Ok(()));
        assert_eq!(validate(&Value::UnsignedLong(1000), &stepped), Ok(()));
        assert_eq!(
            validate(&Value::UnsignedLong(175), &stepped),
            Err(ValueRule::Range)
        );
        assert_eq!(
            validate(&Value::UnsignedLong(u64::MAX), &stepped),
            Err(ValueRule::Range)
        );

        // Decimals against integer bounds; a step without min counts from 0.
        let latitude = Syntax {
            ranges: Facets::of(&[RangeFacet {
                min: Some(-90),
                max: Some(90),
                step: None,
            }]),
            ..syntax(BaseType::Decimal)
        };
        assert_eq!(validate(&Value::Decimal(dec("-90")), &latitude), Ok(()));
        assert_eq!(
            validate(&Value::Decimal(dec("89.999999")), &latitude),
            Ok(())
        );
        assert_eq!(
            validate(&Value::Decimal(dec("90.000001")), &latitude),
            Err(ValueRule::Range)
        );
        let even = Syntax {
            ranges: Facets::of(&[RangeFacet {
                min: None,
                max: None,
                step: Some(2),
            }]),
            ..syntax(BaseType::Decimal)
        };
        assert_eq!(validate(&Value::Decimal(dec("-4")), &even), Ok(()));
        assert_eq!(
            validate(&Value::Decimal(dec("4.5")), &even),
            Err(ValueRule::Range)
        );
        assert_eq!(
            validate(&Value::Decimal(dec("3")), &even),
            Err(ValueRule::Range)
        );
    }

    #[test]
    fn size_rule() {
        // Device.DeviceInfo.SoftwareVersion: string(64).
        let version = Syntax {
            sizes: Facets::of(&[SizeFacet {
                min_length: None,
                max_length: Some(64),
            }]),
            ..syntax(BaseType::String)
        };
        assert_eq!(validate(&Value::String("x".repeat(64)), &version), Ok(()));
        assert_eq!(
            validate(&Value::String("x".repeat(65)), &version),
            Err(ValueRule::Size)
        );
        // Characters, not bytes.
        assert_eq!(validate(&Value::String("é".repeat(64)), &version), Ok(()));

        // Any of several sizes: hexBinary of exactly 0 or 6 bytes.
        let mac = Syntax {
            sizes: Facets::of(&[
                SizeFacet {
                    min_length: Some(0),
                    max_length: Some(0),
                },
                SizeFacet {
                    min_length: Some(6),
                    max_length: Some(6),
                },
            ]),
            ..syntax(BaseType::HexBinary)
        };
        assert_eq!(validate(&Value::HexBinary(Vec::new()), &mac), Ok(()));
        assert_eq!(validate(&Value::HexBinary(vec![0; 6]), &mac), Ok(()));
        assert_eq!(
            validate(&Value::HexBinary(vec![0; 5]), &mac),
            Err(ValueRule::Size)
        );

        // base64 sizes count decoded bytes.
        let key = Syntax {
            sizes: Facets::of(&[SizeFacet {
                min_length: Some(2),
                max_length: Some(3),
            }]),
            ..syntax(BaseType::Base64)
        };
        assert_eq!(validate(&Value::parse("Zm9v", &key).unwrap(), &key), Ok(()));
        assert_eq!(
            validate(&Value::parse("Zg==", &key).unwrap(), &key),
            Err(ValueRule::Size)
        );
    }

    #[test]
    fn enumeration_rule() {
        // Device.WiFi.SSID.{i}.Status.
        let status = Syntax {
            enumerations: StrList::of(&[
                "Up",
                "Down",
                "Unknown",
                "Dormant",
                "NotPresent",
                "LowerLayerDown",
                "Error",
            ]),
            ..syntax(BaseType::String)
        };
        assert_eq!(validate(&Value::String("Up".into()), &status), Ok(()));
        assert_eq!(
            validate(&Value::String("up".into()), &status),
            Err(ValueRule::Enumeration)
        );
        assert_eq!(
            validate(&Value::String(String::new()), &status),
            Err(ValueRule::Enumeration)
        );

        // Enumerated numbers compare by value.
        let widths = Syntax {
            enumerations: StrList::of(&["20", "40", "+080"]),
            ..syntax(BaseType::UnsignedInt)
        };
        assert_eq!(validate(&Value::UnsignedInt(80), &widths), Ok(()));
        assert_eq!(
            validate(&Value::UnsignedInt(160), &widths),
            Err(ValueRule::Enumeration)
        );

        // Device.WiFi.Radio.{i}.OperatingStandards: list of enumerated strings.
        let standards = Syntax {
            enumerations: StrList::of(&["a", "b", "g", "n", "ac", "ax", "be"]),
            ..list_of(BaseType::String, 0, None, None)
        };
        assert_eq!(
            validate(&Value::parse("n, ac,ax", &standards).unwrap(), &standards),
            Ok(())
        );
        assert_eq!(
            validate(&Value::parse("n,wifi7", &standards).unwrap(), &standards),
            Err(ValueRule::Enumeration)
        );
    }

    #[test]
    fn pattern_rule() {
        // Device.Ethernet.Interface.{i}.MACAddress (MACAddress data type).
        let mac = Syntax {
            patterns: Rare::of(StrList::of(&[
                "",
                "([0-9A-Fa-f][0-9A-Fa-f]:){5}([0-9A-Fa-f][0-9A-Fa-f])",
            ])),
            ..syntax(BaseType::String)
        };
        assert_eq!(validate(&Value::String(String::new()), &mac), Ok(()));
        assert_eq!(
            validate(&Value::String("00:1a:2B:3c:4D:5e".into()), &mac),
            Ok(())
        );
        for bad in [
            "00:1a:2B:3c:4D",
            "00:1a:2B:3c:4D:5e:",
            " 00:1a:2B:3c:4D:5e",
            "00-1a-2B-3c-4D-5e",
        ] {
            assert_eq!(
                validate(&Value::String(bad.into()), &mac),
                Err(ValueRule::Pattern),
                "{bad}"
            );
        }
        // OUI: the empty pattern is absent, so "" fails.
        let oui = Syntax {
            patterns: Rare::of(StrList::of(&["[0-9A-F]{6}"])),
            ..syntax(BaseType::String)
        };
        assert_eq!(validate(&Value::String("00D09E".into()), &oui), Ok(()));
        assert_eq!(
            validate(&Value::String(String::new()), &oui),
            Err(ValueRule::Pattern)
        );
        assert_eq!(
            validate(&Value::String("00d09e".into()), &oui),
            Err(ValueRule::Pattern)
        );
        // Non-string values are matched by their canonical text.
        let short_hex = Syntax {
            patterns: Rare::of(StrList::of(&["[0-9A-F]{2}"])),
            ..syntax(BaseType::HexBinary)
        };
        assert_eq!(
            validate(&Value::parse("ab", &short_hex).unwrap(), &short_hex),
            Ok(())
        );
    }

    #[test]
    fn xsd_patterns_translate() {
        // `^` and `$` are literals in XML Schema.
        let caret = Syntax {
            patterns: Rare::of(StrList::of(&["a^b$"])),
            ..syntax(BaseType::String)
        };
        assert_eq!(validate(&Value::String("a^b$".into()), &caret), Ok(()));
        assert_eq!(
            validate(&Value::String("ab".into()), &caret),
            Err(ValueRule::Pattern)
        );
        // Alternation is anchored as a whole.
        let alternation = Syntax {
            patterns: Rare::of(StrList::of(&["[0-9]|[1-5][0-9]|6[0-3]"])),
            ..syntax(BaseType::String)
        };
        assert_eq!(validate(&Value::String("63".into()), &alternation), Ok(()));
        assert_eq!(
            validate(&Value::String("64".into()), &alternation),
            Err(ValueRule::Pattern)
        );
        assert_eq!(
            validate(&Value::String("1x".into()), &alternation),
            Err(ValueRule::Pattern)
        );
        // Name escapes.
        let name = Syntax {
            patterns: Rare::of(StrList::of(&["\\i\\c*"])),
            ..syntax(BaseType::String)
        };
        assert_eq!(validate(&Value::String("x:a-b.c".into()), &name), Ok(()));
        assert_eq!(
            validate(&Value::String("1abc".into()), &name),
            Err(ValueRule::Pattern)
        );
        // Unsupported patterns are reported and then ignored.
        assert!(!pattern_is_supported("[a-z-[aeiou]]"));
        assert!(!pattern_is_supported("\\p{IsBasicLatin}+"));
        assert!(!pattern_is_supported("(unbalanced"));
        assert!(!pattern_is_supported("trailing\\"));
        let unsupported = Syntax {
            patterns: Rare::of(StrList::of(&["[a-z-[aeiou]]"])),
            ..syntax(BaseType::String)
        };
        assert_eq!(
            validate(&Value::String("anything".into()), &unsupported),
            Ok(())
        );
        // Every pattern in the TR-181 2.19 XML (entities expanded) compiles.
        for pattern in [
            "",
            "[0-9A-F]{6}",
            "[0-9]{14,15}",
            "\\d+(\\.\\d+)*",
            ":[0-7]",
            "([01][0-9]|2[0-3]):[0-5][0-9]",
            "\\d{4}|\\d{8}",
            "urn:[A-Za-z0-9][A-Za-z0-9-]{0,30}[A-Za-z0-9]:.+",
            "\\d{2}(0[1-9]|1[0-2])(0[1-9]|[12]\\d|3[01])[A-Za-z0-9]{0,2}",
            "[A-Z][A-Z][ OI]",
            "YYYYMMDD.HHMMSS",
            "X [0-9A-F]{6} .*",
            "2\\.\\d+",
            "/(3[0-2]|[012]?[0-9])",
            "([0-9]{1,15}?[BKMGT])",
            "([0-7],[0-1],){7}[0-7],[0-1]",
            "[A-Fa-f0-9]{8}-[A-Fa-f0-9]{4}-[A-Fa-f0-9]{4}-[A-Fa-f0-9]{4}-[A-Fa-f0-9]{12}",
        ] {
            assert!(pattern_is_supported(pattern), "{pattern}");
        }
    }

    #[test]
    fn generated_schema_patterns_compile() {
        for protocol in [Protocol::Cwmp, Protocol::Usp] {
            for object in crate::schema::objects(protocol) {
                let arguments = object
                    .commands(protocol)
                    .flat_map(|c| c.input().iter().chain(c.output()))
                    .chain(object.events(protocol).flat_map(|e| e.arguments()));
                for parameter in object.parameters(protocol).chain(arguments) {
                    for pattern in parameter.syntax().patterns() {
                        assert!(
                            pattern_is_supported(pattern),
                            "{}{}: {pattern}",
                            object.path(),
                            parameter.name()
                        );
                    }
                }
            }
        }
    }

    #[test]
    fn generated_schema_defaults_are_valid() {
        for protocol in [Protocol::Cwmp, Protocol::Usp] {
            for object in crate::schema::objects(protocol) {
                let arguments = object
                    .commands(protocol)
                    .flat_map(|c| c.input().iter().chain(c.output()))
                    .chain(object.events(protocol).flat_map(|e| e.arguments()));
                for parameter in object.parameters(protocol).chain(arguments) {
                    if let Some(default) = parameter.syntax().default() {
                        assert!(
                            Value::schema_default(parameter.syntax()).is_some(),
                            "{}{}: {:?}",
                            object.path(),
                            parameter.name(),
                            default.value()
                        );
                    }
                }
            }
        }
    }

    #[test]
    fn defaults() {
        assert_eq!(
            Value::default_for(&syntax(BaseType::String)),
            Value::String(String::new())
        );
        assert_eq!(
            Value::default_for(&syntax(BaseType::Boolean)),
            Value::Boolean(false)
        );
        assert_eq!(
            Value::default_for(&syntax(BaseType::UnsignedLong)),
            Value::UnsignedLong(0)
        );
        assert_eq!(
            Value::default_for(&syntax(BaseType::Decimal)),
            Value::Decimal(Decimal::ZERO)
        );
        assert_eq!(
            Value::default_for(&syntax(BaseType::Base64)),
            Value::Base64(Vec::new())
        );
        let with_default = Syntax {
            default: Rare::of(DefaultValue {
                kind: DefaultKind::Object,
                value: Str::Static("true"),
            }),
            ..syntax(BaseType::Boolean)
        };
        assert_eq!(
            Value::schema_default(&with_default),
            Some(Value::Boolean(true))
        );
        assert_eq!(Value::schema_default(&syntax(BaseType::Boolean)), None);
        let broken_default = Syntax {
            default: Rare::of(DefaultValue {
                kind: DefaultKind::Factory,
                value: Str::Static("300"),
            }),
            ranges: Facets::of(&[RangeFacet {
                min: Some(0),
                max: Some(10),
                step: None,
            }]),
            ..syntax(BaseType::Int)
        };
        assert_eq!(Value::schema_default(&broken_default), None);
        // Device.Bridging.Bridge.{i}.Port.{i}.PriorityRegeneration: list default in brackets.
        let regeneration = Syntax {
            default: Rare::of(DefaultValue {
                kind: DefaultKind::Object,
                value: Str::Static("[0,1,2,3,4,5,6,7]"),
            }),
            ranges: Facets::of(&[RangeFacet {
                min: Some(0),
                max: Some(7),
                step: None,
            }]),
            ..list_of(BaseType::UnsignedInt, 8, Some(8), None)
        };
        assert_eq!(
            Value::schema_default(&regeneration).map(|v| v.canonical_text()),
            Some("0,1,2,3,4,5,6,7".into())
        );
        let empty = Syntax {
            default: Rare::of(DefaultValue {
                kind: DefaultKind::Object,
                value: Str::Static("[]"),
            }),
            ..list_of(BaseType::String, 0, None, None)
        };
        assert_eq!(Value::schema_default(&empty), Some(Value::List(Vec::new())));
    }

    #[test]
    fn xsd_types() {
        for (base, name) in [
            (BaseType::String, "xsd:string"),
            (BaseType::Boolean, "xsd:boolean"),
            (BaseType::Int, "xsd:int"),
            (BaseType::UnsignedInt, "xsd:unsignedInt"),
            (BaseType::Long, "xsd:long"),
            (BaseType::UnsignedLong, "xsd:unsignedLong"),
            (BaseType::DateTime, "xsd:dateTime"),
            (BaseType::Base64, "xsd:base64Binary"),
            (BaseType::HexBinary, "xsd:hexBinary"),
            (BaseType::Decimal, "xsd:decimal"),
        ] {
            assert_eq!(xsd_type(&syntax(base)), name);
            assert_eq!(Value::zero(base).xsd_type(), name);
            assert_eq!(Value::zero(base).base_type(), Some(base));
        }
    }

    #[test]
    fn numeric_order_across_types() {
        assert_eq!(
            Value::Int(-1).order(&Value::UnsignedLong(u64::MAX)),
            Some(Ordering::Less)
        );
        assert_eq!(
            Value::Long(5).order(&Value::Decimal(dec("5.0"))),
            Some(Ordering::Equal)
        );
        assert_eq!(
            Value::String("a".into()).order(&Value::String("b".into())),
            None
        );
        assert_eq!(Value::Boolean(false).order(&Value::Int(0)), None);
    }

    #[test]
    fn parse_for_parameter() {
        // Device.WiFi.SSID.{i}.SSID: string(32).
        let parameter =
            crate::schema::parameter("Device.WiFi.SSID.{i}.SSID", Protocol::Usp).unwrap();
        assert_eq!(parameter.syntax().sizes()[0].max_length(), Some(32));
        let path = "Device.WiFi.SSID.1.SSID";
        assert_eq!(
            Value::parse_for("home", parameter, path, &Limits::DEFAULT),
            Ok(Value::String("home".into()))
        );
        let error =
            Value::parse_for(&"x".repeat(33), parameter, path, &Limits::DEFAULT).unwrap_err();
        assert_eq!(
            error,
            Error::InvalidValue {
                path: path.into(),
                rule: ValueRule::Size
            }
        );
        assert_eq!((error.cwmp_fault(), error.usp_error()), (9007, 7012));
        let limits = Limits {
            max_value_len: 8,
            ..Limits::DEFAULT
        };
        assert_eq!(
            Value::parse_for("123456789", parameter, path, &limits),
            Err(Error::LimitExceeded {
                what: "parameter value length",
                limit: 8
            })
        );
        assert_eq!(
            validate_parameter(&Value::Int(1), parameter, path),
            Err(Error::InvalidValue {
                path: path.into(),
                rule: ValueRule::Type(BaseType::String)
            })
        );
    }

    #[test]
    fn serde_round_trip() {
        let value = Value::List(vec![
            Value::DateTime(dt("2024-05-06T07:08:09.5Z")),
            Value::Decimal(dec("-1.25")),
            Value::Base64(b"hi".to_vec()),
            Value::HexBinary(vec![0xAB]),
            Value::UnsignedLong(u64::MAX),
        ]);
        let json = serde_json::to_string(&value).unwrap();
        assert_eq!(
            json,
            r#"{"List":[{"DateTime":"2024-05-06T07:08:09.5Z"},{"Decimal":"-1.25"},{"Base64":"aGk="},{"HexBinary":"AB"},{"UnsignedLong":18446744073709551615}]}"#
        );
        assert_eq!(serde_json::from_str::<Value>(&json).unwrap(), value);
        assert!(serde_json::from_str::<Value>(r#"{"DateTime":"2024-02-30T00:00:00Z"}"#).is_err());
        assert!(serde_json::from_str::<Value>(r#"{"HexBinary":"ABC"}"#).is_err());
    }

    // --- property tests ---

    fn date_time_strategy() -> impl Strategy<Value = DateTime> {
        (0..END_MICROS).prop_map(|micros| DateTime { micros })
    }

    fn decimal_strategy() -> impl Strategy<Value = Decimal> {
        let limit = i128::try_from(DECIMAL_LIMIT).unwrap();
        (-(limit - 1)..limit, 0..=DECIMAL_DIGITS)
            .prop_filter_map("fits", |(m, s)| Decimal::new(m, s))
    }

    /// The sign and a fixed-point digit string (39 integer, 38 fraction digits) of `d`.
    fn fixed_point(d: Decimal) -> (bool, String) {
        let digits = d.mantissa().unsigned_abs().to_string();
        let scale = usize::from(d.scale);
        let padded = format!("{digits:0>scale$}");
        let (integer, fraction) = padded.split_at(padded.len() - scale);
        (d.mantissa() < 0, format!("{integer:0>39}{fraction:0<38}"))
    }

    fn round_trip(value: &Value, syntax: &Syntax) {
        let text = value.canonical_text();
        assert_eq!(Value::parse(&text, syntax).as_ref(), Ok(value), "{text}");
    }

    proptest! {
        #[test]
        fn round_trip_string(s in ".*") {
            round_trip(&Value::String(s), &syntax(BaseType::String));
        }

        #[test]
        fn round_trip_integers(b: bool, i: i32, u: u32, l: i64, ul: u64) {
            round_trip(&Value::Boolean(b), &syntax(BaseType::Boolean));
            round_trip(&Value::Int(i), &syntax(BaseType::Int));
            round_trip(&Value::UnsignedInt(u), &syntax(BaseType::UnsignedInt));
            round_trip(&Value::Long(l), &syntax(BaseType::Long));
            round_trip(&Value::UnsignedLong(ul), &syntax(BaseType::UnsignedLong));
        }

        #[test]
        fn round_trip_date_time(t in date_time_strategy()) {
            round_trip(&Value::DateTime(t), &syntax(BaseType::DateTime));
            let text = t.to_string();
            prop_assert_eq!(text.len() >= 20 && text.len() <= 27, true);
        }

        #[test]
        fn calendar_round_trip(days in 0..(END_MICROS / MICROS_PER_DAY)) {
            let (year, month, day) = civil_from_days(days);
            let year = u32::try_from(year).unwrap();
            prop_assert!((1..=9999).contains(&year));
            prop_assert!(day >= 1 && day <= u64::from(days_in_month(year, month)));
            prop_assert_eq!(days_since_year_one(year, month, u32::try_from(day).unwrap()), days);
        }

        #[test]
        fn unix_round_trip(seconds in -30_610_224_000i64..253_402_300_800) {
            let t = DateTime::from_unix_seconds(seconds).unwrap();
            prop_assert_eq!(t.unix_seconds(), Some(seconds));
        }

        #[test]
        fn offsets_shift_by_their_amount(t in date_time_strategy(), hours in 0u8..14, minutes in 0u8..60) {
            let plain = t.to_string();
            let Some(stem) = plain.strip_suffix('Z') else { unreachable!() };
            let shifted = DateTime::parse(&format!("{stem}+{hours:02}:{minutes:02}"));
            let offset = (u64::from(hours) * 60 + u64::from(minutes)) * 60_000_000;
            prop_assert_eq!(shifted.map(|s| s.micros), t.micros.checked_sub(offset));
        }

        #[test]
        fn round_trip_binary(bytes in proptest::collection::vec(any::<u8>(), 0..64)) {
            round_trip(&Value::Base64(bytes.clone()), &syntax(BaseType::Base64));
            round_trip(&Value::HexBinary(bytes), &syntax(BaseType::HexBinary));
        }

        #[test]
        fn round_trip_decimal(d in decimal_strategy()) {
            round_trip(&Value::Decimal(d), &syntax(BaseType::Decimal));
        }

        #[test]
        fn decimal_order_matches_integers(a: i64, b: i64, shift in 0u32..19) {
            prop_assert_eq!(Decimal::from(a).cmp(&Decimal::from(b)), a.cmp(&b));
            // Rescaling does not change the value.
            let scaled = Decimal::new(i128::from(a) * 10i128.pow(shift), shift);
            prop_assert_eq!(scaled, Some(Decimal::from(a)));
        }

        #[test]
        fn decimal_order_matches_fixed_point(a in decimal_strategy(), b in decimal_strategy()) {
            let ((a_negative, a_digits), (b_negative, b_digits)) = (fixed_point(a), fixed_point(b));
            let expected = match (a_negative, b_negative) {
                (false, false) => a_digits.cmp(&b_digits),
                (true, true) => b_digits.cmp(&a_digits),
                (negative, _) => if negative { Ordering::Less } else { Ordering::Greater },
            };
            prop_assert_eq!(a.cmp(&b), expected, "{} vs {}", a, b);
        }

        #[test]
        fn round_trip_lists(
            numbers in proptest::collection::vec(any::<u32>(), 0..8),
            words in proptest::collection::vec("([A-Za-z0-9._:-][A-Za-z0-9 ._:-]{0,7})?", 1..8),
        ) {
            let numbers = Value::List(numbers.into_iter().map(Value::UnsignedInt).collect());
            round_trip(&numbers, &list_of(BaseType::UnsignedInt, 0, None, None));
            // An empty list and a list of one empty string share the text "".
            let words = Value::List(words.into_iter().map(Value::String).collect());
            if words != Value::List(vec![Value::String(String::new())]) {
                round_trip(&words, &list_of(BaseType::String, 0, None, None));
            }
        }

        #[test]
        fn never_panics(text in "\\PC{0,40}|[-+0-9.:TZ ,=A-Fa-f]{0,40}") {
            for base in [
                BaseType::String, BaseType::Boolean, BaseType::Int, BaseType::UnsignedInt,
                BaseType::Long, BaseType::UnsignedLong, BaseType::DateTime, BaseType::Base64,
                BaseType::HexBinary, BaseType::Decimal,
            ] {
                for s in [syntax(base), list_of(base, 0, Some(3), Some(10))] {
                    if let Ok(value) = Value::parse(&text, &s) {
                        let _ = validate(&value, &s);
                        let _ = value.canonical_text();
                    }
                }
            }
            let _ = pattern_is_supported(&text);
        }

        #[test]
        fn date_time_parser_never_panics(text in "[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}(\\.[0-9]{0,9})?(Z|[+-][0-9]{2}:[0-9]{2})?") {
            if let Some(t) = DateTime::parse(&text) {
                prop_assert_eq!(DateTime::parse(&t.to_string()), Some(t));
            }
        }
    }
}
