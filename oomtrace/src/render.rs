//! Text that reads like the kernel's own OOM report (`dump_header`,
//! `dump_oom_summary`, `__oom_kill_process`), so people who read OOM reports
//! read oomtrace without learning anything new.

use crate::event::{Frame, OomEvent};
use std::fmt::Write as _;

fn or_q<T: std::fmt::Display>(v: &Option<T>) -> String {
    v.as_ref()
        .map_or_else(|| "?".to_owned(), ToString::to_string)
}

fn frame(f: &Frame) -> String {
    match (&f.symbol, f.offset, f.size) {
        (Some(s), Some(o), Some(z)) => format!("{s}+{o:#x}/{z:#x}"),
        _ => f.addr.clone(),
    }
}

/// The kernel-style report of one event; every line carries the kernel
/// log's `[seconds.micros]` timestamp so it lines up with `dmesg`.
pub fn text(ev: &OomEvent) -> String {
    let ts = format!(
        "[{:5}.{:06}]",
        ev.uptime_ns / 1_000_000_000,
        (ev.uptime_ns % 1_000_000_000) / 1000
    );
    let mut out = String::new();
    let mut line = |s: String| {
        let _ = writeln!(out, "{ts} {s}");
    };
    let duration = ev
        .duration_ns
        .map(|d| format!(", handled in {} µs", d / 1000))
        .unwrap_or_default();
    line(format!(
        "oomtrace: OOM #{} at {} (seen by {}{duration})",
        ev.seq, ev.time, ev.source
    ));
    let t = &ev.trigger;
    let gfp = match (ev.gfp_mask, &ev.gfp_flags) {
        (Some(m), Some(f)) => format!("{m:#x}({f})"),
        _ => "?".to_owned(),
    };
    line(format!(
        "{} invoked oom-killer: gfp_mask={gfp}, order={}, oom_score_adj={}",
        or_q(&t.comm),
        or_q(&ev.order),
        or_q(&t.oom_score_adj)
    ));
    line(format!(
        "CPU: {} UID: {} PID: {} Comm: {}",
        or_q(&t.cpu),
        or_q(&t.uid),
        or_q(&t.tid.or(t.pid)),
        or_q(&t.comm)
    ));
    if !ev.unavailable.is_empty() {
        line(format!(
            "(not available without kprobes: {})",
            ev.unavailable.join(", ")
        ));
    }
    line("Call Trace:".to_owned());
    for f in &ev.stack {
        line(format!(" => {}", frame(f)));
    }
    if let Some(stack) = &ev.show_free_areas_stack {
        line("Call Trace at show_free_areas:".to_owned());
        for f in stack {
            line(format!(" => {}", frame(f)));
        }
    }
    let v = ev.victim.as_ref();
    if let Some(v) = v {
        let mut summary = format!(
            "oom-kill:constraint={},nodemask={},",
            or_q(&ev.constraint),
            or_q(&ev.nodemask)
        );
        match &ev.memcg {
            Some(m) => {
                let _ = write!(summary, "oom_memcg={m},");
            }
            None if ev.constraint.is_some()
                && ev.constraint.as_deref() != Some("CONSTRAINT_MEMCG") =>
            {
                summary.push_str("global_oom,")
            }
            None => {}
        }
        let _ = write!(
            summary,
            "task_memcg={},task={},pid={},uid={}",
            or_q(&v.cgroup),
            or_q(&v.comm),
            or_q(&v.pid),
            or_q(&v.uid)
        );
        line(summary);
        let killed = format!(
            "{}: Killed process {} ({}) total-vm:{}kB, anon-rss:{}kB, file-rss:{}kB, shmem-rss:{}kB, UID:{} pgtables:{}kB oom_score_adj:{}",
            ev.message.as_deref().unwrap_or("Out of memory (?)"),
            or_q(&v.pid),
            or_q(&v.comm),
            or_q(&v.total_vm_kb),
            or_q(&v.anon_rss_kb),
            or_q(&v.file_rss_kb),
            or_q(&v.shmem_rss_kb),
            or_q(&v.uid),
            or_q(&v.pgtables_kb),
            or_q(&v.oom_score_adj)
        );
        line(killed);
        if let Some(p) = v.points {
            line(format!(
                "oomtrace: victim's badness {p} of {} pages",
                or_q(&ev.totalpages)
            ));
        }
    } else if ev.killed == Some(false) {
        line("oomtrace: no task was killed (nothing eligible)".to_owned());
    }
    for other in &ev.also_killed {
        line(format!(
            "oomtrace: also killed {} ({}) in the same OOM",
            or_q(&other.pid),
            or_q(&other.comm)
        ));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::event::{Task, Victim};

    fn memcg_event() -> OomEvent {
        OomEvent {
            kind: "oom".into(),
            seq: 1,
            time: "2026-11-27T10:59:01.123456Z".into(),
            uptime_ns: 1_114_251_121_000,
            source: "kprobe".into(),
            trigger: Task {
                pid: Some(15489),
                tid: Some(15489),
                comm: Some("python3".into()),
                oom_score_adj: Some(0),
                cgroup: Some("/oomtest".into()),
                uid: Some(0),
                cpu: Some(1),
            },
            gfp_mask: Some(0xcc0),
            gfp_flags: Some("GFP_KERNEL".into()),
            order: Some(0),
            constraint: Some("CONSTRAINT_MEMCG".into()),
            nodemask: Some("(null)".into()),
            memcg: Some("/oomtest".into()),
            totalpages: Some(16384),
            message: Some("Memory cgroup out of memory".into()),
            killed: Some(true),
            duration_ns: Some(412_000),
            victim: Some(Victim {
                pid: Some(15489),
                comm: Some("python3".into()),
                uid: Some(0),
                total_vm_kb: Some(78028),
                anon_rss_kb: Some(65024),
                file_rss_kb: Some(2424),
                shmem_rss_kb: Some(0),
                pgtables_kb: Some(188),
                oom_score_adj: Some(0),
                points: Some(16862),
                cgroup: Some("/oomtest".into()),
            }),
            stack: vec![Frame {
                addr: "0xffffffff815ae930".into(),
                symbol: Some("out_of_memory".into()),
                offset: Some(0x214),
                size: Some(0x500),
            }],
            ..OomEvent::default()
        }
    }

    /// The lines the kernel printed for the same OOM (fixture 6.18-memcg-oom.log)
    /// appear verbatim in oomtrace's text, but for the cpuset/mems_allowed
    /// fields the kernel's report has and the event does not.
    #[test]
    fn renders_the_kernels_lines() {
        let text = text(&memcg_event());
        let fixture = std::fs::read_to_string(
            crate::testdata::kernel_reports_dir().join("6.18-memcg-oom.log"),
        )
        .unwrap();
        let kernel_line = |needle: &str| {
            let l = fixture.lines().find(|l| l.contains(needle)).unwrap();
            l[l.find("] ").unwrap() + 2..].to_owned()
        };
        let invoked = kernel_line("invoked oom-killer");
        let killed = kernel_line("Killed process");
        assert!(text.contains(&invoked), "{text}\nlacks\n{invoked}");
        assert!(text.contains(&killed), "{text}\nlacks\n{killed}");
        let summary = kernel_line("oom-kill:").replace(",cpuset=/,mems_allowed=0", "");
        assert!(text.contains(&summary), "{text}\nlacks\n{summary}");
        assert!(text.contains("[ 1114.251121] Call Trace:"));
        assert!(text.contains(" => out_of_memory+0x214/0x500"));
    }

    #[test]
    fn unknown_fields_print_as_question_marks_and_are_named_once() {
        let mut ev = memcg_event();
        ev.gfp_mask = None;
        ev.gfp_flags = None;
        ev.unavailable = vec!["gfp_mask".into(), "totalpages".into()];
        let text = text(&ev);
        assert!(text.contains("gfp_mask=?, order=0"));
        assert_eq!(text.matches("not available without kprobes").count(), 1);
    }
}
