//! Where events go. Sinks only format; each event is flushed when written,
//! so a pipe or a file holds it the moment it is reported.

use crate::event::{Header, ReaperEvent, Trailer};
use crate::item::{Event, Progress};
use crate::render;
use std::io::{self, Write};

pub trait Sink {
    /// A session begins (live: once everything is attached).
    fn session(&mut self, _h: &Header) -> io::Result<()> {
        Ok(())
    }
    fn event(&mut self, ev: &Event) -> io::Result<()>;
    /// A step of the OOM reaper for a shown victim.
    fn reaper(&mut self, r: &ReaperEvent) -> io::Result<()>;
    /// The session ended cleanly.
    fn end(&mut self, _t: &Trailer) -> io::Result<()> {
        Ok(())
    }
    /// A running session's counts so far, or a request to reopen files.
    fn progress(&mut self, _p: &Progress) -> io::Result<()> {
        Ok(())
    }
    /// Nothing more will come.
    fn finish(&mut self) -> io::Result<()> {
        Ok(())
    }
}

/// Two sinks at once: a session file and the live text, say.
pub struct Tee<A: Sink, B: Sink>(pub A, pub Option<B>);

impl<A: Sink, B: Sink> Sink for Tee<A, B> {
    fn session(&mut self, h: &Header) -> io::Result<()> {
        self.0.session(h)?;
        self.1.as_mut().map_or(Ok(()), |b| b.session(h))
    }

    fn event(&mut self, ev: &Event) -> io::Result<()> {
        self.0.event(ev)?;
        self.1.as_mut().map_or(Ok(()), |b| b.event(ev))
    }

    fn reaper(&mut self, r: &ReaperEvent) -> io::Result<()> {
        self.0.reaper(r)?;
        self.1.as_mut().map_or(Ok(()), |b| b.reaper(r))
    }

    fn end(&mut self, t: &Trailer) -> io::Result<()> {
        self.0.end(t)?;
        self.1.as_mut().map_or(Ok(()), |b| b.end(t))
    }

    fn progress(&mut self, p: &Progress) -> io::Result<()> {
        self.0.progress(p)?;
        self.1.as_mut().map_or(Ok(()), |b| b.progress(p))
    }

    fn finish(&mut self) -> io::Result<()> {
        self.0.finish()?;
        self.1.as_mut().map_or(Ok(()), |b| b.finish())
    }
}

/// The kernel-style text report.
pub struct Text<W: Write>(pub W, pub render::Options);

impl<W: Write> Sink for Text<W> {
    fn session(&mut self, h: &Header) -> io::Result<()> {
        self.1.for_session(h);
        Ok(())
    }

    fn event(&mut self, ev: &Event) -> io::Result<()> {
        let Some(full) = &ev.full else {
            return Err(io::Error::other("the text report needs whole events"));
        };
        self.0
            .write_all(render::text_with(full, self.1).as_bytes())?;
        self.0.write_all(b"\n")?;
        self.0.flush()
    }

    fn reaper(&mut self, r: &ReaperEvent) -> io::Result<()> {
        writeln!(self.0, "{}", render::reaper_line(r))?;
        self.0.flush()
    }
}

/// JSON Lines, one event a line; recorded lines pass through unchanged.
pub struct Json<W: Write> {
    out: W,
    /// Live output is flushed per line; a report is written in bulk.
    live: bool,
}

impl<W: Write> Json<W> {
    /// Each line flushed as written (a pipe sees each event at once).
    pub fn live(out: W) -> Self {
        Self { out, live: true }
    }

    /// Flushed at the end (a report of a large session).
    pub fn batch(out: W) -> Self {
        Self { out, live: false }
    }

    fn end_line(&mut self) -> io::Result<()> {
        self.out.write_all(b"\n")?;
        if self.live {
            self.out.flush()?;
        }
        Ok(())
    }
}

impl<W: Write> Sink for Json<W> {
    fn event(&mut self, ev: &Event) -> io::Result<()> {
        match (&ev.line, &ev.full) {
            (Some(line), _) => self.out.write_all(line)?,
            (None, Some(full)) => serde_json::to_writer(&mut self.out, full)?,
            (None, None) => serde_json::to_writer(&mut self.out, &ev.brief)?,
        }
        self.end_line()
    }

    fn reaper(&mut self, r: &ReaperEvent) -> io::Result<()> {
        serde_json::to_writer(&mut self.out, r)?;
        self.end_line()
    }

    fn finish(&mut self) -> io::Result<()> {
        self.out.flush()
    }
}
