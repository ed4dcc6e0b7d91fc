//! The agent's configuration: embedded defaults, then an optional TOML file, then
//! command-line flags, each overriding the one before.
//!
//! The defaults need nothing installed: loopback only, no TLS, state in `./cpe-agent-state`.
//! `cpe-agent --print-config` prints [`EXAMPLE`], which documents every key. The file is read
//! by [`mod@file`].

pub(crate) mod file;

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::path::{Path, PathBuf};

use hal::sim::Client;

use crate::cli::Cli;

/// The example configuration file: every key with its default value.
pub(crate) const EXAMPLE: &str = include_str!("cpe-agent.toml");

/// The whole configuration.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Config {
    /// Where the device keeps its state.
    pub(crate) state_dir: PathBuf,
    /// Log filter.
    pub(crate) log: String,
    /// The simulated device.
    pub(crate) device: DeviceConfig,
    /// The USP agent.
    pub(crate) usp: UspConfig,
    /// The CWMP (TR-069) client.
    pub(crate) cwmp: CwmpConfig,
    /// TLS settings shared by every client.
    pub(crate) tls: TlsConfig,
}

impl Default for Config {
    fn default() -> Self {
        Self {
            state_dir: PathBuf::from("cpe-agent-state"),
            log: "info".into(),
            device: DeviceConfig::default(),
            usp: UspConfig::default(),
            cwmp: CwmpConfig::default(),
            tls: TlsConfig::default(),
        }
    }
}

/// `[tls]`: what every TLS client of the agent trusts, and the certificate it presents.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub(crate) struct TlsConfig {
    /// PEM file of the trusted CA certificates, also those of the controllers' client
    /// certificates on the `wss://` server (unset: the system's CA certificates for the
    /// clients, and no `wss://` server).
    pub(crate) ca_file: Option<PathBuf>,
    /// PEM file of the certificate revocation lists every certificate check reads (unset:
    /// no revocation check).
    pub(crate) crl_file: Option<PathBuf>,
    /// PEM file of the agent's client certificate chain, for servers that ask for one.
    pub(crate) cert_file: Option<PathBuf>,
    /// PEM file of the private key of `cert_file`.
    pub(crate) key_file: Option<PathBuf>,
}

impl TlsConfig {
    /// The trust store of `ca_file` (else of the system's CA certificates; `None` when there
    /// are none) with the CRLs and the client certificate.
    pub(crate) fn trust(&self) -> Result<Option<crate::tls::Trust>, String> {
        let identity = match (&self.cert_file, &self.key_file) {
            (Some(cert), Some(key)) => Some((cert.as_path(), key.as_path())),
            (None, None) => None,
            _ => {
                return Err(
                    "[tls] needs both cert_file and key_file for a client certificate".into(),
                );
            }
        };
        crate::tls::Trust::load(self.ca_file.as_deref(), self.crl_file.as_deref(), identity)
    }
}

/// `[device]`: the simulated gateway.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct DeviceConfig {
    /// Serial number; the factory Endpoint ID is `os::00D09E-<serial>`.
    pub(crate) serial: String,
    /// How often the simulated hardware ticks (uptime, wall clock, finishing asynchronous
    /// commands such as `IPPing()`), in milliseconds.
    pub(crate) tick_ms: u64,
    /// How much longer than it would every command of the simulated hardware takes, in
    /// milliseconds: a slow device (a synchronous `Reset()` answers that much later).
    pub(crate) command_delay_ms: u64,
    /// How much longer each parameter value the simulated hardware applies takes, in
    /// milliseconds: a slow write (a SetParameterValues answers that much later per value).
    pub(crate) apply_delay_ms: u64,
    /// `[[device.client]]`: the LAN clients, so that `Device.Hosts.Host`, the Wi-Fi
    /// `AssociatedDevice` and DHCPv4 server client tables and (for those that gave DHCP
    /// option 125) `Device.ManagementServer.ManageableDevice` have rows. The field is named
    /// after the file's key.
    pub(crate) client: Vec<LanClient>,
}

/// Most `[[device.client]]` entries (each is a row in several tables; `file.rs`'s message
/// says 32, and a compile-time check there keeps the two together).
pub(crate) const MAX_LAN_CLIENTS: usize = 32;

/// The latest `join_after_s` and `leave_after_s`, a day (`file.rs`'s message says 86400, and
/// a compile-time check there keeps the two together).
pub(crate) const MAX_CLIENT_DELAY_S: u32 = 86_400;

/// A `[[device.client]]` entry: the client and when it is on the LAN, so that the data model
/// moves while the ACS and controllers watch.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct LanClient {
    /// The client: MAC, IPv4 address, host name, access point, option-125 identity.
    pub(crate) client: Client,
    /// Seconds after the start when it joins; 0 (the default): at boot, before any session
    /// reads the store.
    pub(crate) join_after_s: u32,
    /// Seconds after the start when it leaves, later than `join_after_s`; unset: it stays.
    pub(crate) leave_after_s: Option<u32>,
}

impl LanClient {
    /// Whether it joins or leaves after the start (the hardware tick's to do).
    pub(crate) fn comes_or_goes(&self) -> bool {
        self.join_after_s > 0 || self.leave_after_s.is_some()
    }
}

impl Default for DeviceConfig {
    fn default() -> Self {
        Self {
            serial: "SIM0001".into(),
            tick_ms: 1000,
            command_delay_ms: 0,
            apply_delay_ms: 0,
            client: Vec::new(),
        }
    }
}

/// `[usp]`: the USP agent and its MTPs (the MTPs are factory defaults: see [`crate::mtp`]).
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct UspConfig {
    /// The agent's Endpoint ID; empty takes the device's `Device.LocalAgent.EndpointID`.
    pub(crate) endpoint_id: String,
    /// Controllers allowed to talk to the agent, besides the enabled
    /// `Device.LocalAgent.Controller.{i}.` rows of the device.
    pub(crate) controllers: Vec<String>,
    /// Accept Records from controllers that are not configured.
    pub(crate) accept_unknown_controllers: bool,
    /// `[usp.websocket]`: the WebSocket server MTP.
    pub(crate) websocket: WebSocketConfig,
    /// `[usp.websocket_client]`: controllers' WebSocket servers the agent connects to.
    pub(crate) websocket_client: crate::ws::WsClientConfig,
    /// `[usp.mqtt]`: the MQTT client MTP.
    pub(crate) mqtt: crate::mqtt::MqttConfig,
    /// `[usp.stomp]`: the STOMP MTP.
    pub(crate) stomp: crate::stomp::StompConfig,
    /// `[usp.uds]`: the Unix domain socket MTP.
    pub(crate) uds: crate::uds::UdsConfig,
}

impl Default for UspConfig {
    fn default() -> Self {
        Self {
            endpoint_id: String::new(),
            controllers: vec!["self::controller".into()],
            accept_unknown_controllers: false,
            websocket: WebSocketConfig::default(),
            websocket_client: crate::ws::WsClientConfig::default(),
            mqtt: crate::mqtt::MqttConfig::default(),
            stomp: crate::stomp::StompConfig::default(),
            uds: crate::uds::UdsConfig::default(),
        }
    }
}

/// `[usp.websocket]`: the WebSocket server MTP (subprotocol `v1.usp`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct WebSocketConfig {
    /// Whether to listen.
    pub(crate) enable: bool,
    /// Listening address.
    pub(crate) listen: SocketAddr,
    /// The HTTP path controllers connect to.
    pub(crate) path: String,
    /// Seconds between the agent's WebSocket Pings (0: none).
    pub(crate) ping_interval_s: u64,
    /// PEM file of the server's certificate chain: with `key_file`, the server speaks TLS
    /// (`wss://`) and requires client certificates of `[tls] ca_file`.
    pub(crate) cert_file: Option<PathBuf>,
    /// PEM file of the private key of `cert_file`.
    pub(crate) key_file: Option<PathBuf>,
}

impl Default for WebSocketConfig {
    fn default() -> Self {
        Self {
            enable: true,
            listen: SocketAddr::from(([127, 0, 0, 1], 7550)),
            path: "/usp".into(),
            ping_interval_s: 30,
            cert_file: None,
            key_file: None,
        }
    }
}

/// `[cwmp]`: the CWMP (TR-069) client and its connection-request server.
///
/// Empty strings and zero numbers keep what the device has in `Device.ManagementServer.`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct CwmpConfig {
    /// Whether to run CWMP at all; it runs only when `acs_url` is set too.
    pub(crate) enabled: bool,
    /// The ACS URL (`Device.ManagementServer.URL`), `http://` or `https://`.
    pub(crate) acs_url: String,
    /// `Device.ManagementServer.Username`.
    pub(crate) username: String,
    /// `Device.ManagementServer.Password`.
    pub(crate) password: String,
    /// The address the connection-request server and the UDP connection-request (and STUN)
    /// socket bind: loopback by default, so that nothing outside the host reaches them
    /// unless asked. An unspecified address (`0.0.0.0`, `::`) binds every interface; the
    /// URLs published then carry the agent's address on the route to the ACS.
    pub(crate) listen: IpAddr,
    /// Port of the connection-request server (0: a free port).
    pub(crate) connection_request_port: u16,
    /// Path of the connection-request URL. Digest binds the `uri` it signs to this path; some
    /// ACSs (acsrs) always sign `/`, so they need `/` here.
    pub(crate) connection_request_path: String,
    /// Allow HTTP Basic towards an `http://` ACS URL (TR-069 §3.4.4 allows Basic over TLS
    /// only); off by default, for loopback test set-ups.
    pub(crate) basic_over_plain_http: bool,
    /// Listen for UDP connection requests (TR-069 Annex G) and publish the address as
    /// `Device.ManagementServer.UDPConnectionRequestAddress`.
    pub(crate) udp_connection_requests: bool,
    /// Port of the UDP connection-request socket (0: a free port; unset: the same number
    /// as `connection_request_port`).
    pub(crate) udp_connection_request_port: Option<u16>,
    /// `Device.ManagementServer.ConnectionRequestUsername`.
    pub(crate) connection_request_username: String,
    /// `Device.ManagementServer.ConnectionRequestPassword`.
    pub(crate) connection_request_password: String,
    /// `Device.ManagementServer.PeriodicInformInterval` in seconds (with
    /// `PeriodicInformEnable` on).
    pub(crate) periodic_inform_interval: u32,
    /// The nameserver of the XMPP connection's SRV lookup (`DNS-SRV`); unset: those of
    /// `/etc/resolv.conf`.
    pub(crate) dns_server: Option<SocketAddr>,
}

impl Default for CwmpConfig {
    fn default() -> Self {
        Self {
            enabled: true,
            acs_url: String::new(),
            username: String::new(),
            password: String::new(),
            listen: IpAddr::V4(Ipv4Addr::LOCALHOST),
            connection_request_port: 7547,
            connection_request_path: "/cwmp-cr".into(),
            basic_over_plain_http: false,
            udp_connection_requests: true,
            udp_connection_request_port: None,
            connection_request_username: String::new(),
            connection_request_password: String::new(),
            periodic_inform_interval: 0,
            dns_server: None,
        }
    }
}

impl CwmpConfig {
    /// Whether the CWMP client runs: enabled, with an ACS URL.
    pub(crate) fn active(&self) -> bool {
        self.enabled && !self.acs_url.is_empty()
    }
}

/// Why the configuration could not be built.
#[derive(Debug)]
pub(crate) enum ConfigError {
    /// The file could not be read.
    Read(PathBuf, std::io::Error),
    /// The file is not valid.
    Parse(PathBuf, file::FileError),
}

impl std::fmt::Display for ConfigError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Read(path, error) => write!(f, "cannot read {}: {error}", path.display()),
            Self::Parse(path, error) => write!(f, "invalid {}: {error}", path.display()),
        }
    }
}

impl std::error::Error for ConfigError {}

impl Config {
    /// The defaults, then the file `cli.config` (if any), then the flags.
    pub(crate) fn load(cli: &Cli) -> Result<Self, ConfigError> {
        let mut config = match &cli.config {
            Some(path) => Self::from_file(path)?,
            None => Self::default(),
        };
        config.apply(cli);
        Ok(config)
    }

    fn from_file(path: &Path) -> Result<Self, ConfigError> {
        let text =
            std::fs::read_to_string(path).map_err(|e| ConfigError::Read(path.to_owned(), e))?;
        file::parse(&text).map_err(|e| ConfigError::Parse(path.to_owned(), e))
    }

    fn apply(&mut self, cli: &Cli) {
        if let Some(dir) = &cli.state_dir {
            self.state_dir.clone_from(dir);
        }
        if let Some(serial) = &cli.serial {
            self.device.serial.clone_from(serial);
        }
        if let Some(ca_file) = &cli.ca_file {
            self.tls.ca_file = Some(ca_file.clone());
        }
        if let Some(log) = &cli.log {
            self.log.clone_from(log);
        }
        if let Some(id) = &cli.endpoint_id {
            self.usp.endpoint_id.clone_from(id);
        }
        if !cli.controllers.is_empty() {
            self.usp.controllers.clone_from(&cli.controllers);
        }
        if cli.accept_unknown_controllers {
            self.usp.accept_unknown_controllers = true;
        }
        if let Some(addr) = cli.ws_listen {
            self.usp.websocket.listen = addr;
        }
        if cli.no_ws {
            self.usp.websocket.enable = false;
        }
        let cwmp = &mut self.cwmp;
        for (flag, key) in [
            (&cli.acs_url, &mut cwmp.acs_url),
            (&cli.acs_username, &mut cwmp.username),
            (&cli.acs_password, &mut cwmp.password),
            (&cli.cr_username, &mut cwmp.connection_request_username),
            (&cli.cr_password, &mut cwmp.connection_request_password),
            (&cli.cr_path, &mut cwmp.connection_request_path),
        ] {
            if let Some(value) = flag {
                key.clone_from(value);
            }
        }
        if let Some(listen) = cli.cr_listen {
            cwmp.listen = listen;
        }
        if let Some(port) = cli.cr_port {
            cwmp.connection_request_port = port;
        }
        if let Some(interval) = cli.periodic_inform_interval {
            cwmp.periodic_inform_interval = interval;
        }
        if cli.acs_basic_over_http {
            cwmp.basic_over_plain_http = true;
        }
        if let Some(port) = cli.udp_cr_port {
            cwmp.udp_connection_request_port = Some(port);
        }
        if cli.no_udp_cr {
            cwmp.udp_connection_requests = false;
        }
        if cli.no_cwmp {
            cwmp.enabled = false;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_example_file_is_the_defaults() {
        let parsed: Config = file::parse(EXAMPLE).unwrap();
        assert_eq!(parsed, Config::default());
    }

    #[test]
    fn flags_override_the_file() {
        let file: Config = file::parse(
            "state_dir = \"/var/lib/cpe\"\n[usp]\ncontrollers = [\"proto::a\"]\n\
             [usp.websocket]\nlisten = \"127.0.0.1:9000\"\n",
        )
        .unwrap();
        assert_eq!(file.usp.websocket.listen.port(), 9000);
        assert_eq!(file.device, DeviceConfig::default());
        let mut config = file;
        let cli = Cli::try_parse_from([
            "cpe-agent",
            "--state-dir",
            "/tmp/x",
            "--controller",
            "proto::b",
            "--controller",
            "proto::c",
            "--no-ws",
        ])
        .unwrap();
        config.apply(&cli);
        assert_eq!(config.state_dir, PathBuf::from("/tmp/x"));
        assert_eq!(config.usp.controllers, ["proto::b", "proto::c"]);
        assert!(!config.usp.websocket.enable);
        assert_eq!(config.usp.websocket.listen.port(), 9000);
    }

    #[test]
    fn cwmp_runs_only_with_an_acs_url() {
        let mut config = Config::default();
        assert!(!config.cwmp.active());
        let cli = Cli::try_parse_from([
            "cpe-agent",
            "--acs-url",
            "http://127.0.0.1:7000/acs",
            "--cr-port",
            "0",
            "--cr-username",
            "cr",
            "--cr-listen",
            "::",
        ])
        .unwrap();
        assert!(config.cwmp.listen.is_loopback(), "loopback by default");
        config.apply(&cli);
        assert!(config.cwmp.active());
        assert_eq!(config.cwmp.listen, IpAddr::from([0_u16; 8]));
        assert_eq!(config.cwmp.connection_request_port, 0);
        assert_eq!(config.cwmp.connection_request_username, "cr");
        config.apply(&Cli::try_parse_from(["cpe-agent", "--no-cwmp"]).unwrap());
        assert!(!config.cwmp.active());
        let file: Config =
            file::parse("[cwmp]\nacs_url = \"http://acs/\"\nenabled = false\n").unwrap();
        assert!(!file.cwmp.active());
    }

    #[test]
    fn tls_settings_come_whole() {
        let mut config = Config::default();
        config.apply(&Cli::try_parse_from(["cpe-agent", "--ca-file", "/no/such/ca.pem"]).unwrap());
        assert_eq!(config.tls.ca_file, Some(PathBuf::from("/no/such/ca.pem")));
        let error = config.tls.trust().err().unwrap();
        assert!(error.contains("/no/such/ca.pem"), "{error}");
        let half: Config =
            file::parse("[tls]\nca_file = \"ca.pem\"\ncert_file = \"c.pem\"\n").unwrap();
        let error = half.tls.trust().err().unwrap();
        assert!(error.contains("both cert_file and key_file"), "{error}");
    }

    #[test]
    fn a_crl_file_must_hold_crls() {
        // Read before any CA certificate, whatever the system has.
        let missing: Config = file::parse("[tls]\ncrl_file = \"/no/such/crl.pem\"\n").unwrap();
        let error = missing.tls.trust().err().unwrap();
        assert!(error.contains("CRL file /no/such/crl.pem"), "{error}");
        let empty = tempfile::NamedTempFile::new().unwrap();
        std::fs::write(
            &empty,
            "-----BEGIN CERTIFICATE-----\n-----END CERTIFICATE-----\n",
        )
        .unwrap();
        let config = TlsConfig {
            crl_file: Some(empty.path().to_owned()),
            ..TlsConfig::default()
        };
        let error = config.trust().err().unwrap();
        assert!(error.ends_with("no CRL in it"), "{error}");
    }

    #[test]
    fn unknown_keys_are_refused() {
        assert!(file::parse("[usp]\ncontroler = []\n").is_err());
    }
}
