//! The records that cross the ring buffer, and the configuration the planner
//! writes into the eBPF object before it is loaded.
//!
//! Both sides compile this file: the BPF programs fill these structs in place
//! inside ring-buffer reservations, userspace reads them back byte for byte.
//! Everything is `#[repr(C)]`, made of fixed-width integers and byte arrays,
//! so there is exactly one layout.
#![no_std]

/// Bytes of a task's `comm`, as the kernel's `TASK_COMM_LEN`.
pub const COMM_LEN: usize = 16;
/// Kernel frames kept per stack; the OOM path is about 30 deep at most.
pub const MAX_STACK_DEPTH: usize = 48;
/// Path components of a cgroup, leaf first; deeper paths are marked truncated.
pub const CGROUP_MAX_DEPTH: usize = 8;
/// Bytes kept of one cgroup path component.
pub const CGROUP_NAME_LEN: usize = 64;
/// Bytes kept of `oom_kill_process`'s message ("Memory cgroup out of memory").
pub const MESSAGE_LEN: usize = 48;
/// Counters of `enum node_stat_item` / `enum zone_stat_item` we have room for.
pub const MAX_NODE_STATS: usize = 64;
pub const MAX_ZONE_STATS: usize = 16;
/// Zones per node we read (`MAX_NR_ZONES` is at most 5 on x86_64 and arm64).
pub const MAX_ZONES: usize = 6;
/// Buddy orders per zone we read (`NR_PAGE_ORDERS` is 11 on x86_64, up to 14 elsewhere).
pub const MAX_ORDERS: usize = 14;
/// Bytes kept of a zone's name.
pub const ZONE_NAME_LEN: usize = 12;

/// A field the planner could not resolve on this kernel. The BPF side skips
/// it and the field arrives as `null`, never as a wrong number.
pub const ABSENT: u32 = u32::MAX;

/// What a record is. The first `u32` of every record.
#[repr(u32)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RecordKind {
    /// kprobe `out_of_memory` entry: the request (gfp, order, memcg) and who made it.
    OomEnter = 1,
    /// kprobe `oom_kill_process` entry: the chosen victim, its score, the message.
    OomKill = 2,
    /// kretprobe `out_of_memory`: the result.
    OomExit = 3,
    /// tracepoint `oom:mark_victim`: the victim as the kernel marked it, the current
    /// task and the kernel stack (the whole path through `__oom_kill_process`).
    MarkVictim = 4,
    /// tracepoints `oom:wake_reaper`, `oom:*_task_reaping`.
    Reaper = 5,
    /// Memory counters and zones, read at the OOM.
    MemState = 6,
    /// kprobe on `show_free_areas` / `__show_free_areas`: the stack at that point.
    ShowFreeAreas = 7,
}

impl RecordKind {
    pub fn from_u32(v: u32) -> Option<Self> {
        Some(match v {
            1 => Self::OomEnter,
            2 => Self::OomKill,
            3 => Self::OomExit,
            4 => Self::MarkVictim,
            5 => Self::Reaper,
            6 => Self::MemState,
            7 => Self::ShowFreeAreas,
            _ => return None,
        })
    }
}

/// The start of every record.
#[repr(C)]
#[derive(Clone, Copy, Debug)]
pub struct Header {
    pub kind: u32,
    pub cpu: u32,
    /// `bpf_get_current_pid_tgid()`: tgid in the high half, tid in the low half.
    pub pid_tgid: u64,
    /// `bpf_ktime_get_ns()`, CLOCK_MONOTONIC.
    pub ktime_ns: u64,
}

/// A kernel stack, innermost frame first.
#[repr(C)]
#[derive(Clone, Copy)]
pub struct Stack {
    /// Bytes `bpf_get_stack` wrote (a multiple of 8), or a negative errno.
    pub len_bytes: i64,
    pub ips: [u64; MAX_STACK_DEPTH],
}

/// A cgroup path as kernfs names, leaf first. `depth` names are valid.
#[repr(C)]
#[derive(Clone, Copy)]
pub struct CgroupPath {
    /// Valid names; 0 with `ok == 1` is the root ("/").
    pub depth: u32,
    /// 1 when the walk ran out of room before reaching the root.
    pub truncated: u8,
    /// 1 when the path was read at all.
    pub ok: u8,
    pub _pad: [u8; 2],
    pub names: [[u8; CGROUP_NAME_LEN]; CGROUP_MAX_DEPTH],
}

/// The task a record talks about: the trigger (current) or the victim.
#[repr(C)]
#[derive(Clone, Copy)]
pub struct TaskInfo {
    /// Bits of `TASK_*` saying which fields below were read.
    pub valid: u32,
    pub pid: i32,
    pub tgid: i32,
    pub uid: u32,
    pub oom_score_adj: i16,
    pub _pad: [u8; 6],
    pub comm: [u8; COMM_LEN],
    /// `mm->total_vm` in kB, as the kernel's `Killed process` line prints it.
    pub total_vm_kb: u64,
    /// `MM_FILEPAGES`, `MM_ANONPAGES`, `MM_SHMEMPAGES`, in kB.
    pub file_rss_kb: u64,
    pub anon_rss_kb: u64,
    pub shmem_rss_kb: u64,
    /// `mm->pgtables_bytes` in kB.
    pub pgtables_kb: u64,
    pub cgroup: CgroupPath,
}

pub const TASK_PID: u32 = 1 << 0;
pub const TASK_TGID: u32 = 1 << 1;
pub const TASK_UID: u32 = 1 << 2;
pub const TASK_OOM_SCORE_ADJ: u32 = 1 << 3;
pub const TASK_COMM: u32 = 1 << 4;
pub const TASK_TOTAL_VM: u32 = 1 << 5;
pub const TASK_RSS: u32 = 1 << 6;
pub const TASK_PGTABLES: u32 = 1 << 7;

#[repr(C)]
#[derive(Clone, Copy)]
pub struct OomEnterRecord {
    pub hdr: Header,
    /// Bits of `OC_*` saying which fields were read.
    pub valid: u32,
    pub gfp_mask: u32,
    pub order: i32,
    /// `ENTER_*` bits.
    pub flags: u32,
    /// First word of `*oc->nodemask`; only meaningful with `ENTER_NODEMASK_SET`.
    pub nodemask: u64,
    pub trigger: TaskInfo,
    /// The OOM domain for memcg OOMs (`oc->memcg`).
    pub memcg: CgroupPath,
    pub stack: Stack,
}

/// `oc->memcg` is set: a memory-cgroup OOM.
pub const ENTER_MEMCG: u32 = 1 << 0;
/// `oc->nodemask` is not NULL.
pub const ENTER_NODEMASK_SET: u32 = 1 << 1;

pub const OC_GFP_MASK: u32 = 1 << 0;
pub const OC_ORDER: u32 = 1 << 1;
pub const OC_MEMCG: u32 = 1 << 2;
pub const OC_NODEMASK: u32 = 1 << 3;
pub const OC_TOTALPAGES: u32 = 1 << 4;
pub const OC_CHOSEN_POINTS: u32 = 1 << 5;
pub const OC_CONSTRAINT: u32 = 1 << 6;
pub const OC_MESSAGE: u32 = 1 << 7;

#[repr(C)]
#[derive(Clone, Copy)]
pub struct OomKillRecord {
    pub hdr: Header,
    pub valid: u32,
    /// `enum oom_constraint`.
    pub constraint: u32,
    pub totalpages: u64,
    pub chosen_points: i64,
    pub message: [u8; MESSAGE_LEN],
    pub victim: TaskInfo,
}

#[repr(C)]
#[derive(Clone, Copy)]
pub struct OomExitRecord {
    pub hdr: Header,
    /// `out_of_memory`'s return value: true when it made progress.
    pub result: u64,
}

#[repr(C)]
#[derive(Clone, Copy)]
pub struct MarkVictimRecord {
    pub hdr: Header,
    /// The victim as the tracepoint describes it; `valid` says which fields the
    /// tracepoint carries on this kernel (old kernels: the pid only).
    pub victim: TaskInfo,
    /// The current task: the one whose allocation ran out of memory, or the
    /// sysrq kworker.
    pub trigger: TaskInfo,
    pub stack: Stack,
}

#[repr(u32)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ReaperStep {
    WakeReaper = 1,
    StartTaskReaping = 2,
    FinishTaskReaping = 3,
    SkipTaskReaping = 4,
}

impl ReaperStep {
    pub fn from_u32(v: u32) -> Option<Self> {
        Some(match v {
            1 => Self::WakeReaper,
            2 => Self::StartTaskReaping,
            3 => Self::FinishTaskReaping,
            4 => Self::SkipTaskReaping,
            _ => return None,
        })
    }
}

#[repr(C)]
#[derive(Clone, Copy)]
pub struct ReaperRecord {
    pub hdr: Header,
    pub step: u32,
    /// The victim's pid, as the tracepoint gives it.
    pub pid: i32,
}

/// One zone of one node, as `show_free_areas()` prints it.
#[repr(C)]
#[derive(Clone, Copy)]
pub struct ZoneState {
    /// 1 when the zone was read; unpopulated zones have `managed == 0`.
    pub ok: u32,
    pub node: u32,
    pub name: [u8; ZONE_NAME_LEN],
    pub _pad: u32,
    /// `_watermark[WMARK_MIN..=WMARK_HIGH]` plus `watermark_boost`, pages.
    pub watermark: [u64; 3],
    pub boost: u64,
    pub managed: u64,
    pub present: u64,
    /// `vm_stat[]` of the zone, by `enum zone_stat_item`.
    pub vm_stat: [i64; MAX_ZONE_STATS],
    /// `free_area[order].nr_free`.
    pub nr_free: [u64; MAX_ORDERS],
}

#[repr(C)]
#[derive(Clone, Copy)]
pub struct MemStateRecord {
    pub hdr: Header,
    /// Which probe read this (a `RecordKind` value) so userspace can attach it.
    pub at: u32,
    /// How the counters were reached: one of `MEM_PATH_*`.
    pub path: u32,
    pub node_stat_count: u32,
    pub zone_count: u32,
    /// `vm_node_stat[]` (global) or the node's `vm_stat[]`, by `enum node_stat_item`.
    pub node_stat: [i64; MAX_NODE_STATS],
    /// `vm_zone_stat[]`, by `enum zone_stat_item`; all zero when read per zone.
    pub zone_stat: [i64; MAX_ZONE_STATS],
    pub zones: [ZoneState; MAX_ZONES],
    /// For memcg OOMs: the OOM domain's `memory.usage` and limit, pages.
    pub memcg_usage: u64,
    pub memcg_limit: u64,
}

pub const MEM_PATH_NONE: u32 = 0;
/// Global counters at kallsyms addresses (`CONFIG_KALLSYMS_ALL`).
pub const MEM_PATH_KALLSYMS: u32 = 1;
/// Through the current task's memory cgroup → `lruvec.pgdat` → `pglist_data`.
pub const MEM_PATH_PGDAT: u32 = 2;

#[repr(C)]
#[derive(Clone, Copy)]
pub struct ShowFreeAreasRecord {
    pub hdr: Header,
    pub stack: Stack,
}

/// Layout of `oom:mark_victim` on this kernel, from its tracefs `format` file.
/// Offsets are from the start of the raw record; `ABSENT` where the kernel's
/// tracepoint lacks the field.
#[repr(C)]
#[derive(Clone, Copy, Debug)]
pub struct MarkVictimLayout {
    pub pid: u32,
    pub comm: u32,
    pub total_vm: u32,
    pub anon_rss: u32,
    pub file_rss: u32,
    pub shmem_rss: u32,
    pub uid: u32,
    pub pgtables: u32,
    pub oom_score_adj: u32,
    /// `pid` of the reaper tracepoints (`oom:wake_reaper`, `oom:*_task_reaping`).
    pub reaper_pid: u32,
}

/// Field offsets in kernel structs, from BTF. `ABSENT` where this kernel
/// lacks the field (then the fields that need it arrive as `null`).
#[repr(C)]
#[derive(Clone, Copy, Debug)]
pub struct KernelOffsets {
    // struct oom_control
    pub oc_zonelist: u32,
    pub oc_nodemask: u32,
    pub oc_memcg: u32,
    pub oc_gfp_mask: u32,
    pub oc_order: u32,
    pub oc_totalpages: u32,
    pub oc_chosen: u32,
    pub oc_chosen_points: u32,
    pub oc_constraint: u32,
    // struct task_struct
    pub task_pid: u32,
    pub task_tgid: u32,
    pub task_comm: u32,
    pub task_signal: u32,
    pub task_cgroups: u32,
    pub task_mm: u32,
    pub task_cred: u32,
    // struct signal_struct, struct cred
    pub signal_oom_score_adj: u32,
    pub cred_uid: u32,
    // struct css_set, struct cgroup_subsys_state, struct cgroup, struct kernfs_node
    pub css_set_subsys: u32,
    /// `memory_cgrp_id` in `enum cgroup_subsys_id`.
    pub memory_cgrp_id: u32,
    pub css_cgroup: u32,
    pub cgroup_kn: u32,
    pub kn_name: u32,
    pub kn_parent: u32,
    // struct mm_struct
    pub mm_total_vm: u32,
    pub mm_rss_stat: u32,
    /// Bytes between two entries of `mm->rss_stat` (an `atomic_long_t` array
    /// before 6.2, `struct percpu_counter` array since).
    pub mm_rss_stride: u32,
    /// Offset of the count inside one entry (`percpu_counter.count`, or 0).
    pub mm_rss_count: u32,
    pub mm_pgtables_bytes: u32,
    /// `task_struct.rss_stat.count`: the per-thread cache of rss deltas
    /// (`SPLIT_RSS_COUNTING`, kernels before 6.2), flushed into the mm on exit.
    pub task_rss_cache: u32,
    /// `enum mm_counter` values.
    pub mm_filepages: u32,
    pub mm_anonpages: u32,
    pub mm_shmempages: u32,
    /// `struct mem_cgroup`'s `css`.
    pub memcg_css: u32,
    /// log2 of the page size, to report pages in kB.
    pub page_shift: u32,
}

/// Everything the planner tells the BPF programs. Written into the object as
/// the global `OOMTRACE_CONFIG` before load.
#[repr(C)]
#[derive(Clone, Copy, Debug)]
pub struct Config {
    /// 1 when the planner filled this in (a zeroed config is a bug, not a kernel).
    pub planned: u32,
    pub mark_victim: MarkVictimLayout,
    pub off: KernelOffsets,
}

impl Config {
    /// Every offset unknown: each program then reads only what needs no offset.
    pub const fn unplanned() -> Self {
        const A: u32 = ABSENT;
        Self {
            planned: 0,
            mark_victim: MarkVictimLayout {
                pid: A,
                comm: A,
                total_vm: A,
                anon_rss: A,
                file_rss: A,
                shmem_rss: A,
                uid: A,
                pgtables: A,
                oom_score_adj: A,
                reaper_pid: A,
            },
            off: KernelOffsets {
                oc_zonelist: A,
                oc_nodemask: A,
                oc_memcg: A,
                oc_gfp_mask: A,
                oc_order: A,
                oc_totalpages: A,
                oc_chosen: A,
                oc_chosen_points: A,
                oc_constraint: A,
                task_pid: A,
                task_tgid: A,
                task_comm: A,
                task_signal: A,
                task_cgroups: A,
                task_mm: A,
                task_cred: A,
                signal_oom_score_adj: A,
                cred_uid: A,
                css_set_subsys: A,
                memory_cgrp_id: A,
                css_cgroup: A,
                cgroup_kn: A,
                kn_name: A,
                kn_parent: A,
                mm_total_vm: A,
                mm_rss_stat: A,
                mm_rss_stride: A,
                mm_rss_count: A,
                mm_pgtables_bytes: A,
                task_rss_cache: A,
                mm_filepages: A,
                mm_anonpages: A,
                mm_shmempages: A,
                memcg_css: A,
                page_shift: 12,
            },
        }
    }
}

#[cfg(feature = "user")]
mod user {
    // SAFETY: plain #[repr(C)] data of integers, no padding the kernel could
    // misread, no pointers.
    unsafe impl aya::Pod for super::Config {}
}
