//! Access control: who is asking ([`Principal`]) and what they may do with each object,
//! instance, parameter, command and event ([`AccessControl`]).
//!
//! The four permission bits follow USP's `ControllerTrust.Role.{i}.Permission.{i}.` strings
//! (`rwxn`), applied to the four target kinds:
//!
//! | [`Target`] | `read` | `write` | `execute` | `notify` |
//! |---|---|---|---|---|
//! | `Parameter` | Get, GetParameterValues/Names | Set | — | ValueChange |
//! | `Object` (a table or single object, in the supported model) | GetSupportedDM | Add | — | ObjectCreation |
//! | `Instance` (a row) | GetInstances; without it the row is absent from every read | Delete | — | ObjectDeletion |
//! | `Command` / `Event` | GetSupportedDM | — | Operate | Event |
//!
//! Reads skip what may not be read (R-GIN.0: the item is treated as absent); writes,
//! additions, deletions and operations that are not allowed fail with
//! [`EngineError::PermissionDenied`](crate::error::EngineError::PermissionDenied) (CWMP 9001,
//! USP 7006). The CWMP lifecycle RPCs need `execute` on the command they correspond to:
//! Reboot on `Device.Reboot()`, FactoryReset on `Device.FactoryReset()`, Download and Upload
//! on the file's command (see [`Engine::transfer`](super::Engine::transfer)). The USP crate
//! maps `ControllerTrust` onto this trait; a CWMP ACS normally gets [`AllowAll`].
//!
//! # Hidden and secured values
//!
//! `hidden` parameters (TR-106) read as the empty value of their type for everyone. `secured`
//! ones read so too, unless [`AccessControl::reads_secured`] grants the principal the right
//! (USP `ControllerTrust.SecuredRoles`). CWMP has no such right, so an ACS always reads
//! secured values as empty, whatever the policy says. The rule covers Get and the values a Set
//! reports back.

use std::string::String;
use std::vec::Vec;

use tr181_model::schema::Protocol;
use tr181_model::store::Store;

/// Who sends a request.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub struct Principal {
    /// The protocol, which is also the model variant the principal sees.
    pub protocol: Protocol,
    /// The ACS URL or the USP controller's Endpoint ID (also `Request.{i}.Originator`).
    pub id: String,
    /// USP roles (e.g. `Device.LocalAgent.ControllerTrust.Role.1`); empty for an ACS.
    pub roles: Vec<String>,
}

impl Principal {
    /// A CWMP ACS.
    pub fn acs(url: impl Into<String>) -> Self {
        Self {
            protocol: Protocol::Cwmp,
            id: url.into(),
            roles: Vec::new(),
        }
    }

    /// A USP controller with its roles.
    pub fn controller(endpoint_id: impl Into<String>, roles: Vec<String>) -> Self {
        Self {
            protocol: Protocol::Usp,
            id: endpoint_id.into(),
            roles,
        }
    }
}

/// The kind of item a permission is asked for; see the [module docs](self).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[allow(clippy::exhaustive_enums)] // The four ControllerTrust targets, with commands and events apart.
pub enum Target {
    /// A parameter.
    Parameter,
    /// An object or table as a type.
    Object,
    /// An object instance (table row).
    Instance,
    /// A command.
    Command,
    /// An event.
    Event,
}

/// What a principal may do with one item.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[allow(clippy::exhaustive_structs)] // Exactly the four `rwxn` bits of ControllerTrust.
pub struct Permissions {
    /// `r`
    pub read: bool,
    /// `w`
    pub write: bool,
    /// `x`
    pub execute: bool,
    /// `n`
    pub notify: bool,
}

impl Permissions {
    /// Everything allowed.
    pub const ALL: Self = Self {
        read: true,
        write: true,
        execute: true,
        notify: true,
    };
    /// Nothing allowed.
    pub const NONE: Self = Self {
        read: false,
        write: false,
        execute: false,
        notify: false,
    };
    /// Read and notify only.
    pub const READ_ONLY: Self = Self {
        read: true,
        write: false,
        execute: false,
        notify: true,
    };

    /// Parses a ControllerTrust permission string such as `r-xn` (`-` means not allowed).
    /// `None` if it is not four characters of the right letters.
    pub fn from_rwxn(text: &str) -> Option<Self> {
        let bytes = text.as_bytes();
        let [r, w, x, n] = bytes else {
            return None;
        };
        let bit = |c: u8, letter: u8| match c {
            b'-' => Some(false),
            c if c == letter => Some(true),
            _ => None,
        };
        Some(Self {
            read: bit(*r, b'r')?,
            write: bit(*w, b'w')?,
            execute: bit(*x, b'x')?,
            notify: bit(*n, b'n')?,
        })
    }

    /// Bitwise OR, for combining roles.
    pub fn union(self, other: Self) -> Self {
        Self {
            read: self.read || other.read,
            write: self.write || other.write,
            execute: self.execute || other.execute,
            notify: self.notify || other.notify,
        }
    }
}

/// The access policy: what `principal` may do with the item at `path` (an instance path: a
/// parameter, an object or row with trailing `.`, a command with `()`, an event with `!`).
///
/// Called by the engine with the store locked, once per item a request touches, so it must be
/// quick and must not call the engine. The store is passed so that an implementation can read
/// its rules from the data model (USP `ControllerTrust`).
pub trait AccessControl: Send + Sync + 'static {
    /// The permissions of `principal` on `path`.
    fn permissions(
        &self,
        principal: &Principal,
        path: &str,
        target: Target,
        store: &Store,
    ) -> Permissions;

    /// Whether `principal` may read the values of `secured` parameters (USP: one of its roles
    /// is in `ControllerTrust.SecuredRoles`); see the [module docs](self). Asked only for USP
    /// controllers: once per Get, and when a Set writes a secured parameter. By default nobody
    /// may.
    fn reads_secured(&self, principal: &Principal, store: &Store) -> bool {
        let _ = (principal, store);
        false
    }
}

/// Everybody may do everything (a single trusted ACS or controller), except read `secured`
/// values: that right is granted explicitly ([`PathRules::with_secured_reader`], or an own
/// [`AccessControl::reads_secured`]).
#[derive(Clone, Copy, Debug, Default)]
pub struct AllowAll;

impl AccessControl for AllowAll {
    fn permissions(&self, _: &Principal, _: &str, _: Target, _: &Store) -> Permissions {
        Permissions::ALL
    }
}

/// One rule of [`PathRules`].
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct PathRule {
    /// Applies to principals with this id, or to everybody when `None`.
    pub principal: Option<String>,
    /// Applies to paths starting with this prefix (`Device.DeviceInfo.`).
    pub prefix: String,
    /// Applies to this kind of item only, or to all when `None`.
    pub target: Option<Target>,
    /// What is allowed.
    pub permissions: Permissions,
}

impl PathRule {
    /// A rule for everybody.
    pub fn new(
        prefix: impl Into<String>,
        target: Option<Target>,
        permissions: Permissions,
    ) -> Self {
        Self {
            principal: None,
            prefix: prefix.into(),
            target,
            permissions,
        }
    }

    /// Restricts the rule to one principal id.
    pub fn for_principal(mut self, id: impl Into<String>) -> Self {
        self.principal = Some(id.into());
        self
    }
}

/// A simple static policy: the matching rule with the longest prefix wins (a rule for the
/// principal beats a general one of the same length); no match gives `default`. Secured
/// values are read by the principals named in `secured_readers`.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct PathRules {
    /// The rules.
    pub rules: Vec<PathRule>,
    /// The permissions where no rule matches.
    pub default: Permissions,
    /// Principal ids and USP roles (`Device.LocalAgent.ControllerTrust.Role.1`) that may read
    /// `secured` values ([`AccessControl::reads_secured`]).
    pub secured_readers: Vec<String>,
}

impl PathRules {
    /// Rules with a default; nobody reads secured values.
    pub fn new(default: Permissions, rules: Vec<PathRule>) -> Self {
        Self {
            rules,
            default,
            secured_readers: Vec::new(),
        }
    }

    /// Lets a principal id, or every principal with a role, read `secured` values.
    pub fn with_secured_reader(mut self, id_or_role: impl Into<String>) -> Self {
        self.secured_readers.push(id_or_role.into());
        self
    }
}

impl AccessControl for PathRules {
    fn permissions(
        &self,
        principal: &Principal,
        path: &str,
        target: Target,
        _: &Store,
    ) -> Permissions {
        self.rules
            .iter()
            .filter(|rule| {
                path.starts_with(rule.prefix.as_str())
                    && rule.target.is_none_or(|t| t == target)
                    && rule.principal.as_ref().is_none_or(|id| *id == principal.id)
            })
            .max_by_key(|rule| (rule.prefix.len(), rule.principal.is_some()))
            .map_or(self.default, |rule| rule.permissions)
    }

    fn reads_secured(&self, principal: &Principal, _: &Store) -> bool {
        self.secured_readers
            .iter()
            .any(|reader| *reader == principal.id || principal.roles.contains(reader))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rwxn_strings() {
        assert_eq!(Permissions::from_rwxn("rwxn"), Some(Permissions::ALL));
        assert_eq!(Permissions::from_rwxn("----"), Some(Permissions::NONE));
        assert_eq!(Permissions::from_rwxn("r--n"), Some(Permissions::READ_ONLY));
        assert_eq!(Permissions::from_rwxn("wrxn"), None);
        assert_eq!(Permissions::from_rwxn("rwx"), None);
    }

    #[test]
    fn longest_prefix_wins() {
        let rules = PathRules::new(
            Permissions::ALL,
            vec![
                PathRule::new("Device.DeviceInfo.", None, Permissions::READ_ONLY),
                PathRule::new("Device.DeviceInfo.X_", None, Permissions::NONE)
                    .for_principal("ctrl"),
            ],
        );
        let store = Store::new();
        let ctrl = Principal::controller("ctrl", Vec::new());
        let p = |path| rules.permissions(&ctrl, path, Target::Parameter, &store);
        assert_eq!(p("Device.DeviceInfo.X_Y"), Permissions::NONE);
        assert_eq!(p("Device.DeviceInfo.UpTime"), Permissions::READ_ONLY);
        assert_eq!(p("Device.Time.Enable"), Permissions::ALL);
    }

    #[test]
    fn secured_readers_by_id_or_role() {
        let rules = PathRules::new(Permissions::ALL, Vec::new())
            .with_secured_reader("self::ops")
            .with_secured_reader("Device.LocalAgent.ControllerTrust.Role.1");
        let store = Store::new();
        let by_role =
            Principal::controller("x", vec!["Device.LocalAgent.ControllerTrust.Role.1".into()]);
        assert!(rules.reads_secured(&Principal::controller("self::ops", Vec::new()), &store));
        assert!(rules.reads_secured(&by_role, &store));
        assert!(!rules.reads_secured(&Principal::controller("y", Vec::new()), &store));
        assert!(!AllowAll.reads_secured(&by_role, &store));
    }
}
