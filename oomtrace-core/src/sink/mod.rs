//! Sinks: items in; text, JSON, session files, an HTML page and summaries
//! out. Sinks only format; each event is flushed when written, so a pipe or
//! a file holds it the moment it is reported. Adding a sink is implementing
//! [`Sink`].

pub mod charts;
pub mod html;
pub mod render;
pub mod rotate;
pub mod session;
pub mod summary;

use crate::schema::event::{Header, ReaperEvent, Trailer};
use crate::schema::item::{Event, Progress};
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
pub struct Text<W: Write> {
    pub out: W,
    pub opts: render::Options,
    /// Live output is flushed per event; a report is written in bulk.
    live: bool,
    /// One event's text, its room kept from one event to the next.
    buf: String,
}

impl<W: Write> Text<W> {
    /// Each event and reaper line flushed as written (a terminal, a pipe).
    pub fn live(out: W, opts: render::Options) -> Self {
        Self {
            out,
            opts,
            live: true,
            buf: String::new(),
        }
    }

    /// Flushed when full and at the end (a report of a large session: a
    /// write per event was a tenth of its time).
    pub fn batch(out: W, opts: render::Options) -> Self {
        Self {
            live: false,
            ..Self::live(out, opts)
        }
    }

    fn flush_if_live(&mut self) -> io::Result<()> {
        if self.live {
            self.out.flush()?;
        }
        Ok(())
    }
}

impl<W: Write> Sink for Text<W> {
    fn session(&mut self, h: &Header) -> io::Result<()> {
        self.opts.for_session(h);
        Ok(())
    }

    fn event(&mut self, ev: &Event) -> io::Result<()> {
        let Some(full) = &ev.full else {
            return Err(io::Error::other("the text report needs whole events"));
        };
        self.buf.clear();
        render::text_into(&mut self.buf, full, self.opts);
        self.buf.push('\n');
        self.out.write_all(self.buf.as_bytes())?;
        self.flush_if_live()
    }

    fn reaper(&mut self, r: &ReaperEvent) -> io::Result<()> {
        writeln!(self.out, "{}", render::reaper_line(r))?;
        self.flush_if_live()
    }

    fn finish(&mut self) -> io::Result<()> {
        self.out.flush()
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::schema::event::OomEvent;

    /// Which calls a sink got, in order.
    #[derive(Default)]
    struct Calls(Vec<&'static str>);

    impl Sink for Calls {
        fn session(&mut self, _h: &Header) -> io::Result<()> {
            self.0.push("session");
            Ok(())
        }
        fn event(&mut self, _ev: &Event) -> io::Result<()> {
            self.0.push("event");
            Ok(())
        }
        fn reaper(&mut self, _r: &ReaperEvent) -> io::Result<()> {
            self.0.push("reaper");
            Ok(())
        }
        fn end(&mut self, _t: &Trailer) -> io::Result<()> {
            self.0.push("end");
            Ok(())
        }
        fn progress(&mut self, _p: &Progress) -> io::Result<()> {
            self.0.push("progress");
            Ok(())
        }
        fn finish(&mut self) -> io::Result<()> {
            self.0.push("finish");
            Ok(())
        }
    }

    /// Bytes written and how often they were flushed.
    #[derive(Default)]
    struct Out {
        bytes: Vec<u8>,
        flushes: usize,
    }

    impl Write for Out {
        fn write(&mut self, b: &[u8]) -> io::Result<usize> {
            self.bytes.extend_from_slice(b);
            Ok(b.len())
        }
        fn flush(&mut self) -> io::Result<()> {
            self.flushes += 1;
            Ok(())
        }
    }

    fn event(seq: u64) -> Event {
        Event::new(OomEvent {
            seq,
            ..OomEvent::default()
        })
    }

    fn reaper(seq: u64) -> ReaperEvent {
        ReaperEvent {
            seq,
            ..ReaperEvent::default()
        }
    }

    fn feed(s: &mut dyn Sink) {
        s.session(&Header::new("6.18", "kprobe", vec![])).unwrap();
        s.event(&event(1)).unwrap();
        s.reaper(&reaper(1)).unwrap();
        s.end(&Trailer::default()).unwrap();
        s.progress(&Progress::default()).unwrap();
        s.finish().unwrap();
    }

    #[test]
    fn a_tee_gives_both_sinks_everything_in_order() {
        let mut tee = Tee(Calls::default(), Some(Calls::default()));
        feed(&mut tee);
        let want = ["session", "event", "reaper", "end", "progress", "finish"];
        assert_eq!(tee.0.0, want);
        assert_eq!(tee.1.unwrap().0, want);
    }

    /// One line an item; a recorded line passes as it was; live output is
    /// flushed at each line, a batch once at the end.
    #[test]
    fn json_writes_a_line_an_item_flushed_as_asked() {
        let recorded = br#"{"type":"oom","seq":7,"as":"recorded"}"#.to_vec();
        for live in [true, false] {
            let out = Out::default();
            let mut j = if live {
                Json::live(out)
            } else {
                Json::batch(out)
            };
            j.event(&event(1)).unwrap();
            j.reaper(&reaper(1)).unwrap();
            let mut passed = event(7);
            passed.line = Some(recorded.clone());
            j.event(&passed).unwrap();
            j.finish().unwrap();
            let text = String::from_utf8(j.out.bytes.clone()).unwrap();
            let lines: Vec<&str> = text.lines().collect();
            assert_eq!(lines.len(), 3, "{text}");
            let first: OomEvent = serde_json::from_str(lines[0]).unwrap();
            assert_eq!(first.seq, 1);
            let step: ReaperEvent = serde_json::from_str(lines[1]).unwrap();
            assert_eq!(step.seq, 1);
            assert_eq!(lines[2].as_bytes(), &recorded[..]);
            assert_eq!(j.out.flushes, if live { 4 } else { 1 }, "live {live}");
        }
    }

    /// The text sink writes each event as `render` makes it, and each
    /// reaper step as its line, flushing each.
    #[test]
    fn text_writes_the_report_and_the_reaper_line() {
        let mut t = Text::live(Out::default(), render::Options::default());
        t.session(&Header::new("6.18", "kprobe", vec![])).unwrap();
        // The session's kernel decides how its era's lines are rendered.
        assert_eq!(t.opts.kernel, Some((6, 18)));
        let ev = event(3);
        t.event(&ev).unwrap();
        t.reaper(&reaper(3)).unwrap();
        let text = String::from_utf8(t.out.bytes.clone()).unwrap();
        let report = render::text_with(ev.full.as_ref().unwrap(), t.opts);
        assert!(text.starts_with(&report), "{text}");
        assert!(text.ends_with(&format!("{}\n", render::reaper_line(&reaper(3)))));
        assert_eq!(t.out.flushes, 2);
        let brief_only = Event {
            full: None,
            ..event(4)
        };
        assert!(t.event(&brief_only).is_err(), "a brief is not a report");
    }
}
