//! `cpe-tool model`: the supported TR-181 data model below a path, with types and access.

use std::fmt::Write as _;

use tr181_model::schema::{self, Access, Object, Parameter, Protocol, Status, Syntax};

/// `Device.WiFi.SSID.1.Enable` → `Device.WiFi.SSID.{i}.Enable`.
pub(crate) fn schema_path(path: &str) -> String {
    path.split('.')
        .map(|segment| {
            let is_instance = !segment.is_empty() && segment.bytes().all(|b| b.is_ascii_digit());
            if is_instance || segment == "*" {
                "{i}"
            } else {
                segment
            }
        })
        .collect::<Vec<_>>()
        .join(".")
}

/// Renders the objects at or below `path` (or the one item `path` names).
pub(crate) fn model(path: &str, protocol: Protocol) -> Option<String> {
    let mut out = String::new();
    if let Some(p) = schema::parameter(path, protocol) {
        let _ = writeln!(out, "{path}  {}", describe(p));
        return Some(out);
    }
    if let Some(c) = schema::command(path, protocol) {
        let kind = if c.is_async() {
            "async command"
        } else {
            "command"
        };
        let _ = writeln!(out, "{path}  {kind}, since {}", version(c.version()));
        for (direction, args) in [("in ", c.input()), ("out", c.output())] {
            for arg in args {
                let _ = writeln!(out, "  {direction} {:<40} {}", arg.name(), describe(arg));
            }
        }
        return Some(out);
    }
    if let Some(e) = schema::event(path, protocol) {
        let _ = writeln!(out, "{path}  event, since {}", version(e.version()));
        for arg in e.arguments() {
            let _ = writeln!(out, "      {:<40} {}", arg.name(), describe(arg));
        }
        return Some(out);
    }
    let objects: Vec<&Object> = schema::objects(protocol)
        .filter(|o| o.path().starts_with(path))
        .collect();
    if objects.is_empty() {
        return None;
    }
    for object in objects {
        let _ = writeln!(out, "{}  {}", object.path(), describe_object(object));
        for p in object.parameters(protocol) {
            let _ = writeln!(out, "  {:<44} {}", p.name(), describe(p));
        }
        for c in object.commands(protocol) {
            let kind = if c.is_async() {
                "async command"
            } else {
                "command"
            };
            let _ = writeln!(out, "  {:<44} {kind}", c.name());
        }
        for e in object.events(protocol) {
            let _ = writeln!(out, "  {:<44} event", e.name());
        }
    }
    Some(out)
}

fn describe_object(object: &Object) -> String {
    let mut text = if object.is_table() {
        let max = object
            .max_entries()
            .map_or_else(|| "unbounded".to_owned(), |m| m.to_string());
        let add = if object.access() == Access::ReadWrite {
            ", add/delete"
        } else {
            ""
        };
        format!("table {}..{max}{add}", object.min_entries())
    } else {
        "object".to_owned()
    };
    for key in object.unique_keys() {
        let _ = write!(text, ", key ({})", key.parameters().join(", "));
    }
    let _ = write!(
        text,
        ", since {}{}",
        version(object.version()),
        status(object.status())
    );
    text
}

fn describe(p: &Parameter) -> String {
    let access = match p.access() {
        Access::ReadOnly => "R ",
        Access::ReadWrite => "RW",
        Access::WriteOnceReadOnly => "W1",
    };
    format!(
        "{access} {}  since {}{}",
        type_name(p.syntax()),
        version(p.version()),
        status(p.status())
    )
}

fn type_name(s: &Syntax) -> String {
    let mut text = s
        .data_type()
        .map_or_else(|| format!("{:?}", s.base()), str::to_owned);
    for size in s.sizes() {
        let _ = write!(
            text,
            "({}:{})",
            opt(size.min_length()),
            opt(size.max_length())
        );
    }
    for range in s.ranges() {
        let _ = write!(text, "[{}:{}]", opt(range.min()), opt(range.max()));
    }
    if !s.enumerations().is_empty() {
        let _ = write!(text, " {{{}}}", s.enumerations().join("|"));
    }
    if let Some(units) = s.units() {
        let _ = write!(text, " {units}");
    }
    if s.list().is_some() {
        format!("list<{text}>")
    } else {
        text
    }
}

fn opt<T: ToString>(value: Option<T>) -> String {
    value.map_or_else(String::new, |v| v.to_string())
}

fn version(v: schema::Version) -> String {
    format!("{}.{}", v.major, v.minor)
}

fn status(status: Status) -> &'static str {
    match status {
        Status::Current => "",
        Status::Deprecated => " (deprecated)",
        Status::Obsoleted => " (obsoleted)",
    }
}
