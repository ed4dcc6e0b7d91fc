//! Limits on untrusted Records and Msgs.

/// Bounds applied by [`decode_record`](super::decode_record) and
/// [`decode_msg`](super::decode_msg) to input from a controller, a broker or a local socket.
///
/// A breach is a [`DecodeError`](super::DecodeError) that maps to USP error 7005 (Resources
/// exceeded), never a truncation or a panic. The defaults are starting points for a CPE; tune
/// them by measuring.
///
/// Sizes are checked before decoding. Counts and lengths can only be checked after decoding, so
/// the memory a decode may take is bounded by the byte limits: a protobuf value grows by at most
/// about 40 times when decoded (an empty repeated message costs 2 bytes on the wire and up to about
/// 80 bytes in memory). Devices with little memory should lower `max_record_bytes` and
/// `max_msg_bytes`. prost's nesting limit of 100 stays on.
///
/// ```
/// let limits = usp_core::Limits::default().with_max_record_bytes(64 * 1024);
/// assert_eq!(limits.max_record_bytes, 64 * 1024);
/// assert_eq!(limits.max_repeated, 4096);
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct Limits {
    /// Largest Record accepted, in bytes, checked before decoding. Default 1 MiB.
    pub max_record_bytes: usize,
    /// Largest Msg accepted, in bytes (a Record payload, or a reassembled session payload),
    /// checked before decoding. Default 1 MiB.
    pub max_msg_bytes: usize,
    /// Most entries accepted in any one repeated field or map. Default 4096, the engine's most
    /// items per request (STYLE §2.5).
    pub max_repeated: usize,
    /// Longest path or parameter name accepted, in bytes (every field that holds a data model
    /// path, a relative parameter or argument name, or a map key). Default 1024, the data
    /// model's own path limit (`tr181_model::Limits::max_path_len`).
    pub max_path_len: usize,
}

impl Limits {
    /// The default Record size limit: 1 MiB.
    pub const DEFAULT_MAX_RECORD_BYTES: usize = 1024 * 1024;
    /// The default Msg size limit: 1 MiB.
    pub const DEFAULT_MAX_MSG_BYTES: usize = 1024 * 1024;
    /// The default limit on entries per repeated field or map: 4096.
    pub const DEFAULT_MAX_REPEATED: usize = 4096;
    /// The default path length limit: 1024 bytes.
    pub const DEFAULT_MAX_PATH_LEN: usize = 1024;

    /// Sets [`max_record_bytes`](Self::max_record_bytes).
    #[must_use]
    pub const fn with_max_record_bytes(mut self, bytes: usize) -> Self {
        self.max_record_bytes = bytes;
        self
    }

    /// Sets [`max_msg_bytes`](Self::max_msg_bytes).
    #[must_use]
    pub const fn with_max_msg_bytes(mut self, bytes: usize) -> Self {
        self.max_msg_bytes = bytes;
        self
    }

    /// Sets [`max_repeated`](Self::max_repeated).
    #[must_use]
    pub const fn with_max_repeated(mut self, entries: usize) -> Self {
        self.max_repeated = entries;
        self
    }

    /// Sets [`max_path_len`](Self::max_path_len).
    #[must_use]
    pub const fn with_max_path_len(mut self, bytes: usize) -> Self {
        self.max_path_len = bytes;
        self
    }
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            max_record_bytes: Self::DEFAULT_MAX_RECORD_BYTES,
            max_msg_bytes: Self::DEFAULT_MAX_MSG_BYTES,
            max_repeated: Self::DEFAULT_MAX_REPEATED,
            max_path_len: Self::DEFAULT_MAX_PATH_LEN,
        }
    }
}
