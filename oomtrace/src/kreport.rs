//! The kernel's own OOM report, parsed from its log (`dmesg`, `/dev/kmsg`
//! text, or a serial console): the oracle oomtrace's events are checked
//! against, and a way to read old reports.

use std::collections::BTreeMap;

/// One OOM report as the kernel printed it. Fields the report lacks are `None`.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct KernelReport {
    /// Seconds since boot of the `invoked oom-killer` line.
    pub timestamp: Option<f64>,
    pub trigger_comm: String,
    pub gfp_mask: u32,
    pub gfp_flags: String,
    pub order: i32,
    pub trigger_oom_score_adj: i16,
    pub trigger_pid: Option<i32>,
    pub cpu: Option<u32>,
    /// `Call Trace:` frames, innermost first, as `name`, offset, size; `?` frames skipped.
    pub stack: Vec<(String, u64, u64)>,
    /// `oom-kill:` key=value pairs (constraint, nodemask, oom_memcg, task_memcg, task, pid, uid).
    pub summary: BTreeMap<String, String>,
    pub global_oom: bool,
    pub killed: Option<Killed>,
    /// `Node 0 DMA32: 3*4kB (E) 5*8kB ...` counts per (node, zone).
    pub free_areas: Vec<(u32, String, Vec<u64>)>,
    /// `Node 0 DMA32 free:438852kB ... min:2652kB low:3312kB high:3972kB`.
    pub zone_watermarks: Vec<ZoneLine>,
    /// The `Mem-Info:` block's `label:pages` pairs (`active_anon`, `free`, ...).
    pub mem_info: BTreeMap<String, u64>,
    /// `Node N active_anon:...kB ...` lines: node, `label:kB` pairs.
    pub node_lines: Vec<(u32, BTreeMap<String, u64>)>,
    /// `lowmem_reserve[]:` after each zone line, in zone-line order.
    pub lowmem_reserves: Vec<Vec<i64>>,
    /// `memory: usage NkB, limit NkB, failcnt N` of a memcg OOM.
    pub memcg_memory: Option<(u64, u64, u64)>,
    /// `N total pagecache pages`.
    pub pagecache_pages: Option<u64>,
    /// Only the `Killed process` line was printed: the kernel rate-limited
    /// the rest of this OOM's report (10 reports per 5 s).
    pub header_suppressed: bool,
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
}

/// Splits `[ 1114.251121] text` into the timestamp and the text.
fn strip_timestamp(line: &str) -> (Option<f64>, &str) {
    let t = line.trim_start();
    if let Some(rest) = t.strip_prefix('[')
        && let Some(end) = rest.find(']')
    {
        return (
            rest[..end].trim().parse().ok(),
            rest[end + 1..].trim_start(),
        );
    }
    (None, t)
}

fn kb(s: &str) -> Option<u64> {
    s.trim()
        .trim_end_matches("kB")
        .trim_end_matches("KB")
        .parse()
        .ok()
}

/// Every OOM report in a kernel log, in order.
pub fn parse_log(log: &str) -> Vec<KernelReport> {
    let mut reports: Vec<KernelReport> = Vec::new();
    let mut in_trace = false;
    let mut in_mem_info = false;
    for raw in log.lines() {
        let (ts, line) = strip_timestamp(raw);
        if let Some(r) = parse_invoked(line) {
            reports.push(KernelReport { timestamp: ts, ..r });
            in_trace = false;
            continue;
        }
        let Some(cur) = reports.last_mut() else {
            continue;
        };
        if line.starts_with("Call Trace:") {
            in_trace = true;
            continue;
        }
        if in_trace {
            let l = line.trim();
            if l == "<TASK>" || l.starts_with('?') {
                continue;
            }
            if l == "</TASK>" || l.starts_with("RIP:") || l.contains(": ") && !l.contains('+') {
                in_trace = false;
                continue;
            }
            if let Some((name, rest)) = l.split_once('+')
                && let Some((off, size)) = rest.split_once('/')
            {
                let hex = |s: &str| u64::from_str_radix(s.trim().trim_start_matches("0x"), 16).ok();
                let size = size.split_whitespace().next().unwrap_or("");
                if let (Some(o), Some(z)) = (hex(off), hex(size)) {
                    cur.stack.push((name.trim().to_owned(), o, z));
                }
                continue;
            }
            in_trace = false;
        }
        if let Some(rest) = line.strip_prefix("CPU: ") {
            cur.cpu = rest.split_whitespace().next().and_then(|c| c.parse().ok());
            let words: Vec<&str> = rest.split_whitespace().collect();
            cur.trigger_pid = words
                .iter()
                .position(|w| *w == "PID:")
                .and_then(|i| words.get(i + 1))
                .and_then(|p| p.parse().ok());
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
        } else if line.contains(": Killed process ") {
            if cur.killed.is_some() {
                // A second kill without its own header: the kernel
                // rate-limited that OOM's report (dump_header), not the
                // kill line. Never pin it on the previous report.
                reports.push(KernelReport {
                    timestamp: ts,
                    header_suppressed: true,
                    killed: parse_killed(line),
                    ..KernelReport::default()
                });
                in_trace = false;
                in_mem_info = false;
                continue;
            }
            cur.killed = parse_killed(line);
        } else if line == "Mem-Info:" {
            in_mem_info = true;
        } else if let Some(z) = parse_zone_line(line) {
            cur.zone_watermarks.push(z);
        } else if let Some(f) = parse_free_area(line) {
            cur.free_areas.push(f);
        } else if let Some(rest) = line.strip_prefix("Node ") {
            in_mem_info = false;
            if let Some((node, pairs)) = rest.split_once(' ')
                && let Ok(node) = node.parse()
            {
                let pairs = label_values(pairs);
                if !pairs.is_empty() {
                    cur.node_lines.push((node, pairs));
                }
            }
        } else if in_mem_info {
            cur.mem_info.extend(label_values(line));
        } else if let Some(rest) = line.strip_prefix("lowmem_reserve[]:") {
            cur.lowmem_reserves.push(
                rest.split_whitespace()
                    .filter_map(|v| v.parse().ok())
                    .collect(),
            );
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
    reports
}

/// `label:value` pairs of a report line; values in kB or pages, unit dropped.
fn label_values(line: &str) -> BTreeMap<String, u64> {
    line.split_whitespace()
        .filter_map(|w| {
            let (k, v) = w.split_once(':')?;
            Some((k.to_owned(), kb(v)?))
        })
        .collect()
}

/// `comm invoked oom-killer: gfp_mask=0xcc0(GFP_KERNEL), order=0, oom_score_adj=0`
fn parse_invoked(line: &str) -> Option<KernelReport> {
    let (comm, rest) = line.split_once(" invoked oom-killer: ")?;
    let rest = rest.strip_prefix("gfp_mask=")?;
    let (hex, rest) = rest.split_once('(')?;
    let (flags, rest) = rest.split_once(')')?;
    let mut r = KernelReport {
        trigger_comm: comm.to_owned(),
        gfp_mask: u32::from_str_radix(hex.trim_start_matches("0x"), 16).ok()?,
        gfp_flags: flags.to_owned(),
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

/// `Memory cgroup out of memory: Killed process 15489 (python3) total-vm:78028kB, anon-rss:65024kB, file-rss:2424kB, shmem-rss:0kB, UID:0 pgtables:188kB oom_score_adj:0`
fn parse_killed(line: &str) -> Option<Killed> {
    let (message, rest) = line.split_once(": Killed process ")?;
    let (pid, rest) = rest.split_once(" (")?;
    // The comm may contain spaces or parentheses: the last ") " ends it.
    let close = rest.rfind(") ")?;
    let (comm, fields) = (&rest[..close], &rest[close + 2..]);
    let mut k = Killed {
        message: message.to_owned(),
        pid: pid.parse().ok()?,
        comm: comm.to_owned(),
        ..Killed::default()
    };
    for f in fields.split([',', ' ']).filter(|f| !f.is_empty()) {
        let (key, v) = f.split_once(':')?;
        match key {
            "total-vm" => k.total_vm_kb = kb(v)?,
            "anon-rss" => k.anon_rss_kb = kb(v)?,
            "file-rss" => k.file_rss_kb = kb(v)?,
            "shmem-rss" => k.shmem_rss_kb = kb(v)?,
            "UID" => k.uid = v.parse().ok()?,
            "pgtables" => k.pgtables_kb = kb(v)?,
            "oom_score_adj" => k.oom_score_adj = v.parse().ok()?,
            _ => {}
        }
    }
    Some(k)
}

/// `Node 0 DMA32 free:438852kB boost:0kB min:2652kB low:3312kB high:3972kB ...`
fn parse_zone_line(line: &str) -> Option<ZoneLine> {
    let rest = line.strip_prefix("Node ")?;
    let mut words = rest.split_whitespace();
    let node = words.next()?.parse().ok()?;
    let zone = words.next()?.to_owned();
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
fn parse_free_area(line: &str) -> Option<(u32, String, Vec<u64>)> {
    let rest = line.strip_prefix("Node ")?;
    let (head, tail) = rest.split_once(": ")?;
    let (node, zone) = head.split_once(' ')?;
    if zone.contains(' ') {
        return None;
    }
    let counts = tail
        .split_whitespace()
        .take_while(|w| *w != "=")
        .filter(|w| w.contains("*"))
        .map(|w| w.split('*').next().and_then(|n| n.parse().ok()))
        .collect::<Option<Vec<u64>>>()?;
    if counts.is_empty() {
        return None;
    }
    Some((node.parse().ok()?, zone.to_owned(), counts))
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
}
