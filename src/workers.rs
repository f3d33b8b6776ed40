//! The serving threads of `mcpgw serve`: one single-threaded runtime per thread (default: one per
//! core), each accepting connections and running them start to finish. A call then wakes no other
//! thread: its client connection, its upstream connection (each thread keeps its own pool, see
//! `upstream::http_client`) and the tasks between them share one thread, as in nginx's worker
//! model. A work-stealing runtime instead handed each call between its workers twice, a futex
//! wake-up each time, which cost about a fifth of a call's CPU at low concurrency. Everything
//! else (upstream supervision, stdio children, reloads, signals) runs on the main thread's runtime.

use std::cell::Cell;
use std::sync::atomic::{AtomicUsize, Ordering};

use tokio::runtime::Handle;
use tokio::sync::oneshot;

/// How many serving threads were started (0 outside `mcpgw serve`).
static COUNT: AtomicUsize = AtomicUsize::new(0);

thread_local! {
    /// 1 + this serving thread's number; 0 on any other thread.
    static INDEX: Cell<usize> = const { Cell::new(0) };
}

/// The running serving threads.
pub(crate) struct Workers {
    handles: Vec<Handle>,
    stops: Vec<oneshot::Sender<()>>,
    threads: Vec<std::thread::JoinHandle<()>>,
}

impl Workers {
    /// Starts `n` serving threads (at least one), each with its own runtime.
    pub(crate) fn start(n: usize) -> std::io::Result<Workers> {
        let n = n.max(1);
        COUNT.store(n, Ordering::Relaxed);
        let mut workers = Workers { handles: Vec::new(), stops: Vec::new(), threads: Vec::new() };
        for i in 0..n {
            let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build()?;
            let (stop, stopped) = oneshot::channel::<()>();
            workers.handles.push(runtime.handle().clone());
            workers.stops.push(stop);
            let thread = std::thread::Builder::new().name(format!("mcpgw-serve-{i}")).spawn(move || {
                INDEX.with(|index| index.set(i + 1));
                let _ = runtime.block_on(stopped);
                // Dropping the runtime ends its remaining tasks; children they own are killed.
            })?;
            workers.threads.push(thread);
        }
        Ok(workers)
    }

    pub(crate) fn handles(&self) -> &[Handle] {
        &self.handles
    }

    /// Stops every serving thread and waits for it to end.
    pub(crate) fn stop(self) {
        drop(self.stops);
        for thread in self.threads {
            let _ = thread.join();
        }
    }
}

/// The number of serving threads, for sizing per-thread state.
pub(crate) fn count() -> usize {
    COUNT.load(Ordering::Relaxed)
}

/// Which serving thread this is: 1 to `count()`, or 0 on any other thread.
pub(crate) fn index() -> usize {
    INDEX.with(Cell::get)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_serving_thread_knows_its_number() {
        let workers = Workers::start(2).unwrap();
        let mut seen: Vec<usize> = workers
            .handles()
            .iter()
            .map(|h| {
                let (tx, rx) = std::sync::mpsc::channel();
                h.spawn(async move { tx.send(index()).unwrap() });
                rx.recv().unwrap()
            })
            .collect();
        seen.sort();
        assert_eq!(seen, [1, 2]);
        assert_eq!(index(), 0, "not a serving thread");
        workers.stop();
    }
}
