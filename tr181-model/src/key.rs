//! Typed keys: schema paths tagged with the Rust type of their value.
//!
//! The code generator emits one constant per parameter, for example
//!
//! ```
//! use tr181_model::key::Key;
//!
//! pub const SOFTWARE_VERSION: Key<String> = Key::new("Device.DeviceInfo.SoftwareVersion");
//! pub const SSID: Key<String> = Key::new("Device.WiFi.SSID.{i}.SSID");
//!
//! let ssid_2 = SSID.at(&[2])?;
//! assert_eq!(ssid_2.path(), "Device.WiFi.SSID.2.SSID");
//! # Ok::<(), tr181_model::Error>(())
//! ```
//!
//! The Rust type for each TR-106 type is:
//!
//! | TR-106 | Rust |
//! |---|---|
//! | `string` | [`String`] |
//! | `boolean` | [`bool`] |
//! | `int` | [`i32`] |
//! | `unsignedInt` | [`u32`] |
//! | `long` | [`i64`] |
//! | `unsignedLong` | [`u64`] |
//! | `dateTime` | [`DateTime`] |
//! | `decimal` | [`Decimal`] |
//! | `base64`, `hexBinary` | [`Binary`] |
//! | list of `T` | [`Vec<T>`] |
//!
//! Each of them implements [`TypedValue`], which converts to and from the dynamic [`Value`].
//! `Binary` does not know its text encoding: it becomes [`Value::Base64`], and
//! [`Value::conform`] relabels it for `hexBinary` parameters.

use core::fmt;
use core::fmt::Write as _;
use core::hash::{Hash, Hasher};
use core::marker::PhantomData;
use std::string::String;
use std::vec::Vec;

use crate::error::Error;
use crate::value::{Binary, DateTime, Decimal, Value};

/// The placeholder for an instance number in a schema path.
const SLOT: &str = "{i}";

/// A schema path (`{i}` for instance numbers) whose value has the Rust type `T`.
///
/// `Key<T>` is `Copy` and comparable for every `T`; it holds only the `&'static str` path.
pub struct Key<T> {
    path: &'static str,
    value_type: PhantomData<fn() -> T>,
}

impl<T> Key<T> {
    /// A key for the schema path `path` (e.g. `Device.WiFi.SSID.{i}.SSID`).
    pub const fn new(path: &'static str) -> Self {
        Self {
            path,
            value_type: PhantomData,
        }
    }

    /// The schema path, with `{i}` slots.
    pub const fn path(&self) -> &'static str {
        self.path
    }

    /// The number of `{i}` slots in the path.
    pub fn slots(&self) -> usize {
        self.path.matches(SLOT).count()
    }

    /// The key of one parameter instance: fills the `{i}` slots left to right with
    /// `instances`. A key without slots takes `&[]`.
    ///
    /// [`Error::ApiMisuse`] if the number of instance numbers differs from the number of slots
    /// or an instance number is 0 (instance numbers start at 1).
    pub fn at(&self, instances: &[u32]) -> Result<InstanceKey<T>, Error> {
        if instances.len() != self.slots() {
            return Err(Error::ApiMisuse(
                "the number of instance numbers differs from the key's `{i}` slots",
            ));
        }
        if instances.contains(&0) {
            return Err(Error::ApiMisuse("instance numbers start at 1"));
        }
        let mut path = String::with_capacity(
            self.path
                .len()
                .saturating_add(instances.len().saturating_mul(8)),
        );
        let mut pieces = self.path.split(SLOT);
        path.push_str(pieces.next().unwrap_or_default());
        for (piece, instance) in pieces.zip(instances) {
            write!(path, "{instance}{piece}")
                .map_err(|_| Error::ApiMisuse("formatting an instance path failed"))?;
        }
        Ok(InstanceKey { path, key: *self })
    }
}

impl<T> Clone for Key<T> {
    fn clone(&self) -> Self {
        *self
    }
}

impl<T> Copy for Key<T> {}

impl<T> fmt::Debug for Key<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("Key").field(&self.path).finish()
    }
}

impl<T> PartialEq for Key<T> {
    fn eq(&self, other: &Self) -> bool {
        self.path == other.path
    }
}

impl<T> Eq for Key<T> {}

impl<T> Hash for Key<T> {
    fn hash<H: Hasher>(&self, state: &mut H) {
        self.path.hash(state);
    }
}

/// A [`Key`] with its instance numbers filled in: the path of one parameter
/// (`Device.WiFi.SSID.2.SSID`). Made by [`Key::at`].
pub struct InstanceKey<T> {
    path: String,
    key: Key<T>,
}

impl<T> InstanceKey<T> {
    /// The instance path.
    pub fn path(&self) -> &str {
        &self.path
    }

    /// The schema key this instance key was made from.
    pub fn key(&self) -> Key<T> {
        self.key
    }

    /// The instance path, by value.
    pub fn into_path(self) -> String {
        self.path
    }
}

impl<T> Clone for InstanceKey<T> {
    fn clone(&self) -> Self {
        Self {
            path: self.path.clone(),
            key: self.key,
        }
    }
}

impl<T> fmt::Debug for InstanceKey<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("InstanceKey").field(&self.path).finish()
    }
}

impl<T> PartialEq for InstanceKey<T> {
    fn eq(&self, other: &Self) -> bool {
        self.path == other.path
    }
}

impl<T> Eq for InstanceKey<T> {}

impl<T> Hash for InstanceKey<T> {
    fn hash<H: Hasher>(&self, state: &mut H) {
        self.path.hash(state);
    }
}

/// Names one parameter together with the Rust type of its value: a [`Key`] of a parameter
/// outside tables, or an [`InstanceKey`]. Accepted by `Store::get` and `Transaction::set_key`.
pub trait TypedPath {
    /// The Rust type of the parameter's value.
    type Value: TypedValue;

    /// The instance path of the parameter.
    fn path(&self) -> &str;
}

impl<T: TypedValue> TypedPath for Key<T> {
    type Value = T;

    fn path(&self) -> &str {
        self.path
    }
}

impl<T: TypedValue> TypedPath for InstanceKey<T> {
    type Value = T;

    fn path(&self) -> &str {
        &self.path
    }
}

impl<T: TypedValue> TypedPath for &InstanceKey<T> {
    type Value = T;

    fn path(&self) -> &str {
        &self.path
    }
}

/// A Rust type that a parameter value converts to and from.
///
/// See the [module docs](self) for the type of each TR-106 type. `from_value` returns `None`
/// when the [`Value`] has another type; it does not convert between types (an `Int` is not an
/// `i64`), except that [`Binary`] accepts both binary variants.
pub trait TypedValue: Sized {
    /// The typed value, if `value` has this type.
    fn from_value(value: &Value) -> Option<Self>;

    /// The dynamic value.
    fn into_value(self) -> Value;
}

macro_rules! typed_value {
    ($($t:ty => $variant:ident),* $(,)?) => {$(
        impl TypedValue for $t {
            fn from_value(value: &Value) -> Option<Self> {
                match value {
                    Value::$variant(v) => Some(v.clone()),
                    _ => None,
                }
            }

            fn into_value(self) -> Value {
                Value::$variant(self)
            }
        }
    )*};
}

typed_value! {
    String => String,
    bool => Boolean,
    i32 => Int,
    u32 => UnsignedInt,
    i64 => Long,
    u64 => UnsignedLong,
    DateTime => DateTime,
    Decimal => Decimal,
}

/// Both binary variants convert; the value made is [`Value::Base64`] (see [`Value::conform`]).
impl TypedValue for Binary {
    fn from_value(value: &Value) -> Option<Self> {
        match value {
            Value::Base64(bytes) | Value::HexBinary(bytes) => Some(Self(bytes.clone())),
            _ => None,
        }
    }

    fn into_value(self) -> Value {
        Value::Base64(self.0)
    }
}

/// Lists: every item must convert.
impl<T: TypedValue> TypedValue for Vec<T> {
    fn from_value(value: &Value) -> Option<Self> {
        match value {
            Value::List(items) => items.iter().map(T::from_value).collect(),
            _ => None,
        }
    }

    fn into_value(self) -> Value {
        Value::List(self.into_iter().map(T::into_value).collect())
    }
}

/// The dynamic value itself, for keys whose type is only known at run time.
impl TypedValue for Value {
    fn from_value(value: &Value) -> Option<Self> {
        Some(value.clone())
    }

    fn into_value(self) -> Value {
        self
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashSet;
    use std::vec;

    const SOFTWARE_VERSION: Key<String> = Key::new("Device.DeviceInfo.SoftwareVersion");
    const SSID: Key<String> = Key::new("Device.WiFi.SSID.{i}.SSID");
    const ASSOCIATED_MAC: Key<String> =
        Key::new("Device.WiFi.AccessPoint.{i}.AssociatedDevice.{i}.MACAddress");
    const CHANNELS: Key<Vec<u32>> = Key::new("Device.WiFi.Radio.{i}.PossibleChannels");

    #[test]
    fn const_keys() {
        const PATH: &str = SOFTWARE_VERSION.path();
        assert_eq!(PATH, "Device.DeviceInfo.SoftwareVersion");
        assert_eq!(SOFTWARE_VERSION.slots(), 0);
        assert_eq!(ASSOCIATED_MAC.slots(), 2);
    }

    #[test]
    fn keys_are_copy_for_any_type() {
        // `String` and `Vec<u32>` are not `Copy`, the keys are.
        let a = SSID;
        let b = a;
        assert_eq!(a, b);
        let c = CHANNELS;
        let d = c;
        assert_eq!(c.clone(), d);
        assert_ne!(SSID, Key::<String>::new("Device.WiFi.SSID.{i}.Alias"));
        assert_eq!(format!("{SSID:?}"), r#"Key("Device.WiFi.SSID.{i}.SSID")"#);
        let set: HashSet<Key<String>> = [SSID, SSID, SOFTWARE_VERSION].into_iter().collect();
        assert_eq!(set.len(), 2);
    }

    #[test]
    fn instance_paths() {
        let ssid = SSID.at(&[2]).unwrap();
        assert_eq!(ssid.path(), "Device.WiFi.SSID.2.SSID");
        assert_eq!(ssid.key(), SSID);
        assert_eq!(
            format!("{ssid:?}"),
            r#"InstanceKey("Device.WiFi.SSID.2.SSID")"#
        );
        assert_eq!(
            ASSOCIATED_MAC.at(&[1, 4_294_967_295]).unwrap().into_path(),
            "Device.WiFi.AccessPoint.1.AssociatedDevice.4294967295.MACAddress"
        );
        assert_eq!(
            SOFTWARE_VERSION.at(&[]).unwrap().path(),
            "Device.DeviceInfo.SoftwareVersion"
        );
        assert_ne!(SSID.at(&[3]).unwrap(), ssid);
        let copy = ssid.clone();
        drop(ssid);
        assert_eq!(SSID.at(&[2]).unwrap(), copy);
    }

    #[test]
    fn instance_count_must_match() {
        for (key, instances) in [
            (SSID, &[][..]),
            (SSID, &[1, 2][..]),
            (SOFTWARE_VERSION, &[1][..]),
            (ASSOCIATED_MAC, &[1][..]),
        ] {
            let error = key.at(instances).unwrap_err();
            assert!(
                matches!(error, Error::ApiMisuse(_)),
                "{key:?} {instances:?}"
            );
            assert_eq!(error.cwmp_fault(), 9002);
        }
        assert!(matches!(SSID.at(&[0]), Err(Error::ApiMisuse(_))));
    }

    fn round_trip<T: TypedValue + PartialEq + fmt::Debug + Clone>(typed: T, value: Value) {
        assert_eq!(typed.clone().into_value(), value);
        assert_eq!(T::from_value(&value), Some(typed));
    }

    #[test]
    fn typed_values() {
        round_trip(String::from("x"), Value::String("x".into()));
        round_trip(true, Value::Boolean(true));
        round_trip(i32::MIN, Value::Int(i32::MIN));
        round_trip(u32::MAX, Value::UnsignedInt(u32::MAX));
        round_trip(i64::MIN, Value::Long(i64::MIN));
        round_trip(u64::MAX, Value::UnsignedLong(u64::MAX));
        round_trip(DateTime::UNKNOWN, Value::DateTime(DateTime::UNKNOWN));
        let half = Decimal::parse("0.5").unwrap();
        round_trip(half, Value::Decimal(half));
        round_trip(Binary(vec![1, 2]), Value::Base64(vec![1, 2]));
        round_trip(
            vec![1u32, 2],
            Value::List(vec![Value::UnsignedInt(1), Value::UnsignedInt(2)]),
        );
        round_trip(Vec::<String>::new(), Value::List(Vec::new()));
        round_trip(
            vec![Binary(vec![0xAB])],
            Value::List(vec![Value::Base64(vec![0xAB])]),
        );
        round_trip(Value::Int(7), Value::Int(7));
    }

    #[test]
    fn typed_values_do_not_convert_between_types() {
        assert_eq!(i64::from_value(&Value::Int(1)), None);
        assert_eq!(u32::from_value(&Value::UnsignedLong(1)), None);
        assert_eq!(String::from_value(&Value::Boolean(true)), None);
        assert_eq!(bool::from_value(&Value::String("true".into())), None);
        assert_eq!(
            u32::from_value(&Value::List(vec![Value::UnsignedInt(1)])),
            None
        );
        assert_eq!(Vec::<u32>::from_value(&Value::UnsignedInt(1)), None);
        assert_eq!(
            Vec::<u32>::from_value(&Value::List(vec![Value::UnsignedInt(1), Value::Int(2)])),
            None
        );
        // Bytes are bytes, whatever their text encoding.
        assert_eq!(
            Binary::from_value(&Value::HexBinary(vec![1])),
            Some(Binary(vec![1]))
        );
        assert_eq!(Binary::from_value(&Value::List(Vec::new())), None);
    }
}
