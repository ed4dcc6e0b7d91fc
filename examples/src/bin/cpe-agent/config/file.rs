//! Reading the configuration file: the `toml` crate parses it into its document tree (every
//! key and value with its place in the file), and one match per section moves the keys into
//! the typed configuration.
//!
//! Not serde: derived `Deserialize` impls driven by toml's serde deserializer are generic
//! code instantiated for every section, about 0.1 MB of the agent's 4 MB budget (issue #8,
//! `BENCHMARKS.md`), more than the parser itself. Here the walk over a section is one
//! function for all of them, each key is a field name in a `section!` line, and each value
//! type one small function ([`FromToml`]). A key added to a struct and to `cpe-agent.toml`
//! but not here fails the test that reads the example file.
//!
//! The rules are serde's `#[serde(default, deny_unknown_fields)]`: a missing key keeps its
//! default, an unknown key or a value of the wrong type refuses the file, with its line and
//! column.

use std::collections::BTreeMap;
use std::fmt;
use std::net::{IpAddr, SocketAddr};
use std::ops::Range;
use std::path::PathBuf;

use hal::sim::{ACCESS_POINTS, Client, DeviceIdentity};
use toml::Spanned;
use toml::de::{DeTable, DeValue};
use tr181_model::schema::{self, Protocol};
use tr181_model::value::Value;

use super::{
    Config, CwmpConfig, DeviceConfig, LanClient, MAX_CLIENT_DELAY_S, MAX_LAN_CLIENTS, TlsConfig,
    UspConfig, WebSocketConfig,
};
use crate::mqtt::{MqttConfig, Version};
use crate::stomp::StompConfig;
use crate::uds::UdsConfig;
use crate::ws::WsClientConfig;

/// Why a configuration file was refused.
#[derive(Debug)]
pub(crate) enum FileError {
    /// The file is not TOML (toml's report, which quotes the line).
    Syntax(Box<toml::de::Error>),
    /// A key the agent does not have, or a value it cannot take.
    Key {
        /// Line of the key or value, from 1.
        line: usize,
        /// Column, from 1.
        column: usize,
        /// What is wrong.
        message: String,
    },
}

impl fmt::Display for FileError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Syntax(error) => write!(f, "{error}"),
            Self::Key {
                line,
                column,
                message,
            } => write!(f, "line {line}, column {column}: {message}"),
        }
    }
}

/// The configuration of `text`: the defaults, overridden by the keys it has.
pub(crate) fn parse(text: &str) -> Result<Config, FileError> {
    let document = DeTable::parse(text).map_err(|e| FileError::Syntax(Box::new(e)))?;
    let mut config = Config::default();
    read_table(document.get_ref(), "", &mut config).map_err(|problem| {
        let before = text.get(..problem.at).unwrap_or(text);
        let line_start = before.rfind('\n').map_or(0, |i| i + 1);
        FileError::Key {
            line: before.matches('\n').count() + 1,
            column: before.len() - line_start + 1,
            message: problem.message,
        }
    })?;
    Ok(config)
}

/// What is wrong, at byte `at` of the file.
struct Problem {
    at: usize,
    message: String,
}

impl Problem {
    fn new(span: &Range<usize>, message: String) -> Self {
        Self {
            at: span.start,
            message,
        }
    }
}

/// A section of the file: a table whose keys are the fields of a configuration struct.
trait Section {
    /// Reads `value` into the field `key`; `Ok(false)` when there is no such key. `path` is
    /// the section's own (`usp.mqtt`), for nested sections and messages.
    fn key(&mut self, path: &str, key: &str, value: &Spanned<DeValue<'_>>)
    -> Result<bool, Problem>;
}

/// Reads the section `path` from `value`, which must be a table.
fn read_section(
    path: &str,
    value: &Spanned<DeValue<'_>>,
    into: &mut dyn Section,
) -> Result<(), Problem> {
    match value.get_ref() {
        DeValue::Table(table) => read_table(table, path, into),
        _ => Err(Problem::new(
            &value.span(),
            format!("[{path}] must be a table"),
        )),
    }
}

/// Reads every key of `table` (the section `path`, `""` for the top level) into `into`.
fn read_table(table: &DeTable<'_>, path: &str, into: &mut dyn Section) -> Result<(), Problem> {
    for (key, value) in table {
        if !into.key(path, key.get_ref(), value)? {
            let message = match path {
                "" => format!("unknown key `{}`", key.get_ref()),
                path => format!("unknown key `{}` in [{path}]", key.get_ref()),
            };
            return Err(Problem::new(&key.span(), message));
        }
    }
    Ok(())
}

/// The path of the section `key` inside `path`.
fn join(path: &str, key: &str) -> String {
    match path {
        "" => key.to_owned(),
        path => format!("{path}.{key}"),
    }
}

/// A value type of the configuration.
trait FromToml: Sized {
    /// What the file must hold, for messages.
    const EXPECTED: &'static str;
    /// The value, or `None` when `value` is not one.
    fn from_toml(value: &DeValue<'_>) -> Option<Self>;
}

/// Reads `value` into `field` (the key `key`).
fn set<T: FromToml>(
    field: &mut T,
    key: &str,
    value: &Spanned<DeValue<'_>>,
) -> Result<bool, Problem> {
    *field = T::from_toml(value.get_ref())
        .ok_or_else(|| Problem::new(&value.span(), format!("`{key}` must be {}", T::EXPECTED)))?;
    Ok(true)
}

impl FromToml for bool {
    const EXPECTED: &'static str = "true or false";
    fn from_toml(value: &DeValue<'_>) -> Option<Self> {
        value.as_bool()
    }
}

impl FromToml for String {
    const EXPECTED: &'static str = "a string";
    fn from_toml(value: &DeValue<'_>) -> Option<Self> {
        value.as_str().map(str::to_owned)
    }
}

impl FromToml for PathBuf {
    const EXPECTED: &'static str = "a path (a string)";
    fn from_toml(value: &DeValue<'_>) -> Option<Self> {
        value.as_str().map(Self::from)
    }
}

impl FromToml for SocketAddr {
    const EXPECTED: &'static str = "an address and port, as \"127.0.0.1:7550\"";
    fn from_toml(value: &DeValue<'_>) -> Option<Self> {
        value.as_str()?.parse().ok()
    }
}

impl FromToml for IpAddr {
    const EXPECTED: &'static str = "an IP address, as \"127.0.0.1\" or \"::\"";
    fn from_toml(value: &DeValue<'_>) -> Option<Self> {
        value.as_str()?.parse().ok()
    }
}

impl FromToml for Version {
    const EXPECTED: &'static str = "\"5.0\" or \"3.1.1\"";
    fn from_toml(value: &DeValue<'_>) -> Option<Self> {
        Self::named(value.as_str()?)
    }
}

/// A non-negative integer, in any of TOML's bases.
fn integer(value: &DeValue<'_>) -> Option<u64> {
    let integer = value.as_integer()?;
    u64::from_str_radix(integer.as_str(), integer.radix()).ok()
}

impl FromToml for u16 {
    const EXPECTED: &'static str = "an integer from 0 to 65535";
    fn from_toml(value: &DeValue<'_>) -> Option<Self> {
        integer(value)?.try_into().ok()
    }
}

impl FromToml for u32 {
    const EXPECTED: &'static str = "an integer from 0 to 4294967295";
    fn from_toml(value: &DeValue<'_>) -> Option<Self> {
        integer(value)?.try_into().ok()
    }
}

impl FromToml for u64 {
    const EXPECTED: &'static str = "a non-negative integer";
    fn from_toml(value: &DeValue<'_>) -> Option<Self> {
        integer(value)
    }
}

/// A key that is unset by default: TOML has no null, so a present key is `Some`.
impl<T: FromToml> FromToml for Option<T> {
    const EXPECTED: &'static str = T::EXPECTED;
    fn from_toml(value: &DeValue<'_>) -> Option<Self> {
        T::from_toml(value).map(Some)
    }
}

impl FromToml for Vec<String> {
    const EXPECTED: &'static str = "an array of strings";
    fn from_toml(value: &DeValue<'_>) -> Option<Self> {
        let DeValue::Array(items) = value else {
            return None;
        };
        items
            .iter()
            .map(|item| String::from_toml(item.get_ref()))
            .collect()
    }
}

/// A table of strings (Endpoint ID → URL or topic).
impl FromToml for BTreeMap<String, String> {
    const EXPECTED: &'static str = "a table of strings";
    fn from_toml(value: &DeValue<'_>) -> Option<Self> {
        let DeValue::Table(table) = value else {
            return None;
        };
        table
            .iter()
            .map(|(key, item)| {
                Some((
                    key.get_ref().to_string(),
                    String::from_toml(item.get_ref())?,
                ))
            })
            .collect()
    }
}

/// Implements [`Section`] for a configuration struct: each of `values` is a field read with
/// [`FromToml`] under its own name, each of `sections` a nested section, each of `clients`
/// an array of tables read by [`read_clients`].
macro_rules! section {
    (
        $type:ty { $($value:ident),* $(,)? }
        $(sections { $($section:ident),* $(,)? })?
        $(clients { $($clients:ident),* $(,)? })?
    ) => {
        impl Section for $type {
            // A section without nested sections has no use for its path.
            #[allow(unused_variables)]
            fn key(
                &mut self,
                path: &str,
                key: &str,
                value: &Spanned<DeValue<'_>>,
            ) -> Result<bool, Problem> {
                match key {
                    $(stringify!($value) => set(&mut self.$value, key, value),)*
                    $($(stringify!($section) => {
                        read_section(&join(path, key), value, &mut self.$section).map(|()| true)
                    })*)?
                    $($(stringify!($clients) => {
                        read_clients(&join(path, key), value, &mut self.$clients).map(|()| true)
                    })*)?
                    _ => Ok(false),
                }
            }
        }
    };
}

section!(Config { state_dir, log } sections { device, usp, cwmp, tls });
section!(
    DeviceConfig { serial, tick_ms, command_delay_ms, apply_delay_ms }
    clients { client }
);

/// Reads the array of tables `[[device.client]]` into `into`: at most [`MAX_LAN_CLIENTS`],
/// each whole, leaving after it joins, and with a MAC of its own (the simulated gateway
/// keeps one client per MAC). (The messages are fixed text: formatting costs the router build
/// bytes.)
fn read_clients(
    path: &str,
    value: &Spanned<DeValue<'_>>,
    into: &mut Vec<LanClient>,
) -> Result<(), Problem> {
    let refuse = |span: Range<usize>, message: &str| Err(Problem::new(&span, message.into()));
    let DeValue::Array(items) = value.get_ref() else {
        return refuse(value.span(), "[[device.client]] must be an array of tables");
    };
    const _: () = assert!(MAX_LAN_CLIENTS == 32, "the message below names the bound");
    if items.len() > MAX_LAN_CLIENTS {
        return refuse(value.span(), "at most 32 [[device.client]] entries");
    }
    for item in items {
        let mut lan = LanClient {
            client: Client::wired("", "", ""),
            join_after_s: 0,
            leave_after_s: None,
        };
        read_section(path, item, &mut lan)?;
        let client = &lan.client;
        let wrong = if client.mac.is_empty() || client.ip.is_empty() {
            "a [[device.client]] entry needs `mac` and `ip`"
        } else if client
            .identity
            .as_ref()
            .is_some_and(|id| id.oui.is_empty() || id.serial_number.is_empty())
        {
            "a [[device.client]] entry needs both `oui` and `serial_number` for an option-125 identity"
        } else if lan.leave_after_s.is_some_and(|s| s <= lan.join_after_s) {
            "a [[device.client]] entry must leave (`leave_after_s`) after it joins (`join_after_s`)"
        } else if into
            .iter()
            .any(|other| other.client.mac.eq_ignore_ascii_case(&client.mac))
        {
            "a [[device.client]] entry has the `mac` of an earlier client"
        } else {
            into.push(lan);
            continue;
        };
        return refuse(item.span(), wrong);
    }
    Ok(())
}

/// The option-125 identity of `client`, started empty.
fn identity(client: &mut Client) -> &mut DeviceIdentity {
    client
        .identity
        .get_or_insert_with(|| DeviceIdentity::new("", "", ""))
}

/// Reads a client's `join_after_s` or `leave_after_s` into `field`: at most
/// [`MAX_CLIENT_DELAY_S`].
fn set_delay(field: &mut u32, key: &str, value: &Spanned<DeValue<'_>>) -> Result<bool, Problem> {
    set(field, key, value)?;
    const _: () = assert!(
        MAX_CLIENT_DELAY_S == 86_400,
        "the message below names the bound"
    );
    if *field > MAX_CLIENT_DELAY_S {
        let message = "`join_after_s` and `leave_after_s` are at most 86400 (a day)";
        return Err(Problem::new(&value.span(), message.into()));
    }
    Ok(true)
}

/// A client's texts are checked against the TR-181 parameters they become, so that the rows
/// made of them are whole (a row's value the model refuses would be left out).
impl Section for LanClient {
    fn key(
        &mut self,
        _path: &str,
        key: &str,
        value: &Spanned<DeValue<'_>>,
    ) -> Result<bool, Problem> {
        let client = &mut self.client;
        let (field, path) = match key {
            "join_after_s" => return set_delay(&mut self.join_after_s, key, value),
            "leave_after_s" => {
                let mut leave = 0;
                set_delay(&mut leave, key, value)?;
                self.leave_after_s = Some(leave);
                return Ok(true);
            }
            "access_point" => {
                set(&mut client.access_point, key, value)?;
                if client
                    .access_point
                    .is_some_and(|ap| ap == 0 || ap > ACCESS_POINTS)
                {
                    let message = format!(
                        "`access_point` must be from 1 to {ACCESS_POINTS} (unset: a wired client)"
                    );
                    return Err(Problem::new(&value.span(), message));
                }
                return Ok(true);
            }
            "mac" => (
                &mut client.mac,
                "Device.DHCPv4.Server.Pool.{i}.Client.{i}.Chaddr",
            ),
            "ip" => (
                &mut client.ip,
                "Device.DHCPv4.Server.Pool.{i}.Client.{i}.IPv4Address.{i}.IPAddress",
            ),
            "hostname" => (&mut client.hostname, "Device.Hosts.Host.{i}.HostName"),
            "oui" => (
                &mut identity(client).oui,
                "Device.ManagementServer.ManageableDevice.{i}.ManufacturerOUI",
            ),
            "serial_number" => (
                &mut identity(client).serial_number,
                "Device.ManagementServer.ManageableDevice.{i}.SerialNumber",
            ),
            "product_class" => (
                &mut identity(client).product_class,
                "Device.ManagementServer.ManageableDevice.{i}.ProductClass",
            ),
            _ => return Ok(false),
        };
        set(field, key, value)?;
        // Without the parameter (a build leaving out its object) no row holds the text.
        if let Some(parameter) = schema::parameter(path, Protocol::Cwmp) {
            Value::parse_for(field, parameter, path, &tr181_model::Limits::default())
                .map_err(|error| Problem::new(&value.span(), format!("`{key}`: {error}")))?;
        }
        Ok(true)
    }
}
section!(
    UspConfig { endpoint_id, controllers, accept_unknown_controllers }
    sections { websocket, websocket_client, mqtt, stomp, uds }
);
section!(WebSocketConfig {
    enable,
    listen,
    path,
    ping_interval_s,
    cert_file,
    key_file
});
section!(WsClientConfig {
    retry_min_wait_s,
    retry_interval_multiplier,
    ping_interval_s,
    controllers
});
section!(MqttConfig {
    enable,
    host,
    port,
    tls,
    websocket,
    version,
    client_id,
    username,
    password,
    topic,
    keep_alive_s,
    connect_retry_s,
    connect_retry_multiplier,
    connect_retry_max_s,
    controllers,
});
section!(StompConfig {
    enable,
    host,
    port,
    tls,
    username,
    password,
    virtual_host,
    destination,
    heartbeats,
    outgoing_heartbeat_ms,
    incoming_heartbeat_ms,
    retry_initial_s,
    retry_multiplier,
    retry_max_s,
    controllers,
});
section!(UdsConfig { listen, connect });
section!(CwmpConfig {
    enabled,
    acs_url,
    username,
    password,
    listen,
    connection_request_port,
    connection_request_path,
    basic_over_plain_http,
    udp_connection_requests,
    udp_connection_request_port,
    connection_request_username,
    connection_request_password,
    periodic_inform_interval,
    dns_server,
});
section!(TlsConfig {
    ca_file,
    crl_file,
    cert_file,
    key_file
});

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::indexing_slicing)]

    use super::*;

    fn refusal(text: &str) -> String {
        parse(text).err().unwrap().to_string()
    }

    #[test]
    fn every_key_of_every_section_is_read() {
        let config = parse(
            "state_dir = \"/s\"\nlog = \"debug\"\n\
             [device]\nserial = \"X1\"\ntick_ms = 10\ncommand_delay_ms = 3\n\
             apply_delay_ms = 4\n\
             [[device.client]]\nmac = \"02:00:00:00:00:0a\"\nip = \"192.168.1.150\"\n\
             hostname = \"tv\"\naccess_point = 2\noui = \"00D09F\"\n\
             serial_number = \"TV1\"\nproduct_class = \"TV\"\njoin_after_s = 5\n\
             leave_after_s = 86400\n\
             [usp]\nendpoint_id = \"os::a\"\ncontrollers = [\"c::1\", \"c::2\"]\n\
             accept_unknown_controllers = true\n\
             [usp.websocket]\nenable = false\nlisten = \"127.0.0.1:9\"\npath = \"/p\"\n\
             ping_interval_s = 7\ncert_file = \"c.pem\"\nkey_file = \"k.pem\"\n\
             [usp.websocket_client]\nretry_min_wait_s = 1\nretry_interval_multiplier = 3000\n\
             ping_interval_s = 0\ncontrollers = { \"c::1\" = \"ws://h:1/u\" }\n\
             [usp.mqtt]\nenable = true\nhost = \"b\"\nport = 8883\ntls = true\n\
             websocket = true\nversion = \"3.1.1\"\nclient_id = \"i\"\nusername = \"u\"\npassword = \"p\"\n\
             topic = \"t\"\nkeep_alive_s = 9\nconnect_retry_s = 2\n\
             connect_retry_multiplier = 1500\nconnect_retry_max_s = 60\n\
             [usp.mqtt.controllers]\n\"c::2\" = \"usp/c2\"\n\
             [usp.uds]\nlisten = \"/l\"\nconnect = \"/c\"\n\
             [cwmp]\nenabled = false\nacs_url = \"http://a/\"\nusername = \"au\"\n\
             password = \"ap\"\nlisten = \"0.0.0.0\"\nconnection_request_port = 0x10\n\
             connection_request_path = \"/\"\nbasic_over_plain_http = true\n\
             udp_connection_requests = false\nudp_connection_request_port = 17\n\
             connection_request_username = \"cu\"\nconnection_request_password = \"cp\"\n\
             periodic_inform_interval = 300\ndns_server = \"[::1]:5353\"\n\
             [tls]\nca_file = \"ca.pem\"\ncrl_file = \"crl.pem\"\ncert_file = \"a.pem\"\n\
             key_file = \"b.pem\"\n",
        )
        .unwrap();
        let mut expected = Config {
            state_dir: "/s".into(),
            log: "debug".into(),
            device: DeviceConfig {
                serial: "X1".into(),
                tick_ms: 10,
                command_delay_ms: 3,
                apply_delay_ms: 4,
                client: vec![LanClient {
                    client: Client::wifi("02:00:00:00:00:0a", "192.168.1.150", "tv", 2)
                        .with_identity(DeviceIdentity::new("00D09F", "TV1", "TV")),
                    join_after_s: 5,
                    leave_after_s: Some(86_400),
                }],
            },
            tls: TlsConfig {
                ca_file: Some("ca.pem".into()),
                crl_file: Some("crl.pem".into()),
                cert_file: Some("a.pem".into()),
                key_file: Some("b.pem".into()),
            },
            ..Config::default()
        };
        let usp = &mut expected.usp;
        usp.endpoint_id = "os::a".into();
        usp.controllers = vec!["c::1".into(), "c::2".into()];
        usp.accept_unknown_controllers = true;
        usp.websocket = WebSocketConfig {
            enable: false,
            listen: SocketAddr::from(([127, 0, 0, 1], 9)),
            path: "/p".into(),
            ping_interval_s: 7,
            cert_file: Some("c.pem".into()),
            key_file: Some("k.pem".into()),
        };
        usp.websocket_client = WsClientConfig {
            retry_min_wait_s: 1,
            retry_interval_multiplier: 3000,
            ping_interval_s: 0,
            controllers: [("c::1".into(), "ws://h:1/u".into())].into(),
        };
        usp.mqtt = MqttConfig {
            enable: true,
            host: "b".into(),
            port: 8883,
            tls: true,
            websocket: true,
            version: Version::V311,
            client_id: "i".into(),
            username: "u".into(),
            password: "p".into(),
            topic: "t".into(),
            keep_alive_s: 9,
            connect_retry_s: 2,
            connect_retry_multiplier: 1500,
            connect_retry_max_s: 60,
            controllers: [("c::2".into(), "usp/c2".into())].into(),
            ..MqttConfig::default()
        };
        usp.uds = UdsConfig {
            listen: "/l".into(),
            connect: "/c".into(),
        };
        expected.cwmp = CwmpConfig {
            enabled: false,
            acs_url: "http://a/".into(),
            username: "au".into(),
            password: "ap".into(),
            listen: IpAddr::from([0, 0, 0, 0]),
            connection_request_port: 16,
            connection_request_path: "/".into(),
            basic_over_plain_http: true,
            udp_connection_requests: false,
            udp_connection_request_port: Some(17),
            connection_request_username: "cu".into(),
            connection_request_password: "cp".into(),
            periodic_inform_interval: 300,
            dns_server: Some(SocketAddr::from(([0, 0, 0, 0, 0, 0, 0, 1], 5353))),
        };
        assert_eq!(config, expected);
    }

    #[test]
    fn dotted_keys_and_inline_tables_are_sections_too() {
        let config = parse("usp.websocket.path = \"/x\"\nusp.uds = { listen = \"/l\" }\n").unwrap();
        assert_eq!(config.usp.websocket.path, "/x");
        assert_eq!(config.usp.uds.listen, "/l");
        assert_eq!(
            config.usp.websocket.listen,
            Config::default().usp.websocket.listen
        );
    }

    #[test]
    fn refusals_name_the_key_and_where_it_is() {
        assert_eq!(
            refusal("[usp]\ncontroler = []\n"),
            "line 2, column 1: unknown key `controler` in [usp]"
        );
        assert_eq!(
            refusal("stat_dir = \"/\"\n"),
            "line 1, column 1: unknown key `stat_dir`"
        );
        assert_eq!(
            refusal("[usp.mqtt]\nport = 65536\n"),
            "line 2, column 8: `port` must be an integer from 0 to 65535"
        );
        assert_eq!(
            refusal("[cwmp]\nconnection_request_port = -1\n"),
            "line 2, column 27: `connection_request_port` must be an integer from 0 to 65535"
        );
        assert_eq!(
            refusal("[usp.mqtt]\nversion = \"4\"\n"),
            "line 2, column 11: `version` must be \"5.0\" or \"3.1.1\""
        );
        assert_eq!(
            refusal("[usp]\ncontrollers = [\"a\", 1]\n"),
            "line 2, column 15: `controllers` must be an array of strings"
        );
        assert_eq!(
            refusal("[cwmp]\nlisten = \"127.0.0.1:7547\"\n"),
            "line 2, column 10: `listen` must be an IP address, as \"127.0.0.1\" or \"::\""
        );
        assert_eq!(
            refusal("[usp.websocket]\nlisten = \"localhost\"\n"),
            "line 2, column 10: `listen` must be an address and port, as \"127.0.0.1:7550\""
        );
        assert_eq!(
            refusal("device = 1\n"),
            "line 1, column 10: [device] must be a table"
        );
        assert_eq!(
            refusal("[tls]\nca_file = true\n"),
            "line 2, column 11: `ca_file` must be a path (a string)"
        );
        assert!(refusal("[usp\n").starts_with("TOML parse error at line 1"));
    }

    #[test]
    fn lan_clients_are_read_whole_or_refused_in_place() {
        let config = parse("device.client = []\n").unwrap();
        assert!(config.device.client.is_empty());
        let config =
            parse("[[device.client]]\nmac = \"02:00:00:00:00:01\"\nip = \"192.168.1.100\"\n")
                .unwrap();
        let wired = LanClient {
            client: Client::wired("02:00:00:00:00:01", "192.168.1.100", ""),
            join_after_s: 0,
            leave_after_s: None,
        };
        assert_eq!(config.device.client, [wired]);

        let entry = |mac: &str, ip: &str, extra: &str| {
            format!("[[device.client]]\nmac = \"{mac}\"\nip = \"{ip}\"\n{extra}")
        };
        let (mac, ip) = ("02:00:00:00:00:01", "192.168.1.100");
        for (text, expected) in [
            (
                entry("02-00-00-00-00-01", ip, ""),
                "line 2, column 7: `mac`: invalid value for \
                 Device.DHCPv4.Server.Pool.{i}.Client.{i}.Chaddr: ",
            ),
            (
                entry(mac, "192.168.1.300", ""),
                "line 3, column 6: `ip`: invalid value for \
                 Device.DHCPv4.Server.Pool.{i}.Client.{i}.IPv4Address.{i}.IPAddress: ",
            ),
            (
                entry(mac, ip, "access_point = 3\n"),
                "line 4, column 16: `access_point` must be from 1 to 2 (unset: a wired client)",
            ),
            (
                entry(mac, ip, "oui = \"00d09f\"\nserial_number = \"S1\"\n"),
                "line 4, column 7: `oui`: invalid value for \
                 Device.ManagementServer.ManageableDevice.{i}.ManufacturerOUI: ",
            ),
            (
                entry(mac, ip, "") + &entry(&mac.to_lowercase(), "192.168.1.101", ""),
                "line 4, column 1: a [[device.client]] entry has the `mac` of an earlier client",
            ),
            (
                entry(mac, ip, "serial_number = \"S1\"\n"),
                "line 1, column 1: a [[device.client]] entry needs both `oui` and \
                 `serial_number` for an option-125 identity",
            ),
            (
                entry(mac, ip, "join_after_s = 4\nleave_after_s = 4\n"),
                "line 1, column 1: a [[device.client]] entry must leave (`leave_after_s`) \
                 after it joins (`join_after_s`)",
            ),
            (
                entry(mac, ip, "leave_after_s = 0\n"),
                "line 1, column 1: a [[device.client]] entry must leave",
            ),
            (
                entry(mac, ip, "join_after_s = 86401\n"),
                "line 4, column 16: `join_after_s` and `leave_after_s` are at most 86400 (a day)",
            ),
            (
                entry(mac, ip, "leave_after_s = -1\n"),
                "line 4, column 17: `leave_after_s` must be an integer from 0 to 4294967295",
            ),
            (
                entry(mac, ip, "max = 1\n"),
                "line 4, column 1: unknown key `max` in [device.client]",
            ),
        ] {
            let error = refusal(&text);
            assert!(error.starts_with(expected), "{error}");
        }
        assert!(
            refusal("[[device.client]]\nip = \"192.168.1.100\"\n")
                .ends_with("needs `mac` and `ip`")
        );
        let too_many: String = (0..=MAX_LAN_CLIENTS)
            .map(|n| entry(&format!("02:00:00:00:00:{n:02x}"), ip, ""))
            .collect();
        assert!(refusal(&too_many).ends_with("at most 32 [[device.client]] entries"));
        assert!(
            refusal("[device]\nclient = 1\n")
                .ends_with("[[device.client]] must be an array of tables")
        );
    }

    /// A file cut short anywhere (a write cut by a power loss) or with a byte changed reads
    /// or is refused with a place inside the text it has, never a panic.
    #[test]
    fn a_cut_or_garbled_example_file_reads_or_is_refused_in_place() {
        let example = super::super::EXAMPLE;
        let check = |text: &str| {
            if let Err(FileError::Key { line, column, .. }) = parse(text) {
                let lines: Vec<&str> = text.split('\n').collect();
                assert!(line >= 1 && line <= lines.len(), "line {line} of {text:?}");
                assert!(
                    column >= 1 && column <= lines[line - 1].len() + 1,
                    "{text:?}"
                );
            }
        };
        let mut refused = 0;
        for cut in (0..=example.len()).filter(|&i| example.is_char_boundary(i)) {
            check(&example[..cut]);
            refused += usize::from(parse(&example[..cut]).is_err());
        }
        assert!(refused > 0, "some cuts fall inside a value or a key");
        for (at, _) in example.char_indices().step_by(23) {
            for byte in ["\"", "=", "[", "]", "\n", "x", "9", "#", "\u{7f}"] {
                let mut garbled = example.to_owned();
                let end = at + example[at..].chars().next().map_or(0, char::len_utf8);
                garbled.replace_range(at..end, byte);
                check(&garbled);
            }
        }
    }
}
