//! Where events go. Sinks only format; each event is flushed when written,
//! so a pipe or a file holds it the moment it is reported.

use crate::event::{OomEvent, ReaperEvent};
use crate::render;
use std::io::{self, Write};

pub trait Sink {
    /// Called once everything is attached, before the first event.
    fn start(&mut self, _kernel: &str, _mode: &str, _hooks: &[String]) -> io::Result<()> {
        Ok(())
    }
    fn event(&mut self, ev: &OomEvent) -> io::Result<()>;
    /// A step of the OOM reaper for a reported victim.
    fn reaper(&mut self, r: &ReaperEvent) -> io::Result<()>;
    /// An event already in its JSON Lines form (`report` passing a recorded
    /// line through); formats other than JSON never get one.
    fn raw_line(&mut self, _line: &[u8]) -> io::Result<()> {
        Err(io::Error::other("this output takes events, not JSON lines"))
    }
}

/// Two sinks at once: a session file and the live text, say.
pub struct Tee<A: Sink, B: Sink>(pub A, pub Option<B>);

impl<A: Sink, B: Sink> Sink for Tee<A, B> {
    fn start(&mut self, kernel: &str, mode: &str, hooks: &[String]) -> io::Result<()> {
        self.0.start(kernel, mode, hooks)?;
        self.1
            .as_mut()
            .map_or(Ok(()), |b| b.start(kernel, mode, hooks))
    }

    fn event(&mut self, ev: &OomEvent) -> io::Result<()> {
        self.0.event(ev)?;
        self.1.as_mut().map_or(Ok(()), |b| b.event(ev))
    }

    fn reaper(&mut self, r: &ReaperEvent) -> io::Result<()> {
        self.0.reaper(r)?;
        self.1.as_mut().map_or(Ok(()), |b| b.reaper(r))
    }
}

/// The kernel-style text report.
pub struct Text<W: Write>(pub W, pub render::Options);

impl<W: Write> Sink for Text<W> {
    fn event(&mut self, ev: &OomEvent) -> io::Result<()> {
        self.0.write_all(render::text_with(ev, self.1).as_bytes())?;
        self.0.write_all(b"\n")?;
        self.0.flush()
    }

    fn reaper(&mut self, r: &ReaperEvent) -> io::Result<()> {
        writeln!(self.0, "{}", render::reaper_line(r))?;
        self.0.flush()
    }
}

/// JSON Lines, one event a line.
pub struct Json<W: Write>(pub W);

impl<W: Write> Sink for Json<W> {
    fn event(&mut self, ev: &OomEvent) -> io::Result<()> {
        serde_json::to_writer(&mut self.0, ev)?;
        self.0.write_all(b"\n")?;
        self.0.flush()
    }

    fn reaper(&mut self, r: &ReaperEvent) -> io::Result<()> {
        serde_json::to_writer(&mut self.0, r)?;
        self.0.write_all(b"\n")?;
        self.0.flush()
    }

    fn raw_line(&mut self, line: &[u8]) -> io::Result<()> {
        self.0.write_all(line)?;
        self.0.write_all(b"\n")
    }
}

/// Which events a user asked for: `--pid`, `--comm`, `--cgroup`.
#[derive(Clone, Debug, Default, clap::Args)]
pub struct Filter {
    /// Only OOMs whose trigger or victim has this pid.
    #[arg(long)]
    pub pid: Option<i32>,
    /// Only OOMs whose trigger or victim has this command name.
    #[arg(long)]
    pub comm: Option<String>,
    /// Only OOMs in this cgroup or below it (OOM domain, trigger or victim).
    #[arg(long)]
    pub cgroup: Option<String>,
}

impl Filter {
    pub fn accepts(&self, ev: &OomEvent) -> bool {
        self.pid.is_none_or(|p| ev.involves_pid(p))
            && self.comm.as_deref().is_none_or(|c| ev.involves_comm(c))
            && self.cgroup.as_deref().is_none_or(|c| ev.involves_cgroup(c))
    }
}
