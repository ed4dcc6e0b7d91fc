//! The one error type of this crate, with its mapping onto CWMP faults and USP errors.

use std::string::String;

use crate::schema::BaseType;

/// Everything that can go wrong in paths, values and the instance store.
///
/// Each variant documents the CWMP fault code (TR-069 Table 55) and the USP error code
/// (TR-369 "Error Codes") it maps to; [`Error::cwmp_fault`] and [`Error::usp_error`] return them.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// A path is not well formed. CWMP 9005, USP 7008.
    #[error("invalid path {path:?} at byte {position}: {reason}")]
    InvalidPath {
        /// The path as given (truncated to the path length limit).
        path: String,
        /// Byte offset of the problem.
        position: usize,
        /// What is wrong.
        reason: &'static str,
    },
    /// A path or search expression is larger than [`crate::Limits`] allow. CWMP 9004, USP 7005.
    #[error("{what} exceeds the limit of {limit}")]
    LimitExceeded {
        /// Which limit.
        what: &'static str,
        /// The limit's value.
        limit: usize,
    },
    /// The path names nothing in the supported data model. CWMP 9005, USP 7026.
    #[error("{path} is not in the supported data model")]
    UnknownPath {
        /// The offending path.
        path: String,
    },
    /// The object instance does not exist. CWMP 9005, USP 7016.
    #[error("{path} does not exist")]
    NoSuchInstance {
        /// The offending path.
        path: String,
    },
    /// A value breaks its parameter's type or restrictions. CWMP 9007, USP 7012.
    #[error("invalid value for {path}: {rule}")]
    InvalidValue {
        /// The parameter (instance path when known, schema path otherwise).
        path: String,
        /// The broken rule.
        rule: ValueRule,
    },
    /// The parameter is not writable by the requester. CWMP 9008, USP 7013.
    #[error("{path} is not writable")]
    NotWritable {
        /// The offending parameter.
        path: String,
    },
    /// The path is not a multi-instance object. CWMP 9005, USP 7018.
    #[error("{path} is not a table")]
    NotATable {
        /// The offending path.
        path: String,
    },
    /// Instances of this table cannot be added or deleted by a controller. CWMP 9005, USP 7019.
    #[error("instances of {path} cannot be created or deleted")]
    NotCreatable {
        /// The offending table.
        path: String,
    },
    /// The table already holds `maxEntries` instances. CWMP 9004, USP 7017.
    #[error("{path} already holds its maximum number of entries")]
    TableFull {
        /// The offending table.
        path: String,
    },
    /// Another instance already has these unique key values. CWMP 9007, USP 7025.
    #[error("{path}: unique key {key} is already used by {existing}")]
    DuplicateKey {
        /// The instance that would have duplicated the key.
        path: String,
        /// The key's parameter names, joined with `,`.
        key: String,
        /// The instance that already has it.
        existing: String,
    },
    /// The local caller used the API wrongly (not the peer's fault). CWMP 9002, USP 7003.
    #[error("API misuse: {0}")]
    ApiMisuse(&'static str),
}

/// The restriction a rejected value broke.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ValueRule {
    /// The text is not a valid literal of the base type.
    #[error("not a valid {0:?}")]
    Type(BaseType),
    /// The number is outside every allowed range.
    #[error("out of range")]
    Range,
    /// The length is outside every allowed size.
    #[error("length out of bounds")]
    Size,
    /// The value is not one of the enumerated values.
    #[error("not an allowed enumeration value")]
    Enumeration,
    /// The value matches none of the patterns.
    #[error("does not match the required pattern")]
    Pattern,
    /// The list has too few or too many items, or is too long as a whole.
    #[error("list size out of bounds")]
    List,
    /// A reference (TR-106 `pathRef`/`enumerationRef`) names nothing it may name: a path
    /// outside the allowed tables or of the wrong kind, a missing target of a strong
    /// reference, a key-addressed path that does not match exactly one object, or a value
    /// its target list does not offer. Checked by the store.
    #[error("not a valid reference")]
    Reference,
}

impl Error {
    /// The CWMP fault code (TR-069 Table 55) for this error.
    pub fn cwmp_fault(&self) -> u16 {
        match self {
            Self::InvalidPath { .. }
            | Self::UnknownPath { .. }
            | Self::NoSuchInstance { .. }
            | Self::NotATable { .. }
            | Self::NotCreatable { .. } => 9005,
            Self::LimitExceeded { .. } | Self::TableFull { .. } => 9004,
            Self::InvalidValue { .. } | Self::DuplicateKey { .. } => 9007,
            Self::NotWritable { .. } => 9008,
            Self::ApiMisuse(_) => 9002,
        }
    }

    /// The USP error code (TR-369 "Error Codes") for this error.
    pub fn usp_error(&self) -> u32 {
        match self {
            Self::InvalidPath { .. } => 7008,
            Self::LimitExceeded { .. } => 7005,
            Self::UnknownPath { .. } => 7026,
            Self::NoSuchInstance { .. } => 7016,
            Self::InvalidValue { .. } => 7012,
            Self::NotWritable { .. } => 7013,
            Self::NotATable { .. } => 7018,
            Self::NotCreatable { .. } => 7019,
            Self::TableFull { .. } => 7017,
            Self::DuplicateKey { .. } => 7025,
            Self::ApiMisuse(_) => 7003,
        }
    }
}
