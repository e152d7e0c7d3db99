use super::*;
use crate::kernel::show_mem::MEM_INFO;

fn fixture(name: &str) -> Vec<KernelReport> {
    parse_log(&std::fs::read_to_string(crate::testdata::kernel_reports_dir().join(name)).unwrap())
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
    let counters = format!("{head}[    2.000000] Mem-Info:\n[    2.000000] active_anon:1 free:2\n");
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
