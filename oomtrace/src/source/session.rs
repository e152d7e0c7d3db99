//! Recorded session files, one after the other, as pipeline items. What a
//! file holds besides sessions (skipped lines, a cut-off tail, a session
//! without its end) is said on stderr, naming the file and the line.

use anyhow::Result;
use oomtrace_core::pipeline::{Item, Source};
use oomtrace_core::source::session::{self, Depth, Next, Reader};
use std::collections::VecDeque;
use std::fs::File;
use std::io::BufReader;
use std::path::PathBuf;

pub struct SessionFiles {
    files: std::vec::IntoIter<PathBuf>,
    skip_bad: bool,
    depth: Depth,
    current: Option<(String, Reader<BufReader<File>>)>,
    /// The start of the session whose end record has not come yet.
    open_session: Option<String>,
    /// Event lines handed out unparsed ([`Self::next_deferred`]).
    defer: bool,
    /// What to hand out before reading on: a file's notes, in their place.
    pending: VecDeque<Read>,
}

/// What [`SessionFiles::next_deferred`] hands out: the next item (or event
/// line), or a sentence for stderr about what a file held besides sessions,
/// in its place among the items: a reader running ahead of an error must
/// not say what the error stops. (An item goes by value, as everywhere:
/// the large variant is the common one.)
#[allow(clippy::large_enum_variant)]
pub enum Read {
    Next(Next),
    Say(String),
}

impl SessionFiles {
    /// `depth`: `Brief` when only filters, summaries and recorded lines are
    /// needed (an event's counters and zones are then not built).
    pub fn new(files: Vec<PathBuf>, skip_bad: bool, depth: Depth) -> Self {
        Self {
            files: files.into_iter(),
            skip_bad,
            depth,
            current: None,
            open_session: None,
            defer: false,
            pending: VecDeque::new(),
        }
    }

    /// Event lines come out of [`Self::next_deferred`] unparsed, where the
    /// reader allows it ([`Reader::defer_events`]).
    pub fn defer_events(mut self) -> Self {
        self.defer = true;
        self
    }

    fn say_unclean(&mut self, name: &str, start: &str) {
        self.say(format!(
            "{name}: the session started {start} has no end record: the recorder did not stop cleanly"
        ));
    }

    fn say(&mut self, what: String) {
        self.pending
            .push_back(Read::Say(format!("oomtrace: {what}")));
    }

    /// Says what the file held besides sessions.
    fn close(&mut self) {
        let Some((name, reader)) = self.current.take() else {
            return;
        };
        let notes = reader.into_notes();
        for (line, why) in &notes.skipped {
            self.say(format!("{name}:{line}: skipped: {why}"));
        }
        if let Some((line, bytes)) = notes.truncated_tail {
            self.say(format!(
                "{name}:{line}: the last line is cut off after {bytes} bytes (the recorder stopped mid-write); every event before it is shown"
            ));
            self.open_session = None;
        } else if let Some(start) = self.open_session.take() {
            self.say_unclean(&name, &start);
        }
    }
}

impl SessionFiles {
    /// The next item, an event line for the caller to parse, or a sentence
    /// for stderr.
    pub fn next_deferred(&mut self) -> Result<Option<Read>> {
        loop {
            if let Some(read) = self.pending.pop_front() {
                return Ok(Some(read));
            }
            if self.current.is_none() {
                let Some(path) = self.files.next() else {
                    return Ok(None);
                };
                let name = path.display().to_string();
                let mut reader =
                    Reader::new(session::open(&path)?, &name, self.skip_bad, self.depth);
                if self.defer {
                    reader.defer_events();
                }
                self.current = Some((name, reader));
            }
            let Some((name, reader)) = self.current.as_mut() else {
                continue;
            };
            match reader.next_or_deferred()? {
                Some(next) => {
                    match &next {
                        Next::Item(Item::Session(h)) => {
                            if let Some(start) = self.open_session.replace(h.start.clone()) {
                                let name = name.clone();
                                self.say_unclean(&name, &start);
                            }
                        }
                        Next::Item(Item::End(_)) => self.open_session = None,
                        _ => {}
                    }
                    self.pending.push_back(Read::Next(next));
                }
                None => self.close(),
            }
        }
    }
}

impl Source for SessionFiles {
    fn next(&mut self, _wait: bool) -> Result<Option<Item>> {
        loop {
            return Ok(match self.next_deferred()? {
                Some(Read::Next(Next::Item(item))) => Some(item),
                Some(Read::Next(Next::Deferred(d))) => Some(d.parse()?),
                Some(Read::Say(what)) => {
                    eprintln!("{what}");
                    continue;
                }
                None => None,
            });
        }
    }
}
