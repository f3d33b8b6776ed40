//! `mcpgw serve`: load, bind, serve, reload on change, and stop cleanly on SIGTERM or Ctrl-C
//! (every stdio child is gone before the process exits).

use std::process::ExitCode;
use std::sync::Arc;
use std::time::Instant;

use tokio::net::TcpListener;
use tokio::sync::watch;

use crate::config::diagnostic::render_text;
use crate::config::env::ProcessEnv;
use crate::reload::{self, Reloader, Source};
use crate::server;
use crate::telemetry::{self, LogFormat};
use crate::transport::ServeContext;
use crate::workers::Workers;

/// Longest wait at shutdown for upstreams' in-flight calls to end.
const UPSTREAM_STOP: std::time::Duration = std::time::Duration::from_secs(10);

pub(super) fn run(source: Source, listen: Option<&str>, log_format: LogFormat, threads: Option<usize>) -> ExitCode {
    telemetry::init(log_format);
    // The main thread supervises upstreams and reloads; the serving threads take the connections.
    let main = tokio::runtime::Builder::new_current_thread().enable_all().build();
    let threads = threads.unwrap_or_else(|| std::thread::available_parallelism().map_or(1, |n| n.get()));
    let (main, workers) = match (main, Workers::start(threads)) {
        (Ok(main), Ok(workers)) => (main, workers),
        (Err(e), _) | (_, Err(e)) => {
            eprintln!("error: cannot start the async runtime: {e}");
            return ExitCode::from(1);
        }
    };
    let code = main.block_on(serve(source, listen, &workers));
    workers.stop();
    code
}

/// `mcpgw stdio`: the same load and reload, one client on stdin/stdout, no listener.
pub(super) fn run_stdio(source: Source, server: &str, log_format: LogFormat) -> ExitCode {
    telemetry::init(log_format);
    match runtime(Some(1)) {
        Ok(r) => {
            let code = r.block_on(serve_stdio(source, server));
            // A read from stdin may still be blocking a thread; do not wait for it.
            r.shutdown_timeout(std::time::Duration::from_millis(200));
            code
        }
        Err(code) => code,
    }
}

fn runtime(threads: Option<usize>) -> Result<tokio::runtime::Runtime, ExitCode> {
    let mut builder = tokio::runtime::Builder::new_multi_thread();
    if let Some(n) = threads {
        builder.worker_threads(n.max(1));
    }
    builder.enable_all().build().map_err(|e| {
        eprintln!("error: cannot start the async runtime: {e}");
        ExitCode::from(1)
    })
}

/// Loads the config and starts its upstreams; an invalid config is printed and is exit code 1.
fn start(source: Source) -> Result<Arc<Reloader>, ExitCode> {
    let path = source.label().to_path_buf();
    let (reloader, warnings) = Reloader::start(source, Arc::new(ProcessEnv)).map_err(|diagnostics| {
        eprint!("{}", render_text(&path, &diagnostics, false));
        ExitCode::from(1)
    })?;
    for w in &warnings {
        tracing::warn!("{w}");
    }
    Ok(reloader)
}

async fn serve_stdio(source: Source, server: &str) -> ExitCode {
    let path = source.label().to_path_buf();
    let reloader = match start(source) {
        Ok(r) => r,
        Err(code) => return code,
    };
    if reloader.live.snapshot().model.virtual_server(server).is_none() {
        eprintln!("error: {}: no virtual server named \"{server}\"", path.display());
        reloader.shutdown().await;
        return ExitCode::from(1);
    }
    reload::watch(&reloader);
    // A desktop client lists tools right after initialize: give upstreams a moment to connect first.
    let settle = async {
        while !reloader.live.snapshot().settled() {
            tokio::time::sleep(std::time::Duration::from_millis(10)).await;
        }
    };
    let _ = tokio::time::timeout(std::time::Duration::from_secs(10), settle).await;
    let (_stop_tx, stop_rx) = watch::channel(false);
    let ctx =
        Arc::new(ServeContext::new(reloader.live.clone(), std::net::SocketAddr::from(([127, 0, 0, 1], 0)), stop_rx));
    tokio::select! {
        _ = crate::transport::stdio::serve(ctx, server.to_string(), tokio::io::stdin(), tokio::io::stdout()) => {}
        _ = shutdown_signal() => tracing::info!("shutting down"),
    }
    if tokio::time::timeout(UPSTREAM_STOP, reloader.shutdown()).await.is_err() {
        tracing::warn!("upstreams still busy after {UPSTREAM_STOP:?}; stopping them anyway");
    }
    ExitCode::SUCCESS
}

async fn serve(source: Source, listen: Option<&str>, workers: &Workers) -> ExitCode {
    let started = Instant::now();
    raise_file_limit();
    let path = source.label().to_path_buf();
    let reloader = match start(source) {
        Ok(r) => r,
        Err(code) => return code,
    };
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
    let (scheme, tls) = if snapshot.model.serving.tls.is_some() { ("https", true) } else { ("http", false) };
    tracing::info!(
        address = %local, config = %path.display(), upstreams = snapshot.model.upstreams.len(),
        startup_us = started.elapsed().as_micros() as u64, tls,
        "mcpgw listening; MCP at {scheme}://{local}/mcp"
    );
    reload::watch(&reloader);

    let (stop_tx, stop_rx) = watch::channel(false);
    let ctx = Arc::new(ServeContext::new(reloader.live.clone(), local_addr, stop_rx));
    let reaper = tokio::spawn(forget_idle_sessions(ctx.clone()));
    server::serve(listener, ctx, workers.handles(), async move {
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

/// Raises the soft limit on open files to the hard one: every client connection, upstream
/// connection and child pipe holds a descriptor, and the soft default (often 1024) runs out first.
fn raise_file_limit() {
    use rustix::process::{Resource, getrlimit, setrlimit};
    let limit = getrlimit(Resource::Nofile);
    let (Some(current), maximum) = (limit.current, limit.maximum) else { return };
    // An unlimited hard limit still has a kernel ceiling (`nr_open`, 1 Mi by default).
    let wanted = maximum.unwrap_or(1 << 20);
    if current >= wanted {
        return;
    }
    match setrlimit(Resource::Nofile, rustix::process::Rlimit { current: Some(wanted), maximum }) {
        Ok(()) => tracing::info!(from = current, to = wanted, "raised the open-file limit"),
        Err(e) => tracing::warn!(current, error = %e, "could not raise the open-file limit"),
    }
}
