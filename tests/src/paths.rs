//! Where the binaries under test live, and building the probe when missing.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;

/// The target triple the probe is built for (a static binary).
const PROBE_TARGET: &str = "x86_64-unknown-linux-gnu";

/// The repository root (the workspace that holds this crate).
pub fn workspace_root() -> PathBuf {
    let manifest_dir = Path::new(env!("CARGO_MANIFEST_DIR"));
    manifest_dir
        .parent()
        .expect("tests/ has a parent directory")
        .to_path_buf()
}

/// The runtime under test: `$CORRAL_BIN`, else the static build of
/// `scripts/build` (target/<triple>/release/corral), else target/release/corral,
/// else target/debug/corral.
pub fn corral_bin() -> PathBuf {
    static BIN: OnceLock<PathBuf> = OnceLock::new();
    BIN.get_or_init(find_corral_bin).clone()
}

fn find_corral_bin() -> PathBuf {
    if let Some(bin) = std::env::var_os("CORRAL_BIN") {
        let bin = PathBuf::from(bin);
        assert!(bin.is_file(), "CORRAL_BIN={} is not a file", bin.display());
        return bin;
    }
    let target = workspace_root().join("target");
    let candidates = [target.join(PROBE_TARGET).join("release"), target.join("release"), target.join("debug")];
    if let Some(bin) = candidates.iter().map(|dir| dir.join("corral")).find(|bin| bin.is_file()) {
        return bin;
    }
    panic!(
        "no corral binary: run the tests with `scripts/test` (it builds corral first), \
         build it with `scripts/build`, or set CORRAL_BIN"
    );
}

/// The static probe copied into every bundle; built on first use if missing.
pub fn probe_bin() -> PathBuf {
    static PROBE: OnceLock<PathBuf> = OnceLock::new();
    PROBE.get_or_init(find_or_build_probe).clone()
}

fn probe_target_dir() -> PathBuf {
    workspace_root().join("target").join("probe")
}

fn find_or_build_probe() -> PathBuf {
    if let Some(probe) = std::env::var_os("CORRAL_PROBE") {
        let probe = PathBuf::from(probe);
        assert!(
            probe.is_file(),
            "CORRAL_PROBE={} is not a file",
            probe.display()
        );
        return probe;
    }
    let probe = probe_target_dir()
        .join(PROBE_TARGET)
        .join("release")
        .join("corral-probe");
    if !probe.is_file() {
        build_probe();
    }
    assert!(
        probe.is_file(),
        "building the probe did not produce {}",
        probe.display()
    );
    probe
}

/// Several test binaries may get here at once. Cargo serialises builds on a
/// lock in the target dir, and it publishes the finished binary with a hard
/// link, so a process that sees the file sees all of it.
fn build_probe() {
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    let status = Command::new(cargo)
        .current_dir(workspace_root())
        .env("RUSTFLAGS", "-C target-feature=+crt-static")
        .args(["build", "--quiet", "-p", "corral-probe", "--release"])
        .args(["--target", PROBE_TARGET])
        .arg("--target-dir")
        .arg(probe_target_dir())
        .status()
        .expect("cannot run cargo to build the probe");
    assert!(status.success(), "building corral-probe failed ({status})");
}
