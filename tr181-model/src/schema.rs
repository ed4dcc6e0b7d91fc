//! The supported data model: static tables generated from the Broadband Forum XML.
//!
//! Every object, parameter, command and event of `Device:2` is one `static` entry. Items that
//! are identical in the CWMP and the USP variant of the model appear once with
//! [`Protocols::BOTH`]; items that differ appear once per variant, so every lookup names the
//! [`Protocol`] it asks for.
//!
//! Paths here are *schema* paths: multi-instance objects use `{i}` in the instance slot
//! (`Device.WiFi.SSID.{i}.Enable`), as in USP's GetSupportedDM and the TR-181 XML.
//!
//! Lookups are binary searches over sorted tables: first the top-level group
//! (`Device.WiFi.` → `WiFi`), then the object, then the item within the object.

use core::cmp::Ordering;
use std::string::{String, ToString};

use crate::generated::{
    DATA_TYPES, DEFAULT_VALUES, GROUPS, LIST_FACETS, LISTS, PATTERNS, RANGES, REFERENCES, SIZES,
    STRINGS, SYNTAXES, UNITS,
};
use crate::path::schema_path_of;
use crate::value::Value;

/// A management protocol, i.e. a variant of the `Device:2` model.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[allow(clippy::exhaustive_enums)] // TR-181 defines exactly these two variants.
pub enum Protocol {
    /// TR-069 (CWMP), model `tr-181-2-cwmp.xml`.
    Cwmp,
    /// TR-369 (USP), model `tr-181-2-usp.xml`.
    Usp,
}

/// The set of protocols whose model variant defines an item.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Protocols(u8);

impl Protocols {
    /// Only the CWMP variant has the item.
    pub const CWMP: Self = Self(1);
    /// Only the USP variant has the item.
    pub const USP: Self = Self(2);
    /// Both variants have the item, with the same definition.
    pub const BOTH: Self = Self(3);

    /// Whether `protocol`'s model has the item.
    pub const fn contains(self, protocol: Protocol) -> bool {
        let bit = match protocol {
            Protocol::Cwmp => 1,
            Protocol::Usp => 2,
        };
        self.0 & bit != 0
    }
}

/// Who may write a parameter (or, for an object, whether instances may be added and deleted).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[allow(clippy::exhaustive_enums)] // The TR-106 `access` attribute has exactly these values.
pub enum Access {
    /// Only the device changes it. For a table: the controller cannot add or delete rows.
    ReadOnly,
    /// The controller may change it. For a table: the controller may add and delete rows.
    ReadWrite,
    /// The controller may set it once, normally at creation (USP `Alias`).
    WriteOnceReadOnly,
}

/// The lifecycle status of an item. Items whose status is `deleted` are not in the tables.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[allow(clippy::exhaustive_enums)] // TR-106 status values, `deleted` being left out.
pub enum Status {
    /// In use.
    Current,
    /// Still supported but will go away; should not be used by new controllers.
    Deprecated,
    /// Kept only for backward compatibility; may be absent from implementations.
    Obsoleted,
}

/// The data model version that introduced an item, e.g. `2.12`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Version {
    /// Major version (2 for `Device:2`).
    pub major: u8,
    /// Minor version (the TR-181 amendment).
    pub minor: u8,
    /// Corrigendum number, 0 if none.
    pub patch: u8,
}

/// The [`Version`] that introduced an item, as the tables keep it: every item of the
/// `Device:2` model has major version 2, so one byte holds the minor version (bits 0 to 4) and
/// the corrigendum (bits 5 to 7). The generator checks that both fit.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Since(u8);

impl Since {
    /// `2.minor.patch`; `minor` must be under 32 and `patch` under 8.
    pub(crate) const fn new(minor: u8, patch: u8) -> Self {
        Self(minor & 0x1F | patch << 5)
    }

    /// The version.
    const fn get(self) -> Version {
        Version {
            major: 2,
            minor: self.0 & 0x1F,
            patch: self.0 >> 5,
        }
    }
}

/// The TR-106 primitive type a parameter value has on the wire.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[allow(clippy::exhaustive_enums)] // The TR-106 primitive types.
pub enum BaseType {
    /// `string`
    String,
    /// `boolean`
    Boolean,
    /// `int` (32-bit signed)
    Int,
    /// `unsignedInt` (32-bit unsigned)
    UnsignedInt,
    /// `long` (64-bit signed)
    Long,
    /// `unsignedLong` (64-bit unsigned)
    UnsignedLong,
    /// `dateTime` (UTC or relative to boot; `0001-01-01T00:00:00Z` is the unknown time)
    DateTime,
    /// `base64` binary
    Base64,
    /// `hexBinary` binary
    HexBinary,
    /// `decimal`
    Decimal,
}

impl BaseType {
    /// Every base type, in the order above: for walking them all (type names, fuzzing).
    pub const ALL: [Self; 10] = [
        Self::String,
        Self::Boolean,
        Self::Int,
        Self::UnsignedInt,
        Self::Long,
        Self::UnsignedLong,
        Self::DateTime,
        Self::Base64,
        Self::HexBinary,
        Self::Decimal,
    ];
}

/// Size limits of a string, base64 or hexBinary value (or of each list item).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SizeFacet {
    pub(crate) min_length: Option<u32>,
    pub(crate) max_length: Option<u32>,
}

impl SizeFacet {
    /// A size limit from `min_length` to `max_length` (either may be open).
    pub const fn new(min_length: Option<u32>, max_length: Option<u32>) -> Self {
        Self {
            min_length,
            max_length,
        }
    }

    /// Minimum length (characters, or bytes for binary types).
    pub const fn min_length(&self) -> Option<u32> {
        self.min_length
    }

    /// Maximum length (characters, or bytes for binary types).
    pub const fn max_length(&self) -> Option<u32> {
        self.max_length
    }
}

/// An inclusive numeric range, with an optional step from the minimum.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RangeFacet {
    pub(crate) min: Option<i64>,
    pub(crate) max: Option<i64>,
    pub(crate) step: Option<u64>,
}

impl RangeFacet {
    /// A range from `min` to `max` (either may be open) in steps of `step` from `min`.
    pub const fn new(min: Option<i64>, max: Option<i64>, step: Option<u64>) -> Self {
        Self { min, max, step }
    }

    /// Lowest allowed value.
    pub const fn min(&self) -> Option<i64> {
        self.min
    }

    /// Highest allowed value.
    pub const fn max(&self) -> Option<i64> {
        self.max
    }

    /// Allowed values are `min + k * step`.
    pub const fn step(&self) -> Option<u64> {
        self.step
    }
}

/// The value is a comma-separated list of items of the base type.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ListFacet {
    pub(crate) min_items: u32,
    pub(crate) max_items: Option<u32>,
    pub(crate) max_length: Option<u32>,
}

impl ListFacet {
    /// A list of `min_items` to `max_items` items, at most `max_length` characters in all.
    pub const fn new(min_items: u32, max_items: Option<u32>, max_length: Option<u32>) -> Self {
        Self {
            min_items,
            max_items,
            max_length,
        }
    }

    /// Minimum number of items.
    pub const fn min_items(&self) -> u32 {
        self.min_items
    }

    /// Maximum number of items, `None` for no limit.
    pub const fn max_items(&self) -> Option<u32> {
        self.max_items
    }

    /// Maximum length of the whole comma-separated string.
    pub const fn max_length(&self) -> Option<u32> {
        self.max_length
    }
}

/// A list of strings of the schema (enumerations, patterns, key parameter names, ...).
///
/// A small `Copy` view of a range of the generated list table, whose entries are ranges of
/// the one string blob: no pointers for a position-independent executable to relocate.
#[derive(Clone, Copy)]
pub struct StrList(ListRepr);

#[derive(Clone, Copy)]
enum ListRepr {
    /// `LISTS[start..start + len]` (`u16`: the table has 2,863 entries, and a syntax's
    /// enumerations take 4 bytes instead of 8).
    Table { start: u16, len: u16 },
    /// A list written by a unit test.
    #[cfg(test)]
    Static(&'static [&'static str]),
}

impl StrList {
    /// The empty list.
    pub(crate) const EMPTY: Self = Self::new(0, 0);

    /// The list `LISTS[start..start + len]`.
    pub(crate) const fn new(start: u16, len: u16) -> Self {
        Self(ListRepr::Table { start, len })
    }

    /// A list of `strings` outside the tables, for unit tests.
    #[cfg(test)]
    pub(crate) const fn of(strings: &'static [&'static str]) -> Self {
        Self(ListRepr::Static(strings))
    }

    /// The number of strings.
    pub fn len(self) -> usize {
        match self.0 {
            ListRepr::Table { len, .. } => usize::from(len),
            #[cfg(test)]
            ListRepr::Static(strings) => strings.len(),
        }
    }

    /// Whether the list is empty.
    pub fn is_empty(self) -> bool {
        self.len() == 0
    }

    /// The string at `index`.
    pub fn get(self, index: usize) -> Option<&'static str> {
        match self.0 {
            ListRepr::Table { start, .. } => {
                let start = usize::from(start);
                (index < self.len())
                    .then(|| LISTS.get(start.checked_add(index)?).map(|s| s.get()))
                    .flatten()
            }
            #[cfg(test)]
            ListRepr::Static(strings) => strings.get(index).copied(),
        }
    }

    /// Whether `text` is one of the strings.
    pub fn contains(self, text: &str) -> bool {
        self.iter().any(|s| s == text)
    }

    /// The strings joined by `separator` (`Alias,Name` for a key).
    pub fn join(self, separator: &str) -> String {
        let mut out = String::new();
        for (i, s) in self.iter().enumerate() {
            if i > 0 {
                out.push_str(separator);
            }
            out.push_str(s);
        }
        out
    }

    /// The strings, in order.
    pub fn iter(self) -> StrIter {
        StrIter {
            list: self,
            range: 0..self.len(),
        }
    }
}

impl IntoIterator for StrList {
    type Item = &'static str;
    type IntoIter = StrIter;

    fn into_iter(self) -> StrIter {
        self.iter()
    }
}

impl core::fmt::Debug for StrList {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_list().entries(self.iter()).finish()
    }
}

impl PartialEq for StrList {
    fn eq(&self, other: &Self) -> bool {
        self.iter().eq(other.iter())
    }
}

impl Eq for StrList {}

impl<const N: usize> PartialEq<[&str; N]> for StrList {
    fn eq(&self, other: &[&str; N]) -> bool {
        self.iter().eq(other.iter().copied())
    }
}

/// The strings of a [`StrList`], in order.
#[derive(Clone, Debug)]
pub struct StrIter {
    list: StrList,
    range: core::ops::Range<usize>,
}

impl Iterator for StrIter {
    type Item = &'static str;

    fn next(&mut self) -> Option<&'static str> {
        let index = self.range.next()?;
        Some(self.list.get(index).unwrap_or(""))
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        self.range.size_hint()
    }
}

impl DoubleEndedIterator for StrIter {
    fn next_back(&mut self) -> Option<&'static str> {
        let index = self.range.next_back()?;
        Some(self.list.get(index).unwrap_or(""))
    }
}

impl ExactSizeIterator for StrIter {}

/// How strongly a reference holds its target (TR-106 `refType`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[allow(clippy::exhaustive_enums)] // TR-106 refType values.
pub enum RefType {
    /// Cleared automatically when the target is deleted.
    Strong,
    /// May dangle after the target is deleted.
    Weak,
}

/// What a path reference may point to (TR-106 `targetType`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[allow(clippy::exhaustive_enums)] // TR-106 targetType values.
pub enum TargetType {
    /// Any parameter or object.
    Any,
    /// A parameter.
    Parameter,
    /// An object.
    Object,
    /// A single-instance object.
    Single,
    /// A table row.
    Row,
}

/// A parameter whose value names other items of the model.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Reference {
    /// The value is a path (`pathRef`).
    Path(PathReference),
    /// The value is one of the values of another (list) parameter (`enumerationRef`).
    Enumeration(EnumerationReference),
}

/// A `pathRef`: the value is a path of the model.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PathReference {
    pub(crate) ref_type: RefType,
    pub(crate) target_type: TargetType,
    pub(crate) target_parents: StrList,
}

impl PathReference {
    /// Strong or weak.
    pub const fn ref_type(&self) -> RefType {
        self.ref_type
    }

    /// What the path may point to.
    pub const fn target_type(&self) -> TargetType {
        self.target_type
    }

    /// The tables (absolute schema paths, `{i}` form) the target must be in; empty for
    /// anywhere.
    pub const fn target_parents(&self) -> StrList {
        self.target_parents
    }
}

/// An `enumerationRef`: the value is one of the values of another (list) parameter.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct EnumerationReference {
    pub(crate) target_param: Str,
    pub(crate) null_value: Option<Str>,
}

impl EnumerationReference {
    /// Path (possibly relative, `#.` for the parent) of the parameter with the values.
    pub fn target_param(&self) -> &'static str {
        self.target_param.get()
    }

    /// A value meaning "none", if the model defines one.
    pub fn null_value(&self) -> Option<&'static str> {
        self.null_value.map(Str::get)
    }
}

/// The kind of a parameter default (TR-106 `default/@type`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[allow(clippy::exhaustive_enums)] // TR-106 default types.
pub enum DefaultKind {
    /// The value after a factory reset.
    Factory,
    /// The value of a newly created instance.
    Object,
    /// A suggested value for implementers.
    Implementation,
    /// The value of a command argument that was left out.
    Parameter,
}

/// A default value of a parameter or argument.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct DefaultValue {
    pub(crate) kind: DefaultKind,
    pub(crate) value: Str,
}

impl DefaultValue {
    /// When the default applies.
    pub const fn kind(&self) -> DefaultKind {
        self.kind
    }

    /// The value, in its string form.
    pub fn value(&self) -> &'static str {
        self.value.get()
    }
}

/// A name or path of the generated tables: a range of the one string blob, so that the tables hold no pointers a position-independent executable
/// would have to relocate at load time.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Str {
    /// `STRINGS[offset..offset + len]` (byte offsets on character boundaries). The offset is
    /// kept as 3 little-endian bytes (the blob is under 16 MiB) and the length in one (every
    /// name and path is under 256 bytes; the generator checks both), so that a `Str` is 4
    /// bytes aligned to 1: a parameter entry then fits in 10 bytes.
    Blob { offset: [u8; 3], len: u8 },
    /// A string written by a unit test.
    #[cfg(test)]
    Static(&'static str),
}

impl Str {
    /// The blob range `offset..offset + len`; `offset` must be under 2^24 (its top byte is
    /// dropped).
    pub(crate) const fn new(offset: u32, len: u8) -> Self {
        let [low, middle, high, _] = offset.to_le_bytes();
        Self::Blob {
            offset: [low, middle, high],
            len,
        }
    }

    /// The text (empty if the range is not in the blob, which the generator rules out).
    pub(crate) fn get(self) -> &'static str {
        match self {
            Self::Blob {
                offset: [low, middle, high],
                len,
            } => {
                let start = usize::try_from(u32::from_le_bytes([low, middle, high, 0]))
                    .unwrap_or(usize::MAX);
                let len = usize::from(len);
                STRINGS.get(start..start.saturating_add(len)).unwrap_or("")
            }
            #[cfg(test)]
            Self::Static(text) => text,
        }
    }
}

/// A range `start..start + len` of a generated table (a group's parameters, the size facets,
/// ...): like [`Str`], no pointer for a position-independent executable to relocate.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Span {
    start: u16,
    len: u16,
}

impl Span {
    /// The empty range.
    pub(crate) const EMPTY: Self = Self::new(0, 0);

    /// The range `start..start + len`.
    pub(crate) const fn new(start: u16, len: u16) -> Self {
        Self { start, len }
    }

    /// The entries of `table` in this range (none if the range is not in the table, which
    /// the generator rules out).
    fn of<T>(self, table: &'static [T]) -> &'static [T] {
        let start = usize::from(self.start);
        table
            .get(start..start + usize::from(self.len))
            .unwrap_or(&[])
    }
}

/// The size or range facets of a syntax: a range of the generated facet table.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Facets<T: 'static> {
    /// A range of [`SIZES`] or [`RANGES`] (the `PhantomData` says which).
    Table(Span, core::marker::PhantomData<T>),
    /// Facets written by a unit test.
    #[cfg(test)]
    Static(&'static [T]),
}

impl<T> Facets<T> {
    /// No facets.
    pub(crate) const EMPTY: Self = Self::new(0, 0);

    /// The facets `start..start + len` of the table.
    pub(crate) const fn new(start: u16, len: u16) -> Self {
        Self::Table(Span::new(start, len), core::marker::PhantomData)
    }

    /// Facets outside the tables, for unit tests.
    #[cfg(test)]
    pub(crate) const fn of(facets: &'static [T]) -> Self {
        Self::Static(facets)
    }

    /// The facets, from `table` unless a test wrote them.
    fn get(self, table: &'static [T]) -> &'static [T] {
        match self {
            Self::Table(span, _) => span.of(table),
            #[cfg(test)]
            Self::Static(facets) => facets,
        }
    }
}

/// A field that few syntaxes set (list facet, data type, units, default, patterns,
/// reference): one more than the index of its value in a side table, 0 for none, so that each
/// of the 1,381 syntaxes holds 2 bytes instead of the value.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Rare<T: 'static> {
    /// One more than the index in the side table (the `PhantomData` says which), 0 for none.
    Table(u16, core::marker::PhantomData<T>),
    /// A value written by a unit test.
    #[cfg(test)]
    Static(T),
}

impl<T: Copy> Rare<T> {
    /// Not set.
    pub(crate) const NONE: Self = Self::new(0);

    /// The entry `number - 1` of the side table, or none for 0.
    pub(crate) const fn new(number: u16) -> Self {
        Self::Table(number, core::marker::PhantomData)
    }

    /// A value outside the tables, for unit tests.
    #[cfg(test)]
    pub(crate) const fn of(value: T) -> Self {
        Self::Static(value)
    }

    /// The value, from `table` unless a test wrote it (none if the index is not in the
    /// table, which the generator rules out).
    fn get(self, table: &'static [T]) -> Option<T> {
        match self {
            Self::Table(number, _) => table.get(usize::from(number).checked_sub(1)?).copied(),
            #[cfg(test)]
            Self::Static(value) => Some(value),
        }
    }
}

/// The group an object, command or event is in: the one whose tables its [`Span`]s index.
#[derive(Clone, Copy)]
pub(crate) struct GroupRef(pub(crate) &'static Group);

impl PartialEq for GroupRef {
    fn eq(&self, other: &Self) -> bool {
        core::ptr::eq(self.0, other.0)
    }
}

impl Eq for GroupRef {}

impl core::fmt::Debug for GroupRef {
    /// The group's name only: its objects point back to it.
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_tuple("Group").field(&self.0.name).finish()
    }
}

/// The syntax at `index` of the generated syntax table.
fn syntax_at(index: u16) -> &'static Syntax {
    /// Stands in for an index outside the table, which the generator rules out.
    static UNKNOWN: Syntax = Syntax::of(BaseType::String);
    SYNTAXES.get(usize::from(index)).unwrap_or(&UNKNOWN)
}

/// The full type of a parameter: base type, named data type and every restriction on it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Syntax {
    pub(crate) base: BaseType,
    pub(crate) data_type: Rare<Str>,
    pub(crate) list: Rare<ListFacet>,
    pub(crate) sizes: Facets<SizeFacet>,
    pub(crate) ranges: Facets<RangeFacet>,
    pub(crate) enumerations: StrList,
    pub(crate) patterns: Rare<StrList>,
    pub(crate) reference: Rare<Reference>,
    pub(crate) units: Rare<Str>,
    pub(crate) default: Rare<DefaultValue>,
    pub(crate) hidden: bool,
    pub(crate) secured: bool,
    pub(crate) command: bool,
}

impl Syntax {
    /// A syntax of `base` without restrictions, flags or default: the starting point that the
    /// generated tables (and tests) refine.
    pub const fn of(base: BaseType) -> Self {
        Self {
            base,
            data_type: Rare::NONE,
            list: Rare::NONE,
            sizes: Facets::EMPTY,
            ranges: Facets::EMPTY,
            enumerations: StrList::EMPTY,
            patterns: Rare::NONE,
            reference: Rare::NONE,
            units: Rare::NONE,
            default: Rare::NONE,
            hidden: false,
            secured: false,
            command: false,
        }
    }

    /// This syntax as a comma-separated list of its values, with the facets `list` of a list
    /// parameter of the model (the tables hold each distinct one once); `None` for facets no
    /// parameter has.
    pub fn with_list(self, list: ListFacet) -> Option<Self> {
        let index = LIST_FACETS.iter().position(|facet| *facet == list)?;
        let number = u16::try_from(index.checked_add(1)?).ok()?;
        Some(Self {
            list: Rare::new(number),
            ..self
        })
    }

    /// The TR-106 primitive type (of each item, for lists).
    pub const fn base(&self) -> BaseType {
        self.base
    }

    /// The named TR-106/TR-181 data type (`IPAddress`, `MACAddress`, ...), if any.
    pub fn data_type(&self) -> Option<&'static str> {
        self.data_type.get(&DATA_TYPES).map(Str::get)
    }

    /// Set when the value is a comma-separated list.
    pub fn list(&self) -> Option<ListFacet> {
        self.list.get(&LIST_FACETS)
    }

    /// Size limits; a value must satisfy one of them when any are given.
    pub fn sizes(&self) -> &'static [SizeFacet] {
        self.sizes.get(&SIZES)
    }

    /// Numeric ranges; a value must be in one of them when any are given.
    pub fn ranges(&self) -> &'static [RangeFacet] {
        self.ranges.get(&RANGES)
    }

    /// Allowed values; empty for no restriction.
    pub const fn enumerations(&self) -> StrList {
        self.enumerations
    }

    /// Regular expressions (XML Schema flavour, implicitly anchored); a value must match one.
    pub fn patterns(&self) -> StrList {
        self.patterns.get(&PATTERNS).unwrap_or(StrList::EMPTY)
    }

    /// Set when the value refers to other items.
    pub fn reference(&self) -> Option<Reference> {
        self.reference.get(&REFERENCES)
    }

    /// Units, e.g. `seconds`.
    pub fn units(&self) -> Option<&'static str> {
        self.units.get(&UNITS).map(Str::get)
    }

    /// A default value.
    pub fn default(&self) -> Option<DefaultValue> {
        self.default.get(&DEFAULT_VALUES)
    }

    /// Reads return an empty value (passwords, keys).
    pub const fn hidden(&self) -> bool {
        self.hidden
    }

    /// Reads return an empty value unless the reader has the right to secured values.
    pub const fn secured(&self) -> bool {
        self.secured
    }

    /// The parameter triggers an action when set (TR-106 `command`).
    pub const fn command(&self) -> bool {
        self.command
    }
}

/// How CWMP Active Notification may be set on a parameter (TR-106 `activeNotify`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[allow(clippy::exhaustive_enums)] // TR-106 activeNotify values.
pub enum ActiveNotify {
    /// The ACS may turn active notification on and off.
    Normal,
    /// Active notification is always on.
    ForceEnabled,
    /// Active notification is on by default.
    ForceDefaultEnabled,
    /// The CPE may refuse to turn active notification on.
    CanDeny,
}

/// The accessors every item of the model has: `status`, `version` and `protocols` (a
/// parameter keeps its protocols among its flags, and has its own accessor for them).
macro_rules! lifecycle_accessors {
    () => {
        lifecycle_accessors!(status_and_version);

        /// Model variants that have it.
        pub const fn protocols(&self) -> Protocols {
            self.protocols
        }
    };
    (status_and_version) => {
        /// Lifecycle status.
        pub const fn status(&self) -> Status {
            self.status
        }

        /// Version that introduced it.
        pub const fn version(&self) -> Version {
            self.version.get()
        }
    };
}

/// A parameter of an object, or an argument of a command or event.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Parameter {
    pub(crate) name: Str,
    pub(crate) access: Access,
    pub(crate) syntax: u16,
    pub(crate) status: Status,
    pub(crate) version: Since,
    pub(crate) flags: ParameterFlags,
}

/// `protocols`, `forced_inform`, `active_notify` and `mandatory` of a parameter packed in one
/// byte, so that the 9,012 parameter entries are 10 bytes each.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct ParameterFlags(u8);

impl ParameterFlags {
    /// In both variants, not forced, normal active notification, not mandatory.
    pub(crate) const NONE: Self = Self::new(Protocols::BOTH, false, ActiveNotify::Normal, false);

    /// Bit 0: forced inform; bit 1: mandatory; bits 2 and 3: active notify; bits 4 and 5:
    /// the protocols.
    pub(crate) const fn new(
        protocols: Protocols,
        forced_inform: bool,
        active_notify: ActiveNotify,
        mandatory: bool,
    ) -> Self {
        let notify = match active_notify {
            ActiveNotify::Normal => 0,
            ActiveNotify::ForceEnabled => 1,
            ActiveNotify::ForceDefaultEnabled => 2,
            ActiveNotify::CanDeny => 3,
        };
        Self(forced_inform as u8 | (mandatory as u8) << 1 | notify << 2 | (protocols.0 & 3) << 4)
    }
}

impl Parameter {
    /// The name within its object, or the relative path within a command/event
    /// (`Result.{i}.Host`).
    pub fn name(&self) -> &'static str {
        self.name.get()
    }

    /// Who may write it. For arguments, `ReadWrite` marks input, `ReadOnly` output.
    pub const fn access(&self) -> Access {
        self.access
    }

    /// Type and restrictions (shared between parameters with the same syntax).
    pub fn syntax(&self) -> &'static Syntax {
        syntax_at(self.syntax)
    }

    lifecycle_accessors!(status_and_version);

    /// Model variants that have it.
    pub const fn protocols(&self) -> Protocols {
        Protocols(self.flags.0 >> 4 & 3)
    }

    /// CWMP: always sent in Inform.
    pub const fn forced_inform(&self) -> bool {
        self.flags.0 & 1 != 0
    }

    /// CWMP: how active notification may be set.
    pub const fn active_notify(&self) -> ActiveNotify {
        match self.flags.0 >> 2 & 3 {
            0 => ActiveNotify::Normal,
            1 => ActiveNotify::ForceEnabled,
            2 => ActiveNotify::ForceDefaultEnabled,
            _ => ActiveNotify::CanDeny,
        }
    }

    /// Command input arguments only: the caller must supply it.
    pub const fn mandatory(&self) -> bool {
        self.flags.0 & 2 != 0
    }
}

/// A set of parameters whose values together identify a table row.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct UniqueKey {
    pub(crate) functional: bool,
    pub(crate) parameters: StrList,
}

impl UniqueKey {
    /// The key does not consist only of `Alias` (a functional key is always unique).
    pub const fn functional(&self) -> bool {
        self.functional
    }

    /// The parameter names that form the key.
    pub const fn parameters(&self) -> StrList {
        self.parameters
    }
}

/// A command (`Name()`), USP only.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Command {
    pub(crate) name: Str,
    pub(crate) is_async: bool,
    pub(crate) group: GroupRef,
    /// Ranges of the group's parameter table.
    pub(crate) input: Span,
    pub(crate) output: Span,
    pub(crate) status: Status,
    pub(crate) version: Since,
    pub(crate) protocols: Protocols,
}

impl Command {
    /// The name including `()`.
    pub fn name(&self) -> &'static str {
        self.name.get()
    }

    /// Completes after the Operate response (`Device.LocalAgent.Request.{i}`).
    pub const fn is_async(&self) -> bool {
        self.is_async
    }

    /// Input arguments, sorted by relative path.
    pub fn input(&self) -> &'static [Parameter] {
        self.input.of(self.group.0.parameters)
    }

    /// Output arguments, sorted by relative path.
    pub fn output(&self) -> &'static [Parameter] {
        self.output.of(self.group.0.parameters)
    }

    lifecycle_accessors!();
}

/// An event (`Name!`), USP only.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Event {
    pub(crate) name: Str,
    pub(crate) group: GroupRef,
    /// A range of the group's parameter table.
    pub(crate) arguments: Span,
    pub(crate) status: Status,
    pub(crate) version: Since,
    pub(crate) protocols: Protocols,
}

impl Event {
    /// The name including `!`.
    pub fn name(&self) -> &'static str {
        self.name.get()
    }

    /// Arguments, sorted by relative path.
    pub fn arguments(&self) -> &'static [Parameter] {
        self.arguments.of(self.group.0.parameters)
    }

    lifecycle_accessors!();
}

/// An object: single-instance (`Device.DeviceInfo.`) or a table (`Device.IP.Interface.{i}.`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Object {
    pub(crate) path: Str,
    pub(crate) access: Access,
    pub(crate) min_entries: u32,
    pub(crate) max_entries: Option<u32>,
    pub(crate) num_entries_parameter: Option<Str>,
    pub(crate) enable_parameter: Option<Str>,
    pub(crate) status: Status,
    pub(crate) version: Since,
    pub(crate) protocols: Protocols,
    pub(crate) group: GroupRef,
    /// Ranges of the group's tables: one pointer per object instead of four slices.
    pub(crate) unique_keys: Span,
    pub(crate) parameters: Span,
    pub(crate) commands: Span,
    pub(crate) events: Span,
}

/// All objects whose path starts with `Device.<name>`, or the root object itself.
#[derive(Debug)]
pub struct Group {
    pub(crate) name: &'static str,
    pub(crate) objects: &'static [Object],
    /// The parameters of its objects, then the arguments of their commands and events.
    pub(crate) parameters: &'static [Parameter],
    pub(crate) commands: &'static [Command],
    pub(crate) events: &'static [Event],
    pub(crate) unique_keys: &'static [UniqueKey],
}

impl Group {
    /// The top-level name (`WiFi`), empty for the root `Device.` object.
    pub const fn name(&self) -> &'static str {
        self.name
    }

    /// The objects, sorted by path (then CWMP before USP).
    pub const fn objects(&self) -> &'static [Object] {
        self.objects
    }
}

/// A group without tables, for objects that stand in for missing ones.
pub(crate) static NO_GROUP: Group = Group {
    name: "",
    objects: &[],
    parameters: &[],
    commands: &[],
    events: &[],
    unique_keys: &[],
};

impl Object {
    /// The object at `path` in `group`, single-instance, read-only, current since 2.0, in both
    /// variants and with nothing in it: the starting point of the generated tables.
    pub(crate) const fn of(path: Str, group: &'static Group) -> Self {
        Self {
            path,
            access: Access::ReadOnly,
            min_entries: 1,
            max_entries: Some(1),
            num_entries_parameter: None,
            enable_parameter: None,
            status: Status::Current,
            version: Since::new(0, 0),
            protocols: Protocols::BOTH,
            group: GroupRef(group),
            unique_keys: Span::EMPTY,
            parameters: Span::EMPTY,
            commands: Span::EMPTY,
            events: Span::EMPTY,
        }
    }

    /// Schema path with trailing dot and `{i}` for instance slots.
    pub fn path(&self) -> &'static str {
        self.path.get()
    }

    /// For tables: whether the controller may add and delete rows.
    pub const fn access(&self) -> Access {
        self.access
    }

    /// Minimum number of instances (tables may be empty when 0).
    pub const fn min_entries(&self) -> u32 {
        self.min_entries
    }

    /// Maximum number of instances, `None` for unbounded.
    pub const fn max_entries(&self) -> Option<u32> {
        self.max_entries
    }

    /// For tables: the name of the `*NumberOfEntries` parameter in the parent object.
    pub fn num_entries_parameter(&self) -> Option<&'static str> {
        self.num_entries_parameter.map(Str::get)
    }

    /// For tables: the name of the parameter that enables a row.
    pub fn enable_parameter(&self) -> Option<&'static str> {
        self.enable_parameter.map(Str::get)
    }

    /// For tables: the unique keys.
    pub fn unique_keys(&self) -> &'static [UniqueKey] {
        self.unique_keys.of(self.group.0.unique_keys)
    }

    lifecycle_accessors!();

    /// Whether this object is a table (its path ends in `{i}.`).
    pub fn is_table(&self) -> bool {
        self.path().ends_with(".{i}.")
    }

    /// The parameter `name` of this object in `protocol`'s model.
    pub fn parameter(&self, name: &str, protocol: Protocol) -> Option<&'static Parameter> {
        find_named(self.all_parameters(), name, protocol, |p| {
            (p.name(), p.protocols())
        })
    }

    /// The command `name` (with `()`) of this object in `protocol`'s model.
    pub fn command(&self, name: &str, protocol: Protocol) -> Option<&'static Command> {
        find_named(self.all_commands(), name, protocol, |c| {
            (c.name(), c.protocols)
        })
    }

    /// The event `name` (with `!`) of this object in `protocol`'s model.
    pub fn event(&self, name: &str, protocol: Protocol) -> Option<&'static Event> {
        find_named(self.all_events(), name, protocol, |e| {
            (e.name(), e.protocols)
        })
    }

    /// The parameters of this object in `protocol`'s model, sorted by name.
    pub fn parameters(&self, protocol: Protocol) -> impl Iterator<Item = &'static Parameter> {
        self.all_parameters()
            .iter()
            .filter(move |p| p.protocols().contains(protocol))
    }

    /// The commands of this object in `protocol`'s model, sorted by name.
    pub fn commands(&self, protocol: Protocol) -> impl Iterator<Item = &'static Command> {
        self.all_commands()
            .iter()
            .filter(move |c| c.protocols.contains(protocol))
    }

    /// The events of this object in `protocol`'s model, sorted by name.
    pub fn events(&self, protocol: Protocol) -> impl Iterator<Item = &'static Event> {
        self.all_events()
            .iter()
            .filter(move |e| e.protocols.contains(protocol))
    }

    /// The parameters of both variants, sorted by name.
    fn all_parameters(&self) -> &'static [Parameter] {
        self.parameters.of(self.group.0.parameters)
    }

    /// The commands of both variants, sorted by name.
    fn all_commands(&self) -> &'static [Command] {
        self.commands.of(self.group.0.commands)
    }

    /// The events of both variants, sorted by name.
    fn all_events(&self) -> &'static [Event] {
        self.events.of(self.group.0.events)
    }

    /// The objects directly below this one (one name, plus `{i}` for tables) in `protocol`'s
    /// model, sorted by path.
    pub fn children(&self, protocol: Protocol) -> impl Iterator<Item = &'static Self> {
        let prefix = self.path();
        descendants(prefix, protocol).filter(move |child| {
            child.path().get(prefix.len()..).is_some_and(|rest| {
                let rest = rest.strip_suffix("{i}.").unwrap_or(rest);
                rest.len() > 1 && rest.find('.') == Some(rest.len() - 1)
            })
        })
    }
}

/// The object at schema path `path` (`Device.WiFi.SSID.{i}.`) in `protocol`'s model.
pub fn object(path: &str, protocol: Protocol) -> Option<&'static Object> {
    let group = group_of(path)?;
    let start = group.objects.partition_point(|o| o.path() < path);
    group
        .objects
        .get(start..)?
        .iter()
        .take_while(|o| o.path() == path)
        .find(|o| o.protocols.contains(protocol))
}

/// The parameter at schema path `path` (`Device.WiFi.SSID.{i}.Enable`).
pub fn parameter(path: &str, protocol: Protocol) -> Option<&'static Parameter> {
    let (object_path, name) = split_item(path)?;
    object(object_path, protocol)?.parameter(name, protocol)
}

/// The command at schema path `path` (`Device.Reboot()`).
pub fn command(path: &str, protocol: Protocol) -> Option<&'static Command> {
    let (object_path, name) = split_item(path)?;
    object(object_path, protocol)?.command(name, protocol)
}

/// The event at schema path `path` (`Device.Boot!`).
pub fn event(path: &str, protocol: Protocol) -> Option<&'static Event> {
    let (object_path, name) = split_item(path)?;
    object(object_path, protocol)?.event(name, protocol)
}

/// The value `value` of the parameter at instance path `path` (`parameter`, its definition in
/// `protocol`'s model) as `protocol`'s controllers see it: a list without the items that only
/// the other model variant's enumeration has (`USPEventNotif` in `Device.BulkData.Protocols`
/// is no CWMP value; the device's value serves both). `None` when it shows as it is, which
/// the definition alone decides for every parameter but a list whose enumeration differs
/// between the variants. Vendor values (`X_…`), in neither enumeration, stay.
pub fn variant_value(
    path: &str,
    parameter: &Parameter,
    value: &Value,
    protocol: Protocol,
) -> Option<Value> {
    let Value::List(items) = value else {
        return None;
    };
    let own = parameter.syntax().enumerations();
    if parameter.protocols() == Protocols::BOTH || own.is_empty() {
        return None;
    }
    let other = match protocol {
        Protocol::Cwmp => Protocol::Usp,
        Protocol::Usp => Protocol::Cwmp,
    };
    let theirs = self::parameter(&schema_path_of(path), other)?
        .syntax()
        .enumerations();
    let foreign = |item: &Value| {
        let text = item.to_string();
        theirs.contains(&text) && !own.contains(&text)
    };
    items.iter().any(foreign).then(|| {
        Value::List(
            items
                .iter()
                .filter(|item| !foreign(item))
                .cloned()
                .collect(),
        )
    })
}

/// Every object of `protocol`'s model (of the enabled feature groups), in path order.
pub fn objects(protocol: Protocol) -> impl Iterator<Item = &'static Object> {
    GROUPS
        .iter()
        .flat_map(|g| g.objects.iter())
        .filter(move |o| o.protocols.contains(protocol))
}

/// The top-level groups compiled in (see the crate's cargo features).
pub fn groups() -> &'static [&'static Group] {
    GROUPS
}

/// Objects whose path starts with `prefix` (excluding `prefix` itself), in path order.
fn descendants(prefix: &'static str, protocol: Protocol) -> impl Iterator<Item = &'static Object> {
    let groups: &'static [&'static Group] = if prefix == "Device." {
        GROUPS
    } else {
        group_of(prefix).map_or(&[], core::slice::from_ref)
    };
    groups
        .iter()
        .flat_map(move |g| {
            let start = g.objects.partition_point(|o| o.path() <= prefix);
            g.objects.get(start..).unwrap_or(&[]).iter()
        })
        .take_while(move |o| o.path().starts_with(prefix))
        .filter(move |o| o.protocols.contains(protocol))
}

/// The group holding schema path `path`: the one named by the segment after `Device.`.
fn group_of(path: &str) -> Option<&'static &'static Group> {
    let rest = path.strip_prefix("Device.")?;
    let name = match rest.split_once('.') {
        // `Device.WiFi.` and everything below it; not `Device.Reboot()`, which has no dot.
        Some((name, _)) if !name.contains(['(', '!']) => name,
        _ => "",
    };
    GROUPS
        .binary_search_by(|g| g.name.cmp(name))
        .ok()
        .and_then(|i| GROUPS.get(i))
}

/// Splits `Device.X.Name` into (`Device.X.`, `Name`).
fn split_item(path: &str) -> Option<(&str, &str)> {
    let dot = path.rfind('.')?;
    let (object, name) = path.split_at(dot + 1);
    (!name.is_empty()).then_some((object, name))
}

/// Binary search in a table sorted by name, then pick the entry of `protocol`.
fn find_named<T>(
    items: &'static [T],
    name: &str,
    protocol: Protocol,
    key: impl Fn(&T) -> (&'static str, Protocols),
) -> Option<&'static T> {
    let start = items.partition_point(|i| key(i).0.cmp(name) == Ordering::Less);
    items
        .get(start..)?
        .iter()
        .take_while(|i| key(i).0 == name)
        .find(|i| key(i).1.contains(protocol))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parameter_flags_read_back_every_combination() {
        for protocols in [Protocols::CWMP, Protocols::USP, Protocols::BOTH] {
            for notify in [
                ActiveNotify::Normal,
                ActiveNotify::ForceEnabled,
                ActiveNotify::ForceDefaultEnabled,
                ActiveNotify::CanDeny,
            ] {
                for (forced, mandatory) in
                    [(false, false), (false, true), (true, false), (true, true)]
                {
                    let parameter = Parameter {
                        name: Str::Static("X"),
                        access: Access::ReadOnly,
                        syntax: 0,
                        status: Status::Current,
                        version: Since::new(0, 0),
                        flags: ParameterFlags::new(protocols, forced, notify, mandatory),
                    };
                    assert_eq!(
                        (
                            parameter.protocols(),
                            parameter.forced_inform(),
                            parameter.active_notify(),
                            parameter.mandatory()
                        ),
                        (protocols, forced, notify, mandatory)
                    );
                }
            }
        }
    }

    #[test]
    fn versions_read_back_from_one_byte() {
        for (minor, patch) in [(0, 0), (19, 0), (31, 7), (4, 1)] {
            let version = Version {
                major: 2,
                minor,
                patch,
            };
            assert_eq!(Since::new(minor, patch).get(), version);
        }
    }

    #[test]
    fn blob_strings_read_back_three_byte_offsets() {
        // An offset past 16 bits and a length of 255 survive the 4-byte packing; past the
        // blob's end the text is empty rather than a panic.
        let len = u8::try_from(STRINGS.len().min(255)).unwrap_or(0);
        let start = STRINGS.len() - usize::from(len);
        let offset = u32::try_from(start).unwrap_or(0);
        assert!(offset > 0xFFFF);
        assert_eq!(Str::new(offset, len).get(), &STRINGS[start..]);
        assert_eq!(Str::new(0x00FF_FFFF, 1).get(), "");
    }

    #[cfg(feature = "bulkdata")]
    #[test]
    fn lists_show_only_their_variants_values() {
        let path = "Device.BulkData.Protocols";
        let list = |items: &[&str]| {
            Value::List(items.iter().map(|i| Value::String((*i).into())).collect())
        };
        // `Streaming` is a CWMP value (deleted from the USP model), `USPEventNotif` a USP one.
        let stored = list(&["HTTP", "Streaming", "USPEventNotif", "X_EXAMPLE_Push"]);
        let view = |protocol| {
            let parameter = parameter(path, protocol).unwrap_or_else(|| panic!("{protocol:?}"));
            variant_value(path, parameter, &stored, protocol)
        };
        assert_eq!(
            view(Protocol::Cwmp),
            Some(list(&["HTTP", "Streaming", "X_EXAMPLE_Push"]))
        );
        assert_eq!(
            view(Protocol::Usp),
            Some(list(&["HTTP", "USPEventNotif", "X_EXAMPLE_Push"]))
        );
        let common = list(&["HTTP", "MQTT"]);
        let usp = parameter(path, Protocol::Usp).unwrap_or_else(|| panic!("USP"));
        assert_eq!(variant_value(path, usp, &common, Protocol::Usp), None);
        // A parameter both variants define alike is never looked up again.
        let both = parameter("Device.DeviceInfo.SoftwareVersion", Protocol::Cwmp);
        let both = both.unwrap_or_else(|| panic!("SoftwareVersion"));
        assert_eq!(variant_value(path, both, &stored, Protocol::Cwmp), None);
    }
}
