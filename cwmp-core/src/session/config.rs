//! Session configuration: the fixed settings of the CPE ([`SessionConfig`], with its
//! [`SessionLimits`]) and the ACS-writable `Device.ManagementServer.` values
//! ([`ServerSettings`]).

use std::time::Duration;

use tr181_model::store::Store;
use tr181_model::value::{DateTime, Value};

use crate::codec::{CwmpVersion, Limits};

/// Bounds on what the ACS (or a misbehaving network) can make a session hold or do.
///
/// A breach ends the session (HTTP side) or answers fault 9004 (RPC side); nothing is silently
/// truncated.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct SessionLimits {
    /// The SOAP codec's bounds on each inbound envelope. Default [`Limits::DEFAULT`].
    pub codec: Limits,
    /// Most headers of one HTTP response. Default 64.
    pub max_headers: usize,
    /// Most bytes of the header section of one HTTP response (names and values). Default
    /// 8 KiB.
    pub max_header_bytes: usize,
    /// Most HTTP redirects followed in one session. Default 5.
    pub max_redirects: u32,
    /// Most HTTP exchanges in one session; beyond, the session fails (a livelock guard).
    /// Default 1024.
    pub max_exchanges: u32,
    /// Most cookies kept in one session. Default 16.
    pub max_cookies: usize,
    /// Most parameters with non-default attributes (SetParameterAttributes). Default 4096;
    /// beyond, fault 9004.
    pub max_attributes: usize,
    /// Most transfers queued, running, or completed and waiting for the ACS to confirm their
    /// TransferComplete (Download, Upload, ScheduleDownload). Default 16; beyond, fault 9004
    /// (FACTS §10: a CPE queues at least one). Counting the unconfirmed completions bounds
    /// them without ever dropping one.
    pub max_transfers: usize,
    /// Most pending ScheduleInform requests. Default 16; beyond, fault 9004.
    pub max_scheduled_informs: usize,
    /// Most changed parameters waiting for the next Inform; the oldest is dropped beyond (and
    /// counted in [`Session::dropped_changes`](super::Session::dropped_changes)). Default
    /// 1024.
    pub max_changed_parameters: usize,
    /// Most bytes of one encoded response to an ACS request (GetParameterValues or
    /// GetParameterNames of `Device.` on a large model, GetParameterAttributes); beyond, the
    /// CPE answers fault 9004 instead. Default 4 MiB: a full `Device.` read of the simulated
    /// gateway encodes to about 290 KB (GetParameterValues 283 KB, GetParameterNames 293 KB),
    /// and the ACS buffers what it receives.
    pub max_response_bytes: usize,
    /// Most bytes of one UDP lightweight notification datagram; the changed parameters are
    /// spread over as many datagrams as they need, and a parameter too big for one on its own
    /// is dropped (and counted in
    /// [`Session::dropped_changes`](super::Session::dropped_changes)). Default 1472: an
    /// Ethernet MTU less the IPv4 and UDP headers, so that no datagram is fragmented (our
    /// choice; the spec text at hand names no size).
    pub max_datagram_bytes: usize,
}

impl Default for SessionLimits {
    fn default() -> Self {
        Self {
            codec: Limits::DEFAULT,
            max_headers: 64,
            max_header_bytes: 8 * 1024,
            max_redirects: 5,
            max_exchanges: 1024,
            max_cookies: 16,
            max_attributes: 4096,
            max_transfers: 16,
            max_scheduled_informs: 16,
            max_changed_parameters: 1024,
            max_response_bytes: 4 * 1024 * 1024,
            max_datagram_bytes: 1472,
        }
    }
}

/// The fixed settings of a CPE's session: protocol versions, timeouts, limits and the seed of
/// the session's random numbers (retry jitter, message IDs, client nonces).
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct SessionConfig {
    /// The CWMP versions the CPE speaks, sent as `SupportedCWMPVersions` when 1.4 is among
    /// them. Default 1.0 … 1.4.
    pub supported_versions: Vec<CwmpVersion>,
    /// `SessionTimeout` sent in the Inform (CWMP 1.3+), and how long the CPE waits for an
    /// HTTP response before it fails the session. Default 30 s.
    pub session_timeout: Duration,
    /// Accept HTTP Basic authentication towards an `http://` ACS URL. TR-069 §3.4.4 allows
    /// Basic only over TLS. Default `false`.
    pub basic_over_plain_http: bool,
    /// Seed of the session's random numbers. Give each device (and boot) its own.
    pub rng_seed: u64,
    /// Bounds; see [`SessionLimits`].
    pub limits: SessionLimits,
    /// Extra parameters sent in every Inform, besides those the schema marks as forced
    /// inform and the enabled `Device.ManagementServer.InformParameter.{i}` rows. Default
    /// empty.
    pub extra_inform_parameters: Vec<String>,
}

impl Default for SessionConfig {
    fn default() -> Self {
        Self {
            supported_versions: CwmpVersion::ALL.to_vec(),
            session_timeout: Duration::from_secs(30),
            basic_over_plain_http: false,
            rng_seed: 0x5eed,
            limits: SessionLimits::default(),
            extra_inform_parameters: Vec::new(),
        }
    }
}

impl SessionConfig {
    /// Sets the seed of the session's random numbers.
    #[must_use]
    pub fn with_rng_seed(mut self, seed: u64) -> Self {
        self.rng_seed = seed;
        self
    }

    /// Sets the limits.
    #[must_use]
    pub fn with_limits(mut self, limits: SessionLimits) -> Self {
        self.limits = limits;
        self
    }

    /// Sets the supported versions.
    #[must_use]
    pub fn with_supported_versions(mut self, versions: Vec<CwmpVersion>) -> Self {
        self.supported_versions = versions;
        self
    }

    /// Sets the session timeout.
    #[must_use]
    pub fn with_session_timeout(mut self, timeout: Duration) -> Self {
        self.session_timeout = timeout;
        self
    }
}

/// The `Device.ManagementServer.` values the session follows. The ACS writes most of them,
/// so the driver reloads them ([`ServerSettings::from_store`]) whenever the change log shows a
/// change below `Device.ManagementServer.` ([`ServerSettings::is_settings_path`]) and hands
/// them in with [`Input::Settings`](super::Input::Settings).
///
/// `Debug` does not show the password.
#[derive(Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct ServerSettings {
    /// `EnableCWMP` (default true): with false no session starts.
    pub enable_cwmp: bool,
    /// `URL` of the ACS.
    pub url: String,
    /// `Username` for HTTP authentication towards the ACS.
    pub username: String,
    /// `Password` for HTTP authentication towards the ACS.
    pub password: String,
    /// `PeriodicInformEnable`.
    pub periodic_inform_enable: bool,
    /// `PeriodicInformInterval`, seconds (≥ 1).
    pub periodic_inform_interval: u32,
    /// `PeriodicInformTime`: the phase of periodic informs (`None` or the unknown time: no
    /// phase).
    pub periodic_inform_time: Option<DateTime>,
    /// `CWMPRetryMinimumWaitInterval`, seconds (1..65535, default 5).
    pub retry_minimum_wait_interval: u32,
    /// `CWMPRetryIntervalMultiplier`, per mille (1000..65535, default 2000).
    pub retry_interval_multiplier: u32,
    /// `DefaultActiveNotificationThrottle`, seconds: the least time between the end of a
    /// session and a session started only for an active notification.
    pub default_active_notification_throttle: u32,
    /// `ManageableDeviceNotificationLimit`, seconds: the least time between active
    /// notifications of `ManageableDeviceNumberOfEntries` ([`manageable`](super::manageable)).
    pub manageable_device_notification_limit: u32,
    /// `LightweightNotificationProtocolsSupported` contains `UDP`: SetParameterAttributes
    /// accepts the lightweight notification values 3–6.
    pub lightweight_udp_supported: bool,
    /// `LightweightNotificationProtocolsUsed` contains `UDP`: lightweight notifications are
    /// sent (TR-181: empty means they are disabled, whatever the attributes say).
    pub lightweight_udp_used: bool,
    /// `LightweightNotificationTriggerInterval`, seconds: how often pending passive
    /// lightweight notifications are sent (0: only along with an active one).
    pub lightweight_trigger_interval: u32,
    /// `LightweightNotificationTriggerTime`: the phase of that interval (`None` or the
    /// unknown time: no phase).
    pub lightweight_trigger_time: Option<DateTime>,
    /// `UDPLightweightNotificationHost` (empty: the host of [`url`](Self::url)).
    pub udp_lightweight_host: String,
    /// `UDPLightweightNotificationPort` (default 7547, also for 0 and values beyond 65535).
    pub udp_lightweight_port: u16,
    /// `HeartbeatPolicy.Enable`: sessions with the single event `14 HEARTBEAT` (Annex O).
    pub heartbeat_enable: bool,
    /// `HeartbeatPolicy.ReportingInterval`, seconds (≥ 30, default 3600).
    pub heartbeat_interval: u32,
    /// `HeartbeatPolicy.InitiationTime`: the phase of heartbeats (`None` or the unknown
    /// time: a phase the CPE picks at random).
    pub heartbeat_time: Option<DateTime>,
    /// `AliasBasedAddressing`: the CPE accepts `[alias]` instance segments
    /// ([`alias`](super::alias)).
    pub alias_based_addressing: bool,
    /// `InstanceMode` is `InstanceAlias`: returned names use `[alias]` segments.
    pub instance_alias_mode: bool,
    /// `AutoCreateInstances`: SetParameterValues creates the rows its aliases name.
    pub auto_create_instances: bool,
    /// `InstanceWildcardsSupported`: the names of GetParameterValues, GetParameterNames and
    /// GetParameterAttributes may hold `*` in place of instance numbers (TR-069 Amendment 6);
    /// without it such a name is fault 9005.
    pub instance_wildcards_supported: bool,
}

impl std::fmt::Debug for ServerSettings {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ServerSettings")
            .field("enable_cwmp", &self.enable_cwmp)
            .field("url", &self.url)
            .field("username", &self.username)
            .field("password", &"<redacted>")
            .field("periodic_inform_enable", &self.periodic_inform_enable)
            .field("periodic_inform_interval", &self.periodic_inform_interval)
            .field("periodic_inform_time", &self.periodic_inform_time)
            .field(
                "retry_minimum_wait_interval",
                &self.retry_minimum_wait_interval,
            )
            .field("retry_interval_multiplier", &self.retry_interval_multiplier)
            .field(
                "default_active_notification_throttle",
                &self.default_active_notification_throttle,
            )
            .field(
                "manageable_device_notification_limit",
                &self.manageable_device_notification_limit,
            )
            .field("lightweight_udp_supported", &self.lightweight_udp_supported)
            .field("lightweight_udp_used", &self.lightweight_udp_used)
            .field(
                "lightweight_trigger_interval",
                &self.lightweight_trigger_interval,
            )
            .field("lightweight_trigger_time", &self.lightweight_trigger_time)
            .field("udp_lightweight_host", &self.udp_lightweight_host)
            .field("udp_lightweight_port", &self.udp_lightweight_port)
            .field("heartbeat_enable", &self.heartbeat_enable)
            .field("heartbeat_interval", &self.heartbeat_interval)
            .field("heartbeat_time", &self.heartbeat_time)
            .field("alias_based_addressing", &self.alias_based_addressing)
            .field("instance_alias_mode", &self.instance_alias_mode)
            .field("auto_create_instances", &self.auto_create_instances)
            .field(
                "instance_wildcards_supported",
                &self.instance_wildcards_supported,
            )
            .finish()
    }
}

impl Default for ServerSettings {
    fn default() -> Self {
        Self {
            enable_cwmp: true,
            url: String::new(),
            username: String::new(),
            password: String::new(),
            periodic_inform_enable: false,
            periodic_inform_interval: 3600,
            periodic_inform_time: None,
            retry_minimum_wait_interval: 5,
            retry_interval_multiplier: 2000,
            default_active_notification_throttle: 0,
            manageable_device_notification_limit: 0,
            lightweight_udp_supported: false,
            lightweight_udp_used: false,
            lightweight_trigger_interval: 0,
            lightweight_trigger_time: None,
            udp_lightweight_host: String::new(),
            udp_lightweight_port: crate::codec::lwnotif::DEFAULT_PORT,
            heartbeat_enable: false,
            heartbeat_interval: 3600,
            heartbeat_time: None,
            alias_based_addressing: false,
            instance_alias_mode: false,
            auto_create_instances: false,
            instance_wildcards_supported: false,
        }
    }
}

/// The object whose parameters are [`ServerSettings`].
const PREFIX: &str = "Device.ManagementServer.";
/// The sub-object of the heartbeat parameters (TR-069 Annex O).
const HEARTBEAT: &str = "HeartbeatPolicy.";
/// The least `HeartbeatPolicy.ReportingInterval` TR-181 allows.
const MIN_HEARTBEAT_INTERVAL: u32 = 30;

impl ServerSettings {
    /// Settings with the ACS at `url` and every other value at its default.
    #[must_use]
    pub fn new(url: impl Into<String>) -> Self {
        Self {
            url: url.into(),
            ..Self::default()
        }
    }

    /// Sets the credentials.
    #[must_use]
    pub fn with_credentials(
        mut self,
        username: impl Into<String>,
        password: impl Into<String>,
    ) -> Self {
        self.username = username.into();
        self.password = password.into();
        self
    }

    /// Sets periodic informs.
    #[must_use]
    pub fn with_periodic(mut self, enable: bool, interval: u32, time: Option<DateTime>) -> Self {
        self.periodic_inform_enable = enable;
        self.periodic_inform_interval = interval;
        self.periodic_inform_time = time;
        self
    }

    /// Sets the retry parameters (`CWMPRetryMinimumWaitInterval`,
    /// `CWMPRetryIntervalMultiplier`).
    #[must_use]
    pub fn with_retry(mut self, minimum_wait: u32, multiplier: u32) -> Self {
        self.retry_minimum_wait_interval = minimum_wait;
        self.retry_interval_multiplier = multiplier;
        self
    }

    /// Reads the settings from the store (values that are missing keep their defaults).
    /// Secured values (the password) are read as stored; call this as the device, never
    /// expose the result to a peer.
    #[must_use]
    pub fn from_store(store: &Store) -> Self {
        let mut settings = Self::default();
        let value = |name: &str| store.value(&format!("{PREFIX}{name}")).ok();
        let text = |name: &str| value(name).map(Value::canonical_text);
        let number = |name: &str| match value(name) {
            Some(Value::UnsignedInt(n)) => Some(*n),
            Some(Value::Int(n)) => u32::try_from(*n).ok(),
            _ => None,
        };
        if let Some(Value::Boolean(b)) = value("EnableCWMP") {
            settings.enable_cwmp = *b;
        }
        if let Some(url) = text("URL") {
            settings.url = url;
        }
        if let Some(user) = text("Username") {
            settings.username = user;
        }
        if let Some(password) = text("Password") {
            settings.password = password;
        }
        if let Some(Value::Boolean(b)) = value("PeriodicInformEnable") {
            settings.periodic_inform_enable = *b;
        }
        // Values outside their TR-181 ranges (a store holding type defaults) keep the
        // defaults.
        if let Some(n) = number("PeriodicInformInterval").filter(|n| *n >= 1) {
            settings.periodic_inform_interval = n;
        }
        if let Some(Value::DateTime(t)) = value("PeriodicInformTime") {
            settings.periodic_inform_time = Some(*t);
        }
        if let Some(n) = number("CWMPRetryMinimumWaitInterval").filter(|n| (1..=65535).contains(n))
        {
            settings.retry_minimum_wait_interval = n;
        }
        if let Some(n) =
            number("CWMPRetryIntervalMultiplier").filter(|n| (1000..=65535).contains(n))
        {
            settings.retry_interval_multiplier = n;
        }
        if let Some(n) = number("DefaultActiveNotificationThrottle") {
            settings.default_active_notification_throttle = n;
        }
        if let Some(n) = number("ManageableDeviceNotificationLimit") {
            settings.manageable_device_notification_limit = n;
        }
        let has_udp =
            |name: &str| text(name).is_some_and(|list| list.split(',').any(|p| p.trim() == "UDP"));
        settings.lightweight_udp_supported = has_udp("LightweightNotificationProtocolsSupported");
        settings.lightweight_udp_used = has_udp("LightweightNotificationProtocolsUsed");
        if let Some(n) = number("LightweightNotificationTriggerInterval") {
            settings.lightweight_trigger_interval = n;
        }
        if let Some(Value::DateTime(t)) = value("LightweightNotificationTriggerTime") {
            settings.lightweight_trigger_time = Some(*t);
        }
        if let Some(host) = text("UDPLightweightNotificationHost") {
            settings.udp_lightweight_host = host;
        }
        if let Some(port) = number("UDPLightweightNotificationPort")
            .and_then(|n| u16::try_from(n).ok())
            .filter(|n| *n != 0)
        {
            settings.udp_lightweight_port = port;
        }
        if let Some(Value::Boolean(b)) = value("HeartbeatPolicy.Enable") {
            settings.heartbeat_enable = *b;
        }
        if let Some(n) =
            number("HeartbeatPolicy.ReportingInterval").filter(|n| *n >= MIN_HEARTBEAT_INTERVAL)
        {
            settings.heartbeat_interval = n;
        }
        if let Some(Value::DateTime(t)) = value("HeartbeatPolicy.InitiationTime") {
            settings.heartbeat_time = Some(*t);
        }
        let flag = |name: &str| matches!(value(name), Some(Value::Boolean(true)));
        settings.alias_based_addressing = flag("AliasBasedAddressing");
        settings.instance_alias_mode = text("InstanceMode").is_some_and(|m| m == "InstanceAlias");
        settings.auto_create_instances = flag("AutoCreateInstances");
        settings.instance_wildcards_supported = flag("InstanceWildcardsSupported");
        settings
    }

    /// Sets the heartbeat policy (`HeartbeatPolicy.Enable`, `ReportingInterval` in seconds,
    /// `InitiationTime`).
    #[must_use]
    pub fn with_heartbeat(mut self, enable: bool, interval: u32, time: Option<DateTime>) -> Self {
        self.heartbeat_enable = enable;
        self.heartbeat_interval = interval;
        self.heartbeat_time = time;
        self
    }

    /// Sets the UDP lightweight notification values: supported and used, sent to
    /// `host:port`, pending passive ones every `trigger_interval` seconds (0: never on their
    /// own).
    #[must_use]
    pub fn with_udp_lightweight(
        mut self,
        host: impl Into<String>,
        port: u16,
        trigger_interval: u32,
    ) -> Self {
        self.lightweight_udp_supported = true;
        self.lightweight_udp_used = true;
        self.udp_lightweight_host = host.into();
        self.udp_lightweight_port = port;
        self.lightweight_trigger_interval = trigger_interval;
        self
    }

    /// Whether UDP lightweight notifications are on (supported and used).
    #[must_use]
    pub fn lightweight_enabled(&self) -> bool {
        self.lightweight_udp_supported && self.lightweight_udp_used
    }

    /// Whether a change at `path` may change these settings (the driver then reloads them).
    #[must_use]
    pub fn is_settings_path(path: &str) -> bool {
        path.strip_prefix(PREFIX)
            .is_some_and(|rest| !rest.strip_prefix(HEARTBEAT).unwrap_or(rest).contains('.'))
    }

    /// The retry parameters clamped to their TR-181 ranges.
    pub(crate) fn retry_parameters(&self) -> (u32, u32) {
        (
            self.retry_minimum_wait_interval.clamp(1, 65535),
            self.retry_interval_multiplier.clamp(1000, 65535),
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn settings_paths() {
        assert!(ServerSettings::is_settings_path(
            "Device.ManagementServer.URL"
        ));
        assert!(!ServerSettings::is_settings_path(
            "Device.ManagementServer.InformParameter.1.Enable"
        ));
        assert!(!ServerSettings::is_settings_path(
            "Device.DeviceInfo.UpTime"
        ));
        assert!(ServerSettings::is_settings_path(
            "Device.ManagementServer.HeartbeatPolicy.ReportingInterval"
        ));
    }

    #[test]
    fn debug_redacts_password() {
        let s = ServerSettings::new("https://acs").with_credentials("u", "hunter2");
        assert!(!format!("{s:?}").contains("hunter2"));
    }

    #[test]
    fn retry_parameters_clamped() {
        let s = ServerSettings::default().with_retry(0, 10);
        assert_eq!(s.retry_parameters(), (1, 1000));
    }
}
