//! A parsed report made an event of oomtrace's schema (`oomtrace import`,
//! kernel-log mode).

use crate::kernel::show_mem::{MEM_INFO, NODE_LINE, ZONE_LINE, ZONE_LINE_TAIL};
use crate::schema::event::{
    Counters, Frame, MemcgMemory, MemoryAt, MemoryPath, MemoryRead, Node, OomEvent, OomType,
    Source, Task, Victim, Zone,
};
use crate::source::kernel_log::{KernelReport, Killed};
use compact_str::CompactString;

/// What a kernel log cannot hold, said once per imported event.
pub(super) const NOT_IN_LOGS: [crate::schema::event::Field; 3] = [
    crate::schema::event::Field::Totalpages,
    crate::schema::event::Field::Points,
    crate::schema::event::Field::DurationNs,
];

/// The page size of a report in kB: its free lists start at one page
/// (`Node 0 DMA: 1*4kB ...`); 4 where it has none.
pub(super) fn page_kb(r: &KernelReport) -> u64 {
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
pub(super) fn victim(k: &Killed) -> Victim {
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
pub(super) fn gfp_names(r: &KernelReport) -> Option<String> {
    if r.gfp_named {
        return Some(r.gfp_flags.clone());
    }
    let release = r.kernel.as_deref()?;
    let (major, minor) = crate::kernel::gfp::parse_release(release)?;
    ((major, minor) >= (4, 15))
        .then(|| crate::kernel::gfp::GfpTable::builtin(release).format(r.gfp_mask as u64))
}

pub(super) fn frames(stack: &[(String, u64, u64)], addrs: &[u64]) -> Vec<Frame> {
    stack
        .iter()
        .enumerate()
        .map(|(i, (name, off, size))| Frame {
            addr: match addrs.get(i) {
                Some(&a) if a != 0 => compact_str::format_compact!("{a:#x}"),
                _ => CompactString::default(),
            },
            symbol: Some(name.as_str().into()),
            offset: Some(*off),
            size: Some(*size),
        })
        .collect()
}

/// Counters, nodes and zones from the report's `Mem-Info` block, mapped to
/// the kernel's counter names by the same tables the text is rendered with.
pub(super) fn memory(r: &KernelReport, ev: &mut OomEvent) {
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
                .map(|((_, _, c), t)| (c.clone(), compact(t)))
                .unwrap_or_default();
            Zone {
                node: z.node,
                zone: z.zone.as_str().into(),
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
                zone: name.as_str().into(),
                free_area: counts.clone(),
                free_types: compact(types),
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

/// Each order's migrate-type letters, inline.
fn compact(types: &[String]) -> Vec<CompactString> {
    types.iter().map(|t| t.as_str().into()).collect()
}
