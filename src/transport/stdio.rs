//! stdio serving: one client on stdin/stdout, newline-delimited JSON-RPC, for desktop clients
//! that launch a local command. The connection is the session. Logs go to stderr only.

use std::sync::Arc;

use tokio::io::{AsyncBufReadExt, AsyncRead, AsyncWrite, AsyncWriteExt, BufReader};
use tokio::sync::mpsc;

use super::ServeContext;
use super::conversation::Conversation;
use crate::session::{Binding, Caller};

/// Serves one client until its input ends.
pub(crate) async fn serve(
    ctx: Arc<ServeContext>,
    virtual_server: String,
    input: impl AsyncRead + Unpin,
    output: impl AsyncWrite + Unpin + Send + 'static,
) {
    let (out, mut outbox) = mpsc::channel::<Vec<u8>>(256);
    let writer = tokio::spawn(async move {
        let mut output = output;
        while let Some(mut line) = outbox.recv().await {
            line.push(b'\n');
            if output.write_all(&line).await.is_err() || output.flush().await.is_err() {
                break;
            }
        }
    });
    let mut conversation = Conversation::new(ctx, virtual_server, Caller::anonymous(Binding::Stdio, None), out);
    let mut lines = BufReader::new(input).lines();
    while let Ok(Some(line)) = lines.next_line().await {
        if !line.trim().is_empty() {
            conversation.receive(line.as_bytes()).await;
        }
    }
    tracing::info!("stdio client closed its input");
    // Requests already read are still answered, so `echo '…' | mcpgw stdio` works.
    conversation.finish().await;
    let _ = writer.await;
}
