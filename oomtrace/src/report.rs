//! `oomtrace report FILE...`: recorded sessions through the same sinks as
//! live tracing, or summarized.

use crate::event::OomEvent;
use crate::session::{self, Item, Trailer};
use crate::sink::{Filter, Json, Sink, Text};
use anyhow::Result;
use std::collections::BTreeMap;
use std::fs::File;
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
    fn session_start(&mut self) {
        self.sessions += 1;
        // Counted clean when its end record comes.
        self.unclean += 1;
    }

    fn session_end(&mut self, t: &Trailer) {
        self.unclean -= 1;
        self.lost += t.lost;
        self.incomplete += t.incomplete;
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
        let name = file.display().to_string();
        // Sessions stream through: the started one whose end record has not
        // come yet, and whether its latest event passed the filters (its
        // reaper steps follow it).
        let mut open_session: Option<String> = None;
        let mut shown_seq = None;
        let say_unclean = |start: &str| {
            eprintln!(
                "oomtrace: {name}: the session started {start} has no end record: the recorder did not stop cleanly"
            )
        };
        let opened = if file.is_dir() {
            Err(session::ReadError::Directory { path: name.clone() })
        } else {
            File::open(file).map_err(|source| session::ReadError::Io {
                path: name.clone(),
                source,
            })
        };
        let notes = match opened {
            Err(e) => Err(e),
            Ok(f) => session::read_stream(
                io::BufReader::with_capacity(1 << 20, f),
                &name,
                args.skip_bad,
                // JSON and the summary need only what the filters look at:
                // JSON lines are passed through as recorded.
                if args.summary || args.format == Format::Json {
                    session::Depth::Brief
                } else {
                    session::Depth::Full
                },
                |item| {
                    match item {
                        Item::Header(h) => {
                            if let Some(start) = open_session.replace(h.start.clone()) {
                                say_unclean(&start);
                            }
                            summary.session_start();
                        }
                        Item::End(t) => {
                            open_session = None;
                            summary.session_end(&t);
                        }
                        Item::Event(ev, line) => {
                            shown_seq = None;
                            if args.filter.accepts(&ev) && in_window(&ev, args) {
                                shown_seq = Some(ev.seq);
                                if args.summary {
                                    summary.event(&ev);
                                } else if args.format == Format::Json {
                                    sink.raw_line(line)?;
                                } else {
                                    sink.event(&ev)?;
                                }
                            }
                        }
                        Item::Reaper(r) => {
                            if !args.summary && shown_seq == Some(r.seq) {
                                sink.reaper(&r)?;
                            }
                        }
                    }
                    Ok(())
                },
            ),
        }?;
        for (line, why) in &notes.skipped {
            eprintln!("oomtrace: {name}:{line}: skipped: {why}");
        }
        if let Some((line, bytes)) = notes.truncated_tail {
            eprintln!(
                "oomtrace: {name}:{line}: the last line is cut off after {bytes} bytes (the recorder stopped mid-write); every event before it is shown"
            );
        } else if let Some(start) = open_session {
            say_unclean(&start);
        }
    }
    drop(sink);
    if args.summary {
        summary.write(&mut out)?;
    }
    out.flush()?;
    Ok(())
}
