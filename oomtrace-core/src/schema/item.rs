//! What flows from a source to a sink: a session's header, its events and
//! reaper steps, its end.

use crate::schema::event::{Brief, Header, OomEvent, ReaperEvent, Trailer};

/// One OOM event as a source has it.
#[derive(Clone, Debug)]
pub struct Event {
    /// What filters and summaries look at; always there.
    pub brief: Brief,
    /// The whole event; `None` when the source read only its brief (a session
    /// read for a summary, or passed through as recorded).
    pub full: Option<Box<OomEvent>>,
    /// The event's JSON line as recorded, when it came from a session file:
    /// JSON sinks pass it on unchanged.
    pub line: Option<Vec<u8>>,
}

impl Event {
    /// A whole event, as live sources and the kernel-log parser make them.
    pub fn new(ev: OomEvent) -> Self {
        Self {
            brief: ev.brief(),
            full: Some(Box::new(ev)),
            line: None,
        }
    }
}

/// What flows from a source to a sink.
#[derive(Clone, Debug)]
pub enum Item {
    /// A session begins: what was traced, where, how.
    Session(Header),
    Event(Box<Event>),
    /// A step of the OOM reaper for a victim of the event `seq`.
    Reaper(ReaperEvent),
    /// The session ended cleanly, with its counts.
    End(Trailer),
    /// The counts so far of a session still running (said when they
    /// change), and whether its files should be reopened (SIGHUP).
    Progress(Progress),
}

#[derive(Clone, Debug, Default)]
pub struct Progress {
    /// The counts as the end record would have them now.
    pub counts: Trailer,
    pub reopen: bool,
    /// `oom:reclaim_retry_zone` and `oom:compact_retry` seen so far.
    pub reclaim_retries: u64,
    pub compact_retries: u64,
    /// The newest of them.
    pub last_retry: Option<crate::schema::event::RetryStep>,
}

impl Item {
    /// A whole event.
    pub fn event(ev: OomEvent) -> Self {
        Item::Event(Box::new(Event::new(ev)))
    }
}
