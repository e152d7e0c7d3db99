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
/// Bytes kept of one cgroup path component: 127 and the NUL hold every
/// container runtime's names (`cri-containerd-<64 hex>.scope` is 85,
/// `kubepods-burstable-pod<uid>.slice` 64), and 24 OOMs' records still fit
/// the default 1 MiB ring buffer (256 would double it).
pub const CGROUP_NAME_LEN: usize = 128;
/// Bytes kept of `oom_kill_process`'s message ("Memory cgroup out of memory").
pub const MESSAGE_LEN: usize = 48;
/// Counters of `enum node_stat_item` / `enum zone_stat_item` we have room for.
pub const MAX_NODE_STATS: usize = 128;
pub const MAX_ZONE_STATS: usize = 16;
/// NUMA nodes whose memory state is read at an OOM.
pub const MAX_NODES: usize = 16;
/// CPUs whose parts of a victim's rss counters are summed (7.0+ kernels
/// print that sum); beyond, the rss is not read.
pub const MAX_CPUS: u32 = 1024;
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
    // 3 was the return of `out_of_memory`: no return probe is used, since
    // its trampoline replaced the caller's frame in the kernel's own report.
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
    /// raw tracepoint `mark_victim` (tracepoint mode): the victim's task
    /// pointer and the top of the OOM task's kernel stack, where the
    /// `struct oom_control` of the OOM lives.
    OomStack = 9,
    /// kprobe `mem_cgroup_print_oom_meminfo`: the memcg's counter read as
    /// the kernel prints its `memory: usage` line.
    MemcgPrint = 10,
    /// kprobe `printk` after a kill (kprobe mode): the victim's rss as the
    /// kernel formats its `Killed process` line.
    PrintRss = 11,
}

impl RecordKind {
    /// Every kind, in the order of their values.
    pub const ALL: [Self; 10] = [
        Self::OomEnter,
        Self::OomKill,
        Self::MarkVictim,
        Self::Reaper,
        Self::MemState,
        Self::ShowFreeAreas,
        Self::RawTracepoint,
        Self::OomStack,
        Self::MemcgPrint,
        Self::PrintRss,
    ];

    /// Its name for people: the hook that writes it, or what it holds.
    pub const fn name(self) -> &'static str {
        match self {
            Self::OomEnter => "out_of_memory",
            Self::OomKill => "oom_kill_process",
            Self::MarkVictim => "mark_victim",
            Self::Reaper => "reaper",
            Self::MemState => "memory state",
            Self::ShowFreeAreas => "show_free_areas",
            Self::RawTracepoint => "allocator retry",
            Self::OomStack => "OOM task's stack",
            Self::MemcgPrint => "memcg counter",
            Self::PrintRss => "victim's printed rss",
        }
    }

    pub fn from_u32(v: u32) -> Option<Self> {
        Self::ALL.into_iter().find(|k| *k as u32 == v)
    }
}

/// Wake-ups of the reader, rationed (a wake-up is an interrupt: a self-IPI,
/// and a VM exit in a guest, some 19 µs a kill on a nested guest). A kill
/// or reaper step wakes the reader only when no program (on any CPU) woke
/// it in this long; within that, its record rides along. The reader's side
/// of the bargain: after records it polls the ring at its settle period
/// (the time an OOM is given to end) for [`READER_POLLS_NS`], so a record
/// that did not wake it is read at the next poll. A storm thus costs one
/// wake-up per window, and an isolated kill still wakes the reader at once.
pub const WAKE_WINDOW_NS: u64 = 50_000_000;

/// How long the reader polls after it last read records. Longer than
/// [`WAKE_WINDOW_NS`] by far more than a poll: a program descheduled
/// between its clock read and its commit (a vCPU preempted by its host)
/// still commits before the reader stops looking.
pub const READER_POLLS_NS: u64 = 6 * WAKE_WINDOW_NS;

/// Slots of [`Tally::lost`]: a record of kind `k` that found the ring
/// buffer full is counted at index `k`.
pub const LOST_SLOTS: u32 = 12;

/// What the kernel side could not do, counted per CPU in [`Tally::errors`]
/// at its value: a counter, not a message, so that no program carries a
/// logger's code (the verifier walked 2 500 instructions of aya-log in a
/// 40-instruction program).
#[repr(u32)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum KernelError {
    /// kprobe mode: `out_of_memory`'s `struct oom_control` faulted.
    OomControl = 0,
    /// kprobe mode: `oom_kill_process`'s `oc->chosen` could not be read.
    NoVictim = 1,
    /// tracepoint mode: the OOM task's kernel stack could not be copied.
    OomStack = 2,
}

impl KernelError {
    pub const ALL: [Self; 3] = [Self::OomControl, Self::NoVictim, Self::OomStack];
    pub const SLOTS: u32 = Self::ALL.len() as u32;

    pub const fn message(self) -> &'static str {
        match self {
            Self::OomControl => "out_of_memory: its oom_control could not be read",
            Self::NoVictim => "oom_kill_process: no victim could be read from oom_control",
            Self::OomStack => "mark_victim: the OOM task's stack could not be copied",
        }
    }
}

/// The kernel side's counts, per CPU: the one value of the `TALLY` map,
/// so userspace reads them all with one lookup as records arrive.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default)]
pub struct Tally {
    /// Records that found the ring buffer full, at their kind's value.
    pub lost: [u64; LOST_SLOTS as usize],
    /// What the kernel side could not do, at its [`KernelError`].
    pub errors: [u64; KernelError::SLOTS as usize],
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
    // No stack: `mark_victim`'s (the kill's) is the one reported, walked once.
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
    /// The kernel stack at `oom_kill_process`, taken only on 32-bit ARM
    /// (elsewhere `len_bytes` is 0): its unwinder cannot walk from
    /// `mark_victim`'s tracepoint (`Arch::tracepoint_stack_walk`).
    pub stack: Stack,
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
pub struct PrintRssRecord {
    pub hdr: Header,
    /// The victim's tgid, to match its event.
    pub pid: i32,
    pub _pad: u32,
    pub file_rss_kb: u64,
    pub anon_rss_kb: u64,
    pub shmem_rss_kb: u64,
}

#[repr(C)]
#[derive(Clone, Copy)]
pub struct MemcgPrintRecord {
    pub hdr: Header,
    pub counters: MemcgCounters,
}

/// Bytes of the OOM task's kernel stack copied at most, from its top: the
/// whole stack on x86_64 and arm64 (16 KiB), more than all on 32-bit ARM.
pub const STACK_COPY: usize = 16384;

#[repr(C)]
#[derive(Clone, Copy)]
pub struct OomStackRecord {
    pub hdr: Header,
    /// The victim's `struct task_struct *`: `oc->chosen` of the OOM.
    pub victim_task: u64,
    /// The address one past the copied bytes (the stack's top).
    pub stack_top: u64,
    /// Bytes copied into `stack` (0: none), ending at `stack_top`: the part
    /// live at the tracepoint, from its arguments up (the whole stack where
    /// they are not on it).
    pub len: u32,
    pub _pad: u32,
    /// The address of the raw tracepoint's arguments, where the copy
    /// begins when they are on this stack.
    pub args: u64,
    /// The victim as read from its task, as kprobe mode reads it: its
    /// memory cgroup (`task_memcg=`), and its rss with the per-thread
    /// deltas folded in as the kernel's `Killed process` line has them
    /// (the tracepoint's own rss, before 6.2, lacks them).
    pub victim: TaskInfo,
    pub stack: [u8; STACK_COPY],
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

impl MarkVictimLayout {
    pub const fn unplanned() -> Self {
        Self {
            pid: ABSENT,
            comm: ABSENT,
            total_vm: ABSENT,
            anon_rss: ABSENT,
            file_rss: ABSENT,
            shmem_rss: ABSENT,
            uid: ABSENT,
            pgtables: ABSENT,
            oom_score_adj: ABSENT,
            reaper_pid: ABSENT,
        }
    }
}

/// Declares a `#[repr(C)]` struct of `u32` kernel facts from one table:
/// each BTF-resolved field names its struct and the member names it has had
/// across kernels (newest first). From the table come the struct itself,
/// its "nothing known" value, the list the resolver walks (`BTF_FIELDS`) and
/// the names of what a kernel lacks (`absent`). Fields under `derived` are
/// worked out by the planner by other means (array shapes, enum values,
/// sysconf), each with its default.
macro_rules! kernel_facts {
    (
        $(#[$meta:meta])*
        pub struct $name:ident {
            btf {
                $( $(#[$fmeta:meta])* $field:ident : $strukt:literal [$($member:literal),+ $(,)?], )*
            }
            derived {
                $( $(#[$dmeta:meta])* $dfield:ident = $default:expr, )*
            }
        }
    ) => {
        $(#[$meta])*
        #[repr(C)]
        #[derive(Clone, Copy, Debug, PartialEq, Eq)]
        pub struct $name {
            $( $(#[$fmeta])* pub $field: u32, )*
            $( $(#[$dmeta])* pub $dfield: u32, )*
        }

        impl $name {
            /// Every offset unknown: the programs then read only what needs none.
            pub const fn unplanned() -> Self {
                Self {
                    $( $field: ABSENT, )*
                    $( $dfield: $default, )*
                }
            }

            /// What the resolver looks up in BTF: (field, struct, member names).
            pub const BTF_FIELDS: &'static [(&'static str, &'static str, &'static [&'static str])] = &[
                $( (stringify!($field), $strukt, &[$($member),+]), )*
            ];

            /// The BTF-resolved field called `field`, to be set by the resolver.
            pub fn btf_field_mut(&mut self, field: &str) -> Option<&mut u32> {
                match field {
                    $( stringify!($field) => Some(&mut self.$field), )*
                    _ => None,
                }
            }

            /// `struct.member` of every BTF field this kernel lacks, then
            /// every derived field left unknown.
            pub fn absent(&self) -> impl Iterator<Item = (&'static str, &'static str)> + '_ {
                let btf = [$( (self.$field, $strukt, [$($member),+][0]), )*];
                let derived = [$( (self.$dfield, "", stringify!($dfield)), )*];
                btf.into_iter()
                    .chain(derived)
                    .filter(|(v, _, _)| *v == ABSENT)
                    .map(|(_, s, m)| (s, m))
            }
        }

        // Pod (no padding): only u32 fields, so the size is their count.
        const _: () = assert!(
            core::mem::size_of::<$name>()
                == 4 * ([$(stringify!($field)),*].len() + [$(stringify!($dfield)),*].len())
        );
    };
}

kernel_facts! {
    /// Field offsets in kernel structs, from BTF. `ABSENT` where this kernel
    /// lacks the field (then the fields that need it arrive as `null`).
    pub struct KernelOffsets {
        btf {
            oc_zonelist: "oom_control" ["zonelist"],
            oc_nodemask: "oom_control" ["nodemask"],
            oc_memcg: "oom_control" ["memcg"],
            oc_gfp_mask: "oom_control" ["gfp_mask"],
            oc_order: "oom_control" ["order"],
            oc_totalpages: "oom_control" ["totalpages"],
            oc_chosen: "oom_control" ["chosen"],
            oc_chosen_points: "oom_control" ["chosen_points"],
            oc_constraint: "oom_control" ["constraint"],
            task_pid: "task_struct" ["pid"],
            task_tgid: "task_struct" ["tgid"],
            task_comm: "task_struct" ["comm"],
            task_signal: "task_struct" ["signal"],
            task_cgroups: "task_struct" ["cgroups"],
            task_mm: "task_struct" ["mm"],
            /// `task_uid()` reads the objective credentials.
            task_cred: "task_struct" ["real_cred"],
            signal_oom_score_adj: "signal_struct" ["oom_score_adj"],
            cred_uid: "cred" ["uid"],
            css_set_subsys: "css_set" ["subsys"],
            css_cgroup: "cgroup_subsys_state" ["cgroup"],
            cgroup_kn: "cgroup" ["kn"],
            kn_name: "kernfs_node" ["name"],
            /// Renamed `__parent` in 6.15.
            kn_parent: "kernfs_node" ["__parent", "parent"],
            mm_total_vm: "mm_struct" ["total_vm"],
            mm_pgtables_bytes: "mm_struct" ["pgtables_bytes"],
            /// `struct mem_cgroup`'s `css`.
            memcg_css: "mem_cgroup" ["css"],
            /// The task's kernel stack (its lowest address).
            task_stack: "task_struct" ["stack"],
        }
        derived {
            /// `memory_cgrp_id` in `enum cgroup_subsys_id`.
            memory_cgrp_id = ABSENT,
            /// `mm->rss_stat`: an `atomic_long_t` array before 6.2, a
            /// `struct percpu_counter` array since.
            mm_rss_stat = ABSENT,
            /// Bytes between two entries of `mm->rss_stat`.
            mm_rss_stride = ABSENT,
            /// Offset of the count inside one entry (`percpu_counter.count`, or 0).
            mm_rss_count = ABSENT,
            /// `percpu_counter.counters` inside one entry: each CPU's part,
            /// set only where the kernel prints the exact sum of them (7.0+),
            /// with `nr_cpus` and `MemAddrs::per_cpu_offset`.
            mm_rss_percpu = ABSENT,
            /// Possible CPUs (`nr_cpu_ids`), at most [`MAX_CPUS`].
            nr_cpus = ABSENT,
            /// `task_struct.rss_stat.count`: the per-thread cache of rss deltas
            /// (`SPLIT_RSS_COUNTING`, kernels before 6.2), flushed into the mm on exit.
            task_rss_cache = ABSENT,
            /// `enum mm_counter` values (anonymous in BTF; these since 2.6.34).
            mm_filepages = 0,
            mm_anonpages = 1,
            mm_shmempages = 3,
            /// log2 of the page size, to report pages in kB.
            page_shift = 12,
            /// `THREAD_SIZE`: the kernel stack's size (not in BTF: the
            /// architecture's, from oomtrace_core::kernel::arch).
            thread_size = 16384,
        }
    }
}

kernel_facts! {
    /// Where a node's memory state lives on this kernel, from BTF.
    pub struct MemLayout {
        btf {
            pgdat_vm_stat: "pglist_data" ["vm_stat"],
            pgdat_kswapd_failures: "pglist_data" ["kswapd_failures"],
            /// `watermark[]` became `_watermark[]` when boosting came (5.0).
            zone_watermark: "zone" ["_watermark", "watermark"],
            zone_watermark_boost: "zone" ["watermark_boost"],
            zone_reserved_highatomic: "zone" ["nr_reserved_highatomic"],
            /// 6.14+.
            zone_free_highatomic: "zone" ["nr_free_highatomic"],
            zone_lowmem_reserve: "zone" ["lowmem_reserve"],
            zone_managed: "zone" ["managed_pages"],
            zone_present: "zone" ["present_pages"],
            zone_vm_stat: "zone" ["vm_stat"],
            free_area_nr_free: "free_area" ["nr_free"],
            memcg_memory: "mem_cgroup" ["memory"],
            counter_usage: "page_counter" ["usage"],
            counter_max: "page_counter" ["max", "limit"],
            counter_failcnt: "page_counter" ["failcnt"],
            counter_parent: "page_counter" ["parent"],
            memcg_nodeinfo: "mem_cgroup" ["nodeinfo"],
            memcg_node_lruvec: "mem_cgroup_per_node" ["lruvec"],
            lruvec_pgdat: "lruvec" ["pgdat"],
        }
        derived {
            /// `pglist_data.node_zones[]`: offset, element size (`struct
            /// zone`) and length (`MAX_NR_ZONES`).
            pgdat_node_zones = ABSENT,
            zone_size = ABSENT,
            nr_zones = ABSENT,
            /// `zone.free_area[]`: offset, element size, length (`NR_PAGE_ORDERS`).
            zone_free_area = ABSENT,
            free_area_size = ABSENT,
            nr_orders = ABSENT,
            /// `MIGRATE_TYPES` (the length of `free_list[]`).
            migrate_types = ABSENT,
            /// `NR_VM_NODE_STAT_ITEMS`, `NR_VM_ZONE_STAT_ITEMS`.
            node_stat_items = ABSENT,
            zone_stat_items = ABSENT,
            /// `mem_cgroup.memory_events[MEMCG_MAX]`: what the kernel prints
            /// as the memory's failcnt where cgroup v2 keeps no page-counter
            /// failcnt (`page_counter.track_failcnt`, not in 6.12, in 6.18).
            memcg_max_events = ABSENT,
        }
    }
}

impl Default for MemLayout {
    fn default() -> Self {
        Self::unplanned()
    }
}

/// Where this boot keeps node data (kallsyms addresses, 0 when kallsyms
/// lists no data symbols) and which nodes are online.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct MemAddrs {
    pub node_data: u64,
    pub contig_page_data: u64,
    pub vm_node_stat: u64,
    pub vm_zone_stat: u64,
    /// Online NUMA nodes (`/sys/devices/system/node/online`), bit per node id.
    pub online_nodes: u64,
    /// `__per_cpu_offset[]`, each CPU's per-CPU area (0: unknown), where
    /// the victim's rss is summed over CPUs.
    pub per_cpu_offset: u64,
}

impl MemAddrs {
    pub const fn unplanned() -> Self {
        Self {
            node_data: 0,
            contig_page_data: 0,
            vm_node_stat: 0,
            vm_zone_stat: 0,
            online_nodes: 1,
            per_cpu_offset: 0,
        }
    }
}

/// Everything the planner tells the BPF programs. Written into the object as
/// the global [`names::CONFIG_GLOBAL`] before load.
#[repr(C)]
#[derive(Clone, Copy, Debug)]
pub struct Config {
    /// 1 when the planner filled this in (a zeroed config is a bug, not a kernel).
    pub planned: u32,
    /// 1 in kprobe mode: `mark_victim` then follows an OOM through its
    /// probes (`OOM_THREADS`, `CHOSEN`). The verifier knows this read-only
    /// value and drops those paths in tracepoint mode, unverified.
    pub kprobes: u32,
    pub mark_victim: MarkVictimLayout,
    pub off: KernelOffsets,
    pub mem: MemLayout,
    /// Keeps `addrs` 8-aligned whatever the counts above: no hidden padding.
    pub _pad: [u32; CONFIG_PAD],
    pub addrs: MemAddrs,
}

/// `u32`s that bring the fields before `Config::addrs` to a multiple of 8 bytes.
const CONFIG_PAD: usize = ((8
    + core::mem::size_of::<MarkVictimLayout>()
    + core::mem::size_of::<KernelOffsets>()
    + core::mem::size_of::<MemLayout>())
    % 8)
    / 4;

impl Config {
    /// Every offset unknown: each program then reads only what needs no offset.
    pub const fn unplanned() -> Self {
        Self {
            planned: 0,
            kprobes: 0,
            mark_victim: MarkVictimLayout::unplanned(),
            off: KernelOffsets::unplanned(),
            mem: MemLayout::unplanned(),
            _pad: [0; CONFIG_PAD],
            addrs: MemAddrs::unplanned(),
        }
    }
}

/// Names both sides use: the loader finds programs, maps and the
/// configuration global by these; a unit test of the CLI checks that the
/// embedded object has each of them.
pub mod names {
    pub const CONFIG_GLOBAL: &str = "OOMTRACE_CONFIG";
    /// The ring buffer every record goes through.
    pub const EVENTS_MAP: &str = "EVENTS";
    /// The kernel side's counts, per CPU ([`super::Tally`]).
    pub const TALLY_MAP: &str = "TALLY";
    pub const PROG_OOM_ENTER: &str = "oom_enter";
    pub const PROG_OOM_KILL: &str = "oom_kill";
    pub const PROG_SHOW_FREE_AREAS: &str = "show_free_areas";
    pub const PROG_MEMCG_PRINT: &str = "memcg_print";
    pub const PROG_PRINT_RSS: &str = "print_rss";
    pub const PROG_MARK_VICTIM: &str = "mark_victim";
    pub const PROG_MARK_VICTIM_STACK: &str = "mark_victim_stack";
    pub const PROG_WAKE_REAPER: &str = "wake_reaper";
    pub const PROG_START_TASK_REAPING: &str = "start_task_reaping";
    pub const PROG_FINISH_TASK_REAPING: &str = "finish_task_reaping";
    pub const PROG_SKIP_TASK_REAPING: &str = "skip_task_reaping";
    pub const PROG_RECLAIM_RETRY_ZONE: &str = "reclaim_retry_zone";
    pub const PROG_COMPACT_RETRY: &str = "compact_retry";
}

#[cfg(feature = "user")]
mod user {
    // SAFETY: plain #[repr(C)] data of integers, no padding the kernel could
    // misread, no pointers.
    unsafe impl aya::Pod for super::Config {}
    // SAFETY: u64 arrays only.
    unsafe impl aya::Pod for super::Tally {}

    // Pod promises no padding: the parts add up to the whole, and `addrs`
    // starts 8-aligned.
    const _: () = {
        use super::*;
        use core::mem::{offset_of, size_of};
        assert!(
            size_of::<Config>()
                == 8 + size_of::<MarkVictimLayout>()
                    + size_of::<KernelOffsets>()
                    + size_of::<MemLayout>()
                    + 4 * CONFIG_PAD
                    + size_of::<MemAddrs>()
        );
        assert!(offset_of!(Config, addrs) % 8 == 0);
    };
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every kind reads back from its value, and has a slot of its own in
    /// `Tally::lost` (a kind past the slots would be lost uncounted).
    #[test]
    fn every_record_kind_reads_back_and_has_a_lost_slot() {
        for k in RecordKind::ALL {
            assert_eq!(RecordKind::from_u32(k as u32), Some(k));
            assert!((k as u32) < LOST_SLOTS, "{k:?}");
        }
        assert_eq!(RecordKind::from_u32(3), None, "3 is no longer used");
        for (i, e) in KernelError::ALL.iter().enumerate() {
            assert_eq!(*e as usize, i, "{e:?} is its slot in Tally::errors");
        }
    }
}
