//! The live source on a thread of its own, ahead of the pipeline: it drains
//! the ring buffer and assembles events whatever the sinks do, into a queue
//! bounded in bytes. A reader that stalls (a pipe read late, a slow disk, a
//! scrape that blocks) then costs memory up to the bound, not records: the
//! kernel's ring buffer holds only a few dozen OOMs, and with nothing
//! draining it the kernel drops.
//!
//! ```text
//!  BpfSource::next ──> Queue (≤ --queue bytes) ──> Queued::next ──> pipeline
//!  (drain thread)       full: whole events dropped,   (the command's thread)
//!                       counted, said while it happens
//! ```
//!
//! Only whole events are dropped (with their reaper steps), never the
//! session's header, progress or end: the end record counts them
//! (`dropped`) and says how deep the queue got (`queue_peak_bytes`).

use anyhow::Result;
use oomtrace_core::pipeline::{Item, Source};
use std::collections::{HashSet, VecDeque};
use std::sync::{Arc, Condvar, Mutex};
use std::thread::JoinHandle;

/// Wakes the source's own wait, so that it ends (`--count` reached).
pub type Wake = Arc<dyn Fn() + Send + Sync>;

pub struct Queued {
    shared: Arc<(Mutex<Queue>, Condvar)>,
    wake: Wake,
    thread: Option<JoinHandle<()>>,
    stopping: bool,
}

struct Queue {
    items: VecDeque<(Item, usize)>,
    bytes: usize,
    limit: usize,
    peak: usize,
    dropped: u64,
    /// Events dropped lately, whose reaper steps follow them out.
    dropped_seqs: HashSet<u64>,
    /// Dropping now (said once per stretch, on stderr).
    shedding: bool,
    /// The source's latest counts, said again with the dropped count when
    /// a stretch of dropping ends (the agent's metrics move then).
    last_progress: Option<oomtrace_core::schema::item::Progress>,
    done: bool,
    error: Option<anyhow::Error>,
}

/// What a queued event costs in memory for each byte of its JSON: its
/// counters, zones and frames are maps and vectors of their own. Measured:
/// 5003 queued events of a storm raised the resident set by 123 MiB, their
/// JSON was 33 MiB (bench/RESULTS.md).
const RESIDENT_PER_JSON_BYTE: usize = 4;

/// Bytes an item holds in memory, near enough: its JSON's length (counted
/// without keeping it) times [`RESIDENT_PER_JSON_BYTE`].
fn weight(item: &Item) -> usize {
    struct Count(usize);
    impl std::io::Write for Count {
        fn write(&mut self, b: &[u8]) -> std::io::Result<usize> {
            self.0 += b.len();
            Ok(b.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }
    let mut c = Count(0);
    let _ = match item {
        Item::Event(e) => match (&e.full, &e.line) {
            (Some(full), _) => serde_json::to_writer(&mut c, full),
            (None, Some(line)) => {
                c.0 += line.len();
                Ok(())
            }
            (None, None) => serde_json::to_writer(&mut c, &e.brief),
        },
        Item::Session(h) => serde_json::to_writer(&mut c, h),
        Item::Reaper(r) => serde_json::to_writer(&mut c, r),
        Item::End(t) => serde_json::to_writer(&mut c, t),
        Item::Progress(p) => serde_json::to_writer(&mut c, &p.counts),
    };
    c.0 * RESIDENT_PER_JSON_BYTE + 256
}

impl Queue {
    fn push(&mut self, mut item: Item) {
        match &mut item {
            Item::Reaper(r) if self.dropped_seqs.contains(&r.seq) => return,
            Item::End(t) => {
                t.dropped = self.dropped;
                t.queue_peak_bytes = Some(self.peak as u64);
            }
            Item::Progress(p) => {
                p.counts.dropped = self.dropped;
                let mut kept = p.clone();
                kept.reopen = false;
                self.last_progress = Some(kept);
            }
            _ => {}
        }
        let size = weight(&item);
        if let Item::Event(e) = &item
            && self.bytes + size > self.limit
        {
            self.dropped += 1;
            if self.dropped_seqs.len() >= 4096 {
                self.dropped_seqs.clear();
            }
            self.dropped_seqs.insert(e.brief.seq);
            if !self.shedding {
                self.shedding = true;
                eprintln!(
                    "oomtrace: the reader is {} KiB behind, the queue's bound (--queue): \
                     dropping events until it catches up ({} so far)",
                    self.bytes >> 10,
                    self.dropped
                );
            }
            return;
        }
        self.admit(item, size);
    }

    fn admit(&mut self, item: Item, size: usize) {
        self.bytes += size;
        self.peak = self.peak.max(self.bytes);
        self.items.push_back((item, size));
    }
}

impl Queued {
    /// Runs `inner` on its own thread, its items queued up to `limit` bytes.
    pub fn start<S: Source + Send + 'static>(mut inner: S, limit: usize, wake: Wake) -> Self {
        let shared = Arc::new((
            Mutex::new(Queue {
                items: VecDeque::new(),
                bytes: 0,
                limit: limit.max(1),
                peak: 0,
                dropped: 0,
                dropped_seqs: HashSet::new(),
                shedding: false,
                last_progress: None,
                done: false,
                error: None,
            }),
            Condvar::new(),
        ));
        let theirs = shared.clone();
        let thread = std::thread::Builder::new()
            .name("oomtrace-drain".into())
            .spawn(move || {
                let (lock, ready) = &*theirs;
                loop {
                    let next = inner.next(true);
                    let mut q = lock.lock().unwrap_or_else(|e| e.into_inner());
                    match next {
                        Ok(Some(item)) => q.push(item),
                        Ok(None) => q.done = true,
                        Err(e) => {
                            q.error = Some(e);
                            q.done = true;
                        }
                    }
                    let done = q.done;
                    drop(q);
                    ready.notify_all();
                    if done {
                        break;
                    }
                }
                // The source (and its BPF programs) go with this thread.
                drop(inner);
            })
            .expect("spawning the ring buffer's drain thread");
        Self {
            shared,
            wake,
            thread: Some(thread),
            stopping: false,
        }
    }
}

impl Source for Queued {
    fn next(&mut self, wait: bool) -> Result<Option<Item>> {
        if !wait {
            self.stop();
        }
        let (lock, ready) = &*self.shared;
        let mut q = lock.lock().unwrap_or_else(|e| e.into_inner());
        loop {
            if let Some((item, size)) = q.items.pop_front() {
                q.bytes -= size;
                if q.shedding && q.bytes <= q.limit / 2 {
                    q.shedding = false;
                    // The counts with what was dropped, right after this item.
                    if let Some(mut p) = q.last_progress.clone() {
                        p.counts.dropped = q.dropped;
                        q.items.push_front((Item::Progress(p), 0));
                    }
                }
                return Ok(Some(item));
            }
            if q.done {
                let error = q.error.take();
                drop(q);
                if let Some(t) = self.thread.take() {
                    let _ = t.join();
                }
                return error.map_or(Ok(None), Err);
            }
            q = ready.wait(q).unwrap_or_else(|e| e.into_inner());
        }
    }

    fn stop(&mut self) {
        if !self.stopping {
            self.stopping = true;
            (self.wake)();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use oomtrace_core::schema::event::{OomEvent, ReaperEvent, ReaperStep, Trailer};

    /// Items as a live source gives them, one at a time, then its end.
    struct Scripted(VecDeque<Item>);

    impl Source for Scripted {
        fn next(&mut self, _wait: bool) -> Result<Option<Item>> {
            Ok(self.0.pop_front())
        }
    }

    fn event(seq: u64) -> Item {
        Item::event(OomEvent {
            seq,
            ..OomEvent::default()
        })
    }

    fn reaper(seq: u64) -> Item {
        Item::Reaper(ReaperEvent {
            seq,
            step: ReaperStep::Wake,
            ..ReaperEvent::default()
        })
    }

    fn drain(q: &mut Queued) -> Vec<Item> {
        std::iter::from_fn(|| q.next(true).unwrap()).collect()
    }

    fn event_seqs(items: &[Item]) -> Vec<u64> {
        items
            .iter()
            .filter_map(|i| match i {
                Item::Event(e) => Some(e.brief.seq),
                _ => None,
            })
            .collect()
    }

    /// A reader that reads only after the source is done still gets every
    /// item, in order, when they fit; the end says how deep the queue got.
    #[test]
    fn a_late_reader_gets_everything_in_order_within_the_bound() {
        let mut items: VecDeque<Item> = (1..=200).flat_map(|s| [event(s), reaper(s)]).collect();
        items.push_back(Item::End(Trailer::default()));
        let mut q = Queued::start(Scripted(items), 64 << 20, Arc::new(|| {}));
        std::thread::sleep(std::time::Duration::from_millis(100));
        let got = drain(&mut q);
        let seqs = event_seqs(&got);
        assert_eq!(seqs, (1..=200).collect::<Vec<_>>());
        let Some(Item::End(t)) = got.last() else {
            panic!("no end");
        };
        assert_eq!(t.dropped, 0);
        let one = weight(&event(1)) + weight(&reaper(1));
        assert!(
            t.queue_peak_bytes.is_some_and(|p| p as usize >= 200 * one),
            "{t:?}"
        );
    }

    /// Past the bound whole events are dropped with their reaper steps,
    /// counted in the end record; what got through is in order, and what
    /// got through plus what was dropped is what the source gave.
    #[test]
    fn past_the_bound_whole_events_are_dropped_and_counted() {
        let mut items: VecDeque<Item> = (1..=300).flat_map(|s| [event(s), reaper(s)]).collect();
        items.push_front(Item::Progress(Default::default()));
        items.push_back(Item::End(Trailer::default()));
        let bound = 40 * (weight(&event(1)) + weight(&reaper(1)));
        let mut q = Queued::start(Scripted(items), bound, Arc::new(|| {}));
        std::thread::sleep(std::time::Duration::from_millis(100));
        let got = drain(&mut q);
        let events = event_seqs(&got);
        let reaped: Vec<u64> = got
            .iter()
            .filter_map(|i| match i {
                Item::Reaper(r) => Some(r.seq),
                _ => None,
            })
            .collect();
        assert!(events.windows(2).all(|w| w[0] < w[1]), "{events:?}");
        assert_eq!(events, reaped, "a reaper step without its event");
        let Some(Item::End(t)) = got.last() else {
            panic!("no end");
        };
        assert!(
            t.dropped > 0 && t.dropped as usize + events.len() == 300,
            "{t:?}"
        );
        // When the reader caught up, the counts were said again with what
        // was dropped (the agent's metric moves then, not only at the end).
        assert!(
            got.iter()
                .any(|i| matches!(i, Item::Progress(p) if p.counts.dropped == t.dropped)),
            "no progress with the dropped count"
        );
        // Only events are dropped: the step of the last event let in (and
        // the end) may pass the bound by their own size.
        let over = weight(&reaper(300)) + weight(&Item::End(Trailer::default()));
        assert!(
            t.queue_peak_bytes
                .is_some_and(|p| p as usize <= bound + over),
            "{t:?}, bound {bound}"
        );
    }
}
