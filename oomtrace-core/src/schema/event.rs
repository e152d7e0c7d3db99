//! The assembled OOM event: one per OOM, the JSON Lines schema of DESIGN.md.
//! Fields may be added, never renamed; unknown values are `null`.

use compact_str::CompactString;
use serde::{Deserialize, Serialize};

pub use crate::schema::counter_map::CounterMap;

/// The `type` of an event line: always `"oom"`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub enum OomType {
    #[default]
    #[serde(rename = "oom")]
    Oom,
}

/// The `type` of a reaper line: always `"reaper"`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub enum ReaperType {
    #[default]
    #[serde(rename = "reaper")]
    Reaper,
}

/// What saw the OOM.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Source {
    /// The kprobes on `out_of_memory` and `oom_kill_process`.
    Kprobe,
    /// Only the `oom:*` tracepoints.
    #[default]
    Tracepoint,
    /// The kernel's own report, read from a log (`oomtrace import`).
    KernelLog,
}

impl Source {
    pub fn name(self) -> &'static str {
        match self {
            Source::Kprobe => "kprobe",
            Source::Tracepoint => "tracepoint",
            Source::KernelLog => "kernel-log",
        }
    }
}

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct OomEvent {
    #[serde(rename = "type")]
    pub kind: OomType,
    pub seq: u64,
    /// RFC 3339, microseconds, UTC.
    pub time: String,
    /// CLOCK_MONOTONIC at the OOM, as the kernel log's timestamps count.
    pub uptime_ns: u64,
    pub source: Source,
    pub trigger: Task,
    pub gfp_mask: Option<u32>,
    pub gfp_flags: Option<String>,
    pub order: Option<i32>,
    pub constraint: Option<String>,
    /// `nodemask=` of the kernel's report: "(null)" or a node list.
    pub nodemask: Option<String>,
    /// The OOM domain of a memcg OOM; null for global ones.
    pub memcg: Option<String>,
    /// What `memcg` is: pod, container, unit.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub memcg_workload: Option<Workload>,
    /// The trigger's cpuset and its `mems_allowed`, as `oom-kill:` prints
    /// them (kernel logs; the tracer does not read them yet).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cpuset: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mems_allowed: Option<String>,
    pub totalpages: Option<u64>,
    pub message: Option<String>,
    pub killed: Option<bool>,
    /// From `out_of_memory`'s entry to its (last) kill (kprobe mode).
    pub duration_ns: Option<u64>,
    pub victim: Option<Victim>,
    /// Innermost frame first.
    pub stack: Vec<Frame>,
    /// The stack at `show_free_areas`, for global OOMs in kprobe mode.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub show_free_areas_stack: Option<Vec<Frame>>,
    /// The memory cgroup's `memory` counter, for memcg OOMs.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub memcg_memory: Option<MemcgMemory>,
    /// Global `vm_node_stat` / `vm_zone_stat`, at the OOM.
    pub counters: Option<Counters>,
    /// Each node's counters, as the report's `Node N ...` line.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub nodes: Option<Vec<Node>>,
    pub zones: Option<Vec<Zone>>,
    /// Where and how `counters`, `nodes` and `zones` were read.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub memory_read: Option<MemoryRead>,
    /// The triggering task's user stack, innermost first.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user_stack: Option<Vec<UserFrame>>,
    /// More tasks marked in the same OOM (memory.oom.group kills).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub also_killed: Vec<Victim>,
    /// `oom:reclaim_retry_zone` / `oom:compact_retry` of the triggering
    /// thread in the seconds before this OOM: what the allocator tried last.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub allocator_retries: Vec<RetryStep>,
    /// The seconds before the OOM (`record`, `agent`): its memcg's usage,
    /// PSI, free memory, ending with the OOM.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub lead_up: Option<LeadUp>,
    /// Fields deduced rather than read (tracepoint mode): see README.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub inferred: Vec<String>,
    /// Fields this event cannot have in its mode, said once per event.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub unavailable: Vec<String>,
    /// Kernel-log mode (no BTF): how the kernel's own report of this OOM,
    /// read from /dev/kmsg, went: "joined", "rate-limited" (the kernel
    /// printed only its `Killed process` line) or "not found".
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kernel_report: Option<String>,
    /// Kernel-log mode: the fields taken from the kernel's printed report.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub from_kernel_log: Vec<String>,
    /// What oomtrace could not work out for this event, and why.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub notes: Vec<String>,
}

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Task {
    pub pid: Option<i32>,
    pub tid: Option<i32>,
    pub comm: Option<String>,
    pub oom_score_adj: Option<i16>,
    pub cgroup: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub uid: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cpu: Option<u32>,
    /// What `cgroup` is: pod, container, unit (additions of 0.2).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub workload: Option<Workload>,
}

/// What a victim's or a memory cgroup's path means (the pod, container,
/// unit), as [`crate::enrich::workload`] reads it: what is not known is
/// absent, never guessed.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Workload {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pod_uid: Option<String>,
    /// `guaranteed`, `burstable` or `besteffort`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub qos: Option<String>,
    /// The full container id (64 hex digits).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub container_id: Option<String>,
    /// `containerd`, `cri-o`, `docker` or `podman`, as the path names it
    /// (or, for a bare id, as the runtime whose files hold it).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub runtime: Option<String>,
    /// The innermost systemd unit (service or scope) that is not a container's.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub unit: Option<String>,
    /// The innermost systemd slice.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub slice: Option<String>,
    /// From the runtime's files on the node.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub namespace: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pod: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub container: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub image: Option<String>,
}

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Victim {
    pub pid: Option<i32>,
    pub comm: Option<String>,
    pub uid: Option<u32>,
    pub total_vm_kb: Option<u64>,
    pub anon_rss_kb: Option<u64>,
    pub file_rss_kb: Option<u64>,
    pub shmem_rss_kb: Option<u64>,
    pub pgtables_kb: Option<u64>,
    pub oom_score_adj: Option<i16>,
    pub points: Option<i64>,
    pub cgroup: Option<String>,
    /// What `cgroup` is: pod, container, unit.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub workload: Option<Workload>,
}

impl Victim {
    /// Fills what one source lacks from another: `self`'s known fields win.
    pub fn or(self, fallback: Victim) -> Victim {
        Victim {
            pid: self.pid.or(fallback.pid),
            comm: self.comm.or(fallback.comm),
            uid: self.uid.or(fallback.uid),
            total_vm_kb: self.total_vm_kb.or(fallback.total_vm_kb),
            anon_rss_kb: self.anon_rss_kb.or(fallback.anon_rss_kb),
            file_rss_kb: self.file_rss_kb.or(fallback.file_rss_kb),
            shmem_rss_kb: self.shmem_rss_kb.or(fallback.shmem_rss_kb),
            pgtables_kb: self.pgtables_kb.or(fallback.pgtables_kb),
            oom_score_adj: self.oom_score_adj.or(fallback.oom_score_adj),
            points: self.points.or(fallback.points),
            cgroup: self.cgroup.or(fallback.cgroup),
            workload: self.workload.or(fallback.workload),
        }
    }
}

#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Frame {
    /// Inline strings (`CompactString`, up to 24 bytes: an address, most
    /// symbols): a report reads an event's frames, free-list types and
    /// zone names without an allocation each, which were a third of it.
    pub addr: CompactString,
    pub symbol: Option<CompactString>,
    pub offset: Option<u64>,
    pub size: Option<u64>,
}

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Counters {
    /// `enum node_stat_item`: pages, or bytes (`*_B`) and kB (`*_KB`) as named.
    pub node: CounterMap,
    /// `enum zone_stat_item`, pages.
    pub zone: CounterMap,
    /// Pages on the per-CPU free lists of every zone (`free_pcp:`), where
    /// known (kernel logs; the tracer does not read per-CPU lists).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub free_pcp: Option<u64>,
}

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Node {
    pub node: u32,
    pub counters: CounterMap,
    /// `kswapd_failures >= MAX_RECLAIM_RETRIES`, as the report's `all_unreclaimable?`.
    pub all_unreclaimable: Option<bool>,
}

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Zone {
    pub node: u32,
    pub zone: CompactString,
    pub free_kb: Option<u64>,
    /// The watermarks with `boost_kb` added, as the kernel uses and prints
    /// them (`min_wmark_pages()`).
    pub min_kb: Option<u64>,
    pub low_kb: Option<u64>,
    pub high_kb: Option<u64>,
    /// Pages free per order (`free_area[order].nr_free`), order 0 first.
    pub free_area: Vec<u64>,
    #[serde(default)]
    pub boost_kb: Option<u64>,
    #[serde(default)]
    pub reserved_highatomic_kb: Option<u64>,
    #[serde(default)]
    pub present_kb: Option<u64>,
    #[serde(default)]
    pub managed_kb: Option<u64>,
    #[serde(default)]
    pub lowmem_reserve: Vec<i64>,
    /// Per order, the migrate types with free blocks, as the report's `(UME)`.
    #[serde(default)]
    pub free_types: Vec<CompactString>,
    #[serde(default)]
    pub counters: CounterMap,
    /// `nr_free_highatomic` (6.14+), as the report's `free_highatomic:`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub free_highatomic_kb: Option<u64>,
    /// Per-CPU free lists: all CPUs, and the printing CPU's (kernel logs only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub free_pcp_kb: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub local_pcp_kb: Option<u64>,
}

impl Zone {
    /// Free memory the buddy lists hold, as the report's `= NkB`.
    pub fn free_area_kb(&self, page_kb: u64) -> u64 {
        self.free_area
            .iter()
            .enumerate()
            .map(|(order, n)| (n << order) * page_kb)
            .sum()
    }
}

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct MemcgMemory {
    pub usage_kb: u64,
    pub limit_kb: u64,
    pub failcnt: u64,
}

/// When the memory state was read.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum MemoryAt {
    /// In the kernel at `show_free_areas`, the moment the kernel prints it.
    ShowFreeAreas,
    /// In the kernel at `oom:mark_victim`.
    #[default]
    MarkVictim,
    /// From /proc after the event (`sampled_after_ns` says how long after).
    Sampled,
    /// As the kernel printed it in its log.
    Printed,
}

/// How the memory state was reached.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum MemoryPath {
    /// `node_data` / `contig_page_data` at their kallsyms addresses.
    Kallsyms,
    /// The current task's memory cgroup → its per-node lruvec → the node.
    #[default]
    Memcg,
    /// /proc/vmstat, zoneinfo and buddyinfo.
    Proc,
    /// The kernel's own report in a log.
    KernelLog,
    #[serde(other)]
    Unknown,
}

impl MemoryAt {
    pub fn name(self) -> &'static str {
        match self {
            MemoryAt::ShowFreeAreas => "show_free_areas",
            MemoryAt::MarkVictim => "mark_victim",
            MemoryAt::Sampled => "sampled",
            MemoryAt::Printed => "printed",
        }
    }
}

impl MemoryPath {
    pub fn name(self) -> &'static str {
        match self {
            MemoryPath::Kallsyms => "kallsyms",
            MemoryPath::Memcg => "memcg",
            MemoryPath::Proc => "proc",
            MemoryPath::KernelLog => "kernel-log",
            MemoryPath::Unknown => "unknown",
        }
    }
}

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct MemoryRead {
    pub at: MemoryAt,
    pub path: MemoryPath,
    /// Page size in kB, to turn the page counts into kB again.
    pub page_kb: u64,
    /// For `at: "sampled"`: how long after the OOM /proc was read.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sampled_after_ns: Option<u64>,
    /// Whether the kernel prints `Node N` before each zone (`CONFIG_NUMA`);
    /// known from kernel logs, assumed elsewhere.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub numa: Option<bool>,
}

#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct UserFrame {
    pub addr: String,
    /// The file mapped there, found while the process lived.
    pub mapping: Option<String>,
    /// Offset into that file (with `build_id`, enough to symbolize later).
    pub offset: Option<u64>,
    /// The same place as an address of the file's own ELF image (through
    /// its program headers): what `addr2line -e` takes, and how a separate
    /// debug file, whose segments hold no bytes, is addressed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub vaddr: Option<u64>,
    /// The ELF build id of that file, hex.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub build_id: Option<String>,
    /// The function, demangled, and the offset into it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub symbol: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub symbol_offset: Option<u64>,
    /// Source file and line, where the file has debug info.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub file: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub line: Option<u32>,
    /// False from the first frame that resolves to no function on: without
    /// frame pointers the kernel's walk runs into garbage there.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reliable: Option<bool>,
}

/// What filters and summaries look at, and all they may look at: a session
/// read for them parses only these fields of each event (counters, zones and
/// stacks are most of a line), so a filter or a summary that wanted another
/// field would not compile rather than silently see `null`.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct Brief {
    pub seq: u64,
    pub time: String,
    pub trigger: Task,
    pub gfp_flags: Option<String>,
    pub order: Option<i32>,
    pub constraint: Option<String>,
    pub memcg: Option<String>,
    pub memcg_workload: Option<Workload>,
    pub killed: Option<bool>,
    pub victim: Option<Victim>,
    pub also_killed: Vec<Victim>,
}

impl OomEvent {
    pub fn brief(&self) -> Brief {
        Brief {
            seq: self.seq,
            time: self.time.clone(),
            trigger: self.trigger.clone(),
            gfp_flags: self.gfp_flags.clone(),
            order: self.order,
            constraint: self.constraint.clone(),
            memcg: self.memcg.clone(),
            memcg_workload: self.memcg_workload.clone(),
            killed: self.killed,
            victim: self.victim.clone(),
            also_killed: self.also_killed.clone(),
        }
    }
}

impl Victim {
    /// The victim's workload as one name (namespace/pod/container, a
    /// container, a unit), else its cgroup path: the event's own workload,
    /// or one read from the path of an event recorded before there was one.
    pub fn workload_label(&self) -> Option<String> {
        let parsed;
        let w = match &self.workload {
            Some(w) => Some(w),
            None => {
                parsed = self.cgroup.as_deref().and_then(Workload::from_path);
                parsed.as_ref()
            }
        };
        w.map(Workload::label)
            .filter(|l| !l.is_empty())
            .or_else(|| self.cgroup.clone())
    }
}

impl Brief {
    /// The task that was killed.
    pub fn victim_pid(&self) -> Option<i32> {
        self.victim.as_ref().and_then(|v| v.pid)
    }

    /// Whether the event concerns `pid` (as trigger or as victim).
    pub fn involves_pid(&self, pid: i32) -> bool {
        self.trigger.pid == Some(pid)
            || self.victim_pid() == Some(pid)
            || self.also_killed.iter().any(|v| v.pid == Some(pid))
    }

    pub fn involves_comm(&self, comm: &str) -> bool {
        self.trigger.comm.as_deref() == Some(comm)
            || self.victim.as_ref().and_then(|v| v.comm.as_deref()) == Some(comm)
            || self
                .also_killed
                .iter()
                .any(|v| v.comm.as_deref() == Some(comm))
    }

    /// Whether any cgroup of the event is `path` or below it.
    pub fn involves_cgroup(&self, path: &str) -> bool {
        let path = path.trim_end_matches('/');
        let under = |c: &Option<String>| {
            c.as_deref()
                .is_some_and(|c| path.is_empty() || c == path || c.starts_with(&format!("{path}/")))
        };
        under(&self.memcg)
            || under(&self.trigger.cgroup)
            || self.victim.as_ref().is_some_and(|v| under(&v.cgroup))
            || self.also_killed.iter().any(|v| under(&v.cgroup))
    }
}

/// The fields of an event that a mode or a source may be unable to fill:
/// hooks say which they provide, and what a mode loses is derived from that.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Field {
    GfpMask,
    Order,
    Constraint,
    Nodemask,
    Memcg,
    Totalpages,
    Message,
    Points,
    DurationNs,
    VictimCgroup,
    Victim,
    Trigger,
    Stack,
    ShowFreeAreasStack,
    MemcgMemory,
    Memory,
    UserStack,
    Reaper,
    AllocatorRetries,
}

impl Field {
    /// Every field a mode or source may be unable to fill, in the order
    /// notices list them.
    pub const ALL: [Field; 19] = [
        Field::GfpMask,
        Field::Order,
        Field::Constraint,
        Field::Nodemask,
        Field::Memcg,
        Field::Totalpages,
        Field::Message,
        Field::Points,
        Field::DurationNs,
        Field::VictimCgroup,
        Field::Victim,
        Field::Trigger,
        Field::Stack,
        Field::ShowFreeAreasStack,
        Field::MemcgMemory,
        Field::Memory,
        Field::UserStack,
        Field::Reaper,
        Field::AllocatorRetries,
    ];

    /// The fields that are one value of an event, which its `unavailable`
    /// may name: all but the reaper's steps and the allocator's retries.
    pub fn per_event() -> impl Iterator<Item = Field> + Clone {
        Self::ALL
            .into_iter()
            .filter(|f| !matches!(f, Field::Reaper | Field::AllocatorRetries))
    }

    /// As the event's JSON names it.
    pub const fn name(self) -> &'static str {
        match self {
            Field::GfpMask => "gfp_mask",
            Field::Order => "order",
            Field::Constraint => "constraint",
            Field::Nodemask => "nodemask",
            Field::Memcg => "memcg",
            Field::Totalpages => "totalpages",
            Field::Message => "message",
            Field::Points => "points",
            Field::DurationNs => "duration_ns",
            Field::VictimCgroup => "victim.cgroup",
            Field::Victim => "victim",
            Field::Trigger => "trigger",
            Field::Stack => "stack",
            Field::ShowFreeAreasStack => "show_free_areas_stack",
            Field::MemcgMemory => "memcg_memory",
            Field::Memory => "counters, nodes, zones",
            Field::UserStack => "user_stack",
            Field::Reaper => "reaper steps",
            Field::AllocatorRetries => "allocator_retries",
        }
    }

    /// Whether `ev` lacks this field. Fields that are not one value of the
    /// event (reaper steps, retries) are never said missing per event.
    pub fn is_missing(self, ev: &OomEvent) -> bool {
        let v = ev.victim.as_ref();
        let memcg_oom_or_unknown = ev
            .constraint
            .as_deref()
            .is_none_or(|c| c == "CONSTRAINT_MEMCG");
        match self {
            Field::GfpMask => ev.gfp_mask.is_none(),
            Field::Order => ev.order.is_none(),
            Field::Constraint => ev.constraint.is_none(),
            Field::Nodemask => ev.nodemask.is_none(),
            // None is the answer for an OOM known not to be a memcg's.
            Field::Memcg => ev.memcg.is_none() && memcg_oom_or_unknown,
            Field::Totalpages => ev.totalpages.is_none(),
            Field::Message => ev.message.is_none(),
            Field::Points => v.is_none_or(|v| v.points.is_none()),
            Field::DurationNs => ev.duration_ns.is_none(),
            Field::VictimCgroup => v.is_none_or(|v| v.cgroup.is_none()),
            Field::Victim => v.is_none(),
            Field::Trigger => ev.trigger.pid.is_none() && ev.trigger.comm.is_none(),
            Field::Stack => ev.stack.is_empty(),
            Field::MemcgMemory => ev.memcg_memory.is_none() && memcg_oom_or_unknown,
            Field::Memory => ev.counters.is_none(),
            Field::UserStack => ev.user_stack.is_none(),
            // Only OOMs that are not a memcg's print the free areas.
            Field::ShowFreeAreasStack => {
                ev.show_free_areas_stack.is_none() && !memcg_oom_or_unknown
            }
            // Said by the mode's notice, never per event.
            Field::Reaper | Field::AllocatorRetries => false,
        }
    }
}

/// Names of fields, as a notice lists them.
pub fn field_names(fields: &[Field]) -> String {
    fields
        .iter()
        .map(|f| f.name())
        .collect::<Vec<_>>()
        .join(", ")
}

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct RetryStep {
    /// The tracepoint: "reclaim_retry_zone" or "compact_retry".
    pub event: String,
    pub uptime_ns: u64,
    /// Its fields by their tracefs names.
    pub fields: CounterMap,
}

/// One step of the OOM reaper for a victim, after (or while) its OOM event
/// is reported: its own JSON line, `{"type":"reaper",...}`.
/// What the OOM reaper did.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ReaperStep {
    /// `oom:wake_reaper`: the victim was queued for the reaper.
    #[default]
    Wake,
    /// `oom:start_task_reaping`.
    Start,
    /// `oom:finish_task_reaping`: the victim's memory was reaped.
    Finish,
    /// `oom:skip_task_reaping`: nothing to reap.
    Skip,
}

impl ReaperStep {
    /// As the text says it.
    pub fn describe(self) -> &'static str {
        match self {
            ReaperStep::Wake => "queued",
            ReaperStep::Start => "started reaping",
            ReaperStep::Finish => "reaped",
            ReaperStep::Skip => "skipped (mm already gone or being torn down)",
        }
    }
}

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct ReaperEvent {
    #[serde(rename = "type")]
    pub kind: ReaperType,
    /// The OOM event whose victim this is (0: a victim oomtrace did not see killed).
    pub seq: u64,
    pub time: String,
    pub uptime_ns: u64,
    pub pid: i32,
    pub step: ReaperStep,
    /// Since the kill was reported.
    pub since_kill_ns: Option<u64>,
}

macro_rules! display_by_name {
    ($($t:ty),*) => {$(
        impl std::fmt::Display for $t {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str(self.name())
            }
        }
    )*};
}

display_by_name!(Source, MemoryAt, MemoryPath);

/// The lead-up to an OOM, as `record` and `agent` sample it (the ring is in leadup.rs).
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct LeadUp {
    /// Milliseconds between samples.
    pub interval_ms: u64,
    /// Oldest first; the last is the OOM itself, as the event has it.
    pub points: Vec<LeadPoint>,
}

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct LeadPoint {
    /// How long before the OOM (0: the OOM).
    pub ms_before: u64,
    /// The OOM's memory cgroup (memcg OOMs).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub memcg_usage_kb: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub memcg_failcnt: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub psi_some_avg10: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub psi_full_avg10: Option<f64>,
    /// Free memory of every zone together.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub free_kb: Option<u64>,
    /// The allocator going round before it gives up: `oom:reclaim_retry_zone`
    /// and `oom:compact_retry` per second since the point before (absent
    /// on the first point, and without the live source's tracepoints).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reclaim_retries_per_s: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub compact_retries_per_s: Option<f64>,
}

/// The format of session files this oomtrace writes and the newest it reads.
pub const FORMAT: u32 = 1;

/// The `type` of a header line: always `"session"`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub enum SessionType {
    #[default]
    #[serde(rename = "session")]
    Session,
}

/// The `type` of an end line: always `"end"`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub enum EndType {
    #[default]
    #[serde(rename = "end")]
    End,
}

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Header {
    #[serde(rename = "type")]
    pub kind: SessionType,
    pub format: u32,
    pub oomtrace: String,
    pub kernel: String,
    pub hostname: String,
    pub boot_id: String,
    pub start: String,
    pub mode: String,
    pub hooks: Vec<String>,
    /// `uname -m` of the traced machine (absent in sessions before 0.2).
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub arch: String,
}

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Trailer {
    #[serde(rename = "type")]
    pub kind: EndType,
    pub end: String,
    pub events: u64,
    pub lost: u64,
    pub incomplete: u64,
    pub deferred: u64,
    /// Failures the kernel side counted (`oomtrace_common::KernelError`):
    /// a read that faulted, a stack it could not copy. Records the full
    /// ring buffer refused are `lost`.
    #[serde(default)]
    pub kernel_errors: u64,
    /// From each kill to its event, in a live session.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub latency: Option<crate::schema::latency::Latency>,
    /// The session goes on in this file (`agent`'s rotation): the counts
    /// above are this file's.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub continued_in: Option<String>,
    /// Events dropped because the reader fell behind by more than the
    /// queue's bound (`--queue`): OOMs the kernel killed for and that this
    /// session does not hold.
    #[serde(default)]
    pub dropped: u64,
    /// The most the queue between the kernel and the reader held, in bytes
    /// (a live session).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub queue_peak_bytes: Option<u64>,
}

fn read_trim(path: &str) -> String {
    std::fs::read_to_string(path)
        .map(|s| s.trim().to_owned())
        .unwrap_or_default()
}

impl Header {
    /// A session of this machine, starting now.
    pub fn new(kernel: &str, mode: &str, hooks: Vec<String>) -> Self {
        Self {
            kind: SessionType::Session,
            format: FORMAT,
            oomtrace: env!("CARGO_PKG_VERSION").into(),
            kernel: kernel.into(),
            hostname: read_trim("/proc/sys/kernel/hostname"),
            boot_id: read_trim("/proc/sys/kernel/random/boot_id"),
            start: now(),
            mode: mode.into(),
            hooks,
            arch: crate::kernel::arch::Arch::this().machine.to_owned(),
        }
    }
}

impl Trailer {
    /// The end of a session stopped now.
    pub fn now(events: u64, lost: u64, incomplete: u64, deferred: u64) -> Self {
        Self {
            kind: EndType::End,
            end: now(),
            events,
            lost,
            incomplete,
            deferred,
            kernel_errors: 0,
            latency: None,
            continued_in: None,
            dropped: 0,
            queue_peak_bytes: None,
        }
    }
}

/// Now, as session files write times.
pub fn now() -> String {
    humantime::format_rfc3339_micros(std::time::SystemTime::now()).to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Each `name()` is the name the schema writes (serde's, an oracle of
    /// its own: the names in the JSON are what DESIGN.md documents).
    #[test]
    fn names_are_the_schemas() {
        let json = |v: String| v.trim_matches('"').to_owned();
        for s in [Source::Kprobe, Source::Tracepoint, Source::KernelLog] {
            assert_eq!(s.name(), json(serde_json::to_string(&s).unwrap()));
        }
        for a in [
            MemoryAt::ShowFreeAreas,
            MemoryAt::MarkVictim,
            MemoryAt::Sampled,
            MemoryAt::Printed,
        ] {
            assert_eq!(a.name(), json(serde_json::to_string(&a).unwrap()));
        }
        for p in [
            MemoryPath::Kallsyms,
            MemoryPath::Memcg,
            MemoryPath::Proc,
            MemoryPath::KernelLog,
        ] {
            assert_eq!(p.name(), json(serde_json::to_string(&p).unwrap()));
        }
        assert_eq!(MemoryPath::Unknown.name(), "unknown");
    }

    /// A counter map keeps the JSON's names, values and order.
    #[test]
    fn counters_read_in_their_order() {
        let c: Counters =
            serde_json::from_str(r#"{"node":{"NR_B":2,"NR_A":-1},"zone":{"NR_FREE_PAGES":7}}"#)
                .unwrap();
        assert_eq!(
            c.node
                .iter()
                .map(|(k, v)| (k.as_str(), *v))
                .collect::<Vec<_>>(),
            [("NR_B", 2), ("NR_A", -1)]
        );
        assert_eq!(c.zone["NR_FREE_PAGES"], 7);
        let e = serde_json::from_str::<Counters>(r#"{"node":[1],"zone":{}}"#).unwrap_err();
        assert!(
            e.to_string().contains("a map of counter names to integers"),
            "{e}"
        );
    }

    fn victim(pid: i32, comm: &str, cgroup: &str) -> Victim {
        Victim {
            pid: Some(pid),
            comm: Some(comm.into()),
            cgroup: Some(cgroup.into()),
            ..Victim::default()
        }
    }

    #[test]
    fn a_victims_workload_is_its_own_then_its_paths_then_the_path() {
        let pod = "/kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod0f1e2d3c_4b5a_6978_8796_a5b4c3d2e1f0.slice/cri-containerd-0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef.scope";
        let from_path = Workload::from_path(pod).unwrap().label();
        assert!(!from_path.is_empty());
        let mut v = victim(1, "a", pod);
        assert_eq!(v.workload_label(), Some(from_path));
        // Its own workload wins over its path's.
        let own = Workload::from_path("/system.slice/nginx.service").unwrap();
        v.workload = Some(own.clone());
        assert_eq!(v.workload_label(), Some(own.label()));
        // A workload without a name: the path itself.
        v.workload = Some(Workload::default());
        assert_eq!(Workload::default().label(), "");
        assert_eq!(v.workload_label().as_deref(), Some(pod));
        assert_eq!(Victim::default().workload_label(), None);
    }

    #[test]
    fn an_event_involves_its_trigger_its_victim_and_the_others_killed() {
        let b = Brief {
            trigger: Task {
                pid: Some(10),
                comm: Some("trig".into()),
                cgroup: Some("/a/b".into()),
                ..Task::default()
            },
            memcg: Some("/m".into()),
            victim: Some(victim(20, "vic", "/c")),
            also_killed: vec![victim(30, "other", "/d/e")],
            ..Brief::default()
        };
        assert_eq!(b.victim_pid(), Some(20));
        assert_eq!(Brief::default().victim_pid(), None);
        for pid in [10, 20, 30] {
            assert!(b.involves_pid(pid), "{pid}");
        }
        assert!(!b.involves_pid(40));
        for comm in ["trig", "vic", "other"] {
            assert!(b.involves_comm(comm), "{comm}");
        }
        assert!(!b.involves_comm("none"));
        for path in ["/a", "/a/b/", "/m", "/c", "/d", "/d/e", "/", ""] {
            assert!(b.involves_cgroup(path), "{path}");
        }
        // Below a path, not beside it.
        for path in ["/a/bc", "/x", "/d/e/f"] {
            assert!(!b.involves_cgroup(path), "{path}");
        }
        assert!(!Brief::default().involves_cgroup("/"));
    }

    /// Each field is missing exactly when the event lacks it, with the
    /// kernel's exceptions: no memcg (or its counters) in an OOM known not
    /// to be a memcg's, no `show_free_areas` stack in a memcg OOM (the
    /// kernel prints no free areas there).
    #[test]
    fn a_field_is_missing_when_the_event_lacks_it() {
        let full = OomEvent {
            gfp_mask: Some(0xcc0),
            order: Some(0),
            constraint: Some("CONSTRAINT_MEMCG".into()),
            nodemask: Some("(null)".into()),
            memcg: Some("/a".into()),
            totalpages: Some(1),
            message: Some("m".into()),
            duration_ns: Some(1),
            victim: Some(Victim {
                points: Some(1),
                cgroup: Some("/a".into()),
                ..Victim::default()
            }),
            trigger: Task {
                comm: Some("t".into()),
                ..Task::default()
            },
            stack: vec![Frame::default()],
            memcg_memory: Some(MemcgMemory::default()),
            counters: Some(Counters::default()),
            user_stack: Some(Vec::new()),
            ..OomEvent::default()
        };
        // Reaper steps and retries are never one value of an event.
        let per_event = Field::per_event();
        // The full memcg OOM lacks no field (it prints no free areas).
        for f in per_event.clone() {
            assert!(!f.is_missing(&full), "{}", f.name());
        }
        let empty = OomEvent::default();
        // No constraint known: could be a memcg's, so its memcg is missing;
        // and not known to print free areas either.
        for f in per_event {
            assert_eq!(
                f.is_missing(&empty),
                f != Field::ShowFreeAreasStack,
                "{}",
                f.name()
            );
        }
        for f in [Field::Reaper, Field::AllocatorRetries] {
            assert!(!f.is_missing(&empty));
        }
        let global = OomEvent {
            constraint: Some("CONSTRAINT_NONE".into()),
            ..OomEvent::default()
        };
        assert!(!Field::Memcg.is_missing(&global));
        assert!(!Field::MemcgMemory.is_missing(&global));
        assert!(Field::ShowFreeAreasStack.is_missing(&global));
        let with_sfa = OomEvent {
            show_free_areas_stack: Some(Vec::new()),
            ..global
        };
        assert!(!Field::ShowFreeAreasStack.is_missing(&with_sfa));
        let victim_without = OomEvent {
            victim: Some(Victim::default()),
            ..OomEvent::default()
        };
        assert!(Field::Points.is_missing(&victim_without));
        assert!(Field::VictimCgroup.is_missing(&victim_without));
        assert!(!Field::Victim.is_missing(&victim_without));
        let by_pid = OomEvent {
            trigger: Task {
                pid: Some(1),
                ..Task::default()
            },
            ..OomEvent::default()
        };
        assert!(!Field::Trigger.is_missing(&by_pid));
        assert_eq!(
            field_names(&[Field::GfpMask, Field::VictimCgroup]),
            "gfp_mask, victim.cgroup"
        );
    }

    /// Each field's name is a key of the event's JSON (the victim's cgroup
    /// under the victim; memory and the reaper's steps name their parts).
    #[test]
    fn field_names_are_the_jsons() {
        // Fields left out of the JSON while empty, filled.
        let ev = OomEvent {
            show_free_areas_stack: Some(Vec::new()),
            victim: Some(Victim::default()),
            allocator_retries: vec![RetryStep::default()],
            memcg_memory: Some(MemcgMemory::default()),
            user_stack: Some(Vec::new()),
            counters: Some(Counters::default()),
            nodes: Some(Vec::new()),
            zones: Some(Vec::new()),
            ..OomEvent::default()
        };
        let json = serde_json::to_value(ev).unwrap();
        for f in Field::ALL {
            match f {
                // The victim's `points`; the reaper's steps are lines of their own.
                Field::Points | Field::Reaper => {}
                Field::Memory => {
                    for part in f.name().split(", ") {
                        assert!(json.get(part).is_some(), "{part}");
                    }
                }
                _ => {
                    let v = f.name().split('.').try_fold(&json, |j, k| j.get(k));
                    assert!(v.is_some(), "{}", f.name());
                }
            }
        }
    }

    #[test]
    fn reaper_steps_are_said_apart() {
        let said: Vec<&str> = [
            ReaperStep::Wake,
            ReaperStep::Start,
            ReaperStep::Finish,
            ReaperStep::Skip,
        ]
        .iter()
        .map(|s| s.describe())
        .collect();
        let mut distinct = said.clone();
        distinct.sort();
        distinct.dedup();
        assert_eq!(distinct.len(), 4, "{said:?}");
        assert!(said.iter().all(|s| s.len() > 3), "{said:?}");
    }

    /// A header names this machine as /proc does.
    #[test]
    fn a_header_names_this_machine() {
        let h = Header::new("k", "tracepoint", Vec::new());
        let proc = |p: &str| std::fs::read_to_string(p).unwrap().trim().to_owned();
        assert_eq!(h.hostname, proc("/proc/sys/kernel/hostname"));
        assert_eq!(h.boot_id, proc("/proc/sys/kernel/random/boot_id"));
        assert_eq!(h.format, FORMAT);
    }
}
