//! Server-sent events framing (the WHATWG event-stream format): an incremental decoder for
//! streams read from upstreams, and the encoder for streams written to clients.

/// One decoded event.
#[derive(Debug, Default, Clone, PartialEq)]
pub(crate) struct Event {
    pub event: Option<String>,
    pub data: String,
    pub id: Option<String>,
}

/// The largest event a decoder takes (64 MiB, as large as a WebSocket message may be): a stream
/// that sends more without ending the event is broken, not buffered until memory runs out.
pub(crate) const MAX_EVENT_BYTES: usize = 64 << 20;

/// Feeds bytes in, gets whole events out. Handles `\n`, `\r\n` and `\r` line ends split across chunks.
#[derive(Default)]
pub(crate) struct Decoder {
    buffer: Vec<u8>,
    /// How much of `buffer` is known to hold no line end, so a long line arriving in many chunks
    /// is scanned once rather than once per chunk.
    scanned: usize,
    /// An event grew past `MAX_EVENT_BYTES`; the stream should be dropped.
    pub too_large: bool,
    current: Event,
    has_data: bool,
    /// The stream's last event id, kept even from events with no data (a priming event), as a
    /// reconnecting client sends it in `Last-Event-ID`.
    pub last_event_id: Option<String>,
    /// The reconnection delay the server asked for, in milliseconds.
    pub retry: Option<u64>,
}

impl Decoder {
    /// The stream goes on over a new connection: a half-received event is dropped, the last
    /// event id and the retry delay are kept.
    pub(crate) fn reconnected(&mut self) {
        self.buffer.clear();
        self.scanned = 0;
        self.current = Event::default();
        self.has_data = false;
    }

    pub(crate) fn feed(&mut self, chunk: &[u8]) -> Vec<Event> {
        if self.too_large {
            return Vec::new();
        }
        self.buffer.extend_from_slice(chunk);
        let mut events = Vec::new();
        let mut start = 0;
        let mut i = self.scanned;
        while i < self.buffer.len() {
            let b = self.buffer[i];
            if b == b'\n' || b == b'\r' {
                // A trailing `\r` may be the first half of `\r\n`: wait for more bytes.
                if b == b'\r' && i + 1 == self.buffer.len() {
                    break;
                }
                let line = String::from_utf8_lossy(&self.buffer[start..i]).into_owned();
                if b == b'\r' && self.buffer.get(i + 1) == Some(&b'\n') {
                    i += 1;
                }
                if let Some(event) = self.line(&line) {
                    events.push(event);
                }
                start = i + 1;
            }
            i += 1;
        }
        self.buffer.drain(..start);
        self.scanned = i - start;
        if self.buffer.len() + self.current.data.len() > MAX_EVENT_BYTES {
            self.too_large = true;
            self.buffer = Vec::new();
            self.current = Event::default();
        }
        events
    }

    fn line(&mut self, line: &str) -> Option<Event> {
        if line.is_empty() {
            if !self.has_data {
                self.current = Event::default();
                return None;
            }
            self.has_data = false;
            let mut event = std::mem::take(&mut self.current);
            if event.data.ends_with('\n') {
                event.data.pop();
            }
            return Some(event);
        }
        if line.starts_with(':') {
            return None;
        }
        let (field, value) = match line.split_once(':') {
            Some((f, v)) => (f, v.strip_prefix(' ').unwrap_or(v)),
            None => (line, ""),
        };
        match field {
            "data" => {
                self.current.data.push_str(value);
                self.current.data.push('\n');
                self.has_data = true;
            }
            "event" => self.current.event = Some(value.to_string()),
            "id" if !value.contains('\0') => {
                self.current.id = Some(value.to_string());
                self.last_event_id = Some(value.to_string());
            }
            "retry" => {
                if let Ok(ms) = value.parse() {
                    self.retry = Some(ms);
                }
            }
            _ => {}
        }
        None
    }
}

/// One `message` event carrying `data` (which must not contain line breaks; JSON from serde never does).
pub(crate) fn encode(data: &[u8], id: Option<&str>) -> Vec<u8> {
    let mut out = Vec::with_capacity(data.len() + 32);
    if let Some(id) = id {
        out.extend_from_slice(b"id: ");
        out.extend_from_slice(id.as_bytes());
        out.push(b'\n');
    }
    out.extend_from_slice(b"event: message\ndata: ");
    out.extend_from_slice(data);
    out.extend_from_slice(b"\n\n");
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decodes_events_split_across_chunks() {
        let mut d = Decoder::default();
        assert!(d.feed(b"event: message\r\ndata: {\"a\"").is_empty());
        let events = d.feed(b":1}\r\n\r\n: keep-alive\n\ndata: x\ndata: y\n\n");
        assert_eq!(events.len(), 2);
        assert_eq!(events[0].data, "{\"a\":1}");
        assert_eq!(events[0].event.as_deref(), Some("message"));
        assert_eq!(events[1].data, "x\ny");
    }

    #[test]
    fn an_id_without_data_is_remembered_for_reconnecting() {
        let mut d = Decoder::default();
        assert!(d.feed(b"id: 4-0\nretry: 500\n\n").is_empty());
        assert_eq!((d.last_event_id.as_deref(), d.retry), (Some("4-0"), Some(500)));
        let events = d.feed(b"id: 4-0\ndata: \n\n");
        assert_eq!(events[0].data, "", "a priming event is an event with empty data");
    }

    #[test]
    fn a_long_line_in_many_chunks_is_whole() {
        let mut d = Decoder::default();
        assert!(d.feed(b"data: ").is_empty());
        for _ in 0..1000 {
            assert!(d.feed(b"abcdefgh").is_empty());
        }
        assert!(d.feed(b"\r").is_empty(), "a lone \\r may be half of \\r\\n");
        let events = d.feed(b"\n\n");
        assert_eq!(events.len(), 1);
        assert_eq!(events[0].data.len(), 8000);
    }

    #[test]
    fn an_event_that_never_ends_is_refused() {
        let mut d = Decoder::default();
        let chunk = vec![b'x'; 1 << 20];
        assert!(d.feed(b"data: ").is_empty());
        for _ in 0..64 {
            assert!(d.feed(&chunk).is_empty());
        }
        assert!(d.too_large, "over 64 MiB without an event's end");
        assert!(d.feed(b"\n\n").is_empty(), "nothing more comes out");
    }

    #[test]
    fn encoded_events_decode_back() {
        let mut d = Decoder::default();
        let events = d.feed(&encode(b"{\"k\":2}", Some("7")));
        assert_eq!(events, [Event { event: Some("message".into()), data: "{\"k\":2}".into(), id: Some("7".into()) }]);
    }
}
