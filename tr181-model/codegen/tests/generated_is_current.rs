//! The committed tables must be exactly what the generator writes from `../shared/spec/tr181`.
//!
//! On a mismatch the committed files are rewritten and the test fails, so `cargo test` is also
//! the update command (as prost-types does it).
#![allow(clippy::unwrap_used, clippy::panic)]

use std::path::{Path, PathBuf};
use std::process::Command;

fn crate_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

fn rs_files(dir: &Path) -> Vec<(String, String)> {
    let mut files: Vec<(String, String)> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "rs"))
        .map(|p| {
            let name = p.file_name().unwrap().to_string_lossy().into_owned();
            (name, std::fs::read_to_string(&p).unwrap())
        })
        .collect();
    files.sort();
    files
}

#[test]
fn generated_tables_are_current() {
    let tmp = std::env::temp_dir().join(format!("tr181-codegen-{}", std::process::id()));
    let out = tmp.join("generated");
    std::fs::create_dir_all(&out).unwrap();
    let committed_toml = crate_dir().join("Cargo.toml");
    let fresh_toml = tmp.join("Cargo.toml");
    std::fs::copy(&committed_toml, &fresh_toml).unwrap();

    let status = Command::new(env!("CARGO_BIN_EXE_tr181-codegen"))
        .arg("--out")
        .arg(&out)
        .arg("--cargo-toml")
        .arg(&fresh_toml)
        .status()
        .unwrap();
    assert!(status.success(), "the generator failed");

    let committed_dir = crate_dir().join("src/generated");
    let fresh = rs_files(&out);
    let committed = rs_files(&committed_dir);
    let fresh_features = std::fs::read_to_string(&fresh_toml).unwrap();
    let committed_features = std::fs::read_to_string(&committed_toml).unwrap();
    let current = fresh == committed && fresh_features == committed_features;
    if !current {
        for (name, _) in &committed {
            std::fs::remove_file(committed_dir.join(name)).unwrap();
        }
        for (name, text) in &fresh {
            std::fs::write(committed_dir.join(name), text).unwrap();
        }
        std::fs::write(&committed_toml, &fresh_features).unwrap();
    }
    std::fs::remove_dir_all(&tmp).unwrap();
    assert!(
        current,
        "tr181-model/src/generated was stale and has been regenerated; commit it"
    );
}

#[test]
fn stats_match_the_xml() {
    // Counts of Device:2.19 (TR-181 Issue 2 Amendment 19 Corrigendum 1) as read from the XML;
    // the crate README states them too.
    let output = Command::new(env!("CARGO_BIN_EXE_tr181-codegen"))
        .args(["--stats", "--out"])
        .arg(std::env::temp_dir().join(format!("tr181-stats-{}", std::process::id())))
        .arg("--cargo-toml")
        .arg({
            let toml =
                std::env::temp_dir().join(format!("tr181-stats-{}.toml", std::process::id()));
            std::fs::copy(crate_dir().join("Cargo.toml"), &toml).unwrap();
            toml
        })
        .output()
        .unwrap();
    assert!(output.status.success());
    let stdout = String::from_utf8(output.stdout).unwrap();
    assert_eq!(
        stdout,
        "CWMP: 860 objects (439 tables), 7210 parameters, 0 commands, 0 events, 0 command/event arguments\n\
         USP: 809 objects (417 tables), 6581 parameters, 178 commands, 52 events, 1069 command/event arguments\n"
    );
}
