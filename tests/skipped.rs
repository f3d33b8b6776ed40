//! The run's last word on skipped tests. Integration tests whose external peer (an official
//! SDK, the conformance suite) is missing skip themselves and record it (`integration/peers.rs`);
//! cargo runs this target after `integration`, so the list of this run's skips, and the one
//! command that installs their peers, closes the output of `cargo test`. Under `CI=true` those
//! tests fail instead, so nothing is recorded.

use std::path::Path;

fn main() {
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join("skipped-tests");
    // The cargo process that runs this binary ran the integration tests too.
    let run = dir.join(std::os::unix::process::parent_id().to_string());
    let recorded = std::fs::read_to_string(&run).unwrap_or_default();
    // This run's record, and any left by the integration binary run on its own.
    let _ = std::fs::remove_dir_all(&dir);
    let mut skipped: Vec<(&str, &str)> = recorded.lines().filter_map(|l| l.split_once('\t')).collect();
    skipped.sort();
    skipped.dedup_by_key(|(test, _)| *test);
    if skipped.is_empty() {
        return;
    }
    println!(
        "\nSKIPPED {} tests: a peer they need is missing, so they did not run (the harness shows them as ok):",
        skipped.len()
    );
    for (test, missing) in &skipped {
        println!("  {test}: {missing}");
    }
    println!("Install their test peers with `bash .ci/run peers`, then run `cargo test` again.\n");
}
