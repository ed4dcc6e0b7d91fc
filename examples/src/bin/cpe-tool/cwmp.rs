//! `cpe-tool cwmp check`: decode a CWMP envelope with the cwmp-core codec (its limits and
//! checks included) and show what it holds.

use std::path::Path;
use std::process::ExitCode;

use cwmp_core::codec::{Envelope, Limits};

/// Decodes the envelope in `file`: its RPC, `cwmp:ID` and structure on success (exit 0);
/// the error, where it was found, and the fault code a CPE would answer with otherwise
/// (exit 1).
pub(crate) fn check(file: &Path) -> ExitCode {
    let bytes = match crate::read_input(file) {
        Ok(bytes) => bytes,
        Err(error) => {
            eprintln!("cannot read {}: {error}", file.display());
            return ExitCode::from(2);
        }
    };
    match Envelope::decode(&bytes, &Limits::default()) {
        Ok(envelope) => {
            println!(
                "valid CWMP envelope: {} (cwmp:ID {:?})",
                envelope.body.name(),
                envelope.header.id
            );
            println!("{envelope:#?}");
            ExitCode::SUCCESS
        }
        Err(error) => {
            eprintln!("invalid CWMP envelope: {error}");
            eprintln!("fault {}", error.cpe_fault());
            ExitCode::FAILURE
        }
    }
}
