//! stdio upstreams: a child process speaking newline-delimited JSON-RPC on stdin/stdout.
//! Its stderr is logged under the upstream's name; it dies with its connection.

use std::collections::HashMap;
use std::process::Stdio;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde_json::value::RawValue;
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::process::{Child, Command};
use tokio::sync::{mpsc, oneshot, watch};

use super::UpstreamError;
use super::connection::route_incoming;
use super::relay::Inbox;
use crate::model::StdioCommand;
use crate::protocol::RawJson;
use crate::protocol::jsonrpc::{self, encode_notification, encode_request};

/// How long a child gets to exit after its stdin closes before it is killed.
const EXIT_GRACE: Duration = Duration::from_secs(2);

type Pending = Arc<Mutex<HashMap<u64, oneshot::Sender<Result<RawJson, RawJson>>>>>;

pub struct StdioConnection {
    name: String,
    writer: mpsc::Sender<Vec<u8>>,
    pending: Pending,
    next_id: AtomicU64,
    closed: watch::Receiver<bool>,
    /// Set (or dropped with the connection) to end the child: stdin closes, then a kill after `EXIT_GRACE`.
    closing: watch::Sender<bool>,
    exited: watch::Receiver<bool>,
}

impl StdioConnection {
    pub(super) fn spawn(name: &str, cmd: &StdioCommand, inbox: Inbox) -> Result<Self, UpstreamError> {
        let mut child = Command::new(&cmd.command)
            .args(&cmd.args)
            .envs(cmd.env.iter().map(|(k, v)| (k, v.expose())))
            .current_dir(&cmd.cwd)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .kill_on_drop(true)
            .spawn()
            .map_err(|e| UpstreamError::Transport(name.into(), format!("start `{}`: {e}", cmd.command)))?;
        let stdin = child.stdin.take().expect("stdin is piped");
        let stdout = child.stdout.take().expect("stdout is piped");
        let stderr = child.stderr.take().expect("stderr is piped");
        let pid = child.id();
        tracing::debug!(upstream = %name, pid, command = %cmd.command, "started child process");

        let pending: Pending = Arc::default();
        let (writer, mut outbox) = mpsc::channel::<Vec<u8>>(256);
        let (closed_tx, closed) = watch::channel(false);
        let (exited_tx, exited) = watch::channel(false);
        let (closing, _) = watch::channel(false);

        // Writer: one task owns stdin; when every sender is gone, stdin closes and the child sees EOF.
        let mut writer_closing = closing.subscribe();
        tokio::spawn(async move {
            let mut stdin = stdin;
            loop {
                let mut line = tokio::select! {
                    line = outbox.recv() => match line { Some(l) => l, None => break },
                    _ = async { let _ = writer_closing.wait_for(|c| *c).await; } => break,
                };
                line.push(b'\n');
                if stdin.write_all(&line).await.is_err() || stdin.flush().await.is_err() {
                    break;
                }
            }
        });

        // Reader: responses complete pending requests; requests from the child are answered.
        let reader_pending = pending.clone();
        let reply_writer = writer.downgrade();
        let upstream = name.to_string();
        tokio::spawn(async move {
            let mut lines = BufReader::new(stdout).lines();
            while let Ok(Some(line)) = lines.next_line().await {
                if line.trim().is_empty() {
                    continue;
                }
                route_incoming(
                    &upstream,
                    line.as_bytes(),
                    &inbox,
                    |id, outcome| {
                        let waiter =
                            id.get().parse::<u64>().ok().and_then(|n| reader_pending.lock().unwrap().remove(&n));
                        match waiter {
                            Some(w) => {
                                let _ = w.send(outcome);
                            }
                            None => {
                                tracing::warn!(upstream = %upstream, id = id.get(), "response to an unknown request id")
                            }
                        }
                    },
                    async |bytes| {
                        if let Some(w) = reply_writer.upgrade() {
                            let _ = w.send(bytes).await;
                        }
                    },
                )
                .await;
            }
            reader_pending.lock().unwrap().clear();
            let _ = closed_tx.send(true);
        });

        let upstream = name.to_string();
        tokio::spawn(async move {
            let mut lines = BufReader::new(stderr).lines();
            while let Ok(Some(line)) = lines.next_line().await {
                tracing::info!(upstream = %upstream, stream = "stderr", "{line}");
            }
        });

        tokio::spawn(reap(name.to_string(), child, closing.subscribe(), exited_tx));

        Ok(StdioConnection {
            name: name.to_string(),
            writer,
            pending,
            next_id: AtomicU64::new(1),
            closed,
            closing,
            exited,
        })
    }

    pub(super) async fn request(
        &self,
        method: &str,
        params: Option<&RawValue>,
        timeout: Duration,
    ) -> Result<RawJson, UpstreamError> {
        let id = self.next_id.fetch_add(1, Ordering::Relaxed);
        let (tx, rx) = oneshot::channel();
        self.pending.lock().unwrap().insert(id, tx);
        let mut guard = CancelOnDrop { connection: self, id, reason: "the client went away", armed: true };
        if self.writer.send(encode_request(id, method, params)).await.is_err() {
            guard.armed = false;
            self.pending.lock().unwrap().remove(&id);
            return Err(UpstreamError::Unavailable(self.name.clone()));
        }
        let outcome = tokio::time::timeout(timeout, rx).await;
        guard.armed = outcome.is_err();
        guard.reason = "timeout";
        match outcome {
            Ok(Ok(Ok(result))) => Ok(result),
            Ok(Ok(Err(error))) => Err(UpstreamError::Rpc(error)),
            Ok(Err(_)) => {
                Err(UpstreamError::Transport(self.name.clone(), "the process exited during the request".into()))
            }
            Err(_) => Err(UpstreamError::Timeout(self.name.clone(), timeout)),
        }
    }

    pub(super) async fn notify(&self, method: &str, params: Option<&RawValue>) {
        let _ = self.writer.send(encode_notification(method, params)).await;
    }

    pub(super) async fn closed(&self) {
        let mut closed = self.closed.clone();
        let _ = closed.wait_for(|c| *c).await;
    }

    pub(super) async fn shutdown(&self) {
        self.closing.send_replace(true);
        let mut exited = self.exited.clone();
        let _ = exited.wait_for(|e| *e).await;
    }
}

/// Sends `notifications/cancelled` for a request abandoned before its answer came (timeout, or
/// the caller's future dropped because the client cancelled or disconnected).
struct CancelOnDrop<'a> {
    connection: &'a StdioConnection,
    id: u64,
    reason: &'static str,
    armed: bool,
}

impl Drop for CancelOnDrop<'_> {
    fn drop(&mut self) {
        if !self.armed {
            return;
        }
        self.connection.pending.lock().unwrap().remove(&self.id);
        let cancel = jsonrpc::raw(&serde_json::json!({ "requestId": self.id, "reason": self.reason }));
        // Best effort: if stdin's queue is full the child is not reading anyway.
        let _ = self.connection.writer.try_send(encode_notification("notifications/cancelled", Some(&cancel)));
    }
}

/// Owns the child: waits for it to exit, or once closing (the writer has dropped stdin by then)
/// gives it `EXIT_GRACE` to exit on its own, then kills it.
async fn reap(name: String, mut child: Child, mut closing: watch::Receiver<bool>, exited: watch::Sender<bool>) {
    let status = tokio::select! {
        status = child.wait() => status,
        _ = async { let _ = closing.wait_for(|c| *c).await; } => {
            match tokio::time::timeout(EXIT_GRACE, child.wait()).await {
                Ok(status) => status,
                Err(_) => {
                    let _ = child.start_kill();
                    child.wait().await
                }
            }
        }
    };
    match status {
        Ok(s) => tracing::info!(upstream = %name, status = %s, "child process exited"),
        Err(e) => {
            tracing::warn!(upstream = %name, error = %e, "waiting for the child process failed")
        }
    }
    let _ = exited.send(true);
}
