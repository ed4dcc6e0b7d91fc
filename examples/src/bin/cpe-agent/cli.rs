//! The agent's command line, read with lexopt.
//!
//! A router build of the agent has about 4 MB for everything (issue #8), and clap's builder,
//! parser and help renderer took 169 KB of it; lexopt takes a few KB. The syntax is the usual
//! one: `--flag VALUE`, `--flag=VALUE`, `-c FILE`, `-cFILE`; usage errors go to standard error
//! with exit status 2.

use std::net::{IpAddr, SocketAddr};
use std::path::PathBuf;
use std::process::ExitCode;

use lexopt::prelude::*;

/// What the command line asked for. Every option overrides the same key of the file.
#[derive(Debug, Default)]
pub(crate) struct Cli {
    /// `--config`.
    pub(crate) config: Option<PathBuf>,
    /// `--print-config`.
    pub(crate) print_config: bool,
    /// `--state-dir`.
    pub(crate) state_dir: Option<PathBuf>,
    /// `--serial`.
    pub(crate) serial: Option<String>,
    /// `--log`.
    pub(crate) log: Option<String>,
    /// `--endpoint-id`.
    pub(crate) endpoint_id: Option<String>,
    /// Every `--controller`, in order.
    pub(crate) controllers: Vec<String>,
    /// `--accept-unknown-controllers`.
    pub(crate) accept_unknown_controllers: bool,
    /// `--ws-listen`.
    pub(crate) ws_listen: Option<SocketAddr>,
    /// `--no-ws`.
    pub(crate) no_ws: bool,
    /// `--acs-url`.
    pub(crate) acs_url: Option<String>,
    /// `--acs-username`.
    pub(crate) acs_username: Option<String>,
    /// `--acs-password`.
    pub(crate) acs_password: Option<String>,
    /// `--ca-file`.
    pub(crate) ca_file: Option<PathBuf>,
    /// `--cr-listen`.
    pub(crate) cr_listen: Option<IpAddr>,
    /// `--cr-port`.
    pub(crate) cr_port: Option<u16>,
    /// `--cr-path`.
    pub(crate) cr_path: Option<String>,
    /// `--acs-basic-over-http`.
    pub(crate) acs_basic_over_http: bool,
    /// `--cr-username`.
    pub(crate) cr_username: Option<String>,
    /// `--cr-password`.
    pub(crate) cr_password: Option<String>,
    /// `--periodic-inform-interval`.
    pub(crate) periodic_inform_interval: Option<u32>,
    /// `--udp-cr-port`.
    pub(crate) udp_cr_port: Option<u16>,
    /// `--no-udp-cr`.
    pub(crate) no_udp_cr: bool,
    /// `--no-cwmp`.
    pub(crate) no_cwmp: bool,
}

/// Why parsing the command line did not yield a [`Cli`]: something to print, then exit.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum CliExit {
    /// `--help` or `-h`: the help on standard output, exit status 0.
    Help,
    /// A usage error: the message on standard error, exit status 2.
    Usage(String),
    /// `--version` or `-V`: the version on standard output, exit status 0.
    Version,
}

impl CliExit {
    /// Prints what this exit shows and returns the process's exit status.
    pub(crate) fn report(&self) -> ExitCode {
        match self {
            Self::Help => {
                print!("{ABOUT}\n\n{USAGE}\n\n{OPTIONS}");
                ExitCode::SUCCESS
            }
            Self::Usage(message) => {
                eprint!("error: {message}\n\n{USAGE}\n\nFor more information, try '--help'.\n");
                ExitCode::from(2)
            }
            Self::Version => {
                println!("cpe-agent {}", env!("CARGO_PKG_VERSION"));
                ExitCode::SUCCESS
            }
        }
    }
}

/// The usage line.
const USAGE: &str = "Usage: cpe-agent [OPTIONS]";

/// What `--help` says first.
const ABOUT: &str = "A simulated home gateway (hal's simulated device) with a USP agent and a \
                     CWMP client. With no flags it listens for USP controllers on \
                     ws://127.0.0.1:7550/usp and keeps its state in ./cpe-agent-state; CWMP \
                     runs once an ACS URL is given (--acs-url).";

/// The options `--help` lists, one per flag [`Cli::parse_with`] reads.
const OPTIONS: &str = "\
Options:
  -c, --config <FILE>
          A TOML configuration file (see --print-config for every key)
      --print-config
          Print the example configuration file, with the defaults, and exit
      --state-dir <DIR>
          Where the device keeps its state across restarts
      --serial <SERIAL>
          Serial number of the simulated device (its Endpoint ID is derived from it)
      --log <FILTER>
          Log filter: a level (`info`, `debug`) or `target=level` pairs separated by commas
      --endpoint-id <ID>
          The USP agent's Endpoint ID (default: the device's `Device.LocalAgent.EndpointID`)
      --controller <ENDPOINT_ID>
          A USP controller allowed to talk to the agent (repeatable; replaces the file's list)
      --accept-unknown-controllers
          Accept Records from controllers that are not configured
      --ws-listen <ADDR>
          Address of the USP WebSocket server MTP (port 0 picks a free port)
      --no-ws
          Do not start the USP WebSocket server MTP
      --acs-url <URL>
          The ACS URL (`http://` or `https://`); setting it turns CWMP (TR-069) on
      --acs-username <USER>
          User name for HTTP authentication towards the ACS
      --acs-password <PASSWORD>
          Password for HTTP authentication towards the ACS
      --ca-file <FILE>
          PEM file of the CA certificates trusted by every TLS client (an `https://` ACS and
          downloads, `wss://` controllers, MQTT over TLS)
      --cr-listen <ADDR>
          Address of the CWMP connection-request server and UDP socket (default 127.0.0.1;
          0.0.0.0 or :: for every interface)
      --cr-port <PORT>
          Port of the CWMP connection-request server (0 picks a free port)
      --cr-path <PATH>
          Path of the connection-request URL (`/` for ACSs that sign Digest for `/` only)
      --acs-basic-over-http
          Allow HTTP Basic authentication towards an `http://` ACS (TR-069 allows it over TLS
          only; for loopback tests)
      --cr-username <USER>
          User name the ACS must give in connection requests
      --cr-password <PASSWORD>
          Password the ACS must give in connection requests
      --periodic-inform-interval <SECONDS>
          Seconds between periodic Informs (0 keeps the device's setting)
      --udp-cr-port <PORT>
          Port of the UDP connection-request socket (0 picks a free port)
      --no-udp-cr
          Do not listen for UDP connection requests
      --no-cwmp
          Do not start the CWMP (TR-069) client, even with an ACS URL
  -h, --help
          Print help
  -V, --version
          Print version
";

impl Cli {
    /// Parses the process's arguments.
    pub(crate) fn parse() -> Result<Self, CliExit> {
        Self::parse_with(lexopt::Parser::from_env())
    }

    /// Parses `args`, the first of which is the program's name.
    #[cfg(test)]
    pub(crate) fn try_parse_from<I>(args: I) -> Result<Self, CliExit>
    where
        I: IntoIterator<Item: Into<std::ffi::OsString>>,
    {
        Self::parse_with(lexopt::Parser::from_iter(args))
    }

    fn parse_with(mut parser: lexopt::Parser) -> Result<Self, CliExit> {
        let mut cli = Self::default();
        while let Some(arg) = parser.next()? {
            match arg {
                Short('c') | Long("config") => cli.config = Some(parser.value()?.into()),
                Long("print-config") => cli.print_config = true,
                Long("state-dir") => cli.state_dir = Some(parser.value()?.into()),
                Long("serial") => cli.serial = Some(parser.value()?.string()?),
                Long("log") => cli.log = Some(parser.value()?.string()?),
                Long("endpoint-id") => cli.endpoint_id = Some(parser.value()?.string()?),
                Long("controller") => cli.controllers.push(parser.value()?.string()?),
                Long("accept-unknown-controllers") => cli.accept_unknown_controllers = true,
                Long("ws-listen") => cli.ws_listen = Some(parser.value()?.parse()?),
                Long("no-ws") => cli.no_ws = true,
                Long("acs-url") => cli.acs_url = Some(parser.value()?.string()?),
                Long("acs-username") => cli.acs_username = Some(parser.value()?.string()?),
                Long("acs-password") => cli.acs_password = Some(parser.value()?.string()?),
                Long("ca-file") => cli.ca_file = Some(parser.value()?.into()),
                Long("cr-listen") => cli.cr_listen = Some(parser.value()?.parse()?),
                Long("cr-port") => cli.cr_port = Some(parser.value()?.parse()?),
                Long("cr-path") => cli.cr_path = Some(parser.value()?.string()?),
                Long("acs-basic-over-http") => cli.acs_basic_over_http = true,
                Long("cr-username") => cli.cr_username = Some(parser.value()?.string()?),
                Long("cr-password") => cli.cr_password = Some(parser.value()?.string()?),
                Long("periodic-inform-interval") => {
                    cli.periodic_inform_interval = Some(parser.value()?.parse()?);
                }
                Long("udp-cr-port") => cli.udp_cr_port = Some(parser.value()?.parse()?),
                Long("no-udp-cr") => cli.no_udp_cr = true,
                Long("no-cwmp") => cli.no_cwmp = true,
                Short('h') | Long("help") => return Err(CliExit::Help),
                Short('V') | Long("version") => return Err(CliExit::Version),
                _ => return Err(arg.unexpected().into()),
            }
        }
        Ok(cli)
    }
}

impl From<lexopt::Error> for CliExit {
    fn from(error: lexopt::Error) -> Self {
        Self::Usage(error.to_string())
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::panic)]

    use super::*;

    fn usage(args: &[&str]) -> String {
        let mut all = vec!["cpe-agent"];
        all.extend_from_slice(args);
        match Cli::try_parse_from(all) {
            Err(CliExit::Usage(message)) => message,
            other => panic!("{args:?}: {other:?}"),
        }
    }

    #[test]
    fn every_syntax_of_a_value_is_read() {
        let cli = Cli::try_parse_from([
            "cpe-agent",
            "-c",
            "a.toml",
            "--state-dir=/tmp/x",
            "--ws-listen",
            "127.0.0.1:0",
            "--controller",
            "proto::b",
            "--controller=proto::c",
            "--no-ws",
            "--cr-port=7547",
            "--periodic-inform-interval",
            "300",
        ])
        .unwrap();
        assert_eq!(cli.config, Some(PathBuf::from("a.toml")));
        assert_eq!(cli.state_dir, Some(PathBuf::from("/tmp/x")));
        assert_eq!(cli.ws_listen, Some(SocketAddr::from(([127, 0, 0, 1], 0))));
        assert_eq!(cli.controllers, ["proto::b", "proto::c"]);
        assert!(cli.no_ws && !cli.no_cwmp);
        assert_eq!(cli.cr_port, Some(7547));
        assert_eq!(cli.periodic_inform_interval, Some(300));
        let short = Cli::try_parse_from(["cpe-agent", "-cb.toml"]).unwrap();
        assert_eq!(short.config, Some(PathBuf::from("b.toml")));
    }

    #[test]
    fn help_and_version_stop_parsing() {
        for arg in ["--help", "-h"] {
            let parsed = Cli::try_parse_from(["cpe-agent", "--no-ws", arg, "--bogus"]);
            assert_eq!(parsed.err(), Some(CliExit::Help));
        }
        for arg in ["--version", "-V"] {
            let parsed = Cli::try_parse_from(["cpe-agent", arg]);
            assert_eq!(parsed.err(), Some(CliExit::Version));
        }
    }

    /// Every flag `--help` lists is one the parser reads.
    #[test]
    fn every_flag_in_help_is_read() {
        let listed: Vec<&str> = OPTIONS
            .lines()
            .filter_map(|line| line.trim_start().split_once("--"))
            .filter(|(before, _)| before.is_empty() || before.ends_with(", "))
            .map(|(_, flag)| flag.split(' ').next().unwrap_or_default())
            .collect();
        assert_eq!(listed.len(), 26, "{listed:?}");
        for flag in listed {
            let arg = format!("--{flag}");
            let mut args = vec!["cpe-agent", arg.as_str()];
            if OPTIONS.contains(&format!("{arg} <")) {
                args.push("7");
            }
            match Cli::try_parse_from(&args) {
                Ok(_) | Err(CliExit::Help | CliExit::Version) => {}
                Err(CliExit::Usage(why)) => {
                    assert!(!why.starts_with("invalid option"), "{arg}: {why}");
                }
            }
        }
    }

    #[test]
    fn usage_errors_say_what_is_wrong() {
        assert_eq!(usage(&["--bogus"]), "invalid option '--bogus'");
        assert_eq!(usage(&["extra"]), "unexpected argument \"extra\"");
        assert_eq!(
            usage(&["--cr-port", "x"]),
            "cannot parse argument \"x\": invalid digit found in string"
        );
        assert_eq!(
            usage(&["--cr-port"]),
            "missing argument for option '--cr-port'"
        );
        assert_eq!(
            usage(&["--no-ws=yes"]),
            "unexpected argument for option '--no-ws': \"yes\""
        );
        assert!(usage(&["--ws-listen", "localhost"]).starts_with("cannot parse argument"));
    }
}
