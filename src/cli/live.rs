//! Commands that need the upstreams connected without serving (`check --live`, `pin`): start
//! them from the file, wait until each had its first attempt, run, stop them.

use std::path::Path;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::config::diagnostic::render_text;
use crate::config::env::ProcessEnv;
use crate::reload::{Reloader, Source};

/// Runs `work` with every upstream of the file connected (or given up on after `wait`) and the
/// table built from what they report.
pub(super) fn with_upstreams<T>(
    config: &Path,
    wait: Duration,
    work: impl AsyncFnOnce(&Reloader) -> T,
) -> Result<T, ExitCode> {
    let runtime = tokio::runtime::Builder::new_multi_thread().worker_threads(1).enable_all().build().map_err(|e| {
        eprintln!("error: cannot start the async runtime: {e}");
        ExitCode::from(1)
    })?;
    runtime.block_on(async {
        let (reloader, _) = Reloader::start(Source::File(config.to_path_buf()), Arc::new(ProcessEnv)).map_err(|d| {
            eprint!("{}", render_text(config, &d, false));
            ExitCode::from(1)
        })?;
        let deadline = Instant::now() + wait;
        while !reloader.live.snapshot().settled() && Instant::now() < deadline {
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        reloader.rebuild().await;
        let out = work(&reloader).await;
        reloader.shutdown().await;
        Ok(out)
    })
}
