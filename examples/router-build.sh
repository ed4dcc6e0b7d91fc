#!/usr/bin/env bash
# The router build of `cpe-agent` (issue #8: at most 4 MB with both stacks and the full TR-181
# schema). It is the release profile (`opt-level = "s"`, fat LTO, one codegen unit, stripped,
# `panic = "abort"`, the link options of examples/build.rs) under the name `router`, plus:
#
# - the standard library rebuilt with the agent (`-Z build-std`), so that LTO optimises it
#   with the rest and keeps only what the agent calls, with its `optimize_for_size` feature
#   (the smaller algorithms of core and alloc) and without its `backtrace` feature: the release
#   agent has no unwind tables, so the panic hook could not walk a backtrace anyway;
# - LLVM's machine outliner, which moves repeated instruction sequences into shared functions
#   (on the targets LLVM outlines for: x86_64, AArch64, ARM, RISC-V; elsewhere it does
#   nothing), for less code at some CPU cost;
# - the `immediate-abort` panic strategy: a panic executes a trap instruction at once (SIGILL
#   on x86_64), with no message, no location and no panic hook, whose formatting code and
#   strings are left out (about 0.13 MB). What a vendor loses is the "panicked at FILE:LINE:
#   MESSAGE" line on standard error. The agent's own code has no unwrap, expect, panic or
#   slice indexing (workspace lints), so what is left are bugs in it or in a dependency; to
#   find one, keep the unstripped binary of the same build (CARGO_PROFILE_ROUTER_STRIP=false)
#   and resolve the trap's address from the kernel's log line or a core dump
#   (`addr2line -e cpe-agent ADDRESS`), or run the same release build with messages:
#   `RUSTFLAGS="-C panic=abort" examples/router-build.sh` (the last -C panic wins; about
#   0.13 MB larger);
# - the agent's source directory left out of the file names compiled into it
#   (`--remap-path-prefix`): `tracing` keeps each log call's file and line in the binary (its
#   `event FILE:LINE` name and its file: about 190 strings that the log never prints), where
#   `examples/src/bin/cpe-agent/mqtt.rs` becomes `mqtt.rs`, as it does in the unstripped
#   binary's line tables (`addr2line` answers `mqtt.rs:1100`);
# - LLD, the linker shipped with Rust (`rust-lld`, through the C compiler driver), on every
#   target: x86_64-unknown-linux-gnu links with it by default, but a cross target would use
#   the system's GNU ld, which (binutils 2.40) ignores `-z pack-relative-relocs` on AArch64
#   and ARM ("warning: -z pack-relative-relocs ignored") and has no `--icf`: with LLD the
#   aarch64 agent is 182 KB smaller and the armv7 one 82 KB (`DT_RELR` and ICF, BENCHMARKS.md).
#
# Either of the outliner and immediate-abort alone leaves the agent above 4 MB; their sizes
# and CPU cost are in BENCHMARKS.md ("Footprint of the reference agent").
#
# `-Z build-std` is unstable: RUSTC_BOOTSTRAP=1 lets the stable toolchain use it, as embedded
# and router builds of Rust do; it needs the toolchain's rust-src component
# (`rustup component add rust-src`).
#
# Usage: examples/router-build.sh [--target TRIPLE] [CARGO BUILD ARGS...]
# The target defaults to the host's. Prints the path of the binary on its last line.
set -euo pipefail
cd "$(dirname "$0")/.."

target=$(rustc -vV | sed -n 's/^host: //p')
if [ "${1:-}" = "--target" ] && [ $# -ge 2 ]; then
    target=$2
    shift 2
fi
if [ ! -d "$(rustc --print sysroot)/lib/rustlib/src/rust/library" ]; then
    echo "router-build.sh: the rust-src component is missing: rustup component add rust-src" >&2
    exit 1
fi

# With --target, RUSTFLAGS reach the target's crates only, not build scripts or proc macros.
# The caller's RUSTFLAGS come last, so that they can override these.
RUSTC_BOOTSTRAP=1 \
    RUSTFLAGS="-Z unstable-options -C panic=immediate-abort \
        -C llvm-args=-enable-machine-outliner=always \
        -C link-self-contained=+linker -C linker-features=+lld \
        --remap-path-prefix=examples/src/bin/cpe-agent/= ${RUSTFLAGS:-}" \
    cargo build --profile router \
    -Z build-std=std,panic_abort -Z build-std-features=optimize_for_size \
    --target "$target" -p examples --bin cpe-agent "$@"
echo "${CARGO_TARGET_DIR:-target}/$target/router/cpe-agent"
