//! The tests' own reader of the kernel's OOM report: the oracle the events
//! are checked against, written from the kernel's format strings
//! (`mm/oom_kill.c`'s `dump_header`, `dump_oom_summary` and
//! `__oom_kill_process`, `mm/show_mem.c`'s `show_free_areas`,
//! `mm/memcontrol.c`'s `mem_cgroup_print_oom_meminfo`, `lib/dump_stack.c`)
//! and sharing no code with oomtrace's importer (`kernel_log.rs`), which
//! the tests check against it in turn.
//!
//! It reads what the tests' kernels print (5.10 to 7.x, x86_64, arm64,
//! 32-bit ARM) from `dmesg`'s text, line by line, and nothing older: the
//! importer's older eras are checked by `tests/import.rs` against the
//! fixtures' raw lines.
#![allow(dead_code)]

use std::collections::BTreeMap;

#[derive(Clone, Debug, Default, PartialEq)]
pub struct Report {
    /// The `[%5lu.%06lu] ` time printk put before the report's first line
    /// (the `invoked` line, or the `Killed process` line of a rate-limited
    /// report), in µs.
    pub printed_us: Option<u64>,
    /// `%s invoked oom-killer: gfp_mask=%#x(%pGg), order=%d, oom_score_adj=%hd`
    pub trigger_comm: String,
    pub gfp_mask: u32,
    pub gfp_flags: String,
    pub order: i32,
    pub trigger_oom_score_adj: i16,
    /// `CPU: %d [UID: %u ]PID: %d Comm: %.20s`
    pub trigger_pid: Option<i32>,
    /// The Call Trace's frames as `name`, offset, size, innermost first,
    /// `? ` (unreliable) frames left out. 32-bit ARM prints
    /// `callee from caller+off/size`: the frame is the caller.
    pub stack: Vec<(String, u64, u64)>,
    /// `Mem-Info:`'s `label:pages` pairs.
    pub mem_info: BTreeMap<String, u64>,
    /// `Node %d active_anon:%lukB ...`: node, `label` → kB.
    pub node_lines: Vec<(u32, BTreeMap<String, u64>)>,
    /// `[Node %d ]%s free:%lukB ...`, with its `lowmem_reserve[]:`.
    pub zone_watermarks: Vec<Zone>,
    /// Each zone line's `lowmem_reserve[]:`, in zone-line order.
    pub lowmem_reserves: Vec<Vec<i64>>,
    /// `[Node %d ]%s: %lu*%lukB (%s) ... = %lukB`: node, zone, blocks per order.
    pub free_areas: Vec<(u32, String, Vec<u64>)>,
    /// `memory: usage %llukB, limit %llukB, failcnt %lu`
    pub memcg_memory: Option<(u64, u64, u64)>,
    /// `oom-kill:constraint=%s,nodemask=%*pbl,...`: `key=value` pairs.
    pub summary: BTreeMap<String, String>,
    /// The summary says `global_oom` (no memcg is the OOM's domain).
    pub global_oom: bool,
    pub killed: Option<Killed>,
    /// `Tasks in %s are going to be killed due to memory.oom.group set`:
    /// the further `Killed process` lines of the same kill.
    pub also_killed: Vec<Killed>,
    /// The `Killed process` line came without a report before it: the
    /// kernel rate-limited the report (`oom_rs`).
    pub header_suppressed: bool,
}

#[derive(Clone, Debug, Default, PartialEq)]
pub struct Zone {
    pub node: u32,
    pub zone: String,
    pub free_kb: u64,
    /// Every `label:%lukB` of the line (`reserved_highatomic:%luKB` too).
    pub fields: BTreeMap<String, u64>,
}

/// `%s: Killed process %d (%s) total-vm:%lukB, anon-rss:%lukB,
/// file-rss:%lukB, shmem-rss:%lukB, UID:%u pgtables:%lukB oom_score_adj:%hd`
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

/// The kernel's labels and the counters behind them, as mm/show_mem.c
/// (page_alloc.c before 6.4) prints them: this test's own table, not the
/// renderer's, so a wrong mapping there cannot pass here.
pub const MEM_INFO_LABELS: &[(&str, &str)] = &[
    ("active_anon", "NR_ACTIVE_ANON"),
    ("inactive_anon", "NR_INACTIVE_ANON"),
    ("isolated_anon", "NR_ISOLATED_ANON"),
    ("active_file", "NR_ACTIVE_FILE"),
    ("inactive_file", "NR_INACTIVE_FILE"),
    ("isolated_file", "NR_ISOLATED_FILE"),
    ("unevictable", "NR_UNEVICTABLE"),
    ("dirty", "NR_FILE_DIRTY"),
    ("writeback", "NR_WRITEBACK"),
    ("slab_reclaimable", "NR_SLAB_RECLAIMABLE_B"),
    ("slab_unreclaimable", "NR_SLAB_UNRECLAIMABLE_B"),
    ("mapped", "NR_FILE_MAPPED"),
    ("shmem", "NR_SHMEM"),
    ("pagetables", "NR_PAGETABLE"),
    ("sec_pagetables", "NR_SECONDARY_PAGETABLE"),
    ("bounce", "NR_BOUNCE"),
    ("kernel_misc_reclaimable", "NR_KERNEL_MISC_RECLAIMABLE"),
    ("free", "NR_FREE_PAGES"),
    ("free_cma", "NR_FREE_CMA_PAGES"),
];
/// The node lines' labels (kB) and their counters.
pub const NODE_LABELS: &[(&str, &str)] = &[
    ("active_anon", "NR_ACTIVE_ANON"),
    ("inactive_anon", "NR_INACTIVE_ANON"),
    ("active_file", "NR_ACTIVE_FILE"),
    ("inactive_file", "NR_INACTIVE_FILE"),
    ("unevictable", "NR_UNEVICTABLE"),
    ("isolated(anon)", "NR_ISOLATED_ANON"),
    ("isolated(file)", "NR_ISOLATED_FILE"),
    ("mapped", "NR_FILE_MAPPED"),
    ("dirty", "NR_FILE_DIRTY"),
    ("writeback", "NR_WRITEBACK"),
    ("shmem", "NR_SHMEM"),
    ("shmem_thp", "NR_SHMEM_THPS"),
    ("shmem_pmdmapped", "NR_SHMEM_PMDMAPPED"),
    ("anon_thp", "NR_ANON_THPS"),
    ("writeback_tmp", "NR_WRITEBACK_TEMP"),
    ("kernel_stack", "NR_KERNEL_STACK_KB"),
    ("pagetables", "NR_PAGETABLE"),
    ("sec_pagetables", "NR_SECONDARY_PAGETABLE"),
];

/// Every OOM report in `dmesg`'s text, in log order. A line it cannot read
/// where the kernel's format says what must be there panics with the line:
/// an oracle that guesses is no oracle.
pub fn read(log: &str) -> Vec<Report> {
    let mut out: Vec<Report> = Vec::new();
    let mut cur: Option<Report> = None;
    // Where in the report the lines are.
    let mut in_mem_info = false;
    let mut group_open = false;
    for raw in log.lines() {
        let line = strip_prefix(raw);
        if let Some(at) = line.find(" invoked oom-killer: gfp_mask=") {
            if let Some(r) = cur.take() {
                out.push(r);
            }
            cur = Some(Report {
                printed_us: printed_us(raw),
                ..invoked(&line[..at], &line[at + 30..], raw)
            });
            in_mem_info = false;
            group_open = false;
            continue;
        }
        if line.starts_with("Tasks in ")
            && line.ends_with(" are going to be killed due to memory.oom.group set")
        {
            group_open = true;
            continue;
        }
        if let Some(k) = killed(line) {
            if group_open && let Some(r) = out.last_mut() {
                r.also_killed.push(k);
                continue;
            }
            // A report ends with its kill; a kill without one was rate-limited.
            match cur.take() {
                Some(mut r) if r.killed.is_none() => {
                    r.killed = Some(k);
                    out.push(r);
                }
                other => {
                    out.extend(other);
                    out.push(Report {
                        printed_us: printed_us(raw),
                        killed: Some(k),
                        header_suppressed: true,
                        ..Report::default()
                    });
                }
            }
            in_mem_info = false;
            continue;
        }
        let Some(r) = cur.as_mut() else { continue };
        let trimmed = line.trim();
        if r.trigger_pid.is_none()
            && let Some(rest) = trimmed.strip_prefix("CPU: ")
        {
            let pid = rest
                .split(" PID: ")
                .nth(1)
                .and_then(|p| p.split_whitespace().next())
                .and_then(|p| p.parse().ok());
            r.trigger_pid = Some(pid.unwrap_or_else(|| panic!("no PID in {raw:?}")));
        } else if trimmed == "Mem-Info:" {
            in_mem_info = true;
        } else if let Some(rest) = trimmed.strip_prefix("memory: usage ") {
            r.memcg_memory = Some(memcg_usage(rest, raw));
        } else if let Some(rest) = trimmed.strip_prefix("oom-kill:") {
            for pair in rest.split(',') {
                match pair.split_once('=') {
                    Some((k, v)) => {
                        r.summary.insert(k.to_owned(), v.to_owned());
                    }
                    None if pair == "global_oom" => r.global_oom = true,
                    None => panic!("{pair:?} in {raw:?}"),
                }
            }
        } else if let Some(rest) = trimmed.strip_prefix("lowmem_reserve[]:") {
            let v: Vec<i64> = rest
                .split_whitespace()
                .map(|n| n.parse().unwrap_or_else(|_| panic!("{raw:?}")))
                .collect();
            r.lowmem_reserves.push(v);
        } else if let Some((node, rest)) = node_prefix(trimmed) {
            if rest.starts_with("active_anon:") {
                in_mem_info = false;
                r.node_lines.push((node.unwrap_or(0), kb_fields(rest, raw)));
            } else if let Some(z) = zone_line(node, rest, raw) {
                r.zone_watermarks.push(z);
            } else if let Some(f) = free_area(node, rest, raw) {
                r.free_areas.push(f);
            }
        } else if in_mem_info {
            for tok in trimmed.split_whitespace() {
                let (k, v) = tok
                    .split_once(':')
                    .unwrap_or_else(|| panic!("Mem-Info: {tok:?} in {raw:?}"));
                let v = v
                    .parse()
                    .unwrap_or_else(|_| panic!("Mem-Info: {tok:?} in {raw:?}"));
                r.mem_info.insert(k.to_owned(), v);
            }
        } else if r.mem_info.is_empty()
            && r.memcg_memory.is_none()
            && let Some(f) = frame(trimmed)
        {
            r.stack.push(f);
        }
    }
    out.extend(cur);
    out
}

/// `dmesg`'s `[%5lu.%06lu]` prefix in µs, read as the two integers printk
/// wrote.
fn printed_us(raw: &str) -> Option<u64> {
    let (t, _) = raw.strip_prefix('[')?.split_once("] ")?;
    let (s, us) = t.trim().split_once('.')?;
    assert_eq!(us.len(), 6, "not printk's time: {raw:?}");
    Some(s.parse::<u64>().ok()? * 1_000_000 + us.parse::<u64>().ok()?)
}

/// The text after `dmesg`'s `[ seconds]` prefix.
fn strip_prefix(raw: &str) -> &str {
    match raw.strip_prefix('[') {
        Some(rest) => rest.split_once("] ").map_or(raw, |(_, l)| l),
        None => raw,
    }
}

fn invoked(comm: &str, rest: &str, raw: &str) -> Report {
    fn bad<T>(raw: &str) -> T {
        panic!("not the kernel's invoked line: {raw:?}")
    }
    let (mask, rest) = rest.split_once('(').unwrap_or_else(|| bad(raw));
    let (flags, rest) = rest.split_once("), order=").unwrap_or_else(|| bad(raw));
    let (order, adj) = rest
        .split_once(", oom_score_adj=")
        .unwrap_or_else(|| bad(raw));
    Report {
        trigger_comm: comm.to_owned(),
        gfp_mask: u32::from_str_radix(mask.trim_start_matches("0x"), 16)
            .unwrap_or_else(|_| bad(raw)),
        gfp_flags: flags.to_owned(),
        order: order.parse().unwrap_or_else(|_| bad(raw)),
        trigger_oom_score_adj: adj.trim().parse().unwrap_or_else(|_| bad(raw)),
        ..Report::default()
    }
}

fn killed(line: &str) -> Option<Killed> {
    let at = line.find(": Killed process ")?;
    let message = line[..at].to_owned();
    let rest = &line[at + 17..];
    let (pid, rest) = rest.split_once(" (")?;
    // The comm may hold anything, parentheses too: it ends at the last
    // `) total-vm:`.
    let end = rest.rfind(") total-vm:")?;
    let comm = rest[..end].to_owned();
    let fields = &rest[end + 2..];
    let get = |label: &str| -> u64 {
        let v = fields
            .split(label)
            .nth(1)
            .unwrap_or_else(|| panic!("no {label} in {line:?}"));
        let digits: String = v.chars().take_while(char::is_ascii_digit).collect();
        digits
            .parse()
            .unwrap_or_else(|_| panic!("{label} in {line:?}"))
    };
    let adj = fields
        .split("oom_score_adj:")
        .nth(1)
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or_else(|| panic!("no oom_score_adj in {line:?}"));
    Some(Killed {
        message,
        pid: pid.parse().ok()?,
        comm,
        total_vm_kb: get("total-vm:"),
        anon_rss_kb: get("anon-rss:"),
        file_rss_kb: get("file-rss:"),
        shmem_rss_kb: get("shmem-rss:"),
        uid: get("UID:") as u32,
        pgtables_kb: get("pgtables:"),
        oom_score_adj: adj,
    })
}

fn memcg_usage(rest: &str, raw: &str) -> (u64, u64, u64) {
    // `65536kB, limit 65536kB, failcnt 18`
    let n: Vec<u64> = rest
        .split(|c: char| !c.is_ascii_digit())
        .filter(|s| !s.is_empty())
        .map(|s| s.parse().unwrap())
        .collect();
    match n[..] {
        [usage, limit, failcnt] => (usage, limit, failcnt),
        _ => panic!("not the kernel's memory: line: {raw:?}"),
    }
}

/// `Node %d ` where the line has it: the node, and the rest.
fn node_prefix(line: &str) -> Option<(Option<u32>, &str)> {
    if let Some(rest) = line.strip_prefix("Node ") {
        let (n, rest) = rest.split_once(' ')?;
        return Some((Some(n.parse().ok()?), rest));
    }
    // Without CONFIG_NUMA a zone's lines begin with its name.
    let name = line.split([' ', ':']).next()?;
    ZONES.contains(&name).then_some((None, line))
}

/// Zone names, as `zone_names[]` in mm/page_alloc.c has them.
const ZONES: &[&str] = &["DMA", "DMA32", "Normal", "HighMem", "Movable", "Device"];

/// `label:%lukB` pairs (`shmem_thp: %lukB` had a space before 6.x); words
/// without a value (`all_unreclaimable? no`) are not pairs.
fn kb_fields(rest: &str, raw: &str) -> BTreeMap<String, u64> {
    let mut out = BTreeMap::new();
    let mut words = rest.split_whitespace().peekable();
    while let Some(w) = words.next() {
        let Some((label, value)) = w.split_once(':') else {
            continue;
        };
        let value = if value.is_empty() {
            match words.peek() {
                Some(v) if v.ends_with("kB") => words.next().unwrap(),
                _ => continue,
            }
        } else {
            value
        };
        let number = value
            .strip_suffix("kB")
            .or(value.strip_suffix("KB"))
            .unwrap_or_else(|| panic!("{label}: {value:?} is not in kB in {raw:?}"));
        let number = number
            .parse()
            .unwrap_or_else(|_| panic!("{label}: {value:?} in {raw:?}"));
        out.insert(label.to_owned(), number);
    }
    out
}

fn zone_line(node: Option<u32>, rest: &str, raw: &str) -> Option<Zone> {
    let (zone, fields) = rest.split_once(" free:")?;
    if !ZONES.contains(&zone) {
        return None;
    }
    let fields = kb_fields(&format!("free:{fields}"), raw);
    Some(Zone {
        node: node.unwrap_or(0),
        zone: zone.to_owned(),
        free_kb: fields["free"],
        fields,
    })
}

fn free_area(node: Option<u32>, rest: &str, raw: &str) -> Option<(u32, String, Vec<u64>)> {
    let (zone, lists) = rest.split_once(": ")?;
    if !ZONES.contains(&zone) {
        return None;
    }
    let (lists, _total) = lists.rsplit_once(" = ")?;
    let counts = lists
        .split_whitespace()
        .filter(|w| !w.starts_with('('))
        .map(|w| {
            w.split_once('*')
                .and_then(|(n, _)| n.parse().ok())
                .unwrap_or_else(|| panic!("{w:?} in {raw:?}"))
        })
        .collect();
    Some((node.unwrap_or(0), zone.to_owned(), counts))
}

/// A Call Trace line: `sym+0x1f/0x30` (x86_64, arm64, maybe ` [module]` or
/// arm64's ` (C)` after it), or 32-bit ARM's `callee from sym+0x1f/0x30`.
fn frame(line: &str) -> Option<(String, u64, u64)> {
    if line.starts_with("? ") {
        return None;
    }
    let sym = match line.split_once(" from ") {
        Some((_, caller)) => caller,
        None => line.split_whitespace().next()?,
    };
    let (name, off) = sym.rsplit_once('+')?;
    let (off, size) = off.split_once('/')?;
    let hex = |s: &str| u64::from_str_radix(s.strip_prefix("0x")?, 16).ok();
    if name.is_empty() || name.contains([' ', ':', '[', '(']) {
        return None;
    }
    Some((
        name.to_owned(),
        hex(off)?,
        hex(size.split_whitespace().next()?)?,
    ))
}

/// oomtrace's importer reads every report in `log` as this reader does:
/// each field the oracle reads, equal. `name` says which log.
pub fn assert_importer_agrees(log: &str, name: &str) {
    let oracle = read(log);
    let imported = oomtrace_core::source::kernel_log::parse_log(log);
    assert!(!oracle.is_empty(), "{name}: the oracle read no report");
    assert_eq!(
        imported.len(),
        oracle.len(),
        "{name}: reports read by the importer and by the oracle"
    );
    for (i, (o, r)) in oracle.iter().zip(&imported).enumerate() {
        let ctx = format!("{name}, report {} of {}", i + 1, oracle.len());
        let killed = |k: &oomtrace_core::source::kernel_log::Killed| Killed {
            message: k.message.clone(),
            pid: k.pid,
            comm: k.comm.clone(),
            total_vm_kb: k.total_vm_kb,
            anon_rss_kb: k.anon_rss_kb,
            file_rss_kb: k.file_rss_kb,
            shmem_rss_kb: k.shmem_rss_kb,
            uid: k.uid,
            pgtables_kb: k.pgtables_kb,
            oom_score_adj: k.oom_score_adj,
        };
        let as_read = Report {
            printed_us: r.timestamp.map(|t| (t * 1e6).round() as u64),
            trigger_comm: r.trigger_comm.clone(),
            gfp_mask: r.gfp_mask,
            gfp_flags: r.gfp_flags.clone(),
            order: r.order,
            trigger_oom_score_adj: r.trigger_oom_score_adj,
            trigger_pid: r.trigger_pid,
            stack: r.stack.clone(),
            mem_info: r.mem_info.clone(),
            node_lines: r.node_lines.clone(),
            zone_watermarks: r
                .zone_watermarks
                .iter()
                .map(|z| Zone {
                    node: z.node,
                    zone: z.zone.clone(),
                    free_kb: z.free_kb,
                    fields: z.fields.clone(),
                })
                .collect(),
            lowmem_reserves: r.lowmem_reserves.clone(),
            free_areas: r.free_areas.clone(),
            memcg_memory: r.memcg_memory,
            summary: r.summary.clone(),
            global_oom: r.global_oom,
            killed: r.killed.as_ref().map(killed),
            also_killed: r.also_killed.iter().map(killed).collect(),
            header_suppressed: r.header_suppressed,
        };
        // Field by field, so that a difference names its field.
        macro_rules! same {
            ($($f:ident),*) => {$(
                assert_eq!(as_read.$f, o.$f, "{ctx}: the importer's {} vs the oracle's", stringify!($f));
            )*};
        }
        same!(
            printed_us,
            trigger_comm,
            gfp_mask,
            gfp_flags,
            order,
            trigger_oom_score_adj,
            trigger_pid,
            killed,
            also_killed,
            header_suppressed,
            summary,
            global_oom,
            memcg_memory,
            stack,
            mem_info,
            node_lines,
            zone_watermarks,
            lowmem_reserves,
            free_areas
        );
    }
}
