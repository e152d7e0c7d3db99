//! The kernel's own OOM report, read from a log: `dmesg`, `journalctl -k`,
//! `/var/log/kern.log`, a serial console capture, or `/dev/kmsg` records.
//! It is the oracle oomtrace's live events are checked against, and with
//! [`to_event`] the way past OOMs become events (`oomtrace import`).
//!
//! Lines are fed one at a time ([`LogParser`]); memory stays bounded
//! whatever the input (a report holds at most [`MAX_FRAMES`] frames and a
//! bounded number of zones, and lines longer than [`MAX_LINE`] are cut).

use std::collections::BTreeMap;

/// The longest line kept; kernel lines are under 1 KiB (`LOG_LINE_MAX`).
pub const MAX_LINE: usize = 8192;
/// Frames kept of one stack.
pub const MAX_FRAMES: usize = 128;
/// Zones, nodes, free lists kept of one report.
const MAX_ZONES: usize = 64;

/// One OOM report as the kernel printed it. Fields the report lacks are `None`.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct KernelReport {
    /// Seconds since boot of the `invoked oom-killer` line.
    pub timestamp: Option<f64>,
    /// Wall-clock time of that line, where the log's prefix says it (RFC 3339).
    pub wallclock: Option<String>,
    pub trigger_comm: String,
    pub gfp_mask: u32,
    pub gfp_flags: String,
    /// The kernel printed the flags' names (4.7 and later); older reports
    /// have the mask alone, named by that era's bits where the log tells
    /// the version.
    pub gfp_named: bool,
    pub order: i32,
    pub trigger_oom_score_adj: i16,
    pub trigger_pid: Option<i32>,
    pub trigger_uid: Option<u32>,
    pub cpu: Option<u32>,
    /// The kernel release from the `CPU:` line ("6.1.0-50-armmp-lpae").
    pub kernel: Option<String>,
    /// The architecture the stack's form tells: `Call Trace:` (x86_64),
    /// `Call trace:` (arm64), `caller from callee+off/size` (32-bit ARM).
    pub arch: Option<&'static str>,
    /// `Call Trace:` frames, innermost first, as `name`, offset, size; `?` frames skipped.
    pub stack: Vec<(String, u64, u64)>,
    /// The frames' addresses where the log prints them (`[<ffffffff81...>]`), else 0.
    pub stack_addrs: Vec<u64>,
    /// An ftrace `<stack trace>` block at `show_free_areas` (the seed's sysrq-f capture).
    pub show_free_areas_stack: Vec<(String, u64, u64)>,
    /// `oom-kill:` key=value pairs (constraint, nodemask, cpuset, mems_allowed,
    /// oom_memcg, task_memcg, task, pid, uid).
    pub summary: BTreeMap<String, String>,
    pub global_oom: bool,
    pub killed: Option<Killed>,
    /// `Node 0 DMA32: 3*4kB (E) 5*8kB ...` counts per (node, zone).
    pub free_areas: Vec<(u32, String, Vec<u64>)>,
    /// The migrate-type letters of each order of each free list (`"UME"`).
    pub free_types: Vec<Vec<String>>,
    /// The size of an order-0 block in the free lists: the page size, kB.
    pub page_kb: Option<u64>,
    /// `Node 0 DMA32 free:438852kB ... min:2652kB low:3312kB high:3972kB`.
    pub zone_watermarks: Vec<ZoneLine>,
    /// Whether zone lines begin `Node N` (kernels with `CONFIG_NUMA`).
    pub numa: Option<bool>,
    /// The `Mem-Info:` block's `label:pages` pairs (`active_anon`, `free`, ...).
    pub mem_info: BTreeMap<String, u64>,
    /// `Node N active_anon:...kB ...` lines: node, `label:kB` pairs.
    pub node_lines: Vec<(u32, BTreeMap<String, u64>)>,
    /// `all_unreclaimable? yes|no` of each node line.
    pub all_unreclaimable: Vec<Option<bool>>,
    /// `lowmem_reserve[]:` after each zone line, in zone-line order.
    pub lowmem_reserves: Vec<Vec<i64>>,
    /// `memory: usage NkB, limit NkB, failcnt N` of a memcg OOM.
    pub memcg_memory: Option<(u64, u64, u64)>,
    /// `N total pagecache pages`.
    pub pagecache_pages: Option<u64>,
    /// `Out of memory and no killable processes...`: the OOM killed nothing.
    pub no_killable: bool,
    /// Only the `Killed process` line was printed: the kernel rate-limited
    /// the rest of this OOM's report (10 reports per 5 s).
    pub header_suppressed: bool,
    /// `Tasks in /x are going to be killed due to memory.oom.group set`:
    /// the group's cgroup; its further victims are in `also_killed`.
    pub oom_group: Option<String>,
    /// The further `Killed process` lines of a memory.oom.group kill.
    pub also_killed: Vec<Killed>,
    /// Before 5.0 (`Kill process N (comm) score S or sacrifice child`):
    /// the victim's badness as the kernel printed it.
    pub points: Option<i64>,
}

#[derive(Clone, Debug, Default, PartialEq)]
pub struct ZoneLine {
    pub node: u32,
    pub zone: String,
    pub free_kb: u64,
    pub min_kb: u64,
    pub low_kb: u64,
    pub high_kb: u64,
    /// Every `label:value` of the line, kB.
    pub fields: BTreeMap<String, u64>,
    /// The `lowmem_reserve[]:` line right after it.
    pub lowmem_reserve: Option<Vec<i64>>,
}

/// The `Killed process` line.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Killed {
    pub message: String,
    pub pid: i32,
    pub comm: String,
    pub total_vm_kb: u64,
    pub anon_rss_kb: u64,
    pub file_rss_kb: u64,
    pub shmem_rss_kb: u64,
    pub uid: u32,
    pub pgtables_kb: u64,
    pub oom_score_adj: i16,
    /// The line ends inside a field (a console wrapped it): the next line
    /// may hold the rest.
    pub cut: bool,
    /// The line as read, to join its rest to.
    pub line: String,
}

mod lines;
mod parser;
mod to_event;

pub use lines::{LogLine, kmsg_record_lines, split_line};
pub use parser::{LogParser, parse_log};
pub use to_event::to_event;
#[cfg(test)]
use {lines::*, parser::*};

#[cfg(test)]
mod old_formats;
#[cfg(test)]
mod tests;
