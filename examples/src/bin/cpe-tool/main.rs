//! `cpe-tool`: command-line companion of the cpe-mgmt crates.
//!
//! ```text
//! cpe-tool model Device.WiFi.                 # the supported USP model below Device.WiFi.
//! cpe-tool model --protocol cwmp Device.IP.Diagnostics.IPPing.
//! cpe-tool usp decode record.bin              # a binary USP Record as JSON, Msg decoded
//! cpe-tool usp encode request.json > rec.bin  # a request described in JSON, as a Record
//! cpe-tool usp request --url ws://127.0.0.1:7550/usp get Device.DeviceInfo.
//! cpe-tool usp request --mqtt 127.0.0.1:1883 --agent-topic usp/agent get Device.DeviceInfo.
//! cpe-tool usp request --stomp 127.0.0.1:61613 --agent-dest /queue/agent get Device.DeviceInfo.
//! cpe-tool cwmp check envelope.xml            # decode and show a CWMP envelope
//! ```
//!
//! Modules: [`model`] (the schema browser), [`usp`] (Records: decode, encode, request) and
//! [`cwmp`] (envelope checks).

mod cwmp;
mod model;
mod usp;

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand, ValueEnum};
use tr181_model::schema::Protocol;

#[derive(Parser)]
#[command(version, about = "Tools for TR-181 devices managed over CWMP and USP")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// List the supported TR-181 data model below a path, with types and access.
    Model {
        /// Object, parameter, command or event path; `{i}` or instance numbers in table slots.
        #[arg(default_value = "Device.")]
        path: String,
        /// Which variant of the model to show.
        #[arg(long, value_enum, default_value_t = ProtocolArg::Usp)]
        protocol: ProtocolArg,
    },
    /// USP Records: decode, encode, send.
    #[command(subcommand)]
    Usp(usp::UspCommand),
    /// CWMP envelopes.
    #[command(subcommand)]
    Cwmp(CwmpCommand),
}

#[derive(Subcommand)]
enum CwmpCommand {
    /// Decode a CWMP SOAP envelope with the cwmp-core codec and show it; on invalid input,
    /// print the error and its CWMP fault code and exit with 1.
    Check {
        /// The envelope file (`-` for standard input).
        file: PathBuf,
    },
}

#[derive(Clone, Copy, ValueEnum)]
enum ProtocolArg {
    Cwmp,
    Usp,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    match cli.command {
        Command::Model { path, protocol } => {
            let protocol = match protocol {
                ProtocolArg::Cwmp => Protocol::Cwmp,
                ProtocolArg::Usp => Protocol::Usp,
            };
            match model::model(&model::schema_path(&path), protocol) {
                Some(text) => {
                    print!("{text}");
                    ExitCode::SUCCESS
                }
                None => {
                    eprintln!("{path} is not in the supported {protocol:?} data model");
                    ExitCode::FAILURE
                }
            }
        }
        Command::Usp(command) => usp::run(command),
        Command::Cwmp(CwmpCommand::Check { file }) => cwmp::check(&file),
    }
}

/// The bytes of `path`, or of standard input for `-`.
fn read_input(path: &std::path::Path) -> std::io::Result<Vec<u8>> {
    if path.as_os_str() == "-" {
        let mut bytes = Vec::new();
        std::io::Read::read_to_end(&mut std::io::stdin(), &mut bytes)?;
        Ok(bytes)
    } else {
        std::fs::read(path)
    }
}
