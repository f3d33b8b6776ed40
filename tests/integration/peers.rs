//! Tests that need an external peer (the official SDKs and conformance suite, installed by
//! `bash .ci/run peers`) and find it missing: under `CI=true` that fails the test; elsewhere the
//! test is skipped, loudly. Each skip is written to the terminal as it happens, past the test
//! harness's capture, and recorded for `tests/skipped.rs`, which lists this run's skips after
//! the last test binary, so a skip is never read as a pass.

use std::io::Write;
use std::path::PathBuf;

/// The one command that installs every external test peer.
pub const INSTALL: &str = "bash .ci/run peers";

/// Where this `cargo test` run's skips are recorded: one file per cargo process, which is the
/// parent of every test binary it runs.
pub fn record_file() -> PathBuf {
    let run = std::os::unix::process::parent_id();
    PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("skipped-tests").join(run.to_string())
}

/// Skips the running test, which needs what `missing` says. Call it, then return from the test.
pub fn skip(missing: &str) {
    if std::env::var("CI").is_ok_and(|v| v == "true") {
        panic!("{missing} (CI=true: a missing peer is a failure; `{INSTALL}` installs every peer)");
    }
    let test = std::thread::current().name().unwrap_or("an unnamed test").to_string();
    // The harness captures `eprintln!`, not writes to the stderr handle itself.
    let _ = writeln!(std::io::stderr(), "SKIPPED {test}: {missing}; `{INSTALL}` installs every test peer");
    let file = record_file();
    if let Some(dir) = file.parent() {
        let _ = std::fs::create_dir_all(dir);
    }
    if let Ok(mut f) = std::fs::OpenOptions::new().create(true).append(true).open(&file) {
        let _ = writeln!(f, "{test}\t{missing}");
    }
}

/// Runs one SDK test of this very binary without its peers: the skip shows on the terminal
/// although the harness captures the test's output, is recorded for the run's summary, and with
/// `CI=true` fails the test.
#[test]
fn a_missing_peer_is_a_loud_recorded_skip_and_a_ci_failure() {
    let empty = tempfile::tempdir().unwrap();
    let test = "integration::sdk::typescript_sdk_client_lists_and_calls_through_the_gateway";
    let run = |ci: bool| {
        let mut cmd = std::process::Command::new(std::env::current_exe().unwrap());
        cmd.args([test, "--exact", "--test-threads", "1"]).env("MCPGW_TEST_TOOLS", empty.path()).env_remove("CI");
        if ci {
            cmd.env("CI", "true");
        }
        cmd.output().unwrap()
    };
    // Skips are recorded under the pid of the process that runs the test binary: this one.
    let record = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("skipped-tests").join(std::process::id().to_string());
    let _ = std::fs::remove_file(&record);

    let skipped = run(false);
    let stderr = String::from_utf8_lossy(&skipped.stderr);
    assert_eq!(skipped.status.code(), Some(0), "{stderr}");
    assert!(stderr.contains(&format!("SKIPPED {test}: needs Node.js")), "not shown on the terminal:\n{stderr}");
    assert!(stderr.contains(INSTALL), "{stderr}");
    let recorded = std::fs::read_to_string(&record).unwrap_or_default();
    let _ = std::fs::remove_file(&record);
    assert!(recorded.starts_with(&format!("{test}\tneeds Node.js")), "not recorded: {recorded:?}");

    let failed = run(true);
    assert_eq!(failed.status.code(), Some(101), "under CI a missing peer fails the test");
    assert!(!record.exists(), "a failure is not recorded as a skip");
}
