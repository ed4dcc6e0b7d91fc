//! Bounds on untrusted input handled by this crate.

/// Limits applied to paths, search expressions and values that come from the network.
///
/// A breach is [`crate::Error::LimitExceeded`] (CWMP 9004, USP 7005), never a truncation or a
/// panic. The defaults are generous for every path in TR-181 and tight enough that a hostile
/// controller cannot make the agent do unbounded work.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct Limits {
    /// Longest accepted path, in bytes. The longest TR-181 schema path is under 200 bytes;
    /// search expressions make instantiated paths longer. Default 1024.
    pub max_path_len: usize,
    /// Most search expressions and key filters (`[...]`) in one path. Default 8: one per table
    /// level, and TR-181 nests tables at most 6 deep; each filter is evaluated against every
    /// row of its table, so this bounds the work of one path.
    pub max_filters: usize,
    /// Most comparisons (`&&`-joined terms) in one search expression. Default 16: more than
    /// a table has unique-key parameters; every term is evaluated on every row.
    pub max_terms: usize,
    /// Most reference follows (`+`) in one path, counting those inside filters. Default 8;
    /// also stops reference cycles.
    pub max_reference_follows: usize,
    /// Longest accepted parameter value, in bytes (the largest TR-181 `maxLength` is 65535;
    /// unbounded strings are capped here). Default 64 KiB.
    pub max_value_len: usize,
}

impl Limits {
    /// The default limits.
    pub const DEFAULT: Self = Self {
        max_path_len: 1024,
        max_filters: 8,
        max_terms: 16,
        max_reference_follows: 8,
        max_value_len: 64 * 1024,
    };
}

impl Default for Limits {
    fn default() -> Self {
        Self::DEFAULT
    }
}
