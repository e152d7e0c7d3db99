//! `oomtrace watch`: memory pressure as it builds, on one screen (ratatui):
//! PSI, each zone against its watermarks, reclaim and compaction rates, the
//! memory cgroups nearest their limit, and the OOM kills as they happen
//! (the live BPF source, where oomtrace may load it). `--once --json`: one
//! snapshot of the same, for scripts.

use crate::enrich::workloads::Workloads;
use crate::plan;
use crate::source::bpf::{BpfSource, Options};
use anyhow::Result;
use crossterm::event::{self, Event as TermEvent, KeyCode, KeyEventKind};
use crossterm::terminal::{self, EnterAlternateScreen, LeaveAlternateScreen};
use oomtrace_core::enrich::pressure::{self, MemcgView, Sample, View};
use oomtrace_core::pipeline;
use oomtrace_core::schema::event::{Header, OomEvent, ReaperEvent, RetryStep};
use oomtrace_core::schema::item::{Event, Progress};
use oomtrace_core::sink::Sink;
use oomtrace_core::sink::charts::Constraint;
use ratatui::Terminal;
use ratatui::backend::CrosstermBackend;
use ratatui::layout::{Constraint as Size, Layout, Rect};
use ratatui::style::{Color, Modifier, Style};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Borders, Clear, Paragraph};
use std::io::{self, Write};
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::mpsc;
use std::time::{Duration, Instant};

#[derive(clap::Args)]
pub struct WatchArgs {
    /// How often the screen is refreshed (and the rates measured over).
    #[arg(long, value_name = "D", default_value = "1s", value_parser = crate::parse_duration)]
    pub interval: Duration,
    /// One snapshot (two samples an interval apart), then exit.
    #[arg(long)]
    pub once: bool,
    /// With --once: as JSON.
    #[arg(long, requires = "once")]
    pub json: bool,
    /// Memory cgroups shown, nearest their limit first.
    #[arg(long, value_name = "N", default_value_t = 10)]
    pub top: usize,
}

/// The smallest screen drawn.
const MIN_SIZE: (u16, u16) = (80, 24);
/// Kill lines kept.
const KILLS_KEPT: usize = 200;

fn page_shift() -> u32 {
    plan::host::page_shift()
}

/// A snapshot as `--once --json` prints it.
#[derive(serde::Serialize)]
struct Snapshot<'a> {
    time: String,
    #[serde(flatten)]
    view: &'a View,
    /// Why a part is missing ("no PSI: ...").
    notes: Vec<String>,
}

fn notes(view: &View, memcg_root: &Option<PathBuf>) -> Vec<String> {
    let mut n = Vec::new();
    if view.psi.is_none() {
        n.push("no PSI: /proc/pressure/memory is missing (CONFIG_PSI, or psi=0 on the kernel's command line)".into());
    }
    if memcg_root.is_none() {
        n.push(
            "no memory cgroups: neither cgroup v2 with memory nor v1's memory hierarchy is mounted"
                .into(),
        );
    }
    n
}

pub fn run(a: &WatchArgs) -> Result<()> {
    let root = plan::host::memcg_root();
    if a.once {
        let first = pressure::sample(page_shift(), root.as_deref());
        std::thread::sleep(a.interval);
        let second = pressure::sample(page_shift(), root.as_deref());
        let view = View::between(&first, &second, a.top);
        let mut out = io::stdout().lock();
        if a.json {
            serde_json::to_writer(
                &mut out,
                &Snapshot {
                    time: oomtrace_core::schema::event::now(),
                    view: &view,
                    notes: notes(&view, &root),
                },
            )?;
            writeln!(out)?;
        } else {
            for l in text_lines(&view) {
                writeln!(out, "{l}")?;
            }
            for n in notes(&view, &root) {
                writeln!(out, "({n})")?;
            }
        }
        return Ok(());
    }
    screen(a, root)
}

fn kb(k: u64) -> String {
    oomtrace_core::sink::html::kb(k)
}

fn limit_in(s: Option<f64>) -> String {
    match s {
        Some(s) if s < 1.0 => "<1 s".into(),
        Some(s) if s < 3600.0 => format!("~{s:.0} s"),
        Some(_) => ">1 h".into(),
        None => "-".into(),
    }
}

/// The snapshot as lines of text (`--once` without `--json`, and the screen's parts).
fn text_lines(v: &View) -> Vec<String> {
    let mut out = Vec::new();
    match &v.psi {
        Some(p) => out.push(format!(
            "pressure: some {:.1}% (avg10 {:.2}, avg60 {:.2})  full {} (avg10 {}, avg60 {})",
            p.some_now,
            p.some_avg10,
            p.some_avg60,
            p.full_now.map_or("-".into(), |f| format!("{f:.1}%")),
            p.full_avg10.map_or("-".into(), |f| format!("{f:.2}")),
            p.full_avg60.map_or("-".into(), |f| format!("{f:.2}")),
        )),
        None => out.push("pressure: no PSI on this kernel".into()),
    }
    for z in &v.zones {
        out.push(format!(
            "Node {} {:<8} free {:>10}  min {} low {} high {}",
            z.node,
            z.zone,
            kb(z.free_kb),
            kb(z.min_kb),
            kb(z.low_kb),
            kb(z.high_kb)
        ));
    }
    let rates: Vec<String> = v
        .reclaim_per_s
        .iter()
        .map(|(k, r)| format!("{k} {r:.0}/s"))
        .collect();
    out.push(format!("reclaim: {}", rates.join("  ")));
    for m in &v.memcgs {
        out.push(memcg_line(m, 200));
    }
    out
}

fn memcg_line(m: &MemcgView, width: usize) -> String {
    let name = m.workload.clone().unwrap_or_else(|| m.path.clone());
    let mib = |k: f64| {
        if k.abs() >= 1024.0 * 1024.0 {
            format!("{:.1}G", k / 1024.0 / 1024.0)
        } else {
            format!("{:.1}M", k / 1024.0)
        }
    };
    let tail = format!(
        " {:>7}/{:<7}{:>4.0}% {:>7}/s fail+{:<3} limit in {}",
        mib(m.usage_kb as f64),
        mib(m.limit_kb as f64),
        m.percent,
        format!(
            "{}{}",
            if m.growth_kb_per_s >= 0.0 { "+" } else { "" },
            mib(m.growth_kb_per_s)
        ),
        m.failcnt_delta,
        limit_in(m.limit_in_s)
    );
    let room = width.saturating_sub(tail.chars().count()).max(8);
    let shown: String = if name.chars().count() > room {
        let skip = name.chars().count() - (room - 1);
        format!("…{}", name.chars().skip(skip).collect::<String>())
    } else {
        format!("{name:<room$}")
    };
    format!("{shown}{tail}")
}

/// How the memory cgroups are ordered (`s` cycles).
#[derive(Clone, Copy, PartialEq)]
enum Sort {
    Percent,
    LimitIn,
    Growth,
}

impl Sort {
    fn next(self) -> Sort {
        match self {
            Sort::Percent => Sort::LimitIn,
            Sort::LimitIn => Sort::Growth,
            Sort::Growth => Sort::Percent,
        }
    }
    fn name(self) -> &'static str {
        match self {
            Sort::Percent => "use of limit",
            Sort::LimitIn => "time to limit",
            Sort::Growth => "growth",
        }
    }
    fn apply(self, m: &mut [MemcgView]) {
        let f = |x: f64| if x.is_nan() { 0.0 } else { x };
        match self {
            Sort::Percent => m.sort_by(|a, b| f(b.percent).total_cmp(&f(a.percent))),
            Sort::LimitIn => m.sort_by(|a, b| {
                a.limit_in_s
                    .unwrap_or(f64::INFINITY)
                    .total_cmp(&b.limit_in_s.unwrap_or(f64::INFINITY))
            }),
            Sort::Growth => m.sort_by(|a, b| f(b.growth_kb_per_s).total_cmp(&f(a.growth_kb_per_s))),
        }
    }
}

/// What the BPF thread tells the screen.
enum FromTracer {
    Kill(Box<OomEvent>),
    Note(String),
    Retries(u64, u64, Option<RetryStep>),
}

/// Sends each whole event to the screen.
struct ToScreen(mpsc::Sender<FromTracer>);

impl Sink for ToScreen {
    fn session(&mut self, h: &Header) -> io::Result<()> {
        let _ = self
            .0
            .send(FromTracer::Note(format!("tracing OOMs ({} mode)", h.mode)));
        Ok(())
    }
    fn event(&mut self, ev: &Event) -> io::Result<()> {
        if let Some(full) = &ev.full {
            let _ = self.0.send(FromTracer::Kill(full.clone()));
        }
        Ok(())
    }
    fn reaper(&mut self, _r: &ReaperEvent) -> io::Result<()> {
        Ok(())
    }
    fn progress(&mut self, p: &Progress) -> io::Result<()> {
        let _ = self.0.send(FromTracer::Retries(
            p.reclaim_retries,
            p.compact_retries,
            p.last_retry.clone(),
        ));
        Ok(())
    }
}

/// The live source on a thread of its own; what it cannot do is said on the screen.
fn start_tracer(tx: mpsc::Sender<FromTracer>) {
    std::thread::spawn(move || {
        let result = (|| -> Result<()> {
            let opts = Options {
                mode: plan::Mode::Auto,
                memory_via: plan::MemoryVia::Auto,
                buffer_kib: None,
                duration: None,
                bpf_stats: false,
                verbose: false,
                btf: None,
                protect: false,
                reopen_on_hup: false,
            };
            let mut source = BpfSource::start(&opts)?;
            pipeline::run(
                &mut source,
                &mut [&mut Workloads::watching(std::path::Path::new("/"))],
                &pipeline::Filter::default(),
                &mut ToScreen(tx.clone()),
                None,
            )?;
            Ok(())
        })();
        if let Err(e) = result {
            let first = format!("{e:#}");
            let _ = tx.send(FromTracer::Note(format!(
                "no live OOMs (kills counted from /proc/vmstat only): {}",
                first.lines().next().unwrap_or("")
            )));
        }
    });
}

/// What ends the screen besides `q`: SIGINT, SIGTERM or SIGHUP (which the
/// tracer's thread also takes, so their default action is gone), or the
/// terminal itself gone (its ssh session dropped, its tmux killed: the tty
/// polls as hung up, reads EOF or EIO).
struct Ending {
    signal: Arc<AtomicUsize>,
    /// The terminal's descriptor, polled for a hang-up.
    tty: Option<i32>,
}

/// How long a signal waits for the screen to end by itself before the
/// process ends without it: a write to a terminal that stopped reading
/// (a stalled ssh) blocks, and a blocked write sees no flag.
const SIGNAL_GRACE: Duration = Duration::from_millis(500);

impl Ending {
    fn new() -> Result<Ending> {
        let signal = Arc::new(AtomicUsize::new(0));
        let mut signals = signal_hook::iterator::Signals::new([
            signal_hook::consts::SIGINT,
            signal_hook::consts::SIGTERM,
            signal_hook::consts::SIGHUP,
        ])?;
        let seen = signal.clone();
        std::thread::spawn(move || {
            if let Some(sig) = signals.forever().next() {
                seen.store(sig as usize, Ordering::SeqCst);
                std::thread::sleep(SIGNAL_GRACE);
                // Still here: the screen is stuck writing. Raw mode off
                // (tcsetattr does not wait for output), then gone.
                let _ = terminal::disable_raw_mode();
                // SAFETY: ends the process; nothing after it runs.
                unsafe { libc::_exit(128 + sig) };
            }
        });
        // SAFETY: isatty on descriptors we hold.
        let tty = [0, 1]
            .into_iter()
            .find(|&fd| unsafe { libc::isatty(fd) } == 1);
        Ok(Ending { signal, tty })
    }

    /// The signal that asked the screen to end, if one did.
    fn signal(&self) -> Option<i32> {
        match self.signal.load(Ordering::SeqCst) {
            0 => None,
            s => Some(s as i32),
        }
    }

    /// Whether the terminal hung up (without reading from it).
    fn terminal_gone(&self) -> bool {
        let Some(fd) = self.tty else {
            return false;
        };
        let mut p = libc::pollfd {
            fd,
            events: 0,
            revents: 0,
        };
        // SAFETY: one pollfd, no wait.
        let n = unsafe { libc::poll(&mut p, 1, 0) };
        n > 0 && p.revents & (libc::POLLHUP | libc::POLLERR | libc::POLLNVAL) != 0
    }
}

/// Puts the terminal back however the screen ends.
struct Restore;

impl Drop for Restore {
    fn drop(&mut self) {
        let _ = terminal::disable_raw_mode();
        let _ = crossterm::execute!(io::stdout(), LeaveAlternateScreen, crossterm::cursor::Show);
    }
}

struct Screen {
    view: View,
    sort: Sort,
    paused: bool,
    /// The kills' lines (bounded), and the last kill whole, for `Enter`:
    /// whole events are tens of kB each (counters, zones).
    kills: std::collections::VecDeque<String>,
    last_kill: Option<Box<OomEvent>>,
    notes: Vec<String>,
    report: Option<Vec<String>>,
    color: bool,
    /// Allocator retries seen (reclaim, compact), at the last refresh and now.
    retries_then: (u64, u64),
    retries_now: (u64, u64),
    retry_rates: Option<(f64, f64)>,
    last_retry: Option<RetryStep>,
}

pub fn screen(a: &WatchArgs, root: Option<PathBuf>) -> Result<()> {
    // Stderr goes to the tracer's messages: keep them off the screen.
    let (tx, rx) = mpsc::channel();
    // The BPF source's stderr lines would tear the screen: they go nowhere
    // while it is up (its failures come through the channel).
    let devnull = std::fs::OpenOptions::new().write(true).open("/dev/null")?;
    // SAFETY: plain dup2 on our own descriptors.
    let saved_stderr = unsafe { libc::dup(2) };
    unsafe { libc::dup2(std::os::fd::AsRawFd::as_raw_fd(&devnull), 2) };
    let ending = Ending::new()?;
    start_tracer(tx);
    terminal::enable_raw_mode()?;
    crossterm::execute!(io::stdout(), EnterAlternateScreen, crossterm::cursor::Hide)?;
    let restore = Restore;
    let mut term = Terminal::new(CrosstermBackend::new(io::stdout()))?;
    let mut s = Screen {
        view: View::default(),
        sort: Sort::Percent,
        paused: false,
        kills: std::collections::VecDeque::new(),
        last_kill: None,
        notes: notes(
            &View {
                psi: None,
                ..View::default()
            },
            &root,
        )
        .into_iter()
        .skip(1)
        .collect(),
        report: None,
        color: std::env::var_os("NO_COLOR").is_none_or(|v| v.is_empty()),
        retries_then: (0, 0),
        retries_now: (0, 0),
        retry_rates: None,
        last_retry: None,
    };
    let mut last: Sample = pressure::sample(page_shift(), root.as_deref());
    let mut next = Instant::now() + a.interval;
    let mut dirty = true;
    let mut gone = false;
    loop {
        if let Some(sig) = ending.signal() {
            // SIGHUP: the terminal hung up.
            gone = sig == libc::SIGHUP;
            break;
        }
        if ending.terminal_gone() {
            gone = true;
            break;
        }
        if !s.paused && Instant::now() >= next {
            let now = pressure::sample(page_shift(), root.as_deref());
            s.view = View::between(&last, &now, 1000);
            s.sort.apply(&mut s.view.memcgs);
            if s.notes.iter().any(|n| n.starts_with("tracing OOMs")) {
                let secs = s.view.interval_s.max(1e-3);
                s.retry_rates = Some((
                    (s.retries_now.0 - s.retries_then.0) as f64 / secs,
                    (s.retries_now.1 - s.retries_then.1) as f64 / secs,
                ));
                s.retries_then = s.retries_now;
            }
            last = now;
            next = Instant::now() + a.interval;
            dirty = true;
        }
        for msg in rx.try_iter() {
            match msg {
                FromTracer::Kill(ev) => {
                    s.kills.push_back(kill_line(&ev));
                    s.last_kill = Some(ev);
                    if s.kills.len() > KILLS_KEPT {
                        s.kills.pop_front();
                    }
                }
                FromTracer::Note(n) => s.notes.push(n),
                FromTracer::Retries(reclaim, compact, last) => {
                    s.retries_now = (reclaim.max(s.retries_now.0), compact.max(s.retries_now.1));
                    s.last_retry = last;
                }
            }
            dirty = true;
        }
        if dirty {
            if term.draw(|f| draw(f, &s)).is_err() {
                gone = true;
                break;
            }
            dirty = false;
        }
        let Ok(ready) = event::poll(Duration::from_millis(100)) else {
            gone = true;
            break;
        };
        if !ready {
            continue;
        }
        let k = match event::read() {
            Ok(TermEvent::Key(k)) if k.kind == KeyEventKind::Press => k,
            // A resize: drawn again.
            Ok(_) => {
                dirty = true;
                continue;
            }
            Err(_) => {
                gone = true;
                break;
            }
        };
        dirty = true;
        match k.code {
            KeyCode::Char('q') => break,
            KeyCode::Esc if s.report.is_some() => s.report = None,
            KeyCode::Esc => break,
            KeyCode::Char('p') => s.paused = !s.paused,
            KeyCode::Char('s') => {
                s.sort = s.sort.next();
                s.sort.apply(&mut s.view.memcgs);
            }
            KeyCode::Enter => {
                s.report = match (&s.report, s.last_kill.as_deref()) {
                    (Some(_), _) => None,
                    (None, Some(ev)) => Some(
                        oomtrace_core::sink::render::text(ev)
                            .lines()
                            .map(str::to_owned)
                            .collect(),
                    ),
                    (None, None) => None,
                }
            }
            _ => {}
        }
    }
    drop(term);
    if gone {
        // Nothing to restore on a terminal that is gone, nobody to tell.
        std::mem::forget(restore);
        anyhow::bail!("the terminal went away");
    }
    drop(restore);
    // SAFETY: restoring the descriptor saved above.
    unsafe { libc::dup2(saved_stderr, 2) };
    Ok(())
}

fn draw(f: &mut ratatui::Frame, s: &Screen) {
    let area = f.area();
    if area.width < MIN_SIZE.0 || area.height < MIN_SIZE.1 {
        let msg = format!(
            "terminal too small ({}x{}): oomtrace watch needs {}x{}",
            area.width, area.height, MIN_SIZE.0, MIN_SIZE.1
        );
        f.render_widget(Paragraph::new(msg), area);
        return;
    }
    let style = |c: Color| {
        if s.color {
            Style::default().fg(c)
        } else {
            Style::default()
        }
    };
    let v = &s.view;
    let zones = v.zones.len().min(8) as u16;
    let rows = Layout::vertical([
        Size::Length(1),
        Size::Length(zones + 2),
        Size::Length(1),
        Size::Length(1),
        Size::Min(5),
        Size::Length(7),
        Size::Length(1),
    ])
    .split(area);
    // Pressure.
    let psi = match &v.psi {
        Some(p) => format!(
            "PSI memory: some {:.1}% now, avg10 {:.2} avg60 {:.2} | full {} now, avg10 {}",
            p.some_now,
            p.some_avg10,
            p.some_avg60,
            p.full_now.map_or("-".into(), |x| format!("{x:.1}%")),
            p.full_avg10.map_or("-".into(), |x| format!("{x:.2}"))
        ),
        None => "PSI memory: not on this kernel".into(),
    };
    let hot = v.psi.as_ref().is_some_and(|p| p.some_avg10 > 10.0);
    f.render_widget(
        Paragraph::new(psi).style(if hot {
            style(Color::Red)
        } else {
            Style::default()
        }),
        rows[0],
    );
    // Zones: free against min/low/high on a bar of the zone's own scale.
    let bar_w = rows[1].width.saturating_sub(44) as usize;
    let zone_lines: Vec<Line> = v
        .zones
        .iter()
        .take(8)
        .map(|z| {
            let top = z.high_kb.max(z.free_kb).max(1) as f64 * 1.25;
            let at = |k: u64| ((k as f64 / top) * bar_w as f64) as usize;
            let mut bar: Vec<char> = (0..bar_w)
                .map(|i| if i < at(z.free_kb) { '█' } else { ' ' })
                .collect();
            for (k, c) in [(z.min_kb, 'm'), (z.low_kb, 'l'), (z.high_kb, 'h')] {
                if let Some(x) = bar.get_mut(at(k).min(bar_w.saturating_sub(1))) {
                    *x = c;
                }
            }
            let low = z.free_kb < z.low_kb;
            Line::from(vec![
                Span::raw(format!("N{} {:<7} ", z.node, z.zone)),
                Span::styled(
                    bar.into_iter().collect::<String>(),
                    if z.free_kb < z.min_kb {
                        style(Color::Red)
                    } else if low {
                        style(Color::Yellow)
                    } else {
                        style(Color::Green)
                    },
                ),
                Span::raw(format!(" {:>9} free, min {}", kb(z.free_kb), kb(z.min_kb))),
            ])
        })
        .collect();
    f.render_widget(
        Paragraph::new(zone_lines).block(
            Block::default()
                .borders(Borders::ALL)
                .title(" zones: free against watermarks (m l h) "),
        ),
        rows[1],
    );
    let rate = |k: &str| v.reclaim_per_s.get(k).copied().unwrap_or(0.0);
    f.render_widget(
        Paragraph::new(format!(
            "per second: kswapd scan {:.0}  direct scan {:.0}  direct reclaim {:.0}  compact stall {:.0}  OOM kills {:.0}",
            rate("kswapd_scan"),
            rate("direct_scan"),
            rate("direct_reclaim"),
            rate("compact_stall"),
            rate("oom_kill")
        )),
        rows[2],
    );
    f.render_widget(Paragraph::new(retry_line(s)), rows[3]);
    let rows: Vec<Rect> = [&rows[..3], &rows[4..]].concat();
    // Memory cgroups.
    let width = rows[3].width.saturating_sub(2) as usize;
    let lines: Vec<Line> = v
        .memcgs
        .iter()
        .take(rows[3].height.saturating_sub(2) as usize)
        .map(|m| {
            let st = if m.percent >= 90.0 {
                style(Color::Red)
            } else if m.percent >= 75.0 {
                style(Color::Yellow)
            } else {
                Style::default()
            };
            Line::styled(memcg_line(m, width), st)
        })
        .collect();
    f.render_widget(
        Paragraph::new(lines).block(Block::default().borders(Borders::ALL).title(format!(
            " memory cgroups by {} ({} with a limit) ",
            s.sort.name(),
            v.memcgs.len()
        ))),
        rows[3],
    );
    // Kills, newest last, the last one highlighted.
    let shown = rows[4].height.saturating_sub(2) as usize;
    let mut kill_lines: Vec<Line> = s
        .kills
        .iter()
        .rev()
        .take(shown)
        .rev()
        .map(|l| Line::raw(l.clone()))
        .collect();
    if let Some(l) = kill_lines.last_mut() {
        *l = l.clone().style(if s.color {
            Style::default().fg(Color::Red).add_modifier(Modifier::BOLD)
        } else {
            Style::default().add_modifier(Modifier::REVERSED)
        });
    }
    if kill_lines.is_empty() {
        kill_lines.push(Line::raw(
            s.notes
                .last()
                .cloned()
                .unwrap_or_else(|| "no OOM kill yet".into()),
        ));
    }
    f.render_widget(
        Paragraph::new(kill_lines)
            .block(Block::default().borders(Borders::ALL).title(" OOM kills ")),
        rows[4],
    );
    f.render_widget(
        Paragraph::new(format!(
            "q quit  p {}  s sort  Enter last OOM's report{}",
            if s.paused { "resume (paused)" } else { "pause" },
            s.notes
                .first()
                .map(|n| format!("  | {n}"))
                .unwrap_or_default()
        ))
        .style(Style::default().add_modifier(Modifier::REVERSED)),
        rows[5],
    );
    if let Some(report) = &s.report {
        let r = Rect {
            x: area.x + 2,
            y: area.y + 1,
            width: area.width - 4,
            height: area.height - 2,
        };
        f.render_widget(Clear, r);
        f.render_widget(
            Paragraph::new(
                report
                    .iter()
                    .map(|l| Line::raw(l.clone()))
                    .collect::<Vec<_>>(),
            )
            .block(
                Block::default()
                    .borders(Borders::ALL)
                    .title(" last OOM (Esc or Enter closes) "),
            ),
            r,
        );
    }
}

/// The allocator going round before it gives up: retries a second and
/// the last one's fields (zone, order, ...).
fn retry_line(s: &Screen) -> String {
    let Some((reclaim, compact)) = s.retry_rates else {
        return "allocator retries: need the live source (root, or the capabilities oomtrace check lists)".into();
    };
    let last = s.last_retry.as_ref().map_or(String::new(), |r| {
        let fields: Vec<String> = r.fields.iter().map(|(k, v)| format!("{k}={v}")).collect();
        format!("; last {}: {}", r.event, fields.join(" "))
    });
    format!("allocator retries per second: reclaim {reclaim:.0}  compaction {compact:.0}{last}")
}

/// One OOM kill as a line: when, what kind, who asked, who died, where.
fn kill_line(ev: &OomEvent) -> String {
    let time = ev.time.get(11..19).unwrap_or("");
    let class = Constraint::of(&ev.brief());
    let who = |c: &Option<String>, p: Option<i32>| {
        format!(
            "{}({})",
            c.as_deref().unwrap_or("?"),
            p.map_or("?".into(), |p| p.to_string())
        )
    };
    let victim = ev.victim.as_ref().map_or("no kill".into(), |v| {
        let w = v.workload_label().unwrap_or_default();
        format!("killed {} {w}", who(&v.comm, v.pid))
    });
    format!(
        "{time} #{} {:<6} {} → {victim}",
        ev.seq,
        class.name(),
        who(&ev.trigger.comm, ev.trigger.pid)
    )
}
