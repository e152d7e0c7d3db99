//! The real-kernel check: `cargo xtask vm-test` boots Debian's kernels in
//! QEMU with tests/vm/init.sh as PID 1 and hands the serial logs here. Each
//! scenario's event must agree field by field with the kernel's own report
//! in the same VM's log, read by the tests' own reader (`common/kreport.rs`,
//! written from the kernel's format strings), not by oomtrace's importer;
//! the importer is checked against that reader on every VM's log too.
//!
//! Ignored by a plain `cargo test`: it needs the VM logs (`OOMTRACE_VM_LOGS`,
//! colon-separated), which only `cargo xtask vm-test` produces.

use oomtrace_core::enrich::report_join;
use oomtrace_core::schema::event::OomEvent;
use std::collections::BTreeMap;

mod common;
use common::kreport::{self, MEM_INFO_LABELS, NODE_LABELS, Report};

struct VmRun {
    kernel: String,
    sections: BTreeMap<String, String>,
    markers: Vec<String>,
    reports: Vec<Report>,
    /// The VM's CPUs, as its kernel said (`smp: Brought up 1 node, 2 CPUs`):
    /// per-CPU caches bound how far two reads of a counter may differ.
    cpus: u64,
}

fn parse_vm_log(text: &str) -> VmRun {
    let text = text.replace('\r', "");
    let mut sections = BTreeMap::new();
    let mut markers = Vec::new();
    let mut current: Option<(String, String)> = None;
    for line in text.lines() {
        if let Some(name) = line.strip_prefix("=== BEGIN ") {
            current = Some((name.to_owned(), String::new()));
        } else if line.starts_with("=== END ") {
            if let Some((n, body)) = current.take() {
                sections.insert(n, body);
            }
        } else if let Some((_, body)) = current.as_mut() {
            body.push_str(line);
            body.push('\n');
        } else if let Some(i) = line.find("VMTEST ") {
            // The serial console is shared: a kernel message may land on
            // the marker's line ("VMTEST sysrq victim 182[    5.69] sysrq: ...").
            // Markers hold no '[', so the first one ends the marker.
            let marker = &line[i + 7..];
            markers.push(marker.split('[').next().unwrap_or(marker).to_owned());
        }
    }
    // Markers written to a file in the VM (the console interleaves the
    // kernel's lines with the shell's).
    if let Some(m) = sections.get("markers.txt") {
        markers.extend(
            m.lines()
                .filter_map(|l| l.strip_prefix("VMTEST "))
                .map(str::to_owned),
        );
    }
    let dmesg = sections.get("dmesg").map_or("", String::as_str);
    let reports = kreport::read(dmesg);
    let cpus = dmesg
        .lines()
        .find_map(|l| l.split_once("smp: Brought up ")?.1.split(", ").nth(1))
        .and_then(|c| c.strip_suffix(" CPUs")?.parse().ok())
        .expect("the kernel's `smp: Brought up N nodes, M CPUs` line");
    let kernel = markers
        .iter()
        .find_map(|m| m.strip_prefix("kernel "))
        .unwrap_or("?")
        .to_owned();
    VmRun {
        kernel,
        sections,
        markers,
        reports,
        cpus,
    }
}

impl VmRun {
    /// The first event of a scenario's recorded session.
    fn event(&self, scenario: &str) -> OomEvent {
        self.session(scenario)
            .events
            .first()
            .cloned()
            .unwrap_or_else(|| panic!("{}/{scenario}.json: no event recorded", self.kernel))
    }

    /// A scenario's recorded session, after checking the file itself: one
    /// session of this kernel, ended cleanly, nothing lost.
    fn session(&self, scenario: &str) -> oomtrace_core::source::session::Session {
        let file = self
            .sections
            .get(&format!("{scenario}.json"))
            .unwrap_or_else(|| panic!("{}: no session file for {scenario}", self.kernel));
        let name = format!("{}/{scenario}.json", self.kernel);
        let (sessions, notes) =
            oomtrace_core::source::session::read_from(file.as_bytes(), &name, false)
                .unwrap_or_else(|e| {
                    panic!(
                        "{e}; stderr: {:?}",
                        self.sections.get(&format!("{scenario}.err"))
                    )
                });
        assert_eq!(
            notes,
            oomtrace_core::source::session::ReadNotes::default(),
            "{name}"
        );
        assert_eq!(sessions.len(), 1, "{name}");
        let s = &sessions[0];
        assert_eq!(s.header.kernel, self.kernel, "{name}: the header's kernel");
        let end = s
            .trailer
            .as_ref()
            .unwrap_or_else(|| panic!("{name}: the recorder wrote no end record"));
        assert_eq!(
            (end.lost, end.incomplete),
            (0, 0),
            "{name}: lost or incomplete"
        );
        assert_eq!(
            end.events,
            s.events.len() as u64,
            "{name}: the end record's count"
        );
        sessions.into_iter().next().unwrap()
    }

    fn report_for(&self, ev: &OomEvent) -> &Report {
        let pid = ev
            .victim
            .as_ref()
            .and_then(|v| v.pid)
            .expect("event without victim pid");
        self.reports
            .iter()
            .find(|r| r.killed.as_ref().is_some_and(|k| k.pid == pid))
            .unwrap_or_else(|| {
                panic!(
                    "{}: the kernel log has no report killing pid {pid}",
                    self.kernel
                )
            })
    }

    fn marker(&self, prefix: &str) -> &str {
        self.markers
            .iter()
            .find_map(|m| m.strip_prefix(prefix))
            .unwrap_or_else(|| panic!("{}: no marker {prefix:?}", self.kernel))
    }

    /// The pid `KEY=PID` in the marker that begins with `prefix`.
    fn marker_pid(&self, prefix: &str, key: &str) -> i32 {
        self.marker(prefix)
            .split_whitespace()
            .find_map(|w| w.strip_prefix(key)?.strip_prefix('='))
            .and_then(|p| p.parse().ok())
            .unwrap_or_else(|| panic!("{}: no {key}= in marker {prefix:?}", self.kernel))
    }

    fn attached(&self, scenario: &str) -> String {
        self.sections
            .get(&format!("{scenario}.err"))
            .and_then(|e| {
                e.lines()
                    .find(|l| l.starts_with("oomtrace: attached"))
                    .map(str::to_owned)
            })
            .unwrap_or_default()
    }
}

/// Every field the event has equals the kernel's report of the same OOM.
fn assert_agrees(run: &VmRun, scenario: &str, ev: &OomEvent, r: &Report) {
    let ctx = format!("{} {scenario}", run.kernel);
    let k = r.killed.as_ref().unwrap();
    let v = ev.victim.as_ref().unwrap();
    let s = |key: &str| r.summary.get(key).cloned();
    // Every field the kernel printed must be there (a null fails) and equal.
    macro_rules! same {
        ($ours:expr, $theirs:expr, $what:literal) => {
            let theirs = $theirs;
            let ours = $ours.unwrap_or_else(|| {
                panic!(
                    "{ctx}: {} is null where the kernel printed {theirs:?} (unavailable: {:?}, notes: {:?})",
                    $what, ev.unavailable, ev.notes
                )
            });
            assert_eq!(
                ours, theirs,
                "{ctx}: {} differs from the kernel's report",
                $what
            );
        };
    }
    same!(
        ev.trigger.comm.clone(),
        r.trigger_comm.clone(),
        "trigger comm"
    );
    same!(ev.trigger.tid, r.trigger_pid.unwrap(), "trigger pid");
    same!(
        ev.trigger.oom_score_adj,
        r.trigger_oom_score_adj,
        "trigger oom_score_adj"
    );
    same!(ev.gfp_mask, r.gfp_mask, "gfp_mask");
    same!(ev.gfp_flags.clone(), r.gfp_flags.clone(), "gfp flags");
    same!(ev.order, r.order, "order");
    same!(
        ev.constraint.clone(),
        s("constraint").unwrap(),
        "constraint"
    );
    same!(ev.nodemask.clone(), s("nodemask").unwrap(), "nodemask");
    same!(ev.message.clone(), k.message.clone(), "message");
    if ev.source.name() == "kprobe" {
        assert_eq!(ev.memcg, s("oom_memcg"), "{ctx}: oom_memcg");
        assert_eq!(ev.memcg.is_none(), r.global_oom, "{ctx}: global or not");
    }
    same!(v.cgroup.clone(), s("task_memcg").unwrap(), "task_memcg");
    same!(v.pid, k.pid, "victim pid");
    same!(v.comm.clone(), k.comm.clone(), "victim comm");
    same!(v.uid, k.uid, "victim uid");
    same!(v.total_vm_kb, k.total_vm_kb, "total-vm");
    // Before 6.2 (SPLIT_RSS_COUNTING) each thread caches its rss deltas; a
    // victim woken by SIGKILL flushes them before the kernel prints its
    // `Killed process` line, the thread running the OOM does not: oomtrace
    // reads them that way, so the figures must be equal on every kernel.
    // Before 6.2 there is no knowing whether a victim that is another task
    // reached do_exit's sync_mm_rss before the OOM task printed: without the
    // print probe (tracepoint mode) oomtrace reads the victim with its
    // per-thread counts, and even the print probe reads moments after the
    // kernel evaluated the line's arguments, time enough for a victim woken
    // by SIGKILL to flush (seen: 6.1 sysrq-f in kprobe mode, ours 52 kB, the
    // kernel's 4 kB, one run in six). A thread's unflushed counts only add:
    // the kernel's figure is then at most ours, and ours at most the kernel's
    // plus what one thread can hold unflushed. `check_sync_rss_stat` flushes
    // on a thread's 66th fault since its last flush (`events++ >
    // TASK_RSS_EVENTS_THRESH`, 64), and one fault counts at most
    // fault-around's 64 KiB of a file (16 pages; anonymous faults count one
    // page, a THP goes to the mm directly). Everything else is exact.
    let kernel = ctx.split_whitespace().next().unwrap_or("");
    let split_rss = oomtrace_core::kernel::gfp::parse_release(kernel).is_some_and(|v| v < (6, 2));
    let other_task = v.pid != ev.trigger.pid;
    let racy = split_rss && other_task;
    // And in any mode before 6.2, the reaper scenario's victim has a second
    // thread (the one whose vfork child holds the memory), killed with it:
    // exiting, it flushes its own cached counts (a page event each, up to
    // TASK_RSS_EVENTS_THRESH = 64) into the mm, which can land between the
    // kernel evaluating the `Killed process` line's arguments and the print
    // probe's read (seen: 6.1 arm64, ours 32536 kB, the kernel's 32528 kB).
    let other_thread_kb = if split_rss && scenario == "reaper" {
        64 * ev.memory_read.as_ref().map_or(4, |r| r.page_kb)
    } else {
        0
    };
    for (what, ours, theirs) in [
        ("anon-rss", v.anon_rss_kb, k.anon_rss_kb),
        ("file-rss", v.file_rss_kb, k.file_rss_kb),
        ("shmem-rss", v.shmem_rss_kb, k.shmem_rss_kb),
    ] {
        let ours = ours.unwrap_or_else(|| panic!("{ctx}: {what} is null"));
        if racy {
            let page_kb = ev.memory_read.as_ref().map_or(4, |r| r.page_kb);
            let threads = if scenario == "reaper" { 2 } else { 1 };
            let unflushed_kb = threads * 66 * 16 * page_kb;
            // Below it too, by as much: oomtrace reads the mm's count, then
            // the victim's cache; a victim flushing between the two reads
            // is counted in neither (seen once: 6.1 armhf, tracepoint mode,
            // sysrq's `sleep`: shmem ours 0, the kernel's 844 kB, its anon
            // and file equal). Reading the cache before and after the mm's
            // count would close that window; until then it is bounded.
            assert!(
                ours.abs_diff(theirs) <= unflushed_kb,
                "{ctx}: {what} kB, ours {ours} and the kernel's {theirs} (allowed either side: {unflushed_kb})"
            );
        } else {
            assert!(
                ours >= theirs && ours - theirs <= other_thread_kb,
                "{ctx}: {what} kB, ours {ours} and the kernel's {theirs} (allowed above it: {other_thread_kb})"
            );
        }
    }
    assert_memory_agrees(&ctx, ev, r, run.cpus);
    same!(v.pgtables_kb, k.pgtables_kb, "pgtables");
    same!(v.oom_score_adj, k.oom_score_adj, "victim oom_score_adj");
    assert_eq!(ev.killed, Some(true), "{ctx}");
    // Our stack and the kernel's Call Trace meet at out_of_memory, same
    // offset; unless the event says it has none (tracepoint mode on 32-bit
    // ARM, which `check_kernel` accepts only there).
    if ev.unavailable.iter().any(|f| f == "stack") {
        return;
    }
    let theirs = r
        .stack
        .iter()
        .find(|(n, _, _)| n == "out_of_memory")
        .expect("kernel stack");
    let ours = ev
        .stack
        .iter()
        .find(|f| f.symbol.as_deref() == Some("out_of_memory"))
        .unwrap_or_else(|| panic!("{ctx}: out_of_memory not in our stack"));
    assert_eq!(
        (ours.offset, ours.size),
        (Some(theirs.1), Some(theirs.2)),
        "{ctx}: out_of_memory frame"
    );
}

/// How far, in pages, a counter oomtrace read may be from the one the
/// kernel printed in `r`, on a machine of `cpus` CPUs.
/// - `printed` (kernel-log mode): the event's counters are the print's: equal.
/// - `show_free_areas` (kprobe mode): read on entry to the function that
///   prints them. While its lines go out each CPU may fold its per-CPU
///   counter deltas into the global counters the kernel prints (a delta
///   reaches at most `stat_threshold`) plus the one change that crossed
///   it: a per-CPU free list's batch going to or from the buddy allocator
///   (63 pages, `zone_batchsize` of any zone of 256 MiB or more).
/// - `mark_victim` (tracepoint mode): read after the report's memory lines,
///   the victim already sent SIGKILL. A victim that is the OOM's own task is
///   still in the OOM path and frees nothing; another task may be exiting on
///   the other CPU, giving back its memory: its rss and page tables, on top.
fn slack(ev: &OomEvent, r: &Report, cpus: u64) -> u64 {
    let read = ev.memory_read.as_ref().expect("memory_read");
    let per_cpu_moves = cpus * (63 + stat_threshold(r, cpus));
    match read.at.name() {
        "printed" => 0,
        "show_free_areas" => per_cpu_moves,
        _ => {
            let v = ev.victim.as_ref().expect("victim");
            let exiting_kb = if v.pid == ev.trigger.pid {
                0
            } else {
                [v.anon_rss_kb, v.file_rss_kb, v.shmem_rss_kb, v.pgtables_kb]
                    .iter()
                    .map(|kb| kb.unwrap_or(0))
                    .sum()
            };
            per_cpu_moves + exiting_kb / read.page_kb
        }
    }
}

/// The most a CPU's counter delta reaches before it is folded into the
/// global counter, for the largest zone the report printed
/// (`calculate_normal_threshold`, mm/vmstat.c: 2 × fls(CPUs) × (1 +
/// fls(managed pages / 128 MiB)), at most 125). 16 pages on these VMs.
fn stat_threshold(r: &Report, cpus: u64) -> u64 {
    let fls = |x: u64| u64::from(64 - x.leading_zeros());
    r.zone_watermarks
        .iter()
        .map(|z| {
            let mem = (z.fields.get("managed").copied().unwrap_or(0) / 4) >> (27 - 12);
            (2 * fls(cpus) * (1 + fls(mem))).min(125)
        })
        .max()
        .unwrap_or(125)
}

/// What a memcg's per-CPU charge caches may hold, in kB: at most
/// `MEMCG_CHARGE_BATCH` (64) pages of 4 kB per CPU.
fn charge_stock_kb(cpus: u64) -> u64 {
    cpus * 64 * 4
}

/// Memory state: watermarks, sizes and reserves exactly; counters and free
/// lists within `slack`; the memcg counter of a memcg OOM exactly.
fn assert_memory_agrees(ctx: &str, ev: &OomEvent, r: &Report, cpus: u64) {
    if let Some((usage, limit, failcnt)) = r.memcg_memory {
        let m = ev
            .memcg_memory
            .as_ref()
            .unwrap_or_else(|| panic!("{ctx}: no memcg usage in the event"));
        assert_eq!(m.limit_kb, limit, "{ctx}: memcg limit");
        // The usage is read at the print's kprobe, the kernel reads it again
        // microseconds later; in between, the per-CPU charge caches that
        // try_charge_memcg's drain_all_stock() emptied asynchronously may
        // give back their pages (at most MEMCG_CHARGE_BATCH, 64 pages, per
        // CPU; seen: 23 pages on 5.10 under a loaded host).
        let stock_kb = charge_stock_kb(cpus);
        assert!(
            m.usage_kb.abs_diff(usage) <= stock_kb,
            "{ctx}: memcg usage {} vs the kernel's {usage}",
            m.usage_kb
        );
        // Other tasks of the cgroup may fail a charge between our read and the print.
        assert!(
            m.failcnt <= failcnt && failcnt - m.failcnt <= 4,
            "{ctx}: memcg failcnt {} vs the kernel's {failcnt}",
            m.failcnt
        );
    }
    let read = ev
        .memory_read
        .as_ref()
        .unwrap_or_else(|| panic!("{ctx}: no memory state in the event"));
    let zones = ev.zones.as_ref().expect("zones");
    assert!(!zones.is_empty(), "{ctx}: no zones");
    if r.zone_watermarks.is_empty() {
        return; // memcg OOMs print no Mem-Info to compare with.
    }
    let largest = std::cell::Cell::new((0u64, String::new()));
    let allowed = slack(ev, r, cpus);
    // Read after the print, free pages may also have left the per-CPU
    // lists for the buddy's (a drain, and the blocks merge), at most what
    // the report says those lists held then (`free_pcp:`). From 6.7 the
    // kernel tunes those lists' size itself: 7.2 arm64 held 10 760 pages
    // there, and 578 of them came back between the print and mark_victim.
    let drained = if read.at.name() == "mark_victim" {
        r.mem_info.get("free_pcp").copied().unwrap_or(0)
    } else {
        0
    };
    let close = |what: &str, ours: u64, theirs: u64| {
        let allowed = if what.contains("free") || what.contains("blocks") {
            allowed + drained
        } else {
            allowed
        };
        let seen = largest.take();
        largest.set(if ours.abs_diff(theirs) > seen.0 {
            (
                ours.abs_diff(theirs),
                format!("{what}: ours {ours}, the kernel's {theirs}"),
            )
        } else {
            seen
        });
        assert!(
            ours.abs_diff(theirs) <= allowed,
            "{ctx}: {what}: ours {ours}, the kernel's {theirs} (allowed {allowed}, read at {})",
            read.at
        );
    };
    let counters = ev.counters.as_ref().expect("counters");
    let mut compared = 0;
    for (label, theirs) in &r.mem_info {
        let Some((_, name)) = MEM_INFO_LABELS.iter().find(|(l, _)| l == label) else {
            continue; // free_pcp: per-CPU lists, not read.
        };
        let ours = counters.node.get(name).or(counters.zone.get(name));
        // Since NR_BOUNCE went (after 6.12) the kernel prints `bounce:0`, a constant.
        let gone = (*name == "NR_BOUNCE" && *theirs == 0).then_some(&0);
        let ours = ours
            .or(gone)
            .unwrap_or_else(|| panic!("{ctx}: no {name} for Mem-Info's {label}"));
        close(label, (*ours).max(0) as u64, *theirs);
        compared += 1;
    }
    assert!(
        compared >= 15,
        "{ctx}: only {compared} Mem-Info counters compared"
    );
    for (node, pairs) in &r.node_lines {
        let n = ev
            .nodes
            .iter()
            .flatten()
            .find(|n| n.node == *node)
            .unwrap_or_else(|| panic!("{ctx}: no node {node}"));
        // Before 5.13 the THP counters count huge pages (512 pages each
        // here) and the kernel prints them multiplied.
        let kernel = ctx.split_whitespace().next().unwrap_or("");
        let old_thp =
            oomtrace_core::kernel::gfp::parse_release(kernel).is_some_and(|v| v < (5, 13));
        for (label, name) in NODE_LABELS {
            if let Some(theirs) = pairs.get(*label) {
                let v = n.counters[*name].max(0) as u64;
                let unit = if old_thp && (name.contains("THPS") || name.contains("PMDMAPPED")) {
                    512
                } else {
                    1
                };
                let kb = if name.ends_with("_KB") {
                    v
                } else {
                    v * unit * read.page_kb
                };
                close(
                    &format!("node {node} {label}"),
                    kb / read.page_kb,
                    theirs / read.page_kb,
                );
            }
        }
    }
    for (i, zl) in r.zone_watermarks.iter().enumerate() {
        let z = zones
            .iter()
            .find(|z| z.node == zl.node && z.zone == zl.zone)
            .unwrap_or_else(|| panic!("{ctx}: no zone {} {}", zl.node, zl.zone));
        let f = |k: &str| zl.fields.get(k).copied();
        for (what, ours, theirs) in [
            ("min", z.min_kb, f("min")),
            ("low", z.low_kb, f("low")),
            ("high", z.high_kb, f("high")),
            ("boost", z.boost_kb, f("boost")),
            ("present", z.present_kb, f("present")),
            ("managed", z.managed_kb, f("managed")),
            (
                "reserved_highatomic",
                z.reserved_highatomic_kb,
                f("reserved_highatomic"),
            ),
        ] {
            // What the kernel printed must be there and equal (a null fails);
            // a field this kernel does not print (`boost:` before 5.11) is
            // not compared.
            if theirs.is_some() || what != "boost" {
                assert_eq!(ours, theirs, "{ctx}: zone {} {what}", zl.zone);
            }
        }
        assert_eq!(
            Some(&z.lowmem_reserve),
            r.lowmem_reserves.get(i),
            "{ctx}: {} lowmem_reserve",
            zl.zone
        );
        close(
            &format!("{} free pages", zl.zone),
            z.free_kb.unwrap() / read.page_kb,
            zl.free_kb / read.page_kb,
        );
        let (_, _, counts) = r
            .free_areas
            .iter()
            .find(|(n, name, _)| *n == zl.node && *name == zl.zone)
            .unwrap_or_else(|| panic!("{ctx}: the kernel printed no free lists for {}", zl.zone));
        assert_eq!(z.free_area.len(), counts.len(), "{ctx}: {} orders", zl.zone);
        for (order, (ours, theirs)) in z.free_area.iter().zip(counts).enumerate() {
            // Blocks of an order, in pages: the same tolerance as free pages.
            close(
                &format!("{} order {order} blocks", zl.zone),
                ours << order,
                theirs << order,
            );
        }
    }
    let (diff, what) = largest.take();
    println!(
        "{ctx}: memory state read at {} via {}: {} zones, {} Mem-Info counters agree; largest difference {} pages ({})",
        read.at,
        read.path,
        r.zone_watermarks.len(),
        compared,
        diff,
        what
    );
}

/// The frame the kernel printed after `out_of_memory`: its caller.
fn caller_of_out_of_memory(stack: &[(String, u64, u64)]) -> Option<&str> {
    let i = stack.iter().position(|(n, _, _)| n == "out_of_memory")?;
    stack.get(i + 1).map(|(n, _, _)| n.as_str())
}

/// The kind of OOM a scenario causes: `tp-` ones are the same in
/// tracepoint mode; all others are memory-cgroup OOMs.
fn kind(scenario: &str) -> &str {
    let scenario = scenario.strip_prefix("kl-").unwrap_or(scenario);
    match scenario.strip_prefix("tp-").unwrap_or(scenario) {
        k @ ("sysrq" | "global") => k,
        _ => "memcg",
    }
}

/// Who calls `out_of_memory` in each scenario, as the kernel's own source
/// has it since 4.x: the caller the kernel's Call Trace must name.
fn expected_caller(scenario: &str, caller: &str) -> bool {
    match kind(scenario) {
        "sysrq" => caller == "moom_callback",
        // arm64's builds inline the slow path into `__alloc_pages`
        // (`__alloc_pages_noprof` since 6.10's allocation profiling; on 7.x
        // `__alloc_frozen_pages_noprof`, which `__alloc_pages_noprof` wraps).
        "global" => {
            caller.starts_with("__alloc_pages_slowpath")
                || caller == "__alloc_pages_may_oom"
                || caller == "__alloc_pages"
                || caller == "__alloc_pages_noprof"
                || caller == "__alloc_frozen_pages_noprof"
        }
        _ => caller == "mem_cgroup_out_of_memory",
    }
}

/// Do no harm: with oomtrace attached, the kernel's own report names the
/// caller of `out_of_memory` it names without oomtrace — the one in the
/// reference logs captured without any tracer (tests/fixtures), and the one
/// its source calls it from. A return probe on `out_of_memory` puts its
/// trampoline there (`trace_clock_x86_tsc+0x20/0x20` on 6.x,
/// `elfcorehdr_read+0x40/0x40` on 5.10).
fn assert_kernel_report_unchanged(run: &VmRun, scenario: &str, r: &Report) {
    let kernel = &run.kernel;
    let ours = caller_of_out_of_memory(&r.stack).unwrap_or_else(|| {
        panic!(
            "{kernel} {scenario}: the kernel's Call Trace has no out_of_memory frame: {:?}",
            r.stack
        )
    });
    assert!(
        expected_caller(scenario, ours),
        "{kernel} {scenario}: with oomtrace attached the kernel printed {ours:?} as out_of_memory's caller"
    );
    let series = kernel.split('.').take(2).collect::<Vec<_>>().join(".");
    let reference = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join(format!(
        "../tests/fixtures/kernel-reports/{series}-qemu-sysrq-global-memcg.log"
    ));
    // The references were captured on x86_64 (another architecture inlines
    // otherwise); the expected caller above holds everywhere.
    if kernel.ends_with("amd64")
        && let Ok(text) = std::fs::read_to_string(&reference)
    {
        let refs = kreport::read(&text);
        let index = match kind(scenario) {
            "sysrq" => 0,
            "global" => 1,
            _ => 2,
        };
        let theirs = refs
            .get(index)
            .and_then(|r| caller_of_out_of_memory(&r.stack))
            .expect("the reference has the scenario's report");
        assert_eq!(
            ours,
            theirs,
            "{kernel} {scenario}: out_of_memory's caller with oomtrace attached vs without ({})",
            reference.display()
        );
    }
}

/// oomtrace's own stack reaches where the OOM came from.
/// Where each kind of OOM enters the kernel, which a whole stack reaches.
fn entry(scenario: &str) -> &'static [&'static str] {
    match kind(scenario) {
        "sysrq" => &["moom_callback"],
        // The page fault: x86_64's exception entry, arm64's data abort,
        // 32-bit ARM's.
        "global" => &[
            "asm_exc_page_fault",
            "exc_page_fault",
            "do_page_fault",
            "do_mem_abort",
            "do_DataAbort",
        ],
        _ => &["try_charge_memcg", "mem_cgroup_out_of_memory"],
    }
}

fn assert_stack_reaches(kernel: &str, scenario: &str, ev: &OomEvent, entry: &[&str]) {
    let syms: Vec<&str> = ev
        .stack
        .iter()
        .filter_map(|f| f.symbol.as_deref())
        .collect();
    assert!(
        entry.iter().any(|e| syms.contains(e)),
        "{kernel} {scenario}: oomtrace's stack does not reach {entry:?}: {syms:?}"
    );
    // Each place once: arm64's walk gave the innermost one twice. (A stack
    // from the kernel's report, kernel-log mode's, has no addresses.)
    if let [a, b, ..] = ev.stack.as_slice()
        && !a.addr.is_empty()
    {
        assert_ne!(a.addr, b.addr, "{kernel} {scenario}: {syms:?}");
    }
    assert!(
        !syms
            .iter()
            .any(|s| s.contains("kretprobe_trampoline") || s.contains("trace_clock")),
        "{kernel} {scenario}: a probe's trampoline in oomtrace's stack: {syms:?}"
    );
}

/// The memcg OOM planned from a detached BTF file (`--btf`, made by pahole
/// from the kernel's `-dbg` package): the same agreement with the kernel.
/// Returns whether this kernel ran it.
fn check_detached_btf(run: &VmRun) -> bool {
    let kernel = &run.kernel;
    let Some(file) = run.markers.iter().find_map(|m| m.strip_prefix("btf ")) else {
        return false;
    };
    let check = &run.sections["btf-check.txt"];
    let want = format!(
        "{} (--btf), every field oomtrace reads is there",
        file.trim()
    );
    assert!(check.contains(&want), "{kernel}: check --btf said {check}");
    let ev = run.event("btf");
    assert_stack_reaches(kernel, "btf", &ev, &["mem_cgroup_out_of_memory"]);
    assert_agrees(run, "btf", &ev, run.report_for(&ev));
    println!("{kernel}: planned from {} as from its own BTF", file.trim());
    true
}

/// The thrash scenario: three global OOMs while a reader pulls a file
/// through the page cache, `record` running. Every kill the kernel logged
/// is in the session (and nothing else), each event is the kernel's OOM
/// (who triggered, who died, the allocation), the recorder was never picked
/// and is alive, its memory locked; its end record has the latency.
fn check_thrash(run: &VmRun) -> oomtrace_core::schema::latency::Latency {
    let kernel = &run.kernel;
    let marker = run.marker("thrash ");
    let hogs: Vec<i32> = marker
        .split_whitespace()
        .find_map(|w| w.strip_prefix("hogs="))
        .map(|l| l.split(',').filter_map(|p| p.parse().ok()).collect())
        .unwrap_or_default();
    assert_eq!(hogs.len(), 3, "{kernel}: thrash marker {marker:?}");
    let recorder = run.marker_pid("thrash ", "recorder");
    assert_eq!(
        run.marker_pid("thrash ", "alive"),
        recorder,
        "{kernel}: the recorder died"
    );
    let locked_kb: u64 = marker
        .split_whitespace()
        .find_map(|w| w.strip_prefix("VmLck:")?.strip_suffix("kB")?.parse().ok())
        .unwrap_or(0);
    assert!(
        locked_kb > 1024,
        "{kernel}: the recorder's memory is not locked: {marker:?}"
    );
    assert!(
        run.reports
            .iter()
            .all(|r| r.killed.as_ref().is_none_or(|k| k.pid != recorder)),
        "{kernel}: the OOM killer picked the recorder"
    );
    let session = run.session("thrash");
    let recorded: Vec<i32> = session
        .events
        .iter()
        .flat_map(|e| e.victim.iter().chain(&e.also_killed))
        .filter_map(|v| v.pid)
        .collect();
    assert_eq!(
        recorded, hogs,
        "{kernel}: the hogs the kernel killed, in order"
    );
    for ev in &session.events {
        let r = run.report_for(ev);
        assert!(r.global_oom, "{kernel}: a global OOM");
        assert_eq!(
            ev.constraint.as_deref(),
            Some("CONSTRAINT_NONE"),
            "{kernel}"
        );
        // The report's `PID:` is the allocating thread's (`task->pid`):
        // a thread of a process (oomtrace's own lead-up sampler did it on
        // 5.10) has its process's pid as `pid` and its own as `tid`.
        assert_eq!(ev.trigger.tid, r.trigger_pid, "{kernel}: the trigger");
        assert_eq!(
            ev.trigger.comm.as_deref(),
            Some(r.trigger_comm.as_str()),
            "{kernel}"
        );
        assert_eq!(
            (ev.gfp_mask, ev.order),
            (Some(r.gfp_mask), Some(r.order)),
            "{kernel}"
        );
        let v = ev.victim.as_ref().unwrap();
        let k = r.killed.as_ref().unwrap();
        assert_eq!(
            (v.pid, v.comm.as_deref()),
            (Some(k.pid), Some(k.comm.as_str())),
            "{kernel}"
        );
    }
    let end = session.trailer.as_ref().unwrap();
    let latency = end
        .latency
        .clone()
        .unwrap_or_else(|| panic!("{kernel}: no latency in the thrash session's end record"));
    assert_eq!(latency.events, 3, "{kernel}: {latency:?}");
    latency
}

/// The agent on cgroup v2: its Prometheus exposition counts what the kernel
/// killed, by constraint and by workload (a pod's container, a unit), and
/// its session holds the two OOMs as the kernel reported them.
fn check_fleet(run: &VmRun) {
    let kernel = &run.kernel;
    let kills: u64 = run
        .marker("fleet oom_kill=")
        .trim()
        .parse()
        .unwrap_or_else(|_| panic!("{kernel}: fleet marker"));
    assert_eq!(
        kills, 2,
        "{kernel}: the kernel killed a memcg and a global victim"
    );
    let metrics = run
        .sections
        .get("fleet-metrics.txt")
        .unwrap_or_else(|| panic!("{kernel}: no metrics fetched from the agent"));
    let sample = |name_and_labels: &str| -> Option<f64> {
        metrics
            .lines()
            .find_map(|l| l.strip_prefix(name_and_labels)?.trim().parse().ok())
    };
    assert_eq!(
        sample("oomtrace_oom_kills_total{constraint=\"memcg\"}"),
        Some(1.0),
        "{kernel}: {metrics}"
    );
    assert_eq!(
        sample("oomtrace_oom_kills_total{constraint=\"global\"}"),
        Some(1.0),
        "{kernel}: {metrics}"
    );
    let pod = "0b8f2c4e-1d2a-4f6b-9c3d-5e7f8a9b0c1d";
    assert_eq!(
        sample(&format!(
            "oomtrace_workload_oom_kills_total{{constraint=\"memcg\",namespace=\"\",pod=\"\",pod_uid=\"{pod}\",container=\"abababababab\",unit=\"\",cgroup=\"\"}}"
        )),
        Some(1.0),
        "{kernel}: the pod's container: {metrics}"
    );
    assert_eq!(
        sample(
            "oomtrace_workload_oom_kills_total{constraint=\"global\",namespace=\"\",pod=\"\",pod_uid=\"\",container=\"\",unit=\"oomtrace-hog.service\",cgroup=\"\"}"
        ),
        Some(1.0),
        "{kernel}: the unit: {metrics}"
    );
    assert_eq!(sample("oomtrace_lost_records_total"), Some(0.0), "{kernel}");
    let session = run.session("fleet");
    assert_eq!(session.events.len(), 2, "{kernel}: the agent's session");
    for ev in &session.events {
        let r = run.report_for(ev);
        let v = ev.victim.as_ref().unwrap();
        let k = r.killed.as_ref().unwrap();
        assert_eq!(v.pid, Some(k.pid), "{kernel}");
        assert_eq!(
            v.cgroup.as_deref(),
            r.summary.get("task_memcg").map(String::as_str),
            "{kernel}: no path is cut"
        );
    }
    let w = |i: usize| {
        session.events[i]
            .victim
            .as_ref()
            .unwrap()
            .workload
            .clone()
            .unwrap_or_default()
    };
    assert_eq!(w(0).pod_uid.as_deref(), Some(pod), "{kernel}");
    assert_eq!(
        w(0).container_id.as_deref(),
        Some("ab".repeat(32).as_str()),
        "{kernel}"
    );
    assert_eq!(
        session.events[1].constraint.as_deref(),
        Some("CONSTRAINT_NONE"),
        "{kernel}"
    );
    assert_eq!(
        w(1).unit.as_deref(),
        Some("oomtrace-hog.service"),
        "{kernel}"
    );
    // The agent's lead-up counts the allocator's retries: before a global
    // OOM the page allocator goes round should_reclaim_retry() (which
    // traces oom:reclaim_retry_zone for each zone it weighs) up to
    // MAX_RECLAIM_RETRIES times with no progress before it calls the OOM
    // killer, so the global OOM's last rate cannot be 0; the memcg's limit
    // is met in the charge path, which does not retry through it.
    let last_rate = |i: usize| {
        let l = session.events[i]
            .lead_up
            .as_ref()
            .unwrap_or_else(|| panic!("{kernel}: OOM {i} has no lead-up"));
        l.points.last().unwrap().reclaim_retries_per_s
    };
    assert!(last_rate(0).is_some(), "{kernel}: the memcg OOM's rate");
    let global = last_rate(1).unwrap_or_else(|| panic!("{kernel}: the global OOM's rate"));
    assert!(
        global > 0.0,
        "{kernel}: {global} retries a second before a global OOM"
    );
    println!(
        "{kernel}: fleet: the agent counted the memcg (pod) and global (unit) kills as the kernel did; {global:.0} allocator retries a second before the global one"
    );
}

/// `watch --once --json` on cgroup v2 while a hog grows 3 MiB/s in 24 MiB:
/// the zones as /proc/zoneinfo says them, the memory cgroup with its limit,
/// growing, with a time left; the hog's recorded OOM with a lead-up rising
/// to the limit.
fn check_watch(run: &VmRun) {
    let kernel = &run.kernel;
    let snap: serde_json::Value = serde_json::from_str(
        run.sections
            .get("watch.json")
            .unwrap_or_else(|| panic!("{kernel}: no watch snapshot")),
    )
    .unwrap_or_else(|e| panic!("{kernel}: watch.json: {e}"));
    // Watermarks and sizes exactly (pages of 4 kB on every VM kernel).
    let zoneinfo = &run.sections["zoneinfo.txt"];
    let mut want = Vec::new();
    let mut cur: Option<(String, [u64; 4])> = None;
    for line in zoneinfo.lines() {
        if let Some(rest) = line.strip_prefix("Node ") {
            want.extend(cur.take());
            let (n, z) = rest.split_once(", zone").unwrap();
            cur = Some((format!("{} {}", n.trim(), z.trim()), [0; 4]));
            continue;
        }
        let mut w = line.split_whitespace();
        if let (Some(k), Some(Ok(v)), Some((_, vals))) =
            (w.next(), w.next().map(str::parse::<u64>), cur.as_mut())
        {
            let i = ["min", "low", "high", "managed"]
                .iter()
                .position(|n| *n == k);
            if let Some(i) = i {
                vals[i] = v * 4;
            }
        }
    }
    want.extend(cur);
    want.retain(|(_, v)| v[3] > 0);
    let got: Vec<(String, [u64; 4])> = snap["zones"]
        .as_array()
        .unwrap()
        .iter()
        .map(|z| {
            (
                format!("{} {}", z["node"], z["zone"].as_str().unwrap()),
                ["min_kb", "low_kb", "high_kb", "managed_kb"].map(|k| z[k].as_u64().unwrap()),
            )
        })
        .collect();
    assert_eq!(got, want, "{kernel}: watch's zones");
    let m = snap["memcgs"]
        .as_array()
        .unwrap()
        .iter()
        .find(|m| m["path"] == "/slow")
        .unwrap_or_else(|| panic!("{kernel}: /slow not in watch's memcgs: {snap}"));
    assert_eq!(m["limit_kb"], 24576, "{kernel}");
    // The kernel's file read right before and right after the snapshot.
    // The hog only grows, but memory.current also moves down by itself:
    // each CPU's stock of pre-charged pages (64) goes back at any time, and
    // kernel memory is freed (6.1 armhf once read 788 kB less a moment after
    // the snapshot than the snapshot). 1 MiB either side: a figure from
    // another file or another cgroup is further off than that.
    const SLACK: u64 = 1 << 20;
    let file = |name: &str| -> u64 {
        run.sections[name]
            .trim()
            .parse()
            .unwrap_or_else(|e| panic!("{kernel}: {name}: {e}"))
    };
    let (before, after) = (file("watch-usage-before.txt"), file("watch-usage.txt"));
    let usage = m["usage_kb"].as_u64().unwrap();
    assert!(
        before.saturating_sub(SLACK) <= usage * 1024 && usage * 1024 <= after + SLACK,
        "{kernel}: the file said {before} B, then watch {usage} kB, then the file {after} B"
    );
    assert!(
        m["growth_kb_per_s"].as_f64().unwrap() > 0.0,
        "{kernel}: {m}"
    );
    assert!(m["limit_in_s"].as_f64().is_some(), "{kernel}: {m}");
    let session = run.session("leadup");
    let ev = session
        .events
        .iter()
        .find(|e| e.memcg.as_deref() == Some("/slow"))
        .unwrap_or_else(|| panic!("{kernel}: the slow hog's OOM not recorded"));
    let l = ev
        .lead_up
        .as_ref()
        .unwrap_or_else(|| panic!("{kernel}: no lead-up"));
    let usage: Vec<u64> = l.points.iter().filter_map(|p| p.memcg_usage_kb).collect();
    assert!(usage.len() >= 3, "{kernel}: {usage:?}");
    // Rising second by second; the OOM's own value may be below the last
    // sample by what the charge path's drain of the per-CPU caches gave
    // back before it called the OOM killer (`charge_stock_kb`; seen:
    // 24536 sampled, 24340 printed).
    let (sampled, oom) = usage.split_at(usage.len() - 1);
    assert!(
        sampled.windows(2).all(|w| w[0] <= w[1]),
        "{kernel}: {usage:?}"
    );
    assert!(
        oom[0] + charge_stock_kb(run.cpus) >= *sampled.last().unwrap(),
        "{kernel}: {usage:?}"
    );
    // The last is the OOM's own, as the kernel printed it: at the limit,
    // less what per-CPU charge caches gave back.
    let last = *usage.last().unwrap();
    assert_eq!(
        Some(last),
        ev.memcg_memory.as_ref().map(|m| m.usage_kb),
        "{kernel}: {usage:?}"
    );
    assert!(
        24576u64.saturating_sub(last) <= charge_stock_kb(run.cpus),
        "{kernel}: {usage:?}"
    );
    println!(
        "{kernel}: watch: zones as /proc/zoneinfo, /slow at {:.0}% growing; lead-up {usage:?}",
        m["percent"].as_f64().unwrap()
    );
}

/// Kernel-log mode's event (`--btf none`, and every scenario on a kernel
/// without BTF): joined to the kernel's report of its kill, agreeing with
/// it field by field as any event must, and saying as unavailable what
/// neither BPF without layouts nor the report has, and nothing the report
/// printed.
fn assert_kernel_log_event(run: &VmRun, scenario: &str, ev: &OomEvent, r: &Report) {
    let kernel = run.kernel.as_str();
    let ctx = format!("{kernel} {scenario}");
    assert_eq!(
        ev.kernel_report.as_deref(),
        Some("joined"),
        "{ctx}: {:?}",
        ev.notes
    );
    for f in ["totalpages", "points"] {
        assert!(
            ev.unavailable.iter().any(|u| u == f),
            "{ctx}: {:?}",
            ev.unavailable
        );
    }
    let memcg_oom = r.summary.get("constraint").map(String::as_str) == Some("CONSTRAINT_MEMCG");
    for f in [
        "gfp_mask",
        "order",
        "constraint",
        "nodemask",
        "victim",
        "trigger",
        "stack",
        "message",
    ]
    .into_iter()
    .chain(memcg_oom.then_some("memcg_memory"))
    .chain((!r.zone_watermarks.is_empty()).then_some("counters, nodes, zones"))
    {
        assert!(
            !ev.unavailable.iter().any(|u| u == f),
            "{ctx}: {f} unavailable where the kernel printed it: {:?}",
            ev.unavailable
        );
    }
    assert!(
        !ev.from_kernel_log.is_empty(),
        "{ctx}: nothing from the report"
    );
    assert_agrees(run, scenario, ev, r);
    assert_stack_reaches(kernel, scenario, ev, entry(scenario));
}

/// The scenarios of tests/vm/init.sh each held to the kernel's report (the
/// `kl-` ones apart: kernel-log mode on a kernel with BTF).
const SCENARIOS: [&str; 8] = [
    "sysrq",
    "global",
    "memcg",
    "steer",
    "tracepoint",
    "tp-sysrq",
    "tp-global",
    "reaper",
];

/// The `--btf none` scenarios every kernel runs.
fn check_kernel_log(run: &VmRun) {
    let kernel = &run.kernel;
    for scenario in ["kl-sysrq", "kl-global", "kl-memcg"] {
        let ev = run.event(scenario);
        assert!(
            run.attached(scenario).contains("kernel_report=/dev/kmsg"),
            "{kernel} {scenario}: {}",
            run.attached(scenario)
        );
        assert_kernel_log_event(run, scenario, &ev, run.report_for(&ev));
    }
    let sysrq = run.event("kl-sysrq");
    assert_eq!(sysrq.order, Some(-1), "{kernel}: sysrq-f is order -1");
    assert_eq!(
        sysrq.victim.as_ref().unwrap().pid,
        run.marker("kl-sysrq victim ").trim().parse().ok(),
        "{kernel}: the sacrificial process dies"
    );
    let global = run.event("kl-global");
    assert_eq!(
        global.memory_read.as_ref().map(|m| m.at.name()),
        Some("printed"),
        "{kernel}: a global OOM's memory as the kernel printed it"
    );
    println!(
        "{kernel}: kernel-log mode (--btf none): unavailable {}",
        run.event("kl-memcg").unavailable.join(", ")
    );
    check_rate_limited_reports(run);
}

/// Kernel-log mode through a storm of 20 memcg OOM kills (or a few more) in
/// about a second:
/// the kernel printed at most ten whole reports in five seconds (`oom_rs`),
/// the other kills their `Killed process` line alone. Read from the log's
/// raw text, not through the importer: a kill whose line follows a report
/// header (since the kill line before it) was reported whole, and its event
/// must say `joined`; one without, `rate-limited`, with the kill line's
/// victim all the same; a victim with no kill line at all (it was exiting:
/// marked without a report), `not found`.
fn check_rate_limited_reports(run: &VmRun) {
    let kernel = &run.kernel;
    let lines: Vec<&str> = run.sections["dmesg"].lines().collect();
    let session = run.session("kl-storm");
    let mut said = BTreeMap::<&str, usize>::new();
    for ev in &session.events {
        let v = ev.victim.as_ref().expect("victim");
        let pid = v.pid.expect("victim pid");
        let needle = format!("Killed process {pid} (");
        let expected = match lines.iter().position(|l| l.contains(&needle)) {
            None => report_join::NOT_FOUND,
            Some(at) => {
                let since = lines[..at]
                    .iter()
                    .rposition(|l| l.contains("Killed process "))
                    .map_or(0, |i| i + 1);
                let line = lines[at];
                let anon: u64 = line
                    .split("anon-rss:")
                    .nth(1)
                    .and_then(|r| r.split("kB").next())
                    .and_then(|n| n.parse().ok())
                    .unwrap_or_else(|| panic!("{kernel}: {line}"));
                assert_eq!(v.anon_rss_kb, Some(anon), "{kernel} kl-storm: {line}");
                if lines[since..at]
                    .iter()
                    .any(|l| l.contains(" invoked oom-killer: "))
                {
                    report_join::JOINED
                } else {
                    report_join::RATE_LIMITED
                }
            }
        };
        assert_eq!(
            ev.kernel_report.as_deref(),
            Some(expected),
            "{kernel} kl-storm: victim {pid}: {:?}",
            ev.notes
        );
        *said.entry(expected).or_default() += 1;
    }
    // Every kill of the storm (the kernel's own count, /proc/vmstat, which
    // a victim marked while already exiting does not raise) is an event.
    let kills: usize = run.marker("kl-storm oom_kill=").trim().parse().unwrap();
    let unreported = said.get(report_join::NOT_FOUND).copied().unwrap_or(0);
    assert!(kills >= 20, "{kernel} kl-storm: {kills} kills");
    assert_eq!(
        session.events.len(),
        kills + unreported,
        "{kernel} kl-storm: {kills} kills; {said:?}"
    );
    assert!(
        said.get(report_join::RATE_LIMITED).is_some_and(|&n| n > 0)
            && said.get(report_join::JOINED).is_some_and(|&n| n > 0),
        "{kernel} kl-storm: {said:?}"
    );
    println!("{kernel}: kernel-log mode through a storm of {kills} kills: {said:?}");
}

/// A kernel without BTF, oomtrace run with no flag (a board as it comes):
/// every scenario in kernel-log mode, each event as the kernel printed it.
fn check_kernel_without_btf(run: &VmRun) {
    let kernel = &run.kernel;
    println!("{kernel}: no BTF: {}", run.attached("sysrq"));
    assert!(
        run.sections["sysrq.err"].contains("kernel-log mode"),
        "{kernel}: the mode is said"
    );
    for scenario in SCENARIOS {
        let ev = run.event(scenario);
        assert_kernel_report_unchanged(run, scenario, run.report_for(&ev));
        assert_kernel_log_event(run, scenario, &ev, run.report_for(&ev));
    }
    let global = run.event("global");
    let zones = global.zones.as_ref().expect("zones");
    assert!(
        zones.iter().any(|z| z.zone == "HighMem"),
        "{kernel}: a 32-bit board's HighMem zone: {:?}",
        zones.iter().map(|z| &z.zone).collect::<Vec<_>>()
    );
    check_kernel_log(run);
    check_fleet(run);
}

fn check_kernel(run: &VmRun) {
    let kernel = &run.kernel;
    if run.markers.iter().any(|m| m == "no-btf") {
        check_kernel_without_btf(run);
        return;
    }
    println!("{kernel}: {}", run.attached("sysrq"));
    // Every hook of the mode attached, and the BTF had every field: a
    // "cannot attach" or "lacks" on these kernels is a failure, not a null.
    // Root in the VM has every capability: "missing CAP_..." is a false alarm
    // (x86's kallsyms begins with per-CPU offsets of 0 that looked hidden).
    for (name, text) in run.sections.iter().filter(|(n, _)| n.ends_with(".err")) {
        for bad in [
            "cannot attach",
            "BTF lacks",
            "cannot be read",
            "missing CAP_",
        ] {
            assert!(!text.contains(bad), "{kernel} {name}: {bad}: {text}");
        }
    }
    for scenario in SCENARIOS {
        let ev = run.event(scenario);
        assert_kernel_report_unchanged(run, scenario, run.report_for(&ev));
        // 32-bit ARM walks no stack from a tracepoint: tracepoint mode
        // there says the stack is unavailable (kprobe mode takes it at
        // oom_kill_process).
        if ev.unavailable.iter().any(|f| f == "stack") {
            assert!(
                kernel.contains("-armmp") && ev.source.name() == "tracepoint",
                "{kernel} {scenario}: stack unavailable"
            );
            continue;
        }
        assert_stack_reaches(kernel, scenario, &ev, entry(scenario));
    }

    let sysrq = run.event("sysrq");
    assert_eq!(sysrq.source.name(), "kprobe", "{kernel}");
    assert_eq!(sysrq.order, Some(-1), "{kernel}: sysrq-f is order -1");
    assert_eq!(sysrq.gfp_flags.as_deref(), Some("GFP_KERNEL"), "{kernel}");
    assert!(
        sysrq
            .trigger
            .comm
            .as_deref()
            .is_some_and(|c| c.starts_with("kworker/")),
        "{kernel}"
    );
    let syms: Vec<_> = sysrq
        .stack
        .iter()
        .filter_map(|f| f.symbol.as_deref())
        .collect();
    assert!(
        syms.contains(&"moom_callback") && syms.contains(&"out_of_memory"),
        "{kernel}: {syms:?}"
    );
    assert_eq!(
        sysrq.victim.as_ref().unwrap().pid,
        run.marker("sysrq victim ").trim().parse().ok(),
        "{kernel}: the sacrificial process dies"
    );
    assert_agrees(run, "sysrq", &sysrq, run.report_for(&sysrq));

    let global = run.event("global");
    assert_eq!(
        global.constraint.as_deref(),
        Some("CONSTRAINT_NONE"),
        "{kernel}"
    );
    // A user page (GFP_HIGHUSER_MOVABLE) or, as arm64's run shows, a page
    // table for one (GFP_KERNEL_ACCOUNT|__GFP_ZERO in __pte_alloc): either
    // way what the kernel printed, which `assert_agrees` compares.
    assert!(
        global.gfp_flags.as_deref().is_some_and(|g| {
            g.starts_with("GFP_HIGHUSER_MOVABLE") || g.starts_with("GFP_KERNEL_ACCOUNT")
        }),
        "{kernel}: {:?}",
        global.gfp_flags
    );
    let sfa = global
        .show_free_areas_stack
        .as_ref()
        .expect("global OOMs go through show_free_areas");
    assert!(
        sfa[0]
            .symbol
            .as_deref()
            .is_some_and(|s| s.ends_with("show_free_areas")),
        "{kernel}: {sfa:?}"
    );
    assert_agrees(run, "global", &global, run.report_for(&global));
    // What the allocator retried before giving up. (The reaper is not
    // checked: since 5.18 it acts only on victims alive 2 s after the kill,
    // and none of these scenarios makes one.)
    assert!(
        global
            .allocator_retries
            .iter()
            .any(|r| r.event == "reclaim_retry_zone"),
        "{kernel}: no reclaim retries before the global OOM"
    );
    // Asked for kallsyms: given where the kernel lists its data symbols
    // (CONFIG_KALLSYMS_ALL, which Debian's arm64 cloud kernels lack), else
    // the memcg path, said once on stderr.
    let read = global.memory_read.as_ref().unwrap();
    let kallsyms_data = run.marker("kallsyms-data ").trim() != "0";
    assert_eq!(
        (read.at.name(), read.path.name()),
        (
            "show_free_areas",
            if kallsyms_data { "kallsyms" } else { "memcg" }
        ),
        "{kernel}"
    );
    if !kallsyms_data {
        assert!(
            run.sections["global.err"].contains("CONFIG_KALLSYMS_ALL is off"),
            "{kernel}: the fallback is said"
        );
    }
    assert_eq!(
        sysrq.memory_read.as_ref().map(|r| r.path.name()),
        Some("memcg"),
        "{kernel}"
    );

    let memcg = run.event("memcg");
    assert_eq!(
        memcg.constraint.as_deref(),
        Some("CONSTRAINT_MEMCG"),
        "{kernel}"
    );
    assert!(
        memcg
            .memcg
            .as_deref()
            .is_some_and(|m| m.starts_with("/oomtrace-trigger-")),
        "{kernel}"
    );
    assert!(
        memcg
            .stack
            .iter()
            .any(|f| f.symbol.as_deref() == Some("mem_cgroup_out_of_memory"))
    );
    assert_agrees(run, "memcg", &memcg, run.report_for(&memcg));

    let steer = run.event("steer");
    let b = run.marker_pid("steer ", "b");
    assert_eq!(
        steer.victim.as_ref().unwrap().pid,
        Some(b),
        "{kernel}: the hog with adj 500 dies first"
    );
    assert_eq!(
        steer.victim.as_ref().unwrap().oom_score_adj,
        Some(500),
        "{kernel}"
    );
    assert_eq!(steer.memcg.as_deref(), Some("/steer"), "{kernel}");
    // The third hog triggers (the other two hold their 16 MiB first).
    let c = run.marker_pid("steer-trigger ", "c");
    assert_eq!(
        steer.trigger.pid,
        Some(c),
        "{kernel}: the third hog triggers"
    );
    assert_agrees(run, "steer", &steer, run.report_for(&steer));
    // The trigger lived on: its user stack is named from its mappings, the
    // first frame in the static oomtrace (on arm64 with the
    // pointer-authentication bits masked: a user address).
    let user = steer.user_stack.as_deref().unwrap_or_default();
    let first = user
        .first()
        .unwrap_or_else(|| panic!("{kernel}: the trigger's user stack is empty"));
    assert_eq!(
        first.mapping.as_deref(),
        Some("/bin/oomtrace"),
        "{kernel}: the trigger's first user frame: {user:?}"
    );
    assert!(first.offset.is_some(), "{kernel}: {user:?}");
    let arch = oomtrace_core::kernel::arch::Arch::from_machine(&run.session("steer").header.arch)
        .expect("the session header names its architecture");
    for f in user.iter().filter(|f| f.mapping.is_some()) {
        let addr = u64::from_str_radix(f.addr.trim_start_matches("0x"), 16).unwrap();
        assert!(
            addr != 0 && addr < arch.user_top,
            "{kernel}: {} is not a user address (or kept its PAC bits)",
            f.addr
        );
    }

    let tp = run.event("tracepoint");
    assert_eq!(tp.source.name(), "tracepoint", "{kernel}");
    assert!(
        run.attached("tracepoint").contains("mode=tracepoint"),
        "{kernel}"
    );
    // Without kprobes the OOM's oom_control is found on the OOM task's
    // stack: what kprobe mode reads, the same (`assert_agrees` compares).
    assert!(
        !tp.unavailable.iter().any(|f| f == "gfp_mask"),
        "{kernel}: {:?}",
        tp.unavailable
    );
    assert_eq!(tp.gfp_mask, Some(run.report_for(&tp).gfp_mask), "{kernel}");
    assert_agrees(run, "tracepoint", &tp, run.report_for(&tp));
    println!(
        "{kernel}: tracepoint mode loses {}",
        tp.unavailable.join(", ")
    );

    // sysrq-f and a global OOM in tracepoint mode: the oom_control found on
    // the OOM task's stack (a kworker's for sysrq-f) fills the same fields.
    let tp_sysrq = run.event("tp-sysrq");
    assert_eq!(tp_sysrq.source.name(), "tracepoint", "{kernel}");
    assert_eq!(tp_sysrq.order, Some(-1), "{kernel}: sysrq-f is order -1");
    assert_eq!(
        tp_sysrq.victim.as_ref().unwrap().pid,
        run.marker("tp-sysrq victim ").trim().parse().ok(),
        "{kernel}: the sacrificial process dies"
    );
    assert_agrees(run, "tp-sysrq", &tp_sysrq, run.report_for(&tp_sysrq));
    let tp_global = run.event("tp-global");
    assert_eq!(tp_global.source.name(), "tracepoint", "{kernel}");
    assert_eq!(
        tp_global.constraint.as_deref(),
        Some("CONSTRAINT_NONE"),
        "{kernel}"
    );
    assert_agrees(run, "tp-global", &tp_global, run.report_for(&tp_global));
    assert!(
        tp_global.show_free_areas_stack.is_none()
            && tp_global
                .unavailable
                .iter()
                .any(|f| f == "show_free_areas_stack"),
        "{kernel}: the show_free_areas moment needs kprobes, and the event says so"
    );

    // The reaper: a victim whose memory outlives it is reaped, each step
    // recorded after its OOM, as the kernel's `oom_reaper:` line says.
    let reaper = run.session("reaper");
    let victim = reaper.events[0].victim.as_ref().unwrap().pid.unwrap();
    assert_agrees(
        run,
        "reaper",
        &reaper.events[0],
        run.report_for(&reaper.events[0]),
    );
    let steps: Vec<&str> = reaper
        .reapers
        .iter()
        .filter(|r| r.pid == victim && r.seq == reaper.events[0].seq)
        .map(|r| r.step.describe())
        .collect();
    assert_eq!(
        steps,
        ["queued", "started reaping", "reaped"],
        "{kernel}: the reaper's steps for {victim}: {:?}",
        reaper.reapers
    );
    let reaped = format!("oom_reaper: reaped process {victim} (oomtrace-hog)");
    assert!(
        run.sections["dmesg"].contains(&reaped),
        "{kernel}: the kernel log lacks {reaped:?}"
    );

    check_kernel_log(run);
    check_fleet(run);
    check_watch(run);

    // Debian's armhf kernels have NVMe and ext4 as modules: no disk there.
    if kernel.contains("-armmp") && run.markers.iter().any(|m| m.starts_with("thrash-skipped")) {
        println!("{kernel}: thrash: skipped, no NVMe built in");
    } else {
        let l = check_thrash(run);
        println!(
            "{kernel}: thrash: 3 global OOMs recorded, the recorder alive; kill to event: median {} ms, 99th percentile {} ms, max {} ms",
            l.median_ms, l.p99_ms, l.max_ms
        );
    }
}

#[test]
#[ignore = "needs the VM logs of `cargo xtask vm-test`"]
fn events_agree_with_the_kernels_own_reports() {
    let logs =
        std::env::var("OOMTRACE_VM_LOGS").expect("OOMTRACE_VM_LOGS: run `cargo xtask vm-test`");
    let mut checked: Vec<String> = Vec::new();
    let mut with_btf_file: Vec<String> = Vec::new();
    for path in logs.split(':').filter(|p| !p.is_empty()) {
        let text = std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{path}: {e}"));
        let run = parse_vm_log(&text);
        assert!(
            !run.reports.is_empty(),
            "{path}: no kernel OOM report in the VM log"
        );
        // The importer reads the VM's log as the oracle does.
        kreport::assert_importer_agrees(&run.sections["dmesg"], &format!("{path} (dmesg)"));
        check_kernel(&run);
        if check_detached_btf(&run) {
            with_btf_file.push(run.kernel.clone());
        }
        checked.push(run.kernel.clone());
    }
    // Every kernel that must run did, by series and architecture
    // ("6.1@arm64"; Debian's flavours end with the architecture): a missing
    // boot fails.
    let is = |wanted: &str, k: &str| {
        let (series, arch) = wanted.split_once('@').unwrap_or((wanted, ""));
        (k.starts_with(&format!("{series}.")) || k.starts_with(&format!("{series}-")))
            && match arch {
                // armhf's flavours: armmp, armmp-lpae.
                "armhf" => k.contains("-armmp"),
                _ => k.ends_with(arch),
            }
    };
    let expected = std::env::var("OOMTRACE_VM_SERIES")
        .unwrap_or_else(|_| "6.1@amd64,6.12@amd64,6.1@arm64,6.12@arm64".into());
    for wanted in expected.split(',').filter(|s| !s.is_empty()) {
        assert!(
            checked.iter().any(|k| is(wanted, k)),
            "kernel {wanted} did not run; checked: {checked:?}"
        );
    }
    // And each that must also run planned from a detached BTF file did.
    let expected = std::env::var("OOMTRACE_VM_DETACHED_BTF").unwrap_or_else(|_| "6.1@amd64".into());
    for wanted in expected.split(',').filter(|s| !s.is_empty()) {
        assert!(
            with_btf_file.iter().any(|k| is(wanted, k)),
            "kernel {wanted} did not run with --btf; ran: {with_btf_file:?}"
        );
    }
}
