//! The files shipped in `dist/`: the systemd unit and the logrotate recipe.
//!
//! What they say is checked always (they must run the documented install
//! and use the signals Berth acts on). That the tools accept them needs
//! `systemd-analyze` and `logrotate`, which not every machine that runs the
//! tests has (macOS, the test container): those tests are `#[ignore]`d and
//! `.ci/run` runs them with `--ignored` after installing both.
#![forbid(unsafe_code)]

use std::path::PathBuf;
use std::process::Command;

/// Where the documented `cargo install --path server --root /usr/local` puts berth.
const INSTALLED_BIN: &str = "/usr/local/bin/berth";

fn dist(name: &str) -> (PathBuf, String) {
    let path = tests::workspace_root().join("dist").join(name);
    let text =
        std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("read {}: {e}", path.display()));
    (path, text)
}

/// The value of `Key=` lines of a unit file (comments skipped).
fn unit_values<'t>(text: &'t str, key: &str) -> Vec<&'t str> {
    text.lines()
        .filter(|l| !l.trim_start().starts_with('#'))
        .filter_map(|l| l.strip_prefix(key)?.strip_prefix('='))
        .collect()
}

#[test]
fn systemd_unit_runs_the_documented_install_with_berths_signals() {
    let (_, unit) = dist("berth.service");
    let config = "/etc/berth/berth.conf";
    let want: &[(&str, String)] = &[
        ("Type", "exec".into()),
        ("ExecStartPre", format!("{INSTALLED_BIN} -t -c {config}")),
        ("ExecStart", format!("{INSTALLED_BIN} -c {config}")),
        // SIGHUP reloads, SIGTERM stops gracefully (docs/operations.md#signals).
        ("ExecReload", "/bin/kill -HUP $MAINPID".into()),
        ("KillSignal", "SIGTERM".into()),
        // Port 80 without root.
        ("AmbientCapabilities", "CAP_NET_BIND_SERVICE".into()),
        ("DynamicUser", "yes".into()),
        ("LogsDirectory", "berth".into()),
    ];
    for (key, value) in want {
        assert_eq!(unit_values(&unit, key), [value.as_str()], "{key}= in dist/berth.service");
    }
    // The grace period (10 s) fits in the stop timeout.
    let stop: u64 = unit_values(&unit, "TimeoutStopSec")
        .first()
        .and_then(|v| v.parse().ok())
        .expect("TimeoutStopSec= in seconds");
    assert!(stop > 10, "TimeoutStopSec={stop} cuts the 10 s graceful stop short");
}

#[test]
fn logrotate_recipe_signals_usr1_to_the_main_process() {
    let (_, recipe) = dist("berth.logrotate");
    assert!(recipe.contains("/var/log/berth/*.log {"), "{recipe}");
    assert!(
        recipe.contains("systemctl kill --signal=USR1 --kill-whom=main berth.service"),
        "{recipe}"
    );
}

/// `systemd-analyze verify` on the shipped unit, with its one
/// machine-specific value, the installed binary's path, pointed at the
/// binary the tests built (the verifier checks that it is executable).
#[test]
#[ignore = "needs systemd-analyze: run by .ci/run with --ignored"]
fn systemd_analyze_verify_passes() {
    let (_, unit) = dist("berth.service");
    let dir = tests::TempDir::new();
    let bin = tests::berth_bin().display().to_string();
    let copy = dir.join("berth.service");
    std::fs::write(&copy, unit.replace(INSTALLED_BIN, &bin)).expect("write the unit copy");
    let out = Command::new("systemd-analyze")
        .arg("verify")
        .arg(&copy)
        .output()
        .unwrap_or_else(|e| panic!("run systemd-analyze (apt-get install systemd): {e}"));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "systemd-analyze verify failed:\n{stderr}");
    assert!(stderr.trim().is_empty(), "systemd-analyze verify warned:\n{stderr}");
}

/// `logrotate --debug` (a dry run) parses the recipe without an error.
#[test]
#[ignore = "needs logrotate: run by .ci/run with --ignored"]
fn logrotate_accepts_the_recipe() {
    let (path, _) = dist("berth.logrotate");
    let dir = tests::TempDir::new();
    let out = Command::new("logrotate")
        .arg("--debug")
        .arg("--state")
        .arg(dir.join("state"))
        .arg(&path)
        .output()
        .unwrap_or_else(|e| panic!("run logrotate (apt-get install logrotate): {e}"));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "logrotate --debug failed:\n{stderr}");
    assert!(!stderr.to_lowercase().contains("error"), "logrotate --debug:\n{stderr}");
}
