//! CWMP versions, their namespaces, and version negotiation.
//!
//! | CWMP | namespace | told apart by |
//! |---|---|---|
//! | 1.0 | `urn:dslforum-org:cwmp-1-0` | namespace |
//! | 1.1 | `urn:dslforum-org:cwmp-1-1` | namespace |
//! | 1.2 | `urn:dslforum-org:cwmp-1-2` | namespace |
//! | 1.3 | `urn:dslforum-org:cwmp-1-2` | `SessionTimeout` header in the Inform |
//! | 1.4 | `urn:dslforum-org:cwmp-1-2` | `SupportedCWMPVersions` header in the Inform |
//!
//! Negotiation (TR-069 Amendment 6): the CPE sends its Inform in the namespace of the highest
//! version it supports and, from CWMP 1.4 on, lists its versions in `SupportedCWMPVersions`.
//! The ACS picks one of them that it supports ([`select_version`]), names it in the
//! `UseCWMPVersion` header of the InformResponse, and answers fault 8006 when there is none.
//! Without the list (a CPE older than 1.4), the ACS answers in the Inform's namespace or an
//! older one it supports, and the CPE follows. The CPE checks the answer with
//! [`confirm_version`]. Both sides then use [`CwmpVersion::namespace`] for the rest of the
//! session.
//!
//! Tools also emit the non-standard namespaces `cwmp-1-3` and `cwmp-1-4`; the decoder accepts
//! any `urn:dslforum-org:cwmp-1-N` with one digit N, and the encoder answers in the namespace
//! of the envelope it is given, so a peer is answered in the namespace it used.

use std::fmt;
use std::str::FromStr;

/// A CWMP protocol version, such as 1.4.
///
/// Versions order by (major, minor). Any `major.minor` is representable, so that a peer
/// announcing a future version in `SupportedCWMPVersions` still decodes.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct CwmpVersion {
    major: u8,
    minor: u8,
}

impl CwmpVersion {
    /// CWMP 1.0 (TR-069 Issue 1 / Amendment 1).
    pub const V1_0: Self = Self::new(1, 0);
    /// CWMP 1.1 (Amendment 2).
    pub const V1_1: Self = Self::new(1, 1);
    /// CWMP 1.2 (Amendment 3).
    pub const V1_2: Self = Self::new(1, 2);
    /// CWMP 1.3 (Amendment 4).
    pub const V1_3: Self = Self::new(1, 3);
    /// CWMP 1.4 (Amendments 5 and 6).
    pub const V1_4: Self = Self::new(1, 4);
    /// Every version this codec implements, oldest first.
    pub const ALL: [Self; 5] = [Self::V1_0, Self::V1_1, Self::V1_2, Self::V1_3, Self::V1_4];

    /// A version from its two numbers.
    #[must_use]
    pub const fn new(major: u8, minor: u8) -> Self {
        Self { major, minor }
    }

    /// The major number.
    #[must_use]
    pub const fn major(self) -> u8 {
        self.major
    }

    /// The minor number.
    #[must_use]
    pub const fn minor(self) -> u8 {
        self.minor
    }

    /// The namespace messages of this version use: `cwmp-1-0`, `cwmp-1-1`, and `cwmp-1-2` for
    /// 1.2 and every later 1.x (their schemas extend the 1.2 namespace).
    #[must_use]
    pub const fn namespace(self) -> CwmpNamespace {
        match (self.major, self.minor) {
            (0, _) | (1, 0) => CwmpNamespace::V1_0,
            (1, 1) => CwmpNamespace::V1_1,
            _ => CwmpNamespace::V1_2,
        }
    }

    /// Parses a comma-separated list such as `1.0,1.1,1.2,1.3,1.4` (the value of the
    /// `SupportedCWMPVersions` header). Whitespace around items is ignored; an empty string is
    /// an empty list.
    ///
    /// # Errors
    ///
    /// [`ParseVersionError`] if an item is not `major.minor`.
    pub fn parse_list(s: &str) -> Result<Vec<Self>, ParseVersionError> {
        if s.trim().is_empty() {
            return Ok(Vec::new());
        }
        s.split(',').map(|item| item.trim().parse()).collect()
    }

    /// Formats a list as the `SupportedCWMPVersions` header wants it (`1.0,1.1`).
    #[must_use]
    pub fn format_list(versions: &[Self]) -> String {
        let mut out = String::with_capacity(versions.len() * 4);
        for (i, v) in versions.iter().enumerate() {
            if i > 0 {
                out.push(',');
            }
            out.push_str(&v.to_string());
        }
        out
    }
}

impl fmt::Display for CwmpVersion {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}.{}", self.major, self.minor)
    }
}

/// The string is not a CWMP version (`major.minor`, each 0–255).
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("not a CWMP version (expected major.minor)")]
pub struct ParseVersionError;

impl FromStr for CwmpVersion {
    type Err = ParseVersionError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let (major, minor) = s.split_once('.').ok_or(ParseVersionError)?;
        let num = |p: &str| {
            if p.is_empty() || !p.bytes().all(|b| b.is_ascii_digit()) {
                return Err(ParseVersionError);
            }
            p.parse::<u8>().map_err(|_| ParseVersionError)
        };
        Ok(Self::new(num(major)?, num(minor)?))
    }
}

/// A CWMP XML namespace `urn:dslforum-org:cwmp-1-N`, N being one digit.
///
/// The standard ones are [`V1_0`](Self::V1_0), [`V1_1`](Self::V1_1) and [`V1_2`](Self::V1_2);
/// the others exist only because some tools emit them.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct CwmpNamespace {
    minor: u8,
}

const NS_PREFIX: &[u8] = b"urn:dslforum-org:cwmp-1-";

const NS_URIS: [&str; 10] = [
    "urn:dslforum-org:cwmp-1-0",
    "urn:dslforum-org:cwmp-1-1",
    "urn:dslforum-org:cwmp-1-2",
    "urn:dslforum-org:cwmp-1-3",
    "urn:dslforum-org:cwmp-1-4",
    "urn:dslforum-org:cwmp-1-5",
    "urn:dslforum-org:cwmp-1-6",
    "urn:dslforum-org:cwmp-1-7",
    "urn:dslforum-org:cwmp-1-8",
    "urn:dslforum-org:cwmp-1-9",
];

impl CwmpNamespace {
    /// `urn:dslforum-org:cwmp-1-0` (CWMP 1.0).
    pub const V1_0: Self = Self { minor: 0 };
    /// `urn:dslforum-org:cwmp-1-1` (CWMP 1.1).
    pub const V1_1: Self = Self { minor: 1 };
    /// `urn:dslforum-org:cwmp-1-2` (CWMP 1.2, 1.3 and 1.4).
    pub const V1_2: Self = Self { minor: 2 };

    /// The namespace `urn:dslforum-org:cwmp-1-{minor}`, for `minor` 0–9.
    #[must_use]
    pub const fn new(minor: u8) -> Option<Self> {
        if minor <= 9 {
            Some(Self { minor })
        } else {
            None
        }
    }

    /// Recognises a namespace URI.
    #[must_use]
    pub fn from_uri(uri: &[u8]) -> Option<Self> {
        match uri.strip_prefix(NS_PREFIX)? {
            [d] if d.is_ascii_digit() => Some(Self { minor: d - b'0' }),
            _ => None,
        }
    }

    /// N of `cwmp-1-N`.
    #[must_use]
    pub const fn minor(self) -> u8 {
        self.minor
    }

    /// The namespace URI.
    #[must_use]
    pub fn uri(self) -> &'static str {
        NS_URIS
            .get(usize::from(self.minor))
            .copied()
            .unwrap_or(NS_URIS[2])
    }

    /// Whether this is one of the three namespaces the BBF schemas define.
    #[must_use]
    pub const fn is_standard(self) -> bool {
        self.minor <= 2
    }

    /// The highest version a message in this namespace can be: 1.0, 1.1, 1.2 (1.3 and 1.4 are
    /// recognised by their headers), or 1.N for a non-standard `cwmp-1-N`.
    #[must_use]
    pub const fn version(self) -> CwmpVersion {
        CwmpVersion::new(1, self.minor)
    }
}

impl Default for CwmpNamespace {
    /// The 1.2 namespace, used by every current CWMP version.
    fn default() -> Self {
        Self::V1_2
    }
}

impl fmt::Display for CwmpNamespace {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.uri())
    }
}

/// The ACS side of negotiation: the version to use with a CPE, given the CPE's Inform.
///
/// * With `SupportedCWMPVersions` (`cpe_supported` is `Some`): the highest version in both
///   lists; the ACS puts it into `UseCWMPVersion`. `None` means the ACS answers fault 8006.
/// * Without it: the highest ACS version not above the Inform's own version, that is the
///   namespace's version, or 1.3 for a `cwmp-1-2` Inform that carries `SessionTimeout`
///   (`session_timeout_present`). A CPE supports every older version, so only an ACS newer
///   than nothing the CPE speaks yields `None`.
#[must_use]
pub fn select_version(
    inform_namespace: CwmpNamespace,
    session_timeout_present: bool,
    cpe_supported: Option<&[CwmpVersion]>,
    acs_supported: &[CwmpVersion],
) -> Option<CwmpVersion> {
    match cpe_supported {
        Some(cpe) => acs_supported
            .iter()
            .filter(|v| cpe.contains(v))
            .max()
            .copied(),
        None => {
            let mut ceiling = inform_namespace.version();
            if inform_namespace == CwmpNamespace::V1_2 && session_timeout_present {
                ceiling = CwmpVersion::V1_3;
            }
            acs_supported
                .iter()
                .filter(|v| **v <= ceiling)
                .max()
                .copied()
        }
    }
}

/// The CPE side of negotiation: the version to use after the InformResponse.
///
/// With `UseCWMPVersion` the answer is that version, if the CPE supports it; `None` means the
/// ACS chose a version the CPE does not speak and the CPE ends the session. Without the header
/// (an ACS older than 1.4) the session continues in the namespace of the InformResponse: the
/// result is the highest CPE version that namespace covers, capped at 1.3 for `cwmp-1-2`
/// because only 1.4 ACSs send `UseCWMPVersion`.
#[must_use]
pub fn confirm_version(
    cpe_supported: &[CwmpVersion],
    response_namespace: CwmpNamespace,
    use_cwmp_version: Option<CwmpVersion>,
) -> Option<CwmpVersion> {
    match use_cwmp_version {
        Some(v) => cpe_supported.contains(&v).then_some(v),
        None => {
            let ceiling = if response_namespace.minor >= 2 {
                CwmpVersion::V1_3
            } else {
                response_namespace.version()
            };
            cpe_supported
                .iter()
                .filter(|v| **v <= ceiling && v.namespace() == response_namespace.min_std())
                .max()
                .copied()
        }
    }
}

impl CwmpNamespace {
    /// The standard namespace a non-standard `cwmp-1-N` (N > 2) stands for.
    const fn min_std(self) -> Self {
        if self.minor > 2 { Self::V1_2 } else { self }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn version_parse_display_order() {
        let v: CwmpVersion = "1.4".parse().unwrap();
        assert_eq!(v, CwmpVersion::V1_4);
        assert_eq!(v.to_string(), "1.4");
        assert!(CwmpVersion::V1_0 < CwmpVersion::V1_4);
        assert!(CwmpVersion::new(2, 0) > CwmpVersion::V1_4);
        for bad in ["", "1", "1.", ".1", "1.x", "1.2.3", "-1.0", "1.256", "+1.0"] {
            assert!(bad.parse::<CwmpVersion>().is_err(), "{bad}");
        }
    }

    #[test]
    fn version_lists() {
        let l = CwmpVersion::parse_list("1.0, 1.1,1.2 ,1.3,1.4").unwrap();
        assert_eq!(l, CwmpVersion::ALL);
        assert_eq!(CwmpVersion::format_list(&l), "1.0,1.1,1.2,1.3,1.4");
        assert_eq!(CwmpVersion::parse_list(" ").unwrap(), vec![]);
        assert!(CwmpVersion::parse_list("1.0,,1.2").is_err());
    }

    #[test]
    fn namespaces() {
        assert_eq!(CwmpVersion::V1_0.namespace(), CwmpNamespace::V1_0);
        assert_eq!(CwmpVersion::V1_1.namespace(), CwmpNamespace::V1_1);
        for v in [CwmpVersion::V1_2, CwmpVersion::V1_3, CwmpVersion::V1_4] {
            assert_eq!(v.namespace(), CwmpNamespace::V1_2);
        }
        assert_eq!(
            CwmpNamespace::from_uri(b"urn:dslforum-org:cwmp-1-2"),
            Some(CwmpNamespace::V1_2)
        );
        let odd = CwmpNamespace::from_uri(b"urn:dslforum-org:cwmp-1-4").unwrap();
        assert!(!odd.is_standard());
        assert_eq!(odd.uri(), "urn:dslforum-org:cwmp-1-4");
        assert_eq!(CwmpNamespace::from_uri(b"urn:dslforum-org:cwmp-1-10"), None);
        assert_eq!(CwmpNamespace::from_uri(b"urn:dslforum-org:cwmp-2-0"), None);
        assert_eq!(CwmpNamespace::new(10), None);
    }

    #[test]
    fn acs_selects_highest_common() {
        let acs = [CwmpVersion::V1_0, CwmpVersion::V1_2, CwmpVersion::V1_4];
        let cpe = [
            CwmpVersion::V1_0,
            CwmpVersion::V1_1,
            CwmpVersion::V1_2,
            CwmpVersion::V1_3,
        ];
        assert_eq!(
            select_version(CwmpNamespace::V1_2, true, Some(&cpe), &acs),
            Some(CwmpVersion::V1_2)
        );
        // No common version: the ACS answers 8006.
        assert_eq!(
            select_version(CwmpNamespace::V1_2, false, Some(&[CwmpVersion::V1_3]), &acs),
            None
        );
    }

    #[test]
    fn acs_selects_by_namespace_without_list() {
        let acs = [
            CwmpVersion::V1_0,
            CwmpVersion::V1_1,
            CwmpVersion::V1_3,
            CwmpVersion::V1_4,
        ];
        assert_eq!(
            select_version(CwmpNamespace::V1_1, false, None, &acs),
            Some(CwmpVersion::V1_1)
        );
        assert_eq!(
            select_version(CwmpNamespace::V1_2, true, None, &acs),
            Some(CwmpVersion::V1_3)
        );
        assert_eq!(
            select_version(CwmpNamespace::V1_2, false, None, &acs),
            Some(CwmpVersion::V1_1)
        );
        assert_eq!(
            select_version(CwmpNamespace::V1_0, false, None, &[CwmpVersion::V1_4]),
            None
        );
    }

    #[test]
    fn cpe_confirms() {
        let cpe = CwmpVersion::ALL;
        assert_eq!(
            confirm_version(&cpe, CwmpNamespace::V1_2, Some(CwmpVersion::V1_4)),
            Some(CwmpVersion::V1_4)
        );
        assert_eq!(
            confirm_version(&cpe, CwmpNamespace::V1_2, Some(CwmpVersion::new(2, 0))),
            None
        );
        assert_eq!(
            confirm_version(&cpe, CwmpNamespace::V1_1, None),
            Some(CwmpVersion::V1_1)
        );
        assert_eq!(
            confirm_version(&cpe, CwmpNamespace::V1_2, None),
            Some(CwmpVersion::V1_3)
        );
        assert_eq!(
            confirm_version(&[CwmpVersion::V1_0], CwmpNamespace::V1_2, None),
            None
        );
    }
}
