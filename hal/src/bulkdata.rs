//! TR-181 Bulk Data collection (`Device.BulkData.`), protocol-neutral: which profiles run,
//! what they collect, the report texts, when they are due and which failed reports are kept.
//!
//! Delivery belongs to the drivers: HTTP (TR-069 Annex N, TR-369 Annex A.1; [`Report`] gives
//! the body and the `Content-Type` and `BBF-Report-Format` header values, [`Compression`] the
//! `Content-Encoding` the driver compresses it with), an MQTT PUBLISH
//! on the client row `MQTT.Reference` names ([`MqttSettings`]; TR-369 Annex A, "MQTT Bulk Data
//! Collection": in MQTT 5 the `Content-Type` value is the Content Type property), or the USP
//! `Device.BulkData.Profile.{i}.Push!` event with the report as its `Data` argument. This
//! module reads no clock: the collection time and the wall clock come in as arguments.
//!
//! # Flow
//!
//! ```text
//!   profiles(store) ──▶ collect(engine, principal, profile) ──▶ Collection
//!                                                                   │
//!   Retained (failed reports, bounded) ──▶ Retained::report(profile, &current) ──▶ Report
//!                                                                   │
//!                  delivered: Retained::delivered    failed: Retained::failed(current)
//!
//!   saved(profiles' Retained) ──▶ Section::BulkData ──▶ restore(bytes, profiles) (next boot)
//! ```
//!
//! # Report formats
//!
//! As the `JSONEncoding.` and `CSVEncoding.` descriptions define them:
//!
//! - JSON: `{"Report":[ ... ]}`, one JSON object per collection (the retained failed reports
//!   first, the current one last), with `CollectionTime` first unless `ReportTimestamp` is
//!   `None`. `ObjectHierarchy` nests an object per path segment (`{"Device":{"IP":{...}}}`);
//!   `NameValuePair` keeps each parameter's name whole. `boolean` values are JSON booleans,
//!   `int`, `unsignedInt`, `long` and `unsignedLong` values JSON numbers, everything else
//!   strings.
//! - CSV (RFC 4180 with the profile's separators and escape character): `ParameterPerRow`
//!   has the header `ReportTimestamp,ParameterName,ParameterValue,ParameterType` and a row
//!   per parameter; `ParameterPerColumn` has the parameter names as header and a row per
//!   collection. With `RowTimestamp` `None` the `ReportTimestamp` column is left out.
//! - Timestamps: `Unix-Epoch` is milliseconds since 1970 (the descriptions' unit), or since
//!   boot when the wall clock is unknown; `ISO-8601` is the dateTime text, relative to boot
//!   (`0001-01-01T...`) when the wall clock is unknown (TR-069 Table 12).
//!
//! # Names
//!
//! A parameter's name in the report is its path, or `Parameter.{i}.Name` when that is set:
//! for a parameter path the name replaces it; for a partial path or a path with wildcards the
//! name replaces the part of the path before the first wildcard (or the whole partial path)
//! and the rest of each resolved path follows it (TR-369 Annex A.2.1). Rows with `Exclude`
//! remove what they match from the report.
//!
//! # Limits
//!
//! [`Limits`] bounds the profiles, the parameters per profile (also after the expansion of
//! wildcards and partial paths), the retained failed reports and the report's size; the
//! simulated device advertises them in the capability parameters (`MaxNumberOfProfiles`,
//! `MaxNumberOfParameterReferences`, ...). A breach is [`BulkDataError`], never a silent
//! truncation, except that the oldest retained reports are dropped to make room for the
//! current one, as `NumberOfRetainedFailedReports` requires.
//!
//! # Persistence
//!
//! The retained reports of a profile with `HTTP.PersistAcrossReboot` survive a reboot: the
//! driver saves them with [`saved`] in [`Section::BulkData`](crate::traits::Section::BulkData)
//! whenever [`Retained::revision`] moves (or such a profile goes away), and reads them back
//! with [`restore`], so that they go out with the first report after the reboot. They are
//! kept as collections (each parameter's name, type and canonical text), not as report
//! texts, so that they join the next report by the rules of its encoding as the retained
//! reports in memory do. Both directions hold the section to [`Limits::max_saved_bytes`] and
//! each profile to its `NumberOfRetainedFailedReports`; a saved report of the wrong shape is
//! dropped alone.
//! TR-181 puts `PersistAcrossReboot` under `HTTP.` only: the failed reports of an `MQTT` or
//! `USPEventNotif` profile are not persisted.
//!
//! The engine holds controllers' writes to the capabilities the store advertises, whatever
//! the device: an Add or Set under `Device.BulkData.` that leaves more profile rows than
//! `MaxNumberOfProfiles` fails as a full table (CWMP 9004, USP 7017), one that leaves the
//! references of all profiles naming more parameters than `MaxNumberOfParameterReferences`
//! (wildcards and partial paths expanded, each row at least one) fails with CWMP 9004 /
//! USP 7005, and a `ReportingInterval` below `MinReportingInterval` is an invalid value
//! (9007 / 7012). -1 (and a `MinReportingInterval` of 0) is no limit.

use std::collections::{BTreeMap, VecDeque};
use std::fmt::Write as _;
use std::string::{String, ToString};
use std::time::Duration;
use std::vec::Vec;

use serde::{Serialize, Serializer};

use tr181_model::lenient::{Entries, Lenient, LenientList, keep_read};
use tr181_model::path::Path;
use tr181_model::schema::{BaseType, Protocol};
use tr181_model::store::{Resolved, Store};
use tr181_model::value::{DateTime, Value, xsd_type_of};

use crate::engine::{Engine, GetRequest, Principal};
use crate::error::EngineError;

/// The profiles table.
pub const PROFILES: &str = "Device.BulkData.Profile.";
/// The event a `USPEventNotif` profile's reports go out with, relative to the profile row.
pub const PUSH_EVENT: &str = "Push!";

/// Bounds on bulk data collection; the defaults are what the simulated device advertises.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct Limits {
    /// Most enabled profiles run at once (`MaxNumberOfProfiles`). Default 16.
    pub max_profiles: usize,
    /// Most parameters one report holds, after the expansion of wildcards and partial paths
    /// (`MaxNumberOfParameterReferences`). Default 1024.
    pub max_parameters: usize,
    /// Most failed reports kept per profile, also when `NumberOfRetainedFailedReports` is -1
    /// ("as many as possible"). Default 8.
    pub max_retained: usize,
    /// Largest report body in bytes. Default 256 KiB.
    pub max_report_bytes: usize,
    /// Shortest `ReportingInterval` honoured, in seconds (`MinReportingInterval`); a shorter
    /// one runs at this interval. Default 1.
    pub min_interval: u32,
    /// Largest [`Section::BulkData`](crate::traits::Section::BulkData): [`saved`] keeps each
    /// profile's newest reports within it, [`restore`] reads no larger one. Default 1 MiB.
    pub max_saved_bytes: usize,
}

impl Limits {
    /// The defaults.
    pub const DEFAULT: Self = Self {
        max_profiles: 16,
        max_parameters: 1024,
        max_retained: 8,
        max_report_bytes: 256 * 1024,
        min_interval: 1,
        max_saved_bytes: 1024 * 1024,
    };

    /// These limits with at most `max` parameters per report.
    #[must_use]
    pub const fn with_max_parameters(mut self, max: usize) -> Self {
        self.max_parameters = max;
        self
    }
}

impl Default for Limits {
    fn default() -> Self {
        Self::DEFAULT
    }
}

/// Why a profile does not run or a report was not made.
#[derive(Clone, Debug, PartialEq, thiserror::Error)]
#[non_exhaustive]
pub enum BulkDataError {
    /// The profile's `EncodingType` or a format parameter has a value this device does not
    /// support.
    #[error("{profile}: unsupported encoding {encoding:?}")]
    Encoding {
        /// The profile row.
        profile: String,
        /// The value.
        encoding: String,
    },
    /// Reading the parameters failed as a whole (not started, access refused).
    #[error("{profile}: collection failed: {error}")]
    Engine {
        /// The profile row.
        profile: String,
        /// Why.
        error: EngineError,
    },
    /// The profile's `HTTP.Compression` is not one of [`COMPRESSIONS_SUPPORTED`] (set in
    /// the Add that made the row, before the device filled `HTTP.CompressionsSupported`).
    #[error("{profile}: unsupported compression {compression:?}")]
    Compression {
        /// The profile row.
        profile: String,
        /// The value.
        compression: String,
    },
    /// The profile's `Protocol` is not one this device supports.
    #[error("{profile}: unsupported protocol {protocol:?}")]
    Protocol {
        /// The profile row.
        profile: String,
        /// The value.
        protocol: String,
    },
    /// The saved retained reports cannot be read: not JSON of their shape (cut short,
    /// garbled), or larger than [`Limits::max_saved_bytes`].
    #[error("saved bulk data reports unreadable: {reason}")]
    Saved {
        /// Why.
        reason: String,
    },
    /// The report alone is larger than [`Limits::max_report_bytes`].
    #[error("{profile}: the report is {size} bytes, above the limit of {limit}")]
    ReportTooLarge {
        /// The profile row.
        profile: String,
        /// Its size.
        size: usize,
        /// The limit.
        limit: usize,
    },
    /// The references expand to more than [`Limits::max_parameters`] parameters.
    #[error("{profile}: more than {limit} parameters")]
    TooManyParameters {
        /// The profile row.
        profile: String,
        /// The limit.
        limit: usize,
    },
}

/// How reports travel (`Profile.{i}.Protocol`).
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Transport {
    /// `HTTP`: the driver sends the report to `Profile.{i}.HTTP.URL`.
    Http(HttpSettings),
    /// `MQTT`: the driver PUBLISHes the report on the connection of the client row
    /// `Profile.{i}.MQTT.Reference` names.
    Mqtt(MqttSettings),
    /// `USPEventNotif`: the report is the `Data` of a `Push!` event.
    UspEventNotif,
}

/// The HTTP method (`Profile.{i}.HTTP.Method`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Method {
    /// `POST`, the default.
    Post,
    /// `PUT`.
    Put,
}

/// The content coding of an HTTP report (`Profile.{i}.HTTP.Compression`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Compression {
    /// `None`: the report as it is.
    None,
    /// `GZIP`: the gzip format (RFC 1952).
    Gzip,
    /// `Deflate`: the zlib format (RFC 1950), which is what HTTP's `deflate` coding means
    /// (RFC 9110 §8.4.1.2), not raw DEFLATE.
    Deflate,
}

impl Compression {
    /// The `Content-Encoding` header value, `None` for the report as it is.
    pub fn content_encoding(self) -> Option<&'static str> {
        match self {
            Self::None => None,
            Self::Gzip => Some("gzip"),
            Self::Deflate => Some("deflate"),
        }
    }
}

/// `Profile.{i}.HTTP.`.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct HttpSettings {
    /// `URL`.
    pub url: String,
    /// `Username`; with `Password`, for Basic authentication.
    pub username: String,
    /// `Password`.
    pub password: String,
    /// `Method`.
    pub method: Method,
    /// `Compression`.
    pub compression: Compression,
    /// `UseDateHeader`.
    pub use_date_header: bool,
    /// `RetryMinimumWaitInterval` (seconds) and `RetryIntervalMultiplier` (thousandths) when
    /// `RetryEnable`.
    pub retry: Option<(u32, u32)>,
    /// `RequestURIParameter.{i}.`: (`Name`, `Reference`) of the rows with a `Reference`.
    pub uri_parameters: Vec<(String, String)>,
    /// `PersistAcrossReboot`.
    pub persist_across_reboot: bool,
}

impl HttpSettings {
    /// The wait before retry `retry` (1-based) in milliseconds, `random` picking within the
    /// window (TR-069 Annex N.2.2.1: the session-retry pattern on the profile's parameters);
    /// `None` when retries are off.
    pub fn retry_wait_ms(&self, retry: u32, random: u64) -> Option<u64> {
        let (minimum, multiplier) = self.retry?;
        let minimum_ms = u64::from(minimum).saturating_mul(1000);
        Some(crate::retry::wait_ms(minimum_ms, multiplier, retry, random))
    }
}

/// `Profile.{i}.MQTT.`.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct MqttSettings {
    /// `Reference`: the `Device.MQTT.Client.{i}.` row, with its trailing dot; empty when unset.
    pub client: String,
    /// `PublishTopic`.
    pub topic: String,
    /// `PublishQoS` (0–2); the driver lowers it to the broker's Maximum QoS (MQTT 5).
    pub qos: u8,
    /// `PublishRetain`; the driver clears it when the broker said Retain Available 0.
    pub retain: bool,
}

/// The timestamp form (`ReportTimestamp`, `RowTimestamp`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Timestamp {
    /// `ISO-8601`.
    Iso8601,
    /// `None`: no timestamp.
    None,
    /// `Unix-Epoch`: milliseconds.
    UnixEpoch,
}

/// The report's encoding (`EncodingType` and its object).
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Encoding {
    /// `CSV`, `CSVEncoding.`.
    Csv {
        /// `FieldSeparator`, decoded.
        field_separator: String,
        /// `RowSeparator`, decoded.
        row_separator: String,
        /// `EscapeCharacter`, decoded.
        escape: String,
        /// `ReportFormat` is `ParameterPerRow` (else `ParameterPerColumn`).
        per_row: bool,
        /// `RowTimestamp`.
        timestamp: Timestamp,
    },
    /// `JSON`, `JSONEncoding.`.
    Json {
        /// `ReportFormat` is `ObjectHierarchy` (else `NameValuePair`).
        hierarchy: bool,
        /// `ReportTimestamp`.
        timestamp: Timestamp,
    },
}

impl Encoding {
    /// The `BBF-Report-Format` header value, which also tells the encodings apart on
    /// [`restore`].
    fn report_format(&self) -> &'static str {
        match self {
            Self::Csv { per_row: true, .. } => "ParameterPerRow",
            Self::Csv { .. } => "ParameterPerColumn",
            Self::Json {
                hierarchy: true, ..
            } => "ObjectHierarchy",
            Self::Json { .. } => "NameValuePair",
        }
    }
}

/// One `Profile.{i}.Parameter.{i}.` row.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct ParameterRef {
    /// `Name`.
    pub name: String,
    /// `Reference`.
    pub reference: String,
    /// `Exclude`.
    pub exclude: bool,
}

/// An enabled profile, read from the store.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct Profile {
    /// The row, `Device.BulkData.Profile.{i}.`.
    pub path: String,
    /// `Controller` (USP: the controller row that created it), empty if none.
    pub controller: String,
    /// `Protocol` and its settings.
    pub transport: Transport,
    /// `EncodingType` and its settings.
    pub encoding: Encoding,
    /// `ReportingInterval` in seconds, at least [`Limits::min_interval`].
    pub interval: u32,
    /// `TimeReference` in Unix seconds; `None` for the Unknown Time (or a time relative to
    /// boot, which fixes no instant).
    pub time_reference: Option<i64>,
    /// How many failed reports to keep (`NumberOfRetainedFailedReports`, -1 meaning
    /// [`Limits::max_retained`]).
    pub retained: usize,
    /// `Parameter.{i}.`, in row order.
    pub parameters: Vec<ParameterRef>,
}

impl Profile {
    /// The path of its `Push!` event.
    pub fn push_event(&self) -> String {
        std::format!("{}{PUSH_EVENT}", self.path)
    }

    /// The `BBF-Report-Format` header value.
    pub fn report_format(&self) -> &'static str {
        self.encoding.report_format()
    }

    /// Whether its failed reports survive a reboot (`HTTP.PersistAcrossReboot`).
    pub fn persists(&self) -> bool {
        matches!(&self.transport, Transport::Http(http) if http.persist_across_reboot)
    }

    /// The `Content-Type` header value.
    pub fn content_type(&self) -> &'static str {
        match self.encoding {
            Encoding::Csv { .. } => "text/csv; charset=UTF-8; header=present",
            Encoding::Json { .. } => "application/json; charset=UTF-8",
        }
    }

    /// The delay from a wall-clock instant `wall_micros` (Unix microseconds, `None` when
    /// unknown) to the end of the current reporting interval: aligned on `TimeReference`
    /// when both are known, else one interval (the description's Unknown Time behaviour). A
    /// boundary exactly at `wall_micros` counts as the next interval's start.
    pub fn next_report(&self, wall_micros: Option<i64>) -> Duration {
        let interval = Duration::from_secs(u64::from(self.interval));
        let (Some(wall), Some(reference)) = (wall_micros, self.time_reference) else {
            return interval;
        };
        let period = i64::from(self.interval).saturating_mul(1_000_000).max(1);
        let reference = reference.saturating_mul(1_000_000);
        let phase = wall.saturating_sub(reference).rem_euclid(period);
        Duration::from_micros(u64::try_from(period.saturating_sub(phase)).unwrap_or(0))
    }
}

/// `Device.BulkData.` capability `name` (`MaxNumberOfProfiles`, ...) as a bound; `None` for
/// -1, "no limit".
fn capability(store: &Store, name: &str) -> Option<usize> {
    let value = text(store, "Device.BulkData.", name).parse::<i64>().ok()?;
    usize::try_from(value).ok()
}

/// Refuses a write of `path` (already staged in `store`) that sets a profile's
/// `ReportingInterval` below `MinReportingInterval`, as the description allows the CPE to:
/// [`HalError::InvalidValue`](crate::HalError::InvalidValue), CWMP 9007, USP 7012. Other
/// paths pass.
pub(crate) fn check_param(store: &Store, path: &str) -> Result<(), EngineError> {
    let is_interval = path
        .strip_prefix(PROFILES)
        .and_then(|rest| rest.strip_suffix(".ReportingInterval"))
        .is_some_and(|row| !row.is_empty() && row.bytes().all(|b| b.is_ascii_digit()));
    let minimum = capability(store, "MinReportingInterval").filter(|m| *m > 0);
    let Some(minimum) = minimum.filter(|_| is_interval) else {
        return Ok(());
    };
    let interval = text(store, "", path).parse::<usize>().unwrap_or(0);
    if interval >= minimum {
        return Ok(());
    }
    Err(crate::HalError::InvalidValue {
        path: path.to_string(),
        reason: std::format!("below MinReportingInterval ({minimum} s)"),
    }
    .into())
}

/// Checks the staged `store` against the capabilities the device advertises, after a write
/// under `Device.BulkData.`: at most `MaxNumberOfProfiles` profile rows (else
/// [`tr181_model::Error::TableFull`], CWMP 9004, USP 7017 "Object could not be created"),
/// and at most `MaxNumberOfParameterReferences` parameters named by the `Reference`s of every
/// profile's rows, a wildcard or partial path counting what it expands to now and every row
/// at least one (else [`EngineError::LimitExceeded`], CWMP 9004, USP 7005). -1 is no limit.
pub(crate) fn check_capabilities(store: &Store) -> Result<(), EngineError> {
    let profiles = rows(store, PROFILES);
    if let Some(max) = capability(store, "MaxNumberOfProfiles") {
        if profiles.len() > max {
            return Err(tr181_model::Error::TableFull {
                path: PROFILES.to_string(),
            }
            .into());
        }
    }
    let Some(max) = capability(store, "MaxNumberOfParameterReferences") else {
        return Ok(());
    };
    let mut count = 0usize;
    for profile in &profiles {
        for row in rows(store, &std::format!("{profile}Parameter.")) {
            let reference = text(store, &row, "Reference");
            // Counting stops past the bound: a reference to `Device.` costs no more.
            let left = max.saturating_sub(count).saturating_add(1);
            count = count.saturating_add(expansion(store, &reference, left).max(1));
            if count > max {
                return Err(EngineError::LimitExceeded {
                    what: "Device.BulkData.MaxNumberOfParameterReferences",
                    limit: max,
                });
            }
        }
    }
    Ok(())
}

/// How many parameters `reference` names in `store` now, counting up to `bound` (none when
/// empty, which would parse as `Device.`).
fn expansion(store: &Store, reference: &str, bound: usize) -> usize {
    if reference.is_empty() {
        return 0;
    }
    let Ok(path) = Path::parse(reference, store.limits()) else {
        return 0;
    };
    let Ok(found) = store.resolve(&path, Protocol::Usp) else {
        return 0;
    };
    let mut count = 0usize;
    for item in &found {
        if count >= bound {
            break;
        }
        count = count.saturating_add(match item {
            Resolved::Parameter { .. } => 1,
            Resolved::Object { .. } | Resolved::Table { .. } => store
                .parameters(&found.path(item), Protocol::Usp, None)
                .map_or(0, |params| params.len()),
            _ => 0,
        });
    }
    count
}

/// Text of parameter `name` of object `object`, empty when unset.
fn text(store: &Store, object: &str, name: &str) -> String {
    store
        .value(&std::format!("{object}{name}"))
        .map(Value::canonical_text)
        .unwrap_or_default()
}

/// The rows of table `table`, first level only.
fn rows(store: &Store, table: &str) -> Vec<String> {
    store
        .instances(table, Protocol::Usp, true)
        .unwrap_or_default()
        .into_iter()
        .map(|info| info.path)
        .collect()
}

/// The enabled profiles (none when `Device.BulkData.Enable` is false), each read or refused,
/// at most [`Limits::max_profiles`] of them in row order.
pub fn profiles(store: &Store, limits: &Limits) -> Vec<Result<Profile, BulkDataError>> {
    if text(store, "Device.BulkData.", "Enable") != "true" {
        return Vec::new();
    }
    rows(store, PROFILES)
        .into_iter()
        .filter(|row| text(store, row, "Enable") == "true")
        .take(limits.max_profiles)
        .map(|row| profile(store, row, limits))
        .collect()
}

/// The HTTP methods this module's drivers send with (`HTTP.MethodsSupported`).
pub const METHODS_SUPPORTED: &str = "POST,PUT";

/// The content codings this module's drivers send with (`HTTP.CompressionsSupported`):
/// [`Compression`]. `Compress` (LZW, RFC 9110 §8.4.1.1) is not offered: it would take an
/// encoder of its own for a coding few collectors decode, where gzip and deflate are everywhere.
/// Once the device has filled the list, the store refuses any other `HTTP.Compression`
/// (its `enumerationRef`: CWMP 9007, USP 7012).
pub const COMPRESSIONS_SUPPORTED: &str = "GZIP,Deflate";

/// The device-maintained values that differ from what the store holds: `Device.BulkData.Status`
/// following `Enable`, and each profile's `HTTP.MethodsSupported` and
/// `HTTP.CompressionsSupported`. The driver applies them as the device
/// ([`DeviceUpdate::setting`](crate::engine::DeviceUpdate::setting)) after a change.
pub fn upkeep(store: &Store) -> Vec<(String, String)> {
    let status = if text(store, "Device.BulkData.", "Enable") == "true" {
        "Enabled"
    } else {
        "Disabled"
    };
    let wanted = rows(store, PROFILES)
        .into_iter()
        .flat_map(|row| {
            [
                (
                    std::format!("{row}HTTP.MethodsSupported"),
                    METHODS_SUPPORTED,
                ),
                (
                    std::format!("{row}HTTP.CompressionsSupported"),
                    COMPRESSIONS_SUPPORTED,
                ),
            ]
        })
        .chain(core::iter::once((
            "Device.BulkData.Status".to_string(),
            status,
        )));
    wanted
        .filter(|(path, value)| {
            store.value(path).map(Value::canonical_text).ok().as_deref() != Some(*value)
        })
        .map(|(path, value)| (path, value.to_string()))
        .collect()
}

/// Reads profile row `path` (`Device.BulkData.Profile.{i}.`) whatever its `Enable`, as
/// `ForceCollection()` needs it.
pub fn profile(store: &Store, path: String, limits: &Limits) -> Result<Profile, BulkDataError> {
    let transport = match text(store, &path, "Protocol").as_str() {
        "HTTP" => Transport::Http(http_settings(store, &path)?),
        "MQTT" => Transport::Mqtt(mqtt_settings(store, &path)),
        "USPEventNotif" => Transport::UspEventNotif,
        other => {
            return Err(BulkDataError::Protocol {
                profile: path.clone(),
                protocol: other.to_string(),
            });
        }
    };
    let encoding = encoding(store, &path)?;
    let interval = text(store, &path, "ReportingInterval")
        .parse::<u32>()
        .unwrap_or(86_400)
        .max(limits.min_interval)
        .max(1);
    let time_reference = DateTime::parse(&text(store, &path, "TimeReference"))
        .filter(|t| !t.is_unknown() && !t.is_relative())
        .and_then(|t| t.unix_seconds());
    let retained = match text(store, &path, "NumberOfRetainedFailedReports").parse::<i64>() {
        Ok(-1) => limits.max_retained,
        Ok(n) => usize::try_from(n).unwrap_or(0).min(limits.max_retained),
        Err(_) => 0,
    };
    let parameters = rows(store, &std::format!("{path}Parameter."))
        .into_iter()
        .map(|row| ParameterRef {
            name: text(store, &row, "Name"),
            reference: text(store, &row, "Reference"),
            exclude: text(store, &row, "Exclude") == "true",
        })
        .filter(|p| !p.reference.is_empty())
        .collect();
    Ok(Profile {
        controller: text(store, &path, "Controller"),
        path,
        transport,
        encoding,
        interval,
        time_reference,
        retained,
        parameters,
    })
}

fn http_settings(store: &Store, profile: &str) -> Result<HttpSettings, BulkDataError> {
    let http = std::format!("{profile}HTTP.");
    let compression = match text(store, &http, "Compression").as_str() {
        "" | "None" => Compression::None,
        "GZIP" => Compression::Gzip,
        "Deflate" => Compression::Deflate,
        other => {
            return Err(BulkDataError::Compression {
                profile: profile.to_string(),
                compression: other.to_string(),
            });
        }
    };
    let retry = (text(store, &http, "RetryEnable") == "true").then(|| {
        let minimum = text(store, &http, "RetryMinimumWaitInterval")
            .parse()
            .unwrap_or(5);
        let multiplier = text(store, &http, "RetryIntervalMultiplier")
            .parse()
            .unwrap_or(2000);
        (minimum, multiplier)
    });
    let uri_parameters = rows(store, &std::format!("{http}RequestURIParameter."))
        .into_iter()
        .map(|row| (text(store, &row, "Name"), text(store, &row, "Reference")))
        .filter(|(_, reference)| !reference.is_empty())
        .collect();
    Ok(HttpSettings {
        url: text(store, &http, "URL"),
        username: text(store, &http, "Username"),
        password: text(store, &http, "Password"),
        method: if text(store, &http, "Method") == "PUT" {
            Method::Put
        } else {
            Method::Post
        },
        compression,
        use_date_header: text(store, &http, "UseDateHeader") != "false",
        retry,
        uri_parameters,
        persist_across_reboot: text(store, &http, "PersistAcrossReboot") == "true",
    })
}

fn mqtt_settings(store: &Store, profile: &str) -> MqttSettings {
    let mqtt = std::format!("{profile}MQTT.");
    let reference = text(store, &mqtt, "Reference");
    let client = reference.trim_end_matches('.');
    MqttSettings {
        client: if client.is_empty() {
            String::new()
        } else {
            std::format!("{client}.")
        },
        topic: text(store, &mqtt, "PublishTopic"),
        qos: text(store, &mqtt, "PublishQoS")
            .parse::<u8>()
            .unwrap_or(0)
            .min(2),
        retain: text(store, &mqtt, "PublishRetain") == "true",
    }
}

fn encoding(store: &Store, profile: &str) -> Result<Encoding, BulkDataError> {
    let unsupported = |encoding: String| BulkDataError::Encoding {
        profile: profile.to_string(),
        encoding,
    };
    let timestamp = |object: &str, name: &str| match text(store, object, name).as_str() {
        "ISO-8601" => Ok(Timestamp::Iso8601),
        "None" => Ok(Timestamp::None),
        "Unix-Epoch" | "" => Ok(Timestamp::UnixEpoch),
        other => Err(unsupported(std::format!("{name} {other}"))),
    };
    match text(store, profile, "EncodingType").as_str() {
        "CSV" => {
            let csv = std::format!("{profile}CSVEncoding.");
            let field = |name: &str, default: &str| {
                let value = unescape(&text(store, &csv, name));
                if value.is_empty() {
                    default.to_string()
                } else {
                    value
                }
            };
            // The XML's default row separator, a line feed in an attribute, reaches the
            // schema as a space (XML attribute-value normalization): read it as the LF it is.
            let mut row_separator = field("RowSeparator", "\n");
            if row_separator == " " {
                row_separator = "\n".to_string();
            }
            Ok(Encoding::Csv {
                field_separator: field("FieldSeparator", ","),
                row_separator,
                escape: field("EscapeCharacter", "\""),
                per_row: text(store, &csv, "ReportFormat") == "ParameterPerRow",
                timestamp: timestamp(&csv, "RowTimestamp")?,
            })
        }
        "JSON" => {
            let json = std::format!("{profile}JSONEncoding.");
            Ok(Encoding::Json {
                hierarchy: text(store, &json, "ReportFormat") != "NameValuePair",
                timestamp: timestamp(&json, "ReportTimestamp")?,
            })
        }
        other => Err(unsupported(other.to_string())),
    }
}

/// Decodes the XML character references controllers write separators with (`&#10;`,
/// `&#13;&#10;`, `&quot;`, `&#x9;`); other text is kept as it is.
fn unescape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(at) = rest.find('&') {
        out.push_str(rest.get(..at).unwrap_or_default());
        rest = rest.get(at..).unwrap_or_default();
        let decoded = rest.find(';').and_then(|end| {
            let entity = rest.get(1..end)?;
            let c = match entity {
                "quot" => '"',
                "amp" => '&',
                "apos" => '\'',
                "lt" => '<',
                "gt" => '>',
                _ => {
                    let number = entity.strip_prefix('#')?;
                    let code = match number.strip_prefix(['x', 'X']) {
                        Some(hex) => u32::from_str_radix(hex, 16).ok()?,
                        None => number.parse().ok()?,
                    };
                    char::from_u32(code)?
                }
            };
            Some((c, end))
        });
        match decoded {
            Some((c, end)) => {
                out.push(c);
                rest = rest.get(end.saturating_add(1)..).unwrap_or_default();
            }
            None => {
                out.push('&');
                rest = rest.get(1..).unwrap_or_default();
            }
        }
    }
    out.push_str(rest);
    out
}

/// When a collection was made.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct Stamp {
    /// The wall clock in Unix milliseconds, `None` when not known.
    pub unix_millis: Option<i64>,
    /// Milliseconds since boot.
    pub uptime_millis: u64,
}

impl Stamp {
    /// A stamp from the wall clock (if known) and the time since boot.
    pub fn new(unix_millis: Option<i64>, uptime_millis: u64) -> Self {
        Self {
            unix_millis,
            uptime_millis,
        }
    }

    /// Its text in form `form` (`None` for [`Timestamp::None`]), and whether it is a number.
    fn text(&self, form: Timestamp) -> Option<(String, bool)> {
        match form {
            Timestamp::None => None,
            Timestamp::UnixEpoch => Some((
                self.unix_millis
                    .map_or_else(|| self.uptime_millis.to_string(), |t| t.to_string()),
                true,
            )),
            Timestamp::Iso8601 => {
                let time = match self.unix_millis {
                    Some(t) => DateTime::from_unix_micros(t.saturating_mul(1000)),
                    None => DateTime::since_boot(self.uptime_millis.saturating_mul(1000)),
                };
                Some((time.unwrap_or(DateTime::UNKNOWN).to_string(), false))
            }
        }
    }
}

/// One parameter in a report: its report name, its value and its TR-106 type name.
#[derive(Clone, Debug, PartialEq)]
#[non_exhaustive]
pub struct Sample {
    /// The name in the report.
    pub name: String,
    /// The value.
    pub value: Value,
    /// `string`, `unsignedInt`, ... (lists are `string`).
    pub kind: &'static str,
}

impl Sample {
    /// A sample.
    pub fn new(name: impl Into<String>, value: Value, kind: &'static str) -> Self {
        Self {
            name: name.into(),
            value,
            kind,
        }
    }
}

/// What one reporting interval collected.
#[derive(Clone, Debug, PartialEq)]
#[non_exhaustive]
pub struct Collection {
    /// When.
    pub stamp: Stamp,
    /// The parameters, in reference order and path order within a reference.
    pub samples: Vec<Sample>,
}

impl Collection {
    /// A collection.
    pub fn new(stamp: Stamp, samples: Vec<Sample>) -> Self {
        Self { stamp, samples }
    }
}

/// Reads a profile's parameters through the engine's Get as `principal`, names them and
/// applies the `Exclude` rows. A reference that matches nothing (or that the principal may
/// not read) adds nothing: the references are a filter on the instantiated model (TR-369
/// Annex A.1).
pub async fn collect(
    engine: &Engine,
    principal: &Principal,
    profile: &Profile,
    stamp: Stamp,
    limits: &Limits,
) -> Result<Collection, BulkDataError> {
    let failed = |error| BulkDataError::Engine {
        profile: profile.path.clone(),
        error,
    };
    let request = GetRequest::new(profile.parameters.iter().map(|p| p.reference.clone()));
    let response = engine.get(principal, &request).await.map_err(failed)?;
    let mut excluded = Vec::new();
    let mut samples = Vec::new();
    for (parameter, result) in profile.parameters.iter().zip(response.results()) {
        let Ok(objects) = result.outcome else {
            continue;
        };
        for got in objects.params() {
            if parameter.exclude {
                excluded.push(got.path().to_string());
                continue;
            }
            if samples.len() >= limits.max_parameters {
                return Err(BulkDataError::TooManyParameters {
                    profile: profile.path.clone(),
                    limit: limits.max_parameters,
                });
            }
            let kind = tr181_model::value::xsd_type(got.parameter().syntax());
            samples.push((
                got.path().to_string(),
                report_name(parameter, got.path()),
                got.value().clone(),
                kind.strip_prefix("xsd:").unwrap_or(kind),
            ));
        }
    }
    let samples = samples
        .into_iter()
        .filter(|(path, ..)| !excluded.contains(path))
        .map(|(_, name, value, kind)| Sample::new(name, value, kind))
        .collect();
    Ok(Collection::new(stamp, samples))
}

/// The query string (`?name=value&...`, percent-encoded) of an HTTP profile's
/// `RequestURIParameter` rows, read as `principal`; empty without rows. A reference that
/// does not read gives an empty value.
pub async fn request_query(
    engine: &Engine,
    principal: &Principal,
    http: &HttpSettings,
) -> Result<String, EngineError> {
    if http.uri_parameters.is_empty() {
        return Ok(String::new());
    }
    let request = GetRequest::new(http.uri_parameters.iter().map(|(_, r)| r.clone()));
    let response = engine.get(principal, &request).await?;
    let mut query = String::new();
    for (name, reference) in &http.uri_parameters {
        let value = response
            .value(reference)
            .map(Value::canonical_text)
            .unwrap_or_default();
        query.push(if query.is_empty() { '?' } else { '&' });
        percent_encode(&mut query, if name.is_empty() { reference } else { name });
        query.push('=');
        percent_encode(&mut query, &value);
    }
    Ok(query)
}

/// Appends `text` percent-encoded (RFC 3986: everything but unreserved characters).
fn percent_encode(out: &mut String, text: &str) {
    for byte in text.bytes() {
        if byte.is_ascii_alphanumeric() || b"-._~".contains(&byte) {
            out.push(char::from(byte));
        } else {
            let _ = write!(out, "%{byte:02X}");
        }
    }
}

/// The name of resolved parameter `path` in the report (see the module docs).
fn report_name(parameter: &ParameterRef, path: &str) -> String {
    if parameter.name.is_empty() {
        return path.to_string();
    }
    let reference = parameter.reference.as_str();
    let prefix = match reference.find(".*") {
        Some(at) => reference.get(..=at),
        None if reference.ends_with('.') => Some(reference),
        None => None,
    };
    match prefix.and_then(|prefix| path.get(prefix.len()..)) {
        Some(rest) if !rest.is_empty() => std::format!("{}.{rest}", parameter.name),
        _ => parameter.name.clone(),
    }
}

/// An encoded report.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct Report {
    /// The body: the `Data` of `Push!`, or the HTTP body.
    pub body: String,
    /// How many collections it holds (retained failed ones and the current one).
    pub collections: usize,
    /// Where the retained ones it holds end, for [`Retained::delivered`].
    pub carried: u64,
}

/// A profile's failed reports kept for the next interval, bounded; dropped when the
/// profile's encoding changes, as `NumberOfRetainedFailedReports` requires.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Retained {
    failed: VecDeque<Collection>,
    /// The encoding the retained reports were made for.
    encoding: Option<Encoding>,
    /// Counts the changes of `failed`.
    revision: u64,
    /// How many retained reports were forgotten (delivered, or dropped), ever: the place of
    /// the oldest of `failed` among all the profile's retained reports.
    forgotten: u64,
}

impl Retained {
    /// Nothing retained.
    pub fn new() -> Self {
        Self::default()
    }

    /// The retained reports, oldest first.
    pub fn failed(&self) -> impl ExactSizeIterator<Item = &Collection> {
        self.failed.iter()
    }

    /// Moves whenever the retained reports change: what tells the driver to save them
    /// again ([`saved`]).
    pub fn revision(&self) -> u64 {
        self.revision
    }

    fn changed(&mut self) {
        self.revision = self.revision.wrapping_add(1);
    }

    /// Forgets the oldest retained report; false when there is none.
    fn forget_oldest(&mut self) -> bool {
        let forgot = self.failed.pop_front().is_some();
        self.forgotten = self.forgotten.saturating_add(u64::from(forgot));
        forgot
    }

    /// Forgets the retained reports when `profile`'s encoding is not the one they were kept
    /// for.
    fn follow(&mut self, profile: &Profile) {
        if self.encoding.as_ref() != Some(&profile.encoding) {
            if !self.failed.is_empty() {
                while self.forget_oldest() {}
                self.changed();
            }
            self.encoding = Some(profile.encoding.clone());
        }
    }

    /// The report of `current` with the retained failed reports before it, dropping the
    /// oldest retained ones while it is larger than [`Limits::max_report_bytes`].
    pub fn report(
        &mut self,
        profile: &Profile,
        current: &Collection,
        limits: &Limits,
    ) -> Result<Report, BulkDataError> {
        self.follow(profile);
        loop {
            let all: Vec<&Collection> = self
                .failed
                .iter()
                .chain(core::iter::once(current))
                .collect();
            let body = encode(&profile.encoding, &all);
            if body.len() <= limits.max_report_bytes {
                let held = u64::try_from(self.failed.len()).unwrap_or(u64::MAX);
                return Ok(Report {
                    body,
                    collections: all.len(),
                    carried: self.forgotten.saturating_add(held),
                });
            }
            if !self.forget_oldest() {
                return Err(BulkDataError::ReportTooLarge {
                    profile: profile.path.clone(),
                    size: body.len(),
                    limit: limits.max_report_bytes,
                });
            }
            self.changed();
        }
    }

    /// A report went through: the retained ones it carried ([`Report::carried`]) with it;
    /// those kept since, when another report failed while it was on its way, stay.
    pub fn delivered(&mut self, carried: u64) {
        let before = self.forgotten;
        while self.forgotten < carried && self.forget_oldest() {}
        if self.forgotten != before {
            self.changed();
        }
    }

    /// The report failed: keep `current` for the next interval, and at most the profile's
    /// `NumberOfRetainedFailedReports`, dropping the oldest.
    pub fn failed_with(&mut self, profile: &Profile, current: Collection) {
        self.follow(profile);
        self.failed.push_back(current);
        while self.failed.len() > profile.retained && self.forget_oldest() {}
        self.changed();
    }
}

/// The retained reports of the `profiles` that persist them ([`Profile::persists`]) as
/// [`Section::BulkData`](crate::traits::Section::BulkData) holds them; `None` when there are
/// none, and the section is to be removed. The section is a JSON object from each profile
/// row to `[format, [collection, ...]]`: the `BBF-Report-Format` of the encoding they were
/// made in, and the collections oldest first, each `[unix_millis or null, uptime_millis,
/// [[name, type, text], ...]]`. Each profile's newest reports are kept while the whole fits
/// [`Limits::max_saved_bytes`].
pub fn saved<'a>(
    profiles: impl IntoIterator<Item = (&'a Profile, &'a Retained)>,
    limits: &Limits,
) -> Option<Vec<u8>> {
    // The braces of the document.
    let mut budget = limits.max_saved_bytes.saturating_sub(2);
    let mut doc = Vec::new();
    for (profile, retained) in profiles {
        let Some(encoding) = retained.encoding.as_ref().filter(|_| profile.persists()) else {
            continue;
        };
        let format = encoding.report_format();
        // `"path":["format",[` and `]],`.
        let header = json_size(profile.path.as_str())
            .saturating_add(json_size(format))
            .saturating_add(7);
        let Some(mut left) = budget.checked_sub(header) else {
            break;
        };
        let mut kept = Vec::new();
        for collection in retained.failed.iter().rev() {
            let entry = SavedCollection(collection);
            // The entry and its comma.
            let Some(rest) = left.checked_sub(json_size(&entry).saturating_add(1)) else {
                break;
            };
            left = rest;
            kept.push(entry);
        }
        if !kept.is_empty() {
            kept.reverse();
            budget = left;
            doc.push((profile.path.as_str(), (format, kept)));
        }
    }
    // Strings and numbers only: writing them cannot fail.
    (!doc.is_empty())
        .then(|| serde_json::to_vec(&SavedProfiles(doc)).ok())
        .flatten()
}

/// The length of `value` as JSON text.
fn json_size<T: Serialize + ?Sized>(value: &T) -> usize {
    serde_json::to_vec(value).map_or(usize::MAX, |text| text.len())
}

/// [`Section::BulkData`](crate::traits::Section::BulkData) as [`saved`] writes it: each
/// profile row with its report format and collections. Written with the serde_json writer
/// the other sections use, and read back in tuples ([`SavedEntry`]), rather than through a
/// `serde_json::Value` tree, whose reader and writer nothing else in an agent links.
struct SavedProfiles<'a>(Vec<(&'a str, (&'static str, Vec<SavedCollection<'a>>))>);

impl Serialize for SavedProfiles<'_> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_map(self.0.iter().map(|(path, entry)| (path, entry)))
    }
}

/// A collection as saved: `[unix_millis or null, uptime_millis, [[name, type, text], ...]]`.
struct SavedCollection<'a>(&'a Collection);

impl Serialize for SavedCollection<'_> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let Collection { stamp, samples } = self.0;
        let samples: Vec<_> = samples
            .iter()
            .map(|s| (s.name.as_str(), s.kind, s.value.canonical_text()))
            .collect();
        (stamp.unix_millis, stamp.uptime_millis, samples).serialize(serializer)
    }
}

/// A profile's entry as read: its report format and collections, each read on its own.
type SavedEntry = (String, LenientList<ReadCollection>);

/// A collection as read: see [`SavedCollection`].
type ReadCollection = (Option<i64>, u64, Vec<(String, String, String)>);

/// What [`restore`] read back.
#[derive(Clone, Debug, Default, PartialEq)]
#[non_exhaustive]
pub struct Restored {
    /// The retained reports, by profile row.
    pub retained: BTreeMap<String, Retained>,
    /// Saved profile entries or reports of the wrong shape, dropped.
    pub malformed: usize,
}

/// A sample's type name (`unsignedInt`): the XSD name without its prefix.
fn kind_of(base: BaseType) -> &'static str {
    let name = xsd_type_of(base);
    name.strip_prefix("xsd:").unwrap_or(name)
}

/// Reads the reports [`saved`] wrote (`bytes`) back for `profiles`: each profile that
/// persists them gets those made in its current encoding, at most its
/// `NumberOfRetainedFailedReports` newest; the reports of other profiles are forgotten. A
/// profile's entry or a report of the wrong shape (one of its parameters of an unknown type,
/// or with a text that does not parse as its type, included) is dropped alone and counted.
/// A section that is no JSON object, or larger than [`Limits::max_saved_bytes`], is
/// [`BulkDataError::Saved`].
pub fn restore<'a>(
    bytes: &[u8],
    profiles: impl IntoIterator<Item = &'a Profile>,
    limits: &Limits,
) -> Result<Restored, BulkDataError> {
    let unreadable = |reason: String| BulkDataError::Saved { reason };
    if bytes.len() > limits.max_saved_bytes {
        return Err(unreadable(std::format!(
            "{} bytes, above the limit of {}",
            bytes.len(),
            limits.max_saved_bytes
        )));
    }
    let Entries(mut doc): Entries<String, Lenient<SavedEntry>> =
        serde_json::from_slice(bytes).map_err(|e| unreadable(e.to_string()))?;
    let mut malformed = 0usize;
    let mut retained = BTreeMap::new();
    for profile in profiles {
        // The last entry of the row, as a map keeps it; taken, as the rows are distinct.
        let Some(at) = doc.iter().rposition(|(path, _)| *path == profile.path) else {
            continue;
        };
        let (_, Lenient::Read((format, collections))) = doc.swap_remove(at) else {
            malformed = malformed.saturating_add(1);
            continue;
        };
        if !profile.persists() || format != profile.report_format() {
            continue;
        }
        let mut failed: VecDeque<Collection> = keep_read(collections, &mut malformed)
            .iter()
            .filter_map(|read| {
                let collection = restored_collection(read);
                malformed = malformed.saturating_add(usize::from(collection.is_none()));
                collection
            })
            .collect();
        while failed.len() > profile.retained {
            failed.pop_front();
        }
        if !failed.is_empty() {
            let kept = Retained {
                failed,
                encoding: Some(profile.encoding.clone()),
                revision: 0,
                forgotten: 0,
            };
            retained.insert(profile.path.clone(), kept);
        }
    }
    Ok(Restored {
        retained,
        malformed,
    })
}

/// A saved collection as it was, `None` when a parameter's type is unknown or its text does
/// not parse as one of that type.
fn restored_collection(
    (unix_millis, uptime_millis, samples): &ReadCollection,
) -> Option<Collection> {
    let samples = samples
        .iter()
        .map(|(name, kind, text)| {
            let base = BaseType::ALL
                .into_iter()
                .find(|base| kind_of(*base) == kind)?;
            let value = Value::parse_scalar(text, base).ok()?;
            Some(Sample::new(name.clone(), value, kind_of(base)))
        })
        .collect::<Option<Vec<_>>>()?;
    Some(Collection::new(
        Stamp::new(*unix_millis, *uptime_millis),
        samples,
    ))
}

/// Encodes collections (oldest first) in `encoding`.
pub fn encode(encoding: &Encoding, collections: &[&Collection]) -> String {
    match encoding {
        Encoding::Csv {
            field_separator,
            row_separator,
            escape,
            per_row,
            timestamp,
        } => {
            let csv = Csv {
                field: field_separator,
                row: row_separator,
                escape,
                timestamp: *timestamp,
            };
            if *per_row {
                csv.per_row(collections)
            } else {
                csv.per_column(collections)
            }
        }
        Encoding::Json {
            hierarchy,
            timestamp,
        } => json(collections, *hierarchy, *timestamp),
    }
}

/// The CSV separators of a report.
struct Csv<'a> {
    field: &'a str,
    row: &'a str,
    escape: &'a str,
    timestamp: Timestamp,
}

impl Csv<'_> {
    /// Writes one row.
    fn row<'f>(&self, out: &mut String, fields: impl IntoIterator<Item = &'f str>) {
        for (index, field) in fields.into_iter().enumerate() {
            if index > 0 {
                out.push_str(self.field);
            }
            let quote = [self.field, self.row, self.escape, "\r", "\n"]
                .iter()
                .any(|special| !special.is_empty() && field.contains(special));
            if quote {
                out.push_str(self.escape);
                out.push_str(&field.replace(self.escape, &self.escape.repeat(2)));
                out.push_str(self.escape);
            } else {
                out.push_str(field);
            }
        }
        out.push_str(self.row);
    }

    /// The collection's timestamp column, if any.
    fn stamp(&self, collection: &Collection) -> Option<String> {
        collection.stamp.text(self.timestamp).map(|(text, _)| text)
    }

    fn per_row(&self, collections: &[&Collection]) -> String {
        let mut out = String::new();
        let stamped = self.timestamp != Timestamp::None;
        let header = [
            "ReportTimestamp",
            "ParameterName",
            "ParameterValue",
            "ParameterType",
        ];
        self.row(&mut out, header.into_iter().skip(usize::from(!stamped)));
        for collection in collections {
            let stamp = self.stamp(collection);
            for sample in &collection.samples {
                let value = sample.value.canonical_text();
                let fields = [sample.name.as_str(), value.as_str(), sample.kind];
                self.row(&mut out, stamp.as_deref().into_iter().chain(fields));
            }
        }
        out
    }

    fn per_column(&self, collections: &[&Collection]) -> String {
        // The columns: every name, in order of first appearance.
        let mut names: Vec<&str> = Vec::new();
        for sample in collections.iter().flat_map(|c| &c.samples) {
            if !names.contains(&sample.name.as_str()) {
                names.push(&sample.name);
            }
        }
        let mut out = String::new();
        let stamp_column = (self.timestamp != Timestamp::None).then_some("ReportTimestamp");
        self.row(
            &mut out,
            stamp_column.into_iter().chain(names.iter().copied()),
        );
        for collection in collections {
            let values: Vec<String> = names
                .iter()
                .map(|name| {
                    collection
                        .samples
                        .iter()
                        .find(|s| s.name == *name)
                        .map(|s| s.value.canonical_text())
                        .unwrap_or_default()
                })
                .collect();
            let stamp = self.stamp(collection);
            let fields = stamp.as_deref().into_iter();
            self.row(&mut out, fields.chain(values.iter().map(String::as_str)));
        }
        out
    }
}

/// A JSON object under construction for `ObjectHierarchy`: members in insertion order.
#[derive(Default)]
struct Tree<'a> {
    members: Vec<(&'a str, Node<'a>)>,
}

enum Node<'a> {
    Leaf(&'a Value),
    Branch(Tree<'a>),
}

impl<'a> Tree<'a> {
    /// Inserts `value` at the dot-separated `name`; a name clashing with one already there
    /// (a parameter where an object is, or the reverse) keeps the first.
    fn insert(&mut self, name: &'a str, value: &'a Value) {
        let (head, rest) = match name.split_once('.') {
            Some((head, rest)) if !rest.is_empty() => (head, Some(rest)),
            Some((head, _)) => (head, None),
            None => (name, None),
        };
        let slot = self.members.iter_mut().position(|(key, _)| *key == head);
        match (rest, slot) {
            (None, None) => self.members.push((head, Node::Leaf(value))),
            (Some(rest), None) => {
                let mut tree = Tree::default();
                tree.insert(rest, value);
                self.members.push((head, Node::Branch(tree)));
            }
            (Some(rest), Some(index)) => {
                if let Some((_, Node::Branch(tree))) = self.members.get_mut(index) {
                    tree.insert(rest, value);
                }
            }
            (None, Some(_)) => {}
        }
    }

    fn write(&self, out: &mut String) {
        out.push('{');
        for (index, (key, node)) in self.members.iter().enumerate() {
            if index > 0 {
                out.push(',');
            }
            json_string(out, key);
            out.push(':');
            match node {
                Node::Leaf(value) => json_value(out, value),
                Node::Branch(tree) => tree.write(out),
            }
        }
        out.push('}');
    }
}

fn json(collections: &[&Collection], hierarchy: bool, timestamp: Timestamp) -> String {
    let mut out = String::from("{\"Report\":[");
    for (index, collection) in collections.iter().enumerate() {
        if index > 0 {
            out.push(',');
        }
        let mut body = String::from("{");
        if let Some((stamp, number)) = collection.stamp.text(timestamp) {
            body.push_str("\"CollectionTime\":");
            if number {
                body.push_str(&stamp);
            } else {
                json_string(&mut body, &stamp);
            }
        }
        if hierarchy {
            let mut tree = Tree::default();
            for sample in &collection.samples {
                tree.insert(&sample.name, &sample.value);
            }
            let mut members = String::new();
            tree.write(&mut members);
            // The tree's members go into the report object, after `CollectionTime`.
            let inner = members
                .strip_prefix('{')
                .and_then(|m| m.strip_suffix('}'))
                .unwrap_or_default();
            if body.len() > 1 && !inner.is_empty() {
                body.push(',');
            }
            body.push_str(inner);
        } else {
            for sample in &collection.samples {
                if body.len() > 1 {
                    body.push(',');
                }
                json_string(&mut body, &sample.name);
                body.push(':');
                json_value(&mut body, &sample.value);
            }
        }
        body.push('}');
        out.push_str(&body);
    }
    out.push_str("]}");
    out
}

/// A value as JSON: booleans and integers as themselves, everything else as its text.
fn json_value(out: &mut String, value: &Value) {
    match value {
        Value::Boolean(_)
        | Value::Int(_)
        | Value::UnsignedInt(_)
        | Value::Long(_)
        | Value::UnsignedLong(_) => out.push_str(&value.canonical_text()),
        _ => json_string(out, &value.canonical_text()),
    }
}

fn json_string(out: &mut String, text: &str) {
    // Writing a string cannot fail.
    if let Ok(text) = serde_json::to_string(text) {
        out.push_str(&text);
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::indexing_slicing)]

    use super::*;

    fn sample(name: &str, value: Value, kind: &'static str) -> Sample {
        Sample::new(name, value, kind)
    }

    /// Two collections of the `Device.MoCA.Interface.1.Stats.` example parameters.
    fn collections() -> (Collection, Collection) {
        let first = Collection::new(
            Stamp::new(Some(1_364_529_149_000), 5_000),
            vec![
                sample(
                    "Device.MoCA.Interface.1.Stats.BroadPktSent",
                    Value::UnsignedLong(25_248),
                    "unsignedLong",
                ),
                sample(
                    "Device.MoCA.Interface.1.Stats.BytesReceived",
                    Value::UnsignedLong(200_543_250),
                    "unsignedLong",
                ),
                sample(
                    "Device.MoCA.Interface.1.Status",
                    Value::String("Up".into()),
                    "string",
                ),
            ],
        );
        let mut second = first.clone();
        second.stamp = Stamp::new(Some(1_364_529_449_000), 305_000);
        second.samples[0].value = Value::UnsignedLong(25_800);
        (first, second)
    }

    fn json_encoding(hierarchy: bool, timestamp: Timestamp) -> Encoding {
        Encoding::Json {
            hierarchy,
            timestamp,
        }
    }

    fn csv_encoding(per_row: bool, timestamp: Timestamp) -> Encoding {
        Encoding::Csv {
            field_separator: ",".into(),
            row_separator: "\n".into(),
            escape: "\"".into(),
            per_row,
            timestamp,
        }
    }

    #[test]
    fn json_object_hierarchy_nests_objects_and_types_values() {
        let (first, _) = collections();
        let body = encode(&json_encoding(true, Timestamp::UnixEpoch), &[&first]);
        assert_eq!(
            body,
            concat!(
                r#"{"Report":[{"CollectionTime":1364529149000,"Device":{"MoCA":{"Interface":"#,
                r#"{"1":{"Stats":{"BroadPktSent":25248,"BytesReceived":200543250},"#,
                r#""Status":"Up"}}}}}]}"#
            )
        );
        let parsed: serde_json::Value = serde_json::from_str(&body).unwrap();
        assert_eq!(
            parsed["Report"][0]["Device"]["MoCA"]["Interface"]["1"]["Status"],
            "Up"
        );
    }

    #[test]
    fn json_name_value_pairs_keep_retained_reports_first() {
        let (first, second) = collections();
        let body = encode(
            &json_encoding(false, Timestamp::Iso8601),
            &[&first, &second],
        );
        assert_eq!(
            body,
            concat!(
                r#"{"Report":[{"CollectionTime":"2013-03-29T03:52:29Z","#,
                r#""Device.MoCA.Interface.1.Stats.BroadPktSent":25248,"#,
                r#""Device.MoCA.Interface.1.Stats.BytesReceived":200543250,"#,
                r#""Device.MoCA.Interface.1.Status":"Up"},"#,
                r#"{"CollectionTime":"2013-03-29T03:57:29Z","#,
                r#""Device.MoCA.Interface.1.Stats.BroadPktSent":25800,"#,
                r#""Device.MoCA.Interface.1.Stats.BytesReceived":200543250,"#,
                r#""Device.MoCA.Interface.1.Status":"Up"}]}"#
            )
        );
    }

    #[test]
    fn timestamps_fall_back_to_the_time_since_boot() {
        let mut collection = Collection::new(Stamp::new(None, 90_500), Vec::new());
        let epoch = encode(&json_encoding(false, Timestamp::UnixEpoch), &[&collection]);
        assert_eq!(epoch, r#"{"Report":[{"CollectionTime":90500}]}"#);
        let iso = encode(&json_encoding(true, Timestamp::Iso8601), &[&collection]);
        assert_eq!(
            iso,
            r#"{"Report":[{"CollectionTime":"0001-01-01T00:01:30.5Z"}]}"#
        );
        collection
            .samples
            .push(sample("A", Value::Boolean(true), "boolean"));
        let none = encode(&json_encoding(true, Timestamp::None), &[&collection]);
        assert_eq!(none, r#"{"Report":[{"A":true}]}"#);
    }

    #[test]
    fn csv_parameter_per_row() {
        let (first, second) = collections();
        let body = encode(
            &csv_encoding(true, Timestamp::UnixEpoch),
            &[&first, &second],
        );
        assert_eq!(
            body,
            "ReportTimestamp,ParameterName,ParameterValue,ParameterType\n\
             1364529149000,Device.MoCA.Interface.1.Stats.BroadPktSent,25248,unsignedLong\n\
             1364529149000,Device.MoCA.Interface.1.Stats.BytesReceived,200543250,unsignedLong\n\
             1364529149000,Device.MoCA.Interface.1.Status,Up,string\n\
             1364529449000,Device.MoCA.Interface.1.Stats.BroadPktSent,25800,unsignedLong\n\
             1364529449000,Device.MoCA.Interface.1.Stats.BytesReceived,200543250,unsignedLong\n\
             1364529449000,Device.MoCA.Interface.1.Status,Up,string\n"
        );
    }

    #[test]
    fn csv_parameter_per_column_without_timestamp() {
        let (first, second) = collections();
        let body = encode(&csv_encoding(false, Timestamp::None), &[&first, &second]);
        assert_eq!(
            body,
            "Device.MoCA.Interface.1.Stats.BroadPktSent,\
             Device.MoCA.Interface.1.Stats.BytesReceived,Device.MoCA.Interface.1.Status\n\
             25248,200543250,Up\n\
             25800,200543250,Up\n"
        );
    }

    #[test]
    fn csv_fields_with_separators_are_escaped() {
        let collection = Collection::new(
            Stamp::new(Some(0), 0),
            vec![sample(
                "Device.X",
                Value::String("a;b \"c\"".into()),
                "string",
            )],
        );
        let encoding = Encoding::Csv {
            field_separator: ";".into(),
            row_separator: "\r\n".into(),
            escape: "\"".into(),
            per_row: true,
            timestamp: Timestamp::Iso8601,
        };
        assert_eq!(
            encode(&encoding, &[&collection]),
            "ReportTimestamp;ParameterName;ParameterValue;ParameterType\r\n\
             1970-01-01T00:00:00Z;Device.X;\"a;b \"\"c\"\"\";string\r\n"
        );
    }

    #[test]
    fn separators_written_as_character_references_are_decoded() {
        assert_eq!(unescape("&#10;"), "\n");
        assert_eq!(unescape("&#13;&#10;"), "\r\n");
        assert_eq!(unescape("&quot;"), "\"");
        assert_eq!(unescape("&#x9;|&amp;"), "\t|&");
        assert_eq!(unescape("a&b;&#xZZ;&"), "a&b;&#xZZ;&");
    }

    #[test]
    fn names_follow_the_wildcard_and_partial_path_rules() {
        let reference = |name: &str, reference: &str| ParameterRef {
            name: name.into(),
            reference: reference.into(),
            exclude: false,
        };
        let path = "Device.WiFi.AccessPoint.1.AssociatedDevice.2.Stats.BytesSent";
        // No name: the path itself.
        let plain = reference("", "Device.WiFi.AccessPoint.1.AssociatedDevice.*.Stats.");
        assert_eq!(report_name(&plain, path), path);
        // A parameter path: the name replaces it.
        let one = reference("Sent", path);
        assert_eq!(report_name(&one, path), "Sent");
        // A wildcard: the name replaces what comes before it.
        let wild = reference(
            "WiFi_AP1_Assoc",
            "Device.WiFi.AccessPoint.1.AssociatedDevice.*.Stats.BytesSent",
        );
        assert_eq!(report_name(&wild, path), "WiFi_AP1_Assoc.2.Stats.BytesSent");
        // A partial path: the name replaces it.
        let partial = reference(
            "WiFi_AP1_Assoc2",
            "Device.WiFi.AccessPoint.1.AssociatedDevice.2.",
        );
        assert_eq!(
            report_name(&partial, path),
            "WiFi_AP1_Assoc2.Stats.BytesSent"
        );
    }

    fn profile(encoding: Encoding, interval: u32, reference: Option<i64>) -> Profile {
        Profile {
            path: "Device.BulkData.Profile.1.".into(),
            controller: String::new(),
            transport: Transport::UspEventNotif,
            encoding,
            interval,
            time_reference: reference,
            retained: 2,
            parameters: Vec::new(),
        }
    }

    #[test]
    fn reports_align_on_the_time_reference() {
        // A day, referenced on some UTC midnight: the next report is at the next midnight.
        let midnight = 1_700_000_000 - 1_700_000_000 % 86_400;
        let daily = profile(json_encoding(true, Timestamp::None), 86_400, Some(midnight));
        let ten_past = (midnight + 600) * 1_000_000;
        assert_eq!(
            daily.next_report(Some(ten_past)),
            Duration::from_secs(86_400 - 600)
        );
        // A reference in the future works the same; exactly on a boundary waits a whole one.
        let future = profile(
            json_encoding(true, Timestamp::None),
            300,
            Some(midnight + 7),
        );
        assert_eq!(
            future.next_report(Some(midnight * 1_000_000)),
            Duration::from_secs(7)
        );
        assert_eq!(
            future.next_report(Some((midnight + 7) * 1_000_000)),
            Duration::from_secs(300)
        );
        // Without the wall clock or a reference: one interval.
        assert_eq!(daily.next_report(None), Duration::from_secs(86_400));
        let free = profile(json_encoding(true, Timestamp::None), 60, None);
        assert_eq!(free.next_report(Some(ten_past)), Duration::from_secs(60));
    }

    #[test]
    fn failed_reports_are_retained_bounded_and_dropped_on_encoding_change() {
        let (first, second) = collections();
        let mut json = profile(json_encoding(false, Timestamp::None), 60, None);
        let limits = Limits::DEFAULT;
        let mut retained = Retained::new();
        for _ in 0..3 {
            retained.failed_with(&json, first.clone());
        }
        assert_eq!(retained.failed().len(), 2, "NumberOfRetainedFailedReports");
        let report = retained.report(&json, &second, &limits).unwrap();
        assert_eq!(report.collections, 3);
        // Too large for all three: the oldest retained go first.
        let small = Limits {
            max_report_bytes: report.body.len() - 1,
            ..limits
        };
        assert_eq!(
            retained.report(&json, &second, &small).unwrap().collections,
            2
        );
        let tiny = Limits {
            max_report_bytes: 10,
            ..limits
        };
        assert!(matches!(
            retained.report(&json, &second, &tiny),
            Err(BulkDataError::ReportTooLarge { .. })
        ));
        retained.failed_with(&json, first.clone());
        json.encoding = csv_encoding(true, Timestamp::None);
        assert_eq!(
            retained
                .report(&json, &second, &limits)
                .unwrap()
                .collections,
            1
        );
        retained.failed_with(&json, first);
        let carried = retained.report(&json, &second, &limits).unwrap().carried;
        // One that failed while the report carrying `first` was on its way stays.
        retained.failed_with(&json, second.clone());
        retained.delivered(carried);
        assert!(retained.failed().eq([&second]));
        let carried = retained.report(&json, &second, &limits).unwrap().carried;
        retained.delivered(carried);
        assert_eq!(retained.failed().len(), 0);
    }

    fn http_settings(persist_across_reboot: bool) -> HttpSettings {
        HttpSettings {
            url: "http://collector.example/".into(),
            username: String::new(),
            password: String::new(),
            method: Method::Post,
            compression: Compression::None,
            use_date_header: true,
            retry: Some((5, 2000)),
            uri_parameters: Vec::new(),
            persist_across_reboot,
        }
    }

    /// An HTTP profile with `PersistAcrossReboot`, keeping 2 failed reports.
    fn persisting(encoding: Encoding) -> Profile {
        Profile {
            transport: Transport::Http(http_settings(true)),
            ..profile(encoding, 60, None)
        }
    }

    /// `profile`'s retained reports after `failures` failed reports of `collection`, each
    /// collected a second after the one before.
    fn failing(profile: &Profile, collection: &Collection, failures: u64) -> Retained {
        let mut retained = Retained::new();
        for n in 0..failures {
            let mut current = collection.clone();
            current.stamp.uptime_millis += n * 1000;
            retained.failed_with(profile, current);
        }
        retained
    }

    #[test]
    fn persisted_reports_restore_as_they_were_and_join_the_next_report() {
        let (first, second) = collections();
        let mut mixed = first;
        mixed.samples.extend([
            sample("Flag", Value::Boolean(true), "boolean"),
            sample("Delta", Value::Int(-3), "int"),
            sample("At", Value::DateTime(DateTime::UNKNOWN), "dateTime"),
            sample("Blob", Value::Base64(vec![1, 2, 255]), "base64Binary"),
            sample("Names", Value::String("a,b".into()), "string"),
        ]);
        let limits = Limits::DEFAULT;
        for encoding in [
            json_encoding(true, Timestamp::UnixEpoch),
            json_encoding(false, Timestamp::Iso8601),
            csv_encoding(true, Timestamp::UnixEpoch),
            csv_encoding(false, Timestamp::None),
        ] {
            let profile = persisting(encoding);
            let mut retained = failing(&profile, &mixed, 3);
            assert_eq!(retained.failed().len(), 2);
            let bytes = saved([(&profile, &retained)], &limits).unwrap();
            let restored = restore(&bytes, [&profile], &limits).unwrap();
            assert_eq!(restored.malformed, 0);
            let mut again = restored.retained[&profile.path].clone();
            assert!(again.failed().eq(retained.failed()), "the same collections");
            // The next report holds them as it would have without the reboot.
            let after = again.report(&profile, &second, &limits).unwrap();
            let before = retained.report(&profile, &second, &limits).unwrap();
            assert_eq!(after.body, before.body);
            assert_eq!(after.collections, before.collections);
        }
    }

    #[test]
    fn only_persisting_profiles_in_their_encoding_are_saved_and_restored() {
        let (first, _) = collections();
        let limits = Limits::DEFAULT;
        let json = persisting(json_encoding(false, Timestamp::None));
        let retained = failing(&json, &first, 2);
        // Not persisting: nothing to save (the section is removed), nothing restored.
        let mut volatile = json.clone();
        volatile.transport = Transport::Http(http_settings(false));
        assert_eq!(saved([(&volatile, &retained)], &limits), None);
        assert_eq!(saved([(&json, &Retained::new())], &limits), None);
        let bytes = saved([(&json, &retained)], &limits).unwrap();
        let restored = restore(&bytes, [&volatile], &limits).unwrap();
        assert!(restored.retained.is_empty());
        // Another row, or another encoding since: forgotten, not malformed.
        let mut other = json.clone();
        other.path = "Device.BulkData.Profile.2.".into();
        let mut csv = json.clone();
        csv.encoding = csv_encoding(true, Timestamp::None);
        let restored = restore(&bytes, [&other, &csv], &limits).unwrap();
        assert_eq!(restored, Restored::default());
        // At most NumberOfRetainedFailedReports, the newest.
        let mut one = json.clone();
        one.retained = 1;
        let restored = restore(&bytes, [&one], &limits).unwrap();
        let kept = &restored.retained[&json.path];
        assert!(kept.failed().eq(retained.failed().skip(1)));
    }

    #[test]
    fn saved_reports_stay_within_the_byte_bound() {
        let (first, _) = collections();
        let json = persisting(json_encoding(false, Timestamp::None));
        let mut other = json.clone();
        other.path = "Device.BulkData.Profile.2.".into();
        let retained = failing(&json, &first, 2);
        let all = saved([(&json, &retained), (&other, &retained)], &Limits::DEFAULT).unwrap();
        // Room for three of the four reports: the second profile keeps its newest only.
        let small = Limits {
            max_saved_bytes: all.len() - 1,
            ..Limits::DEFAULT
        };
        let bytes = saved([(&json, &retained), (&other, &retained)], &small).unwrap();
        assert!(bytes.len() <= small.max_saved_bytes);
        let restored = restore(&bytes, [&json, &other], &small).unwrap();
        assert_eq!(restored.retained[&json.path].failed().len(), 2);
        let newest = restored.retained[&other.path].failed().collect::<Vec<_>>();
        assert_eq!(newest, [retained.failed().last().unwrap()]);
        // A larger section, or one cut short, is not read.
        assert!(matches!(
            restore(&all, [&json], &small),
            Err(BulkDataError::Saved { .. })
        ));
        assert!(matches!(
            restore(&all[..all.len() / 2], [&json], &Limits::DEFAULT),
            Err(BulkDataError::Saved { .. })
        ));
    }

    #[test]
    fn a_malformed_saved_entry_drops_itself_only() {
        let (first, _) = collections();
        let json = persisting(json_encoding(false, Timestamp::None));
        let mut other = json.clone();
        other.path = "Device.BulkData.Profile.2.".into();
        let mut third = json.clone();
        third.path = "Device.BulkData.Profile.3.".into();
        let retained = failing(&json, &first, 2);
        let bytes = saved([(&json, &retained), (&other, &retained)], &Limits::DEFAULT).unwrap();
        let mut doc: serde_json::Value = serde_json::from_slice(&bytes).unwrap();
        // The first profile: its oldest report a number, a value of its newest's unknown type.
        doc[&json.path][1][0] = 7.into();
        let newest = &mut doc[&json.path][1][1][2][0][1];
        *newest = "float".into();
        // The second: whole; the third: not a [format, reports] pair.
        doc[&third.path] = "garbled".into();
        let bytes = serde_json::to_vec(&doc).unwrap();
        let restored = restore(&bytes, [&json, &other, &third], &Limits::DEFAULT).unwrap();
        assert_eq!(restored.malformed, 3);
        assert!(!restored.retained.contains_key(&json.path));
        assert!(!restored.retained.contains_key(&third.path));
        let kept = &restored.retained[&other.path];
        assert!(kept.failed().eq(retained.failed()));
    }

    #[test]
    fn the_revision_moves_with_the_retained_reports() {
        let (first, second) = collections();
        let json = persisting(json_encoding(false, Timestamp::None));
        let mut retained = Retained::new();
        retained.delivered(u64::MAX);
        assert_eq!(retained.revision(), 0, "nothing to forget");
        retained.failed_with(&json, first);
        let failed = retained.revision();
        assert_ne!(failed, 0);
        retained.report(&json, &second, &Limits::DEFAULT).unwrap();
        assert_eq!(
            retained.revision(),
            failed,
            "a report alone changes nothing"
        );
        let mut csv = json.clone();
        csv.encoding = csv_encoding(true, Timestamp::None);
        retained.report(&csv, &second, &Limits::DEFAULT).unwrap();
        assert_ne!(retained.revision(), failed, "dropped for the new encoding");
    }

    #[test]
    fn retry_waits_follow_the_profile_parameters() {
        let mut http = http_settings(false);
        assert_eq!(http.retry_wait_ms(1, 0), Some(5_000));
        assert_eq!(http.retry_wait_ms(2, 10_000), Some(20_000));
        http.retry = None;
        assert_eq!(http.retry_wait_ms(1, 0), None);
    }

    #[test]
    fn query_parameters_are_percent_encoded() {
        let mut out = String::new();
        percent_encode(&mut out, "Acme HG-1/é");
        assert_eq!(out, "Acme%20HG-1%2F%C3%A9");
    }
}
