//! stdio upstreams: a child process speaking newline-delimited JSON-RPC on stdin/stdout.
//! Its stderr is logged under the upstream's name; it dies with its connection.

use std::process::Stdio;
use std::sync::Arc;
use std::time::Duration;

use serde_json::value::RawValue;
use tokio::io::{AsyncWriteExt, BufReader};
use tokio::process::{Child, Command};
use tokio::sync::watch;

use super::UpstreamError;
use super::connection::{BoxFuture, Connection};
use super::peer::Peer;
use super::wire::Inbox;
use crate::model::StdioCommand;
use crate::protocol::RawJson;
use crate::protocol::lines::{Line, next_line};
use crate::session::Link;

/// How long a child gets to exit after its stdin closes before it is killed.
const EXIT_GRACE: Duration = Duration::from_secs(2);

pub(crate) struct StdioConnection {
    pub(super) peer: Arc<Peer>,
    /// Set (or dropped with the connection) to end the child: stdin closes, then a kill after `EXIT_GRACE`.
    closing: watch::Sender<bool>,
    exited: watch::Receiver<bool>,
    /// The child answered `server/discover`: requests are stateless (2026-07-28).
    stateless: std::sync::atomic::AtomicBool,
    /// Resources session-based clients subscribed to, carried by the `subscriptions/listen`.
    subscribed: std::sync::Mutex<std::collections::BTreeSet<String>>,
    /// The id of the `subscriptions/listen` open now; ids count down from `u64::MAX`, so they
    /// never meet the peer's own (which count up from 1).
    listen_id: std::sync::atomic::AtomicU64,
    /// How the child ended and what it said last, for the error of a start that failed.
    last_words: Arc<LastWords>,
}

/// A child's last stderr lines and its exit status, once it exited.
pub(super) struct LastWords {
    stderr: std::sync::Mutex<std::collections::VecDeque<String>>,
    status: std::sync::Mutex<Option<String>>,
    /// What has ended of the two things told: the exit (status known) and stderr (read to its
    /// end); both, once this is 2.
    ended: watch::Sender<u8>,
}

impl Default for LastWords {
    fn default() -> Self {
        LastWords { stderr: Default::default(), status: Default::default(), ended: watch::channel(0).0 }
    }
}

/// Stderr lines kept for an error message, and the longest kept whole.
const LAST_LINES: usize = 5;
const LAST_LINE_CHARS: usize = 300;

impl LastWords {
    fn heard(&self, line: &str) {
        let mut lines = self.stderr.lock().unwrap();
        if lines.len() == LAST_LINES {
            lines.pop_front();
        }
        lines.push_back(line.chars().take(LAST_LINE_CHARS).collect());
    }

    fn ended(&self) {
        self.ended.send_modify(|n| *n += 1);
    }

    /// `e`, the failure of a start, told with the child's exit status and last stderr lines when
    /// the child exited (waiting briefly for the exit, and the rest of its stderr, to be read).
    pub(super) async fn explain(&self, name: &str, e: UpstreamError) -> UpstreamError {
        let mut ended = self.ended.subscribe();
        let _ = tokio::time::timeout(Duration::from_millis(500), ended.wait_for(|n| *n >= 2)).await;
        let Some(status) = self.status.lock().unwrap().clone() else { return e };
        let lines: Vec<String> = self.stderr.lock().unwrap().iter().cloned().collect();
        let said = if lines.is_empty() {
            "and wrote nothing to stderr".to_string()
        } else {
            format!("and its stderr ended with: {}", lines.join(" | "))
        };
        UpstreamError::Transport(name.into(), format!("the child process exited ({status}) {said}"))
    }
}

/// Longest wait for a child's answer to `server/discover` before it is taken for a
/// session-based server (which may not answer anything before `initialize`).
pub(super) const PROBE: Duration = Duration::from_secs(2);

impl StdioConnection {
    /// How the child ended and what it said last.
    pub(super) fn last_words(&self) -> Arc<LastWords> {
        self.last_words.clone()
    }

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
        tracing::debug!(upstream = %name, pid = child.id(), command = %cmd.command, "started child process");

        let (peer, mut outbox) = Peer::new(name, inbox);
        let (exited_tx, exited) = watch::channel(false);
        let (closing, _) = watch::channel(false);

        // Writer: one task owns stdin; when closing, stdin closes and the child sees EOF. It
        // also ends the peer, once the reader has ended, so that what it never wrote fails as
        // unsent (sent again on the next child), not as lost.
        let mut writer_closing = closing.subscribe();
        let (read_all, mut reader_ended) = tokio::sync::oneshot::channel::<()>();
        let writer = peer.clone();
        tokio::spawn(async move {
            let mut stdin = stdin;
            loop {
                let mut line = tokio::select! {
                    biased;
                    _ = &mut reader_ended => break,
                    _ = async { let _ = writer_closing.wait_for(|c| *c).await; } => break,
                    line = outbox.recv() => match line { Some(l) => l, None => break },
                };
                line.push(b'\n');
                if stdin.write_all(&line).await.is_err() || stdin.flush().await.is_err() {
                    // The child is gone (its stdin closed): this line never reached it.
                    writer.unsent(&line);
                    break;
                }
            }
            outbox.close();
            while let Ok(line) = outbox.try_recv() {
                writer.unsent(&line);
            }
            writer.mark_closed();
        });

        let reader = peer.clone();
        let upstream = name.to_string();
        tokio::spawn(async move {
            let mut stdout = BufReader::new(stdout);
            let mut line = Vec::new();
            loop {
                match next_line(&mut stdout, &mut line, MAX_MESSAGE_BYTES).await {
                    Ok(Line::Complete) if line.trim_ascii().is_empty() => {}
                    Ok(Line::Complete) => reader.receive(&line).await,
                    Ok(Line::End) => break,
                    Ok(Line::TooLong) => {
                        tracing::warn!(upstream = %upstream, "a message over {MAX_MESSAGE_BYTES} bytes; dropping the connection");
                        reader.drop_oversized();
                        break;
                    }
                    Err(e) => {
                        tracing::warn!(upstream = %upstream, error = %e, "dropping the connection");
                        break;
                    }
                }
            }
            drop(read_all);
        });

        let upstream = name.to_string();
        let last_words = Arc::new(LastWords::default());
        let words = last_words.clone();
        tokio::spawn(async move {
            let mut stderr = BufReader::new(stderr);
            let mut line = Vec::new();
            loop {
                match next_line(&mut stderr, &mut line, MAX_LOG_LINE_BYTES).await {
                    Ok(Line::Complete) => {
                        let text = String::from_utf8_lossy(&line);
                        words.heard(&text);
                        tracing::info!(upstream = %upstream, stream = "stderr", "{text}")
                    }
                    // Reading on keeps the child from blocking on a full pipe.
                    Ok(Line::TooLong) => {
                        tracing::info!(upstream = %upstream, stream = "stderr", "(a line over {MAX_LOG_LINE_BYTES} bytes, not shown)")
                    }
                    Ok(Line::End) | Err(_) => break,
                }
            }
            words.ended();
        });

        tokio::spawn(reap(name.to_string(), child, closing.subscribe(), exited_tx, last_words.clone()));
        Ok(StdioConnection {
            last_words,
            peer,
            closing,
            exited,
            stateless: Default::default(),
            subscribed: Default::default(),
            listen_id: std::sync::atomic::AtomicU64::new(u64::MAX),
        })
    }

    /// Asks whether the child speaks the stateless protocol (the probe the specification gives
    /// stdio clients). When it answers, the connection is stateless from now on and its list
    /// changes come on a `subscriptions/listen`; otherwise `None`, and it gets `initialize`.
    pub(super) async fn discover(&self, timeout: Duration) -> Option<super::wire::Established> {
        let params = super::stateless::params(None, None);
        let result = self.peer.request("server/discover", Some(&params), timeout.min(PROBE), None).await.ok()?;
        let established = super::stateless::discovered(&result)?;
        self.stateless.store(true, std::sync::atomic::Ordering::Release);
        self.listen().await;
        Some(established)
    }

    /// Opens a `subscriptions/listen` with the current subscriptions, ending the one before.
    async fn listen(&self) {
        use std::sync::atomic::Ordering;
        let params = super::stateless::listen_params(&self.subscribed.lock().unwrap());
        let id = self.listen_id.fetch_sub(1, Ordering::AcqRel) - 1;
        if id < u64::MAX - 1 {
            let previous = crate::protocol::jsonrpc::raw(&serde_json::json!({ "requestId": id + 1 }));
            self.peer.notify("notifications/cancelled", Some(&previous)).await;
        }
        self.peer.send(crate::protocol::jsonrpc::encode_request(id, "subscriptions/listen", Some(&params))).await;
    }

    pub(super) async fn request(
        &self,
        method: &str,
        params: Option<&RawValue>,
        timeout: Duration,
        client: Option<&Link>,
    ) -> Result<RawJson, UpstreamError> {
        if self.stateless.load(std::sync::atomic::Ordering::Acquire) {
            if let Some(changed) = super::stateless::subscription(method, params, &self.subscribed) {
                if changed {
                    self.listen().await;
                }
                return Ok(crate::protocol::jsonrpc::raw(&serde_json::json!({})));
            }
            let upstream = self.peer.name().to_string();
            let send = |method, params: RawJson| async move {
                self.peer.request(method, Some(&params), timeout, client).await
            };
            return super::stateless::request(&upstream, method, params, client, timeout, send).await;
        }
        self.peer.request(method, params, timeout, client).await
    }

    pub(super) async fn shutdown(&self) {
        self.closing.send_replace(true);
        let mut exited = self.exited.clone();
        let _ = exited.wait_for(|e| *e).await;
    }
}

impl Connection for StdioConnection {
    fn request<'a>(
        &'a self,
        method: &'a str,
        params: Option<&'a RawValue>,
        timeout: Duration,
        client: Option<&'a Link>,
    ) -> BoxFuture<'a, Result<RawJson, UpstreamError>> {
        Box::pin(StdioConnection::request(self, method, params, timeout, client))
    }

    fn notify<'a>(&'a self, method: &'a str, params: Option<&'a RawValue>) -> BoxFuture<'a, ()> {
        Box::pin(self.peer.notify(method, params))
    }

    fn set_client(&self, link: &Link, timeout: Duration) {
        self.peer.set_client(link.clone(), timeout);
    }

    fn closed(&self) -> BoxFuture<'_, ()> {
        Box::pin(self.peer.closed())
    }

    fn shutdown(&self) -> BoxFuture<'_, ()> {
        Box::pin(StdioConnection::shutdown(self))
    }
}

/// Owns the child: waits for it to exit, or once closing (the writer has dropped stdin by then)
/// gives it `EXIT_GRACE` to exit on its own, then kills it.
async fn reap(
    name: String,
    mut child: Child,
    mut closing: watch::Receiver<bool>,
    exited: watch::Sender<bool>,
    last_words: Arc<LastWords>,
) {
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
    let told = match status {
        Ok(s) => {
            tracing::info!(upstream = %name, status = %s, "child process exited");
            s.to_string()
        }
        Err(e) => {
            tracing::warn!(upstream = %name, error = %e, "waiting for the child process failed");
            format!("status unknown: {e}")
        }
    };
    *last_words.status.lock().unwrap() = Some(told);
    last_words.ended();
    let _ = exited.send(true);
}

/// The longest stderr line logged whole.
const MAX_LOG_LINE_BYTES: usize = 64 << 10;

/// The longest message line read from a child (as large as an SSE event or a WebSocket message may be).
const MAX_MESSAGE_BYTES: usize = crate::protocol::sse::MAX_EVENT_BYTES;
