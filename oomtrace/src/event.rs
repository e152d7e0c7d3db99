//! The assembled OOM event: one per OOM, the JSON Lines schema of DESIGN.md.
//! Fields may be added, never renamed; unknown values are `null`.

use indexmap::IndexMap;
use serde::{Deserialize, Serialize};

/// Counters by their kernel enum name, in enum order (the index is the position).
pub type CounterMap = IndexMap<String, i64>;

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct OomEvent {
    #[serde(rename = "type")]
    pub kind: String,
    pub seq: u64,
    /// RFC 3339, microseconds, UTC.
    pub time: String,
    /// CLOCK_MONOTONIC at the OOM, as the kernel log's timestamps count.
    pub uptime_ns: u64,
    /// "kprobe" when the kprobes saw this OOM, "tracepoint" when only tracepoints did.
    pub source: String,
    pub trigger: Task,
    pub gfp_mask: Option<u32>,
    pub gfp_flags: Option<String>,
    pub order: Option<i32>,
    pub constraint: Option<String>,
    /// `nodemask=` of the kernel's report: "(null)" or a node list.
    pub nodemask: Option<String>,
    /// The OOM domain of a memcg OOM; null for global ones.
    pub memcg: Option<String>,
    pub totalpages: Option<u64>,
    pub message: Option<String>,
    pub killed: Option<bool>,
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
    /// Fields deduced rather than read (tracepoint mode): see README.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub inferred: Vec<String>,
    /// Fields this event cannot have in its mode, said once per event.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub unavailable: Vec<String>,
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
}

#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Frame {
    pub addr: String,
    pub symbol: Option<String>,
    pub offset: Option<u64>,
    pub size: Option<u64>,
}

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Counters {
    /// `enum node_stat_item`: pages, or bytes (`*_B`) and kB (`*_KB`) as named.
    pub node: CounterMap,
    /// `enum zone_stat_item`, pages.
    pub zone: CounterMap,
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
    pub zone: String,
    pub free_kb: Option<u64>,
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
    pub free_types: Vec<String>,
    #[serde(default)]
    pub counters: CounterMap,
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

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct MemoryRead {
    /// The probe that read it: "show_free_areas" (as the kernel printed it) or "mark_victim".
    pub at: String,
    /// "kallsyms" (data symbols) or "memcg" (the current task's memory cgroup → its nodes).
    pub path: String,
    /// Page size in kB, to turn the page counts into kB again.
    pub page_kb: u64,
    /// For `at: "sampled"`: how long after the OOM /proc was read.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sampled_after_ns: Option<u64>,
}

#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct UserFrame {
    pub addr: String,
    /// The file mapped there (from `/proc/PID/maps` when the event was decoded).
    pub mapping: Option<String>,
    /// Offset into that file.
    pub offset: Option<u64>,
}

impl OomEvent {
    /// The task that was killed, or the trigger when nothing names a victim.
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
    }
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
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct ReaperEvent {
    #[serde(rename = "type")]
    pub kind: String,
    /// The OOM event whose victim this is (0: a victim oomtrace did not see killed).
    pub seq: u64,
    pub time: String,
    pub uptime_ns: u64,
    pub pid: i32,
    /// "wake" (queued), "start", "finish" (the mm was reaped) or "skip".
    pub step: String,
    /// Since the kill was reported.
    pub since_kill_ns: Option<u64>,
}
