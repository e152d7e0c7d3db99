//! Ring-buffer records → one `OomEvent` per OOM.
//!
//! The records of one OOM all come from the task that ran out of memory (or
//! the sysrq kworker), in this order: `out_of_memory` entry, then
//! `oom_kill_process`, `mark_victim` for each task killed, `show_free_areas`
//! for global OOMs, then `out_of_memory`'s return. The assembler keys them by
//! that thread and emits the event at the return; in tracepoint mode
//! `mark_victim` alone is the event.

use crate::kernel::arch::Arch;
use crate::kernel::gfp::GfpTable;
use crate::kernel::tracepoint_format;
use crate::schema::event::{
    Field, OomEvent, OomType, ReaperEvent, ReaperStep as Step, ReaperType, Source, Victim,
};
use crate::source::memstate::MemNames;
use crate::source::symbols::Symbols;
use oomtrace_common::*;
use std::collections::HashMap;

mod clock;
mod oom_control;
mod records;

pub use clock::{format_time, monotonic_ns, realtime_offset_ns};
pub use oom_control::{OomControl, find_oom_control};
pub use records::{DecodeError, Record, cgroup_path, parse};
use records::{cstr, has, task, victim};

/// What the assembler needs to know about this machine and session.
pub struct Context {
    pub symbols: Symbols,
    pub gfp: GfpTable,
    /// `enum oom_constraint`, value → name, from BTF.
    pub constraints: Vec<(u64, String)>,
    pub mem_names: MemNames,
    /// Formats of the tracepoints copied raw, by `RAW_*`.
    pub raw_formats: RawFormats,
    /// CLOCK_REALTIME − CLOCK_MONOTONIC, to date kernel timestamps.
    pub realtime_offset_ns: i128,
    /// Whether the kprobes are attached (else `mark_victim` alone makes an event).
    pub kprobes: bool,
    /// No kernel path to the nodes: sample /proc when an event is assembled.
    pub sample_memory: bool,
    /// What this mode cannot see, or only sometimes: said per event where
    /// it is missing (from the planner's hook table).
    pub may_lack: Vec<Field>,
    pub arch: Arch,
    /// The kernel's struct offsets (`oom_control` for the stack search).
    pub offsets: KernelOffsets,
    /// Tracepoint mode with the stack copy attached: a kill waits for its
    /// `OomStack` record.
    pub expect_stack: bool,
    /// The sysctl `vm.oom_kill_allocating_task`: a global OOM may kill the
    /// allocating task without choosing, with a message of its own.
    pub kill_allocating_task: bool,
}

/// The formats of the tracepoints copied raw (`RAW_*` → name, fields).
pub type RawFormats = HashMap<u32, (&'static str, HashMap<String, tracepoint_format::Field>)>;

#[derive(Default)]
pub(super) struct Pending {
    enter: Option<Box<OomEnterRecord>>,
    kill: Option<Box<OomKillRecord>>,
    marks: Vec<MarkVictimRecord>,
    show_free_areas: Option<Box<ShowFreeAreasRecord>>,
    mem: Vec<MemStateRecord>,
    /// `wake_reaper` inside the OOM, before the event has its number.
    reaper_wakes: Vec<ReaperRecord>,
    /// The newest record's time (CLOCK_MONOTONIC ns).
    last_ns: u64,
    /// The OOM task's stack at `mark_victim` (tracepoint mode).
    stack: Option<Box<OomStackRecord>>,
    /// The memcg's counter as the kernel printed it.
    memcg_print: Option<MemcgPrintRecord>,
    /// The victims' rss as their `Killed process` lines printed it.
    print_rss: Vec<PrintRssRecord>,
}

/// How long a kill waits for its stack copy before it is an event without.
pub(super) const STACK_WAIT_NS: u64 = 1_000_000_000;

/// Retries kept per thread, and for how long before its OOM they count.
pub(super) const RETRIES_KEPT: usize = 16;
pub(super) const RETRY_WINDOW_NS: u64 = 5_000_000_000;
/// Threads and victims remembered; beyond, the oldest knowledge is dropped.
pub(super) const REMEMBERED: usize = 4096;

/// Counts kept while assembling, for the trailer and `--summary`.
#[derive(Clone, Debug, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Tally {
    /// Events emitted.
    pub events: u64,
    /// `out_of_memory` calls that killed nothing (a victim was already on its
    /// way out, or nothing was killable): counted, not reported.
    pub deferred: u64,
    /// OOMs whose records arrived incomplete (some were lost).
    pub incomplete: u64,
    /// Records that did not decode.
    pub bad_records: u64,
    /// `oom:reclaim_retry_zone` and `oom:compact_retry` seen: the allocator
    /// going round before it gives up (all threads, OOM or not).
    #[serde(default)]
    pub reclaim_retries: u64,
    #[serde(default)]
    pub compact_retries: u64,
}

pub struct Assembler {
    ctx: Context,
    pending: HashMap<u32, Pending>,
    seq: u64,
    pub tally: Tally,
    /// Recent allocator retries by thread.
    retries: HashMap<u32, std::collections::VecDeque<crate::schema::event::RetryStep>>,
    /// The newest allocator retry of any thread.
    pub last_retry: Option<crate::schema::event::RetryStep>,
    /// Victims reported, by pid: (event seq, the kill's ktime).
    victims: HashMap<i32, (u64, u64)>,
    reaper_out: Vec<ReaperEvent>,
}

impl Assembler {
    pub fn new(ctx: Context) -> Self {
        Self {
            ctx,
            pending: HashMap::new(),
            seq: 0,
            tally: Tally::default(),
            retries: HashMap::new(),
            last_retry: None,
            victims: HashMap::new(),
            reaper_out: Vec::new(),
        }
    }

    pub fn context(&self) -> &Context {
        &self.ctx
    }

    /// Feeds one raw record; returns the events it completes.
    pub fn push_bytes(&mut self, bytes: &[u8]) -> Vec<OomEvent> {
        match parse(bytes) {
            Ok(r) => self.push(r),
            Err(_) => {
                self.tally.bad_records += 1;
                Vec::new()
            }
        }
    }

    pub fn push(&mut self, record: Record) -> Vec<OomEvent> {
        let mut out = Vec::new();
        match record {
            Record::Enter(r) => {
                // OOMs run one at a time (`oom_lock`): whatever OOM is still
                // pending has ended when the next one begins.
                out.extend(self.end_all());
                let tid = r.hdr.pid_tgid as u32;
                let last_ns = r.hdr.ktime_ns;
                self.pending.insert(
                    tid,
                    Pending {
                        enter: Some(r),
                        last_ns,
                        ..Pending::default()
                    },
                );
            }
            Record::Kill(r) => {
                let tid = r.hdr.pid_tgid as u32;
                let p = self.pending.entry(tid).or_default();
                p.last_ns = r.hdr.ktime_ns;
                p.kill = Some(r);
            }
            Record::MarkVictim(r) => {
                let tid = r.hdr.pid_tgid as u32;
                match self.pending.get_mut(&tid) {
                    // Kprobe mode: the OOM's kill; more victims of a
                    // memory.oom.group kill may follow (see `settle`).
                    Some(p) if p.enter.is_some() => {
                        p.last_ns = r.hdr.ktime_ns;
                        p.marks.push(*r);
                    }
                    // Tracepoint mode (or a lost entry): the mark is the event,
                    // with the memory state read just before it, and the
                    // stack copy when it is attached (before or after it).
                    _ => {
                        if self.ctx.kprobes {
                            self.tally.incomplete += 1;
                        }
                        let mut p = self.pending.remove(&tid).unwrap_or_default();
                        p.last_ns = r.hdr.ktime_ns;
                        p.marks.push(*r);
                        if self.ctx.expect_stack && p.stack.is_none() && !self.ctx.kprobes {
                            self.pending.insert(tid, p);
                        } else {
                            out.extend(self.finish(p));
                        }
                    }
                }
            }
            Record::MemState(r) => {
                let tid = r.hdr.pid_tgid as u32;
                let p = self.pending.entry(tid).or_default();
                p.last_ns = r.hdr.ktime_ns;
                // Bounded whatever arrives: one reading per node, twice at most.
                if p.mem.len() < 2 * MAX_NODES {
                    p.mem.push(*r);
                }
            }
            Record::ShowFreeAreas(r) => {
                let tid = r.hdr.pid_tgid as u32;
                if let Some(p) = self.pending.get_mut(&tid) {
                    p.last_ns = r.hdr.ktime_ns;
                    p.show_free_areas = Some(r);
                }
            }
            Record::Reaper(r) => {
                let tid = r.hdr.pid_tgid as u32;
                let woken_in_oom =
                    r.step == ReaperStep::WakeReaper as u32 && !self.victims.contains_key(&r.pid);
                match self.pending.get_mut(&tid) {
                    Some(p) if woken_in_oom && p.reaper_wakes.len() < 64 => p.reaper_wakes.push(r),
                    _ => self.reaper_step(&r),
                }
            }
            Record::Raw(r) => self.retry(&r),
            Record::PrintRss(r) => {
                let tid = r.hdr.pid_tgid as u32;
                if let Some(p) = self.pending.get_mut(&tid)
                    && p.print_rss.len() < 64
                {
                    p.last_ns = r.hdr.ktime_ns;
                    p.print_rss.push(r);
                }
            }
            Record::MemcgPrint(r) => {
                let tid = r.hdr.pid_tgid as u32;
                if let Some(p) = self.pending.get_mut(&tid) {
                    p.last_ns = r.hdr.ktime_ns;
                    p.memcg_print = Some(r);
                }
            }
            Record::Stack(r) => {
                let tid = r.hdr.pid_tgid as u32;
                let p = self.pending.entry(tid).or_default();
                p.last_ns = r.hdr.ktime_ns;
                p.stack = Some(r);
                if p.enter.is_none()
                    && !p.marks.is_empty()
                    && let Some(p) = self.pending.remove(&tid)
                {
                    out.extend(self.finish(p));
                }
            }
        }
        if self.pending.len() > REMEMBERED {
            out.extend(self.end_all());
        }
        out
    }

    /// Whether an OOM that killed is waiting to be ended (`settle`).
    pub fn has_unsettled(&self) -> bool {
        self.pending.values().any(|p| !p.marks.is_empty())
    }

    /// Ends the OOMs that killed and have been quiet for `quiet_ns` at
    /// `now_ns` (CLOCK_MONOTONIC): a memory.oom.group kill marks its victims
    /// within microseconds, so a quiet OOM has marked them all.
    pub fn settle(&mut self, now_ns: u64, quiet_ns: u64) -> Vec<OomEvent> {
        // A kill waiting for its stack copy (tracepoint mode) waits longer:
        // the two programs run one after the other on the OOM's CPU, and a
        // vCPU descheduled between them (seen under TCG on a loaded host)
        // let a 10 ms quiet end the event without its oom_control.
        let waits_for_stack =
            |p: &Pending| self.ctx.expect_stack && !self.ctx.kprobes && p.stack.is_none();
        let done: Vec<u32> = self
            .pending
            .iter()
            .filter(|(_, p)| {
                let quiet = if waits_for_stack(p) {
                    quiet_ns.max(STACK_WAIT_NS)
                } else {
                    quiet_ns
                };
                !p.marks.is_empty() && p.last_ns.saturating_add(quiet) <= now_ns
            })
            .map(|(tid, _)| *tid)
            .collect();
        let mut out = Vec::new();
        for tid in done {
            if let Some(p) = self.pending.remove(&tid) {
                out.extend(self.finish(p));
            }
        }
        out
    }

    /// Ends every pending OOM: one that killed is an event, one that did not
    /// is counted (`deferred`), records of no OOM are dropped.
    fn end_all(&mut self) -> Vec<OomEvent> {
        let mut pending: Vec<Pending> = self.pending.drain().map(|(_, p)| p).collect();
        pending.sort_by_key(|p| p.enter.as_ref().map_or(p.last_ns, |e| e.hdr.ktime_ns));
        let mut out = Vec::new();
        for p in pending {
            if !p.marks.is_empty() || p.kill.is_some() {
                out.extend(self.finish(p));
            } else if p.enter.is_some() {
                self.tally.deferred += 1;
            }
        }
        out
    }

    /// Reaper steps decoded since the last call, in order.
    pub fn take_reaper_events(&mut self) -> Vec<ReaperEvent> {
        std::mem::take(&mut self.reaper_out)
    }

    fn reaper_step(&mut self, r: &ReaperRecord) {
        let (seq, killed_at) = self.victims.get(&r.pid).copied().unwrap_or((0, 0));
        let step = match ReaperStep::from_u32(r.step) {
            Some(ReaperStep::WakeReaper) => Step::Wake,
            Some(ReaperStep::StartTaskReaping) => Step::Start,
            Some(ReaperStep::FinishTaskReaping) => Step::Finish,
            Some(ReaperStep::SkipTaskReaping) => Step::Skip,
            None => return,
        };
        self.reaper_out.push(ReaperEvent {
            kind: ReaperType::Reaper,
            seq,
            time: format_time(r.hdr.ktime_ns as i128 + self.ctx.realtime_offset_ns),
            uptime_ns: r.hdr.ktime_ns,
            pid: r.pid,
            step,
            since_kill_ns: (seq != 0).then(|| r.hdr.ktime_ns.saturating_sub(killed_at)),
        });
    }

    /// Keeps an allocator retry of its thread, for the thread's next OOM.
    fn retry(&mut self, r: &RawTracepointRecord) {
        let Some((name, fields)) = self.ctx.raw_formats.get(&r.event) else {
            return;
        };
        let mut names: Vec<(&String, &tracepoint_format::Field)> = fields
            .iter()
            .filter(|(n, _)| !n.starts_with("common_"))
            .collect();
        names.sort_by_key(|(_, f)| f.offset);
        let step = crate::schema::event::RetryStep {
            event: (*name).to_owned(),
            uptime_ns: r.hdr.ktime_ns,
            fields: names
                .into_iter()
                .filter_map(|(n, f)| Some((n.as_str().into(), f.value(&r.data)?)))
                .collect(),
        };
        match *name {
            "reclaim_retry_zone" => self.tally.reclaim_retries += 1,
            "compact_retry" => self.tally.compact_retries += 1,
            _ => {}
        }
        self.last_retry = Some(step.clone());
        if self.retries.len() >= REMEMBERED {
            self.retries.clear();
        }
        let kept = self.retries.entry(r.hdr.pid_tgid as u32).or_default();
        if kept.len() == RETRIES_KEPT {
            kept.pop_front();
        }
        kept.push_back(step);
    }

    /// Ends what is still pending (at shutdown).
    pub fn flush(&mut self) -> Vec<OomEvent> {
        self.end_all()
    }

    fn constraint_name(&self, v: u32) -> String {
        self.ctx
            .constraints
            .iter()
            .find(|(n, _)| *n == v as u64)
            .map_or_else(|| format!("CONSTRAINT_{v}"), |(_, s)| s.clone())
    }

    fn finish(&mut self, p: Pending) -> Option<OomEvent> {
        let killed = !p.marks.is_empty();
        let first_mark = p.marks.first();
        let hdr = p
            .enter
            .as_ref()
            .map(|e| e.hdr)
            .or(first_mark.map(|m| m.hdr))
            .or(p.kill.as_ref().map(|k| k.hdr))?;
        self.seq += 1;
        let mut ev = OomEvent {
            kind: OomType::Oom,
            seq: self.seq,
            uptime_ns: hdr.ktime_ns,
            time: format_time(hdr.ktime_ns as i128 + self.ctx.realtime_offset_ns),
            source: if p.enter.is_some() || p.kill.is_some() {
                Source::Kprobe
            } else {
                Source::Tracepoint
            },
            killed: Some(killed),
            ..OomEvent::default()
        };
        let cpu = Some(hdr.cpu);
        if let Some(e) = &p.enter {
            ev.trigger = task(&e.trigger, cpu);
            if has(e.valid, OC_GFP_MASK) {
                ev.gfp_mask = Some(e.gfp_mask);
                ev.gfp_flags = Some(self.ctx.gfp.format(e.gfp_mask as u64));
            }
            ev.order = has(e.valid, OC_ORDER).then_some(e.order);
            if has(e.valid, OC_MEMCG) && e.flags & ENTER_MEMCG != 0 {
                ev.memcg = cgroup_path(&e.memcg);
            }
            if has(e.valid, OC_NODEMASK) {
                ev.nodemask = Some(if e.flags & ENTER_NODEMASK_SET != 0 {
                    nodelist(e.nodemask)
                } else {
                    "(null)".to_owned()
                });
            }
            // From out_of_memory's entry to its (last) kill.
            if let Some(m) = p.marks.last() {
                ev.duration_ns = Some(m.hdr.ktime_ns.saturating_sub(e.hdr.ktime_ns));
            }
        } else if let Some(m) = first_mark {
            ev.trigger = task(&m.trigger, cpu);
        }
        if let Some(k) = &p.kill {
            ev.constraint = has(k.valid, OC_CONSTRAINT).then(|| self.constraint_name(k.constraint));
            ev.totalpages = has(k.valid, OC_TOTALPAGES).then_some(k.totalpages);
            ev.message = has(k.valid, OC_MESSAGE).then(|| cstr(&k.message));
        }
        let mut victims = p.marks.iter().map(|m| {
            let mut v = victim(&m.victim);
            // When the victim is the current task (the usual memcg case), what
            // the tracepoint lacks was read from the task itself; and its rss
            // read from the task wins, as the kernel prints it (7.x sums each
            // CPU's part, the tracepoint carries the central count only).
            if v.pid.is_some() && v.pid == has(m.trigger.valid, TASK_TGID).then_some(m.trigger.tgid)
            {
                let own = victim(&m.trigger);
                if own.anon_rss_kb.is_some() {
                    v.anon_rss_kb = own.anon_rss_kb;
                    v.file_rss_kb = own.file_rss_kb;
                    v.shmem_rss_kb = own.shmem_rss_kb;
                }
                Victim::or(v, own)
            } else {
                v
            }
        });
        let chosen = p.kill.as_ref().map(|k| {
            let mut v = victim(&k.victim);
            v.points = has(k.valid, OC_CHOSEN_POINTS).then_some(k.chosen_points);
            v
        });
        ev.victim = match (victims.next(), chosen) {
            (Some(marked), Some(chosen)) if marked.pid == chosen.pid => {
                Some(Victim::or(marked, chosen))
            }
            (Some(marked), _) => Some(marked),
            (None, chosen) => chosen,
        };
        ev.also_killed = victims.collect();
        // The rss each `Killed process` line printed, where it was read then.
        for r in &p.print_rss {
            for v in ev.victim.iter_mut().chain(ev.also_killed.iter_mut()) {
                if v.pid == Some(r.pid) {
                    v.file_rss_kb = Some(r.file_rss_kb);
                    v.anon_rss_kb = Some(r.anon_rss_kb);
                    v.shmem_rss_kb = Some(r.shmem_rss_kb);
                }
            }
        }
        // mark_victim's stack runs through __oom_kill_process: the deepest we have.
        if let Some(m) = first_mark {
            ev.stack = without_tracing_frames(self.ctx.symbols.frames(&m.stack));
        }
        // Where a tracepoint's stack cannot be walked (32-bit ARM: its first
        // frame only), the kill probe took one, from oom_kill_process up;
        // without kprobes there is none.
        if !self.ctx.arch.tracepoint_stack_walk {
            ev.stack = p
                .kill
                .as_ref()
                .filter(|k| k.stack.len_bytes > 0)
                .map(|k| self.ctx.symbols.frames(&k.stack))
                .unwrap_or_default();
        }
        if let Some(s) = &p.show_free_areas {
            ev.show_free_areas_stack = Some(self.ctx.symbols.frames(&s.stack));
        }
        let mem = if self.ctx.sample_memory {
            crate::source::memstate::sample_proc(
                &self.ctx.mem_names,
                monotonic_ns().saturating_sub(hdr.ktime_ns),
            )
        } else {
            crate::source::memstate::assemble(&p.mem, &self.ctx.mem_names)
        };
        ev.counters = mem.counters;
        ev.nodes = mem.nodes;
        ev.zones = mem.zones;
        ev.memory_read = mem.read;
        let page_shift = self.ctx.mem_names.page_shift;
        if let Some(e) = p.enter.as_ref().filter(|e| e.flags & ENTER_MEMCG != 0)
            && has(e.valid, OC_MEMCG_COUNTERS)
        {
            // As printed when the kernel printed it; else as read at entry.
            let counters = p.memcg_print.map_or(e.memcg_counters, |m| m.counters);
            ev.memcg_memory = Some(crate::source::memstate::memcg_memory(&counters, page_shift));
        }
        if let Some(m) = first_mark {
            ev.user_stack = Some(user_frames(m, &self.ctx.arch));
        }
        if p.enter.is_none()
            && p.kill.is_none()
            && let Some(m) = first_mark
        {
            self.infer_from_stack(&mut ev, m);
            if let Some(st) = &p.stack {
                let task = victim(&st.victim);
                if let Some(v) = ev.victim.as_mut().filter(|v| v.pid == task.pid) {
                    // As kprobe mode: the task's own rss reading wins.
                    if task.anon_rss_kb.is_some() {
                        v.anon_rss_kb = task.anon_rss_kb;
                        v.file_rss_kb = task.file_rss_kb;
                        v.shmem_rss_kb = task.shmem_rss_kb;
                    }
                    *v = Victim::or(v.clone(), task);
                }
                self.apply_oom_control(&mut ev, st, m);
            }
            ev.unavailable = self
                .ctx
                .may_lack
                .iter()
                .filter(|f| f.is_missing(&ev))
                .map(|f| f.name().to_owned())
                .collect();
        }
        if let Some(kept) = self.retries.remove(&(hdr.pid_tgid as u32)) {
            ev.allocator_retries = kept
                .into_iter()
                .filter(|r| r.uptime_ns + RETRY_WINDOW_NS >= hdr.ktime_ns)
                .collect();
        }
        if self.victims.len() >= REMEMBERED {
            self.victims.clear();
        }
        let killed_at = first_mark.map_or(hdr.ktime_ns, |m| m.hdr.ktime_ns);
        for pid in ev
            .victim
            .iter()
            .chain(&ev.also_killed)
            .filter_map(|v| v.pid)
        {
            self.victims.insert(pid, (self.seq, killed_at));
        }
        for w in &p.reaper_wakes {
            self.reaper_step(w);
        }
        self.tally.events += 1;
        Some(ev)
    }

    /// Tracepoint mode: what the stack proves. `mem_cgroup_out_of_memory` in
    /// the path makes it a memcg OOM (whose message is fixed); `moom_callback`
    /// makes it sysrq-f, whose order is -1 by definition.
    fn infer_from_stack(&self, ev: &mut OomEvent, m: &MarkVictimRecord) {
        let on_stack = |f: &str| ev.stack.iter().any(|fr| fr.symbol.as_deref() == Some(f));
        let (memcg, sysrq) = (
            on_stack("mem_cgroup_out_of_memory"),
            on_stack("moom_callback"),
        );
        if memcg {
            self.memcg_oom(ev, m);
        }
        if sysrq {
            ev.order = Some(-1);
        }
    }

    /// Tracepoint mode, a memory cgroup's OOM (by its stack, or by the
    /// `oom_control` found on it where no stack could be walked): its
    /// fixed message, and its domain, the nearest level of the trigger's
    /// memory cgroup that is at its limit.
    fn memcg_oom(&self, ev: &mut OomEvent, m: &MarkVictimRecord) {
        ev.constraint = Some("CONSTRAINT_MEMCG".to_owned());
        ev.message = Some("Memory cgroup out of memory".to_owned());
        let levels = (m.memcg_levels as usize).min(m.memcg_chain.len());
        let chain = &m.memcg_chain[..levels];
        let page_shift = self.ctx.mem_names.page_shift;
        if let (Some(level), Some(path)) = (
            crate::source::memstate::oom_domain_level(
                chain,
                page_shift,
                self.ctx.mem_names.pmd_shift,
            ),
            ev.trigger.cgroup.as_deref(),
        ) {
            ev.memcg = Some(ancestor(path, level));
            ev.memcg_memory = Some(crate::source::memstate::memcg_memory(
                &chain[level],
                page_shift,
            ));
            ev.inferred.push("memcg".to_owned());
        }
    }

    /// Tracepoint mode: the OOM's `struct oom_control`, found on the OOM
    /// task's stack by its `chosen`, fills what kprobe mode reads directly.
    fn apply_oom_control(&self, ev: &mut OomEvent, st: &OomStackRecord, m: &MarkVictimRecord) {
        match find_oom_control(st, &self.ctx.offsets, &self.ctx.arch) {
            Ok(oc) => {
                ev.gfp_mask = Some(oc.gfp_mask);
                ev.gfp_flags = Some(self.ctx.gfp.format(oc.gfp_mask as u64));
                ev.order = Some(oc.order);
                ev.totalpages = Some(oc.totalpages);
                ev.constraint = Some(self.constraint_name(oc.constraint));
                if let Some(n) = oc.nodemask {
                    ev.nodemask = Some(n);
                }
                if let Some(v) = ev.victim.as_mut() {
                    v.points = Some(oc.chosen_points);
                }
                if oc.memcg != 0 && ev.message.is_none() {
                    // A memcg's OOM the stack did not show (none walked).
                    self.memcg_oom(ev, m);
                }
                if oc.memcg == 0 {
                    // A global OOM: nothing to infer a domain for.
                    ev.memcg = None;
                    ev.memcg_memory = None;
                    ev.inferred.retain(|f| f != "memcg");
                    // out_of_memory's message, unless the sysctl
                    // vm.oom_kill_allocating_task may have made the
                    // allocating task the victim (then it says so).
                    let allocating = ev.victim.as_ref().and_then(|v| v.pid).is_some()
                        && ev.victim.as_ref().and_then(|v| v.pid) == ev.trigger.pid;
                    if !(self.ctx.kill_allocating_task && allocating) {
                        ev.message = Some("Out of memory".to_owned());
                    }
                }
            }
            Err(why) => ev
                .notes
                .push(format!("oom_control not found on the stack: {why}")),
        }
    }
}

/// `path` without its last `levels` components ("/a/b/c", 1 → "/a/b").
pub(super) fn ancestor(path: &str, levels: usize) -> String {
    let parts: Vec<&str> = path.split('/').filter(|p| !p.is_empty()).collect();
    let keep = parts.len().saturating_sub(levels);
    format!("/{}", parts[..keep].join("/"))
}

/// A stack without the innermost frames that belong to the tracing itself:
/// with several programs on one tracepoint the kernel calls them through
/// `__traceiter_<name>`, and BPF's stack walk starts there.
pub(super) fn without_tracing_frames(
    mut frames: Vec<crate::schema::event::Frame>,
) -> Vec<crate::schema::event::Frame> {
    let tracing = |f: &crate::schema::event::Frame| {
        f.symbol.as_deref().is_some_and(|s| {
            s.starts_with("__traceiter_")
                || s.starts_with("__bpf_trace_")
                || s.starts_with("perf_trace_")
        })
    };
    let n = frames.iter().take_while(|f| tracing(f)).count();
    frames.drain(..n);
    // arm64's walk from a tracepoint's registers gives the innermost
    // address twice (the pc, then the same place as the first frame
    // record's return address): once is what the kernel's Call trace says.
    if frames.len() >= 2 && frames[0].addr == frames[1].addr {
        frames.remove(0);
    }
    frames
}

/// The trigger's user stack, as far as it holds user addresses: without
/// frame pointers the walk runs into garbage, which stops it. The files the
/// addresses fall in are for an enricher to add while the process lives.
pub(super) fn user_frames(
    m: &MarkVictimRecord,
    arch: &Arch,
) -> Vec<crate::schema::event::UserFrame> {
    let n = if m.user_stack_len_bytes > 0 {
        (m.user_stack_len_bytes as usize / 8).min(MAX_USER_STACK_DEPTH)
    } else {
        0
    };
    m.user_stack[..n]
        .iter()
        .take_while(|&&addr| arch.is_user_address(addr))
        .map(|&addr| crate::schema::event::UserFrame {
            addr: format!("{:#x}", addr & !arch.pac_mask),
            ..Default::default()
        })
        .collect()
}

/// The kernel's `%*pbl` of the first 64 nodes: "0", "0-1,3".
pub fn nodelist(mask: u64) -> String {
    let mut parts = Vec::new();
    let mut bit = 0;
    while bit < 64 {
        if mask & (1 << bit) == 0 {
            bit += 1;
            continue;
        }
        let start = bit;
        while bit + 1 < 64 && mask & (1 << (bit + 1)) != 0 {
            bit += 1;
        }
        parts.push(if start == bit {
            start.to_string()
        } else {
            format!("{start}-{bit}")
        });
        bit += 1;
    }
    parts.join(",")
}

#[cfg(test)]
pub(crate) mod tests;
