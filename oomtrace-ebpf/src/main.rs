//! oomtrace's kernel side. The programs only copy: every offset and layout
//! comes from the planner through `OOMTRACE_CONFIG`, every record goes out
//! through one ring buffer, and userspace assembles the records of one OOM
//! into one event.
#![no_std]
#![no_main]

use aya_ebpf::{
    EbpfContext,
    helpers::generated::{
        bpf_get_current_pid_tgid, bpf_get_current_task, bpf_get_smp_processor_id, bpf_get_stack,
        bpf_ktime_get_ns, bpf_probe_read_kernel, bpf_probe_read_kernel_str,
    },
    macros::{kprobe, map, raw_tracepoint, tracepoint},
    maps::{Array, LruHashMap, PerCpuArray, RingBuf},
    programs::{ProbeContext, RawTracePointContext, TracePointContext},
};
use core::ffi::c_void;
use core::ptr::{addr_of, addr_of_mut, read_volatile, write_volatile};
use oomtrace_common::*;

/// Ring-buffer wake-ups cost an interrupt (a self-IPI, and a VM exit in a
/// guest): at most one per OOM, on its kill (`mark_victim`), and in a storm
/// one per `WAKE_WINDOW_NS` (`submit_soon`); the others ride along.
/// There is no probe on `out_of_memory`'s return: a return probe puts its
/// trampoline where the caller's frame is, and the kernel's own report then
/// names the trampoline instead of the caller.
const BPF_RB_NO_WAKEUP: u64 = 1;
const BPF_RB_FORCE_WAKEUP: u64 = 2;

/// Filled in by the planner before load (`EbpfLoader::override_global`).
#[unsafe(no_mangle)]
static OOMTRACE_CONFIG: Config = Config::unplanned();

/// Userspace resizes it from the record sizes (`--buffer`).
#[map]
static EVENTS: RingBuf = RingBuf::with_byte_size(1 << 20, 0);

/// Records that found the ring buffer full and what the kernel side could
/// not do, per CPU (`Tally`).
#[map]
static TALLY: PerCpuArray<Tally> = PerCpuArray::with_max_entries(1, 0);

/// When the programs last woke the reader (`submit_soon`), on any CPU, in
/// units of 2^20 ns: 32 bits, which every architecture stores whole.
#[map]
static WOKE: Array<u32> = Array::with_max_entries(1, 0);

/// The task `oom_kill_process` chose, by the thread running the OOM, so
/// `mark_victim` can read the victim's memory at the moment the kernel prints
/// it (the OOM path may sleep and change CPU in between: not per-CPU).
#[map]
static CHOSEN: LruHashMap<u32, u64> = LruHashMap::with_max_entries(1024, 0);

/// Threads inside `out_of_memory` (kprobe mode), from its entry to their
/// first kill: `IN_OOM`, or `MEM_READ` once `show_free_areas` read the
/// memory state at the moment the kernel prints it, so `mark_victim` need
/// not read it again.
#[map]
static OOM_THREADS: LruHashMap<u32, u8> = LruHashMap::with_max_entries(1024, 0);
const IN_OOM: u8 = 0;
const MEM_READ: u8 = 1;
/// Killed: its `Killed process` line is the thread's next printk.
const AWAIT_PRINT: u8 = 2;

/// One field of the planner's kernel offsets. `read_volatile` keeps the
/// compiler from folding the placeholder values into the code.
macro_rules! off {
    ($field:ident) => {
        unsafe { read_volatile(addr_of!(OOMTRACE_CONFIG.off.$field)) }
    };
}

macro_rules! mem {
    ($field:ident) => {
        unsafe { read_volatile(addr_of!(OOMTRACE_CONFIG.mem.$field)) }
    };
}

macro_rules! addr {
    ($field:ident) => {
        unsafe { read_volatile(addr_of!(OOMTRACE_CONFIG.addrs.$field)) }
    };
}

macro_rules! layout {
    ($field:ident) => {
        unsafe { read_volatile(addr_of!(OOMTRACE_CONFIG.mark_victim.$field)) }
    };
}

/// The traced kernel's `unsigned long` and `long`, the size of its
/// pointers: the object is built for one architecture, and 32-bit ARM's
/// are 4 bytes (userspace reads the same from `Arch::pointer_bits`).
#[cfg(bpf_target_arch = "arm")]
type KULong = u32;
#[cfg(bpf_target_arch = "arm")]
type KLong = i32;
#[cfg(not(bpf_target_arch = "arm"))]
type KULong = u64;
#[cfg(not(bpf_target_arch = "arm"))]
type KLong = i64;
/// Bytes of a kernel pointer or `long`, the stride of their arrays.
const LONG: u32 = size_of::<KULong>() as u32;

/// Argument `n` of a probed function, widened. aya-ebpf 0.3's `arg()` on
/// 32-bit ARM (its `PtRegsLayout` for arm) still reads `pt_regs.uregs` as
/// `c_long`, whose width is the BPF target's (64-bit: aya-ebpf-cty 0.4 sizes
/// it by the target's pointer width): argument n would come from registers
/// 2n and 2n+1 glued together. Read `uregs[n]` at the kernel's width here
/// instead; the armhf VM oracle checks the arguments read so. Exit plan:
/// aya's arm `pt_regs` with 4-byte registers, then `ctx.arg(n)`.
#[inline(always)]
fn kprobe_arg(ctx: &ProbeContext, n: usize) -> Option<u64> {
    #[cfg(bpf_target_arch = "arm")]
    {
        if n > 6 {
            return None;
        }
        // SAFETY: the context is the probe's pt_regs, 18 4-byte registers.
        Some(unsafe { *(ctx.regs as *const KULong).add(n) } as u64)
    }
    #[cfg(not(bpf_target_arch = "arm"))]
    ctx.arg(n)
}

/// A kernel pointer or `unsigned long` at `base + off`, widened.
#[allow(
    clippy::unnecessary_cast,
    reason = "KULong and KLong are 32-bit on ARM"
)]
#[inline(always)]
fn read_ulong(base: u64, off: u32) -> Option<u64> {
    read::<KULong>(base, off).map(|v| v as u64)
}

/// A kernel `long` (`atomic_long_t`) at `base + off`, widened.
#[allow(
    clippy::unnecessary_cast,
    reason = "KULong and KLong are 32-bit on ARM"
)]
#[inline(always)]
fn read_long(base: u64, off: u32) -> Option<i64> {
    read::<KLong>(base, off).map(|v| v as i64)
}

/// Reads a `T` at `base + off`; `None` for a NULL base, an offset this kernel
/// lacks, or a fault.
#[inline(always)]
fn read<T: Copy>(base: u64, off: u32) -> Option<T> {
    if base == 0 || off == ABSENT {
        return None;
    }
    let mut v = core::mem::MaybeUninit::<T>::uninit();
    let ret = unsafe {
        bpf_probe_read_kernel(
            v.as_mut_ptr().cast(),
            size_of::<T>() as u32,
            (base + off as u64) as *const c_void,
        )
    };
    (ret == 0).then(|| unsafe { v.assume_init() })
}

/// Copies the NUL-terminated string at `src` into `dst`; true when anything was read.
#[inline(always)]
fn read_str<const N: usize>(src: u64, dst: *mut [u8; N]) -> bool {
    if src == 0 {
        return false;
    }
    unsafe { bpf_probe_read_kernel_str(dst.cast(), N as u32, src as *const c_void) > 0 }
}

/// `a + b` for planner offsets, `ABSENT` when either is.
#[inline(always)]
fn plus(a: u32, b: u32) -> u32 {
    if a == ABSENT || b == ABSENT {
        ABSENT
    } else {
        a + b
    }
}

/// Copies `items` `atomic_long_t` counters at `src` into `dst` (room for
/// `N`), as they are: userspace reads them at the kernel's width.
#[inline(always)]
fn read_counters<const N: usize>(src: u64, items: u32, dst: *mut [i64; N]) -> bool {
    if src == 0 || items == 0 || items == ABSENT || items as usize > N {
        return false;
    }
    let bytes = items * LONG;
    if bytes > (N * 8) as u32 {
        return false;
    }
    unsafe { bpf_probe_read_kernel(dst.cast(), bytes, src as *const c_void) == 0 }
}

/// A record of `kind` the full ring buffer refused.
#[inline(always)]
fn count_lost(kind: RecordKind) {
    let slot = kind as usize;
    if let Some(t) = TALLY.get_ptr_mut(0)
        && slot < LOST_SLOTS as usize
    {
        unsafe { (*t).lost[slot] += 1 };
    }
}

/// Something the kernel side could not do.
#[inline(always)]
fn count_error(e: KernelError) {
    if let Some(t) = TALLY.get_ptr_mut(0) {
        unsafe { (*t).errors[e as usize] += 1 };
    }
}

/// Reserves a record of type `T` and fills in its header. `T` must start with `Header`.
#[inline(always)]
fn reserve<T: 'static>(kind: RecordKind) -> Option<aya_ebpf::maps::ring_buf::RingBufEntry<T>> {
    let Some(mut entry) = EVENTS.reserve::<T>(0) else {
        count_lost(kind);
        return None;
    };
    let hdr = entry.as_mut_ptr().cast::<Header>();
    unsafe {
        (*hdr).kind = kind as u32;
        (*hdr).cpu = bpf_get_smp_processor_id();
        (*hdr).pid_tgid = bpf_get_current_pid_tgid();
        (*hdr).ktime_ns = bpf_ktime_get_ns();
    }
    Some(entry)
}

/// Submits a record the reader should see soon (a kill, a reaper step): it
/// wakes the reader unless a program did less than `WAKE_WINDOW_NS` ago,
/// when the reader is still polling for records (`READER_POLLS_NS`).
#[inline(always)]
fn submit_soon<T>(entry: aya_ebpf::maps::ring_buf::RingBufEntry<T>) {
    const SHIFT: u32 = 20;
    let now = (unsafe { bpf_ktime_get_ns() } >> SHIFT) as u32;
    let mut flags = BPF_RB_FORCE_WAKEUP;
    if let Some(last) = WOKE.get_ptr_mut(0) {
        unsafe {
            // Racing CPUs both wake: harmless.
            let then = read_volatile(last);
            if then != 0 && now.wrapping_sub(then) < (WAKE_WINDOW_NS >> SHIFT) as u32 {
                flags = BPF_RB_NO_WAKEUP;
            } else {
                core::ptr::write_volatile(last, now);
            }
        }
    }
    entry.submit(flags);
}

#[inline(always)]
fn fill_stack<C: EbpfContext>(ctx: &C, stack: *mut Stack) {
    unsafe {
        (*stack).len_bytes = bpf_get_stack(
            ctx.as_ptr(),
            addr_of_mut!((*stack).ips).cast(),
            (MAX_STACK_DEPTH * 8) as u32,
            0,
        );
    }
}

/// The memory cgroup's path of a `cgroup_subsys_state`, leaf first, by
/// walking its kernfs node up to the hierarchy's root.
#[inline(always)]
fn fill_cgroup(css: u64, out: *mut CgroupPath) {
    unsafe {
        (*out).ok = 0;
        (*out).depth = 0;
        (*out).truncated = 0;
    }
    let Some(cgrp) = read_ulong(css, off!(css_cgroup)) else {
        return;
    };
    let Some(mut kn) = read_ulong(cgrp, off!(cgroup_kn)) else {
        return;
    };
    let kn_parent = off!(kn_parent);
    let kn_name = off!(kn_name);
    let mut depth = 0u32;
    for i in 0..CGROUP_MAX_DEPTH {
        let parent = read_ulong(kn, kn_parent).unwrap_or(0);
        if parent == 0 {
            // `kn` is the hierarchy's root, whose name is not part of the path.
            unsafe {
                (*out).ok = 1;
                (*out).depth = depth;
            }
            return;
        }
        let name = read_ulong(kn, kn_name).unwrap_or(0);
        if !read_str(name, unsafe { addr_of_mut!((*out).names[i]) }) {
            return;
        }
        depth += 1;
        kn = parent;
    }
    let at_root = read_ulong(kn, kn_parent).unwrap_or(0) == 0;
    unsafe {
        (*out).ok = 1;
        (*out).depth = depth;
        (*out).truncated = u8::from(!at_root);
    }
}

/// The memory cgroup of `task`: `task->cgroups->subsys[memory_cgrp_id]`.
#[inline(always)]
fn task_memcg_css(task: u64) -> u64 {
    let id = off!(memory_cgrp_id);
    if id == ABSENT || id >= 16 {
        return 0;
    }
    let css_set = read_ulong(task, off!(task_cgroups)).unwrap_or(0);
    let subsys = off!(css_set_subsys);
    if subsys == ABSENT {
        return 0;
    }
    read_ulong(css_set, subsys + id * LONG).unwrap_or(0)
}

/// The `struct mem_cgroup` of `task`, or 0.
#[inline(always)]
fn task_memcg(task: u64) -> u64 {
    let css = task_memcg_css(task);
    let css_off = off!(memcg_css);
    if css == 0 || css_off == ABSENT {
        return 0;
    }
    css - css_off as u64
}

/// The `memory` page counter at `counter` (a `mem_cgroup`'s `memory`), its
/// failcnt as the kernel prints it: the memcg's `MEMCG_MAX` events where
/// the planner says so (cgroup v2, on kernels after 6.12), else the counter's own.
#[inline(always)]
fn read_page_counter(counter: u64) -> Option<MemcgCounters> {
    let events = mem!(memcg_max_events);
    let memory = mem!(memcg_memory);
    let failcnt = if events != ABSENT && memory != ABSENT && counter != 0 {
        read_long(counter - memory as u64, events).map(|v| v.max(0) as u64)
    } else {
        read_ulong(counter, mem!(counter_failcnt))
    };
    Some(MemcgCounters {
        usage: read_ulong(counter, mem!(counter_usage))?,
        max: read_ulong(counter, mem!(counter_max))?,
        failcnt: failcnt.unwrap_or(0),
    })
}

#[inline(always)]
fn memcg_page_counter(memcg: u64) -> u64 {
    let off = mem!(memcg_memory);
    if memcg == 0 || off == ABSENT {
        0
    } else {
        memcg + off as u64
    }
}

/// The `pglist_data` of node `nid`: at its kallsyms address where kallsyms
/// lists data, else through the current task's memory cgroup, whose per-node
/// lruvec points at its node.
#[inline(always)]
fn node_pgdat(nid: u32) -> (u64, u32) {
    let node_data = addr!(node_data);
    if node_data != 0 {
        return (
            read_ulong(node_data, nid * LONG).unwrap_or(0),
            MEM_PATH_KALLSYMS,
        );
    }
    let contig = addr!(contig_page_data);
    if contig != 0 {
        return (if nid == 0 { contig } else { 0 }, MEM_PATH_KALLSYMS);
    }
    let memcg = task_memcg(current_task());
    let nodeinfo = mem!(memcg_nodeinfo);
    if nodeinfo == ABSENT {
        return (0, 0);
    }
    let per_node = read_ulong(memcg, nodeinfo + nid * LONG).unwrap_or(0);
    let pgdat = read_ulong(per_node, plus(mem!(memcg_node_lruvec), mem!(lruvec_pgdat)));
    (pgdat.unwrap_or(0), MEM_PATH_MEMCG)
}

/// Copies `N` bytes at `src` whatever happens: a fault leaves zeros. No
/// branch, so the verifier walks one path however often it is called.
#[inline(always)]
fn copy_raw<T>(dst: *mut T, src: u64) {
    unsafe { bpf_probe_read_kernel(dst.cast(), size_of::<T>() as u32, src as *const c_void) };
}

/// Reads every online node's memory state into one `MemState` record per
/// node, right before the record of the probe `at` that it belongs to.
#[inline(always)]
fn emit_mem_state(at: RecordKind) {
    let online = addr!(online_nodes);
    let mut first = 1u32;
    for nid in 0..MAX_NODES as u32 {
        if online & (1u64 << nid) != 0 {
            first &= !emit_node(nid, at as u32, first);
        }
    }
}

/// One node's `MemState` record; 1 when it was written. Not inlined: the
/// verifier then walks one copy, and the node loop stays a loop of calls.
#[inline(never)]
fn emit_node(nid: u32, at: u32, first: u32) -> u32 {
    let (pgdat, path) = node_pgdat(nid);
    if pgdat == 0 {
        return 0;
    }
    let Some(mut entry) = reserve::<MemStateRecord>(RecordKind::MemState) else {
        return 0;
    };
    let rec = unsafe { &mut *entry.as_mut_ptr() };
    rec.at = at;
    rec.path = path;
    rec.node = nid;
    let mut valid = 0;
    let vm_stat = mem!(pgdat_vm_stat);
    if vm_stat != ABSENT
        && read_counters(
            pgdat + vm_stat as u64,
            mem!(node_stat_items),
            addr_of_mut!(rec.node_stat),
        )
    {
        valid |= MEM_NODE;
    }
    rec.kswapd_failures = 0;
    copy_raw(
        &mut rec.kswapd_failures,
        pgdat + mem!(pgdat_kswapd_failures) as u64,
    );
    if first != 0
        && read_counters(
            addr!(vm_node_stat),
            mem!(node_stat_items),
            addr_of_mut!(rec.global_node_stat),
        )
        && read_counters(
            addr!(vm_zone_stat),
            mem!(zone_stat_items),
            addr_of_mut!(rec.global_zone_stat),
        )
    {
        valid |= MEM_GLOBAL;
    }
    // `node_zones[]` in one copy; userspace takes the zones apart.
    let (node_zones, zone_size, nr_zones) =
        (mem!(pgdat_node_zones), mem!(zone_size), mem!(nr_zones));
    rec.zones_len = 0;
    rec.zones_addr = pgdat + node_zones as u64;
    if node_zones != ABSENT && zone_size != ABSENT && nr_zones != ABSENT {
        let len = (zone_size as u64 * nr_zones as u64).min(ZONES_RAW_MAX as u64) as u32;
        if len > 0
            && len <= ZONES_RAW_MAX as u32
            && unsafe {
                bpf_probe_read_kernel(
                    addr_of_mut!(rec.zones_raw).cast(),
                    len,
                    rec.zones_addr as *const c_void,
                )
            } == 0
        {
            rec.zones_len = len;
        }
    }
    rec.valid = valid;
    entry.submit(BPF_RB_NO_WAKEUP);
    1
}

/// The victim's rss counters (file, anon, shmem) in pages, as its `Killed
/// process` line will print them. Before 6.2 each thread caches its rss
/// deltas (`task->rss_stat`) until 64 faults or its exit: a victim woken by
/// SIGKILL (sent before `mark_victim`) flushes them on its way out, before
/// that line is printed, so they are folded in (`fold`). The task running
/// the OOM itself flushes nothing before its own report: not folded. From
/// 7.0 the kernel prints each counter's exact sum over the CPUs' parts
/// (`get_mm_counter_sum`): added where the planner set `mm_rss_percpu`.
/// Clamped at zero as the kernel does.
#[inline(always)]
fn mm_counters(task: u64, mm: u64, fold: bool) -> Option<[u64; 3]> {
    let (base, stride, count) = (off!(mm_rss_stat), off!(mm_rss_stride), off!(mm_rss_count));
    let index = [off!(mm_filepages), off!(mm_anonpages), off!(mm_shmempages)];
    if base == ABSENT || stride == ABSENT || count == ABSENT {
        return None;
    }
    let cache = off!(task_rss_cache);
    let mut total = [0i64; 3];
    for (i, &index) in index.iter().enumerate() {
        if index == ABSENT || index >= 8 {
            return None;
        }
        // `atomic_long_t` entries before 6.2 (the stride is a long); since, a
        // `percpu_counter`'s `s64 count` on every architecture.
        let at = base + index * stride + count;
        // `LONG < 8` folds away on 64-bit kernels: one read, one path (5.10's
        // verifier rejected print_rss with both).
        let shared = if LONG < 8 && stride == LONG {
            read_long(mm, at)?
        } else {
            read::<i64>(mm, at)?
        };
        let own = if cache == ABSENT || !fold {
            0
        } else {
            read::<i32>(task, cache + index * 4).unwrap_or(0) as i64
        };
        total[i] = shared + own;
    }
    let parts = off!(mm_rss_percpu);
    let cpus = off!(nr_cpus);
    let offsets = addr!(per_cpu_offset);
    if parts != ABSENT && cpus != ABSENT && offsets != 0 {
        // `per_cpu_ptr(counters, cpu)`: the pointer plus the CPU's offset,
        // in the kernel's own width.
        let counters = index.map(|i| read_ulong(mm, base + i * stride + parts).unwrap_or(0));
        for cpu in 0..MAX_CPUS {
            if cpu >= cpus {
                break;
            }
            let area = read_ulong(offsets, cpu * LONG)?;
            for i in 0..3 {
                let part = (counters[i] as KULong).wrapping_add(area as KULong) as u64;
                total[i] += read::<i32>(part, 0)? as i64;
            }
        }
    }
    Some(total.map(|t| t.max(0) as u64))
}

/// Everything oomtrace reports about a task, read through BTF offsets.
/// Not inlined: a third of `mark_victim` was its two copies (the trigger,
/// and the victim in kprobe mode), which the kernel loads, checks and
/// compiles at every start.
#[inline(never)]
fn fill_task(task: u64, out: *mut TaskInfo) {
    let mut valid = 0u32;
    let out = unsafe { &mut *out };
    if let Some(pid) = read::<i32>(task, off!(task_pid)) {
        out.pid = pid;
        valid |= TASK_PID;
    }
    if let Some(tgid) = read::<i32>(task, off!(task_tgid)) {
        out.tgid = tgid;
        valid |= TASK_TGID;
    }
    if let Some(comm) = read::<[u8; COMM_LEN]>(task, off!(task_comm)) {
        out.comm = comm;
        valid |= TASK_COMM;
    }
    let signal = read_ulong(task, off!(task_signal)).unwrap_or(0);
    if let Some(adj) = read::<i16>(signal, off!(signal_oom_score_adj)) {
        out.oom_score_adj = adj;
        valid |= TASK_OOM_SCORE_ADJ;
    }
    let cred = read_ulong(task, off!(task_cred)).unwrap_or(0);
    if let Some(uid) = read::<u32>(cred, off!(cred_uid)) {
        out.uid = uid;
        valid |= TASK_UID;
    }
    // Kernel threads have no mm: their memory fields stay invalid.
    let mm = read_ulong(task, off!(task_mm)).unwrap_or(0);
    let kb = off!(page_shift).saturating_sub(10);
    if let Some(total_vm) = read_ulong(mm, off!(mm_total_vm)) {
        out.total_vm_kb = total_vm << kb;
        valid |= TASK_TOTAL_VM;
    }
    let fold = task != current_task();
    if let Some([file, anon, shmem]) = mm_counters(task, mm, fold) {
        out.file_rss_kb = file << kb;
        out.anon_rss_kb = anon << kb;
        out.shmem_rss_kb = shmem << kb;
        valid |= TASK_RSS;
    }
    if let Some(bytes) = read_long(mm, off!(mm_pgtables_bytes)) {
        out.pgtables_kb = (bytes.max(0) as u64) >> 10;
        valid |= TASK_PGTABLES;
    }
    out.valid = valid;
    fill_cgroup(task_memcg_css(task), addr_of_mut!(out.cgroup));
}

/// The current task, as the kernel's pointer: on 32-bit ARM the helper's
/// 64-bit result is not the zero-extended pointer that tracepoint
/// arguments and memory reads give, so it would equal none of them.
#[allow(clippy::unnecessary_cast, reason = "KULong is 32-bit on ARM")]
fn current_task() -> u64 {
    (unsafe { bpf_get_current_task() }) as KULong as u64
}

/// `out_of_memory(struct oom_control *oc)`: what was asked, by whom.
#[kprobe]
pub fn oom_enter(ctx: ProbeContext) -> u32 {
    let oc: u64 = kprobe_arg(&ctx, 0).unwrap_or(0);
    let tid = unsafe { bpf_get_current_pid_tgid() } as u32;
    let _ = OOM_THREADS.insert(&tid, &IN_OOM, 0);
    let Some(mut entry) = reserve::<OomEnterRecord>(RecordKind::OomEnter) else {
        return 0;
    };
    let rec = unsafe { &mut *entry.as_mut_ptr() };
    let mut valid = 0;
    let mut flags = 0;
    if let Some(gfp) = read::<u32>(oc, off!(oc_gfp_mask)) {
        rec.gfp_mask = gfp;
        valid |= OC_GFP_MASK;
    } else if off!(oc_gfp_mask) != ABSENT {
        count_error(KernelError::OomControl);
    }
    if let Some(order) = read::<i32>(oc, off!(oc_order)) {
        rec.order = order;
        valid |= OC_ORDER;
    }
    let memcg = read_ulong(oc, off!(oc_memcg));
    if let Some(memcg) = memcg {
        valid |= OC_MEMCG;
        if memcg != 0 {
            flags |= ENTER_MEMCG;
        }
        let css_off = off!(memcg_css);
        let css = if memcg == 0 || css_off == ABSENT {
            0
        } else {
            memcg + css_off as u64
        };
        fill_cgroup(css, addr_of_mut!(rec.memcg));
        if let Some(c) = read_page_counter(memcg_page_counter(memcg)) {
            rec.memcg_counters = c;
            valid |= OC_MEMCG_COUNTERS;
        }
    } else {
        fill_cgroup(0, addr_of_mut!(rec.memcg));
    }
    if let Some(nodemask) = read_ulong(oc, off!(oc_nodemask)) {
        valid |= OC_NODEMASK;
        if nodemask != 0 {
            flags |= ENTER_NODEMASK_SET;
            rec.nodemask = read_ulong(nodemask, 0).unwrap_or(0);
        }
    }
    rec.valid = valid;
    rec.flags = flags;
    fill_task(current_task(), addr_of_mut!(rec.trigger));
    entry.submit(BPF_RB_NO_WAKEUP);
    0
}

/// `oom_kill_process(struct oom_control *oc, const char *message)`: the victim.
#[kprobe]
pub fn oom_kill(ctx: ProbeContext) -> u32 {
    let oc: u64 = kprobe_arg(&ctx, 0).unwrap_or(0);
    let message: u64 = kprobe_arg(&ctx, 1).unwrap_or(0);
    let Some(mut entry) = reserve::<OomKillRecord>(RecordKind::OomKill) else {
        return 0;
    };
    let rec = unsafe { &mut *entry.as_mut_ptr() };
    let mut valid = 0;
    if let Some(c) = read::<u32>(oc, off!(oc_constraint)) {
        rec.constraint = c;
        valid |= OC_CONSTRAINT;
    }
    if let Some(t) = read_ulong(oc, off!(oc_totalpages)) {
        rec.totalpages = t;
        valid |= OC_TOTALPAGES;
    }
    if let Some(p) = read_long(oc, off!(oc_chosen_points)) {
        rec.chosen_points = p;
        valid |= OC_CHOSEN_POINTS;
    }
    if read_str(message, addr_of_mut!(rec.message)) {
        valid |= OC_MESSAGE;
    }
    rec.valid = valid;
    // 32-bit ARM cannot walk the stack from mark_victim's tracepoint
    // (`Arch::tracepoint_stack_walk`): this kprobe's registers are real.
    #[cfg(bpf_target_arch = "arm")]
    fill_stack(&ctx, addr_of_mut!(rec.stack));
    #[cfg(not(bpf_target_arch = "arm"))]
    {
        rec.stack.len_bytes = 0;
    }
    let victim = read_ulong(oc, off!(oc_chosen)).unwrap_or(0);
    // Without layouts (kernel-log mode) there is nothing to read: no error.
    if victim == 0 && off!(oc_chosen) != ABSENT {
        count_error(KernelError::NoVictim);
    }
    // A victim that is the OOM's own task (the usual memcg OOM) is read
    // by `mark_victim` as the trigger already.
    if victim == current_task() {
        rec.victim.valid = 0;
        rec.victim.cgroup.ok = 0;
    } else {
        fill_task(victim, addr_of_mut!(rec.victim));
    }
    let tid = unsafe { bpf_get_current_pid_tgid() } as u32;
    let _ = CHOSEN.insert(&tid, &victim, 0);
    entry.submit(BPF_RB_NO_WAKEUP);
    0
}

/// An `unsigned long` field of the raw tracepoint record, widened.
#[allow(
    clippy::unnecessary_cast,
    reason = "KULong and KLong are 32-bit on ARM"
)]
#[inline(always)]
fn tp_ulong(ctx: &TracePointContext, off: u32) -> Option<u64> {
    tp_field::<KULong>(ctx, off).map(|v| v as u64)
}

/// Reads a field of the raw tracepoint record at a planner-given offset.
#[inline(always)]
fn tp_field<T: Copy>(ctx: &TracePointContext, off: u32) -> Option<T> {
    if off == ABSENT {
        return None;
    }
    unsafe { ctx.read_at::<T>(off as usize).ok() }
}

/// `oom:mark_victim`: fires for every task the OOM killer marks, in the
/// context of the task that ran out of memory, with the whole path in its stack.
#[tracepoint]
pub fn mark_victim(ctx: TracePointContext) -> u32 {
    let tid = unsafe { bpf_get_current_pid_tgid() } as u32;
    let kprobes = unsafe { read_volatile(addr_of!(OOMTRACE_CONFIG.kprobes)) } != 0;
    let in_kprobe_oom = if kprobes {
        unsafe { OOM_THREADS.get(&tid) }.copied()
    } else {
        None
    };
    if in_kprobe_oom != Some(MEM_READ) {
        emit_mem_state(RecordKind::MarkVictim);
    }
    // The OOM's kill: its memory state is read (further members of a
    // memory.oom.group kill read it again); what is left is the victim's
    // rss as the `Killed process` line prints it, at the next printk.
    if in_kprobe_oom.is_some() {
        let _ = OOM_THREADS.insert(&tid, &AWAIT_PRINT, 0);
    }
    let Some(mut entry) = reserve::<MarkVictimRecord>(RecordKind::MarkVictim) else {
        return 0;
    };
    let rec = unsafe { &mut *entry.as_mut_ptr() };
    let v = &mut rec.victim;
    let pid = tp_field::<i32>(&ctx, layout!(pid));
    // In kprobe mode the victim's task is known: read its memory now, right
    // before the kernel prints it; the tracepoint's own fields, where this
    // kernel has them, take precedence below.
    let chosen = if kprobes {
        unsafe { CHOSEN.get(&tid) }.copied().unwrap_or(0)
    } else {
        0
    };
    let mut valid = 0;
    let from_task = chosen != 0 && read::<i32>(chosen, off!(task_tgid)) == pid;
    if from_task {
        fill_task(chosen, v);
        valid = v.valid & !TASK_PID;
    }
    if let Some(pid) = pid {
        v.pid = pid;
        valid |= TASK_PID;
    }
    // `__data_loc char[] comm`: the low half is the offset, the high half the length.
    if let Some(loc) = tp_field::<u32>(&ctx, layout!(comm)) {
        let src = ctx.as_ptr() as u64 + (loc & 0xffff) as u64;
        if read_str(src, addr_of_mut!(v.comm)) {
            valid |= TASK_COMM;
        }
    }
    if let Some(kb) = tp_ulong(&ctx, layout!(total_vm)) {
        v.total_vm_kb = kb;
        valid |= TASK_TOTAL_VM;
    }
    // The tracepoint's rss (where the kernel has it, 5.10 and 6.1 by
    // Debian's backport too) is the mm's count at this moment, without the
    // deltas a victim flushes before the kernel prints it: the task's own
    // reading, which folds them in, wins.
    let rss_from_task = from_task && valid & TASK_RSS != 0;
    if let (false, Some(anon), Some(file), Some(shmem)) = (
        rss_from_task,
        tp_ulong(&ctx, layout!(anon_rss)),
        tp_ulong(&ctx, layout!(file_rss)),
        tp_ulong(&ctx, layout!(shmem_rss)),
    ) {
        v.anon_rss_kb = anon;
        v.file_rss_kb = file;
        v.shmem_rss_kb = shmem;
        valid |= TASK_RSS;
    }
    if let Some(uid) = tp_field::<u32>(&ctx, layout!(uid)) {
        v.uid = uid;
        valid |= TASK_UID;
    }
    if let Some(kb) = tp_ulong(&ctx, layout!(pgtables)) {
        v.pgtables_kb = kb;
        valid |= TASK_PGTABLES;
    }
    if let Some(adj) = tp_field::<i16>(&ctx, layout!(oom_score_adj)) {
        v.oom_score_adj = adj;
        valid |= TASK_OOM_SCORE_ADJ;
    }
    v.valid = valid;
    if !from_task {
        v.cgroup.ok = 0;
    }
    let current = current_task();
    fill_task(current, addr_of_mut!(rec.trigger));
    fill_memcg_chain(task_memcg(current), rec);
    fill_stack(&ctx, addr_of_mut!(rec.stack));
    rec.user_stack_len_bytes = unsafe {
        bpf_get_stack(
            ctx.as_ptr(),
            addr_of_mut!(rec.user_stack).cast(),
            (MAX_USER_STACK_DEPTH * 8) as u32,
            BPF_F_USER_STACK,
        )
    } as i32;
    submit_soon(entry);
    0
}

const BPF_F_USER_STACK: u64 = 1 << 8;

/// raw tracepoint `mark_victim` (tracepoint mode, kernels whose tracepoint
/// passes the victim's task): copies the top of the OOM task's kernel
/// stack, where the OOM's `struct oom_control` is a local variable;
/// userspace finds it by its `chosen`, the victim. One copy, no loop.
#[raw_tracepoint(tracepoint = "mark_victim")]
pub fn mark_victim_stack(ctx: RawTracePointContext) -> u32 {
    let victim: u64 = ctx.arg(0);
    let base = read_ulong(current_task(), off!(task_stack)).unwrap_or(0);
    let size = off!(thread_size) as u64;
    if base == 0 || size == 0 || size == ABSENT as u64 {
        return 0;
    }
    let Some(mut entry) = reserve::<OomStackRecord>(RecordKind::OomStack) else {
        return 0;
    };
    let rec = unsafe { &mut *entry.as_mut_ptr() };
    rec.victim_task = victim;
    rec.stack_top = base + size;
    // A victim that is the OOM's own task (the usual memcg OOM) is read
    // by `mark_victim` as the trigger already.
    if victim == current_task() {
        rec.victim.valid = 0;
        rec.victim.cgroup.ok = 0;
    } else {
        fill_task(victim, addr_of_mut!(rec.victim));
    }
    // Only the live part of the stack is copied: from the raw tracepoint's
    // arguments, which `bpf_trace_run` keeps on this task's stack right
    // below the tracepoint's caller, to the top. Below them lie this
    // program's frames and those of calls that returned, with stale words
    // (the victim's task among them) that could pass for an oom_control.
    // The verifier does no arithmetic on a context pointer: it goes through
    // the record, where it is read back as a number.
    unsafe { write_volatile(addr_of_mut!(rec.args), ctx.as_ptr() as u64) };
    let args = unsafe { read_volatile(addr_of!(rec.args)) };
    let live = if args > base && args < rec.stack_top {
        rec.stack_top - args
    } else {
        size
    };
    let len = if live < STACK_COPY as u64 {
        live
    } else {
        STACK_COPY as u64
    };
    rec.len = 0;
    if len > 0
        && len <= STACK_COPY as u64
        && unsafe {
            bpf_probe_read_kernel(
                addr_of_mut!(rec.stack).cast(),
                len as u32,
                (rec.stack_top - len) as *const c_void,
            )
        } == 0
    {
        rec.len = len as u32;
    } else {
        count_error(KernelError::OomStack);
    }
    entry.submit(BPF_RB_NO_WAKEUP);
    0
}

/// The `memory` counters of `memcg` and its ancestors, leaf first.
#[inline(always)]
#[allow(
    clippy::needless_range_loop,
    reason = "a counted loop the verifier bounds; the walk also follows `counter`"
)]
fn fill_memcg_chain(memcg: u64, rec: &mut MarkVictimRecord) {
    let mut counter = memcg_page_counter(memcg);
    let parent = mem!(counter_parent);
    let mut levels = 0;
    for i in 0..CGROUP_MAX_DEPTH + 1 {
        let Some(c) = read_page_counter(counter) else {
            break;
        };
        rec.memcg_chain[i] = c;
        levels += 1;
        counter = read_ulong(counter, parent).unwrap_or(0);
    }
    rec.memcg_levels = levels;
}

#[inline(always)]
fn reaper(ctx: &TracePointContext, step: ReaperStep) -> u32 {
    let Some(mut entry) = reserve::<ReaperRecord>(RecordKind::Reaper) else {
        return 0;
    };
    let rec = unsafe { &mut *entry.as_mut_ptr() };
    rec.step = step as u32;
    rec.pid = tp_field::<i32>(ctx, layout!(reaper_pid)).unwrap_or(-1);
    submit_soon(entry);
    0
}

#[tracepoint]
pub fn wake_reaper(ctx: TracePointContext) -> u32 {
    reaper(&ctx, ReaperStep::WakeReaper)
}

#[tracepoint]
pub fn start_task_reaping(ctx: TracePointContext) -> u32 {
    reaper(&ctx, ReaperStep::StartTaskReaping)
}

#[tracepoint]
pub fn finish_task_reaping(ctx: TracePointContext) -> u32 {
    reaper(&ctx, ReaperStep::FinishTaskReaping)
}

#[tracepoint]
pub fn skip_task_reaping(ctx: TracePointContext) -> u32 {
    reaper(&ctx, ReaperStep::SkipTaskReaping)
}

/// Copies a tracepoint's record as it is; userspace decodes it with the
/// tracepoint's format.
#[inline(always)]
fn raw_tracepoint(ctx: &TracePointContext, event: u32) -> u32 {
    let Some(mut entry) = reserve::<RawTracepointRecord>(RecordKind::RawTracepoint) else {
        return 0;
    };
    let rec = unsafe { &mut *entry.as_mut_ptr() };
    rec.event = event;
    copy_raw(&mut rec.data, ctx.as_ptr() as u64);
    entry.submit(BPF_RB_NO_WAKEUP);
    0
}

/// `oom:reclaim_retry_zone`: the allocator weighing one more reclaim round
/// for a zone, right before it gives up and calls the OOM killer.
#[tracepoint]
pub fn reclaim_retry_zone(ctx: TracePointContext) -> u32 {
    raw_tracepoint(&ctx, RAW_RECLAIM_RETRY_ZONE)
}

/// `oom:compact_retry`: the same for compaction (costly orders).
#[tracepoint]
pub fn compact_retry(ctx: TracePointContext) -> u32 {
    raw_tracepoint(&ctx, RAW_COMPACT_RETRY)
}

/// `printk` (`_printk` since 5.15), armed only between a kill's
/// `mark_victim` and its thread's next printk — the `Killed process` line,
/// whose arguments the kernel has just read: the victim's mm counters read
/// now are the ones printed. (Before 6.2 a woken victim may or may not have
/// flushed its cached rss deltas by then; the kernel prints what is there.)
#[kprobe]
pub fn print_rss(_ctx: ProbeContext) -> u32 {
    let tid = unsafe { bpf_get_current_pid_tgid() } as u32;
    if unsafe { OOM_THREADS.get(&tid) }.copied() != Some(AWAIT_PRINT) {
        return 0;
    }
    let _ = OOM_THREADS.remove(&tid);
    let victim = unsafe { CHOSEN.get(&tid) }.copied().unwrap_or(0);
    let _ = CHOSEN.remove(&tid);
    let mm = read_ulong(victim, off!(task_mm)).unwrap_or(0);
    let (Some([file, anon, shmem]), Some(pid)) = (
        mm_counters(victim, mm, false),
        read::<i32>(victim, off!(task_tgid)),
    ) else {
        return 0;
    };
    let Some(mut entry) = reserve::<PrintRssRecord>(RecordKind::PrintRss) else {
        return 0;
    };
    let kb = off!(page_shift).saturating_sub(10);
    let rec = unsafe { &mut *entry.as_mut_ptr() };
    rec.pid = pid;
    rec.file_rss_kb = file << kb;
    rec.anon_rss_kb = anon << kb;
    rec.shmem_rss_kb = shmem << kb;
    entry.submit(BPF_RB_NO_WAKEUP);
    0
}

/// `mem_cgroup_print_oom_meminfo(memcg)`: a memcg OOM's `memory: usage`
/// line is printed right after this entry; its counter read here is the one
/// the kernel prints (others may charge in the microseconds between).
#[kprobe]
pub fn memcg_print(ctx: ProbeContext) -> u32 {
    let tid = unsafe { bpf_get_current_pid_tgid() } as u32;
    if unsafe { OOM_THREADS.get(&tid) }.is_none() {
        return 0;
    }
    let memcg: u64 = kprobe_arg(&ctx, 0).unwrap_or(0);
    let Some(c) = read_page_counter(memcg_page_counter(memcg)) else {
        return 0;
    };
    let Some(mut entry) = reserve::<MemcgPrintRecord>(RecordKind::MemcgPrint) else {
        return 0;
    };
    unsafe { (*entry.as_mut_ptr()).counters = c };
    entry.submit(BPF_RB_NO_WAKEUP);
    0
}

/// `show_free_areas` / `__show_free_areas`: the stack at the point the
/// kernel's report dumps memory, as the seed's sysrq-f trace shows it.
#[kprobe]
pub fn show_free_areas(ctx: ProbeContext) -> u32 {
    // Only the OOM report's call belongs to an OOM, not sysrq-m's or a
    // failed allocation's warning.
    let tid = unsafe { bpf_get_current_pid_tgid() } as u32;
    if unsafe { OOM_THREADS.get(&tid) }.is_none() {
        return 0;
    }
    emit_mem_state(RecordKind::ShowFreeAreas);
    let _ = OOM_THREADS.insert(&tid, &MEM_READ, 0);
    let Some(mut entry) = reserve::<ShowFreeAreasRecord>(RecordKind::ShowFreeAreas) else {
        return 0;
    };
    fill_stack(&ctx, unsafe { addr_of_mut!((*entry.as_mut_ptr()).stack) });
    entry.submit(BPF_RB_NO_WAKEUP);
    0
}

#[cfg(not(test))]
#[panic_handler]
fn panic(_info: &core::panic::PanicInfo) -> ! {
    loop {}
}

/// `bpf_probe_read_kernel` and `bpf_get_stack` on kprobes need a GPL-compatible license.
#[unsafe(link_section = "license")]
#[unsafe(no_mangle)]
static LICENSE: [u8; 4] = *b"GPL\0";
