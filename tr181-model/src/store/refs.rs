//! Checks of reference values (TR-106 `pathRef`, `enumerationRef`) written by controllers.

use std::borrow::ToOwned;
use std::string::{String, ToString};
use std::vec::Vec;

use super::tree::{self, Place, Step, View};
use super::{Resolved, Store};
use crate::error::{Error, ValueRule};
use crate::path::{InstancePath, Path, Segment, schema_path_of};
use crate::schema::{self, Parameter, PathReference, Protocol, RefType, Reference, TargetType};
use crate::value::Value;

fn invalid(path: &str) -> Error {
    Error::InvalidValue {
        path: path.into(),
        rule: ValueRule::Reference,
    }
}

impl Store {
    /// Checks `value` for reference parameter `parameter` (at `path`, in the object at
    /// `object`) as written by a `protocol` controller, and returns it with key-addressed paths
    /// (`Device.WiFi.SSID.[Alias=="home"]`) replaced by instance numbers (R-ARC.11).
    ///
    /// Path references must be absolute paths without wildcards, in one of the target tables
    /// and of the target kind; strong ones must name an existing item. Enumeration references
    /// must be one of the items of their target list, unless that list is empty or missing
    /// (the device has not published it).
    pub(super) fn check_reference(
        &self,
        object: &[Step],
        parameter: &Parameter,
        path: &str,
        value: Value,
        protocol: Protocol,
    ) -> Result<Value, Error> {
        match parameter.syntax().reference() {
            Some(Reference::Path(reference)) => {
                let check = |item: &str| {
                    self.path_item(item, reference, protocol)
                        .ok_or_else(|| invalid(path))
                };
                match value {
                    Value::String(item) => check(&item).map(Value::String),
                    Value::List(items) => items
                        .into_iter()
                        .map(|item| match item {
                            Value::String(item) => check(&item).map(Value::String),
                            other => Ok(other),
                        })
                        .collect::<Result<Vec<_>, _>>()
                        .map(Value::List),
                    other => Ok(other),
                }
            }
            Some(Reference::Enumeration(reference)) => {
                let Some((target, allowed)) =
                    self.enumeration_target(object, reference.target_param())
                else {
                    return Ok(value);
                };
                // Only the items `protocol`'s controllers are shown may be chosen.
                let shown = schema::parameter(&schema_path_of(&target), protocol)
                    .and_then(|p| schema::variant_value(&target, p, allowed, protocol));
                let allowed: Vec<String> = match shown.as_ref().unwrap_or(allowed) {
                    Value::List(items) => items.iter().map(ToString::to_string).collect(),
                    other => other
                        .to_string()
                        .split(',')
                        .map(|s| s.trim().to_owned())
                        .filter(|s| !s.is_empty())
                        .collect(),
                };
                if allowed.is_empty() {
                    return Ok(value);
                }
                let ok = |item: &Value| {
                    let text = item.to_string();
                    reference.null_value() == Some(text.as_str()) || allowed.contains(&text)
                };
                let fine = match &value {
                    Value::List(items) => items.iter().all(ok),
                    single => ok(single),
                };
                if fine { Ok(value) } else { Err(invalid(path)) }
            }
            _ => Ok(value),
        }
    }

    /// The absolute path `item` with instance numbers: as it is when it has them, or the one
    /// existing object or parameter it names by unique key (`Device.Hosts.Host.[PhysAddress==
    /// "AA:BB:CC:00:00:01"]`, TR-369 R-ARC.11); `None` for a relative path, a wildcard or
    /// search, or a key that names nothing. Controllers' references go through it; a device
    /// that knows a row by its key rather than its number uses it too.
    pub fn numbered_reference(&self, item: &str, protocol: Protocol) -> Option<String> {
        let parsed = Path::parse_reference(item, &self.limits).ok()?;
        if !parsed.is_absolute() {
            return None;
        }
        if parsed.is_plain() {
            return Some(item.to_owned());
        }
        let key_addressed = parsed.segments.iter().all(|s| match s {
            Segment::Name(_) | Segment::Instance(_) => true,
            Segment::Filter(filter) => filter.is_key_form(),
            Segment::Placeholder | Segment::Wildcard | Segment::Follow(_) => false,
        });
        if !key_addressed {
            return None;
        }
        let found = self.resolve(&parsed, protocol).ok()?;
        let [only] = found.items() else {
            return None;
        };
        let mut text = match only {
            Resolved::Object { .. } | Resolved::Parameter { .. } => found.path(only),
            _ => return None,
        };
        if !item.ends_with('.') && text.ends_with('.') {
            text.pop();
        }
        Some(text)
    }

    /// One item of a path reference, normalised; `None` if it is not acceptable.
    fn path_item(
        &self,
        item: &str,
        reference: PathReference,
        protocol: Protocol,
    ) -> Option<String> {
        if item.is_empty() {
            return Some(String::new());
        }
        let item = self.numbered_reference(item, protocol)?;
        let parsed = Path::parse_reference(&item, &self.limits).ok()?;
        let schema = parsed.into_object()?.schema_path()?;
        let absolute: Vec<&str> = reference
            .target_parents()
            .iter()
            .filter(|p| p.starts_with("Device."))
            .collect();
        if !absolute.is_empty() && !absolute.iter().any(|p| schema.starts_with(p)) {
            return None;
        }
        if reference.ref_type() == RefType::Strong {
            let view = View::Proto(protocol);
            let as_object = if item.ends_with('.') {
                item.clone()
            } else {
                std::format!("{item}.")
            };
            let object = InstancePath::split(&as_object, &self.limits)
                .and_then(|addr| tree::walk(&self.root, &as_object, &addr, view))
                .ok();
            let is_row = |route: &[Step]| matches!(route.last(), Some(Step::Inst(_)));
            let exists = match (reference.target_type(), &object) {
                (TargetType::Row, Some((Place::Object(_), route))) => is_row(route),
                (TargetType::Single, Some((Place::Object(_), route))) => !is_row(route),
                (TargetType::Object, Some((Place::Object(_), _))) => true,
                (TargetType::Parameter | TargetType::Any, _) => {
                    object.is_some() || self.parameter_exists(&item, view)
                }
                _ => false,
            };
            if !exists {
                return None;
            }
        }
        Some(item)
    }

    fn parameter_exists(&self, path: &str, view: View) -> bool {
        InstancePath::split(path, &self.limits)
            .and_then(|addr| tree::walk(&self.root, path, &addr, view))
            .is_ok_and(|(place, _)| matches!(place, Place::Param(..)))
    }

    /// The path and current value of an `enumerationRef` target, relative to the object at
    /// `object`:
    /// `Name` (same object), `#.Name` (one `#` per level up), `.X.Name` (from `Device.`) or an
    /// absolute path.
    fn enumeration_target(&self, object: &[Step], target: &str) -> Option<(String, &Value)> {
        let mut route = object.to_vec();
        let path = if target.starts_with("Device.") {
            target.to_owned()
        } else if let Some(rest) = target.strip_prefix('.') {
            std::format!("Device.{rest}")
        } else {
            let rest = target.trim_start_matches('#');
            let ups = target.len().saturating_sub(rest.len());
            let rest = if ups > 0 {
                rest.strip_prefix('.')?
            } else {
                rest
            };
            for _ in 0..ups {
                if let Some(Step::Inst(_)) = route.last() {
                    route.pop();
                }
                route.pop()?;
            }
            let mut path = tree::route_path(&route);
            path.push_str(rest);
            path
        };
        let value = self.value(&path).ok()?;
        Some((path, value))
    }
}
