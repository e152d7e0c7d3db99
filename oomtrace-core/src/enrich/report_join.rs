//! Kernel-log mode's join: a live event of what BPF saw without struct
//! layouts (the `oom:*` tracepoints' own fields, stacks, user stacks,
//! reaper steps, retries, kprobe timings) completed by the kernel's own
//! report of the same OOM, read from `/dev/kmsg` by the parser `import`
//! uses. BPF's fields win where both have one, except the victim's
//! figures, which the kernel's `Killed process` line prints exactly.

use crate::schema::event::{Field, OomEvent};
use crate::source::kernel_log::{self, KernelReport};

/// What the kernel's report prints of an OOM (a memcg OOM's report has no
/// Mem-Info: its memory is what BPF or /proc gives).
pub const KERNEL_REPORT_PROVIDES: &[Field] = &[
    Field::GfpMask,
    Field::Order,
    Field::Constraint,
    Field::Nodemask,
    Field::Memcg,
    Field::Message,
    Field::VictimCgroup,
    Field::Victim,
    Field::Trigger,
    Field::Stack,
    Field::MemcgMemory,
    Field::Memory,
];

/// How an event's kernel report went (`kernel_report` of the event).
pub const JOINED: &str = "joined";
pub const RATE_LIMITED: &str = "rate-limited";
pub const NOT_FOUND: &str = "not found";

/// Whether `r` is the report of the OOM that killed `pid` at about
/// `uptime_ns` (the kernel's log clock and BPF's monotonic clock agree
/// within milliseconds; pids are reused only after a wrap).
pub fn is_report_of(r: &KernelReport, pid: i32, uptime_ns: u64) -> bool {
    let kills = r.killed.iter().chain(&r.also_killed);
    let near = r
        .timestamp
        .is_none_or(|t| ((t * 1e9) - uptime_ns as f64).abs() < 10e9);
    near && kills.into_iter().any(|k| k.pid == pid)
}

/// Completes `ev` with the kernel's report `r` of the same OOM; records
/// which fields came from it (`from_kernel_log`), what is still missing
/// (`unavailable`) and whether the kernel rate-limited the report away.
pub fn join(ev: &mut OomEvent, r: Option<&KernelReport>) {
    let Some(r) = r else {
        ev.kernel_report = Some(NOT_FOUND.into());
        ev.notes.push(
            "the kernel's report of this OOM was not found in /dev/kmsg: the fields only the \
             report has are missing"
                .into(),
        );
        finish(ev);
        return;
    };
    let k = kernel_log::to_event(r, ev.seq);
    let mut took: Vec<&'static str> = Vec::new();
    let mut take = |field: Field, missing: bool, have: bool| -> bool {
        let t = missing && have;
        if t {
            took.push(field.name());
        }
        t
    };
    // The trigger: the report names it (pid, comm, oom_score_adj, uid,
    // cpu); BPF knows its pid and tid.
    if take(
        Field::Trigger,
        ev.trigger.comm.is_none(),
        k.trigger.comm.is_some(),
    ) {
        ev.trigger.comm = k.trigger.comm.clone();
    }
    ev.trigger.pid = ev.trigger.pid.or(k.trigger.pid);
    ev.trigger.tid = ev.trigger.tid.or(k.trigger.tid);
    ev.trigger.oom_score_adj = ev.trigger.oom_score_adj.or(k.trigger.oom_score_adj);
    ev.trigger.uid = ev.trigger.uid.or(k.trigger.uid);
    ev.trigger.cpu = ev.trigger.cpu.or(k.trigger.cpu);
    if take(Field::GfpMask, ev.gfp_mask.is_none(), k.gfp_mask.is_some()) {
        ev.gfp_mask = k.gfp_mask;
        ev.gfp_flags = k.gfp_flags.clone();
    }
    if take(Field::Order, ev.order.is_none(), k.order.is_some()) {
        ev.order = k.order;
    }
    if take(
        Field::Constraint,
        ev.constraint.is_none(),
        k.constraint.is_some(),
    ) {
        ev.constraint = k.constraint.clone();
    }
    if take(Field::Nodemask, ev.nodemask.is_none(), k.nodemask.is_some()) {
        ev.nodemask = k.nodemask.clone();
    }
    if take(Field::Memcg, ev.memcg.is_none(), k.memcg.is_some()) {
        ev.memcg = k.memcg.clone();
    }
    ev.cpuset = ev.cpuset.take().or(k.cpuset.clone());
    ev.mems_allowed = ev.mems_allowed.take().or(k.mems_allowed.clone());
    if take(Field::Message, ev.message.is_none(), k.message.is_some()) {
        ev.message = k.message.clone();
    }
    ev.killed = ev.killed.or(k.killed);
    // The victim's figures as the kernel printed them win: its `Killed
    // process` line is the exact reading (the tracepoint's may predate
    // deltas the victim flushed).
    if let Some(kv) = k.victim.clone() {
        let had = ev.victim.clone().unwrap_or_default();
        take(
            Field::VictimCgroup,
            had.cgroup.is_none(),
            kv.cgroup.is_some(),
        );
        take(
            Field::Victim,
            had.anon_rss_kb.is_none() || had.comm.is_none(),
            true,
        );
        let points = had.points;
        let workload = had.workload.clone();
        let mut v = kv.or(had);
        v.points = points.or(v.points);
        v.workload = workload.or(v.workload);
        ev.victim = Some(v);
    }
    // More victims of a memory.oom.group kill, each by its own line.
    for kv in &k.also_killed {
        match ev.also_killed.iter_mut().find(|v| v.pid == kv.pid) {
            Some(v) => *v = kv.clone().or(v.clone()),
            None => ev.also_killed.push(kv.clone()),
        }
    }
    if take(Field::Stack, ev.stack.is_empty(), !k.stack.is_empty()) {
        ev.stack = k.stack.clone();
    }
    if take(
        Field::ShowFreeAreasStack,
        ev.show_free_areas_stack.is_none(),
        k.show_free_areas_stack.is_some(),
    ) {
        ev.show_free_areas_stack = k.show_free_areas_stack.clone();
    }
    if take(
        Field::MemcgMemory,
        ev.memcg_memory.is_none(),
        k.memcg_memory.is_some(),
    ) {
        ev.memcg_memory = k.memcg_memory.clone();
    }
    // Memory as printed beats memory sampled from /proc after the fact.
    let sampled = ev
        .memory_read
        .as_ref()
        .is_some_and(|m| m.at == crate::schema::event::MemoryAt::Sampled);
    if take(
        Field::Memory,
        ev.counters.is_none() || sampled,
        k.counters.is_some(),
    ) {
        ev.counters = k.counters.clone();
        ev.nodes = k.nodes.clone();
        ev.zones = k.zones.clone();
        ev.memory_read = k.memory_read.clone();
    }
    took.sort_unstable();
    took.dedup();
    ev.from_kernel_log = took.into_iter().map(str::to_owned).collect();
    if r.header_suppressed {
        ev.kernel_report = Some(RATE_LIMITED.into());
        ev.notes.push(
            "the kernel rate-limited this OOM's report (at most 10 per 5 s): it printed only \
             the `Killed process` line, so what only the report has is missing"
                .into(),
        );
    } else {
        ev.kernel_report = Some(JOINED.into());
    }
    finish(ev);
}

/// `unavailable`: every field the event still lacks.
fn finish(ev: &mut OomEvent) {
    ev.unavailable = Field::per_event()
        .filter(|f| f.is_missing(ev))
        .map(|f| f.name().to_owned())
        .collect();
    ev.inferred
        .retain(|f| !ev.from_kernel_log.iter().any(|k| k == f));
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::schema::event::{Task, Victim};

    fn report(log: &str) -> KernelReport {
        kernel_log::parse_log(log).remove(0)
    }

    /// What BPF sees of a memcg OOM without layouts: the victim's pid and
    /// memory from the tracepoint, the trigger's pid, the stack.
    fn bpf_event(pid: i32) -> OomEvent {
        OomEvent {
            seq: 7,
            uptime_ns: 1_114_251_121_000,
            trigger: Task {
                pid: Some(pid),
                tid: Some(pid),
                ..Task::default()
            },
            victim: Some(Victim {
                pid: Some(pid),
                anon_rss_kb: Some(1),
                ..Victim::default()
            }),
            duration_ns: Some(5),
            ..OomEvent::default()
        }
    }

    const MEMCG_OOM: &str = "\
[1114.251121] python3 invoked oom-killer: gfp_mask=0xcc0(GFP_KERNEL), order=0, oom_score_adj=0
[1114.251130] CPU: 1 PID: 15489 Comm: python3 Not tainted 6.1.0-27-amd64 #1
[1114.251140] memory: usage 65536kB, limit 65536kB, failcnt 102
[1114.251150] oom-kill:constraint=CONSTRAINT_MEMCG,nodemask=(null),cpuset=/,mems_allowed=0,oom_memcg=/oomtest,task_memcg=/oomtest,task=python3,pid=15489,uid=0
[1114.251160] Memory cgroup out of memory: Killed process 15489 (python3) total-vm:78028kB, anon-rss:65024kB, file-rss:2424kB, shmem-rss:0kB, UID:0 pgtables:188kB oom_score_adj:0
";

    #[test]
    fn the_report_completes_what_bpf_lacks_and_says_what_is_left() {
        let r = report(MEMCG_OOM);
        assert!(is_report_of(&r, 15489, 1_114_300_000_000));
        assert!(!is_report_of(&r, 15489, 1_200_000_000_000), "far in time");
        assert!(!is_report_of(&r, 4, 1_114_300_000_000));
        let mut ev = bpf_event(15489);
        join(&mut ev, Some(&r));
        assert_eq!(ev.kernel_report.as_deref(), Some(JOINED));
        assert_eq!(ev.gfp_mask, Some(0xcc0));
        assert_eq!(ev.gfp_flags.as_deref(), Some("GFP_KERNEL"));
        assert_eq!(ev.order, Some(0));
        assert_eq!(ev.memcg.as_deref(), Some("/oomtest"));
        assert_eq!(ev.constraint.as_deref(), Some("CONSTRAINT_MEMCG"));
        assert_eq!(ev.trigger.comm.as_deref(), Some("python3"));
        let v = ev.victim.as_ref().unwrap();
        // The kernel's printed figure wins over the tracepoint's.
        assert_eq!(v.anon_rss_kb, Some(65024));
        assert_eq!(v.cgroup.as_deref(), Some("/oomtest"));
        assert_eq!(ev.duration_ns, Some(5), "BPF's own fields stay");
        assert_eq!(
            ev.memcg_memory
                .as_ref()
                .map(|m| (m.usage_kb, m.limit_kb, m.failcnt)),
            Some((65536, 65536, 102))
        );
        // BPF had the victim's rss but not its comm: the victim is the report's.
        for f in [
            "gfp_mask",
            "order",
            "memcg",
            "trigger",
            "victim",
            "victim.cgroup",
        ] {
            assert!(
                ev.from_kernel_log.iter().any(|t| t == f),
                "{f}: {:?}",
                ev.from_kernel_log
            );
        }
        assert!(
            !ev.from_kernel_log.iter().any(|t| t == "stack"),
            "a report without a Call Trace gives no stack"
        );
        // Neither BPF without layouts nor the report has these.
        for f in ["totalpages", "points", "user_stack", "stack"] {
            assert!(
                ev.unavailable.iter().any(|u| u == f),
                "{f}: {:?}",
                ev.unavailable
            );
        }
        assert!(!ev.unavailable.iter().any(|u| u == "gfp_mask"));
    }

    #[test]
    fn a_rate_limited_report_is_said_and_its_fields_unavailable() {
        let r = report(
            "[1114.251160] Memory cgroup out of memory: Killed process 15489 (python3) total-vm:78028kB, anon-rss:65024kB, file-rss:2424kB, shmem-rss:0kB, UID:0 pgtables:188kB oom_score_adj:0\n",
        );
        let mut ev = bpf_event(15489);
        join(&mut ev, Some(&r));
        assert_eq!(ev.kernel_report.as_deref(), Some(RATE_LIMITED));
        assert!(ev.notes.iter().any(|n| n.contains("rate-limited")));
        assert_eq!(ev.victim.as_ref().unwrap().anon_rss_kb, Some(65024));
        for f in ["gfp_mask", "order", "memcg_memory"] {
            assert!(
                ev.unavailable.iter().any(|u| u == f),
                "{f}: {:?}",
                ev.unavailable
            );
        }
    }

    #[test]
    fn no_report_is_said() {
        let mut ev = bpf_event(1);
        join(&mut ev, None);
        assert_eq!(ev.kernel_report.as_deref(), Some(NOT_FOUND));
        assert!(ev.unavailable.iter().any(|u| u == "gfp_mask"));
    }

    /// What BPF has stays, and is not said to come from the report; what
    /// the report has that BPF lacks is taken and said; memory BPF read in
    /// the kernel stays, memory sampled from /proc after the fact gives way
    /// to the memory the kernel printed; a field taken from the report is
    /// no longer "inferred"; a memory.oom.group victim already known is
    /// completed, not listed twice.
    #[test]
    fn what_bpf_has_stays_and_only_what_it_lacks_is_taken() {
        let text = std::fs::read_to_string(
            crate::testdata::kernel_reports_dir().join("6.18-global-oom.log"),
        )
        .unwrap();
        let r = kernel_log::parse_log(&text).remove(0);
        let k = kernel_log::to_event(&r, 1);
        let victim = k.victim.clone().unwrap();
        assert!(
            k.counters.is_some() && !k.stack.is_empty(),
            "a whole report"
        );
        let ours = || OomEvent {
            gfp_mask: Some(0x100cca),
            gfp_flags: Some("GFP_HIGHUSER_MOVABLE".into()),
            order: Some(3),
            trigger: Task {
                comm: Some("ours".into()),
                ..Task::default()
            },
            victim: Some(Victim {
                pid: victim.pid,
                comm: Some("ours".into()),
                anon_rss_kb: Some(1),
                ..Victim::default()
            }),
            stack: vec![crate::schema::event::Frame::default()],
            counters: Some(crate::schema::event::Counters::default()),
            memory_read: Some(crate::schema::event::MemoryRead {
                at: crate::schema::event::MemoryAt::ShowFreeAreas,
                ..Default::default()
            }),
            inferred: vec!["gfp_mask".into(), "message".into()],
            also_killed: vec![Victim {
                pid: Some(-5),
                comm: Some("other".into()),
                ..Victim::default()
            }],
            ..OomEvent::default()
        };
        let mut ev = ours();
        let mut r = r;
        r.also_killed = vec![crate::source::kernel_log::Killed {
            pid: -5,
            ..r.killed.clone().unwrap()
        }];
        join(&mut ev, Some(&r));
        assert_eq!((ev.gfp_mask, ev.order), (Some(0x100cca), Some(3)));
        assert_eq!(ev.trigger.comm.as_deref(), Some("ours"));
        let v = ev.victim.as_ref().unwrap();
        assert_eq!(
            (v.comm.as_deref(), v.anon_rss_kb),
            (victim.comm.as_deref(), victim.anon_rss_kb),
            "the printed victim wins"
        );
        assert_eq!(ev.stack.len(), 1, "our stack stays");
        assert_eq!(
            ev.counters.as_ref().map(|c| c.node.len()),
            Some(0),
            "memory read in the kernel stays"
        );
        for kept in [
            "gfp_mask",
            "order",
            "trigger",
            "stack",
            "counters, nodes, zones",
        ] {
            assert!(
                !ev.from_kernel_log.iter().any(|f| f == kept),
                "{kept}: {:?}",
                ev.from_kernel_log
            );
        }
        assert!(ev.from_kernel_log.iter().any(|f| f == "message"));
        assert_eq!(ev.inferred, ["gfp_mask"], "message came from the report");
        assert_eq!(ev.also_killed.len(), 1, "{:?}", ev.also_killed);
        assert_eq!(
            (
                ev.also_killed[0].comm.as_deref(),
                ev.also_killed[0].anon_rss_kb
            ),
            (victim.comm.as_deref(), victim.anon_rss_kb),
            "its own line, as printed, wins"
        );

        // The same with the memory sampled from /proc: the printed one wins.
        let mut ev = ours();
        ev.memory_read.as_mut().unwrap().at = crate::schema::event::MemoryAt::Sampled;
        join(&mut ev, Some(&r));
        assert!(ev.counters.as_ref().is_some_and(|c| !c.node.is_empty()));
        assert!(
            ev.from_kernel_log
                .iter()
                .any(|f| f == "counters, nodes, zones")
        );
    }
}
