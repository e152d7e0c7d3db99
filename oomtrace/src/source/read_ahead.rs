//! Regular files read on a thread of their own, ahead of the pipeline:
//! parsing a session's JSON and rendering its events as text take about the
//! same time, and on two cores they overlap.
//!
//! ```text
//!  SessionFiles::next ──> batches of BATCH items ──> ReadAhead::next ──> pipeline
//!  (reader thread)        ≤ AHEAD batches queued;     (the command's thread)
//!                         full: the reader waits
//! ```
//!
//! Unlike the live [`super::queue`], nothing is ever dropped: a file waits
//! for its reader, and memory stays flat whatever the file's size. Items go
//! across in batches: one hand-over per item cost more in waking threads
//! than the parsing it moved (a 10 000-event report took 1.5 s instead of
//! 0.5). So only regular files are read ahead: a FIFO's items must come out
//! as they are written, not when a batch is full. And the events go back
//! to the reader thread, in batches, to be freed where they were allocated
//! ([`Source::recycle`]): freed on the command's thread they made glibc's
//! allocator lock against the reader's allocations, and cost twice the CPU.

use anyhow::Result;
use oomtrace_core::pipeline::Event;
use oomtrace_core::pipeline::{Item, Source};
use std::sync::mpsc::{Receiver, Sender, channel, sync_channel};

/// Items handed over at once.
const BATCH: usize = 64;
/// Batches parsed ahead of the pipeline.
const AHEAD: usize = 2;

// The boxes themselves were allocated on the reader thread: they go back too.
#[allow(clippy::vec_box)]
pub struct ReadAhead {
    batches: Receiver<Vec<Result<Item>>>,
    current: std::vec::IntoIter<Result<Item>>,
    /// Events done with, on their way back to be freed.
    done: Vec<Box<Event>>,
    give_back: Sender<Vec<Box<Event>>>,
}

impl ReadAhead {
    pub fn new(mut source: impl Source + Send + 'static) -> Self {
        let (tx, rx) = sync_channel(AHEAD);
        // At most what was handed out comes back: AHEAD + 1 batches.
        #[allow(clippy::vec_box)]
        let (give_back, given_back) = channel::<Vec<Box<Event>>>();
        // Not joined: dropping the receiver ends it at its next send.
        std::thread::Builder::new()
            .name("read-ahead".into())
            .spawn(move || {
                let mut batch = Vec::with_capacity(BATCH);
                loop {
                    while let Ok(done) = given_back.try_recv() {
                        drop(done);
                    }
                    let next = source.next(true);
                    let end = !matches!(next, Ok(Some(_)));
                    if let Some(item) = next.transpose() {
                        batch.push(item);
                    }
                    if (end || batch.len() == BATCH)
                        && tx
                            .send(std::mem::replace(&mut batch, Vec::with_capacity(BATCH)))
                            .is_err()
                    {
                        return;
                    }
                    if end {
                        return;
                    }
                }
            })
            .expect("a thread to read files on");
        Self {
            batches: rx,
            current: Vec::new().into_iter(),
            done: Vec::with_capacity(BATCH),
            give_back,
        }
    }
}

impl Source for ReadAhead {
    fn next(&mut self, _wait: bool) -> Result<Option<Item>> {
        loop {
            if let Some(item) = self.current.next() {
                return item.map(Some);
            }
            // A closed channel: the reader thread is done.
            match self.batches.recv() {
                Ok(batch) => self.current = batch.into_iter(),
                Err(_) => return Ok(None),
            }
        }
    }

    fn recycle(&mut self, ev: Box<Event>) {
        self.done.push(ev);
        if self.done.len() == BATCH {
            let done = std::mem::replace(&mut self.done, Vec::with_capacity(BATCH));
            // The reader thread gone (the file ended): freed here.
            let _ = self.give_back.send(done);
        }
    }
}
