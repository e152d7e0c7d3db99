//! Recorded session files, one after the other, as pipeline items. What a
//! file holds besides sessions (skipped lines, a cut-off tail, a session
//! without its end) is said on stderr, naming the file and the line.

use anyhow::Result;
use oomtrace_core::pipeline::{Item, Source};
use oomtrace_core::session::{self, Depth, Reader};
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
        }
    }

    fn say_unclean(name: &str, start: &str) {
        eprintln!(
            "oomtrace: {name}: the session started {start} has no end record: the recorder did not stop cleanly"
        );
    }

    /// Says what the file held besides sessions.
    fn close(&mut self) {
        let Some((name, reader)) = self.current.take() else {
            return;
        };
        let notes = reader.into_notes();
        for (line, why) in &notes.skipped {
            eprintln!("oomtrace: {name}:{line}: skipped: {why}");
        }
        if let Some((line, bytes)) = notes.truncated_tail {
            eprintln!(
                "oomtrace: {name}:{line}: the last line is cut off after {bytes} bytes (the recorder stopped mid-write); every event before it is shown"
            );
            self.open_session = None;
        } else if let Some(start) = self.open_session.take() {
            Self::say_unclean(&name, &start);
        }
    }
}

impl Source for SessionFiles {
    fn next(&mut self, _wait: bool) -> Result<Option<Item>> {
        loop {
            if self.current.is_none() {
                let Some(path) = self.files.next() else {
                    return Ok(None);
                };
                let name = path.display().to_string();
                let reader = Reader::new(session::open(&path)?, &name, self.skip_bad, self.depth);
                self.current = Some((name, reader));
            }
            let Some((name, reader)) = self.current.as_mut() else {
                continue;
            };
            match reader.next_item()? {
                Some(item) => {
                    match &item {
                        Item::Session(h) => {
                            if let Some(start) = self.open_session.replace(h.start.clone()) {
                                Self::say_unclean(name, &start);
                            }
                        }
                        Item::End(_) => self.open_session = None,
                        _ => {}
                    }
                    return Ok(Some(item));
                }
                None => self.close(),
            }
        }
    }
}
