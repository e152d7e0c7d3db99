//! `report --format html`: one self-contained page (styles, script and
//! charts inline, SVG drawn here; nothing fetched) for people who look
//! rather than read. It streams: each OOM's detail is written as it comes
//! (up to a limit), the overview (timeline, who, merged stacks) is summed in
//! the bounded aggregates of [`crate::sink::charts`] and written at the end; the
//! stylesheet shows it first.

use crate::schema::event::{Frame, Header, OomEvent, ReaperEvent, Trailer, Zone};
use crate::schema::item::Event;
use crate::sink::Sink;
use crate::sink::charts::{self, Constraint, Mark, StackTree, Timeline, TopCounts};
use crate::sink::render;
use std::fmt::Write as _;
use std::io::{self, Write};

const STYLE: &str = include_str!("../../assets/report.css");
const SCRIPT: &str = include_str!("../../assets/report.js");

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

/// One OOM's section: its charts and its kernel-style text.
fn detail(ev: &OomEvent, session: usize, opts: render::Options) -> String {
    let b = ev.brief();
    let class = Constraint::of(&b);
    let mut o = String::new();
    let who = |comm: &Option<String>, pid: Option<i32>| {
        format!(
            "{} ({})",
            esc(comm.as_deref().unwrap_or("?")),
            pid.map_or("?".into(), |p| p.to_string())
        )
    };
    let _ = write!(
        o,
        "<section class=\"oom\" id=\"oom-{session}-{seq}\" data-oom-seq=\"{seq}\" \
         data-session=\"{session}\"><h3><span class=\"tag c-{}\">{}</span> OOM #{seq} \
         <small>{}</small></h3><p>{} asked for order {} ",
        class.name(),
        class.name(),
        esc(&ev.time),
        who(&ev.trigger.comm, ev.trigger.pid),
        ev.order.map_or("?".into(), |o| o.to_string()),
        seq = ev.seq,
    );
    match &ev.victim {
        Some(v) => {
            let _ = write!(o, "→ killed <b>{}</b>", who(&v.comm, v.pid));
        }
        None => o.push_str("→ no kill seen"),
    }
    for other in &ev.also_killed {
        let _ = write!(o, ", also <b>{}</b>", who(&other.comm, other.pid));
    }
    if let Some(m) = &ev.memcg {
        let _ = write!(o, " · memory cgroup <code>{}</code>", esc(m));
    }
    o.push_str("</p><div class=\"grid\">");
    o.push_str(&gfp_block(ev));
    if let Some(m) = &ev.memcg_memory {
        o.push_str(&memcg_block(m));
    }
    if let Some(l) = &ev.lead_up {
        o.push_str(&lead_up_block(l));
    }
    if let Some(v) = &ev.victim {
        o.push_str(&victim_block(v, ev.totalpages));
    }
    let parts = charts::composition(ev);
    if !parts.is_empty() {
        o.push_str(&composition_block(&parts));
    }
    let page_kb = ev.memory_read.as_ref().map_or(4, |r| r.page_kb);
    let zones: Vec<&Zone> = ev
        .zones
        .iter()
        .flatten()
        .filter(|z| z.managed_kb != Some(0))
        .collect();
    // A zone known only by its free lists (a log with lines cut) has no
    // free memory or watermarks to draw.
    let measured: Vec<&Zone> = zones
        .iter()
        .copied()
        .filter(|z| z.free_kb.is_some())
        .collect();
    if !measured.is_empty() {
        o.push_str(&watermarks_block(&measured));
    }
    if zones.iter().any(|z| !z.free_area.is_empty()) {
        o.push_str(&buddy_block(&zones, page_kb));
    }
    o.push_str("</div>");
    if let Some(stack) = &ev.show_free_areas_stack {
        let _ = write!(
            o,
            "<details class=\"sfa\" open><summary>Stack at <code>show_free_areas</code></summary>\
             <pre class=\"ftrace\">{}</pre></details>",
            esc(&ftrace_stack(stack))
        );
    }
    let _ = writeln!(
        o,
        "<details class=\"report\"><summary>Kernel-style report</summary><pre>{}</pre></details>\
         </section>",
        esc(&render::text_with(ev, opts))
    );
    o
}

/// As ftrace's `stacktrace` trigger prints one.
pub fn ftrace_stack(frames: &[Frame]) -> String {
    let mut s = String::from(" <stack trace>\n");
    for f in frames {
        match (&f.symbol, f.offset, f.size) {
            (Some(sym), Some(off), Some(size)) => {
                let _ = writeln!(s, " => {sym}+{off:#x}/{size:#x}");
            }
            (Some(sym), _, _) => {
                let _ = writeln!(s, " => {sym}");
            }
            _ => {
                let _ = writeln!(s, " => {}", f.addr);
            }
        }
    }
    s
}

fn gfp_block(ev: &OomEvent) -> String {
    let mut o = String::from("<div class=\"card\"><h4>Request</h4>");
    match (&ev.gfp_flags, ev.gfp_mask) {
        (Some(f), m) => {
            let _ = write!(
                o,
                "<p>gfp_mask {}</p><p class=\"chips\">",
                m.map_or("?".into(), |m| format!("<code>{m:#x}</code>"))
            );
            for flag in f.split('|') {
                let _ = write!(o, "<span class=\"chip\">{}</span>", esc(flag));
            }
            o.push_str("</p>");
        }
        (None, _) => o.push_str("<p>gfp_mask unknown</p>"),
    }
    let page_kb = ev.memory_read.as_ref().map_or(4, |r| r.page_kb);
    match ev.order {
        Some(-1) => o.push_str("<p>order -1: forced (sysrq-f), no allocation</p>"),
        Some(n) if (0..32).contains(&n) => {
            let _ = write!(o, "<p>order {n}: {} kB at once</p>", page_kb << n);
        }
        _ => o.push_str("<p>order unknown</p>"),
    }
    o.push_str("</div>");
    o
}

fn memcg_block(m: &crate::schema::event::MemcgMemory) -> String {
    let frac = if m.limit_kb == 0 {
        0.0
    } else {
        (m.usage_kb as f64 / m.limit_kb as f64).min(1.0)
    };
    format!(
        "<div class=\"card\"><h4>Memory cgroup</h4><svg class=\"memcg\" viewBox=\"0 0 300 24\" \
         data-usage-kb=\"{}\" data-limit-kb=\"{}\"><rect class=\"track\" width=\"300\" height=\"24\"/>\
         <rect class=\"used\" width=\"{:.1}\" height=\"24\"><title>usage {} kB</title></rect></svg>\
         <p>usage {} of limit {} ({:.0} %), failcnt {}</p></div>",
        m.usage_kb,
        m.limit_kb,
        frac * 300.0,
        m.usage_kb,
        kb(m.usage_kb),
        kb(m.limit_kb),
        frac * 100.0,
        m.failcnt
    )
}

/// The lead-up as small line charts: the memcg's usage, PSI some, free
/// memory, the allocator's retries, each over the seconds before the OOM
/// (the OOM at the right).
fn lead_up_block(l: &crate::schema::event::LeadUp) -> String {
    let mut o = String::from("<div class=\"card\"><h4>Lead-up</h4>");
    if let Some(line) = l.line() {
        let _ = write!(
            o,
            "<p class=\"legend\">{}</p>",
            esc(line.trim_start_matches("oomtrace: "))
        );
    }
    type Series = fn(&crate::schema::event::LeadPoint) -> Option<f64>;
    let series: [(&str, &str, Series); 4] = [
        ("memcg", "memcg usage", |p| {
            p.memcg_usage_kb.map(|k| k as f64)
        }),
        ("psi", "PSI some avg10 %", |p| p.psi_some_avg10),
        ("free", "free memory", |p| p.free_kb.map(|k| k as f64)),
        (
            "retries",
            "allocator retries per second",
            crate::schema::event::LeadPoint::retries_per_s,
        ),
    ];
    let first = l.points.first().map_or(1, |p| p.ms_before.max(1)) as f64;
    for (class, title, f) in series {
        let pts: Vec<(f64, f64)> = l
            .points
            .iter()
            .filter_map(|p| Some((p.ms_before as f64, f(p)?)))
            .collect();
        if pts.len() < 2 {
            continue;
        }
        let (lo, hi) = pts
            .iter()
            .fold((f64::INFINITY, f64::NEG_INFINITY), |(a, b), p| {
                (a.min(p.1), b.max(p.1))
            });
        let span = (hi - lo).max(1e-9);
        let coords: Vec<String> = pts
            .iter()
            .map(|(ms, v)| {
                format!(
                    "{:.1},{:.1}",
                    300.0 * (1.0 - ms / first),
                    36.0 - 32.0 * (v - lo) / span
                )
            })
            .collect();
        let values: Vec<String> = pts.iter().map(|p| format!("{}", p.1)).collect();
        let _ = write!(
            o,
            "<svg class=\"leadup {class}\" viewBox=\"0 0 300 40\" data-values=\"{}\">\
             <rect class=\"track\" width=\"300\" height=\"40\"/><polyline points=\"{}\"/>\
             <title>{title}: {} → {}</title></svg>",
            values.join(" "),
            coords.join(" "),
            pts[0].1,
            pts[pts.len() - 1].1
        );
    }
    o.push_str("</div>");
    o
}

fn victim_block(v: &crate::schema::event::Victim, totalpages: Option<u64>) -> String {
    let parts = [
        ("anon", v.anon_rss_kb),
        ("file", v.file_rss_kb),
        ("shmem", v.shmem_rss_kb),
        ("page tables", v.pgtables_kb),
    ];
    let known: Vec<(&str, u64)> = parts
        .iter()
        .filter_map(|(l, k)| k.map(|k| (*l, k)))
        .collect();
    let mut o = String::from("<div class=\"card\"><h4>Victim</h4>");
    o.push_str(&stacked_bar("victim", &known, 300.0));
    let _ = write!(
        o,
        "<p>{} ({}) uid {}, total-vm {}, oom_score_adj {}",
        esc(v.comm.as_deref().unwrap_or("?")),
        v.pid.map_or("?".into(), |p| p.to_string()),
        v.uid.map_or("?".into(), |u| u.to_string()),
        v.total_vm_kb.map_or("?".into(), kb),
        v.oom_score_adj.map_or("?".into(), |a| a.to_string()),
    );
    if let Some(p) = v.points {
        let _ = write!(
            o,
            ", badness <b>{p}</b>{}",
            totalpages.map_or(String::new(), |t| format!(" of {t} pages"))
        );
    }
    if let Some(c) = &v.cgroup {
        let _ = write!(o, "<br>cgroup <code>{}</code>", esc(c));
    }
    o.push_str("</p></div>");
    o
}

fn composition_block(parts: &[charts::Part]) -> String {
    let known: Vec<(&str, u64)> = parts.iter().map(|p| (p.label, p.kb)).collect();
    let mut o = String::from("<div class=\"card wide\"><h4>The machine's memory at the OOM</h4>");
    o.push_str(&stacked_bar("composition", &known, 600.0));
    o.push_str("</div>");
    o
}

/// A bar of parts, each `data-part` with its kB.
fn stacked_bar(class: &str, parts: &[(&str, u64)], width: f64) -> String {
    let total: u64 = parts.iter().map(|p| p.1).sum();
    let mut o = format!(
        "<svg class=\"bar {class}\" viewBox=\"0 0 {width} 24\" data-total-kb=\"{total}\">\
         <rect class=\"track\" width=\"{width}\" height=\"24\"/>"
    );
    let mut x = 0.0;
    for (i, (label, k)) in parts.iter().enumerate() {
        let w = if total == 0 {
            0.0
        } else {
            *k as f64 / total as f64 * width
        };
        let _ = write!(
            o,
            "<rect class=\"p{}\" data-part=\"{label}\" data-kb=\"{k}\" x=\"{x:.2}\" width=\"{w:.2}\" \
             height=\"24\"><title>{label}: {} ({:.1} %)</title></rect>",
            i % 10,
            kb(*k),
            if total == 0 {
                0.0
            } else {
                *k as f64 * 100.0 / total as f64
            }
        );
        x += w;
    }
    o.push_str("</svg><p class=\"legend\">");
    for (i, (l, k)) in parts.iter().enumerate() {
        let _ = write!(
            o,
            "<span><i class=\"p{}\"></i>{l} {}</span> ",
            i % 10,
            kb(*k)
        );
    }
    o.push_str("</p>");
    o
}

fn zone_name(z: &Zone) -> String {
    format!("Node {} {}", z.node, z.zone)
}

fn watermarks_block(zones: &[&Zone]) -> String {
    let mut o = String::from(
        "<div class=\"card wide\"><h4>Free memory against the watermarks (min / low / high)</h4>",
    );
    let row = 30.0;
    let (left, width) = (130.0, 600.0);
    let _ = write!(
        o,
        "<svg class=\"watermarks\" viewBox=\"0 0 {} {}\">",
        left + width + 10.0,
        row * zones.len() as f64
    );
    for (i, z) in zones.iter().enumerate() {
        let y = row * i as f64;
        let free = z.free_kb.unwrap_or(0);
        let marks = [("min", z.min_kb), ("low", z.low_kb), ("high", z.high_kb)];
        let scale_max = marks
            .iter()
            .filter_map(|m| m.1)
            .chain([free])
            .max()
            .unwrap_or(1)
            .max(1) as f64
            * 1.15;
        let sx = |k: u64| left + k as f64 / scale_max * width;
        let below = z.min_kb.is_some_and(|m| free < m);
        let _ = write!(
            o,
            "<g class=\"zone\" data-zone=\"{}\" data-free-kb=\"{free}\" data-min-kb=\"{}\" \
             data-low-kb=\"{}\" data-high-kb=\"{}\"><text x=\"0\" y=\"{:.1}\">{}</text>\
             <rect class=\"track\" x=\"{left}\" y=\"{:.1}\" width=\"{width}\" height=\"16\"/>\
             <rect class=\"{}\" x=\"{left}\" y=\"{:.1}\" width=\"{:.1}\" height=\"16\">\
             <title>free {}</title></rect>",
            esc(&zone_name(z)),
            opt(z.min_kb),
            opt(z.low_kb),
            opt(z.high_kb),
            y + 17.0,
            esc(&zone_name(z)),
            y + 5.0,
            if below { "free below" } else { "free" },
            y + 5.0,
            sx(free) - left,
            kb(free)
        );
        for (label, v) in marks {
            if let Some(v) = v {
                let _ = write!(
                    o,
                    "<line class=\"wm {label}\" x1=\"{0:.1}\" x2=\"{0:.1}\" y1=\"{1:.1}\" \
                     y2=\"{2:.1}\"><title>{label} {3}</title></line>",
                    sx(v),
                    y + 2.0,
                    y + 24.0,
                    kb(v)
                );
            }
        }
        o.push_str("</g>");
    }
    o.push_str("</svg><p class=\"legend\"><span><i class=\"wm-min\"></i>min</span> \
                <span><i class=\"wm-low\"></i>low</span> <span><i class=\"wm-high\"></i>high</span> \
                (each zone on its own scale)</p></div>");
    o
}

fn buddy_block(zones: &[&Zone], page_kb: u64) -> String {
    let mut o = String::from(
        "<div class=\"card wide\"><h4>Buddy free lists: blocks free per order \
         (height by log scale), migrate types below</h4><div class=\"buddies\">",
    );
    for z in zones.iter().filter(|z| !z.free_area.is_empty()) {
        let n = z.free_area.len();
        let col = 44.0;
        let (h, top) = (80.0, 14.0);
        let max = z.free_area.iter().copied().max().unwrap_or(0).max(1) as f64;
        let _ = write!(
            o,
            "<figure class=\"buddy\" data-zone=\"{}\"><figcaption>{} = {}</figcaption>\
             <svg viewBox=\"0 0 {} {}\">",
            esc(&zone_name(z)),
            esc(&zone_name(z)),
            kb(z.free_area_kb(page_kb)),
            col * n as f64,
            top + h + 30.0
        );
        for (order, count) in z.free_area.iter().enumerate() {
            let bh = if *count == 0 {
                0.0
            } else {
                (1.0 + *count as f64).ln() / (1.0 + max).ln() * h
            };
            let x = col * order as f64;
            let types = z.free_types.get(order).map(String::as_str).unwrap_or("");
            let _ = write!(
                o,
                "<g class=\"order\" data-order=\"{order}\" data-count=\"{count}\" data-types=\"{}\">\
                 <rect x=\"{:.1}\" y=\"{:.1}\" width=\"{:.1}\" height=\"{bh:.1}\"><title>order \
                 {order} ({}): {count} free block{} = {}{}</title></rect>\
                 <text class=\"n\" x=\"{:.1}\" y=\"{:.1}\">{count}</text>\
                 <text class=\"sz\" x=\"{:.1}\" y=\"{:.1}\">{}</text>\
                 <text class=\"mt\" x=\"{:.1}\" y=\"{:.1}\">{}</text></g>",
                esc(types),
                x + 4.0,
                top + h - bh,
                col - 8.0,
                kb(page_kb << order),
                plural(*count),
                kb((count << order) * page_kb),
                if types.is_empty() {
                    String::new()
                } else {
                    format!(" ({})", esc(types))
                },
                x + col / 2.0,
                top + h - bh - 3.0,
                x + col / 2.0,
                top + h + 13.0,
                short_kb(page_kb << order),
                x + col / 2.0,
                top + h + 26.0,
                esc(types)
            );
        }
        o.push_str("</svg></figure>");
    }
    o.push_str("</div></div>");
    o
}

fn who_svg(title: &str, counts: &TopCounts) -> String {
    let (top, rest) = counts.top(TOP);
    let mut rows: Vec<(String, u64)> = top.iter().map(|(n, c)| ((*n).to_owned(), *c)).collect();
    if rest > 0 {
        rows.push(("(all others)".into(), rest));
    }
    let max = rows.iter().map(|r| r.1).max().unwrap_or(1).max(1) as f64;
    let row = 20.0;
    let (label_w, bar_w) = (200.0, 200.0);
    let mut o = format!(
        "<figure class=\"chart who\"><figcaption>{}</figcaption><svg viewBox=\"0 0 {} {}\" \
         data-total=\"{}\">",
        esc(title),
        label_w + bar_w + 50.0,
        (row * rows.len() as f64).max(row),
        counts.total()
    );
    for (i, (name, n)) in rows.iter().enumerate() {
        let y = row * i as f64;
        let w = *n as f64 / max * bar_w;
        let shown: String = if name.chars().count() > 30 {
            format!(
                "…{}",
                name.chars()
                    .rev()
                    .take(29)
                    .collect::<String>()
                    .chars()
                    .rev()
                    .collect::<String>()
            )
        } else {
            name.clone()
        };
        let _ = write!(
            o,
            "<g class=\"who-row\" data-name=\"{}\" data-count=\"{n}\"><text x=\"{}\" y=\"{:.1}\" \
             text-anchor=\"end\">{}<title>{}</title></text><rect x=\"{}\" y=\"{:.1}\" \
             width=\"{w:.1}\" height=\"{}\"/><text x=\"{:.1}\" y=\"{:.1}\">{n}</text></g>",
            esc(name),
            label_w - 6.0,
            y + 14.0,
            esc(&shown),
            esc(name),
            label_w,
            y + 3.0,
            row - 6.0,
            label_w + w + 4.0,
            y + 14.0
        );
    }
    o.push_str("</svg></figure>");
    o
}

fn axis_label(axis: Option<charts::Axis>, t: f64, fine: bool) -> String {
    match axis {
        Some(charts::Axis::Wall) if t.is_finite() && t >= 0.0 => {
            let at = std::time::UNIX_EPOCH + std::time::Duration::from_secs_f64(t);
            let s = humantime::format_rfc3339_millis(at).to_string();
            // 2026-11-29T10:00:00.123Z → date and time, millis when fine.
            let s = s.trim_end_matches('Z').replacen('T', " ", 1);
            if fine { s } else { s[..s.len() - 4].to_owned() }
        }
        _ => format!("{t:.3} s"),
    }
}

fn opt(v: Option<u64>) -> String {
    v.map_or(String::new(), |v| v.to_string())
}

fn plural(n: u64) -> &'static str {
    if n == 1 { "" } else { "s" }
}

fn hue(name: &str) -> u32 {
    // Warm colours, stable per function name.
    let h = name
        .bytes()
        .fold(2166136261u32, |h, b| (h ^ b as u32).wrapping_mul(16777619));
    h % 55
}

/// kB as people read it.
pub fn kb(k: u64) -> String {
    if k >= 10 * 1024 * 1024 {
        format!("{:.1} GiB", k as f64 / 1024.0 / 1024.0)
    } else if k >= 10 * 1024 {
        format!("{:.1} MiB", k as f64 / 1024.0)
    } else {
        format!("{k} kB")
    }
}

fn short_kb(k: u64) -> String {
    if k >= 1024 * 1024 {
        format!("{}G", k / 1024 / 1024)
    } else if k >= 1024 {
        format!("{}M", k / 1024)
    } else {
        format!("{k}k")
    }
}

/// Text for HTML: element content and attribute values.
pub fn esc(s: &str) -> String {
    let mut o = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => o.push_str("&amp;"),
            '<' => o.push_str("&lt;"),
            '>' => o.push_str("&gt;"),
            '"' => o.push_str("&quot;"),
            '\'' => o.push_str("&#39;"),
            c => o.push(c),
        }
    }
    o
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The page of every kept real report, as `report --format html` makes it.
    fn page_of_the_fixtures() -> (String, Vec<OomEvent>) {
        let dir = crate::testdata::kernel_reports_dir();
        let mut events = Vec::new();
        let mut names: Vec<_> = std::fs::read_dir(&dir)
            .unwrap()
            .map(|e| e.unwrap().path())
            .collect();
        names.sort();
        for path in names {
            let text = std::fs::read_to_string(&path).unwrap();
            for r in crate::source::kernel_log::parse_log(&text) {
                events.push(crate::source::kernel_log::to_event(
                    &r,
                    events.len() as u64 + 1,
                ));
            }
        }
        let mut page = Vec::new();
        let mut html = Html::new(&mut page, render::Options::default(), 1000);
        for ev in &events {
            html.event(&Event::new(ev.clone())).unwrap();
        }
        html.finish().unwrap();
        (String::from_utf8(page).unwrap(), events)
    }

    /// The value of `name="..."` in a tag's text.
    fn attr<'a>(tag: &'a str, name: &str) -> Option<&'a str> {
        let key = format!(" {name}=\"");
        let at = tag.find(&key)? + key.len();
        Some(&tag[at..at + tag[at..].find('"')?])
    }

    fn num(tag: &str, name: &str) -> f64 {
        attr(tag, name)
            .unwrap_or_else(|| panic!("no {name} in {tag}"))
            .parse()
            .unwrap()
    }

    /// Each tag that starts with `start`, with the text up to `end` after it.
    fn blocks<'a>(page: &'a str, start: &str, end: &str) -> Vec<&'a str> {
        page.match_indices(start)
            .map(|(i, _)| &page[i..i + page[i..].find(end).unwrap()])
            .collect()
    }

    fn tags<'a>(block: &'a str, start: &str) -> Vec<&'a str> {
        block
            .match_indices(start)
            .map(|(i, _)| &block[i..i + block[i..].find('>').unwrap()])
            .collect()
    }

    /// What the browser test checks in Chromium, checked here in the page's
    /// own text, for the parts drawn from numbers: each bar's parts add up
    /// to its total and are as wide as their share, one after the other;
    /// each zone's free memory and watermarks on its scale (the largest of
    /// them and 15 % more); each free-list column's height by log scale;
    /// each "who" bar by its count. The oracle is the event's own numbers,
    /// written beside each shape as data attributes and compared with them.
    #[test]
    fn the_page_draws_each_number_to_scale() {
        let (page, events) = page_of_the_fixtures();
        assert!(
            page.starts_with("<!doctype html>\n<html"),
            "{}",
            &page[..100]
        );
        assert!(page.ends_with("</html>\n"));
        assert_eq!(page.matches("<!doctype").count(), 1);
        let close =
            |a: f64, b: f64, what: &str| assert!((a - b).abs() < 0.06, "{what}: {a} != {b}");
        let bars = blocks(&page, "<svg class=\"bar", "</svg>");
        assert!(bars.len() >= events.iter().filter(|e| e.counters.is_some()).count());
        for bar in &bars {
            let width: f64 = attr(bar, "viewBox")
                .unwrap()
                .split(' ')
                .nth(2)
                .unwrap()
                .parse()
                .unwrap();
            let total = num(bar, "data-total-kb");
            let mut x = 0.0;
            let mut sum = 0.0;
            for part in tags(bar, "<rect class=\"p") {
                let k = num(part, "data-kb");
                sum += k;
                close(num(part, "x"), x, "x");
                let w = if total == 0.0 { 0.0 } else { k / total * width };
                close(num(part, "width"), w, "width");
                x += w;
            }
            assert_eq!(sum, total, "{bar}");
        }
        // The machine's memory: the composition of its event.
        let with_counters: Vec<&OomEvent> =
            events.iter().filter(|e| e.counters.is_some()).collect();
        let compositions: Vec<&&str> = bars.iter().filter(|b| b.contains("composition")).collect();
        assert_eq!(compositions.len(), with_counters.len());
        for (bar, ev) in compositions.iter().zip(&with_counters) {
            let drawn: Vec<(String, u64)> = tags(bar, "<rect class=\"p")
                .iter()
                .map(|t| {
                    (
                        attr(t, "data-part").unwrap().to_owned(),
                        num(t, "data-kb") as u64,
                    )
                })
                .collect();
            let parts: Vec<(String, u64)> = charts::composition(ev)
                .iter()
                .map(|p| (p.label.to_owned(), p.kb))
                .collect();
            assert_eq!(drawn, parts);
        }
        let zones = blocks(&page, "<g class=\"zone\"", "</g>");
        assert!(zones.len() >= 3);
        // Each section's zones by their names, a row each.
        for (sec, ev) in blocks(&page, "<section class=\"oom\"", "</section>")
            .iter()
            .zip(&events)
        {
            let drawn: Vec<&str> = blocks(sec, "<g class=\"zone\"", "</g>")
                .iter()
                .map(|z| attr(z, "data-zone").unwrap())
                .collect();
            let measured: Vec<String> = ev
                .zones
                .iter()
                .flatten()
                .filter(|z| z.managed_kb != Some(0) && z.free_kb.is_some())
                .map(|z| format!("Node {} {}", z.node, z.zone))
                .collect();
            assert_eq!(drawn, measured);
            for (i, z) in blocks(sec, "<g class=\"zone\"", "</g>").iter().enumerate() {
                assert_eq!(
                    num(tags(z, "<rect class=\"track\"")[0], "y"),
                    30.0 * i as f64 + 5.0
                );
            }
        }
        for z in &zones {
            let free = num(z, "data-free-kb");
            let marks: Vec<(&str, Option<f64>)> = ["min", "low", "high"]
                .iter()
                .map(|m| {
                    (
                        *m,
                        attr(z, &format!("data-{m}-kb"))
                            .filter(|v| !v.is_empty())
                            .map(|v| v.parse().unwrap()),
                    )
                })
                .collect();
            let scale = marks
                .iter()
                .filter_map(|m| m.1)
                .fold(free, f64::max)
                .max(1.0)
                * 1.15;
            let free_rect = tags(z, "<rect class=\"free")[0];
            close(num(free_rect, "width"), free / scale * 600.0, "free");
            let below = marks[0].1.is_some_and(|m| free < m);
            assert_eq!(
                free_rect.starts_with("<rect class=\"free below\""),
                below,
                "{z}"
            );
            for (m, v) in &marks {
                let lines = tags(z, &format!("<line class=\"wm {m}\""));
                match v {
                    Some(v) => close(num(lines[0], "x1"), 130.0 + v / scale * 600.0, m),
                    None => assert!(lines.is_empty()),
                }
            }
        }
        let buddies = blocks(&page, "<figure class=\"buddy\"", "</figure>");
        assert!(!buddies.is_empty());
        for b in &buddies {
            let orders = blocks(b, "<g class=\"order\"", "</g>");
            let counts: Vec<f64> = orders.iter().map(|o| num(o, "data-count")).collect();
            let max = counts.iter().copied().fold(1.0, f64::max);
            for (i, o) in orders.iter().enumerate() {
                assert_eq!(num(o, "data-order"), i as f64);
                let rect = tags(o, "<rect")[0];
                let h = if counts[i] == 0.0 {
                    0.0
                } else {
                    (1.0 + counts[i]).ln() / (1.0 + max).ln() * 80.0
                };
                close(num(rect, "height"), h, "column");
                close(num(rect, "x"), 44.0 * i as f64 + 4.0, "column x");
                close(num(rect, "y"), 14.0 + 80.0 - h, "column y");
            }
        }
        let whos = blocks(&page, "<figure class=\"chart who\"", "</figure>");
        assert!(whos.len() >= 3);
        for w in &whos {
            let rows = blocks(w, "<g class=\"who-row\"", "</g>");
            let counts: Vec<f64> = rows.iter().map(|r| num(r, "data-count")).collect();
            assert_eq!(counts.iter().sum::<f64>(), num(w, "data-total"), "{w}");
            let max = counts.iter().copied().fold(1.0, f64::max);
            for (r, n) in rows.iter().zip(&counts) {
                close(num(tags(r, "<rect")[0], "width"), n / max * 200.0, "who");
            }
        }
    }

    /// Each OOM's section says and draws its own event: the request (gfp
    /// flags as chips, the order in kB), the memory cgroup's usage against
    /// its limit, the victim's rss parts.
    #[test]
    fn each_section_shows_its_event() {
        let (page, events) = page_of_the_fixtures();
        let sections = blocks(&page, "<section class=\"oom\"", "</section>");
        assert_eq!(sections.len(), events.len());
        let mut sysrq = 0;
        for (sec, ev) in sections.iter().zip(&events) {
            assert_eq!(num(sec, "data-oom-seq"), ev.seq as f64);
            if let Some(flags) = &ev.gfp_flags {
                let chips: Vec<&str> = sec
                    .match_indices("<span class=\"chip\">")
                    .map(|(i, m)| {
                        let rest = &sec[i + m.len()..];
                        &rest[..rest.find('<').unwrap()]
                    })
                    .collect();
                assert_eq!(chips, flags.split('|').collect::<Vec<_>>());
            }
            match ev.order {
                Some(-1) => {
                    sysrq += 1;
                    assert!(sec.contains("order -1: forced (sysrq-f)"), "{sec}");
                }
                Some(n) => {
                    assert!(sec.contains(&format!("<p>order {n}: {} kB at once</p>", 4 << n)))
                }
                None => assert!(sec.contains("order unknown")),
            }
            if let Some(m) = &ev.memcg_memory {
                let svg = tags(sec, "<svg class=\"memcg\"")[0];
                assert_eq!(num(svg, "data-usage-kb"), m.usage_kb as f64);
                assert_eq!(num(svg, "data-limit-kb"), m.limit_kb as f64);
                let used = tags(sec, "<rect class=\"used\"")[0];
                let share = (m.usage_kb as f64 / m.limit_kb as f64).min(1.0);
                assert!((num(used, "width") - share * 300.0).abs() < 0.06, "{used}");
                assert!(sec.contains(&format!("failcnt {}", m.failcnt)));
            }
            if let Some(v) = &ev.victim {
                let bar = blocks(sec, "<svg class=\"bar victim\"", "</svg>")[0];
                let drawn: Vec<(&str, f64)> = tags(bar, "<rect class=\"p")
                    .iter()
                    .map(|t| (attr(t, "data-part").unwrap(), num(t, "data-kb")))
                    .collect();
                let known: Vec<(&str, f64)> = [
                    ("anon", v.anon_rss_kb),
                    ("file", v.file_rss_kb),
                    ("shmem", v.shmem_rss_kb),
                    ("page tables", v.pgtables_kb),
                ]
                .into_iter()
                .filter_map(|(l, k)| Some((l, k? as f64)))
                .collect();
                assert_eq!(drawn, known);
                let pid = v.pid.unwrap().to_string();
                assert!(sec.contains(&format!("({pid}) uid")), "{sec}");
                if let Some(p) = v.points {
                    assert!(sec.contains(&format!("badness <b>{p}</b>")));
                }
            }
        }
        assert!(sysrq > 0, "no sysrq OOM among the fixtures");
    }

    /// The merged stacks: each frame as wide as its share of all stacks,
    /// its callees side by side under it from its left edge, one row down.
    #[test]
    fn the_flame_graph_draws_each_frame_to_scale() {
        let (page, events) = page_of_the_fixtures();
        let svg = blocks(&page, "<svg id=\"flame\"", "</svg>")[0];
        let frames = blocks(svg, "<g class=\"frame\"", "</g>");
        let stacks = events.iter().filter(|e| !e.stack.is_empty()).count() as f64;
        assert_eq!(num(frames[0], "data-count"), stacks);
        let mut by_node = std::collections::HashMap::new();
        for f in &frames {
            by_node.insert(num(f, "data-node") as usize, *f);
        }
        let mut with_parent = 0;
        for f in &frames {
            let rect = tags(f, "<rect")[0];
            let count = num(f, "data-count");
            assert!(
                (num(rect, "width") - count / stacks * WIDTH).abs() < 0.06,
                "{f}"
            );
            let Some(parent) = attr(f, "data-parent") else {
                assert_eq!((num(rect, "x"), num(rect, "y")), (0.0, 0.0));
                continue;
            };
            let p = by_node[&parent.parse::<usize>().unwrap()];
            let prect = tags(p, "<rect")[0];
            assert_eq!(num(rect, "y"), num(prect, "y") + 18.0);
            assert!(count <= num(p, "data-count"));
            // Children are drawn widest first, but placed in their order:
            // each starts at or right of its parent's left edge and ends
            // inside it.
            let x = num(rect, "x");
            assert!(x >= num(prect, "x") - 0.06, "{f}");
            assert!(
                x + num(rect, "width") <= num(prect, "x") + num(prect, "width") + 0.2,
                "{f}"
            );
            with_parent += 1;
        }
        assert!(with_parent > 10, "{with_parent}");
        // A frame's callees side by side from its left edge, in the order
        // they were first seen (their node numbers).
        let mut children: std::collections::BTreeMap<usize, Vec<(usize, f64, f64)>> =
            Default::default();
        for f in &frames {
            if let Some(parent) = attr(f, "data-parent") {
                let rect = tags(f, "<rect")[0];
                children.entry(parent.parse().unwrap()).or_default().push((
                    num(f, "data-node") as usize,
                    num(rect, "x"),
                    num(rect, "width"),
                ));
            }
        }
        for (parent, mut kids) in children {
            kids.sort_by_key(|k| k.0);
            let mut x = num(tags(by_node[&parent], "<rect")[0], "x");
            for (node, kx, w) in kids {
                assert!((kx - x).abs() < 0.2, "node {node}: x {kx}, expected {x}");
                x += w;
            }
        }
    }

    /// A zone whose free memory is under its min watermark is drawn so;
    /// at the watermark it is not (the kernel's `free < min` test).
    #[test]
    fn free_below_min_is_marked() {
        let zone = |free| Zone {
            zone: "Normal".into(),
            free_kb: Some(free),
            min_kb: Some(20),
            low_kb: Some(25),
            high_kb: Some(30),
            ..Zone::default()
        };
        let (below, at, above) = (zone(10), zone(20), zone(21));
        let svg = watermarks_block(&[&below, &at, &above]);
        let classes: Vec<&str> = tags(&svg, "<rect class=\"free")
            .iter()
            .map(|t| attr(t, "class").unwrap())
            .collect();
        assert_eq!(classes, ["free below", "free", "free"]);
    }

    /// The overview counts what came: OOMs and kills, sessions (each
    /// listed with its host, kernel and end, past the listed ones counted),
    /// records lost (said, and marked where their session ended), reaper
    /// steps on the timeline, and the OOMs left without a section.
    #[test]
    fn the_overview_counts_sessions_kills_losses_and_reaper_steps() {
        let (_, fixtures) = page_of_the_fixtures();
        let mut page = Vec::new();
        let mut html = Html::new(&mut page, render::Options::default(), 2);
        let sessions = SESSIONS_LISTED + 3;
        let mut kills = 0;
        for s in 0..sessions {
            let mut h = Header::new("6.18.0", "tracepoint", Vec::new());
            h.hostname = format!("host{s}");
            h.start = "1970-01-01T00:00:00Z".into();
            html.session(&h).unwrap();
            if s < 2 {
                for (i, ev) in fixtures.iter().enumerate() {
                    let mut ev = ev.clone();
                    ev.time = format!("1970-01-01T00:00:{:02}Z", 10 + i);
                    kills += usize::from(ev.killed == Some(true));
                    html.event(&Event::new(ev)).unwrap();
                    html.reaper(&ReaperEvent {
                        seq: i as u64 + 1,
                        time: format!("1970-01-01T00:00:{:02}.5Z", 10 + i),
                        pid: 7,
                        ..ReaperEvent::default()
                    })
                    .unwrap();
                }
            }
            let lost = if s == 1 { 5 } else { 0 };
            html.end(&Trailer {
                end: "1970-01-01T00:00:50Z".into(),
                events: if s < 2 { fixtures.len() as u64 } else { 0 },
                lost,
                incomplete: lost,
                ..Trailer::default()
            })
            .unwrap();
        }
        html.finish().unwrap();
        let page = String::from_utf8(page).unwrap();
        let n = fixtures.len() * 2;
        assert!(
            page.contains(&format!(
                "{n} OOMs ({kills} killed a task) in {sessions} sessions · \
                 <span class=\"warn\">5 lost records, 5 incomplete OOMs</span>"
            )),
            "{}",
            &page[page.find("<p class=\"meta\">").unwrap()..][..300]
        );
        let rows = page.matches("<tr><td>host").count();
        assert_eq!(rows, SESSIONS_LISTED);
        assert!(page.contains("<tr><td>host1</td><td>6.18.0</td>"));
        assert!(page.contains(&format!(
            "<td>1970-01-01T00:00:50Z</td><td>{}</td><td>5</td></tr>",
            fixtures.len()
        )));
        assert!(page.contains("and 3 more sessions"));
        assert!(page.contains(&format!("Only the first 2 OOMs have a section of their own below (<code>--detail-limit</code> raises it); all {n} are counted")));
        let svg = blocks(&page, "<svg id=\"timeline\"", "</svg>")[0];
        assert_eq!(tags(svg, "<line class=\"reaper\"").len(), n);
        assert_eq!(tags(svg, "<path class=\"lost\"").len(), 1);
        // The loss at its session's end: right of every kill.
        let lost_x: f64 = attr(tags(svg, "<path class=\"lost\"")[0], "d").unwrap()[1..]
            .split(' ')
            .next()
            .unwrap()
            .parse()
            .unwrap();
        let marks: Vec<f64> = tags(svg, "<circle").iter().map(|c| num(c, "cx")).collect();
        assert_eq!(marks.len(), n);
        assert!(marks.iter().all(|x| *x < lost_x), "{marks:?} {lost_x}");
        // Who: every OOM counted once in each chart.
        for w in blocks(&page, "<figure class=\"chart who\"", "</figure>") {
            assert_eq!(num(w, "data-total"), n as f64);
        }
    }

    /// The page of these events, each given its time since boot.
    fn page_of(events: &[OomEvent]) -> String {
        let mut page = Vec::new();
        let mut html = Html::new(&mut page, render::Options::default(), 10);
        for ev in events {
            html.event(&Event::new(ev.clone())).unwrap();
        }
        html.finish().unwrap();
        String::from_utf8(page).unwrap()
    }

    /// The timeline: each OOM a mark at its time, on a scale from the
    /// first to the last with 2 % to spare each side (never before boot),
    /// in its constraint's lane; five ticks from one end to the other.
    #[test]
    fn the_timeline_places_each_oom_at_its_time_in_its_lane() {
        let (_, fixtures) = page_of_the_fixtures();
        let mut events: Vec<OomEvent> = Vec::new();
        for (i, t) in [40.0, 10.0, 25.0, 70.0, 55.0].iter().enumerate() {
            let mut ev = fixtures[i % fixtures.len()].clone();
            ev.seq = i as u64 + 1;
            ev.time.clear();
            ev.uptime_ns = (t * 1e9) as u64;
            events.push(ev);
        }
        let page = page_of(&events);
        let svg = blocks(&page, "<svg id=\"timeline\"", "</svg>")[0];
        let (lo, hi) = (10.0 - 60.0 * 0.02, 70.0 + 60.0 * 0.02);
        let x = |t: f64| 130.0 + (t - lo) / (hi - lo) * 860.0;
        let lanes: Vec<Constraint> = Constraint::ALL
            .into_iter()
            .filter(|c| events.iter().any(|e| Constraint::of(&e.brief()) == *c))
            .collect();
        let lane_y =
            |c: Constraint| 10.0 + 26.0 * lanes.iter().position(|l| *l == c).unwrap() as f64 + 13.0;
        let lines = tags(svg, "<line class=\"lane-line\"");
        assert_eq!(lines.len(), lanes.len());
        for (l, c) in lines.iter().zip(&lanes) {
            assert_eq!(num(l, "y1"), lane_y(*c));
        }
        let marks = blocks(svg, "<a href=\"#oom-", "</a>");
        assert_eq!(marks.len(), events.len());
        for (m, ev) in marks.iter().zip(&events) {
            assert_eq!(num(m, "data-seq"), ev.seq as f64);
            let circle = tags(m, "<circle")[0];
            let t = ev.uptime_ns as f64 / 1e9;
            assert!((num(circle, "cx") - x(t)).abs() < 0.06, "{circle} at {t} s");
            assert_eq!(num(circle, "cy"), lane_y(Constraint::of(&ev.brief())));
        }
        let ticks = tags(svg, "<text class=\"tick\"");
        assert_eq!(ticks.len(), 5);
        for (i, tick) in ticks.iter().enumerate() {
            assert!(
                (num(tick, "x") - (130.0 + 215.0 * i as f64)).abs() < 0.06,
                "{tick}"
            );
        }
    }

    /// Past the marks it draws one by one, the timeline counts OOMs per
    /// bin: every OOM in one bin, the bins side by side across the axis.
    #[test]
    fn a_binned_timeline_counts_every_oom() {
        let (_, fixtures) = page_of_the_fixtures();
        let n = TIMELINE_MARKS + 500;
        let events: Vec<OomEvent> = (0..n)
            .map(|i| {
                let mut ev = fixtures[0].clone();
                ev.seq = i as u64 + 1;
                ev.time.clear();
                ev.uptime_ns = 1_000_000_000 + i as u64 * 10_000_000;
                ev
            })
            .collect();
        let page = page_of(&events);
        let svg = blocks(&page, "<svg id=\"timeline\"", "</svg>")[0];
        let bins = tags(svg, "<rect class=\"bin");
        // 20 s in 120 bins, then 5 s more: twice as wide, 75 used.
        assert!(bins.len() > 60, "{}", bins.len());
        let counts: f64 = bins.iter().map(|b| num(b, "data-count")).sum();
        assert_eq!(counts, n as f64);
        let mut last = 0.0;
        for b in &bins {
            let x = num(b, "x");
            assert!(
                x > last && x >= 130.0 && x + num(b, "width") <= 990.2,
                "{b}"
            );
            last = x;
        }
        // Evenly spread OOMs: bins of about equal height.
        let heights: Vec<f64> = bins.iter().map(|b| num(b, "height")).collect();
        let max = heights.iter().copied().fold(0.0, f64::max);
        assert!(
            max <= 24.0 && heights.iter().all(|h| *h > max * 0.6),
            "{heights:?}"
        );
    }

    /// The warning says what was lost or incomplete when either was; the
    /// note on OOMs without a section only when some are; no "more
    /// sessions" when all are listed.
    #[test]
    fn warnings_only_when_something_is_missing() {
        let (page, _) = page_of_the_fixtures();
        assert!(!page.contains("lost record"));
        assert!(!page.contains("id=\"detail-limit\""));
        assert!(!page.contains("more sessions"));
        let (_, fixtures) = page_of_the_fixtures();
        for (lost, incomplete) in [(3, 0), (0, 2)] {
            let mut out = Vec::new();
            let mut html = Html::new(&mut out, render::Options::default(), 100);
            html.session(&Header::default()).unwrap();
            html.event(&Event::new(fixtures[0].clone())).unwrap();
            html.end(&Trailer {
                lost,
                incomplete,
                ..Trailer::default()
            })
            .unwrap();
            html.finish().unwrap();
            let page = String::from_utf8(out).unwrap();
            let want = format!(
                "{lost} lost record{}, {incomplete} incomplete OOM{}",
                plural(lost),
                plural(incomplete)
            );
            assert!(page.contains(&want), "{want}");
        }
    }

    /// One OOM alone sits in the middle of a two-second axis; the axis of
    /// time since boot never starts before boot.
    #[test]
    fn a_lone_oom_is_centred_and_boot_is_the_earliest() {
        let (_, fixtures) = page_of_the_fixtures();
        let at = |secs: &[f64]| -> Vec<f64> {
            let events: Vec<OomEvent> = secs
                .iter()
                .enumerate()
                .map(|(i, t)| {
                    let mut ev = fixtures[0].clone();
                    ev.seq = i as u64 + 1;
                    ev.time.clear();
                    ev.uptime_ns = (t * 1e9) as u64;
                    ev
                })
                .collect();
            let page = page_of(&events);
            let svg = blocks(&page, "<svg id=\"timeline\"", "</svg>")[0];
            tags(svg, "<circle").iter().map(|c| num(c, "cx")).collect()
        };
        assert!((at(&[5.0])[0] - 560.0).abs() < 0.06);
        // 0.1 s and 10 s: 2 % of the span before 0.1 s would be before boot.
        let x = at(&[0.1, 10.0]);
        let hi = 10.0 + 9.9 * 0.02;
        assert!((x[0] - (130.0 + 0.1 / hi * 860.0)).abs() < 0.06, "{x:?}");
        assert!((x[1] - (130.0 + 10.0 / hi * 860.0)).abs() < 0.06, "{x:?}");
    }

    /// The small blocks, by hand: the lead-up's line chart (oldest at the
    /// left, the OOM at the right, lowest value at the bottom), the memory
    /// cgroup's bar by its share, an order too large to be one, a frame
    /// with a name and no offset, and a page without OOMs.
    #[test]
    fn the_small_blocks_by_hand() {
        use crate::schema::event::{LeadPoint, LeadUp, MemcgMemory};
        let point = |ms_before, kb| LeadPoint {
            ms_before,
            memcg_usage_kb: Some(kb),
            ..LeadPoint::default()
        };
        let l = LeadUp {
            interval_ms: 1000,
            points: vec![point(2000, 1), point(1000, 2), point(0, 3)],
        };
        // One point is no line; two are.
        let short = |n: usize| LeadUp {
            interval_ms: 1000,
            points: l.points[3 - n..].to_vec(),
        };
        assert!(!lead_up_block(&short(1)).contains("<svg"));
        assert!(lead_up_block(&short(2)).contains("<svg class=\"leadup memcg\""));
        let block = lead_up_block(&l);
        let svg = tags(&block, "<svg class=\"leadup memcg\"")[0];
        assert_eq!(attr(svg, "data-values"), Some("1 2 3"));
        assert!(
            block.contains("<polyline points=\"0.0,36.0 150.0,20.0 300.0,4.0\"/>"),
            "{block}"
        );
        let bar = memcg_block(&MemcgMemory {
            usage_kb: 1024,
            limit_kb: 4096,
            failcnt: 2,
        });
        assert_eq!(num(tags(&bar, "<rect class=\"used\"")[0], "width"), 75.0);
        assert!(bar.contains("(25 %), failcnt 2"), "{bar}");
        let ev = OomEvent {
            order: Some(40),
            ..OomEvent::default()
        };
        assert!(gfp_block(&ev).contains("<p>order unknown</p>"));
        let named = Frame {
            addr: "0x1".into(),
            symbol: Some("f".into()),
            ..Frame::default()
        };
        assert_eq!(ftrace_stack(&[named]), " <stack trace>\n => f\n");
        let mut out = Vec::new();
        Html::new(&mut out, render::Options::default(), 10)
            .finish()
            .unwrap();
        assert!(
            String::from_utf8(out)
                .unwrap()
                .contains("<p>No OOM in these sessions.</p>")
        );
    }

    /// A "who" chart: the top names, a row each from the top, then all the
    /// others in one row; none when there are no others.
    #[test]
    fn who_charts_end_with_all_the_others() {
        let mut t = TopCounts::new(100);
        for i in 0..TOP + 2 {
            for _ in 0..=i {
                t.add(&format!("n{i:02}"));
            }
        }
        let svg = who_svg("x", &t);
        let rows = blocks(&svg, "<g class=\"who-row\"", "</g>");
        assert_eq!(rows.len(), TOP + 1);
        assert_eq!(attr(rows[TOP], "data-name"), Some("(all others)"));
        assert_eq!(num(rows[TOP], "data-count"), 1.0 + 2.0);
        for (i, r) in rows.iter().enumerate() {
            assert_eq!(num(tags(r, "<rect")[0], "y"), 20.0 * i as f64 + 3.0);
        }
        let mut few = TopCounts::new(100);
        few.add("a");
        let long = "/kubepods.slice/a-very-long-cgroup-name-indeed";
        few.add(long);
        let svg = who_svg("x", &few);
        assert!(!svg.contains("(all others)"));
        // A long name shows its end, 30 characters with the ellipsis.
        let tail: String = long.chars().skip(long.chars().count() - 29).collect();
        assert!(
            svg.contains(&format!(">…{tail}<title>{long}</title>")),
            "{svg}"
        );
        assert!(svg.contains(">a<title>a</title>"));
    }

    /// Frames get warm hues (0 to 54), the same for the same name, and
    /// different names mostly different ones.
    #[test]
    fn frame_hues_are_warm_and_told_apart() {
        let names = [
            "out_of_memory",
            "oom_kill_process",
            "try_charge_memcg",
            "handle_mm_fault",
            "do_anonymous_page",
            "__alloc_pages",
            "exc_page_fault",
            "charge_memcg",
        ];
        let hues: Vec<u32> = names.iter().map(|n| hue(n)).collect();
        assert!(hues.iter().all(|h| *h < 55), "{hues:?}");
        assert_eq!(hue("out_of_memory"), hues[0]);
        let mut distinct = hues.clone();
        distinct.sort();
        distinct.dedup();
        assert!(distinct.len() >= 5, "{hues:?}");
    }

    /// Sizes as people read them, each unit from ten of it (and the short
    /// labels under the free lists from one).
    #[test]
    fn sizes_change_unit_at_their_bounds() {
        assert_eq!(kb(10239), "10239 kB");
        assert_eq!(kb(10240), "10.0 MiB");
        assert_eq!(kb(10 * 1024 * 1024 - 1), "10240.0 MiB");
        assert_eq!(kb(10 * 1024 * 1024), "10.0 GiB");
        assert_eq!(short_kb(1023), "1023k");
        assert_eq!(short_kb(1024), "1M");
        assert_eq!(short_kb(1024 * 1024 - 1), "1023M");
        assert_eq!(short_kb(4 * 1024 * 1024), "4G");
        assert_eq!((plural(1), plural(0), plural(2)), ("", "s", "s"));
        assert_eq!(opt(None), "");
        assert_eq!(opt(Some(7)), "7");
    }

    /// The timeline's labels: wall time to the second (or the millisecond
    /// when fine), seconds since boot otherwise.
    #[test]
    fn axis_labels_say_the_time() {
        let wall = Some(charts::Axis::Wall);
        assert_eq!(axis_label(wall, 100.5, false), "1970-01-01 00:01:40");
        assert_eq!(axis_label(wall, 100.5, true), "1970-01-01 00:01:40.500");
        assert_eq!(
            axis_label(Some(charts::Axis::Uptime), 2.5, false),
            "2.500 s"
        );
        assert_eq!(axis_label(wall, -1.0, false), "-1.000 s");
    }

    #[test]
    fn text_and_attributes_are_escaped() {
        assert_eq!(
            esc("<a href=\"x\">&'"),
            "&lt;a href=&quot;x&quot;&gt;&amp;&#39;"
        );
    }

    #[test]
    fn ftrace_blocks_read_like_ftraces() {
        let f = |s: &str, o, z| Frame {
            addr: "0xffff".into(),
            symbol: Some(s.into()),
            offset: Some(o),
            size: Some(z),
        };
        let text = ftrace_stack(&[f("show_free_areas", 8, 1960), f("show_mem", 60, 212)]);
        assert_eq!(
            text,
            " <stack trace>\n => show_free_areas+0x8/0x7a8\n => show_mem+0x3c/0xd4\n"
        );
    }
}
