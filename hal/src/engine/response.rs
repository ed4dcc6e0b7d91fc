//! The engine's answers: per requested path, per resolved object or instance, per parameter,
//! with typed errors rich enough for both wire forms.
//!
//! - Per requested path: a [`PathResult`] whose outcome is the result or a [`Failure`] (the
//!   error plus any parameter errors): USP's `requested_path_results` / `oper_status`; CWMP
//!   makes the first failure the RPC's fault.
//! - A request that is all-or-nothing and fails returns `Err(Failure)` from the engine with
//!   every parameter error: USP's Error message with `param_errs`, CWMP's fault 9003 with a
//!   `SetParameterValuesFault` per parameter.
//! - Values are typed [`Value`]s with their schema [`Parameter`], so CWMP can write `xsd:type`
//!   and USP the canonical string.

use std::string::String;
use std::vec::Vec;

use tr181_model::schema::{Object, Parameter};
use tr181_model::store::InstanceInfo;
use tr181_model::value::Value;

use crate::error::EngineError;
use crate::feed::CallId;

/// A failed object, path or request, with the parameter errors that caused it.
#[derive(Clone, Debug, PartialEq)]
#[non_exhaustive]
pub struct Failure {
    /// The error (for a failed required parameter: [`EngineError::RequiredParameterFailed`]
    /// without `allow_partial` the first parameter error's own error).
    pub error: EngineError,
    /// Every parameter that failed (full paths).
    pub param_errors: Vec<ParamError>,
}

impl Failure {
    /// A failure without parameter errors.
    pub fn new(error: EngineError) -> Self {
        Self {
            error,
            param_errors: Vec::new(),
        }
    }
}

impl From<EngineError> for Failure {
    fn from(error: EngineError) -> Self {
        Self::new(error)
    }
}

/// One parameter (or, for Delete, one object) that failed.
#[derive(Clone, Debug, PartialEq)]
#[non_exhaustive]
pub struct ParamError {
    /// Its full path.
    pub path: String,
    /// Why.
    pub error: EngineError,
}

impl ParamError {
    /// An error for `path`.
    pub fn new(path: impl Into<String>, error: EngineError) -> Self {
        Self {
            path: path.into(),
            error,
        }
    }
}

/// The outcome for one requested path.
#[derive(Clone, Debug, PartialEq)]
#[non_exhaustive]
pub struct PathResult<T> {
    /// The path as requested.
    pub requested_path: String,
    /// What it gave.
    pub outcome: Result<T, Failure>,
}

impl<T> PathResult<T> {
    pub(crate) fn new(requested_path: &str, outcome: Result<T, Failure>) -> Self {
        Self {
            requested_path: requested_path.into(),
            outcome,
        }
    }
}

/// One parameter value read.
#[derive(Clone, Debug, PartialEq)]
#[non_exhaustive]
pub struct GotParam {
    /// The full instance path (CWMP `ParameterValueStruct.Name`).
    pub path: String,
    /// Where in `path` the name relative to the [`ResolvedObject`] starts.
    pub(crate) name_at: usize,
    /// The value (hidden parameters, and secured ones unless the principal may read them,
    /// read as empty; see [`access`](super::access)).
    pub value: Value,
    /// The parameter's definition in the principal's model variant.
    pub parameter: &'static Parameter,
}

impl GotParam {
    /// The name relative to the [`ResolvedObject`] (USP `result_params` key): the end of
    /// [`GotParam::path`], so that a Get writes each path once.
    pub fn name(&self) -> &str {
        self.path.get(self.name_at..).unwrap_or_default()
    }
}

/// The parameters of one resolved object instance (USP `ResolvedPathResult`).
#[derive(Clone, Debug, PartialEq)]
#[non_exhaustive]
pub struct ResolvedObject {
    /// The object instance path with trailing dot.
    pub path: String,
    /// Its parameters (and, with depth, those of its sub-objects, named relative to `path`).
    pub params: Vec<GotParam>,
}

/// The answer to a [`GetRequest`](super::GetRequest).
#[derive(Clone, Debug, Default, PartialEq)]
#[non_exhaustive]
pub struct GetResponse {
    /// One result per requested path, in request order. A path matching nothing is success
    /// with no objects.
    pub results: Vec<PathResult<Vec<ResolvedObject>>>,
}

impl GetResponse {
    /// Every parameter of every successful path, flattened (CWMP GetParameterValues).
    pub fn params(&self) -> impl Iterator<Item = &GotParam> {
        self.results
            .iter()
            .filter_map(|r| r.outcome.as_ref().ok())
            .flatten()
            .flat_map(|o| o.params.iter())
    }

    /// The first failed path's error, if any (CWMP turns it into the RPC fault).
    pub fn first_error(&self) -> Option<&EngineError> {
        self.results
            .iter()
            .find_map(|r| r.outcome.as_ref().err())
            .map(|f| &f.error)
    }

    /// The value of the parameter at full path `path`, if it was read.
    pub fn value(&self, path: &str) -> Option<&Value> {
        self.params().find(|p| p.path == path).map(|p| &p.value)
    }
}

/// The answer to a [`GetInstancesRequest`](super::GetInstancesRequest).
#[derive(Clone, Debug, Default, PartialEq)]
#[non_exhaustive]
pub struct GetInstancesResponse {
    /// One result per requested path: the rows with their unique keys.
    pub results: Vec<PathResult<Vec<InstanceInfo>>>,
}

/// The answer to a [`SupportedRequest`](super::SupportedRequest).
#[derive(Clone, Debug, Default, PartialEq)]
#[non_exhaustive]
pub struct SupportedResponse {
    /// One result per requested path: the schema objects, in path order.
    pub results: Vec<PathResult<Vec<&'static Object>>>,
}

/// One instance a Set changed (USP `UpdatedInstanceResult`).
#[derive(Clone, Debug, PartialEq)]
#[non_exhaustive]
pub struct UpdatedInstance {
    /// The instance path.
    pub path: String,
    /// The parameters set, relative names, with their new values.
    pub updated: Vec<(String, Value)>,
    /// Non-required parameters that failed.
    pub param_errors: Vec<ParamError>,
}

/// The answer to a successful [`SetRequest`](super::SetRequest).
#[derive(Clone, Debug, Default, PartialEq)]
#[non_exhaustive]
pub struct SetResponse {
    /// One result per requested object (failures only with `allow_partial`).
    pub results: Vec<PathResult<Vec<UpdatedInstance>>>,
    /// Some change takes effect only after a reboot (CWMP Status 1).
    pub reboot_required: bool,
}

/// A row an Add created (USP `CreatedObjectResult.OperationSuccess`).
#[derive(Clone, Debug, PartialEq)]
#[non_exhaustive]
pub struct AddedInstance {
    /// The new row's path (`Device.NAT.PortMapping.3.`).
    pub path: String,
    /// Its instance number (CWMP AddObjectResponse).
    pub number: u32,
    /// Its unique-key values.
    pub unique_keys: Vec<(&'static str, Value)>,
    /// Non-required parameters that failed.
    pub param_errors: Vec<ParamError>,
}

/// The answer to a successful [`AddRequest`](super::AddRequest).
#[derive(Clone, Debug, Default, PartialEq)]
#[non_exhaustive]
pub struct AddResponse {
    /// One result per requested row (failures only with `allow_partial`).
    pub results: Vec<PathResult<AddedInstance>>,
}

/// What one requested Delete path removed.
#[derive(Clone, Debug, Default, PartialEq)]
#[non_exhaustive]
pub struct Deleted {
    /// Every row removed, nested rows included (USP `affected_paths`).
    pub affected: Vec<String>,
    /// Rows that could not be removed (USP `unaffected_path_errs`; only with
    /// `allow_partial`).
    pub unaffected: Vec<ParamError>,
}

/// The answer to a successful [`DeleteRequest`](super::DeleteRequest).
#[derive(Clone, Debug, Default, PartialEq)]
#[non_exhaustive]
pub struct DeleteResponse {
    /// One result per requested path.
    pub results: Vec<PathResult<Deleted>>,
}

/// What happened to one command invocation.
#[derive(Clone, Debug, PartialEq)]
#[non_exhaustive]
pub enum OperateOutcome {
    /// Finished with these output arguments (USP `req_output_args`).
    Done(Vec<(String, Value)>),
    /// Running; a [`Notice::OperationComplete`](super::Notice::OperationComplete) follows.
    Started {
        /// The invocation.
        call: CallId,
        /// The `Device.LocalAgent.Request.{i}.` row tracking it (USP `req_obj_path`), if the
        /// model has that table.
        request: Option<String>,
    },
    /// Failed (USP `cmd_failure`).
    Failed(EngineError),
}

/// The result for one resolved command path.
#[derive(Clone, Debug, PartialEq)]
#[non_exhaustive]
pub struct OperateResult {
    /// The concrete command path.
    pub path: String,
    /// What happened.
    pub outcome: OperateOutcome,
}

/// The answer to an [`OperateRequest`](super::OperateRequest).
#[derive(Clone, Debug, Default, PartialEq)]
#[non_exhaustive]
pub struct OperateResponse {
    /// One result per resolved command (none when a search matched nothing).
    pub results: Vec<OperateResult>,
}
