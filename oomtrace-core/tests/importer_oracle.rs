//! The importer (`kernel_log::parse_log`) reads every real kernel report the
//! project keeps as the tests' own reader of the kernel's format strings
//! does (`tests/common/kreport.rs`, which shares no code with it): every
//! field that reader reads, equal. Here, beside the importer's crate, so
//! that `cargo xtask mutants` runs it with the crate's fast tests.

#[path = "../../tests/common/kreport.rs"]
mod kreport;

#[test]
fn the_importer_reads_every_kept_report_as_the_oracle_does() {
    let kept = kept();
    for (name, text, _) in &kept {
        kreport::assert_importer_agrees(text, name);
    }
    assert!(kept.len() >= 10, "only {} kept reports", kept.len());
}

/// The kept reports and their text, read by the oracle.
fn kept() -> Vec<(String, String, Vec<kreport::Report>)> {
    let dir =
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../tests/fixtures/kernel-reports");
    let mut out = Vec::new();
    for entry in std::fs::read_dir(&dir).unwrap() {
        let file = entry.unwrap().path();
        if file.extension().is_some_and(|e| e == "log") {
            let text = std::fs::read_to_string(&file).unwrap();
            let oracle = kreport::read(&text);
            out.push((file.display().to_string(), text, oracle));
        }
    }
    out
}

/// The importer's events of a log, as `oomtrace import` makes them.
fn events(text: &str) -> Vec<oomtrace_core::schema::event::OomEvent> {
    kernel_log::parse_log(text)
        .iter()
        .enumerate()
        .map(|(i, r)| kernel_log::to_event(r, i as u64 + 1))
        .collect()
}

use oomtrace_core::schema::event::{OomEvent, Source, Victim};
use oomtrace_core::source::kernel_log;

fn as_victim(k: &kreport::Killed) -> Victim {
    Victim {
        pid: Some(k.pid),
        comm: Some(k.comm.clone()),
        uid: Some(k.uid),
        total_vm_kb: Some(k.total_vm_kb),
        anon_rss_kb: Some(k.anon_rss_kb),
        file_rss_kb: Some(k.file_rss_kb),
        shmem_rss_kb: Some(k.shmem_rss_kb),
        pgtables_kb: Some(k.pgtables_kb),
        oom_score_adj: Some(k.oom_score_adj),
        ..Victim::default()
    }
}

/// Every imported event says what its report printed: its time, trigger,
/// allocation, stack, victims, memcg, summary, Mem-Info counters, nodes,
/// zones and free lists, each against the oracle's reading of the text.
#[test]
fn imported_events_carry_what_the_reports_printed() {
    for (name, text, oracle) in kept() {
        let evs = events(&text);
        assert_eq!(evs.len(), oracle.len(), "{name}");
        for (i, (ev, o)) in evs.iter().zip(&oracle).enumerate() {
            let ctx = format!("{name}, report {}", i + 1);
            assert_eq!(ev.seq, i as u64 + 1, "{ctx}");
            assert_eq!(ev.source, Source::KernelLog, "{ctx}");
            let us = o.printed_us.expect("every kept report has printk times");
            assert_eq!(ev.uptime_ns, us * 1000, "{ctx}: the log's time");
            assert_eq!(ev.trigger.pid, o.trigger_pid, "{ctx}");
            assert_eq!(ev.trigger.tid, o.trigger_pid, "{ctx}");
            if o.header_suppressed {
                assert_eq!((ev.gfp_mask, ev.order), (None, None), "{ctx}");
                assert!(ev.unavailable.iter().any(|f| f == "stack"), "{ctx}");
            } else {
                assert_eq!(ev.trigger.comm.as_ref(), Some(&o.trigger_comm), "{ctx}");
                assert_eq!(
                    ev.trigger.oom_score_adj,
                    Some(o.trigger_oom_score_adj),
                    "{ctx}"
                );
                assert_eq!(ev.gfp_mask, Some(o.gfp_mask), "{ctx}");
                assert_eq!(ev.gfp_flags.as_ref(), Some(&o.gfp_flags), "{ctx}");
                assert_eq!(ev.order, Some(o.order), "{ctx}");
            }
            // The score is printed before 5.0 only; these are all later.
            assert_eq!(ev.victim.as_ref().and_then(|v| v.points), None, "{ctx}");
            assert!(
                ev.unavailable.iter().any(|f| f == "totalpages")
                    && ev.unavailable.iter().any(|f| f == "points"),
                "{ctx}: {:?}",
                ev.unavailable
            );
            let sum = |k: &str| o.summary.get(k).cloned();
            assert_eq!(ev.constraint, sum("constraint"), "{ctx}");
            assert_eq!(ev.nodemask, sum("nodemask"), "{ctx}");
            assert_eq!(ev.memcg, sum("oom_memcg"), "{ctx}");
            assert_eq!(ev.cpuset, sum("cpuset"), "{ctx}");
            assert_eq!(ev.mems_allowed, sum("mems_allowed"), "{ctx}");
            // The kill.
            assert_eq!(ev.killed, o.killed.as_ref().map(|_| true), "{ctx}");
            assert_eq!(
                ev.message.as_ref(),
                o.killed.as_ref().map(|k| &k.message),
                "{ctx}"
            );
            let victim = ev.victim.clone().map(|v| Victim {
                points: None,
                cgroup: None,
                ..v
            });
            assert_eq!(victim, o.killed.as_ref().map(as_victim), "{ctx}");
            if let Some(v) = &ev.victim {
                assert_eq!(v.cgroup, sum("task_memcg"), "{ctx}");
            }
            let also: Vec<Victim> = o.also_killed.iter().map(as_victim).collect();
            assert_eq!(ev.also_killed, also, "{ctx}");
            // The Call Trace.
            let stack: Vec<(String, u64, u64)> = ev
                .stack
                .iter()
                .map(|f| {
                    (
                        f.symbol.as_deref().unwrap_or_default().to_owned(),
                        f.offset.unwrap_or(u64::MAX),
                        f.size.unwrap_or(u64::MAX),
                    )
                })
                .collect();
            assert_eq!(stack, o.stack, "{ctx}: the stack");
            for f in &ev.stack {
                assert!(
                    f.addr.is_empty() || (f.addr.starts_with("0x") && f.addr != "0x0"),
                    "{ctx}: {f:?}"
                );
            }
            // The memcg's line.
            assert_eq!(
                ev.memcg_memory
                    .as_ref()
                    .map(|m| (m.usage_kb, m.limit_kb, m.failcnt)),
                o.memcg_memory,
                "{ctx}"
            );
            assert_memory(ev, o, &ctx);
        }
    }
}

/// Mem-Info, the node lines and each zone's line and free lists.
fn assert_memory(ev: &OomEvent, o: &kreport::Report, ctx: &str) {
    if o.mem_info.is_empty() && o.zone_watermarks.is_empty() {
        assert!(ev.zones.is_none() && ev.counters.is_none(), "{ctx}");
        return;
    }
    let counters = ev.counters.as_ref().expect("Mem-Info's counters");
    for (label, counter) in kreport::MEM_INFO_LABELS {
        if let Some(&v) = o.mem_info.get(*label) {
            assert_eq!(
                counters.node.get(counter).copied(),
                Some(v as i64),
                "{ctx}: Mem-Info's {label} as {counter}"
            );
        }
    }
    assert_eq!(
        counters.free_pcp,
        o.mem_info.get("free_pcp").copied(),
        "{ctx}: free_pcp"
    );
    // The node lines print kB: in pages of 4 kB, the kept kernels' size
    // (the huge-page counters and those in kB aside).
    let nodes = ev.nodes.clone().unwrap_or_default();
    assert_eq!(nodes.len(), o.node_lines.len(), "{ctx}: node lines");
    for (n, (node, kb)) in nodes.iter().zip(&o.node_lines) {
        assert_eq!(n.node, *node, "{ctx}");
        let paged = kreport::NODE_LABELS.iter().filter(|(_, c)| {
            !c.ends_with("_KB") && !c.contains("THPS") && !c.contains("PMDMAPPED")
        });
        for (label, counter) in paged {
            assert_eq!(
                n.counters.get(counter).copied(),
                kb.get(*label).map(|v| (v / 4) as i64),
                "{ctx}: node {node}'s {label}"
            );
        }
    }
    let zones = ev.zones.clone().unwrap_or_default();
    for (i, z) in o.zone_watermarks.iter().enumerate() {
        let e = zones
            .iter()
            .find(|e| e.node == z.node && e.zone == z.zone)
            .unwrap_or_else(|| panic!("{ctx}: no zone {} {}", z.node, z.zone));
        let f = |k: &str| z.fields.get(k).copied();
        assert_eq!(e.free_kb, Some(z.free_kb), "{ctx}: {}", z.zone);
        assert_eq!(
            (e.min_kb, e.low_kb, e.high_kb),
            (f("min"), f("low"), f("high")),
            "{ctx}: {}",
            z.zone
        );
        assert_eq!(
            (e.present_kb, e.managed_kb, e.free_pcp_kb, e.local_pcp_kb),
            (f("present"), f("managed"), f("free_pcp"), f("local_pcp")),
            "{ctx}: {}",
            z.zone
        );
        assert_eq!(
            Some(&e.lowmem_reserve),
            o.lowmem_reserves.get(i),
            "{ctx}: {}",
            z.zone
        );
    }
    for (node, zone, counts) in &o.free_areas {
        let e = zones
            .iter()
            .find(|e| e.node == *node && e.zone == *zone)
            .unwrap_or_else(|| panic!("{ctx}: free lists of {node} {zone} lost"));
        assert_eq!(&e.free_area, counts, "{ctx}: {zone}'s free lists");
        assert_eq!(e.free_types.len(), counts.len(), "{ctx}: {zone}'s types");
    }
    let listed = o.zone_watermarks.len()
        + o.free_areas
            .iter()
            .filter(|(n, z, _)| {
                !o.zone_watermarks
                    .iter()
                    .any(|w| w.node == *n && w.zone == *z)
            })
            .count();
    assert_eq!(zones.len(), listed, "{ctx}: zones");
}

/// journald, syslog and /dev/kmsg prefixes, console levels, a caller id,
/// lines cut into several by a narrow terminal and other lines
/// interleaved: the same events come out of each, at the wall-clock time
/// the prefix said, in UTC.
#[test]
fn log_prefixes_and_interleaved_lines_are_read_through() {
    let (name, text, _) = kept()
        .into_iter()
        .find(|(n, _, _)| n.ends_with("6.18-memcg-oom.log"))
        .unwrap();
    let reference = events(&text);
    assert_eq!(reference.len(), 1, "{name}");
    // "[ 1114.251121] text" -> ("1114.251121", "text")
    let strip = |l: &str| -> (String, String) {
        let l = l.trim_start_matches('[');
        let (ts, rest) = l.split_once("] ").unwrap_or(("0", l));
        (ts.trim().to_owned(), rest.to_owned())
    };
    type Rewrite<'a> = Box<dyn Fn(usize, &str) -> String + 'a>;
    let variants: Vec<(&str, Rewrite, &str)> = vec![
        (
            "journalctl -k -o short-iso, east of UTC",
            Box::new(|_, l| {
                let (ts, rest) = strip(l);
                format!("2026-11-27T11:59:01+0100 host kernel: [{ts:>12}] {rest}")
            }),
            "2026-11-27T10:59:01.000000Z",
        ),
        (
            "rsyslog's RFC 3339, west of UTC, with µs",
            Box::new(|_, l| {
                let (ts, rest) = strip(l);
                format!("2026-11-27T05:29:01.250000-05:30 host kernel: [{ts:>12}] {rest}")
            }),
            "2026-11-27T10:59:01.250000Z",
        ),
        (
            "journalctl in UTC",
            Box::new(|_, l| {
                let (ts, rest) = strip(l);
                format!("2026-11-27T10:59:01Z host kernel: [{ts:>12}] {rest}")
            }),
            "2026-11-27T10:59:01.000000Z",
        ),
        (
            "syslog with a caller id",
            Box::new(|_, l| {
                let (ts, rest) = strip(l);
                format!("Nov 27 10:59:01 host kernel: [{ts:>12}] [ T15489] {rest}")
            }),
            "-11-27T10:59:01.000000Z",
        ),
        (
            "a console's levels",
            Box::new(|_, l| {
                let (ts, rest) = strip(l);
                format!("<4>[{ts:>12}] [  C1] {rest}")
            }),
            "",
        ),
        (
            "/dev/kmsg records",
            Box::new(|i, l| {
                let (ts, rest) = strip(l);
                let (s, us) = ts.split_once('.').unwrap();
                let us = s.parse::<u64>().unwrap() * 1_000_000 + us.parse::<u64>().unwrap();
                format!("4,{i},{us},-;{rest}")
            }),
            "",
        ),
        (
            "interleaved with other CPUs' lines",
            Box::new(|i, l| format!("{l}\n[ 1114.25{i:04}] e1000e: eth0 NIC Link is Up 1000 Mbps")),
            "",
        ),
    ];
    for (what, f, time) in variants {
        let body: Vec<String> = text.lines().enumerate().map(|(i, l)| f(i, l)).collect();
        let evs = events(&body.join("\n"));
        assert_eq!(evs.len(), 1, "{what}");
        let ev = &evs[0];
        assert!(
            ev.time.ends_with(time) && (time.is_empty() || ev.time.len() == 27),
            "{what}: {:?}, not {time:?}",
            ev.time
        );
        let same_but_time = OomEvent {
            time: reference[0].time.clone(),
            ..ev.clone()
        };
        assert_eq!(same_but_time, reference[0], "{what}");
    }
}
