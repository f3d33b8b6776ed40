//! Resumable event streams (streamable HTTP, protocol versions 2025-03-26 to 2025-11-25).
//!
//! A request answered as an event stream gets a number in its session, and each event on it the
//! id `<stream>-<n>`. The events stay here while the request runs and for a while after it ends,
//! so a client whose connection dropped can send GET with `Last-Event-ID` and receive what
//! followed, then the rest as it comes. A request that nobody reattaches to within the resume
//! window is aborted (which cancels it upstream): a disconnect is not a cancellation, but a
//! client that never comes back must not hold upstream work forever.

use std::collections::{HashMap, VecDeque};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use bytes::Bytes;
use tokio::sync::mpsc;

use crate::protocol::sse;

/// Events held per request stream; a client that falls further behind cannot resume without a gap.
const HELD_EVENTS: usize = 1024;
/// Events held on a session's own stream, which lives as long as the session: enough for a
/// reconnect's worth of list changes, updates and log messages, small per idle session.
const HELD_OWN_EVENTS: usize = 64;
/// Finished streams held per session beyond those running; the oldest go first.
const HELD_STREAMS: usize = 128;
/// Frames buffered towards one connection before the stream waits for the client.
const CONNECTION_BUFFER: usize = 64;

/// The resumable streams of one session.
#[derive(Default)]
pub(crate) struct Replays {
    streams: Mutex<HashMap<u64, Arc<Replay>>>,
    next: AtomicU64,
    /// The session's own stream (GET): what the session hears of without asking. Stream 0.
    standalone: Mutex<Option<Arc<Replay>>>,
}

impl Replays {
    /// Starts holding a new stream.
    pub(crate) fn open(&self) -> Arc<Replay> {
        let id = self.next.fetch_add(1, Ordering::Relaxed) + 1;
        let replay = Arc::new(Replay { id, capacity: HELD_EVENTS, state: Mutex::default() });
        let mut streams = self.streams.lock().unwrap();
        if streams.len() >= HELD_STREAMS {
            // Forget the oldest finished streams. Running ones stay: each is a request in flight,
            // which the session's own limits bound, and dropping one would lose its answer.
            let mut finished: Vec<u64> =
                streams.values().filter(|r| r.state.lock().unwrap().finished.is_some()).map(|r| r.id).collect();
            finished.sort_unstable();
            for id in finished.into_iter().take(streams.len() + 1 - HELD_STREAMS) {
                streams.remove(&id);
            }
        }
        streams.insert(id, replay.clone());
        replay
    }

    /// Forgets streams that finished more than `window` ago.
    pub(crate) fn prune(&self, window: Duration) {
        let now = Instant::now();
        self.streams
            .lock()
            .unwrap()
            .retain(|_, r| r.state.lock().unwrap().finished.is_none_or(|at| now.duration_since(at) < window));
    }

    /// Finds the stream a `Last-Event-ID` names and the sequence number after which to resume.
    pub(crate) fn find(&self, last_event_id: &str) -> Result<(Arc<Replay>, u64), ResumeError> {
        let (stream, seq) = parse_event_id(last_event_id).ok_or(ResumeError::Malformed)?;
        let replay = match stream {
            0 => self.standalone.lock().unwrap().clone(),
            _ => self.streams.lock().unwrap().get(&stream).cloned(),
        };
        Ok((replay.ok_or(ResumeError::Gone)?, seq))
    }

    /// The session's own stream, and whether this call created it (and must start feeding it).
    pub(crate) fn standalone(&self) -> (Arc<Replay>, bool) {
        let mut standalone = self.standalone.lock().unwrap();
        match &*standalone {
            Some(replay) if replay.state.lock().unwrap().finished.is_none() => (replay.clone(), false),
            _ => {
                let replay = Arc::new(Replay { id: 0, capacity: HELD_OWN_EVENTS, state: Mutex::default() });
                *standalone = Some(replay.clone());
                (replay, true)
            }
        }
    }
}

/// Why a `Last-Event-ID` cannot be resumed from.
#[derive(Debug, PartialEq)]
pub(crate) enum ResumeError {
    /// Not an id this gateway hands out.
    Malformed,
    /// The stream ended long enough ago to be forgotten, or never belonged to this session.
    Gone,
    /// Events after that one were dropped (the client fell more than `HELD_EVENTS` behind).
    Gap,
}

fn parse_event_id(id: &str) -> Option<(u64, u64)> {
    let (stream, seq) = id.trim().split_once('-')?;
    Some((stream.parse().ok()?, seq.parse().ok()?))
}

/// One resumable stream: its events, the connection currently reading it, and the work behind it.
pub(crate) struct Replay {
    id: u64,
    /// Most events held; older ones are dropped.
    capacity: usize,
    state: Mutex<State>,
}

#[derive(Default)]
struct State {
    /// Encoded frames, oldest first; `events[0]` has sequence number `first`.
    events: VecDeque<Bytes>,
    first: u64,
    next: u64,
    /// When the last event (the answer) was added.
    finished: Option<Instant>,
    /// The connection reading now, with the number it was attached under.
    reader: Option<(u64, mpsc::Sender<Bytes>)>,
    attachments: u64,
    /// Stops the request behind the stream.
    work: Option<tokio::task::AbortHandle>,
}

impl Replay {
    /// The id of the event with sequence number `seq` on this stream.
    pub(crate) fn event_id(&self, seq: u64) -> String {
        format!("{}-{seq}", self.id)
    }

    /// Adds a JSON-RPC message as the next event; returns where to send it now.
    fn push_message(&self, message: &[u8]) -> (Bytes, Option<mpsc::Sender<Bytes>>) {
        let mut state = self.state.lock().unwrap();
        let frame = Bytes::from(sse::encode(message, Some(&self.event_id(state.next))));
        (frame.clone(), self.append(&mut state, frame))
    }

    /// Adds a JSON-RPC message as the next event and sends it to the attached connection, if any
    /// (waiting while that connection is full; a connection gone since is skipped).
    pub(crate) async fn deliver(&self, message: &[u8]) {
        let (frame, connection) = self.push_message(message);
        if let Some(connection) = connection {
            let _ = connection.send(frame).await;
        }
    }

    /// Adds the event a stream opens with (2025-11-25): an id and no message, so a client that
    /// loses the connection before the first message still has an id to resume from, and a
    /// `retry` telling it how soon to come back.
    pub(crate) fn push_priming(&self, retry: Duration) {
        let mut state = self.state.lock().unwrap();
        let frame = self.priming(&state, retry);
        self.append(&mut state, frame);
    }

    fn priming(&self, state: &State, retry: Duration) -> Bytes {
        Bytes::from(format!("id: {}\nretry: {}\ndata: \n\n", self.event_id(state.next), retry.as_millis()))
    }

    /// Records the task that answers the request, so an abandoned stream can stop it.
    pub(crate) fn set_work(&self, work: tokio::task::AbortHandle) {
        self.state.lock().unwrap().work = Some(work);
    }

    /// Adds an encoded frame; returns where to send it now (the attached connection, if any).
    fn append(&self, state: &mut State, frame: Bytes) -> Option<mpsc::Sender<Bytes>> {
        state.events.push_back(frame);
        state.next += 1;
        if state.events.len() > self.capacity {
            state.events.pop_front();
            state.first += 1;
        }
        state.reader.as_ref().map(|(_, tx)| tx.clone())
    }

    /// No more events will come: the connection reading ends once it has what was pushed.
    pub(crate) fn finish(&self) {
        let mut state = self.state.lock().unwrap();
        state.finished.get_or_insert_with(Instant::now);
        state.reader = None;
        state.work = None;
    }

    /// Attaches a connection that has seen events up to `after` (`None`: a fresh connection).
    /// Returns the held events it missed and the receiver for those still to come; an earlier
    /// connection stops receiving. Once the connection is dropped, the request is aborted unless
    /// another attaches within `window`.
    pub(crate) fn attach(self: &Arc<Self>, after: Option<u64>, window: Duration) -> Result<Attached, ResumeError> {
        let state = self.state.lock().unwrap();
        let from = after.map_or(state.first, |seq| seq + 1);
        self.attach_from(state, from, window)
    }

    /// Attaches a connection for what comes from now on, opened by a priming event (`prime`:
    /// its `retry`) so the connection has an id to resume from.
    pub(crate) fn attach_new(self: &Arc<Self>, prime: Option<Duration>, window: Duration) -> Attached {
        let mut state = self.state.lock().unwrap();
        let from = state.next;
        if let Some(retry) = prime {
            let frame = self.priming(&state, retry);
            self.append(&mut state, frame);
        }
        self.attach_from(state, from, window).expect("the newest events are held")
    }

    fn attach_from(
        self: &Arc<Self>,
        mut state: std::sync::MutexGuard<'_, State>,
        from: u64,
        window: Duration,
    ) -> Result<Attached, ResumeError> {
        if from < state.first {
            return Err(ResumeError::Gap);
        }
        let skip = usize::try_from(from - state.first).unwrap_or(usize::MAX);
        let backlog: VecDeque<Bytes> = state.events.iter().skip(skip).cloned().collect();
        let (tx, rx) = mpsc::channel(CONNECTION_BUFFER);
        state.attachments += 1;
        let number = state.attachments;
        if state.finished.is_none() {
            state.reader = Some((number, tx));
        }
        Ok(Attached { backlog, rx, _guard: Detach { replay: self.clone(), number, window } })
    }

    /// Stops the request behind the stream.
    fn abort(&self) {
        if let Some(work) = self.state.lock().unwrap().work.take() {
            work.abort();
        }
    }
}

/// A connection's view of a stream: what it missed, then what comes. Dropping it (the client went
/// away) detaches the connection.
pub(crate) struct Attached {
    backlog: VecDeque<Bytes>,
    rx: mpsc::Receiver<Bytes>,
    _guard: Detach,
}

impl Attached {
    /// The next frame to write; `None` once the stream has ended.
    pub(crate) async fn next(&mut self) -> Option<Bytes> {
        match self.backlog.pop_front() {
            Some(frame) => Some(frame),
            None => self.rx.recv().await,
        }
    }
}

/// Detaches a connection when dropped; the request is aborted if nobody reattaches in `window`.
struct Detach {
    replay: Arc<Replay>,
    number: u64,
    window: Duration,
}

impl Drop for Detach {
    fn drop(&mut self) {
        let window = self.window;
        let mut state = self.replay.state.lock().unwrap();
        if state.reader.as_ref().is_none_or(|(n, _)| *n != self.number) {
            return;
        }
        state.reader = None;
        if state.finished.is_some() {
            return;
        }
        let replay = self.replay.clone();
        let attachments = state.attachments;
        drop(state);
        let abandon = move || {
            let state = replay.state.lock().unwrap();
            let reattached = state.attachments != attachments || state.reader.is_some();
            drop(state);
            if !reattached {
                replay.abort();
            }
        };
        if window.is_zero() {
            abandon();
        } else if let Ok(runtime) = tokio::runtime::Handle::try_current() {
            runtime.spawn(async move {
                tokio::time::sleep(window).await;
                abandon();
            });
        } else {
            abandon();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn frame(replay: &Replay, seq: u64, message: &str) -> Bytes {
        Bytes::from(sse::encode(message.as_bytes(), Some(&replay.event_id(seq))))
    }

    async fn drain(attached: &mut Attached) -> Vec<Bytes> {
        let mut out = Vec::new();
        while let Some(frame) = attached.next().await {
            out.push(frame);
        }
        out
    }

    #[tokio::test]
    async fn a_reattached_connection_gets_what_it_missed_then_what_comes() {
        let replays = Replays::default();
        let replay = replays.open();
        let first = replay.attach(None, Duration::from_secs(60)).unwrap();
        assert!(replay.push_message(b"0").1.is_some());
        replay.push_message(b"1");
        drop(first);
        assert!(replay.push_message(b"2").1.is_none(), "nobody is attached");

        let (found, after) = replays.find(&replay.event_id(0)).unwrap();
        let mut second = found.attach(Some(after), Duration::from_secs(60)).unwrap();
        let (sent, to) = replay.push_message(b"3");
        to.unwrap().send(sent).await.unwrap();
        replay.finish();
        let expected: Vec<Bytes> = (1..4).map(|n| frame(&replay, n, &n.to_string())).collect();
        assert_eq!(drain(&mut second).await, expected, "what it missed, then what came, then the end");
    }

    #[tokio::test]
    async fn ids_that_were_never_handed_out_or_fell_out_are_refused() {
        let replays = Replays::default();
        let replay = replays.open();
        assert_eq!(replays.find("x").err(), Some(ResumeError::Malformed));
        assert_eq!(replays.find("9-0").err(), Some(ResumeError::Gone));
        for n in 0..HELD_EVENTS + 5 {
            replay.push_message(n.to_string().as_bytes());
        }
        replay.finish();
        let window = Duration::from_secs(60);
        assert_eq!(replay.attach(Some(2), window).err(), Some(ResumeError::Gap));
        let mut attached = replay.attach(Some(5), window).unwrap();
        assert_eq!(drain(&mut attached).await.len(), HELD_EVENTS - 1);
    }

    #[test]
    fn many_streams_forget_the_oldest_finished_never_a_running_one() {
        let replays = Replays::default();
        let running = replays.open();
        let first_finished = replays.open();
        first_finished.finish();
        for _ in 0..HELD_STREAMS {
            replays.open().finish();
        }
        assert!(replays.find(&running.event_id(0)).is_ok(), "a running stream is kept");
        assert_eq!(replays.find(&first_finished.event_id(0)).err(), Some(ResumeError::Gone));
        assert!(replays.streams.lock().unwrap().len() <= HELD_STREAMS);
    }

    #[tokio::test]
    async fn an_abandoned_stream_stops_its_work_and_a_finished_one_is_pruned() {
        let replays = Replays::default();
        let replay = replays.open();
        let work = tokio::spawn(std::future::pending::<()>());
        replay.set_work(work.abort_handle());
        drop(replay.attach(None, Duration::ZERO).unwrap());
        assert!(work.await.unwrap_err().is_cancelled());

        replay.finish();
        replays.prune(Duration::from_secs(60));
        assert!(replays.find(&replay.event_id(0)).is_ok(), "held for the window");
        replays.prune(Duration::ZERO);
        assert_eq!(replays.find(&replay.event_id(0)).err(), Some(ResumeError::Gone));
    }
}
