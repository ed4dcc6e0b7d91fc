//! Generates `tr181-model/src/generated/` from the Broadband Forum TR-181 Issue 2 XML.
//!
//! ```text
//! cargo run -p tr181-codegen                      # rewrite the committed tables
//! cargo run -p tr181-codegen -- --stats           # also print the item counts per variant
//! cargo run -p tr181-codegen -- --out DIR --cargo-toml FILE   # write elsewhere (staleness test)
//! ```
//!
//! The input is `../shared/spec/tr181/` beside the workspace (override with `--spec DIR`): the
//! CWMP model `tr-181-2-cwmp.xml` and the USP model `tr-181-2-usp.xml`, both `Device:2.19`, with
//! every file they import. The output is deterministic and formatted with `rustfmt`; the cargo
//! features (one per top-level object group) are written into the marked section of
//! `tr181-model/Cargo.toml`.

mod emit;
mod model;
mod xml;

use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode};

use model::Model;
use xml::Docs;

/// The model both entry documents define.
const MODEL: &str = "Device:2.19";
const FEATURES_BEGIN: &str = "# @generated features begin (tr181-codegen)";
const FEATURES_END: &str = "# @generated features end";

fn main() -> ExitCode {
    match run() {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("tr181-codegen: {e}");
            ExitCode::FAILURE
        }
    }
}

/// Command-line options; the defaults are the committed layout beside `../shared`.
#[derive(clap::Parser)]
#[command(about = "Generates tr181-model's schema tables from the TR-181 XML")]
struct Args {
    /// Folder holding the TR-181 XML and everything it imports.
    #[arg(long, default_value = concat!(env!("CARGO_MANIFEST_DIR"), "/../../../shared/spec/tr181"))]
    spec: PathBuf,
    /// Folder the table modules are written to.
    #[arg(long, default_value = concat!(env!("CARGO_MANIFEST_DIR"), "/../src/generated"))]
    out: PathBuf,
    /// `Cargo.toml` whose marked section receives the group features.
    #[arg(long, default_value = concat!(env!("CARGO_MANIFEST_DIR"), "/../Cargo.toml"))]
    cargo_toml: PathBuf,
    /// Also print the item counts of each variant.
    #[arg(long)]
    stats: bool,
}

fn run() -> Result<(), String> {
    let args = <Args as clap::Parser>::parse();
    let mut docs = Docs::new(&args.spec);
    let cwmp_doc = docs.load("tr-181-2-cwmp.xml")?;
    let usp_doc = docs.load("tr-181-2-usp.xml")?;
    let cwmp = model::expand(&docs, cwmp_doc, MODEL)?;
    let usp = model::expand(&docs, usp_doc, MODEL)?;
    if args.stats {
        for (name, model) in [("CWMP", &cwmp), ("USP", &usp)] {
            println!("{name}: {}", Stats::of(model));
        }
    }
    let output = emit::render(&cwmp, &usp)?;
    std::fs::create_dir_all(&args.out)
        .map_err(|e| format!("creating {}: {e}", args.out.display()))?;
    // Remove tables of groups that no longer exist.
    for entry in std::fs::read_dir(&args.out).map_err(|e| e.to_string())? {
        let path = entry.map_err(|e| e.to_string())?.path();
        if path.extension().is_some_and(|e| e == "rs") {
            std::fs::remove_file(&path).map_err(|e| format!("removing {}: {e}", path.display()))?;
        }
    }
    for (name, text) in &output.files {
        let path = args.out.join(name);
        std::fs::write(&path, text).map_err(|e| format!("writing {}: {e}", path.display()))?;
    }
    rustfmt(&args.out.join("mod.rs"))?;
    write_features(&args.cargo_toml, &output.features)
}

/// Formats the module tree rooted at `root` (rustfmt follows `mod` declarations).
fn rustfmt(root: &Path) -> Result<(), String> {
    let status = Command::new("rustfmt")
        .args(["--edition", "2024"])
        .arg(root)
        .status()
        .map_err(|e| format!("running rustfmt: {e}"))?;
    if status.success() {
        Ok(())
    } else {
        Err(format!("rustfmt failed: {status}"))
    }
}

/// Replaces the marked feature section of `Cargo.toml`.
fn write_features(cargo_toml: &Path, features: &[(String, String)]) -> Result<(), String> {
    let text = std::fs::read_to_string(cargo_toml)
        .map_err(|e| format!("reading {}: {e}", cargo_toml.display()))?;
    let (head, rest) = text
        .split_once(FEATURES_BEGIN)
        .ok_or("Cargo.toml lacks the features begin marker")?;
    let (_, tail) = rest
        .split_once(FEATURES_END)
        .ok_or("Cargo.toml lacks the features end marker")?;
    let mut section = format!("{FEATURES_BEGIN}\nfull = [\n");
    for (feature, _) in features {
        section.push_str(&format!("    \"{feature}\",\n"));
    }
    section.push_str("]\n");
    for (feature, path) in features {
        section.push_str(&format!("# {path}\n{feature} = []\n"));
    }
    section.push_str(FEATURES_END);
    let updated = format!("{head}{section}{tail}");
    if updated != text {
        std::fs::write(cargo_toml, updated)
            .map_err(|e| format!("writing {}: {e}", cargo_toml.display()))?;
    }
    Ok(())
}

/// Item counts of one variant.
struct Stats {
    objects: usize,
    tables: usize,
    parameters: usize,
    commands: usize,
    events: usize,
    arguments: usize,
}

impl Stats {
    fn of(model: &Model) -> Self {
        let objects = model.values();
        Self {
            objects: model.len(),
            tables: model.keys().filter(|p| p.ends_with(".{i}.")).count(),
            parameters: objects.clone().map(|o| o.params.len()).sum(),
            commands: objects.clone().map(|o| o.commands.len()).sum(),
            events: objects.clone().map(|o| o.events.len()).sum(),
            arguments: objects
                .map(|o| {
                    o.commands
                        .values()
                        .map(|c| c.input.len() + c.output.len())
                        .sum::<usize>()
                        + o.events.values().map(|e| e.arguments.len()).sum::<usize>()
                })
                .sum(),
        }
    }
}

impl std::fmt::Display for Stats {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{} objects ({} tables), {} parameters, {} commands, {} events, {} command/event arguments",
            self.objects, self.tables, self.parameters, self.commands, self.events, self.arguments
        )
    }
}
