//! `oomtrace report FILE...`: recorded sessions through the same sinks as
//! live tracing, or summarized.

use crate::event::OomEvent;
use crate::session::{self, Session};
use crate::sink::{Filter, Json, Sink, Text};
use anyhow::{Context, Result};
use std::collections::BTreeMap;
use std::io::{self, Write};
use std::path::PathBuf;
use std::time::SystemTime;

#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum Format {
    Text,
    Json,
}

#[derive(Clone, Debug, clap::Args)]
pub struct ReportArgs {
    /// Session files written by `oomtrace record`.
    #[arg(required = true)]
    pub files: Vec<PathBuf>,
    #[arg(long, value_enum, default_value = "text")]
    pub format: Format,
    /// A table of OOMs per victim, memcg, trigger and gfp/order instead of the events.
    #[arg(long)]
    pub summary: bool,
    #[command(flatten)]
    pub filter: Filter,
    /// Only events at or after this time (RFC 3339, e.g. 2026-11-27T10:00:00Z).
    #[arg(long, value_parser = humantime::parse_rfc3339_weak)]
    pub since: Option<SystemTime>,
    /// Only events before this time.
    #[arg(long, value_parser = humantime::parse_rfc3339_weak)]
    pub until: Option<SystemTime>,
    /// Add every vm_node_stat / vm_zone_stat counter (index, name, value) to the text.
    #[arg(long)]
    pub counters: bool,
    /// Go on past lines that do not parse (each is named on stderr).
    #[arg(long)]
    pub skip_bad: bool,
}

fn in_window(ev: &OomEvent, args: &ReportArgs) -> bool {
    if args.since.is_none() && args.until.is_none() {
        return true;
    }
    let Ok(t) = humantime::parse_rfc3339_weak(&ev.time) else {
        return false;
    };
    args.since.is_none_or(|s| t >= s) && args.until.is_none_or(|u| t < u)
}

#[derive(Default)]
struct Summary {
    sessions: u64,
    unclean: u64,
    lost: u64,
    incomplete: u64,
    events: u64,
    kills: u64,
    first: Option<String>,
    last: Option<String>,
    by_victim: BTreeMap<String, u64>,
    by_memcg: BTreeMap<String, u64>,
    by_trigger: BTreeMap<String, u64>,
    by_request: BTreeMap<String, u64>,
}

impl Summary {
    fn session(&mut self, s: &Session) {
        self.sessions += 1;
        match &s.trailer {
            Some(t) => {
                self.lost += t.lost;
                self.incomplete += t.incomplete;
            }
            None => self.unclean += 1,
        }
    }

    fn event(&mut self, ev: &OomEvent) {
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
            .by_memcg
            .entry(
                ev.memcg
                    .clone()
                    .unwrap_or_else(|| match ev.constraint.as_deref() {
                        Some("CONSTRAINT_MEMCG") => "? (memcg)".into(),
                        Some(_) => "(global)".into(),
                        None => "?".into(),
                    }),
            )
            .or_default() += 1;
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

    fn write(&self, out: &mut dyn Write) -> io::Result<()> {
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

pub fn run(args: &ReportArgs) -> Result<()> {
    let stdout = io::stdout();
    let mut out = io::BufWriter::with_capacity(1 << 16, stdout.lock());
    let mut sink: Box<dyn Sink + '_> = match args.format {
        Format::Text => Box::new(Text(
            &mut out,
            crate::render::Options {
                counters: args.counters,
            },
        )),
        Format::Json => Box::new(Json(&mut out)),
    };
    let mut summary = Summary::default();
    for file in &args.files {
        let (sessions, notes) = session::read(file, args.skip_bad)?;
        for (line, why) in &notes.skipped {
            eprintln!("oomtrace: {}:{line}: skipped: {why}", file.display());
        }
        if let Some((line, bytes)) = notes.truncated_tail {
            eprintln!(
                "oomtrace: {}:{line}: the last line is cut off after {bytes} bytes (the recorder stopped mid-write); every event before it is shown",
                file.display()
            );
        }
        for s in &sessions {
            summary.session(s);
            if s.trailer.is_none() && notes.truncated_tail.is_none() {
                eprintln!(
                    "oomtrace: {}: the session started {} has no end record: the recorder did not stop cleanly",
                    file.display(),
                    s.header.start
                );
            }
            for ev in s
                .events
                .iter()
                .filter(|e| args.filter.accepts(e) && in_window(e, args))
            {
                if args.summary {
                    summary.event(ev);
                } else {
                    sink.event(ev).context("writing the report")?;
                    for r in s.reapers.iter().filter(|r| r.seq == ev.seq) {
                        sink.reaper(r).context("writing the report")?;
                    }
                }
            }
        }
    }
    drop(sink);
    if args.summary {
        summary.write(&mut out)?;
    }
    out.flush()?;
    Ok(())
}
