//! `report --format html`: one self-contained page (styles, script and
//! charts inline, SVG drawn here; nothing fetched) for people who look
//! rather than read. It streams: each OOM's detail is written as it comes
//! (up to a limit), the overview (timeline, who, merged stacks) is summed in
//! the bounded aggregates of [`crate::sink::charts`] and written at the end; the
//! stylesheet shows it first.

use crate::schema::event::{Header, OomEvent, ReaperEvent, Trailer};
use crate::schema::item::Event;
use crate::sink::Sink;
use crate::sink::charts::{self, Constraint, Mark, StackTree, Timeline, TopCounts};
use crate::sink::render;
use std::fmt::Write as _;
use std::io::{self, Write};

const STYLE: &str = include_str!("../../../assets/report.css");
const SCRIPT: &str = include_str!("../../../assets/report.js");

/// OOMs drawn one by one on the timeline before it counts them in bins.
const TIMELINE_MARKS: usize = 2000;
/// Names per "who" chart before the rest are counted as `other`.
const NAMES: usize = 10_000;
/// Bars per "who" chart.
const TOP: usize = 12;
/// Nodes of the merged stacks.
const STACK_NODES: usize = 20_000;
/// Sessions listed in the header (all are counted).
const SESSIONS_LISTED: usize = 200;
/// Width of the overview charts (SVG user units).
const WIDTH: f64 = 1000.0;

/// The default number of OOMs with a detail section of their own.
pub const DETAIL_LIMIT: usize = 200;
/// Bytes of detail sections at most, whatever their number: with the
/// overview's bounds (timeline marks, drawn frames) the page stays under
/// 5 MB however many OOMs, zones and nodes a session has.
const DETAIL_BYTES: usize = 3_000_000;
/// Frames of the merged stacks drawn at most (the widest first).
const FRAMES_DRAWN: usize = 2000;

struct SessionInfo {
    header: Header,
    end: Option<Trailer>,
}

pub struct Html<W: Write> {
    out: W,
    opts: render::Options,
    detail_limit: usize,
    detail_bytes: usize,
    started: bool,
    sessions: Vec<SessionInfo>,
    session_count: usize,
    timeline: Timeline,
    reaper: Timeline,
    by_workload: TopCounts,
    by_victim: TopCounts,
    by_trigger: TopCounts,
    by_constraint: [u64; 6],
    stacks: StackTree,
    events: u64,
    kills: u64,
    detailed: u64,
    lost: u64,
    incomplete: u64,
    /// Session ends with lost records, for the timeline: (seconds, lost).
    losses: Vec<(f64, u64)>,
}

impl<W: Write> Html<W> {
    pub fn new(out: W, opts: render::Options, detail_limit: usize) -> Self {
        Self {
            out,
            opts,
            detail_limit,
            detail_bytes: 0,
            started: false,
            sessions: Vec::new(),
            session_count: 0,
            timeline: Timeline::new(TIMELINE_MARKS),
            reaper: Timeline::new(TIMELINE_MARKS),
            by_workload: TopCounts::new(NAMES),
            by_victim: TopCounts::new(NAMES),
            by_trigger: TopCounts::new(NAMES),
            by_constraint: [0; 6],
            stacks: StackTree::new(STACK_NODES),
            events: 0,
            kills: 0,
            detailed: 0,
            lost: 0,
            incomplete: 0,
            losses: Vec::new(),
        }
    }

    fn start(&mut self) -> io::Result<()> {
        if self.started {
            return Ok(());
        }
        self.started = true;
        write!(
            self.out,
            "<!doctype html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">\
             <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\
             <link rel=\"icon\" href=\"data:,\">\
             <meta name=\"generator\" content=\"oomtrace {}\">\
             <title>oomtrace report</title><style>{STYLE}</style></head>\n<body><div id=\"page\">\n\
             <section id=\"ooms\"><h2>OOMs one by one</h2>\n",
            env!("CARGO_PKG_VERSION")
        )
    }

    /// The session index of the event now coming (0 before any header).
    fn session_index(&self) -> usize {
        self.session_count.saturating_sub(1)
    }

    fn detail(&mut self, ev: &OomEvent) -> io::Result<()> {
        let s = self.session_index();
        let html = detail(ev, s, self.opts);
        self.detail_bytes += html.len();
        self.out.write_all(html.as_bytes())
    }

    fn overview(&mut self) -> String {
        let mut o = String::new();
        o.push_str("<section id=\"overview\">");
        let _ = write!(
            o,
            "<h1>OOM report</h1><p class=\"meta\">oomtrace {} · {} OOM{} ({} killed a task) in {} session{}",
            env!("CARGO_PKG_VERSION"),
            self.events,
            plural(self.events),
            self.kills,
            self.session_count,
            plural(self.session_count as u64),
        );
        if self.lost > 0 || self.incomplete > 0 {
            let _ = write!(
                o,
                " · <span class=\"warn\">{} lost record{}, {} incomplete OOM{}</span>",
                self.lost,
                plural(self.lost),
                self.incomplete,
                plural(self.incomplete)
            );
        }
        o.push_str("</p>");
        o.push_str(&self.sessions_table());
        if self.detailed < self.events {
            let _ = write!(
                o,
                "<p class=\"warn\" id=\"detail-limit\">Only the first {} OOMs have a section of \
                 their own below ({}); all {} are counted in the charts.</p>",
                self.detailed,
                if self.detail_bytes >= DETAIL_BYTES {
                    "the page keeps its detail under 3 MB"
                } else {
                    "<code>--detail-limit</code> raises it"
                },
                self.events
            );
        }
        o.push_str("<h2>When</h2>");
        o.push_str(&self.timeline_svg());
        o.push_str("<h2>Who</h2><div class=\"who\">");
        for (title, counts) in [
            (
                "Victim's workload (pod, container, unit or cgroup)",
                &self.by_workload,
            ),
            ("Victim", &self.by_victim),
            ("Trigger (the task that asked)", &self.by_trigger),
        ] {
            o.push_str(&who_svg(title, counts));
        }
        o.push_str("</div><h2>Kernel stacks, merged</h2>");
        o.push_str(&self.flame_svg());
        o.push_str("</section>");
        o
    }

    fn sessions_table(&self) -> String {
        let mut o = String::from(
            "<table class=\"sessions\"><tr><th>host</th><th>kernel</th><th>arch</th>\
             <th>mode</th><th>oomtrace</th><th>start</th><th>end</th><th>events</th>\
             <th>lost</th></tr>",
        );
        for s in &self.sessions {
            let h = &s.header;
            let (end, events, lost) = match &s.end {
                Some(t) => (esc(&t.end), t.events.to_string(), t.lost.to_string()),
                None => ("(not stopped cleanly)".into(), "?".into(), "?".into()),
            };
            let _ = write!(
                o,
                "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td>\
                 <td>{end}</td><td>{events}</td><td>{lost}</td></tr>",
                esc(&h.hostname),
                esc(&h.kernel),
                esc(&h.arch),
                esc(&h.mode),
                esc(&h.oomtrace),
                esc(&h.start),
            );
        }
        if self.session_count > self.sessions.len() {
            let _ = write!(
                o,
                "<tr><td colspan=\"9\">and {} more sessions</td></tr>",
                self.session_count - self.sessions.len()
            );
        }
        o.push_str("</table>");
        o
    }

    fn timeline_svg(&self) -> String {
        let tl = &self.timeline;
        if tl.count() == 0 {
            return "<p>No OOM with a time.</p>".into();
        }
        let mut ts: Vec<f64> = tl.marks.iter().map(|m| m.t).collect();
        if let Some(b) = &tl.bins {
            ts.push(b.start);
            ts.push(b.start + b.width * b.counts.len() as f64);
        }
        ts.extend(self.reaper.marks.iter().map(|m| m.t));
        ts.extend(self.losses.iter().map(|l| l.0));
        let lo = ts.iter().copied().fold(f64::INFINITY, f64::min);
        let hi = ts.iter().copied().fold(f64::NEG_INFINITY, f64::max);
        let (lo, hi) = if hi - lo < 1e-3 {
            (lo - 1.0, hi + 1.0)
        } else {
            let pad = (hi - lo) * 0.02;
            (lo - pad, hi + pad)
        };
        // Nothing happens before boot.
        let lo = if tl.axis == Some(charts::Axis::Uptime) {
            lo.max(0.0)
        } else {
            lo
        };
        let (left, right) = (130.0, WIDTH - 10.0);
        let x = |t: f64| left + (t - lo) / (hi - lo) * (right - left);
        let lanes: Vec<Constraint> = Constraint::ALL
            .into_iter()
            .filter(|c| self.by_constraint[*c as usize] > 0)
            .collect();
        let lane_h = 26.0;
        let top = 10.0;
        let reaper_y = top + lane_h * lanes.len() as f64 + 8.0;
        let axis_y = reaper_y + 24.0;
        let height = axis_y + 28.0;
        let mut o = String::new();
        let _ = write!(
            o,
            "<figure class=\"chart\"><svg id=\"timeline\" viewBox=\"0 0 {WIDTH} {height}\" \
             role=\"img\" aria-label=\"OOM kills over time\">"
        );
        for (i, c) in lanes.iter().enumerate() {
            let y = top + lane_h * i as f64 + lane_h / 2.0;
            let _ = write!(
                o,
                "<text class=\"lane\" x=\"{}\" y=\"{:.1}\">{} ({})</text>\
                 <line class=\"lane-line\" x1=\"{left}\" x2=\"{right}\" y1=\"{y:.1}\" y2=\"{y:.1}\"/>",
                left - 6.0,
                y + 4.0,
                c.name(),
                self.by_constraint[*c as usize]
            );
        }
        let lane_of = |c: Constraint| lanes.iter().position(|l| *l == c).unwrap_or(0);
        match &tl.bins {
            None => {
                for m in &tl.marks {
                    let y = top + lane_h * lane_of(m.class) as f64 + lane_h / 2.0;
                    let _ = write!(
                        o,
                        "<a href=\"#oom-{}-{}\" class=\"mark\" data-session=\"{}\" data-seq=\"{}\">\
                         <circle class=\"c-{}\" cx=\"{:.1}\" cy=\"{y:.1}\" r=\"6\">\
                         <title>{}</title></circle></a>",
                        m.session,
                        m.seq,
                        m.session,
                        m.seq,
                        m.class.name(),
                        x(m.t),
                        esc(&m.label)
                    );
                }
            }
            Some(b) => {
                let max = b.counts.iter().flatten().copied().max().unwrap_or(1).max(1) as f64;
                for (i, counts) in b.counts.iter().enumerate() {
                    let t0 = b.start + b.width * i as f64;
                    let (x0, x1) = (x(t0), x(t0 + b.width));
                    for c in &lanes {
                        let n = counts[*c as usize];
                        if n == 0 {
                            continue;
                        }
                        let yc = top + lane_h * lane_of(*c) as f64 + lane_h / 2.0;
                        let h = 4.0 + (lane_h - 6.0) * (n as f64 / max).sqrt();
                        let _ = write!(
                            o,
                            "<rect class=\"bin c-{}\" data-count=\"{n}\" x=\"{x0:.1}\" y=\"{:.1}\" \
                             width=\"{:.1}\" height=\"{h:.1}\"><title>{n} {} OOM{} from {} to {}</title></rect>",
                            c.name(),
                            yc - h / 2.0,
                            (x1 - x0).max(1.0),
                            c.name(),
                            plural(n),
                            axis_label(tl.axis, t0, true),
                            axis_label(tl.axis, t0 + b.width, true),
                        );
                    }
                }
            }
        }
        let _ = write!(
            o,
            "<text class=\"lane\" x=\"{}\" y=\"{:.1}\">reaper</text>",
            left - 6.0,
            reaper_y + 4.0
        );
        for m in &self.reaper.marks {
            let _ = write!(
                o,
                "<line class=\"reaper\" x1=\"{0:.1}\" x2=\"{0:.1}\" y1=\"{1:.1}\" y2=\"{2:.1}\">\
                 <title>{3}</title></line>",
                x(m.t),
                reaper_y - 6.0,
                reaper_y + 6.0,
                esc(&m.label)
            );
        }
        for (t, n) in &self.losses {
            let _ = write!(
                o,
                "<path class=\"lost\" d=\"M{:.1} {:.1} l6 10 h-12 z\"><title>{n} lost record{} in \
                 the session ending here</title></path>",
                x(*t),
                reaper_y - 5.0,
                plural(*n)
            );
        }
        let _ = write!(
            o,
            "<line class=\"axis\" x1=\"{left}\" x2=\"{right}\" y1=\"{axis_y}\" y2=\"{axis_y}\"/>"
        );
        for i in 0..=4 {
            let t = lo + (hi - lo) * i as f64 / 4.0;
            let anchor = match i {
                0 => "start",
                4 => "end",
                _ => "middle",
            };
            let _ = write!(
                o,
                "<text class=\"tick\" text-anchor=\"{anchor}\" x=\"{:.1}\" y=\"{}\">{}</text>",
                x(t),
                axis_y + 16.0,
                axis_label(tl.axis, t, hi - lo < 120.0)
            );
        }
        o.push_str("</svg><figcaption>Each OOM by its kind; hover for who, click for its section.");
        if tl.axis == Some(charts::Axis::Uptime) {
            o.push_str(
                " Time is seconds since boot: these events have no wall-clock time (a kernel \
                 log without it); OOMs of different boots share the axis.",
            );
        }
        if tl.bins.is_some() {
            o.push_str(" Too many to draw one by one: counted per time bin (taller is more).");
        }
        if tl.untimed > 0 {
            let _ = write!(o, " {} OOMs without a time are not drawn.", tl.untimed);
        }
        if self.reaper.count() > self.reaper.marks.len() as u64 {
            o.push_str(" Reaper steps beyond the first 2000 are not drawn.");
        }
        o.push_str("</figcaption></figure>");
        o
    }

    fn flame_svg(&self) -> String {
        let t = &self.stacks;
        if t.stacks == 0 {
            return "<p>No kernel stacks in these events.</p>".into();
        }
        let row = 18.0;
        let depth = t.depth();
        let height = row * depth as f64 + 4.0;
        let total = t.nodes[0].count as f64;
        let mut o = String::new();
        let _ = write!(
            o,
            "<figure class=\"chart\"><svg id=\"flame\" viewBox=\"0 0 {WIDTH} {height}\" role=\"img\" \
             aria-label=\"kernel stacks merged\">"
        );
        // The widest frames first, until FRAMES_DRAWN; a frame's place is
        // known when its parent is drawn.
        let mut drawn = 0usize;
        let mut narrow = false;
        let mut place = vec![(usize::MAX, 0usize, 0.0f64); t.nodes.len()];
        let mut todo =
            std::collections::BinaryHeap::from([(t.nodes[0].count, std::cmp::Reverse(0usize))]);
        while let Some((count, std::cmp::Reverse(i))) = todo.pop() {
            let n = &t.nodes[i];
            let (parent, d, x0) = place[i];
            let w = count as f64 / total * WIDTH;
            if w < 1.0 || drawn == FRAMES_DRAWN {
                narrow = true;
                break;
            }
            drawn += 1;
            let seqs: Vec<String> = n.seqs.iter().map(|(s, q)| format!("{s}-{q}")).collect();
            let label_chars = ((w - 6.0) / 7.0).max(0.0) as usize;
            let label: String = if n.name.chars().count() <= label_chars {
                n.name.clone()
            } else if label_chars > 2 {
                n.name.chars().take(label_chars - 1).collect::<String>() + "…"
            } else {
                String::new()
            };
            let parent = if parent == usize::MAX {
                String::new()
            } else {
                format!(" data-parent=\"{parent}\"")
            };
            let _ = write!(
                o,
                "<g class=\"frame\" data-node=\"{i}\"{parent} data-name=\"{}\" data-count=\"{}\" \
                 data-seqs=\"{}\"><rect x=\"{x0:.1}\" y=\"{:.1}\" width=\"{w:.1}\" height=\"{}\" \
                 style=\"fill:hsl({},70%,{}%)\"><title>{} — {} OOM{} ({:.1} %)</title></rect>\
                 <text x=\"{:.1}\" y=\"{:.1}\">{}</text></g>",
                esc(&n.name),
                n.count,
                seqs.join(" "),
                row * d as f64,
                row - 1.0,
                hue(&n.name),
                if i == 0 { 85 } else { 72 },
                esc(&n.name),
                n.count,
                plural(n.count),
                n.count as f64 / total * 100.0,
                x0 + 3.0,
                row * d as f64 + 13.0,
                esc(&label)
            );
            let mut cx = x0;
            for &c in &n.children {
                place[c] = (i, d + 1, cx);
                todo.push((t.nodes[c].count, std::cmp::Reverse(c)));
                cx += t.nodes[c].count as f64 / total * WIDTH;
            }
        }
        let _ = write!(
            o,
            "</svg><figcaption>{} kernel stack{} (outermost caller at the top). Click a frame for \
             the OOMs through it.",
            t.stacks,
            plural(t.stacks)
        );
        if t.cut > 0 {
            let _ = write!(
                o,
                " {} stack{} did not fit in {STACK_NODES} frames and end early.",
                t.cut,
                plural(t.cut)
            );
        }
        if narrow {
            let _ = write!(
                o,
                " Frames narrower than a pixel, or beyond the widest {FRAMES_DRAWN}, are not drawn."
            );
        }
        o.push_str("</figcaption><div id=\"flame-pick\" class=\"pick\" hidden></div></figure>");
        o
    }
}

impl<W: Write> Sink for Html<W> {
    fn session(&mut self, h: &Header) -> io::Result<()> {
        self.start()?;
        self.opts.for_session(h);
        self.session_count += 1;
        if self.sessions.len() < SESSIONS_LISTED {
            self.sessions.push(SessionInfo {
                header: h.clone(),
                end: None,
            });
        }
        Ok(())
    }

    fn event(&mut self, ev: &Event) -> io::Result<()> {
        self.start()?;
        let b = &ev.brief;
        let s = self.session_index();
        self.events += 1;
        if b.killed == Some(true) {
            self.kills += 1;
        }
        let class = Constraint::of(b);
        self.by_constraint[class as usize] += 1;
        let victim = b.victim.as_ref();
        let name = |s: Option<&str>| s.unwrap_or("(unknown)").to_owned();
        self.by_workload
            .add(&name(victim.and_then(|v| v.workload_label()).as_deref()));
        self.by_victim.add(&match victim {
            Some(v) => name(v.comm.as_deref()),
            None => "(none killed)".into(),
        });
        self.by_trigger.add(&name(b.trigger.comm.as_deref()));
        let full = ev.full.as_deref();
        let t = self.timeline.seconds(&b.time, full.map(|f| f.uptime_ns));
        let label = format!(
            "OOM #{} {} · {} ({}) → {}",
            b.seq,
            class.name(),
            name(b.trigger.comm.as_deref()),
            b.trigger.pid.map_or("?".into(), |p| p.to_string()),
            match victim {
                Some(v) => format!(
                    "killed {} ({})",
                    name(v.comm.as_deref()),
                    v.pid.map_or("?".into(), |p| p.to_string())
                ),
                None => "no kill".into(),
            }
        );
        self.timeline.add(t, |t| Mark {
            t,
            class,
            session: s,
            seq: b.seq,
            label,
        });
        if let Some(full) = full {
            self.stacks.add(&full.stack, s, b.seq);
            if (self.detailed as usize) < self.detail_limit && self.detail_bytes < DETAIL_BYTES {
                self.detailed += 1;
                self.detail(full)?;
            }
        }
        Ok(())
    }

    fn reaper(&mut self, r: &ReaperEvent) -> io::Result<()> {
        // On the OOMs' axis, whichever it is.
        let t = self.timeline.seconds(&r.time, Some(r.uptime_ns));
        if self.reaper.marks.len() < TIMELINE_MARKS {
            self.reaper.add(t, |t| Mark {
                t,
                class: Constraint::Unknown,
                session: self.session_count.saturating_sub(1),
                seq: r.seq,
                label: format!("OOM #{}: reaper {} {}", r.seq, r.step.describe(), r.pid),
            });
        }
        Ok(())
    }

    fn end(&mut self, t: &Trailer) -> io::Result<()> {
        self.lost += t.lost;
        self.incomplete += t.incomplete;
        if t.lost > 0
            && self.losses.len() < SESSIONS_LISTED
            && let Some(at) = self.timeline.seconds(&t.end, None)
        {
            self.losses.push((at, t.lost));
        }
        let i = self.session_index();
        if let Some(s) = self.sessions.get_mut(i) {
            s.end = Some(t.clone());
        }
        Ok(())
    }

    fn finish(&mut self) -> io::Result<()> {
        self.start()?;
        if self.events == 0 {
            self.out.write_all(b"<p>No OOM in these sessions.</p>")?;
        }
        let overview = self.overview();
        write!(
            self.out,
            "</section>\n{overview}\n<script>{SCRIPT}</script></div></body></html>\n"
        )?;
        self.out.flush()
    }
}

mod draw;
mod section;

use draw::{axis_label, hue, plural, who_svg};
pub use draw::{esc, kb};
use section::detail;
pub use section::ftrace_stack;
#[cfg(test)]
use {draw::*, section::*};

#[cfg(test)]
mod tests;
