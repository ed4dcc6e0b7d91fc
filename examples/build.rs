//! Link options for the release `cpe-agent` on Linux (issue #8: a small agent binary).
//!
//! The release profile aborts on panic, so nothing ever unwinds the agent's stack: its unwind
//! tables (`.eh_frame`, about 0.35 MB) are dropped at link time, which `-C
//! force-unwind-tables=no` cannot do on x86_64 (LLVM still writes them). The cost: a panic
//! prints its message but no backtrace (`RUST_BACKTRACE`), and debuggers or `perf` need a
//! build with them (any non-release build) to walk the stack. Relative relocations are
//! packed (`DT_RELR`: glibc 2.36 or musl 1.2.4 at run time), and with LLD (the default
//! linker on `x86_64-unknown-linux-gnu`, and the one `router-build.sh` selects on every
//! target) identical functions are folded into one. GNU ld 2.40, the linker of a plain cross
//! build, ignores the packing option on AArch64 and ARM with a warning: `router-build.sh`.
//! Debug and test builds, which unwind, are left as they are.

use std::env;

fn main() {
    println!("cargo::rerun-if-changed=build.rs");
    println!("cargo::rerun-if-changed=link/no-unwind-tables.ld");
    let var = |name: &str| env::var(name).unwrap_or_default();
    if var("PROFILE") != "release" || var("CARGO_CFG_TARGET_OS") != "linux" {
        return;
    }
    let script = format!("{}/link/no-unwind-tables.ld", var("CARGO_MANIFEST_DIR"));
    let mut args = vec![
        format!("-Wl,-T,{script}"),
        "-Wl,-z,pack-relative-relocs".to_owned(),
    ];
    let lld = var("TARGET") == "x86_64-unknown-linux-gnu"
        || var("CARGO_ENCODED_RUSTFLAGS").contains("linker-features=+lld");
    if lld {
        args.push("-Wl,--icf=all".to_owned());
        // Debian's glibc for MIPS is built for kernels before 4.8, whose FPU emulator ran
        // branch delay slots on the stack: its start files (`Scrt1.o`, `crti.o`, `crtn.o`) and
        // `libc.so.6` ask for an executable stack. GNU ld obeys rustc's `-z noexecstack` (and
        // the loader makes the stack executable anyway when it maps `libc.so.6`); LLD refuses
        // to link such objects unless told, so say what the C library will do at run time.
        if var("CARGO_CFG_TARGET_ARCH").starts_with("mips") && var("CARGO_CFG_TARGET_ENV") == "gnu"
        {
            args.push("-Wl,-z,execstack".to_owned());
        }
    }
    for arg in args {
        println!("cargo::rustc-link-arg-bin=cpe-agent={arg}");
    }
}
