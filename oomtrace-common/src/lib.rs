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
/// NUMA nodes whose memory state is read at an OOM.
pub const MAX_NODES: usize = 16;
/// User frames kept of the triggering task.
pub const MAX_USER_STACK_DEPTH: usize = 32;

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
    /// A tracepoint's raw record, decoded in userspace from its tracefs
    /// format (`oom:reclaim_retry_zone`, `oom:compact_retry`).
    RawTracepoint = 8,
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
            8 => Self::RawTracepoint,
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
    /// Its `memory` counter (with `OC_MEMCG_COUNTERS`).
    pub memcg_counters: MemcgCounters,
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
pub const OC_MEMCG_COUNTERS: u32 = 1 << 8;

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
    /// The `memory` counters of the trigger's memory cgroup and its
    /// ancestors, leaf first, as many as `trigger.cgroup.depth` (+1 for the
    /// root): in tracepoint mode the OOM domain is the level at its limit.
    pub memcg_chain: [MemcgCounters; CGROUP_MAX_DEPTH + 1],
    pub memcg_levels: u32,
    /// Bytes `bpf_get_stack(BPF_F_USER_STACK)` wrote, or a negative errno.
    pub user_stack_len_bytes: i32,
    pub user_stack: [u64; MAX_USER_STACK_DEPTH],
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

/// Bytes of a node's `node_zones[]` copied per OOM (5 zones of about 2 KiB
/// on x86_64; zones past this are not reported).
pub const ZONES_RAW_MAX: usize = 16384;

/// One NUMA node's memory state: its counters and its `node_zones[]` as raw
/// bytes, which userspace takes apart with BTF offsets (zones, watermarks,
/// counters, buddy free lists). One copy instead of a read per field keeps
/// the in-kernel cost to a few microseconds and the verifier to one path.
/// The first node's record also carries the global counters when they were
/// read at their kallsyms addresses.
#[repr(C)]
#[derive(Clone, Copy)]
pub struct MemStateRecord {
    pub hdr: Header,
    /// The probe that read this (a `RecordKind` value).
    pub at: u32,
    /// How the node was reached: one of `MEM_PATH_*`.
    pub path: u32,
    pub node: u32,
    /// `MEM_*` bits.
    pub valid: u32,
    pub kswapd_failures: u32,
    /// Bytes of `zones_raw` copied (0: none).
    pub zones_len: u32,
    /// The node's `vm_stat[]`, by `enum node_stat_item`.
    pub node_stat: [i64; MAX_NODE_STATS],
    /// `vm_node_stat[]` and `vm_zone_stat[]` (with `MEM_GLOBAL`).
    pub global_node_stat: [i64; MAX_NODE_STATS],
    pub global_zone_stat: [i64; MAX_ZONE_STATS],
    /// Where `node_zones[]` is: the free lists' heads point into it.
    pub zones_addr: u64,
    pub zones_raw: [u8; ZONES_RAW_MAX],
}

/// `node_stat` and `kswapd_failures` were read.
pub const MEM_NODE: u32 = 1 << 0;
/// `global_node_stat` and `global_zone_stat` were read.
pub const MEM_GLOBAL: u32 = 1 << 1;

/// Node data at kallsyms addresses (`node_data`, `contig_page_data`; needs
/// `CONFIG_KALLSYMS_ALL`).
pub const MEM_PATH_KALLSYMS: u32 = 1;
/// The current task's memory cgroup → `nodeinfo[nid]->lruvec.pgdat`.
pub const MEM_PATH_MEMCG: u32 = 2;

/// A memory cgroup's `memory` page counter, pages.
#[repr(C)]
#[derive(Clone, Copy, Default)]
pub struct MemcgCounters {
    pub usage: u64,
    pub max: u64,
    pub failcnt: u64,
}

/// Bytes kept of a raw tracepoint record (the two retry tracepoints use 56).
pub const RAW_TP_LEN: usize = 64;

/// Which tracepoint a `RawTracepointRecord` copies.
pub const RAW_RECLAIM_RETRY_ZONE: u32 = 1;
pub const RAW_COMPACT_RETRY: u32 = 2;

#[repr(C)]
#[derive(Clone, Copy)]
pub struct RawTracepointRecord {
    pub hdr: Header,
    /// `RAW_*`.
    pub event: u32,
    pub _pad: u32,
    pub data: [u8; RAW_TP_LEN],
}

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

/// Where a node's memory state lives on this kernel, from BTF, kallsyms and
/// sysfs. `ABSENT` offsets and zero addresses mean "no such path".
#[repr(C)]
#[derive(Clone, Copy, Debug)]
pub struct MemLayout {
    // struct pglist_data
    pub pgdat_node_zones: u32,
    /// `MAX_NR_ZONES`: the length of `node_zones[]` and `lowmem_reserve[]`.
    pub nr_zones: u32,
    pub pgdat_vm_stat: u32,
    pub pgdat_kswapd_failures: u32,
    // struct zone
    pub zone_size: u32,
    pub zone_watermark: u32,
    pub zone_watermark_boost: u32,
    pub zone_reserved_highatomic: u32,
    pub zone_lowmem_reserve: u32,
    pub zone_managed: u32,
    pub zone_present: u32,
    pub zone_free_area: u32,
    pub zone_vm_stat: u32,
    // struct free_area
    pub free_area_size: u32,
    pub free_area_nr_free: u32,
    /// `NR_PAGE_ORDERS` (the length of `free_area[]`).
    pub nr_orders: u32,
    /// `MIGRATE_TYPES` (the length of `free_list[]`).
    pub migrate_types: u32,
    /// `NR_VM_NODE_STAT_ITEMS`, `NR_VM_ZONE_STAT_ITEMS`.
    pub node_stat_items: u32,
    pub zone_stat_items: u32,
    // struct mem_cgroup, struct page_counter, struct mem_cgroup_per_node, struct lruvec
    pub memcg_memory: u32,
    pub counter_usage: u32,
    pub counter_max: u32,
    pub counter_failcnt: u32,
    pub counter_parent: u32,
    pub memcg_nodeinfo: u32,
    pub memcg_node_lruvec: u32,
    pub lruvec_pgdat: u32,
    pub _pad: u32,
    /// kallsyms addresses (0 when kallsyms lists no data symbols).
    pub node_data: u64,
    pub contig_page_data: u64,
    pub vm_node_stat: u64,
    pub vm_zone_stat: u64,
    /// Online NUMA nodes (`/sys/devices/system/node/online`), bit per node id.
    pub online_nodes: u64,
}

impl Default for MemLayout {
    fn default() -> Self {
        Self::unplanned()
    }
}

impl MemLayout {
    pub const fn unplanned() -> Self {
        const A: u32 = ABSENT;
        Self {
            pgdat_node_zones: A,
            nr_zones: A,
            pgdat_vm_stat: A,
            pgdat_kswapd_failures: A,
            zone_size: A,
            zone_watermark: A,
            zone_watermark_boost: A,
            zone_reserved_highatomic: A,
            zone_lowmem_reserve: A,
            zone_managed: A,
            zone_present: A,
            zone_free_area: A,
            zone_vm_stat: A,
            free_area_size: A,
            free_area_nr_free: A,
            nr_orders: A,
            migrate_types: A,
            node_stat_items: A,
            zone_stat_items: A,
            memcg_memory: A,
            counter_usage: A,
            counter_max: A,
            counter_failcnt: A,
            counter_parent: A,
            memcg_nodeinfo: A,
            memcg_node_lruvec: A,
            lruvec_pgdat: A,
            _pad: 0,
            node_data: 0,
            contig_page_data: 0,
            vm_node_stat: 0,
            vm_zone_stat: 0,
            online_nodes: 1,
        }
    }
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
    pub mem: MemLayout,
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
            mem: MemLayout::unplanned(),
        }
    }
}

#[cfg(feature = "user")]
mod user {
    // SAFETY: plain #[repr(C)] data of integers, no padding the kernel could
    // misread, no pointers.
    unsafe impl aya::Pod for super::Config {}

    // Pod promises no padding: every field is 4 or 8 bytes and laid out so.
    const _: () = {
        use super::*;
        use core::mem::size_of;
        assert!(
            size_of::<Config>()
                == 4 + size_of::<MarkVictimLayout>()
                    + size_of::<KernelOffsets>()
                    + size_of::<MemLayout>()
        );
        assert!(size_of::<MemLayout>() == 28 * 4 + 5 * 8);
    };
}
