//! stdio serving: one client on stdin/stdout, newline-delimited JSON-RPC, for desktop clients
//! that launch a local command. The connection is the session. Logs go to stderr only.

use std::sync::Arc;

use tokio::io::{AsyncRead, AsyncWrite, AsyncWriteExt, BufReader};
use tokio::sync::mpsc;

use super::ServeContext;
use super::conversation::Conversation;
use crate::protocol::lines::{Line, next_line};
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
    // A line may be as long as a message may be; a longer one is skipped, never held.
    let max = ctx.live.snapshot().model.serving.max_body_bytes;
    let mut conversation = Conversation::new(ctx, virtual_server, Caller::anonymous(Binding::Stdio, None), out);
    let mut input = BufReader::new(input);
    let mut line = Vec::new();
    loop {
        match next_line(&mut input, &mut line, max).await {
            // Bytes, not text: a line that is not UTF-8 is answered as a parse error, and the
            // next one read.
            Ok(Line::Complete) if line.trim_ascii().is_empty() => {}
            Ok(Line::Complete) => conversation.receive(&line).await,
            Ok(Line::TooLong) => conversation.refuse_oversized(max).await,
            Ok(Line::End) | Err(_) => break,
        }
    }
    tracing::info!("stdio client closed its input");
    // Requests already read are still answered, so `echo '…' | mcpgw stdio` works.
    conversation.finish().await;
    let _ = writer.await;
}
