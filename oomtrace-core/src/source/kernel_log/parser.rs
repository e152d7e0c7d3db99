//! The report parsed: lines in, one [`KernelReport`] out per OOM, by the
//! kernel's format strings (`dump_header`, `show_mem`, `__oom_kill_process`).

use crate::source::kernel_log::lines::{LogLine, kb, split_line, unwrap_folds};
use crate::source::kernel_log::{KernelReport, Killed, MAX_FRAMES, MAX_LINE, MAX_ZONES, ZoneLine};
use std::collections::BTreeMap;

/// Where in a report the parser is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Block {
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
pub(super) const MAX_GROUP: usize = 1024;

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

/// One frame in any of the forms kernels print: `sym+0x1f/0x40`,
/// `sym+0x1f/0x40 [module]`, `sym+0x1f/0x40 (C)` (arm64),
/// `[<ffffffff81234567>] sym+0x1f/0x40` (older x86), and 32-bit ARM's
/// `caller from sym+0x1f/0x40` (the frame is the one after `from`).
/// Returns the frame and its address (0 when not printed).
pub(super) fn parse_frame(t: &str) -> Option<((String, u64, u64), u64)> {
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
pub(super) fn label_values(line: &str) -> BTreeMap<String, u64> {
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
pub(super) fn parse_invoked(line: &str) -> Option<KernelReport> {
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
pub(super) fn parse_killed(line: &str) -> Option<Killed> {
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
pub(super) fn parse_zone_line(line: &str) -> Option<ZoneLine> {
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
pub(super) fn parse_free_area(line: &str) -> Option<((u32, String, Vec<u64>), Vec<String>)> {
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
