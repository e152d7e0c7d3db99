//! The one loop every command runs: a source's items, enriched, filtered,
//! into a sink.
//!
//! ```text
//!  Source::next ──> Enricher::enrich ──> Filter::accepts ──> Sink
//!  (BPF records,     (names, files of      (--pid, --comm,     (text, JSON,
//!   session files,    user frames, ...)     --cgroup, --since,  session file,
//!   kernel logs)                            --until)            summary, ...)
//! ```
//!
//! Adding a source or a sink is implementing one trait; the rules every
//! command shares live here once: reaper steps follow the event they belong
//! to (only when it was shown), `--count` stops after that many shown
//! events, the end record of a session always reaches the sink.

use crate::schema::event::{Brief, OomEvent, Trailer};
pub use crate::schema::item::{Event, Item};
use crate::sink::Sink;
use anyhow::{Context as _, Result};
use std::collections::{HashSet, VecDeque};
use std::time::SystemTime;

/// Where items come from.
pub trait Source {
    /// The next item; `None` when the source is done. `wait: false` asks
    /// only for what is at hand (the pipeline is finishing).
    fn next(&mut self, wait: bool) -> Result<Option<Item>>;

    /// The pipeline has what it wanted (`--count`): end soon, handing out
    /// what is at hand and the session's end.
    fn stop(&mut self) {}

    /// Takes back an event the pipeline is done with. A source that builds
    /// events on a thread of its own frees them there: glibc's allocator
    /// locks the arena of the thread that allocated, and frees from another
    /// thread contend with that thread's allocations.
    fn recycle(&mut self, _ev: Box<Event>) {}
}

/// Adds to an event before it is filtered and shown: names, files, anything
/// looked up outside the event. Runs only on whole events.
pub trait Enricher {
    fn enrich(&mut self, ev: &mut OomEvent);

    /// The source's counts as they change (the allocator's retries, lost
    /// records), before the events that follow them.
    fn progress(&mut self, _p: &crate::schema::item::Progress) {}
}

/// Which events a user asked for.
#[derive(Clone, Debug, Default)]
pub struct Filter {
    /// Only OOMs whose trigger or victim has this pid.
    pub pid: Option<i32>,
    /// Only OOMs whose trigger or victim has this command name.
    pub comm: Option<String>,
    /// Only OOMs in this cgroup or below it (OOM domain, trigger or victim).
    pub cgroup: Option<String>,
    /// Only events at or after this time.
    pub since: Option<SystemTime>,
    /// Only events before this time.
    pub until: Option<SystemTime>,
}

impl Filter {
    pub fn accepts(&self, b: &Brief) -> bool {
        self.pid.is_none_or(|p| b.involves_pid(p))
            && self.comm.as_deref().is_none_or(|c| b.involves_comm(c))
            && self.cgroup.as_deref().is_none_or(|c| b.involves_cgroup(c))
            && self.in_window(b)
    }

    fn in_window(&self, b: &Brief) -> bool {
        if self.since.is_none() && self.until.is_none() {
            return true;
        }
        let Ok(t) = humantime::parse_rfc3339_weak(&b.time) else {
            return false;
        };
        self.since.is_none_or(|s| t >= s) && self.until.is_none_or(|u| t < u)
    }
}

/// How a run went.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Outcome {
    /// Events that passed the filter and reached the sink.
    pub shown: u64,
    /// The last end record the source gave.
    pub end: Option<Trailer>,
}

/// Events whose reaper steps are wanted: the shown ones, the latest few
/// thousand (a reaper acts within seconds of its kill).
#[derive(Default)]
struct Shown {
    set: HashSet<u64>,
    order: VecDeque<u64>,
}

impl Shown {
    const KEPT: usize = 4096;

    fn insert(&mut self, seq: u64) {
        if self.set.insert(seq) {
            self.order.push_back(seq);
            if self.order.len() > Self::KEPT
                && let Some(old) = self.order.pop_front()
            {
                self.set.remove(&old);
            }
        }
    }

    /// A new session numbers its events from 1 again.
    fn clear(&mut self) {
        self.set.clear();
        self.order.clear();
    }
}

/// Runs `source → enrichers → filter → sink` until the source is done or
/// `limit` events were shown.
pub fn run(
    source: &mut dyn Source,
    enrichers: &mut [&mut dyn Enricher],
    filter: &Filter,
    sink: &mut dyn Sink,
    limit: Option<u64>,
) -> Result<Outcome> {
    let mut out = Outcome::default();
    let mut shown = Shown::default();
    let mut stopping = false;
    // Events shown in the current session: what its end record counts.
    let mut in_session = 0;
    while let Some(item) = source.next(!stopping)? {
        match item {
            Item::Session(h) => {
                shown.clear();
                in_session = 0;
                sink.session(&h).context("writing the session header")?;
            }
            Item::Event(mut ev) => {
                if stopping {
                    source.recycle(ev);
                    continue;
                }
                if let Some(full) = ev.full.as_deref_mut()
                    && !enrichers.is_empty()
                {
                    for e in enrichers.iter_mut() {
                        e.enrich(full);
                    }
                    // Replaced only when it changed: the source may free
                    // what it made on a thread of its own (`recycle`).
                    let brief = full.brief();
                    if brief != ev.brief {
                        ev.brief = brief;
                    }
                    // The line as recorded may no longer say all it has.
                    ev.line = None;
                }
                if !filter.accepts(&ev.brief) {
                    source.recycle(ev);
                    continue;
                }
                shown.insert(ev.brief.seq);
                sink.event(&ev).context("writing an event")?;
                source.recycle(ev);
                out.shown += 1;
                in_session += 1;
                if limit.is_some_and(|l| out.shown >= l) {
                    stopping = true;
                    source.stop();
                }
            }
            Item::Reaper(r) => {
                if shown.set.contains(&r.seq) {
                    sink.reaper(&r).context("writing a reaper step")?;
                }
            }
            Item::End(mut t) => {
                // The session holds what was shown, whatever the source saw.
                t.events = in_session;
                sink.end(&t).context("writing the end record")?;
                out.end = Some(t);
            }
            Item::Progress(mut p) => {
                for e in enrichers.iter_mut() {
                    e.progress(&p);
                }
                p.counts.events = in_session;
                sink.progress(&p).context("writing the counts so far")?;
            }
        }
    }
    sink.finish().context("writing the output")?;
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::schema::event::{Header, ReaperEvent, ReaperStep, Task, Trailer};

    /// A source of prepared items.
    struct Items(VecDeque<Item>, bool);

    impl Source for Items {
        fn next(&mut self, _wait: bool) -> Result<Option<Item>> {
            Ok(self.0.pop_front())
        }
        fn stop(&mut self) {
            self.1 = true;
        }
    }

    /// What reached the sink, one word each.
    #[derive(Default)]
    struct Log(Vec<String>);

    impl Sink for Log {
        fn session(&mut self, _: &Header) -> std::io::Result<()> {
            self.0.push("session".into());
            Ok(())
        }
        fn event(&mut self, ev: &Event) -> std::io::Result<()> {
            self.0.push(format!("oom{}", ev.brief.seq));
            Ok(())
        }
        fn reaper(&mut self, r: &ReaperEvent) -> std::io::Result<()> {
            self.0.push(format!("reaper{}", r.seq));
            Ok(())
        }
        fn end(&mut self, _: &Trailer) -> std::io::Result<()> {
            self.0.push("end".into());
            Ok(())
        }
    }

    fn oom(seq: u64, pid: i32) -> Item {
        Item::event(OomEvent {
            seq,
            trigger: Task {
                pid: Some(pid),
                ..Task::default()
            },
            ..OomEvent::default()
        })
    }

    fn reaper(seq: u64) -> Item {
        Item::Reaper(ReaperEvent {
            seq,
            step: ReaperStep::Finish,
            ..ReaperEvent::default()
        })
    }

    struct Rename;
    impl Enricher for Rename {
        fn enrich(&mut self, ev: &mut OomEvent) {
            ev.trigger.comm = Some(format!("pid{}", ev.trigger.pid.unwrap_or(0)));
        }
    }

    #[test]
    fn reaper_steps_follow_shown_events_and_count_stops() {
        let items = vec![
            Item::Session(Header::default()),
            oom(1, 10),
            reaper(1),
            oom(2, 20),
            reaper(2),
            oom(3, 10),
            reaper(3),
            oom(4, 10),
            Item::End(Trailer {
                events: 4,
                ..Trailer::default()
            }),
        ];
        let mut src = Items(items.into(), false);
        let mut sink = Log::default();
        let filter = Filter {
            comm: Some("pid10".into()),
            ..Filter::default()
        };
        let out = run(&mut src, &mut [&mut Rename], &filter, &mut sink, Some(2)).unwrap();
        assert_eq!(
            sink.0,
            ["session", "oom1", "reaper1", "oom3", "reaper3", "end"],
            "the enricher's name is what the filter saw; event 4 came after the count"
        );
        assert_eq!(out.shown, 2);
        assert!(src.1, "the source was told to stop");
        assert_eq!(
            out.end.unwrap().events,
            2,
            "the end record counts what was shown"
        );
    }

    /// `--since` takes an event at that very time, `--until` does not; an
    /// event whose time cannot be read passes no window (and every event
    /// passes when there is none).
    #[test]
    fn time_windows_include_since_and_exclude_until() {
        let at = |t: &str| Brief {
            time: t.into(),
            ..OomEvent::default().brief()
        };
        let t = |s: &str| humantime::parse_rfc3339_weak(s).unwrap();
        let f = Filter {
            since: Some(t("2026-11-27T10:00:00Z")),
            until: Some(t("2026-11-27T11:00:00Z")),
            ..Filter::default()
        };
        assert!(!f.accepts(&at("2026-11-27T09:59:59.999999Z")));
        assert!(f.accepts(&at("2026-11-27T10:00:00Z")));
        assert!(f.accepts(&at("2026-11-27T10:59:59.999999Z")));
        assert!(!f.accepts(&at("2026-11-27T11:00:00Z")));
        assert!(!f.accepts(&at("not a time")));
        let only_since = Filter {
            until: None,
            ..f.clone()
        };
        assert!(only_since.accepts(&at("2030-01-01T00:00:00Z")));
        assert!(!only_since.accepts(&at("2026-11-27T09:00:00Z")));
        let only_until = Filter { since: None, ..f };
        assert!(only_until.accepts(&at("2000-01-01T00:00:00Z")));
        assert!(!only_until.accepts(&at("2030-01-01T00:00:00Z")));
        assert!(Filter::default().accepts(&at("not a time")));
    }

    /// The shown events' seqs are kept for their reaper steps up to a bound,
    /// the oldest going first, and forgotten when a new session begins.
    #[test]
    fn shown_seqs_are_bounded_and_cleared() {
        let mut s = Shown::default();
        for seq in 1..=(Shown::KEPT as u64 + 1) {
            s.insert(seq);
        }
        s.insert(2);
        assert_eq!(s.order.len(), Shown::KEPT, "a seq twice is kept once");
        assert!(!s.set.contains(&1) && s.set.contains(&2));
        assert!(s.set.contains(&(Shown::KEPT as u64 + 1)));
        s.clear();
        assert!(s.set.is_empty() && s.order.is_empty());
    }

    /// A new session's reaper steps follow its own shown events, not the
    /// last session's of the same seq.
    #[test]
    fn a_new_session_forgets_the_shown_seqs() {
        let items = vec![
            Item::Session(Header::default()),
            oom(1, 10),
            Item::Session(Header::default()),
            oom(1, 20),
            reaper(1),
        ];
        let mut src = Items(items.into(), false);
        let mut sink = Log::default();
        let filter = Filter {
            pid: Some(10),
            ..Filter::default()
        };
        run(&mut src, &mut [], &filter, &mut sink, None).unwrap();
        assert_eq!(sink.0, ["session", "oom1", "session"]);
    }

    /// The source is asked to wait while the run goes on, and only for what
    /// is at hand once the count is reached.
    #[test]
    fn the_source_waits_until_the_count_then_hands_out_what_is_at_hand() {
        struct Waits(VecDeque<Item>, Vec<bool>);
        impl Source for Waits {
            fn next(&mut self, wait: bool) -> Result<Option<Item>> {
                self.1.push(wait);
                Ok(self.0.pop_front())
            }
        }
        let mut src = Waits(
            vec![
                Item::Session(Header::default()),
                oom(1, 1),
                oom(2, 1),
                oom(3, 1),
            ]
            .into(),
            Vec::new(),
        );
        run(
            &mut src,
            &mut [],
            &Filter::default(),
            &mut Log::default(),
            Some(2),
        )
        .unwrap();
        assert_eq!(src.1, [true, true, true, false, false]);
    }
}
