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

use core::fmt;
use core::ops::Range;
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

/// The answer to a [`GetRequest`](super::GetRequest): per requested path, the object
/// instances read, each with its parameters.
///
/// A Get over a large table gives one object per row, so the answer is compact: every
/// parameter path sits in one string (an object's path is the head of its parameters'), and
/// objects and parameters are entries naming ranges of it, instead of a `String` and a `Vec`
/// per row. Read it through borrowed views: [`GetResponse::results`] per requested path,
/// grouped by object (USP GetResp), or [`GetResponse::params`] flattened (CWMP
/// GetParameterValues).
#[derive(Clone, Debug, Default, PartialEq)]
#[non_exhaustive]
pub struct GetResponse {
    /// Per requested path, in request order, the range of `objects` it gave.
    results: Vec<PathResult<Range<usize>>>,
    /// Per object instance, the end of the range of `params` that are its (it starts at the
    /// previous object's end).
    objects: Vec<usize>,
    params: Vec<ParamEntry>,
    /// The parameters' full paths, one after the other.
    paths: String,
}

/// One parameter of a [`GetResponse`].
#[derive(Clone, Debug, PartialEq)]
struct ParamEntry {
    /// Its full path is `paths[start..end]`, `start` being the previous parameter's `end`
    /// (0 for the first); its object's path is that without the parameter's name.
    end: usize,
    value: Value,
    parameter: &'static Parameter,
}

/// Builds a [`GetResponse`], one requested path after the other.
#[derive(Debug, Default)]
pub(crate) struct GetBuilder {
    response: GetResponse,
    /// Where the answer stood when the current path began, to undo it if it fails; its
    /// `objects` is also the first object parameters may join, so that each requested path
    /// has its own objects.
    mark: GetMark,
    /// Parameters announced by [`reserve`](Self::reserve) whose paths have no room yet: the
    /// first path staged after it sizes the string.
    unsized_paths: usize,
    /// Where the staged parameter's name starts in `paths`.
    name_at: usize,
    /// Where the path of the last object is in `paths`.
    object_at: Range<usize>,
}

/// Where a [`GetResponse`] stood before a requested path was answered.
#[derive(Clone, Copy, Debug, Default)]
struct GetMark {
    objects: usize,
    params: usize,
    paths: usize,
}

impl GetResponse {
    /// The outcome of each requested path, in request order. A path matching nothing is
    /// success with no objects.
    pub fn results(&self) -> impl ExactSizeIterator<Item = GotPath<'_>> {
        self.results.iter().map(|result| GotPath {
            requested_path: &result.requested_path,
            outcome: match &result.outcome {
                Ok(objects) => Ok(GotObjects {
                    response: self,
                    first: objects.start,
                    end: objects.end,
                }),
                Err(failure) => Err(failure),
            },
        })
    }

    /// Every parameter of every successful path, flattened (CWMP GetParameterValues).
    pub fn params(&self) -> impl ExactSizeIterator<Item = GotParam<'_>> {
        // A failed path leaves no parameters behind, so these are all of them.
        self.params
            .iter()
            .enumerate()
            .map(|(index, entry)| GotParam {
                paths: &self.paths,
                start: self.start_of(index),
                entry,
            })
    }

    /// The parameter at `index`.
    fn param(&self, index: usize) -> Option<GotParam<'_>> {
        Some(GotParam {
            paths: &self.paths,
            start: self.start_of(index),
            entry: self.params.get(index)?,
        })
    }

    /// The parameters of the object at `index`: from where the previous object's end.
    fn object_params(&self, index: usize) -> Range<usize> {
        let start = index
            .checked_sub(1)
            .and_then(|previous| self.objects.get(previous))
            .copied()
            .unwrap_or(0);
        start..self.objects.get(index).copied().unwrap_or(start)
    }

    /// Where the path of the parameter at `index` starts: where the previous one's ends.
    fn start_of(&self, index: usize) -> usize {
        index
            .checked_sub(1)
            .and_then(|previous| self.params.get(previous))
            .map_or(0, |p| p.end)
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
        self.params().find(|p| p.path() == path).map(|p| p.value())
    }
}

impl GetBuilder {
    /// Starts answering a requested path.
    pub(crate) fn begin_path(&mut self) {
        let response = &self.response;
        self.mark = GetMark {
            objects: response.objects.len(),
            params: response.params.len(),
            paths: response.paths.len(),
        };
    }

    /// Records the outcome of requested path `path`, begun with
    /// [`begin_path`](Self::begin_path); a failed path leaves nothing behind.
    pub(crate) fn finish_path(&mut self, path: &str, outcome: Result<(), EngineError>) {
        let response = &mut self.response;
        let mark = self.mark;
        let outcome = match outcome {
            Ok(()) => Ok(mark.objects..response.objects.len()),
            Err(error) => {
                response.objects.truncate(mark.objects);
                response.params.truncate(mark.params);
                response.paths.truncate(mark.paths);
                Err(Failure::new(error))
            }
        };
        response.results.push(PathResult::new(path, outcome));
    }

    /// Makes room for `params` more parameters, each possibly its own object.
    pub(crate) fn reserve(&mut self, params: usize) {
        self.response.params.reserve(params);
        self.response.objects.reserve(params);
        self.unsized_paths = params;
    }

    /// Writes the path of a parameter named `name` of object instance `object` after the
    /// last parameter, without adding it yet, and returns it: [`push`](Self::push) adds it,
    /// the next `stage` replaces it.
    pub(crate) fn stage(&mut self, object: &str, name: &str) -> &str {
        let paths = &mut self.response.paths;
        let start = self.response.params.last().map_or(0, |p| p.end);
        paths.truncate(start);
        let len = object.len().saturating_add(name.len());
        if self.unsized_paths > 0 {
            // The parameters of one wildcard have paths of about the same length: they differ
            // in their instance numbers (`AccessPoint.1.` to `AccessPoint.64.`), for which
            // eight more bytes leave room.
            paths.reserve(len.saturating_add(8).saturating_mul(self.unsized_paths));
            self.unsized_paths = 0;
        }
        paths.push_str(object);
        self.name_at = paths.len();
        paths.push_str(name);
        paths.get(start..).unwrap_or_default()
    }

    /// Adds the parameter last [`stage`](Self::stage)d, with its value, to the object
    /// instance of the last parameter if its path is the same (or, when `new_object` says,
    /// without comparing), else to a new object; returns the parameter's index for
    /// [`param_mut`](Self::param_mut).
    pub(crate) fn push(
        &mut self,
        value: Value,
        parameter: &'static Parameter,
        new_object: Option<bool>,
    ) -> usize {
        let response = &mut self.response;
        let start = response.params.last().map_or(0, |p| p.end);
        let index = response.params.len();
        let same_object = response.objects.len() > self.mark.objects
            && match new_object {
                Some(new) => !new,
                None => {
                    response.paths.get(start..self.name_at)
                        == response.paths.get(self.object_at.clone())
                }
            };
        match response.objects.last_mut() {
            Some(last) if same_object => *last = index.saturating_add(1),
            _ => {
                response.objects.push(index.saturating_add(1));
                self.object_at = start..self.name_at;
            }
        }
        response.params.push(ParamEntry {
            end: response.paths.len(),
            value,
            parameter,
        });
        index
    }

    /// The parameter at `index` (from [`push`](Self::push)): its full path, its definition,
    /// and its value to replace.
    pub(crate) fn param_mut(
        &mut self,
        index: usize,
    ) -> Option<(&str, &'static Parameter, &mut Value)> {
        let response = &mut self.response;
        let start = response.start_of(index);
        let entry = response.params.get_mut(index)?;
        let path = response.paths.get(start..entry.end)?;
        Some((path, entry.parameter, &mut entry.value))
    }

    /// The answer.
    pub(crate) fn finish(self) -> GetResponse {
        self.response
    }
}

/// The outcome of one requested path of a [`GetResponse`].
#[derive(Clone, Copy, Debug)]
#[non_exhaustive]
pub struct GotPath<'a> {
    /// The path as requested.
    pub requested_path: &'a str,
    /// The object instances it gave, or why it failed.
    pub outcome: Result<GotObjects<'a>, &'a Failure>,
}

/// The object instances one requested path gave, in path order.
#[derive(Clone, Copy)]
pub struct GotObjects<'a> {
    response: &'a GetResponse,
    /// The indexes of the objects: `first..end`.
    first: usize,
    end: usize,
}

impl<'a> GotObjects<'a> {
    /// How many.
    pub fn len(&self) -> usize {
        self.end.saturating_sub(self.first)
    }

    /// Whether the path matched nothing.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The object instances.
    pub fn iter(&self) -> impl ExactSizeIterator<Item = GotObject<'a>> + use<'a> {
        let response = self.response;
        (self.first..self.end).map(move |index| GotObject {
            response,
            params: response.object_params(index),
        })
    }

    /// Their parameters, in order.
    pub fn params(&self) -> impl Iterator<Item = GotParam<'a>> + use<'a> {
        self.iter().flat_map(|object| object.params())
    }
}

impl fmt::Debug for GotObjects<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_list().entries(self.iter()).finish()
    }
}

/// One object instance a Get read, with its parameters (USP `ResolvedPathResult`).
#[derive(Clone)]
pub struct GotObject<'a> {
    response: &'a GetResponse,
    /// The indexes of its parameters.
    params: Range<usize>,
}

impl<'a> GotObject<'a> {
    /// The object instance path with trailing dot (USP `resolved_path`).
    pub fn path(&self) -> &'a str {
        self.response
            .param(self.params.start)
            .map(|p| p.object_path())
            .unwrap_or_default()
    }

    /// Its parameters.
    pub fn params(&self) -> impl ExactSizeIterator<Item = GotParam<'a>> + use<'a> {
        let response = self.response;
        let entries = response.params.get(self.params.clone()).unwrap_or_default();
        entries
            .iter()
            .zip(self.params.clone())
            .map(move |(entry, index)| GotParam {
                paths: &response.paths,
                start: response.start_of(index),
                entry,
            })
    }
}

impl fmt::Debug for GotObject<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("GotObject")
            .field("path", &self.path())
            .field("params", &self.params().collect::<Vec<_>>())
            .finish()
    }
}

/// One parameter value a Get read.
#[derive(Clone, Copy)]
pub struct GotParam<'a> {
    paths: &'a str,
    /// Where its path starts in `paths`.
    start: usize,
    entry: &'a ParamEntry,
}

impl<'a> GotParam<'a> {
    /// The full instance path (CWMP `ParameterValueStruct.Name`).
    pub fn path(&self) -> &'a str {
        self.paths
            .get(self.start..self.entry.end)
            .unwrap_or_default()
    }

    /// The name relative to its [`GotObject`] (USP `result_params` key).
    pub fn name(&self) -> &'static str {
        self.entry.parameter.name()
    }

    /// Its object instance's path: [`path`](Self::path) without the name.
    fn object_path(&self) -> &'a str {
        let path = self.path();
        path.get(..path.len().saturating_sub(self.name().len()))
            .unwrap_or_default()
    }

    /// The value (hidden parameters, and secured ones unless the principal may read them,
    /// read as empty; see [`access`](super::access)).
    pub fn value(&self) -> &'a Value {
        &self.entry.value
    }

    /// The parameter's definition in the principal's model variant.
    pub fn parameter(&self) -> &'static Parameter {
        self.entry.parameter
    }
}

impl fmt::Debug for GotParam<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("GotParam")
            .field("path", &self.path())
            .field("value", self.value())
            .finish()
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
    /// A diagnostic test waits to be started ([`Engine::start_diagnostics`](super::Engine::start_diagnostics),
    /// once the CWMP session that requested it has ended).
    pub diagnostics_requested: bool,
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
