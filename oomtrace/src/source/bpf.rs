//! The live source: load the BPF object as the planner configured it, attach
//! the hooks, and hand out the events the records of each OOM assemble into
//! until a duration, a signal or the pipeline says stop.

use crate::plan::{self, Attach, Hook, Mode, Plan};
use anyhow::{Context as _, Result, anyhow};
use aya::{
    Ebpf, EbpfLoader,
    maps::{MapData, PerCpuArray, RingBuf},
    programs::{KProbe, RawTracePoint, TracePoint},
};
use oomtrace_common::{KernelError, RecordKind, Tally, names};
use oomtrace_core::pipeline::{Item, Source};
use oomtrace_core::schema::event::{Header, Trailer};
use oomtrace_core::source::assemble::{Assembler, Context, realtime_offset_ns};
use oomtrace_core::source::symbols::{Kallsyms, Symbols};
use std::collections::VecDeque;
use std::time::Duration;
use tokio::io::unix::AsyncFd;
use tokio::signal::unix::{Signal, SignalKind, signal};

/// The BPF object, built by aya-build from `oomtrace-ebpf` and embedded.
pub(crate) static BPF_OBJECT: &[u8] =
    aya::include_bytes_aligned!(concat!(env!("OUT_DIR"), "/oomtrace"));

/// How the live source runs.
#[derive(Clone, Debug)]
pub struct Options {
    pub mode: Mode,
    pub memory_via: plan::MemoryVia,
    /// Ring buffer KiB; `None`: room for the records of [`OOMS_BUFFERED`] OOMs.
    pub buffer_kib: Option<u32>,
    /// `None`: until a signal. Zero: attach, then end at once.
    pub duration: Option<Duration>,
    /// Count each program's runs and run time; printed at the end.
    pub bpf_stats: bool,
    /// Show the kernel side's error messages (they are counted either way).
    pub verbose: bool,
    /// A detached BTF file for a kernel without its own.
    pub btf: Option<std::path::PathBuf>,
    /// Survive the OOM being watched: see [`plan::host::keep_out_of_oom_killer`]
    /// and [`plan::host::lock_memory`].
    pub protect: bool,
    /// SIGHUP asks the sinks to reopen their files (the agent) instead of
    /// ending the session.
    pub reopen_on_hup: bool,
}

/// Why the wait for records ended.
enum Wake {
    Records,
    Stop,
    Reopen,
}

/// One hook as it went: attached to `target`, or why not.
pub struct Attached {
    pub hook: Hook,
    pub result: Result<String, String>,
}

/// How long an OOM that killed stays open for more victims of the same
/// kill (memory.oom.group marks them within microseconds of each other).
const SETTLE: Duration = Duration::from_millis(10);

/// OOMs whose records the default ring buffer holds before the drain
/// thread reads them: a storm here reaches about 250 kills/s, each read
/// within a millisecond (the reader's own pace no longer matters: the queue
/// behind the ring holds the seconds, `--queue`), so 20 are 80 ms of a
/// thread kept off the CPU. The mapping counts twice in the tracer's
/// resident set (the kernel maps the data pages twice for wrap-around): 20
/// OOMs of one node (room for 128 node counters each) are under 1 MiB, 2 MiB
/// resident; 24 of them were just over, and the size, a power of two, 2 MiB.
const OOMS_BUFFERED: usize = 20;

/// The records one OOM can write, with one memory state per online node.
fn bytes_per_oom(nodes: usize) -> usize {
    use oomtrace_common::*;
    // Each ring-buffer record carries an 8-byte header of its own.
    let rec = |n: usize| n + 8;
    rec(size_of::<OomEnterRecord>())
        + rec(size_of::<OomKillRecord>())
        + rec(size_of::<MarkVictimRecord>())
        + rec(size_of::<ShowFreeAreasRecord>())
        + nodes * rec(size_of::<MemStateRecord>())
        + 8 * rec(size_of::<RawTracepointRecord>())
        + rec(size_of::<OomStackRecord>())
        + rec(size_of::<MemcgPrintRecord>())
        + rec(size_of::<PrintRssRecord>())
}

fn default_buffer_kib(plan: &Plan) -> u32 {
    let nodes = plan.config.addrs.online_nodes.count_ones().max(1) as usize;
    (bytes_per_oom(nodes.min(oomtrace_common::MAX_NODES)) * OOMS_BUFFERED).div_ceil(1024) as u32
}

/// Where the time to attached goes (`--verbose`; `cargo xtask bench`
/// tabulates it): each step's time since the one before.
struct Startup {
    last: std::time::Instant,
    steps: Vec<(&'static str, Duration)>,
}

impl Startup {
    fn new() -> Self {
        Self {
            last: std::time::Instant::now(),
            steps: Vec::new(),
        }
    }

    fn mark(&mut self, step: &'static str) {
        let now = std::time::Instant::now();
        self.steps.push((step, now - self.last));
        self.last = now;
    }

    /// The last step in two: `first` took `part` of it, `rest` the rest.
    fn split_last(&mut self, first: &'static str, part: Duration, rest: &'static str) {
        if let Some((_, all)) = self.steps.pop() {
            self.steps.push((first, part));
            self.steps.push((rest, all.saturating_sub(part)));
        }
    }

    fn say(&self) {
        let steps: Vec<String> = self
            .steps
            .iter()
            .map(|(s, d)| format!("{s} {:.1} ms", d.as_secs_f64() * 1e3))
            .collect();
        eprintln!("oomtrace: start-up: {}", steps.join(", "));
    }
}

fn ring_bytes(kib: u32) -> u32 {
    let page = 1u32 << plan::host::page_shift();
    let want = kib.max(4).saturating_mul(1024).max(page);
    want.next_power_of_two()
}

pub fn load(plan: &Plan, buffer_kib: u32) -> Result<Ebpf> {
    bump_memlock_rlimit();
    // No CO-RE in Rust BPF: the planner supplies offsets. aya reads the
    // kernel's BTF only for an object with BTF relocations or typed ksyms,
    // which this one has not: no 150 ms parse of /sys/kernel/btf/vmlinux.
    EbpfLoader::new()
        .override_global(names::CONFIG_GLOBAL, &plan.config, true)
        .map_max_entries(names::EVENTS_MAP, ring_bytes(buffer_kib))
        .load(BPF_OBJECT)
        .context("loading the BPF object")
}

/// Kernels before 5.11 charge BPF memory to RLIMIT_MEMLOCK.
fn bump_memlock_rlimit() {
    let rlim = libc::rlimit {
        rlim_cur: libc::RLIM_INFINITY,
        rlim_max: libc::RLIM_INFINITY,
    };
    // SAFETY: valid pointer; failure only matters on old kernels and shows at load.
    unsafe { libc::setrlimit(libc::RLIMIT_MEMLOCK, &rlim) };
}

/// Threads that load and attach programs side by side: the kernel
/// verifies a privileged program without a global lock, and the largest
/// (`mark_victim`) alone took as long as all the others.
const LOADERS: usize = 2;

/// Loads each hook's program (the kernel's verifier) and attaches it, on
/// [`LOADERS`] threads; `loading` gets the time
/// until the last load ended (the rest of the step is attaching).
pub fn attach(bpf: &mut Ebpf, plan: &Plan, loading: &mut Duration) -> Vec<Attached> {
    let t = std::time::Instant::now();
    let mut programs: std::collections::HashMap<&str, &mut aya::programs::Program> =
        bpf.programs_mut().collect();
    // In the plan's order, which has the OOM's main program first: one
    // thread verifies it while the other takes the rest.
    let work: Vec<(usize, &Hook, Option<&mut aya::programs::Program>)> = plan
        .hooks
        .iter()
        .enumerate()
        .map(|(i, hook)| (i, hook, programs.remove(hook.program)))
        .collect();
    let work = std::sync::Mutex::new(work.into_iter());
    let kallsyms = std::sync::Mutex::new(None);
    let last_load = std::sync::Mutex::new(Duration::ZERO);
    // Each thread takes the next hook until none is left, and returns what
    // became of each it took, with the hook's place in the plan.
    let worker = || {
        let mut done = Vec::new();
        loop {
            // The queue's lock is let go before the load.
            let next = work.lock().unwrap_or_else(|e| e.into_inner()).next();
            let Some((i, hook, prog)) = next else {
                break;
            };
            let result = match prog {
                Some(prog) => attach_one(prog, hook, &kallsyms, || {
                    let mut l = last_load.lock().unwrap_or_else(|e| e.into_inner());
                    *l = (*l).max(t.elapsed());
                }),
                None => Err(format!(
                    "program {} missing from the BPF object",
                    hook.program
                )),
            };
            done.push((
                i,
                Attached {
                    hook: *hook,
                    result,
                },
            ));
        }
        done
    };
    let mut done = std::thread::scope(|s| {
        let others: Vec<_> = (1..LOADERS).map(|_| s.spawn(worker)).collect();
        let mut done = worker();
        for other in others {
            done.extend(
                other
                    .join()
                    .unwrap_or_else(|p| std::panic::resume_unwind(p)),
            );
        }
        done
    });
    *loading += *last_load.lock().unwrap_or_else(|e| e.into_inner());
    done.sort_by_key(|(i, _)| *i);
    done.into_iter().map(|(_, a)| a).collect()
}

/// A program's load; `loaded` is called when it ended (either way).
fn load_then(
    load: impl FnOnce() -> Result<(), aya::programs::ProgramError>,
    loaded: impl FnOnce(),
) -> Result<(), String> {
    let r = load().map_err(|e| format!("load: {e}"));
    loaded();
    r
}

fn attach_one(
    prog: &mut aya::programs::Program,
    hook: &Hook,
    kallsyms: &std::sync::Mutex<Option<Kallsyms>>,
    loaded: impl FnOnce(),
) -> Result<String, String> {
    match hook.attach {
        Attach::Kprobe(names) => {
            let p: &mut KProbe = prog.try_into().map_err(|e| format!("{e}"))?;
            load_then(|| p.load(), loaded)?;
            let mut last = String::from("no such function");
            for name in names {
                match p.attach(name, 0) {
                    Ok(_) => return Ok((*name).to_owned()),
                    Err(e) => last = format!("{name}: {e}"),
                }
            }
            // Exact names failed: try the compiler's clones of them
            // (`.constprop.N`), which only kallsyms can name.
            let mut k = kallsyms.lock().unwrap_or_else(|e| e.into_inner());
            let k = k.get_or_insert_with(|| Kallsyms::load().unwrap_or_default());
            let clones = names
                .iter()
                .filter_map(|n| k.resolve_function(n))
                .filter(|c| !names.contains(c));
            for clone in clones {
                match p.attach(clone, 0) {
                    Ok(_) => return Ok(clone.to_owned()),
                    Err(e) => last = format!("{clone}: {e}"),
                }
            }
            Err(last)
        }
        Attach::RawTracepoint(name) => {
            let p: &mut RawTracePoint = prog.try_into().map_err(|e| format!("{e}"))?;
            load_then(|| p.load(), loaded)?;
            p.attach(name)
                .map(|_| format!("raw:{name}"))
                .map_err(|e| format!("raw tracepoint {name}: {e}"))
        }
        Attach::Tracepoint(category, name) => {
            let p: &mut TracePoint = prog.try_into().map_err(|e| format!("{e}"))?;
            load_then(|| p.load(), loaded)?;
            p.attach(category, name)
                .map(|_| format!("{category}:{name}"))
                .map_err(|e| format!("{category}:{name}: {e}"))
        }
    }
}

/// The kernel side's counts, summed over the CPUs in one lookup (zeros
/// where the map cannot be read).
pub fn tally(bpf: &Ebpf) -> Tally {
    let per_cpu = bpf
        .map(names::TALLY_MAP)
        .and_then(|m| PerCpuArray::<_, Tally>::try_from(m).ok())
        .and_then(|a| a.get(&0, 0).ok());
    let mut sum = Tally::default();
    for t in per_cpu.iter().flat_map(|v| v.iter()) {
        for (s, n) in sum.lost.iter_mut().zip(t.lost) {
            *s += n;
        }
        for (s, n) in sum.errors.iter_mut().zip(t.errors) {
            *s += n;
        }
    }
    sum
}

/// "12 mark_victim, 3 memory state": the counts of the kinds that have any.
fn lost_by_kind(lost: &[u64]) -> String {
    RecordKind::ALL
        .iter()
        .filter_map(|&k| {
            let n = *lost.get(k as usize)?;
            (n > 0).then(|| format!("{n} {}", k.name()))
        })
        .collect::<Vec<_>>()
        .join(", ")
}

/// What the source is doing.
#[derive(Clone, Copy, PartialEq, Eq)]
enum State {
    /// Waiting for records.
    Running,
    /// Asked to end: hand out what the kernel already wrote, then the end.
    Draining,
    Done,
}

/// The live OOMs of this machine, as pipeline items: the session header
/// once attached, each OOM's event followed by its reaper steps, and the
/// end record with the counts when it stops.
pub struct BpfSource {
    rt: tokio::runtime::Runtime,
    bpf: Option<Ebpf>,
    ring: Option<AsyncFd<RingBuf<MapData>>>,
    signals: Vec<Signal>,
    /// Says each kernel-side error as its count grows (`--verbose`).
    verbose: bool,
    /// From each kill to its event leaving this source.
    latency: oomtrace_core::schema::latency::Histogram,
    deadline: Option<tokio::time::Instant>,
    assembler: Assembler,
    pending: VecDeque<Item>,
    state: State,
    bpf_stats: bool,
    _stats: Option<std::os::fd::OwnedFd>,
    said: (u64, u64),
    /// Kernel-side errors (by kind) and allocator retries last said.
    said_errors: [u64; KernelError::SLOTS as usize],
    said_retries: u64,
    /// The allocator's retry tracepoints are attached.
    counts_retries: bool,
    reopen_on_hup: bool,
    /// Kernel-log mode: the kernel's reports, which complete each event.
    kernel_reports: Option<super::kmsg::KernelReports>,
    /// Ends the wait from another thread (the reader has what it wanted).
    stop_request: std::sync::Arc<tokio::sync::Notify>,
    /// Until when the ring is polled every `SETTLE` although nothing woke
    /// us: records read last, plus `READER_POLLS_NS` (the kernel side's
    /// rationed wake-ups, `WAKE_WINDOW_NS`, count on it).
    poll_until: Option<tokio::time::Instant>,
    /// What is attached, for the caller's own messages.
    pub mode: Mode,
    pub release: String,
}

impl BpfSource {
    /// Plans, loads, attaches, and says `oomtrace: attached` on stderr.
    pub fn start(opts: &Options) -> Result<Self> {
        let mut startup = Startup::new();
        plan::host::require_privileges()?;
        let protect = opts.protect && opts.duration != Some(Duration::ZERO);
        if protect && let Some(why) = plan::host::keep_out_of_oom_killer() {
            eprintln!("oomtrace: {why}");
        }
        // Stacks need kallsyms, and the planner its data symbols when memory
        // is reached that way: read it in the background, unless nothing will.
        let symbols = if opts.duration == Some(Duration::ZERO)
            && opts.memory_via != plan::MemoryVia::Kallsyms
        {
            Symbols::from(Kallsyms::default())
        } else {
            Symbols::load_in_background()
        };
        let plan = Plan::make(opts.mode, opts.memory_via, &symbols, opts.btf.as_deref())?;
        startup.mark("plan");
        // Read from before the first hook: no report of a traced OOM is missed.
        let kernel_reports = match plan.kernel_log {
            Some(_) if opts.duration != Some(Duration::ZERO) => {
                Some(super::kmsg::KernelReports::start()?)
            }
            _ => None,
        };
        let mut bpf = load(
            &plan,
            opts.buffer_kib.unwrap_or_else(|| default_buffer_kib(&plan)),
        )?;
        startup.mark("object and maps");
        let mut loading = Duration::ZERO;
        let attached = attach(&mut bpf, &plan, &mut loading);
        startup.mark("programs");
        startup.split_last("load (verifier)", loading, "attach");
        // Planning from BTF parsed megabytes now freed; locked memory could
        // not give them back, so lock only the steady state: after the
        // kallsyms table is built (the first stack waits for it anyway).
        oomtrace_core::source::symbols::release_freed_memory();
        if protect {
            symbols.get();
            if let Some(why) = plan::host::lock_memory() {
                eprintln!("oomtrace: {why}");
            }
        }
        for n in &plan.notices {
            eprintln!("oomtrace: {n}");
        }
        for a in &attached {
            if let Err(e) = &a.result {
                eprintln!(
                    "oomtrace: cannot attach {} ({e}); lost: {}",
                    a.hook.describe(),
                    oomtrace_core::schema::event::field_names(a.hook.provides)
                );
            }
        }
        let ok: Vec<Hook> = attached
            .iter()
            .filter(|a| a.result.is_ok())
            .map(|a| a.hook)
            .collect();
        let mut names: Vec<String> = attached
            .iter()
            .filter_map(|a| {
                a.result
                    .as_ref()
                    .ok()
                    .map(|t| format!("{}={t}", a.hook.program))
            })
            .collect();
        if plan.kernel_log.is_some() {
            names.push("kernel_report=/dev/kmsg".into());
        }
        let marks = ok.iter().any(|h| h.program == names::PROG_MARK_VICTIM);
        let kprobes = ok.iter().any(Hook::is_kprobe);
        let counts_retries = ok.iter().any(|h| {
            h.provides
                .contains(&oomtrace_core::schema::event::Field::AllocatorRetries)
        });
        if !marks && !kprobes {
            return Err(anyhow!(
                "no hook could be attached on this kernel ({}); see `oomtrace check`",
                plan.release
            ));
        }
        let mut header = Header::new(&plan.release, plan.mode.name(), names.clone());
        header.arch = plan::host::machine();
        // Said last, once signals are ours: a script may stop us right after.
        let attached_line = format!(
            "oomtrace: attached mode={} probes={}",
            plan.mode.name(),
            names.join(",")
        );
        // Held while tracing: the kernel counts run time only while someone asks.
        let stats = if opts.bpf_stats {
            Some(aya::sys::enable_stats(aya::sys::Stats::RunTime).context(
                "enabling BPF run-time statistics (BPF_ENABLE_STATS needs CAP_SYS_ADMIN)",
            )?)
        } else {
            None
        };
        // What the attached hooks cannot see, said per event where missing.
        let may_lack = plan::hooks::lacking(ok.iter());
        let assembler = Assembler::new(Context {
            symbols,
            gfp: plan.gfp.clone(),
            constraints: plan.constraints.clone(),
            mem_names: plan.mem_names.clone(),
            raw_formats: plan.raw_formats.clone(),
            sample_memory: plan.config.addrs.online_nodes == 0,
            realtime_offset_ns: realtime_offset_ns(),
            kprobes,
            may_lack,
            arch: oomtrace_core::kernel::arch::Arch::this(),
            offsets: plan.config.off,
            expect_stack: ok
                .iter()
                .any(|h| h.program == names::PROG_MARK_VICTIM_STACK),
            kill_allocating_task: std::fs::read_to_string("/proc/sys/vm/oom_kill_allocating_task")
                .is_ok_and(|v| v.trim() != "0"),
        });
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()?;
        let mut src = Self {
            rt,
            bpf: None,
            ring: None,
            signals: Vec::new(),
            verbose: opts.verbose,
            latency: Default::default(),
            deadline: None,
            assembler,
            pending: VecDeque::from([Item::Session(header)]),
            state: State::Running,
            bpf_stats: opts.bpf_stats,
            _stats: stats,
            said: (0, 0),
            said_errors: [0; KernelError::SLOTS as usize],
            said_retries: 0,
            poll_until: None,
            counts_retries,
            reopen_on_hup: opts.reopen_on_hup,
            kernel_reports,
            stop_request: Default::default(),
            mode: plan.mode,
            release: plan.release.clone(),
        };
        startup.mark("the rest");
        if opts.duration == Some(Duration::ZERO) {
            // Attached, then released at once: said before the release,
            // which the kernel serializes (an RCU grace period per hook).
            if opts.verbose {
                startup.say();
            }
            eprintln!("{attached_line}");
            release(bpf);
            src.state = State::Draining;
            return Ok(src);
        }
        let ring = RingBuf::try_from(
            bpf.take_map(names::EVENTS_MAP)
                .ok_or_else(|| anyhow!("{} map missing", names::EVENTS_MAP))?,
        )?;
        let _guard = src.rt.enter();
        // SAFETY: the ring buffer owns its fd and lives as long as the registration.
        src.ring = Some(
            unsafe { AsyncFd::register(ring) }
                .map_err(|e| anyhow!("watching the ring buffer: {}", e.into_parts().1))?,
        );
        for kind in [
            SignalKind::interrupt(),
            SignalKind::terminate(),
            SignalKind::hangup(),
        ] {
            src.signals.push(signal(kind)?);
        }
        src.deadline = opts.duration.map(|d| tokio::time::Instant::now() + d);
        drop(_guard);
        src.bpf = Some(bpf);
        startup.mark("ring and signals");
        if opts.verbose {
            startup.say();
        }
        eprintln!("{attached_line}");
        Ok(src)
    }

    /// A call that makes this source end from any thread, as a signal
    /// would: what is pending, then the end record.
    pub fn stopper(&self) -> super::queue::Wake {
        let n = self.stop_request.clone();
        std::sync::Arc::new(move || n.notify_one())
    }

    /// Whether it counts the allocator's retries (their tracepoints attached).
    pub fn counts_retries(&self) -> bool {
        self.counts_retries
    }

    /// Feeds every record the ring holds now to the assembler; queues what
    /// it completes, each event followed by its reaper steps.
    fn drain_ready(&mut self) {
        let Some(ring) = self.ring.as_mut() else {
            return;
        };
        let rb = ring.get_mut();
        let mut events = Vec::new();
        let mut read = false;
        while let Some(record) = rb.next() {
            events.extend(self.assembler.push_bytes(&record));
            read = true;
        }
        if read {
            self.poll_until = Some(
                tokio::time::Instant::now()
                    + Duration::from_nanos(oomtrace_common::READER_POLLS_NS),
            );
        }
        // The allocator's retries among these records are said before the
        // OOMs they led to: a lead-up's last rate counts them.
        self.say_losses();
        self.queue(events);
        self.settle();
        self.say_losses();
    }

    /// Lost records and incomplete OOMs, said as they happen, on stderr
    /// and to the sinks (a progress item).
    fn say_losses(&mut self) {
        let Some(bpf) = self.bpf.as_ref() else {
            return;
        };
        let now = tally(bpf);
        let lost = now.lost.iter().sum::<u64>();
        let mut changed = false;
        if lost > self.said.0 {
            eprintln!(
                "oomtrace: {lost} records lost so far (the ring buffer was full: {}); a larger --buffer keeps them",
                lost_by_kind(&now.lost)
            );
            self.said.0 = lost;
            changed = true;
        }
        let incomplete = self.assembler.tally.incomplete;
        if incomplete > self.said.1 {
            self.said.1 = incomplete;
            eprintln!("oomtrace: {incomplete} OOMs so far arrived with records missing");
            changed = true;
        }
        for (kind, (&n, said)) in KernelError::ALL
            .iter()
            .zip(now.errors.iter().zip(self.said_errors.iter_mut()))
        {
            if n > *said {
                if self.verbose {
                    eprintln!("oomtrace: kernel side: {} ({n} so far)", kind.message());
                }
                *said = n;
                changed = true;
            }
        }
        let retries = self.assembler.tally.reclaim_retries + self.assembler.tally.compact_retries;
        if retries > self.said_retries {
            self.said_retries = retries;
            changed = true;
        }
        if changed {
            self.progress(false);
        }
    }

    /// The counts so far, as the end record would have them.
    fn counts(&self) -> Trailer {
        let t = &self.assembler.tally;
        let now = self.bpf.as_ref().map(tally).unwrap_or_default();
        let (lost, errors) = (now.lost.iter().sum(), now.errors.iter().sum());
        let mut c = Trailer::now(t.events, lost, t.incomplete, t.deferred);
        c.kernel_errors = errors;
        c.latency = self.latency.summary();
        c
    }

    fn progress(&mut self, reopen: bool) {
        let counts = self.counts();
        let t = &self.assembler.tally;
        self.pending
            .push_back(Item::Progress(oomtrace_core::schema::item::Progress {
                counts,
                reopen,
                reclaim_retries: t.reclaim_retries,
                compact_retries: t.compact_retries,
                last_retry: self.assembler.last_retry.clone(),
            }));
    }

    /// Ends the OOMs that killed and have been quiet for `SETTLE`.
    fn settle(&mut self) {
        let events = self.assembler.settle(
            oomtrace_core::source::assemble::monotonic_ns(),
            SETTLE.as_nanos() as u64,
        );
        self.queue(events);
    }

    /// Queues events, each followed by its reaper steps.
    fn queue(&mut self, events: Vec<oomtrace_core::schema::event::OomEvent>) {
        let mut reaps = self.assembler.take_reaper_events();
        let now = oomtrace_core::source::assemble::monotonic_ns();
        for mut ev in events {
            if let Some(k) = self.kernel_reports.as_mut() {
                k.join(&mut ev);
            }
            let seq = ev.seq;
            if ev.killed == Some(true) && ev.uptime_ns > 0 {
                self.latency.add(now.saturating_sub(ev.uptime_ns));
            }
            self.pending.push_back(Item::event(ev));
            // A reaper wake-up inside the same OOM: right after its event.
            let (now, later): (Vec<_>, Vec<_>) = reaps.into_iter().partition(|r| r.seq == seq);
            self.pending.extend(now.into_iter().map(Item::Reaper));
            reaps = later;
        }
        self.pending.extend(reaps.into_iter().map(Item::Reaper));
    }

    /// Waits for records, a signal, the deadline, or (with an OOM waiting to
    /// end, or records read lately) `SETTLE`.
    fn wait(&mut self) -> Result<Wake> {
        let Some(ring) = self.ring.as_mut() else {
            return Ok(Wake::Stop);
        };
        let reopen_on_hup = self.reopen_on_hup;
        let signals = &mut self.signals;
        let deadline = self.deadline;
        // An OOM waiting to end, or records lately (the next ones may not
        // wake us): look again in `SETTLE`.
        let settle = self.assembler.has_unsettled()
            || self
                .poll_until
                .is_some_and(|t| tokio::time::Instant::now() < t);
        let stop_request = self.stop_request.clone();
        self.rt.block_on(async {
            let settled = async {
                if settle {
                    tokio::time::sleep(SETTLE).await
                } else {
                    std::future::pending().await
                }
            };
            let sleep = async {
                match deadline {
                    Some(d) => tokio::time::sleep_until(d).await,
                    None => std::future::pending().await,
                }
            };
            let stop = async {
                let [a, b, c] = &mut signals[..] else {
                    return std::future::pending().await;
                };
                tokio::select! {
                    _ = a.recv() => Wake::Stop,
                    _ = b.recv() => Wake::Stop,
                    _ = c.recv() => if reopen_on_hup { Wake::Reopen } else { Wake::Stop },
                }
            };
            tokio::select! {
                guard = ring.readable_mut() => {
                    guard?.clear_ready();
                    Ok(Wake::Records)
                }
                _ = settled => Ok(Wake::Records),
                wake = stop => Ok(wake),
                _ = sleep => Ok(Wake::Stop),
                _ = stop_request.notified() => Ok(Wake::Stop),
            }
        })
    }

    /// The end: what is still pending, the counts, the hooks released.
    fn end(&mut self) {
        self.drain_ready();
        let events = self.assembler.flush();
        self.queue(events);
        let end = self.counts();
        self.pending.push_back(Item::End(end));
        if let Some(bpf) = self.bpf.take() {
            if self.bpf_stats {
                print_bpf_stats(&bpf);
            }
            drop(self.ring.take());
            release(bpf);
        }
        self.state = State::Done;
    }
}

impl Source for BpfSource {
    fn next(&mut self, wait: bool) -> Result<Option<Item>> {
        loop {
            if let Some(item) = self.pending.pop_front() {
                return Ok(Some(item));
            }
            match self.state {
                State::Done => return Ok(None),
                State::Draining => self.end(),
                State::Running if !wait => self.state = State::Draining,
                State::Running => match self.wait()? {
                    Wake::Stop => self.state = State::Draining,
                    Wake::Records => self.drain_ready(),
                    Wake::Reopen => {
                        self.drain_ready();
                        self.progress(true);
                    }
                },
            }
        }
    }

    fn stop(&mut self) {
        if self.state == State::Running {
            self.state = State::Draining;
        }
    }
}

/// Detaching a tracepoint waits for an RCU grace period (75 ms on this
/// machine), and aya drops its links one after another: 7 hooks took half a
/// second to exit. The perf-event links are closed side by side instead,
/// then the rest is left to the process's exit (its maps and programs are
/// freed without waiting). Only called when oomtrace is done with BPF.
fn release(bpf: Ebpf) {
    let links: Vec<i32> = std::fs::read_dir("/proc/self/fd")
        .into_iter()
        .flatten()
        .flatten()
        .filter(|e| {
            std::fs::read_link(e.path()).is_ok_and(|t| {
                matches!(
                    t.to_str(),
                    Some("anon_inode:bpf_link" | "anon_inode:[perf_event]")
                )
            })
        })
        .filter_map(|e| e.file_name().to_str()?.parse().ok())
        .collect();
    // Nothing may close these again: `bpf` is never dropped. (Links are
    // `bpf_link` fds, or perf-event fds on kernels without BPF links.)
    std::mem::forget(bpf);
    std::thread::scope(|s| {
        for fd in links {
            // SAFETY: a perf-event fd of the forgotten `bpf`, closed once.
            s.spawn(move || unsafe { libc::close(fd) });
        }
    });
}

/// One line per program: runs, total and mean run time, as the kernel
/// counted them (`run_cnt`, `run_time_ns`).
fn print_bpf_stats(bpf: &Ebpf) {
    for (name, prog) in bpf.programs() {
        let Ok(info) = prog.info() else { continue };
        let (runs, ns) = (info.run_count(), info.run_time().as_nanos());
        let mean = if runs > 0 { ns / runs as u128 } else { 0 };
        eprintln!(
            "oomtrace: bpf-stats program={name} runs={runs} run_time_ns={ns} mean_ns={mean} verified_insns={}",
            info.verified_instruction_count()
                .map_or_else(|| "?".into(), |n| n.to_string())
        );
    }
}
