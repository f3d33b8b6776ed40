//! `mcpgw serve`: load, bind, serve, reload on change, and stop cleanly on SIGTERM or Ctrl-C
//! (every stdio child is gone before the process exits).

use std::path::Path;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Instant;

use tokio::net::TcpListener;
use tokio::sync::watch;

use crate::config::diagnostic::render_text;
use crate::config::env::ProcessEnv;
use crate::reload::{self, Reloader};
use crate::server;
use crate::session::Sessions;
use crate::telemetry::{self, LogFormat};
use crate::transport::ServeContext;

/// Longest wait at shutdown for upstreams' in-flight calls to end.
const UPSTREAM_STOP: std::time::Duration = std::time::Duration::from_secs(10);

pub(super) fn run(path: &Path, listen: Option<&str>, log_format: LogFormat, threads: Option<usize>) -> ExitCode {
    telemetry::init(log_format);
    let mut builder = tokio::runtime::Builder::new_multi_thread();
    if let Some(n) = threads {
        builder.worker_threads(n.max(1));
    }
    let runtime = match builder.enable_all().build() {
        Ok(r) => r,
        Err(e) => {
            eprintln!("error: cannot start the async runtime: {e}");
            return ExitCode::from(1);
        }
    };
    runtime.block_on(serve(path, listen))
}

async fn serve(path: &Path, listen: Option<&str>) -> ExitCode {
    let started = Instant::now();
    let (reloader, warnings) = match Reloader::start(path, Arc::new(ProcessEnv)) {
        Ok(r) => r,
        Err(diagnostics) => {
            eprint!("{}", render_text(path, &diagnostics, false));
            return ExitCode::from(1);
        }
    };
    for w in &warnings {
        tracing::warn!("{w}");
    }
    let snapshot = reloader.live.snapshot();
    let address = match listen {
        Some(l) => l.to_string(),
        None => snapshot.model.listen.to_string(),
    };
    let listener = match TcpListener::bind(&address).await {
        Ok(l) => l,
        Err(e) => {
            tracing::error!(%address, error = %e, "cannot listen");
            reloader.shutdown().await;
            return ExitCode::from(1);
        }
    };
    let local_addr = match listener.local_addr() {
        Ok(a) => a,
        Err(e) => {
            tracing::error!(%address, error = %e, "cannot read the bound address");
            reloader.shutdown().await;
            return ExitCode::from(1);
        }
    };
    let local = local_addr.to_string();
    tracing::info!(
        address = %local, config = %path.display(), upstreams = snapshot.model.upstreams.len(),
        startup_us = started.elapsed().as_micros() as u64,
        "mcpgw listening; MCP at http://{local}/mcp"
    );
    reload::watch(&reloader);

    let (stop_tx, stop_rx) = watch::channel(false);
    let ctx = Arc::new(ServeContext {
        live: reloader.live.clone(),
        local_addr,
        sessions: Sessions::default(),
        shutting_down: stop_rx,
    });
    let reaper = tokio::spawn(forget_idle_sessions(ctx.clone()));
    server::serve(listener, ctx, async move {
        shutdown_signal().await;
        tracing::info!("shutting down");
        let _ = stop_tx.send(true);
    })
    .await;
    reaper.abort();
    // Upstreams get a bounded time to finish; children still running when the runtime drops are killed.
    if tokio::time::timeout(UPSTREAM_STOP, reloader.shutdown()).await.is_err() {
        tracing::warn!("upstreams still busy after {UPSTREAM_STOP:?}; stopping them anyway");
    }
    tracing::info!("stopped");
    ExitCode::SUCCESS
}

async fn forget_idle_sessions(ctx: Arc<ServeContext>) {
    let mut tick = tokio::time::interval(std::time::Duration::from_secs(30));
    loop {
        tick.tick().await;
        let idle = ctx.live.snapshot().model.serving.session_idle_timeout;
        let forgotten = ctx.sessions.forget_idle(idle);
        if forgotten > 0 {
            tracing::info!(forgotten, "forgot idle client sessions");
        }
    }
}

async fn shutdown_signal() {
    use tokio::signal::unix::{SignalKind, signal};
    let mut term = signal(SignalKind::terminate()).expect("installing a SIGTERM handler works on unix");
    tokio::select! {
        _ = tokio::signal::ctrl_c() => {}
        _ = term.recv() => {}
    }
}
