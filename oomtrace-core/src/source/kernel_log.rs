//! The kernel's own OOM report, read from a log: `dmesg`, `journalctl -k`,
//! `/var/log/kern.log`, a serial console capture, or `/dev/kmsg` records.
//! It is the oracle oomtrace's live events are checked against, and with
//! [`to_event`] the way past OOMs become events (`oomtrace import`).
//!
//! Lines are fed one at a time ([`LogParser`]); memory stays bounded
//! whatever the input (a report holds at most [`MAX_FRAMES`] frames and a
//! bounded number of zones, and lines longer than [`MAX_LINE`] are cut).

use crate::kernel::show_mem::{MEM_INFO, NODE_LINE, ZONE_LINE, ZONE_LINE_TAIL};
use crate::schema::event::{
    Counters, Frame, MemcgMemory, MemoryAt, MemoryPath, MemoryRead, Node, OomEvent, OomType,
    Source, Task, Victim, Zone,
};
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

/// One log line with what its prefix said.
#[derive(Clone, Debug, PartialEq)]
pub struct LogLine<'a> {
    /// Seconds since boot (`[ 1114.251121]`, or a `/dev/kmsg` record's µs).
    pub timestamp: Option<f64>,
    /// RFC 3339 wall-clock time from a journald or syslog prefix.
    pub wallclock: Option<String>,
    /// The kernel's text.
    pub text: &'a str,
}

/// Strips what surrounds the kernel's text on each kind of log line:
/// `/dev/kmsg` records (`6,1234,1114251121,-;text`), `<4>` levels,
/// syslog and journald prefixes (`Nov 27 10:59:01 host kernel: `,
/// `2026-11-27T10:59:01+0000 host kernel: `), the `[ 1114.251121]`
/// timestamp and a caller id (`[ T123]`, `[  C1]`).
pub fn split_line(raw: &str) -> LogLine<'_> {
    let mut text = raw.trim_end_matches(['\r', '\n']);
    let mut timestamp = None;
    let mut wallclock = None;
    // /dev/kmsg: "prio,seq,usec,flags[,...];text"
    if let Some((head, rest)) = text.split_once(';') {
        let f: Vec<&str> = head.split(',').collect();
        if f.len() >= 4
            && f[..3]
                .iter()
                .all(|x| !x.is_empty() && x.bytes().all(|b| b.is_ascii_digit()))
        {
            timestamp = f[2].parse::<f64>().ok().map(|us| us / 1e6);
            text = rest;
        }
    }
    // syslog / journald: "<date> <host> kernel: text"
    if let Some(i) = text.find(" kernel: ") {
        let prefix = &text[..i];
        if prefix.len() < 64 && prefix.split_whitespace().count() >= 2 {
            wallclock = syslog_time(prefix);
            text = &text[i + " kernel: ".len()..];
        }
    }
    // "<4>" console level
    if let Some(rest) = text.strip_prefix('<')
        && let Some((lvl, rest)) = rest.split_once('>')
        && !lvl.is_empty()
        && lvl.len() <= 3
        && lvl.bytes().all(|b| b.is_ascii_digit())
    {
        text = rest;
    }
    if let Some(rest) = text.trim_start().strip_prefix('[')
        && let Some(end) = rest.find(']')
        && let Ok(t) = rest[..end].trim().parse::<f64>()
    {
        timestamp = Some(t);
        text = &rest[end + 1..];
    }
    // CONFIG_PRINTK_CALLER: "[ T123]" or "[  C1]".
    if let Some(rest) = text.trim_start().strip_prefix('[')
        && let Some(end) = rest.find(']')
        && let id = rest[..end].trim()
        && (id.starts_with('T') || id.starts_with('C'))
        && id.len() > 1
        && id[1..].bytes().all(|b| b.is_ascii_digit())
    {
        text = &rest[end + 1..];
    }
    // The kernel indents continuation lines and stack frames by one space.
    let text = text.strip_prefix(' ').unwrap_or(text);
    LogLine {
        timestamp,
        wallclock,
        text,
    }
}

/// The wall-clock time of a syslog or journald prefix, as RFC 3339 in UTC:
/// ISO dates with their offset applied (`journalctl -o short-iso`'s
/// `+0100`, rsyslog's `+01:00`), classic `Nov 27 10:59:01` as UTC in the
/// current year (the format has neither zone nor year).
fn syslog_time(prefix: &str) -> Option<String> {
    let first = prefix.split_whitespace().next()?;
    if first.len() >= 19 && first.as_bytes()[4] == b'-' && first.as_bytes()[10] == b'T' {
        // The local time, then `Z`, `+hhmm`, `+hh:mm` or nothing (UTC).
        let zone_at = first
            .get(19..)?
            .find(['Z', '+', '-'])
            .map_or(first.len(), |i| i + 19);
        let (local, zone) = first.split_at(zone_at);
        let t = humantime::parse_rfc3339_weak(local).ok()?;
        let east_s = match zone {
            "" | "Z" => 0,
            z => {
                let hhmm = z[1..].replace(':', "");
                if hhmm.len() != 4 || !hhmm.bytes().all(|b| b.is_ascii_digit()) {
                    return None;
                }
                let s = hhmm[..2].parse::<u64>().ok()? * 3600 + hhmm[2..].parse::<u64>().ok()? * 60;
                if z.starts_with('-') {
                    -(s as i64)
                } else {
                    s as i64
                }
            }
        };
        let utc = if east_s >= 0 {
            t.checked_sub(std::time::Duration::from_secs(east_s as u64))?
        } else {
            t.checked_add(std::time::Duration::from_secs(east_s.unsigned_abs()))?
        };
        return Some(humantime::format_rfc3339_micros(utc).to_string());
    }
    let mut w = prefix.split_whitespace();
    let (mon, day, hms) = (w.next()?, w.next()?, w.next()?);
    const MONTHS: [&str; 12] = [
        "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
    ];
    let m = MONTHS.iter().position(|x| *x == mon)? + 1;
    let day: u32 = day.parse().ok()?;
    if hms.len() != 8 {
        return None;
    }
    let year = humantime::format_rfc3339(std::time::SystemTime::now()).to_string();
    let t = humantime::parse_rfc3339_weak(&format!("{}-{m:02}-{day:02}T{hms}", &year[..4])).ok()?;
    Some(humantime::format_rfc3339_micros(t).to_string())
}

fn kb(s: &str) -> Option<u64> {
    s.trim()
        .trim_end_matches("kB")
        .trim_end_matches("KB")
        .parse()
        .ok()
}

/// Where in a report the parser is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Block {
    None,
    Trace,
    FtraceStack,
    MemInfo,
}

/// Reads a log line by line and hands out each OOM report once it is
/// complete (its `Killed process` line, or the next report, or the end).
#[derive(Debug)]
pub struct LogParser {
    current: Option<KernelReport>,
    /// A report ended by its `Killed process` line, held for one more line:
    /// a memory.oom.group kill goes on with more victims.
    held: Option<KernelReport>,
    /// Reports complete, not yet handed out (at most two per line).
    done: std::collections::VecDeque<KernelReport>,
    block: Block,
    /// An ftrace `<stack trace>` block seen before any report (the seed's).
    orphan_sfa: Vec<(String, u64, u64)>,
    /// Before 5.0 the victim was named first (`Kill process N (comm)
    /// score S or sacrifice child`), then killed (`Killed process N ...`,
    /// without the message): the message and score wait here.
    chosen: Option<(String, i32, i64)>,
}

/// Further victims kept of one memory.oom.group kill.
const MAX_GROUP: usize = 1024;

impl Default for LogParser {
    fn default() -> Self {
        Self::new()
    }
}

impl LogParser {
    pub fn new() -> Self {
        Self {
            current: None,
            held: None,
            done: std::collections::VecDeque::new(),
            block: Block::None,
            orphan_sfa: Vec::new(),
            chosen: None,
        }
    }

    /// Feeds one line; returns the report it completed, if any.
    pub fn line(&mut self, raw: &str) -> Option<KernelReport> {
        let cut = if raw.len() > MAX_LINE {
            let mut end = MAX_LINE;
            while !raw.is_char_boundary(end) {
                end -= 1;
            }
            &raw[..end]
        } else {
            raw
        };
        // Copied from a web page: each space may have become a no-break
        // space and a space. Lines re-wrapped by such a copy or a narrow
        // terminal carry long runs of spaces where they were folded.
        let unbroken;
        let cut = if cut.contains('\u{a0}') {
            unbroken = cut.replace("\u{a0} ", " ").replace('\u{a0}', " ");
            unbroken.as_str()
        } else {
            cut
        };
        let joined;
        let raw = if cut.contains("                ") {
            joined = unwrap_folds(cut);
            joined.as_str()
        } else {
            cut
        };
        let l = split_line(raw);
        self.text(&l)
    }

    /// What is still open at the end of the input: call until `None`.
    pub fn finish(&mut self) -> Option<KernelReport> {
        self.block = Block::None;
        self.done.extend(self.held.take());
        self.done.extend(self.current.take());
        self.done.pop_front()
    }

    /// Reports completed by the last line beyond the one `line` returned.
    pub fn drain(&mut self) -> Option<KernelReport> {
        self.done.pop_front()
    }

    /// A report held for a memory.oom.group's further victims, handed out
    /// now: a live reader calls this when the log has been quiet a while.
    pub fn flush_held(&mut self) -> Option<KernelReport> {
        self.done.extend(self.held.take());
        self.done.pop_front()
    }

    fn text(&mut self, l: &LogLine<'_>) -> Option<KernelReport> {
        self.step(l);
        self.done.pop_front()
    }

    /// A report complete with its kill: held for a group's further victims.
    fn killed(&mut self, r: KernelReport) {
        self.done.extend(self.held.replace(r));
    }

    fn step(&mut self, l: &LogLine<'_>) {
        let line = l.text;
        if let Some(h) = self.held.as_mut() {
            if let Some(group) = line
                .strip_prefix("Tasks in ")
                .and_then(|r| r.strip_suffix(" are going to be killed due to memory.oom.group set"))
            {
                h.oom_group = Some(group.to_owned());
                return;
            }
            if h.oom_group.is_some() && line.contains("Killed process ") {
                if let Some(k) = parse_killed(line)
                    && h.also_killed.len() < MAX_GROUP
                {
                    h.also_killed.push(k);
                }
                return;
            }
            // Wrapped by a console or a copy: the rest of a cut kill line.
            if let Some(k) = h.killed.as_ref().filter(|k| k.cut) {
                let joined = format!("{}{}", k.line, line);
                if let Some(k) = parse_killed(&joined) {
                    h.killed = Some(k);
                    return;
                }
            }
            self.done.extend(self.held.take());
        }
        if let Some(r) = parse_invoked(line) {
            self.done.extend(self.current.take());
            self.block = Block::None;
            self.chosen = None;
            self.current = Some(KernelReport {
                timestamp: l.timestamp,
                wallclock: l.wallclock.clone(),
                show_free_areas_stack: std::mem::take(&mut self.orphan_sfa),
                ..r
            });
            return;
        }
        // Before 5.0: "Out of memory: Kill process 3359 (a.out) score 834
        // or sacrifice child" (2.6.32: "kill process ... score N or a child").
        if let Some((message, rest)) = line
            .split_once(": Kill process ")
            .or_else(|| line.split_once(": kill process "))
            && let Some((pid, rest)) = rest.split_once(" (")
            && let Some((_, rest)) = rest.rsplit_once(") score ")
        {
            let score = rest.split_whitespace().next().and_then(|s| s.parse().ok());
            if let (Ok(pid), Some(score)) = (pid.trim().parse(), score) {
                self.chosen = Some((message.to_owned(), pid, score));
            }
            return;
        }
        // ftrace's stack trace of a probe at show_free_areas: " => f+0x8/0x7a8".
        if line.contains("<stack trace>") {
            self.block = Block::FtraceStack;
            match self.current.as_mut() {
                Some(c) => c.show_free_areas_stack.clear(),
                None => self.orphan_sfa.clear(),
            }
            return;
        }
        if self.block == Block::FtraceStack {
            if let Some(f) = line.trim().strip_prefix("=> ").and_then(parse_frame) {
                let sfa = match self.current.as_mut() {
                    Some(c) => &mut c.show_free_areas_stack,
                    None => &mut self.orphan_sfa,
                };
                if sfa.len() < MAX_FRAMES {
                    sfa.push(f.0);
                }
                return;
            }
            self.block = Block::None;
        }
        if line.contains(": Killed process ") || line.starts_with("Killed process ") {
            let mut killed = parse_killed(line);
            // Before 5.0 the message and the score came on the line before.
            let chosen = self.chosen.take();
            let mut points = None;
            if let (Some(k), Some((message, pid, score))) = (killed.as_mut(), chosen)
                && k.pid == pid
            {
                if k.message.is_empty() {
                    k.message = message;
                }
                points = Some(score);
            }
            self.block = Block::None;
            match self.current.take() {
                Some(mut cur) if cur.killed.is_none() => {
                    cur.killed = killed;
                    cur.points = points;
                    self.killed(cur);
                }
                // A kill without its own header: the kernel rate-limited
                // that OOM's report (dump_header), not the kill line. An
                // unfinished report before it ends here too.
                unfinished => {
                    self.done.extend(unfinished);
                    self.killed(KernelReport {
                        timestamp: l.timestamp,
                        wallclock: l.wallclock.clone(),
                        header_suppressed: true,
                        killed,
                        points,
                        ..KernelReport::default()
                    });
                }
            }
            return;
        }
        let Some(cur) = self.current.as_mut() else {
            return;
        };
        if line.starts_with("Call Trace:") || line.starts_with("Call trace:") {
            self.block = Block::Trace;
            cur.arch = Some(if line.starts_with("Call Trace:") {
                crate::kernel::arch::X86_64.machine
            } else {
                crate::kernel::arch::AARCH64.machine
            });
            return;
        }
        // 32-bit ARM prints its unwind without a title: "a from b+0x18/0x1c".
        if cur.stack.is_empty()
            && self.block == Block::None
            && line.contains(" from ")
            && let Some((frame, addr)) = parse_frame(line.trim())
        {
            self.block = Block::Trace;
            cur.arch = Some(crate::kernel::arch::ARM.machine);
            cur.stack.push(frame);
            cur.stack_addrs.push(addr);
            return;
        }
        if self.block == Block::Trace {
            let t = line.trim();
            if t == "<TASK>" || t.starts_with('?') || t.starts_with("<IRQ>") {
                return;
            }
            if let Some((frame, addr)) = parse_frame(t) {
                if cur.stack.len() < MAX_FRAMES {
                    cur.stack.push(frame);
                    cur.stack_addrs.push(addr);
                }
                return;
            }
            // Registers, code bytes, other CPUs' lines: the trace goes on
            // until a line of the report's next part.
            if t == "</TASK>"
                || t.eq_ignore_ascii_case("Mem-Info:")
                || t.starts_with("memory: ")
                || t.starts_with("Tasks state")
            {
                self.block = Block::None;
            } else {
                return;
            }
        }
        if line.contains("no killable processes") {
            cur.no_killable = true;
        } else if let Some((_, rest)) = line.split_once(" cpuset=")
            && let Some((cpuset, mems)) = rest.split_once(" mems_allowed=")
        {
            // Before 4.19 dump_header printed these on a line of their own.
            cur.summary
                .entry("cpuset".into())
                .or_insert(cpuset.to_owned());
            cur.summary
                .entry("mems_allowed".into())
                .or_insert(mems.trim().to_owned());
        }
        if let Some(rest) = line.strip_prefix("CPU: ") {
            let words: Vec<&str> = rest.split_whitespace().collect();
            cur.cpu = words.first().and_then(|c| c.parse().ok());
            let after = |key: &str| {
                words
                    .iter()
                    .position(|w| *w == key)
                    .and_then(|i| words.get(i + 1))
            };
            cur.trigger_pid = after("PID:").and_then(|p| p.parse().ok());
            cur.trigger_uid = after("UID:").and_then(|p| p.parse().ok());
            // "Not tainted 6.1.0-50-armmp-lpae #1" / "Tainted: G W 6.12.0 #1"
            cur.kernel = words
                .iter()
                .position(|w| *w == "tainted" || *w == "Tainted:")
                .and_then(|i| {
                    words[i + 1..].iter().find(|w| {
                        w.as_bytes().first().is_some_and(u8::is_ascii_digit) && w.contains('.')
                    })
                })
                .map(|w| (*w).to_owned());
        } else if let Some(rest) = line.strip_prefix("oom-kill:") {
            for kv in rest.split(',') {
                match kv.split_once('=') {
                    Some((k, v)) => {
                        cur.summary.insert(k.to_owned(), v.to_owned());
                    }
                    None if kv == "global_oom" => cur.global_oom = true,
                    None => {}
                }
            }
        } else if line.eq_ignore_ascii_case("Mem-Info:") {
            // "Mem-info:" before 3.x's end.
            self.block = Block::MemInfo;
        } else if let Some(z) = parse_zone_line(line) {
            self.block = Block::None;
            if cur.zone_watermarks.len() < MAX_ZONES {
                cur.numa = Some(line.starts_with("Node "));
                cur.zone_watermarks.push(z);
            }
        } else if let Some((area, types)) = parse_free_area(line) {
            if cur.page_kb.is_none() {
                cur.page_kb = line
                    .split_once("*")
                    .and_then(|(_, r)| r.split_once("kB"))
                    .and_then(|(k, _)| k.parse().ok());
            }
            if cur.free_areas.len() < MAX_ZONES {
                cur.free_areas.push(area);
                cur.free_types.push(types);
            }
        } else if self.block == Block::MemInfo
            && (line.ends_with(" per-cpu:") || line.starts_with("CPU "))
        {
            // 3.x's Mem-Info opens with each zone's per-CPU page lists:
            // "Node 0 DMA per-cpu:", "CPU    0: hi:    0, btch:   1 usd:   0".
        } else if let Some(rest) = line.strip_prefix("Node ") {
            self.block = Block::None;
            if let Some((node, pairs)) = rest.split_once(' ')
                && let Ok(node) = node.parse()
            {
                let values = label_values(pairs);
                if !values.is_empty() && cur.node_lines.len() < MAX_ZONES {
                    cur.node_lines.push((node, values));
                    cur.all_unreclaimable
                        .push(if pairs.contains("all_unreclaimable? yes") {
                            Some(true)
                        } else if pairs.contains("all_unreclaimable? no") {
                            Some(false)
                        } else {
                            None
                        });
                }
            }
        } else if self.block == Block::MemInfo {
            cur.mem_info.extend(label_values(line));
        } else if let Some(rest) = line.strip_prefix("lowmem_reserve[]:") {
            if cur.lowmem_reserves.len() < MAX_ZONES {
                let reserve: Vec<i64> = rest
                    .split_whitespace()
                    .filter_map(|v| v.parse().ok())
                    .take(MAX_ZONES)
                    .collect();
                // It belongs to the zone line before it (a log with lines
                // left out may have none).
                if let Some(z) = cur.zone_watermarks.last_mut()
                    && z.lowmem_reserve.is_none()
                {
                    z.lowmem_reserve = Some(reserve.clone());
                }
                cur.lowmem_reserves.push(reserve);
            }
        } else if let Some(rest) = line.strip_prefix("memory: usage ") {
            let nums: Vec<u64> = rest
                .split([',', ' '])
                .filter_map(|w| kb(w).or_else(|| w.parse().ok()))
                .collect();
            if let [usage, limit, failcnt] = nums[..] {
                cur.memcg_memory = Some((usage, limit, failcnt));
            }
        } else if let Some(n) = line.strip_suffix(" total pagecache pages") {
            cur.pagecache_pages = n.trim().parse().ok();
        }
    }
}

/// Removes the runs of spaces a re-wrapped copy left inside a line: one
/// that splits a word (`ac   tive_file`) goes, one between words or
/// values (`512kB   (UEC)`) becomes one space.
fn unwrap_folds(line: &str) -> String {
    let word = |c: char| c.is_ascii_alphanumeric() || c == '_';
    let mut out = String::with_capacity(line.len());
    let mut spaces = 0;
    for c in line.chars() {
        if c == ' ' {
            spaces += 1;
            continue;
        }
        if spaces >= 16 {
            if !(out.is_empty() || out.ends_with(word) && word(c)) {
                out.push(' ');
            }
        } else {
            out.extend(std::iter::repeat_n(' ', spaces));
        }
        spaces = 0;
        out.push(c);
    }
    out
}

/// One frame in any of the forms kernels print: `sym+0x1f/0x40`,
/// `sym+0x1f/0x40 [module]`, `sym+0x1f/0x40 (C)` (arm64),
/// `[<ffffffff81234567>] sym+0x1f/0x40` (older x86), and 32-bit ARM's
/// `caller from sym+0x1f/0x40` (the frame is the one after `from`).
/// Returns the frame and its address (0 when not printed).
fn parse_frame(t: &str) -> Option<((String, u64, u64), u64)> {
    let mut t = t.trim();
    let mut addr = 0;
    if let Some(rest) = t.strip_prefix("[<")
        && let Some((a, rest)) = rest.split_once(">]")
    {
        addr = u64::from_str_radix(a.trim_start_matches("0x"), 16).ok()?;
        t = rest.trim();
    }
    if let Some((_, callee)) = t.split_once(" from ") {
        t = callee.trim();
        // "[<c0135760>] (dump_header.clone.1+0x6c/0x18c)" (ARM before 4.x's end).
        if let Some(rest) = t.strip_prefix("[<")
            && let Some((a, rest)) = rest.split_once(">]")
        {
            addr = u64::from_str_radix(a.trim_start_matches("0x"), 16).ok()?;
            t = rest.trim();
        }
    }
    let word = t.split_whitespace().next()?;
    let word = word.trim_start_matches('(').trim_end_matches(')');
    let (name, rest) = word.split_once('+')?;
    let (off, size) = rest.split_once('/')?;
    if name.is_empty() || name.contains(':') || name.contains('=') {
        return None;
    }
    let hex = |s: &str| u64::from_str_radix(s.trim().trim_start_matches("0x"), 16).ok();
    Some(((name.to_owned(), hex(off)?, hex(size)?), addr))
}

/// The lines of one `/dev/kmsg` record (`prio,seq,usec,flags;text`, then
/// dictionary lines): a printk of several lines is one record whose
/// newlines the kernel escaped as `\x0a` (Mem-Info's counters are printed
/// so), and other unprintable bytes as `\xNN`. The first line keeps the
/// record's prefix (its time); the rest are the text's further lines.
pub fn kmsg_record_lines(record: &str) -> Vec<String> {
    let first = record.lines().next().unwrap_or("");
    let (head, text) = match first.split_once(';') {
        Some((h, t)) => (Some(h), t),
        None => (None, first),
    };
    let mut out = Vec::new();
    let mut line = head.map(|h| format!("{h};")).unwrap_or_default();
    let mut rest = text;
    while let Some(i) = rest.find("\\x") {
        line.push_str(&rest[..i]);
        // Two hex digits are two ASCII bytes: i + 4 is then a char boundary.
        let hex = rest
            .get(i + 2..i + 4)
            .filter(|h| h.bytes().all(|b| b.is_ascii_hexdigit()))
            .and_then(|h| u8::from_str_radix(h, 16).ok());
        match hex {
            Some(b'\n') => out.push(std::mem::take(&mut line)),
            Some(b) if b.is_ascii() => line.push(b as char),
            Some(_) => line.push_str(&rest[i..i + 4]),
            None => {
                // Not an escape: the backslash and the x as they are.
                line.push_str("\\x");
                rest = &rest[i + 2..];
                continue;
            }
        }
        rest = &rest[i + 4..];
    }
    line.push_str(rest);
    out.push(line);
    out
}

/// Every OOM report in a kernel log, in order.
pub fn parse_log(log: &str) -> Vec<KernelReport> {
    let mut p = LogParser::new();
    let mut reports = Vec::new();
    for line in log.lines() {
        reports.extend(p.line(line));
        reports.extend(std::iter::from_fn(|| p.drain()));
    }
    reports.extend(std::iter::from_fn(|| p.finish()));
    reports
}

/// `label:value` pairs of a report line; values in kB or pages, unit dropped.
fn label_values(line: &str) -> BTreeMap<String, u64> {
    // "shmem_thp: 0kB" (kernels before 6.6) is one pair.
    let line = line.replace(": ", ":");
    line.split_whitespace()
        .filter_map(|w| {
            let (k, v) = w.split_once(':')?;
            Some((k.to_owned(), kb(v)?))
        })
        .collect()
}
/// `comm invoked oom-killer: gfp_mask=0xcc0(GFP_KERNEL), order=0, oom_score_adj=0`
/// Before 4.7 without the flags' names (`gfp_mask=0x201da, order=0,
/// oom_adj=0, oom_score_adj=0`); 2.6.32 has only `oom_adj`.
fn parse_invoked(line: &str) -> Option<KernelReport> {
    let (comm, rest) = line.split_once(" invoked oom-killer: ")?;
    let rest = rest.strip_prefix("gfp_mask=")?;
    let end = rest.find(['(', ',']).unwrap_or(rest.len());
    let hex = &rest[..end];
    let (flags, rest) = match rest[end..].strip_prefix('(') {
        Some(r) => r.split_once(')')?,
        None => ("", &rest[end..]),
    };
    let mut r = KernelReport {
        trigger_comm: comm.to_owned(),
        gfp_mask: u32::from_str_radix(hex.trim().trim_start_matches("0x"), 16).ok()?,
        gfp_flags: flags.to_owned(),
        gfp_named: !flags.is_empty() || hex.trim() == "0x0",
        ..KernelReport::default()
    };
    for kv in rest.split(',').map(str::trim) {
        if let Some(v) = kv.strip_prefix("order=") {
            r.order = v.parse().ok()?;
        } else if let Some(v) = kv.strip_prefix("oom_score_adj=") {
            r.trigger_oom_score_adj = v.parse().ok()?;
        }
    }
    Some(r)
}

/// `Memory cgroup out of memory: Killed process 15489 (python3) total-vm:78028kB, anon-rss:65024kB, file-rss:2424kB, shmem-rss:0kB, UID:0 pgtables:188kB oom_score_adj:0`;
/// before 5.0 without the message (`Killed process 3359 (a.out)
/// total-vm:...`), on 2.6.32 with `vsz:`; a line cut short (a console's
/// wrap) keeps what it has and says so.
fn parse_killed(line: &str) -> Option<Killed> {
    let (message, rest) = match line.split_once(": Killed process ") {
        Some(m) => m,
        None => ("", line.strip_prefix("Killed process ")?),
    };
    let (pid, rest) = rest.split_once(" (")?;
    // The comm may contain spaces or parentheses: the last ")" ends it.
    let close = rest.rfind(')')?;
    let (comm, fields) = (&rest[..close], rest[close + 1..].trim_start());
    let mut k = Killed {
        message: message.to_owned(),
        pid: pid.trim().parse().ok()?,
        comm: comm.to_owned(),
        line: line.to_owned(),
        ..Killed::default()
    };
    // Sizes end in kB: a number without it was cut inside.
    let kb = |v: &str| v.strip_suffix("kB")?.parse::<u64>().ok();
    // A line that ends at a comma goes on in the next one.
    k.cut = fields.trim_end().ends_with(',');
    for f in fields.split([',', ' ']).filter(|f| !f.is_empty()) {
        let parsed = f.split_once(':').and_then(|(key, v)| {
            match key {
                "total-vm" | "vsz" => k.total_vm_kb = kb(v)?,
                "anon-rss" => k.anon_rss_kb = kb(v)?,
                "file-rss" => k.file_rss_kb = kb(v)?,
                "shmem-rss" => k.shmem_rss_kb = kb(v)?,
                "UID" => k.uid = v.parse().ok()?,
                "pgtables" => k.pgtables_kb = kb(v)?,
                "oom_score_adj" => k.oom_score_adj = v.parse().ok()?,
                _ => {}
            }
            Some(())
        });
        if parsed.is_none() {
            k.cut = true;
            break;
        }
    }
    Some(k)
}

/// `Node 0 DMA32 free:438852kB boost:0kB min:2652kB low:3312kB high:3972kB ...`
fn parse_zone_line(line: &str) -> Option<ZoneLine> {
    // Kernels without CONFIG_NUMA print no `Node N` (32-bit ARM boards).
    let (node, rest) = match line.strip_prefix("Node ") {
        Some(rest) => {
            let (n, rest) = rest.split_once(' ')?;
            (n.parse().ok()?, rest)
        }
        None => (0, line),
    };
    let mut words = rest.split_whitespace();
    let zone = words.next()?.to_owned();
    if !zone.bytes().all(|b| b.is_ascii_alphanumeric()) || !rest.contains(" free:") {
        return None;
    }
    let mut z = ZoneLine {
        node,
        zone,
        ..ZoneLine::default()
    };
    let mut seen_free = false;
    for w in words {
        let Some((k, v)) = w.split_once(':') else {
            continue;
        };
        if let Some(v) = kb(v) {
            z.fields.insert(k.to_owned(), v);
        }
        match k {
            "free" => {
                z.free_kb = kb(v)?;
                seen_free = true;
            }
            "min" => z.min_kb = kb(v)?,
            "low" => z.low_kb = kb(v)?,
            "high" => z.high_kb = kb(v)?,
            _ => {}
        }
    }
    seen_free.then_some(z)
}

/// `Node 0 DMA32: 3*4kB (E) 5*8kB (UE) ... 102*4096kB (M) = 438852kB`
/// (without `Node N` on kernels without NUMA): counts and type letters.
#[allow(clippy::type_complexity)]
fn parse_free_area(line: &str) -> Option<((u32, String, Vec<u64>), Vec<String>)> {
    let (head, tail) = line.split_once(": ")?;
    let (node, zone) = match head.strip_prefix("Node ") {
        Some(h) => {
            let (n, z) = h.split_once(' ')?;
            (n.parse().ok()?, z)
        }
        None => (0, head),
    };
    if zone.is_empty() || !zone.bytes().all(|b| b.is_ascii_alphanumeric()) {
        return None;
    }
    let words: Vec<&str> = tail.split_whitespace().take_while(|w| *w != "=").collect();
    let mut counts = Vec::new();
    let mut types = Vec::new();
    for (i, w) in words.iter().enumerate() {
        if let Some((n, size)) = w.split_once('*') {
            if !size.ends_with("kB") {
                return None;
            }
            counts.push(n.parse().ok()?);
            let t = words
                .get(i + 1)
                .filter(|t| t.starts_with('('))
                .map_or(String::new(), |t| t.trim_matches(['(', ')']).to_owned());
            types.push(t);
        }
    }
    if counts.is_empty() || counts.len() > 32 {
        return None;
    }
    Some(((node, zone.to_owned(), counts), types))
}

/// What a kernel log cannot hold, said once per imported event.
const NOT_IN_LOGS: [crate::schema::event::Field; 3] = [
    crate::schema::event::Field::Totalpages,
    crate::schema::event::Field::Points,
    crate::schema::event::Field::DurationNs,
];

/// The page size of a report in kB: its free lists start at one page
/// (`Node 0 DMA: 1*4kB ...`); 4 where it has none.
fn page_kb(r: &KernelReport) -> u64 {
    r.page_kb.unwrap_or(4)
}

/// The kernel's report as an event of oomtrace's schema (`source:
/// "kernel-log"`); what a log cannot hold is `null` and listed in
/// `unavailable`.
pub fn to_event(r: &KernelReport, seq: u64) -> OomEvent {
    let uptime_ns = r.timestamp.map_or(0, |t| (t * 1e9).round() as u64);
    let sum = |k: &str| r.summary.get(k).cloned();
    let killed = r.killed.as_ref();
    let mut ev = OomEvent {
        kind: OomType::Oom,
        seq,
        time: r.wallclock.clone().unwrap_or_default(),
        uptime_ns,
        source: Source::KernelLog,
        trigger: Task {
            pid: r.trigger_pid,
            tid: r.trigger_pid,
            comm: (!r.header_suppressed).then(|| r.trigger_comm.clone()),
            oom_score_adj: (!r.header_suppressed).then_some(r.trigger_oom_score_adj),
            cgroup: None,
            uid: r.trigger_uid,
            cpu: r.cpu,
            workload: None,
        },
        gfp_mask: (!r.header_suppressed).then_some(r.gfp_mask),
        gfp_flags: (!r.header_suppressed).then(|| gfp_names(r)).flatten(),
        order: (!r.header_suppressed).then_some(r.order),
        constraint: sum("constraint"),
        nodemask: sum("nodemask"),
        memcg: sum("oom_memcg"),
        cpuset: sum("cpuset"),
        mems_allowed: sum("mems_allowed"),
        message: killed.map(|k| k.message.clone()),
        // A report whose kill line is not in the log (cut, or lines left
        // out) may still have killed: unknown, unless the kernel said so.
        killed: if killed.is_some() {
            Some(true)
        } else if r.no_killable {
            Some(false)
        } else {
            None
        },
        victim: killed.map(|k| Victim {
            points: r.points,
            cgroup: sum("task_memcg"),
            ..victim(k)
        }),
        also_killed: r.also_killed.iter().map(victim).collect(),
        stack: frames(&r.stack, &r.stack_addrs),
        show_free_areas_stack: (!r.show_free_areas_stack.is_empty())
            .then(|| frames(&r.show_free_areas_stack, &[])),
        memcg_memory: r
            .memcg_memory
            .map(|(usage_kb, limit_kb, failcnt)| MemcgMemory {
                usage_kb,
                limit_kb,
                failcnt,
            }),
        ..OomEvent::default()
    };
    memory(r, &mut ev);
    let mut missing: Vec<crate::schema::event::Field> = NOT_IN_LOGS
        .into_iter()
        .filter(|f| *f != crate::schema::event::Field::Points || r.points.is_none())
        .collect();
    if r.header_suppressed {
        missing.extend([
            crate::schema::event::Field::GfpMask,
            crate::schema::event::Field::Order,
            crate::schema::event::Field::Stack,
            crate::schema::event::Field::Memory,
        ]);
    }
    ev.unavailable = missing.iter().map(|f| f.name().to_owned()).collect();
    ev
}

/// A `Killed process` line as a victim. Each figure is the kernel's,
/// except those a line cut short lost (and, before 4.5, shmem; before 4.9
/// UID, page tables and oom_score_adj, which such a line does not print).
fn victim(k: &Killed) -> Victim {
    let has = |key: &str| !k.line.is_empty() && k.line.contains(key);
    let known = |key: &str, v: u64| (k.line.is_empty() || has(key)).then_some(v);
    Victim {
        pid: Some(k.pid),
        comm: Some(k.comm.clone()),
        uid: (k.line.is_empty() || has("UID:")).then_some(k.uid),
        total_vm_kb: known("total-vm:", k.total_vm_kb).or(known("vsz:", k.total_vm_kb)),
        anon_rss_kb: known("anon-rss:", k.anon_rss_kb),
        file_rss_kb: known("file-rss:", k.file_rss_kb),
        shmem_rss_kb: known("shmem-rss:", k.shmem_rss_kb),
        pgtables_kb: known("pgtables:", k.pgtables_kb),
        oom_score_adj: (k.line.is_empty() || has("oom_score_adj:")).then_some(k.oom_score_adj),
        points: None,
        cgroup: None,
        workload: None,
    }
}

/// The gfp flags' names: as printed (4.7 and later), else by the built-in
/// table of the era the log's `CPU:` line names (4.15 and later: older eras
/// had other bits, which oomtrace has no table of), else none.
fn gfp_names(r: &KernelReport) -> Option<String> {
    if r.gfp_named {
        return Some(r.gfp_flags.clone());
    }
    let release = r.kernel.as_deref()?;
    let (major, minor) = crate::kernel::gfp::parse_release(release)?;
    ((major, minor) >= (4, 15))
        .then(|| crate::kernel::gfp::GfpTable::builtin(release).format(r.gfp_mask as u64))
}

fn frames(stack: &[(String, u64, u64)], addrs: &[u64]) -> Vec<Frame> {
    stack
        .iter()
        .enumerate()
        .map(|(i, (name, off, size))| Frame {
            addr: match addrs.get(i) {
                Some(&a) if a != 0 => format!("{a:#x}"),
                _ => String::new(),
            },
            symbol: Some(name.clone()),
            offset: Some(*off),
            size: Some(*size),
        })
        .collect()
}

/// Counters, nodes and zones from the report's `Mem-Info` block, mapped to
/// the kernel's counter names by the same tables the text is rendered with.
fn memory(r: &KernelReport, ev: &mut OomEvent) {
    if r.mem_info.is_empty() && r.zone_watermarks.is_empty() {
        return;
    }
    let page_kb = page_kb(r);
    let kernel = r
        .kernel
        .as_deref()
        .and_then(crate::kernel::gfp::parse_release);
    let pages = |name: &str, kb: u64| -> i64 {
        if name.ends_with("_KB") {
            kb as i64
        } else {
            (kb / page_kb / crate::kernel::show_mem::pages_per_unit(name, kernel, page_kb)) as i64
        }
    };
    let mut counters = Counters::default();
    for (label, name) in MEM_INFO.iter().flat_map(|g| g.iter()) {
        if let Some(v) = r.mem_info.get(*label) {
            counters.node.insert((*name).into(), *v as i64);
        }
    }
    if let Some(p) = r.pagecache_pages {
        counters.node.insert("NR_FILE_PAGES".into(), p as i64);
    }
    counters.free_pcp = r.mem_info.get("free_pcp").copied();
    let nodes: Vec<Node> = r
        .node_lines
        .iter()
        .enumerate()
        .map(|(i, (node, values))| Node {
            node: *node,
            counters: NODE_LINE
                .iter()
                .chain(crate::kernel::show_mem::NODE_LINE_AFTER)
                .filter_map(|(l, n)| Some(((*n).into(), pages(n, *values.get(*l)?))))
                .collect(),
            all_unreclaimable: r.all_unreclaimable.get(i).copied().flatten(),
        })
        .collect();
    let zones: Vec<Zone> = r
        .zone_watermarks
        .iter()
        .map(|z| {
            let f = |k: &str| z.fields.get(k).copied();
            let (free_area, free_types) = r
                .free_areas
                .iter()
                .zip(&r.free_types)
                .find(|((n, name, _), _)| *n == z.node && *name == z.zone)
                .map(|((_, _, c), t)| (c.clone(), t.clone()))
                .unwrap_or_default();
            Zone {
                node: z.node,
                zone: z.zone.clone(),
                free_kb: Some(z.free_kb),
                min_kb: Some(z.min_kb),
                low_kb: Some(z.low_kb),
                high_kb: Some(z.high_kb),
                free_area,
                boost_kb: f("boost"),
                reserved_highatomic_kb: f("reserved_highatomic"),
                free_highatomic_kb: f("free_highatomic"),
                present_kb: f("present"),
                managed_kb: f("managed"),
                lowmem_reserve: z.lowmem_reserve.clone().unwrap_or_default(),
                free_types,
                counters: ZONE_LINE
                    .iter()
                    .chain(ZONE_LINE_TAIL)
                    .chain(&[("free_cma", "NR_FREE_CMA_PAGES")])
                    .filter_map(|(l, n)| Some(((*n).into(), pages(n, f(l)?))))
                    .collect(),
                free_pcp_kb: f("free_pcp"),
                local_pcp_kb: f("local_pcp"),
            }
        })
        .collect();
    // Free lists whose zone line the log left out still count.
    let mut zones = zones;
    for ((node, name, counts), types) in r.free_areas.iter().zip(&r.free_types) {
        if !zones.iter().any(|z| z.node == *node && z.zone == *name) {
            zones.push(Zone {
                node: *node,
                zone: name.clone(),
                free_area: counts.clone(),
                free_types: types.clone(),
                ..Zone::default()
            });
        }
    }
    ev.counters = (!r.mem_info.is_empty()).then_some(counters);
    ev.nodes = (!nodes.is_empty()).then_some(nodes);
    ev.zones = (!zones.is_empty()).then_some(zones);
    ev.memory_read = Some(MemoryRead {
        at: MemoryAt::Printed,
        path: MemoryPath::KernelLog,
        page_kb,
        sampled_after_ns: None,
        numa: r.numa,
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fixture(name: &str) -> Vec<KernelReport> {
        parse_log(
            &std::fs::read_to_string(crate::testdata::kernel_reports_dir().join(name)).unwrap(),
        )
    }

    #[test]
    fn reads_a_memcg_report() {
        let r = fixture("6.18-memcg-oom.log");
        assert_eq!(r.len(), 1);
        let r = &r[0];
        assert_eq!(r.timestamp, Some(1114.251121));
        assert_eq!(
            (r.trigger_comm.as_str(), r.gfp_mask, r.order),
            ("python3", 0xcc0, 0)
        );
        assert_eq!((r.trigger_pid, r.cpu), (Some(15489), Some(1)));
        assert_eq!(r.stack[2], ("oom_kill_process.cold".into(), 0x8, 0x8a));
        assert_eq!(r.stack[3], ("out_of_memory".into(), 0x214, 0x500));
        assert!(
            !r.stack
                .iter()
                .any(|(n, _, _)| n == "srso_alias_return_thunk")
        );
        assert_eq!(r.summary["constraint"], "CONSTRAINT_MEMCG");
        assert_eq!(r.summary["oom_memcg"], "/oomtest");
        let k = r.killed.as_ref().unwrap();
        assert_eq!(k.message, "Memory cgroup out of memory");
        assert_eq!(
            (
                k.pid,
                k.comm.as_str(),
                k.total_vm_kb,
                k.anon_rss_kb,
                k.file_rss_kb
            ),
            (15489, "python3", 78028, 65024, 2424)
        );
        assert_eq!((k.uid, k.pgtables_kb, k.oom_score_adj), (0, 188, 0));
    }

    #[test]
    fn a_kill_whose_report_was_rate_limited_stands_alone() {
        let log = "[ 1.0] a invoked oom-killer: gfp_mask=0xcc0(GFP_KERNEL), order=0, oom_score_adj=0\n\
                   [ 1.0] CPU: 0 UID: 0 PID: 7 Comm: a\n\
                   [ 1.1] Memory cgroup out of memory: Killed process 7 (a) total-vm:1kB, anon-rss:1kB, file-rss:0kB, shmem-rss:0kB, UID:0 pgtables:4kB oom_score_adj:0\n\
                   [ 2.1] Memory cgroup out of memory: Killed process 9 (b) total-vm:1kB, anon-rss:1kB, file-rss:0kB, shmem-rss:0kB, UID:0 pgtables:4kB oom_score_adj:0\n";
        let r = parse_log(log);
        assert_eq!(r.len(), 2);
        assert_eq!(
            (r[0].trigger_pid, r[0].killed.as_ref().unwrap().pid),
            (Some(7), 7)
        );
        assert!(r[1].header_suppressed);
        assert_eq!(
            (r[1].trigger_pid, r[1].killed.as_ref().unwrap().pid),
            (None, 9)
        );
    }

    #[test]
    fn reads_sysrq_global_and_memcg_reports_of_6_1_and_6_12() {
        for name in [
            "6.1-qemu-sysrq-global-memcg.log",
            "6.12-qemu-sysrq-global-memcg.log",
        ] {
            let r = fixture(name);
            assert_eq!(r.len(), 3, "{name}");
            assert_eq!(r[0].order, -1);
            assert!(r[0].trigger_comm.starts_with("kworker/"));
            assert!(r[0].stack.iter().any(|(n, _, _)| n == "moom_callback"));
            assert!(r[0].global_oom);
            assert_eq!(r[0].killed.as_ref().unwrap().oom_score_adj, 1000);
            assert_eq!(r[1].gfp_flags, "GFP_HIGHUSER_MOVABLE|__GFP_COMP|__GFP_ZERO");
            assert_eq!(r[2].summary["oom_memcg"], "/hogs");
            let dma32 = r[0]
                .free_areas
                .iter()
                .find(|(_, z, _)| z == "DMA32")
                .unwrap();
            assert_eq!(dma32.2.len(), 11);
            let wm = r[0]
                .zone_watermarks
                .iter()
                .find(|z| z.zone == "DMA32")
                .unwrap();
            assert!(wm.min_kb > 0 && wm.min_kb < wm.low_kb && wm.low_kb < wm.high_kb);
        }
        let r = fixture("6.1-qemu-sysrq-global-memcg.log");
        assert_eq!(
            r[0].free_areas[1].2,
            vec![3, 5, 25, 22, 13, 13, 12, 10, 3, 3, 102]
        );
        let r = fixture("6.12-qemu-sysrq-global-memcg.log");
        assert!(r.iter().all(|r| !r.header_suppressed));
        assert_eq!(r[0].mem_info["active_anon"], 697);
        assert_eq!(r[0].mem_info["free"], 113232);
        assert_eq!(r[0].mem_info["free_pcp"], 1134);
        assert_eq!(r[0].node_lines.len(), 1);
        assert_eq!(r[0].node_lines[0].1["kernel_stack"], 1024);
        assert_eq!(
            r[0].lowmem_reserves,
            vec![vec![0, 441, 441, 441, 441], vec![0; 5]]
        );
        assert_eq!(r[0].zone_watermarks[1].fields["managed"], 460400);
        assert_eq!(r[0].pagecache_pages, Some(672));
        assert_eq!(r[2].memcg_memory, Some((32768, 32768, 21)));
        assert!(r[2].mem_info.is_empty(), "memcg reports have no Mem-Info");
    }

    /// Which report lines oomtrace renders too, and the kind of each: the
    /// round trip compares these, kind by kind, in order.
    fn rendered_kind(line: &str) -> Option<&'static str> {
        let l = line.strip_prefix(' ').unwrap_or(line);
        if l.contains(" invoked oom-killer: ") {
            Some("invoked")
        } else if l.starts_with("oom-kill:") {
            Some("summary")
        } else if l.contains(": Killed process ") {
            Some("killed")
        } else if l.starts_with("memory: usage ") {
            Some("memcg")
        } else if l.starts_with("lowmem_reserve[]:") {
            Some("reserve")
        } else if l.ends_with(" total pagecache pages") {
            Some("pagecache")
        } else if parse_zone_line(l).is_some() {
            Some("zone")
        } else if parse_free_area(l).is_some() {
            Some("buddy")
        } else if l.starts_with("Node ") && l.contains(" active_anon:") {
            Some("node")
        } else if l == "Mem-Info:"
            || MEM_INFO
                .iter()
                .flat_map(|g| g.iter())
                .any(|(label, _)| l.starts_with(&format!("{label}:")))
        {
            Some("mem-info")
        } else {
            None
        }
    }

    /// The lines of `text` that `rendered_kind` picks, without timestamps
    /// (nor the indentation `dmesg` gives a record's later lines instead).
    fn rendered_lines(text: &str) -> Vec<(&'static str, String)> {
        text.lines()
            .filter_map(|raw| {
                let l = split_line(raw).text.trim_start().to_owned();
                Some((rendered_kind(&l)?, l))
            })
            .collect()
    }

    /// The kernel's lines of one report: from its `invoked` line (or its
    /// rate-limited `Killed process` line) to its `Killed process` line.
    fn report_blocks(log: &str) -> Vec<Vec<(&'static str, String)>> {
        let mut blocks: Vec<Vec<(&'static str, String)>> = Vec::new();
        let mut open = false;
        for (kind, line) in rendered_lines(log) {
            if kind == "invoked" || (kind == "killed" && !open) {
                blocks.push(Vec::new());
                open = true;
            }
            if let Some(b) = blocks.last_mut().filter(|_| open) {
                b.push((kind, line));
            }
            if kind == "killed" {
                open = false;
            }
        }
        blocks
    }

    /// Round trip: every fixture imported, then rendered as `report` does,
    /// gives back each line of the kernel's report that oomtrace renders,
    /// as the kernel printed it (timestamps aside).
    #[test]
    fn import_then_render_gives_the_kernels_lines_back() {
        let dir = crate::testdata::kernel_reports_dir();
        let mut checked = 0;
        let mut files = 0;
        for entry in std::fs::read_dir(&dir).unwrap() {
            let path = entry.unwrap().path();
            let log = std::fs::read_to_string(&path).unwrap();
            let reports = parse_log(&log);
            let blocks = report_blocks(&log);
            assert_eq!(reports.len(), blocks.len(), "{}", path.display());
            for (i, (r, kernel)) in reports.iter().zip(&blocks).enumerate() {
                let ev = to_event(r, i as u64 + 1);
                let opts = crate::sink::render::Options {
                    kernel: r
                        .kernel
                        .as_deref()
                        .and_then(crate::kernel::gfp::parse_release),
                    ..crate::sink::render::Options::default()
                };
                let ours = rendered_lines(&crate::sink::render::text_with(&ev, opts));
                let ours: Vec<_> = ours
                    .into_iter()
                    .filter(|(k, _)| kernel.iter().any(|(kk, _)| kk == k))
                    .collect();
                assert_eq!(
                    ours.iter().map(|(_, l)| l).collect::<Vec<_>>(),
                    kernel.iter().map(|(_, l)| l).collect::<Vec<_>>(),
                    "{} report {}",
                    path.display(),
                    i + 1
                );
                checked += kernel.len();
            }
            files += 1;
        }
        assert!(
            files >= 6 && checked > 150,
            "{files} files, {checked} lines"
        );
    }

    /// A date-like prefix with a multi-byte character at byte 19 (found by
    /// reading, before the fuzzer could): no panic, no time.
    #[test]
    fn a_broken_syslog_date_is_no_time_and_no_panic() {
        let l = split_line("2026-11-27T10:59:0\u{e4} host kernel: [ 1.5] text");
        assert_eq!(l.text, "text");
        assert_eq!(l.wallclock, None);
        assert_eq!(l.timestamp, Some(1.5));
        // A UTC offset that is not `hhmm` or `hh:mm`: no time rather than a wrong one.
        for zone in ["+1:30", "+0a00", "+01"] {
            let line = format!("2026-11-27T11:59:01{zone} host kernel: [ 1.5] text");
            let l = split_line(&line);
            assert_eq!((l.text, l.wallclock), ("text", None), "{zone}");
        }
    }

    /// A `;` or a ` kernel: ` in the kernel's own text is no prefix.
    #[test]
    fn a_prefix_is_read_only_where_it_is_one() {
        let l = split_line("[    5.000000] virtio_net: a;b");
        assert_eq!((l.text, l.timestamp), ("virtio_net: a;b", Some(5.0)));
        let far = format!(
            "[    5.000000] audit: {} comm=\"a kernel: x\"",
            "a".repeat(60)
        );
        let l = split_line(&far);
        assert_eq!((l.text, l.wallclock), (&far[15..], None));
        // The record's first three fields are numbers: else it is text.
        let l = split_line("4,12,x,-;text");
        assert_eq!(l.text, "4,12,x,-;text");
        // A caller id is a letter and digits.
        assert_eq!(split_line("[    1.000000] [ T] text").text, "[ T] text");
        assert_eq!(split_line("[    1.000000] [T42] text").text, "text");
    }

    /// Each list of a report holds at most its bound, whatever the log
    /// repeats: frames, zones, free lists, node lines, reserves, a group's
    /// victims, an ftrace stack.
    #[test]
    fn every_list_of_a_report_stops_at_its_bound() {
        let mut log = String::from("[    1.000000] <stack trace>\n");
        for i in 0..MAX_FRAMES + 5 {
            log.push_str(&format!("[    1.000000]  => f{i}+0x8/0x10\n"));
        }
        log.push_str(
            "[    2.000000] x invoked oom-killer: gfp_mask=0xcc0(GFP_KERNEL), order=0, oom_score_adj=0\n\
             [    2.000000] CPU: 0 PID: 5 Comm: x Not tainted 6.1.0 #1\n\
             [    2.000000] Call Trace:\n",
        );
        for i in 0..MAX_FRAMES + 5 {
            log.push_str(&format!("[    2.000000]  g{i}+0x8/0x10\n"));
        }
        log.push_str("[    2.000000] Mem-Info:\n[    2.000000] active_anon:1 free:2\n");
        for i in 0..MAX_ZONES + 5 {
            log.push_str(&format!(
                "[    2.000000] Node {i} active_anon:4kB inactive_anon:0kB\n\
                 [    2.000000] Node 0 Z{i} free:4kB min:0kB low:0kB high:0kB present:8kB managed:8kB\n\
                 [    2.000000] lowmem_reserve[]: 0 0\n\
                 [    2.000000] Node 0 Z{i}: 1*4kB (U) = 4kB\n"
            ));
        }
        log.push_str("[    2.000000] Out of memory: Killed process 5 (x) total-vm:4kB, anon-rss:4kB, file-rss:0kB, shmem-rss:0kB, UID:0 pgtables:4kB oom_score_adj:0\n\
                      [    2.000000] Tasks in /g are going to be killed due to memory.oom.group set\n");
        for pid in 0..MAX_GROUP + 5 {
            log.push_str(&format!("[    2.000000] Memory cgroup out of memory: Killed process {} (y) total-vm:4kB, anon-rss:4kB, file-rss:0kB, shmem-rss:0kB, UID:0 pgtables:4kB oom_score_adj:0\n", pid + 6));
        }
        let r = parse_log(&log);
        assert_eq!(r.len(), 1);
        let r = &r[0];
        assert_eq!(r.show_free_areas_stack.len(), MAX_FRAMES);
        assert_eq!(
            (r.stack.len(), r.stack_addrs.len()),
            (MAX_FRAMES, MAX_FRAMES)
        );
        assert_eq!(r.stack[MAX_FRAMES - 1].0, format!("g{}", MAX_FRAMES - 1));
        assert_eq!(r.node_lines.len(), MAX_ZONES);
        assert_eq!(r.zone_watermarks.len(), MAX_ZONES);
        assert_eq!(r.lowmem_reserves.len(), MAX_ZONES);
        assert_eq!(
            (r.free_areas.len(), r.free_types.len()),
            (MAX_ZONES, MAX_ZONES)
        );
        assert_eq!(r.also_killed.len(), MAX_GROUP);
        let ev = to_event(r, 1);
        assert_eq!(ev.show_free_areas_stack.map(|s| s.len()), Some(MAX_FRAMES));
        assert_eq!(r.killed.as_ref().map(|k| k.pid), Some(5));
    }

    /// A copy re-wrapped by a narrow terminal: a long run of spaces inside a
    /// word goes, one between words becomes one space, one at the start
    /// goes; short runs stay.
    #[test]
    fn folds_are_unwrapped_by_what_they_split() {
        let run = " ".repeat(16);
        assert_eq!(
            unwrap_folds(&format!("ac{run}tive_file:4")),
            "active_file:4"
        );
        assert_eq!(unwrap_folds(&format!("512kB{run}(UEC)")), "512kB (UEC)");
        assert_eq!(unwrap_folds(&format!("free:{run}12")), "free: 12");
        assert_eq!(unwrap_folds(&format!("{run}ab  c")), "ab  c");
    }

    /// What is no frame: a register line, a `key=value`, a bare offset.
    #[test]
    fn only_symbol_offset_size_is_a_frame() {
        assert_eq!(
            parse_frame("dump_header+0x43/0x1c0"),
            Some((("dump_header".into(), 0x43, 0x1c0), 0))
        );
        for t in [
            "0010:ktime_get+0x3b/0x170",
            "mask=a+0x1/0x2",
            "+0x1/0x2",
            "? f",
        ] {
            assert_eq!(parse_frame(t), None, "{t}");
        }
    }

    /// The release from the `CPU:` line, tainted or not; the UID of the
    /// kill; the flags as printed, not re-derived; a Call Trace ends at
    /// `</TASK>`, and frames after it are not the OOM's.
    #[test]
    fn what_the_cpu_kill_and_trace_lines_say() {
        for (cpu, release) in [
            (
                "CPU: 1 PID: 5 Comm: x Not tainted 5.10.0-46-cloud-amd64 #1 Debian 5.10.262-1",
                "5.10.0-46-cloud-amd64",
            ),
            (
                "CPU: 1 UID: 0 PID: 5 Comm: x Tainted: G        W  O       6.12.0 #1",
                "6.12.0",
            ),
            // A comm may look like a release: the release is after the taint.
            (
                "CPU: 1 PID: 5 Comm: 1.5-worker Not tainted 6.1.0 #1",
                "6.1.0",
            ),
        ] {
            let log = format!(
                "[    2.000000] x invoked oom-killer: gfp_mask=0xcc0(MADE_UP), order=0, oom_score_adj=0\n\
                 [    2.000000] {cpu}\n\
                 [    2.000000] Call Trace:\n\
                 [    2.000000]  <TASK>\n\
                 [    2.000000]  dump_stack_lvl+0x59/0x90\n\
                 [    2.000000]  </TASK>\n\
                 [    2.000000]  stray+0x1/0x2\n\
                 [    2.000000] Out of memory: Killed process 5 (x) total-vm:4kB, anon-rss:4kB, file-rss:0kB, shmem-rss:0kB, UID:1000 pgtables:4kB oom_score_adj:0\n"
            );
            let r = &parse_log(&log)[0];
            assert_eq!(r.kernel.as_deref(), Some(release), "{cpu}");
            let ev = to_event(r, 1);
            assert_eq!(ev.gfp_flags.as_deref(), Some("MADE_UP"));
            assert_eq!(ev.victim.and_then(|v| v.uid), Some(1000));
            let names: Vec<_> = ev.stack.iter().map(|f| f.symbol.clone().unwrap()).collect();
            assert_eq!(names, ["dump_stack_lvl"]);
            assert!(ev.show_free_areas_stack.is_none());
        }
    }

    /// A kill without its report (rate-limited) keeps its line's time and
    /// wall clock, and the score the line before it gave (before 5.0).
    #[test]
    fn a_kill_without_its_report_keeps_its_time_and_score() {
        let log = "Nov 27 10:59:01 host kernel: [   12.500000] Out of memory: Kill process 10 (a) score 900 or sacrifice child\n\
                   Nov 27 10:59:01 host kernel: [   12.600000] Killed process 10 (a) total-vm:4kB, anon-rss:4kB, file-rss:0kB, shmem-rss:0kB\n";
        let r = &parse_log(log)[0];
        assert!(r.header_suppressed);
        assert_eq!(r.timestamp, Some(12.6));
        assert!(
            r.wallclock
                .as_deref()
                .unwrap()
                .ends_with("-11-27T10:59:01.000000Z")
        );
        assert_eq!(to_event(r, 1).victim.and_then(|v| v.points), Some(900));
    }

    /// Free lists whose zone line the log left out still make a zone, of
    /// their node; a line of more than 32 orders is no free list.
    #[test]
    fn free_lists_without_their_zone_line_and_too_many_orders() {
        let many = |n: usize| vec!["1*4kB (U)"; n].join(" ");
        let log = format!(
            "[    2.000000] x invoked oom-killer: gfp_mask=0xcc0(GFP_KERNEL), order=0, oom_score_adj=0\n\
             [    2.000000] Mem-Info:\n\
             [    2.000000] active_anon:1 free:2\n\
             [    2.000000] Node 0 DMA free:4kB min:0kB low:0kB high:0kB present:8kB managed:8kB\n\
             [    2.000000] Node 1 DMA: {} = 128kB\n\
             [    2.000000] Node 1 Normal: {} = 132kB\n\
             [    2.000000] Node 1 DMA-x: 1*4kB (U) = 4kB\n",
            many(32),
            many(33)
        );
        let ev = to_event(&parse_log(&log)[0], 1);
        let zones = ev.zones.unwrap();
        assert_eq!(zones.len(), 2, "{zones:?}");
        // Node 0's DMA has its line and no free lists; node 1's the reverse.
        assert_eq!((zones[0].node, zones[0].zone.as_str()), (0, "DMA"));
        assert!(zones[0].free_area.is_empty());
        assert_eq!((zones[1].node, zones[1].zone.as_str()), (1, "DMA"));
        assert_eq!(zones[1].free_area, vec![1; 32]);
        assert_eq!(zones[1].free_types, vec!["U"; 32]);
    }

    /// A report cut after its Mem-Info counters still has them; one whose
    /// Mem-Info lines were lost still has its zones.
    #[test]
    fn half_a_memory_block_is_kept() {
        let head = "[    2.000000] x invoked oom-killer: gfp_mask=0xcc0(GFP_KERNEL), order=0, oom_score_adj=0\n";
        let counters =
            format!("{head}[    2.000000] Mem-Info:\n[    2.000000] active_anon:1 free:2\n");
        let ev = to_event(&parse_log(&counters)[0], 1);
        let c = ev.counters.expect("Mem-Info's counters");
        assert_eq!(c.node.get("NR_FREE_PAGES"), Some(&2));
        assert!(ev.zones.is_none());
        let zones = format!(
            "{head}[    2.000000] Node 0 DMA free:4kB min:0kB low:0kB high:0kB present:8kB managed:8kB\n"
        );
        let ev = to_event(&parse_log(&zones)[0], 1);
        assert_eq!(ev.zones.map(|z| z.len()), Some(1));
        assert!(ev.counters.is_none());
    }

    /// A line longer than [`MAX_LINE`] is cut at the last character that
    /// ends within it; what came before the cut is read.
    #[test]
    fn a_line_longer_than_max_line_is_cut_on_a_char_boundary() {
        let kill = "[    9.000000] Out of memory: Killed process 7 (x) total-vm:4kB, anon-rss:8kB, file-rss:12kB, shmem-rss:0kB, UID:0 pgtables:4kB oom_score_adj:0 ";
        // A 2-byte character across byte MAX_LINE.
        let line = format!(
            "{kill}{}{}",
            "a".repeat(MAX_LINE - kill.len() - 1),
            "\u{e9}".repeat(MAX_LINE)
        );
        let mut p = LogParser::new();
        assert!(p.line(&line).is_none(), "held for a group's victims");
        let r = p.flush_held().expect("the held kill");
        let k = r.killed.expect("the kill");
        assert_eq!((k.pid, k.anon_rss_kb), (7, 8));
        assert_eq!(k.line.len(), MAX_LINE - 1 - 15, "cut before the \u{e9}");
        assert!(p.flush_held().is_none() && p.finish().is_none());
    }
}

/// Reports of kernels before 5.0, each laid out by that kernel's format
/// strings in mm/oom_kill.c, arch/arm/kernel/traps.c and mm/page_alloc.c.
#[cfg(test)]
mod old_formats {
    use super::*;

    #[test]
    fn odd_escapes_pass_as_they_are() {
        assert_eq!(
            kmsg_record_lines("a\\xzz\\x\u{e9}b\\x"),
            ["a\\xzz\\x\u{e9}b\\x"]
        );
        assert_eq!(kmsg_record_lines("a\\x41\\xe9b"), ["aA\\xe9b"]);
    }

    #[test]
    fn a_kmsg_record_of_several_lines_is_split() {
        let rec = "6,1234,5000000,-;active_anon:1 inactive_anon:2 isolated_anon:3\\x0a active_file:4 isolated_file:5\\x0a free:6\n SUBSYSTEM=x\n";
        let lines = kmsg_record_lines(rec);
        assert_eq!(
            lines,
            [
                "6,1234,5000000,-;active_anon:1 inactive_anon:2 isolated_anon:3",
                " active_file:4 isolated_file:5",
                " free:6"
            ]
        );
        let mut p = LogParser::new();
        for l in [
            "6,1,4000000,-;hog invoked oom-killer: gfp_mask=0xcc0(GFP_KERNEL), order=0, oom_score_adj=0",
            "6,2,4000001,-;Mem-Info:",
        ] {
            p.line(l);
        }
        for l in lines {
            p.line(&l);
        }
        p.line("3,3,4000002,-;Out of memory: Killed process 9 (hog) total-vm:1kB, anon-rss:1kB, file-rss:0kB, shmem-rss:0kB, UID:0 pgtables:4kB oom_score_adj:0");
        let r = p.finish().unwrap();
        assert_eq!(r.mem_info.get("isolated_anon"), Some(&3));
        assert_eq!(r.mem_info.get("isolated_file"), Some(&5));
        assert_eq!(r.mem_info.get("free"), Some(&6));
        assert_eq!(r.timestamp, Some(4.0));
    }

    fn one(log: &str) -> KernelReport {
        let mut r = parse_log(log);
        assert_eq!(r.len(), 1, "{r:#?}");
        r.remove(0)
    }

    /// 2.6.36 on ARMv5: `oom_adj`, a mask without names, frames with
    /// both addresses, "Kill process ... or sacrifice child" first.
    #[test]
    fn a_2_6_36_arm_report() {
        let r = one("\
<4>[ 3471.413659] Xorg invoked oom-killer: gfp_mask=0x200da, order=0, oom_adj=2, oom_score_adj=134
<4>[ 3471.413721] [<c00497f4>] (unwind_backtrace+0x0/0x12c) from [<c0135760>] (dump_header.clone.1+0x6c/0x18c)
<4>[ 3471.413747] [<c0135760>] (dump_header.clone.1+0x6c/0x18c) from [<c01358c0>] (oom_kill_process.clone.0+0x40/0x21c)
<4>[ 3471.413772] [<c01358c0>] (oom_kill_process.clone.0+0x40/0x21c) from [<c0135cf8>] (out_of_memory+0x25c/0x330)
<4>[ 3471.413799] [<c0135cf8>] (out_of_memory+0x25c/0x330) from [<c0139728>] (__alloc_pages_nodemask+0x4fc/0x6ac)
<4>[ 3471.413800] r6:00000000 r5:0000020c r4:c045f06c
<4>[ 3471.413810] Exception stack(0xc09e7fb0 to 0xc09e7ff8)
<4>[ 3471.413820] 7fa0:                                     00001431 00000d31 0271e2d0 0271cea0
<4>[ 3471.413900] Mem-info:
<4>[ 3471.413910] Normal per-cpu:
<4>[ 3471.413920] CPU    0: hi:    0, btch:   1 usd:   0
<4>[ 3471.413930] active_anon:3734 inactive_anon:0 isolated_anon:0
<4>[ 3471.413940]  active_file:159 inactive_file:376 isolated_file:0
<4>[ 3471.413950]  unevictable:0 dirty:0 writeback:68 unstable:0
<4>[ 3471.413960]  free:180 slab_reclaimable:94 slab_unreclaimable:600
<3>[ 3471.414100] Out of memory: Kill process 1234 (Xorg) score 834 or sacrifice child
<3>[ 3471.414200] Killed process 1234 (Xorg) total-vm:120640kB, anon-rss:80012kB, file-rss:1024kB
");
        assert_eq!(r.trigger_comm, "Xorg");
        assert_eq!(
            (r.gfp_mask, r.order, r.trigger_oom_score_adj),
            (0x200da, 0, 134)
        );
        assert!(!r.gfp_named);
        assert_eq!(r.arch, Some(crate::kernel::arch::ARM.machine));
        let names: Vec<&str> = r.stack.iter().map(|f| f.0.as_str()).collect();
        assert_eq!(
            names,
            [
                "dump_header.clone.1",
                "oom_kill_process.clone.0",
                "out_of_memory",
                "__alloc_pages_nodemask"
            ]
        );
        assert_eq!(r.stack_addrs[2], 0xc0135cf8);
        assert_eq!(r.stack[2], ("out_of_memory".to_owned(), 0x25c, 0x330));
        // "Mem-info:" (its old spelling) ends the trace and opens the
        // counters; registers and the exception stack are passed over.
        assert_eq!(r.stack.len(), 4);
        assert_eq!(r.mem_info.get("active_anon"), Some(&3734));
        assert_eq!(r.mem_info.get("free"), Some(&180));
        assert_eq!(r.mem_info.get("writeback"), Some(&68));
        let ev = to_event(&r, 1);
        assert_eq!(ev.gfp_mask, Some(0x200da));
        assert_eq!(ev.gfp_flags, None, "no names of that era's bits");
        let v = ev.victim.unwrap();
        assert_eq!((v.pid, v.comm.as_deref()), (Some(1234), Some("Xorg")));
        assert_eq!(
            (v.total_vm_kb, v.anon_rss_kb, v.file_rss_kb),
            (Some(120640), Some(80012), Some(1024))
        );
        assert_eq!(
            (v.shmem_rss_kb, v.uid, v.pgtables_kb),
            (None, None, None),
            "not printed then"
        );
        assert_eq!(v.points, Some(834));
        assert_eq!(ev.message.as_deref(), Some("Out of memory"));
        assert!(!ev.unavailable.iter().any(|u| u == "points"));
    }

    /// 4.4 on a Qualcomm ARM phone: names not printed yet, frames whose
    /// first function has no offset.
    #[test]
    fn a_4_4_arm_report() {
        let r = one("\
[ 5318.123456] kworker/u16:3 invoked oom-killer: gfp_mask=0x26080c0, order=3, oom_score_adj=0
[ 5318.123470] CPU: 2 PID: 9251 Comm: kworker/u16:3 Tainted: G        W       4.4.153-perf+ #1
[ 5318.123480] [<c02149d0>] (unwind_backtrace) from [<c02125a4>] (show_stack+0x10/0x14)
[ 5318.123490] [<c02125a4>] (show_stack) from [<c05a2f14>] (dump_stack+0x84/0x98)
[ 5318.123500] [<c05a2f14>] (dump_stack) from [<c0310b40>] (dump_header+0x5c/0x1a8)
[ 5318.123510] [<c0310b40>] (dump_header) from [<c03112c0>] (oom_kill_process+0xd8/0x4a8)
[ 5318.123600] Out of memory: Kill process 812 (system_server) score 93 or sacrifice child
[ 5318.123700] Killed process 812 (system_server) total-vm:2143872kB, anon-rss:124108kB, file-rss:18832kB, shmem-rss:1024kB
");
        assert_eq!((r.gfp_mask, r.order), (0x26080c0, 3));
        assert_eq!(r.trigger_pid, Some(9251));
        assert_eq!(r.kernel.as_deref(), Some("4.4.153-perf+"));
        assert_eq!(r.stack[0], ("show_stack".to_owned(), 0x10, 0x14));
        assert_eq!(r.stack[3], ("oom_kill_process".to_owned(), 0xd8, 0x4a8));
        assert_eq!(r.stack_addrs[3], 0xc03112c0);
        let ev = to_event(&r, 1);
        assert_eq!(ev.stack[3].addr, "0xc03112c0");
        assert_eq!(ev.gfp_flags, None);
        let v = ev.victim.unwrap();
        assert_eq!(
            (v.pid, v.shmem_rss_kb, v.points),
            (Some(812), Some(1024), Some(93))
        );
    }

    /// 4.19: names printed, the victim chosen and killed on two lines, a
    /// memcg OOM's message carried from the first to the second.
    #[test]
    fn a_4_19_memcg_report() {
        let r = one("\
[  812.112233] a.out invoked oom-killer: gfp_mask=0x6000c0(GFP_KERNEL), nodemask=(null), order=0, oom_score_adj=0
[  812.112240] a.out cpuset=/ mems_allowed=0
[  812.112250] CPU: 0 PID: 3359 Comm: a.out Not tainted 4.19.0-16-amd64 #1 Debian 4.19.181-1
[  812.112300] memory: usage 102400kB, limit 102400kB, failcnt 41
[  812.112400] Memory cgroup out of memory: Kill process 3359 (a.out) score 1000 or sacrifice child
[  812.112500] Killed process 3359 (a.out) total-vm:106600kB, anon-rss:101588kB, file-rss:1456kB, shmem-rss:0kB
[  812.112600] oom_reaper: reaped process 3359 (a.out), now anon-rss:0kB, file-rss:0kB, shmem-rss:0kB
");
        assert_eq!(r.gfp_flags, "GFP_KERNEL");
        let ev = to_event(&r, 1);
        assert_eq!(ev.gfp_flags.as_deref(), Some("GFP_KERNEL"));
        assert_eq!(ev.message.as_deref(), Some("Memory cgroup out of memory"));
        assert_eq!(ev.cpuset.as_deref(), Some("/"));
        let v = ev.victim.unwrap();
        assert_eq!(
            (v.pid, v.anon_rss_kb, v.points),
            (Some(3359), Some(101588), Some(1000))
        );
        assert_eq!(ev.memcg_memory.map(|m| m.limit_kb), Some(102400));
    }

    /// A console that wraps at 80 columns cut the kill line: its rest, on
    /// the next line, is joined back.
    #[test]
    fn a_wrapped_kill_line_is_joined() {
        for (head, tail) in [
            (
                "file-r",
                "ss:1456kB, shmem-rss:0kB, UID:0 pgtables:240kB oom_score_adj:0",
            ),
            (
                "file-rss:1456kB,",
                " shmem-rss:0kB, UID:0 pgtables:240kB oom_score_adj:0",
            ),
            (
                "file-rss:14",
                "56kB, shmem-rss:0kB, UID:0 pgtables:240kB oom_score_adj:0",
            ),
        ] {
            let log = format!("\
[  100.000001] hog invoked oom-killer: gfp_mask=0x100cca(GFP_HIGHUSER_MOVABLE), order=0, oom_score_adj=0
[  100.000300] Out of memory: Killed process 3359 (hog) total-vm:106600kB, anon-rss:101588kB, {head}
{tail}
");
            let ev = to_event(&one(&log), 1);
            let v = ev.victim.unwrap();
            assert_eq!(
                (v.file_rss_kb, v.shmem_rss_kb, v.pgtables_kb, v.uid),
                (Some(1456), Some(0), Some(240), Some(0)),
                "{head}|{tail}"
            );
        }
    }

    /// A memory.oom.group kill: one report, every victim in it.
    #[test]
    fn a_memory_oom_group_kill_is_one_report() {
        let mut log = String::from("\
[ 200.000001] worker invoked oom-killer: gfp_mask=0xcc0(GFP_KERNEL), order=0, oom_score_adj=0
[ 200.000100] memory: usage 65536kB, limit 65536kB, failcnt 9
[ 200.000200] oom-kill:constraint=CONSTRAINT_MEMCG,nodemask=(null),cpuset=/,mems_allowed=0,oom_memcg=/job,task_memcg=/job,task=worker,pid=100,uid=0
[ 200.000300] Memory cgroup out of memory: Killed process 100 (worker) total-vm:9000kB, anon-rss:8000kB, file-rss:100kB, shmem-rss:0kB, UID:0 pgtables:60kB oom_score_adj:0
[ 200.000400] Tasks in /job are going to be killed due to memory.oom.group set
");
        for pid in 101..106 {
            log.push_str(&format!("[ 200.000500] Memory cgroup out of memory: Killed process {pid} (helper) total-vm:900kB, anon-rss:80kB, file-rss:10kB, shmem-rss:0kB, UID:0 pgtables:40kB oom_score_adj:0\n"));
        }
        log.push_str("[ 201.000000] something else\n");
        let r = one(&log);
        assert_eq!(r.oom_group.as_deref(), Some("/job"));
        let ev = to_event(&r, 1);
        assert_eq!(ev.victim.unwrap().pid, Some(100));
        let more: Vec<Option<i32>> = ev.also_killed.iter().map(|v| v.pid).collect();
        assert_eq!(more, (101..106).map(Some).collect::<Vec<_>>());
    }

    /// 3.x's Mem-Info opens with per-CPU lists, then the counters.
    #[test]
    fn a_3_x_mem_info_with_per_cpu_lines() {
        let r = one("\
May  1 21:13:05 dev kernel: [ 4563.079551] memory-hog invoked oom-killer: gfp_mask=0x2084d0, order=0, oom_score_adj=0
May  1 21:13:06 dev kernel: [ 4563.079563] memory-hog cpuset=/ mems_allowed=0
May  1 21:13:06 dev kernel: [ 4563.079570] CPU: 1 PID: 4242 Comm: memory-hog Not tainted 3.13.0-85-generic #129-Ubuntu
May  1 21:13:06 dev kernel: [ 4563.079821] Mem-Info:
May  1 21:13:06 dev kernel: [ 4563.079827] Node 0 DMA per-cpu:
May  1 21:13:06 dev kernel: [ 4563.079834] CPU    0: hi:    0, btch:   1 usd:   0
May  1 21:13:06 dev kernel: [ 4563.079855] Node 0 DMA32 per-cpu:
May  1 21:13:06 dev kernel: [ 4563.079861] CPU    0: hi:  186, btch:  31 usd:  26
May  1 21:13:06 dev kernel: [ 4563.079900] active_anon:400263 inactive_anon:1124 isolated_anon:0
May  1 21:13:06 dev kernel: [ 4563.079901]  active_file:27 inactive_file:41 isolated_file:0
May  1 21:13:06 dev kernel: [ 4563.079902]  free:13227 slab_reclaimable:3065 slab_unreclaimable:3612
May  1 21:13:06 dev kernel: [ 4563.079950] Node 0 DMA free:15900kB min:264kB low:328kB high:396kB active_anon:0kB present:15992kB managed:15908kB
May  1 21:13:06 dev kernel: [ 4563.079960] lowmem_reserve[]: 0 1987 1987 1987
May  1 21:13:06 dev kernel: [ 4563.080000] Node 0 DMA: 1*4kB (U) 1*8kB (U) 0*16kB 1*32kB (U) 2*64kB (U) 1*128kB (U) 1*256kB (U) 0*512kB 1*1024kB (U) 1*2048kB (R) 3*4096kB (M) = 15900kB
May  1 21:13:07 dev kernel: [ 4563.080100] Out of memory: Kill process 4242 (memory-hog) score 915 or sacrifice child
May  1 21:13:07 dev kernel: [ 4563.080200] Killed process 4242 (memory-hog) total-vm:1663640kB, anon-rss:1601108kB, file-rss:0kB
");
        assert_eq!(r.mem_info.get("active_anon"), Some(&400263));
        assert_eq!(r.mem_info.get("free"), Some(&13227));
        assert!(!r.mem_info.contains_key("hi"));
        assert_eq!(r.zone_watermarks.len(), 1);
        assert_eq!(r.free_areas[0].2[10], 3);
        let ev = to_event(&r, 1);
        assert_eq!(ev.victim.unwrap().points, Some(915));
        assert!(ev.zones.is_some());
    }
}
