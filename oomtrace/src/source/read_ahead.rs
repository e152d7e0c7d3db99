//! Regular files read on threads of their own, ahead of the pipeline: a
//! report's time is mostly parsing the session's JSON, and on two cores it
//! is spread over two parsers while the command's thread renders.
//!
//! ```text
//!                          batch 0, 2, 4, ...  ┌─ parser 0 ─┐
//!  SessionFiles::next ──> (BATCH lines each) ──┤            ├──> ReadAhead::next ──> pipeline
//!  (reader thread)         batch 1, 3, 5, ...  └─ parser 1 ─┘    (the command's thread,
//!                          ≤ AHEAD queued each; full: wait         batches taken in turn)
//! ```
//!
//! The reader reads lines and hands event lines out unparsed
//! ([`SessionFiles::defer_events`]); batch k goes to parser k mod the
//! number of parsers, and the command's thread takes batch k from there,
//! so the events keep their order. How many parsers pays depends on the
//! renderer: the HTML page renders faster than events parse (two parsers:
//! 1.45 s for bench's 100 000 events instead of 2.7), the text slower (one:
//! a second parser only takes a core from the renderer, 3.4 s instead of
//! 3.1). Unlike the live [`super::queue`], nothing is
//! ever dropped: a file waits for its readers, and memory stays flat
//! whatever the file's size. Items go across in batches: one hand-over per
//! item cost more in waking threads than the parsing it moved (a
//! 10 000-event report took 1.5 s instead of 0.5). So only regular files
//! are read ahead: a FIFO's items must come out as they are written, not
//! when a batch is full. And the events go back to the parser that made
//! them, in batches, to be freed where they were allocated
//! ([`Source::recycle`]): freed on the command's thread they made glibc's
//! allocator lock against the parsers' allocations, and cost twice the CPU.

use super::session::{Read, SessionFiles};
use anyhow::Result;
use oomtrace_core::pipeline::Event;
use oomtrace_core::pipeline::{Item, Source};
use oomtrace_core::source::session::Next;
use std::sync::mpsc::{Receiver, Sender, SyncSender, channel, sync_channel};

/// Lines handed over at once.
const BATCH: usize = 64;
/// Batches queued ahead at each parser, and from each.
const AHEAD: usize = 2;

/// A batch's item, parsed, or a file's note in its place (an item goes by
/// value, as everywhere: the large variant is the common one).
#[allow(clippy::large_enum_variant)]
enum Parsed {
    Item(Item),
    Say(String),
}

// The boxes themselves were allocated on a parser thread: they go back too.
#[allow(clippy::vec_box)]
pub struct ReadAhead {
    /// Parsed batches, from each parser in turn.
    parsed: Vec<Receiver<Vec<Result<Parsed>>>>,
    /// The parser the next batch comes from.
    turn: usize,
    parsers: usize,
    /// The parser of the batch being handed out.
    current_parser: usize,
    current: std::vec::IntoIter<Result<Parsed>>,
    /// Events done with, on their way back to their parser to be freed.
    done: Vec<Box<Event>>,
    done_parser: usize,
    give_back: Vec<Sender<Vec<Box<Event>>>>,
}

impl ReadAhead {
    /// `parsers` threads parse events (at least one), beside the reader
    /// and the command's thread.
    pub fn new(files: SessionFiles, parsers: usize) -> Self {
        let parsers = parsers.max(1);
        let mut files = files.defer_events();
        let mut to_parsers: Vec<SyncSender<Vec<Result<Read>>>> = Vec::new();
        let mut parsed = Vec::new();
        let mut give_back = Vec::new();
        for i in 0..parsers {
            let (tx, lines) = sync_channel::<Vec<Result<Read>>>(AHEAD);
            let (done_tx, out) = sync_channel(AHEAD);
            // At most what was handed out comes back: AHEAD + 1 batches.
            #[allow(clippy::vec_box)]
            let (back_tx, back) = channel::<Vec<Box<Event>>>();
            to_parsers.push(tx);
            parsed.push(out);
            give_back.push(back_tx);
            // Not joined: each ends when its input ends or its output is
            // dropped.
            std::thread::Builder::new()
                .name(format!("parse-{i}"))
                .spawn(move || {
                    for batch in lines {
                        while let Ok(done) = back.try_recv() {
                            drop(done);
                        }
                        let items: Vec<Result<Parsed>> = batch
                            .into_iter()
                            .map(|read| {
                                Ok(match read? {
                                    Read::Next(Next::Item(item)) => Parsed::Item(item),
                                    Read::Next(Next::Deferred(d)) => Parsed::Item(d.parse()?),
                                    Read::Say(what) => Parsed::Say(what),
                                })
                            })
                            .collect();
                        if done_tx.send(items).is_err() {
                            return;
                        }
                    }
                })
                .expect("a thread to parse events on");
        }
        std::thread::Builder::new()
            .name("read-ahead".into())
            .spawn(move || {
                let mut batch = Vec::with_capacity(BATCH);
                for turn in (0..parsers).cycle() {
                    let mut end = false;
                    while !end && batch.len() < BATCH {
                        let next = files.next_deferred();
                        end = !matches!(next, Ok(Some(_)));
                        if let Some(next) = next.transpose() {
                            batch.push(next);
                        }
                    }
                    let full = std::mem::replace(&mut batch, Vec::with_capacity(BATCH));
                    // Its parser gone: the command stopped reading.
                    if to_parsers[turn].send(full).is_err() || end {
                        return;
                    }
                }
            })
            .expect("a thread to read files on");
        Self {
            parsed,
            turn: 0,
            parsers,
            current_parser: 0,
            current: Vec::new().into_iter(),
            done: Vec::with_capacity(BATCH),
            done_parser: 0,
            give_back,
        }
    }
}

impl Source for ReadAhead {
    fn next(&mut self, _wait: bool) -> Result<Option<Item>> {
        loop {
            match self.current.next() {
                Some(Ok(Parsed::Item(item))) => return Ok(Some(item)),
                Some(Ok(Parsed::Say(what))) => {
                    eprintln!("{what}");
                    continue;
                }
                Some(Err(e)) => return Err(e),
                None => {}
            }
            // A closed channel: the reader thread is done, and so is the
            // parser whose turn it was.
            match self.parsed[self.turn].recv() {
                Ok(batch) => {
                    self.current = batch.into_iter();
                    self.current_parser = self.turn;
                    self.turn = (self.turn + 1) % self.parsers;
                }
                Err(_) => return Ok(None),
            }
        }
    }

    fn recycle(&mut self, ev: Box<Event>) {
        // Events come back as they were handed out: batch by batch.
        if self.done_parser != self.current_parser {
            self.give_back_done();
            self.done_parser = self.current_parser;
        }
        self.done.push(ev);
        if self.done.len() == BATCH {
            self.give_back_done();
        }
    }
}

impl ReadAhead {
    fn give_back_done(&mut self) {
        if self.done.is_empty() {
            return;
        }
        let done = std::mem::replace(&mut self.done, Vec::with_capacity(BATCH));
        // The parser gone (the file ended): freed here.
        let _ = self.give_back[self.done_parser].send(done);
    }
}
