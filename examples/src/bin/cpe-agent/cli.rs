//! The agent's command line, parsed by hand from one table of flags.
//!
//! A router build of the agent has about 4 MB for everything (issue #8), and clap's builder,
//! parser and help renderer took 169 KB of it for two dozen `--flag [VALUE]` options. The
//! table [`FLAGS`] is the single source of what each flag does and of `--help`; the syntax is
//! clap's, so scripts and tests keep working: `--flag VALUE`, `--flag=VALUE`, `-c FILE`,
//! `-cFILE`, a value never starting with `-`, a flag given at most once (but `--controller`),
//! usage errors on standard error with exit status 2.

use std::ffi::OsString;
use std::fmt::{self, Write as _};
use std::iter::Peekable;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;
use std::str::FromStr;

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
                print!("{}", help());
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

/// One flag of the command line.
struct Flag {
    /// Its long name, without the leading `--`.
    long: &'static str,
    /// Its one-letter name, if it has one.
    short: Option<char>,
    /// What it does to a [`Cli`].
    action: Action,
    /// Its line in `--help`.
    help: &'static str,
}

/// What a flag does.
enum Action {
    /// Stops parsing to print the help.
    Help,
    /// Sets a switch.
    Switch(fn(&mut Cli)),
    /// Takes a value (its name in `--help`, then how it is stored; `Err` says why the value is
    /// invalid).
    Value(&'static str, fn(&mut Cli, String) -> Result<(), String>),
    /// Stops parsing to print the version.
    Version,
}

/// Every flag, in the order of `--help`.
const FLAGS: &[Flag] = &[
    Flag {
        long: "config",
        short: Some('c'),
        action: Action::Value("FILE", |cli, v| {
            cli.config = Some(v.into());
            Ok(())
        }),
        help: "A TOML configuration file (see --print-config for every key)",
    },
    Flag {
        long: "print-config",
        short: None,
        action: Action::Switch(|cli| cli.print_config = true),
        help: "Print the example configuration file, with the defaults, and exit",
    },
    Flag {
        long: "state-dir",
        short: None,
        action: Action::Value("DIR", |cli, v| {
            cli.state_dir = Some(v.into());
            Ok(())
        }),
        help: "Where the device keeps its state across restarts",
    },
    Flag {
        long: "serial",
        short: None,
        action: Action::Value("SERIAL", |cli, v| {
            cli.serial = Some(v);
            Ok(())
        }),
        help: "Serial number of the simulated device (its Endpoint ID is derived from it)",
    },
    Flag {
        long: "log",
        short: None,
        action: Action::Value("FILTER", |cli, v| {
            cli.log = Some(v);
            Ok(())
        }),
        help: "Log filter: a level (`info`, `debug`) or `target=level` pairs separated by \
               commas",
    },
    Flag {
        long: "endpoint-id",
        short: None,
        action: Action::Value("ID", |cli, v| {
            cli.endpoint_id = Some(v);
            Ok(())
        }),
        help: "The USP agent's Endpoint ID (default: the device's \
               `Device.LocalAgent.EndpointID`)",
    },
    Flag {
        long: "controller",
        short: None,
        action: Action::Value("ENDPOINT_ID", |cli, v| {
            cli.controllers.push(v);
            Ok(())
        }),
        help: "A USP controller allowed to talk to the agent (repeatable; replaces the file's \
               list)",
    },
    Flag {
        long: "accept-unknown-controllers",
        short: None,
        action: Action::Switch(|cli| cli.accept_unknown_controllers = true),
        help: "Accept Records from controllers that are not configured",
    },
    Flag {
        long: "ws-listen",
        short: None,
        action: Action::Value("ADDR", |cli, v| {
            cli.ws_listen = Some(parsed(&v)?);
            Ok(())
        }),
        help: "Address of the USP WebSocket server MTP (port 0 picks a free port)",
    },
    Flag {
        long: "no-ws",
        short: None,
        action: Action::Switch(|cli| cli.no_ws = true),
        help: "Do not start the USP WebSocket server MTP",
    },
    Flag {
        long: "acs-url",
        short: None,
        action: Action::Value("URL", |cli, v| {
            cli.acs_url = Some(v);
            Ok(())
        }),
        help: "The ACS URL (`http://` or `https://`); setting it turns CWMP (TR-069) on",
    },
    Flag {
        long: "acs-username",
        short: None,
        action: Action::Value("USER", |cli, v| {
            cli.acs_username = Some(v);
            Ok(())
        }),
        help: "User name for HTTP authentication towards the ACS",
    },
    Flag {
        long: "acs-password",
        short: None,
        action: Action::Value("PASSWORD", |cli, v| {
            cli.acs_password = Some(v);
            Ok(())
        }),
        help: "Password for HTTP authentication towards the ACS",
    },
    Flag {
        long: "ca-file",
        short: None,
        action: Action::Value("FILE", |cli, v| {
            cli.ca_file = Some(v.into());
            Ok(())
        }),
        help: "PEM file of the CA certificates trusted by every TLS client (an `https://` ACS \
               and downloads, `wss://` controllers, MQTT over TLS)",
    },
    Flag {
        long: "cr-port",
        short: None,
        action: Action::Value("PORT", |cli, v| {
            cli.cr_port = Some(parsed(&v)?);
            Ok(())
        }),
        help: "Loopback port of the CWMP connection-request server (0 picks a free port)",
    },
    Flag {
        long: "cr-path",
        short: None,
        action: Action::Value("PATH", |cli, v| {
            cli.cr_path = Some(v);
            Ok(())
        }),
        help: "Path of the connection-request URL (`/` for ACSs that sign Digest for `/` only)",
    },
    Flag {
        long: "acs-basic-over-http",
        short: None,
        action: Action::Switch(|cli| cli.acs_basic_over_http = true),
        help: "Allow HTTP Basic authentication towards an `http://` ACS (TR-069 allows it over \
               TLS only; for loopback tests)",
    },
    Flag {
        long: "cr-username",
        short: None,
        action: Action::Value("USER", |cli, v| {
            cli.cr_username = Some(v);
            Ok(())
        }),
        help: "User name the ACS must give in connection requests",
    },
    Flag {
        long: "cr-password",
        short: None,
        action: Action::Value("PASSWORD", |cli, v| {
            cli.cr_password = Some(v);
            Ok(())
        }),
        help: "Password the ACS must give in connection requests",
    },
    Flag {
        long: "periodic-inform-interval",
        short: None,
        action: Action::Value("SECONDS", |cli, v| {
            cli.periodic_inform_interval = Some(parsed(&v)?);
            Ok(())
        }),
        help: "Seconds between periodic Informs (0 keeps the device's setting)",
    },
    Flag {
        long: "udp-cr-port",
        short: None,
        action: Action::Value("PORT", |cli, v| {
            cli.udp_cr_port = Some(parsed(&v)?);
            Ok(())
        }),
        help: "Loopback port of the UDP connection-request socket (0 picks a free port)",
    },
    Flag {
        long: "no-udp-cr",
        short: None,
        action: Action::Switch(|cli| cli.no_udp_cr = true),
        help: "Do not listen for UDP connection requests",
    },
    Flag {
        long: "no-cwmp",
        short: None,
        action: Action::Switch(|cli| cli.no_cwmp = true),
        help: "Do not start the CWMP (TR-069) client, even with an ACS URL",
    },
    Flag {
        long: "help",
        short: Some('h'),
        action: Action::Help,
        help: "Print help",
    },
    Flag {
        long: "version",
        short: Some('V'),
        action: Action::Version,
        help: "Print version",
    },
];

impl fmt::Display for Flag {
    /// The flag as usage errors name it: `--cr-port <PORT>`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "--{}", self.long)?;
        if let Action::Value(name, _) = self.action {
            write!(f, " <{name}>")?;
        }
        Ok(())
    }
}

/// A value of a `FromStr` type, or why it is not one.
fn parsed<T: FromStr<Err: fmt::Display>>(text: &str) -> Result<T, String> {
    text.parse().map_err(|error: T::Err| error.to_string())
}

/// The text of `--help`.
fn help() -> String {
    let mut out = format!("{ABOUT}\n\n{USAGE}\n\nOptions:\n");
    for flag in FLAGS {
        let short = flag.short.map(|c| format!("-{c}, ")).unwrap_or_default();
        // Writing to a String cannot fail.
        let _ = write!(out, "  {short:>4}{flag}\n          {}\n\n", flag.help);
    }
    out.pop();
    out
}

impl Cli {
    /// Parses the process's arguments.
    pub(crate) fn parse() -> Result<Self, CliExit> {
        Self::try_parse_from(std::env::args_os())
    }

    /// Parses `args`, the first of which is the program's name.
    pub(crate) fn try_parse_from<I>(args: I) -> Result<Self, CliExit>
    where
        I: IntoIterator<Item: Into<OsString>>,
    {
        let mut cli = Self::default();
        let mut given: Vec<&'static str> = Vec::new();
        let mut args = args.into_iter().map(Into::into).skip(1).peekable();
        while let Some(arg) = args.next() {
            let arg = text(arg)?;
            let (flag, inline) = find(&arg)?;
            if flag.long != "controller" && given.contains(&flag.long) {
                return Err(CliExit::Usage(format!(
                    "the argument '{flag}' cannot be used multiple times"
                )));
            }
            given.push(flag.long);
            match (&flag.action, inline) {
                (Action::Help, None) => return Err(CliExit::Help),
                (Action::Version, None) => return Err(CliExit::Version),
                (Action::Switch(set), None) => set(&mut cli),
                (Action::Value(_, set), inline) => {
                    let value = match inline {
                        Some(value) => value,
                        None => next_value(&mut args, flag)?,
                    };
                    set(&mut cli, value.clone()).map_err(|why| {
                        CliExit::Usage(format!("invalid value '{value}' for '{flag}': {why}"))
                    })?;
                }
                (_, Some(value)) => {
                    return Err(CliExit::Usage(format!(
                        "unexpected value '{value}' for '--{}' found; no more were expected",
                        flag.long
                    )));
                }
            }
        }
        Ok(cli)
    }
}

/// An argument as text.
fn text(arg: OsString) -> Result<String, CliExit> {
    arg.into_string().map_err(|arg| {
        CliExit::Usage(format!(
            "invalid UTF-8 was detected in '{}'",
            arg.to_string_lossy()
        ))
    })
}

/// The flag `arg` names, with the value written in the same argument (`--flag=VALUE`,
/// `-cVALUE`).
fn find(arg: &str) -> Result<(&'static Flag, Option<String>), CliExit> {
    let found = if let Some(long) = arg.strip_prefix("--") {
        let (name, inline) = match long.split_once('=') {
            Some((name, value)) => (name, Some(value.to_owned())),
            None => (long, None),
        };
        FLAGS
            .iter()
            .find(|flag| flag.long == name)
            .map(|flag| (flag, inline))
    } else if let Some(short) = arg.strip_prefix('-') {
        let mut chars = short.chars();
        let letter = chars.next();
        let rest = chars.as_str();
        let rest = rest.strip_prefix('=').unwrap_or(rest);
        FLAGS
            .iter()
            .find(|flag| letter.is_some() && flag.short == letter)
            .map(|flag| (flag, (!rest.is_empty()).then(|| rest.to_owned())))
    } else {
        None
    };
    found.ok_or_else(|| CliExit::Usage(format!("unexpected argument '{arg}' found")))
}

/// The argument after `flag`, its value; one that starts with `-` is a flag, not a value.
fn next_value<I: Iterator<Item = OsString>>(
    args: &mut Peekable<I>,
    flag: &Flag,
) -> Result<String, CliExit> {
    let missing = || {
        CliExit::Usage(format!(
            "a value is required for '{flag}' but none was supplied"
        ))
    };
    match args.peek() {
        Some(next) if !next.to_string_lossy().starts_with('-') => {
            text(args.next().ok_or_else(missing)?)
        }
        _ => Err(missing()),
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
        let help = help();
        for flag in FLAGS {
            assert!(help.contains(&format!("{flag}\n")), "{help}");
        }
        assert!(
            help.contains("  -c, --config <FILE>\n          A TOML"),
            "{help}"
        );
        assert!(help.contains("\n      --no-cwmp\n"), "{help}");
    }

    #[test]
    fn usage_errors_say_what_is_wrong() {
        assert_eq!(usage(&["--bogus"]), "unexpected argument '--bogus' found");
        assert_eq!(usage(&["extra"]), "unexpected argument 'extra' found");
        assert_eq!(
            usage(&["--cr-port", "x"]),
            "invalid value 'x' for '--cr-port <PORT>': invalid digit found in string"
        );
        assert_eq!(
            usage(&["--cr-port"]),
            "a value is required for '--cr-port <PORT>' but none was supplied"
        );
        assert_eq!(
            usage(&["--log", "--no-ws"]),
            "a value is required for '--log <FILTER>' but none was supplied"
        );
        assert_eq!(
            usage(&["--no-ws", "--no-ws"]),
            "the argument '--no-ws' cannot be used multiple times"
        );
        assert_eq!(
            usage(&["--serial", "a", "--serial=b"]),
            "the argument '--serial <SERIAL>' cannot be used multiple times"
        );
        assert_eq!(
            usage(&["--no-ws=yes"]),
            "unexpected value 'yes' for '--no-ws' found; no more were expected"
        );
        assert!(usage(&["--ws-listen", "localhost"]).starts_with("invalid value 'localhost'"));
    }
}
