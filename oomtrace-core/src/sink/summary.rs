//! `report --summary`: a sink that counts instead of printing. It sees only
//! each event's [`Brief`](crate::schema::event::Brief), which is all a session read
//! for it holds.

use crate::schema::event::{Brief, Header, ReaperEvent, Trailer};
use crate::schema::item::Event;
use crate::sink::Sink;
use std::collections::BTreeMap;
use std::io::{self, Write};

#[derive(Debug, Default, PartialEq, Eq)]
pub struct Summary {
    pub sessions: u64,
    /// Sessions whose end record never came.
    pub unclean: u64,
    pub lost: u64,
    pub incomplete: u64,
    pub events: u64,
    pub kills: u64,
    pub first: Option<String>,
    pub last: Option<String>,
    pub by_victim: BTreeMap<String, u64>,
    /// The victim's pod, container or unit (else its cgroup).
    pub by_workload: BTreeMap<String, u64>,
    pub by_memcg: BTreeMap<String, u64>,
    pub by_trigger: BTreeMap<String, u64>,
    pub by_request: BTreeMap<String, u64>,
}

impl Summary {
    /// Counts one event.
    pub fn add(&mut self, ev: &Brief) {
        self.events += 1;
        if ev.killed == Some(true) {
            self.kills += 1;
        }
        if self.first.as_ref().is_none_or(|f| ev.time < *f) {
            self.first = Some(ev.time.clone());
        }
        if self.last.as_ref().is_none_or(|l| ev.time > *l) {
            self.last = Some(ev.time.clone());
        }
        let q = |s: Option<&str>| s.unwrap_or("?").to_owned();
        *self
            .by_victim
            .entry(q(ev.victim.as_ref().and_then(|v| v.comm.as_deref())))
            .or_default() += 1;
        *self
            .by_workload
            .entry(
                ev.victim
                    .as_ref()
                    .and_then(|v| v.workload_label())
                    .unwrap_or_else(|| "(unknown)".into()),
            )
            .or_default() += 1;
        let domain = ev
            .memcg
            .clone()
            .unwrap_or_else(|| match ev.constraint.as_deref() {
                Some("CONSTRAINT_MEMCG") => "? (memcg)".into(),
                Some(_) => "(global)".into(),
                None => "?".into(),
            });
        *self.by_memcg.entry(domain).or_default() += 1;
        *self
            .by_trigger
            .entry(q(ev.trigger.comm.as_deref()))
            .or_default() += 1;
        let request = format!(
            "{} order={}",
            ev.gfp_flags.as_deref().unwrap_or("?"),
            ev.order.map_or("?".into(), |o| o.to_string())
        );
        *self.by_request.entry(request).or_default() += 1;
    }

    pub fn write(&self, out: &mut dyn Write) -> io::Result<()> {
        writeln!(
            out,
            "sessions: {} ({} not stopped cleanly), lost records: {}, incomplete OOMs: {}",
            self.sessions, self.unclean, self.lost, self.incomplete
        )?;
        writeln!(
            out,
            "OOMs: {} ({} killed a task, {} did not), first {}, last {}",
            self.events,
            self.kills,
            self.events - self.kills,
            self.first.as_deref().unwrap_or("-"),
            self.last.as_deref().unwrap_or("-")
        )?;
        for (title, map) in [
            ("victim comm", &self.by_victim),
            (
                "victim workload (pod, container, unit or cgroup)",
                &self.by_workload,
            ),
            ("memcg", &self.by_memcg),
            ("trigger comm", &self.by_trigger),
            ("gfp/order", &self.by_request),
        ] {
            writeln!(out, "\n{:>8}  {title}", "OOMs")?;
            let mut rows: Vec<_> = map.iter().collect();
            rows.sort_by(|a, b| b.1.cmp(a.1).then(a.0.cmp(b.0)));
            for (k, n) in rows {
                writeln!(out, "{n:>8}  {k}")?;
            }
        }
        Ok(())
    }
}

/// The summary as a sink: counts while the pipeline runs, writes at the end.
pub struct SummarySink<W: Write> {
    pub summary: Summary,
    out: W,
}

impl<W: Write> SummarySink<W> {
    pub fn new(out: W) -> Self {
        Self {
            summary: Summary::default(),
            out,
        }
    }
}

impl<W: Write> Sink for SummarySink<W> {
    fn session(&mut self, _h: &Header) -> io::Result<()> {
        self.summary.sessions += 1;
        // Counted clean when its end record comes.
        self.summary.unclean += 1;
        Ok(())
    }

    fn event(&mut self, ev: &Event) -> io::Result<()> {
        self.summary.add(&ev.brief);
        Ok(())
    }

    fn reaper(&mut self, _r: &ReaperEvent) -> io::Result<()> {
        Ok(())
    }

    fn end(&mut self, t: &Trailer) -> io::Result<()> {
        self.summary.unclean = self.summary.unclean.saturating_sub(1);
        self.summary.lost += t.lost;
        self.summary.incomplete += t.incomplete;
        Ok(())
    }

    fn finish(&mut self) -> io::Result<()> {
        self.summary.write(&mut self.out)?;
        self.out.flush()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::schema::event::{OomEvent, Victim};
    use crate::sink::session::Writer;
    use crate::source::session::{Depth, Reader};

    /// Two sessions, the second never ended: every count and every table
    /// row, against the text worked out by hand.
    #[test]
    fn the_summary_counts_each_session_event_and_table_row() {
        let ev = |seq: u64, time: &str, victim: &str, killed: bool, memcg: Option<&str>| {
            let ev = OomEvent {
                seq,
                time: time.into(),
                constraint: Some(
                    if memcg.is_some() {
                        "CONSTRAINT_MEMCG"
                    } else {
                        "CONSTRAINT_NONE"
                    }
                    .into(),
                ),
                memcg: memcg.map(str::to_owned),
                gfp_flags: Some("GFP_KERNEL".into()),
                order: Some(0),
                killed: Some(killed),
                trigger: crate::schema::event::Task {
                    comm: Some("hog".into()),
                    ..Default::default()
                },
                victim: Some(Victim {
                    comm: Some(victim.into()),
                    ..Victim::default()
                }),
                ..OomEvent::default()
            };
            Event::new(ev)
        };
        let mut sink = SummarySink::new(Vec::new());
        sink.session(&Header::new("6.18", "kprobe", vec![]))
            .unwrap();
        sink.event(&ev(1, "2026-11-27T10:00:02Z", "a", true, Some("/x")))
            .unwrap();
        sink.event(&ev(2, "2026-11-27T10:00:01Z", "a", true, None))
            .unwrap();
        sink.event(&ev(3, "2026-11-27T10:00:03Z", "b", false, Some("/x")))
            .unwrap();
        sink.end(&Trailer {
            lost: 2,
            incomplete: 1,
            ..Trailer::default()
        })
        .unwrap();
        sink.session(&Header::new("6.18", "kprobe", vec![]))
            .unwrap();
        sink.event(&ev(1, "2026-11-27T09:00:00Z", "c", true, Some("/y")))
            .unwrap();
        sink.finish().unwrap();
        let text = String::from_utf8(sink.out).unwrap();
        assert_eq!(
            text,
            "sessions: 2 (1 not stopped cleanly), lost records: 2, incomplete OOMs: 1\n\
             OOMs: 4 (3 killed a task, 1 did not), first 2026-11-27T09:00:00Z, last 2026-11-27T10:00:03Z\n\
             \n    OOMs  victim comm\n       2  a\n       1  b\n       1  c\n\
             \n    OOMs  victim workload (pod, container, unit or cgroup)\n       4  (unknown)\n\
             \n    OOMs  memcg\n       2  /x\n       1  (global)\n       1  /y\n\
             \n    OOMs  trigger comm\n       4  hog\n\
             \n    OOMs  gfp/order\n       4  GFP_KERNEL order=0\n"
        );
    }

    /// A global OOM read back briefly from a session is counted under
    /// `(global)`, as the whole event is: the brief holds what the summary uses.
    #[test]
    fn global_ooms_are_counted_as_global_from_a_session() {
        let ev = OomEvent {
            seq: 1,
            time: "2026-11-27T10:00:00.000000Z".into(),
            constraint: Some("CONSTRAINT_NONE".into()),
            killed: Some(true),
            victim: Some(Victim {
                comm: Some("hog".into()),
                ..Victim::default()
            }),
            ..OomEvent::default()
        };
        let mut from_event = Summary::default();
        from_event.add(&ev.brief());
        assert_eq!(from_event.by_memcg.get("(global)"), Some(&1));

        let mut w = Writer::new(Vec::new());
        w.session(&Header::new("6.18", "kprobe", vec![])).unwrap();
        w.event(&Event::new(ev)).unwrap();
        let bytes = w.into_inner();
        let mut r = Reader::new(&bytes[..], "mem", false, Depth::Brief);
        let mut from_file = Summary::default();
        while let Some(item) = r.next_item().unwrap() {
            if let crate::schema::item::Item::Event(e) = item {
                assert!(e.full.is_none(), "read briefly");
                from_file.add(&e.brief);
            }
        }
        assert_eq!(from_file, from_event);
    }
}
