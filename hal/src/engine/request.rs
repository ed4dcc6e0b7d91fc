//! The protocol-neutral requests the engine executes.
//!
//! | Request | CWMP | USP |
//! |---|---|---|
//! | [`GetRequest`] | GetParameterValues (partial paths, no depth) | Get (`max_depth`, search paths) |
//! | [`GetNamesRequest`] | GetParameterNames (`NextLevel`) | — |
//! | [`GetInstancesRequest`] | — | GetInstances (`first_level_only`) |
//! | [`SupportedRequest`] | — | GetSupportedDM |
//! | [`SetRequest`] | SetParameterValues (all required, no partial) | Set (`allow_partial`, `required`) |
//! | [`AddRequest`] | AddObject (no parameters) | Add |
//! | [`DeleteRequest`] | DeleteObject | Delete |
//! | [`OperateRequest`] | — (Reboot, FactoryReset, Download have their own engine methods) | Operate |
//!
//! Paths are text as received; the engine parses them with the store's limits. CWMP's empty
//! path means `Device.`; USP's protocol layer should refuse it itself.

use std::string::String;
use std::vec::Vec;

/// Read parameter values.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct GetRequest {
    /// Parameter, object or search paths.
    pub paths: Vec<String>,
    /// USP `max_depth`: `None` (or USP 0) for the whole subtree; see
    /// [`Store::parameters`](tr181_model::store::Store::parameters) for how depth counts.
    pub max_depth: Option<u32>,
    /// Whether a CWMP name may hold instance wildcards (`*` in place of an instance number),
    /// as TR-069 lets GetParameterValues and GetParameterAttributes use them on a CPE that
    /// supports them. USP paths always may.
    pub instance_wildcards: bool,
}

impl GetRequest {
    /// A Get of `paths` with unlimited depth.
    pub fn new<S: Into<String>>(paths: impl IntoIterator<Item = S>) -> Self {
        Self {
            paths: paths.into_iter().map(Into::into).collect(),
            max_depth: None,
            instance_wildcards: false,
        }
    }

    /// Lets CWMP names hold instance wildcards (see [`GetRequest::instance_wildcards`]).
    pub fn with_instance_wildcards(mut self, allowed: bool) -> Self {
        self.instance_wildcards = allowed;
        self
    }

    /// Limits the depth (USP `max_depth`; 0 means unlimited).
    pub fn with_max_depth(mut self, max_depth: u32) -> Self {
        self.max_depth = (max_depth != 0).then_some(max_depth);
        self
    }
}

/// Read parameter and object names (CWMP GetParameterNames).
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct GetNamesRequest {
    /// A parameter path or a partial (object) path; empty means `Device.`.
    pub path: String,
    /// Only the items one level below `path` (below each object a wildcard matches).
    pub next_level: bool,
    /// Whether the CWMP name may hold instance wildcards (see
    /// [`GetRequest::instance_wildcards`]).
    pub instance_wildcards: bool,
}

impl GetNamesRequest {
    /// A request.
    pub fn new(path: impl Into<String>, next_level: bool) -> Self {
        Self {
            path: path.into(),
            next_level,
            instance_wildcards: false,
        }
    }

    /// Lets the CWMP name hold instance wildcards (see [`GetRequest::instance_wildcards`]).
    pub fn with_instance_wildcards(mut self, allowed: bool) -> Self {
        self.instance_wildcards = allowed;
        self
    }
}

/// Defines a read request of several paths with `first_level_only`, with `new`.
macro_rules! level_request {
    (
        $(#[$meta:meta])*
        $name:ident {
            $(#[$paths_meta:meta])* paths,
            $(#[$level_meta:meta])* first_level_only,
        }
    ) => {
        $(#[$meta])*
        #[derive(Clone, Debug, Default, PartialEq, Eq)]
        #[non_exhaustive]
        pub struct $name {
            $(#[$paths_meta])*
            pub paths: Vec<String>,
            $(#[$level_meta])*
            pub first_level_only: bool,
        }

        impl $name {
            /// A request.
            pub fn new<S: Into<String>>(
                paths: impl IntoIterator<Item = S>,
                first_level_only: bool,
            ) -> Self {
                Self {
                    paths: paths.into_iter().map(Into::into).collect(),
                    first_level_only,
                }
            }
        }
    };
}

level_request! {
    /// Read the instances of tables (USP GetInstances).
    GetInstancesRequest {
        /// Object, table or search paths.
        paths,
        /// Only the rows directly below each path.
        first_level_only,
    }
}

level_request! {
    /// Read the supported data model (USP GetSupportedDM). The protocol layer renders
    /// commands, events, parameters and unique keys from the returned schema objects as its
    /// flags ask.
    SupportedRequest {
        /// Schema or instance object paths (`Device.WiFi.`, `Device.WiFi.SSID.{i}.`,
        /// `Device.WiFi.SSID.1.`).
        paths,
        /// Only each path's object and its direct children.
        first_level_only,
    }
}

/// One parameter to write (relative to its object).
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct ParamSetting {
    /// The parameter's name relative to the object (`Enable`, `Security.ModeEnabled`).
    pub name: String,
    /// The value as wire text.
    pub value: String,
    /// USP `required`: when it fails, the object fails. CWMP: always true.
    pub required: bool,
}

impl ParamSetting {
    /// A required setting.
    pub fn new(name: impl Into<String>, value: impl Into<String>) -> Self {
        Self {
            name: name.into(),
            value: value.into(),
            required: true,
        }
    }

    /// A setting whose failure only adds a parameter error.
    pub fn optional(name: impl Into<String>, value: impl Into<String>) -> Self {
        Self {
            required: false,
            ..Self::new(name, value)
        }
    }
}

/// Defines a struct of an object path and the parameters to write there, with `new`.
macro_rules! object_params {
    (
        $(#[$meta:meta])*
        $name:ident {
            $(#[$path_meta:meta])* path,
            $(#[$params_meta:meta])* params,
        }
        $(#[$new_meta:meta])* new
    ) => {
        $(#[$meta])*
        #[derive(Clone, Debug, PartialEq, Eq)]
        #[non_exhaustive]
        pub struct $name {
            $(#[$path_meta])*
            pub path: String,
            $(#[$params_meta])*
            pub params: Vec<ParamSetting>,
        }

        impl $name {
            $(#[$new_meta])*
            pub fn new(path: impl Into<String>, params: Vec<ParamSetting>) -> Self {
                Self {
                    path: path.into(),
                    params,
                }
            }
        }
    };
}

/// What the write requests share, as the engine reads them.
pub(crate) trait WriteRequest {
    /// One requested item.
    type Requested: Sync;

    /// The requested items, in order.
    fn requested(&self) -> &[Self::Requested];

    /// USP `allow_partial`.
    fn allow_partial(&self) -> bool;

    /// The agent writes.
    fn agent_writes(&self) -> &[(String, String)];
}

/// Defines a write request (Set, Add, Delete): its items, USP `allow_partial` and the agent
/// writes, with the builder methods they share and [`WriteRequest`].
macro_rules! write_request {
    (
        $(#[$meta:meta])*
        $name:ident { $(#[$items_meta:meta])* $items:ident: $item:ty }
    ) => {
        $(#[$meta])*
        #[derive(Clone, Debug, Default, PartialEq, Eq)]
        #[non_exhaustive]
        pub struct $name {
            /// USP `allow_partial`.
            pub allow_partial: bool,
            $(#[$items_meta])*
            pub $items: Vec<$item>,
            /// Values the agent itself writes in the same transaction, as the device (CWMP
            /// `ParameterKey` into `Device.ManagementServer.ParameterKey`): full path and text.
            pub agent_writes: Vec<(String, String)>,
        }

        impl $name {
            /// Sets `allow_partial`.
            pub fn with_allow_partial(mut self, allow_partial: bool) -> Self {
                self.allow_partial = allow_partial;
                self
            }

            /// Adds an agent write (see the `agent_writes` field).
            pub fn with_agent_write(
                mut self,
                path: impl Into<String>,
                value: impl Into<String>,
            ) -> Self {
                self.agent_writes.push((path.into(), value.into()));
                self
            }
        }

        impl WriteRequest for $name {
            type Requested = $item;

            fn requested(&self) -> &[$item] {
                &self.$items
            }

            fn allow_partial(&self) -> bool {
                self.allow_partial
            }

            fn agent_writes(&self) -> &[(String, String)] {
                &self.agent_writes
            }
        }
    };
}

object_params! {
    /// The parameters to write in one object (USP UpdateObject; CWMP groups its flat list by
    /// object).
    ObjectSettings {
        /// The object path: an instance path, or (USP) a search path, handled as one unit.
        path,
        /// The parameters.
        params,
    }
    /// Settings for the object at `path`.
    new
}

write_request! {
    /// Write parameter values.
    ///
    /// Without `allow_partial` (CWMP always) the request is all-or-nothing: if any object
    /// fails, or any required parameter, nothing is applied — neither in the store nor in the
    /// hardware — and every failure is reported. With it, each object succeeds or fails on its
    /// own.
    SetRequest {
        /// The objects.
        objects: ObjectSettings
    }
}

impl SetRequest {
    /// An all-or-nothing request.
    pub fn new(objects: Vec<ObjectSettings>) -> Self {
        Self {
            objects,
            ..Self::default()
        }
    }

    /// A CWMP SetParameterValues: full parameter paths and values, grouped by object in the
    /// order given; every parameter required.
    pub fn from_parameters<P: AsRef<str>, V: Into<String>>(
        params: impl IntoIterator<Item = (P, V)>,
    ) -> Self {
        let mut objects: Vec<ObjectSettings> = Vec::new();
        for (path, value) in params {
            let path = path.as_ref();
            let (object, name) = match path.rfind('.') {
                Some(dot) => path.split_at(dot.saturating_add(1)),
                None => ("", path),
            };
            let setting = ParamSetting::new(name, value);
            match objects.iter_mut().find(|o| o.path == object) {
                Some(settings) => settings.params.push(setting),
                None => objects.push(ObjectSettings::new(object, std::vec![setting])),
            }
        }
        Self::new(objects)
    }
}

object_params! {
    /// One row to add.
    ObjectCreation {
        /// The table path (`Device.NAT.PortMapping.`), possibly below a search path (USP).
        path,
        /// Initial values (write-once parameters such as `Alias` included).
        params,
    }
    /// A row of table `path`.
    new
}

write_request! {
    /// Add rows.
    AddRequest {
        /// The rows.
        objects: ObjectCreation
    }
}

impl AddRequest {
    /// An all-or-nothing request.
    pub fn new(objects: Vec<ObjectCreation>) -> Self {
        Self {
            objects,
            ..Self::default()
        }
    }
}

write_request! {
    /// Delete rows.
    DeleteRequest {
        /// Row paths or search paths (a search matching nothing is success).
        paths: String
    }
}

impl DeleteRequest {
    /// An all-or-nothing request.
    pub fn new<S: Into<String>>(paths: impl IntoIterator<Item = S>) -> Self {
        Self {
            paths: paths.into_iter().map(Into::into).collect(),
            ..Self::default()
        }
    }
}

/// Run a command.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct OperateRequest {
    /// The command path (`Device.IP.Diagnostics.IPPing()`), possibly a search path.
    pub command: String,
    /// The controller's tag, returned on completion.
    pub command_key: String,
    /// Input arguments by relative name (`Host`, `TimeWindow.1.Start`), as text.
    pub input: Vec<(String, String)>,
}

impl OperateRequest {
    /// A request without input.
    pub fn new(command: impl Into<String>, command_key: impl Into<String>) -> Self {
        Self {
            command: command.into(),
            command_key: command_key.into(),
            input: Vec::new(),
        }
    }

    /// Adds an input argument.
    pub fn with_arg(mut self, name: impl Into<String>, value: impl Into<String>) -> Self {
        self.input.push((name.into(), value.into()));
        self
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cwmp_parameters_group_by_object() {
        let req = SetRequest::from_parameters([
            ("Device.WiFi.SSID.1.SSID", "a"),
            ("Device.WiFi.SSID.2.SSID", "b"),
            ("Device.WiFi.SSID.1.Enable", "true"),
        ]);
        assert_eq!(req.objects.len(), 2);
        assert_eq!(req.objects[0].path, "Device.WiFi.SSID.1.");
        assert_eq!(req.objects[0].params.len(), 2);
        assert!(req.objects[0].params.iter().all(|p| p.required));
    }

    #[test]
    fn zero_depth_is_unlimited() {
        assert_eq!(
            GetRequest::new(["Device."]).with_max_depth(0).max_depth,
            None
        );
        assert_eq!(
            GetRequest::new(["Device."]).with_max_depth(2).max_depth,
            Some(2)
        );
    }
}
