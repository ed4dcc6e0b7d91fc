//! The two error layers of this crate: [`HalError`] (what a vendor's hardware layer reports) and
//! [`EngineError`] (what a request to the engine fails with), each mapped onto CWMP fault codes
//! (TR-069 Table 55) and USP error codes (TR-369 "Error Codes").
//!
//! Who is at fault decides the variant: the peer (a bad path or value: the model's
//! [`tr181_model::Error`], [`EngineError::PermissionDenied`], [`EngineError::InvalidArguments`]),
//! the hardware ([`HalError`]), or the local caller ([`EngineError::ApiMisuse`]).

use std::string::String;

/// A failure reported by a vendor's implementation of the HAL traits.
///
/// Each variant names its CWMP fault and USP error code; [`HalError::cwmp_fault`] and
/// [`HalError::usp_error`] return them.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum HalError {
    /// The device declines the request by policy (a table row it will not add or delete, a
    /// command it will not run now). CWMP 9001 "Request denied", USP 7002 "Request denied".
    #[error("{path}: refused by the device: {reason}")]
    Refused {
        /// The path concerned.
        path: String,
        /// Why, for logs and `err_msg`.
        reason: String,
    },
    /// The hardware rejects a value that the model accepted (e.g. a channel the radio cannot
    /// use). CWMP 9007 "Invalid parameter value", USP 7012 "Invalid value".
    #[error("{path}: value rejected by the device: {reason}")]
    InvalidValue {
        /// The parameter concerned.
        path: String,
        /// Why.
        reason: String,
    },
    /// Command input arguments the device cannot use. CWMP 9003 "Invalid arguments", USP 7027
    /// "Invalid command arguments".
    #[error("{path}: invalid arguments: {reason}")]
    InvalidArguments {
        /// The command concerned.
        path: String,
        /// Why.
        reason: String,
    },
    /// The device does not implement this (a command, a file type, a lifecycle action). CWMP
    /// 9000 "Method not supported", USP 7022 "Command failure".
    #[error("{path}: not supported by this device")]
    Unsupported {
        /// The path or action concerned.
        path: String,
    },
    /// The hardware operation failed. CWMP 9002 "Internal error", USP 7003 "Internal error".
    #[error("{path}: device operation failed: {reason}")]
    Failed {
        /// The path concerned.
        path: String,
        /// Why.
        reason: String,
    },
    /// The hardware did not answer in time. CWMP 9002, USP 7003.
    #[error("{path}: the device did not answer in time")]
    Timeout {
        /// The path concerned.
        path: String,
    },
    /// An asynchronous command was cancelled. CWMP 9002, USP 7023 "Command canceled".
    #[error("{path}: cancelled")]
    Cancelled {
        /// The command concerned.
        path: String,
    },
    /// A file transfer failed; the fault says how (CWMP 9010–9019, USP 7022).
    #[error("file transfer failed ({fault:?}): {reason}")]
    Transfer {
        /// The TR-069 transfer fault.
        fault: crate::transfer::TransferFault,
        /// Why, for logs and `FaultString`.
        reason: String,
    },
    /// Persistent storage could not be read or written. CWMP 9002, USP 7003.
    #[error("storage: {reason}")]
    Storage {
        /// Why.
        reason: String,
    },
}

impl HalError {
    /// The CWMP fault code (TR-069 Table 55).
    pub fn cwmp_fault(&self) -> u16 {
        match self {
            Self::Refused { .. } => 9001,
            Self::InvalidValue { .. } => 9007,
            Self::InvalidArguments { .. } => 9003,
            Self::Unsupported { .. } => 9000,
            Self::Failed { .. } | Self::Timeout { .. } | Self::Cancelled { .. } => 9002,
            Self::Storage { .. } => 9002,
            Self::Transfer { fault, .. } => fault.cwmp_fault(),
        }
    }

    /// The USP error code (TR-369 "Error Codes").
    pub fn usp_error(&self) -> u32 {
        match self {
            Self::Refused { .. } => 7002,
            Self::InvalidValue { .. } => 7012,
            Self::InvalidArguments { .. } => 7027,
            Self::Unsupported { .. } | Self::Transfer { .. } => 7022,
            Self::Failed { .. } | Self::Timeout { .. } | Self::Storage { .. } => 7003,
            Self::Cancelled { .. } => 7023,
        }
    }
}

/// Why a request to the [`Engine`](crate::engine::Engine) (or one path of it) failed.
///
/// Wraps the model's [`tr181_model::Error`] (paths, values, access, tables, unique keys) and
/// [`HalError`]; [`EngineError::cwmp_fault`] and [`EngineError::usp_error`] give the wire code.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum EngineError {
    /// The data model refused: see [`tr181_model::Error`] for each variant's codes (unknown
    /// path 9005/7026, not writable 9008/7013, invalid value 9007/7012, duplicate key
    /// 9007/7025, ...).
    #[error(transparent)]
    Model(#[from] tr181_model::Error),
    /// The hardware layer failed; see [`HalError`] for the codes.
    #[error(transparent)]
    Hal(#[from] HalError),
    /// The principal's access rights do not allow this. CWMP 9001 "Request denied", USP 7006
    /// "Permission denied".
    #[error("{path}: permission denied")]
    PermissionDenied {
        /// The path concerned.
        path: String,
    },
    /// A request argument is wrong: a missing mandatory or unknown command argument, a
    /// sync/async mismatch. CWMP 9003 "Invalid arguments", USP 7027 "Invalid command
    /// arguments" (7004 "Invalid arguments" for non-command requests, see
    /// [`EngineError::usp_error`]).
    #[error("{path}: invalid arguments: {reason}")]
    InvalidArguments {
        /// The path concerned.
        path: String,
        /// Why.
        reason: &'static str,
        /// Whether the path is a command (USP 7027) rather than another request (7004).
        command: bool,
    },
    /// A required parameter of a USP Set or Add failed (the cause is in the parameter
    /// errors). CWMP 9003, USP 7021 "Required parameter failed".
    #[error("{path}: a required parameter failed")]
    RequiredParameterFailed {
        /// The object concerned.
        path: String,
    },
    /// A limit of [`EngineConfig`](crate::engine::EngineConfig) was hit. CWMP 9004
    /// "Resources exceeded", USP 7005 "Resources exceeded".
    #[error("{what} exceeds the limit of {limit}")]
    LimitExceeded {
        /// Which limit.
        what: &'static str,
        /// Its value.
        limit: usize,
    },
    /// The engine was used wrongly by the local caller (not the peer's fault), e.g. a request
    /// before [`Engine::start`](crate::engine::Engine::start). CWMP 9002, USP 7003.
    #[error("API misuse: {0}")]
    ApiMisuse(&'static str),
}

impl EngineError {
    /// The CWMP fault code (TR-069 Table 55).
    pub fn cwmp_fault(&self) -> u16 {
        match self {
            Self::Model(error) => error.cwmp_fault(),
            Self::Hal(error) => error.cwmp_fault(),
            Self::PermissionDenied { .. } => 9001,
            Self::InvalidArguments { .. } | Self::RequiredParameterFailed { .. } => 9003,
            Self::LimitExceeded { .. } => 9004,
            Self::ApiMisuse(_) => 9002,
        }
    }

    /// The USP error code (TR-369 "Error Codes").
    pub fn usp_error(&self) -> u32 {
        match self {
            Self::Model(error) => error.usp_error(),
            Self::Hal(error) => error.usp_error(),
            Self::PermissionDenied { .. } => 7006,
            Self::InvalidArguments { command: true, .. } => 7027,
            Self::InvalidArguments { command: false, .. } => 7004,
            Self::RequiredParameterFailed { .. } => 7021,
            Self::LimitExceeded { .. } => 7005,
            Self::ApiMisuse(_) => 7003,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_follow_the_wrapped_layer() {
        let model = EngineError::from(tr181_model::Error::NotWritable {
            path: "Device.DeviceInfo.UpTime".into(),
        });
        assert_eq!((model.cwmp_fault(), model.usp_error()), (9008, 7013));
        let hal = EngineError::from(HalError::InvalidValue {
            path: "Device.WiFi.Radio.1.Channel".into(),
            reason: "not allowed".into(),
        });
        assert_eq!((hal.cwmp_fault(), hal.usp_error()), (9007, 7012));
        let denied = EngineError::PermissionDenied {
            path: "Device.".into(),
        };
        assert_eq!((denied.cwmp_fault(), denied.usp_error()), (9001, 7006));
    }
}
