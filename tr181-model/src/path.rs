//! The one path parser of the crate: every path form used by CWMP and USP.
//!
//! # Grammar
//!
//! A path is a dot-separated list of segments, then an optional item:
//!
//! | Form | Example | [`PathKind`] |
//! |---|---|---|
//! | object (also a CWMP partial path) | `Device.WiFi.Radio.` | `Object` |
//! | parameter | `Device.DeviceInfo.SoftwareVersion` | `Parameter` |
//! | command | `Device.Reboot()` | `Command` |
//! | event | `Device.Boot!` | `Event` |
//! | empty (CWMP: means `Device.`) | `` | `Object`, no segments |
//!
//! Segments are names (`[A-Za-z_][A-Za-z0-9_-]*`; `-` appears in TR-181 vendor names such as
//! `X_ACME-COM_Foo`) and, right after the name of a table, an instance slot: an instance number
//! (`1`, no leading zero, fits `u32`), the supported-DM placeholder `{i}`, the wildcard `*`, or a
//! unique-key / search expression `[Key=="v"&&Other>3]`. A name may instead be a reference
//! follow: `Ref+` (the same as `Ref#1+`), `Ref#N+` (the Nth list item) or `Ref#*+` (every item).
//!
//! A search expression is one or more comparisons joined by `&&` (there is no OR). Each compares
//! a relative path (names and reference follows only: it may not go down into a child table) with
//! an operator (`== != ~= < > <= >=`) against a literal: a double-quoted string (`%XX` escapes
//! are decoded, so `"` is `%22` and `%` is `%25`), a number (`0`, `-?[1-9][0-9]*`, optionally
//! with a fraction: `1.5`) or `true`/`false`. Spaces and tabs are accepted around operators,
//! around `&&` and inside the brackets (TR-369 R-ARC.9a); [`Display`](fmt::Display) never writes
//! them.
//!
//! # AST
//!
//! A [`Path`] is `segments` plus `kind`. Each [`Segment`] is one dot-separated step of the object
//! part; the item (parameter, command or event name) lives in [`PathKind`]. The parser guarantees:
//!
//! - the first segment is a [`Segment::Name`];
//! - an instance slot ([`Segment::Instance`], [`Segment::Placeholder`], [`Segment::Wildcard`],
//!   [`Segment::Filter`]) comes right after a [`Segment::Name`] (the table);
//! - every [`Filter`] has at least one [`Term`], and every term's relative path is non-empty and
//!   ends in a [`Step::Name`].
//!
//! A resolver walks `segments` left to right, keeping a set of current objects: a name descends,
//! an instance slot selects rows of the table just named, a follow replaces each object by the
//! target(s) of its reference parameter; then it applies `kind`. [`Term::matches`] (or
//! [`compare`]) evaluates one comparison against a row's current [`Value`].
//!
//! Parsing is iterative (filters cannot nest), never panics, and is bounded by [`Limits`]:
//! `max_path_len`, `max_filters`, `max_terms` and `max_reference_follows`.
//!
//! [`InstancePath::split`] is the allocation-light form of the same grammar for concrete
//! instance paths (names and instance numbers only), which the store walks on every read and
//! write.

use core::cmp::Ordering;
use core::fmt::{self, Write as _};
use core::str::FromStr;
use std::borrow::ToOwned;
use std::string::{String, ToString};
use std::vec::Vec;

use crate::schema::{BaseType, Syntax};
use crate::value::Value;
use crate::{Error, Limits};

/// A parsed path: the object part as segments, then what the path names.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Path {
    /// The dot-separated steps of the object part, in order (empty for the empty path).
    pub segments: Vec<Segment>,
    /// Whether the path names the object itself or an item of it.
    pub kind: PathKind,
}

/// What a path names after its segments.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
#[allow(clippy::exhaustive_enums)] // The four path kinds of TR-369 "Path Names".
pub enum PathKind {
    /// The object named by the segments (the text ends in `.`).
    Object,
    /// The parameter with this name.
    Parameter(String),
    /// The command with this name (without `()`).
    Command(String),
    /// The event with this name (without `!`).
    Event(String),
}

/// One dot-separated step of a path's object part.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
#[allow(clippy::exhaustive_enums)] // The instance identifier forms of TR-369 "Path Names".
pub enum Segment {
    /// An object name (a child object, or the table whose row the next segment selects).
    Name(String),
    /// An instance number (≥ 1) of the table named by the previous segment.
    Instance(u32),
    /// `{i}`: the supported-data-model placeholder for an instance.
    Placeholder,
    /// `*`: every current instance.
    Wildcard,
    /// `[...]`: the instances matching a unique key or search expression.
    Filter(Filter),
    /// `Ref+`, `Ref#N+`, `Ref#*+`: the object(s) a reference parameter points to.
    Follow(Follow),
}

/// A reference follow: the parameter holding the reference, and which list item to follow.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Follow {
    /// The reference parameter's name.
    pub name: String,
    /// Which item of the (possibly list-valued) reference to follow.
    pub index: FollowIndex,
}

/// Which item of a reference list a follow takes.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[allow(clippy::exhaustive_enums)] // `#N+` and `#*+` are the only forms.
pub enum FollowIndex {
    /// The Nth item, 1-based (plain `+` is `Nth(1)`). Parsed values are ≥ 1.
    Nth(u32),
    /// `#*+`: every item.
    All,
}

/// A unique-key or search expression: comparisons that must all hold (`&&`).
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Filter {
    /// The comparisons; never empty when parsed.
    pub terms: Vec<Term>,
}

/// One comparison of a search expression: `relpath op value`.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Term {
    /// The parameter to compare, relative to the row (`Stats.BytesSent`, `SSIDReference+.SSID`).
    pub relpath: Vec<Step>,
    /// The operator.
    pub op: Op,
    /// The literal to compare against.
    pub value: Literal,
}

/// One step of a search expression's relative path; it cannot select instances.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
#[allow(clippy::exhaustive_enums)] // A relative path holds only names and follows.
pub enum Step {
    /// A child object name, or (as the last step) the parameter name.
    Name(String),
    /// A reference follow; always followed by another step.
    Follow(Follow),
}

/// A search expression operator.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[allow(clippy::exhaustive_enums)] // The operators of TR-369 "Searching with Expressions".
pub enum Op {
    /// `==`
    Eq,
    /// `!=`
    Ne,
    /// `~=`: the comma-separated list value contains the literal.
    Contains,
    /// `<`
    Lt,
    /// `>`
    Gt,
    /// `<=`
    Le,
    /// `>=`
    Ge,
}

/// A literal value in a search expression.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
#[allow(clippy::exhaustive_enums)] // The literal forms of the path grammar.
pub enum Literal {
    /// `true` or `false`.
    Boolean(bool),
    /// A number such as `0`, `-3` or `1.5`.
    Number(Number),
    /// A double-quoted string, percent-escapes decoded.
    String(String),
}

/// The text of a valid number literal: `0`, `-?[1-9][0-9]*`, optionally `.` and digits.
///
/// Kept as text so that values of any size and precision compare exactly and print back as
/// given.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Number(String);

impl Path {
    /// Parses `text` as an absolute or relative path of any form, within `limits`.
    ///
    /// The empty string parses to the empty path ([`Path::is_empty`]); CWMP treats it as
    /// `Device.`, USP rejects it, so callers decide.
    pub fn parse(text: &str, limits: &Limits) -> Result<Self, Error> {
        Parser::new(text, limits)?.path(false)
    }

    /// Parses the value of a reference parameter (one list item), where an object path may
    /// leave out its trailing dot (`Device.IP.Interface.1`).
    ///
    /// A path ending in an instance slot is then an object path. One ending in a name is
    /// returned as a parameter path; when the schema says the reference targets an object, use
    /// [`Path::into_object`].
    pub fn parse_reference(text: &str, limits: &Limits) -> Result<Self, Error> {
        Parser::new(text, limits)?.path(true)
    }

    /// The empty path (CWMP's `""`).
    pub fn empty() -> Self {
        Self {
            segments: Vec::new(),
            kind: PathKind::Object,
        }
    }

    /// The root object path `Device.`.
    pub fn root() -> Self {
        Self {
            segments: std::vec![Segment::Name("Device".to_owned())],
            kind: PathKind::Object,
        }
    }

    /// Whether this is the empty path.
    pub fn is_empty(&self) -> bool {
        self.segments.is_empty() && self.kind == PathKind::Object
    }

    /// Whether the path names an object (it ends in `.`); CWMP calls these partial paths.
    pub fn is_object(&self) -> bool {
        self.kind == PathKind::Object
    }

    /// Whether the path starts with `Device`.
    pub fn is_absolute(&self) -> bool {
        matches!(self.segments.first(), Some(Segment::Name(n)) if n == "Device")
    }

    /// Whether the path addresses at most one thing without searching: only names and instance
    /// numbers (no `{i}`, `*`, `[...]` or reference follow).
    pub fn is_plain(&self) -> bool {
        self.segments
            .iter()
            .all(|s| matches!(s, Segment::Name(_) | Segment::Instance(_)))
    }

    /// Whether the path is a supported-data-model path: only names and `{i}`.
    pub fn is_schema_path(&self) -> bool {
        self.segments
            .iter()
            .all(|s| matches!(s, Segment::Name(_) | Segment::Placeholder))
    }

    /// Whether the path may match several instances: it has a `*` or a `[...]`.
    pub fn is_search(&self) -> bool {
        self.segments
            .iter()
            .any(|s| matches!(s, Segment::Wildcard | Segment::Filter(_)))
    }

    /// Whether the path follows a reference (in its segments or inside a filter).
    pub fn has_follow(&self) -> bool {
        self.segments.iter().any(|s| match s {
            Segment::Follow(_) => true,
            Segment::Filter(f) => f
                .terms
                .iter()
                .any(|t| t.relpath.iter().any(|s| matches!(s, Step::Follow(_)))),
            Segment::Name(_) | Segment::Instance(_) | Segment::Placeholder | Segment::Wildcard => {
                false
            }
        })
    }

    /// The supported-data-model form to look up in [`crate::schema`]: every instance slot
    /// (number, `*`, `[...]`) becomes `{i}`. Commands keep `()` and events `!`, as the schema
    /// names them.
    ///
    /// `None` when the path follows a reference in its segments: the target's schema path
    /// depends on the reference's value.
    pub fn schema_path(&self) -> Option<String> {
        let mut out = String::new();
        for segment in &self.segments {
            match segment {
                Segment::Name(name) => out.push_str(name),
                Segment::Instance(_)
                | Segment::Placeholder
                | Segment::Wildcard
                | Segment::Filter(_) => out.push_str("{i}"),
                Segment::Follow(_) => return None,
            }
            out.push('.');
        }
        self.write_kind(&mut out).ok()?;
        Some(out)
    }

    /// The object part: the path itself for an object path, else the object holding the item.
    pub fn object_path(&self) -> Self {
        Self {
            segments: self.segments.clone(),
            kind: PathKind::Object,
        }
    }

    /// The name of the parameter, command or event (without `()` or `!`); `None` for objects.
    pub fn item_name(&self) -> Option<&str> {
        match &self.kind {
            PathKind::Object => None,
            PathKind::Parameter(n) | PathKind::Command(n) | PathKind::Event(n) => Some(n),
        }
    }

    /// The parent object: the holding object for an item, the table for a row
    /// (`Device.IP.Interface.1.` → `Device.IP.Interface.`), the containing object otherwise.
    /// `None` for `Device.` and the empty path.
    pub fn parent(&self) -> Option<Self> {
        if !self.is_object() {
            return Some(self.object_path());
        }
        let (_, rest) = self.segments.split_last()?;
        if rest.is_empty() {
            return None;
        }
        Some(Self {
            segments: rest.to_vec(),
            kind: PathKind::Object,
        })
    }

    /// Turns a parameter path into the object path with the same text plus a dot (for a
    /// reference value that names an object without its trailing dot). Object paths are
    /// returned unchanged; commands and events give `None`.
    pub fn into_object(self) -> Option<Self> {
        let Self { mut segments, kind } = self;
        match kind {
            PathKind::Object => {}
            PathKind::Parameter(name) => segments.push(Segment::Name(name)),
            PathKind::Command(_) | PathKind::Event(_) => return None,
        }
        Some(Self {
            segments,
            kind: PathKind::Object,
        })
    }

    /// Appends a relative path (`Stats.BytesSent`, `1.Enable`) to this object path and parses
    /// the result, so the joined path obeys every rule and limit.
    pub fn join(&self, relative: &str, limits: &Limits) -> Result<Self, Error> {
        if !self.is_object() {
            return Err(Error::ApiMisuse("Path::join needs an object path"));
        }
        let mut text = self.to_string();
        text.push_str(relative);
        Self::parse(&text, limits)
    }

    /// Writes the item suffix of the path (`Name`, `Name()`, `Name!`, or nothing).
    fn write_kind(&self, out: &mut impl fmt::Write) -> fmt::Result {
        match &self.kind {
            PathKind::Object => Ok(()),
            PathKind::Parameter(name) => out.write_str(name),
            PathKind::Command(name) => write!(out, "{name}()"),
            PathKind::Event(name) => write!(out, "{name}!"),
        }
    }
}

impl FromStr for Path {
    type Err = Error;

    /// Parses with [`Limits::DEFAULT`].
    fn from_str(text: &str) -> Result<Self, Error> {
        Self::parse(text, &Limits::DEFAULT)
    }
}

impl fmt::Display for Path {
    /// The canonical text: no whitespace, `+` for `#1+`, strings with `"` and `%` escaped.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for segment in &self.segments {
            write!(f, "{segment}.")?;
        }
        self.write_kind(f)
    }
}

impl fmt::Display for Segment {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Name(name) => f.write_str(name),
            Self::Instance(n) => write!(f, "{n}"),
            Self::Placeholder => f.write_str("{i}"),
            Self::Wildcard => f.write_char('*'),
            Self::Filter(filter) => write!(f, "{filter}"),
            Self::Follow(follow) => write!(f, "{follow}"),
        }
    }
}

impl fmt::Display for Follow {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.index {
            FollowIndex::Nth(1) => write!(f, "{}+", self.name),
            FollowIndex::Nth(n) => write!(f, "{}#{n}+", self.name),
            FollowIndex::All => write!(f, "{}#*+", self.name),
        }
    }
}

impl Filter {
    /// Whether this is unique-key addressing syntax: every term is `Name==value` on a
    /// parameter of the row itself. Whether the names form a unique key is for the schema.
    pub fn is_key_form(&self) -> bool {
        self.terms
            .iter()
            .all(|t| t.op == Op::Eq && t.parameter_name().is_some())
    }
}

impl fmt::Display for Filter {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_char('[')?;
        for (i, term) in self.terms.iter().enumerate() {
            if i > 0 {
                f.write_str("&&")?;
            }
            write!(f, "{term}")?;
        }
        f.write_char(']')
    }
}

impl Term {
    /// The parameter name when the relative path is a single name (a parameter of the row).
    pub fn parameter_name(&self) -> Option<&str> {
        match self.relpath.as_slice() {
            [Step::Name(name)] => Some(name),
            _ => None,
        }
    }

    /// Evaluates this comparison against the current `value` of the parameter its relative
    /// path names, whose syntax is `syntax`; see [`compare`]. Errors carry this term's text as
    /// their path.
    pub fn matches(&self, value: &Value, syntax: &Syntax) -> Result<bool, Error> {
        Ok(self.comparison(syntax)?.holds(value))
    }

    /// This term's operator and literal prepared for values of `syntax`; errors as
    /// [`Term::matches`].
    pub(crate) fn comparison(&self, syntax: &Syntax) -> Result<Comparison, Error> {
        Comparison::new(syntax, self.op, &self.value).map_err(|e| match e {
            Error::InvalidPath { reason, .. } => Error::InvalidPath {
                path: self.to_string(),
                position: 0,
                reason,
            },
            other => other,
        })
    }
}

impl fmt::Display for Term {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, step) in self.relpath.iter().enumerate() {
            if i > 0 {
                f.write_char('.')?;
            }
            match step {
                Step::Name(name) => f.write_str(name)?,
                Step::Follow(follow) => write!(f, "{follow}")?,
            }
        }
        write!(f, "{}{}", self.op, self.value)
    }
}

impl Op {
    /// Whether `value <op> literal` holds, given how the value orders against the literal.
    pub fn holds(self, ordering: Ordering) -> bool {
        match self {
            Self::Eq | Self::Contains => ordering == Ordering::Equal,
            Self::Ne => ordering != Ordering::Equal,
            Self::Lt => ordering == Ordering::Less,
            Self::Gt => ordering == Ordering::Greater,
            Self::Le => ordering != Ordering::Greater,
            Self::Ge => ordering != Ordering::Less,
        }
    }

    /// The operator's text.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Eq => "==",
            Self::Ne => "!=",
            Self::Contains => "~=",
            Self::Lt => "<",
            Self::Gt => ">",
            Self::Le => "<=",
            Self::Ge => ">=",
        }
    }

    /// Whether this is `<`, `>`, `<=` or `>=`.
    fn is_ordering(self) -> bool {
        matches!(self, Self::Lt | Self::Gt | Self::Le | Self::Ge)
    }
}

impl fmt::Display for Op {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl Literal {
    /// The literal as text: a string's decoded content, a number's digits, `true`/`false`.
    pub fn text(&self) -> &str {
        match self {
            Self::Boolean(true) => "true",
            Self::Boolean(false) => "false",
            Self::Number(n) => n.as_str(),
            Self::String(s) => s,
        }
    }
}

impl fmt::Display for Literal {
    /// Literal syntax: strings quoted with `"` as `%22` and `%` as `%25`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Boolean(_) | Self::Number(_) => f.write_str(self.text()),
            Self::String(s) => {
                f.write_char('"')?;
                for c in s.chars() {
                    match c {
                        '"' => f.write_str("%22")?,
                        '%' => f.write_str("%25")?,
                        c => f.write_char(c)?,
                    }
                }
                f.write_char('"')
            }
        }
    }
}

impl Number {
    /// Checks `text` against the number literal grammar.
    pub fn new(text: &str) -> Option<Self> {
        let mut parser = Parser::new(text, &Limits::DEFAULT).ok()?;
        let number = parser.number().ok()?;
        parser.at_end().then_some(number)
    }

    /// The number's text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl From<i64> for Number {
    fn from(n: i64) -> Self {
        Self(n.to_string())
    }
}

impl From<u64> for Number {
    fn from(n: u64) -> Self {
        Self(n.to_string())
    }
}

impl fmt::Display for Number {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// Compares a parameter's current `value` (of syntax `syntax`) against `literal` with `op`,
/// following TR-369 "Operator typing":
///
/// - numbers (`int`, `unsignedInt`, `long`, `unsignedLong`, `decimal`) compare by value, so
///   `0123` equals `123`; the literal may be a number or a quoted number;
/// - booleans take `==`/`!=` only; `1`/`true` and `0`/`false` are equal;
/// - strings, `base64` and `hexBinary` take `==`/`!=` only; binaries compare as bytes, so hex
///   case does not matter;
/// - `dateTime` literals are quoted and compare chronologically; the unknown time
///   `0001-01-01T00:00:00Z` takes `==`/`!=` only, and a value at the unknown time is neither
///   before nor after any time;
/// - `~=` needs a list-valued parameter and means "some item equals the literal"; other
///   operators on a list compare its whole canonical text with `==`/`!=`.
///
/// The literal is read with the same TR-106 rules as any value ([`Value::parse_scalar`]). A bad
/// operator/type combination or a literal of the wrong type is [`Error::InvalidPath`]
/// (USP 7008), whatever the value.
pub fn compare(value: &Value, syntax: &Syntax, op: Op, literal: &Literal) -> Result<bool, Error> {
    Ok(Comparison::new(syntax, op, literal)?.holds(value))
}

/// `<op> literal` checked and read once for the values of one syntax ([`compare`] in two
/// steps): a search expression compares every row of a table with the same literal, so the
/// literal is parsed once per table, not once per row.
#[derive(Clone, Debug)]
pub(crate) struct Comparison {
    op: Op,
    test: Test,
}

/// What [`Comparison::holds`] does with a value.
#[derive(Clone, Debug)]
enum Test {
    /// A list's canonical text against the literal's text (`==`/`!=` on a list).
    ListText(String),
    /// Some list item equals the literal (`~=`).
    Contains(Wanted),
    /// The value's order against the literal (`<`, `>`, `<=`, `>=`).
    Order(Wanted),
    /// Equality by value (`==`/`!=`).
    Equal(Wanted),
}

/// The literal as a value, and as an integer when it is a whole number: integer parameters
/// (the usual signal strengths, counters) then compare without a decimal conversion per value.
#[derive(Clone, Debug)]
struct Wanted {
    value: Value,
    whole: Option<i128>,
}

impl Wanted {
    fn new(value: Value) -> Self {
        let whole = match &value {
            Value::Decimal(d) if d.scale() == 0 => Some(d.mantissa()),
            _ => None,
        };
        Self { value, whole }
    }

    /// How `value` orders against the literal ([`Value::order`]).
    fn order(&self, value: &Value) -> Option<Ordering> {
        let integer = match *value {
            Value::Int(n) => Some(i128::from(n)),
            Value::UnsignedInt(n) => Some(i128::from(n)),
            Value::Long(n) => Some(i128::from(n)),
            Value::UnsignedLong(n) => Some(i128::from(n)),
            _ => None,
        };
        match (integer, self.whole) {
            (Some(n), Some(whole)) => Some(n.cmp(&whole)),
            _ => value.order(&self.value),
        }
    }

    /// Equality by value: numbers across types, otherwise the same value.
    fn equals(&self, value: &Value) -> bool {
        match self.order(value) {
            Some(ordering) => ordering == Ordering::Equal,
            None => *value == self.value,
        }
    }
}

impl Comparison {
    /// Checks the operator against `syntax` and reads the literal as a value of its type.
    pub(crate) fn new(syntax: &Syntax, op: Op, literal: &Literal) -> Result<Self, Error> {
        let reject = |reason| Error::InvalidPath {
            path: std::format!("{op}{literal}"),
            position: 0,
            reason,
        };
        let list = syntax.list().is_some();
        if list && op != Op::Contains {
            if op.is_ordering() {
                return Err(reject("a list value takes only '==', '!=' and '~='"));
            }
            let test = Test::ListText(literal.text().to_owned());
            return Ok(Self { op, test });
        }
        let wanted = literal_value(syntax.base(), literal).map_err(reject)?;
        if op == Op::Contains {
            if !list {
                return Err(reject("'~=' applies only to list-valued parameters"));
            }
            let test = Test::Contains(Wanted::new(wanted));
            return Ok(Self { op, test });
        }
        if op.is_ordering() {
            let refusal = match &wanted {
                Value::Boolean(_) => Some("a boolean value takes only '==' and '!='"),
                Value::DateTime(t) if t.is_unknown() => {
                    Some("the unknown time takes only '==' and '!='")
                }
                Value::DateTime(_) | Value::Decimal(_) => None,
                _ => Some("a string value takes only '==' and '!='"),
            };
            if let Some(reason) = refusal {
                return Err(reject(reason));
            }
            let test = Test::Order(Wanted::new(wanted));
            return Ok(Self { op, test });
        }
        Ok(Self {
            op,
            test: Test::Equal(Wanted::new(wanted)),
        })
    }

    /// Whether `value <op> literal` holds.
    pub(crate) fn holds(&self, value: &Value) -> bool {
        match &self.test {
            Test::ListText(text) => self
                .op
                .holds(value.canonical_text().as_str().cmp(text.as_str())),
            Test::Contains(wanted) => {
                let items = match value {
                    Value::List(items) => items.as_slice(),
                    other => core::slice::from_ref(other),
                };
                items.iter().any(|item| wanted.equals(item))
            }
            Test::Order(wanted) => wanted.order(value).is_some_and(|o| self.op.holds(o)),
            Test::Equal(wanted) => wanted.equals(value) == (self.op == Op::Eq),
        }
    }
}

/// The literal as a value of the compared parameter's type. Numbers become decimals, so that
/// any numeric type compares by value (`1.0` equals an `int` 1).
fn literal_value(base: BaseType, literal: &Literal) -> Result<Value, &'static str> {
    let text = literal.text();
    let read = |base, what| Value::parse_scalar(text, base).map_err(|_| what);
    match base {
        BaseType::String => Ok(Value::String(text.to_owned())),
        BaseType::Base64 => read(base, "the literal is not base64"),
        BaseType::HexBinary => read(base, "the literal is not hexBinary"),
        BaseType::Boolean => read(base, "the literal is not a boolean"),
        BaseType::Int
        | BaseType::UnsignedInt
        | BaseType::Long
        | BaseType::UnsignedLong
        | BaseType::Decimal => match literal {
            Literal::Boolean(_) => Err("the literal is not a number"),
            Literal::Number(_) | Literal::String(_) => {
                read(BaseType::Decimal, "the literal is not a number")
            }
        },
        BaseType::DateTime => match literal {
            Literal::String(_) => read(base, "the literal is not a dateTime"),
            Literal::Boolean(_) | Literal::Number(_) => {
                Err("a dateTime literal must be a quoted string")
            }
        },
    }
}

/// A segment of an [`InstancePath`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum InstanceSegment<'p> {
    /// A name.
    Name(&'p str),
    /// An instance number.
    Instance(u32),
}

/// A concrete instance path split into segments without copying names:
/// `Device.WiFi.SSID.1.SSID` is the segments `WiFi`, `SSID`, `1` and the item `SSID`; object
/// paths (trailing dot) have no item.
///
/// The fast form for paths that cannot hold wildcards, expressions or reference follows:
/// CWMP parameter paths, reference values, typed keys. Anything else is a [`Path`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct InstancePath<'p> {
    /// Segments after `Device.`.
    pub segments: Vec<InstanceSegment<'p>>,
    /// The last name when the path does not end with a dot.
    pub item: Option<&'p str>,
}

fn invalid(path: &str, position: usize, reason: &'static str) -> Error {
    Error::InvalidPath {
        path: path.into(),
        position,
        reason,
    }
}

impl<'p> InstancePath<'p> {
    /// Splits a concrete instance path (no wildcards, filters or references) within `limits`;
    /// the empty path (CWMP) is `Device.`. A path outside `Device.` is
    /// [`Error::UnknownPath`], a malformed one [`Error::InvalidPath`].
    pub fn split(path: &'p str, limits: &Limits) -> Result<Self, Error> {
        if path.len() > limits.max_path_len {
            return Err(Error::LimitExceeded {
                what: "path length",
                limit: limits.max_path_len,
            });
        }
        if path.is_empty() {
            // CWMP's empty path: the root.
            return Ok(Self {
                segments: Vec::new(),
                item: None,
            });
        }
        let Some(rest) = path.strip_prefix("Device.") else {
            return Err(Error::UnknownPath { path: path.into() });
        };
        let (body, item) = match rest.strip_suffix('.') {
            Some(body) => (body, None),
            None if rest.is_empty() => ("", None),
            None => match rest.rsplit_once('.') {
                Some((body, item)) => (body, Some(item)),
                None => ("", Some(rest)),
            },
        };
        let mut segs = Vec::new();
        let mut offset = "Device.".len();
        if !body.is_empty() {
            for seg in body.split('.') {
                segs.push(instance_segment(path, offset, seg)?);
                offset += seg.len() + 1;
            }
        }
        if let Some(item) = item {
            if !is_name(item) {
                return Err(invalid(path, offset, "expected a parameter name"));
            }
        }
        Ok(Self {
            segments: segs,
            item,
        })
    }
}

fn instance_segment<'p>(
    path: &str,
    offset: usize,
    seg: &'p str,
) -> Result<InstanceSegment<'p>, Error> {
    if seg.starts_with(|c: char| c.is_ascii_digit()) {
        if seg.starts_with('0') || !seg.bytes().all(|b| b.is_ascii_digit()) {
            return Err(invalid(path, offset, "expected an instance number"));
        }
        return seg
            .parse()
            .map(InstanceSegment::Instance)
            .map_err(|_| invalid(path, offset, "instance number too large"));
    }
    if is_name(seg) {
        Ok(InstanceSegment::Name(seg))
    } else {
        Err(invalid(
            path,
            offset,
            "expected a name or an instance number",
        ))
    }
}

/// The longest Alias value TR-181 allows (its `Alias` data type: `string(:64)`).
pub const MAX_ALIAS_LEN: usize = 64;

/// The schema path of an instance path, to look up in [`crate::schema`]: every instance
/// number becomes `{i}` (`Device.WiFi.SSID.1.Enable` → `Device.WiFi.SSID.{i}.Enable`).
#[must_use]
pub fn schema_path_of(path: &str) -> String {
    let mut out = String::with_capacity(path.len().saturating_add(8));
    for (index, segment) in path.split('.').enumerate() {
        if index > 0 {
            out.push('.');
        }
        if !segment.is_empty() && segment.bytes().all(|b| b.is_ascii_digit()) {
            out.push_str("{i}");
        } else {
            out.push_str(segment);
        }
    }
    out
}

/// The alias of an instance-alias segment (`[cpe-ssid1]`), or `None` when `segment` is not
/// one: the form CWMP's alias-based addressing (TR-069 §3.6.1, Appendix II) puts where an
/// instance number goes. The text between the brackets must be a valid [`is_alias`] value.
///
/// A segment is one dot-separated piece of a concrete path, so it is the equivalent of the
/// unique-key expression `[Alias=="…"]` of [`Path::parse`] for a value without `.`, `[` or
/// `]`; resolving it needs the rows' `Alias` values, which the protocol layer reads.
#[must_use]
pub fn instance_alias(segment: &str) -> Option<&str> {
    let alias = segment.strip_prefix('[')?.strip_suffix(']')?;
    is_alias(alias).then_some(alias)
}

/// Whether `text` can be an Alias that addresses an instance: TR-181's `Alias` rules (not
/// empty, at most [`MAX_ALIAS_LEN`] characters, starting with a letter), and none of `.`, `[`,
/// `]`, the search-expression characters `"=!<>~&`, white space or control characters, so
/// that `[text]` stands as one path segment and never reads as a search expression.
#[must_use]
pub fn is_alias(text: &str) -> bool {
    text.len() <= MAX_ALIAS_LEN.saturating_mul(4)
        && (1..=MAX_ALIAS_LEN).contains(&text.chars().count())
        && text.starts_with(|c: char| c.is_ascii_alphabetic())
        && !text.contains(|c: char| {
            matches!(c, '.' | '[' | ']' | '"' | '=' | '!' | '<' | '>' | '~' | '&')
                || c.is_whitespace()
                || c.is_control()
        })
}

/// Whether `s` is a name token (see the module docs).
fn is_name(s: &str) -> bool {
    let mut bytes = s.bytes();
    bytes.next().is_some_and(is_name_start) && bytes.all(is_name_char)
}

fn is_name_start(b: u8) -> bool {
    b.is_ascii_alphabetic() || b == b'_'
}

fn is_name_char(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b == b'_' || b == b'-'
}

fn hex_value(b: Option<u8>) -> Option<u8> {
    let b = b?;
    // `to_digit(16)` is at most 15, so the conversion cannot fail.
    char::from(b)
        .to_digit(16)
        .and_then(|d| u8::try_from(d).ok())
}

/// A byte cursor over the path text. Every step moves forward, and filters cannot nest, so
/// parsing is linear and needs no recursion.
struct Parser<'a> {
    text: &'a str,
    pos: usize,
    limits: &'a Limits,
    filters: usize,
    follows: usize,
}

impl<'a> Parser<'a> {
    fn new(text: &'a str, limits: &'a Limits) -> Result<Self, Error> {
        if text.len() > limits.max_path_len {
            return Err(Error::LimitExceeded {
                what: "path length",
                limit: limits.max_path_len,
            });
        }
        Ok(Self {
            text,
            pos: 0,
            limits,
            filters: 0,
            follows: 0,
        })
    }

    fn peek(&self) -> Option<u8> {
        self.peek_at(0)
    }

    fn peek_at(&self, ahead: usize) -> Option<u8> {
        self.text
            .as_bytes()
            .get(self.pos.saturating_add(ahead))
            .copied()
    }

    fn at_end(&self) -> bool {
        self.pos >= self.text.len()
    }

    fn bump(&mut self) {
        self.pos = self.pos.saturating_add(1);
    }

    fn eat(&mut self, b: u8) -> bool {
        let found = self.peek() == Some(b);
        if found {
            self.bump();
        }
        found
    }

    fn eat_str(&mut self, s: &str) -> bool {
        let found = self
            .text
            .as_bytes()
            .get(self.pos..)
            .is_some_and(|rest| rest.starts_with(s.as_bytes()));
        if found {
            self.pos = self.pos.saturating_add(s.len());
        }
        found
    }

    fn skip_spaces(&mut self) {
        while matches!(self.peek(), Some(b' ' | b'\t')) {
            self.bump();
        }
    }

    fn error(&self, reason: &'static str) -> Error {
        self.error_at(self.pos, reason)
    }

    fn error_at(&self, position: usize, reason: &'static str) -> Error {
        Error::InvalidPath {
            path: self.text.to_owned(),
            position,
            reason,
        }
    }

    /// The text from `start` to the cursor.
    fn since(&self, start: usize) -> Result<&'a str, Error> {
        self.text
            .get(start..self.pos)
            .ok_or_else(|| self.error_at(start, "not at a character boundary"))
    }

    /// `path` with `bare_instance`: a trailing instance slot may end an object path (reference
    /// values).
    fn path(mut self, bare_instance: bool) -> Result<Path, Error> {
        let mut segments = Vec::new();
        if self.at_end() {
            return Ok(Path::empty());
        }
        // Each turn starts at the beginning of the text or right after a '.'.
        loop {
            let start = self.pos;
            let Some(b) = self.peek() else {
                return Ok(Path {
                    segments,
                    kind: PathKind::Object,
                });
            };
            if is_name_start(b) {
                let name = self.name()?;
                if let Some(index) = self.follow_suffix()? {
                    segments.push(Segment::Follow(Follow { name, index }));
                    if !self.eat(b'.') {
                        return Err(self.error("expected '.' after a reference follow"));
                    }
                    continue;
                }
                let kind = match self.peek() {
                    Some(b'.') => {
                        self.bump();
                        segments.push(Segment::Name(name));
                        continue;
                    }
                    None => PathKind::Parameter(name),
                    Some(b'(') if self.eat_str("()") => PathKind::Command(name),
                    Some(b'!') => {
                        self.bump();
                        PathKind::Event(name)
                    }
                    Some(_) => return Err(self.error("unexpected character after a name")),
                };
                if !self.at_end() {
                    return Err(self.error("nothing may follow a command or event name"));
                }
                return Ok(Path { segments, kind });
            }
            let slot = match b {
                b'.' => return Err(self.error("empty path segment")),
                b'0'..=b'9' | b'*' | b'{' | b'[' => {
                    if !matches!(segments.last(), Some(Segment::Name(_))) {
                        return Err(self.error("an instance must follow a table name"));
                    }
                    self.instance_slot(b)?
                }
                _ => return Err(self.error_at(start, "unexpected character")),
            };
            segments.push(slot);
            match self.peek() {
                Some(b'.') => self.bump(),
                None if bare_instance => {
                    return Ok(Path {
                        segments,
                        kind: PathKind::Object,
                    });
                }
                _ => return Err(self.error("expected '.' after an instance")),
            }
        }
    }

    fn instance_slot(&mut self, first: u8) -> Result<Segment, Error> {
        Ok(match first {
            b'*' => {
                self.bump();
                Segment::Wildcard
            }
            b'{' if self.eat_str("{i}") => Segment::Placeholder,
            b'{' => return Err(self.error("expected '{i}'")),
            b'[' => Segment::Filter(self.filter()?),
            _ => Segment::Instance(self.posnum()?),
        })
    }

    fn name(&mut self) -> Result<String, Error> {
        let start = self.pos;
        if !self.peek().is_some_and(is_name_start) {
            return Err(self.error("expected a name"));
        }
        while self.peek().is_some_and(is_name_char) {
            self.bump();
        }
        self.since(start).map(ToOwned::to_owned)
    }

    /// A positive integer without leading zero that fits `u32`.
    fn posnum(&mut self) -> Result<u32, Error> {
        let start = self.pos;
        if self.peek() == Some(b'0') {
            let reason = if self.peek_at(1).is_some_and(|b| b.is_ascii_digit()) {
                "a number may not have a leading zero"
            } else {
                "instance numbers and list indexes start at 1"
            };
            return Err(self.error(reason));
        }
        let mut n: u32 = 0;
        while let Some(b @ b'0'..=b'9') = self.peek() {
            n = n
                .checked_mul(10)
                .and_then(|n| n.checked_add(u32::from(b - b'0')))
                .ok_or_else(|| self.error_at(start, "number too large"))?;
            self.bump();
        }
        if self.pos == start {
            return Err(self.error("expected a number"));
        }
        Ok(n)
    }

    /// After a name: `+`, `#N+` or `#*+` make it a reference follow.
    fn follow_suffix(&mut self) -> Result<Option<FollowIndex>, Error> {
        let index = match self.peek() {
            Some(b'+') => FollowIndex::Nth(1),
            Some(b'#') => {
                self.bump();
                let index = if self.eat(b'*') {
                    FollowIndex::All
                } else if self.peek().is_some_and(|b| b.is_ascii_digit()) {
                    FollowIndex::Nth(self.posnum()?)
                } else {
                    return Err(self.error("expected a list index or '*' after '#'"));
                };
                if self.peek() != Some(b'+') {
                    return Err(self.error("expected '+' after a list index"));
                }
                index
            }
            _ => return Ok(None),
        };
        self.bump(); // the '+'
        self.follows = self.follows.saturating_add(1);
        if self.follows > self.limits.max_reference_follows {
            return Err(Error::LimitExceeded {
                what: "reference follows in a path",
                limit: self.limits.max_reference_follows,
            });
        }
        Ok(Some(index))
    }

    /// `[term(&&term)*]`, the cursor on the `[`.
    fn filter(&mut self) -> Result<Filter, Error> {
        let open = self.pos;
        self.filters = self.filters.saturating_add(1);
        if self.filters > self.limits.max_filters {
            return Err(Error::LimitExceeded {
                what: "search expressions in a path",
                limit: self.limits.max_filters,
            });
        }
        self.bump();
        self.skip_spaces();
        if self.peek() == Some(b']') {
            return Err(self.error_at(open, "empty search expression"));
        }
        let mut terms = Vec::new();
        loop {
            if terms.len() >= self.limits.max_terms {
                return Err(Error::LimitExceeded {
                    what: "comparisons in a search expression",
                    limit: self.limits.max_terms,
                });
            }
            terms.push(self.term()?);
            self.skip_spaces();
            if self.eat_str("&&") {
                self.skip_spaces();
                continue;
            }
            match self.peek() {
                Some(b']') => {
                    self.bump();
                    return Ok(Filter { terms });
                }
                Some(b'|') => return Err(self.error("OR is not supported in search expressions")),
                Some(b',') => return Err(self.error("join comparisons with '&&', not ','")),
                None => return Err(self.error_at(open, "unterminated search expression")),
                Some(_) => return Err(self.error("expected '&&' or ']'")),
            }
        }
    }

    fn term(&mut self) -> Result<Term, Error> {
        let mut relpath = Vec::new();
        loop {
            match self.peek() {
                Some(b) if is_name_start(b) => {}
                Some(b'0'..=b'9' | b'*' | b'{' | b'[') if !relpath.is_empty() => {
                    return Err(
                        self.error("a search expression may not descend into a child table")
                    );
                }
                _ => return Err(self.error("expected a parameter name")),
            }
            let name = self.name()?;
            if let Some(index) = self.follow_suffix()? {
                relpath.push(Step::Follow(Follow { name, index }));
                if !self.eat(b'.') {
                    return Err(self.error("expected '.' after a reference follow"));
                }
                continue;
            }
            relpath.push(Step::Name(name));
            if !self.eat(b'.') {
                break;
            }
        }
        self.skip_spaces();
        let op = self.op()?;
        self.skip_spaces();
        let value = self.literal()?;
        Ok(Term { relpath, op, value })
    }

    fn op(&mut self) -> Result<Op, Error> {
        const OPS: [(&str, Op); 7] = [
            ("==", Op::Eq),
            ("!=", Op::Ne),
            ("~=", Op::Contains),
            ("<=", Op::Le),
            (">=", Op::Ge),
            ("<", Op::Lt),
            (">", Op::Gt),
        ];
        OPS.iter()
            .find(|(text, _)| self.eat_str(text))
            .map(|&(_, op)| op)
            .ok_or_else(|| self.error("expected an operator: == != ~= < > <= >="))
    }

    fn literal(&mut self) -> Result<Literal, Error> {
        match self.peek() {
            Some(b'"') => self.string(),
            Some(b'-' | b'0'..=b'9') => self.number().map(Literal::Number),
            _ if self.eat_str("true") => Ok(Literal::Boolean(true)),
            _ if self.eat_str("false") => Ok(Literal::Boolean(false)),
            _ => Err(self.error("expected a quoted string, a number, true or false")),
        }
    }

    /// A double-quoted string; `%XX` escapes are decoded.
    fn string(&mut self) -> Result<Literal, Error> {
        let open = self.pos;
        self.bump();
        let mut bytes = Vec::new();
        loop {
            match self.peek() {
                None => return Err(self.error_at(open, "unterminated string")),
                Some(b'"') => break,
                Some(b'%') => match (hex_value(self.peek_at(1)), hex_value(self.peek_at(2))) {
                    (Some(hi), Some(lo)) => {
                        bytes.push(hi << 4 | lo);
                        self.pos = self.pos.saturating_add(3);
                    }
                    _ => return Err(self.error("'%' must start a %XX escape")),
                },
                Some(b) => {
                    bytes.push(b);
                    self.bump();
                }
            }
        }
        self.bump();
        String::from_utf8(bytes)
            .map(Literal::String)
            .map_err(|_| self.error_at(open, "escapes in the string do not decode to UTF-8"))
    }

    /// `0 | -?[1-9][0-9]*`, optionally `.[0-9]+`.
    fn number(&mut self) -> Result<Number, Error> {
        let start = self.pos;
        let negative = self.eat(b'-');
        match self.peek() {
            Some(b'0') => {
                self.bump();
                if self.peek().is_some_and(|b| b.is_ascii_digit()) {
                    return Err(self.error_at(start, "a number may not have a leading zero"));
                }
            }
            Some(b'1'..=b'9') => self.skip_digits(),
            _ => return Err(self.error("expected a digit")),
        }
        let int_end = self.pos;
        if self.eat(b'.') {
            if !self.peek().is_some_and(|b| b.is_ascii_digit()) {
                return Err(self.error("expected a digit after '.'"));
            }
            self.skip_digits();
        }
        let text = self.since(start)?;
        if negative && int_end == self.pos && text == "-0" {
            return Err(self.error_at(start, "'-0' is not a valid number"));
        }
        Ok(Number(text.to_owned()))
    }

    fn skip_digits(&mut self) {
        while self.peek().is_some_and(|b| b.is_ascii_digit()) {
            self.bump();
        }
    }
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;
    use crate::schema::{ListFacet, Rare};

    fn parse(text: &str) -> Result<Path, Error> {
        text.parse()
    }

    fn name(n: &str) -> Segment {
        Segment::Name(n.to_owned())
    }

    #[test]
    fn schema_paths_of_instances() {
        assert_eq!(
            schema_path_of("Device.WiFi.AccessPoint.1.AssociatedDevice.12.SignalStrength"),
            "Device.WiFi.AccessPoint.{i}.AssociatedDevice.{i}.SignalStrength"
        );
        assert_eq!(schema_path_of("Device.Reboot()"), "Device.Reboot()");
    }

    #[test]
    fn instance_aliases_follow_the_alias_rules() {
        // TR-069 Appendix II examples: `Device.WiFi.SSID.[cpe-ssid1].` and ACS-chosen names.
        assert_eq!(instance_alias("[cpe-ssid1]"), Some("cpe-ssid1"));
        assert_eq!(instance_alias("[Wan_1]"), Some("Wan_1"));
        let longest = "a".repeat(MAX_ALIAS_LEN);
        assert_eq!(
            instance_alias(&format!("[{longest}]")),
            Some(longest.as_str())
        );
        for segment in [
            "cpe-1",
            "[]",
            "[1abc]",
            "[-x]",
            "[a.b]",
            "[a[b]",
            "[a]]",
            "[a\u{7}]",
            "[a",
            "a]",
            "[Alias==\"x\"]",
            "[a b]",
            "[a&&b]",
        ] {
            assert_eq!(instance_alias(segment), None, "{segment}");
        }
        assert!(!is_alias(&"a".repeat(MAX_ALIAS_LEN + 1)));
        assert!(!is_alias("é-straße"), "starts with a non-ASCII letter");
        assert!(is_alias("x-straße"));
    }

    fn reason(result: Result<Path, Error>) -> &'static str {
        match result {
            Err(Error::InvalidPath { reason, .. }) => reason,
            other => panic!("expected InvalidPath, got {other:?}"),
        }
    }

    fn limit(result: Result<Path, Error>) -> &'static str {
        match result {
            Err(Error::LimitExceeded { what, .. }) => what,
            other => panic!("expected LimitExceeded, got {other:?}"),
        }
    }

    /// (input, canonical text): every form, including the FACTS §3 examples.
    const VALID: &[(&str, &str)] = &[
        ("", ""),
        ("Device.", "Device."),
        ("Device.WiFi.Radio.", "Device.WiFi.Radio."),
        (
            "Device.DeviceInfo.SoftwareVersion",
            "Device.DeviceInfo.SoftwareVersion",
        ),
        ("Device.Reboot()", "Device.Reboot()"),
        ("Device.Boot!", "Device.Boot!"),
        ("Device.IP.Interface.3.", "Device.IP.Interface.3."),
        (
            "Device.IP.Interface.4294967295.Name",
            "Device.IP.Interface.4294967295.Name",
        ),
        ("Device.IP.Interface.{i}.", "Device.IP.Interface.{i}."),
        ("Device.IP.Interface.*.Type", "Device.IP.Interface.*.Type"),
        ("Device.IP.Interface.*.", "Device.IP.Interface.*."),
        (
            "Device.X_ACME-COM_Foo.Bar-Baz",
            "Device.X_ACME-COM_Foo.Bar-Baz",
        ),
        ("Device.WiFi.SSID.1.Reset()", "Device.WiFi.SSID.1.Reset()"),
        (
            "Device.LocalAgent.Subscription.*.X!",
            "Device.LocalAgent.Subscription.*.X!",
        ),
        (
            "Device.NAT.PortMapping.[RemoteHost==\"\"&&ExternalPort==0&&Protocol==\"TCP\"].",
            "Device.NAT.PortMapping.[RemoteHost==\"\"&&ExternalPort==0&&Protocol==\"TCP\"].",
        ),
        (
            "Device.IP.Interface.[Name==\"eth0\"].IPv4Address.[Status==\"Enabled\"].IPAddress",
            "Device.IP.Interface.[Name==\"eth0\"].IPv4Address.[Status==\"Enabled\"].IPAddress",
        ),
        (
            "Device.IP.Interface.[Type==\"Normal\"&&Stats.ErrorsSent>0].Status",
            "Device.IP.Interface.[Type==\"Normal\"&&Stats.ErrorsSent>0].Status",
        ),
        (
            "Device.WiFi.AccessPoint.1.SSIDReference+.SSID",
            "Device.WiFi.AccessPoint.1.SSIDReference+.SSID",
        ),
        ("Device.X.1.Ref#1+.Name", "Device.X.1.Ref+.Name"),
        ("Device.X.1.Ref#12+.Name", "Device.X.1.Ref#12+.Name"),
        ("Device.X.1.Ref#*+.Name", "Device.X.1.Ref#*+.Name"),
        ("Device.X.1.Ref+.", "Device.X.1.Ref+."),
        (
            "Device.X.1.Ref+.Ref2+.Y.Go()",
            "Device.X.1.Ref+.Ref2+.Y.Go()",
        ),
        (
            "Device.WiFi.AccessPoint.[SSIDReference+.SSID==\"x\"].Enable",
            "Device.WiFi.AccessPoint.[SSIDReference+.SSID==\"x\"].Enable",
        ),
        ("Device.X.[A#*+.B!=\"y\"].", "Device.X.[A#*+.B!=\"y\"]."),
        (
            "Device.X.[A==1&&B!=2&&C~=\"v\"&&D<3&&E>4&&F<=5&&G>=6].",
            "Device.X.[A==1&&B!=2&&C~=\"v\"&&D<3&&E>4&&F<=5&&G>=6].",
        ),
        ("Device.X.[A==-7].", "Device.X.[A==-7]."),
        (
            "Device.X.[A==1.5&&B==-0.25&&C==0.0].",
            "Device.X.[A==1.5&&B==-0.25&&C==0.0].",
        ),
        (
            "Device.X.[A==true&&B==false].",
            "Device.X.[A==true&&B==false].",
        ),
        (
            "Device.X.[A==\"%22q%22 %25 %41\"].",
            "Device.X.[A==\"%22q%22 %25 A\"].",
        ),
        ("Device.X.[A==\"]&&[\"].", "Device.X.[A==\"]&&[\"]."),
        ("Device.X.[A==\"é\"].", "Device.X.[A==\"é\"]."),
        ("Device.X.[A==\"%c3%A9\"].", "Device.X.[A==\"é\"]."),
        ("Stats.BytesSent", "Stats.BytesSent"),
    ];

    #[test]
    fn valid_forms_parse_and_print_canonically() {
        for &(text, canonical) in VALID {
            let path = parse(text).unwrap_or_else(|e| panic!("{text:?}: {e}"));
            assert_eq!(path.to_string(), canonical, "{text:?}");
            assert_eq!(
                parse(canonical).as_ref(),
                Ok(&path),
                "{canonical:?} round trip"
            );
        }
    }

    #[test]
    fn whitespace_around_operators_and_and() {
        let spaced = parse("Device.X.[ A == 1 &&\tB >= -2 && C~= \"v\" ].").unwrap();
        assert_eq!(spaced, parse("Device.X.[A==1&&B>=-2&&C~=\"v\"].").unwrap());
        assert_eq!(spaced.to_string(), "Device.X.[A==1&&B>=-2&&C~=\"v\"].");
    }

    #[test]
    fn ast_shapes() {
        assert_eq!(parse("").unwrap(), Path::empty());
        assert!(parse("").unwrap().is_empty());
        assert_eq!(parse("Device.").unwrap(), Path::root());
        assert_eq!(
            parse("Device.IP.Interface.3.Name").unwrap(),
            Path {
                segments: std::vec![
                    name("Device"),
                    name("IP"),
                    name("Interface"),
                    Segment::Instance(3)
                ],
                kind: PathKind::Parameter("Name".to_owned()),
            }
        );
        assert_eq!(
            parse("Device.Reboot()").unwrap().kind,
            PathKind::Command("Reboot".to_owned())
        );
        assert_eq!(
            parse("Device.Boot!").unwrap().kind,
            PathKind::Event("Boot".to_owned())
        );
        let follow = parse("Device.X.1.Ref#*+.Name").unwrap();
        assert_eq!(
            follow.segments.last(),
            Some(&Segment::Follow(Follow {
                name: "Ref".to_owned(),
                index: FollowIndex::All
            }))
        );
        let search = parse("Device.AP.[SSIDReference+.SSID==\"x\"&&Stats.N>=3].").unwrap();
        let Some(Segment::Filter(filter)) = search.segments.last() else {
            panic!("no filter: {search:?}");
        };
        assert_eq!(
            filter.terms,
            std::vec![
                Term {
                    relpath: std::vec![
                        Step::Follow(Follow {
                            name: "SSIDReference".to_owned(),
                            index: FollowIndex::Nth(1)
                        }),
                        Step::Name("SSID".to_owned()),
                    ],
                    op: Op::Eq,
                    value: Literal::String("x".to_owned()),
                },
                Term {
                    relpath: std::vec![Step::Name("Stats".to_owned()), Step::Name("N".to_owned())],
                    op: Op::Ge,
                    value: Literal::Number(Number::new("3").unwrap()),
                },
            ]
        );
        assert!(!filter.is_key_form());
        let key = parse("Device.NAT.PortMapping.[RemoteHost==\"\"&&ExternalPort==0].").unwrap();
        assert!(matches!(key.segments.last(), Some(Segment::Filter(f)) if f.is_key_form()));
    }

    #[test]
    fn percent_escapes() {
        let literal = |text: &str| match parse(text).unwrap().segments.pop() {
            Some(Segment::Filter(mut f)) => f.terms.pop().unwrap().value,
            other => panic!("{other:?}"),
        };
        assert_eq!(
            literal("D.T.[A==\"a%22b%25c\"]."),
            Literal::String("a\"b%c".to_owned())
        );
        assert_eq!(
            literal("D.T.[A==\"%7e%7E\"]."),
            Literal::String("~~".to_owned())
        );
        assert_eq!(
            literal("D.T.[A==\"%5D\"]."),
            Literal::String("]".to_owned())
        );
        assert_eq!(
            reason(parse("D.T.[A==\"%2\"].")),
            "'%' must start a %XX escape"
        );
        assert_eq!(
            reason(parse("D.T.[A==\"%\"].")),
            "'%' must start a %XX escape"
        );
        assert_eq!(
            reason(parse("D.T.[A==\"%zz\"].")),
            "'%' must start a %XX escape"
        );
        assert_eq!(
            reason(parse("D.T.[A==\"%FF\"].")),
            "escapes in the string do not decode to UTF-8"
        );
        // Display escapes exactly `"` and `%`.
        let path = Path {
            segments: std::vec![
                name("D"),
                name("T"),
                Segment::Filter(Filter {
                    terms: std::vec![Term {
                        relpath: std::vec![Step::Name("A".to_owned())],
                        op: Op::Eq,
                        value: Literal::String("50% \"off\" ]".to_owned()),
                    }],
                }),
            ],
            kind: PathKind::Object,
        };
        assert_eq!(path.to_string(), "D.T.[A==\"50%25 %22off%22 ]\"].");
        assert_eq!(parse(&path.to_string()).unwrap(), path);
    }

    /// (input, expected reason).
    const INVALID: &[(&str, &str)] = &[
        (".", "empty path segment"),
        ("Device..X", "empty path segment"),
        (".Device.", "empty path segment"),
        ("1.Device.", "an instance must follow a table name"),
        ("Device.X.1.2.", "an instance must follow a table name"),
        ("Device.X.*.*.", "an instance must follow a table name"),
        ("Device.X.1.Ref+.1.", "an instance must follow a table name"),
        (
            "Device.X.0.",
            "instance numbers and list indexes start at 1",
        ),
        ("Device.X.01.", "a number may not have a leading zero"),
        ("Device.X.4294967296.", "number too large"),
        ("Device.X.1", "expected '.' after an instance"),
        ("Device.X.1a.", "expected '.' after an instance"),
        ("Device.X.{j}.", "expected '{i}'"),
        ("Device.X.{i}", "expected '.' after an instance"),
        ("Device.X.*", "expected '.' after an instance"),
        ("Device.X.[A==1]", "expected '.' after an instance"),
        ("Device X", "unexpected character after a name"),
        ("Device.Reboot(", "unexpected character after a name"),
        (
            "Device.Reboot().",
            "nothing may follow a command or event name",
        ),
        (
            "Device.Reboot()x",
            "nothing may follow a command or event name",
        ),
        (
            "Device.Boot!.",
            "nothing may follow a command or event name",
        ),
        ("Device.$", "unexpected character"),
        ("Device.-X", "unexpected character"),
        ("Device.Ref+", "expected '.' after a reference follow"),
        ("Device.Ref+Name", "expected '.' after a reference follow"),
        ("Device.Ref#+.", "expected a list index or '*' after '#'"),
        (
            "Device.Ref#0+.",
            "instance numbers and list indexes start at 1",
        ),
        ("Device.Ref#2.", "expected '+' after a list index"),
        ("Device.Ref#*.", "expected '+' after a list index"),
        ("Device.X.[].", "empty search expression"),
        ("Device.X.[ ].", "empty search expression"),
        (
            "Device.X.[A==1||B==2].",
            "OR is not supported in search expressions",
        ),
        (
            "Device.X.[A==1|B==2].",
            "OR is not supported in search expressions",
        ),
        (
            "Device.X.[A==1,B==2].",
            "join comparisons with '&&', not ','",
        ),
        ("Device.X.[A==1&B==2].", "expected '&&' or ']'"),
        ("Device.X.[A==1&&].", "expected a parameter name"),
        ("Device.X.[A==1", "unterminated search expression"),
        ("Device.X.[A==\"x].", "unterminated string"),
        (
            "Device.X.[A=1].",
            "expected an operator: == != ~= < > <= >=",
        ),
        ("Device.X.[A].", "expected an operator: == != ~= < > <= >="),
        ("Device.X.[==1].", "expected a parameter name"),
        (
            "Device.X.[A==].",
            "expected a quoted string, a number, true or false",
        ),
        (
            "Device.X.[A==abc].",
            "expected a quoted string, a number, true or false",
        ),
        (
            "Device.X.[A==True].",
            "expected a quoted string, a number, true or false",
        ),
        ("Device.X.[A==trueish].", "expected '&&' or ']'"),
        ("Device.X.[A==01].", "a number may not have a leading zero"),
        ("Device.X.[A==-0].", "'-0' is not a valid number"),
        ("Device.X.[A==-].", "expected a digit"),
        ("Device.X.[A==1.].", "expected a digit after '.'"),
        ("Device.X.[A==1e3].", "expected '&&' or ']'"),
        (
            "Device.X.[Sub.1.A==1].",
            "a search expression may not descend into a child table",
        ),
        (
            "Device.X.[Sub.*.A==1].",
            "a search expression may not descend into a child table",
        ),
        (
            "Device.X.[Sub.{i}.A==1].",
            "a search expression may not descend into a child table",
        ),
        (
            "Device.X.[Sub.[B==1].A==1].",
            "a search expression may not descend into a child table",
        ),
        ("Device.X.[Sub.==1].", "expected a parameter name"),
        (
            "Device.X.[Ref+==\"x\"].",
            "expected '.' after a reference follow",
        ),
        (
            "Device.X.[A==1].[B==2].",
            "an instance must follow a table name",
        ),
        ("Device.X.[A==1]x.", "expected '.' after an instance"),
        ("Device.X.[A==\"x\"\"y\"].", "expected '&&' or ']'"),
        ("Device.X.[A==1]].", "expected '.' after an instance"),
        ("Device.X.[[A==1]].", "expected a parameter name"),
        ("Device.X.[A == 1 ]. ", "unexpected character"),
    ];

    #[test]
    fn invalid_forms_are_rejected_with_a_reason() {
        for &(text, expected) in INVALID {
            assert_eq!(reason(parse(text)), expected, "{text:?}");
        }
    }

    #[test]
    fn error_carries_path_and_position() {
        assert_eq!(
            parse("Device.X.01."),
            Err(Error::InvalidPath {
                path: "Device.X.01.".to_owned(),
                position: 9,
                reason: "a number may not have a leading zero",
            })
        );
        let Err(Error::InvalidPath { position, .. }) = parse("Device.X.[A==1||B==2].") else {
            panic!()
        };
        assert_eq!(position, 14);
        let err = parse("Device.X.[].").unwrap_err();
        assert_eq!((err.cwmp_fault(), err.usp_error()), (9005, 7008));
    }

    #[test]
    fn limits_are_enforced() {
        let tight = Limits {
            max_path_len: 20,
            max_filters: 2,
            max_terms: 2,
            max_reference_follows: 2,
            ..Limits::DEFAULT
        };
        assert!(Path::parse("Device.X.Y.Z.Abcdef.", &tight).is_ok()); // exactly 20 bytes
        let err = Path::parse("Device.X.Y.Z.Abcdefg.", &tight).unwrap_err();
        assert_eq!(
            err,
            Error::LimitExceeded {
                what: "path length",
                limit: 20
            }
        );
        assert_eq!((err.cwmp_fault(), err.usp_error()), (9004, 7005));

        let roomy = |l: Limits| Limits {
            max_path_len: 1024,
            ..l
        };
        let limits = roomy(tight);
        assert!(Path::parse("D.A.[X==1].B.[X==1].", &limits).is_ok());
        assert_eq!(
            limit(Path::parse("D.A.[X==1].B.[X==1].C.[X==1].", &limits)),
            "search expressions in a path"
        );
        assert!(Path::parse("D.A.[X==1&&Y==2].", &limits).is_ok());
        assert_eq!(
            limit(Path::parse("D.A.[X==1&&Y==2&&Z==3].", &limits)),
            "comparisons in a search expression"
        );
        // Follows count in the path and inside filters together.
        assert!(Path::parse("D.A.[R+.X==1].S+.Y", &limits).is_ok());
        assert_eq!(
            limit(Path::parse("D.A.[R+.X==1].S+.T#*+.Y", &limits)),
            "reference follows in a path"
        );
        assert_eq!(
            limit(Path::parse("D.R+.S#2+.T+.", &limits)),
            "reference follows in a path"
        );
    }

    #[test]
    fn predicates_and_helpers() {
        let plain = parse("Device.IP.Interface.2.Stats.BytesSent").unwrap();
        assert!(plain.is_plain() && plain.is_absolute() && !plain.is_search());
        assert!(!plain.is_schema_path() && !plain.is_object() && !plain.has_follow());
        assert_eq!(
            plain.schema_path().as_deref(),
            Some("Device.IP.Interface.{i}.Stats.BytesSent")
        );
        assert_eq!(plain.item_name(), Some("BytesSent"));
        assert_eq!(
            plain.object_path().to_string(),
            "Device.IP.Interface.2.Stats."
        );
        assert_eq!(
            plain.parent().unwrap().to_string(),
            "Device.IP.Interface.2.Stats."
        );

        let schema = parse("Device.IP.Interface.{i}.").unwrap();
        assert!(schema.is_schema_path() && !schema.is_plain() && schema.is_object());
        assert_eq!(schema.parent().unwrap().to_string(), "Device.IP.Interface.");
        assert_eq!(
            schema.parent().unwrap().parent().unwrap().to_string(),
            "Device.IP."
        );
        assert_eq!(Path::root().parent(), None);
        assert_eq!(Path::empty().parent(), None);
        assert!(Path::root().is_plain() && Path::root().is_schema_path());

        let search = parse("Device.X.*.Y.[A==1&&R+.B==2].Reset()").unwrap();
        assert!(search.is_search() && search.has_follow() && !search.is_plain());
        assert_eq!(
            search.schema_path().as_deref(),
            Some("Device.X.{i}.Y.{i}.Reset()")
        );
        assert_eq!(search.item_name(), Some("Reset"));
        assert_eq!(
            parse("Device.Boot!").unwrap().schema_path().as_deref(),
            Some("Device.Boot!")
        );
        assert_eq!(parse("Device.A.1.R+.N").unwrap().schema_path(), None);
        assert_eq!(Path::empty().schema_path().as_deref(), Some(""));

        let object = parse("Device.WiFi.SSID.").unwrap();
        assert_eq!(
            object
                .join("1.Enable", &Limits::DEFAULT)
                .unwrap()
                .to_string(),
            "Device.WiFi.SSID.1.Enable"
        );
        assert_eq!(
            Path::empty()
                .join("Device.Reboot()", &Limits::DEFAULT)
                .unwrap()
                .to_string(),
            "Device.Reboot()"
        );
        assert!(matches!(
            plain.join("X", &Limits::DEFAULT),
            Err(Error::ApiMisuse(_))
        ));
        assert_eq!(
            reason(object.join(".X", &Limits::DEFAULT)),
            "empty path segment"
        );
    }

    #[test]
    fn reference_values() {
        let lim = &Limits::DEFAULT;
        let bare = Path::parse_reference("Device.IP.Interface.1", lim).unwrap();
        assert_eq!(bare, parse("Device.IP.Interface.1.").unwrap());
        let key = Path::parse_reference("Device.X.[Key==\"v\"]", lim).unwrap();
        assert!(key.is_object() && key.is_search());
        let single = Path::parse_reference("Device.DeviceInfo", lim).unwrap();
        assert_eq!(single.kind, PathKind::Parameter("DeviceInfo".to_owned()));
        assert_eq!(
            single.into_object().unwrap(),
            parse("Device.DeviceInfo.").unwrap()
        );
        assert_eq!(parse("Device.Reboot()").unwrap().into_object(), None);
        assert!(Path::parse_reference("", lim).unwrap().is_empty());
        // Ordinary parsing keeps insisting on the dot.
        assert!(parse("Device.IP.Interface.1").is_err());
    }

    #[test]
    fn number_literals() {
        for ok in ["0", "7", "-7", "1.5", "-0.25", "0.0", "4294967296123456789"] {
            assert_eq!(Number::new(ok).map(|n| n.to_string()).as_deref(), Some(ok));
        }
        for bad in ["", "-", "-0", "01", "1.", ".5", "+1", "1e3", "1 ", "0x1"] {
            assert_eq!(Number::new(bad), None, "{bad:?}");
        }
        assert_eq!(Number::from(-12_i64).as_str(), "-12");
        assert_eq!(Number::from(u64::MAX).as_str(), "18446744073709551615");
    }

    fn num(text: &str) -> Literal {
        Literal::Number(Number::new(text).unwrap())
    }

    fn s(text: &str) -> Literal {
        Literal::String(text.to_owned())
    }

    /// A syntax of `base`, a list when `list`.
    fn syntax((base, list): (BaseType, bool)) -> Syntax {
        Syntax {
            list: if list {
                Rare::of(ListFacet {
                    min_items: 0,
                    max_items: None,
                    max_length: None,
                })
            } else {
                Rare::NONE
            },
            ..Syntax::of(base)
        }
    }

    /// Compares `text`, read as a stored value of type `ty`, with `literal`.
    fn check(text: &str, ty: (BaseType, bool), op: Op, literal: &Literal) -> Result<bool, Error> {
        let syntax = syntax(ty);
        let value = Value::parse(text, &syntax).unwrap();
        compare(&value, &syntax, op, literal)
    }

    #[test]
    fn comparing_numbers_by_value() {
        let int = (BaseType::Int, false);
        assert_eq!(check("0123", int, Op::Eq, &num("123")), Ok(true));
        assert_eq!(check("123", int, Op::Eq, &s("0123")), Ok(true));
        assert_eq!(check("-5", int, Op::Lt, &num("3")), Ok(true));
        assert_eq!(check("-5", int, Op::Lt, &num("-6")), Ok(false));
        assert_eq!(check("10", int, Op::Gt, &num("9")), Ok(true));
        assert_eq!(check("9", int, Op::Ge, &num("9")), Ok(true));
        assert_eq!(check("9", int, Op::Le, &num("8")), Ok(false));
        assert_eq!(check("0", int, Op::Eq, &num("0.0")), Ok(true));
        assert_eq!(check("-0", int, Op::Eq, &num("0")), Ok(true));
        assert_eq!(check("+4", int, Op::Ne, &num("4")), Ok(false));
        // Whole literals compare with integers directly, fractional ones as decimals.
        assert_eq!(check("-90", int, Op::Lt, &num("-89.5")), Ok(true));
        assert_eq!(check("-89", int, Op::Lt, &num("-89.5")), Ok(false));
        assert_eq!(check("5", int, Op::Eq, &s("5.5")), Ok(false));
        assert_eq!(check("5", int, Op::Ne, &s("5.0")), Ok(false));
        let long = (BaseType::Long, false);
        assert_eq!(
            check(
                "-9223372036854775808",
                long,
                Op::Lt,
                &num("-9223372036854775807")
            ),
            Ok(true)
        );
        let dec = (BaseType::Decimal, false);
        assert_eq!(check("1.50", dec, Op::Eq, &num("1.5")), Ok(true));
        assert_eq!(check("1.05", dec, Op::Lt, &num("1.5")), Ok(true));
        assert_eq!(check("-1.5", dec, Op::Lt, &num("-1.25")), Ok(true));
        let ulong = (BaseType::UnsignedLong, false);
        assert_eq!(
            check(
                "18446744073709551615",
                ulong,
                Op::Gt,
                &num("18446744073709551614")
            ),
            Ok(true)
        );
        // A literal of the wrong type is a path error (USP 7008).
        assert_eq!(
            check("1", int, Op::Eq, &Literal::Boolean(true)).map_err(|e| e.usp_error()),
            Err(7008)
        );
        assert!(check("1", int, Op::Eq, &s("one")).is_err());
    }

    #[test]
    fn comparing_booleans_strings_and_binaries() {
        let boolean = (BaseType::Boolean, false);
        assert_eq!(
            check("1", boolean, Op::Eq, &Literal::Boolean(true)),
            Ok(true)
        );
        assert_eq!(check("true", boolean, Op::Eq, &num("1")), Ok(true));
        assert_eq!(check("0", boolean, Op::Ne, &s("true")), Ok(true));
        assert_eq!(
            check("false", boolean, Op::Eq, &Literal::Boolean(false)),
            Ok(true)
        );
        assert!(check("1", boolean, Op::Lt, &Literal::Boolean(true)).is_err());
        assert!(check("1", boolean, Op::Eq, &num("2")).is_err());

        let string = (BaseType::String, false);
        assert_eq!(check("TCP", string, Op::Eq, &s("TCP")), Ok(true));
        assert_eq!(check("TCP", string, Op::Eq, &s("tcp")), Ok(false));
        assert_eq!(check("", string, Op::Eq, &s("")), Ok(true));
        assert_eq!(check("7", string, Op::Eq, &num("7")), Ok(true));
        assert_eq!(check("a", string, Op::Ne, &s("b")), Ok(true));
        for op in [Op::Lt, Op::Gt, Op::Le, Op::Ge] {
            let err = check("a", string, op, &s("b")).unwrap_err();
            assert_eq!(err.usp_error(), 7008);
        }
        let hex = (BaseType::HexBinary, false);
        assert_eq!(check("0aFF", hex, Op::Eq, &s("0AFF")), Ok(true));
        assert!(check("0a", hex, Op::Gt, &s("0A")).is_err());
    }

    #[test]
    fn comparing_lists() {
        let list = (BaseType::String, true);
        assert_eq!(check("a,b, c", list, Op::Contains, &s("c")), Ok(true));
        assert_eq!(check("a,b", list, Op::Contains, &s("ab")), Ok(false));
        assert_eq!(check("", list, Op::Contains, &s("a")), Ok(false));
        assert_eq!(check("", list, Op::Contains, &s("")), Ok(false));
        assert_eq!(check(",", list, Op::Contains, &s("")), Ok(true));
        assert_eq!(check("a,b", list, Op::Eq, &s("a,b")), Ok(true));
        assert_eq!(check("a,b", list, Op::Ne, &s("a")), Ok(true));
        assert!(check("a,b", list, Op::Lt, &s("a")).is_err());
        let ints = (BaseType::UnsignedInt, true);
        assert_eq!(check("1,02,3", ints, Op::Contains, &num("2")), Ok(true));
        assert!(check("1,2", ints, Op::Contains, &Literal::Boolean(true)).is_err());
        let scalar = (BaseType::String, false);
        assert!(check("a,b", scalar, Op::Contains, &s("a")).is_err());
    }

    #[test]
    fn comparing_date_times() {
        let dt = (BaseType::DateTime, false);
        let t = |v: &str, op, l: &str| check(v, dt, op, &s(l));
        assert_eq!(
            t("2024-05-01T10:00:00Z", Op::Gt, "2024-04-30T23:59:59Z"),
            Ok(true)
        );
        assert_eq!(
            t("2024-05-01T10:00:00Z", Op::Eq, "2024-05-01T10:00:00.000Z"),
            Ok(true)
        );
        assert_eq!(
            t("2024-05-01T10:00:00.5Z", Op::Gt, "2024-05-01T10:00:00Z"),
            Ok(true)
        );
        assert_eq!(
            t("2024-05-01T10:00:00.05Z", Op::Lt, "2024-05-01T10:00:00.5Z"),
            Ok(true)
        );
        assert_eq!(
            t("0001-01-01T00:00:00Z", Op::Eq, "0001-01-01T00:00:00Z"),
            Ok(true)
        );
        // The unknown time is not ordered: an error as literal, no match as value.
        assert!(t("2024-05-01T10:00:00Z", Op::Lt, "0001-01-01T00:00:00Z").is_err());
        assert_eq!(
            t("0001-01-01T00:00:00Z", Op::Lt, "2024-01-01T00:00:00Z"),
            Ok(false)
        );
        assert!(t("2024-05-01T10:00:00Z", Op::Eq, "2024-05-01").is_err());
        // Literals with an offset are read as the UTC time they denote.
        assert_eq!(
            t("2024-05-01T10:00:00Z", Op::Eq, "2024-05-01T11:00:00+01:00"),
            Ok(true)
        );
        assert_eq!(
            t("2024-05-01T10:00:00Z", Op::Eq, "2024-05-01T10:00:00+01:00"),
            Ok(false)
        );
        assert!(check("2024-05-01T10:00:00Z", dt, Op::Eq, &num("1")).is_err());
    }

    #[test]
    fn instance_paths_split_without_copying() {
        use InstanceSegment::{Instance, Name};
        let limits = Limits::DEFAULT;
        let split = InstancePath::split("Device.WiFi.SSID.12.SSID", &limits).unwrap();
        assert_eq!(split.segments, [Name("WiFi"), Name("SSID"), Instance(12)]);
        assert_eq!(split.item, Some("SSID"));
        let object = InstancePath::split("Device.X_ACME-COM_Box.", &limits).unwrap();
        assert_eq!(object.segments, [Name("X_ACME-COM_Box")]);
        assert_eq!(object.item, None);
        assert_eq!(InstancePath::split("", &limits).unwrap().segments, []);
        for (bad, code) in [
            ("Device.WiFi.SSID.01.", 7008),
            ("Device.WiFi.SSID.*.", 7008),
            ("Device.WiFi..SSID", 7008),
            ("Device.WiFi.SSID.4294967296.", 7008),
            ("Other.WiFi.", 7026),
        ] {
            let err = InstancePath::split(bad, &limits).unwrap_err();
            assert_eq!(err.usp_error(), code, "{bad}");
        }
        let long = std::format!("Device.{}", "A.".repeat(600));
        assert!(matches!(
            InstancePath::split(&long, &limits),
            Err(Error::LimitExceeded { .. })
        ));
    }

    #[test]
    fn term_matches_reports_the_term() {
        let path = parse("Device.X.[Name<\"a\"].").unwrap();
        let Some(Segment::Filter(filter)) = path.segments.last() else {
            panic!()
        };
        let term = filter.terms.first().unwrap();
        assert_eq!(
            term.matches(
                &Value::parse("b", &syntax((BaseType::String, false))).unwrap(),
                &syntax((BaseType::String, false))
            ),
            Err(Error::InvalidPath {
                path: "Name<\"a\"".to_owned(),
                position: 0,
                reason: "a string value takes only '==' and '!='",
            })
        );
        assert_eq!(
            term.matches(
                &Value::parse("5", &syntax((BaseType::Int, false))).unwrap(),
                &syntax((BaseType::Int, false))
            ),
            Err(Error::InvalidPath {
                path: "Name<\"a\"".to_owned(),
                position: 0,
                reason: "the literal is not a number",
            })
        );
        let ok = parse("Device.X.[Port<=1024].").unwrap();
        let Some(Segment::Filter(filter)) = ok.segments.last() else {
            panic!()
        };
        let term = filter.terms.first().unwrap();
        assert_eq!(term.parameter_name(), Some("Port"));
        assert_eq!(
            term.matches(
                &Value::parse("80", &syntax((BaseType::UnsignedInt, false))).unwrap(),
                &syntax((BaseType::UnsignedInt, false))
            ),
            Ok(true)
        );
    }

    // --- property tests -------------------------------------------------------------------

    fn name_strategy() -> impl Strategy<Value = String> {
        "[A-Za-z_][A-Za-z0-9_-]{0,6}"
    }

    fn follow_strategy() -> impl Strategy<Value = Follow> {
        let index = prop_oneof![
            (1..=u32::MAX).prop_map(FollowIndex::Nth),
            Just(FollowIndex::All)
        ];
        (name_strategy(), index).prop_map(|(name, index)| Follow { name, index })
    }

    fn literal_strategy() -> impl Strategy<Value = Literal> {
        prop_oneof![
            any::<bool>().prop_map(Literal::Boolean),
            any::<i64>().prop_map(|n| Literal::Number(Number::from(n))),
            (any::<i32>(), "[0-9]{1,4}").prop_map(|(n, frac)| {
                Literal::Number(Number::new(&std::format!("{n}.{frac}")).unwrap())
            }),
            any::<String>().prop_map(Literal::String),
        ]
    }

    fn term_strategy() -> impl Strategy<Value = Term> {
        let step = prop_oneof![
            name_strategy().prop_map(Step::Name),
            follow_strategy().prop_map(Step::Follow)
        ];
        let op = prop_oneof![
            Just(Op::Eq),
            Just(Op::Ne),
            Just(Op::Contains),
            Just(Op::Lt),
            Just(Op::Gt),
            Just(Op::Le),
            Just(Op::Ge)
        ];
        (
            proptest::collection::vec(step, 0..3),
            name_strategy(),
            op,
            literal_strategy(),
        )
            .prop_map(|(mut relpath, last, op, value)| {
                relpath.push(Step::Name(last));
                Term { relpath, op, value }
            })
    }

    /// One component: a name with an optional instance slot, or a follow.
    fn component_strategy() -> impl Strategy<Value = Vec<Segment>> {
        let slot = prop_oneof![
            (1..=u32::MAX).prop_map(Segment::Instance),
            Just(Segment::Placeholder),
            Just(Segment::Wildcard),
            proptest::collection::vec(term_strategy(), 1..4)
                .prop_map(|terms| Segment::Filter(Filter { terms })),
        ];
        prop_oneof![
            (name_strategy(), proptest::option::of(slot)).prop_map(|(name, slot)| {
                let mut v = std::vec![Segment::Name(name)];
                v.extend(slot);
                v
            }),
            follow_strategy().prop_map(|f| std::vec![Segment::Follow(f)]),
        ]
    }

    fn path_strategy() -> impl Strategy<Value = Path> {
        let kind = prop_oneof![
            Just(PathKind::Object),
            name_strategy().prop_map(PathKind::Parameter),
            name_strategy().prop_map(PathKind::Command),
            name_strategy().prop_map(PathKind::Event),
        ];
        (
            name_strategy(),
            proptest::collection::vec(component_strategy(), 0..5),
            kind,
        )
            .prop_map(|(first, components, kind)| {
                let mut segments = std::vec![Segment::Name(first)];
                segments.extend(components.into_iter().flatten());
                Path { segments, kind }
            })
    }

    const ROOMY: Limits = Limits {
        max_path_len: 1 << 20,
        max_filters: 64,
        max_terms: 64,
        max_reference_follows: 256,
        ..Limits::DEFAULT
    };

    proptest! {
        #[test]
        fn parse_never_panics(text in any::<String>()) {
            let _ = Path::parse(&text, &ROOMY);
            let _ = Path::parse_reference(&text, &ROOMY);
        }

        #[test]
        fn parse_never_panics_on_path_like_text(
            text in "[A-Za-z0-9_.\\[\\]{}*#+\"%=!<>~&|() \t-]{0,64}"
        ) {
            for limits in [ROOMY, Limits::DEFAULT] {
                if let Ok(path) = Path::parse(&text, &limits) {
                    // Whatever parses prints back to something that parses the same.
                    prop_assert_eq!(Path::parse(&path.to_string(), &ROOMY), Ok(path));
                }
            }
        }

        #[test]
        fn display_round_trips(path in path_strategy()) {
            let text = path.to_string();
            prop_assert_eq!(Path::parse(&text, &ROOMY), Ok(path.clone()));
            prop_assert_eq!(Path::parse_reference(&text, &ROOMY), Ok(path));
        }

        #[test]
        fn compare_never_panics(
            value in any::<String>(),
            literal in literal_strategy(),
            list in any::<bool>(),
        ) {
            for base in [
                BaseType::String, BaseType::Boolean, BaseType::Int, BaseType::UnsignedInt,
                BaseType::Long, BaseType::UnsignedLong, BaseType::DateTime, BaseType::Base64,
                BaseType::HexBinary, BaseType::Decimal,
            ] {
                let syntax = syntax((base, list));
                let Ok(value) = Value::parse(&value, &syntax) else { continue };
                for op in [Op::Eq, Op::Ne, Op::Contains, Op::Lt, Op::Gt, Op::Le, Op::Ge] {
                    let _ = compare(&value, &syntax, op, &literal);
                }
            }
        }
    }
}
