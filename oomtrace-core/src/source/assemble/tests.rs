use super::*;

pub fn zeroed<T>() -> T {
    // SAFETY: the record types are plain integers and byte arrays.
    unsafe { std::mem::zeroed() }
}

pub fn set_comm(dst: &mut [u8; COMM_LEN], s: &str) {
    dst[..s.len()].copy_from_slice(s.as_bytes());
}

pub fn set_cgroup(p: &mut CgroupPath, leaf_first: &[&str]) {
    p.ok = 1;
    p.depth = leaf_first.len() as u32;
    for (i, n) in leaf_first.iter().enumerate() {
        p.names[i][..n.len()].copy_from_slice(n.as_bytes());
        p.names[i][n.len()] = 0;
    }
}

pub const SYMS: &str = "\
ffffffff81000000 T dump_stack_lvl
ffffffff81000100 t __oom_kill_process
ffffffff81000400 t oom_kill_process
ffffffff81000600 T out_of_memory
ffffffff81000b00 T mem_cgroup_out_of_memory
ffffffff81000c00 t moom_callback
ffffffff81000d00 T end_of_text
";

pub fn ctx(kprobes: bool) -> Context {
    Context {
        symbols: Symbols::from(crate::source::symbols::Kallsyms::parse(SYMS)),
        gfp: GfpTable::builtin("6.18"),
        constraints: vec![
            (0, "CONSTRAINT_NONE".into()),
            (1, "CONSTRAINT_CPUSET".into()),
            (2, "CONSTRAINT_MEMORY_POLICY".into()),
            (3, "CONSTRAINT_MEMCG".into()),
        ],
        mem_names: MemNames {
            node: ["NR_INACTIVE_ANON", "NR_ACTIVE_ANON", "NR_FILE_PAGES"]
                .map(String::from)
                .to_vec(),
            zone: ["NR_FREE_PAGES", "NR_ZONE_ACTIVE_ANON"]
                .map(String::from)
                .to_vec(),
            migrate: [
                "MIGRATE_UNMOVABLE",
                "MIGRATE_MOVABLE",
                "MIGRATE_RECLAIMABLE",
            ]
            .map(String::from)
            .to_vec(),
            page_shift: 12,
            pmd_shift: 21,
            zones: ["DMA", "DMA32"].map(String::from).to_vec(),
            layout: test_layout(),
        },
        raw_formats: HashMap::new(),
        realtime_offset_ns: 1_700_000_000_000_000_000,
        kprobes,
        sample_memory: false,
        may_lack: vec![
            Field::GfpMask,
            Field::Totalpages,
            Field::Memcg,
            Field::Order,
        ],
        arch: crate::kernel::arch::X86_64,
        offsets: test_offsets(),
        expect_stack: false,
        kill_allocating_task: false,
    }
}

pub fn mem_state(tid: u32, t: u64, node: u32, at: RecordKind) -> MemStateRecord {
    let mut r: MemStateRecord = zeroed();
    r.hdr = hdr(RecordKind::MemState, tid, t);
    r.at = at as u32;
    r.path = MEM_PATH_MEMCG;
    r.node = node;
    r.valid = MEM_NODE;
    r.node_stat[..3].copy_from_slice(&[100, 5, 42]);
    r.kswapd_failures = 16;
    // node_zones[]: zone 0 unpopulated, zone 1 "DMA32", at TEST_ZONE bytes each.
    r.zones_addr = 0xffff_8880_0000_0000;
    r.zones_len = 2 * TEST_ZONE as u32;
    let l = test_layout();
    let base = TEST_ZONE;
    let mut put = |off: u32, v: u64| {
        let at = base + off as usize;
        r.zones_raw[at..at + 8].copy_from_slice(&v.to_le_bytes());
    };
    put(l.zone_present, 126_944);
    put(l.zone_managed, 115_100);
    for (i, w) in [660u64, 825, 990].into_iter().enumerate() {
        put(l.zone_watermark + 8 * i as u32, w);
    }
    put(l.zone_vm_stat, 568);
    put(l.zone_vm_stat + 8, 7);
    // Orders 0-2 as the kernel holds them: a list head pointing at itself is empty.
    let zone_addr = r.zones_addr + base as u64;
    for (order, (nr_free, mask)) in [(19u64, 0b111u8), (12, 0b101), (6, 0b010)]
        .into_iter()
        .enumerate()
    {
        let area_off = l.zone_free_area + order as u32 * l.free_area_size;
        for t in 0..5u32 {
            let head = zone_addr + (area_off + 16 * t) as u64;
            put(
                area_off + 16 * t,
                if mask & (1 << t) != 0 {
                    0xffff_ea00_0000_1000
                } else {
                    head
                },
            );
        }
        put(area_off + l.free_area_nr_free, nr_free);
    }
    r
}

fn hdr(kind: RecordKind, tid: u32, t: u64) -> Header {
    Header {
        kind: kind as u32,
        cpu: 1,
        pid_tgid: (tid as u64) << 32 | tid as u64,
        ktime_ns: t,
    }
}

fn stack(ips: &[u64]) -> Stack {
    let mut s: Stack = zeroed();
    s.len_bytes = (ips.len() * 8) as i64;
    s.ips[..ips.len()].copy_from_slice(ips);
    s
}

pub fn mark_victim(
    tid: u32,
    victim_pid: i32,
    comm: &str,
    t: u64,
    ips: &[u64],
) -> Box<MarkVictimRecord> {
    let mut m: Box<MarkVictimRecord> = Box::new(zeroed());
    m.hdr = hdr(RecordKind::MarkVictim, tid, t);
    m.victim.valid = TASK_PID | TASK_COMM | TASK_RSS | TASK_TOTAL_VM;
    m.victim.pid = victim_pid;
    set_comm(&mut m.victim.comm, comm);
    m.victim.total_vm_kb = 78028;
    m.victim.anon_rss_kb = 65024;
    m.victim.file_rss_kb = 2424;
    m.trigger.valid = TASK_PID | TASK_TGID | TASK_COMM | TASK_OOM_SCORE_ADJ;
    m.trigger.pid = tid as i32;
    m.trigger.tgid = tid as i32;
    set_comm(&mut m.trigger.comm, comm);
    set_cgroup(&mut m.trigger.cgroup, &["oomtest"]);
    m.stack = stack(ips);
    m
}

const TEST_ZONE: usize = 1024;

/// A small `struct zone` for the tests: 2 zones, 4 orders, 5 migrate types.
fn test_layout() -> MemLayout {
    MemLayout {
        pgdat_node_zones: 0,
        nr_zones: 2,
        zone_size: TEST_ZONE as u32,
        zone_present: 0,
        zone_managed: 8,
        zone_watermark: 16,
        zone_watermark_boost: 40,
        zone_reserved_highatomic: 48,
        zone_lowmem_reserve: 56,
        zone_vm_stat: 80,
        zone_free_area: 128,
        free_area_size: 88,
        free_area_nr_free: 80,
        nr_orders: 4,
        migrate_types: 5,
        ..MemLayout::unplanned()
    }
}

#[test]
fn tracepoint_mode_makes_one_event_per_mark_victim() {
    let mut a = Assembler::new(ctx(false));
    let ips = [
        0xffffffff81000110,
        0xffffffff81000410,
        0xffffffff81000614,
        0xffffffff81000b20,
    ];
    let evs = a.push(Record::MarkVictim(mark_victim(
        15489,
        15489,
        "python3",
        5_000_000_000,
        &ips,
    )));
    assert_eq!(evs.len(), 1);
    let e = &evs[0];
    assert_eq!(e.source, Source::Tracepoint);
    assert_eq!(
        (e.seq, e.uptime_ns, e.killed),
        (1, 5_000_000_000, Some(true))
    );
    assert_eq!(e.victim.as_ref().unwrap().pid, Some(15489));
    assert_eq!(e.victim.as_ref().unwrap().comm.as_deref(), Some("python3"));
    assert_eq!(
        e.victim.as_ref().unwrap().cgroup.as_deref(),
        Some("/oomtest")
    );
    assert_eq!(e.trigger.cgroup.as_deref(), Some("/oomtest"));
    assert_eq!(e.constraint.as_deref(), Some("CONSTRAINT_MEMCG"));
    assert_eq!(e.gfp_mask, None);
    assert!(e.unavailable.contains(&"gfp_mask".to_owned()));
    let syms: Vec<_> = e.stack.iter().map(|f| f.symbol.clone().unwrap()).collect();
    assert_eq!(
        syms,
        [
            "__oom_kill_process",
            "oom_kill_process",
            "out_of_memory",
            "mem_cgroup_out_of_memory"
        ]
    );
    assert_eq!(e.stack[2].offset, Some(0x14));
    assert_eq!(e.stack[2].size, Some(0x500));
    assert_eq!(e.time, "2023-11-14T22:13:25.000000Z");
}

/// The reaper's steps for a victim name its event and the time since
/// its kill; a step for a task no event killed names none; an unknown
/// step is dropped; each step is handed out once.
#[test]
fn reaper_steps_name_their_victims_event() {
    let mut a = Assembler::new(ctx(false));
    let evs = a.push(Record::MarkVictim(mark_victim(
        15489,
        15489,
        "python3",
        5_000_000_000,
        &[],
    )));
    assert_eq!(evs[0].seq, 1);
    let reaper = |tid: u32, t: u64, step: u32, pid: i32| {
        Record::Reaper(ReaperRecord {
            hdr: hdr(RecordKind::Reaper, tid, t),
            step,
            pid,
        })
    };
    for r in [
        reaper(15489, 5_000_100_000, ReaperStep::WakeReaper as u32, 15489),
        reaper(
            30,
            5_200_000_000,
            ReaperStep::StartTaskReaping as u32,
            15489,
        ),
        reaper(
            30,
            5_300_000_000,
            ReaperStep::FinishTaskReaping as u32,
            15489,
        ),
        reaper(30, 5_400_000_000, ReaperStep::SkipTaskReaping as u32, 55),
        reaper(30, 5_500_000_000, 9, 15489),
    ] {
        assert!(a.push(r).is_empty());
    }
    let steps = a.take_reaper_events();
    let seen: Vec<(Step, u64, i32, Option<u64>)> = steps
        .iter()
        .map(|s| (s.step, s.seq, s.pid, s.since_kill_ns))
        .collect();
    assert_eq!(
        seen,
        [
            (Step::Wake, 1, 15489, Some(100_000)),
            (Step::Start, 1, 15489, Some(200_000_000)),
            (Step::Finish, 1, 15489, Some(300_000_000)),
            (Step::Skip, 0, 55, None),
        ]
    );
    assert_eq!(steps[1].uptime_ns, 5_200_000_000);
    assert_eq!(steps[1].time, "2023-11-14T22:13:25.200000Z");
    assert!(a.take_reaper_events().is_empty());
    // A later OOM's event: the first's victim is still known.
    let evs = a.push(Record::MarkVictim(mark_victim(
        16000,
        16000,
        "b",
        6_000_000_000,
        &[],
    )));
    assert_eq!(evs[0].seq, 2);
    let r = reaper(
        30,
        6_100_000_000,
        ReaperStep::FinishTaskReaping as u32,
        15489,
    );
    assert!(a.push(r).is_empty());
    let steps = a.take_reaper_events();
    assert_eq!((steps[0].seq, steps[0].pid), (1, 15489));
}

/// The allocator's retries of the OOM's own task in the 5 s before it
/// join its event: the newest 16 kept, oldest first, each field by its
/// tracefs name in record order (`common_*` left out); another task's
/// retries do not join; every retry is counted.
#[test]
fn the_oom_tasks_allocator_retries_join_its_event() {
    let mut c = ctx(false);
    let f = |offset, size| tracepoint_format::Field {
        offset,
        size,
        signed: true,
    };
    c.raw_formats.insert(
        RAW_RECLAIM_RETRY_ZONE,
        (
            "reclaim_retry_zone",
            HashMap::from([
                ("common_pid".to_owned(), f(4, 4)),
                ("no_progress_loops".to_owned(), f(20, 4)),
                ("order".to_owned(), f(16, 4)),
                ("node".to_owned(), f(8, 4)),
            ]),
        ),
    );
    c.raw_formats.insert(
        RAW_COMPACT_RETRY,
        (
            "compact_retry",
            HashMap::from([("order".to_owned(), f(8, 4))]),
        ),
    );
    let mut a = Assembler::new(c);
    let raw = |tid: u32, t: u64, event: u32, vals: &[(usize, i32)]| {
        let mut r: Box<RawTracepointRecord> = Box::new(zeroed());
        r.hdr = hdr(RecordKind::RawTracepoint, tid, t);
        r.event = event;
        for (at, v) in vals {
            r.data[*at..at + 4].copy_from_slice(&v.to_le_bytes());
        }
        Record::Raw(r)
    };
    for i in 0..20u64 {
        let t = 1_000_000_000 + i * 450_000_000;
        let r = raw(7, t, RAW_RECLAIM_RETRY_ZONE, &[(16, 3), (20, i as i32)]);
        assert!(a.push(r).is_empty());
    }
    assert!(
        a.push(raw(8, 9_800_000_000, RAW_RECLAIM_RETRY_ZONE, &[]))
            .is_empty()
    );
    assert!(
        a.push(raw(7, 9_900_000_000, RAW_COMPACT_RETRY, &[(8, 2)]))
            .is_empty()
    );
    let evs = a.push(Record::MarkVictim(mark_victim(
        7,
        7,
        "hog",
        10_000_000_000,
        &[],
    )));
    let steps = &evs[0].allocator_retries;
    // Kept: the newest 16 of task 7's 21; within 5 s: loops 9 to 19, then compaction.
    let loops: Vec<i64> = steps
        .iter()
        .filter_map(|s| s.fields.get("no_progress_loops").copied())
        .collect();
    assert_eq!(loops, (9..20).collect::<Vec<i64>>());
    assert_eq!(steps.len(), 12);
    assert_eq!(steps[0].uptime_ns, 1_000_000_000 + 9 * 450_000_000);
    assert_eq!(steps[0].event, "reclaim_retry_zone");
    let names: Vec<&str> = steps[0].fields.keys().map(|k| k.as_str()).collect();
    assert_eq!(names, ["node", "order", "no_progress_loops"]);
    assert_eq!(steps[0].fields.get("order"), Some(&3));
    assert_eq!(steps[11].event, "compact_retry");
    assert_eq!(steps[11].fields.get("order"), Some(&2));
    assert_eq!((a.tally.reclaim_retries, a.tally.compact_retries), (21, 1));
    assert_eq!(
        a.last_retry.as_ref().map(|s| s.uptime_ns),
        Some(9_900_000_000)
    );
}

#[test]
fn kprobe_records_assemble_into_one_event() {
    let mut a = Assembler::new(ctx(true));
    let mut enter: Box<OomEnterRecord> = Box::new(zeroed());
    enter.hdr = hdr(RecordKind::OomEnter, 90, 1000);
    enter.valid = OC_GFP_MASK | OC_ORDER | OC_MEMCG | OC_NODEMASK | OC_MEMCG_COUNTERS;
    enter.gfp_mask = 0x140dca;
    enter.flags = 0;
    enter.trigger.valid = TASK_PID | TASK_TGID | TASK_COMM;
    enter.trigger.pid = 90;
    enter.trigger.tgid = 90;
    set_comm(&mut enter.trigger.comm, "hog");
    // A cgroup read, but the OOM is no memcg's (no ENTER_MEMCG).
    set_cgroup(&mut enter.memcg, &["job"]);
    assert!(a.push(Record::Enter(enter)).is_empty());
    let mut kill: Box<OomKillRecord> = Box::new(zeroed());
    kill.hdr = hdr(RecordKind::OomKill, 90, 1500);
    kill.valid = OC_CONSTRAINT | OC_TOTALPAGES | OC_CHOSEN_POINTS | OC_MESSAGE;
    kill.totalpages = 120264;
    kill.chosen_points = 112678;
    kill.message[..13].copy_from_slice(b"Out of memory");
    kill.victim.valid = TASK_PID | TASK_TGID | TASK_UID | TASK_PGTABLES;
    kill.victim.pid = 90;
    kill.victim.tgid = 90;
    kill.victim.pgtables_kb = 916;
    set_cgroup(&mut kill.victim.cgroup, &[]);
    assert!(a.push(Record::Kill(kill)).is_empty());
    assert!(
        a.push(Record::MarkVictim(mark_victim(
            90,
            90,
            "hog",
            1600,
            &[0xffffffff81000110]
        )))
        .is_empty()
    );
    // A second victim of the same OOM (memory.oom.group), then quiet.
    assert!(
        a.push(Record::MarkVictim(mark_victim(
            90,
            91,
            "hog-child",
            1700,
            &[]
        )))
        .is_empty()
    );
    assert!(a.has_unsettled());
    assert!(
        a.settle(1700 + 999, 1000).is_empty(),
        "not quiet long enough"
    );
    let evs = a.settle(1700 + 1000, 1000);
    assert_eq!(evs.len(), 1);
    assert!(!a.has_unsettled());
    let e = &evs[0];
    assert_eq!(e.source, Source::Kprobe);
    // When: out_of_memory's entry; the first event of the session.
    assert_eq!((e.seq, e.uptime_ns, e.killed), (1, 1000, Some(true)));
    assert_eq!((e.trigger.pid, e.trigger.cpu), (Some(90), Some(1)));
    assert_eq!((e.order, e.totalpages), (Some(0), Some(120264)));
    assert_eq!(e.message.as_deref(), Some("Out of memory"));
    assert_eq!(e.also_killed.len(), 1);
    assert_eq!(e.also_killed[0].pid, Some(91));
    // Another task than the OOM's: nothing of the OOM task's own is its.
    assert_eq!(e.also_killed[0].oom_score_adj, None);
    assert_eq!(
        e.gfp_flags.as_deref(),
        Some("GFP_HIGHUSER_MOVABLE|__GFP_ZERO|__GFP_COMP")
    );
    assert_eq!(e.nodemask.as_deref(), Some("(null)"));
    assert_eq!(e.memcg, None);
    assert!(
        e.memcg_memory.is_none(),
        "a global OOM has no memcg counter"
    );
    assert_eq!(e.constraint.as_deref(), Some("CONSTRAINT_NONE"));
    assert_eq!(
        e.duration_ns,
        Some(700),
        "from out_of_memory to the last kill"
    );
    let v = e.victim.as_ref().unwrap();
    assert_eq!(
        (v.pid, v.points, v.pgtables_kb, v.anon_rss_kb),
        (Some(90), Some(112678), Some(916), Some(65024))
    );
    assert_eq!(v.cgroup.as_deref(), Some("/oomtest"));
    assert!(e.unavailable.is_empty());
}

/// Kprobe mode: what the kernel printed wins over what was read before
/// (the memcg's counter at its print, each victim's rss at its `Killed
/// process` line); show_free_areas' stack and the user stack join; on
/// 32-bit ARM the stack is the kill probe's.
#[test]
fn what_the_kernel_printed_wins_in_kprobe_mode() {
    for arm in [false, true] {
        let mut c = ctx(true);
        if arm {
            c.arch = crate::kernel::arch::ARM;
        }
        let mut a = Assembler::new(c);
        let mut enter: Box<OomEnterRecord> = Box::new(zeroed());
        enter.hdr = hdr(RecordKind::OomEnter, 90, 1000);
        enter.valid = OC_MEMCG | OC_MEMCG_COUNTERS;
        enter.flags = ENTER_MEMCG;
        enter.trigger.valid = TASK_PID | TASK_TGID;
        enter.trigger.pid = 90;
        enter.trigger.tgid = 90;
        set_cgroup(&mut enter.memcg, &["job"]);
        enter.memcg_counters = MemcgCounters {
            usage: 100,
            max: 200,
            failcnt: 1,
        };
        let mut sfa: Box<ShowFreeAreasRecord> = Box::new(zeroed());
        sfa.hdr = hdr(RecordKind::ShowFreeAreas, 90, 1100);
        sfa.stack = stack(&[0xffffffff81000610]);
        let mut kill: Box<OomKillRecord> = Box::new(zeroed());
        kill.hdr = hdr(RecordKind::OomKill, 90, 1200);
        kill.stack = stack(&[0xffffffff81000410]);
        let print = MemcgPrintRecord {
            hdr: hdr(RecordKind::MemcgPrint, 90, 1300),
            counters: MemcgCounters {
                usage: 150,
                max: 200,
                failcnt: 2,
            },
        };
        let rss = PrintRssRecord {
            hdr: hdr(RecordKind::PrintRss, 90, 1500),
            pid: 91,
            _pad: 0,
            file_rss_kb: 2,
            anon_rss_kb: 1,
            shmem_rss_kb: 3,
        };
        for r in [
            Record::Enter(enter),
            Record::ShowFreeAreas(sfa),
            Record::Kill(kill),
            Record::MemcgPrint(print),
            Record::MarkVictim(mark_victim(90, 91, "child", 1400, &[0xffffffff81000110])),
            Record::PrintRss(rss),
        ] {
            assert!(a.push(r).is_empty());
        }
        let evs = a.settle(1500 + 1000, 1000);
        let e = &evs[0];
        let ctx = if arm { "32-bit ARM" } else { "x86_64" };
        let m = e.memcg_memory.as_ref().unwrap();
        assert_eq!((m.usage_kb, m.limit_kb, m.failcnt), (600, 800, 2), "{ctx}");
        assert_eq!(e.memcg.as_deref(), Some("/job"), "{ctx}");
        let v = e.victim.as_ref().unwrap();
        assert_eq!(
            (v.pid, v.anon_rss_kb, v.file_rss_kb, v.shmem_rss_kb),
            (Some(91), Some(1), Some(2), Some(3)),
            "{ctx}"
        );
        let syms = |f: &[crate::schema::event::Frame]| -> Vec<String> {
            f.iter().map(|f| f.symbol.clone().unwrap().into()).collect()
        };
        assert_eq!(
            syms(e.show_free_areas_stack.as_deref().unwrap()),
            ["out_of_memory"],
            "{ctx}"
        );
        let want = if arm {
            "oom_kill_process"
        } else {
            "__oom_kill_process"
        };
        assert_eq!(syms(&e.stack), [want], "{ctx}");
        assert!(e.user_stack.is_some(), "{ctx}");
    }
}

#[test]
fn memory_state_read_before_the_mark_joins_its_event() {
    let mut a = Assembler::new(ctx(false));
    assert!(
        a.push(Record::MemState(Box::new(mem_state(
            7,
            10,
            0,
            RecordKind::MarkVictim
        ))))
        .is_empty()
    );
    assert!(
        a.push(Record::MemState(Box::new(mem_state(
            7,
            11,
            1,
            RecordKind::MarkVictim
        ))))
        .is_empty()
    );
    let evs = a.push(Record::MarkVictim(mark_victim(
        7,
        7,
        "hog",
        12,
        &[0xffffffff81000610],
    )));
    assert_eq!(evs.len(), 1);
    let ev = &evs[0];
    // Two nodes: the global counters are their sums.
    let c = ev.counters.as_ref().unwrap();
    assert_eq!(c.node.get("NR_INACTIVE_ANON"), Some(&200));
    assert_eq!(c.node.get_index(2), Some((&"NR_FILE_PAGES".into(), &84)));
    assert_eq!(c.zone.get("NR_FREE_PAGES"), Some(&1136));
    let nodes = ev.nodes.as_ref().unwrap();
    assert_eq!(nodes.len(), 2);
    assert_eq!(nodes[1].all_unreclaimable, Some(true));
    let zones = ev.zones.as_ref().unwrap();
    assert_eq!(zones.len(), 2, "only the populated zone of each node");
    let z = &zones[0];
    assert_eq!(
        (z.zone.as_str(), z.free_kb, z.min_kb, z.high_kb),
        ("DMA32", Some(2272), Some(2640), Some(3960))
    );
    assert_eq!(&z.free_area[..3], &[19, 12, 6]);
    assert_eq!(&z.free_types[..3], &["UME", "UE", "M"]);
    assert_eq!(z.free_types[3], "", "an order without blocks has no types");
    assert_eq!(z.lowmem_reserve, vec![0, 0]);
    let read = ev.memory_read.as_ref().unwrap();
    assert_eq!(
        (read.at, read.path),
        (
            crate::schema::event::MemoryAt::MarkVictim,
            crate::schema::event::MemoryPath::Memcg
        )
    );
    assert!(a.pending.is_empty());
}

/// `struct oom_control` as 6.x lays it out.
fn test_offsets() -> KernelOffsets {
    KernelOffsets {
        oc_zonelist: 0,
        oc_nodemask: 8,
        oc_memcg: 16,
        oc_gfp_mask: 24,
        oc_order: 28,
        oc_totalpages: 32,
        oc_chosen: 40,
        oc_chosen_points: 48,
        oc_constraint: 56,
        ..KernelOffsets::unplanned()
    }
}

const VICTIM: u64 = 0xffff_8880_0123_4500;

/// A stack with the victim's task pointer in three places: a saved
/// register, a callee's argument, and the `chosen` of an oom_control.
fn stack_with_oom_control(tid: u32, t: u64) -> Box<OomStackRecord> {
    let mut st: Box<OomStackRecord> = Box::new(zeroed());
    st.hdr = hdr(RecordKind::OomStack, tid, t);
    st.victim_task = VICTIM;
    st.stack_top = 0xffff_c900_0040_4000;
    st.len = STACK_COPY as u32;
    let mut put = |at: usize, v: &[u8]| st.stack[at..at + v.len()].copy_from_slice(v);
    put(800, &VICTIM.to_le_bytes());
    put(808, &0xdead_beefu64.to_le_bytes());
    put(2000, &VICTIM.to_le_bytes());
    let oc = 9000;
    put(oc, &0xffff_8880_0fff_0000u64.to_le_bytes()); // zonelist
    put(oc + 8, &0u64.to_le_bytes()); // nodemask
    put(oc + 16, &0xffff_8880_0aaa_0000u64.to_le_bytes()); // memcg
    put(oc + 24, &0xcc0u32.to_le_bytes());
    put(oc + 28, &0i32.to_le_bytes());
    put(oc + 32, &8192u64.to_le_bytes());
    put(oc + 40, &VICTIM.to_le_bytes());
    put(oc + 48, &8896i64.to_le_bytes());
    put(oc + 56, &3u32.to_le_bytes());
    st
}

#[test]
fn finds_the_oom_control_whose_chosen_is_the_victim() {
    let st = stack_with_oom_control(7, 1);
    let oc = find_oom_control(&st, &test_offsets(), &crate::kernel::arch::X86_64).unwrap();
    assert_eq!(
        oc,
        OomControl {
            gfp_mask: 0xcc0,
            order: 0,
            totalpages: 8192,
            chosen_points: 8896,
            constraint: 3,
            memcg: 0xffff_8880_0aaa_0000,
            nodemask: Some("(null)".into()),
        }
    );
    // Without the oom_control (an exiting OOM task marks itself), no guess.
    let mut bare = st.clone();
    bare.stack[9000..9064].fill(0);
    let e = find_oom_control(&bare, &test_offsets(), &crate::kernel::arch::X86_64).unwrap_err();
    assert!(e.starts_with("2 words point at the victim"), "{e}");
    // A nodemask the OOM task keeps on its own stack is read there.
    let mut policy = st.clone();
    let start = policy.stack_top - STACK_COPY as u64;
    policy.stack[12000..12008].copy_from_slice(&0b101u64.to_le_bytes());
    policy.stack[9008..9016].copy_from_slice(&(start + 12000).to_le_bytes());
    let oc = find_oom_control(&policy, &test_offsets(), &crate::kernel::arch::X86_64).unwrap();
    assert_eq!(oc.nodemask.as_deref(), Some("0,2"));
    // Two that differ: neither is trusted, and the error says where they are.
    let mut two = st.clone();
    let copy = two.stack[9000..9064].to_vec();
    two.stack[3000..3064].copy_from_slice(&copy);
    two.stack[3032..3040].copy_from_slice(&4096u64.to_le_bytes());
    let e = find_oom_control(&two, &test_offsets(), &crate::kernel::arch::X86_64).unwrap_err();
    assert_eq!(
        e,
        "2 places look like it (13384 bytes below the top, 7384 bytes below the top); none is trusted"
    );
    // A chosen task of no badness is no OOM's choice.
    let mut zero = st.clone();
    zero.stack[9048..9056].fill(0);
    assert!(find_oom_control(&zero, &test_offsets(), &crate::kernel::arch::X86_64).is_err());
    // No victim's task, or nothing copied: no search.
    for (task, len) in [(0, STACK_COPY as u32), (VICTIM, 0)] {
        let mut none = st.clone();
        none.victim_task = task;
        none.len = len;
        let e = find_oom_control(&none, &test_offsets(), &crate::kernel::arch::X86_64).unwrap_err();
        assert_eq!(e, "no stack was copied");
    }
}

/// Tracepoint mode: the kill waits for its stack copy, whichever comes
/// first, and the event then has what kprobe mode reads.
#[test]
fn tracepoint_events_get_the_oom_control_from_the_stack() {
    for stack_first in [false, true] {
        let mut ctx = ctx(false);
        ctx.expect_stack = true;
        let mut a = Assembler::new(ctx);
        let mut mark = mark_victim(7, 7, "hog", 10, &[0xffffffff81000b20]);
        mark.victim.tgid = 7;
        let stack = stack_with_oom_control(7, 11);
        let evs = if stack_first {
            assert!(a.push(Record::Stack(stack)).is_empty());
            a.push(Record::MarkVictim(mark))
        } else {
            assert!(a.push(Record::MarkVictim(mark)).is_empty());
            a.push(Record::Stack(stack))
        };
        assert_eq!(evs.len(), 1);
        let e = &evs[0];
        assert_eq!(
            (e.gfp_mask, e.gfp_flags.as_deref(), e.order, e.totalpages),
            (Some(0xcc0), Some("GFP_KERNEL"), Some(0), Some(8192))
        );
        assert_eq!(e.constraint.as_deref(), Some("CONSTRAINT_MEMCG"));
        assert_eq!(e.victim.as_ref().unwrap().points, Some(8896));
        assert_eq!(e.nodemask.as_deref(), Some("(null)"));
        assert!(
            !e.unavailable.contains(&"gfp_mask".to_owned()),
            "{:?}",
            e.unavailable
        );
    }
}

/// Where the stack shows no memcg frame, the oom_control's memcg says
/// which OOM it was: none, a global OOM with out_of_memory's message
/// (unless vm.oom_kill_allocating_task may have chosen the allocating
/// task); one, a memcg's OOM with its message.
#[test]
fn the_oom_control_says_global_or_memcg_where_the_stack_does_not() {
    for (memcg, constraint, allocating_sysctl, message) in [
        (0u64, 0u32, false, Some("Out of memory")),
        (0, 0, true, None),
        (
            0xffff_8880_0aaa_0000,
            3,
            false,
            Some("Memory cgroup out of memory"),
        ),
    ] {
        let mut c = ctx(false);
        c.expect_stack = true;
        c.kill_allocating_task = allocating_sysctl;
        let mut a = Assembler::new(c);
        // out_of_memory's frame only: no memcg, no sysrq on the stack.
        let mut mark = mark_victim(7, 7, "hog", 10, &[0xffffffff81000614]);
        mark.victim.tgid = 7;
        let mut stack = stack_with_oom_control(7, 11);
        stack.stack[9016..9024].copy_from_slice(&memcg.to_le_bytes());
        stack.stack[9056..9060].copy_from_slice(&constraint.to_le_bytes());
        assert!(a.push(Record::MarkVictim(mark)).is_empty());
        let evs = a.push(Record::Stack(stack));
        let e = &evs[0];
        let ctx = format!("memcg {memcg:#x}, sysctl {allocating_sysctl}");
        assert_eq!(e.message.as_deref(), message, "{ctx}");
        let want = if memcg == 0 {
            "CONSTRAINT_NONE"
        } else {
            "CONSTRAINT_MEMCG"
        };
        assert_eq!(e.constraint.as_deref(), Some(want), "{ctx}");
        if memcg == 0 {
            assert_eq!(e.memcg, None, "{ctx}");
            assert!(e.memcg_memory.is_none(), "{ctx}");
            assert!(!e.inferred.iter().any(|f| f == "memcg"), "{ctx}");
        }
        assert_eq!(e.order, Some(0), "{ctx}: not sysrq's -1");
    }
    // The sysctl set, but the victim is another task than the one that
    // allocated: out_of_memory's own message.
    let mut c = ctx(false);
    c.expect_stack = true;
    c.kill_allocating_task = true;
    let mut a = Assembler::new(c);
    let mut stack = stack_with_oom_control(7, 11);
    stack.stack[9016..9024].fill(0);
    assert!(
        a.push(Record::MarkVictim(mark_victim(7, 40, "v", 10, &[])))
            .is_empty()
    );
    let evs = a.push(Record::Stack(stack));
    assert_eq!(evs[0].message.as_deref(), Some("Out of memory"));
    // A memcg frame and a memcg at its limit, but the oom_control says
    // global: it is believed, and nothing of a memcg is inferred.
    let mut c = ctx(false);
    c.expect_stack = true;
    let mut a = Assembler::new(c);
    let mut mark = mark_victim(7, 7, "hog", 10, &[0xffffffff81000b20]);
    mark.victim.tgid = 7;
    mark.memcg_levels = 1;
    mark.memcg_chain[0] = MemcgCounters {
        usage: 8192,
        max: 8192,
        failcnt: 3,
    };
    let mut stack = stack_with_oom_control(7, 11);
    stack.stack[9016..9024].fill(0);
    assert!(a.push(Record::MarkVictim(mark.clone())).is_empty());
    let e = &a.push(Record::Stack(stack))[0];
    assert_eq!(
        (e.memcg.as_deref(), e.memcg_memory.is_some()),
        (None, false)
    );
    assert!(e.inferred.is_empty(), "{:?}", e.inferred);
    // The same without the oom_control: the memcg is inferred.
    let mut c = ctx(false);
    c.expect_stack = false;
    let mut a = Assembler::new(c);
    let e = &a.push(Record::MarkVictim(mark))[0];
    assert_eq!(e.memcg.as_deref(), Some("/oomtest"));
    assert_eq!(e.inferred, ["memcg"]);
}

/// sysrq-f's OOM (moom_callback on the stack) has order -1, as the
/// kernel's `oom_control` of it says.
#[test]
fn a_sysrq_oom_has_order_minus_one() {
    let mut a = Assembler::new(ctx(false));
    let evs = a.push(Record::MarkVictim(mark_victim(
        3,
        40,
        "victim",
        10,
        &[0xffffffff81000614, 0xffffffff81000c10],
    )));
    assert_eq!(evs[0].order, Some(-1));
    let evs = a.push(Record::MarkVictim(mark_victim(
        3,
        41,
        "v",
        20,
        &[0xffffffff81000614],
    )));
    assert_eq!(evs[0].order, None);
}

#[test]
fn a_kill_waits_for_its_stack_copy_longer_than_the_quiet() {
    let mut ctx = ctx(false);
    ctx.expect_stack = true;
    let mut a = Assembler::new(ctx);
    let mut mark = mark_victim(7, 7, "hog", 10, &[0xffffffff81000b20]);
    mark.victim.tgid = 7;
    let at = mark.hdr.ktime_ns;
    assert!(a.push(Record::MarkVictim(mark)).is_empty());
    // 50 ms of quiet (the source settles after 10): still waiting.
    assert!(a.settle(at + 50_000_000, 10_000_000).is_empty());
    let evs = a.push(Record::Stack(stack_with_oom_control(7, 11)));
    assert_eq!(evs.len(), 1);
    assert_eq!(evs[0].gfp_mask, Some(0xcc0));
    // Without it, an event all the same after the wait.
    let mut mark = mark_victim(8, 8, "hog", 20, &[0xffffffff81000b20]);
    mark.victim.tgid = 8;
    let at = mark.hdr.ktime_ns;
    assert!(a.push(Record::MarkVictim(mark)).is_empty());
    assert!(a.settle(at + 999_000_000, 10_000_000).is_empty());
    let evs = a.settle(at + 1_000_000_000, 10_000_000);
    assert_eq!(evs.len(), 1);
    assert!(evs[0].unavailable.contains(&"gfp_mask".to_owned()));
}

fn enter(tid: u32, t: u64) -> Record {
    let mut enter: Box<OomEnterRecord> = Box::new(zeroed());
    enter.hdr = hdr(RecordKind::OomEnter, tid, t);
    enter.valid = OC_GFP_MASK | OC_ORDER;
    Record::Enter(enter)
}

/// No return probe: an OOM that killed nothing is counted when the next
/// OOM begins (OOMs run one at a time), one that killed is reported then
/// at the latest, whichever thread runs the next.
#[test]
fn the_next_oom_ends_the_previous_one() {
    let mut a = Assembler::new(ctx(true));
    assert!(a.push(enter(7, 1)).is_empty());
    assert!(a.push(enter(8, 2)).is_empty());
    assert_eq!((a.tally.deferred, a.tally.events), (1, 0));
    assert!(
        a.push(Record::MarkVictim(mark_victim(8, 8, "hog", 3, &[])))
            .is_empty()
    );
    let evs = a.push(enter(9, 4));
    assert_eq!(evs.len(), 1, "thread 9's OOM ends thread 8's");
    assert_eq!(evs[0].duration_ns, Some(1));
    assert_eq!(a.flush().len(), 0);
    assert_eq!(
        (a.tally.deferred, a.tally.events, a.tally.incomplete),
        (2, 1, 0)
    );
}

#[test]
fn rejects_short_and_unknown_records() {
    assert_eq!(parse(&[0; 4]).err(), Some(DecodeError::Short(4)));
    let mut b = vec![0u8; 64];
    b[0] = 99;
    assert_eq!(parse(&b).err(), Some(DecodeError::UnknownKind(99)));
    b[0] = RecordKind::OomEnter as u8;
    assert!(matches!(parse(&b), Err(DecodeError::Size { .. })));
    // A header alone is a header: its kind is read (and unknown here).
    let h = vec![0u8; size_of::<Header>()];
    assert_eq!(parse(&h).err(), Some(DecodeError::UnknownKind(0)));
    // A record of exactly its size is whole.
    let mut r = vec![0u8; size_of::<ReaperRecord>()];
    r[0] = RecordKind::Reaper as u8;
    assert!(matches!(parse(&r), Ok(Record::Reaper(_))));
    assert!(matches!(
        parse(&r[..r.len() - 1]),
        Err(DecodeError::Size { .. })
    ));
}

/// Raw bytes in, events out; a record that does not decode is counted.
#[test]
fn raw_records_become_events_and_bad_ones_are_counted() {
    let mut a = Assembler::new(ctx(false));
    let m = mark_victim(7, 7, "hog", 10, &[]);
    // SAFETY: a #[repr(C)] record of plain integers, viewed as its bytes.
    let bytes = unsafe {
        std::slice::from_raw_parts(
            (&*m as *const MarkVictimRecord).cast::<u8>(),
            size_of::<MarkVictimRecord>(),
        )
    };
    let evs = a.push_bytes(bytes);
    assert_eq!(evs.len(), 1);
    assert_eq!(evs[0].victim.as_ref().unwrap().pid, Some(7));
    assert!(a.push_bytes(&bytes[..8]).is_empty());
    assert!(a.push_bytes(&[0; 3]).is_empty());
    assert_eq!((a.tally.bad_records, a.tally.events), (2, 1));
}

/// The victim's figures: the chosen task's only where it is the marked
/// one (kprobe mode); in tracepoint mode the victim task's own reading
/// from the stack copy wins, for that task only.
#[test]
fn whose_figures_the_victim_gets() {
    let mut a = Assembler::new(ctx(true));
    let mut enter: Box<OomEnterRecord> = Box::new(zeroed());
    enter.hdr = hdr(RecordKind::OomEnter, 90, 1000);
    let mut kill: Box<OomKillRecord> = Box::new(zeroed());
    kill.hdr = hdr(RecordKind::OomKill, 90, 1100);
    kill.valid = OC_CHOSEN_POINTS;
    kill.chosen_points = 777;
    kill.victim.valid = TASK_PID | TASK_PGTABLES;
    kill.victim.pid = 92;
    kill.victim.pgtables_kb = 916;
    for r in [
        Record::Enter(enter),
        Record::Kill(kill),
        Record::MarkVictim(mark_victim(90, 91, "c", 1200, &[])),
    ] {
        assert!(a.push(r).is_empty());
    }
    let evs = a.settle(3000, 1000);
    let v = evs[0].victim.as_ref().unwrap();
    assert_eq!((v.pid, v.points, v.pgtables_kb), (Some(91), None, None));
    for (pid, anon) in [(7, Some(999)), (8, Some(65024))] {
        let mut c = ctx(false);
        c.expect_stack = true;
        let mut a = Assembler::new(c);
        let mut mark = mark_victim(7, 7, "hog", 10, &[]);
        mark.victim.tgid = 7;
        let mut st = stack_with_oom_control(7, 11);
        st.victim.valid = TASK_PID | TASK_RSS;
        st.victim.pid = pid;
        st.victim.anon_rss_kb = 999;
        assert!(a.push(Record::MarkVictim(mark)).is_empty());
        let evs = a.push(Record::Stack(st));
        let v = evs[0].victim.as_ref().unwrap();
        assert_eq!(v.anon_rss_kb, anon, "the stack copy's task {pid}");
    }
}

/// CLOCK_MONOTONIC, the kernel timestamps' clock: it runs, and it is
/// near the boot clock /proc/uptime shows (equal but for suspend).
#[test]
fn monotonic_is_the_kernels_clock() {
    let up: f64 = std::fs::read_to_string("/proc/uptime")
        .unwrap()
        .split_whitespace()
        .next()
        .unwrap()
        .parse()
        .unwrap();
    let a = monotonic_ns();
    std::thread::sleep(std::time::Duration::from_millis(20));
    let b = monotonic_ns();
    assert!(b - a >= 20_000_000, "{a} then {b}");
    assert!((a as f64 / 1e9 - up).abs() < 5.0, "{a} ns vs uptime {up} s");
}

/// The offset from the kernel's clock to the wall clock: a kernel time
/// plus it is now, as std's SystemTime says.
#[test]
fn the_realtime_offset_makes_kernel_times_wall_clock_times() {
    let wall = realtime_offset_ns() + monotonic_ns() as i128;
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_nanos() as i128;
    // Microseconds apart; 50 ms allows for a descheduled test thread.
    assert!((now - wall).abs() < 50_000_000, "{wall} vs {now}");
}

/// A memory cgroup's ancestor `levels` up, the root at most.
#[test]
fn ancestors_of_a_cgroup_path() {
    assert_eq!(ancestor("/a/b/c", 0), "/a/b/c");
    assert_eq!(ancestor("/a/b/c", 1), "/a/b");
    assert_eq!(ancestor("/a//b/", 1), "/a");
    assert_eq!(ancestor("/a", 5), "/");
}

/// Kprobe mode: a kill whose OOM entry was lost is still an event,
/// counted as incomplete.
#[test]
fn a_mark_without_its_entry_is_an_incomplete_event() {
    let mut a = Assembler::new(ctx(true));
    for (i, t) in [10u64, 20].into_iter().enumerate() {
        // The second with its kill probe's record: still kprobe mode's.
        if i == 1 {
            let mut kill: Box<OomKillRecord> = Box::new(zeroed());
            kill.hdr = hdr(RecordKind::OomKill, 7, t - 1);
            assert!(a.push(Record::Kill(kill)).is_empty());
        }
        let evs = a.push(Record::MarkVictim(mark_victim(
            7,
            8 + i as i32,
            "x",
            t,
            &[],
        )));
        assert_eq!(evs.len(), 1);
        assert_eq!(a.tally.incomplete, i as u64 + 1);
        let want = if i == 1 {
            Source::Kprobe
        } else {
            Source::Tracepoint
        };
        assert_eq!(evs[0].source, want);
    }
}

/// Kprobe mode: the reaper woken inside an OOM (before its event ends)
/// is the event's, handed out after it with its seq; a wake for a
/// victim of an earlier event is handed out at once.
#[test]
fn a_wake_inside_the_oom_waits_for_its_event() {
    let mut a = Assembler::new(ctx(true));
    let enter = |t: u64| {
        let mut e: Box<OomEnterRecord> = Box::new(zeroed());
        e.hdr = hdr(RecordKind::OomEnter, 90, t);
        Record::Enter(e)
    };
    let wake = |t: u64, pid: i32| {
        Record::Reaper(ReaperRecord {
            hdr: hdr(RecordKind::Reaper, 90, t),
            step: ReaperStep::WakeReaper as u32,
            pid,
        })
    };
    assert!(a.push(enter(1000)).is_empty());
    assert!(
        a.push(Record::MarkVictim(mark_victim(90, 91, "c", 1100, &[])))
            .is_empty()
    );
    assert!(a.push(wake(1150, 91)).is_empty());
    assert!(a.take_reaper_events().is_empty(), "held for its event");
    let evs = a.settle(1150 + 1000, 1000);
    assert_eq!(evs[0].seq, 1);
    let steps = a.take_reaper_events();
    assert_eq!(
        steps
            .iter()
            .map(|s| (s.seq, s.since_kill_ns))
            .collect::<Vec<_>>(),
        [(1, Some(50))]
    );
    // The next OOM of the same thread: 91 is an earlier event's victim.
    assert!(a.push(enter(5000)).is_empty());
    assert!(a.push(wake(5100, 91)).is_empty());
    let steps = a.take_reaper_events();
    assert_eq!(
        steps.iter().map(|s| (s.seq, s.pid)).collect::<Vec<_>>(),
        [(1, 91)]
    );
}

#[test]
fn nodelists_read_like_the_kernels() {
    assert_eq!(nodelist(0b1), "0");
    assert_eq!(nodelist(0b1011), "0-1,3");
    assert_eq!(nodelist(0b11 << 62), "62-63");
    assert_eq!(nodelist(u64::MAX), "0-63");
    assert_eq!(nodelist(0), "");
}

/// The trigger's user stack: its user addresses up to the first that
/// is none (a walk without frame pointers runs into garbage), as many
/// as were copied.
#[test]
fn the_user_stack_stops_at_its_first_non_user_address() {
    let mut m = mark_victim(7, 7, "hog", 10, &[]);
    m.user_stack[..4].copy_from_slice(&[
        0x5555_5555_1000,
        0x7fff_0000_2000,
        0xffff_ffff_8100_0000,
        0x5555_5555_3000,
    ]);
    let addrs = |m: &MarkVictimRecord| -> Vec<String> {
        user_frames(m, &crate::kernel::arch::X86_64)
            .into_iter()
            .map(|f| f.addr)
            .collect()
    };
    m.user_stack_len_bytes = 32;
    assert_eq!(addrs(&m), ["0x555555551000", "0x7fff00002000"]);
    m.user_stack_len_bytes = 8;
    assert_eq!(addrs(&m), ["0x555555551000"]);
    m.user_stack_len_bytes = 0;
    assert!(addrs(&m).is_empty());
    m.user_stack_len_bytes = -14;
    assert!(addrs(&m).is_empty(), "an error of the walk");
}

#[test]
fn the_innermost_frame_is_said_once() {
    let frame = |addr: &str, symbol: &str| crate::schema::event::Frame {
        addr: addr.into(),
        symbol: Some(symbol.into()),
        offset: Some(0x12c),
        size: Some(0x200),
    };
    // As arm64 gave it for a memcg OOM on 6.12.
    let stack = vec![
        frame("0xffff800080123456", "__traceiter_mark_victim"),
        frame("0xffff800080123500", "__bpf_trace_mark_victim"),
        frame("0xffff800080123600", "perf_trace_mark_victim"),
        frame("0xffff8000802a012c", "mark_oom_victim"),
        frame("0xffff8000802a012c", "mark_oom_victim"),
        frame("0xffff8000802a0d50", "__oom_kill_process"),
    ];
    let names: Vec<_> = without_tracing_frames(stack)
        .into_iter()
        .filter_map(|f| f.symbol)
        .collect();
    assert_eq!(names, ["mark_oom_victim", "__oom_kill_process"]);
    // Two different places in one function are two frames.
    let mut other = frame("0xffff8000802a0130", "mark_oom_victim");
    other.offset = Some(0x130);
    let stack = vec![frame("0xffff8000802a012c", "mark_oom_victim"), other];
    assert_eq!(without_tracing_frames(stack).len(), 2);
}
