//! A new connection's first request must start within `serving.header_timeout`: the first
//! bytes are read here (an HTTP/2 preface's length, or a whole short HTTP/1 head) and handed to
//! hyper again through `Prefixed`, so a client that connects and sends nothing, trickles, or sends
//! half a preface holds its socket no longer than that, on plain and TLS connections alike.

use std::time::Duration;

use tokio::io::{AsyncRead, AsyncReadExt as _, AsyncWrite};

/// The HTTP/2 connection preface's length: a request has started once this much has come, or a
/// whole short HTTP/1 request head.
const PREFACE_LEN: usize = 24;

/// `stream` once its first request has started, with the bytes read to see it; `None` (and
/// the connection dropped) when none started within `deadline`.
pub(crate) async fn started<S: AsyncRead + Unpin>(
    mut stream: S,
    deadline: Option<Duration>,
    peer: std::net::SocketAddr,
) -> Option<Prefixed<S>> {
    let first = match deadline {
        None => Vec::new(),
        Some(deadline) => match request_start(&mut stream, deadline).await {
            Some(first) => first,
            None => {
                tracing::debug!(%peer, "no request started in time; closing the connection");
                return None;
            }
        },
    };
    Some(Prefixed::new(first, stream))
}

/// The first bytes of a new connection, once a request has started within `deadline`: an
/// HTTP/2 preface's length, or a whole short HTTP/1 head, or the client closing. `None` when none
/// started in time: a client that connects and sends nothing, or a trickle, or half a preface,
/// holds its socket no longer than `deadline`.
async fn request_start<S>(stream: &mut S, deadline: Duration) -> Option<Vec<u8>>
where
    S: AsyncRead + Unpin,
{
    let started = async {
        let mut first = Vec::with_capacity(1024);
        loop {
            match stream.read_buf(&mut first).await {
                Ok(0) | Err(_) => return first,
                Ok(_) if first.len() >= PREFACE_LEN || first.windows(4).any(|w| w == b"\r\n\r\n") => return first,
                Ok(_) => {}
            }
        }
    };
    tokio::time::timeout(deadline, started).await.ok()
}

/// A stream whose first bytes were read already: they are read again first.
pub(crate) struct Prefixed<S> {
    first: Vec<u8>,
    stream: S,
    at: usize,
}

impl<S> Prefixed<S> {
    fn new(first: Vec<u8>, stream: S) -> Self {
        Prefixed { first, stream, at: 0 }
    }
}

impl<S: AsyncRead + Unpin> AsyncRead for Prefixed<S> {
    fn poll_read(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
        buf: &mut tokio::io::ReadBuf<'_>,
    ) -> std::task::Poll<std::io::Result<()>> {
        if self.at < self.first.len() {
            let n = buf.remaining().min(self.first.len() - self.at);
            buf.put_slice(&self.first[self.at..self.at + n]);
            self.at += n;
            if self.at == self.first.len() {
                self.first = Vec::new();
                self.at = 0;
            }
            return std::task::Poll::Ready(Ok(()));
        }
        std::pin::Pin::new(&mut self.stream).poll_read(cx, buf)
    }
}

impl<S: AsyncWrite + Unpin> AsyncWrite for Prefixed<S> {
    fn poll_write(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
        data: &[u8],
    ) -> std::task::Poll<std::io::Result<usize>> {
        std::pin::Pin::new(&mut self.stream).poll_write(cx, data)
    }

    fn poll_flush(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<std::io::Result<()>> {
        std::pin::Pin::new(&mut self.stream).poll_flush(cx)
    }

    fn poll_shutdown(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<std::io::Result<()>> {
        std::pin::Pin::new(&mut self.stream).poll_shutdown(cx)
    }

    fn poll_write_vectored(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
        bufs: &[std::io::IoSlice<'_>],
    ) -> std::task::Poll<std::io::Result<usize>> {
        std::pin::Pin::new(&mut self.stream).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.stream.is_write_vectored()
    }
}
