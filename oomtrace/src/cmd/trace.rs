//! `oomtrace trace` and `oomtrace record`: the live source into the text or
//! JSON sink, or into a session file (with the text on stderr).

use crate::enrich::{lead_up::LeadUps, user_frames::UserStacks, workloads::Workloads};
use crate::plan::{self, Mode};
use crate::source::bpf::{BpfSource, Options};
use crate::source::queue::Queued;
use anyhow::Result;
use oomtrace_core::pipeline::Enricher;
use oomtrace_core::pipeline::{self, Outcome};
use oomtrace_core::sink::{Json, Sink, Tee, Text};
use oomtrace_core::sink::{render, session};
use std::io::{self, IsTerminal};
use std::time::Duration;

#[derive(Clone, Debug, clap::Args)]
pub struct TraceArgs {
    /// Print JSON Lines instead of the kernel-style report.
    #[arg(long)]
    pub json: bool,
    /// Exit after N events.
    #[arg(long, value_name = "N")]
    pub count: Option<u64>,
    /// Exit after this long (30s, 5m; a bare number is seconds); 0 attaches
    /// everything and exits.
    #[arg(long, value_name = "D", value_parser = crate::parse_duration)]
    pub duration: Option<Duration>,
    /// Which hooks to use.
    #[arg(long, value_enum, default_value = "auto")]
    pub mode: Mode,
    #[command(flatten)]
    pub filter: super::FilterArgs,
    /// Count each BPF program's runs and run time while tracing
    /// (BPF_ENABLE_STATS) and print them at exit: the cost per OOM.
    #[arg(long)]
    pub bpf_stats: bool,
    /// How the kernel side reaches the memory counters and zones.
    #[arg(long, value_enum, default_value = "auto")]
    pub memory_via: plan::MemoryVia,
    /// Add every vm_node_stat / vm_zone_stat counter (index, name, value) to the text.
    #[arg(long)]
    pub counters: bool,
    /// Ring buffer size in KiB (rounded up to a power of two pages); by
    /// default sized for the records of some dozens of OOMs not yet read.
    #[arg(long, value_name = "KIB")]
    pub buffer: Option<u32>,
    /// How far the reader (a pipe, a disk, a scrape) may fall behind before
    /// whole events are dropped (counted, and said while it happens): the
    /// events waiting in memory (`64M`, `512K`).
    #[arg(long, value_name = "SIZE", default_value = "64M", value_parser = crate::parse_size)]
    pub queue: u64,
    /// Show the kernel side's own error messages (a read that faulted, a
    /// record the full ring buffer refused); they are counted either way.
    #[arg(long, short)]
    pub verbose: bool,
    /// Survive the OOMs being traced: lock oomtrace's memory and set its
    /// oom_score_adj to -1000 (`record` always does).
    #[arg(long)]
    pub protect: bool,
    /// The kernel's types from this file, for a kernel built without BTF
    /// of its own: made once from its debug vmlinux by `oomtrace btf`
    /// (bound to that build: a file of another build is refused), or
    /// pahole's raw BTF (unchecked). `none`: kernel-log mode, which is
    /// what a kernel without BTF gets anyway.
    #[arg(long, value_name = "FILE")]
    pub btf: Option<std::path::PathBuf>,
    /// Where the host's files are (container runtimes' state, for the
    /// names of pods and containers): `/`, or the host's root as mounted in
    /// oomtrace's own container (`/host`).
    #[arg(long, value_name = "DIR", default_value = "/")]
    pub host_root: std::path::PathBuf,
}

impl TraceArgs {
    pub fn render_options(&self) -> render::Options {
        render::Options {
            counters: self.counters,
            ..render::Options::default()
        }
    }

    fn options(&self) -> Options {
        Options {
            mode: self.mode,
            memory_via: self.memory_via,
            buffer_kib: self.buffer,
            duration: self.duration,
            bpf_stats: self.bpf_stats,
            verbose: self.verbose,
            btf: self.btf.clone(),
            protect: self.protect,
            reopen_on_hup: false,
        }
    }

    /// The live source through the pipeline into `sink`.
    fn run(&self, sink: &mut dyn Sink, protect: bool) -> Result<Outcome> {
        self.run_with(sink, protect, false, None)
    }

    /// The same; `reopen_on_hup`: SIGHUP reopens the sinks' files;
    /// `lead_up`: each event carries the pressure of this long before it.
    pub fn run_with(
        &self,
        sink: &mut dyn Sink,
        protect: bool,
        reopen_on_hup: bool,
        lead_up: Option<Duration>,
    ) -> Result<Outcome> {
        let mut lead_ups = lead_up.and_then(LeadUps::start);
        let source = BpfSource::start(&Options {
            protect,
            reopen_on_hup,
            ..self.options()
        })?;
        if let Some(l) = lead_ups.as_mut()
            && !source.counts_retries()
        {
            l.without_retries();
        }
        // Drained on its own thread: a slow reader costs queue, not records.
        let wake = source.stopper();
        let mut source = Queued::start(source, self.queue as usize, wake);
        let mut stacks = UserStacks::new();
        let mut workloads = Workloads::watching(&self.host_root);
        let mut enrichers: Vec<&mut dyn Enricher> = vec![&mut stacks, &mut workloads];
        if let Some(l) = lead_ups.as_mut() {
            enrichers.push(l);
        }
        pipeline::run(
            &mut source,
            &mut enrichers,
            &self.filter.filter(),
            sink,
            self.count,
        )
    }
}

#[derive(clap::Args)]
pub struct RecordArgs {
    /// The session file; `-` writes to stdout.
    #[arg(short, long, value_name = "FILE")]
    pub output: String,
    /// Overwrite FILE if it exists.
    #[arg(long, conflicts_with = "append")]
    pub force: bool,
    /// Add a new session to the end of FILE.
    #[arg(long)]
    pub append: bool,
    /// No live text on stderr.
    #[arg(long)]
    pub quiet: bool,
    #[command(flatten)]
    pub lead_up: LeadUpArgs,
    #[command(flatten)]
    pub trace: TraceArgs,
}

/// `--lead-up`, for the recorders.
#[derive(Clone, Debug, clap::Args)]
pub struct LeadUpArgs {
    /// Keep this long of memory pressure (sampled every second: the OOM's
    /// memcg usage and fail count, PSI, free memory, the allocator's
    /// retries) and attach it to each OOM; 0 turns it off.
    #[arg(long, value_name = "D", default_value = "60s", value_parser = crate::parse_duration)]
    pub lead_up: Duration,
}

pub fn trace(args: &TraceArgs) -> Result<()> {
    let stdout = io::stdout();
    let outcome = if args.json {
        args.run(&mut Json::live(stdout.lock()), args.protect)?
    } else {
        args.run(
            &mut Text::live(stdout.lock(), args.render_options()),
            args.protect,
        )?
    };
    if args.duration != Some(Duration::ZERO) || io::stderr().is_terminal() {
        let t = outcome.end.unwrap_or_default();
        eprintln!(
            "oomtrace: {} events, {} lost records, {} dropped (the reader behind), {} incomplete, {} deferred (OOMs that killed nothing), {} kernel-side errors{}{}",
            t.events,
            t.lost,
            t.dropped,
            t.incomplete,
            t.deferred,
            t.kernel_errors,
            latency(&t),
            queue_depth(&t, args.bpf_stats)
        );
    }
    Ok(())
}

pub fn record(a: &RecordArgs) -> Result<()> {
    let existing = match (a.force, a.append) {
        (true, _) => session::Existing::Overwrite,
        (_, true) => session::Existing::Append,
        _ => session::Existing::Refuse,
    };
    let out = session::create(&a.output, existing)?;
    let live =
        (!a.quiet && a.output != "-").then(|| Text::live(io::stderr(), a.trace.render_options()));
    let mut tee = Tee(session::Writer::new(out), live);
    // A recorder is what is left when the machine is in trouble: always
    // protected.
    let outcome = a
        .trace
        .run_with(&mut tee, true, false, Some(a.lead_up.lead_up))?;
    if a.trace.duration != Some(Duration::ZERO) {
        let t = outcome.end.unwrap_or_default();
        eprintln!(
            "oomtrace: recorded {} events to {}, {} lost records, {} dropped (the writer behind), {} incomplete{}{}",
            t.events,
            a.output,
            t.lost,
            t.dropped,
            t.incomplete,
            latency(&t),
            queue_depth(&t, a.trace.bpf_stats)
        );
    }
    Ok(())
}

/// With `--bpf-stats`, the end line's words on how deep the queue between
/// the kernel and the reader got.
fn queue_depth(t: &oomtrace_core::schema::event::Trailer, bpf_stats: bool) -> String {
    match t.queue_peak_bytes {
        Some(b) if bpf_stats => format!("; queue peak {} KiB", b.div_ceil(1024)),
        _ => String::new(),
    }
}

/// The end line's words on how far behind the kernel the session was.
fn latency(t: &oomtrace_core::schema::event::Trailer) -> String {
    t.latency.as_ref().map_or_else(String::new, |l| {
        format!(
            "; kill to event: median {:.1} ms, 99th percentile {:.1} ms, max {:.1} ms",
            l.median_ms, l.p99_ms, l.max_ms
        )
    })
}
