//! `oomtrace trace`: load the BPF object as the planner configured it, attach
//! the hooks, stream events until a count, a duration or a signal.

use crate::decode::{Assembler, Context, Symbols, Tally, realtime_offset_ns};
use crate::kallsyms::Kallsyms;
use crate::plan::{Attach, Hook, Mode, Plan};
use crate::sink::{Filter, Sink};
use anyhow::{Context as _, Result, anyhow};
use aya::{
    Ebpf, EbpfLoader,
    maps::{PerCpuArray, RingBuf},
    programs::{KProbe, TracePoint},
};
use std::time::Duration;
use tokio::io::unix::AsyncFd;
use tokio::signal::unix::{SignalKind, signal};

/// The BPF object, built by aya-build from `oomtrace-ebpf` and embedded.
pub(crate) static BPF_OBJECT: &[u8] =
    aya::include_bytes_aligned!(concat!(env!("OUT_DIR"), "/oomtrace"));

#[derive(Clone, Debug, clap::Args)]
pub struct TraceArgs {
    /// Print JSON Lines instead of the kernel-style report.
    #[arg(long)]
    pub json: bool,
    /// Exit after N events.
    #[arg(long, value_name = "N")]
    pub count: Option<u64>,
    /// Exit after this long (e.g. 30s, 5m); 0 attaches everything and exits.
    #[arg(long, value_name = "D", value_parser = humantime::parse_duration)]
    pub duration: Option<Duration>,
    /// Which hooks to use.
    #[arg(long, value_enum, default_value = "auto")]
    pub mode: Mode,
    #[command(flatten)]
    pub filter: Filter,
    /// Count each BPF program's runs and run time while tracing
    /// (BPF_ENABLE_STATS) and print them at exit: the cost per OOM.
    #[arg(long)]
    pub bpf_stats: bool,
    /// How the kernel side reaches the memory counters and zones.
    #[arg(long, value_enum, default_value = "auto")]
    pub memory_via: crate::plan::MemoryVia,
    /// Add every vm_node_stat / vm_zone_stat counter (index, name, value) to the text.
    #[arg(long)]
    pub counters: bool,
    /// Ring buffer size in KiB (rounded up to a power of two pages); by
    /// default room for the records of 64 OOMs not yet read.
    #[arg(long, value_name = "KIB")]
    pub buffer: Option<u32>,
}

impl TraceArgs {
    pub fn render_options(&self) -> crate::render::Options {
        crate::render::Options {
            counters: self.counters,
        }
    }
}

/// How a run ended, for the caller's trailer.
pub struct Outcome {
    pub tally: Tally,
    /// Records the kernel side could not reserve room for.
    pub lost: u64,
    pub mode: Mode,
    pub attached: Vec<String>,
    pub release: String,
}

/// One hook as it went: attached to `target`, or why not.
pub struct Attached {
    pub hook: Hook,
    pub result: Result<String, String>,
}

/// OOMs whose records the default ring buffer holds before userspace reads
/// them: a storm here reaches about 110 kills/s, each read within a millisecond.
const OOMS_BUFFERED: usize = 64;

/// The records one OOM can write, with one memory state per online node.
fn bytes_per_oom(nodes: usize) -> usize {
    use oomtrace_common::*;
    // Each ring-buffer record carries an 8-byte header of its own.
    let rec = |n: usize| n + 8;
    rec(size_of::<OomEnterRecord>())
        + rec(size_of::<OomKillRecord>())
        + rec(size_of::<MarkVictimRecord>())
        + rec(size_of::<OomExitRecord>())
        + rec(size_of::<ShowFreeAreasRecord>())
        + nodes * rec(size_of::<MemStateRecord>())
        + 8 * rec(size_of::<RawTracepointRecord>())
}

fn default_buffer_kib(plan: &Plan) -> u32 {
    let nodes = plan.config.mem.online_nodes.count_ones().max(1) as usize;
    (bytes_per_oom(nodes.min(oomtrace_common::MAX_NODES)) * OOMS_BUFFERED).div_ceil(1024) as u32
}

fn ring_bytes(kib: u32) -> u32 {
    let page = 1u32 << crate::plan::page_shift();
    let want = kib.max(4).saturating_mul(1024).max(page);
    want.next_power_of_two()
}

pub fn load(plan: &Plan, buffer_kib: u32) -> Result<Ebpf> {
    bump_memlock_rlimit();
    EbpfLoader::new()
        // No CO-RE in Rust BPF: the planner supplies offsets, so skip aya's BTF parse.
        .btf(None)
        .override_global("OOMTRACE_CONFIG", &plan.config, true)
        .map_max_entries("EVENTS", ring_bytes(buffer_kib))
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

pub fn attach(bpf: &mut Ebpf, plan: &Plan) -> Vec<Attached> {
    let mut kallsyms = None;
    plan.hooks
        .iter()
        .map(|hook| {
            let result = attach_one(bpf, hook, &mut kallsyms);
            Attached {
                hook: *hook,
                result,
            }
        })
        .collect()
}

fn attach_one(
    bpf: &mut Ebpf,
    hook: &Hook,
    kallsyms: &mut Option<Kallsyms>,
) -> Result<String, String> {
    let prog = bpf
        .program_mut(hook.program)
        .ok_or_else(|| format!("program {} missing from the BPF object", hook.program))?;
    match hook.attach {
        Attach::Kprobe(names) | Attach::Kretprobe(names) => {
            let p: &mut KProbe = prog.try_into().map_err(|e| format!("{e}"))?;
            p.load().map_err(|e| format!("load: {e}"))?;
            let mut last = String::from("no such function");
            for name in names {
                match p.attach(name, 0) {
                    Ok(_) => return Ok((*name).to_owned()),
                    Err(e) => last = format!("{name}: {e}"),
                }
            }
            // Exact names failed: try the compiler's clones of them
            // (`.constprop.N`), which only kallsyms can name.
            let k = kallsyms.get_or_insert_with(|| Kallsyms::load().unwrap_or_default());
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
        Attach::Tracepoint(category, name) => {
            let p: &mut TracePoint = prog.try_into().map_err(|e| format!("{e}"))?;
            p.load().map_err(|e| format!("load: {e}"))?;
            p.attach(category, name)
                .map(|_| format!("{category}:{name}"))
                .map_err(|e| format!("{category}:{name}: {e}"))
        }
    }
}

pub fn lost_records(bpf: &Ebpf) -> u64 {
    bpf.map("LOST")
        .and_then(|m| PerCpuArray::<_, u64>::try_from(m).ok())
        .and_then(|a| a.get(&0, 0).ok())
        .map_or(0, |v| v.iter().sum())
}

/// Plans, loads, attaches, says `oomtrace: attached`, and feeds every
/// accepted event to `sink` until done.
pub async fn run(args: &TraceArgs, sink: &mut dyn Sink) -> Result<Outcome> {
    crate::plan::require_privileges()?;
    // Stacks need kallsyms, and the planner its data symbols when memory is
    // reached that way: read it in the background, unless nothing will.
    let symbols = if args.duration == Some(Duration::ZERO)
        && args.memory_via != crate::plan::MemoryVia::Kallsyms
    {
        Symbols::from(crate::kallsyms::Kallsyms::default())
    } else {
        Symbols::load_in_background()
    };
    let plan = Plan::make(args.mode, args.memory_via, &symbols)?;
    let mut bpf = load(
        &plan,
        args.buffer.unwrap_or_else(|| default_buffer_kib(&plan)),
    )?;
    let attached = attach(&mut bpf, &plan);
    for n in &plan.notices {
        eprintln!("oomtrace: {n}");
    }
    for a in &attached {
        if let Err(e) = &a.result {
            eprintln!(
                "oomtrace: cannot attach {} ({e}); lost: {}",
                a.hook.describe(),
                a.hook.provides
            );
        }
    }
    let names: Vec<String> = attached
        .iter()
        .filter_map(|a| {
            a.result
                .as_ref()
                .ok()
                .map(|t| format!("{}={t}", a.hook.program))
        })
        .collect();
    let marks = attached
        .iter()
        .any(|a| a.hook.program == "mark_victim" && a.result.is_ok());
    let kprobes = attached
        .iter()
        .any(|a| a.hook.is_kprobe() && a.result.is_ok());
    if !marks && !kprobes {
        return Err(anyhow!(
            "no hook could be attached on this kernel ({}); see `oomtrace check`",
            plan.release
        ));
    }
    sink.start(&plan.release, plan.mode.name(), &names)
        .context("writing the session header")?;
    eprintln!(
        "oomtrace: attached mode={} probes={}",
        plan.mode.name(),
        names.join(",")
    );

    // Held while tracing: the kernel counts run time only while someone asks.
    let _stats =
        if args.bpf_stats {
            Some(aya::sys::enable_stats(aya::sys::Stats::RunTime).context(
                "enabling BPF run-time statistics (BPF_ENABLE_STATS needs CAP_SYS_ADMIN)",
            )?)
        } else {
            None
        };
    let mut outcome = Outcome {
        tally: Tally::default(),
        lost: 0,
        mode: plan.mode,
        attached: names,
        release: plan.release.clone(),
    };
    if args.duration == Some(Duration::ZERO) {
        release(bpf);
        return Ok(outcome);
    }

    let mut assembler = Assembler::new(Context {
        symbols,
        gfp: plan.gfp.clone(),
        constraints: plan.constraints.clone(),
        mem_names: plan.mem_names.clone(),
        raw_formats: plan.raw_formats.clone(),
        sample_memory: plan.config.mem.online_nodes == 0,
        realtime_offset_ns: realtime_offset_ns(),
        kprobes,
    });
    let ring = RingBuf::try_from(
        bpf.take_map("EVENTS")
            .ok_or_else(|| anyhow!("EVENTS map missing"))?,
    )?;
    // SAFETY: the ring buffer owns its fd and lives as long as the registration.
    let mut ring = unsafe { AsyncFd::register(ring) }
        .map_err(|e| anyhow!("watching the ring buffer: {}", e.into_parts().1))?;
    let mut sigint = signal(SignalKind::interrupt())?;
    let mut sigterm = signal(SignalKind::terminate())?;
    let mut sighup = signal(SignalKind::hangup())?;
    let deadline = args.duration.map(|d| tokio::time::Instant::now() + d);
    let sleep = async {
        match deadline {
            Some(d) => tokio::time::sleep_until(d).await,
            None => std::future::pending().await,
        }
    };
    tokio::pin!(sleep);
    let emitted = std::cell::Cell::new(0u64);
    let count_reached = || args.count.is_some_and(|c| emitted.get() >= c);
    // The reaper's steps follow the events they belong to through the filter.
    let accepted = std::cell::RefCell::new(std::collections::HashSet::new());
    let emit = |evs: Vec<crate::event::OomEvent>,
                reaps: Vec<crate::event::ReaperEvent>,
                sink: &mut dyn Sink|
     -> Result<bool> {
        let mut reaps = reaps;
        for ev in evs {
            if !args.filter.accepts(&ev) {
                continue;
            }
            accepted.borrow_mut().insert(ev.seq);
            sink.event(&ev).context("writing an event")?;
            // Its reaper wake-up happened inside the same OOM: right after it.
            for r in reaps.iter().filter(|r| r.seq == ev.seq) {
                sink.reaper(r).context("writing a reaper step")?;
            }
            reaps.retain(|r| r.seq != ev.seq);
            emitted.set(emitted.get() + 1);
            if count_reached() {
                return Ok(true);
            }
        }
        for r in reaps {
            if accepted.borrow().contains(&r.seq) {
                sink.reaper(&r).context("writing a reaper step")?;
            }
        }
        Ok(false)
    };
    let (mut lost_said, mut incomplete_said) = (0, 0);
    'outer: loop {
        tokio::select! {
            guard = ring.readable_mut() => {
                let mut guard = guard?;
                let rb = guard.get_inner_mut();
                while let Some(item) = rb.next() {
                    let evs = assembler.push_bytes(&item);
                    drop(item);
                    if emit(evs, assembler.take_reaper_events(), sink)? {
                        break 'outer;
                    }
                }
                guard.clear_ready();
                // Said as it happens, not only at the end.
                let lost = lost_records(&bpf);
                if lost > lost_said {
                    eprintln!(
                        "oomtrace: {} records lost so far (the ring buffer was full); a larger --buffer keeps them",
                        lost
                    );
                    lost_said = lost;
                }
                if assembler.tally.incomplete > incomplete_said {
                    incomplete_said = assembler.tally.incomplete;
                    eprintln!("oomtrace: {incomplete_said} OOMs so far arrived with records missing");
                }
            }
            _ = sigint.recv() => break,
            _ = sigterm.recv() => break,
            _ = sighup.recv() => break,
            _ = &mut sleep => break,
        }
    }
    // Whatever the kernel wrote before we stopped is still reported.
    let rb = ring.get_mut();
    let mut done = count_reached();
    while !done && let Some(item) = rb.next() {
        let evs = assembler.push_bytes(&item);
        drop(item);
        done = emit(evs, assembler.take_reaper_events(), sink)?;
    }
    if !done {
        let evs = assembler.flush();
        emit(evs, assembler.take_reaper_events(), sink)?;
    }
    outcome.tally = assembler.tally.clone();
    outcome.lost = lost_records(&bpf);
    if args.bpf_stats {
        print_bpf_stats(&bpf);
    }
    drop(ring);
    release(bpf);
    Ok(outcome)
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
